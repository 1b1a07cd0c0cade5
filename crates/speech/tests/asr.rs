//! Recognition through the call path: espeak-ng answers at 8 kHz µ-law, endpointing on
//! silence and noise, chunking invariance, decoder reuse. PocketSphinx and espeak-ng are
//! linked; a missing library fails the build and a missing model fails these tests.

use std::sync::OnceLock;

use tympan_speech::asr::eval::{pad, telephone};
use tympan_speech::asr::sphinx::{Search, TELEPHONE_MLLR};
use tympan_speech::asr::{
    AsrError, AsrEvent, EndpointConfig, Outcome, Recognizer, RecognizerEngine, SphinxConfig,
    SphinxEngine,
};
use tympan_speech::tts::{EspeakSettings, EspeakSynthesizer, SpeechInput, Synthesizer};
use tympan_speech::AnswerType;

fn engine() -> &'static SphinxEngine {
    static E: OnceLock<SphinxEngine> = OnceLock::new();
    E.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("tympan-test-{}.mllr", std::process::id()));
        std::fs::write(&path, TELEPHONE_MLLR).unwrap();
        SphinxEngine::new(SphinxConfig {
            mllr: Some(path),
            ..Default::default()
        })
        .expect("pocketsphinx loads the pocketsphinx-en-us model and every grammar")
    })
}

fn voice() -> &'static EspeakSynthesizer {
    static V: OnceLock<EspeakSynthesizer> = OnceLock::new();
    V.get_or_init(|| EspeakSynthesizer::new(EspeakSettings::default()).unwrap())
}

/// `text` spoken by espeak-ng, as an 8 kHz µ-law call delivers it, with silence around it.
fn call_audio(text: &str, before_ms: u32, after_ms: u32) -> Vec<i16> {
    let p = voice().synthesize(SpeechInput::Text(text), 16000).unwrap();
    pad(
        &telephone(&p.samples, 16000).unwrap(),
        8000,
        before_ms,
        after_ms,
    )
}

fn run(rec: &mut dyn Recognizer, audio: &[i16], chunk: usize) -> (Vec<AsrEvent>, Outcome) {
    let mut events = Vec::new();
    for c in audio.chunks(chunk) {
        events.extend(rec.push(c).unwrap());
    }
    let out = rec.finish().unwrap();
    (events, out)
}

fn recognize(t: AnswerType, audio: &[i16]) -> Outcome {
    let mut rec = engine().start(t, 8000, &EndpointConfig::default()).unwrap();
    run(rec.as_mut(), audio, 160).1
}

/// Answers of every type that decode exactly with the default voice through 8 kHz µ-law
/// (several phrasings per type). Not every phrasing does: `tympan speech eval` measures the
/// accuracy over the whole phrase list and several voices.
const ANSWERS: &[(AnswerType, &str)] = &[
    (AnswerType::Ok, "okay"),
    (AnswerType::Ok, "oh okay"),
    (AnswerType::Ok, "got it"),
    (AnswerType::YesNo, "no"),
    (AnswerType::YesNo, "yup"),
    (AnswerType::YesNo, "not really"),
    (AnswerType::Choice, "the second one"),
    (AnswerType::Choice, "a"),
    (AnswerType::Choice, "number two"),
    (AnswerType::Number, "twenty five"),
    (AnswerType::Number, "two five"),
    (AnswerType::Number, "a hundred and three"),
    (AnswerType::Date, "next friday"),
    (AnswerType::Date, "tomorrow"),
    (AnswerType::Date, "the third of june"),
    (AnswerType::Time, "half past three"),
    (AnswerType::Time, "noon"),
    (AnswerType::Time, "quarter to five"),
];

#[test]
fn espeak_answers_of_every_type_decode_to_the_right_answer() {
    let mut types = std::collections::HashSet::new();
    let mut exact = Vec::new();
    for (t, text) in ANSWERS {
        let audio = call_audio(text, 500, 1200);
        match recognize(*t, &audio) {
            Outcome::Recognized(r) => {
                // The flow gets the right answer ("nope" for "no" is still no) ...
                assert!(
                    tympan_speech::asr::eval::same_answer(*t, &r.transcript, text),
                    "{t}: {text:?} heard as {:?}",
                    r.transcript
                );
                if r.transcript == *text {
                    exact.push(*text);
                }
                assert!(!r.truncated && !r.is_repeat, "{text}");
                assert!((0.0..=1.0).contains(&r.confidence));
                // The utterance lies where the speech was put (VAD onset/offset slack).
                assert!((350.0..800.0).contains(&r.start_ms), "{text}: {r:?}");
                let speech_end = audio.len() as f64 / 8.0 - 1200.0;
                assert!((r.end_ms - speech_end).abs() < 250.0, "{text}: {r:?}");
            }
            other => panic!("{text}: {other:?}"),
        }
        types.insert(*t);
    }
    assert_eq!(types.len(), AnswerType::ALL.len());
    // ... and nearly always the very words.
    assert!(exact.len() + 2 >= ANSWERS.len(), "exact: {exact:?}");
}

