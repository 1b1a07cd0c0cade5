//! DTMF detector against ITU-T Q.24-style acceptance limits, on generated signals.

use tympan_audio::dtmf::{dtmf_frequencies, dtmf_sequence, DtmfConfig, DtmfDetector, DtmfEvent};
use tympan_audio::synth::{dual_tone, level_dbm0, mulaw_roundtrip, silence, white_noise};

const ALL: &str = "123A456B789C*0#D";

fn detect(fs: u32, x: &[f32], chunk: usize) -> Vec<DtmfEvent> {
    let mut d = DtmfDetector::new(fs, DtmfConfig::default()).unwrap();
    let mut ev = Vec::new();
    for c in x.chunks(chunk.max(1)) {
        ev.extend(d.push(c));
    }
    ev.extend(d.flush());
    ev
}

fn digits(ev: &[DtmfEvent]) -> String {
    ev.iter().map(|e| e.digit).collect()
}

/// A digit with per-tone levels and relative frequency offsets.
fn digit_sig(
    fs: u32,
    d: char,
    lo_db: f32,
    hi_db: f32,
    lo_dev: f32,
    hi_dev: f32,
    ms: f64,
) -> Vec<f32> {
    let (lo, hi) = dtmf_frequencies(d).unwrap();
    dual_tone(
        fs,
        lo * (1.0 + lo_dev),
        lo_db,
        hi * (1.0 + hi_dev),
        hi_db,
        ms,
    )
}

#[test]
fn all_digits_and_timing_8k_16k() {
    for fs in [8000u32, 16000] {
        let mut x = silence(fs, 100.0);
        x.extend(dtmf_sequence(ALL, fs, 50.0, 50.0, -10.0).unwrap());
        x.extend(silence(fs, 100.0));
        for chunk in [1usize, 37, 160, 100_000] {
            let ev = detect(fs, &x, chunk);
            assert_eq!(digits(&ev), ALL, "fs {fs} chunk {chunk}");
            for (i, e) in ev.iter().enumerate() {
                let start = 100.0 + 100.0 * i as f64;
                assert!(
                    (e.start_ms - start).abs() <= 4.0,
                    "fs {fs} {e:?} start {start}"
                );
                assert!((e.end_ms - (start + 50.0)).abs() <= 4.0, "fs {fs} {e:?}");
            }
        }
    }
}

#[test]
fn level_range() {
    let fs = 8000;
    for d in ALL.chars() {
        for lvl in [0.0f32, -25.0] {
            let mut x = silence(fs, 30.0);
            x.extend(digit_sig(fs, d, lvl, lvl, 0.0, 0.0, 60.0));
            x.extend(silence(fs, 60.0));
            assert_eq!(
                digits(&detect(fs, &x, 160)),
                d.to_string(),
                "{d} at {lvl} dBm0"
            );
        }
        let mut x = digit_sig(fs, d, -36.0, -36.0, 0.0, 0.0, 200.0);
        x.extend(silence(fs, 60.0));
        assert!(detect(fs, &x, 160).is_empty(), "{d} at -36 dBm0 reported");
    }
}

#[test]
fn frequency_deviation() {
    for fs in [8000u32, 16000] {
        for d in ALL.chars() {
            for (lo_dev, hi_dev) in [
                (0.015, 0.015),
                (-0.015, -0.015),
                (0.015, -0.015),
                (-0.015, 0.015),
            ] {
                let mut x = digit_sig(fs, d, -15.0, -15.0, lo_dev, hi_dev, 60.0);
                x.extend(silence(fs, 60.0));
                assert_eq!(
                    digits(&detect(fs, &x, 160)),
                    d.to_string(),
                    "{fs} {d} {lo_dev} {hi_dev}"
                );
            }
            for (lo_dev, hi_dev) in [(0.035, 0.0), (-0.035, 0.0), (0.0, 0.035), (0.0, -0.035)] {
                let mut x = digit_sig(fs, d, -15.0, -15.0, lo_dev, hi_dev, 100.0);
                x.extend(silence(fs, 60.0));
                assert!(
                    detect(fs, &x, 160).is_empty(),
                    "{fs} {d} {lo_dev} {hi_dev} accepted"
                );
            }
        }
    }
}

#[test]
fn frequency_deviation_in_noise() {
    for fs in [8000u32, 16000] {
        for (i, d) in ALL.chars().enumerate() {
            for (j, dev) in [0.015f32, -0.015].into_iter().enumerate() {
                let mut x = silence(fs, 30.0);
                x.extend(digit_sig(fs, d, -20.0, -20.0, dev, -dev, 50.0));
                x.extend(silence(fs, 60.0));
                let noise = white_noise(fs, 150.0, -17.0 - 15.0, (i * 2 + j) as u64);
                for (a, b) in x.iter_mut().zip(noise) {
                    *a = mulaw_roundtrip(*a + b);
                }
                assert_eq!(
                    digits(&detect(fs, &x, 160)),
                    d.to_string(),
                    "{fs} {d} {dev}"
                );
            }
        }
    }
}

