//! Property-style answer-parsing tests: whole ranges of numbers, dates and times written out
//! by our own writers parse back to themselves; JSON shapes; vocabulary; limits.

use tympan_speech::answers::{
    days_in_month, parse_keypad, parse_speech, spell_number, spell_ordinal, vocabulary, Answer,
    AnswerContext, Date, DateAnswer, Number, Parsed, TimeAnswer, TimeOfDay, Weekday,
    MAX_KEYPAD_KEYS, MAX_NUMBER, MAX_TRANSCRIPT_CHARS,
};
use tympan_speech::AnswerType;

const MONTHS: [&str; 12] = [
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

fn ctx(y: i32, m: u8, d: u8) -> AnswerContext {
    AnswerContext::new(Date::new(y, m, d).unwrap())
}

fn number(p: Parsed) -> Option<Number> {
    match p {
        Parsed::Answer(Answer::Number(n)) => Some(n),
        _ => None,
    }
}

fn day(p: Parsed) -> Option<Date> {
    match p {
        Parsed::Answer(Answer::Date(DateAnswer::Day(d))) => Some(d),
        _ => None,
    }
}

/// British style: "one hundred and three", "two thousand and five".
fn british(n: i64) -> String {
    let spelled = spell_number(n);
    let words: Vec<&str> = spelled.split(' ').collect();
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        out.push(*w);
        let more = i + 1 < words.len();
        if more && *w == "hundred" || more && *w == "thousand" && n % 1000 < 100 {
            out.push("and");
        }
    }
    out.join(" ")
}

fn digit_word(d: u32) -> &'static str {
    [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ][d as usize]
}

#[test]
fn every_number_to_9999_spelled_parses_back() {
    let c = ctx(2026, 12, 1);
    for n in 0..=9999i64 {
        let want = Number::integer(n);
        let said = spell_number(n);
        assert_eq!(
            number(parse_speech(AnswerType::Number, &said, &c)),
            want,
            "{said:?}"
        );
        let uk = british(n);
        assert_eq!(
            number(parse_speech(AnswerType::Number, &uk, &c)),
            want,
            "{uk:?}"
        );
        let digits = n.to_string();
        assert_eq!(
            number(parse_speech(AnswerType::Number, &digits, &c)),
            want,
            "{digits}"
        );
        // Digit by digit, inner zeros said "oh": "one oh two".
        let by_digit: Vec<&str> = digits
            .chars()
            .enumerate()
            .map(|(i, ch)| {
                let d = ch.to_digit(10).unwrap();
                if d == 0 && i > 0 {
                    "oh"
                } else {
                    digit_word(d)
                }
            })
            .collect();
        let by_digit = by_digit.join(" ");
        assert_eq!(
            number(parse_speech(AnswerType::Number, &by_digit, &c)),
            want,
            "{by_digit:?}"
        );
        assert_eq!(
            number(parse_keypad(AnswerType::Number, &format!("{n}#"), &c)),
            want,
            "keypad {n}#"
        );
        if n % 7 == 3 {
            let neg = format!("minus {said}");
            assert_eq!(
                number(parse_speech(AnswerType::Number, &neg, &c)),
                Number::integer(-n),
                "{neg:?}"
            );
        }
        if (1..=999).contains(&n) {
            let ord = spell_ordinal(n as u64);
            assert_eq!(
                number(parse_speech(AnswerType::Number, &ord, &c)),
                want,
                "{ord:?}"
            );
        }
    }
}

#[test]
fn large_numbers_parse_back_up_to_the_limit() {
    let c = ctx(2026, 12, 1);
    let mut n: i64 = 1;
    let mut checked = 0;
    while n <= MAX_NUMBER {
        let said = spell_number(n);
        assert_eq!(
            number(parse_speech(AnswerType::Number, &said, &c)),
            Number::integer(n),
            "{said:?}"
        );
        n = n * 13 + 7;
        checked += 1;
    }
    assert!(checked > 9);
    let max = spell_number(MAX_NUMBER);
    assert_eq!(
        number(parse_speech(AnswerType::Number, &max, &c)),
        Number::integer(MAX_NUMBER)
    );
    let over = spell_number(MAX_NUMBER + 1);
    assert_eq!(
        parse_speech(AnswerType::Number, &over, &c),
        Parsed::NoMatch,
        "{over}"
    );
    assert_eq!(
        parse_speech(AnswerType::Number, &(MAX_NUMBER + 1).to_string(), &c),
        Parsed::NoMatch
    );
}

