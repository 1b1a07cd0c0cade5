//! Outbound SIP calls over UDP: place one call, run the call core on its audio, report the
//! outcome. The building block of `tympan call` (and of campaigns).
//!
//! [`place_call`] resolves the destination (a SIP URI, `user@host`, or a number sent through
//! a trunk of `[sip.trunks]`), binds a SIP socket and an RTP port from `[sip]
//! rtp_port_min..=rtp_port_max`, and drives the sans-I/O UAC of
//! [`tympan_telephony::dialog::UserAgent`]: INVITE with an SDP offer (PCMU, PCMA,
//! telephone-event), one digest retry on 401/407 with the trunk's credentials, CANCEL on
//! timeout, ACK, BYE. The media path is the inbound SIP shell's ([`crate::transport::sip`]):
//! symmetric RTP, jitter buffer, RFC 4733 digits, 20 ms paced sending.
//!
//! - Early media (183 with SDP) runs through a call core with call-progress analysis only
//!   (ringback, busy, SIT, fax tones before the answer are call progress, not the callee):
//!   its tones are reported as `call_progress`.
//! - From the 200 OK on, the call runs in the one call loop ([`crate::call_task::run_call`],
//!   platform `sip`): AMD and the server's on-beep policy, events published and persisted like
//!   every call's; AMD times count from the answer.
//! - Every SIP message sent and received is the call's SIP trace in the store
//!   ([`crate::transport::sip_trace`]), also for calls that fail.
//!
//! The call ends when the callee hangs up, when [`CallRequest::timeout`] has passed since the
//! INVITE, once the AMD result is known with [`CallRequest::amd`] (after the on-beep policy's
//! message when one is configured), or once the [`CallRequest::play`] file was sent when AMD
//! does not end it.

use crate::call_task::{pace_frames, run_call, CallStart, Inbound, MediaIn, PlayOutcome};
use crate::calls::CallSettings;
use crate::registry::Found;
use crate::transport::sip::{
    log_other_event, rtp_task, send_info_dtmf, stop_media, Command, Control, MediaSockets,
    OsRandom, PortPool, SipIn, SipOut, ToMedia, MEDIA_QUEUE, RATE, SEND_QUEUE, TO_MEDIA_QUEUE,
};
use crate::transport::sip_trace::{Direction, SipTracer};
use crate::AppState;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tympan_telephony::dialog::{CallId, DialogEvent, Random, UaConfig, UserAgent};
use tympan_telephony::digest::Credentials;
use tympan_telephony::rtp::FRAME_SAMPLES;
use tympan_telephony::sdp::{Codec, LocalMedia, Negotiated};
use tympan_telephony::sip::{NameAddr, Uri};
use tympan_telephony::transaction::Transport;

/// `--timeout` when none is given: the whole call, from INVITE to hang-up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest `--timeout` accepted, in seconds.
pub const MAX_TIMEOUT_S: u64 = 4 * 3600;
/// After our CANCEL or BYE, how long we wait for the other side's answer before giving up.
pub const HANGUP_WAIT: Duration = Duration::from_secs(5);
/// After the `--play` file was sent, how long before hanging up (the last packets arrive).
pub const PLAY_TAIL: Duration = Duration::from_millis(500);
/// Largest `--play` file read, in bytes.
pub const MAX_PLAY_BYTES: u64 = 64 << 20;
/// Longest audio `--record` keeps, in seconds (later audio is not recorded).
pub const MAX_RECORD_S: usize = MAX_TIMEOUT_S as usize;
/// Early-media tones kept (in the outcome and the call's events) at most per call.
pub const MAX_EARLY_EVENTS: usize = 100;
/// Port of a SIP URI without one (RFC 3261 §19.1.2, UDP).
pub const SIP_PORT: u16 = 5060;

/// A trunk of `[sip.trunks.NAME]`: where outbound calls are sent and how to authenticate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Trunk {
    /// `sip:host[:port]`: the INVITE goes there; a destination that is not a URI becomes
    /// `sip:DESTINATION@host[:port]`.
    pub uri: String,
    /// Digest user name, answered on 401/407.
    #[serde(default)]
    pub username: Option<String>,
    /// Digest password.
    #[serde(default)]
    pub password: Option<String>,
    /// From URI of calls through the trunk (default `sip:USERNAME@host` or
    /// `sip:tympan@LOCAL_IP`).
    #[serde(default)]
    pub from: Option<String>,
}

impl Trunk {
    /// Checks the URI and the credentials; the error names `sip.trunks.NAME.<field>`.
    pub fn validate(&self, name: &str) -> Result<(), String> {
        sip_uri(&self.uri).map_err(|e| format!("sip.trunks.{name}.uri: {e}"))?;
        if self.username.is_some() != self.password.is_some() {
            return Err(format!(
                "sip.trunks.{name}: username and password go together (one is missing)"
            ));
        }
        if let Some(f) = &self.from {
            sip_uri(f).map_err(|e| format!("sip.trunks.{name}.from: {e}"))?;
        }
        Ok(())
    }

