//! RTCP sender and receiver reports (RFC 3550 §6.4) on `rtcp-types`, with the report block
//! figures computed from our reception statistics, and the report interval of §6.3.1.
//!
//! Wall-clock NTP time (needed in SRs) is the caller's argument, as is `now_ms`; the interval's
//! randomisation draws from a generator seeded by the caller.

use rtcp_types::RtcpPacketWriter;
use rtcp_types::{
    Bye, Compound, Packet, ReceiverReport, ReportBlock, RtcpPacketParser, RtcpPacketWriterExt,
    RtcpParseError, Sdes, SdesChunk, SdesItem, SenderReport,
};
use thiserror::Error;

use super::jitter::ReceptionStats;

/// Largest RTCP compound packet we build or parse, in bytes.
pub const MAX_RTCP_LEN: usize = 1500;
/// RFC 3550 §6.2 minimum interval between reports, in seconds.
pub const RTCP_MIN_INTERVAL_S: f64 = 5.0;
/// Share of the RTCP bandwidth for senders when they are at most a quarter of the members.
pub const RTCP_SENDER_BW_FRACTION: f64 = 0.25;
/// e − 3/2: compensates the randomisation of §6.3.1 for timer reconsideration.
pub const COMPENSATION: f64 = std::f64::consts::E - 1.5;
/// IPv4 + UDP header bytes counted in the average RTCP packet size.
pub const UDP_IP_OVERHEAD: usize = 28;

/// A refused or unbuildable RTCP packet.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtcpError {
    /// A packet of the compound could not be parsed.
    #[error("RTCP packet (type {packet_type}) at byte offset {offset}: {reason}")]
    Parse {
        /// Offset of the packet's header in the datagram.
        offset: usize,
        /// Its packet type byte (0 if the header itself is cut).
        packet_type: u8,
        /// What `rtcp-types` refused.
        reason: String,
    },
    /// Building failed (e.g. more than 31 report blocks).
    #[error("cannot build RTCP packet: {0}")]
    Build(String),
    /// Compound larger than [`MAX_RTCP_LEN`].
    #[error("RTCP datagram of {0} bytes exceeds {MAX_RTCP_LEN}")]
    TooLarge(usize),
}

/// One report block's figures (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    /// SSRC the block is about.
    pub ssrc: u32,
    /// Fraction lost since the previous report, out of 256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (signed 24 bits).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from that source, 0 if none.
    pub lsr: u32,
    /// Delay since that SR, in 1/65536 s, 0 if none.
    pub dlsr: u32,
}

/// Sender information of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// 64-bit NTP wall-clock time of the report.
    pub ntp_timestamp: u64,
    /// RTP timestamp corresponding to the same instant.
    pub rtp_timestamp: u32,
    /// Packets sent.
    pub packet_count: u32,
    /// Payload octets sent.
    pub octet_count: u32,
}

/// A parsed RTCP packet of a compound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Sender report.
    Sender {
        /// Sender's SSRC.
        ssrc: u32,
        /// Sender info.
        info: SenderInfo,
        /// Report blocks.
        blocks: Vec<Block>,
    },
    /// Receiver report.
    Receiver {
        /// Reporter's SSRC.
        ssrc: u32,
        /// Report blocks.
        blocks: Vec<Block>,
    },
    /// SDES CNAME of a source.
    Cname {
        /// Source.
        ssrc: u32,
        /// Canonical name.
        cname: String,
    },
    /// BYE from these sources.
    Bye {
        /// Sources leaving.
        ssrcs: Vec<u32>,
    },
    /// Any other packet type (APP, feedback, XR), by its type byte.
    Other {
        /// Packet type.
        packet_type: u8,
    },
}

/// Middle 32 bits of a 64-bit NTP timestamp (the LSR format).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// Round-trip time in ms from a block about our stream, received when our NTP clock read
/// `ntp_now` (RFC 3550 §6.4.1: A − LSR − DLSR); `None` when the block has no LSR.
pub fn round_trip_ms(block: &Block, ntp_now: u64) -> Option<f64> {
    if block.lsr == 0 {
        return None;
    }
    let rtt = ntp_middle(ntp_now)
        .wrapping_sub(block.lsr)
        .wrapping_sub(block.dlsr);
    Some(rtt as f64 * 1000.0 / 65_536.0)
}

