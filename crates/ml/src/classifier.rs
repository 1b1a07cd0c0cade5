//! Classifiers behind one type. Fitting is done by `smartcore` 0.7; the fitted parameters are
//! then kept in small structs of our own (naive Bayes, logistic regression, SVM) or as
//! smartcore's own serde form of its decision trees (random forest), so that probabilities /
//! decision values can be computed and the weights serialised without smartcore's borrowed
//! parameters.

use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};
use smartcore::naive_bayes::gaussian::{GaussianNB, GaussianNBParameters};
use smartcore::svm::svc::{SVCParameters, SVC};
use smartcore::svm::Kernels;
use smartcore::tree::decision_tree_classifier::DecisionTreeClassifier;

use crate::dataset::{check_matrix, MAX_CLASSES};
use crate::error::MlError;

type Tree = DecisionTreeClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>>;

/// Largest number of trees accepted for a random forest.
pub const MAX_TREES: u16 = 2_000;

/// Which classifier to train, with its hyperparameters. Serialised with a `kind` tag:
/// `gaussian_nb`, `logistic_regression`, `random_forest`, `svm_rbf`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClassifierConfig {
    /// Gaussian naive Bayes. `var_smoothing` × (largest feature variance) is added to every
    /// per-class variance so constant features do not give infinite likelihoods.
    GaussianNb {
        /// Relative variance floor (default 1e-9).
        var_smoothing: f64,
    },
    /// Logistic regression (L-BFGS), L2 penalty `alpha/2·|w|²` on the summed log-loss
    /// (alpha = 1/C of scikit-learn).
    LogisticRegression {
        /// L2 penalty (default 1.0).
        alpha: f64,
    },
    /// Random forest of Gini trees with bootstrap samples and √d features per split.
    RandomForest {
        /// Number of trees (default 100, at most [`MAX_TREES`]).
        n_trees: u16,
        /// Maximum tree depth (None = unlimited).
        max_depth: Option<u16>,
        /// Minimum rows in a leaf (default 1).
        min_samples_leaf: usize,
        /// Seed for bootstraps and feature sampling.
        seed: u64,
    },
    /// Support vector machine with RBF kernel `exp(-gamma·|x-y|²)`, one-vs-one for more than two
    /// classes.
    SvmRbf {
        /// Soft-margin penalty C (default 1.0).
        c: f64,
        /// Kernel width; None = 1 / n_features (scikit-learn's "scale" for standardised data).
        gamma: Option<f64>,
        /// Passes of the LaSVM-style solver over the data (default 2).
        epochs: usize,
        /// Solver tolerance (default 1e-3).
        tol: f64,
        /// Seed for the solver's shuffles.
        seed: u64,
    },
}

impl ClassifierConfig {
    /// Gaussian naive Bayes with default smoothing.
    pub fn gaussian_nb() -> Self {
        Self::GaussianNb {
            var_smoothing: 1e-9,
        }
    }

    /// Logistic regression with alpha 1.
    pub fn logistic_regression() -> Self {
        Self::LogisticRegression { alpha: 1.0 }
    }

    /// Random forest, 100 trees, unlimited depth.
    pub fn random_forest(seed: u64) -> Self {
        Self::RandomForest {
            n_trees: 100,
            max_depth: None,
            min_samples_leaf: 1,
            seed,
        }
    }

