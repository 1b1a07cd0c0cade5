//! Per-call settings, the per-call session around the analyser, the bounded call history and
//! the event fan-out.

use crate::analyzer::CallAnalyzer;
use crate::config::BeepAction;
use crate::AppState;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tympan_amd::{AmdConfig, AmdEvent, AmdResult};

/// Events kept per call in the history (later events are counted, not stored).
pub const MAX_EVENTS_PER_CALL: usize = 1_000;
/// Longest call id accepted (`uuid` header, Twilio callSid).
pub const MAX_CALL_ID_CHARS: usize = 128;

/// What a call may set for itself (websocket header, Twilio customParameters, or the answer
/// webhook's query): AMD overrides and the action on a beep.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallSettings {
    /// Fields of `AmdConfig` to override (names checked, values validated at call start).
    pub amd: Map<String, Value>,
    /// Action on beep; `None` means the server default.
    pub on_beep: Option<BeepAction>,
}

fn truthy(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") || s == "1" => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") || s == "0" || s.is_empty() => {
            Ok(false)
        }
        other => Err(format!("`hangup` must be true or false, got {other}")),
    }
}

/// A value that may arrive as an object or as JSON text inside a string.
fn object_or_json_text(name: &str, v: &Value) -> Result<Map<String, Value>, String> {
    match v {
        Value::Object(m) => Ok(m.clone()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(format!("`{name}` must be a JSON object")),
        },
        _ => Err(format!("`{name}` must be a JSON object")),
    }
}

impl CallSettings {
    /// Read settings from a flat or nested key/value map. Accepted keys: `amd` (object or
    /// JSON text), `on_beep` (object `{"say"|"play_wav", "hangup"?}` or JSON text),
    /// `on_beep_say`, `on_beep_play_wav`, `hangup`. Other keys are ignored (they are the
    /// platform's own headers).
    pub fn from_map(m: &Map<String, Value>) -> Result<Self, String> {
        let mut s = CallSettings::default();
        if let Some(v) = m.get("amd") {
            s.amd = object_or_json_text("amd", v)?;
        }
        let mut action: Option<BeepAction> = None;
        if let Some(v) = m.get("on_beep") {
            let obj = object_or_json_text("on_beep", v)?;
            action = Some(
                serde_json::from_value(Value::Object(obj))
                    .map_err(|e| format!("`on_beep`: {e}"))?,
            );
        }
        for (key, is_say) in [("on_beep_say", true), ("on_beep_play_wav", false)] {
            if let Some(v) = m.get(key) {
                let text = v
                    .as_str()
                    .ok_or_else(|| format!("`{key}` must be a string"))?;
                let a = action.get_or_insert_with(BeepAction::default);
                if is_say {
                    a.say = Some(text.to_owned());
                } else {
                    a.play_wav = Some(text.to_owned());
                }
            }
        }
        if let Some(v) = m.get("hangup") {
            let h = truthy(v)?;
            action.get_or_insert_with(BeepAction::default).hangup = h;
        }
        s.on_beep = action;
        Ok(s)
    }

    /// From string pairs (query strings, Twilio customParameters).
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, String> {
        let m: Map<String, Value> = pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
            .collect();
        Self::from_map(&m)
    }

    /// The settings as websocket headers (nested form).
    pub fn to_headers(&self, into: &mut Map<String, Value>) {
        if !self.amd.is_empty() {
            into.insert("amd".into(), Value::Object(self.amd.clone()));
        }
        if let Some(a) = &self.on_beep {
            let mut o = Map::new();
            if let Some(t) = &a.say {
                o.insert("say".into(), json!(t));
            }
            if let Some(p) = &a.play_wav {
                o.insert("play_wav".into(), json!(p));
            }
            into.insert("on_beep".into(), Value::Object(o));
            into.insert("hangup".into(), json!(a.hangup));
        }
    }

    /// The call's AMD configuration: server defaults, then these overrides, at `rate`.
    pub fn amd_config(&self, base: &AmdConfig, rate: u32) -> Result<AmdConfig, String> {
        let mut v = serde_json::to_value(base).map_err(|e| e.to_string())?;
        let obj = v
            .as_object_mut()
            .expect("AmdConfig serialises to an object");
        for (k, val) in &self.amd {
            if k == "sample_rate" {
                return Err("amd.sample_rate is set by the stream's content type".into());
            }
            if !obj.contains_key(k) {
                return Err(format!("unknown AMD setting `{k}`"));
            }
            obj.insert(k.clone(), val.clone());
        }
        let mut cfg: AmdConfig =
            serde_json::from_value(v).map_err(|e| format!("AMD settings: {e}"))?;
        cfg.sample_rate = rate;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }
}

