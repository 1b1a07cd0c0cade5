//! The SIP transaction layer (RFC 3261 §17 with RFC 6026's Accepted state), sans I/O.
//!
//! Four state machines — client and server, INVITE and non-INVITE — keyed as §17.1.3 and
//! §17.2.3 say (branch + sent-by + method; ACK matches its INVITE, CANCEL is a transaction
//! of its own that names the INVITE it cancels). Retransmission timers (A, E, G) run over
//! UDP only; over reliable transports the waiting timers D, I, J and K are zero (§17).
//!
//! Feed it parsed messages and `now_ms`; take [`Transmit`]s, [`TxEvent`]s and the next
//! deadline from the `poll_*` methods.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use thiserror::Error;

use crate::sip::{Message, Method, StartLine};

/// RTT estimate T1 (RFC 3261 §17.1.1.1): first retransmission interval.
pub const T1_MS: u64 = 500;
/// Maximum retransmission interval for non-INVITE requests and INVITE responses.
pub const T2_MS: u64 = 4_000;
/// Maximum time a message stays in the network.
pub const T4_MS: u64 = 5_000;
/// 64*T1: timers B, F, H, J, L and M.
pub const TIMEOUT_MS: u64 = 64 * T1_MS;
/// Timer D over UDP (≥ 32 s).
pub const TIMER_D_MS: u64 = 32_000;

/// A transport protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, the layer retransmits.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// `true` for TCP and TLS.
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination (for a response: where its request came from).
    pub dest: SocketAddr,
    /// Transport to use.
    pub transport: Transport,
    /// The message.
    pub message: Message,
}

/// A transaction handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId(pub u64);

/// What the transaction layer tells its user (the dialog layer / core).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxEvent {
    /// A new request created server transaction `tx`. For CANCEL, `cancels` is the INVITE
    /// server transaction it matches, if any.
    Request {
        /// The new server transaction.
        tx: TxId,
        /// The request.
        message: Message,
        /// For CANCEL: the INVITE transaction it targets.
        cancels: Option<TxId>,
    },
    /// A response for client transaction `tx` (1xx, the final one, and in the Accepted
    /// state every 2xx retransmission).
    Response {
        /// The client transaction.
        tx: TxId,
        /// The response.
        message: Message,
    },
    /// An ACK that matches no INVITE transaction awaiting it: the ACK of a 2xx, for the
    /// dialog layer.
    Ack {
        /// The ACK.
        message: Message,
        /// Where it came from.
        source: SocketAddr,
    },
    /// A response matching no client transaction (e.g. a 2xx retransmitted after the
    /// transaction ended), for the dialog layer.
    StrayResponse {
        /// The response.
        message: Message,
    },
    /// Timer B or F (no final response) or H (no ACK) fired.
    Timeout {
        /// The transaction.
        tx: TxId,
    },
    /// The transaction is gone; its id will not be used again.
    Terminated {
        /// The transaction.
        tx: TxId,
    },
}

/// Misuse of the layer by its user.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TxError {
    /// The request's top Via has no branch.
    #[error("the request has no Via with a branch")]
    NoBranch,
    /// A message of the wrong kind was given (a response to `send_request`...).
    #[error("{0}")]
    WrongKind(&'static str),
    /// ACK is not sent through a transaction (the ACK of a 2xx is the TU's, §13.2.2.4).
    #[error("an ACK is sent with send_stateless, not as a transaction")]
    AckIsNotATransaction,
    /// No such (live) transaction.
    #[error("no transaction {0:?}")]
    NoTransaction(TxId),
    /// The transaction already sent a final response, or is a client transaction.
    #[error("transaction {0:?} cannot send this response in its state")]
    BadState(TxId),
    /// A client transaction with this branch and method exists.
    #[error("a client transaction with this branch and method exists")]
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
enum Kind {
    ClientInvite,
    ClientNonInvite,
    ServerInvite,
    ServerNonInvite,
}

/// Transaction states of §17 plus RFC 6026's Accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Client INVITE sent, nothing heard.
    Calling,
    /// Non-INVITE: request sent (client) or received (server), no response yet.
    Trying,
    /// A provisional response was received (client) or sent (server).
    Proceeding,
    /// A non-2xx final (INVITE) or any final (non-INVITE) response was received/sent.
    Completed,
    /// RFC 6026: a 2xx to INVITE was received (client) or sent (server).
    Accepted,
    /// Server INVITE: the ACK of the non-2xx final arrived.
    Confirmed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    A,
    B,
    D,
    E,
    F,
    K,
    G,
    H,
    I,
    J,
    L,
    M,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Client(String, Method),
    Server(String, String, Method),
}

