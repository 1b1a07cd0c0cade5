//! RTP packets (RFC 3550 §5.1) behind a small owned facade over `rtp-types`.

use thiserror::Error;

/// Size of the fixed RTP header in bytes.
pub const FIXED_HEADER_LEN: usize = 12;
/// Largest RTP packet we parse or build, in bytes (a UDP datagram over Ethernet without
/// fragmentation is far smaller; this only bounds allocations).
pub const MAX_PACKET_LEN: usize = 1500;

/// Why an RTP packet was refused, naming the field and the byte offset where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtpError {
    /// The datagram ends before a field it announces.
    #[error("RTP packet truncated in the {field} at byte offset {offset}: {needed} bytes needed, {len} present")]
    Truncated {
        /// Field that does not fit ("fixed header", "CSRC list", "extension header",
        /// "extension data", "padding").
        field: &'static str,
        /// Byte offset where the datagram ends (its length).
        offset: usize,
        /// Bytes the field needs from the start of the datagram.
        needed: usize,
        /// Bytes present.
        len: usize,
    },
    /// Version bits (byte 0, bits 0-1) are not 2.
    #[error("RTP version {found} at byte offset 0 (only version 2 is supported)")]
    Version {
        /// Version found.
        found: u8,
    },
    /// The padding count in the last byte is zero or larger than the payload.
    #[error("RTP padding count {count} at byte offset {offset} is invalid")]
    Padding {
        /// Padding count found.
        count: u8,
        /// Offset of the padding count byte (the last byte).
        offset: usize,
    },
    /// Datagram larger than [`MAX_PACKET_LEN`].
    #[error("RTP packet of {len} bytes exceeds the limit of {MAX_PACKET_LEN} bytes")]
    TooLarge {
        /// Datagram length.
        len: usize,
    },
    /// A payload type outside 0..=127 was given to the builder.
    #[error("RTP payload type {0} is outside 0..=127")]
    PayloadType(u8),
    /// More than 15 CSRCs were given to the builder.
    #[error("{0} CSRCs exceed the limit of 15")]
    TooManyCsrcs(usize),
}

/// An RTP packet with its header fields and payload (padding removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    /// Marker bit (start of a talkspurt for audio, start of an event for RFC 4733).
    pub marker: bool,
    /// Payload type, 0..=127.
    pub payload_type: u8,
    /// Sequence number.
    pub sequence: u16,
    /// RTP timestamp (media clock).
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Contributing sources.
    pub csrcs: Vec<u32>,
    /// Payload bytes, without header extension or padding.
    pub payload: Vec<u8>,
}

impl RtpPacket {
    /// Parses one RTP datagram. Header extensions are skipped, padding removed.
    pub fn parse(data: &[u8]) -> Result<RtpPacket, RtpError> {
        if data.len() > MAX_PACKET_LEN {
            return Err(RtpError::TooLarge { len: data.len() });
        }
        match rtp_types::RtpPacket::parse(data) {
            Ok(p) => Ok(RtpPacket {
                marker: p.marker_bit(),
                payload_type: p.payload_type(),
                sequence: p.sequence_number(),
                timestamp: p.timestamp(),
                ssrc: p.ssrc(),
                csrcs: p.csrc().collect(),
                payload: p.payload().to_vec(),
            }),
            Err(rtp_types::RtpParseError::UnsupportedVersion(v)) => {
                Err(RtpError::Version { found: v })
            }
            Err(rtp_types::RtpParseError::PaddingInvalid(count)) => Err(RtpError::Padding {
                count,
                offset: data.len().saturating_sub(1),
            }),
            Err(rtp_types::RtpParseError::Truncated { expected, actual }) => {
                Err(RtpError::Truncated {
                    field: truncated_field(data, expected),
                    offset: actual,
                    needed: expected,
                    len: actual,
                })
            }
        }
    }

    /// Serialises the packet (no extension, no padding).
    pub fn to_bytes(&self) -> Result<Vec<u8>, RtpError> {
        if self.payload_type > 127 {
            return Err(RtpError::PayloadType(self.payload_type));
        }
        if self.csrcs.len() > 15 {
            return Err(RtpError::TooManyCsrcs(self.csrcs.len()));
        }
        let mut b = rtp_types::RtpPacketBuilder::<&[u8], &[u8]>::new()
            .marker_bit(self.marker)
            .payload_type(self.payload_type)
            .sequence_number(self.sequence)
            .timestamp(self.timestamp)
            .ssrc(self.ssrc)
            .payload(self.payload.as_slice());
        for &c in &self.csrcs {
            b = b.add_csrc(c);
        }
        let len = FIXED_HEADER_LEN + 4 * self.csrcs.len() + self.payload.len();
        if len > MAX_PACKET_LEN {
            return Err(RtpError::TooLarge { len });
        }
        b.write_vec().map_err(|e| match e {
            rtp_types::RtpWriteError::InvalidPayloadType(pt) => RtpError::PayloadType(pt),
            rtp_types::RtpWriteError::TooManyContributionSources(n) => RtpError::TooManyCsrcs(n),
            _ => RtpError::TooLarge { len },
        })
    }
}

/// Names the field whose end `expected` marks, from the header bits that are present.
fn truncated_field(data: &[u8], expected: usize) -> &'static str {
    if data.len() < FIXED_HEADER_LEN || expected <= FIXED_HEADER_LEN {
        return "fixed header";
    }
    let cc = (data[0] & 0x0f) as usize;
    let ext_offset = FIXED_HEADER_LEN + 4 * cc;
    let has_ext = data[0] & 0x10 != 0;
    if cc > 0 && expected == ext_offset {
        "CSRC list"
    } else if has_ext && expected == ext_offset + 4 {
        "extension header"
    } else if has_ext
        && data.len() >= ext_offset + 4
        && expected
            == ext_offset
                + 4
                + 4 * u16::from_be_bytes([data[ext_offset + 2], data[ext_offset + 3]]) as usize
    {
        "extension data"
    } else {
        "padding"
    }
}
