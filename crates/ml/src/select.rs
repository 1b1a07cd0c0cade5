//! Model selection: which classifier to keep, by cross-validation, and which labels have too
//! few examples to train on.

use serde::{Deserialize, Serialize};

use crate::classifier::ClassifierConfig;
use crate::dataset::Dataset;
use crate::error::MlError;
use crate::eval::{cross_validate, Metrics};
use crate::model::{Model, TrainOptions};

/// A label left out of training, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeftOutLabel {
    /// The label name.
    pub label: String,
    /// Its number of examples.
    pub examples: usize,
    /// The number it needed (e.g. one per cross-validation fold).
    pub needed: usize,
}

impl std::fmt::Display for LeftOutLabel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "label \"{}\" has {} example(s), needs at least {}",
            self.label, self.examples, self.needed
        )
    }
}

/// The rows of `data` whose label has at least `min_examples` rows, with the label names of
/// the other labels removed (the kept labels keep their order), and the labels left out.
/// Fails with [`MlError::TooFewClasses`] when fewer than two labels are left.
pub fn keep_labels_with_at_least(
    data: &Dataset,
    min_examples: usize,
) -> Result<(Dataset, Vec<LeftOutLabel>), MlError> {
    let counts = data.class_counts();
    let mut new_index = vec![None; data.n_classes()];
    let (mut names, mut left_out) = (Vec::new(), Vec::new());
    for (i, (name, &n)) in data.label_names.iter().zip(&counts).enumerate() {
        if n >= min_examples {
            new_index[i] = Some(names.len());
            names.push(name.clone());
        } else {
            left_out.push(LeftOutLabel {
                label: name.clone(),
                examples: n,
                needed: min_examples,
            });
        }
    }
    if names.len() < 2 {
        return Err(MlError::TooFewClasses {
            found: names.len(),
            context: "labels with enough examples",
        });
    }
    if left_out.is_empty() {
        return Ok((data.clone(), left_out));
    }
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for (row, &l) in data.features.iter().zip(&data.labels) {
        if let Some(j) = new_index[l] {
            rows.push(row.clone());
            labels.push(j);
        }
    }
    Ok((Dataset::new(rows, labels, names)?, left_out))
}

/// Every classifier kind with its default settings, in the order they are tried:
/// naive Bayes, logistic regression, random forest (seeded), RBF SVM (seeded).
pub fn default_candidates(seed: u64) -> Vec<ClassifierConfig> {
    vec![
        ClassifierConfig::gaussian_nb(),
        ClassifierConfig::logistic_regression(),
        ClassifierConfig::random_forest(seed),
        ClassifierConfig::svm_rbf(seed),
    ]
}

/// Cross-validated scores of one candidate classifier.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateScore {
    /// The classifier's `kind` tag.
    pub classifier: &'static str,
    /// Number of folds.
    pub folds: usize,
    /// Mean of fold accuracies.
    pub mean_accuracy: f64,
    /// Population standard deviation of fold accuracies.
    pub std_accuracy: f64,
    /// Mean of fold macro F1 (what the choice is made on).
    pub mean_macro_f1: f64,
    /// Metrics of all out-of-fold predictions pooled.
    pub pooled: Metrics,
}

/// What [`select_and_train`] found.
#[derive(Debug)]
pub struct Selection {
    /// One score per candidate, in the order given.
    pub scores: Vec<CandidateScore>,
    /// Index of the chosen candidate in `scores`.
    pub chosen: usize,
    /// The chosen classifier trained on all rows; its card holds the pooled out-of-fold
    /// metrics under `cv<folds>`.
    pub model: Model,
}