#[derive(Debug)]
struct Tx {
    kind: Kind,
    state: State,
    request: Message,
    peer: SocketAddr,
    transport: Transport,
    last_response: Option<Message>,
    ack: Option<Message>,
    /// Current retransmission interval of A, E or G.
    interval: u64,
    timers: Vec<(u64, Timer)>,
    key: Key,
}

impl Tx {
    fn set(&mut self, at: u64, t: Timer) {
        self.timers.retain(|(_, x)| *x != t);
        self.timers.push((at, t));
    }
    fn clear(&mut self, t: Timer) {
        self.timers.retain(|(_, x)| *x != t);
    }
}

/// Server-side key (§17.2.3): branch, sent-by, method (ACK matches its INVITE). Requests
/// without the magic cookie fall back to RFC 2543 matching on Call-ID, CSeq number, From
/// tag and sent-by.
fn server_key(m: &Message) -> Option<Key> {
    let via = m.top_via()?;
    let method = match m.method() {
        Method::Ack => Method::Invite,
        other => other.clone(),
    };
    let sent_by = via.sent_by().to_ascii_lowercase();
    let branch = match via.branch() {
        Some(b) if via.is_rfc3261_branch() => b.to_string(),
        _ => format!(
            "rfc2543:{}:{}:{}",
            m.call_id,
            m.cseq.seq,
            m.from.tag().unwrap_or("")
        ),
    };
    Some(Key::Server(branch, sent_by, method))
}

fn client_key(m: &Message) -> Option<Key> {
    let branch = m.top_via()?.branch()?.to_string();
    Some(Key::Client(branch, m.cseq.method.clone()))
}

/// All transactions of one SIP endpoint.
#[derive(Debug, Default)]
pub struct TransactionLayer {
    txs: HashMap<TxId, Tx>,
    index: HashMap<Key, TxId>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<TxEvent>,
    next_id: u64,
}

impl TransactionLayer {
    /// An empty layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// `true` when no transaction is live.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// The state of a live transaction.
    pub fn state(&self, tx: TxId) -> Option<State> {
        self.txs.get(&tx).map(|t| t.state)
    }

    /// Starts a client transaction for `request` (its top Via must carry the branch).
    pub fn send_request(
        &mut self,
        request: Message,
        dest: SocketAddr,
        transport: Transport,
        now_ms: u64,
    ) -> Result<TxId, TxError> {
        let StartLine::Request(r) = &request.start else {
            return Err(TxError::WrongKind("send_request takes a request"));
        };
        if r.method == Method::Ack {
            return Err(TxError::AckIsNotATransaction);
        }
        let kind = if r.method == Method::Invite {
            Kind::ClientInvite
        } else {
            Kind::ClientNonInvite
        };
        let key = client_key(&request).ok_or(TxError::NoBranch)?;
        if self.index.contains_key(&key) {
            return Err(TxError::Duplicate);
        }
        let id = self.alloc();
        let mut tx = Tx {
            kind,
            state: if kind == Kind::ClientInvite {
                State::Calling
            } else {
                State::Trying
            },
            request: request.clone(),
            peer: dest,
            transport,
            last_response: None,
            ack: None,
            interval: T1_MS,
            timers: Vec::new(),
            key: key.clone(),
        };
        let (retransmit, timeout) = match kind {
            Kind::ClientInvite => (Timer::A, Timer::B),
            _ => (Timer::E, Timer::F),
        };
        if !transport.is_reliable() {
            tx.set(now_ms + T1_MS, retransmit);
        }
        tx.set(now_ms + TIMEOUT_MS, timeout);
        self.transmits.push_back(Transmit {
            dest,
            transport,
            message: request,
        });
        self.index.insert(key, id);
        self.txs.insert(id, tx);
        Ok(id)
    }

