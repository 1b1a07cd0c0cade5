//! The learned second opinion's front half: a VAD clip cutter and the clip feature vector.
//!
//! The cutter follows the seed's rules (`../shared/SEEDS.md` §4): a clip starts at the first
//! active 10 ms frame, ends once [`ClipRules::end_silence_ms`] of inactive frames follow its last
//! active frame, is dropped when shorter than [`ClipRules::min_ms`] and is cut at
//! [`ClipRules::max_ms`]. A frame is *active* when the aggressive (mode 3) VAD with tone
//! rejection off calls it speech, or when its level stands [`ACTIVE_ABOVE_FLOOR_DB`] over a
//! slowly rising floor (and above [`ACTIVE_MIN_DBM0`]). The second test keeps a steady beep
//! active after the VAD has taken it for background (it does so after about 300 ms), so beeps
//! and tones make whole clips as speech does: telling them apart is the classifier's job.
//!
//! Features are always computed on 8 kHz audio (16 kHz input is resampled per clip), so a model
//! trained on one rate serves both: 40 MFCCs (25 ms Hann window, 10 ms hop, 40 Slaney mels over
//! 20–4000 Hz, dB, orthonormal DCT), summarised per clip as described by [`FeatureSet`].
//!
//! Pure: samples in, clips out; no clock, no I/O.

use tympan_audio::features::{MfccParams, OnlineMfcc};
use tympan_audio::pcm::Framer;
use tympan_audio::vad::{Vad, VadConfig};
use tympan_audio::{resample, AudioError};

/// Rate the features are computed at.
pub const FEATURE_RATE: u32 = 8000;
/// MFCCs per frame.
pub const N_MFCC: usize = 40;
/// Longest clip (ms); longer speech is cut into several clips. Also the most audio of one
/// training file that `tympan amd train` reads.
pub const MAX_CLIP_MS: u64 = 10_000;
const FRAME_MS: u64 = 10;
/// A frame this far above the floor is active (dB).
pub const ACTIVE_ABOVE_FLOOR_DB: f32 = 9.0;
/// Quietest active frame, dBm0.
pub const ACTIVE_MIN_DBM0: f32 = -50.0;
/// Fastest rise of the floor, dB per 10 ms frame (3 dB/s): a steady tone stays active for
/// several seconds. The floor falls at once to a quieter frame.
const FLOOR_RISE_DB: f32 = 0.03;
/// Lowest floor, dBm0 (digital silence does not sink it out of reach).
const MIN_FLOOR_DBM0: f32 = -75.0;

/// Clip-cutting rules (the seed's values by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClipRules {
    /// Inactive time after the last active frame that ends a clip (300 ms).
    pub end_silence_ms: u64,
    /// Clips shorter than this are dropped (200 ms).
    pub min_ms: u64,
    /// Clips are cut at this length (10 s, at most [`MAX_CLIP_MS`]).
    pub max_ms: u64,
}

impl Default for ClipRules {
    fn default() -> Self {
        ClipRules {
            end_silence_ms: 300,
            min_ms: 200,
            max_ms: MAX_CLIP_MS,
        }
    }
}

/// A finished clip: its audio (at the input rate) and where it lies in the stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    /// Start of the first active frame, ms from the start of the stream.
    pub start_ms: u64,
    /// End of the last active frame, ms.
    pub end_ms: u64,
    /// Samples from `start_ms` to `end_ms` at the input rate.
    pub samples: Vec<f32>,
}

/// Streaming VAD clip cutter (see the module docs).
pub struct ClipCutter {
    rules: ClipRules,
    vad: Vad,
    frame_len: usize,
    framer: Framer,
    /// Frames seen so far.
    frames: u64,
    /// Level floor, dBm0 (None before the first frame).
    floor: Option<f32>,
    /// Open clip: first frame index, and audio up to the newest frame.
    open: Option<(u64, Vec<f32>)>,
    /// Frame index just after the open clip's last active frame.
    last_active_end: u64,
    out: Vec<Clip>,
}