/// RTCP state of one RTP session: our SSRC and CNAME, the last SR heard from the remote
/// source, and the reception figures at our previous report (for the fraction lost).
#[derive(Debug, Clone)]
pub struct RtcpSession {
    ssrc: u32,
    cname: String,
    expected_prior: u64,
    received_prior: u64,
    /// (remote SSRC, LSR, now_ms when it arrived).
    last_sr: Option<(u32, u32, u64)>,
}

impl RtcpSession {
    /// A session for our `ssrc` with the SDES `cname` (at most 255 bytes, RFC 3550 §6.5).
    pub fn new(ssrc: u32, cname: &str) -> RtcpSession {
        RtcpSession {
            ssrc,
            cname: cname.to_owned(),
            expected_prior: 0,
            received_prior: 0,
            last_sr: None,
        }
    }

    /// The report block about `source` from our reception figures at `now_ms`; updates the
    /// interval counters (call once per report sent).
    pub fn block(&mut self, source: u32, r: &ReceptionStats, now_ms: u64) -> Block {
        let expected_interval = r.expected.saturating_sub(self.expected_prior) as i64;
        let received_interval = r.received.saturating_sub(self.received_prior) as i64;
        self.expected_prior = r.expected;
        self.received_prior = r.received;
        let lost_interval = expected_interval - received_interval;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval).min(255) as u8
        };
        let cumulative = (r.expected as i64 - r.received as i64).clamp(-0x80_0000, 0x7f_ffff);
        let (lsr, dlsr) = match self.last_sr {
            Some((ssrc, lsr, at)) if ssrc == source => {
                (lsr, (now_ms.saturating_sub(at) * 65_536 / 1000) as u32)
            }
            _ => (0, 0),
        };
        Block {
            ssrc: source,
            fraction_lost,
            cumulative_lost: cumulative as i32,
            extended_highest_seq: r.extended_highest_seq,
            jitter: r.jitter,
            lsr,
            dlsr,
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Builds a compound report: an SR when `sender` is given (we sent RTP since the last
    /// report), else an RR, with `blocks`, followed by SDES CNAME (RFC 3550 §6.1).
    pub fn build(
        &self,
        sender: Option<SenderInfo>,
        blocks: &[Block],
    ) -> Result<Vec<u8>, RtcpError> {
        self.build_compound(sender, blocks, None)
    }

    /// The last compound of a session (RFC 3550 §6.6): the report, SDES CNAME and a BYE
    /// for our SSRC with `reason` (at most 255 bytes) when given.
    pub fn build_bye(
        &self,
        sender: Option<SenderInfo>,
        blocks: &[Block],
        reason: Option<&str>,
    ) -> Result<Vec<u8>, RtcpError> {
        self.build_compound(sender, blocks, Some(reason.unwrap_or("")))
    }

    fn build_compound(
        &self,
        sender: Option<SenderInfo>,
        blocks: &[Block],
        bye: Option<&str>,
    ) -> Result<Vec<u8>, RtcpError> {
        let rbs = blocks.iter().map(|b| {
            ReportBlock::builder(b.ssrc)
                .fraction_lost(b.fraction_lost)
                .cumulative_lost(b.cumulative_lost as u32 & 0xff_ffff)
                .extended_sequence_number(b.extended_highest_seq)
                .interarrival_jitter(b.jitter)
                .last_sender_report_timestamp(b.lsr)
                .delay_since_last_sender_report_timestamp(b.dlsr)
        });
        let sdes = Sdes::builder().add_chunk(
            SdesChunk::builder(self.ssrc).add_item(SdesItem::builder(SdesItem::CNAME, &self.cname)),
        );
        let mut compound = match sender {
            Some(info) => {
                let mut sr = SenderReport::builder(self.ssrc)
                    .ntp_timestamp(info.ntp_timestamp)
                    .rtp_timestamp(info.rtp_timestamp)
                    .packet_count(info.packet_count)
                    .octet_count(info.octet_count);
                for rb in rbs {
                    sr = sr.add_report_block(rb);
                }
                Compound::builder().add_packet(sr).add_packet(sdes)
            }
            None => {
                let mut rr = ReceiverReport::builder(self.ssrc);
                for rb in rbs {
                    rr = rr.add_report_block(rb);
                }
                Compound::builder().add_packet(rr).add_packet(sdes)
            }
        };
        if let Some(reason) = bye {
            let mut packet = Bye::builder().add_source(self.ssrc);
            if !reason.is_empty() {
                packet = packet.reason(reason.to_owned());
            }
            compound = compound.add_packet(packet);
        }
        let size = compound
            .calculate_size()
            .map_err(|e| RtcpError::Build(e.to_string()))?;
        if size > MAX_RTCP_LEN {
            return Err(RtcpError::TooLarge(size));
        }
        let mut buf = vec![0u8; size];
        compound
            .write_into(&mut buf)
            .map_err(|e| RtcpError::Build(e.to_string()))?;
        Ok(buf)
    }

    /// Parses a received compound at `now_ms`; an SR is remembered for the LSR/DLSR of our
    /// next block about its sender.
    pub fn handle(&mut self, data: &[u8], now_ms: u64) -> Result<Vec<Report>, RtcpError> {
        let reports = parse_compound(data)?;
        for r in &reports {
            if let Report::Sender { ssrc, info, .. } = r {
                self.last_sr = Some((*ssrc, ntp_middle(info.ntp_timestamp), now_ms));
            }
        }
        Ok(reports)
    }
}

fn blocks<'a>(it: impl Iterator<Item = ReportBlock<'a>>) -> Vec<Block> {
    it.map(|b| {
        let raw = b.cumulative_lost();
        // Sign-extend the 24-bit field.
        let cumulative_lost = ((raw << 8) as i32) >> 8;
        Block {
            ssrc: b.ssrc(),
            fraction_lost: b.fraction_lost(),
            cumulative_lost,
            extended_highest_seq: b.extended_sequence_number(),
            jitter: b.interarrival_jitter(),
            lsr: b.last_sender_report_timestamp(),
            dlsr: b.delay_since_last_sender_report_timestamp(),
        }
    })
    .collect()
}

