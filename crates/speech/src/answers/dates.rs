//! Calendar dates, like AMAZON.DATE: "today", "next friday", "the third of june", "june 3rd
//! 2027", "in two weeks", "christmas", "12/25", and the vaguer "next week", "june", "next
//! year" (ISO week, month and year values), resolved against the caller's date.

use super::calendar::{days_in_month, iso_week_start, Date, Weekday, MONTH_NAMES};
use super::numbers::{cardinal, integer_digits, ordinal};
use super::text::{is_phrase, strip_prefixes, strip_suffixes};

/// A date answer at the precision the caller gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DateAnswer {
    /// One day: `2026-12-04`.
    Day(Date),
    /// An ISO week ("next week"): `2026-W50`.
    Week {
        /// The ISO week-numbering year.
        year: i32,
        /// The ISO week, 1-53.
        week: u8,
    },
    /// The weekend (Saturday and Sunday) of an ISO week ("this weekend"): `2026-W49-WE`.
    Weekend {
        /// The ISO week-numbering year.
        year: i32,
        /// The ISO week, 1-53.
        week: u8,
    },
    /// A month ("june", "next month"): `2027-06`.
    Month {
        /// The year.
        year: i32,
        /// The month, 1-12.
        month: u8,
    },
    /// A year ("next year", "twenty twenty seven"): `2027`.
    Year(i32),
}

impl DateAnswer {
    /// The ISO-8601 text: `2026-12-04`, `2026-W50`, `2026-W49-WE`, `2027-06`, `2027`.
    pub fn value(&self) -> String {
        match *self {
            DateAnswer::Day(d) => d.to_string(),
            DateAnswer::Week { year, week } => format!("{year:04}-W{week:02}"),
            DateAnswer::Weekend { year, week } => format!("{year:04}-W{week:02}-WE"),
            DateAnswer::Month { year, month } => format!("{year:04}-{month:02}"),
            DateAnswer::Year(y) => format!("{y:04}"),
        }
    }

    /// `day`, `week`, `weekend`, `month` or `year`.
    pub fn granularity(&self) -> &'static str {
        match self {
            DateAnswer::Day(_) => "day",
            DateAnswer::Week { .. } => "week",
            DateAnswer::Weekend { .. } => "weekend",
            DateAnswer::Month { .. } => "month",
            DateAnswer::Year(_) => "year",
        }
    }

    /// The first and last day the answer covers (the same day for a day); `None` when part
    /// of it falls outside the supported years or the week does not exist (a value built by
    /// hand: parsed answers always have a range, except a week at the very end of
    /// [`super::MAX_YEAR`]).
    pub fn range(&self) -> Option<(Date, Date)> {
        Some(match *self {
            DateAnswer::Day(d) => (d, d),
            DateAnswer::Week { year, week } => {
                let start = iso_week_start(year, week)?;
                (start, start.add_days(6)?)
            }
            DateAnswer::Weekend { year, week } => {
                let start = iso_week_start(year, week)?;
                (start.add_days(5)?, start.add_days(6)?)
            }
            DateAnswer::Month { year, month } => (
                Date::new(year, month, 1)?,
                Date::new(year, month, days_in_month(year, month))?,
            ),
            DateAnswer::Year(y) => (Date::new(y, 1, 1)?, Date::new(y, 12, 31)?),
        })
    }
}

/// Fixed-date holidays the parser knows ("christmas"), resolved like "december 25th".
const HOLIDAYS: &[(&str, u8, u8)] = &[
    ("christmas", 12, 25),
    ("christmas day", 12, 25),
    ("xmas", 12, 25),
    ("christmas eve", 12, 24),
    ("boxing day", 12, 26),
    ("new year's eve", 12, 31),
    ("new years eve", 12, 31),
    ("new year's day", 1, 1),
    ("new years day", 1, 1),
    ("new year's", 1, 1),
    ("new year", 1, 1),
    ("valentine's day", 2, 14),
    ("valentines day", 2, 14),
    ("st patrick's day", 3, 17),
    ("saint patrick's day", 3, 17),
    ("independence day", 7, 4),
    ("halloween", 10, 31),
];

