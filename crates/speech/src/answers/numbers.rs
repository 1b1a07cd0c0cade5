//! Spoken numbers: cardinals ("a hundred and three"), digit strings ("two five", "oh seven",
//! "double five"), decimals ("three point five", "point forty two"), fractions ("and a half"),
//! ordinals ("twenty first", "21st"), and the reverse (spelling a number in words).

use std::fmt;

/// The largest magnitude a number answer may have (just under a trillion): twelve digits.
pub const MAX_NUMBER: i64 = 999_999_999_999;
/// The most digits after the decimal point a number answer may have.
pub const MAX_FRACTION_DIGITS: usize = 6;
/// The most integer digits (leading zeros included) a spoken or keyed number may have.
pub const MAX_INTEGER_DIGITS: usize = 12;

/// Digit names, 0–9 (shared with the synthesizer's `say-as` normalisation).
pub(crate) const UNITS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];
/// 10–19 in words.
pub(crate) const TEENS: [&str; 10] = [
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
/// 20, 30, … 90 in words.
pub(crate) const TENS: [&str; 8] = [
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const SCALES: [(&str, u64); 3] = [
    ("thousand", 1_000),
    ("million", 1_000_000),
    ("billion", 1_000_000_000),
];
const ORDINAL_UNITS: [&str; 10] = [
    "zeroth", "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
];
const ORDINAL_TEENS: [&str; 10] = [
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
];
const ORDINAL_TENS: [&str; 8] = [
    "twentieth",
    "thirtieth",
    "fortieth",
    "fiftieth",
    "sixtieth",
    "seventieth",
    "eightieth",
    "ninetieth",
];
const ORDINAL_SCALES: [(&str, &str); 4] = [
    ("hundredth", "hundred"),
    ("thousandth", "thousand"),
    ("millionth", "million"),
    ("billionth", "billion"),
];

/// Other words the number parser understands (for [`super::vocabulary`]).
pub(crate) const NUMBER_EXTRA_WORDS: &[&str] = &[
    "hundred", "a", "and", "oh", "o", "nought", "naught", "double", "triple", "point", "dot",
    "minus", "negative", "plus", "positive", "half", "quarter", "quarters", "the", "none",
    "nothing", "nil", "zilch",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    Unit(u64),
    Teen(u64),
    Tens(u64),
    Hundred,
    Scale(u64),
}

fn word(w: &str) -> Option<Word> {
    if let Some(i) = UNITS.iter().position(|&u| u == w) {
        return Some(Word::Unit(i as u64));
    }
    if matches!(w, "nought" | "naught") {
        return Some(Word::Unit(0));
    }
    if let Some(i) = TEENS.iter().position(|&u| u == w) {
        return Some(Word::Teen(10 + i as u64));
    }
    if let Some(i) = TENS.iter().position(|&u| u == w) {
        return Some(Word::Tens(20 + 10 * i as u64));
    }
    if w == "hundred" {
        return Some(Word::Hundred);
    }
    SCALES
        .iter()
        .find(|(name, _)| *name == w)
        .map(|&(_, v)| Word::Scale(v))
}

fn scale_of(w: Option<&&str>) -> Option<u64> {
    match w.and_then(|w| word(w)) {
        Some(Word::Scale(s)) => Some(s),
        _ => None,
    }
}

/// The cardinal word an ordinal word ends in ("first" → "one", "twentieth" → "twenty").
pub(crate) fn ordinal_to_cardinal(w: &str) -> Option<&'static str> {
    if let Some(i) = ORDINAL_UNITS.iter().position(|&u| u == w) {
        return Some(UNITS[i]);
    }
    if let Some(i) = ORDINAL_TEENS.iter().position(|&u| u == w) {
        return Some(TEENS[i]);
    }
    if let Some(i) = ORDINAL_TENS.iter().position(|&u| u == w) {
        return Some(TENS[i]);
    }
    ORDINAL_SCALES
        .iter()
        .find(|(o, _)| *o == w)
        .map(|&(_, c)| c)
}

/// Every number word the parsers know, cardinal and ordinal (for [`super::vocabulary`]).
pub(crate) fn all_number_words() -> impl Iterator<Item = &'static str> {
    UNITS
        .iter()
        .chain(TEENS.iter())
        .chain(TENS.iter())
        .chain(SCALES.iter().map(|(w, _)| w))
        .chain(ORDINAL_UNITS.iter())
        .chain(ORDINAL_TEENS.iter())
        .chain(ORDINAL_TENS.iter())
        .chain(ORDINAL_SCALES.iter().map(|(w, _)| w))
        .copied()
}