    /// Sends a message outside any transaction: the ACK of a 2xx (§13.2.2.4), or a 2xx
    /// retransmission by the UAS core after its transaction ended.
    pub fn send_stateless(&mut self, message: Message, dest: SocketAddr, transport: Transport) {
        self.transmits.push_back(Transmit {
            dest,
            transport,
            message,
        });
    }

    /// Sends `response` through server transaction `tx`.
    pub fn send_response(
        &mut self,
        tx: TxId,
        response: Message,
        now_ms: u64,
    ) -> Result<(), TxError> {
        let code = match &response.start {
            StartLine::Response(r) => r.code,
            StartLine::Request(_) => {
                return Err(TxError::WrongKind("send_response takes a response"))
            }
        };
        let t = self.txs.get_mut(&tx).ok_or(TxError::NoTransaction(tx))?;
        let reliable = t.transport.is_reliable();
        match (t.kind, t.state) {
            (Kind::ServerInvite, State::Proceeding) => {
                if code < 200 {
                } else if code < 300 {
                    t.state = State::Accepted;
                    t.set(now_ms + TIMEOUT_MS, Timer::L);
                } else {
                    t.state = State::Completed;
                    if !reliable {
                        t.interval = T1_MS;
                        t.set(now_ms + T1_MS, Timer::G);
                    }
                    t.set(now_ms + TIMEOUT_MS, Timer::H);
                }
            }
            // RFC 6026 §8.5: the TU's 2xx retransmissions pass through Accepted.
            (Kind::ServerInvite, State::Accepted) if (200..300).contains(&code) => {}
            (Kind::ServerNonInvite, State::Trying | State::Proceeding) => {
                if code < 200 {
                    t.state = State::Proceeding;
                } else {
                    t.state = State::Completed;
                    t.set(now_ms + if reliable { 0 } else { TIMEOUT_MS }, Timer::J);
                }
            }
            _ => return Err(TxError::BadState(tx)),
        }
        t.last_response = Some(response.clone());
        let (dest, transport) = (t.peer, t.transport);
        self.transmits.push_back(Transmit {
            dest,
            transport,
            message: response,
        });
        // A zero timer (reliable transport) fires at once.
        self.handle_timeout(now_ms);
        Ok(())
    }

    /// Feeds a message received from `source` over `transport`.
    pub fn handle_incoming(
        &mut self,
        message: Message,
        source: SocketAddr,
        transport: Transport,
        now_ms: u64,
    ) {
        match message.start {
            StartLine::Request(_) => self.incoming_request(message, source, transport, now_ms),
            StartLine::Response(_) => self.incoming_response(message, now_ms),
        }
    }

