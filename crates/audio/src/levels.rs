//! Signal levels in dBFS (0 dBFS = full-scale sample magnitude 1.0).
//!
//! RMS uses the sample convention: a full-scale square wave reads 0 dBFS RMS and a full-scale
//! sine reads about -3.01 dBFS. Digital silence (or no samples) reads `f64::NEG_INFINITY`.

/// Convert a linear amplitude to dBFS; zero gives `NEG_INFINITY`.
pub fn to_dbfs(amplitude: f64) -> f64 {
    if amplitude > 0.0 {
        20.0 * amplitude.log10()
    } else {
        f64::NEG_INFINITY
    }
}

/// Largest absolute sample value, linear.
pub fn peak(samples: &[f32]) -> f64 {
    samples.iter().fold(0.0f64, |m, &s| m.max((s as f64).abs()))
}

/// Root-mean-square value, linear (0 for no samples).
pub fn rms(samples: &[f32]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples.iter().map(|&s| (s as f64) * (s as f64)).sum();
    (sum / samples.len() as f64).sqrt()
}

/// Peak level in dBFS.
pub fn peak_dbfs(samples: &[f32]) -> f64 {
    to_dbfs(peak(samples))
}

/// RMS level in dBFS.
pub fn rms_dbfs(samples: &[f32]) -> f64 {
    to_dbfs(rms(samples))
}

/// Peak and RMS level of a signal.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Levels {
    /// Peak level in dBFS (`-inf` for silence).
    pub peak_dbfs: f64,
    /// RMS level in dBFS (`-inf` for silence).
    pub rms_dbfs: f64,
}

/// Levels over all channels of `audio` together (peak of any channel, RMS of all samples).
pub fn levels(audio: &crate::Audio) -> Levels {
    let mut pk = 0.0f64;
    let mut sum = 0.0f64;
    let mut n = 0usize;
    for ch in &audio.channels {
        pk = pk.max(peak(ch));
        sum += ch.iter().map(|&s| (s as f64) * (s as f64)).sum::<f64>();
        n += ch.len();
    }
    let r = if n == 0 { 0.0 } else { (sum / n as f64).sqrt() };
    Levels {
        peak_dbfs: to_dbfs(pk),
        rms_dbfs: to_dbfs(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_and_square_levels() {
        let n = 48000;
        let sine: Vec<f32> = (0..n)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 48000.0).sin())
            .collect();
        assert!((peak_dbfs(&sine) - (-6.0206)).abs() < 0.01);
        assert!((rms_dbfs(&sine) - (-6.0206 - 3.0103)).abs() < 0.01);
        let square: Vec<f32> = (0..n)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        assert!(peak_dbfs(&square).abs() < 1e-9);
        assert!(rms_dbfs(&square).abs() < 1e-9);
        assert_eq!(rms_dbfs(&[0.0; 10]), f64::NEG_INFINITY);
        assert_eq!(peak_dbfs(&[]), f64::NEG_INFINITY);
        let a = crate::Audio {
            sample_rate: 8000,
            channels: vec![vec![0.5; 4], vec![0.0; 4]],
        };
        let l = levels(&a);
        assert!((l.peak_dbfs - to_dbfs(0.5)).abs() < 1e-12);
        assert!((l.rms_dbfs - to_dbfs((0.125f64).sqrt())).abs() < 1e-12);
    }
}
