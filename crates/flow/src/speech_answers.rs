//! The interpreter's [`AnswerParser`] implemented with the speech crate's parsers, which
//! resolve answers like Lex's built-in slot types (`tympan_speech::answers`): what a shell (or
//! `tympan flow simulate`) passes to the interpreter.

use serde_json::Value;
use tympan_speech::answers::{self, AnswerContext, Parsed};
use tympan_speech::AnswerType;

use crate::{AnswerParser, ParseContext};

/// The speech crate's Lex-like parsers behind the interpreter's [`AnswerParser`] trait.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpeechAnswers;

fn answer_context(ctx: &ParseContext) -> AnswerContext {
    let mut a = ctx
        .call_start_unix_ms
        .and_then(|ms| AnswerContext::at_unix_ms(ms, ctx.utc_offset_minutes).ok())
        .unwrap_or_else(|| AnswerContext::at_unix_ms(0, 0).expect("the epoch is a valid instant"));
    if !ctx.choices.is_empty() {
        if let Ok(c) = a.with_choices(ctx.choices.len().min(u8::MAX as usize) as u8) {
            a = c;
        }
    }
    a
}

fn parsed_value(p: Parsed) -> Option<Value> {
    match p {
        Parsed::Answer(a) => Some(Value::String(a.value())),
        Parsed::Repeat | Parsed::NoMatch => None,
    }
}

impl AnswerParser for SpeechAnswers {
    fn parse_speech(&self, ty: AnswerType, transcript: &str, ctx: &ParseContext) -> Option<Value> {
        parsed_value(answers::parse_speech(ty, transcript, &answer_context(ctx)))
    }
    fn parse_keypad(&self, ty: AnswerType, digits: &str, ctx: &ParseContext) -> Option<Value> {
        parsed_value(answers::parse_keypad(ty, digits, &answer_context(ctx)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ParseContext {
        ParseContext {
            // Tuesday 2026-12-01 10:00 UTC.
            call_start_unix_ms: Some(1_796_083_200_000 + 10 * 3_600_000),
            utc_offset_minutes: 0,
            choices: Vec::new(),
        }
    }

    #[test]
    fn answers_are_the_values_flows_store() {
        let p = SpeechAnswers;
        let c = ctx();
        let s = |ty, t: &str| p.parse_speech(ty, t, &c);
        assert_eq!(s(AnswerType::YesNo, "yes i do"), Some("yes".into()));
        assert_eq!(s(AnswerType::YesNo, "nope"), Some("no".into()));
        assert_eq!(s(AnswerType::YesNo, "i don't know"), None);
        assert_eq!(s(AnswerType::Choice, "the second one"), Some("B".into()));
        assert_eq!(s(AnswerType::Number, "twenty five"), Some("25".into()));
        assert_eq!(s(AnswerType::Date, "tomorrow"), Some("2026-12-02".into()));
        assert_eq!(
            s(AnswerType::Date, "next friday"),
            Some("2026-12-04".into())
        );
        assert_eq!(
            s(AnswerType::Time, "half past three pm"),
            Some("15:30".into())
        );
        assert_eq!(
            s(AnswerType::Ok, "repeat"),
            None,
            "a repeat request is no answer"
        );
        assert_eq!(
            p.parse_keypad(AnswerType::YesNo, "2", &c),
            Some("no".into())
        );
        assert_eq!(p.parse_keypad(AnswerType::Date, "31022027", &c), None);
        // Two choices only: C is out of range.
        let two = ParseContext {
            choices: vec!["red".into(), "blue".into()],
            ..ctx()
        };
        assert_eq!(p.parse_speech(AnswerType::Choice, "c", &two), None);
        assert_eq!(
            p.parse_speech(AnswerType::Choice, "b", &two),
            Some("B".into())
        );
    }
}
