//! `tympan dtmf` and `tympan tones` run as real processes on WAVs made with
//! `tympan_audio::synth`.

mod common;

use common::{temp_dir, tympan};
use serde_json::Value;
use std::path::Path;
use tympan_audio::synth::{add_noise_snr, cadence, dtmf_sequence, silence, sine};
use tympan_audio::wav_write::{encode_wav, Codec};
use tympan_audio::Audio;

fn write_wav(path: &Path, audio: &Audio) {
    std::fs::write(path, encode_wav(audio, Codec::Pcm16)).unwrap();
}

/// Run `tympan CMD FILE --json`, which must succeed, and parse its output.
fn json(cmd: &str, file: &Path) -> Value {
    let out = tympan(&[cmd, file.to_str().unwrap(), "--json"]);
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

const DIGITS: &str = "1234567890*#ABCD";

/// 300 ms of silence, then every keypad digit (80 ms on, 80 ms off) at −10 dBm0, 20 dB SNR.
fn dtmf_signal(fs: u32) -> Vec<f32> {
    let mut x = silence(fs, 300.0);
    x.extend(dtmf_sequence(DIGITS, fs, 80.0, 80.0, -10.0).unwrap());
    x.extend(silence(fs, 300.0));
    add_noise_snr(&mut x, 20.0, 11);
    x
}

fn check_dtmf(v: &Value) {
    assert_eq!(v["digits"], DIGITS, "{v}");
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), DIGITS.len());
    for (i, (e, d)) in events.iter().zip(DIGITS.chars()).enumerate() {
        assert_eq!(e["digit"], d.to_string());
        let start = 300.0 + 160.0 * i as f64;
        assert!((num(e, "start_ms") - start).abs() <= 10.0, "{e}");
        assert!((num(e, "end_ms") - (start + 80.0)).abs() <= 10.0, "{e}");
    }
}

#[test]
fn dtmf_finds_every_digit_in_noise() {
    let dir = temp_dir("dtmf");
    for fs in [8000u32, 16000] {
        let wav = dir.join(format!("digits_{fs}.wav"));
        write_wav(&wav, &Audio::mono(fs, dtmf_signal(fs)));
        check_dtmf(&json("dtmf", &wav));
    }
    // Stereo at 44.1 kHz: the digits on the left, silence on the right (down-mixed: −6 dB).
    let x = dtmf_signal(44_100);
    let n = x.len();
    let wav = dir.join("digits_stereo.wav");
    write_wav(
        &wav,
        &Audio {
            sample_rate: 44_100,
            channels: vec![x, vec![0.0; n]],
        },
    );
    check_dtmf(&json("dtmf", &wav));

    let out = tympan(&["dtmf", wav.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(&format!("digits: {DIGITS}")), "{text}");
    assert_eq!(text.lines().count(), 2 + DIGITS.len(), "{text}");
}

#[test]
fn dtmf_reports_nothing_on_tones_without_digits() {
    let dir = temp_dir("nodtmf");
    let wav = dir.join("ring.wav");
    write_wav(
        &wav,
        &Audio::mono(
            8000,
            cadence(8000, &[440.0, 480.0], -19.0, 2000.0, 4000.0, 1),
        ),
    );
    let v = json("dtmf", &wav);
    assert_eq!(v["digits"], "");
    assert!(v["events"].as_array().unwrap().is_empty());
}

/// Ringback (2 s on, 4 s off, twice), a 1 kHz beep at 12.0–12.3 s, then at 13 s a SIT
/// (913.8, 1370.6, 1776.7 Hz for 274, 274, 380 ms); 30 dB SNR.
fn tones_signal(fs: u32) -> Vec<f32> {
    let mut x = cadence(fs, &[440.0, 480.0], -19.0, 2000.0, 4000.0, 2);
    x.extend(sine(fs, 1000.0, 300.0, -15.0));
    x.extend(silence(fs, 700.0));
    x.extend(sine(fs, 913.8, 274.0, -24.0));
    x.extend(sine(fs, 1370.6, 274.0, -24.0));
    x.extend(sine(fs, 1776.7, 380.0, -24.0));
    x.extend(silence(fs, 300.0));
    add_noise_snr(&mut x, 30.0, 5);
    x
}

fn check_tones(v: &Value, level_offset_db: f64) {
    let events = v["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ringback", "ringback", "beep", "sit"], "{v}");
    let near = |e: &Value, start: f64, end: f64, tol: f64| {
        assert!(
            (num(e, "start_ms") - start).abs() <= tol && (num(e, "end_ms") - end).abs() <= tol,
            "expected {start}..{end} ms: {e}"
        );
    };
    near(&events[0], 0.0, 2000.0, 25.0);
    near(&events[1], 6000.0, 8000.0, 25.0);
    near(&events[2], 12000.0, 12300.0, 10.0);
    near(&events[3], 13000.0, 13928.0, 25.0);
    assert_eq!(
        events[0]["frequencies_hz"],
        serde_json::json!([440.0, 480.0])
    );
    assert!(events[0].get("level_dbm0").is_none());
    let beep = &events[2];
    let f = beep["frequencies_hz"].as_array().unwrap();
    assert_eq!(f.len(), 1);
    assert!((f[0].as_f64().unwrap() - 1000.0).abs() < 2.0, "{beep}");
    assert!(
        (num(beep, "level_dbm0") - (-15.0 + level_offset_db)).abs() < 1.5,
        "{beep}"
    );
    let sit: Vec<f64> = events[3]["frequencies_hz"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(sit.len(), 3);
    for (got, want) in sit.iter().zip([913.8, 1370.6, 1776.7]) {
        assert!((got - want).abs() < 1.0, "{sit:?}");
    }
}

#[test]
fn tones_finds_ringback_beep_and_sit() {
    let dir = temp_dir("tones");
    for fs in [8000u32, 16000] {
        let wav = dir.join(format!("progress_{fs}.wav"));
        write_wav(&wav, &Audio::mono(fs, tones_signal(fs)));
        check_tones(&json("tones", &wav), 0.0);
    }
    let wav = dir.join("progress_8000.wav");
    let out = tympan(&["tones", wav.to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for want in ["ringback", "440.0 + 480.0 Hz", "beep", "dBm0", "sit"] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn tones_resamples_unsupported_rates_and_downmixes() {
    // 96 kHz is above the detectors' 48 kHz limit: the file is resampled to 8 kHz while
    // streaming. The signal is on both channels, so the down-mix keeps its level.
    let dir = temp_dir("tones96");
    let x = tones_signal(96_000);
    let wav = dir.join("progress_96k.wav");
    write_wav(
        &wav,
        &Audio {
            sample_rate: 96_000,
            channels: vec![x.clone(), x],
        },
    );
    check_tones(&json("tones", &wav), 0.0);
    let out = tympan(&["tones", wav.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("96000 Hz (analysed at 8000 Hz)"), "{text}");
}

#[test]
fn detector_errors_name_the_file() {
    let dir = temp_dir("errors");
    let missing = dir.join("absent-call.wav");
    for cmd in ["dtmf", "tones"] {
        let out = tympan(&[cmd, missing.to_str().unwrap(), "--json"]);
        assert!(!out.status.success());
        assert!(out.stdout.is_empty());
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("absent-call.wav"), "{cmd}: {err}");
        assert_eq!(err.matches("os error").count(), 1, "{cmd}: {err}");
    }
    let text = dir.join("notes.wav");
    std::fs::write(&text, "not audio at all\n").unwrap();
    let out = tympan(&["tones", text.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("notes.wav") && err.contains("not an audio file"),
        "{err}"
    );
}
