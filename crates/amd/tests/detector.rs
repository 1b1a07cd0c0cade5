//! The detector on calls the test builds itself: espeak-ng speech and synthetic tones.
//! espeak-ng is required (`scripts/setup.sh` installs it): without it these tests fail.

use std::sync::Arc;

use tympan_amd::advisor::Advisor;
use tympan_amd::clips::{ClipFeatures, FeatureSet};
use tympan_amd::corpus::{render_beep, BeepShape, RATE};
use tympan_amd::{AmdConfig, AmdDetector, AmdEvent, AmdResult, AnsweredBy, AsteriskStatus, Mode};
use tympan_audio::synth::{self, Prng};
use tympan_ml::{ClassifierConfig, Dataset, Model, TrainOptions};

/// espeak-ng speech at [`RATE`]. Panics (the test fails) when espeak-ng is missing or fails.
fn speak(text: &str) -> Vec<f32> {
    let o = std::process::Command::new("espeak-ng")
        .args(["-v", "en-us", "--stdout", text])
        .output()
        .unwrap_or_else(|e| {
            panic!("espeak-ng is required for this test (scripts/setup.sh installs it): {e}")
        });
    assert!(
        o.status.success(),
        "espeak-ng failed: {} {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let a = tympan_audio::decode::decode_bytes(&o.stdout).expect("espeak WAV");
    tympan_audio::resample::resample(&a.downmix(), a.sample_rate, RATE).unwrap()
}

/// A small learned model built through the public API: clip features of espeak-ng words
/// (label `speech`) against 1 kHz-ish tones (label `beep`).
fn speech_beep_model() -> Arc<Model> {
    let set = FeatureSet::MfccMeanStdDuration;
    let mut f = ClipFeatures::new(set);
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for (i, word) in ["hello", "message", "please", "after", "tone", "thanks"]
        .iter()
        .enumerate()
    {
        rows.push(f.row(&speak(word), RATE).unwrap());
        labels.push(0);
        let tone = synth::sine(RATE, 700.0 + 120.0 * i as f32, 500.0, -12.0);
        rows.push(f.row(&tone, RATE).unwrap());
        labels.push(1);
    }
    let data = Dataset::new(rows, labels, vec!["speech".into(), "beep".into()]).unwrap();
    let opts = TrainOptions::new(ClassifierConfig::logistic_regression());
    Arc::new(Model::train(&data, &opts, set.id()).unwrap())
}

fn run(cfg: &AmdConfig, x: &[f32], chunk: usize) -> (AmdResult, Vec<AmdEvent>) {
    tympan_amd::eval::detect(cfg, x, chunk)
}

fn sil(ms: f64) -> Vec<f32> {
    synth::silence(RATE, ms)
}

fn greeting_with_beep() -> (Vec<f32>, u64, u64) {
    let mut x = sil(500.0);
    x.extend(speak(
        "Hi, you have reached John Smith. I cannot take your call right now. Please leave a message after the tone.",
    ));
    x.extend(sil(400.0));
    let start = (x.len() * 1000 / RATE as usize) as u64;
    x.extend(render_beep(
        BeepShape::Pure,
        1000.0,
        600.0,
        -12.0,
        &mut Prng::new(1),
    ));
    let end = (x.len() * 1000 / RATE as usize) as u64;
    x.extend(sil(3000.0));
    (x, start, end)
}

#[test]
fn voicemail_greeting_then_beep() {
    let (x, start, end) = greeting_with_beep();
    // enable: machine as soon as the greeting is long enough, beep still reported afterwards.
    let (r, ev) = run(&AmdConfig::default(), &x, 160);
    assert_eq!(r.answered_by, AnsweredBy::MachineStart, "{r:?}");
    assert_eq!(r.amd_status, AsteriskStatus::Machine);
    assert!(r.amd_cause.starts_with("LONGGREETING-"), "{}", r.amd_cause);
    assert!(
        r.decision_ms < start,
        "decided at {} ms, before the beep at {start}",
        r.decision_ms
    );
    let beeps: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            AmdEvent::Beep { at_ms, beep } => Some((*at_ms, *beep)),
            _ => None,
        })
        .collect();
    assert_eq!(beeps.len(), 1, "{ev:?}");
    let (at, b) = beeps[0];
    assert!((b.frequency_hz - 1000.0).abs() < 3.0, "{b:?}");
    assert!(
        b.start_ms.abs_diff(start) <= 30 && b.end_ms.abs_diff(end) <= 30,
        "{b:?} vs {start}..{end}"
    );
    assert!(
        at >= end && at <= end + 150,
        "beep reported at {at}, ended {end}"
    );

    // detect_message_end: the answer waits for the beep.
    let cfg = AmdConfig {
        mode: Mode::DetectMessageEnd,
        ..AmdConfig::default()
    };
    let (r, _) = run(&cfg, &x, 333);
    assert_eq!(r.answered_by, AnsweredBy::MachineEndBeep, "{r:?}");
    assert!(r.decision_ms >= end && r.decision_ms <= end + 150, "{r:?}");
    assert!(r.first_decision_ms < start);
    assert_eq!(r.beep.map(|b| b.frequency_hz.round()), Some(1000.0));
}

