//! Mel scales and triangular mel filterbanks stored sparsely (first non-zero bin + weights).

/// Which Hz ↔ mel mapping to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MelScale {
    /// Slaney's Auditory Toolbox scale: linear below 1 kHz, logarithmic above (librosa default).
    Slaney,
    /// HTK formula `2595 * log10(1 + f / 700)`.
    Htk,
}

/// How each triangular filter is normalised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MelNorm {
    /// No normalisation: triangles peak at 1.0.
    None,
    /// Divide each triangle by its bandwidth in Hz (`2 / (f_right - f_left)`), librosa default.
    Slaney,
}

// Slaney scale constants: 200/3 Hz per mel below 1 kHz, log steps of ln(6.4)/27 above.
const SLANEY_HZ_PER_MEL: f64 = 200.0 / 3.0;
const SLANEY_BREAK_HZ: f64 = 1000.0;
const SLANEY_BREAK_MEL: f64 = SLANEY_BREAK_HZ / SLANEY_HZ_PER_MEL;

fn slaney_log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Convert a frequency in Hz to mels on the given scale.
pub fn hz_to_mel(hz: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * (1.0 + hz / 700.0).log10(),
        MelScale::Slaney => {
            if hz >= SLANEY_BREAK_HZ {
                SLANEY_BREAK_MEL + (hz / SLANEY_BREAK_HZ).ln() / slaney_log_step()
            } else {
                hz / SLANEY_HZ_PER_MEL
            }
        }
    }
}

/// Convert mels on the given scale back to Hz.
pub fn mel_to_hz(mel: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (10f64.powf(mel / 2595.0) - 1.0),
        MelScale::Slaney => {
            if mel >= SLANEY_BREAK_MEL {
                SLANEY_BREAK_HZ * (slaney_log_step() * (mel - SLANEY_BREAK_MEL)).exp()
            } else {
                mel * SLANEY_HZ_PER_MEL
            }
        }
    }
}

/// A bank of filters over spectrum bins, each stored as (first bin, weights): the zeros
/// outside a triangle are never visited.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseFilterbank {
    n_bins: usize,
    starts: Vec<usize>,
    offsets: Vec<usize>,
    weights: Vec<f32>,
}

impl SparseFilterbank {
    /// Build from a dense row-major `[n_filters, n_bins]` matrix, keeping each row's span from
    /// its first to its last non-zero weight.
    pub fn from_dense(dense: &[f32], n_filters: usize, n_bins: usize) -> Self {
        assert_eq!(
            dense.len(),
            n_filters * n_bins,
            "dense filterbank shape mismatch"
        );
        let mut starts = Vec::with_capacity(n_filters);
        let mut offsets = Vec::with_capacity(n_filters + 1);
        let mut weights = Vec::new();
        offsets.push(0);
        for row in dense.chunks_exact(n_bins.max(1)).take(n_filters) {
            let first = row.iter().position(|&w| w != 0.0);
            match first {
                Some(first) => {
                    let last = row.iter().rposition(|&w| w != 0.0).unwrap_or(first);
                    starts.push(first);
                    weights.extend_from_slice(&row[first..=last]);
                }
                None => starts.push(0),
            }
            offsets.push(weights.len());
        }
        // n_bins == 0 leaves no rows from chunks_exact; keep the filter count consistent.
        while starts.len() < n_filters {
            starts.push(0);
            offsets.push(weights.len());
        }
        SparseFilterbank {
            n_bins,
            starts,
            offsets,
            weights,
        }
    }

    /// Number of filters (output bands).
    pub fn n_filters(&self) -> usize {
        self.starts.len()
    }

    /// Number of spectrum bins each filter spans (input length).
    pub fn n_bins(&self) -> usize {
        self.n_bins
    }

    /// The non-zero span of filter `i`: first bin and its weights.
    pub fn filter(&self, i: usize) -> (usize, &[f32]) {
        (
            self.starts[i],
            &self.weights[self.offsets[i]..self.offsets[i + 1]],
        )
    }

    /// Total number of stored (non-zero span) weights.
    pub fn nnz(&self) -> usize {
        self.weights.len()
    }

