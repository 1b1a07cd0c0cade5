//! Scoring the detector on labelled calls: beep recall, false beeps, beep latency,
//! human/machine accuracy and decision times.

use serde::Serialize;

use crate::corpus::{Case, Truth};
use crate::{AmdConfig, AmdDetector, AmdEvent, AmdResult, AnsweredBy, Mode};

/// A beep counts as found when a reported beep overlaps the true one and is reported no later
/// than this after the true beep ends.
pub const BEEP_REPORT_WITHIN_MS: u64 = 150;

/// What happened on one call.
#[derive(Clone, Debug, Serialize)]
pub struct CaseOutcome {
    pub name: String,
    pub truth: Truth,
    pub answered_by: AnsweredBy,
    pub decision_ms: u64,
    pub correct: bool,
    pub beep_expected: bool,
    pub beep_found: bool,
    /// Report time minus true beep end (ms), for found beeps.
    pub beep_latency_ms: Option<i64>,
    pub false_beeps: usize,
    /// Ground truth: end of the greeting or last human phrase, and the true beep start (ms).
    pub speech_end_ms: u64,
    pub beep_start_ms: Option<u64>,
}

/// Totals over a set of calls.
#[derive(Clone, Debug, Serialize, Default)]
pub struct Report {
    pub mode: String,
    pub calls: usize,
    pub humans: usize,
    pub machines: usize,
    pub human_correct: usize,
    pub machine_correct: usize,
    pub accuracy: f64,
    pub unknown: usize,
    pub beeps_expected: usize,
    pub beeps_found: usize,
    pub beep_recall: f64,
    pub false_beeps: usize,
    pub calls_with_false_beeps: usize,
    pub beep_latency_ms_median: Option<i64>,
    pub beep_latency_ms_max: Option<i64>,
    pub decision_ms_median_human: Option<u64>,
    pub decision_ms_median_machine: Option<u64>,
    pub failures: Vec<CaseOutcome>,
}

fn correct(mode: Mode, case: &Case, got: AnsweredBy) -> bool {
    match case.truth {
        Truth::Human => got == AnsweredBy::Human,
        Truth::Machine => match mode {
            Mode::Enable => got.is_machine(),
            Mode::DetectMessageEnd => {
                if case.beep.is_some() {
                    got == AnsweredBy::MachineEndBeep
                } else {
                    got == AnsweredBy::MachineEndSilence
                }
            }
        },
    }
}

/// Run a whole recording through a fresh detector in chunks of `chunk` samples, as a live
/// stream would arrive, to its end: the final result and every event (the `Result` event
/// included).
pub fn detect(cfg: &AmdConfig, samples: &[f32], chunk: usize) -> (AmdResult, Vec<AmdEvent>) {
    detect_with_advisor(cfg, None, samples, chunk)
}

/// [`detect`] with the learned second opinion attached (its advice comes out as
/// [`AmdEvent::Clip`] events).
pub fn detect_with_advisor(
    cfg: &AmdConfig,
    advisor: Option<crate::advisor::Advisor>,
    samples: &[f32],
    chunk: usize,
) -> (AmdResult, Vec<AmdEvent>) {
    let mut det = AmdDetector::new(cfg.clone()).expect("valid config");
    if let Some(a) = advisor {
        det.set_advisor(a);
    }
    let mut events = Vec::new();
    let mut now = 0;
    for c in samples.chunks(chunk.max(1)) {
        det.push(c, now);
        now += c.len() as u64 * 1000 / cfg.sample_rate as u64;
        events.extend(std::iter::from_fn(|| det.poll_event()));
    }
    det.finish(now);
    events.extend(std::iter::from_fn(|| det.poll_event()));
    let result = det.result().cloned().expect("finish always gives a result");
    (result, events)
}

