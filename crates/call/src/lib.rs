//! The call core: one phone call as a sans-I/O state machine (the quinn-proto `Connection` of
//! Tympan).
//!
//! A [`Call`] is fed inbound PCM (8 or 16 kHz, any chunk size), out-of-band DTMF, signalling
//! (answered, remote hang-up), playback reports and the shell's clock `now_ms`. It runs
//! [`Analyzer`]s side by side (AMD, in-band DTMF and call-progress tones today) and returns
//! typed [`CallEvent`]s, [`Action`]s for the shell (play, stop playback, send DTMF, hang up)
//! and the next deadline ([`Call::poll_timeout`]). The on-beep behaviour (say or play a
//! message, then hang up) is a small policy in the core ([`policy`]).
//!
//! Every transport (Vonage and Twilio websockets, Asterisk AudioSocket, SIP/RTP, a file) only
//! turns bytes into these inputs and carries out the actions; nothing about a call is decided
//! in a transport.
//!
//! ```
//! use tympan_call::{Call, CallConfig, CallEvent};
//! let mut call = Call::new(CallConfig::new("call-1", "file", 8000)).unwrap();
//! call.push_audio(&vec![0.0; 8000], 1000);
//! call.finish(1000);
//! let events: Vec<CallEvent> = std::iter::from_fn(|| call.poll_event()).collect();
//! assert!(matches!(events.first(), Some(CallEvent::CallStart { .. })));
//! assert!(matches!(events.last(), Some(CallEvent::CallEnd { at_ms: 1000 })));
//! assert!(call.result().is_some());
//! ```
//!
//! No clock, no sockets, no files, no async: time is an argument, and event times are audio
//! time, so the same audio and inputs give the same events whatever the chunking.

pub mod analyzer;
mod call;
pub mod config;
pub mod event;
pub mod policy;
pub mod replay;

pub use analyzer::{AmdAnalyzer, Analyzer, DtmfAnalyzer, ToneAnalyzer};
pub use call::{Call, CallState, DTMF_DEDUP_MS, FRAME_MS};
pub use config::{validate_call_id, BeepPolicy, CallConfig, CallError, Prompt};
pub use event::{result_json, Action, CallEvent, DtmfSource, PlaybackOutcome, Signal, Tone};
pub use replay::{push_chunked, replay, Transcript};

#[cfg(test)]
mod tests {
    /// Shells move calls into tasks and threads.
    #[test]
    fn calls_and_their_outputs_are_send() {
        fn is_send<T: Send>() {}
        is_send::<super::Call>();
        is_send::<super::CallEvent>();
        is_send::<super::Action>();
    }
}
