//! Mutations: byte-level (bit flips, insert, delete, replace, interesting values, splices,
//! repeats) and text/JSON/TOML-aware (drop or add quotes and brackets, huge and odd numbers,
//! deep nesting, long strings, odd UTF-8, dictionary tokens).

use crate::Rng;

/// Most bytes one mutation adds (a repeat, a nesting run, a long string).
pub const MAX_GROWTH: usize = 4_096;

/// Bytes that often sit on a boundary.
const INTERESTING_BYTES: &[u8] = &[0x00, 0x01, 0x7f, 0x80, 0xff, b'\n', b'\\', b'"', b'\''];

/// Numbers as text that stress integer and float parsing and range checks.
const INTERESTING_NUMBERS: &[&[u8]] = &[
    b"0",
    b"-0",
    b"-1",
    b"1",
    b"127",
    b"128",
    b"255",
    b"256",
    b"32767",
    b"65535",
    b"65536",
    b"2147483647",
    b"2147483648",
    b"-2147483649",
    b"4294967295",
    b"4294967296",
    b"9223372036854775807",
    b"9223372036854775808",
    b"18446744073709551615",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"1e308",
    b"1e309",
    b"-1e309",
    b"5e-324",
    b"1.7976931348623157e308",
    b"0.1",
    b"1E400",
    b"nan",
    b"inf",
    b"-inf",
    b"+inf",
    b"NaN",
    b"0x10",
    b"1_000",
    b"007",
    b"8000",
    b"16000",
    b"99999999999999999999999999999999999999",
];

/// UTF-8 oddities: multi-byte characters, a lone continuation byte, a truncated sequence, an
/// encoded surrogate, an overlong encoding, a code point above U+10FFFF, BOM, NUL.
const ODD_UTF8: &[&[u8]] = &[
    "é".as_bytes(),
    "€".as_bytes(),
    "😀".as_bytes(),
    "\u{200b}".as_bytes(),
    "\u{feff}".as_bytes(),
    "\u{2028}".as_bytes(),
    b"\x80",
    b"\xc3",
    b"\xe2\x82",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\xf4\x90\x80\x80",
    b"\x00",
    b"\\u0000",
    b"\\ud800",
    b"\\uDFFF\\uD800",
];

/// Structural bytes of JSON and TOML.
const STRUCTURAL: &[u8] = b"{}[]\":,=.'\n#";

/// Apply one random mutation to `buf`; `other` is a second corpus entry for splicing and
/// `dict` the target's tokens.
pub fn mutate(buf: &mut Vec<u8>, other: &[u8], dict: &[&[u8]], rng: &mut Rng) {
    let kinds = 18;
    match rng.below(kinds) {
        0 => bit_flip(buf, rng),
        1 => replace_byte(buf, rng, None),
        2 => replace_byte(buf, rng, Some(INTERESTING_BYTES)),
        3 => insert_bytes(buf, rng),
        4 => delete_range(buf, rng),
        5 => splice(buf, other, rng),
        6 => insert_token(buf, rng, INTERESTING_NUMBERS),
        7 => replace_number(buf, rng),
        8 => {
            if !dict.is_empty() {
                insert_token(buf, rng, dict)
            } else {
                insert_bytes(buf, rng)
            }
        }
        9 => drop_structural(buf, rng),
        10 => {
            let i = rng.below(STRUCTURAL.len());
            insert_token(buf, rng, &[&STRUCTURAL[i..i + 1]])
        }
        11 => nest(buf, rng),
        12 => repeat_range(buf, rng),
        13 => insert_token(buf, rng, ODD_UTF8),
        14 => long_run(buf, rng),
        15 => swap_keyword(buf, rng),
        16 => buf.truncate(rng.below(buf.len() + 1)),
        _ => duplicate_line(buf, rng),
    }
}

fn pos(buf: &[u8], rng: &mut Rng) -> usize {
    rng.below(buf.len() + 1)
}

