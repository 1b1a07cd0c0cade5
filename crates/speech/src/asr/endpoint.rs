//! Endpointing: where an answer starts and ends in the call audio, by the `audio` crate's VAD
//! (its [`tympan_audio::vad::Segmenter`] turns frame decisions into speech segments).
//!
//! Audio is cut into 10 ms frames internally and every rule is checked once per frame, so the
//! same audio gives the same events whatever the chunk sizes it arrives in:
//! - an utterance starts when the VAD confirms `min_speech_ms` of speech
//!   ([`EndpointEvent::SpeechStart`] at the first of those frames);
//! - it ends `end_silence_ms` after its last speech frame ([`EndpointEvent::Utterance`]: the
//!   audio from `preroll_ms` before the start to [`TAIL_MS`] after the last speech frame);
//! - it is cut once it has lasted `max_utterance_ms` (`truncated`);
//! - no confirmed speech within `no_input_timeout_ms` of audio is [`EndpointEvent::NoInput`].
//!
//! After an `Utterance` or `NoInput` the endpointer is done and ignores further audio.

use tympan_audio::vad::{Vad, VadConfig, VadEvent};

use super::{check_rate, AsrError};

/// Audio kept after the last speech frame of an utterance, ms (the decoder likes a little
/// trailing silence; capped by `end_silence_ms`).
pub const TAIL_MS: u32 = 150;
/// Internal frame, ms.
pub const FRAME_MS: u32 = 10;

/// Endpointing settings. Ranges are checked by [`Endpointer::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    /// No confirmed speech within this much audio ends the recognition with no input, ms
    /// (500–120000; default 5000).
    pub no_input_timeout_ms: u32,
    /// Silence that ends an utterance, ms (100–5000; default 800).
    pub end_silence_ms: u32,
    /// Longest utterance, ms (500–60000; default 10000).
    pub max_utterance_ms: u32,
    /// Speech needed to start an utterance, ms (10–1000; default 100).
    pub min_speech_ms: u32,
    /// Audio kept before the detected start, ms (0–1000; default 300).
    pub preroll_ms: u32,
    /// VAD aggressiveness 0–3 (default 2; see `tympan_audio::vad`).
    pub vad_mode: u8,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            no_input_timeout_ms: 5000,
            end_silence_ms: 800,
            max_utterance_ms: 10_000,
            min_speech_ms: 100,
            preroll_ms: 300,
            vad_mode: 2,
        }
    }
}

impl EndpointConfig {
    /// Checks every field against its range.
    pub fn validate(&self) -> Result<(), AsrError> {
        let check = |name: &'static str, v: u32, lo: u32, hi: u32| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(AsrError::InvalidSetting {
                    name,
                    why: format!("{v} is outside {lo}..={hi}"),
                })
            }
        };
        check(
            "no_input_timeout_ms",
            self.no_input_timeout_ms,
            500,
            120_000,
        )?;
        check("end_silence_ms", self.end_silence_ms, 100, 5000)?;
        check("max_utterance_ms", self.max_utterance_ms, 500, 60_000)?;
        check("min_speech_ms", self.min_speech_ms, 10, 1000)?;
        check("preroll_ms", self.preroll_ms, 0, 1000)?;
        check("vad_mode", self.vad_mode as u32, 0, 3)?;
        Ok(())
    }
}

/// An utterance cut out of the call audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    /// The audio at the input rate (pre-roll, speech, tail).
    pub samples: Vec<i16>,
    /// Input rate, Hz.
    pub sample_rate: u32,
    /// Speech start, ms of audio.
    pub start_ms: f64,
    /// End of the last speech frame (or the cut), ms of audio.
    pub end_ms: f64,
    /// Cut at `max_utterance_ms`.
    pub truncated: bool,
}

/// What the endpointer found.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointEvent {
    /// Confirmed speech started at this time, ms.
    SpeechStart {
        /// ms of audio.
        at_ms: f64,
    },
    /// A complete utterance.
    Utterance(Utterance),
    /// No speech before the timeout, decided at this time, ms.
    NoInput {
        /// ms of audio.
        at_ms: f64,
    },
}

/// The streaming endpointer; see the module docs.
pub struct Endpointer {
    cfg: EndpointConfig,
    rate: u32,
    frame: usize,
    vad: Vad,
    /// Samples not yet making up a whole frame.
    pending: Vec<i16>,
    /// Recent audio; `history[0]` is absolute sample `hist_start`.
    history: Vec<i16>,
    hist_start: u64,
    /// Whole frames processed, in samples.
    total: u64,
    /// Speech start (absolute sample) of the open utterance.
    start: Option<u64>,
    done: bool,
    scratch: Vec<f32>,
}

impl std::fmt::Debug for Endpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpointer")
            .field("cfg", &self.cfg)
            .field("rate", &self.rate)
            .field("total", &self.total)
            .field("start", &self.start)
            .field("done", &self.done)
            .finish()
    }
}

