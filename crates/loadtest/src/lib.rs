//! A load generator for `tympan serve`: N concurrent Vonage media websocket calls on loopback,
//! streaming recordings at real-time pace (20 ms frames of `audio/l16`), with a ramp-up, a
//! duration and a bound on the number of calls, so a run always ends by itself.
//!
//! One `/v1/events` subscriber (with `Authorization: Bearer TOKEN` when a token is given)
//! routes each event to its call. Figures:
//! - **decision latency**: for each call's `result` event, the wall time it arrived minus the
//!   wall time the frame holding the audio up to the event's `at_ms` was handed to the socket;
//! - **lag**: the same difference for every `result` and `beep` event (p99 over all);
//! - **event lag**: the same for every detector event with an `at_ms` (speech start/end,
//!   human/machine, ...), whose `at_ms` may lie before the audio that revealed it;
//! - **end lag**: for each call, the wall time its `call_end` arrived minus the wall time its
//!   last frame was handed to the socket: how far behind the server's processing of that
//!   call's audio was when the audio stopped. Unlike the two figures above it holds no
//!   algorithmic delay (verdicts of the greeting rules are stamped at the frame they were
//!   made on, which the detector sees `tympan_amd::MASK_DELAY_MS` = 200 ms late; beeps are
//!   stamped when heard), so it is the frame-processing lag proper;
//! - **send lag**: how late the generator itself sent frames against the 20 ms schedule (a
//!   large value means the generator, not the server, was short of CPU);
//! - server CPU (utime + stime from `/proc/PID/stat`) and RSS (`VmRSS`), sampled every second.
//!
//! Results whose audio had all been sent (the stream's end forced the decision) are counted
//! apart and left out of the latency figures.

pub mod clips;
pub mod procfs;

pub use clips::{load_dir, Clip};

use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// Frame length streamed, in ms (what Vonage sends).
pub const FRAME_MS: u64 = 20;
/// Bytes each websocket reads at a time.
const READ_BUFFER: usize = 4 * 1024;
/// Longest wait for a websocket connection (media or events).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for one frame to be accepted by the socket.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How often server and generator CPU/RSS are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Most concurrent calls a run opens.
pub const MAX_CONCURRENCY: usize = 100_000;
/// A slot starts no new call when less than this is left of the run (a call cut after a few
/// frames would end before its detector could decide anything).
pub const MIN_CALL_LEFT: Duration = Duration::from_secs(3);
/// File descriptors asked for beyond two per call (events socket, clips, stdio).
pub const SPARE_FDS: u64 = 64;

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The settings are unusable (the message names the setting).
    #[error("loadtest: {0}")]
    Config(String),
    /// Audio could not be read.
    #[error("loadtest clips: {0}")]
    Clips(String),
    /// The events websocket could not be opened.
    #[error("loadtest: events websocket {url}: {why}")]
    Events { url: String, why: String },
}

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// Media websocket URL, e.g. `ws://127.0.0.1:8080/v1/media/vonage`.
    pub media_url: String,
    /// Events websocket URL; by default the media URL's host with path `/v1/events`.
    pub events_url: String,
    /// Bearer token sent on control requests (`/v1/events`).
    pub token: Option<String>,
    /// Concurrent calls.
    pub concurrency: usize,
    /// Stream rate: 8000 or 16000.
    pub rate: u32,
    /// Calls start evenly spread over this time.
    pub ramp: Duration,
    /// After the ramp, calls keep being replaced (one call after the other per slot) for this
    /// long; audio still streaming then is cut.
    pub duration: Duration,
    /// Most calls started in the whole run.
    pub max_calls: usize,
    /// After a call's audio ends, how long to wait for its `result` and `call_end`.
    pub drain: Duration,
    /// Server process to sample (`None`: not sampled).
    pub server_pid: Option<u32>,
    /// Extra header fields sent to the media websocket (e.g. `amd` settings).
    pub header: Map<String, Value>,
    /// Call id prefix (ids are `PREFIX-SLOT-N`).
    pub call_id_prefix: String,
}

