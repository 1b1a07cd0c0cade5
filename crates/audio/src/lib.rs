//! Tympan's audio core. Sans I/O: every function takes samples (or bytes already read) and
//! returns results; nothing here opens sockets, reads clocks or spawns tasks. File helpers that
//! take a path are thin wrappers that read bytes and hand them to the byte-level decoders.

pub mod features;
pub mod pcm;

pub use pcm::{Audio, AudioError};
