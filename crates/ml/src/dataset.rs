//! Tabular datasets: one feature vector and one class index per row.

use serde::{Deserialize, Serialize};

use crate::error::MlError;
use crate::rng::SplitMix64;

/// Largest number of rows a dataset may have.
pub const MAX_ROWS: usize = 1_000_000;
/// Largest number of features per row.
pub const MAX_FEATURES: usize = 10_000;
/// Largest number of classes (label names).
pub const MAX_CLASSES: usize = 1_000;

/// Feature vectors with class labels. `labels[i]` indexes `label_names`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dataset {
    /// One row per example, all of the same length.
    pub features: Vec<Vec<f64>>,
    /// Class index per row.
    pub labels: Vec<usize>,
    /// Class names; `label_names.len()` is the number of classes.
    pub label_names: Vec<String>,
}

impl Dataset {
    /// Builds and validates a dataset (see [`Dataset::validate`]).
    pub fn new(
        features: Vec<Vec<f64>>,
        labels: Vec<usize>,
        label_names: Vec<String>,
    ) -> Result<Self, MlError> {
        let d = Self {
            features,
            labels,
            label_names,
        };
        d.validate()?;
        Ok(d)
    }

    /// Checks: at least one row, equal lengths, consistent non-zero dimension, finite values,
    /// labels in range, at least 2 label names, and the size limits.
    pub fn validate(&self) -> Result<(), MlError> {
        if self.label_names.len() < 2 {
            return Err(MlError::TooFewClasses {
                found: self.label_names.len(),
                context: "label_names",
            });
        }
        if self.label_names.len() > MAX_CLASSES {
            return Err(MlError::TooLarge {
                what: "number of label names",
                value: self.label_names.len(),
                limit: MAX_CLASSES,
            });
        }
        if self.features.len() != self.labels.len() {
            return Err(MlError::LengthMismatch {
                features: self.features.len(),
                labels: self.labels.len(),
            });
        }
        if self.features.is_empty() {
            return Err(MlError::Empty);
        }
        if self.features.len() > MAX_ROWS {
            return Err(MlError::TooLarge {
                what: "number of rows",
                value: self.features.len(),
                limit: MAX_ROWS,
            });
        }
        check_matrix(&self.features, None)?;
        for (row, &label) in self.labels.iter().enumerate() {
            if label >= self.label_names.len() {
                return Err(MlError::LabelOutOfRange {
                    row,
                    label,
                    n_names: self.label_names.len(),
                });
            }
        }
        Ok(())
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.features.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    /// Features per row (0 for an empty dataset).
    pub fn n_features(&self) -> usize {
        self.features.first().map_or(0, Vec::len)
    }

    /// Number of classes (`label_names.len()`).
    pub fn n_classes(&self) -> usize {
        self.label_names.len()
    }

    /// Rows per class, indexed by class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.n_classes()];
        for &l in &self.labels {
            if l < c.len() {
                c[l] += 1;
            }
        }
        c
    }

    /// The rows at `indices` (in that order), same label names.
    /// Panics if an index is out of range (indices come from this crate's splitters).
    pub fn subset(&self, indices: &[usize]) -> Dataset {
        Dataset {
            features: indices.iter().map(|&i| self.features[i].clone()).collect(),
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            label_names: self.label_names.clone(),
        }
    }
}

/// Checks a feature matrix: same length rows (= `expected` if given, else row 0's, non-zero),
/// within [`MAX_FEATURES`], finite values.
pub(crate) fn check_matrix(rows: &[Vec<f64>], expected: Option<usize>) -> Result<(), MlError> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let dim = expected.unwrap_or(first.len());
    if dim == 0 {
        return Err(MlError::NoFeatures);
    }
    if dim > MAX_FEATURES {
        return Err(MlError::TooLarge {
            what: "number of features",
            value: dim,
            limit: MAX_FEATURES,
        });
    }
    for (row, r) in rows.iter().enumerate() {
        if r.len() != dim {
            return Err(if expected.is_some() {
                MlError::FeatureCount {
                    row,
                    expected: dim,
                    found: r.len(),
                }
            } else {
                MlError::RaggedRow {
                    row,
                    expected: dim,
                    found: r.len(),
                }
            });
        }
        if let Some((column, &value)) = r.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(MlError::NonFinite { row, column, value });
        }
    }
    Ok(())
}

