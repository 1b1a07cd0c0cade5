//! Test-signal and prompt generators: sines, dual tones, cadences, seeded white noise.
//!
//! # Level convention (dBm0)
//!
//! Levels are in dBm0 relative to G.711 µ-law: per G.711 a full-scale sine (peak amplitude 1.0
//! in our f32 scale, ±32768 in int16 before µ-law compression's ±8159 range) is **+3.17 dBm0**.
//! A sine of peak amplitude `a` therefore has level `3.17 + 20·log10(a)` dBm0, and 0 dBm0 is a
//! sine of peak amplitude `10^(-3.17/20) ≈ 0.6942`. For non-sinusoidal signals (noise, speech)
//! the level is that of the sine with the same RMS: `3.17 + 20·log10(rms·√2)` dBm0.
//! (A-law's full-scale sine is +3.14 dBm0; we use the µ-law figure throughout.)

/// Level in dBm0 of a full-scale sine (peak 1.0), per G.711 µ-law.
pub const FULL_SCALE_SINE_DBM0: f32 = 3.17;

/// Peak amplitude of a sine at `level_dbm0`.
pub fn dbm0_to_amplitude(level_dbm0: f32) -> f32 {
    10f32.powf((level_dbm0 - FULL_SCALE_SINE_DBM0) / 20.0)
}

/// Level in dBm0 of a sine with peak amplitude `amplitude` (−inf for 0).
pub fn amplitude_to_dbm0(amplitude: f32) -> f32 {
    FULL_SCALE_SINE_DBM0 + 20.0 * amplitude.abs().log10()
}

/// Level in dBm0 of any signal with the given mean square (sine-equivalent RMS convention).
pub fn mean_square_to_dbm0(mean_square: f64) -> f32 {
    // sine of peak a has mean square a²/2, so a = sqrt(2·ms)
    FULL_SCALE_SINE_DBM0 + 10.0 * (2.0 * mean_square).max(1e-30).log10() as f32
}

/// RMS level in dBm0 of a block of samples (−inf-ish, about −297, for silence).
pub fn level_dbm0(samples: &[f32]) -> f32 {
    if samples.is_empty() {
        return mean_square_to_dbm0(0.0);
    }
    let ms = samples
        .iter()
        .map(|&x| (x as f64) * (x as f64))
        .sum::<f64>()
        / samples.len() as f64;
    mean_square_to_dbm0(ms)
}

/// Number of samples in `duration_ms` at `sample_rate` (rounded to nearest).
pub fn samples_for_ms(sample_rate: u32, duration_ms: f64) -> usize {
    (sample_rate as f64 * duration_ms.max(0.0) / 1000.0).round() as usize
}

/// `duration_ms` of digital silence.
pub fn silence(sample_rate: u32, duration_ms: f64) -> Vec<f32> {
    vec![0.0; samples_for_ms(sample_rate, duration_ms)]
}

/// A stand-in for hold music or a music ringback tone: eight 400 ms chords (a I–vi–IV–V
/// progression twice), each of three notes at `note_level_dbm0` with 2nd and 3rd harmonics
/// 8 and 14 dB below.
pub fn hold_music(sample_rate: u32, note_level_dbm0: f32) -> Vec<f32> {
    const CHORDS: [[f32; 3]; 4] = [
        [261.6, 329.6, 392.0],
        [220.0, 261.6, 329.6],
        [174.6, 220.0, 261.6],
        [196.0, 246.9, 293.7],
    ];
    let mut y = Vec::new();
    for c in CHORDS.iter().cycle().take(8) {
        let mut note = vec![0.0f32; samples_for_ms(sample_rate, 400.0)];
        for &f in c {
            for (k, drop_db) in [(1.0, 0.0), (2.0, 8.0), (3.0, 14.0)] {
                let s = sine(sample_rate, f * k, 400.0, note_level_dbm0 - drop_db);
                for (a, b) in note.iter_mut().zip(s) {
                    *a += b;
                }
            }
        }
        y.extend(note);
    }
    y
}

