//! G.711 companding: µ-law and A-law, int16 <-> 8-bit code, bit-exact with the ITU-T
//! reference tables in `shared/fixtures/g711`. µ-law works on the sample shifted down to 14
//! bits (arithmetic shift, then magnitude); A-law on the top 13 bits, taking negative inputs
//! as their one's complement. Decoders return the reconstruction level at the middle of each
//! quantisation step.

/// Bias added to the 14-bit magnitude before µ-law segment search.
const ULAW_BIAS: i32 = 33;
/// Largest biased 14-bit magnitude µ-law can represent.
const ULAW_CLIP: i32 = 0x1FFF;

/// Encode one int16 sample to a µ-law code.
pub fn ulaw_encode(x: i16) -> u8 {
    let negative = x < 0;
    // Work on 14 bits: arithmetic shift first, then take the magnitude (so -1..-4 map to 1).
    let q = (x as i32) >> 2;
    let mag = if negative { -q } else { q };
    let biased = (mag + ULAW_BIAS).min(ULAW_CLIP);
    // Segment: 1 + position of the highest set bit above bit 5.
    let mut seg = 1;
    let mut top = biased >> 6;
    while top != 0 {
        seg += 1;
        top >>= 1;
    }
    let high = (8 - seg) as u8;
    let low = 0x0F - ((biased >> seg) & 0x0F) as u8;
    let code = (high << 4) | low;
    if negative {
        code
    } else {
        code | 0x80
    }
}

/// Decode one µ-law code to an int16 sample.
pub fn ulaw_decode(code: u8) -> i16 {
    let inv = !code;
    let exponent = ((inv >> 4) & 0x07) as i32;
    let mantissa = (inv & 0x0F) as i32;
    let step = 4 << (exponent + 1);
    let mag = (0x80 << exponent) + step * mantissa + step / 2 - 4 * ULAW_BIAS;
    if code & 0x80 == 0 {
        -mag as i16
    } else {
        mag as i16
    }
}

/// Encode one int16 sample to an A-law code (even bits inverted, as transmitted).
pub fn alaw_encode(x: i16) -> u8 {
    let negative = x < 0;
    let mut mag = if negative {
        !(x as i32) >> 4
    } else {
        (x as i32) >> 4
    };
    if mag > 15 {
        let mut exp = 1;
        while mag > 31 {
            mag >>= 1;
            exp += 1;
        }
        mag = (mag - 16) + (exp << 4);
    }
    let code = if negative { mag } else { mag | 0x80 } as u8;
    code ^ 0x55
}

/// Decode one A-law code to an int16 sample.
pub fn alaw_decode(code: u8) -> i16 {
    let v = (code ^ 0x55) & 0x7F;
    let exp = (v >> 4) as i32;
    let mut mant = (v & 0x0F) as i32;
    if exp > 0 {
        mant += 16;
    }
    mant = (mant << 4) + 8;
    if exp > 1 {
        mant <<= exp - 1;
    }
    if code & 0x80 != 0 {
        mant as i16
    } else {
        -mant as i16
    }
}

/// Encode int16 samples to µ-law codes.
pub fn ulaw_encode_slice(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| ulaw_encode(s)).collect()
}

/// Decode µ-law codes to int16 samples.
pub fn ulaw_decode_slice(codes: &[u8]) -> Vec<i16> {
    codes.iter().map(|&c| ulaw_decode(c)).collect()
}

/// Encode int16 samples to A-law codes.
pub fn alaw_encode_slice(samples: &[i16]) -> Vec<u8> {
    samples.iter().map(|&s| alaw_encode(s)).collect()
}

/// Decode A-law codes to int16 samples.
pub fn alaw_decode_slice(codes: &[u8]) -> Vec<i16> {
    codes.iter().map(|&c| alaw_decode(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoders_are_odd_symmetric_and_round_trip() {
        for code in 0..=255u8 {
            assert_eq!(
                ulaw_encode(ulaw_decode(code)),
                if code == 0x7F { 0xFF } else { code }
            );
            assert_eq!(alaw_encode(alaw_decode(code)), code);
        }
        assert_eq!(ulaw_decode(0xFF), 0);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(alaw_decode(0xD5), 8);
    }
}
