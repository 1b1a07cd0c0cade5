//! Logistic regression (L-BFGS, L2 penalty).

use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::arrays::Array;
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};

use super::{
    bad_param, check_classes, finite_all, fit_failed, softmax_into, ClassifierConfig, Kind,
    ScoreKind, TrainingRows,
};
use crate::error::MlError;

/// Hyperparameters of [`ClassifierConfig::LogisticRegression`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogisticRegressionParams {
    /// L2 penalty (default 1.0).
    pub alpha: f64,
}

impl ClassifierConfig {
    /// Logistic regression with alpha 1.
    pub fn logistic_regression() -> Self {
        Self::LogisticRegression(LogisticRegressionParams { alpha: 1.0 })
    }
}

/// Coefficients and intercepts.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct LrWeights {
    classes: Vec<usize>,
    /// One row for two classes (weights of the second class), else one row per class.
    coef: Vec<Vec<f64>>,
    intercept: Vec<f64>,
}

impl Kind for LogisticRegressionParams {
    type Weights = LrWeights;
    const SCORE_KIND: ScoreKind = ScoreKind::Probability;

    fn validate(&self) -> Result<(), MlError> {
        let a = self.alpha;
        if !(a.is_finite() && a >= 0.0) {
            return bad_param("alpha", "must be finite and >= 0");
        }
        Ok(())
    }

    fn fit(&self, rows: &TrainingRows) -> Result<LrWeights, MlError> {
        let params = LogisticRegressionParameters::default().with_alpha(self.alpha);
        let lr = LogisticRegression::fit(&rows.xm, &rows.yu, params)
            .map_err(|e| fit_failed("logistic_regression", e))?;
        let (n_rows, cols) = lr.coefficients().shape();
        let coef = (0..n_rows)
            .map(|r| (0..cols).map(|c| *lr.coefficients().get((r, c))).collect())
            .collect();
        let intercept = (0..n_rows).map(|r| *lr.intercept().get((r, 0))).collect();
        Ok(LrWeights {
            classes: lr.classes().iter().map(|&c| c as usize).collect(),
            coef,
            intercept,
        })
    }

    fn check(w: &LrWeights, d: usize, k: usize) -> Result<(), (String, String)> {
        let err = |f: &str, r: String| Err((f.to_string(), r));
        check_classes(&w.classes, k)?;
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
        Ok(())
    }

    fn scores(
        w: &LrWeights,
        x: &[Vec<f64>],
        _k: usize,
        out: &mut [Vec<f64>],
    ) -> Result<(), MlError> {
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
        Ok(())
    }
}
