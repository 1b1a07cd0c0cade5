//! Jitter buffer on explicit loss, reorder, duplicate, lateness and jitter patterns. Every
//! stream starts just before the 16-bit sequence and 32-bit timestamp wrap.

use tympan_telephony::rtp::jitter::{
    Frame, JitterBuffer, JitterConfig, JitterStats, PushOutcome, COMPRESS_AFTER_PULLS,
};

const S0: u16 = 65_530;
const T0: u32 = u32::MAX - 160 * 4 + 1;
const START_MS: u64 = 1000;

fn seq(i: usize) -> u16 {
    S0.wrapping_add(i as u16)
}
fn ts(i: usize) -> u32 {
    T0.wrapping_add(160 * i as u32)
}
/// Packet i holds a constant, distinct value.
fn pcm(i: usize) -> Vec<i16> {
    vec![((i % 300) as i16 + 1) * 100; 160]
}
/// Extended timestamp of frame i.
fn ext(i: usize) -> i64 {
    T0 as i64 + 160 * i as i64
}

/// Pushes packets (arrival_ms, index) and pulls every 20 ms from START_MS up to `until`;
/// pushes happen before the pull of the same millisecond.
fn run(
    cfg: JitterConfig,
    mut arrivals: Vec<(u64, usize)>,
    until: u64,
) -> (Vec<Frame>, Vec<PushOutcome>, JitterStats, JitterBuffer) {
    arrivals.sort_by_key(|a| a.0);
    let mut jb = JitterBuffer::new(cfg);
    let mut frames = Vec::new();
    let mut outcomes = Vec::new();
    let mut next = 0;
    let mut t = START_MS;
    while t <= until {
        while next < arrivals.len() && arrivals[next].0 <= t {
            let (at, i) = arrivals[next];
            outcomes.push(jb.push(at, seq(i), ts(i), &pcm(i)));
            next += 1;
        }
        if let Some(f) = jb.pull(t) {
            frames.push(f);
        }
        t += 20;
    }
    let stats = jb.stats();
    (frames, outcomes, stats, jb)
}

fn regular(n: usize) -> Vec<(u64, usize)> {
    (0..n).map(|i| (START_MS + 20 * i as u64, i)).collect()
}

fn value(f: &Frame) -> i16 {
    f.pcm[0]
}

#[test]
fn in_order_stream_plays_after_min_delay_across_wraps() {
    let (frames, outcomes, stats, jb) = run(JitterConfig::default(), regular(20), START_MS + 400);
    assert!(outcomes.iter().all(|o| *o == PushOutcome::Buffered));
    // Playout starts 40 ms (min delay) after the first arrival: pulls at 1000, 1020 are empty.
    assert_eq!(frames.len(), 19, "pulls 1040..=1400");
    for (i, f) in frames.iter().enumerate() {
        assert!(!f.concealed && !f.inserted, "frame {i}");
        assert_eq!(f.pcm, pcm(i), "frame {i}");
        assert_eq!(
            f.timestamp,
            ext(i),
            "media clock from RTP timestamps, frame {i}"
        );
    }
    assert!(
        frames[10].timestamp > u32::MAX as i64,
        "timestamp wrap removed"
    );
    assert_eq!((stats.received, stats.lost, stats.late), (20, 0, 0));
    assert_eq!((stats.current_delay_ms, stats.target_delay_ms), (40, 40));
    let r = jb.reception();
    assert_eq!(
        r.extended_highest_seq,
        65_536 + 13,
        "one sequence cycle, highest 13"
    );
    assert_eq!((r.expected, r.received, r.jitter), (20, 20, 0));
}

#[test]
fn reordered_packets_play_in_timestamp_order() {
    let mut a = regular(12);
    // 4 arrives before 3, 7 before 6 (delayed, none early), all before their
    // playout at 1040 + 20 i.
    a[3].0 = START_MS + 85;
    a[6].0 = START_MS + 150;
    a[7].0 = START_MS + 145;
    let (frames, outcomes, stats, _) = run(JitterConfig::default(), a, START_MS + 240);
    assert!(
        outcomes.iter().all(|o| *o == PushOutcome::Buffered),
        "{outcomes:?}"
    );
    let vals: Vec<i16> = frames.iter().filter(|f| !f.inserted).map(value).collect();
    assert_eq!(vals[..10], (0..10).map(|i| pcm(i)[0]).collect::<Vec<_>>());
    assert!(frames.iter().all(|f| !f.concealed || f.inserted));
    assert_eq!((stats.lost, stats.late, stats.concealed_frames), (0, 0, 0));
}

