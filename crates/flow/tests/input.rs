//! get_input and play: DTMF collection, speech answers, retries with the 2-attempt rule,
//! repeat requests, barge-in.

mod common;

use common::*;
use serde_json::{json, Value};
use tympan_flow::{Action, Event, Outcome, TraceInput};
use tympan_speech::AnswerType;

fn question(extra: Value) -> std::sync::Arc<tympan_flow::Flow> {
    let mut q = json!({"id": "q", "type": "get_input", "prompt": "Your PIN?", "attribute": "pin",
                       "next": "ok", "on_no_match": "nomatch", "on_no_input": "noinput"});
    for (k, v) in extra.as_object().unwrap() {
        q[k] = v.clone();
    }
    flow(json!({"version": 1, "id": "t", "start": "q", "blocks": [
        q,
        {"id": "ok", "type": "hangup", "reason": "ok"},
        {"id": "nomatch", "type": "hangup", "reason": "nomatch"},
        {"id": "noinput", "type": "hangup", "reason": "noinput"}
    ]}))
}

fn hangup_reason(actions: &[Action]) -> Option<String> {
    actions.iter().find_map(|a| match a {
        Action::Hangup { reason } => Some(reason.clone()),
        _ => None,
    })
}

fn keys(it: &mut tympan_flow::Interpreter, s: &str, at: u64, step: u64) -> Vec<Action> {
    let mut out = Vec::new();
    for (i, c) in s.chars().enumerate() {
        it.handle(Event::Dtmf { digit: c }, at + i as u64 * step);
        out.extend(drain(it));
    }
    out
}

#[test]
fn dtmf_terminator_ends_the_answer() {
    let f = question(json!({"dtmf": {"max_digits": 8}}));
    let mut it = start(&f, json!({}));
    let a = drain(&mut it);
    assert_eq!(prompts(&a), ["Your PIN?"]);
    let id = play_id(&a);
    assert!(
        !a.iter()
            .any(|x| matches!(x, Action::StartRecognition { .. })),
        "raw digits: no recogniser"
    );
    it.handle(Event::PlaybackFinished { id }, 1_000);
    assert_eq!(it.poll_timeout(), Some(1_000 + 5_000), "no-input timeout");
    let a = keys(&mut it, "1234#", 2_000, 500);
    let (outcome, attrs) = finished(&a);
    assert_eq!(attrs["pin"], json!("1234"));
    assert_eq!(hangup_reason(&a).as_deref(), Some("ok"));
    assert_eq!(
        *outcome,
        Outcome::Completed {
            block: Some("ok".into())
        }
    );
    let e = &it.trace().entries[0];
    assert!(e.inputs.iter().any(|i| matches!(i, TraceInput::Digits { digits, ended_by, attempt: 1, .. } if digits == "1234" && ended_by == "terminator")));
    assert_eq!(e.exit.as_deref(), Some("next"));
    assert_eq!(e.left_at_ms, Some(4_000));
}

#[test]
fn dtmf_max_digits_and_inter_digit_timeout() {
    let f = question(json!({"dtmf": {"max_digits": 4, "inter_digit_timeout_ms": 2000}}));
    let mut it = start(&f, json!({}));
    let id = play_id(&drain(&mut it));
    it.handle(Event::PlaybackFinished { id }, 1_000);
    let a = keys(&mut it, "9876", 1_500, 100);
    assert_eq!(finished(&a).1["pin"], json!("9876"), "4th key ends it");

    let mut it = start(&f, json!({}));
    let id = play_id(&drain(&mut it));
    it.handle(Event::PlaybackFinished { id }, 1_000);
    keys(&mut it, "42", 1_500, 100);
    assert_eq!(
        it.poll_timeout(),
        Some(1_600 + 2_000),
        "inter-digit deadline after the last key"
    );
    it.handle_timeout(3_599);
    assert!(drain(&mut it).is_empty(), "early timeout does nothing");
    it.handle_timeout(3_600);
    let a = drain(&mut it);
    assert_eq!(finished(&a).1["pin"], json!("42"));
    assert!(it.trace().entries[0].inputs.iter().any(
        |i| matches!(i, TraceInput::Digits { ended_by, .. } if ended_by == "inter_digit_timeout")
    ));
}

