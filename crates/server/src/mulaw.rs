//! G.711 µ-law for Twilio Media Streams.
//!
//! Stop-gap: `tympan_audio::g711` (being written on another branch) replaces this module once it
//! is on main. Decoding expands sign/3-bit segment/4-bit mantissa with the 0x84 bias; encoding
//! is the inverse on the 14-bit magnitude (the table the ITU reference implementations produce).

/// µ-law bias added before segment search (132 = 0x84).
const BIAS: i32 = 0x84;

/// Decode one µ-law byte to a 16-bit linear sample.
pub fn decode(byte: u8) -> i16 {
    let u = !byte;
    let mantissa = i32::from(u & 0x0F);
    let segment = u32::from((u >> 4) & 0x07);
    let magnitude = (((mantissa << 3) + BIAS) << segment) - BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// Encode one 16-bit linear sample to µ-law.
pub fn encode(sample: i16) -> u8 {
    // Work on the 14-bit value (arithmetic shift keeps -1 as -1).
    let v = i32::from(sample) >> 2;
    let (mag, mask) = if v < 0 { (-v, 0x7Fu8) } else { (v, 0xFFu8) };
    let mag = mag.min(8159) + (BIAS >> 2);
    // Segment = index of the first end point 0x3F, 0x7F, ..., 0x1FFF at or above `mag`.
    let mut segment = 0u32;
    while segment < 8 && mag > (0x40 << segment) - 1 {
        segment += 1;
    }
    if segment >= 8 {
        return 0x7F ^ mask;
    }
    let code = ((segment as u8) << 4) | (((mag >> (segment + 1)) & 0x0F) as u8);
    code ^ mask
}

/// Decode a µ-law payload to floats in [-1, 1].
pub fn decode_to_f32(bytes: &[u8], out: &mut Vec<f32>) {
    out.extend(bytes.iter().map(|&b| f32::from(decode(b)) / 32768.0));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Option<std::path::PathBuf> {
        let p = std::env::var_os("TYMPAN_SHARED")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
            });
        p.join("fixtures/g711").is_dir().then_some(p)
    }

    #[test]
    fn known_values() {
        assert_eq!(decode(0xFF), 0);
        assert_eq!(decode(0x7F), 0);
        assert_eq!(decode(0x00), -32124);
        assert_eq!(decode(0x80), 32124);
        assert_eq!(encode(0), 0xFF);
        assert_eq!(encode(-1), 0x7E);
        assert_eq!(encode(i16::MIN), 0x00);
        assert_eq!(encode(i16::MAX), 0x80);
    }

    #[test]
    fn encode_decode_roundtrip_is_identity_on_codes() {
        for b in 0..=255u8 {
            let back = encode(decode(b));
            // 0x7F (-0) re-encodes as 0xFF (+0); every other code is exact.
            if b == 0x7F {
                assert_eq!(back, 0xFF);
            } else {
                assert_eq!(back, b, "code {b:#04x}");
            }
        }
    }

    #[test]
    fn matches_reference_tables() {
        let Some(root) = shared() else {
            if std::env::var_os("CI").is_some() {
                panic!("../shared/fixtures/g711 not found under CI");
            }
            eprintln!("SKIP: g711 reference tables (../shared/fixtures/g711 not found)");
            return;
        };
        let dec = std::fs::read(root.join("fixtures/g711/ulaw_decode.bin")).unwrap();
        assert_eq!(dec.len(), 512);
        for b in 0..256usize {
            let want = i16::from_le_bytes([dec[2 * b], dec[2 * b + 1]]);
            assert_eq!(decode(b as u8), want, "decode {b:#04x}");
        }
        let enc = std::fs::read(root.join("fixtures/g711/ulaw_encode.bin")).unwrap();
        assert_eq!(enc.len(), 65536);
        for (i, &want) in enc.iter().enumerate() {
            let s = (i as i32 - 32768) as i16;
            assert_eq!(encode(s), want, "encode {s}");
        }
    }
}