#[test]
fn short_hello_then_silence_is_a_human() {
    let hello = speak("Hello?");
    let mut x = sil(700.0);
    x.extend(&hello);
    let end = (x.len() * 1000 / RATE as usize) as u64;
    x.extend(sil(4000.0));
    for mode in [Mode::Enable, Mode::DetectMessageEnd] {
        let cfg = AmdConfig {
            mode,
            ..AmdConfig::default()
        };
        let (r, ev) = run(&cfg, &x, 160);
        assert_eq!(r.answered_by, AnsweredBy::Human, "{r:?} {ev:?}");
        assert_eq!(r.amd_status, AsteriskStatus::Human);
        // Decided 1200 ms (speech-end threshold) after the word, plus the masking delay.
        assert!(
            r.decision_ms >= end + 900 && r.decision_ms <= end + 1700,
            "{r:?}, end {end}"
        );
        assert!(!ev.iter().any(|e| matches!(e, AmdEvent::Beep { .. })));
    }
}

#[test]
fn hard_negatives_give_no_beep_and_a_human_after_them() {
    let hello = speak("Hello, who is this?");
    let negatives: Vec<(&str, Vec<f32>)> = vec![
        (
            "ringback",
            synth::cadence(RATE, &[440.0, 480.0], -14.0, 2000.0, 1500.0, 1),
        ),
        (
            "dtmf",
            synth::dtmf_sequence("159#0*", RATE, 100.0, 80.0, -12.0).unwrap(),
        ),
        (
            "busy",
            synth::cadence(RATE, &[480.0, 620.0], -14.0, 500.0, 500.0, 2),
        ),
    ];
    for (name, neg) in negatives {
        let mut x = sil(300.0);
        x.extend(&neg);
        x.extend(sil(400.0));
        x.extend(&hello);
        x.extend(sil(3500.0));
        for v in x.iter_mut() {
            *v = synth::mulaw_roundtrip(*v);
        }
        let (r, ev) = run(&AmdConfig::default(), &x, 160);
        assert!(
            !ev.iter().any(|e| matches!(e, AmdEvent::Beep { .. })),
            "{name}: {ev:?}"
        );
        assert_eq!(r.answered_by, AnsweredBy::Human, "{name}: {r:?}");
    }
}

