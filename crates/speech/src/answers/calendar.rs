//! A tiny proleptic-Gregorian calendar: dates, weekdays, ISO weeks and times of day. No clock:
//! "today" always comes from the caller ([`super::AnswerContext`]).

use std::fmt;

/// The first year a parsed date may fall in (birth dates of the elderly still fit).
pub const MIN_YEAR: i32 = 1900;
/// The last year a parsed date may fall in.
pub const MAX_YEAR: i32 = 2199;

/// A calendar date (proleptic Gregorian), always valid, year in [`MIN_YEAR`]..=[`MAX_YEAR`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

/// A day of the week; ISO order (Monday first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weekday {
    /// Monday (ISO day 1).
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday (ISO day 7).
    Sunday,
}

impl Weekday {
    /// Every weekday, Monday first.
    pub const ALL: [Weekday; 7] = [
        Weekday::Monday,
        Weekday::Tuesday,
        Weekday::Wednesday,
        Weekday::Thursday,
        Weekday::Friday,
        Weekday::Saturday,
        Weekday::Sunday,
    ];

    /// Days since Monday (Monday = 0 … Sunday = 6).
    pub fn days_from_monday(self) -> u8 {
        self as u8
    }

    /// The lowercase English name ("friday").
    pub fn name(self) -> &'static str {
        [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ][self as usize]
    }
}

