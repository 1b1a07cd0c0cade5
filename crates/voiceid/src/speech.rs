//! Net-speech accounting for enrollment and authentication, with the same VAD and
//! [`Segmenter`](tympan_audio::vad::Segmenter) the AMD front end uses: only speech frames inside
//! confirmed speech segments count (pauses, silence, tones and music do not).
//!
//! Voice ID's rules, kept as defaults: enrollment needs 30 s of net speech, authentication
//! 10 s (configurable between 5 and 10 s, as Voice ID allowed); less gives
//! `NOT_ENOUGH_SPEECH`.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use tympan_audio::vad::{Vad, VadConfig};

use crate::error::{invalid, Result, VoiceIdError};

/// Net speech an enrollment needs by default, ms (Voice ID: 30 s).
pub const DEFAULT_ENROLLMENT_SPEECH_MS: f64 = 30_000.0;
/// Net speech an authentication needs by default, ms (Voice ID: 10 s).
pub const DEFAULT_AUTHENTICATION_SPEECH_MS: f64 = 10_000.0;
/// Authentication speech requirements Voice ID allowed, ms.
pub const AUTHENTICATION_SPEECH_RANGE_MS: RangeInclusive<f64> = 5_000.0..=10_000.0;
/// Largest enrollment requirement accepted, ms (10 minutes).
pub const MAX_ENROLLMENT_SPEECH_MS: f64 = 600_000.0;

/// How much net speech each operation needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpeechRequirements {
    /// Enrollment, ms (default 30 000; 1 000 ..= 600 000).
    pub enrollment_ms: f64,
    /// Authentication, ms (default 10 000; 5 000 ..= 10 000 as Voice ID).
    pub authentication_ms: f64,
}

impl Default for SpeechRequirements {
    fn default() -> Self {
        SpeechRequirements {
            enrollment_ms: DEFAULT_ENROLLMENT_SPEECH_MS,
            authentication_ms: DEFAULT_AUTHENTICATION_SPEECH_MS,
        }
    }
}

impl SpeechRequirements {
    /// Check both fields; the error names the offending one.
    pub fn validate(&self) -> Result<()> {
        if !(1_000.0..=MAX_ENROLLMENT_SPEECH_MS).contains(&self.enrollment_ms) {
            return Err(invalid(
                "enrollment_ms",
                format!(
                    "{} ms not in 1000..={MAX_ENROLLMENT_SPEECH_MS}",
                    self.enrollment_ms
                ),
            ));
        }
        if !AUTHENTICATION_SPEECH_RANGE_MS.contains(&self.authentication_ms) {
            return Err(invalid(
                "authentication_ms",
                format!(
                    "{} ms not in 5000..=10000 (Voice ID's range)",
                    self.authentication_ms
                ),
            ));
        }
        Ok(())
    }

    /// `Ok` when `have_ms` reaches the enrollment requirement, else `NotEnoughSpeech`.
    pub fn check_enrollment(&self, have_ms: f64) -> Result<()> {
        check(have_ms, self.enrollment_ms)
    }

    /// `Ok` when `have_ms` reaches the authentication requirement, else `NotEnoughSpeech`.
    pub fn check_authentication(&self, have_ms: f64) -> Result<()> {
        check(have_ms, self.authentication_ms)
    }
}

fn check(have_ms: f64, need_ms: f64) -> Result<()> {
    if have_ms >= need_ms {
        Ok(())
    } else {
        Err(VoiceIdError::NotEnoughSpeech { have_ms, need_ms })
    }
}

/// The VAD settings used for net speech: the AMD defaults (10 ms frames, aggressiveness 2,
/// 60 ms onset, 200 ms hangover, tones and music rejected).
pub fn net_speech_vad_config() -> VadConfig {
    VadConfig::default()
}

/// Streaming net-speech meter: push PCM as it arrives (any chunk size), read the net speech
/// so far. The same samples give the same count whatever the chunking.
pub struct SpeechMeter {
    vad: Vad,
    rate: u32,
    samples: u64,
    segments: Vec<(f64, f64)>,
}

impl std::fmt::Debug for SpeechMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpeechMeter")
            .field("rate", &self.rate)
            .field("net_speech_ms", &self.vad.net_speech_ms())
            .finish()
    }
}

impl SpeechMeter {
    /// A meter for mono PCM at `sample_rate` (8 000 ..= 48 000 Hz).
    pub fn new(sample_rate: u32) -> Result<Self> {
        Ok(SpeechMeter {
            vad: Vad::new(sample_rate, net_speech_vad_config())?,
            rate: sample_rate,
            samples: 0,
            segments: Vec::new(),
        })
    }

    /// Feed samples.
    pub fn push(&mut self, samples: &[f32]) {
        self.samples += samples.len() as u64;
        for ev in self.vad.push(samples) {
            if let tympan_audio::vad::VadEvent::SpeechEnd { start_ms, at_ms } = ev {
                self.segments.push((start_ms, at_ms));
            }
        }
    }

    /// Net speech so far, ms.
    pub fn net_speech_ms(&self) -> f64 {
        self.vad.net_speech_ms()
    }

    /// End of the stream: closes an open segment and returns the totals.
    pub fn finish(mut self) -> NetSpeech {
        for ev in self.vad.flush() {
            if let tympan_audio::vad::VadEvent::SpeechEnd { start_ms, at_ms } = ev {
                self.segments.push((start_ms, at_ms));
            }
        }
        NetSpeech {
            net_speech_ms: self.vad.net_speech_ms(),
            duration_ms: self.samples as f64 * 1000.0 / self.rate as f64,
            segments: self.segments,
        }
    }
}

/// Net speech of a whole recording.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NetSpeech {
    /// Speech counted, ms.
    pub net_speech_ms: f64,
    /// Length of the audio, ms.
    pub duration_ms: f64,
    /// Speech segments `(start_ms, end_ms)`, hangover excluded.
    pub segments: Vec<(f64, f64)>,
}

/// Net speech of mono PCM at `sample_rate`.
pub fn net_speech(samples: &[f32], sample_rate: u32) -> Result<NetSpeech> {
    let mut m = SpeechMeter::new(sample_rate)?;
    m.push(samples);
    Ok(m.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_validate_and_check() {
        let r = SpeechRequirements::default();
        r.validate().unwrap();
        assert!(r.check_authentication(10_000.0).is_ok());
        match r.check_authentication(9_990.0) {
            Err(VoiceIdError::NotEnoughSpeech { have_ms, need_ms }) => {
                assert_eq!((have_ms, need_ms), (9_990.0, 10_000.0))
            }
            other => panic!("{other:?}"),
        }
        assert!(r.check_enrollment(29_999.0).is_err());
        assert!(r.check_enrollment(30_000.0).is_ok());
        let bad = SpeechRequirements {
            authentication_ms: 4_000.0,
            ..r.clone()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("authentication_ms"));
        let bad = SpeechRequirements {
            enrollment_ms: f64::NAN,
            ..r
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("enrollment_ms"));
    }
}
