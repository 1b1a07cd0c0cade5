//! `tympan amd train` on a folder of labelled clips, the saved model used by `tympan amd FILE
//! --model`, and the errors for bad folders and files. Real processes, WAVs made here.

mod common;

use common::{shared_data, temp_dir, tympan};
use serde_json::Value;
use std::path::Path;
use tympan_audio::synth::{add_noise_snr, silence, sine, white_noise};
use tympan_audio::wav_write::{encode_wav, Codec};
use tympan_audio::Audio;

fn write_wav(path: &Path, rate: u32, x: Vec<f32>) {
    std::fs::write(path, encode_wav(&Audio::mono(rate, x), Codec::Pcm16)).unwrap();
}

fn tone(rate: u32, i: usize, ms: f64) -> Vec<f32> {
    let mut x = sine(rate, 500.0 + 130.0 * i as f32, ms, -20.0 + i as f32);
    add_noise_snr(&mut x, 35.0, i as u64 + 1);
    x
}

/// Noise under a 4 Hz syllable-like envelope: broadband and changing, like speech.
fn babble(rate: u32, i: usize, ms: f64) -> Vec<f32> {
    let n = white_noise(rate, ms, -18.0 + i as f32 * 0.5, 100 + i as u64);
    n.iter()
        .enumerate()
        .map(|(k, v)| {
            let t = k as f32 / rate as f32;
            v * (0.15
                + (std::f32::consts::PI * (4.0 + 0.3 * i as f32) * t)
                    .sin()
                    .abs())
        })
        .collect()
}

fn make_folder(root: &Path, n: usize) {
    for label in ["beep", "speech"] {
        std::fs::create_dir_all(root.join(label)).unwrap();
    }
    for i in 0..n {
        let rate = if i % 3 == 0 { 16000 } else { 8000 };
        let ms = 300.0 + 90.0 * i as f64;
        write_wav(
            &root.join(format!("beep/b{i}.wav")),
            rate,
            tone(rate, i, ms),
        );
        write_wav(
            &root.join(format!("speech/s{i}.wav")),
            rate,
            babble(rate, i, ms * 2.0),
        );
    }
    // Longer than the 10 s clip limit: only its first 10 s is read.
    write_wav(
        &root.join("speech/long.wav"),
        8000,
        babble(8000, 3, 11_000.0),
    );
    // Not audio: ignored by extension.
    std::fs::write(root.join("speech/notes.txt"), "not a clip").unwrap();
}

