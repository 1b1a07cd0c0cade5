//! Splits, cross-validation and metrics.

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::MlError;
use crate::model::{Model, TrainOptions};
use crate::rng::SplitMix64;

/// Default number of cross-validation folds.
pub const DEFAULT_FOLDS: usize = 5;

/// Precision, recall and F1 of one class (0 where undefined).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    /// Class name.
    pub label: String,
    /// TP / (TP + FP).
    pub precision: f64,
    /// TP / (TP + FN).
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Rows of this class in the ground truth.
    pub support: usize,
}

/// Classification metrics over a set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Number of rows evaluated.
    pub n: usize,
    /// Fraction predicted correctly.
    pub accuracy: f64,
    /// Per-class precision/recall/F1, indexed by class.
    pub per_class: Vec<ClassMetrics>,
    /// Unweighted mean of per-class F1 (over all classes).
    pub macro_f1: f64,
    /// Support-weighted mean of per-class F1.
    pub weighted_f1: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// ROC-AUC of the class-1 score (two classes, both present, scores given); else None.
    pub roc_auc: Option<f64>,
}

impl Metrics {
    /// Computes the metrics. `positive_scores` (higher = class 1) enables ROC-AUC for two
    /// classes.
    pub fn compute(
        y_true: &[usize],
        y_pred: &[usize],
        label_names: &[String],
        positive_scores: Option<&[f64]>,
    ) -> Result<Self, MlError> {
        let k = label_names.len();
        if y_true.len() != y_pred.len() {
            return Err(MlError::LengthMismatch {
                features: y_pred.len(),
                labels: y_true.len(),
            });
        }
        if y_true.is_empty() {
            return Err(MlError::Empty);
        }
        for (row, (&t, &p)) in y_true.iter().zip(y_pred).enumerate() {
            if t >= k || p >= k {
                return Err(MlError::LabelOutOfRange {
                    row,
                    label: t.max(p),
                    n_names: k,
                });
            }
        }
        let mut confusion = vec![vec![0usize; k]; k];
        for (&t, &p) in y_true.iter().zip(y_pred) {
            confusion[t][p] += 1;
        }
        let n = y_true.len();
        let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_class: Vec<ClassMetrics> = (0..k)
            .map(|c| {
                let tp = confusion[c][c];
                let support: usize = confusion[c].iter().sum();
                let predicted: usize = (0..k).map(|t| confusion[t][c]).sum();
                let precision = ratio(tp, predicted);
                let recall = ratio(tp, support);
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                ClassMetrics {
                    label: label_names[c].clone(),
                    precision,
                    recall,
                    f1,
                    support,
                }
            })
            .collect();
        let macro_f1 = per_class.iter().map(|c| c.f1).sum::<f64>() / k as f64;
        let weighted_f1 = per_class
            .iter()
            .map(|c| c.f1 * c.support as f64)
            .sum::<f64>()
            / n as f64;
        let roc_auc = match positive_scores {
            Some(s) if k == 2 => {
                if s.len() != n {
                    return Err(MlError::LengthMismatch {
                        features: s.len(),
                        labels: n,
                    });
                }
                let pos: Vec<bool> = y_true.iter().map(|&t| t == 1).collect();
                if pos.iter().all(|&p| p) || pos.iter().all(|&p| !p) {
                    None
                } else {
                    Some(roc_auc(&pos, s)?)
                }
            }
            _ => None,
        };
        Ok(Self {
            n,
            accuracy: correct as f64 / n as f64,
            per_class,
            macro_f1,
            weighted_f1,
            confusion,
            roc_auc,
        })
    }
}

fn check_scores(positive: &[bool], scores: &[f64]) -> Result<(), MlError> {
    if positive.len() != scores.len() {
        return Err(MlError::LengthMismatch {
            features: scores.len(),
            labels: positive.len(),
        });
    }
    if let Some((row, &value)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
        return Err(MlError::NonFinite {
            row,
            column: 0,
            value,
        });
    }
    let np = positive.iter().filter(|&&p| p).count();
    if np == 0 || np == positive.len() {
        return Err(MlError::TooFewClasses {
            found: 1,
            context: "ROC needs positive and negative rows",
        });
    }
    Ok(())
}

