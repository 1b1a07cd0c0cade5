//! `tympan features` run as a real process: parity with the librosa / kaldi_native_fbank
//! fixtures in `../shared/fixtures/features`, plus shape and error checks on a synthetic WAV.
//!
//! Tolerances are those of `crates/audio/tests/features_parity.rs`: linear-domain outputs
//! (mel power, Kaldi log-fbank) max relative error 1e-3 over values above 1e-6 of the
//! fixture's largest magnitude; MFCC (orthonormal DCT of dB values within 0.01 dB) max absolute
//! error `0.01 * sqrt(n_mels)`.

mod common;

use common::{temp_dir, tympan};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn fixtures() -> Option<PathBuf> {
    let base = match std::env::var_os("TYMPAN_SHARED") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let dir = base.join("fixtures/features");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but {} is missing", dir.display());
    }
    eprintln!(
        "SKIP: feature fixtures not found at {} (../shared/data not found)",
        dir.display()
    );
    None
}

/// Shape and values of a `{"shape": [..], "values": [..]}` document.
fn parse(text: &str) -> (Vec<usize>, Vec<f32>) {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text:.200}"));
    let shape = v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect();
    let values = v["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect();
    (shape, values)
}

/// Run `tympan features FILE ARGS --json`, which must succeed; returns shape and values.
fn features(file: &Path, args: &[&str]) -> (Vec<usize>, Vec<f32>) {
    let mut all = vec!["features", file.to_str().unwrap()];
    all.extend_from_slice(args);
    all.push("--json");
    let out = tympan(&all);
    assert!(
        out.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse(&String::from_utf8(out.stdout).unwrap())
}

fn max_relative_error(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let floor = 1e-6 * want.iter().fold(0.0f64, |m, &v| m.max((v as f64).abs()));
    let mut worst = 0.0f64;
    let mut counted = 0;
    for (&g, &w) in got.iter().zip(want) {
        let w = w as f64;
        if w.abs() > floor {
            worst = worst.max((g as f64 - w).abs() / w.abs());
            counted += 1;
        }
    }
    assert!(counted > 0);
    worst
}

fn max_absolute_error(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .fold(0.0f64, |m, (&g, &w)| m.max((g as f64 - w as f64).abs()))
}

const RATES: [u32; 3] = [8000, 16000, 22050];

enum Tol {
    Relative(f64),
    Absolute(f64),
}

/// Compare the CLI's output for `args` on `signal_{sr}.wav` with fixture `kind`.
fn check_fixture(dir: &Path, kind: &str, args: &[&str], tol: Tol) {
    for sr in RATES {
        let wav = dir.join(format!("signal_{sr}.wav"));
        let name = format!("signal_{sr}.wav.{kind}.json");
        let (want_shape, want) = parse(&std::fs::read_to_string(dir.join(&name)).unwrap());
        let (shape, got) = features(&wav, args);
        assert_eq!(shape, want_shape, "{name}");
        match tol {
            Tol::Relative(t) => {
                let e = max_relative_error(&got, &want);
                eprintln!("{name}: max relative error {e:.3e}");
                assert!(e <= t, "{name}: relative error {e:e} > {t:e}");
            }
            Tol::Absolute(t) => {
                let e = max_absolute_error(&got, &want);
                eprintln!("{name}: max absolute error {e:.3e}");
                assert!(e <= t, "{name}: absolute error {e:e} > {t:e}");
            }
        }
    }
}

#[test]
fn melspectrogram_default_matches_fixture() {
    let Some(dir) = fixtures() else { return };
    check_fixture(
        &dir,
        "librosa_melspectrogram_default",
        &["--kind", "melspectrogram"],
        Tol::Relative(1e-3),
    );
}

#[test]
fn mfcc40_default_matches_fixture() {
    let Some(dir) = fixtures() else { return };
    let tol = Tol::Absolute(0.01 * 128f64.sqrt());
    check_fixture(
        &dir,
        "librosa_mfcc40_default",
        &["--kind", "mfcc", "--n-mfcc", "40"],
        tol,
    );
    let tol = Tol::Absolute(0.01 * 128f64.sqrt());
    check_fixture(
        &dir,
        "librosa_mfcc40_default_mean",
        &["--kind", "mfcc", "--n-mfcc", "40", "--mean"],
        tol,
    );
}

#[test]
fn mfcc13_custom_framing_matches_fixture() {
    let Some(dir) = fixtures() else { return };
    // The fixture's framing (25 ms window, 10 ms hop, 40 mels from 20 Hz) differs per rate.
    for sr in RATES {
        let win = sr as usize * 25 / 1000;
        let (n_fft, win, hop) = (
            win.next_power_of_two().to_string(),
            win.to_string(),
            (sr / 100).to_string(),
        );
        let wav = dir.join(format!("signal_{sr}.wav"));
        let name = format!("signal_{sr}.wav.librosa_mfcc13_25ms.json");
        let (want_shape, want) = parse(&std::fs::read_to_string(dir.join(&name)).unwrap());
        let args = [
            "--kind",
            "mfcc",
            "--n-mfcc",
            "13",
            "--n-fft",
            &n_fft,
            "--win-length",
            &win,
            "--hop-length",
            &hop,
            "--n-mels",
            "40",
            "--fmin",
            "20",
        ];
        let (shape, got) = features(&wav, &args);
        assert_eq!(shape, want_shape, "{name}");
        let e = max_absolute_error(&got, &want);
        assert!(e <= 0.01 * 40f64.sqrt(), "{name}: absolute error {e}");
    }
}

#[test]
fn fbank80_matches_fixture() {
    let Some(dir) = fixtures() else { return };
    check_fixture(
        &dir,
        "kaldi_fbank80",
        &["--kind", "fbank"],
        Tol::Relative(1e-3),
    );
}

/// 1 s stereo 16-bit WAV at `rate`: a 440 Hz tone plus a 1250 Hz tone, different per channel.
fn write_test_wav(path: &Path, rate: u32) {
    let tone = |f: f32, a: f32| -> Vec<f32> {
        (0..rate)
            .map(|i| a * (2.0 * std::f32::consts::PI * f * i as f32 / rate as f32).sin())
            .collect()
    };
    let audio = tympan_audio::Audio {
        sample_rate: rate,
        channels: vec![tone(440.0, 0.4), tone(1250.0, 0.2)],
    };
    let bytes = tympan_audio::wav_write::encode_wav(&audio, tympan_audio::wav_write::Codec::Pcm16);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn shapes_resampling_and_mean_on_synthetic_wav() {
    let dir = temp_dir("shapes");
    let wav = dir.join("tones.wav");
    write_test_wav(&wav, 16000);
    // librosa centred framing: 1 + 16000 / 512 = 32 frames.
    let (shape, mfcc) = features(&wav, &["--kind", "mfcc"]);
    assert_eq!(shape, [20, 32]);
    assert!(mfcc.iter().all(|v| v.is_finite()));
    let (shape, mel) = features(&wav, &["--kind", "melspectrogram"]);
    assert_eq!(shape, [128, 32]);
    assert!(mel.iter().all(|&v| v >= 0.0) && mel.iter().any(|&v| v > 0.0));
    // Kaldi framing: 1 + (16000 - 400) / 160 = 98 frames.
    assert_eq!(features(&wav, &["--kind", "fbank"]).0, [98, 80]);
    assert_eq!(
        features(&wav, &["--kind", "fbank", "--n-mels", "40"]).0,
        [98, 40]
    );
    assert_eq!(
        features(
            &wav,
            &[
                "--kind",
                "mfcc",
                "--n-mfcc",
                "13",
                "--n-fft",
                "512",
                "--hop-length",
                "160"
            ]
        )
        .0,
        [13, 101]
    );
    // --sample-rate 8000: 8000 samples, 1 + 8000 / 512 = 16 frames; mel bands stop at 4 kHz.
    assert_eq!(
        features(&wav, &["--kind", "mfcc", "--sample-rate", "8000"]).0,
        [20, 16]
    );
    // --mean is the mean over frames of the matrix.
    let (shape, mean) = features(&wav, &["--kind", "mfcc", "--mean"]);
    assert_eq!(shape, [20]);
    for (k, &m) in mean.iter().enumerate() {
        let row = &mfcc[k * 32..(k + 1) * 32];
        let avg = row.iter().map(|&v| v as f64).sum::<f64>() / 32.0;
        assert!(
            (m as f64 - avg).abs() < 1e-3,
            "coefficient {k}: {m} vs {avg}"
        );
    }
    let (shape, fb_mean) = features(&wav, &["--kind", "fbank", "--mean"]);
    assert_eq!(shape, [80]);
    assert!(fb_mean.iter().all(|v| v.is_finite()));

    // Human summary.
    let out = tympan(&["features", wav.to_str().unwrap(), "--kind", "fbank"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "kind:   fbank",
        "16000 Hz",
        "[98, 80] [frames, bins]",
        "min:",
        "max:",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
}

#[test]
fn errors_name_the_problem() {
    let dir = temp_dir("errors");
    let missing = dir.join("no-such-recording.wav");
    let out = tympan(&["features", missing.to_str().unwrap(), "--kind", "mfcc"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("no-such-recording.wav"), "{err}");
    assert_eq!(
        err.matches("os error").count(),
        1,
        "cause printed more than once: {err}"
    );

    let wav = dir.join("tones.wav");
    write_test_wav(&wav, 8000);
    let out = tympan(&["features", wav.to_str().unwrap(), "--kind", "chroma"]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("chroma") && err.contains("--kind"), "{err}");

    for (args, want) in [
        (&["--kind", "fbank", "--n-mfcc", "13"][..], "--n-mfcc"),
        (
            &["--kind", "fbank", "--hop-length", "80"][..],
            "--hop-length",
        ),
        (
            &["--kind", "mfcc", "--win-length", "4096"][..],
            "win_length",
        ),
        (
            &["--kind", "mfcc", "--fmin", "500", "--fmax", "100"][..],
            "fmax",
        ),
    ] {
        let mut all = vec!["features", wav.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = tympan(&all);
        assert!(!out.status.success(), "{args:?} should fail");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(want), "{args:?}: {err}");
    }
}