/// Lead-ins of a date answer on top of the shared ones.
pub(crate) const DATE_LEAD_INS: &[&str] = &[
    "on",
    "for",
    "by",
    "the date is",
    "it's on",
    "let's do",
    "maybe",
    "i'd like",
    "i would like",
    "sometime",
    "some time",
];

/// Other words the date parser understands (for [`super::vocabulary`]).
pub(crate) const DATE_WORDS: &[&str] = &[
    "today",
    "now",
    "tonight",
    "tomorrow",
    "yesterday",
    "day",
    "days",
    "week",
    "weeks",
    "weekend",
    "month",
    "months",
    "year",
    "years",
    "fortnight",
    "this",
    "next",
    "last",
    "coming",
    "the",
    "of",
    "after",
    "before",
    "in",
    "from",
    "ago",
    "a",
    "an",
    "time",
    "morning",
    "afternoon",
    "evening",
    "night",
    "in",
    "at",
];

/// Month abbreviations of typed answers ("jan 5", "sept 9"), January first.
const MONTH_ABBREVIATIONS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// Whether `w` is a month name; its number 1-12.
fn month(w: &str) -> Option<u8> {
    MONTH_NAMES
        .iter()
        .position(|&m| m == w)
        .or_else(|| MONTH_ABBREVIATIONS.iter().position(|&m| m == w))
        .or_else(|| (w == "sept").then_some(8))
        .map(|i| i as u8 + 1)
}

fn weekday(w: &str) -> Option<Weekday> {
    Weekday::ALL.iter().copied().find(|d| d.name() == w)
}

/// The date a whole cleaned-up answer says, resolved against `today`.
pub(crate) fn parse_date(t: &[&str], today: Date) -> Option<DateAnswer> {
    let whole = t;
    // "friday morning", "tomorrow night": the part of the day adds nothing to a date.
    let t = strip_suffixes(
        t,
        &[
            "morning",
            "afternoon",
            "evening",
            "night",
            "in the morning",
            "in the afternoon",
            "in the evening",
            "at night",
        ],
    );
    let day = |d: Option<Date>| d.map(DateAnswer::Day);
    for (p, offset) in [
        ("today", 0),
        ("now", 0),
        ("right now", 0),
        ("tonight", 0),
        ("this morning", 0),
        ("this afternoon", 0),
        ("this evening", 0),
        ("tomorrow", 1),
        ("yesterday", -1),
        ("the day after tomorrow", 2),
        ("day after tomorrow", 2),
        ("the day before yesterday", -2),
        ("day before yesterday", -2),
    ] {
        if is_phrase(whole, p) || is_phrase(t, p) {
            return day(today.add_days(offset));
        }
    }
    if let Some(a) = weekday_phrase(t, today) {
        return day(Some(a));
    }
    if let Some(a) = relative(t, today) {
        return day(Some(a));
    }
    if let Some(a) = period(t, today) {
        return Some(a);
    }
    if let Some(a) = holiday(t, today) {
        return day(Some(a));
    }
    // A weekday before an explicit date adds nothing ("friday the 4th of december"); "in"
    // before a month or year neither ("in june").
    let explicit = match t.first() {
        Some(w) if weekday(w).is_some() && t.len() > 1 => &t[1..],
        _ => strip_prefixes(t, &["in"]),
    };
    if let Some(a) = numeric(explicit, today) {
        return day(Some(a));
    }
    if let Some(a) = named_month(explicit, today) {
        return Some(a);
    }
    // "the 21st", "the third of next month".
    if let Some(a) = day_of_month(explicit, today) {
        return day(Some(a));
    }
    year(explicit).map(DateAnswer::Year)
}