#[test]
fn every_date_of_2027_said_as_the_nth_of_month_parses_back() {
    let new_year = ctx(2027, 1, 1);
    let before = ctx(2026, 12, 1);
    let mut days = 0;
    for (mi, month) in MONTHS.iter().enumerate() {
        let m = mi as u8 + 1;
        for d in 1..=31u8 {
            let ord = spell_ordinal(u64::from(d));
            let phrases = [
                (format!("the {ord} of {month}"), &new_year),
                (format!("{month} {ord}"), &new_year),
                (format!("{month} the {ord}"), &new_year),
                (format!("the {ord} of {month} twenty twenty seven"), &before),
                (format!("{month} {ord} two thousand twenty seven"), &before),
                (format!("{month} {d} 2027"), &before),
            ];
            let want = Date::new(2027, m, d);
            for (i, (p, c)) in phrases.iter().enumerate() {
                // Without a year, February 29th is the next one on or after today: 2028.
                let want = match want {
                    None if i < 3 && m == 2 && d == 29 => Date::new(2028, 2, 29),
                    w => w,
                };
                assert_eq!(day(parse_speech(AnswerType::Date, p, c)), want, "{p:?}");
                if want.is_none() {
                    assert_eq!(
                        parse_speech(AnswerType::Date, p, c),
                        Parsed::NoMatch,
                        "{p:?}"
                    );
                }
            }
            let keys = format!("{d:02}{m:02}2027");
            assert_eq!(
                day(parse_keypad(AnswerType::Date, &keys, &before)),
                want,
                "{keys}"
            );
            if want.is_some() {
                days += 1;
            }
        }
    }
    assert_eq!(days, 365);
}

#[test]
fn relative_dates_agree_with_the_calendar_on_every_day_of_2027() {
    for offset in 0..365 {
        let today = Date::new(2027, 1, 1).unwrap().add_days(offset).unwrap();
        let c = AnswerContext::new(today);
        let say = |s: &str| day(parse_speech(AnswerType::Date, s, &c));
        assert_eq!(say("today"), Some(today));
        assert_eq!(say("tomorrow"), today.add_days(1));
        assert_eq!(say("yesterday"), today.add_days(-1));
        assert_eq!(say("in a week"), today.add_days(7));
        assert_eq!(say("in two weeks"), today.add_days(14));
        assert_eq!(say("three days ago"), today.add_days(-3));
        assert_eq!(say("in a month"), today.add_months(1));
        for wd in Weekday::ALL {
            let name = wd.name();
            let gap = |s: &str| {
                let d = say(s).unwrap_or_else(|| panic!("{s:?} on {today}"));
                assert_eq!(d.weekday(), wd, "{s:?} on {today}");
                d.days_since_epoch() - today.days_since_epoch()
            };
            assert!((0..=6).contains(&gap(name)), "{name} on {today}");
            assert!((0..=6).contains(&gap(&format!("this {name}"))));
            assert!((1..=7).contains(&gap(&format!("next {name}"))));
            assert!((-7..=-1).contains(&gap(&format!("last {name}"))));
            assert!((1..=13).contains(&gap(&format!("{name} next week"))));
        }
        // "next week" covers Monday to Sunday of the following ISO week.
        let Parsed::Answer(Answer::Date(week)) = parse_speech(AnswerType::Date, "next week", &c)
        else {
            panic!("next week on {today}");
        };
        let (start, end) = week.range().unwrap();
        assert_eq!(start.weekday(), Weekday::Monday);
        assert_eq!(end.days_since_epoch() - start.days_since_epoch(), 6);
        let ahead = start.days_since_epoch() - today.days_since_epoch();
        assert!(
            (1..=7).contains(&ahead),
            "next week on {today} starts {start}"
        );
        assert_eq!(week.value(), {
            let (y, w) = start.iso_week();
            format!("{y}-W{w:02}")
        });
    }
}

