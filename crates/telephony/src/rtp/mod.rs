//! RTP media for G.711 calls, sans I/O: packets (a facade over `rtp-types`), G.711 payloads,
//! a deterministic sender, RFC 4733 telephone-events, an adaptive jitter buffer whose output
//! is timed by RTP timestamps, and RTCP sender/receiver reports (on `rtcp-types`).
//!
//! Nothing here reads a clock, draws randomness or touches a socket: arrival and playout
//! times are the caller's `now_ms`, initial sequence numbers, timestamps, SSRCs and the
//! report-interval seed are given by the caller.

pub mod dtmf;
pub mod g711;
pub mod jitter;
pub mod packet;
pub mod quality;
pub mod rtcp;
pub mod sender;

pub use g711::{decode_payload, encode_payload};
pub use packet::{RtpError, RtpPacket};
pub use sender::{RtpSender, SenderConfig};

/// RTP clock rate of G.711 (and of telephone-events sent alongside it), in Hz.
pub const CLOCK_RATE: u32 = 8000;
/// Duration of one audio frame, in milliseconds (ptime 20).
pub const FRAME_MS: u32 = 20;
/// Samples in one 20 ms frame at 8 kHz.
pub const FRAME_SAMPLES: usize = (CLOCK_RATE * FRAME_MS / 1000) as usize;