/// Random oversampling: every class with fewer rows than the largest class gets rows of its
/// own drawn at random with replacement (seeded) and appended, until all present classes have
/// the same count. Classes with no rows stay empty. Original rows keep their order and come
/// first.
pub fn random_oversample(data: &Dataset, seed: u64) -> Result<Dataset, MlError> {
    data.validate()?;
    let mut rng = SplitMix64::new(seed);
    let counts = data.class_counts();
    let max = counts.iter().copied().max().unwrap_or(0);
    let mut out = data.clone();
    for (class, &count) in counts.iter().enumerate() {
        if count == 0 || count == max {
            continue;
        }
        let members: Vec<usize> = (0..data.len())
            .filter(|&i| data.labels[i] == class)
            .collect();
        for _ in count..max {
            let i = members[rng.below(members.len())];
            out.features.push(data.features[i].clone());
            out.labels.push(class);
        }
    }
    if out.len() > MAX_ROWS {
        return Err(MlError::TooLarge {
            what: "number of rows after oversampling",
            value: out.len(),
            limit: MAX_ROWS,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["a".into(), "b".into()]
    }

    #[test]
    fn validation_names_row_and_column() {
        let e = Dataset::new(vec![vec![1.0, 2.0], vec![1.0]], vec![0, 1], names()).unwrap_err();
        assert_eq!(
            e,
            MlError::RaggedRow {
                row: 1,
                expected: 2,
                found: 1
            }
        );
        let e = Dataset::new(
            vec![vec![1.0, 2.0], vec![3.0, 4.0], vec![f64::NAN, 0.0]],
            vec![0, 1, 0],
            names(),
        )
        .unwrap_err();
        assert!(
            matches!(
                e,
                MlError::NonFinite {
                    row: 2,
                    column: 0,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("row 2"));
        let e =
            Dataset::new(vec![vec![1.0], vec![f64::INFINITY]], vec![0, 1], names()).unwrap_err();
        assert!(matches!(
            e,
            MlError::NonFinite {
                row: 1,
                column: 0,
                ..
            }
        ));
        let e = Dataset::new(vec![vec![1.0]], vec![0], vec!["only".into()]).unwrap_err();
        assert!(matches!(e, MlError::TooFewClasses { found: 1, .. }));
        let e = Dataset::new(vec![vec![1.0]], vec![2], names()).unwrap_err();
        assert!(matches!(
            e,
            MlError::LabelOutOfRange {
                row: 0,
                label: 2,
                ..
            }
        ));
        let e = Dataset::new(vec![vec![1.0]], vec![0, 1], names()).unwrap_err();
        assert!(matches!(e, MlError::LengthMismatch { .. }));
        assert_eq!(
            Dataset::new(vec![], vec![], names()).unwrap_err(),
            MlError::Empty
        );
        assert_eq!(
            Dataset::new(vec![vec![]], vec![0], names()).unwrap_err(),
            MlError::NoFeatures
        );
    }

    #[test]
    fn oversampling_balances_with_copies_of_own_class() {
        let mut features = Vec::new();
        let mut labels = Vec::new();
        for i in 0..10 {
            features.push(vec![i as f64]);
            labels.push(0);
        }
        for i in 0..3 {
            features.push(vec![100.0 + i as f64]);
            labels.push(1);
        }
        let d = Dataset::new(features, labels, names()).unwrap();
        let o = random_oversample(&d, 0).unwrap();
        assert_eq!(o.class_counts(), vec![10, 10]);
        assert_eq!(&o.features[..13], &d.features[..]);
        for (f, &l) in o.features[13..].iter().zip(&o.labels[13..]) {
            assert_eq!(l, 1);
            assert!(f[0] >= 100.0, "copied a row of the wrong class");
        }
        // Deterministic per seed, different across seeds (7 draws from 3 rows).
        assert_eq!(random_oversample(&d, 0).unwrap(), o);
        let other = (1..20).any(|s| random_oversample(&d, s).unwrap() != o);
        assert!(other);
    }
}