    /// RBF SVM with C = 1, gamma = 1/n_features.
    pub fn svm_rbf(seed: u64) -> Self {
        Self::SvmRbf {
            c: 1.0,
            gamma: None,
            epochs: 2,
            tol: 1e-3,
            seed,
        }
    }

    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::GaussianNb { .. } => "gaussian_nb",
            Self::LogisticRegression { .. } => "logistic_regression",
            Self::RandomForest { .. } => "random_forest",
            Self::SvmRbf { .. } => "svm_rbf",
        }
    }

    /// What [`Classifier::scores`] returns for this kind.
    pub fn score_kind(&self) -> ScoreKind {
        match self {
            Self::SvmRbf { .. } => ScoreKind::DecisionValue,
            _ => ScoreKind::Probability,
        }
    }

    /// Checks the hyperparameters.
    pub fn validate(&self) -> Result<(), MlError> {
        let bad = |name, reason: &str| {
            Err(MlError::InvalidParameter {
                name,
                reason: reason.to_string(),
            })
        };
        match *self {
            Self::GaussianNb { var_smoothing } => {
                if !(var_smoothing.is_finite() && var_smoothing >= 0.0) {
                    return bad("var_smoothing", "must be finite and >= 0");
                }
            }
            Self::LogisticRegression { alpha } => {
                if !(alpha.is_finite() && alpha >= 0.0) {
                    return bad("alpha", "must be finite and >= 0");
                }
            }
            Self::RandomForest {
                n_trees,
                max_depth,
                min_samples_leaf,
                ..
            } => {
                if n_trees == 0 || n_trees > MAX_TREES {
                    return bad("n_trees", "must be in 1..=2000");
                }
                if max_depth == Some(0) {
                    return bad("max_depth", "must be >= 1");
                }
                if min_samples_leaf == 0 {
                    return bad("min_samples_leaf", "must be >= 1");
                }
            }
            Self::SvmRbf {
                c,
                gamma,
                epochs,
                tol,
                ..
            } => {
                if !(c.is_finite() && c > 0.0) {
                    return bad("c", "must be finite and > 0");
                }
                if let Some(g) = gamma {
                    if !(g.is_finite() && g > 0.0) {
                        return bad("gamma", "must be finite and > 0");
                    }
                }
                if epochs == 0 || epochs > 1000 {
                    return bad("epochs", "must be in 1..=1000");
                }
                if !(tol.is_finite() && tol > 0.0) {
                    return bad("tol", "must be finite and > 0");
                }
            }
        }
        Ok(())
    }

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
        let fail = |e: smartcore::error::Failed| MlError::Fit {
            kind,
            message: e.to_string(),
        };
        let xm = DenseMatrix::from_2d_vec(&x.to_vec()).map_err(fail)?;
        let yu: Vec<u32> = y.iter().map(|&l| l as u32).collect();
        let weights = match *self {
            Self::GaussianNb { var_smoothing } => {
                let nb =
                    GaussianNB::fit(&xm, &yu, GaussianNBParameters::default()).map_err(fail)?;
                let max_var = nb.var().iter().flatten().fold(0.0f64, |m, &v| {
                    if v.is_finite() {
                        m.max(v)
                    } else {
                        m
                    }
                });
                let eps = var_smoothing * max_var.max(f64::MIN_POSITIVE);
                Weights::GaussianNb(NbWeights {
                    classes: nb.classes().iter().map(|&c| c as usize).collect(),
                    priors: nb.class_priors().clone(),
                    mean: nb.theta().clone(),
                    var: nb
                        .var()
                        .iter()
                        .map(|r| r.iter().map(|&v| v.max(0.0) + eps).collect())
                        .collect(),
                })
            }
            Self::LogisticRegression { alpha } => {
                let params = LogisticRegressionParameters::default().with_alpha(alpha);
                let lr = LogisticRegression::fit(&xm, &yu, params).map_err(fail)?;
                let (rows, cols) = lr.coefficients().shape();
                let coef = (0..rows)
                    .map(|r| (0..cols).map(|c| *lr.coefficients().get((r, c))).collect())
                    .collect();
                let intercept = (0..rows).map(|r| *lr.intercept().get((r, 0))).collect();
                Weights::LogisticRegression(LrWeights {
                    classes: lr.classes().iter().map(|&c| c as usize).collect(),
                    coef,
                    intercept,
                })
            }
            Self::RandomForest {
                n_trees,
                max_depth,
                min_samples_leaf,
                seed,
            } => {
                let mut params = RandomForestClassifierParameters::default()
                    .with_n_trees(n_trees)
                    .with_min_samples_leaf(min_samples_leaf)
                    .with_seed(seed);
                if let Some(d) = max_depth {
                    params = params.with_max_depth(d);
                }
                let rf: RandomForestClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>> =
                    RandomForestClassifier::fit(&xm, &yu, params).map_err(fail)?;
                // smartcore keeps the trees private; its serde form exposes them.
                let mut v = serde_json::to_value(&rf).map_err(|e| MlError::Fit {
                    kind,
                    message: format!("serialising the forest: {e}"),
                })?;
                let trees_v = v
                    .get_mut("trees")
                    .map(serde_json::Value::take)
                    .unwrap_or_default();
                let trees: Vec<Tree> =
                    serde_json::from_value(trees_v).map_err(|e| MlError::Fit {
                        kind,
                        message: format!("reading the forest's trees: {e}"),
                    })?;
                Weights::RandomForest(RfWeights {
                    classes: present.clone(),
                    trees,
                })
            }
            Self::SvmRbf {
                c,
                gamma,
                epochs,
                tol,
                seed,
            } => {
                let gamma = gamma.unwrap_or(1.0 / n_features as f64);
                let mut machines = Vec::new();
                for (i, &a) in present.iter().enumerate() {
                    for &b in &present[i + 1..] {
                        machines.push(fit_binary_svm(x, y, a, b, c, gamma, epochs, tol, seed)?);
                    }
                }
                Weights::SvmRbf(SvmWeights { gamma, machines })
            }
        };
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

