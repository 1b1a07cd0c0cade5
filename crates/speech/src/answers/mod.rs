//! Answer parsing like Amazon Lex's built-in slot types (sans I/O): what a caller said (a
//! recogniser's transcript or typed text) or keyed, for one [`AnswerType`], becomes a typed
//! [`Answer`], a request to hear the question again ([`Parsed::Repeat`]) or no match.
//!
//! ```
//! use tympan_speech::AnswerType;
//! use tympan_speech::answers::{parse_speech, parse_keypad, AnswerContext, Date, Parsed};
//!
//! let ctx = AnswerContext::new(Date::new(2026, 12, 1).unwrap()); // a Tuesday
//! let p = parse_speech(AnswerType::Date, "um next friday please", &ctx);
//! let Parsed::Answer(a) = p else { panic!() };
//! assert_eq!(a.to_json().to_string(),
//!     r#"{"end":"2026-12-04","granularity":"day","start":"2026-12-04","type":"date","value":"2026-12-04"}"#);
//! assert_eq!(parse_speech(AnswerType::YesNo, "can you repeat the question", &ctx), Parsed::Repeat);
//! assert_eq!(parse_keypad(AnswerType::Time, "2460#", &ctx), Parsed::NoMatch);
//! ```
//!
//! # JSON shapes ([`Answer::to_json`])
//!
//! | type | example |
//! |---|---|
//! | ok | `{"type":"ok","value":"ok"}` |
//! | yes_no | `{"type":"yes_no","value":"yes"}` (or `"no"`) |
//! | choice | `{"type":"choice","value":"B"}` |
//! | number | `{"type":"number","value":25}`, `{"type":"number","value":-3.5}` (a JSON number) |
//! | date | `{"type":"date","value":"2026-12-04","granularity":"day","start":"2026-12-04","end":"2026-12-04"}`; `value` is `2026-W50` (week), `2026-W49-WE` (weekend), `2027-06` (month) or `2027` (year) for vaguer answers, with `start`/`end` the days covered (left out only when they fall beyond [`MAX_YEAR`]) |
//! | time | `{"type":"time","value":"15:30"}`; said without am/pm: `{"type":"time","value":"15:30","alternatives":["03:30","15:30"]}`; a part of the day: `{"type":"time","value":"MO"}` (`AF`, `EV`, `NI`) |
//!
//! [`Answer::value`] is the `value` as text, the one string a flow stores ("yes", "B", "25",
//! "2026-12-04", "15:30").
//!
//! # Decisions on ambiguous answers
//!
//! Every answer type:
//! - Hesitations ("um", "uh", "er", "hmm") are dropped anywhere, openers ("well", "so",
//!   "oh", "let me see") at the start. Number, choice, date and time answers also drop
//!   politeness anywhere ("please", "thank you", "sir"), a leading "ok"/"yes", lead-ins ("I
//!   think it's", "it's", "my answer is", "let's say", "how about") and tails ("I think"); what
//!   remains must be the whole answer, so "five or six", "between two and three" and "I have
//!   no idea, maybe three" are no match.
//! - Repeat: "repeat", "pardon", "say that again", "come again", "one more time", "I didn't
//!   hear/catch that", "what did you say", "what was the question" anywhere in the answer;
//!   "what", "sorry", "excuse me", "huh", "again" only as the whole answer. A repeat request
//!   wins over anything else said. Keypad: `*` alone.
//!
//! OK (acknowledgement; Callouts: 'answer "ok", if you got the message'): "ok", "okay", "oh
//! ok", "o.k.", "o k", "okey dokey", "alright", "all right", "got it", "gotcha", "understood",
//! "I understand", "I see", "noted", "roger", "copy that", "will do", "sure", "fine", "sounds
//! good", "good", "great", "perfect", "cool", "thanks", "thank you", "no problem", "of
//! course", "yes"/"yeah"/"yep"/"yup", "uh huh". A negated or doubtful acknowledgement ("not
//! ok", "I don't understand", "I'm not sure"), any "no", or a mix ("ok no") is no match.
//!
//! Yes/no: positive cues ("yes", "yeah", "yep", "yup", "sure", "correct", "that's right",
//! "true", "absolutely", "definitely", "of course", "affirmative", "I do", "I am", "it is", "I
//! think so", "ok", "fine", "why not", "I don't mind", "uh huh", "mm hmm") and negative ones
//! ("no", "nope", "nah", "negative", "never", "not really", "not at all", "no thanks",
//! "wrong", "incorrect", "false"). A negator ("not", "don't", "isn't", "I'm not" …) turns the
//! next positive cue negative ("not yes", "that's not right", "I don't think so" are no) and,
//! left over at the end, means no ("no I don't", "I'm not"). Doubt ("I don't know", "not
//! sure", "maybe", "perhaps", "probably", "no idea", "it depends", "no problem") is no match,
//! and so are both polarities together ("yes and no", "no, wait, yes": ask again rather than
//! guess), a negated negative ("not wrong") and an answer with no cue. Other words are ignored
//! ("yes, I'd like that").
//!
//! Choice (A–E by default, [`AnswerContext::with_choices`] up to [`MAX_CHOICES`]): letters ("b",
//! "option c", "letter d", "the letter a"), letters as heard ("ay"/"eh", "bee"/"be",
//! "see"/"sea"/"cee", "dee", "ee", "ef", "gee", "aitch", "eye"), NATO words ("alpha" …
//! "india"), spelled letters ("e as in echo", "b for boy", "c like charlie": the word must start
//! with the letter, else no match), ordinals ("second", "the second one", "the 2nd option"),
//! numbers ("two", "number two", "option 2", "2") and "the last one". A choice beyond the count
//! is no match, and so are two choices ("a or b").
//!
//! Number (AMAZON.NUMBER): cardinals up to ±[`MAX_NUMBER`] ("a hundred and three", "one
//! thousand two hundred", "twelve hundred", "a million"); digit strings join groups below 100
//! ("two five" = 25, "nineteen eighty five" = 1985, "double five" = 55, "oh seven" = 7: a
//! spoken "oh" is a zero digit and leading zeros are dropped from the value); "minus"/"negative"
//! (-4); decimals with "point"/"dot" and up to [`MAX_FRACTION_DIGITS`] digits ("three point
//! five", "point forty two" = 0.42, as Lex documents); "and a half/a quarter/three quarters";
//! ordinals ("the third" = 3, "21st"); "none"/"nothing"/"nil" = 0; digits in text ("25",
//! "1,234", "-15", "3.5"). Words and digits mixed ("twenty 5") are no match.
//!
//! Date (AMAZON.DATE), resolved against [`AnswerContext::today`]:
//! - A month and day without a year is the first such date on or after today (Lex's rule): on
//!   2026-12-01 "june third" is 2027-06-03 and "december first" today. "the 21st" is the next
//!   21st on or after today. Bare cardinals ("twenty one") are no date; ordinals are.
//! - A bare weekday or "this friday" is the next such day on or after today (a Tuesday on a
//!   Tuesday is today); "next friday" the first one strictly after today (2026-12-04 from
//!   Tuesday 2026-12-01, the same as "this friday"; "next tuesday" is 2026-12-08); "friday next
//!   week" the Friday of the next ISO week (2026-12-11); "last friday" the latest one before
//!   today; "the friday after next" and "a week from friday" a week after "next friday".
//! - "today", "tonight", "now", "tomorrow", "yesterday", "the day after tomorrow", "in two
//!   weeks", "two weeks from today", "a week from tomorrow", "three days ago", "in a month"
//!   (calendar months, day clamped to the month's length).
//! - Numeric dates are US month/day ("12/25", "12/25/2027", "12/25/27" = 2027), day/month only
//!   when the first number cannot be a month ("25/12"); ISO "2027-06-03".
//! - Years said as "twenty twenty seven", "two thousand twenty seven", "nineteen oh five" or
//!   "2027", in [`MIN_YEAR`]..=[`MAX_YEAR`]; "twenty seven" alone is no year. "june thirty
//!   first" and "february thirtieth" (no such date) are no match.
//! - Fixed-date holidays: christmas (eve), boxing day, new year's (eve/day), valentine's day,
//!   st patrick's day, independence day, halloween, on or after today like any month-day.
//!   Movable feasts (easter, thanksgiving) and seasons are no match.
//! - Vaguer answers follow Alexa's AMAZON.DATE forms rather than Lex V2's single day: "this
//!   week"/"next week"/"last week"/"the week after next" → `2026-W49`/`2026-W50`/…, "this
//!   weekend"/"next weekend" → `2026-W49-WE`, "this month"/"next month"/"june"/"june 2027" →
//!   `2027-06` (a bare month is the next one on or after this month), "this year"/"next
//!   year"/"2027" → `2027`; each with `start` and `end` days, so a flow needing one day picks
//!   `start` (or `end`, as Lex V2 does for future weeks and months).
//! - A weekday before an explicit date is ignored ("friday the 4th of december"); a part of the
//!   day after a date too ("tomorrow morning").
//!
//! Time (AMAZON.TIME): "3 pm", "3pm", "3 p.m.", "ten in the morning", "seven in the evening",
//! "nine at night" (night: 12 is midnight, 1-4 am, 5-11 pm), "15:30", "1530", "fifteen thirty",
//! "fifteen hundred hours", "oh seven thirty" (a leading "oh"/"zero", an hour 0 or 13-23, a
//! "hundred" or four keyed digits mean the 24-hour clock), "half past three", "quarter
//! past/to four", "ten to six", "twenty five past five", "half three" (British 3:30), "five
//! o'clock", "noon", "midday", "midnight", "now" (the context's time, if given), "in twenty
//! minutes"/"in an hour" (from the context's time). A clock time without am/pm is
//! [`TimeAnswer::Ambiguous`]: the business-hours rule picks hours 7-11 as morning, 12 as noon
//! and 1-6 as afternoon ("three thirty" → 15:30, "seven" → 07:00, "quarter to one" → 12:45),
//! and both readings are kept in `alternatives` as Lex does. "morning", "afternoon",
//! "evening", "night"/"tonight" alone are periods (`MO`, `AF`, `EV`, `NI`). "25:00", "three
//! sixty", "fifteen pm" and a lone "zero" are no match. Digits 10:00-12:59 without a leading
//! zero are ambiguous like words ("10:30" may be 22:30); "0930" and "09:30" are not.
//!
//! Keypad ([`parse_keypad`]; one trailing `#` is the terminator and ignored; `*` alone is a
//! repeat request): OK `1`; yes/no `1` yes, `2` no; choice `1`-`9` within the count; number:
//! digits (at most [`MAX_INTEGER_DIGITS`], leading zeros dropped); date `DDMMYYYY` (a real
//! calendar date: `31022027` is no match); time `HHMM`, 24-hour (`2460` is no match). Anything
//! else, including other keys or an empty entry, is no match.

