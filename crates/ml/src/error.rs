//! Error type of the ML core.

use thiserror::Error;

/// Everything that can go wrong in `tympan-ml`; each variant names the row, column or field.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum MlError {
    /// The dataset has no rows.
    #[error("dataset is empty (no rows)")]
    Empty,
    /// Rows have zero features.
    #[error("dataset rows have no features (row 0 has length 0)")]
    NoFeatures,
    /// `features` and `labels` have different lengths.
    #[error("features has {features} rows but labels has {labels} entries")]
    LengthMismatch {
        /// Number of feature rows.
        features: usize,
        /// Number of labels.
        labels: usize,
    },
    /// A row has a different number of features than row 0.
    #[error("row {row} has {found} features, expected {expected} (as in row 0)")]
    RaggedRow {
        /// Offending row index.
        row: usize,
        /// Expected feature count.
        expected: usize,
        /// Feature count found.
        found: usize,
    },
    /// A feature value is NaN or infinite.
    #[error("row {row}, column {column}: value {value} is not finite")]
    NonFinite {
        /// Offending row index.
        row: usize,
        /// Offending column index.
        column: usize,
        /// The value (NaN or ±inf).
        value: f64,
    },
    /// A label is not an index into `label_names`.
    #[error("row {row}: label {label} is out of range (only {n_names} label names)")]
    LabelOutOfRange {
        /// Offending row index.
        row: usize,
        /// Label value.
        label: usize,
        /// Number of label names.
        n_names: usize,
    },
    /// Fewer than two classes.
    #[error("need at least 2 classes, found {found} ({context})")]
    TooFewClasses {
        /// Number of classes found.
        found: usize,
        /// Where (label names / labels present in training data).
        context: &'static str,
    },
    /// An explicit size limit was exceeded.
    #[error("{what} is {value}, above the limit of {limit}")]
    TooLarge {
        /// What was measured.
        what: &'static str,
        /// Measured value.
        value: usize,
        /// The limit.
        limit: usize,
    },
    /// A parameter is out of its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// The underlying fitting routine failed.
    #[error("fitting {kind} failed: {message}")]
    Fit {
        /// Classifier kind.
        kind: &'static str,
        /// Message from the fitting routine.
        message: String,
    },
    /// Input to `predict` does not match the model.
    #[error("predict input row {row} has {found} features, the model expects {expected}")]
    FeatureCount {
        /// Offending row index.
        row: usize,
        /// Features expected by the model.
        expected: usize,
        /// Features found.
        found: usize,
    },
    /// The classifier cannot give probabilities.
    #[error("{kind} gives decision values, not probabilities")]
    NoProbabilities {
        /// Classifier kind.
        kind: &'static str,
    },
    /// Cross-validating or training one candidate of a model selection failed.
    #[error("{kind}: {source}")]
    Candidate {
        /// Classifier kind of the candidate.
        kind: &'static str,
        /// What went wrong.
        source: Box<MlError>,
    },
    /// A model file is corrupted or incompatible; `field` is the JSON path of the problem.
    #[error("model file: field `{field}`: {reason}")]
    ModelFile {
        /// JSON path of the offending field (e.g. `card.label_names`).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl MlError {
    pub(crate) fn model_file(field: impl Into<String>, reason: impl Into<String>) -> Self {
        MlError::ModelFile {
            field: field.into(),
            reason: reason.into(),
        }
    }
}
