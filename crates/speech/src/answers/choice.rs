//! Multiple-choice answers A, B, C …: letters, letters heard as words ("bee", "see"), NATO
//! words, "e as in echo", ordinals ("the second one"), numbers ("number two", "2").

use super::numbers::{cardinal, ordinal};
use super::text::{is_phrase, strip_prefixes, strip_suffixes};

/// The most choices a question may offer: one keypad digit each (1-9 → A-I).
pub const MAX_CHOICES: u8 = 9;
/// The choices a question offers unless the flow says otherwise (A-E, as in Callouts).
pub const DEFAULT_CHOICES: u8 = 5;

/// Letters as a recogniser may write them, with the choice index (0 = A).
const LETTERS: &[(&str, u8)] = &[
    ("a", 0),
    ("ay", 0),
    ("eh", 0),
    ("b", 1),
    ("bee", 1),
    ("be", 1),
    ("c", 2),
    ("see", 2),
    ("sea", 2),
    ("cee", 2),
    ("d", 3),
    ("dee", 3),
    ("e", 4),
    ("ee", 4),
    ("f", 5),
    ("ef", 5),
    ("eff", 5),
    ("g", 6),
    ("gee", 6),
    ("h", 7),
    ("aitch", 7),
    ("haitch", 7),
    ("i", 8),
    ("eye", 8),
];

/// The NATO spelling alphabet, A-I.
const NATO: [&str; 9] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
];

/// Other spellings of NATO words.
const NATO_VARIANTS: &[(&str, u8)] = &[("alfa", 0)];

/// Words commonly used to spell letters ("b as in boy"); the parser takes any word that starts
/// with the letter, these are listed for grammars.
const SPELLING_WORDS: &[&str] = &[
    "apple", "adam", "boy", "baker", "cat", "charles", "dog", "david", "edward", "easy", "frank",
    "fox", "george", "henry", "ida", "item",
];

/// Words that introduce the choice ("option b", "letter d", "number two").
const INTRODUCERS: &[&str] = &[
    "option",
    "letter",
    "answer",
    "choice",
    "number",
    "the letter",
    "the option",
    "the answer",
    "the choice",
    "the number",
];

/// Lead-ins of a choice answer on top of the shared ones.
pub(crate) const CHOICE_LEAD_INS: &[&str] = &[
    "i choose",
    "i'll choose",
    "i pick",
    "i'll pick",
    "i'll take",
    "i take",
    "i want",
    "i'd like",
    "i would like",
    "i prefer",
    "i'd prefer",
    "i'd go with",
    "i go with",
    "my choice is",
    "i vote",
    "i vote for",
];

/// Words after the choice ("the second one", "b option").
const TRAILERS: &[&str] = &["one", "option", "choice", "answer", "please"];

/// Joins a letter to a word that spells it.
const SPELLERS: &[&str] = &["as in", "for", "like", "like in", "as"];

fn letter(w: &str) -> Option<u8> {
    LETTERS.iter().find(|(l, _)| *l == w).map(|&(_, i)| i)
}

fn nato(w: &str) -> Option<u8> {
    NATO.iter()
        .position(|&n| n == w)
        .map(|i| i as u8)
        .or_else(|| NATO_VARIANTS.iter().find(|(n, _)| *n == w).map(|&(_, i)| i))
}

/// The choice index (0 = A) a whole cleaned-up answer names, if it is one of `count`.
pub(crate) fn parse_choice(t: &[&str], count: u8) -> Option<u8> {
    let t = strip_prefixes(t, &["eh"]);
    let index = choice_index(t, count)?;
    (index < count).then_some(index)
}

fn choice_index(t: &[&str], count: u8) -> Option<u8> {
    if t.is_empty() {
        return None;
    }
    for last in [
        "the last one",
        "last one",
        "the last",
        "last",
        "the last option",
        "last option",
    ] {
        if is_phrase(t, last) {
            return Some(count - 1);
        }
    }
    // "letter b", "option two".
    let body = strip_prefixes(t, INTRODUCERS);
    let introduced = body.len() < t.len();
    // "b as in boy", "see for charlie".
    if let Some(&first) = body.first() {
        if let Some(i) = letter(first) {
            for s in SPELLERS {
                let n = s.split(' ').count();
                if body.len() == 1 + n + 1 && is_phrase(&body[1..1 + n], s) {
                    let spelled = body[1 + n];
                    let wanted = char::from(b'a' + i);
                    return spelled.starts_with(wanted).then_some(i);
                }
            }
        }
    }
    let body = strip_suffixes(body, TRAILERS);
    if let [w] = body {
        if let Some(i) = letter(w).or_else(|| nato(w)) {
            return Some(i);
        }
        if let Ok(d) = w.parse::<u8>() {
            if w.len() == 1 && d >= 1 {
                return Some(d - 1);
            }
        }
    }
    if let Some(v) = ordinal(body) {
        return index_of(v);
    }
    // "two", "number two": a plain cardinal is the n-th choice.
    if let Some(v) = cardinal(body) {
        if introduced || body.len() == 1 {
            return index_of(v);
        }
    }
    None
}

fn index_of(v: u64) -> Option<u8> {
    (1..=u64::from(MAX_CHOICES))
        .contains(&v)
        .then(|| (v - 1) as u8)
}

/// Every word the choice parser understands (for [`super::vocabulary`]).
pub(crate) fn words() -> impl Iterator<Item = &'static str> {
    LETTERS
        .iter()
        .map(|(w, _)| *w)
        .chain(NATO.iter().copied())
        .chain(NATO_VARIANTS.iter().map(|(w, _)| *w))
        .chain(SPELLING_WORDS.iter().copied())
        .chain(["the", "last"])
        .chain(
            INTRODUCERS
                .iter()
                .chain(CHOICE_LEAD_INS)
                .chain(TRAILERS)
                .chain(SPELLERS)
                .flat_map(|p| p.split(' ')),
        )
}
