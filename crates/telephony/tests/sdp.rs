//! RFC 3264 offer/answer: codecs, telephone-event, hold, refusals.

use tympan_telephony::sdp::{answer, offer, read_answer, Codec, Direction, LocalMedia, SdpError};

fn local() -> LocalMedia {
    LocalMedia {
        address: "192.0.2.50".parse().unwrap(),
        port: 40000,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        session_id: 7,
        session_version: 1,
    }
}

fn sdp(media: &str) -> Vec<u8> {
    format!(
        "v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n{media}"
    )
    .into_bytes()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

#[test]
fn answers_pcma_with_the_offerers_telephone_event_payload_type() {
    let o = sdp("m=audio 5004 RTP/AVP 18 8 0 96\r\na=rtpmap:18 G729/8000\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\na=ptime:30\r\n");
    let (a, n) = answer(&o, &local()).unwrap();
    assert_eq!(n.codec, Codec::Pcma, "first offered codec we speak");
    assert_eq!((n.payload_type, n.telephone_event), (8, Some(96)));
    assert_eq!(n.remote_addr.to_string(), "198.51.100.1");
    assert_eq!((n.remote_port, n.remote_ptime_ms), (5004, Some(30)));
    assert_eq!(n.direction, Direction::SendRecv);
    let a = text(&a);
    assert!(a.contains("m=audio 40000 RTP/AVP 8 96\r\n"), "{a}");
    assert!(a.contains("a=rtpmap:8 PCMA/8000\r\n"));
    assert!(a.contains("a=rtpmap:96 telephone-event/8000\r\n"));
    assert!(a.contains("a=fmtp:96 0-15\r\n"));
    assert!(a.contains("a=ptime:20\r\n"));
    assert!(a.contains("c=IN IP4 192.0.2.50\r\n"));
}

#[test]
fn dynamic_payload_type_for_pcmu_is_honoured() {
    let o = sdp("m=audio 5004 RTP/AVP 97\r\na=rtpmap:97 PCMU/8000\r\n");
    let (_, n) = answer(&o, &local()).unwrap();
    assert_eq!(
        (n.codec, n.payload_type, n.telephone_event),
        (Codec::Pcmu, 97, None)
    );
}

#[test]
fn hold_sendonly_inactive_and_zero_address() {
    let cases = [
        ("a=sendonly\r\n", "", Direction::RecvOnly),
        ("a=inactive\r\n", "", Direction::Inactive),
        ("a=recvonly\r\n", "", Direction::SendOnly),
        ("", "c=IN IP4 0.0.0.0\r\n", Direction::RecvOnly),
    ];
    for (attr, conn, want) in cases {
        let o = sdp(&format!("m=audio 5004 RTP/AVP 0\r\n{conn}{attr}"));
        let (a, n) = answer(&o, &local()).unwrap();
        assert_eq!(n.direction, want, "{attr}{conn}");
        let line = match want {
            Direction::RecvOnly => "a=recvonly",
            Direction::Inactive => "a=inactive",
            Direction::SendOnly => "a=sendonly",
            Direction::SendRecv => "a=sendrecv",
        };
        assert!(text(&a).contains(line));
    }
    // session-level direction applies when the media has none
    let o = format!("{}a=sendonly\r\nm=audio 5004 RTP/AVP 0\r\n", text(&sdp("")));
    assert_eq!(
        answer(o.as_bytes(), &local()).unwrap().1.direction,
        Direction::RecvOnly
    );
}

#[test]
fn other_streams_are_refused_with_port_zero_in_the_same_order() {
    let o = sdp("m=video 5006 RTP/AVP 31\r\nm=audio 5004 RTP/AVP 0\r\nm=audio 5008 RTP/AVP 8\r\n");
    let (a, n) = answer(&o, &local()).unwrap();
    assert_eq!(n.remote_port, 5004);
    let lines: Vec<String> = text(&a)
        .lines()
        .filter(|l| l.starts_with("m="))
        .map(String::from)
        .collect();
    assert_eq!(
        lines,
        vec![
            "m=video 0 RTP/AVP 31",
            "m=audio 40000 RTP/AVP 0",
            "m=audio 0 RTP/AVP 8"
        ]
    );
}

#[test]
fn nothing_usable_is_a_488_naming_what_was_offered() {
    let e = answer(
        &sdp("m=audio 5004 RTP/AVP 18 9\r\na=rtpmap:18 G729/8000\r\n"),
        &local(),
    )
    .unwrap_err();
    assert_eq!(
        e,
        SdpError::NoCommonCodec {
            offered: vec!["18 G729/8000".into(), "9".into()]
        }
    );
    assert_eq!(e.status_code(), 488);
    let e = answer(&sdp("m=video 5004 RTP/AVP 31\r\n"), &local()).unwrap_err();
    assert_eq!((e.clone(), e.status_code()), (SdpError::NoAudio, 488));
    let e = answer(b"this is not sdp", &local()).unwrap_err();
    assert_eq!(e.status_code(), 400);
    let e = answer(&sdp("m=audio 5004 RTP/SAVP 0\r\n"), &local()).unwrap_err();
    assert_eq!(e, SdpError::NoAudio, "SRTP is not spoken");
}

#[test]
fn our_offer_round_trips_through_an_answerer() {
    let mut l = local();
    l.codecs = vec![Codec::Pcma, Codec::Pcmu];
    let o = offer(&l, Direction::SendRecv);
    let t = text(&o);
    assert!(t.contains("m=audio 40000 RTP/AVP 8 0 101\r\n"), "{t}");
    assert!(t.contains("a=fmtp:101 0-15\r\n"));
    let mut remote = local();
    remote.address = "203.0.113.7".parse().unwrap();
    remote.port = 30000;
    let (a, n) = answer(&o, &remote).unwrap();
    assert_eq!((n.codec, n.telephone_event), (Codec::Pcma, Some(101)));
    let back = read_answer(&a).unwrap();
    assert_eq!(back.remote_addr.to_string(), "203.0.113.7");
    assert_eq!(
        (back.remote_port, back.codec, back.telephone_event),
        (30000, Codec::Pcma, Some(101))
    );
    let hold = text(&offer(&l, Direction::SendOnly));
    assert!(hold.contains("a=sendonly"));
}

#[test]
fn rtcp_goes_to_rtp_plus_one_unless_a_rtcp_says_otherwise() {
    let (_, n) = answer(&sdp("m=audio 5004 RTP/AVP 0\r\n"), &local()).unwrap();
    assert_eq!(n.remote_rtcp.to_string(), "198.51.100.1:5005");
    // RFC 3605: a port alone, or a port and an address.
    let (_, n) = answer(&sdp("m=audio 5004 RTP/AVP 0\r\na=rtcp:6001\r\n"), &local()).unwrap();
    assert_eq!(n.remote_rtcp.to_string(), "198.51.100.1:6001");
    let o = sdp("m=audio 5004 RTP/AVP 0\r\na=rtcp:53020 IN IP4 126.16.64.4\r\n");
    let (_, n) = answer(&o, &local()).unwrap();
    assert_eq!(n.remote_rtcp.to_string(), "126.16.64.4:53020");
    let n = read_answer(&sdp("m=audio 7000 RTP/AVP 8\r\na=rtcp:7003\r\n")).unwrap();
    assert_eq!(n.remote_rtcp.to_string(), "198.51.100.1:7003");
    // A value that does not parse falls back to the default.
    let n = read_answer(&sdp("m=audio 7000 RTP/AVP 8\r\na=rtcp:x\r\n")).unwrap();
    assert_eq!(n.remote_rtcp.to_string(), "198.51.100.1:7001");
}
