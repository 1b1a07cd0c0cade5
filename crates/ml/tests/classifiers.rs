//! Accuracy of the four classifiers on synthetic data, with controls a broken implementation
//! would fail.

mod common;

use common::{blobs, iris_like, shuffled_labels, xor};
use tympan_ml::{
    cross_validate, train_test_split, ClassifierConfig, Dataset, Metrics, MlError, Model,
    ScoreKind, TrainOptions,
};

fn all_configs(seed: u64) -> Vec<ClassifierConfig> {
    vec![
        ClassifierConfig::gaussian_nb(),
        ClassifierConfig::logistic_regression(),
        ClassifierConfig::random_forest(seed),
        ClassifierConfig::svm_rbf(seed),
    ]
}

fn split_eval(d: &Dataset, cfg: &ClassifierConfig, seed: u64) -> Metrics {
    let (train, test) = train_test_split(&d.labels, 0.3, seed).unwrap();
    let model = Model::train(&d.subset(&train), &TrainOptions::new(cfg.clone()), "test").unwrap();
    model.evaluate(&d.subset(&test)).unwrap()
}

#[test]
fn blobs_are_learned_by_every_classifier() {
    // Two 5-D blobs 2.5 sd apart per axis (Bayes accuracy > 99%), unequal raw scales.
    let mut d = blobs(150, &[vec![0.0; 5], vec![2.5; 5]], 1.0, 11);
    for row in &mut d.features {
        row[0] *= 1000.0; // standardisation must cope with wildly different feature scales
        row[4] -= 50.0;
    }
    for cfg in all_configs(3) {
        let m = split_eval(&d, &cfg, 5);
        eprintln!(
            "blobs {}: acc {:.3} auc {:?}",
            cfg.kind(),
            m.accuracy,
            m.roc_auc
        );
        assert!(
            m.accuracy >= 0.95,
            "{}: accuracy {}",
            cfg.kind(),
            m.accuracy
        );
        assert!(
            m.roc_auc.unwrap() >= 0.98,
            "{}: auc {:?}",
            cfg.kind(),
            m.roc_auc
        );
        assert!(m.macro_f1 >= 0.95);
        assert_eq!(m.confusion.iter().flatten().sum::<usize>(), m.n);
    }
}

#[test]
fn xor_needs_a_nonlinear_classifier() {
    let d = xor(400, 1, 21);
    for cfg in all_configs(4) {
        let cv = cross_validate(&d, &TrainOptions::new(cfg.clone()), 5, 9).unwrap();
        eprintln!(
            "xor {}: cv acc {:.3} ± {:.3}, pooled auc {:?}",
            cfg.kind(),
            cv.mean_accuracy,
            cv.std_accuracy,
            cv.pooled.roc_auc
        );
        match cfg {
            ClassifierConfig::RandomForest { .. } | ClassifierConfig::SvmRbf { .. } => {
                assert!(
                    cv.mean_accuracy >= 0.9,
                    "{}: {}",
                    cfg.kind(),
                    cv.mean_accuracy
                );
                assert!(cv.pooled.roc_auc.unwrap() >= 0.95);
            }
            // Linear and axis-independent Gaussian models cannot represent XOR.
            _ => assert!(
                cv.mean_accuracy <= 0.7,
                "{}: {}",
                cfg.kind(),
                cv.mean_accuracy
            ),
        }
    }
}

#[test]
fn shuffled_labels_score_near_chance() {
    let d = shuffled_labels(&blobs(150, &[vec![0.0; 4], vec![2.5; 4]], 1.0, 31), 77);
    for cfg in all_configs(5) {
        let cv = cross_validate(&d, &TrainOptions::new(cfg.clone()), 5, 2).unwrap();
        eprintln!(
            "shuffled {}: cv acc {:.3}, auc {:?}",
            cfg.kind(),
            cv.mean_accuracy,
            cv.pooled.roc_auc
        );
        assert!(
            (0.38..=0.62).contains(&cv.mean_accuracy),
            "{} scores {} on random labels",
            cfg.kind(),
            cv.mean_accuracy
        );
        let auc = cv.pooled.roc_auc.unwrap();
        assert!((0.35..=0.65).contains(&auc), "{}: auc {auc}", cfg.kind());
    }
}

#[test]
fn iris_like_three_classes() {
    let d = iris_like(50, 8);
    for cfg in all_configs(6) {
        let cv = cross_validate(&d, &TrainOptions::new(cfg.clone()), 5, 1).unwrap();
        eprintln!(
            "iris-like {}: cv acc {:.3}, macro F1 {:.3}",
            cfg.kind(),
            cv.mean_accuracy,
            cv.mean_macro_f1
        );
        assert!(
            cv.mean_accuracy >= 0.88,
            "{}: {}",
            cfg.kind(),
            cv.mean_accuracy
        );
        // Setosa-like class is far from the others: nearly perfect recall.
        assert!(cv.pooled.per_class[0].recall >= 0.97);
        assert_eq!(cv.folds.len(), 5);
        assert_eq!(cv.pooled.n, 150);
        assert_eq!(cv.pooled.roc_auc, None, "no AUC for 3 classes");
    }
}