fn bit_flip(buf: &mut [u8], rng: &mut Rng) {
    if !buf.is_empty() {
        let i = rng.below(buf.len());
        buf[i] ^= 1 << rng.below(8);
    }
}

fn replace_byte(buf: &mut Vec<u8>, rng: &mut Rng, from: Option<&[u8]>) {
    let b = match from {
        Some(set) => set[rng.below(set.len())],
        None => rng.next_u64() as u8,
    };
    if buf.is_empty() {
        buf.push(b);
    } else {
        let i = rng.below(buf.len());
        buf[i] = b;
    }
}

fn insert_bytes(buf: &mut Vec<u8>, rng: &mut Rng) {
    let n = 1 + rng.below(8);
    let at = pos(buf, rng);
    let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
    buf.splice(at..at, bytes);
}

fn delete_range(buf: &mut Vec<u8>, rng: &mut Rng) {
    if buf.is_empty() {
        return;
    }
    let at = rng.below(buf.len());
    let max = (buf.len() - at).min(if rng.chance(1, 4) { 256 } else { 8 });
    let n = 1 + rng.below(max);
    buf.drain(at..at + n);
}

/// Prefix of one entry, suffix of the other, cut at random points.
fn splice(buf: &mut Vec<u8>, other: &[u8], rng: &mut Rng) {
    let a = pos(buf, rng);
    let b = rng.below(other.len() + 1);
    buf.truncate(a);
    buf.extend_from_slice(&other[b..]);
}

fn insert_token(buf: &mut Vec<u8>, rng: &mut Rng, set: &[&[u8]]) {
    let t = set[rng.below(set.len())];
    let at = pos(buf, rng);
    buf.splice(at..at, t.iter().copied());
}

/// Replace a run of digits (a number, an id, a rate) with an interesting number.
fn replace_number(buf: &mut Vec<u8>, rng: &mut Rng) {
    let starts: Vec<usize> = (0..buf.len())
        .filter(|&i| buf[i].is_ascii_digit() && (i == 0 || !buf[i - 1].is_ascii_digit()))
        .collect();
    if starts.is_empty() {
        return insert_token(buf, rng, INTERESTING_NUMBERS);
    }
    let s = starts[rng.below(starts.len())];
    let mut e = s;
    while e < buf.len() && (buf[e].is_ascii_digit() || buf[e] == b'.') {
        e += 1;
    }
    let t = INTERESTING_NUMBERS[rng.below(INTERESTING_NUMBERS.len())];
    buf.splice(s..e, t.iter().copied());
}

/// Remove one quote, brace, bracket, colon, comma or equals sign.
fn drop_structural(buf: &mut Vec<u8>, rng: &mut Rng) {
    let at: Vec<usize> = (0..buf.len())
        .filter(|&i| STRUCTURAL.contains(&buf[i]))
        .collect();
    if !at.is_empty() {
        buf.remove(at[rng.below(at.len())]);
    }
}

/// Wrap a suffix in deep nesting: `[[[…]]]`, `{"a":{"a":…}}` or TOML `a.a.a…` keys, sometimes
/// unbalanced.
fn nest(buf: &mut Vec<u8>, rng: &mut Rng) {
    let max = if rng.chance(1, 3) { 2_000 } else { 200 };
    let depth = 1 + rng.below(max);
    let at = pos(buf, rng);
    let (open, close): (&[u8], &[u8]) = match rng.below(4) {
        0 => (b"[", b"]"),
        1 => (b"{\"a\":", b"}"),
        2 => (b"a.", b""),
        _ => (b"[{", b"}]"),
    };
    let mut ins = Vec::with_capacity(depth * (open.len() + close.len()));
    for _ in 0..depth {
        ins.extend_from_slice(open);
        if ins.len() > MAX_GROWTH {
            break;
        }
    }
    let n = ins.len() / open.len();
    if rng.chance(3, 4) {
        for _ in 0..n {
            ins.extend_from_slice(close);
        }
    }
    buf.splice(at..at, ins);
}

