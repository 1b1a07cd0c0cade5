//! SIP over TCP (`[sip] transports = ["udp", "tcp"]`) with a raw TCP peer: an INVITE written
//! in pieces is framed by Content-Length and answered on the same connection; the call's
//! µ-law RTP goes through AMD (the beep is found); a BYE over TCP ends the call; UDP still
//! answers on the same port; a message that cannot be framed closes the connection.

mod common;

use common::*;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tympan_server::config::ServerConfig;
use tympan_server::registry::Found;
use tympan_server::transport::sip::SipTransport;
use tympan_server::{AppState, Listeners};
use tympan_telephony::rtp::{encode_payload, RtpSender, SenderConfig, FRAME_SAMPLES};
use tympan_telephony::sdp::Codec;

/// An SDP offering (or answering with) `pt` (0 PCMU, 8 PCMA) and telephone-event.
fn sdp(rtp: u16, pt: u8) -> String {
    let name = if pt == 8 { "PCMA" } else { "PCMU" };
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp} RTP/AVP {pt} 101\r\na=rtpmap:{pt} {name}/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\n"
    )
}

/// An INVITE over `transport` with an offer, or without a body when `rtp` is `None` (late
/// offer).
fn invite(call_id: &str, local: u16, rtp: Option<u16>, transport: &str) -> String {
    let sdp = rtp.map(|p| sdp(p, 0)).unwrap_or_default();
    let ct = if sdp.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "INVITE sip:test@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/{transport} 127.0.0.1:{local};branch=z9hG4bK{call_id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=f{call_id}\r\n\
         To: <sip:test@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:raw@127.0.0.1:{local};transport={}>\r\n\
         {ct}Content-Length: {}\r\n\r\n{sdp}",
        transport.to_ascii_lowercase(),
        sdp.len()
    )
}

/// An in-dialog request (ACK or BYE) for the dialog a 200 OK established, with an optional
/// SDP body.
fn in_dialog(method: &str, call_id: &str, local: u16, cseq: u32, to: &str, sdp: &str) -> String {
    let ct = if sdp.is_empty() {
        ""
    } else {
        "Content-Type: application/sdp\r\n"
    };
    format!(
        "{method} sip:tympan@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.1:{local};branch=z9hG4bK{method}{call_id}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=f{call_id}\r\n\
         {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n{ct}\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

/// Reads framed SIP messages from a TCP stream (Content-Length framing, as the peer must).
struct Reader {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Reader {
    async fn next(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("Content-Length: "))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let total = end + 4 + len;
                if self.buf.len() >= total {
                    let msg: Vec<u8> = self.buf.drain(..total).collect();
                    return Some(String::from_utf8_lossy(&msg).into_owned());
                }
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
                .await
                .expect("a message within the wait")
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next response with a final status (skipping 100 and 180).
    async fn final_response(&mut self) -> String {
        loop {
            let m = self.next().await.expect("connection open");
            let code: u16 = m
                .split(' ')
                .nth(1)
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            if m.starts_with("SIP/2.0") && code >= 200 {
                return m;
            }
        }
    }
}

/// The events of a call in the registry, live or recently ended.
fn call_events(state: &AppState, id: &str) -> Option<Vec<serde_json::Value>> {
    match state.calls.get(id)? {
        Found::Live(rec) => Some(rec.events),
        Found::Ended(json) => {
            let v: serde_json::Value = serde_json::from_str(&json).ok()?;
            v["events"].as_array().cloned()
        }
    }
}

fn header<'a>(msg: &'a str, name: &str) -> &'a str {
    msg.lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("{name} in {msg}"))
}

/// A server with SIP on UDP and TCP on one free port; returns it, the port and its stopper.
async fn start_server(tag: &str, salt: u16) -> (Arc<AppState>, u16, oneshot::Sender<()>) {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sip_port = probe.local_addr().unwrap().port();
    drop(probe);
    let mut cfg = ServerConfig {
        api_tokens: vec![TEST_TOKEN.into()],
        ..Default::default()
    };
    cfg.sip.listen = Some(format!("127.0.0.1:{sip_port}"));
    cfg.sip.transports = vec![SipTransport::Udp, SipTransport::Tcp];
    let base = 41_000 + (std::process::id() as u16 % 200) * 20 + salt * 10;
    cfg.sip.rtp_port_min = base;
    cfg.sip.rtp_port_max = base + 8;
    cfg.data_dir = temp_dir(tag);
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let state = AppState::new(cfg, tympan_server::amd_factory())
        .await
        .expect("store opens");
    let (stop, rx) = oneshot::channel::<()>();
    let listeners = Listeners {
        main,
        control: None,
        audiosocket: None,
    };
    tokio::spawn(tympan_server::run(listeners, state.clone(), async move {
        let _ = rx.await;
    }));
    (state, sip_port, stop)
}

