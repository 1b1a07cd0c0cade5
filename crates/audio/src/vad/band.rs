//! Band analysis: the ring of recent (high-passed) samples, one Hann-windowed FFT of the last
//! [`ANALYSIS_MS`] per 10 ms hop, the power in each of the [`BAND_EDGES_HZ`] bands, and the
//! 200–4000 Hz bin powers the tone and steadiness tests read.

use realfft::num_complex::Complex;

use crate::fft::RealFft;

use super::{ANALYSIS_MS, BAND_EDGES_HZ};

/// The spectrum of the last [`ANALYSIS_MS`] of audio, per hop.
pub(super) struct BandAnalyzer {
    /// Recent samples for the FFT (a ring; the oldest from `pos` on).
    ring: Vec<f32>,
    pos: usize,
    /// Samples written so far, up to the ring's length.
    seen: usize,
    fft: RealFft,
    fft_in: Vec<f32>,
    fft_out: Vec<Complex<f32>>,
    window: Vec<f32>,
    /// Σ window².
    wsum2: f64,
    /// FFT bin power → mean square of the signal.
    bin_scale: f64,
    /// Bin width, Hz, and half the sample rate.
    bin_hz: f64,
    nyquist: f64,
    /// Bin ranges [lo, hi) of the bands.
    bands: Vec<(usize, usize)>,
    /// FFT bins from 200 Hz up to 4000 Hz (or Nyquist), first and last, for the tone and
    /// steadiness tests.
    tone_bins: (usize, usize),
}

impl BandAnalyzer {
    /// An analyzer for audio at `fs` Hz.
    pub(super) fn new(fs: f64) -> Self {
        let nfft = ((fs * ANALYSIS_MS / 1000.0) as usize).next_power_of_two();
        let fft = RealFft::new(nfft);
        let window: Vec<f32> = (0..nfft)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / nfft as f64).cos()) as f32
            })
            .collect();
        let wsum2: f64 = window.iter().map(|&w| (w as f64) * (w as f64)).sum();
        // One-sided bin power → mean square of the windowed-and-normalised signal.
        let bin_scale = 2.0 / (nfft as f64 * wsum2);
        let bin = fs / nfft as f64;
        let tone_bins = (
            (200.0 / bin).ceil() as usize,
            ((4000.0f64.min(fs / 2.0) / bin) as usize).min(nfft / 2),
        );
        let bands: Vec<(usize, usize)> = BAND_EDGES_HZ
            .windows(2)
            .map(|e| {
                let lo = (e[0] / bin).round() as usize;
                let hi = ((e[1] / bin).round() as usize).max(lo + 1);
                (lo, hi)
            })
            .collect();
        BandAnalyzer {
            ring: vec![0.0; nfft],
            pos: 0,
            seen: 0,
            fft_in: vec![0.0; nfft],
            fft_out: vec![Complex::new(0.0, 0.0); fft.spectrum_len()],
            fft,
            window,
            wsum2,
            bin_scale,
            bin_hz: bin,
            nyquist: fs / 2.0,
            bands,
            tone_bins,
        }
    }

    /// Number of bands.
    pub(super) fn n_bands(&self) -> usize {
        self.bands.len()
    }

    /// Per band, the mean square that white noise at `dbm0` puts in it (white noise at level L
    /// has mean square ms(L) spread evenly over 0..fs/2).
    pub(super) fn white_noise(&self, dbm0: f64) -> Vec<f64> {
        let ms = 10f64.powf((dbm0 - crate::synth::FULL_SCALE_SINE_DBM0 as f64) / 10.0) / 2.0;
        self.bands
            .iter()
            .map(|&(lo, hi)| ms * (hi - lo) as f64 * self.bin_hz / self.nyquist)
            .collect()
    }

    /// The sample ring and its write position, for the caller's per-sample loop to write into
    /// (then [`Self::wrote`]).
    pub(super) fn ring_mut(&mut self) -> (&mut [f32], usize) {
        (&mut self.ring, self.pos)
    }

    /// `n` samples were written into the ring; the write position is now `pos`.
    pub(super) fn wrote(&mut self, n: usize, pos: usize) {
        self.pos = pos;
        self.seen = (self.seen + n).min(self.ring.len());
    }

    /// FFT of the last [`ANALYSIS_MS`] and band powers into `power` (one per band).
    pub(super) fn analyse(&mut self, power: &mut [f64]) {
        let n = self.ring.len();
        // The ring holds the oldest samples from `pos` on, then the newest before it.
        let (newest, oldest) = self.ring.split_at(self.pos);
        let (w1, w2) = self.window.split_at(n - self.pos);
        for ((d, &x), &w) in self.fft_in.iter_mut().zip(oldest).zip(w1) {
            *d = x * w;
        }
        for ((d, &x), &w) in self.fft_in[n - self.pos..].iter_mut().zip(newest).zip(w2) {
            *d = x * w;
        }
        self.fft.process(&self.fft_in, &mut self.fft_out);
        // Until the window is full, scale up for the part still empty (the stream start).
        let mut scale = self.bin_scale;
        if self.seen < n {
            let part: f64 = self.window[n - self.seen..]
                .iter()
                .map(|&w| (w as f64) * (w as f64))
                .sum();
            scale *= self.wsum2 / part.max(1e-9);
        }
        for (p, &(lo, hi)) in power.iter_mut().zip(&self.bands) {
            let s: f32 = self.fft_out[lo..hi]
                .iter()
                .map(|c| c.re * c.re + c.im * c.im)
                .sum();
            *p = s as f64 * scale;
        }
    }

    /// The bin powers over 200–4000 Hz of the last [`Self::analyse`] into `out` (unscaled).
    pub(super) fn tone_spectrum(&self, out: &mut Vec<f64>) {
        let (k0, k1) = self.tone_bins;
        out.clear();
        out.extend(
            self.fft_out[k0..=k1]
                .iter()
                .map(|c| (c.re as f64).powi(2) + (c.im as f64).powi(2)),
        );
    }
}
