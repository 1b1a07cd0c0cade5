//! Tympan's audio core. Sans I/O: every function takes samples (or bytes already read) and
//! returns results; nothing here opens sockets, reads clocks or spawns tasks. File helpers that
//! take a path are thin wrappers that read bytes and hand them to the byte-level decoders.

pub mod beep;
pub mod dtmf;
pub mod goertzel;
pub mod pcm;
pub mod synth;
pub mod tones;
pub mod vad;

pub use pcm::{Audio, AudioError};
