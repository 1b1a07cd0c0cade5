//! Telephone audio: 8 kHz G.711 is the normal case. Helpers to decode it, to simulate the
//! telephone channel on wideband recordings (for evaluations), and to bring audio to an
//! embedder's rate.

use serde::{Deserialize, Serialize};
use tympan_audio::g711;
use tympan_audio::pcm::{f32_to_i16, i16_to_f32};
use tympan_audio::resample::resample;

use crate::error::Result;

/// Telephone sample rate, Hz.
pub const TELEPHONE_RATE: u32 = 8_000;

/// A G.711 companding law.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Law {
    /// µ-law (PCMU, North America and Japan).
    Ulaw,
    /// A-law (PCMA, elsewhere).
    Alaw,
}

/// How audio reaches the embedder in an evaluation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The recording as it is.
    Wideband,
    /// Resampled to 8 kHz, quantised to 16 bits and passed through G.711 (encode + decode),
    /// as a phone call delivers it.
    Telephone(Law),
}

/// Decode G.711 bytes (one byte per 8 kHz sample) to float samples in [-1, 1).
pub fn decode_g711(bytes: &[u8], law: Law) -> Vec<f32> {
    let pcm = match law {
        Law::Ulaw => g711::ulaw_decode_slice(bytes),
        Law::Alaw => g711::alaw_decode_slice(bytes),
    };
    pcm.into_iter().map(i16_to_f32).collect()
}

/// Encode float samples as G.711 bytes (rounded and saturated to int16 first).
pub fn encode_g711(samples: &[f32], law: Law) -> Vec<u8> {
    let pcm: Vec<i16> = samples.iter().map(|&x| f32_to_i16(x)).collect();
    match law {
        Law::Ulaw => g711::ulaw_encode_slice(&pcm),
        Law::Alaw => g711::alaw_encode_slice(&pcm),
    }
}

/// The telephone channel: resample `samples` (at `sample_rate`) to 8 kHz, then a G.711
/// encode/decode round trip. Returns 8 kHz samples.
pub fn telephone_round_trip(samples: &[f32], sample_rate: u32, law: Law) -> Result<Vec<f32>> {
    let narrow = if sample_rate == TELEPHONE_RATE {
        samples.to_vec()
    } else {
        resample(samples, sample_rate, TELEPHONE_RATE)?
    };
    Ok(decode_g711(&encode_g711(&narrow, law), law))
}

/// Apply `channel` to mono audio at `sample_rate`; returns the samples and their rate.
pub fn apply_channel(
    samples: &[f32],
    sample_rate: u32,
    channel: Channel,
) -> Result<(Vec<f32>, u32)> {
    match channel {
        Channel::Wideband => Ok((samples.to_vec(), sample_rate)),
        Channel::Telephone(law) => Ok((
            telephone_round_trip(samples, sample_rate, law)?,
            TELEPHONE_RATE,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_8k_and_close_to_the_input() {
        let tone = tympan_audio::synth::sine(16_000, 440.0, 500.0, -10.0);
        let out = telephone_round_trip(&tone, 16_000, Law::Ulaw).unwrap();
        assert_eq!(out.len(), 4000);
        let want = tympan_audio::synth::sine(8_000, 440.0, 500.0, -10.0);
        // µ-law keeps about 38 dB SNR; the resampler's edges aside, the tone survives.
        let (mut err, mut sig) = (0f64, 0f64);
        for (a, b) in out[400..3600].iter().zip(&want[400..3600]) {
            err += ((a - b) as f64).powi(2);
            sig += (*b as f64).powi(2);
        }
        let snr = 10.0 * (sig / err).log10();
        assert!(snr > 30.0, "SNR {snr} dB");
        // The output holds only G.711 reconstruction levels.
        for &x in &out {
            let code = g711::ulaw_encode(f32_to_i16(x));
            assert_eq!(i16_to_f32(g711::ulaw_decode(code)), x);
        }
        let (same, rate) = apply_channel(&tone, 16_000, Channel::Wideband).unwrap();
        assert_eq!((same.len(), rate), (tone.len(), 16_000));
    }

    #[test]
    fn alaw_and_ulaw_decode_differently() {
        let bytes = [0x00u8, 0x55, 0xd5, 0xff];
        assert_ne!(
            decode_g711(&bytes, Law::Ulaw),
            decode_g711(&bytes, Law::Alaw)
        );
        let s = [0.25f32, -0.5];
        for law in [Law::Ulaw, Law::Alaw] {
            let back = decode_g711(&encode_g711(&s, law), law);
            for (a, b) in back.iter().zip(&s) {
                assert!((a - b).abs() < 0.02, "{law:?}: {a} vs {b}");
            }
        }
    }
}
