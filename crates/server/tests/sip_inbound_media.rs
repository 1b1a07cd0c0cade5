//! Inbound SIP calls from a raw UDP peer (its datagrams written here, Tympan's parsed with
//! the telephony crate), for what a real phone exercises only by chance:
//!
//! - SIP INFO DTMF (`application/dtmf-relay` `Signal=5 Duration=160`, `application/dtmf`
//!   `7`) in the dialog is answered 200 and reaches the call as the same `dtmf` event as an
//!   RFC 4733 digit (`9`, sent on RTP); an INFO with another body gets 415 with `Accept`;
//!   an INFO outside any dialog gets 481.
//! - RTCP on the wire: Tympan sends reports from its RTP port + 1 to ours + 1 (RFC 3550
//!   §11, no `a=rtcp`), whose block about our stream counts exactly the audio packets we
//!   dropped (RFC 4733 packets in between are received, not lost); garbage on its RTCP
//!   port is counted, not fatal; our SR and CNAME reach the call's `media_quality`; our
//!   BYE is followed by Tympan's RTCP BYE.

mod common;

use common::baresip::free_ports;
use common::*;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tympan_server::config::ServerConfig;
use tympan_server::{AppState, Listeners};
use tympan_telephony::rtp::dtmf::encode_digit;
use tympan_telephony::rtp::rtcp::{parse_compound, Block, Report, RtcpSession, SenderInfo};
use tympan_telephony::rtp::{encode_payload, RtpSender, SenderConfig};
use tympan_telephony::sdp::Codec;
use tympan_telephony::sip::{parse_datagram, Message};

/// Our SSRC.
const SSRC: u32 = 0x5eed_0042;
/// Our first RTP sequence number.
const SEQ0: u16 = 1000;
/// Audio packets (by index from the first) we never send: the loss Tympan must report.
const DROPPED: std::ops::Range<u32> = 30..33;
/// The audio packet index at which our RFC 4733 digit starts.
const DIGIT_AT: u32 = 60;
/// Payload type of telephone-event in our offer.
const TE_PT: u8 = 101;

/// A running server with SIP on a free loopback port.
struct Server {
    http: SocketAddr,
    sip: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn server(tag: &str) -> Server {
    let sip_port = free_ports(1)[0];
    let mut cfg = ServerConfig {
        api_tokens: vec![TEST_TOKEN.into()],
        ..Default::default()
    };
    cfg.sip.listen = Some(format!("127.0.0.1:{sip_port}"));
    let base = 24_000 + (std::process::id() % 300) as u16 * 20;
    cfg.sip.rtp_port_min = base;
    cfg.sip.rtp_port_max = base + 19;
    cfg.data_dir = temp_dir(tag);
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = main.local_addr().unwrap();
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
    let sip: SocketAddr = format!("127.0.0.1:{sip_port}").parse().unwrap();
    // Wait until SIP answers (OPTIONS 200).
    let probe = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = probe.local_addr().unwrap().port();
    let options = format!(
        "OPTIONS sip:test@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKprobe\r\n\
         Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=probe\r\nTo: <sip:test@127.0.0.1>\r\n\
         Call-ID: probe-{port}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    let mut buf = vec![0u8; 65_535];
    for _ in 0..100 {
        probe.send_to(options.as_bytes(), sip).await.unwrap();
        if let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(100), probe.recv_from(&mut buf)).await
        {
            return Server {
                http,
                sip,
                stop: Some(stop),
            };
        }
    }
    panic!("the SIP listener never answered OPTIONS");
}

/// An RTP socket on an even port and the RTCP one above it.
async fn rtp_pair() -> (UdpSocket, UdpSocket) {
    for _ in 0..1000 {
        let rtp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let p = rtp.local_addr().unwrap().port();
        if p % 2 != 0 {
            continue;
        }
        if let Ok(rtcp) = UdpSocket::bind(("127.0.0.1", p + 1)).await {
            return (rtp, rtcp);
        }
    }
    panic!("no free even/odd port pair");
}

/// The next response on `sock` with status >= 200, parsed.
async fn final_response(sock: &UdpSocket) -> Message {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, _) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
            .await
            .expect("a response within the wait")
            .unwrap();
        if !buf[..n].starts_with(b"SIP/2.0 ") {
            continue;
        }
        let m = parse_datagram(&buf[..n]).unwrap();
        if m.response().unwrap().code >= 200 {
            return m;
        }
    }
}

/// The next RTCP compound on `sock` (with its source) that holds a report matching `want`.
async fn next_rtcp(sock: &UdpSocket, want: impl Fn(&Report) -> bool) -> (Vec<Report>, SocketAddr) {
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, from) = tokio::time::timeout(WAIT, sock.recv_from(&mut buf))
            .await
            .expect("an RTCP packet within the wait")
            .unwrap();
        let reports = parse_compound(&buf[..n])
            .unwrap_or_else(|e| panic!("Tympan sent RTCP that does not parse: {e}"));
        if reports.iter().any(&want) {
            return (reports, from);
        }
    }
}

