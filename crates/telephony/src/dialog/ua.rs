//! A SIP user agent core: the transaction layer plus INVITE dialogs as UAS and UAC.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

use super::random::Random;
use super::register::{RegEvent, RegId, Registration};
use super::registrar::Registrar;
use crate::digest::{authorize, select_challenge, Credentials, DigestServer};
use crate::sdp::{self, Direction, LocalMedia, Negotiated, SdpError};
use crate::sip::{
    parse_datagram, CSeq, Header, Host, Message, Method, NameAddr, Param, ParseError, Request,
    SipUri, StartLine, Uri, Via, DEFAULT_MAX_FORWARDS,
};
use crate::transaction::{
    TransactionLayer, Transmit, Transport, TxError, TxEvent, TxId, T1_MS, T2_MS, TIMEOUT_MS,
};

/// Methods we answer, for `Allow`.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REFER, NOTIFY";
/// Body types we accept, for `Accept`.
pub const ACCEPT: &str = "application/sdp";
/// Option tags we support in `Require` (none: 420 for any).
pub const SUPPORTED: &[&str] = &[];
/// Reason of the [`DialogEvent::Failed`] (code 487) of an outbound call we hung up before
/// its answer when no final response came within 64*T1 of our CANCEL (RFC 3261 §9.1).
pub const GIVE_UP_REASON: &str = "Request Terminated (no final response 64*T1 after CANCEL)";
/// Peers whose view of our address (RFC 3581 `received`/`rport`) is remembered; responses
/// from further peers are not learnt from.
pub const MAX_MAPPED_PEERS: usize = 256;
/// Length of the tags, Call-ID and branch suffixes we generate (hex digits).
pub const TOKEN_HEX: usize = 16;

/// A call handle, one per dialog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// Which side of the dialog we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We sent the INVITE.
    Uac,
    /// We received it.
    Uas,
}

/// Dialog state (RFC 3261 §12), with `Calling` before any response with a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// UAC: INVITE sent, no provisional with a To tag yet. UAS: INVITE received, nothing
    /// but 100 sent.
    Calling,
    /// A provisional response with a To tag was sent or received.
    Early,
    /// 2xx sent or received (the UAS waits for the ACK in this state too).
    Confirmed,
    /// Ended.
    Terminated,
}

/// An inbound INVITE's identity and offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingCall {
    /// Caller.
    pub from: NameAddr,
    /// Callee.
    pub to: NameAddr,
    /// The Request-URI.
    pub request_uri: Uri,
    /// The SDP offer, if the INVITE carried one.
    pub offer: Option<Vec<u8>>,
    /// The digest-authenticated user, when [`UserAgent::set_invite_auth`] is configured.
    pub user: Option<String>,
}

