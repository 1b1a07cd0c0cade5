//! G.711 against the CCITT reference tables in ../shared/fixtures/g711.

mod decode_common;

use tympan_audio::g711::{alaw_decode, alaw_encode, ulaw_decode, ulaw_encode};

fn table(name: &str) -> Option<Vec<u8>> {
    let dir = decode_common::shared_dir("fixtures/g711")?;
    Some(std::fs::read(dir.join("fixtures/g711").join(name)).expect("read table"))
}

/// Encode tables hold one code per int16, indexed by `x + 32768` (offset binary).
fn check_encode(name: &str, enc: fn(i16) -> u8) {
    let Some(t) = table(name) else { return };
    assert_eq!(t.len(), 65536);
    let mut mismatches = 0;
    for x in i16::MIN..=i16::MAX {
        let want = t[(x as i32 + 32768) as usize];
        let got = enc(x);
        if got != want {
            if mismatches < 5 {
                eprintln!("{name}: x={x} want {want:#04x} got {got:#04x}");
            }
            mismatches += 1;
        }
    }
    assert_eq!(
        mismatches, 0,
        "{name}: {mismatches} int16 values encode differently"
    );
}

/// Decode tables hold 256 little-endian int16 values indexed by code.
fn check_decode(name: &str, dec: fn(u8) -> i16) {
    let Some(t) = table(name) else { return };
    assert_eq!(t.len(), 512);
    for code in 0..=255u8 {
        let i = code as usize * 2;
        let want = i16::from_le_bytes([t[i], t[i + 1]]);
        assert_eq!(dec(code), want, "{name}: code {code:#04x}");
    }
}

#[test]
fn ulaw_encode_matches_reference_for_every_int16() {
    check_encode("ulaw_encode.bin", ulaw_encode);
}

#[test]
fn alaw_encode_matches_reference_for_every_int16() {
    check_encode("alaw_encode.bin", alaw_encode);
}

#[test]
fn ulaw_decode_matches_reference_for_every_code() {
    check_decode("ulaw_decode.bin", ulaw_decode);
}

#[test]
fn alaw_decode_matches_reference_for_every_code() {
    check_decode("alaw_decode.bin", alaw_decode);
}

#[test]
fn encode_is_monotonic_in_decoded_value() {
    // Independent of the fixtures: decoding an encoded value never moves away from the input
    // by more than half of the largest quantisation step, and larger inputs never decode lower.
    let mut prev_u = i16::MIN;
    let mut prev_a = i16::MIN;
    for x in i16::MIN..=i16::MAX {
        let u = ulaw_decode(ulaw_encode(x));
        let a = alaw_decode(alaw_encode(x));
        assert!(u >= prev_u && a >= prev_a, "non-monotonic at {x}");
        assert!(
            (u as i32 - x as i32).abs() <= 1024,
            "µ-law error too big at {x}"
        );
        assert!(
            (a as i32 - x as i32).abs() <= 1024,
            "A-law error too big at {x}"
        );
        prev_u = u;
        prev_a = a;
    }
}