mod calendar;
mod choice;
mod clock;
mod dates;
mod numbers;
mod polarity;
mod text;

use std::collections::BTreeSet;

use serde::{Serialize, Serializer};
use serde_json::{json, Value};

use crate::AnswerType;

pub use calendar::{days_in_month, is_leap_year, Date, TimeOfDay, Weekday, MAX_YEAR, MIN_YEAR};
pub use choice::{DEFAULT_CHOICES, MAX_CHOICES};
pub use clock::{DayPeriod, TimeAnswer};
pub use dates::DateAnswer;
pub use numbers::{
    spell_number, spell_ordinal, Number, MAX_FRACTION_DIGITS, MAX_INTEGER_DIGITS, MAX_NUMBER,
};
pub(crate) use numbers::{TEENS, TENS, UNITS};
pub use text::{tokenize, MAX_TRANSCRIPT_CHARS};

/// The most keys a keypad answer may have (a twelve-digit number and its terminator fit).
pub const MAX_KEYPAD_KEYS: usize = 16;
/// The largest time-zone offset from UTC accepted, in minutes (UTC+14:00, Kiribati).
pub const MAX_UTC_OFFSET_MINUTES: i32 = 14 * 60;

/// What the answer is resolved against: the call's local date (and time, when known), its
/// time zone offset, and how many choices a multiple-choice question offers. Never read from a
/// clock: the flow interpreter passes its `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnswerContext {
    /// The caller's local date ("today", "next friday" resolve against it).
    pub today: Date,
    /// The caller's local time, if known ("now", "in twenty minutes").
    pub now: Option<TimeOfDay>,
    /// The caller's offset from UTC in minutes (informational once `today` is set).
    pub utc_offset_minutes: i32,
    /// How many choices a choice question offers (A, B, …), 1..=[`MAX_CHOICES`].
    pub choices: u8,
}

