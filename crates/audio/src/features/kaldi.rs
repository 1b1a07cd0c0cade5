//! Kaldi-compatible log-mel filterbank ("fbank"), matching `kaldi_native_fbank` with dither 0
//! and `snip_edges = true`: frames of `floor(sr * frame_length_ms / 1000)` samples every
//! `floor(sr * frame_shift_ms / 1000)` samples, only frames lying wholly inside the signal.
//! Per frame: scale to int16 range, remove DC, pre-emphasis, window, zero-pad to a power of two,
//! power spectrum, triangular mel banks (Kaldi mel scale, Nyquist bin excluded),
//! `ln(max(energy, f32::EPSILON))`. Output `[frames, num_mel_bins]` row-major.

use super::mel::{kaldi_mel_banks, SparseFilterbank};
use super::stft::PowerSpectrum;
use super::{FeatureMatrix, MAX_N_FFT};
use crate::AudioError;

/// Kaldi analysis windows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KaldiWindow {
    /// `(0.5 - 0.5 cos(2πi/(N-1)))^0.85` (Kaldi default).
    Povey,
    /// Symmetric Hann, `0.5 - 0.5 cos(2πi/(N-1))`.
    Hann,
    /// Symmetric Hamming, `0.54 - 0.46 cos(2πi/(N-1))`.
    Hamming,
    /// All ones.
    Rectangular,
}

/// Fbank options; `FbankOptions::new(sr)` gives kaldi_native_fbank defaults with 80 bins and
/// dither 0 (dithering is not supported: output is deterministic).
#[derive(Clone, Debug, PartialEq)]
pub struct FbankOptions {
    /// Sample rate in Hz.
    pub sample_rate: f32,
    /// Frame length in ms (default 25).
    pub frame_length_ms: f32,
    /// Frame shift in ms (default 10).
    pub frame_shift_ms: f32,
    /// Number of mel bins (80 here; Kaldi's own default is 23).
    pub num_mel_bins: usize,
    /// Lowest mel edge in Hz (default 20).
    pub low_freq: f32,
    /// Highest mel edge in Hz; `<= 0` means Nyquist plus this value (default 0 = Nyquist).
    pub high_freq: f32,
    /// Pre-emphasis coefficient (default 0.97).
    pub preemph_coeff: f32,
    /// Subtract each frame's mean before pre-emphasis (default true).
    pub remove_dc_offset: bool,
    /// Analysis window (default Povey).
    pub window: KaldiWindow,
    /// Zero-pad each frame to the next power of two before the FFT (default true).
    pub round_to_power_of_two: bool,
    /// Output log energies (default true); otherwise linear energies.
    pub use_log_fbank: bool,
    /// Use the power spectrum (default true); otherwise the magnitude.
    pub use_power: bool,
    /// Factor applied to input samples before analysis. Default 32768: input in [-1, 1] is
    /// scaled to the int16 range Kaldi models were trained on.
    pub input_scale: f32,
}

impl FbankOptions {
    /// kaldi_native_fbank defaults, 80 mel bins, dither 0, input scaled by 32768.
    pub fn new(sample_rate: f32) -> Self {
        FbankOptions {
            sample_rate,
            frame_length_ms: 25.0,
            frame_shift_ms: 10.0,
            num_mel_bins: 80,
            low_freq: 20.0,
            high_freq: 0.0,
            preemph_coeff: 0.97,
            remove_dc_offset: true,
            window: KaldiWindow::Povey,
            round_to_power_of_two: true,
            use_log_fbank: true,
            use_power: true,
            input_scale: 32768.0,
        }
    }

    /// Samples per frame, `floor(sr * 0.001 * frame_length_ms)`.
    pub fn window_size(&self) -> usize {
        (self.sample_rate as f64 * 0.001 * self.frame_length_ms as f64) as usize
    }

    /// Samples between frame starts, `floor(sr * 0.001 * frame_shift_ms)`.
    pub fn window_shift(&self) -> usize {
        (self.sample_rate as f64 * 0.001 * self.frame_shift_ms as f64) as usize
    }

