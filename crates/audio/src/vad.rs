//! Streaming voice activity detection with an adaptive noise floor, onset and hangover, and
//! net-speech accounting.
//!
//! # Method
//! Frames are 10, 20 or 30 ms. Each frame's level (dBm0, after a 100 Hz DC-blocking high-pass)
//! is compared with a noise floor (starting at [`INITIAL_FLOOR_DBM0`]): the minimum frame level over the last 1.5 s, followed
//! downwards at once and upwards at most 10 dB/s (so the floor tracks a rising noise within a
//! few seconds, while pauses between words keep it from following speech); a level that stays
//! steady (standard deviation ≤ 1.5 dB over 300 ms — a noise step or a tone) becomes the floor
//! at once, so a noise step costs about 300 ms of false speech (and a long, very steady sung
//! vowel may be cut). A frame is *speech*
//! when its level exceeds the floor by the mode's margin and an absolute minimum, and it is not
//! *tonal*: with `reject_tones` on, a 32 ms FFT ending at the frame is checked, and a frame whose
//! two strongest spectral peaks (±1 bin each) hold ≥ 90 % of the 200–4000 Hz energy is not
//! speech (steady single or dual tones — beeps, DTMF, ringback — are rejected; speech spreads
//! its energy over many harmonics and formants).
//!
//! Aggressiveness `mode` 0–3 (like WebRTC VAD: higher is stricter) sets the margin over the
//! noise floor (6, 8, 10, 13 dB) and the absolute minimum (−55, −52, −50, −48 dBm0).
//!
//! A segment starts after `min_speech_ms` of consecutive speech frames ([`VadEvent::SpeechStart`]
//! at the first of them) and ends once `hangover_ms` pass without a speech frame
//! ([`VadEvent::SpeechEnd`] at the end of the last speech frame, so the hangover is not part
//! of the segment; the event itself comes out `hangover_ms` later).
//!
//! **Net speech** ([`Vad::net_speech_ms`]) counts only frames classified as speech inside
//! confirmed segments (onset frames included); pauses bridged by the hangover and speech bursts
//! shorter than `min_speech_ms` are not counted.

use std::collections::VecDeque;
use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

use crate::goertzel::clean;
use crate::synth::mean_square_to_dbm0;
use crate::AudioError;

/// Supported sample rates, Hz.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 8000..=48_000;
/// Length of the noise-floor minimum window, ms.
pub const FLOOR_WINDOW_MS: f64 = 1500.0;
/// A level whose standard deviation over this many ms is below [`STATIONARY_STD_DB`] is
/// treated as background: the floor jumps to it.
pub const STATIONARY_MS: f64 = 300.0;
/// See [`STATIONARY_MS`].
pub const STATIONARY_STD_DB: f64 = 1.5;
/// Noise floor assumed before the first frame, dBm0.
pub const INITIAL_FLOOR_DBM0: f64 = -60.0;
/// A frame is tonal when its two strongest peaks (±1 bin each) hold this share of the
/// 200–4000 Hz energy.
pub const TONAL_SHARE: f64 = 0.9;
/// Lowest noise floor, dBm0 (digital silence does not drag the floor to −∞).
pub const MIN_FLOOR_DBM0: f64 = -75.0;
/// Fastest upward movement of the noise floor, dB per second.
pub const FLOOR_RISE_DB_PER_S: f64 = 10.0;

/// VAD settings.
#[derive(Clone, Debug, PartialEq)]
pub struct VadConfig {
    /// Frame length: 10, 20 or 30 ms (default 10).
    pub frame_ms: u32,
    /// Aggressiveness 0–3 (default 2).
    pub mode: u8,
    /// Time without speech frames before a segment ends, ms (default 200).
    pub hangover_ms: f64,
    /// Consecutive speech needed to start a segment, ms (default 60).
    pub min_speech_ms: f64,
    /// Treat strongly tonal frames as non-speech (default true).
    pub reject_tones: bool,
}

