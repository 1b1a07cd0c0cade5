//! From cosine similarity to a Voice ID score (0–100) and a decision.
//!
//! * **Score normalisation** (optional): a raw cosine `s` between a voiceprint `v` and a test
//!   embedding `x` is compared with the scores of an impostor *cohort* — Z-norm uses
//!   `cos(v, cohort)`, T-norm `cos(x, cohort)`, S-norm the mean of both normalised scores.
//!   With `top_n`, only the `n` highest cohort scores count (adaptive S-norm).
//! * **Calibration**: a logistic map `score = 100 · σ(a·s + b)` fitted on genuine and
//!   impostor trials, each class weighted to half the total (equal priors), so a score is the
//!   posterior probability of "same speaker", in percent, when both are equally likely.
//!   It is stored with the model as JSON ([`Calibration::to_json`]) and names the input it
//!   was fitted on (raw cosine or a normalisation), so a mismatch is refused.
//! * **Decision**: ACCEPT when the score reaches the acceptance threshold (Voice ID default
//!   90), else REJECT; NOT_ENOUGH_SPEECH when the audio had too little net speech.

use serde::{Deserialize, Serialize};

use crate::embedder::Embedding;
use crate::error::{invalid, Result};
use crate::metrics::Trial;

/// Voice ID's default acceptance threshold.
pub const DEFAULT_ACCEPTANCE_THRESHOLD: u8 = 90;
/// Voice ID's default fraud risk threshold.
pub const DEFAULT_RISK_THRESHOLD: u8 = 50;
/// Fewest cohort embeddings a normalisation accepts.
pub const MIN_COHORT: usize = 2;
/// Smallest cohort standard deviation used (avoids dividing by ~0 on a degenerate cohort).
pub const MIN_COHORT_STD: f64 = 1e-4;

/// Which normalisation a score went through.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormKind {
    /// Raw cosine similarity.
    #[default]
    None,
    /// Zero normalisation: statistics of the voiceprint against the cohort.
    ZNorm,
    /// Test normalisation: statistics of the test embedding against the cohort.
    TNorm,
    /// Symmetric normalisation: mean of the Z- and T-normalised scores.
    SNorm,
}

/// Mean and standard deviation of one embedding's cohort scores.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohortStats {
    /// Mean cosine with the cohort (or its top `n`).
    pub mean: f64,
    /// Standard deviation (at least [`MIN_COHORT_STD`]).
    pub std: f64,
}

/// Score normalisation against an impostor cohort.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreNorm {
    kind: NormKind,
    cohort: Vec<Embedding>,
    top_n: Option<usize>,
}

impl ScoreNorm {
    /// A normaliser. `kind` must not be `None`; the cohort needs at least [`MIN_COHORT`]
    /// embeddings of one dimension; `top_n`, if given, at least 2.
    pub fn new(kind: NormKind, cohort: Vec<Embedding>, top_n: Option<usize>) -> Result<Self> {
        if kind == NormKind::None {
            return Err(invalid("kind", "a normaliser needs Z-, T- or S-norm"));
        }
        if cohort.len() < MIN_COHORT {
            return Err(invalid(
                "cohort",
                format!("{} embeddings, at least {MIN_COHORT} needed", cohort.len()),
            ));
        }
        if let Some(i) = cohort.iter().position(|e| e.dim() != cohort[0].dim()) {
            return Err(invalid(
                "cohort",
                format!("embedding {i} has another dimension than the first"),
            ));
        }
        if let Some(n) = top_n {
            if n < 2 {
                return Err(invalid("top_n", format!("{n}: at least 2")));
            }
        }
        Ok(ScoreNorm {
            kind,
            cohort,
            top_n,
        })
    }

    /// The normalisation kind.
    pub fn kind(&self) -> NormKind {
        self.kind
    }

    /// Cohort statistics of `e` (for a voiceprint, computed once at enrollment).
    pub fn stats(&self, e: &Embedding) -> Result<CohortStats> {
        let mut s: Vec<f64> = self
            .cohort
            .iter()
            .map(|c| e.cosine(c))
            .collect::<Result<_>>()?;
        if let Some(n) = self.top_n {
            s.sort_by(|a, b| b.total_cmp(a));
            s.truncate(n);
        }
        let k = s.len() as f64;
        let mean = s.iter().sum::<f64>() / k;
        let var = s.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / k;
        Ok(CohortStats {
            mean,
            std: var.sqrt().max(MIN_COHORT_STD),
        })
    }

