//! Errors and warnings of flow files: each names the file (when parsed from one), the block id
//! and the field.

use std::fmt;

use serde::Serialize;

/// Where a problem is and what it is: `flows/x.json: block "ask_dob": field "timeout_ms": must
/// be ≥ 100`. `block` is `None` for the flow's own fields (`version`, `start`, ...).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowError {
    /// The file or source name given to [`crate::Flow::parse_named`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The block's id (or `#N`, its position, when the block has no usable id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<String>,
    /// The field, as a dotted path inside the block (`dtmf.max_digits`, `branches[2].when.op`),
    /// or inside the flow when `block` is `None`. Empty for the whole block or file.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl FlowError {
    /// A problem of a block's field.
    pub fn block(block: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        FlowError {
            source: None,
            block: Some(block.to_string()),
            field: field.into(),
            message: message.into(),
        }
    }

    /// A problem of a flow-level field.
    pub fn flow(field: impl Into<String>, message: impl Into<String>) -> Self {
        FlowError {
            source: None,
            block: None,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = &self.source {
            write!(f, "{s}: ")?;
        }
        if let Some(b) = &self.block {
            write!(f, "block {b:?}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "field {:?}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// A warning has the same shape as an error; the flow still runs (an unreachable block, a
/// loop that only ends when the caller hangs up).
pub type FlowWarning = FlowError;

/// Everything [`crate::Flow::parse`] found wrong, in file order, with the warnings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
pub struct FlowErrors {
    /// The errors (at least one).
    pub errors: Vec<FlowError>,
    /// Warnings found before or alongside the errors.
    pub warnings: Vec<FlowWarning>,
}

impl fmt::Display for FlowErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// A problem an extension block type finds in its own fields: the interpreter adds the source
/// and the block id. `field` is the path inside the block (`threshold`, `model.name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field's path inside the block.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A JSON syntax error as `invalid JSON at line L column C: what` (serde_json's own text
/// without its repeated position).
pub(crate) fn json_syntax(e: &serde_json::Error) -> String {
    let full = e.to_string();
    let tail = format!(" at line {} column {}", e.line(), e.column());
    let what = full.strip_suffix(&tail).unwrap_or(&full);
    format!(
        "invalid JSON at line {} column {}: {what}",
        e.line(),
        e.column()
    )
}
