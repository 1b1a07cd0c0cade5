//! Flow files: schema and semantic errors name the block and field; warnings; limits agree
//! with the schema.

mod common;

use serde_json::{json, Value};
use tympan_flow::limits::*;
use tympan_flow::{Extensions, Flow, SCHEMA_V1};

fn parse(v: &Value) -> Result<Flow, tympan_flow::FlowErrors> {
    Flow::parse(&v.to_string(), &common::extensions())
}

/// A flow with one block `b` (id "b") ahead of a hangup.
fn one(block: Value) -> Value {
    let mut b = block;
    b["id"] = json!("b");
    json!({"version": 1, "id": "t", "start": "b", "blocks": [b, {"id": "end", "type": "hangup"}]})
}

#[test]
fn errors_name_block_and_field() {
    // (block, field, text in the message)
    let rows: Vec<(Value, &str, &str)> = vec![
        (
            json!({"type": "get_input", "prompt": "Age?", "answer_type": "number", "attribute": "age", "timeout_ms": 99}),
            "timeout_ms",
            "must be ≥ 100",
        ),
        (
            json!({"type": "get_input", "prompt": "Age?", "answer_type": "number", "attribute": "age", "max_attempts": 9}),
            "max_attempts",
            "must be ≤ 5",
        ),
        (
            json!({"type": "get_input", "prompt": "PIN", "attribute": "pin", "dtmf": {"max_digits": 40}}),
            "dtmf.max_digits",
            "must be ≤ 32",
        ),
        (
            json!({"type": "get_input", "prompt": "PIN", "attribute": "pin", "dtmf": {"terminator": "x"}}),
            "dtmf.terminator",
            "must be one of",
        ),
        (
            json!({"type": "get_input", "prompt": "PIN", "attribute": "pin", "dtmf": {"min_digits": 5, "max_digits": 4}}),
            "dtmf.min_digits",
            "must be ≤ dtmf.max_digits",
        ),
        (
            json!({"type": "get_input", "prompt": "Age?", "answer_type": "colour", "attribute": "age"}),
            "answer_type",
            "unknown answer type \"colour\"",
        ),
        (
            json!({"type": "get_input", "prompt": "Age?", "input": "speech", "attribute": "age"}),
            "input",
            "speech needs an answer_type",
        ),
        (
            json!({"type": "get_input", "prompt": "Age?", "answer_type": "number"}),
            "attribute",
            "is required",
        ),
        (
            json!({"type": "get_input", "prompt": "Age?", "answer_type": "number", "attribute": "9lives"}),
            "attribute",
            "attribute name",
        ),
        (
            json!({"type": "get_input", "prompt": "Age?", "answer_type": "yes_no", "attribute": "a", "branches": {"maybe": "end"}}),
            "branches.maybe",
            "never \"maybe\"",
        ),
        (
            json!({"type": "get_input", "prompt": "Hi {{ name", "answer_type": "ok", "attribute": "a"}),
            "prompt",
            "template error: syntax error",
        ),
        (
            json!({"type": "get_input", "prompt": {"ssml": "<speak>{% if %}</speak>"}, "answer_type": "ok", "attribute": "a"}),
            "prompt.ssml",
            "template error",
        ),
        (
            json!({"type": "play", "prompt": {"text": "a", "audio": "b.wav"}}),
            "prompt",
            "at most 1 entries",
        ),
        (
            json!({"type": "play", "prompt": {"audio": "../etc/passwd"}}),
            "prompt.audio",
            "relative path",
        ),
        (
            json!({"type": "play", "prompt": 5}),
            "prompt",
            "must be string or object, not integer",
        ),
        (json!({"type": "play"}), "prompt", "is required"),
        (
            json!({"type": "play", "prompt": "x", "bargein": true}),
            "bargein",
            "unknown field (not a field of \"play\" blocks)",
        ),
        (
            json!({"type": "play", "prompt": "x".repeat(MAX_PROMPT_CHARS + 1)}),
            "prompt",
            "at most 4000 characters",
        ),
        (
            json!({"type": "play", "prompt": "x", "next": "nowhere"}),
            "next",
            "no block has id \"nowhere\"",
        ),
        (
            json!({"type": "play", "prompt": "x", "on_error": "bad id!"}),
            "on_error",
            "must be an id",
        ),
        (
            json!({"type": "record", "attribute": "r", "max_length_ms": 900000}),
            "max_length_ms",
            "must be ≤ 600000",
        ),
        (
            json!({"type": "record", "attribute": "r", "end_on_dtmf": "#x"}),
            "end_on_dtmf",
            "DTMF keys",
        ),
        (
            json!({"type": "amd", "branches": {"robot": "end"}}),
            "branches.robot",
            "unknown field",
        ),
        (
            json!({"type": "amd", "branches": {"no_beep": "end"}}),
            "branches.no_beep",
            "needs \"wait_for_beep\": true",
        ),
        (
            json!({"type": "set_attribute", "set": {"1x": 1}}),
            "set.1x",
            "name: attribute name",
        ),
        (
            json!({"type": "set_attribute", "set": {"x": {"expr": "1 +"}}}),
            "set.x.expr",
            "expression error",
        ),
        (
            json!({"type": "set_attribute", "set": {"x": {"expr": "1", "other": 2}}}),
            "set.x",
            "nothing else",
        ),
        (
            json!({"type": "condition", "branches": [{"when": {"attribute": "a", "op": "like", "value": 1}, "next": "end"}]}),
            "branches[0].when.op",
            "must be one of",
        ),
        (
            json!({"type": "condition", "branches": [{"when": {"attribute": "a", "op": "eq"}, "next": "end"}]}),
            "branches[0].when.value",
            "required for eq",
        ),
        (
            json!({"type": "condition", "branches": []}),
            "branches",
            "at least 1 items",
        ),
        (
            json!({"type": "condition", "branches": [{"when": {"attribute": "a", "op": "exists"}}]}),
            "branches[0].next",
            "is required",
        ),
        (
            json!({"type": "webhook", "url": "ftp://x"}),
            "url",
            "http:// or https://",
        ),
        (
            json!({"type": "webhook", "url": "https://x", "retries": 6}),
            "retries",
            "must be ≤ 5",
        ),
        (
            json!({"type": "webhook", "url": "https://x", "timeout_ms": 40000}),
            "timeout_ms",
            "must be ≤ 30000",
        ),
        (
            json!({"type": "webhook", "url": "https://x", "response": {"risk": "a..b"}}),
            "response.risk",
            "JSON pointer",
        ),
        (
            json!({"type": "loop", "body": "end"}),
            "count",
            "needs count or while",
        ),
        (
            json!({"type": "loop", "body": "end", "count": 2, "while": {"attribute": "a", "op": "exists"}}),
            "while",
            "not both",
        ),
        (
            json!({"type": "loop", "body": "end", "count": 1001}),
            "count",
            "must be ≤ 1000",
        ),
        (
            json!({"type": "loop", "body": "end", "count": "many"}),
            "count",
            "whole number",
        ),
        (
            json!({"type": "loop", "body": "b", "count": 2}),
            "body",
            "must not be the loop block itself",
        ),
        (
            json!({"type": "transfer", "to": "agent"}),
            "to",
            "sip:, sips: or tel:",
        ),
        (
            json!({"type": "transfer", "to": "sip:a@b", "next": "end"}),
            "next",
            "is not allowed in \"transfer\" blocks",
        ),
        (
            json!({"type": "hangup", "next": "end"}),
            "next",
            "is not allowed in \"hangup\" blocks",
        ),
        (
            json!({"type": "Play", "prompt": "x"}),
            "type",
            "must be a type name",
        ),
        (
            json!({"type": "classify", "threshold": 2}),
            "recording",
            "is required",
        ),
        (
            json!({"type": "classify", "recording": "r", "threshold": 2}),
            "threshold",
            "number 0-1",
        ),
        (
            json!({"type": "classify", "recording": "r", "branches": {"medium": "end"}}),
            "branches.medium",
            "they have: high_risk, low_risk",
        ),
        (
            json!({"type": "classify", "recording": "{{ rec"}),
            "recording",
            "template error",
        ),
        (
            json!({"type": "teleport", "prompt": "x"}),
            "type",
            "unknown block type \"teleport\"",
        ),
    ];
    for (i, (block, field, text)) in rows.into_iter().enumerate() {
        let v = one(block.clone());
        let errs = match parse(&v) {
            Ok(_) => panic!("row {i}: {block} was accepted"),
            Err(e) => e,
        };
        let hit = errs
            .errors
            .iter()
            .find(|e| e.block.as_deref() == Some("b") && e.field == field);
        let Some(e) = hit else {
            panic!("row {i}: no error for field {field:?} of block b; got:\n{errs}");
        };
        assert!(e.message.contains(text), "row {i}: {e}");
        assert!(
            e.to_string()
                .starts_with(&format!("block \"b\": field \"{field}\": ")),
            "row {i}: {e}"
        );
    }
}

