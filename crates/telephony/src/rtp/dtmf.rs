//! RFC 4733 telephone-events: the 4-byte payload, a receiver that reports each event once,
//! and the packet sequence a sender emits for one digit.

use thiserror::Error;

/// Length of one telephone-event payload block.
pub const EVENT_PAYLOAD_LEN: usize = 4;
/// Interval between updates of an ongoing event, in milliseconds (RFC 4733 §2.5.1.2
/// suggests 50 ms for DTMF).
pub const UPDATE_INTERVAL_MS: u32 = 50;
/// Times the final (end) packet of an event is sent (RFC 4733 §2.5.1.4: three).
pub const END_REPEATS: usize = 3;
/// Longest digit we send, in milliseconds: the 16-bit duration field at 8 kHz holds 8.19 s;
/// longer events would need segments, which we do not send.
pub const MAX_DIGIT_MS: u32 = 8000;
/// Largest volume value (the field is 6 bits: 0 to -63 dBm0).
pub const MAX_VOLUME: u8 = 63;
/// Volume we send digits at (-10 dBm0, in the range RFC 4733 §2.5.2.2 expects for DTMF).
pub const DEFAULT_VOLUME: u8 = 10;

/// A refused telephone-event payload.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DtmfError {
    /// Fewer than 4 bytes.
    #[error("telephone-event payload truncated at byte offset {len}: 4 bytes needed")]
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// A character that is not a DTMF digit (0-9, *, #, A-D).
    #[error("{0:?} is not a DTMF digit")]
    NotADigit(char),
    /// Digit longer than [`MAX_DIGIT_MS`] or shorter than one update interval.
    #[error("digit duration {0} ms outside {UPDATE_INTERVAL_MS}..={MAX_DIGIT_MS}")]
    Duration(u32),
    /// Volume above [`MAX_VOLUME`].
    #[error("volume {0} exceeds {MAX_VOLUME}")]
    Volume(u8),
    /// A [`DigitQueue`] would hold more than [`MAX_QUEUED_PACKETS`] packets.
    #[error("more than {MAX_QUEUED_PACKETS} telephone-event packets queued")]
    QueueFull,
}

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    /// Event code (0-9, 10 = *, 11 = #, 12-15 = A-D for DTMF).
    pub event: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Power level, 0 to 63 meaning 0 to -63 dBm0.
    pub volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    /// Parses the first 4 bytes of a payload (further blocks of RFC 4733 §2.5.1.5 redundancy
    /// are ignored). The reserved R bit is ignored as the RFC requires.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, DtmfError> {
        if payload.len() < EVENT_PAYLOAD_LEN {
            return Err(DtmfError::Truncated { len: payload.len() });
        }
        Ok(TelephoneEvent {
            event: payload[0],
            end: payload[1] & 0x80 != 0,
            volume: payload[1] & 0x3f,
            duration: u16::from_be_bytes([payload[2], payload[3]]),
        })
    }

    /// The 4-byte payload.
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (if self.end { 0x80 } else { 0 }) | (self.volume & 0x3f),
            d[0],
            d[1],
        ]
    }
}

/// Event code of a DTMF digit.
pub fn digit_to_event(digit: char) -> Option<u8> {
    match digit {
        '0'..='9' => Some(digit as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(digit as u8 - b'A' + 12),
        'a'..='d' => Some(digit as u8 - b'a' + 12),
        _ => None,
    }
}

/// DTMF digit of an event code (`None` for non-DTMF events such as 32 = answer tone).
pub fn event_to_digit(event: u8) -> Option<char> {
    match event {
        0..=9 => Some((b'0' + event) as char),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some((b'A' + event - 12) as char),
        _ => None,
    }
}

/// What the receiver learnt from one telephone-event packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtmfReport {
    /// A new event began (first packet seen with a new RTP timestamp).
    Started {
        /// Event code.
        event: u8,
        /// RTP timestamp of the event's start.
        timestamp: u32,
    },
    /// An event ended; reported once however many end packets arrive. Also reported when a
    /// new event starts before the previous one's end packets arrived (all lost).
    Ended {
        /// Event code.
        event: u8,
        /// RTP timestamp of the event's start.
        timestamp: u32,
        /// Final duration, in RTP timestamp units (the longest one seen if the end was lost).
        duration: u16,
        /// Volume of the last packet.
        volume: u8,
        /// False when the end packets were all lost and a new event closed this one.
        end_seen: bool,
    },
}

#[derive(Debug, Clone, Copy)]
struct Current {
    timestamp: u32,
    event: TelephoneEvent,
    ended: bool,
}

/// Turns a stream of telephone-event packets into start/end reports, each event once.
#[derive(Debug, Clone, Default)]
pub struct DtmfReceiver {
    current: Option<Current>,
}

impl DtmfReceiver {
    /// A receiver with no event in progress.
    pub fn new() -> DtmfReceiver {
        DtmfReceiver::default()
    }

    /// Feeds the RTP timestamp and payload of one telephone-event packet (in arrival order).
    /// Returns up to two reports (the previous event's unfinished end, then this event's
    /// start or end).
    pub fn push(&mut self, timestamp: u32, payload: &[u8]) -> Result<Vec<DtmfReport>, DtmfError> {
        let ev = TelephoneEvent::parse(payload)?;
        let mut out = Vec::new();
        match self.current {
            Some(ref mut cur) if cur.timestamp == timestamp => {
                if cur.ended {
                    // Repeated end packet (or a late update after the end): already reported.
                    return Ok(out);
                }
                if ev.duration > cur.event.duration || ev.end {
                    cur.event.duration = cur.event.duration.max(ev.duration);
                }
                cur.event.volume = ev.volume;
                if ev.end {
                    cur.ended = true;
                    out.push(ended(cur, true));
                }
                return Ok(out);
            }
            Some(cur) if !cur.ended => out.push(ended(&cur, false)),
            _ => {}
        }
        let cur = Current {
            timestamp,
            event: ev,
            ended: ev.end,
        };
        out.push(DtmfReport::Started {
            event: ev.event,
            timestamp,
        });
        if ev.end {
            out.push(ended(&cur, true));
        }
        self.current = Some(cur);
        Ok(out)
    }
}

