//! Tympan's audio core. Sans I/O: every function takes samples (or bytes already read) and
//! returns results; nothing here opens sockets, reads clocks or spawns tasks. File helpers that
//! take a path are thin wrappers that read bytes and hand them to the byte-level decoders.

pub mod beep;
pub mod decimate;
pub mod decode;
pub mod dtmf;
pub mod features;
pub mod fft;
pub mod g711;
pub mod goertzel;
pub mod levels;
pub mod pcm;
pub mod resample;
pub mod synth;
pub mod tones;
pub mod vad;
pub mod wav_write;

pub use pcm::{Audio, AudioError};
