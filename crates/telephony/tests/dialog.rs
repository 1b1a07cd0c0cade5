//! Two user agents (UAC ↔ UAS) against each other, messages shuttled in memory as bytes,
//! with UDP loss, proxies (Record-Route), CANCEL, digest retry, hold and timers.

use std::net::{IpAddr, SocketAddr};

use tympan_telephony::dialog::{
    CallId, DialogEvent, DialogState, OutboundCall, SplitMix64, UaConfig, UserAgent,
};
use tympan_telephony::digest::{Credentials, DigestServer, Verdict};
use tympan_telephony::sdp::{self, Codec, Direction, LocalMedia};
use tympan_telephony::sip::{parse_datagram, Header, Message, NameAddr, StartLine, Uri};
use tympan_telephony::transaction::{Transmit, Transport};

const A: &str = "127.0.0.1:5060";
const B: &str = "127.0.0.1:5070";
/// Proxies: P1 is next to A, P2 next to B; both forward to the other UA.
const P1: &str = "127.0.0.1:5081";
const P2: &str = "127.0.0.1:5082";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ua(a: &str, user: &str, seed: u64) -> UserAgent {
    UserAgent::new(
        UaConfig {
            local_addr: addr(a),
            transport: Transport::Udp,
            contact_user: user.into(),
        },
        Box::new(SplitMix64(seed)),
    )
}

fn media(port: u16) -> LocalMedia {
    LocalMedia {
        address: IpAddr::from([127, 0, 0, 1]),
        port,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        session_id: 1,
        session_version: 1,
    }
}

fn outbound(creds: Option<Credentials>) -> OutboundCall {
    let target = Uri::parse("sip:bob@127.0.0.1:5070").unwrap();
    OutboundCall {
        target: target.clone(),
        from: NameAddr::new(Uri::parse("sip:alice@127.0.0.1").unwrap()),
        to: NameAddr::new(target),
        dest: addr(B),
        media: media(40000),
        credentials: creds,
    }
}

/// A delivered (or dropped) message: time, from, to, first line.
#[derive(Debug, Clone)]
struct Hop {
    t: u64,
    from: SocketAddr,
    to: SocketAddr,
    msg: Message,
    dropped: bool,
}

type Filter = Box<dyn FnMut(&SocketAddr, &SocketAddr, &mut Message) -> bool>;

struct Net {
    a: UserAgent,
    b: UserAgent,
    now: u64,
    log: Vec<Hop>,
    ev_a: Vec<(CallId, DialogEvent)>,
    ev_b: Vec<(CallId, DialogEvent)>,
    /// Returns false to drop; may edit the message in transit.
    filter: Filter,
}

fn line(m: &Message) -> String {
    match &m.start {
        StartLine::Request(r) => format!("{} {}", r.method, m.cseq.seq),
        StartLine::Response(r) => format!("{} {}", r.code, m.cseq.method),
    }
}

impl Net {
    fn new() -> Net {
        Net {
            a: ua(A, "alice", 1),
            b: ua(B, "bob", 2),
            now: 0,
            log: Vec::new(),
            ev_a: Vec::new(),
            ev_b: Vec::new(),
            filter: Box::new(|_, _, _| true),
        }
    }

    fn collect(&mut self) -> Vec<(SocketAddr, Transmit)> {
        let mut out = Vec::new();
        while let Some(t) = self.a.poll_transmit() {
            out.push((addr(A), t));
        }
        while let Some(t) = self.b.poll_transmit() {
            out.push((addr(B), t));
        }
        while let Some(e) = self.a.poll_event() {
            self.ev_a.push(e);
        }
        while let Some(e) = self.b.poll_event() {
            self.ev_b.push(e);
        }
        out
    }

    /// Delivers messages until none is in flight.
    fn pump(&mut self) {
        loop {
            let batch = self.collect();
            if batch.is_empty() {
                return;
            }
            for (from, mut t) in batch {
                let keep = (self.filter)(&from, &t.dest, &mut t.message);
                self.log.push(Hop {
                    t: self.now,
                    from,
                    to: t.dest,
                    msg: t.message.clone(),
                    dropped: !keep,
                });
                if !keep {
                    continue;
                }
                // Proxies forward to the UA on the other side.
                let to = match t.dest {
                    d if d == addr(P1) || d == addr(P2) => {
                        if from == addr(A) {
                            addr(B)
                        } else {
                            addr(A)
                        }
                    }
                    d => d,
                };
                let bytes = t.message.to_bytes();
                let target = if to == addr(A) {
                    &mut self.a
                } else {
                    &mut self.b
                };
                assert!(to == addr(A) || to == addr(B), "sent to unknown {to}");
                target
                    .handle_datagram(&bytes, from, Transport::Udp, self.now)
                    .expect("our messages parse");
            }
        }
    }

