//! librosa-compatible mel spectrogram, power-to-dB and MFCC (batch).

use super::mel::{librosa_mel, MelNorm, MelScale, SparseFilterbank};
use super::stft::{hann_periodic, librosa_frame_count, pad_center, PowerSpectrum};
use super::{FeatureMatrix, MAX_N_FFT};
use crate::AudioError;

/// STFT + mel filterbank parameters, named as in librosa.
#[derive(Clone, Debug, PartialEq)]
pub struct MelParams {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// FFT size (librosa default 2048). At most [`MAX_N_FFT`].
    pub n_fft: usize,
    /// Hop between frames in samples (librosa default 512).
    pub hop_length: usize,
    /// Hann window length, `<= n_fft`; the window is zero-padded centred to `n_fft`.
    pub win_length: usize,
    /// Pad `n_fft / 2` zeros on both ends so frame `t` is centred on sample `t * hop_length`
    /// (librosa `center=True`, `pad_mode='constant'`).
    pub center: bool,
    /// Number of mel bands (librosa default 128).
    pub n_mels: usize,
    /// Lowest filter edge in Hz (default 0).
    pub fmin: f32,
    /// Highest filter edge in Hz; `None` means `sample_rate / 2`.
    pub fmax: Option<f32>,
    /// Mel scale (default Slaney; `Htk` for `htk=True`).
    pub scale: MelScale,
    /// Filter normalisation (default Slaney area normalisation).
    pub norm: MelNorm,
    /// Exponent of the magnitude spectrum (2.0 = power, librosa default).
    pub power: f32,
}

impl MelParams {
    /// librosa defaults: n_fft 2048, hop 512, win_length n_fft, centred, 128 Slaney mels over
    /// [0, sr/2], power 2.
    pub fn librosa_default(sample_rate: u32) -> Self {
        MelParams {
            sample_rate,
            n_fft: 2048,
            hop_length: 512,
            win_length: 2048,
            center: true,
            n_mels: 128,
            fmin: 0.0,
            fmax: None,
            scale: MelScale::Slaney,
            norm: MelNorm::Slaney,
            power: 2.0,
        }
    }

    /// Telephone framing: 25 ms Hann window (`floor(sr * 0.025)` samples), 10 ms hop
    /// (`floor(sr / 100)`), n_fft the next power of two, 40 mels over [20 Hz, sr/2], centred.
    pub fn telephone(sample_rate: u32) -> Self {
        let win = (sample_rate as usize * 25) / 1000;
        MelParams {
            sample_rate,
            n_fft: win.max(1).next_power_of_two(),
            hop_length: sample_rate as usize / 100,
            win_length: win,
            center: true,
            n_mels: 40,
            fmin: 20.0,
            fmax: None,
            scale: MelScale::Slaney,
            norm: MelNorm::Slaney,
            power: 2.0,
        }
    }

    /// Upper filter edge in Hz after applying the `None` default.
    pub fn fmax_hz(&self) -> f32 {
        self.fmax.unwrap_or(self.sample_rate as f32 / 2.0)
    }

    /// Check every field; the error names the offending one.
    pub fn validate(&self) -> Result<(), AudioError> {
        let bad = |name: &'static str, why: String| Err(AudioError::InvalidParam { name, why });
        if self.sample_rate == 0 {
            return bad("sample_rate", "must be > 0".into());
        }
        if self.n_fft < 2 || self.n_fft > MAX_N_FFT {
            return bad("n_fft", format!("{} not in [2, {MAX_N_FFT}]", self.n_fft));
        }
        if self.hop_length == 0 {
            return bad("hop_length", "must be > 0".into());
        }
        if self.win_length == 0 || self.win_length > self.n_fft {
            return bad(
                "win_length",
                format!("{} not in [1, n_fft={}]", self.win_length, self.n_fft),
            );
        }
        if self.n_mels == 0 {
            return bad("n_mels", "must be > 0".into());
        }
        let fmax = self.fmax_hz();
        if !(self.fmin >= 0.0 && self.fmin.is_finite()) {
            return bad("fmin", format!("{} must be finite and >= 0", self.fmin));
        }
        if !(fmax > self.fmin && fmax.is_finite()) {
            return bad(
                "fmax",
                format!("{fmax} must be finite and above fmin={}", self.fmin),
            );
        }
        if !(self.power > 0.0 && self.power.is_finite()) {
            return bad("power", format!("{} must be finite and > 0", self.power));
        }
        Ok(())
    }
}

