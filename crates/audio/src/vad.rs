//! Streaming voice activity detection with per-band noise tracking, sub-band SNR decisions,
//! tone rejection, onset and hangover, and net-speech accounting.
//!
//! # Method
//! Frames are 10, 20 or 30 ms; analysis runs every 10 ms whatever the frame length (a 20 or
//! 30 ms frame uses the mean sub-band SNR of its hops). Samples pass a 100 Hz DC-blocking
//! high-pass. Every 10 ms a Hann-windowed FFT of the last 32 ms (256 points at 8 kHz) gives the power in
//! [`BAND_EDGES_HZ`] (12 bands over 100–3800 Hz). Each band keeps a noise estimate: it moves
//! quickly down towards a quieter band power and up (a slow, capped average) on hops judged
//! non-speech; during speech it follows a band slowly only where the band stays near the
//! noise, and elsewhere creeps up by at most [`SPEECH_RISE_DB_PER_S`]. When the
//! frame level stays steady (standard deviation ≤ [`STATIONARY_STD_DB`] over
//! [`STATIONARY_MS`] — a noise step or a tone) each band's noise estimate jumps to that band's
//! recent mean power, so a noise step costs about 300 ms of false speech (and a long, very
//! steady sung vowel may be cut). The stream starts with a noise estimate no higher than
//! [`INITIAL_FLOOR_DBM0`] (it may begin in speech).
//!
//! A frame is *speech* when the **sub-band SNR** — the mean over bands of max(0, band SNR in
//! dB) — reaches the mode's threshold, its level reaches an absolute minimum, and it is not
//! *tonal*: with `reject_tones` on, a frame whose two strongest spectral peaks (±1 bin each)
//! hold ≥ 90 % of the 200–4000 Hz energy is not speech (steady single or dual tones — beeps,
//! DTMF, ringback — are rejected; speech spreads its energy over many harmonics and formants).
//! With `reject_tones` on, *music* is not speech either: every hop's 200–4000 Hz spectrum is
//! compared with the one [`STEADY_LAG_HOPS`] (50 ms) earlier, and a hop is *steady* when the
//! two overlap by at least [`STEADY_SHARE`] (Σ min / Σ max over bins). While at least
//! [`MUSIC_SHARE`] of the last [`STEADY_WINDOW_HOPS`] (500 ms) hops are steady — held notes and
//! chords, a music ringback tone, hold music — no frame is speech (the noise tracker absorbs a
//! held note, so without this the note changes alone would read as a string of syllables).
//! Speech moves its harmonics with its pitch from one hop to the next and stays well below.
//! Averaging per-band SNRs keeps speech visible in white noise: voiced speech concentrates its
//! energy in a few low bands, where its local SNR is far above the full-band SNR, while noise
//! alone scatters around 0 dB in every band.
//!
//! Aggressiveness `mode` 0–3 (like WebRTC VAD: higher is stricter) sets the sub-band SNR
//! threshold ([`SUBBAND_SNR_DB`]) and the absolute minimum (−55, −52, −50, −48 dBm0).
//!
//! A segment starts after `min_speech_ms` of consecutive speech frames ([`VadEvent::SpeechStart`]
//! at the first of them) and ends once `hangover_ms` pass without a speech frame
//! ([`VadEvent::SpeechEnd`] at the end of the last speech frame, so the hangover is not part
//! of the segment; the event itself comes out `hangover_ms` later).
//!
//! **Net speech** ([`Vad::net_speech_ms`]) counts only frames classified as speech inside
//! confirmed segments (onset frames included); pauses bridged by the hangover and speech bursts
//! shorter than `min_speech_ms` are not counted.
//!
//! Cost: one 32 ms real FFT per frame plus a few operations per sample.

use std::collections::VecDeque;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use crate::goertzel::{check_sample_rate, clean, first_max};
use crate::synth::mean_square_to_dbm0;
use crate::AudioError;