    fn credentials(&self) -> Option<Credentials> {
        Some(Credentials {
            username: self.username.clone()?,
            password: self.password.clone()?,
        })
    }
}

/// What to call and how.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// `sip:user@host[:port]`, `user@host[:port]`, or (with a trunk) a number or user.
    pub destination: String,
    /// A trunk name of `[sip.trunks]`, or a `sip:` URI to send the INVITE to.
    pub trunk: Option<String>,
    /// Our From URI.
    pub from: Option<String>,
    /// A WAV (any rate, any channels) played to the callee after the answer.
    pub play: Option<PathBuf>,
    /// Write the audio received after the answer here (WAV, 8 kHz, 16-bit).
    pub record: Option<PathBuf>,
    /// AMD in `detect_message_end` mode, and hang up once its result is known.
    pub amd: bool,
    /// Whole call limit, from the INVITE.
    pub timeout: Duration,
}

impl CallRequest {
    /// A call to `destination` with the defaults.
    pub fn new(destination: impl Into<String>) -> Self {
        CallRequest {
            destination: destination.into(),
            trunk: None,
            from: None,
            play: None,
            record: None,
            amd: false,
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// Why a call could not be attempted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboundError {
    /// A bad argument or setting (the message names it).
    #[error("{0}")]
    Input(String),
    /// Sockets, files or the store failed.
    #[error("{0}")]
    Io(String),
}

/// How the call went, as a word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered (2xx); the call core ran.
    Answered,
    /// A final error response (3xx-6xx), e.g. 486 Busy Here.
    Rejected,
    /// Provisional responses but no answer before the timeout: we cancelled (487).
    NoAnswer,
    /// No response at all before the timeout (or the transaction timed out: 408).
    Unreachable,
}

impl Outcome {
    /// The process exit code `tympan call` uses: 0 answered, 3 rejected, 4 no answer or
    /// unreachable (1 is an error before the call, 2 a bad argument).
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Answered => 0,
            Outcome::Rejected => 3,
            Outcome::NoAnswer | Outcome::Unreachable => 4,
        }
    }
}

/// The final result of one call (the JSON `tympan call --json` prints).
#[derive(Debug, Clone, Serialize)]
pub struct CallOutcome {
    /// Tympan's id of the call (`GET /v1/calls/{id}`).
    pub call_id: String,
    /// The SIP Call-ID.
    pub sip_call_id: String,
    /// The Request-URI called.
    pub target: String,
    /// `answered`, `rejected`, `no_answer` or `unreachable`.
    pub outcome: Outcome,
    /// The SIP final status (200, 486, 487, 408 ...).
    pub sip_status: u16,
    /// Its reason phrase.
    pub sip_reason: String,
    /// The AMD verdict (`human`, `machine_end_beep`, ...) when answered and known.
    pub answered_by: Option<String>,
    /// The beep that ended the greeting (`start_ms`, `end_ms`, `frequency_hz` ..., audio ms
    /// since the answer).
    pub beep: Option<Value>,
    /// DTMF digits received (RFC 4733), in order.
    pub digits: String,
    /// The AMD result as published.
    pub result: Option<Value>,
    /// Call-progress tones heard in early media (`tone` events).
    pub call_progress: Vec<Value>,
    /// Early media received before the answer, ms.
    pub early_media_ms: u64,
    /// INVITE sent → 200 OK received, ms.
    pub setup_ms: Option<u64>,
    /// Answer → end of the call, ms (0 when not answered).
    pub duration_ms: u64,
    /// Audio received after the answer and fed to the call core, ms.
    pub audio_ms: u64,
    /// Who ended an answered call: `remote` (BYE received) or `local`.
    pub ended_by: Option<&'static str>,
    /// Audio written by `--record`, ms.
    pub recorded_ms: Option<u64>,
    /// The contact flow's report when the server runs one (`--flow`): flow id, outcome,
    /// final attributes and the trace of every block with its timing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flow: Option<Value>,
}

fn sip_uri(s: &str) -> Result<Uri, String> {
    let u = Uri::parse(s)?;
    match &u {
        Uri::Sip(_) => Ok(u),
        _ => Err(format!("`{s}` is not a sip: URI")),
    }
}

/// Where the INVITE goes: its Request-URI, the host and port to send it to, and the trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Request-URI and To.
    pub target: Uri,
    /// Host (name or IP literal) and port the INVITE is sent to.
    pub next_hop: (String, u16),
    /// The trunk used, if any.
    pub trunk: Option<Trunk>,
}

