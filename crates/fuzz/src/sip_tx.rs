//! Fuzz target for the SIP transaction layer and the dialog user agent fed arbitrary
//! sequences of messages and timer advances.
//!
//! An input is a small program: segments separated by `\n~`. A segment that starts with a
//! lower-case letter is an operation, any other segment is a datagram from the peer:
//!
//! | op | meaning |
//! |----|---------|
//! | `t<ms>` | time passes (`<ms>` up to [`MAX_ADVANCE_MS`]; none: to the next deadline), timers fire on the way |
//! | `r<code>` | our side (the TU) answers the newest inbound INVITE/request with `<code>` |
//! | `e<code>` | the peer answers the last request we sent with `<code>` (To tag, Contact, SDP answer) |
//! | `f<code>` | the peer answers our last INVITE with `<code>` (after a CANCEL, say) |
//! | `k` | the peer ACKs our last final response to an INVITE |
//! | `c` | the peer CANCELs its last INVITE |
//! | `y` / `i` | the peer sends BYE / a hold re-INVITE in the dialog of the last 2xx to INVITE |
//! | `h` | we hang up the newest call (user agent only) |
//! | `u[request]` | we send a request: the segment's text (transaction layer) or a new call (user agent) |
//! | `x` | later datagrams arrive over TCP instead of UDP (or back) |
//!
//! Both the bare [`TransactionLayer`] (the harness is its TU) and a [`UserAgent`] run the same
//! program. Invariants: no panic; after timers fire at `now` the next deadline is later than
//! `now` (never in the past, so a shell never spins); a bounded number of messages per step;
//! at the end, once the TU has answered what it holds and hung up every call, running the
//! timers out leaves no transaction, no call and no deadline.
//!
//! Gaps of the user agent this target found, now fixed: an outbound call hung up before its
//! final response stayed forever when the peer never sent one (the user agent now gives the
//! INVITE up 64*T1 after its CANCEL, RFC 3261 §9.1), and the deferred CANCEL was never sent
//! after a 100 Trying only (any 1xx lets it go).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use crate::{fnv1a, Outcome};
use tympan_telephony::dialog::{
    CallId, DialogEvent, OutboundCall, SplitMix64, UaConfig, UserAgent,
};
use tympan_telephony::sdp::{self, Codec, Direction, LocalMedia};
use tympan_telephony::sip::{
    parse_datagram, CSeq, Message, Method, NameAddr, Param, Request, StartLine, Uri, Via,
};
use tympan_telephony::transaction::{State, TransactionLayer, Transport, TxEvent, TxId};

/// Longest single time advance of a `t` operation, ms (past every RFC 3261 timer).
pub const MAX_ADVANCE_MS: u64 = 120_000;
/// Most timer firings one advance may take; more means a timer that does not move forward.
pub const MAX_TIMER_STEPS: usize = 10_000;
/// Most messages one step may send (a retransmission storm is a finding).
pub const MAX_TRANSMITS_PER_STEP: usize = 512;
/// Most operations run from one input.
pub const MAX_OPS: usize = 64;
/// Time run at the end so that every transaction and call times out, ms.
pub const DRAIN_MS: u64 = 600_000;

const PEER: &str = "192.0.2.10:5060";
const LOCAL: &str = "192.0.2.20:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("constant address")
}

fn media(port: u16) -> LocalMedia {
    LocalMedia {
        address: IpAddr::from([192, 0, 2, 20]),
        port,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        session_id: 7,
        session_version: 1,
    }
}

