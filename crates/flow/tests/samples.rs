//! The shipped sample flows, run through `simulate` down each main branch.

mod common;

use std::sync::Arc;

use serde_json::{json, Value};
use tympan_flow::{
    simulate, Action, Flow, Outcome, Prompt, RecordingEnd, Script, SimulationReport, TraceInput,
};

fn sample(name: &str) -> Arc<Flow> {
    let path = format!("{}/../../flows/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    Arc::new(
        Flow::parse_named(name, &text, &common::extensions()).unwrap_or_else(|e| panic!("{e}")),
    )
}

fn run(flow: &Arc<Flow>, script: Value) -> SimulationReport {
    let script = Script::from_value(&script).unwrap_or_else(|e| panic!("script: {e}"));
    let r = simulate(flow, &script, common::parser());
    assert_eq!(r.stopped, None, "{}", r.render_text());
    assert!(
        r.unused_steps.is_empty(),
        "unused steps {:?}\n{}",
        r.unused_steps,
        r.render_text()
    );
    r
}

/// The simulated length of a text prompt.
fn prompt_ms(text: &str) -> u64 {
    use tympan_flow::simulate::{SIM_MS_PER_CHAR, SIM_PROMPT_BASE_MS};
    SIM_PROMPT_BASE_MS + SIM_MS_PER_CHAR * text.chars().count() as u64
}

fn texts(r: &SimulationReport) -> Vec<String> {
    r.prompts().iter().map(|p| p.as_str().to_string()).collect()
}

fn hangup(r: &SimulationReport) -> Option<String> {
    r.actions().find_map(|(_, a)| match a {
        Action::Hangup { reason } => Some(reason.clone()),
        _ => None,
    })
}

fn entry<'a>(r: &'a SimulationReport, block: &str) -> &'a tympan_flow::TraceEntry {
    r.trace
        .entries
        .iter()
        .find(|e| e.block == block)
        .unwrap_or_else(|| panic!("{block} not visited:\n{}", r.render_text()))
}

fn extension_payloads(r: &SimulationReport) -> Vec<Value> {
    r.actions()
        .filter_map(|(_, a)| match a {
            Action::Extension { payload, .. } => Some(payload.clone()),
            _ => None,
        })
        .collect()
}

// ----------------------------------------------------------------------------- voicemail-drop