/// Resolve `destination` and `trunk` (a name of `trunks` or a `sip:` URI) to a route. Errors
/// name the argument.
pub fn route(
    destination: &str,
    trunk: Option<&str>,
    trunks: &std::collections::BTreeMap<String, Trunk>,
) -> Result<Route, String> {
    let destination = destination.trim();
    if destination.is_empty() {
        return Err("DESTINATION is empty".into());
    }
    let trunk = match trunk {
        None => None,
        Some(t) if t.contains(':') => Some(Trunk {
            uri: t.to_owned(),
            username: None,
            password: None,
            from: None,
        }),
        Some(name) => Some(trunks.get(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = trunks.keys().map(String::as_str).collect();
            format!(
                "--trunk `{name}`: no such trunk in [sip.trunks] (known: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )
        })?),
    };
    let trunk_uri = match &trunk {
        Some(t) => Some(sip_uri(&t.uri).map_err(|e| format!("--trunk: {e}"))?),
        None => None,
    };
    let is_uri = destination.starts_with("sip:")
        || destination.starts_with("sips:")
        || destination.starts_with("tel:");
    let target = if is_uri {
        Uri::parse(destination).map_err(|e| format!("DESTINATION: {e}"))?
    } else if destination.contains('@') {
        sip_uri(&format!("sip:{destination}")).map_err(|e| format!("DESTINATION: {e}"))?
    } else {
        let Some(Uri::Sip(t)) = &trunk_uri else {
            return Err(format!(
                "DESTINATION `{destination}` is not a SIP URI or user@host; give --trunk to \
                 call a number"
            ));
        };
        let port = t.port.map(|p| format!(":{p}")).unwrap_or_default();
        sip_uri(&format!("sip:{destination}@{}{port}", t.host))
            .map_err(|e| format!("DESTINATION: {e}"))?
    };
    let hop_uri = match (&trunk_uri, &target) {
        (Some(t), _) => t.clone(),
        (None, Uri::Sip(_)) => target.clone(),
        (None, _) => {
            return Err(format!(
                "DESTINATION `{destination}` is a tel: URI: give --trunk to route it"
            ))
        }
    };
    let hop = hop_uri.as_sip().expect("checked to be a sip: URI");
    let host = match &hop.host {
        tympan_telephony::sip::Host::V6(a) => a.to_string(),
        h => h.to_string(),
    };
    Ok(Route {
        target,
        next_hop: (host, hop.port.unwrap_or(SIP_PORT)),
        trunk,
    })
}

/// Read a WAV (or any format the decoder knows) as 8 kHz mono 16-bit PCM.
pub fn load_play_file(path: &Path) -> Result<Vec<i16>, String> {
    let len = std::fs::metadata(path)
        .map_err(|e| format!("--play {}: {e}", path.display()))?
        .len();
    if len > MAX_PLAY_BYTES {
        return Err(format!(
            "--play {}: {len} bytes, larger than {MAX_PLAY_BYTES}",
            path.display()
        ));
    }
    let audio = tympan_audio::decode::read_file(path)
        .map_err(|e| format!("--play {}: {e}", path.display()))?;
    let mono = audio.downmix();
    let pcm = tympan_audio::resample::resample(&mono, audio.sample_rate, RATE)
        .map_err(|e| format!("--play {}: resampling: {e}", path.display()))?;
    Ok(pcm
        .iter()
        .map(|&x| tympan_audio::pcm::f32_to_i16(x))
        .collect())
}

/// The local address that routes to `dest` (no packet is sent).
fn local_ip_towards(dest: SocketAddr) -> IpAddr {
    if dest.ip().is_loopback() {
        return dest.ip();
    }
    let any: SocketAddr = if dest.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    std::net::UdpSocket::bind(any)
        .and_then(|s| {
            s.connect(dest)?;
            s.local_addr()
        })
        .map(|a| a.ip())
        .unwrap_or(any.ip())
}

/// Copies the audio going to the call core into a recording.
struct Recording<I> {
    inner: I,
    pcm: Option<Arc<Mutex<Vec<i16>>>>,
}

impl<I: MediaIn> MediaIn for Recording<I> {
    async fn next(&mut self) -> Inbound {
        let item = self.inner.next().await;
        if let (Inbound::Audio(p), Some(rec)) = (&item, &self.pcm) {
            let mut r = crate::registry::lock(rec);
            if r.len() < MAX_RECORD_S * RATE as usize {
                r.extend_from_slice(p);
            }
        }
        item
    }
}

/// Early media: an RTP task and a call core with call-progress analysis only.
struct Early {
    task: tokio::task::JoinHandle<()>,
    media: mpsc::Receiver<Inbound>,
    core: tympan_call::Call,
    started: Instant,
}

/// The answered call: its call loop and what it needs.
struct Answered {
    at: Instant,
    control: mpsc::Sender<Control>,
    to_media: mpsc::Sender<ToMedia>,
    media_task: tokio::task::JoinHandle<()>,
    call_task: tokio::task::JoinHandle<()>,
    play_done: Option<tokio::sync::oneshot::Receiver<PlayOutcome>>,
    hangup_at: Option<Instant>,
}

