//! The one call loop every transport runs: it owns the call's analyser, its clock, its timers
//! and its record; it publishes events, runs the on-beep action (render, play through the
//! transport, hang up through the transport) and ends the call. Transports only turn bytes
//! into [`Inbound`] items and carry out [`MediaOut`] requests.

use crate::analyzer::CallAnalyzer;
use crate::calls::{event_json, CallSettings, MAX_EVENTS_PER_CALL};
use crate::config::BeepAction;
use crate::registry::{lock, CallRecord, LiveCall, CLOSE_POLICY};
use crate::AppState;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;
use tympan_amd::AmdEvent;

/// Websocket close code sent to live calls when the server stops (RFC 6455 1001, going away).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// After the peer is gone, how long the call waits for its running actions (a hang-up
/// request) before its record is closed.
pub const ACTION_DRAIN: Duration = Duration::from_secs(15);
/// Extra time allowed after a queued message's own length for the transport to confirm it
/// played (Twilio's mark) before the call goes on anyway.
pub const CONFIRM_GRACE: Duration = Duration::from_secs(5);

/// One item from the peer, already decoded to PCM at the call's rate.
#[derive(Debug)]
pub enum Inbound {
    /// Audio samples (16-bit, the call's rate, any count).
    Audio(Vec<i16>),
    /// A DTMF digit signalled out of band.
    Dtmf(char),
    /// The transport confirmed that queued playback finished (Twilio mark).
    PlaybackDone,
    /// Something the call does not need (keep-alives, metadata).
    Ignored,
    /// The peer ended the stream (close, `stop`, AudioSocket hang-up, EOF).
    End,
    /// The peer broke the protocol: close with this code and reason.
    Error(u16, String),
}

/// The reading half of a transport.
pub trait MediaIn: Send {
    /// The next item. Must be cancel-safe: it is raced against timers.
    fn next(&mut self) -> impl Future<Output = Inbound> + Send;
}

/// How a playback went.
#[derive(Debug)]
pub enum PlayOutcome {
    /// Every frame was sent at real-time pace.
    Played { frames: usize, ms: u64 },
    /// The peer went away after `frames` frames.
    Interrupted { frames: usize },
    /// Handed to the platform, which plays it and confirms with [`Inbound::PlaybackDone`].
    Queued { ms: u64 },
    /// Nothing was played (the message could not be rendered or sent).
    Failed(String),
}

/// The action record of a finished playback (`None` when there was nothing to play).
fn play_record(outcome: &PlayOutcome) -> Option<Value> {
    Some(match outcome {
        PlayOutcome::Played { frames: 0, .. } => return None,
        PlayOutcome::Played { frames, ms } => json!({"action": "play", "frames": frames, "ms": ms}),
        PlayOutcome::Interrupted { frames } => {
            json!({"action": "play", "frames": frames, "interrupted": true})
        }
        PlayOutcome::Queued { ms } => json!({"action": "play", "ms": ms, "mark_received": false}),
        PlayOutcome::Failed(e) => json!({"action": "play", "error": e}),
    })
}

/// The writing half of a transport. Cheap to clone (a channel sender and some ids).
pub trait MediaOut: Clone + Send + Sync + 'static {
    /// Play 16-bit PCM at the call's rate into the call.
    fn play(&self, pcm: Vec<i16>) -> impl Future<Output = PlayOutcome> + Send;
    /// Hang the call up (platform REST call, or an in-band hang-up); returns the HTTP status
    /// when there is one.
    fn hangup(
        &self,
        state: Arc<AppState>,
    ) -> impl Future<Output = Result<Option<u16>, String>> + Send;
    /// Close the connection with a code and reason.
    fn close(&self, code: u16, reason: &str) -> impl Future<Output = ()> + Send;
    /// Resolves once the output can no longer send (peer stopped reading past the send
    /// timeout, or the connection is gone).
    fn gone(&self) -> impl Future<Output = ()> + Send;
}

/// What a transport learnt before the call starts.
pub struct CallStart {
    /// Validated call id.
    pub call_id: String,
    /// `vonage`, `twilio` or `audiosocket`.
    pub platform: &'static str,
    /// Samples per second of the inbound audio.
    pub rate: u32,
    /// The call's own settings.
    pub settings: CallSettings,
}

enum Internal {
    Played(PlayOutcome),
    Action(Value),
}

