//! VAD in stationary white noise at 15 dB SNR on µ-law telephone audio (espeak-ng speech).

use std::path::PathBuf;
use std::process::Command;

use tympan_audio::resample::resample;
use tympan_audio::synth::{level_dbm0, mulaw_roundtrip, white_noise};
use tympan_audio::vad::{Vad, VadConfig, VadEvent};

const FS: u32 = 8000;
/// Active speech level, dBm0; the noise is 15 dB lower.
const SPEECH_DBM0: f64 = -22.0;
const SNR_DB: f64 = 15.0;

/// `text` spoken by espeak-ng at 8 kHz. Panics when espeak-ng does not run: these tests need
/// it (`scripts/setup.sh` installs it), and a missing tool must not pass as green.
fn espeak(text: &str, name: &str) -> Vec<f32> {
    let path: PathBuf =
        std::env::temp_dir().join(format!("tympan-vadn-{}-{name}.wav", std::process::id()));
    let ok = Command::new("espeak-ng")
        .arg("-w")
        .arg(&path)
        .arg(text)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "espeak-ng did not run: install it (scripts/setup.sh) to run the noise tests"
    );
    let mut r = hound::WavReader::open(&path).unwrap();
    let fs = r.spec().sample_rate;
    let x: Vec<f32> = r
        .samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect();
    let _ = std::fs::remove_file(&path);
    resample(&x, fs, FS).unwrap()
}

/// Active level: mean power of the 10 ms frames within 25 dB of the loudest 5 %.
fn active_level(x: &[f32]) -> f64 {
    let lv: Vec<f64> = x.chunks_exact(80).map(|c| level_dbm0(c) as f64).collect();
    let mut s = lv.clone();
    s.sort_by(|a, b| a.total_cmp(b));
    let p95 = s[s.len() * 95 / 100];
    let act: Vec<f64> = lv
        .iter()
        .filter(|&&l| l >= p95 - 25.0)
        .map(|l| 10f64.powf(l / 10.0))
        .collect();
    10.0 * (act.iter().sum::<f64>() / act.len() as f64).log10()
}

/// Span (start, end) in ms of the samples louder than −40 dB below the peak.
fn active_span_ms(x: &[f32]) -> (f64, f64) {
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let thr = peak * 0.01;
    let s = x.iter().position(|v| v.abs() > thr).unwrap_or(0);
    let e = x.iter().rposition(|v| v.abs() > thr).unwrap_or(0) + 1;
    (s as f64 * 1000.0 / FS as f64, e as f64 * 1000.0 / FS as f64)
}

/// `lead_ms` of noise, the speech at [`SPEECH_DBM0`], 700 ms of noise; noise 15 dB below the
/// speech; µ-law. Returns the signal and the speech span in ms.
fn noisy(speech: &[f32], lead_ms: f64, seed: u64) -> (Vec<f32>, (f64, f64)) {
    let g = 10f64.powf((SPEECH_DBM0 - active_level(speech)) / 20.0) as f32;
    let lead = (FS as f64 * lead_ms / 1000.0) as usize;
    let mut x = vec![0.0f32; lead];
    x.extend(speech.iter().map(|v| v * g));
    x.extend(vec![0.0; FS as usize * 7 / 10]);
    let (a, b) = active_span_ms(speech);
    let dur = x.len() as f64 * 1000.0 / FS as f64;
    for (v, n) in x.iter_mut().zip(white_noise(
        FS,
        dur + 10.0,
        (SPEECH_DBM0 - SNR_DB) as f32,
        seed,
    )) {
        *v = mulaw_roundtrip(*v + n);
    }
    (x, (a + lead_ms, b + lead_ms))
}

fn segments(x: &[f32], mode: u8, chunk: usize) -> (Vec<(f64, f64)>, f64) {
    let mut v = Vad::new(
        FS,
        VadConfig {
            mode,
            ..Default::default()
        },
    )
    .unwrap();
    let mut ev = Vec::new();
    for c in x.chunks(chunk) {
        ev.extend(v.push(c));
    }
    ev.extend(v.flush());
    let segs = ev
        .iter()
        .filter_map(|e| match e {
            VadEvent::SpeechEnd { start_ms, at_ms } => Some((*start_ms, *at_ms)),
            _ => None,
        })
        .collect();
    (segs, v.net_speech_ms())
}

