//! Simulation: a scripted callee and a simulated shell drive the interpreter in virtual time,
//! so a 60-second call runs in milliseconds (`tympan flow simulate FILE --script CALLEE.json`).
//!
//! # Script format
//!
//! A JSON object (or just the `callee` list):
//!
//! ```json
//! {
//!   "attributes": {"first_name": "Ann"},
//!   "call_start_unix_ms": 1767225600000,
//!   "utc_offset_minutes": 0,
//!   "amd": {"answered_by": "machine_end_other", "at_ms": 3000, "beep_at_ms": 7500},
//!   "callee": [
//!     {"after_prompt": 1, "say": "yes I do"},
//!     {"during_prompt": 2, "delay_ms": 300, "say": "repeat"},
//!     {"after_prompt": 3, "delay_ms": 500, "keys": "1234#"},
//!     {"after_recording_start": 1, "say": "one two three", "duration_ms": 9000},
//!     {"at_ms": 60000, "hangup": true}
//!   ],
//!   "webhooks": [{"status": 503}, {"status": 200, "body": {"risk": 0.2}, "delay_ms": 80},
//!                {"fail": "connection refused"}, {"timeout": true}],
//!   "extensions": {"classify": [{"result": {"probability": 0.91}, "delay_ms": 40},
//!                               {"error": "model not loaded"}]},
//!   "transfer": {"ok": true, "delay_ms": 1000},
//!   "max_ms": 600000
//! }
//! ```
//!
//! - A **callee step** has one anchor — `at_ms` (virtual time since the answer),
//!   `after_prompt: N` (when the N-th prompt of the call, counting every play from 1, ended:
//!   played out or stopped), `during_prompt: N` (when it started) or
//!   `after_recording_start: N` (when the N-th recording started) — plus `delay_ms` after the
//!   anchor, and one act: `say` (with `duration_ms`, default [`SIM_MS_PER_WORD`] per word, and
//!   `confidence`, default 0.9), `keys` (one key every `key_interval_ms`, default
//!   [`SIM_KEY_INTERVAL_MS`]) or `"hangup": true`. A step whose anchor never comes is reported
//!   in `unused_steps`.
//! - **The simulated shell**: a text prompt lasts [`SIM_PROMPT_BASE_MS`] +
//!   [`SIM_MS_PER_CHAR`] per character (SSML tags not counted), an audio prompt
//!   [`SIM_AUDIO_PROMPT_MS`]. Speech start is always reported (`speech_started`); a
//!   recognition running when an utterance ends reports its transcript
//!   [`SIM_ENDPOINT_MS`] later. Recordings end on `max_length_ms`, on the stop the
//!   interpreter sends, or after `end_on_silence_ms` without speech (counted from the start
//!   or the end of the last utterance); their ids are `rec-1`, `rec-2`, ...
//! - **Answers of the shell** are taken in order: `webhooks` for HTTP requests (`status` with
//!   an optional `body`, `fail` with a reason, or `timeout`: a failure after the request's
//!   timeout), `extensions.TYPE` for extension requests (`result` or `error`), `transfer` for
//!   transfers (default: ok after 1 s). A request with no scripted answer fails at once
//!   ("no scripted response").
//! - `amd` reports the detector's result (and the beep) at those times; without it no AMD
//!   result comes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::answer::{words, AnswerParser};
use crate::error::FlowError;
use crate::event::{Action, Event, Outcome, Prompt, RecordingEnd};
use crate::flow::Flow;
use crate::interp::{CallContext, Interpreter};
use crate::trace::Trace;

/// Fixed part of a simulated text prompt's length, ms.
pub const SIM_PROMPT_BASE_MS: u64 = 300;
/// Length of a simulated text prompt per character, ms (about 15 characters a second).
pub const SIM_MS_PER_CHAR: u64 = 65;
/// Length of a simulated audio prompt, ms.
pub const SIM_AUDIO_PROMPT_MS: u64 = 3_000;
/// Length of a simulated utterance per word when `duration_ms` is not given, ms.
pub const SIM_MS_PER_WORD: u64 = 350;
/// Time from the end of an utterance to the recogniser's result, ms.
pub const SIM_ENDPOINT_MS: u64 = 400;
/// Gap between simulated key presses when `key_interval_ms` is not given, ms.
pub const SIM_KEY_INTERVAL_MS: u64 = 250;
/// Delay of a scripted transfer report when `delay_ms` is not given, ms.
pub const SIM_TRANSFER_MS: u64 = 1_000;
/// Longest simulated call when `max_ms` is not given, ms of virtual time.
pub const SIM_MAX_MS: u64 = 3_600_000;
/// Most callee steps in a script.
pub const SIM_MAX_STEPS: usize = 10_000;

