//! SIP dialogs (RFC 3261 §12-§15) for a user agent, sans I/O.

mod random;

pub use random::{Random, SplitMix64};
