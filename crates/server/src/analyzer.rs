//! How the server makes one call core (`tympan_call::Call`) per call, with the learned AMD
//! model shared by all calls when `amd_model` is configured.

use crate::config::ServerConfig;
use std::sync::Arc;
use tympan_call::{Call, CallConfig, CallError};
use tympan_ml::Model;

/// Makes the call core of each call.
#[derive(Clone, Default)]
pub struct CallFactory {
    /// The learned second opinion attached to every call's AMD (clip advice events).
    pub amd_model: Option<Arc<Model>>,
}

/// Former name of [`CallFactory`], kept for embedders.
pub type AnalyzerFactory = CallFactory;

impl CallFactory {
    /// A call from `cfg`, with the factory's model attached.
    pub fn make(&self, mut cfg: CallConfig) -> Result<Call, CallError> {
        if cfg.amd.is_some() {
            cfg.amd_model = self.amd_model.clone();
        }
        Call::new(cfg)
    }
}

/// Calls with AMD and no learned model.
pub fn amd_factory() -> CallFactory {
    CallFactory::default()
}

/// Calls with AMD and, when given, the learned model's clip advice.
pub fn amd_factory_with_model(model: Option<Arc<Model>>) -> CallFactory {
    CallFactory { amd_model: model }
}

/// The factory `config` asks for: reads and checks `amd_model` when set (the error names the
/// file).
pub fn factory_from_config(config: &ServerConfig) -> Result<CallFactory, String> {
    let Some(path) = &config.amd_model else {
        return Ok(amd_factory());
    };
    let bytes = std::fs::read(path).map_err(|e| format!("amd_model {}: {e}", path.display()))?;
    let model = tympan_amd::advisor::load_model_bytes(&bytes)
        .map_err(|e| format!("amd_model {}: {e}", path.display()))?;
    Ok(amd_factory_with_model(Some(model)))
}
