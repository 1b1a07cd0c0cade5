//! RTCP SR/RR on explicit byte layouts, figures from the jitter buffer, and the interval.

use tympan_telephony::rtp::jitter::{JitterBuffer, JitterConfig, ReceptionStats};
use tympan_telephony::rtp::rtcp::{
    ntp_middle, parse_compound, round_trip_ms, Block, IntervalInputs, Report, ReportInterval,
    RtcpError, RtcpSession, SenderInfo,
};

#[test]
fn receiver_report_byte_layout() {
    let s = RtcpSession::new(0x0102_0304, "test");
    let block = Block {
        ssrc: 0x0a0b_0c0d,
        fraction_lost: 64,
        cumulative_lost: 5,
        extended_highest_seq: 0x0001_0005,
        jitter: 80,
        lsr: 0x1234_5678,
        dlsr: 0x0002_0000,
    };
    let bytes = s.build(None, &[block]).unwrap();
    #[rustfmt::skip]
    let expected: Vec<u8> = vec![
        0x81, 201, 0x00, 0x07, 0x01, 0x02, 0x03, 0x04,
        0x0a, 0x0b, 0x0c, 0x0d, 0x40, 0x00, 0x00, 0x05, 0x00, 0x01, 0x00, 0x05,
        0x00, 0x00, 0x00, 0x50, 0x12, 0x34, 0x56, 0x78, 0x00, 0x02, 0x00, 0x00,
        // SDES: one chunk, CNAME "test", null-terminated and padded to 32 bits.
        0x81, 202, 0x00, 0x03, 0x01, 0x02, 0x03, 0x04,
        0x01, 0x04, b't', b'e', b's', b't', 0x00, 0x00,
    ];
    assert_eq!(bytes, expected);
    let parsed = parse_compound(&bytes).unwrap();
    assert_eq!(
        parsed,
        vec![
            Report::Receiver {
                ssrc: 0x0102_0304,
                blocks: vec![block]
            },
            Report::Cname {
                ssrc: 0x0102_0304,
                cname: "test".into()
            }
        ]
    );
}

