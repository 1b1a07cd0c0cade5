//! Human-or-machine rules over the speech/silence pattern of the greeting.
//!
//! Input is a sequence of frames, each known to be speech or not (tones already masked out by
//! the caller). Two rule sets, chosen by [`Strategy`]:
//! - `Twilio`: one "utterance" runs from the first speech frame until `speech_end_threshold_ms`
//!   of silence. If it reaches `speech_threshold_ms` the greeting is a machine; if it ends
//!   before, the answer is a human. No speech for `silence_timeout_ms` gives no decision.
//! - `AppAmd`: Asterisk's word counting: words are voiced runs of at least `min_word_length_ms`
//!   separated by at least `between_words_silence_ms`; `max_words` words, a word longer than
//!   `max_word_length_ms`, or voice for longer than `greeting_ms` make a machine; silence of
//!   `after_greeting_silence_ms` after voice makes a human; `initial_silence_ms` without voice
//!   makes a machine; `total_analysis_time_ms` without a decision is NOTSURE.

use crate::config::{AmdConfig, Strategy};
use crate::events::{AsteriskStatus, MachineReason};

/// What the greeting rules concluded.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Human {
        cause: String,
    },
    Machine {
        reason: MachineReason,
        cause: String,
    },
    /// No speech within the silence timeout (Twilio: unknown).
    NoSpeech {
        cause: String,
    },
    /// The rules ran out of analysis time (app_amd NOTSURE).
    NotSure {
        cause: String,
    },
}

impl Verdict {
    /// Asterisk status for this verdict.
    pub fn asterisk_status(&self) -> AsteriskStatus {
        match self {
            Verdict::Human { .. } => AsteriskStatus::Human,
            Verdict::Machine { .. } => AsteriskStatus::Machine,
            // app_amd treats initial silence as a machine.
            Verdict::NoSpeech { .. } => AsteriskStatus::Machine,
            Verdict::NotSure { .. } => AsteriskStatus::Notsure,
        }
    }

    /// app_amd-style cause string.
    pub fn cause(&self) -> &str {
        match self {
            Verdict::Human { cause }
            | Verdict::Machine { cause, .. }
            | Verdict::NoSpeech { cause }
            | Verdict::NotSure { cause } => cause,
        }
    }
}

/// Greeting rule state. Feed frames in time order with [`GreetingRules::step`].
#[derive(Clone, Debug)]
pub struct GreetingRules {
    cfg: AmdConfig,
    // Twilio state
    utter_start: Option<u64>,
    /// Where the initial-silence clock starts: 0, or the end of the last call-progress tone
    /// heard before any speech (ringback or a dial tone is not the callee being silent).
    silence_origin: u64,
    last_speech_end: u64,
    // app_amd state
    voice_run_ms: u64,
    silence_run_ms: u64,
    total_voice_ms: u64,
    in_word: bool,
    words: u32,
    heard_voice: bool,
    /// Start of the first speech frame (either strategy).
    first_voice: Option<u64>,
}

impl GreetingRules {
    /// New rule state for a call.
    pub fn new(cfg: &AmdConfig) -> Self {
        GreetingRules {
            cfg: cfg.clone(),
            utter_start: None,
            silence_origin: 0,
            last_speech_end: 0,
            voice_run_ms: 0,
            silence_run_ms: 0,
            total_voice_ms: 0,
            in_word: false,
            words: 0,
            heard_voice: false,
            first_voice: None,
        }
    }

    /// Music (hold music, a music ringback tone) was recognised, sounding since about
    /// `start_ms`. Its first moments may have passed for speech before the VAD knew better:
    /// if all voice so far began after `start_ms − 100`, it was the music, and the rules start
    /// over (the caller restarts the silence clock when the music ends, as for a tone).
    pub fn music_started(&mut self, start_ms: u64) {
        let from = start_ms.saturating_sub(100);
        let all_after = match self.first_voice {
            None => true,
            Some(v) => v >= from,
        };
        if all_after {
            *self = GreetingRules::new(&self.cfg);
            self.silence_origin = start_ms;
        }
    }

    /// A call-progress tone (ringback, dial tone, busy) ended at `end_ms`: before any speech,
    /// the initial-silence clocks restart there.
    pub fn progress_tone_ended(&mut self, end_ms: u64) {
        if self.utter_start.is_none() && !self.heard_voice {
            self.silence_origin = self.silence_origin.max(end_ms);
            self.silence_run_ms = 0;
        }
    }

