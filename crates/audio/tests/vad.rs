//! VAD on noise, tones and espeak-ng speech.

use std::path::PathBuf;
use std::process::Command;

use tympan_audio::synth::{cadence, dtmf_sequence, hold_music, sine, white_noise};
use tympan_audio::vad::{Vad, VadConfig, VadEvent};

fn run(fs: u32, cfg: VadConfig, x: &[f32], chunk: usize) -> (Vec<VadEvent>, f64) {
    let mut v = Vad::new(fs, cfg).unwrap();
    let mut ev = Vec::new();
    for c in x.chunks(chunk) {
        ev.extend(v.push(c));
    }
    ev.extend(v.flush());
    (ev, v.net_speech_ms())
}

#[test]
fn noise_and_tones_are_not_speech() {
    for fs in [8000u32, 16000] {
        for mode in 0..=3u8 {
            for frame_ms in [10u32, 20, 30] {
                let cfg = VadConfig {
                    mode,
                    frame_ms,
                    ..Default::default()
                };
                let mut x = vec![0.0f32; fs as usize];
                x.extend(white_noise(fs, 3000.0, -45.0, 1));
                x.extend(white_noise(fs, 3000.0, -25.0, 2));
                x.extend(sine(fs, 1000.0, 1000.0, -15.0));
                x.extend(cadence(fs, &[440.0, 480.0], -15.0, 2000.0, 500.0, 1));
                x.extend(dtmf_sequence("123", fs, 200.0, 100.0, -10.0).unwrap());
                let (ev, net) = run(fs, cfg, &x, 333);
                // Each of the two noise steps may be taken for speech for up to ~300 ms before
                // the floor adapts; tones never.
                assert!(
                    net <= 700.0,
                    "fs {fs} mode {mode} frame {frame_ms}: net {net} {ev:?}"
                );
            }
        }
        // A 1 kHz tone amplitude-modulated at 4 Hz (syllable-like envelope, not stationary)
        // over steady noise: speech by level alone, rejected by the tonality check. (The noise
        // goes on under the tone: noise returning after digital silence would be a noise step.)
        let mut x = white_noise(fs, 2000.0, -50.0, 3);
        let am: Vec<f32> = sine(fs, 1000.0, 2000.0, -12.0)
            .iter()
            .zip(white_noise(fs, 2000.0, -50.0, 5))
            .enumerate()
            .map(|(i, (v, n))| {
                v * (0.55 + 0.45 * (2.0 * std::f32::consts::PI * 4.0 * i as f32 / fs as f32).sin())
                    + n
            })
            .collect();
        x.extend(am);
        x.extend(white_noise(fs, 1000.0, -50.0, 4));
        let (_, net) = run(
            fs,
            VadConfig {
                reject_tones: false,
                ..Default::default()
            },
            &x,
            160,
        );
        assert!(net >= 1000.0, "fs {fs}: net {net}");
        let (ev, net) = run(fs, VadConfig::default(), &x, 160);
        assert!(ev.is_empty() && net == 0.0, "fs {fs}: {ev:?}");
    }
}

/// Windowed-sinc low-pass then linear interpolation: enough for a VAD test.
fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    let cutoff = 0.45 * to as f64 / from as f64;
    let taps = 63i64;
    let h: Vec<f64> = (0..taps)
        .map(|i| {
            let t = (i - taps / 2) as f64;
            let s = if t == 0.0 {
                2.0 * cutoff
            } else {
                (2.0 * std::f64::consts::PI * cutoff * t).sin() / (std::f64::consts::PI * t)
            };
            s * (0.54 - 0.46 * (2.0 * std::f64::consts::PI * i as f64 / (taps - 1) as f64).cos())
        })
        .collect();
    let y: Vec<f64> = (0..x.len() as i64)
        .map(|n| {
            (0..taps)
                .map(|k| {
                    let j = n + taps / 2 - k;
                    if j >= 0 && (j as usize) < x.len() {
                        h[k as usize] * x[j as usize] as f64
                    } else {
                        0.0
                    }
                })
                .sum()
        })
        .collect();
    let m = (x.len() as f64 * to as f64 / from as f64) as usize;
    (0..m)
        .map(|i| {
            let p = i as f64 * from as f64 / to as f64;
            let j = p.floor() as usize;
            let f = p - j as f64;
            let a = y[j.min(y.len() - 1)];
            let b = y[(j + 1).min(y.len() - 1)];
            (a + (b - a) * f) as f32
        })
        .collect()
}