/// A TCP connection to the server's SIP port (retried while it starts).
async fn connect(sip_port: u16) -> Reader {
    for _ in 0..50 {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", sip_port)).await {
            return Reader {
                stream,
                buf: Vec::new(),
            };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("SIP/TCP never listened on {sip_port}");
}

/// The RTP port of the `m=audio` line of a message's SDP.
fn audio_port(msg: &str) -> u16 {
    msg.split("m=audio ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("an SDP with m=audio in {msg}"))
}

/// Sends the greeting-then-beep signal as RTP of `codec` (payload type `pt`), paced at 20 ms.
async fn send_greeting(rtp: &UdpSocket, their_rtp: u16, codec: Codec, pt: u8) {
    let pcm = to_i16(&greeting_then_beep(8000));
    let mut sender = RtpSender::new(SenderConfig {
        ssrc: 0x1234_5678,
        initial_sequence: 100,
        initial_timestamp: 8000,
        payload_type: pt,
    });
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for frame in pcm.chunks(FRAME_SAMPLES) {
        tick.tick().await;
        let pkt = sender
            .audio(encode_payload(codec, frame), frame.len() as u32)
            .unwrap();
        rtp.send_to(&pkt, ("127.0.0.1", their_rtp)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Asserts the call's events hold the signal's beep where the signal has it.
fn assert_beep(state: &AppState, call_id: &str) {
    let events = call_events(state, call_id).expect("the call's record");
    let beep = events
        .iter()
        .find(|e| e["type"] == "beep")
        .unwrap_or_else(|| panic!("a beep event in {events:#?}"));
    let at = beep["beep"]["start_ms"].as_u64().unwrap();
    assert!(
        at + 100 >= BEEP_START_MS && at <= BEEP_START_MS + 200,
        "beep at {at} ms, the signal has it at {BEEP_START_MS} ms"
    );
}

/// Waits for the call's `call_end`.
async fn assert_ends(state: &AppState, call_id: &str) {
    for _ in 0..100 {
        if call_events(state, call_id).is_some_and(|ev| ev.iter().any(|e| e["type"] == "call_end"))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no call_end for {call_id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_over_tcp_is_framed_answered_analysed_and_ended() {
    let (state, sip_port, stop) = start_server("sip_tcp", 0).await;
    let mut r = connect(sip_port).await;
    let local = r.stream.local_addr().unwrap().port();
    let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rtp_port = rtp.local_addr().unwrap().port();

    // The INVITE arrives in three writes, split inside the header and inside the body.
    let inv = invite("tcp1", local, Some(rtp_port), "TCP");
    let bytes = inv.as_bytes();
    let (a, rest) = bytes.split_at(40);
    let (b, c) = rest.split_at(rest.len() - 30);
    for part in [a, b, c] {
        r.stream.write_all(part).await.unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let ok = r.final_response().await;
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert!(ok.contains("Via: SIP/2.0/TCP"), "{ok}");
    assert!(
        header(&ok, "Contact:").contains("transport=tcp"),
        "our Contact names TCP: {ok}"
    );
    let their_rtp = audio_port(&ok);
    let to = header(&ok, "To:").to_owned();
    r.stream
        .write_all(in_dialog("ACK", "tcp1", local, 1, &to, "").as_bytes())
        .await
        .unwrap();

    // Media: µ-law RTP through AMD; the call's id is the SIP Call-ID.
    send_greeting(&rtp, their_rtp, Codec::Pcmu, 0).await;
    let call_id = "tcp1";
    assert_beep(&state, call_id);

    // BYE over the same connection: 200, and the call ends.
    r.stream
        .write_all(in_dialog("BYE", "tcp1", local, 2, &to, "").as_bytes())
        .await
        .unwrap();
    let bye_ok = r.final_response().await;
    assert!(bye_ok.starts_with("SIP/2.0 200"), "{bye_ok}");
    assert!(bye_ok.contains("CSeq: 2 BYE"), "{bye_ok}");
    assert_ends(&state, call_id).await;

    // UDP still answers on the same port.
    let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let uport = udp.local_addr().unwrap().port();
    let opt = format!(
        "OPTIONS sip:test@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{uport};branch=z9hG4bKo1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=o1\r\nTo: <sip:test@127.0.0.1>\r\n\
         Call-ID: opt1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    udp.send_to(opt.as_bytes(), ("127.0.0.1", sip_port))
        .await
        .unwrap();
    let mut buf = vec![0u8; 65_535];
    let (n, _) = tokio::time::timeout(WAIT, udp.recv_from(&mut buf))
        .await
        .expect("an OPTIONS answer over UDP")
        .unwrap();
    assert!(buf[..n].starts_with(b"SIP/2.0 200"));

    // A message that cannot be framed (no Content-Length) closes its connection, and the
    // listener keeps accepting.
    let mut bad = TcpStream::connect(("127.0.0.1", sip_port)).await.unwrap();
    bad.write_all(
        b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKb\r\n\r\n",
    )
    .await
    .unwrap();
    let mut sink = [0u8; 256];
    let n = tokio::time::timeout(WAIT, bad.read(&mut sink))
        .await
        .expect("the server closes the connection")
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    let again = TcpStream::connect(("127.0.0.1", sip_port)).await;
    assert!(again.is_ok(), "still accepting");
    let _ = stop.send(());
}

/// Late offer (RFC 3261 §13.2.1): an INVITE without SDP gets our offer in the 200 OK; the
/// ACK's answer picks PCMA and the call runs on it (A-law RTP → AMD finds the beep). An ACK
/// without an answer gets a BYE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_offer_call_starts_at_the_ack() {
    let (state, sip_port, stop) = start_server("sip_late", 1).await;
    let mut r = connect(sip_port).await;
    let local = r.stream.local_addr().unwrap().port();
    let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rtp_port = rtp.local_addr().unwrap().port();

    r.stream
        .write_all(invite("late1", local, None, "TCP").as_bytes())
        .await
        .unwrap();
    let ok = r.final_response().await;
    assert!(ok.starts_with("SIP/2.0 200"), "{ok}");
    assert!(
        ok.contains("a=rtpmap:0 PCMU/8000") && ok.contains("a=rtpmap:8 PCMA/8000"),
        "our offer lists both G.711 laws: {ok}"
    );
    assert!(ok.contains("telephone-event/8000"), "{ok}");
    let their_rtp = audio_port(&ok);
    assert!(
        call_events(&state, "late1").is_none(),
        "no call before the ACK"
    );
    let to = header(&ok, "To:").to_owned();
    r.stream
        .write_all(in_dialog("ACK", "late1", local, 1, &to, &sdp(rtp_port, 8)).as_bytes())
        .await
        .unwrap();
    send_greeting(&rtp, their_rtp, Codec::Pcma, 8).await;
    assert_beep(&state, "late1");
    r.stream
        .write_all(in_dialog("BYE", "late1", local, 2, &to, "").as_bytes())
        .await
        .unwrap();
    assert!(r.final_response().await.starts_with("SIP/2.0 200"));
    assert_ends(&state, "late1").await;

    // An ACK without the answer: the server hangs up with a BYE on the same connection.
    r.stream
        .write_all(invite("late2", local, None, "TCP").as_bytes())
        .await
        .unwrap();
    let ok = r.final_response().await;
    assert!(ok.contains("Call-ID: late2"), "{ok}");
    let to = header(&ok, "To:").to_owned();
    r.stream
        .write_all(in_dialog("ACK", "late2", local, 1, &to, "").as_bytes())
        .await
        .unwrap();
    let bye = loop {
        let m = r.next().await.expect("connection open");
        if m.starts_with("BYE ") {
            break m;
        }
    };
    assert!(bye.contains("Call-ID: late2"), "{bye}");
    let _ = stop.send(());
}