/// A media task on `socks` (RTCP too when `socks` has its socket and `call_id` is the
/// answered call's).
struct Media {
    task: tokio::task::JoinHandle<()>,
    inbound: mpsc::Receiver<Inbound>,
    frames: mpsc::Sender<Vec<i16>>,
    to_media: mpsc::Sender<ToMedia>,
}

fn start_rtp(
    state: &Arc<AppState>,
    socks: MediaSockets,
    call_id: Option<&str>,
    neg: &Negotiated,
) -> Media {
    let (media_tx, inbound) = mpsc::channel(MEDIA_QUEUE);
    let (frames, send_rx) = mpsc::channel::<Vec<i16>>(SEND_QUEUE);
    let (to_media, to_media_rx) = mpsc::channel(TO_MEDIA_QUEUE);
    let remote = SocketAddr::new(neg.remote_addr, neg.remote_port);
    let task = tokio::spawn(rtp_task(
        state.clone(),
        socks,
        call_id.map(str::to_owned),
        remote,
        neg.clone(),
        media_tx,
        send_rx,
        to_media_rx,
    ));
    Media {
        task,
        inbound,
        frames,
        to_media,
    }
}

/// Place one call and wait for its end (see the module docs). Errors are for calls that
/// could not be attempted; every call attempted gives a [`CallOutcome`], failed ones too.
pub async fn place_call(
    state: Arc<AppState>,
    req: CallRequest,
) -> Result<CallOutcome, OutboundError> {
    let input = OutboundError::Input;
    let io = OutboundError::Io;
    if req.timeout.is_zero() || req.timeout.as_secs() > MAX_TIMEOUT_S {
        return Err(input(format!(
            "--timeout must be between 1 and {MAX_TIMEOUT_S} s"
        )));
    }
    let sip_cfg = state.config.sip.clone();
    sip_cfg.validate().map_err(input)?;
    let route = route(&req.destination, req.trunk.as_deref(), &sip_cfg.trunks).map_err(input)?;
    let play = match &req.play {
        Some(p) => Some(load_play_file(p).map_err(input)?),
        None => None,
    };
    if let Some(r) = &req.record {
        // Fail before dialing rather than after the call.
        std::fs::write(r, b"").map_err(|e| input(format!("--record {}: {e}", r.display())))?;
    }
    let (host, port) = &route.next_hop;
    let dest = tokio::net::lookup_host((host.as_str(), *port))
        .await
        .map_err(|e| input(format!("{host}:{port}: {e}")))?
        .next()
        .ok_or_else(|| input(format!("{host}:{port}: no address")))?;
    let ip = local_ip_towards(dest);
    let sip = UdpSocket::bind(SocketAddr::new(ip, 0))
        .await
        .map_err(|e| io(format!("binding a SIP socket on {ip}: {e}")))?;
    let local = sip.local_addr().map_err(|e| io(e.to_string()))?;
    let socks = PortPool::new(&sip_cfg)
        .bind(ip)
        .await
        .map_err(|e| io(format!("no RTP port free in sip.rtp_port_min..max: {e}")))?;
    let rtp_port = socks.rtp_port().map_err(|e| io(e.to_string()))?;
    let from = req
        .from
        .clone()
        .or_else(|| route.trunk.as_ref().and_then(|t| t.from.clone()))
        .unwrap_or_else(|| {
            let user = route
                .trunk
                .as_ref()
                .and_then(|t| t.username.clone())
                .unwrap_or_else(|| "tympan".into());
            let host = match ip {
                IpAddr::V6(a) => format!("[{a}]"),
                IpAddr::V4(a) => a.to_string(),
            };
            format!("sip:{user}@{host}")
        });
    let from = sip_uri(&from).map_err(|e| input(format!("--from: {e}")))?;
    let mut ua = UserAgent::new(
        UaConfig {
            local_addr: local,
            transport: Transport::Udp,
            contact_user: "tympan".into(),
        },
        Box::new(OsRandom),
    );
    let media = LocalMedia {
        address: ip,
        port: rtp_port,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        session_id: OsRandom.next_u64() >> 1,
        session_version: 1,
    };
    let clock = Instant::now();
    let now_ms = move || clock.elapsed().as_millis() as u64;
    let call = ua
        .invite(
            tympan_telephony::dialog::OutboundCall {
                target: route.target.clone(),
                from: NameAddr::new(from),
                to: NameAddr::new(route.target.clone()),
                dest,
                media,
                credentials: route.trunk.as_ref().and_then(Trunk::credentials),
            },
            now_ms(),
        )
        .map_err(|e| io(format!("INVITE: {e}")))?;
    let sip_call_id = ua
        .dialog(call)
        .map(|d| d.call_id.clone())
        .unwrap_or_default();
    let call_id = uuid::Uuid::new_v4().to_string();
    let started_unix = crate::unix_ms();
    let mut tracer = SipTracer::new(state.writer.clone());
    tracer.bind(&sip_call_id, &call_id);
    tracing::info!(%call_id, %sip_call_id, target = %route.target, %dest, "placing SIP call");
    let mut out = CallOutcome {
        call_id: call_id.clone(),
        sip_call_id,
        target: route.target.to_string(),
        outcome: Outcome::Unreachable,
        sip_status: 0,
        sip_reason: String::new(),
        answered_by: None,
        beep: None,
        digits: String::new(),
        result: None,
        call_progress: Vec::new(),
        early_media_ms: 0,
        setup_ms: None,
        duration_ms: 0,
        audio_ms: 0,
        ended_by: None,
        recorded_ms: None,
        flow: None,
    };
    let deadline = clock + req.timeout;
    let recording = req
        .record
        .as_ref()
        .map(|_| Arc::new(Mutex::new(Vec::new())));
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Command>(16);
    let mut events = state.events.subscribe();
    let on_beep_configured = state.config.on_beep.is_some();
    let mut early: Option<Early> = None;
    // Early-media events published, not yet in the answered call's record.
    let mut early_events: Vec<Value> = Vec::new();
    let mut answered: Option<Answered> = None;
    let mut provisional = false;
    let mut dialog_over = false;
    let mut hanging_up: Option<Instant> = None;
    let mut buf = vec![0u8; crate::transport::sip::MAX_DATAGRAM];
    loop {
        loop {
            while let Some(t) = ua.poll_transmit() {
                let bytes = t.message.to_bytes();
                tracer.record(Direction::Sent, t.dest, &bytes, crate::unix_ms());
                if let Err(e) = sip.send_to(&bytes, t.dest).await {
                    tracing::warn!(error = %e, dest = %t.dest, "sip send failed");
                }
            }
            let Some((c, ev)) = ua.poll_event() else {
                break;
            };
            if c != call {
                continue;
            }
            tracing::debug!(event = ?ev, "outbound dialog event");
            match ev {
                DialogEvent::Ringing => provisional = true,
                DialogEvent::EarlyMedia(neg) => {
                    provisional = true;
                    if early.is_none() && answered.is_none() {
                        let Media {
                            task,
                            inbound: media,
                            ..
                        } = start_rtp(&state, socks.rtp_only(), None, &neg);
                        let mut cfg = tympan_call::CallConfig::new(&call_id, "sip", RATE);
                        cfg.amd = None;
                        cfg.call_progress = true;
                        match tympan_call::Call::new(cfg) {
                            Ok(core) => {
                                early = Some(Early {
                                    task,
                                    media,
                                    core,
                                    started: Instant::now(),
                                })
                            }
                            Err(e) => {
                                task.abort();
                                tracing::warn!(error = %e, "early media not analysed");
                            }
                        }
                    }
                }
                DialogEvent::Answered(neg) => {
                    out.outcome = Outcome::Answered;
                    out.sip_status = 200;
                    out.sip_reason = "OK".into();
                    out.setup_ms = Some(now_ms());
                    if let Some(e) = early.take() {
                        finish_early(&state, e, &call_id, &mut out, &mut early_events);
                    }
                    answered = Some(start_answered(
                        &state,
                        &call_id,
                        call,
                        &socks,
                        &neg,
                        req.amd,
                        play.clone(),
                        recording.clone(),
                        &cmd_tx,
                    ));
                }
                DialogEvent::Failed { code, reason } => {
                    if answered.is_none() {
                        out.outcome = match code {
                            487 if hanging_up.is_some() && provisional => Outcome::NoAnswer,
                            408 => Outcome::Unreachable,
                            _ => Outcome::Rejected,
                        };
                        out.sip_status = code;
                        out.sip_reason = reason;
                    }
                    dialog_over = true;
                }
                DialogEvent::Terminated { by_remote } => {
                    dialog_over = true;
                    if let Some(a) = &answered {
                        out.ended_by
                            .get_or_insert(if by_remote { "remote" } else { "local" });
                        let c = if by_remote {
                            Control::RemoteHangup
                        } else {
                            Control::Ended
                        };
                        let _ = a.control.try_send(c);
                    }
                }
                DialogEvent::Dtmf { digit, .. } => {
                    if let Some(a) = &answered {
                        let _ = a.control.try_send(Control::Dtmf(digit));
                    }
                }
                other => log_other_event(other),
            }
        }
        let call_done = answered.as_ref().is_none_or(|a| a.call_task.is_finished());
        if dialog_over && call_done {
            break;
        }
        if hanging_up.is_some_and(|t| Instant::now() >= t + HANGUP_WAIT) {
            tracing::warn!("no answer to our CANCEL/BYE: giving up");
            break;
        }
        let ua_wake = ua
            .poll_timeout()
            .map(|ms| clock + Duration::from_millis(ms))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let mut wake = ua_wake;
        if hanging_up.is_none() && !dialog_over {
            wake = wake.min(deadline);
        }
        if let Some(t) = hanging_up {
            wake = wake.min(t + HANGUP_WAIT);
        }
        if let Some(t) = answered.as_ref().and_then(|a| a.hangup_at) {
            wake = wake.min(t);
        }
        if dialog_over {
            // Only the call loop is left to finish.
            wake = wake.min(Instant::now() + Duration::from_millis(20));
        }
        let mut hang_up_now = false;
        tokio::select! {
            r = sip.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let bytes = &buf[..n];
                    if bytes.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ')) {
                        continue;
                    }
                    tracer.record(Direction::Received, from, bytes, crate::unix_ms());
                    if let Err(e) = ua.handle_datagram(bytes, from, Transport::Udp, now_ms()) {
                        tracing::warn!(%from, error = %e, "malformed SIP message");
                        if let Some(resp) = crate::transport::sip::error_response(bytes, &e) {
                            tracer.record(Direction::Sent, from, &resp, crate::unix_ms());
                            let _ = sip.send_to(&resp, from).await;
                        }
                    }
                }
                Err(e) => {
                    // ICMP port unreachable surfaces here on some systems.
                    tracing::debug!(error = %e, "sip receive failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(cmd) = cmd_rx.recv() => match cmd {
                Command::Hangup(_) => hang_up_now = true,
                Command::SendDtmf(_, digits) => send_info_dtmf(&mut ua, call, &digits, now_ms()),
            },
            item = async {
                match early.as_mut() {
                    Some(e) => e.media.recv().await,
                    None => std::future::pending().await,
                }
            } => {
                if let (Some(Inbound::Audio(pcm)), Some(e)) = (item, early.as_mut()) {
                    let t = e.started.elapsed().as_millis() as u64;
                    e.core.push_i16(&pcm, t);
                    collect_progress(&state, &mut e.core, &call_id, &mut out, &mut early_events);
                }
            },
            ev = events.recv() => match ev {
                Ok(p) if &*p.call_id == call_id.as_str() => {
                    if answered.is_some() {
                        early_into_record(&state, &call_id, &mut early_events);
                    }
                    if let (Some(a), Ok(v)) = (answered.as_mut(), serde_json::from_str::<Value>(&p.text)) {
                        if req.amd && amd_done(&v, on_beep_configured) {
                            a.hangup_at.get_or_insert_with(Instant::now);
                        }
                    }
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "outbound call missed events");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {}
            },
            r = async {
                match answered.as_mut().and_then(|a| a.play_done.as_mut()) {
                    Some(rx) => rx.await.ok(),
                    None => std::future::pending().await,
                }
            } => {
                if let Some(a) = answered.as_mut() {
                    a.play_done = None;
                    tracing::info!(outcome = ?r, "--play sent");
                    if !req.amd {
                        a.hangup_at.get_or_insert_with(|| Instant::now() + PLAY_TAIL);
                    }
                }
            },
            _ = tokio::time::sleep_until(wake) => {
                ua.handle_timeout(now_ms());
            }
        }
        let now = Instant::now();
        if answered
            .as_ref()
            .and_then(|a| a.hangup_at)
            .is_some_and(|t| now >= t)
        {
            hang_up_now = true;
        }
        if now >= deadline && hanging_up.is_none() && !dialog_over {
            tracing::info!(timeout = ?req.timeout, "call timeout");
            hang_up_now = true;
            if answered.is_none() && !provisional {
                // Nothing answered at all: nothing to cancel (§9.1 waits for a provisional).
                out.outcome = Outcome::Unreachable;
                out.sip_status = 408;
                out.sip_reason = "Request Timeout (no response)".into();
                break;
            }
        }
        if hang_up_now && hanging_up.is_none() && !dialog_over {
            if ua.dialog(call).is_some() {
                if let Err(e) = ua.hangup(call, now_ms()) {
                    tracing::debug!(error = %e, "hangup");
                }
            }
            if let Some(a) = answered.as_mut() {
                a.hangup_at = None;
                out.ended_by.get_or_insert("local");
            }
            hanging_up = Some(now);
        }
    }
    // Send what is left (the ACK of a final error, the last retransmission).
    while let Some(t) = ua.poll_transmit() {
        let bytes = t.message.to_bytes();
        tracer.record(Direction::Sent, t.dest, &bytes, crate::unix_ms());
        let _ = sip.send_to(&bytes, t.dest).await;
    }
    if let Some(e) = early.take() {
        finish_early(&state, e, &call_id, &mut out, &mut early_events);
    }
    if let Some(a) = answered.take() {
        let _ = a.control.try_send(Control::Ended);
        let _ = a.call_task.await;
        stop_media(&a.to_media, a.media_task).await;
        out.duration_ms = a.at.elapsed().as_millis() as u64;
        read_record(&state, &call_id, &mut out);
    } else {
        // No call loop ran: record the attempt so its trace has a call.
        let mut rec = crate::registry::CallRecord::new(call_id.clone(), "sip", RATE, started_unix);
        rec.state = "ended";
        rec.ended_at = Some(crate::unix_ms());
        state.writer.send(tympan_store::Write::Call(rec.row()));
    }
    if let (Some(path), Some(pcm)) = (&req.record, &recording) {
        let pcm = crate::registry::lock(pcm).clone();
        let samples: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
        out.recorded_ms = Some(samples.len() as u64 * 1000 / u64::from(RATE));
        let wav = tympan_audio::wav_write::encode_wav(
            &tympan_audio::Audio::mono(RATE, samples),
            tympan_audio::wav_write::Codec::Pcm16,
        );
        std::fs::write(path, wav).map_err(|e| io(format!("--record {}: {e}", path.display())))?;
    }
    if let Err(e) = state.writer.flush().await {
        return Err(io(format!("the store failed: {e}")));
    }
    tracing::info!(outcome = ?out.outcome, status = out.sip_status, answered_by = ?out.answered_by,
                   "outbound call over");
    Ok(out)
}