    /// Expand back to a dense row-major `[n_filters, n_bins]` matrix.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.n_filters() * self.n_bins];
        for i in 0..self.n_filters() {
            let (start, w) = self.filter(i);
            out[i * self.n_bins + start..i * self.n_bins + start + w.len()].copy_from_slice(w);
        }
        out
    }

    /// `out[i] = sum_k weights_i[k] * spectrum[start_i + k]`. `spectrum` must hold at least
    /// `n_bins` values and `out` exactly `n_filters`.
    #[inline]
    pub fn apply(&self, spectrum: &[f32], out: &mut [f32]) {
        debug_assert!(spectrum.len() >= self.n_bins);
        debug_assert_eq!(out.len(), self.n_filters());
        for (i, o) in out.iter_mut().enumerate() {
            let start = self.starts[i];
            let w = &self.weights[self.offsets[i]..self.offsets[i + 1]];
            let s = &spectrum[start..start + w.len()];
            // Four partial sums let the compiler vectorise without reassociating floats.
            let mut acc = [0.0f32; 4];
            let mut wc = w.chunks_exact(4);
            let mut sc = s.chunks_exact(4);
            for (a, b) in (&mut wc).zip(&mut sc) {
                acc[0] += a[0] * b[0];
                acc[1] += a[1] * b[1];
                acc[2] += a[2] * b[2];
                acc[3] += a[3] * b[3];
            }
            let mut tail = 0.0f32;
            for (a, b) in wc.remainder().iter().zip(sc.remainder()) {
                tail += a * b;
            }
            *o = (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail;
        }
    }
}

/// librosa-compatible mel filterbank (`librosa.filters.mel`) as a dense row-major
/// `[n_mels, n_fft / 2 + 1]` matrix. Weights are computed in f64 and stored as f32, like librosa.
/// `fmax` is in Hz (librosa's default is `sr / 2`).
pub fn librosa_mel_dense(
    sample_rate: f64,
    n_fft: usize,
    n_mels: usize,
    fmin: f64,
    fmax: f64,
    scale: MelScale,
    norm: MelNorm,
) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    // Band edges: n_mels + 2 points evenly spaced in mel between fmin and fmax.
    let mel_lo = hz_to_mel(fmin, scale);
    let mel_hi = hz_to_mel(fmax, scale);
    let n_pts = n_mels + 2;
    let edges: Vec<f64> = (0..n_pts)
        .map(|i| {
            let t = if n_pts > 1 {
                i as f64 / (n_pts - 1) as f64
            } else {
                0.0
            };
            mel_to_hz(mel_lo + (mel_hi - mel_lo) * t, scale)
        })
        .collect();
    // Bin centre frequencies: k * sr / n_fft.
    let bin_hz: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * sample_rate / n_fft as f64)
        .collect();
    let mut out = vec![0.0f32; n_mels * n_bins];
    for m in 0..n_mels {
        let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
        let rise = centre - left;
        let fall = right - centre;
        let scale_factor = match norm {
            MelNorm::None => 1.0,
            MelNorm::Slaney => 2.0 / (right - left),
        };
        for (k, &f) in bin_hz.iter().enumerate() {
            let up = (f - left) / rise;
            let down = (right - f) / fall;
            let w = up.min(down).max(0.0);
            out[m * n_bins + k] = (w * scale_factor) as f32;
        }
    }
    out
}

/// The librosa-compatible mel filterbank in sparse form.
pub fn librosa_mel(
    sample_rate: f64,
    n_fft: usize,
    n_mels: usize,
    fmin: f64,
    fmax: f64,
    scale: MelScale,
    norm: MelNorm,
) -> SparseFilterbank {
    let dense = librosa_mel_dense(sample_rate, n_fft, n_mels, fmin, fmax, scale, norm);
    SparseFilterbank::from_dense(&dense, n_mels, n_fft / 2 + 1)
}

/// Kaldi's mel scale, `1127 * ln(1 + f / 700)`, in f32 like Kaldi.
pub fn kaldi_mel(hz: f32) -> f32 {
    1127.0f32 * (1.0f32 + hz / 700.0f32).ln()
}