/// One operation of a program.
#[derive(Debug, Clone)]
enum Op<'a> {
    Advance(Option<u64>),
    Answer(u16),
    PeerAnswer(u16),
    PeerAnswerInvite(u16),
    PeerAck,
    PeerCancel,
    PeerBye,
    PeerReinvite,
    Hangup,
    Send(&'a [u8]),
    ToggleTransport,
    Datagram(&'a [u8]),
}

fn number(b: &[u8]) -> Option<u64> {
    let digits: Vec<u8> = b
        .iter()
        .copied()
        .skip_while(|c| *c == b' ')
        .take_while(u8::is_ascii_digit)
        .take(9)
        .collect();
    std::str::from_utf8(&digits).ok()?.parse().ok()
}

fn code(b: &[u8]) -> u16 {
    number(b).map_or(200, |n| (n % 1000) as u16)
}

fn program(input: &[u8]) -> Vec<Op<'_>> {
    let mut ops = Vec::new();
    let mut rest = input;
    loop {
        let (seg, next) = match rest.windows(2).position(|w| w == b"\n~") {
            Some(i) => (&rest[..i], Some(&rest[i + 2..])),
            None => (rest, None),
        };
        let op = match seg.first() {
            Some(b't') => Op::Advance(number(&seg[1..]).map(|n| n.min(MAX_ADVANCE_MS))),
            Some(b'r') => Op::Answer(code(&seg[1..])),
            Some(b'e') => Op::PeerAnswer(code(&seg[1..])),
            Some(b'f') => Op::PeerAnswerInvite(code(&seg[1..])),
            Some(b'k') => Op::PeerAck,
            Some(b'c') => Op::PeerCancel,
            Some(b'y') => Op::PeerBye,
            Some(b'i') => Op::PeerReinvite,
            Some(b'h') => Op::Hangup,
            Some(b'u') => Op::Send(&seg[1..]),
            Some(b'x') => Op::ToggleTransport,
            Some(_) => Op::Datagram(seg),
            None => Op::Advance(Some(0)),
        };
        ops.push(op);
        match next {
            Some(n) if ops.len() < MAX_OPS => rest = n,
            _ => return ops,
        }
    }
}

/// What the peer knows of the conversation: the last messages we sent.
#[derive(Default)]
struct PeerView {
    /// Our last request (to answer with `e`).
    last_request: Option<Message>,
    /// Our last INVITE (to answer with `f`).
    last_invite: Option<Message>,
    /// Our last final response to an INVITE (to ACK with `k`).
    last_invite_final: Option<Message>,
    /// The last 2xx to INVITE either side sent, and whether we sent it.
    last_2xx: Option<(Message, bool)>,
    /// The peer's last INVITE (to CANCEL with `c`).
    last_peer_invite: Option<Message>,
    /// Counter for fresh branches.
    n: u64,
}

impl PeerView {
    fn saw_sent(&mut self, m: &Message) {
        match &m.start {
            StartLine::Request(r) if r.method != Method::Ack => {
                if r.method == Method::Invite {
                    self.last_invite = Some(m.clone());
                }
                self.last_request = Some(m.clone())
            }
            StartLine::Request(_) => {}
            StartLine::Response(r) => {
                if m.cseq.method == Method::Invite && r.code >= 200 {
                    self.last_invite_final = Some(m.clone());
                    if r.code < 300 {
                        self.last_2xx = Some((m.clone(), true));
                    }
                }
            }
        }
    }

    fn saw_delivered(&mut self, m: &Message) {
        match &m.start {
            StartLine::Request(r) if r.method == Method::Invite => {
                self.last_peer_invite = Some(m.clone())
            }
            StartLine::Response(r)
                if m.cseq.method == Method::Invite && (200..300).contains(&r.code) =>
            {
                self.last_2xx = Some((m.clone(), false))
            }
            _ => {}
        }
    }

    fn branch(&mut self) -> String {
        self.n += 1;
        format!("z9hG4bKpeer{}", self.n)
    }

    /// The peer's answer to our last request (or our last INVITE).
    fn answer(&mut self, code: u16, invite: bool) -> Option<Message> {
        let req = if invite {
            self.last_invite.as_ref()?
        } else {
            self.last_request.as_ref()?
        };
        let mut r = Message::response_to(req, code, "Peer");
        if code > 100 && r.to.tag().is_none() {
            r.to.set_tag("peer1");
        }
        if req.cseq.method == Method::Invite && (101..300).contains(&code) {
            r.contact = vec![NameAddr::new(
                Uri::parse("sip:bob@192.0.2.10:5060").expect("constant URI"),
            )];
            if let Ok((body, _)) = sdp::answer(&req.body, &media(50_000)) {
                r.content_type = Some("application/sdp".into());
                r.body = body;
            }
        }
        Some(r)
    }

