//! The RTCP side of one call's RTP session, sans I/O: when to report (RFC 3550 §6.3.1, the
//! interval randomised from a caller-seeded generator), what to send (an SR when we sent RTP
//! since our last report, else an RR, with SDES CNAME; a BYE at the end) and what the peer's
//! reports say (fraction lost, cumulative lost, interarrival jitter, round-trip time from
//! LSR/DLSR) — the media quality of the call.
//!
//! The shell owns the RTCP socket and the clocks: it passes `now_ms` (its monotonic clock)
//! and the 64-bit NTP wall-clock time of the same instant, sends what [`RtcpAgent::poll_report`]
//! and [`RtcpAgent::bye`] return and feeds what arrives to [`RtcpAgent::handle`].

use super::jitter::ReceptionStats;
use super::rtcp::{
    round_trip_ms, Block, IntervalInputs, Report, ReportInterval, RtcpError, RtcpSession,
    SenderInfo,
};

/// RTCP bandwidth of a G.711 call, bytes per second: 5 % (RFC 3550 §6.2) of 80 kbit/s
/// (64 kbit/s of payload plus RTP/UDP/IP headers at 50 packets per second).
pub const G711_RTCP_BANDWIDTH: f64 = 0.05 * 80_000.0 / 8.0;
/// Size assumed for our first compound (SR + one block + SDES, with IP/UDP headers), bytes.
pub const INITIAL_RTCP_SIZE: usize = 100;
/// Round-trip times above this are refused as nonsense (a peer's wrong DLSR, or an LSR
/// that is not ours), ms.
pub const MAX_RTT_MS: f64 = 10_000.0;

/// What we sent, for the sender info of an SR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendStats {
    /// RTP packets sent so far.
    pub packets: u32,
    /// Payload octets sent so far.
    pub octets: u32,
    /// The RTP timestamp of the instant of the report (our media clock extrapolated).
    pub rtp_timestamp: u32,
}

/// One direction's figures, as a report block gives them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamQuality {
    /// Fraction of packets lost since the previous report, 0..1 (the block's n/256).
    pub fraction_lost: f64,
    /// Packets lost since the start (negative with duplicates).
    pub cumulative_lost: i32,
    /// Interarrival jitter, ms.
    pub jitter_ms: f64,
    /// Extended highest sequence number received.
    pub extended_highest_seq: u32,
}

impl StreamQuality {
    fn of(b: &Block, clock_rate: u32) -> StreamQuality {
        StreamQuality {
            fraction_lost: f64::from(b.fraction_lost) / 256.0,
            cumulative_lost: b.cumulative_lost,
            jitter_ms: f64::from(b.jitter) * 1000.0 / f64::from(clock_rate.max(1)),
            extended_highest_seq: b.extended_highest_seq,
        }
    }
}

/// What RTCP told us about the call so far.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Quality {
    /// Compounds we sent (reports and the BYE).
    pub reports_sent: u64,
    /// Compounds received that parsed.
    pub reports_received: u64,
    /// Datagrams received on the RTCP port that did not parse.
    pub bad_packets: u64,
    /// The peer's SSRC (from its last SR/RR).
    pub remote_ssrc: Option<u32>,
    /// The peer's SDES CNAME.
    pub remote_cname: Option<String>,
    /// The peer's view of our stream: its last report block about our SSRC.
    pub remote: Option<StreamQuality>,
    /// Round-trip time from the peer's last block with an LSR (RFC 3550 §6.4.1), ms.
    pub rtt_ms: Option<f64>,
    /// Our view of the peer's stream, as in our last report.
    pub local: Option<StreamQuality>,
    /// RTP packets received from the peer's source (duplicates not counted), as of our
    /// last report.
    pub packets_received: u64,
    /// Packets the peer says it sent (its last SR).
    pub remote_packets_sent: Option<u32>,
    /// The peer sent an RTCP BYE.
    pub bye_received: bool,
}

/// RTCP for one RTP session of two members (us and the peer). See the module docs.
#[derive(Debug, Clone)]
pub struct RtcpAgent {
    session: RtcpSession,
    interval: ReportInterval,
    clock_rate: u32,
    next_at: Option<u64>,
    initial: bool,
    packets_at_last_report: u32,
    peer_sent: bool,
    quality: Quality,
}

impl RtcpAgent {
    /// An agent for our `ssrc` and `cname`, RTP at `clock_rate`; `seed` drives the interval's
    /// randomisation; the first report is due one (halved, §6.3.1) interval after `now_ms`.
    pub fn new(ssrc: u32, cname: &str, clock_rate: u32, seed: u64, now_ms: u64) -> RtcpAgent {
        let mut a = RtcpAgent {
            session: RtcpSession::new(ssrc, cname),
            interval: ReportInterval::new(INITIAL_RTCP_SIZE, seed),
            clock_rate,
            next_at: None,
            initial: true,
            packets_at_last_report: 0,
            peer_sent: false,
            quality: Quality::default(),
        };
        a.schedule(now_ms, false);
        a
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.session.ssrc()
    }

