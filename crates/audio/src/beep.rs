//! Streaming single-frequency "beep" detector (voicemail beeps, tone prompts).
//!
//! # Method (FFT)
//! A 64 ms Hann-windowed FFT (512 points at 8 kHz, 1024 at 16 kHz) is taken every 16 ms.
//! A frame is *tonal* when:
//! - the strongest bin from 100 Hz to `max_freq_hz` is a local maximum whose interpolated
//!   frequency is at least `min_freq_hz` (less [`MIN_FREQ_TOLERANCE`]);
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
//! **Cost:** before the FFT, two energy tests that are *necessary* conditions of the above
//! (see `precheck_bounds`) reject frames too quiet to hold a tone at `min_level_dbm0` and full
//! frames whose newest 16 ms are too quiet for any accepted tone; such frames skip the FFT.
//! They never reject a frame the full test would accept, so results are unchanged; silence and
//! line noise (most of a call once a greeting is over) then cost a few operations per sample.
//!
//! The frequency is the peak bin refined by parabolic interpolation of the log power spectrum
//! (error well under 1 Hz for a clean tone). Consecutive tonal frames whose frequency stays
//! within `max_freq_dev` (relative, with a [`FREQ_DEV_FLOOR_HZ`] floor) of the segment's mean form a *segment*;
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

use crate::fft::RealFft;
use crate::goertzel::{check_sample_rate, clean, first_max, sum_lanes, sum_squares, Envelope};
use crate::synth::{amplitude_to_dbm0, FULL_SCALE_SINE_DBM0};
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

/// Once the window is full, the newest hop's mean square must be at least this share of the
/// tone's (the tone is still sounding).
pub const RECENT_MIN_RATIO: f64 = 0.3;
/// Slack (power ratio, −3 dB) applied to the energy bounds that let a frame skip the FFT, so
/// that rounding can never make them reject a frame the full analysis would accept.
const PRECHECK_SLACK: f64 = 0.5;

/// A tone may lie this far (relative) below `min_freq_hz` and still count: the interpolated
/// frequency of a tone at the band edge wanders by a few hertz in noise.
pub const MIN_FREQ_TOLERANCE: f64 = 0.02;
/// A run may measure this much shorter than `min_duration_ms` (ms): its edges are placed on a
/// 2 ms energy envelope, and each edge can fall up to one envelope step inside the tone.
pub const DURATION_TOLERANCE_MS: f64 = 4.0;