/// With `--amd`: the call can end once the result is known — on the `result` event, unless
/// an on-beep policy is configured and the result is a beep (then once its message played or
/// it hung up itself).
fn amd_done(v: &Value, on_beep_configured: bool) -> bool {
    match v["type"].as_str() {
        Some("result") => {
            let by = v["result"]["answered_by"]
                .as_str()
                .or(v["answered_by"].as_str())
                .unwrap_or_default();
            !(on_beep_configured && by == "machine_end_beep")
        }
        Some(k) if k.starts_with("playback_") => on_beep_configured,
        _ => false,
    }
}

/// Early-media tones (ringback, busy, SIT, fax...: call progress, not the callee): into the
/// outcome's `call_progress`, and published and stored with the call as `tone` events with
/// `"phase": "early_media"` (at most [`MAX_EARLY_EVENTS`]); `pending` keeps them for the
/// answered call's record ([`early_into_record`]).
fn collect_progress(
    state: &AppState,
    core: &mut tympan_call::Call,
    call_id: &str,
    out: &mut CallOutcome,
    pending: &mut Vec<Value>,
) {
    while let Some(ev) = core.poll_event() {
        if let tympan_call::CallEvent::Tone { .. } = ev {
            for mut v in ev.to_json(call_id) {
                if out.call_progress.len() >= MAX_EARLY_EVENTS {
                    tracing::warn!("early media: more than {MAX_EARLY_EVENTS} tones, not kept");
                    continue;
                }
                if let Some(o) = v.as_object_mut() {
                    o.insert("phase".into(), json!("early_media"));
                }
                pending.push(state.publish(call_id, &v, true));
                out.call_progress.push(v);
            }
        }
    }
}

