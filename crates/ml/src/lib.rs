//! Tympan's classic machine learning core (sans I/O).
//!
//! Tabular feature vectors (e.g. MFCC statistics per clip) go in as a [`Dataset`]; this crate
//! standardises them, trains Gaussian naive Bayes, logistic regression, random forest and RBF
//! SVM classifiers (fitting is delegated to `smartcore`), evaluates them with stratified
//! splits / k-fold cross-validation and the usual metrics, and stores a trained model as bytes
//! (a JSON card plus weights) with [`Model::save_to_bytes`] / [`Model::load_from_bytes`].
//!
//! Everything is deterministic given the seeds passed in; nothing here reads files, clocks or
//! the network.

mod classifier;
mod dataset;
mod error;
mod eval;
mod model;
mod rng;
mod scale;
mod select;

pub use classifier::{
    Classifier, ClassifierConfig, GaussianNbParams, LogisticRegressionParams, RandomForestParams,
    ScoreKind, SvmRbfParams, MAX_TREES,
};
pub use dataset::{random_oversample, Dataset, MAX_CLASSES, MAX_FEATURES, MAX_ROWS};
pub use error::MlError;
pub use eval::{
    cross_validate, roc_auc, roc_curve, stratified_k_fold, train_test_split, ClassMetrics,
    CvReport, Metrics, DEFAULT_FOLDS,
};
pub use model::{dataset_hash, Model, ModelCard, TrainOptions, MODEL_FORMAT, MODEL_FORMAT_VERSION};
pub use rng::SplitMix64;
pub use scale::Standardizer;
pub use select::{
    default_candidates, keep_labels_with_at_least, select_and_train, CandidateScore, LeftOutLabel,
    Selection,
};
