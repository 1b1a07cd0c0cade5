//! `tympan amd bench --dir DIR` run as a real process.

mod common;

use common::{temp_dir, tympan};
use std::path::Path;

/// A mono 16-bit WAV of `seconds` at `rate`: a 1 kHz tone at -12 dBFS for the first half,
/// silence after it.
fn write_wav(path: &Path, rate: u32, seconds: f64) {
    let n = (rate as f64 * seconds).round() as usize;
    let x: Vec<f32> = (0..n)
        .map(|i| {
            if i < n / 2 {
                0.25 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / rate as f32).sin()
            } else {
                0.0
            }
        })
        .collect();
    let audio = tympan_audio::Audio::mono(rate, x);
    std::fs::write(
        path,
        tympan_audio::wav_write::encode_wav(&audio, tympan_audio::wav_write::Codec::Pcm16),
    )
    .unwrap();
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn bench_counts_files_and_audio_seconds() {
    let dir = temp_dir("amd-bench");
    write_wav(&dir.join("b.wav"), 8000, 2.5);
    write_wav(&dir.join("a.WAV"), 16000, 1.25);
    // Not a WAV by name: ignored.
    std::fs::write(dir.join("readme.txt"), b"not audio").unwrap();
    for mode in ["enable", "detect_message_end", "detect-message-end"] {
        let v = json(&tympan(&[
            "amd",
            "bench",
            "--dir",
            dir.to_str().unwrap(),
            "--mode",
            mode,
            "--json",
        ]));
        assert_eq!(v["files"], 2, "{v}");
        let audio_s = v["audio_s"].as_f64().unwrap();
        assert!((audio_s - 3.75).abs() < 1e-9, "{v}");
        let cpu_s = v["cpu_s"].as_f64().unwrap();
        assert!(cpu_s > 0.0, "{v}");
        let per = v["audio_s_per_cpu_s"].as_f64().unwrap();
        assert!((per - audio_s / cpu_s).abs() <= 1e-9 * per, "{v}");
        assert_eq!(v["realtime_calls_per_core"], v["audio_s_per_cpu_s"]);
        let verdicts: u64 = v["verdicts"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(verdicts, 2, "{v}");
        let want_mode = if mode == "enable" {
            "enable"
        } else {
            "detect_message_end"
        };
        assert_eq!(v["mode"], want_mode);
    }
    // Default mode, text output.
    let out = tympan(&["amd", "bench", "--dir", dir.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("2 files, 3.8 s of audio") && text.contains("detect_message_end"),
        "{text}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn corrupt_wav_is_an_error_naming_the_file() {
    let dir = temp_dir("amd-bench-corrupt");
    write_wav(&dir.join("a_good.wav"), 8000, 1.0);
    let mut bad = b"RIFF\x24\x00\x00\x00WAVEfmt ".to_vec();
    bad.extend_from_slice(&[0xff; 7]);
    std::fs::write(dir.join("b_broken.wav"), &bad).unwrap();
    let out = tympan(&["amd", "bench", "--dir", dir.to_str().unwrap(), "--json"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("b_broken.wav"), "{err}");
    assert!(out.stdout.is_empty(), "no report on failure");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_dir_is_an_error_naming_it() {
    let out = tympan(&["amd", "bench", "--dir", "/nonexistent/tympan-bench-dir"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/tympan-bench-dir"), "{err}");
}

/// `tympan amd FILE --mode M --json` takes the mode as the issue and README spell it
/// (`detect_message_end`) and in kebab case, and prints the documented fields; a tone of
/// 1.25 s at 1 kHz is reported as the beep.
#[test]
fn amd_file_accepts_both_mode_spellings() {
    let dir = temp_dir("amd-file-mode");
    let path = dir.join("tone.wav");
    write_wav(&path, 8000, 2.5);
    for mode in ["enable", "detect_message_end", "detect-message-end"] {
        let v = json(&tympan(&[
            "amd",
            path.to_str().unwrap(),
            "--mode",
            mode,
            "--json",
        ]));
        assert!(v["answered_by"].is_string(), "{mode}: {v}");
        assert!(v["decision_ms"].is_u64(), "{mode}: {v}");
        assert!(v["events"].is_array(), "{mode}: {v}");
        let f = v["beep"]["frequency_hz"].as_f64().expect("a beep");
        assert!((f - 1000.0).abs() < 2.0, "{mode}: {v}");
        let (s, e) = (
            v["beep"]["start_ms"].as_u64().unwrap(),
            v["beep"]["end_ms"].as_u64().unwrap(),
        );
        assert!(s < 20 && (1230..=1270).contains(&e), "{mode}: {v}");
    }
    let out = tympan(&["amd", path.to_str().unwrap(), "--mode", "detect", "--json"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("detect_message_end"),
        "the error lists the modes"
    );
}
