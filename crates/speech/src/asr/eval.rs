//! Accuracy of a recogniser on labelled clips, per group (voice or corpus) and answer type,
//! and the data sets it is measured on. Sans I/O: the shell reads the files and times the run
//! (`tympan speech eval`); this module labels, transforms, runs and scores.
//!
//! A clip counts as correct when the transcript is exactly the expected one. Every clip goes
//! through the call path: resampled to 8 kHz, G.711 µ-law encoded and decoded, padded with
//! silence on both sides (the VAD needs some non-speech around an utterance), pushed in
//! 20 ms chunks through a streaming recogniser with the default endpointing.

use std::collections::BTreeMap;

use super::{AsrError, EndpointConfig, Outcome, Recognizer, RecognizerEngine};
use crate::AnswerType;

/// Silence added before each clip, ms.
pub const PAD_BEFORE_MS: u32 = 500;
/// Silence added after each clip, ms (more than the default end-of-speech silence).
pub const PAD_AFTER_MS: u32 = 1200;
/// Chunk pushed at a time, ms (one RTP packet).
pub const CHUNK_MS: u32 = 20;

/// Spoken answers for the espeak-ng evaluation: several phrasings per answer type, each a
/// sentence of its grammar (checked by the tests) and the exact expected transcript.
pub const ESPEAK_PHRASES: &[(AnswerType, &str)] = &[
    (AnswerType::Ok, "okay"),
    (AnswerType::Ok, "oh okay"),
    (AnswerType::Ok, "all right"),
    (AnswerType::Ok, "got it"),
    (AnswerType::Ok, "understood"),
    (AnswerType::Ok, "okay thanks"),
    (AnswerType::Ok, "yes okay"),
    (AnswerType::Ok, "i got it"),
    (AnswerType::YesNo, "yes"),
    (AnswerType::YesNo, "no"),
    (AnswerType::YesNo, "yes i do"),
    (AnswerType::YesNo, "yup"),
    (AnswerType::YesNo, "nope"),
    (AnswerType::YesNo, "yeah"),
    (AnswerType::YesNo, "no i don't"),
    (AnswerType::YesNo, "not really"),
    (AnswerType::YesNo, "sure"),
    (AnswerType::YesNo, "of course"),
    (AnswerType::Choice, "a"),
    (AnswerType::Choice, "b"),
    (AnswerType::Choice, "c"),
    (AnswerType::Choice, "d"),
    (AnswerType::Choice, "e"),
    (AnswerType::Choice, "the second one"),
    (AnswerType::Choice, "option c"),
    (AnswerType::Choice, "the first one"),
    (AnswerType::Choice, "the last one"),
    (AnswerType::Choice, "number two"),
    (AnswerType::Number, "twenty five"),
    (AnswerType::Number, "two five"),
    (AnswerType::Number, "a hundred and three"),
    (AnswerType::Number, "eight"),
    (AnswerType::Number, "zero"),
    (AnswerType::Number, "seventeen"),
    (AnswerType::Number, "nineteen eighty four"),
    (AnswerType::Number, "two thousand and twenty"),
    (AnswerType::Number, "four two one"),
    (AnswerType::Number, "ninety nine"),
    (AnswerType::Date, "next friday"),
    (AnswerType::Date, "the third of june"),
    (AnswerType::Date, "tomorrow"),
    (AnswerType::Date, "today"),
    (AnswerType::Date, "the day after tomorrow"),
    (AnswerType::Date, "june the third"),
    (AnswerType::Date, "monday"),
    (AnswerType::Date, "the first of january"),
    (AnswerType::Date, "next tuesday"),
    (AnswerType::Date, "december twenty fifth"),
    (AnswerType::Time, "half past three"),
    (AnswerType::Time, "three pm"),
    (AnswerType::Time, "noon"),
    (AnswerType::Time, "midnight"),
    (AnswerType::Time, "quarter to five"),
    (AnswerType::Time, "seven thirty"),
    (AnswerType::Time, "ten o'clock"),
    (AnswerType::Time, "six in the evening"),
    (AnswerType::Time, "nine am"),
    (AnswerType::Time, "quarter past eleven"),
    (AnswerType::YesNo, "repeat that"),
    (AnswerType::Number, "say that again"),
];

