//! An RTP sender: stamps sequence numbers, timestamps and the SSRC, sets the marker bit on
//! the first packet of each talkspurt, and counts packets and octets for RTCP.
//!
//! Initial values are the caller's (RFC 3550 wants them random; the shell draws them, the
//! core stays deterministic).

use super::packet::{RtpError, RtpPacket};

/// Initial state of a sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// Our synchronisation source.
    pub ssrc: u32,
    /// Sequence number of the first packet.
    pub initial_sequence: u16,
    /// RTP timestamp of the first sample.
    pub initial_timestamp: u32,
    /// Payload type of audio packets.
    pub payload_type: u8,
}

/// Builds the RTP packets of one outgoing stream.
#[derive(Debug, Clone)]
pub struct RtpSender {
    config: SenderConfig,
    next_sequence: u16,
    /// Timestamp of the next audio sample to send.
    next_timestamp: u32,
    talkspurt_start: bool,
    packets_sent: u32,
    octets_sent: u32,
}

impl RtpSender {
    /// A sender whose first packet carries the configured sequence number and timestamp and
    /// the marker bit.
    pub fn new(config: SenderConfig) -> RtpSender {
        RtpSender {
            config,
            next_sequence: config.initial_sequence,
            next_timestamp: config.initial_timestamp,
            talkspurt_start: true,
            packets_sent: 0,
            octets_sent: 0,
        }
    }

    /// Our SSRC.
    pub fn ssrc(&self) -> u32 {
        self.config.ssrc
    }

    /// Timestamp the next audio packet will carry.
    pub fn next_timestamp(&self) -> u32 {
        self.next_timestamp
    }

    /// Sequence number the next packet will carry.
    pub fn next_sequence(&self) -> u16 {
        self.next_sequence
    }

    /// Packets sent so far (the SR sender's packet count).
    pub fn packets_sent(&self) -> u32 {
        self.packets_sent
    }

    /// Payload octets sent so far (the SR sender's octet count).
    pub fn octets_sent(&self) -> u32 {
        self.octets_sent
    }

    /// Sends one audio packet of `samples` samples; the timestamp then advances by `samples`.
    /// The first packet after [`RtpSender::new`] or [`RtpSender::skip`] carries the marker.
    pub fn audio(&mut self, payload: Vec<u8>, samples: u32) -> Result<Vec<u8>, RtpError> {
        let marker = std::mem::replace(&mut self.talkspurt_start, false);
        let ts = self.next_timestamp;
        let bytes = self.packet(self.config.payload_type, marker, ts, payload)?;
        self.next_timestamp = self.next_timestamp.wrapping_add(samples);
        Ok(bytes)
    }

    /// Advances the media clock by `samples` without sending (silence suppression, hold);
    /// the next audio packet starts a talkspurt and carries the marker bit.
    pub fn skip(&mut self, samples: u32) {
        self.next_timestamp = self.next_timestamp.wrapping_add(samples);
        self.talkspurt_start = true;
    }

    /// Sends a packet with explicit payload type, marker and timestamp, sharing the sequence
    /// space of the stream (RFC 4733 events use it). Does not advance the audio timestamp.
    pub fn packet(
        &mut self,
        payload_type: u8,
        marker: bool,
        timestamp: u32,
        payload: Vec<u8>,
    ) -> Result<Vec<u8>, RtpError> {
        let len = payload.len() as u32;
        let bytes = RtpPacket {
            marker,
            payload_type,
            sequence: self.next_sequence,
            timestamp,
            ssrc: self.config.ssrc,
            csrcs: Vec::new(),
            payload,
        }
        .to_bytes()?;
        self.next_sequence = self.next_sequence.wrapping_add(1);
        self.packets_sent = self.packets_sent.wrapping_add(1);
        self.octets_sent = self.octets_sent.wrapping_add(len);
        Ok(bytes)
    }
}