impl ClipCutter {
    /// A cutter for mono audio at 8 or 16 kHz.
    pub fn new(sample_rate: u32, rules: ClipRules) -> Result<Self, AudioError> {
        if sample_rate != 8000 && sample_rate != 16000 {
            return Err(AudioError::InvalidParam {
                name: "sample_rate",
                why: format!("clip cutter takes 8000 or 16000 Hz, not {sample_rate}"),
            });
        }
        if rules.max_ms == 0 || rules.max_ms > MAX_CLIP_MS || rules.min_ms > rules.max_ms {
            return Err(AudioError::InvalidParam {
                name: "clip_rules",
                why: format!(
                    "min_ms {} / max_ms {}: need 0 < max_ms <= {MAX_CLIP_MS} and min_ms <= max_ms",
                    rules.min_ms, rules.max_ms
                ),
            });
        }
        let vad = Vad::new(
            sample_rate,
            VadConfig {
                frame_ms: FRAME_MS as u32,
                mode: 3,
                reject_tones: false,
                ..VadConfig::default()
            },
        )?;
        let frame_len = (sample_rate as u64 * FRAME_MS / 1000) as usize;
        Ok(ClipCutter {
            rules,
            vad,
            frame_len,
            framer: Framer::new(frame_len),
            frames: 0,
            floor: None,
            open: None,
            last_active_end: 0,
            out: Vec::new(),
        })
    }

    /// Feed samples (any chunk size). Finished clips are collected by [`ClipCutter::take`].
    pub fn push(&mut self, samples: &[f32]) {
        let mut framer = std::mem::take(&mut self.framer);
        framer.push(samples, |frame| self.on_frame(frame));
        self.framer = framer;
    }

    fn on_frame(&mut self, frame: &[f32]) {
        self.vad.push(frame);
        let level = tympan_audio::synth::level_dbm0(frame);
        let floor = match self.floor {
            Some(f) if level >= f => f + (level - f).min(FLOOR_RISE_DB),
            _ => level,
        }
        .max(MIN_FLOOR_DBM0);
        self.floor = Some(floor);
        let loud = level >= ACTIVE_MIN_DBM0 && level >= floor + ACTIVE_ABOVE_FLOOR_DB;
        let active = self.vad.last_frame_is_speech() || loud;
        let idx = self.frames;
        self.frames += 1;
        match &mut self.open {
            None if active => {
                self.open = Some((idx, frame.to_vec()));
                self.last_active_end = idx + 1;
            }
            None => {}
            Some((_, audio)) => {
                audio.extend_from_slice(frame);
                if active {
                    self.last_active_end = idx + 1;
                }
            }
        }
        if let Some((start, _)) = &self.open {
            let len_ms = (self.last_active_end - start) * FRAME_MS;
            let silent_ms = (self.frames - self.last_active_end) * FRAME_MS;
            if silent_ms >= self.rules.end_silence_ms || len_ms >= self.rules.max_ms {
                self.close();
            }
        }
    }

    fn close(&mut self) {
        if let Some((start, mut audio)) = self.open.take() {
            let frames = self.last_active_end - start;
            let len_ms = frames * FRAME_MS;
            if len_ms >= self.rules.min_ms {
                audio.truncate(frames as usize * self.frame_len);
                self.out.push(Clip {
                    start_ms: start * FRAME_MS,
                    end_ms: self.last_active_end * FRAME_MS,
                    samples: audio,
                });
            }
        }
    }

    /// End of stream: close the open clip (if long enough).
    pub fn finish(&mut self) {
        self.close();
    }

    /// Clips finished since the last call, oldest first.
    pub fn take(&mut self) -> Vec<Clip> {
        std::mem::take(&mut self.out)
    }

    /// Audio time pushed so far, in whole frames (ms).
    pub fn audio_ms(&self) -> u64 {
        self.frames * FRAME_MS
    }
}

/// How a clip becomes one feature row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureSet {
    /// Mean of the 40 MFCCs over the clip's frames (the seed's summary, at 8 kHz).
    MfccMean,
    /// Mean and standard deviation of the 40 MFCCs, plus the natural log of the clip length in
    /// seconds: 81 values. The default: a steady tone and speech can share a mean spectrum, but
    /// not its spread over time.
    MfccMeanStdDuration,
}

impl FeatureSet {
    /// Values per row.
    pub fn dim(self) -> usize {
        match self {
            FeatureSet::MfccMean => N_MFCC,
            FeatureSet::MfccMeanStdDuration => 2 * N_MFCC + 1,
        }
    }

