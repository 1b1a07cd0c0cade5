//! Fuzz targets for SDP offer/answer and for RTP, RTCP, RFC 4733 and the jitter buffer
//! (`tympan_telephony::sdp`, `tympan_telephony::rtp`).

use std::net::IpAddr;

use crate::{error_class, Outcome};
use sdp_types::Session;
use tympan_telephony::rtp::dtmf::{encode_digit, DtmfReceiver, DtmfReport, TelephoneEvent};
use tympan_telephony::rtp::jitter::{JitterBuffer, JitterConfig, MAX_BUFFERED_PACKETS};
use tympan_telephony::rtp::packet::{RtpError, RtpPacket, FIXED_HEADER_LEN, MAX_PACKET_LEN};
use tympan_telephony::rtp::rtcp::{
    parse_compound, Block, Report, RtcpError, RtcpSession, SenderInfo, MAX_RTCP_LEN,
};
use tympan_telephony::rtp::sender::{RtpSender, SenderConfig};
use tympan_telephony::sdp::{self, Codec, Direction, LocalMedia, SdpError};

/// A real INVITE of baresip 1.0.0 (Debian) dialling a UDP listener, captured on loopback.
pub const BARESIP_INVITE: &[u8] = include_bytes!("../seeds/baresip-invite.sip");
/// baresip 1.0.0's 200 OK answering an offer of PCMA, PCMU, iLBC, telephone-event
/// (sendonly) and an H.261 video stream, captured on loopback.
pub const BARESIP_ANSWER: &[u8] = include_bytes!("../seeds/baresip-200-answer.sip");

/// The body of a SIP message (after the blank line).
pub fn body_of(msg: &[u8]) -> &[u8] {
    msg.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(msg, |i| &msg[i + 4..])
}

fn local() -> LocalMedia {
    LocalMedia {
        address: IpAddr::from([192, 0, 2, 20]),
        port: 40_000,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        session_id: 11,
        session_version: 1,
    }
}

/// SDP offers: baresip's, Tympan's own, and RFC 3264 / RFC 4317 style offers with hold,
/// dynamic payload types, several streams and nothing usable.
pub fn sdp_seeds() -> Vec<Vec<u8>> {
    let mut v = vec![
        body_of(BARESIP_INVITE).to_vec(),
        body_of(BARESIP_ANSWER).to_vec(),
        sdp::offer(&local(), Direction::SendRecv),
        sdp::offer(&local(), Direction::SendOnly),
    ];
    let head = "v=0\r\no=alice 2890844526 2890844526 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n";
    for m in [
        "m=audio 49170 RTP/AVP 0 8 97\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:97 iLBC/8000\r\n",
        "m=audio 49170 RTP/AVP 96 97\r\na=rtpmap:96 pcma/8000\r\na=rtpmap:97 telephone-event/8000\r\na=fmtp:97 0-16\r\na=ptime:30\r\n",
        "m=audio 49170 RTP/AVP 18 9\r\na=rtpmap:18 G729/8000\r\na=rtpmap:9 G722/8000\r\n",
        "m=video 51372 RTP/AVP 31\r\na=rtpmap:31 H261/90000\r\nm=audio 49170 RTP/AVP 0\r\nm=audio 49172 RTP/AVP 8\r\n",
        "m=audio 0 RTP/AVP 0\r\nm=audio 49170 RTP/SAVP 0\r\n",
        "m=audio 49170 RTP/AVP 0 101\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:101 telephone-event/8000\r\na=inactive\r\n",
        "m=audio 49170 RTP/AVP 8\r\nc=IN IP6 2001:db8::1\r\na=recvonly\r\n",
        "m=audio 49170 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/16000\r\n",
    ] {
        v.push(format!("{head}{m}").into_bytes());
    }
    v.push(
        b"v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0\r\n"
            .to_vec(),
    );
    v
}

/// Tokens for the SDP dictionary.
pub const SDP_DICT: &[&[u8]] = &[
    b"\r\n",
    b"m=audio ",
    b"m=video ",
    b" RTP/AVP ",
    b" RTP/SAVP ",
    b"c=IN IP4 ",
    b"c=IN IP6 ",
    b"0.0.0.0",
    b"a=rtpmap:",
    b" PCMU/8000",
    b" PCMA/8000",
    b" telephone-event/8000",
    b" G729/8000",
    b"a=fmtp:",
    b"a=ptime:",
    b"a=sendonly",
    b"a=recvonly",
    b"a=inactive",
    b"a=sendrecv",
    b"o=- ",
    b" IN IP4 ",
    b"t=0 0",
    b"v=0",
    b"101",
    b"96",
    b"127",
    b"128",
    b"255",
    b"65535",
    b"/",
];