/// Sum of sines, each at `level_dbm0`, starting at phase 0.
pub fn multi_tone(
    sample_rate: u32,
    freqs_hz: &[f32],
    duration_ms: f64,
    level_dbm0: f32,
) -> Vec<f32> {
    let n = samples_for_ms(sample_rate, duration_ms);
    let a = dbm0_to_amplitude(level_dbm0) as f64;
    let fs = sample_rate as f64;
    (0..n)
        .map(|i| {
            let t = i as f64 / fs;
            freqs_hz
                .iter()
                .map(|&f| a * (2.0 * std::f64::consts::PI * f as f64 * t).sin())
                .sum::<f64>() as f32
        })
        .collect()
}

/// A sine of `freq_hz` at `level_dbm0`.
pub fn sine(sample_rate: u32, freq_hz: f32, duration_ms: f64, level_dbm0: f32) -> Vec<f32> {
    multi_tone(sample_rate, &[freq_hz], duration_ms, level_dbm0)
}

/// Two sines, each at its own level (dBm0), e.g. a DTMF pair with twist.
pub fn dual_tone(
    sample_rate: u32,
    f1_hz: f32,
    level1_dbm0: f32,
    f2_hz: f32,
    level2_dbm0: f32,
    duration_ms: f64,
) -> Vec<f32> {
    let mut a = sine(sample_rate, f1_hz, duration_ms, level1_dbm0);
    let b = sine(sample_rate, f2_hz, duration_ms, level2_dbm0);
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
    a
}

/// An on/off cadence: `cycles` repetitions of (`on_ms` of the tone sum, `off_ms` of silence).
pub fn cadence(
    sample_rate: u32,
    freqs_hz: &[f32],
    level_dbm0: f32,
    on_ms: f64,
    off_ms: f64,
    cycles: usize,
) -> Vec<f32> {
    let mut out = Vec::new();
    for _ in 0..cycles {
        out.extend(multi_tone(sample_rate, freqs_hz, on_ms, level_dbm0));
        out.extend(silence(sample_rate, off_ms));
    }
    out
}

/// Seeded pseudo-random generator (SplitMix64) for reproducible noise. Not cryptographic.
#[derive(Clone, Debug)]
pub struct Prng {
    state: u64,
}