#[test]
fn dtmf_overall_timeout_counts_from_the_first_key() {
    let f = question(
        json!({"dtmf": {"max_digits": 20, "inter_digit_timeout_ms": 3000, "overall_timeout_ms": 5000}}),
    );
    let mut it = start(&f, json!({}));
    let id = play_id(&drain(&mut it));
    it.handle(Event::PlaybackFinished { id }, 0);
    keys(&mut it, "1111111", 1_000, 700); // keys at 1.0 .. 5.2 s
    assert_eq!(
        it.poll_timeout(),
        Some(6_000),
        "first key at 1 s + 5 s overall"
    );
    it.handle_timeout(6_000);
    let a = drain(&mut it);
    assert_eq!(finished(&a).1["pin"], json!("1111111"));
    assert!(it.trace().entries[0].inputs.iter().any(
        |i| matches!(i, TraceInput::Digits { ended_by, .. } if ended_by == "overall_timeout")
    ));
}

#[test]
fn two_attempts_then_no_input_exit_with_the_callouts_prompts() {
    let f = question(
        json!({"prompt": "Did you take your medicine?", "answer_type": "yes_no", "attribute": "took"}),
    );
    let mut it = start(&f, json!({}));
    let a = drain(&mut it);
    let id = play_id(&a);
    let r1 = recognition_id(&a);
    assert!(
        matches!(
            a[1],
            Action::StartRecognition {
                answer_type: AnswerType::YesNo,
                no_input_timeout_ms: 5_000,
                ..
            }
        ),
        "barge-in on: listens during the prompt"
    );
    it.handle(Event::PlaybackFinished { id }, 2_000);
    assert!(drain(&mut it).is_empty(), "recognition already running");
    it.handle_timeout(7_000);
    let a = drain(&mut it);
    // Attempt 2: the no-input prompt then the question, recognition restarted.
    assert!(a.contains(&Action::StopRecognition { id: r1 }), "{a:?}");
    assert_eq!(prompts(&a), ["say \"Yes\" or \"No\"."]);
    let id = play_id(&a);
    let r2 = recognition_id(&a);
    assert_ne!(r1, r2);
    it.handle(Event::PlaybackFinished { id }, 8_000);
    let a = drain(&mut it);
    assert_eq!(prompts(&a), ["Did you take your medicine?"]);
    let id = play_id(&a);
    it.handle(Event::PlaybackFinished { id }, 10_000);
    // A late result of the first recognition is ignored.
    it.handle(
        Event::Recognized {
            id: r1,
            transcript: "yes".into(),
            confidence: 0.9,
        },
        10_100,
    );
    assert!(drain(&mut it).is_empty());
    it.handle(Event::NoSpeech { id: r2 }, 15_000);
    let a = drain(&mut it);
    assert_eq!(hangup_reason(&a).as_deref(), Some("noinput"));
    assert!(!finished(&a).1.contains_key("took"));
    let e = &it.trace().entries[0];
    let no_inputs: Vec<u32> = e
        .inputs
        .iter()
        .filter_map(|i| match i {
            TraceInput::NoInput { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(no_inputs, [1, 2]);
    assert_eq!(e.exit.as_deref(), Some("on_no_input"));
    assert_eq!(e.result, Some(json!({"failed": "no_input", "attempts": 2})));
}

#[test]
fn no_match_then_answer_on_the_second_attempt() {
    for (ty, prompt) in [
        ("ok", "answer \"ok\", if you got the message."),
        ("choice", "Tell me A, B, C, D or E."),
        ("number", "Tell me a number."),
        ("date", "Tell me the date."),
        ("time", "Tell me the time."),
    ] {
        let f = question(
            json!({"answer_type": ty, "attribute": "a", "repeat_question_on_retry": false}),
        );
        let mut it = start(&f, json!({}));
        let a = drain(&mut it);
        let r = recognition_id(&a);
        it.handle(Event::PlaybackFinished { id: play_id(&a) }, 1_000);
        it.handle(Event::SpeechStarted, 1_500);
        it.handle(
            Event::Recognized {
                id: r,
                transcript: "banana".into(),
                confidence: 0.9,
            },
            2_500,
        );
        let a = drain(&mut it);
        assert_eq!(prompts(&a), [prompt], "{ty}");
        let r = recognition_id(&a);
        it.handle(Event::PlaybackFinished { id: play_id(&a) }, 4_000);
        let answer = match ty {
            "ok" => "okay",
            "choice" => "the second one",
            "number" => "twelve",
            "date" => "2026-06-03",
            _ => "15:30",
        };
        it.handle(
            Event::Recognized {
                id: r,
                transcript: answer.into(),
                confidence: 0.9,
            },
            5_000,
        );
        let a = drain(&mut it);
        let want = match ty {
            "ok" => json!("ok"),
            "choice" => json!("B"),
            "number" => json!(12),
            "date" => json!("2026-06-03"),
            _ => json!("15:30"),
        };
        assert_eq!(finished(&a).1["a"], want, "{ty}");
        let e = &it.trace().entries[0];
        assert!(
            e.inputs.iter().any(
                |i| matches!(i, TraceInput::NoMatch { attempt: 1, heard, .. } if heard == "banana")
            ),
            "{ty}"
        );
        assert_eq!(e.result.as_ref().unwrap()["attempt"], json!(2));
    }
}

#[test]
fn two_no_matches_take_on_no_match_and_custom_prompts_are_used() {
    let f = question(
        json!({"answer_type": "number", "attribute": "n", "no_match_prompt": "Please say a number like twelve.", "max_attempts": 2}),
    );
    let mut it = start(&f, json!({}));
    let a = drain(&mut it);
    let q = play_id(&a);
    let r = recognition_id(&a);
    it.handle(
        Event::Recognized {
            id: r,
            transcript: "purple".into(),
            confidence: 0.8,
        },
        900,
    );
    let a = drain(&mut it);
    assert!(
        a.contains(&Action::StopPlayback { id: q }),
        "a result during the question stops it: {a:?}"
    );
    assert_eq!(prompts(&a), ["Please say a number like twelve."]);
    let p = play_id(&a);
    let r2 = recognition_id(&a);
    it.handle(Event::PlaybackFinished { id: p }, 2_000);
    let a = drain(&mut it);
    assert_eq!(
        prompts(&a),
        ["Your PIN?"],
        "the question follows the retry prompt"
    );
    // "#" alone is an empty keypad answer: the second no-match.
    it.handle(Event::Dtmf { digit: '#' }, 2_500);
    let a = drain(&mut it);
    assert!(a.contains(&Action::StopRecognition { id: r2 }));
    assert_eq!(hangup_reason(&a).as_deref(), Some("nomatch"));
    let e = &it.trace().entries[0];
    assert_eq!(e.exit.as_deref(), Some("on_no_match"));
    let attempts: Vec<u32> = e
        .inputs
        .iter()
        .filter_map(|i| match i {
            TraceInput::NoMatch { attempt, .. } => Some(*attempt),
            _ => None,
        })
        .collect();
    assert_eq!(attempts, [1, 2]);
}

#[test]
fn keypad_alternative_for_speech_questions() {
    let f = question(
        json!({"answer_type": "yes_no", "attribute": "consent", "branches": {"yes": "ok", "no": "nomatch"}}),
    );
    let mut it = start(&f, json!({}));
    let a = drain(&mut it);
    let r = recognition_id(&a);
    let p = play_id(&a);
    it.handle(Event::Dtmf { digit: '2' }, 800);
    let a = drain(&mut it);
    assert!(
        a.contains(&Action::StopPlayback { id: p }),
        "a key barges in"
    );
    assert!(
        a.contains(&Action::StopRecognition { id: r }),
        "keypad wins over speech"
    );
    assert_eq!(finished(&a).1["consent"], json!(false));
    assert_eq!(hangup_reason(&a).as_deref(), Some("nomatch"), "branch no");
    let e = &it.trace().entries[0];
    assert_eq!(e.exit.as_deref(), Some("branches.no"));
    assert!(e
        .inputs
        .iter()
        .any(|i| matches!(i, TraceInput::BargeIn { by, .. } if by == "dtmf 2")));
    assert_eq!(e.result.as_ref().unwrap()["by"], json!("dtmf"));
}

#[test]
fn repeat_replays_the_question_without_using_an_attempt() {
    let f = question(json!({"answer_type": "yes_no", "attribute": "a", "max_repeats": 1}));
    let mut it = start(&f, json!({}));
    let a = drain(&mut it);
    it.handle(Event::PlaybackFinished { id: play_id(&a) }, 1_000);
    let r = recognition_id(&a);
    it.handle(
        Event::Recognized {
            id: r,
            transcript: "could you repeat that".into(),
            confidence: 0.9,
        },
        2_000,
    );
    let a = drain(&mut it);
    assert_eq!(
        prompts(&a),
        ["Your PIN?"],
        "the question again, no retry prompt"
    );
    let p = play_id(&a);
    let r = recognition_id(&a);
    // A second repeat is over max_repeats: it counts as a no-match (attempt 1 used).
    it.handle(
        Event::Recognized {
            id: r,
            transcript: "say that again".into(),
            confidence: 0.9,
        },
        2_500,
    );
    let a = drain(&mut it);
    assert!(a.contains(&Action::StopPlayback { id: p }));
    assert_eq!(prompts(&a), ["say \"Yes\" or \"No\"."]);
    let r = recognition_id(&a);
    it.handle(Event::PlaybackFinished { id: play_id(&a) }, 3_500);
    let a = drain(&mut it);
    assert_eq!(prompts(&a), ["Your PIN?"]);
    it.handle(Event::PlaybackFinished { id: play_id(&a) }, 5_000);
    it.handle(
        Event::Recognized {
            id: r,
            transcript: "yup".into(),
            confidence: 0.9,
        },
        6_000,
    );
    let a = drain(&mut it);
    assert_eq!(finished(&a).1["a"], json!(true));
    let e = &it.trace().entries[0];
    assert_eq!(
        e.inputs
            .iter()
            .filter(|i| matches!(i, TraceInput::Repeat { .. }))
            .count(),
        1
    );
    assert_eq!(e.result.as_ref().unwrap()["attempt"], json!(2));
}

#[test]
fn low_confidence_is_a_no_match() {
    let f = question(
        json!({"answer_type": "yes_no", "attribute": "a", "min_confidence": 0.5, "max_attempts": 1}),
    );
    let mut it = start(&f, json!({}));
    let a = drain(&mut it);
    it.handle(
        Event::Recognized {
            id: recognition_id(&a),
            transcript: "yes".into(),
            confidence: 0.3,
        },
        1_000,
    );
    assert_eq!(hangup_reason(&drain(&mut it)).as_deref(), Some("nomatch"));
}

#[test]
fn without_barge_in_the_prompt_plays_out() {
    let f = question(json!({"answer_type": "yes_no", "attribute": "a", "barge_in": false}));
    let mut it = start(&f, json!({}));
    let a = drain(&mut it);
    let p = play_id(&a);
    assert!(
        !a.iter()
            .any(|x| matches!(x, Action::StartRecognition { .. })),
        "no recognition during the prompt"
    );
    assert!(matches!(
        a[0],
        Action::Play {
            barge_in: false,
            ..
        }
    ));
    it.handle(Event::SpeechStarted, 300);
    it.handle(Event::Dtmf { digit: '1' }, 400);
    assert!(drain(&mut it).is_empty(), "speech and keys do not stop it");
    it.handle(Event::PlaybackFinished { id: p }, 2_000);
    let a = drain(&mut it);
    let r = recognition_id(&a);
    it.handle(Event::SpeechStarted, 2_500);
    assert_eq!(
        it.poll_timeout(),
        Some(2_500 + 15_000 + tympan_flow::limits::REPORT_GRACE_MS),
        "waiting for the result"
    );
    it.handle(
        Event::Recognized {
            id: r,
            transcript: "nope".into(),
            confidence: 0.9,
        },
        3_000,
    );
    assert_eq!(finished(&drain(&mut it)).1["a"], json!(false));
    assert!(it.trace().entries[0]
        .inputs
        .iter()
        .any(|i| matches!(i, TraceInput::Note { text, .. } if text.contains("key 1 ignored"))));
}

#[test]
fn play_barge_in_on_and_off() {
    let mk = |barge: bool| {
        flow(json!({"version": 1, "id": "t", "start": "p", "blocks": [
            {"id": "p", "type": "play", "prompt": "A long announcement.", "barge_in": barge, "next": "end"},
            {"id": "end", "type": "hangup"}
        ]}))
    };
    let mut it = start(&mk(true), json!({}));
    let p = play_id(&drain(&mut it));
    it.handle(Event::SpeechStarted, 500);
    let a = drain(&mut it);
    assert_eq!(a[0], Action::StopPlayback { id: p });
    assert!(matches!(a[1], Action::Hangup { .. }));
    assert!(it.trace().entries[0]
        .inputs
        .iter()
        .any(|i| matches!(i, TraceInput::BargeIn { by, .. } if by == "speech")));

    let mut it = start(&mk(false), json!({}));
    let p = play_id(&drain(&mut it));
    it.handle(Event::SpeechStarted, 500);
    it.handle(Event::Dtmf { digit: '5' }, 600);
    assert!(drain(&mut it).is_empty());
    it.handle(Event::PlaybackFinished { id: p + 1 }, 700); // another id: ignored
    assert!(drain(&mut it).is_empty());
    it.handle(Event::PlaybackFinished { id: p }, 2_000);
    assert!(matches!(drain(&mut it)[0], Action::Hangup { .. }));
}

#[test]
fn playback_failure_and_missing_report() {
    let f = flow(json!({"version": 1, "id": "t", "start": "p", "blocks": [
        {"id": "p", "type": "play", "prompt": "Hi.", "next": "end", "on_error": "oops"},
        {"id": "end", "type": "hangup", "reason": "end"},
        {"id": "oops", "type": "hangup", "reason": "oops"}
    ]}));
    let mut it = start(&f, json!({}));
    let p = play_id(&drain(&mut it));
    it.handle(
        Event::PlaybackFailed {
            id: p,
            reason: "tts down".into(),
        },
        100,
    );
    assert_eq!(hangup_reason(&drain(&mut it)).as_deref(), Some("oops"));

    let mut it = start(&f, json!({}));
    let p = play_id(&drain(&mut it));
    it.handle(
        Event::PlaybackStarted {
            id: p,
            duration_ms: 1_200,
        },
        50,
    );
    assert_eq!(
        it.poll_timeout(),
        Some(50 + 1_200 + tympan_flow::limits::REPORT_GRACE_MS)
    );
    it.handle_timeout(6_250);
    let a = drain(&mut it);
    assert!(a.contains(&Action::StopPlayback { id: p }));
    assert_eq!(hangup_reason(&a).as_deref(), Some("oops"));
}

#[test]
fn templated_answer_type_and_attribute() {
    let f = question(
        json!({"prompt": "{{ attr('question_' ~ q) }}", "answer_type": "{{ attr('question_' ~ q ~ '_type') }}", "attribute": "answer_{{ q }}"}),
    );
    let mut it = start(
        &f,
        json!({"q": 2, "question_2": "How many pills?", "question_2_type": "Number"}),
    );
    let a = drain(&mut it);
    assert_eq!(prompts(&a), ["How many pills?"]);
    assert!(matches!(
        a[1],
        Action::StartRecognition {
            answer_type: AnswerType::Number,
            ..
        }
    ));
    it.handle(
        Event::Recognized {
            id: recognition_id(&a),
            transcript: "3".into(),
            confidence: 1.0,
        },
        500,
    );
    assert_eq!(finished(&drain(&mut it)).1["answer_2"], json!(3));

    // A type that is not one: on_error (here absent: the flow ends with an error).
    let mut it = start(
        &f,
        json!({"q": 1, "question_1": "Colour?", "question_1_type": "Colour"}),
    );
    let a = drain(&mut it);
    match finished(&a).0 {
        Outcome::Error { block, reason } => {
            assert_eq!(block.as_deref(), Some("q"));
            assert!(
                reason.starts_with("answer_type: unknown answer type \"Colour\""),
                "{reason}"
            );
        }
        o => panic!("{o:?}"),
    }
    assert_eq!(
        hangup_reason(&a).as_deref(),
        Some(tympan_flow::HANGUP_FLOW_ERROR)
    );
}