impl LoadConfig {
    /// Defaults for `media_url`: 100 calls at 16 kHz, 10 s ramp, 60 s, drain 10 s.
    pub fn new(media_url: &str) -> Result<Self, LoadError> {
        Ok(LoadConfig {
            media_url: media_url.to_owned(),
            events_url: events_url_for(media_url)?,
            token: None,
            concurrency: 100,
            rate: 16000,
            ramp: Duration::from_secs(10),
            duration: Duration::from_secs(60),
            max_calls: 1_000_000,
            drain: Duration::from_secs(10),
            server_pid: None,
            header: Map::new(),
            call_id_prefix: format!("lt{}", std::process::id()),
        })
    }

    fn check(&self) -> Result<(), LoadError> {
        if self.rate != 8000 && self.rate != 16000 {
            return Err(LoadError::Config(format!(
                "rate {}: 8000 or 16000",
                self.rate
            )));
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(LoadError::Config(format!(
                "concurrency {}: 1..={MAX_CONCURRENCY}",
                self.concurrency
            )));
        }
        for u in [&self.media_url, &self.events_url] {
            if !u.starts_with("ws://") {
                return Err(LoadError::Config(format!(
                    "url `{u}` must start with ws://"
                )));
            }
        }
        Ok(())
    }
}

/// The events URL on the same host as `media_url`: `ws://HOST/v1/events`.
pub fn events_url_for(media_url: &str) -> Result<String, LoadError> {
    let rest = media_url
        .strip_prefix("ws://")
        .ok_or_else(|| LoadError::Config(format!("url `{media_url}` must start with ws://")))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(LoadError::Config(format!("url `{media_url}` has no host")));
    }
    Ok(format!("ws://{host}/v1/events"))
}

/// The host port of a `ws://HOST:PORT/...` URL.
pub fn url_port(url: &str) -> Option<u16> {
    let rest = url.strip_prefix("ws://")?;
    let host = rest.split('/').next()?;
    host.rsplit_once(':')?.1.parse().ok()
}

/// Nearest-rank percentiles of a set of durations, in ms.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    /// Values.
    pub n: usize,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Percentiles {
    /// From values in ms (any order).
    pub fn of(mut v: Vec<f64>) -> Self {
        v.sort_by(f64::total_cmp);
        let q = |p: f64| -> Option<f64> {
            if v.is_empty() {
                return None;
            }
            let rank = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len());
            Some(v[rank - 1])
        };
        Percentiles {
            n: v.len(),
            p50: q(0.50),
            p90: q(0.90),
            p99: q(0.99),
            max: v.last().copied(),
        }
    }

    fn text(&self) -> String {
        let f = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.1}"));
        format!(
            "p50 {} p90 {} p99 {} max {} ms (n {})",
            f(self.p50),
            f(self.p90),
            f(self.p99),
            f(self.max),
            self.n
        )
    }
}

/// CPU and memory of one process over the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ProcFigures {
    /// Process id (`None`: this process).
    pub pid: Option<u32>,
    /// CPU use while every call was up (after the ramp, before the drain), in % of one core;
    /// over the whole run when that window had fewer than two samples.
    pub cpu_pct: f64,
    /// CPU use over the whole run, in % of one core.
    pub cpu_pct_run: f64,
    /// Largest resident set size seen, in MB.
    pub rss_mb_max: f64,
    /// Resident set size at the end, in MB.
    pub rss_mb_end: f64,
}