    /// Stable identifier stored in model files (`ModelCard::feature_description`).
    pub fn id(self) -> &'static str {
        match self {
            FeatureSet::MfccMean => "tympan-amd clip v1: mean of 40 MFCC at 8 kHz",
            FeatureSet::MfccMeanStdDuration => {
                "tympan-amd clip v1: mean+std of 40 MFCC at 8 kHz, ln(duration s)"
            }
        }
    }

    /// The feature set a model card names, if any.
    pub fn from_id(id: &str) -> Option<FeatureSet> {
        [FeatureSet::MfccMean, FeatureSet::MfccMeanStdDuration]
            .into_iter()
            .find(|f| f.id() == id)
    }

    /// Short name for the CLI (`mean`, `mean-std-dur`).
    pub fn name(self) -> &'static str {
        match self {
            FeatureSet::MfccMean => "mean",
            FeatureSet::MfccMeanStdDuration => "mean-std-dur",
        }
    }
}

/// Computes clip feature rows; keeps its MFCC tables between clips.
pub struct ClipFeatures {
    set: FeatureSet,
    mfcc: OnlineMfcc,
    frames: Vec<f32>,
}

impl ClipFeatures {
    /// An extractor for `set`.
    pub fn new(set: FeatureSet) -> Self {
        let mut params = MfccParams::telephone(FEATURE_RATE).with_n_mfcc(N_MFCC);
        params.db.top_db = None;
        ClipFeatures {
            set,
            mfcc: OnlineMfcc::new(params).expect("telephone MFCC parameters are valid"),
            frames: Vec::new(),
        }
    }

    /// The feature set in use.
    pub fn set(&self) -> FeatureSet {
        self.set
    }

    /// One row for a clip file's audio: channels mixed down, only the first [`MAX_CLIP_MS`]
    /// used. Returns the row and whether the audio was cut to that length.
    pub fn row_of_audio(
        &mut self,
        audio: &tympan_audio::Audio,
    ) -> Result<(Vec<f64>, bool), AudioError> {
        let mut mono = audio.downmix();
        let max = (audio.sample_rate as u64 * MAX_CLIP_MS / 1000) as usize;
        let truncated = mono.len() > max;
        mono.truncate(max);
        Ok((self.row(&mono, audio.sample_rate)?, truncated))
    }

