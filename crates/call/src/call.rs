//! [`Call`]: one phone call as a sans-I/O state machine.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use tympan_amd::{AmdEvent, AmdResult};

use crate::analyzer::{AmdAnalyzer, Analyzer, DtmfAnalyzer, ToneAnalyzer};
use crate::config::{CallConfig, CallError, Prompt, MAX_DTMF_DIGITS};
use crate::event::{Action, CallEvent, DtmfSource, PlaybackOutcome, Signal};
use crate::policy::{OnBeep, Step, HANGUP_REASON};

/// Analyzers are fed whole frames of this length, ms (the AMD detector's frame).
pub const FRAME_MS: u64 = 10;
/// A transport digit equal to an in-band digit whose tone ended at most this long (ms of
/// audio) before the transport digit arrived is the same key press, reported once.
pub const DTMF_DEDUP_MS: u64 = 1_000;

/// Where a call is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    /// Media flows; analyzers listen.
    Active,
    /// The core asked for a hang-up; waiting for the transport to end the call.
    HangingUp,
    /// Finished: no more input is taken.
    Ended,
}

impl CallState {
    /// `active`, `hanging_up` or `ended`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Active => "active",
            CallState::HangingUp => "hanging_up",
            CallState::Ended => "ended",
        }
    }
}

/// One phone call: inbound PCM, DTMF and signalling in; events and actions out, plus the next
/// deadline. No clock, no I/O: `now_ms` is the shell's clock (any base, e.g. ms since the
/// call started) and only drives deadlines; every event time is audio time. Inputs that set
/// no deadline take `now_ms` too (named `_now_ms`), so every input has the same shape.
///
/// Rules:
/// - Audio is cut into [`FRAME_MS`] frames and every analyzer sees the same frames, drained
///   after each, so events (and the actions they trigger) are the same whatever the chunking.
/// - DTMF: the first report of a key press wins. A transport digit equal to the last in-band
///   digit, arriving within [`DTMF_DEDUP_MS`] of audio after that tone ended, is not reported
///   again; and from the first transport digit on, in-band detection is off for the rest of
///   the call (the transport is then known to signal DTMF, and the tones in the audio are the
///   same key presses).
/// - On the first beep, the [`crate::BeepPolicy`] (if any) plays its message and/or hangs up
///   (see [`crate::policy`]).
/// - Every action is also reported as a [`CallEvent::Action`].
pub struct Call {
    cfg: CallConfig,
    analyzers: Vec<Box<dyn Analyzer>>,
    frame_len: usize,
    pending: Vec<f32>,
    scratch: Vec<f32>,
    samples: u64,
    events: VecDeque<CallEvent>,
    actions: VecDeque<Action>,
    policy: Option<OnBeep>,
    result: Option<AmdResult>,
    state: CallState,
    next_id: u64,
    /// Last in-band digit and its audio time.
    last_inband: Option<(char, u64)>,
    transport_dtmf_seen: bool,
}

impl Call {
    /// Start a call: the config is checked (the error names the field), the analyzers are
    /// built, and a [`CallEvent::CallStart`] is queued.
    pub fn new(cfg: CallConfig) -> Result<Call, CallError> {
        cfg.validate()?;
        let mut analyzers: Vec<Box<dyn Analyzer>> = Vec::new();
        if let Some(a) = &cfg.amd {
            analyzers.push(Box::new(AmdAnalyzer::new(
                a.clone(),
                cfg.amd_model.clone(),
            )?));
        }
        if cfg.inband_dtmf {
            analyzers.push(Box::new(DtmfAnalyzer::new(cfg.sample_rate)?));
        }
        if cfg.call_progress {
            analyzers.push(Box::new(ToneAnalyzer::new(cfg.sample_rate)?));
        }
        let frame_len = (u64::from(cfg.sample_rate) * FRAME_MS / 1000) as usize;
        let mut events = VecDeque::new();
        events.push_back(CallEvent::CallStart {
            platform: cfg.platform.clone(),
            sample_rate: cfg.sample_rate,
        });
        Ok(Call {
            policy: cfg.on_beep.clone().map(OnBeep::new),
            analyzers,
            frame_len,
            pending: Vec::with_capacity(frame_len),
            scratch: Vec::new(),
            samples: 0,
            events,
            actions: VecDeque::new(),
            result: None,
            state: CallState::Active,
            next_id: 1,
            last_inband: None,
            transport_dtmf_seen: false,
            cfg,
        })
    }

