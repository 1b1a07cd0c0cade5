//! Per-feature standardisation (zero mean, unit variance), fitted on training rows only.

use serde::{Deserialize, Serialize};

use crate::dataset::check_matrix;
use crate::error::MlError;

/// Per-feature mean and scale: `z = (x - mean) / scale`. A feature with zero variance in the
/// training rows gets scale 1 (it is only centred).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Training mean of each feature.
    pub mean: Vec<f64>,
    /// Training population standard deviation of each feature (1 where it was 0).
    pub scale: Vec<f64>,
}

impl Standardizer {
    /// Fits on `rows` (the training rows only). Errors on an empty, ragged or non-finite matrix.
    pub fn fit(rows: &[Vec<f64>]) -> Result<Self, MlError> {
        if rows.is_empty() {
            return Err(MlError::Empty);
        }
        check_matrix(rows, None)?;
        let d = rows[0].len();
        let n = rows.len() as f64;
        let mut mean = vec![0.0; d];
        for r in rows {
            for (m, v) in mean.iter_mut().zip(r) {
                *m += v;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; d];
        for r in rows {
            for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
                *s += (v - m) * (v - m);
            }
        }
        let scale = var
            .into_iter()
            .map(|s| {
                let sd = (s / n).sqrt();
                if sd > 1e-12 * (1.0 + sd) && sd.is_finite() {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Ok(Self { mean, scale })
    }

    /// Number of features this standardiser expects.
    pub fn n_features(&self) -> usize {
        self.mean.len()
    }

    /// Checks the parameters (used when loading a model file).
    pub fn validate(&self) -> Result<(), String> {
        if self.mean.len() != self.scale.len() {
            return Err(format!(
                "mean has {} entries but scale has {}",
                self.mean.len(),
                self.scale.len()
            ));
        }
        if let Some(i) = self.mean.iter().position(|v| !v.is_finite()) {
            return Err(format!("mean[{i}] is not finite"));
        }
        if let Some(i) = self.scale.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
            return Err(format!("scale[{i}] is not a positive finite number"));
        }
        Ok(())
    }

    /// Standardises `rows` (checked against the fitted dimension).
    pub fn transform(&self, rows: &[Vec<f64>]) -> Result<Vec<Vec<f64>>, MlError> {
        check_matrix(rows, Some(self.n_features()))?;
        Ok(rows
            .iter()
            .map(|r| {
                r.iter()
                    .zip(&self.mean)
                    .zip(&self.scale)
                    .map(|((v, m), s)| (v - m) / s)
                    .collect()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standardises_train_and_applies_same_params_to_test() {
        let train = vec![vec![1.0, 5.0], vec![3.0, 5.0], vec![5.0, 5.0]];
        let s = Standardizer::fit(&train).unwrap();
        assert_eq!(s.mean, vec![3.0, 5.0]);
        assert!((s.scale[0] - (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(s.scale[1], 1.0, "constant feature is only centred");
        let z = s.transform(&train).unwrap();
        let m: f64 = z.iter().map(|r| r[0]).sum::<f64>() / 3.0;
        let v: f64 = z.iter().map(|r| r[0] * r[0]).sum::<f64>() / 3.0;
        assert!(m.abs() < 1e-12 && (v - 1.0).abs() < 1e-12);
        let t = s.transform(&[vec![7.0, 6.0]]).unwrap();
        assert!((t[0][0] - 4.0 / (8.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(t[0][1], 1.0);
        assert!(matches!(
            s.transform(&[vec![1.0]]).unwrap_err(),
            MlError::FeatureCount {
                row: 0,
                expected: 2,
                found: 1
            }
        ));
    }
}
