//! Adaptive jitter buffer for one RTP source, timed by RTP timestamps.
//!
//! Packets are pushed with their arrival `now_ms`; the playout clock pulls one frame
//! ([`JitterConfig::frame_samples`] samples) per call. Each frame carries the extended RTP
//! timestamp of its first sample, so the call core's notion of time is the sender's media
//! clock, not arrival times.
//!
//! Timing: the transit of a packet is `arrival_ms − timestamp_ms`; the reference transit is
//! the smallest over the last [`TRANSIT_WINDOW`] packets (the fastest path, which follows
//! clock drift). A frame with timestamp `ts` plays at `ts_ms + reference + delay`; the
//! current delay is held within one frame of the target
//! `clamp(JITTER_FACTOR × J, min_delay_ms, max_delay_ms)`, with `J` the RFC 3550 A.8
//! interarrival jitter, by inserting a frame at once when the delay is a frame short
//! (flagged `inserted`) or dropping one when it has been a frame too long for
//! [`COMPRESS_AFTER_PULLS`] pulls (the timestamp then jumps by a frame).
//!
//! A packet that arrives after its frame played is late: dropped and counted. Missing
//! frames are concealed by repeating the last frame attenuated for up to
//! [`JitterConfig::max_concealed_frames`], then silence.

use std::collections::{BTreeMap, VecDeque};

/// Packets kept at most; beyond this a packet is dropped and counted as overflow (10 s of
/// 20 ms packets, far beyond any sane delay, bounds memory against a flood).
pub const MAX_BUFFERED_PACKETS: usize = 500;
/// Packets over which the reference (minimum) transit is taken: 5 s of 20 ms packets.
pub const TRANSIT_WINDOW: usize = 250;
/// Target delay as a multiple of the measured interarrival jitter.
pub const JITTER_FACTOR: i64 = 4;
/// Consecutive pulls the delay must exceed the target by a frame before a frame is dropped
/// (200 ms at 20 ms frames), so one early packet does not cut audio at once.
pub const COMPRESS_AFTER_PULLS: u32 = 10;
/// Sequence numbers remembered for duplicate detection.
pub const DUPLICATE_HISTORY: usize = 1024;
/// Samples a single packet may carry at most (bounds the search for overlapping packets):
/// 120 ms at 8 kHz.
pub const MAX_PACKET_SAMPLES: usize = 960;

/// Jitter buffer parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JitterConfig {
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Samples per pulled frame.
    pub frame_samples: usize,
    /// Lower bound of the target delay, ms.
    pub min_delay_ms: u32,
    /// Upper bound of the target delay, ms.
    pub max_delay_ms: u32,
    /// Frames concealed by repeating the last one before falling back to silence.
    pub max_concealed_frames: u32,
    /// Gain applied per concealed frame (the k-th repeat is scaled by `attenuation^k`).
    pub attenuation: f32,
}

impl Default for JitterConfig {
    /// 8 kHz, 20 ms frames, delay 40-200 ms, 3 concealed frames at −6 dB each.
    fn default() -> Self {
        JitterConfig {
            clock_rate: 8000,
            frame_samples: 160,
            min_delay_ms: 40,
            max_delay_ms: 200,
            max_concealed_frames: 3,
            attenuation: 0.5,
        }
    }
}

/// One pulled frame of audio.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// `frame_samples` samples.
    pub pcm: Vec<i16>,
    /// True when (some of) the audio is not the sender's: loss concealment, silence, or an
    /// inserted frame.
    pub concealed: bool,
    /// True for a frame inserted to grow the delay: it has no media time of its own and
    /// carries the timestamp of the frame that follows it.
    pub inserted: bool,
    /// Extended RTP timestamp of the first sample (the media clock; 32-bit wraps removed).
    pub timestamp: i64,
}

/// What became of a pushed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored for playout.
    Buffered,
    /// Its frame already played; dropped.
    Late,
    /// Sequence number (or timestamp) already received; dropped.
    Duplicate,
    /// Buffer full; dropped.
    Overflow,
}