    /// Runs timers up to `until`, delivering as it goes.
    fn run_until(&mut self, until: u64) {
        self.pump();
        loop {
            let next = [self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    self.a.handle_timeout(self.now);
                    self.b.handle_timeout(self.now);
                    self.pump();
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    fn lines(&self) -> Vec<String> {
        self.log
            .iter()
            .map(|h| {
                let dir = if h.from == addr(A) { ">" } else { "<" };
                format!(
                    "{dir}{}{}",
                    line(&h.msg),
                    if h.dropped { " (lost)" } else { "" }
                )
            })
            .collect()
    }

    fn incoming(&self) -> CallId {
        self.ev_b
            .iter()
            .find(|(_, e)| matches!(e, DialogEvent::Incoming(_)))
            .map(|(c, _)| *c)
            .expect("B saw the INVITE")
    }
}

fn sent<'a>(net: &'a Net, from: &str, what: &str) -> Vec<&'a Hop> {
    net.log
        .iter()
        .filter(|h| h.from == addr(from) && line(&h.msg) == what)
        .collect()
}

#[test]
fn call_with_ringing_early_media_answer_and_bye() {
    let mut n = Net::new();
    let call = n.a.invite(outbound(None), 0).unwrap();
    n.pump();
    let inbound = n.incoming();
    match &n.ev_b[0].1 {
        DialogEvent::Incoming(inc) => {
            assert!(inc.offer.as_ref().unwrap().starts_with(b"v=0"));
            assert!(inc.from.tag().is_some());
            assert_eq!(inc.request_uri.to_string(), "sip:bob@127.0.0.1:5070");
        }
        e => panic!("{e:?}"),
    }
    n.b.ringing(inbound, 10).unwrap();
    n.pump();
    assert_eq!(n.ev_a, vec![(call, DialogEvent::Ringing)]);
    assert_eq!(n.a.dialog(call).unwrap().state, DialogState::Early);
    let agreed = n.b.early_media(inbound, media(50000), 20).unwrap();
    assert_eq!(agreed.codec, Codec::Pcmu);
    n.pump();
    match &n.ev_a[1].1 {
        DialogEvent::EarlyMedia(neg) => {
            assert_eq!(neg.remote_port, 50000);
            assert_eq!(neg.codec, Codec::Pcmu);
        }
        e => panic!("{e:?}"),
    }
    n.b.accept(inbound, media(50000), 30).unwrap();
    n.pump();
    assert!(matches!(&n.ev_a[2].1, DialogEvent::Answered(neg) if neg.remote_port == 50000));
    assert_eq!(n.ev_b.last().unwrap().1, DialogEvent::Confirmed);
    assert_eq!(
        n.lines(),
        vec![
            ">INVITE 1",
            "<100 INVITE",
            "<180 INVITE",
            "<183 INVITE",
            "<200 INVITE",
            ">ACK 1"
        ]
    );
    // The 183 and 200 carry the same answer (no 100rel: 183's SDP is a preview).
    assert_eq!(
        sent(&n, B, "183 INVITE")[0].msg.body,
        sent(&n, B, "200 INVITE")[0].msg.body
    );
    // Tags, target and CSeqs.
    let (da, db) = (n.a.dialog(call).unwrap(), n.b.dialog(inbound).unwrap());
    assert_eq!(da.remote.tag(), db.local.tag());
    assert_eq!(da.local.tag(), db.remote.tag());
    assert_eq!(da.remote_target.to_string(), "sip:bob@127.0.0.1:5070");
    assert_eq!(db.remote_target.to_string(), "sip:alice@127.0.0.1:5060");
    assert_eq!(da.state, DialogState::Confirmed);
    let ack = &sent(&n, A, "ACK 1")[0].msg;
    assert_ne!(
        ack.via[0].branch(),
        sent(&n, A, "INVITE 1")[0].msg.via[0].branch()
    );
    assert!(ack.via[0].branch().unwrap().starts_with("z9hG4bK"));

    n.a.hangup(call, 1000).unwrap();
    n.pump();
    assert_eq!(&n.lines()[6..], [">BYE 2", "<200 BYE"]);
    let bye = &sent(&n, A, "BYE 2")[0].msg;
    assert_eq!(
        bye.request().unwrap().uri.to_string(),
        "sip:bob@127.0.0.1:5070"
    );
    let b_tag =
        n.b.dialog(inbound)
            .map(|d| d.local.tag().unwrap().to_string());
    assert_eq!(bye.to.tag(), sent(&n, B, "200 INVITE")[0].msg.to.tag());
    assert_eq!(b_tag, None, "B forgot the dialog once terminated");
    assert_eq!(
        n.ev_b.last().unwrap(),
        &(inbound, DialogEvent::Terminated { by_remote: true })
    );
    assert_eq!(
        n.ev_a.last().unwrap(),
        &(call, DialogEvent::Terminated { by_remote: false })
    );
    assert_eq!(n.a.active_calls(), 0);
    assert_eq!(n.b.active_calls(), 0);
}

#[test]
fn record_route_gives_route_sets_both_ways() {
    let mut n = Net::new();
    // Two proxies record-route the INVITE on its way A → P1 → P2 → B.
    n.filter = Box::new(|from, _to, m| {
        if *from == addr(A) && line(m) == "INVITE 1" {
            m.record_route = vec![
                NameAddr::new(Uri::parse("sip:127.0.0.1:5082;lr").unwrap()),
                NameAddr::new(Uri::parse("sip:127.0.0.1:5081;lr").unwrap()),
            ];
        }
        true
    });
    let call = n.a.invite(outbound(None), 0).unwrap();
    n.pump();
    let inbound = n.incoming();
    n.b.accept(inbound, media(50000), 10).unwrap();
    n.pump();
    let routes = |m: &Message| {
        m.route
            .iter()
            .map(|r| r.uri.to_string())
            .collect::<Vec<_>>()
    };
    // UAC: route set is the Record-Route reversed; ACK goes to the first route (P1).
    let ack = sent(&n, A, "ACK 1")[0];
    assert_eq!(
        routes(&ack.msg),
        ["sip:127.0.0.1:5081;lr", "sip:127.0.0.1:5082;lr"]
    );
    assert_eq!(ack.to, addr(P1));
    assert_eq!(n.ev_b.last().unwrap().1, DialogEvent::Confirmed);
    // UAS: route set in Record-Route order; its BYE goes to P2.
    n.b.hangup(inbound, 2000).unwrap();
    n.pump();
    let bye = sent(&n, B, "BYE 1")[0];
    assert_eq!(
        routes(&bye.msg),
        ["sip:127.0.0.1:5082;lr", "sip:127.0.0.1:5081;lr"]
    );
    assert_eq!(bye.to, addr(P2));
    assert_eq!(
        bye.msg.request().unwrap().uri.to_string(),
        "sip:alice@127.0.0.1:5060"
    );
    assert_eq!(
        n.ev_a.last().unwrap(),
        &(call, DialogEvent::Terminated { by_remote: true })
    );
    assert_eq!(
        n.ev_b.last().unwrap(),
        &(inbound, DialogEvent::Terminated { by_remote: false })
    );
}

#[test]
fn cancel_before_answer_gives_487() {
    let mut n = Net::new();
    let call = n.a.invite(outbound(None), 0).unwrap();
    // Hang up before any provisional response: CANCEL waits (§9.1)...
    n.a.hangup(call, 0).unwrap();
    assert!(sent(&n, A, "CANCEL 1").is_empty());
    // ...and goes as soon as one arrives, 100 Trying included (the transaction stops Timer B
    // on it, so waiting for a 180 that never comes would keep the call forever; found by the
    // `sip_transactions` fuzz target).
    n.pump();
    let inbound = n.incoming();
    assert_eq!(
        n.lines(),
        [
            ">INVITE 1",
            "<100 INVITE",
            ">CANCEL 1",
            "<200 CANCEL",
            "<487 INVITE",
            ">ACK 1"
        ]
    );
    let cancel = &sent(&n, A, "CANCEL 1")[0].msg;
    let invite = &sent(&n, A, "INVITE 1")[0].msg;
    assert_eq!(cancel.via, invite.via);
    assert!(n.ev_b.contains(&(inbound, DialogEvent::Cancelled)));
    assert_eq!(
        n.ev_a.last().unwrap(),
        &(
            call,
            DialogEvent::Failed {
                code: 487,
                reason: "Request Terminated".into()
            }
        )
    );
    assert!(n.b.accept(inbound, media(1), 20).is_err());
    assert!(n.b.ringing(inbound, 20).is_err());
}

#[test]
fn cancelled_invite_without_final_response_is_given_up_after_64_t1() {
    let mut n = Net::new();
    // The callee answers the CANCEL but its 487 never arrives (RFC 3261 §9.1).
    n.filter = Box::new(|from, _, m| !(*from == addr(B) && line(m) == "487 INVITE"));
    let call = n.a.invite(outbound(None), 0).unwrap();
    n.pump();
    let inbound = n.incoming();
    n.b.ringing(inbound, 0).unwrap();
    n.pump();
    n.now = 1_000;
    n.a.hangup(call, 1_000).unwrap();
    n.pump();
    assert_eq!(sent(&n, A, "CANCEL 1").len(), 1);
    assert_eq!(sent(&n, B, "200 CANCEL").len(), 1);
    // 64*T1 after the CANCEL, not before: the call is still there at 32.999 s.
    n.run_until(32_999);
    assert!(n.a.dialog(call).is_some());
    assert!(!n
        .ev_a
        .iter()
        .any(|(_, e)| matches!(e, DialogEvent::Failed { .. })));
    assert_eq!(n.a.poll_timeout(), Some(33_000));
    n.run_until(33_000);
    assert_eq!(
        n.ev_a.last().unwrap(),
        &(
            call,
            DialogEvent::Failed {
                code: 487,
                reason: tympan_telephony::dialog::GIVE_UP_REASON.into()
            }
        )
    );
    assert!(n.a.dialog(call).is_none());
    assert_eq!(n.a.active_calls(), 0);
    assert_eq!(n.a.transactions(), 0, "the INVITE transaction is destroyed");
    // The 487 lost on the way was retransmitted (and lost) until B gave up too; nothing is
    // left on either side once their timers ran.
    n.run_until(120_000);
    assert!(sent(&n, B, "487 INVITE").len() > 1);
    assert_eq!(n.a.poll_timeout(), None);
    assert_eq!(n.b.poll_timeout(), None);
    assert_eq!(n.b.active_calls(), 0);
    // A 487 arriving after the give-up is a stray response: no second event, no ACK.
    let events = n.ev_a.len();
    let late = sent(&n, B, "487 INVITE")[0].msg.to_bytes();
    n.a.handle_datagram(&late, addr(B), Transport::Udp, 120_000)
        .unwrap();
    n.pump();
    assert_eq!(n.ev_a.len(), events);
    assert!(sent(&n, A, "ACK 1").is_empty());
}

#[test]
fn lost_invite_200_and_ack_are_recovered_by_retransmission() {
    let mut n = Net::new();
    let mut lost = vec!["INVITE 1", "200 INVITE", "ACK 1"];
    n.filter = Box::new(move |_, _, m| {
        let l = line(m);
        match lost.iter().position(|x| *x == l) {
            Some(i) => {
                lost.remove(i);
                false
            }
            None => true,
        }
    });
    let call = n.a.invite(outbound(None), 0).unwrap();
    n.run_until(400);
    assert!(n.ev_b.is_empty());
    n.run_until(500); // Timer A
    let inbound = n.incoming();
    n.now = 600;
    n.b.accept(inbound, media(50000), 600).unwrap();
    n.run_until(5000);
    assert_eq!(
        n.lines(),
        [
            ">INVITE 1 (lost)",
            ">INVITE 1",
            "<100 INVITE",
            "<200 INVITE (lost)",
            "<200 INVITE",
            ">ACK 1 (lost)",
            "<200 INVITE",
            ">ACK 1",
        ]
    );
    let times: Vec<u64> = n.log.iter().map(|h| h.t).collect();
    // INVITE again at T1; the UAS's 2xx again at +T1 then +2*T1.
    assert_eq!(times, [0, 500, 500, 600, 1100, 1100, 2100, 2100]);
    assert!(matches!(n.ev_a[0].1, DialogEvent::Answered(_)));
    assert_eq!(n.ev_b.last().unwrap().1, DialogEvent::Confirmed);
    assert_eq!(n.a.dialog(call).unwrap().state, DialogState::Confirmed);
    // Nothing more is sent once confirmed.
    let before = n.log.len();
    n.run_until(60_000);
    assert_eq!(n.log.len(), before);
}

#[test]
fn no_ack_ends_the_call_with_bye_after_64_t1() {
    let mut n = Net::new();
    n.filter = Box::new(|_, _, m| line(m) != "ACK 1");
    let call = n.a.invite(outbound(None), 0).unwrap();
    n.pump();
    let inbound = n.incoming();
    n.b.accept(inbound, media(50000), 0).unwrap();
    n.run_until(40_000);
    let oks: Vec<u64> = sent(&n, B, "200 INVITE").iter().map(|h| h.t).collect();
    // 0, then T1 doubling capped at T2 (4 s) until 32 s.
    assert_eq!(
        oks,
        [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    let bye = sent(&n, B, "BYE 1");
    assert_eq!(bye.len(), 1);
    assert_eq!(bye[0].t, 32_000);
    assert_eq!(
        n.ev_b.last().unwrap(),
        &(inbound, DialogEvent::Terminated { by_remote: false })
    );
    assert_eq!(
        n.ev_a.last().unwrap(),
        &(call, DialogEvent::Terminated { by_remote: true })
    );
}

#[test]
fn unanswered_invite_times_out_with_408() {
    let mut n = Net::new();
    n.filter = Box::new(|from, _, _| *from != addr(A));
    let call = n.a.invite(outbound(None), 0).unwrap();
    n.run_until(31_999);
    assert!(n.ev_a.is_empty());
    n.run_until(32_000);
    assert_eq!(
        n.ev_a,
        [(
            call,
            DialogEvent::Failed {
                code: 408,
                reason: "Request Timeout".into()
            }
        )]
    );
    assert_eq!(sent(&n, A, "INVITE 1").len(), 7);
}

#[test]
fn digest_challenge_is_answered_once() {
    let mut n = Net::new();
    let mut server = DigestServer::new("trunk.example");
    server.add_user("alice", "s3cret");
    let server = std::rc::Rc::new(std::cell::RefCell::new(server));
    let verdicts = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let (s2, v2) = (server.clone(), verdicts.clone());
    let mut rng = SplitMix64(99);
    // A "proxy" in front of B demands Proxy-Authorization: it answers 407 itself and
    // passes the INVITE on once the credentials verify.
    let pending: std::rc::Rc<std::cell::RefCell<Vec<Message>>> = Default::default();
    let p2 = pending.clone();
    n.filter = Box::new(move |from, _, m| {
        if *from != addr(A) || !line(m).starts_with("INVITE") {
            return true;
        }
        let auth = m
            .header_values("Proxy-Authorization")
            .next()
            .map(str::to_string);
        let uri = m.request().unwrap().uri.to_string();
        match auth {
            Some(a) => {
                let v = s2.borrow_mut().verify(&a, "INVITE", &uri, 0);
                let ok = matches!(v, Verdict::Accepted { .. });
                v2.borrow_mut().push(v);
                ok
            }
            None => {
                let mut r = Message::response_to(m, 407, "Proxy Authentication Required");
                r.to.set_tag("proxy");
                for c in s2.borrow_mut().challenge(&mut rng, 0, false) {
                    r.other.push(Header {
                        name: "Proxy-Authenticate".into(),
                        value: c.to_string(),
                    });
                }
                p2.borrow_mut().push(r);
                false
            }
        }
    });
    let creds = Credentials {
        username: "alice".into(),
        password: "s3cret".into(),
    };
    let call = n.a.invite(outbound(Some(creds)), 0).unwrap();
    n.pump();
    let r = pending.borrow_mut().pop().unwrap();
    n.a.handle_datagram(&r.to_bytes(), addr(P1), Transport::Udp, 10)
        .unwrap();
    n.pump();
    assert_eq!(
        *verdicts.borrow(),
        [Verdict::Accepted {
            username: "alice".into()
        }]
    );
    let invites: Vec<&Message> = n
        .log
        .iter()
        .filter(|h| {
            h.from == addr(A)
                && h.msg
                    .request()
                    .is_some_and(|_| line(&h.msg).starts_with("INVITE"))
        })
        .map(|h| &h.msg)
        .collect();
    assert_eq!(invites.len(), 2);
    assert_eq!(invites[1].cseq.seq, 2);
    assert_eq!(invites[0].call_id, invites[1].call_id);
    assert_eq!(invites[0].from, invites[1].from);
    assert_ne!(invites[0].via[0].branch(), invites[1].via[0].branch());
    let auth = invites[1]
        .header_values("Proxy-Authorization")
        .next()
        .unwrap();
    assert!(auth.contains("algorithm=SHA-256"), "{auth}");
    // The 407 was ACKed by the transaction layer.
    assert_eq!(sent(&n, A, "ACK 1").len(), 1);
    let inbound = n.incoming();
    n.b.accept(inbound, media(50000), 20).unwrap();
    n.pump();
    assert!(matches!(n.ev_a.last().unwrap(), (c, DialogEvent::Answered(_)) if *c == call));
    // The ACK of the 2xx has CSeq 2 and the credentials.
    let ack = &sent(&n, A, "ACK 2")[0].msg;
    assert!(ack.header_values("Proxy-Authorization").next().is_some());
}

#[test]
fn second_challenge_fails_the_call() {
    let mut n = Net::new();
    let mut server = DigestServer::new("trunk.example");
    server.add_user("alice", "right");
    let mut rng = SplitMix64(5);
    let creds = Credentials {
        username: "alice".into(),
        password: "wrong".into(),
    };
    n.filter = Box::new(|_, _, _| false);
    let call = n.a.invite(outbound(Some(creds)), 0).unwrap();
    for round in 0..2 {
        n.pump();
        let inv = n
            .log
            .iter()
            .rev()
            .find(|h| line(&h.msg).starts_with("INVITE"))
            .unwrap()
            .msg
            .clone();
        if round == 1 {
            let a = inv
                .header_values("Authorization")
                .next()
                .unwrap()
                .to_string();
            assert!(matches!(
                server.verify(&a, "INVITE", &inv.request().unwrap().uri.to_string(), 0),
                Verdict::Rejected(_)
            ));
        }
        let mut r = Message::response_to(&inv, 401, "Unauthorized");
        r.to.set_tag("t");
        for c in server.challenge(&mut rng, 0, false) {
            r.other.push(Header {
                name: "WWW-Authenticate".into(),
                value: c.to_string(),
            });
        }
        n.a.handle_datagram(&r.to_bytes(), addr(B), Transport::Udp, 1)
            .unwrap();
    }
    n.pump();
    assert_eq!(
        n.ev_a,
        [(
            call,
            DialogEvent::Failed {
                code: 401,
                reason: "Unauthorized".into()
            }
        )]
    );
}

#[test]
fn reject_503_and_sdp_mismatch_488() {
    let mut n = Net::new();
    let call = n.a.invite(outbound(None), 0).unwrap();
    n.pump();
    let inbound = n.incoming();
    n.b.reject(inbound, 503, 1).unwrap();
    n.pump();
    assert_eq!(
        n.ev_a,
        [(
            call,
            DialogEvent::Failed {
                code: 503,
                reason: "Service Unavailable".into()
            }
        )]
    );
    assert!(n
        .lines()
        .ends_with(&["<503 INVITE".to_string(), ">ACK 1".to_string()]));

    // An offer without PCMU/PCMA gets 488 from accept.
    let mut n = Net::new();
    n.filter = Box::new(|_, _, m| {
        if line(m) == "INVITE 1" {
            let s = String::from_utf8(m.body.clone()).unwrap();
            m.body = s
                .replace("m=audio 40000 RTP/AVP 0 8 101", "m=audio 40000 RTP/AVP 18")
                .replace("a=rtpmap:0 PCMU/8000\r\n", "")
                .replace("a=rtpmap:8 PCMA/8000\r\n", "")
                .into_bytes();
            assert!(!m.body.windows(4).any(|w| w == b"PCMU"), "{s}");
        }
        true
    });
    let call = n.a.invite(outbound(None), 0).unwrap();
    n.pump();
    let inbound = n.incoming();
    assert!(n.b.accept(inbound, media(50000), 1).is_err());
    n.pump();
    assert!(matches!(&n.ev_a[0], (c, DialogEvent::Failed { code: 488, .. }) if *c == call));
}

/// A request from A within the dialog, written by hand (our UA has no re-INVITE API).
fn in_dialog(n: &Net, call: CallId, method: &str, seq: u32, body: &[u8]) -> Vec<u8> {
    let d = n.a.dialog(call).unwrap();
    let ct = if body.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    let mut v = format!(
        "{method} {} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKre{seq}{method}\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {seq} {method}\r\n\
         Contact: <sip:alice@127.0.0.1:5060>\r\n{ct}Content-Length: {}\r\n\r\n",
        d.remote_target,
        d.local,
        d.remote,
        d.call_id,
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

fn last_from_b(n: &mut Net) -> Message {
    let mut last = None;
    while let Some(t) = n.b.poll_transmit() {
        last = Some(t.message);
    }
    while let Some(e) = n.b.poll_event() {
        n.ev_b.push(e);
    }
    last.expect("B answered")
}

#[test]
fn reinvite_hold_unhold_cseq_and_in_dialog_methods() {
    let mut n = Net::new();
    let call = n.a.invite(outbound(None), 0).unwrap();
    n.pump();
    let inbound = n.incoming();
    n.b.accept(inbound, media(50000), 0).unwrap();
    n.pump();
    let a = addr(A);
    let hold = sdp::offer(&media(40000), Direction::SendOnly);
    n.b.handle_datagram(
        &in_dialog(&n, call, "INVITE", 5, &hold),
        a,
        Transport::Udp,
        100,
    )
    .unwrap();
    let ok = last_from_b(&mut n);
    assert_eq!(line(&ok), "200 INVITE");
    let text = String::from_utf8(ok.body.clone()).unwrap();
    assert!(text.contains("a=recvonly"), "{text}");
    assert!(
        text.contains("o=tympan 1 2 "),
        "session version bumped: {text}"
    );
    assert!(matches!(
        n.ev_b.last().unwrap(),
        (c, DialogEvent::Hold(neg)) if *c == inbound && neg.direction == Direction::RecvOnly
    ));
    assert!(n.b.dialog(inbound).unwrap().on_hold);
    // ACK the re-INVITE's 200, then no retransmission follows.
    let ack = in_dialog(&n, call, "ACK", 5, b"");
    n.b.handle_datagram(&ack, a, Transport::Udp, 150).unwrap();
    n.b.handle_timeout(700);
    assert!(n.b.poll_transmit().is_none());
    // A lower CSeq is out of order: 500.
    n.b.handle_datagram(
        &in_dialog(&n, call, "OPTIONS", 4, b""),
        a,
        Transport::Udp,
        200,
    )
    .unwrap();
    let r = last_from_b(&mut n);
    assert_eq!(r.response().unwrap().code, 500);
    // Inactive → still held (no event), then sendrecv → Unhold.
    let inactive = sdp::offer(&media(40000), Direction::Inactive);
    n.b.handle_datagram(
        &in_dialog(&n, call, "INVITE", 6, &inactive),
        a,
        Transport::Udp,
        300,
    )
    .unwrap();
    let ok = last_from_b(&mut n);
    assert!(String::from_utf8(ok.body).unwrap().contains("a=inactive"));
    n.b.handle_datagram(&in_dialog(&n, call, "ACK", 6, b""), a, Transport::Udp, 310)
        .unwrap();
    let count = n.ev_b.len();
    let resume = sdp::offer(&media(40000), Direction::SendRecv);
    n.b.handle_datagram(
        &in_dialog(&n, call, "INVITE", 7, &resume),
        a,
        Transport::Udp,
        400,
    )
    .unwrap();
    let ok = last_from_b(&mut n);
    assert!(String::from_utf8(ok.body).unwrap().contains("a=sendrecv"));
    assert_eq!(n.ev_b.len(), count + 1);
    assert!(matches!(
        n.ev_b.last().unwrap(),
        (_, DialogEvent::Unhold(_))
    ));
    n.b.handle_datagram(&in_dialog(&n, call, "ACK", 7, b""), a, Transport::Udp, 410)
        .unwrap();
    // OPTIONS in dialog: 200 with Allow and Accept; unknown method: 501; INFO reported.
    n.b.handle_datagram(
        &in_dialog(&n, call, "OPTIONS", 8, b""),
        a,
        Transport::Udp,
        500,
    )
    .unwrap();
    let r = last_from_b(&mut n);
    assert_eq!(r.response().unwrap().code, 200);
    assert!(r.header_values("Allow").next().unwrap().contains("BYE"));
    assert_eq!(r.header_values("Accept").next(), Some("application/sdp"));
    n.b.handle_datagram(&in_dialog(&n, call, "FOO", 9, b""), a, Transport::Udp, 600)
        .unwrap();
    assert_eq!(last_from_b(&mut n).response().unwrap().code, 501);
    // A BYE for a dialog B does not know: 481.
    let stray = String::from_utf8(in_dialog(&n, call, "BYE", 10, b""))
        .unwrap()
        .replace(&n.a.dialog(call).unwrap().call_id, "other-call");
    n.b.handle_datagram(stray.as_bytes(), a, Transport::Udp, 700)
        .unwrap();
    assert_eq!(last_from_b(&mut n).response().unwrap().code, 481);
    assert_eq!(n.b.dialog(inbound).unwrap().state, DialogState::Confirmed);
}

#[test]
fn out_of_dialog_options_and_unknown_methods() {
    let mut b = ua(B, "bob", 3);
    let req = |method: &str| {
        format!(
            "{method} sip:bob@127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{method}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=x\r\nTo: <sip:bob@127.0.0.1>\r\n\
             Call-ID: c1\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let mut answer = |method: &str| {
        b.handle_datagram(req(method).as_bytes(), addr(A), Transport::Udp, 0)
            .unwrap();
        let t = b.poll_transmit().unwrap();
        assert_eq!(t.dest, addr(A));
        assert!(t.message.to.tag().is_some());
        t.message
    };
    let r = answer("OPTIONS");
    assert_eq!(r.response().unwrap().code, 200);
    assert_eq!(
        r.header_values("Allow").next(),
        Some(tympan_telephony::dialog::ALLOW)
    );
    assert_eq!(answer("PUBLISH").response().unwrap().code, 501);
    let r = answer("SUBSCRIBE");
    assert_eq!(r.response().unwrap().code, 405);
    assert!(r.header_values("Allow").next().is_some());
    assert_eq!(answer("BYE").response().unwrap().code, 481);
    assert!(b.poll_event().is_none());
    // Unparseable input is an error naming the header.
    let e = b
        .handle_datagram(
            b"INVITE sip:b@x SIP/2.0\r\nVia: nonsense\r\n\r\n",
            addr(A),
            Transport::Udp,
            0,
        )
        .unwrap_err();
    assert!(e.to_string().contains("Via"), "{e}");
    assert!(parse_datagram(&r.to_bytes()).is_ok());
}

#[test]
fn refer_blind_transfer_with_notify_sipfrag() {
    let mut n = Net::new();
    let call = n.a.invite(outbound(None), 0).unwrap();
    n.pump();
    let inbound = n.incoming();
    n.b.accept(inbound, media(50000), 0).unwrap();
    n.pump();
    n.a.refer(call, Uri::parse("sip:carol@127.0.0.1:5090").unwrap(), 100)
        .unwrap();
    n.pump();
    let refer = &sent(&n, A, "REFER 2")[0].msg;
    assert_eq!(
        refer.header_values("Refer-To").next(),
        Some("<sip:carol@127.0.0.1:5090>")
    );
    assert_eq!(sent(&n, B, "202 REFER").len(), 1);
    assert_eq!(
        n.ev_b.last().unwrap(),
        &(
            inbound,
            DialogEvent::TransferRequested {
                refer_to: "sip:carol@127.0.0.1:5090".into()
            }
        )
    );
    assert_eq!(
        n.ev_a.last().unwrap(),
        &(call, DialogEvent::TransferAccepted)
    );
    n.b.notify_transfer(inbound, 100, "Trying", 200).unwrap();
    n.pump();
    n.b.notify_transfer(inbound, 200, "OK", 300).unwrap();
    n.pump();
    let notifies = sent(&n, B, "NOTIFY 1");
    assert_eq!(notifies[0].msg.header_values("Event").next(), Some("refer"));
    assert_eq!(
        notifies[0].msg.header_values("Subscription-State").next(),
        Some("active;expires=60")
    );
    assert_eq!(notifies[0].msg.body, b"SIP/2.0 100 Trying\r\n");
    let last = &sent(&n, B, "NOTIFY 2")[0].msg;
    assert!(last
        .header_values("Subscription-State")
        .next()
        .unwrap()
        .starts_with("terminated"));
    assert_eq!(sent(&n, A, "200 NOTIFY").len(), 2);
    let progress: Vec<&DialogEvent> = n
        .ev_a
        .iter()
        .filter(|(c, e)| *c == call && matches!(e, DialogEvent::TransferProgress { .. }))
        .map(|(_, e)| e)
        .collect();
    assert_eq!(
        progress,
        [
            &DialogEvent::TransferProgress {
                code: 100,
                reason: "Trying".into(),
                done: false
            },
            &DialogEvent::TransferProgress {
                code: 200,
                reason: "OK".into(),
                done: true
            }
        ]
    );
    // A NOTIFY for another event package is refused with 489.
    let mut a_req = Message::response_to(&sent(&n, B, "NOTIFY 2")[0].msg, 200, "x");
    a_req.start = sent(&n, B, "NOTIFY 2")[0].msg.start.clone();
    a_req.cseq.seq = 4;
    a_req.via[0].params[0].value = Some("z9hG4bKother".into());
    a_req.other = vec![Header {
        name: "Event".into(),
        value: "presence".into(),
    }];
    n.a.handle_datagram(&a_req.to_bytes(), addr(B), Transport::Udp, 400)
        .unwrap();
    let r = n.a.poll_transmit().unwrap().message;
    assert_eq!(r.response().unwrap().code, 489);
}

fn answered_call(n: &mut Net) -> (CallId, CallId) {
    let call = n.a.invite(outbound(None), 0).unwrap();
    n.pump();
    let inbound = n.incoming();
    n.b.accept(inbound, media(50000), 0).unwrap();
    n.pump();
    (call, inbound)
}

#[test]
fn our_reinvite_holds_and_resumes_both_ways_and_glare_gives_491() {
    let mut n = Net::new();
    let (call, inbound) = answered_call(&mut n);
    // A holds B; B's first 200 is lost and retransmitted.
    let mut lost = false;
    n.filter = Box::new(move |_, _, m| {
        if line(m) == "200 INVITE" && m.cseq.seq == 2 && !lost {
            lost = true;
            return false;
        }
        true
    });
    n.a.reoffer(call, Direction::SendOnly, 1_000).unwrap();
    n.now = 1_000;
    n.run_until(10_000);
    assert!(matches!(
        n.ev_b.last().unwrap(),
        (c, DialogEvent::Hold(neg)) if *c == inbound && neg.direction == Direction::RecvOnly
    ));
    assert!(matches!(
        n.ev_a.last().unwrap(),
        (c, DialogEvent::Reoffered(neg)) if *c == call && neg.direction == Direction::SendOnly
    ));
    let invite = &sent(&n, A, "INVITE 2")[0].msg;
    assert!(String::from_utf8_lossy(&invite.body).contains("a=sendonly"));
    assert_eq!(
        sent(&n, B, "200 INVITE").len(),
        3,
        "first 200, lost re-INVITE 200, again"
    );
    assert_eq!(sent(&n, A, "ACK 2").len(), 1);
    // Resume.
    n.a.reoffer(call, Direction::SendRecv, 20_000).unwrap();
    n.now = 20_000;
    n.run_until(30_000);
    assert!(matches!(
        n.ev_b.last().unwrap(),
        (_, DialogEvent::Unhold(_))
    ));
    assert!(matches!(
        n.ev_a.last().unwrap(),
        (_, DialogEvent::Reoffered(neg)) if neg.direction == Direction::SendRecv
    ));
    // B (the UAS) holds A.
    n.b.reoffer(inbound, Direction::Inactive, 31_000).unwrap();
    n.now = 31_000;
    n.run_until(40_000);
    assert!(matches!(
        n.ev_a.last().unwrap(),
        (c, DialogEvent::Hold(neg)) if *c == call && neg.direction == Direction::Inactive
    ));
    assert!(sent(&n, B, "INVITE 1").len() == 1 && sent(&n, A, "200 INVITE").len() == 1);
    // Both re-INVITE at once: each answers the other 491 (§14.1).
    n.a.reoffer(call, Direction::SendRecv, 41_000).unwrap();
    n.b.reoffer(inbound, Direction::SendRecv, 41_000).unwrap();
    n.now = 41_000;
    n.pump();
    let fail = DialogEvent::ReofferFailed {
        code: 491,
        reason: "Request Pending".into(),
    };
    assert_eq!(n.ev_a.last().unwrap(), &(call, fail.clone()));
    assert_eq!(n.ev_b.last().unwrap(), &(inbound, fail));
    // And the dialog is still usable: a retry succeeds.
    let b_events = n.ev_b.len();
    n.a.reoffer(call, Direction::SendRecv, 45_000).unwrap();
    n.now = 45_000;
    n.run_until(50_000);
    assert!(matches!(
        n.ev_a.last().unwrap(),
        (_, DialogEvent::Reoffered(_))
    ));
    // B was not on hold (it held A), so no event there; its answer is sendrecv.
    assert_eq!(n.ev_b.len(), b_events);
    let ok = &n.log.last().unwrap().msg;
    assert_eq!(line(ok), "ACK 5");
    let ok = &sent(&n, B, "200 INVITE").last().unwrap().msg;
    assert!(String::from_utf8_lossy(&ok.body).contains("a=sendrecv"));
}

/// B requires digest credentials on INVITE: without them 401 with SHA-256 and MD5
/// challenges; A's retry with SHA-256 credentials reaches B as an authenticated call; a
/// wrong password is refused with a second 401; no credentials, no call.
#[test]
fn uas_invite_digest_sha256_and_wrong_password() {
    let mut n = Net::new();
    let mut auth = DigestServer::new("tympan.test").with_nonce_lifetime_ms(30_000);
    auth.add_user("alice", "s3cret");
    n.b.set_invite_auth(Some(auth));
    let creds = |pw: &str| Credentials {
        username: "alice".into(),
        password: pw.into(),
    };
    // Right password: 401, then the retry is accepted.
    let call = n.a.invite(outbound(Some(creds("s3cret"))), 0).unwrap();
    n.pump();
    let challenges: Vec<String> = sent(&n, B, "401 INVITE")[0]
        .msg
        .header_values("WWW-Authenticate")
        .map(str::to_string)
        .collect();
    assert_eq!(challenges.len(), 2, "{challenges:?}");
    assert!(
        challenges[0].contains("algorithm=SHA-256"),
        "{challenges:?}"
    );
    assert!(challenges[1].contains("algorithm=MD5"), "{challenges:?}");
    let inc = n
        .ev_b
        .iter()
        .find_map(|(_, e)| match e {
            DialogEvent::Incoming(i) => Some(i.clone()),
            _ => None,
        })
        .expect("the authenticated INVITE reached B");
    assert_eq!(inc.user.as_deref(), Some("alice"));
    let retry = &sent(&n, A, "INVITE 2")[0].msg;
    let a = retry.header_values("Authorization").next().unwrap();
    assert!(a.contains("algorithm=SHA-256"), "{a}");
    n.b.accept(n.incoming(), media(50000), 10).unwrap();
    n.pump();
    assert!(matches!(n.ev_a.last().unwrap(), (c, DialogEvent::Answered(_)) if *c == call));

    // Wrong password: the retry gets a second 401 and the call fails; B saw no call.
    let mut n = Net::new();
    let mut auth = DigestServer::new("tympan.test");
    auth.add_user("alice", "s3cret");
    n.b.set_invite_auth(Some(auth));
    let call = n.a.invite(outbound(Some(creds("wrong"))), 0).unwrap();
    n.pump();
    assert_eq!(sent(&n, B, "401 INVITE").len(), 2);
    assert!(n.ev_b.is_empty(), "{:?}", n.ev_b);
    assert!(n
        .ev_a
        .iter()
        .any(|(c, e)| *c == call && matches!(e, DialogEvent::Failed { code: 401, .. })));

    // An INVITE without credentials is never passed on.
    let mut n = Net::new();
    let mut auth = DigestServer::new("tympan.test");
    auth.add_user("alice", "s3cret");
    n.b.set_invite_auth(Some(auth));
    n.a.invite(outbound(None), 0).unwrap();
    n.pump();
    assert_eq!(sent(&n, B, "401 INVITE").len(), 1);
    assert!(n.ev_b.is_empty());
}

/// A nonce older than the lifetime gets `stale=true` (right password) and is not accepted.
#[test]
fn uas_invite_expired_nonce_is_stale() {
    let mut b = ua(B, "bob", 7);
    let mut auth = DigestServer::new("tympan.test").with_nonce_lifetime_ms(1_000);
    auth.add_user("alice", "pw");
    b.set_invite_auth(Some(auth));
    let mut a = ua(A, "alice", 8);
    a.invite(outbound(None), 0).unwrap();
    let inv = a.poll_transmit().unwrap().message;
    b.handle_datagram(&inv.to_bytes(), addr(A), Transport::Udp, 0)
        .unwrap();
    let r = loop {
        let m = b.poll_transmit().unwrap().message;
        if m.response().unwrap().code >= 200 {
            break m;
        }
    };
    assert_eq!(r.response().unwrap().code, 401);
    let ch =
        tympan_telephony::digest::select_challenge(r.header_values("WWW-Authenticate")).unwrap();
    let uri = inv.request().unwrap().uri.to_string();
    let authz = tympan_telephony::digest::authorize(&ch, &creds_pw(), "INVITE", &uri, 1, "c1")
        .unwrap()
        .to_string();
    // Same INVITE with credentials, new branch, after the nonce expired.
    let mut late = inv.clone();
    late.cseq.seq += 1;
    late.via[0] = tympan_telephony::sip::Via::new(
        "UDP",
        late.via[0].host.clone(),
        late.via[0].port,
        "z9hG4bKlate",
    );
    late.other.push(Header {
        name: "Authorization".into(),
        value: authz,
    });
    b.handle_datagram(&late.to_bytes(), addr(A), Transport::Udp, 5_000)
        .unwrap();
    let r = loop {
        let m = b.poll_transmit().unwrap().message;
        if m.cseq.seq == late.cseq.seq && m.response().unwrap().code >= 200 {
            break m;
        }
    };
    assert_eq!(r.response().unwrap().code, 401);
    let v = r.header_values("WWW-Authenticate").next().unwrap();
    assert!(v.contains("stale=true"), "{v}");
    assert!(b.poll_event().is_none());
}

fn creds_pw() -> Credentials {
    Credentials {
        username: "alice".into(),
        password: "pw".into(),
    }
}

/// An INFO from A in the dialog, with `headers` (Content-Type...) and `body`.
fn info(n: &Net, call: CallId, seq: u32, headers: &str, body: &str) -> Vec<u8> {
    let d = n.a.dialog(call).unwrap();
    format!(
        "INFO {} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKinfo{seq}\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {seq} INFO\r\n\
         {headers}Content-Length: {}\r\n\r\n{body}",
        d.remote_target,
        d.local,
        d.remote,
        d.call_id,
        body.len()
    )
    .into_bytes()
}

#[test]
fn info_dtmf_is_answered_and_reported_and_other_bodies_refused() {
    let mut n = Net::new();
    let (call, inbound) = answered_call(&mut n);
    let a = addr(A);
    let relay = "Content-Type: application/dtmf-relay\r\n";
    let cases: Vec<(&str, &str, u16, Option<DialogEvent>)> = vec![
        (
            relay,
            "Signal=5\r\nDuration=160\r\n",
            200,
            Some(DialogEvent::Dtmf {
                digit: '5',
                duration_ms: Some(160),
            }),
        ),
        (
            "Content-Type: application/dtmf\r\n",
            "#",
            200,
            Some(DialogEvent::Dtmf {
                digit: '#',
                duration_ms: None,
            }),
        ),
        // Event numbers for * and #, lower-case letters, spaces and LF line ends.
        (
            relay,
            "signal = 10\nDuration= 250\n",
            200,
            Some(DialogEvent::Dtmf {
                digit: '*',
                duration_ms: Some(250),
            }),
        ),
        (
            "Content-Type: Application/DTMF-Relay; charset=utf-8\r\n",
            "Signal=d\r\n",
            200,
            Some(DialogEvent::Dtmf {
                digit: 'D',
                duration_ms: None,
            }),
        ),
        (relay, "Duration=160\r\n", 400, None),
        (relay, "Signal=X\r\nDuration=160\r\n", 400, None),
        (relay, "Signal=1\r\nDuration=99999\r\n", 400, None),
        ("Content-Type: text/plain\r\n", "hello", 415, None),
        (
            "Info-Package: foo\r\nContent-Type: application/foo\r\n",
            "x",
            469,
            None,
        ),
        (
            "",
            "",
            200,
            Some(DialogEvent::Info {
                content_type: None,
                body: Vec::new(),
            }),
        ),
    ];
    for (i, (headers, body, code, event)) in cases.into_iter().enumerate() {
        let seq = 10 + i as u32;
        let before = n.ev_b.len();
        n.b.handle_datagram(&info(&n, call, seq, headers, body), a, Transport::Udp, 100)
            .unwrap();
        let r = last_from_b(&mut n);
        assert_eq!(r.response().unwrap().code, code, "case {i}: {r}");
        match code {
            415 => assert_eq!(
                r.header_values("Accept").next(),
                Some("application/dtmf-relay, application/dtmf")
            ),
            469 => assert_eq!(r.header_values("Recv-Info").next(), Some("")),
            400 => assert_eq!(r.response().unwrap().reason, "Bad DTMF Body"),
            _ => {}
        }
        let new: Vec<DialogEvent> = n.ev_b[before..].iter().map(|(_, e)| e.clone()).collect();
        assert_eq!(new, event.into_iter().collect::<Vec<_>>(), "case {i}");
        if let Some((c, _)) = n.ev_b.last() {
            assert!(n.ev_b.len() == before || *c == inbound);
        }
    }
    assert_eq!(n.b.dialog(inbound).unwrap().state, DialogState::Confirmed);
}

#[test]
fn info_dtmf_goes_one_request_at_a_time_and_failures_are_reported() {
    let mut n = Net::new();
    let (call, inbound) = answered_call(&mut n);
    let start = n.log.len();
    // B sends "1#" by INFO: the second INFO only after the first's 200.
    n.b.send_info_dtmf(inbound, "1#", 160, 100).unwrap();
    n.pump();
    assert_eq!(
        n.lines()[start..],
        ["<INFO 1", ">200 INFO", "<INFO 2", ">200 INFO"]
    );
    let first = &sent(&n, B, "INFO 1")[0].msg;
    assert_eq!(
        first.content_type.as_deref(),
        Some("application/dtmf-relay")
    );
    assert_eq!(first.body, b"Signal=1\r\nDuration=160\r\n");
    // A (our UA too) reports both digits.
    let got: Vec<char> = n
        .ev_a
        .iter()
        .filter_map(|(c, e)| match e {
            DialogEvent::Dtmf { digit, .. } if *c == call => Some(*digit),
            _ => None,
        })
        .collect();
    assert_eq!(got, ['1', '#']);
    assert!(n.b.send_info_dtmf(inbound, "1x", 160, 200).is_err());
    // A peer that never answers: 408 after 64*T1, then the next digit goes.
    n.filter = Box::new(|from, _, m| !(*from == addr(A) && line(m) == "200 INFO"));
    n.now = 1_000;
    n.b.send_info_dtmf(inbound, "78", 160, 1_000).unwrap();
    n.run_until(1_000 + 31_999);
    assert!(!n
        .ev_b
        .iter()
        .any(|(_, e)| matches!(e, DialogEvent::InfoFailed { .. })));
    assert!(sent(&n, B, "INFO 4").is_empty(), "the 8 waits for the 7");
    n.run_until(1_000 + 32_000);
    assert!(n.ev_b.contains(&(
        inbound,
        DialogEvent::InfoFailed {
            digit: '7',
            code: 408,
            reason: "Request Timeout".into()
        }
    )));
    assert_eq!(sent(&n, B, "INFO 4").len(), 1);
}
