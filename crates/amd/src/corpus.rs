//! Evaluation calls built from real speech: answering-machine greetings with beeps, people
//! answering with short phrases, and call-progress tones as hard negatives.
//!
//! Pure and seeded: the same sources and seed give the same calls, sample for sample. The shell
//! decodes the source recordings (8 kHz mono) and hands them in; see `tympan amd eval`.
//!
//! A machine call is: lead-in silence, a greeting (one long recording, or several short ones
//! joined with short pauses, as when a greeting reads digits aloud), a short gap, then in most
//! calls a beep, then silence. A human call is: lead-in silence, one short phrase, a pause
//! longer than the end-of-speech threshold, sometimes a second short phrase, silence. Beeps vary
//! in frequency (300–2500 Hz), length (80–1500 ms), level (−30 to −6 dBm0) and shape (pure,
//! harmonic-rich, two or three tones in a row). Negatives put ringback, dial tone, busy, DTMF or
//! a synthetic hold-music chord sequence before a human answer. Each call is rendered in one
//! condition: clean, G.711 µ-law round trip, or white noise at 15 dB SNR plus µ-law.

use serde::Serialize;
use tympan_audio::synth::{self, Prng};

/// Calls are rendered at this rate (the telephone rate).
pub const RATE: u32 = 8000;

/// Who answered, as ground truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Truth {
    Human,
    Machine,
}

/// Shape of a synthetic beep.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BeepShape {
    Pure,
    Harmonic,
    MultiTone,
}

/// A beep placed in a call, as ground truth.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TrueBeep {
    pub start_ms: u64,
    pub end_ms: u64,
    pub frequency_hz: f32,
    pub level_dbm0: f32,
    pub shape: BeepShape,
}

/// How the call's audio was degraded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Clean,
    G711,
    Noise15G711,
}

/// One evaluation call.
#[derive(Clone, Debug, Serialize)]
pub struct Case {
    pub name: String,
    #[serde(skip)]
    pub samples: Vec<f32>,
    pub truth: Truth,
    pub beep: Option<TrueBeep>,
    /// The hard negative placed before the answer, if any.
    pub negative: Option<&'static str>,
    pub condition: Condition,
    /// End of the greeting or of the last human phrase, ms.
    pub speech_end_ms: u64,
    /// Where each sound of the call lies: `(start_ms, end_ms, kind)` with kind `speech`, `beep`,
    /// `tone` (ringback, dial tone, busy, DTMF) or `music`; silence elsewhere.
    pub segments: Vec<(u64, u64, &'static str)>,
}

/// Share of a clip one kind must cover for [`Case::clip_label`] to name it.
pub const CLIP_LABEL_MIN_SHARE: f64 = 0.8;

impl Case {
    /// Ground-truth label of the audio from `start_ms` to `end_ms` (a VAD clip): the kind
    /// covering at least [`CLIP_LABEL_MIN_SHARE`] of it, `other` when no sound of the call
    /// touches it (noise), and `None` when it straddles kinds.
    pub fn clip_label(&self, start_ms: u64, end_ms: u64) -> Option<&'static str> {
        let len = end_ms.saturating_sub(start_ms).max(1) as f64;
        let mut touched = false;
        let mut by_kind: Vec<(&'static str, u64)> = Vec::new();
        for &(s, e, kind) in &self.segments {
            let overlap = e.min(end_ms).saturating_sub(s.max(start_ms));
            if overlap == 0 {
                continue;
            }
            touched = true;
            match by_kind.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, o)) => *o += overlap,
                None => by_kind.push((kind, overlap)),
            }
        }
        if !touched {
            return Some("other");
        }
        by_kind
            .into_iter()
            .find(|(_, o)| *o as f64 >= CLIP_LABEL_MIN_SHARE * len)
            .map(|(k, _)| k)
    }
}

/// Source speech, 8 kHz mono floats.
pub struct Sources {
    /// Long utterances (several seconds): machine greetings.
    pub long: Vec<Vec<f32>>,
    /// Short utterances (well under the 2.4 s speech threshold): people saying hello, or
    /// pieces joined into a greeting.
    pub short: Vec<Vec<f32>>,
}

