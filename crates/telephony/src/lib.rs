//! Telephony protocol cores for Tympan, sans I/O: SIP message syntax (a facade over
//! `ezk-sip-types`) with TCP framing, the RFC 3261 transaction layer, dialogs and digest
//! authentication, SDP offer/answer, and RTP/RTCP with RFC 4733 events and a jitter buffer.
//!
//! Nothing here reads a clock or touches a socket: inputs are bytes, parsed messages and the
//! shell's `now_ms`; outputs are messages to send, events and the next timer deadline.

pub mod dialog;
pub mod digest;
pub mod rtp;
pub mod sdp;
pub mod sip;
pub mod transaction;