/// Run one call to its end. Refusals (duplicate id, server full, bad settings) close the
/// connection with a code and reason.
pub async fn run_call<I: MediaIn, O: MediaOut>(
    state: Arc<AppState>,
    start: CallStart,
    input: I,
    out: O,
) {
    let span = tracing::info_span!("call", call_id = %start.call_id, platform = start.platform);
    run_inner(state, start, input, out).instrument(span).await
}

async fn refuse<O: MediaOut>(out: &O, code: u16, reason: &str) {
    tracing::warn!(code, %reason, "call refused");
    out.close(code, reason).await;
}

struct Session {
    state: Arc<AppState>,
    live: Arc<LiveCall>,
    call_id: String,
    analyzer: Box<dyn CallAnalyzer>,
    rate: u32,
    samples: u64,
    started: Instant,
    fired_deadline: Option<u64>,
    beep_seen: bool,
    finished: bool,
    buf: Vec<f32>,
}

impl Session {
    fn clock_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn audio_ms(&self) -> u64 {
        self.samples * 1000 / u64::from(self.rate)
    }

    fn deadline(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        self.analyzer
            .poll_timeout()
            .filter(|ms| Some(*ms) != self.fired_deadline)
            .map(|ms| self.started + Duration::from_millis(ms))
    }

    fn on_timeout(&mut self) -> bool {
        let now = self.clock_ms();
        self.fired_deadline = self.analyzer.poll_timeout();
        self.analyzer.handle_timeout(now);
        self.drain()
    }

    /// Feed samples; true the first time a beep is seen.
    fn push(&mut self, pcm: &[i16]) -> bool {
        if pcm.is_empty() || self.finished {
            return false;
        }
        self.buf.clear();
        self.buf.extend(pcm.iter().map(|&s| f32::from(s) / 32768.0));
        self.samples += pcm.len() as u64;
        self.live.audio_ms.store(self.audio_ms(), Ordering::Relaxed);
        let now = self.clock_ms();
        let started = std::time::Instant::now();
        self.analyzer.push(&self.buf, now);
        self.state
            .metrics
            .frame_processed(pcm.len() as u64, started.elapsed());
        self.drain()
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        let now = self.clock_ms();
        self.analyzer.finish(now);
        self.drain();
        self.finished = true;
    }

    fn drain(&mut self) -> bool {
        let mut first_beep = false;
        while let Some(ev) = self.analyzer.poll_event() {
            let v = event_json(&self.call_id, &ev);
            {
                let mut r = lock(&self.live.record);
                if let AmdEvent::Result { result, .. } = &ev {
                    r.result = Some(result.clone());
                }
                if r.events.len() < MAX_EVENTS_PER_CALL {
                    r.events.push(v.clone());
                } else {
                    r.events_dropped += 1;
                }
            }
            if let AmdEvent::Result { .. } = &ev {
                self.state
                    .metrics
                    .decision(self.started.elapsed(), self.audio_ms());
            }
            tracing::info!(event = ?ev, "amd event");
            self.state.publish(&self.call_id, &v);
            if matches!(ev, AmdEvent::Beep { .. }) {
                // The Vonage sample's drop-in message, for clients written against it.
                self.state.publish(
                    &self.call_id,
                    &json!({"uuids": [self.call_id], "beep_detected": true}),
                );
                if !self.beep_seen {
                    self.beep_seen = true;
                    first_beep = true;
                }
            }
        }
        first_beep
    }

    fn record_action(&self, action: Value) {
        lock(&self.live.record).actions.push(action.clone());
        let mut v = action;
        if let Some(o) = v.as_object_mut() {
            o.insert("call_id".into(), json!(self.call_id));
            o.insert("type".into(), json!("action"));
        }
        self.state.publish(&self.call_id, &v);
    }
}

