//! The shared registry: live calls (claimed at start, released at end) and a small cache of
//! recently ended calls, bounded in bytes and in count (the store holds the history). Live
//! calls are never evicted.
//!
//! The audio path does not take these locks: each live call's record has its own lock, taken
//! by the call's task only when an event or action is added (and by `GET /v1/calls/{id}`),
//! and the audio position is an atomic. Locks here never poison: a panicking holder leaves
//! the data as it was and later users carry on ([`lock`]).

use serde::Serialize;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::sync::Notify;

/// Take a lock whether or not an earlier holder panicked (the data is plain records that a
/// panic cannot leave half-invariant in a way that matters to readers).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Websocket close code when the server is at `max_concurrent_calls` (RFC 6455 1013, "try
/// again later").
pub const CLOSE_TRY_AGAIN: u16 = 1013;
/// Websocket close code for a refused call (bad id, id already live, bad settings).
pub const CLOSE_POLICY: u16 = 1008;

/// What `GET /v1/calls/{id}` returns (live calls from memory, others from the store).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CallRecord {
    /// The call's id.
    pub call_id: String,
    /// `vonage`, `twilio` or `audiosocket`.
    pub platform: String,
    /// `active` or `ended`.
    #[schema(value_type = String)]
    pub state: &'static str,
    /// Samples per second of the inbound audio.
    pub sample_rate: u32,
    /// When the call started, unix ms.
    pub started_at: i64,
    /// When it ended, unix ms (`null` while live).
    pub ended_at: Option<i64>,
    /// Audio received so far, in ms.
    pub audio_ms: u64,
    /// The AMD verdict (`human`, `machine`, …) once known.
    pub answered_by: Option<String>,
    /// The AMD result (`tympan_amd::AmdResult` JSON) once known.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// Events as published on `/v1/events`, with their `seq` (at most `MAX_EVENTS_PER_CALL`).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
    /// Events not kept because the per-call limit was reached.
    pub events_dropped: u64,
    /// What the server did for the call (playback, hang-up), in order.
    #[schema(value_type = Vec<Object>)]
    pub actions: Vec<Value>,
    /// SIP calls: the SIP messages sent and received for the call, in order, each
    /// `{idx, at_ms (unix ms), direction: sent|received, peer, first_line, text}` (empty for
    /// other transports).
    #[schema(value_type = Vec<Object>)]
    pub sip_trace: Vec<Value>,
    /// SIP calls: RTCP figures of the media (`reports_sent`, `reports_received`, `remote`:
    /// the peer's reports about our stream — `fraction_lost`, `cumulative_lost`,
    /// `jitter_ms` —, `local`: ours about its stream, with `packets_received`, `rtt_ms`); `null` for other
    /// transports. Stored as the call's last `media_quality` event.
    #[schema(value_type = Option<Object>)]
    pub media_quality: Option<Value>,
}

/// A stored SIP trace as `GET /v1/calls/{id}` shows it (`sip_trace`).
pub fn sip_trace_json(rows: Vec<tympan_store::SipMessageRow>) -> Vec<Value> {
    rows.into_iter()
        .map(|m| {
            serde_json::json!({"idx": m.idx, "at_ms": m.at_ms, "direction": m.direction,
                               "peer": m.peer, "first_line": m.first_line, "text": m.text})
        })
        .collect()
}

impl CallRecord {
    /// A fresh record of a call that just started at `started_at` (unix ms).
    pub fn new(call_id: String, platform: &str, sample_rate: u32, started_at: i64) -> Self {
        CallRecord {
            call_id,
            platform: platform.to_owned(),
            state: "active",
            sample_rate,
            started_at,
            ended_at: None,
            audio_ms: 0,
            answered_by: None,
            result: None,
            events: Vec::new(),
            events_dropped: 0,
            actions: Vec::new(),
            sip_trace: Vec::new(),
            media_quality: None,
        }
    }

    /// The record as a store row (without events and actions).
    pub fn row(&self) -> tympan_store::CallRow {
        tympan_store::CallRow {
            call_id: self.call_id.clone(),
            platform: self.platform.clone(),
            state: if self.state == "ended" {
                tympan_store::CallState::Ended
            } else {
                tympan_store::CallState::Active
            },
            sample_rate: self.sample_rate,
            started_at: self.started_at,
            ended_at: self.ended_at,
            audio_ms: self.audio_ms,
            answered_by: self.answered_by.clone(),
            result: self.result.clone(),
            events_dropped: self.events_dropped,
        }
    }