    fn incoming_request(
        &mut self,
        mut m: Message,
        source: SocketAddr,
        transport: Transport,
        now_ms: u64,
    ) {
        // §18.2.1 / RFC 3581: the responses (copies of this Via) say where it came from.
        if let Some(v) = m.via.first_mut() {
            v.stamp_received(source);
        }
        let Some(key) = server_key(&m) else { return };
        let is_ack = *m.method() == Method::Ack;
        if let Some(&id) = self.index.get(&key) {
            let t = self.txs.get_mut(&id).expect("indexed transaction exists");
            if is_ack {
                if t.kind == Kind::ServerInvite && t.state == State::Completed {
                    t.state = State::Confirmed;
                    t.clear(Timer::G);
                    t.clear(Timer::H);
                    let wait = if t.transport.is_reliable() { 0 } else { T4_MS };
                    t.set(now_ms + wait, Timer::I);
                    self.handle_timeout(now_ms);
                } else if t.state != State::Confirmed {
                    self.events.push_back(TxEvent::Ack { message: m, source });
                }
                return;
            }
            // A retransmitted request: repeat the last response, if the state says so.
            let resend = match (t.kind, t.state) {
                (Kind::ServerInvite, State::Proceeding | State::Completed) => {
                    t.last_response.clone()
                }
                (Kind::ServerNonInvite, State::Proceeding | State::Completed) => {
                    t.last_response.clone()
                }
                _ => None,
            };
            if let Some(r) = resend {
                self.transmits.push_back(Transmit {
                    dest: t.peer,
                    transport: t.transport,
                    message: r,
                });
            }
            return;
        }
        if is_ack {
            self.events.push_back(TxEvent::Ack { message: m, source });
            return;
        }
        let invite = *m.method() == Method::Invite;
        let cancels = if *m.method() == Method::Cancel {
            match &key {
                Key::Server(b, s, _) => self
                    .index
                    .get(&Key::Server(b.clone(), s.clone(), Method::Invite))
                    .copied(),
                Key::Client(..) => None,
            }
        } else {
            None
        };
        let id = self.alloc();
        let mut tx = Tx {
            kind: if invite {
                Kind::ServerInvite
            } else {
                Kind::ServerNonInvite
            },
            state: if invite {
                State::Proceeding
            } else {
                State::Trying
            },
            request: m.clone(),
            peer: source,
            transport,
            last_response: None,
            ack: None,
            interval: T1_MS,
            timers: Vec::new(),
            key: key.clone(),
        };
        if invite {
            // §17.2.1: answer 100 Trying at once rather than betting on the TU's 200 ms.
            let trying = Message::response_to(&m, 100, "Trying");
            tx.last_response = Some(trying.clone());
            self.transmits.push_back(Transmit {
                dest: source,
                transport,
                message: trying,
            });
        }
        self.index.insert(key, id);
        self.txs.insert(id, tx);
        self.events.push_back(TxEvent::Request {
            tx: id,
            message: m,
            cancels,
        });
    }

    fn incoming_response(&mut self, m: Message, now_ms: u64) {
        let code = m.response().map_or(0, |r| r.code);
        let Some(key) = client_key(&m) else { return };
        let Some(&id) = self.index.get(&key) else {
            self.events.push_back(TxEvent::StrayResponse { message: m });
            return;
        };
        let t = self.txs.get_mut(&id).expect("indexed transaction exists");
        // §17.1.3: the sent-by of the top Via must match the request's too.
        let same_sent_by = match (t.request.top_via(), m.top_via()) {
            (Some(a), Some(b)) => a.sent_by().eq_ignore_ascii_case(&b.sent_by()),
            _ => false,
        };
        if !same_sent_by {
            self.events.push_back(TxEvent::StrayResponse { message: m });
            return;
        }
        let reliable = t.transport.is_reliable();
        let mut pass = true;
        match (t.kind, t.state) {
            (Kind::ClientInvite, State::Calling | State::Proceeding) => {
                t.clear(Timer::A);
                if code < 200 {
                    t.state = State::Proceeding;
                    t.clear(Timer::B);
                } else if code < 300 {
                    t.state = State::Accepted;
                    t.clear(Timer::B);
                    t.set(now_ms + TIMEOUT_MS, Timer::M);
                } else {
                    t.state = State::Completed;
                    t.clear(Timer::B);
                    let ack = ack_for(&t.request, &m);
                    t.ack = Some(ack.clone());
                    self.transmits.push_back(Transmit {
                        dest: t.peer,
                        transport: t.transport,
                        message: ack,
                    });
                    t.set(now_ms + if reliable { 0 } else { TIMER_D_MS }, Timer::D);
                }
            }
            (Kind::ClientInvite, State::Accepted) => pass = (200..300).contains(&code),
            (Kind::ClientInvite, State::Completed) => {
                pass = false;
                if code >= 300 {
                    if let Some(ack) = t.ack.clone() {
                        self.transmits.push_back(Transmit {
                            dest: t.peer,
                            transport: t.transport,
                            message: ack,
                        });
                    }
                }
            }
            (Kind::ClientNonInvite, State::Trying | State::Proceeding) => {
                if code < 200 {
                    t.state = State::Proceeding;
                } else {
                    t.state = State::Completed;
                    t.clear(Timer::E);
                    t.clear(Timer::F);
                    t.set(now_ms + if reliable { 0 } else { T4_MS }, Timer::K);
                }
            }
            _ => pass = false,
        }
        if pass {
            self.events
                .push_back(TxEvent::Response { tx: id, message: m });
        }
        self.handle_timeout(now_ms);
    }

