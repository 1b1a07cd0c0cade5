//! Per-frame signal analysis for the detector: VAD, beep detector, call-progress tones.
//!
//! All three run on the same 10 ms frames, always at 8 kHz: 16 kHz input (what Vonage and the
//! seed deliver) is first halved by [`tympan_audio::decimate::HalfRate`] (a half-band FIR: flat
//! to 3.4 kHz, ≥ 70 dB down from 4.6 kHz, 4.0–4.6 kHz partly folded into 3.4–4.0 kHz), which
//! the analysers need nothing above and which halves their work. The decimator is
//! [`HalfRate::aligned`]: it keeps the output phase that cancels its filter delay (1.9 ms), so
//! the analysers' clocks are the input's audio ms with no correction. (Not cancelling it puts
//! the delay's worth of silence before the call; a noisy call then starts with a jump in level
//! that the VAD takes for 70 ms of speech and the greeting rules for a "hello": noisy greetings
//! were called human.) Their outputs come with the times the audio core measured (VAD segment
//! edges exclude the hangover; tone events carry their start), so the detector can correct
//! speech flags it has not yet handed to the greeting rules.

use tympan_audio::beep::{BeepConfig, BeepDetector, BeepEvent};
use tympan_audio::decimate::HalfRate;
use tympan_audio::tones::{CallProgressConfig, CallProgressDetector, ToneEvent, ToneKind};
use tympan_audio::vad::{Vad, VadConfig, VadEvent, STEADY_LAG_HOPS, STEADY_WINDOW_HOPS};

use crate::config::AmdConfig;
use crate::events::Beep;

/// A change seen by the front end, with the audio time it applies from.
#[derive(Clone, Debug, PartialEq)]
pub enum Report {
    /// Speech from `at_ms` on.
    SpeechFrom { at_ms: u64 },
    /// No speech from `at_ms` on (the VAD's end of segment, hangover excluded).
    SilenceFrom { at_ms: u64 },
    /// A call-progress tone (ringback, dial tone, busy) occupied `[start_ms, end_ms)`.
    ProgressTone { start_ms: u64, end_ms: u64 },
    /// A complete beep.
    Beep(Beep),
    /// Fax calling (CNG) or answer (CED) tone.
    Fax { tone: &'static str },
    /// Special information tones (frequencies in order).
    Sit { tones: Vec<f32> },
    /// Music recognised (hold music, a music ringback tone), sounding since about `start_ms`.
    MusicFrom { start_ms: u64 },
    /// The music stopped at `end_ms`.
    MusicEnded { end_ms: u64 },
}

/// Rate the analysers run at, Hz.
pub const ANALYSIS_RATE: u32 = 8000;

/// The analysis chain for one call.
pub struct Frontend {
    /// Halves 16 kHz input to [`ANALYSIS_RATE`] (None when the input is at that rate).
    decimator: Option<HalfRate>,
    /// Reused buffer for the decimated frame.
    half: Vec<f32>,
    vad: Vad,
    beep: BeepDetector,
    progress: CallProgressDetector,
    /// Run the call-progress detector (only while deciding; it is the most expensive part).
    progress_on: bool,
    /// Whether the VAD reported music after the last frame.
    music: bool,
    /// Audio time after the last frame, ms.
    t_ms: f64,
    /// Duration of one input sample, ms.
    sample_ms: f64,
}

fn ms(x: f64) -> u64 {
    x.max(0.0).round() as u64
}

impl Frontend {
    /// Front end for a validated config.
    pub fn new(cfg: &AmdConfig) -> Self {
        let input_rate = cfg.sample_rate;
        let (decimator, rate) = if input_rate == 2 * ANALYSIS_RATE {
            (Some(HalfRate::aligned()), ANALYSIS_RATE)
        } else {
            (None, input_rate)
        };
        let vad = Vad::new(rate, VadConfig::default()).expect("validated rate");
        let beep_cfg = BeepConfig {
            min_freq_hz: cfg.beep_min_hz,
            max_freq_hz: cfg.beep_max_hz,
            min_duration_ms: cfg.beep_min_ms as f64,
            ..BeepConfig::default()
        };
        let beep = BeepDetector::new(rate, beep_cfg).expect("validated beep range");
        let progress =
            CallProgressDetector::new(rate, CallProgressConfig::default()).expect("validated rate");
        Frontend {
            decimator,
            half: Vec::new(),
            vad,
            beep,
            progress,
            progress_on: true,
            music: false,
            t_ms: 0.0,
            sample_ms: 1000.0 / input_rate as f64,
        }
    }