    /// A request from the peer with the identity of `like`.
    fn request(&mut self, method: Method, like: &Message, seq: u32) -> Message {
        let uri = like
            .contact
            .first()
            .map(|c| c.uri.clone())
            .unwrap_or_else(|| like.to.uri.clone());
        Message {
            start: StartLine::Request(Request {
                method: method.clone(),
                uri,
            }),
            via: vec![Via::new(
                "UDP",
                tympan_telephony::sip::Host::V4([192, 0, 2, 10].into()),
                Some(5060),
                &self.branch(),
            )],
            from: like.from.clone(),
            to: like.to.clone(),
            call_id: like.call_id.clone(),
            cseq: CSeq { seq, method },
            max_forwards: Some(70),
            contact: Vec::new(),
            route: Vec::new(),
            record_route: Vec::new(),
            content_type: None,
            other: Vec::new(),
            body: Vec::new(),
        }
    }

    fn ack(&mut self) -> Option<Message> {
        let r = self.last_invite_final.clone()?;
        let code = r.response().map_or(0, |s| s.code);
        let mut ack = self.request(Method::Ack, &r, r.cseq.seq);
        if code >= 300 {
            // The ACK of a non-2xx is part of the INVITE transaction: same branch.
            ack.via = r.via.iter().take(1).cloned().collect();
        }
        Some(ack)
    }

    fn cancel(&mut self) -> Option<Message> {
        let inv = self.last_peer_invite.clone()?;
        let mut c = inv.clone();
        c.start = StartLine::Request(Request {
            method: Method::Cancel,
            uri: inv.request().map(|r| r.uri.clone())?,
        });
        c.cseq.method = Method::Cancel;
        c.via.truncate(1);
        c.body.clear();
        c.content_type = None;
        c.other.clear();
        c.contact.clear();
        Some(c)
    }

    /// BYE or re-INVITE in the dialog of the last 2xx.
    fn in_dialog(&mut self, method: Method) -> Option<Message> {
        let (r, we_sent) = self.last_2xx.clone()?;
        let seq = r.cseq.seq.wrapping_add(1).wrapping_add(self.n as u32);
        let mut m = self.request(method.clone(), &r, seq);
        if !we_sent {
            // We are the UAC: the peer (callee) writes From = its To, To = our From.
            std::mem::swap(&mut m.from, &mut m.to);
        }
        if method == Method::Invite {
            let mut hold = media(50_000);
            hold.session_version = 2 + self.n;
            m.contact = vec![NameAddr::new(
                Uri::parse("sip:peer@192.0.2.10:5060").expect("constant URI"),
            )];
            m.content_type = Some("application/sdp".into());
            m.body = sdp::offer(&hold, Direction::SendOnly);
        }
        Some(m)
    }
}

fn check_deadline(next: Option<u64>, now: u64, what: &str) {
    if let Some(t) = next {
        assert!(
            t > now,
            "{what}: deadline {t} not after now {now} once timers ran"
        );
    }
}

// ---------------------------------------------------------------- transaction layer

struct TlRun {
    tl: TransactionLayer,
    now: u64,
    transport: Transport,
    peer: PeerView,
    /// Server transactions and their requests, newest last.
    server: Vec<(TxId, Message)>,
    terminated: HashSet<TxId>,
    /// Client INVITE transactions we started.
    client_invites: Vec<TxId>,
    events: u64,
}

