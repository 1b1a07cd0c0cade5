//! Rows, filters and pages.

use crate::{StoreError, DEFAULT_LIST_LIMIT, MAX_CALL_ID_LEN, MAX_LIST_LIMIT};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Whether a call is still streaming.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallState {
    /// The call's media is still arriving.
    Active,
    /// The call has finished (or was found active after a restart).
    Ended,
}

impl CallState {
    /// `"active"` or `"ended"`, as stored and as in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Active => "active",
            CallState::Ended => "ended",
        }
    }

    /// From `"active"` or `"ended"`.
    pub fn parse(s: &str) -> Option<CallState> {
        match s {
            "active" => Some(CallState::Active),
            "ended" => Some(CallState::Ended),
            _ => None,
        }
    }
}

impl std::fmt::Display for CallState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A call as stored (without its events and actions).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallRow {
    /// The call's id (at most [`MAX_CALL_ID_LEN`] bytes).
    pub call_id: String,
    /// `vonage`, `twilio`, `audiosocket`, …
    pub platform: String,
    /// Active or ended.
    pub state: CallState,
    /// Samples per second of the call's audio.
    pub sample_rate: u32,
    /// When the call started, unix ms.
    pub started_at: i64,
    /// When it ended, unix ms.
    pub ended_at: Option<i64>,
    /// Audio received, ms.
    pub audio_ms: u64,
    /// The AMD verdict (`human`, `machine`, …) once known.
    pub answered_by: Option<String>,
    /// The AMD result JSON once known.
    pub result: Option<Value>,
    /// Events the server did not keep (per-call limit or writer queue full).
    pub events_dropped: u64,
}

impl CallRow {
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        check_call_id(&self.call_id)
    }
}

pub(crate) fn check_call_id(id: &str) -> Result<(), StoreError> {
    if id.is_empty() {
        return Err(StoreError::invalid("call_id", id, "empty"));
    }
    if id.len() > MAX_CALL_ID_LEN {
        return Err(StoreError::invalid(
            "call_id",
            id,
            format!("{} bytes, longer than {MAX_CALL_ID_LEN}", id.len()),
        ));
    }
    Ok(())
}

/// One published event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    /// Global sequence number, assigned by the server, unique, increasing.
    pub seq: i64,
    /// The call it belongs to.
    pub call_id: String,
    /// The event's `at_ms` (ms of call audio).
    pub at_ms: i64,
    /// The event's `type`.
    pub kind: String,
    /// The whole event JSON as published.
    pub body: Value,
}

/// One action the server took for a call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActionRow {
    /// The call it belongs to.
    pub call_id: String,
    /// Position in the call's action log, from 0.
    pub idx: i64,
    /// The action JSON.
    pub body: Value,
}

/// One SIP message of a call's trace (its ladder).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SipMessageRow {
    /// The call it belongs to.
    pub call_id: String,
    /// Position in the call's trace, from 0.
    pub idx: i64,
    /// When it was sent or received, unix ms.
    pub at_ms: i64,
    /// `sent` or `received`.
    pub direction: String,
    /// The other end, `ip:port`.
    pub peer: String,
    /// The request or status line.
    pub first_line: String,
    /// The whole message as text (invalid UTF-8 replaced).
    pub text: String,
}

impl SipMessageRow {
    /// Bytes of payload it stores (what `prune` counts).
    pub(crate) fn payload_len(&self) -> usize {
        self.direction.len() + self.peer.len() + self.first_line.len() + self.text.len()
    }
}

/// A call with everything recorded for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallDetail {
    /// The call row.
    pub call: CallRow,
    /// Its events in `seq` order.
    pub events: Vec<EventRow>,
    /// Its actions in `idx` order.
    pub actions: Vec<ActionRow>,
    /// Its SIP trace in `idx` order (empty for calls that did not come over SIP).
    #[serde(default)]
    pub sip_trace: Vec<SipMessageRow>,
}

/// Rows written in one transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// Calls to upsert (for one id, the last row wins).
    pub calls: Vec<CallRow>,
    /// Events to append.
    pub events: Vec<EventRow>,
    /// Actions to append.
    pub actions: Vec<ActionRow>,
    /// SIP trace messages to append.
    pub sip_messages: Vec<SipMessageRow>,
}

