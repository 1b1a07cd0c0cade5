//! RFC 3261 §17 + RFC 6026 transaction timers, driven with explicit time. Each timer
//! (A B D E F G H I J K L M) has a test that fails if its value is wrong.

use std::net::SocketAddr;

use tympan_telephony::sip::{parse_datagram, Message, Method};
use tympan_telephony::transaction::{
    State, TransactionLayer, Transmit, Transport, TxEvent, TxId, T1_MS, T2_MS, T4_MS,
};

const PEER: &str = "192.0.2.9:5060";

fn peer() -> SocketAddr {
    PEER.parse().unwrap()
}

fn request(method: &str, branch: &str) -> Message {
    let text = format!(
        "{method} sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n\
         Call-ID: call-1\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    );
    parse_datagram(text.as_bytes()).unwrap()
}

fn response_for(req: &Message, code: u16) -> Message {
    let mut r = Message::response_to(req, code, "Reason");
    if code > 100 {
        r.to.set_tag("b2");
    }
    r
}

/// Advances time timer by timer up to `until`, returning every transmit with its time.
fn drive(l: &mut TransactionLayer, until: u64) -> Vec<(u64, Transmit)> {
    let mut out = Vec::new();
    while let Some(t) = l.poll_timeout() {
        if t > until {
            break;
        }
        l.handle_timeout(t);
        while let Some(x) = l.poll_transmit() {
            out.push((t, x));
        }
    }
    out
}

fn events(l: &mut TransactionLayer) -> Vec<TxEvent> {
    std::iter::from_fn(|| l.poll_event()).collect()
}

fn drain(l: &mut TransactionLayer) -> Vec<Transmit> {
    std::iter::from_fn(|| l.poll_transmit()).collect()
}

fn times(v: &[(u64, Transmit)]) -> Vec<u64> {
    v.iter().map(|(t, _)| *t).collect()
}

#[test]
fn client_invite_udp_timer_a_doubles_and_timer_b_times_out_at_64_t1() {
    let mut l = TransactionLayer::new();
    let tx = l
        .send_request(request("INVITE", "z9hG4bKa"), peer(), Transport::Udp, 0)
        .unwrap();
    assert_eq!(drain(&mut l).len(), 1);
    let sent = drive(&mut l, 40_000);
    assert_eq!(times(&sent), vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert!(sent
        .iter()
        .all(|(_, x)| x.message.method() == &Method::Invite));
    assert_eq!(
        events(&mut l),
        vec![TxEvent::Timeout { tx }, TxEvent::Terminated { tx }]
    );
    assert_eq!(l.state(tx), None);
}

#[test]
fn client_invite_timer_b_fires_at_exactly_32000() {
    let mut l = TransactionLayer::new();
    let tx = l
        .send_request(request("INVITE", "z9hG4bKb"), peer(), Transport::Tcp, 1000)
        .unwrap();
    drain(&mut l);
    assert_eq!(
        l.poll_timeout(),
        Some(1000 + 64 * T1_MS),
        "no Timer A over TCP"
    );
    l.handle_timeout(32_999);
    assert!(events(&mut l).is_empty());
    l.handle_timeout(33_000);
    assert_eq!(events(&mut l)[0], TxEvent::Timeout { tx });
    assert!(drain(&mut l).is_empty(), "never retransmitted over TCP");
}

#[test]
fn client_invite_non_2xx_is_acked_and_timer_d_waits_32s() {
    let mut l = TransactionLayer::new();
    let inv = request("INVITE", "z9hG4bKd");
    let tx = l
        .send_request(inv.clone(), peer(), Transport::Udp, 0)
        .unwrap();
    drain(&mut l);
    l.handle_incoming(response_for(&inv, 486), peer(), Transport::Udp, 100);
    let acks = drain(&mut l);
    assert_eq!(acks.len(), 1);
    let ack = &acks[0].message;
    assert_eq!(ack.method(), &Method::Ack);
    assert_eq!(ack.cseq.method, Method::Ack);
    assert_eq!(ack.cseq.seq, 1);
    assert_eq!(ack.top_via().unwrap().branch(), Some("z9hG4bKd"));
    assert_eq!(ack.to.tag(), Some("b2"));
    assert!(matches!(&events(&mut l)[..], [TxEvent::Response { .. }]));
    assert_eq!(l.state(tx), Some(State::Completed));
    // A retransmitted 486 is answered with the same ACK, not passed up again.
    l.handle_incoming(response_for(&inv, 486), peer(), Transport::Udp, 5000);
    assert_eq!(drain(&mut l)[0].message, *ack);
    assert!(events(&mut l).is_empty());
    l.handle_timeout(32_099);
    assert_eq!(l.state(tx), Some(State::Completed));
    l.handle_timeout(32_100);
    assert_eq!(events(&mut l), vec![TxEvent::Terminated { tx }]);
}

#[test]
fn client_invite_over_tcp_terminates_at_once_after_non_2xx() {
    let mut l = TransactionLayer::new();
    let inv = request("INVITE", "z9hG4bKd2");
    let tx = l
        .send_request(inv.clone(), peer(), Transport::Tcp, 0)
        .unwrap();
    drain(&mut l);
    l.handle_incoming(response_for(&inv, 603), peer(), Transport::Tcp, 10);
    assert_eq!(drain(&mut l).len(), 1, "the ACK");
    assert!(matches!(
        &events(&mut l)[..],
        [TxEvent::Response { .. }, TxEvent::Terminated { .. }]
    ));
    assert_eq!(l.state(tx), None);
}

#[test]
fn client_invite_2xx_enters_accepted_passes_retransmissions_and_timer_m_ends_it() {
    let mut l = TransactionLayer::new();
    let inv = request("INVITE", "z9hG4bKm");
    let tx = l
        .send_request(inv.clone(), peer(), Transport::Udp, 0)
        .unwrap();
    drain(&mut l);
    l.handle_incoming(response_for(&inv, 180), peer(), Transport::Udp, 50);
    l.handle_incoming(response_for(&inv, 200), peer(), Transport::Udp, 100);
    assert_eq!(l.state(tx), Some(State::Accepted));
    assert!(drain(&mut l).is_empty(), "the ACK of a 2xx is the TU's");
    l.handle_incoming(response_for(&inv, 200), peer(), Transport::Udp, 600);
    let codes: Vec<u16> = events(&mut l)
        .iter()
        .filter_map(|e| match e {
            TxEvent::Response { message, .. } => message.response().map(|r| r.code),
            _ => None,
        })
        .collect();
    assert_eq!(codes, vec![180, 200, 200]);
    l.handle_timeout(32_099);
    assert_eq!(l.state(tx), Some(State::Accepted));
    l.handle_timeout(32_100);
    assert_eq!(events(&mut l), vec![TxEvent::Terminated { tx }]);
}

#[test]
fn provisional_stops_timer_a_and_b() {
    let mut l = TransactionLayer::new();
    let inv = request("INVITE", "z9hG4bKp");
    let tx = l
        .send_request(inv.clone(), peer(), Transport::Udp, 0)
        .unwrap();
    drain(&mut l);
    l.handle_incoming(response_for(&inv, 180), peer(), Transport::Udp, 200);
    assert!(drive(&mut l, 100_000).is_empty());
    assert_eq!(l.state(tx), Some(State::Proceeding));
}

#[test]
fn client_non_invite_timer_e_caps_at_t2_and_timer_f_times_out() {
    let mut l = TransactionLayer::new();
    let tx = l
        .send_request(request("OPTIONS", "z9hG4bKe"), peer(), Transport::Udp, 0)
        .unwrap();
    drain(&mut l);
    let sent = drive(&mut l, 40_000);
    assert_eq!(
        times(&sent),
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(
        events(&mut l),
        vec![TxEvent::Timeout { tx }, TxEvent::Terminated { tx }]
    );
}

#[test]
fn client_non_invite_timer_e_is_t2_in_proceeding() {
    let mut l = TransactionLayer::new();
    let req = request("REGISTER", "z9hG4bKe2");
    l.send_request(req.clone(), peer(), Transport::Udp, 0)
        .unwrap();
    drain(&mut l);
    assert_eq!(times(&drive(&mut l, 600)), vec![500]);
    l.handle_incoming(response_for(&req, 100), peer(), Transport::Udp, 600);
    assert_eq!(
        times(&drive(&mut l, 14_000)),
        vec![1500, 1500 + T2_MS, 1500 + 2 * T2_MS, 1500 + 3 * T2_MS]
    );
}

#[test]
fn client_non_invite_timer_k_absorbs_retransmissions_for_t4() {
    let mut l = TransactionLayer::new();
    let req = request("BYE", "z9hG4bKk");
    let tx = l
        .send_request(req.clone(), peer(), Transport::Udp, 0)
        .unwrap();
    drain(&mut l);
    l.handle_incoming(response_for(&req, 200), peer(), Transport::Udp, 100);
    assert_eq!(events(&mut l).len(), 1);
    l.handle_incoming(response_for(&req, 200), peer(), Transport::Udp, 200);
    assert!(events(&mut l).is_empty(), "retransmitted final absorbed");
    assert!(drive(&mut l, 100 + T4_MS - 1).is_empty());
    assert_eq!(l.state(tx), Some(State::Completed));
    l.handle_timeout(100 + T4_MS);
    assert_eq!(events(&mut l), vec![TxEvent::Terminated { tx }]);
    // Over TCP, K is zero.
    let req = request("BYE", "z9hG4bKk2");
    let tx = l
        .send_request(req.clone(), peer(), Transport::Tcp, 0)
        .unwrap();
    l.handle_incoming(response_for(&req, 200), peer(), Transport::Tcp, 100);
    assert_eq!(l.state(tx), None);
}

fn server_invite(l: &mut TransactionLayer, branch: &str, transport: Transport) -> (TxId, Message) {
    let inv = request("INVITE", branch);
    l.handle_incoming(inv.clone(), peer(), transport, 0);
    let ev = events(l);
    let tx = match &ev[..] {
        [TxEvent::Request {
            tx, cancels: None, ..
        }] => *tx,
        other => panic!("{other:?}"),
    };
    let sent = drain(l);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].message.response().unwrap().code,
        100,
        "100 Trying at once"
    );
    assert_eq!(sent[0].dest, peer());
    (tx, inv)
}

#[test]
fn server_invite_timer_g_retransmits_until_ack_then_timer_i() {
    let mut l = TransactionLayer::new();
    let (tx, inv) = server_invite(&mut l, "z9hG4bKg", Transport::Udp);
    l.handle_incoming(inv.clone(), peer(), Transport::Udp, 50);
    assert_eq!(
        drain(&mut l)[0].message.response().unwrap().code,
        100,
        "retransmitted INVITE gets the 100 again"
    );
    assert!(events(&mut l).is_empty(), "and is not passed up");
    l.send_response(tx, response_for(&inv, 486), 100).unwrap();
    assert_eq!(drain(&mut l).len(), 1);
    let sent = drive(&mut l, 12_000);
    assert_eq!(times(&sent), vec![600, 1600, 3600, 7600, 11600]);
    assert!(sent
        .iter()
        .all(|(_, x)| x.message.response().unwrap().code == 486));
    let mut ack = request("ACK", "z9hG4bKg");
    ack.to.set_tag("b2");
    l.handle_incoming(ack.clone(), peer(), Transport::Udp, 12_000);
    assert_eq!(l.state(tx), Some(State::Confirmed));
    l.handle_incoming(ack, peer(), Transport::Udp, 12_500);
    assert!(events(&mut l).is_empty(), "ACK retransmissions absorbed");
    assert!(drive(&mut l, 12_000 + T4_MS - 1).is_empty());
    assert_eq!(l.state(tx), Some(State::Confirmed));
    l.handle_timeout(12_000 + T4_MS);
    assert_eq!(events(&mut l), vec![TxEvent::Terminated { tx }]);
}

#[test]
fn server_invite_timer_h_gives_up_waiting_for_ack() {
    let mut l = TransactionLayer::new();
    let (tx, inv) = server_invite(&mut l, "z9hG4bKh", Transport::Tcp);
    l.send_response(tx, response_for(&inv, 404), 100).unwrap();
    drain(&mut l);
    assert_eq!(
        l.poll_timeout(),
        Some(100 + 64 * T1_MS),
        "no Timer G over TCP, H still runs"
    );
    l.handle_timeout(32_099);
    assert!(events(&mut l).is_empty());
    l.handle_timeout(32_100);
    assert_eq!(
        events(&mut l),
        vec![TxEvent::Timeout { tx }, TxEvent::Terminated { tx }]
    );
    // Over TCP the ACK ends the transaction at once (Timer I is zero).
    let (tx, inv) = server_invite(&mut l, "z9hG4bKh2", Transport::Tcp);
    l.send_response(tx, response_for(&inv, 404), 100).unwrap();
    l.handle_incoming(request("ACK", "z9hG4bKh2"), peer(), Transport::Tcp, 200);
    assert_eq!(l.state(tx), None);
}

#[test]
fn server_invite_2xx_accepted_absorbs_invite_retransmissions_and_timer_l_ends_it() {
    let mut l = TransactionLayer::new();
    let (tx, inv) = server_invite(&mut l, "z9hG4bKl", Transport::Udp);
    let ok = response_for(&inv, 200);
    l.send_response(tx, ok.clone(), 100).unwrap();
    assert_eq!(l.state(tx), Some(State::Accepted));
    drain(&mut l);
    l.handle_incoming(inv.clone(), peer(), Transport::Udp, 600);
    assert!(
        drain(&mut l).is_empty(),
        "INVITE retransmission absorbed in Accepted"
    );
    assert!(events(&mut l).is_empty());
    // The TU retransmits its 2xx through the transaction.
    l.send_response(tx, ok, 600).unwrap();
    assert_eq!(drain(&mut l).len(), 1);
    assert!(drive(&mut l, 32_099).is_empty(), "no Timer G for a 2xx");
    // The ACK of the 2xx has its own branch and goes to the dialog layer.
    l.handle_incoming(request("ACK", "z9hG4bKother"), peer(), Transport::Udp, 700);
    assert!(matches!(&events(&mut l)[..], [TxEvent::Ack { .. }]));
    assert_eq!(l.state(tx), Some(State::Accepted));
    l.handle_timeout(32_100);
    assert_eq!(events(&mut l), vec![TxEvent::Terminated { tx }]);
    assert!(l
        .send_response(tx, response_for(&inv, 200), 32_200)
        .is_err());
}

#[test]
fn server_non_invite_timer_j_and_retransmitted_requests() {
    let mut l = TransactionLayer::new();
    let req = request("OPTIONS", "z9hG4bKj");
    l.handle_incoming(req.clone(), peer(), Transport::Udp, 0);
    let tx = match &events(&mut l)[..] {
        [TxEvent::Request { tx, .. }] => *tx,
        other => panic!("{other:?}"),
    };
    assert!(drain(&mut l).is_empty(), "no automatic 100 for non-INVITE");
    l.handle_incoming(req.clone(), peer(), Transport::Udp, 50);
    assert!(
        drain(&mut l).is_empty() && events(&mut l).is_empty(),
        "absorbed in Trying"
    );
    l.send_response(tx, response_for(&req, 200), 100).unwrap();
    drain(&mut l);
    l.handle_incoming(req.clone(), peer(), Transport::Udp, 200);
    assert_eq!(
        drain(&mut l)[0].message.response().unwrap().code,
        200,
        "final repeated"
    );
    l.handle_timeout(32_099);
    assert_eq!(l.state(tx), Some(State::Completed));
    l.handle_timeout(32_100);
    assert_eq!(events(&mut l), vec![TxEvent::Terminated { tx }]);
    assert!(l
        .send_response(tx, response_for(&req, 200), 32_200)
        .is_err());
}

#[test]
fn cancel_is_its_own_transaction_naming_the_invite() {
    let mut l = TransactionLayer::new();
    let (inv_tx, inv) = server_invite(&mut l, "z9hG4bKc", Transport::Udp);
    l.handle_incoming(request("CANCEL", "z9hG4bKc"), peer(), Transport::Udp, 10);
    let cancel_tx = match &events(&mut l)[..] {
        [TxEvent::Request {
            tx,
            cancels,
            message,
        }] => {
            assert_eq!(*cancels, Some(inv_tx));
            assert_eq!(message.method(), &Method::Cancel);
            *tx
        }
        other => panic!("{other:?}"),
    };
    assert_ne!(cancel_tx, inv_tx);
    l.send_response(
        cancel_tx,
        response_for(&request("CANCEL", "z9hG4bKc"), 200),
        20,
    )
    .unwrap();
    l.send_response(inv_tx, response_for(&inv, 487), 20)
        .unwrap();
    assert_eq!(l.state(inv_tx), Some(State::Completed));
    // A CANCEL for an unknown INVITE names none.
    l.handle_incoming(request("CANCEL", "z9hG4bKnone"), peer(), Transport::Udp, 30);
    assert!(matches!(
        &events(&mut l)[..],
        [TxEvent::Request { cancels: None, .. }]
    ));
}

#[test]
fn responses_match_by_branch_method_and_sent_by() {
    let mut l = TransactionLayer::new();
    let inv = request("INVITE", "z9hG4bKr");
    let inv_tx = l
        .send_request(inv.clone(), peer(), Transport::Udp, 0)
        .unwrap();
    let cancel = request("CANCEL", "z9hG4bKr");
    let cancel_tx = l
        .send_request(cancel.clone(), peer(), Transport::Udp, 0)
        .unwrap();
    l.handle_incoming(response_for(&cancel, 200), peer(), Transport::Udp, 10);
    assert!(matches!(&events(&mut l)[..], [TxEvent::Response { tx, .. }] if *tx == cancel_tx));
    let mut other_branch = response_for(&inv, 180);
    other_branch.via[0].params[0].value = Some("z9hG4bKzzz".into());
    l.handle_incoming(other_branch, peer(), Transport::Udp, 20);
    let mut other_sent_by = response_for(&inv, 180);
    other_sent_by.via[0].port = Some(5070);
    l.handle_incoming(other_sent_by, peer(), Transport::Udp, 20);
    assert!(matches!(
        &events(&mut l)[..],
        [TxEvent::StrayResponse { .. }, TxEvent::StrayResponse { .. }]
    ));
    assert_eq!(l.state(inv_tx), Some(State::Calling));
    assert!(
        l.send_request(inv, peer(), Transport::Udp, 30).is_err(),
        "duplicate branch"
    );
}

#[test]
fn ack_cannot_start_a_transaction() {
    let mut l = TransactionLayer::new();
    assert!(l
        .send_request(request("ACK", "z9hG4bKx"), peer(), Transport::Udp, 0)
        .is_err());
    l.send_stateless(request("ACK", "z9hG4bKx"), peer(), Transport::Udp);
    assert_eq!(drain(&mut l).len(), 1);
    assert!(l.is_empty());
}