    /// FFT size: the window size, rounded up to a power of two if requested.
    pub fn padded_window_size(&self) -> usize {
        let w = self.window_size();
        if self.round_to_power_of_two {
            w.next_power_of_two()
        } else {
            w
        }
    }

    /// Upper mel edge in Hz after resolving `high_freq <= 0`.
    pub fn high_freq_hz(&self) -> f32 {
        let nyquist = 0.5 * self.sample_rate;
        if self.high_freq > 0.0 {
            self.high_freq
        } else {
            nyquist + self.high_freq
        }
    }

    /// Number of frames for `n` samples (snip_edges: only whole frames).
    pub fn num_frames(&self, n: usize) -> usize {
        let (w, s) = (self.window_size(), self.window_shift());
        if n < w || s == 0 {
            0
        } else {
            1 + (n - w) / s
        }
    }

    /// Check every field; the error names the offending one.
    pub fn validate(&self) -> Result<(), AudioError> {
        let bad = |name: &'static str, why: String| Err(AudioError::InvalidParam { name, why });
        if !(self.sample_rate > 0.0 && self.sample_rate.is_finite()) {
            return bad(
                "sample_rate",
                format!("{} must be finite and > 0", self.sample_rate),
            );
        }
        let w = self.window_size();
        if w < 2 {
            return bad(
                "frame_length_ms",
                format!("gives {w} samples per frame; need >= 2"),
            );
        }
        if self.padded_window_size() > MAX_N_FFT {
            return bad("frame_length_ms", format!("FFT size above {MAX_N_FFT}"));
        }
        if self.window_shift() == 0 {
            return bad("frame_shift_ms", "gives 0 samples between frames".into());
        }
        if self.num_mel_bins < 3 {
            return bad(
                "num_mel_bins",
                format!("{} must be >= 3", self.num_mel_bins),
            );
        }
        let nyquist = 0.5 * self.sample_rate;
        let high = self.high_freq_hz();
        if !(self.low_freq >= 0.0 && self.low_freq < nyquist) {
            return bad(
                "low_freq",
                format!("{} not in [0, {nyquist})", self.low_freq),
            );
        }
        if !(high > self.low_freq && high <= nyquist) {
            return bad(
                "high_freq",
                format!("resolves to {high}, not in ({}, {nyquist}]", self.low_freq),
            );
        }
        if !(0.0..=1.0).contains(&self.preemph_coeff) {
            return bad(
                "preemph_coeff",
                format!("{} not in [0, 1]", self.preemph_coeff),
            );
        }
        if !(self.input_scale.is_finite() && self.input_scale > 0.0) {
            return bad(
                "input_scale",
                format!("{} must be finite and > 0", self.input_scale),
            );
        }
        Ok(())
    }
}

fn kaldi_window(kind: KaldiWindow, n: usize) -> Vec<f32> {
    let a = 2.0 * std::f64::consts::PI / (n as f64 - 1.0);
    (0..n)
        .map(|i| {
            let c = (a * i as f64).cos();
            let w = match kind {
                KaldiWindow::Povey => (0.5 - 0.5 * c).powf(0.85),
                KaldiWindow::Hann => 0.5 - 0.5 * c,
                KaldiWindow::Hamming => 0.54 - 0.46 * c,
                KaldiWindow::Rectangular => 1.0,
            };
            w as f32
        })
        .collect()
}

/// Per-frame fbank engine (buffers, FFT plan and mel banks allocated once).
#[derive(Debug)]
struct FbankFrame {
    opts: FbankOptions,
    window: Vec<f32>,
    frame: Vec<f32>,
    fft: PowerSpectrum,
    power: Vec<f32>,
    banks: SparseFilterbank,
}

impl FbankFrame {
    fn new(opts: FbankOptions) -> Result<Self, AudioError> {
        opts.validate()?;
        let w = opts.window_size();
        let padded = opts.padded_window_size();
        let fft = PowerSpectrum::new(&vec![1.0; padded]);
        let banks = kaldi_mel_banks(
            opts.sample_rate,
            padded,
            opts.num_mel_bins,
            opts.low_freq,
            opts.high_freq_hz(),
        );
        Ok(FbankFrame {
            window: kaldi_window(opts.window, w),
            frame: vec![0.0; w],
            power: vec![0.0; fft.n_bins()],
            fft,
            banks,
            opts,
        })
    }

