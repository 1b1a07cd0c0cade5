//! REGISTER client against a registrar simulated with [`DigestServer`]: digest retry,
//! refresh before expiry driven by `poll_timeout`, pre-authorised refreshes (nc 2, 3...),
//! stale nonces, Min-Expires, retry after 5xx, unregister.

use std::net::SocketAddr;

use tympan_telephony::dialog::{
    RegEvent, RegId, RegistrationRequest, SplitMix64, UaConfig, UserAgent, REFRESH_MARGIN_MS,
    REGISTER_RETRY_MS,
};
use tympan_telephony::digest::{Authorization, Credentials, DigestServer, Verdict};
use tympan_telephony::sip::{Header, Message, NameAddr, Uri};
use tympan_telephony::transaction::Transport;

const REGISTRAR: &str = "127.0.0.1:5099";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Registrar {
    server: DigestServer,
    rng: SplitMix64,
    /// Expiry granted (s), in the Contact's expires param.
    grant: u32,
    /// Status to answer instead, once.
    fail_once: Option<u16>,
    /// Every REGISTER seen, with its time.
    seen: Vec<(u64, Message)>,
}

impl Registrar {
    fn answer(&mut self, m: &Message, now: u64) -> Message {
        self.seen.push((now, m.clone()));
        if let Some(code) = self.fail_once.take() {
            let mut r = Message::response_to(m, code, "Nope");
            r.to.set_tag("reg");
            if code == 423 {
                r.other.push(Header {
                    name: "Min-Expires".into(),
                    value: "1800".into(),
                });
            }
            return r;
        }
        let uri = m.request().unwrap().uri.to_string();
        let verdict = m
            .header_values("Authorization")
            .next()
            .map(|a| self.server.verify(a, "REGISTER", &uri, now));
        let mut r = match verdict {
            Some(Verdict::Accepted { .. }) => {
                let mut r = Message::response_to(m, 200, "OK");
                let expires: u32 = m.header_values("Expires").next().unwrap().parse().unwrap();
                if expires > 0 {
                    let mut c = m.contact[0].clone();
                    c.params.push(tympan_telephony::sip::Param::new(
                        "expires",
                        self.grant.min(expires).to_string(),
                    ));
                    r.contact = vec![c];
                }
                r
            }
            v => {
                let stale = v == Some(Verdict::Stale);
                let mut r = Message::response_to(m, 401, "Unauthorized");
                for c in self.server.challenge(&mut self.rng, now, stale) {
                    r.other.push(Header {
                        name: "WWW-Authenticate".into(),
                        value: c.to_string(),
                    });
                }
                r
            }
        };
        r.to.set_tag("reg");
        r
    }
}

fn setup(grant: u32, nonce_ms: u64) -> (UserAgent, Registrar, RegId, Vec<(u64, RegEvent)>) {
    let mut ua = UserAgent::new(
        UaConfig {
            local_addr: addr("127.0.0.1:5060"),
            transport: Transport::Udp,
            contact_user: "tympan".into(),
        },
        Box::new(SplitMix64(11)),
    );
    let mut server = DigestServer::new("reg.example").with_nonce_lifetime_ms(nonce_ms);
    server.add_user("tympan", "pw");
    let reg = Registrar {
        server,
        rng: SplitMix64(12),
        grant,
        fail_once: None,
        seen: Vec::new(),
    };
    let id = ua
        .register(
            RegistrationRequest {
                registrar: Uri::parse("sip:reg.example").unwrap(),
                aor: NameAddr::new(Uri::parse("sip:tympan@reg.example").unwrap()),
                dest: addr(REGISTRAR),
                expires_s: 3600,
                credentials: Some(Credentials {
                    username: "tympan".into(),
                    password: "pw".into(),
                }),
            },
            0,
        )
        .unwrap();
    (ua, reg, id, Vec::new())
}

/// Delivers everything in flight at `now`.
fn pump(ua: &mut UserAgent, reg: &mut Registrar, ev: &mut Vec<(u64, RegEvent)>, now: u64) {
    while let Some(t) = ua.poll_transmit() {
        assert_eq!(t.dest, addr(REGISTRAR));
        if t.message.request().is_none() {
            continue;
        }
        let r = reg.answer(&t.message, now);
        ua.handle_datagram(&r.to_bytes(), addr(REGISTRAR), Transport::Udp, now)
            .unwrap();
    }
    while let Some((_, e)) = ua.poll_registration_event() {
        ev.push((now, e));
    }
}

