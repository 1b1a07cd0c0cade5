//! The per-call detector as the shell sees it, and the factory that makes one per call.

use std::sync::Arc;
use tympan_amd::advisor::Advisor;
use tympan_amd::{AmdConfig, AmdEvent, ConfigError};
use tympan_ml::Model;

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

/// The production factory: one `tympan_amd::AmdDetector` per call.
pub fn amd_factory() -> AnalyzerFactory {
    amd_factory_with_model(None)
}

/// One `tympan_amd::AmdDetector` per call, with the learned second opinion of `model` (from
/// `tympan amd train`, shared by all calls) attached when given: every VAD clip of the call is
/// then reported as a `clip` event.
pub fn amd_factory_with_model(model: Option<Arc<Model>>) -> AnalyzerFactory {
    Arc::new(move |cfg: &AmdConfig| {
        let mut det = tympan_amd::AmdDetector::new(cfg.clone())?;
        if let Some(m) = &model {
            let advisor = Advisor::new(m.clone(), cfg.sample_rate).map_err(|e| ConfigError {
                field: "amd_model",
                why: e.to_string(),
            })?;
            det.set_advisor(advisor);
        }
        Ok(Box::new(det) as Box<dyn CallAnalyzer>)
    })
}

impl CallAnalyzer for tympan_amd::AmdDetector {
    fn push(&mut self, samples: &[f32], now_ms: u64) {
        tympan_amd::AmdDetector::push(self, samples, now_ms)
    }
    fn poll_event(&mut self) -> Option<AmdEvent> {
        tympan_amd::AmdDetector::poll_event(self)
    }
    fn finish(&mut self, now_ms: u64) {
        tympan_amd::AmdDetector::finish(self, now_ms)
    }
    fn poll_timeout(&self) -> Option<u64> {
        tympan_amd::AmdDetector::poll_timeout(self)
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        tympan_amd::AmdDetector::handle_timeout(self, now_ms)
    }
}
