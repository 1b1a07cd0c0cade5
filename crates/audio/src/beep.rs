//! Streaming single-frequency "beep" detector (voicemail beeps, tone prompts).
//!
//! # Method (FFT)
//! A 64 ms Hann-windowed FFT (512 points at 8 kHz, 1024 at 16 kHz) is taken every 16 ms.
//! A frame is *tonal* when:
//! - the strongest bin from 100 Hz to `max_freq_hz` lies at or above `min_freq_hz` and is a
//!   local maximum;
//! - its strongest bin between `min_freq_hz` and `max_freq_hz` (the fundamental) and the bins
//!   around its harmonics (±1 bin each) hold at least `min_purity` of the frame's energy above
//!   100 Hz — harmonic-rich (square-ish) beeps pass, two unrelated tones (DTMF, dial tone) do
//!   not, and ringback's 440+480 Hz pair is 2.6 bins apart so the fundamental's ±1 bin holds only
//!   half of the energy;
//! - the sub-harmonic positions (j/m of the peak, m ≤ 5) hold under `max_subharmonic` of the
//!   peak's energy: in a vowel the strongest partial is a harmonic of a lower pitch, so its
//!   sub-harmonics carry energy; a beep's strongest partial is its fundamental;
//! - the harmonics together hold at most [`MAX_HARMONIC_RATIO`] (half) of the fundamental's
//!   energy — a square wave's odd harmonics hold about a quarter, while voices with a high
//!   pitch usually carry strong 2nd/3rd harmonics;
//! - its level is at least `min_level_dbm0`;
//! - the newest 16 ms still carry the tone's energy (so the end is seen one hop after it
//!   happens instead of one window later).
//!
//! The frequency is the peak bin refined by parabolic interpolation of the log power spectrum
//! (error well under 1 Hz for a clean tone). Consecutive tonal frames whose frequency stays
//! within `max_freq_dev` (relative, with a 0.8 Hz floor) of the segment's mean form a *segment*;
//! a frequency jump starts a new one, and so does a level change once the window is full of
//! tone (more than [`LEVEL_RISE_DB`] up or [`LEVEL_DROP_DB`] down: beeps are steady, vowels are
//! not), and from the first frame on a change of timbre (harmonics-to-fundamental ratio moving
//! by more than [`HARMONIC_STEADY_DB`]). Segments of fewer than [`MIN_SEGMENT_FRAMES`] frames are ignored, and a run needs one
//! segment of at least [`MIN_LONGEST_FRAMES`].
//!
//! **Multi-tone beeps:** segments separated by at most `max_gap_ms` of non-tonal frames are
//! merged into one *run*, reported as ONE [`BeepEvent`] listing every segment's frequency; its
//! `frequency_hz` is that of the longest segment. A run is reported if it lasts at least
//! `min_duration_ms`. Start and end are placed on a 2 ms energy envelope. The event is emitted
//! `max_gap_ms` plus one hop (≈ 66 ms by default) after the tone stops.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use crate::goertzel::{check_sample_rate, clean, Envelope};
use crate::synth::amplitude_to_dbm0;
use crate::AudioError;

/// Frames (16 ms hops) a segment needs to count in a run.
pub const MIN_SEGMENT_FRAMES: usize = 3;
/// Frames the longest segment of a run needs (an 80 ms tone gives 3–5).
pub const MIN_LONGEST_FRAMES: usize = 3;
/// Once the window has been full of tone, a frame may be at most this much louder than the
/// segment's loudest frame at that moment...
pub const LEVEL_RISE_DB: f32 = 2.0;
/// ...and at most this much quieter; otherwise the segment ends (speech is not steady).
pub const LEVEL_DROP_DB: f32 = 3.0;

/// Largest harmonics-to-fundamental energy ratio of a tonal frame (−3 dB).
pub const MAX_HARMONIC_RATIO: f64 = 0.5;
/// Harmonics-to-fundamental ratios below this (dB) count as "no harmonics".
pub const HARMONIC_FLOOR_DB: f32 = -20.0;
/// The harmonics-to-fundamental ratio must stay within this many dB of its value in the
/// segment's first frame (a beep's timbre is fixed, a vowel's moves).
pub const HARMONIC_STEADY_DB: f32 = 4.0;

