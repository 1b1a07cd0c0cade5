//! The GE2E d-vector encoder (Wan et al. 2018, "Generalized end-to-end loss for speaker
//! verification"), as resemblyzer's `VoiceEncoder` runs it, loading its pretrained weights.
//!
//! # Pipeline (resemblyzer 0.1.4, `audio.py`, `hparams.py`, `voice_encoder.py`)
//! 1. 16 kHz mono PCM (other rates are resampled by [`Embedder::embed`]).
//! 2. [`normalize_volume`]: gain to −30 dBFS RMS, only ever up (`increase_only=True`).
//! 3. [`trim_long_silences`]: 30 ms VAD windows, a moving average over 8 windows rounded to a
//!    mask, dilated by 7 windows; samples outside the mask are dropped. Resemblyzer decides
//!    each window with webrtcvad (mode 3); we decide it with our own VAD
//!    (`tympan_audio::vad::Vad`, mode 3, 30 ms frames) and keep the smoothing and dilation
//!    exactly. This is the one deliberate difference from the reference: the two VADs can keep
//!    slightly different samples, so embeddings of the *full* pipelines differ by more than
//!    numerical noise on audio with pauses. The 1e-4 parity check
//!    (`scripts/voiceid-bench-vs-resemblyzer.sh`) therefore feeds both implementations the
//!    same volume-normalised, untrimmed waveform (`trim_silences: false` here,
//!    `embed_utterance(normalize_volume(wav))` there) and reports the full-pipeline distance
//!    separately.
//! 4. Mel spectrogram, **power** (not log): librosa `melspectrogram(sr=16000, n_fft=400,
//!    hop_length=160, n_mels=40)` — 25 ms Hann window, 10 ms hop, centred with zero padding
//!    (librosa ≥ 0.10), Slaney mel scale and norm — from `tympan_audio::features`.
//! 5. Partial windows of 160 frames (1.6 s) every `round(100 / rate)` frames (rate 1.3 → 77),
//!    the waveform zero-padded to the end of the last window; the last window is dropped when
//!    it covers less than `min_coverage` (0.75) of its samples, unless it is the only one
//!    ([`partial_starts`]).
//! 6. Each window through the network: 3-layer LSTM (40 → 256), linear 256 → 256 on the last
//!    layer's final hidden state, ReLU, L2 norm; the utterance embedding is the L2-normalised
//!    mean of the window embeddings.

mod candle_net;
mod fast;
pub mod kernels;
pub mod weights;

use tympan_audio::features::{MelNorm, MelParams, MelScale, MelSpectrogram};
use tympan_audio::vad::{Vad, VadConfig};

use crate::embedder::{Embedder, EmbedderInfo, Embedding};
use crate::error::{invalid, Result, VoiceIdError};
pub use weights::Ge2eWeights;

/// Sample rate of the encoder, Hz.
pub const SAMPLE_RATE: u32 = 16_000;
/// Mel frame hop, samples (10 ms).
pub const HOP: usize = 160;
/// Mel window and FFT size, samples (25 ms).
pub const WINDOW: usize = 400;
/// Frames per partial window (1.6 s).
pub const PARTIAL_FRAMES: usize = 160;
/// Resemblyzer's volume target, dBFS.
pub const TARGET_DBFS: f64 = -30.0;
/// VAD window of the silence trimmer, ms.
pub const TRIM_WINDOW_MS: usize = 30;
/// Windows averaged by the trimmer's moving average.
pub const TRIM_AVERAGE_WIDTH: usize = 8;
/// Resemblyzer's `vad_max_silence_length`: the trimmer's mask is dilated with a structuring
/// element of this many + 1 windows (±3 windows around each kept one).
pub const TRIM_MAX_SILENCE: usize = 6;
/// Most partial windows per forward batch by default (bounds memory: about 0.7 MB each).
pub const DEFAULT_MAX_BATCH: usize = 32;

/// Which implementation runs the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Hand-written LSTM: packed weights, AVX2/FMA kernels picked at run time (default).
    #[default]
    Fast,
    /// `candle_nn::LSTM` and `candle_nn::Linear` on candle's CPU device.
    Candle,
}

/// Encoder settings; the defaults are resemblyzer's.
#[derive(Clone, Debug, PartialEq)]
pub struct Ge2eConfig {
    /// Partial windows per second of audio (resemblyzer `rate`, 1.3; in
    /// `[100 / PARTIAL_FRAMES, 100]`).
    pub rate: f64,
    /// Keep the last window only if it covers at least this share of its samples (0.75;
    /// in `(0, 1]`).
    pub min_coverage: f64,
    /// Raise the volume to this RMS level, dBFS, if it is below (resemblyzer: −30);
    /// `None` leaves the level alone.
    pub normalize_dbfs: Option<f64>,
    /// Shorten silences as resemblyzer's `trim_long_silences` (with our VAD; default on).
    pub trim_silences: bool,
    /// Network implementation.
    pub backend: Backend,
    /// Most partial windows per forward batch (≥ 1; results do not depend on it).
    pub max_batch: usize,
    /// Kernel build of the fast backend; `None` picks the best this CPU runs
    /// ([`kernels::Isa::detect`]). A build the CPU cannot run is refused by `validate`.
    pub isa: Option<kernels::Isa>,
}

