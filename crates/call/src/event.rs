//! What a call reports (typed events, with their published JSON) and what it asks the shell to
//! do (actions).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tympan_amd::{AmdEvent, AmdResult};
use tympan_audio::tones::ToneKind;

use crate::config::Prompt;

/// Something the shell must do for the call. Every action is also reported as a
/// [`CallEvent::Action`], so the call's history shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Render `prompt` to PCM at the call's rate and play it into the call; then report
    /// [`crate::Call::playback_finished`] (or `playback_failed`) with the same `id`.
    Play { id: u64, prompt: Prompt },
    /// Stop the playback `id` if it is still running.
    StopPlayback { id: u64 },
    /// Send DTMF digits to the far end (`0-9 * # A-D`).
    SendDtmf { digits: String },
    /// Hang the call up through the platform.
    Hangup { reason: String },
}

impl Action {
    /// The action's JSON fields: `{"action": "play"|"stop_playback"|"send_dtmf"|"hangup", ...}`.
    /// A play has `id` and `say` (text) or `file` (path).
    pub fn to_json(&self) -> Map<String, Value> {
        let mut o = Map::new();
        match self {
            Action::Play { id, prompt } => {
                o.insert("action".into(), json!("play"));
                o.insert("id".into(), json!(id));
                match prompt {
                    Prompt::Say { text } => o.insert("say".into(), json!(text)),
                    Prompt::File { path } => o.insert("file".into(), json!(path)),
                };
            }
            Action::StopPlayback { id } => {
                o.insert("action".into(), json!("stop_playback"));
                o.insert("id".into(), json!(id));
            }
            Action::SendDtmf { digits } => {
                o.insert("action".into(), json!("send_dtmf"));
                o.insert("digits".into(), json!(digits));
            }
            Action::Hangup { reason } => {
                o.insert("action".into(), json!("hangup"));
                o.insert("reason".into(), json!(reason));
            }
        }
        o
    }
}

/// Where a DTMF digit was heard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DtmfSource {
    /// Detected in the call's audio.
    Inband,
    /// Signalled by the transport (Twilio `dtmf`, AudioSocket 0x03, RFC 4733).
    Transport,
}

impl DtmfSource {
    /// `inband` or `transport`.
    pub fn as_str(self) -> &'static str {
        match self {
            DtmfSource::Inband => "inband",
            DtmfSource::Transport => "transport",
        }
    }
}

/// Signalling from the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// The far end answered (SIP 200 OK, the platform's `answered` status).
    Answered,
    /// The far end hung up: the call ends (a final AMD result is given).
    RemoteHangup,
}

impl Signal {
    /// `answered` or `remote_hangup`.
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Answered => "answered",
            Signal::RemoteHangup => "remote_hangup",
        }
    }
}

/// How a playback ended, as the shell reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlaybackOutcome {
    /// Played to its end (or as far as the far end listened).
    Finished,
    /// Could not be rendered or sent.
    Failed { reason: String },
    /// The shell did not report an end before the safety deadline
    /// ([`crate::config::MAX_MESSAGE_MS`] or the reported length, plus
    /// [`crate::config::PLAYBACK_GRACE_MS`]).
    TimedOut,
}

/// Wire name of a call-progress tone (`dial_tone`, `ringback`, `busy`, `reorder`, `sit`,
/// `fax_cng`, `fax_ced`).
pub fn tone_name(kind: ToneKind) -> &'static str {
    match kind {
        ToneKind::DialTone => "dial_tone",
        ToneKind::Ringback => "ringback",
        ToneKind::Busy => "busy",
        ToneKind::Reorder => "reorder",
        ToneKind::Sit => "sit",
        ToneKind::FaxCng => "fax_cng",
        ToneKind::FaxCed => "fax_ced",
    }
}

/// A call-progress tone heard in the call's audio.
#[derive(Clone, Debug, PartialEq)]
pub struct Tone {
    /// What was heard.
    pub kind: ToneKind,
    /// Start of the tone, ms of audio (25 ms resolution).
    pub start_ms: u64,
    /// End of the tone, ms of audio.
    pub end_ms: u64,
    /// The pattern's frequencies, Hz.
    pub frequencies_hz: Vec<f32>,
}

/// A timestamped happening of the call. `at_ms` is always audio time (ms from the sample
/// count since the call started), never the shell's clock, so the same audio and inputs give
/// the same events whatever the chunking.
#[derive(Clone, Debug, PartialEq)]
pub enum CallEvent {
    /// The call started (always the first event; `at_ms` 0).
    CallStart { platform: String, sample_rate: u32 },
    /// An answering-machine detector event (speech, human, machine, beep, clip, result, ...).
    Amd(AmdEvent),
    /// A DTMF digit. In-band digits are stamped with the end of the tone, transport digits
    /// with the audio time at which they arrived.
    Dtmf {
        at_ms: u64,
        digit: char,
        source: DtmfSource,
    },
    /// A call-progress tone; `at_ms` is the audio time at which it was recognised.
    Tone { at_ms: u64, tone: Tone },
    /// Signalling from the transport.
    Signal { at_ms: u64, signal: Signal },
    /// A playback ended.
    Playback {
        at_ms: u64,
        id: u64,
        outcome: PlaybackOutcome,
    },
    /// The core asked the shell to do something (the same action is returned by
    /// [`crate::Call::poll_action`]).
    Action { at_ms: u64, action: Action },
    /// An event of an analyzer plugged in with [`crate::Call::add_analyzer`]: published as
    /// `{"type": kind, "at_ms", ...fields}`.
    Custom {
        at_ms: u64,
        kind: String,
        fields: Map<String, Value>,
    },
    /// The call ended (always the last event).
    CallEnd { at_ms: u64 },
}