    /// One row for a clip of mono audio at `sample_rate` (8 or 16 kHz, or any rate the
    /// resampler takes). Errors on an empty clip or an unsupported rate.
    pub fn row(&mut self, samples: &[f32], sample_rate: u32) -> Result<Vec<f64>, AudioError> {
        if samples.is_empty() {
            return Err(AudioError::NoSamples);
        }
        let resampled;
        let x = if sample_rate == FEATURE_RATE {
            samples
        } else {
            resampled = resample::resample(samples, sample_rate, FEATURE_RATE)?;
            &resampled[..]
        };
        self.mfcc.reset();
        self.frames.clear();
        self.mfcc.push(x, &mut self.frames);
        self.mfcc.finish(&mut self.frames);
        let n = self.frames.len() / N_MFCC;
        if n == 0 {
            return Err(AudioError::NoSamples);
        }
        let mut mean = vec![0.0f64; N_MFCC];
        for f in self.frames.chunks_exact(N_MFCC) {
            for (m, &v) in mean.iter_mut().zip(f) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        if self.set == FeatureSet::MfccMean {
            return Ok(mean);
        }
        let mut var = vec![0.0f64; N_MFCC];
        for f in self.frames.chunks_exact(N_MFCC) {
            for ((s, &v), m) in var.iter_mut().zip(f).zip(&mean) {
                let d = v as f64 - m;
                *s += d * d;
            }
        }
        let mut row = mean;
        row.extend(var.iter().map(|s| (s / n as f64).sqrt()));
        let seconds = samples.len() as f64 / sample_rate as f64;
        row.push(seconds.max(1e-3).ln());
        Ok(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tympan_audio::synth;

    fn cut(x: &[f32], rate: u32, chunk: usize) -> Vec<Clip> {
        let mut c = ClipCutter::new(rate, ClipRules::default()).unwrap();
        for part in x.chunks(chunk) {
            c.push(part);
        }
        c.finish();
        c.take()
    }

    fn tone_call(rate: u32) -> Vec<f32> {
        let mut x = synth::silence(rate, 500.0);
        x.extend(synth::sine(rate, 1000.0, 600.0, -15.0));
        x.extend(synth::silence(rate, 800.0));
        x.extend(synth::sine(rate, 700.0, 120.0, -15.0)); // too short: dropped
        x.extend(synth::silence(rate, 800.0));
        x
    }

    #[test]
    fn tones_make_clips_with_the_seed_rules() {
        for rate in [8000, 16000] {
            let clips = cut(&tone_call(rate), rate, 333);
            assert_eq!(clips.len(), 1, "rate {rate}: {clips:?}");
            let c = &clips[0];
            assert!(c.start_ms.abs_diff(500) <= 30, "start {}", c.start_ms);
            assert!(c.end_ms.abs_diff(1100) <= 30, "end {}", c.end_ms);
            let want = (c.end_ms - c.start_ms) as usize * rate as usize / 1000;
            assert_eq!(c.samples.len(), want);
        }
    }

    #[test]
    fn short_gaps_stay_in_one_clip_and_long_ones_split() {
        let r = 8000;
        let mut x = synth::silence(r, 300.0);
        x.extend(synth::sine(r, 800.0, 400.0, -15.0));
        x.extend(synth::silence(r, 150.0)); // < 300 ms: same clip
        x.extend(synth::sine(r, 800.0, 400.0, -15.0));
        x.extend(synth::silence(r, 600.0)); // >= 300 ms: new clip
        x.extend(synth::sine(r, 800.0, 400.0, -15.0));
        x.extend(synth::silence(r, 500.0));
        let clips = cut(&x, r, 160);
        assert_eq!(clips.len(), 2, "{clips:?}");
        assert!(clips[0].end_ms - clips[0].start_ms >= 900);
    }

    #[test]
    fn long_activity_is_cut_at_max_ms() {
        let r = 8000;
        let mut x = synth::silence(r, 200.0);
        x.extend(synth::sine(r, 600.0, 12_500.0, -15.0));
        x.extend(synth::silence(r, 500.0));
        let clips = cut(&x, r, 4000);
        assert_eq!(clips.len(), 2, "{clips:?}");
        assert_eq!(clips[0].end_ms - clips[0].start_ms, MAX_CLIP_MS);
        assert!(clips[1].end_ms - clips[1].start_ms >= 2000);
    }

    #[test]
    fn silence_and_bad_rules_give_nothing_or_errors() {
        assert!(cut(&synth::silence(8000, 3000.0), 8000, 160).is_empty());
        assert!(ClipCutter::new(44100, ClipRules::default()).is_err());
        let bad = ClipRules {
            max_ms: MAX_CLIP_MS + 10,
            ..ClipRules::default()
        };
        assert!(ClipCutter::new(8000, bad).is_err());
    }

    #[test]
    fn features_tell_tones_from_noise_and_agree_across_rates() {
        let mut f = ClipFeatures::new(FeatureSet::MfccMeanStdDuration);
        let tone8 = synth::sine(8000, 1000.0, 500.0, -15.0);
        let tone16 = synth::sine(16000, 1000.0, 500.0, -15.0);
        let a = f.row(&tone8, 8000).unwrap();
        let b = f.row(&tone16, 16000).unwrap();
        assert_eq!(a.len(), FeatureSet::MfccMeanStdDuration.dim());
        assert!((a[80] - 0.5f64.ln()).abs() < 1e-6);
        // The same tone at both rates: close rows (resampling differences only).
        let dist = |p: &[f64], q: &[f64]| {
            p.iter()
                .zip(q)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f64>()
                .sqrt()
        };
        let noise = synth::white_noise(8000, 500.0, -15.0, 3);
        let c = f.row(&noise, 8000).unwrap();
        assert!(
            dist(&a, &b) * 5.0 < dist(&a, &c),
            "tone 8k vs 16k {} vs tone vs noise {}",
            dist(&a, &b),
            dist(&a, &c)
        );
        assert!(a[40..80].iter().all(|v| v.is_finite() && *v >= 0.0));
        let mut m = ClipFeatures::new(FeatureSet::MfccMean);
        assert_eq!(m.row(&tone8, 8000).unwrap(), a[..40].to_vec());
        assert!(m.row(&[], 8000).is_err());
    }

    #[test]
    fn feature_set_ids_round_trip() {
        for s in [FeatureSet::MfccMean, FeatureSet::MfccMeanStdDuration] {
            assert_eq!(FeatureSet::from_id(s.id()), Some(s));
        }
        assert_eq!(FeatureSet::from_id("something else"), None);
    }
}