impl Default for Ge2eConfig {
    fn default() -> Self {
        Ge2eConfig {
            rate: 1.3,
            min_coverage: 0.75,
            normalize_dbfs: Some(TARGET_DBFS),
            trim_silences: true,
            backend: Backend::Fast,
            max_batch: DEFAULT_MAX_BATCH,
            isa: None,
        }
    }
}

impl Ge2eConfig {
    /// Check every field; the error names the offending one.
    pub fn validate(&self) -> Result<()> {
        let lo = 100.0 / PARTIAL_FRAMES as f64;
        if !(self.rate.is_finite() && (lo..=100.0).contains(&self.rate)) {
            return Err(invalid(
                "rate",
                format!(
                    "{} partial windows per second not in [{lo}, 100]",
                    self.rate
                ),
            ));
        }
        if !(self.min_coverage > 0.0 && self.min_coverage <= 1.0) {
            return Err(invalid(
                "min_coverage",
                format!("{} not in (0, 1]", self.min_coverage),
            ));
        }
        if let Some(d) = self.normalize_dbfs {
            if !(d.is_finite() && d <= 0.0) {
                return Err(invalid("normalize_dbfs", format!("{d} dBFS must be ≤ 0")));
            }
        }
        if self.max_batch == 0 {
            return Err(invalid("max_batch", "must be at least 1"));
        }
        if let Some(isa) = self.isa {
            if !kernels::Isa::available().contains(&isa) {
                return Err(invalid(
                    "isa",
                    format!("{isa:?} kernels do not run on this CPU"),
                ));
            }
        }
        Ok(())
    }
}

/// Start frames of the partial windows (each [`PARTIAL_FRAMES`] long) of an utterance of
/// `n_samples` samples at 16 kHz, exactly as resemblyzer's `compute_partial_slices`. Always at
/// least one window.
pub fn partial_starts(n_samples: usize, rate: f64, min_coverage: f64) -> Result<Vec<usize>> {
    let n_frames = (n_samples + 1).div_ceil(HOP);
    // Python's round(): halves to even.
    let step = ((SAMPLE_RATE as f64 / rate) / HOP as f64).round_ties_even();
    if !(step >= 1.0 && step <= PARTIAL_FRAMES as f64) {
        return Err(invalid(
            "rate",
            format!("{rate} gives a window step of {step} frames, not in 1..={PARTIAL_FRAMES}"),
        ));
    }
    let step = step as usize;
    let steps = (n_frames + step + 1).saturating_sub(PARTIAL_FRAMES).max(1);
    let mut starts: Vec<usize> = (0..steps).step_by(step).collect();
    let last = *starts.last().expect("at least one");
    let coverage = (n_samples as f64 - (last * HOP) as f64) / (PARTIAL_FRAMES * HOP) as f64;
    if coverage < min_coverage && starts.len() > 1 {
        starts.pop();
    }
    Ok(starts)
}

/// Resemblyzer's `normalize_volume`: scale to `target_dbfs` RMS (relative to int16 full
/// scale 32767); with `increase_only`, never turn down. Silence is returned unchanged.
pub fn normalize_volume(wav: &[f32], target_dbfs: f64, increase_only: bool) -> Vec<f32> {
    if wav.is_empty() {
        return Vec::new();
    }
    const INT16_MAX: f64 = 32767.0;
    let ms: f64 = wav
        .iter()
        .map(|&x| {
            let v = x as f64 * INT16_MAX;
            v * v
        })
        .sum::<f64>()
        / wav.len() as f64;
    let rms = ms.sqrt();
    if rms == 0.0 {
        return wav.to_vec();
    }
    let dbfs = 20.0 * (rms / INT16_MAX).log10();
    let change = target_dbfs - dbfs;
    if change < 0.0 && increase_only {
        return wav.to_vec();
    }
    let gain = 10f64.powf(change / 20.0) as f32;
    wav.iter().map(|&x| x * gain).collect()
}

