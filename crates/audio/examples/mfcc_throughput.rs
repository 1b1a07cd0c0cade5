//! MFCC throughput: `cargo run --release --example mfcc_throughput -- a.wav b.wav ...`
//!
//! Loads every WAV (16-bit PCM or float, mixed down to mono) up front, then times only
//! `mfcc(n_mfcc=40)` with librosa defaults over all files, one extractor per sample rate
//! (FFT plans and mel filters built once). Prints audio-seconds per CPU-second of this thread.
//! Passes repeat until at least one CPU second has been measured (first pass is a warm-up).

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Instant;

use tympan_audio::features::{Mfcc, MfccParams};

/// CPU time of the calling thread in seconds (Linux `/proc/thread-self/schedstat`), if readable.
fn thread_cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 * 1e-9)
}

fn load(path: &str) -> Result<(u32, Vec<f32>), String> {
    let mut r = hound::WavReader::open(path).map_err(|e| format!("{path}: {e}"))?;
    let spec = r.spec();
    let ch = spec.channels.max(1) as usize;
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| format!("{path}: {e}"))?
        }
        hound::SampleFormat::Float => r
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{path}: {e}"))?,
    };
    let mono = interleaved
        .chunks(ch)
        .map(|c| c.iter().sum::<f32>() / ch as f32)
        .collect();
    Ok((spec.sample_rate, mono))
}

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: mfcc_throughput FILE.wav [FILE.wav ...]");
        return ExitCode::from(2);
    }
    let mut clips = Vec::with_capacity(paths.len());
    for p in &paths {
        match load(p) {
            Ok(c) => clips.push(c),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let audio_s: f64 = clips
        .iter()
        .map(|(sr, y)| y.len() as f64 / *sr as f64)
        .sum();
    let mut extractors: HashMap<u32, Mfcc> = HashMap::new();
    for (sr, _) in &clips {
        if !extractors.contains_key(sr) {
            match Mfcc::new(MfccParams::librosa_default(*sr).with_n_mfcc(40)) {
                Ok(m) => {
                    extractors.insert(*sr, m);
                }
                Err(e) => {
                    eprintln!("error: sample rate {sr}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let mut checksum = 0.0f64;
    let mut pass = |checksum: &mut f64| {
        for (sr, y) in &clips {
            let m = extractors
                .get_mut(sr)
                .expect("extractor built above")
                .compute(y);
            *checksum += m.values.first().copied().unwrap_or(0.0) as f64;
        }
    };
    pass(&mut checksum); // warm-up
    let cpu0 = thread_cpu_seconds();
    let wall0 = Instant::now();
    let mut passes = 0u32;
    let (cpu, source) = loop {
        pass(&mut checksum);
        passes += 1;
        let (spent, source) = match (cpu0, thread_cpu_seconds()) {
            (Some(a), Some(b)) => (b - a, "thread CPU time"),
            _ => (wall0.elapsed().as_secs_f64(), "wall time"),
        };
        if (spent >= 1.0 && passes >= 3) || passes >= 10_000 {
            break (spent, source);
        }
    };
    let throughput = audio_s * passes as f64 / cpu;
    println!(
        "files {} audio {audio_s:.2} s passes {passes} {source} {cpu:.3} s (checksum {checksum:.1})",
        clips.len()
    );
    println!("THROUGHPUT {throughput:.1} audio-seconds per CPU-second (rust mfcc n_mfcc=40)");
    ExitCode::SUCCESS
}
