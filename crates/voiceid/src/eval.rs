//! Speaker-verification evaluation over a corpus of per-speaker recordings, as pure
//! functions: the shell decodes each file and calls [`analyse_utterance`]; [`evaluate`] builds
//! the trials and the metrics from the resulting records.
//!
//! # Protocol (deterministic)
//! * Speakers are sorted by id and split into `folds` groups by position (`i % folds`). For
//!   fold `f`, its speakers are the **targets**; the other folds' speakers are the impostor
//!   **cohort** of the score normalisation (so no target, and no impostor of a trial, is
//!   ever in its own cohort). Trials of every fold are pooled.
//! * Each target's utterances are sorted by id; **enrollment** takes them in order until
//!   their net speech reaches `enrollment_ms` (Voice ID: 30 s); the voiceprint is the
//!   L2-normalised mean of their embeddings (enrollment averaging). A speaker without enough
//!   speech is left out.
//! * The remaining utterances are the **test** audio, scored in two conditions:
//!   `utterance` (each utterance alone, whatever its length) and `segment` (consecutive
//!   utterances grouped until their net speech reaches `segment_ms`, Voice ID's 10 s; a
//!   shorter remainder is dropped). A segment's embedding is the L2-normalised mean of all
//!   its utterances' partial-window embeddings — what the encoder computes on the
//!   concatenated audio, up to the windows that would straddle two utterances.
//! * Every test item is scored against every target of its fold: genuine when the speakers
//!   match, impostor otherwise.
//! * Normalised scores use S-norm (configurable) with the cohort of every utterance embedding
//!   of the other folds' speakers.
//! * **Calibration** is cross-fitted: the logistic map applied to fold `f`'s trials is fitted
//!   on the other folds' trials, and the decision rates at the acceptance threshold (90) are
//!   reported on held-out folds. The calibration fitted on all trials is returned for storage.

use serde::{Deserialize, Serialize};

use crate::channel::{apply_channel, Channel};
use crate::embedder::Embedding;
use crate::error::{invalid, Result};
use crate::ge2e::{Ge2eEncoder, SAMPLE_RATE};
use crate::metrics::{metrics, rates_at, roc_points, Metrics, Trial};
use crate::score::{Calibration, NormKind, ScoreNorm, DEFAULT_ACCEPTANCE_THRESHOLD};
use crate::speech::net_speech;

/// One analysed recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UtteranceRecord {
    /// Speaker label.
    pub speaker: String,
    /// Utterance id (sort key within the speaker).
    pub id: String,
    /// Net speech after the channel, ms.
    pub net_speech_ms: f64,
    /// Duration, ms.
    pub duration_ms: f64,
    /// Utterance embedding (mean of the partial windows).
    pub embedding: Embedding,
    /// The partial-window embeddings.
    pub partials: Vec<Embedding>,
}

/// Channel, net speech and GE2E embeddings of one recording at `sample_rate`.
pub fn analyse_utterance(
    encoder: &Ge2eEncoder,
    speaker: &str,
    id: &str,
    samples: &[f32],
    sample_rate: u32,
    channel: Channel,
) -> Result<UtteranceRecord> {
    let (audio, rate) = apply_channel(samples, sample_rate, channel)?;
    let ns = net_speech(&audio, rate)?;
    let wide = if rate == SAMPLE_RATE {
        audio
    } else {
        tympan_audio::resample::resample(&audio, rate, SAMPLE_RATE)?
    };
    let wav = encoder.preprocess(&wide)?;
    let partials: Vec<Embedding> = encoder
        .partial_embeddings(&wav)?
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    let embedding = Embedding::mean(&partials)?;
    Ok(UtteranceRecord {
        speaker: speaker.to_owned(),
        id: id.to_owned(),
        net_speech_ms: ns.net_speech_ms,
        duration_ms: ns.duration_ms,
        embedding,
        partials,
    })
}

/// Evaluation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// Net speech of an enrollment, ms (30 000).
    pub enrollment_ms: f64,
    /// Net speech of a test segment, ms (10 000).
    pub segment_ms: f64,
    /// Speaker folds (≥ 2: targets of one fold, cohort from the others).
    pub folds: usize,
    /// The normalisation scored beside raw cosine (S-norm).
    pub norm: NormKind,
    /// Adaptive normalisation: only the top `n` cohort scores (None: all).
    pub top_n: Option<usize>,
    /// Acceptance threshold for the decision rates (90).
    pub acceptance_threshold: u8,
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            enrollment_ms: 30_000.0,
            segment_ms: 10_000.0,
            folds: 2,
            norm: NormKind::SNorm,
            top_n: None,
            acceptance_threshold: DEFAULT_ACCEPTANCE_THRESHOLD,
        }
    }
}