/// What a run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    pub concurrency: usize,
    pub rate: u32,
    pub ramp_s: f64,
    pub duration_s: f64,
    pub wall_s: f64,
    pub calls_started: usize,
    /// Calls whose audio was sent, socket closed cleanly, `result` and `call_end` received.
    pub calls_completed: usize,
    pub calls_failed: usize,
    /// Failure reasons and their counts.
    pub failures: BTreeMap<String, usize>,
    /// Most calls up at once.
    pub peak_concurrent: usize,
    /// Calls with a `result` event.
    pub results: usize,
    /// `answered_by` of the results.
    pub answered_by: BTreeMap<String, usize>,
    /// Results that came after all of the call's audio was sent (not in the latencies).
    pub results_at_stream_end: usize,
    pub decision_latency_ms: Percentiles,
    pub lag_ms: Percentiles,
    pub event_lag_ms: Percentiles,
    /// `call_end` arrival minus the last frame's send time, per call.
    pub end_lag_ms: Percentiles,
    pub send_lag_ms: Percentiles,
    /// Audio streamed, in seconds, over all calls.
    pub audio_s: f64,
    /// Events received on `/v1/events`.
    pub events_received: u64,
    /// Events the server said this subscriber missed (`lagged`).
    pub events_missed: u64,
    /// Events whose `at_ms` lay beyond the audio sent so far (should be 0).
    pub events_ahead_of_audio: u64,
    pub server: Option<ProcFigures>,
    pub generator: ProcFigures,
    pub nofile: Option<procfs::NofileLimit>,
}

impl Report {
    /// The report as text lines.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let mut line = |l: String| {
            s.push_str(&l);
            s.push('\n');
        };
        line(format!(
            "N {} concurrent calls at {} Hz, ramp {:.0} s, duration {:.0} s, wall {:.1} s, peak {} up",
            self.concurrency, self.rate, self.ramp_s, self.duration_s, self.wall_s, self.peak_concurrent
        ));
        line(format!(
            "calls started {} completed {} failed {} {:?}",
            self.calls_started, self.calls_completed, self.calls_failed, self.failures
        ));
        line(format!(
            "results {} {:?} ({} at stream end), audio {:.0} s",
            self.results, self.answered_by, self.results_at_stream_end, self.audio_s
        ));
        line(format!(
            "decision latency {}",
            self.decision_latency_ms.text()
        ));
        line(format!("lag (result+beep) {}", self.lag_ms.text()));
        line(format!("event lag (all)   {}", self.event_lag_ms.text()));
        line(format!("end lag (call_end) {}", self.end_lag_ms.text()));
        line(format!("generator send lag {}", self.send_lag_ms.text()));
        line(format!(
            "events received {} missed {} ahead-of-audio {}",
            self.events_received, self.events_missed, self.events_ahead_of_audio
        ));
        let p = |name: &str, f: &ProcFigures| {
            format!(
                "{name} pid {}: CPU {:.1}% of a core while all calls up ({:.1}% over the run), RSS max {:.1} MB, end {:.1} MB",
                f.pid.map_or("self".into(), |p| p.to_string()),
                f.cpu_pct,
                f.cpu_pct_run,
                f.rss_mb_max,
                f.rss_mb_end
            )
        };
        match &self.server {
            Some(f) => line(p("server", f)),
            None => line("server: not sampled (no pid)".into()),
        }
        line(p("generator", &self.generator));
        if let Some(n) = &self.nofile {
            line(format!(
                "open-files limit: soft {} -> {} (hard {})",
                n.before, n.after, n.hard
            ));
        }
        s
    }
}

/// One event as routed to its call.
struct Ev {
    kind: String,
    at_ms: Option<u64>,
    answered_by: Option<String>,
    arrived: Instant,
}

type Routes = Mutex<HashMap<String, mpsc::UnboundedSender<Ev>>>;

#[derive(Default)]
struct CallOutcome {
    failure: Option<String>,
    result: Option<String>,
    result_at_end: bool,
    decision_ms: Option<f64>,
    lags: Vec<f64>,
    event_lags: Vec<f64>,
    send_lags: Vec<f64>,
    end_lag: Option<f64>,
    audio_samples: usize,
    ahead: u64,
}

struct Ctx {
    cfg: LoadConfig,
    clips: Arc<Vec<Clip>>,
    routes: Routes,
    started: AtomicUsize,
    active: AtomicUsize,
    peak: AtomicUsize,
    t_start: Instant,
    t_stop: Instant,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn connect(
    url: &str,
    token: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    String,
> {
    let mut req = url.into_client_request().map_err(|e| e.to_string())?;
    if let Some(t) = token {
        let v = format!("Bearer {t}")
            .parse()
            .map_err(|_| "token is not a valid header value".to_string())?;
        req.headers_mut().insert("authorization", v);
    }
    // A small read buffer: tungstenite zero-fills it before every read (128 KiB by default).
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER);
    let connect = tokio_tungstenite::connect_async_with_config(req, Some(config), false);
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no connection within {CONNECT_TIMEOUT:?}")),
    }
}