fn finish_early(
    state: &AppState,
    mut e: Early,
    call_id: &str,
    out: &mut CallOutcome,
    pending: &mut Vec<Value>,
) {
    e.task.abort();
    let t = e.started.elapsed().as_millis() as u64;
    e.core.finish(t);
    out.early_media_ms = e.core.audio_ms();
    collect_progress(state, &mut e.core, call_id, out, pending);
}

/// The early-media events go first in the answered call's record (they were published
/// before its events) once the call loop has registered it.
fn early_into_record(state: &AppState, call_id: &str, pending: &mut Vec<Value>) {
    if pending.is_empty() {
        return;
    }
    if let Some(live) = state.calls.live(call_id) {
        let mut r = crate::registry::lock(&live.record);
        r.events.splice(0..0, pending.drain(..));
    }
}

#[allow(clippy::too_many_arguments)]
fn start_answered(
    state: &Arc<AppState>,
    call_id: &str,
    call: CallId,
    socks: &MediaSockets,
    neg: &Negotiated,
    amd: bool,
    play: Option<Vec<i16>>,
    recording: Option<Arc<Mutex<Vec<i16>>>>,
    cmd_tx: &mpsc::Sender<Command>,
) -> Answered {
    let Media {
        task: media_task,
        inbound,
        frames: send_tx,
        to_media,
    } = start_rtp(state, socks.clone(), Some(call_id), neg);
    let (ctl_tx, ctl_rx) = mpsc::channel(4);
    let input = Recording {
        inner: SipIn::new(inbound, ctl_rx, to_media.clone()),
        pcm: recording,
    };
    let output = SipOut {
        call,
        frames: send_tx.clone(),
        cmd: cmd_tx.clone(),
        telephone_event: neg.telephone_event.is_some(),
        to_media: to_media.clone(),
    };
    let mut settings = CallSettings::default();
    if amd {
        settings
            .amd
            .insert("mode".into(), json!("detect_message_end"));
    }
    let start = CallStart {
        call_id: call_id.to_owned(),
        platform: "sip",
        rate: RATE,
        settings,
    };
    let call_task = tokio::spawn(run_call(state.clone(), start, input, output));
    let play_done = play.map(|pcm| {
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let r = pace_frames(&pcm, FRAME_SAMPLES, |f| {
                let s = send_tx.clone();
                async move { s.send(f).await.is_ok() }
            })
            .await;
            let _ = tx.send(r);
        });
        rx
    });
    Answered {
        at: Instant::now(),
        control: ctl_tx,
        to_media,
        media_task,
        call_task,
        play_done,
        hangup_at: None,
    }
}

