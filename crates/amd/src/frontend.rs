//! Per-frame signal analysis for the detector: VAD, beep, call-progress tones.
//!
//! Everything here runs on the same 10 ms frames; the detector turns the observations into
//! decisions. Speech is also gated by an absolute floor (app_amd's `silence_threshold`, mean
//! absolute int16 amplitude) so near-silent line noise never counts as a word.

use tympan_audio::beep::{BeepConfig, BeepDetector};
use tympan_audio::tones::{CallProgressDetector, ToneKind};
use tympan_audio::vad::{Vad, VadConfig};

use crate::config::AmdConfig;
use crate::events::Beep;

/// A tone-related observation.
#[derive(Clone, Debug, PartialEq)]
pub enum ToneReport {
    /// A tone is sounding and began at `since_ms` (speech flags from then on are not speech).
    Active { since_ms: u64 },
    /// A complete beep.
    Beep(Beep),
    /// Fax calling (CNG) or answer (CED) tone.
    Fax { tone: &'static str },
    /// Special information tones (frequencies in order).
    Sit { tones: Vec<f32> },
}

/// What one frame showed.
#[derive(Clone, Debug, Default)]
pub struct FrameObs {
    pub speech: bool,
    pub tone_active: bool,
    pub tones: Vec<ToneReport>,
}

/// The analysis chain for one call.
pub struct Frontend {
    vad: Vad,
    beep: BeepDetector,
    progress: CallProgressDetector,
    floor: f32,
}
