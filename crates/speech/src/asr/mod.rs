//! Speech recognition for answers, sans I/O and streaming.
//!
//! A [`RecognizerEngine`] starts one [`Recognizer`] per question ([`RecognizerEngine::start`]
//! with the question's [`AnswerType`], the call audio's rate and the [`EndpointConfig`]). The
//! shell then pushes the call's audio as it arrives ([`Recognizer::push`], any chunk size, 8 or
//! 16 kHz 16-bit PCM) and gets [`AsrEvent`]s back: [`AsrEvent::SpeechStart`] (for barge-in)
//! and, once, [`AsrEvent::Done`] with the [`Outcome`] — a [`Recognition`] (transcript,
//! confidence, where in the audio it was said), [`Outcome::NoMatch`] or
//! [`Outcome::NoSpeech`]. If the input ends first (hang-up, a key press, the flow moves on)
//! [`Recognizer::finish`] gives the outcome of what was heard. Every time is audio time —
//! samples pushed since the start — never a clock.
//!
//! Endpointing ([`endpoint`]) runs the `audio` crate's VAD and `Segmenter`: an utterance starts
//! after `min_speech_ms` of speech and ends after `end_silence_ms` without; no speech within
//! `no_input_timeout_ms` is `NoSpeech`; an utterance is cut at `max_utterance_ms`.
//!
//! The engine is PocketSphinx ([`sphinx`]) with one JSGF grammar per answer type
//! ([`grammar`]); every grammar also accepts "repeat" phrases ([`Recognition::is_repeat`]).

pub mod endpoint;
pub mod eval;
pub mod grammar;
pub mod sphinx;
mod sphinx_ffi;

pub use endpoint::{EndpointConfig, EndpointEvent, Endpointer, Utterance};
pub use sphinx::{SphinxConfig, SphinxEngine, SphinxRecognizer};

use crate::AnswerType;
use tympan_audio::AudioError;

/// Input rates a recogniser accepts, Hz.
pub const INPUT_RATES: [u32; 2] = [8000, 16000];

/// What a recogniser reports while audio is pushed.
#[derive(Debug, Clone, PartialEq)]
pub enum AsrEvent {
    /// The caller started speaking, at this audio time (ms from the first sample pushed):
    /// stop a prompt that allows barge-in.
    SpeechStart {
        /// Start of the speech, ms.
        at_ms: f64,
    },
    /// The final outcome; nothing follows it.
    Done(Outcome),
}

/// The end of one recognition.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The utterance matched the grammar.
    Recognized(Recognition),
    /// Speech was heard but nothing in the grammar matched it well enough.
    NoMatch {
        /// Start of the utterance, ms.
        start_ms: f64,
        /// End of the utterance, ms.
        end_ms: f64,
        /// The decoder's best guess, if any, with its confidence.
        best: Option<(String, f32)>,
    },
    /// No speech before the no-input timeout (or before the input ended).
    NoSpeech {
        /// Audio time when it was decided, ms.
        at_ms: f64,
    },
}

impl Outcome {
    /// The transcript when recognised.
    pub fn transcript(&self) -> Option<&str> {
        match self {
            Outcome::Recognized(r) => Some(&r.transcript),
            _ => None,
        }
    }
}

/// A recognised utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct Recognition {
    /// The words, lower case, separated by single spaces, spelled as in the grammar.
    pub transcript: String,
    /// Posterior probability of the hypothesis, 0–1 (PocketSphinx's `ps_get_prob`).
    pub confidence: f32,
    /// The decoder's path score (log domain, engine-specific; higher is better).
    pub score: i32,
    /// Start of the utterance (speech start as the VAD found it), ms of audio.
    pub start_ms: f64,
    /// End of the utterance (end of the last speech frame), ms of audio.
    pub end_ms: f64,
    /// Cut at the maximum utterance length.
    pub truncated: bool,
    /// The transcript is one of the "repeat" phrases ([`grammar::REPEAT_RULE`]).
    pub is_repeat: bool,
}

/// Why recognition failed (not: nothing was said — that is an [`Outcome`]).
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    /// An input rate other than [`INPUT_RATES`].
    #[error("input rate {0} Hz is not supported (8000 or 16000)")]
    UnsupportedRate(u32),
    /// A setting outside its range.
    #[error("invalid recogniser setting {name}: {why}")]
    InvalidSetting {
        /// The setting.
        name: &'static str,
        /// Its range or the problem.
        why: String,
    },
    /// The engine could not start (model files missing, bad configuration).
    #[error("pocketsphinx could not start: {0}")]
    EngineInit(String),
    /// A grammar does not parse or does not load.
    #[error("grammar {name}: {why}")]
    Grammar {
        /// The grammar (answer type) name.
        name: String,
        /// What is wrong.
        why: String,
    },
    /// The decoder failed on an utterance.
    #[error("pocketsphinx decoding failed: {0}")]
    Decode(String),
    /// Resampling failed.
    #[error(transparent)]
    Audio(#[from] AudioError),
}

/// One recognition in progress (one question); see the module docs.
pub trait Recognizer: Send {
    /// The input rate, Hz.
    fn sample_rate(&self) -> u32;

    /// Pushes call audio (any length); returns what happened in it, in order. Once
    /// [`AsrEvent::Done`] has been returned, further audio is ignored.
    fn push(&mut self, samples: &[i16]) -> Result<Vec<AsrEvent>, AsrError>;

    /// Ends the input: decodes an utterance in progress, else `NoSpeech`. After `Done` it
    /// returns that outcome again.
    fn finish(&mut self) -> Result<Outcome, AsrError>;

    /// Audio pushed so far, ms.
    fn elapsed_ms(&self) -> f64;

    /// Whether the outcome is known.
    fn is_done(&self) -> bool;
}

/// Starts recognitions; shared across calls and threads.
pub trait RecognizerEngine: Send + Sync {
    /// A recogniser for one answer of `answer_type` in audio at `sample_rate`.
    fn start(
        &self,
        answer_type: AnswerType,
        sample_rate: u32,
        endpoint: &EndpointConfig,
    ) -> Result<Box<dyn Recognizer>, AsrError>;
}

pub(crate) fn check_rate(rate: u32) -> Result<(), AsrError> {
    if INPUT_RATES.contains(&rate) {
        Ok(())
    } else {
        Err(AsrError::UnsupportedRate(rate))
    }
}
