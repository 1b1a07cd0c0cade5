//! The simulation script format and the simulator itself.

mod common;

use serde_json::json;
use tympan_flow::simulate::{Anchor, CalleeAct};
use tympan_flow::{simulate, Action, Outcome, Script};

#[test]
fn script_errors_name_the_field() {
    let rows = [
        (
            json!([{"say": "yes"}]),
            "callee[0]",
            "exactly one of at_ms, after_prompt",
        ),
        (
            json!([{"at_ms": 1, "after_prompt": 2, "say": "yes"}]),
            "callee[0]",
            "exactly one of at_ms",
        ),
        (
            json!([{"after_prompt": 0, "say": "yes"}]),
            "callee[0].after_prompt",
            "counts from 1",
        ),
        (
            json!([{"at_ms": 1}]),
            "callee[0]",
            "exactly one of say, keys",
        ),
        (
            json!([{"at_ms": 1, "say": "a", "keys": "1"}]),
            "callee[0]",
            "exactly one of say, keys",
        ),
        (
            json!([{"at_ms": 1, "keys": "12x"}]),
            "callee[0].keys",
            "'x' is not a DTMF key",
        ),
        (
            json!([{"at_ms": 1, "say": "a", "confidence": 3}]),
            "callee[0].confidence",
            "0-1",
        ),
        (
            json!([{"at_ms": -5, "say": "a"}]),
            "callee[0].at_ms",
            "whole number",
        ),
        (
            json!([{"at_ms": 1, "shout": "a"}]),
            "callee[0].shout",
            "unknown field",
        ),
        (
            json!({"callee": [], "webhooks": [{"status": 700}]}),
            "webhooks[0].status",
            "100-599",
        ),
        (
            json!({"webhooks": [{}]}),
            "webhooks[0]",
            "needs status, fail",
        ),
        (
            json!({"extensions": {"classify": [{"result": 1, "error": "x"}]}}),
            "extensions.classify[0]",
            "not both",
        ),
        (
            json!({"amd": {"at_ms": 4}}),
            "amd.answered_by",
            "is required",
        ),
        (json!({"voice": "x"}), "voice", "unknown field"),
        (json!("hello"), "", "object or a list"),
    ];
    for (i, (v, field, msg)) in rows.into_iter().enumerate() {
        let e = Script::from_value(&v).unwrap_err();
        assert_eq!(e.field, field, "row {i}: {e}");
        assert!(e.message.contains(msg), "row {i}: {e}");
    }
    let e = Script::parse_named("callee.json", "[{]").unwrap_err();
    assert!(
        e.to_string()
            .starts_with("callee.json: invalid JSON at line 1 column 3: key must be a string"),
        "{e}"
    );
}

