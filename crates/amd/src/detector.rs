//! The streaming detector: frames in, events out.
//!
//! Audio is cut into 10 ms frames. Each frame goes through the front end (VAD, beep detector,
//! call-progress tones; see `frontend.rs`), whose per-frame speech flags pass through a short
//! delay line so that a tone recognised a little late (ringback, a long beep) can still be
//! taken out of the speech pattern before the greeting rules see it. Beeps, fax and SIT tones
//! are reported as soon as the front end knows them.

use std::collections::VecDeque;

use crate::advisor::Advisor;
use crate::config::{AmdConfig, ConfigError, Mode};
use crate::events::{AmdEvent, AmdResult, AnsweredBy, AsteriskStatus, Beep, MachineReason};
use crate::frontend::{Frontend, Report};
use crate::greeting::{GreetingRules, Verdict};

/// Frame length fed to the front end and the rules.
pub const FRAME_MS: u64 = 10;
/// How long speech flags wait for a late tone verdict before the greeting rules see them.
pub const MASK_DELAY_MS: u64 = 200;

#[derive(Clone, Copy, Debug, PartialEq)]
struct PendingFrame {
    t0: u64,
    speech: bool,
    tone: bool,
}

#[derive(Clone, Debug, PartialEq)]
enum Phase {
    /// Listening to the greeting.
    Deciding,
    /// A machine, in `detect_message_end` mode: waiting for the beep or the end of the greeting.
    AwaitingEnd {
        reason: MachineReason,
        cause: String,
        decided_ms: u64,
    },
    /// The result is out; only the beep watch may still run.
    Done,
}

/// Streaming answering-machine detector for one call. See the crate docs.
pub struct AmdDetector {
    cfg: AmdConfig,
    frame_len: usize,
    pending: Vec<f32>,
    /// Audio time at the start of the next frame.
    t: u64,
    frontend: Frontend,
    rules: GreetingRules,
    delay: VecDeque<PendingFrame>,
    in_speech: bool,
    last_speech_end: Option<u64>,
    stopped_speaking_sent: bool,
    phase: Phase,
    result: Option<AmdResult>,
    events: VecDeque<AmdEvent>,
    first_now: Option<u64>,
    finished: bool,
    /// The beep that ends a `machine_end_beep` result, attached by `set_result`.
    beep_for_result: Option<Beep>,
    /// The VAD's current state (frames queued from now on start with it).
    vad_speech: bool,
    /// Reused buffer for front-end reports.
    reports: Vec<Report>,
    /// Optional learned second opinion (advice events only).
    advisor: Option<Advisor>,
}

impl AmdDetector {
    /// A detector for one call; the config is checked first (the error names the field).
    pub fn new(cfg: AmdConfig) -> Result<Self, ConfigError> {
        cfg.validate()?;
        let frame_len = (cfg.sample_rate as u64 * FRAME_MS / 1000) as usize;
        Ok(AmdDetector {
            frame_len,
            pending: Vec::with_capacity(frame_len),
            t: 0,
            frontend: Frontend::new(&cfg),
            rules: GreetingRules::new(&cfg),
            delay: VecDeque::new(),
            in_speech: false,
            last_speech_end: None,
            stopped_speaking_sent: false,
            phase: Phase::Deciding,
            result: None,
            events: VecDeque::new(),
            first_now: None,
            finished: false,
            beep_for_result: None,
            vad_speech: false,
            reports: Vec::new(),
            advisor: None,
            cfg,
        })
    }

    /// Adds the learned second opinion: from now on every VAD clip is classified and reported
    /// as an [`AmdEvent::Clip`]. The advisor must be built for the configured sample rate.
    pub fn set_advisor(&mut self, advisor: Advisor) {
        self.advisor = Some(advisor);
    }

    /// The configuration in force.
    pub fn config(&self) -> &AmdConfig {
        &self.cfg
    }

    /// Push mono PCM at the configured rate (floats in [-1, 1]), any number of samples.
    /// `now_ms` is the caller's clock when the samples arrived; it only drives
    /// [`AmdDetector::poll_timeout`] — event times come from the audio itself.
    pub fn push(&mut self, samples: &[f32], now_ms: u64) {
        self.first_now.get_or_insert(now_ms);
        if self.finished {
            return;
        }
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (self.frame_len - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == self.frame_len {
                let frame = std::mem::take(&mut self.pending);
                self.process_frame(&frame);
                // The advisor sees the same whole frames, right after the detector: its clip
                // events are stamped and ordered by audio time, whatever the chunking.
                if let Some(a) = &mut self.advisor {
                    a.push(&frame);
                    self.drain_advice();
                }
                self.pending = frame;
                self.pending.clear();
            }
        }
    }