    /// A stored call as the API shows it: published events with a `type` other than
    /// `action_done` (those are the actions) and `media_quality` (the last one is the
    /// record's `media_quality`), in `seq` order.
    pub fn from_detail(d: tympan_store::CallDetail) -> Self {
        let c = d.call;
        let media_quality = d
            .events
            .iter()
            .rev()
            .find(|e| e.kind == "media_quality")
            .map(|e| e.body.clone());
        CallRecord {
            call_id: c.call_id,
            platform: c.platform,
            state: c.state.as_str(),
            sample_rate: c.sample_rate,
            started_at: c.started_at,
            ended_at: c.ended_at,
            audio_ms: c.audio_ms,
            answered_by: c.answered_by,
            result: c.result,
            events: d
                .events
                .into_iter()
                .filter(|e| {
                    e.body.get("type").is_some()
                        && e.kind != "action_done"
                        && e.kind != "media_quality"
                })
                .map(|e| e.body)
                .collect(),
            events_dropped: c.events_dropped,
            actions: d.actions.into_iter().map(|a| a.body).collect(),
            sip_trace: sip_trace_json(d.sip_trace),
            media_quality,
        }
    }
}

/// One live call as the registry sees it.
pub struct LiveCall {
    /// The record; locked by the call's own task when it adds events or actions.
    pub record: Mutex<CallRecord>,
    /// Audio received, in ms (updated on every frame without a lock).
    pub audio_ms: AtomicU64,
}

impl LiveCall {
    /// A copy of the record with the current audio position.
    pub fn snapshot(&self) -> CallRecord {
        let mut r = lock(&self.record).clone();
        r.audio_ms = self.audio_ms.load(Ordering::Relaxed);
        r
    }
}

/// Why a call could not be registered.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Another connection holds this id.
    Duplicate,
    /// `max_concurrent_calls` calls are live.
    Full(usize),
}

impl Refusal {
    /// Websocket close code and reason for the refusal.
    pub fn close(&self, call_id: &str) -> (u16, String) {
        match self {
            Refusal::Duplicate => (
                CLOSE_POLICY,
                format!("call id `{call_id}` is already live on another connection"),
            ),
            Refusal::Full(n) => (
                CLOSE_TRY_AGAIN,
                format!("try again later: {n} calls live (max_concurrent_calls)"),
            ),
        }
    }
}

/// Recently ended calls kept for `GET /v1/calls/{id}` while their last rows are on their way
/// to the store, as serialised JSON, oldest forgotten first (a small cache: the store is the
/// history).
struct History {
    max_calls: usize,
    max_bytes: usize,
    bytes: usize,
    calls: HashMap<String, Arc<str>>,
    order: VecDeque<String>,
}

impl History {
    fn insert(&mut self, id: String, json: Arc<str>) {
        if let Some(old) = self.calls.remove(&id) {
            self.bytes -= old.len() + id.len();
            self.order.retain(|o| o != &id);
        }
        self.bytes += json.len() + id.len();
        self.order.push_back(id.clone());
        self.calls.insert(id, json);
        while self.order.len() > self.max_calls || self.bytes > self.max_bytes {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(j) = self.calls.remove(&old) {
                self.bytes -= j.len() + old.len();
            }
        }
    }
}

/// Live calls and the cache of recently ended ones.
pub struct Registry {
    max_live: usize,
    live: Mutex<HashMap<String, Arc<LiveCall>>>,
    history: Mutex<History>,
    /// Woken whenever a live call ends (the drain on shutdown waits on it).
    pub ended: Notify,
}

/// What a lookup found.
pub enum Found {
    /// A live call (copy of its record, `state: "active"`).
    Live(Box<CallRecord>),
    /// An ended call as stored JSON.
    Ended(Arc<str>),
}

impl Registry {
    /// A registry refusing calls beyond `max_live` and keeping at most `max_calls` ended calls
    /// in at most `max_bytes` bytes of JSON.
    pub fn new(max_live: usize, max_calls: usize, max_bytes: usize) -> Self {
        Registry {
            max_live: max_live.max(1),
            live: Mutex::new(HashMap::new()),
            history: Mutex::new(History {
                max_calls: max_calls.max(1),
                max_bytes,
                bytes: 0,
                calls: HashMap::new(),
                order: VecDeque::new(),
            }),
            ended: Notify::new(),
        }
    }