impl Prng {
    /// A generator with the given seed; equal seeds give equal sequences.
    pub fn new(seed: u64) -> Self {
        Prng { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub fn gaussian(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Gaussian white noise with RMS level `level_dbm0` (sine-equivalent convention), seeded.
pub fn white_noise(sample_rate: u32, duration_ms: f64, level_dbm0: f32, seed: u64) -> Vec<f32> {
    let n = samples_for_ms(sample_rate, duration_ms);
    let rms = dbm0_to_amplitude(level_dbm0) as f64 / std::f64::consts::SQRT_2;
    let mut rng = Prng::new(seed);
    (0..n).map(|_| (rng.gaussian() * rms) as f32).collect()
}

/// Add seeded white noise so that the signal-to-noise ratio over the whole of `signal` (its mean
/// square, silent parts included) is `snr_db`. Silent input is left unchanged.
pub fn add_noise_snr(signal: &mut [f32], snr_db: f32, seed: u64) {
    if signal.is_empty() {
        return;
    }
    let ms = signal.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / signal.len() as f64;
    if ms <= 0.0 {
        return;
    }
    let rms = (ms / 10f64.powf(snr_db as f64 / 10.0)).sqrt();
    let mut rng = Prng::new(seed);
    for x in signal.iter_mut() {
        *x += (rng.gaussian() * rms) as f32;
    }
}

/// Add `other` into `dst` starting at sample `offset` (extending `dst` if needed).
pub fn mix_into(dst: &mut Vec<f32>, other: &[f32], offset: usize) {
    if dst.len() < offset + other.len() {
        dst.resize(offset + other.len(), 0.0);
    }
    for (d, &o) in dst[offset..].iter_mut().zip(other) {
        *d += o;
    }
}

/// DTMF keypad frequencies (low group, high group) for `digit` (0-9 * # A-D, case-insensitive).
pub fn dtmf_frequencies(digit: char) -> Option<(f32, f32)> {
    const LOW: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
    const HIGH: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    const KEYS: [[char; 4]; 4] = [
        ['1', '2', '3', 'A'],
        ['4', '5', '6', 'B'],
        ['7', '8', '9', 'C'],
        ['*', '0', '#', 'D'],
    ];
    let d = digit.to_ascii_uppercase();
    for (r, row) in KEYS.iter().enumerate() {
        for (c, &k) in row.iter().enumerate() {
            if k == d {
                return Some((LOW[r], HIGH[c]));
            }
        }
    }
    None
}

/// One DTMF digit, both tones at `level_dbm0` each. `None` for a character that is not a DTMF
/// digit.
pub fn dtmf_tone(
    digit: char,
    sample_rate: u32,
    duration_ms: f64,
    level_dbm0: f32,
) -> Option<Vec<f32>> {
    let (lo, hi) = dtmf_frequencies(digit)?;
    Some(dual_tone(
        sample_rate,
        lo,
        level_dbm0,
        hi,
        level_dbm0,
        duration_ms,
    ))
}

/// A DTMF digit string: each digit `tone_ms` long followed by `pause_ms` of silence. Characters
/// that are not DTMF digits are an [`crate::AudioError::InvalidParam`].
pub fn dtmf_sequence(
    digits: &str,
    sample_rate: u32,
    tone_ms: f64,
    pause_ms: f64,
    level_dbm0: f32,
) -> Result<Vec<f32>, crate::AudioError> {
    let mut out = Vec::new();
    for (i, d) in digits.chars().enumerate() {
        let tone = dtmf_tone(d, sample_rate, tone_ms, level_dbm0).ok_or_else(|| {
            crate::AudioError::InvalidParam {
                name: "digits",
                why: format!("character {i} ({d:?}) is not a DTMF digit (0-9 * # A-D)"),
            }
        })?;
        out.extend(tone);
        out.extend(silence(sample_rate, pause_ms));
    }
    Ok(out)
}

/// G.711 µ-law round trip of a float sample (encode to 8 bits and decode back); handy to test
/// detectors on telephone-quality audio without another module.
pub fn mulaw_roundtrip(x: f32) -> f32 {
    use crate::g711::{ulaw_decode, ulaw_encode};
    crate::pcm::i16_to_f32(ulaw_decode(ulaw_encode(crate::pcm::f32_to_i16(x))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_round_trip() {
        assert!((dbm0_to_amplitude(3.17) - 1.0).abs() < 1e-6);
        assert!((dbm0_to_amplitude(0.0) - 0.6942).abs() < 1e-3);
        let s = sine(8000, 1000.0, 1000.0, -10.0);
        assert!((level_dbm0(&s) + 10.0).abs() < 0.05, "{}", level_dbm0(&s));
        let n = white_noise(8000, 2000.0, -20.0, 7);
        assert!((level_dbm0(&n) + 20.0).abs() < 0.2, "{}", level_dbm0(&n));
        assert_eq!(
            white_noise(8000, 10.0, -20.0, 7),
            white_noise(8000, 10.0, -20.0, 7)
        );
    }

    #[test]
    fn snr_and_mulaw() {
        let clean = sine(8000, 500.0, 1000.0, -10.0);
        let mut noisy = clean.clone();
        add_noise_snr(&mut noisy, 15.0, 1);
        let noise: Vec<f32> = noisy.iter().zip(&clean).map(|(a, b)| a - b).collect();
        let snr = level_dbm0(&clean) - level_dbm0(&noise);
        assert!((snr - 15.0).abs() < 0.3, "{snr}");
        for &x in &[0.0f32, 0.001, -0.3, 0.9, -1.0] {
            let y = mulaw_roundtrip(x);
            assert!((y - x).abs() <= x.abs() * 0.07 + 0.0005, "{x} -> {y}");
        }
        assert!(dtmf_sequence("12x", 8000, 50.0, 50.0, -10.0).is_err());
        assert_eq!(
            dtmf_sequence("1#", 8000, 50.0, 50.0, -10.0).unwrap().len(),
            1600
        );
    }
}