#[test]
fn one_early_packet_does_not_drop_a_frame_at_once() {
    let mut a = regular(30);
    a[8].0 = START_MS + 140; // 20 ms early: the reference transit falls by 20 ms
    let (frames, outcomes, stats, _) = run(JitterConfig::default(), a, START_MS + 20 * 29);
    assert!(
        outcomes.iter().all(|o| *o == PushOutcome::Buffered),
        "{outcomes:?}"
    );
    let first_drop = frames
        .windows(2)
        .position(|w| w[1].timestamp - w[0].timestamp == 320)
        .expect("the buffer shrinks eventually");
    // The early packet lands before the pull of frame 5; the drop comes
    // COMPRESS_AFTER_PULLS pulls later (frames[first_drop + 1] is the pull that dropped).
    assert_eq!(first_drop + 1, 5 + COMPRESS_AFTER_PULLS as usize - 1);
    assert_eq!(stats.dropped_frames, 1);
    assert_eq!(stats.current_delay_ms, 40);
}

#[test]
fn loss_is_concealed_by_attenuated_repeats_then_silence() {
    let cfg = JitterConfig::default(); // 3 repeats at 0.5 per frame
                                       // Packets 5..=9 lost (5 frames), the stream goes on.
    let a: Vec<_> = regular(16)
        .into_iter()
        .filter(|&(_, i)| !(5..=9).contains(&i))
        .collect();
    let (frames, _, stats, _) = run(cfg, a, START_MS + 340);
    let last = pcm(4)[0];
    let got: Vec<(i16, bool)> = frames[4..11]
        .iter()
        .map(|f| (value(f), f.concealed))
        .collect();
    assert_eq!(
        got,
        vec![
            (last, false),
            (last / 2, true),
            (last / 4, true),
            (last / 8, true),
            (0, true),
            (0, true),
            (pcm(10)[0], false),
        ]
    );
    // Concealed frames still carry the media time of the missing packets.
    assert_eq!(frames[7].timestamp, ext(7));
    assert_eq!(
        (stats.received, stats.lost, stats.concealed_frames),
        (11, 5, 5)
    );
    assert_eq!(stats.late, 0);
}

#[test]
fn duplicates_are_dropped_and_counted() {
    let mut a = regular(10);
    a.push((START_MS + 41, 2)); // duplicate while buffered
    a.push((START_MS + 42, 2));
    a.push((START_MS + 150, 1)); // duplicate of a frame already played
    let (frames, outcomes, stats, _) = run(JitterConfig::default(), a, START_MS + 200);
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == PushOutcome::Duplicate)
            .count(),
        3
    );
    assert_eq!(
        (stats.duplicates, stats.received, stats.lost, stats.late),
        (3, 10, 0, 0)
    );
    assert!(frames.iter().take(9).all(|f| !f.concealed));
}

#[test]
fn late_packet_is_dropped_counted_and_its_frame_concealed() {
    let mut a = regular(10);
    a[3].0 = START_MS + 60 + 40 + 30; // plays at 1100, arrives at 1130
    let (frames, outcomes, stats, _) = run(JitterConfig::default(), a, START_MS + 200);
    assert_eq!(
        outcomes.iter().filter(|o| **o == PushOutcome::Late).count(),
        1
    );
    assert!(frames[3].concealed && !frames[3].inserted);
    assert_eq!(value(&frames[3]), pcm(2)[0] / 2);
    assert!(!frames[2].concealed && !frames[4].concealed);
    assert_eq!((stats.late, stats.lost, stats.received), (1, 0, 10));
}

#[test]
fn jitter_estimator_follows_rfc3550_a8() {
    // Transit alternates 0 / +10 ms: |D| = 80 units each packet, J converges to 80.
    let a: Vec<_> = (0..300)
        .map(|i| {
            (
                START_MS + 20 * i as u64 + if i % 2 == 1 { 10 } else { 0 },
                i,
            )
        })
        .collect();
    let (_, _, _, jb) = run(JitterConfig::default(), a, START_MS + 20 * 300);
    let j = jb.reception().jitter;
    assert!((78..=80).contains(&j), "jitter {j}");
    assert!((jb.jitter_ms() - 10.0).abs() < 0.3);
}

