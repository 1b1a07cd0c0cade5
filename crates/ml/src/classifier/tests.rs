//! Unit tests of the classifiers against smartcore's own predictions.

use super::*;
use crate::rng::SplitMix64;
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linear::logistic_regression::{LogisticRegression, LogisticRegressionParameters};
use smartcore::naive_bayes::gaussian::{GaussianNB, GaussianNBParameters};
use smartcore::svm::svc::{SVCParameters, SVC};
use smartcore::svm::Kernels;

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

    let ours = ClassifierConfig::LogisticRegression(LogisticRegressionParams { alpha: 0.5 })
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