#[allow(clippy::too_many_arguments)]
fn fit_binary_svm(
    x: &[Vec<f64>],
    y: &[usize],
    a: usize,
    b: usize,
    c: f64,
    gamma: f64,
    epochs: usize,
    tol: f64,
    seed: u64,
) -> Result<BinarySvm, MlError> {
    let kind = "svm_rbf";
    let fail = |e: smartcore::error::Failed| MlError::Fit {
        kind,
        message: e.to_string(),
    };
    let idx: Vec<usize> = (0..y.len()).filter(|&i| y[i] == a || y[i] == b).collect();
    // smartcore 0.7's SMO copies only the first `n_rows` values of each row (`take(n)` with n
    // the number of rows), so with fewer rows than features the support vectors come back
    // cut short. Repeating every row `rep` times avoids that; dividing C by `rep` keeps the
    // optimum (the hinge terms of a repeated row add up to `rep` times one row's).
    let n_features = x.first().map_or(0, |r| r.len());
    let rep = n_features.div_ceil(idx.len().max(1)).max(1);
    let c = c / rep as f64;
    let idx: Vec<usize> = idx
        .iter()
        .flat_map(|&i| std::iter::repeat_n(i, rep))
        .collect();
    let rows: Vec<Vec<f64>> = idx.iter().map(|&i| x[i].clone()).collect();
    // -1 for class a, +1 for class b.
    let labels: Vec<i32> = idx
        .iter()
        .map(|&i| if y[i] == a { -1 } else { 1 })
        .collect();
    let xm = DenseMatrix::from_2d_vec(&rows).map_err(fail)?;
    let params: SVCParameters<f64, i32, DenseMatrix<f64>, Vec<i32>> = SVCParameters::default()
        .with_c(c)
        .with_epoch(epochs)
        .with_tol(tol)
        .with_kernel(Kernels::rbf().with_gamma(gamma))
        .with_seed(Some(seed));
    let svc = SVC::fit(&xm, &labels, &params).map_err(fail)?;
    // smartcore's SVC does not serialise its kernel and keeps its fields private; read the
    // support vectors, their weights and the bias from its serde form.
    let v = serde_json::to_value(&svc).map_err(|e| MlError::Fit {
        kind,
        message: format!("serialising the SVC: {e}"),
    })?;
    #[derive(Deserialize)]
    struct Raw {
        classes: Option<(i32, i32)>,
        instances: Option<Vec<Vec<f64>>>,
        w: Option<Vec<f64>>,
        b: Option<f64>,
    }
    let raw: Raw = serde_json::from_value(v).map_err(|e| MlError::Fit {
        kind,
        message: format!("reading the SVC: {e}"),
    })?;
    if raw.classes != Some((-1, 1)) {
        return Err(MlError::Fit {
            kind,
            message: format!("unexpected SVC classes {:?}", raw.classes),
        });
    }
    Ok(BinarySvm {
        classes: (a, b),
        support_vectors: raw.instances.unwrap_or_default(),
        coef: raw.w.unwrap_or_default(),
        bias: raw.b.unwrap_or(0.0),
    })
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

/// Fitted parameters, serialised in model files under `weights` (tagged by `kind`).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub(crate) enum Weights {
    GaussianNb(NbWeights),
    LogisticRegression(LrWeights),
    /// smartcore's serde form of each decision tree.
    RandomForest(RfWeights),
    SvmRbf(SvmWeights),
}