#[test]
fn voicemail_drop_machine_leaves_the_message_after_the_beep() {
    let f = sample("voicemail-drop.json");
    assert!(f.uses_amd());
    let r = run(
        &f,
        json!({"amd": {"answered_by": "machine_end_other", "at_ms": 2500, "beep_at_ms": 6000}}),
    );
    assert_eq!(r.trace.path(), ["detect", "leave_message", "bye"]);
    let (at, prompt) = r
        .actions()
        .find_map(|(t, a)| match a {
            Action::Play { prompt, .. } => Some((t, prompt.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(at, 6_000, "the message starts at the beep");
    assert!(
        matches!(&prompt, Prompt::Ssml(s) if s.starts_with("<speak><break time=\"300ms\"/>Hello, this is a message from your clinic.")),
        "{prompt:?}"
    );
    assert_eq!(r.attributes["answered_by"], json!("machine_end_other"));
    assert_eq!(r.attributes["beep_detected"], json!(true));
    assert_eq!(
        entry(&r, "detect").exit.as_deref(),
        Some("branches.machine")
    );
    assert_eq!(hangup(&r).as_deref(), Some("voicemail_drop_done"));
    assert_eq!(
        r.outcome,
        Some(Outcome::Completed {
            block: Some("bye".into())
        })
    );
    let leave = entry(&r, "leave_message");
    let message = f.default_attributes()["machine_message"].as_str().unwrap();
    assert_eq!(
        leave.left_at_ms.unwrap() - leave.entered_at_ms,
        prompt_ms(message),
        "played to its end"
    );
}

#[test]
fn voicemail_drop_machine_without_a_beep_and_a_human() {
    let f = sample("voicemail-drop.json");
    let r = run(
        &f,
        json!({"amd": {"answered_by": "machine_start", "at_ms": 3000}}),
    );
    assert_eq!(r.trace.path(), ["detect", "leave_message", "bye"]);
    assert_eq!(
        entry(&r, "detect").exit.as_deref(),
        Some("branches.no_beep")
    );
    assert_eq!(
        entry(&r, "detect").left_at_ms,
        Some(23_000),
        "beep_timeout_ms after the result"
    );
    assert_eq!(r.attributes["beep_detected"], json!(false));

    let r = run(&f, json!({"amd": {"answered_by": "human", "at_ms": 1800}}));
    assert_eq!(r.trace.path(), ["detect", "human_message", "bye"]);
    assert!(texts(&r)[0].contains("We tried to reach you about your appointment."));
    assert!(!r.attributes.contains_key("beep_detected"));

    // No AMD result at all: unknown after 30 s, treated like a person.
    let r = run(&f, json!({}));
    assert_eq!(r.attributes["answered_by"], json!("unknown"));
    assert_eq!(
        entry(&r, "detect").exit.as_deref(),
        Some("branches.unknown")
    );
    assert_eq!(entry(&r, "human_message").entered_at_ms, 30_000);

    // The person hangs up during the message.
    let r = run(
        &f,
        json!({"amd": {"answered_by": "human", "at_ms": 1800}, "callee": [{"during_prompt": 1, "delay_ms": 1000, "hangup": true}]}),
    );
    assert_eq!(
        r.outcome,
        Some(Outcome::CallerHungUp {
            block: Some("human_message".into())
        })
    );
    assert_eq!(hangup(&r), None);
}

// ----------------------------------------------------------------------------- survey

fn survey_attributes() -> Value {
    json!({
        "greeting": "Hello Ann, this is your clinic.",
        "ending": "Thank you Ann. Goodbye.",
        "question_1": "Did you take your medication today?", "question_1_type": "Yes/No",
        "question_2": "How many glasses of water did you drink?", "question_2_type": "Number",
        "question_3": "Which day suits you: A Monday, B Tuesday, C Wednesday?", "question_3_type": "Multiple Choice",
        "question_4": "Please confirm you got this message.", "question_4_type": "OK"
    })
}

#[test]
fn survey_all_questions_answered() {
    let f = sample("survey.json");
    let r = run(
        &f,
        json!({
            "attributes": survey_attributes(),
            "callee": [
                {"after_prompt": 2, "delay_ms": 300, "say": "yes I do"},
                {"after_prompt": 3, "delay_ms": 200, "say": "eight"},
                {"during_prompt": 4, "delay_ms": 800, "keys": "2"},
                {"after_prompt": 5, "say": "okay"}
            ]
        }),
    );
    assert_eq!(
        texts(&r),
        [
            "<speak>Hello Ann, this is your clinic.</speak>",
            "<speak>Did you take your medication today?</speak>",
            "<speak>How many glasses of water did you drink?</speak>",
            "<speak>Which day suits you: A Monday, B Tuesday, C Wednesday?</speak>",
            "<speak>Please confirm you got this message.</speak>",
            "<speak>Thank you Ann. Goodbye.</speak>",
        ]
    );
    for (k, v) in [
        ("answer_1", json!(true)),
        ("answer_2", json!(8)),
        ("answer_3", json!("B")),
        ("answer_4", json!("ok")),
        ("questions_asked", json!(4)),
    ] {
        assert_eq!(r.attributes[k], v, "{k}\n{}", r.render_text());
    }
    assert_eq!(
        r.trace.path(),
        [
            "greet",
            "questions",
            "ask",
            "questions",
            "ask",
            "questions",
            "ask",
            "questions",
            "ask",
            "questions",
            "completed",
            "ending",
            "bye"
        ]
    );
    assert_eq!(hangup(&r).as_deref(), Some("survey_complete"));
    // Question 3 was answered on the keypad while it played.
    let q3 = &r.trace.entries[6];
    assert!(q3
        .inputs
        .iter()
        .any(|i| matches!(i, TraceInput::BargeIn { by, .. } if by == "dtmf 2")));
    assert_eq!(q3.result.as_ref().unwrap()["by"], json!("dtmf"));
}

#[test]
fn survey_retries_skips_and_repeats() {
    let f = sample("survey.json");
    let mut attrs = survey_attributes();
    attrs["question_5"] = json!("Anything else to tell us?");
    attrs["question_5_type"] = json!("Free text");
    let r = run(
        &f,
        json!({
            "attributes": attrs,
            "callee": [
                {"after_prompt": 2, "say": "maybe"},
                {"after_prompt": 4, "say": "nope"},
                {"after_prompt": 8, "say": "c"},
                {"after_prompt": 9, "say": "please repeat"},
                {"after_prompt": 10, "say": "ok"}
            ]
        }),
    );
    let t = texts(&r);
    assert_eq!(t[2], "say \"Yes\" or \"No\".", "no-match prompt of Yes/No");
    assert_eq!(
        t[3], "<speak>Did you take your medication today?</speak>",
        "then the question again"
    );
    assert_eq!(t[5], "Tell me a number.", "no-input prompt of Number");
    assert_eq!(
        t[7], "<speak>Which day suits you: A Monday, B Tuesday, C Wednesday?</speak>",
        "question 2 skipped after 2 attempts"
    );
    assert_eq!(t[8], t[9], "question 4 repeated");
    assert_eq!(t.len(), 11);
    assert_eq!(r.attributes["answer_1"], json!(false));
    assert!(!r.attributes.contains_key("answer_2"));
    assert_eq!(r.attributes["answer_3"], json!("C"));
    assert_eq!(r.attributes["answer_4"], json!("ok"));
    assert!(!r.attributes.contains_key("answer_5"));
    assert_eq!(r.attributes["questions_asked"], json!(5));
    let asks: Vec<_> = r
        .trace
        .entries
        .iter()
        .filter(|e| e.block == "ask")
        .collect();
    assert_eq!(asks.len(), 5);
    assert_eq!(asks[1].exit.as_deref(), Some("on_no_input"));
    assert_eq!(
        asks[1]
            .inputs
            .iter()
            .filter(|i| matches!(i, TraceInput::NoInput { .. }))
            .count(),
        2
    );
    let q2 = prompt_ms("How many glasses of water did you drink?");
    assert_eq!(
        asks[1].left_at_ms.unwrap() - asks[1].entered_at_ms,
        2 * 5_000 + 2 * q2 + prompt_ms("Tell me a number."),
        "two prompts, one retry prompt, two no-input timeouts"
    );
    assert_eq!(
        asks[3]
            .inputs
            .iter()
            .filter(|i| matches!(i, TraceInput::Repeat { .. }))
            .count(),
        1
    );
    assert_eq!(
        asks[4].exit.as_deref(),
        Some("on_error"),
        "unknown question type skipped"
    );
    assert!(asks[4].inputs.iter().any(|i| matches!(i, TraceInput::Note { text, .. } if text.contains("unknown answer type \"Free text\""))));
}

#[test]
fn survey_callee_hangs_up_midway_and_no_questions() {
    let f = sample("survey.json");
    let r = run(
        &f,
        json!({"attributes": survey_attributes(), "callee": [
            {"after_prompt": 2, "say": "yes"},
            {"during_prompt": 3, "delay_ms": 500, "hangup": true}
        ]}),
    );
    assert_eq!(
        r.outcome,
        Some(Outcome::CallerHungUp {
            block: Some("ask".into())
        })
    );
    assert_eq!(r.attributes["answer_1"], json!(true));
    assert!(!r.attributes.contains_key("questions_asked"));

    let r = run(
        &f,
        json!({"attributes": {"greeting": "Hi.", "ending": "Bye."}}),
    );
    assert_eq!(texts(&r), ["<speak>Hi.</speak>", "<speak>Bye.</speak>"]);
    assert_eq!(r.attributes["questions_asked"], json!(0));
}

// ----------------------------------------------------------------------------- screening

#[test]
fn screening_high_risk_goes_to_a_nurse() {
    let f = sample("screening.json");
    assert_eq!(f.extension_types(), ["classify"]);
    let r = run(
        &f,
        json!({
            "attributes": {"first_name": "Ann"},
            "callee": [
                {"after_recording_start": 1, "delay_ms": 300, "say": "one two three four five six seven eight nine ten", "duration_ms": 9000},
                {"after_recording_start": 1, "delay_ms": 9500, "keys": "#"}
            ],
            "extensions": {"classify": [{"result": {"probability": 0.83}, "delay_ms": 250}]}
        }),
    );
    assert_eq!(
        texts(&r),
        [
            "Hello Ann. This is the respiratory screening line.",
            "Please count from 1 to 20. Press pound when you finish.",
            "Your screening suggests a higher risk. Please hold while we connect you to a nurse.",
        ]
    );
    assert_eq!(
        r.trace.path(),
        [
            "greet",
            "instructions",
            "record_counting",
            "score",
            "high_risk",
            "to_nurse"
        ]
    );
    let rec = entry(&r, "record_counting");
    assert_eq!(
        rec.result,
        Some(json!({"recording": "rec-1", "duration_ms": 9500, "reason": "dtmf"}))
    );
    assert!(
        matches!(r.actions().find(|(_, a)| matches!(a, Action::StartRecording { .. })).unwrap().1,
        Action::StartRecording { max_length_ms: 20_000, end_on_silence_ms: Some(3_000), end_on_dtmf, .. } if end_on_dtmf == "#")
    );
    assert_eq!(extension_payloads(&r), [json!({"recording": "rec-1"})]);
    assert_eq!(r.attributes["risk_score"], json!(0.83));
    assert_eq!(
        entry(&r, "score").exit.as_deref(),
        Some("branches.high_risk")
    );
    assert_eq!(
        r.outcome,
        Some(Outcome::Transferred {
            block: "to_nurse".into(),
            to: "sip:nurse@clinic.invalid".into()
        })
    );
}

#[test]
fn screening_low_risk_after_silence_and_the_20_second_cap() {
    let f = sample("screening.json");
    let r = run(
        &f,
        json!({
            "callee": [{"after_recording_start": 1, "delay_ms": 500, "say": "one two three", "duration_ms": 8000}],
            "extensions": {"classify": [{"result": {"probability": 0.12}}]}
        }),
    );
    assert_eq!(
        texts(&r)[0],
        "Hello. This is the respiratory screening line."
    );
    assert_eq!(
        entry(&r, "record_counting").result,
        Some(json!({"recording": "rec-1", "duration_ms": 11500, "reason": "silence"}))
    );
    assert_eq!(
        r.trace.path(),
        [
            "greet",
            "instructions",
            "record_counting",
            "score",
            "low_risk",
            "bye"
        ]
    );
    assert_eq!(hangup(&r).as_deref(), Some("screening_done"));

    let r = run(
        &f,
        json!({
            "callee": [{"after_recording_start": 1, "say": "one two three", "duration_ms": 25000}],
            "extensions": {"classify": [{"result": {"probability": 0.5}}]}
        }),
    );
    assert_eq!(
        entry(&r, "record_counting").result.as_ref().unwrap()["reason"],
        json!("max_length")
    );
    assert_eq!(
        entry(&r, "record_counting").result.as_ref().unwrap()["duration_ms"],
        json!(20000)
    );
    assert_eq!(
        entry(&r, "score").exit.as_deref(),
        Some("branches.high_risk"),
        "0.5 ≥ risk_threshold 0.5"
    );
}

#[test]
fn screening_errors_take_the_apology_and_a_busy_nurse() {
    let f = sample("screening.json");
    let r = run(
        &f,
        json!({
            "callee": [{"after_recording_start": 1, "keys": "#", "delay_ms": 4000}],
            "extensions": {"classify": [{"error": "model not loaded"}]}
        }),
    );
    assert_eq!(
        r.trace.path(),
        [
            "greet",
            "instructions",
            "record_counting",
            "score",
            "sorry",
            "bye"
        ]
    );
    assert_eq!(entry(&r, "score").exit.as_deref(), Some("on_error"));

    let r = run(
        &f,
        json!({
            "callee": [{"after_recording_start": 1, "keys": "#", "delay_ms": 4000}],
            "extensions": {"classify": [{"result": {"probability": 0.9}}]},
            "transfer": {"ok": false, "reason": "486 Busy Here"}
        }),
    );
    assert_eq!(
        r.trace.path(),
        [
            "greet",
            "instructions",
            "record_counting",
            "score",
            "high_risk",
            "to_nurse",
            "nurse_unavailable",
            "bye"
        ]
    );
    assert_eq!(
        r.outcome,
        Some(Outcome::Completed {
            block: Some("bye".into())
        })
    );
}

// ----------------------------------------------------------------------------- voice-auth

#[test]
fn voice_auth_accepts_and_passes_the_status_to_the_agent() {
    let f = sample("voice-auth.json");
    let r = run(
        &f,
        json!({
            "attributes": {"customer_id": "cust-17"},
            "callee": [{"after_recording_start": 1, "delay_ms": 200, "say": "I would like to check my balance please", "duration_ms": 9800}],
            "extensions": {"voice_id": [{"result": {"decision": "ACCEPT", "score": 94}, "delay_ms": 500}]}
        }),
    );
    assert_eq!(
        r.trace.path(),
        [
            "greet",
            "ask_to_speak",
            "count_try",
            "collect",
            "verify",
            "authenticated",
            "verified_message",
            "to_agent"
        ]
    );
    let rec = r
        .actions()
        .find(|(_, a)| matches!(a, Action::StartRecording { .. }))
        .unwrap()
        .1
        .clone();
    assert!(matches!(
        rec,
        Action::StartRecording {
            max_length_ms: 10_000,
            end_on_silence_ms: None,
            beep: true,
            ..
        }
    ));
    assert_eq!(
        entry(&r, "collect").result,
        Some(json!({"recording": "rec-1", "duration_ms": 10000, "reason": "max_length"}))
    );
    assert_eq!(
        extension_payloads(&r),
        [json!({"recording": "rec-1", "speaker_id": "cust-17"})]
    );
    assert_eq!(r.attributes["voice_auth_status"], json!("Authenticated"));
    assert_eq!(r.attributes["voice_id_score"], json!(94));
    assert_eq!(r.attributes["auth_tries"], json!(1));
    assert_eq!(
        r.outcome,
        Some(Outcome::Transferred {
            block: "to_agent".into(),
            to: "sip:agents@contact-center.invalid".into()
        })
    );
}

#[test]
fn voice_auth_not_enough_speech_twice_is_inconclusive() {
    let f = sample("voice-auth.json");
    let r = run(
        &f,
        json!({
            "attributes": {"customer_id": "cust-17"},
            "callee": [
                {"after_recording_start": 1, "say": "hello", "duration_ms": 1500},
                {"after_recording_start": 2, "say": "hello again", "duration_ms": 2000}
            ],
            "extensions": {"voice_id": [{"result": {"decision": "NOT_ENOUGH_SPEECH"}}, {"result": {"decision": "NOT_ENOUGH_SPEECH"}}]}
        }),
    );
    assert_eq!(
        r.trace.path(),
        [
            "greet",
            "ask_to_speak",
            "count_try",
            "collect",
            "verify",
            "try_again",
            "ask_more",
            "count_try",
            "collect",
            "verify",
            "try_again",
            "inconclusive",
            "unverified_message",
            "to_agent"
        ]
    );
    assert_eq!(r.attributes["auth_tries"], json!(2));
    assert_eq!(r.attributes["auth_recording"], json!("rec-2"));
    assert_eq!(r.attributes["voice_auth_status"], json!("Inconclusive"));
    assert_eq!(
        extension_payloads(&r)[1],
        json!({"recording": "rec-2", "speaker_id": "cust-17"})
    );
}

#[test]
fn voice_auth_reject_not_enrolled_and_no_speaker_id() {
    let f = sample("voice-auth.json");
    for (decision, status) in [
        ("REJECT", "Not authenticated"),
        ("SPEAKER_NOT_ENROLLED", "Not enrolled"),
        ("SPEAKER_OPTED_OUT", "Opted out"),
        ("SPEAKER_EXPIRED", "Inconclusive"),
    ] {
        let r = run(
            &f,
            json!({
                "attributes": {"customer_id": "cust-9"},
                "callee": [{"after_recording_start": 1, "say": "some words", "duration_ms": 9000}],
                "extensions": {"voice_id": [{"result": {"decision": decision, "score": 12}}]}
            }),
        );
        assert_eq!(
            r.attributes["voice_auth_status"],
            json!(status),
            "{decision}"
        );
        assert_eq!(r.attributes["voice_id_decision"], json!(decision));
    }
    // Without a speaker id the block leaves through next at once, without asking the shell.
    let r = run(
        &f,
        json!({"callee": [{"after_recording_start": 1, "say": "words", "duration_ms": 9000}]}),
    );
    assert!(extension_payloads(&r).is_empty());
    assert_eq!(entry(&r, "verify").exit.as_deref(), Some("next"));
    assert_eq!(
        entry(&r, "verify").result,
        Some(json!({"decision": "SPEAKER_ID_NOT_PROVIDED"}))
    );
    assert_eq!(r.attributes["voice_auth_status"], json!("Inconclusive"));
    let _ = RecordingEnd::Silence;
}
