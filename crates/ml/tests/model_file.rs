//! Model files: round trip, card contents, and clear errors for corrupted/incompatible files.

mod common;

use common::{blobs, iris_like, xor};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tympan_ml::{
    cross_validate, dataset_hash, ClassifierConfig, Dataset, MlError, Model, TrainOptions,
    MODEL_FORMAT, MODEL_FORMAT_VERSION,
};

fn configs() -> Vec<ClassifierConfig> {
    vec![
        ClassifierConfig::gaussian_nb(),
        ClassifierConfig::logistic_regression(),
        ClassifierConfig::RandomForest(tympan_ml::RandomForestParams {
            n_trees: 15,
            max_depth: Some(6),
            min_samples_leaf: 1,
            seed: 4,
        }),
        ClassifierConfig::svm_rbf(4),
    ]
}

fn model_bytes(cfg: ClassifierConfig) -> (Model, Vec<u8>, Dataset) {
    let d = xor(120, 1, 5);
    let model = Model::train(&d, &TrainOptions::new(cfg), "x, y, noise").unwrap();
    let bytes = model.save_to_bytes().unwrap();
    (model, bytes, d)
}

fn field_of(e: MlError) -> String {
    match e {
        MlError::ModelFile { field, .. } => field,
        other => panic!("expected a model-file error, got {other}"),
    }
}

