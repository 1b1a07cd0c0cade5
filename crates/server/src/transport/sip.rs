//! SIP over UDP (RFC 3261) as a transport of the call loop: a tokio shell around the sans-I/O
//! [`tympan_telephony::dialog::UserAgent`].
//!
//! One UDP socket carries signalling: every datagram goes to the user agent with the shell's
//! `now_ms`, every `poll_transmit` is sent, and the task sleeps until `poll_timeout`. An
//! incoming INVITE is answered at once (200 OK with an SDP answer: PCMU/PCMA plus
//! telephone-event) on an RTP socket taken from `[sip] rtp_port_min..=rtp_port_max`, and the
//! call runs in [`crate::call_task`]: inbound RTP → jitter buffer → 8 kHz PCM → call core,
//! RFC 4733 events → DTMF, playback → RTP packets at 20 ms pace. RTP is symmetric: we send to
//! the address packets come from (the SDP's address until the first packet). `Action::Hangup`
//! sends BYE; a remote BYE is `Signal::RemoteHangup`. Over `max_calls` (or the server's own
//! limit, or while draining) the INVITE gets 503; a request that does not parse gets the
//! parse error's status and reason phrase (`400 Bad CSeq`) when a response can be formed.
//! With `[sip.auth]` ([`super::sip_auth`]) an INVITE must carry valid digest credentials
//! (else 401 with a challenge). The media task counts RTP received, late, lost and dropped
//! in [`crate::metrics::RtpMetrics`].

use crate::call_task::{pace_frames, run_call, CallStart, Inbound, MediaIn, MediaOut, PlayOutcome};
use crate::calls::CallSettings;
use crate::metrics::{RtpMetrics, RTP_TICK_LATE_MS};
use crate::AppState;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tympan_telephony::dialog::{
    CallId, DialogEvent, Random, UaConfig, UserAgent, INFO_DTMF_DURATION_MS,
};
use tympan_telephony::rtp::dtmf::{
    event_to_digit, DigitQueue, DtmfReceiver, DtmfReport, DEFAULT_VOLUME,
};
use tympan_telephony::rtp::jitter::{JitterBuffer, JitterConfig, PushOutcome};
use tympan_telephony::rtp::quality::{RtcpAgent, SendStats};
use tympan_telephony::rtp::rtcp::RtcpError;
use tympan_telephony::rtp::{
    decode_payload, encode_payload, RtpPacket, RtpSender, SenderConfig, FRAME_SAMPLES,
};
use tympan_telephony::sdp::{Codec, LocalMedia, Negotiated};
use tympan_telephony::sip::ParseError;
use tympan_telephony::transaction::Transport;

use super::sip_trace::{Direction, SipTracer};

mod media_quality;
use media_quality::{ntp_now, QualityReporter};

/// Sample rate of G.711 calls.
pub const RATE: u32 = 8000;
/// Default first port of the RTP range.
pub const DEFAULT_RTP_PORT_MIN: u16 = 20_000;
/// Default last port of the RTP range.
pub const DEFAULT_RTP_PORT_MAX: u16 = 20_999;
/// Default limit of concurrent SIP calls.
pub const DEFAULT_MAX_CALLS: usize = 200;
/// Largest datagram read (RFC 3261 §18.1.1 keeps UDP messages well under this).
pub const MAX_DATAGRAM: usize = 65_535;
/// RTP packets queued from the socket task to the call loop before new ones are dropped
/// (2 s of 20 ms frames).
pub const MEDIA_QUEUE: usize = 100;
/// When no RTP packet arrived for this long, concealment frames are no longer fed to the
/// call (so the call loop's media stall timeout can end a call whose peer went silent).
pub const RTP_SILENCE_CUTOFF: Duration = Duration::from_secs(2);
/// Frames queued for sending (playback) before the player waits.
pub const SEND_QUEUE: usize = 16;

/// `[sip]` in the server's configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SipConfig {
    /// UDP address for SIP (`127.0.0.1:5060`); unset = no SIP.
    pub listen: Option<String>,
    /// First RTP port (one even RTP port and the odd RTCP port above it per call).
    pub rtp_port_min: u16,
    /// Last RTP port.
    pub rtp_port_max: u16,
    /// Concurrent SIP calls; more INVITEs get 503.
    pub max_calls: usize,
    /// `[sip.auth]`: digest credentials required on inbound INVITEs (none = open).
    pub auth: Option<super::sip_auth::SipAuthConfig>,
    /// Trunks for outbound calls (`tympan call --trunk NAME`), by name.
    pub trunks: std::collections::BTreeMap<String, crate::outbound::Trunk>,
    /// Transports served on `listen` (`["udp"]` by default; `"tcp"` adds SIP over TCP on the
    /// same address and port).
    pub transports: Vec<SipTransport>,
}

/// A SIP transport `tympan serve` can listen on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SipTransport {
    /// RFC 3261 §18 over UDP.
    Udp,
    /// RFC 3261 §18 over TCP (framed by Content-Length).
    Tcp,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: None,
            rtp_port_min: DEFAULT_RTP_PORT_MIN,
            rtp_port_max: DEFAULT_RTP_PORT_MAX,
            max_calls: DEFAULT_MAX_CALLS,
            auth: None,
            trunks: Default::default(),
            transports: vec![SipTransport::Udp],
        }
    }
}