    /// `samples` holds exactly one frame (`window_size` samples); writes `num_mel_bins` values.
    fn compute(&mut self, samples: &[f32], out: &mut [f32]) {
        let scale = self.opts.input_scale;
        for (d, &s) in self.frame.iter_mut().zip(samples) {
            *d = s * scale;
        }
        if self.opts.remove_dc_offset {
            let mean = self.frame.iter().sum::<f32>() / self.frame.len() as f32;
            for v in self.frame.iter_mut() {
                *v -= mean;
            }
        }
        let p = self.opts.preemph_coeff;
        if p != 0.0 {
            for i in (1..self.frame.len()).rev() {
                self.frame[i] -= p * self.frame[i - 1];
            }
            self.frame[0] -= p * self.frame[0];
        }
        let input = self.fft.input_mut();
        let n = self.frame.len();
        for ((d, &x), &w) in input[..n].iter_mut().zip(&self.frame).zip(&self.window) {
            *d = x * w;
        }
        input[n..].fill(0.0);
        let power = if self.opts.use_power { 2.0 } else { 1.0 };
        self.fft.transform_prepared(power, &mut self.power);
        self.banks.apply(&self.power, out);
        if self.opts.use_log_fbank {
            for v in out.iter_mut() {
                *v = v.max(f32::EPSILON).ln();
            }
        }
    }
}

/// Batch Kaldi fbank of `samples` (in [-1, 1], scaled by `opts.input_scale`):
/// `[frames, num_mel_bins]`.
pub fn fbank(samples: &[f32], opts: &FbankOptions) -> Result<FeatureMatrix, AudioError> {
    let mut eng = FbankFrame::new(opts.clone())?;
    let (w, s, dim) = (opts.window_size(), opts.window_shift(), opts.num_mel_bins);
    let frames = opts.num_frames(samples.len());
    let mut values = vec![0.0; frames * dim];
    for (t, out) in values.chunks_exact_mut(dim).enumerate() {
        eng.compute(&samples[t * s..t * s + w], out);
    }
    Ok(FeatureMatrix {
        rows: frames,
        cols: dim,
        values,
    })
}

/// Streaming Kaldi fbank: push chunks of any size, get every frame as soon as its last sample
/// has arrived. Output is identical to [`fbank`] on the concatenated input.
#[derive(Debug)]
pub struct OnlineFbank {
    eng: FbankFrame,
    buf: Vec<f32>,
    next: usize,
    frames_out: usize,
}

impl OnlineFbank {
    /// Build for `opts` (validated).
    pub fn new(opts: FbankOptions) -> Result<Self, AudioError> {
        let eng = FbankFrame::new(opts)?;
        let cap = 4 * eng.opts.window_size();
        Ok(OnlineFbank {
            eng,
            buf: Vec::with_capacity(cap),
            next: 0,
            frames_out: 0,
        })
    }

    /// Values per frame (`num_mel_bins`).
    pub fn dim(&self) -> usize {
        self.eng.opts.num_mel_bins
    }

    /// Frames emitted since creation or the last reset.
    pub fn frames_emitted(&self) -> usize {
        self.frames_out
    }