    /// Normalise the raw cosine `raw` of `voiceprint` against `test`.
    pub fn normalize(&self, raw: f64, voiceprint: &Embedding, test: &Embedding) -> Result<f64> {
        let z = |st: CohortStats| (raw - st.mean) / st.std;
        Ok(match self.kind {
            NormKind::None => raw,
            NormKind::ZNorm => z(self.stats(voiceprint)?),
            NormKind::TNorm => z(self.stats(test)?),
            NormKind::SNorm => 0.5 * (z(self.stats(voiceprint)?) + z(self.stats(test)?)),
        })
    }
}

/// Logistic calibration of a similarity to a 0–100 score; see the module docs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Slope `a` of `σ(a·s + b)`.
    pub slope: f64,
    /// Offset `b`.
    pub offset: f64,
    /// The similarity it was fitted on.
    pub input: NormKind,
    /// Genuine trials of the fit.
    pub genuine_trials: usize,
    /// Impostor trials of the fit.
    pub impostor_trials: usize,
    /// Free text: the model, data and conditions of the fit.
    #[serde(default)]
    pub fitted_on: String,
}

/// Newton iterations of the logistic fit (it converges in well under 30).
const FIT_ITERATIONS: usize = 100;
/// L2 penalty on the slope and offset (keeps separable trials from diverging).
const FIT_RIDGE: f64 = 1e-6;

impl Calibration {
    /// Fit `σ(a·s + b)` to trials by weighted logistic regression (Newton's method), genuine
    /// and impostor trials each weighing half. Errors without both kinds of trials or on a
    /// non-finite score.
    pub fn fit(trials: &[Trial], input: NormKind, fitted_on: impl Into<String>) -> Result<Self> {
        let g = trials.iter().filter(|t| t.genuine).count();
        let i = trials.len() - g;
        if g == 0 || i == 0 {
            return Err(invalid(
                "trials",
                format!("{g} genuine and {i} impostor trials; both kinds are needed"),
            ));
        }
        if let Some(k) = trials.iter().position(|t| !t.score.is_finite()) {
            return Err(invalid(
                "trials",
                format!("trial {k} has a non-finite score"),
            ));
        }
        let (wg, wi) = (0.5 / g as f64, 0.5 / i as f64);
        // Start from a scale that puts the class means at ±2.
        let mean = |want: bool| {
            let v: Vec<f64> = trials
                .iter()
                .filter(|t| t.genuine == want)
                .map(|t| t.score)
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        let (mg, mi) = (mean(true), mean(false));
        let spread = (mg - mi).abs().max(1e-6);
        let mut a = 4.0 / spread * if mg >= mi { 1.0 } else { -1.0 };
        let mut b = -a * (mg + mi) / 2.0;
        for _ in 0..FIT_ITERATIONS {
            // Gradient and Hessian of the weighted negative log-likelihood.
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 0.0, 0.0, 0.0);
            for t in trials {
                let w = if t.genuine { wg } else { wi };
                let y = if t.genuine { 1.0 } else { 0.0 };
                let p = 1.0 / (1.0 + (-(a * t.score + b)).exp());
                let r = w * (p - y);
                ga += r * t.score;
                gb += r;
                let h = w * p * (1.0 - p);
                haa += h * t.score * t.score;
                hab += h * t.score;
                hbb += h;
            }
            ga += FIT_RIDGE * a;
            gb += FIT_RIDGE * b;
            haa += FIT_RIDGE;
            hbb += FIT_RIDGE;
            let det = haa * hbb - hab * hab;
            if !(det.is_finite() && det > 0.0) {
                break;
            }
            let da = (hbb * ga - hab * gb) / det;
            let db = (haa * gb - hab * ga) / det;
            a -= da;
            b -= db;
            if da.abs() < 1e-10 * a.abs().max(1.0) && db.abs() < 1e-10 * b.abs().max(1.0) {
                break;
            }
        }
        Ok(Calibration {
            slope: a,
            offset: b,
            input,
            genuine_trials: g,
            impostor_trials: i,
            fitted_on: fitted_on.into(),
        })
    }

    /// The calibrated score as a real number in [0, 100].
    pub fn probability_percent(&self, similarity: f64) -> f64 {
        100.0 / (1.0 + (-(self.slope * similarity + self.offset)).exp())
    }

    /// The Voice ID score: [`probability_percent`](Self::probability_percent) rounded to an
    /// integer 0–100.
    pub fn score(&self, similarity: f64) -> u8 {
        let p = self.probability_percent(similarity);
        if p.is_nan() {
            0
        } else {
            p.round().clamp(0.0, 100.0) as u8
        }
    }

    /// The similarity whose calibrated score is `percent` (0 < percent < 100).
    pub fn similarity_for(&self, percent: f64) -> f64 {
        let p = (percent / 100.0).clamp(1e-12, 1.0 - 1e-12);
        ((p / (1.0 - p)).ln() - self.offset) / self.slope
    }

