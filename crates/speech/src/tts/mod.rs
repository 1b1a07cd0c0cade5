//! Text to speech behind the [`Synthesizer`] trait: text or SSML ([`crate::ssml`]) in, 8 or
//! 16 kHz mono 16-bit PCM out ([`Prompt`]).
//!
//! - [`EspeakSynthesizer`]: espeak-ng linked as a library (`espeak.rs`; one global,
//!   mutex-guarded engine — see its docs).
//! - [`PromptCache`]: prompts by content hash (SHA-256 of the engine fingerprint, output rate
//!   and input), bounded by a byte budget, persisted by the shell with
//!   [`PromptCache::to_bytes`] / [`PromptCache::from_bytes`] or per prompt as WAV
//!   ([`Prompt::to_wav`]).
//!
//! A neural voice (Piper VITS ONNX) is another `Synthesizer`: its [`Synthesizer::fingerprint`]
//! keeps its prompts apart in the cache, and SSML reaches it as [`crate::ssml::Document`]
//! segments.

pub mod cache;
pub mod espeak;
mod espeak_ffi;
pub mod words;

use std::sync::Arc;

pub use cache::{CacheStats, PromptCache};
pub use espeak::{EspeakSettings, EspeakSynthesizer, SsmlRendering};

use crate::ssml::SsmlError;
use tympan_audio::AudioError;

/// Output rates a synthesizer produces, Hz: 8 kHz for G.711 calls, 16 kHz for wideband.
pub const OUTPUT_RATES: [u32; 2] = [8000, 16000];

/// Longest plain-text input accepted, bytes (SSML has [`crate::ssml::MAX_SSML_BYTES`]).
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Longest prompt produced, seconds: synthesis stops with [`TtsError::TooLong`] beyond it.
pub const MAX_PROMPT_S: u32 = 300;

/// What to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpeechInput<'a> {
    /// Plain text (no markup; `<` is read as is).
    Text(&'a str),
    /// An SSML document in the [`crate::ssml`] subset, root `<speak>`.
    Ssml(&'a str),
}

impl SpeechInput<'_> {
    /// The input text or document.
    pub fn as_str(&self) -> &str {
        match self {
            SpeechInput::Text(s) | SpeechInput::Ssml(s) => s,
        }
    }

    /// `"text"` or `"ssml"` (part of the cache key).
    pub fn kind(&self) -> &'static str {
        match self {
            SpeechInput::Text(_) => "text",
            SpeechInput::Ssml(_) => "ssml",
        }
    }
}

/// Synthesised audio: mono 16-bit PCM at `sample_rate`. Clones share the samples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// Hz, one of [`OUTPUT_RATES`].
    pub sample_rate: u32,
    /// The samples.
    pub samples: Arc<[i16]>,
}

impl Prompt {
    /// Length in ms (rounded down).
    pub fn duration_ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / self.sample_rate as u64
    }

    /// Bytes the samples take (what the cache budget counts).
    pub fn byte_len(&self) -> usize {
        self.samples.len() * 2
    }

    /// The samples as floats in [-1, 1), for the `audio` crate.
    pub fn to_f32(&self) -> Vec<f32> {
        self.samples
            .iter()
            .map(|&s| tympan_audio::pcm::i16_to_f32(s))
            .collect()
    }

    /// A 16-bit PCM WAV file of the prompt.
    pub fn to_wav(&self) -> Vec<u8> {
        let audio = tympan_audio::Audio::mono(self.sample_rate, self.to_f32());
        tympan_audio::wav_write::encode_wav(&audio, tympan_audio::wav_write::Codec::Pcm16)
    }

    /// Reads a prompt back from a WAV file (any format the `audio` crate decodes; mono or
    /// downmixed; resampled to `sample_rate`, which must be one of [`OUTPUT_RATES`]).
    pub fn from_wav(bytes: &[u8], sample_rate: u32) -> Result<Prompt, TtsError> {
        check_rate(sample_rate)?;
        let audio = tympan_audio::decode::decode_bytes(bytes)?;
        let mono = audio.downmix();
        let resampled = tympan_audio::resample::resample(&mono, audio.sample_rate, sample_rate)?;
        Ok(Prompt {
            sample_rate,
            samples: resampled
                .iter()
                .map(|&x| tympan_audio::pcm::f32_to_i16(x))
                .collect(),
        })
    }
}

/// Why synthesis failed.
#[derive(Debug, thiserror::Error)]
pub enum TtsError {
    /// The SSML does not parse or is outside the subset.
    #[error(transparent)]
    Ssml(#[from] SsmlError),
    /// An output rate other than [`OUTPUT_RATES`].
    #[error("output rate {0} Hz is not supported (8000 or 16000)")]
    UnsupportedRate(u32),
    /// Plain text longer than [`MAX_TEXT_BYTES`].
    #[error("text is {len} bytes; at most {max} are accepted")]
    TextTooLong {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The prompt would last longer than [`MAX_PROMPT_S`].
    #[error("the prompt would last more than {max_s} s")]
    TooLong {
        /// [`MAX_PROMPT_S`].
        max_s: u32,
    },
    /// A setting outside its range.
    #[error("invalid TTS setting {name}: {why}")]
    InvalidSetting {
        /// The setting.
        name: &'static str,
        /// Its range or the problem.
        why: String,
    },
    /// The engine could not start (its data files are missing, …).
    #[error("the {engine} engine could not start: {why}")]
    EngineInit {
        /// Engine name.
        engine: &'static str,
        /// What it reported.
        why: String,
    },
    /// The engine has no such voice.
    #[error("voice {0:?} not found (espeak-ng --voices lists them; variants as en-us+f2)")]
    VoiceNotFound(String),
    /// The engine failed while synthesising.
    #[error("{engine} synthesis failed: {why}")]
    Synthesis {
        /// Engine name.
        engine: &'static str,
        /// What it reported.
        why: String,
    },
    /// Resampling or WAV decoding failed.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// A persisted prompt cache is damaged.
    #[error("prompt cache bytes are damaged at byte {offset}: {why}")]
    BadCache {
        /// Byte offset.
        offset: usize,
        /// What is wrong.
        why: String,
    },
}

pub(crate) fn check_rate(rate: u32) -> Result<(), TtsError> {
    if OUTPUT_RATES.contains(&rate) {
        Ok(())
    } else {
        Err(TtsError::UnsupportedRate(rate))
    }
}

/// A text-to-speech engine with its voice and settings fixed. Implementations are shareable
/// across threads; they may serialise synthesis internally (espeak-ng does).
pub trait Synthesizer: Send + Sync {
    /// Identifies the engine, its version, voice and every setting that changes the audio:
    /// the prompt cache keys on it, so two synthesizers with equal fingerprints must produce
    /// the same audio for the same input.
    fn fingerprint(&self) -> String;

    /// Synthesises `input` at `sample_rate` (one of [`OUTPUT_RATES`]).
    fn synthesize(&self, input: SpeechInput<'_>, sample_rate: u32) -> Result<Prompt, TtsError>;
}