/// Cross-validates every candidate (stratified `folds`-fold, split by `seed`, standardised,
/// no oversampling), chooses the one with the highest mean macro F1 (the first of equals),
/// and trains it on all of `data`. `on_candidate(i)` is called after candidate `i` has been
/// cross-validated (for progress reports).
pub fn select_and_train(
    data: &Dataset,
    candidates: &[ClassifierConfig],
    folds: usize,
    seed: u64,
    feature_description: &str,
    mut on_candidate: impl FnMut(usize),
) -> Result<Selection, MlError> {
    if candidates.is_empty() {
        return Err(MlError::InvalidParameter {
            name: "candidates",
            reason: "no classifier to choose from".into(),
        });
    }
    let mut scores = Vec::with_capacity(candidates.len());
    let mut best: Option<(usize, f64)> = None;
    for (i, c) in candidates.iter().enumerate() {
        let cv = cross_validate(data, &TrainOptions::new(c.clone()), folds, seed).map_err(|e| {
            MlError::Candidate {
                kind: c.kind(),
                source: Box::new(e),
            }
        })?;
        on_candidate(i);
        if best.is_none_or(|(_, f)| cv.mean_macro_f1 > f) {
            best = Some((i, cv.mean_macro_f1));
        }
        scores.push(CandidateScore {
            classifier: c.kind(),
            folds: cv.k,
            mean_accuracy: cv.mean_accuracy,
            std_accuracy: cv.std_accuracy,
            mean_macro_f1: cv.mean_macro_f1,
            pooled: cv.pooled,
        });
    }
    let (chosen, _) = best.expect("at least one candidate");
    let mut model = Model::train(
        data,
        &TrainOptions::new(candidates[chosen].clone()),
        feature_description,
    )?;
    model
        .card
        .metrics
        .insert(format!("cv{folds}"), scores[chosen].pooled.clone());
    Ok(Selection {
        scores,
        chosen,
        model,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(counts: &[usize]) -> Dataset {
        let (mut rows, mut labels) = (Vec::new(), Vec::new());
        for (c, &n) in counts.iter().enumerate() {
            for i in 0..n {
                rows.push(vec![c as f64 * 10.0 + (i % 3) as f64, (i % 5) as f64]);
                labels.push(c);
            }
        }
        let names = (0..counts.len()).map(|c| format!("c{c}")).collect();
        Dataset::new(rows, labels, names).unwrap()
    }

    #[test]
    fn small_labels_are_left_out_and_the_rest_renumbered() {
        let d = data(&[6, 2, 7]);
        let (kept, out) = keep_labels_with_at_least(&d, 5).unwrap();
        assert_eq!(kept.label_names, ["c0", "c2"]);
        assert_eq!(kept.class_counts(), [6, 7]);
        assert!(kept.features[6][0] >= 20.0, "c2 rows follow c0 rows");
        assert_eq!(
            out,
            [LeftOutLabel {
                label: "c1".into(),
                examples: 2,
                needed: 5
            }]
        );
        assert_eq!(
            out[0].to_string(),
            "label \"c1\" has 2 example(s), needs at least 5"
        );
        assert_eq!(keep_labels_with_at_least(&d, 2).unwrap().0, d);
        assert!(matches!(
            keep_labels_with_at_least(&d, 7),
            Err(MlError::TooFewClasses { found: 1, .. })
        ));
    }

    #[test]
    fn the_best_mean_macro_f1_is_chosen_and_trained() {
        let d = data(&[12, 12]);
        let mut seen = Vec::new();
        let s =
            select_and_train(&d, &default_candidates(3), 3, 1, "test", |i| seen.push(i)).unwrap();
        assert_eq!(seen, [0, 1, 2, 3]);
        let best = s.scores[s.chosen].mean_macro_f1;
        assert!(s.scores.iter().all(|c| c.mean_macro_f1 <= best));
        assert!(s.scores[..s.chosen].iter().all(|c| c.mean_macro_f1 < best));
        assert_eq!(
            s.model.card.classifier.kind(),
            s.scores[s.chosen].classifier
        );
        assert!(s.model.card.metrics.contains_key("cv3"));
        assert!(select_and_train(&d, &[], 3, 1, "test", |_| {}).is_err());
    }
}