impl Default for VadConfig {
    fn default() -> Self {
        VadConfig {
            frame_ms: 10,
            mode: 2,
            hangover_ms: 200.0,
            min_speech_ms: 60.0,
            reject_tones: true,
        }
    }
}

/// VAD output. Times in ms from the first sample pushed.
#[derive(Clone, Debug, PartialEq)]
pub enum VadEvent {
    /// Speech began at `at_ms`.
    SpeechStart { at_ms: f64 },
    /// Speech that began at `start_ms` ended at `at_ms` (hangover excluded).
    SpeechEnd { start_ms: f64, at_ms: f64 },
}

/// Streaming VAD; see the module docs.
pub struct Vad {
    fs: u32,
    cfg: VadConfig,
    frame: usize,
    frame_ms: f64,
    margin_db: f64,
    abs_min_db: f64,
    // high-pass state
    hp_x: f64,
    hp_y: f64,
    hp_r: f64,
    acc: f64,
    acc_n: usize,
    frames: u64,
    // recent samples for the tonality FFT
    hist: Vec<f32>,
    hist_pos: usize,
    fft: Arc<dyn RealToComplex<f32>>,
    fft_in: Vec<f32>,
    fft_out: Vec<realfft::num_complex::Complex<f32>>,
    fft_scratch: Vec<realfft::num_complex::Complex<f32>>,
    window: Vec<f32>,
    levels: VecDeque<f64>,
    floor: Option<f64>,
    run: u64,
    in_speech: bool,
    seg_start: u64,
    last_speech_end: u64,
    silence_frames: u64,
    net_frames: u64,
    last_frame_speech: bool,
}

