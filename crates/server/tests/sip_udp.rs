//! SIP over UDP with raw datagrams: a malformed INVITE gets `400 Bad CSeq`, an INVITE is
//! answered 200 OK with an SDP answer (PCMU + telephone-event), and an INVITE over
//! `sip.max_calls` gets 503; every other kind of bad input gets its SIP answer (400 naming
//! the header, 505, 501, 405).

mod common;

use common::*;
use std::time::Duration;
use tokio::net::UdpSocket;
use tympan_server::config::ServerConfig;
use tympan_server::{AppState, Listeners};

fn invite(call_id: &str, branch: &str, local: u16, cseq: &str) -> String {
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n",
        local + 2
    );
    format!(
        "INVITE sip:test@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{branch}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=t{branch}\r\n\
         To: <sip:test@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n\
         Contact: <sip:raw@127.0.0.1:{local}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// The next response whose status is final (>= 200), skipping 100/180.
async fn final_response(sock: &UdpSocket) -> String {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, _) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
            .await
            .expect("a response within the wait")
            .unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let code: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if code >= 200 {
            return text;
        }
    }
}

#[tokio::test]
async fn malformed_answered_and_over_limit() {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sip_port = probe.local_addr().unwrap().port();
    drop(probe);
    let mut cfg = ServerConfig {
        api_tokens: vec![TEST_TOKEN.into()],
        ..Default::default()
    };
    cfg.sip.listen = Some(format!("127.0.0.1:{sip_port}"));
    let base = 31_000 + (std::process::id() as u16 % 400) * 20;
    cfg.sip.rtp_port_min = base;
    cfg.sip.rtp_port_max = base + 10;
    cfg.sip.max_calls = 1;
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    cfg.data_dir = temp_dir("sip_udp");
    let state = AppState::new(cfg, tympan_server::amd_factory())
        .await
        .expect("store opens");
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let listeners = Listeners {
        main,
        control: None,
        audiosocket: None,
    };
    tokio::spawn(tympan_server::run(listeners, state.clone(), async move {
        let _ = rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = sock.local_addr().unwrap().port();
    let server = format!("127.0.0.1:{sip_port}");

    // Malformed CSeq: 400 naming the header, with the request's Call-ID.
    sock.send_to(invite("bad1", "b1", local, "x INVITE").as_bytes(), &server)
        .await
        .unwrap();
    let r = final_response(&sock).await;
    assert!(r.starts_with("SIP/2.0 400 Bad CSeq\r\n"), "{r}");
    assert!(r.contains("Call-ID: bad1"), "{r}");

    // A good INVITE is answered with our SDP.
    sock.send_to(invite("good1", "g1", local, "1 INVITE").as_bytes(), &server)
        .await
        .unwrap();
    let r = final_response(&sock).await;
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
    assert!(r.contains("m=audio "), "{r}");
    let port: u16 = r
        .split("m=audio ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    assert!(
        (base..=base + 10).contains(&port),
        "RTP port {port} in range"
    );
    assert!(r.contains("telephone-event/8000"), "{r}");

    // A second call while the first is up: 503.
    sock.send_to(invite("good2", "g2", local, "1 INVITE").as_bytes(), &server)
        .await
        .unwrap();
    let r = loop {
        let r = final_response(&sock).await;
        if r.contains("Call-ID: good2") {
            break r;
        }
    };
    assert!(r.starts_with("SIP/2.0 503"), "{r}");
    let _ = stop.send(());
}

/// A request of `method` with the mandatory headers, `extra` header lines and no body.
fn request(method: &str, call_id: &str, local: u16, extra: &str) -> String {
    let max_forwards = if extra.contains("Max-Forwards") {
        ""
    } else {
        "Max-Forwards: 70\r\n"
    };
    format!(
        "{method} sip:test@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{call_id}\r\n\
         {max_forwards}From: <sip:raw@127.0.0.1>;tag=f{call_id}\r\n\
         To: <sip:test@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

/// Bad input is answered, never fatal: each malformed header is named in a 400, an
/// unsupported SIP version gets 505, an unknown method 501, a known one we do not serve
/// 405 with Allow; afterwards the server still answers OPTIONS with 200.
#[tokio::test]
async fn bad_input_gets_sip_answers() {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sip_port = probe.local_addr().unwrap().port();
    drop(probe);
    let mut cfg = ServerConfig {
        api_tokens: vec![TEST_TOKEN.into()],
        ..Default::default()
    };
    cfg.sip.listen = Some(format!("127.0.0.1:{sip_port}"));
    let base = 36_000 + (std::process::id() as u16 % 400) * 10;
    cfg.sip.rtp_port_min = base;
    cfg.sip.rtp_port_max = base + 6;
    cfg.data_dir = temp_dir("sip_udp_bad");
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let state = AppState::new(cfg, tympan_server::amd_factory())
        .await
        .expect("store opens");
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let listeners = Listeners {
        main,
        control: None,
        audiosocket: None,
    };
    tokio::spawn(tympan_server::run(listeners, state.clone(), async move {
        let _ = rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = sock.local_addr().unwrap().port();
    let server = format!("127.0.0.1:{sip_port}");

    let cases: Vec<(String, &str)> = vec![
        (
            request("OPTIONS", "mf1", local, "Max-Forwards: lots\r\n"),
            "SIP/2.0 400 Bad Max-Forwards\r\n",
        ),
        (
            request("OPTIONS", "cl1", local, "").replace("Content-Length: 0", "Content-Length: x"),
            "SIP/2.0 400 Bad Content-Length\r\n",
        ),
        (
            request("OPTIONS", "v1", local, "").replacen("SIP/2.0\r\n", "SIP/3.0\r\n", 1),
            "SIP/2.0 505 ",
        ),
        (
            request("FROBNICATE", "m1", local, ""),
            "SIP/2.0 501 Not Implemented\r\n",
        ),
        (
            request("SUBSCRIBE", "s1", local, "Event: presence\r\n"),
            "SIP/2.0 405 Method Not Allowed\r\n",
        ),
        (
            request("REGISTER", "r1", local, "Contact: <sip:raw@127.0.0.1>\r\n"),
            "SIP/2.0 405 Method Not Allowed\r\n",
        ),
        (request("OPTIONS", "ok1", local, ""), "SIP/2.0 200 OK\r\n"),
    ];
    for (req, want) in cases {
        let call_id = req
            .split("Call-ID: ")
            .nth(1)
            .and_then(|t| t.split("\r\n").next())
            .unwrap()
            .to_string();
        sock.send_to(req.as_bytes(), &server).await.unwrap();
        let r = loop {
            let r = final_response(&sock).await;
            if r.contains(&format!("Call-ID: {call_id}\r\n")) {
                break r;
            }
        };
        assert!(r.starts_with(want), "{call_id}: want {want:?}, got\n{r}");
        if want.contains("405") {
            assert!(r.contains("\r\nAllow: "), "405 lists Allow: {r}");
        }
    }
    // Garbage that cannot be answered is dropped, and the server goes on.
    sock.send_to(b"\x00\x01garbage\r\n\r\n", &server)
        .await
        .unwrap();
    sock.send_to(request("OPTIONS", "ok2", local, "").as_bytes(), &server)
        .await
        .unwrap();
    let r = final_response(&sock).await;
    assert!(
        r.starts_with("SIP/2.0 200 OK\r\n") && r.contains("Call-ID: ok2"),
        "{r}"
    );
    let _ = stop.send(());
}

/// RFC 3581: a request whose Via asks for `rport` and that comes from another port than its
/// sent-by (a NAT) is answered at its source, with `received` and `rport` filled in; the
/// sent-by port gets nothing.
#[tokio::test]
async fn rport_answers_the_source_port() {
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sip_port = probe.local_addr().unwrap().port();
    drop(probe);
    let mut cfg = ServerConfig {
        api_tokens: vec![TEST_TOKEN.into()],
        ..Default::default()
    };
    cfg.sip.listen = Some(format!("127.0.0.1:{sip_port}"));
    let base = 37_000 + (std::process::id() as u16 % 400) * 10;
    cfg.sip.rtp_port_min = base;
    cfg.sip.rtp_port_max = base + 6;
    cfg.data_dir = temp_dir("sip_udp_rport");
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let state = AppState::new(cfg, tympan_server::amd_factory())
        .await
        .expect("store opens");
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let listeners = Listeners {
        main,
        control: None,
        audiosocket: None,
    };
    tokio::spawn(tympan_server::run(listeners, state.clone(), async move {
        let _ = rx.await;
    }));
    tokio::time::sleep(Duration::from_millis(200)).await;
    // `sent_by` is what the Via claims; `sock` (another port) is where requests leave from.
    let sent_by = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let claimed = sent_by.local_addr().unwrap().port();
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let real = sock.local_addr().unwrap().port();
    assert_ne!(claimed, real);
    let server = format!("127.0.0.1:{sip_port}");

    let options = request("OPTIONS", "rp1", claimed, "")
        .replace(";branch=z9hG4bKrp1", ";rport;branch=z9hG4bKrp1");
    sock.send_to(options.as_bytes(), &server).await.unwrap();
    let r = final_response(&sock).await;
    assert!(r.starts_with("SIP/2.0 200 OK\r\n"), "{r}");
    assert!(
        r.contains(&format!(
            "Via: SIP/2.0/UDP 127.0.0.1:{claimed};received=127.0.0.1;rport={real};branch=z9hG4bKrp1\r\n"
        )),
        "{r}"
    );
    // A call too: 100, 200 and its retransmissions go to the real port.
    let inv = invite("rp2", "rp2", claimed, "1 INVITE")
        .replace(";branch=z9hG4bKrp2", ";rport;branch=z9hG4bKrp2");
    sock.send_to(inv.as_bytes(), &server).await.unwrap();
    let r = final_response(&sock).await;
    assert!(r.starts_with("SIP/2.0 200 OK\r\n"), "{r}");
    assert!(r.contains(&format!(";rport={real};")), "{r}");
    let mut buf = vec![0u8; 65_535];
    let stray = tokio::time::timeout(Duration::from_millis(300), sent_by.recv_from(&mut buf)).await;
    assert!(stray.is_err(), "nothing goes to the sent-by port");
    let _ = stop.send(());
}
