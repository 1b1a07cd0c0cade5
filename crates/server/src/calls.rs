//! Per-call settings and the published event shape.

use crate::config::BeepAction;
use serde_json::{json, Map, Value};
use tympan_amd::{AmdConfig, AmdEvent};

/// Events kept per call in its record (later events are counted, not stored).
pub const MAX_EVENTS_PER_CALL: usize = 1_000;

/// What a call may set for itself (websocket header, Twilio customParameters, or the answer
/// webhook's query): AMD overrides and the action on a beep.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallSettings {
    /// Fields of `AmdConfig` to override (names checked, values validated at call start).
    pub amd: Map<String, Value>,
    /// Action on beep; `None` means the server default.
    pub on_beep: Option<BeepAction>,
    /// Attributes the server's contact flow starts with (`flow_attributes`: object or JSON
    /// text), like a contact's attributes in Amazon Connect.
    pub flow_attributes: Map<String, Value>,
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
    /// `on_beep_say`, `on_beep_play_wav`, `hangup`, `flow_attributes` (object or JSON text). Other keys are ignored (they are the
    /// platform's own headers).
    pub fn from_map(m: &Map<String, Value>) -> Result<Self, String> {
        let mut s = CallSettings::default();
        if let Some(v) = m.get("amd") {
            s.amd = object_or_json_text("amd", v)?;
        }
        if let Some(v) = m.get("flow_attributes") {
            s.flow_attributes = object_or_json_text("flow_attributes", v)?;
            if s.flow_attributes.len() > tympan_flow::limits::MAX_ATTRIBUTES {
                return Err(format!(
                    "`flow_attributes` has {} attributes, over the limit of {}",
                    s.flow_attributes.len(),
                    tympan_flow::limits::MAX_ATTRIBUTES
                ));
            }
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

/// `v` as JSON through text, so f32 fields keep their short form (999.998, not
/// 999.9979858398438).
pub fn json_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_string(v)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .unwrap_or(Value::Null)
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
}