#[test]
fn example_error_text_and_source_name() {
    let v = one(
        json!({"type": "get_input", "prompt": "Date of birth?", "answer_type": "date", "attribute": "dob", "timeout_ms": 50}),
    );
    let text = v.to_string().replace("\"b\"", "\"ask_dob\"");
    let e = Flow::parse_named("flows/dob.json", &text, &Extensions::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "flows/dob.json: block \"ask_dob\": field \"timeout_ms\": must be ≥ 100"
    );
}

#[test]
fn flow_level_errors() {
    let rows: Vec<(String, &str, &str)> = vec![
        (r#"{"version": 1, "id": "t", "start": "a", "blocks": [}"#.into(), "", "invalid JSON at line 1 column"),
        (json!({"version": 2, "id": "t", "start": "a", "blocks": [{"id": "a", "type": "hangup"}]}).to_string(), "version", "must be 1"),
        (json!({"version": 1, "id": "t", "blocks": [{"id": "a", "type": "hangup"}]}).to_string(), "start", "is required"),
        (json!({"version": 1, "id": "t", "start": "zz", "blocks": [{"id": "a", "type": "hangup"}]}).to_string(), "start", "no block has id \"zz\""),
        (json!({"version": 1, "id": "t", "start": "a", "blocks": []}).to_string(), "blocks", "at least 1 items"),
        (json!({"version": 1, "id": "t", "start": "a", "extra": 1, "blocks": [{"id": "a", "type": "hangup"}]}).to_string(), "extra", "unknown field"),
    ];
    for (i, (text, field, msg)) in rows.into_iter().enumerate() {
        let e = Flow::parse(&text, &Extensions::new()).unwrap_err();
        let hit = e
            .errors
            .iter()
            .find(|x| x.block.is_none() && x.field == field);
        assert!(hit.is_some_and(|x| x.message.contains(msg)), "row {i}: {e}");
    }
    let big = format!("{{\"pad\": \"{}\"}}", "x".repeat(MAX_FLOW_BYTES));
    let e = Flow::parse(&big, &Extensions::new()).unwrap_err();
    assert!(e.to_string().contains("at most 1048576"), "{e}");
}

#[test]
fn duplicate_ids_and_block_without_id() {
    let v = json!({"version": 1, "id": "t", "start": "a", "blocks": [
        {"id": "a", "type": "play", "prompt": "x", "next": "a2"},
        {"id": "a2", "type": "hangup"},
        {"id": "a", "type": "hangup"},
        {"type": "hangup"}
    ]});
    let e = parse(&v).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("block \"#4\": field \"id\": is required"),
        "{text}"
    );
    // Schema errors come first; with a valid structure the duplicate is reported.
    let v = json!({"version": 1, "id": "t", "start": "a", "blocks": [
        {"id": "a", "type": "play", "prompt": "x", "next": "a2"},
        {"id": "a2", "type": "hangup"},
        {"id": "a", "type": "hangup"}
    ]});
    let e = parse(&v).unwrap_err();
    assert!(
        e.to_string()
            .contains("block \"a\": field \"id\": duplicate id (block #1 has it too; this is #3)"),
        "{e}"
    );
}

