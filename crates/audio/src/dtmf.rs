//! Streaming DTMF (ITU-T Q.23 keypad tones) detection with ITU-T Q.24-style acceptance limits,
//! plus re-exported generators.
//!
//! # Method
//! Audio is cut into blocks of 13 ms (104 samples at 8 kHz, 208 at 16 kHz). For every block the
//! eight keypad frequencies are measured with Goertzel filters, each computed as two half-block
//! DFT values so that both the block's complex spectrum value and a short-lag phase advance are
//! known. A block is a *candidate* for a digit when:
//! - the strongest low-group and high-group tones are each above `min_level_dbm0`;
//! - each dominates the rest of its group by 6 dB;
//! - twist (high minus low level) is within ±`max_twist_db`;
//! - the two tones hold at least `min_energy_ratio` of the block's energy (relative energy);
//! - the second harmonics are weak (−8 dB below their fundamentals; the low-group harmonic is
//!   not checked when it falls within two bins of the high tone).
//!
//! Consecutive candidate blocks of the same digit form a *run*; one missing block is bridged
//! (interruptions up to ~10 ms do not split a digit), two missing blocks (≥ 26 ms of pause, so a
//! 40 ms pause always) end it. A run is reported when it ends if:
//! - it has at least two candidate blocks, and two consecutive ones in which both tones' levels
//!   agree within [`STEADY_DB`] (keypad tones are steady, speech harmonics are not);
//! - each tone's frequency, estimated from the phase advance between consecutive blocks
//!   (ambiguity resolved by the half-block phase advance), is within `max_freq_dev` (relative)
//!   of nominal: the default 2 % accepts Q.24's ±1.5 % and rejects ±3.5 %;
//! - re-measured at the estimated frequencies, its best block has at least
//!   `min_refined_ratio` (0.9) of its energy in the two tones (speech harmonics that happen to
//!   sit near a keypad pair leave other harmonics around);
//! - its duration, with edges placed on a 1.6 ms energy envelope, is at least `min_tone_ms`
//!   (default 30 ms: 40 ms tones are accepted, 20 ms tones rejected).
//!
//! Events therefore come out when a digit ends (about 26 ms after the tone stops).
//! Times are milliseconds from the first sample pushed, derived from sample counts only.

use crate::goertzel::{clean, Envelope, Goertzel};
use crate::synth::dbm0_to_amplitude;
use crate::AudioError;

pub use crate::synth::{dtmf_frequencies, dtmf_sequence, dtmf_tone};

/// Low-group (row) frequencies in Hz.
pub const LOW_GROUP: [f32; 4] = [697.0, 770.0, 852.0, 941.0];
/// High-group (column) frequencies in Hz.
pub const HIGH_GROUP: [f32; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
const KEYS: [[char; 4]; 4] = [
    ['1', '2', '3', 'A'],
    ['4', '5', '6', 'B'],
    ['7', '8', '9', 'C'],
    ['*', '0', '#', 'D'],
];

/// Two consecutive blocks are *steady* when both tones' levels agree within this many dB.
pub const STEADY_DB: f64 = 3.5;

/// Hit blocks kept per digit for the final re-measurement.
pub const KEEP_BLOCKS: usize = 8;

/// Lowest supported sample rate (Hz); the keypad tones need a Nyquist frequency above 1633 Hz.
pub const MIN_SAMPLE_RATE: u32 = 4000;
/// Highest supported sample rate (Hz).
pub const MAX_SAMPLE_RATE: u32 = 192_000;

/// Detector settings. `Default` gives the Q.24-style limits described in the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct DtmfConfig {
    /// Minimum level of each tone in a block, dBm0 (default −31: −25 dBm0 tones are accepted
    /// with margin for frequency offset and noise; −35 dBm0 tones are never reported).
    pub min_level_dbm0: f32,
    /// Maximum |high − low| level difference, dB (default 10).
    pub max_twist_db: f32,
    /// Minimum share of block energy in the two tones, 0..1 (default 0.7).
    pub min_energy_ratio: f32,
    /// Maximum relative frequency deviation of each tone (default 0.02).
    pub max_freq_dev: f32,
    /// Minimum tone duration in ms (default 30).
    pub min_tone_ms: f64,
    /// Minimum share of energy in the two tones, re-measured at their estimated frequencies,
    /// in the best block of a digit (default 0.9).
    pub min_refined_ratio: f32,
}