/// The report block about our SSRC in a compound's SR or RR.
fn block_about_us(reports: &[Report]) -> Option<Block> {
    reports.iter().find_map(|r| match r {
        Report::Sender { blocks, .. } | Report::Receiver { blocks, .. } => {
            blocks.iter().find(|b| b.ssrc == SSRC).copied()
        }
        _ => None,
    })
}

/// The dialog as the caller sees it.
struct Dialog {
    call_id: String,
    /// Tympan's Contact (the request URI of in-dialog requests).
    target: String,
    /// Tympan's To tag.
    remote_tag: String,
    sip_port: u16,
}

impl Dialog {
    /// An in-dialog request (`to_tag` overrides Tympan's tag; `None` sends none).
    fn request(
        &self,
        method: &str,
        cseq: u32,
        to_tag: Option<&str>,
        call_id: &str,
        content: Option<(&str, &str)>,
    ) -> String {
        let to = match to_tag {
            Some(t) => format!("<sip:test@127.0.0.1>;tag={t}"),
            None => "<sip:test@127.0.0.1>".to_string(),
        };
        let (ct, body) = match content {
            Some((ct, body)) => (format!("Content-Type: {ct}\r\n"), body),
            None => (String::new(), ""),
        };
        format!(
            "{method} {} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{};rport;branch=z9hG4bK{method}{cseq}{call_id}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=peer\r\nTo: {to}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n{ct}Content-Length: {}\r\n\r\n{body}",
            self.target,
            self.sip_port,
            body.len()
        )
    }
}

/// Places a call to Tympan from `sip` with media on `rtp_port`: INVITE, its 200, ACK.
/// Returns the dialog and Tympan's RTP address from its answer.
async fn dial(srv: &Server, sip: &UdpSocket, rtp_port: u16) -> (Dialog, SocketAddr) {
    let sip_port = sip.local_addr().unwrap().port();
    let call_id = format!("inbound-media-{sip_port}");
    let sdp = format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {rtp_port} RTP/AVP 0 {TE_PT}\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:{TE_PT} telephone-event/8000\r\na=fmtp:{TE_PT} 0-15\r\na=ptime:20\r\n"
    );
    let invite = format!(
        "INVITE sip:test@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{sip_port};rport;branch=z9hG4bKinv{sip_port}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:raw@127.0.0.1>;tag=peer\r\n\
         To: <sip:test@127.0.0.1>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:raw@127.0.0.1:{sip_port}>\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    sip.send_to(invite.as_bytes(), srv.sip).await.unwrap();
    let ok = final_response(sip).await;
    assert_eq!(ok.response().unwrap().code, 200, "{ok}");
    let body = String::from_utf8(ok.body.clone()).unwrap();
    let port: u16 = body
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("m=audio in the answer: {body}"));
    assert!(body.contains("telephone-event/8000"), "{body}");
    let d = Dialog {
        call_id,
        target: ok.contact[0].uri.to_string(),
        remote_tag: ok.to.tag().expect("To tag in the 200").to_string(),
        sip_port,
    };
    let ack = d.request("ACK", 1, Some(&d.remote_tag), &d.call_id, None);
    sip.send_to(ack.as_bytes(), srv.sip).await.unwrap();
    (d, SocketAddr::new("127.0.0.1".parse().unwrap(), port))
}

/// Sends our stream to `to` every 20 ms: PCMU low noise, except the [`DROPPED`] packets
/// (built, so they take sequence numbers, but never sent), and from [`DIGIT_AT`] the RFC
/// 4733 packets of digit `9` (160 ms) besides the audio. `done` gets the sequence number
/// after the digit's last packet once it went.
fn spawn_sender(
    rtp: Arc<UdpSocket>,
    to: SocketAddr,
    done: watch::Sender<Option<u16>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut s = RtpSender::new(SenderConfig {
            ssrc: SSRC,
            initial_sequence: SEQ0,
            initial_timestamp: 4000,
            payload_type: 0,
        });
        let mut digit = encode_digit('9', 160, 10, 8000)
            .unwrap()
            .into_iter()
            .peekable();
        let mut digit_ts = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut noise: u32 = 7;
        for k in 0u32.. {
            tick.tick().await;
            if k == DIGIT_AT {
                digit_ts = s.next_timestamp();
            }
            if k >= DIGIT_AT {
                while let Some(p) = digit.next_if(|p| p.offset_ms <= (k - DIGIT_AT) * 20) {
                    let b = s
                        .packet(TE_PT, p.marker, digit_ts, p.event.to_bytes().to_vec())
                        .unwrap();
                    let _ = rtp.send_to(&b, to).await;
                    if digit.peek().is_none() {
                        let _ = done.send(Some(s.next_sequence()));
                    }
                }
            }
            let pcm: Vec<i16> = (0..160)
                .map(|_| {
                    noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    ((noise >> 16) as i16) >> 8
                })
                .collect();
            let b = s.audio(encode_payload(Codec::Pcmu, &pcm), 160).unwrap();
            if !DROPPED.contains(&k) {
                let _ = rtp.send_to(&b, to).await;
            }
        }
    })
}

