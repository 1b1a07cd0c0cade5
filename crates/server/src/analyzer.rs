//! The per-call detector as the shell sees it, and the factory that makes one per call.

use std::sync::Arc;
use tympan_amd::{AmdConfig, AmdEvent, ConfigError};

/// A streaming call analyser: mono f32 PCM in, timestamped AMD events out.
/// `now_ms` is the shell's clock (ms since the call started) when the samples arrived; event
/// times come from the audio itself.
pub trait CallAnalyzer: Send {
    /// Feed samples at the configured rate, any chunk size.
    fn push(&mut self, samples: &[f32], now_ms: u64);
    /// Next pending event; drained after every push.
    fn poll_event(&mut self) -> Option<AmdEvent>;
    /// The stream ended; a final `Result` event may follow.
    fn finish(&mut self, now_ms: u64);
    /// Clock time (same base as `now_ms`) at which `handle_timeout` is due if audio stalls.
    fn poll_timeout(&self) -> Option<u64> {
        None
    }
    /// Called at or after `poll_timeout` when no audio came.
    fn handle_timeout(&mut self, _now_ms: u64) {}
}

/// Makes one analyser per call from the call's (validated) AMD configuration.
pub type AnalyzerFactory =
    Arc<dyn Fn(&AmdConfig) -> Result<Box<dyn CallAnalyzer>, ConfigError> + Send + Sync>;

/// The production factory.
///
/// `tympan_amd` on main does not export `AmdDetector` yet (its front end waits for the audio
/// beep/VAD modules), so until then every call is refused at start with the reason
/// "AMD detector not available in this build" (websocket close 1008). When it is exported this
/// becomes `AmdDetector::new(cfg.clone())` behind a `CallAnalyzer` impl.
pub fn amd_factory() -> AnalyzerFactory {
    Arc::new(|_cfg: &AmdConfig| {
        Err(ConfigError {
            field: "detector",
            why: "AMD detector not available in this build".into(),
        })
    })
}