/// (payload types, rtpmaps) of one offered media line, read independently of the code
/// under test: `fmt` numbers and `a=rtpmap:PT NAME/RATE` (a map whose type or rate is not a
/// number is no map: the type then means what its static assignment says).
fn offered_formats(m: &sdp_types::Media) -> (Vec<String>, Vec<(u8, String, u32)>) {
    let fmts = m.fmt.split_whitespace().map(str::to_string).collect();
    let maps = m
        .attributes
        .iter()
        .filter(|a| a.attribute == "rtpmap")
        .filter_map(|a| {
            let v = a.value.as_deref()?;
            let (pt, enc) = v.split_once(' ')?;
            let mut p = enc.trim().split('/');
            let name = p.next()?.to_string();
            let rate = p.next()?.parse().ok()?;
            Some((pt.trim().parse().ok()?, name, rate))
        })
        .collect();
    (fmts, maps)
}

/// Does an offered media line carry a format that is PCMU or PCMA at 8 kHz?
fn speaks_g711(m: &sdp_types::Media) -> bool {
    let (fmts, maps) = offered_formats(m);
    fmts.iter().any(|f| {
        let Ok(pt) = f.parse::<u8>() else {
            return false;
        };
        match maps.iter().find(|(p, _, _)| *p == pt) {
            Some((_, name, rate)) => {
                *rate == 8000
                    && (name.eq_ignore_ascii_case("PCMU") || name.eq_ignore_ascii_case("PCMA"))
            }
            None => pt == 0 || pt == 8,
        }
    })
}