impl Weights {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::GaussianNb(_) => "gaussian_nb",
            Self::LogisticRegression(_) => "logistic_regression",
            Self::RandomForest(_) => "random_forest",
            Self::SvmRbf(_) => "svm_rbf",
        }
    }
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct NbWeights {
    classes: Vec<usize>,
    priors: Vec<f64>,
    mean: Vec<Vec<f64>>,
    var: Vec<Vec<f64>>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct LrWeights {
    classes: Vec<usize>,
    /// One row for two classes (weights of the second class), else one row per class.
    coef: Vec<Vec<f64>>,
    intercept: Vec<f64>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RfWeights {
    classes: Vec<usize>,
    trees: Vec<Tree>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SvmWeights {
    gamma: f64,
    machines: Vec<BinarySvm>,
}

/// One binary machine: decision `f(x) = bias + Σ coef_i·exp(-gamma·|x - sv_i|²)`, class
/// `classes.1` when `f > 0`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct BinarySvm {
    classes: (usize, usize),
    support_vectors: Vec<Vec<f64>>,
    coef: Vec<f64>,
    bias: f64,
}

fn finite_all<'a>(v: impl IntoIterator<Item = &'a f64>) -> bool {
    v.into_iter().all(|x| x.is_finite())
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
        let err = |f: &str, r: String| Err((f.to_string(), r));
        if self.weights.kind() != self.config.kind() {
            return err(
                "kind",
                format!(
                    "weights are for {} but the card says {}",
                    self.weights.kind(),
                    self.config.kind()
                ),
            );
        }
        if d == 0 || k < 2 {
            return err("n_features", format!("{d} features, {k} classes"));
        }
        let check_classes = |classes: &[usize]| -> Result<(), (String, String)> {
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
        };
        match &self.weights {
            Weights::GaussianNb(w) => {
                check_classes(&w.classes)?;
                let n = w.classes.len();
                if w.priors.len() != n || w.mean.len() != n || w.var.len() != n {
                    return err("priors", format!("priors/mean/var must have {n} rows"));
                }
                if !w.priors.iter().all(|p| p.is_finite() && *p > 0.0) {
                    return err("priors", "must be positive and finite".into());
                }
                for (i, (m, v)) in w.mean.iter().zip(&w.var).enumerate() {
                    if m.len() != d || v.len() != d {
                        return err(&format!("mean[{i}]"), format!("rows must have {d} values"));
                    }
                    if !finite_all(m) || !v.iter().all(|x| x.is_finite() && *x > 0.0) {
                        return err(&format!("var[{i}]"), "non-finite or non-positive".into());
                    }
                }
            }
            Weights::LogisticRegression(w) => {
                check_classes(&w.classes)?;
                let rows = if w.classes.len() == 2 {
                    1
                } else {
                    w.classes.len()
                };
                if w.coef.len() != rows || w.intercept.len() != rows {
                    return err("coef", format!("must have {rows} rows"));
                }
                for (i, r) in w.coef.iter().enumerate() {
                    if r.len() != d || !finite_all(r) {
                        return err(&format!("coef[{i}]"), format!("needs {d} finite values"));
                    }
                }
                if !finite_all(&w.intercept) {
                    return err("intercept", "not finite".into());
                }
            }
            Weights::RandomForest(w) => {
                check_classes(&w.classes)?;
                if w.trees.is_empty() {
                    return err("trees", "no trees".into());
                }
                // Trees are opaque smartcore structs: check their serde form so that a
                // corrupted file cannot make prediction index out of bounds or loop.
                for (t, tree) in w.trees.iter().enumerate() {
                    let v = serde_json::to_value(tree)
                        .map_err(|e| (format!("trees[{t}]"), e.to_string()))?;
                    check_tree_json(&v, d, &w.classes)
                        .map_err(|(f, r)| (format!("trees[{t}].{f}"), r))?;
                }
            }
            Weights::SvmRbf(w) => {
                if !(w.gamma.is_finite() && w.gamma > 0.0) {
                    return err("gamma", "must be positive and finite".into());
                }
                if w.machines.is_empty() {
                    return err("machines", "no machines".into());
                }
                for (i, m) in w.machines.iter().enumerate() {
                    let f = format!("machines[{i}]");
                    if m.classes.0 >= m.classes.1 || m.classes.1 >= k {
                        return err(&f, format!("bad class pair {:?}", m.classes));
                    }
                    if m.coef.len() != m.support_vectors.len() {
                        return err(&f, "coef and support_vectors differ in length".into());
                    }
                    if !m.bias.is_finite() || !finite_all(&m.coef) {
                        return err(&f, "non-finite coefficient".into());
                    }
                    if m.support_vectors
                        .iter()
                        .any(|s| s.len() != d || !finite_all(s))
                    {
                        return err(&f, format!("support vectors need {d} finite values"));
                    }
                }
            }
        }
        Ok(())
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
        match &self.weights {
            Weights::GaussianNb(w) => {
                let half_ln_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
                for (row, o) in x.iter().zip(out.iter_mut()) {
                    let logp: Vec<f64> = (0..w.classes.len())
                        .map(|c| {
                            w.priors[c].ln()
                                + row
                                    .iter()
                                    .zip(&w.mean[c])
                                    .zip(&w.var[c])
                                    .map(|((v, m), s)| {
                                        -(v - m) * (v - m) / (2.0 * s) - half_ln_2pi - 0.5 * s.ln()
                                    })
                                    .sum::<f64>()
                        })
                        .collect();
                    softmax_into(&logp, &w.classes, o);
                }
            }
            Weights::LogisticRegression(w) => {
                for (row, o) in x.iter().zip(out.iter_mut()) {
                    let z: Vec<f64> = w
                        .coef
                        .iter()
                        .zip(&w.intercept)
                        .map(|(c, b)| b + c.iter().zip(row).map(|(a, v)| a * v).sum::<f64>())
                        .collect();
                    if w.classes.len() == 2 {
                        let p1 = 1.0 / (1.0 + (-z[0]).exp());
                        o[w.classes[0]] = 1.0 - p1;
                        o[w.classes[1]] = p1;
                    } else {
                        softmax_into(&z, &w.classes, o);
                    }
                }
            }
            Weights::RandomForest(w) => {
                let xm = DenseMatrix::from_2d_vec(&x.to_vec()).map_err(|e| MlError::Fit {
                    kind: "random_forest",
                    message: e.to_string(),
                })?;
                for tree in &w.trees {
                    let pred = tree.predict(&xm).map_err(|e| MlError::Fit {
                        kind: "random_forest",
                        message: e.to_string(),
                    })?;
                    for (o, &p) in out.iter_mut().zip(&pred) {
                        // Classes were checked to be < n_classes at fit/load time.
                        if let Some(slot) = o.get_mut(p as usize) {
                            *slot += 1.0;
                        }
                    }
                }
                // Integer vote counts divided once, so rows sum to 1 within rounding.
                let n_trees = w.trees.len() as f64;
                out.iter_mut().flatten().for_each(|v| *v /= n_trees);
            }
            Weights::SvmRbf(w) => {
                for (row, o) in x.iter().zip(out.iter_mut()) {
                    if w.machines.len() == 1 {
                        let m = &w.machines[0];
                        let f = decision(m, w.gamma, row);
                        o[m.classes.0] = -f;
                        o[m.classes.1] = f;
                        continue;
                    }
                    let mut votes = vec![0.0; k];
                    let mut conf = vec![0.0; k];
                    for m in &w.machines {
                        let f = decision(m, w.gamma, row);
                        if f > 0.0 {
                            votes[m.classes.1] += 1.0;
                        } else {
                            votes[m.classes.0] += 1.0;
                        }
                        conf[m.classes.1] += f;
                        conf[m.classes.0] -= f;
                    }
                    for c in 0..k {
                        o[c] = votes[c] + conf[c] / (3.0 * (conf[c].abs() + 1.0));
                    }
                }
            }
        }
        Ok(out)
    }
}

