//! What a call is started with, and how bad settings are refused (the error names the field).

use std::sync::Arc;

use tympan_amd::AmdConfig;
use tympan_ml::Model;

/// Longest call id accepted, in characters.
pub const MAX_CALL_ID_CHARS: usize = 128;
/// Longest platform name accepted, in characters.
pub const MAX_PLATFORM_CHARS: usize = 32;
/// Longest text of a [`Prompt::Say`], in characters.
pub const MAX_SAY_CHARS: usize = 1_000;
/// Longest [`Prompt::File`] path, in characters.
pub const MAX_PROMPT_PATH_CHARS: usize = 512;
/// Longest message the shell plays (it cuts longer audio), in ms. With
/// [`PLAYBACK_GRACE_MS`] it bounds how long the on-beep policy waits for `playback_finished`
/// when the shell did not say how long the message is.
pub const MAX_MESSAGE_MS: u64 = 60_000;
/// Extra time after the message's length before the policy stops waiting for the shell's
/// `playback_finished` and hangs up anyway, in ms.
pub const PLAYBACK_GRACE_MS: u64 = 5_000;
/// Longest digit string of one [`crate::Action::SendDtmf`].
pub const MAX_DTMF_DIGITS: usize = 64;

/// Something to play into the call. The core never opens the file or runs TTS: the shell
/// renders the prompt to PCM and reports `playback_finished` or `playback_failed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// Text to speak (the shell's TTS, e.g. espeak-ng).
    Say { text: String },
    /// An audio file; a relative path the shell resolves under its media directory.
    File { path: String },
}

impl Prompt {
    /// Check the prompt's text or path; `field` prefixes the name in the error.
    pub fn validate(&self, field: &str) -> Result<(), CallError> {
        match self {
            Prompt::Say { text } => {
                let f = format!("{field}.text");
                if text.trim().is_empty() {
                    return Err(CallError::new(f, "is empty"));
                }
                if text.chars().count() > MAX_SAY_CHARS {
                    return Err(CallError::new(
                        f,
                        format!("is longer than {MAX_SAY_CHARS} characters"),
                    ));
                }
            }
            Prompt::File { path } => {
                let f = format!("{field}.path");
                if path.is_empty() {
                    return Err(CallError::new(f, "is empty"));
                }
                if path.chars().count() > MAX_PROMPT_PATH_CHARS {
                    return Err(CallError::new(
                        f,
                        format!("is longer than {MAX_PROMPT_PATH_CHARS} characters"),
                    ));
                }
                if path.starts_with('/') || path.starts_with('\\') || path.contains(':') {
                    return Err(CallError::new(
                        f,
                        format!("`{path}` must be a relative path"),
                    ));
                }
                if path
                    .split(['/', '\\'])
                    .any(|c| c.is_empty() || c == "." || c == "..")
                {
                    return Err(CallError::new(
                        f,
                        format!("`{path}` may not contain `..`, `.` or empty components"),
                    ));
                }
                if path.chars().any(char::is_control) {
                    return Err(CallError::new(f, "contains control characters"));
                }
            }
        }
        Ok(())
    }
}

/// What to do on the first voicemail beep (the first step toward contact flows).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeepPolicy {
    /// Message played after the beep (none: nothing is played).
    pub message: Option<Prompt>,
    /// Hang up once the message has played (at once when there is no message).
    pub hangup: bool,
}

/// One call's settings. Checked by [`crate::Call::new`].
#[derive(Clone, Debug)]
pub struct CallConfig {
    /// The call's id (see [`validate_call_id`]).
    pub call_id: String,
    /// Where the call comes from: `vonage`, `twilio`, `audiosocket`, `sip`, `file`, ...
    /// (lowercase ASCII letters, digits, `_` and `-`).
    pub platform: String,
    /// Rate of the pushed audio: 8000 or 16000 Hz.
    pub sample_rate: u32,
    /// Answering-machine detection (its `sample_rate` must equal the call's); `None` runs no AMD.
    pub amd: Option<AmdConfig>,
    /// The learned second opinion for AMD (clip advice events); needs `amd`.
    pub amd_model: Option<Arc<Model>>,
    /// Detect DTMF in the audio (see the crate docs for how it combines with transport DTMF).
    pub inband_dtmf: bool,
    /// Report call-progress tones (dial tone, ringback, busy, reorder, SIT, fax) as `tone` events.
    pub call_progress: bool,
    /// What to do on the first beep; needs `amd`.
    pub on_beep: Option<BeepPolicy>,
}

