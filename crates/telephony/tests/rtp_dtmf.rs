//! RFC 4733 telephone-events on explicit byte layouts.

use tympan_telephony::rtp::dtmf::{
    digit_to_event, encode_digit, event_to_digit, DtmfError, DtmfReceiver, DtmfReport,
    TelephoneEvent,
};
use tympan_telephony::rtp::{RtpPacket, RtpSender, SenderConfig};

#[test]
fn payload_layout() {
    // Event 5, E=0, R=0, volume 10, duration 400 (0x0190).
    let e = TelephoneEvent::parse(&[0x05, 0x0a, 0x01, 0x90]).unwrap();
    assert_eq!(
        e,
        TelephoneEvent {
            event: 5,
            end: false,
            volume: 10,
            duration: 400
        }
    );
    // '#' end packet, R bit set (ignored), volume 63, duration 0xffff.
    let e = TelephoneEvent::parse(&[0x0b, 0xff, 0xff, 0xff]).unwrap();
    assert_eq!(
        (e.event, e.end, e.volume, e.duration),
        (11, true, 63, 0xffff)
    );
    let e = TelephoneEvent {
        event: 12,
        end: true,
        volume: 7,
        duration: 0x0320,
    };
    assert_eq!(e.to_bytes(), [0x0c, 0x87, 0x03, 0x20]);
    assert_eq!(
        TelephoneEvent::parse(&[1, 2, 3]).unwrap_err(),
        DtmfError::Truncated { len: 3 }
    );
}

#[test]
fn digit_codes() {
    let all = "0123456789*#ABCD";
    for (i, c) in all.chars().enumerate() {
        assert_eq!(digit_to_event(c), Some(i as u8));
        assert_eq!(event_to_digit(i as u8), Some(c));
    }
    assert_eq!(digit_to_event('x'), None);
    assert_eq!(event_to_digit(32), None);
}

#[test]
fn encodes_digit_as_rfc_sequence() {
    // 120 ms at 8 kHz = 960 units: updates at 0, 50 ms; end (960) at 100, 150, 200 ms.
    let seq = encode_digit('7', 120, 10, 8000).unwrap();
    let got: Vec<(u32, bool, bool, u16)> = seq
        .iter()
        .map(|p| (p.offset_ms, p.marker, p.event.end, p.event.duration))
        .collect();
    assert_eq!(
        got,
        vec![
            (0, true, false, 400),
            (50, false, false, 800),
            (100, false, true, 960),
            (150, false, true, 960),
            (200, false, true, 960),
        ]
    );
    assert!(seq
        .iter()
        .all(|p| p.event.event == 7 && p.event.volume == 10));
    assert_eq!(seq[2].event.to_bytes(), [0x07, 0x8a, 0x03, 0xc0]);
    assert_eq!(
        encode_digit('x', 100, 10, 8000),
        Err(DtmfError::NotADigit('x'))
    );
    assert_eq!(
        encode_digit('1', 9000, 10, 8000),
        Err(DtmfError::Duration(9000))
    );
    assert_eq!(encode_digit('1', 100, 64, 8000), Err(DtmfError::Volume(64)));
}

#[test]
fn sender_and_receiver_round_trip_with_shared_timestamp() {
    let mut s = RtpSender::new(SenderConfig {
        ssrc: 9,
        initial_sequence: 100,
        initial_timestamp: 8000,
        payload_type: 0,
    });
    let ts = s.next_timestamp();
    let mut rx = DtmfReceiver::new();
    let mut reports = Vec::new();
    for p in encode_digit('9', 100, 10, 8000).unwrap() {
        let bytes = s
            .packet(101, p.marker, ts, p.event.to_bytes().to_vec())
            .unwrap();
        let pkt = RtpPacket::parse(&bytes).unwrap();
        assert_eq!((pkt.payload_type, pkt.timestamp), (101, 8000));
        reports.extend(rx.push(pkt.timestamp, &pkt.payload).unwrap());
    }
    assert_eq!(s.next_sequence(), 104, "1 update + end x3");
    assert_eq!(
        reports,
        vec![
            DtmfReport::Started {
                event: 9,
                timestamp: 8000
            },
            DtmfReport::Ended {
                event: 9,
                timestamp: 8000,
                duration: 800,
                volume: 10,
                end_seen: true
            },
        ]
    );
}

