//! Support vector machine with an RBF kernel, one-vs-one for more than two classes.

use serde::{Deserialize, Serialize};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::svm::svc::{SVCParameters, SVC};
use smartcore::svm::Kernels;

use super::{bad_param, finite_all, ClassifierConfig, Kind, ScoreKind, TrainingRows};
use crate::error::MlError;

/// Hyperparameters of [`ClassifierConfig::SvmRbf`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SvmRbfParams {
    /// Soft-margin penalty C (default 1.0).
    pub c: f64,
    /// Kernel width; None = 1 / n_features (scikit-learn's "scale" for standardised data).
    pub gamma: Option<f64>,
    /// Passes of the LaSVM-style solver over the data (default 2).
    pub epochs: usize,
    /// Solver tolerance (default 1e-3).
    pub tol: f64,
    /// Seed for the solver's shuffles.
    pub seed: u64,
}

impl ClassifierConfig {
    /// RBF SVM with C = 1, gamma = 1/n_features.
    pub fn svm_rbf(seed: u64) -> Self {
        Self::SvmRbf(SvmRbfParams {
            c: 1.0,
            gamma: None,
            epochs: 2,
            tol: 1e-3,
            seed,
        })
    }
}

/// The kernel width and one binary machine per pair of classes.
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

impl Kind for SvmRbfParams {
    type Weights = SvmWeights;
    const SCORE_KIND: ScoreKind = ScoreKind::DecisionValue;

    fn validate(&self) -> Result<(), MlError> {
        if !(self.c.is_finite() && self.c > 0.0) {
            return bad_param("c", "must be finite and > 0");
        }
        if let Some(g) = self.gamma {
            if !(g.is_finite() && g > 0.0) {
                return bad_param("gamma", "must be finite and > 0");
            }
        }
        if self.epochs == 0 || self.epochs > 1000 {
            return bad_param("epochs", "must be in 1..=1000");
        }
        if !(self.tol.is_finite() && self.tol > 0.0) {
            return bad_param("tol", "must be finite and > 0");
        }
        Ok(())
    }

    fn fit(&self, rows: &TrainingRows) -> Result<SvmWeights, MlError> {
        let gamma = self.gamma.unwrap_or(1.0 / rows.n_features as f64);
        let present = &rows.present;
        let mut machines = Vec::new();
        for (i, &a) in present.iter().enumerate() {
            for &b in &present[i + 1..] {
                machines.push(fit_binary_svm(
                    rows.x,
                    rows.y,
                    a,
                    b,
                    self.c,
                    gamma,
                    self.epochs,
                    self.tol,
                    self.seed,
                )?);
            }
        }
        Ok(SvmWeights { gamma, machines })
    }

    fn check(w: &SvmWeights, d: usize, k: usize) -> Result<(), (String, String)> {
        let err = |f: &str, r: String| Err((f.to_string(), r));
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
        Ok(())
    }

    fn scores(
        w: &SvmWeights,
        x: &[Vec<f64>],
        k: usize,
        out: &mut [Vec<f64>],
    ) -> Result<(), MlError> {
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
        Ok(())
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