/// Short failure class for the report (the first words of an error, without numbers).
fn failure_class(prefix: &str, e: &str) -> String {
    let short: String = e.chars().take(60).filter(|c| !c.is_ascii_digit()).collect();
    format!("{prefix}: {}", short.trim())
}

async fn one_call(ctx: &Ctx, slot: usize, n: usize, clip: &Clip) -> CallOutcome {
    let cfg = &ctx.cfg;
    let id = format!("{}-{slot}-{n}", cfg.call_id_prefix);
    let mut out = CallOutcome::default();
    let (tx, mut rx) = mpsc::unbounded_channel();
    ctx.routes.lock().unwrap().insert(id.clone(), tx);
    let ws = match connect(&cfg.media_url, None).await {
        Ok(ws) => ws,
        Err(e) => {
            ctx.routes.lock().unwrap().remove(&id);
            out.failure = Some(failure_class("connect", &e));
            return out;
        }
    };
    let (mut sink, mut stream) = ws.split();
    let mut header = cfg.header.clone();
    header.insert(
        "content-type".into(),
        json!(format!("audio/l16;rate={}", cfg.rate)),
    );
    header.insert("uuid".into(), json!(id));
    if let Err(e) = sink
        .send(Message::Text(Value::Object(header).to_string().into()))
        .await
    {
        ctx.routes.lock().unwrap().remove(&id);
        out.failure = Some(failure_class("header", &e.to_string()));
        return out;
    }
    let frame_len = (cfg.rate as u64 * FRAME_MS / 1000) as usize;
    let frames = clip.pcm.len().div_ceil(frame_len);
    let mut sent_at: Vec<Instant> = Vec::with_capacity(frames);
    let mut got_end = false;
    let t0 = Instant::now();
    let frame_of = |at_ms: u64| -> usize {
        let samples = (at_ms * cfg.rate as u64).div_ceil(1000) as usize;
        samples.div_ceil(frame_len).saturating_sub(1)
    };
    let on_event =
        |ev: Ev, out: &mut CallOutcome, sent_at: &[Instant], closing: bool, got_end: &mut bool| {
            match ev.kind.as_str() {
                "call_start" | "action" => return,
                "call_end" => {
                    *got_end = true;
                    if let Some(&last) = sent_at.last() {
                        out.end_lag = Some(ms(ev.arrived.saturating_duration_since(last)));
                    }
                    return;
                }
                _ => {}
            }
            let Some(at) = ev.at_ms else { return };
            let Some(&last) = sent_at.last() else { return };
            let i = frame_of(at);
            let sent = match sent_at.get(i) {
                Some(&t) => t,
                None => {
                    out.ahead += 1;
                    last
                }
            };
            let d = ms(ev.arrived.saturating_duration_since(sent));
            let all_sent = closing || (i + 1 >= frames);
            if ev.kind == "result" {
                out.result = Some(ev.answered_by.clone().unwrap_or_else(|| "?".into()));
                if all_sent {
                    out.result_at_end = true;
                } else {
                    out.decision_ms = Some(d);
                }
            }
            if all_sent {
                return;
            }
            if ev.kind == "result" || ev.kind == "beep" {
                out.lags.push(d);
            }
            out.event_lags.push(d);
        };
    let mut bytes = Vec::with_capacity(frame_len * 2);
    for (k, chunk) in clip.pcm.chunks(frame_len).enumerate() {
        let due = t0 + Duration::from_millis(FRAME_MS * k as u64);
        if due >= ctx.t_stop {
            break;
        }
        // Wait for the frame's time, handling server messages and events meanwhile.
        let ok = loop {
            tokio::select! {
                _ = tokio::time::sleep_until(due) => break true,
                ev = rx.recv() => if let Some(ev) = ev {
                    on_event(ev, &mut out, &sent_at, false, &mut got_end);
                },
                m = stream.next() => match m {
                    Some(Ok(Message::Close(f))) => {
                        let why = f.map(|f| format!("{} {}", u16::from(f.code), f.reason)).unwrap_or_default();
                        out.failure = Some(failure_class("closed by server", &why));
                        break false;
                    }
                    Some(Err(e)) => {
                        out.failure = Some(failure_class("receive", &e.to_string()));
                        break false;
                    }
                    None => {
                        out.failure = Some("closed by server: no close frame".into());
                        break false;
                    }
                    Some(Ok(_)) => {}
                },
            }
        };
        if !ok {
            break;
        }
        bytes.clear();
        bytes.extend(chunk.iter().flat_map(|s| s.to_le_bytes()));
        let now = Instant::now();
        out.send_lags.push(ms(now - due));
        sent_at.push(now);
        out.audio_samples += chunk.len();
        match tokio::time::timeout(
            SEND_TIMEOUT,
            sink.send(Message::Binary(bytes.clone().into())),
        )
        .await
        {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                out.failure = Some(failure_class("send", &e.to_string()));
                break;
            }
            Err(_) => {
                out.failure = Some(format!("send: not accepted within {SEND_TIMEOUT:?}"));
                break;
            }
        }
    }
    let closing = true;
    let _ = tokio::time::timeout(SEND_TIMEOUT, sink.send(Message::Close(None))).await;
    let drain_until = Instant::now() + cfg.drain;
    let mut stream_done = false;
    while !(got_end && stream_done) {
        tokio::select! {
            _ = tokio::time::sleep_until(drain_until) => break,
            ev = rx.recv() => match ev {
                Some(ev) => on_event(ev, &mut out, &sent_at, closing, &mut got_end),
                None => break,
            },
            m = stream.next(), if !stream_done => match m {
                Some(Ok(_)) => {}
                _ => stream_done = true,
            },
        }
    }
    ctx.routes.lock().unwrap().remove(&id);
    if out.failure.is_none() {
        if out.result.is_none() {
            out.failure = Some("no result event".into());
        } else if !got_end {
            out.failure = Some("no call_end event".into());
        }
    }
    out
}

