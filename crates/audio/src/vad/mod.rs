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
//!
//! # Parts
//! `band.rs`: band analysis (the FFT per hop, band powers, the 200–4000 Hz spectrum);
//! `noise.rs`: the noise tracker (band noise estimates, sub-band SNR); `music.rs`: the tone and
//! steadiness (music) tests; `segmenter.rs`: the [`Segmenter`] (frame decisions → segments and
//! net speech), public so that other frame classifiers can use it on their own.

mod band;
mod music;
mod noise;
mod segmenter;

pub use segmenter::{Segmenter, SegmenterConfig};

use band::BandAnalyzer;
use music::MusicTracker;
use noise::NoiseTracker;

use crate::goertzel::{check_sample_rate, clean};
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
    band: BandAnalyzer,
    /// This hop's band powers (mean-square units).
    power: Vec<f64>,
    noise: NoiseTracker,
    music: MusicTracker,
    segmenter: Segmenter,
    last_snr: f64,
    prev_speech: bool,
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
        let fs = sample_rate as f64;
        let frame = sample_rate as usize * config.frame_ms as usize / 1000;
        let segmenter = Segmenter::new(SegmenterConfig {
            frame_samples: frame,
            sample_rate,
            min_speech_ms: config.min_speech_ms,
            hangover_ms: config.hangover_ms,
        })?;
        let frame_ms = frame as f64 * 1000.0 / fs;
        let band = BandAnalyzer::new(fs);
        let noise = NoiseTracker::new(
            band.white_noise(INITIAL_FLOOR_DBM0),
            band.white_noise(MIN_FLOOR_DBM0),
            frame_ms,
        );
        let m = config.mode as usize;
        Ok(Vad {
            fs: sample_rate,
            frame,
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
            power: vec![0.0; band.n_bands()],
            band,
            noise,
            music: MusicTracker::new(),
            segmenter,
            last_snr: 0.0,
            prev_speech: false,
            last_frame_speech: false,
            cfg: config,
        })
    }

    /// Feed samples (any chunk size; non-finite samples count as 0). Returns events.
    pub fn push(&mut self, samples: &[f32]) -> Vec<VadEvent> {
        let mut out = Vec::new();
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
            let (mut acc, mut hop_acc) = (self.acc, self.hop_acc);
            let (ring, mut pos) = self.band.ring_mut();
            let n = ring.len();
            for &x in &rest[..take] {
                let x = clean(x) as f64;
                let y = x - hx + r * hy;
                hx = x;
                hy = y;
                ring[pos] = y as f32;
                pos += 1;
                if pos == n {
                    pos = 0;
                }
                acc += y * y;
                hop_acc += y * y;
            }
            self.band.wrote(take, pos);
            (self.hp_x, self.hp_y) = (hx, hy);
            (self.acc, self.hop_acc) = (acc, hop_acc);
            self.acc_n += take;
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
        self.segmenter.flush().into_iter().collect()
    }

    /// Whether a speech segment is open (hangover included).
    pub fn is_speech(&self) -> bool {
        self.segmenter.is_open()
    }

    /// Whether the last complete frame was classified as speech (raw frame decision).
    pub fn last_frame_is_speech(&self) -> bool {
        self.last_frame_speech
    }

    /// Total speech so far, ms (see the module docs for what counts).
    pub fn net_speech_ms(&self) -> f64 {
        self.segmenter.net_speech_ms()
    }

    /// Sub-band SNR of the last complete frame, dB (mean over bands of max(0, band SNR)).
    pub fn last_subband_snr_db(&self) -> f64 {
        self.last_snr
    }

    /// Current noise estimate over the analysis bands (100–3800 Hz), dBm0 (None before the
    /// first frame).
    pub fn noise_floor_dbm0(&self) -> Option<f64> {
        self.noise.floor_dbm0()
    }

    /// Whether the audio is music right now: at least [`MUSIC_SHARE`] of the last
    /// [`STEADY_WINDOW_HOPS`] hops were steady (see the module docs).
    pub fn in_music(&self) -> bool {
        self.music.in_music()
    }

    /// End of a 10 ms analysis hop: band powers, noise update, sub-band SNR.
    fn on_hop(&mut self) {
        let len = self.acc_n - self.hop_start;
        let level = (mean_square_to_dbm0(self.hop_acc / len as f64) as f64).max(-90.0);
        self.hop_acc = 0.0;
        self.hop_start = self.acc_n;
        let j = self.acc_n * self.hops / self.frame + 1;
        self.next_hop = self.frame * j / self.hops;
        self.band.analyse(&mut self.power);
        self.band.tone_spectrum(self.music.begin_hop());
        self.music.end_hop();
        let snr = self.noise.update(&self.power, level, self.prev_speech);
        self.snr_sum += snr;
        self.prev_speech = snr >= self.snr_thr_db && level >= self.abs_min_db;
    }

    fn on_frame(&mut self, ms: f64, out: &mut Vec<VadEvent>) {
        let level = (mean_square_to_dbm0(ms) as f64).max(-90.0);
        let snr = self.snr_sum / self.hops as f64;
        self.snr_sum = 0.0;
        self.hop_start = 0;
        self.next_hop = self.frame / self.hops;
        self.last_snr = snr;
        let candidate = snr >= self.snr_thr_db && level >= self.abs_min_db;
        let speech =
            candidate && !(self.cfg.reject_tones && (self.music.tonal() || self.music.in_music()));
        self.last_frame_speech = speech;
        out.extend(self.segmenter.push(speech));
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
