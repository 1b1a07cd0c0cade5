//! Gaussian naive Bayes.

use serde::{Deserialize, Serialize};
use smartcore::naive_bayes::gaussian::{GaussianNB, GaussianNBParameters};

use super::{
    bad_param, check_classes, finite_all, fit_failed, softmax_into, ClassifierConfig, Kind,
    ScoreKind, TrainingRows,
};
use crate::error::MlError;

/// Hyperparameters of [`ClassifierConfig::GaussianNb`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaussianNbParams {
    /// Relative variance floor (default 1e-9).
    pub var_smoothing: f64,
}

impl ClassifierConfig {
    /// Gaussian naive Bayes with default smoothing.
    pub fn gaussian_nb() -> Self {
        Self::GaussianNb(GaussianNbParams {
            var_smoothing: 1e-9,
        })
    }
}

/// Per class (in `classes` order): prior, feature means and variances.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct NbWeights {
    classes: Vec<usize>,
    priors: Vec<f64>,
    mean: Vec<Vec<f64>>,
    var: Vec<Vec<f64>>,
}

impl Kind for GaussianNbParams {
    type Weights = NbWeights;
    const SCORE_KIND: ScoreKind = ScoreKind::Probability;

    fn validate(&self) -> Result<(), MlError> {
        let v = self.var_smoothing;
        if !(v.is_finite() && v >= 0.0) {
            return bad_param("var_smoothing", "must be finite and >= 0");
        }
        Ok(())
    }

    fn fit(&self, rows: &TrainingRows) -> Result<NbWeights, MlError> {
        let fail = |e| fit_failed("gaussian_nb", e);
        let nb =
            GaussianNB::fit(&rows.xm, &rows.yu, GaussianNBParameters::default()).map_err(fail)?;
        let max_var =
            nb.var().iter().flatten().fold(
                0.0f64,
                |m, &v| {
                    if v.is_finite() {
                        m.max(v)
                    } else {
                        m
                    }
                },
            );
        let eps = self.var_smoothing * max_var.max(f64::MIN_POSITIVE);
        Ok(NbWeights {
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

    fn check(w: &NbWeights, d: usize, k: usize) -> Result<(), (String, String)> {
        let err = |f: &str, r: String| Err((f.to_string(), r));
        check_classes(&w.classes, k)?;
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
        Ok(())
    }

    fn scores(
        w: &NbWeights,
        x: &[Vec<f64>],
        _k: usize,
        out: &mut [Vec<f64>],
    ) -> Result<(), MlError> {
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
        Ok(())
    }
}