/// `sdp`: an offer through [`sdp::answer`] (and [`sdp::read_answer`] on the result).
///
/// Checks: an answer has one m-line per offered m-line, accepts exactly one audio stream,
/// lists only payload types that stream offered (and the codec the offer named for that
/// type), reads back as what was negotiated; a refusal is 488 when the offer parses
/// (`NoCommonCodec` only when no usable audio line offers PCMU/PCMA), 400 when it does not.
pub fn sdp(input: &[u8]) -> Outcome {
    let me = local();
    match sdp::answer(input, &me) {
        Ok((body, n)) => {
            let offer = Session::parse(input).expect("answered offer parses");
            let ans = Session::parse(&body).unwrap_or_else(|e| {
                panic!(
                    "own answer does not parse: {e}\n{}",
                    String::from_utf8_lossy(&body)
                )
            });
            assert_eq!(
                ans.medias.len(),
                offer.medias.len(),
                "answer m-lines differ in number from the offer's"
            );
            let accepted: Vec<usize> = (0..ans.medias.len())
                .filter(|&i| ans.medias[i].port != 0)
                .collect();
            assert_eq!(accepted.len(), 1, "answer accepts {accepted:?}");
            let i = accepted[0];
            let (om, am) = (&offer.medias[i], &ans.medias[i]);
            assert_eq!(om.media, "audio");
            assert_ne!(om.port, 0, "answer accepts a refused stream");
            assert_eq!(am.port, me.port);
            assert_eq!(n.remote_port, om.port);
            let (offered, maps) = offered_formats(om);
            let offered_pts: Vec<u8> = offered.iter().filter_map(|f| f.parse().ok()).collect();
            for f in am.fmt.split_whitespace() {
                let pt: u8 = f.parse().expect("own fmt is a number");
                assert!(
                    offered_pts.contains(&pt),
                    "answer lists payload type {pt}, offer had {offered:?}"
                );
            }
            assert!(offered_pts.contains(&n.payload_type));
            match maps.iter().find(|(p, _, _)| *p == n.payload_type) {
                Some((_, name, rate)) => {
                    assert!(
                        name.eq_ignore_ascii_case(n.codec.name()),
                        "offer maps {} to {name}, answer uses {:?}",
                        n.payload_type,
                        n.codec
                    );
                    assert_eq!(*rate, 8000);
                }
                None => assert_eq!(n.payload_type, n.codec.static_pt()),
            }
            if let Some(te) = n.telephone_event {
                assert!(
                    offered_pts.contains(&te),
                    "telephone-event {te} not offered"
                );
                assert!(maps
                    .iter()
                    .any(|(p, name, _)| *p == te && name.eq_ignore_ascii_case("telephone-event")));
            }
            let back = sdp::read_answer(&body).expect("own answer reads back");
            assert_eq!(back.codec, n.codec);
            assert_eq!(back.payload_type, n.payload_type);
            assert_eq!(back.telephone_event, n.telephone_event);
            assert_eq!((back.remote_addr, back.remote_port), (me.address, me.port));
            assert_eq!(back.direction, n.direction.reverse());
            let dir = match n.direction {
                Direction::SendRecv => 0,
                Direction::SendOnly => 1,
                Direction::RecvOnly => 2,
                Direction::Inactive => 3,
            };
            Outcome::Accepted(
                u64::from(n.payload_type)
                    ^ (dir << 8)
                    ^ (u64::from(n.telephone_event.is_some()) << 10)
                    ^ ((offer.medias.len().min(4) as u64) << 11),
            )
        }
        Err(e) => {
            match (&e, Session::parse(input)) {
                (SdpError::Parse(_), Ok(_)) => panic!("{e} but the offer parses"),
                (SdpError::Parse(_), Err(_)) => assert_eq!(e.status_code(), 400),
                (_, Err(p)) => panic!("{e} for an offer that does not parse ({p})"),
                (_, Ok(offer)) => {
                    assert_eq!(e.status_code(), 488, "{e}");
                    let usable = |m: &&sdp_types::Media| {
                        m.media == "audio" && m.port != 0 && m.proto.eq_ignore_ascii_case("RTP/AVP")
                    };
                    match &e {
                        SdpError::NoCommonCodec { offered } => {
                            assert!(
                                !offer.medias.iter().filter(usable).any(speaks_g711),
                                "488 although a usable stream offers PCMU/PCMA"
                            );
                            // It names what the first usable stream offered.
                            let first = offer.medias.iter().find(usable).expect("a usable stream");
                            assert_eq!(offered.len(), first.fmt.split_whitespace().count());
                        }
                        SdpError::NoAudio => assert!(
                            offer.medias.iter().find(usable).is_none(),
                            "NoAudio with a usable audio line"
                        ),
                        SdpError::NoConnection => {}
                        SdpError::Parse(_) => unreachable!("handled above"),
                    }
                }
            }
            Outcome::Refused(error_class(&e.to_string()))
        }
    }
}

// ---------------------------------------------------------------- RTP

/// Mode byte of an `rtp_packets` input: what the rest of it is.
const MODE_RTP: u8 = 0;
const MODE_RTCP: u8 = 1;
const MODE_EVENTS: u8 = 2;
const MODE_JITTER: u8 = 3;

/// Bytes per jitter-buffer record: op, sequence step, 4 timestamp bytes, samples, time step.
const JITTER_RECORD: usize = 8;

fn rtp_packet(data: &[u8]) -> Outcome {
    match RtpPacket::parse(data) {
        Ok(p) => {
            assert!(p.payload_type <= 127 && p.csrcs.len() <= 15);
            assert!(FIXED_HEADER_LEN + 4 * p.csrcs.len() + p.payload.len() <= data.len());
            assert_eq!(p.payload_type, data[1] & 0x7f);
            assert_eq!(p.sequence, u16::from_be_bytes([data[2], data[3]]));
            let bytes = p.to_bytes().expect("a parsed packet serialises");
            let back = RtpPacket::parse(&bytes).expect("own packet parses");
            assert_eq!(back, p, "parse(to_bytes(p)) != p");
            let plain = data[0] & 0x30 == 0;
            if plain {
                assert_eq!(bytes, data, "a packet without extension or padding changed");
            }
            Outcome::Accepted(u64::from(p.payload_type) ^ (u64::from(plain) << 8))
        }
        Err(e) => {
            match &e {
                RtpError::Truncated {
                    offset,
                    needed,
                    len,
                    ..
                } => {
                    assert_eq!((*offset, *len), (data.len(), data.len()), "{e}");
                    assert!(needed > len, "{e}");
                }
                RtpError::Version { found } => {
                    assert!(data.len() >= FIXED_HEADER_LEN);
                    assert_eq!(*found, data[0] >> 6);
                    assert_ne!(*found, 2);
                }
                RtpError::Padding { offset, .. } => assert_eq!(*offset + 1, data.len()),
                RtpError::TooLarge { len } => assert!(*len > MAX_PACKET_LEN),
                RtpError::PayloadType(_) | RtpError::TooManyCsrcs(_) => {
                    panic!("builder error from the parser: {e}")
                }
            }
            Outcome::Refused(error_class(&e.to_string()))
        }
    }
}