/// Folder of the shared data (under `--data`) with LibriSpeech dev FLACs: the greetings.
pub const LIBRISPEECH_DIR: &str = "librispeech-dev";
/// Folder of the shared data with the Free Spoken Digit Dataset WAVs: short phrases.
pub const FSDD_DIR: &str = "fsdd";
/// Folder of the shared data with Speech Commands "yes"/"no" WAVs: short phrases (optional).
pub const YESNO_DIR: &str = "speech-commands-yesno";
/// LibriSpeech files used, spread over the sorted list ([`spread`]).
pub const LIBRISPEECH_FILES: usize = 160;
/// FSDD files used, spread over the sorted list ([`spread`]).
pub const FSDD_FILES: usize = 200;
/// A LibriSpeech recording shorter than this is not used as a greeting, ms.
pub const GREETING_MIN_MS: u64 = 3000;
/// A LibriSpeech greeting is cut to its first this many ms.
pub const GREETING_MAX_MS: u64 = 9000;

/// Every `len / n`-th item of the sorted list, at most `n` (an even spread over speakers and
/// recordings, which the data sets sort by).
pub fn spread<T: Ord>(mut items: Vec<T>, n: usize) -> Vec<T> {
    items.sort();
    let step = (items.len() / n.max(1)).max(1);
    items.into_iter().step_by(step).take(n).collect()
}

/// A line the shell speaks with a text-to-speech program (espeak-ng) to add synthetic voices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpokenLine {
    /// What to say.
    pub text: &'static str,
    /// espeak-ng voice (`en-us`, `en-gb`).
    pub voice: &'static str,
    /// Words per minute.
    pub speed_wpm: u32,
    /// A greeting (long) or a hello (short).
    pub greeting: bool,
}

const GREETINGS: [&str; 8] = [
    "Hi, you have reached John Smith. I can't take your call right now. Please leave a message after the tone.",
    "The person you are calling is not available. Please record your message at the tone.",
    "Hello, this is Maria. Sorry I missed you. Leave your name and number and I'll call you back.",
    "You have reached five five five, one two three four. Please leave a message.",
    "Thank you for calling. Our office is now closed. Please leave a message and we will return your call.",
    "Hey, it's Sam. Leave a message.",
    "The mailbox of extension two four seven is full. Please try again later.",
    "Hi! You've reached the Millers. We're not home right now, so leave us a message after the beep.",
];
const HELLOS: [&str; 8] = [
    "Hello?",
    "Hello.",
    "Yes?",
    "Hi, who is this?",
    "Hello, Maria speaking.",
    "Yeah?",
    "Hello, hello?",
    "Good morning.",
];

/// The synthetic lines of the corpus: eight voicemail greetings, then eight hellos, voices
/// alternating between US and British English.
pub fn spoken_lines() -> Vec<SpokenLine> {
    let voice = |i: usize| ["en-us", "en-gb"][i % 2];
    let greetings = GREETINGS.iter().enumerate().map(|(i, &text)| SpokenLine {
        text,
        voice: voice(i),
        speed_wpm: 150 + 10 * (i as u32 % 4),
        greeting: true,
    });
    let hellos = HELLOS.iter().enumerate().map(|(i, &text)| SpokenLine {
        text,
        voice: voice(i),
        speed_wpm: 160,
        greeting: false,
    });
    greetings.chain(hellos).collect()
}

impl Sources {
    /// No sources yet.
    pub fn new() -> Sources {
        Sources {
            long: Vec::new(),
            short: Vec::new(),
        }
    }

    /// Adds a long recording (8 kHz) as a greeting: its first [`GREETING_MAX_MS`], if it
    /// lasts at least [`GREETING_MIN_MS`] (else it is not used; returns whether it was).
    pub fn add_recorded_greeting(&mut self, x: &[f32]) -> bool {
        let min = (GREETING_MIN_MS * RATE as u64 / 1000) as usize;
        let max = (GREETING_MAX_MS * RATE as u64 / 1000) as usize;
        if x.len() < min {
            return false;
        }
        self.long.push(x[..x.len().min(max)].to_vec());
        true
    }

    /// Adds a short recording (8 kHz) as a phrase, whole.
    pub fn add_short(&mut self, x: Vec<f32>) {
        self.short.push(x);
    }

    /// Adds the audio (8 kHz) of a [`SpokenLine`], whole, as a greeting or a phrase.
    pub fn add_spoken(&mut self, line: &SpokenLine, x: Vec<f32>) {
        if line.greeting {
            self.long.push(x);
        } else {
            self.short.push(x);
        }
    }