/// A context that cannot be built; names the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContextError {
    /// The time-zone offset is beyond ±[`MAX_UTC_OFFSET_MINUTES`].
    #[error("UTC offset {0} minutes is beyond ±{MAX_UTC_OFFSET_MINUTES}")]
    Offset(i32),
    /// The instant's local date is outside [`MIN_YEAR`]..=[`MAX_YEAR`].
    #[error("unix time {0} ms is outside the years {MIN_YEAR}-{MAX_YEAR}")]
    Instant(i64),
    /// The choice count is not 1..=[`MAX_CHOICES`].
    #[error("choice count {0} is not between 1 and {MAX_CHOICES}")]
    Choices(u8),
}

impl AnswerContext {
    /// A context for `today`, time unknown, UTC, [`DEFAULT_CHOICES`] choices.
    pub fn new(today: Date) -> AnswerContext {
        AnswerContext {
            today,
            now: None,
            utc_offset_minutes: 0,
            choices: DEFAULT_CHOICES,
        }
    }

    /// The context at the instant `now_ms` (milliseconds since the Unix epoch, UTC) for a
    /// caller `utc_offset_minutes` east of UTC: their local date and time.
    pub fn at_unix_ms(now_ms: i64, utc_offset_minutes: i32) -> Result<AnswerContext, ContextError> {
        if utc_offset_minutes.abs() > MAX_UTC_OFFSET_MINUTES {
            return Err(ContextError::Offset(utc_offset_minutes));
        }
        let local = now_ms
            .checked_add(i64::from(utc_offset_minutes) * 60_000)
            .ok_or(ContextError::Instant(now_ms))?;
        let day_ms = 86_400_000;
        let today = Date::from_days_since_epoch(local.div_euclid(day_ms))
            .ok_or(ContextError::Instant(now_ms))?;
        let minute = local.rem_euclid(day_ms) / 60_000;
        Ok(AnswerContext {
            today,
            now: TimeOfDay::new((minute / 60) as u8, (minute % 60) as u8),
            utc_offset_minutes,
            choices: DEFAULT_CHOICES,
        })
    }

