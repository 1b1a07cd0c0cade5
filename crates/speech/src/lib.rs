//! Speech for contact flows (sans I/O): the answer types a flow asks for, parsing of what the
//! caller said or keyed into typed answers, text to speech and grammar-based recognition.
//!
//! [`AnswerType`] is shared by the flow interpreter (which asks a question of one type), the
//! recogniser (one grammar per type) and the parsers (one per type).

pub mod answers;
pub mod asr;
pub mod ssml;
pub mod tts;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of answer a question expects: the six types of the Callouts question sheet
/// (`../shared/SEEDS.md` §3), resolved like Lex's built-in slot types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerType {
    /// An acknowledgement: "ok", "okay", "oh ok".
    Ok,
    /// Yes or no: "yes I do", "yup", "nope".
    YesNo,
    /// One of the choices A–E ("B", "the second one").
    Choice,
    /// A number, like AMAZON.NUMBER ("twenty five", "two five").
    Number,
    /// A calendar date, like AMAZON.DATE ("next friday", "the third of june").
    Date,
    /// A time of day, like AMAZON.TIME ("half past three", "noon").
    Time,
}

impl AnswerType {
    /// Every answer type, in the order of the Callouts sheet.
    pub const ALL: [AnswerType; 6] = [
        AnswerType::Ok,
        AnswerType::YesNo,
        AnswerType::Choice,
        AnswerType::Number,
        AnswerType::Date,
        AnswerType::Time,
    ];

    /// The snake_case name used in flow files (`yes_no`).
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerType::Ok => "ok",
            AnswerType::YesNo => "yes_no",
            AnswerType::Choice => "choice",
            AnswerType::Number => "number",
            AnswerType::Date => "date",
            AnswerType::Time => "time",
        }
    }
}

impl fmt::Display for AnswerType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not an answer type; names the text and lists what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown answer type {0:?} (expected ok, yes_no, choice, number, date or time; or the Callouts names OK, Yes/No, Multiple Choice, Number, Date, Time)")]
pub struct UnknownAnswerType(pub String);

impl FromStr for AnswerType {
    type Err = UnknownAnswerType;

    /// Accepts the flow-file names (`yes_no`) and the Callouts sheet's `question_type` values
    /// (`OK`, `Yes/No`, `Multiple Choice`, …), ignoring case and surrounding spaces.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let key: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-' | '/'))
            .flat_map(char::to_lowercase)
            .collect();
        Ok(match key.as_str() {
            "ok" => AnswerType::Ok,
            "yesno" => AnswerType::YesNo,
            "choice" | "multiplechoice" => AnswerType::Choice,
            "number" => AnswerType::Number,
            "date" => AnswerType::Date,
            "time" => AnswerType::Time,
            _ => return Err(UnknownAnswerType(s.to_string())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callouts_and_flow_names_parse() {
        for (text, want) in [
            ("OK", AnswerType::Ok),
            ("Yes/No", AnswerType::YesNo),
            ("yes_no", AnswerType::YesNo),
            ("Multiple Choice", AnswerType::Choice),
            (" number ", AnswerType::Number),
            ("Date", AnswerType::Date),
            ("TIME", AnswerType::Time),
        ] {
            assert_eq!(text.parse::<AnswerType>().unwrap(), want, "{text}");
        }
        for t in AnswerType::ALL {
            assert_eq!(t.as_str().parse::<AnswerType>().unwrap(), t);
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        let err = "Free text".parse::<AnswerType>().unwrap_err();
        assert!(err.to_string().contains("\"Free text\""), "{err}");
    }
}
