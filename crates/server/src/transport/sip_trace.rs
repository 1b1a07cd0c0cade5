//! The SIP trace of calls (their ladder): every SIP message a signalling task sends or
//! receives, with its time, direction, peer, first line and full text, persisted through the
//! store writer as [`tympan_store::SipMessageRow`]s and shown by `GET /v1/calls/{id}` as
//! `sip_trace`.
//!
//! Messages are grouped by their SIP `Call-ID` header. A dialog's messages are held in memory
//! until the shell [`SipTracer::bind`]s its Call-ID to a Tympan call id (an inbound INVITE and
//! its 100 Trying come before the call is answered); from then on each message is queued for
//! the store as it passes. Dialogs never bound (refused INVITEs, OPTIONS pings) are forgotten
//! oldest first beyond [`MAX_TRACED_DIALOGS`].

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use tympan_store::{SipMessageRow, Write, Writer};

/// Messages kept per call; later ones are not traced (a long call's re-INVITEs and INFOs).
pub const MAX_TRACE_MESSAGES: usize = 200;
/// Dialogs (Call-IDs) the tracer remembers at once, bound or not; the oldest is forgotten
/// first.
pub const MAX_TRACED_DIALOGS: usize = 4096;
/// Bytes of one message's text kept (longer messages are cut at a character boundary and
/// marked `[… N bytes cut]`).
pub const MAX_TRACE_TEXT: usize = 16 * 1024;

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// We sent it.
    Sent,
    /// We received it.
    Received,
}

impl Direction {
    /// `sent` or `received`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Sent => "sent",
            Direction::Received => "received",
        }
    }
}

struct Traced {
    call_id: Option<String>,
    next_idx: i64,
    pending: Vec<SipMessageRow>,
}

/// Records the SIP messages of a signalling task's dialogs (see the module docs).
pub struct SipTracer {
    writer: Writer,
    dialogs: HashMap<String, Traced>,
    order: VecDeque<String>,
}

/// The value of the `Call-ID` (or compact `i`) header of a raw SIP message, if any.
pub fn call_id_header(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let head = text.split("\r\n\r\n").next()?;
    head.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        (name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i"))
            .then(|| value.trim().to_owned())
            .filter(|v| !v.is_empty())
    })
}

fn message_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() <= MAX_TRACE_TEXT {
        return text.into_owned();
    }
    let mut cut = MAX_TRACE_TEXT;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}[… {} bytes cut]", &text[..cut], text.len() - cut)
}

impl SipTracer {
    /// A tracer queueing rows on `writer`.
    pub fn new(writer: Writer) -> Self {
        SipTracer {
            writer,
            dialogs: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Record one message sent to or received from `peer` at `at_ms` (unix ms). Messages
    /// without a Call-ID are not traced.
    pub fn record(&mut self, direction: Direction, peer: SocketAddr, bytes: &[u8], at_ms: i64) {
        let Some(sip_call_id) = call_id_header(bytes) else {
            return;
        };
        let text = message_text(bytes);
        let first_line = text.split("\r\n").next().unwrap_or_default().to_owned();
        if !self.dialogs.contains_key(&sip_call_id) {
            while self.order.len() >= MAX_TRACED_DIALOGS {
                if let Some(old) = self.order.pop_front() {
                    self.dialogs.remove(&old);
                }
            }
            self.order.push_back(sip_call_id.clone());
            self.dialogs.insert(
                sip_call_id.clone(),
                Traced {
                    call_id: None,
                    next_idx: 0,
                    pending: Vec::new(),
                },
            );
        }
        let t = self.dialogs.get_mut(&sip_call_id).expect("inserted above");
        if t.next_idx as usize >= MAX_TRACE_MESSAGES {
            return;
        }
        let row = SipMessageRow {
            call_id: t.call_id.clone().unwrap_or_default(),
            idx: t.next_idx,
            at_ms,
            direction: direction.as_str().to_owned(),
            peer: peer.to_string(),
            first_line,
            text,
        };
        t.next_idx += 1;
        if t.call_id.is_some() {
            self.writer.send(Write::SipMessages(vec![row]));
        } else {
            t.pending.push(row);
        }
    }

    /// The dialog with SIP Call-ID `sip_call_id` is the Tympan call `call_id`: its messages so
    /// far are queued for the store, and later ones as they pass.
    pub fn bind(&mut self, sip_call_id: &str, call_id: &str) {
        let t = match self.dialogs.get_mut(sip_call_id) {
            Some(t) => t,
            None => {
                self.order.push_back(sip_call_id.to_owned());
                self.dialogs
                    .entry(sip_call_id.to_owned())
                    .or_insert(Traced {
                        call_id: None,
                        next_idx: 0,
                        pending: Vec::new(),
                    })
            }
        };
        t.call_id = Some(call_id.to_owned());
        let mut rows = std::mem::take(&mut t.pending);
        for r in &mut rows {
            r.call_id = call_id.to_owned();
        }
        if !rows.is_empty() {
            self.writer.send(Write::SipMessages(rows));
        }
    }

    /// Number of dialogs remembered.
    pub fn dialogs(&self) -> usize {
        self.dialogs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_id_is_found_in_long_and_compact_form() {
        let m = b"INVITE sip:a@b SIP/2.0\r\nVia: x\r\nCall-ID:  abc@1.2.3.4 \r\n\r\nbody";
        assert_eq!(call_id_header(m).as_deref(), Some("abc@1.2.3.4"));
        let m = b"SIP/2.0 200 OK\r\ni: q1\r\n\r\n";
        assert_eq!(call_id_header(m).as_deref(), Some("q1"));
        // In the body it does not count.
        assert_eq!(
            call_id_header(b"OPTIONS x SIP/2.0\r\nTo: y\r\n\r\nCall-ID: z"),
            None
        );
    }

    #[test]
    fn long_messages_are_cut_and_marked() {
        let big = "é".repeat(MAX_TRACE_TEXT);
        let t = message_text(big.as_bytes());
        assert!(t.len() < big.len());
        assert!(t.ends_with(&format!("[… {} bytes cut]", big.len() - MAX_TRACE_TEXT)));
    }
}