#[test]
fn short_hello_in_noise_is_found() {
    let hello = espeak("Hello?", "hello");
    for mode in 0..=3u8 {
        for (k, lead_ms) in [400.0, 1000.0, 2500.0].into_iter().enumerate() {
            let (x, (a, b)) = noisy(&hello, lead_ms, 10 + k as u64);
            let (segs, net) = segments(&x, mode, 160);
            eprintln!("mode {mode} lead {lead_ms}: speech {a:.0}-{b:.0}, segments {segs:?}");
            assert!(
                !segs.is_empty(),
                "mode {mode} lead {lead_ms}: hello at {a:.0}-{b:.0} ms not found"
            );
            for &(s, e) in &segs {
                assert!(
                    s >= a - 100.0 && e <= b + 100.0,
                    "mode {mode} lead {lead_ms}: segment {s}-{e} outside speech {a:.0}-{b:.0}"
                );
            }
            assert!(
                net >= 0.4 * (b - a),
                "mode {mode}: net {net} of {:.0}",
                b - a
            );
        }
    }
}

#[test]
fn greeting_in_noise_is_one_stretch_of_speech() {
    let text = "Hi, you have reached the voicemail of Maria Gonzalez. \
                I cannot take your call right now, please leave a message after the tone.";
    let g = espeak(text, "greeting");
    for mode in [0u8, 2, 3] {
        let (x, (a, b)) = noisy(&g, 1500.0, 3);
        let (segs, net) = segments(&x, mode, 333);
        eprintln!(
            "mode {mode}: speech {a:.0}-{b:.0}, net {net:.0}, {} segments",
            segs.len()
        );
        assert!(!segs.is_empty(), "mode {mode}: no speech");
        // Nothing in the noise-only lead-in, nothing after the speech.
        for &(s, e) in &segs {
            assert!(
                s >= a - 100.0 && e <= b + 150.0,
                "mode {mode}: segment {s}-{e} outside speech {a:.0}-{b:.0}"
            );
        }
        // The greeting starts on time and ends on time, without long holes (a caller's short
        // answer would look like fragments separated by long silences).
        assert!((segs[0].0 - a).abs() <= 150.0, "mode {mode}: {segs:?}");
        assert!(
            (segs[segs.len() - 1].1 - b).abs() <= 300.0,
            "mode {mode}: {segs:?}"
        );
        let gap = segs.windows(2).map(|w| w[1].0 - w[0].1).fold(0.0, f64::max);
        assert!(gap < 1000.0, "mode {mode}: longest gap {gap} ms: {segs:?}");
        assert!(
            net >= 0.6 * (b - a) && net <= b - a + 100.0,
            "mode {mode}: net {net} vs span {:.0}",
            b - a
        );
        // Chunking does not change anything.
        assert_eq!(segments(&x, mode, 1), segments(&x, mode, 333));
    }
}

#[test]
fn mulaw_noise_alone_is_not_speech() {
    // 20 s of steady noise at several levels (quiet line to loud line), µ-law: no segment
    // after the first 300 ms in any mode or frame length.
    for (k, level) in [-65.0f32, -50.0, -42.0, -37.0, -32.0, -25.0]
        .into_iter()
        .enumerate()
    {
        let x: Vec<f32> = white_noise(FS, 20_000.0, level, 40 + k as u64)
            .into_iter()
            .map(mulaw_roundtrip)
            .collect();
        for mode in 0..=3u8 {
            for frame_ms in [10u32, 20, 30] {
                let mut v = Vad::new(
                    FS,
                    VadConfig {
                        mode,
                        frame_ms,
                        ..Default::default()
                    },
                )
                .unwrap();
                let mut ev = v.push(&x);
                ev.extend(v.flush());
                let late: Vec<&VadEvent> = ev
                    .iter()
                    .filter(|e| matches!(e, VadEvent::SpeechEnd { at_ms, .. } if *at_ms > 300.0))
                    .collect();
                assert!(
                    late.is_empty(),
                    "level {level} mode {mode} frame {frame_ms}: {late:?}"
                );
                // The noise estimate sits near the noise level (white noise: the 100–3800 Hz
                // bands hold about 92 % of it).
                let floor = v.noise_floor_dbm0().unwrap();
                if level > -60.0 {
                    assert!(
                        (floor - level as f64).abs() <= 3.0,
                        "level {level} mode {mode} frame {frame_ms}: floor {floor}"
                    );
                }
            }
        }
    }
}