/// When a callee step happens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// Virtual ms since the answer.
    At(u64),
    /// The N-th prompt (from 1) ended.
    AfterPrompt(u32),
    /// The N-th prompt started.
    DuringPrompt(u32),
    /// The N-th recording started.
    AfterRecordingStart(u32),
}

/// What the callee does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CalleeAct {
    /// Speaks these words for `duration_ms`; a recogniser hears `confidence`.
    Say {
        text: String,
        duration_ms: u64,
        confidence: f32,
    },
    /// Presses these keys, one every `interval_ms`.
    Keys { keys: String, interval_ms: u64 },
    /// Hangs up.
    Hangup,
}

/// One callee step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptStep {
    /// When.
    pub anchor: Anchor,
    /// After the anchor, ms.
    pub delay_ms: u64,
    /// What.
    pub act: CalleeAct,
}

/// A scripted answer to an HTTP request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptHttp {
    /// A response.
    Response {
        status: u16,
        body: Option<Value>,
        delay_ms: u64,
    },
    /// No response: a failure with this reason.
    Fail { reason: String, delay_ms: u64 },
    /// No response until the request's timeout.
    Timeout,
}

/// A scripted answer to an extension request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptExtension {
    /// Success or failure.
    pub ok: bool,
    /// The result, or the error text.
    pub value: Value,
    /// After the request, ms.
    pub delay_ms: u64,
}

/// The scripted transfer report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptTransfer {
    /// Whether the transfer succeeds.
    pub ok: bool,
    /// After the request, ms.
    pub delay_ms: u64,
    /// Why it failed.
    pub reason: Option<String>,
}

/// The scripted AMD result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScriptAmd {
    /// `human`, `machine_end_beep`, ...
    pub answered_by: String,
    /// When the result comes, virtual ms.
    pub at_ms: u64,
    /// When the beep comes, virtual ms.
    pub beep_at_ms: Option<u64>,
}

/// A simulation script (see the module docs for its JSON form).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Script {
    /// The call's attributes (over the flow's defaults).
    pub attributes: Map<String, Value>,
    /// The call's start for date answers, ms since the Unix epoch.
    pub call_start_unix_ms: Option<i64>,
    /// The callee's offset from UTC, minutes.
    pub utc_offset_minutes: i32,
    /// The AMD result, if any.
    pub amd: Option<ScriptAmd>,
    /// The callee's steps.
    pub callee: Vec<ScriptStep>,
    /// Answers to HTTP requests, in order.
    pub webhooks: Vec<ScriptHttp>,
    /// Answers to extension requests, per type, in order.
    pub extensions: BTreeMap<String, Vec<ScriptExtension>>,
    /// The transfer report.
    pub transfer: ScriptTransfer,
    /// Longest simulated call, virtual ms.
    pub max_ms: u64,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            attributes: Map::new(),
            call_start_unix_ms: None,
            utc_offset_minutes: 0,
            amd: None,
            callee: Vec::new(),
            webhooks: Vec::new(),
            extensions: BTreeMap::new(),
            transfer: ScriptTransfer {
                ok: true,
                delay_ms: SIM_TRANSFER_MS,
                reason: None,
            },
            max_ms: SIM_MAX_MS,
        }
    }
}

type Fields<'a> = &'a Map<String, Value>;

fn err(field: impl Into<String>, message: impl Into<String>) -> FlowError {
    FlowError::flow(field, message)
}

fn check_keys(o: Fields, field: &str, allowed: &[&str]) -> Result<(), FlowError> {
    for k in o.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(err(
                format!("{field}{}{k}", if field.is_empty() { "" } else { "." }),
                format!("unknown field (expected one of {})", allowed.join(", ")),
            ));
        }
    }
    Ok(())
}

fn get_u64(o: Fields, k: &str, field: &str) -> Result<Option<u64>, FlowError> {
    match o.get(k) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| err(format!("{field}.{k}"), "must be a whole number ≥ 0")),
    }
}

