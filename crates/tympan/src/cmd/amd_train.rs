//! `tympan amd clips` (labelled VAD clips cut from evaluation calls) and `tympan amd train`
//! (the learned second opinion: clip features → classifiers, cross-validated, saved).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tympan_amd::clips::{ClipFeatures, FeatureSet};
use tympan_amd::corpus;
use tympan_audio::decode;
use tympan_audio::wav_write::{encode_wav, Codec};
use tympan_ml::{
    keep_labels_with_at_least, select_and_train, CandidateScore, ClassifierConfig, Dataset,
    LeftOutLabel, Metrics, Model,
};

/// Largest training set read by `tympan amd train` (files over all label folders).
pub const MAX_TRAIN_FILES: usize = 100_000;
/// Audio extensions `tympan amd train` reads.
const AUDIO_EXT: [&str; 5] = ["wav", "flac", "mp3", "ogg", "oga"];

#[derive(Args)]
pub struct ClipsArgs {
    /// Folder with fsdd/, librispeech-dev/ and speech-commands-yesno/.
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    /// Number of calls to build and cut.
    #[arg(long, default_value_t = 300)]
    pub calls: usize,
    /// Seed of the calls (use a different seed than `amd eval` to keep them held out).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Output folder: one subfolder per label (speech, beep, tone, music, other).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClassifierArg {
    /// All four; the best by mean cross-validated macro F1 is saved.
    All,
    /// Gaussian naive Bayes.
    Nb,
    /// Logistic regression.
    Lr,
    /// Random forest (100 trees).
    Rf,
    /// Support vector machine, RBF kernel.
    Svm,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FeaturesArg {
    /// Mean and standard deviation of 40 MFCCs plus the log duration (81 values).
    MeanStdDur,
    /// Mean of 40 MFCCs (the seed's summary).
    Mean,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Folder of labelled clips: each subfolder is a label and holds its audio files
    /// (WAV, FLAC, MP3, OGG; any rate; channels mixed down; the first 10 s of a file is used).
    #[arg(long)]
    pub data: PathBuf,
    /// Which classifier(s) to train.
    #[arg(long, value_enum, default_value = "all")]
    pub classifier: ClassifierArg,
    /// Clip summary.
    #[arg(long, value_enum, default_value = "mean-std-dur")]
    pub features: FeaturesArg,
    /// Cross-validation folds.
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Seed of the fold split and of the random forest / SVM.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write the model (JSON).
    #[arg(long, default_value = "amd-model.json")]
    pub out: PathBuf,
    /// Confusion-matrix image (PNG or SVG); default: next to the model, `<model>.confusion.png`.
    #[arg(long)]
    pub confusion: Option<PathBuf>,
    /// Held-out folder laid out like --data: the saved model is scored on it too.
    #[arg(long)]
    pub test: Option<PathBuf>,
    /// Skip files that cannot be decoded (listed in the report) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run_clips(a: ClipsArgs) -> anyhow::Result<()> {
    let sources = super::amd::load_sources(&a.data)?;
    let cases = corpus::build(&sources, a.calls, a.seed);
    std::fs::create_dir_all(&a.out).with_context(|| format!("{}", a.out.display()))?;
    let bar = progress(cases.len(), "cutting calls");
    let mut counts: Vec<(&str, usize)> = Vec::new();
    let mut straddling = 0;
    for case in &cases {
        for (label, clip) in corpus::cut_clips(case) {
            let Some(label) = label else {
                straddling += 1;
                continue;
            };
            let dir = a.out.join(label);
            std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
            let path = dir.join(format!("{}-{}ms.wav", case.name, clip.start_ms));
            let audio = tympan_audio::Audio::mono(corpus::RATE, clip.samples);
            std::fs::write(&path, encode_wav(&audio, Codec::Pcm16))
                .with_context(|| format!("{}", path.display()))?;
            match counts.iter_mut().find(|(l, _)| *l == label) {
                Some((_, n)) => *n += 1,
                None => counts.push((label, 1)),
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    counts.sort();
    let listed: Vec<String> = counts.iter().map(|(l, n)| format!("{l} {n}")).collect();
    println!(
        "{}: {} calls (seed {}) cut into clips: {}; {} clips straddling two kinds left out",
        a.out.display(),
        cases.len(),
        a.seed,
        listed.join(", "),
        straddling
    );
    Ok(())
}

fn progress(n: usize, what: &str) -> ProgressBar {
    ProgressBar::new(n as u64).with_style(
        ProgressStyle::with_template(&format!("{what:>14} {{bar:40}} {{pos}}/{{len}}"))
            .expect("valid template"),
    )
}

/// Feature rows of a labelled folder, with what was skipped or shortened.
struct Loaded {
    data: Dataset,
    truncated: usize,
    skipped: Vec<String>,
}

/// The label folders of `dir` (sorted) and their audio files (sorted).
fn label_folders(dir: &Path) -> anyhow::Result<Vec<(String, Vec<PathBuf>)>> {
    let mut out = Vec::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?;
    for e in entries {
        let p = e.with_context(|| format!("{}", dir.display()))?.path();
        if !p.is_dir() {
            continue;
        }
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .with_context(|| format!("{}: folder name is not UTF-8", p.display()))?
            .to_string();
        let mut files = Vec::new();
        for f in std::fs::read_dir(&p).with_context(|| format!("{}", p.display()))? {
            let f = f.with_context(|| format!("{}", p.display()))?.path();
            let audio = f
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| AUDIO_EXT.iter().any(|a| e.eq_ignore_ascii_case(a)));
            if f.is_file() && audio {
                files.push(f);
            }
        }
        files.sort();
        if !files.is_empty() {
            out.push((name, files));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Reads every file under the label folders of `dir` into feature rows. `names`, when given,
/// fixes the label order (a test folder must use the training labels); folders named in
/// `ignore` (labels left out of the model) are not read.
fn load_folder(
    dir: &Path,
    set: FeatureSet,
    names: Option<&[String]>,
    ignore: &[String],
    skip_bad: bool,
) -> anyhow::Result<Loaded> {
    let mut folders = label_folders(dir)?;
    folders.retain(|(n, _)| !ignore.contains(n));
    let label_names: Vec<String> = match names {
        Some(n) => n.to_vec(),
        None => folders.iter().map(|(n, _)| n.clone()).collect(),
    };
    if names.is_none() && label_names.len() < 2 {
        bail!(
            "{}: found {} label folder(s) with audio files ({:?}); need at least 2 subfolders, \
             one per label, each holding audio files",
            dir.display(),
            label_names.len(),
            label_names
        );
    }
    let total: usize = folders.iter().map(|(_, f)| f.len()).sum();
    if total > MAX_TRAIN_FILES {
        bail!(
            "{}: {total} files, above the limit of {MAX_TRAIN_FILES}",
            dir.display()
        );
    }
    let mut features = ClipFeatures::new(set);
    let (mut rows, mut labels, mut skipped) = (Vec::new(), Vec::new(), Vec::new());
    let mut truncated = 0;
    let bar = progress(total, "reading clips");
    for (name, files) in &folders {
        let Some(label) = label_names.iter().position(|n| n == name) else {
            bail!(
                "{}: label folder \"{name}\" is not one of the model's labels {label_names:?}",
                dir.display()
            );
        };
        for f in files {
            bar.inc(1);
            let row = decode::read_file(f)
                .map_err(anyhow::Error::from)
                .and_then(|a| features.row_of_audio(&a).map_err(anyhow::Error::from))
                .with_context(|| format!("{}", f.display()));
            match row {
                Ok((r, cut)) => {
                    truncated += cut as usize;
                    rows.push(r);
                    labels.push(label);
                }
                Err(e) if skip_bad => skipped.push(format!("{e:#}")),
                Err(e) => {
                    return Err(e.context("(use --skip-bad to leave such files out)"));
                }
            }
        }
    }
    bar.finish_and_clear();
    if rows.is_empty() {
        bail!("{}: no readable audio files", dir.display());
    }
    let data = Dataset::new(rows, labels, label_names)
        .with_context(|| format!("{}: building the dataset", dir.display()))?;
    Ok(Loaded {
        data,
        truncated,
        skipped,
    })
}

fn candidates(c: ClassifierArg, seed: u64) -> Vec<ClassifierConfig> {
    match c {
        ClassifierArg::All => tympan_ml::default_candidates(seed),
        ClassifierArg::Nb => vec![ClassifierConfig::gaussian_nb()],
        ClassifierArg::Lr => vec![ClassifierConfig::logistic_regression()],
        ClassifierArg::Rf => vec![ClassifierConfig::random_forest(seed)],
        ClassifierArg::Svm => vec![ClassifierConfig::svm_rbf(seed)],
    }
}

#[derive(Serialize)]
struct TrainOutput {
    data: String,
    features: &'static str,
    label_names: Vec<String>,
    class_counts: Vec<usize>,
    left_out_labels: Vec<LeftOutLabel>,
    truncated_files: usize,
    skipped_files: Vec<String>,
    cross_validation: Vec<CandidateScore>,
    chosen: &'static str,
    model: String,
    confusion_png: String,
    test: Option<Metrics>,
}

pub fn run_train(a: TrainArgs) -> anyhow::Result<()> {
    if a.folds < 2 {
        bail!("--folds {}: need at least 2", a.folds);
    }
    let set = match a.features {
        FeaturesArg::MeanStdDur => FeatureSet::MfccMeanStdDuration,
        FeaturesArg::Mean => FeatureSet::MfccMean,
    };
    let loaded = load_folder(&a.data, set, None, &[], a.skip_bad)?;
    // Cross-validation needs one example per fold of every label: train on the labels that
    // have them, and say which were left out.
    let (data, left_out) = keep_labels_with_at_least(&loaded.data, a.folds).map_err(|e| {
        let counts: Vec<String> = loaded
            .data
            .label_names
            .iter()
            .zip(loaded.data.class_counts())
            .map(|(l, n)| format!("label \"{l}\" has {n} file(s)"))
            .collect();
        anyhow::anyhow!(
            "{}: {}; {}-fold cross-validation needs at least {} per label and at least 2 such labels ({e})",
            a.data.display(),
            counts.join(", "),
            a.folds,
            a.folds
        )
    })?;
    for l in &left_out {
        eprintln!(
            "{}: left out {l} for {}-fold cross-validation",
            a.data.display(),
            a.folds
        );
    }
    let data = &data;
    let counts = data.class_counts();
    let configs = candidates(a.classifier, a.seed);
    let bar = progress(configs.len() * a.folds, "cross-validating");
    let selection = select_and_train(data, &configs, a.folds, a.seed, set.id(), |_| {
        bar.inc(a.folds as u64)
    })
    .context("model selection")?;
    bar.finish_and_clear();
    let (rows, bi, mut model) = (selection.scores, selection.chosen, selection.model);
    let chosen = &configs[bi];
    model.card.left_out_labels = left_out.clone();
    let ignore: Vec<String> = left_out.iter().map(|l| l.label.clone()).collect();
    let test = match &a.test {
        Some(dir) => {
            let t = load_folder(dir, set, Some(&data.label_names), &ignore, a.skip_bad)?;
            let m = model
                .evaluate(&t.data)
                .with_context(|| format!("scoring {}", dir.display()))?;
            model.card.metrics.insert("test".into(), m.clone());
            Some(m)
        }
        None => None,
    };
    let bytes = model.save_to_bytes().context("serialising the model")?;
    std::fs::write(&a.out, bytes).with_context(|| format!("{}", a.out.display()))?;
    let png = a.confusion.clone().unwrap_or_else(|| {
        let mut p = a.out.clone().into_os_string();
        p.push(".confusion.png");
        PathBuf::from(p)
    });
    let (matrix, title) = match &test {
        Some(m) => (
            &m.confusion,
            format!("{} on the test folder", chosen.kind()),
        ),
        None => (
            &rows[bi].pooled.confusion,
            format!("{} out-of-fold ({}-fold CV)", chosen.kind(), a.folds),
        ),
    };
    tympan_plot::confusion_matrix(&png, matrix, &data.label_names, &title)
        .with_context(|| format!("drawing {}", png.display()))?;
    let out = TrainOutput {
        data: a.data.display().to_string(),
        features: set.id(),
        label_names: data.label_names.clone(),
        class_counts: counts,
        left_out_labels: left_out,
        truncated_files: loaded.truncated,
        skipped_files: loaded.skipped,
        cross_validation: rows,
        chosen: chosen.kind(),
        model: a.out.display().to_string(),
        confusion_png: png.display().to_string(),
        test,
    };
    if a.json {
        return super::print_json(&out);
    }
    let counts: Vec<String> = out
        .label_names
        .iter()
        .zip(&out.class_counts)
        .map(|(l, n)| format!("{l} {n}"))
        .collect();
    println!("{}: {} ({})", out.data, counts.join(", "), out.features);
    for l in &out.left_out_labels {
        println!("  left out {l}");
    }
    if out.truncated_files > 0 {
        println!(
            "  {} files longer than 10 s: their first 10 s used",
            out.truncated_files
        );
    }
    for s in &out.skipped_files {
        println!("  skipped {s}");
    }
    println!(
        "  {:<20} {:>16} {:>14} {:>15}",
        "classifier",
        format!("{}-fold accuracy", a.folds),
        "macro F1",
        "pooled accuracy"
    );
    for r in &out.cross_validation {
        println!(
            "  {:<20} {:>9.1}% ± {:>4.1} {:>14.3} {:>14.1}%",
            r.classifier,
            100.0 * r.mean_accuracy,
            100.0 * r.std_accuracy,
            r.mean_macro_f1,
            100.0 * r.pooled.accuracy
        );
    }
    let shown = out
        .test
        .as_ref()
        .unwrap_or(&out.cross_validation[bi].pooled);
    println!(
        "  saved {} to {}; confusion matrix ({}) in {}",
        out.chosen,
        out.model,
        if out.test.is_some() {
            "test folder"
        } else {
            "out-of-fold"
        },
        out.confusion_png
    );
    if let Some(t) = &out.test {
        println!(
            "  test folder: accuracy {:.1}%, macro F1 {:.3} on {} clips",
            100.0 * t.accuracy,
            t.macro_f1,
            t.n
        );
    }
    print_confusion(&out.label_names, &shown.confusion);
    Ok(())
}

/// The confusion matrix as text (rows: truth, columns: predicted).
pub fn print_confusion(names: &[String], m: &[Vec<usize>]) {
    let w = names.iter().map(|n| n.len()).max().unwrap_or(4).max(6);
    print!("  {:>w$} |", "truth");
    for n in names {
        print!(" {n:>w$}");
    }
    println!();
    for (n, row) in names.iter().zip(m) {
        print!("  {n:>w$} |");
        for v in row {
            print!(" {v:>w$}");
        }
        println!();
    }
}

/// Loads a model written by `tympan amd train` and checks it carries clip features.
pub fn load_model(path: &Path) -> anyhow::Result<Arc<Model>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let model = Model::load_from_bytes(&bytes).with_context(|| format!("{}", path.display()))?;
    tympan_amd::advisor::model_feature_set(&model)
        .with_context(|| format!("{}", path.display()))?;
    Ok(Arc::new(model))
}