#[test]
fn repeat_requests_are_flagged_in_every_grammar() {
    let audio = call_audio("repeat that", 500, 1200);
    for t in [AnswerType::YesNo, AnswerType::Number, AnswerType::Date] {
        match recognize(t, &audio) {
            Outcome::Recognized(r) => {
                assert_eq!(r.transcript, "repeat that", "{t}");
                assert!(r.is_repeat, "{t}");
            }
            other => panic!("{t}: {other:?}"),
        }
    }
}

#[test]
fn silence_and_steady_noise_are_no_input_at_the_timeout() {
    let cfg = EndpointConfig {
        no_input_timeout_ms: 3000,
        ..Default::default()
    };
    // Digital silence, then white noise at about -30 dBFS (a noisy line, no speech).
    let silence = vec![0i16; 8000 * 5];
    let mut state = 1u32;
    let noise: Vec<i16> = (0..8000 * 5)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            ((state >> 16) as i32 % 2000 - 1000) as i16
        })
        .collect();
    let noise = telephone(&noise, 8000).unwrap();
    for audio in [&silence, &noise] {
        let mut rec = engine().start(AnswerType::YesNo, 8000, &cfg).unwrap();
        let (events, out) = run(rec.as_mut(), audio, 160);
        assert_eq!(out, Outcome::NoSpeech { at_ms: 3000.0 });
        assert_eq!(
            events,
            vec![AsrEvent::Done(Outcome::NoSpeech { at_ms: 3000.0 })]
        );
        assert!(rec.is_done());
        // Audio after the outcome is ignored.
        assert!(rec.push(&call_audio("yes", 0, 0)).unwrap().is_empty());
        assert_eq!(rec.finish().unwrap(), out);
    }
}

#[test]
fn endpointing_events_come_in_order_and_in_audio_time() {
    let audio = call_audio("twenty five", 1000, 2000);
    // Where the speech really is in the padded audio (espeak-ng adds its own short silences).
    let onset_ms = audio.iter().position(|s| s.abs() > 300).unwrap() as f64 / 8.0;
    let offset_ms = audio.iter().rposition(|s| s.abs() > 300).unwrap() as f64 / 8.0;
    let mut rec = engine()
        .start(AnswerType::Number, 8000, &EndpointConfig::default())
        .unwrap();
    let mut seen = Vec::new();
    for (i, c) in audio.chunks(160).enumerate() {
        for e in rec.push(c).unwrap() {
            let reported = (i as f64 + 1.0) * 20.0;
            seen.push(reported);
            match (seen.len(), e) {
                (1, AsrEvent::SpeechStart { at_ms }) => {
                    assert!((at_ms - onset_ms).abs() <= 100.0, "{at_ms} vs {onset_ms}");
                    // Confirmed after min_speech_ms (100) of speech, not before.
                    assert!(reported >= at_ms + 100.0, "{reported} {at_ms}");
                }
                (2, AsrEvent::Done(Outcome::Recognized(r))) => {
                    assert_eq!(r.transcript, "twenty five");
                    assert!(
                        (r.end_ms - offset_ms).abs() <= 100.0,
                        "{} vs {offset_ms}",
                        r.end_ms
                    );
                    // Reported end_silence_ms (800) after the last speech frame, not sooner.
                    assert!(reported - r.end_ms >= 800.0, "{reported} {}", r.end_ms);
                    assert!(reported - r.end_ms < 900.0, "{reported} {}", r.end_ms);
                }
                (n, e) => panic!("event {n}: {e:?}"),
            }
        }
    }
    assert_eq!(seen.len(), 2);
}