/// Runs registration timers up to `until` (skipping the transaction layer's own).
fn run(ua: &mut UserAgent, reg: &mut Registrar, ev: &mut Vec<(u64, RegEvent)>, until: u64) {
    pump(ua, reg, ev, 0);
    while let Some(t) = ua.poll_timeout().filter(|t| *t <= until) {
        ua.handle_timeout(t);
        pump(ua, reg, ev, t);
    }
}

fn nc_of(m: &Message) -> Option<u32> {
    m.header_values("Authorization")
        .next()
        .map(|a| Authorization::parse(a).unwrap().nc.unwrap())
}

#[test]
fn registers_with_digest_and_refreshes_before_expiry() {
    let (mut ua, mut reg, id, mut ev) = setup(3600, 10_000_000);
    run(&mut ua, &mut reg, &mut ev, 0);
    assert_eq!(ev, [(0, RegEvent::Registered { expires_s: 3600 })]);
    // First REGISTER unauthenticated, then answered with nc=1.
    assert_eq!(reg.seen.len(), 2);
    assert_eq!(nc_of(&reg.seen[0].1), None);
    assert_eq!(nc_of(&reg.seen[1].1), Some(1));
    assert_eq!(reg.seen[1].1.cseq.seq, 2);
    let refresh = 3_600_000 - REFRESH_MARGIN_MS;
    run(&mut ua, &mut reg, &mut ev, refresh - 1);
    assert_eq!(reg.seen.len(), 2);
    run(&mut ua, &mut reg, &mut ev, refresh);
    // The refresh is pre-authorised with the known nonce: nc 2, no new challenge.
    assert_eq!(reg.seen.len(), 3);
    assert_eq!(reg.seen[2].0, refresh);
    assert_eq!(nc_of(&reg.seen[2].1), Some(2));
    assert_eq!(reg.seen[2].1.cseq.seq, 3);
    assert_eq!(reg.seen[2].1.call_id, reg.seen[0].1.call_id);
    assert_eq!(reg.seen[2].1.from.tag(), reg.seen[0].1.from.tag());
    assert_eq!(ev.len(), 2);
    assert_eq!(ua.registration(id).unwrap().cseq(), 3);
    // Unregister: Expires 0, then the registration is gone.
    ua.unregister(id, refresh + 10).unwrap();
    pump(&mut ua, &mut reg, &mut ev, refresh + 10);
    assert_eq!(reg.seen[3].1.header_values("Expires").next(), Some("0"));
    assert_eq!(ev.last().unwrap().1, RegEvent::Unregistered);
    assert!(ua.registration(id).is_none());
    run(&mut ua, &mut reg, &mut ev, 100_000_000);
    assert_eq!(reg.seen.len(), 4);
}

#[test]
fn short_grant_refreshes_at_half_and_stale_nonce_is_renewed() {
    // Granted 40 s: refresh at 20 s (half, shorter than the 32 s margin). Nonces last
    // 15 s, so the pre-authorised refresh is stale and retried with the new nonce.
    let (mut ua, mut reg, _id, mut ev) = setup(40, 15_000);
    run(&mut ua, &mut reg, &mut ev, 19_999);
    assert_eq!(ev, [(0, RegEvent::Registered { expires_s: 40 })]);
    run(&mut ua, &mut reg, &mut ev, 20_000);
    let times: Vec<u64> = reg.seen.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, [0, 0, 20_000, 20_000]);
    assert_eq!(nc_of(&reg.seen[2].1), Some(2));
    assert_eq!(nc_of(&reg.seen[3].1), Some(1), "new nonce, count restarts");
    assert_ne!(
        Authorization::parse(reg.seen[2].1.header_values("Authorization").next().unwrap())
            .unwrap()
            .nonce,
        Authorization::parse(reg.seen[3].1.header_values("Authorization").next().unwrap())
            .unwrap()
            .nonce
    );
    assert_eq!(
        ev.last().unwrap(),
        &(20_000, RegEvent::Registered { expires_s: 40 })
    );
}

#[test]
fn server_error_retries_later_and_min_expires_is_honoured() {
    let (mut ua, mut reg, _id, mut ev) = setup(3600, 10_000_000);
    reg.fail_once = Some(503);
    pump(&mut ua, &mut reg, &mut ev, 0);
    assert_eq!(
        ev,
        [(
            0,
            RegEvent::Failed {
                code: 503,
                reason: "Nope".into()
            }
        )]
    );
    run(&mut ua, &mut reg, &mut ev, REGISTER_RETRY_MS - 1);
    assert_eq!(reg.seen.len(), 1);
    reg.fail_once = Some(423);
    run(&mut ua, &mut reg, &mut ev, REGISTER_RETRY_MS);
    // 423 → again with Expires: 1800, then 401 → authorised.
    let expires: Vec<&str> = reg
        .seen
        .iter()
        .map(|(_, m)| m.header_values("Expires").next().unwrap())
        .collect();
    assert_eq!(expires, ["3600", "3600", "1800", "1800"]);
    assert_eq!(
        ev.last().unwrap(),
        &(REGISTER_RETRY_MS, RegEvent::Registered { expires_s: 1800 })
    );
}

