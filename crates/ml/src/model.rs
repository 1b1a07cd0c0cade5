//! Trained models with a JSON card, and their byte serialisation.
//!
//! File layout (one JSON document, UTF-8):
//! `{"card": {...}, "weights": {...}}`. The card holds the format name/version, the classifier
//! config (its `kind` and hyperparameters), label names, feature description, standardiser
//! parameters, metrics, a SHA-256 of the training data, the creator version, a description of
//! the weights format, and the SHA-256 of the canonical weights JSON (compact, keys sorted), so a
//! corrupted file is detected. Weights of naive Bayes, logistic regression and SVM are our own plain structs;
//! random-forest trees are smartcore 0.7's serde JSON of its `DecisionTreeClassifier`.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::classifier::{Classifier, ClassifierConfig, Weights};
use crate::dataset::{random_oversample, Dataset};
use crate::error::MlError;
use crate::eval::Metrics;
use crate::scale::Standardizer;
use crate::select::LeftOutLabel;

/// `card.format` of every model file.
pub const MODEL_FORMAT: &str = "tympan-ml-model";
/// Newest `card.format_version` this code reads and the one it writes.
pub const MODEL_FORMAT_VERSION: u32 = 1;
/// Largest model file accepted by [`Model::load_from_bytes`] (256 MiB).
pub const MAX_MODEL_BYTES: usize = 256 << 20;

/// How to train a [`Model`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Classifier and hyperparameters.
    pub classifier: ClassifierConfig,
    /// Standardise features (fitted on the training rows only). Default true.
    pub standardize: bool,
    /// Randomly oversample minority classes of the training rows (seeded by `seed`).
    pub oversample: bool,
    /// Seed for oversampling.
    pub seed: u64,
}

impl TrainOptions {
    /// Standardisation on, oversampling off, seed 0.
    pub fn new(classifier: ClassifierConfig) -> Self {
        Self {
            classifier,
            standardize: true,
            oversample: false,
            seed: 0,
        }
    }
}

/// The JSON card describing a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// [`MODEL_FORMAT_VERSION`] at writing time.
    pub format_version: u32,
    /// Classifier kind and hyperparameters.
    pub classifier: ClassifierConfig,
    /// Class names, indexed by class.
    pub label_names: Vec<String>,
    /// Features per input row.
    pub n_features: usize,
    /// Free text: how the feature vector is computed (e.g. "mean of 40 MFCCs at 22050 Hz").
    pub feature_description: String,
    /// Standardiser applied before the classifier, if any.
    pub standardizer: Option<Standardizer>,
    /// Whether minority classes were oversampled for training.
    pub oversampled: bool,
    /// Training rows (before oversampling).
    pub training_rows: usize,
    /// `sha256:<hex>` of the training data (see [`dataset_hash`]).
    pub training_data_hash: String,
    /// Named evaluation results (e.g. `"cv5"`, `"test"`), filled by the caller.
    pub metrics: BTreeMap<String, Metrics>,
    /// `tympan-ml <version>`.
    pub created_by: String,
    /// Human-readable description of the `weights` section.
    pub weights_format: String,
    /// `sha256:<hex>` of the canonical weights JSON (set when saving).
    pub weights_sha256: String,
    /// Labels of the training folder left out of the model (too few examples), and why.
    /// Absent from the file when empty (files written before this field load as empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub left_out_labels: Vec<LeftOutLabel>,
}