fn get_str<'a>(
    o: &'a Map<String, Value>,
    k: &str,
    field: &str,
) -> Result<Option<&'a str>, FlowError> {
    match o.get(k) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| err(format!("{field}.{k}"), "must be a string")),
    }
}

fn object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, FlowError> {
    v.as_object().ok_or_else(|| err(field, "must be an object"))
}

impl Script {
    /// Parse a script; errors name the field (`callee[2].say`).
    pub fn parse(text: &str) -> Result<Script, FlowError> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| err("", crate::error::json_syntax(&e)))?;
        Self::from_value(&v)
    }

    /// [`Script::parse`] naming the source in errors.
    pub fn parse_named(source: &str, text: &str) -> Result<Script, FlowError> {
        Self::parse(text).map_err(|mut e| {
            e.source = Some(source.to_string());
            e
        })
    }

    /// A script from JSON.
    pub fn from_value(v: &Value) -> Result<Script, FlowError> {
        let mut s = Script::default();
        let (o, steps) = match v {
            Value::Array(a) => (None, Some(a)),
            Value::Object(o) => (Some(o), None),
            _ => return Err(err("", "a script is an object or a list of callee steps")),
        };
        if let Some(o) = o {
            check_keys(
                o,
                "",
                &[
                    "attributes",
                    "call_start_unix_ms",
                    "utc_offset_minutes",
                    "amd",
                    "callee",
                    "webhooks",
                    "extensions",
                    "transfer",
                    "max_ms",
                ],
            )?;
            if let Some(a) = o.get("attributes") {
                s.attributes = object(a, "attributes")?.clone();
            }
            if let Some(t) = o.get("call_start_unix_ms") {
                s.call_start_unix_ms = Some(
                    t.as_i64()
                        .ok_or_else(|| err("call_start_unix_ms", "must be a whole number"))?,
                );
            }
            if let Some(t) = o.get("utc_offset_minutes") {
                s.utc_offset_minutes =
                    t.as_i64().filter(|m| m.abs() <= 24 * 60).ok_or_else(|| {
                        err(
                            "utc_offset_minutes",
                            "must be a whole number of minutes within ±1440",
                        )
                    })? as i32;
            }
            if let Some(a) = o.get("amd") {
                let a = object(a, "amd")?;
                check_keys(a, "amd", &["answered_by", "at_ms", "beep_at_ms"])?;
                s.amd = Some(ScriptAmd {
                    answered_by: get_str(a, "answered_by", "amd")?
                        .ok_or_else(|| err("amd.answered_by", "is required"))?
                        .to_string(),
                    at_ms: get_u64(a, "at_ms", "amd")?.unwrap_or(0),
                    beep_at_ms: get_u64(a, "beep_at_ms", "amd")?,
                });
            }
            if let Some(w) = o.get("webhooks") {
                let w = w
                    .as_array()
                    .ok_or_else(|| err("webhooks", "must be a list"))?;
                for (i, h) in w.iter().enumerate() {
                    let f = format!("webhooks[{i}]");
                    let h = object(h, &f)?;
                    check_keys(h, &f, &["status", "body", "delay_ms", "fail", "timeout"])?;
                    let delay_ms = get_u64(h, "delay_ms", &f)?.unwrap_or(0);
                    s.webhooks
                        .push(if let Some(st) = get_u64(h, "status", &f)? {
                            if !(100..=599).contains(&st) {
                                return Err(err(format!("{f}.status"), "must be 100-599"));
                            }
                            ScriptHttp::Response {
                                status: st as u16,
                                body: h.get("body").cloned(),
                                delay_ms,
                            }
                        } else if let Some(r) = get_str(h, "fail", &f)? {
                            ScriptHttp::Fail {
                                reason: r.to_string(),
                                delay_ms,
                            }
                        } else if h.get("timeout") == Some(&Value::Bool(true)) {
                            ScriptHttp::Timeout
                        } else {
                            return Err(err(&f, "needs status, fail or \"timeout\": true"));
                        });
                }
            }
            if let Some(x) = o.get("extensions") {
                for (ty, list) in object(x, "extensions")? {
                    let f = format!("extensions.{ty}");
                    let list = list.as_array().ok_or_else(|| err(&f, "must be a list"))?;
                    let mut out = Vec::new();
                    for (i, r) in list.iter().enumerate() {
                        let f = format!("{f}[{i}]");
                        let r = object(r, &f)?;
                        check_keys(r, &f, &["result", "error", "delay_ms"])?;
                        let delay_ms = get_u64(r, "delay_ms", &f)?.unwrap_or(0);
                        out.push(match (r.get("result"), r.get("error")) {
                            (Some(v), None) => ScriptExtension {
                                ok: true,
                                value: v.clone(),
                                delay_ms,
                            },
                            (None, Some(e)) => ScriptExtension {
                                ok: false,
                                value: e.clone(),
                                delay_ms,
                            },
                            _ => return Err(err(&f, "needs result or error (not both)")),
                        });
                    }
                    s.extensions.insert(ty.clone(), out);
                }
            }
            if let Some(t) = o.get("transfer") {
                let t = object(t, "transfer")?;
                check_keys(t, "transfer", &["ok", "delay_ms", "reason"])?;
                s.transfer = ScriptTransfer {
                    ok: t
                        .get("ok")
                        .map(|v| {
                            v.as_bool()
                                .ok_or_else(|| err("transfer.ok", "must be true or false"))
                        })
                        .transpose()?
                        .unwrap_or(true),
                    delay_ms: get_u64(t, "delay_ms", "transfer")?.unwrap_or(SIM_TRANSFER_MS),
                    reason: get_str(t, "reason", "transfer")?.map(str::to_string),
                };
            }
            if let Some(m) = get_u64(o, "max_ms", "")? {
                s.max_ms = m.min(SIM_MAX_MS);
            }
        }
        let steps = match (steps, o.and_then(|o| o.get("callee"))) {
            (Some(a), _) => Some(a),
            (None, Some(c)) => Some(
                c.as_array()
                    .ok_or_else(|| err("callee", "must be a list"))?,
            ),
            _ => None,
        };
        for (i, st) in steps.into_iter().flatten().enumerate() {
            if i >= SIM_MAX_STEPS {
                return Err(err("callee", format!("at most {SIM_MAX_STEPS} steps")));
            }
            s.callee.push(parse_step(st, &format!("callee[{i}]"))?);
        }
        Ok(s)
    }
}