/// What `GET /v1/calls/{id}` returns.
#[derive(Clone, Debug, Serialize)]
pub struct CallRecord {
    pub call_id: String,
    /// `vonage` or `twilio`.
    pub platform: &'static str,
    /// `active` or `ended`.
    pub state: &'static str,
    pub sample_rate: u32,
    /// Audio received so far, in ms.
    pub audio_ms: u64,
    pub result: Option<AmdResult>,
    /// Events as published on `/v1/events` (at most `MAX_EVENTS_PER_CALL`).
    pub events: Vec<Value>,
    /// Events not kept because the per-call limit was reached.
    pub events_dropped: u64,
    /// What the server did for the call (playback, hang-up), in order.
    pub actions: Vec<Value>,
}

/// In-memory call history, bounded to `max` calls (oldest forgotten first).
pub struct CallStore {
    max: usize,
    calls: HashMap<String, CallRecord>,
    order: VecDeque<String>,
}

impl CallStore {
    /// An empty history keeping at most `max` calls (at least 1).
    pub fn new(max: usize) -> Self {
        CallStore {
            max: max.max(1),
            calls: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Add (or restart) a call record.
    pub fn insert(&mut self, rec: CallRecord) {
        if self.calls.contains_key(&rec.call_id) {
            self.order.retain(|id| id != &rec.call_id);
        }
        self.order.push_back(rec.call_id.clone());
        self.calls.insert(rec.call_id.clone(), rec);
        while self.order.len() > self.max {
            if let Some(old) = self.order.pop_front() {
                self.calls.remove(&old);
            }
        }
    }

    /// A call by id.
    pub fn get(&self, id: &str) -> Option<&CallRecord> {
        self.calls.get(id)
    }

    /// Mutable access by id (None once forgotten).
    pub fn get_mut(&mut self, id: &str) -> Option<&mut CallRecord> {
        self.calls.get_mut(id)
    }

    /// Number of calls remembered.
    pub fn len(&self) -> usize {
        self.calls.len()
    }

    /// True when no call is remembered.
    pub fn is_empty(&self) -> bool {
        self.calls.is_empty()
    }
}

/// A call id from a header value, or a fresh UUID when absent.
pub fn call_id_or_new(v: Option<&str>) -> Result<String, String> {
    match v {
        None | Some("") => Ok(uuid::Uuid::new_v4().to_string()),
        Some(s) if s.chars().count() > MAX_CALL_ID_CHARS => Err(format!(
            "call id longer than {MAX_CALL_ID_CHARS} characters"
        )),
        Some(s) if s.chars().any(|c| c.is_control() || c == '/') => {
            Err("call id contains control characters or `/`".into())
        }
        Some(s) => Ok(s.to_owned()),
    }
}

/// The event as published: `{"call_id", "type", "at_ms", ...event fields}`.
pub fn event_json(call_id: &str, ev: &AmdEvent) -> Value {
    // Through text, so f32 fields keep their short form (999.998, not 999.9979858398438) and
    // read the same here and in `GET /v1/calls/{id}`'s `result`.
    let mut v = serde_json::to_string(ev)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .unwrap_or_else(|| json!({}));
    if let Some(o) = v.as_object_mut() {
        o.insert("call_id".into(), json!(call_id));
    }
    v
}

/// One call's detector plus bookkeeping. Owned by the call's websocket task.
pub struct CallSession {
    state: Arc<AppState>,
    /// The call id (`uuid` header or Twilio callSid).
    pub call_id: String,
    /// Samples per second of the pushed audio.
    pub rate: u32,
    analyzer: Box<dyn CallAnalyzer>,
    samples: u64,
    /// The action to run on the first beep.
    pub on_beep: Option<BeepAction>,
    beep_seen: bool,
    finished: bool,
    buf: Vec<f32>,
    started: tokio::time::Instant,
    fired_deadline: Option<u64>,
}

impl CallSession {
    /// Validate settings, make the analyser, record and announce the call.
    pub fn start(
        state: Arc<AppState>,
        call_id: String,
        platform: &'static str,
        rate: u32,
        settings: &CallSettings,
    ) -> Result<Self, String> {
        let cfg = settings.amd_config(&state.config.amd, rate)?;
        let on_beep = settings
            .on_beep
            .clone()
            .or_else(|| state.config.on_beep.clone());
        if let Some(a) = &on_beep {
            crate::playback::check_action(a, &state.config.media_dir)?;
        }
        let analyzer = (state.factory)(&cfg).map_err(|e| e.to_string())?;
        state.calls.lock().unwrap().insert(CallRecord {
            call_id: call_id.clone(),
            platform,
            state: "active",
            sample_rate: rate,
            audio_ms: 0,
            result: None,
            events: Vec::new(),
            events_dropped: 0,
            actions: Vec::new(),
        });
        state.publish(json!({"call_id": call_id, "type": "call_start", "at_ms": 0,
                             "platform": platform, "sample_rate": rate}));
        tracing::info!(%call_id, platform, rate, on_beep = ?on_beep, "call started");
        Ok(CallSession {
            state,
            call_id,
            rate,
            analyzer,
            samples: 0,
            on_beep,
            beep_seen: false,
            finished: false,
            buf: Vec::new(),
            started: tokio::time::Instant::now(),
            fired_deadline: None,
        })
    }

    /// Audio received so far, in ms.
    pub fn audio_ms(&self) -> u64 {
        self.samples * 1000 / u64::from(self.rate)
    }

    /// The shell's clock: ms since the call started.
    fn clock_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// When the analyser wants `on_timeout` if no audio arrives before then.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        if self.finished {
            return None;
        }
        // A deadline already handled is not waited for again (no busy loop on a stuck one).
        self.analyzer
            .poll_timeout()
            .filter(|ms| Some(*ms) != self.fired_deadline)
            .map(|ms| self.started + std::time::Duration::from_millis(ms))
    }

