//! Times of day, like AMAZON.TIME: "half past three", "quarter to four", "3 pm", "15:30",
//! "noon", "ten in the morning", "fifteen hundred hours", "morning" (a period: MO).

use super::calendar::TimeOfDay;
use super::numbers::{cardinal, cardinal_prefix};
use super::text::{is_phrase, matches_at, phrase_len, strip_suffixes};

/// A part of the day, as AMAZON.TIME resolves "morning", "afternoon", "evening", "night".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DayPeriod {
    /// "morning": Lex's `MO`.
    Morning,
    /// "afternoon": `AF`.
    Afternoon,
    /// "evening": `EV`.
    Evening,
    /// "night", "tonight": `NI`.
    Night,
}

impl DayPeriod {
    /// Lex's code: `MO`, `AF`, `EV`, `NI`.
    pub fn code(self) -> &'static str {
        match self {
            DayPeriod::Morning => "MO",
            DayPeriod::Afternoon => "AF",
            DayPeriod::Evening => "EV",
            DayPeriod::Night => "NI",
        }
    }
}

/// A time answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeAnswer {
    /// A time said without doubt: "3 pm", "15:30", "noon", "ten in the morning".
    Exact(TimeOfDay),
    /// A clock time said without am/pm ("three thirty", "five o'clock"): both readings, and
    /// the one chosen by the business-hours rule (hours 7-11 are morning, 12 is noon, 1-6 are
    /// afternoon: "three thirty" is 15:30, "seven fifteen" 07:15). Lex returns both readings
    /// with no interpreted value; the flow may accept `chosen` or confirm it.
    Ambiguous {
        /// The reading the business-hours rule picks.
        chosen: TimeOfDay,
        /// The morning reading (hour 0-11).
        am: TimeOfDay,
        /// The afternoon/evening reading (hour 12-23).
        pm: TimeOfDay,
    },
    /// A part of the day ("morning"), no clock time.
    Period(DayPeriod),
}