    /// The earliest pending timer deadline.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.txs
            .values()
            .flat_map(|t| t.timers.iter().map(|(at, _)| *at))
            .min()
    }

    /// Fires every timer due at `now_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        loop {
            let due = self
                .txs
                .iter()
                .flat_map(|(id, t)| t.timers.iter().map(move |(at, k)| (*at, *id, *k)))
                .filter(|(at, _, _)| *at <= now_ms)
                .min_by_key(|(at, id, _)| (*at, *id));
            let Some((at, id, timer)) = due else { return };
            self.fire(id, timer, at);
        }
    }

    fn fire(&mut self, id: TxId, timer: Timer, at: u64) {
        let t = self.txs.get_mut(&id).expect("timer of a live transaction");
        t.clear(timer);
        match timer {
            Timer::A | Timer::E | Timer::G => {
                let message = if timer == Timer::G {
                    t.last_response
                        .clone()
                        .expect("G runs after a final response")
                } else {
                    t.request.clone()
                };
                self.transmits.push_back(Transmit {
                    dest: t.peer,
                    transport: t.transport,
                    message,
                });
                t.interval = match timer {
                    Timer::A => t.interval * 2,
                    Timer::E if t.state == State::Proceeding => T2_MS,
                    _ => (t.interval * 2).min(T2_MS),
                };
                let next = at + t.interval;
                t.set(next, timer);
            }
            Timer::B | Timer::F | Timer::H => {
                self.events.push_back(TxEvent::Timeout { tx: id });
                self.terminate(id);
            }
            Timer::D | Timer::I | Timer::J | Timer::K | Timer::L | Timer::M => self.terminate(id),
        }
    }

    /// Destroys client INVITE transaction `tx` that is still waiting for its final response
    /// (Calling or Proceeding): RFC 3261 §9.1 lets the TU consider a CANCELled INVITE done
    /// when no final response came within 64*T1 of the CANCEL. A [`TxEvent::Terminated`]
    /// follows; a final response arriving later is a [`TxEvent::StrayResponse`]. Returns
    /// `false` (and does nothing) for any other transaction.
    pub fn abandon(&mut self, tx: TxId) -> bool {
        let waiting = self.txs.get(&tx).is_some_and(|t| {
            t.kind == Kind::ClientInvite && matches!(t.state, State::Calling | State::Proceeding)
        });
        if waiting {
            self.terminate(tx);
        }
        waiting
    }

    fn terminate(&mut self, id: TxId) {
        if let Some(t) = self.txs.remove(&id) {
            self.index.remove(&t.key);
            self.events.push_back(TxEvent::Terminated { tx: id });
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the user.
    pub fn poll_event(&mut self) -> Option<TxEvent> {
        self.events.pop_front()
    }

    fn alloc(&mut self) -> TxId {
        self.next_id += 1;
        TxId(self.next_id)
    }
}

/// The ACK of a non-2xx final response (§17.1.1.3): the INVITE's Request-URI, top Via,
/// From, Call-ID, CSeq number and Route; the response's To (with its tag).
fn ack_for(invite: &Message, response: &Message) -> Message {
    let mut ack = invite.clone();
    if let StartLine::Request(r) = &mut ack.start {
        r.method = Method::Ack;
    }
    ack.via.truncate(1);
    ack.to = response.to.clone();
    ack.cseq.method = Method::Ack;
    ack.contact.clear();
    ack.record_route.clear();
    ack.content_type = None;
    ack.other.clear();
    ack.body.clear();
    ack.max_forwards = Some(crate::sip::DEFAULT_MAX_FORWARDS);
    ack
}