/// `power_to_db` parameters (librosa defaults: ref 1.0, amin 1e-10, top_db 80).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DbParams {
    /// Reference power mapped to 0 dB.
    pub reference: f32,
    /// Floor applied to power and reference before the logarithm.
    pub amin: f32,
    /// If set, clip to at least (maximum over the whole input − `top_db`). Needs the whole
    /// signal, so streaming extractors require `None`.
    pub top_db: Option<f32>,
}

impl Default for DbParams {
    fn default() -> Self {
        DbParams {
            reference: 1.0,
            amin: 1e-10,
            top_db: Some(80.0),
        }
    }
}

impl DbParams {
    /// Check fields; the error names the offending one.
    pub fn validate(&self) -> Result<(), AudioError> {
        if !(self.amin.is_finite() && self.amin > 0.0) {
            return Err(AudioError::InvalidParam {
                name: "amin",
                why: format!("{} must be finite and > 0", self.amin),
            });
        }
        if !(self.reference.is_finite() && self.reference > 0.0) {
            return Err(AudioError::InvalidParam {
                name: "reference",
                why: format!("{} must be finite and > 0", self.reference),
            });
        }
        if let Some(t) = self.top_db {
            if !(t.is_finite() && t >= 0.0) {
                return Err(AudioError::InvalidParam {
                    name: "top_db",
                    why: format!("{t} must be finite and >= 0"),
                });
            }
        }
        Ok(())
    }

    /// `10 log10(max(amin, ref))`, subtracted from every value.
    pub(crate) fn offset_db(&self) -> f32 {
        10.0 * self.amin.max(self.reference).log10()
    }
}

/// Convert power to dB in place without the `top_db` clip; returns the maximum dB value.
#[inline]
pub(crate) fn db_no_clip(values: &mut [f32], amin: f32, offset_db: f32) -> f32 {
    let mut max = f32::NEG_INFINITY;
    for v in values.iter_mut() {
        *v = 10.0 * v.max(amin).log10() - offset_db;
        max = max.max(*v);
    }
    max
}

/// librosa `power_to_db` in place over a whole spectrogram (any layout).
pub fn power_to_db_in_place(values: &mut [f32], db: &DbParams) {
    let max = db_no_clip(values, db.amin, db.offset_db());
    if let Some(top) = db.top_db {
        let floor = max - top;
        for v in values.iter_mut() {
            *v = v.max(floor);
        }
    }
}

/// librosa `power_to_db` on a matrix, returning a new matrix of the same shape.
pub fn power_to_db(power: &FeatureMatrix, db: &DbParams) -> FeatureMatrix {
    let mut out = power.clone();
    power_to_db_in_place(&mut out.values, db);
    out
}

/// Orthonormal DCT-II (scipy `dct(type=2, norm='ortho')`), truncated to the first `n_out`
/// coefficients, as a precomputed `[n_out, n_in]` matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Dct2Ortho {
    n_in: usize,
    n_out: usize,
    matrix: Vec<f32>,
}