#[test]
fn wrong_password_fails_after_one_retry() {
    let (mut ua, mut reg, _id, mut ev) = setup(3600, 10_000_000);
    reg.server.add_user("tympan", "other");
    pump(&mut ua, &mut reg, &mut ev, 0);
    assert_eq!(reg.seen.len(), 2);
    assert_eq!(
        ev,
        [(
            0,
            RegEvent::Failed {
                code: 401,
                reason: "Unauthorized".into()
            }
        )]
    );
}

#[test]
fn our_client_registers_to_our_registrar() {
    let (mut client, _, id, mut ev) = setup(3600, 10_000_000);
    // Discard the REGISTER sent by setup towards the simulated registrar; use a real UA.
    while client.poll_transmit().is_some() {}
    let mut server_ua = UserAgent::new(
        UaConfig {
            local_addr: addr(REGISTRAR),
            transport: Transport::Udp,
            contact_user: "reg".into(),
        },
        Box::new(SplitMix64(13)),
    );
    let mut auth = DigestServer::new("reg.example");
    auth.add_user("tympan", "pw");
    server_ua.set_registrar(auth);
    // The setup REGISTER was lost: Timer E retransmits it at 500 ms.
    client.handle_timeout(500);
    let codes = shuttle(&mut client, &mut server_ua, 500);
    while let Some((_, e)) = client.poll_registration_event() {
        ev.push((500, e));
    }
    assert_eq!(codes, [401, 200]);
    assert_eq!(ev, [(500, RegEvent::Registered { expires_s: 3600 })]);
    let contacts = server_ua.lookup("tympan", 1_000);
    assert_eq!(
        contacts.iter().map(|u| u.to_string()).collect::<Vec<_>>(),
        ["sip:tympan@127.0.0.1:5060"]
    );
    assert!(server_ua.lookup("tympan", 500 + 3_600_000).is_empty());
    // Unregister removes the binding.
    client.unregister(id, 2_000).unwrap();
    assert_eq!(shuttle(&mut client, &mut server_ua, 2_000), [200]);
    assert_eq!(
        client.poll_registration_event().unwrap().1,
        RegEvent::Unregistered
    );
    assert!(server_ua.lookup("tympan", 2_001).is_empty());
    // Someone else's address of record is refused with 403 even with valid credentials.
    let mut other = UserAgent::new(
        UaConfig {
            local_addr: addr("127.0.0.1:5060"),
            transport: Transport::Udp,
            contact_user: "x".into(),
        },
        Box::new(SplitMix64(14)),
    );
    other
        .register(
            RegistrationRequest {
                registrar: Uri::parse("sip:reg.example").unwrap(),
                aor: NameAddr::new(Uri::parse("sip:boss@reg.example").unwrap()),
                dest: addr(REGISTRAR),
                expires_s: 60,
                credentials: Some(Credentials {
                    username: "tympan".into(),
                    password: "pw".into(),
                }),
            },
            3_000,
        )
        .unwrap();
    assert_eq!(shuttle(&mut other, &mut server_ua, 3_000), [401, 403]);
    assert!(server_ua.lookup("boss", 3_001).is_empty());
}

/// Moves messages both ways until quiet; returns the server's status codes.
fn shuttle(client: &mut UserAgent, server: &mut UserAgent, now: u64) -> Vec<u16> {
    let mut codes = Vec::new();
    loop {
        let mut moved = false;
        while let Some(t) = client.poll_transmit() {
            moved = true;
            server
                .handle_datagram(
                    &t.message.to_bytes(),
                    addr("127.0.0.1:5060"),
                    Transport::Udp,
                    now,
                )
                .unwrap();
        }
        while let Some(t) = server.poll_transmit() {
            moved = true;
            codes.push(t.message.response().unwrap().code);
            client
                .handle_datagram(&t.message.to_bytes(), addr(REGISTRAR), Transport::Udp, now)
                .unwrap();
        }
        if !moved {
            return codes;
        }
    }
}
