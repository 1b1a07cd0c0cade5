//! Answers: the parser trait the interpreter calls, the Callouts default prompts, and how
//! "repeat" requests are recognised.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tympan_speech::AnswerType;

/// What a parser may need besides the words: when the call happens (dates like "tomorrow"
/// resolve against it) and the question's choice labels.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ParseContext {
    /// The call's start, ms since the Unix epoch (UTC), when the shell knows it.
    pub call_start_unix_ms: Option<i64>,
    /// The callee's time zone as an offset from UTC, minutes (e.g. `-300` for UTC−5).
    pub utc_offset_minutes: i32,
    /// The question's `choices` (labels of A, B, C, ...), empty when it has none.
    pub choices: Vec<String>,
}

/// Turns what the caller said or keyed into a typed answer (`None`: not understood). The
/// interpreter owns timing, retries and prompts; the parser only reads words and digits.
///
/// The answer is a JSON value stored in the question's attribute; `get_input` branches match
/// it by its text (a string as is, other values as JSON text; `yes`/`no` keys also match
/// `true`/`false`).
pub trait AnswerParser: Send + Sync {
    /// Parse a transcript for a question of type `ty`.
    fn parse_speech(&self, ty: AnswerType, transcript: &str, ctx: &ParseContext) -> Option<Value>;
    /// Parse keypad digits (without the terminator) for a question of type `ty`.
    fn parse_keypad(&self, ty: AnswerType, digits: &str, ctx: &ParseContext) -> Option<Value>;
}

/// The Callouts prompt for an answer type (`../shared/SEEDS.md` §3): the default no-match and
/// no-input prompt of a question of that type.
pub fn default_retry_prompt(ty: AnswerType) -> &'static str {
    match ty {
        AnswerType::Ok => "answer \"ok\", if you got the message.",
        AnswerType::YesNo => "say \"Yes\" or \"No\".",
        AnswerType::Choice => "Tell me A, B, C, D or E.",
        AnswerType::Number => "Tell me a number.",
        AnswerType::Date => "Tell me the date.",
        AnswerType::Time => "Tell me the time.",
    }
}

/// Default no-match and no-input prompt of a question without an answer type (raw digits).
pub const DIGITS_RETRY_PROMPT: &str = "Please enter the digits on your keypad.";

/// Default `max_digits` for keypad answers of each type (`1` = yes, `1`-`5` = A-E, DDMMYYYY,
/// HHMM); a number takes up to 10 digits.
pub fn default_max_digits(ty: Option<AnswerType>) -> u32 {
    match ty {
        Some(AnswerType::Ok | AnswerType::YesNo | AnswerType::Choice) => 1,
        Some(AnswerType::Number) => 10,
        Some(AnswerType::Date) => 8,
        Some(AnswerType::Time) => 4,
        None => 20,
    }
}

/// Phrases that ask for the question again when a question has no `repeat_phrases` of its own.
pub const DEFAULT_REPEAT_PHRASES: &[&str] = &[
    "repeat",
    "say that again",
    "say it again",
    "say again",
    "come again",
    "once more",
    "pardon",
    "what was that",
    "what was the question",
];

/// Lowercase words of a transcript: letters, digits and apostrophes, split on anything else.
pub fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether the transcript asks for a repeat: one of `phrases` appears in it as whole words
/// ("could you repeat that please" matches "repeat"; "repeated" does not).
pub fn is_repeat_request(transcript: &str, phrases: &[String]) -> bool {
    let said = words(transcript);
    phrases.iter().any(|p| {
        let want = words(p);
        !want.is_empty() && said.windows(want.len()).any(|w| w == want.as_slice())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_requests() {
        let p: Vec<String> = DEFAULT_REPEAT_PHRASES
            .iter()
            .map(|s| s.to_string())
            .collect();
        for yes in [
            "repeat",
            "Could you repeat that, please?",
            "say that again",
            "sorry, what was the question",
            "PARDON",
        ] {
            assert!(is_repeat_request(yes, &p), "{yes}");
        }
        for no in ["yes", "I repeated it", "again", "", "say yes"] {
            assert!(!is_repeat_request(no, &p), "{no}");
        }
        assert!(!is_repeat_request("repeat", &[]));
    }

    #[test]
    fn callouts_prompts() {
        assert_eq!(
            default_retry_prompt(AnswerType::Ok),
            "answer \"ok\", if you got the message."
        );
        assert_eq!(
            default_retry_prompt(AnswerType::YesNo),
            "say \"Yes\" or \"No\"."
        );
        assert_eq!(
            default_retry_prompt(AnswerType::Choice),
            "Tell me A, B, C, D or E."
        );
        assert_eq!(
            default_retry_prompt(AnswerType::Number),
            "Tell me a number."
        );
        assert_eq!(default_retry_prompt(AnswerType::Date), "Tell me the date.");
        assert_eq!(default_retry_prompt(AnswerType::Time), "Tell me the time.");
    }
}