/// "friday", "this friday", "next friday", "last friday", "friday next week", "the friday
/// after next", "a week from friday".
fn weekday_phrase(t: &[&str], today: Date) -> Option<Date> {
    let wd = t.iter().find_map(|w| weekday(w))?;
    let pos = t.iter().position(|w| weekday(w).is_some())?;
    let before = &t[..pos];
    let after = &t[pos + 1..];
    let today_idx = i64::from(today.weekday().days_from_monday());
    let target = i64::from(wd.days_from_monday());
    // Next occurrence on or after today, and strictly after today.
    let on_or_after = today.add_days((target - today_idx).rem_euclid(7))?;
    let strictly_after = today.add_days((target - today_idx - 1).rem_euclid(7) + 1)?;
    let strictly_before = today.add_days(-((today_idx - target - 1).rem_euclid(7) + 1))?;
    let in_week = |weeks: i64| today.monday_of_week()?.add_days(7 * weeks + target);
    let key: Vec<&str> = before
        .iter()
        .chain(["_"].iter())
        .chain(after)
        .copied()
        .collect();
    let key = key.join(" ");
    Some(match key.as_str() {
        "_" | "this _" | "this coming _" | "coming _" | "the _" | "that _" => on_or_after,
        "next _" | "_ coming" | "the next _" | "the coming _" => strictly_after,
        "last _" | "this past _" | "past _" | "the last _" | "the previous _" | "previous _"
        | "_ just gone" => strictly_before,
        "_ next week" | "next week _" | "_ of next week" | "next week on _" => in_week(1)?,
        "_ this week" | "this week _" | "_ of this week" => in_week(0)?,
        "_ last week" | "last week _" | "_ of last week" => in_week(-1)?,
        "_ after next" | "the _ after next" | "a week from _" | "a week on _" | "_ week" => {
            strictly_after.add_days(7)?
        }
        _ => return None,
    })
}

/// A count of days, weeks, months or years: "two weeks", "a week", "10 days", "a fortnight".
fn amount(t: &[&str]) -> Option<(i64, &'static str)> {
    let (unit, n) = t.split_last()?;
    let unit = match *unit {
        "day" | "days" => "day",
        "week" | "weeks" => "week",
        "fortnight" | "fortnights" => "fortnight",
        "month" | "months" => "month",
        "year" | "years" => "year",
        _ => return None,
    };
    let n: u64 = match n {
        ["a"] | ["an"] | ["one"] => 1,
        [d] if d.chars().all(|c| c.is_ascii_digit()) => d.parse().ok()?,
        _ => cardinal(n)?,
    };
    if n == 0 || n > 10_000 {
        return None;
    }
    Some((n as i64, unit))
}

fn shift(from: Date, n: i64, unit: &str) -> Option<Date> {
    match unit {
        "day" => from.add_days(n),
        "week" => from.add_days(7 * n),
        "fortnight" => from.add_days(14 * n),
        "month" => from.add_months(n),
        _ => from.add_months(12 * n),
    }
}

/// "in two weeks", "in two weeks' time", "two weeks from today", "a week from tomorrow",
/// "three days ago", "in a month", "a week today" (British: a week from today).
fn relative(t: &[&str], today: Date) -> Option<Date> {
    if let Some(rest) = t.strip_prefix(&["in"]) {
        let (n, unit) = amount(strip_suffixes(rest, &["time"]))?;
        return shift(today, n, unit);
    }
    if let Some(rest) = t.strip_suffix(&["ago"]) {
        let (n, unit) = amount(rest)?;
        return shift(today, -n, unit);
    }
    for (tail, base) in [
        (&["from", "now"][..], 0),
        (&["from", "today"][..], 0),
        (&["today"][..], 0),
        (&["from", "tomorrow"][..], 1),
        (&["from", "yesterday"][..], -1),
    ] {
        if t.len() > tail.len() && t.ends_with(tail) {
            let (n, unit) = amount(&t[..t.len() - tail.len()])?;
            return shift(today.add_days(base)?, n, unit);
        }
    }
    None
}

