//! Beep detector and call-progress detector on generated signals.

use tympan_audio::beep::{BeepConfig, BeepDetector, BeepEvent};
use tympan_audio::dtmf::dtmf_sequence;
use tympan_audio::synth::{
    add_noise_snr, cadence, dual_tone, mulaw_roundtrip, multi_tone, silence, sine, white_noise,
    Prng,
};
use tympan_audio::tones::{CallProgressConfig, CallProgressDetector, ToneEvent, ToneKind};

/// Run the beep detector; returns events with the sample count at which each was emitted.
fn beeps(fs: u32, x: &[f32], chunk: usize) -> Vec<(BeepEvent, u64)> {
    let mut d = BeepDetector::new(fs, BeepConfig::default()).unwrap();
    let mut out = Vec::new();
    let mut seen = 0u64;
    for c in x.chunks(chunk) {
        seen += c.len() as u64;
        out.extend(d.push(c).into_iter().map(|e| (e, seen)));
    }
    out.extend(d.flush().into_iter().map(|e| (e, seen)));
    out
}

fn with_silence(fs: u32, pre_ms: f64, x: Vec<f32>, post_ms: f64) -> Vec<f32> {
    let mut v = silence(fs, pre_ms);
    v.extend(x);
    v.extend(silence(fs, post_ms));
    v
}

#[test]
fn beep_frequency_timing_latency() {
    for fs in [8000u32, 16000] {
        for f in [350.0f32, 440.0, 1000.0, 1400.0, 2000.0, 2450.0] {
            for dur in [100.0f64, 600.0] {
                let x = with_silence(fs, 250.0, sine(fs, f, dur, -20.0), 400.0);
                let ev = beeps(fs, &x, 80);
                assert_eq!(ev.len(), 1, "fs {fs} f {f} dur {dur}: {ev:?}");
                let (e, at) = &ev[0];
                assert!((e.frequency_hz - f).abs() < 2.0, "{e:?}");
                assert!((e.start_ms - 250.0).abs() < 6.0, "{e:?}");
                assert!((e.end_ms - (250.0 + dur)).abs() < 6.0, "{e:?}");
                assert!((e.level_db + 20.0).abs() < 1.5, "{e:?}");
                assert_eq!(e.frequencies_hz.len(), 1);
                let emitted_ms = *at as f64 * 1000.0 / fs as f64;
                let latency = emitted_ms - (250.0 + dur);
                assert!(
                    latency > 0.0 && latency <= 100.0,
                    "fs {fs} f {f}: latency {latency} ms"
                );
            }
        }
    }
}

#[test]
fn beep_near_minimum_duration_any_alignment() {
    for fs in [8000u32, 16000] {
        for pre in (0..16).map(|i| 200.0 + i as f64) {
            for f in [500.0f32, 1000.0, 2000.0] {
                let x = with_silence(fs, pre, sine(fs, f, 90.0, -20.0), 300.0);
                let ev = beeps(fs, &x, 160);
                assert_eq!(ev.len(), 1, "fs {fs} pre {pre} f {f}: {ev:?}");
            }
        }
    }
}

#[test]
fn beep_minimum_duration() {
    let fs = 8000;
    let ev = beeps(
        fs,
        &with_silence(fs, 200.0, sine(fs, 1000.0, 60.0, -15.0), 300.0),
        160,
    );
    assert!(ev.is_empty(), "{ev:?}");
    let cfg = BeepConfig {
        min_duration_ms: 300.0,
        ..Default::default()
    };
    let mut d = BeepDetector::new(fs, cfg).unwrap();
    let mut ev = d.push(&with_silence(
        fs,
        200.0,
        sine(fs, 1000.0, 200.0, -15.0),
        300.0,
    ));
    ev.extend(d.flush());
    assert!(ev.is_empty(), "{ev:?}");
}

#[test]
fn harmonic_rich_and_multi_tone_beeps() {
    for fs in [8000u32, 16000] {
        // square-ish wave: odd harmonics at 1/k amplitude
        let f0 = 500.0f32;
        let mut x = vec![0.0f32; fs as usize / 4];
        for k in [1.0f32, 3.0, 5.0, 7.0] {
            if f0 * k < fs as f32 / 2.0 {
                let h = sine(fs, f0 * k, 250.0, -12.0 - 20.0 * k.log10());
                for (a, b) in x.iter_mut().zip(h) {
                    *a += b;
                }
            }
        }
        let ev = beeps(fs, &with_silence(fs, 100.0, x, 300.0), 160);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert!((ev[0].0.frequency_hz - f0).abs() < 2.0, "{ev:?}");

        // three tones back to back: one event listing the three frequencies
        let mut x = sine(fs, 700.0, 150.0, -15.0);
        x.extend(sine(fs, 1000.0, 150.0, -15.0));
        x.extend(sine(fs, 1400.0, 200.0, -15.0));
        let ev = beeps(fs, &with_silence(fs, 100.0, x, 300.0), 160);
        assert_eq!(ev.len(), 1, "{ev:?}");
        let e = &ev[0].0;
        assert_eq!(e.frequencies_hz.len(), 3, "{e:?}");
        for (got, want) in e.frequencies_hz.iter().zip([700.0, 1000.0, 1400.0]) {
            assert!((got - want).abs() < 3.0, "{e:?}");
        }
        assert!((e.frequency_hz - 1400.0).abs() < 3.0);
        assert!(
            (e.start_ms - 100.0).abs() < 6.0 && (e.end_ms - 600.0).abs() < 6.0,
            "{e:?}"
        );
    }
}

