//! SIP INFO DTMF, the fall-back to RFC 4733 (legacy INFO usage, RFC 6086 §2): the bodies
//! `application/dtmf-relay` (`Signal=5\r\nDuration=160\r\n`) and `application/dtmf` (`5`),
//! answered and reported as [`DialogEvent::Dtmf`], and sent with
//! [`UserAgent::send_info_dtmf`] one INFO at a time (RFC 6086 §4.2.2: no new INFO while one
//! is pending).
//!
//! What an in-dialog INFO gets (our decision under RFC 6086, which leaves legacy INFO to
//! the application):
//! - a DTMF body that parses: 200, and `Dtmf`;
//! - a DTMF body that does not (no `Signal`, not a digit): 400 naming what is wrong;
//! - no body: 200 (INFO used as a keep-alive), and `Info`;
//! - an `Info-Package` header: 469 Bad Info Package with an empty `Recv-Info` (we
//!   negotiated no Info Package, §4.2.2);
//! - any other body: 415 Unsupported Media Type with `Accept` listing [`INFO_ACCEPT`]
//!   (RFC 3261 §21.4.13).

use thiserror::Error;

use super::ua::{CallId, DialogEvent, DialogState, Purpose, UaError, UserAgent};
use crate::sip::{Header, Message, Method};
use crate::transaction::TxId;

/// Body types an INFO may carry to us, for `Accept` in a 415.
pub const INFO_ACCEPT: &str = "application/dtmf-relay, application/dtmf";
/// Duration of a digit we send by INFO, ms (the usual 160).
pub const INFO_DTMF_DURATION_MS: u32 = 160;
/// Longest `Duration` accepted in a received `dtmf-relay` body, ms (RFC 4733's
/// `MAX_DIGIT_MS` too).
pub const MAX_INFO_DURATION_MS: u32 = 8_000;
/// Digits queued for INFO at most per call; more are refused.
pub const MAX_INFO_QUEUE: usize = 64;

/// A digit carried by an INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoDtmf {
    /// `0-9`, `*`, `#`, `A-D`.
    pub digit: char,
    /// `Duration` of a `dtmf-relay` body, ms.
    pub duration_ms: Option<u32>,
}

/// Why an INFO DTMF body was refused (400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InfoError {
    /// `dtmf-relay` without a `Signal` line.
    #[error("dtmf-relay body has no Signal line")]
    NoSignal,
    /// The signal is not a DTMF digit.
    #[error("`{0}` is not a DTMF digit")]
    NotADigit(String),
    /// `Duration` is not a number of ms up to [`MAX_INFO_DURATION_MS`].
    #[error("Duration `{0}` is not 0..={MAX_INFO_DURATION_MS} ms")]
    Duration(String),
    /// The body is not UTF-8.
    #[error("the body is not text")]
    NotText,
}

/// The media type of a Content-Type value, lower-cased, parameters dropped.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A DTMF digit from a signal: the digit itself, or the RFC 4733 event number (10 = `*`,
/// 11 = `#`, 12-15 = `A-D`) that some gateways write.
fn digit_of(signal: &str) -> Option<char> {
    let s = signal.trim();
    let mut chars = s.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let c = c.to_ascii_uppercase();
        return matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c);
    }
    match s {
        "10" => Some('*'),
        "11" => Some('#'),
        "12" => Some('A'),
        "13" => Some('B'),
        "14" => Some('C'),
        "15" => Some('D'),
        _ => None,
    }
}

/// Reads an INFO body: `Ok(None)` when its type is not a DTMF one (or it has none).
pub fn parse_info_dtmf(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<Option<InfoDtmf>, InfoError> {
    let kind = match content_type.map(media_type).as_deref() {
        Some("application/dtmf-relay") => true,
        Some("application/dtmf") => false,
        _ => return Ok(None),
    };
    let text = std::str::from_utf8(body).map_err(|_| InfoError::NotText)?;
    if !kind {
        let digit = digit_of(text).ok_or_else(|| InfoError::NotADigit(text.trim().into()))?;
        return Ok(Some(InfoDtmf {
            digit,
            duration_ms: None,
        }));
    }
    let mut signal = None;
    let mut duration = None;
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "signal" => signal = Some(v.trim().to_string()),
            "duration" => duration = Some(v.trim().to_string()),
            _ => {}
        }
    }
    let signal = signal.ok_or(InfoError::NoSignal)?;
    let digit = digit_of(&signal).ok_or(InfoError::NotADigit(signal))?;
    let duration_ms = match duration {
        None => None,
        Some(d) => Some(
            d.parse::<u32>()
                .ok()
                .filter(|ms| *ms <= MAX_INFO_DURATION_MS)
                .ok_or(InfoError::Duration(d))?,
        ),
    };
    Ok(Some(InfoDtmf { digit, duration_ms }))
}

/// The `application/dtmf-relay` body for `digit` lasting `duration_ms`.
pub fn dtmf_relay_body(digit: char, duration_ms: u32) -> String {
    format!("Signal={digit}\r\nDuration={duration_ms}\r\n")
}

