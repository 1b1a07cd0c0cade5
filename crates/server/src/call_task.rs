//! The one call loop every transport runs: it owns the call core (`tympan_call::Call`), the
//! clock, the timers and the call's record; it publishes the core's events and carries out its
//! actions (render prompts with [`crate::playback`] and play them through the transport, hang
//! up through the transport) and ends the call. Transports only turn bytes
//! into [`Inbound`] items and carry out [`MediaOut`] requests.

use crate::calls::{CallSettings, MAX_EVENTS_PER_CALL};
use crate::config::BeepAction;
use crate::registry::{lock, CallRecord, LiveCall, CLOSE_POLICY};
use crate::AppState;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;
use tympan_amd::AmdEvent;
use tympan_call::{Action, BeepPolicy, Call, CallConfig, CallEvent, CallState, Prompt, Signal};
use tympan_flow::{Action as FlowAction, FlowRunner, RunnerAction};
use tympan_store::Write;

/// Websocket close code sent to live calls when the server stops (RFC 6455 1001, going away).
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// After the peer is gone, how long the call waits for its running actions (a hang-up
/// request) before its record is closed.
pub const ACTION_DRAIN: Duration = Duration::from_secs(15);

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
    /// The peer ended the stream (close, `stop`, EOF).
    End,
    /// The peer hung up the call (AudioSocket 0x00).
    RemoteHangup,
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
    /// Send DTMF `digits` (`0-9 * # A-D`) to the peer; returns how (`rfc4733`, `info`).
    /// Transports that cannot refuse.
    fn send_dtmf(
        &self,
        digits: String,
    ) -> impl Future<Output = Result<&'static str, String>> + Send {
        let _ = digits;
        async { Err("not supported by this transport".to_string()) }
    }
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
    Played(u64, PlayOutcome),
    Action(Value),
    /// A flow prompt's playback ended (or failed).
    FlowPlayed(u64, PlayOutcome),
    /// Work done for the flow (an HTTP request) reports back, with its action-log entry.
    FlowEvent(tympan_flow::Event, Value),
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
    call: Call,
    started: Instant,
    fired_deadline: Option<u64>,
    /// The core's `call_end` messages, published once the record is closed.
    end_msgs: Vec<Value>,
    /// Events kept in the record and the store so far (at most `MAX_EVENTS_PER_CALL`).
    kept_events: usize,
    /// The contact flow this call runs, if the server had one when the call started.
    flow: Option<FlowRunner>,
    /// The flow's engines and prompt cache, as they were when the call started (a flow
    /// registered later runs on later calls only).
    flow_setup: Option<Arc<crate::flows::FlowSetup>>,
    /// The flow's prompts being played, to stop them on barge-in.
    flow_plays: HashMap<u64, tokio::task::AbortHandle>,
    /// The flow deadline last fired (so a due deadline fires once).
    fired_flow_deadline: Option<u64>,
}

impl Session {
    fn clock_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn deadline(&self) -> Option<Instant> {
        let core = self
            .call
            .poll_timeout()
            .filter(|ms| Some(*ms) != self.fired_deadline)
            .map(|ms| self.started + Duration::from_millis(ms));
        let flow = self
            .flow
            .as_ref()
            .and_then(FlowRunner::poll_timeout)
            .filter(|ms| Some(*ms) != self.fired_flow_deadline)
            .map(|ms| self.started + Duration::from_millis(ms));
        min_deadline(core, flow)
    }

    fn on_timeout(&mut self) {
        let now = self.clock_ms();
        if self.call.poll_timeout().is_some_and(|t| t <= now) {
            self.fired_deadline = self.call.poll_timeout();
            self.call.handle_timeout(now);
        }
        if let Some(f) = &mut self.flow {
            if f.poll_timeout().is_some_and(|t| t <= now) {
                self.fired_flow_deadline = f.poll_timeout();
                f.handle_timeout(now);
            }
        }
        self.drain();
    }

    /// Hands the flow an event (no flow: nothing happens).
    fn flow_event(&mut self, event: tympan_flow::Event) {
        let now = self.clock_ms();
        if let Some(f) = &mut self.flow {
            f.handle(event, now);
        }
    }

