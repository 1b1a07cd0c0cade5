//! What the shell tells the interpreter ([`Event`]) and what the interpreter asks of the shell
//! ([`Action`]). Every request action carries an `id`; the report of it carries the same id,
//! and reports with an id the interpreter no longer waits for are ignored.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tympan_speech::AnswerType;

/// A prompt ready to play: rendered text, SSML (inside `<speak>`), or an audio file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// Plain text for the text-to-speech voice.
    Text(String),
    /// SSML, always a `<speak>` document.
    Ssml(String),
    /// An audio file id or path relative to the shell's media directory.
    Audio(String),
}

impl Prompt {
    /// The text, SSML or path.
    pub fn as_str(&self) -> &str {
        match self {
            Prompt::Text(s) | Prompt::Ssml(s) | Prompt::Audio(s) => s,
        }
    }
}

/// How a transfer is carried out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    /// Ask the far end to call the target (SIP REFER); the call leaves us.
    #[default]
    Refer,
    /// Place a new leg to the target and bridge the two.
    Bridge,
}

/// Why a recording ended, as reported by the shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingEnd {
    /// `end_on_silence_ms` of silence.
    Silence,
    /// `max_length_ms` reached.
    MaxLength,
    /// A key of `end_on_dtmf` (the interpreter asked for the stop).
    Dtmf,
    /// The interpreter asked for the stop ([`Action::StopRecording`]).
    Stopped,
    /// The caller hung up.
    Hangup,
}

/// An input to the interpreter. `now_ms` is passed alongside (see
/// [`crate::Interpreter::handle`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The call is up (outbound: answered; inbound: accepted): the flow starts.
    Answered,
    /// Playback `id` began and lasts `duration_ms` (optional; tightens the safety deadline).
    PlaybackStarted { id: u64, duration_ms: u64 },
    /// Playback `id` played to its end.
    PlaybackFinished { id: u64 },
    /// Playback `id` could not be rendered or played.
    PlaybackFailed { id: u64, reason: String },
    /// The caller started speaking (the shell's voice activity detector): barge-in.
    SpeechStarted,
    /// A key press (`0-9 * # A-D`).
    Dtmf { digit: char },
    /// Recognition `id` heard this (an empty transcript counts as no input).
    Recognized {
        id: u64,
        transcript: String,
        confidence: f32,
    },
    /// Recognition `id` heard no speech before its own timeout.
    NoSpeech { id: u64 },
    /// Recognition `id` failed.
    RecognitionFailed { id: u64, reason: String },
    /// Recording `id` ended; `recording` is its id in the store.
    RecordingFinished {
        id: u64,
        recording: String,
        duration_ms: u64,
        reason: RecordingEnd,
    },
    /// Recording `id` failed.
    RecordingFailed { id: u64, reason: String },
    /// The answering-machine detector decided: `human`, `machine_start`,
    /// `machine_end_beep`, `machine_end_silence`, `machine_end_other`, `fax` or `unknown`
    /// (the call core's `answered_by`). The first result counts.
    AmdResult { answered_by: String },
    /// The voicemail beep was heard.
    Beep,
    /// HTTP request `id` got a response (`body`: the parsed JSON, if it was JSON).
    HttpResponse {
        id: u64,
        status: u16,
        body: Option<Value>,
    },
    /// HTTP request `id` got no response (connection refused, timed out, ...).
    HttpFailed { id: u64, reason: String },
    /// Transfer `id` ended: `ok` when the call was handed over.
    TransferFinished {
        id: u64,
        ok: bool,
        reason: Option<String>,
    },
    /// The shell's answer to an [`Action::Extension`] request.
    ExtensionResult {
        id: u64,
        ok: bool,
        /// The result when `ok`, else an error text (a string) or null.
        value: Value,
    },
    /// The caller hung up.
    RemoteHangup,
}

impl Event {
    /// The event's wire name (`playback_finished`).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Answered => "answered",
            Event::PlaybackStarted { .. } => "playback_started",
            Event::PlaybackFinished { .. } => "playback_finished",
            Event::PlaybackFailed { .. } => "playback_failed",
            Event::SpeechStarted => "speech_started",
            Event::Dtmf { .. } => "dtmf",
            Event::Recognized { .. } => "recognized",
            Event::NoSpeech { .. } => "no_speech",
            Event::RecognitionFailed { .. } => "recognition_failed",
            Event::RecordingFinished { .. } => "recording_finished",
            Event::RecordingFailed { .. } => "recording_failed",
            Event::AmdResult { .. } => "amd_result",
            Event::Beep => "beep",
            Event::HttpResponse { .. } => "http_response",
            Event::HttpFailed { .. } => "http_failed",
            Event::TransferFinished { .. } => "transfer_finished",
            Event::ExtensionResult { .. } => "extension_result",
            Event::RemoteHangup => "remote_hangup",
        }
    }
}