/// The number words of a choice: "one" … "nine", "first" … "ninth".
pub(crate) fn small_number_words() -> impl Iterator<Item = &'static str> {
    UNITS[1..].iter().chain(ORDINAL_UNITS[1..].iter()).copied()
}

/// A number below 100 at the start of `t`: "twenty five", "nineteen", "zero".
fn below_100(t: &[&str]) -> Option<(u64, usize)> {
    match word(t.first()?)? {
        Word::Tens(v) => match t.get(1).and_then(|w| word(w)) {
            Some(Word::Unit(u)) if u >= 1 => Some((v + u, 2)),
            _ => Some((v, 1)),
        },
        Word::Teen(v) | Word::Unit(v) => Some((v, 1)),
        _ => None,
    }
}

/// A number below 10 000 without a scale word at the start of `t`: "a hundred and three",
/// "twelve hundred", "hundred", "forty".
fn below_scale(t: &[&str]) -> Option<(u64, usize)> {
    let first = *t.first()?;
    let (hi, mut n) = if first == "a" && t.get(1) == Some(&"hundred") {
        (1, 1)
    } else if first == "hundred" {
        (1, 0)
    } else {
        below_100(t)?
    };
    if t.get(n) == Some(&"hundred") && hi >= 1 {
        let mut v = hi * 100;
        n += 1;
        let m = if t.get(n) == Some(&"and") { n + 1 } else { n };
        if let Some((r, k)) = below_100(&t[m.min(t.len())..]) {
            if r >= 1 {
                v += r;
                n = m + k;
            }
        }
        return Some((v, n));
    }
    if first == "a" {
        return None;
    }
    Some((hi, n))
}

/// The longest cardinal number at the start of `t` and the tokens it takes: "one thousand two
/// hundred", "a million", "twenty five". Digit strings ("two five") are two cardinals.
pub(crate) fn cardinal_prefix(t: &[&str]) -> Option<(u64, usize)> {
    let mut total = 0u64;
    let mut i = 0;
    let mut last_scale = u64::MAX;
    let mut any = false;
    loop {
        let rest = &t[i..];
        let group = if rest.first() == Some(&"a") && scale_of(rest.get(1)).is_some() {
            Some((1, 1))
        } else if scale_of(rest.first()).is_some() {
            Some((1, 0))
        } else {
            below_scale(rest)
        };
        let Some((v, n)) = group else { break };
        match scale_of(rest.get(n)) {
            Some(s) if s < last_scale && v > 0 && v < 1000 => {
                total += v * s;
                last_scale = s;
                i += n + 1;
                any = true;
                if t.get(i) == Some(&"and") && below_scale(&t[i + 1..]).is_some() {
                    i += 1;
                }
            }
            _ => {
                // An implicit "one" (a scale word that was not taken) or a second number of
                // thousands after a scale ends the number.
                if n == 0 || last_scale != u64::MAX && v >= 1000 {
                    break;
                }
                total += v;
                i += n;
                any = true;
                break;
            }
        }
    }
    any.then_some((total, i))
}

/// A whole cardinal: all of `t` is one cardinal number.
pub(crate) fn cardinal(t: &[&str]) -> Option<u64> {
    match cardinal_prefix(t)? {
        (v, n) if n == t.len() => Some(v),
        _ => None,
    }
}

/// Spoken digits of an integer, leading zeros kept: "two five" → "25", "oh seven" → "07",
/// "nineteen eighty five" → "1985", "one hundred three" → "103". A string of several groups
/// ("two five", "twenty twenty") only joins groups below 100; `None` when `t` is not all
/// number words, or is a lone "oh".
pub(crate) fn integer_digits(t: &[&str]) -> Option<Spoken> {
    let mut digits = String::new();
    let mut groups = 0usize;
    let mut big_group = false;
    let mut only_oh = true;
    let mut i = 0;
    while i < t.len() {
        let w = t[i];
        if matches!(w, "oh" | "o") {
            digits.push('0');
            i += 1;
        } else if matches!(w, "double" | "triple") {
            let d = match t.get(i + 1).copied() {
                Some("oh" | "o") => 0,
                Some(x) => match word(x) {
                    Some(Word::Unit(u)) => u,
                    _ => return None,
                },
                None => return None,
            };
            let times = if w == "double" { 2 } else { 3 };
            for _ in 0..times {
                digits.push(char::from(b'0' + d as u8));
            }
            only_oh = false;
            i += 2;
        } else {
            let (v, n) = cardinal_prefix(&t[i..])?;
            if v >= 100 {
                big_group = true;
            }
            digits.push_str(&v.to_string());
            only_oh = false;
            i += n;
        }
        groups += 1;
        if digits.len() > MAX_INTEGER_DIGITS + 1 {
            return None;
        }
    }
    if groups == 0 || only_oh && groups == 1 || groups > 1 && big_group {
        return None;
    }
    Some(Spoken { digits, groups })
}