    fn push(&mut self, pcm: &[i16]) {
        if pcm.is_empty() {
            return;
        }
        let now = self.clock_ms();
        let t = std::time::Instant::now();
        self.call.push_i16(pcm, now);
        self.state
            .metrics
            .frame_processed(pcm.len() as u64, t.elapsed());
        self.live
            .audio_ms
            .store(self.call.audio_ms(), Ordering::Relaxed);
        self.drain();
        if let Some(f) = &mut self.flow {
            f.push_audio(pcm, now);
        }
    }

    fn finish(&mut self) {
        let now = self.clock_ms();
        self.call.finish(now);
        self.live
            .audio_ms
            .store(self.call.audio_ms(), Ordering::Relaxed);
        self.drain();
    }

    /// Publish, persist and record the core's events.
    fn drain(&mut self) {
        while let Some(ev) = self.call.poll_event() {
            let mut result_row = None;
            if let CallEvent::Amd(AmdEvent::Result { .. }) = &ev {
                self.state
                    .metrics
                    .decision(self.started.elapsed(), self.call.audio_ms());
            }
            tracing::info!(event = ?ev, "call event");
            if let Some(f) = &mut self.flow {
                let now = self.started.elapsed().as_millis() as u64;
                match &ev {
                    CallEvent::Amd(AmdEvent::Result { result, .. }) => f.handle(
                        tympan_flow::Event::AmdResult {
                            answered_by: result.answered_by.as_str().to_string(),
                        },
                        now,
                    ),
                    CallEvent::Amd(AmdEvent::Beep { .. }) => {
                        f.handle(tympan_flow::Event::Beep, now)
                    }
                    _ => {}
                }
            }
            let msgs = ev.to_json(&self.call_id);
            if let CallEvent::CallEnd { .. } = ev {
                self.end_msgs.extend(msgs);
                continue;
            }
            for m in &msgs {
                // Events beyond the per-call limit are published but neither kept nor stored.
                let keep = self.kept_events < MAX_EVENTS_PER_CALL;
                let typed = m.get("type").is_some();
                let published = self.state.publish(&self.call_id, m, keep);
                let mut r = lock(&self.live.record);
                if !typed {
                    continue; // the drop-in beep message is not part of the record
                }
                if keep {
                    self.kept_events += 1;
                    r.events.push(published);
                } else {
                    r.events_dropped += 1;
                }
            }
            if let CallEvent::Amd(AmdEvent::Result { result, .. }) = &ev {
                let mut r = lock(&self.live.record);
                let v = crate::calls::json_value(result);
                r.answered_by = v
                    .get("answered_by")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                r.result = Some(v);
                r.audio_ms = self.call.audio_ms();
                result_row = Some(r.row());
            }
            if let Some(row) = result_row {
                self.state.writer.send(Write::Call(row));
            }
        }
    }

    /// Append to the call's action log (what the server did), persist it, and publish it as
    /// `{"type": "action_done", ...}`.
    fn record_action(&self, action: Value) {
        let idx = {
            let mut r = lock(&self.live.record);
            r.actions.push(action.clone());
            r.actions.len() as i64 - 1
        };
        self.state
            .writer
            .send(Write::Actions(vec![tympan_store::ActionRow {
                call_id: self.call_id.clone(),
                idx,
                body: action.clone(),
            }]));
        let mut v = action;
        if let Some(o) = v.as_object_mut() {
            o.insert("call_id".into(), json!(self.call_id));
            o.insert("type".into(), json!("action_done"));
        }
        self.state.publish(&self.call_id, &v, true);
    }
}