#[test]
fn beep_through_mulaw_and_noise() {
    for fs in [8000u32, 16000] {
        for (f, seed) in [(450.0f32, 1u64), (1000.0, 2), (1850.0, 3)] {
            let mut x = with_silence(fs, 300.0, sine(fs, f, 300.0, -18.0), 300.0);
            // 15 dB SNR with respect to the tone
            let noise = white_noise(fs, 1000.0, -18.0 - 15.0, seed);
            for (a, b) in x.iter_mut().zip(noise) {
                *a = mulaw_roundtrip(*a + b);
            }
            let ev = beeps(fs, &x, 100);
            assert_eq!(ev.len(), 1, "fs {fs} f {f}: {ev:?}");
            assert!((ev[0].0.frequency_hz - f).abs() < 3.0, "{ev:?}");
            assert!((ev[0].0.end_ms - 600.0).abs() < 10.0, "{ev:?}");
        }
    }
}

#[test]
fn no_beep_on_dual_tones_dtmf_noise_sweeps() {
    for fs in [8000u32, 16000] {
        let mut x = Vec::new();
        x.extend(cadence(fs, &[440.0, 480.0], -15.0, 2000.0, 500.0, 2)); // ringback
        x.extend(cadence(fs, &[350.0, 440.0], -15.0, 2000.0, 300.0, 1)); // dial tone
        x.extend(cadence(fs, &[480.0, 620.0], -15.0, 500.0, 500.0, 3)); // busy
        x.extend(cadence(fs, &[400.0, 450.0], -15.0, 1000.0, 300.0, 1)); // UK ringback
        x.extend(dtmf_sequence("0123456789*#ABCD", fs, 100.0, 100.0, -10.0).unwrap());
        x.extend(dual_tone(fs, 941.0, -10.0, 1336.0, -10.0, 1000.0));
        x.extend(white_noise(fs, 2000.0, -20.0, 5));
        // a slow chirp 500 -> 1500 Hz over 1 s (not steady)
        let n = fs as usize;
        let mut phase = 0.0f64;
        for i in 0..n {
            let f = 500.0 + 1000.0 * i as f64 / n as f64;
            phase += 2.0 * std::f64::consts::PI * f / fs as f64;
            x.push(0.2 * phase.sin() as f32);
        }
        let ev = beeps(fs, &x, 160);
        assert!(ev.is_empty(), "fs {fs}: {ev:?}");
    }
}

#[test]
fn beep_detector_survives_nan_and_chunking() {
    let fs = 8000;
    let mut x = with_silence(fs, 100.0, sine(fs, 900.0, 200.0, -15.0), 200.0);
    x[10] = f32::NAN;
    x[20] = f32::INFINITY;
    let a: Vec<BeepEvent> = beeps(fs, &x, 1).into_iter().map(|e| e.0).collect();
    let b: Vec<BeepEvent> = beeps(fs, &x, 4096).into_iter().map(|e| e.0).collect();
    assert_eq!(a.len(), 1);
    assert_eq!(a, b);
}

fn progress(fs: u32, x: &[f32]) -> Vec<ToneEvent> {
    let mut d = CallProgressDetector::new(fs, CallProgressConfig::default()).unwrap();
    let mut ev = Vec::new();
    for c in x.chunks(137) {
        ev.extend(d.push(c));
    }
    ev.extend(d.flush());
    ev
}

fn kinds(ev: &[ToneEvent]) -> Vec<ToneKind> {
    ev.iter().map(|e| e.kind).collect()
}