/// Whether `year` is a Gregorian leap year.
pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days of `month` (1-12) in `year`; 0 for a month out of range.
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// The English month names, January first.
pub(crate) const MONTH_NAMES: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl Date {
    /// The date `year-month-day`, or `None` when it is not a calendar date or the year is out of
    /// [`MIN_YEAR`]..=[`MAX_YEAR`].
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        if !(MIN_YEAR..=MAX_YEAR).contains(&year) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month, 1-12.
    pub fn month(self) -> u8 {
        self.month
    }

    /// The day of the month, 1-31.
    pub fn day(self) -> u8 {
        self.day
    }

    /// Days since 1970-01-01 (negative before).
    pub fn days_since_epoch(self) -> i64 {
        // Civil-to-days over 400-year eras whose years start in March.
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let mp = (m + 9) % 12; // March = 0
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    /// The date `days` days after 1970-01-01, or `None` outside the supported years.
    pub fn from_days_since_epoch(days: i64) -> Option<Date> {
        let z = days.checked_add(719_468)?;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let year = i32::try_from(year).ok()?;
        Date::new(year, month as u8, day as u8)
    }

    /// The weekday of this date.
    pub fn weekday(self) -> Weekday {
        // 1970-01-01 was a Thursday (3 days after a Monday).
        let idx = (self.days_since_epoch() + 3).rem_euclid(7);
        Weekday::ALL[idx as usize]
    }

    /// This date moved by `days` (negative: earlier), or `None` outside the supported years.
    pub fn add_days(self, days: i64) -> Option<Date> {
        Date::from_days_since_epoch(self.days_since_epoch().checked_add(days)?)
    }

    /// This date moved by `months` calendar months; the day is clamped to the target month's
    /// length (January 31 + 1 month = February 28 or 29).
    pub fn add_months(self, months: i64) -> Option<Date> {
        let index = i64::from(self.year) * 12 + i64::from(self.month) - 1 + months;
        let year = i32::try_from(index.div_euclid(12)).ok()?;
        let month = (index.rem_euclid(12) + 1) as u8;
        let day = self.day.min(days_in_month(year, month));
        Date::new(year, month, day)
    }

    /// The Monday of this date's ISO week.
    pub fn monday_of_week(self) -> Option<Date> {
        self.add_days(-i64::from(self.weekday().days_from_monday()))
    }

    /// The ISO-8601 week-numbering year and week (1-53) of this date.
    pub fn iso_week(self) -> (i32, u8) {
        let thursday_days =
            self.days_since_epoch() - i64::from(self.weekday().days_from_monday()) + 3;
        // The Thursday may fall just outside the supported years; compute its civil year
        // without the range check.
        let (year, ordinal) = civil_year_and_ordinal(thursday_days);
        (year, ((ordinal - 1) / 7 + 1) as u8)
    }

    /// The 1-based day of the year.
    pub fn ordinal(self) -> u16 {
        let jan1 = Date {
            year: self.year,
            month: 1,
            day: 1,
        };
        (self.days_since_epoch() - jan1.days_since_epoch() + 1) as u16
    }
}

/// The civil year and 1-based day of the year of a day number, for any year.
fn civil_year_and_ordinal(days: i64) -> (i32, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    // Days from March 1 (doy) to the ordinal from January 1.
    let jan_feb = if is_leap_year(year) { 60 } else { 59 };
    let ordinal = if month <= 2 { doy - 306 } else { doy + jan_feb } + 1;
    (year, ordinal)
}

/// The Monday that starts ISO week `week` of ISO year `year`, or `None` when that week does
/// not exist (week 53 of a 52-week year) or falls outside the supported years.
pub fn iso_week_start(year: i32, week: u8) -> Option<Date> {
    let jan4 = Date::new(year, 1, 4)?;
    let monday1 = jan4.monday_of_week()?;
    let start = monday1.add_days(7 * (i64::from(week) - 1))?;
    if week == 0 || start.iso_week() != (year, week) {
        return None;
    }
    Some(start)
}

impl fmt::Display for Date {
    /// ISO-8601: `2026-12-01`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A time of day to the minute, 00:00-23:59.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    hour: u8,
    minute: u8,
}

impl TimeOfDay {
    /// `hour:minute`, or `None` unless hour < 24 and minute < 60.
    pub fn new(hour: u8, minute: u8) -> Option<TimeOfDay> {
        (hour < 24 && minute < 60).then_some(TimeOfDay { hour, minute })
    }

    /// The hour, 0-23.
    pub fn hour(self) -> u8 {
        self.hour
    }

    /// The minute, 0-59.
    pub fn minute(self) -> u8 {
        self.minute
    }

    /// Minutes since midnight.
    pub fn minutes_of_day(self) -> u16 {
        u16::from(self.hour) * 60 + u16::from(self.minute)
    }

    /// The time `minutes` after midnight, wrapping around the day (so -10 is 23:50).
    pub fn from_minutes_wrapping(minutes: i32) -> TimeOfDay {
        let m = minutes.rem_euclid(24 * 60);
        TimeOfDay {
            hour: (m / 60) as u8,
            minute: (m % 60) as u8,
        }
    }
}

impl fmt::Display for TimeOfDay {
    /// `HH:MM`, 24-hour.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_days_round_trip_and_weekdays() {
        let d = Date::new(1970, 1, 1).unwrap();
        assert_eq!(d.days_since_epoch(), 0);
        assert_eq!(d.weekday(), Weekday::Thursday);
        let tue = Date::new(2026, 12, 1).unwrap();
        assert_eq!(tue.weekday(), Weekday::Tuesday);
        assert_eq!(Date::new(2000, 2, 29).unwrap().weekday(), Weekday::Tuesday);
        let mut prev = Date::new(MIN_YEAR, 1, 1).unwrap().days_since_epoch() - 1;
        for y in [MIN_YEAR, 1999, 2000, 2024, 2026, 2100, MAX_YEAR] {
            for m in 1..=12 {
                for day in 1..=days_in_month(y, m) {
                    let d = Date::new(y, m, day).unwrap();
                    let n = d.days_since_epoch();
                    assert_eq!(Date::from_days_since_epoch(n), Some(d));
                    if y == MIN_YEAR {
                        assert_eq!(n, prev + 1);
                        prev = n;
                    }
                }
            }
        }
        assert_eq!(Date::new(2027, 2, 29), None);
        assert_eq!(Date::new(2100, 2, 29), None);
        assert!(Date::new(2000, 2, 29).is_some());
        assert_eq!(Date::new(1899, 12, 31), None);
    }

    #[test]
    fn iso_weeks_match_known_values() {
        let w = |y, m, d| Date::new(y, m, d).unwrap().iso_week();
        assert_eq!(w(2026, 12, 1), (2026, 49));
        assert_eq!(w(2026, 12, 7), (2026, 50));
        assert_eq!(w(2021, 1, 3), (2020, 53));
        assert_eq!(w(2024, 12, 30), (2025, 1));
        assert_eq!(w(2027, 1, 1), (2026, 53));
        assert_eq!(w(2026, 1, 1), (2026, 1));
        assert_eq!(iso_week_start(2026, 50), Date::new(2026, 12, 7));
        assert_eq!(iso_week_start(2025, 1), Date::new(2024, 12, 30));
        assert_eq!(iso_week_start(2026, 53), Date::new(2026, 12, 28));
        assert_eq!(iso_week_start(2027, 53), None);
        assert_eq!(Date::new(2026, 12, 31).unwrap().ordinal(), 365);
        assert_eq!(Date::new(2024, 12, 31).unwrap().ordinal(), 366);
        assert_eq!(Date::new(2024, 3, 1).unwrap().ordinal(), 61);
    }

    #[test]
    fn month_arithmetic_clamps_the_day() {
        let d = Date::new(2027, 1, 31).unwrap();
        assert_eq!(d.add_months(1), Date::new(2027, 2, 28));
        assert_eq!(d.add_months(13), Date::new(2028, 2, 29));
        assert_eq!(d.add_months(-2), Date::new(2026, 11, 30));
        assert_eq!(
            TimeOfDay::from_minutes_wrapping(-10),
            TimeOfDay::new(23, 50).unwrap()
        );
    }
}
