//! Detector configuration: Twilio's and Asterisk app_amd's knobs, with the peers' defaults.

use serde::{Deserialize, Serialize};

/// When the final answer is given for a machine (Twilio `MachineDetection`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Decide as soon as human or machine is known (`machine_start`).
    #[default]
    Enable,
    /// For machines, wait for the end of the greeting: the beep, silence, or the timeout.
    DetectMessageEnd,
}

/// Which greeting rules decide human vs machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Twilio-style: speech longer than `speech_threshold_ms` is a machine; speech followed by
    /// `speech_end_threshold_ms` of silence is a human; no speech for `silence_timeout_ms` is unknown.
    #[default]
    Twilio,
    /// Asterisk app_amd-style word counting with its knobs (`initial_silence_ms`, `greeting_ms`,
    /// `after_greeting_silence_ms`, word lengths, `max_words`, `total_analysis_time_ms`).
    AppAmd,
}

/// Limits on configuration values (Twilio's documented ranges where Twilio has the knob).
pub mod limits {
    /// `timeout_ms` range (Twilio MachineDetectionTimeout 3–59 s).
    pub const TIMEOUT_MS: (u32, u32) = (3_000, 59_000);
    /// `speech_threshold_ms` range (Twilio 1000–6000).
    pub const SPEECH_THRESHOLD_MS: (u32, u32) = (1_000, 6_000);
    /// `speech_end_threshold_ms` range (Twilio 500–5000).
    pub const SPEECH_END_THRESHOLD_MS: (u32, u32) = (500, 5_000);
    /// `silence_timeout_ms` range (Twilio 2000–10000).
    pub const SILENCE_TIMEOUT_MS: (u32, u32) = (2_000, 10_000);
    /// `beep_timeout_ms` range (Vonage beep_timeout 45–120 s; 0 disables the beep watch after
    /// the decision).
    pub const BEEP_TIMEOUT_MS: (u32, u32) = (0, 120_000);
}

/// Full detector configuration. `Default` gives the peers' documented defaults at 8 kHz.
/// Unknown keys are refused when deserialising (the error names the key), so a typo such as
/// `speach_threshold_ms` is an error rather than a silently ignored setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmdConfig {
    /// Sample rate of the pushed audio: 8000 or 16000.
    pub sample_rate: u32,
    pub mode: Mode,
    pub strategy: Strategy,
    /// Twilio MachineDetectionTimeout: give up deciding after this much audio.
    pub timeout_ms: u32,
    /// Twilio MachineDetectionSpeechThreshold.
    pub speech_threshold_ms: u32,
    /// Twilio MachineDetectionSpeechEndThreshold.
    pub speech_end_threshold_ms: u32,
    /// Twilio MachineDetectionSilenceTimeout.
    pub silence_timeout_ms: u32,
    /// app_amd initial_silence.
    pub initial_silence_ms: u32,
    /// app_amd greeting.
    pub greeting_ms: u32,
    /// app_amd after_greeting_silence.
    pub after_greeting_silence_ms: u32,
    /// app_amd total_analysis_time.
    pub total_analysis_time_ms: u32,
    /// app_amd min_word_length.
    pub min_word_length_ms: u32,
    /// app_amd maximum_word_length.
    pub max_word_length_ms: u32,
    /// app_amd between_words_silence.
    pub between_words_silence_ms: u32,
    /// app_amd maximum_number_of_words.
    pub max_words: u32,
    /// app_amd silence_threshold (mean absolute int16 amplitude under which a frame is silent).
    /// Tympan's VAD adapts to the noise floor; this is an absolute floor under which a frame is
    /// never speech.
    pub silence_threshold: u32,
    /// After a machine decision in `detect_message_end` mode, how long after the greeting
    /// stops to wait for a beep before answering `machine_end_silence` (jambonz
    /// greetingCompletionTimeoutMs 2000).
    pub greeting_completion_ms: u32,
    /// How long the beep watch keeps running after the call starts (Vonage beep_timeout,
    /// default 45 s).
    pub beep_timeout_ms: u32,
    /// Shortest beep reported.
    pub beep_min_ms: u32,
    /// Beep frequency range.
    pub beep_min_hz: f32,
    pub beep_max_hz: f32,
}

impl Default for AmdConfig {
    fn default() -> Self {
        AmdConfig {
            sample_rate: 8000,
            mode: Mode::Enable,
            strategy: Strategy::Twilio,
            timeout_ms: 30_000,
            speech_threshold_ms: 2_400,
            speech_end_threshold_ms: 1_200,
            silence_timeout_ms: 5_000,
            initial_silence_ms: 2_500,
            greeting_ms: 1_500,
            after_greeting_silence_ms: 800,
            total_analysis_time_ms: 5_000,
            min_word_length_ms: 100,
            max_word_length_ms: 5_000,
            between_words_silence_ms: 50,
            max_words: 2,
            silence_threshold: 256,
            greeting_completion_ms: 2_000,
            beep_timeout_ms: 45_000,
            beep_min_ms: 80,
            beep_min_hz: 300.0,
            beep_max_hz: 2_500.0,
        }
    }
}