    /// This context with the caller's local time known.
    pub fn with_time(mut self, now: TimeOfDay) -> AnswerContext {
        self.now = Some(now);
        self
    }

    /// This context for a question offering `count` choices (A … the `count`-th letter).
    pub fn with_choices(mut self, count: u8) -> Result<AnswerContext, ContextError> {
        if !(1..=MAX_CHOICES).contains(&count) {
            return Err(ContextError::Choices(count));
        }
        self.choices = count;
        Ok(self)
    }

    /// The weekday of `today`.
    pub fn weekday(&self) -> Weekday {
        self.today.weekday()
    }
}

/// A typed answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    /// The caller acknowledged ("ok").
    Ok,
    /// Yes (`true`) or no.
    YesNo(bool),
    /// A choice letter, `'A'`…
    Choice(char),
    /// A number.
    Number(Number),
    /// A date (a day, or a week, weekend, month or year).
    Date(DateAnswer),
    /// A time of day (or a part of the day).
    Time(TimeAnswer),
}

impl Answer {
    /// The answer type this answer is of.
    pub fn answer_type(&self) -> AnswerType {
        match self {
            Answer::Ok => AnswerType::Ok,
            Answer::YesNo(_) => AnswerType::YesNo,
            Answer::Choice(_) => AnswerType::Choice,
            Answer::Number(_) => AnswerType::Number,
            Answer::Date(_) => AnswerType::Date,
            Answer::Time(_) => AnswerType::Time,
        }
    }

    /// The answer as one string: "ok", "yes"/"no", "B", "25", "-3.5", "2026-12-04",
    /// "2026-W50", "15:30", "MO".
    pub fn value(&self) -> String {
        match self {
            Answer::Ok => "ok".into(),
            Answer::YesNo(true) => "yes".into(),
            Answer::YesNo(false) => "no".into(),
            Answer::Choice(c) => c.to_string(),
            Answer::Number(n) => n.to_string(),
            Answer::Date(d) => d.value(),
            Answer::Time(t) => t.value(),
        }
    }

    /// The JSON form documented in the [module docs](self).
    pub fn to_json(&self) -> Value {
        let ty = self.answer_type().as_str();
        match self {
            Answer::Number(n) => {
                let value = match n.as_i64() {
                    Some(i) => json!(i),
                    None => json!(n.as_f64()),
                };
                json!({"type": ty, "value": value})
            }
            Answer::Date(d) => {
                let mut v = json!({"type": ty, "value": d.value(), "granularity": d.granularity()});
                if let Some((start, end)) = d.range() {
                    v["start"] = json!(start.to_string());
                    v["end"] = json!(end.to_string());
                }
                v
            }
            Answer::Time(TimeAnswer::Ambiguous { chosen, am, pm }) => json!({
                "type": ty, "value": chosen.to_string(),
                "alternatives": [am.to_string(), pm.to_string()]
            }),
            _ => json!({"type": ty, "value": self.value()}),
        }
    }
}

