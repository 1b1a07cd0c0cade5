//! `tympan amd bench --dir DIR`: throughput of the full answering-machine detector over a folder
//! of recordings, in audio-seconds per CPU-second of this process (single thread).
//!
//! Every `*.wav` directly in DIR (sorted by name) is decoded and run through
//! [`tympan_amd::eval::detect`] with the default configuration, in 20 ms chunks, exactly as a
//! live call would feed it. The process CPU clock is read around decode + detect of each file,
//! so directory listing, argument parsing and printing are not counted. This is shell code
//! (the binary crate), so reading a clock here is allowed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;

use super::amd::ModeArg;
use serde::Serialize;
use tympan_amd::{eval, AmdConfig, AnsweredBy, Mode};
use tympan_audio::decode;
use tympan_audio::resample::resample;

/// Arguments of `tympan amd bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Folder with the recordings (`*.wav`, not searched recursively).
    #[arg(long)]
    pub dir: PathBuf,
    /// Detector mode.
    #[arg(long, value_enum, default_value = "detect_message_end")]
    pub mode: ModeArg,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// What one benchmark run measured.
#[derive(Serialize, Debug)]
pub struct BenchReport {
    pub mode: &'static str,
    pub files: usize,
    /// Total duration of the recordings.
    pub audio_s: f64,
    /// Process CPU time spent decoding and detecting.
    pub cpu_s: f64,
    pub audio_s_per_cpu_s: f64,
    /// Live calls one core could follow in real time (= `audio_s_per_cpu_s`).
    pub realtime_calls_per_core: f64,
    /// Number of files per `answered_by` verdict (a check that the detector really ran).
    pub verdicts: std::collections::BTreeMap<&'static str, usize>,
    /// Files on which at least one beep was reported.
    pub files_with_beep: usize,
}

/// Sample rates the detector takes as they are; others are resampled to 8 kHz.
const NATIVE_RATES: [u32; 2] = [8000, 16000];

/// Process CPU time (user + system, all threads) in seconds.
#[cfg(unix)]
fn process_cpu_s() -> anyhow::Result<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        bail!(
            "clock_gettime(CLOCK_PROCESS_CPUTIME_ID) failed: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}

#[cfg(not(unix))]
fn process_cpu_s() -> anyhow::Result<f64> {
    bail!("amd bench needs a process CPU clock (clock_gettime), available on Unix only")
}

/// `*.wav` files directly in `dir`, sorted by path.
fn wav_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let p = entry.with_context(|| format!("{}", dir.display()))?.path();
        if p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")) {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        bail!("{}: no .wav files found", dir.display());
    }
    Ok(files)
}

/// Decode one file and run the detector on it; returns (audio seconds, verdict, beep seen).
fn one_file(path: &Path, mode: Mode) -> anyhow::Result<(f64, AnsweredBy, bool)> {
    let audio = decode::read_file(path)?;
    let duration = audio.duration_s();
    let mono = audio.downmix();
    let (rate, samples) = if NATIVE_RATES.contains(&audio.sample_rate) {
        (audio.sample_rate, mono)
    } else {
        let x = resample(&mono, audio.sample_rate, 8000)
            .with_context(|| format!("{}: resampling to 8 kHz", path.display()))?;
        (8000, x)
    };
    let cfg = AmdConfig {
        sample_rate: rate,
        mode,
        ..AmdConfig::default()
    };
    cfg.validate()
        .with_context(|| format!("{}: detector config", path.display()))?;
    // 20 ms chunks (160 samples at 8 kHz), as a media websocket delivers them.
    let (result, events) = eval::detect(&cfg, &samples, (rate / 50) as usize);
    let beep = events
        .iter()
        .any(|e| matches!(e, tympan_amd::AmdEvent::Beep { .. }));
    Ok((duration, result.answered_by, beep))
}

/// Run the benchmark over every `*.wav` in `dir`.
pub fn bench_dir(dir: &Path, mode: Mode) -> anyhow::Result<BenchReport> {
    let files = wav_files(dir)?;
    let mut audio_s = 0.0;
    let mut cpu_s = 0.0;
    let mut verdicts = std::collections::BTreeMap::new();
    let mut files_with_beep = 0;
    for f in &files {
        let t0 = process_cpu_s()?;
        let (dur, verdict, beep) = one_file(f, mode)?;
        cpu_s += process_cpu_s()? - t0;
        audio_s += dur;
        *verdicts.entry(verdict.as_str()).or_insert(0) += 1;
        files_with_beep += usize::from(beep);
    }
    let per = if cpu_s > 0.0 { audio_s / cpu_s } else { 0.0 };
    Ok(BenchReport {
        mode: match mode {
            Mode::Enable => "enable",
            Mode::DetectMessageEnd => "detect_message_end",
        },
        files: files.len(),
        audio_s,
        cpu_s,
        audio_s_per_cpu_s: per,
        realtime_calls_per_core: per,
        verdicts,
        files_with_beep,
    })
}

/// `tympan amd bench`.
pub fn run(a: BenchArgs) -> anyhow::Result<()> {
    let mode = a.mode.into();
    let r = bench_dir(&a.dir, mode)?;
    if a.json {
        return super::print_json(&r);
    }
    println!(
        "{} files, {:.1} s of audio, {:.3} s CPU ({}): {:.0} audio-s per CPU-s = {:.0} real-time calls per core",
        r.files, r.audio_s, r.cpu_s, r.mode, r.audio_s_per_cpu_s, r.realtime_calls_per_core
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_clock_is_monotonic_and_advances_with_work() {
        let t0 = process_cpu_s().unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(i);
        }
        std::hint::black_box(x);
        let t1 = process_cpu_s().unwrap();
        assert!(t1 > t0, "{t0} -> {t1}");
    }

    #[test]
    fn empty_dir_is_an_error_naming_it() {
        let d = std::env::temp_dir().join(format!("tympan-amd-bench-empty-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("notes.txt"), b"not audio").unwrap();
        let e = bench_dir(&d, Mode::Enable).unwrap_err().to_string();
        assert!(
            e.contains(&d.display().to_string()) && e.contains("no .wav"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