impl Endpointer {
    /// An endpointer for audio at `sample_rate` (8000 or 16000).
    pub fn new(sample_rate: u32, cfg: EndpointConfig) -> Result<Self, AsrError> {
        check_rate(sample_rate)?;
        cfg.validate()?;
        let vad = Vad::new(
            sample_rate,
            VadConfig {
                frame_ms: FRAME_MS,
                mode: cfg.vad_mode,
                hangover_ms: cfg.end_silence_ms as f64,
                min_speech_ms: cfg.min_speech_ms as f64,
                reject_tones: true,
            },
        )?;
        Ok(Endpointer {
            frame: (sample_rate * FRAME_MS / 1000) as usize,
            rate: sample_rate,
            cfg,
            vad,
            pending: Vec::new(),
            history: Vec::new(),
            hist_start: 0,
            total: 0,
            start: None,
            done: false,
            scratch: Vec::new(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &EndpointConfig {
        &self.cfg
    }

    /// The input rate, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Whether an utterance or no-input has been reported.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Whether an utterance is open (speech confirmed, not yet ended).
    pub fn in_speech(&self) -> bool {
        self.start.is_some()
    }

    /// Audio processed so far (whole frames), ms.
    pub fn elapsed_ms(&self) -> f64 {
        self.ms(self.total)
    }

    fn ms(&self, samples: u64) -> f64 {
        samples as f64 * 1000.0 / self.rate as f64
    }

    fn samples(&self, ms: u32) -> u64 {
        ms as u64 * self.rate as u64 / 1000
    }

    /// Pushes audio; returns the events it completed, in order.
    pub fn push(&mut self, samples: &[i16]) -> Vec<EndpointEvent> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        let mut rest = samples;
        while !rest.is_empty() && !self.done {
            let need = self.frame - self.pending.len();
            let take = need.min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == self.frame {
                let frame = std::mem::take(&mut self.pending);
                self.frame_in(&frame, &mut out);
                self.pending = frame;
                self.pending.clear();
            }
        }
        out
    }

    /// End of input: the open utterance up to the last whole frame (marked as ended where the
    /// audio ends), or no input.
    pub fn finish(&mut self) -> Vec<EndpointEvent> {
        if self.done {
            return Vec::new();
        }
        self.done = true;
        match self.start {
            Some(start) => {
                let end = self.total;
                vec![EndpointEvent::Utterance(self.cut(start, end, end, false))]
            }
            None => vec![EndpointEvent::NoInput {
                at_ms: self.elapsed_ms(),
            }],
        }
    }

    fn frame_in(&mut self, frame: &[i16], out: &mut Vec<EndpointEvent>) {
        self.history.extend_from_slice(frame);
        self.total += frame.len() as u64;
        self.scratch.clear();
        self.scratch
            .extend(frame.iter().map(|&s| tympan_audio::pcm::i16_to_f32(s)));
        let events = self.vad.push(&self.scratch);
        for ev in events {
            match ev {
                VadEvent::SpeechStart { at_ms } => {
                    if self.start.is_none() {
                        let at = (at_ms * self.rate as f64 / 1000.0).round() as u64;
                        self.start = Some(at);
                        out.push(EndpointEvent::SpeechStart { at_ms });
                    }
                }
                VadEvent::SpeechEnd { start_ms: _, at_ms } => {
                    if let Some(start) = self.start {
                        let end = (at_ms * self.rate as f64 / 1000.0).round() as u64;
                        let tail = self.samples(TAIL_MS.min(self.cfg.end_silence_ms));
                        let stop = (end + tail).min(self.total);
                        self.done = true;
                        out.push(EndpointEvent::Utterance(self.cut(start, end, stop, false)));
                        return;
                    }
                }
            }
        }
        match self.start {
            Some(start) => {
                if self.total - start >= self.samples(self.cfg.max_utterance_ms) {
                    self.done = true;
                    let end = self.total;
                    out.push(EndpointEvent::Utterance(self.cut(start, end, end, true)));
                }
            }
            None => {
                if self.total >= self.samples(self.cfg.no_input_timeout_ms) {
                    self.done = true;
                    out.push(EndpointEvent::NoInput {
                        at_ms: self.elapsed_ms(),
                    });
                    return;
                }
                // Keep only what a start could need: pre-roll plus the onset and a margin.
                let keep = self.samples(self.cfg.preroll_ms + self.cfg.min_speech_ms + 100);
                if self.history.len() as u64 > 2 * keep + self.frame as u64 {
                    let drop = self.history.len() - keep as usize;
                    self.history.drain(..drop);
                    self.hist_start += drop as u64;
                }
            }
        }
    }

    /// The audio from `preroll_ms` before `start` to `stop` (absolute samples).
    fn cut(&self, start: u64, end: u64, stop: u64, truncated: bool) -> Utterance {
        let from = start
            .saturating_sub(self.samples(self.cfg.preroll_ms))
            .max(self.hist_start);
        let a = (from - self.hist_start) as usize;
        let b = ((stop.max(from)) - self.hist_start) as usize;
        Utterance {
            samples: self.history[a..b.min(self.history.len())].to_vec(),
            sample_rate: self.rate,
            start_ms: self.ms(start),
            end_ms: self.ms(end),
            truncated,
        }
    }
}
