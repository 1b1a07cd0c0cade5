//! espeak-ng synthesis (linked library; a missing library fails the build) and the prompt cache.

use std::sync::Arc;

use tympan_speech::tts::cache::prompt_key;
use tympan_speech::tts::{
    EspeakSettings, EspeakSynthesizer, Prompt, PromptCache, SpeechInput, SsmlRendering,
    Synthesizer, TtsError,
};

fn synth(settings: EspeakSettings) -> EspeakSynthesizer {
    EspeakSynthesizer::new(settings).expect("espeak-ng starts (libespeak-ng + espeak-ng-data)")
}

/// True when `a` and `b` are the same length within `pct` percent (espeak-ng's output is not
/// bit-for-bit repeatable, see the module docs of `tts::espeak`).
fn same_length(a: usize, b: usize, pct: f64) -> bool {
    (a as f64 - b as f64).abs() <= pct / 100.0 * a.max(b) as f64
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
}

/// Runs of at least `min_ms` of near-silence (|x| < 64) strictly inside the prompt, ms.
fn inner_gaps(p: &Prompt, min_ms: u64) -> Vec<u64> {
    let rate = p.sample_rate as u64;
    let min = (min_ms * rate / 1000) as usize;
    let s = &p.samples;
    let first = s.iter().position(|v| v.abs() >= 64).unwrap_or(0);
    let last = s.iter().rposition(|v| v.abs() >= 64).unwrap_or(0);
    let mut gaps = Vec::new();
    let mut run = 0usize;
    for &v in &s[first..=last] {
        if v.abs() < 64 {
            run += 1;
        } else {
            if run >= min {
                gaps.push(run as u64 * 1000 / rate);
            }
            run = 0;
        }
    }
    gaps
}

#[test]
fn plain_text_gives_plausible_8k_and_16k_audio() {
    let s = synth(EspeakSettings::default());
    let text = "Please count from one to twenty. Press pound when you finish.";
    let p8 = s.synthesize(SpeechInput::Text(text), 8000).unwrap();
    assert_eq!(p8.sample_rate, 8000);
    // ~11 words at 160 wpm: roughly 3-6 s.
    let ms = p8.duration_ms();
    assert!((2500..7000).contains(&ms), "{ms} ms");
    assert!(rms(&p8.samples) > 500.0, "rms {}", rms(&p8.samples));
    let p16 = s.synthesize(SpeechInput::Text(text), 16000).unwrap();
    assert_eq!(p16.sample_rate, 16000);
    // Same audio resampled: same length within one 8 kHz sample.
    assert!(
        same_length(p16.samples.len(), 2 * p8.samples.len(), 1.0),
        "{} vs 2 × {}",
        p16.samples.len(),
        p8.samples.len()
    );
    // 8 kHz output has nothing above 4 kHz to alias: the native output was low-passed, so the
    // sample-to-sample differences stay well below those of white noise of the same power.
    let diff: Vec<i16> = p8
        .samples
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .collect();
    assert!(rms(&diff) < 1.2 * rms(&p8.samples), "not low-passed");
    // Repeatable within a fraction of a percent.
    let again = s.synthesize(SpeechInput::Text(text), 8000).unwrap();
    assert!(same_length(again.samples.len(), p8.samples.len(), 1.0));
}

#[test]
fn settings_change_the_audio() {
    let base = synth(EspeakSettings::default());
    let text = "the quick brown fox jumps over the lazy dog";
    let normal = base.synthesize(SpeechInput::Text(text), 8000).unwrap();
    let fast = synth(EspeakSettings {
        rate_wpm: 320,
        ..Default::default()
    })
    .synthesize(SpeechInput::Text(text), 8000)
    .unwrap();
    assert!(
        (fast.samples.len() as f64) < 0.7 * normal.samples.len() as f64,
        "{} vs {}",
        fast.samples.len(),
        normal.samples.len()
    );
    let quiet = synth(EspeakSettings {
        volume: 30,
        ..Default::default()
    })
    .synthesize(SpeechInput::Text(text), 8000)
    .unwrap();
    assert!(rms(&quiet.samples) < 0.5 * rms(&normal.samples));
    for voice in ["en-gb", "en-us+f2", "en-us+m3"] {
        let v = synth(EspeakSettings {
            voice: voice.into(),
            ..Default::default()
        })
        .synthesize(SpeechInput::Text(text), 8000)
        .unwrap();
        assert_ne!(v.samples, normal.samples, "{voice}");
        assert!(rms(&v.samples) > 300.0, "{voice}");
    }
    // Two synthesizers interleaved on one engine keep their own settings.
    let again = base.synthesize(SpeechInput::Text(text), 8000).unwrap();
    assert!(same_length(again.samples.len(), normal.samples.len(), 1.0));
    assert!((rms(&again.samples) / rms(&normal.samples) - 1.0).abs() < 0.1);
}