    /// Whether [`build`] can use these sources (at least one greeting and one phrase).
    pub fn is_usable(&self) -> bool {
        !self.long.is_empty() && !self.short.is_empty()
    }
}

impl Default for Sources {
    fn default() -> Self {
        Sources::new()
    }
}

fn ms_of(n: usize) -> u64 {
    (n as u64 * 1000) / RATE as u64
}

fn pick<'a, T>(rng: &mut Prng, v: &'a [T]) -> &'a T {
    &v[(rng.next_u64() % v.len() as u64) as usize]
}

fn range(rng: &mut Prng, lo: f64, hi: f64) -> f64 {
    lo + (hi - lo) * rng.uniform()
}

/// Normalise speech to an active level around `level_dbm0` (RMS over the clip).
fn set_level(x: &[f32], level_dbm0: f32) -> Vec<f32> {
    let now = synth::level_dbm0(x);
    if !now.is_finite() {
        return x.to_vec();
    }
    let g = 10f32.powf((level_dbm0 - now) / 20.0);
    x.iter().map(|v| (v * g).clamp(-1.0, 1.0)).collect()
}

/// Render a beep of the given shape; returns samples and the nominal (first) frequency.
pub fn render_beep(
    shape: BeepShape,
    freq: f32,
    ms: f64,
    level_dbm0: f32,
    rng: &mut Prng,
) -> Vec<f32> {
    let mut out = match shape {
        BeepShape::Pure => synth::sine(RATE, freq, ms, level_dbm0),
        BeepShape::Harmonic => {
            // Fundamental plus decaying harmonics below Nyquist, like a clipped or square-ish tone.
            let mut y = synth::sine(RATE, freq, ms, level_dbm0);
            for (k, drop_db) in [(2.0, 9.0), (3.0, 6.0), (4.0, 14.0), (5.0, 12.0)] {
                let f = freq * k;
                if f < RATE as f32 / 2.0 - 200.0 {
                    let h = synth::sine(RATE, f, ms, level_dbm0 - drop_db);
                    for (a, b) in y.iter_mut().zip(h) {
                        *a += b;
                    }
                }
            }
            y
        }
        BeepShape::MultiTone => {
            let steps = 2 + (rng.next_u64() % 2) as usize;
            let step_ms = (ms / steps as f64).max(80.0);
            let mut y = Vec::new();
            let mut f = freq;
            for _ in 0..steps {
                y.extend(synth::sine(RATE, f, step_ms, level_dbm0));
                f = (f * range(rng, 1.15, 1.5) as f32).min(2450.0);
            }
            y
        }
    };
    // 5 ms raised-cosine ramps, as tone generators do.
    let ramp = (RATE as usize * 5 / 1000).min(out.len() / 2);
    for i in 0..ramp {
        let g = 0.5 - 0.5 * (std::f32::consts::PI * i as f32 / ramp as f32).cos();
        out[i] *= g;
        let j = out.len() - 1 - i;
        out[j] *= g;
    }
    out
}

fn negative(kind: &'static str, rng: &mut Prng) -> Vec<f32> {
    let lvl = range(rng, -20.0, -10.0) as f32;
    match kind {
        "ringback" => {
            // One ring and part of the pause after it, then the answer.
            synth::cadence(RATE, &[440.0, 480.0], lvl, 2000.0, 1500.0, 1)
        }
        "dial_tone" => synth::multi_tone(RATE, &[350.0, 440.0], 1500.0, lvl),
        "busy" => synth::cadence(RATE, &[480.0, 620.0], lvl, 500.0, 500.0, 3),
        "dtmf" => {
            let digits: String = (0..6)
                .map(|_| *pick(rng, &['1', '5', '9', '0', '#', '*']))
                .collect();
            synth::dtmf_sequence(&digits, RATE, 100.0, 80.0, lvl).expect("valid digits")
        }
        _ => {
            // "hold music": a chord progression with harmonics, notes of 400 ms.
            synth::hold_music(RATE, lvl - 5.0)
        }
    }
}

