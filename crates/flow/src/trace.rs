//! The per-call trace: every block entered, what it played and heard, its result and the exit
//! taken — the contact-flow log authors debug with. Serializable; [`Trace::render_text`] gives
//! the compact form of `tympan calls show ID` and `tympan flow simulate`.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{Outcome, Prompt};
use crate::limits::{MAX_TRACE_ENTRIES, MAX_TRACE_INPUTS};

/// Something that happened inside a block visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "input", rename_all = "snake_case")]
pub enum TraceInput {
    /// A prompt was played (rendered text, SSML or audio), for question attempt `attempt`.
    Prompt {
        at_ms: u64,
        id: u64,
        prompt: Prompt,
        attempt: u32,
    },
    /// The caller interrupted a prompt (`by`: `speech` or `dtmf`).
    BargeIn { at_ms: u64, by: String },
    /// Keys pressed; `ended_by`: `terminator`, `max_digits`, `inter_digit_timeout`,
    /// `overall_timeout`, or for a recording the key that stopped it.
    Digits {
        at_ms: u64,
        digits: String,
        ended_by: String,
        attempt: u32,
    },
    /// The recogniser heard this.
    Speech {
        at_ms: u64,
        transcript: String,
        confidence: f32,
        attempt: u32,
    },
    /// Nothing was said or keyed in time.
    NoInput { at_ms: u64, attempt: u32 },
    /// What was said or keyed was not understood (`heard`).
    NoMatch {
        at_ms: u64,
        attempt: u32,
        heard: String,
    },
    /// The caller asked for the question again (the `count`-th time); no attempt is used.
    Repeat { at_ms: u64, count: u32 },
    /// A request went to the shell (HTTP, recording, recognition, extension work, transfer).
    Request {
        at_ms: u64,
        id: u64,
        what: String,
        attempt: u32,
    },
    /// The shell answered a request.
    Response { at_ms: u64, id: u64, detail: Value },
    /// Anything else worth knowing (a timeout, a late report, an unmapped field).
    Note { at_ms: u64, text: String },
}

/// One block visit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEntry {
    /// The block's id.
    pub block: String,
    /// Its type (`get_input`, or an extension's type name).
    pub kind: String,
    /// Shell clock when entered, ms.
    pub entered_at_ms: u64,
    /// Shell clock when left, ms (`None` while it runs, or when the call ended inside it).
    pub left_at_ms: Option<u64>,
    /// What happened inside, in order.
    pub inputs: Vec<TraceInput>,
    /// Inputs left out after [`MAX_TRACE_INPUTS`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_inputs: u32,
    /// The block's result: the answer, the recording, the HTTP status, the branch decided.
    pub result: Option<Value>,
    /// The exit taken (`next`, `on_no_match`, `branches.yes`, `body`, ...).
    pub exit: Option<String>,
    /// The block the exit led to (`None`: the flow ended there).
    pub target: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// The trace of one call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The flow's id.
    pub flow_id: String,
    /// Block visits, in order.
    pub entries: Vec<TraceEntry>,
    /// Visits left out after [`MAX_TRACE_ENTRIES`].
    #[serde(default)]
    pub dropped_entries: u64,
    /// How the flow ended (once it has).
    pub outcome: Option<Outcome>,
    /// Shell clock when the flow started and ended, ms.
    pub started_at_ms: Option<u64>,
    /// See `started_at_ms`.
    pub ended_at_ms: Option<u64>,
}

impl Trace {
    /// Start a visit; returns its index (or `None` once the trace is full).
    pub(crate) fn enter(&mut self, block: &str, kind: &str, now_ms: u64) -> Option<usize> {
        if self.entries.len() >= MAX_TRACE_ENTRIES {
            self.dropped_entries += 1;
            return None;
        }
        self.entries.push(TraceEntry {
            block: block.to_string(),
            kind: kind.to_string(),
            entered_at_ms: now_ms,
            left_at_ms: None,
            inputs: Vec::new(),
            dropped_inputs: 0,
            result: None,
            exit: None,
            target: None,
        });
        Some(self.entries.len() - 1)
    }

    pub(crate) fn input(&mut self, idx: Option<usize>, input: TraceInput) {
        if let Some(e) = idx.and_then(|i| self.entries.get_mut(i)) {
            if e.inputs.len() >= MAX_TRACE_INPUTS {
                e.dropped_inputs += 1;
            } else {
                e.inputs.push(input);
            }
        }
    }

