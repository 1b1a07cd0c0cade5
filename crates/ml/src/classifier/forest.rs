//! Random forest of Gini decision trees (smartcore's trees, kept in their serde form).

use serde::{Deserialize, Serialize};
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_classifier::DecisionTreeClassifier;

use super::{bad_param, check_classes, ClassifierConfig, Kind, ScoreKind, TrainingRows};
use crate::error::MlError;

type Tree = DecisionTreeClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>>;

/// Largest number of trees accepted for a random forest.
pub const MAX_TREES: u16 = 2_000;

/// Hyperparameters of [`ClassifierConfig::RandomForest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomForestParams {
    /// Number of trees (default 100, at most [`MAX_TREES`]).
    pub n_trees: u16,
    /// Maximum tree depth (None = unlimited).
    pub max_depth: Option<u16>,
    /// Minimum rows in a leaf (default 1).
    pub min_samples_leaf: usize,
    /// Seed for bootstraps and feature sampling.
    pub seed: u64,
}

impl ClassifierConfig {
    /// Random forest, 100 trees, unlimited depth.
    pub fn random_forest(seed: u64) -> Self {
        Self::RandomForest(RandomForestParams {
            n_trees: 100,
            max_depth: None,
            min_samples_leaf: 1,
            seed,
        })
    }
}

/// The trees, and the classes present when fitting.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct RfWeights {
    classes: Vec<usize>,
    trees: Vec<Tree>,
}

const KIND: &str = "random_forest";

impl Kind for RandomForestParams {
    type Weights = RfWeights;
    const SCORE_KIND: ScoreKind = ScoreKind::Probability;

    fn validate(&self) -> Result<(), MlError> {
        if self.n_trees == 0 || self.n_trees > MAX_TREES {
            return bad_param("n_trees", "must be in 1..=2000");
        }
        if self.max_depth == Some(0) {
            return bad_param("max_depth", "must be >= 1");
        }
        if self.min_samples_leaf == 0 {
            return bad_param("min_samples_leaf", "must be >= 1");
        }
        Ok(())
    }

    fn fit(&self, rows: &TrainingRows) -> Result<RfWeights, MlError> {
        let mut params = RandomForestClassifierParameters::default()
            .with_n_trees(self.n_trees)
            .with_min_samples_leaf(self.min_samples_leaf)
            .with_seed(self.seed);
        if let Some(d) = self.max_depth {
            params = params.with_max_depth(d);
        }
        let rf: RandomForestClassifier<f64, u32, DenseMatrix<f64>, Vec<u32>> =
            RandomForestClassifier::fit(&rows.xm, &rows.yu, params)
                .map_err(|e| super::fit_failed(KIND, e))?;
        // smartcore keeps the trees private; its serde form exposes them.
        let mut v = serde_json::to_value(&rf).map_err(|e| MlError::Fit {
            kind: KIND,
            message: format!("serialising the forest: {e}"),
        })?;
        let trees_v = v
            .get_mut("trees")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        let trees: Vec<Tree> = serde_json::from_value(trees_v).map_err(|e| MlError::Fit {
            kind: KIND,
            message: format!("reading the forest's trees: {e}"),
        })?;
        Ok(RfWeights {
            classes: rows.present.clone(),
            trees,
        })
    }

    fn check(w: &RfWeights, d: usize, k: usize) -> Result<(), (String, String)> {
        check_classes(&w.classes, k)?;
        if w.trees.is_empty() {
            return Err(("trees".into(), "no trees".into()));
        }
        // Trees are opaque smartcore structs: check their serde form so that a corrupted file
        // cannot make prediction index out of bounds or loop.
        for (t, tree) in w.trees.iter().enumerate() {
            let v =
                serde_json::to_value(tree).map_err(|e| (format!("trees[{t}]"), e.to_string()))?;
            check_tree_json(&v, d, &w.classes).map_err(|(f, r)| (format!("trees[{t}].{f}"), r))?;
        }
        Ok(())
    }

    fn scores(
        w: &RfWeights,
        x: &[Vec<f64>],
        _k: usize,
        out: &mut [Vec<f64>],
    ) -> Result<(), MlError> {
        let xm = DenseMatrix::from_2d_vec(&x.to_vec()).map_err(|e| MlError::Fit {
            kind: KIND,
            message: e.to_string(),
        })?;
        for tree in &w.trees {
            let pred = tree.predict(&xm).map_err(|e| MlError::Fit {
                kind: KIND,
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
        Ok(())
    }

    fn weights_format(_kind: &str) -> String {
        "tympan-ml weights v1: random forest trees as smartcore 0.7 serde JSON \
         (DecisionTreeClassifier)"
            .into()
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
