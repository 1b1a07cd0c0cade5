//! The flow runner on real speech: espeak-ng answers, made 8 kHz µ-law like a phone call, are
//! recognised by PocketSphinx inside the runner and parsed into the flow's attributes; a
//! recording block stores a WAV of what the caller said.

use std::sync::Arc;

use serde_json::{json, Map, Value};
use tympan_flow::{Action, CallContext, Event, Flow, FlowRunner, Outcome, RunnerAction};
use tympan_speech::asr::eval::telephone;
use tympan_speech::asr::{SphinxConfig, SphinxEngine};
use tympan_speech::tts::{EspeakSettings, EspeakSynthesizer, SpeechInput, Synthesizer};

const RATE: u32 = 8000;
const FRAME: usize = 160; // 20 ms

fn speech(text: &str) -> Vec<i16> {
    let tts = EspeakSynthesizer::new(EspeakSettings::default()).expect("espeak-ng starts");
    let p = tts.synthesize(SpeechInput::Text(text), 16000).unwrap();
    telephone(&p.samples, 16000).unwrap()
}

fn flow(path: &str) -> Arc<Flow> {
    let text =
        std::fs::read_to_string(format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    Arc::new(Flow::parse(&text, &tympan_flow::Extensions::default()).unwrap())
}

/// Plays the shell: prompts finish at once; after each prompt the callee says the next of
/// `answers` (400 ms of silence, the words, silence until the flow moves on); time advances
/// 20 ms per frame. Returns the actions the shell saw.
fn drive(runner: &mut FlowRunner, answers: &[&str]) -> Vec<RunnerAction> {
    let mut seen = Vec::new();
    let mut now = 0u64;
    let mut said = answers.iter();
    runner.handle(Event::Answered, now);
    let mut queue: Vec<i16> = Vec::new();
    let mut answered = None;
    for _ in 0..10_000 {
        while let Some(a) = runner.poll_action() {
            if let RunnerAction::Flow(Action::Play { id, .. }) = &a {
                runner.handle(Event::PlaybackFinished { id: *id }, now);
            }
            seen.push(a);
        }
        if runner.is_finished() {
            return seen;
        }
        // One answer per question: when the runner starts listening.
        let listening = runner.recognition_id().or(runner.recording_id());
        if listening.is_some() && listening != answered {
            answered = listening;
            if let Some(text) = said.next() {
                queue = vec![0; 3200];
                queue.extend(speech(text));
            }
        }
        let frame: Vec<i16> = if queue.is_empty() {
            vec![0; FRAME]
        } else {
            queue.drain(..FRAME.min(queue.len())).collect()
        };
        now += 20;
        runner.push_audio(&frame, now);
        if runner.poll_timeout().is_some_and(|t| t <= now) {
            runner.handle_timeout(now);
        }
    }
    panic!("the flow did not finish: {:?}", runner.trace());
}

fn runner(flow: Arc<Flow>, attributes: Value) -> FlowRunner {
    let engine = Arc::new(SphinxEngine::new(SphinxConfig::default()).expect("pocketsphinx starts"));
    let Value::Object(attrs) = attributes else {
        panic!()
    };
    FlowRunner::new(
        flow,
        attrs,
        CallContext {
            call_id: "call-1".into(),
            call_start_unix_ms: Some(1_767_614_400_000),
            utc_offset_minutes: 0,
        },
        RATE,
        engine,
    )
}

#[test]
fn survey_answers_spoken_by_the_callee_reach_the_attributes() {
    let mut r = runner(
        flow("flows/survey.json"),
        json!({
            "question_1": "Do you drink tea?", "question_1_type": "yes_no",
            "question_2": "How many cups a day?", "question_2_type": "number",
            "question_3": "When may we call again?", "question_3_type": "date",
        }),
    );
    let seen = drive(&mut r, &["no", "twenty five", "tomorrow"]);
    let a: &Map<String, Value> = r.interpreter().attributes();
    assert_eq!(a.get("answer_1"), Some(&json!("no")), "{a:?}");
    assert_eq!(a.get("answer_2"), Some(&json!("25")), "{a:?}");
    assert_eq!(a.get("answer_3"), Some(&json!("2026-01-06")), "{a:?}");
    // Greeting, three questions, ending; then the hang-up.
    let plays = seen
        .iter()
        .filter(|a| matches!(a, RunnerAction::Flow(Action::Play { .. })))
        .count();
    assert_eq!(plays, 5);
    assert!(seen
        .iter()
        .any(|a| matches!(a, RunnerAction::Flow(Action::Hangup { .. }))));
    assert!(
        matches!(r.outcome(), Some(Outcome::Completed { .. })),
        "{:?}",
        r.outcome()
    );
}

#[test]
fn silence_is_no_input_and_the_survey_moves_on() {
    let mut r = runner(
        flow("flows/survey.json"),
        json!({"question_1": "Do you drink tea?", "question_1_type": "yes_no"}),
    );
    drive(&mut r, &[]);
    assert_eq!(r.interpreter().attributes().get("answer_1"), None);
    assert!(matches!(r.outcome(), Some(Outcome::Completed { .. })));
}

#[test]
fn a_recording_ends_on_silence_and_is_saved_as_wav() {
    let text = r#"{"version": 1, "id": "rec", "start": "r", "blocks": [
        {"id": "r", "type": "record", "attribute": "message", "max_length_ms": 20000,
         "end_on_silence_ms": 1500, "next": "bye"},
        {"id": "bye", "type": "hangup"}]}"#;
    let flow = Arc::new(Flow::parse(text, &tympan_flow::Extensions::default()).unwrap());
    let mut r = runner(flow, json!({}));
    let seen = drive(&mut r, &["please call me back tomorrow morning"]);
    let saved: Vec<_> = seen
        .iter()
        .filter_map(|a| match a {
            RunnerAction::SaveRecording {
                key,
                wav,
                duration_ms,
                ..
            } => Some((key, wav, *duration_ms)),
            _ => None,
        })
        .collect();
    assert_eq!(saved.len(), 1);
    let (key, wav, ms) = saved[0];
    assert_eq!(key, "recordings/call-1/rec-1.wav");
    assert_eq!(&wav[..4], b"RIFF");
    let audio = tympan_audio::decode::decode_bytes(wav).unwrap();
    assert_eq!(audio.sample_rate, 8000);
    assert_eq!(audio.channels[0].len() as u64 * 1000 / 8000, ms);
    // 400 ms before, the sentence (~2 s), then up to 1.5 s of silence: well under the maximum.
    let spoken = speech("please call me back tomorrow morning").len() as u64 / 8;
    assert!(
        ms >= spoken && ms <= spoken + 400 + 1500 + 600,
        "{ms} ms for {spoken} ms of speech"
    );
    assert_eq!(
        r.interpreter().attributes().get("message"),
        Some(&json!(key))
    );
}