#[test]
fn target_delay_adapts_to_jitter_within_bounds() {
    let cfg = JitterConfig::default(); // 40..=200 ms
    let pattern = [0u64, 50, 10, 70, 0, 30];
    let mut a = Vec::new();
    // Phase 1: 0..200 regular. Phase 2: 200..700 jittered. Phase 3: 700..1000 regular.
    for i in 0..1000usize {
        let extra = if (200..700).contains(&i) {
            pattern[i % 6]
        } else {
            0
        };
        a.push((START_MS + 20 * i as u64 + extra, i));
    }
    let mut jb = JitterBuffer::new(cfg);
    a.sort_by_key(|x| x.0);
    let mut next = 0;
    let mut frames = Vec::new();
    let mut snapshots = Vec::new();
    let mut t = START_MS;
    while t <= START_MS + 20 * 1000 {
        while next < a.len() && a[next].0 <= t {
            let (at, i) = a[next];
            jb.push(at, seq(i), ts(i), &pcm(i));
            next += 1;
        }
        frames.extend(jb.pull(t));
        snapshots.push((t, jb.stats()));
        t += 20;
    }
    let at = |ms: u64| snapshots.iter().find(|s| s.0 == START_MS + ms).unwrap().1;
    let s1 = at(20 * 199);
    assert_eq!(
        (s1.target_delay_ms, s1.current_delay_ms, s1.late),
        (40, 40, 0)
    );
    // Late packets may occur while the delay grows, none once it has adapted.
    let s2a = at(20 * 450);
    let s2b = at(20 * 699);
    assert!(
        s2b.target_delay_ms > 120 && s2b.target_delay_ms <= 200,
        "target {}",
        s2b.target_delay_ms
    );
    assert!(
        (s2b.current_delay_ms - s2b.target_delay_ms).abs() < 20,
        "{s2b:?}"
    );
    assert_eq!(s2b.late, s2a.late, "no late packets after adaptation");
    assert!(s2b.inserted_frames > 0);
    // With a fixed 40 ms delay the 50 and 70 ms packets would be late: prove it.
    let s_fixed = {
        let fixed = JitterConfig {
            max_delay_ms: 40,
            ..cfg
        };
        run(fixed, a.clone(), START_MS + 20 * 1000).2
    };
    assert!(s_fixed.late > 100, "fixed delay late {}", s_fixed.late);
    // Phase 3: jitter decays, the buffer shrinks back by dropping frames.
    let s3 = at(20 * 1000);
    assert_eq!(s3.target_delay_ms, 40);
    assert!((s3.current_delay_ms - 40).abs() < 20, "{s3:?}");
    assert!(s3.dropped_frames > 0);
    assert_eq!(s3.lost, 0);
    // Media clock: +160 per frame, +0 after an inserted frame, +320 over a dropped one.
    for w in frames.windows(2) {
        let d = w[1].timestamp - w[0].timestamp;
        if w[0].inserted {
            assert_eq!(d, 0);
        } else {
            assert!(d == 160 || d == 320, "step {d}");
        }
    }
    let dropped = frames
        .windows(2)
        .filter(|w| w[1].timestamp - w[0].timestamp == 320)
        .count() as u64;
    assert_eq!(dropped, s3.dropped_frames);
    assert_eq!(
        frames.iter().filter(|f| f.inserted).count() as u64,
        s3.inserted_frames
    );
}

#[test]
fn target_is_capped_at_max_delay() {
    let a: Vec<_> = (0..300)
        .map(|i| {
            (
                START_MS + 20 * i as u64 + if i % 2 == 1 { 150 } else { 0 },
                i,
            )
        })
        .collect();
    let (_, _, stats, _) = run(JitterConfig::default(), a, START_MS + 20 * 300);
    assert_eq!(stats.target_delay_ms, 200);
    assert!(stats.current_delay_ms <= 200 + 20);
}

/// Packets of the stream without audio for the buffer (RFC 4733 events between audio
/// packets) take sequence numbers: counted as received, not as lost; a real gap still is
/// loss, and a repeated event packet is a duplicate.
#[test]
fn non_audio_packets_count_as_received_not_lost() {
    let mut jb = JitterBuffer::new(JitterConfig::default());
    // Audio 0..4, events 4..8 (one repeated), audio 8..10, 10 and 11 lost, audio 12..14.
    for i in 0..4 {
        jb.push(START_MS + 20 * i as u64, seq(i), ts(i), &pcm(i));
    }
    for i in 4..8 {
        assert!(jb.count_non_audio(seq(i)), "event packet {i}");
    }
    assert!(!jb.count_non_audio(seq(7)), "a repeated event packet");
    for i in (8..10).chain(12..14) {
        jb.push(START_MS + 20 * i as u64, seq(i), ts(i - 4), &pcm(i));
    }
    let r = jb.reception();
    assert_eq!((r.expected, r.received), (14, 12), "{r:?}");
    assert_eq!(r.extended_highest_seq, 65_536 + u32::from(seq(13)));
    let s = jb.stats();
    assert_eq!((s.received, s.lost, s.duplicates), (12, 2, 1));
}