/// Build `n` calls (about 55% machines, 35% humans, 10% humans after a hard negative).
pub fn build(sources: &Sources, n: usize, seed: u64) -> Vec<Case> {
    assert!(
        !sources.long.is_empty() && !sources.short.is_empty(),
        "sources must not be empty"
    );
    let mut rng = Prng::new(seed);
    let conditions = [Condition::Clean, Condition::G711, Condition::Noise15G711];
    let negatives = ["ringback", "dial_tone", "busy", "dtmf", "hold_music"];
    let mut cases = Vec::with_capacity(n);
    for i in 0..n {
        let condition = conditions[i % conditions.len()];
        let roll = rng.uniform();
        let mut x = synth::silence(RATE, range(&mut rng, 200.0, 1000.0));
        let level = range(&mut rng, -22.0, -12.0) as f32;
        let (truth, beep, neg, speech_end_ms);
        let mut segments = Vec::new();
        if roll < 0.55 {
            truth = Truth::Machine;
            neg = None;
            let greeting_start = ms_of(x.len());
            if rng.uniform() < 0.6 {
                x.extend(set_level(pick::<Vec<f32>>(&mut rng, &sources.long), level));
            } else {
                // A greeting pieced together from short recordings (e.g. digits read aloud).
                let pieces = 4 + (rng.next_u64() % 5) as usize;
                for _ in 0..pieces {
                    x.extend(set_level(pick::<Vec<f32>>(&mut rng, &sources.short), level));
                    x.extend(synth::silence(RATE, range(&mut rng, 80.0, 350.0)));
                }
            }
            speech_end_ms = ms_of(x.len());
            segments.push((greeting_start, speech_end_ms, "speech"));
            x.extend(synth::silence(RATE, range(&mut rng, 150.0, 900.0)));
            if rng.uniform() < 0.8 {
                let shape = *pick(
                    &mut rng,
                    &[BeepShape::Pure, BeepShape::Harmonic, BeepShape::MultiTone],
                );
                let f = range(
                    &mut rng,
                    300.0,
                    if shape == BeepShape::Harmonic {
                        1200.0
                    } else {
                        2300.0
                    },
                ) as f32;
                let ms = if rng.uniform() < 0.3 {
                    range(&mut rng, 80.0, 200.0)
                } else {
                    range(&mut rng, 200.0, 1500.0)
                };
                let lvl = range(&mut rng, -30.0, -6.0) as f32;
                let start = ms_of(x.len());
                x.extend(render_beep(shape, f, ms, lvl, &mut rng));
                beep = Some(TrueBeep {
                    start_ms: start,
                    end_ms: ms_of(x.len()),
                    frequency_hz: f,
                    level_dbm0: lvl,
                    shape,
                });
                segments.push((start, ms_of(x.len()), "beep"));
            } else {
                beep = None;
            }
            x.extend(synth::silence(RATE, 3500.0));
        } else {
            truth = Truth::Human;
            beep = None;
            neg = if roll > 0.9 {
                Some(*pick(&mut rng, &negatives))
            } else {
                None
            };
            if let Some(kind) = neg {
                let start = ms_of(x.len());
                x.extend(negative(kind, &mut rng));
                let k = if kind == "hold_music" {
                    "music"
                } else {
                    "tone"
                };
                segments.push((start, ms_of(x.len()), k));
                x.extend(synth::silence(RATE, range(&mut rng, 200.0, 600.0)));
            }
            let start = ms_of(x.len());
            x.extend(set_level(pick::<Vec<f32>>(&mut rng, &sources.short), level));
            let mut end = ms_of(x.len());
            segments.push((start, end, "speech"));
            x.extend(synth::silence(RATE, range(&mut rng, 2600.0, 4000.0)));
            if rng.uniform() < 0.4 {
                let start = ms_of(x.len());
                x.extend(set_level(pick::<Vec<f32>>(&mut rng, &sources.short), level));
                end = ms_of(x.len());
                segments.push((start, end, "speech"));
            }
            speech_end_ms = end;
            x.extend(synth::silence(RATE, 3000.0));
        }
        match condition {
            Condition::Clean => {}
            Condition::G711 => x.iter_mut().for_each(|v| *v = synth::mulaw_roundtrip(*v)),
            Condition::Noise15G711 => {
                // 15 dB below the quieter of the speech and the beep.
                let reference = beep.map_or(level, |b| b.level_dbm0.min(level));
                let noise = synth::white_noise(
                    RATE,
                    ms_of(x.len()) as f64 + 10.0,
                    reference - 15.0,
                    seed ^ (i as u64 + 1),
                );
                for (a, b) in x.iter_mut().zip(noise) {
                    *a += b;
                }
                x.iter_mut().for_each(|v| *v = synth::mulaw_roundtrip(*v));
            }
        }
        let name = format!(
            "{i:04}-{}-{}{}-{:?}",
            match truth {
                Truth::Human => "human",
                Truth::Machine => "machine",
            },
            beep.map_or("nobeep".to_string(), |b| format!(
                "beep{:.0}hz{}ms",
                b.frequency_hz,
                b.end_ms - b.start_ms
            )),
            neg.map_or(String::new(), |k| format!("-{k}")),
            condition
        )
        .to_lowercase();
        cases.push(Case {
            name,
            samples: x,
            truth,
            beep,
            negative: neg,
            condition,
            speech_end_ms,
            segments,
        });
    }
    cases
}