async fn slot(ctx: Arc<Ctx>, slot: usize) -> Vec<CallOutcome> {
    let cfg = &ctx.cfg;
    let offset = cfg.ramp.mul_f64(slot as f64 / cfg.concurrency as f64);
    tokio::time::sleep_until(ctx.t_start + offset).await;
    let mut outs = Vec::new();
    let mut n = 0;
    while Instant::now() + MIN_CALL_LEFT < ctx.t_stop {
        if ctx.started.fetch_add(1, Ordering::Relaxed) >= cfg.max_calls {
            break;
        }
        let clip = &ctx.clips[(slot + n * 7919) % ctx.clips.len()];
        let up = ctx.active.fetch_add(1, Ordering::Relaxed) + 1;
        ctx.peak.fetch_max(up, Ordering::Relaxed);
        let o = one_call(&ctx, slot, n, clip).await;
        ctx.active.fetch_sub(1, Ordering::Relaxed);
        let failed = o.failure.is_some();
        outs.push(o);
        n += 1;
        if failed {
            // Do not hammer a refusing server: wait a frame before the next try.
            tokio::time::sleep(Duration::from_millis(FRAME_MS)).await;
        }
    }
    outs
}

struct EventCounts {
    received: u64,
    missed: u64,
}

async fn read_events(
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    ctx: Arc<Ctx>,
    mut stop: watch::Receiver<bool>,
) -> EventCounts {
    let (_sink, mut stream) = ws.split();
    let mut c = EventCounts {
        received: 0,
        missed: 0,
    };
    loop {
        let m = tokio::select! {
            _ = stop.changed() => break,
            m = stream.next() => m,
        };
        let arrived = Instant::now();
        let text = match m {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(_)) => continue,
            _ => break,
        };
        c.received += 1;
        let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let kind = v["type"].as_str().unwrap_or("").to_owned();
        if kind == "lagged" {
            c.missed += v["missed"].as_u64().unwrap_or(0);
            continue;
        }
        let Some(id) = v["call_id"].as_str() else {
            continue;
        };
        let tx = ctx.routes.lock().unwrap().get(id).cloned();
        if let Some(tx) = tx {
            let _ = tx.send(Ev {
                at_ms: v["at_ms"].as_u64(),
                answered_by: v
                    .pointer("/result/answered_by")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                kind,
                arrived,
            });
        }
    }
    c
}

