//! RTP packet facade, G.711 payloads and the sender, on explicit byte layouts.

use tympan_telephony::rtp::{
    decode_payload, encode_payload, RtpError, RtpPacket, RtpSender, SenderConfig,
};
use tympan_telephony::sdp::Codec;

/// V=2, no padding/extension, CC=0; M=1, PT=0; seq 0x1234; ts 0x00010203; SSRC 0xdeadbeef.
const PCMU_PACKET: [u8; 16] = [
    0x80, 0x80, 0x12, 0x34, 0x00, 0x01, 0x02, 0x03, 0xde, 0xad, 0xbe, 0xef, 0xff, 0x7f, 0x00, 0x80,
];

#[test]
fn parses_fixed_header_and_payload() {
    let p = RtpPacket::parse(&PCMU_PACKET).unwrap();
    assert!(p.marker);
    assert_eq!(p.payload_type, 0);
    assert_eq!(p.sequence, 0x1234);
    assert_eq!(p.timestamp, 0x0001_0203);
    assert_eq!(p.ssrc, 0xdead_beef);
    assert!(p.csrcs.is_empty());
    assert_eq!(p.payload, vec![0xff, 0x7f, 0x00, 0x80]);
    assert_eq!(p.to_bytes().unwrap(), PCMU_PACKET.to_vec());
}

#[test]
fn csrcs_extension_and_padding() {
    // V=2 P=1 X=1 CC=1, PT=8, seq 1, ts 2, ssrc 3, csrc 0x0a0b0c0d,
    // extension profile 0xbede length 1 word, payload [0xd5, 0x55], padding 2.
    let bytes = [
        0xb1, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03, 0x0a, 0x0b, 0x0c,
        0x0d, 0xbe, 0xde, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44, 0xd5, 0x55, 0x00, 0x02,
    ];
    let p = RtpPacket::parse(&bytes).unwrap();
    assert!(!p.marker);
    assert_eq!(p.payload_type, 8);
    assert_eq!(p.csrcs, vec![0x0a0b_0c0d]);
    assert_eq!(p.payload, vec![0xd5, 0x55]);
}

#[test]
fn errors_name_field_and_offset() {
    assert_eq!(
        RtpPacket::parse(&PCMU_PACKET[..7]).unwrap_err(),
        RtpError::Truncated {
            field: "fixed header",
            offset: 7,
            needed: 12,
            len: 7
        }
    );
    let mut v1 = PCMU_PACKET;
    v1[0] = 0x40;
    assert_eq!(
        RtpPacket::parse(&v1).unwrap_err(),
        RtpError::Version { found: 1 }
    );
    // CC=2 but only one CSRC present.
    let mut cc = PCMU_PACKET.to_vec();
    cc[0] = 0x82;
    let e = RtpPacket::parse(&cc).unwrap_err();
    assert_eq!(
        e,
        RtpError::Truncated {
            field: "CSRC list",
            offset: 16,
            needed: 20,
            len: 16
        }
    );
    assert!(e.to_string().contains("CSRC list at byte offset 16"), "{e}");
    // X=1: the 4 payload bytes read as an extension header (profile 0xff7f, 0x0080 words).
    let mut x = PCMU_PACKET.to_vec();
    x[0] = 0x90;
    assert!(matches!(
        RtpPacket::parse(&x).unwrap_err(),
        RtpError::Truncated { field: "extension data", offset: 16, needed, .. } if needed == 16 + 4 * 0x80
    ));
    x.truncate(14);
    assert!(matches!(
        RtpPacket::parse(&x).unwrap_err(),
        RtpError::Truncated {
            field: "extension header",
            offset: 14,
            needed: 16,
            ..
        }
    ));
    // P=1 with a padding count of 0 in the last byte, then one larger than the payload.
    let mut pad = PCMU_PACKET.to_vec();
    pad[0] = 0xa0;
    pad[15] = 0;
    assert_eq!(
        RtpPacket::parse(&pad).unwrap_err(),
        RtpError::Padding {
            count: 0,
            offset: 15
        }
    );
    pad[15] = 5;
    assert!(matches!(
        RtpPacket::parse(&pad).unwrap_err(),
        RtpError::Truncated {
            field: "padding",
            ..
        }
    ));
    assert!(matches!(
        RtpPacket::parse(&vec![0x80; 2000]).unwrap_err(),
        RtpError::TooLarge { len: 2000 }
    ));
}

#[test]
fn builder_refuses_bad_payload_type() {
    let mut p = RtpPacket::parse(&PCMU_PACKET).unwrap();
    p.payload_type = 200;
    assert_eq!(p.to_bytes().unwrap_err(), RtpError::PayloadType(200));
}

#[test]
fn g711_round_trip_and_known_codes() {
    // µ-law 0xff and A-law 0xd5 are the codes of (near) zero.
    assert_eq!(decode_payload(Codec::Pcmu, &[0xff]), vec![0]);
    assert!(decode_payload(Codec::Pcma, &[0xd5])[0].abs() <= 8);
    let pcm: Vec<i16> = (0..160)
        .map(|i| ((i as f32 * 0.3).sin() * 12000.0) as i16)
        .collect();
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let payload = encode_payload(codec, &pcm);
        assert_eq!(payload.len(), 160);
        let back = decode_payload(codec, &payload);
        for (a, b) in pcm.iter().zip(&back) {
            // G.711 keeps ~3% relative error at this level.
            assert!(
                (*a as i32 - *b as i32).abs() <= 12000 / 25,
                "{codec:?} {a} {b}"
            );
        }
    }
    assert_ne!(
        encode_payload(Codec::Pcmu, &pcm),
        encode_payload(Codec::Pcma, &pcm)
    );
}

#[test]
fn sender_stamps_sequence_timestamp_marker_with_wrap() {
    let mut s = RtpSender::new(SenderConfig {
        ssrc: 0x1122_3344,
        initial_sequence: 65534,
        initial_timestamp: u32::MAX - 159,
        payload_type: 8,
    });
    let parse = |b: Vec<u8>| RtpPacket::parse(&b).unwrap();
    let p1 = parse(s.audio(vec![0xd5; 160], 160).unwrap());
    let p2 = parse(s.audio(vec![0xd5; 160], 160).unwrap());
    let p3 = parse(s.audio(vec![0xd5; 160], 160).unwrap());
    assert_eq!((p1.sequence, p2.sequence, p3.sequence), (65534, 65535, 0));
    assert_eq!(
        (p1.timestamp, p2.timestamp, p3.timestamp),
        (u32::MAX - 159, 0, 160)
    );
    assert_eq!((p1.marker, p2.marker, p3.marker), (true, false, false));
    assert!([&p1, &p2, &p3]
        .iter()
        .all(|p| p.ssrc == 0x1122_3344 && p.payload_type == 8));
    // Silence of 3 frames: timestamp jumps, marker on the next talkspurt.
    s.skip(480);
    let p4 = parse(s.audio(vec![0xd5; 160], 160).unwrap());
    assert_eq!((p4.sequence, p4.timestamp, p4.marker), (1, 800, true));
    let p5 = parse(s.audio(vec![0xd5; 160], 160).unwrap());
    assert!(!p5.marker);
    assert_eq!(s.packets_sent(), 5);
    assert_eq!(s.octets_sent(), 800);
}