    /// Add an analyzer (voice biometrics, screening, recording, ...). It sees the audio
    /// pushed from now on, in the same frames as the built-in ones.
    pub fn add_analyzer(&mut self, analyzer: Box<dyn Analyzer>) {
        self.analyzers.push(analyzer);
    }

    /// Names of the analyzers running, in the order they are fed.
    pub fn analyzer_names(&self) -> Vec<&'static str> {
        self.analyzers.iter().map(|a| a.name()).collect()
    }

    /// The call's settings.
    pub fn config(&self) -> &CallConfig {
        &self.cfg
    }

    /// The call's id.
    pub fn call_id(&self) -> &str {
        &self.cfg.call_id
    }

    /// Push mono PCM at the call's rate (floats in [-1, 1]), any number of samples.
    /// Ignored once the call has ended.
    pub fn push_audio(&mut self, samples: &[f32], now_ms: u64) {
        if self.state == CallState::Ended {
            return;
        }
        self.samples += samples.len() as u64;
        let mut rest = samples;
        if !self.pending.is_empty() {
            let take = (self.frame_len - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() < self.frame_len {
                return;
            }
            let frame = std::mem::take(&mut self.pending);
            self.feed(&frame, now_ms);
            self.pending = frame;
            self.pending.clear();
        }
        let whole = rest.len() / self.frame_len * self.frame_len;
        if whole > 0 {
            self.feed(&rest[..whole], now_ms);
        }
        self.pending.extend_from_slice(&rest[whole..]);
    }

    /// Push 16-bit PCM (`s / 32768`).
    pub fn push_i16(&mut self, samples: &[i16], now_ms: u64) {
        let mut f = std::mem::take(&mut self.scratch);
        f.clear();
        f.extend(samples.iter().map(|&s| f32::from(s) / 32768.0));
        self.push_audio(&f, now_ms);
        self.scratch = f;
    }

    /// Feed whole frames (or, at `finish`, the last partial one), frame by frame to every
    /// analyzer in turn, draining each after each frame: their events interleave by audio time
    /// the same way whatever the chunking.
    fn feed(&mut self, span: &[f32], now_ms: u64) {
        for frame in span.chunks(self.frame_len) {
            for i in 0..self.analyzers.len() {
                self.analyzers[i].push(frame, now_ms);
                self.drain_analyzer(i, now_ms);
            }
        }
    }

    fn drain_analyzer(&mut self, i: usize, now_ms: u64) {
        while let Some(ev) = self.analyzers[i].poll_event() {
            self.on_event(ev, now_ms);
        }
    }

    fn on_event(&mut self, ev: CallEvent, now_ms: u64) {
        let mut beep_at = None;
        match &ev {
            CallEvent::Amd(AmdEvent::Result { result, .. }) => {
                self.result.get_or_insert_with(|| result.clone());
            }
            CallEvent::Amd(AmdEvent::Beep { at_ms, .. }) => beep_at = Some(*at_ms),
            CallEvent::Dtmf {
                digit,
                at_ms,
                source: DtmfSource::Inband,
            } => {
                if self.transport_dtmf_seen {
                    return;
                }
                self.last_inband = Some((*digit, *at_ms));
            }
            _ => {}
        }
        self.events.push_back(ev);
        if let Some(at) = beep_at {
            if self.state == CallState::Active {
                let steps = match &mut self.policy {
                    Some(p) => {
                        let id = &mut self.next_id;
                        p.on_beep(now_ms, || {
                            let v = *id;
                            *id += 1;
                            v
                        })
                    }
                    None => Vec::new(),
                };
                self.run_steps(steps, at);
            }
        }
    }

    fn run_steps(&mut self, steps: Vec<Step>, at_ms: u64) {
        for s in steps {
            match s {
                Step::Play { id, prompt } => self.act(Action::Play { id, prompt }, at_ms),
                Step::Hangup => self.act(
                    Action::Hangup {
                        reason: HANGUP_REASON.into(),
                    },
                    at_ms,
                ),
                Step::TimedOut { id } => self.events.push_back(CallEvent::Playback {
                    at_ms,
                    id,
                    outcome: PlaybackOutcome::TimedOut,
                }),
            }
        }
    }

    fn act(&mut self, action: Action, at_ms: u64) {
        if self.state == CallState::Ended {
            return;
        }
        if matches!(action, Action::Hangup { .. }) {
            if self.state == CallState::HangingUp {
                return;
            }
            self.state = CallState::HangingUp;
            if let Some(p) = &mut self.policy {
                p.cancel();
            }
        }
        self.events.push_back(CallEvent::Action {
            at_ms,
            action: action.clone(),
        });
        self.actions.push_back(action);
    }

    /// An out-of-band DTMF digit from the transport (Twilio `dtmf`, AudioSocket 0x03,
    /// RFC 4733). `0-9 * # A-D` (lowercase letters are taken as uppercase); anything else is
    /// refused with field `digit`. See the type docs for how it combines with in-band DTMF.
    pub fn dtmf(&mut self, digit: char, _now_ms: u64) -> Result<(), CallError> {
        let d = digit.to_ascii_uppercase();
        if !matches!(d, '0'..='9' | '*' | '#' | 'A'..='D') {
            return Err(CallError::new(
                "digit",
                format!("{digit:?} is not a DTMF digit (0-9 * # A-D)"),
            ));
        }
        if self.state == CallState::Ended {
            return Ok(());
        }
        let at_ms = self.audio_ms();
        if !self.transport_dtmf_seen {
            // Digits the in-band detector has already reported stay reported; the ones it
            // would still find are the transport's too.
            self.transport_dtmf_seen = true;
            self.analyzers.retain(|a| a.name() != DtmfAnalyzer::NAME);
        }
        if let Some((last, t)) = self.last_inband.take() {
            if last == d && at_ms.saturating_sub(t) <= DTMF_DEDUP_MS {
                return Ok(());
            }
        }
        self.events.push_back(CallEvent::Dtmf {
            at_ms,
            digit: d,
            source: DtmfSource::Transport,
        });
        Ok(())
    }

    /// Signalling from the transport. [`Signal::RemoteHangup`] ends the call as
    /// [`Call::finish`] does (the AMD result is given if it was not yet known).
    pub fn signal(&mut self, signal: Signal, now_ms: u64) {
        if self.state == CallState::Ended {
            return;
        }
        self.events.push_back(CallEvent::Signal {
            at_ms: self.audio_ms(),
            signal,
        });
        if signal == Signal::RemoteHangup {
            self.finish(now_ms);
        }
    }

    /// The shell began playback `id`, `duration_ms` long: the on-beep policy's safety
    /// deadline tightens to that length plus [`crate::config::PLAYBACK_GRACE_MS`].
    /// Optional: without it the deadline assumes [`crate::config::MAX_MESSAGE_MS`].
    pub fn playback_started(&mut self, id: u64, duration_ms: u64, now_ms: u64) {
        if let Some(p) = &mut self.policy {
            p.playback_started(id, duration_ms, now_ms);
        }
    }

    /// Playback `id` (of an [`Action::Play`]) played to its end.
    pub fn playback_finished(&mut self, id: u64, _now_ms: u64) {
        self.playback_ended(id, PlaybackOutcome::Finished);
    }

    /// Playback `id` could not be rendered or sent.
    pub fn playback_failed(&mut self, id: u64, reason: &str, _now_ms: u64) {
        self.playback_ended(
            id,
            PlaybackOutcome::Failed {
                reason: reason.to_owned(),
            },
        );
    }

    fn playback_ended(&mut self, id: u64, outcome: PlaybackOutcome) {
        if self.state == CallState::Ended || id == 0 || id >= self.next_id {
            return;
        }
        let at_ms = self.audio_ms();
        self.events
            .push_back(CallEvent::Playback { at_ms, id, outcome });
        let steps = match &mut self.policy {
            Some(p) => p.playback_ended(id),
            None => Vec::new(),
        };
        self.run_steps(steps, at_ms);
    }

    /// Ask the shell to play `prompt` (for flows and the shell's own use; the action is
    /// recorded like the policy's). Returns the playback id.
    pub fn play(&mut self, prompt: Prompt, _now_ms: u64) -> Result<u64, CallError> {
        prompt.validate("prompt")?;
        if self.state != CallState::Active {
            return Err(CallError::new(
                "state",
                format!("call is {}", self.state.as_str()),
            ));
        }
        let id = self.next_id;
        self.next_id += 1;
        self.act(Action::Play { id, prompt }, self.audio_ms());
        Ok(id)
    }

    /// Ask the shell to stop playback `id`.
    pub fn stop_playback(&mut self, id: u64, _now_ms: u64) {
        if id != 0 && id < self.next_id {
            self.act(Action::StopPlayback { id }, self.audio_ms());
        }
    }

    /// Ask the shell to send DTMF `digits` (1 to [`MAX_DTMF_DIGITS`] of `0-9 * # A-D`).
    pub fn send_dtmf(&mut self, digits: &str, _now_ms: u64) -> Result<(), CallError> {
        if digits.is_empty() || digits.chars().count() > MAX_DTMF_DIGITS {
            return Err(CallError::new(
                "digits",
                format!("1 to {MAX_DTMF_DIGITS} digits expected"),
            ));
        }
        if let Some((i, c)) = digits
            .char_indices()
            .find(|&(_, c)| !matches!(c.to_ascii_uppercase(), '0'..='9' | '*' | '#' | 'A'..='D'))
        {
            return Err(CallError::new(
                "digits",
                format!("{c:?} at byte {i} is not a DTMF digit"),
            ));
        }
        self.act(
            Action::SendDtmf {
                digits: digits.to_ascii_uppercase(),
            },
            self.audio_ms(),
        );
        Ok(())
    }

    /// Ask the shell to hang up, giving `reason`.
    pub fn hangup(&mut self, reason: &str, _now_ms: u64) {
        self.act(
            Action::Hangup {
                reason: reason.to_owned(),
            },
            self.audio_ms(),
        );
    }

    /// The stream ended (hang-up, end of file, transport closed): the analyzers finish (an
    /// undecided AMD gives its result now), then [`CallEvent::CallEnd`]. Idempotent.
    pub fn finish(&mut self, now_ms: u64) {
        if self.state == CallState::Ended {
            return;
        }
        // Nothing is played into a call that is ending (a beep still sounding at the end of
        // the stream is reported, but starts no message).
        if let Some(p) = &mut self.policy {
            p.cancel();
        }
        if !self.pending.is_empty() {
            let frame = std::mem::take(&mut self.pending);
            self.feed(&frame, now_ms);
        }
        for i in 0..self.analyzers.len() {
            self.analyzers[i].finish(now_ms);
            self.drain_analyzer(i, now_ms);
        }
        self.state = CallState::Ended;
        self.events.push_back(CallEvent::CallEnd {
            at_ms: self.audio_ms(),
        });
    }

    /// Next event, oldest first.
    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    /// Next action for the shell to carry out, oldest first.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The earliest clock time (the `now_ms` base) at which [`Call::handle_timeout`] is due
    /// if no other input comes first: the analyzers' deadlines (AMD's decision timeout) and
    /// the on-beep policy's playback deadline. `None` when nothing waits.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.state == CallState::Ended {
            return None;
        }
        self.analyzers
            .iter()
            .filter_map(|a| a.poll_timeout())
            .chain(self.policy.as_ref().and_then(OnBeep::poll_timeout))
            .min()
    }

    /// The clock reached `now_ms` (at or after [`Call::poll_timeout`]): deadlines that passed
    /// fire (AMD gives its timeout result; the policy gives up waiting for the playback).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.state == CallState::Ended {
            return;
        }
        for i in 0..self.analyzers.len() {
            if self.analyzers[i]
                .poll_timeout()
                .is_some_and(|d| now_ms >= d)
            {
                self.analyzers[i].handle_timeout(now_ms);
                self.drain_analyzer(i, now_ms);
            }
        }
        let steps = match &mut self.policy {
            Some(p) => p.handle_timeout(now_ms),
            None => Vec::new(),
        };
        let at = self.audio_ms();
        self.run_steps(steps, at);
    }

    /// Where the call is in its life.
    pub fn state(&self) -> CallState {
        self.state
    }

    /// Audio received so far, ms (from the sample count).
    pub fn audio_ms(&self) -> u64 {
        self.samples * 1000 / u64::from(self.cfg.sample_rate)
    }

    /// The final AMD result, once known.
    pub fn result(&self) -> Option<&AmdResult> {
        self.result.as_ref()
    }
}