    /// One frame `[t0, t0 + dur)` that is speech or not. Returns a verdict once.
    pub fn step(&mut self, t0: u64, dur: u64, speech: bool) -> Option<Verdict> {
        if speech {
            self.first_voice.get_or_insert(t0);
        }
        match self.cfg.strategy {
            Strategy::Twilio => self.step_twilio(t0, dur, speech),
            Strategy::AppAmd => self.step_app_amd(t0, dur, speech),
        }
    }

    fn step_twilio(&mut self, t0: u64, dur: u64, speech: bool) -> Option<Verdict> {
        let t1 = t0 + dur;
        let c = &self.cfg;
        if speech {
            let start = *self.utter_start.get_or_insert(t0);
            self.last_speech_end = t1;
            let len = t1 - start;
            if len >= c.speech_threshold_ms as u64 {
                return Some(Verdict::Machine {
                    reason: MachineReason::LongGreeting,
                    cause: format!("LONGGREETING-{len}-{}", c.speech_threshold_ms),
                });
            }
        } else if let Some(start) = self.utter_start {
            let silence = t1 - self.last_speech_end;
            if silence >= c.speech_end_threshold_ms as u64 {
                return Some(Verdict::Human {
                    cause: format!("HUMAN-{}-{silence}", self.last_speech_end - start),
                });
            }
        } else if t1 >= self.silence_origin + c.silence_timeout_ms as u64 {
            return Some(Verdict::NoSpeech {
                cause: format!(
                    "INITIALSILENCE-{}-{}",
                    t1 - self.silence_origin,
                    c.silence_timeout_ms
                ),
            });
        }
        None
    }

