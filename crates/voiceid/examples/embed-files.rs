//! Embed audio files with the GE2E encoder and print one JSON object per file (shell code:
//! reads files, times with the clock). Used by `scripts/voiceid-bench-vs-resemblyzer.sh`.
//!
//! `embed-files --weights voiceid-ge2e.safetensors [--backend fast|candle] FILE...`
//!
//! Per file: `{"file", "seconds", "same", "full", "cpu_s_full"}` where `same` embeds the
//! volume-normalised waveform without trimming (what the parity check compares) and `full`
//! runs the whole pipeline (our VAD trims silences); `cpu_s_full` is the thread CPU time of
//! `full` (resampling, preprocessing, mel, network). The last line is a summary with the
//! real-time factor.

use std::process::ExitCode;

use tympan_voiceid::{Backend, Embedder, Ge2eConfig, Ge2eEncoder, Ge2eWeights};

/// CPU time of the calling thread, seconds.
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut weights = None;
    let mut backend = Backend::Fast;
    let mut files = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--weights" => weights = args.next(),
            "--backend" => {
                backend = match args.next().as_deref() {
                    Some("fast") => Backend::Fast,
                    Some("candle") => Backend::Candle,
                    other => {
                        eprintln!("--backend fast|candle, got {other:?}");
                        return ExitCode::from(2);
                    }
                }
            }
            _ => files.push(a),
        }
    }
    let Some(weights) = weights else {
        eprintln!("usage: embed-files --weights W.safetensors [--backend fast|candle] FILE...");
        return ExitCode::from(2);
    };
    let run = || -> Result<(), String> {
        let bytes = std::fs::read(&weights).map_err(|e| format!("{weights}: {e}"))?;
        let w = Ge2eWeights::from_safetensors(&bytes).map_err(|e| format!("{weights}: {e}"))?;
        let full = Ge2eEncoder::new(
            &w,
            Ge2eConfig {
                backend,
                ..Ge2eConfig::default()
            },
        )
        .map_err(|e| e.to_string())?;
        let same = Ge2eEncoder::new(
            &w,
            Ge2eConfig {
                backend,
                trim_silences: false,
                ..Ge2eConfig::default()
            },
        )
        .map_err(|e| e.to_string())?;
        let (mut audio_s, mut cpu_s) = (0.0, 0.0);
        let mut warm = false;
        for f in &files {
            let a = tympan_audio::decode::read_file_mono(std::path::Path::new(f), None)
                .map_err(|e| e.to_string())?;
            let x = &a.channels[0];
            if !warm {
                full.embed(x, a.sample_rate)
                    .map_err(|e| format!("{f}: {e}"))?;
                warm = true;
            }
            let e_same = same
                .embed(x, a.sample_rate)
                .map_err(|e| format!("{f}: {e}"))?;
            let t0 = thread_cpu_s();
            let e_full = full
                .embed(x, a.sample_rate)
                .map_err(|e| format!("{f}: {e}"))?;
            let cpu = thread_cpu_s() - t0;
            let secs = a.duration_s();
            audio_s += secs;
            cpu_s += cpu;
            println!(
                "{}",
                serde_json::json!({
                    "file": f,
                    "seconds": secs,
                    "same": e_same.as_slice(),
                    "full": e_full.as_slice(),
                    "cpu_s_full": cpu,
                })
            );
        }
        eprintln!(
            "embed-files: {} files, {audio_s:.1} s of audio, {cpu_s:.3} s CPU, RTF {:.5} ({:?} backend)",
            files.len(),
            cpu_s / audio_s.max(1e-9),
            backend
        );
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