/// The espeak-ng voices and speaking rates (words per minute) of the evaluation.
pub const ESPEAK_VOICES: &[(&str, u32)] = &[
    ("en-us", 160),
    ("en-us", 130),
    ("en-us", 190),
    ("en-gb", 160),
    ("en-us+m3", 160),
    ("en-us+f2", 160),
];

/// Digit names, as the number grammar spells them.
pub const DIGIT_WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// One labelled clip.
#[derive(Debug, Clone)]
pub struct Clip {
    /// Identifier (file name, or voice and phrase).
    pub id: String,
    /// Group it is reported under ("espeak en-us 160", "fsdd", "speech-commands").
    pub group: String,
    /// The grammar to recognise with.
    pub answer_type: AnswerType,
    /// The expected transcript.
    pub expected: String,
    /// Samples (any rate the `audio` crate resamples; made 8 kHz µ-law by [`telephone`]).
    pub samples: Vec<i16>,
    /// Their rate, Hz.
    pub sample_rate: u32,
}

/// What one clip gave.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipResult {
    /// The clip's id.
    pub id: String,
    /// Its group.
    pub group: String,
    /// Its answer type.
    pub answer_type: AnswerType,
    /// Expected transcript.
    pub expected: String,
    /// What was recognised (`None`: no match or no speech).
    pub got: Option<String>,
    /// The answer the flow gets is right: `got` parses ([`crate::answers::parse_speech`]) to
    /// the same answer value as `expected` ("yep" for "yes"; "two oh" for "two" is wrong).
    pub correct: bool,
    /// `got == expected` word for word.
    pub exact: bool,
    /// Length of the clip as pushed (with padding), ms.
    pub audio_ms: f64,
}

/// Accuracy of one group and answer type.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Group.
    pub group: String,
    /// Answer type.
    pub answer_type: AnswerType,
    /// Clips.
    pub n: usize,
    /// Clips with the right answer value ([`ClipResult::correct`]).
    pub correct: usize,
    /// Clips with the exact transcript ([`ClipResult::exact`]).
    pub exact: usize,
}

impl Summary {
    /// `correct / n`.
    pub fn accuracy(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.correct as f64 / self.n as f64
        }
    }
}

/// `samples` at `rate` as a G.711 call delivers them: 8 kHz, µ-law encoded and decoded.
pub fn telephone(samples: &[i16], rate: u32) -> Result<Vec<i16>, AsrError> {
    let at8k = tympan_audio::resample::resample_i16(samples, rate, 8000)?;
    Ok(tympan_audio::g711::ulaw_decode_slice(
        &tympan_audio::g711::ulaw_encode_slice(&at8k),
    ))
}

/// `samples` with `before_ms` and `after_ms` of digital silence around them.
pub fn pad(samples: &[i16], rate: u32, before_ms: u32, after_ms: u32) -> Vec<i16> {
    let b = (rate as u64 * before_ms as u64 / 1000) as usize;
    let a = (rate as u64 * after_ms as u64 / 1000) as usize;
    let mut out = vec![0i16; b];
    out.extend_from_slice(samples);
    out.resize(out.len() + a, 0);
    out
}

/// Runs one clip through the call path (see the module docs) with a recogniser started for
/// it (8 kHz input; the clip's grammar or any other search).
pub fn run_clip(mut rec: Box<dyn Recognizer>, clip: &Clip) -> Result<ClipResult, AsrError> {
    let audio = pad(
        &telephone(&clip.samples, clip.sample_rate)?,
        8000,
        PAD_BEFORE_MS,
        PAD_AFTER_MS,
    );
    let chunk = (8000 * CHUNK_MS / 1000) as usize;
    for c in audio.chunks(chunk) {
        rec.push(c)?;
        if rec.is_done() {
            break;
        }
    }
    let got = match rec.finish()? {
        Outcome::Recognized(r) => Some(r.transcript),
        _ => None,
    };
    Ok(ClipResult {
        id: clip.id.clone(),
        group: clip.group.clone(),
        answer_type: clip.answer_type,
        correct: got
            .as_deref()
            .is_some_and(|g| same_answer(clip.answer_type, g, &clip.expected)),
        exact: got.as_deref() == Some(clip.expected.as_str()),
        expected: clip.expected.clone(),
        got,
        audio_ms: audio.len() as f64 / 8.0,
    })
}

