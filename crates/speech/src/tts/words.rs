//! Spoken English forms of numbers, ordinals, years and months, for SSML `say-as`
//! normalisation (the synthesizer reads words, so every engine says a date the same way).

/// Largest number [`cardinal`] and [`ordinal`] spell out (just under a trillion).
pub const MAX_SPOKEN: u64 = 999_999_999_999;

use crate::answers::{TEENS, TENS};

/// Digit names, 0–9.
pub const DIGITS: [&str; 10] = crate::answers::UNITS;

/// Month names, January first.
pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn below_100(n: u64, out: &mut Vec<String>) {
    debug_assert!(n < 100);
    match n {
        0..=9 => out.push(DIGITS[n as usize].to_string()),
        10..=19 => out.push(TEENS[n as usize - 10].to_string()),
        _ => {
            let t = TENS[(n / 10 - 2) as usize];
            if n.is_multiple_of(10) {
                out.push(t.to_string());
            } else {
                out.push(t.to_string());
                out.push(DIGITS[(n % 10) as usize].to_string());
            }
        }
    }
}

fn below_1000(n: u64, out: &mut Vec<String>) {
    debug_assert!(n < 1000);
    if n >= 100 {
        out.push(DIGITS[(n / 100) as usize].to_string());
        out.push("hundred".into());
        if !n.is_multiple_of(100) {
            out.push("and".into());
            below_100(n % 100, out);
        }
    } else {
        below_100(n, out);
    }
}

/// `n` in words, British/American style with "and" after hundreds ("one hundred and three").
/// Values above [`MAX_SPOKEN`] are clamped to it (callers check first).
pub fn cardinal(n: u64) -> String {
    let n = n.min(MAX_SPOKEN);
    if n == 0 {
        return "zero".into();
    }
    let mut out = Vec::new();
    let mut rest = n;
    for (scale, name) in [
        (1_000_000_000, "billion"),
        (1_000_000, "million"),
        (1_000, "thousand"),
    ] {
        if rest >= scale {
            below_1000(rest / scale, &mut out);
            out.push(name.into());
            rest %= scale;
        }
    }
    if rest > 0 {
        if n >= 1000 && rest < 100 {
            out.push("and".into());
        }
        below_1000(rest, &mut out);
    }
    out.join(" ")
}

/// `n` as an ordinal in words ("third", "twenty first", "one hundredth").
pub fn ordinal(n: u64) -> String {
    let words = cardinal(n);
    let (head, last) = match words.rsplit_once(' ') {
        Some((h, l)) => (format!("{h} "), l.to_string()),
        None => (String::new(), words.clone()),
    };
    let last = match last.as_str() {
        "one" => "first".to_string(),
        "two" => "second".to_string(),
        "three" => "third".to_string(),
        "five" => "fifth".to_string(),
        "eight" => "eighth".to_string(),
        "nine" => "ninth".to_string(),
        "twelve" => "twelfth".to_string(),
        w if w.ends_with('y') => format!("{}ieth", &w[..w.len() - 1]),
        w => format!("{w}th"),
    };
    format!("{head}{last}")
}

/// A year as it is read: 1984 "nineteen eighty four", 1905 "nineteen oh five", 1900
/// "nineteen hundred", 2000 "two thousand", 2007 "two thousand seven", 2025 "twenty twenty
/// five"; years below 1000 as cardinals.
pub fn year(y: u32) -> String {
    let y = y as u64;
    if !(1000..=9999).contains(&y) {
        return cardinal(y);
    }
    let (hi, lo) = (y / 100, y % 100);
    if y % 1000 < 10 && hi % 10 == 0 {
        // 2000..2009, 3000..3009: "two thousand (seven)"
        let mut out = Vec::new();
        below_100(y / 1000, &mut out);
        out.push("thousand".into());
        if lo > 0 {
            below_100(lo, &mut out);
        }
        return out.join(" ");
    }
    let mut out = Vec::new();
    below_100(hi, &mut out);
    match lo {
        0 => out.push("hundred".into()),
        1..=9 => {
            out.push("oh".into());
            below_100(lo, &mut out);
        }
        _ => below_100(lo, &mut out),
    }
    out.join(" ")
}

/// Days in `month` (1–12) of `year` (Gregorian; February has 29 days when the year is unknown).
pub fn days_in_month(month: u32, year: Option<u32>) -> u32 {
    // The Gregorian leap rule repeats every 400 years; an unknown year counts as leap (2000).
    let year = year.map_or(2000, |y| (y % 400) as i32);
    u8::try_from(month).map_or(0, |m| u32::from(crate::answers::days_in_month(year, m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_ordinals_years() {
        for (n, w) in [
            (0, "zero"),
            (7, "seven"),
            (13, "thirteen"),
            (40, "forty"),
            (25, "twenty five"),
            (103, "one hundred and three"),
            (1000, "one thousand"),
            (1005, "one thousand and five"),
            (2025, "two thousand and twenty five"),
            (9999, "nine thousand nine hundred and ninety nine"),
            (1_000_000, "one million"),
        ] {
            assert_eq!(cardinal(n), w, "{n}");
        }
        for (n, w) in [
            (1, "first"),
            (2, "second"),
            (3, "third"),
            (12, "twelfth"),
            (20, "twentieth"),
            (21, "twenty first"),
            (31, "thirty first"),
            (100, "one hundredth"),
        ] {
            assert_eq!(ordinal(n), w, "{n}");
        }
        for (y, w) in [
            (1984, "nineteen eighty four"),
            (1905, "nineteen oh five"),
            (1900, "nineteen hundred"),
            (2000, "two thousand"),
            (2007, "two thousand seven"),
            (2025, "twenty twenty five"),
            (2010, "twenty ten"),
            (999, "nine hundred and ninety nine"),
        ] {
            assert_eq!(year(y), w, "{y}");
        }
        assert_eq!(days_in_month(2, Some(2024)), 29);
        assert_eq!(days_in_month(2, Some(1900)), 28);
        assert_eq!(days_in_month(2, Some(2000)), 29);
        assert_eq!(days_in_month(2, None), 29);
    }
}