fn parse_step(v: &Value, f: &str) -> Result<ScriptStep, FlowError> {
    let o = object(v, f)?;
    check_keys(
        o,
        f,
        &[
            "at_ms",
            "after_prompt",
            "during_prompt",
            "after_recording_start",
            "delay_ms",
            "say",
            "duration_ms",
            "confidence",
            "keys",
            "key_interval_ms",
            "hangup",
        ],
    )?;
    let mut anchors = Vec::new();
    if let Some(t) = get_u64(o, "at_ms", f)? {
        anchors.push(Anchor::At(t));
    }
    let ordinal = |k: &str| -> Result<Option<u32>, FlowError> {
        match get_u64(o, k, f)? {
            None => Ok(None),
            Some(0) => Err(err(format!("{f}.{k}"), "counts from 1")),
            Some(n) => Ok(Some(n.min(u64::from(u32::MAX)) as u32)),
        }
    };
    if let Some(n) = ordinal("after_prompt")? {
        anchors.push(Anchor::AfterPrompt(n));
    }
    if let Some(n) = ordinal("during_prompt")? {
        anchors.push(Anchor::DuringPrompt(n));
    }
    if let Some(n) = ordinal("after_recording_start")? {
        anchors.push(Anchor::AfterRecordingStart(n));
    }
    if anchors.len() != 1 {
        return Err(err(
            f,
            "needs exactly one of at_ms, after_prompt, during_prompt, after_recording_start",
        ));
    }
    let delay_ms = get_u64(o, "delay_ms", f)?.unwrap_or(0);
    let say = get_str(o, "say", f)?;
    let keys = get_str(o, "keys", f)?;
    let hangup = match o.get("hangup") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(err(format!("{f}.hangup"), "must be true or false")),
    };
    let act = match (say, keys, hangup) {
        (Some(text), None, false) => {
            let confidence = match o.get("confidence") {
                None => 0.9,
                Some(c) => c
                    .as_f64()
                    .filter(|c| (0.0..=1.0).contains(c))
                    .ok_or_else(|| err(format!("{f}.confidence"), "must be a number 0-1"))?
                    as f32,
            };
            let n = words(text).len().max(1) as u64;
            CalleeAct::Say {
                text: text.to_string(),
                duration_ms: get_u64(o, "duration_ms", f)?.unwrap_or(n * SIM_MS_PER_WORD),
                confidence,
            }
        }
        (None, Some(k), false) => {
            if k.is_empty() {
                return Err(err(format!("{f}.keys"), "must not be empty"));
            }
            if let Some(c) = k
                .chars()
                .find(|c| !matches!(c.to_ascii_uppercase(), '0'..='9' | '*' | '#' | 'A'..='D'))
            {
                return Err(err(
                    format!("{f}.keys"),
                    format!("{c:?} is not a DTMF key (0-9 * # A-D)"),
                ));
            }
            CalleeAct::Keys {
                keys: k.to_ascii_uppercase(),
                interval_ms: get_u64(o, "key_interval_ms", f)?.unwrap_or(SIM_KEY_INTERVAL_MS),
            }
        }
        (None, None, true) => CalleeAct::Hangup,
        _ => return Err(err(f, "needs exactly one of say, keys, \"hangup\": true")),
    };
    Ok(ScriptStep {
        anchor: anchors.remove(0),
        delay_ms,
        act,
    })
}

