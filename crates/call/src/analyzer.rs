//! Analyzers: the things that listen to a call's audio side by side, behind one trait.
//!
//! Today: answering-machine detection ([`AmdAnalyzer`]), in-band DTMF ([`DtmfAnalyzer`]) and
//! call-progress tones ([`ToneAnalyzer`]). Voice biometrics, screening and recording plug in
//! with [`crate::Call::add_analyzer`].

use std::sync::Arc;

use tympan_amd::advisor::Advisor;
use tympan_amd::{AmdConfig, AmdDetector};
use tympan_audio::dtmf::{DtmfConfig, DtmfDetector};
use tympan_audio::tones::{CallProgressConfig, CallProgressDetector};
use tympan_ml::Model;

use crate::config::CallError;
use crate::event::{CallEvent, DtmfSource, Tone};

/// One listener of a call's inbound audio.
///
/// The call pushes the audio in whole frames of [`crate::FRAME_MS`] (the last one at
/// `finish` may be shorter) and drains `poll_event` after every frame, so an analyzer that
/// stamps its events from sample counts gives the same events whatever the transport's
/// chunking. `now_ms` is the shell's clock; it may only drive `poll_timeout`, never event
/// times.
pub trait Analyzer: Send {
    /// A short stable name (`amd`, `dtmf`, `tones`, ...).
    fn name(&self) -> &'static str;
    /// Feed mono samples at the call's rate, floats in [-1, 1].
    fn push(&mut self, samples: &[f32], now_ms: u64);
    /// Next pending event, oldest first.
    fn poll_event(&mut self) -> Option<CallEvent>;
    /// Clock time (the shell's, same base as `now_ms`) at which `handle_timeout` is due if
    /// no audio comes; `None` when nothing is pending.
    fn poll_timeout(&self) -> Option<u64> {
        None
    }
    /// Called at or after `poll_timeout`.
    fn handle_timeout(&mut self, _now_ms: u64) {}
    /// The stream ended; last events may follow.
    fn finish(&mut self, now_ms: u64);
}

/// Answering-machine and beep detection ([`AmdDetector`]), with the learned second opinion
/// when a model is given.
pub struct AmdAnalyzer {
    det: AmdDetector,
}

impl AmdAnalyzer {
    /// Name of this analyzer.
    pub const NAME: &'static str = "amd";

    /// A detector for `cfg`; with `model`, every VAD clip is also classified (`clip` events).
    /// Errors name the field (`amd.<field>` or `amd_model`).
    pub fn new(cfg: AmdConfig, model: Option<Arc<Model>>) -> Result<Self, CallError> {
        let rate = cfg.sample_rate;
        let mut det =
            AmdDetector::new(cfg).map_err(|e| CallError::new(format!("amd.{}", e.field), e.why))?;
        if let Some(m) = model {
            let a =
                Advisor::new(m, rate).map_err(|e| CallError::new("amd_model", e.to_string()))?;
            det.set_advisor(a);
        }
        Ok(AmdAnalyzer { det })
    }

    /// The detector (its result, config, audio time).
    pub fn detector(&self) -> &AmdDetector {
        &self.det
    }
}

impl Analyzer for AmdAnalyzer {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn push(&mut self, samples: &[f32], now_ms: u64) {
        self.det.push(samples, now_ms);
    }
    fn poll_event(&mut self) -> Option<CallEvent> {
        self.det.poll_event().map(CallEvent::Amd)
    }
    fn poll_timeout(&self) -> Option<u64> {
        self.det.poll_timeout()
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        self.det.handle_timeout(now_ms);
    }
    fn finish(&mut self, now_ms: u64) {
        self.det.finish(now_ms);
    }
}

/// Round a detector's fractional ms to whole ms of audio.
fn whole_ms(ms: f64) -> u64 {
    ms.max(0.0).round() as u64
}

/// In-band DTMF ([`DtmfDetector`], ITU-T Q.24 limits). Digits are stamped with the end of
/// their tone.
pub struct DtmfAnalyzer {
    det: DtmfDetector,
    out: std::collections::VecDeque<CallEvent>,
}

impl DtmfAnalyzer {
    /// Name of this analyzer.
    pub const NAME: &'static str = "dtmf";

    /// A detector for audio at `sample_rate`.
    pub fn new(sample_rate: u32) -> Result<Self, CallError> {
        let det = DtmfDetector::new(sample_rate, DtmfConfig::default())
            .map_err(|e| CallError::new("sample_rate", e.to_string()))?;
        Ok(DtmfAnalyzer {
            det,
            out: Default::default(),
        })
    }

    fn take(&mut self, evs: Vec<tympan_audio::dtmf::DtmfEvent>) {
        self.out.extend(evs.into_iter().map(|e| CallEvent::Dtmf {
            at_ms: whole_ms(e.end_ms),
            digit: e.digit,
            source: DtmfSource::Inband,
        }));
    }
}

impl Analyzer for DtmfAnalyzer {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn push(&mut self, samples: &[f32], _now_ms: u64) {
        let evs = self.det.push(samples);
        self.take(evs);
    }
    fn poll_event(&mut self) -> Option<CallEvent> {
        self.out.pop_front()
    }
    fn finish(&mut self, _now_ms: u64) {
        let evs = self.det.flush();
        self.take(evs);
    }
}

/// Call-progress tones ([`CallProgressDetector`]): dial tone, ringback, busy, reorder, SIT,
/// fax. Each tone is stamped with the audio time at which it was recognised (it ends a block
/// or two after the tone stops).
pub struct ToneAnalyzer {
    det: CallProgressDetector,
    rate: u64,
    samples: u64,
    out: std::collections::VecDeque<CallEvent>,
}

impl ToneAnalyzer {
    /// Name of this analyzer.
    pub const NAME: &'static str = "tones";

    /// A detector for audio at `sample_rate`.
    pub fn new(sample_rate: u32) -> Result<Self, CallError> {
        let det = CallProgressDetector::new(sample_rate, CallProgressConfig::default())
            .map_err(|e| CallError::new("sample_rate", e.to_string()))?;
        Ok(ToneAnalyzer {
            det,
            rate: u64::from(sample_rate),
            samples: 0,
            out: Default::default(),
        })
    }

    fn take(&mut self, evs: Vec<tympan_audio::tones::ToneEvent>) {
        // Tones come out of the detector at its 25 ms block boundaries; the block that
        // recognised the tone ended at or before the audio pushed so far, and never before the
        // tone's own end.
        let now = self.samples * 1000 / self.rate;
        for e in evs {
            let end_ms = whole_ms(e.end_ms);
            self.out.push_back(CallEvent::Tone {
                at_ms: now.max(end_ms),
                tone: Tone {
                    kind: e.kind,
                    start_ms: whole_ms(e.start_ms),
                    end_ms,
                    frequencies_hz: e.frequencies_hz,
                },
            });
        }
    }
}

impl Analyzer for ToneAnalyzer {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn push(&mut self, samples: &[f32], _now_ms: u64) {
        self.samples += samples.len() as u64;
        let evs = self.det.push(samples);
        self.take(evs);
    }
    fn poll_event(&mut self) -> Option<CallEvent> {
        self.out.pop_front()
    }
    fn finish(&mut self, _now_ms: u64) {
        let evs = self.det.flush();
        self.take(evs);
    }
}