/// Every packet of the (accepted, so well-framed) compound is an SDES packet (type 202).
fn only_sdes(data: &[u8]) -> bool {
    let mut offset = 0;
    while offset + 4 <= data.len() {
        if data[offset + 1] != 202 {
            return false;
        }
        offset += 4 * (u16::from_be_bytes([data[offset + 2], data[offset + 3]]) as usize + 1);
    }
    true
}

fn rtcp(data: &[u8]) -> Outcome {
    let mut session = RtcpSession::new(0x1234_5678, "fuzz@tympan");
    match session.handle(data, 1_000) {
        Ok(reports) => {
            // Only SDES packets without a CNAME item produce no report.
            assert!(
                !reports.is_empty() || only_sdes(data),
                "a compound with no reportable packet accepted"
            );
            let mut kinds = 0u64;
            for r in &reports {
                kinds |= match r {
                    Report::Sender { .. } => 1,
                    Report::Receiver { .. } => 2,
                    Report::Cname { .. } => 4,
                    Report::Bye { .. } => 8,
                    Report::Other { .. } => 16,
                };
                let (blocks, info): (&[Block], Option<SenderInfo>) = match r {
                    Report::Sender { blocks, info, .. } => (blocks, Some(*info)),
                    Report::Receiver { blocks, .. } => (blocks, None),
                    _ => continue,
                };
                assert!(blocks.len() <= 31, "{} report blocks", blocks.len());
                for b in blocks {
                    assert!((-0x80_0000..=0x7f_ffff).contains(&b.cumulative_lost));
                }
                // What we parse, we can build, and it parses back to the same figures.
                let built = session.build(info, blocks).expect("parsed report rebuilds");
                assert!(built.len() <= MAX_RTCP_LEN);
                let again = parse_compound(&built).expect("own compound parses");
                match (&again[0], info) {
                    (
                        Report::Sender {
                            info: i2,
                            blocks: b2,
                            ..
                        },
                        Some(i),
                    ) => {
                        assert_eq!(*i2, i);
                        assert_eq!(b2.as_slice(), blocks);
                    }
                    (Report::Receiver { blocks: b2, .. }, None) => {
                        assert_eq!(b2.as_slice(), blocks)
                    }
                    (other, _) => panic!("rebuilt report reads as {other:?}"),
                }
                assert!(matches!(&again[1], Report::Cname { cname, .. } if cname == "fuzz@tympan"));
            }
            Outcome::Accepted(kinds << 8 | reports.len().min(8) as u64)
        }
        Err(e) => {
            match &e {
                RtcpError::Parse { offset, .. } => {
                    assert!(
                        *offset < data.len() || (data.is_empty() && *offset == 0),
                        "RTCP error offset {offset} outside {} bytes",
                        data.len()
                    );
                    assert_eq!(offset % 4, 0, "RTCP packets start on 32-bit words");
                }
                RtcpError::TooLarge(n) => assert!(*n > MAX_RTCP_LEN),
                RtcpError::Build(_) => panic!("build error from the parser: {e}"),
            }
            Outcome::Refused(error_class(&e.to_string()))
        }
    }
}