/// Metrics of one scoring of one condition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoredCondition {
    /// The similarity scored.
    pub similarity: NormKind,
    /// EER, minDCF, FAR at FRR 5 %.
    pub metrics: Metrics,
    /// FAR with cross-fitted calibration at the acceptance threshold.
    pub far_at_threshold: f64,
    /// FRR with cross-fitted calibration at the acceptance threshold.
    pub frr_at_threshold: f64,
    /// Calibration fitted on all trials of this condition (for storage with the model).
    pub calibration: Calibration,
    /// ROC points `(FAR, 1 − FRR)`, at most 200.
    pub roc: Vec<(f64, f64)>,
}

/// One test condition (`utterance` or `segment`), raw and normalised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConditionReport {
    /// `"utterance"` or `"segment"`.
    pub name: String,
    /// Test items scored.
    pub test_items: usize,
    /// Mean net speech of a test item, ms.
    pub mean_test_speech_ms: f64,
    /// Raw cosine.
    pub raw: ScoredCondition,
    /// With the configured normalisation.
    pub normalized: ScoredCondition,
}

/// The evaluation's results.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Settings used.
    pub config: EvalConfig,
    /// Speakers enrolled (targets over all folds).
    pub speakers_enrolled: usize,
    /// Speakers left out for lack of enrollment speech.
    pub speakers_skipped: Vec<String>,
    /// Mean net speech of an enrollment, ms.
    pub mean_enrollment_speech_ms: f64,
    /// Mean number of files averaged per enrollment.
    pub mean_enrollment_files: f64,
    /// Single utterances.
    pub utterance: ConditionReport,
    /// Segments of `segment_ms` net speech.
    pub segment: ConditionReport,
}

struct Target {
    fold: usize,
    voiceprint: Embedding,
    segments: Vec<(Embedding, f64)>,
    singles: Vec<(Embedding, f64)>,
}

/// One trial with its fold and the cohort-normalised score.
struct Scored {
    fold: usize,
    raw: Trial,
    norm: Trial,
}

