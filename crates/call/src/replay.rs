//! Pushing a whole recording through a call, as a transport would, and collecting what comes
//! out: for tests that compare "this audio through a transport" with "this audio through the
//! core directly", and for offline runs.

use crate::call::Call;
use crate::config::{CallConfig, CallError};
use crate::event::{Action, CallEvent};

/// Everything a call produced, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transcript {
    /// Events, oldest first (actions included, as [`CallEvent::Action`]).
    pub events: Vec<CallEvent>,
    /// Actions for the shell, oldest first.
    pub actions: Vec<Action>,
}

impl Transcript {
    /// Take every pending event and action out of `call` into this transcript.
    pub fn drain(&mut self, call: &mut Call) {
        self.events.extend(std::iter::from_fn(|| call.poll_event()));
        self.actions
            .extend(std::iter::from_fn(|| call.poll_action()));
    }

    /// The events as published JSON messages, in order (see [`CallEvent::to_json`]).
    pub fn json(&self, call_id: &str) -> Vec<serde_json::Value> {
        self.events
            .iter()
            .flat_map(|e| e.to_json(call_id))
            .collect()
    }
}

/// Push `samples` into `call` in chunks of `chunk` samples (at least 1), with the clock
/// advancing with the audio from `start_ms` (real-time pace), draining events and actions
/// after every chunk into `out`. Returns the clock after the last chunk. Does not finish the
/// call.
pub fn push_chunked(
    call: &mut Call,
    samples: &[f32],
    chunk: usize,
    start_ms: u64,
    out: &mut Transcript,
) -> u64 {
    let rate = u64::from(call.config().sample_rate);
    let mut sent = 0u64;
    for c in samples.chunks(chunk.max(1)) {
        call.push_audio(c, start_ms + sent * 1000 / rate);
        sent += c.len() as u64;
        out.drain(call);
    }
    start_ms + sent * 1000 / rate
}

/// A fresh call from `cfg`, fed `samples` in chunks of `chunk` at real-time pace from clock 0,
/// then finished: everything it produced. Actions are collected but not answered (no
/// `playback_finished` is reported).
pub fn replay(cfg: CallConfig, samples: &[f32], chunk: usize) -> Result<Transcript, CallError> {
    let mut call = Call::new(cfg)?;
    let mut out = Transcript::default();
    out.drain(&mut call);
    let now = push_chunked(&mut call, samples, chunk, 0, &mut out);
    call.finish(now);
    out.drain(&mut call);
    Ok(out)
}
