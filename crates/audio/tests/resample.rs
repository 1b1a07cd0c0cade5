//! Resampling: pass-band tone level and frequency, stop-band attenuation, lengths, and
//! streaming versus batch.

use tympan_audio::levels::rms;
use tympan_audio::resample::{output_len, resample, StreamResampler};

const RATES: [u32; 5] = [8000, 16000, 22050, 44100, 48000];

fn tone(rate: u32, freq: f64, secs: f64, amp: f64) -> Vec<f32> {
    let n = (rate as f64 * secs) as usize;
    (0..n)
        .map(|i| (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64).sin()) as f32)
        .collect()
}

/// Amplitude of `freq` in `x` by correlation with sine and cosine (Goertzel-like, exact DFT bin).
fn amplitude_at(x: &[f32], rate: u32, freq: f64) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for (i, &v) in x.iter().enumerate() {
        let ph = 2.0 * std::f64::consts::PI * freq * i as f64 / rate as f64;
        s += v as f64 * ph.sin();
        c += v as f64 * ph.cos();
    }
    2.0 * (s * s + c * c).sqrt() / x.len() as f64
}

/// Frequency estimate from zero crossings with linear interpolation.
fn zero_crossing_freq(x: &[f32], rate: u32) -> f64 {
    let mut crossings = Vec::new();
    for i in 1..x.len() {
        if x[i - 1] < 0.0 && x[i] >= 0.0 {
            let t = (i - 1) as f64 + (-x[i - 1] as f64) / ((x[i] - x[i - 1]) as f64);
            crossings.push(t);
        }
    }
    let periods = crossings.len() - 1;
    rate as f64 * periods as f64 / (crossings[periods] - crossings[0])
}

#[test]
fn tone_passes_with_correct_frequency_level_and_length() {
    for &from in &RATES {
        for &to in &RATES {
            let x = tone(from, 1000.0, 1.0, 0.5);
            let y = resample(&x, from, to).unwrap();
            assert_eq!(y.len(), output_len(x.len(), from, to), "{from}->{to}");
            assert_eq!(y.len(), to as usize, "{from}->{to}: 1 s in, 1 s out");
            // Skip the edges (the filter sees zeros beyond the ends).
            let mid = &y[y.len() / 10..y.len() * 9 / 10];
            let f = zero_crossing_freq(mid, to);
            assert!((f - 1000.0).abs() < 0.5, "{from}->{to}: {f} Hz");
            let a = amplitude_at(mid, to, 1000.0);
            assert!(
                (20.0 * (a / 0.5).log10()).abs() < 0.1,
                "{from}->{to}: amplitude {a}"
            );
            // Phase/time alignment: output sample k is input time k/to.
            let k = y.len() / 2;
            let expect = 0.5 * (2.0 * std::f64::consts::PI * 1000.0 * k as f64 / to as f64).sin();
            assert!(
                (y[k] as f64 - expect).abs() < 0.01,
                "{from}->{to}: misaligned {} vs {expect}",
                y[k]
            );
        }
    }
}

#[test]
fn out_of_band_tones_are_attenuated_50_db() {
    // (from, to, tone above the output Nyquist)
    for (from, to, f) in [
        (48000, 8000, 6000.0),
        (44100, 8000, 5000.0),
        (16000, 8000, 4500.0),
        (48000, 16000, 10000.0),
        (22050, 8000, 7000.0),
    ] {
        let x = tone(from, f, 1.0, 0.9);
        let y = resample(&x, from, to).unwrap();
        let mid = &y[y.len() / 10..y.len() * 9 / 10];
        let level = 20.0 * (rms(mid) / rms(&x)).log10();
        eprintln!("{from}->{to}, {f} Hz: {level:.1} dB");
        assert!(
            level < -50.0,
            "{from}->{to}, {f} Hz: only {level:.1} dB down"
        );
    }
}

#[test]
fn streaming_in_20ms_frames_matches_batch() {
    for (from, to) in [(8000, 16000), (48000, 8000), (44100, 16000), (16000, 22050)] {
        let x: Vec<f32> = (0..from as usize * 3 / 2 + 37)
            .map(|i| (i as f32 * 0.37).sin() * 0.3 + (i as f32 * 0.011).cos() * 0.2)
            .collect();
        let batch = resample(&x, from, to).unwrap();
        let mut r = StreamResampler::new(from, to).unwrap();
        assert!(r.delay() > 0);
        let frame = from as usize / 50;
        let mut out = Vec::new();
        let mut max_pending_output_lag = 0usize;
        let mut fed = 0usize;
        for chunk in x.chunks(frame) {
            out.extend(r.push(chunk));
            fed += chunk.len();
            let expected_so_far = output_len(fed, from, to);
            max_pending_output_lag =
                max_pending_output_lag.max(expected_so_far.saturating_sub(out.len()));
        }
        out.extend(r.flush());
        assert_eq!(out.len(), batch.len(), "{from}->{to}");
        let max_diff = out
            .iter()
            .zip(&batch)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            max_diff < 1e-5,
            "{from}->{to}: streaming differs by {max_diff}"
        );
        // Latency is bounded by the reported delay plus one internal block.
        let bound = r.delay() + output_len(r.block_len(), from, to) + 1;
        assert!(
            max_pending_output_lag <= bound,
            "{from}->{to}: lag {max_pending_output_lag} > {bound}"
        );
        // After flush the resampler is reusable and gives the same answer.
        let mut again = r.push(&x);
        again.extend(r.flush());
        assert_eq!(again.len(), batch.len());
        assert!(again.iter().zip(&batch).all(|(a, b)| (a - b).abs() < 1e-5));
    }
}

#[test]
fn odd_chunk_sizes_and_edge_cases() {
    let x = tone(16000, 440.0, 0.5, 0.5);
    let batch = resample(&x, 16000, 8000).unwrap();
    let mut r = StreamResampler::new(16000, 8000).unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    let mut step = 1;
    while i < x.len() {
        let end = (i + step).min(x.len());
        r.push_into(&x[i..end], &mut out);
        i = end;
        step = step * 3 % 997 + 1;
    }
    out.extend(r.flush());
    assert_eq!(out.len(), batch.len());
    assert!(out.iter().zip(&batch).all(|(a, b)| (a - b).abs() < 1e-5));
    // Same rate: identity.
    assert_eq!(resample(&x, 16000, 16000).unwrap(), x);
    // Empty in, empty out; a single sample gives ceil(to/from) samples.
    assert!(resample(&[], 8000, 16000).unwrap().is_empty());
    assert_eq!(resample(&[0.5], 8000, 16000).unwrap().len(), 2);
    assert_eq!(resample(&[0.5], 48000, 8000).unwrap().len(), 1);
    // Invalid rates are errors, not panics.
    assert!(StreamResampler::new(0, 8000).is_err());
    assert!(StreamResampler::new(8000, 10_000_000).is_err());
    assert!(StreamResampler::new(44101, 48000).is_err());
}