#[test]
fn invalid_calendar_dates_are_refused_by_keypad_and_speech() {
    let c = ctx(2026, 12, 1);
    for year in [2027, 2028, 2100] {
        for m in 1..=12u8 {
            for d in days_in_month(year, m) + 1..=31 {
                let keys = format!("{d:02}{m:02}{year}");
                assert_eq!(
                    parse_keypad(AnswerType::Date, &keys, &c),
                    Parsed::NoMatch,
                    "{keys}"
                );
                let said = format!(
                    "the {} of {} {year}",
                    spell_ordinal(u64::from(d)),
                    MONTHS[m as usize - 1]
                );
                assert_eq!(
                    parse_speech(AnswerType::Date, &said, &c),
                    Parsed::NoMatch,
                    "{said}"
                );
            }
        }
    }
    assert_eq!(
        day(parse_keypad(AnswerType::Date, "29022028", &c)),
        Date::new(2028, 2, 29)
    );
}

#[test]
fn every_minute_of_the_day_parses_back() {
    let c = ctx(2026, 12, 1);
    for minute in 0..24 * 60u16 {
        let (h, m) = ((minute / 60) as u8, (minute % 60) as u8);
        let want = TimeOfDay::new(h, m).unwrap();
        let exact = Some(Parsed::Answer(Answer::Time(TimeAnswer::Exact(want))));
        let keys = format!("{h:02}{m:02}");
        assert_eq!(
            Some(parse_keypad(AnswerType::Time, &keys, &c)),
            exact,
            "{keys}"
        );
        let text = format!("{h:02}:{m:02}");
        let h12 = if h % 12 == 0 { 12 } else { h % 12 };
        let mins = match m {
            0 => "o'clock".to_string(),
            1..=9 => format!("oh {}", spell_number(i64::from(m))),
            _ => spell_number(i64::from(m)),
        };
        let hour = spell_number(i64::from(h12));
        let suffix = if h < 12 { "a m" } else { "p m" };
        let said = format!("{hour} {mins} {suffix}");
        assert_eq!(
            Some(parse_speech(AnswerType::Time, &said, &c)),
            exact,
            "{said:?}"
        );
        // Without am/pm: both readings, the business-hours one chosen.
        let bare = format!("{hour} {mins}");
        let am = TimeOfDay::new(h % 12, m).unwrap();
        let pm = TimeOfDay::new(h % 12 + 12, m).unwrap();
        let chosen = if (7..=11).contains(&h12) { am } else { pm };
        let ambiguous = Parsed::Answer(Answer::Time(TimeAnswer::Ambiguous { chosen, am, pm }));
        assert_eq!(
            parse_speech(AnswerType::Time, &bare, &c),
            ambiguous,
            "{bare:?}"
        );
        // Written with digits: a leading zero, hour 0 or 13-23 is the 24-hour clock; 10:00
        // to 12:59 could be either.
        let want = if (10..=12).contains(&h) {
            Some(ambiguous)
        } else {
            exact
        };
        assert_eq!(
            Some(parse_speech(AnswerType::Time, &text, &c)),
            want,
            "{text}"
        );
    }
    for keys in ["2400", "2360", "9999", "0060"] {
        assert_eq!(
            parse_keypad(AnswerType::Time, keys, &c),
            Parsed::NoMatch,
            "{keys}"
        );
    }
}