/// The call cut into clips by the advisor's VAD cutter ([`crate::clips`], seed rules), each with
/// its ground-truth label ([`Case::clip_label`]; `None` when it straddles kinds).
pub fn cut_clips(case: &Case) -> Vec<(Option<&'static str>, crate::clips::Clip)> {
    let mut cutter = crate::clips::ClipCutter::new(RATE, crate::clips::ClipRules::default())
        .expect("8 kHz with the default rules is valid");
    cutter.push(&case.samples);
    cutter.finish();
    cutter
        .take()
        .into_iter()
        .map(|c| (case.clip_label(c.start_ms, c.end_ms), c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sources() -> Sources {
        // Speech stand-ins: noise bursts of two lengths (the corpus only needs samples).
        Sources {
            long: vec![synth::white_noise(RATE, 4000.0, -20.0, 1)],
            short: vec![synth::white_noise(RATE, 600.0, -20.0, 2)],
        }
    }

    #[test]
    fn segments_follow_the_call_and_label_clips() {
        let cases = build(&sources(), 40, 5);
        let again = build(&sources(), 40, 5);
        for (c, d) in cases.iter().zip(&again) {
            assert_eq!(c.samples, d.samples, "{}: seeded build must repeat", c.name);
            assert!(
                c.segments.windows(2).all(|w| w[0].1 <= w[1].0),
                "{}",
                c.name
            );
            let last_speech = c.segments.iter().filter(|s| s.2 == "speech").map(|s| s.1);
            assert_eq!(last_speech.max(), Some(c.speech_end_ms), "{}", c.name);
            if let Some(b) = c.beep {
                assert!(c.segments.contains(&(b.start_ms, b.end_ms, "beep")));
                assert_eq!(c.clip_label(b.start_ms + 10, b.end_ms - 10), Some("beep"));
            }
            if c.negative.is_some() {
                assert!(c.segments[0].2 == "tone" || c.segments[0].2 == "music");
            }
            assert_eq!(c.clip_label(0, 100), Some("other"), "{}: lead-in", c.name);
        }
        // A clip half over the greeting and half over the beep straddles: no label.
        let m = cases
            .iter()
            .find(|c| c.beep.is_some())
            .expect("a machine with a beep");
        let b = m.beep.unwrap();
        let mid = b.start_ms;
        assert_eq!(m.clip_label(mid - 200, mid + 200), None);
    }

    #[test]
    fn cut_clips_finds_beeps_the_seed_rules_can_see() {
        // The seed's rules drop clips under 200 ms and join sounds less than 300 ms apart, so
        // only beeps of 200 ms and more, 300 ms or more after the greeting, get a clip.
        let cases = build(&sources(), 60, 9);
        let mut visible = 0;
        for c in &cases {
            let Some(b) = c.beep else { continue };
            if b.end_ms - b.start_ms < 220 || b.start_ms - c.speech_end_ms < 320 {
                continue;
            }
            visible += 1;
            let clips = cut_clips(c);
            let found = clips
                .iter()
                .any(|(l, k)| *l == Some("beep") && k.start_ms.abs_diff(b.start_ms) <= 30);
            assert!(
                found,
                "{}: {:?}",
                c.name,
                clips
                    .iter()
                    .map(|(l, k)| (*l, k.start_ms, k.end_ms))
                    .collect::<Vec<_>>()
            );
        }
        assert!(visible >= 8, "only {visible} visible beeps");
    }
}