impl TimeAnswer {
    /// The answer as text: `15:30` or `MO`.
    pub fn value(&self) -> String {
        match self {
            TimeAnswer::Exact(t) | TimeAnswer::Ambiguous { chosen: t, .. } => t.to_string(),
            TimeAnswer::Period(p) => p.code().to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Suffix {
    Am,
    Pm,
    Morning,
    Afternoon,
    Evening,
    Night,
}

const SUFFIXES: &[(&str, Suffix)] = &[
    ("in the morning", Suffix::Morning),
    ("this morning", Suffix::Morning),
    ("tomorrow morning", Suffix::Morning),
    ("a m", Suffix::Am),
    ("am", Suffix::Am),
    ("in the afternoon", Suffix::Afternoon),
    ("this afternoon", Suffix::Afternoon),
    ("tomorrow afternoon", Suffix::Afternoon),
    ("p m", Suffix::Pm),
    ("pm", Suffix::Pm),
    ("in the evening", Suffix::Evening),
    ("this evening", Suffix::Evening),
    ("tomorrow evening", Suffix::Evening),
    ("tonight", Suffix::Night),
    ("at night", Suffix::Night),
    ("in the night", Suffix::Night),
];

const PERIODS: &[(&str, DayPeriod)] = &[
    ("morning", DayPeriod::Morning),
    ("the morning", DayPeriod::Morning),
    ("in the morning", DayPeriod::Morning),
    ("this morning", DayPeriod::Morning),
    ("tomorrow morning", DayPeriod::Morning),
    ("afternoon", DayPeriod::Afternoon),
    ("the afternoon", DayPeriod::Afternoon),
    ("in the afternoon", DayPeriod::Afternoon),
    ("this afternoon", DayPeriod::Afternoon),
    ("tomorrow afternoon", DayPeriod::Afternoon),
    ("evening", DayPeriod::Evening),
    ("the evening", DayPeriod::Evening),
    ("in the evening", DayPeriod::Evening),
    ("this evening", DayPeriod::Evening),
    ("tomorrow evening", DayPeriod::Evening),
    ("night", DayPeriod::Night),
    ("at night", DayPeriod::Night),
    ("tonight", DayPeriod::Night),
    ("tomorrow night", DayPeriod::Night),
];

/// Lead-ins of a time answer on top of the shared ones.
pub(crate) const TIME_LEAD_INS: &[&str] = &[
    "at",
    "around",
    "about",
    "by",
    "at around",
    "at about",
    "say",
    "the time is",
    "it's now",
    "let's do",
    "maybe",
    "approximately",
];

/// Trailing words that add nothing ("five o'clock sharp").
const TIME_TAILS: &[&str] = &["sharp", "exactly", "on the dot", "or so", "ish", "please"];

/// Other words the time parser understands (for [`super::vocabulary`]).
pub(crate) const TIME_WORDS: &[&str] = &[
    "noon", "midday", "midnight", "now", "right", "half", "quarter", "a", "past", "after", "to",
    "till", "til", "of", "before", "minute", "minutes", "o'clock", "o", "clock", "oh", "hundred",
    "hours", "hour", "an", "in", "p", "m", "twelve",
];

/// The time a whole cleaned-up answer says; `now` is the caller's local time, if known.
pub(crate) fn parse_time(t: &[&str], now: Option<TimeOfDay>) -> Option<TimeAnswer> {
    let t = strip_suffixes(t, TIME_TAILS);
    for noon in [
        "noon",
        "midday",
        "twelve noon",
        "12 noon",
        "noon time",
        "noontime",
    ] {
        if is_phrase(t, noon) {
            return Some(TimeAnswer::Exact(TimeOfDay::new(12, 0)?));
        }
    }
    for midnight in ["midnight", "twelve midnight", "12 midnight"] {
        if is_phrase(t, midnight) {
            return Some(TimeAnswer::Exact(TimeOfDay::new(0, 0)?));
        }
    }
    for p in ["now", "right now", "right away"] {
        if is_phrase(t, p) {
            return now.map(TimeAnswer::Exact);
        }
    }
    if let Some(&(_, p)) = PERIODS.iter().find(|(p, _)| is_phrase(t, p)) {
        return Some(TimeAnswer::Period(p));
    }
    if t.first() == Some(&"in") {
        return relative(&t[1..], now?).map(TimeAnswer::Exact);
    }
    let (core, suffix) = split_suffix(t);
    let core = strip_suffixes(core, &["o'clock", "o clock"]);
    let spoken = clock(core)?;
    resolve(spoken, suffix)
}

/// "an hour", "half an hour", "twenty minutes", "two hours" (after "in"), from `now`.
fn relative(t: &[&str], now: TimeOfDay) -> Option<TimeOfDay> {
    let minutes: i32 = if is_phrase(t, "an hour") || is_phrase(t, "one hour") {
        60
    } else if is_phrase(t, "half an hour") || is_phrase(t, "a half hour") {
        30
    } else if is_phrase(t, "a quarter of an hour") || is_phrase(t, "a quarter hour") {
        15
    } else {
        let (unit, n) = t.split_last()?;
        let n = cardinal(n).or_else(|| match n {
            [d] => d.parse().ok(),
            _ => None,
        })?;
        let per = match *unit {
            "minute" | "minutes" => 1,
            "hour" | "hours" => 60,
            _ => return None,
        };
        if n == 0 || n * per > 24 * 60 {
            return None;
        }
        (n * per) as i32
    };
    Some(TimeOfDay::from_minutes_wrapping(
        i32::from(now.minutes_of_day()) + minutes,
    ))
}

fn split_suffix<'t, 'a>(t: &'t [&'a str]) -> (&'t [&'a str], Option<Suffix>) {
    let best = SUFFIXES
        .iter()
        .filter(|(p, _)| {
            let n = phrase_len(p);
            n < t.len() && matches_at(t, t.len() - n, p)
        })
        .max_by_key(|(p, _)| phrase_len(p));
    match best {
        Some(&(p, s)) => (&t[..t.len() - phrase_len(p)], Some(s)),
        None => (t, None),
    }
}

/// A clock time as said: the spoken hour (0-23; 12 for "noon", 0 for "midnight"), minutes
/// added to it (negative for "quarter to"), and whether it was said the 24-hour way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Spoken {
    hour: u8,
    minutes: i32,
    h24: bool,
    /// "noon" named the hour: it is 12 pm whatever the suffix.
    noon: bool,
}