/// Whether `got` and `expected` parse to the same answer of type `ty` (dates and times resolved
/// against one fixed day, 2026-01-05 12:00 UTC, so "next friday" compares equal to itself).
pub fn same_answer(ty: AnswerType, got: &str, expected: &str) -> bool {
    use crate::answers::{parse_speech, AnswerContext, Parsed};
    let Ok(ctx) = AnswerContext::at_unix_ms(1_767_614_400_000, 0) else {
        return false;
    };
    match (
        parse_speech(ty, got, &ctx),
        parse_speech(ty, expected, &ctx),
    ) {
        (Parsed::Answer(a), Parsed::Answer(b)) => a.value() == b.value(),
        (Parsed::Repeat, Parsed::Repeat) => true,
        _ => false,
    }
}

/// [`run_clip`] with the clip's own grammar and the default endpointing.
pub fn run_grammar_clip(
    engine: &dyn RecognizerEngine,
    clip: &Clip,
) -> Result<ClipResult, AsrError> {
    let rec = engine.start(clip.answer_type, 8000, &EndpointConfig::default())?;
    run_clip(rec, clip)
}

/// The espeak-ng clips: every phrase of `phrases` in every voice of `voices` (name, words
/// per minute), synthesised at 16 kHz (made 8 kHz µ-law by [`run_clip`]); grouped as
/// `"espeak VOICE RATE"`.
pub fn espeak_clips(
    voices: &[(&str, u32)],
    phrases: &[(AnswerType, &str)],
) -> Result<Vec<Clip>, crate::tts::TtsError> {
    use crate::tts::{EspeakSettings, EspeakSynthesizer, SpeechInput, Synthesizer};
    let mut out = Vec::new();
    for (voice, wpm) in voices {
        let tts = EspeakSynthesizer::new(EspeakSettings {
            voice: voice.to_string(),
            rate_wpm: *wpm,
            ..Default::default()
        })?;
        let group = format!("espeak {voice} {wpm}");
        for (t, phrase) in phrases {
            let p = tts.synthesize(SpeechInput::Text(phrase), 16000)?;
            out.push(Clip {
                id: format!("{group}: {phrase}"),
                group: group.clone(),
                answer_type: *t,
                expected: phrase.to_string(),
                samples: p.samples.to_vec(),
                sample_rate: 16000,
            });
        }
    }
    Ok(out)
}

/// Accuracy per (group, answer type), in order of first appearance of the group.
pub fn summarize(results: &[ClipResult]) -> Vec<Summary> {
    let mut order: Vec<String> = Vec::new();
    let mut map: BTreeMap<(String, &'static str), Summary> = BTreeMap::new();
    for r in results {
        if !order.contains(&r.group) {
            order.push(r.group.clone());
        }
        let s = map
            .entry((r.group.clone(), r.answer_type.as_str()))
            .or_insert_with(|| Summary {
                group: r.group.clone(),
                answer_type: r.answer_type,
                n: 0,
                correct: 0,
                exact: 0,
            });
        s.n += 1;
        s.correct += r.correct as usize;
        s.exact += r.exact as usize;
    }
    let mut out = Vec::new();
    for g in order {
        for t in AnswerType::ALL {
            if let Some(s) = map.remove(&(g.clone(), t.as_str())) {
                out.push(s);
            }
        }
    }
    out
}

/// Confusion counts over `labels` for the results of `group`: row = expected, column = what
/// was recognised; the last column counts anything else (other transcripts, no match).
pub fn confusion(results: &[ClipResult], group: &str, labels: &[&str]) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0usize; labels.len() + 1]; labels.len()];
    for r in results.iter().filter(|r| r.group == group) {
        let Some(row) = labels.iter().position(|l| *l == r.expected) else {
            continue;
        };
        let col = r
            .got
            .as_deref()
            .and_then(|g| labels.iter().position(|l| *l == g))
            .unwrap_or(labels.len());
        m[row][col] += 1;
    }
    m
}

