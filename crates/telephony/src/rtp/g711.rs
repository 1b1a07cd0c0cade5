//! G.711 payloads (PCMU, payload type 0; PCMA, payload type 8) to and from 16-bit PCM.

use crate::sdp::Codec;
use tympan_audio::g711;

/// Encodes 16-bit PCM at 8 kHz to a G.711 payload (one byte per sample).
pub fn encode_payload(codec: Codec, pcm: &[i16]) -> Vec<u8> {
    match codec {
        Codec::Pcmu => g711::ulaw_encode_slice(pcm),
        Codec::Pcma => g711::alaw_encode_slice(pcm),
    }
}

/// Decodes a G.711 payload to 16-bit PCM at 8 kHz.
pub fn decode_payload(codec: Codec, payload: &[u8]) -> Vec<i16> {
    match codec {
        Codec::Pcmu => g711::ulaw_decode_slice(payload),
        Codec::Pcma => g711::alaw_decode_slice(payload),
    }
}

/// The G.711 codec of a static payload type (0 → PCMU, 8 → PCMA).
pub fn codec_of_static_pt(pt: u8) -> Option<Codec> {
    match pt {
        0 => Some(Codec::Pcmu),
        8 => Some(Codec::Pcma),
        _ => None,
    }
}