/// One line of the simulated call: an event into the interpreter or an action out of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dir", rename_all = "snake_case")]
pub enum TimelineEntry {
    /// An event fed to the interpreter.
    In { at_ms: u64, event: Event },
    /// An action the interpreter returned.
    Out { at_ms: u64, action: Action },
}

/// What a simulation found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimulationReport {
    /// The flow's id.
    pub flow_id: String,
    /// How the flow ended (`None`: it had not ended by `max_ms`).
    pub outcome: Option<Outcome>,
    /// The final attributes.
    pub attributes: Map<String, Value>,
    /// Virtual length of the call, ms.
    pub duration_ms: u64,
    /// The interpreter's trace.
    pub trace: Trace,
    /// Every event in and action out.
    pub timeline: Vec<TimelineEntry>,
    /// Callee steps (indexes into `callee`) that never happened: their anchor never came.
    pub unused_steps: Vec<usize>,
    /// Why the simulation stopped early, if it did (time limit).
    pub stopped: Option<String>,
}

impl SimulationReport {
    /// The actions, in order.
    pub fn actions(&self) -> impl Iterator<Item = (u64, &Action)> {
        self.timeline.iter().filter_map(|t| match t {
            TimelineEntry::Out { at_ms, action } => Some((*at_ms, action)),
            TimelineEntry::In { .. } => None,
        })
    }

    /// The prompts played, in order.
    pub fn prompts(&self) -> Vec<&Prompt> {
        self.actions()
            .filter_map(|(_, a)| match a {
                Action::Play { prompt, .. } => Some(prompt),
                _ => None,
            })
            .collect()
    }

    /// The trace, then the outcome, the attributes and anything left unused.
    pub fn render_text(&self) -> String {
        let mut s = self.trace.render_text();
        let _ = writeln!(
            s,
            "duration: {:.3} s (virtual)",
            self.duration_ms as f64 / 1000.0
        );
        let _ = writeln!(
            s,
            "attributes: {}",
            serde_json::to_string(&self.attributes).unwrap_or_default()
        );
        if !self.unused_steps.is_empty() {
            let _ = writeln!(s, "unused callee steps: {:?}", self.unused_steps);
        }
        if let Some(w) = &self.stopped {
            let _ = writeln!(s, "stopped: {w}");
        }
        s
    }
}

#[derive(Clone, Debug)]
enum SimEv {
    Deliver(Event),
    PlaybackEnd(u64),
    SpeechStart {
        text: String,
        duration_ms: u64,
        confidence: f32,
    },
    SpeechEnd {
        text: String,
        confidence: f32,
    },
    RecognitionResult {
        id: u64,
        text: String,
        confidence: f32,
    },
    Key(char),
    Hangup,
    RecordingMax(u64),
    SilenceCheck {
        id: u64,
        token: u64,
    },
    RecordingStop(u64, RecordingEnd),
}

struct Recording {
    id: u64,
    ordinal: u32,
    started_at: u64,
    silence: Option<u64>,
    token: u64,
}