    /// Claim `rec.call_id` for a new live call.
    pub fn begin(&self, rec: CallRecord) -> Result<Arc<LiveCall>, Refusal> {
        let mut live = lock(&self.live);
        if live.contains_key(&rec.call_id) {
            return Err(Refusal::Duplicate);
        }
        if live.len() >= self.max_live {
            return Err(Refusal::Full(live.len()));
        }
        let id = rec.call_id.clone();
        let call = Arc::new(LiveCall {
            record: Mutex::new(rec),
            audio_ms: AtomicU64::new(0),
        });
        live.insert(id, call.clone());
        Ok(call)
    }

    /// Release a live call: its final record (returned) goes to the cache of recently ended
    /// calls.
    pub fn end(&self, call: &LiveCall) -> CallRecord {
        let mut rec = call.snapshot();
        rec.state = "ended";
        if rec.ended_at.is_none() {
            rec.ended_at = Some(crate::unix_ms());
        }
        let json: Arc<str> = Arc::from(serde_json::to_string(&rec).unwrap_or_default());
        lock(&self.history).insert(rec.call_id.clone(), json);
        lock(&self.live).remove(&rec.call_id);
        self.ended.notify_waiters();
        rec
    }

    /// A call by id: live first, then the history.
    pub fn get(&self, id: &str) -> Option<Found> {
        let live = lock(&self.live).get(id).cloned();
        if let Some(c) = live {
            return Some(Found::Live(Box::new(c.snapshot())));
        }
        lock(&self.history).calls.get(id).cloned().map(Found::Ended)
    }

    /// The live call `id` itself (for a transport's media task to update its record).
    pub fn live(&self, id: &str) -> Option<Arc<LiveCall>> {
        lock(&self.live).get(id).cloned()
    }

    /// Number of live calls.
    pub fn live_count(&self) -> usize {
        lock(&self.live).len()
    }

    /// Number of ended calls remembered.
    pub fn history_len(&self) -> usize {
        lock(&self.history).calls.len()
    }

    /// Bytes of JSON held by the history.
    pub fn history_bytes(&self) -> usize {
        lock(&self.history).bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str) -> CallRecord {
        CallRecord::new(id.into(), "vonage", 8000, 0)
    }

    #[test]
    fn a_live_id_cannot_be_claimed_twice_and_the_cap_holds() {
        let r = Registry::new(2, 10, 1 << 20);
        let a = r.begin(rec("a")).unwrap();
        assert_eq!(r.begin(rec("a")).err(), Some(Refusal::Duplicate));
        let _b = r.begin(rec("b")).unwrap();
        let full = r.begin(rec("c")).err().unwrap();
        assert_eq!(full, Refusal::Full(2));
        assert_eq!(full.close("c").0, CLOSE_TRY_AGAIN);
        r.end(&a);
        assert_eq!(r.live_count(), 1);
        // Once ended, the id may be used again.
        r.begin(rec("a")).unwrap();
    }

    #[test]
    fn history_is_bounded_in_bytes_and_live_calls_stay() {
        let one = serde_json::to_string(&CallRecord {
            state: "ended",
            ended_at: Some(crate::unix_ms()),
            ..rec("h0")
        })
        .unwrap()
        .len()
            + 2;
        let r = Registry::new(100, 1000, 3 * one);
        let live = r.begin(rec("live")).unwrap();
        for i in 0..10 {
            let c = r.begin(rec(&format!("h{i}"))).unwrap();
            r.end(&c);
        }
        assert!(
            r.history_bytes() <= 3 * one,
            "{} > {}",
            r.history_bytes(),
            3 * one
        );
        assert_eq!(r.history_len(), 3);
        assert!(r.get("h0").is_none());
        assert!(matches!(r.get("h9"), Some(Found::Ended(_))));
        assert!(matches!(r.get("live"), Some(Found::Live(_))));
        drop(live);
    }

    #[test]
    fn history_is_bounded_in_count() {
        let r = Registry::new(100, 2, 1 << 20);
        for id in ["a", "b", "c"] {
            let c = r.begin(rec(id)).unwrap();
            r.end(&c);
        }
        assert!(r.get("a").is_none());
        assert_eq!(r.history_len(), 2);
    }

    #[test]
    fn a_panic_while_holding_a_record_does_not_poison_the_registry() {
        let r = Arc::new(Registry::new(10, 10, 1 << 20));
        let c = r.begin(rec("p")).unwrap();
        let c2 = c.clone();
        let _ = std::thread::spawn(move || {
            let _g = c2.record.lock().unwrap();
            panic!("boom");
        })
        .join();
        assert!(c.record.is_poisoned());
        assert!(matches!(r.get("p"), Some(Found::Live(_))));
        r.end(&c);
        assert!(matches!(r.get("p"), Some(Found::Ended(_))));
    }
}