struct Samples {
    v: Vec<(
        Instant,
        Option<procfs::ProcSample>,
        Option<procfs::ProcSample>,
    )>,
}

async fn sample_loop(pid: Option<u32>, mut stop: watch::Receiver<bool>) -> Samples {
    let mut s = Samples { v: Vec::new() };
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => {
                s.v.push((Instant::now(), pid.and_then(|p| procfs::sample(Some(p))), procfs::sample(None)));
                break;
            }
        }
        s.v.push((
            Instant::now(),
            pid.and_then(|p| procfs::sample(Some(p))),
            procfs::sample(None),
        ));
    }
    s
}

fn figures(
    pid: Option<u32>,
    pts: &[(Instant, procfs::ProcSample)],
    window: (Instant, Instant),
) -> ProcFigures {
    let cpu = |a: &(Instant, procfs::ProcSample), b: &(Instant, procfs::ProcSample)| {
        let dt = (b.0 - a.0).as_secs_f64();
        if dt > 0.0 {
            100.0 * (b.1.cpu_s - a.1.cpu_s) / dt
        } else {
            0.0
        }
    };
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    let (Some(first), Some(last)) = (pts.first(), pts.last()) else {
        return ProcFigures {
            pid,
            ..Default::default()
        };
    };
    let inside: Vec<_> = pts
        .iter()
        .filter(|(t, _)| *t >= window.0 && *t <= window.1)
        .collect();
    let run = cpu(first, last);
    let steady = match (inside.first(), inside.last()) {
        (Some(a), Some(b)) if inside.len() >= 2 => cpu(a, b),
        _ => run,
    };
    ProcFigures {
        pid,
        cpu_pct: steady,
        cpu_pct_run: run,
        rss_mb_max: mb(pts.iter().map(|p| p.1.rss_bytes).max().unwrap_or(0)),
        rss_mb_end: mb(last.1.rss_bytes),
    }
}

