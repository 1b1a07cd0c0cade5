//! Webhook, condition, loop, set_attribute, record, amd, transfer, extension blocks; the
//! runaway guard; traces; determinism.

mod common;

use common::*;
use serde_json::{json, Value};
use tympan_flow::limits::*;
use tympan_flow::{Action, Event, Outcome, RecordingEnd, TraceInput};

fn hangup_reason(actions: &[Action]) -> Option<String> {
    actions.iter().find_map(|a| match a {
        Action::Hangup { reason } => Some(reason.clone()),
        _ => None,
    })
}

fn http(actions: &[Action]) -> (u64, String, Value, u64) {
    actions
        .iter()
        .find_map(|a| match a {
            Action::HttpRequest {
                id,
                url,
                body,
                timeout_ms,
                ..
            } => Some((*id, url.clone(), body.clone(), *timeout_ms)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no http request in {actions:?}"))
}

fn webhook_flow(extra: Value) -> std::sync::Arc<tympan_flow::Flow> {
    let mut w = json!({"id": "w", "type": "webhook", "url": "https://crm.example/lookup?c={{ caller }}",
        "headers": {"Authorization": "Bearer {{ token }}"}, "send": ["caller"],
        "timeout_ms": 2000, "retries": 2, "backoff_ms": 500,
        "response": {"tier": "customer.tier", "score": "/score"},
        "next": "ok", "on_error": "failed"});
    for (k, v) in extra.as_object().unwrap() {
        w[k] = v.clone();
    }
    flow(json!({"version": 1, "id": "t", "start": "w", "blocks": [
        w, {"id": "ok", "type": "hangup", "reason": "ok"}, {"id": "failed", "type": "hangup", "reason": "failed"}
    ]}))
}

#[test]
fn webhook_request_and_response_mapping() {
    let f = webhook_flow(json!({}));
    let mut it = start(
        &f,
        json!({"caller": "+15551234", "token": "s3cret", "secret_note": "not sent"}),
    );
    let a = drain(&mut it);
    let (id, url, body, timeout) = http(&a);
    assert_eq!(url, "https://crm.example/lookup?c=+15551234");
    assert_eq!(timeout, 2_000);
    assert_eq!(
        body["attributes"],
        json!({"caller": "+15551234"}),
        "only `send` attributes"
    );
    assert_eq!(body["flow_id"], json!("t"));
    assert_eq!(body["block_id"], json!("w"));
    match &a[0] {
        Action::HttpRequest { headers, .. } => assert_eq!(
            headers,
            &[("Authorization".to_string(), "Bearer s3cret".to_string())]
        ),
        x => panic!("{x:?}"),
    }
    it.handle(
        Event::HttpResponse {
            id,
            status: 200,
            body: Some(json!({"customer": {"tier": "gold"}, "score": 7})),
        },
        300,
    );
    let a = drain(&mut it);
    let attrs = finished(&a).1;
    assert_eq!(attrs["tier"], json!("gold"));
    assert_eq!(attrs["score"], json!(7));
    assert_eq!(hangup_reason(&a).as_deref(), Some("ok"));
}

#[test]
fn webhook_retries_with_doubling_backoff_then_fails() {
    let f = webhook_flow(json!({}));
    let mut it = start(&f, json!({"caller": "1"}));
    let (id1, ..) = http(&drain(&mut it));
    it.handle(
        Event::HttpResponse {
            id: id1,
            status: 503,
            body: None,
        },
        100,
    );
    assert!(drain(&mut it).is_empty(), "waits before retrying");
    assert_eq!(it.poll_timeout(), Some(600), "first backoff 500 ms");
    it.handle_timeout(600);
    let (id2, ..) = http(&drain(&mut it));
    assert_ne!(id1, id2);
    // The first request's late answer is ignored.
    it.handle(
        Event::HttpResponse {
            id: id1,
            status: 200,
            body: Some(json!({})),
        },
        650,
    );
    assert!(drain(&mut it).is_empty());
    it.handle(
        Event::HttpFailed {
            id: id2,
            reason: "connection refused".into(),
        },
        700,
    );
    assert_eq!(it.poll_timeout(), Some(1_700), "second backoff 1000 ms");
    it.handle_timeout(1_700);
    let (id3, ..) = http(&drain(&mut it));
    // No report at all: the interpreter's own deadline (timeout + grace) ends the last try.
    assert_eq!(it.poll_timeout(), Some(1_700 + 2_000 + REPORT_GRACE_MS));
    it.handle_timeout(1_700 + 2_000 + REPORT_GRACE_MS);
    let a = drain(&mut it);
    assert_eq!(hangup_reason(&a).as_deref(), Some("failed"));
    let e = &it.trace().entries[0];
    let tries: Vec<u32> = e
        .inputs
        .iter()
        .filter_map(|i| match i {
            TraceInput::Request { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(tries, [1, 2, 3]);
    assert!(e.inputs.iter().any(|i| matches!(i, TraceInput::Note { text, .. } if text.contains("webhook failed after 3 tries"))), "{:?}", e.inputs);
    let _ = id3;
}

#[test]
fn webhook_refuses_header_injection_and_bad_urls() {
    let f = webhook_flow(json!({}));
    let mut it = start(&f, json!({"caller": "1", "token": "x\r\nX-Evil: 1"}));
    let a = drain(&mut it);
    assert!(
        !a.iter().any(|x| matches!(x, Action::HttpRequest { .. })),
        "{a:?}"
    );
    assert_eq!(hangup_reason(&a).as_deref(), Some("failed"));
    let f = webhook_flow(json!({"url": "{{ base }}/x"}));
    let mut it = start(&f, json!({"base": "https://a b.example"}));
    assert_eq!(hangup_reason(&drain(&mut it)).as_deref(), Some("failed"));
    let mut it = start(&f, json!({"base": "https://ok.example"}));
    assert_eq!(http(&drain(&mut it)).1, "https://ok.example/x");
}

#[test]
fn webhook_client_error_is_not_retried_and_429_is() {
    let f = webhook_flow(json!({"retries": 1, "backoff_ms": 0}));
    let mut it = start(&f, json!({}));
    let (id, ..) = http(&drain(&mut it));
    it.handle(
        Event::HttpResponse {
            id,
            status: 404,
            body: None,
        },
        10,
    );
    assert_eq!(hangup_reason(&drain(&mut it)).as_deref(), Some("failed"));

    let mut it = start(&f, json!({}));
    let (id, ..) = http(&drain(&mut it));
    it.handle(
        Event::HttpResponse {
            id,
            status: 429,
            body: None,
        },
        10,
    );
    let (id2, ..) = http(&drain(&mut it)); // backoff 0: at once
    it.handle(
        Event::HttpResponse {
            id: id2,
            status: 204,
            body: None,
        },
        20,
    );
    let a = drain(&mut it);
    assert_eq!(hangup_reason(&a).as_deref(), Some("ok"));
    assert!(
        !finished(&a).1.contains_key("tier"),
        "missing fields leave attributes alone"
    );
    assert!(it.trace().entries[0]
        .inputs
        .iter()
        .any(|i| matches!(i, TraceInput::Note { text, .. } if text.contains("/customer/tier"))));
}

#[test]
fn condition_first_match_wins_else_default() {
    let f = flow(json!({"version": 1, "id": "t", "start": "c", "blocks": [
        {"id": "c", "type": "condition", "branches": [
            {"when": {"attribute": "age", "op": "lt", "value": 18}, "next": "minor"},
            {"when": {"any": [{"attribute": "vip", "op": "eq", "value": true}, {"attribute": "tier", "op": "contains", "value": "gold"}]}, "next": "vip"},
            {"when": {"attribute": "age", "op": "ge", "value": "{{ senior_age }}"}, "next": "senior"}
        ], "next": "adult"},
        {"id": "minor", "type": "hangup", "reason": "minor"},
        {"id": "vip", "type": "hangup", "reason": "vip"},
        {"id": "senior", "type": "hangup", "reason": "senior"},
        {"id": "adult", "type": "hangup", "reason": "adult"}
    ]}));
    for (a, want) in [
        (json!({"age": 12, "vip": true}), "minor"),
        (json!({"age": "40", "tier": "rose gold"}), "vip"),
        (json!({"age": 70, "senior_age": "65"}), "senior"),
        (json!({"age": 30, "senior_age": 65}), "adult"),
        (json!({}), "adult"),
    ] {
        let mut it = start(&f, a.clone());
        assert_eq!(hangup_reason(&drain(&mut it)).as_deref(), Some(want), "{a}");
    }
}

#[test]
fn count_loop_with_index_and_set_attribute_expressions() {
    let f = flow(json!({"version": 1, "id": "t", "start": "init", "blocks": [
        {"id": "init", "type": "set_attribute", "set": {"total": {"expr": "0"}, "greeting": "Hi {{ name }}", "flag": true}, "next": "l"},
        {"id": "l", "type": "loop", "count": "{{ n }}", "index_attribute": "i", "body": "add", "next": "end"},
        {"id": "add", "type": "set_attribute", "set": {"total": {"expr": "total + i"}}, "next": "l"},
        {"id": "end", "type": "hangup"}
    ]}));
    let mut it = start(&f, json!({"n": 4, "name": "Ann"}));
    let a = drain(&mut it);
    let attrs = finished(&a).1;
    assert_eq!(attrs["total"], json!(10));
    assert_eq!(attrs["greeting"], json!("Hi Ann"));
    assert_eq!(attrs["flag"], json!(true));
    assert_eq!(attrs["i"], json!(5), "set before each check");
    let path = it.trace().path();
    assert_eq!(
        path,
        ["init", "l", "add", "l", "add", "l", "add", "l", "add", "l", "end"]
    );
    let l = &it.trace().entries[9];
    assert_eq!(l.result, Some(json!({"iterations": 4})));
    assert_eq!(l.exit.as_deref(), Some("next"));
    // The loop starts afresh when entered again after it finished.
    let f2 = flow(json!({"version": 1, "id": "t", "start": "init", "blocks": [
        {"id": "init", "type": "set_attribute", "set": {"rounds": {"expr": "0"}}, "next": "l"},
        {"id": "l", "type": "loop", "count": 2, "body": "b", "next": "again"},
        {"id": "b", "type": "set_attribute", "set": {"x": 1}, "next": "l"},
        {"id": "again", "type": "set_attribute", "set": {"rounds": {"expr": "rounds + 1"}}, "next": "check"},
        {"id": "check", "type": "condition", "branches": [{"when": {"attribute": "rounds", "op": "lt", "value": 3}, "next": "l"}], "next": "end"},
        {"id": "end", "type": "hangup"}
    ]}));
    let mut it = start(&f2, json!({}));
    drain(&mut it);
    assert_eq!(it.trace().path().iter().filter(|b| **b == "b").count(), 6);
}

#[test]
fn while_loop_hits_its_cap() {
    let f = flow(json!({"version": 1, "id": "t", "start": "l", "blocks": [
        {"id": "l", "type": "loop", "while": {"attribute": "go", "op": "eq", "value": true}, "max_iterations": 3, "body": "p", "next": "end", "on_error": "capped"},
        {"id": "p", "type": "play", "prompt": "again", "next": "l"},
        {"id": "end", "type": "hangup", "reason": "end"},
        {"id": "capped", "type": "hangup", "reason": "capped"}
    ]}));
    let mut it = start(&f, json!({"go": true}));
    let mut n = 0;
    loop {
        let a = drain(&mut it);
        if let Some(r) = hangup_reason(&a) {
            assert_eq!(r, "capped");
            break;
        }
        n += 1;
        it.handle(Event::PlaybackFinished { id: play_id(&a) }, n * 1_000);
    }
    assert_eq!(n, 3);
    let last_loop = it
        .trace()
        .entries
        .iter()
        .rev()
        .find(|e| e.block == "l")
        .unwrap();
    assert_eq!(last_loop.exit.as_deref(), Some("on_error"));
}

#[test]
fn runaway_flow_is_stopped() {
    // A counter that never reaches its exit: the schema and graph checks accept it (there is an
    // exit), the runaway guard ends it.
    let f = flow(json!({"version": 1, "id": "t", "start": "a", "blocks": [
        {"id": "a", "type": "set_attribute", "set": {"n": {"expr": "(n or 0) + 1"}}, "next": "b"},
        {"id": "b", "type": "condition", "branches": [{"when": {"attribute": "n", "op": "gt", "value": -1}, "next": "a"}], "next": "end"},
        {"id": "end", "type": "hangup"}
    ]}));
    let mut it = start(&f, json!({}));
    let a = drain(&mut it);
    match finished(&a).0 {
        Outcome::Error { reason, .. } => {
            assert!(
                reason.contains(&format!(
                    "entered {MAX_STEPS_PER_EVENT} blocks without waiting"
                )),
                "{reason}"
            );
            assert!(reason.contains("a → b"), "{reason}");
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(
        hangup_reason(&a).as_deref(),
        Some(tympan_flow::HANGUP_FLOW_ERROR)
    );
    assert_eq!(it.trace().entries.len(), MAX_STEPS_PER_EVENT);
    assert_eq!(it.poll_timeout(), None);
    it.handle(Event::Dtmf { digit: '1' }, 10);
    assert!(drain(&mut it).is_empty(), "nothing after finished");
}

#[test]
fn record_ends_on_dtmf_and_stores_the_recording() {
    let f = flow(json!({"version": 1, "id": "t", "start": "r", "blocks": [
        {"id": "r", "type": "record", "attribute": "msg", "max_length_ms": 20000, "end_on_silence_ms": 3000, "end_on_dtmf": "#", "next": "end"},
        {"id": "end", "type": "hangup"}
    ]}));
    let mut it = start(&f, json!({}));
    let a = drain(&mut it);
    let id = match &a[0] {
        Action::StartRecording {
            id,
            max_length_ms: 20_000,
            end_on_silence_ms: Some(3_000),
            end_on_dtmf,
            beep: false,
        } if end_on_dtmf == "#" => *id,
        x => panic!("{x:?}"),
    };
    assert_eq!(it.poll_timeout(), Some(20_000 + REPORT_GRACE_MS));
    it.handle(Event::Dtmf { digit: '1' }, 4_000);
    assert!(drain(&mut it).is_empty(), "other keys do not stop it");
    it.handle(Event::Dtmf { digit: '#' }, 9_000);
    assert_eq!(drain(&mut it), [Action::StopRecording { id }]);
    it.handle(
        Event::RecordingFinished {
            id,
            recording: "rec-42".into(),
            duration_ms: 9_000,
            reason: RecordingEnd::Stopped,
        },
        9_050,
    );
    let a = drain(&mut it);
    assert_eq!(finished(&a).1["msg"], json!("rec-42"));
    assert_eq!(
        it.trace().entries[0].result,
        Some(json!({"recording": "rec-42", "duration_ms": 9000, "reason": "dtmf"}))
    );
}

#[test]
fn record_keeps_the_message_when_the_caller_hangs_up() {
    let f = flow(json!({"version": 1, "id": "t", "start": "r", "blocks": [
        {"id": "r", "type": "record", "attribute": "msg", "next": "end"},
        {"id": "end", "type": "hangup"}
    ]}));
    let mut it = start(&f, json!({}));
    let id = match drain(&mut it)[0] {
        Action::StartRecording { id, .. } => id,
        _ => unreachable!(),
    };
    it.handle(Event::RemoteHangup, 5_000);
    assert!(drain(&mut it).is_empty(), "waits for the recording");
    it.handle(
        Event::RecordingFinished {
            id,
            recording: "rec-7".into(),
            duration_ms: 5_000,
            reason: RecordingEnd::Hangup,
        },
        5_100,
    );
    let a = drain(&mut it);
    assert_eq!(
        hangup_reason(&a),
        None,
        "no hang-up action: the caller is gone"
    );
    let (o, attrs) = finished(&a);
    assert_eq!(
        *o,
        Outcome::CallerHungUp {
            block: Some("r".into())
        }
    );
    assert_eq!(attrs["msg"], json!("rec-7"));
    // Without a report the flow still ends after the grace.
    let mut it = start(&f, json!({}));
    drain(&mut it);
    it.handle(Event::RemoteHangup, 5_000);
    it.handle_timeout(5_000 + REPORT_GRACE_MS);
    assert!(matches!(
        finished(&drain(&mut it)).0,
        Outcome::CallerHungUp { .. }
    ));
}

#[test]
fn record_past_its_length_is_stopped_by_the_interpreter() {
    let f = flow(json!({"version": 1, "id": "t", "start": "r", "blocks": [
        {"id": "r", "type": "record", "attribute": "msg", "max_length_ms": 1000, "next": "end", "on_error": "err"},
        {"id": "end", "type": "hangup", "reason": "end"},
        {"id": "err", "type": "hangup", "reason": "err"}
    ]}));
    let mut it = start(&f, json!({}));
    let id = match drain(&mut it)[0] {
        Action::StartRecording { id, .. } => id,
        _ => unreachable!(),
    };
    it.handle_timeout(1_000 + REPORT_GRACE_MS);
    assert_eq!(drain(&mut it), [Action::StopRecording { id }]);
    it.handle_timeout(1_000 + 2 * REPORT_GRACE_MS);
    assert_eq!(hangup_reason(&drain(&mut it)).as_deref(), Some("err"));
}

fn amd_flow(wait: bool) -> std::sync::Arc<tympan_flow::Flow> {
    let mut branches = json!({"human": "h", "machine": "m", "fax": "f"});
    if wait {
        branches["no_beep"] = json!("nb");
    }
    flow(json!({"version": 1, "id": "t", "start": "d", "blocks": [
        {"id": "d", "type": "amd", "wait_for_beep": wait, "timeout_ms": 10000, "beep_timeout_ms": 5000, "branches": branches, "next": "other"},
        {"id": "h", "type": "hangup", "reason": "human"},
        {"id": "m", "type": "hangup", "reason": "machine"},
        {"id": "f", "type": "hangup", "reason": "fax"},
        {"id": "nb", "type": "hangup", "reason": "no_beep"},
        {"id": "other", "type": "hangup", "reason": "other"}
    ]}))
}

#[test]
fn amd_branches_and_beep_wait() {
    // Result known before the block: decided at once.
    let f = amd_flow(false);
    let mut it =
        tympan_flow::Interpreter::new(f.clone(), Default::default(), Default::default(), parser());
    it.handle(
        Event::AmdResult {
            answered_by: "human".into(),
        },
        0,
    );
    it.handle(Event::Answered, 10);
    assert_eq!(hangup_reason(&drain(&mut it)).as_deref(), Some("human"));
    // machine_* → machine branch; unknown result → next (no "unknown" branch).
    for (ab, want) in [
        ("machine_end_silence", "machine"),
        ("fax", "fax"),
        ("unknown", "other"),
    ] {
        let mut it = start(&f, json!({}));
        assert!(drain(&mut it).is_empty());
        it.handle(
            Event::AmdResult {
                answered_by: ab.into(),
            },
            3_000,
        );
        let a = drain(&mut it);
        assert_eq!(hangup_reason(&a).as_deref(), Some(want), "{ab}");
        assert_eq!(finished(&a).1["answered_by"], json!(ab));
    }
    // No result in time → unknown.
    let mut it = start(&f, json!({}));
    it.handle_timeout(10_000);
    assert_eq!(finished(&drain(&mut it)).1["answered_by"], json!("unknown"));

    let f = amd_flow(true);
    let mut it = start(&f, json!({}));
    it.handle(
        Event::AmdResult {
            answered_by: "machine_end_other".into(),
        },
        2_000,
    );
    assert!(drain(&mut it).is_empty(), "waits for the beep");
    assert_eq!(it.poll_timeout(), Some(7_000));
    it.handle(Event::Beep, 4_500);
    let a = drain(&mut it);
    assert_eq!(hangup_reason(&a).as_deref(), Some("machine"));
    assert_eq!(finished(&a).1["beep_detected"], json!(true));
    assert_eq!(it.trace().entries[0].left_at_ms, Some(4_500));

    let mut it = start(&f, json!({}));
    it.handle(
        Event::AmdResult {
            answered_by: "machine_start".into(),
        },
        2_000,
    );
    it.handle_timeout(7_000);
    let a = drain(&mut it);
    assert_eq!(hangup_reason(&a).as_deref(), Some("no_beep"));
    assert_eq!(finished(&a).1["beep_detected"], json!(false));

    // machine_end_beep: the beep already came.
    let mut it = start(&f, json!({}));
    it.handle(
        Event::AmdResult {
            answered_by: "machine_end_beep".into(),
        },
        2_000,
    );
    assert_eq!(hangup_reason(&drain(&mut it)).as_deref(), Some("machine"));
}

#[test]
fn transfer_ends_the_flow_or_takes_on_error() {
    let f = flow(json!({"version": 1, "id": "t", "start": "x", "blocks": [
        {"id": "x", "type": "transfer", "to": "{{ agent }}", "mode": "bridge", "timeout_ms": 5000, "on_error": "fail"},
        {"id": "fail", "type": "hangup", "reason": "fail"}
    ]}));
    let mut it = start(&f, json!({"agent": "sip:desk@pbx.example"}));
    let a = drain(&mut it);
    let id = match &a[0] {
        Action::Transfer {
            id,
            to,
            mode: tympan_flow::TransferMode::Bridge,
        } if to == "sip:desk@pbx.example" => *id,
        x => panic!("{x:?}"),
    };
    it.handle(
        Event::TransferFinished {
            id,
            ok: true,
            reason: None,
        },
        3_000,
    );
    let a = drain(&mut it);
    assert_eq!(hangup_reason(&a), None);
    assert_eq!(
        *finished(&a).0,
        Outcome::Transferred {
            block: "x".into(),
            to: "sip:desk@pbx.example".into()
        }
    );

    let mut it = start(&f, json!({"agent": "sip:desk@pbx.example"}));
    let id = match drain(&mut it)[0] {
        Action::Transfer { id, .. } => id,
        _ => unreachable!(),
    };
    it.handle(
        Event::TransferFinished {
            id,
            ok: false,
            reason: Some("486 Busy".into()),
        },
        1_000,
    );
    assert_eq!(hangup_reason(&drain(&mut it)).as_deref(), Some("fail"));

    let mut it = start(&f, json!({"agent": "not a target"}));
    assert_eq!(hangup_reason(&drain(&mut it)).as_deref(), Some("fail"));
}

#[test]
fn extension_block_request_result_and_timeout() {
    let f = flow(json!({"version": 1, "id": "t", "start": "c", "blocks": [
        {"id": "c", "type": "classify", "recording": "{{ rec }}", "threshold": 0.6, "timeout_ms": 2000,
         "branches": {"high_risk": "hi", "low_risk": "lo"}, "on_error": "err"},
        {"id": "hi", "type": "hangup", "reason": "hi"},
        {"id": "lo", "type": "hangup", "reason": "lo"},
        {"id": "err", "type": "hangup", "reason": "err"}
    ]}));
    assert_eq!(f.extension_types(), ["classify"]);
    for (p, want) in [(0.61, "hi"), (0.2, "lo")] {
        let mut it = start(&f, json!({"rec": "rec-1"}));
        let a = drain(&mut it);
        let id = match &a[0] {
            Action::Extension {
                id,
                block_type,
                block_id,
                payload,
                timeout_ms: 2_000,
            } if block_type == "classify" && block_id == "c" => {
                assert_eq!(payload, &json!({"recording": "rec-1"}));
                *id
            }
            x => panic!("{x:?}"),
        };
        it.handle(
            Event::ExtensionResult {
                id,
                ok: true,
                value: json!({"probability": p}),
            },
            500,
        );
        let a = drain(&mut it);
        assert_eq!(hangup_reason(&a).as_deref(), Some(want));
        assert_eq!(finished(&a).1["risk_score"], json!(p));
        assert_eq!(
            it.trace().entries[0].exit.as_deref(),
            Some(if want == "hi" {
                "branches.high_risk"
            } else {
                "branches.low_risk"
            })
        );
    }
    let mut it = start(&f, json!({"rec": "rec-1"}));
    drain(&mut it);
    it.handle_timeout(2_000);
    assert_eq!(hangup_reason(&drain(&mut it)).as_deref(), Some("err"));
    let mut it = start(&f, json!({"rec": "rec-1"}));
    let id = match drain(&mut it)[0] {
        Action::Extension { id, .. } => id,
        _ => unreachable!(),
    };
    it.handle(
        Event::ExtensionResult {
            id,
            ok: false,
            value: json!("model not loaded"),
        },
        100,
    );
    assert_eq!(hangup_reason(&drain(&mut it)).as_deref(), Some("err"));
    assert!(it.trace().entries[0]
        .inputs
        .iter()
        .any(|i| matches!(i, TraceInput::Note { text, .. } if text.contains("model not loaded"))));
    // The extension exits at once when there is nothing to classify.
    let mut it = start(&f, json!({}));
    assert_eq!(hangup_reason(&drain(&mut it)).as_deref(), Some("err"));
}

#[test]
fn remote_hangup_ends_the_flow_without_a_hangup_action() {
    let f = flow(json!({"version": 1, "id": "t", "start": "p", "blocks": [
        {"id": "p", "type": "play", "prompt": "Hello", "next": "end"},
        {"id": "end", "type": "hangup"}
    ]}));
    let mut it = start(&f, json!({}));
    drain(&mut it);
    it.handle(Event::RemoteHangup, 700);
    let a = drain(&mut it);
    assert_eq!(a.len(), 1);
    assert_eq!(
        *finished(&a).0,
        Outcome::CallerHungUp {
            block: Some("p".into())
        }
    );
    assert_eq!(
        it.trace().entries[0].exit.as_deref(),
        Some("caller_hung_up")
    );
    // Before the answer.
    let mut it = tympan_flow::Interpreter::new(f, Default::default(), Default::default(), parser());
    it.handle(Event::RemoteHangup, 0);
    assert_eq!(
        *finished(&drain(&mut it)).0,
        Outcome::CallerHungUp { block: None }
    );
}

#[test]
fn trace_is_serializable_and_renders() {
    let f = flow(json!({"version": 1, "id": "t", "start": "p", "blocks": [
        {"id": "p", "type": "play", "prompt": "Hello {{ name }}", "next": "q"},
        {"id": "q", "type": "get_input", "prompt": "Code?", "attribute": "code", "dtmf": {"max_digits": 3}, "next": "end"},
        {"id": "end", "type": "hangup"}
    ]}));
    let mut it = start(&f, json!({"name": "Ann"}));
    let p = play_id(&drain(&mut it));
    it.handle(Event::PlaybackFinished { id: p }, 1_500);
    let q = play_id(&drain(&mut it));
    it.handle(Event::PlaybackFinished { id: q }, 2_500);
    for (i, d) in "123".chars().enumerate() {
        it.handle(Event::Dtmf { digit: d }, 3_000 + i as u64 * 200);
    }
    drain(&mut it);
    let t = it.trace();
    let v = serde_json::to_value(t).unwrap();
    assert_eq!(v["entries"][0]["block"], json!("p"));
    assert_eq!(v["entries"][0]["inputs"][0]["input"], json!("prompt"));
    assert_eq!(
        v["entries"][0]["inputs"][0]["prompt"],
        json!({"text": "Hello Ann"})
    );
    assert_eq!(
        v["entries"][1]["inputs"][1],
        json!({"input": "digits", "at_ms": 3400, "digits": "123", "ended_by": "max_digits", "attempt": 1})
    );
    assert_eq!(v["outcome"], json!({"status": "completed", "block": "end"}));
    let back: tympan_flow::Trace = serde_json::from_value(v).unwrap();
    assert_eq!(&back, t);
    let text = t.render_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "flow t");
    assert!(
        lines[1].starts_with("   0.000-   1.500 p                play          -> next: q"),
        "{text}"
    );
    assert!(
        text.contains("keys \"123\" ended by max_digits (attempt 1)"),
        "{text}"
    );
    assert!(
        text.contains("outcome: {\"status\":\"completed\",\"block\":\"end\"}"),
        "{text}"
    );
}

#[test]
fn same_events_give_the_same_actions() {
    let f = flow(json!({"version": 1, "id": "t", "start": "w", "blocks": [
        {"id": "w", "type": "webhook", "url": "https://x.example/{{ id }}", "retries": 0, "next": "q", "on_error": "q"},
        {"id": "q", "type": "get_input", "prompt": "Yes or no?", "answer_type": "yes_no", "attribute": "a", "next": "end"},
        {"id": "end", "type": "hangup"}
    ]}));
    let events: Vec<(Event, u64)> = vec![
        (
            Event::HttpFailed {
                id: 1,
                reason: "x".into(),
            },
            100,
        ),
        (Event::PlaybackFinished { id: 2 }, 4_000),
        (Event::SpeechStarted, 4_500),
        (
            Event::Recognized {
                id: 3,
                transcript: "yes".into(),
                confidence: 0.9,
            },
            5_000,
        ),
    ];
    let run = || {
        let mut it = start(&f, json!({"id": 9}));
        let mut out = drain(&mut it);
        for (e, t) in &events {
            // Deadlines that passed before the event run first, as a shell would.
            while let Some(d) = it.poll_timeout().filter(|d| d <= t) {
                it.handle_timeout(d);
                out.extend(drain(&mut it));
            }
            it.handle(e.clone(), *t);
            out.extend(drain(&mut it));
        }
        (out, it.trace().clone())
    };
    let (a1, t1) = run();
    let (a2, t2) = run();
    assert_eq!(a1, a2);
    assert_eq!(t1, t2);
    assert_eq!(finished(&a1).1["a"], json!(true));
}

#[test]
fn flows_are_shared_and_interpreters_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<tympan_flow::Flow>();
    send::<tympan_flow::Interpreter>();
    let f = flow(json!({"version": 1, "id": "t", "start": "p", "blocks": [
        {"id": "p", "type": "play", "prompt": "Hi {{ n }}", "next": "end"},
        {"id": "end", "type": "hangup"}
    ]}));
    let handles: Vec<_> = (0..3)
        .map(|n| {
            let f = f.clone();
            std::thread::spawn(move || {
                let mut it = start(&f, json!({ "n": n }));
                prompts(&drain(&mut it))
            })
        })
        .collect();
    let got: Vec<Vec<String>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, [["Hi 0"], ["Hi 1"], ["Hi 2"]]);
}