impl Dct2Ortho {
    /// DCT of `n_in` inputs keeping `n_out <= n_in` coefficients.
    pub fn new(n_in: usize, n_out: usize) -> Result<Self, AudioError> {
        if n_in == 0 || n_out == 0 || n_out > n_in {
            return Err(AudioError::InvalidParam {
                name: "n_mfcc",
                why: format!("{n_out} must be in [1, n_mels={n_in}]"),
            });
        }
        let n = n_in as f64;
        let mut matrix = Vec::with_capacity(n_in * n_out);
        for k in 0..n_out {
            let s = if k == 0 {
                (1.0 / n).sqrt()
            } else {
                (2.0 / n).sqrt()
            };
            for i in 0..n_in {
                let c = (std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2.0 * n)).cos();
                matrix.push((s * c) as f32);
            }
        }
        Ok(Dct2Ortho {
            n_in,
            n_out,
            matrix,
        })
    }

    /// Input length.
    pub fn n_in(&self) -> usize {
        self.n_in
    }

    /// Output length.
    pub fn n_out(&self) -> usize {
        self.n_out
    }

    /// Row `k` of the transform matrix (the k-th basis vector).
    pub fn basis(&self, k: usize) -> &[f32] {
        &self.matrix[k * self.n_in..(k + 1) * self.n_in]
    }

    /// `out[k] = sum_i basis_k[i] * input[i]`; `input.len() == n_in`, `out.len() == n_out`.
    #[inline]
    pub fn apply(&self, input: &[f32], out: &mut [f32]) {
        debug_assert_eq!(input.len(), self.n_in);
        for (o, row) in out.iter_mut().zip(self.matrix.chunks_exact(self.n_in)) {
            let mut acc = [0.0f32; 4];
            let mut rc = row.chunks_exact(4);
            let mut xc = input.chunks_exact(4);
            for (a, b) in (&mut rc).zip(&mut xc) {
                acc[0] += a[0] * b[0];
                acc[1] += a[1] * b[1];
                acc[2] += a[2] * b[2];
                acc[3] += a[3] * b[3];
            }
            let mut tail = 0.0f32;
            for (a, b) in rc.remainder().iter().zip(xc.remainder()) {
                tail += a * b;
            }
            *o = (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail;
        }
    }
}

/// Per-frame engine shared by batch and streaming: window → FFT → |X|^p → mel bands.
#[derive(Debug)]
pub(crate) struct MelFrontend {
    pub(crate) params: MelParams,
    spectrum: PowerSpectrum,
    filters: SparseFilterbank,
    power: Vec<f32>,
}

impl MelFrontend {
    pub(crate) fn new(params: MelParams) -> Result<Self, AudioError> {
        params.validate()?;
        let window = pad_center(&hann_periodic(params.win_length), params.n_fft);
        let window: Vec<f32> = window.iter().map(|&w| w as f32).collect();
        let spectrum = PowerSpectrum::new(&window);
        let filters = librosa_mel(
            params.sample_rate as f64,
            params.n_fft,
            params.n_mels,
            params.fmin as f64,
            params.fmax_hz() as f64,
            params.scale,
            params.norm,
        );
        let power = vec![0.0; spectrum.n_bins()];
        Ok(MelFrontend {
            params,
            spectrum,
            filters,
            power,
        })
    }

    /// Mel energies of one `n_fft`-sample frame into `out` (`n_mels` values). No allocation.
    #[inline]
    pub(crate) fn frame(&mut self, frame: &[f32], out: &mut [f32]) {
        self.spectrum
            .compute(frame, self.params.power, &mut self.power);
        self.filters.apply(&self.power, out);
    }

    pub(crate) fn filters(&self) -> &SparseFilterbank {
        &self.filters
    }
}

/// Reusable librosa-compatible mel spectrogram extractor (FFT plan, window and filters built
/// once). Output layout `[n_mels, frames]`.
#[derive(Debug)]
pub struct MelSpectrogram {
    front: MelFrontend,
    padded: Vec<f32>,
    frames: Vec<f32>,
}

impl MelSpectrogram {
    /// Build for `params` (validated).
    pub fn new(params: MelParams) -> Result<Self, AudioError> {
        Ok(MelSpectrogram {
            front: MelFrontend::new(params)?,
            padded: Vec::new(),
            frames: Vec::new(),
        })
    }