    /// Pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plain data serialises")
    }

    /// Read the JSON written by [`to_json`](Self::to_json); refuses a non-finite or
    /// non-positive slope.
    pub fn from_json(text: &str) -> Result<Self> {
        let c: Calibration = serde_json::from_str(text)?;
        if !(c.slope.is_finite() && c.slope > 0.0 && c.offset.is_finite()) {
            return Err(invalid(
                "slope",
                format!(
                    "slope {} / offset {} (slope must be finite and > 0)",
                    c.slope, c.offset
                ),
            ));
        }
        Ok(c)
    }
}

/// An authentication decision (the score-based part of Voice ID's `AuthenticationResult`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Decision {
    /// Score at or above the threshold.
    Accept,
    /// Score below the threshold.
    Reject,
    /// Too little net speech to decide.
    NotEnoughSpeech,
}

/// The outcome of comparing a voiceprint with test audio.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    /// Raw cosine similarity (absent when there was not enough speech).
    pub cosine: Option<f64>,
    /// The normalised similarity fed to the calibration (equal to `cosine` without a
    /// normaliser).
    pub similarity: Option<f64>,
    /// Score 0–100 (only for ACCEPT and REJECT, as Voice ID).
    pub score: Option<u8>,
    /// The decision.
    pub decision: Decision,
    /// The threshold applied.
    pub acceptance_threshold: u8,
    /// Net speech of the test audio, ms.
    pub net_speech_ms: f64,
}

/// Scores and decides: calibration, optional normalisation, acceptance threshold.
#[derive(Clone, Debug)]
pub struct Verifier {
    calibration: Calibration,
    norm: Option<ScoreNorm>,
    threshold: u8,
}

impl Verifier {
    /// A verifier. The calibration must have been fitted on the similarity `norm` produces
    /// (raw cosine without one); the threshold is 0–100.
    pub fn new(calibration: Calibration, norm: Option<ScoreNorm>, threshold: u8) -> Result<Self> {
        let kind = norm.as_ref().map_or(NormKind::None, ScoreNorm::kind);
        if calibration.input != kind {
            return Err(invalid(
                "calibration",
                format!(
                    "fitted on {:?} similarities, but the verifier produces {kind:?}",
                    calibration.input
                ),
            ));
        }
        if threshold > 100 {
            return Err(invalid(
                "acceptance_threshold",
                format!("{threshold} > 100"),
            ));
        }
        Ok(Verifier {
            calibration,
            norm,
            threshold,
        })
    }

    /// The similarity the calibration sees for `voiceprint` against `test`.
    pub fn similarity(&self, voiceprint: &Embedding, test: &Embedding) -> Result<(f64, f64)> {
        let cos = voiceprint.cosine(test)?;
        let sim = match &self.norm {
            Some(n) => n.normalize(cos, voiceprint, test)?,
            None => cos,
        };
        Ok((cos, sim))
    }