#[test]
fn json_shapes_are_as_documented() {
    let c = ctx(2026, 12, 1).with_time(TimeOfDay::new(9, 41).unwrap());
    let json = |ty: AnswerType, said: &str| {
        let p = parse_speech(ty, said, &c);
        let a = p.answer().unwrap_or_else(|| panic!("{ty} {said:?}: {p:?}"));
        assert_eq!(serde_json::to_value(a).unwrap(), a.to_json());
        serde_json::to_string(a).unwrap()
    };
    assert_eq!(
        json(AnswerType::Ok, "oh ok"),
        r#"{"type":"ok","value":"ok"}"#
    );
    assert_eq!(
        json(AnswerType::YesNo, "yes I do"),
        r#"{"type":"yes_no","value":"yes"}"#
    );
    assert_eq!(
        json(AnswerType::YesNo, "nope"),
        r#"{"type":"yes_no","value":"no"}"#
    );
    assert_eq!(
        json(AnswerType::Choice, "the second one"),
        r#"{"type":"choice","value":"B"}"#
    );
    assert_eq!(
        json(AnswerType::Number, "twenty five"),
        r#"{"type":"number","value":25}"#
    );
    assert_eq!(
        json(AnswerType::Number, "minus three point five"),
        r#"{"type":"number","value":-3.5}"#
    );
    assert_eq!(
        json(
            AnswerType::Number,
            "one hundred twenty three point four five"
        ),
        r#"{"type":"number","value":123.45}"#
    );
    assert_eq!(
        json(AnswerType::Date, "next friday"),
        r#"{"end":"2026-12-04","granularity":"day","start":"2026-12-04","type":"date","value":"2026-12-04"}"#
    );
    assert_eq!(
        json(AnswerType::Date, "next week"),
        r#"{"end":"2026-12-13","granularity":"week","start":"2026-12-07","type":"date","value":"2026-W50"}"#
    );
    assert_eq!(
        json(AnswerType::Date, "this weekend"),
        r#"{"end":"2026-12-06","granularity":"weekend","start":"2026-12-05","type":"date","value":"2026-W49-WE"}"#
    );
    assert_eq!(
        json(AnswerType::Date, "june"),
        r#"{"end":"2027-06-30","granularity":"month","start":"2027-06-01","type":"date","value":"2027-06"}"#
    );
    assert_eq!(
        json(AnswerType::Date, "next year"),
        r#"{"end":"2027-12-31","granularity":"year","start":"2027-01-01","type":"date","value":"2027"}"#
    );
    assert_eq!(
        json(AnswerType::Time, "3 pm"),
        r#"{"type":"time","value":"15:00"}"#
    );
    assert_eq!(
        json(AnswerType::Time, "half past three"),
        r#"{"alternatives":["03:30","15:30"],"type":"time","value":"15:30"}"#
    );
    assert_eq!(
        json(AnswerType::Time, "morning"),
        r#"{"type":"time","value":"MO"}"#
    );
    assert_eq!(
        json(AnswerType::Time, "now"),
        r#"{"type":"time","value":"09:41"}"#
    );
}

#[test]
fn repeat_requests_are_recognised_for_every_type() {
    let c = ctx(2026, 12, 1);
    for ty in AnswerType::ALL {
        for said in [
            "repeat",
            "can you repeat the question please",
            "say that again",
            "what?",
            "pardon",
            "sorry?",
            "um could you say it again",
            "I didn't catch that",
            "come again",
        ] {
            assert_eq!(parse_speech(ty, said, &c), Parsed::Repeat, "{ty} {said:?}");
        }
        assert_eq!(parse_keypad(ty, "*", &c), Parsed::Repeat, "{ty} *");
        assert_eq!(parse_speech(ty, "", &c), Parsed::NoMatch, "{ty} empty");
        assert_eq!(
            parse_speech(ty, "  ,. ", &c),
            Parsed::NoMatch,
            "{ty} punctuation"
        );
        assert_eq!(parse_keypad(ty, "", &c), Parsed::NoMatch, "{ty} no keys");
    }
}

#[test]
fn limits_are_enforced() {
    let c = ctx(2026, 12, 1);
    let long = format!("yes{}", " please".repeat(MAX_TRANSCRIPT_CHARS / 7 + 1));
    assert!(long.len() > MAX_TRANSCRIPT_CHARS);
    assert_eq!(parse_speech(AnswerType::YesNo, &long, &c), Parsed::NoMatch);
    let short = format!("yes{}", " please".repeat(MAX_TRANSCRIPT_CHARS / 7));
    assert!(short.len() <= MAX_TRANSCRIPT_CHARS);
    assert_eq!(
        parse_speech(AnswerType::YesNo, &short, &c),
        Parsed::Answer(Answer::YesNo(true))
    );
    let keys = "1".repeat(MAX_KEYPAD_KEYS + 1);
    assert_eq!(parse_keypad(AnswerType::Number, &keys, &c), Parsed::NoMatch);
    let c3 = c.with_choices(3).unwrap();
    assert_eq!(parse_speech(AnswerType::Choice, "d", &c3), Parsed::NoMatch);
    assert_eq!(parse_keypad(AnswerType::Choice, "4", &c3), Parsed::NoMatch);
    assert_eq!(
        parse_speech(AnswerType::Choice, "c", &c3),
        Parsed::Answer(Answer::Choice('C'))
    );
}