/// A trained model: card + optional standardiser + classifier.
#[derive(Debug, PartialEq)]
pub struct Model {
    /// The card (metrics may be added by the caller before saving).
    pub card: ModelCard,
    classifier: Classifier,
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn sha256_tagged(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

/// Stable `sha256:<hex>` of a dataset: row and column counts, every feature's IEEE-754 bits,
/// every label, and the label names (all little-endian, lengths prefixed).
pub fn dataset_hash(data: &Dataset) -> String {
    let mut h = Sha256::new();
    h.update(b"tympan-ml dataset v1");
    h.update((data.len() as u64).to_le_bytes());
    h.update((data.n_features() as u64).to_le_bytes());
    for row in &data.features {
        for v in row {
            h.update(v.to_bits().to_le_bytes());
        }
    }
    for &l in &data.labels {
        h.update((l as u64).to_le_bytes());
    }
    h.update((data.label_names.len() as u64).to_le_bytes());
    for n in &data.label_names {
        h.update((n.len() as u64).to_le_bytes());
        h.update(n.as_bytes());
    }
    format!("sha256:{}", hex(&h.finalize()))
}

impl Model {
    /// Trains on all rows of `data` with `opts`. The standardiser (if any) and oversampling see
    /// only these rows. Metrics in the card start empty.
    pub fn train(
        data: &Dataset,
        opts: &TrainOptions,
        feature_description: &str,
    ) -> Result<Model, MlError> {
        data.validate()?;
        let train = if opts.oversample {
            random_oversample(data, opts.seed)?
        } else {
            data.clone()
        };
        let standardizer = if opts.standardize {
            Some(Standardizer::fit(&train.features)?)
        } else {
            None
        };
        let x = match &standardizer {
            Some(s) => s.transform(&train.features)?,
            None => train.features.clone(),
        };
        let classifier = opts.classifier.fit(&x, &train.labels, data.n_classes())?;
        let card = ModelCard {
            format: MODEL_FORMAT.into(),
            format_version: MODEL_FORMAT_VERSION,
            classifier: opts.classifier.clone(),
            label_names: data.label_names.clone(),
            n_features: data.n_features(),
            feature_description: feature_description.into(),
            standardizer,
            oversampled: opts.oversample,
            training_rows: data.len(),
            training_data_hash: dataset_hash(data),
            metrics: BTreeMap::new(),
            created_by: format!("tympan-ml {}", env!("CARGO_PKG_VERSION")),
            weights_format: opts.classifier.weights_format(),
            weights_sha256: String::new(),
            left_out_labels: Vec::new(),
        };
        Ok(Model { card, classifier })
    }

    /// The trained classifier (works on standardised rows).
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }

    fn prepare(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, MlError> {
        match &self.card.standardizer {
            Some(s) => s.transform(rows),
            None => Ok(rows.to_vec()),
        }
    }

    /// Class index per raw (unstandardised) row.
    pub fn predict(&self, rows: &[Vec<f64>]) -> Result<Vec<usize>, MlError> {
        self.classifier.predict(&self.prepare(rows)?)
    }

    /// Class name per raw row.
    pub fn predict_labels(&self, rows: &[Vec<f64>]) -> Result<Vec<String>, MlError> {
        Ok(self
            .predict(rows)?
            .into_iter()
            .map(|c| self.card.label_names[c].clone())
            .collect())
    }

    /// Per-class scores per raw row (see [`Classifier::scores`]).
    pub fn scores(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, MlError> {
        self.classifier.scores(&self.prepare(rows)?)
    }

    /// Class probabilities per raw row (error for SVM).
    pub fn predict_proba(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, MlError> {
        self.classifier.predict_proba(&self.prepare(rows)?)
    }

    /// Metrics of this model on `data` (ROC-AUC on the class-1 score for two classes).
    pub fn evaluate(&self, data: &Dataset) -> Result<Metrics, MlError> {
        data.validate()?;
        if data.label_names != self.card.label_names {
            return Err(MlError::InvalidParameter {
                name: "label_names",
                reason: format!(
                    "dataset has {:?}, model has {:?}",
                    data.label_names, self.card.label_names
                ),
            });
        }
        let scores = self.scores(&data.features)?;
        let pred = self.classifier.predict(&self.prepare(&data.features)?)?;
        let pos: Vec<f64> = scores.iter().map(|s| s[1]).collect();
        Metrics::compute(
            &data.labels,
            &pred,
            &data.label_names,
            (data.n_classes() == 2).then_some(&pos[..]),
        )
    }

    /// Serialises card + weights as one JSON document (see the module docs).
    pub fn save_to_bytes(&self) -> Result<Vec<u8>, MlError> {
        let weights = canonical_weights(self.classifier.weights())?;
        let mut card = self.card.clone();
        card.weights_sha256 = sha256_tagged(&weights);
        let card = serde_json::to_vec_pretty(&card)
            .map_err(|e| MlError::model_file("card", format!("cannot serialise: {e}")))?;
        let mut out = Vec::with_capacity(card.len() + weights.len() + 32);
        out.extend_from_slice(b"{\"card\":");
        out.extend_from_slice(&card);
        out.extend_from_slice(b",\n\"weights\":");
        out.extend_from_slice(&weights);
        out.extend_from_slice(b"}\n");
        Ok(out)
    }

    /// Reads a model written by [`Model::save_to_bytes`]. Any missing, mistyped, inconsistent or
    /// corrupted part gives [`MlError::ModelFile`] naming the field.
    pub fn load_from_bytes(bytes: &[u8]) -> Result<Model, MlError> {
        if bytes.len() > MAX_MODEL_BYTES {
            return Err(MlError::model_file(
                "(file)",
                format!(
                    "{} bytes exceeds the limit of {MAX_MODEL_BYTES}",
                    bytes.len()
                ),
            ));
        }
        let root: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| MlError::model_file("(file)", format!("not valid JSON: {e}")))?;
        let obj = root
            .as_object()
            .ok_or_else(|| MlError::model_file("(file)", "top level is not a JSON object"))?;
        let card_v = obj
            .get("card")
            .and_then(|c| c.as_object())
            .ok_or_else(|| MlError::model_file("card", "missing or not an object"))?;

        let format: String = field(card_v, "format")?;
        if format != MODEL_FORMAT {
            return Err(MlError::model_file(
                "card.format",
                format!("is {format:?}, expected {MODEL_FORMAT:?}"),
            ));
        }
        let format_version: u32 = field(card_v, "format_version")?;
        if format_version == 0 || format_version > MODEL_FORMAT_VERSION {
            return Err(MlError::model_file(
                "card.format_version",
                format!("version {format_version} is not supported (this build reads 1..={MODEL_FORMAT_VERSION})"),
            ));
        }
        let card = ModelCard {
            format,
            format_version,
            classifier: field(card_v, "classifier")?,
            label_names: field(card_v, "label_names")?,
            n_features: field(card_v, "n_features")?,
            feature_description: field(card_v, "feature_description")?,
            standardizer: field(card_v, "standardizer")?,
            oversampled: field(card_v, "oversampled")?,
            training_rows: field(card_v, "training_rows")?,
            training_data_hash: field(card_v, "training_data_hash")?,
            metrics: field(card_v, "metrics")?,
            created_by: field(card_v, "created_by")?,
            weights_format: field(card_v, "weights_format")?,
            weights_sha256: field(card_v, "weights_sha256")?,
            left_out_labels: match card_v.get("left_out_labels") {
                None => Vec::new(),
                Some(_) => field(card_v, "left_out_labels")?,
            },
        };
        if card.label_names.len() < 2 {
            return Err(MlError::model_file(
                "card.label_names",
                format!("has {} names, need at least 2", card.label_names.len()),
            ));
        }
        card.classifier
            .validate()
            .map_err(|e| MlError::model_file("card.classifier", e.to_string()))?;
        if let Some(s) = &card.standardizer {
            s.validate()
                .map_err(|r| MlError::model_file("card.standardizer", r))?;
            if s.n_features() != card.n_features {
                return Err(MlError::model_file(
                    "card.standardizer",
                    format!(
                        "has {} features but card.n_features is {}",
                        s.n_features(),
                        card.n_features
                    ),
                ));
            }
        }
        let weights_v = obj
            .get("weights")
            .ok_or_else(|| MlError::model_file("weights", "missing"))?;
        let weights: Weights = serde_json::from_value(weights_v.clone())
            .map_err(|e| MlError::model_file("weights", e.to_string()))?;
        let actual = sha256_tagged(&canonical_weights(&weights)?);
        if actual != card.weights_sha256 {
            return Err(MlError::model_file(
                "card.weights_sha256",
                format!(
                    "is {} but the weights hash to {actual} (file corrupted or edited)",
                    card.weights_sha256
                ),
            ));
        }
        let classifier = Classifier::from_parts(
            card.classifier.clone(),
            card.n_features,
            card.label_names.len(),
            weights,
        )
        .map_err(|(f, r)| MlError::model_file(format!("weights.{f}"), r))?;
        Ok(Model { card, classifier })
    }
}

/// Canonical weights JSON: compact, object keys sorted (explicitly, so it does not depend on
/// serde_json's `preserve_order` feature), floats in serde_json's shortest round-trip form.
/// The checksum is taken over it.
fn canonical_weights(w: &Weights) -> Result<Vec<u8>, MlError> {
    let v = serde_json::to_value(w)
        .map_err(|e| MlError::model_file("weights", format!("cannot serialise: {e}")))?;
    let mut out = Vec::new();
    write_canonical(&v, &mut out)
        .map_err(|e| MlError::model_file("weights", format!("cannot serialise: {e}")))?;
    Ok(out)
}

fn write_canonical(v: &serde_json::Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    use serde_json::Value;
    match v {
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                serde_json::to_writer(&mut *out, k)?;
                out.push(b':');
                write_canonical(&map[k], out)?;
            }
            out.push(b'}');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

fn field<T: DeserializeOwned>(
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
) -> Result<T, MlError> {
    let v = obj
        .get(key)
        .ok_or_else(|| MlError::model_file(format!("card.{key}"), "missing"))?;
    serde_json::from_value(v.clone())
        .map_err(|e| MlError::model_file(format!("card.{key}"), e.to_string()))
}