/// Parses every packet of an RTCP compound, naming the offset of the one that fails.
pub fn parse_compound(data: &[u8]) -> Result<Vec<Report>, RtcpError> {
    if data.len() > MAX_RTCP_LEN {
        return Err(RtcpError::TooLarge(data.len()));
    }
    let err = |offset: usize, packet_type: u8, e: RtcpParseError| RtcpError::Parse {
        offset,
        packet_type,
        reason: e.to_string(),
    };
    if data.is_empty() {
        return Err(err(
            0,
            0,
            RtcpParseError::Truncated {
                expected: 4,
                actual: 0,
            },
        ));
    }
    let mut out = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let rest = &data[offset..];
        if rest.len() < 4 {
            return Err(err(
                offset,
                0,
                RtcpParseError::Truncated {
                    expected: 4,
                    actual: rest.len(),
                },
            ));
        }
        let packet_type = rest[1];
        let len = 4 * (u16::from_be_bytes([rest[2], rest[3]]) as usize + 1);
        if rest.len() < len {
            return Err(err(
                offset,
                packet_type,
                RtcpParseError::Truncated {
                    expected: len,
                    actual: rest.len(),
                },
            ));
        }
        // Each packet on its own: also checks every version field, not only the first.
        let packet = Packet::parse(&rest[..len]).map_err(|e| err(offset, packet_type, e))?;
        out.extend(convert(&packet));
        offset += len;
    }
    Ok(out)
}