struct Sim<'s> {
    it: Interpreter,
    now: u64,
    queue: BTreeMap<(u64, u64), SimEv>,
    seq: u64,
    prompts: u32,
    playing: HashMap<u64, u32>,
    recog: Option<u64>,
    speaking: bool,
    recording: Option<Recording>,
    recordings: u32,
    /// Recordings ended and not yet reported: (id, ordinal, duration).
    recording_done: Vec<(u64, u32, u64)>,
    webhooks: VecDeque<ScriptHttp>,
    extensions: BTreeMap<String, VecDeque<ScriptExtension>>,
    script: &'s Script,
    used: Vec<bool>,
    timeline: Vec<TimelineEntry>,
    hung_up: bool,
}

fn prompt_ms(p: &Prompt) -> u64 {
    match p {
        Prompt::Audio(_) => SIM_AUDIO_PROMPT_MS,
        Prompt::Text(t) => SIM_PROMPT_BASE_MS + SIM_MS_PER_CHAR * t.chars().count() as u64,
        Prompt::Ssml(s) => {
            let mut n = 0u64;
            let mut in_tag = false;
            for c in s.chars() {
                match c {
                    '<' => in_tag = true,
                    '>' => in_tag = false,
                    _ if !in_tag => n += 1,
                    _ => {}
                }
            }
            SIM_PROMPT_BASE_MS + SIM_MS_PER_CHAR * n
        }
    }
}