/// Supported sample rates, Hz.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 8000..=48_000;

/// Beep detector settings.
#[derive(Clone, Debug, PartialEq)]
pub struct BeepConfig {
    /// Lowest fundamental, Hz (default 300).
    pub min_freq_hz: f32,
    /// Highest fundamental, Hz (default 2500; must be below half the sample rate).
    pub max_freq_hz: f32,
    /// Minimum run duration, ms (default 80).
    pub min_duration_ms: f64,
    /// Minimum tone level, dBm0 (default −40).
    pub min_level_dbm0: f32,
    /// Minimum share of frame energy in the fundamental and its harmonics (default 0.8).
    pub min_purity: f32,
    /// Maximum relative deviation of a frame's frequency from its segment mean (default 0.0015).
    pub max_freq_dev: f32,
    /// Longest non-tonal gap inside a multi-tone run, ms (default 50).
    pub max_gap_ms: f64,
    /// Maximum energy at sub-harmonics (j/m of the fundamental, m ≤ 5) relative to the
    /// fundamental (default 0.01, i.e. −20 dB).
    pub max_subharmonic: f64,
}

impl Default for BeepConfig {
    fn default() -> Self {
        BeepConfig {
            min_freq_hz: 300.0,
            max_freq_hz: 2500.0,
            min_duration_ms: 80.0,
            min_level_dbm0: -40.0,
            min_purity: 0.85,
            max_freq_dev: 0.0015,
            max_gap_ms: 50.0,
            max_subharmonic: 0.01,
        }
    }
}

/// A detected beep (or multi-tone beep run). Times in ms from the first sample pushed.
#[derive(Clone, Debug, PartialEq)]
pub struct BeepEvent {
    /// Estimated tone start.
    pub start_ms: f64,
    /// Estimated tone end.
    pub end_ms: f64,
    /// Fundamental frequency of the longest segment, Hz.
    pub frequency_hz: f32,
    /// Level of that segment's fundamental, dBm0 (see [`crate::synth`] for the convention).
    pub level_db: f32,
    /// Fundamental of every segment in the run, in order (one entry for a plain beep).
    pub frequencies_hz: Vec<f32>,
}

#[derive(Clone, Debug)]
struct Seg {
    /// Loudest level once the window first held only this tone (the steadiness reference).
    ref_level: Option<f32>,
    /// Harmonics-to-fundamental ratio (dB) of the segment's first frame.
    ref_harm_db: Option<f32>,
    freq_sum: f64,
    frames: usize,
    level_db: f32,
}

impl Seg {
    fn mean(&self) -> f64 {
        self.freq_sum / self.frames as f64
    }
}

#[derive(Clone, Debug)]
struct RunState {
    start_sample: u64,
    segs: Vec<Seg>,
    last_ok_frame: u64,
    /// Mean square of the tone (for edge thresholds).
    tone_ms: f32,
}

/// Streaming beep detector; see the module docs.
pub struct BeepDetector {
    fs: u32,
    cfg: BeepConfig,
    n: usize,
    hop: usize,
    window: Vec<f32>,
    win_pow: f64,
    fft: Arc<dyn RealToComplex<f32>>,
    buf: Vec<f32>,
    filled: usize,
    pos: usize,
    since_hop: usize,
    samples: u64,
    frame_idx: u64,
    scratch_in: Vec<f32>,
    scratch_out: Vec<realfft::num_complex::Complex<f32>>,
    scratch: Vec<realfft::num_complex::Complex<f32>>,
    power: Vec<f64>,
    env: Envelope,
    cur: Option<Seg>,
    run: Option<RunState>,
    gap_frames: u64,
}