fn min_deadline(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

async fn run_inner<I: MediaIn, O: MediaOut>(
    state: Arc<AppState>,
    start: CallStart,
    mut input: I,
    out: O,
) {
    let CallStart {
        call_id,
        platform,
        rate,
        settings,
    } = start;
    if state.shutdown.draining() {
        return refuse(
            &out,
            crate::registry::CLOSE_TRY_AGAIN,
            "server is shutting down",
        )
        .await;
    }
    let cfg = match settings.amd_config(&state.config.amd, rate) {
        Ok(c) => c,
        Err(e) => return refuse(&out, CLOSE_POLICY, &e).await,
    };
    let on_beep: Option<BeepAction> = settings
        .on_beep
        .clone()
        .or_else(|| state.config.on_beep.clone());
    if let Some(a) = &on_beep {
        if let Err(e) = crate::playback::check_action(a, &state.config.media_dir) {
            return refuse(&out, CLOSE_POLICY, &e).await;
        }
    }
    let analyzer = match (state.factory)(&cfg) {
        Ok(a) => a,
        Err(e) => return refuse(&out, CLOSE_POLICY, &e.to_string()).await,
    };
    let live = match state
        .calls
        .begin(CallRecord::new(call_id.clone(), platform, rate))
    {
        Ok(l) => l,
        Err(why) => {
            let (code, reason) = why.close(&call_id);
            return refuse(&out, code, &reason).await;
        }
    };
    state.publish(
        &call_id,
        &json!({"call_id": call_id, "type": "call_start", "at_ms": 0,
                "platform": platform, "sample_rate": rate}),
    );
    state.metrics.call_started();
    tracing::info!(rate, on_beep = ?on_beep, "call started");
    let mut s = Session {
        state: state.clone(),
        live,
        call_id,
        analyzer,
        rate,
        samples: 0,
        started: Instant::now(),
        fired_deadline: None,
        beep_seen: false,
        finished: false,
        buf: Vec::new(),
    };
    let (itx, mut irx) = mpsc::channel::<Internal>(8);
    let mut outstanding = 0usize;
    // A queued playback waiting for the platform's confirmation: (deadline, ms).
    let mut confirm: Option<(Instant, u64)> = None;
    let mut hangup_after_play = false;
    let stall = state.config.media_stall_timeout();
    let mut last_in = Instant::now();
    let mut shutdown = state.shutdown.subscribe();
    let mut peer_gone = false;
    loop {
        let analyzer_deadline = s.deadline();
        let stall_deadline = last_in + stall;
        let wake = min_deadline(
            min_deadline(analyzer_deadline, Some(stall_deadline)),
            confirm.map(|c| c.0),
        )
        .expect("the stall deadline is always set");
        tokio::select! {
            biased;
            _ = crate::Shutdown::ending(&mut shutdown) => {
                out.close(CLOSE_GOING_AWAY, "server shutting down").await;
                break;
            }
            _ = out.gone() => {
                tracing::warn!("peer stopped reading (send timeout) or connection lost");
                peer_gone = true;
                break;
            }
            Some(msg) = irx.recv() => {
                match msg {
                    Internal::Played(outcome) => {
                        outstanding -= 1;
                        if let PlayOutcome::Queued { ms } = outcome {
                            confirm = Some((Instant::now() + Duration::from_millis(ms) + CONFIRM_GRACE, ms));
                            continue;
                        }
                        if let PlayOutcome::Interrupted { .. } = outcome {
                            hangup_after_play = false;
                        }
                        if let Some(v) = play_record(&outcome) {
                            s.record_action(v);
                        }
                        if std::mem::take(&mut hangup_after_play) {
                            outstanding += 1;
                            spawn_hangup(&state, &out, itx.clone());
                        }
                    }
                    Internal::Action(v) => {
                        outstanding -= 1;
                        s.record_action(v);
                    }
                }
            }
            r = tokio::time::timeout_at(wake, input.next()) => {
                let now = Instant::now();
                let item = match r {
                    Ok(item) => item,
                    Err(_) => {
                        if let Some((d, ms)) = confirm {
                            if now >= d {
                                confirm = None;
                                s.record_action(json!({"action": "play", "ms": ms, "mark_received": false}));
                                if std::mem::take(&mut hangup_after_play) {
                                    outstanding += 1;
                                    spawn_hangup(&state, &out, itx.clone());
                                }
                            }
                        }
                        if now >= stall_deadline {
                            let reason = format!("no media for {} s (media_stall_timeout_s)", stall.as_secs());
                            tracing::warn!(%reason, "stalled");
                            out.close(CLOSE_POLICY, &reason).await;
                            break;
                        }
                        if analyzer_deadline.is_some_and(|d| now >= d) && s.on_timeout() {
                            start_action(&state, &s, &on_beep, &out, &itx, &mut outstanding, &mut hangup_after_play);
                        }
                        continue;
                    }
                };
                last_in = now;
                match item {
                    Inbound::Audio(pcm) => {
                        if s.push(&pcm) {
                            start_action(&state, &s, &on_beep, &out, &itx, &mut outstanding, &mut hangup_after_play);
                        }
                    }
                    Inbound::Dtmf(d) => {
                        tracing::info!(digit = %d, "dtmf");
                    }
                    Inbound::PlaybackDone => {
                        if let Some((_, ms)) = confirm.take() {
                            s.record_action(json!({"action": "play", "ms": ms, "mark_received": true}));
                            if std::mem::take(&mut hangup_after_play) {
                                outstanding += 1;
                                spawn_hangup(&state, &out, itx.clone());
                            }
                        }
                    }
                    Inbound::Ignored => {}
                    Inbound::End => {
                        peer_gone = true;
                        break;
                    }
                    Inbound::Error(code, reason) => {
                        tracing::warn!(code, %reason, "protocol error");
                        out.close(code, &reason).await;
                        peer_gone = true;
                        break;
                    }
                }
            }
        }
    }
    s.finish();
    let audio_ms = s.audio_ms();
    if confirm.take().is_some() {
        s.record_action(json!({"action": "play", "mark_received": false, "interrupted": true}));
    }
    tracing::debug!(peer_gone, "call loop done");
    // Let running actions (playback to a closed peer, a hang-up request) report.
    let drain_until = Instant::now() + ACTION_DRAIN;
    while outstanding > 0 {
        match tokio::time::timeout_at(drain_until, irx.recv()).await {
            Ok(Some(Internal::Played(outcome))) => {
                outstanding -= 1;
                if let Some(v) = play_record(&outcome) {
                    s.record_action(v);
                }
            }
            Ok(Some(Internal::Action(v))) => {
                outstanding -= 1;
                s.record_action(v);
            }
            Ok(None) | Err(_) => break,
        }
    }
    state.calls.end(&s.live);
    state.publish(
        &s.call_id,
        &json!({"call_id": s.call_id, "type": "call_end", "at_ms": audio_ms}),
    );
    tracing::info!(audio_ms, "call ended");
}

fn start_action<O: MediaOut>(
    state: &Arc<AppState>,
    s: &Session,
    on_beep: &Option<BeepAction>,
    out: &O,
    itx: &mpsc::Sender<Internal>,
    outstanding: &mut usize,
    hangup_after_play: &mut bool,
) {
    let Some(action) = on_beep.clone() else {
        return;
    };
    *outstanding += 1;
    *hangup_after_play = action.hangup;
    let state = state.clone();
    let out = out.clone();
    let itx = itx.clone();
    let rate = s.rate;
    tokio::spawn(
        async move {
            let pcm = match crate::playback::render(
                &action,
                rate,
                &state.config.espeak,
                &state.config.media_dir,
            )
            .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "on_beep message not rendered");
                    let _ = itx.send(Internal::Played(PlayOutcome::Failed(e))).await;
                    return;
                }
            };
            let outcome = if pcm.is_empty() {
                PlayOutcome::Played { frames: 0, ms: 0 }
            } else {
                out.play(pcm).await
            };
            let _ = itx.send(Internal::Played(outcome)).await;
        }
        .in_current_span(),
    );
}