impl UserAgent {
    /// Sends `digits` (`0-9 * # A-D`) as INFO `application/dtmf-relay` requests, one after
    /// the other's final response; each failure is reported as [`DialogEvent::InfoFailed`].
    pub fn send_info_dtmf(
        &mut self,
        call: CallId,
        digits: &str,
        duration_ms: u32,
        now_ms: u64,
    ) -> Result<(), UaError> {
        let d = self.dialogs.get_mut(&call).ok_or(UaError::NoCall(call))?;
        if d.state != DialogState::Confirmed {
            return Err(UaError::BadState(call, "INFO needs a confirmed dialog"));
        }
        let parsed: Option<Vec<char>> = digits.chars().map(|c| digit_of(&c.to_string())).collect();
        let Some(parsed) = parsed.filter(|p| !p.is_empty()) else {
            return Err(UaError::BadState(call, "digits must be 0-9, *, #, A-D"));
        };
        if d.info_queue.len() + parsed.len() > MAX_INFO_QUEUE {
            return Err(UaError::BadState(call, "too many INFO digits queued"));
        }
        d.info_queue.extend(
            parsed
                .into_iter()
                .map(|c| (c, duration_ms.min(MAX_INFO_DURATION_MS))),
        );
        self.next_info(call, now_ms);
        Ok(())
    }

    /// Sends the next queued digit unless an INFO of the dialog is pending.
    fn next_info(&mut self, call: CallId, now_ms: u64) {
        let Some(mut d) = self.dialogs.remove(&call) else {
            return;
        };
        if d.info_tx.is_some() || d.state != DialogState::Confirmed {
            self.dialogs.insert(call, d);
            return;
        }
        let Some((digit, ms)) = d.info_queue.pop_front() else {
            self.dialogs.insert(call, d);
            return;
        };
        let (mut m, dest) = self.in_dialog_request(&mut d, Method::Info);
        m.content_type = Some("application/dtmf-relay".into());
        m.body = dtmf_relay_body(digit, ms).into_bytes();
        let transport = d.transport;
        match self.tl.send_request(m, dest, transport, now_ms) {
            Ok(tx) => {
                d.info_tx = Some((tx, digit));
                self.by_tx.insert(tx, (call, Purpose::Info));
                self.dialogs.insert(call, d);
            }
            Err(e) => {
                self.dialogs.insert(call, d);
                self.emit(
                    call,
                    DialogEvent::InfoFailed {
                        digit,
                        code: 500,
                        reason: e.to_string(),
                    },
                );
            }
        }
    }

    /// The final response (or timeout, `code` 408) of our INFO `tx`.
    pub(super) fn info_done(
        &mut self,
        call: CallId,
        tx: TxId,
        m: Option<&Message>,
        code: u16,
        now_ms: u64,
    ) {
        if code < 200 {
            return;
        }
        let Some(d) = self.dialogs.get_mut(&call) else {
            return;
        };
        let Some((ours, digit)) = d.info_tx else {
            return;
        };
        if ours != tx {
            return;
        }
        d.info_tx = None;
        if code >= 300 {
            let reason = m
                .and_then(|m| m.response())
                .map(|r| r.reason.clone())
                .unwrap_or_else(|| "Request Timeout".into());
            self.emit(
                call,
                DialogEvent::InfoFailed {
                    digit,
                    code,
                    reason,
                },
            );
        }
        self.next_info(call, now_ms);
    }

    /// An INFO in dialog `call` (see the module docs for the answers).
    pub(super) fn incoming_info(&mut self, call: CallId, tx: TxId, m: &Message, now_ms: u64) {
        let (code, extra, event) = if m.header_values("Info-Package").next().is_some() {
            (469, Some(("Recv-Info", "")), None)
        } else if m.body.is_empty() {
            let e = DialogEvent::Info {
                content_type: m.content_type.clone(),
                body: Vec::new(),
            };
            (200, None, Some(e))
        } else {
            match parse_info_dtmf(m.content_type.as_deref(), &m.body) {
                Ok(Some(dtmf)) => {
                    let e = DialogEvent::Dtmf {
                        digit: dtmf.digit,
                        duration_ms: dtmf.duration_ms,
                    };
                    (200, None, Some(e))
                }
                Ok(None) => (415, Some(("Accept", INFO_ACCEPT)), None),
                Err(_) => (400, None, None),
            }
        };
        let Some(d) = self.dialogs.get(&call) else {
            return;
        };
        let mut r = self.response(m, code, d);
        if code == 400 {
            // A fixed phrase: nothing of the peer's body is echoed into our headers.
            if let crate::sip::StartLine::Response(s) = &mut r.start {
                s.reason = "Bad DTMF Body".into();
            }
        }
        if let Some((name, value)) = extra {
            r.other.push(Header {
                name: name.into(),
                value: value.into(),
            });
        }
        let _ = self.tl.send_response(tx, r, now_ms);
        if let Some(e) = event {
            self.emit(call, e);
        }
    }
}