/// Supported sample rates, Hz.
pub const SAMPLE_RATES: std::ops::RangeInclusive<u32> = 8000..=48_000;
/// Edges of the analysis bands, Hz (12 bands, narrower where voiced speech has its energy).
pub const BAND_EDGES_HZ: [f64; 13] = [
    100.0, 250.0, 400.0, 550.0, 750.0, 950.0, 1200.0, 1500.0, 1850.0, 2250.0, 2700.0, 3200.0,
    3800.0,
];
/// Sub-band SNR threshold per mode 0–3, dB (mean over bands of max(0, band SNR)).
pub const SUBBAND_SNR_DB: [f64; 4] = [1.5, 1.8, 2.2, 3.0];
/// Absolute minimum frame level for speech per mode 0–3, dBm0.
pub const ABS_MIN_DBM0: [f64; 4] = [-55.0, -52.0, -50.0, -48.0];
/// A level whose standard deviation over this many ms is below [`STATIONARY_STD_DB`] is
/// treated as background: the band noise estimates jump to it.
pub const STATIONARY_MS: f64 = 300.0;
/// See [`STATIONARY_MS`].
pub const STATIONARY_STD_DB: f64 = 1.5;
/// Highest noise level assumed at the start of the stream, dBm0 (spread over the bands as
/// white noise).
pub const INITIAL_FLOOR_DBM0: f64 = -60.0;
/// A frame is tonal when its two strongest peaks (±1 bin each) hold this share of the
/// 200–4000 Hz energy.
pub const TONAL_SHARE: f64 = 0.9;
/// Hops between the two spectra compared by the steadiness test (50 ms).
pub const STEADY_LAG_HOPS: usize = 5;
/// Hops over which the share of steady hops is counted.
pub const STEADY_WINDOW_HOPS: usize = 50;
/// A frame whose spectrum overlaps the one [`STEADY_LAG_HOPS`] earlier by at least this share
/// (Σ min / Σ max over 200–4000 Hz bins) is steady: notes of music, chords, tone complexes.
pub const STEADY_SHARE: f64 = 0.6;
/// When at least this share of the last [`STEADY_WINDOW_HOPS`] hops is steady, the audio is
/// music (or another tone complex) and no frame of it is speech.
pub const MUSIC_SHARE: f64 = 0.5;
/// Lowest noise level, dBm0 (digital silence does not drag the estimates to −∞); spread over
/// the bands as white noise.
pub const MIN_FLOOR_DBM0: f64 = -75.0;
/// Fastest upward movement of a band's noise estimate during speech, dB per second.
pub const SPEECH_RISE_DB_PER_S: f64 = 2.0;
/// Analysis window, ms (rounded up to a power-of-two FFT).
pub const ANALYSIS_MS: f64 = 32.0;
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
    snr_thr_db: f64,
    abs_min_db: f64,
    // high-pass state
    hp_x: f64,
    hp_y: f64,
    hp_r: f64,
    acc: f64,
    acc_n: usize,
    // 10 ms analysis hops inside the frame
    hops: usize,
    hop_acc: f64,
    hop_start: usize,
    next_hop: usize,
    snr_sum: f64,
    frames: u64,
    // recent samples for the FFT (ring)
    hist: Vec<f32>,
    hist_pos: usize,
    fft: Arc<dyn RealToComplex<f32>>,
    fft_in: Vec<f32>,
    fft_out: Vec<Complex<f32>>,
    fft_scratch: Vec<Complex<f32>>,
    window: Vec<f32>,
    /// FFT bin power → mean square of the signal.
    bin_scale: f64,
    /// Bin ranges [lo, hi) of the bands.
    bands: Vec<(usize, usize)>,
    /// Per band: noise estimate, recent mean power, this frame's power (mean-square units).
    noise: Vec<f64>,
    recent: Vec<f64>,
    power: Vec<f64>,
    /// Per band: noise of white noise at [`INITIAL_FLOOR_DBM0`] and [`MIN_FLOOR_DBM0`].
    init_noise: Vec<f64>,
    min_noise: Vec<f64>,
    noise_up: f64,
    noise_down: f64,
    recent_w: f64,
    smooth_w: f64,
    smooth: Vec<f64>,
    speech_rise: f64,
    levels: VecDeque<f64>,
    stationary_frames: usize,
    started: bool,
    seen: usize,
    wsum2: f64,
    last_snr: f64,
    prev_speech: bool,
    run: u64,
    in_speech: bool,
    seg_start: u64,
    last_speech_end: u64,
    silence_frames: u64,
    net_frames: u64,
    last_frame_speech: bool,
    /// FFT bins from 200 Hz up to 4000 Hz (or Nyquist), first and last, for the tone and
    /// steadiness tests.
    tone_bins: (usize, usize),
    /// Bin powers over `tone_bins` of the last [`STEADY_LAG_HOPS`] + 1 hops, a ring; the newest
    /// is the current FFT's, which the tone test reads too.
    hop_spectra: Vec<Vec<f64>>,
    hop_count: usize,
    /// Steadiness of the last [`STEADY_WINDOW_HOPS`] hops (true = steady), a ring, and its count.
    steady_hops: VecDeque<bool>,
    steady_n: usize,
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
        check_sample_rate(sample_rate, &SAMPLE_RATES)?;
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
        let fs = sample_rate as f64;
        let frame = sample_rate as usize * config.frame_ms as usize / 1000;
        let frame_ms = frame as f64 * 1000.0 / fs;
        let nfft = ((fs * ANALYSIS_MS / 1000.0) as usize).next_power_of_two();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(nfft);
        let window: Vec<f32> = (0..nfft)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / nfft as f64).cos()) as f32
            })
            .collect();
        let wsum2: f64 = window.iter().map(|&w| (w as f64) * (w as f64)).sum();
        // One-sided bin power → mean square of the windowed-and-normalised signal.
        let bin_scale = 2.0 / (nfft as f64 * wsum2);
        let bin = fs / nfft as f64;
        let tone_bins = (
            (200.0 / bin).ceil() as usize,
            ((4000.0f64.min(fs / 2.0) / bin) as usize).min(nfft / 2),
        );
        let bands: Vec<(usize, usize)> = BAND_EDGES_HZ
            .windows(2)
            .map(|e| {
                let lo = (e[0] / bin).round() as usize;
                let hi = ((e[1] / bin).round() as usize).max(lo + 1);
                (lo, hi)
            })
            .collect();
        // White noise at level L has mean square ms(L) spread evenly over 0..fs/2.
        let white = |dbm0: f64| {
            let ms = 10f64.powf((dbm0 - crate::synth::FULL_SCALE_SINE_DBM0 as f64) / 10.0) / 2.0;
            bands
                .iter()
                .map(|&(lo, hi)| ms * (hi - lo) as f64 * bin / (fs / 2.0))
                .collect::<Vec<f64>>()
        };
        let m = config.mode as usize;
        let nb = bands.len();
        Ok(Vad {
            fs: sample_rate,
            frame,
            frame_ms,
            snr_thr_db: SUBBAND_SNR_DB[m],
            abs_min_db: ABS_MIN_DBM0[m],
            hp_x: 0.0,
            hp_y: 0.0,
            hp_r: 1.0 - 2.0 * std::f64::consts::PI * 100.0 / fs,
            acc: 0.0,
            acc_n: 0,
            hops: (config.frame_ms / 10) as usize,
            hop_acc: 0.0,
            hop_start: 0,
            next_hop: frame / (config.frame_ms / 10) as usize,
            snr_sum: 0.0,
            frames: 0,
            hist: vec![0.0; nfft],
            hist_pos: 0,
            fft_in: fft.make_input_vec(),
            fft_out: fft.make_output_vec(),
            fft_scratch: fft.make_scratch_vec(),
            fft,
            window,
            bin_scale,
            init_noise: white(INITIAL_FLOOR_DBM0),
            min_noise: white(MIN_FLOOR_DBM0),
            bands,
            noise: vec![0.0; nb],
            recent: vec![0.0; nb],
            power: vec![0.0; nb],
            noise_up: NOISE_UP,
            noise_down: NOISE_DOWN,
            recent_w: RECENT,
            smooth_w: SMOOTH,
            smooth: vec![0.0; nb],
            speech_rise: 10f64.powf(SPEECH_RISE_DB_PER_S * frame_ms / 1000.0 / 10.0),
            levels: VecDeque::new(),
            stationary_frames: (STATIONARY_MS / 10.0).ceil() as usize,
            started: false,
            seen: 0,
            wsum2,
            last_snr: 0.0,
            prev_speech: false,
            run: 0,
            in_speech: false,
            seg_start: 0,
            last_speech_end: 0,
            silence_frames: 0,
            net_frames: 0,
            last_frame_speech: false,
            tone_bins,
            hop_spectra: vec![Vec::new(); STEADY_LAG_HOPS + 1],
            hop_count: 0,
            steady_hops: VecDeque::new(),
            steady_n: 0,
            cfg: config,
        })
    }

    /// Feed samples (any chunk size; non-finite samples count as 0). Returns events.
    pub fn push(&mut self, samples: &[f32]) -> Vec<VadEvent> {
        let mut out = Vec::new();
        let n = self.hist.len();
        let mut rest = samples;
        while !rest.is_empty() {
            // Up to the next hop or frame boundary, with the filter state in locals; the same
            // per-sample arithmetic, in the same order, as one sample at a time.
            let stop = if self.next_hop > self.acc_n {
                self.next_hop.min(self.frame)
            } else {
                self.frame
            };
            let take = (stop - self.acc_n).min(rest.len());
            let (mut hx, mut hy, r) = (self.hp_x, self.hp_y, self.hp_r);
            let (mut acc, mut hop_acc, mut pos) = (self.acc, self.hop_acc, self.hist_pos);
            for &x in &rest[..take] {
                let x = clean(x) as f64;
                let y = x - hx + r * hy;
                hx = x;
                hy = y;
                self.hist[pos] = y as f32;
                pos += 1;
                if pos == n {
                    pos = 0;
                }
                acc += y * y;
                hop_acc += y * y;
            }
            (self.hp_x, self.hp_y) = (hx, hy);
            (self.acc, self.hop_acc, self.hist_pos) = (acc, hop_acc, pos);
            self.acc_n += take;
            self.seen = (self.seen + take).min(n);
            rest = &rest[take..];
            if self.acc_n == self.next_hop {
                self.on_hop();
            }
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

    /// Sub-band SNR of the last complete frame, dB (mean over bands of max(0, band SNR)).
    pub fn last_subband_snr_db(&self) -> f64 {
        self.last_snr
    }

    /// Current noise estimate over the analysis bands (100–3800 Hz), dBm0 (None before the
    /// first frame).
    pub fn noise_floor_dbm0(&self) -> Option<f64> {
        self.started
            .then(|| mean_square_to_dbm0(self.noise.iter().sum::<f64>()) as f64)
    }

    fn ms(&self, frame_idx: u64) -> f64 {
        (frame_idx * self.frame as u64) as f64 * 1000.0 / self.fs as f64
    }

    /// FFT of the last [`ANALYSIS_MS`] and band powers into `self.power`.
    fn analyse(&mut self) -> bool {
        let n = self.hist.len();
        // The ring holds the oldest samples from `hist_pos` on, then the newest before it.
        let (newest, oldest) = self.hist.split_at(self.hist_pos);
        let (w1, w2) = self.window.split_at(n - self.hist_pos);
        for ((d, &x), &w) in self.fft_in.iter_mut().zip(oldest).zip(w1) {
            *d = x * w;
        }
        for ((d, &x), &w) in self.fft_in[n - self.hist_pos..]
            .iter_mut()
            .zip(newest)
            .zip(w2)
        {
            *d = x * w;
        }
        if self
            .fft
            .process_with_scratch(&mut self.fft_in, &mut self.fft_out, &mut self.fft_scratch)
            .is_err()
        {
            return false;
        }
        // Until the window is full, scale up for the part still empty (the stream start).
        let mut scale = self.bin_scale;
        if self.seen < n {
            let part: f64 = self.window[n - self.seen..]
                .iter()
                .map(|&w| (w as f64) * (w as f64))
                .sum();
            scale *= self.wsum2 / part.max(1e-9);
        }
        {
            let (k0, k1) = self.tone_bins;
            let slot = self.hop_count % (STEADY_LAG_HOPS + 1);
            self.hop_count += 1;
            let v = &mut self.hop_spectra[slot];
            v.clear();
            v.extend(
                self.fft_out[k0..=k1]
                    .iter()
                    .map(|c| (c.re as f64).powi(2) + (c.im as f64).powi(2)),
            );
            let st = self.steady();
            self.steady_hops.push_back(st);
            self.steady_n += st as usize;
            if self.steady_hops.len() > STEADY_WINDOW_HOPS {
                self.steady_n -= self.steady_hops.pop_front().unwrap_or(false) as usize;
            }
        }
        for (p, &(lo, hi)) in self.power.iter_mut().zip(&self.bands) {
            let s: f32 = self.fft_out[lo..hi]
                .iter()
                .map(|c| c.re * c.re + c.im * c.im)
                .sum();
            *p = s as f64 * scale;
        }
        true
    }

    fn tonal(&self) -> bool {
        let Some(p) = self.newest_spectrum() else {
            return false;
        };
        let total: f64 = p.iter().sum();
        if total <= 0.0 {
            return false;
        }
        // The strongest bin (the first of equals), then the strongest more than 3 bins from it
        // (the first of equals again: left of the first peak before right of it).
        let Some((a, _)) = first_max(p) else {
            return false;
        };
        let left = first_max(&p[..a.saturating_sub(3)]);
        let right = first_max(p.get(a + 4..).unwrap_or(&[])).map(|(i, v)| (i + a + 4, v));
        let second = match (left, right) {
            (Some(l), Some(r)) => Some(if l.1 >= r.1 { l.0 } else { r.0 }),
            (l, r) => l.or(r).map(|(i, _)| i),
        };
        let around = |i: usize| {
            p[i.saturating_sub(1)..(i + 2).min(p.len())]
                .iter()
                .sum::<f64>()
        };
        let e2 = second.map_or(0.0, around);
        (around(a) + e2) >= TONAL_SHARE * total
    }

    /// Whether the audio is music right now: at least [`MUSIC_SHARE`] of the last
    /// [`STEADY_WINDOW_HOPS`] hops were steady (see the module docs).
    pub fn in_music(&self) -> bool {
        self.steady_n as f64 >= MUSIC_SHARE * STEADY_WINDOW_HOPS as f64
    }

    /// Bin powers over `tone_bins` of the newest hop (None before the first hop).
    fn newest_spectrum(&self) -> Option<&[f64]> {
        let ring = STEADY_LAG_HOPS + 1;
        (self.hop_count > 0).then(|| &self.hop_spectra[(self.hop_count - 1) % ring][..])
    }

    /// Whether the newest hop's spectrum nearly repeats the one [`STEADY_LAG_HOPS`] before.
    fn steady(&self) -> bool {
        if self.hop_count <= STEADY_LAG_HOPS {
            return false;
        }
        let ring = STEADY_LAG_HOPS + 1;
        let now = &self.hop_spectra[(self.hop_count - 1) % ring];
        let then = &self.hop_spectra[self.hop_count % ring];
        // four lanes each (no loop-carried add chain)
        let (mut lo4, mut hi4) = ([0.0f64; 4], [0.0f64; 4]);
        let mut quads = now.chunks_exact(4).zip(then.chunks_exact(4));
        for (a, b) in &mut quads {
            for j in 0..4 {
                lo4[j] += a[j].min(b[j]);
                hi4[j] += a[j].max(b[j]);
            }
        }
        let tail = now.len() / 4 * 4;
        let (mut lo, mut hi) = (lo4.iter().sum::<f64>(), hi4.iter().sum::<f64>());
        for (&a, &b) in now[tail..].iter().zip(&then[tail..]) {
            lo += a.min(b);
            hi += a.max(b);
        }
        hi > 0.0 && lo >= STEADY_SHARE * hi
    }

    /// Update the band noise estimates and return the sub-band SNR of this frame, dB.
    fn subband_snr(&mut self, level: f64) -> f64 {
        if !self.started {
            // Start low: the stream may begin in speech.
            self.started = true;
            for ((nz, r), (&p, &i)) in self
                .noise
                .iter_mut()
                .zip(self.recent.iter_mut())
                .zip(self.power.iter().zip(&self.init_noise))
            {
                *nz = p.min(i);
                *r = p;
            }
            self.smooth.copy_from_slice(&self.power);
        }
        for (s, &p) in self.smooth.iter_mut().zip(&self.power) {
            *s += self.smooth_w * (p - *s);
        }
        for (r, &p) in self.recent.iter_mut().zip(&self.power) {
            *r += self.recent_w * (p - *r);
        }
        // A steady level (a noise step, a tone) is background. At stream start, judge on the
        // frames seen so far (at least three) so that steady noise at the start is not speech.
        self.levels.push_back(level);
        if self.levels.len() > self.stationary_frames {
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
            let background = stationary || !self.prev_speech;
            if p < *nz {
                // Quickly down in pauses; during speech only as fast as it may go up, so that
                // the estimate does not sink to the dips of the noise while speech lasts.
                let w = if background {
                    self.noise_down
                } else {
                    self.noise_up
                };
                *nz += w * (p - *nz);
            } else if background || p < UP_CAP * *nz {
                // Pauses, and bands that speech leaves at the noise level: a slow average,
                // capped so that one loud frame cannot lift the estimate by much.
                *nz += self.noise_up * (p.min(UP_CAP * *nz) - *nz);
            } else {
                *nz = (*nz * self.speech_rise).min(p);
            }
            *nz = nz.max(mn);
        }
        10.0 * prod.log10() / self.bands.len() as f64
    }

    /// End of a 10 ms analysis hop: band powers, noise update, sub-band SNR.
    fn on_hop(&mut self) {
        let len = self.acc_n - self.hop_start;
        let level = (mean_square_to_dbm0(self.hop_acc / len as f64) as f64).max(-90.0);
        self.hop_acc = 0.0;
        self.hop_start = self.acc_n;
        let j = self.acc_n * self.hops / self.frame + 1;
        self.next_hop = self.frame * j / self.hops;
        let snr = if self.analyse() {
            self.subband_snr(level)
        } else {
            0.0
        };
        self.snr_sum += snr;
        self.prev_speech = snr >= self.snr_thr_db && level >= self.abs_min_db;
    }

    fn on_frame(&mut self, ms: f64, out: &mut Vec<VadEvent>) {
        let idx = self.frames;
        self.frames += 1;
        let level = (mean_square_to_dbm0(ms) as f64).max(-90.0);
        let snr = self.snr_sum / self.hops as f64;
        self.snr_sum = 0.0;
        self.hop_start = 0;
        self.next_hop = self.frame / self.hops;
        self.last_snr = snr;
        let candidate = snr >= self.snr_thr_db && level >= self.abs_min_db;
        let speech = candidate && !(self.cfg.reject_tones && (self.tonal() || self.in_music()));
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