fn edit(bytes: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(bytes).unwrap();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

/// Re-signs edited weights so the checksum passes and the structural checks are reached.
fn resign(v: &mut Value) {
    // The loader hashes the weights as compact JSON with sorted keys, which is how
    // serde_json::Value serialises unless its preserve_order feature is on (it is not here).
    let w = v["weights"].clone();
    let bytes = serde_json::to_vec(&w).unwrap();
    let hex: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    v["card"]["weights_sha256"] = Value::String(format!("sha256:{hex}"));
}

#[test]
fn round_trip_keeps_predictions_for_every_kind() {
    let probe = xor(200, 1, 77).features;
    for cfg in configs() {
        let (mut model, _, d) = model_bytes(cfg.clone());
        let cv = cross_validate(&d, &TrainOptions::new(cfg.clone()), 5, 0).unwrap();
        model.card.metrics.insert("cv5".into(), cv.pooled.clone());
        let bytes = model.save_to_bytes().unwrap();
        let back = Model::load_from_bytes(&bytes).unwrap();
        assert_eq!(
            back.predict(&probe).unwrap(),
            model.predict(&probe).unwrap()
        );
        assert_eq!(
            back.scores(&probe).unwrap(),
            model.scores(&probe).unwrap(),
            "{}",
            cfg.kind()
        );
        assert_eq!(back.classifier(), model.classifier());
        let card = &back.card;
        assert_eq!(card.format, MODEL_FORMAT);
        assert_eq!(card.format_version, MODEL_FORMAT_VERSION);
        assert_eq!(card.classifier, cfg);
        assert_eq!(card.label_names, d.label_names);
        assert_eq!(card.feature_description, "x, y, noise");
        assert_eq!(card.training_data_hash, dataset_hash(&d));
        assert_eq!(card.metrics["cv5"], cv.pooled);
        assert_eq!(card.standardizer, model.card.standardizer);
        assert!(card.created_by.starts_with("tympan-ml "));
        assert!(card.weights_sha256.starts_with("sha256:") && card.weights_sha256.len() == 71);
        // Saving the reloaded model reproduces the same bytes.
        assert_eq!(back.save_to_bytes().unwrap(), bytes);
        eprintln!("{}: model file {} bytes", cfg.kind(), bytes.len());
    }
}

#[test]
fn multiclass_round_trip() {
    let d = iris_like(20, 1);
    for cfg in configs() {
        let m = Model::train(&d, &TrainOptions::new(cfg), "4 measurements").unwrap();
        let back = Model::load_from_bytes(&m.save_to_bytes().unwrap()).unwrap();
        assert_eq!(
            back.scores(&d.features).unwrap(),
            m.scores(&d.features).unwrap()
        );
    }
}

#[test]
fn dataset_hash_is_stable_and_sensitive() {
    let d = blobs(10, &[vec![0.0, 0.0], vec![1.0, 1.0]], 1.0, 3);
    let h = dataset_hash(&d);
    assert_eq!(h, dataset_hash(&d.clone()));
    assert!(h.starts_with("sha256:") && h.len() == 71);
    let mut e = d.clone();
    e.features[7][1] += 1e-12;
    assert_ne!(dataset_hash(&e), h);
    let mut e = d.clone();
    e.labels.swap(0, 19);
    assert_ne!(dataset_hash(&e), h);
    let mut e = d.clone();
    e.label_names[0] = "other".into();
    assert_ne!(dataset_hash(&e), h);
}

#[test]
fn corrupted_files_name_the_field() {
    let (_, bytes, _) = model_bytes(ClassifierConfig::logistic_regression());

    assert_eq!(
        field_of(Model::load_from_bytes(b"not json").unwrap_err()),
        "(file)"
    );
    assert_eq!(
        field_of(Model::load_from_bytes(&bytes[..bytes.len() / 2]).unwrap_err()),
        "(file)"
    );
    assert_eq!(
        field_of(Model::load_from_bytes(b"[1,2]").unwrap_err()),
        "(file)"
    );
    assert_eq!(field_of(Model::load_from_bytes(b"{}").unwrap_err()), "card");

    let b = edit(&bytes, |v| {
        v["card"].as_object_mut().unwrap().remove("label_names");
    });
    let e = Model::load_from_bytes(&b).unwrap_err();
    assert!(
        e.to_string().contains("card.label_names") && e.to_string().contains("missing"),
        "{e}"
    );

    let b = edit(&bytes, |v| {
        v["card"]["n_features"] = Value::String("two".into())
    });
    assert_eq!(
        field_of(Model::load_from_bytes(&b).unwrap_err()),
        "card.n_features"
    );

    let b = edit(&bytes, |v| v["card"]["format"] = "something-else".into());
    assert_eq!(
        field_of(Model::load_from_bytes(&b).unwrap_err()),
        "card.format"
    );

    let b = edit(&bytes, |v| v["card"]["format_version"] = 99.into());
    let e = Model::load_from_bytes(&b).unwrap_err();
    assert!(e.to_string().contains("version 99"), "{e}");
    assert_eq!(field_of(e), "card.format_version");

    let b = edit(&bytes, |v| {
        v["card"]["label_names"] = serde_json::json!(["only"])
    });
    assert_eq!(
        field_of(Model::load_from_bytes(&b).unwrap_err()),
        "card.label_names"
    );

    let b = edit(&bytes, |v| {
        v["card"]["standardizer"]["scale"][0] = (-1.0).into()
    });
    assert_eq!(
        field_of(Model::load_from_bytes(&b).unwrap_err()),
        "card.standardizer"
    );

    let b = edit(&bytes, |v| {
        v["card"]["standardizer"]["mean"] = serde_json::json!([0.0])
    });
    assert_eq!(
        field_of(Model::load_from_bytes(&b).unwrap_err()),
        "card.standardizer"
    );

    // A changed weight is caught by the checksum.
    let b = edit(&bytes, |v| {
        let c = &mut v["weights"]["coef"][0][0];
        *c = (c.as_f64().unwrap() + 0.5).into();
    });
    assert_eq!(
        field_of(Model::load_from_bytes(&b).unwrap_err()),
        "card.weights_sha256"
    );

    let b = edit(&bytes, |v| {
        v["weights"].as_object_mut().unwrap().remove("intercept");
    });
    let e = Model::load_from_bytes(&b).unwrap_err();
    assert!(e.to_string().contains("intercept"), "{e}");
    assert_eq!(field_of(e), "weights");

    // The card says random forest but the weights are logistic regression.
    let b = edit(&bytes, |v| {
        v["card"]["classifier"] = serde_json::to_value(ClassifierConfig::random_forest(0)).unwrap()
    });
    assert_eq!(
        field_of(Model::load_from_bytes(&b).unwrap_err()),
        "weights.kind"
    );
}

#[test]
fn structurally_bad_weights_are_rejected_even_with_a_valid_checksum() {
    // Logistic regression with a coefficient row of the wrong length.
    let (_, bytes, _) = model_bytes(ClassifierConfig::logistic_regression());
    let b = edit(&bytes, |v| {
        v["weights"]["coef"][0]
            .as_array_mut()
            .unwrap()
            .push(1.0.into());
        resign(v);
    });
    let e = Model::load_from_bytes(&b).unwrap_err();
    assert_eq!(field_of(e), "weights.coef[0]");

    // A forest tree whose split refers to a feature the model does not have: would index out
    // of bounds at prediction time.
    let (_, bytes, _) = model_bytes(ClassifierConfig::random_forest(1));
    let b = edit(&bytes, |v| {
        let nodes = v["weights"]["trees"][2]["nodes"].as_array_mut().unwrap();
        let split = nodes
            .iter_mut()
            .find(|n| !n["true_child"].is_null())
            .unwrap();
        split["split_feature"] = 40.into();
        resign(v);
    });
    let e = Model::load_from_bytes(&b).unwrap_err();
    let f = field_of(e);
    assert!(
        f.starts_with("weights.trees[2].nodes[") && f.ends_with("split_feature"),
        "{f}"
    );

    // A tree node pointing back to the root would loop forever.
    let b = edit(&bytes, |v| {
        let nodes = v["weights"]["trees"][0]["nodes"].as_array_mut().unwrap();
        let split = nodes
            .iter_mut()
            .rev()
            .find(|n| !n["true_child"].is_null())
            .unwrap();
        split["false_child"] = 0.into();
        resign(v);
    });
    let f = field_of(Model::load_from_bytes(&b).unwrap_err());
    assert!(f.starts_with("weights.trees[0].nodes["), "{f}");

    // SVM support vector of the wrong dimension.
    let (_, bytes, _) = model_bytes(ClassifierConfig::svm_rbf(1));
    let b = edit(&bytes, |v| {
        v["weights"]["machines"][0]["support_vectors"][0] = serde_json::json!([1.0]);
        resign(v);
    });
    assert_eq!(
        field_of(Model::load_from_bytes(&b).unwrap_err()),
        "weights.machines[0]"
    );
}

/// Model files written by the code before the classifier was split per kind (one per kind,
/// `tests/fixtures/model-v1-*.json`, three classes, three features) still load, and score the
/// probe rows exactly as that code did (`model-v1-expected.json`); saving them again gives
/// the same bytes.
#[test]
fn model_files_of_earlier_versions_load_and_score_the_same() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir.join("model-v1-expected.json")).unwrap())
            .unwrap();
    let probe: Vec<Vec<f64>> = serde_json::from_value(expected["probe"].clone()).unwrap();
    let kinds = [
        "gaussian_nb",
        "logistic_regression",
        "random_forest",
        "svm_rbf",
    ];
    for kind in kinds {
        let bytes = std::fs::read(dir.join(format!("model-v1-{kind}.json"))).unwrap();
        let m = Model::load_from_bytes(&bytes).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(m.card.classifier.kind(), kind);
        assert_eq!(m.card.label_names, ["a", "b", "c"]);
        let want = &expected["expected"][kind];
        let predict: Vec<usize> = serde_json::from_value(want["predict"].clone()).unwrap();
        let scores: Vec<Vec<f64>> = serde_json::from_value(want["scores"].clone()).unwrap();
        assert_eq!(m.predict(&probe).unwrap(), predict, "{kind}");
        assert_eq!(m.scores(&probe).unwrap(), scores, "{kind}");
        assert_eq!(m.save_to_bytes().unwrap(), bytes, "{kind}: saved again");
    }
}