/// Digits of a spoken integer and how many groups they were said in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spoken {
    /// The digits, leading zeros kept.
    pub digits: String,
    /// 1 for a plain cardinal ("one thousand twenty seven"), more for a digit string ("two
    /// oh two seven").
    pub groups: usize,
}

impl Spoken {
    /// The value, or `None` beyond [`MAX_INTEGER_DIGITS`] digits.
    pub fn value(&self) -> Option<u64> {
        if self.digits.len() > MAX_INTEGER_DIGITS {
            return None;
        }
        self.digits.parse().ok()
    }
}

/// An ordinal: all of `t` ("twenty first", "the third", "21st", "hundredth"); 0 ("zeroth") is
/// not an ordinal.
pub(crate) fn ordinal(t: &[&str]) -> Option<u64> {
    let t = if t.first() == Some(&"the") {
        &t[1..]
    } else {
        t
    };
    let (last, head) = t.split_last()?;
    if let Some(v) = ordinal_digits(last) {
        return head.is_empty().then_some(v);
    }
    let card = ordinal_to_cardinal(last)?;
    let mut words: Vec<&str> = head.to_vec();
    words.push(card);
    cardinal(&words).filter(|&v| v > 0)
}

/// "21st", "2nd", "3rd", "11th": digits with the suffix English gives them.
pub(crate) fn ordinal_digits(w: &str) -> Option<u64> {
    let split = w.find(|c: char| !c.is_ascii_digit())?;
    let (num, suffix) = w.split_at(split);
    if num.is_empty() || num.len() > MAX_INTEGER_DIGITS {
        return None;
    }
    let v: u64 = num.parse().ok()?;
    (v > 0 && suffix == ordinal_suffix(v)).then_some(v)
}

fn ordinal_suffix(v: u64) -> &'static str {
    match (v % 10, v % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    }
}

/// A decimal number: `mantissa / 10^scale`, e.g. 3.5 is (35, 1). Trailing fractional zeros
/// are dropped, so each value has one form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Number {
    mantissa: i64,
    scale: u8,
}

impl Number {
    /// A whole number, or `None` beyond ±[`MAX_NUMBER`].
    pub fn integer(v: i64) -> Option<Number> {
        (v.abs() <= MAX_NUMBER).then_some(Number {
            mantissa: v,
            scale: 0,
        })
    }

    /// `mantissa / 10^scale`, normalised; `None` beyond the limits ([`MAX_NUMBER`],
    /// [`MAX_FRACTION_DIGITS`]).
    pub fn decimal(mut mantissa: i64, mut scale: u8) -> Option<Number> {
        while scale > 0 && mantissa % 10 == 0 {
            mantissa /= 10;
            scale -= 1;
        }
        if usize::from(scale) > MAX_FRACTION_DIGITS {
            return None;
        }
        let whole = mantissa.checked_div(10i64.checked_pow(u32::from(scale))?)?;
        (whole.abs() <= MAX_NUMBER).then_some(Number { mantissa, scale })
    }

    /// The whole value when there is no fractional part.
    pub fn as_i64(self) -> Option<i64> {
        (self.scale == 0).then_some(self.mantissa)
    }

    /// The value as a float (exact for whole numbers; nearest for decimals).
    pub fn as_f64(self) -> f64 {
        self.mantissa as f64 / 10f64.powi(i32::from(self.scale))
    }

    /// The digits of the value times 10^scale, and the scale.
    pub fn parts(self) -> (i64, u8) {
        (self.mantissa, self.scale)
    }

    fn from_digits(negative: bool, int: &str, frac: &str) -> Option<Number> {
        let int = int.trim_start_matches('0');
        if int.len() > MAX_INTEGER_DIGITS || frac.len() > MAX_FRACTION_DIGITS {
            return None;
        }
        let all = format!("{int}{frac}");
        let m: i64 = if all.is_empty() { 0 } else { all.parse().ok()? };
        Number::decimal(if negative { -m } else { m }, frac.len() as u8)
    }
}