#[test]
fn call_progress_tones() {
    use ToneKind::*;
    for fs in [8000u32, 16000] {
        for noisy in [false, true] {
            let prep = |mut x: Vec<f32>| {
                if noisy {
                    add_noise_snr(&mut x, 15.0, 11);
                    x.iter_mut().for_each(|v| *v = mulaw_roundtrip(*v));
                }
                progress(fs, &x)
            };
            let ev = prep(with_silence(
                fs,
                200.0,
                multi_tone(fs, &[350.0, 440.0], 3000.0, -13.0),
                200.0,
            ));
            assert_eq!(kinds(&ev), [DialTone], "{fs} {noisy} {ev:?}");
            assert!(
                (ev[0].start_ms - 200.0).abs() <= 25.0 && (ev[0].end_ms - 3200.0).abs() <= 25.0,
                "{ev:?}"
            );

            let ev = prep(cadence(fs, &[440.0, 480.0], -19.0, 2000.0, 4000.0, 2));
            assert_eq!(kinds(&ev), [Ringback, Ringback], "{fs} {noisy} {ev:?}");
            assert!((ev[1].start_ms - 6000.0).abs() <= 25.0);

            let ev = prep(cadence(fs, &[480.0, 620.0], -24.0, 500.0, 500.0, 4));
            assert_eq!(kinds(&ev), [Busy; 4], "{fs} {noisy} {ev:?}");
            let ev = prep(cadence(fs, &[480.0, 620.0], -24.0, 250.0, 250.0, 6));
            assert_eq!(kinds(&ev), [Reorder; 6], "{fs} {noisy} {ev:?}");

            for (lo, mid) in [(913.8f32, 1370.6f32), (985.2, 1428.5)] {
                let mut x = silence(fs, 100.0);
                x.extend(sine(fs, lo, 274.0, -24.0));
                x.extend(sine(fs, mid, 274.0, -24.0));
                x.extend(sine(fs, 1776.7, 380.0, -24.0));
                x.extend(silence(fs, 300.0));
                let ev = prep(x);
                assert_eq!(kinds(&ev), [Sit], "{fs} {noisy} {ev:?}");
                assert_eq!(ev[0].frequencies_hz, vec![lo, mid, 1776.7]);
                assert!(
                    (ev[0].start_ms - 100.0).abs() <= 25.0 && (ev[0].end_ms - 1028.0).abs() <= 25.0
                );
            }

            let ev = prep(cadence(fs, &[1100.0], -20.0, 500.0, 3000.0, 2));
            assert_eq!(kinds(&ev), [FaxCng, FaxCng], "{fs} {noisy} {ev:?}");
            let ev = prep(with_silence(
                fs,
                100.0,
                sine(fs, 2100.0, 3000.0, -15.0),
                100.0,
            ));
            assert_eq!(kinds(&ev), [FaxCed], "{fs} {noisy} {ev:?}");

            // none of them in noise or DTMF or a beep
            let mut x = white_noise(fs, 3000.0, -20.0, 3);
            x.extend(dtmf_sequence("123", fs, 300.0, 100.0, -10.0).unwrap());
            x.extend(sine(fs, 1000.0, 1000.0, -15.0));
            assert!(prep(x).is_empty());
        }
    }
}

#[test]
fn call_progress_rejects_random_and_short() {
    let fs = 8000;
    // ringback burst too short, dial tone too short, CED too short
    let mut x = multi_tone(fs, &[440.0, 480.0], 300.0, -15.0);
    x.extend(silence(fs, 300.0));
    x.extend(multi_tone(fs, &[350.0, 440.0], 500.0, -15.0));
    x.extend(silence(fs, 300.0));
    x.extend(sine(fs, 2100.0, 300.0, -15.0));
    x.extend(silence(fs, 300.0));
    // random-frequency short tones
    let mut rng = Prng::new(4);
    for _ in 0..20 {
        let f = 300.0 + 2000.0 * rng.uniform() as f32;
        x.extend(sine(fs, f, 100.0, -15.0));
    }
    let ev = progress(fs, &x);
    assert!(ev.is_empty(), "{ev:?}");
    assert!(CallProgressDetector::new(1000, CallProgressConfig::default()).is_err());
    let mut d = CallProgressDetector::new(8000, CallProgressConfig::default()).unwrap();
    assert!(d.push(&[]).is_empty());
    assert!(d.push(&[f32::NAN; 4000]).is_empty());
}

/// Tones 1 dB above the level floor are still found (the detector skips its filter bank on
/// blocks too quiet to hold any tone at the floor; that bound must not cut into real tones),
/// and tones below the floor are not. (Within ±0.5 dB of the floor, leakage between the two
/// tones of a pair moves 25 ms block estimates across it.)
#[test]
fn call_progress_tones_at_the_level_floor() {
    let floor = CallProgressConfig::default().min_level_dbm0;
    for fs in [8000u32, 16000] {
        for (offset, want) in [(1.0f32, true), (3.0, true), (-6.0, false)] {
            // ringback: two cycles of 2 s on, 1 s off; dial tone 3 s; each tone at the level
            let level = floor + offset;
            let mut x = silence(fs, 300.0);
            x.extend(cadence(fs, &[440.0, 480.0], level, 2000.0, 1000.0, 2));
            x.extend(multi_tone(fs, &[350.0, 440.0], 3000.0, level));
            x.extend(silence(fs, 500.0));
            let mut d = CallProgressDetector::new(fs, CallProgressConfig::default()).unwrap();
            let mut ev: Vec<ToneEvent> = x.chunks(160).flat_map(|c| d.push(c)).collect();
            ev.extend(d.flush());
            let kinds: Vec<ToneKind> = ev.iter().map(|e| e.kind).collect();
            if want {
                assert_eq!(
                    kinds,
                    [ToneKind::Ringback, ToneKind::Ringback, ToneKind::DialTone],
                    "fs {fs} level {level}: {ev:?}"
                );
            } else {
                assert!(kinds.is_empty(), "fs {fs} level {level}: {ev:?}");
            }
        }
    }
}
