//! Tympan's voice biometrics core (sans I/O): speaker embedders behind one trait, the GE2E
//! d-vector encoder with resemblyzer's pretrained weights (converted from the legacy PyTorch
//! file by [`torch_legacy`]), net-speech accounting, calibrated scores and evaluation metrics;
//! Voice ID-compatible batch job manifests ([`manifest`]) and the job state machine ([`job`]);
//! voiceprints sealed at rest with AES-256-GCM ([`seal`]).
//!
//! Bytes and samples in, embeddings, scores and decisions out: nothing here opens a file,
//! reads a clock or spawns a task. The shell (CLI, jobs runner, server) reads audio and
//! weight files and hands their bytes or samples to these functions.

pub mod channel;
pub mod embedder;
pub mod error;
pub mod eval;
pub mod ge2e;
pub mod job;
pub mod manifest;
pub mod metrics;
pub mod score;
pub mod seal;
pub mod speech;
pub mod torch_legacy;

pub use embedder::{Embedder, EmbedderInfo, Embedding};
pub use error::{Result, VoiceIdError};
pub use ge2e::{Backend, Ge2eConfig, Ge2eEncoder, Ge2eWeights};
pub use score::{Calibration, Decision, NormKind, ScoreNorm, Verification, Verifier};
pub use speech::{net_speech, NetSpeech, SpeechMeter, SpeechRequirements};