/// How a flow ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// A `hangup` block, or a block without the exit it took (the flow ran to its end).
    Completed { block: Option<String> },
    /// The caller hung up while `block` ran (`None`: before the flow started).
    CallerHungUp { block: Option<String> },
    /// A `transfer` block handed the call over.
    Transferred { block: String, to: String },
    /// A block failed without an `on_error` exit, or the flow looped without waiting.
    Error {
        block: Option<String>,
        reason: String,
    },
}

impl Outcome {
    /// `completed`, `caller_hung_up`, `transferred` or `error`.
    pub fn status(&self) -> &'static str {
        match self {
            Outcome::Completed { .. } => "completed",
            Outcome::CallerHungUp { .. } => "caller_hung_up",
            Outcome::Transferred { .. } => "transferred",
            Outcome::Error { .. } => "error",
        }
    }
}

/// Something the shell must do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Render and play `prompt`; report [`Event::PlaybackFinished`] (or `PlaybackFailed`).
    /// `barge_in`: the interpreter stops it on caller speech or a key (the shell only plays).
    Play {
        id: u64,
        prompt: Prompt,
        barge_in: bool,
    },
    /// Stop playback `id` (no report is expected).
    StopPlayback { id: u64 },
    /// Start the recogniser for an answer of `answer_type`; report [`Event::Recognized`],
    /// [`Event::NoSpeech`] or [`Event::RecognitionFailed`], and [`Event::SpeechStarted`] when
    /// the caller starts talking. `no_input_timeout_ms` and `max_speech_ms` are hints for the
    /// recogniser's endpointing: the interpreter keeps its own deadlines.
    StartRecognition {
        id: u64,
        answer_type: AnswerType,
        no_input_timeout_ms: u64,
        max_speech_ms: u64,
    },
    /// Stop recognition `id` (no report is expected).
    StopRecognition { id: u64 },
    /// Record the caller (a WAV in the store); end after `max_length_ms`, or after
    /// `end_on_silence_ms` of silence (counted from the start or from the end of speech);
    /// play a beep first when `beep`. Report [`Event::RecordingFinished`]. Keys of
    /// `end_on_dtmf` are handled by the interpreter, which sends [`Action::StopRecording`].
    StartRecording {
        id: u64,
        max_length_ms: u64,
        end_on_silence_ms: Option<u64>,
        end_on_dtmf: String,
        beep: bool,
    },
    /// Stop recording `id`, keep it and report [`Event::RecordingFinished`].
    StopRecording { id: u64 },
    /// POST `body` as JSON to `url` with `headers`, giving up after `timeout_ms`; report
    /// [`Event::HttpResponse`] or [`Event::HttpFailed`].
    HttpRequest {
        id: u64,
        url: String,
        headers: Vec<(String, String)>,
        body: Value,
        timeout_ms: u64,
    },
    /// Transfer the call to `to` (a `sip:`/`sips:`/`tel:` URI or a number); report
    /// [`Event::TransferFinished`].
    Transfer {
        id: u64,
        to: String,
        mode: TransferMode,
    },
    /// Hang the call up.
    Hangup { reason: String },
    /// Work for an extension block type; report [`Event::ExtensionResult`].
    Extension {
        id: u64,
        block_type: String,
        block_id: String,
        payload: Value,
        timeout_ms: u64,
    },
    /// The flow ended (always the last action): its outcome and the final attributes.
    Finished {
        outcome: Outcome,
        attributes: Map<String, Value>,
    },
}

impl Action {
    /// The action's wire name (`start_recognition`).
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Play { .. } => "play",
            Action::StopPlayback { .. } => "stop_playback",
            Action::StartRecognition { .. } => "start_recognition",
            Action::StopRecognition { .. } => "stop_recognition",
            Action::StartRecording { .. } => "start_recording",
            Action::StopRecording { .. } => "stop_recording",
            Action::HttpRequest { .. } => "http_request",
            Action::Transfer { .. } => "transfer",
            Action::Hangup { .. } => "hangup",
            Action::Extension { .. } => "extension",
            Action::Finished { .. } => "finished",
        }
    }
}
