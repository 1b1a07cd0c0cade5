//! RFC 3581 (`rport`) and RFC 3261 §18.2.1 (`received`), sans I/O: a server stamps the top
//! Via of what it receives and answers the source address; a client behind a NAT learns the
//! address the server saw and registers (and calls) with it.

use std::net::SocketAddr;

use tympan_telephony::dialog::{
    DialogEvent, OutboundCall, RegEvent, RegistrationRequest, SplitMix64, UaConfig, UserAgent,
};
use tympan_telephony::digest::{Credentials, DigestServer};
use tympan_telephony::sdp::{Codec, LocalMedia};
use tympan_telephony::sip::{parse_datagram, Host, Message, NameAddr, Param, Uri, Via};
use tympan_telephony::transaction::{TransactionLayer, Transmit, Transport};

/// The client's own address, behind the NAT.
const PRIVATE: &str = "10.0.0.2:5060";
/// What the NAT maps it to.
const PUBLIC: &str = "203.0.113.5:40000";
/// The registrar / proxy on the public side.
const SERVER: &str = "198.51.100.1:5060";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn ua(at: &str, user: &str, seed: u64) -> UserAgent {
    UserAgent::new(
        UaConfig {
            local_addr: addr(at),
            transport: Transport::Udp,
            contact_user: user.into(),
        },
        Box::new(SplitMix64(seed)),
    )
}

fn invite(via: &str) -> Message {
    let text = format!(
        "INVITE sip:bob@198.51.100.1 SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@10.0.0.2>;tag=1\r\n\
         To: <sip:bob@198.51.100.1>\r\nCall-ID: rport-1\r\nCSeq: 1 INVITE\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    parse_datagram(text.as_bytes()).unwrap()
}

#[test]
fn server_stamps_received_and_rport_and_answers_the_source() {
    let mut tl = TransactionLayer::new();
    // Sent-by says 10.0.0.2:5060, the datagram came from the NAT's 203.0.113.5:40000.
    tl.handle_incoming(
        invite("SIP/2.0/UDP 10.0.0.2:5060;rport;branch=z9hG4bKr1"),
        addr(PUBLIC),
        Transport::Udp,
        0,
    );
    let Transmit { dest, message, .. } = tl.poll_transmit().expect("100 Trying");
    assert_eq!(dest, addr(PUBLIC));
    assert_eq!(
        message.via[0].to_string(),
        "SIP/2.0/UDP 10.0.0.2:5060;received=203.0.113.5;rport=40000;branch=z9hG4bKr1"
    );
    assert_eq!(message.via[0].received_from(), Some(addr(PUBLIC)));
    // Without rport only `received` is added, and only when the host differs (§18.2.1);
    // a stale `received` from the request is replaced.
    let mut v =
        invite("SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKr2;received=192.0.2.1").via[0].clone();
    v.stamp_received(addr(PUBLIC));
    assert_eq!(
        v.to_string(),
        "SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bKr2;received=203.0.113.5"
    );
    assert_eq!(v.received_from(), None, "no rport value: no port learnt");
    let mut same = invite("SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKr3").via[0].clone();
    same.stamp_received(addr("203.0.113.5:5060"));
    assert_eq!(
        same.to_string(),
        "SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKr3"
    );
    // An rport that already has a value (forged) is not overwritten with ours... unless
    // valueless: only `rport` without value asks for it.
    let mut valued = Via::new("UDP", Host::Name("pc.example".into()), None, "z9hG4bKr4");
    valued.params.push(Param::new("rport", "1"));
    valued.stamp_received(addr(PUBLIC));
    assert_eq!(
        valued.to_string(),
        "SIP/2.0/UDP pc.example;branch=z9hG4bKr4;rport=1;received=203.0.113.5"
    );
}

/// The client (private address) and a server (public), a NAT between them: the client's
/// datagrams reach the server from `PUBLIC`, what the server sends to `PUBLIC` reaches the
/// client.
struct Nat {
    client: UserAgent,
    server: UserAgent,
    /// The NAT's current mapping of the client.
    public: SocketAddr,
    now: u64,
    /// Every message as it arrived: (to the server?, message).
    log: Vec<(bool, Message)>,
}

impl Nat {
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit() {
                moved = true;
                assert_eq!(t.dest, addr(SERVER), "the client only talks to the server");
                self.log.push((true, t.message.clone()));
                self.server
                    .handle_datagram(&t.message.to_bytes(), self.public, Transport::Udp, self.now)
                    .unwrap();
            }
            while let Some(t) = self.server.poll_transmit() {
                moved = true;
                // The NAT only lets in what goes to its public mapping.
                assert_eq!(t.dest, self.public, "sent to {} instead of the NAT", t.dest);
                self.log.push((false, t.message.clone()));
                self.client
                    .handle_datagram(
                        &t.message.to_bytes(),
                        addr(SERVER),
                        Transport::Udp,
                        self.now,
                    )
                    .unwrap();
            }
            if !moved {
                return;
            }
        }
    }

    fn registers(&self) -> Vec<&Message> {
        self.log
            .iter()
            .filter(|(up, m)| {
                *up && m.request().is_some() && m.cseq.method.to_string() == "REGISTER"
            })
            .map(|(_, m)| m)
            .collect()
    }
}