impl CallConfig {
    /// A call with AMD at its defaults for `sample_rate`, no model, no beep policy, and the
    /// optional analyzers off: in-band DTMF costs about five times the AMD detector per call
    /// (`cargo bench -p tympan-call`), so it is for transports that do not signal DTMF.
    pub fn new(call_id: impl Into<String>, platform: impl Into<String>, sample_rate: u32) -> Self {
        CallConfig {
            call_id: call_id.into(),
            platform: platform.into(),
            sample_rate,
            amd: Some(AmdConfig {
                sample_rate,
                ..AmdConfig::default()
            }),
            amd_model: None,
            inband_dtmf: false,
            call_progress: false,
            on_beep: None,
        }
    }

    /// Check every field; the error names the first bad one (`amd.<field>` for AMD settings).
    pub fn validate(&self) -> Result<(), CallError> {
        validate_call_id(&self.call_id)?;
        let p = &self.platform;
        if p.is_empty()
            || p.chars().count() > MAX_PLATFORM_CHARS
            || !p
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(CallError::new(
                "platform",
                format!(
                    "`{p}`: 1 to {MAX_PLATFORM_CHARS} lowercase ASCII letters, digits, `_` or `-`"
                ),
            ));
        }
        if self.sample_rate != 8000 && self.sample_rate != 16000 {
            return Err(CallError::new(
                "sample_rate",
                format!("{} Hz; 8000 or 16000 expected", self.sample_rate),
            ));
        }
        match &self.amd {
            Some(a) => {
                if a.sample_rate != self.sample_rate {
                    return Err(CallError::new(
                        "amd.sample_rate",
                        format!(
                            "{} Hz, but the call's sample_rate is {}",
                            a.sample_rate, self.sample_rate
                        ),
                    ));
                }
                a.validate()
                    .map_err(|e| CallError::new(format!("amd.{}", e.field), e.why))?;
            }
            None => {
                if self.amd_model.is_some() {
                    return Err(CallError::new(
                        "amd_model",
                        "a model advises AMD; set `amd` too",
                    ));
                }
                if self.on_beep.is_some() {
                    return Err(CallError::new(
                        "on_beep",
                        "beeps are heard by AMD; set `amd` too",
                    ));
                }
            }
        }
        if let Some(b) = &self.on_beep {
            match &b.message {
                Some(m) => m.validate("on_beep.message")?,
                None if !b.hangup => {
                    return Err(CallError::new(
                        "on_beep",
                        "neither a message nor hangup: nothing to do",
                    ))
                }
                None => {}
            }
        }
        Ok(())
    }
}

/// Check a call id: 1 to [`MAX_CALL_ID_CHARS`] characters, ASCII letters and digits and
/// `.` `_` `-` `:` `@`, starting with a letter or digit, never `..`. Vonage UUIDs, Twilio
/// CallSids, Asterisk AudioSocket UUIDs and SIP Call-IDs of the form `local@host` pass; a path
/// segment (`..`, `a/b`), a query (`a?b`) or an escape (`%2e`) does not.
pub fn validate_call_id(id: &str) -> Result<(), CallError> {
    let bad = |why: String| Err(CallError::new("call_id", why));
    if id.is_empty() {
        return bad("is empty".into());
    }
    if id.len() > MAX_CALL_ID_CHARS {
        return bad(format!("longer than {MAX_CALL_ID_CHARS} characters"));
    }
    if let Some((i, c)) = id
        .char_indices()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':' | '@')))
    {
        return bad(format!("character {c:?} at byte {i} is not allowed"));
    }
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("must start with a letter or digit".into());
    }
    if id.contains("..") {
        return bad("may not contain `..`".into());
    }
    Ok(())
}

/// A bad call setting or input. `field` names it (`call_id`, `sample_rate`,
/// `amd.speech_threshold_ms`, `on_beep.message.text`, `digit`, ...).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid `{field}`: {why}")]
pub struct CallError {
    /// The setting or input at fault.
    pub field: String,
    /// What is wrong with it.
    pub why: String,
}

impl CallError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, why: impl Into<String>) -> Self {
        CallError {
            field: field.into(),
            why: why.into(),
        }
    }
}