    /// Audio stalled until `deadline()`: let the analyser time out and publish what follows.
    pub fn on_timeout(&mut self) -> bool {
        let now = self.clock_ms();
        self.fired_deadline = self.analyzer.poll_timeout();
        self.analyzer.handle_timeout(now);
        self.drain()
    }

    /// Feed 16-bit samples; publish events. Returns true the first time a beep is seen.
    pub fn push_i16(&mut self, pcm: impl Iterator<Item = i16>) -> bool {
        self.buf.clear();
        self.buf.extend(pcm.map(|s| f32::from(s) / 32768.0));
        let buf = std::mem::take(&mut self.buf);
        let beep = self.push_f32(&buf);
        self.buf = buf;
        beep
    }

    /// Feed float samples; publish events. Returns true the first time a beep is seen.
    pub fn push_f32(&mut self, x: &[f32]) -> bool {
        if x.is_empty() || self.finished {
            return false;
        }
        self.samples += x.len() as u64;
        let now = self.clock_ms();
        self.analyzer.push(x, now);
        self.drain()
    }

    /// The stream ended: let the analyser finish and publish the rest. Idempotent.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.analyzer.finish(self.clock_ms());
        self.drain();
        self.finished = true;
        let now = self.audio_ms();
        if let Some(r) = self.state.calls.lock().unwrap().get_mut(&self.call_id) {
            r.state = "ended";
        }
        self.state
            .publish(json!({"call_id": self.call_id, "type": "call_end", "at_ms": now}));
        tracing::info!(call_id = %self.call_id, audio_ms = now, "call ended");
    }

    fn drain(&mut self) -> bool {
        let now = self.audio_ms();
        let mut first_beep = false;
        let mut evs = Vec::new();
        while let Some(ev) = self.analyzer.poll_event() {
            evs.push(ev);
        }
        {
            let mut calls = self.state.calls.lock().unwrap();
            if let Some(r) = calls.get_mut(&self.call_id) {
                r.audio_ms = now;
                for ev in &evs {
                    if let AmdEvent::Result { result, .. } = ev {
                        r.result = Some(result.clone());
                    }
                    if r.events.len() < MAX_EVENTS_PER_CALL {
                        r.events.push(event_json(&self.call_id, ev));
                    } else {
                        r.events_dropped += 1;
                    }
                }
            }
        }
        for ev in &evs {
            tracing::info!(call_id = %self.call_id, event = ?ev, "amd event");
            self.state.publish(event_json(&self.call_id, ev));
            if matches!(ev, AmdEvent::Beep { .. }) {
                // The Vonage sample's drop-in message, for clients written against it.
                self.state
                    .publish(json!({"uuids": [self.call_id], "beep_detected": true}));
                if !self.beep_seen {
                    self.beep_seen = true;
                    first_beep = true;
                }
            }
        }
        first_beep
    }
}