#[test]
fn warnings_for_unreachable_blocks_and_endless_waiting_loops() {
    let f = parse(&json!({"version": 1, "id": "t", "start": "a", "blocks": [
        {"id": "a", "type": "play", "prompt": "hold music", "next": "a"},
        {"id": "orphan", "type": "hangup"}
    ]}))
    .unwrap();
    let w: Vec<String> = f.warnings().iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter()
            .any(|w| w.starts_with("block \"orphan\": unreachable")),
        "{w:?}"
    );
    assert!(
        w.iter().any(|w| w.starts_with("block \"a\": blocks a loop with no way out: the flow only ends when the caller hangs up")),
        "{w:?}"
    );
    // A loop whose body never returns runs once.
    let f = parse(&json!({"version": 1, "id": "t", "start": "l", "blocks": [
        {"id": "l", "type": "loop", "count": 3, "body": "p", "next": "end"},
        {"id": "p", "type": "play", "prompt": "x", "next": "end"},
        {"id": "end", "type": "hangup"}
    ]}))
    .unwrap();
    assert!(f
        .warnings()
        .iter()
        .any(|w| w.field == "body" && w.message.contains("runs once")));
}

#[test]
fn loops_without_waiting_and_without_exit_are_errors() {
    let e = parse(&json!({"version": 1, "id": "t", "start": "a", "blocks": [
        {"id": "a", "type": "set_attribute", "set": {"x": 1}, "next": "b"},
        {"id": "b", "type": "condition", "branches": [{"when": {"attribute": "x", "op": "eq", "value": 1}, "next": "a"}], "next": "a"}
    ]}))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "block \"a\": blocks a, b loop forever without waiting for the caller (no exit leaves them)"
    );
    // With an exit out of the cycle it is accepted (the runaway guard watches it at run time).
    let f = parse(&json!({"version": 1, "id": "t", "start": "a", "blocks": [
        {"id": "a", "type": "set_attribute", "set": {"x": 1}, "next": "b"},
        {"id": "b", "type": "condition", "branches": [{"when": {"attribute": "x", "op": "eq", "value": 1}, "next": "a"}], "next": "end"},
        {"id": "end", "type": "hangup"}
    ]}));
    assert!(f.is_ok());
}

