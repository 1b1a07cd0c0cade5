//! WAV writing: 16-bit PCM, µ-law and A-law (format tags 1, 7, 6).

use crate::pcm::f32_to_i16;
use crate::{g711, Audio};

/// Output sample encoding for [`encode_wav`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// 16-bit signed little-endian PCM (format tag 1).
    Pcm16,
    /// G.711 µ-law, 8 bits per sample (format tag 7, with a `fact` chunk).
    Ulaw,
    /// G.711 A-law, 8 bits per sample (format tag 6, with a `fact` chunk).
    Alaw,
}

impl Codec {
    /// Parse `pcm16`, `ulaw` (or `mulaw`), `alaw`.
    pub fn parse(s: &str) -> Option<Codec> {
        match s.to_ascii_lowercase().as_str() {
            "pcm16" | "s16" | "pcm" => Some(Codec::Pcm16),
            "ulaw" | "mulaw" | "u-law" | "mu-law" => Some(Codec::Ulaw),
            "alaw" | "a-law" => Some(Codec::Alaw),
            _ => None,
        }
    }
}

/// Encode `audio` as a WAV file. Samples are rounded and saturated to int16 first; for µ-law
/// and A-law the int16 values are then companded with [`crate::g711`]. Channels are
/// interleaved; a channel shorter than the first is padded with silence.
///
/// A file whose data would exceed the 4 GiB RIFF limit is not representable; callers keep
/// whole-file audio far below that (see `decode::MAX_DURATION_S`).
pub fn encode_wav(audio: &Audio, codec: Codec) -> Vec<u8> {
    let ch = audio.channels.len().max(1);
    let frames = audio.frames();
    let (tag, bytes_per_sample): (u16, usize) = match codec {
        Codec::Pcm16 => (1, 2),
        Codec::Ulaw => (7, 1),
        Codec::Alaw => (6, 1),
    };
    let data_len = frames * ch * bytes_per_sample;
    let companded = codec != Codec::Pcm16;
    // fmt chunk: 16 bytes for PCM, 18 (with cbSize = 0) for the non-PCM tags.
    let fmt_len: u32 = if companded { 18 } else { 16 };
    let fact_len = if companded { 12 } else { 0 };
    let pad = data_len % 2;
    let riff_len = 4 + (8 + fmt_len as usize) + fact_len + 8 + data_len + pad;
    let mut out = Vec::with_capacity(8 + riff_len);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(riff_len as u32).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&fmt_len.to_le_bytes());
    out.extend_from_slice(&tag.to_le_bytes());
    out.extend_from_slice(&(ch as u16).to_le_bytes());
    out.extend_from_slice(&audio.sample_rate.to_le_bytes());
    let block_align = (ch * bytes_per_sample) as u16;
    out.extend_from_slice(&(audio.sample_rate * block_align as u32).to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&((bytes_per_sample * 8) as u16).to_le_bytes());
    if companded {
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(b"fact");
        out.extend_from_slice(&4u32.to_le_bytes());
        out.extend_from_slice(&(frames as u32).to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data_len as u32).to_le_bytes());
    for i in 0..frames {
        for c in 0..ch {
            let x = audio
                .channels
                .get(c)
                .and_then(|v| v.get(i))
                .copied()
                .unwrap_or(0.0);
            let s = f32_to_i16(x);
            match codec {
                Codec::Pcm16 => out.extend_from_slice(&s.to_le_bytes()),
                Codec::Ulaw => out.push(g711::ulaw_encode(s)),
                Codec::Alaw => out.push(g711::alaw_encode(s)),
            }
        }
    }
    if pad == 1 {
        out.push(0);
    }
    out
}