impl Serialize for Answer {
    /// Serializes as [`Answer::to_json`].
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

/// The outcome of parsing one answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parsed {
    /// A typed answer.
    Answer(Answer),
    /// The caller asked to hear the question again (the flow replays it).
    Repeat,
    /// Not an answer of the type asked for.
    NoMatch,
}

impl Parsed {
    /// The answer, if there is one.
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            Parsed::Answer(a) => Some(a),
            _ => None,
        }
    }
}

/// Lead-ins of a number answer on top of the shared ones.
const NUMBER_LEAD_INS: &[&str] = &[
    "the number is",
    "my number is",
    "number",
    "about",
    "around",
    "approximately",
    "roughly",
    "exactly",
    "just",
    "maybe",
    "i'm",
    "i am",
    "we have",
    "i have",
    "there are",
    "there's",
    "it was",
];

/// Tails of a number answer ("twenty or so", "forty years old").
const NUMBER_TAILS: &[&str] = &["or so", "years old", "years", "of them", "exactly"];

/// Parses what the caller said for a question of type `ty`.
pub fn parse_speech(ty: AnswerType, transcript: &str, ctx: &AnswerContext) -> Parsed {
    if transcript.chars().count() > MAX_TRANSCRIPT_CHARS {
        return Parsed::NoMatch;
    }
    let owned = text::tokenize(transcript);
    let tokens: Vec<&str> = owned.iter().map(String::as_str).collect();
    let t = match ty {
        // Unknown words are ignored by the cue scan, and "uh huh"/"mm hmm" are cues.
        AnswerType::Ok | AnswerType::YesNo => tokens,
        AnswerType::Choice => text::drop_hesitations(&tokens, &["eh"]),
        AnswerType::Number | AnswerType::Time => text::drop_hesitations(&tokens, &["oh"]),
        AnswerType::Date => text::drop_hesitations(&tokens, &[]),
    };
    if t.is_empty() {
        return Parsed::NoMatch;
    }
    if text::is_repeat(&t) {
        return Parsed::Repeat;
    }
    let answer = match ty {
        AnswerType::Ok => (polarity::polarity(&t, true) == Some(true)).then_some(Answer::Ok),
        AnswerType::YesNo => polarity::polarity(&t, false).map(Answer::YesNo),
        AnswerType::Choice => {
            let core = text::strict_core(&t, choice::CHOICE_LEAD_INS);
            choice::parse_choice(&core, ctx.choices).map(|i| Answer::Choice(char::from(b'A' + i)))
        }
        AnswerType::Number => {
            let core = text::strict_core(&t, NUMBER_LEAD_INS);
            let core = text::strip_suffixes(&core, NUMBER_TAILS);
            numbers::parse_number(core).map(Answer::Number)
        }
        AnswerType::Date => {
            let core = text::strict_core(&t, dates::DATE_LEAD_INS);
            dates::parse_date(&core, ctx.today).map(Answer::Date)
        }
        AnswerType::Time => {
            let core = text::strict_core(&t, clock::TIME_LEAD_INS);
            clock::parse_time(&core, ctx.now).map(Answer::Time)
        }
    };
    answer.map_or(Parsed::NoMatch, Parsed::Answer)
}

/// Parses what the caller keyed (DTMF digits, `#` terminator optional) for a question of type
/// `ty`; see the module docs for each type's keys.
pub fn parse_keypad(ty: AnswerType, keys: &str, ctx: &AnswerContext) -> Parsed {
    let keys = keys.trim();
    if keys.len() > MAX_KEYPAD_KEYS {
        return Parsed::NoMatch;
    }
    if keys == "*" || keys == "*#" {
        return Parsed::Repeat;
    }
    let digits = keys.strip_suffix('#').unwrap_or(keys);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Parsed::NoMatch;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u8> { digits.get(range)?.parse().ok() };
    let answer = match ty {
        AnswerType::Ok => (digits == "1").then_some(Answer::Ok),
        AnswerType::YesNo => match digits {
            "1" => Some(Answer::YesNo(true)),
            "2" => Some(Answer::YesNo(false)),
            _ => None,
        },
        AnswerType::Choice => match digits.as_bytes() {
            [d @ b'1'..=b'9'] if d - b'0' <= ctx.choices => {
                Some(Answer::Choice(char::from(b'A' + (d - b'1'))))
            }
            _ => None,
        },
        AnswerType::Number => (digits.len() <= MAX_INTEGER_DIGITS)
            .then(|| digits.parse::<i64>().ok().and_then(Number::integer))
            .flatten()
            .map(Answer::Number),
        AnswerType::Date => (digits.len() == 8)
            .then(|| {
                let year: i32 = digits[4..].parse().ok()?;
                Date::new(year, num(2..4)?, num(0..2)?)
            })
            .flatten()
            .map(|d| Answer::Date(DateAnswer::Day(d))),
        AnswerType::Time => (digits.len() == 4)
            .then(|| TimeOfDay::new(num(0..2)?, num(2..4)?))
            .flatten()
            .map(|t| Answer::Time(TimeAnswer::Exact(t))),
    };
    answer.map_or(Parsed::NoMatch, Parsed::Answer)
}

