//! Speaker embedders behind one trait, and the L2-normalised [`Embedding`] they return.

use serde::{Deserialize, Serialize};

use crate::error::{invalid, Result};

/// What an embedder is and what it needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbedderInfo {
    /// Short name of the model family, e.g. `"ge2e"`.
    pub kind: String,
    /// Sample rate the model runs at, Hz; [`Embedder::embed`] resamples other rates to it.
    pub sample_rate: u32,
    /// Embedding dimension.
    pub dim: usize,
    /// Fewest samples (at `sample_rate`) accepted; shorter input is an error.
    pub min_samples: usize,
    /// Length of one analysis window, samples at `sample_rate` (GE2E: 1.6 s partials). Input
    /// shorter than this is zero-padded and gives a weaker embedding.
    pub window_samples: usize,
}

/// A speaker embedder: mono PCM in, an L2-normalised embedding out. Implementations are pure
/// (no I/O, no clock) and deterministic: the same samples give the same embedding.
pub trait Embedder: Send + Sync {
    /// The embedder's sample rate, dimension and input needs.
    fn info(&self) -> EmbedderInfo;

    /// Embedding of `samples` (mono, nominally in [-1, 1]) already at
    /// [`EmbedderInfo::sample_rate`].
    fn embed_native(&self, samples: &[f32]) -> Result<Embedding>;

    /// Embedding of mono PCM at `sample_rate` Hz: resampled to the embedder's rate (rubato,
    /// `tympan_audio::resample`) when it differs, then [`embed_native`](Self::embed_native).
    fn embed(&self, samples: &[f32], sample_rate: u32) -> Result<Embedding> {
        let want = self.info().sample_rate;
        if sample_rate == want {
            self.embed_native(samples)
        } else {
            let resampled = tympan_audio::resample::resample(samples, sample_rate, want)?;
            self.embed_native(&resampled)
        }
    }
}

/// An L2-normalised speaker embedding (a d-vector, or a voiceprint once enrolled).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<f32>", into = "Vec<f32>")]
pub struct Embedding(Vec<f32>);

impl Embedding {
    /// Normalise `raw` to unit L2 norm. Errors on an empty vector, a non-finite value or a
    /// zero vector (nothing to normalise).
    pub fn normalize(raw: Vec<f32>) -> Result<Self> {
        if raw.is_empty() {
            return Err(invalid("embedding", "empty vector"));
        }
        if let Some(i) = raw.iter().position(|v| !v.is_finite()) {
            return Err(invalid("embedding", format!("value {i} is not finite")));
        }
        let norm = raw.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
        if norm == 0.0 {
            return Err(invalid("embedding", "zero vector has no direction"));
        }
        Ok(Embedding(
            raw.into_iter().map(|v| (v as f64 / norm) as f32).collect(),
        ))
    }

    /// The values (unit L2 norm).
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    /// Dimension.
    pub fn dim(&self) -> usize {
        self.0.len()
    }

    /// Cosine similarity with `other` (the dot product of two unit vectors), in [-1, 1].
    /// Errors when the dimensions differ.
    pub fn cosine(&self, other: &Embedding) -> Result<f64> {
        if self.dim() != other.dim() {
            return Err(invalid(
                "embedding",
                format!("dimensions differ: {} and {}", self.dim(), other.dim()),
            ));
        }
        let dot: f64 = self
            .0
            .iter()
            .zip(&other.0)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum();
        Ok(dot.clamp(-1.0, 1.0))
    }

    /// The L2-normalised mean of several embeddings (enrollment averaging: one voiceprint
    /// from the embeddings of several recordings, as resemblyzer's `embed_speaker`). Errors on
    /// an empty list, mixed dimensions or embeddings that cancel out.
    pub fn mean(items: &[Embedding]) -> Result<Embedding> {
        let first = items
            .first()
            .ok_or_else(|| invalid("embeddings", "nothing to average"))?;
        let mut acc = vec![0f64; first.dim()];
        for (n, e) in items.iter().enumerate() {
            if e.dim() != first.dim() {
                return Err(invalid(
                    "embeddings",
                    format!(
                        "embedding {n} has dimension {}, the first has {}",
                        e.dim(),
                        first.dim()
                    ),
                ));
            }
            for (a, &v) in acc.iter_mut().zip(&e.0) {
                *a += v as f64;
            }
        }
        let k = items.len() as f64;
        Embedding::normalize(acc.into_iter().map(|a| (a / k) as f32).collect())
    }
}

impl TryFrom<Vec<f32>> for Embedding {
    type Error = crate::VoiceIdError;
    fn try_from(v: Vec<f32>) -> Result<Self> {
        Embedding::normalize(v)
    }
}

impl From<Embedding> for Vec<f32> {
    fn from(e: Embedding) -> Self {
        e.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_gives_unit_norm_and_refuses_degenerate_vectors() {
        let e = Embedding::normalize(vec![3.0, 4.0]).unwrap();
        assert_eq!(e.as_slice(), &[0.6, 0.8]);
        assert!(Embedding::normalize(vec![]).is_err());
        assert!(Embedding::normalize(vec![0.0, 0.0]).is_err());
        assert!(Embedding::normalize(vec![1.0, f32::NAN]).is_err());
    }

    #[test]
    fn cosine_and_mean() {
        let a = Embedding::normalize(vec![1.0, 0.0]).unwrap();
        let b = Embedding::normalize(vec![0.0, 2.0]).unwrap();
        assert_eq!(a.cosine(&b).unwrap(), 0.0);
        assert!((a.cosine(&a).unwrap() - 1.0).abs() < 1e-12);
        let m = Embedding::mean(&[a.clone(), b.clone()]).unwrap();
        let h = std::f32::consts::FRAC_1_SQRT_2;
        assert!((m.as_slice()[0] - h).abs() < 1e-7 && (m.as_slice()[1] - h).abs() < 1e-7);
        let c = Embedding::normalize(vec![1.0, 0.0, 0.0]).unwrap();
        assert!(a.cosine(&c).is_err());
        assert!(Embedding::mean(&[a.clone(), c]).is_err());
        let neg = Embedding::normalize(vec![-1.0, 0.0]).unwrap();
        assert!(
            Embedding::mean(&[a, neg]).is_err(),
            "opposite vectors cancel"
        );
    }

    #[test]
    fn serde_round_trip_renormalises() {
        let e: Embedding = serde_json::from_str("[0.0, 2.0]").unwrap();
        assert_eq!(e.as_slice(), &[0.0, 1.0]);
        assert_eq!(serde_json::to_string(&e).unwrap(), "[0.0,1.0]");
        assert!(serde_json::from_str::<Embedding>("[0.0, 0.0]").is_err());
    }
}