/// Run the protocol (module docs) over analysed recordings.
pub fn evaluate(records: &[UtteranceRecord], config: &EvalConfig) -> Result<EvalReport> {
    if config.folds < 2 {
        return Err(invalid("folds", format!("{}: at least 2", config.folds)));
    }
    if config.norm == NormKind::None {
        return Err(invalid(
            "norm",
            "choose Z-, T- or S-norm to compare with raw",
        ));
    }
    if config.acceptance_threshold > 100 {
        return Err(invalid(
            "acceptance_threshold",
            format!("{} > 100", config.acceptance_threshold),
        ));
    }
    let mut speakers: Vec<&str> = records.iter().map(|r| r.speaker.as_str()).collect();
    speakers.sort_unstable();
    speakers.dedup();
    if speakers.len() < 2 * config.folds {
        return Err(invalid(
            "records",
            format!(
                "{} speakers; {} folds need at least {}",
                speakers.len(),
                config.folds,
                2 * config.folds
            ),
        ));
    }
    let mut targets: Vec<Option<Target>> = Vec::new();
    let mut skipped = Vec::new();
    let mut enroll_ms = Vec::new();
    let mut enroll_files = Vec::new();
    let mut by_speaker: Vec<Vec<&UtteranceRecord>> = Vec::new();
    for (si, spk) in speakers.iter().enumerate() {
        let mut utts: Vec<&UtteranceRecord> =
            records.iter().filter(|r| r.speaker == *spk).collect();
        utts.sort_by(|a, b| a.id.cmp(&b.id));
        by_speaker.push(utts.clone());
        let mut acc = 0.0;
        let mut n_enroll = 0;
        while n_enroll < utts.len() && acc < config.enrollment_ms {
            acc += utts[n_enroll].net_speech_ms;
            n_enroll += 1;
        }
        if acc < config.enrollment_ms || n_enroll == utts.len() {
            skipped.push(spk.to_string());
            targets.push(None);
            continue;
        }
        enroll_ms.push(acc);
        enroll_files.push(n_enroll as f64);
        let voiceprint = Embedding::mean(
            &utts[..n_enroll]
                .iter()
                .map(|u| u.embedding.clone())
                .collect::<Vec<_>>(),
        )?;
        let tests = &utts[n_enroll..];
        let singles = tests
            .iter()
            .map(|u| (u.embedding.clone(), u.net_speech_ms))
            .collect();
        let mut segments = Vec::new();
        let mut parts: Vec<Embedding> = Vec::new();
        let mut speech = 0.0;
        for u in tests {
            parts.extend(u.partials.iter().cloned());
            speech += u.net_speech_ms;
            if speech >= config.segment_ms {
                segments.push((Embedding::mean(&parts)?, speech));
                parts.clear();
                speech = 0.0;
            }
        }
        targets.push(Some(Target {
            fold: si % config.folds,
            voiceprint,
            segments,
            singles,
        }));
    }
    // Cohort of fold f: every utterance of speakers in other folds (enrolled or not).
    let cohorts: Vec<ScoreNorm> = (0..config.folds)
        .map(|f| {
            let items: Vec<Embedding> = by_speaker
                .iter()
                .enumerate()
                .filter(|(si, _)| si % config.folds != f)
                .flat_map(|(_, u)| u.iter().map(|r| r.embedding.clone()))
                .collect();
            ScoreNorm::new(config.norm, items, config.top_n)
        })
        .collect::<Result<_>>()?;

    let score_condition =
        |pick: &dyn Fn(&Target) -> &Vec<(Embedding, f64)>| -> Result<(Vec<Scored>, usize, f64)> {
            let mut out = Vec::new();
            let mut n_items = 0;
            let mut speech = 0.0;
            for (ti, t) in targets.iter().enumerate() {
                let Some(t) = t else { continue };
                for (x, ms) in pick(t) {
                    n_items += 1;
                    speech += ms;
                    for (ci, c) in targets.iter().enumerate() {
                        let Some(c) = c else { continue };
                        if c.fold != t.fold {
                            continue;
                        }
                        let raw = c.voiceprint.cosine(x)?;
                        let norm = cohorts[t.fold].normalize(raw, &c.voiceprint, x)?;
                        let genuine = ci == ti;
                        out.push(Scored {
                            fold: t.fold,
                            raw: Trial {
                                score: raw,
                                genuine,
                            },
                            norm: Trial {
                                score: norm,
                                genuine,
                            },
                        });
                    }
                }
            }
            Ok((
                out,
                n_items,
                if n_items > 0 {
                    speech / n_items as f64
                } else {
                    0.0
                },
            ))
        };

    let summarise = |name: &str, scored: (Vec<Scored>, usize, f64)| -> Result<ConditionReport> {
        let (trials, n_items, mean_ms) = scored;
        let one = |kind: NormKind, get: &dyn Fn(&Scored) -> Trial| -> Result<ScoredCondition> {
            let all: Vec<Trial> = trials.iter().map(get).collect();
            let m = metrics(&all)?;
            // Cross-fitted calibration: fit on the other folds, decide on this one.
            let (mut fa, mut fr, mut n_i, mut n_g) = (0.0, 0.0, 0usize, 0usize);
            for f in 0..config.folds {
                let train: Vec<Trial> = trials.iter().filter(|s| s.fold != f).map(get).collect();
                let test: Vec<Trial> = trials.iter().filter(|s| s.fold == f).map(get).collect();
                if test.is_empty() {
                    continue;
                }
                let cal = Calibration::fit(&train, kind, "")?;
                let thr = cal.similarity_for(config.acceptance_threshold as f64);
                let p = rates_at(&test, thr)?;
                let gi = test.iter().filter(|t| t.genuine).count();
                let ii = test.len() - gi;
                fa += p.far * ii as f64;
                fr += p.frr * gi as f64;
                n_i += ii;
                n_g += gi;
            }
            Ok(ScoredCondition {
                similarity: kind,
                metrics: m,
                far_at_threshold: fa / n_i.max(1) as f64,
                frr_at_threshold: fr / n_g.max(1) as f64,
                calibration: Calibration::fit(&all, kind, format!("{name} trials"))?,
                roc: roc_points(&all, 200)?,
            })
        };
        Ok(ConditionReport {
            name: name.to_owned(),
            test_items: n_items,
            mean_test_speech_ms: mean_ms,
            raw: one(NormKind::None, &|s: &Scored| s.raw)?,
            normalized: one(config.norm, &|s: &Scored| s.norm)?,
        })
    };

    let utterance = summarise("utterance", score_condition(&|t: &Target| &t.singles)?)?;
    let segment = summarise("segment", score_condition(&|t: &Target| &t.segments)?)?;
    let n = enroll_ms.len();
    Ok(EvalReport {
        config: config.clone(),
        speakers_enrolled: n,
        speakers_skipped: skipped,
        mean_enrollment_speech_ms: enroll_ms.iter().sum::<f64>() / n.max(1) as f64,
        mean_enrollment_files: enroll_files.iter().sum::<f64>() / n.max(1) as f64,
        utterance,
        segment,
    })
}
