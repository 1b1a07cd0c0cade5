//! Seeded random event sequences against the sample flows: the interpreter never panics,
//! `finished` is the last action and comes once, deadlines are never in the past, and a flow
//! always ends when the shell keeps answering with timeouts.

mod common;

use std::sync::Arc;

use serde_json::{json, Value};
use tympan_flow::{Action, Event, Flow, Interpreter, RecordingEnd};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn sample(name: &str) -> Arc<Flow> {
    let path = format!("{}/../../flows/{name}", env!("CARGO_MANIFEST_DIR"));
    Arc::new(
        Flow::parse(
            &std::fs::read_to_string(path).unwrap(),
            &common::extensions(),
        )
        .unwrap(),
    )
}

#[derive(Default)]
struct Ids {
    play: Vec<u64>,
    recog: Vec<u64>,
    rec: Vec<u64>,
    http: Vec<u64>,
    ext: Vec<u64>,
    transfer: Vec<u64>,
}

fn pick(r: &mut Rng, v: &[u64]) -> u64 {
    if v.is_empty() || r.below(8) == 0 {
        r.below(50)
    } else {
        v[r.below(v.len() as u64) as usize]
    }
}

fn random_event(r: &mut Rng, ids: &Ids) -> Event {
    const SAID: [&str; 8] = ["yes", "no", "okay", "repeat", "b", "twelve", "", "what"];
    const AMD: [&str; 5] = [
        "human",
        "machine_start",
        "machine_end_beep",
        "fax",
        "unknown",
    ];
    match r.below(15) {
        0 => Event::PlaybackFinished {
            id: pick(r, &ids.play),
        },
        1 => Event::PlaybackFailed {
            id: pick(r, &ids.play),
            reason: "x".into(),
        },
        2 => Event::SpeechStarted,
        3 => Event::Dtmf {
            digit: b"0123456789*#"[r.below(12) as usize] as char,
        },
        4 => Event::Recognized {
            id: pick(r, &ids.recog),
            transcript: SAID[r.below(8) as usize].into(),
            confidence: (r.below(100) as f32) / 100.0,
        },
        5 => Event::NoSpeech {
            id: pick(r, &ids.recog),
        },
        6 => Event::RecordingFinished {
            id: pick(r, &ids.rec),
            recording: format!("rec-{}", r.below(9)),
            duration_ms: r.below(20_000),
            reason: RecordingEnd::Silence,
        },
        7 => Event::AmdResult {
            answered_by: AMD[r.below(5) as usize].into(),
        },
        8 => Event::Beep,
        9 => Event::HttpResponse {
            id: pick(r, &ids.http),
            status: [200, 204, 404, 429, 500, 503][r.below(6) as usize],
            body: Some(json!({"risk": 0.3})),
        },
        10 => Event::ExtensionResult {
            id: pick(r, &ids.ext),
            ok: r.below(3) > 0,
            value: [
                json!({"probability": 0.7}),
                json!({"decision": "ACCEPT"}),
                json!({"decision": "NOT_ENOUGH_SPEECH"}),
                json!("err"),
                Value::Null,
            ][r.below(5) as usize]
                .clone(),
        },
        11 => Event::TransferFinished {
            id: pick(r, &ids.transfer),
            ok: r.below(2) == 0,
            reason: None,
        },
        12 => Event::PlaybackStarted {
            id: pick(r, &ids.play),
            duration_ms: r.below(10_000),
        },
        13 if r.below(20) == 0 => Event::RemoteHangup,
        _ => Event::HttpFailed {
            id: pick(r, &ids.http),
            reason: "refused".into(),
        },
    }
}

/// Drive one call with random events; returns the number of events fed.
fn run(flow: &Arc<Flow>, attrs: Value, seed: u64) -> usize {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut it = Interpreter::new(
        flow.clone(),
        common::attrs(attrs),
        Default::default(),
        common::parser(),
    );
    let mut ids = Ids::default();
    let mut now = 0u64;
    let mut finished = 0;
    let mut fed = 0;
    it.handle(Event::Answered, now);
    for step in 0..5_000 {
        let mut after_finished = false;
        while let Some(a) = it.poll_action() {
            assert!(
                !after_finished,
                "seed {seed}: an action after finished: {a:?}"
            );
            match a {
                Action::Play { id, .. } => ids.play.push(id),
                Action::StartRecognition { id, .. } => ids.recog.push(id),
                Action::StartRecording { id, .. } => ids.rec.push(id),
                Action::HttpRequest { id, .. } => ids.http.push(id),
                Action::Extension { id, .. } => ids.ext.push(id),
                Action::Transfer { id, .. } => ids.transfer.push(id),
                Action::Finished { .. } => {
                    finished += 1;
                    after_finished = true;
                }
                _ => {}
            }
        }
        if it.is_finished() {
            assert_eq!(finished, 1, "seed {seed}");
            assert_eq!(it.poll_timeout(), None);
            return fed;
        }
        if let Some(d) = it.poll_timeout() {
            assert!(
                d >= now,
                "seed {seed} step {step}: deadline {d} before now {now}"
            );
        }
        // Mostly random events; sometimes let the next deadline pass.
        if r.below(4) == 0 || step > 2_000 {
            match it.poll_timeout() {
                Some(d) => {
                    now = d;
                    it.handle_timeout(now);
                }
                None => panic!(
                    "seed {seed}: waiting with no deadline in {:?}",
                    it.current_block()
                ),
            }
        } else {
            now += r.below(3_000);
            // A shell runs due deadlines before newer events.
            while let Some(d) = it.poll_timeout().filter(|d| *d <= now) {
                it.handle_timeout(d);
                if it.is_finished() {
                    break;
                }
            }
            it.handle(random_event(&mut r, &ids), now);
            fed += 1;
        }
    }
    panic!(
        "seed {seed}: the flow did not end in 5000 steps (at {:?})",
        it.current_block()
    );
}

#[test]
fn random_events_never_break_the_sample_flows() {
    let survey_attrs = json!({"question_1": "A?", "question_1_type": "Yes/No", "question_2": "B?", "question_2_type": "Number", "question_3": "C?", "question_3_type": "Multiple Choice"});
    let cases = [
        ("voicemail-drop.json", json!({})),
        ("survey.json", survey_attrs),
        ("screening.json", json!({"first_name": "Ann"})),
        ("voice-auth.json", json!({"customer_id": "c-1"})),
    ];
    let mut total = 0;
    for (name, attrs) in cases {
        let f = sample(name);
        for seed in 0..150u64 {
            total += run(&f, attrs.clone(), seed + 1);
        }
    }
    assert!(total > 1_000, "only {total} events were fed");
}