fn min_deadline(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The call core's configuration from the call's settings and the server defaults.
pub fn call_config(
    state: &AppState,
    call_id: &str,
    platform: &str,
    rate: u32,
    settings: &CallSettings,
) -> Result<CallConfig, String> {
    let amd = settings.amd_config(&state.config.amd, rate)?;
    let on_beep: Option<BeepAction> = settings
        .on_beep
        .clone()
        .or_else(|| state.config.on_beep.clone());
    if let Some(a) = &on_beep {
        crate::playback::check_action(a, &state.config.media_dir)?;
    }
    let mut cfg = CallConfig::new(call_id, platform, rate);
    cfg.amd = Some(amd);
    cfg.on_beep = on_beep.map(|a| BeepPolicy {
        message: match (a.say, a.play_wav) {
            (Some(text), _) => Some(Prompt::Say { text }),
            (None, Some(path)) => Some(Prompt::File { path }),
            (None, None) => None,
        },
        hangup: a.hangup,
    });
    Ok(cfg)
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
    let call = match call_config(&state, &call_id, platform, rate, &settings)
        .and_then(|cfg| state.factory.make(cfg).map_err(|e| e.to_string()))
    {
        Ok(c) => c,
        Err(e) => return refuse(&out, CLOSE_POLICY, &e).await,
    };
    let record = CallRecord::new(call_id.clone(), platform, rate, crate::unix_ms());
    let row = record.row();
    let live = match state.calls.begin(record) {
        Ok(l) => l,
        Err(why) => {
            let (code, reason) = why.close(&call_id);
            return refuse(&out, code, &reason).await;
        }
    };
    state.writer.send(Write::Call(row));
    state.metrics.call_started();
    tracing::info!(rate, "call started");
    let flow_setup = state.flow();
    let flow = flow_setup.as_ref().map(|setup| {
        let mut r = setup.runner(
            &call_id,
            rate,
            settings.flow_attributes.clone(),
            crate::unix_ms(),
        );
        r.handle(tympan_flow::Event::Answered, 0);
        r
    });
    let mut s = Session {
        state: state.clone(),
        live,
        call_id,
        call,
        started: Instant::now(),
        fired_deadline: None,
        end_msgs: Vec::new(),
        kept_events: 0,
        flow,
        flow_setup,
        flow_plays: HashMap::new(),
        fired_flow_deadline: None,
    };
    s.drain();
    let (itx, mut irx) = mpsc::channel::<Internal>(8);
    let mut outstanding = 0usize;
    // A playback handed to the platform, waiting for its confirmation (Twilio's mark).
    let mut awaiting: Option<(u64, u64)> = None;
    let stall = state.config.media_stall_timeout();
    let mut last_in = Instant::now();
    let mut shutdown = state.shutdown.subscribe();
    loop {
        run_actions(&state, &mut s, &out, &itx, &mut outstanding);
        if s.call.state() == CallState::Ended {
            break;
        }
        let analyzer_deadline = s.deadline();
        let stall_deadline = last_in + stall;
        let wake = min_deadline(analyzer_deadline, Some(stall_deadline))
            .expect("the stall deadline is always set");
        tokio::select! {
            biased;
            _ = crate::Shutdown::ending(&mut shutdown) => {
                out.close(CLOSE_GOING_AWAY, "server shutting down").await;
                break;
            }
            _ = out.gone() => {
                tracing::warn!("peer stopped reading (send timeout) or connection lost");
                break;
            }
            Some(msg) = irx.recv() => {
                outstanding -= 1;
                let now = s.clock_ms();
                match msg {
                    Internal::Played(id, outcome) => {
                        match &outcome {
                            PlayOutcome::Queued { ms } => {
                                s.call.playback_started(id, *ms, now);
                                awaiting = Some((id, *ms));
                                continue;
                            }
                            PlayOutcome::Played { .. } => s.call.playback_finished(id, now),
                            PlayOutcome::Interrupted { .. } => {
                                s.call.playback_failed(id, "peer went away", now)
                            }
                            PlayOutcome::Failed(e) => s.call.playback_failed(id, e, now),
                        }
                        if let Some(v) = play_record(&outcome) {
                            s.record_action(v);
                        }
                        s.drain();
                    }
                    Internal::Action(v) => s.record_action(v),
                    Internal::FlowPlayed(id, outcome) => {
                        s.flow_plays.remove(&id);
                        let event = match &outcome {
                            PlayOutcome::Played { .. } | PlayOutcome::Queued { .. } => {
                                tympan_flow::Event::PlaybackFinished { id }
                            }
                            PlayOutcome::Interrupted { .. } => tympan_flow::Event::PlaybackFailed {
                                id,
                                reason: "peer went away".into(),
                            },
                            PlayOutcome::Failed(e) => tympan_flow::Event::PlaybackFailed {
                                id,
                                reason: e.clone(),
                            },
                        };
                        if let Some(mut v) = play_record(&outcome) {
                            v["flow_prompt"] = json!(id);
                            s.record_action(v);
                        }
                        s.flow_event(event);
                    }
                    Internal::FlowEvent(event, v) => {
                        s.record_action(v);
                        s.flow_event(event);
                    }
                }
            }
            r = tokio::time::timeout_at(wake, input.next()) => {
                let now = Instant::now();
                let item = match r {
                    Ok(item) => item,
                    Err(_) => {
                        if now >= stall_deadline {
                            let reason = format!("no media for {} s (media_stall_timeout_s)", stall.as_secs());
                            tracing::warn!(%reason, "stalled");
                            out.close(CLOSE_POLICY, &reason).await;
                            break;
                        }
                        if analyzer_deadline.is_some_and(|d| now >= d) {
                            s.on_timeout();
                        }
                        continue;
                    }
                };
                last_in = now;
                match item {
                    Inbound::Audio(pcm) => s.push(&pcm),
                    Inbound::Dtmf(d) => {
                        let now = s.clock_ms();
                        if let Err(e) = s.call.dtmf(d, now) {
                            tracing::warn!(error = %e, "dtmf refused");
                        }
                        s.drain();
                        s.flow_event(tympan_flow::Event::Dtmf { digit: d });
                    }
                    Inbound::PlaybackDone => {
                        if let Some((id, ms)) = awaiting.take() {
                            let now = s.clock_ms();
                            s.record_action(json!({"action": "play", "ms": ms, "mark_received": true}));
                            s.call.playback_finished(id, now);
                            s.drain();
                        }
                    }
                    Inbound::Ignored => {}
                    Inbound::RemoteHangup => {
                        let now = s.clock_ms();
                        s.call.signal(Signal::RemoteHangup, now);
                        s.drain();
                        break;
                    }
                    Inbound::End => break,
                    Inbound::Error(code, reason) => {
                        tracing::warn!(code, %reason, "protocol error");
                        out.close(code, &reason).await;
                        break;
                    }
                }
            }
        }
    }
    s.finish();
    if s.flow.as_ref().is_some_and(|f| !f.is_finished()) {
        // The call ended under the flow (hang-up, end of stream, shutdown).
        s.flow_event(tympan_flow::Event::RemoteHangup);
        run_flow_actions(&state, &mut s, &out, &itx, &mut outstanding);
    }
    for (_, play) in s.flow_plays.drain() {
        play.abort();
    }
    if let Some((_, ms)) = awaiting.take() {
        s.record_action(json!({"action": "play", "ms": ms, "mark_received": false}));
    }
    // Let running actions (playback to a closed peer, a hang-up request) report.
    let drain_until = Instant::now() + ACTION_DRAIN;
    while outstanding > 0 {
        match tokio::time::timeout_at(drain_until, irx.recv()).await {
            Ok(Some(Internal::Played(_, outcome))) => {
                outstanding -= 1;
                if let Some(v) = play_record(&outcome) {
                    s.record_action(v);
                }
            }
            Ok(Some(Internal::Action(v))) | Ok(Some(Internal::FlowEvent(_, v))) => {
                outstanding -= 1;
                s.record_action(v);
            }
            Ok(Some(Internal::FlowPlayed(_, _))) => outstanding -= 1,
            Ok(None) | Err(_) => break,
        }
    }
    // The end messages are numbered and kept in the ended record before any subscriber sees
    // them, so a subscriber reading the call on `call_end` finds it ended, with `call_end`.
    let end_msgs = std::mem::take(&mut s.end_msgs);
    let mut last = None;
    state.publish_then(&s.call_id, &end_msgs, true, |published| {
        {
            let mut r = lock(&s.live.record);
            for m in published.iter().filter(|m| m.get("type").is_some()) {
                if s.kept_events < MAX_EVENTS_PER_CALL {
                    s.kept_events += 1;
                    r.events.push(m.clone());
                } else {
                    r.events_dropped += 1;
                }
            }
        }
        last = Some(state.calls.end(&s.live));
    });
    if let Some(last) = last {
        state.writer.send(Write::Call(last.row()));
    }
    tracing::info!(audio_ms = s.call.audio_ms(), "call ended");
}

/// Carry out the core's pending actions: playbacks and hang-ups run in their own tasks and
/// report back through `itx`.
fn run_actions<O: MediaOut>(
    state: &Arc<AppState>,
    s: &mut Session,
    out: &O,
    itx: &mpsc::Sender<Internal>,
    outstanding: &mut usize,
) {
    run_flow_actions(state, s, out, itx, outstanding);
    while let Some(action) = s.call.poll_action() {
        match action {
            Action::Play { id, prompt } => {
                *outstanding += 1;
                spawn_play(
                    state,
                    s.call.config().sample_rate,
                    id,
                    prompt,
                    out,
                    itx.clone(),
                );
            }
            Action::Hangup { reason } => {
                *outstanding += 1;
                tracing::info!(%reason, "hanging up");
                spawn_hangup(state, out, itx.clone());
            }
            Action::StopPlayback { id } => {
                s.record_action(json!({"action": "stop_playback", "id": id,
                                       "error": "not supported by this transport"}));
            }
            Action::SendDtmf { digits } => {
                *outstanding += 1;
                spawn_send_dtmf(out, digits, itx.clone());
            }
        }
    }
}

/// Carry out the flow's pending actions. Prompts play in their own tasks (aborted on
/// barge-in) and report back through `itx`; recognition and recording run inside the runner.
fn run_flow_actions<O: MediaOut>(
    state: &Arc<AppState>,
    s: &mut Session,
    out: &O,
    itx: &mpsc::Sender<Internal>,
    outstanding: &mut usize,
) {
    let Some(setup) = s.flow_setup.clone() else {
        return;
    };
    loop {
        let Some(action) = s.flow.as_mut().and_then(FlowRunner::poll_action) else {
            return;
        };
        match action {
            RunnerAction::Flow(FlowAction::Play { id, prompt, .. }) => {
                *outstanding += 1;
                let rate = s.call.config().sample_rate;
                let (setup, out, itx) = (setup.clone(), out.clone(), itx.clone());
                let media_dir = state.config.media_dir.clone();
                let task = tokio::spawn(
                    async move {
                        let rendered = tokio::task::spawn_blocking(move || {
                            setup.render(&prompt, rate, &media_dir)
                        })
                        .await
                        .unwrap_or_else(|e| Err(format!("prompt rendering failed: {e}")));
                        let outcome = play_rendered(&out, rendered, "prompt").await;
                        let _ = itx.send(Internal::FlowPlayed(id, outcome)).await;
                    }
                    .in_current_span(),
                );
                s.flow_plays.insert(id, task.abort_handle());
            }
            RunnerAction::Flow(FlowAction::StopPlayback { id }) => {
                // Barge-in: the task stops sending frames; it will not report.
                if let Some(play) = s.flow_plays.remove(&id) {
                    play.abort();
                    *outstanding -= 1;
                    s.record_action(json!({"action": "stop_playback", "flow_prompt": id}));
                }
            }
            RunnerAction::Flow(FlowAction::Hangup { reason }) => {
                *outstanding += 1;
                tracing::info!(%reason, "flow hangs up");
                spawn_hangup(state, out, itx.clone());
            }
            RunnerAction::Flow(FlowAction::HttpRequest {
                id,
                url,
                headers,
                body,
                timeout_ms,
            }) => {
                *outstanding += 1;
                let (http, itx) = (state.http.clone(), itx.clone());
                tokio::spawn(
                    async move {
                        let mut req = http
                            .post(&url)
                            .timeout(Duration::from_millis(timeout_ms))
                            .header("content-type", "application/json")
                            .body(body.to_string());
                        for (k, v) in headers {
                            req = req.header(k, v);
                        }
                        let (event, log) = match req.send().await {
                            Ok(resp) => {
                                let status = resp.status().as_u16();
                                let body = read_capped(resp, MAX_WEBHOOK_RESPONSE_BYTES)
                                    .await
                                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
                                (
                                    tympan_flow::Event::HttpResponse { id, status, body },
                                    json!({"action": "flow_http", "url": url, "status": status}),
                                )
                            }
                            Err(e) => (
                                tympan_flow::Event::HttpFailed {
                                    id,
                                    reason: e.to_string(),
                                },
                                json!({"action": "flow_http", "url": url, "error": e.to_string()}),
                            ),
                        };
                        let _ = itx.send(Internal::FlowEvent(event, log)).await;
                    }
                    .in_current_span(),
                );
            }
            RunnerAction::Flow(FlowAction::Transfer { id, to, .. }) => {
                let reason = "transfers are not supported on this transport yet".to_string();
                s.record_action(json!({"action": "transfer", "to": to, "error": reason}));
                s.flow_event(tympan_flow::Event::TransferFinished {
                    id,
                    ok: false,
                    reason: Some(reason),
                });
            }
            RunnerAction::Flow(FlowAction::Extension { id, block_type, .. }) => {
                s.flow_event(tympan_flow::Event::ExtensionResult {
                    id,
                    ok: false,
                    value: json!(format!("no `{block_type}` block runs on this server")),
                });
            }
            RunnerAction::Flow(FlowAction::Finished {
                outcome,
                attributes,
            }) => {
                let trace = s
                    .flow
                    .as_ref()
                    .map(|f| serde_json::to_value(f.trace()).unwrap_or_default());
                s.record_action(json!({"action": "flow", "flow": setup.flow.id(),
                    "outcome": outcome, "attributes": attributes, "trace": trace}));
            }
            RunnerAction::Flow(other) => {
                // Recognition and recording are the runner's own; nothing else is left.
                tracing::warn!(action = other.kind(), "flow action not carried out");
            }
            RunnerAction::SaveRecording {
                key,
                wav,
                duration_ms,
                ..
            } => {
                *outstanding += 1;
                let objects =
                    tympan_store::objects::LocalObjects::new(state.config.data_dir.join("objects"));
                let itx = itx.clone();
                tokio::spawn(
                    async move {
                        use tympan_store::objects::ObjectStore;
                        let v = match objects.put(&key, &wav).await {
                            Ok(()) => json!({"action": "recording", "key": key,
                                             "bytes": wav.len(), "ms": duration_ms}),
                            Err(e) => json!({"action": "recording", "key": key,
                                             "error": e.to_string()}),
                        };
                        let _ = itx.send(Internal::Action(v)).await;
                    }
                    .in_current_span(),
                );
            }
        }
    }
}

/// Largest webhook response body a flow reads (a larger one counts as no JSON body).
pub const MAX_WEBHOOK_RESPONSE_BYTES: usize = 1024 * 1024;

/// The body of `resp` when it is at most `max` bytes; `None` past that or on a read error.
async fn read_capped(mut resp: reqwest::Response, max: usize) -> Option<Vec<u8>> {
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return None;
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.ok()? {
        if body.len() + chunk.len() > max {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}

/// Plays audio rendered for a `what` (message, prompt) through `out`; an empty rendering or a
/// rendering error is a failed playback.
async fn play_rendered<O: MediaOut>(
    out: &O,
    rendered: Result<Vec<i16>, String>,
    what: &str,
) -> PlayOutcome {
    match rendered {
        Ok(pcm) if pcm.is_empty() => PlayOutcome::Failed(format!("the {what} is empty")),
        Ok(pcm) => out.play(pcm).await,
        Err(e) => {
            tracing::warn!(error = %e, "{what} not rendered");
            PlayOutcome::Failed(e)
        }
    }
}

fn spawn_play<O: MediaOut>(
    state: &Arc<AppState>,
    rate: u32,
    id: u64,
    prompt: Prompt,
    out: &O,
    itx: mpsc::Sender<Internal>,
) {
    let state = state.clone();
    let out = out.clone();
    let action = match prompt {
        Prompt::Say { text } => BeepAction {
            say: Some(text),
            ..Default::default()
        },
        Prompt::File { path } => BeepAction {
            play_wav: Some(path),
            ..Default::default()
        },
    };
    tokio::spawn(
        async move {
            let rendered = crate::playback::render(
                &action,
                rate,
                &state.config.espeak,
                &state.config.media_dir,
            )
            .await;
            let outcome = play_rendered(&out, rendered, "message").await;
            let _ = itx.send(Internal::Played(id, outcome)).await;
        }
        .in_current_span(),
    );
}

fn spawn_send_dtmf<O: MediaOut>(out: &O, digits: String, itx: mpsc::Sender<Internal>) {
    let out = out.clone();
    tokio::spawn(
        async move {
            let v = match out.send_dtmf(digits.clone()).await {
                Ok(via) => json!({"action": "send_dtmf", "digits": digits, "via": via}),
                Err(e) => json!({"action": "send_dtmf", "digits": digits, "error": e}),
            };
            let _ = itx.send(Internal::Action(v)).await;
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