/// Counters of the buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Distinct packets received (late ones included, duplicates not).
    pub received: u64,
    /// Expected minus received (RFC 3550 A.3; negative if the sender duplicated).
    pub lost: i64,
    /// Packets that arrived after their frame played.
    pub late: u64,
    /// Duplicate packets.
    pub duplicates: u64,
    /// Packets dropped because the buffer was full.
    pub overflow: u64,
    /// Frames concealed for missing media (repeats and silence; inserted frames excluded).
    pub concealed_frames: u64,
    /// Frames inserted to grow the delay.
    pub inserted_frames: u64,
    /// Frames dropped to shrink the delay.
    pub dropped_frames: u64,
    /// Frames pulled with real media.
    pub played_frames: u64,
    /// Playout delay at the last pull beyond the reference transit, ms.
    pub current_delay_ms: i64,
    /// Target delay at the last pull, ms.
    pub target_delay_ms: i64,
}

/// Reception figures for RTCP report blocks (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReceptionStats {
    /// Extended highest sequence number received (cycles << 16 | highest).
    pub extended_highest_seq: u32,
    /// Packets expected (highest − base + 1).
    pub expected: u64,
    /// Distinct packets received.
    pub received: u64,
    /// Interarrival jitter in timestamp units (RFC 3550 A.8).
    pub jitter: u32,
}