#[test]
fn errors_are_named() {
    match EspeakSynthesizer::new(EspeakSettings {
        voice: "xx-nowhere".into(),
        ..Default::default()
    }) {
        Err(TtsError::VoiceNotFound(v)) => assert_eq!(v, "xx-nowhere"),
        other => panic!("{other:?}"),
    }
    for (settings, name) in [
        (
            EspeakSettings {
                rate_wpm: 20,
                ..Default::default()
            },
            "rate_wpm",
        ),
        (
            EspeakSettings {
                pitch: 101,
                ..Default::default()
            },
            "pitch",
        ),
        (
            EspeakSettings {
                volume: 500,
                ..Default::default()
            },
            "volume",
        ),
        (
            EspeakSettings {
                voice: "en us; rm".into(),
                ..Default::default()
            },
            "voice",
        ),
    ] {
        match EspeakSynthesizer::new(settings) {
            Err(TtsError::InvalidSetting { name: n, .. }) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
    }
    let s = synth(EspeakSettings::default());
    assert!(matches!(
        s.synthesize(SpeechInput::Text("hi"), 44100),
        Err(TtsError::UnsupportedRate(44100))
    ));
    let e = s
        .synthesize(
            SpeechInput::Ssml("<speak>hi <audio src=\"x\"/></speak>"),
            8000,
        )
        .unwrap_err();
    assert!(e.to_string().contains("<audio> at byte 10"), "{e}");
    let long = "a ".repeat(10_000);
    assert!(matches!(
        s.synthesize(SpeechInput::Text(&long), 8000),
        Err(TtsError::TextTooLong { .. })
    ));
}

#[test]
fn ssml_breaks_in_both_renderings() {
    // A 1200 ms break between two words: segment rendering inserts it exactly; espeak-ng's own
    // SSML mode comes within a few tens of ms (its pause replaces the normal word gap).
    let ssml = "<speak>hello <break time=\"1200ms\"/> world</speak>";
    for (mode, tolerance) in [(SsmlRendering::Segments, 60), (SsmlRendering::Native, 150)] {
        let s = synth(EspeakSettings {
            ssml: mode,
            ..Default::default()
        });
        let p = s.synthesize(SpeechInput::Ssml(ssml), 8000).unwrap();
        let gaps = inner_gaps(&p, 500);
        assert_eq!(gaps.len(), 1, "{mode:?}: {gaps:?}");
        assert!(
            (gaps[0] as i64 - 1200).abs() <= tolerance,
            "{mode:?}: gap {} ms",
            gaps[0]
        );
        let plain = s
            .synthesize(SpeechInput::Ssml("<speak>hello world</speak>"), 8000)
            .unwrap();
        assert!(inner_gaps(&plain, 500).is_empty(), "{mode:?}");
    }
}

#[test]
fn ssml_prosody_and_say_as_reach_the_audio() {
    for mode in [SsmlRendering::Native, SsmlRendering::Segments] {
        let s = synth(EspeakSettings {
            ssml: mode,
            ..Default::default()
        });
        let say = |x: &str| s.synthesize(SpeechInput::Ssml(x), 8000).unwrap();
        let normal = say("<speak>the quick brown fox jumps over the lazy dog</speak>");
        let slow = say("<speak><prosody rate=\"50%\">the quick brown fox jumps over the lazy dog</prosody></speak>");
        assert!(
            slow.samples.len() as f64 > 1.5 * normal.samples.len() as f64,
            "{mode:?}: {} vs {}",
            slow.samples.len(),
            normal.samples.len()
        );
        let soft = say("<speak><prosody volume=\"x-soft\">the quick brown fox jumps over the lazy dog</prosody></speak>");
        assert!(rms(&soft.samples) < 0.6 * rms(&normal.samples), "{mode:?}");
        // say-as digits: the four words, not the number "one thousand two hundred thirty four".
        let len = |x: &str| say(x).samples.len();
        let digits = len("<speak><say-as interpret-as=\"digits\">1234</say-as></speak>");
        let words = len("<speak>one two three four</speak>");
        let number = len("<speak>1234</speak>");
        assert!(
            same_length(digits, words, 3.0),
            "{mode:?}: {digits} vs {words}"
        );
        assert!(
            !same_length(digits, number, 10.0),
            "{mode:?}: {digits} vs {number}"
        );
        let date = len("<speak><say-as interpret-as=\"date\">2025-06-03</say-as></speak>");
        let spoken = len("<speak>June third, twenty twenty five</speak>");
        assert!(
            same_length(date, spoken, 3.0),
            "{mode:?}: {date} vs {spoken}"
        );
    }
}

#[test]
fn cache_hits_on_the_second_call_and_persists() {
    let s = synth(EspeakSettings::default());
    let cache = PromptCache::new(4 * 1024 * 1024);
    let input = SpeechInput::Ssml("<speak>Tell me A, B, C, D or E.</speak>");
    let (first, hit) = cache.get_or_synthesize(&s, input, 8000).unwrap();
    assert!(!hit);
    let (second, hit) = cache.get_or_synthesize(&s, input, 8000).unwrap();
    assert!(hit);
    assert!(Arc::ptr_eq(&first.samples, &second.samples));
    // Other rate, other settings, other text kind: other keys.
    let (_, hit) = cache.get_or_synthesize(&s, input, 16000).unwrap();
    assert!(!hit);
    let fast = synth(EspeakSettings {
        rate_wpm: 250,
        ..Default::default()
    });
    let (_, hit) = cache.get_or_synthesize(&fast, input, 8000).unwrap();
    assert!(!hit);
    let (_, hit) = cache
        .get_or_synthesize(
            &s,
            SpeechInput::Text("<speak>Tell me A, B, C, D or E.</speak>"),
            8000,
        )
        .unwrap();
    assert!(!hit);
    let st = cache.stats();
    assert_eq!((st.entries, st.hits, st.misses, st.evictions), (4, 1, 4, 0));

    let bytes = cache.to_bytes();
    let back = PromptCache::from_bytes(&bytes, 4 * 1024 * 1024).unwrap();
    assert_eq!(back.stats().entries, 4);
    assert_eq!(back.to_bytes(), bytes);
    let key = prompt_key(&s.fingerprint(), 8000, input);
    assert_eq!(back.get(&key).unwrap(), first);

    // WAV form round-trips at the same rate.
    let wav = first.to_wav();
    assert_eq!(Prompt::from_wav(&wav, 8000).unwrap(), first);

    // Damage is located.
    let mut bad = bytes.clone();
    bad.truncate(bytes.len() - 3);
    let e = PromptCache::from_bytes(&bad, 1 << 20)
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated in samples"), "{e}");
    let e = PromptCache::from_bytes(b"NOTACACHE...", 1 << 20)
        .unwrap_err()
        .to_string();
    assert!(e.contains("byte 0"), "{e}");
}

#[test]
fn cache_budget_evicts_least_recently_used() {
    let p = |n: usize| Prompt {
        sample_rate: 8000,
        samples: vec![1i16; n].into(),
    };
    let cache = PromptCache::new(1000);
    cache.insert([1; 32], p(200)); // 400 bytes
    cache.insert([2; 32], p(200)); // 800
    assert!(cache.get(&[1; 32]).is_some()); // 1 is now more recent than 2
    cache.insert([3; 32], p(200)); // 1200 > 1000: evicts 2
    assert!(cache.get(&[2; 32]).is_none());
    assert!(cache.get(&[1; 32]).is_some());
    assert!(cache.get(&[3; 32]).is_some());
    let st = cache.stats();
    assert_eq!((st.entries, st.bytes, st.evictions), (2, 800, 1));
    // Larger than the whole budget: not kept, nothing evicted.
    cache.insert([4; 32], p(600));
    assert!(cache.get(&[4; 32]).is_none());
    assert_eq!(cache.stats().entries, 2);
    // Reloading into a smaller budget keeps the most recent.
    let small = PromptCache::from_bytes(&cache.to_bytes(), 500).unwrap();
    assert_eq!(small.stats().entries, 1);
    assert!(small.get(&[3; 32]).is_some());
}

#[test]
fn synthesis_from_many_threads() {
    let s = Arc::new(synth(EspeakSettings::default()));
    let want = s
        .synthesize(SpeechInput::Text("thread safety"), 8000)
        .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let s = s.clone();
            let want = want.samples.clone();
            let other_voice = if i % 2 == 0 { "en-gb" } else { "en-us+f2" };
            std::thread::spawn(move || {
                let other = synth(EspeakSettings {
                    voice: if i % 2 == 0 { "en-gb" } else { "en-us+f2" }.into(),
                    ..Default::default()
                });
                for _ in 0..3 {
                    other
                        .synthesize(SpeechInput::Text("another voice"), 8000)
                        .unwrap();
                    // Another voice in between leaves this synthesizer its own rate (a short phrase varies
                    // by up to ~4 % from one call to the next).
                    let got = s
                        .synthesize(SpeechInput::Text("thread safety"), 8000)
                        .unwrap();
                    let (g, w) = (got.samples.len(), want.len());
                    assert!(same_length(g, w, 6.0), "{other_voice}: {g} vs {w}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}
