//! One flow for one call with its media work, sans I/O: the [`Interpreter`] plus what a shell
//! should not have to know about — the recogniser of each question (endpointing by the VAD,
//! barge-in), recordings (maximum length, end on silence, WAV bytes), and the mapping of its
//! reports to interpreter events.
//!
//! The shell feeds the call's audio ([`FlowRunner::push_audio`]), key presses, the call core's
//! AMD result and beep, and the reports of the work it does itself (playback, HTTP,
//! transfers, extensions), each with its clock's `now_ms`; it carries out the
//! [`RunnerAction`]s and calls [`FlowRunner::handle_timeout`] at
//! [`FlowRunner::poll_timeout`]. Recognition and recording run inside, on the audio pushed, in
//! audio time: the same audio gives the same transcripts and the same recordings whatever its
//! chunking.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::{Map, Value};
use tympan_speech::asr::{
    AsrEvent, EndpointConfig, EndpointEvent, Endpointer, Outcome as AsrOutcome,
};
use tympan_speech::asr::{Recognizer, RecognizerEngine};

use crate::{
    Action, CallContext, Event, Flow, Interpreter, Outcome, RecordingEnd, SpeechAnswers, Trace,
};

/// Longest recording kept, ms, whatever the block asks (an hour at 8 kHz is 57.6 MB).
pub const MAX_RECORDING_MS: u64 = 60 * 60 * 1000;
/// Transcript handed to the interpreter when the recogniser heard speech that matched
/// nothing and had no guess (the parser does not understand it: a no-match, not no input).
pub const UNRECOGNISED: &str = "[unrecognised]";

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum RunnerAction {
    /// An interpreter action the shell carries out: `Play`, `StopPlayback`, `HttpRequest`,
    /// `Transfer`, `Hangup`, `Extension`, `Finished` (never recognition or recording: the
    /// runner does those).
    Flow(Action),
    /// Store a finished recording under `key` (a WAV, 16-bit mono at the call's rate).
    SaveRecording {
        /// The interpreter's recording request id.
        id: u64,
        /// Object key (`recordings/{call_id}/{name}.wav`), also the id the flow stores.
        key: String,
        /// The WAV file.
        wav: Vec<u8>,
        /// Its length, ms.
        duration_ms: u64,
    },
}

struct Recognition {
    id: u64,
    rec: Box<dyn Recognizer>,
}

struct Recording {
    id: u64,
    samples: Vec<i16>,
    max_samples: usize,
    silence: Option<(Endpointer, EndpointConfig)>,
}

/// One flow for one call; see the module docs.
pub struct FlowRunner {
    interp: Interpreter,
    engine: Arc<dyn RecognizerEngine>,
    rate: u32,
    call_id: String,
    endpoint: EndpointConfig,
    recognition: Option<Recognition>,
    recording: Option<Recording>,
    recordings: u32,
    out: VecDeque<RunnerAction>,
    /// Events to hand the interpreter (from the recogniser or a recording), in order.
    pending: VecDeque<Event>,
}

impl FlowRunner {
    /// A runner for `flow` on a call at `rate` Hz (8000 or 16000) with recognitions from
    /// `engine`.
    pub fn new(
        flow: Arc<Flow>,
        attributes: Map<String, Value>,
        ctx: CallContext,
        rate: u32,
        engine: Arc<dyn RecognizerEngine>,
    ) -> FlowRunner {
        let call_id = ctx.call_id.clone();
        FlowRunner {
            interp: Interpreter::new(flow, attributes, ctx, Arc::new(SpeechAnswers)),
            engine,
            rate,
            call_id,
            endpoint: EndpointConfig::default(),
            recognition: None,
            recording: None,
            recordings: 0,
            out: VecDeque::new(),
            pending: VecDeque::new(),
        }
    }

    /// The interpreter (attributes, trace, outcome).
    pub fn interpreter(&self) -> &Interpreter {
        &self.interp
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace {
        self.interp.trace()
    }

    /// How the flow ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.interp.outcome()
    }

    /// Feeds an event the shell observed (answered, key, AMD, beep, playback, HTTP, transfer,
    /// extension, hang-up).
    pub fn handle(&mut self, event: Event, now_ms: u64) {
        if matches!(event, Event::RemoteHangup) {
            self.finish_recording(RecordingEnd::Hangup);
            self.recognition = None;
        }
        self.interp.handle(event, now_ms);
        self.run(now_ms);
    }