/// Resemblyzer's `trim_long_silences` with our VAD deciding each 30 ms window (see the module
/// docs): the samples of the kept windows, in order. The tail shorter than one window is
/// dropped, as resemblyzer does.
pub fn trim_long_silences(wav: &[f32]) -> Result<Vec<f32>> {
    let win = TRIM_WINDOW_MS * SAMPLE_RATE as usize / 1000;
    let n_win = wav.len() / win;
    let flags = vad_window_flags(&wav[..n_win * win], SAMPLE_RATE, TRIM_WINDOW_MS as u32)?;
    let keep = smooth_and_dilate(&flags);
    let mut out = Vec::with_capacity(wav.len());
    for (i, &k) in keep.iter().enumerate() {
        if k {
            out.extend_from_slice(&wav[i * win..(i + 1) * win]);
        }
    }
    Ok(out)
}

/// Per-frame speech decisions of our VAD (aggressiveness 3, like resemblyzer's webrtcvad)
/// for whole `frame_ms` frames of `samples`.
pub(crate) fn vad_window_flags(samples: &[f32], rate: u32, frame_ms: u32) -> Result<Vec<bool>> {
    let mut vad = Vad::new(
        rate,
        VadConfig {
            frame_ms,
            mode: 3,
            ..VadConfig::default()
        },
    )?;
    let frame = rate as usize * frame_ms as usize / 1000;
    Ok(samples
        .chunks_exact(frame)
        .map(|f| {
            vad.push(f);
            vad.last_frame_is_speech()
        })
        .collect())
}

/// Resemblyzer's mask: moving average of width 8 (3 windows before, 4 after, zeros outside),
/// rounded half-to-even (so at least 5 of 8 windows), then binary dilation by 7 windows.
pub fn smooth_and_dilate(flags: &[bool]) -> Vec<bool> {
    let n = flags.len();
    let w = TRIM_AVERAGE_WIDTH;
    let before = (w - 1) / 2;
    let mask: Vec<bool> = (0..n)
        .map(|i| {
            let lo = i.saturating_sub(before);
            let hi = (i + w - before).min(n); // exclusive: i + 4 inclusive
            let count = flags[lo..hi].iter().filter(|&&f| f).count();
            // np.round(count / 8): 0.5 rounds to 0, so count ≥ 5.
            2 * count > w
        })
        .collect();
    let r = TRIM_MAX_SILENCE.div_ceil(2); // centred structuring element of 7 windows: ±3
    (0..n)
        .map(|i| {
            let lo = i.saturating_sub(r);
            let hi = (i + r + 1).min(n);
            mask[lo..hi].iter().any(|&m| m)
        })
        .collect()
}

enum Net {
    Fast(fast::FastNet),
    Candle(Box<candle_net::CandleNet>),
}

/// The GE2E encoder: weights plus settings. Immutable and `Sync`: one instance serves every
/// thread.
pub struct Ge2eEncoder {
    net: Net,
    config: Ge2eConfig,
    n_mels: usize,
    embedding: usize,
}

impl std::fmt::Debug for Ge2eEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ge2eEncoder")
            .field("config", &self.config)
            .field("n_mels", &self.n_mels)
            .field("embedding", &self.embedding)
            .finish()
    }
}

impl Ge2eEncoder {
    /// An encoder over `weights` with `config` (validated).
    pub fn new(weights: &Ge2eWeights, config: Ge2eConfig) -> Result<Self> {
        config.validate()?;
        let net = match config.backend {
            Backend::Fast => Net::Fast(fast::FastNet::new(
                weights,
                config.isa.unwrap_or_else(kernels::Isa::detect),
            )),
            Backend::Candle => Net::Candle(Box::new(candle_net::CandleNet::new(weights)?)),
        };
        Ok(Ge2eEncoder {
            net,
            config,
            n_mels: weights.n_mels(),
            embedding: weights.embedding,
        })
    }

    /// An encoder from a safetensors weights file's bytes (see [`Ge2eWeights::from_safetensors`]).
    pub fn from_safetensors(bytes: &[u8], config: Ge2eConfig) -> Result<Self> {
        Ge2eEncoder::new(&Ge2eWeights::from_safetensors(bytes)?, config)
    }

    /// The settings in use.
    pub fn config(&self) -> &Ge2eConfig {
        &self.config
    }

    /// Steps 2–3 of the pipeline on 16 kHz audio: volume normalisation and silence trimming
    /// as configured.
    pub fn preprocess(&self, wav: &[f32]) -> Result<Vec<f32>> {
        let wav = match self.config.normalize_dbfs {
            Some(d) => normalize_volume(wav, d, true),
            None => wav.to_vec(),
        };
        if self.config.trim_silences {
            trim_long_silences(&wav)
        } else {
            Ok(wav)
        }
    }