/// Floor of the allowed frequency deviation within a segment, Hz. A tone generator holds its
/// frequency to a fraction of a hertz even at -30 dBm0 in 15 dB SNR noise; a vowel's pitch
/// glides by more than this within three frames.
pub const FREQ_DEV_FLOOR_HZ: f64 = 0.5;

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
    fft: RealFft,
    /// The newest `n` samples as of the last hop, oldest first (zeros before the stream start).
    buf: Vec<f32>,
    /// Samples received since the last hop (fewer than `hop`), already cleaned.
    pending: Vec<f32>,
    filled: usize,
    samples: u64,
    /// Σx² of each of the `n / hop` hops in `buf`, oldest first.
    hop_energy: Vec<f64>,
    /// Below this Σx² over the window, no frame can reach `min_level_dbm0` (see `analyze`).
    min_window_energy: f64,
    /// The same bound on the Hann-windowed Σ(w·x)².
    min_windowed_energy: f64,
    /// Below this mean square in the newest hop, a full window fails the "tone still sounding"
    /// test whatever its spectrum.
    min_recent_ms: f64,
    frame_idx: u64,
    scratch_in: Vec<f32>,
    scratch_out: Vec<realfft::num_complex::Complex<f32>>,
    power: Vec<f64>,
    env: Envelope,
    cur: Option<Seg>,
    run: Option<RunState>,
    gap_frames: u64,
    /// Every frame's analysis result, in order (tests compare with and without the pre-check).
    #[cfg(test)]
    trace: Vec<Option<(f64, f32, f32, f32)>>,
    /// Frames rejected by the energy pre-check.
    #[cfg(test)]
    skipped: usize,
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
        let fft = RealFft::new(n);
        let scratch_in = vec![0.0; n];
        let scratch_out = vec![Default::default(); fft.spectrum_len()];
        let sub = (sample_rate / 500) as usize;
        let (min_window_energy, min_windowed_energy, min_recent_ms) =
            precheck_bounds(&config, sample_rate, n, win_pow);
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
            pending: Vec::with_capacity(hop),
            filled: 0,
            samples: 0,
            hop_energy: vec![0.0; n / hop],
            min_window_energy,
            min_windowed_energy,
            min_recent_ms,
            frame_idx: 0,
            scratch_in,
            scratch_out,
            power: vec![0.0; n / 2 + 1],
            env: Envelope::new(sub, (2 * n) / sub + 8),
            cur: None,
            run: None,
            #[cfg(test)]
            trace: Vec::new(),
            #[cfg(test)]
            skipped: 0,
        })
    }

    /// Feed samples (any chunk size; non-finite samples count as 0). Returns beeps that ended.
    pub fn push(&mut self, samples: &[f32]) -> Vec<BeepEvent> {
        let mut out = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (self.hop - self.pending.len()).min(rest.len());
            let from = self.pending.len();
            self.pending.extend(rest[..take].iter().map(|&x| clean(x)));
            self.env.push_slice(&self.pending[from..]);
            self.samples += take as u64;
            self.filled = (self.filled + take).min(self.n);
            rest = &rest[take..];
            if self.pending.len() == self.hop {
                self.shift_in_hop();
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

    /// Move the completed hop in `pending` to the end of the window `buf`.
    fn shift_in_hop(&mut self) {
        let (n, hop) = (self.n, self.hop);
        self.buf.copy_within(hop.., 0);
        self.buf[n - hop..].copy_from_slice(&self.pending);
        let e = sum_squares(&self.pending);
        self.hop_energy.rotate_left(1);
        *self.hop_energy.last_mut().expect("n / hop >= 1") = e;
        self.pending.clear();
    }

    fn ms(&self, s: u64) -> f64 {
        s as f64 * 1000.0 / self.fs as f64
    }

    /// Analyse the newest window; returns (frequency, level dBm0, tone mean square) if tonal.
    fn analyze(&mut self) -> Option<(f64, f32, f32, f32)> {
        let n = self.n;
        // Before the buffer is full, the window's tail holds the samples so far (zeros ahead).
        let valid = self.filled;
        let newest = *self.hop_energy.last().expect("n / hop >= 1");
        let recent_ms = newest / self.hop as f64;
        // Cheap necessary conditions first (see `precheck_bounds`): a frame too quiet to reach
        // the minimum level, or whose newest hop is too quiet for any accepted tone, is not
        // tonal, so the FFT is skipped. They reject only frames the full test rejects.
        if (valid >= n && recent_ms < self.min_recent_ms)
            || self.hop_energy.iter().sum::<f64>() < self.min_window_energy
        {
            #[cfg(test)]
            {
                self.skipped += 1;
            }
            return None;
        }
        // Σ(w·x)² in eight f32 lanes (vectorised; its rounding is far inside the slack).
        for ((o, &x), &w) in self.scratch_in.iter_mut().zip(&self.buf).zip(&self.window) {
            *o = x * w;
        }
        let mut lanes = [0.0f32; 8];
        for c in self.scratch_in.chunks_exact(8) {
            let c: &[f32; 8] = c.try_into().expect("chunks of 8");
            for j in 0..8 {
                lanes[j] += c[j] * c[j];
            }
        }
        let windowed: f64 = lanes.iter().map(|&l| l as f64).sum();
        if windowed < self.min_windowed_energy {
            #[cfg(test)]
            {
                self.skipped += 1;
            }
            return None;
        }
        self.fft.process(&self.scratch_in, &mut self.scratch_out);
        let bins = self.power.len().min(self.scratch_out.len());
        let (power, spec) = (&mut self.power[..bins], &self.scratch_out[..bins]);
        for k in 0..bins {
            let (re, im) = (spec[k].re as f64, spec[k].im as f64);
            power[k] = re * re + im * im;
        }
        let bin_hz = self.fs as f64 / n as f64;
        let k_lo_total = (100.0 / bin_hz).ceil() as usize;
        let total = sum_lanes(&self.power[k_lo_total..]);
        if total <= 0.0 {
            return None;
        }
        // The bin at or below `min_freq_hz` may hold a tone just above it (a 302 Hz tone peaks in
        // the 296.9 Hz bin at 8 kHz); the interpolated frequency is checked below.
        let k0 = ((self.cfg.min_freq_hz as f64 / bin_hz).floor() as usize).max(1);
        let k1 =
            ((self.cfg.max_freq_hz as f64 / bin_hz).floor() as usize).min(self.power.len() - 2);
        // The strongest component from 100 Hz up to `max_freq_hz` must lie in the band and
        // be a local maximum (a voice whose pitch is below the band is not a beep).
        let k_start = k_lo_total.max(1);
        let kp = k_start + first_max(&self.power[k_start..=k1]).map_or(0, |(i, _)| i);
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
        if kf * bin_hz < self.cfg.min_freq_hz as f64 * (1.0 - MIN_FREQ_TOLERANCE) {
            return None;
        }
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
        if valid >= n && recent_ms < RECENT_MIN_RATIO * tone_ms as f64 {
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
        #[cfg(test)]
        self.trace.push(res);
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
                    (f - m).abs() <= (self.cfg.max_freq_dev as f64 * m).max(FREQ_DEV_FLOOR_HZ)
                        && steady_level
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
        if self.ms(end - start) + DURATION_TOLERANCE_MS < self.cfg.min_duration_ms {
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

/// Energy floors below which a frame cannot be tonal, for a detector with FFT size `n` and
/// window power `win_pow = Σw²`: (window Σx², windowed Σ(w·x)², newest hop's mean square).
///
/// A tonal frame has a fundamental of level ≥ `min_level_dbm0`, i.e. peak amplitude
/// `a ≥ a_min` with `a² = 4·F / (n·Σw²)`, where `F` is the power in the three bins around the
/// peak. By Parseval `Σ_k |X_k|² = n·Σ(w·x)²` over all `n` bins, and each of those three bins
/// also appears mirrored (at `n − k`) unless the highest is the Nyquist bin, so
/// `F ≤ n·Σ(w·x)² / m` with `m = 2` (`1` when the band reaches the Nyquist bin). Hence
/// `Σx² ≥ Σ(w·x)² ≥ m·Σw²·a_min² / 4` (Hann weights are at most 1). Such a frame also has a tone
/// mean square `a²/2 ≥ a_min²/2`, so its newest hop needs a mean square of at least
/// [`RECENT_MIN_RATIO`] of that. All three floors carry [`PRECHECK_SLACK`].
fn precheck_bounds(cfg: &BeepConfig, fs: u32, n: usize, win_pow: f64) -> (f64, f64, f64) {
    let a_min = 10f64.powf((cfg.min_level_dbm0 as f64 - FULL_SCALE_SINE_DBM0 as f64) / 20.0);
    let bin_hz = fs as f64 / n as f64;
    // the highest bin `analyze` may take as the peak, as it computes it
    let k1 = ((cfg.max_freq_hz as f64 / bin_hz).floor() as usize).min(n / 2 - 1);
    let mirror = if k1 + 1 < n / 2 { 2.0 } else { 1.0 };
    let windowed = PRECHECK_SLACK * mirror * win_pow * a_min * a_min / 4.0;
    let recent = PRECHECK_SLACK * RECENT_MIN_RATIO * a_min * a_min / 2.0;
    (windowed, windowed, recent)
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
    use crate::synth::{add_noise_snr, multi_tone, silence, sine, white_noise, Prng};

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

    /// Beeps at the edges of the promised range: 300–310 Hz (their peak bin lies just below
    /// `min_freq_hz`), and 80 ms long (their measured length falls a few ms short), clean and
    /// through 15 dB SNR noise plus G.711, at 8 and 16 kHz; a 285 Hz tone stays out.
    #[test]
    fn band_edge_and_shortest_beeps() {
        use crate::synth::mulaw_roundtrip;
        let cases: [(f32, f64, bool); 6] = [
            (300.0, 300.0, true),
            (302.0, 120.0, true),
            (307.0, 500.0, true),
            (1047.0, 80.0, true),
            (483.0, 81.0, true),
            (285.0, 400.0, false),
        ];
        for fs in [8000u32, 16000] {
            for (i, &(f, len, want)) in cases.iter().enumerate() {
                for noisy in [false, true] {
                    let mut x = silence(fs, 300.0);
                    let mut tone = sine(fs, f, len, -18.0);
                    // 5 ms raised-cosine ramps, as tone generators make
                    let (m, r) = (tone.len(), fs as usize / 200);
                    for i in 0..r {
                        let g = 0.5 - 0.5 * (std::f32::consts::PI * i as f32 / r as f32).cos();
                        tone[i] *= g;
                        tone[m - 1 - i] *= g;
                    }
                    if noisy {
                        add_noise_snr(&mut tone, 15.0, 11 + i as u64);
                    }
                    x.extend(tone);
                    x.extend(silence(fs, 300.0));
                    if noisy {
                        x.iter_mut().for_each(|v| *v = mulaw_roundtrip(*v));
                    }
                    let mut d = BeepDetector::new(fs, BeepConfig::default()).unwrap();
                    let mut ev = d.push(&x);
                    ev.extend(d.flush());
                    let what = format!("fs {fs} {f} Hz {len} ms noisy {noisy}: {ev:?}");
                    if want {
                        assert_eq!(ev.len(), 1, "{what}");
                        assert!((ev[0].frequency_hz - f).abs() < 2.0, "{what}");
                        assert!((ev[0].end_ms - ev[0].start_ms - len).abs() < 8.0, "{what}");
                    } else {
                        assert!(ev.is_empty(), "{what}");
                    }
                }
            }
        }
    }

    /// Feed `x` in random chunk sizes to a detector with and without the energy pre-check;
    /// every frame's analysis must be identical. Returns (frames skipped, tonal frames seen,
    /// lowest tonal level).
    fn compare(fs: u32, cfg: &BeepConfig, x: &[f32], seed: u64) -> (usize, usize, f32) {
        let mut fast = BeepDetector::new(fs, cfg.clone()).unwrap();
        let mut full = BeepDetector::new(fs, cfg.clone()).unwrap();
        full.min_window_energy = f64::NEG_INFINITY;
        full.min_windowed_energy = f64::NEG_INFINITY;
        full.min_recent_ms = f64::NEG_INFINITY;
        let mut rng = Prng::new(seed);
        let (mut ev_fast, mut ev_full) = (Vec::new(), Vec::new());
        let mut rest = x;
        while !rest.is_empty() {
            let k = (1 + (rng.uniform() * 400.0) as usize).min(rest.len());
            ev_fast.extend(fast.push(&rest[..k]));
            ev_full.extend(full.push(&rest[..k]));
            rest = &rest[k..];
        }
        ev_fast.extend(fast.flush());
        ev_full.extend(full.flush());
        assert_eq!(full.skipped, 0);
        assert_eq!(fast.trace.len(), full.trace.len());
        for (i, (a, b)) in fast.trace.iter().zip(&full.trace).enumerate() {
            assert_eq!(a, b, "fs {fs} frame {i}");
        }
        assert_eq!(ev_fast, ev_full);
        let tonal: Vec<f32> = full.trace.iter().flatten().map(|t| t.1).collect();
        let lowest = tonal.iter().copied().fold(f32::INFINITY, f32::min);
        (fast.skipped, tonal.len(), lowest)
    }

    /// The energy pre-check only skips frames the full analysis rejects: tones around the
    /// level floor (with their onsets and ends), in noise, harmonic-rich, and noise alone.
    #[test]
    fn precheck_rejects_only_non_tonal_frames() {
        let near_nyquist = BeepConfig {
            max_freq_hz: 3950.0,
            ..BeepConfig::default()
        };
        let quieter = BeepConfig {
            min_level_dbm0: -30.0,
            ..BeepConfig::default()
        };
        let configs = [BeepConfig::default(), near_nyquist, quieter];
        for fs in [8000u32, 16000] {
            for (ci, cfg) in configs.iter().enumerate() {
                if cfg.max_freq_hz >= fs as f32 / 2.0 {
                    continue;
                }
                let floor = cfg.min_level_dbm0;
                let mut x = Vec::new();
                let mut level = floor - 8.0;
                let mut k = 0u64;
                while level <= floor + 6.0 {
                    for f in [300.0f32, 1000.0, 2450.0, cfg.max_freq_hz - 20.0] {
                        k += 1;
                        x.extend(silence(fs, 37.0 + k as f64 % 50.0));
                        let mut tone = sine(fs, f, 130.0 + (k % 7) as f64 * 11.0, level);
                        // a fade-in and fade-out, so frames sweep across the level floor
                        let m = tone.len();
                        for (i, v) in tone.iter_mut().enumerate() {
                            let edge = (i.min(m - 1 - i) as f32 / 200.0).min(1.0);
                            *v *= edge;
                        }
                        x.extend(tone);
                    }
                    // harmonic-rich beep and a tone in 15 dB SNR noise
                    x.extend(multi_tone(fs, &[600.0, 1800.0], 200.0, level));
                    let mut noisy = sine(fs, 850.0, 200.0, level);
                    add_noise_snr(&mut noisy, 15.0, k);
                    x.extend(noisy);
                    x.extend(white_noise(fs, 150.0, level, 1000 + k));
                    level += 0.5;
                }
                let (skipped, tonal, lowest) = compare(fs, cfg, &x, 7 + ci as u64);
                let frames = x.len() / (fs as usize / 1000 * 16);
                // the test must exercise both paths, with tonal frames near the floor
                assert!(
                    skipped > frames / 10,
                    "fs {fs} cfg {ci}: {skipped} of {frames}"
                );
                assert!(tonal > 50, "fs {fs} cfg {ci}: {tonal} tonal frames");
                assert!(lowest < floor + 1.0, "fs {fs} cfg {ci}: lowest {lowest}");
            }
        }
    }
}
