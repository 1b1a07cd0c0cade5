//! Synthesis and recognition speed: `cargo bench -p tympan-speech`. The recognition bench's
//! time per iteration divided by the utterance length (printed) is the real-time factor on
//! one core.

use criterion::{criterion_group, criterion_main, Criterion};
use tympan_speech::asr::eval::{pad, telephone};
use tympan_speech::asr::sphinx::{Search, TELEPHONE_MLLR};
use tympan_speech::asr::{EndpointConfig, Recognizer, SphinxConfig, SphinxEngine};
use tympan_speech::tts::{EspeakSettings, EspeakSynthesizer, SpeechInput, Synthesizer};
use tympan_speech::AnswerType;

fn benches(c: &mut Criterion) {
    let tts = EspeakSynthesizer::new(EspeakSettings::default()).unwrap();
    let prompt = "<speak>How do you know Amazon Connect? <break time=\"300ms\"/> A. News Letter, \
                  B. Social Media, C. AWS Event, D. AWS Website, or E. From Friend.</speak>";
    c.bench_function("tts/callouts_prompt_8k", |b| {
        b.iter(|| tts.synthesize(SpeechInput::Ssml(prompt), 8000).unwrap())
    });

    let mllr = std::env::temp_dir().join(format!("tympan-bench-{}.mllr", std::process::id()));
    std::fs::write(&mllr, TELEPHONE_MLLR).unwrap();
    let engine = SphinxEngine::new(SphinxConfig {
        mllr: Some(mllr),
        ..Default::default()
    })
    .unwrap();
    for (t, text) in [
        (AnswerType::YesNo, "yes i do"),
        (AnswerType::Number, "two thousand and twenty"),
        (AnswerType::Date, "the third of june"),
    ] {
        let p = tts.synthesize(SpeechInput::Text(text), 16000).unwrap();
        let call = telephone(&p.samples, 16000).unwrap();
        let audio = pad(&call, 8000, 500, 1200);
        eprintln!(
            "asr/{t}: utterance {} ms, call audio pushed {} ms",
            call.len() / 8,
            audio.len() / 8
        );
        c.bench_function(&format!("asr/decode_{t}"), |b| {
            b.iter(|| engine.decode(Search::Grammar(t), &call, 8000).unwrap())
        });
        c.bench_function(&format!("asr/stream_{t}"), |b| {
            b.iter(|| {
                let mut r = engine
                    .recognizer(Search::Grammar(t), 8000, &EndpointConfig::default())
                    .unwrap();
                for ch in audio.chunks(160) {
                    r.push(ch).unwrap();
                }
                r.finish().unwrap()
            })
        });
    }
}

criterion_group! {
    name = speech;
    config = Criterion::default().sample_size(10);
    targets = benches
}
criterion_main!(speech);