impl TlRun {
    fn drain(&mut self) {
        let mut sent = 0;
        while let Some(t) = self.tl.poll_transmit() {
            sent += 1;
            assert!(
                sent <= MAX_TRANSMITS_PER_STEP,
                "more than {sent} transmits in one step"
            );
            if std::env::var_os("FUZZ_DEBUG").is_some() {
                eprintln!(">> {}", t.message.to_string().lines().next().unwrap_or(""));
            }
            self.peer.saw_sent(&t.message);
        }
        while let Some(e) = self.tl.poll_event() {
            self.events = self.events.wrapping_mul(31).wrapping_add(match &e {
                TxEvent::Request { .. } => 1,
                TxEvent::Response { .. } => 2,
                TxEvent::Ack { .. } => 3,
                TxEvent::StrayResponse { .. } => 4,
                TxEvent::Timeout { .. } => 5,
                TxEvent::Terminated { .. } => 6,
            });
            match e {
                TxEvent::Request { tx, message, .. } => {
                    assert!(!self.terminated.contains(&tx), "{tx:?} reused");
                    self.server.push((tx, message));
                }
                TxEvent::Terminated { tx } => {
                    assert!(self.terminated.insert(tx), "{tx:?} terminated twice");
                    assert!(self.tl.state(tx).is_none(), "{tx:?} terminated but live");
                }
                _ => {}
            }
        }
        assert!(
            self.tl.poll_timeout().is_none_or(|t| t >= self.now),
            "deadline in the past"
        );
    }

    fn timers(&mut self) {
        self.tl.handle_timeout(self.now);
        self.drain();
        check_deadline(self.tl.poll_timeout(), self.now, "transaction layer");
    }

    fn advance(&mut self, by: Option<u64>) {
        let target = match by {
            Some(ms) => self.now + ms,
            None => self.tl.poll_timeout().unwrap_or(self.now).max(self.now),
        };
        for _ in 0..MAX_TIMER_STEPS {
            match self.tl.poll_timeout() {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    self.timers();
                }
                _ => {
                    self.now = target;
                    self.timers();
                    return;
                }
            }
        }
        panic!("timers keep firing: more than {MAX_TIMER_STEPS} steps in one advance");
    }

    fn deliver(&mut self, m: Message) {
        self.peer.saw_delivered(&m);
        self.tl
            .handle_incoming(m, addr(PEER), self.transport, self.now);
        self.drain();
    }

    fn answer(&mut self, code: u16) {
        let Some((tx, req)) = self
            .server
            .iter()
            .rev()
            .find(|(tx, _)| self.tl.state(*tx).is_some())
            .cloned()
        else {
            return;
        };
        let mut r = Message::response_to(&req, code, "Fuzz");
        if code > 100 {
            r.to.set_tag("ours1");
        }
        let _ = self.tl.send_response(tx, r, self.now);
        self.drain();
    }

    fn send(&mut self, text: &[u8]) {
        let m = match parse_datagram(text) {
            Ok(m) => m,
            Err(_) => {
                let Ok(mut m) = parse_datagram(crate::sip::CALL_MESSAGES[0].as_bytes()) else {
                    return;
                };
                let b = self.peer.branch();
                if let Some(v) = m.via.first_mut() {
                    v.params.retain(|p| p.name != "branch");
                    v.params.push(Param::new("branch", b));
                }
                m
            }
        };
        let invite = m.cseq.method == Method::Invite;
        if let Ok(tx) = self
            .tl
            .send_request(m, addr(PEER), self.transport, self.now)
        {
            if invite {
                self.client_invites.push(tx);
            }
        }
        self.drain();
    }

    fn step(&mut self, op: &Op<'_>) {
        match *op {
            Op::Advance(by) => self.advance(by),
            Op::Answer(c) => self.answer(c),
            Op::PeerAnswer(c) => {
                if let Some(m) = self.peer.answer(c, false) {
                    self.deliver(m)
                }
            }
            Op::PeerAnswerInvite(c) => {
                if let Some(m) = self.peer.answer(c, true) {
                    self.deliver(m)
                }
            }
            Op::PeerAck => {
                if let Some(m) = self.peer.ack() {
                    self.deliver(m)
                }
            }
            Op::PeerCancel => {
                if let Some(m) = self.peer.cancel() {
                    self.deliver(m)
                }
            }
            Op::PeerBye => {
                if let Some(m) = self.peer.in_dialog(Method::Bye) {
                    self.deliver(m)
                }
            }
            Op::PeerReinvite => {
                if let Some(m) = self.peer.in_dialog(Method::Invite) {
                    self.deliver(m)
                }
            }
            Op::Hangup => {}
            Op::Send(text) => self.send(text),
            Op::ToggleTransport => self.transport = toggle(self.transport),
            Op::Datagram(d) => {
                if let Ok(m) = parse_datagram(d) {
                    self.deliver(m)
                }
            }
        }
    }

    /// The TU answers everything it holds, then time runs out: nothing may be left.
    fn finish(&mut self) {
        let pending: Vec<(TxId, Message)> = self
            .server
            .iter()
            .filter(|(tx, _)| self.tl.state(*tx).is_some())
            .cloned()
            .collect();
        for (tx, req) in pending {
            if req.cseq.method == Method::Ack {
                continue;
            }
            let r = Message::response_to(&req, 500, "Fuzz End");
            let _ = self.tl.send_response(tx, r, self.now);
            self.drain();
        }
        let end = self.now + DRAIN_MS;
        while self.now < end {
            self.advance(Some(MAX_ADVANCE_MS.min(end - self.now)));
        }
        // A client INVITE with a provisional response waits for its final response as long
        // as it takes (RFC 3261 §17.1.1.2: Timer B stops in Proceeding; giving up is the
        // TU's business, §9.1). Every other transaction must be gone.
        let waiting = self
            .client_invites
            .iter()
            .filter(|tx| self.tl.state(**tx) == Some(State::Proceeding))
            .count();
        assert_eq!(
            self.tl.len(),
            waiting,
            "{} transactions left after the TU answered and timers ran out ({waiting} client INVITEs in Proceeding)",
            self.tl.len()
        );
        assert_eq!(
            self.tl.poll_timeout(),
            None,
            "a deadline with no transaction"
        );
    }
}