/// Kaldi-compatible mel banks over the first `padded_len / 2` FFT bins (the Nyquist bin is
/// excluded, as in Kaldi). Triangles are unnormalised (peak 1) and equally spaced on Kaldi's
/// mel scale between `low_hz` and `high_hz`.
pub fn kaldi_mel_banks(
    sample_rate: f32,
    padded_len: usize,
    num_bins: usize,
    low_hz: f32,
    high_hz: f32,
) -> SparseFilterbank {
    let num_fft_bins = padded_len / 2;
    let bin_width = sample_rate / padded_len as f32;
    let mel_lo = kaldi_mel(low_hz);
    let mel_hi = kaldi_mel(high_hz);
    let delta = (mel_hi - mel_lo) / (num_bins as f32 + 1.0);
    let mut dense = vec![0.0f32; num_bins * num_fft_bins];
    for b in 0..num_bins {
        let left = mel_lo + b as f32 * delta;
        let centre = mel_lo + (b as f32 + 1.0) * delta;
        let right = mel_lo + (b as f32 + 2.0) * delta;
        for k in 0..num_fft_bins {
            let mel = kaldi_mel(bin_width * k as f32);
            if mel > left && mel < right {
                dense[b * num_fft_bins + k] = if mel <= centre {
                    (mel - left) / (centre - left)
                } else {
                    (right - mel) / (right - centre)
                };
            }
        }
    }
    SparseFilterbank::from_dense(&dense, num_bins, num_fft_bins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slaney_scale_round_trips_and_is_linear_below_1k() {
        for &hz in &[0.0, 100.0, 666.0, 999.0, 1000.0, 1500.0, 4000.0, 11025.0] {
            for scale in [MelScale::Slaney, MelScale::Htk] {
                let back = mel_to_hz(hz_to_mel(hz, scale), scale);
                assert!(
                    (back - hz).abs() < 1e-6 * hz.max(1.0),
                    "{scale:?} {hz} -> {back}"
                );
            }
        }
        assert!((hz_to_mel(500.0, MelScale::Slaney) - 7.5).abs() < 1e-12);
        assert!((hz_to_mel(1000.0, MelScale::Slaney) - 15.0).abs() < 1e-12);
        // 6.4 kHz is exactly 27 log steps above 1 kHz.
        assert!((hz_to_mel(6400.0, MelScale::Slaney) - 42.0).abs() < 1e-9);
        assert!((hz_to_mel(700.0, MelScale::Htk) - 2595.0 * 2f64.log10()).abs() < 1e-9);
    }

    #[test]
    fn slaney_filters_have_unit_area_in_hz() {
        // With Slaney normalisation each triangle has area 1 in Hz (peak 2/width, base width).
        // Check on a fine grid so the sampled sum approximates the integral.
        let sr = 16000.0;
        let n_fft = 8192;
        let fb = librosa_mel(
            sr,
            n_fft,
            40,
            0.0,
            8000.0,
            MelScale::Slaney,
            MelNorm::Slaney,
        );
        let hz_per_bin = sr / n_fft as f64;
        for i in 0..fb.n_filters() {
            let (_, w) = fb.filter(i);
            let area: f64 = w.iter().map(|&x| x as f64).sum::<f64>() * hz_per_bin;
            assert!((area - 1.0).abs() < 0.02, "filter {i} area {area}");
        }
    }

    #[test]
    fn unnormalised_filters_are_triangles_peaking_at_one() {
        let fb = librosa_mel(8000.0, 4096, 20, 0.0, 4000.0, MelScale::Htk, MelNorm::None);
        let mut prev_peak = 0usize;
        for i in 0..fb.n_filters() {
            let (start, w) = fb.filter(i);
            let (argmax, &peak) = w
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .expect("non-empty");
            assert!(peak <= 1.0 && peak > 0.95, "filter {i} peak {peak}");
            // Rising then falling.
            assert!(w[..=argmax].windows(2).all(|p| p[0] <= p[1]));
            assert!(w[argmax..].windows(2).all(|p| p[0] >= p[1]));
            assert!(w.iter().all(|&x| x >= 0.0));
            // Peaks move up in frequency.
            assert!(start + argmax > prev_peak || i == 0);
            prev_peak = start + argmax;
        }
    }

    #[test]
    fn sparse_apply_matches_dense_product() {
        let dense = librosa_mel_dense(
            22050.0,
            1024,
            64,
            30.0,
            9000.0,
            MelScale::Slaney,
            MelNorm::Slaney,
        );
        let fb = SparseFilterbank::from_dense(&dense, 64, 513);
        assert_eq!(fb.to_dense(), dense);
        assert!(
            fb.nnz() < dense.len() / 10,
            "sparse storage should skip most zeros"
        );
        let spec: Vec<f32> = (0..513)
            .map(|k| ((k * 37 % 101) as f32) * 0.01 + 0.5)
            .collect();
        let mut out = vec![0.0; 64];
        fb.apply(&spec, &mut out);
        for m in 0..64 {
            let want: f64 = (0..513)
                .map(|k| dense[m * 513 + k] as f64 * spec[k] as f64)
                .sum();
            assert!(
                (out[m] as f64 - want).abs() <= 1e-5 * want.abs().max(1e-6),
                "band {m}"
            );
        }
    }

    #[test]
    fn kaldi_banks_skip_nyquist_and_cover_range() {
        let fb = kaldi_mel_banks(16000.0, 512, 80, 20.0, 8000.0);
        assert_eq!(fb.n_bins(), 256);
        assert_eq!(fb.n_filters(), 80);
        let (start0, _) = fb.filter(0);
        // 20 Hz is below bin 1 (31.25 Hz); the first triangle starts strictly above 20 Hz.
        assert!(start0 >= 1);
        for i in 0..80 {
            let (_, w) = fb.filter(i);
            assert!(w.iter().all(|&x| (0.0..=1.0).contains(&x)));
        }
    }
}