fn spawn_hangup<O: MediaOut>(state: &Arc<AppState>, out: &O, itx: mpsc::Sender<Internal>) {
    let state = state.clone();
    let out = out.clone();
    tokio::spawn(
        async move {
            let r = out.hangup(state).await;
            tracing::info!(result = ?r, "hangup");
            let v = match r {
                Ok(Some(status)) => json!({"action": "hangup", "status": status}),
                Ok(None) => json!({"action": "hangup"}),
                Err(e) => json!({"action": "hangup", "error": e}),
            };
            let _ = itx.send(Internal::Action(v)).await;
        }
        .in_current_span(),
    );
}

/// Send 16-bit PCM as frames of `frame` samples (the last zero-padded) every 20 ms through
/// `send`, which returns false once the peer is gone. Shared by the transports that pace
/// playback themselves (Vonage, AudioSocket).
pub async fn pace_frames<F, Fut>(pcm: &[i16], frame: usize, mut send: F) -> PlayOutcome
where
    F: FnMut(Vec<i16>) -> Fut,
    Fut: Future<Output = bool>,
{
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut frames = 0usize;
    for chunk in pcm.chunks(frame) {
        tick.tick().await;
        let mut f = chunk.to_vec();
        f.resize(frame, 0);
        if !send(f).await {
            return PlayOutcome::Interrupted { frames };
        }
        frames += 1;
    }
    PlayOutcome::Played {
        frames,
        ms: frames as u64 * 20,
    }
}