#[test]
fn scores_probabilities_and_determinism() {
    let d = iris_like(30, 2);
    for cfg in all_configs(7) {
        let m1 = Model::train(&d, &TrainOptions::new(cfg.clone()), "").unwrap();
        let m2 = Model::train(&d, &TrainOptions::new(cfg.clone()), "").unwrap();
        let s1 = m1.scores(&d.features).unwrap();
        assert_eq!(
            s1,
            m2.scores(&d.features).unwrap(),
            "{} not deterministic",
            cfg.kind()
        );
        assert_eq!(s1[0].len(), 3);
        match cfg.score_kind() {
            ScoreKind::Probability => {
                let p = m1.predict_proba(&d.features).unwrap();
                for row in &p {
                    assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                    assert!(row.iter().all(|v| (0.0..=1.0).contains(v)));
                }
            }
            ScoreKind::DecisionValue => {
                assert!(matches!(
                    m1.predict_proba(&d.features).unwrap_err(),
                    MlError::NoProbabilities { kind: "svm_rbf" }
                ));
            }
        }
        // predict is the arg-max of the scores
        let pred = m1.predict(&d.features).unwrap();
        for (p, s) in pred.iter().zip(&s1) {
            assert!(s.iter().all(|v| *v <= s[*p]));
        }
    }
    // A different forest seed gives different vote fractions.
    let a = Model::train(
        &d,
        &TrainOptions::new(ClassifierConfig::random_forest(1)),
        "",
    )
    .unwrap();
    let b = Model::train(
        &d,
        &TrainOptions::new(ClassifierConfig::random_forest(2)),
        "",
    )
    .unwrap();
    let probe = iris_like(30, 99).features;
    assert_ne!(a.scores(&probe).unwrap(), b.scores(&probe).unwrap());
}

#[test]
fn standardiser_is_fitted_on_training_rows_only() {
    let d = blobs(40, &[vec![0.0, 10.0], vec![3.0, 20.0]], 1.0, 4);
    let (train, _test) = train_test_split(&d.labels, 0.25, 0).unwrap();
    let sub = d.subset(&train);
    let model = Model::train(
        &sub,
        &TrainOptions::new(ClassifierConfig::gaussian_nb()),
        "",
    )
    .unwrap();
    let s = model.card.standardizer.as_ref().unwrap();
    let mean0 = sub.features.iter().map(|r| r[0]).sum::<f64>() / sub.len() as f64;
    let full0 = d.features.iter().map(|r| r[0]).sum::<f64>() / d.len() as f64;
    assert!((s.mean[0] - mean0).abs() < 1e-12);
    assert!(
        (s.mean[0] - full0).abs() > 1e-6,
        "test rows leaked into the standardiser"
    );
}

#[test]
fn oversampling_raises_minority_recall() {
    // 10:1 imbalance, overlapping classes: with natural priors naive Bayes favours the
    // majority; oversampling equalises the priors and must recover more minority rows.
    let big = blobs(300, &[vec![0.0, 0.0], vec![1.2, 1.2]], 1.0, 5);
    let keep: Vec<usize> = (0..big.len())
        .filter(|&i| big.labels[i] == 0 || i % 10 == 0)
        .collect();
    let d = big.subset(&keep);
    assert_eq!(d.class_counts(), vec![300, 30]);
    let mut opts = TrainOptions::new(ClassifierConfig::gaussian_nb());
    let plain = cross_validate(&d, &opts, 5, 0).unwrap();
    opts.oversample = true;
    opts.seed = 3;
    let over = cross_validate(&d, &opts, 5, 0).unwrap();
    let (r0, r1) = (
        plain.pooled.per_class[1].recall,
        over.pooled.per_class[1].recall,
    );
    eprintln!("minority recall plain {r0:.3}, oversampled {r1:.3}");
    assert!(r1 > r0 + 0.2, "plain {r0}, oversampled {r1}");
    let m = Model::train(&d, &opts, "").unwrap();
    assert!(m.card.oversampled);
    assert_eq!(m.card.training_rows, 330);
}

#[test]
fn bad_inputs_are_named() {
    let d = blobs(20, &[vec![0.0, 0.0], vec![3.0, 3.0]], 1.0, 1);
    let model = Model::train(
        &d,
        &TrainOptions::new(ClassifierConfig::logistic_regression()),
        "",
    )
    .unwrap();
    let e = model
        .predict(&[vec![0.0, 1.0], vec![f64::NAN, 0.0]])
        .unwrap_err();
    assert!(
        matches!(
            e,
            MlError::NonFinite {
                row: 1,
                column: 0,
                ..
            }
        ),
        "{e}"
    );
    let e = model.predict(&[vec![0.0, 1.0, 2.0]]).unwrap_err();
    assert!(
        matches!(
            e,
            MlError::FeatureCount {
                row: 0,
                expected: 2,
                found: 3
            }
        ),
        "{e}"
    );
    // One class only in the training rows.
    let one = d.subset(&(0..20).collect::<Vec<_>>());
    let e = Model::train(
        &one,
        &TrainOptions::new(ClassifierConfig::gaussian_nb()),
        "",
    )
    .unwrap_err();
    assert!(matches!(e, MlError::TooFewClasses { found: 1, .. }), "{e}");
    let e = Model::train(
        &d,
        &TrainOptions::new(ClassifierConfig::RandomForest(
            tympan_ml::RandomForestParams {
                n_trees: 0,
                max_depth: None,
                min_samples_leaf: 1,
                seed: 0,
            },
        )),
        "",
    )
    .unwrap_err();
    assert!(matches!(
        e,
        MlError::InvalidParameter {
            name: "n_trees",
            ..
        }
    ));
}