fn toggle(t: Transport) -> Transport {
    if t == Transport::Udp {
        Transport::Tcp
    } else {
        Transport::Udp
    }
}

// ---------------------------------------------------------------- user agent

struct UaRun {
    ua: UserAgent,
    now: u64,
    transport: Transport,
    peer: PeerView,
    /// Calls in order of appearance (inbound and outbound), newest last.
    calls: Vec<CallId>,
    incoming: Vec<CallId>,
    events: u64,
}

impl UaRun {
    fn drain(&mut self) {
        let mut sent = 0;
        while let Some(t) = self.ua.poll_transmit() {
            sent += 1;
            assert!(
                sent <= MAX_TRANSMITS_PER_STEP,
                "more than {sent} transmits in one step"
            );
            if std::env::var_os("FUZZ_DEBUG").is_some() {
                eprintln!(">> {}", t.message.to_string().lines().next().unwrap_or(""));
            }
            self.peer.saw_sent(&t.message);
        }
        while let Some((call, e)) = self.ua.poll_event() {
            self.events = self.events.wrapping_mul(31).wrapping_add(
                fnv1a(
                    format!("{e:?}")
                        .split(['(', ' ', '{'])
                        .next()
                        .unwrap_or("")
                        .as_bytes(),
                ) & 0xff,
            );
            if let DialogEvent::Incoming(_) = e {
                self.incoming.push(call);
            }
            if !self.calls.contains(&call) {
                self.calls.push(call);
            }
            assert!(self.calls.len() <= 4 * MAX_OPS, "more calls than messages");
        }
        assert!(
            self.ua.poll_timeout().is_none_or(|t| t >= self.now),
            "deadline in the past"
        );
    }

    fn timers(&mut self) {
        self.ua.handle_timeout(self.now);
        self.drain();
        check_deadline(self.ua.poll_timeout(), self.now, "user agent");
    }

