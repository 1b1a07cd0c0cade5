//! Table-driven answer-parsing tests: every row of `tests/data/answers/*.tsv` (format in that
//! directory's README.md) is asserted, and failures name the file and line.

use std::path::PathBuf;

use tympan_speech::answers::{
    parse_keypad, parse_speech, tokenize, vocabulary, Answer, AnswerContext, Date, Parsed,
    TimeAnswer, TimeOfDay,
};
use tympan_speech::AnswerType;

/// The default context of every table: Tuesday 2026-12-01, time unknown, 5 choices.
fn default_context() -> AnswerContext {
    AnswerContext::new(Date::new(2026, 12, 1).unwrap())
}

/// How a table writes an outcome.
fn outcome_key(p: &Parsed) -> String {
    match p {
        Parsed::Repeat => "repeat".into(),
        Parsed::NoMatch => "nomatch".into(),
        Parsed::Answer(Answer::Time(TimeAnswer::Ambiguous { chosen, am, pm })) => {
            let other = if chosen == am { pm } else { am };
            format!("{chosen} or {other}")
        }
        Parsed::Answer(a) => a.value(),
    }
}

struct Row {
    place: String,
    ty: AnswerType,
    input: String,
    expected: String,
    ctx: AnswerContext,
}

fn path(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/answers")
        .join(file)
}

/// Reads a table; `keypad` tables have a type column first.
fn load(file: &str, keypad: bool) -> Vec<Row> {
    let text = std::fs::read_to_string(path(file))
        .unwrap_or_else(|e| panic!("{}: {e}", path(file).display()));
    let file_type: Option<AnswerType> = if keypad {
        None
    } else {
        Some(file.trim_end_matches(".tsv").parse().unwrap())
    };
    let mut ctx = default_context();
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let place = format!("{file}:{}", i + 1);
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(d) = line.strip_prefix('@') {
            let (key, value) = d
                .split_once(' ')
                .unwrap_or_else(|| panic!("{place}: directive needs a value: {line:?}"));
            match key {
                "today" => {
                    let p: Vec<&str> = value.split('-').collect();
                    let date = match p[..] {
                        [y, m, d] => {
                            Date::new(y.parse().unwrap(), m.parse().unwrap(), d.parse().unwrap())
                        }
                        _ => None,
                    };
                    ctx.today =
                        date.unwrap_or_else(|| panic!("{place}: bad @today date {value:?}"));
                }
                "now" => {
                    ctx.now = match value {
                        "-" => None,
                        v => {
                            let (h, m) = v
                                .split_once(':')
                                .unwrap_or_else(|| panic!("{place}: bad @now {v:?}"));
                            Some(
                                TimeOfDay::new(h.parse().unwrap(), m.parse().unwrap())
                                    .unwrap_or_else(|| panic!("{place}: bad @now {v:?}")),
                            )
                        }
                    };
                }
                "choices" => {
                    let n: u8 = value
                        .parse()
                        .unwrap_or_else(|_| panic!("{place}: bad @choices {value:?}"));
                    ctx = ctx
                        .with_choices(n)
                        .unwrap_or_else(|e| panic!("{place}: {e}"));
                }
                other => panic!("{place}: unknown directive @{other}"),
            }
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let (ty, input, expected) = match (file_type, cols.as_slice()) {
            (Some(ty), [input, expected]) => (ty, *input, *expected),
            (None, [ty, input, expected]) => (
                ty.parse()
                    .unwrap_or_else(|e| panic!("{place}: field 1 (type): {e}")),
                *input,
                *expected,
            ),
            _ => panic!(
                "{place}: expected {} tab-separated fields, got {}: {line:?}",
                if keypad { 3 } else { 2 },
                cols.len()
            ),
        };
        rows.push(Row {
            place,
            ty,
            input: input.to_string(),
            expected: expected.to_string(),
            ctx,
        });
    }
    rows
}

/// Asserts every row; reports all failures at once.
fn check(file: &str, keypad: bool, min_rows: usize, min_negative: usize) {
    let rows = load(file, keypad);
    let mut failures = Vec::new();
    for r in &rows {
        let got = if keypad {
            parse_keypad(r.ty, &r.input, &r.ctx)
        } else {
            parse_speech(r.ty, &r.input, &r.ctx)
        };
        let key = outcome_key(&got);
        if key != r.expected {
            failures.push(format!(
                "{}: {} {:?}: expected {}, got {key} ({got:?})",
                r.place, r.ty, r.input, r.expected
            ));
        }
        if let Parsed::Answer(a) = got {
            assert_eq!(
                a.answer_type(),
                r.ty,
                "{}: answer of the wrong type",
                r.place
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
    let negative = rows.iter().filter(|r| r.expected == "nomatch").count();
    let repeat = rows.iter().filter(|r| r.expected == "repeat").count();
    assert!(rows.len() >= min_rows, "{file}: only {} rows", rows.len());
    assert!(
        negative >= min_negative,
        "{file}: only {negative} no-match rows"
    );
    assert!(repeat >= 1, "{file}: no repeat row");
}

#[test]
fn ok_table() {
    check("ok.tsv", false, 90, 20);
}

#[test]
fn yes_no_table() {
    check("yes_no.tsv", false, 180, 30);
}

#[test]
fn choice_table() {
    check("choice.tsv", false, 160, 30);
}

#[test]
fn number_table() {
    check("number.tsv", false, 160, 25);
}

#[test]
fn date_table() {
    check("date.tsv", false, 260, 35);
}

#[test]
fn time_table() {
    check("time.tsv", false, 180, 25);
}

#[test]
fn keypad_table() {
    check("keypad.tsv", true, 80, 35);
}

/// Every keypad table covers every answer type.
#[test]
fn keypad_table_covers_every_type() {
    let rows = load("keypad.tsv", true);
    for ty in AnswerType::ALL {
        let n = rows
            .iter()
            .filter(|r| r.ty == ty && r.expected != "nomatch")
            .count();
        assert!(n >= 1, "keypad.tsv has no matching row for {ty}");
    }
}

/// The words of every phrase the number, choice, date and time tables accept are in the
/// type's vocabulary (digits aside): a grammar built from the vocabulary can say them all.
/// OK and yes/no ignore words that are no cue, so their accepted phrases need only one
/// vocabulary word.
#[test]
fn accepted_phrases_use_the_vocabulary() {
    for ty in AnswerType::ALL {
        let vocab = vocabulary(ty);
        let rows = load(&format!("{}.tsv", ty.as_str()), false);
        let mut missing = Vec::new();
        for r in rows.iter().filter(|r| r.expected != "nomatch") {
            let tokens = tokenize(&r.input);
            let known: Vec<bool> = tokens
                .iter()
                .map(|t| {
                    t.starts_with(|c: char| c.is_ascii_digit() || c == '-')
                        || vocab.binary_search(&t.as_str()).is_ok()
                })
                .collect();
            let ok = match ty {
                AnswerType::Ok | AnswerType::YesNo => known.iter().any(|k| *k),
                _ => known.iter().all(|k| *k),
            };
            if !ok {
                let unknown: Vec<&String> = tokens
                    .iter()
                    .zip(&known)
                    .filter(|(_, k)| !**k)
                    .map(|(t, _)| t)
                    .collect();
                missing.push(format!("{}: {:?} {unknown:?}", r.place, r.input));
            }
        }
        assert!(
            missing.is_empty(),
            "{ty}: phrases with words outside the vocabulary:\n{}",
            missing.join("\n")
        );
    }
}