impl Batch {
    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.calls.len() + self.events.len() + self.actions.len() + self.sip_messages.len()
    }

    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Which calls [`crate::Store::list_calls`] returns, and from where.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallFilter {
    /// Only calls in this state.
    pub state: Option<CallState>,
    /// Only calls with this verdict.
    pub answered_by: Option<String>,
    /// Only calls with `started_at >= since` (unix ms).
    pub since: Option<i64>,
    /// Page size: default [`DEFAULT_LIST_LIMIT`], clamped to 1..=[`MAX_LIST_LIMIT`].
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl CallFilter {
    /// The page size used.
    pub fn effective_limit(&self) -> u32 {
        self.limit
            .unwrap_or(DEFAULT_LIST_LIMIT)
            .clamp(1, MAX_LIST_LIMIT)
    }
}

/// One page of calls, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// The calls.
    pub calls: Vec<CallRow>,
    /// Cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// How much history [`crate::Store::prune`] keeps. Each limit that is set must hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneLimit {
    /// Keep at most this many ended calls (the newest).
    pub keep_calls: Option<u64>,
    /// Keep at most this many bytes of JSON payload (results, events, actions) over all
    /// calls, active ones included, deleting the oldest ended calls first. Bounds the data,
    /// not the file: SQLite reuses freed pages rather than shrinking.
    pub keep_bytes: Option<u64>,
}

/// What a prune deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Calls deleted.
    pub calls: u64,
    /// Events deleted.
    pub events: u64,
    /// Actions deleted.
    pub actions: u64,
}

/// The keyset position of a call in the newest-first order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub started_at: i64,
    pub call_id: String,
}

const CURSOR_PREFIX: &str = "c1.";

impl Cursor {
    /// Opaque text: version prefix, start time, and the call id in hex.
    pub fn encode(&self) -> String {
        let mut s = format!("{CURSOR_PREFIX}{}.", self.started_at);
        for b in self.call_id.as_bytes() {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    pub fn decode(text: &str) -> Result<Cursor, StoreError> {
        let bad = |reason: &str| StoreError::BadCursor {
            cursor: text.chars().take(200).collect(),
            reason: reason.to_owned(),
        };
        let rest = text
            .strip_prefix(CURSOR_PREFIX)
            .ok_or_else(|| bad("not a cursor from a previous page (unknown prefix)"))?;
        let (t, hex) = rest
            .split_once('.')
            .ok_or_else(|| bad("missing call id part"))?;
        let started_at: i64 = t.parse().map_err(|_| bad("start time is not an integer"))?;
        if hex.is_empty() || hex.len() % 2 != 0 || hex.len() > 2 * MAX_CALL_ID_LEN {
            return Err(bad("call id part has a bad length"));
        }
        let bytes = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad("call id part is not hex"))?;
        let call_id = String::from_utf8(bytes).map_err(|_| bad("call id is not UTF-8"))?;
        Ok(Cursor {
            started_at,
            call_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip_and_errors() {
        let c = Cursor {
            started_at: -5,
            call_id: "a.b_ü".into(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        for bad in [
            "", "c1.", "c1.12", "c1.x.61", "c1.1.6", "c1.1.zz", "c2.1.61", "c1.1.ff",
        ] {
            let e = Cursor::decode(bad).unwrap_err();
            assert!(
                matches!(&e, StoreError::BadCursor { cursor, .. } if cursor == bad),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn limits_clamp() {
        let f = |l| CallFilter {
            limit: l,
            ..CallFilter::default()
        };
        assert_eq!(f(None).effective_limit(), DEFAULT_LIST_LIMIT);
        assert_eq!(f(Some(0)).effective_limit(), 1);
        assert_eq!(f(Some(5000)).effective_limit(), MAX_LIST_LIMIT);
    }

    #[test]
    fn call_ids_are_bounded() {
        assert!(check_call_id("a").is_ok());
        assert!(check_call_id(&"x".repeat(MAX_CALL_ID_LEN)).is_ok());
        let e = check_call_id(&"x".repeat(MAX_CALL_ID_LEN + 1)).unwrap_err();
        assert!(e.to_string().contains("call_id"), "{e}");
        assert!(check_call_id("").is_err());
    }
}