    fn advance(&mut self, by: Option<u64>) {
        let target = match by {
            Some(ms) => self.now + ms,
            None => self.ua.poll_timeout().unwrap_or(self.now).max(self.now),
        };
        for _ in 0..MAX_TIMER_STEPS {
            match self.ua.poll_timeout() {
                Some(t) if t <= target => {
                    self.now = self.now.max(t);
                    self.timers();
                }
                _ => {
                    self.now = target;
                    self.timers();
                    return;
                }
            }
        }
        panic!("user agent timers keep firing: more than {MAX_TIMER_STEPS} steps");
    }

    fn deliver(&mut self, m: Message) {
        self.peer.saw_delivered(&m);
        self.ua
            .handle_message(m, addr(PEER), self.transport, self.now);
        self.drain();
    }

    fn answer(&mut self, code: u16) {
        let Some(&call) = self.incoming.last() else {
            return;
        };
        let now = self.now;
        let _ = match code {
            180 => self.ua.ringing(call, now),
            183 => self.ua.early_media(call, media(40_000), now).map(|_| ()),
            200..=299 => self.ua.accept(call, media(40_000), now).map(|_| ()),
            300..=699 => self.ua.reject(call, code, now),
            _ => self.ua.ringing(call, now),
        };
        self.drain();
    }

    fn call(&mut self) {
        let target = Uri::parse("sip:bob@192.0.2.10:5060").expect("constant URI");
        let out = OutboundCall {
            target: target.clone(),
            from: NameAddr::new(Uri::parse("sip:tympan@192.0.2.20").expect("constant URI")),
            to: NameAddr::new(target),
            dest: addr(PEER),
            media: media(40_002),
            credentials: None,
        };
        if let Ok(c) = self.ua.invite(out, self.now) {
            self.calls.push(c);
        }
        self.drain();
    }

    fn step(&mut self, op: &Op<'_>) {
        match *op {
            Op::Advance(by) => self.advance(by),
            Op::Answer(c) => self.answer(c),
            Op::PeerAnswer(c) => {
                if let Some(m) = self.peer.answer(c, false) {
                    self.deliver(m)
                }
            }
            Op::PeerAnswerInvite(c) => {
                if let Some(m) = self.peer.answer(c, true) {
                    self.deliver(m)
                }
            }
            Op::PeerAck => {
                if let Some(m) = self.peer.ack() {
                    self.deliver(m)
                }
            }
            Op::PeerCancel => {
                if let Some(m) = self.peer.cancel() {
                    self.deliver(m)
                }
            }
            Op::PeerBye => {
                if let Some(m) = self.peer.in_dialog(Method::Bye) {
                    self.deliver(m)
                }
            }
            Op::PeerReinvite => {
                if let Some(m) = self.peer.in_dialog(Method::Invite) {
                    self.deliver(m)
                }
            }
            Op::Hangup => {
                if let Some(&c) = self.calls.last() {
                    let _ = self.ua.hangup(c, self.now);
                    self.drain();
                }
            }
            Op::Send(_) => self.call(),
            Op::ToggleTransport => self.transport = toggle(self.transport),
            Op::Datagram(d) => {
                if let Ok(m) = parse_datagram(d) {
                    self.deliver(m)
                }
            }
        }
    }

    /// Every call is hung up, then time runs out: no call, transaction or deadline is left.
    fn finish(&mut self) {
        for c in self.calls.clone() {
            if self.ua.dialog(c).is_some() {
                let _ = self.ua.hangup(c, self.now);
                self.drain();
            }
        }
        let end = self.now + DRAIN_MS;
        while self.now < end {
            self.advance(Some(MAX_ADVANCE_MS.min(end - self.now)));
        }
        let left: Vec<_> = self
            .calls
            .iter()
            .filter_map(|c| self.ua.dialog(*c).map(|d| (*c, d.role, d.state)))
            .collect();
        assert!(
            left.is_empty(),
            "calls left after hang-up and timers: {left:?}"
        );
        assert_eq!(self.ua.active_calls(), 0, "active calls left");
        assert_eq!(
            self.ua.transactions(),
            0,
            "{} transactions left after hang-up and timers",
            self.ua.transactions()
        );
        assert_eq!(
            self.ua.poll_timeout(),
            None,
            "a deadline with nothing pending"
        );
    }
}