/// The words the parser understands for `ty`, sorted: a recogniser's grammar for that type
/// should only produce these (and, for numbers, dates and times, digits). Includes the
/// repeat-request words, hesitations and politeness every type accepts.
pub fn vocabulary(ty: AnswerType) -> Vec<&'static str> {
    let mut set: BTreeSet<&'static str> = BTreeSet::new();
    let phrases = |set: &mut BTreeSet<&'static str>, list: &[&'static str]| {
        set.extend(list.iter().flat_map(|p| p.split(' ')));
    };
    phrases(&mut set, text::REPEAT_ANYWHERE);
    phrases(&mut set, text::REPEAT_WHOLE);
    phrases(&mut set, text::REPEAT_CARRIERS);
    phrases(&mut set, text::HESITATIONS);
    phrases(&mut set, text::OPENERS);
    let strict = |set: &mut BTreeSet<&'static str>, extra: &[&'static str]| {
        phrases(set, text::POLITENESS);
        phrases(set, text::LEADING_ACKS);
        phrases(set, text::LEAD_INS);
        phrases(set, text::TAILS);
        phrases(set, extra);
    };
    match ty {
        AnswerType::Ok => set.extend(polarity::words(true)),
        AnswerType::YesNo => set.extend(polarity::words(false)),
        AnswerType::Choice => {
            strict(&mut set, choice::CHOICE_LEAD_INS);
            set.extend(choice::words());
            set.extend(numbers::small_number_words());
        }
        AnswerType::Number => {
            strict(&mut set, NUMBER_LEAD_INS);
            phrases(&mut set, NUMBER_TAILS);
            set.extend(numbers::all_number_words());
            phrases(&mut set, numbers::NUMBER_EXTRA_WORDS);
        }
        AnswerType::Date => {
            strict(&mut set, dates::DATE_LEAD_INS);
            set.extend(dates::words());
            set.extend(numbers::all_number_words());
            phrases(&mut set, &["oh", "o", "and", "a"]);
        }
        AnswerType::Time => {
            strict(&mut set, clock::TIME_LEAD_INS);
            set.extend(clock::words());
            set.extend(numbers::all_number_words());
        }
    }
    set.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_from_an_instant_uses_the_local_date() {
        // 2026-12-01T23:30:00Z is already Wednesday 2 December at UTC+01:00.
        let ms =
            (Date::new(2026, 12, 1).unwrap().days_since_epoch() * 86_400 + 23 * 3600 + 1800) * 1000;
        let utc = AnswerContext::at_unix_ms(ms, 0).unwrap();
        assert_eq!(utc.today.to_string(), "2026-12-01");
        assert_eq!(utc.now.unwrap().to_string(), "23:30");
        let paris = AnswerContext::at_unix_ms(ms, 60).unwrap();
        assert_eq!(paris.today.to_string(), "2026-12-02");
        assert_eq!(paris.weekday(), Weekday::Wednesday);
        assert_eq!(paris.now.unwrap().to_string(), "00:30");
        let ny = AnswerContext::at_unix_ms(ms, -300).unwrap();
        assert_eq!(ny.now.unwrap().to_string(), "18:30");
        assert_eq!(
            AnswerContext::at_unix_ms(ms, 15 * 60),
            Err(ContextError::Offset(900))
        );
        assert!(AnswerContext::new(utc.today).with_choices(0).is_err());
        assert!(AnswerContext::new(utc.today).with_choices(10).is_err());
    }
}