impl SipConfig {
    /// Checks the port range; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        let even_min = u32::from(self.rtp_port_min) + u32::from(self.rtp_port_min % 2);
        if self.rtp_port_min == 0 || even_min + 1 > u32::from(self.rtp_port_max) {
            return Err(format!(
                "sip.rtp_port_min ({}) and sip.rtp_port_max ({}) must hold at least one even \
                 RTP port and the RTCP port above it",
                self.rtp_port_min, self.rtp_port_max
            ));
        }
        if self.max_calls == 0 {
            return Err("sip.max_calls must be at least 1".into());
        }
        if self.transports.is_empty() {
            return Err("sip.transports must name at least one of \"udp\", \"tcp\"".into());
        }
        for (i, t) in self.transports.iter().enumerate() {
            if self.transports[..i].contains(t) {
                return Err(format!("sip.transports lists {t:?} twice"));
            }
        }
        if let Some(a) = &self.auth {
            a.validate()?;
        }
        for (name, t) in &self.trunks {
            t.validate(name)?;
        }
        Ok(())
    }
}

/// Randomness for tags, branches and SSRCs, from the OS (through UUID v4).
pub(crate) struct OsRandom;

impl Random for OsRandom {
    fn next_u64(&mut self) -> u64 {
        uuid::Uuid::new_v4().as_u64_pair().0
    }
}

/// Requests from call tasks to the signalling task.
pub(crate) enum Command {
    /// Hang up (BYE, or nothing when the dialog already ended).
    Hangup(CallId),
    /// Send DTMF digits by SIP INFO (the peer has no telephone-event).
    SendDtmf(CallId, String),
}

/// What the signalling task tells a call.
pub(crate) enum Control {
    RemoteHangup,
    Ended,
    /// A digit received by SIP INFO.
    Dtmf(char),
}

/// Hands out RTP/RTCP port pairs from the configured range, round robin: RTP on an even
/// port, RTCP on the odd port above it (RFC 3550 §11).
pub(crate) struct PortPool {
    min: u16,
    max: u16,
    next: u16,
}

impl PortPool {
    pub(crate) fn new(cfg: &SipConfig) -> Self {
        let min = cfg.rtp_port_min + cfg.rtp_port_min % 2;
        PortPool {
            min,
            max: cfg.rtp_port_max,
            next: min,
        }
    }

    /// Binds the next free pair of the range on `ip`: (RTP on an even port, RTCP on the
    /// next one).
    pub(crate) async fn bind(&mut self, ip: IpAddr) -> std::io::Result<MediaSockets> {
        let pairs = u32::from(self.max.saturating_sub(self.min)).div_ceil(2);
        let mut last = None;
        for _ in 0..pairs {
            let port = self.next;
            self.next = if port >= self.max.saturating_sub(2) || port.checked_add(2).is_none() {
                self.min
            } else {
                port + 2
            };
            if port >= self.max {
                continue;
            }
            match bind_pair(ip, port).await {
                Ok(pair) => return Ok(pair),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("no RTP/RTCP port pair in the range")))
    }
}

async fn bind_pair(ip: IpAddr, port: u16) -> std::io::Result<MediaSockets> {
    let rtp = UdpSocket::bind(SocketAddr::new(ip, port)).await?;
    let rtcp = UdpSocket::bind(SocketAddr::new(ip, port + 1)).await?;
    Ok(MediaSockets {
        rtp: Arc::new(rtp),
        rtcp: Some(Arc::new(rtcp)),
    })
}

/// The sockets of a call's media: RTP, and RTCP on the port above it.
#[derive(Clone)]
pub(crate) struct MediaSockets {
    pub(crate) rtp: Arc<UdpSocket>,
    /// `None` runs RTP without RTCP (the early media of an outbound call: its RTCP starts
    /// with the answered call).
    pub(crate) rtcp: Option<Arc<UdpSocket>>,
}

impl MediaSockets {
    /// The same RTP socket without RTCP.
    pub(crate) fn rtp_only(&self) -> MediaSockets {
        MediaSockets {
            rtp: self.rtp.clone(),
            rtcp: None,
        }
    }

    /// The local RTP port.
    pub(crate) fn rtp_port(&self) -> std::io::Result<u16> {
        Ok(self.rtp.local_addr()?.port())
    }
}

/// Requests to a call's media task.
pub(crate) enum ToMedia {
    /// The call ends: send the RTCP BYE, leave the final figures in the record, then
    /// answer. RTCP stops; the task itself runs on (its playback queue open, so the call
    /// loop does not see the output as gone) until its owner aborts it
    /// ([`stop_media`]).
    Stop(tokio::sync::oneshot::Sender<()>),
    /// Send these digits as RFC 4733 events (one after the other).
    Dtmf(String),
}

/// How long the end of a call waits for its media task's BYE and final figures.
pub const MEDIA_STOP_WAIT: Duration = Duration::from_secs(1);
/// Requests queued to a media task.
pub const TO_MEDIA_QUEUE: usize = 8;
/// Signals (hang-ups, SIP INFO digits) queued to a call: room for a burst of INFO digits
/// without crowding out the hang-up behind them.
pub const CONTROL_QUEUE: usize = 64;

/// The signalling socket of one SIP listening address and transport.
pub enum Signalling {
    /// SIP over UDP: one socket, one message per datagram.
    Udp(UdpSocket),
    /// SIP over TCP: the connections of one listening address.
    Tcp(super::sip_tcp::TcpHub),
}

impl From<UdpSocket> for Signalling {
    fn from(s: UdpSocket) -> Self {
        Signalling::Udp(s)
    }
}

/// What one receive on a [`Signalling`] socket gave.
enum SigIn {
    /// A UDP datagram of this many bytes (in the receive buffer).
    Datagram(usize, SocketAddr),
    /// A framed message from a stream connection.
    Message(Box<tympan_telephony::sip::Message>, SocketAddr),
    /// A stream connection was closed because it could not be framed.
    Bad(SocketAddr, tympan_telephony::sip::StreamError),
    /// The socket failed (or the stream hub stopped).
    Failed(std::io::Error),
}

