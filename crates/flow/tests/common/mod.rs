//! Test helpers: a small answer parser (test-only: the speech crate's real parsers implement
//! `AnswerParser` for the server) and two extension block types built the way the screening
//! and voice-id crates will build theirs.
#![allow(dead_code)]

use std::sync::Arc;

use serde_json::{json, Map, Value};
use tympan_flow::{
    Action, AnswerParser, CallContext, Event, ExtensionBlock, ExtensionCall, ExtensionExit,
    ExtensionResult, ExtensionStep, Extensions, FieldError, Flow, Interpreter, ParseContext,
};
use tympan_speech::AnswerType;

/// TEST-ONLY answer parser: a handful of phrasings per type, enough to drive flows.
pub struct TestParser;

fn small_number(w: &str) -> Option<i64> {
    const N: [&str; 21] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
        "twenty",
    ];
    N.iter().position(|n| *n == w).map(|i| i as i64)
}

impl AnswerParser for TestParser {
    fn parse_speech(&self, ty: AnswerType, t: &str, ctx: &ParseContext) -> Option<Value> {
        let words = tympan_flow::words(t);
        let first = words.first()?.as_str();
        match ty {
            AnswerType::Ok => words
                .iter()
                .any(|w| w == "ok" || w == "okay")
                .then(|| json!("ok")),
            AnswerType::YesNo => match first {
                "yes" | "yeah" | "yup" | "sure" => Some(json!(true)),
                "no" | "nope" => Some(json!(false)),
                _ => None,
            },
            AnswerType::Choice => {
                if words.len() == 1 && first.len() == 1 && ("a"..="e").contains(&first) {
                    return Some(json!(first.to_uppercase()));
                }
                // "the second one" / a choice label.
                let ord = ["first", "second", "third", "fourth", "fifth"];
                if let Some(i) = words.iter().find_map(|w| ord.iter().position(|o| o == w)) {
                    return Some(json!(["A", "B", "C", "D", "E"][i]));
                }
                ctx.choices
                    .iter()
                    .position(|c| c.eq_ignore_ascii_case(t.trim()))
                    .map(|i| json!(["A", "B", "C", "D", "E"][i]))
            }
            AnswerType::Number => {
                if words.len() == 1 {
                    if let Ok(n) = first.parse::<i64>() {
                        return Some(json!(n));
                    }
                }
                small_number(first)
                    .filter(|_| words.len() == 1)
                    .map(|n| json!(n))
            }
            AnswerType::Date => {
                let b = t.trim().as_bytes();
                (b.len() == 10 && b[4] == b'-' && b[7] == b'-').then(|| json!(t.trim()))
            }
            AnswerType::Time => {
                let b = t.trim().as_bytes();
                (b.len() == 5 && b[2] == b':').then(|| json!(t.trim()))
            }
        }
    }

    fn parse_keypad(&self, ty: AnswerType, d: &str, _ctx: &ParseContext) -> Option<Value> {
        match ty {
            AnswerType::Ok => (d.len() == 1).then(|| json!("ok")),
            AnswerType::YesNo => match d {
                "1" => Some(json!(true)),
                "2" => Some(json!(false)),
                _ => None,
            },
            AnswerType::Choice => match d {
                "1" => Some(json!("A")),
                "2" => Some(json!("B")),
                "3" => Some(json!("C")),
                "4" => Some(json!("D")),
                "5" => Some(json!("E")),
                _ => None,
            },
            AnswerType::Number => d.parse::<i64>().ok().map(|n| json!(n)),
            AnswerType::Date => (d.len() == 8 && d.chars().all(|c| c.is_ascii_digit()))
                .then(|| json!(format!("{}-{}-{}", &d[4..8], &d[2..4], &d[0..2]))),
            AnswerType::Time => (d.len() == 4 && d.chars().all(|c| c.is_ascii_digit()))
                .then(|| json!(format!("{}:{}", &d[0..2], &d[2..4]))),
        }
    }
}

pub fn parser() -> Arc<dyn AnswerParser> {
    Arc::new(TestParser)
}

fn template_or_number(fields: &Map<String, Value>, k: &str, errors: &mut Vec<FieldError>) {
    match fields.get(k) {
        None => {}
        Some(Value::Number(n)) if n.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x)) => {}
        Some(Value::String(s)) if tympan_flow::is_template(s) => {}
        Some(_) => errors.push(FieldError::new(k, "must be a number 0-1 or a template")),
    }
}