#[test]
fn long_speech_is_cut_at_the_maximum_and_finish_decodes_what_was_heard() {
    let cfg = EndpointConfig {
        max_utterance_ms: 1500,
        ..Default::default()
    };
    let audio = call_audio(
        "one two three four five six seven eight nine ten eleven twelve",
        500,
        0,
    );
    let mut rec = engine().start(AnswerType::Number, 8000, &cfg).unwrap();
    let (_, out) = run(rec.as_mut(), &audio, 160);
    match out {
        Outcome::Recognized(r) => {
            assert!(r.truncated);
            assert!((r.end_ms - r.start_ms - 1500.0).abs() <= 10.0, "{r:?}");
        }
        Outcome::NoMatch {
            end_ms, start_ms, ..
        } => {
            assert!((end_ms - start_ms - 1500.0).abs() <= 10.0)
        }
        o => panic!("{o:?}"),
    }

    // The caller keys a digit mid-answer: finish() decodes the speech heard so far.
    let audio = call_audio("nineteen eighty four", 500, 0);
    let mut rec = engine()
        .start(AnswerType::Number, 8000, &EndpointConfig::default())
        .unwrap();
    let (events, out) = run(rec.as_mut(), &audio, 160);
    assert!(
        matches!(events.as_slice(), [AsrEvent::SpeechStart { .. }]),
        "{events:?}"
    );
    assert!(
        matches!(out, Outcome::Recognized(_) | Outcome::NoMatch { .. }),
        "{out:?}"
    );
    // Before any speech, finish() is no input at the current time.
    let mut rec = engine()
        .start(AnswerType::Number, 8000, &EndpointConfig::default())
        .unwrap();
    rec.push(&[0i16; 4000]).unwrap();
    assert_eq!(rec.finish().unwrap(), Outcome::NoSpeech { at_ms: 500.0 });
}

#[test]
fn the_same_audio_in_any_chunks_gives_the_same_outcome() {
    let audio = call_audio("the day after tomorrow", 700, 1500);
    let mut outcomes = Vec::new();
    for chunk in [1, 37, 80, 160, 333, 4000, audio.len()] {
        let mut rec = engine()
            .start(AnswerType::Date, 8000, &EndpointConfig::default())
            .unwrap();
        let (events, out) = run(rec.as_mut(), &audio, chunk);
        assert_eq!(events.len(), 2, "chunk {chunk}: {events:?}");
        assert_eq!(events[1], AsrEvent::Done(out.clone()));
        outcomes.push((events[0].clone(), out));
    }
    for o in &outcomes[1..] {
        assert_eq!(o, &outcomes[0]);
    }
}

#[test]
fn decoding_does_not_depend_on_what_the_decoder_heard_before() {
    let e = engine();
    let a = telephone(
        &voice()
            .synthesize(SpeechInput::Text("june the third"), 8000)
            .unwrap()
            .samples,
        8000,
    )
    .unwrap();
    let b = telephone(
        &voice()
            .synthesize(SpeechInput::Text("no thanks"), 8000)
            .unwrap()
            .samples,
        8000,
    )
    .unwrap();
    let first = e
        .decode(Search::Grammar(AnswerType::Date), &a, 8000)
        .unwrap();
    for _ in 0..3 {
        e.decode(Search::Grammar(AnswerType::YesNo), &b, 8000)
            .unwrap();
        assert_eq!(
            e.decode(Search::Grammar(AnswerType::Date), &a, 8000)
                .unwrap(),
            first
        );
    }
    // Concurrent recognitions (several decoders from the pool) agree with the sequential one.
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let e = e.clone();
            let a = a.clone();
            std::thread::spawn(move || {
                e.decode(Search::Grammar(AnswerType::Date), &a, 8000)
                    .unwrap()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), first);
    }
}

#[test]
fn wideband_input_works_too() {
    let p = voice()
        .synthesize(SpeechInput::Text("quarter to five"), 16000)
        .unwrap();
    let audio = pad(&p.samples, 16000, 500, 1200);
    let mut rec = engine()
        .start(AnswerType::Time, 16000, &EndpointConfig::default())
        .unwrap();
    assert_eq!(rec.sample_rate(), 16000);
    let (_, out) = run(rec.as_mut(), &audio, 320);
    assert_eq!(out.transcript(), Some("quarter to five"));
}

#[test]
fn bad_settings_are_refused_by_name() {
    let e = engine();
    assert!(matches!(
        e.start(AnswerType::Ok, 44100, &EndpointConfig::default()),
        Err(AsrError::UnsupportedRate(44100))
    ));
    for (cfg, name) in [
        (
            EndpointConfig {
                end_silence_ms: 10,
                ..Default::default()
            },
            "end_silence_ms",
        ),
        (
            EndpointConfig {
                no_input_timeout_ms: 0,
                ..Default::default()
            },
            "no_input_timeout_ms",
        ),
        (
            EndpointConfig {
                vad_mode: 9,
                ..Default::default()
            },
            "vad_mode",
        ),
    ] {
        match e.start(AnswerType::Ok, 8000, &cfg) {
            Err(AsrError::InvalidSetting { name: n, .. }) => assert_eq!(n, name),
            Err(other) => panic!("{name}: {other}"),
            Ok(_) => panic!("{name}: accepted"),
        }
    }
    let missing = SphinxEngine::new(SphinxConfig {
        model_dir: "/nonexistent/model".into(),
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(missing.contains("/nonexistent/model"), "{missing}");
    assert!(e
        .recognizer(Search::LanguageModel, 8000, &EndpointConfig::default())
        .is_err());
}