/// The label of a Free Spoken Digit Dataset file (`7_jackson_32.wav` → `"seven"`) and whether
/// it is in the upstream test split (indices 0–4).
pub fn fsdd_label(file_name: &str) -> Option<(&'static str, bool)> {
    let stem = file_name.strip_suffix(".wav")?;
    let mut parts = stem.split('_');
    let digit: usize = parts.next()?.parse().ok()?;
    let _speaker = parts.next()?;
    let index: u32 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || digit > 9 {
        return None;
    }
    Some((DIGIT_WORDS[digit], index < 5))
}

/// The answer type and expected transcript of a Speech Commands word (`files.csv` `word`):
/// yes/no for `yes`, `no`; number for the digit words; `None` otherwise.
pub fn speech_commands_label(word: &str) -> Option<(AnswerType, &'static str)> {
    match word {
        "yes" => Some((AnswerType::YesNo, "yes")),
        "no" => Some((AnswerType::YesNo, "no")),
        w => DIGIT_WORDS
            .iter()
            .find(|d| **d == w)
            .map(|d| (AnswerType::Number, *d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asr::grammar::Grammar;

    #[test]
    fn phrases_are_in_their_grammars() {
        for (t, p) in ESPEAK_PHRASES {
            assert!(Grammar::for_type(*t).accepts(p), "{t}: {p:?}");
        }
        for d in DIGIT_WORDS {
            assert!(Grammar::for_type(AnswerType::Number).accepts(d), "{d}");
        }
    }

    #[test]
    fn labels() {
        assert_eq!(fsdd_label("7_jackson_32.wav"), Some(("seven", false)));
        assert_eq!(fsdd_label("0_theo_4.wav"), Some(("zero", true)));
        assert_eq!(fsdd_label("x_theo_4.wav"), None);
        assert_eq!(fsdd_label("1_theo_4_5.wav"), None);
        assert_eq!(
            speech_commands_label("yes"),
            Some((AnswerType::YesNo, "yes"))
        );
        assert_eq!(
            speech_commands_label("nine"),
            Some((AnswerType::Number, "nine"))
        );
        assert_eq!(speech_commands_label("up"), None);
    }

    #[test]
    fn answers_compare_by_value() {
        assert!(same_answer(AnswerType::YesNo, "yep", "yes"));
        assert!(!same_answer(AnswerType::YesNo, "nope", "yes"));
        assert!(same_answer(AnswerType::Number, "two five", "twenty five"));
        assert!(!same_answer(AnswerType::Number, "two oh", "two"));
        assert!(same_answer(AnswerType::Date, "next friday", "next friday"));
        assert!(!same_answer(AnswerType::Date, "next friday", "tomorrow"));
        assert!(!same_answer(AnswerType::Choice, "banana", "banana"));
    }

    #[test]
    fn summary_and_confusion() {
        let r = |exp: &str, got: Option<&str>| ClipResult {
            id: exp.into(),
            group: "g".into(),
            answer_type: AnswerType::YesNo,
            expected: exp.into(),
            got: got.map(String::from),
            correct: got == Some(exp),
            exact: got == Some(exp),
            audio_ms: 1000.0,
        };
        let rs = [
            r("yes", Some("yes")),
            r("yes", Some("no")),
            r("no", None),
            r("no", Some("no")),
        ];
        let s = summarize(&rs);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].n, s[0].correct), (4, 2));
        assert_eq!(s[0].accuracy(), 0.5);
        assert_eq!(
            confusion(&rs, "g", &["yes", "no"]),
            vec![vec![1, 1, 0], vec![0, 1, 1]]
        );
        let p = pad(&[1, 2], 8000, 1, 2);
        assert_eq!(p.len(), 8 + 2 + 16);
        assert_eq!(&p[8..10], &[1, 2]);
    }
}