/// `sip_transactions`: the program of `input` (see the module documentation) run on a
/// [`TransactionLayer`] and on a [`UserAgent`].
pub fn sip_transactions(input: &[u8]) -> Outcome {
    let ops = program(input);
    let mut tl = TlRun {
        tl: TransactionLayer::new(),
        now: 1_000,
        transport: Transport::Udp,
        peer: PeerView::default(),
        server: Vec::new(),
        terminated: HashSet::new(),
        client_invites: Vec::new(),
        events: 0,
    };
    let mut ua = UaRun {
        ua: UserAgent::new(
            UaConfig {
                local_addr: addr(LOCAL),
                transport: Transport::Udp,
                contact_user: "tympan".into(),
            },
            Box::new(SplitMix64(7)),
        ),
        now: 1_000,
        transport: Transport::Udp,
        peer: PeerView::default(),
        calls: Vec::new(),
        incoming: Vec::new(),
        events: 0,
    };
    let mut parsed = 0u64;
    for op in &ops {
        if let Op::Datagram(d) = op {
            parsed += u64::from(parse_datagram(d).is_ok());
        }
        tl.step(op);
        ua.step(op);
    }
    tl.finish();
    ua.finish();
    if parsed == 0 && ops.iter().any(|o| matches!(o, Op::Datagram(_))) {
        return Outcome::Refused(ops.len().min(8) as u64);
    }
    Outcome::Accepted((tl.events & 0xffff_ffff) ^ (ua.events << 32))
}

/// Scenario seeds: calls in and out, cancel, reject, timeouts, retransmissions, stray and
/// out-of-dialog messages, TCP.
pub fn sip_transaction_seeds() -> Vec<Vec<u8>> {
    let m = crate::sip::CALL_MESSAGES;
    let (invite, trying, ringing, ok, ack, bye, cancel, e487) =
        (m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]);
    let options = m[8];
    let s = |parts: &[&str]| parts.join("\n~").into_bytes();
    vec![
        s(&[invite, "r180", "r200", "k", "t1000", "y", "t40000"]),
        s(&[invite, "r180", "c", "t100", "k", "t40000"]),
        s(&[invite, "r486", "t600", "k", "k", "t40000"]),
        s(&[invite, invite, "t500", "r200", "t500", "t1000", "t", "k", "k", "t"]),
        s(&[invite, "r183", "r200", "t64000"]),
        s(&[invite, "r200", "k", "i", "t100", "y"]),
        s(&["u", "e100", "e180", "e200", "t100", "y", "t40000"]),
        s(&["u", "e183", "e486", "e486", "t40000"]),
        s(&["u", "t", "t", "t40000"]),
        s(&["u", "e180", "h", "e200", "f487", "k", "t40000"]),
        s(&["u", "e180", "h", "e200", "e487", "t40000"]),
        s(&["u", "e183", "t1000", "h", "f200", "t100", "y"]),
        s(&["u", "h", "e100", "t40000"]),
        s(&["u", "e200", "i", "h", "e200", "t40000"]),
        s(&[options, "r200", options, "t40000"]),
        s(&[bye, "r481", ack, trying, ok, e487, "t"]),
        s(&["x", invite, "r200", "k", "t1", "y", "t1"]),
        s(&["x", "u", "e180", "e603", "t1"]),
        s(&[invite, cancel, ringing, "r200", "t32000", "k"]),
        s(&["u", "uOPTIONS sip:bob@192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKo1\r\nFrom: <sip:t@192.0.2.20>;tag=f\r\nTo: <sip:bob@192.0.2.10>\r\nCall-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", "e200", "e200", "t6000"]),
    ]
}