    /// Clip events of the advisor, each stamped with the audio time its clip was cut.
    fn drain_advice(&mut self) {
        if let Some(a) = &mut self.advisor {
            self.events.extend(
                a.take_timed()
                    .into_iter()
                    .map(|(at_ms, clip)| AmdEvent::Clip { at_ms, clip }),
            );
        }
    }

    /// Push 16-bit PCM.
    pub fn push_i16(&mut self, samples: &[i16], now_ms: u64) {
        let f: Vec<f32> = samples.iter().map(|&s| s as f32 / 32768.0).collect();
        self.push(&f, now_ms);
    }

    /// Next event, oldest first.
    pub fn poll_event(&mut self) -> Option<AmdEvent> {
        self.events.pop_front()
    }

    /// The final result, once known.
    pub fn result(&self) -> Option<&AmdResult> {
        self.result.as_ref()
    }

    /// Audio analysed so far, in ms.
    pub fn audio_ms(&self) -> u64 {
        self.t
    }

    /// True while pushing more audio can still produce events.
    pub fn wants_audio(&self) -> bool {
        !self.finished && (self.result.is_none() || self.beep_watch_active())
    }

    /// The caller's clock time by which [`AmdDetector::handle_timeout`] should be called if
    /// audio stops arriving (the decision timeout, measured from the first push).
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.result.is_some() || self.finished {
            return None;
        }
        self.first_now.map(|n| n + self.cfg.timeout_ms as u64)
    }

    /// Called at or after [`AmdDetector::poll_timeout`]: if audio stalled, give the timeout result.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if let Some(deadline) = self.poll_timeout() {
            if now_ms >= deadline {
                self.timeout_result(self.t);
            }
        }
    }

    /// The stream ended (hang-up or end of file). Undecided calls get their result now.
    pub fn finish(&mut self, _now_ms: u64) {
        if self.finished {
            return;
        }
        if let Some(a) = &mut self.advisor {
            a.finish();
            self.drain_advice();
        }
        // Tones still sounding, then the frames still queued.
        let mut reports = std::mem::take(&mut self.reports);
        self.frontend.flush(&mut reports);
        let t = self.t;
        for r in reports.drain(..) {
            self.on_report(r, t);
        }
        while let Some(f) = self.delay.pop_front() {
            if self.result.is_some() {
                break;
            }
            self.apply_frame(f);
        }
        if self.in_speech {
            self.in_speech = false;
            self.events.push_back(AmdEvent::SpeechEnd { at_ms: t });
        }
        match self.phase.clone() {
            Phase::Deciding => {
                let cause = format!("HANGUP-{t}");
                self.set_result(
                    AnsweredBy::Unknown,
                    t,
                    t,
                    None,
                    AsteriskStatus::Hangup,
                    cause,
                );
            }
            Phase::AwaitingEnd {
                reason,
                cause,
                decided_ms,
            } => {
                self.set_result(
                    AnsweredBy::MachineEndOther,
                    t,
                    decided_ms,
                    Some(reason),
                    AsteriskStatus::Machine,
                    cause,
                );
            }
            Phase::Done => {}
        }
        self.finished = true;
    }

    fn beep_watch_active(&self) -> bool {
        self.t < self.cfg.beep_timeout_ms as u64
    }

    fn process_frame(&mut self, frame: &[f32]) {
        let t0 = self.t;
        self.t += FRAME_MS;
        let t1 = self.t;
        let deciding = self.result.is_none();
        if !deciding && !self.beep_watch_active() {
            return;
        }
        if deciding {
            self.delay.push_back(PendingFrame {
                t0,
                speech: self.vad_speech,
                tone: false,
            });
        }
        let mut reports = std::mem::take(&mut self.reports);
        self.frontend.push_frame(frame, deciding, &mut reports);
        for r in reports.drain(..) {
            self.on_report(r, t1);
        }
        self.reports = reports;
        if self.result.is_none() {
            while let Some(f) = self.delay.front().copied() {
                if f.t0 + MASK_DELAY_MS > t0 {
                    break;
                }
                self.delay.pop_front();
                self.apply_frame(f);
                if self.result.is_some() {
                    break;
                }
            }
        }
        if self.result.is_none() && t1 >= self.cfg.timeout_ms as u64 {
            self.timeout_result(t1);
        }
    }

    /// Set the speech or tone flag of queued frames in `[from, to)`.
    fn mark(&mut self, from: u64, to: u64, speech: Option<bool>, tone: bool) {
        for f in self.delay.iter_mut() {
            if f.t0 + FRAME_MS > from && f.t0 < to {
                if let Some(s) = speech {
                    f.speech = s;
                }
                f.tone |= tone;
            }
        }
    }

    fn on_report(&mut self, report: Report, now: u64) {
        match report {
            Report::SpeechFrom { at_ms } => {
                self.vad_speech = true;
                self.mark(at_ms, u64::MAX, Some(true), false);
            }
            Report::SilenceFrom { at_ms } => {
                self.vad_speech = false;
                self.mark(at_ms, u64::MAX, Some(false), false);
            }
            Report::ProgressTone { start_ms, end_ms } => {
                self.mark(start_ms, end_ms, None, true);
                self.rules.progress_tone_ended(end_ms);
            }
            Report::MusicFrom { start_ms } => {
                self.mark(start_ms, u64::MAX, None, true);
                if self.phase == Phase::Deciding {
                    self.rules.music_started(start_ms);
                }
            }
            Report::MusicEnded { end_ms } => {
                self.rules.progress_tone_ended(end_ms);
            }
            Report::Beep(beep) => {
                self.mark(beep.start_ms, beep.end_ms, None, true);
                if !self.beep_watch_active() && self.result.is_some() {
                    return;
                }
                self.events.push_back(AmdEvent::Beep { at_ms: now, beep });
                match self.phase.clone() {
                    Phase::Deciding => {
                        self.events.push_back(AmdEvent::Machine {
                            at_ms: now,
                            reason: MachineReason::Beep,
                        });
                        let cause = format!("BEEP-{:.0}", beep.frequency_hz);
                        self.finish_machine_with_beep(now, now, MachineReason::Beep, cause, beep);
                    }
                    Phase::AwaitingEnd {
                        reason,
                        cause,
                        decided_ms,
                    } => {
                        self.finish_machine_with_beep(now, decided_ms, reason, cause, beep);
                    }
                    Phase::Done => {
                        if let Some(r) = self.result.as_mut() {
                            if r.beep.is_none() {
                                r.beep = Some(beep);
                            }
                        }
                    }
                }
            }
            Report::Fax { tone } => {
                if self.phase == Phase::Deciding {
                    self.events.push_back(AmdEvent::Fax {
                        at_ms: now,
                        tone: tone.to_string(),
                    });
                    self.set_result(
                        AnsweredBy::Fax,
                        now,
                        now,
                        None,
                        AsteriskStatus::Machine,
                        format!("FAX-{}", tone.to_uppercase()),
                    );
                }
            }
            Report::Sit { tones } => {
                if self.phase == Phase::Deciding {
                    let names: Vec<String> = tones.iter().map(|f| format!("{f:.0}")).collect();
                    self.events.push_back(AmdEvent::Sit { at_ms: now, tones });
                    self.set_result(
                        AnsweredBy::Unknown,
                        now,
                        now,
                        None,
                        AsteriskStatus::Notsure,
                        format!("SIT-{}", names.join("-")),
                    );
                }
            }
        }
    }

    fn finish_machine_with_beep(
        &mut self,
        now: u64,
        decided_ms: u64,
        reason: MachineReason,
        cause: String,
        beep: Beep,
    ) {
        self.beep_for_result = Some(beep);
        self.set_result(
            AnsweredBy::MachineEndBeep,
            now,
            decided_ms,
            Some(reason),
            AsteriskStatus::Machine,
            cause,
        );
    }

    /// A frame leaving the delay line: speech bookkeeping and the greeting rules.
    fn apply_frame(&mut self, f: PendingFrame) {
        let speech = f.speech && !f.tone;
        let t1 = f.t0 + FRAME_MS;
        if speech && !self.in_speech {
            self.in_speech = true;
            self.stopped_speaking_sent = false;
            self.events.push_back(AmdEvent::SpeechStart { at_ms: f.t0 });
        } else if !speech && self.in_speech {
            self.in_speech = false;
            self.events.push_back(AmdEvent::SpeechEnd { at_ms: f.t0 });
        }
        if speech {
            self.last_speech_end = Some(t1);
        }
        match self.phase.clone() {
            Phase::Deciding => {
                if let Some(v) = self.rules.step(f.t0, FRAME_MS, speech) {
                    // Silence-based verdicts wait while a possible beep or music is sounding:
                    // the rules give them again on the next frame, and a beep overrides them.
                    let silence_based =
                        matches!(v, Verdict::Human { .. } | Verdict::NoSpeech { .. });
                    let hold = self.frontend.beep_in_progress() || self.frontend.music_on();
                    if !(silence_based && hold) {
                        self.on_verdict(v, t1);
                    }
                }
            }
            Phase::AwaitingEnd {
                reason,
                cause,
                decided_ms,
            } => {
                if speech {
                    return;
                }
                let silence = t1 - self.last_speech_end.unwrap_or(decided_ms);
                if !self.stopped_speaking_sent && silence >= self.cfg.speech_end_threshold_ms as u64
                {
                    self.stopped_speaking_sent = true;
                    self.events
                        .push_back(AmdEvent::MachineStoppedSpeaking { at_ms: t1 });
                }
                let wait = self
                    .cfg
                    .greeting_completion_ms
                    .max(self.cfg.speech_end_threshold_ms);
                if silence >= wait as u64 && !self.frontend.beep_in_progress() {
                    self.set_result(
                        AnsweredBy::MachineEndSilence,
                        t1,
                        decided_ms,
                        Some(reason),
                        AsteriskStatus::Machine,
                        cause,
                    );
                }
            }
            Phase::Done => {}
        }
    }

    fn on_verdict(&mut self, v: Verdict, at: u64) {
        let status = v.asterisk_status();
        match v {
            Verdict::Human { cause } => {
                self.events.push_back(AmdEvent::Human { at_ms: at });
                self.set_result(AnsweredBy::Human, at, at, None, status, cause);
            }
            Verdict::Machine { reason, cause } => {
                self.events
                    .push_back(AmdEvent::Machine { at_ms: at, reason });
                match self.cfg.mode {
                    Mode::Enable => {
                        self.set_result(
                            AnsweredBy::MachineStart,
                            at,
                            at,
                            Some(reason),
                            status,
                            cause,
                        );
                    }
                    Mode::DetectMessageEnd => {
                        self.phase = Phase::AwaitingEnd {
                            reason,
                            cause,
                            decided_ms: at,
                        };
                    }
                }
            }
            Verdict::NoSpeech { cause } => {
                self.events.push_back(AmdEvent::NoSpeech { at_ms: at });
                self.set_result(AnsweredBy::Unknown, at, at, None, status, cause);
            }
            Verdict::NotSure { cause } => {
                self.events
                    .push_back(AmdEvent::DecisionTimeout { at_ms: at });
                self.set_result(AnsweredBy::Unknown, at, at, None, status, cause);
            }
        }
    }

    fn timeout_result(&mut self, at: u64) {
        match self.phase.clone() {
            Phase::Deciding => {
                self.events
                    .push_back(AmdEvent::DecisionTimeout { at_ms: at });
                self.set_result(
                    AnsweredBy::Unknown,
                    at,
                    at,
                    None,
                    AsteriskStatus::Notsure,
                    format!("TOOLONG-{at}"),
                );
            }
            Phase::AwaitingEnd {
                reason,
                cause,
                decided_ms,
            } => {
                self.events
                    .push_back(AmdEvent::DecisionTimeout { at_ms: at });
                self.set_result(
                    AnsweredBy::MachineEndOther,
                    at,
                    decided_ms,
                    Some(reason),
                    AsteriskStatus::Machine,
                    cause,
                );
            }
            Phase::Done => {}
        }
    }

    fn set_result(
        &mut self,
        answered_by: AnsweredBy,
        at: u64,
        first_decision_ms: u64,
        machine_reason: Option<MachineReason>,
        amd_status: AsteriskStatus,
        amd_cause: String,
    ) {
        if self.result.is_some() {
            return;
        }
        let result = AmdResult {
            answered_by,
            decision_ms: at,
            first_decision_ms,
            machine_reason,
            beep: self.beep_for_result.take(),
            amd_status,
            amd_cause,
        };
        self.phase = Phase::Done;
        self.delay.clear();
        self.frontend.stop_progress();
        self.events.push_back(AmdEvent::Result {
            at_ms: at,
            result: result.clone(),
        });
        self.result = Some(result);
    }
}