    /// When the next report is due; `None` once the BYE went.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.next_at
    }

    /// The figures so far.
    pub fn quality(&self) -> &Quality {
        &self.quality
    }

    fn inputs(&self, we_sent: bool) -> IntervalInputs {
        IntervalInputs {
            members: 2,
            senders: u32::from(we_sent) + u32::from(self.peer_sent),
            rtcp_bandwidth: G711_RTCP_BANDWIDTH,
            we_sent,
            initial: self.initial,
        }
    }

    fn schedule(&mut self, now_ms: u64, we_sent: bool) {
        let p = self.inputs(we_sent);
        self.next_at = Some(now_ms + self.interval.next_ms(&p).max(1));
    }

    /// The compound due at `now_ms` (`None` before [`Self::poll_timeout`] or after the
    /// BYE): an SR when RTP went out since our last report, else an RR, with one block
    /// about the peer's source when we heard it (`reception`), and SDES CNAME.
    pub fn poll_report(
        &mut self,
        now_ms: u64,
        ntp_now: u64,
        sent: SendStats,
        reception: Option<(u32, ReceptionStats)>,
    ) -> Option<Result<Vec<u8>, RtcpError>> {
        if self.next_at.is_none_or(|t| now_ms < t) {
            return None;
        }
        let we_sent = sent.packets != self.packets_at_last_report;
        let r = self.compound(now_ms, ntp_now, sent, reception, None);
        self.initial = false;
        self.schedule(now_ms, we_sent);
        self.peer_sent = false;
        Some(r)
    }

    /// The last compound (RFC 3550 §6.6): report, SDES and BYE with `reason`; no report is
    /// due afterwards.
    pub fn bye(
        &mut self,
        now_ms: u64,
        ntp_now: u64,
        sent: SendStats,
        reception: Option<(u32, ReceptionStats)>,
        reason: Option<&str>,
    ) -> Result<Vec<u8>, RtcpError> {
        self.next_at = None;
        self.compound(now_ms, ntp_now, sent, reception, Some(reason.unwrap_or("")))
    }

    fn compound(
        &mut self,
        now_ms: u64,
        ntp_now: u64,
        sent: SendStats,
        reception: Option<(u32, ReceptionStats)>,
        bye: Option<&str>,
    ) -> Result<Vec<u8>, RtcpError> {
        let we_sent = sent.packets != self.packets_at_last_report;
        self.packets_at_last_report = sent.packets;
        let info = we_sent.then_some(SenderInfo {
            ntp_timestamp: ntp_now,
            rtp_timestamp: sent.rtp_timestamp,
            packet_count: sent.packets,
            octet_count: sent.octets,
        });
        let blocks: Vec<Block> = reception
            .filter(|(_, r)| r.received > 0)
            .map(|(ssrc, r)| self.session.block(ssrc, &r, now_ms))
            .into_iter()
            .collect();
        if let Some(b) = blocks.first() {
            self.quality.local = Some(StreamQuality::of(b, self.clock_rate));
        }
        if let Some((_, r)) = reception {
            self.quality.packets_received = r.received;
        }
        let bytes = match bye {
            Some(reason) => {
                self.session
                    .build_bye(info, &blocks, (!reason.is_empty()).then_some(reason))?
            }
            None => self.session.build(info, &blocks)?,
        };
        self.interval.observe(bytes.len());
        self.quality.reports_sent += 1;
        Ok(bytes)
    }

    /// A datagram from the peer's RTCP port at `now_ms` (NTP `ntp_now`): its reports update
    /// the figures; one that does not parse is counted in `bad_packets` and returned.
    pub fn handle(&mut self, data: &[u8], now_ms: u64, ntp_now: u64) -> Result<(), RtcpError> {
        let reports = match self.session.handle(data, now_ms) {
            Ok(r) => r,
            Err(e) => {
                self.quality.bad_packets += 1;
                return Err(e);
            }
        };
        self.interval.observe(data.len());
        self.quality.reports_received += 1;
        let ours = self.session.ssrc();
        for r in reports {
            let blocks = match r {
                Report::Sender { ssrc, info, blocks } => {
                    self.quality.remote_ssrc = Some(ssrc);
                    self.quality.remote_packets_sent = Some(info.packet_count);
                    self.peer_sent = true;
                    blocks
                }
                Report::Receiver { ssrc, blocks } => {
                    self.quality.remote_ssrc = Some(ssrc);
                    blocks
                }
                Report::Cname { cname, .. } => {
                    self.quality.remote_cname = Some(cname);
                    continue;
                }
                Report::Bye { .. } => {
                    self.quality.bye_received = true;
                    continue;
                }
                Report::Other { .. } => continue,
            };
            for b in blocks.iter().filter(|b| b.ssrc == ours) {
                self.quality.remote = Some(StreamQuality::of(b, self.clock_rate));
                if let Some(rtt) = round_trip_ms(b, ntp_now).filter(|r| *r <= MAX_RTT_MS) {
                    self.quality.rtt_ms = Some(rtt);
                }
            }
        }
        Ok(())
    }
}