/// Run the load described by `cfg` with `clips` (at `cfg.rate`) and report. Raises the
/// open-files limit when the calls need more descriptors than the soft limit allows.
pub async fn run(cfg: LoadConfig, clips: Vec<Clip>) -> Result<Report, LoadError> {
    cfg.check()?;
    if clips.iter().all(|c| c.pcm.is_empty()) {
        return Err(LoadError::Clips("no audio to stream".into()));
    }
    let clips: Vec<Clip> = clips.into_iter().filter(|c| !c.pcm.is_empty()).collect();
    let nofile = procfs::raise_nofile(2 * cfg.concurrency as u64 + SPARE_FDS).ok();
    let events = connect(&cfg.events_url, cfg.token.as_deref())
        .await
        .map_err(|why| LoadError::Events {
            url: cfg.events_url.clone(),
            why,
        })?;
    let t_start = Instant::now();
    let t_stop = t_start + cfg.ramp + cfg.duration;
    let ctx = Arc::new(Ctx {
        clips: Arc::new(clips),
        routes: Mutex::new(HashMap::new()),
        started: AtomicUsize::new(0),
        active: AtomicUsize::new(0),
        peak: AtomicUsize::new(0),
        t_start,
        t_stop,
        cfg,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let reader = tokio::spawn(read_events(events, ctx.clone(), stop_rx.clone()));
    let sampler = tokio::spawn(sample_loop(ctx.cfg.server_pid, stop_rx));
    let slots: Vec<_> = (0..ctx.cfg.concurrency)
        .map(|i| tokio::spawn(slot(ctx.clone(), i)))
        .collect();
    let mut outs = Vec::new();
    for s in slots {
        outs.extend(s.await.unwrap_or_default());
    }
    let _ = stop_tx.send(true);
    let counts = reader.await.unwrap_or(EventCounts {
        received: 0,
        missed: 0,
    });
    let samples = sampler.await.unwrap_or(Samples { v: Vec::new() });
    let wall = t_start.elapsed();

    let cfg = &ctx.cfg;
    let mut r = Report {
        concurrency: cfg.concurrency,
        rate: cfg.rate,
        ramp_s: cfg.ramp.as_secs_f64(),
        duration_s: cfg.duration.as_secs_f64(),
        wall_s: wall.as_secs_f64(),
        calls_started: outs.len(),
        peak_concurrent: ctx.peak.load(Ordering::Relaxed),
        events_received: counts.received,
        events_missed: counts.missed,
        nofile,
        ..Default::default()
    };
    let (mut dec, mut lag, mut evl, mut snd) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut endl = Vec::new();
    let mut audio_samples = 0usize;
    for o in outs {
        audio_samples += o.audio_samples;
        r.events_ahead_of_audio += o.ahead;
        if let Some(a) = &o.result {
            r.results += 1;
            *r.answered_by.entry(a.clone()).or_default() += 1;
            if o.result_at_end {
                r.results_at_stream_end += 1;
            }
        }
        match o.failure {
            Some(f) => {
                r.calls_failed += 1;
                *r.failures.entry(f).or_default() += 1;
            }
            None => {
                r.calls_completed += 1;
                endl.extend(o.end_lag);
            }
        }
        dec.extend(o.decision_ms);
        lag.extend(o.lags);
        evl.extend(o.event_lags);
        snd.extend(o.send_lags);
    }
    r.audio_s = audio_samples as f64 / f64::from(cfg.rate);
    r.decision_latency_ms = Percentiles::of(dec);
    r.lag_ms = Percentiles::of(lag);
    r.event_lag_ms = Percentiles::of(evl);
    r.send_lag_ms = Percentiles::of(snd);
    r.end_lag_ms = Percentiles::of(endl);
    let window = (t_start + cfg.ramp, t_stop);
    let server: Vec<_> = samples
        .v
        .iter()
        .filter_map(|(t, s, _)| Some((*t, (*s)?)))
        .collect();
    let me: Vec<_> = samples
        .v
        .iter()
        .filter_map(|(t, _, m)| Some((*t, (*m)?)))
        .collect();
    r.server = cfg.server_pid.map(|p| figures(Some(p), &server, window));
    r.generator = figures(None, &me, window);
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let p = Percentiles::of((1..=100).rev().map(f64::from).collect());
        assert_eq!(
            (p.n, p.p50, p.p99, p.max),
            (100, Some(50.0), Some(99.0), Some(100.0))
        );
        let e = Percentiles::of(vec![]);
        assert_eq!((e.n, e.p50), (0, None));
        assert_eq!(Percentiles::of(vec![3.0]).p99, Some(3.0));
    }

    #[test]
    fn urls() {
        assert_eq!(
            events_url_for("ws://127.0.0.1:8080/v1/media/vonage").unwrap(),
            "ws://127.0.0.1:8080/v1/events"
        );
        assert!(events_url_for("http://x/").is_err());
        assert!(events_url_for("ws:///x").is_err());
        assert_eq!(url_port("ws://127.0.0.1:9001/v1/media/vonage"), Some(9001));
        assert_eq!(url_port("ws://localhost/x"), None);
    }

    #[test]
    fn settings_are_checked() {
        let mut c = LoadConfig::new("ws://127.0.0.1:1/v1/media/vonage").unwrap();
        c.rate = 44100;
        assert!(c.check().unwrap_err().to_string().contains("rate"));
        c.rate = 8000;
        c.concurrency = 0;
        assert!(c.check().unwrap_err().to_string().contains("concurrency"));
    }
}