#[test]
fn duration_and_pause() {
    for fs in [8000u32, 16000] {
        for offset in (0..110).step_by(11) {
            // 40 ms tones with 40 ms pauses: all recognised, repeated digits separated.
            let mut x = vec![0.0; offset * fs as usize / 8000];
            x.extend(dtmf_sequence("1155#", fs, 40.0, 40.0, -20.0).unwrap());
            assert_eq!(
                digits(&detect(fs, &x, 160)),
                "1155#",
                "fs {fs} offset {offset}"
            );
            // 20 ms tones are rejected.
            let mut x = vec![0.0; offset * fs as usize / 8000];
            x.extend(dtmf_sequence("1234", fs, 20.0, 60.0, -10.0).unwrap());
            let ev = detect(fs, &x, 160);
            assert!(ev.is_empty(), "fs {fs} offset {offset}: {ev:?}");
        }
    }
}

#[test]
fn short_interruption_is_bridged() {
    let fs = 8000;
    let mut x = digit_sig(fs, '7', -10.0, -10.0, 0.0, 0.0, 60.0);
    x.extend(silence(fs, 8.0));
    x.extend(digit_sig(fs, '7', -10.0, -10.0, 0.0, 0.0, 60.0));
    x.extend(silence(fs, 60.0));
    assert_eq!(digits(&detect(fs, &x, 160)), "7");
}

#[test]
fn twist() {
    for fs in [8000u32, 16000] {
        for d in ALL.chars() {
            for (lo, hi) in [
                (-6.0f32, -14.0f32),
                (-14.0, -6.0),
                (-17.0, -25.0),
                (-25.0, -17.0),
            ] {
                let mut x = digit_sig(fs, d, lo, hi, 0.0, 0.0, 60.0);
                x.extend(silence(fs, 60.0));
                assert_eq!(
                    digits(&detect(fs, &x, 160)),
                    d.to_string(),
                    "{fs} {d} {lo} {hi}"
                );
            }
            let mut x = digit_sig(fs, d, -4.0, -18.0, 0.0, 0.0, 100.0);
            x.extend(digit_sig(fs, d, -18.0, -4.0, 0.0, 0.0, 100.0));
            assert!(
                detect(fs, &x, 160).is_empty(),
                "{fs} {d}: 14 dB twist accepted"
            );
        }
    }
}

#[test]
fn white_noise_15db_snr_and_mulaw() {
    for fs in [8000u32, 16000] {
        for (lvl, seed) in [(-10.0f32, 1u64), (-20.0, 2), (-25.0, 3)] {
            let digits_in = "159D*0#3";
            let mut x = dtmf_sequence(digits_in, fs, 50.0, 50.0, lvl).unwrap();
            // Noise 15 dB below the level of the dual tone (two tones at `lvl` each).
            let tone_level = level_dbm0(&dtmf_sequence("5", fs, 50.0, 0.0, lvl).unwrap());
            let noise = white_noise(
                fs,
                x.len() as f64 * 1000.0 / fs as f64 + 1.0,
                tone_level - 15.0,
                seed,
            );
            for (a, b) in x.iter_mut().zip(&noise) {
                *a = mulaw_roundtrip(*a + b);
            }
            assert_eq!(
                digits(&detect(fs, &x, 80)),
                digits_in,
                "fs {fs} level {lvl}"
            );
        }
        // noise alone, loud: nothing
        let n = white_noise(fs, 10_000.0, -10.0, 9);
        assert!(detect(fs, &n, 160).is_empty());
    }
}

#[test]
fn single_tones_and_non_keypad_pairs_rejected() {
    let fs = 8000;
    let mut x = Vec::new();
    for f in [697.0f32, 941.0, 1209.0, 1633.0, 1000.0] {
        x.extend(tympan_audio::synth::sine(fs, f, 200.0, -10.0));
        x.extend(silence(fs, 50.0));
    }
    // dial tone, ringback, busy
    for (a, b) in [
        (350.0, 440.0),
        (440.0, 480.0),
        (480.0, 620.0),
        (697.0, 770.0),
        (1209.0, 1336.0),
    ] {
        x.extend(dual_tone(fs, a, -10.0, b, -10.0, 300.0));
        x.extend(silence(fs, 50.0));
    }
    let ev = detect(fs, &x, 160);
    assert!(ev.is_empty(), "{ev:?}");
}