fn ended(cur: &Current, end_seen: bool) -> DtmfReport {
    DtmfReport::Ended {
        event: cur.event.event,
        timestamp: cur.timestamp,
        duration: cur.event.duration,
        volume: cur.event.volume,
        end_seen,
    }
}

/// One packet of an outgoing event, to send `offset_ms` after the event starts with the
/// event's start timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPacket {
    /// When to send it, relative to the first packet.
    pub offset_ms: u32,
    /// Marker bit (first packet only).
    pub marker: bool,
    /// The payload.
    pub event: TelephoneEvent,
}

/// The RFC 4733 packet sequence of one digit lasting `duration_ms` at `clock_rate` Hz.
///
/// Packet `k` goes at `k × 50 ms` and carries the duration the tone has when that update
/// interval is over (`min((k+1) × 50 ms, duration)`), so the first packet announces the first
/// 50 ms; the packet whose duration reaches the full length has the E bit and is sent
/// [`END_REPEATS`] times, 50 ms apart, with the same duration. All share one RTP timestamp
/// (the caller's, the start of the event) and only the first has the marker.
pub fn encode_digit(
    digit: char,
    duration_ms: u32,
    volume: u8,
    clock_rate: u32,
) -> Result<Vec<EventPacket>, DtmfError> {
    let event = digit_to_event(digit).ok_or(DtmfError::NotADigit(digit))?;
    if !(UPDATE_INTERVAL_MS..=MAX_DIGIT_MS).contains(&duration_ms) {
        return Err(DtmfError::Duration(duration_ms));
    }
    if volume > MAX_VOLUME {
        return Err(DtmfError::Volume(volume));
    }
    let units = |ms: u32| (ms as u64 * clock_rate as u64 / 1000).min(u16::MAX as u64) as u16;
    let total = units(duration_ms);
    let mut out = Vec::new();
    let mut k = 0u32;
    loop {
        let d = units(((k + 1) * UPDATE_INTERVAL_MS).min(duration_ms));
        let end = d >= total;
        let n = if end { END_REPEATS as u32 } else { 1 };
        for r in 0..n {
            out.push(EventPacket {
                offset_ms: (k + r) * UPDATE_INTERVAL_MS,
                marker: k == 0 && r == 0,
                event: TelephoneEvent {
                    event,
                    end,
                    volume,
                    duration: d,
                },
            });
        }
        if end {
            return Ok(out);
        }
        k += 1;
    }
}

/// Duration of a digit we send as RFC 4733 events, ms.
pub const SENT_DIGIT_MS: u32 = 160;
/// Silence between two digits we send, ms (after the last end packet of the first).
pub const DIGIT_GAP_MS: u32 = 100;
/// Packets queued at most in a [`DigitQueue`] (about 100 digits).
pub const MAX_QUEUED_PACKETS: usize = 1024;

/// Digits to send as RFC 4733 events, each digit's packets at their times and the next digit
/// after [`DIGIT_GAP_MS`]: push digits, then send each packet [`DigitQueue::poll`] returns at
/// [`DigitQueue::poll_timeout`]. A packet with `marker` starts a digit: it and the later ones
/// of that digit carry the RTP timestamp of the moment it goes.
#[derive(Debug, Clone, Default)]
pub struct DigitQueue {
    pending: std::collections::VecDeque<(u64, EventPacket)>,
    /// When the last queued digit (and its gap) is over.
    free_at: u64,
}

impl DigitQueue {
    /// An empty queue.
    pub fn new() -> DigitQueue {
        DigitQueue::default()
    }

    /// Queues `digits` (each [`SENT_DIGIT_MS`] long at `volume`, RTP at `clock_rate`) after
    /// what is queued, starting no earlier than `now_ms`. Nothing is queued when a character
    /// is not a digit or the queue would exceed [`MAX_QUEUED_PACKETS`].
    pub fn push(
        &mut self,
        digits: &str,
        volume: u8,
        clock_rate: u32,
        now_ms: u64,
    ) -> Result<(), DtmfError> {
        let mut packets = Vec::new();
        let mut at = self.free_at.max(now_ms);
        for d in digits.chars() {
            let seq = encode_digit(d.to_ascii_uppercase(), SENT_DIGIT_MS, volume, clock_rate)?;
            let last = seq.last().map_or(0, |p| p.offset_ms);
            packets.extend(seq.into_iter().map(|p| (at + u64::from(p.offset_ms), p)));
            at += u64::from(last + UPDATE_INTERVAL_MS + DIGIT_GAP_MS);
        }
        if self.pending.len() + packets.len() > MAX_QUEUED_PACKETS {
            return Err(DtmfError::QueueFull);
        }
        self.pending.extend(packets);
        self.free_at = at;
        Ok(())
    }

    /// When the next packet is due.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.pending.front().map(|(at, _)| *at)
    }

    /// The next packet due at `now_ms`, if any.
    pub fn poll(&mut self, now_ms: u64) -> Option<EventPacket> {
        match self.pending.front() {
            Some((at, _)) if *at <= now_ms => self.pending.pop_front().map(|(_, p)| p),
            _ => None,
        }
    }
}
