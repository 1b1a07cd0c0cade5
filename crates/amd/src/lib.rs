//! Streaming answering-machine and voicemail-beep detection, sans I/O.
//!
//! Feed PCM frames with the time they arrived; poll timestamped events and the final result.
//! Times in events are milliseconds of audio since the start of the stream, so a recorded call
//! replays to the same events whatever the chunk sizes.

pub mod advisor;
pub mod clips;
pub mod config;
pub mod corpus;
mod detector;
pub mod eval;
pub mod events;
mod frontend;
pub mod greeting;

pub use config::{AmdConfig, ConfigError, Mode, Strategy};
pub use detector::{AmdDetector, FRAME_MS, MASK_DELAY_MS};
pub use events::{AmdEvent, AmdResult, AnsweredBy, AsteriskStatus, Beep, MachineReason};