#[test]
fn client_behind_a_nat_registers_and_calls_with_the_address_the_server_saw() {
    let mut registrar = DigestServer::new("example");
    registrar.add_user("alice", "pw");
    let mut server = ua(SERVER, "reg", 2);
    server.set_registrar(registrar);
    let mut n = Nat {
        client: ua(PRIVATE, "alice", 1),
        server,
        public: addr(PUBLIC),
        now: 0,
        log: Vec::new(),
    };
    let aor = NameAddr::new(Uri::parse("sip:alice@example").unwrap());
    let reg = n
        .client
        .register(
            RegistrationRequest {
                registrar: Uri::parse("sip:example").unwrap(),
                aor,
                dest: addr(SERVER),
                expires_s: 120,
                credentials: Some(Credentials {
                    username: "alice".into(),
                    password: "pw".into(),
                }),
            },
            0,
        )
        .unwrap();
    n.pump();
    let regs = n.registers();
    // Our Vias ask for rport.
    assert!(regs.iter().all(|m| m.via[0].param("rport") == Some("")));
    let contacts: Vec<Vec<String>> = regs
        .iter()
        .map(|m| m.contact.iter().map(|c| c.to_string()).collect())
        .collect();
    // 1: the private Contact, challenged — the 401 says where the server saw us; 2: the
    // public Contact, the private one removed (expires=0).
    assert_eq!(
        contacts,
        [
            vec!["<sip:alice@10.0.0.2:5060>".to_string()],
            vec![
                "<sip:alice@203.0.113.5:40000>".to_string(),
                "<sip:alice@10.0.0.2:5060>;expires=0".to_string()
            ],
        ]
    );
    assert_eq!(n.client.public_addr(addr(SERVER)), addr(PUBLIC));
    assert_eq!(
        n.client.public_addr(addr("192.0.2.77:5060")),
        addr(PRIVATE),
        "learnt per peer"
    );
    let registered: Vec<RegEvent> = std::iter::from_fn(|| n.client.poll_registration_event())
        .map(|(id, e)| {
            assert_eq!(id, reg);
            e
        })
        .collect();
    assert_eq!(registered, [RegEvent::Registered { expires_s: 120 }]);
    let bound: Vec<String> = n
        .server
        .lookup("alice", 1)
        .iter()
        .map(|u| u.to_string())
        .collect();
    assert_eq!(bound, ["sip:alice@203.0.113.5:40000"]);

    // The NAT rebinds: the refresh (pre-authorised: the nonce is still fresh) arrives from
    // another port; its 200 says so and a REGISTER goes again at once with the new Contact
    // — once: the next 200 agrees.
    n.public = addr("203.0.113.5:40001");
    let before = n.registers().len();
    while n.registers().len() == before {
        n.now = [n.client.poll_timeout(), n.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        n.client.handle_timeout(n.now);
        n.server.handle_timeout(n.now);
        n.pump();
    }
    assert_eq!(n.now, 120_000 - 32_000, "the refresh");
    let contacts: Vec<Vec<String>> = n.registers()[2..]
        .iter()
        .map(|m| m.contact.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(
        contacts,
        [
            vec!["<sip:alice@203.0.113.5:40000>".to_string()],
            vec![
                "<sip:alice@203.0.113.5:40001>".to_string(),
                "<sip:alice@203.0.113.5:40000>;expires=0".to_string()
            ],
        ]
    );
    let bound: Vec<String> = n
        .server
        .lookup("alice", n.now)
        .iter()
        .map(|u| u.to_string())
        .collect();
    assert_eq!(bound, ["sip:alice@203.0.113.5:40001"]);
    let registered: Vec<RegEvent> = std::iter::from_fn(|| n.client.poll_registration_event())
        .map(|(_, e)| e)
        .collect();
    assert_eq!(registered.len(), 2, "{registered:?}");
    let codes: Vec<u16> = n
        .log
        .iter()
        .filter_map(|(_, m)| m.response())
        .map(|r| r.code)
        .collect();
    assert_eq!(codes, [401, 200, 200, 200], "no challenge on the refreshes");

    // A call placed afterwards through the same server carries the reachable Contact.
    let target = Uri::parse("sip:bob@198.51.100.1").unwrap();
    n.client
        .invite(
            OutboundCall {
                target: target.clone(),
                from: NameAddr::new(Uri::parse("sip:alice@example").unwrap()),
                to: NameAddr::new(target),
                dest: addr(SERVER),
                media: LocalMedia {
                    address: addr(PRIVATE).ip(),
                    port: 40_000,
                    codecs: vec![Codec::Pcmu],
                    session_id: 1,
                    session_version: 1,
                },
                credentials: None,
            },
            n.now,
        )
        .unwrap();
    n.pump();
    let invite = n
        .log
        .iter()
        .find(|(up, m)| *up && m.cseq.method.to_string() == "INVITE")
        .map(|(_, m)| m)
        .unwrap();
    assert_eq!(
        invite.contact[0].to_string(),
        "<sip:alice@203.0.113.5:40001>"
    );
    // The server saw the INVITE and answers it through the NAT (the pump asserts where).
    let incoming = std::iter::from_fn(|| n.server.poll_event())
        .find(|(_, e)| matches!(e, DialogEvent::Incoming(_)));
    assert!(incoming.is_some());
}