impl Sim<'_> {
    fn at(&mut self, t: u64, ev: SimEv) {
        self.queue.insert((t, self.seq), ev);
        self.seq += 1;
    }

    fn deliver(&mut self, ev: Event) {
        if self.hung_up && !matches!(ev, Event::RecordingFinished { .. }) {
            return;
        }
        self.timeline.push(TimelineEntry::In {
            at_ms: self.now,
            event: ev.clone(),
        });
        self.it.handle(ev, self.now);
    }

    fn anchor(&mut self, fired: &Anchor) {
        for i in 0..self.script.callee.len() {
            let step = &self.script.callee[i];
            if !self.used[i] && &step.anchor == fired {
                self.used[i] = true;
                let t = self.now + step.delay_ms;
                self.schedule_act(t, step.act.clone());
            }
        }
    }

    fn schedule_act(&mut self, t: u64, act: CalleeAct) {
        match act {
            CalleeAct::Say {
                text,
                duration_ms,
                confidence,
            } => self.at(
                t,
                SimEv::SpeechStart {
                    text,
                    duration_ms,
                    confidence,
                },
            ),
            CalleeAct::Keys { keys, interval_ms } => {
                for (i, k) in keys.chars().enumerate() {
                    self.at(t + i as u64 * interval_ms, SimEv::Key(k));
                }
            }
            CalleeAct::Hangup => self.at(t, SimEv::Hangup),
        }
    }

    fn end_recording(&mut self, reason: RecordingEnd) {
        if let Some(r) = self.recording.take() {
            self.at(self.now, SimEv::RecordingStop(r.id, reason));
            // Remember the fields for the report event.
            self.recording_done
                .push((r.id, r.ordinal, self.now - r.started_at));
        }
    }

    fn actions(&mut self) {
        while let Some(a) = self.it.poll_action() {
            self.timeline.push(TimelineEntry::Out {
                at_ms: self.now,
                action: a.clone(),
            });
            match a {
                Action::Play { id, prompt, .. } => {
                    self.prompts += 1;
                    let n = self.prompts;
                    self.playing.insert(id, n);
                    self.at(self.now + prompt_ms(&prompt), SimEv::PlaybackEnd(id));
                    self.anchor(&Anchor::DuringPrompt(n));
                }
                Action::StopPlayback { id } => {
                    if let Some(n) = self.playing.remove(&id) {
                        self.anchor(&Anchor::AfterPrompt(n));
                    }
                }
                Action::StartRecognition { id, .. } => self.recog = Some(id),
                Action::StopRecognition { id } => {
                    if self.recog == Some(id) {
                        self.recog = None;
                    }
                }
                Action::StartRecording {
                    id,
                    max_length_ms,
                    end_on_silence_ms,
                    ..
                } => {
                    self.recordings += 1;
                    let token = 0;
                    self.recording = Some(Recording {
                        id,
                        ordinal: self.recordings,
                        started_at: self.now,
                        silence: end_on_silence_ms,
                        token,
                    });
                    self.at(self.now + max_length_ms, SimEv::RecordingMax(id));
                    if let Some(s) = end_on_silence_ms {
                        if !self.speaking {
                            self.at(self.now + s, SimEv::SilenceCheck { id, token });
                        }
                    }
                    self.anchor(&Anchor::AfterRecordingStart(self.recordings));
                }
                Action::StopRecording { id } => {
                    if self.recording.as_ref().is_some_and(|r| r.id == id) {
                        self.end_recording(RecordingEnd::Stopped);
                    }
                }
                Action::HttpRequest { id, timeout_ms, .. } => {
                    let ev = match self.webhooks.pop_front() {
                        Some(ScriptHttp::Response {
                            status,
                            body,
                            delay_ms,
                        }) => (delay_ms, Event::HttpResponse { id, status, body }),
                        Some(ScriptHttp::Fail { reason, delay_ms }) => {
                            (delay_ms, Event::HttpFailed { id, reason })
                        }
                        Some(ScriptHttp::Timeout) => (
                            timeout_ms,
                            Event::HttpFailed {
                                id,
                                reason: format!("timed out after {timeout_ms} ms"),
                            },
                        ),
                        None => (
                            0,
                            Event::HttpFailed {
                                id,
                                reason: "no scripted response".into(),
                            },
                        ),
                    };
                    self.at(self.now + ev.0, SimEv::Deliver(ev.1));
                }
                Action::Transfer { id, .. } => {
                    let t = &self.script.transfer;
                    let ev = Event::TransferFinished {
                        id,
                        ok: t.ok,
                        reason: t.reason.clone(),
                    };
                    self.at(self.now + t.delay_ms, SimEv::Deliver(ev));
                }
                Action::Extension { id, block_type, .. } => {
                    let r = self
                        .extensions
                        .get_mut(&block_type)
                        .and_then(VecDeque::pop_front);
                    let (delay, ok, value) = match r {
                        Some(r) => (r.delay_ms, r.ok, r.value),
                        None => (0, false, Value::String("no scripted result".into())),
                    };
                    self.at(
                        self.now + delay,
                        SimEv::Deliver(Event::ExtensionResult { id, ok, value }),
                    );
                }
                Action::Hangup { .. } => self.hung_up = true,
                Action::Finished { .. } => {}
            }
        }
    }

    fn apply(&mut self, ev: SimEv) {
        match ev {
            SimEv::Deliver(e) => self.deliver(e),
            SimEv::PlaybackEnd(id) => {
                if let Some(n) = self.playing.remove(&id) {
                    self.deliver(Event::PlaybackFinished { id });
                    self.actions();
                    self.anchor(&Anchor::AfterPrompt(n));
                }
            }
            SimEv::SpeechStart {
                text,
                duration_ms,
                confidence,
            } => {
                if self.hung_up {
                    return;
                }
                self.speaking = true;
                if let Some(r) = self.recording.as_mut() {
                    r.token += 1;
                }
                self.at(
                    self.now + duration_ms,
                    SimEv::SpeechEnd { text, confidence },
                );
                self.deliver(Event::SpeechStarted);
            }
            SimEv::SpeechEnd { text, confidence } => {
                self.speaking = false;
                if let Some(id) = self.recog {
                    self.at(
                        self.now + SIM_ENDPOINT_MS,
                        SimEv::RecognitionResult {
                            id,
                            text,
                            confidence,
                        },
                    );
                }
                let now = self.now;
                if let Some(r) = self.recording.as_mut() {
                    if let Some(s) = r.silence {
                        r.token += 1;
                        let (id, token) = (r.id, r.token);
                        self.at(now + s, SimEv::SilenceCheck { id, token });
                    }
                }
            }
            SimEv::RecognitionResult {
                id,
                text,
                confidence,
            } => {
                if self.recog == Some(id) {
                    self.recog = None;
                    self.deliver(Event::Recognized {
                        id,
                        transcript: text,
                        confidence,
                    });
                }
            }
            SimEv::Key(k) => {
                if !self.hung_up {
                    self.deliver(Event::Dtmf { digit: k })
                }
            }
            SimEv::Hangup => {
                if self.hung_up {
                    return;
                }
                self.deliver(Event::RemoteHangup);
                self.hung_up = true;
                if self.recording.is_some() {
                    self.end_recording(RecordingEnd::Hangup);
                }
            }
            SimEv::RecordingMax(id) => {
                if self.recording.as_ref().is_some_and(|r| r.id == id) {
                    self.end_recording(RecordingEnd::MaxLength);
                }
            }
            SimEv::SilenceCheck { id, token } => {
                let hit = self
                    .recording
                    .as_ref()
                    .is_some_and(|r| r.id == id && r.token == token);
                if hit && !self.speaking {
                    self.end_recording(RecordingEnd::Silence);
                }
            }
            SimEv::RecordingStop(id, reason) => {
                if let Some(pos) = self.recording_done.iter().position(|r| r.0 == id) {
                    let (id, ordinal, duration_ms) = self.recording_done.remove(pos);
                    self.deliver(Event::RecordingFinished {
                        id,
                        recording: format!("rec-{ordinal}"),
                        duration_ms,
                        reason,
                    });
                }
            }
        }
    }
}