#[test]
fn vocabularies_are_sorted_words_specific_to_their_type() {
    for ty in AnswerType::ALL {
        let v = vocabulary(ty);
        assert!(
            v.windows(2).all(|w| w[0] < w[1]),
            "{ty}: not sorted and unique"
        );
        for w in &v {
            assert!(
                !w.is_empty() && !w.contains(' ') && w.to_lowercase() == *w,
                "{ty}: {w:?} is not one lowercase word"
            );
        }
        assert!(
            v.contains(&"repeat") && v.contains(&"pardon"),
            "{ty}: no repeat words"
        );
    }
    let has = |ty, w: &str| vocabulary(ty).contains(&w);
    assert!(has(AnswerType::Ok, "okay") && has(AnswerType::Ok, "got"));
    assert!(has(AnswerType::YesNo, "yup") && has(AnswerType::YesNo, "nope"));
    assert!(has(AnswerType::Choice, "bravo") && has(AnswerType::Choice, "second"));
    assert!(!has(AnswerType::Choice, "thousand"));
    assert!(has(AnswerType::Number, "thousand") && has(AnswerType::Number, "point"));
    assert!(!has(AnswerType::Number, "june"));
    assert!(has(AnswerType::Date, "june") && has(AnswerType::Date, "tomorrow"));
    assert!(has(AnswerType::Date, "twenty") && has(AnswerType::Date, "first"));
    assert!(has(AnswerType::Time, "noon") && has(AnswerType::Time, "quarter"));
    assert!(!has(AnswerType::YesNo, "june"));
}

/// Random phrases of vocabulary words, digits and odd characters never panic and never give
/// an answer of another type (a deterministic generator: the same phrases every run).
#[test]
fn random_phrases_never_panic() {
    let c = ctx(2026, 12, 1).with_time(TimeOfDay::new(23, 59).unwrap());
    let mut pool: Vec<String> = AnswerType::ALL
        .iter()
        .flat_map(|&ty| vocabulary(ty))
        .map(str::to_string)
        .collect();
    for extra in [
        "0",
        "7",
        "12",
        "99",
        "2027",
        "-5",
        "3.5",
        "12/25",
        "2027-06-03",
        "15:30",
        "25:61",
        "3rd",
        "1st",
        "-",
        ".",
        ":",
        "/",
        "'",
        "é",
        "ß",
        "#",
        "*",
        "1,000",
        "p.m.",
        "o.k.",
        "3pm",
        "99999999999999999999",
        "00:00",
        "2/29/2100",
    ] {
        pool.push(extra.to_string());
    }
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let mut answered = 0;
    for _ in 0..10_000 {
        let len = 1 + next(6);
        let phrase: Vec<&str> = (0..len).map(|_| pool[next(pool.len())].as_str()).collect();
        let phrase = phrase.join(" ");
        for ty in AnswerType::ALL {
            if let Parsed::Answer(a) = parse_speech(ty, &phrase, &c) {
                assert_eq!(a.answer_type(), ty, "{phrase:?}");
                let _ = a.to_json();
                answered += 1;
            }
            let keys: String = phrase
                .chars()
                .filter(|ch| ch.is_ascii_digit() || *ch == '#')
                .collect();
            if let Parsed::Answer(a) = parse_keypad(ty, &keys, &c) {
                assert_eq!(a.answer_type(), ty, "{keys:?}");
            }
        }
    }
    // The generator does reach answers, so the loop exercised the parsers' inner paths.
    assert!(answered > 500, "only {answered} answers");
}
