//! Parse errors that name what was wrong, ready to become SIP reason phrases.

use thiserror::Error;

/// Why a SIP message was refused.
///
/// [`ParseError::status_code`] and [`ParseError::reason_phrase`] give the answer a server
/// sends back (`400 Bad Via`, `505 Version Not Supported`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The message is larger than the configured limit.
    #[error("message of {size} bytes is larger than the limit of {limit} bytes")]
    TooLarge {
        /// Bytes seen.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// No blank line ends the header section.
    #[error("the header section has no terminating empty line")]
    NoHeaderEnd,
    /// The header section is not UTF-8.
    #[error("the header section is not UTF-8 at byte offset {offset}")]
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The request or status line is malformed.
    #[error("malformed start line: {0}")]
    StartLine(String),
    /// The request URI is malformed.
    #[error("malformed Request-URI: {0}")]
    RequestUri(String),
    /// The message speaks another SIP version than 2.0.
    #[error("unsupported SIP version {0}")]
    Version(String),
    /// A header is malformed.
    #[error("malformed {header} header: {reason}")]
    Header {
        /// Canonical header name.
        header: String,
        /// What was wrong.
        reason: String,
    },
    /// A mandatory header is missing.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// A single-valued header appears more than once.
    #[error("more than one {0} header")]
    Duplicate(&'static str),
    /// Too many header lines.
    #[error("more than {limit} header lines")]
    TooManyHeaders {
        /// The limit.
        limit: usize,
    },
    /// The body is shorter than Content-Length says.
    #[error("Content-Length is {declared} but only {available} body bytes arrived")]
    BodyTooShort {
        /// Content-Length value.
        declared: usize,
        /// Bytes present.
        available: usize,
    },
}

/// Longest header name an error keeps (and a reason phrase echoes), in characters.
pub const MAX_NAME_IN_ERROR: usize = 64;

impl ParseError {
    /// The header this error is about, when there is one (`CSeq`, `Via`, ...).
    pub fn header(&self) -> Option<&str> {
        match self {
            ParseError::Header { header, .. } => Some(header),
            ParseError::Missing(h) | ParseError::Duplicate(h) => Some(h),
            ParseError::BodyTooShort { .. } => Some("Content-Length"),
            _ => None,
        }
    }

    /// The status code a server answers this error with (400, or 505 for the version, 513
    /// for an oversized message).
    pub fn status_code(&self) -> u16 {
        match self {
            ParseError::Version(_) => 505,
            ParseError::TooLarge { .. } => 513,
            _ => 400,
        }
    }

    /// The reason phrase of that answer: `Bad <Header>` when a header is at fault.
    pub fn reason_phrase(&self) -> String {
        match self {
            ParseError::Version(_) => "Version Not Supported".into(),
            ParseError::TooLarge { .. } => "Message Too Large".into(),
            ParseError::Missing(h) => format!("Missing {h}"),
            ParseError::RequestUri(_) => "Bad Request-URI".into(),
            ParseError::StartLine(_) => "Bad Request Line".into(),
            _ => match self.header() {
                Some(h) => format!("Bad {h}"),
                None => "Bad Request".into(),
            },
        }
    }

    /// A malformed header. `name` is as the peer wrote it; what is kept (and echoed in the
    /// reason phrase) is its RFC 3261 token characters, at most [`MAX_NAME_IN_ERROR`] of
    /// them, or `header` when none is left: a refusal never carries control characters or
    /// an unbounded name back to the peer.
    pub(crate) fn bad(name: &str, reason: impl Into<String>) -> Self {
        let mut header: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(*c))
            .take(MAX_NAME_IN_ERROR)
            .collect();
        if header.is_empty() {
            header = "header".into();
        }
        ParseError::Header {
            header,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `sip_message` fuzz target: the peer's raw header name went back in the
    /// reason phrase.
    #[test]
    fn reason_phrases_carry_only_a_bounded_token() {
        let e = ParseError::bad("Max-\0orwards", "header name is not a token");
        assert_eq!(e.reason_phrase(), "Bad Max-orwards");
        let e = ParseError::bad("", "header line without a colon");
        assert_eq!(e.reason_phrase(), "Bad header");
        let e = ParseError::bad(&"X".repeat(10_000), "too long");
        assert_eq!(e.header().unwrap().len(), MAX_NAME_IN_ERROR);
        let e = ParseError::bad("Via\u{7f}\u{1b}[31m", "escape");
        assert_eq!(e.reason_phrase(), "Bad Via31m");
    }
}