impl Signalling {
    /// The transport of this socket.
    pub fn transport(&self) -> Transport {
        match self {
            Signalling::Udp(_) => Transport::Udp,
            Signalling::Tcp(_) => Transport::Tcp,
        }
    }

    /// The listening address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match self {
            Signalling::Udp(s) => s.local_addr(),
            Signalling::Tcp(h) => Ok(h.local_addr()),
        }
    }

    /// Receives the next datagram or framed message (cancel-safe).
    async fn recv(&mut self, buf: &mut [u8]) -> SigIn {
        match self {
            Signalling::Udp(s) => match s.recv_from(buf).await {
                Ok((n, from)) => SigIn::Datagram(n, from),
                Err(e) => SigIn::Failed(e),
            },
            Signalling::Tcp(h) => match h.recv().await {
                Some(super::sip_tcp::TcpIn::Message { from, message }) => {
                    SigIn::Message(message, from)
                }
                Some(super::sip_tcp::TcpIn::Bad { from, error }) => SigIn::Bad(from, error),
                None => SigIn::Failed(std::io::Error::other("SIP/TCP hub stopped")),
            },
        }
    }

    /// Sends one message to `dest` (over TCP: queued on its connection, never waiting).
    async fn send(&self, bytes: &[u8], dest: SocketAddr) -> std::io::Result<()> {
        match self {
            Signalling::Udp(s) => s.send_to(bytes, dest).await.map(|_| ()),
            Signalling::Tcp(h) => {
                h.send(bytes.to_vec(), dest);
                Ok(())
            }
        }
    }
}

/// Bind the SIP sockets of `sip.listen` (one per entry of `sip.transports`, all on that
/// address) after checking the section; empty when `sip.listen` is unset.
pub async fn bind_configured(cfg: &SipConfig) -> std::io::Result<Vec<Signalling>> {
    let Some(addr) = &cfg.listen else {
        return Ok(Vec::new());
    };
    cfg.validate().map_err(std::io::Error::other)?;
    let mut out = Vec::new();
    for t in &cfg.transports {
        let named = |e: std::io::Error| {
            std::io::Error::new(e.kind(), format!("sip.listen {addr} ({t:?}): {e}"))
        };
        match t {
            SipTransport::Udp => {
                let s = UdpSocket::bind(addr).await.map_err(named)?;
                tracing::info!(addr = %s.local_addr()?, "sip listening (UDP)");
                out.push(Signalling::Udp(s));
            }
            SipTransport::Tcp => {
                // With UDP on port 0, TCP takes the port UDP got (one address for both).
                let at = match out.first().map(Signalling::local_addr) {
                    Some(Ok(a)) => a.to_string(),
                    _ => addr.clone(),
                };
                let l = tokio::net::TcpListener::bind(&at).await.map_err(named)?;
                tracing::info!(addr = %l.local_addr()?, "sip listening (TCP)");
                out.push(Signalling::Tcp(super::sip_tcp::TcpHub::new(l)?));
            }
        }
    }
    Ok(out)
}