    /// Feeds call audio (16-bit PCM at the call's rate).
    pub fn push_audio(&mut self, samples: &[i16], now_ms: u64) {
        if let Some(r) = &mut self.recognition {
            let id = r.id;
            match r.rec.push(samples) {
                Ok(events) => {
                    for e in events {
                        match e {
                            AsrEvent::SpeechStart { .. } => {
                                self.pending.push_back(Event::SpeechStarted)
                            }
                            AsrEvent::Done(o) => {
                                self.pending.push_back(outcome_event(id, o));
                                self.recognition = None;
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    self.pending.push_back(Event::RecognitionFailed {
                        id,
                        reason: e.to_string(),
                    });
                    self.recognition = None;
                }
            }
        }
        if let Some(rec) = &mut self.recording {
            let room = rec.max_samples.saturating_sub(rec.samples.len());
            let take = room.min(samples.len());
            rec.samples.extend_from_slice(&samples[..take]);
            let mut end = (rec.samples.len() >= rec.max_samples).then_some(RecordingEnd::MaxLength);
            if end.is_none() {
                if let Some((ep, cfg)) = &mut rec.silence {
                    for e in ep.push(&samples[..take]) {
                        match e {
                            EndpointEvent::SpeechStart { .. } => {}
                            EndpointEvent::NoInput { .. } => end = Some(RecordingEnd::Silence),
                            EndpointEvent::Utterance(u) if u.truncated => {
                                // Long speech: keep listening for the silence after it.
                                if let Ok(fresh) = Endpointer::new(self.rate, cfg.clone()) {
                                    *ep = fresh;
                                }
                            }
                            EndpointEvent::Utterance(_) => end = Some(RecordingEnd::Silence),
                        }
                    }
                }
            }
            if let Some(why) = end {
                self.finish_recording(why);
            }
        }
        self.run(now_ms);
    }

    /// When [`FlowRunner::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.interp.poll_timeout()
    }

    /// Fires the interpreter's deadlines.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.interp.handle_timeout(now_ms);
        self.run(now_ms);
    }

    /// The next thing for the shell to do.
    pub fn poll_action(&mut self) -> Option<RunnerAction> {
        self.out.pop_front()
    }

    /// The interpreter's id of the recognition running, if any.
    pub fn recognition_id(&self) -> Option<u64> {
        self.recognition.as_ref().map(|r| r.id)
    }

    /// The interpreter's id of the recording running, if any.
    pub fn recording_id(&self) -> Option<u64> {
        self.recording.as_ref().map(|r| r.id)
    }

    /// Whether the flow has finished.
    pub fn is_finished(&self) -> bool {
        self.interp.is_finished()
    }

    fn finish_recording(&mut self, why: RecordingEnd) {
        let Some(rec) = self.recording.take() else {
            return;
        };
        self.recordings += 1;
        let key = format!("recordings/{}/rec-{}.wav", self.call_id, self.recordings);
        let duration_ms = rec.samples.len() as u64 * 1000 / u64::from(self.rate);
        let audio = tympan_audio::Audio::mono(
            self.rate,
            rec.samples
                .iter()
                .map(|&s| f32::from(s) / 32768.0)
                .collect(),
        );
        let wav =
            tympan_audio::wav_write::encode_wav(&audio, tympan_audio::wav_write::Codec::Pcm16);
        self.out.push_back(RunnerAction::SaveRecording {
            id: rec.id,
            key: key.clone(),
            wav,
            duration_ms,
        });
        self.pending.push_back(Event::RecordingFinished {
            id: rec.id,
            recording: key,
            duration_ms,
            reason: why,
        });
    }

    /// Hands pending events to the interpreter and takes its actions, until both are empty.
    fn run(&mut self, now_ms: u64) {
        loop {
            while let Some(e) = self.pending.pop_front() {
                self.interp.handle(e, now_ms);
            }
            let Some(a) = self.interp.poll_action() else {
                if self.pending.is_empty() {
                    return;
                }
                continue;
            };
            match a {
                Action::StartRecognition {
                    id,
                    answer_type,
                    no_input_timeout_ms,
                    max_speech_ms,
                } => {
                    let mut cfg = self.endpoint.clone();
                    cfg.no_input_timeout_ms = no_input_timeout_ms.clamp(500, 120_000) as u32;
                    cfg.max_utterance_ms = max_speech_ms.clamp(500, 60_000) as u32;
                    match self.engine.start(answer_type, self.rate, &cfg) {
                        Ok(rec) => self.recognition = Some(Recognition { id, rec }),
                        Err(e) => self.pending.push_back(Event::RecognitionFailed {
                            id,
                            reason: e.to_string(),
                        }),
                    }
                }
                Action::StopRecognition { id } => {
                    if self.recognition.as_ref().is_some_and(|r| r.id == id) {
                        self.recognition = None;
                    }
                }
                Action::StartRecording {
                    id,
                    max_length_ms,
                    end_on_silence_ms,
                    end_on_dtmf: _,
                    beep: _,
                } => {
                    self.finish_recording(RecordingEnd::Stopped);
                    let max_ms = max_length_ms.min(MAX_RECORDING_MS);
                    let silence = end_on_silence_ms.and_then(|ms| {
                        let cfg = EndpointConfig {
                            no_input_timeout_ms: ms.clamp(500, 120_000) as u32,
                            end_silence_ms: ms.clamp(100, 5000) as u32,
                            max_utterance_ms: 60_000,
                            ..EndpointConfig::default()
                        };
                        Endpointer::new(self.rate, cfg.clone())
                            .ok()
                            .map(|e| (e, cfg))
                    });
                    self.recording = Some(Recording {
                        id,
                        samples: Vec::new(),
                        max_samples: (max_ms * u64::from(self.rate) / 1000) as usize,
                        silence,
                    });
                }
                Action::StopRecording { id } => {
                    if self.recording.as_ref().is_some_and(|r| r.id == id) {
                        self.finish_recording(RecordingEnd::Stopped);
                    }
                }
                other => self.out.push_back(RunnerAction::Flow(other)),
            }
        }
    }
}

fn outcome_event(id: u64, o: AsrOutcome) -> Event {
    match o {
        AsrOutcome::Recognized(r) => Event::Recognized {
            id,
            transcript: r.transcript,
            confidence: r.confidence,
        },
        AsrOutcome::NoMatch { best, .. } => Event::Recognized {
            id,
            transcript: best
                .map(|(t, _)| t)
                .filter(|t| !t.trim().is_empty())
                .unwrap_or_else(|| UNRECOGNISED.to_string()),
            confidence: 0.0,
        },
        AsrOutcome::NoSpeech { .. } => Event::NoSpeech { id },
    }
}