/// `text` spoken by espeak-ng: (sample rate, samples). Panics when espeak-ng does not run:
/// these tests need it (`scripts/setup.sh` installs it), and a missing tool must not pass as
/// green.
fn espeak(text: &str, name: &str) -> (u32, Vec<f32>) {
    let path: PathBuf =
        std::env::temp_dir().join(format!("tympan-vad-{}-{name}.wav", std::process::id()));
    let ok = Command::new("espeak-ng")
        .arg("-w")
        .arg(&path)
        .arg(text)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "espeak-ng did not run: install it (scripts/setup.sh) to run the speech tests"
    );
    let mut r = hound::WavReader::open(&path).unwrap();
    let fs = r.spec().sample_rate;
    let x: Vec<f32> = r
        .samples::<i16>()
        .map(|s| s.unwrap() as f32 / 32768.0)
        .collect();
    let _ = std::fs::remove_file(&path);
    (fs, x)
}

/// Span (start, end) in samples of the samples louder than −40 dB below the peak.
fn active_span(x: &[f32]) -> (usize, usize) {
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let thr = peak * 0.01;
    let s = x.iter().position(|v| v.abs() > thr).unwrap_or(0);
    let e = x.iter().rposition(|v| v.abs() > thr).unwrap_or(0);
    (s, e + 1)
}

#[test]
fn espeak_speech_segments_and_net_speech() {
    let texts = [
        "Hello, you have reached the voicemail of John Smith. Please leave a message after the tone.",
        "Thank you for calling. Our office is closed.",
    ];
    let mut utts = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        utts.push(espeak(t, &i.to_string()));
    }
    for fs in [8000u32, 16000] {
        for mode in [0u8, 2, 3] {
            // 1 s noise, utterance, 1.5 s noise, utterance, 1 s noise; noise at -50 dBm0
            let mut x = Vec::new();
            let mut spans = Vec::new();
            x.extend(white_noise(fs, 1000.0, -200.0, 0));
            for (k, (efs, u)) in utts.iter().enumerate() {
                let u = resample(u, *efs, fs);
                let (s, e) = active_span(&u);
                spans.push((
                    (x.len() + s) as f64 * 1000.0 / fs as f64,
                    (x.len() + e) as f64 * 1000.0 / fs as f64,
                ));
                x.extend(u.iter().map(|v| v * 0.5));
                x.extend(vec![
                    0.0;
                    fs as usize * 3 / 2 * (k == 0) as usize
                        + fs as usize * (k == 1) as usize
                ]);
            }
            let noise = white_noise(fs, x.len() as f64 * 1000.0 / fs as f64 + 10.0, -50.0, 7);
            for (a, b) in x.iter_mut().zip(noise) {
                *a += b;
            }
            let cfg = VadConfig {
                mode,
                ..Default::default()
            };
            let (ev, net) = run(fs, cfg, &x, 160);
            let starts: Vec<f64> = ev
                .iter()
                .filter_map(|e| {
                    if let VadEvent::SpeechStart { at_ms } = e {
                        Some(*at_ms)
                    } else {
                        None
                    }
                })
                .collect();
            let ends: Vec<(f64, f64)> = ev
                .iter()
                .filter_map(|e| {
                    if let VadEvent::SpeechEnd { start_ms, at_ms } = e {
                        Some((*start_ms, *at_ms))
                    } else {
                        None
                    }
                })
                .collect();
            assert_eq!(starts.len(), ends.len(), "{ev:?}");
            assert!(!starts.is_empty());
            // every segment lies within an utterance span (±150 ms)
            for &(s, e) in &ends {
                assert!(
                    spans.iter().any(|&(a, b)| s >= a - 150.0 && e <= b + 150.0),
                    "fs {fs} mode {mode}: segment {s}-{e} outside speech {spans:?}"
                );
            }
            // each utterance's start is found
            for &(a, _) in &spans {
                assert!(
                    starts.iter().any(|&s| (s - a).abs() <= 150.0),
                    "fs {fs} mode {mode}: {a} not in {starts:?}"
                );
            }
            let spoken: f64 = spans.iter().map(|(a, b)| b - a).sum();
            eprintln!("fs {fs} mode {mode}: spoken span {spoken:.0} ms, net speech {net:.0} ms, {} segments", starts.len());
            assert!(
                net >= 0.55 * spoken && net <= 1.05 * spoken,
                "fs {fs} mode {mode}: net {net} vs spoken {spoken}"
            );
        }
    }
}