/// The adaptive jitter buffer. See the module documentation.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    cfg: JitterConfig,
    packets: BTreeMap<i64, Vec<i16>>,
    /// (highest extended seq, lowest extended seq); extended seqs start at 65 536 + first.
    seq: Option<(i64, i64)>,
    seen: Vec<i64>,
    /// Highest extended timestamp and its raw value.
    ts_max: Option<(i64, u32)>,
    last_transit: Option<i64>,
    jitter_q4: i64,
    /// Monotonic deque of (packet index, transit ms) for the sliding minimum.
    transits: VecDeque<(u64, i64)>,
    packet_index: u64,
    cursor: Option<i64>,
    started: bool,
    last_frame: Option<Vec<i16>>,
    conceal_run: u32,
    over_target_pulls: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    /// An empty buffer.
    pub fn new(cfg: JitterConfig) -> JitterBuffer {
        JitterBuffer {
            cfg,
            packets: BTreeMap::new(),
            seq: None,
            seen: vec![i64::MIN; DUPLICATE_HISTORY],
            ts_max: None,
            last_transit: None,
            jitter_q4: 0,
            transits: VecDeque::new(),
            packet_index: 0,
            cursor: None,
            started: false,
            last_frame: None,
            conceal_run: 0,
            over_target_pulls: 0,
            stats: JitterStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> JitterStats {
        let mut s = self.stats;
        s.lost = self.expected() as i64 - s.received as i64;
        s
    }

    /// Packets held for playout now (at most [`MAX_BUFFERED_PACKETS`]).
    pub fn buffered_packets(&self) -> usize {
        self.packets.len()
    }

    /// Figures for an RTCP report block.
    pub fn reception(&self) -> ReceptionStats {
        ReceptionStats {
            extended_highest_seq: self.seq.map_or(0, |(hi, _)| (hi - 65_536) as u32),
            expected: self.expected(),
            received: self.stats.received,
            jitter: (self.jitter_q4 >> 4) as u32,
        }
    }

    /// Interarrival jitter (RFC 3550 A.8) in ms.
    pub fn jitter_ms(&self) -> f64 {
        (self.jitter_q4 as f64 / 16.0) * 1000.0 / self.cfg.clock_rate as f64
    }

    /// The delay the buffer steers to, ms.
    pub fn target_delay_ms(&self) -> i64 {
        let j = (self.jitter_q4 >> 4) * 1000 / self.cfg.clock_rate as i64;
        (JITTER_FACTOR * j).clamp(self.cfg.min_delay_ms as i64, self.cfg.max_delay_ms as i64)
    }

    fn expected(&self) -> u64 {
        self.seq.map_or(0, |(hi, lo)| (hi - lo + 1) as u64)
    }

    fn ts_ms(&self, ts: i64) -> i64 {
        (ts * 1000).div_euclid(self.cfg.clock_rate as i64)
    }

    fn frame_ms(&self) -> i64 {
        self.cfg.frame_samples as i64 * 1000 / self.cfg.clock_rate as i64
    }

    /// Counts a packet of this RTP source that carries no audio for the buffer (an RFC 4733
    /// event, comfort noise, a payload type we do not play): it has a sequence number, so
    /// the reception figures ([`Self::reception`], RTCP report blocks, RFC 3550 §6.4.1)
    /// count it as received rather than lost. Returns `false` for a duplicate.
    pub fn count_non_audio(&mut self, sequence: u16) -> bool {
        let ext_seq = self.extend_sequence(sequence);
        if self.is_duplicate(ext_seq) {
            return false;
        }
        self.mark_received(ext_seq);
        true
    }

    /// `sequence` extended with the cycle count nearest the highest one seen.
    fn extend_sequence(&self, sequence: u16) -> i64 {
        match self.seq {
            None => 65_536 + sequence as i64,
            Some((hi, _)) => hi + sequence.wrapping_sub(hi as u16) as i16 as i64,
        }
    }

    /// Whether `ext_seq` was received already (counted in `duplicates` when so).
    fn is_duplicate(&mut self, ext_seq: i64) -> bool {
        let slot = ext_seq.rem_euclid(DUPLICATE_HISTORY as i64) as usize;
        let dup = self.seen[slot] == ext_seq;
        if dup {
            self.stats.duplicates += 1;
        }
        dup
    }

    fn mark_received(&mut self, ext_seq: i64) {
        let slot = ext_seq.rem_euclid(DUPLICATE_HISTORY as i64) as usize;
        self.seen[slot] = ext_seq;
        self.stats.received += 1;
        self.seq = Some(match self.seq {
            None => (ext_seq, ext_seq),
            Some((hi, lo)) => (hi.max(ext_seq), lo.min(ext_seq)),
        });
    }

    /// Pushes one packet's decoded audio, arrived at `now_ms`.
    pub fn push(&mut self, now_ms: u64, sequence: u16, timestamp: u32, pcm: &[i16]) -> PushOutcome {
        let ext_seq = self.extend_sequence(sequence);
        if self.is_duplicate(ext_seq) {
            return PushOutcome::Duplicate;
        }
        let ext_ts = match self.ts_max {
            None => timestamp as i64,
            Some((hi, raw)) => hi + timestamp.wrapping_sub(raw) as i32 as i64,
        };
        if self.packets.contains_key(&ext_ts) {
            self.stats.duplicates += 1;
            return PushOutcome::Duplicate;
        }
        self.mark_received(ext_seq);
        if self.ts_max.is_none_or(|(hi, _)| ext_ts > hi) {
            self.ts_max = Some((ext_ts, timestamp));
        }

        // RFC 3550 A.8, transit in timestamp units.
        let arrival_units = (now_ms as i64 * self.cfg.clock_rate as i64) / 1000;
        let transit = arrival_units - ext_ts;
        if let Some(last) = self.last_transit {
            let d = (transit - last).abs();
            self.jitter_q4 += d - ((self.jitter_q4 + 8) >> 4);
        }
        self.last_transit = Some(transit);

        // Sliding minimum of transit in ms.
        let transit_ms = now_ms as i64 - self.ts_ms(ext_ts);
        while self.transits.back().is_some_and(|&(_, t)| t >= transit_ms) {
            self.transits.pop_back();
        }
        self.transits.push_back((self.packet_index, transit_ms));
        while self
            .transits
            .front()
            .is_some_and(|&(i, _)| i + TRANSIT_WINDOW as u64 <= self.packet_index)
        {
            self.transits.pop_front();
        }
        self.packet_index += 1;

        match self.cursor {
            Some(c) if self.started && ext_ts < c => {
                self.stats.late += 1;
                return PushOutcome::Late;
            }
            Some(c) if !self.started && ext_ts < c => self.cursor = Some(ext_ts),
            None => self.cursor = Some(ext_ts),
            _ => {}
        }
        if self.packets.len() >= MAX_BUFFERED_PACKETS {
            self.stats.overflow += 1;
            return PushOutcome::Overflow;
        }
        let n = pcm.len().min(MAX_PACKET_SAMPLES);
        self.packets.insert(ext_ts, pcm[..n].to_vec());
        PushOutcome::Buffered
    }

    /// Pulls the next frame at playout time `now_ms`; `None` until the first packet has
    /// waited the target delay.
    pub fn pull(&mut self, now_ms: u64) -> Option<Frame> {
        let cursor = self.cursor?;
        let reference = self.transits.front()?.1;
        let target = self.target_delay_ms();
        let fms = self.frame_ms();
        let mut playout = now_ms as i64 - self.ts_ms(cursor);
        let desired = reference + target;
        if !self.started {
            if playout < desired {
                return None;
            }
            self.started = true;
        }
        self.stats.target_delay_ms = target;
        let fs = self.cfg.frame_samples as i64;
        if desired - playout >= fms {
            self.stats.inserted_frames += 1;
            self.stats.current_delay_ms = playout + fms - reference;
            let pcm = self.conceal_pcm();
            return Some(Frame {
                pcm,
                concealed: true,
                inserted: true,
                timestamp: cursor,
            });
        }
        let mut cursor = cursor;
        if playout - desired >= fms {
            self.over_target_pulls += 1;
        } else {
            self.over_target_pulls = 0;
        }
        if self.over_target_pulls >= COMPRESS_AFTER_PULLS {
            self.over_target_pulls = 0;
            self.stats.dropped_frames += 1;
            self.discard_before(cursor + fs);
            cursor += fs;
            playout -= fms;
        }
        self.stats.current_delay_ms = playout - reference;
        self.cursor = Some(cursor + fs);
        let (pcm, filled) = self.assemble(cursor);
        self.discard_before(cursor + fs);
        if filled == self.cfg.frame_samples {
            self.stats.played_frames += 1;
            self.conceal_run = 0;
            self.last_frame = Some(pcm.clone());
            Some(Frame {
                pcm,
                concealed: false,
                inserted: false,
                timestamp: cursor,
            })
        } else {
            self.stats.concealed_frames += 1;
            let pcm = if filled == 0 { self.conceal_pcm() } else { pcm };
            Some(Frame {
                pcm,
                concealed: true,
                inserted: false,
                timestamp: cursor,
            })
        }
    }

    /// Forgets the source (new SSRC): timeline, sequence state and playout restart; counters
    /// are kept.
    pub fn reset(&mut self) {
        let stats = self.stats;
        *self = JitterBuffer::new(self.cfg);
        self.stats = stats;
    }

    fn conceal_pcm(&mut self) -> Vec<i16> {
        self.conceal_run += 1;
        match &self.last_frame {
            Some(last) if self.conceal_run <= self.cfg.max_concealed_frames => {
                let g = self.cfg.attenuation.powi(self.conceal_run as i32);
                last.iter().map(|&s| (s as f32 * g) as i16).collect()
            }
            _ => vec![0; self.cfg.frame_samples],
        }
    }

    /// Samples of [cursor, cursor + frame) from stored packets, and how many were present.
    fn assemble(&self, cursor: i64) -> (Vec<i16>, usize) {
        let fs = self.cfg.frame_samples as i64;
        let mut pcm = vec![0i16; self.cfg.frame_samples];
        let mut filled = 0;
        for (&ts, samples) in self
            .packets
            .range(cursor - MAX_PACKET_SAMPLES as i64..cursor + fs)
        {
            let start = ts.max(cursor);
            let end = (ts + samples.len() as i64).min(cursor + fs);
            for t in start..end {
                pcm[(t - cursor) as usize] = samples[(t - ts) as usize];
                filled += 1;
            }
        }
        (pcm, filled)
    }

    /// Drops packets that end at or before `ts`.
    fn discard_before(&mut self, ts: i64) {
        while let Some((&k, v)) = self.packets.first_key_value() {
            if k + v.len() as i64 <= ts {
                self.packets.pop_first();
            } else {
                break;
            }
        }
    }
}