fn clock(t: &[&str]) -> Option<Spoken> {
    if t.is_empty() {
        return None;
    }
    // "half past three", "quarter to four", "ten past six", "twenty five to five".
    for (i, w) in t.iter().enumerate() {
        let sign = match *w {
            "past" | "after" => 1,
            "to" | "till" | "til" | "of" | "before" => -1,
            _ => continue,
        };
        let (before, after) = (&t[..i], &t[i + 1..]);
        let amount = minutes_amount(before)?;
        if sign < 0 && amount == 30 {
            return None;
        }
        let mut spoken = hour_word(after)?;
        spoken.minutes = sign * amount;
        return Some(spoken);
    }
    // "half three" (British: 3:30).
    if t.first() == Some(&"half") {
        let mut spoken = hour_word(&t[1..])?;
        spoken.minutes = 30;
        return Some(spoken);
    }
    // Digits: "15:30", "3:30", "1530", "330", "3", "3 30".
    if t[0].chars().all(|c| c.is_ascii_digit() || c == ':')
        && t[0].starts_with(|c: char| c.is_ascii_digit())
    {
        return digits_clock(t);
    }
    // Words: "three thirty", "oh seven thirty", "fifteen hundred hours", "five".
    let (lead_zero, t) = match t.first() {
        Some(&("oh" | "o" | "zero")) if t.len() > 1 && t[1] != "hundred" => (true, &t[1..]),
        _ => (false, t),
    };
    let (hour, n) = hour_prefix(t)?;
    let rest = &t[n..];
    let (minutes, h24) = match rest {
        // A lone "zero" is no time ("zero hundred" is midnight).
        [] if hour == 0 => return None,
        [] => (0, false),
        ["hundred"] | ["hundred", "hours"] => (0, true),
        _ => {
            let rest = if lead_zero {
                strip_suffixes(rest, &["hours"])
            } else {
                rest
            };
            (minute_words(rest)?, false)
        }
    };
    if lead_zero && hour > 9 {
        return None;
    }
    Some(Spoken {
        hour,
        minutes: i32::from(minutes),
        h24: h24 || lead_zero || hour == 0 || hour > 12,
        noon: false,
    })
}

/// The amount before "past"/"to": "half", "quarter", "a quarter", "ten", "ten minutes",
/// "twenty five".
fn minutes_amount(t: &[&str]) -> Option<i32> {
    let t = strip_suffixes(t, &["minutes", "minute"]);
    match t {
        ["half"] | ["a", "half"] => Some(30),
        ["quarter"] | ["a", "quarter"] => Some(15),
        _ => {
            let v = cardinal(t).or_else(|| match t {
                [d] if d.len() <= 2 => d.parse().ok(),
                _ => None,
            })?;
            (1..=30).contains(&v).then_some(v as i32)
        }
    }
}

/// The hour after "past"/"to": "four", "4", "noon", "midnight".
fn hour_word(t: &[&str]) -> Option<Spoken> {
    let t = strip_suffixes(t, &["o'clock"]);
    let (hour, noon) = match t {
        ["noon"] | ["midday"] => (12, true),
        ["midnight"] => (0, false),
        _ => {
            let (h, n) = hour_prefix(t)?;
            if n != t.len() {
                return None;
            }
            (h, false)
        }
    };
    Some(Spoken {
        hour,
        minutes: 0,
        h24: hour == 0 || hour > 12,
        noon,
    })
}

/// An hour 0-23 in words or digits at the start of `t`, and the tokens it takes.
fn hour_prefix(t: &[&str]) -> Option<(u8, usize)> {
    let first = t.first()?;
    if first.chars().all(|c| c.is_ascii_digit()) && first.len() <= 2 {
        let h: u8 = first.parse().ok()?;
        return (h <= 23).then_some((h, 1));
    }
    // Only the one or two words of a number below 24 ("twenty three", not "twenty thirty").
    let (v, n) = cardinal_prefix(&t[..t.len().min(2)])?;
    if v <= 23 {
        return Some((v as u8, n));
    }
    let (v, n) = cardinal_prefix(&t[..1])?;
    (v <= 23).then_some((v as u8, n))
}