    /// The encoder's mel spectrogram of 16 kHz audio: `(frames, [frames, n_mels] row-major)`.
    pub fn mel_frames(&self, wav: &[f32]) -> Result<(usize, Vec<f32>)> {
        let mut mel = MelSpectrogram::new(MelParams {
            sample_rate: SAMPLE_RATE,
            n_fft: WINDOW,
            hop_length: HOP,
            win_length: WINDOW,
            center: true,
            n_mels: self.n_mels,
            fmin: 0.0,
            fmax: None,
            scale: MelScale::Slaney,
            norm: MelNorm::Slaney,
            power: 2.0,
        })?;
        let m = mel.compute(wav);
        let (bands, frames) = (m.rows, m.cols);
        let mut out = vec![0.0f32; frames * bands];
        for b in 0..bands {
            for (t, &v) in m.row(b).iter().enumerate() {
                out[t * bands + b] = v;
            }
        }
        Ok((frames, out))
    }

    /// Raw network outputs for windows of a mel spectrogram (`[frames, n_mels]`), each
    /// `PARTIAL_FRAMES` long from the given starts: `[starts.len(), embedding]`, ReLU'd, not
    /// normalised. Runs in batches of `max_batch` windows.
    pub fn forward_windows(&self, mel: &[f32], starts: &[usize]) -> Result<Vec<f32>> {
        let n_frames = mel.len() / self.n_mels;
        if let Some(&s) = starts.iter().find(|&&s| s + PARTIAL_FRAMES > n_frames) {
            return Err(invalid(
                "starts",
                format!("window at frame {s} runs past the {n_frames} mel frames"),
            ));
        }
        let mut out = Vec::with_capacity(starts.len() * self.embedding);
        for chunk in starts.chunks(self.config.max_batch) {
            match &self.net {
                Net::Fast(n) => out.extend(n.forward(mel, chunk, PARTIAL_FRAMES)),
                Net::Candle(n) => out.extend(n.forward(mel, chunk, PARTIAL_FRAMES)?),
            }
        }
        Ok(out)
    }

    /// L2-normalised embeddings of each partial window of an already preprocessed 16 kHz
    /// waveform (resemblyzer's `return_partials=True`), with the windows' start frames.
    /// A window whose ReLU output is all zero has no direction and is left out (PyTorch would
    /// give NaN there).
    pub fn partial_embeddings(&self, wav: &[f32]) -> Result<Vec<(usize, Embedding)>> {
        if wav.is_empty() {
            return Err(VoiceIdError::NotEnoughSpeech {
                have_ms: 0.0,
                need_ms: 1000.0 / SAMPLE_RATE as f64,
            });
        }
        let starts = partial_starts(wav.len(), self.config.rate, self.config.min_coverage)?;
        let last = *starts.last().expect("at least one window");
        let needed = (last + PARTIAL_FRAMES) * HOP;
        let (_, mel) = if needed >= wav.len() {
            let mut padded = Vec::with_capacity(needed);
            padded.extend_from_slice(wav);
            padded.resize(needed, 0.0);
            self.mel_frames(&padded)?
        } else {
            self.mel_frames(wav)?
        };
        let raw = self.forward_windows(&mel, &starts)?;
        Ok(starts
            .iter()
            .zip(raw.chunks_exact(self.embedding))
            .filter_map(|(&s, e)| Embedding::normalize(e.to_vec()).ok().map(|e| (s, e)))
            .collect())
    }

    /// Resemblyzer's `embed_utterance` on an already preprocessed 16 kHz waveform: the
    /// L2-normalised mean of the partial-window embeddings.
    pub fn embed_preprocessed(&self, wav: &[f32]) -> Result<Embedding> {
        let parts = self.partial_embeddings(wav)?;
        if parts.is_empty() {
            return Err(VoiceIdError::Backend(
                "every partial window gave an all-zero embedding".into(),
            ));
        }
        let items: Vec<Embedding> = parts.into_iter().map(|(_, e)| e).collect();
        Embedding::mean(&items)
    }
}

impl Embedder for Ge2eEncoder {
    fn info(&self) -> EmbedderInfo {
        EmbedderInfo {
            kind: "ge2e".into(),
            sample_rate: SAMPLE_RATE,
            dim: self.embedding,
            min_samples: 1,
            window_samples: PARTIAL_FRAMES * HOP,
        }
    }

    /// The whole pipeline: [`preprocess`](Ge2eEncoder::preprocess) then
    /// [`embed_preprocessed`](Ge2eEncoder::embed_preprocessed). Errors with
    /// `NotEnoughSpeech` when trimming leaves nothing.
    fn embed_native(&self, samples: &[f32]) -> Result<Embedding> {
        if samples.is_empty() {
            return Err(invalid("samples", "empty input"));
        }
        let wav = self.preprocess(samples)?;
        self.embed_preprocessed(&wav)
    }
}