/// Fill the outcome from the call's closed record (result, beep, digits, audio).
fn read_record(state: &AppState, call_id: &str, out: &mut CallOutcome) {
    let rec: Option<Value> = match state.calls.get(call_id) {
        Some(Found::Ended(json)) => serde_json::from_str(&json).ok(),
        Some(Found::Live(r)) => serde_json::to_value(r).ok(),
        None => None,
    };
    let Some(rec) = rec else {
        tracing::warn!(%call_id, "the call's record is gone");
        return;
    };
    out.answered_by = rec["answered_by"].as_str().map(str::to_owned);
    out.result = rec.get("result").filter(|v| !v.is_null()).cloned();
    out.flow = rec["actions"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["action"] == "flow"))
        .cloned();
    out.audio_ms = rec["audio_ms"].as_u64().unwrap_or(0);
    let events = rec["events"].as_array().cloned().unwrap_or_default();
    out.digits = events
        .iter()
        .filter(|e| e["type"] == "dtmf")
        .filter_map(|e| e["digit"].as_str())
        .collect();
    out.beep = out
        .result
        .as_ref()
        .and_then(|r| r.get("beep"))
        .filter(|b| !b.is_null())
        .cloned()
        .or_else(|| {
            events
                .iter()
                .find(|e| e["type"] == "beep")
                .and_then(|e| e.get("beep"))
                .cloned()
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn trunks() -> BTreeMap<String, Trunk> {
        let mut m = BTreeMap::new();
        m.insert(
            "carrier".into(),
            Trunk {
                uri: "sip:10.0.0.5:5080".into(),
                username: Some("u".into()),
                password: Some("p".into()),
                from: None,
            },
        );
        m
    }

    #[test]
    fn destinations_and_trunks_route() {
        let r = route("sip:bob@127.0.0.1:5062", None, &trunks()).unwrap();
        assert_eq!(r.next_hop, ("127.0.0.1".into(), 5062));
        assert_eq!(r.target.to_string(), "sip:bob@127.0.0.1:5062");
        let r = route("bob@example.com", None, &trunks()).unwrap();
        assert_eq!(r.next_hop, ("example.com".into(), SIP_PORT));
        // A number through a named trunk: Request-URI at the trunk, credentials kept.
        let r = route("+15551234", Some("carrier"), &trunks()).unwrap();
        assert_eq!(r.target.to_string(), "sip:+15551234@10.0.0.5:5080");
        assert_eq!(r.next_hop, ("10.0.0.5".into(), 5080));
        assert_eq!(r.trunk.unwrap().username.as_deref(), Some("u"));
        // A URI destination through a trunk URI: sent to the trunk, Request-URI unchanged.
        let r = route("sip:bob@far.example", Some("sip:127.0.0.1:7000"), &trunks()).unwrap();
        assert_eq!(r.next_hop, ("127.0.0.1".into(), 7000));
        assert_eq!(r.target.to_string(), "sip:bob@far.example");
    }

    #[test]
    fn bad_routes_are_named() {
        let e = route("5551234", None, &trunks()).unwrap_err();
        assert!(e.contains("--trunk"), "{e}");
        let e = route("5551234", Some("nope"), &trunks()).unwrap_err();
        assert!(e.contains("`nope`") && e.contains("carrier"), "{e}");
        let e = route("tel:+1555", None, &trunks()).unwrap_err();
        assert!(e.contains("tel:"), "{e}");
        assert!(route(" ", None, &trunks()).unwrap_err().contains("empty"));
        let t = Trunk {
            uri: "http://x".into(),
            username: Some("u".into()),
            password: None,
            from: None,
        };
        assert!(t.validate("x").unwrap_err().contains("sip.trunks.x.uri"));
        let t = Trunk {
            uri: "sip:h".into(),
            ..t
        };
        assert!(t
            .validate("x")
            .unwrap_err()
            .contains("username and password"));
    }

    #[test]
    fn exit_codes_are_distinct() {
        assert_eq!(Outcome::Answered.exit_code(), 0);
        assert_eq!(Outcome::Rejected.exit_code(), 3);
        assert_eq!(Outcome::NoAnswer.exit_code(), 4);
        assert_eq!(Outcome::Unreachable.exit_code(), 4);
    }

    #[test]
    fn amd_ends_the_call_on_its_result_unless_the_policy_plays() {
        let r = json!({"type": "result", "result": {"answered_by": "machine_end_beep"}});
        assert!(amd_done(&r, false));
        assert!(!amd_done(&r, true));
        assert!(amd_done(&json!({"type": "playback_finished"}), true));
        let h = json!({"type": "result", "result": {"answered_by": "human"}});
        assert!(amd_done(&h, true));
        assert!(!amd_done(&json!({"type": "beep"}), false));
    }
}