fn run_json(args: &[&str]) -> Value {
    let out = tympan(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn train_cross_validates_saves_and_advises() {
    let dir = temp_dir("amd-train");
    let data = dir.join("clips");
    make_folder(&data, 10);
    let test = dir.join("held-out");
    make_folder(&test, 5);
    let model = dir.join("model.json");
    let v = run_json(&[
        "amd",
        "train",
        "--data",
        data.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(v["label_names"], serde_json::json!(["beep", "speech"]));
    assert_eq!(v["class_counts"], serde_json::json!([10, 11]));
    assert_eq!(v["truncated_files"], 1);
    let cv = v["cross_validation"].as_array().unwrap();
    let kinds: Vec<&str> = cv
        .iter()
        .map(|r| r["classifier"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "gaussian_nb",
            "logistic_regression",
            "random_forest",
            "svm_rbf"
        ]
    );
    for r in cv {
        assert_eq!(r["folds"], 5);
        assert_eq!(r["pooled"]["n"], 21);
        // Tones and broadband babble are far apart, though 21 rows of 81 features are few.
        assert!(r["mean_accuracy"].as_f64().unwrap() >= 0.75, "{r}");
    }
    let chosen = v["chosen"].as_str().unwrap();
    let best = cv.iter().find(|r| r["classifier"] == chosen).unwrap();
    let best_f1 = best["mean_macro_f1"].as_f64().unwrap();
    assert!(best_f1 >= 0.95, "{best}");
    assert!(cv
        .iter()
        .all(|r| r["mean_macro_f1"].as_f64().unwrap() <= best_f1));
    let t = &v["test"];
    assert_eq!(t["n"], 11);
    assert!(t["accuracy"].as_f64().unwrap() >= 0.9, "{t}");
    let png = std::fs::read(v["confusion_png"].as_str().unwrap()).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let card: Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    assert!(card.to_string().contains("cv5"));

    // The model advises on a call: silence, babble, silence, a beep, silence.
    let mut call = silence(8000, 500.0);
    call.extend(babble(8000, 4, 1500.0));
    call.extend(silence(8000, 800.0));
    call.extend(tone(8000, 4, 600.0));
    call.extend(silence(8000, 1500.0));
    let wav = dir.join("call.wav");
    write_wav(&wav, 8000, call);
    let v = run_json(&[
        "amd",
        wav.to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--json",
    ]);
    let clips: Vec<&Value> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "clip")
        .collect();
    let labels: Vec<&str> = clips
        .iter()
        .map(|c| c["clip"]["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["speech", "beep"], "{clips:?}");
}

#[test]
fn bad_folders_and_files_are_named() {
    let dir = temp_dir("amd-train-bad");
    // One label only.
    let one = dir.join("one");
    std::fs::create_dir_all(one.join("beep")).unwrap();
    write_wav(&one.join("beep/a.wav"), 8000, tone(8000, 1, 400.0));
    let out = tympan(&["amd", "train", "--data", one.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("need at least 2 subfolders"), "{err}");

    // Too few files for 5 folds.
    let few = dir.join("few");
    make_folder(&few, 3);
    let out = tympan(&["amd", "train", "--data", few.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("label \"beep\" has 3 file(s)"), "{err}");

    // A corrupt WAV stops training with its path, unless --skip-bad.
    let bad = dir.join("bad");
    make_folder(&bad, 6);
    std::fs::write(bad.join("beep/broken.wav"), b"RIFF\x10\x00\x00\x00WAVEfmt ").unwrap();
    let out = tympan(&["amd", "train", "--data", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("broken.wav") && err.contains("--skip-bad"),
        "{err}"
    );
    let model = dir.join("m.json");
    let v = run_json(&[
        "amd",
        "train",
        "--data",
        bad.to_str().unwrap(),
        "--skip-bad",
        "--classifier",
        "nb",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    let skipped = v["skipped_files"].as_array().unwrap();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].as_str().unwrap().contains("broken.wav"));
    assert_eq!(v["chosen"], "gaussian_nb");

    // A model of other features is refused by `amd FILE --model`, naming the file.
    let mut card: Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    let text = card.to_string();
    assert!(text.contains("tympan-amd clip v1"));
    card["card"]["feature_description"] = Value::from("mean of 40 MFCCs at 22050 Hz");
    let other = dir.join("other.json");
    std::fs::write(&other, card.to_string()).unwrap();
    let wav = dir.join("c.wav");
    write_wav(&wav, 8000, tone(8000, 2, 500.0));
    let out = tympan(&[
        "amd",
        wav.to_str().unwrap(),
        "--model",
        other.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("other.json"), "{err}");
}

#[test]
fn clips_cut_from_built_calls_land_in_label_folders() {
    let Some(data) = shared_data() else { return };
    let dir = temp_dir("amd-clips");
    let out = tympan(&[
        "amd",
        "clips",
        "--data",
        data.to_str().unwrap(),
        "--calls",
        "40",
        "--seed",
        "3",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("40 calls (seed 3)"), "{text}");
    for label in ["speech", "beep"] {
        let n = std::fs::read_dir(dir.join(label))
            .unwrap_or_else(|e| panic!("{label}: {e}"))
            .filter(|e| {
                let p = e.as_ref().unwrap().path();
                p.extension().is_some_and(|x| x == "wav")
            })
            .count();
        assert!(n >= 5, "{label}: {n} clips");
        assert!(text.contains(&format!("{label} {n}")), "{text}");
    }
    // Every clip is a readable 8 kHz WAV between 200 ms and 10 s long.
    for e in std::fs::read_dir(dir.join("beep")).unwrap() {
        let a = tympan_audio::decode::read_file(&e.unwrap().path()).unwrap();
        assert_eq!(a.sample_rate, 8000);
        let ms = a.channels[0].len() as u64 * 1000 / 8000;
        assert!((200..=10_000).contains(&ms), "{ms} ms");
    }
}

#[test]
fn clips_then_train_work_in_sequence() {
    // What a new user does: cut clips from built calls, then train on that folder as it is.
    // Some labels (music: hold music before a human answer) get fewer clips than there are
    // folds; training leaves them out and says so, instead of stopping.
    let Some(data) = shared_data() else { return };
    let dir = temp_dir("amd-clips-train");
    let clips = dir.join("clips");
    let out = tympan(&[
        "amd",
        "clips",
        "--data",
        data.to_str().unwrap(),
        "--calls",
        "60",
        "--out",
        clips.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let model = dir.join("model.json");
    let out = tympan(&[
        "amd",
        "train",
        "--data",
        clips.to_str().unwrap(),
        "--classifier",
        "nb",
        "--out",
        model.to_str().unwrap(),
        "--json",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let left_out = v["left_out_labels"].as_array().unwrap();
    assert!(!left_out.is_empty(), "{v}");
    let names: Vec<&str> = v["label_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"speech") && names.contains(&"beep"),
        "{names:?}"
    );
    for l in left_out {
        let label = l["label"].as_str().unwrap();
        assert!(!names.contains(&label), "{label} both trained and left out");
        assert!(l["examples"].as_u64().unwrap() < 5, "{l}");
        assert_eq!(l["needed"], 5);
        assert!(
            err.contains(&format!("left out label \"{label}\"")),
            "{label} not named on stderr: {err}"
        );
        let folder = std::fs::read_dir(clips.join(label)).unwrap().count() as u64;
        assert_eq!(l["examples"].as_u64().unwrap(), folder, "{label}");
    }
    // Every trained label had enough files, and the model card keeps what was left out.
    for n in v["class_counts"].as_array().unwrap() {
        assert!(n.as_u64().unwrap() >= 5, "{v}");
    }
    let card: Value = serde_json::from_slice(&std::fs::read(&model).unwrap()).unwrap();
    assert_eq!(card["card"]["left_out_labels"], v["left_out_labels"]);
}