    /// An analyser's time as a time of the input stream (the same clock: see the module docs).
    fn at(&self, analysed_ms: f64) -> u64 {
        ms(analysed_ms)
    }

    fn beep_of(&self, e: &BeepEvent) -> Beep {
        Beep {
            start_ms: self.at(e.start_ms),
            end_ms: self.at(e.end_ms),
            frequency_hz: e.frequency_hz,
            level_db: e.level_db,
        }
    }

    fn progress_report(&self, e: &ToneEvent) -> Report {
        match e.kind {
            ToneKind::FaxCng => Report::Fax { tone: "cng" },
            ToneKind::FaxCed => Report::Fax { tone: "ced" },
            ToneKind::Sit => Report::Sit {
                tones: e.frequencies_hz.clone(),
            },
            ToneKind::DialTone | ToneKind::Ringback | ToneKind::Busy | ToneKind::Reorder => {
                Report::ProgressTone {
                    start_ms: self.at(e.start_ms),
                    end_ms: self.at(e.end_ms),
                }
            }
        }
    }

    /// Stop running the call-progress detector (after the decision).
    pub fn stop_progress(&mut self) {
        self.progress_on = false;
    }

    /// Analyse one frame (input rate), appending what changed to `out`. `watch_speech` false
    /// skips the VAD.
    pub fn push_frame(&mut self, frame: &[f32], watch_speech: bool, out: &mut Vec<Report>) {
        self.t_ms += frame.len() as f64 * self.sample_ms;
        let mut half = std::mem::take(&mut self.half);
        let frame = match &mut self.decimator {
            Some(d) => {
                half.clear();
                d.process(frame, &mut half);
                &half[..]
            }
            None => frame,
        };
        self.analyse(frame, watch_speech, out);
        self.half = half;
    }

    /// [`Frontend::push_frame`] on a frame at the analysis rate.
    fn analyse(&mut self, frame: &[f32], watch_speech: bool, out: &mut Vec<Report>) {
        if watch_speech {
            for e in self.vad.push(frame) {
                out.push(match e {
                    VadEvent::SpeechStart { at_ms } => Report::SpeechFrom {
                        at_ms: self.at(at_ms),
                    },
                    VadEvent::SpeechEnd { at_ms, .. } => Report::SilenceFrom {
                        at_ms: self.at(at_ms),
                    },
                });
            }
            let music = self.vad.in_music();
            if music != self.music {
                self.music = music;
                out.push(if music {
                    // the steady hops that made up the decision go back about one window
                    let back = (STEADY_WINDOW_HOPS + STEADY_LAG_HOPS) as f64 * 10.0;
                    Report::MusicFrom {
                        start_ms: ms(self.t_ms - back),
                    }
                } else {
                    Report::MusicEnded {
                        end_ms: ms(self.t_ms),
                    }
                });
            }
        }
        if self.progress_on {
            for e in self.progress.push(frame) {
                out.push(self.progress_report(&e));
            }
        }
        for e in self.beep.push(frame) {
            out.push(Report::Beep(self.beep_of(&e)));
        }
    }

    /// True while music is sounding (as far as the VAD can tell).
    pub fn music_on(&self) -> bool {
        self.music
    }

    /// True while the beep detector follows a tone that may still become a beep.
    pub fn beep_in_progress(&self) -> bool {
        self.beep.tone_since_ms().is_some()
    }

    /// End of stream: tones still sounding are closed.
    /// Call-progress tones go first, so a fax tone still sounding is a fax, not a beep.
    pub fn flush(&mut self, out: &mut Vec<Report>) {
        if self.progress_on {
            for e in self.progress.flush() {
                out.push(self.progress_report(&e));
            }
        }
        for e in self.beep.flush() {
            out.push(Report::Beep(self.beep_of(&e)));
        }
    }
}
