//! Extension blocks: block types that later crates add (`classify` for screening, `voice_id`
//! for biometrics) without touching the interpreter.
//!
//! An extension registers under a type name in an [`Extensions`] registry passed to
//! [`crate::Flow::parse`]. A block whose `type` is neither built in nor registered fails
//! validation: `block "risk": field "type": unknown block type "classify" (built-in: play,
//! get_input, ...; registered extensions: none)`.
//!
//! At run time the interpreter calls [`ExtensionBlock::enter`] when the block is entered; the
//! extension either leaves at once ([`ExtensionStep::Exit`]) or asks the shell for work
//! ([`ExtensionStep::Request`] → [`crate::Action::Extension`], e.g. "score recording
//! rec-7"), and gets the shell's answer ([`crate::Event::ExtensionResult`]), or a timeout, in
//! [`ExtensionBlock::on_result`] — where it may ask again or leave. Exits are `next`,
//! `on_error` or one of the type's [`ExtensionBlock::branches`], which the block maps to
//! targets in its `branches` object.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::FieldError;
use crate::template::Templates;

/// A block type added from outside the crate.
pub trait ExtensionBlock: Send + Sync {
    /// The `type` used in flow files (`classify`): lowercase letters, digits and `_`.
    fn type_name(&self) -> &str;

    /// Branch names the type can leave through (`high_risk`, `low_risk`); a block's
    /// `branches` object may only use these. Default: none.
    fn branches(&self) -> &[&str] {
        &[]
    }

    /// Check the block's own fields: the block object without `id`, `type`, `description`,
    /// `next`, `on_error` and `branches`. Each error names its field inside the block.
    fn validate(&self, fields: &Map<String, Value>) -> Result<(), Vec<FieldError>>;

    /// The block was entered.
    fn enter(&self, call: &mut ExtensionCall<'_>) -> ExtensionStep;

    /// The shell answered the last request (or did not, in time).
    fn on_result(&self, call: &mut ExtensionCall<'_>, result: ExtensionResult) -> ExtensionStep;
}

/// What an extension sees of the call while it runs.
pub struct ExtensionCall<'a> {
    /// The block's id.
    pub block_id: &'a str,
    /// The block's own fields (as given to [`ExtensionBlock::validate`]).
    pub fields: &'a Map<String, Value>,
    /// The call's attributes (set them with [`ExtensionStep::Exit::set`]).
    pub attributes: &'a Map<String, Value>,
    /// Scratch state kept between `enter` and `on_result` calls of one visit (starts `null`).
    pub state: &'a mut Value,
    /// The shell's clock, ms.
    pub now_ms: u64,
    pub(crate) templates: &'a Templates,
}

impl ExtensionCall<'_> {
    /// Render a template over the call's attributes (the flow's template rules).
    pub fn render(&self, template: &str) -> Result<String, String> {
        self.templates.render(template, self.attributes)
    }
}

/// The shell's answer to an [`ExtensionStep::Request`].
#[derive(Clone, Debug, PartialEq)]
pub enum ExtensionResult {
    /// The work was done; its result.
    Ok(Value),
    /// The work failed; why.
    Failed(String),
    /// No answer within the request's timeout.
    TimedOut,
}

/// Which exit an extension block leaves through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtensionExit {
    /// `next`.
    Next,
    /// `on_error`, with the reason (the flow ends with an error when `on_error` is not set).
    Error(String),
    /// One of [`ExtensionBlock::branches`]; taken as `next` when the block does not map it.
    Branch(String),
}

/// What an extension block does next.
#[derive(Clone, Debug, PartialEq)]
pub enum ExtensionStep {
    /// Ask the shell for work: emitted as [`crate::Action::Extension`]; the answer (or a
    /// timeout after `timeout_ms`) comes back in [`ExtensionBlock::on_result`].
    Request {
        /// What the shell gets (e.g. `{"recording": "rec-7"}`).
        payload: Value,
        /// How long to wait for the answer, ms.
        timeout_ms: u64,
    },
    /// Leave the block.
    Exit {
        /// The exit taken.
        exit: ExtensionExit,
        /// Attributes to set.
        set: Map<String, Value>,
        /// The block's result, shown in the trace.
        result: Value,
    },
}

/// The extension block types a flow may use, by type name.
#[derive(Clone, Default)]
pub struct Extensions {
    kinds: BTreeMap<String, Arc<dyn ExtensionBlock>>,
}

impl std::fmt::Debug for Extensions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.kinds.keys()).finish()
    }
}

impl Extensions {
    /// No extensions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register a type. Refused (naming the type) when the name is a built-in type, is
    /// already registered, or is not lowercase letters, digits and `_` (starting with a letter).
    pub fn register(&mut self, kind: Arc<dyn ExtensionBlock>) -> Result<(), String> {
        let name = kind.type_name().to_string();
        let ok = name.len() <= 64
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(format!(
                "extension type {name:?}: must be lowercase letters, digits and _ (starting with a letter)"
            ));
        }
        if crate::flow::BUILTIN_TYPES.contains(&name.as_str()) {
            return Err(format!(
                "extension type {name:?}: a built-in block type has that name"
            ));
        }
        if self.kinds.contains_key(&name) {
            return Err(format!("extension type {name:?}: already registered"));
        }
        self.kinds.insert(name, kind);
        Ok(())
    }

    /// The type registered under `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn ExtensionBlock>> {
        self.kinds.get(name)
    }

    /// Registered type names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.kinds.keys().map(String::as_str).collect()
    }
}