/// A `400`/`505`/`513` for a request that did not parse, written by copying the request's
/// Via, From, To, Call-ID and CSeq lines (RFC 3261 §8.2.6.1); `None` when the datagram is
/// a response, not text, or lacks one of those headers (then it is dropped, §18.3).
pub fn error_response(bytes: &[u8], err: &ParseError) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let head = text.split("\r\n\r\n").next()?;
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    if first.starts_with("SIP/") || first.split(' ').count() < 3 {
        return None;
    }
    let wanted: [(&str, Option<&str>); 5] = [
        ("via", Some("v")),
        ("from", Some("f")),
        ("to", Some("t")),
        ("call-id", Some("i")),
        ("cseq", None),
    ];
    let mut copied: Vec<Vec<&str>> = vec![Vec::new(); wanted.len()];
    for line in lines {
        let Some((name, _)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        for (i, (long, short)) in wanted.iter().enumerate() {
            if name == *long || Some(name.as_str()) == *short {
                copied[i].push(line);
            }
        }
    }
    if copied.iter().any(|c| c.is_empty()) {
        return None;
    }
    let mut out = format!("SIP/2.0 {} {}\r\n", err.status_code(), err.reason_phrase());
    for c in copied {
        for l in c {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    Some(out.into_bytes())
}

/// The signalling task's per-call bookkeeping.
struct Leg {
    control: mpsc::Sender<Control>,
}

/// The calls of one signalling loop, counted in a total shared by every loop of the server
/// (so `sip.max_calls` bounds UDP and TCP calls together).
struct Legs {
    map: HashMap<CallId, Leg>,
    /// Late-offer calls answered with our offer, waiting for the ACK's answer (counted in
    /// `total` too).
    late: HashMap<CallId, MediaSockets>,
    total: Arc<AtomicUsize>,
}

impl Legs {
    fn insert(&mut self, call: CallId, leg: Leg) {
        if self.map.insert(call, leg).is_none() {
            self.total.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn remove(&mut self, call: &CallId) -> Option<Leg> {
        if self.late.remove(call).is_some() {
            self.total.fetch_sub(1, Ordering::Relaxed);
        }
        let leg = self.map.remove(call);
        if leg.is_some() {
            self.total.fetch_sub(1, Ordering::Relaxed);
        }
        leg
    }

    fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

/// Serve SIP on `socket` until `stop` resolves (then every live call is hung up).
pub async fn serve(
    socket: impl Into<Signalling>,
    state: Arc<AppState>,
    stop: impl std::future::Future<Output = ()>,
) {
    serve_one(socket.into(), state, Arc::default(), stop).await
}

/// Serve SIP on every socket of `sockets` (UDP and TCP), each with its own user agent, until
/// `stop` resolves; `sip.max_calls` counts the calls of all of them.
pub async fn serve_all(
    sockets: Vec<Signalling>,
    state: Arc<AppState>,
    stop: impl std::future::Future<Output = ()>,
) {
    let total: Arc<AtomicUsize> = Arc::default();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut loops = tokio::task::JoinSet::new();
    for sig in sockets {
        let mut rx = rx.clone();
        let stopped = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        loops.spawn(serve_one(sig, state.clone(), total.clone(), stopped));
    }
    tokio::pin!(stop);
    tokio::select! {
        _ = &mut stop => {
            let _ = tx.send(true);
        }
        _ = loops.join_next() => {
            let _ = tx.send(true);
        }
    }
    while loops.join_next().await.is_some() {}
}

async fn serve_one(
    mut sig: Signalling,
    state: Arc<AppState>,
    total: Arc<AtomicUsize>,
    stop: impl std::future::Future<Output = ()>,
) {
    let local = match sig.local_addr() {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "sip socket has no local address");
            return;
        }
    };
    let transport = sig.transport();
    let cfg = state.config.sip.clone();
    let mut ua = UserAgent::new(
        UaConfig {
            local_addr: local,
            transport,
            contact_user: "tympan".into(),
        },
        Box::new(OsRandom),
    );
    ua.set_invite_auth(cfg.auth.as_ref().map(|a| a.digest_server()));
    let mut ports = PortPool::new(&cfg);
    let mut legs = Legs {
        map: HashMap::new(),
        late: HashMap::new(),
        total,
    };
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<Command>(256);
    let started = Instant::now();
    let now_ms = move || started.elapsed().as_millis() as u64;
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut tracer = SipTracer::new(state.writer.clone());
    tokio::pin!(stop);
    let mut stopping = false;
    loop {
        // Send what the user agent wants sent, and act on its events (which may queue
        // more to send).
        loop {
            while let Some(t) = ua.poll_transmit() {
                let bytes = t.message.to_bytes();
                tracer.record(Direction::Sent, t.dest, &bytes, crate::unix_ms());
                if let Err(e) = sig.send(&bytes, t.dest).await {
                    tracing::warn!(error = %e, dest = %t.dest, "sip send failed");
                }
            }
            let Some((call, ev)) = ua.poll_event() else {
                break;
            };
            on_event(
                &state,
                &cfg,
                &mut ua,
                &mut ports,
                &mut legs,
                &cmd_tx,
                &mut tracer,
                local,
                call,
                ev,
                now_ms(),
            )
            .await;
        }
        if stopping && legs.map.is_empty() && legs.late.is_empty() {
            break;
        }
        let wake = ua
            .poll_timeout()
            .map(|ms| started + Duration::from_millis(ms))
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            _ = &mut stop, if !stopping => {
                stopping = true;
                let calls: Vec<CallId> =
                    legs.map.keys().chain(legs.late.keys()).copied().collect();
                for c in calls {
                    let _ = ua.hangup(c, now_ms());
                }
                if legs.map.is_empty() && legs.late.is_empty() {
                    break;
                }
            }
            r = sig.recv(&mut buf) => match r {
                SigIn::Datagram(n, from) => {
                    let bytes = &buf[..n];
                    if bytes.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ')) {
                        continue; // keep-alive
                    }
                    tracer.record(Direction::Received, from, bytes, crate::unix_ms());
                    if let Err(e) = ua.handle_datagram(bytes, from, Transport::Udp, now_ms()) {
                        tracing::warn!(%from, error = %e, "malformed SIP message");
                        if let Some(resp) = error_response(bytes, &e) {
                            tracer.record(Direction::Sent, from, &resp, crate::unix_ms());
                            let _ = sig.send(&resp, from).await;
                        }
                    }
                }
                SigIn::Message(m, from) => {
                    tracer.record(Direction::Received, from, &m.to_bytes(), crate::unix_ms());
                    ua.handle_message(*m, from, transport, now_ms());
                }
                SigIn::Bad(from, e) => {
                    tracing::warn!(%from, error = %e, "SIP stream closed: message not framed");
                }
                SigIn::Failed(e) => {
                    tracing::warn!(error = %e, "sip receive failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(cmd) = cmd_rx.recv() => match cmd {
                Command::Hangup(call) => {
                    if ua.dialog(call).is_some() {
                        if let Err(e) = ua.hangup(call, now_ms()) {
                            tracing::debug!(error = %e, "sip hangup");
                        }
                    }
                }
                Command::SendDtmf(call, digits) => send_info_dtmf(&mut ua, call, &digits, now_ms()),
            },
            _ = tokio::time::sleep_until(wake) => ua.handle_timeout(now_ms()),
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn on_event(
    state: &Arc<AppState>,
    cfg: &SipConfig,
    ua: &mut UserAgent,
    ports: &mut PortPool,
    legs: &mut Legs,
    cmd_tx: &mpsc::Sender<Command>,
    tracer: &mut SipTracer,
    local: SocketAddr,
    call: CallId,
    ev: DialogEvent,
    now: u64,
) {
    match ev {
        DialogEvent::Incoming(_) => {
            let live = state.calls.live_count();
            if legs.total() >= cfg.max_calls
                || live >= state.config.max_concurrent_calls
                || state.shutdown.draining()
            {
                tracing::warn!(
                    sip_calls = legs.total(),
                    live,
                    "INVITE refused with 503 (max_calls, max_concurrent_calls or draining)"
                );
                let _ = ua.reject(call, 503, now);
                return;
            }
            let socks = match ports.bind(local.ip()).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "no RTP port free: 503");
                    let _ = ua.reject(call, 503, now);
                    return;
                }
            };
            let rtp_port = match socks.rtp_port() {
                Ok(p) => p,
                Err(_) => {
                    let _ = ua.reject(call, 503, now);
                    return;
                }
            };
            let media = LocalMedia {
                address: local.ip(),
                port: rtp_port,
                codecs: vec![Codec::Pcmu, Codec::Pcma],
                session_id: OsRandom.next_u64() >> 1,
                session_version: 1,
            };
            let negotiated = match ua.accept(call, media, now) {
                Ok(Some(n)) => n,
                Ok(None) => {
                    // Late offer: our 200 OK carried the offer; the ACK brings the answer
                    // (`Confirmed`), and the call starts then.
                    legs.late.insert(call, socks);
                    legs.total.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "INVITE not accepted");
                    return;
                }
            };
            start_call(state, ua, legs, cmd_tx, tracer, call, socks, negotiated);
        }
        DialogEvent::Confirmed => {
            let Some(socks) = legs.late.remove(&call) else {
                return;
            };
            legs.total.fetch_sub(1, Ordering::Relaxed);
            match ua.dialog(call).and_then(|d| d.negotiated.clone()) {
                Some(n) => start_call(state, ua, legs, cmd_tx, tracer, call, socks, n),
                None => {
                    tracing::warn!("late offer: the ACK carried no usable SDP answer: BYE");
                    let _ = ua.hangup(call, now);
                }
            }
        }
        DialogEvent::Terminated { by_remote } => {
            if let Some(leg) = legs.remove(&call) {
                let c = if by_remote {
                    Control::RemoteHangup
                } else {
                    Control::Ended
                };
                let _ = leg.control.try_send(c);
            }
        }
        DialogEvent::Cancelled => {
            legs.remove(&call);
        }
        DialogEvent::Dtmf { digit, .. } => {
            if let Some(leg) = legs.map.get(&call) {
                if leg.control.try_send(Control::Dtmf(digit)).is_err() {
                    tracing::warn!(%digit, "call behind on its signals: INFO digit dropped");
                }
            }
        }
        other => log_other_event(other),
    }
}

/// Our INFO DTMF for `call` (the call loop's `SendDtmf` when no telephone-event).
pub(crate) fn send_info_dtmf(ua: &mut UserAgent, call: CallId, digits: &str, now_ms: u64) {
    if let Err(e) = ua.send_info_dtmf(call, digits, INFO_DTMF_DURATION_MS, now_ms) {
        tracing::warn!(error = %e, "DTMF by INFO not sent");
    }
}

/// Dialog events the shells only log.
pub(crate) fn log_other_event(ev: DialogEvent) {
    match ev {
        DialogEvent::InfoFailed {
            digit,
            code,
            reason,
        } => tracing::warn!(%digit, code, %reason, "DTMF INFO refused"),
        DialogEvent::Info { content_type, .. } => {
            tracing::debug!(?content_type, "SIP INFO without body")
        }
        other => tracing::debug!(event = ?other, "sip dialog event"),
    }
}

/// Starts the call loop of an answered call whose media is negotiated.
#[allow(clippy::too_many_arguments)]
fn start_call(
    state: &Arc<AppState>,
    ua: &UserAgent,
    legs: &mut Legs,
    cmd_tx: &mpsc::Sender<Command>,
    tracer: &mut SipTracer,
    call: CallId,
    socks: MediaSockets,
    negotiated: Negotiated,
) {
    let sip_call_id = ua
        .dialog(call)
        .map(|d| d.call_id.clone())
        .unwrap_or_default();
    let call_id = crate::ids::validate_id("Call-ID", &sip_call_id)
        .map(|()| sip_call_id.clone())
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string());
    tracer.bind(&sip_call_id, &call_id);
    let from = ua
        .dialog(call)
        .map(|d| d.remote.uri.to_string())
        .unwrap_or_default();
    tracing::info!(%call_id, %from, codec = ?negotiated.codec,
                   remote = %SocketAddr::new(negotiated.remote_addr, negotiated.remote_port),
                   rtp_port = socks.rtp_port().unwrap_or(0),
                   "SIP call answered");
    let (ctl_tx, ctl_rx) = mpsc::channel(CONTROL_QUEUE);
    legs.insert(call, Leg { control: ctl_tx });
    spawn_call(
        state.clone(),
        call_id,
        call,
        socks,
        negotiated,
        ctl_rx,
        cmd_tx.clone(),
    );
}

fn spawn_call(
    state: Arc<AppState>,
    call_id: String,
    call: CallId,
    socks: MediaSockets,
    negotiated: Negotiated,
    control: mpsc::Receiver<Control>,
    cmd_tx: mpsc::Sender<Command>,
) {
    let (media_tx, media_rx) = mpsc::channel(MEDIA_QUEUE);
    let (send_tx, send_rx) = mpsc::channel::<Vec<i16>>(SEND_QUEUE);
    let (to_media, to_media_rx) = mpsc::channel(TO_MEDIA_QUEUE);
    let remote = SocketAddr::new(negotiated.remote_addr, negotiated.remote_port);
    let telephone_event = negotiated.telephone_event.is_some();
    let media_task = tokio::spawn(rtp_task(
        state.clone(),
        socks,
        Some(call_id.clone()),
        remote,
        negotiated,
        media_tx,
        send_rx,
        to_media_rx,
    ));
    let input = SipIn::new(media_rx, control, to_media.clone());
    let out = SipOut {
        call,
        frames: send_tx,
        cmd: cmd_tx.clone(),
        telephone_event,
        to_media: to_media.clone(),
    };
    tokio::spawn(async move {
        let start = CallStart {
            call_id,
            platform: "sip",
            rate: RATE,
            settings: CallSettings::default(),
        };
        run_call(state, start, input, out).await;
        // However the call ended, make sure the dialog does too.
        let _ = cmd_tx.send(Command::Hangup(call)).await;
        stop_media(&to_media, media_task).await;
    });
}

/// Ends a media task: RTCP BYE and final figures if it still runs, then gone.
pub(crate) async fn stop_media(to_media: &mpsc::Sender<ToMedia>, task: JoinHandle<()>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    if to_media.try_send(ToMedia::Stop(tx)).is_ok() {
        let _ = tokio::time::timeout(MEDIA_STOP_WAIT, rx).await;
    }
    task.abort();
}

/// The RTCP half of a media task: the sans-I/O agent, where to send, and what the record
/// and metrics have seen.
struct Rtcp {
    sock: Arc<UdpSocket>,
    agent: RtcpAgent,
    /// The peer's RTCP address: `a=rtcp:` or RTP port + 1, then where its RTCP comes from.
    remote: SocketAddr,
    reporter: QualityReporter,
}

impl Rtcp {
    fn new(
        state: &Arc<AppState>,
        sock: Arc<UdpSocket>,
        call_id: Option<String>,
        ssrc: u32,
        remote: SocketAddr,
        now_ms: u64,
    ) -> Rtcp {
        let cname = format!("{:016x}@tympan", OsRandom.next_u64());
        Rtcp {
            sock,
            agent: RtcpAgent::new(ssrc, &cname, RATE, OsRandom.next_u64(), now_ms),
            remote,
            reporter: QualityReporter::new(state.clone(), call_id),
        }
    }

    async fn send(&mut self, bytes: Result<Vec<u8>, RtcpError>) {
        match bytes {
            Ok(b) => {
                if let Err(e) = self.sock.send_to(&b, self.remote).await {
                    tracing::debug!(error = %e, dest = %self.remote, "RTCP send failed");
                }
            }
            Err(e) => tracing::warn!(error = %e, "RTCP report not built"),
        }
        self.reporter.update(self.agent.quality(), false);
    }

    fn received(&mut self, data: &[u8], from: SocketAddr, now_ms: u64) {
        match self.agent.handle(data, now_ms, ntp_now()) {
            Ok(()) => {
                // Symmetric RTCP: answer where the peer's reports come from.
                self.remote = from;
                self.reporter.update(self.agent.quality(), true);
            }
            Err(e) => {
                tracing::debug!(%from, error = %e, "bad RTCP packet");
                self.reporter.update(self.agent.quality(), false);
            }
        }
    }
}

/// `true` for an RTCP packet multiplexed on the RTP port (RFC 5761 §4: payload type byte
/// 192-223).
fn is_rtcp(datagram: &[u8]) -> bool {
    datagram.len() >= 8 && (192..=223).contains(&datagram[1])
}

/// What we sent, for an SR: counts and the RTP timestamp of now (the last packet's,
/// advanced by the time since at 8 kHz).
fn send_stats(sender: &RtpSender, last_sent: Option<(Instant, u32)>) -> SendStats {
    SendStats {
        packets: sender.packets_sent(),
        octets: sender.octets_sent(),
        rtp_timestamp: media_timestamp(sender, last_sent),
    }
}

/// The RTP timestamp of now: the last audio packet's, advanced at 8 kHz since it went.
fn media_timestamp(sender: &RtpSender, last_sent: Option<(Instant, u32)>) -> u32 {
    match last_sent {
        Some((at, ts)) => ts.wrapping_add((at.elapsed().as_micros() as u64 * 8 / 1000) as u32),
        None => sender.next_timestamp(),
    }
}

/// RFC 4733 digits the media task sends: the queue and the timestamp of the current digit.
struct DigitsOut {
    queue: DigitQueue,
    payload_type: Option<u8>,
    digit_ts: u32,
}

impl DigitsOut {
    /// Packets due at `now_ms`, ready to send.
    fn due(
        &mut self,
        sender: &mut RtpSender,
        last_sent: Option<(Instant, u32)>,
        now_ms: u64,
    ) -> Vec<Vec<u8>> {
        let Some(pt) = self.payload_type else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while let Some(p) = self.queue.poll(now_ms) {
            if p.marker {
                self.digit_ts = media_timestamp(sender, last_sent);
            }
            match sender.packet(pt, p.marker, self.digit_ts, p.event.to_bytes().to_vec()) {
                Ok(b) => out.push(b),
                Err(e) => tracing::warn!(error = %e, "telephone-event packet not built"),
            }
        }
        out
    }
}

/// Owns the RTP and RTCP sockets: receives (symmetric RTP: the latest source becomes the
/// destination), decodes through the jitter buffer at a 20 ms cadence, reports RFC 4733
/// digits, sends playback frames, and runs RTCP (reports every ~5 s, the peer's reports
/// into the record, BYE on [`ToMedia::Stop`]).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn rtp_task(
    state: Arc<AppState>,
    socks: MediaSockets,
    call_id: Option<String>,
    mut remote: SocketAddr,
    neg: Negotiated,
    media: mpsc::Sender<Inbound>,
    mut frames: mpsc::Receiver<Vec<i16>>,
    mut to_media: mpsc::Receiver<ToMedia>,
) {
    let sock = socks.rtp;
    let mut sender = RtpSender::new(SenderConfig {
        ssrc: OsRandom.next_u64() as u32,
        initial_sequence: OsRandom.next_u64() as u16,
        initial_timestamp: OsRandom.next_u64() as u32,
        payload_type: neg.payload_type,
    });
    let mut jitter = CountedJitter {
        jb: JitterBuffer::new(JitterConfig::default()),
        state: state.clone(),
        lost_before: 0,
        received_base: 0,
    };
    let rtp_m = &state.metrics.rtp;
    let mut dtmf = DtmfReceiver::new();
    let mut ssrc: Option<u32> = None;
    let started = Instant::now();
    let clock = move || started.elapsed().as_millis() as u64;
    let mut rtcp = socks
        .rtcp
        .map(|s| Rtcp::new(&state, s, call_id, sender.ssrc(), neg.remote_rtcp, clock()));
    let mut last_sent: Option<(Instant, u32)> = None;
    let mut digits = DigitsOut {
        queue: DigitQueue::new(),
        payload_type: neg.telephone_event,
        digit_ts: 0,
    };
    let mut last_packet: Option<Instant> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut buf = vec![0u8; 2048];
    let mut rtcp_buf = vec![0u8; 2048];
    let mut frames_open = true;
    let mut ctl_open = true;
    loop {
        if media.is_closed() {
            // Nobody reads what we receive: the call (or its early media) is over.
            return;
        }
        let report_at = rtcp
            .as_ref()
            .and_then(|r| r.agent.poll_timeout())
            .map(|ms| started + Duration::from_millis(ms));
        let digit_at = digits
            .queue
            .poll_timeout()
            .map(|ms| started + Duration::from_millis(ms));
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let Ok((n, from)) = r else { continue };
                if is_rtcp(&buf[..n]) {
                    if let Some(r) = rtcp.as_mut() {
                        r.received(&buf[..n], from, clock());
                    }
                    continue;
                }
                let Ok(p) = RtpPacket::parse(&buf[..n]) else {
                    tracing::debug!(%from, "not an RTP packet");
                    continue;
                };
                remote = from;
                last_packet = Some(Instant::now());
                RtpMetrics::add(&rtp_m.received, 1);
                if ssrc != Some(p.ssrc) {
                    if ssrc.is_some() {
                        jitter.reset_source();
                    }
                    ssrc = Some(p.ssrc);
                }
                if p.payload_type != neg.payload_type {
                    // Events and other payloads use the stream's sequence numbers: received,
                    // not lost, in our RTCP reports.
                    jitter.jb.count_non_audio(p.sequence);
                }
                if Some(p.payload_type) == neg.telephone_event {
                    match dtmf.push(p.timestamp, &p.payload) {
                        Ok(reports) => {
                            for r in reports {
                                if let DtmfReport::Ended { event, .. } = r {
                                    if let Some(d) = event_to_digit(event) {
                                        let _ = media.try_send(Inbound::Dtmf(d));
                                    }
                                }
                            }
                        }
                        Err(e) => tracing::debug!(error = %e, "bad telephone-event"),
                    }
                } else if p.payload_type == neg.payload_type {
                    let pcm = decode_payload(neg.codec, &p.payload);
                    match jitter.jb.push(clock(), p.sequence, p.timestamp, &pcm) {
                        PushOutcome::Overflow => {
                            RtpMetrics::add(&rtp_m.overflow, 1);
                            tracing::debug!("jitter buffer overflow");
                        }
                        PushOutcome::Late => RtpMetrics::add(&rtp_m.late, 1),
                        PushOutcome::Buffered | PushOutcome::Duplicate => {}
                    }
                }
            }
            r = async {
                match rtcp.as_ref() {
                    Some(x) => x.sock.recv_from(&mut rtcp_buf).await,
                    None => std::future::pending().await,
                }
            } => {
                if let (Ok((n, from)), Some(x)) = (r, rtcp.as_mut()) {
                    x.received(&rtcp_buf[..n], from, clock());
                }
            }
            _ = async {
                match report_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            } => {
                if let Some(x) = rtcp.as_mut() {
                    let reception = ssrc.map(|s| (s, jitter.jb.reception()));
                    let stats = send_stats(&sender, last_sent);
                    if let Some(bytes) = x.agent.poll_report(clock(), ntp_now(), stats, reception) {
                        x.send(bytes).await;
                    }
                }
            }
            _ = async {
                match digit_at {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            } => {
                for b in digits.due(&mut sender, last_sent, clock()) {
                    let _ = sock.send_to(&b, remote).await;
                }
            }
            slot = tick.tick() => {
                if slot.elapsed() > Duration::from_millis(RTP_TICK_LATE_MS) {
                    RtpMetrics::add(&rtp_m.ticks_late, 1);
                }
                let fresh = last_packet.is_some_and(|t| t.elapsed() < RTP_SILENCE_CUTOFF);
                // One frame per tick: the jitter buffer plays out at the caller's cadence.
                if let Some(f) = jitter.jb.pull(clock()) {
                    if fresh && media.try_send(Inbound::Audio(f.pcm)).is_err() {
                        RtpMetrics::add(&rtp_m.frames_dropped, 1);
                        tracing::debug!("call loop behind: frame dropped");
                    }
                }
            }
            f = frames.recv(), if frames_open => match f {
                Some(pcm) => {
                    let payload = encode_payload(neg.codec, &pcm);
                    let ts = sender.next_timestamp();
                    if let Ok(bytes) = sender.audio(payload, pcm.len() as u32) {
                        let _ = sock.send_to(&bytes, remote).await;
                        last_sent = Some((Instant::now(), ts));
                    }
                }
                None => frames_open = false,
            },
            c = to_media.recv(), if ctl_open => match c {
                Some(ToMedia::Stop(done)) => {
                    if let Some(mut x) = rtcp.take() {
                        let reception = ssrc.map(|s| (s, jitter.jb.reception()));
                        let stats = send_stats(&sender, last_sent);
                        let bye = x.agent.bye(clock(), ntp_now(), stats, reception, Some("call ended"));
                        x.send(bye).await;
                        x.reporter.finish(x.agent.quality());
                    }
                    let _ = done.send(());
                }
                Some(ToMedia::Dtmf(d)) => {
                    if let Err(e) = digits.queue.push(&d, DEFAULT_VOLUME, RATE, clock()) {
                        tracing::warn!(error = %e, "RFC 4733 digits not sent");
                    }
                }
                None => ctl_open = false,
            },
        }
    }
}