/// A configuration value outside its documented range.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid AMD config field `{field}`: {why}")]
pub struct ConfigError {
    pub field: &'static str,
    pub why: String,
}

impl AmdConfig {
    /// Check every field against its documented range; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn range(field: &'static str, v: u32, (lo, hi): (u32, u32)) -> Result<(), ConfigError> {
            if v < lo || v > hi {
                return Err(ConfigError {
                    field,
                    why: format!("{v} is outside {lo}..={hi}"),
                });
            }
            Ok(())
        }
        if self.sample_rate != 8000 && self.sample_rate != 16000 {
            return Err(ConfigError {
                field: "sample_rate",
                why: format!("{} Hz; 8000 or 16000 expected", self.sample_rate),
            });
        }
        range("timeout_ms", self.timeout_ms, limits::TIMEOUT_MS)?;
        range(
            "speech_threshold_ms",
            self.speech_threshold_ms,
            limits::SPEECH_THRESHOLD_MS,
        )?;
        range(
            "speech_end_threshold_ms",
            self.speech_end_threshold_ms,
            limits::SPEECH_END_THRESHOLD_MS,
        )?;
        range(
            "silence_timeout_ms",
            self.silence_timeout_ms,
            limits::SILENCE_TIMEOUT_MS,
        )?;
        range(
            "beep_timeout_ms",
            self.beep_timeout_ms,
            limits::BEEP_TIMEOUT_MS,
        )?;
        range("max_words", self.max_words, (1, 100))?;
        range("min_word_length_ms", self.min_word_length_ms, (10, 10_000))?;
        if self.max_word_length_ms <= self.min_word_length_ms {
            return Err(ConfigError {
                field: "max_word_length_ms",
                why: "must be greater than min_word_length_ms".into(),
            });
        }
        range(
            "total_analysis_time_ms",
            self.total_analysis_time_ms,
            (500, 59_000),
        )?;
        range("beep_min_ms", self.beep_min_ms, (20, 2_000))?;
        if !(self.beep_min_hz >= 100.0 && self.beep_min_hz < self.beep_max_hz) {
            return Err(ConfigError {
                field: "beep_min_hz",
                why: format!("{} must be >= 100 and below beep_max_hz", self.beep_min_hz),
            });
        }
        // 16 kHz input is analysed at 8 kHz: the analysis rate's Nyquist is the bound.
        let analysed = self.sample_rate.min(crate::frontend::ANALYSIS_RATE);
        if self.beep_max_hz >= analysed as f32 / 2.0 {
            return Err(ConfigError {
                field: "beep_max_hz",
                why: format!(
                    "{} is not below Nyquist ({} Hz) of the {analysed} Hz analysis rate",
                    self.beep_max_hz,
                    analysed / 2
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let e = serde_json::from_str::<AmdConfig>(r#"{"speach_threshold_ms": 3000}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("speach_threshold_ms"), "{e}");
        let c: AmdConfig =
            serde_json::from_str(r#"{"speech_threshold_ms": 3000, "mode": "detect_message_end"}"#)
                .unwrap();
        assert_eq!(c.speech_threshold_ms, 3000);
        assert_eq!(c.mode, Mode::DetectMessageEnd);
        assert_eq!(c.timeout_ms, AmdConfig::default().timeout_ms);
        let e = serde_json::from_str::<AmdConfig>(r#"{"mode": "detect_message_ending"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("detect_message_ending"), "{e}");
        // Round trip: everything serialised is accepted back.
        let d = AmdConfig::default();
        let back: AmdConfig = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }

    /// Found by the `amd_config_json` fuzz target: 16 kHz input is analysed at 8 kHz, so a
    /// `beep_max_hz` of 4000 passed `validate` and was then refused by `AmdDetector::new`.
    #[test]
    fn beep_band_is_bounded_by_the_analysis_rate() {
        for rate in [8000, 16000] {
            for max in [3999.0, 4000.0, 4000.5, 6500.0] {
                let c = AmdConfig {
                    sample_rate: rate,
                    beep_max_hz: max,
                    ..AmdConfig::default()
                };
                let valid = c.validate();
                let built = crate::AmdDetector::new(c);
                assert_eq!(valid.is_ok(), built.is_ok(), "{rate} Hz, beep_max_hz {max}");
                assert_eq!(valid.is_ok(), max < 4000.0, "{rate} Hz, beep_max_hz {max}");
                if let Err(e) = valid {
                    assert_eq!(e.field, "beep_max_hz");
                }
            }
        }
    }
}