    /// Decide: NOT_ENOUGH_SPEECH when `net_speech_ms` is below `required_ms`, else the
    /// calibrated score against the threshold.
    pub fn verify(
        &self,
        voiceprint: &Embedding,
        test: &Embedding,
        net_speech_ms: f64,
        required_ms: f64,
    ) -> Result<Verification> {
        if net_speech_ms < required_ms {
            return Ok(Verification {
                cosine: None,
                similarity: None,
                score: None,
                decision: Decision::NotEnoughSpeech,
                acceptance_threshold: self.threshold,
                net_speech_ms,
            });
        }
        let (cos, sim) = self.similarity(voiceprint, test)?;
        let score = self.calibration.score(sim);
        Ok(Verification {
            cosine: Some(cos),
            similarity: Some(sim),
            score: Some(score),
            decision: if score >= self.threshold {
                Decision::Accept
            } else {
                Decision::Reject
            },
            acceptance_threshold: self.threshold,
            net_speech_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(v: &[f32]) -> Embedding {
        Embedding::normalize(v.to_vec()).unwrap()
    }

    #[test]
    fn fit_recovers_a_known_logistic_model() {
        // Scores on a grid, labels drawn so that P(genuine | s) = σ(8 s − 4) exactly in
        // expectation: genuine weight σ, impostor weight 1 − σ, as fractional replicas.
        let mut trials = Vec::new();
        for k in 0..=100 {
            let s = k as f64 / 100.0;
            let p = 1.0 / (1.0 + (-(8.0 * s - 4.0)).exp());
            let ng = (p * 1000.0).round() as usize;
            for _ in 0..ng {
                trials.push(Trial {
                    score: s,
                    genuine: true,
                });
            }
            for _ in 0..(1000 - ng) {
                trials.push(Trial {
                    score: s,
                    genuine: false,
                });
            }
        }
        let c = Calibration::fit(&trials, NormKind::None, "grid").unwrap();
        // Classes are balanced by construction (symmetric σ), so the weighting changes nothing.
        assert!((c.slope - 8.0).abs() < 0.05, "{c:?}");
        assert!((c.offset + 4.0).abs() < 0.03, "{c:?}");
        assert_eq!(c.score(0.5), 50);
        assert!((c.similarity_for(50.0) - 0.5).abs() < 0.01);
        let back = Calibration::from_json(&c.to_json()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn class_weighting_balances_unequal_counts() {
        // Separable-ish data with 10× more impostors: the 50 % point stays between classes.
        let mut trials = Vec::new();
        for k in 0..10 {
            trials.push(Trial {
                score: 0.7 + 0.01 * k as f64,
                genuine: true,
            });
        }
        for k in 0..100 {
            trials.push(Trial {
                score: 0.2 + 0.004 * k as f64,
                genuine: false,
            });
        }
        trials.push(Trial {
            score: 0.65,
            genuine: false,
        });
        trials.push(Trial {
            score: 0.62,
            genuine: true,
        });
        let c = Calibration::fit(&trials, NormKind::None, "").unwrap();
        let mid = c.similarity_for(50.0);
        assert!(mid > 0.55 && mid < 0.72, "{mid} {c:?}");
        assert!(c.score(0.9) >= 95 && c.score(0.2) <= 5);
        assert!(Calibration::fit(&trials[..10], NormKind::None, "").is_err());
    }

    #[test]
    fn from_json_refuses_bad_slopes() {
        let bad = r#"{"slope": -1.0, "offset": 0.0, "input": "none", "genuine_trials": 1, "impostor_trials": 1}"#;
        assert!(Calibration::from_json(bad)
            .unwrap_err()
            .to_string()
            .contains("slope"));
        assert!(Calibration::from_json("{").is_err());
    }

    #[test]
    fn norms_and_decisions() {
        let cohort = vec![
            e(&[1.0, 0.0, 0.0]),
            e(&[0.0, 1.0, 0.0]),
            e(&[0.0, 0.0, 1.0]),
        ];
        let n = ScoreNorm::new(NormKind::SNorm, cohort.clone(), None).unwrap();
        let v = e(&[1.0, 1.0, 0.0]);
        let x = e(&[1.0, 0.9, 0.1]);
        let raw = v.cosine(&x).unwrap();
        let sv = n.stats(&v).unwrap();
        let sx = n.stats(&x).unwrap();
        let want = 0.5 * ((raw - sv.mean) / sv.std + (raw - sx.mean) / sx.std);
        assert!((n.normalize(raw, &v, &x).unwrap() - want).abs() < 1e-12);
        let z = ScoreNorm::new(NormKind::ZNorm, cohort.clone(), None).unwrap();
        assert!((z.normalize(raw, &v, &x).unwrap() - (raw - sv.mean) / sv.std).abs() < 1e-12);
        // Top-2 keeps the two highest cohort scores of v: both 1/√2.
        let top = ScoreNorm::new(NormKind::ZNorm, cohort.clone(), Some(2)).unwrap();
        let st = top.stats(&v).unwrap();
        assert!((st.mean - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-7);
        assert_eq!(st.std, MIN_COHORT_STD);
        assert!(ScoreNorm::new(NormKind::None, cohort.clone(), None).is_err());
        assert!(ScoreNorm::new(NormKind::SNorm, cohort[..1].to_vec(), None).is_err());

        let cal = Calibration {
            slope: 10.0,
            offset: -5.0,
            input: NormKind::None,
            genuine_trials: 1,
            impostor_trials: 1,
            fitted_on: String::new(),
        };
        assert!(
            Verifier::new(cal.clone(), Some(n), 90).is_err(),
            "input mismatch"
        );
        let ver = Verifier::new(cal.clone(), None, 90).unwrap();
        let same = ver.verify(&v, &v, 12_000.0, 10_000.0).unwrap();
        assert_eq!(same.decision, Decision::Accept);
        assert_eq!(same.score, Some(cal.score(1.0)));
        let other = ver
            .verify(&v, &e(&[0.0, 0.0, 1.0]), 12_000.0, 10_000.0)
            .unwrap();
        assert_eq!((other.decision, other.score), (Decision::Reject, Some(1)));
        let short = ver.verify(&v, &v, 9_000.0, 10_000.0).unwrap();
        assert_eq!(
            (short.decision, short.score),
            (Decision::NotEnoughSpeech, None)
        );
        assert_eq!(
            serde_json::to_value(Decision::NotEnoughSpeech).unwrap(),
            "NOT_ENOUGH_SPEECH"
        );
    }
}