impl fmt::Display for Number {
    /// Plain decimal notation: `25`, `-15.245`, `0.42`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.scale == 0 {
            return write!(f, "{}", self.mantissa);
        }
        let p = 10u64.pow(u32::from(self.scale));
        let a = self.mantissa.unsigned_abs();
        let sign = if self.mantissa < 0 { "-" } else { "" };
        write!(
            f,
            "{sign}{}.{:0w$}",
            a / p,
            a % p,
            w = usize::from(self.scale)
        )
    }
}

/// A number written with digits: "25", "-15", "3.5", "007", "21st".
pub(crate) fn number_literal(w: &str) -> Option<Number> {
    if let Some(v) = ordinal_digits(w) {
        return Number::integer(v as i64);
    }
    let (neg, body) = match w.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, w),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty()
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || body.ends_with('.')
    {
        return None;
    }
    Number::from_digits(neg, int, frac)
}

/// Whether the token is written with digits (a number, "15:30", "12/25", "3rd").
pub(crate) fn is_digit_token(w: &str) -> bool {
    w.chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '-')
}

/// The number a whole answer says, like AMAZON.NUMBER: "twenty five", "two five" (25), "a
/// hundred and three", "minus four", "three point five", "point forty two" (0.42), "two and a
/// half", "the third" (3), "oh seven" (7), "none" (0), "25", "1,234", "-15", "3.5".
pub(crate) fn parse_number(t: &[&str]) -> Option<Number> {
    let (negative, t) = match t.first() {
        Some(&("minus" | "negative")) => (true, &t[1..]),
        Some(&("plus" | "positive")) => (false, &t[1..]),
        _ => (false, t),
    };
    if t.is_empty() {
        return None;
    }
    let negate = |n: Number| {
        if negative {
            let (m, s) = n.parts();
            Number::decimal(-m, s)
        } else {
            Some(n)
        }
    };
    if t.iter().all(|w| is_digit_token(w)) {
        if let [w] = t {
            return negate(number_literal(w)?);
        }
        // Digits said one group at a time: "1 2 3".
        if !t.iter().all(|w| w.chars().all(|c| c.is_ascii_digit())) {
            return None;
        }
        return negate(Number::from_digits(false, &t.concat(), "")?);
    }
    if t.len() == 1 && matches!(t[0], "none" | "nothing" | "nil" | "zilch") {
        return Number::integer(0);
    }
    if matches!(t, ["half"] | ["a", "half"] | ["one", "half"]) {
        return negate(Number::decimal(5, 1)?);
    }
    if let Some(v) = ordinal(t) {
        return negate(Number::integer(i64::try_from(v).ok()?)?);
    }
    if let Some(p) = t.iter().position(|w| matches!(*w, "point" | "dot")) {
        let int = if p == 0 {
            String::new()
        } else {
            integer_digits(&t[..p])?.digits
        };
        let frac = fraction_digits(&t[p + 1..])?;
        return Number::from_digits(negative, &int, &frac);
    }
    for (tail, frac) in [
        (&["and", "a", "half"][..], "5"),
        (&["and", "one", "half"][..], "5"),
        (&["and", "a", "quarter"][..], "25"),
        (&["and", "one", "quarter"][..], "25"),
        (&["and", "three", "quarters"][..], "75"),
    ] {
        if t.len() > tail.len() && t.ends_with(tail) {
            let int = integer_digits(&t[..t.len() - tail.len()])?;
            return Number::from_digits(negative, &int.digits, frac);
        }
    }
    let int = integer_digits(t)?;
    Number::from_digits(negative, &int.digits, "")
}

/// The digits after a decimal point: "four five" → "45", "forty two" → "42", "oh five" → "05".
fn fraction_digits(t: &[&str]) -> Option<String> {
    let mut out = String::new();
    let mut i = 0;
    while i < t.len() {
        if matches!(t[i], "oh" | "o") {
            out.push('0');
            i += 1;
            continue;
        }
        let (v, n) = cardinal_prefix(&t[i..])?;
        if v >= 100 {
            return None;
        }
        out.push_str(&v.to_string());
        i += n;
    }
    (!out.is_empty()).then_some(out)
}