fn known_fields(fields: &Map<String, Value>, allowed: &[&str], errors: &mut Vec<FieldError>) {
    for k in fields.keys() {
        if !allowed.contains(&k.as_str()) {
            errors.push(FieldError::new(k, "unknown field"));
        }
    }
}

fn render_field(call: &ExtensionCall<'_>, k: &str) -> Result<String, String> {
    let src = call
        .fields
        .get(k)
        .and_then(Value::as_str)
        .unwrap_or_default();
    call.render(src).map(|s| s.trim().to_string())
}

/// The `classify` block of the screening flow: scores a recording (the shell runs the model)
/// and branches on the probability of the unhealthy class.
pub struct Classify;

impl ExtensionBlock for Classify {
    fn type_name(&self) -> &str {
        "classify"
    }
    fn branches(&self) -> &[&str] {
        &["high_risk", "low_risk"]
    }
    fn validate(&self, fields: &Map<String, Value>) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        known_fields(
            fields,
            &["recording", "threshold", "attribute", "timeout_ms"],
            &mut e,
        );
        match fields.get("recording") {
            Some(Value::String(s)) if !s.is_empty() => {
                if let Err(m) = tympan_flow::check_template(s) {
                    e.push(FieldError::new("recording", m));
                }
            }
            _ => e.push(FieldError::new(
                "recording",
                "is required (a recording id or template)",
            )),
        }
        template_or_number(fields, "threshold", &mut e);
        if let Some(a) = fields.get("attribute") {
            if !a.as_str().is_some_and(tympan_flow::valid_attribute_name) {
                e.push(FieldError::new("attribute", "must be an attribute name"));
            }
        }
        if let Some(t) = fields.get("timeout_ms") {
            if !t.as_u64().is_some_and(|t| (100..=60_000).contains(&t)) {
                e.push(FieldError::new("timeout_ms", "must be 100-60000"));
            }
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }
    fn enter(&self, call: &mut ExtensionCall<'_>) -> ExtensionStep {
        let recording = match render_field(call, "recording") {
            Ok(r) if !r.is_empty() => r,
            Ok(_) => return exit_error("no recording to classify"),
            Err(e) => return exit_error(&e),
        };
        ExtensionStep::Request {
            payload: json!({ "recording": recording }),
            timeout_ms: call
                .fields
                .get("timeout_ms")
                .and_then(Value::as_u64)
                .unwrap_or(10_000),
        }
    }
    fn on_result(&self, call: &mut ExtensionCall<'_>, r: ExtensionResult) -> ExtensionStep {
        let v = match r {
            ExtensionResult::Ok(v) => v,
            ExtensionResult::Failed(e) => return exit_error(&format!("classify failed: {e}")),
            ExtensionResult::TimedOut => return exit_error("classify timed out"),
        };
        let Some(p) = v.get("probability").and_then(Value::as_f64) else {
            return exit_error("classify result has no probability");
        };
        let threshold = match call.fields.get("threshold") {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(0.5),
            Some(Value::String(s)) => match call.render(s).map(|s| s.trim().parse::<f64>()) {
                Ok(Ok(t)) => t,
                _ => return exit_error("threshold is not a number"),
            },
            _ => 0.5,
        };
        let attr = call
            .fields
            .get("attribute")
            .and_then(Value::as_str)
            .unwrap_or("risk_score");
        let mut set = Map::new();
        set.insert(attr.to_string(), json!(p));
        let branch = if p >= threshold {
            "high_risk"
        } else {
            "low_risk"
        };
        ExtensionStep::Exit {
            exit: ExtensionExit::Branch(branch.into()),
            set,
            result: json!({ "probability": p, "threshold": threshold, "branch": branch }),
        }
    }
}

/// The `voice_id` block: evaluates a recording against a speaker (Voice ID's decisions).
pub struct VoiceId;