    pub(crate) fn result(&mut self, idx: Option<usize>, result: Value) {
        if let Some(e) = idx.and_then(|i| self.entries.get_mut(i)) {
            e.result = Some(result);
        }
    }

    pub(crate) fn leave(
        &mut self,
        idx: Option<usize>,
        now_ms: u64,
        exit: Option<&str>,
        target: Option<&str>,
    ) {
        if let Some(e) = idx.and_then(|i| self.entries.get_mut(i)) {
            e.left_at_ms = Some(now_ms);
            e.exit = exit.map(str::to_string);
            e.target = target.map(str::to_string);
        }
    }

    /// The ids of the blocks visited, in order.
    pub fn path(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.block.as_str()).collect()
    }

    /// Compact text: one line per visit (times in seconds from the flow's start), its inputs
    /// indented below, then the outcome.
    ///
    /// ```text
    ///   0.000-  2.250 greet        play       -> next: ask
    ///                 prompt #1: "Hello Ann."
    /// ```
    pub fn render_text(&self) -> String {
        let base = self.started_at_ms.unwrap_or(0);
        let secs = |t: u64| format!("{:.3}", t.saturating_sub(base) as f64 / 1000.0);
        let mut out = String::new();
        let _ = writeln!(out, "flow {}", self.flow_id);
        for e in &self.entries {
            let left = e.left_at_ms.map(secs).unwrap_or_else(|| "…".into());
            let exit = match (&e.exit, &e.target) {
                (Some(x), Some(t)) => format!("-> {x}: {t}"),
                (Some(x), None) => format!("-> {x}: (end)"),
                _ => String::new(),
            };
            let line = format!(
                "{:>8}-{:>8} {:<16} {:<13} {}",
                secs(e.entered_at_ms),
                left,
                e.block,
                e.kind,
                exit
            );
            let _ = writeln!(out, "{}", line.trim_end());
            for i in &e.inputs {
                let _ = writeln!(out, "{:18}{}", "", describe(i, &secs));
            }
            if e.dropped_inputs > 0 {
                let _ = writeln!(out, "{:18}({} more inputs)", "", e.dropped_inputs);
            }
            if let Some(r) = &e.result {
                let _ = writeln!(out, "{:18}result: {}", "", r);
            }
        }
        if self.dropped_entries > 0 {
            let _ = writeln!(out, "({} more block visits)", self.dropped_entries);
        }
        if let Some(o) = &self.outcome {
            let _ = writeln!(
                out,
                "outcome: {}",
                serde_json::to_string(o).unwrap_or_default()
            );
        }
        out
    }
}

fn describe(i: &TraceInput, secs: &dyn Fn(u64) -> String) -> String {
    match i {
        TraceInput::Prompt {
            at_ms,
            prompt,
            attempt,
            ..
        } => {
            let kind = match prompt {
                Prompt::Text(_) => "prompt",
                Prompt::Ssml(_) => "ssml",
                Prompt::Audio(_) => "audio",
            };
            format!(
                "{} {kind} (attempt {attempt}): {:?}",
                secs(*at_ms),
                prompt.as_str()
            )
        }
        TraceInput::BargeIn { at_ms, by } => format!("{} barge-in by {by}", secs(*at_ms)),
        TraceInput::Digits {
            at_ms,
            digits,
            ended_by,
            attempt,
        } => format!(
            "{} keys {digits:?} ended by {ended_by} (attempt {attempt})",
            secs(*at_ms)
        ),
        TraceInput::Speech {
            at_ms,
            transcript,
            confidence,
            attempt,
        } => format!(
            "{} heard {transcript:?} ({confidence:.2}) (attempt {attempt})",
            secs(*at_ms)
        ),
        TraceInput::NoInput { at_ms, attempt } => {
            format!("{} no input (attempt {attempt})", secs(*at_ms))
        }
        TraceInput::NoMatch {
            at_ms,
            attempt,
            heard,
        } => format!(
            "{} no match for {heard:?} (attempt {attempt})",
            secs(*at_ms)
        ),
        TraceInput::Repeat { at_ms, count } => format!("{} repeat #{count}", secs(*at_ms)),
        TraceInput::Request {
            at_ms,
            id,
            what,
            attempt,
        } => format!("{} request {id} (try {attempt}): {what}", secs(*at_ms)),
        TraceInput::Response { at_ms, id, detail } => {
            format!("{} response {id}: {detail}", secs(*at_ms))
        }
        TraceInput::Note { at_ms, text } => format!("{} {text}", secs(*at_ms)),
    }
}