#[test]
fn sample_flows_validate_with_the_extensions() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../flows");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let f = Flow::parse_named(&name, &text, &common::extensions())
                .unwrap_or_else(|e| panic!("{name}:\n{e}"));
            assert!(f.warnings().is_empty(), "{name}: {:?}", f.warnings());
            names.push(name);
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            "screening.json",
            "survey.json",
            "voice-auth.json",
            "voicemail-drop.json"
        ]
    );
}

#[test]
fn screening_without_classify_fails_with_a_clear_error() {
    let text = include_str!("../../../flows/screening.json");
    let e = Flow::parse_named("screening.json", text, &Extensions::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "screening.json: block \"score\": field \"type\": unknown block type \"classify\" (built-in: play, get_input, record, amd, set_attribute, condition, webhook, loop, transfer, hangup; registered extensions: none)"
    );
    let text = include_str!("../../../flows/voice-auth.json");
    let mut only_classify = Extensions::new();
    only_classify
        .register(std::sync::Arc::new(common::Classify))
        .unwrap();
    let e = Flow::parse(text, &only_classify).unwrap_err();
    assert!(
        e.to_string().contains("registered extensions: classify)"),
        "{e}"
    );
}

#[test]
fn extension_registry_refuses_bad_names() {
    struct Named(&'static str);
    impl tympan_flow::ExtensionBlock for Named {
        fn type_name(&self) -> &str {
            self.0
        }
        fn validate(
            &self,
            _: &serde_json::Map<String, Value>,
        ) -> Result<(), Vec<tympan_flow::FieldError>> {
            Ok(())
        }
        fn enter(&self, _: &mut tympan_flow::ExtensionCall<'_>) -> tympan_flow::ExtensionStep {
            unreachable!("never entered")
        }
        fn on_result(
            &self,
            _: &mut tympan_flow::ExtensionCall<'_>,
            _: tympan_flow::ExtensionResult,
        ) -> tympan_flow::ExtensionStep {
            unreachable!("never entered")
        }
    }
    let mut x = common::extensions();
    assert!(x
        .register(std::sync::Arc::new(Named("play")))
        .unwrap_err()
        .contains("built-in"));
    assert!(x
        .register(std::sync::Arc::new(Named("classify")))
        .unwrap_err()
        .contains("already"));
    assert!(x
        .register(std::sync::Arc::new(Named("Voice-ID")))
        .unwrap_err()
        .contains("lowercase"));
    assert!(x.register(std::sync::Arc::new(Named("score_v2"))).is_ok());
    assert_eq!(x.names(), ["classify", "score_v2", "voice_id"]);
}

/// The schema's numbers are the crate's constants.
#[test]
fn schema_limits_match_the_constants() {
    let s: Value = serde_json::from_str(SCHEMA_V1).unwrap();
    let d = &s["$defs"];
    let max = |v: &Value| v["maximum"].as_u64().unwrap();
    let min = |v: &Value| v["minimum"].as_u64().unwrap();
    let gi = &d["get_input"]["properties"];
    assert_eq!(
        s["properties"]["blocks"]["maxItems"].as_u64().unwrap() as usize,
        MAX_BLOCKS
    );
    assert_eq!(
        s["properties"]["attributes"]["maxProperties"]
            .as_u64()
            .unwrap() as usize,
        MAX_ATTRIBUTES
    );
    assert_eq!(
        d["prompt"]["oneOf"][0]["maxLength"].as_u64().unwrap() as usize,
        MAX_PROMPT_CHARS
    );
    assert_eq!(
        d["template"]["maxLength"].as_u64().unwrap() as usize,
        MAX_PROMPT_CHARS
    );
    assert_eq!(
        d["prompt"]["oneOf"][1]["properties"]["audio"]["maxLength"]
            .as_u64()
            .unwrap() as usize,
        MAX_AUDIO_PATH_CHARS
    );
    assert_eq!(min(&gi["timeout_ms"]), MIN_TIMEOUT_MS);
    assert_eq!(max(&gi["timeout_ms"]), MAX_INPUT_TIMEOUT_MS);
    assert_eq!(
        gi["timeout_ms"]["default"].as_u64().unwrap(),
        DEFAULT_INPUT_TIMEOUT_MS
    );
    assert_eq!(max(&gi["max_attempts"]) as u32, MAX_ATTEMPTS);
    assert_eq!(
        gi["max_attempts"]["default"].as_u64().unwrap() as u32,
        DEFAULT_ATTEMPTS
    );
    assert_eq!(max(&gi["max_repeats"]) as u32, MAX_REPEATS);
    assert_eq!(
        gi["max_repeats"]["default"].as_u64().unwrap() as u32,
        DEFAULT_MAX_REPEATS
    );
    assert_eq!(
        max(&gi["dtmf"]["properties"]["max_digits"]) as u32,
        MAX_DIGITS
    );
    assert_eq!(
        gi["dtmf"]["properties"]["inter_digit_timeout_ms"]["default"]
            .as_u64()
            .unwrap(),
        DEFAULT_INTER_DIGIT_MS
    );
    assert_eq!(
        gi["dtmf"]["properties"]["overall_timeout_ms"]["default"]
            .as_u64()
            .unwrap(),
        DEFAULT_OVERALL_DTMF_MS
    );
    assert_eq!(
        gi["max_speech_ms"]["default"].as_u64().unwrap(),
        DEFAULT_MAX_SPEECH_MS
    );
    let rec = &d["record"]["properties"];
    assert_eq!(max(&rec["max_length_ms"]), MAX_RECORD_MS);
    assert_eq!(min(&rec["max_length_ms"]), MIN_RECORD_MS);
    assert_eq!(
        rec["max_length_ms"]["default"].as_u64().unwrap(),
        DEFAULT_RECORD_MS
    );
    let amd = &d["amd"]["properties"];
    assert_eq!(
        amd["timeout_ms"]["default"].as_u64().unwrap(),
        DEFAULT_AMD_TIMEOUT_MS
    );
    assert_eq!(
        amd["beep_timeout_ms"]["default"].as_u64().unwrap(),
        DEFAULT_BEEP_TIMEOUT_MS
    );
    let wh = &d["webhook"]["properties"];
    assert_eq!(max(&wh["timeout_ms"]), MAX_WEBHOOK_TIMEOUT_MS);
    assert_eq!(
        wh["timeout_ms"]["default"].as_u64().unwrap(),
        DEFAULT_WEBHOOK_TIMEOUT_MS
    );
    assert_eq!(max(&wh["retries"]) as u32, MAX_WEBHOOK_RETRIES);
    assert_eq!(
        wh["retries"]["default"].as_u64().unwrap() as u32,
        DEFAULT_WEBHOOK_RETRIES
    );
    assert_eq!(max(&wh["backoff_ms"]), MAX_BACKOFF_MS);
    assert_eq!(
        wh["backoff_ms"]["default"].as_u64().unwrap(),
        DEFAULT_BACKOFF_MS
    );
    let lp = &d["loop"]["properties"];
    assert_eq!(max(&lp["max_iterations"]) as u32, MAX_LOOP_ITERATIONS);
    assert_eq!(max(&lp["count"]["oneOf"][0]) as u32, MAX_LOOP_ITERATIONS);
    assert_eq!(
        lp["max_iterations"]["default"].as_u64().unwrap() as u32,
        DEFAULT_LOOP_MAX_ITERATIONS
    );
    assert_eq!(
        d["transfer"]["properties"]["timeout_ms"]["default"]
            .as_u64()
            .unwrap(),
        DEFAULT_TRANSFER_TIMEOUT_MS
    );
    assert!(d["id"]["pattern"]
        .as_str()
        .unwrap()
        .contains(&format!("{{1,{MAX_ID_CHARS}}}")));
    assert!(d["attribute_name"]["pattern"]
        .as_str()
        .unwrap()
        .contains(&format!("{{0,{}}}", MAX_ATTRIBUTE_NAME_CHARS - 1)));
}

/// The README's flow and script examples parse.
#[test]
fn readme_examples_parse() {
    let readme = include_str!("../README.md");
    let blocks: Vec<&str> = readme
        .split("```json")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    assert_eq!(blocks.len(), 2, "a flow and a script");
    let f = Flow::parse_named("README flow", blocks[0], &Extensions::new())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.id(), "dob-check");
    assert!(f.warnings().is_empty(), "{:?}", f.warnings());
    let s = tympan_flow::Script::parse(blocks[1]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.callee.len(), 5);
    assert_eq!(s.webhooks.len(), 2);
}
