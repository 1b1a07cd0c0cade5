//! Classifiers behind one type. Fitting is done by `smartcore` 0.7; the fitted parameters are
//! then kept in small structs of our own (naive Bayes, logistic regression, SVM) or as
//! smartcore's own serde form of its decision trees (random forest), so that probabilities /
//! decision values can be computed and the weights serialised without smartcore's borrowed
//! parameters.
//!
//! One file per kind (`naive_bayes.rs`, `logistic.rs`, `forest.rs`, `svm.rs`) holds its
//! hyperparameters, its weights and its [`Kind`] implementation (validate, fit, check loaded
//! weights, score). **Adding a kind** is one new file like those plus one line in the
//! `kinds!` invocation below, which generates [`ClassifierConfig`], the weights enum of the
//! model files, and every dispatch.

mod forest;
mod logistic;
mod naive_bayes;
mod svm;

pub use forest::{RandomForestParams, MAX_TREES};
pub use logistic::LogisticRegressionParams;
pub use naive_bayes::GaussianNbParams;
pub use svm::SvmRbfParams;

use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;

use crate::dataset::{check_matrix, MAX_CLASSES};
use crate::error::MlError;

/// The training rows as every kind's `fit` sees them (checked: equal lengths, finite values,
/// labels below the class count, at least two classes present).
pub(crate) struct TrainingRows<'a> {
    /// Rows.
    pub x: &'a [Vec<f64>],
    /// Class index per row.
    pub y: &'a [usize],
    /// The rows as a smartcore matrix.
    pub xm: DenseMatrix<f64>,
    /// The labels as smartcore wants them.
    pub yu: Vec<u32>,
    /// The classes present in `y`, sorted.
    pub present: Vec<usize>,
    /// Features per row.
    pub n_features: usize,
}

/// One classifier kind: its hyperparameters (`Self`) and fitted weights.
pub(crate) trait Kind {
    /// Fitted parameters, serialised in model files.
    type Weights;
    /// What [`Classifier::scores`] returns for this kind.
    const SCORE_KIND: ScoreKind;
    /// Checks the hyperparameters.
    fn validate(&self) -> Result<(), MlError>;
    /// Fits on checked rows.
    fn fit(&self, rows: &TrainingRows) -> Result<Self::Weights, MlError>;
    /// Consistency of (loaded) weights for `n_features` and `n_classes`; the error is (field
    /// path under `weights`, reason).
    fn check(
        w: &Self::Weights,
        n_features: usize,
        n_classes: usize,
    ) -> Result<(), (String, String)>;
    /// Scores of the rows `x` (checked to have the model's width) into `out`, one row of
    /// `n_classes` zeros per row of `x`.
    fn scores(
        w: &Self::Weights,
        x: &[Vec<f64>],
        n_classes: usize,
        out: &mut [Vec<f64>],
    ) -> Result<(), MlError>;
    /// The card's `weights_format` text.
    fn weights_format(kind: &str) -> String {
        format!("tympan-ml weights v1: {kind} parameters fitted with smartcore 0.7")
    }
}

/// Generates [`ClassifierConfig`] (one variant per kind, serialised with its `kind` tag), the
/// model files' `Weights` (the same tags) and the dispatch to each kind's [`Kind`] impl.
macro_rules! kinds {
    ($($(#[$doc:meta])* $variant:ident($params:ty) = $tag:literal,)+) => {
        /// Which classifier to train, with its hyperparameters. Serialised with a `kind` tag
        /// next to the hyperparameters: `gaussian_nb`, `logistic_regression`,
        /// `random_forest`, `svm_rbf`.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum ClassifierConfig {
            $($(#[$doc])* #[serde(rename = $tag)] $variant($params),)+
        }

        /// Fitted parameters, serialised in model files under `weights` (tagged by `kind`).
        #[derive(Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub(crate) enum Weights {
            $(#[serde(rename = $tag)] $variant(<$params as Kind>::Weights),)+
        }

        impl Weights {
            pub(crate) fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $tag,)+
                }
            }
        }

        impl ClassifierConfig {
            /// The `kind` tag.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $tag,)+
                }
            }

            /// What [`Classifier::scores`] returns for this kind.
            pub fn score_kind(&self) -> ScoreKind {
                match self {
                    $(Self::$variant(_) => <$params as Kind>::SCORE_KIND,)+
                }
            }

            /// Checks the hyperparameters.
            pub fn validate(&self) -> Result<(), MlError> {
                match self {
                    $(Self::$variant(p) => p.validate(),)+
                }
            }

            /// The model card's description of the weights format.
            pub(crate) fn weights_format(&self) -> String {
                match self {
                    $(Self::$variant(_) => <$params as Kind>::weights_format($tag),)+
                }
            }

            fn fit_weights(&self, rows: &TrainingRows) -> Result<Weights, MlError> {
                Ok(match self {
                    $(Self::$variant(p) => Weights::$variant(p.fit(rows)?),)+
                })
            }
        }

        fn check_weights(w: &Weights, d: usize, k: usize) -> Result<(), (String, String)> {
            match w {
                $(Weights::$variant(w) => <$params as Kind>::check(w, d, k),)+
            }
        }

        fn scores_of(
            w: &Weights,
            x: &[Vec<f64>],
            k: usize,
            out: &mut [Vec<f64>],
        ) -> Result<(), MlError> {
            match w {
                $(Weights::$variant(w) => <$params as Kind>::scores(w, x, k, out),)+
            }
        }
    };
}