#[test]
fn events_do_not_depend_on_chunk_size() {
    let (x, _, _) = greeting_with_beep();
    let cfg = AmdConfig {
        mode: Mode::DetectMessageEnd,
        ..AmdConfig::default()
    };
    let model = speech_beep_model();
    for with_model in [false, true] {
        let go = |chunk: usize| {
            let advisor = with_model.then(|| Advisor::new(model.clone(), RATE).unwrap());
            tympan_amd::eval::detect_with_advisor(&cfg, advisor, &x, chunk)
        };
        let (r1, e1) = go(160);
        let clips: Vec<_> = e1
            .iter()
            .filter_map(|e| match e {
                AmdEvent::Clip { at_ms, clip } => Some((*at_ms, clip.clone())),
                _ => None,
            })
            .collect();
        if with_model {
            // The greeting's clips and the beep's: each stamped when its clip was cut, which
            // is after the clip ended and (for these, cut by silence) 300 ms later.
            assert!(clips.len() >= 2, "{e1:?}");
            for (at, c) in &clips {
                assert_eq!(*at, c.end_ms + 300, "{c:?} reported at {at}");
            }
            assert!(clips.iter().any(|(_, c)| c.label == "beep"), "{clips:?}");
            assert!(clips.iter().any(|(_, c)| c.label == "speech"), "{clips:?}");
        } else {
            assert!(clips.is_empty());
        }
        for chunk in [37, 8000] {
            let (r, e) = go(chunk);
            assert_eq!(r, r1, "chunk {chunk}, model {with_model}");
            assert_eq!(e, e1, "chunk {chunk}, model {with_model}");
        }
    }
}

#[test]
fn silence_only_is_no_speech_and_fax_tone_is_fax() {
    let (r, ev) = run(
        &AmdConfig::default(),
        &synth::white_noise(RATE, 8000.0, -60.0, 3),
        160,
    );
    assert_eq!(r.answered_by, AnsweredBy::Unknown);
    assert!(
        ev.iter()
            .any(|e| matches!(e, AmdEvent::NoSpeech { at_ms: 5000 })),
        "{ev:?}"
    );
    let mut ced = sil(300.0);
    ced.extend(synth::sine(RATE, 2100.0, 3000.0, -12.0));
    let (r, _) = run(&AmdConfig::default(), &ced, 160);
    assert_eq!(
        r.answered_by,
        AnsweredBy::Fax,
        "tone to the end of the stream: {r:?}"
    );
    ced.extend(sil(1000.0));
    let (r, _) = run(&AmdConfig::default(), &ced, 160);
    assert_eq!(r.answered_by, AnsweredBy::Fax, "{r:?}");
}

#[test]
fn bad_config_names_the_field() {
    let e = AmdDetector::new(AmdConfig {
        speech_threshold_ms: 100,
        ..AmdConfig::default()
    })
    .err()
    .unwrap();
    assert_eq!(e.field, "speech_threshold_ms");
    let e = AmdDetector::new(AmdConfig {
        sample_rate: 44100,
        ..AmdConfig::default()
    })
    .err()
    .unwrap();
    assert_eq!(e.field, "sample_rate");
}

/// Hold music (or a music ringback tone) before the answer is neither the callee speaking nor
/// silence: no verdict is taken while it plays, and the answer after it decides. A short
/// "hello" after the music is a human; a long greeting after it is a machine.
#[test]
fn music_before_the_answer_is_not_the_answer() {
    let hello = speak("Hello?");
    let greeting = speak(
        "Hi, you have reached the Smith family. We are not available right now, please leave a message.",
    );
    for (answer, want) in [
        (hello, AnsweredBy::Human),
        (greeting, AnsweredBy::MachineStart),
    ] {
        let mut x = sil(400.0);
        x.extend(synth::hold_music(RATE, -20.0));
        let music_end = (x.len() * 1000 / RATE as usize) as u64;
        x.extend(sil(500.0));
        let answer_at = (x.len() * 1000 / RATE as usize) as u64;
        x.extend(answer);
        x.extend(sil(4000.0));
        let cfg = AmdConfig {
            sample_rate: RATE,
            mode: Mode::Enable,
            ..AmdConfig::default()
        };
        let (res, ev) = run(&cfg, &x, 160);
        assert_eq!(res.answered_by, want, "{res:?} {ev:?}");
        assert!(
            res.decision_ms > answer_at && res.decision_ms > music_end,
            "decided at {} ms, the answer starts at {answer_at} ms: {ev:?}",
            res.decision_ms
        );
    }
}