/// The call's jitter buffer; when the media task ends (or is aborted) its lost-packet
/// count goes to `tympan_rtp_packets_lost_total`, over every SSRC the call had.
struct CountedJitter {
    jb: JitterBuffer,
    state: Arc<AppState>,
    /// Lost packets of the sources before the current one.
    lost_before: i64,
    /// Packets received before the current source (the buffer's counter spans sources).
    received_base: u64,
}

impl CountedJitter {
    /// A new SSRC: keep the finished source's loss, restart the timeline.
    fn reset_source(&mut self) {
        self.lost_before += self.source_lost();
        self.received_base = self.jb.stats().received;
        self.jb.reset();
    }

    /// Expected minus received for the current source.
    fn source_lost(&self) -> i64 {
        self.jb.stats().lost + self.received_base as i64
    }
}

impl Drop for CountedJitter {
    fn drop(&mut self) {
        let lost = (self.lost_before + self.source_lost()).max(0) as u64;
        RtpMetrics::add(&self.state.metrics.rtp.lost, lost);
    }
}

pub(crate) struct SipIn {
    media: mpsc::Receiver<Inbound>,
    control: mpsc::Receiver<Control>,
    to_media: Option<mpsc::Sender<ToMedia>>,
    /// The end of the call, held until the media task has sent its BYE and left its
    /// final figures in the record (kept here so that `next` stays cancel-safe).
    ending: Option<(Inbound, tokio::sync::oneshot::Receiver<()>)>,
}