fn convert(packet: &Packet<'_>) -> Vec<Report> {
    match packet {
        Packet::Sr(sr) => vec![Report::Sender {
            ssrc: sr.ssrc(),
            info: SenderInfo {
                ntp_timestamp: sr.ntp_timestamp(),
                rtp_timestamp: sr.rtp_timestamp(),
                packet_count: sr.packet_count(),
                octet_count: sr.octet_count(),
            },
            blocks: blocks(sr.report_blocks()),
        }],
        Packet::Rr(rr) => vec![Report::Receiver {
            ssrc: rr.ssrc(),
            blocks: blocks(rr.report_blocks()),
        }],
        Packet::Sdes(sdes) => sdes
            .chunks()
            .flat_map(|c| {
                c.items()
                    .filter(|i| i.type_() == SdesItem::CNAME)
                    .map(|i| Report::Cname {
                        ssrc: c.ssrc(),
                        cname: String::from_utf8_lossy(i.value()).into_owned(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect(),
        Packet::Bye(bye) => vec![Report::Bye {
            ssrcs: bye.ssrcs().collect(),
        }],
        other => vec![Report::Other {
            packet_type: other_type(other),
        }],
    }
}

fn other_type(p: &Packet<'_>) -> u8 {
    use rtcp_types::RtcpPacketParserExt;
    p.type_()
}

/// Inputs of the §6.3.1 interval computation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalInputs {
    /// Session members, us included.
    pub members: u32,
    /// Members that sent RTP since the last report, us included if we did.
    pub senders: u32,
    /// Bandwidth for RTCP, bytes per second (5 % of the session bandwidth).
    pub rtcp_bandwidth: f64,
    /// We sent RTP since our last report.
    pub we_sent: bool,
    /// No report sent yet (the minimum is halved).
    pub initial: bool,
}

/// The RTCP report interval of RFC 3550 §6.3.1 (Appendix A.7), with randomisation from a
/// generator seeded by the caller.
#[derive(Debug, Clone)]
pub struct ReportInterval {
    avg_rtcp_size: f64,
    rng: u64,
}

impl ReportInterval {
    /// Starts with an average packet size of `initial_size` bytes (that of the first packet
    /// we will send, headers included) and the random generator's `seed`.
    pub fn new(initial_size: usize, seed: u64) -> ReportInterval {
        ReportInterval {
            avg_rtcp_size: initial_size as f64,
            // SplitMix64 avalanche so that small seeds still differ.
            rng: seed ^ 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// Folds a sent or received compound of `bytes` (UDP payload) into the average size
    /// (RFC 3550 §6.3.3: avg += (size − avg) / 16, with IP/UDP headers).
    pub fn observe(&mut self, bytes: usize) {
        let size = (bytes + UDP_IP_OVERHEAD) as f64;
        self.avg_rtcp_size += (size - self.avg_rtcp_size) / 16.0;
    }

    /// The average compound size used so far, bytes.
    pub fn avg_rtcp_size(&self) -> f64 {
        self.avg_rtcp_size
    }

    /// The deterministic interval T_d of §6.3.1 in ms: at least 5 s (2.5 s before the first
    /// report), more when members × size exceed the bandwidth.
    pub fn deterministic_ms(&self, p: &IntervalInputs) -> u64 {
        let min = if p.initial {
            RTCP_MIN_INTERVAL_S / 2.0
        } else {
            RTCP_MIN_INTERVAL_S
        };
        let mut n = p.members.max(1) as f64;
        let mut bw = p.rtcp_bandwidth;
        if (p.senders as f64) <= p.members as f64 * RTCP_SENDER_BW_FRACTION {
            if p.we_sent {
                bw *= RTCP_SENDER_BW_FRACTION;
                n = p.senders.max(1) as f64;
            } else {
                bw *= 1.0 - RTCP_SENDER_BW_FRACTION;
                n = (p.members - p.senders).max(1) as f64;
            }
        }
        let t = if bw > 0.0 {
            (self.avg_rtcp_size * n / bw).max(min)
        } else {
            min
        };
        (t * 1000.0).round() as u64
    }

    /// The next interval in ms: T_d × a uniform factor in [0.5, 1.5) ÷ (e − 3/2), as §6.3.1
    /// prescribes (so between 0.41 and 1.23 T_d).
    pub fn next_ms(&mut self, p: &IntervalInputs) -> u64 {
        let td = self.deterministic_ms(p) as f64;
        let factor = 0.5 + self.next_unit();
        (td * factor / COMPENSATION).round() as u64
    }

    /// Uniform in [0, 1) from SplitMix64.
    fn next_unit(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}