impl Default for DtmfConfig {
    fn default() -> Self {
        DtmfConfig {
            min_level_dbm0: -31.0,
            max_twist_db: 10.0,
            min_energy_ratio: 0.7,
            max_freq_dev: 0.02,
            min_tone_ms: 30.0,
            min_refined_ratio: 0.9,
        }
    }
}

/// One detected digit. Times in ms from the first sample pushed.
#[derive(Clone, Debug, PartialEq)]
pub struct DtmfEvent {
    /// '0'-'9', '*', '#', 'A'-'D'.
    pub digit: char,
    /// Estimated tone start.
    pub start_ms: f64,
    /// Estimated tone end.
    pub end_ms: f64,
}

#[derive(Clone, Copy, Debug, Default)]
struct C {
    re: f64,
    im: f64,
}

impl C {
    fn mul_conj(a: C, b: C) -> C {
        C {
            re: a.re * b.re + a.im * b.im,
            im: a.im * b.re - a.re * b.im,
        }
    }
    fn rot(self, phi: f64) -> C {
        let (c, s) = (phi.cos(), phi.sin());
        C {
            re: self.re * c - self.im * s,
            im: self.re * s + self.im * c,
        }
    }
    fn add(&mut self, o: C) {
        self.re += o.re;
        self.im += o.im;
    }
    fn arg(self) -> f64 {
        self.im.atan2(self.re)
    }
    fn norm2(self) -> f64 {
        self.re * self.re + self.im * self.im
    }
}

/// Per-block candidate: row, column, tone mean square, block DFT values, half-lag products.
type Cand = (usize, usize, f64, [C; 2], [C; 2]);

#[derive(Clone, Debug)]
struct Run {
    row: usize,
    col: usize,
    hits: usize,
    steady_pairs: usize,
    misses: usize,
    start_sample: u64,
    first_block: u64,
    last_hit_block: u64,
    max_tone_ms: f64,
    coarse: [C; 2],
    fine: [C; 2],
    prev: Option<[C; 2]>,
    /// Samples of the first hit blocks (at most `KEEP_BLOCKS`), re-measured at the end.
    blocks: Vec<Vec<f32>>,
}

/// Streaming DTMF detector; see the module docs.
#[derive(Clone, Debug)]
pub struct DtmfDetector {
    fs: u32,
    cfg: DtmfConfig,
    n: usize,
    half: usize,
    filters: [Goertzel; 8],
    harmonics: [Goertzel; 8],
    buf: Vec<f32>,
    block_idx: u64,
    env: Envelope,
    run: Option<Run>,
    min_amp: f64,
}