#[test]
fn chunking_does_not_matter() {
    let fs = 8000;
    let mut x = white_noise(fs, 500.0, -50.0, 1);
    x.extend(
        white_noise(fs, 700.0, -15.0, 2)
            .iter()
            .enumerate()
            .map(|(i, v)| v * (1.0 + (i as f32 * 0.01).sin())),
    );
    x.extend(white_noise(fs, 800.0, -50.0, 3));
    let a = run(fs, VadConfig::default(), &x, 1);
    let b = run(fs, VadConfig::default(), &x, 10_000);
    assert_eq!(a, b);
    assert!(!a.0.is_empty());
}

#[test]
fn hold_music_is_not_speech_and_speech_after_it_is() {
    let (efs, u) = espeak("Hello, who is this?", "music");
    for fs in [8000u32, 16000] {
        let music = hold_music(fs, -18.0);
        let music_ms = music.len() as f64 * 1000.0 / fs as f64;
        let mut x = vec![0.0f32; fs as usize / 2];
        x.extend(music);
        x.extend(vec![0.0f32; fs as usize / 2]);
        let speech_from = x.len() as f64 * 1000.0 / fs as f64;
        x.extend(resample(&u, efs, fs).iter().map(|v| v * 0.5));
        x.extend(vec![0.0f32; fs as usize]);
        let noise = white_noise(fs, x.len() as f64 * 1000.0 / fs as f64 + 10.0, -55.0, 3);
        for (a, b) in x.iter_mut().zip(noise) {
            *a += b;
        }
        let (ev, _) = run(fs, VadConfig::default(), &x, 160);
        let starts: Vec<f64> = ev
            .iter()
            .filter_map(|e| match e {
                VadEvent::SpeechStart { at_ms } => Some(*at_ms),
                _ => None,
            })
            .collect();
        // Speech during the music: at most its first moments, before the steady hops fill
        // the window (and not the 3.2 s a plain energy/SNR decision would give).
        let mut in_music = 0.0;
        let mut open = None;
        for e in &ev {
            match e {
                VadEvent::SpeechStart { at_ms } => open = Some(*at_ms),
                VadEvent::SpeechEnd { at_ms, .. } => {
                    if let Some(s) = open.take() {
                        let (a, b) = (f64::max(s, 500.0), f64::min(*at_ms, 500.0 + music_ms));
                        in_music += (b - a).max(0.0);
                    }
                }
            }
        }
        assert!(
            in_music <= 500.0,
            "fs {fs}: {in_music} ms of speech in music: {ev:?}"
        );
        assert!(
            starts.iter().any(|&s| s >= speech_from - 50.0),
            "fs {fs}: speech after the music not found: {ev:?}"
        );
    }
}