/// ROC curve points `(false positive rate, true positive rate)` from (0,0) to (1,1), one point
/// per distinct score threshold (tied scores move together, giving a diagonal step).
pub fn roc_curve(positive: &[bool], scores: &[f64]) -> Result<Vec<(f64, f64)>, MlError> {
    check_scores(positive, scores)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let np = positive.iter().filter(|&&p| p).count() as f64;
    let nn = positive.len() as f64 - np;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut pts = vec![(0.0, 0.0)];
    let mut i = 0;
    while i < order.len() {
        let s = scores[order[i]];
        while i < order.len() && scores[order[i]] == s {
            if positive[order[i]] {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        pts.push((fp / nn, tp / np));
    }
    Ok(pts)
}

/// Area under the ROC curve (trapezoids; equals the probability that a random positive scores
/// above a random negative, ties counting one half).
pub fn roc_auc(positive: &[bool], scores: &[f64]) -> Result<f64, MlError> {
    let pts = roc_curve(positive, scores)?;
    Ok(pts
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0)
        .sum())
}

fn shuffled_by_class(labels: &[usize], seed: u64) -> Vec<Vec<usize>> {
    let k = labels.iter().copied().max().map_or(0, |m| m + 1);
    let mut by_class = vec![Vec::new(); k];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l].push(i);
    }
    let mut rng = SplitMix64::new(seed);
    for members in &mut by_class {
        rng.shuffle(members);
    }
    by_class
}

/// Stratified k-fold: returns the test indices of each fold (sorted). Every class is spread
/// over the folds as evenly as possible; fold sizes differ by at most one row per class.
/// Errors when `k < 2` or `k` exceeds the number of rows.
pub fn stratified_k_fold(
    labels: &[usize],
    k: usize,
    seed: u64,
) -> Result<Vec<Vec<usize>>, MlError> {
    if k < 2 || k > labels.len() {
        return Err(MlError::InvalidParameter {
            name: "k",
            reason: format!(
                "must be in 2..={} (the number of rows), got {k}",
                labels.len()
            ),
        });
    }
    let mut folds = vec![Vec::new(); k];
    let mut pos = 0;
    for members in shuffled_by_class(labels, seed) {
        for i in members {
            folds[pos % k].push(i);
            pos += 1;
        }
    }
    for f in &mut folds {
        f.sort_unstable();
    }
    Ok(folds)
}

