//! The learned second opinion: every VAD clip of the call is classified by a model trained
//! with `tympan amd train` (clip features from [`crate::clips`]), and the label comes out as
//! advice. The DSP detector keeps the decision; advice never changes `answered_by` (the issue's
//! and the seed's experience: MFCC statistics alone mislabel real greetings).
//!
//! Pure: samples in, advice out. The model is shared (`Arc`) between the calls of a server.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tympan_ml::Model;

use crate::clips::{ClipCutter, ClipFeatures, ClipRules, FeatureSet};

/// What the model said about one clip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClipAdvice {
    /// Clip start, ms of audio.
    pub start_ms: u64,
    /// Clip end, ms of audio.
    pub end_ms: u64,
    /// Predicted class name (a subfolder name of the training data, e.g. `beep`).
    pub label: String,
    /// The predicted class's score: a probability for naive Bayes and logistic regression, the
    /// share of tree votes for random forest, the decision value for SVM.
    pub score: f64,
}

/// Why a model cannot advise.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AdvisorError {
    #[error(
        "model features are \"{0}\", not clip features from `tympan amd train` \
         (expected one of: \"{1}\", \"{2}\")"
    )]
    UnknownFeatures(String, &'static str, &'static str),
    #[error("model expects {model} features per row but \"{set}\" gives {dim}")]
    Dimension {
        model: usize,
        set: &'static str,
        dim: usize,
    },
    #[error("clip cutter: {0}")]
    Audio(String),
    /// The bytes are not a model file (`tympan_ml::Model::load_from_bytes` refused them).
    #[error("not a model file: {0}")]
    Model(String),
}

/// Feature set named by a model card, checked against the model's row length.
pub fn model_feature_set(model: &Model) -> Result<FeatureSet, AdvisorError> {
    let id = &model.card.feature_description;
    let set = FeatureSet::from_id(id).ok_or_else(|| {
        AdvisorError::UnknownFeatures(
            id.clone(),
            FeatureSet::MfccMeanStdDuration.id(),
            FeatureSet::MfccMean.id(),
        )
    })?;
    if set.dim() != model.card.n_features {
        return Err(AdvisorError::Dimension {
            model: model.card.n_features,
            set: set.id(),
            dim: set.dim(),
        });
    }
    Ok(set)
}

/// Decode a model file written by `tympan amd train` (the bytes of its JSON card + weights) and
/// check that it was trained on clip features this advisor computes, so a wrong model is
/// refused when it is loaded, not when the first call starts. The server and the CLI both load
/// models through this function; reading the file is theirs.
pub fn load_model_bytes(bytes: &[u8]) -> Result<Arc<Model>, AdvisorError> {
    let model = Model::load_from_bytes(bytes).map_err(|e| AdvisorError::Model(e.to_string()))?;
    model_feature_set(&model)?;
    Ok(Arc::new(model))
}

/// Streaming clip classifier for one call.
pub struct Advisor {
    model: Arc<Model>,
    rate: u32,
    cutter: ClipCutter,
    features: ClipFeatures,
    /// Samples of one 10 ms frame of the cutter.
    frame_len: usize,
    /// Samples already pushed into the cutter's current frame.
    fill: usize,
    /// Advice with the audio time (ms) at which its clip was cut.
    out: Vec<(u64, ClipAdvice)>,
}

impl Advisor {
    /// An advisor for mono audio at `sample_rate` (8 or 16 kHz) using `model`.
    pub fn new(model: Arc<Model>, sample_rate: u32) -> Result<Self, AdvisorError> {
        let set = model_feature_set(&model)?;
        let cutter = ClipCutter::new(sample_rate, ClipRules::default())
            .map_err(|e| AdvisorError::Audio(e.to_string()))?;
        Ok(Advisor {
            model,
            rate: sample_rate,
            cutter,
            features: ClipFeatures::new(set),
            frame_len: (sample_rate / 100) as usize,
            fill: 0,
            out: Vec::new(),
        })
    }