/// "this week", "next week", "last week", "the week after next", "this weekend", "next
/// weekend", "this month", "next month", "last month", "this year", "next year", "last year".
fn period(t: &[&str], today: Date) -> Option<DateAnswer> {
    let monday = today.monday_of_week()?;
    let week = |weeks: i64| {
        let (year, week) = monday.add_days(7 * weeks)?.iso_week();
        Some(DateAnswer::Week { year, week })
    };
    let weekend = |weeks: i64| {
        let (year, week) = monday.add_days(7 * weeks)?.iso_week();
        Some(DateAnswer::Weekend { year, week })
    };
    let month = |months: i64| {
        let d = Date::new(today.year(), today.month(), 1)?.add_months(months)?;
        Some(DateAnswer::Month {
            year: d.year(),
            month: d.month(),
        })
    };
    let year = |years: i32| {
        let y = today.year() + years;
        Date::new(y, 1, 1).map(|_| DateAnswer::Year(y))
    };
    let key = t.join(" ");
    match key.as_str() {
        "this week" | "the week" | "this current week" => week(0),
        "next week" | "the next week" | "the coming week" | "this coming week" | "coming week"
        | "the following week" => week(1),
        "last week" | "the last week" | "the previous week" | "the past week" => week(-1),
        "the week after next" | "week after next" => week(2),
        "this weekend" | "the weekend" | "weekend" | "this coming weekend" | "coming weekend" => {
            weekend(0)
        }
        "next weekend" | "the next weekend" | "the following weekend" => weekend(1),
        "last weekend" | "the last weekend" | "the previous weekend" | "the past weekend" => {
            weekend(-1)
        }
        "this month" | "the month" => month(0),
        "next month" | "the next month" | "the coming month" | "the following month" => month(1),
        "last month" | "the last month" | "the previous month" | "the past month" => month(-1),
        "the month after next" | "month after next" => month(2),
        "this year" => year(0),
        "next year" | "the next year" | "the coming year" | "the following year" => year(1),
        "last year" | "the last year" | "the previous year" | "the past year" => year(-1),
        "the year after next" | "year after next" => year(2),
        _ => None,
    }
}

/// The first date on or after `today` that is `month`/`day` (searching far enough for
/// February 29).
fn month_day_on_or_after(today: Date, month: u8, day: u8) -> Option<Date> {
    (0..=8).find_map(|k| Date::new(today.year() + k, month, day).filter(|d| *d >= today))
}

/// "christmas", "christmas eve", "new year's day", "next christmas", "christmas 2027".
fn holiday(t: &[&str], today: Date) -> Option<Date> {
    let t = strip_prefixes(t, &["this", "next", "on"]);
    // The longest name that starts the answer ("christmas eve", not "christmas").
    let (n, m, d) = HOLIDAYS
        .iter()
        .map(|&(name, m, d)| (name.split(' ').count(), name, m, d))
        .filter(|&(n, name, _, _)| t.len() >= n && is_phrase(&t[..n], name))
        .max_by_key(|&(n, ..)| n)
        .map(|(n, _, m, d)| (n, m, d))?;
    if t.len() == n {
        return month_day_on_or_after(today, m, d);
    }
    Date::new(year(strip_prefixes(&t[n..], &["of", "in"]))?, m, d)
}

/// "12/25" (month/day, the en-US order; day/month when the first number cannot be a month:
/// "25/12"), "12/25/2027", "12/25/27" (20yy), "2027-06-03" (ISO).
fn numeric(t: &[&str], today: Date) -> Option<Date> {
    let [w] = t else { return None };
    if let Some((y, rest)) = w.split_once('-') {
        let mut parts = rest.split('-');
        let (m, d) = (parts.next()?, parts.next()?);
        if y.len() != 4 || parts.next().is_some() {
            return None;
        }
        return Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    }
    let parts: Vec<&str> = w.split('/').collect();
    if parts.len() < 2
        || parts.len() > 3
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let a: u8 = parts[0].parse().ok()?;
    let b: u8 = parts[1].parse().ok()?;
    let (m, d) = if a > 12 && b <= 12 { (b, a) } else { (a, b) };
    match parts.get(2) {
        None => month_day_on_or_after(today, m, d),
        Some(y) => {
            let y: i32 = match y.len() {
                2 => 2000 + y.parse::<i32>().ok()?,
                4 => y.parse().ok()?,
                _ => return None,
            };
            Date::new(y, m, d)
        }
    }
}