kinds! {
    /// Gaussian naive Bayes. `var_smoothing` × (largest feature variance) is added to every
    /// per-class variance so constant features do not give infinite likelihoods.
    GaussianNb(GaussianNbParams) = "gaussian_nb",
    /// Logistic regression (L-BFGS), L2 penalty `alpha/2·|w|²` on the summed log-loss
    /// (alpha = 1/C of scikit-learn).
    LogisticRegression(LogisticRegressionParams) = "logistic_regression",
    /// Random forest of Gini trees with bootstrap samples and √d features per split.
    RandomForest(RandomForestParams) = "random_forest",
    /// Support vector machine with RBF kernel `exp(-gamma·|x-y|²)`, one-vs-one for more than
    /// two classes.
    SvmRbf(SvmRbfParams) = "svm_rbf",
}

/// An [`MlError::InvalidParameter`].
pub(crate) fn bad_param(name: &'static str, reason: &str) -> Result<(), MlError> {
    Err(MlError::InvalidParameter {
        name,
        reason: reason.to_string(),
    })
}

impl ClassifierConfig {
    /// Trains on `x` (rows) with class indices `y` in `0..n_classes`. At least two distinct
    /// classes must be present in `y`. Deterministic given the config (seeds included).
    pub fn fit(
        &self,
        x: &[Vec<f64>],
        y: &[usize],
        n_classes: usize,
    ) -> Result<Classifier, MlError> {
        self.validate()?;
        if x.len() != y.len() {
            return Err(MlError::LengthMismatch {
                features: x.len(),
                labels: y.len(),
            });
        }
        if x.is_empty() {
            return Err(MlError::Empty);
        }
        check_matrix(x, None)?;
        if n_classes > MAX_CLASSES {
            return Err(MlError::TooLarge {
                what: "number of classes",
                value: n_classes,
                limit: MAX_CLASSES,
            });
        }
        if let Some((row, &label)) = y.iter().enumerate().find(|(_, &l)| l >= n_classes) {
            return Err(MlError::LabelOutOfRange {
                row,
                label,
                n_names: n_classes,
            });
        }
        let mut present: Vec<usize> = y.to_vec();
        present.sort_unstable();
        present.dedup();
        if present.len() < 2 {
            return Err(MlError::TooFewClasses {
                found: present.len(),
                context: "distinct labels in the training rows",
            });
        }
        let n_features = x[0].len();
        let kind = self.kind();
        let xm = DenseMatrix::from_2d_vec(&x.to_vec()).map_err(|e| fit_failed(kind, e))?;
        let rows = TrainingRows {
            x,
            y,
            xm,
            yu: y.iter().map(|&l| l as u32).collect(),
            present,
            n_features,
        };
        let weights = self.fit_weights(&rows)?;
        let clf = Classifier {
            config: self.clone(),
            n_features,
            n_classes,
            weights,
        };
        clf.check().map_err(|(field, reason)| MlError::Fit {
            kind,
            message: format!("fitted weights are inconsistent: {field}: {reason}"),
        })?;
        Ok(clf)
    }
}

/// [`MlError::Fit`] from a smartcore failure.
pub(crate) fn fit_failed(kind: &'static str, e: smartcore::error::Failed) -> MlError {
    MlError::Fit {
        kind,
        message: e.to_string(),
    }
}

