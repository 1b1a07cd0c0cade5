//! Speech segments from per-frame speech / non-speech decisions, with net-speech accounting.
//!
//! A segment starts after `min_speech_ms` of consecutive speech frames ([`VadEvent::SpeechStart`]
//! at the first of them) and ends once `hangover_ms` pass without a speech frame
//! ([`VadEvent::SpeechEnd`] at the end of the last speech frame, so the hangover is not part of
//! the segment). **Net speech** counts only speech frames inside confirmed segments (onset
//! frames included): pauses bridged by the hangover and bursts shorter than `min_speech_ms`
//! are not counted.
//!
//! [`crate::vad::Vad`] feeds it its frame decisions; any other frame classifier can too (e.g.
//! to cut the speech of a voice sample for speaker recognition):
//!
//! ```
//! use tympan_audio::vad::{Segmenter, SegmenterConfig, VadEvent};
//! // 10 ms frames at 8 kHz; segments need 30 ms of speech, end after 20 ms without.
//! let mut s = Segmenter::new(SegmenterConfig {
//!     frame_samples: 80,
//!     sample_rate: 8000,
//!     min_speech_ms: 30.0,
//!     hangover_ms: 20.0,
//! })
//! .unwrap();
//! let frames = [true, true, true, false, true, false, false, true];
//! let events: Vec<VadEvent> = frames.iter().filter_map(|&f| s.push(f)).collect();
//! assert_eq!(
//!     events,
//!     [
//!         VadEvent::SpeechStart { at_ms: 0.0 },
//!         VadEvent::SpeechEnd { start_ms: 0.0, at_ms: 50.0 },
//!     ]
//! );
//! assert_eq!(s.net_speech_ms(), 40.0); // the last lone frame is too short to count
//! ```

use super::VadEvent;
use crate::AudioError;

/// Settings of a [`Segmenter`].
#[derive(Clone, Debug, PartialEq)]
pub struct SegmenterConfig {
    /// Samples per frame (≥ 1).
    pub frame_samples: usize,
    /// Sample rate, Hz (≥ 1): with `frame_samples`, turns frame counts into ms.
    pub sample_rate: u32,
    /// Consecutive speech needed to start a segment, ms (≥ 0, not NaN; at least one frame).
    pub min_speech_ms: f64,
    /// Time without speech frames before a segment ends, ms (≥ 0, not NaN; at least one frame).
    pub hangover_ms: f64,
}

/// Turns frame decisions into speech segments; see the module docs.
#[derive(Clone, Debug)]
pub struct Segmenter {
    frame: u64,
    fs: u32,
    frame_ms: f64,
    min_frames: u64,
    hang_frames: u64,
    frames: u64,
    run: u64,
    in_speech: bool,
    seg_start: u64,
    last_speech_end: u64,
    silence_frames: u64,
    net_frames: u64,
}

impl Segmenter {
    /// A segmenter; errors on a zero frame or rate, or a negative or NaN time.
    pub fn new(config: SegmenterConfig) -> Result<Self, AudioError> {
        if config.frame_samples == 0 || config.sample_rate == 0 {
            return Err(AudioError::InvalidParam {
                name: "frame_samples/sample_rate",
                why: "must be at least 1".into(),
            });
        }
        if !(config.hangover_ms >= 0.0 && config.min_speech_ms >= 0.0) {
            return Err(AudioError::InvalidParam {
                name: "hangover_ms/min_speech_ms",
                why: "must be non-negative numbers".into(),
            });
        }
        let frame_ms = config.frame_samples as f64 * 1000.0 / config.sample_rate as f64;
        Ok(Segmenter {
            frame: config.frame_samples as u64,
            fs: config.sample_rate,
            frame_ms,
            min_frames: (config.min_speech_ms / frame_ms).ceil().max(1.0) as u64,
            hang_frames: ((config.hangover_ms / frame_ms).ceil() as u64).max(1),
            frames: 0,
            run: 0,
            in_speech: false,
            seg_start: 0,
            last_speech_end: 0,
            silence_frames: 0,
            net_frames: 0,
        })
    }