/// Run one call through a fresh detector, in 20 ms chunks, to its end.
pub fn run_case(cfg: &AmdConfig, case: &Case) -> CaseOutcome {
    let (result, events) = detect(cfg, &case.samples, (cfg.sample_rate / 50) as usize);
    let beeps: Vec<_> = events
        .into_iter()
        .filter_map(|e| match e {
            AmdEvent::Beep { at_ms, beep } => Some((at_ms, beep)),
            _ => None,
        })
        .collect();
    let mut found = false;
    let mut latency = None;
    let mut false_beeps = 0;
    for (at, b) in &beeps {
        match case.beep {
            Some(tb)
                if b.start_ms < tb.end_ms + 50
                    && b.end_ms + 50 > tb.start_ms
                    && *at <= tb.end_ms + BEEP_REPORT_WITHIN_MS =>
            {
                if !found {
                    found = true;
                    latency = Some(*at as i64 - tb.end_ms as i64);
                }
            }
            Some(tb) if b.start_ms < tb.end_ms + 50 && b.end_ms + 50 > tb.start_ms => {
                // The right beep, reported too late: not found, not false either.
            }
            _ => false_beeps += 1,
        }
    }
    CaseOutcome {
        name: case.name.clone(),
        truth: case.truth,
        answered_by: result.answered_by,
        decision_ms: result.decision_ms,
        correct: correct(cfg.mode, case, result.answered_by),
        beep_expected: case.beep.is_some(),
        beep_found: found,
        beep_latency_ms: latency,
        false_beeps,
        speech_end_ms: case.speech_end_ms,
        beep_start_ms: case.beep.map(|b| b.start_ms),
    }
}

fn median<T: Copy + Ord>(mut v: Vec<T>) -> Option<T> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// Score a list of outcomes.
pub fn summarise(mode: Mode, outcomes: &[CaseOutcome]) -> Report {
    let mut r = Report {
        mode: mode_name(mode).into(),
        calls: outcomes.len(),
        ..Report::default()
    };
    let mut lat = Vec::new();
    let (mut dh, mut dm) = (Vec::new(), Vec::new());
    for o in outcomes {
        match o.truth {
            Truth::Human => {
                r.humans += 1;
                r.human_correct += o.correct as usize;
                dh.push(o.decision_ms);
            }
            Truth::Machine => {
                r.machines += 1;
                r.machine_correct += o.correct as usize;
                dm.push(o.decision_ms);
            }
        }
        r.unknown += (o.answered_by == AnsweredBy::Unknown) as usize;
        r.beeps_expected += o.beep_expected as usize;
        r.beeps_found += o.beep_found as usize;
        r.false_beeps += o.false_beeps;
        r.calls_with_false_beeps += (o.false_beeps > 0) as usize;
        if let Some(l) = o.beep_latency_ms {
            lat.push(l);
        }
        if !o.correct || o.false_beeps > 0 || (o.beep_expected && !o.beep_found) {
            r.failures.push(o.clone());
        }
    }
    let n = r.calls.max(1) as f64;
    r.accuracy = (r.human_correct + r.machine_correct) as f64 / n;
    r.beep_recall = if r.beeps_expected == 0 {
        1.0
    } else {
        r.beeps_found as f64 / r.beeps_expected as f64
    };
    r.beep_latency_ms_max = lat.iter().copied().max();
    r.beep_latency_ms_median = median(lat);
    r.decision_ms_median_human = median(dh);
    r.decision_ms_median_machine = median(dm);
    r
}

/// The detector settings `tympan amd eval` scores: the defaults in each mode, named as the
/// report's `mode`.
pub fn eval_configs() -> Vec<(&'static str, AmdConfig)> {
    [Mode::Enable, Mode::DetectMessageEnd]
        .into_iter()
        .map(|mode| {
            (
                mode_name(mode),
                AmdConfig {
                    mode,
                    ..AmdConfig::default()
                },
            )
        })
        .collect()
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Enable => "enable",
        Mode::DetectMessageEnd => "detect_message_end",
    }
}

/// Runs every call through [`run_case`] and scores them ([`summarise`]); `on_case` is called
/// after each call (for progress reports).
pub fn evaluate(cfg: &AmdConfig, cases: &[Case], mut on_case: impl FnMut()) -> Report {
    let outcomes: Vec<CaseOutcome> = cases
        .iter()
        .map(|c| {
            let o = run_case(cfg, c);
            on_case();
            o
        })
        .collect();
    summarise(cfg.mode, &outcomes)
}

/// What a span of a [`timeline`] shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// A speech segment (from `speech_start` to `speech_end`).
    Speech,
    /// A reported beep.
    Beep,
    /// The decision: the last [`DECISION_MARK_MS`] before it.
    Decision,
}