    /// The parameters in use.
    pub fn params(&self) -> &MelParams {
        &self.front.params
    }

    /// The mel filterbank in use (sparse).
    pub fn filters(&self) -> &SparseFilterbank {
        self.front.filters()
    }

    /// Mel energies frame-major (`[frames, n_mels]`) into the internal buffer; returns the
    /// frame count.
    fn frames_major(&mut self, y: &[f32]) -> usize {
        let p = &self.front.params;
        let (n_fft, hop, n_mels) = (p.n_fft, p.hop_length, p.n_mels);
        let n_frames = librosa_frame_count(y.len(), n_fft, hop, p.center);
        let pad = if p.center { n_fft / 2 } else { 0 };
        self.padded.clear();
        self.padded.resize(pad, 0.0);
        self.padded.extend_from_slice(y);
        self.padded.resize(y.len() + 2 * pad, 0.0);
        self.frames.clear();
        self.frames.resize(n_frames * n_mels, 0.0);
        for (t, out) in self.frames.chunks_exact_mut(n_mels).enumerate() {
            let start = t * hop;
            self.front.frame(&self.padded[start..start + n_fft], out);
        }
        n_frames
    }

    /// `librosa.feature.melspectrogram(y=y, sr=sr, ...)`: `[n_mels, frames]`.
    pub fn compute(&mut self, y: &[f32]) -> FeatureMatrix {
        let n = self.frames_major(y);
        transpose(&self.frames, n, self.front.params.n_mels)
    }

    /// `power_to_db(melspectrogram(y))`: log-mel in dB, `[n_mels, frames]`.
    pub fn compute_db(&mut self, y: &[f32], db: &DbParams) -> FeatureMatrix {
        let n = self.frames_major(y);
        power_to_db_in_place(&mut self.frames, db);
        transpose(&self.frames, n, self.front.params.n_mels)
    }
}

/// Frame-major `[frames, dim]` → `[dim, frames]`.
fn transpose(src: &[f32], frames: usize, dim: usize) -> FeatureMatrix {
    let mut values = vec![0.0; frames * dim];
    for (t, row) in src.chunks_exact(dim.max(1)).take(frames).enumerate() {
        for (b, &v) in row.iter().enumerate() {
            values[b * frames + t] = v;
        }
    }
    FeatureMatrix {
        rows: dim,
        cols: frames,
        values,
    }
}

/// MFCC parameters: mel front end, number of coefficients and dB conversion.
#[derive(Clone, Debug, PartialEq)]
pub struct MfccParams {
    /// STFT / mel parameters.
    pub mel: MelParams,
    /// Number of cepstral coefficients kept (librosa default 20), `<= n_mels`.
    pub n_mfcc: usize,
    /// Power-to-dB parameters applied before the DCT.
    pub db: DbParams,
}

impl MfccParams {
    /// librosa defaults (`librosa.feature.mfcc(y=y, sr=sr)`): 20 coefficients over 128 mels.
    pub fn librosa_default(sample_rate: u32) -> Self {
        MfccParams {
            mel: MelParams::librosa_default(sample_rate),
            n_mfcc: 20,
            db: DbParams::default(),
        }
    }

    /// Telephone framing ([`MelParams::telephone`]) with 13 coefficients.
    pub fn telephone(sample_rate: u32) -> Self {
        MfccParams {
            mel: MelParams::telephone(sample_rate),
            n_mfcc: 13,
            db: DbParams::default(),
        }
    }

    /// Same parameters with `n_mfcc` coefficients.
    pub fn with_n_mfcc(mut self, n_mfcc: usize) -> Self {
        self.n_mfcc = n_mfcc;
        self
    }
}

/// Reusable librosa-compatible MFCC extractor. Output layout `[n_mfcc, frames]`.
#[derive(Debug)]
pub struct Mfcc {
    mel: MelSpectrogram,
    dct: Dct2Ortho,
    db: DbParams,
}