impl SipIn {
    pub(crate) fn new(
        media: mpsc::Receiver<Inbound>,
        control: mpsc::Receiver<Control>,
        to_media: mpsc::Sender<ToMedia>,
    ) -> Self {
        SipIn {
            media,
            control,
            to_media: Some(to_media),
            ending: None,
        }
    }
}

impl MediaIn for SipIn {
    async fn next(&mut self) -> Inbound {
        if self.ending.is_none() {
            let end = tokio::select! {
                biased;
                c = self.control.recv() => match c {
                    Some(Control::RemoteHangup) => Inbound::RemoteHangup,
                    Some(Control::Dtmf(d)) => return Inbound::Dtmf(d),
                    Some(Control::Ended) | None => Inbound::End,
                },
                m = self.media.recv() => return m.unwrap_or(Inbound::End),
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            if let Some(m) = self.to_media.take() {
                let _ = m.try_send(ToMedia::Stop(tx));
            }
            self.ending = Some((end, rx));
        }
        if let Some((_, rx)) = self.ending.as_mut() {
            let _ = tokio::time::timeout(MEDIA_STOP_WAIT, rx).await;
        }
        self.ending.take().map_or(Inbound::End, |(end, _)| end)
    }
}

#[derive(Clone)]
pub(crate) struct SipOut {
    pub(crate) call: CallId,
    pub(crate) frames: mpsc::Sender<Vec<i16>>,
    pub(crate) cmd: mpsc::Sender<Command>,
    /// telephone-event was negotiated: DTMF goes as RFC 4733 events, else by INFO.
    pub(crate) telephone_event: bool,
    pub(crate) to_media: mpsc::Sender<ToMedia>,
}

impl MediaOut for SipOut {
    async fn play(&self, pcm: Vec<i16>) -> PlayOutcome {
        pace_frames(&pcm, FRAME_SAMPLES, |f| {
            let tx = self.frames.clone();
            async move { tx.send(f).await.is_ok() }
        })
        .await
    }