    /// Feed samples (any chunk size); clips that end here are classified at once.
    ///
    /// The samples go to the cutter frame by frame, and each clip is stamped with the audio
    /// time of the frame that closed it, so the stamps do not depend on the chunking.
    pub fn push(&mut self, samples: &[f32]) {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (self.frame_len - self.fill).min(rest.len());
            self.cutter.push(&rest[..take]);
            rest = &rest[take..];
            self.fill += take;
            if self.fill == self.frame_len {
                self.fill = 0;
                self.classify();
            }
        }
    }

    /// End of stream: the open clip (if long enough) is classified.
    pub fn finish(&mut self) {
        self.cutter.finish();
        self.classify();
    }

    /// Advice produced since the last call, oldest first.
    pub fn take(&mut self) -> Vec<ClipAdvice> {
        self.take_timed().into_iter().map(|(_, a)| a).collect()
    }

    /// Advice produced since the last call, oldest first, each with the audio time (ms from
    /// the start of the stream, counted in whole 10 ms frames) at which its clip was cut:
    /// 300 ms of silence after the clip, the 10 s cap, or the end of the stream.
    pub fn take_timed(&mut self) -> Vec<(u64, ClipAdvice)> {
        std::mem::take(&mut self.out)
    }

    fn classify(&mut self) {
        let cut_ms = self.cutter.audio_ms();
        for clip in self.cutter.take() {
            // Clips are at least 200 ms of audio, so features exist; a failure would be a bug in
            // the extractor, and advice is optional: skip the clip rather than stop the call.
            let Ok(row) = self.features.row(&clip.samples, self.rate) else {
                continue;
            };
            let Ok(scores) = self.model.scores(std::slice::from_ref(&row)) else {
                continue;
            };
            let Some(s) = scores.first() else { continue };
            let mut best = 0;
            for (i, v) in s.iter().enumerate() {
                if *v > s[best] {
                    best = i;
                }
            }
            let score = s[best];
            self.out.push((
                cut_ms,
                ClipAdvice {
                    start_ms: clip.start_ms,
                    end_ms: clip.end_ms,
                    label: self.model.card.label_names[best].clone(),
                    score,
                },
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tympan_audio::synth;
    use tympan_ml::{ClassifierConfig, Dataset, TrainOptions};

    /// A model trained on tones (label `beep`) against noise bursts (label `noise`).
    fn tone_noise_model(set: FeatureSet) -> Model {
        let mut f = ClipFeatures::new(set);
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for i in 0..12 {
            let freq = 400.0 + 150.0 * i as f32;
            rows.push(f.row(&synth::sine(8000, freq, 400.0, -15.0), 8000).unwrap());
            labels.push(0);
            let noise = synth::white_noise(8000, 400.0, -20.0, i as u64 + 1);
            rows.push(f.row(&noise, 8000).unwrap());
            labels.push(1);
        }
        let data = Dataset::new(rows, labels, vec!["beep".into(), "noise".into()]).unwrap();
        Model::train(
            &data,
            &TrainOptions::new(ClassifierConfig::logistic_regression()),
            set.id(),
        )
        .unwrap()
    }

    #[test]
    fn advice_labels_each_clip_of_a_stream() {
        let model = Arc::new(tone_noise_model(FeatureSet::MfccMeanStdDuration));
        for rate in [8000u32, 16000] {
            let mut x = synth::silence(rate, 400.0);
            x.extend(synth::sine(rate, 1234.0, 500.0, -12.0));
            x.extend(synth::silence(rate, 600.0));
            x.extend(synth::white_noise(rate, 500.0, -18.0, 99));
            x.extend(synth::silence(rate, 600.0));
            let mut a = Advisor::new(model.clone(), rate).unwrap();
            for part in x.chunks(317) {
                a.push(part);
            }
            a.finish();
            let advice = a.take();
            assert_eq!(advice.len(), 2, "rate {rate}: {advice:?}");
            assert_eq!(advice[0].label, "beep");
            assert_eq!(advice[1].label, "noise");
            assert!(advice[0].start_ms.abs_diff(400) <= 30);
            assert!(advice[1].start_ms.abs_diff(1500) <= 30);
            assert!(advice.iter().all(|c| c.score > 0.5 && c.score <= 1.0));
            assert!(a.take().is_empty());
        }
    }

    #[test]
    fn models_of_other_features_are_refused() {
        let mut m = tone_noise_model(FeatureSet::MfccMean);
        assert!(Advisor::new(Arc::new(tone_noise_model(FeatureSet::MfccMean)), 8000).is_ok());
        m.card.feature_description = "mean of 40 MFCCs at 22050 Hz".into();
        let err = Advisor::new(Arc::new(m), 8000).err().unwrap();
        assert!(matches!(err, AdvisorError::UnknownFeatures(..)), "{err}");
        let mut m = tone_noise_model(FeatureSet::MfccMean);
        m.card.feature_description = FeatureSet::MfccMeanStdDuration.id().into();
        let err = Advisor::new(Arc::new(m), 8000).err().unwrap();
        assert!(
            matches!(err, AdvisorError::Dimension { model: 40, .. }),
            "{err}"
        );
        let err = Advisor::new(Arc::new(tone_noise_model(FeatureSet::MfccMean)), 11025)
            .err()
            .unwrap();
        assert!(matches!(err, AdvisorError::Audio(_)), "{err}");
    }

    #[test]
    fn cut_times_do_not_depend_on_chunking() {
        let model = Arc::new(tone_noise_model(FeatureSet::MfccMeanStdDuration));
        let mut x = synth::silence(8000, 400.0);
        x.extend(synth::sine(8000, 1234.0, 500.0, -12.0));
        x.extend(synth::silence(8000, 600.0));
        x.extend(synth::white_noise(8000, 500.0, -18.0, 99));
        x.extend(synth::silence(8000, 600.0));
        let run = |chunk: usize| {
            let mut a = Advisor::new(model.clone(), 8000).unwrap();
            for part in x.chunks(chunk) {
                a.push(part);
            }
            a.finish();
            a.take_timed()
        };
        let want = run(160);
        assert_eq!(want.len(), 2, "{want:?}");
        for (cut, adv) in &want {
            // Cut after 300 ms of silence following the clip, in whole frames.
            assert_eq!(*cut, adv.end_ms + 300, "{adv:?}");
        }
        assert_eq!(run(37), want);
        assert_eq!(run(8000), want);
        assert_eq!(run(x.len()), want);
    }

    #[test]
    fn model_bytes_load_and_wrong_models_are_refused() {
        let m = tone_noise_model(FeatureSet::MfccMeanStdDuration);
        let bytes = m.save_to_bytes().unwrap();
        let back = load_model_bytes(&bytes).unwrap();
        assert_eq!(back.card.label_names, m.card.label_names);
        let err = load_model_bytes(b"{not a model").unwrap_err();
        assert!(matches!(err, AdvisorError::Model(_)), "{err}");
        let mut other = Model::load_from_bytes(&bytes).unwrap();
        other.card.feature_description = "mean of 40 MFCCs at 22050 Hz".into();
        let err = load_model_bytes(&other.save_to_bytes().unwrap()).unwrap_err();
        assert!(matches!(err, AdvisorError::UnknownFeatures(..)), "{err}");
    }
}