/// A day of the month 1-31 said as an ordinal ("third", "21st", "twenty first", "the
/// third"), or, when `cardinal_ok`, as a cardinal ("three", "3").
fn day_number(t: &[&str], cardinal_ok: bool) -> Option<u8> {
    let v = ordinal(t).or_else(|| {
        if !cardinal_ok {
            return None;
        }
        let t = strip_prefixes(t, &["the"]);
        match t {
            [d] if d.chars().all(|c| c.is_ascii_digit()) && d.len() <= 2 => d.parse().ok(),
            _ => cardinal(t),
        }
    })?;
    (1..=31).contains(&v).then_some(v as u8)
}

/// A year 1900-2199: "2027", "twenty twenty seven", "two thousand twenty seven", "nineteen
/// eighty five", "nineteen oh five". Plain small numbers ("twenty seven") are no year.
pub(crate) fn year(t: &[&str]) -> Option<i32> {
    let v: u64 = match t {
        [] => return None,
        [d] if d.len() == 4 && d.chars().all(|c| c.is_ascii_digit()) => d.parse().ok()?,
        _ => {
            let s = integer_digits(t)?;
            let v = s.value()?;
            if s.groups == 1 && v < 1000 || s.digits.len() != 4 {
                return None;
            }
            v
        }
    };
    let y = i32::try_from(v).ok()?;
    Date::new(y, 1, 1).map(|_| y)
}

/// Splits `t` into a day number and a year: "third twenty twenty seven", "3rd 2027", "third"
/// (no year), "21 of 2027".
fn day_and_year(t: &[&str], cardinal_ok: bool) -> Option<(u8, Option<i32>)> {
    let t = strip_prefixes(t, &["the"]);
    for k in (1..=t.len().min(3)).rev() {
        let Some(d) = day_number(&t[..k], cardinal_ok) else {
            continue;
        };
        let rest = strip_prefixes(&t[k..], &["of", "in"]);
        if k == t.len() {
            return Some((d, None));
        }
        if let Some(y) = year(rest) {
            return Some((d, Some(y)));
        }
    }
    None
}

/// Dates with a month name: "the third of june", "june third", "june 3rd 2027", "3 june",
/// "december the twenty fifth", "friday the fourth of december" (the weekday is ignored),
/// and months alone: "june", "next june", "last june", "june 2027".
fn named_month(t: &[&str], today: Date) -> Option<DateAnswer> {
    let pos = t.iter().position(|w| month(w).is_some())?;
    let m = month(t[pos])?;
    let before = strip_suffixes(&t[..pos], &["of", "of the month"]);
    let after = &t[pos + 1..];
    let make = |d: u8, y: Option<i32>| -> Option<DateAnswer> {
        let date = match y {
            Some(y) => Date::new(y, m, d)?,
            None => month_day_on_or_after(today, m, d)?,
        };
        Some(DateAnswer::Day(date))
    };
    if pos > 0 {
        let relative_month = |r: &[&str]| -> Option<i32> {
            match r {
                ["this"] => Some(0),
                ["next"] => Some(1),
                ["last"] => Some(-1),
                _ => None,
            }
        };
        // "this june", "next june", "last june".
        if let Some(which) = relative_month(&t[..pos]) {
            if !after.is_empty() {
                return None;
            }
            let cur = today.month();
            let year = match which {
                0 => today.year() + i32::from(m < cur),
                1 => today.year() + i32::from(m <= cur),
                _ => today.year() - i32::from(m >= cur),
            };
            return Date::new(year, m, 1).map(|_| DateAnswer::Month { year, month: m });
        }
        // "the third of june [2027]", "3 june".
        let d = day_number(before, true)?;
        let y = match strip_prefixes(after, &["of", "in"]) {
            [] => None,
            rest => Some(year(rest)?),
        };
        return make(d, y);
    }
    if after.is_empty() {
        let year = today.year() + i32::from(m < today.month());
        return Date::new(year, m, 1).map(|_| DateAnswer::Month { year, month: m });
    }
    // "june 2027", "june of 2027".
    if let Some(y) = year(strip_prefixes(after, &["of", "in"])) {
        return Some(DateAnswer::Month { year: y, month: m });
    }
    // "june third", "june the third 2027", "june 3".
    let (d, y) = day_and_year(after, true)?;
    make(d, y)
}