    /// The decision for the next frame: a segment start or end when one happens.
    pub fn push(&mut self, speech: bool) -> Option<VadEvent> {
        let idx = self.frames;
        self.frames += 1;
        if speech {
            self.run += 1;
            self.silence_frames = 0;
            self.last_speech_end = idx + 1;
            if self.in_speech {
                self.net_frames += 1;
            } else if self.run >= self.min_frames {
                self.in_speech = true;
                self.seg_start = idx + 1 - self.run;
                self.net_frames += self.run;
                return Some(VadEvent::SpeechStart {
                    at_ms: self.ms(self.seg_start),
                });
            }
        } else {
            self.run = 0;
            if self.in_speech {
                self.silence_frames += 1;
                if self.silence_frames >= self.hang_frames {
                    self.in_speech = false;
                    return Some(self.end());
                }
            }
        }
        None
    }

    /// End of stream: closes an open segment (at the end of its last speech frame).
    pub fn flush(&mut self) -> Option<VadEvent> {
        if !self.in_speech {
            return None;
        }
        self.in_speech = false;
        Some(self.end())
    }

    /// Whether a segment is open (hangover included).
    pub fn is_open(&self) -> bool {
        self.in_speech
    }

    /// Speech counted so far, ms (see the module docs).
    pub fn net_speech_ms(&self) -> f64 {
        self.net_frames as f64 * self.frame_ms
    }

    /// Frames pushed so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    fn end(&self) -> VadEvent {
        VadEvent::SpeechEnd {
            start_ms: self.ms(self.seg_start),
            at_ms: self.ms(self.last_speech_end),
        }
    }

    fn ms(&self, frame_idx: u64) -> f64 {
        (frame_idx * self.frame) as f64 * 1000.0 / self.fs as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(min_speech_ms: f64, hangover_ms: f64) -> Segmenter {
        Segmenter::new(SegmenterConfig {
            frame_samples: 160,
            sample_rate: 8000,
            min_speech_ms,
            hangover_ms,
        })
        .unwrap()
    }

    #[test]
    fn hangover_bridges_pauses_and_net_speech_counts_only_speech_frames() {
        // 20 ms frames; onset 3 frames, hangover 2 frames.
        let mut s = seg(60.0, 40.0);
        let mut ev = Vec::new();
        for f in [
            true, false, // a lone burst: no segment, not counted
            true, true, true, true, false, true, // segment; one-frame pause bridged
            false, false, // ends after the hangover
            true, true, // open at the end of the stream
            true,
        ] {
            ev.extend(s.push(f));
        }
        assert!(s.is_open());
        ev.extend(s.flush());
        assert!(!s.is_open());
        assert_eq!(
            ev,
            [
                VadEvent::SpeechStart { at_ms: 40.0 },
                VadEvent::SpeechEnd {
                    start_ms: 40.0,
                    at_ms: 160.0
                },
                VadEvent::SpeechStart { at_ms: 200.0 },
                VadEvent::SpeechEnd {
                    start_ms: 200.0,
                    at_ms: 260.0
                },
            ]
        );
        assert_eq!(s.net_speech_ms(), (5 + 3) as f64 * 20.0);
        assert_eq!(s.frames(), 13);
        assert_eq!(s.flush(), None);
    }

    #[test]
    fn bad_settings_are_refused() {
        let bad = |frame_samples, min_speech_ms| {
            Segmenter::new(SegmenterConfig {
                frame_samples,
                sample_rate: 8000,
                min_speech_ms,
                hangover_ms: 0.0,
            })
            .is_err()
        };
        assert!(bad(0, 10.0));
        assert!(bad(80, -1.0));
        assert!(bad(80, f64::NAN));
        assert!(!bad(80, 0.0));
    }
}