#[test]
fn repeated_ends_count_once_and_new_event_by_timestamp() {
    let mut rx = DtmfReceiver::new();
    let mut all = Vec::new();
    // Same digit twice in a row: only the timestamp tells them apart.
    let pkts: [(u32, [u8; 4]); 9] = [
        (1000, [1, 0x0a, 0x01, 0x90]),
        (1000, [1, 0x0a, 0x03, 0x20]),
        (1000, [1, 0x8a, 0x04, 0xb0]),
        (1000, [1, 0x8a, 0x04, 0xb0]),
        (1000, [1, 0x8a, 0x04, 0xb0]),
        (3000, [1, 0x0a, 0x01, 0x90]),
        (3000, [1, 0x8a, 0x03, 0x20]),
        (3000, [1, 0x8a, 0x03, 0x20]),
        // Event whose end packets are all lost, closed by the next one.
        (5000, [4, 0x0a, 0x01, 0x90]),
    ];
    for (ts, p) in pkts {
        all.extend(rx.push(ts, &p).unwrap());
    }
    all.extend(rx.push(7000, &[11, 0x8a, 0x01, 0x90]).unwrap());
    let ended: Vec<_> = all
        .iter()
        .filter_map(|r| match r {
            DtmfReport::Ended {
                event,
                timestamp,
                duration,
                end_seen,
                ..
            } => Some((*event, *timestamp, *duration, *end_seen)),
            _ => None,
        })
        .collect();
    assert_eq!(
        ended,
        vec![
            (1, 1000, 1200, true),
            (1, 3000, 800, true),
            (4, 5000, 400, false),
            (11, 7000, 400, true)
        ]
    );
    let started = all
        .iter()
        .filter(|r| matches!(r, DtmfReport::Started { .. }))
        .count();
    assert_eq!(started, 4);
}

#[test]
fn digit_queue_spaces_digits_and_keeps_each_digits_packets_in_time() {
    use tympan_telephony::rtp::dtmf::{DigitQueue, DIGIT_GAP_MS, SENT_DIGIT_MS};
    let mut q = DigitQueue::new();
    assert!(q.push("1x", 10, 8000, 0).is_err(), "x is no digit");
    assert_eq!(q.poll_timeout(), None, "nothing queued from a refused push");
    q.push("12", 10, 8000, 1_000).unwrap();
    let mut sent = Vec::new();
    while let Some(t) = q.poll_timeout() {
        assert!(q.poll(t - 1).is_none() || t == 0);
        while let Some(p) = q.poll(t) {
            sent.push((t, p));
        }
    }
    // 160 ms: updates at 0, 50, 100 ms, the end (duration 1280) at 150, 200, 250 ms; the
    // next digit 50 + 100 ms after the last end packet.
    let times: Vec<u64> = sent.iter().map(|(t, _)| *t).collect();
    let second = 1_000 + 250 + 50 + u64::from(DIGIT_GAP_MS);
    assert_eq!(
        times,
        [
            1_000,
            1_050,
            1_100,
            1_150,
            1_200,
            1_250,
            second,
            second + 50,
            second + 100,
            second + 150,
            second + 200,
            second + 250
        ]
    );
    let markers: Vec<bool> = sent.iter().map(|(_, p)| p.marker).collect();
    assert_eq!(markers.iter().filter(|m| **m).count(), 2);
    assert!(markers[0] && markers[6]);
    assert_eq!(sent[0].1.event.event, 1);
    assert_eq!(sent[6].1.event.event, 2);
    assert!(sent[5].1.event.end);
    assert_eq!(
        u32::from(sent[5].1.event.duration),
        SENT_DIGIT_MS * 8,
        "the end carries the whole duration"
    );
    // A later push starts no earlier than now.
    q.push("#", 10, 8000, 10_000).unwrap();
    assert_eq!(q.poll_timeout(), Some(10_000));
}