fn decision(m: &BinarySvm, gamma: f64, x: &[f64]) -> f64 {
    m.bias
        + m.support_vectors
            .iter()
            .zip(&m.coef)
            .map(|(sv, a)| {
                let d2: f64 = sv.iter().zip(x).map(|(p, q)| (p - q) * (p - q)).sum();
                a * (-gamma * d2).exp()
            })
            .sum::<f64>()
}

/// Softmax of `logits` (one per entry of `classes`) written into `out[classes[i]]`.
fn softmax_into(logits: &[f64], classes: &[usize], out: &mut [f64]) {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = exps.iter().sum();
    for (e, &c) in exps.iter().zip(classes) {
        out[c] = e / sum;
    }
}

/// Validates the serde form of one smartcore decision tree.
fn check_tree_json(
    v: &serde_json::Value,
    n_features: usize,
    classes: &[usize],
) -> Result<(), (String, String)> {
    let bad = |f: String, r: &str| Err((f, r.to_string()));
    let tree_classes: Vec<usize> = v
        .get("classes")
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .ok_or_else(|| ("classes".to_string(), "missing or not integers".to_string()))?;
    if tree_classes.is_empty() || tree_classes.iter().any(|c| !classes.contains(c)) {
        return bad(
            "classes".into(),
            "not a non-empty subset of the forest's classes",
        );
    }
    let nodes = v
        .get("nodes")
        .and_then(|n| n.as_array())
        .ok_or_else(|| ("nodes".to_string(), "missing or not an array".to_string()))?;
    if nodes.is_empty() {
        return bad("nodes".into(), "empty");
    }
    let idx = |n: &serde_json::Value, key: &str| -> Option<Option<u64>> {
        match n.get(key) {
            None | Some(serde_json::Value::Null) => Some(None),
            Some(x) => x.as_u64().map(Some),
        }
    };
    for (i, n) in nodes.iter().enumerate() {
        let f = |k: &str| format!("nodes[{i}].{k}");
        let output = n.get("output").and_then(|o| o.as_u64());
        match output {
            Some(o) if (o as usize) < tree_classes.len() => {}
            _ => return bad(f("output"), "missing or not a valid class position"),
        }
        let (Some(t), Some(fc)) = (idx(n, "true_child"), idx(n, "false_child")) else {
            return bad(f("true_child"), "not an index");
        };
        match (t, fc) {
            (None, _) => {}
            (Some(t), Some(fc)) => {
                let ok = |c: u64| c as usize > i && (c as usize) < nodes.len();
                if !ok(t) || !ok(fc) {
                    return bad(
                        f("true_child"),
                        "child index must point forward inside nodes",
                    );
                }
                match n.get("split_feature").and_then(|s| s.as_u64()) {
                    Some(s) if (s as usize) < n_features => {}
                    _ => return bad(f("split_feature"), "missing or beyond the feature count"),
                }
            }
            (Some(_), None) => return bad(f("false_child"), "missing for a split node"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    fn overlapping_blobs() -> (Vec<Vec<f64>>, Vec<usize>) {
        let mut rng = SplitMix64::new(5);
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..120 {
            let c = i % 2;
            let off = c as f64 * 1.5;
            x.push(vec![off + rng.normal(), off + rng.normal(), rng.normal()]);
            y.push(c);
        }
        (x, y)
    }

    /// Fewer rows than features (smartcore 0.7 cuts such support vectors short): the SVM still
    /// fits whole support vectors and separates the classes.
    #[test]
    fn svm_with_more_features_than_rows() {
        let mut rng = SplitMix64::new(9);
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for i in 0..8 {
            let c = i % 2;
            let row: Vec<f64> = (0..30)
                .map(|j| if j < 5 { 3.0 * c as f64 } else { 0.0 } + 0.3 * rng.normal())
                .collect();
            x.push(row);
            y.push(c);
        }
        let clf = ClassifierConfig::svm_rbf(1).fit(&x, &y, 2).unwrap();
        assert_eq!(clf.predict(&x).unwrap(), y);
        let probe: Vec<Vec<f64>> = (0..2)
            .map(|c| {
                (0..30)
                    .map(|j| if j < 5 { 3.0 * c as f64 } else { 0.0 })
                    .collect()
            })
            .collect();
        assert_eq!(clf.predict(&probe).unwrap(), vec![0, 1]);
    }

    /// Our inference on the extracted weights agrees with smartcore's own `predict`.
    #[test]
    fn extracted_weights_match_smartcore_predictions() {
        let (x, y) = overlapping_blobs();
        let xm = DenseMatrix::from_2d_vec(&x).unwrap();
        let yu: Vec<u32> = y.iter().map(|&v| v as u32).collect();

        let ours = ClassifierConfig::LogisticRegression { alpha: 0.5 }
            .fit(&x, &y, 2)
            .unwrap()
            .predict(&x)
            .unwrap();
        let lr = LogisticRegression::fit(
            &xm,
            &yu,
            LogisticRegressionParameters::default().with_alpha(0.5),
        )
        .unwrap();
        let theirs: Vec<usize> = lr
            .predict(&xm)
            .unwrap()
            .iter()
            .map(|&v| v as usize)
            .collect();
        assert_eq!(ours, theirs);

        let cfg = ClassifierConfig::random_forest(9);
        let ours = cfg.fit(&x, &y, 2).unwrap().predict(&x).unwrap();
        let rf: RandomForestClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>> =
            RandomForestClassifier::fit(
                &xm,
                &yu,
                RandomForestClassifierParameters::default().with_seed(9),
            )
            .unwrap();
        let theirs: Vec<usize> = rf
            .predict(&xm)
            .unwrap()
            .iter()
            .map(|&v| v as usize)
            .collect();
        assert_eq!(ours, theirs);

        // Smoothing is 1e-9 of the largest variance: no visible effect on these rows.
        let ours = ClassifierConfig::gaussian_nb()
            .fit(&x, &y, 2)
            .unwrap()
            .predict(&x)
            .unwrap();
        let nb = GaussianNB::fit(&xm, &yu, GaussianNBParameters::default()).unwrap();
        let theirs: Vec<usize> = nb
            .predict(&xm)
            .unwrap()
            .iter()
            .map(|&v| v as usize)
            .collect();
        assert_eq!(ours, theirs);

        let ours = ClassifierConfig::svm_rbf(3).fit(&x, &y, 2).unwrap();
        let labels: Vec<i32> = y.iter().map(|&c| if c == 0 { -1 } else { 1 }).collect();
        let params: SVCParameters<f64, i32, DenseMatrix<f64>, Vec<i32>> = SVCParameters::default()
            .with_kernel(Kernels::rbf().with_gamma(1.0 / 3.0))
            .with_seed(Some(3));
        let svc = SVC::fit(&xm, &labels, &params).unwrap();
        let theirs = svc.decision_function(&xm).unwrap();
        let s = ours.scores(&x).unwrap();
        for (row, f) in s.iter().zip(&theirs) {
            assert!((row[1] - f).abs() < 1e-9, "{} vs {f}", row[1]);
        }
    }

    #[test]
    fn constant_feature_does_not_break_naive_bayes() {
        let (mut x, y) = overlapping_blobs();
        for r in &mut x {
            r[2] = 4.0;
        }
        let c = ClassifierConfig::gaussian_nb().fit(&x, &y, 2).unwrap();
        let p = c.predict_proba(&x).unwrap();
        assert!(p.iter().flatten().all(|v| v.is_finite()));
        let acc = c
            .predict(&x)
            .unwrap()
            .iter()
            .zip(&y)
            .filter(|(a, b)| a == b)
            .count() as f64
            / y.len() as f64;
        assert!(acc > 0.75, "{acc}");
    }
}