/// A value through JSON text, so `f32` fields keep their short form (`999.998`, not
/// `999.9979858398438`) and read the same wherever the value is shown.
fn short_floats<T: Serialize>(v: &T) -> Value {
    serde_json::to_string(v)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .unwrap_or(Value::Null)
}

/// The final AMD result as JSON (`answered_by`, `decision_ms`, `beep.start_ms`, ...), with
/// the same short-form floats as the events.
pub fn result_json(result: &AmdResult) -> Value {
    short_floats(result)
}

/// The `type` of an AMD event on the wire (its serde tag).
pub fn amd_kind(e: &AmdEvent) -> &'static str {
    match e {
        AmdEvent::SpeechStart { .. } => "speech_start",
        AmdEvent::SpeechEnd { .. } => "speech_end",
        AmdEvent::Human { .. } => "human",
        AmdEvent::Machine { .. } => "machine",
        AmdEvent::Beep { .. } => "beep",
        AmdEvent::MachineStoppedSpeaking { .. } => "machine_stopped_speaking",
        AmdEvent::NoSpeech { .. } => "no_speech",
        AmdEvent::Fax { .. } => "fax",
        AmdEvent::Sit { .. } => "sit",
        AmdEvent::DecisionTimeout { .. } => "decision_timeout",
        AmdEvent::Clip { .. } => "clip",
        AmdEvent::Result { .. } => "result",
    }
}

impl CallEvent {
    /// Event time, ms of audio.
    pub fn at_ms(&self) -> u64 {
        match self {
            CallEvent::CallStart { .. } => 0,
            CallEvent::Amd(e) => e.at_ms(),
            CallEvent::Dtmf { at_ms, .. }
            | CallEvent::Tone { at_ms, .. }
            | CallEvent::Signal { at_ms, .. }
            | CallEvent::Playback { at_ms, .. }
            | CallEvent::Action { at_ms, .. }
            | CallEvent::Custom { at_ms, .. }
            | CallEvent::CallEnd { at_ms } => *at_ms,
        }
    }

    /// The event's `type` on the wire.
    pub fn kind(&self) -> String {
        match self {
            CallEvent::CallStart { .. } => "call_start".into(),
            CallEvent::Amd(e) => amd_kind(e).into(),
            CallEvent::Dtmf { .. } => "dtmf".into(),
            CallEvent::Tone { .. } => "tone".into(),
            CallEvent::Signal { signal, .. } => signal.as_str().into(),
            CallEvent::Playback { outcome, .. } => match outcome {
                PlaybackOutcome::Finished => "playback_finished".into(),
                PlaybackOutcome::Failed { .. } => "playback_failed".into(),
                PlaybackOutcome::TimedOut => "playback_timeout".into(),
            },
            CallEvent::Action { .. } => "action".into(),
            CallEvent::Custom { kind, .. } => kind.clone(),
            CallEvent::CallEnd { .. } => "call_end".into(),
        }
    }

    /// The messages published for this event on `/v1/events`, in order. Each is an object
    /// with `call_id`, `type` and `at_ms`:
    /// - AMD events: `{"call_id", "type", "at_ms", ...AmdEvent fields}` (e.g. `beep.start_ms`,
    ///   `result.answered_by`), floats in short form; a `beep` is followed by the Vonage
    ///   sample's drop-in `{"uuids": [call_id], "beep_detected": true}` (which has no `type`);
    /// - `call_start {platform, sample_rate}`, `call_end`;
    /// - `dtmf {digit, source: "inband"|"transport"}`;
    /// - `tone {tone, start_ms, end_ms, frequencies_hz}`;
    /// - `answered`, `remote_hangup`;
    /// - `playback_finished|playback_failed|playback_timeout {id, reason?}`;
    /// - `action {action, ...}` (see [`Action::to_json`]);
    /// - custom analyzer events `{type: kind, ...fields}`.
    pub fn to_json(&self, call_id: &str) -> Vec<Value> {
        let mut o = match self {
            CallEvent::Amd(e) => match short_floats(e) {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            _ => Map::new(),
        };
        o.insert("call_id".into(), json!(call_id));
        o.insert("type".into(), json!(self.kind()));
        o.insert("at_ms".into(), json!(self.at_ms()));
        match self {
            CallEvent::CallStart {
                platform,
                sample_rate,
            } => {
                o.insert("platform".into(), json!(platform));
                o.insert("sample_rate".into(), json!(sample_rate));
            }
            CallEvent::Amd(_) | CallEvent::Signal { .. } | CallEvent::CallEnd { .. } => {}
            CallEvent::Dtmf { digit, source, .. } => {
                o.insert("digit".into(), json!(digit.to_string()));
                o.insert("source".into(), json!(source.as_str()));
            }
            CallEvent::Tone { tone, .. } => {
                o.insert("tone".into(), json!(tone_name(tone.kind)));
                o.insert("start_ms".into(), json!(tone.start_ms));
                o.insert("end_ms".into(), json!(tone.end_ms));
                o.insert("frequencies_hz".into(), short_floats(&tone.frequencies_hz));
            }
            CallEvent::Playback { id, outcome, .. } => {
                o.insert("id".into(), json!(id));
                if let PlaybackOutcome::Failed { reason } = outcome {
                    o.insert("reason".into(), json!(reason));
                }
            }
            CallEvent::Action { action, .. } => o.extend(action.to_json()),
            CallEvent::Custom { fields, .. } => {
                for (k, v) in fields {
                    if !matches!(k.as_str(), "call_id" | "type" | "at_ms") {
                        o.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        let mut out = vec![Value::Object(o)];
        if matches!(self, CallEvent::Amd(AmdEvent::Beep { .. })) {
            out.push(json!({"uuids": [call_id], "beep_detected": true}));
        }
        out
    }
}