/// Telephone-event payloads: records of 4 timestamp bytes and 4 payload bytes.
fn events(data: &[u8]) -> Outcome {
    let mut rx = DtmfReceiver::new();
    let mut started = 0u64;
    let mut ended = 0u64;
    let mut refused = 0u64;
    for rec in data.chunks(8) {
        let ts = u32::from_be_bytes([
            rec[0],
            *rec.get(1).unwrap_or(&0),
            *rec.get(2).unwrap_or(&0),
            *rec.get(3).unwrap_or(&0),
        ]);
        let payload = rec.get(4..).unwrap_or(&[]);
        if let Ok(ev) = TelephoneEvent::parse(payload) {
            let back = TelephoneEvent::parse(&ev.to_bytes()).expect("own payload parses");
            assert_eq!(back, ev, "parse(to_bytes(e)) != e");
            assert!(ev.volume <= 63);
        }
        match rx.push(ts, payload) {
            Ok(reports) => {
                // At most: the previous event's lost end, this one's start, and its end when
                // its first packet seen already has the E bit.
                assert!(
                    reports.len() <= 3,
                    "{} reports for one packet",
                    reports.len()
                );
                if reports.len() == 3 {
                    assert!(matches!(
                        reports[..],
                        [
                            DtmfReport::Ended {
                                end_seen: false,
                                ..
                            },
                            DtmfReport::Started { .. },
                            DtmfReport::Ended { end_seen: true, .. }
                        ]
                    ));
                }
                for r in reports {
                    match r {
                        DtmfReport::Started { timestamp, .. } => {
                            assert_eq!(timestamp, ts);
                            started += 1;
                        }
                        DtmfReport::Ended { .. } => ended += 1,
                    }
                }
            }
            Err(_) => {
                assert!(payload.len() < 4, "a 4-byte payload refused");
                refused += 1;
            }
        }
    }
    assert!(ended <= started + 1, "{ended} ends for {started} starts");
    if refused > 0 {
        Outcome::Refused(1 ^ (started.min(3) << 2))
    } else {
        Outcome::Accepted(started.min(7) ^ (ended.min(7) << 3))
    }
}

/// The jitter buffer fed records (see [`JITTER_RECORD`]): pushes with sequence and
/// timestamp steps (small, negative, wrapping, huge), pulls, resets, time jumps.
fn jitter(data: &[u8]) -> Outcome {
    let cfg = JitterConfig::default();
    let mut jb = JitterBuffer::new(cfg);
    let mut now: u64 = 10_000;
    let (mut seq, mut ts): (u16, u32) = (65_500, 4_294_960_000);
    let mut pushed = [0u64; 4];
    let mut prev_ts: Option<i64> = None;
    let mut dropped_before = 0;
    let mut rtcp = RtcpSession::new(1, "jb@fuzz");
    for rec in data.chunks_exact(JITTER_RECORD) {
        let op = rec[0];
        let step = i16::from(rec[1] as i8);
        let raw_ts = u32::from_be_bytes([rec[2], rec[3], rec[4], rec[5]]);
        let samples = usize::from(rec[6]) * 8;
        let dt = u64::from(rec[7]);
        match op % 8 {
            0..=3 => {
                seq = seq.wrapping_add(step as u16);
                ts = match op % 4 {
                    // Steps of whole frames, back and forth.
                    0 | 1 => ts.wrapping_add((i32::from(step) * 160) as u32),
                    // An arbitrary jump (new talk spurt, a broken sender, a wrap).
                    2 => ts.wrapping_add(raw_ts),
                    _ => raw_ts,
                };
                now += dt;
                let pcm = vec![i16::from(rec[5] as i8) * 64; samples];
                let r = jb.push(now, seq, ts, &pcm);
                pushed[r as usize] += 1;
            }
            4 | 5 => {
                now += dt * if op % 8 == 5 { 1_000 } else { 1 };
                if let Some(f) = jb.pull(now) {
                    assert_eq!(f.pcm.len(), cfg.frame_samples, "frame length");
                    let s = jb.stats();
                    if !f.inserted {
                        if let Some(p) = prev_ts {
                            let d = f.timestamp - p;
                            let fs = cfg.frame_samples as i64;
                            let want = if s.dropped_frames > dropped_before {
                                2 * fs
                            } else {
                                fs
                            };
                            assert_eq!(d, want, "frame timestamps step by {d}");
                        }
                        prev_ts = Some(f.timestamp);
                    }
                    dropped_before = s.dropped_frames;
                }
            }
            6 => {
                jb.reset();
                prev_ts = None;
                dropped_before = jb.stats().dropped_frames;
            }
            _ => {
                let r = jb.reception();
                let b = rtcp.block(7, &r, now);
                assert_eq!(b.extended_highest_seq, r.extended_highest_seq);
                let bytes = rtcp
                    .build(None, &[b])
                    .expect("report of our reception builds");
                match &parse_compound(&bytes).expect("own RR parses")[0] {
                    Report::Receiver { blocks, .. } => assert_eq!(blocks, &[b]),
                    other => panic!("own RR reads as {other:?}"),
                }
            }
        }
        assert!(
            jb.buffered_packets() <= MAX_BUFFERED_PACKETS,
            "{} packets buffered",
            jb.buffered_packets()
        );
        let s = jb.stats();
        assert_eq!(s.duplicates, pushed[2], "duplicates miscounted");
        assert_eq!(s.late, pushed[1], "late packets miscounted");
        assert_eq!(s.overflow, pushed[3], "overflow miscounted");
        assert_eq!(
            s.received,
            pushed[0] + pushed[1] + pushed[3],
            "received miscounted"
        );
    }
    let s = jb.stats();
    Outcome::Accepted(
        u64::from(s.late > 0)
            | u64::from(s.duplicates > 0) << 1
            | u64::from(s.overflow > 0) << 2
            | u64::from(s.dropped_frames > 0) << 3
            | u64::from(s.inserted_frames > 0) << 4
            | u64::from(s.concealed_frames > 0) << 5
            | u64::from(s.played_frames > 0) << 6
            | u64::from(s.lost < 0) << 7,
    )
}