impl Mfcc {
    /// Build for `params` (validated).
    pub fn new(params: MfccParams) -> Result<Self, AudioError> {
        params.db.validate()?;
        let dct = Dct2Ortho::new(params.mel.n_mels, params.n_mfcc)?;
        Ok(Mfcc {
            mel: MelSpectrogram::new(params.mel)?,
            dct,
            db: params.db,
        })
    }

    /// Number of coefficients per frame.
    pub fn n_mfcc(&self) -> usize {
        self.dct.n_out()
    }

    /// The mel parameters in use.
    pub fn mel_params(&self) -> &MelParams {
        self.mel.params()
    }

    /// `librosa.feature.mfcc(y=y, sr=sr, ...)`: `[n_mfcc, frames]`.
    pub fn compute(&mut self, y: &[f32]) -> FeatureMatrix {
        let frames = self.mel.frames_major(y);
        power_to_db_in_place(&mut self.mel.frames, &self.db);
        let (n_mels, n_mfcc) = (self.dct.n_in(), self.dct.n_out());
        let mut values = vec![0.0; n_mfcc * frames];
        let mut coeffs = vec![0.0; n_mfcc];
        for (t, row) in self.mel.frames.chunks_exact(n_mels).enumerate() {
            self.dct.apply(row, &mut coeffs);
            for (k, &c) in coeffs.iter().enumerate() {
                values[k * frames + t] = c;
            }
        }
        FeatureMatrix {
            rows: n_mfcc,
            cols: frames,
            values,
        }
    }

    /// Mean MFCC over frames (`np.mean(mfcc(...).T, axis=0)`), `n_mfcc` values. Computed as the
    /// DCT of the mean clipped log-mel frame (the DCT is linear). Empty input (no frames) yields
    /// NaNs, like numpy.
    pub fn compute_mean(&mut self, y: &[f32]) -> Vec<f32> {
        let frames = self.mel.frames_major(y);
        power_to_db_in_place(&mut self.mel.frames, &self.db);
        let n_mels = self.dct.n_in();
        let mut sums = vec![0.0f64; n_mels];
        for row in self.mel.frames.chunks_exact(n_mels) {
            for (s, &v) in sums.iter_mut().zip(row) {
                *s += v as f64;
            }
        }
        let mean: Vec<f32> = sums.iter().map(|&s| (s / frames as f64) as f32).collect();
        let mut out = vec![0.0; self.dct.n_out()];
        self.dct.apply(&mean, &mut out);
        out
    }
}

/// One-shot `librosa.feature.melspectrogram`: `[n_mels, frames]`.
pub fn melspectrogram(y: &[f32], params: &MelParams) -> Result<FeatureMatrix, AudioError> {
    Ok(MelSpectrogram::new(params.clone())?.compute(y))
}

/// One-shot `librosa.feature.mfcc`: `[n_mfcc, frames]`.
pub fn mfcc(y: &[f32], params: &MfccParams) -> Result<FeatureMatrix, AudioError> {
    Ok(Mfcc::new(params.clone())?.compute(y))
}