    /// Append samples; every newly complete frame (`dim` values) is appended to `out`.
    /// Returns the number of frames appended.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> usize {
        let (w, s, dim) = (
            self.eng.opts.window_size(),
            self.eng.opts.window_shift(),
            self.dim(),
        );
        self.buf.extend_from_slice(samples);
        let mut n = 0;
        while self.next + w <= self.buf.len() {
            let at = out.len();
            out.resize(at + dim, 0.0);
            self.eng
                .compute(&self.buf[self.next..self.next + w], &mut out[at..]);
            self.next += s;
            n += 1;
        }
        let drop = self.next.min(self.buf.len());
        self.buf.drain(..drop);
        self.next -= drop;
        self.frames_out += n;
        n
    }

    /// Start a new stream with the same options.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.next = 0;
        self.frames_out = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(n: usize, sr: f32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let t = i as f32 / sr;
                0.3 * (2.0 * std::f32::consts::PI * 440.0 * t).sin()
                    + 0.05 * (2.0 * std::f32::consts::PI * 3000.0 * t).sin()
                    + 0.01
            })
            .collect()
    }

    #[test]
    fn frame_geometry_matches_kaldi() {
        let o8 = FbankOptions::new(8000.0);
        assert_eq!(
            (o8.window_size(), o8.window_shift(), o8.padded_window_size()),
            (200, 80, 256)
        );
        let o22 = FbankOptions::new(22050.0);
        assert_eq!(
            (
                o22.window_size(),
                o22.window_shift(),
                o22.padded_window_size()
            ),
            (551, 220, 1024)
        );
        assert_eq!(o8.num_frames(16000), 198);
        assert_eq!(o8.num_frames(199), 0);
        assert_eq!(o8.num_frames(200), 1);
    }

    #[test]
    fn povey_window_is_hann_to_the_085() {
        let w = kaldi_window(KaldiWindow::Povey, 200);
        let h = kaldi_window(KaldiWindow::Hann, 200);
        assert_eq!(w[0], 0.0);
        for (a, b) in w.iter().zip(&h) {
            assert!((a - b.powf(0.85)).abs() < 1e-6);
        }
        // Symmetric.
        for i in 0..200 {
            assert!((w[i] - w[199 - i]).abs() < 1e-6);
        }
    }

    #[test]
    fn online_equals_batch_for_random_chunks() {
        for sr in [8000.0f32, 16000.0] {
            let y = signal(sr as usize * 3 / 2 + 17, sr);
            let opts = FbankOptions::new(sr);
            let batch = fbank(&y, &opts).unwrap();
            let mut seed = 99u32;
            let mut online = OnlineFbank::new(opts).unwrap();
            let mut out = Vec::new();
            let mut i = 0;
            while i < y.len() {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let c = (1 + (seed >> 8) as usize % 1000).min(y.len() - i);
                online.push(&y[i..i + c], &mut out);
                i += c;
            }
            assert_eq!(online.frames_emitted(), batch.rows);
            assert_eq!(out, batch.values);
        }
    }

    #[test]
    fn tone_raises_the_band_around_it() {
        let sr = 16000.0;
        let y: Vec<f32> = (0..8000)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / sr).sin())
            .collect();
        let f = fbank(&y, &FbankOptions::new(sr)).unwrap();
        let row = f.row(10);
        let peak = (0..80).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap();
        // Centre of bin b on Kaldi's mel scale.
        let (lo, hi) = (
            super::super::mel::kaldi_mel(20.0),
            super::super::mel::kaldi_mel(8000.0),
        );
        let centre_mel = lo + (peak as f32 + 1.0) * (hi - lo) / 81.0;
        let centre_hz = 700.0 * ((centre_mel / 1127.0).exp() - 1.0);
        assert!(
            (centre_hz - 1000.0).abs() < 60.0,
            "peak bin {peak} centred at {centre_hz} Hz"
        );
        // Silence hits the epsilon floor exactly.
        let z = fbank(&[0.0; 400], &FbankOptions::new(sr)).unwrap();
        assert!(z.values.iter().all(|&v| v == f32::EPSILON.ln()));
    }

    #[test]
    fn bad_options_are_named() {
        let mut o = FbankOptions::new(8000.0);
        o.high_freq = 5000.0;
        assert!(matches!(
            OnlineFbank::new(o),
            Err(AudioError::InvalidParam {
                name: "high_freq",
                ..
            })
        ));
        let mut o = FbankOptions::new(8000.0);
        o.frame_shift_ms = 0.01;
        assert!(matches!(
            fbank(&[0.0; 10], &o),
            Err(AudioError::InvalidParam {
                name: "frame_shift_ms",
                ..
            })
        ));
    }
}
