//! `tympan audio info|convert` run as a real process.

mod common;

use common::{temp_dir, tympan};
use std::path::Path;
use std::process::Command;

/// A 1 s stereo 16-bit WAV at `rate`: 440 Hz at half scale left, silence right.
fn write_tone(path: &Path, rate: u32) {
    let left: Vec<f32> = (0..rate)
        .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / rate as f32).sin())
        .collect();
    let audio = tympan_audio::Audio {
        sample_rate: rate,
        channels: vec![left, vec![0.0; rate as usize]],
    };
    std::fs::write(
        path,
        tympan_audio::wav_write::encode_wav(&audio, tympan_audio::wav_write::Codec::Pcm16),
    )
    .unwrap();
}

/// Panics unless sox runs: the test needs it (`scripts/setup.sh` installs it), and a missing
/// tool must not pass as green.
fn require_sox() {
    let ok = Command::new("sox")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "sox did not run: install sox (scripts/setup.sh)");
}

fn pcm16_data(path: &Path) -> Vec<i16> {
    let a = tympan_audio::decode::read_file(path).unwrap();
    assert_eq!(a.channels.len(), 1);
    a.channels[0]
        .iter()
        .map(|&x| tympan_audio::pcm::f32_to_i16(x))
        .collect()
}

#[test]
fn info_prints_text_and_json() {
    let dir = temp_dir("info");
    let wav = dir.join("tone.wav");
    write_tone(&wav, 8000);
    let out = tympan(&["audio", "info", wav.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for want in [
        "container: wav",
        "pcm_s16le",
        "8000 Hz",
        "channels:  2",
        "1.000 s",
        "-6.02 dBFS",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let out = tympan(&["audio", "info", wav.to_str().unwrap(), "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["container"], "wav");
    assert_eq!(v["sample_rate"], 8000);
    assert_eq!(v["channels"], 2);
    assert_eq!(v["frames"], 8000);
    assert!((v["duration_s"].as_f64().unwrap() - 1.0).abs() < 1e-9);
    assert!((v["peak_dbfs"].as_f64().unwrap() + 6.02).abs() < 0.01);
    // Half-scale sine on one of two channels: -6.02 - 3.01 - 3.01 dB.
    assert!(
        (v["rms_dbfs"].as_f64().unwrap() + 12.04).abs() < 0.02,
        "{v}"
    );
}

#[test]
fn errors_go_to_stderr_with_failure_status() {
    let dir = temp_dir("err");
    let txt = dir.join("notes.wav");
    std::fs::write(&txt, "hello, this is text\n").unwrap();
    let out = tympan(&["audio", "info", txt.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("notes.wav") && err.contains("not an audio file"),
        "{err}"
    );
    assert_eq!(
        err.matches("not an audio file").count(),
        1,
        "message repeated: {err}"
    );
    let out = tympan(&[
        "audio",
        "convert",
        txt.to_str().unwrap(),
        dir.join("o.wav").to_str().unwrap(),
        "--codec",
        "opus",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--codec opus"));
}

#[test]
fn convert_resamples_downmixes_and_encodes() {
    let dir = temp_dir("convert");
    let wav = dir.join("tone.wav");
    write_tone(&wav, 48000);
    let out_path = dir.join("out.wav");
    let out = tympan(&[
        "audio",
        "convert",
        wav.to_str().unwrap(),
        out_path.to_str().unwrap(),
        "--rate",
        "8000",
        "--channels",
        "1",
        "--channel",
        "0",
        "--codec",
        "alaw",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = tympan_audio::decode::probe_file(&out_path).unwrap();
    assert_eq!(
        (
            info.encoding.as_str(),
            info.sample_rate,
            info.channels,
            info.frames
        ),
        ("alaw", 8000, 1, Some(8000))
    );
    let a = tympan_audio::decode::read_file(&out_path).unwrap();
    let lv = tympan_audio::levels::levels(&a);
    assert!((lv.rms_dbfs + 9.03).abs() < 0.2, "{lv:?}");
}

#[test]
fn convert_of_sox_ulaw_equals_sox_decode() {
    require_sox();
    let dir = temp_dir("sox");
    let src = dir.join("src.wav");
    let ulaw = dir.join("ulaw.wav");
    let theirs = dir.join("theirs.wav");
    let ours = dir.join("ours.wav");
    let run = |args: &[&str]| {
        let o = Command::new("sox").args(args).output().unwrap();
        assert!(
            o.status.success(),
            "sox {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    run(&[
        "-n",
        "-r",
        "8000",
        "-c",
        "1",
        "-b",
        "16",
        src.to_str().unwrap(),
        "synth",
        "2",
        "sine",
        "300-3000",
        "vol",
        "0.7",
    ]);
    run(&[
        "-D",
        src.to_str().unwrap(),
        "-e",
        "u-law",
        ulaw.to_str().unwrap(),
    ]);
    run(&[
        ulaw.to_str().unwrap(),
        "-e",
        "signed",
        "-b",
        "16",
        theirs.to_str().unwrap(),
    ]);
    let out = tympan(&[
        "audio",
        "convert",
        ulaw.to_str().unwrap(),
        ours.to_str().unwrap(),
        "--codec",
        "pcm16",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = pcm16_data(&ours);
    let b = pcm16_data(&theirs);
    assert_eq!(a.len(), 16000);
    assert_eq!(a, b, "tympan convert and sox decode differ");
}
