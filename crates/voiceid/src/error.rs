//! The crate's error type.

use tympan_audio::AudioError;

/// Everything that can go wrong in voice biometrics. Messages name the field, tensor or byte
/// offset at fault.
#[derive(Debug, thiserror::Error)]
pub enum VoiceIdError {
    /// The audio layer refused the input (resampling, VAD, features).
    #[error("audio: {0}")]
    Audio(#[from] AudioError),
    /// A legacy PyTorch checkpoint could not be read.
    #[error("legacy PyTorch checkpoint, byte {offset}: {why}")]
    Checkpoint {
        /// Byte offset in the file where the problem was found.
        offset: usize,
        /// What is wrong there.
        why: String,
    },
    /// Model weights are missing, mis-shaped or unreadable; names the tensor.
    #[error("weights: {0}")]
    Weights(String),
    /// A setting or argument is out of range; names it.
    #[error("invalid {name}: {why}")]
    InvalidParam {
        /// The field or argument.
        name: &'static str,
        /// Why it is refused.
        why: String,
    },
    /// The audio holds less net speech than the operation needs.
    #[error("not enough speech: {have_ms:.0} ms of net speech, {need_ms:.0} ms needed")]
    NotEnoughSpeech {
        /// Net speech found, ms.
        have_ms: f64,
        /// Net speech required, ms.
        need_ms: f64,
    },
    /// The tensor library failed (shapes or kernels).
    #[error("tensor backend: {0}")]
    Backend(String),
    /// A JSON document (calibration, model card) is malformed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<candle_core::Error> for VoiceIdError {
    fn from(e: candle_core::Error) -> Self {
        VoiceIdError::Backend(e.to_string())
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = VoiceIdError> = std::result::Result<T, E>;

pub(crate) fn invalid(name: &'static str, why: impl Into<String>) -> VoiceIdError {
    VoiceIdError::InvalidParam {
        name,
        why: why.into(),
    }
}