impl DtmfDetector {
    /// A detector for audio at `sample_rate` Hz (4000–192000).
    pub fn new(sample_rate: u32, config: DtmfConfig) -> Result<Self, AudioError> {
        if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
            return Err(AudioError::InvalidParam {
                name: "sample_rate",
                why: format!("{sample_rate} Hz is outside {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE}"),
            });
        }
        if !(config.min_energy_ratio > 0.0 && config.min_energy_ratio <= 1.0) {
            return Err(AudioError::InvalidParam {
                name: "min_energy_ratio",
                why: format!("{} is not in (0, 1]", config.min_energy_ratio),
            });
        }
        let n = ((sample_rate as usize * 13 / 1000) / 2 * 2).max(16);
        let all: Vec<f32> = LOW_GROUP.iter().chain(HIGH_GROUP.iter()).copied().collect();
        let filters = std::array::from_fn(|i| Goertzel::new(all[i], sample_rate));
        let harmonics = std::array::from_fn(|i| Goertzel::new(2.0 * all[i], sample_rate));
        let sub = n / 8;
        Ok(DtmfDetector {
            fs: sample_rate,
            min_amp: dbm0_to_amplitude(config.min_level_dbm0) as f64,
            cfg: config,
            n,
            half: n / 2,
            filters,
            harmonics,
            buf: Vec::with_capacity(n),
            block_idx: 0,
            env: Envelope::new(sub, 8 * 8),
            run: None,
        })
    }

    /// Analysis block length in samples.
    pub fn block_len(&self) -> usize {
        self.n
    }

    /// Feed samples (any chunk size; non-finite samples count as 0). Returns the digits that
    /// ended within this chunk.
    pub fn push(&mut self, samples: &[f32]) -> Vec<DtmfEvent> {
        let mut out = Vec::new();
        for &x in samples {
            let x = clean(x);
            self.env.push(x);
            self.buf.push(x);
            if self.buf.len() == self.n {
                let cand = self.analyze();
                self.step(cand, &mut out);
                self.buf.clear();
                self.block_idx += 1;
            }
        }
        out
    }

    /// End of stream: report a digit still in progress.
    pub fn flush(&mut self) -> Vec<DtmfEvent> {
        let mut out = Vec::new();
        if let Some(run) = self.run.take() {
            self.finish(run, &mut out);
        }
        out
    }

    fn ms(&self, sample: u64) -> f64 {
        sample as f64 * 1000.0 / self.fs as f64
    }

    /// Per-block test; returns (row, col, tone mean square, X for the two tones, half-lag products).
    fn analyze(&self) -> Option<Cand> {
        let b = &self.buf;
        let (h, n) = (self.half, self.n);
        let ms = b.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / n as f64;
        if ms <= 0.0 {
            return None;
        }
        let mut full = [C::default(); 8];
        let mut lag = [C::default(); 8];
        let mut amp = [0f64; 8];
        for (i, g) in self.filters.iter().enumerate() {
            let (ar, ai) = g.dft(&b[..h]);
            let (br, bi) = g.dft(&b[h..]);
            let ya = C { re: ar, im: ai };
            let yb = C { re: br, im: bi };
            let mut x = ya;
            x.add(yb.rot(-g.omega() * h as f64));
            full[i] = x;
            lag[i] = C::mul_conj(yb, ya);
            amp[i] = 2.0 * x.norm2().sqrt() / n as f64;
        }
        let best = |r: std::ops::Range<usize>| {
            let mut bi = r.start;
            for i in r.clone() {
                if amp[i] > amp[bi] {
                    bi = i;
                }
            }
            let second = r.filter(|&i| i != bi).map(|i| amp[i]).fold(0.0, f64::max);
            (bi, second)
        };
        let (lo, lo2) = best(0..4);
        let (hi, hi2) = best(4..8);
        let (al, ah) = (amp[lo], amp[hi]);
        if al < self.min_amp || ah < self.min_amp {
            return None;
        }
        if lo2 > al * 0.5 || hi2 > ah * 0.5 {
            return None;
        }
        let twist = 20.0 * (ah / al).log10();
        if twist.abs() > self.cfg.max_twist_db as f64 {
            return None;
        }
        let tone_ms = (al * al + ah * ah) / 2.0;
        if tone_ms < self.cfg.min_energy_ratio as f64 * ms {
            return None;
        }
        let bin = self.fs as f64 / n as f64;
        let h_hi = self.harmonics[hi].amplitude(b);
        if h_hi > 0.4 * ah {
            return None;
        }
        if (2.0 * LOW_GROUP[lo] - HIGH_GROUP[hi - 4]).abs() as f64 > 2.0 * bin
            && 2.0 * LOW_GROUP[lo] < self.fs as f32 / 2.0
        {
            let h_lo = self.harmonics[lo].amplitude(b);
            if h_lo > 0.4 * al {
                return None;
            }
        }
        Some((
            lo,
            hi - 4,
            tone_ms,
            [full[lo], full[hi]],
            [lag[lo], lag[hi]],
        ))
    }

    fn step(&mut self, cand: Option<Cand>, out: &mut Vec<DtmfEvent>) {
        let blk = self.block_idx;
        match cand {
            Some((row, col, tone_ms, x, lag)) => {
                let same = matches!(&self.run, Some(r) if r.row == row && r.col == col);
                if !same {
                    if let Some(r) = self.run.take() {
                        self.finish(r, out);
                    }
                    self.run = Some(Run {
                        row,
                        col,
                        hits: 0,
                        steady_pairs: 0,
                        misses: 0,
                        start_sample: blk * self.n as u64,
                        first_block: blk,
                        last_hit_block: blk,
                        max_tone_ms: 0.0,
                        coarse: [C::default(); 2],
                        fine: [C::default(); 2],
                        prev: None,
                        blocks: Vec::new(),
                    });
                }
                let subs_per_block = (self.n / self.env.sub_len()) as u64;
                let Some(r) = self.run.as_mut() else { return };
                r.hits += 1;
                r.misses = 0;
                r.last_hit_block = blk;
                if let Some(p) = r.prev {
                    let steady = (0..2).all(|k| {
                        let ratio = (x[k].norm2() / p[k].norm2().max(1e-30)).log10() * 10.0;
                        ratio.abs() <= STEADY_DB
                    });
                    if steady {
                        r.steady_pairs += 1;
                    }
                }
                for k in 0..2 {
                    r.coarse[k].add(lag[k]);
                    if let Some(p) = r.prev {
                        r.fine[k].add(C::mul_conj(x[k], p[k]));
                    }
                }
                r.prev = Some(x);
                if r.blocks.len() < KEEP_BLOCKS {
                    r.blocks.push(self.buf.clone());
                }
                if tone_ms > r.max_tone_ms && r.hits <= 3 {
                    r.max_tone_ms = tone_ms;
                    // Place the start edge: from the last sub-block of the run's first block
                    // backwards while the envelope stays within 10 dB of the tone level (dual tones beat).
                    let from = (r.first_block + 1) * subs_per_block - 1;
                    r.start_sample = self.env.extend_back(
                        from,
                        (0.1 * r.max_tone_ms) as f32,
                        2 * subs_per_block,
                    );
                }
            }
            None => {
                if let Some(r) = self.run.as_mut() {
                    r.misses += 1;
                    r.prev = None;
                    if r.misses >= 2 {
                        let r = self.run.take().expect("run present");
                        self.finish(r, out);
                    }
                }
            }
        }
    }

    fn finish(&self, r: Run, out: &mut Vec<DtmfEvent>) {
        if r.hits < 2 || r.steady_pairs == 0 {
            return;
        }
        let freqs = [LOW_GROUP[r.row], HIGH_GROUP[r.col]];
        let (h, n) = (self.half as f64, self.n as f64);
        let mut est = freqs;
        for k in 0..2 {
            let w = 2.0 * std::f64::consts::PI * freqs[k] as f64 / self.fs as f64;
            let dc = r.coarse[k].rot(-w * h).arg() / h;
            let d = if r.fine[k].norm2() > 0.0 {
                let df = r.fine[k].rot(-w * n).arg() / n;
                let period = 2.0 * std::f64::consts::PI / n;
                let m = ((dc - df) / period).round();
                df + m * period
            } else {
                dc
            };
            let df_hz = d * self.fs as f64 / (2.0 * std::f64::consts::PI);
            if df_hz.abs() > self.cfg.max_freq_dev as f64 * freqs[k] as f64 {
                return;
            }
            est[k] = freqs[k] + df_hz as f32;
        }
        // Re-measure the kept blocks at the estimated frequencies (no scalloping loss): the
        // best block must be almost all tone.
        let g = [
            Goertzel::new(est[0], self.fs),
            Goertzel::new(est[1], self.fs),
        ];
        let best = r
            .blocks
            .iter()
            .map(|b| {
                let ms = b.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / b.len() as f64;
                let (a0, a1) = (g[0].amplitude(b), g[1].amplitude(b));
                (a0 * a0 + a1 * a1) / 2.0 / ms.max(1e-30)
            })
            .fold(0.0, f64::max);
        if best < self.cfg.min_refined_ratio as f64 {
            return;
        }
        let subs_per_block = (self.n / self.env.sub_len()) as u64;
        let from = r.last_hit_block * subs_per_block;
        let end = self
            .env
            .extend_fwd(from, (0.1 * r.max_tone_ms) as f32, 2 * subs_per_block);
        let end = end.max((r.last_hit_block + 1) * self.n as u64 - self.n as u64 / 2);
        let start = r.start_sample;
        if self.ms(end.saturating_sub(start)) < self.cfg.min_tone_ms {
            return;
        }
        out.push(DtmfEvent {
            digit: KEYS[r.row][r.col],
            start_ms: self.ms(start),
            end_ms: self.ms(end),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_inputs() {
        assert!(DtmfDetector::new(100, DtmfConfig::default()).is_err());
        let mut d = DtmfDetector::new(8000, DtmfConfig::default()).unwrap();
        assert!(d.push(&[]).is_empty());
        assert!(d.push(&[f32::NAN; 500]).is_empty());
        assert!(d.push(&[f32::INFINITY, f32::NEG_INFINITY]).is_empty());
        let tone = dtmf_tone('5', 8000, 60.0, -10.0).unwrap();
        let mut ev = d.push(&tone);
        ev.extend(d.push(&vec![0.0; 800]));
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].digit, '5');
        assert!(d.flush().is_empty());
    }
}