#[test]
fn script_parses_with_defaults() {
    let s = Script::parse(r#"[{"after_prompt": 1, "say": "yes I do"}, {"during_prompt": 2, "delay_ms": 10, "keys": "12#", "key_interval_ms": 100}, {"at_ms": 9000, "hangup": true}]"#).unwrap();
    assert_eq!(s.callee.len(), 3);
    assert_eq!(s.callee[0].anchor, Anchor::AfterPrompt(1));
    assert_eq!(
        s.callee[0].act,
        CalleeAct::Say {
            text: "yes I do".into(),
            duration_ms: 3 * tympan_flow::simulate::SIM_MS_PER_WORD,
            confidence: 0.9
        }
    );
    assert_eq!(
        s.callee[1].act,
        CalleeAct::Keys {
            keys: "12#".into(),
            interval_ms: 100
        }
    );
    assert_eq!(s.callee[2].act, CalleeAct::Hangup);
    assert!(s.transfer.ok);
    assert_eq!(s.max_ms, tympan_flow::simulate::SIM_MAX_MS);
}

/// A minute-long call (greeting, a six-question keypad survey, a webhook) runs in virtual
/// time: the test asserts the virtual length, not the wall clock.
#[test]
fn a_minute_of_call_in_virtual_time_and_determinism() {
    let f = common::flow(
        json!({"version": 1, "id": "long", "start": "hello", "blocks": [
            {"id": "hello", "type": "play", "prompt": "Welcome to the long survey. This greeting is deliberately quite long so the call lasts a while.", "next": "l"},
            {"id": "l", "type": "loop", "count": 6, "index_attribute": "i", "body": "q", "next": "post"},
            {"id": "q", "type": "get_input", "prompt": "Question {{ i }}: press a number and then pound.", "answer_type": "number", "attribute": "a{{ i }}", "dtmf": {"max_digits": 4}, "next": "l"},
            {"id": "post", "type": "webhook", "url": "https://results.example/save", "retries": 1, "backoff_ms": 1000, "response": {"saved": "ok"}, "next": "bye", "on_error": "bye"},
            {"id": "bye", "type": "hangup"}
        ]}),
    );
    let script = Script::from_value(&json!({
        "callee": (2..=7).map(|n| json!({"after_prompt": n, "delay_ms": 4500, "keys": format!("{n}0#"), "key_interval_ms": 400})).collect::<Vec<_>>(),
        "webhooks": [{"timeout": true}, {"status": 200, "body": {"ok": true}, "delay_ms": 120}]
    }))
    .unwrap();
    let r1 = simulate(&f, &script, common::parser());
    let r2 = simulate(&f, &script, common::parser());
    assert_eq!(r1, r2, "same script, same report");
    assert!(
        r1.duration_ms >= 60_000,
        "virtual length {} ms",
        r1.duration_ms
    );
    for n in 1..=6 {
        assert_eq!(r1.attributes[&format!("a{n}")], json!((n + 1) * 10));
    }
    assert_eq!(r1.attributes["saved"], json!(true));
    assert_eq!(
        r1.outcome,
        Some(Outcome::Completed {
            block: Some("bye".into())
        })
    );
    let http_times: Vec<u64> = r1
        .actions()
        .filter(|(_, a)| matches!(a, Action::HttpRequest { .. }))
        .map(|(t, _)| t)
        .collect();
    assert_eq!(http_times.len(), 2);
    assert_eq!(
        http_times[1] - http_times[0],
        5_000 + 1_000,
        "timeout then backoff"
    );
    let text = r1.render_text();
    assert!(text.contains("duration: "), "{text}");
    assert!(
        text.contains("(try 2): POST https://results.example/save"),
        "{text}"
    );
}

#[test]
fn unused_steps_and_the_time_limit_are_reported() {
    let f = common::flow(json!({"version": 1, "id": "t", "start": "p", "blocks": [
        {"id": "p", "type": "play", "prompt": "Hi", "next": "hold"},
        {"id": "hold", "type": "play", "prompt": "Please hold.", "next": "hold"}
    ]}));
    let script = Script::from_value(
        &json!({"callee": [{"after_prompt": 99, "say": "hello"}], "max_ms": 20000}),
    )
    .unwrap();
    let r = simulate(&f, &script, common::parser());
    assert_eq!(r.unused_steps, [0]);
    assert_eq!(r.outcome, None);
    assert_eq!(
        r.stopped.as_deref(),
        Some("the flow had not ended after 20000 ms")
    );
    assert!(r.render_text().contains("unused callee steps: [0]"));
}

#[test]
fn report_is_serializable() {
    let f = common::flow(json!({"version": 1, "id": "t", "start": "q", "blocks": [
        {"id": "q", "type": "get_input", "prompt": "Yes?", "answer_type": "yes_no", "attribute": "a", "next": "end"},
        {"id": "end", "type": "hangup"}
    ]}));
    let script = Script::from_value(&json!([{"after_prompt": 1, "say": "yes"}])).unwrap();
    let r = simulate(&f, &script, common::parser());
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["outcome"]["status"], json!("completed"));
    assert_eq!(
        v["timeline"][0],
        json!({"dir": "in", "at_ms": 0, "event": {"event": "answered"}})
    );
    assert_eq!(v["timeline"][1]["action"]["action"], json!("play"));
    let back: tympan_flow::SimulationReport = serde_json::from_value(v).unwrap();
    assert_eq!(back, r);
    println!("{}", r.render_text());
}
