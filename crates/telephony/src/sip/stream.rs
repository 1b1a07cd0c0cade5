//! Framing of SIP over stream transports (TCP, TLS): messages delimited by Content-Length
//! (RFC 3261 §18.3), fed bytes as they arrive.

use thiserror::Error;

use super::error::ParseError;
use super::message::Message;
use super::parse::{head_end, parse_message};

/// Why a stream can no longer be framed; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StreamError {
    /// The message (or the header section waiting for its end) exceeds the limit.
    #[error("message exceeds the stream limit of {limit} bytes")]
    TooLarge {
        /// The decoder's limit.
        limit: usize,
    },
    /// A message could not be framed or parsed; `offset` is its first byte in the stream.
    #[error("bad message at stream offset {offset}: {error}")]
    Bad {
        /// Offset of the message's first byte since the decoder started.
        offset: u64,
        /// The parse error.
        error: ParseError,
    },
}

/// Splits a byte stream into SIP messages. Keep-alive CRLFs between messages are skipped.
/// After an error the decoder refuses everything (framing is lost).
#[derive(Debug)]
pub struct StreamDecoder {
    buf: Vec<u8>,
    max_message: usize,
    consumed: u64,
    failed: Option<StreamError>,
}

impl StreamDecoder {
    /// A decoder refusing messages larger than `max_message` bytes (header section + body).
    pub fn new(max_message: usize) -> Self {
        StreamDecoder {
            buf: Vec::new(),
            max_message,
            consumed: 0,
            failed: None,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes buffered and not yet part of a returned message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, `Ok(None)` when more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Message>, StreamError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let skip = self
            .buf
            .iter()
            .position(|&b| b != b'\r' && b != b'\n')
            .unwrap_or(self.buf.len());
        self.buf.drain(..skip);
        self.consumed += skip as u64;
        if self.buf.is_empty() {
            return Ok(None);
        }
        let Some(end) = head_end(&self.buf) else {
            if self.buf.len() > self.max_message {
                return self.fail(StreamError::TooLarge {
                    limit: self.max_message,
                });
            }
            return Ok(None);
        };
        let length = match content_length(&self.buf[..end]) {
            Ok(n) => n,
            Err(error) => {
                let offset = self.consumed;
                return self.fail(StreamError::Bad { offset, error });
            }
        };
        // A Content-Length near usize::MAX must not wrap the sum.
        let total = end.saturating_add(length);
        if total > self.max_message {
            return self.fail(StreamError::TooLarge {
                limit: self.max_message,
            });
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let bytes: Vec<u8> = self.buf.drain(..total).collect();
        let offset = self.consumed;
        self.consumed += total as u64;
        match parse_message(&bytes, true) {
            Ok(m) => Ok(Some(m)),
            Err(error) => self.fail(StreamError::Bad { offset, error }),
        }
    }

    fn fail(&mut self, e: StreamError) -> Result<Option<Message>, StreamError> {
        self.buf.clear();
        self.failed = Some(e.clone());
        Err(e)
    }
}

/// Content-Length of a header section, found without a full parse (long or compact name,
/// folding allowed before the value).
fn content_length(head: &[u8]) -> Result<usize, ParseError> {
    let text = String::from_utf8_lossy(head);
    let mut found = None;
    for line in text.split('\n').skip(1) {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if line.starts_with([' ', '\t']) {
            continue;
        }
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("l") {
            let v = value.trim();
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_digit()) {
                return Err(ParseError::bad(
                    "Content-Length",
                    format!("{v:?} is not a number"),
                ));
            }
            let n = v
                .parse()
                .map_err(|_| ParseError::bad("Content-Length", "out of range"))?;
            if found.replace(n).is_some() {
                return Err(ParseError::Duplicate("Content-Length"));
            }
        }
    }
    found.ok_or(ParseError::Missing("Content-Length"))
}