#[test]
fn negative_cumulative_loss_round_trips_as_24_bit_signed() {
    let s = RtcpSession::new(1, "a");
    let block = Block {
        ssrc: 2,
        fraction_lost: 0,
        cumulative_lost: -3,
        extended_highest_seq: 10,
        jitter: 0,
        lsr: 0,
        dlsr: 0,
    };
    let bytes = s.build(None, &[block]).unwrap();
    assert_eq!(&bytes[12..16], &[0x00, 0xff, 0xff, 0xfd]);
    match &parse_compound(&bytes).unwrap()[0] {
        Report::Receiver { blocks, .. } => assert_eq!(blocks[0].cumulative_lost, -3),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sr_then_rr_carry_loss_jitter_lsr_dlsr_and_give_rtt() {
    let mut a = RtcpSession::new(0xaaaa, "a@example");
    let mut b = RtcpSession::new(0xbbbb, "b@example");
    // B receives 100 packets of A's stream, 10 of them lost, wrapping the sequence number.
    let mut jb = JitterBuffer::new(JitterConfig::default());
    for i in 0..100u16 {
        if i % 10 == 3 {
            continue;
        }
        let seq = 65_500u16.wrapping_add(i);
        jb.push(1000 + 20 * i as u64, seq, 160 * i as u32, &[0; 160]);
    }
    let r = jb.reception();
    assert_eq!((r.expected, r.received), (100, 90));

    // A's SR at NTP time 0x0000_1000_8000_0000 (4096.5 s), heard by B at 10 000 ms.
    let ntp_sr: u64 = 0x0000_1000_8000_0000;
    let info = SenderInfo {
        ntp_timestamp: ntp_sr,
        rtp_timestamp: 16_000,
        packet_count: 100,
        octet_count: 16_000,
    };
    let sr = a.build(Some(info), &[]).unwrap();
    assert_eq!(sr[1], 200, "SR packet type");
    assert_eq!(&sr[8..16], &ntp_sr.to_be_bytes());
    let heard = b.handle(&sr, 10_000).unwrap();
    assert!(heard.contains(&Report::Sender {
        ssrc: 0xaaaa,
        info,
        blocks: vec![]
    }));
    assert!(heard.contains(&Report::Cname {
        ssrc: 0xaaaa,
        cname: "a@example".into()
    }));

    // B reports 500 ms later.
    let block = b.block(0xaaaa, &r, 10_500);
    assert_eq!(block.fraction_lost, 25, "(10 << 8) / 100");
    assert_eq!(block.cumulative_lost, 10);
    assert_eq!(
        block.extended_highest_seq,
        65_536 + 63,
        "65500 + 99 wraps to 63"
    );
    assert_eq!(block.jitter, r.jitter);
    assert_eq!(block.lsr, ntp_middle(ntp_sr));
    assert_eq!(block.lsr, 0x1000_8000);
    assert_eq!(block.dlsr, 32_768, "0.5 s in 1/65536 s");
    let rr = b.build(None, &[block]).unwrap();
    assert_eq!(rr[1], 201);

    // A gets the RR 40 ms after B sent it: RTT = 40 ms.
    let reports = a.handle(&rr, 0).unwrap();
    let Report::Receiver { blocks, .. } = &reports[0] else {
        panic!("{reports:?}")
    };
    let ntp_now = ntp_sr + (((540u64) << 32) / 1000);
    let rtt = round_trip_ms(&blocks[0], ntp_now).unwrap();
    assert!((rtt - 40.0).abs() < 0.1, "rtt {rtt}");

    // Next interval without loss: fraction 0, cumulative unchanged.
    let r2 = ReceptionStats {
        expected: 150,
        received: 140,
        ..r
    };
    let block2 = b.block(0xaaaa, &r2, 15_500);
    assert_eq!((block2.fraction_lost, block2.cumulative_lost), (0, 10));
    // Then half of 20 lost.
    let r3 = ReceptionStats {
        expected: 170,
        received: 150,
        ..r
    };
    assert_eq!(b.block(0xaaaa, &r3, 20_500).fraction_lost, 128);
    // A block about a source we had no SR from has no LSR/DLSR.
    let other = b.block(0xcccc, &r3, 20_500);
    assert_eq!((other.lsr, other.dlsr), (0, 0));
}

#[test]
fn parse_errors_name_the_packet_offset() {
    let s = RtcpSession::new(1, "x");
    let mut bytes = s.build(None, &[]).unwrap();
    // RR without blocks is 8 bytes; the SDES starts at offset 8. Cut it.
    let cut = bytes[..12].to_vec();
    let e = parse_compound(&cut).unwrap_err();
    assert!(
        matches!(
            e,
            RtcpError::Parse {
                offset: 8,
                packet_type: 202,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("byte offset 8"));
    // Version 1 in the second packet.
    bytes[8] = 0x41;
    let e = parse_compound(&bytes).unwrap_err();
    assert!(matches!(e, RtcpError::Parse { offset: 8, .. }), "{e}");
    assert!(matches!(
        parse_compound(&[]).unwrap_err(),
        RtcpError::Parse { offset: 0, .. }
    ));
}

#[test]
fn report_interval_rfc3550_6_3_1() {
    let mut iv = ReportInterval::new(100, 7);
    let two = IntervalInputs {
        members: 2,
        senders: 1,
        rtcp_bandwidth: 500.0,
        we_sent: true,
        initial: false,
    };
    // 100 B × 1 sender / (500 × 0.25) = 0.8 s, raised to the 5 s minimum; halved initially.
    assert_eq!(iv.deterministic_ms(&two), 5000);
    assert_eq!(
        iv.deterministic_ms(&IntervalInputs {
            initial: true,
            ..two
        }),
        2500
    );
    // A large session: 999 receivers share 75 % of the bandwidth.
    let big = IntervalInputs {
        members: 1000,
        senders: 1,
        rtcp_bandwidth: 500.0,
        we_sent: false,
        initial: false,
    };
    assert_eq!(iv.deterministic_ms(&big), 266_400);
    // Both sending: senders > 25 % of members, everyone shares the whole bandwidth.
    let both = IntervalInputs {
        senders: 2,
        rtcp_bandwidth: 20.0,
        ..two
    };
    assert_eq!(iv.deterministic_ms(&both), 10_000);
    // Randomised: in [0.5, 1.5) × T_d / (e − 1.5), reproducible from the seed.
    let draws: Vec<u64> = (0..1000).map(|_| iv.next_ms(&two)).collect();
    let lo = (5000.0 * 0.5 / (std::f64::consts::E - 1.5)) as u64;
    let hi = (5000.0 * 1.5 / (std::f64::consts::E - 1.5)) as u64 + 1;
    assert!(draws.iter().all(|&d| (lo..=hi).contains(&d)), "{lo} {hi}");
    let mean = draws.iter().sum::<u64>() as f64 / 1000.0;
    assert!(
        (mean - 5000.0 / (std::f64::consts::E - 1.5)).abs() < 120.0,
        "mean {mean}"
    );
    let again: Vec<u64> = {
        let mut iv2 = ReportInterval::new(100, 7);
        (0..1000).map(|_| iv2.next_ms(&two)).collect()
    };
    assert_eq!(draws, again);
    let mut iv3 = ReportInterval::new(100, 8);
    assert_ne!(iv3.next_ms(&two), ReportInterval::new(100, 7).next_ms(&two));
    // The average size follows sent packets (with 28 bytes of IP/UDP).
    let mut iv4 = ReportInterval::new(100, 0);
    iv4.observe(244);
    assert!((iv4.avg_rtcp_size() - (100.0 + (272.0 - 100.0) / 16.0)).abs() < 1e-9);
}

/// 64-bit NTP time for a millisecond clock (both agents share one wall clock here).
fn ntp(ms: u64) -> u64 {
    (3_900_000_000u64 << 32) + (ms << 32) / 1000
}

#[test]
fn agents_report_on_schedule_and_learn_loss_jitter_and_rtt() {
    use tympan_telephony::rtp::quality::{RtcpAgent, SendStats};
    let mut a = RtcpAgent::new(0xaaaa, "a@tympan", 8000, 1, 0);
    let mut b = RtcpAgent::new(0xbbbb, "b@peer", 8000, 2, 0);
    // The first report comes after half the 5 s minimum, randomised to [0.5, 1.5) / (e-3/2).
    let first = a.poll_timeout().unwrap();
    assert!((1026..=3080).contains(&first), "{first}");
    let sent = SendStats {
        packets: 100,
        octets: 16_000,
        rtp_timestamp: 16_000,
    };
    assert!(a
        .poll_report(first - 1, ntp(first - 1), sent, None)
        .is_none());
    // A sent RTP and has heard nothing: an SR without blocks, and its CNAME.
    let sr = a
        .poll_report(first, ntp(first), sent, None)
        .unwrap()
        .unwrap();
    let parsed = parse_compound(&sr).unwrap();
    assert!(
        matches!(&parsed[0], Report::Sender { ssrc: 0xaaaa, info, blocks }
            if info.packet_count == 100 && info.octet_count == 16_000 && info.ntp_timestamp == ntp(first) && blocks.is_empty()),
        "{parsed:?}"
    );
    assert_eq!(
        parsed[1],
        Report::Cname {
            ssrc: 0xaaaa,
            cname: "a@tympan".into()
        }
    );
    // The next interval: 5 s randomised.
    let second = a.poll_timeout().unwrap() - first;
    assert!((2052..=6158).contains(&second), "{second}");

    // B gets the SR 20 ms later and reports 500 ms after that: it sent nothing (an RR),
    // lost 10 of A's first 100 packets and measured 80 units (10 ms) of jitter.
    b.handle(&sr, first + 20, ntp(first + 20)).unwrap();
    assert_eq!(b.quality().remote_ssrc, Some(0xaaaa));
    assert_eq!(b.quality().remote_cname.as_deref(), Some("a@tympan"));
    assert_eq!(b.quality().remote_packets_sent, Some(100));
    let heard = ReceptionStats {
        extended_highest_seq: 1099,
        expected: 100,
        received: 90,
        jitter: 80,
    };
    let at = first + 520;
    let nothing = SendStats {
        packets: 0,
        octets: 0,
        rtp_timestamp: 0,
    };
    let rr = b
        .bye(at, ntp(at), nothing, Some((0xaaaa, heard)), Some("hung up"))
        .unwrap();
    assert_eq!(b.poll_timeout(), None, "no report after the BYE");
    let parsed = parse_compound(&rr).unwrap();
    assert!(matches!(&parsed[0], Report::Receiver { ssrc: 0xbbbb, blocks } if blocks.len() == 1));
    assert_eq!(
        parsed[2],
        Report::Bye {
            ssrcs: vec![0xbbbb]
        }
    );
    let local = b.quality().local.unwrap();
    assert_eq!(local.fraction_lost, 25.0 / 256.0);
    assert_eq!(local.cumulative_lost, 10);
    assert_eq!(local.jitter_ms, 10.0);
    assert_eq!(b.quality().packets_received, 90);

    // A gets it 20 ms later: B's view of A's stream, and RTT = 540 − 500 (DLSR) = 40 ms.
    a.handle(&rr, at + 20, ntp(at + 20)).unwrap();
    let q = a.quality();
    assert_eq!(q.reports_received, 1);
    assert_eq!(q.reports_sent, 1);
    let remote = q.remote.unwrap();
    assert_eq!(remote.fraction_lost, 25.0 / 256.0);
    assert_eq!(remote.cumulative_lost, 10);
    assert_eq!(remote.jitter_ms, 10.0);
    assert_eq!(remote.extended_highest_seq, 1099);
    let rtt = q.rtt_ms.unwrap();
    assert!((rtt - 40.0).abs() < 0.1, "{rtt}");
    assert!(q.bye_received);
    // Garbage on the RTCP port is counted, not fatal.
    assert!(a.handle(&[0x81, 200, 0, 9], at + 30, ntp(at + 30)).is_err());
    assert_eq!(a.quality().bad_packets, 1);
    assert_eq!(a.quality().reports_received, 1);

    // A with nothing sent since its SR sends an RR next (with a block about B now).
    let due = a.poll_timeout().unwrap();
    let b_stream = ReceptionStats {
        extended_highest_seq: 10,
        expected: 10,
        received: 10,
        jitter: 0,
    };
    let next = a
        .poll_report(due, ntp(due), sent, Some((0xbbbb, b_stream)))
        .unwrap()
        .unwrap();
    let parsed = parse_compound(&next).unwrap();
    assert!(
        matches!(&parsed[0], Report::Receiver { ssrc: 0xaaaa, blocks } if blocks[0].ssrc == 0xbbbb && blocks[0].fraction_lost == 0),
        "{parsed:?}"
    );
}
