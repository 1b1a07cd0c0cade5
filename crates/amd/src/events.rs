//! What the detector reports: timestamped events and the final result, in the vocabulary of
//! Twilio (`AnsweredBy`), Asterisk app_amd (`AMDSTATUS`/`AMDCAUSE`) and jambonz (event names).

use serde::{Deserialize, Serialize};

/// Twilio's `AnsweredBy` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnsweredBy {
    Human,
    MachineStart,
    MachineEndBeep,
    MachineEndSilence,
    MachineEndOther,
    Fax,
    Unknown,
}

impl AnsweredBy {
    /// The wire name (`machine_end_beep`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            AnsweredBy::Human => "human",
            AnsweredBy::MachineStart => "machine_start",
            AnsweredBy::MachineEndBeep => "machine_end_beep",
            AnsweredBy::MachineEndSilence => "machine_end_silence",
            AnsweredBy::MachineEndOther => "machine_end_other",
            AnsweredBy::Fax => "fax",
            AnsweredBy::Unknown => "unknown",
        }
    }

    /// True for every `machine_*` value.
    pub fn is_machine(self) -> bool {
        matches!(
            self,
            AnsweredBy::MachineStart
                | AnsweredBy::MachineEndBeep
                | AnsweredBy::MachineEndSilence
                | AnsweredBy::MachineEndOther
        )
    }
}

/// Why the greeting was judged a machine (jambonz `reason`; app_amd cause family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineReason {
    /// Speech went on longer than a person answering would talk.
    LongGreeting,
    /// More words than a person answering says (app_amd MAXWORDS).
    MaxWords,
    /// One word longer than `max_word_length_ms` (app_amd MAXWORDLENGTH).
    MaxWordLength,
    /// No speech at all for `initial_silence_ms` (app_amd INITIALSILENCE).
    InitialSilence,
    /// A voicemail beep was heard before any other decision.
    Beep,
}

/// A beep: one steady tone (possibly with harmonics or stepping frequency) within the range.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Beep {
    pub start_ms: u64,
    pub end_ms: u64,
    pub frequency_hz: f32,
    pub level_db: f32,
}

/// A timestamped detection. `at_ms` counts audio from the start of the stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AmdEvent {
    SpeechStart {
        at_ms: u64,
    },
    SpeechEnd {
        at_ms: u64,
    },
    Human {
        at_ms: u64,
    },
    Machine {
        at_ms: u64,
        reason: MachineReason,
    },
    Beep {
        at_ms: u64,
        beep: Beep,
    },
    MachineStoppedSpeaking {
        at_ms: u64,
    },
    NoSpeech {
        at_ms: u64,
    },
    Fax {
        at_ms: u64,
        tone: String,
    },
    Sit {
        at_ms: u64,
        tones: Vec<f32>,
    },
    DecisionTimeout {
        at_ms: u64,
    },
    /// Advice of the learned second opinion on one VAD clip (only with a model; see
    /// [`crate::advisor`]). Never changes the result.
    Clip {
        at_ms: u64,
        clip: crate::advisor::ClipAdvice,
    },
    /// The final result is known (`AmdResult`); it is emitted once.
    Result {
        at_ms: u64,
        result: AmdResult,
    },
}

impl AmdEvent {
    /// Event time in ms of audio.
    pub fn at_ms(&self) -> u64 {
        match self {
            AmdEvent::SpeechStart { at_ms }
            | AmdEvent::SpeechEnd { at_ms }
            | AmdEvent::Human { at_ms }
            | AmdEvent::Machine { at_ms, .. }
            | AmdEvent::Beep { at_ms, .. }
            | AmdEvent::MachineStoppedSpeaking { at_ms }
            | AmdEvent::NoSpeech { at_ms }
            | AmdEvent::Fax { at_ms, .. }
            | AmdEvent::Sit { at_ms, .. }
            | AmdEvent::DecisionTimeout { at_ms }
            | AmdEvent::Clip { at_ms, .. }
            | AmdEvent::Result { at_ms, .. } => *at_ms,
        }
    }

    /// The jambonz event name for this event, where jambonz has one.
    pub fn jambonz_name(&self) -> Option<&'static str> {
        Some(match self {
            AmdEvent::Human { .. } => "amd_human_detected",
            AmdEvent::Machine { .. } => "amd_machine_detected",
            AmdEvent::NoSpeech { .. } => "amd_no_speech_detected",
            AmdEvent::DecisionTimeout { .. } => "amd_decision_timeout",
            AmdEvent::MachineStoppedSpeaking { .. } => "amd_machine_stopped_speaking",
            AmdEvent::Beep { .. } => "amd_tone_detected",
            _ => return None,
        })
    }
}

/// Asterisk app_amd `AMDSTATUS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AsteriskStatus {
    Machine,
    Human,
    Notsure,
    Hangup,
}

/// The final answer for a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AmdResult {
    pub answered_by: AnsweredBy,
    /// Audio time at which the answer was known.
    pub decision_ms: u64,
    /// When the human/machine question itself was settled (in `detect_message_end` mode a
    /// machine is known before its greeting ends).
    pub first_decision_ms: u64,
    pub machine_reason: Option<MachineReason>,
    pub beep: Option<Beep>,
    pub amd_status: AsteriskStatus,
    /// app_amd-style cause, e.g. `LONGGREETING-2400-2400`, `HUMAN-640-1200`.
    pub amd_cause: String,
}