/// What the user agent reports about a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogEvent {
    /// A new inbound INVITE: answer with [`UserAgent::ringing`], [`UserAgent::early_media`],
    /// [`UserAgent::accept`] or [`UserAgent::reject`] (503 when over the caller's limit).
    Incoming(Box<IncomingCall>),
    /// UAC: 180 Ringing (without SDP).
    Ringing,
    /// UAC: a provisional response (183) with an SDP answer: early media from the callee.
    EarlyMedia(Negotiated),
    /// UAC: the call was answered (2xx), ACK sent.
    Answered(Negotiated),
    /// UAS: the ACK of our 2xx arrived.
    Confirmed,
    /// UAC: the INVITE got a final error (3xx-6xx; 408 when the transaction timed out).
    Failed {
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
    /// UAS: the caller cancelled before we answered (we sent 200 to CANCEL and 487).
    Cancelled,
    /// The remote side put us on hold (re-INVITE with sendonly/inactive).
    Hold(Negotiated),
    /// The remote side took us off hold.
    Unhold(Negotiated),
    /// Our re-INVITE ([`UserAgent::reoffer`]) was answered: the new media state.
    Reoffered(Negotiated),
    /// Our re-INVITE was refused (491 glare, 488...) or timed out; the dialog goes on with
    /// the previous media.
    ReofferFailed {
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
    /// The other side asks us to call `refer_to` (REFER answered 202); report progress
    /// with [`UserAgent::notify_transfer`].
    TransferRequested {
        /// The Refer-To URI as written.
        refer_to: String,
    },
    /// Our REFER was accepted (2xx).
    TransferAccepted,
    /// Our REFER was refused or timed out.
    TransferFailed {
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
    /// A NOTIFY about our REFER: the status line of the transfer target's response.
    TransferProgress {
        /// Status code in the sipfrag.
        code: u16,
        /// Reason in the sipfrag.
        reason: String,
        /// The subscription ended (final status).
        done: bool,
    },
    /// An in-dialog INFO with a DTMF body (`application/dtmf-relay` or
    /// `application/dtmf`), answered 200 (see [`super::info`]).
    Dtmf {
        /// `0-9`, `*`, `#`, `A-D`.
        digit: char,
        /// The body's `Duration`, ms.
        duration_ms: Option<u32>,
    },
    /// An INFO we sent for a digit ([`UserAgent::send_info_dtmf`]) was refused or timed
    /// out (408).
    InfoFailed {
        /// The digit.
        digit: char,
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
    /// An in-dialog INFO without a body (answered 200; other bodies are DTMF or get 415).
    Info {
        /// Its Content-Type.
        content_type: Option<String>,
        /// Its body.
        body: Vec<u8>,
    },
    /// The dialog ended: BYE received (`by_remote`) or our BYE answered / timed out, or no
    /// ACK came for our 2xx (we sent BYE).
    Terminated {
        /// `true` when the other side hung up.
        by_remote: bool,
    },
}

/// Misuse of the user agent API.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UaError {
    /// No such call (never existed or already ended).
    #[error("no call {0:?}")]
    NoCall(CallId),
    /// The call is not in a state where this makes sense.
    #[error("call {0:?}: {1}")]
    BadState(CallId, &'static str),
    /// The SDP offer could not be answered (a 488/400 was sent).
    #[error("SDP: {0}")]
    Sdp(#[from] SdpError),
    /// The transaction layer refused.
    #[error("transaction layer: {0}")]
    Tx(#[from] TxError),
}

/// The user agent's fixed configuration.
#[derive(Debug, Clone)]
pub struct UaConfig {
    /// Address and port we send from and receive on (Via sent-by and Contact).
    pub local_addr: SocketAddr,
    /// Transport we use for requests we originate.
    pub transport: Transport,
    /// User part of our Contact.
    pub contact_user: String,
}

/// What an outbound call needs.
#[derive(Debug, Clone)]
pub struct OutboundCall {
    /// Request-URI (the callee).
    pub target: Uri,
    /// From (our identity; a tag is added).
    pub from: NameAddr,
    /// To (usually `<target>`).
    pub to: NameAddr,
    /// Where to send the INVITE (outbound proxy, trunk or the callee).
    pub dest: SocketAddr,
    /// Our media, offered in the INVITE.
    pub media: LocalMedia,
    /// Credentials for one digest retry on 401/407.
    pub credentials: Option<Credentials>,
}

/// 2xx retransmission state of a UAS (RFC 3261 §13.3.1.4).
#[derive(Debug, Clone)]
pub(super) struct Pending2xx {
    response: Message,
    next_at: u64,
    interval: u64,
    give_up_at: u64,
    cseq: u32,
}

/// One INVITE dialog and what it needs.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// Our role.
    pub role: Role,
    /// State.
    pub state: DialogState,
    /// Call-ID.
    pub call_id: String,
    /// Our URI with our tag (From for a UAC, To for a UAS).
    pub local: NameAddr,
    /// Their URI, with their tag once known.
    pub remote: NameAddr,
    /// Our last CSeq number.
    pub local_cseq: u32,
    /// Their last CSeq number.
    pub remote_cseq: Option<u32>,
    /// Route set (in the order our requests carry it).
    pub route_set: Vec<NameAddr>,
    /// Remote target (their Contact).
    pub remote_target: Uri,
    /// Where the dialog's first message came from / went to; used when a URI does not
    /// give an IP address.
    pub peer: SocketAddr,
    /// Transport of the dialog.
    pub transport: Transport,
    /// Our media.
    pub media: Option<LocalMedia>,
    /// What was negotiated last.
    pub negotiated: Option<Negotiated>,
    /// The remote put us on hold.
    pub on_hold: bool,
    invite: Option<Message>,
    invite_tx: Option<TxId>,
    final_sent: bool,
    answer: Option<Vec<u8>>,
    pub(super) pending_2xx: Option<Pending2xx>,
    reinvite_tx: Option<TxId>,
    pub(super) reoffer_tx: Option<TxId>,
    credentials: Option<Credentials>,
    auth_tried: bool,
    provisional_seen: bool,
    cancel_pending: bool,
    cancelled: bool,
    /// UAC: when our CANCEL went out + 64*T1, the INVITE is given up if no final response
    /// came by then (RFC 3261 §9.1).
    cancel_give_up_at: Option<u64>,
    /// Digits waiting to go by INFO, with their duration in ms.
    pub(super) info_queue: VecDeque<(char, u32)>,
    /// Our pending INFO and its digit.
    pub(super) info_tx: Option<(TxId, char)>,
    pub(super) ack: Option<(Message, SocketAddr)>,
    early_sdp: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    Invite,
    Bye,
    Cancel,
    Refer,
    Reoffer,
    Notify,
    Register,
    Info,
}

/// A SIP user agent: transactions and dialogs, sans I/O. Feed datagrams with
/// [`UserAgent::handle_datagram`] and timers with [`UserAgent::handle_timeout`]; take
/// messages to send from [`UserAgent::poll_transmit`], events from
/// [`UserAgent::poll_event`] and the next deadline from [`UserAgent::poll_timeout`].
pub struct UserAgent {
    pub(super) cfg: UaConfig,
    pub(super) rng: Box<dyn Random + Send>,
    pub(super) tl: TransactionLayer,
    pub(super) dialogs: HashMap<CallId, Dialog>,
    by_key: HashMap<(String, String), CallId>,
    pub(super) by_tx: HashMap<TxId, (CallId, Purpose)>,
    events: VecDeque<(CallId, DialogEvent)>,
    source: Option<SocketAddr>,
    next_call: u64,
    pub(super) regs: HashMap<RegId, Registration>,
    pub(super) reg_events: VecDeque<(RegId, RegEvent)>,
    pub(super) registrar: Option<Registrar>,
    pub(super) invite_auth: Option<DigestServer>,
    /// Per peer, the address it sees us at (RFC 3581 `received`/`rport` of its responses).
    mapped: HashMap<SocketAddr, SocketAddr>,
}

fn host_of(ip: IpAddr) -> Host {
    match ip {
        IpAddr::V4(a) => Host::V4(a),
        IpAddr::V6(a) => Host::V6(a),
    }
}

fn transport_token(t: Transport) -> &'static str {
    match t {
        Transport::Udp => "UDP",
        Transport::Tcp => "TCP",
        Transport::Tls => "TLS",
    }
}

/// The address of a URI whose host is an IP literal (port 5060 by default), else
/// `fallback` (no DNS here: RFC 3263 resolution is the shell's).
pub(super) fn resolve(uri: &Uri, fallback: SocketAddr) -> SocketAddr {
    let Some(u) = uri.as_sip() else {
        return fallback;
    };
    let ip = match &u.host {
        Host::V4(a) => IpAddr::V4(*a),
        Host::V6(a) => IpAddr::V6(*a),
        Host::Name(_) => return fallback,
    };
    SocketAddr::new(ip, u.port.unwrap_or(5060))
}

fn reason_for(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        183 => "Session Progress",
        200 => "OK",
        202 => "Accepted",
        423 => "Interval Too Brief",
        489 => "Bad Event",
        491 => "Request Pending",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        415 => "Unsupported Media Type",
        469 => "Bad Info Package",
        408 => "Request Timeout",
        420 => "Bad Extension",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => "Unknown",
    }
}

impl UserAgent {
    /// A user agent with its configuration and random source (tags, branches, Call-IDs,
    /// cnonces).
    pub fn new(cfg: UaConfig, rng: Box<dyn Random + Send>) -> Self {
        UserAgent {
            cfg,
            rng,
            tl: TransactionLayer::new(),
            dialogs: HashMap::new(),
            by_key: HashMap::new(),
            by_tx: HashMap::new(),
            events: VecDeque::new(),
            source: None,
            next_call: 0,
            regs: HashMap::new(),
            reg_events: VecDeque::new(),
            registrar: None,
            invite_auth: None,
            mapped: HashMap::new(),
        }
    }

    /// Our configuration.
    pub fn config(&self) -> &UaConfig {
        &self.cfg
    }

    /// A live dialog.
    pub fn dialog(&self, call: CallId) -> Option<&Dialog> {
        self.dialogs.get(&call)
    }

    /// Number of dialogs not yet terminated (for the caller's call limit).
    pub fn active_calls(&self) -> usize {
        self.dialogs
            .values()
            .filter(|d| d.state != DialogState::Terminated)
            .count()
    }

    /// Number of live transactions.
    pub fn transactions(&self) -> usize {
        self.tl.len()
    }

    /// The address `peer` sees us at: the `received`/`rport` of its last response to one
    /// of our requests (RFC 3581 §9), else our local address. Our Contact towards `peer`
    /// (INVITE, REGISTER, in-dialog requests and our responses) uses it.
    pub fn public_addr(&self, peer: SocketAddr) -> SocketAddr {
        self.mapped
            .get(&peer)
            .copied()
            .unwrap_or(self.cfg.local_addr)
    }

    /// Remembers the address stamped in the top Via of a response from `from`, when that
    /// Via is ours (our sent-by) — at most [`MAX_MAPPED_PEERS`] peers.
    fn learn_public_addr(&mut self, m: &Message, from: SocketAddr) {
        let Some(via) = m.top_via() else { return };
        let ours = via.port == Some(self.cfg.local_addr.port())
            && via.host == host_of(self.cfg.local_addr.ip());
        let Some(seen) = via.received_from().filter(|_| ours) else {
            return;
        };
        if self.mapped.len() < MAX_MAPPED_PEERS || self.mapped.contains_key(&from) {
            if seen == self.cfg.local_addr {
                self.mapped.remove(&from);
            } else {
                self.mapped.insert(from, seen);
            }
        }
    }

    /// Feeds one datagram (or one framed stream message) received from `from`. A message
    /// that does not parse is returned as the error (answering it is the shell's choice:
    /// RFC 3261 §18.3 lets a UDP element drop it).
    pub fn handle_datagram(
        &mut self,
        bytes: &[u8],
        from: SocketAddr,
        transport: Transport,
        now_ms: u64,
    ) -> Result<(), ParseError> {
        let m = parse_datagram(bytes)?;
        self.handle_message(m, from, transport, now_ms);
        Ok(())
    }

    /// Feeds one parsed message.
    pub fn handle_message(
        &mut self,
        m: Message,
        from: SocketAddr,
        transport: Transport,
        now_ms: u64,
    ) {
        if m.response().is_some() {
            self.learn_public_addr(&m, from);
        }
        self.source = Some(from);
        self.tl.handle_incoming(m, from, transport, now_ms);
        self.process(now_ms);
        self.source = None;
    }

    /// Fires every timer due at `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.tl.handle_timeout(now_ms);
        self.process(now_ms);
        self.give_up_cancelled(now_ms);
        self.process(now_ms);
        self.registration_timers(now_ms);
        let due: Vec<CallId> = self
            .dialogs
            .iter()
            .filter(|(_, d)| d.pending_2xx.as_ref().is_some_and(|p| p.next_at <= now_ms))
            .map(|(c, _)| *c)
            .collect();
        for call in due {
            let Some(mut d) = self.dialogs.remove(&call) else {
                continue;
            };
            let mut p = d.pending_2xx.take().expect("filtered on pending_2xx");
            if now_ms >= p.give_up_at {
                // §13.3.1.4: no ACK in 64*T1 — end the dialog with a BYE.
                self.dialogs.insert(call, d);
                let _ = self.send_bye(call, now_ms);
                continue;
            }
            let tx = if d.reinvite_tx.is_some() {
                d.reinvite_tx
            } else {
                d.invite_tx
            };
            let sent = tx.is_some_and(|tx| {
                self.tl
                    .send_response(tx, p.response.clone(), now_ms)
                    .is_ok()
            });
            if !sent {
                self.tl
                    .send_stateless(p.response.clone(), d.peer, d.transport);
            }
            p.interval = (p.interval * 2).min(T2_MS);
            p.next_at = if d.transport.is_reliable() {
                p.give_up_at
            } else {
                (now_ms + p.interval).min(p.give_up_at)
            };
            d.pending_2xx = Some(p);
            self.dialogs.insert(call, d);
        }
        self.process(now_ms);
    }

    /// The earliest deadline of a transaction timer or a 2xx retransmission.
    pub fn poll_timeout(&self) -> Option<u64> {
        let d = self
            .dialogs
            .values()
            .filter_map(|d| d.pending_2xx.as_ref().map(|p| p.next_at))
            .chain(self.dialogs.values().filter_map(|d| d.cancel_give_up_at))
            .chain(self.regs.values().filter_map(|r| r.next_at()))
            .min();
        match (self.tl.poll_timeout(), d) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.tl.poll_transmit()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<(CallId, DialogEvent)> {
        self.events.pop_front()
    }

    // ----- UAS API -----

    /// Sends 180 Ringing (with our To tag and Contact).
    pub fn ringing(&mut self, call: CallId, now_ms: u64) -> Result<(), UaError> {
        self.provisional(call, 180, None, now_ms)
    }

    /// Answers the offer and sends it in a 183 Session Progress (early media). Returns
    /// what was negotiated; the 200 will carry the same answer. A refused offer gets its
    /// 488/400 and ends the call.
    pub fn early_media(
        &mut self,
        call: CallId,
        media: LocalMedia,
        now_ms: u64,
    ) -> Result<Negotiated, UaError> {
        let n = self.answer_offer(call, media, now_ms)?;
        let body = self.dialogs[&call].answer.clone();
        self.provisional(call, 183, body, now_ms)?;
        Ok(n)
    }

    /// Answers the call with 200 OK carrying our SDP answer (or our offer when the INVITE
    /// had none). A refused offer gets its 488/400 and ends the call.
    pub fn accept(
        &mut self,
        call: CallId,
        media: LocalMedia,
        now_ms: u64,
    ) -> Result<Option<Negotiated>, UaError> {
        let d = self.uas_pending(call)?;
        let has_offer = d.invite.as_ref().is_some_and(|m| !m.body.is_empty());
        let negotiated = if d.answer.is_some() {
            d.negotiated.clone()
        } else if has_offer {
            Some(self.answer_offer(call, media, now_ms)?)
        } else {
            let d = self.dialogs.get_mut(&call).expect("checked");
            d.answer = Some(sdp::offer(&media, Direction::SendRecv));
            d.media = Some(media);
            None
        };
        let mut d = self.dialogs.remove(&call).expect("checked");
        let invite = d.invite.clone().expect("UAS dialog keeps its INVITE");
        let mut r = self.response(&invite, 200, &d);
        r.content_type = Some("application/sdp".into());
        r.body = d.answer.clone().unwrap_or_default();
        let tx = d.invite_tx.expect("UAS dialog has its transaction");
        let res = self.tl.send_response(tx, r.clone(), now_ms);
        d.final_sent = true;
        d.state = DialogState::Confirmed;
        d.pending_2xx = Some(Pending2xx {
            response: r,
            next_at: if d.transport.is_reliable() {
                now_ms + TIMEOUT_MS
            } else {
                now_ms + T1_MS
            },
            interval: T1_MS,
            give_up_at: now_ms + TIMEOUT_MS,
            cseq: invite.cseq.seq,
        });
        self.dialogs.insert(call, d);
        self.process(now_ms);
        res?;
        Ok(negotiated)
    }

    /// Refuses the call with a final `code` (486, 503 over the limit, 603...).
    pub fn reject(&mut self, call: CallId, code: u16, now_ms: u64) -> Result<(), UaError> {
        if !(300..700).contains(&code) {
            return Err(UaError::BadState(call, "reject needs a 3xx-6xx code"));
        }
        let d = self.uas_pending(call)?;
        let invite = d.invite.clone().expect("UAS dialog keeps its INVITE");
        let tx = d.invite_tx.expect("UAS dialog has its transaction");
        let r = self.response(&invite, code, d);
        self.tl.send_response(tx, r, now_ms)?;
        self.end(call);
        self.process(now_ms);
        Ok(())
    }

    fn uas_pending(&self, call: CallId) -> Result<&Dialog, UaError> {
        let d = self.dialogs.get(&call).ok_or(UaError::NoCall(call))?;
        if d.role != Role::Uas || d.final_sent || d.state == DialogState::Terminated {
            return Err(UaError::BadState(call, "not an unanswered inbound call"));
        }
        Ok(d)
    }

    fn answer_offer(
        &mut self,
        call: CallId,
        media: LocalMedia,
        now_ms: u64,
    ) -> Result<Negotiated, UaError> {
        let d = self.uas_pending(call)?;
        if let (Some(n), Some(_)) = (&d.negotiated, &d.answer) {
            return Ok(n.clone());
        }
        let offer = d
            .invite
            .as_ref()
            .map(|m| m.body.clone())
            .unwrap_or_default();
        match sdp::answer(&offer, &media) {
            Ok((body, n)) => {
                let d = self.dialogs.get_mut(&call).expect("checked");
                d.answer = Some(body);
                d.negotiated = Some(n.clone());
                d.media = Some(media);
                Ok(n)
            }
            Err(e) => {
                let code = e.status_code();
                self.reject(call, code, now_ms)?;
                Err(UaError::Sdp(e))
            }
        }
    }

    fn provisional(
        &mut self,
        call: CallId,
        code: u16,
        body: Option<Vec<u8>>,
        now_ms: u64,
    ) -> Result<(), UaError> {
        let d = self.uas_pending(call)?;
        let invite = d.invite.clone().expect("UAS dialog keeps its INVITE");
        let tx = d.invite_tx.expect("UAS dialog has its transaction");
        let mut r = self.response(&invite, code, d);
        if let Some(b) = body {
            r.content_type = Some("application/sdp".into());
            r.body = b;
        }
        self.tl.send_response(tx, r, now_ms)?;
        self.dialogs.get_mut(&call).expect("checked").state = DialogState::Early;
        self.process(now_ms);
        Ok(())
    }

    /// A response within dialog `d`: our To tag, Contact and Allow.
    pub(super) fn response(&self, req: &Message, code: u16, d: &Dialog) -> Message {
        let mut r = Message::response_to(req, code, reason_for(code));
        if let Some(tag) = d.local.tag() {
            r.to.set_tag(tag);
        }
        if req.cseq.method == Method::Invite && code < 300 && code > 100 {
            r.contact = vec![self.contact(d.peer)];
            r.record_route = req.record_route.clone();
            r.other.push(Header {
                name: "Allow".into(),
                value: ALLOW.into(),
            });
        }
        r
    }

    // ----- UAC API -----

    /// Places a call: sends the INVITE with our SDP offer.
    pub fn invite(&mut self, call: OutboundCall, now_ms: u64) -> Result<CallId, UaError> {
        let id = self.alloc();
        let mut local = call.from.clone();
        local.set_tag(&self.rng.hex(TOKEN_HEX));
        let call_id = format!("{}@{}", self.rng.hex(TOKEN_HEX), self.cfg.local_addr.ip());
        let offer = sdp::offer(&call.media, Direction::SendRecv);
        let mut m = self.new_request(
            Method::Invite,
            call.target.clone(),
            &local,
            &call.to,
            &call_id,
            1,
        );
        m.contact = vec![self.contact(call.dest)];
        m.content_type = Some("application/sdp".into());
        m.body = offer;
        m.other.push(Header {
            name: "Allow".into(),
            value: ALLOW.into(),
        });
        let transport = self.cfg.transport;
        let tx = self
            .tl
            .send_request(m.clone(), call.dest, transport, now_ms)?;
        self.by_tx.insert(tx, (id, Purpose::Invite));
        let tag = local.tag().unwrap_or("").to_string();
        self.by_key.insert((call_id.clone(), tag), id);
        self.dialogs.insert(
            id,
            Dialog {
                role: Role::Uac,
                state: DialogState::Calling,
                call_id,
                local,
                remote: call.to,
                local_cseq: 1,
                remote_cseq: None,
                route_set: Vec::new(),
                remote_target: call.target,
                peer: call.dest,
                transport,
                media: Some(call.media),
                negotiated: None,
                on_hold: false,
                invite: Some(m),
                invite_tx: Some(tx),
                final_sent: false,
                answer: None,
                pending_2xx: None,
                reinvite_tx: None,
                reoffer_tx: None,
                credentials: call.credentials,
                auth_tried: false,
                provisional_seen: false,
                cancel_pending: false,
                cancelled: false,
                cancel_give_up_at: None,
                info_queue: VecDeque::new(),
                info_tx: None,
                ack: None,
                early_sdp: None,
            },
        );
        Ok(id)
    }

    /// Ends a call: CANCEL before the final response (UAC), BYE once confirmed (either
    /// side), 603 Decline for an unanswered inbound call.
    pub fn hangup(&mut self, call: CallId, now_ms: u64) -> Result<(), UaError> {
        let d = self.dialogs.get(&call).ok_or(UaError::NoCall(call))?;
        match (d.role, d.state) {
            (_, DialogState::Terminated) => Err(UaError::BadState(call, "already ended")),
            (_, DialogState::Confirmed) => self.send_bye(call, now_ms),
            (Role::Uas, _) => self.reject(call, 603, now_ms),
            (Role::Uac, _) => {
                let d = self.dialogs.get_mut(&call).expect("checked");
                d.cancelled = true;
                if d.provisional_seen {
                    self.send_cancel(call, now_ms)
                } else {
                    // §9.1: wait for a provisional response before cancelling.
                    d.cancel_pending = true;
                    Ok(())
                }
            }
        }
    }

    fn send_cancel(&mut self, call: CallId, now_ms: u64) -> Result<(), UaError> {
        let d = self.dialogs.get_mut(&call).ok_or(UaError::NoCall(call))?;
        d.cancel_pending = false;
        let invite = d.invite.clone().expect("UAC keeps its INVITE");
        let (peer, transport) = (d.peer, d.transport);
        let mut c = invite.clone();
        if let StartLine::Request(r) = &mut c.start {
            r.method = Method::Cancel;
        }
        c.cseq.method = Method::Cancel;
        c.contact.clear();
        c.content_type = None;
        c.body.clear();
        c.other.clear();
        let tx = self.tl.send_request(c, peer, transport, now_ms)?;
        self.by_tx.insert(tx, (call, Purpose::Cancel));
        if let Some(d) = self.dialogs.get_mut(&call) {
            d.cancel_give_up_at.get_or_insert(now_ms + TIMEOUT_MS);
        }
        self.process(now_ms);
        Ok(())
    }

    /// RFC 3261 §9.1: an INVITE with no final response 64*T1 after its CANCEL is
    /// considered cancelled — its client transaction is destroyed and the call fails with
    /// `487` (reason [`GIVE_UP_REASON`]).
    fn give_up_cancelled(&mut self, now_ms: u64) {
        let due: Vec<CallId> = self
            .dialogs
            .iter()
            .filter(|(_, d)| d.cancel_give_up_at.is_some_and(|t| t <= now_ms))
            .map(|(c, _)| *c)
            .collect();
        for call in due {
            let Some(d) = self.dialogs.get_mut(&call) else {
                continue;
            };
            d.cancel_give_up_at = None;
            if let Some(tx) = d.invite_tx {
                self.tl.abandon(tx);
            }
            self.end(call);
            self.emit(
                call,
                DialogEvent::Failed {
                    code: 487,
                    reason: GIVE_UP_REASON.into(),
                },
            );
        }
    }

    pub(super) fn send_bye(&mut self, call: CallId, now_ms: u64) -> Result<(), UaError> {
        let mut d = self.dialogs.remove(&call).ok_or(UaError::NoCall(call))?;
        d.pending_2xx = None;
        d.state = DialogState::Terminated;
        let (m, dest) = self.in_dialog_request(&mut d, Method::Bye);
        let transport = d.transport;
        self.dialogs.insert(call, d);
        let tx = self.tl.send_request(m, dest, transport, now_ms)?;
        self.by_tx.insert(tx, (call, Purpose::Bye));
        self.process(now_ms);
        Ok(())
    }

    // ----- message building -----

    /// Our Contact for requests and responses exchanged with `peer`: at the address `peer`
    /// sees us at when a response from it said so (`received`/`rport`, RFC 3581), else at
    /// our local address.
    pub(super) fn contact(&self, peer: SocketAddr) -> NameAddr {
        let at = self.public_addr(peer);
        let mut u = SipUri::new(host_of(at.ip()), Some(at.port()));
        u.user = Some(self.cfg.contact_user.clone());
        if self.cfg.transport != Transport::Udp {
            u.params.push(Param::new(
                "transport",
                transport_token(self.cfg.transport).to_ascii_lowercase(),
            ));
        }
        NameAddr::new(Uri::Sip(u))
    }

    pub(super) fn via(&mut self) -> Via {
        let branch = format!("z9hG4bK{}", self.rng.hex(TOKEN_HEX));
        let mut v = Via::new(
            transport_token(self.cfg.transport),
            host_of(self.cfg.local_addr.ip()),
            Some(self.cfg.local_addr.port()),
            &branch,
        );
        v.params.push(Param::flag("rport"));
        v
    }

    pub(super) fn new_request(
        &mut self,
        method: Method,
        uri: Uri,
        from: &NameAddr,
        to: &NameAddr,
        call_id: &str,
        seq: u32,
    ) -> Message {
        Message {
            start: StartLine::Request(Request {
                method: method.clone(),
                uri,
            }),
            via: vec![self.via()],
            from: from.clone(),
            to: to.clone(),
            call_id: call_id.to_string(),
            cseq: CSeq { seq, method },
            max_forwards: Some(DEFAULT_MAX_FORWARDS),
            contact: Vec::new(),
            route: Vec::new(),
            record_route: Vec::new(),
            content_type: None,
            other: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A request within the dialog (§12.2.1.1): Request-URI the remote target, Route the
    /// route set (loose routing), CSeq ours + 1; sent to the first route or the target.
    pub(super) fn in_dialog_request(
        &mut self,
        d: &mut Dialog,
        method: Method,
    ) -> (Message, SocketAddr) {
        d.local_cseq += 1;
        let mut m = self.new_request(
            method,
            d.remote_target.clone(),
            &d.local,
            &d.remote,
            &d.call_id,
            d.local_cseq,
        );
        m.route = d.route_set.clone();
        let dest = match d.route_set.first() {
            Some(r) => resolve(&r.uri, d.peer),
            None => resolve(&d.remote_target, d.peer),
        };
        (m, dest)
    }

    pub(super) fn alloc(&mut self) -> CallId {
        self.next_call += 1;
        CallId(self.next_call)
    }

    fn end(&mut self, call: CallId) {
        if let Some(d) = self.dialogs.remove(&call) {
            self.by_key
                .remove(&(d.call_id.clone(), d.local.tag().unwrap_or("").to_string()));
        }
    }

    pub(super) fn emit(&mut self, call: CallId, e: DialogEvent) {
        self.events.push_back((call, e));
    }

    // ----- event processing -----

    pub(super) fn process(&mut self, now_ms: u64) {
        while let Some(ev) = self.tl.poll_event() {
            match ev {
                TxEvent::Request {
                    tx,
                    message,
                    cancels,
                } => self.on_request(tx, message, cancels, now_ms),
                TxEvent::Response { tx, message } => self.on_response(tx, message, now_ms),
                TxEvent::Ack { message, .. } => self.on_ack(message),
                TxEvent::StrayResponse { message } => self.on_stray(message),
                TxEvent::Timeout { tx } => self.on_timeout(tx, now_ms),
                TxEvent::Terminated { tx } => {
                    self.by_tx.remove(&tx);
                }
            }
        }
    }

    pub(super) fn reply(&mut self, tx: TxId, req: &Message, code: u16, now_ms: u64) {
        let mut r = Message::response_to(req, code, reason_for(code));
        if r.to.tag().is_none() {
            r.to.set_tag(&self.rng.hex(TOKEN_HEX));
        }
        if code == 405 || (code == 200 && req.cseq.method == Method::Options) {
            r.other.push(Header {
                name: "Allow".into(),
                value: ALLOW.into(),
            });
        }
        if req.cseq.method == Method::Options && code == 200 {
            r.other.push(Header {
                name: "Accept".into(),
                value: ACCEPT.into(),
            });
        }
        // The transaction exists: it was just created for this request.
        let _ = self.tl.send_response(tx, r, now_ms);
    }

    fn on_request(&mut self, tx: TxId, m: Message, cancels: Option<TxId>, now_ms: u64) {
        let method = m.method().clone();
        if method == Method::Cancel {
            return self.on_cancel(tx, m, cancels, now_ms);
        }
        if let Some(tag) = m.to.tag() {
            let key = (m.call_id.clone(), tag.to_string());
            let Some(&call) = self.by_key.get(&key) else {
                return self.reply(tx, &m, 481, now_ms);
            };
            return self.in_dialog(call, tx, m, now_ms);
        }
        match method {
            Method::Invite => self.new_invite(tx, m, now_ms),
            Method::Options => self.reply(tx, &m, 200, now_ms),
            Method::Register if self.registrar.is_some() => self.incoming_register(tx, &m, now_ms),
            Method::Bye | Method::Info | Method::Prack | Method::Update => {
                self.reply(tx, &m, 481, now_ms)
            }
            Method::Other(_) => self.reply(tx, &m, 501, now_ms),
            _ => self.reply(tx, &m, 405, now_ms),
        }
    }

    fn new_invite(&mut self, tx: TxId, m: Message, now_ms: u64) {
        let unsupported = m.unsupported_requires(SUPPORTED);
        if !unsupported.is_empty() {
            let mut r = Message::response_to(&m, 420, reason_for(420));
            r.to.set_tag(&self.rng.hex(TOKEN_HEX));
            r.other.push(Header {
                name: "Unsupported".into(),
                value: unsupported.join(", "),
            });
            let _ = self.tl.send_response(tx, r, now_ms);
            return;
        }
        let Some(user) = self.authorize_invite(tx, &m, now_ms) else {
            return;
        };
        let call = self.alloc();
        let mut local = m.to.clone();
        local.set_tag(&self.rng.hex(TOKEN_HEX));
        let request_uri = m.request().expect("a request").uri.clone();
        let peer = self.source.unwrap_or(self.cfg.local_addr);
        let transport = match m.top_via().map(|v| v.transport.as_str()) {
            Some("TCP") => Transport::Tcp,
            Some("TLS") => Transport::Tls,
            _ => Transport::Udp,
        };
        let remote_target = m
            .contact
            .first()
            .map(|c| c.uri.clone())
            .unwrap_or_else(|| m.from.uri.clone());
        self.by_key.insert(
            (m.call_id.clone(), local.tag().unwrap_or("").to_string()),
            call,
        );
        let offer = (!m.body.is_empty()).then(|| m.body.clone());
        self.emit(
            call,
            DialogEvent::Incoming(Box::new(IncomingCall {
                from: m.from.clone(),
                to: m.to.clone(),
                request_uri,
                offer,
                user,
            })),
        );
        self.by_tx.insert(tx, (call, Purpose::Invite));
        self.dialogs.insert(
            call,
            Dialog {
                role: Role::Uas,
                state: DialogState::Calling,
                call_id: m.call_id.clone(),
                local,
                remote: m.from.clone(),
                local_cseq: 0,
                remote_cseq: Some(m.cseq.seq),
                route_set: m.record_route.clone(),
                remote_target,
                peer,
                transport,
                media: None,
                negotiated: None,
                on_hold: false,
                invite: Some(m),
                invite_tx: Some(tx),
                final_sent: false,
                answer: None,
                pending_2xx: None,
                reinvite_tx: None,
                reoffer_tx: None,
                credentials: None,
                auth_tried: false,
                provisional_seen: false,
                cancel_pending: false,
                cancelled: false,
                cancel_give_up_at: None,
                info_queue: VecDeque::new(),
                info_tx: None,
                ack: None,
                early_sdp: None,
            },
        );
    }

    fn on_cancel(&mut self, tx: TxId, m: Message, cancels: Option<TxId>, now_ms: u64) {
        let target = cancels.and_then(|itx| self.by_tx.get(&itx).copied());
        let Some((call, Purpose::Invite)) = target else {
            return self.reply(tx, &m, 481, now_ms);
        };
        let pending = self
            .dialogs
            .get(&call)
            .is_some_and(|d| d.role == Role::Uas && !d.final_sent);
        if !pending {
            // Already answered: 200 to the CANCEL, the call goes on (§9.2).
            return self.reply(tx, &m, 200, now_ms);
        }
        let d = &self.dialogs[&call];
        let mut ok = Message::response_to(&m, 200, "OK");
        if let Some(tag) = d.local.tag() {
            ok.to.set_tag(tag);
        }
        let _ = self.tl.send_response(tx, ok, now_ms);
        let _ = self.reject(call, 487, now_ms);
        self.emit(call, DialogEvent::Cancelled);
    }

    fn in_dialog(&mut self, call: CallId, tx: TxId, m: Message, now_ms: u64) {
        let Some(d) = self.dialogs.get_mut(&call) else {
            return self.reply(tx, &m, 481, now_ms);
        };
        if let Some(r) = d.remote_cseq {
            if m.cseq.seq < r {
                let mut resp = Message::response_to(&m, 500, "CSeq Out Of Order");
                resp.to = m.to.clone();
                let _ = self.tl.send_response(tx, resp, now_ms);
                return;
            }
        }
        d.remote_cseq = Some(m.cseq.seq);
        if let Some(c) = m.contact.first() {
            if *m.method() == Method::Invite {
                d.remote_target = c.uri.clone();
            }
        }
        match m.method().clone() {
            Method::Bye => {
                self.reply(tx, &m, 200, now_ms);
                if let Some(d) = self.dialogs.get_mut(&call) {
                    d.state = DialogState::Terminated;
                    d.pending_2xx = None;
                }
                self.end(call);
                self.emit(call, DialogEvent::Terminated { by_remote: true });
            }
            Method::Invite => self.reinvite(call, tx, m, now_ms),
            Method::Options => self.reply(tx, &m, 200, now_ms),
            Method::Refer => self.incoming_refer(call, tx, &m, now_ms),
            Method::Notify => self.incoming_notify(call, tx, &m, now_ms),
            Method::Info => self.incoming_info(call, tx, &m, now_ms),
            Method::Other(_) => self.reply(tx, &m, 501, now_ms),
            _ => self.reply(tx, &m, 405, now_ms),
        }
    }

    fn reinvite(&mut self, call: CallId, tx: TxId, m: Message, now_ms: u64) {
        let d = self.dialogs.get(&call).expect("caller checked");
        if d.reoffer_tx.is_some() {
            // §14.1: our own re-INVITE is pending.
            let r = self.response(&m, 491, d);
            let _ = self.tl.send_response(tx, r, now_ms);
            return;
        }
        let busy = d.pending_2xx.is_some() || d.state != DialogState::Confirmed;
        if busy {
            // §14.2: an INVITE while ours is pending gets 500 with Retry-After.
            let mut r = self.response(&m, 500, d);
            r.other.push(Header {
                name: "Retry-After".into(),
                value: "1".into(),
            });
            let _ = self.tl.send_response(tx, r, now_ms);
            return;
        }
        let Some(mut media) = d.media.clone() else {
            let r = self.response(&m, 488, d);
            let _ = self.tl.send_response(tx, r, now_ms);
            return;
        };
        media.session_version += 1;
        let (body, n) = match sdp::answer(&m.body, &media) {
            Ok(x) => x,
            Err(e) => {
                let r = self.response(&m, e.status_code(), d);
                let _ = self.tl.send_response(tx, r, now_ms);
                return;
            }
        };
        let mut r = self.response(&m, 200, d);
        r.content_type = Some("application/sdp".into());
        r.body = body;
        let _ = self.tl.send_response(tx, r.clone(), now_ms);
        let d = self.dialogs.get_mut(&call).expect("caller checked");
        d.media = Some(media);
        d.reinvite_tx = Some(tx);
        d.pending_2xx = Some(Pending2xx {
            response: r,
            next_at: if d.transport.is_reliable() {
                now_ms + TIMEOUT_MS
            } else {
                now_ms + T1_MS
            },
            interval: T1_MS,
            give_up_at: now_ms + TIMEOUT_MS,
            cseq: m.cseq.seq,
        });
        let hold = !n.direction.sends();
        let was = d.on_hold;
        d.on_hold = hold;
        d.negotiated = Some(n.clone());
        if hold && !was {
            self.emit(call, DialogEvent::Hold(n));
        } else if !hold && was {
            self.emit(call, DialogEvent::Unhold(n));
        }
    }

    fn on_ack(&mut self, m: Message) {
        let Some(tag) = m.to.tag() else { return };
        let Some(&call) = self.by_key.get(&(m.call_id.clone(), tag.to_string())) else {
            return;
        };
        let Some(d) = self.dialogs.get_mut(&call) else {
            return;
        };
        let Some(p) = &d.pending_2xx else { return };
        if p.cseq != m.cseq.seq {
            return;
        }
        d.pending_2xx = None;
        let first = d.reinvite_tx.is_none();
        d.reinvite_tx = None;
        if first {
            if d.negotiated.is_none() && !m.body.is_empty() {
                // Late offer: the ACK carries the answer to the offer in our 200.
                d.negotiated = sdp::read_answer(&m.body).ok();
            }
            self.emit(call, DialogEvent::Confirmed);
        }
    }

    fn on_stray(&mut self, m: Message) {
        // A 2xx retransmission after our INVITE transaction ended: ACK it again.
        let code = m.response().map_or(0, |r| r.code);
        if !(200..300).contains(&code) || m.cseq.method != Method::Invite {
            return;
        }
        let Some(tag) = m.from.tag() else { return };
        let Some(&call) = self.by_key.get(&(m.call_id.clone(), tag.to_string())) else {
            return;
        };
        if let Some((ack, dest)) = self.dialogs.get(&call).and_then(|d| d.ack.clone()) {
            let t = self.dialogs[&call].transport;
            self.tl.send_stateless(ack, dest, t);
        }
    }

    fn on_timeout(&mut self, tx: TxId, now_ms: u64) {
        let Some(&(call, purpose)) = self.by_tx.get(&tx) else {
            return;
        };
        match purpose {
            Purpose::Invite => {
                let uac = self
                    .dialogs
                    .get(&call)
                    .is_some_and(|d| d.role == Role::Uac && d.invite_tx == Some(tx));
                if uac {
                    self.end(call);
                    self.emit(
                        call,
                        DialogEvent::Failed {
                            code: 408,
                            reason: "Request Timeout".into(),
                        },
                    );
                }
            }
            Purpose::Bye => {
                self.end(call);
                self.emit(call, DialogEvent::Terminated { by_remote: false });
            }
            Purpose::Cancel | Purpose::Notify => {}
            Purpose::Reoffer => {
                if let Some(d) = self.dialogs.get_mut(&call) {
                    d.reoffer_tx = None;
                }
                self.emit(
                    call,
                    DialogEvent::ReofferFailed {
                        code: 408,
                        reason: "Request Timeout".into(),
                    },
                )
            }
            Purpose::Refer => self.emit(
                call,
                DialogEvent::TransferFailed {
                    code: 408,
                    reason: "Request Timeout".into(),
                },
            ),
            Purpose::Register => self.register_timeout(tx, now_ms),
            Purpose::Info => self.info_done(call, tx, None, 408, now_ms),
        }
    }

    fn on_response(&mut self, tx: TxId, m: Message, now_ms: u64) {
        let Some(&(call, purpose)) = self.by_tx.get(&tx) else {
            return;
        };
        let code = m.response().map_or(0, |r| r.code);
        match purpose {
            Purpose::Cancel | Purpose::Notify => {}
            Purpose::Refer => self.refer_response(call, &m, code),
            Purpose::Reoffer => self.reoffer_response(call, tx, &m, code, now_ms),
            Purpose::Register => self.register_response(tx, &m, code, now_ms),
            Purpose::Info => self.info_done(call, tx, Some(&m), code, now_ms),
            Purpose::Bye => {
                if code >= 200 {
                    self.end(call);
                    self.emit(call, DialogEvent::Terminated { by_remote: false });
                }
            }
            Purpose::Invite => self.invite_response(call, tx, m, code, now_ms),
        }
    }

    fn invite_response(&mut self, call: CallId, tx: TxId, m: Message, code: u16, now_ms: u64) {
        let Some(mut d) = self.dialogs.remove(&call) else {
            return;
        };
        if d.invite_tx != Some(tx) {
            self.dialogs.insert(call, d);
            return;
        }
        if code < 200 {
            // Any provisional, 100 Trying included, lets a pending CANCEL go (§9.1): after a
            // 1xx the transaction no longer runs Timer B, so waiting for a 101-199 that may
            // never come would keep the call forever.
            d.provisional_seen = true;
            if code > 100 {
                if d.state == DialogState::Calling && m.to.tag().is_some() {
                    d.state = DialogState::Early;
                    d.remote = m.to.clone();
                }
                if !m.body.is_empty() && d.early_sdp.as_ref() != Some(&m.body) {
                    d.early_sdp = Some(m.body.clone());
                    if let Ok(n) = sdp::read_answer(&m.body) {
                        d.negotiated = Some(n.clone());
                        self.emit(call, DialogEvent::EarlyMedia(n));
                    }
                } else if code == 180 {
                    self.emit(call, DialogEvent::Ringing);
                }
            }
            let cancel = d.cancel_pending && d.provisional_seen;
            self.dialogs.insert(call, d);
            if cancel {
                let _ = self.send_cancel(call, now_ms);
            }
            return;
        }
        d.cancel_give_up_at = None;
        if code < 300 {
            if let Some((ack, dest)) = d.ack.clone() {
                // A retransmitted 2xx (RFC 6026 Accepted): repeat the ACK.
                self.tl.send_stateless(ack, dest, d.transport);
                self.dialogs.insert(call, d);
                return;
            }
            d.remote = m.to.clone();
            d.route_set = m.record_route.iter().rev().cloned().collect();
            if let Some(c) = m.contact.first() {
                d.remote_target = c.uri.clone();
            }
            d.state = DialogState::Confirmed;
            // §13.2.2.4: the ACK of a 2xx has the INVITE's CSeq number and credentials.
            let invite = d.invite.clone().expect("UAC keeps its INVITE");
            let mut ack = self.new_request(
                Method::Ack,
                d.remote_target.clone(),
                &d.local,
                &d.remote,
                &d.call_id,
                invite.cseq.seq,
            );
            ack.route = d.route_set.clone();
            ack.other = invite
                .other
                .iter()
                .filter(|h| {
                    h.name.eq_ignore_ascii_case("Authorization")
                        || h.name.eq_ignore_ascii_case("Proxy-Authorization")
                })
                .cloned()
                .collect();
            let dest = match d.route_set.first() {
                Some(r) => resolve(&r.uri, d.peer),
                None => resolve(&d.remote_target, d.peer),
            };
            self.tl.send_stateless(ack.clone(), dest, d.transport);
            d.ack = Some((ack, dest));
            let answer = if m.body.is_empty() {
                d.negotiated.clone().ok_or(SdpError::NoAudio)
            } else {
                sdp::read_answer(&m.body)
            };
            let cancelled = d.cancelled;
            self.dialogs.insert(call, d);
            match answer {
                Ok(n) if !cancelled => {
                    self.dialogs.get_mut(&call).expect("inserted").negotiated = Some(n.clone());
                    self.emit(call, DialogEvent::Answered(n));
                }
                Ok(_) => {
                    // Our CANCEL crossed the 2xx: end the call we no longer want.
                    let _ = self.send_bye(call, now_ms);
                }
                Err(e) => {
                    self.emit(
                        call,
                        DialogEvent::Failed {
                            code: e.status_code(),
                            reason: e.to_string(),
                        },
                    );
                    let _ = self.send_bye(call, now_ms);
                }
            }
            return;
        }
        if (code == 401 || code == 407) && !d.auth_tried && !d.cancelled {
            if let Some(cred) = d.credentials.clone() {
                let (challenge_h, auth_h) = if code == 401 {
                    ("WWW-Authenticate", "Authorization")
                } else {
                    ("Proxy-Authenticate", "Proxy-Authorization")
                };
                let invite = d.invite.clone().expect("UAC keeps its INVITE");
                let uri = invite.request().expect("a request").uri.to_string();
                let cnonce = self.rng.hex(TOKEN_HEX);
                let auth = select_challenge(m.header_values(challenge_h))
                    .and_then(|c| authorize(&c, &cred, "INVITE", &uri, 1, &cnonce));
                if let Ok(auth) = auth {
                    let mut again = invite.clone();
                    again.via = vec![self.via()];
                    d.local_cseq += 1;
                    again.cseq.seq = d.local_cseq;
                    again.other.retain(|h| !h.name.eq_ignore_ascii_case(auth_h));
                    again.other.push(Header {
                        name: auth_h.into(),
                        value: auth.to_string(),
                    });
                    d.auth_tried = true;
                    d.invite = Some(again.clone());
                    d.provisional_seen = false;
                    if let Ok(ntx) = self.tl.send_request(again, d.peer, d.transport, now_ms) {
                        d.invite_tx = Some(ntx);
                        self.by_tx.insert(ntx, (call, Purpose::Invite));
                        self.dialogs.insert(call, d);
                        return;
                    }
                }
            }
        }
        self.dialogs.insert(call, d);
        self.end(call);
        let reason = m.response().map(|r| r.reason.clone()).unwrap_or_default();
        self.emit(call, DialogEvent::Failed { code, reason });
    }
}