/// Stratified train/test split: `round(test_fraction × class size)` rows of each class go to
/// the test set (at least one when the class has 2+ rows, never all of it). Returns sorted
/// `(train, test)` indices.
pub fn train_test_split(
    labels: &[usize],
    test_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>), MlError> {
    if !(test_fraction > 0.0 && test_fraction < 1.0) {
        return Err(MlError::InvalidParameter {
            name: "test_fraction",
            reason: format!("must be strictly between 0 and 1, got {test_fraction}"),
        });
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for members in shuffled_by_class(labels, seed) {
        let n = members.len();
        if n == 0 {
            continue;
        }
        let mut n_test = (n as f64 * test_fraction).round() as usize;
        if n >= 2 {
            n_test = n_test.clamp(1, n - 1);
        } else {
            n_test = 0;
        }
        test.extend_from_slice(&members[..n_test]);
        train.extend_from_slice(&members[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Ok((train, test))
}

/// Result of [`cross_validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvReport {
    /// Number of folds.
    pub k: usize,
    /// Metrics of each fold's held-out rows.
    pub folds: Vec<Metrics>,
    /// Metrics of all out-of-fold predictions pooled.
    pub pooled: Metrics,
    /// Mean of fold accuracies.
    pub mean_accuracy: f64,
    /// Population standard deviation of fold accuracies.
    pub std_accuracy: f64,
    /// Mean of fold macro F1.
    pub mean_macro_f1: f64,
}

/// Stratified k-fold cross-validation: for each fold, trains with `opts` on the other folds
/// (standardiser and oversampling fitted on those rows only) and scores the held-out rows.
pub fn cross_validate(
    data: &Dataset,
    opts: &TrainOptions,
    k: usize,
    seed: u64,
) -> Result<CvReport, MlError> {
    data.validate()?;
    let folds = stratified_k_fold(&data.labels, k, seed)?;
    let n = data.len();
    let mut oof_pred = vec![0usize; n];
    let mut oof_score = vec![0.0f64; n];
    let mut fold_metrics = Vec::with_capacity(k);
    let binary = data.n_classes() == 2;
    for test in &folds {
        let mut in_test = vec![false; n];
        for &i in test {
            in_test[i] = true;
        }
        let train: Vec<usize> = (0..n).filter(|&i| !in_test[i]).collect();
        let model = Model::train(&data.subset(&train), opts, "cross-validation fold")?;
        let test_rows: Vec<Vec<f64>> = test.iter().map(|&i| data.features[i].clone()).collect();
        let scores = model.scores(&test_rows)?;
        let pred = model.predict(&test_rows)?;
        let truth: Vec<usize> = test.iter().map(|&i| data.labels[i]).collect();
        let pos: Vec<f64> = scores
            .iter()
            .map(|s| s.get(1).copied().unwrap_or(0.0))
            .collect();
        fold_metrics.push(Metrics::compute(
            &truth,
            &pred,
            &data.label_names,
            binary.then_some(&pos[..]),
        )?);
        for (j, &i) in test.iter().enumerate() {
            oof_pred[i] = pred[j];
            oof_score[i] = pos[j];
        }
    }
    let pooled = Metrics::compute(
        &data.labels,
        &oof_pred,
        &data.label_names,
        binary.then_some(&oof_score[..]),
    )?;
    let accs: Vec<f64> = fold_metrics.iter().map(|m| m.accuracy).collect();
    let mean_accuracy = accs.iter().sum::<f64>() / k as f64;
    let std_accuracy = (accs
        .iter()
        .map(|a| (a - mean_accuracy).powi(2))
        .sum::<f64>()
        / k as f64)
        .sqrt();
    let mean_macro_f1 = fold_metrics.iter().map(|m| m.macro_f1).sum::<f64>() / k as f64;
    Ok(CvReport {
        k,
        folds: fold_metrics,
        pooled,
        mean_accuracy,
        std_accuracy,
        mean_macro_f1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(k: usize) -> Vec<String> {
        (0..k).map(|i| format!("c{i}")).collect()
    }

    #[test]
    fn metrics_hand_computed() {
        // truth: 0 0 0 1 1 ; pred: 0 1 0 1 0
        let m = Metrics::compute(&[0, 0, 0, 1, 1], &[0, 1, 0, 1, 0], &names(2), None).unwrap();
        assert_eq!(m.confusion, vec![vec![2, 1], vec![1, 1]]);
        assert!((m.accuracy - 0.6).abs() < 1e-12);
        assert!((m.per_class[0].precision - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.per_class[0].recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.per_class[1].precision - 0.5).abs() < 1e-12);
        assert!((m.per_class[1].f1 - 0.5).abs() < 1e-12);
        assert!((m.macro_f1 - (2.0 / 3.0 + 0.5) / 2.0).abs() < 1e-12);
        assert!((m.weighted_f1 - (3.0 * 2.0 / 3.0 + 2.0 * 0.5) / 5.0).abs() < 1e-12);
        assert_eq!(m.roc_auc, None);
    }

    #[test]
    fn auc_matches_pair_counting_with_ties() {
        let pos = [true, false, true, false, true, false];
        let s = [0.9, 0.8, 0.5, 0.5, 0.2, 0.1];
        // pairs (pos, neg): 0.9 beats all 3; 0.5 beats 0.1, ties 0.5, loses to 0.8; 0.2 beats 0.1.
        let expect = (3.0 + 1.0 + 0.5 + 1.0) / 9.0;
        assert!((roc_auc(&pos, &s).unwrap() - expect).abs() < 1e-12);
        let pts = roc_curve(&pos, &s).unwrap();
        assert_eq!(pts.first(), Some(&(0.0, 0.0)));
        assert_eq!(pts.last(), Some(&(1.0, 1.0)));
        let flipped: Vec<f64> = s.iter().map(|v| -v).collect();
        assert!((roc_auc(&pos, &flipped).unwrap() - (1.0 - expect)).abs() < 1e-12);
        assert!(roc_auc(&[true, true], &[0.1, 0.2]).is_err());
        assert!(matches!(
            roc_auc(&[true, false], &[f64::NAN, 0.2]).unwrap_err(),
            MlError::NonFinite { row: 0, .. }
        ));
    }

    #[test]
    fn stratified_folds_partition_and_balance() {
        let labels: Vec<usize> = (0..53).map(|i| usize::from(i % 4 == 0)).collect();
        let folds = stratified_k_fold(&labels, 5, 3).unwrap();
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..53).collect::<Vec<_>>());
        let ones_total = labels.iter().filter(|&&l| l == 1).count();
        for f in &folds {
            let ones = f.iter().filter(|&&i| labels[i] == 1).count();
            let share = ones_total as f64 / 5.0;
            assert!((ones as f64 - share).abs() <= 1.0, "fold {f:?}");
            assert!((f.len() as i64 - 53 / 5).abs() <= 1);
        }
        assert_eq!(folds, stratified_k_fold(&labels, 5, 3).unwrap());
        assert_ne!(folds, stratified_k_fold(&labels, 5, 4).unwrap());
        assert!(stratified_k_fold(&labels, 1, 0).is_err());
        assert!(stratified_k_fold(&labels[..3], 4, 0).is_err());
    }

    #[test]
    fn split_is_stratified_and_disjoint() {
        let labels: Vec<usize> = (0..100).map(|i| usize::from(i < 30)).collect();
        let (train, test) = train_test_split(&labels, 0.2, 1).unwrap();
        assert_eq!(train.len() + test.len(), 100);
        assert!(train.iter().all(|i| !test.contains(i)));
        assert_eq!(test.iter().filter(|&&i| labels[i] == 1).count(), 6);
        assert_eq!(test.iter().filter(|&&i| labels[i] == 0).count(), 14);
        assert!(train_test_split(&labels, 1.0, 1).is_err());
    }
}