/// One-shot mean MFCC over frames: `n_mfcc` values.
pub fn mfcc_mean(y: &[f32], params: &MfccParams) -> Result<Vec<f32>, AudioError> {
    Ok(Mfcc::new(params.clone())?.compute_mean(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dct_is_orthonormal() {
        let d = Dct2Ortho::new(40, 40).unwrap();
        for a in 0..40 {
            for b in 0..40 {
                let dot: f64 = d
                    .basis(a)
                    .iter()
                    .zip(d.basis(b))
                    .map(|(&x, &y)| x as f64 * y as f64)
                    .sum();
                let want = if a == b { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-5, "<{a},{b}> = {dot}");
            }
        }
        // A constant input maps to coefficient 0 only: sqrt(N) * c.
        let mut out = vec![0.0; 13];
        Dct2Ortho::new(40, 13).unwrap().apply(&[2.0; 40], &mut out);
        assert!((out[0] - 2.0 * 40f32.sqrt()).abs() < 1e-4);
        assert!(out[1..].iter().all(|c| c.abs() < 1e-4));
        assert!(Dct2Ortho::new(40, 41).is_err());
    }

    #[test]
    fn power_to_db_follows_librosa_rules() {
        let mut v = vec![1.0, 10.0, 1e-3, 0.0, 1e-20];
        power_to_db_in_place(
            &mut v,
            &DbParams {
                top_db: None,
                ..Default::default()
            },
        );
        assert_eq!(v[0], 0.0);
        assert!((v[1] - 10.0).abs() < 1e-5);
        assert!((v[2] + 30.0).abs() < 1e-4);
        assert!((v[3] + 100.0).abs() < 1e-4, "amin floor");
        let mut w = vec![100.0, 1e-3, 0.0];
        power_to_db_in_place(
            &mut w,
            &DbParams {
                reference: 10.0,
                amin: 1e-10,
                top_db: Some(40.0),
            },
        );
        assert!((w[0] - 10.0).abs() < 1e-5);
        assert!(
            (w[1] + 30.0).abs() < 1e-4,
            "-40 dB re 10 is above the floor"
        );
        assert!((w[2] + 30.0).abs() < 1e-4, "clipped to max - top_db");
    }

    #[test]
    fn tone_energy_lands_in_the_band_containing_it() {
        let sr = 16000;
        let y: Vec<f32> = (0..sr)
            .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1500.0 * i as f32 / sr as f32).sin())
            .collect();
        let mut ms = MelSpectrogram::new(MelParams::telephone(sr as u32)).unwrap();
        let m = ms.compute(&y);
        assert_eq!(m.rows, 40);
        assert_eq!(m.cols, 101);
        // Band with the peak in a middle frame must contain 1500 Hz between its edges.
        let t = 50;
        let peak = (0..40)
            .max_by(|&a, &b| m.get(a, t).total_cmp(&m.get(b, t)))
            .unwrap();
        let (lo, hi) = (
            super::super::mel::hz_to_mel(20.0, MelScale::Slaney),
            super::super::mel::hz_to_mel(8000.0, MelScale::Slaney),
        );
        let step = (hi - lo) / 41.0;
        let left = super::super::mel::mel_to_hz(lo + step * peak as f64, MelScale::Slaney);
        let right = super::super::mel::mel_to_hz(lo + step * (peak as f64 + 2.0), MelScale::Slaney);
        assert!(
            left < 1500.0 && 1500.0 < right,
            "peak band {peak} spans {left}..{right}"
        );
    }

    #[test]
    fn invalid_params_are_named() {
        let mut p = MelParams::librosa_default(8000);
        p.win_length = 4096;
        match MelSpectrogram::new(p) {
            Err(AudioError::InvalidParam { name, .. }) => assert_eq!(name, "win_length"),
            other => panic!("expected InvalidParam, got {other:?}"),
        }
        let mut p = MelParams::librosa_default(8000);
        p.fmax = Some(0.0);
        assert!(matches!(
            MelSpectrogram::new(p),
            Err(AudioError::InvalidParam { name: "fmax", .. })
        ));
        assert!(matches!(
            Mfcc::new(MfccParams::librosa_default(8000).with_n_mfcc(129)),
            Err(AudioError::InvalidParam { name: "n_mfcc", .. })
        ));
    }

    #[test]
    fn mean_equals_mean_of_frames() {
        let y: Vec<f32> = (0..12345)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.3)
            .collect();
        let mut m = Mfcc::new(MfccParams::librosa_default(8000).with_n_mfcc(40)).unwrap();
        let full = m.compute(&y);
        let mean = m.compute_mean(&y);
        for (k, (a, b)) in full.row_means().iter().zip(&mean).enumerate() {
            assert!((a - b).abs() < 1e-3, "coef {k}: {a} vs {b}");
        }
    }
}