    fn step_app_amd(&mut self, t0: u64, dur: u64, speech: bool) -> Option<Verdict> {
        let t1 = t0 + dur;
        let c = &self.cfg;
        if t1 >= c.total_analysis_time_ms as u64 {
            return Some(Verdict::NotSure {
                cause: format!("TOOLONG-{t1}"),
            });
        }
        if speech {
            self.silence_run_ms = 0;
            self.voice_run_ms += dur;
            self.total_voice_ms += dur;
            if self.voice_run_ms >= c.min_word_length_ms as u64 && !self.in_word {
                self.in_word = true;
                self.heard_voice = true;
                self.words += 1;
                if self.words >= c.max_words {
                    return Some(Verdict::Machine {
                        reason: MachineReason::MaxWords,
                        cause: format!("MAXWORDS-{}-{}", self.words, c.max_words),
                    });
                }
            }
            if self.voice_run_ms >= c.max_word_length_ms as u64 {
                return Some(Verdict::Machine {
                    reason: MachineReason::MaxWordLength,
                    cause: format!(
                        "MAXWORDLENGTH-{}-{}",
                        self.voice_run_ms, c.max_word_length_ms
                    ),
                });
            }
            if self.total_voice_ms >= c.greeting_ms as u64 {
                return Some(Verdict::Machine {
                    reason: MachineReason::LongGreeting,
                    cause: format!("LONGGREETING-{}-{}", self.total_voice_ms, c.greeting_ms),
                });
            }
        } else {
            self.silence_run_ms += dur;
            if self.silence_run_ms >= c.between_words_silence_ms as u64 {
                self.in_word = false;
                self.voice_run_ms = 0;
            }
            if !self.heard_voice && self.silence_run_ms >= c.initial_silence_ms as u64 {
                return Some(Verdict::Machine {
                    reason: MachineReason::InitialSilence,
                    cause: format!(
                        "INITIALSILENCE-{}-{}",
                        self.silence_run_ms, c.initial_silence_ms
                    ),
                });
            }
            if self.heard_voice && self.silence_run_ms >= c.after_greeting_silence_ms as u64 {
                return Some(Verdict::Human {
                    cause: format!("HUMAN-{}-{}", self.total_voice_ms, self.silence_run_ms),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run a pattern of (speech?, ms) runs in 10 ms frames; return (verdict, at_ms).
    fn run(cfg: &AmdConfig, pattern: &[(bool, u64)]) -> Option<(Verdict, u64)> {
        let mut r = GreetingRules::new(cfg);
        let mut t = 0;
        for &(speech, ms) in pattern {
            for _ in 0..ms / 10 {
                if let Some(v) = r.step(t, 10, speech) {
                    return Some((v, t + 10));
                }
                t += 10;
            }
        }
        None
    }

    #[test]
    fn twilio_short_hello_then_silence_is_human_after_speech_end_threshold() {
        let cfg = AmdConfig::default();
        let (v, at) = run(&cfg, &[(false, 600), (true, 700), (false, 3000)]).unwrap();
        assert!(matches!(v, Verdict::Human { .. }), "{v:?}");
        assert_eq!(at, 600 + 700 + 1200);
        assert_eq!(v.cause(), "HUMAN-700-1200");
    }

    #[test]
    fn twilio_long_greeting_with_short_pauses_is_machine_at_threshold() {
        let cfg = AmdConfig::default();
        let mut p = vec![(false, 500)];
        for _ in 0..10 {
            p.push((true, 600));
            p.push((false, 300));
        }
        let (v, at) = run(&cfg, &p).unwrap();
        assert!(
            matches!(
                v,
                Verdict::Machine {
                    reason: MachineReason::LongGreeting,
                    ..
                }
            ),
            "{v:?}"
        );
        assert_eq!(at, 500 + 2400);
    }

    #[test]
    fn twilio_two_hellos_with_a_pause_under_end_threshold_stay_one_utterance() {
        let cfg = AmdConfig::default();
        // "Hello?" 500 ms, 1000 ms pause, "Hello?" 500 ms, silence -> human, utterance 2000 ms.
        let (v, at) = run(
            &cfg,
            &[(true, 500), (false, 1000), (true, 500), (false, 2000)],
        )
        .unwrap();
        assert_eq!(v.cause(), "HUMAN-2000-1200");
        assert_eq!(at, 2000 + 1200);
    }

    #[test]
    fn twilio_silence_only_is_no_speech_at_timeout() {
        let cfg = AmdConfig::default();
        let (v, at) = run(&cfg, &[(false, 10_000)]).unwrap();
        assert!(matches!(v, Verdict::NoSpeech { .. }));
        assert_eq!(at, 5000);
        assert_eq!(v.asterisk_status(), AsteriskStatus::Machine);
    }

    #[test]
    fn app_amd_counts_words_and_reports_maxwords() {
        let cfg = AmdConfig {
            strategy: Strategy::AppAmd,
            ..AmdConfig::default()
        };
        // Two 300 ms words separated by 200 ms: second word reaches max_words = 2.
        let (v, at) = run(
            &cfg,
            &[(false, 300), (true, 300), (false, 200), (true, 300)],
        )
        .unwrap();
        assert_eq!(v.cause(), "MAXWORDS-2-2");
        assert_eq!(at, 300 + 300 + 200 + 100);
    }

    #[test]
    fn app_amd_single_word_then_silence_is_human() {
        let cfg = AmdConfig {
            strategy: Strategy::AppAmd,
            ..AmdConfig::default()
        };
        let (v, at) = run(&cfg, &[(false, 300), (true, 400), (false, 2000)]).unwrap();
        assert_eq!(v.cause(), "HUMAN-400-800");
        assert_eq!(at, 300 + 400 + 800);
    }

    #[test]
    fn app_amd_initial_silence_and_long_word() {
        let cfg = AmdConfig {
            strategy: Strategy::AppAmd,
            ..AmdConfig::default()
        };
        let (v, _) = run(&cfg, &[(false, 4000)]).unwrap();
        assert_eq!(v.cause(), "INITIALSILENCE-2500-2500");
        let cfg2 = AmdConfig {
            max_words: 10,
            greeting_ms: 9000,
            total_analysis_time_ms: 8000,
            ..cfg
        };
        let (v, at) = run(&cfg2, &[(true, 6000)]).unwrap();
        assert_eq!(v.cause(), "MAXWORDLENGTH-5000-5000");
        assert_eq!(at, 5000);
    }

    #[test]
    fn app_amd_gives_up_after_total_analysis_time() {
        let cfg = AmdConfig {
            strategy: Strategy::AppAmd,
            initial_silence_ms: 9000,
            ..AmdConfig::default()
        };
        let (v, at) = run(&cfg, &[(false, 8000)]).unwrap();
        assert_eq!(
            v,
            Verdict::NotSure {
                cause: "TOOLONG-5000".into()
            }
        );
        assert_eq!(at, 5000);
    }
}
