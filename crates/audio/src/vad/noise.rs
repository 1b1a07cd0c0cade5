//! The per-band noise tracker and the sub-band SNR it gives (see the module docs of
//! [`super`]).

use std::collections::VecDeque;

use crate::synth::mean_square_to_dbm0;

use super::{SPEECH_RISE_DB_PER_S, STATIONARY_MS, STATIONARY_STD_DB};

/// Per-frame weight of a non-speech frame in a band's noise average (10 ms hops).
const NOISE_UP: f64 = 0.05;
/// Largest band power, as a multiple of the noise estimate, taken into the upward average.
const UP_CAP: f64 = 2.0;
/// Per-frame weight of a quieter frame in a band's noise estimate (10 ms hops).
const NOISE_DOWN: f64 = 0.25;
/// Per-frame weight of a new frame in the smoothed band power used for decisions (10 ms hops).
const SMOOTH: f64 = 0.5;
/// Per-frame weight of the recent band-power mean used by the stationarity jump (10 ms hops).
const RECENT: f64 = 0.1;

/// Noise estimates per band, updated once per hop.
pub(super) struct NoiseTracker {
    /// Per band: noise estimate, recent mean power, smoothed power (mean-square units).
    noise: Vec<f64>,
    recent: Vec<f64>,
    smooth: Vec<f64>,
    /// Per band: the starting ceiling and the lowest value of the estimate.
    init_noise: Vec<f64>,
    min_noise: Vec<f64>,
    /// Growth factor per hop of an estimate during speech.
    speech_rise: f64,
    /// Hop levels of the last [`STATIONARY_MS`], dBm0.
    levels: VecDeque<f64>,
    stationary_hops: usize,
    started: bool,
}

impl NoiseTracker {
    /// A tracker whose estimates start no higher than `init_noise` and never sink below
    /// `min_noise` (per band); `frame_ms` scales [`SPEECH_RISE_DB_PER_S`].
    pub(super) fn new(init_noise: Vec<f64>, min_noise: Vec<f64>, frame_ms: f64) -> Self {
        let nb = init_noise.len();
        NoiseTracker {
            noise: vec![0.0; nb],
            recent: vec![0.0; nb],
            smooth: vec![0.0; nb],
            init_noise,
            min_noise,
            speech_rise: 10f64.powf(SPEECH_RISE_DB_PER_S * frame_ms / 1000.0 / 10.0),
            levels: VecDeque::new(),
            stationary_hops: (STATIONARY_MS / 10.0).ceil() as usize,
            started: false,
        }
    }

    /// Current noise estimate summed over the bands, dBm0 (None before the first hop).
    pub(super) fn floor_dbm0(&self) -> Option<f64> {
        self.started
            .then(|| mean_square_to_dbm0(self.noise.iter().sum::<f64>()) as f64)
    }

    /// Updates the band noise estimates with this hop's band `power` and `level` (dBm0), given
    /// whether the previous hop was speech, and returns the hop's sub-band SNR, dB.
    pub(super) fn update(&mut self, power: &[f64], level: f64, prev_speech: bool) -> f64 {
        if !self.started {
            // Start low: the stream may begin in speech.
            self.started = true;
            for ((nz, r), (&p, &i)) in self
                .noise
                .iter_mut()
                .zip(self.recent.iter_mut())
                .zip(power.iter().zip(&self.init_noise))
            {
                *nz = p.min(i);
                *r = p;
            }
            self.smooth.copy_from_slice(power);
        }
        for (s, &p) in self.smooth.iter_mut().zip(power) {
            *s += SMOOTH * (p - *s);
        }
        for (r, &p) in self.recent.iter_mut().zip(power) {
            *r += RECENT * (p - *r);
        }
        // A steady level (a noise step, a tone) is background. At stream start, judge on the
        // frames seen so far (at least three) so that steady noise at the start is not speech.
        self.levels.push_back(level);
        if self.levels.len() > self.stationary_hops {
            self.levels.pop_front();
        }
        let k = self.levels.len();
        let stationary = k >= 3 && {
            let mean = self.levels.iter().sum::<f64>() / k as f64;
            let var = self
                .levels
                .iter()
                .map(|v| (v - mean) * (v - mean))
                .sum::<f64>()
                / k as f64;
            var <= STATIONARY_STD_DB * STATIONARY_STD_DB
        };
        // Product of max(1, band SNR): one logarithm per frame.
        let mut prod = 1.0f64;
        for (((nz, &p), &r), &mn) in self
            .noise
            .iter_mut()
            .zip(&self.smooth)
            .zip(&self.recent)
            .zip(&self.min_noise)
        {
            let ratio = p / nz.max(mn);
            prod *= ratio.clamp(1.0, 1e6);
            if stationary {
                *nz = nz.max(r);
            }
            let background = stationary || !prev_speech;
            if p < *nz {
                // Quickly down in pauses; during speech only as fast as it may go up, so that
                // the estimate does not sink to the dips of the noise while speech lasts.
                let w = if background { NOISE_DOWN } else { NOISE_UP };
                *nz += w * (p - *nz);
            } else if background || p < UP_CAP * *nz {
                // Pauses, and bands that speech leaves at the noise level: a slow average,
                // capped so that one loud frame cannot lift the estimate by much.
                *nz += NOISE_UP * (p.min(UP_CAP * *nz) - *nz);
            } else {
                *nz = (*nz * self.speech_rise).min(p);
            }
            *nz = nz.max(mn);
        }
        10.0 * prod.log10() / self.noise.len() as f64
    }
}