/// `n` in English words, American style without "and": 1203 → "one thousand two hundred
/// three", -4 → "minus four". Used by tests (every number parses back) and by prompts.
pub fn spell_number(n: i64) -> String {
    let mut words: Vec<&str> = Vec::new();
    if n < 0 {
        words.push("minus");
    }
    let a = n.unsigned_abs();
    if a == 0 {
        words.push("zero");
    } else {
        spell_into(a, &mut words);
    }
    words.join(" ")
}

fn spell_below_1000(n: u64, words: &mut Vec<&'static str>) {
    if n >= 100 {
        words.push(UNITS[(n / 100) as usize]);
        words.push("hundred");
    }
    let r = n % 100;
    match r {
        0 => {}
        1..=9 => words.push(UNITS[r as usize]),
        10..=19 => words.push(TEENS[(r - 10) as usize]),
        _ => {
            words.push(TENS[(r / 10 - 2) as usize]);
            if !r.is_multiple_of(10) {
                words.push(UNITS[(r % 10) as usize]);
            }
        }
    }
}

fn spell_into(mut n: u64, words: &mut Vec<&'static str>) {
    const GROUPS: [(u64, &str); 4] = [
        (1_000_000_000_000, "trillion"),
        (1_000_000_000, "billion"),
        (1_000_000, "million"),
        (1_000, "thousand"),
    ];
    for (size, name) in GROUPS {
        if n >= size {
            spell_into(n / size, words);
            words.push(name);
            n %= size;
        }
    }
    if n > 0 {
        spell_below_1000(n, words);
    }
}

/// `n` (≥ 1) as an English ordinal: 21 → "twenty first", 100 → "one hundredth".
pub fn spell_ordinal(n: u64) -> String {
    let cardinal = spell_number(n as i64);
    let (head, last) = match cardinal.rsplit_once(' ') {
        Some((h, l)) => (Some(h), l),
        None => (None, cardinal.as_str()),
    };
    let ord = UNITS
        .iter()
        .position(|&u| u == last)
        .map(|i| ORDINAL_UNITS[i])
        .or_else(|| {
            TEENS
                .iter()
                .position(|&u| u == last)
                .map(|i| ORDINAL_TEENS[i])
        })
        .or_else(|| {
            TENS.iter()
                .position(|&u| u == last)
                .map(|i| ORDINAL_TENS[i])
        })
        .or_else(|| {
            ORDINAL_SCALES
                .iter()
                .find(|(_, c)| *c == last)
                .map(|(o, _)| *o)
        })
        .unwrap_or(last);
    match head {
        Some(h) => format!("{h} {ord}"),
        None => ord.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<&str> {
        s.split_whitespace().collect()
    }

    #[test]
    fn cardinals_and_digit_strings() {
        let n = |s: &str| parse_number(&words(s)).map(|n| n.to_string());
        assert_eq!(n("twenty five").as_deref(), Some("25"));
        assert_eq!(n("two five").as_deref(), Some("25"));
        assert_eq!(n("a hundred and three").as_deref(), Some("103"));
        assert_eq!(n("one thousand two hundred").as_deref(), Some("1200"));
        assert_eq!(n("twelve hundred").as_deref(), Some("1200"));
        assert_eq!(n("nineteen eighty five").as_deref(), Some("1985"));
        assert_eq!(n("oh seven").as_deref(), Some("7"));
        assert_eq!(n("double five").as_deref(), Some("55"));
        assert_eq!(n("minus four").as_deref(), Some("-4"));
        assert_eq!(n("three point five").as_deref(), Some("3.5"));
        assert_eq!(n("point forty two").as_deref(), Some("0.42"));
        assert_eq!(n("two and a half").as_deref(), Some("2.5"));
        assert_eq!(n("a million").as_deref(), Some("1000000"));
        assert_eq!(n("the third").as_deref(), Some("3"));
        assert_eq!(n("five hundred twenty five six"), None);
        assert_eq!(n("oh"), None);
        assert_eq!(n("five and six"), None);
        assert_eq!(spell_ordinal(21), "twenty first");
        assert_eq!(spell_ordinal(100), "one hundredth");
        assert_eq!(spell_number(-1203), "minus one thousand two hundred three");
        assert_eq!(Number::decimal(-15245, 3).unwrap().to_string(), "-15.245");
        assert_eq!(Number::decimal(42, 2).unwrap().to_string(), "0.42");
        assert_eq!(Number::decimal(350, 2).unwrap().to_string(), "3.5");
    }
}