impl ExtensionBlock for VoiceId {
    fn type_name(&self) -> &str {
        "voice_id"
    }
    fn branches(&self) -> &[&str] {
        &[
            "accept",
            "reject",
            "not_enough_speech",
            "not_enrolled",
            "opted_out",
        ]
    }
    fn validate(&self, fields: &Map<String, Value>) -> Result<(), Vec<FieldError>> {
        let mut e = Vec::new();
        known_fields(fields, &["recording", "speaker_id"], &mut e);
        for k in ["recording", "speaker_id"] {
            match fields.get(k) {
                Some(Value::String(s)) if !s.is_empty() => {}
                _ => e.push(FieldError::new(k, "is required")),
            }
        }
        if e.is_empty() {
            Ok(())
        } else {
            Err(e)
        }
    }
    fn enter(&self, call: &mut ExtensionCall<'_>) -> ExtensionStep {
        let (Ok(rec), Ok(speaker)) = (
            render_field(call, "recording"),
            render_field(call, "speaker_id"),
        ) else {
            return exit_error("template error");
        };
        if speaker.is_empty() {
            return ExtensionStep::Exit {
                exit: ExtensionExit::Next,
                set: Map::new(),
                result: json!({ "decision": "SPEAKER_ID_NOT_PROVIDED" }),
            };
        }
        ExtensionStep::Request {
            payload: json!({ "recording": rec, "speaker_id": speaker }),
            timeout_ms: 15_000,
        }
    }
    fn on_result(&self, _call: &mut ExtensionCall<'_>, r: ExtensionResult) -> ExtensionStep {
        let v = match r {
            ExtensionResult::Ok(v) => v,
            ExtensionResult::Failed(e) => return exit_error(&e),
            ExtensionResult::TimedOut => return exit_error("voice id timed out"),
        };
        let decision = v
            .get("decision")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let branch = match decision.as_str() {
            "ACCEPT" => Some("accept"),
            "REJECT" => Some("reject"),
            "NOT_ENOUGH_SPEECH" => Some("not_enough_speech"),
            "SPEAKER_NOT_ENROLLED" => Some("not_enrolled"),
            "SPEAKER_OPTED_OUT" => Some("opted_out"),
            _ => None,
        };
        let mut set = Map::new();
        set.insert("voice_id_decision".into(), json!(decision));
        if let Some(s) = v.get("score") {
            set.insert("voice_id_score".into(), s.clone());
        }
        ExtensionStep::Exit {
            exit: branch.map_or(ExtensionExit::Next, |b| ExtensionExit::Branch(b.into())),
            set,
            result: v,
        }
    }
}

fn exit_error(e: &str) -> ExtensionStep {
    ExtensionStep::Exit {
        exit: ExtensionExit::Error(e.into()),
        set: Map::new(),
        result: Value::Null,
    }
}

pub fn extensions() -> Extensions {
    let mut x = Extensions::new();
    x.register(Arc::new(Classify)).unwrap();
    x.register(Arc::new(VoiceId)).unwrap();
    x
}

/// Parse a flow from a JSON value (with the test extensions).
pub fn flow(v: Value) -> Arc<Flow> {
    match Flow::parse(&v.to_string(), &extensions()) {
        Ok(f) => Arc::new(f),
        Err(e) => panic!("flow does not parse:\n{e}"),
    }
}

pub fn attrs(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

/// An interpreter over `flow`, answered at `t = 0`.
pub fn start(flow: &Arc<Flow>, a: Value) -> Interpreter {
    let mut it = Interpreter::new(flow.clone(), attrs(a), CallContext::default(), parser());
    it.handle(Event::Answered, 0);
    it
}

pub fn drain(it: &mut Interpreter) -> Vec<Action> {
    std::iter::from_fn(|| it.poll_action()).collect()
}

/// The id of the single play among `actions`.
pub fn play_id(actions: &[Action]) -> u64 {
    let ids: Vec<u64> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Play { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 1, "one play expected in {actions:?}");
    ids[0]
}

pub fn prompts(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Play { prompt, .. } => Some(prompt.as_str().to_string()),
            _ => None,
        })
        .collect()
}

pub fn recognition_id(actions: &[Action]) -> u64 {
    actions
        .iter()
        .find_map(|a| match a {
            Action::StartRecognition { id, .. } => Some(*id),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no start_recognition in {actions:?}"))
}

pub fn finished(actions: &[Action]) -> (&tympan_flow::Outcome, &Map<String, Value>) {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Finished {
                outcome,
                attributes,
            } => Some((outcome, attributes)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no finished in {actions:?}"))
}