impl std::fmt::Debug for BeepDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BeepDetector")
            .field("fs", &self.fs)
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl BeepDetector {
    /// A detector for audio at `sample_rate` Hz (8000–48000).
    pub fn new(sample_rate: u32, config: BeepConfig) -> Result<Self, AudioError> {
        check_sample_rate(sample_rate, &SAMPLE_RATES)?;
        if !(config.min_freq_hz >= 100.0
            && config.min_freq_hz < config.max_freq_hz
            && config.max_freq_hz < sample_rate as f32 / 2.0)
        {
            return Err(AudioError::InvalidParam {
                name: "min_freq_hz/max_freq_hz",
                why: format!(
                    "need 100 <= {} < {} < {}",
                    config.min_freq_hz,
                    config.max_freq_hz,
                    sample_rate / 2
                ),
            });
        }
        let n = ((sample_rate as f64 * 0.064) as usize).next_power_of_two();
        let hop = n / 4;
        let window: Vec<f32> = (0..n)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()) as f32)
            .collect();
        let win_pow = window.iter().map(|&w| (w as f64) * (w as f64)).sum();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        let scratch_in = fft.make_input_vec();
        let scratch_out = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        let sub = (sample_rate / 500) as usize;
        let hop_ms = hop as f64 * 1000.0 / sample_rate as f64;
        Ok(BeepDetector {
            fs: sample_rate,
            gap_frames: (config.max_gap_ms / hop_ms).ceil().max(1.0) as u64,
            cfg: config,
            n,
            hop,
            window,
            win_pow,
            fft,
            buf: vec![0.0; n],
            filled: 0,
            pos: 0,
            since_hop: 0,
            samples: 0,
            frame_idx: 0,
            scratch_in,
            scratch_out,
            scratch,
            power: vec![0.0; n / 2 + 1],
            env: Envelope::new(sub, (2 * n) / sub + 8),
            cur: None,
            run: None,
        })
    }

    /// Feed samples (any chunk size; non-finite samples count as 0). Returns beeps that ended.
    pub fn push(&mut self, samples: &[f32]) -> Vec<BeepEvent> {
        let mut out = Vec::new();
        for &x in samples {
            let x = clean(x);
            self.env.push(x);
            self.samples += 1;
            // ring buffer: `pos` is the next write index (the oldest sample once full)
            self.buf[self.pos] = x;
            self.pos = (self.pos + 1) % self.n;
            self.filled = (self.filled + 1).min(self.n);
            self.since_hop += 1;
            if self.since_hop == self.hop && self.filled >= self.hop {
                self.since_hop = 0;
                self.frame(&mut out);
            }
        }
        out
    }

    /// Start (ms) of a tonal run still in progress that may yet be reported as a beep, so a
    /// caller can hold back decisions that a beep would change.
    pub fn tone_since_ms(&self) -> Option<f64> {
        self.run
            .as_ref()
            .map(|r| r.start_sample as f64 * 1000.0 / self.fs as f64)
    }

    /// End of stream: report a run still in progress.
    pub fn flush(&mut self) -> Vec<BeepEvent> {
        let mut out = Vec::new();
        self.close_seg();
        if let Some(r) = self.run.take() {
            self.report(r, &mut out);
        }
        out
    }

    /// Sample `i` (0 = oldest) of the newest `n`-sample window; zeros before the stream start.
    fn chrono(&self, i: usize) -> f32 {
        let n = self.n;
        if self.filled < n {
            if i >= n - self.filled {
                self.buf[i - (n - self.filled)]
            } else {
                0.0
            }
        } else {
            self.buf[(self.pos + i) % n]
        }
    }

    fn ms(&self, s: u64) -> f64 {
        s as f64 * 1000.0 / self.fs as f64
    }

    /// Analyse the newest window; returns (frequency, level dBm0, tone mean square) if tonal.
    fn analyze(&mut self) -> Option<(f64, f32, f32, f32)> {
        let n = self.n;
        // Before the buffer is full, the window's tail holds the samples so far (zeros ahead).
        let valid = self.filled;
        for i in 0..n {
            self.scratch_in[i] = self.chrono(i) * self.window[i];
        }
        self.fft
            .process_with_scratch(
                &mut self.scratch_in,
                &mut self.scratch_out,
                &mut self.scratch,
            )
            .ok()?;
        for (p, c) in self.power.iter_mut().zip(&self.scratch_out) {
            *p = (c.re as f64) * (c.re as f64) + (c.im as f64) * (c.im as f64);
        }
        let bin_hz = self.fs as f64 / n as f64;
        let k_lo_total = (100.0 / bin_hz).ceil() as usize;
        let total: f64 = self.power[k_lo_total..].iter().sum();
        if total <= 0.0 {
            return None;
        }
        let k0 = (self.cfg.min_freq_hz as f64 / bin_hz).ceil() as usize;
        let k1 =
            ((self.cfg.max_freq_hz as f64 / bin_hz).floor() as usize).min(self.power.len() - 2);
        // The strongest component from 100 Hz up to `max_freq_hz` must lie in the band and
        // be a local maximum (a voice whose pitch is below the band is not a beep).
        let k_start = k_lo_total.max(1);
        let mut kp = k_start;
        for k in k_start..=k1 {
            if self.power[k] > self.power[kp] {
                kp = k;
            }
        }
        if kp < k0 || self.power[kp] < self.power[kp - 1] || self.power[kp] < self.power[kp + 1] {
            return None;
        }
        let p = &self.power;
        let fund: f64 = p[kp - 1] + p[kp] + p[kp + 1];
        // parabolic interpolation on log power
        let (a, b, c) = (
            p[kp - 1].max(1e-30).ln(),
            p[kp].max(1e-30).ln(),
            p[kp + 1].max(1e-30).ln(),
        );
        let den = a - 2.0 * b + c;
        let delta = if den.abs() > 1e-12 {
            (0.5 * (a - c) / den).clamp(-0.5, 0.5)
        } else {
            0.0
        };
        let kf = kp as f64 + delta;
        let mut harm = 0.0;
        let mut m = 2.0;
        while (m * kf).round() as usize + 1 < p.len() {
            let k = (m * kf).round() as usize;
            harm += p[k - 1] + p[k] + p[k + 1];
            m += 1.0;
        }
        if (fund + harm) < self.cfg.min_purity as f64 * total || harm > MAX_HARMONIC_RATIO * fund {
            return None;
        }
        // Sub-harmonics: a voiced sound whose strongest harmonic is the peak has energy at
        // j/m of it (its lower harmonics); a beep's peak is its fundamental.
        let min_k = (80.0 / bin_hz).ceil();
        let mut subh = 0.0;
        for m in 2..=5u32 {
            for j in 1..m {
                if gcd(j, m) != 1 {
                    continue;
                }
                let kk = kf * j as f64 / m as f64;
                if kk < min_k || (kk - kf).abs() < 3.0 {
                    continue;
                }
                let k = kk.round() as usize;
                subh += p[k - 1] + p[k] + p[k + 1];
            }
        }
        if subh > self.cfg.max_subharmonic * fund {
            return None;
        }
        // one-sided Σ|X|² over the peak ≈ n·Σw²·a²/4 (Parseval)
        let amp = (4.0 * fund / (n as f64 * self.win_pow)).sqrt();
        let level = amplitude_to_dbm0(amp as f32);
        if level < self.cfg.min_level_dbm0 {
            return None;
        }
        let tone_ms = (amp * amp / 2.0) as f32;
        let recent_ms = (n - self.hop..n)
            .map(|i| (self.chrono(i) as f64).powi(2))
            .sum::<f64>()
            / self.hop as f64;
        if valid >= n && recent_ms < 0.3 * tone_ms as f64 {
            return None;
        }
        let harm_db =
            (10.0 * (harm.max(1e-30) / fund).log10()).max(HARMONIC_FLOOR_DB as f64) as f32;
        Some((kf * bin_hz, level, tone_ms, harm_db))
    }

    fn close_seg(&mut self) {
        if let Some(seg) = self.cur.take() {
            if seg.frames >= MIN_SEGMENT_FRAMES {
                if let Some(r) = self.run.as_mut() {
                    r.segs.push(seg);
                }
            }
        }
        // a run without any counted segment is dropped
        if let Some(r) = &self.run {
            if r.segs.is_empty() {
                self.run = None;
            }
        }
    }

    fn frame(&mut self, out: &mut Vec<BeepEvent>) {
        let fidx = self.frame_idx;
        self.frame_idx += 1;
        let end_sample = self.samples;
        let res = self.analyze();
        match res {
            Some((f, level, tone_ms, harm_db)) => {
                let fill = self.n / self.hop;
                let continues = self.cur.as_ref().is_some_and(|s| {
                    let m = s.mean();
                    let steady_level = match s.ref_level {
                        None => true,
                        Some(r) => level <= r + LEVEL_RISE_DB && level >= r - LEVEL_DROP_DB,
                    };
                    let steady_timbre = match s.ref_harm_db {
                        None => true,
                        Some(r) => (harm_db - r).abs() <= HARMONIC_STEADY_DB,
                    };
                    let steady_level = steady_level && steady_timbre;
                    (f - m).abs() <= (self.cfg.max_freq_dev as f64 * m).max(0.8) && steady_level
                });
                if !continues {
                    // A frequency jump (or a first tonal frame) starts a new segment; the run
                    // goes on if it still has a counted segment within the gap.
                    self.close_seg();
                    if self.run.is_none() {
                        let sub = self.env.sub_len() as u64;
                        let from = (end_sample / sub).saturating_sub(1);
                        let start =
                            self.env
                                .extend_back(from, 0.1 * tone_ms, (self.n as u64) / sub);
                        self.run = Some(RunState {
                            start_sample: start,
                            segs: Vec::new(),
                            last_ok_frame: fidx,
                            tone_ms,
                        });
                    }
                    self.cur = Some(Seg {
                        ref_level: None,
                        ref_harm_db: None,
                        freq_sum: 0.0,
                        frames: 0,
                        level_db: level,
                    });
                }
                let seg = self.cur.as_mut().expect("segment");
                seg.freq_sum += f;
                seg.frames += 1;
                seg.level_db = seg.level_db.max(level);
                if seg.frames == 1 {
                    seg.ref_harm_db = Some(harm_db);
                }
                if seg.frames == fill {
                    seg.ref_level = Some(seg.level_db);
                }
                if let Some(r) = self.run.as_mut() {
                    r.last_ok_frame = fidx;
                    r.tone_ms = r.tone_ms.max(tone_ms);
                }
            }
            None => {
                self.close_seg();
                let expired = self
                    .run
                    .as_ref()
                    .is_some_and(|r| fidx - r.last_ok_frame >= self.gap_frames);
                if expired {
                    let r = self.run.take().expect("run");
                    self.report(r, out);
                }
            }
        }
    }

    fn report(&self, r: RunState, out: &mut Vec<BeepEvent>) {
        if r.segs.iter().all(|s| s.frames < MIN_LONGEST_FRAMES) {
            return;
        }
        let sub = self.env.sub_len() as u64;
        let frame_end = self.frame_end_sample(r.last_ok_frame);
        let from = (frame_end.saturating_sub(self.hop as u64)) / sub;
        let end = self
            .env
            .extend_fwd(from, 0.1 * r.tone_ms, 2 * self.hop as u64 / sub);
        let start = r.start_sample.min(end);
        if self.ms(end - start) < self.cfg.min_duration_ms {
            return;
        }
        let longest = r.segs.iter().max_by_key(|s| s.frames).expect("non-empty");
        out.push(BeepEvent {
            start_ms: self.ms(start),
            end_ms: self.ms(end),
            frequency_hz: longest.mean() as f32,
            level_db: longest.level_db,
            frequencies_hz: r.segs.iter().map(|s| s.mean() as f32).collect(),
        });
    }

    /// Sample index just after the window of frame `f`.
    fn frame_end_sample(&self, f: u64) -> u64 {
        (f + 1) * self.hop as u64
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{silence, sine};

    #[test]
    fn edge_inputs_and_basic() {
        assert!(BeepDetector::new(4000, BeepConfig::default()).is_err());
        let mut d = BeepDetector::new(8000, BeepConfig::default()).unwrap();
        assert!(d.push(&[]).is_empty());
        assert!(d.push(&[f32::NAN; 3000]).is_empty());
        let mut x = sine(8000, 1000.0, 300.0, -15.0);
        x.extend(silence(8000, 300.0));
        let ev = d.push(&x);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert!((ev[0].frequency_hz - 1000.0).abs() < 2.0, "{ev:?}");
        assert!((ev[0].start_ms - 375.0).abs() < 5.0, "{ev:?}");
        assert!((ev[0].end_ms - 675.0).abs() < 5.0, "{ev:?}");
        assert!((ev[0].level_db + 15.0).abs() < 1.0, "{ev:?}");
    }
}