/// `dtmf` events of `call_id` from `/v1/events` until `n` came (other events skipped).
async fn dtmf_events(events: &mut Ws, call_id: &str, n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    while got.len() < n {
        let v = next_json(events).await.expect("events open");
        if v["call_id"] == call_id && v["type"] == "dtmf" {
            got.push(v);
        }
    }
    got
}

/// The event without what differs between two digits.
fn shape(v: &Value) -> Value {
    let mut v = v.clone();
    let o = v.as_object_mut().unwrap();
    for k in ["digit", "seq", "at_ms"] {
        o.remove(k);
    }
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_dtmf_is_a_dtmf_event_and_rtcp_reports_go_both_ways() {
    let srv = server("sip_inbound_media").await;
    let mut events = ws_connect(srv.http, "/v1/events", Some(TEST_TOKEN))
        .await
        .expect("events websocket");
    let sip = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (rtp, rtcp) = rtp_pair().await;
    let rtp = Arc::new(rtp);
    let (d, tympan_rtp) = dial(&srv, &sip, rtp.local_addr().unwrap().port()).await;
    let call_id = loop {
        let v = next_json(&mut events).await.expect("events open");
        if v["type"] == "call_start" {
            assert_eq!(v["platform"], "sip", "{v}");
            break v["call_id"].as_str().unwrap().to_owned();
        }
    };
    let (digit_tx, mut digit_rx) = watch::channel(None);
    let sender = spawn_sender(rtp.clone(), tympan_rtp, digit_tx);

    // INFO DTMF in the dialog, both body types: 200 each.
    let info = |seq: u32, ct: &str, body: &str| {
        d.request(
            "INFO",
            seq,
            Some(&d.remote_tag),
            &d.call_id,
            Some((ct, body)),
        )
    };
    for (seq, ct, body) in [
        (2, "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"),
        (3, "application/dtmf", "7"),
    ] {
        sip.send_to(info(seq, ct, body).as_bytes(), srv.sip)
            .await
            .unwrap();
        let r = final_response(&sip).await;
        assert_eq!(r.cseq.seq, seq);
        assert_eq!(r.response().unwrap().code, 200, "INFO {ct}: {r}");
    }
    // Another body type: 415 naming what we take.
    sip.send_to(info(4, "text/plain", "5").as_bytes(), srv.sip)
        .await
        .unwrap();
    let r = final_response(&sip).await;
    assert_eq!(r.response().unwrap().code, 415, "{r}");
    let accept: Vec<&str> = r.header_values("Accept").collect();
    assert_eq!(accept.len(), 1, "one Accept: {r}");
    let types: Vec<&str> = accept[0].split(',').map(str::trim).collect();
    assert!(
        types.contains(&"application/dtmf-relay") && types.contains(&"application/dtmf"),
        "{r}"
    );
    // Outside any dialog: a To tag that is not Tympan's, and none on an unknown Call-ID.
    let stray = d.request(
        "INFO",
        5,
        Some("not-tympans"),
        &d.call_id,
        Some(("application/dtmf", "1")),
    );
    sip.send_to(stray.as_bytes(), srv.sip).await.unwrap();
    let r = final_response(&sip).await;
    assert_eq!(r.response().unwrap().code, 481, "{r}");
    let stray = d.request(
        "INFO",
        1,
        None,
        "no-such-call",
        Some(("application/dtmf", "1")),
    );
    sip.send_to(stray.as_bytes(), srv.sip).await.unwrap();
    let r = final_response(&sip).await;
    assert_eq!(r.response().unwrap().code, 481, "{r}");

    // The INFO digits, then the RFC 4733 one, reach the call as the same kind of event.
    let dtmf = dtmf_events(&mut events, &call_id, 3).await;
    let digits: Vec<&str> = dtmf.iter().map(|e| e["digit"].as_str().unwrap()).collect();
    assert_eq!(digits, ["5", "7", "9"], "{dtmf:#?}");
    assert_eq!(
        shape(&dtmf[0]),
        shape(&dtmf[2]),
        "INFO vs RFC 4733: {dtmf:#?}"
    );
    assert_eq!(shape(&dtmf[1]), shape(&dtmf[2]), "{dtmf:#?}");

    // Garbage on Tympan's RTCP port, then our SR with our CNAME.
    let tympan_rtcp = SocketAddr::new(tympan_rtp.ip(), tympan_rtp.port() + 1);
    rtcp.send_to(b"this is no RTCP", tympan_rtcp).await.unwrap();
    let sr = RtcpSession::new(SSRC, "peer@raw")
        .build(
            Some(SenderInfo {
                ntp_timestamp: 0xe000_0000_0000_0000,
                rtp_timestamp: 4000,
                packet_count: 4242,
                octet_count: 678_720,
            }),
            &[],
        )
        .unwrap();
    rtcp.send_to(&sr, tympan_rtcp).await.unwrap();

    // Tympan's reports come to our RTP port + 1 from its own: once one covers the digit,
    // its loss is exactly the packets we dropped.
    tokio::time::timeout(WAIT, digit_rx.wait_for(|s| s.is_some()))
        .await
        .expect("the RFC 4733 digit sent within the wait")
        .unwrap();
    let after_digit = u32::from(digit_rx.borrow().unwrap());
    let mut reports_seen = 0;
    let block = tokio::time::timeout(2 * WAIT, async {
        loop {
            let (reports, from) = next_rtcp(&rtcp, |r| {
                matches!(r, Report::Sender { .. } | Report::Receiver { .. })
            })
            .await;
            assert_eq!(from, tympan_rtcp, "RTCP from Tympan's RTP port + 1");
            assert!(
                reports.iter().any(
                    |r| matches!(r, Report::Cname { cname, .. } if cname.ends_with("@tympan"))
                ),
                "SDES CNAME in {reports:?}"
            );
            reports_seen += 1;
            let Some(b) = block_about_us(&reports) else {
                continue;
            };
            // No wrap: the extended highest sequence is our sequence number.
            if b.extended_highest_seq >= after_digit {
                break b;
            }
        }
    })
    .await
    .expect("a report covering the digit within the wait");
    assert_eq!(
        block.cumulative_lost,
        DROPPED.len() as i32,
        "only the dropped audio is lost, the RFC 4733 packets are received: {block:?}"
    );
    assert!(reports_seen >= 1);

    // We hang up: 200, and Tympan's RTCP BYE for its source.
    let bye = d.request("BYE", 6, Some(&d.remote_tag), &d.call_id, None);
    sip.send_to(bye.as_bytes(), srv.sip).await.unwrap();
    let r = final_response(&sip).await;
    assert_eq!(r.response().unwrap().code, 200, "{r}");
    let (last, _) = next_rtcp(&rtcp, |r| matches!(r, Report::Bye { .. })).await;
    let last_block = block_about_us(&last).expect("the BYE compound reports on our stream");
    assert_eq!(last_block.cumulative_lost, DROPPED.len() as i32, "{last:?}");
    sender.abort();

    // The record: the peer's SR and CNAME, the bad packet, our loss as Tympan saw it.
    let rest = events_until_end(&mut events, &call_id).await;
    assert!(
        rest.iter().any(|e| e["type"] == "remote_hangup"),
        "our BYE is the remote hang-up: {rest:#?}"
    );
    let rec: Value = reqwest::Client::new()
        .get(format!("http://{}/v1/calls/{call_id}", srv.http))
        .bearer_auth(TEST_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let q = &rec["media_quality"];
    assert_eq!(q["bad_packets"], 1, "{q}");
    assert_eq!(q["reports_received"], 1, "{q}");
    assert_eq!(q["remote_cname"], "peer@raw", "{q}");
    assert_eq!(q["remote_ssrc"], SSRC, "{q}");
    assert_eq!(q["remote_packets_sent"], 4242, "{q}");
    assert_eq!(q["local"]["cumulative_lost"], DROPPED.len() as i64, "{q}");
    assert!(q["local"]["jitter_ms"].is_number(), "{q}");
    // Received = expected (first to highest sequence number) - lost.
    let highest = q["local"]["extended_highest_seq"].as_u64().unwrap();
    assert_eq!(
        q["local"]["packets_received"].as_u64().unwrap(),
        highest - u64::from(SEQ0) + 1 - DROPPED.len() as u64,
        "{q}"
    );
    assert!(
        q["reports_sent"].as_u64().unwrap() > reports_seen,
        "the reports seen and the BYE: {q}"
    );
    let metrics = reqwest::Client::new()
        .get(format!("http://{}/metrics", srv.http))
        .bearer_auth(TEST_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let bad = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tympan_rtcp_bad_packets_total "))
        .and_then(|v| v.parse::<u64>().ok())
        .expect("tympan_rtcp_bad_packets_total in /metrics");
    assert_eq!(bad, 1);
    drop(srv);
}