/// A day of the month alone: "the 21st", "the third of next month", "the fifth of this month".
fn day_of_month(t: &[&str], today: Date) -> Option<Date> {
    let (t, months): (&[&str], Option<i64>) = {
        let mut found = (t, None);
        for (tail, n) in [
            (&["of", "this", "month"][..], 0),
            (&["this", "month"][..], 0),
            (&["of", "the", "month"][..], 0),
            (&["of", "next", "month"][..], 1),
            (&["next", "month"][..], 1),
            (&["of", "last", "month"][..], -1),
            (&["last", "month"][..], -1),
        ] {
            if t.len() > tail.len() && t.ends_with(tail) {
                let explicit = if tail.contains(&"the") { None } else { Some(n) };
                found = (&t[..t.len() - tail.len()], explicit);
                break;
            }
        }
        found
    };
    // Ordinals only: a bare cardinal ("twenty one") is no date.
    let d = day_number(t, false)?;
    match months {
        Some(n) => {
            let first = Date::new(today.year(), today.month(), 1)?.add_months(n)?;
            Date::new(first.year(), first.month(), d)
        }
        None => (0..=12).find_map(|k| {
            let first = Date::new(today.year(), today.month(), 1)?.add_months(k)?;
            Date::new(first.year(), first.month(), d).filter(|x| *x >= today)
        }),
    }
}

/// Every word the date parser understands (for [`super::vocabulary`]).
pub(crate) fn words() -> impl Iterator<Item = &'static str> {
    MONTH_NAMES
        .iter()
        .chain(MONTH_ABBREVIATIONS.iter())
        .copied()
        .chain(["sept"])
        .chain(Weekday::ALL.iter().map(|d| d.name()))
        .chain(HOLIDAYS.iter().map(|(n, _, _)| *n))
        .chain(DATE_LEAD_INS.iter().copied())
        .chain(DATE_WORDS.iter().copied())
        .chain([
            "right",
            "just",
            "gone",
            "past",
            "previous",
            "following",
            "that",
            "current",
            "later",
            "on",
            "saint",
            "st",
        ])
        .flat_map(|p| p.split(' '))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_days_of_the_answer() {
        let d = |y, m, day| Date::new(y, m, day).unwrap();
        assert_eq!(
            DateAnswer::Week {
                year: 2026,
                week: 53
            }
            .range(),
            Some((d(2026, 12, 28), d(2027, 1, 3)))
        );
        assert_eq!(
            DateAnswer::Week {
                year: 2027,
                week: 53
            }
            .range(),
            None
        );
        assert_eq!(
            DateAnswer::Weekend {
                year: 2026,
                week: 49
            }
            .range(),
            Some((d(2026, 12, 5), d(2026, 12, 6)))
        );
        assert_eq!(
            DateAnswer::Month {
                year: 2028,
                month: 2
            }
            .range(),
            Some((d(2028, 2, 1), d(2028, 2, 29)))
        );
        assert_eq!(
            DateAnswer::Month {
                year: 2028,
                month: 13
            }
            .range(),
            None
        );
        assert_eq!(DateAnswer::Year(2300).range(), None);
        assert_eq!(
            DateAnswer::Weekend {
                year: 2026,
                week: 49
            }
            .value(),
            "2026-W49-WE"
        );
    }
}