/// The minutes after the hour: "thirty", "forty five", "oh five", "o five", "05".
fn minute_words(t: &[&str]) -> Option<u8> {
    match t {
        [z, d] if matches!(*z, "oh" | "o" | "zero") => {
            let v = cardinal(&[d])?;
            ((1..=9).contains(&v)).then_some(v as u8)
        }
        [d] if d.len() == 2 && d.chars().all(|c| c.is_ascii_digit()) => {
            let v: u8 = d.parse().ok()?;
            (v <= 59).then_some(v)
        }
        _ => {
            let v = cardinal(t)?;
            ((10..=59).contains(&v)).then_some(v as u8)
        }
    }
}

fn digits_clock(t: &[&str]) -> Option<Spoken> {
    let (h, m, leading_zero) = match t {
        [w] if w.contains(':') => {
            let (h, m) = w.split_once(':')?;
            if h.is_empty() || h.len() > 2 || m.len() != 2 {
                return None;
            }
            (
                h.parse::<u8>().ok()?,
                m.parse::<u8>().ok()?,
                h.len() == 2 && h.starts_with('0'),
            )
        }
        [w] => match w.len() {
            // A lone "0" is no time, like a lone "zero".
            1 | 2 if w.parse::<u8>().ok()? == 0 => return None,
            1 | 2 => (w.parse().ok()?, 0, w.len() == 2 && w.starts_with('0')),
            3 => (w[..1].parse().ok()?, w[1..].parse().ok()?, false),
            4 => (w[..2].parse().ok()?, w[2..].parse().ok()?, true),
            _ => return None,
        },
        [h, m] if h.len() <= 2 && m.len() == 2 && m.chars().all(|c| c.is_ascii_digit()) => (
            h.parse().ok()?,
            m.parse().ok()?,
            h.len() == 2 && h.starts_with('0'),
        ),
        [h, hundred] if *hundred == "hundred" && h.len() <= 2 => (h.parse().ok()?, 0, true),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(Spoken {
        hour: h,
        minutes: i32::from(m),
        h24: leading_zero || h == 0 || h > 12,
        noon: false,
    })
}

fn at(hour24: u8, minutes: i32) -> TimeOfDay {
    TimeOfDay::from_minutes_wrapping(i32::from(hour24) * 60 + minutes)
}

fn resolve(s: Spoken, suffix: Option<Suffix>) -> Option<TimeAnswer> {
    if s.noon {
        return match suffix {
            None | Some(Suffix::Pm | Suffix::Afternoon) => {
                Some(TimeAnswer::Exact(at(12, s.minutes)))
            }
            _ => None,
        };
    }
    let twelve = (1..=12).contains(&s.hour);
    if s.h24 && !(twelve && suffix.is_some()) {
        return match suffix {
            None => Some(TimeAnswer::Exact(at(s.hour, s.minutes))),
            Some(_) => None,
        };
    }
    if !twelve {
        return None;
    }
    let am = s.hour % 12;
    let pm = am + 12;
    let hour24 = match suffix {
        Some(Suffix::Am | Suffix::Morning) => am,
        Some(Suffix::Pm | Suffix::Afternoon | Suffix::Evening) => pm,
        Some(Suffix::Night) => match s.hour {
            12 => 0,
            1..=4 => am,
            _ => pm,
        },
        None => {
            let chosen = match s.hour {
                7..=11 => am,
                _ => pm,
            };
            return Some(TimeAnswer::Ambiguous {
                chosen: at(chosen, s.minutes),
                am: at(am, s.minutes),
                pm: at(pm, s.minutes),
            });
        }
    };
    Some(TimeAnswer::Exact(at(hour24, s.minutes)))
}

/// Every suffix and period word (for [`super::vocabulary`]).
pub(crate) fn words() -> impl Iterator<Item = &'static str> {
    SUFFIXES
        .iter()
        .map(|(p, _)| *p)
        .chain(PERIODS.iter().map(|(p, _)| *p))
        .chain(TIME_LEAD_INS.iter().copied())
        .chain(TIME_TAILS.iter().copied())
        .chain(TIME_WORDS.iter().copied())
        .chain(["noontime", "away", "one", "zero"])
        .flat_map(|p| p.split(' '))
}
