//! Windows and a reusable frame → power-spectrum transform built on `realfft`.

use std::f64::consts::PI;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

/// Periodic Hann window of length `n` (`scipy.signal.get_window('hann', n, fftbins=True)`):
/// `0.5 - 0.5 cos(2πi/n)`.
pub fn hann_periodic(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * PI * i as f64 / n as f64).cos())
        .collect()
}

/// Zero-pad `window` on both sides to length `n` with the window centred
/// (left pad `(n - len) / 2`), as librosa does when `win_length < n_fft`.
/// Panics if `window.len() > n` (callers validate parameters first).
pub fn pad_center(window: &[f64], n: usize) -> Vec<f64> {
    assert!(window.len() <= n, "window longer than FFT");
    let left = (n - window.len()) / 2;
    let mut out = vec![0.0; n];
    out[left..left + window.len()].copy_from_slice(window);
    out
}

/// Number of frames librosa's STFT yields for `n_samples` input samples.
/// With `center`, the signal is padded by `n_fft / 2` zeros on each side first.
pub fn librosa_frame_count(n_samples: usize, n_fft: usize, hop: usize, center: bool) -> usize {
    let len = if center {
        n_samples + 2 * (n_fft / 2)
    } else {
        n_samples
    };
    if len < n_fft || hop == 0 {
        0
    } else {
        1 + (len - n_fft) / hop
    }
}

/// Windowed real FFT of one frame into a power (or magnitude) spectrum of `n_fft / 2 + 1` bins.
/// The FFT plan and all buffers are allocated once; `compute` does not allocate.
pub struct PowerSpectrum {
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    input: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
}

impl std::fmt::Debug for PowerSpectrum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerSpectrum")
            .field("n_fft", &self.window.len())
            .finish()
    }
}

impl PowerSpectrum {
    /// A transform of size `window.len()` (the FFT size) applying `window` to each frame.
    pub fn new(window: &[f32]) -> Self {
        let n = window.len();
        let mut planner = RealFftPlanner::<f32>::new();
        let fft = planner.plan_fft_forward(n);
        let input = fft.make_input_vec();
        let spectrum = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        PowerSpectrum {
            window: window.to_vec(),
            fft,
            input,
            spectrum,
            scratch,
        }
    }

    /// FFT size.
    pub fn n_fft(&self) -> usize {
        self.window.len()
    }

    /// Number of output bins, `n_fft / 2 + 1`.
    pub fn n_bins(&self) -> usize {
        self.spectrum.len()
    }

    /// Window `frame` (length `n_fft`), transform, and write `|X_k|^power` for every bin into
    /// `out` (length `n_bins`). `power` 2.0 and 1.0 take fast paths.
    pub fn compute(&mut self, frame: &[f32], power: f32, out: &mut [f32]) {
        debug_assert_eq!(frame.len(), self.window.len());
        for ((d, &x), &w) in self.input.iter_mut().zip(frame).zip(&self.window) {
            *d = x * w;
        }
        self.transform_prepared(power, out);
    }

    /// Like [`compute`](Self::compute) but the caller has already filled (and windowed or not)
    /// the input buffer via [`input_mut`](Self::input_mut); no window is applied here.
    pub fn transform_prepared(&mut self, power: f32, out: &mut [f32]) {
        // The buffers have the sizes the plan asked for, so this cannot fail.
        self.fft
            .process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch)
            .expect("realfft buffer sizes come from the plan");
        if power == 2.0 {
            for (o, c) in out.iter_mut().zip(&self.spectrum) {
                *o = c.re * c.re + c.im * c.im;
            }
        } else if power == 1.0 {
            for (o, c) in out.iter_mut().zip(&self.spectrum) {
                *o = (c.re * c.re + c.im * c.im).sqrt();
            }
        } else {
            for (o, c) in out.iter_mut().zip(&self.spectrum) {
                *o = (c.re * c.re + c.im * c.im).sqrt().powf(power);
            }
        }
    }

    /// The FFT input buffer (length `n_fft`), for callers that do their own framing/windowing.
    pub fn input_mut(&mut self) -> &mut [f32] {
        &mut self.input
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_hann_shape() {
        let w = hann_periodic(8);
        assert_eq!(w[0], 0.0);
        assert!((w[4] - 1.0).abs() < 1e-15);
        // Periodic: symmetric around n/2, w[i] == w[n - i].
        for i in 1..8 {
            assert!((w[i] - w[8 - i]).abs() < 1e-15);
        }
        let p = pad_center(&hann_periodic(5), 9);
        assert_eq!(p.len(), 9);
        assert_eq!(&p[..2], &[0.0, 0.0]);
        assert_eq!(&p[7..], &[0.0, 0.0]);
    }

    #[test]
    fn frame_counts_match_librosa_rules() {
        assert_eq!(librosa_frame_count(16000, 2048, 512, true), 32);
        assert_eq!(librosa_frame_count(32000, 2048, 512, true), 63);
        assert_eq!(librosa_frame_count(44100, 1024, 220, true), 201);
        assert_eq!(librosa_frame_count(100, 2048, 512, false), 0);
        assert_eq!(librosa_frame_count(0, 256, 80, true), 1);
    }

    #[test]
    fn tone_peaks_in_expected_bin() {
        // A 1 kHz tone at 16 kHz with n_fft 512 lands exactly on bin 32.
        let sr = 16000.0f32;
        let n = 512;
        let w: Vec<f32> = hann_periodic(n).iter().map(|&x| x as f32).collect();
        let mut ps = PowerSpectrum::new(&w);
        let frame: Vec<f32> = (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / sr).sin())
            .collect();
        let mut out = vec![0.0; ps.n_bins()];
        ps.compute(&frame, 2.0, &mut out);
        let peak = out
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|p| p.0);
        assert_eq!(peak, Some(32));
        // Hann main lobe: neighbours hold half the amplitude (a quarter of the power).
        assert!((out[31] / out[32] - 0.25).abs() < 1e-3);
        // Far bins are tiny.
        assert!(out[100] < out[32] * 1e-8);
        // Parseval on a rectangular window with magnitude output: DC of constant ones is n.
        let mut rect = PowerSpectrum::new(&vec![1.0; 64]);
        let mut mag = vec![0.0; rect.n_bins()];
        rect.compute(&[1.0; 64], 1.0, &mut mag);
        assert!((mag[0] - 64.0).abs() < 1e-4);
        assert!(mag[1..].iter().all(|&m| m < 1e-4));
    }
}