impl std::fmt::Debug for Vad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vad")
            .field("fs", &self.fs)
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl Vad {
    /// A VAD for audio at `sample_rate` Hz (8000–48000).
    pub fn new(sample_rate: u32, config: VadConfig) -> Result<Self, AudioError> {
        if !SAMPLE_RATES.contains(&sample_rate) {
            return Err(AudioError::InvalidParam {
                name: "sample_rate",
                why: format!("{sample_rate} Hz is outside {SAMPLE_RATES:?}"),
            });
        }
        if ![10, 20, 30].contains(&config.frame_ms) {
            return Err(AudioError::InvalidParam {
                name: "frame_ms",
                why: format!("{} is not 10, 20 or 30", config.frame_ms),
            });
        }
        if config.mode > 3 {
            return Err(AudioError::InvalidParam {
                name: "mode",
                why: format!("{} is not 0..=3", config.mode),
            });
        }
        if !(config.hangover_ms >= 0.0 && config.min_speech_ms >= 0.0) {
            return Err(AudioError::InvalidParam {
                name: "hangover_ms/min_speech_ms",
                why: "must be non-negative numbers".into(),
            });
        }
        let frame = sample_rate as usize * config.frame_ms as usize / 1000;
        let nfft = ((sample_rate as f64 * 0.032) as usize).next_power_of_two();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(nfft);
        let window = (0..nfft)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / nfft as f64).cos()) as f32
            })
            .collect();
        let m = config.mode as usize;
        Ok(Vad {
            fs: sample_rate,
            frame,
            frame_ms: frame as f64 * 1000.0 / sample_rate as f64,
            margin_db: [6.0, 8.0, 10.0, 13.0][m],
            abs_min_db: [-55.0, -52.0, -50.0, -48.0][m],
            hp_x: 0.0,
            hp_y: 0.0,
            hp_r: 1.0 - 2.0 * std::f64::consts::PI * 100.0 / sample_rate as f64,
            acc: 0.0,
            acc_n: 0,
            frames: 0,
            hist: vec![0.0; nfft],
            hist_pos: 0,
            fft_in: fft.make_input_vec(),
            fft_out: fft.make_output_vec(),
            fft_scratch: fft.make_scratch_vec(),
            fft,
            window,
            levels: VecDeque::new(),
            floor: None,
            run: 0,
            in_speech: false,
            seg_start: 0,
            last_speech_end: 0,
            silence_frames: 0,
            net_frames: 0,
            last_frame_speech: false,
            cfg: config,
        })
    }

    /// Feed samples (any chunk size; non-finite samples count as 0). Returns events.
    pub fn push(&mut self, samples: &[f32]) -> Vec<VadEvent> {
        let mut out = Vec::new();
        for &x in samples {
            let x = clean(x) as f64;
            let y = x - self.hp_x + self.hp_r * self.hp_y;
            self.hp_x = x;
            self.hp_y = y;
            self.hist[self.hist_pos] = y as f32;
            self.hist_pos = (self.hist_pos + 1) % self.hist.len();
            self.acc += y * y;
            self.acc_n += 1;
            if self.acc_n == self.frame {
                let ms = self.acc / self.frame as f64;
                self.acc = 0.0;
                self.acc_n = 0;
                self.on_frame(ms, &mut out);
            }
        }
        out
    }

    /// End of stream: close an open segment (at the end of its last speech frame).
    pub fn flush(&mut self) -> Vec<VadEvent> {
        let mut out = Vec::new();
        if self.in_speech {
            self.in_speech = false;
            out.push(VadEvent::SpeechEnd {
                start_ms: self.ms(self.seg_start),
                at_ms: self.ms(self.last_speech_end),
            });
        }
        out
    }

    /// Whether a speech segment is open (hangover included).
    pub fn is_speech(&self) -> bool {
        self.in_speech
    }

    /// Whether the last complete frame was classified as speech (raw frame decision).
    pub fn last_frame_is_speech(&self) -> bool {
        self.last_frame_speech
    }

    /// Total speech so far, ms (see the module docs for what counts).
    pub fn net_speech_ms(&self) -> f64 {
        self.net_frames as f64 * self.frame_ms
    }

    /// Current noise floor estimate, dBm0 (None before the first frame).
    pub fn noise_floor_dbm0(&self) -> Option<f64> {
        self.floor
    }

    fn ms(&self, frame_idx: u64) -> f64 {
        (frame_idx * self.frame as u64) as f64 * 1000.0 / self.fs as f64
    }

    fn tonal(&mut self) -> bool {
        let n = self.hist.len();
        for i in 0..n {
            self.fft_in[i] = self.hist[(self.hist_pos + i) % n] * self.window[i];
        }
        if self
            .fft
            .process_with_scratch(&mut self.fft_in, &mut self.fft_out, &mut self.fft_scratch)
            .is_err()
        {
            return false;
        }
        let bin = self.fs as f64 / n as f64;
        let k0 = (200.0 / bin).ceil() as usize;
        let k1 = ((4000.0f64.min(self.fs as f64 / 2.0) / bin) as usize).min(self.fft_out.len() - 1);
        let p: Vec<f64> = self.fft_out[k0..=k1]
            .iter()
            .map(|c| (c.re as f64).powi(2) + (c.im as f64).powi(2))
            .collect();
        let total: f64 = p.iter().sum();
        if total <= 0.0 {
            return false;
        }
        let peak = |p: &[f64], skip: Option<usize>| {
            let mut best = None;
            for (i, &v) in p.iter().enumerate() {
                if skip.is_some_and(|s| i.abs_diff(s) <= 3) {
                    continue;
                }
                if best.is_none_or_lt(v, p) {
                    best = Some(i);
                }
            }
            best
        };
        let around = |i: usize| {
            p[i.saturating_sub(1)..(i + 2).min(p.len())]
                .iter()
                .sum::<f64>()
        };
        let Some(a) = peak(&p, None) else {
            return false;
        };
        let e2 = peak(&p, Some(a)).map_or(0.0, around);
        (around(a) + e2) >= TONAL_SHARE * total
    }

    fn on_frame(&mut self, ms: f64, out: &mut Vec<VadEvent>) {
        let idx = self.frames;
        self.frames += 1;
        let level = (mean_square_to_dbm0(ms) as f64).max(-90.0);
        let win = (FLOOR_WINDOW_MS / self.frame_ms).ceil() as usize;
        self.levels.push_back(level);
        if self.levels.len() > win {
            self.levels.pop_front();
        }
        let min = self.levels.iter().copied().fold(f64::INFINITY, f64::min);
        let rise = FLOOR_RISE_DB_PER_S * self.frame_ms / 1000.0;
        let mut floor = match self.floor {
            // Start low: the stream may begin in speech; the floor comes down at once if the
            // background is quieter and rises at the limited rate otherwise.
            None => min.min(INITIAL_FLOOR_DBM0),
            Some(f) if min < f => min,
            Some(f) => f + (min - f).min(rise),
        };
        // A steady level (a noise step, a tone) is background: jump the floor to it.
        // At stream start, judge stationarity on the frames seen so far (at least three), so
        // that a stream opening on steady noise does not start with false speech.
        let recent = ((STATIONARY_MS / self.frame_ms).ceil() as usize).min(self.levels.len());
        if recent >= 3 {
            let it = self.levels.iter().skip(self.levels.len() - recent);
            let mean = it.clone().sum::<f64>() / recent as f64;
            let var = it.map(|v| (v - mean) * (v - mean)).sum::<f64>() / recent as f64;
            if var.sqrt() <= STATIONARY_STD_DB {
                floor = floor.max(mean - 2.0);
            }
        }
        let floor = floor.max(MIN_FLOOR_DBM0);
        self.floor = Some(floor);
        let loud = level >= floor + self.margin_db && level >= self.abs_min_db;
        let speech = loud && !(self.cfg.reject_tones && self.tonal());
        self.last_frame_speech = speech;
        let min_frames = (self.cfg.min_speech_ms / self.frame_ms).ceil().max(1.0) as u64;
        let hang_frames = (self.cfg.hangover_ms / self.frame_ms).ceil() as u64;
        if speech {
            self.run += 1;
            self.silence_frames = 0;
            self.last_speech_end = idx + 1;
            if self.in_speech {
                self.net_frames += 1;
            } else if self.run >= min_frames {
                self.in_speech = true;
                self.seg_start = idx + 1 - self.run;
                self.net_frames += self.run;
                out.push(VadEvent::SpeechStart {
                    at_ms: self.ms(self.seg_start),
                });
            }
        } else {
            self.run = 0;
            if self.in_speech {
                self.silence_frames += 1;
                if self.silence_frames >= hang_frames.max(1) {
                    self.in_speech = false;
                    out.push(VadEvent::SpeechEnd {
                        start_ms: self.ms(self.seg_start),
                        at_ms: self.ms(self.last_speech_end),
                    });
                }
            }
        }
    }
}

trait BestExt {
    fn is_none_or_lt(&self, v: f64, p: &[f64]) -> bool;
}

impl BestExt for Option<usize> {
    fn is_none_or_lt(&self, v: f64, p: &[f64]) -> bool {
        match self {
            None => true,
            Some(b) => v > p[*b],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_inputs() {
        assert!(Vad::new(
            8000,
            VadConfig {
                frame_ms: 15,
                ..Default::default()
            }
        )
        .is_err());
        assert!(Vad::new(
            8000,
            VadConfig {
                mode: 4,
                ..Default::default()
            }
        )
        .is_err());
        let mut v = Vad::new(8000, VadConfig::default()).unwrap();
        assert!(v.push(&[]).is_empty());
        assert!(v.push(&[f32::NAN; 1000]).is_empty());
        assert!(v.noise_floor_dbm0().unwrap().is_finite());
        assert_eq!(v.net_speech_ms(), 0.0);
    }
}