impl Drop for CallSession {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Append to a call's action log (and the event stream, as `type: "action"`).
pub fn record_action(state: &AppState, call_id: &str, action: Value) {
    if let Some(r) = state.calls.lock().unwrap().get_mut(call_id) {
        r.actions.push(action.clone());
    }
    let mut v = action;
    if let Some(o) = v.as_object_mut() {
        o.insert("call_id".into(), json!(call_id));
        o.insert("type".into(), json!("action"));
    }
    state.publish(v);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_nested_flat_and_text_forms_agree() {
        let nested = CallSettings::from_map(
            json!({"uuid": "u1", "content-type": "audio/l16;rate=16000",
                   "on_beep": {"say": "bye"}, "hangup": true,
                   "amd": {"mode": "detect_message_end"}})
            .as_object()
            .unwrap(),
        )
        .unwrap();
        let flat = CallSettings::from_pairs([
            ("on_beep_say", "bye"),
            ("hangup", "true"),
            ("amd", r#"{"mode":"detect_message_end"}"#),
        ])
        .unwrap();
        assert_eq!(nested, flat);
        assert_eq!(nested.on_beep.as_ref().unwrap().say.as_deref(), Some("bye"));
        // And back through headers.
        let mut h = Map::new();
        nested.to_headers(&mut h);
        assert_eq!(CallSettings::from_map(&h).unwrap(), nested);
    }

    #[test]
    fn bad_settings_are_named() {
        let e = CallSettings::from_pairs([("hangup", "maybe")]).unwrap_err();
        assert!(e.contains("hangup"), "{e}");
        let e = CallSettings::from_pairs([("amd", "[1]")]).unwrap_err();
        assert!(e.contains("amd"), "{e}");
        let e = CallSettings::from_map(json!({"on_beep": {"sing": "x"}}).as_object().unwrap())
            .unwrap_err();
        assert!(e.contains("sing"), "{e}");
    }

    #[test]
    fn amd_overrides_are_checked() {
        let base = AmdConfig::default();
        let s = CallSettings::from_pairs([("amd", r#"{"speech_threshold_ms": 3000}"#)]).unwrap();
        let c = s.amd_config(&base, 16000).unwrap();
        assert_eq!((c.speech_threshold_ms, c.sample_rate), (3000, 16000));
        let s = CallSettings::from_pairs([("amd", r#"{"speech_threshold_ms": 10}"#)]).unwrap();
        assert!(s
            .amd_config(&base, 8000)
            .unwrap_err()
            .contains("speech_threshold_ms"));
        let s = CallSettings::from_pairs([("amd", r#"{"speach": 1}"#)]).unwrap();
        assert!(s.amd_config(&base, 8000).unwrap_err().contains("speach"));
    }

    #[test]
    fn store_forgets_oldest_beyond_limit() {
        let rec = |id: &str| CallRecord {
            call_id: id.into(),
            platform: "vonage",
            state: "active",
            sample_rate: 8000,
            audio_ms: 0,
            result: None,
            events: vec![],
            events_dropped: 0,
            actions: vec![],
        };
        let mut s = CallStore::new(2);
        s.insert(rec("a"));
        s.insert(rec("b"));
        s.insert(rec("a")); // restart moves it to the back
        s.insert(rec("c"));
        assert!(s.get("b").is_none());
        assert!(s.get("a").is_some() && s.get("c").is_some());
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn call_ids() {
        assert_eq!(call_id_or_new(Some("abc")).unwrap(), "abc");
        assert_eq!(call_id_or_new(None).unwrap().len(), 36);
        assert!(call_id_or_new(Some("a/b")).is_err());
        assert!(call_id_or_new(Some(&"x".repeat(200))).is_err());
    }
}