/// What the numbers from [`Classifier::scores`] mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// Class probabilities (rows sum to 1).
    Probability,
    /// Decision values (higher = more likely; not calibrated).
    DecisionValue,
}

/// A trained classifier: config, dimensions and fitted weights. Classes are indices
/// `0..n_classes`; a class absent from the training rows gets score 0 (probabilities) or is
/// never predicted.
#[derive(Debug, PartialEq)]
pub struct Classifier {
    config: ClassifierConfig,
    n_features: usize,
    n_classes: usize,
    weights: Weights,
}

pub(crate) fn finite_all<'a>(v: impl IntoIterator<Item = &'a f64>) -> bool {
    v.into_iter().all(|x| x.is_finite())
}

/// Checks a kind's class list: at least two indices below `k`, strictly increasing.
pub(crate) fn check_classes(classes: &[usize], k: usize) -> Result<(), (String, String)> {
    if classes.len() < 2 || classes.iter().any(|&c| c >= k) {
        return Err((
            "classes".into(),
            format!("{classes:?} must be >= 2 indices below {k}"),
        ));
    }
    if classes.windows(2).any(|w| w[0] >= w[1]) {
        return Err(("classes".into(), "must be strictly increasing".into()));
    }
    Ok(())
}

/// Softmax of `logits` (one per entry of `classes`) written into `out[classes[i]]`.
pub(crate) fn softmax_into(logits: &[f64], classes: &[usize], out: &mut [f64]) {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    for (e, &c) in exps.iter().zip(classes) {
        out[c] = e / sum;
    }
}

impl Classifier {
    pub(crate) fn from_parts(
        config: ClassifierConfig,
        n_features: usize,
        n_classes: usize,
        weights: Weights,
    ) -> Result<Self, (String, String)> {
        let c = Self {
            config,
            n_features,
            n_classes,
            weights,
        };
        c.check()?;
        Ok(c)
    }

    pub(crate) fn weights(&self) -> &Weights {
        &self.weights
    }

    /// Consistency check of the weights; the error is (field path under `weights`, reason).
    pub(crate) fn check(&self) -> Result<(), (String, String)> {
        let d = self.n_features;
        let k = self.n_classes;
        if self.weights.kind() != self.config.kind() {
            return Err((
                "kind".into(),
                format!(
                    "weights are for {} but the card says {}",
                    self.weights.kind(),
                    self.config.kind()
                ),
            ));
        }
        if d == 0 || k < 2 {
            return Err(("n_features".into(), format!("{d} features, {k} classes")));
        }
        check_weights(&self.weights, d, k)
    }

    /// The config it was trained with.
    pub fn config(&self) -> &ClassifierConfig {
        &self.config
    }

    /// Features per input row.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Number of classes (indices `0..n_classes`).
    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// What [`Classifier::scores`] returns.
    pub fn score_kind(&self) -> ScoreKind {
        self.config.score_kind()
    }

    /// Predicted class index per row (the arg-max of [`Classifier::scores`], first on ties).
    pub fn predict(&self, x: &[Vec<f64>]) -> Result<Vec<usize>, MlError> {
        Ok(self
            .scores(x)?
            .iter()
            .map(|s| {
                let mut best = 0;
                for (i, v) in s.iter().enumerate() {
                    if *v > s[best] {
                        best = i;
                    }
                }
                best
            })
            .collect())
    }

    /// Class probabilities per row; an error for SVM (use [`Classifier::scores`]).
    pub fn predict_proba(&self, x: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, MlError> {
        if self.score_kind() != ScoreKind::Probability {
            return Err(MlError::NoProbabilities {
                kind: self.config.kind(),
            });
        }
        self.scores(x)
    }

    /// Per-row, per-class scores (`n_classes` columns). Naive Bayes and logistic regression:
    /// posterior probabilities; random forest: fraction of tree votes; SVM: for two classes
    /// `[-f, f]` with `f` the decision value, for more classes one-vs-one votes plus a bounded
    /// (< 1/3) confidence term.
    pub fn scores(&self, x: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, MlError> {
        check_matrix(x, Some(self.n_features))?;
        let k = self.n_classes;
        if x.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = vec![vec![0.0; k]; x.len()];
        scores_of(&self.weights, x, k, &mut out)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