/// Run `flow` against the scripted callee `script`, answers parsed by `parser`, in virtual
/// time: the call is answered at 0 and runs until the flow ends or `script.max_ms`.
pub fn simulate(
    flow: &Arc<Flow>,
    script: &Script,
    parser: Arc<dyn AnswerParser>,
) -> SimulationReport {
    let ctx = CallContext {
        call_id: "simulated".into(),
        call_start_unix_ms: script.call_start_unix_ms,
        utc_offset_minutes: script.utc_offset_minutes,
    };
    let it = Interpreter::new(Arc::clone(flow), script.attributes.clone(), ctx, parser);
    let mut sim = Sim {
        it,
        now: 0,
        queue: BTreeMap::new(),
        seq: 0,
        prompts: 0,
        playing: HashMap::new(),
        recog: None,
        speaking: false,
        recording: None,
        recordings: 0,
        recording_done: Vec::new(),
        webhooks: script.webhooks.iter().cloned().collect(),
        extensions: script
            .extensions
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
            .collect(),
        script,
        used: vec![false; script.callee.len()],
        timeline: Vec::new(),
        hung_up: false,
    };
    if let Some(a) = &script.amd {
        let ev = Event::AmdResult {
            answered_by: a.answered_by.clone(),
        };
        sim.at(a.at_ms, SimEv::Deliver(ev));
        if let Some(b) = a.beep_at_ms {
            sim.at(b, SimEv::Deliver(Event::Beep));
        }
    }
    for i in 0..script.callee.len() {
        if let Anchor::At(t) = script.callee[i].anchor {
            sim.used[i] = true;
            let t = t + script.callee[i].delay_ms;
            sim.schedule_act(t, script.callee[i].act.clone());
        }
    }
    sim.deliver(Event::Answered);
    let mut stopped = None;
    loop {
        sim.actions();
        if sim.it.is_finished() {
            break;
        }
        let next_q = sim.queue.keys().next().map(|k| k.0);
        let next_t = sim.it.poll_timeout();
        let t = match (next_q, next_t) {
            (Some(q), Some(d)) => q.min(d),
            (Some(q), None) => q,
            (None, Some(d)) => d,
            (None, None) => {
                stopped = Some("nothing left to happen and the flow has not ended".into());
                break;
            }
        };
        if t > script.max_ms {
            stopped = Some(format!("the flow had not ended after {} ms", script.max_ms));
            break;
        }
        sim.now = t.max(sim.now);
        if next_q == Some(t) {
            let key = *sim.queue.keys().next().expect("queue has an entry");
            let ev = sim.queue.remove(&key).expect("entry");
            sim.apply(ev);
        } else {
            sim.it.handle_timeout(sim.now);
        }
    }
    let unused_steps = sim
        .used
        .iter()
        .enumerate()
        .filter(|(_, u)| !**u)
        .map(|(i, _)| i)
        .collect();
    SimulationReport {
        flow_id: flow.id().to_string(),
        outcome: sim.it.outcome().cloned(),
        attributes: sim.it.attributes().clone(),
        duration_ms: sim.now,
        trace: sim.it.trace().clone(),
        timeline: sim.timeline,
        unused_steps,
        stopped,
    }
}