    async fn hangup(&self, _state: Arc<AppState>) -> Result<Option<u16>, String> {
        self.cmd
            .send(Command::Hangup(self.call))
            .await
            .map_err(|_| "SIP listener stopped".to_string())?;
        Ok(None)
    }

    async fn close(&self, code: u16, reason: &str) {
        tracing::info!(code, %reason, "ending SIP call (BYE)");
        let _ = self.cmd.send(Command::Hangup(self.call)).await;
    }

    async fn gone(&self) {
        self.frames.closed().await
    }

    async fn send_dtmf(&self, digits: String) -> Result<&'static str, String> {
        if self.telephone_event {
            self.to_media
                .send(ToMedia::Dtmf(digits))
                .await
                .map_err(|_| "the call's media ended".to_string())?;
            Ok("rfc4733")
        } else {
            self.cmd
                .send(Command::SendDtmf(self.call, digits))
                .await
                .map_err(|_| "SIP listener stopped".to_string())?;
            Ok("info")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tympan_telephony::sip::parse_datagram;

    #[test]
    fn bad_cseq_gets_400_naming_the_header() {
        let req =
            "INVITE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
                   From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: x1\r\n\
                   CSeq: nope INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n";
        let err = parse_datagram(req.as_bytes()).unwrap_err();
        let resp = error_response(req.as_bytes(), &err).expect("a response can be formed");
        let text = String::from_utf8(resp).unwrap();
        assert!(text.starts_with("SIP/2.0 400 Bad CSeq\r\n"), "{text}");
        assert!(text.contains("Call-ID: x1\r\n"), "{text}");
        assert!(text.contains("branch=z9hG4bK1"), "{text}");
        // A response that does not parse is never answered.
        assert!(error_response(b"SIP/2.0 200 OK\r\nCSeq: x\r\n\r\n", &err).is_none());
    }

    #[test]
    fn port_range_is_checked() {
        let mut c = SipConfig::default();
        assert!(c.validate().is_ok());
        c.rtp_port_min = 30_000;
        c.rtp_port_max = 20_000;
        assert!(c.validate().unwrap_err().contains("sip.rtp_port_min"));
    }
}