fn repeat_range(buf: &mut Vec<u8>, rng: &mut Rng) {
    if buf.is_empty() {
        return;
    }
    let s = rng.below(buf.len());
    let len = 1 + rng.below((buf.len() - s).min(64));
    let most = (MAX_GROWTH / len).clamp(1, 64);
    let times = 1 + rng.below(most);
    let chunk = buf[s..s + len].to_vec();
    let at = s + len;
    let ins: Vec<u8> = chunk.iter().copied().cycle().take(len * times).collect();
    buf.splice(at..at, ins);
}

/// A run of one character, for length limits (ids of 128+ characters, long `say` texts).
fn long_run(buf: &mut Vec<u8>, rng: &mut Rng) {
    let n = [127, 128, 129, 255, 256, 1_000, 1_001, 4_096][rng.below(8)];
    let c = [b'a', b'x', b'0', b' ', b'.', b'/'][rng.below(6)];
    let at = pos(buf, rng);
    buf.splice(at..at, vec![c; n]);
}

/// Swap one JSON/TOML keyword or a quoted value for another (`true` ↔ `"true"`, `null`, …).
fn swap_keyword(buf: &mut Vec<u8>, rng: &mut Rng) {
    const WORDS: &[&[u8]] = &[
        b"true",
        b"false",
        b"null",
        b"\"\"",
        b"\"true\"",
        b"[]",
        b"{}",
        b"0",
        b"\"1\"",
    ];
    for w in WORDS {
        if let Some(i) = find(buf, w) {
            if rng.chance(1, 2) {
                let r = WORDS[rng.below(WORDS.len())];
                buf.splice(i..i + w.len(), r.iter().copied());
                return;
            }
        }
    }
    insert_token(buf, rng, WORDS);
}

fn duplicate_line(buf: &mut Vec<u8>, rng: &mut Rng) {
    let lines: Vec<usize> = std::iter::once(0)
        .chain((0..buf.len()).filter(|&i| buf[i] == b'\n').map(|i| i + 1))
        .filter(|&i| i < buf.len())
        .collect();
    if lines.is_empty() {
        return;
    }
    let s = lines[rng.below(lines.len())];
    let e = buf[s..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(buf.len(), |p| s + p + 1);
    let line = buf[s..e].to_vec();
    let at = if rng.chance(1, 2) { e } else { buf.len() };
    buf.splice(at..at, line);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mutation_kind_runs_and_growth_is_bounded() {
        let mut rng = Rng::new(11);
        let seed = br#"{"content-type":"audio/l16;rate=16000","uuid":"abc","amd":{"x":1}}"#;
        let mut changed = 0;
        for _ in 0..20_000 {
            let mut b = seed.to_vec();
            mutate(&mut b, b"[1,2]\nkey = 3\n", &[b"uuid"], &mut rng);
            assert!(b.len() <= seed.len() + 2 * MAX_GROWTH + 16, "{}", b.len());
            if b != seed {
                changed += 1;
            }
        }
        // Almost every mutation changes the input (a few are no-ops by chance).
        assert!(changed > 18_000, "{changed}");
    }

    #[test]
    fn empty_input_survives_every_mutation() {
        let mut rng = Rng::new(5);
        for _ in 0..5_000 {
            let mut b = Vec::new();
            mutate(&mut b, b"", &[], &mut rng);
        }
    }

    #[test]
    fn numbers_are_replaced_whole() {
        let mut rng = Rng::new(1);
        let mut saw_huge = false;
        for _ in 0..200 {
            let mut b = b"rate=8000;".to_vec();
            replace_number(&mut b, &mut rng);
            assert!(b.starts_with(b"rate=") && b.ends_with(b";"), "{b:?}");
            saw_huge |= b == b"rate=18446744073709551616;";
        }
        assert!(saw_huge);
    }
}