/// Width of the decision mark of a [`timeline`], ms.
pub const DECISION_MARK_MS: u64 = 30;

/// One labelled span of a detection's timeline.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Span {
    /// Start, ms of audio.
    pub start_ms: u64,
    /// End, ms of audio.
    pub end_ms: u64,
    /// What it is.
    pub kind: SpanKind,
    /// Text to show: `speech`, `beep 1000 Hz`, or the `answered_by` value.
    pub label: String,
}

/// The timeline of one detection, for drawing over a spectrogram: speech segments and beeps
/// in event order (a segment still open at the end runs to `audio_ms`), then the decision.
pub fn timeline(events: &[AmdEvent], result: &AmdResult, audio_ms: u64) -> Vec<Span> {
    let span = |start_ms, end_ms, kind, label: &str| Span {
        start_ms,
        end_ms,
        kind,
        label: label.to_string(),
    };
    let mut out = Vec::new();
    let mut open = None;
    for e in events {
        match e {
            AmdEvent::SpeechStart { at_ms } => open = Some(*at_ms),
            AmdEvent::SpeechEnd { at_ms } => {
                if let Some(s) = open.take() {
                    out.push(span(s, *at_ms, SpanKind::Speech, "speech"));
                }
            }
            AmdEvent::Beep { beep, .. } => out.push(span(
                beep.start_ms,
                beep.end_ms,
                SpanKind::Beep,
                &format!("beep {:.0} Hz", beep.frequency_hz),
            )),
            _ => {}
        }
    }
    if let Some(s) = open {
        out.push(span(s, audio_ms, SpanKind::Speech, "speech"));
    }
    out.push(span(
        result.decision_ms.saturating_sub(DECISION_MARK_MS),
        result.decision_ms,
        SpanKind::Decision,
        result.answered_by.as_str(),
    ));
    out
}

/// How the learned second opinion did on the clips of evaluation calls.
#[derive(Clone, Debug, Serialize)]
pub struct AdviceReport {
    /// Clips the advisor classified.
    pub clips: usize,
    /// Clips scored: those whose ground truth is one of the model's labels.
    pub scored: usize,
    /// Clips that straddle two kinds of sound (no single truth).
    pub straddling: usize,
    /// Clips whose truth is not among the model's labels, by truth label.
    pub unknown_truth: Vec<(String, usize)>,
    /// Metrics over the scored clips (labels are the model's).
    pub metrics: tympan_ml::Metrics,
}

/// Runs the advisor of `model` over each call (8 kHz, as streamed) and scores its clip labels
/// against the calls' ground truth ([`crate::corpus::Case::clip_label`]).
pub fn advice_report(
    model: &std::sync::Arc<tympan_ml::Model>,
    cases: &[Case],
) -> Result<AdviceReport, String> {
    let names = &model.card.label_names;
    let (mut truth, mut pred) = (Vec::new(), Vec::new());
    let (mut clips, mut straddling) = (0, 0);
    let mut unknown: Vec<(String, usize)> = Vec::new();
    for case in cases {
        let mut a = crate::advisor::Advisor::new(model.clone(), crate::corpus::RATE)
            .map_err(|e| e.to_string())?;
        for chunk in case.samples.chunks(160) {
            a.push(chunk);
        }
        a.finish();
        for adv in a.take() {
            clips += 1;
            let Some(t) = case.clip_label(adv.start_ms, adv.end_ms) else {
                straddling += 1;
                continue;
            };
            match names.iter().position(|n| n == t) {
                Some(ti) => {
                    truth.push(ti);
                    let pi = names
                        .iter()
                        .position(|n| *n == adv.label)
                        .expect("advice labels come from the model");
                    pred.push(pi);
                }
                None => match unknown.iter_mut().find(|(n, _)| n == t) {
                    Some((_, c)) => *c += 1,
                    None => unknown.push((t.to_string(), 1)),
                },
            }
        }
    }
    if truth.is_empty() {
        return Err(format!(
            "no clip of the {} calls has a truth among the model's labels {names:?}",
            cases.len()
        ));
    }
    let metrics =
        tympan_ml::Metrics::compute(&truth, &pred, names, None).map_err(|e| e.to_string())?;
    Ok(AdviceReport {
        clips,
        scored: truth.len(),
        straddling,
        unknown_truth: unknown,
        metrics,
    })
}
