//! Signals and models the call-core tests build themselves (no tools, no data files).

#![allow(dead_code)]

use std::sync::Arc;

use tympan_amd::clips::{ClipFeatures, FeatureSet};
use tympan_audio::synth::{self, Prng};
use tympan_ml::{ClassifierConfig, Dataset, Model, TrainOptions};

/// Speech-like audio: voiced syllables (a harmonic complex on a gliding pitch, shaped by two
/// moving formants) of 140–320 ms, each with a rise and fall, separated by 30–90 ms dips, at
/// about −18 dBm0, with a little breath noise. Deterministic for a seed.
pub fn speech_like(rate: u32, duration_ms: f64, seed: u64) -> Vec<f32> {
    let mut rng = Prng::new(seed);
    let n = synth::samples_for_ms(rate, duration_ms);
    let fs = f64::from(rate);
    let mut out = Vec::with_capacity(n);
    let mut phase = 0.0f64;
    while out.len() < n {
        let syl = synth::samples_for_ms(rate, 140.0 + 180.0 * rng.uniform());
        let gap = synth::samples_for_ms(rate, 30.0 + 60.0 * rng.uniform());
        let f0_start = 100.0 + 80.0 * rng.uniform();
        let f0_end = f0_start * (0.8 + 0.4 * rng.uniform());
        let f1 = 350.0 + 500.0 * rng.uniform();
        let f2 = 1100.0 + 1200.0 * rng.uniform();
        for i in 0..syl {
            let u = i as f64 / syl as f64;
            let env = (std::f64::consts::PI * u).sin().powf(0.7);
            let f0 = f0_start + (f0_end - f0_start) * u;
            phase += 2.0 * std::f64::consts::PI * f0 / fs;
            let mut v = 0.0;
            let mut k = 1.0;
            while k * f0 < (fs / 2.0).min(3600.0) {
                let h = k * f0;
                let w = 1.0 / (1.0 + ((h - f1) / 120.0).powi(2))
                    + 0.5 / (1.0 + ((h - f2) / 180.0).powi(2))
                    + 0.05 / k;
                v += w * (k * phase).sin();
                k += 1.0;
            }
            let breath = 0.02 * rng.gaussian();
            out.push((0.09 * env * v + 0.004 * env * breath) as f32);
        }
        out.resize(out.len() + gap, 0.0);
    }
    out.truncate(n);
    let floor = synth::white_noise(rate, duration_ms, -65.0, seed ^ 0x5eed);
    for (o, f) in out.iter_mut().zip(floor) {
        *o += f;
    }
    out
}

/// A voicemail call at `rate`: 400 ms of quiet, 3.2 s of speech-like greeting, 500 ms of
/// quiet, a 600 ms 1 kHz beep at −12 dBm0, then `tail_ms` of quiet. Returns the audio and
/// the beep's start and end, ms.
pub fn voicemail(rate: u32, tail_ms: f64) -> (Vec<f32>, u64, u64) {
    let quiet = |ms| synth::white_noise(rate, ms, -65.0, 7);
    let mut x = quiet(400.0);
    x.extend(speech_like(rate, 3200.0, 11));
    x.extend(quiet(500.0));
    let start = ms_of(rate, x.len());
    x.extend(synth::sine(rate, 1000.0, 600.0, -12.0));
    let end = ms_of(rate, x.len());
    x.extend(quiet(tail_ms));
    (x, start, end)
}

/// Duration of `n` samples at `rate`, ms.
pub fn ms_of(rate: u32, n: usize) -> u64 {
    n as u64 * 1000 / u64::from(rate)
}

/// A small clip model trained here: speech-like clips (label `speech`) against steady tones
/// (label `beep`).
pub fn clip_model() -> Arc<Model> {
    let set = FeatureSet::MfccMeanStdDuration;
    let mut f = ClipFeatures::new(set);
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for i in 0..8u64 {
        rows.push(
            f.row(&speech_like(8000, 600.0 + 100.0 * i as f64, 100 + i), 8000)
                .unwrap(),
        );
        labels.push(0);
        let tone = synth::sine(8000, 600.0 + 110.0 * i as f32, 500.0, -12.0);
        rows.push(f.row(&tone, 8000).unwrap());
        labels.push(1);
    }
    let data = Dataset::new(rows, labels, vec!["speech".into(), "beep".into()]).unwrap();
    let opts = TrainOptions::new(ClassifierConfig::logistic_regression());
    Arc::new(Model::train(&data, &opts, set.id()).unwrap())
}