/// `rtp_packets`: the first byte picks what the rest is: an RTP packet
/// ([`RtpPacket::parse`], round trip, error offsets), an RTCP compound
/// ([`RtcpSession::handle`], rebuilt and re-parsed), RFC 4733 telephone-event packets
/// ([`DtmfReceiver`]), or a jitter-buffer schedule (bounded memory, counters that add up,
/// frame timestamps that advance by one frame).
pub fn rtp_packets(input: &[u8]) -> Outcome {
    let Some((&mode, rest)) = input.split_first() else {
        return Outcome::Refused(0);
    };
    let tag = u64::from(mode % 4) << 56;
    let o = match mode % 4 {
        MODE_RTP => rtp_packet(rest),
        MODE_RTCP => rtcp(rest),
        MODE_EVENTS => events(rest),
        _ => jitter(rest),
    };
    match o {
        Outcome::Accepted(c) => Outcome::Accepted(c ^ tag),
        Outcome::Refused(c) => Outcome::Refused(c ^ tag),
    }
}

/// RTP-side seeds built with the crate: G.711 and telephone-event packets from
/// [`RtpSender`] and [`encode_digit`], SR and RR compounds from [`RtcpSession::build`], and
/// jitter-buffer schedules (in order, reordered, duplicated, wrapping, jumping).
pub fn rtp_seeds() -> Vec<Vec<u8>> {
    let with = |mode: u8, b: &[u8]| {
        let mut v = vec![mode];
        v.extend_from_slice(b);
        v
    };
    let mut out = Vec::new();
    let mut tx = RtpSender::new(SenderConfig {
        ssrc: 0xdead_beef,
        initial_sequence: 65_534,
        initial_timestamp: u32::MAX - 200,
        payload_type: 0,
    });
    for i in 0..3u8 {
        let p = tx.audio(vec![0xff ^ i; 160], 160).expect("audio packet");
        out.push(with(MODE_RTP, &p));
    }
    let p = RtpPacket {
        marker: true,
        payload_type: 101,
        sequence: 7,
        timestamp: 8_000,
        ssrc: 1,
        csrcs: vec![2, 3],
        payload: vec![5, 0x8a, 0x03, 0x20],
    };
    out.push(with(MODE_RTP, &p.to_bytes().expect("event packet")));
    // Padding and an extension, by hand: V=2 P=1 X=1 CC=0.
    out.push(with(
        MODE_RTP,
        &[
            0xb0, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9, 0xbe, 0xde, 0, 1, 1, 2, 3, 4, 0xaa, 0, 0, 2,
        ],
    ));
    // Refusals: a cut header, version 1, a CSRC list that does not fit, a cut RTCP packet.
    out.push(with(MODE_RTP, &[0x80, 0x00, 0x00]));
    out.push(with(MODE_RTP, &[0x40, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]));
    out.push(with(
        MODE_RTP,
        &[0x83, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2],
    ));
    out.push(with(MODE_RTCP, &[0x81, 0xc9, 0x00, 0x07, 0, 0, 0, 1]));
    out.push(with(MODE_EVENTS, &[0, 0, 0, 1, 5, 0x8a]));
    let mut s = RtcpSession::new(0xdead_beef, "tympan@192.0.2.20");
    let block = Block {
        ssrc: 0x0102_0304,
        fraction_lost: 12,
        cumulative_lost: -3,
        extended_highest_seq: 70_000,
        jitter: 40,
        lsr: 0x1234_5678,
        dlsr: 65_536,
    };
    let info = SenderInfo {
        ntp_timestamp: 0xe000_0000_8000_0000,
        rtp_timestamp: 160_000,
        packet_count: 1_000,
        octet_count: 160_000,
    };
    out.push(with(MODE_RTCP, &s.build(Some(info), &[block]).expect("SR")));
    out.push(with(
        MODE_RTCP,
        &s.build(None, &[block, block]).expect("RR"),
    ));
    out.push(with(MODE_RTCP, &s.build(None, &[]).expect("empty RR")));
    let _ = s.handle(&[], 0);
    let mut ev = Vec::new();
    for (k, e) in encode_digit('5', 200, 10, 8_000)
        .expect("digit")
        .into_iter()
        .chain(
            encode_digit('#', 120, 10, 8_000)
                .expect("digit")
                .into_iter()
                .map(|mut e| {
                    e.offset_ms += 1_000;
                    e
                }),
        )
        .enumerate()
    {
        let ts: u32 = if e.offset_ms >= 1_000 { 16_000 } else { 8_000 };
        ev.extend_from_slice(&ts.to_be_bytes());
        ev.extend_from_slice(&e.event.to_bytes());
        if k == 1 {
            // A duplicate update.
            ev.extend_from_slice(&ts.to_be_bytes());
            ev.extend_from_slice(&e.event.to_bytes());
        }
    }
    out.push(with(MODE_EVENTS, &ev));
    // Jitter schedules: [op, seq step, ts(4), samples/8, dt].
    let rec = |op: u8, step: i8, t: u32, n: u8, dt: u8| {
        let b = t.to_be_bytes();
        [op, step as u8, b[0], b[1], b[2], b[3], n, dt]
    };
    let mut steady = Vec::new();
    for _ in 0..40 {
        steady.extend(rec(0, 1, 0, 20, 20));
        steady.extend(rec(4, 0, 0, 0, 20));
    }
    steady.extend(rec(7, 0, 0, 0, 0));
    out.push(with(MODE_JITTER, &steady));
    let mut messy = Vec::new();
    for i in 0..30u8 {
        let step: i8 = match i % 5 {
            0 => 2,
            1 => -1,
            2 => 0,
            _ => 1,
        };
        messy.extend(rec(1, step, 0, 20, (i % 3) * 15));
        if i % 2 == 0 {
            messy.extend(rec(4, 0, 0, 0, 30));
        }
    }
    messy.extend(rec(2, 1, 0x8000_0000, 20, 5));
    messy.extend(rec(3, 100, 7, 120, 5));
    messy.extend(rec(5, 0, 0, 0, 250));
    messy.extend(rec(6, 0, 0, 0, 0));
    messy.extend(rec(0, 1, 0, 20, 1));
    messy.extend(rec(4, 0, 0, 0, 100));
    messy.extend(rec(7, 0, 0, 0, 0));
    out.push(with(MODE_JITTER, &messy));
    out
}

/// Tokens for the RTP dictionary: header first bytes, payload types, lengths.
pub const RTP_DICT: &[&[u8]] = &[
    b"\x80\x00",
    b"\x80\x80",
    b"\x80\x65",
    b"\x90",
    b"\xa0",
    b"\xbf",
    b"\x81\xc8\x00\x0c",
    b"\x81\xc9\x00\x07",
    b"\x80\xc9\x00\x01",
    b"\x81\xca\x00\x03",
    b"\x81\xcb\x00\x01",
    b"\x80\xcc\x00\x02",
    b"\x01\x00",
    b"\xff\xff",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"\x7f\xff\xff\xff",
    b"\x80\x00\x00\x00",
    b"\x05\x8a\x03\x20",
    b"\x0b\x0a\x00\xa0",
];
