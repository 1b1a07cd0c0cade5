//! [`Interpreter`]: one call running one flow, sans I/O (like quinn-proto's `Connection`).
//!
//! The shell feeds it [`Event`]s and the time, and carries out the [`Action`]s it returns;
//! the interpreter owns every deadline of the flow (prompt ends it was not told about,
//! no-input and inter-digit timeouts, webhook timeouts and backoff, AMD and beep waits) and
//! says when it next needs the time through [`Interpreter::poll_timeout`].

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{json, Map, Value};
use tympan_speech::AnswerType;

use crate::answer::{
    default_max_digits, default_retry_prompt, is_repeat_request, AnswerParser, ParseContext,
    DIGITS_RETRY_PROMPT,
};
use crate::condition::text;
use crate::event::{Action, Event, Outcome, Prompt, RecordingEnd};
use crate::extension::{ExtensionCall, ExtensionExit, ExtensionResult, ExtensionStep};
use crate::flow::{
    valid_attribute_name, valid_transfer_target, AmdBlock, AnswerTypeSource, BlockBody, Flow,
    GetInputBlock, LoopCount, PromptSource, RecordBlock, WebhookBlock,
};
use crate::limits::*;
use crate::template::is_template;
use crate::trace::{Trace, TraceInput};

/// Hang-up reason when the flow runs past a block without the exit it took.
pub const HANGUP_FLOW_END: &str = "flow_end";
/// Hang-up reason of a `hangup` block without a `reason`.
pub const HANGUP_BLOCK: &str = "hangup_block";
/// Hang-up reason when the flow ends with an error.
pub const HANGUP_FLOW_ERROR: &str = "flow_error";

/// What the interpreter knows of the call besides its attributes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallContext {
    /// The call's id (sent to webhooks as `call_id`).
    pub call_id: String,
    /// The call's start, ms since the Unix epoch (UTC), for date answers ("tomorrow").
    pub call_start_unix_ms: Option<i64>,
    /// The callee's offset from UTC, minutes.
    pub utc_offset_minutes: i32,
}

/// How a waiting block leaves.
enum Leave {
    /// `next`.
    Next,
    /// A named exit; its target, or `next` when the block does not set it.
    Via(String, Option<String>),
    /// `on_error`, or the flow ends with this error.
    Error(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    NoInput,
    NoMatch,
}

#[derive(Debug)]
enum InPhase {
    /// Prompts play (the first is `playing`).
    Prompting,
    /// Prompts done; waiting for speech or a key until the no-input deadline.
    Listening { until: u64 },
    /// The caller speaks; waiting for the recogniser's result.
    Speaking { until: u64 },
    /// Keys are coming.
    Keying {
        inter_until: u64,
        overall_until: u64,
    },
}

#[derive(Debug)]
struct InputState {
    ty: Option<AnswerType>,
    attribute: String,
    question: Prompt,
    attempt: u32,
    repeats: u32,
    queue: VecDeque<Prompt>,
    playing: Option<u64>,
    play_deadline: u64,
    recog: Option<u64>,
    digits: String,
    first_key_at: Option<u64>,
    phase: InPhase,
}

#[derive(Debug)]
struct RecordState {
    id: u64,
    attribute: String,
    deadline: u64,
    stop: Option<RecordingEnd>,
    hung_up: bool,
}

#[derive(Debug)]
struct WebhookState {
    id: u64,
    attempt: u32,
    deadline: u64,
    backing_off: bool,
}

#[derive(Debug)]
enum Wait {
    /// Nothing outstanding (a block that does not wait, or one that is done).
    None,
    Play {
        id: u64,
        deadline: u64,
    },
    Input(Box<InputState>),
    Record(RecordState),
    AmdResult {
        deadline: u64,
    },
    Beep {
        deadline: u64,
    },
    Webhook(WebhookState),
    Transfer {
        id: u64,
        to: String,
        deadline: u64,
    },
    Extension {
        id: u64,
        deadline: u64,
        state: Value,
    },
}

#[derive(Debug)]
struct Current {
    idx: usize,
    trace: Option<usize>,
    wait: Wait,
}

#[derive(Debug)]
struct LoopState {
    done: u32,
    count: Option<u32>,
}

/// One call running one flow. See the crate docs for the driving loop.
///
/// Rules:
/// - Nothing happens before [`Event::Answered`]; the flow then starts at its `start` block.
/// - Reports carrying an id the interpreter is not waiting for are ignored, so late or
///   duplicated reports are harmless.
/// - After [`Action::Finished`] no more actions come and every input is ignored.
/// - The same events at the same times give the same actions (no randomness, no clock).
pub struct Interpreter {
    flow: Arc<Flow>,
    parser: Arc<dyn AnswerParser>,
    ctx: CallContext,
    attrs: Map<String, Value>,
    actions: VecDeque<Action>,
    trace: Trace,
    next_id: u64,
    started: bool,
    done: Option<Outcome>,
    cur: Option<Current>,
    goto: Option<usize>,
    amd: Option<String>,
    beep_seen: bool,
    loops: HashMap<usize, LoopState>,
}

impl std::fmt::Debug for Interpreter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interpreter")
            .field("flow", &self.flow.id())
            .field("block", &self.current_block())
            .field("done", &self.done)
            .finish()
    }
}

fn branch_for<'a>(
    branches: &'a std::collections::BTreeMap<String, String>,
    v: &Value,
) -> Option<(&'a String, &'a String)> {
    let t = text(v);
    branches.iter().find(|(k, _)| {
        k.eq_ignore_ascii_case(&t)
            || match v {
                Value::Bool(true) => k.eq_ignore_ascii_case("yes"),
                Value::Bool(false) => k.eq_ignore_ascii_case("no"),
                _ => false,
            }
    })
}

impl Interpreter {
    /// A call of `flow` with these attributes (over the flow's defaults). `parser` reads
    /// answers. Nothing runs before [`Event::Answered`].
    pub fn new(
        flow: Arc<Flow>,
        attributes: Map<String, Value>,
        ctx: CallContext,
        parser: Arc<dyn AnswerParser>,
    ) -> Self {
        let mut attrs = flow.default_attributes().clone();
        attrs.extend(attributes);
        let trace = Trace {
            flow_id: flow.id().to_string(),
            ..Trace::default()
        };
        Interpreter {
            flow,
            parser,
            ctx,
            attrs,
            actions: VecDeque::new(),
            trace,
            next_id: 1,
            started: false,
            done: None,
            cur: None,
            goto: None,
            amd: None,
            beep_seen: false,
            loops: HashMap::new(),
        }
    }

    /// The next action for the shell, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Interpreter::handle_timeout`] must next be called (shell clock, ms), if ever.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.done.is_some() {
            return None;
        }
        match &self.cur.as_ref()?.wait {
            Wait::None => None,
            Wait::Play { deadline, .. }
            | Wait::AmdResult { deadline }
            | Wait::Beep { deadline }
            | Wait::Transfer { deadline, .. } => Some(*deadline),
            Wait::Record(r) => Some(r.deadline),
            Wait::Webhook(w) => Some(w.deadline),
            Wait::Extension { id, deadline, .. } => (*id != 0).then_some(*deadline),
            Wait::Input(st) => Some(match st.phase {
                InPhase::Prompting => st.play_deadline,
                InPhase::Listening { until } | InPhase::Speaking { until } => until,
                InPhase::Keying {
                    inter_until,
                    overall_until,
                } => inter_until.min(overall_until),
            }),
        }
    }

    /// Whether the flow has ended.
    pub fn is_finished(&self) -> bool {
        self.done.is_some()
    }

    /// How the flow ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.done.as_ref()
    }

    /// The call's attributes now.
    pub fn attributes(&self) -> &Map<String, Value> {
        &self.attrs
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The id of the block running now.
    pub fn current_block(&self) -> Option<&str> {
        self.cur
            .as_ref()
            .map(|c| self.flow.blocks()[c.idx].id.as_str())
    }

    /// The flow.
    pub fn flow(&self) -> &Arc<Flow> {
        &self.flow
    }

    /// An input at shell time `now_ms`.
    pub fn handle(&mut self, event: Event, now_ms: u64) {
        if self.done.is_some() {
            return;
        }
        match &event {
            Event::Answered if !self.started => {
                self.started = true;
                self.trace.started_at_ms = Some(now_ms);
                self.goto = self.flow.index_of(self.flow.start());
            }
            Event::AmdResult { answered_by } if self.amd.is_none() => {
                self.amd = Some(answered_by.clone());
                if matches!(self.cur_wait(), Some(Wait::AmdResult { .. })) {
                    self.amd_decide(answered_by.clone(), now_ms);
                }
            }
            // A second answer or AMD result: the first counts.
            Event::Answered | Event::AmdResult { .. } => {}
            Event::Beep => {
                self.beep_seen = true;
                if matches!(self.cur_wait(), Some(Wait::Beep { .. })) {
                    self.amd_leave(true, now_ms);
                }
            }
            Event::RemoteHangup => self.caller_hung_up(now_ms),
            _ if self.cur.is_some() => self.dispatch(&event, now_ms),
            _ => {}
        }
        self.run(now_ms);
    }

    /// The time has come (see [`Interpreter::poll_timeout`]); early calls do nothing.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        match self.poll_timeout() {
            Some(d) if now_ms >= d => {}
            _ => return,
        }
        let Some(cur) = self.cur.as_mut() else { return };
        let wait = std::mem::replace(&mut cur.wait, Wait::None);
        match wait {
            Wait::None => {}
            Wait::Play { id, .. } => {
                self.note(
                    now_ms,
                    format!("playback {id} not reported as finished in time"),
                );
                self.stop_playback(id);
                self.leave(
                    Leave::Error("playback not reported as finished".into()),
                    now_ms,
                );
            }
            Wait::Input(st) => self.input_timeout(*st, now_ms),
            Wait::Record(st) => self.record_timeout(st, now_ms),
            Wait::AmdResult { .. } => {
                self.note(now_ms, "no AMD result in time: unknown".into());
                self.amd_decide("unknown".into(), now_ms);
            }
            Wait::Beep { .. } => {
                self.note(now_ms, "no beep in time".into());
                self.amd_leave(false, now_ms);
            }
            Wait::Webhook(st) => self.webhook_timeout(st, now_ms),
            Wait::Transfer { id, .. } => {
                self.note(now_ms, format!("transfer {id} not reported in time"));
                self.leave(Leave::Error("transfer not reported in time".into()), now_ms);
            }
            Wait::Extension { state, .. } => {
                self.extension_result(state, ExtensionResult::TimedOut, now_ms)
            }
        }
        self.run(now_ms);
    }

    // -----------------------------------------------------------------------------------------
    // Plumbing

    fn cur_wait(&self) -> Option<&Wait> {
        self.cur.as_ref().map(|c| &c.wait)
    }

    fn set_wait(&mut self, wait: Wait) {
        if let Some(c) = self.cur.as_mut() {
            c.wait = wait;
        }
    }

    fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn trace_idx(&self) -> Option<usize> {
        self.cur.as_ref().and_then(|c| c.trace)
    }

    fn input_trace(&mut self, input: TraceInput) {
        let i = self.trace_idx();
        self.trace.input(i, input);
    }

    fn note(&mut self, now_ms: u64, text: String) {
        self.input_trace(TraceInput::Note {
            at_ms: now_ms,
            text,
        });
    }

    fn result(&mut self, v: Value) {
        let i = self.trace_idx();
        self.trace.result(i, v);
    }

    fn stop_playback(&mut self, id: u64) {
        self.actions.push_back(Action::StopPlayback { id });
    }

    fn set_attr(&mut self, name: &str, v: Value) -> Result<(), String> {
        if !valid_attribute_name(name) {
            return Err(format!(
                "attribute name {name:?} is not valid (a letter or _, then letters, digits or _)"
            ));
        }
        if !self.attrs.contains_key(name) && self.attrs.len() >= MAX_ATTRIBUTES {
            return Err(format!(
                "the call has {MAX_ATTRIBUTES} attributes; {name:?} cannot be added"
            ));
        }
        self.attrs.insert(name.to_string(), v);
        Ok(())
    }

    fn render_name(&self, src: &str) -> Result<String, String> {
        let name = if is_template(src) {
            self.flow
                .templates
                .render(src, &self.attrs)?
                .trim()
                .to_string()
        } else {
            src.to_string()
        };
        if valid_attribute_name(&name) {
            Ok(name)
        } else {
            Err(format!(
                "attribute name {name:?} (from {src:?}) is not valid"
            ))
        }
    }

    fn render_prompt(&self, p: &PromptSource) -> Result<Prompt, String> {
        let t = &self.flow.templates;
        let prompt = match p {
            PromptSource::Text(s) => Prompt::Text(t.render(s, &self.attrs)?.trim().to_string()),
            PromptSource::Ssml(s) => {
                let r = t.render_ssml(s, &self.attrs)?;
                let r = r.trim();
                if r.starts_with("<speak") {
                    Prompt::Ssml(r.to_string())
                } else {
                    Prompt::Ssml(format!("<speak>{r}</speak>"))
                }
            }
            PromptSource::Audio(s) => {
                let r = t.render(s, &self.attrs)?.trim().to_string();
                if r.starts_with('/') || r.contains('\\') || r.split('/').any(|p| p == "..") {
                    return Err(format!("audio path {r:?} must be relative, without .."));
                }
                Prompt::Audio(r)
            }
        };
        if prompt.as_str().is_empty() {
            return Err("the prompt is empty once rendered".into());
        }
        let n = prompt.as_str().chars().count();
        if n > MAX_PROMPT_CHARS {
            return Err(format!(
                "the rendered prompt has {n} characters; at most {MAX_PROMPT_CHARS}"
            ));
        }
        Ok(prompt)
    }

    /// Play a prompt: the action and its trace line.
    fn play(&mut self, prompt: Prompt, barge_in: bool, attempt: u32, now_ms: u64) -> u64 {
        let id = self.new_id();
        self.input_trace(TraceInput::Prompt {
            at_ms: now_ms,
            id,
            prompt: prompt.clone(),
            attempt,
        });
        self.actions.push_back(Action::Play {
            id,
            prompt,
            barge_in,
        });
        id
    }

    /// Drive the flow through blocks that do not wait, with the runaway guard.
    fn run(&mut self, now_ms: u64) {
        let mut steps = 0usize;
        while let Some(idx) = self.goto.take() {
            if self.done.is_some() {
                return;
            }
            steps += 1;
            if steps > MAX_STEPS_PER_EVENT {
                let id = self.flow.blocks()[idx].id.clone();
                let path = self.recent_path(8);
                self.finish(
                    Outcome::Error {
                        block: Some(id),
                        reason: format!(
                            "the flow entered {MAX_STEPS_PER_EVENT} blocks without waiting for the caller (runaway loop through {path})"
                        ),
                    },
                    Some(HANGUP_FLOW_ERROR),
                    now_ms,
                );
                return;
            }
            self.enter(idx, now_ms);
        }
    }

    fn recent_path(&self, n: usize) -> String {
        let e = &self.trace.entries;
        let from = e.len().saturating_sub(n);
        e[from..]
            .iter()
            .map(|x| x.block.as_str())
            .collect::<Vec<_>>()
            .join(" → ")
    }

    /// Leave the current block (stopping what it still has running) through `how`.
    fn leave(&mut self, how: Leave, now_ms: u64) {
        let Some(cur) = self.cur.take() else { return };
        match &cur.wait {
            Wait::Play { id, .. } => self.stop_playback(*id),
            Wait::Input(st) => {
                if let Some(p) = st.playing {
                    self.stop_playback(p);
                }
                if let Some(r) = st.recog {
                    self.actions.push_back(Action::StopRecognition { id: r });
                }
            }
            Wait::Record(st) if st.stop.is_none() => {
                self.actions.push_back(Action::StopRecording { id: st.id })
            }
            _ => {}
        }
        let flow = Arc::clone(&self.flow);
        let block = &flow.blocks()[cur.idx];
        let (exit, target) = match how {
            Leave::Next => ("next".to_string(), block.next.clone()),
            Leave::Via(name, Some(t)) => (name, Some(t)),
            Leave::Via(name, None) => (format!("{name} (next)"), block.next.clone()),
            Leave::Error(reason) => match &block.on_error {
                Some(t) => {
                    self.trace.input(
                        cur.trace,
                        TraceInput::Note {
                            at_ms: now_ms,
                            text: format!("error: {reason}"),
                        },
                    );
                    ("on_error".to_string(), Some(t.clone()))
                }
                None => {
                    self.trace.leave(cur.trace, now_ms, Some("on_error"), None);
                    self.finish(
                        Outcome::Error {
                            block: Some(block.id.clone()),
                            reason,
                        },
                        Some(HANGUP_FLOW_ERROR),
                        now_ms,
                    );
                    return;
                }
            },
        };
        self.trace
            .leave(cur.trace, now_ms, Some(&exit), target.as_deref());
        match target {
            Some(t) => self.goto = flow.index_of(&t),
            None => self.finish(
                Outcome::Completed {
                    block: Some(block.id.clone()),
                },
                Some(HANGUP_FLOW_END),
                now_ms,
            ),
        }
    }

    fn finish(&mut self, outcome: Outcome, hangup: Option<&str>, now_ms: u64) {
        if self.done.is_some() {
            return;
        }
        self.cur = None;
        self.goto = None;
        if let Some(r) = hangup {
            self.actions.push_back(Action::Hangup { reason: r.into() });
        }
        self.trace.outcome = Some(outcome.clone());
        self.trace.ended_at_ms = Some(now_ms);
        self.actions.push_back(Action::Finished {
            outcome: outcome.clone(),
            attributes: self.attrs.clone(),
        });
        self.done = Some(outcome);
    }

    fn caller_hung_up(&mut self, now_ms: u64) {
        if !self.started || self.cur.is_none() {
            self.finish(Outcome::CallerHungUp { block: None }, None, now_ms);
            return;
        }
        if let Some(Current {
            wait: Wait::Record(st),
            ..
        }) = self.cur.as_mut()
        {
            // Keep waiting (briefly) for the recording: it is the caller's message.
            st.hung_up = true;
            st.stop.get_or_insert(RecordingEnd::Hangup);
            st.deadline = now_ms.saturating_add(REPORT_GRACE_MS);
            self.note(now_ms, "caller hung up; waiting for the recording".into());
            return;
        }
        self.end_hung_up(now_ms);
    }

    fn end_hung_up(&mut self, now_ms: u64) {
        let cur = self.cur.take();
        let block = cur.as_ref().map(|c| self.flow.blocks()[c.idx].id.clone());
        if let Some(c) = &cur {
            self.trace
                .leave(c.trace, now_ms, Some("caller_hung_up"), None);
        }
        self.finish(Outcome::CallerHungUp { block }, None, now_ms);
    }

    // -----------------------------------------------------------------------------------------
    // Entering blocks

    fn enter(&mut self, idx: usize, now_ms: u64) {
        let flow = Arc::clone(&self.flow);
        let block = &flow.blocks()[idx];
        let t = self.trace.enter(&block.id, block.kind(), now_ms);
        self.cur = Some(Current {
            idx,
            trace: t,
            wait: Wait::None,
        });
        match &block.body {
            BlockBody::Play(p) => match self.render_prompt(&p.prompt) {
                Ok(prompt) => {
                    let id = self.play(prompt, p.barge_in, 1, now_ms);
                    self.set_wait(Wait::Play {
                        id,
                        deadline: now_ms + MAX_PLAYBACK_MS + REPORT_GRACE_MS,
                    });
                }
                Err(e) => self.leave(Leave::Error(e), now_ms),
            },
            BlockBody::GetInput(g) => self.enter_input(g, now_ms),
            BlockBody::Record(r) => self.enter_record(r, now_ms),
            BlockBody::Amd(a) => match self.amd.clone() {
                Some(ab) => self.amd_decide(ab, now_ms),
                None => self.set_wait(Wait::AmdResult {
                    deadline: now_ms + a.timeout_ms,
                }),
            },
            BlockBody::SetAttribute(s) => {
                let mut set = Map::new();
                for (name, v) in &s.set {
                    let value = match v {
                        crate::flow::SetValue::Template(t) => self
                            .flow
                            .templates
                            .render(t, &self.attrs)
                            .map(Value::String),
                        crate::flow::SetValue::Expr(e) => self.flow.templates.eval(e, &self.attrs),
                        crate::flow::SetValue::Literal(l) => Ok(l.clone()),
                    };
                    match value.and_then(|v| self.set_attr(name, v.clone()).map(|_| v)) {
                        Ok(v) => {
                            set.insert(name.clone(), v);
                        }
                        Err(e) => {
                            self.result(Value::Object(set));
                            return self.leave(Leave::Error(format!("set.{name}: {e}")), now_ms);
                        }
                    }
                }
                self.result(Value::Object(set));
                self.leave(Leave::Next, now_ms);
            }
            BlockBody::Condition(c) => {
                for (i, (cond, target)) in c.branches.iter().enumerate() {
                    match cond.eval(&self.attrs, &self.flow.templates) {
                        Ok(true) => {
                            self.result(json!({ "branch": i }));
                            return self.leave(
                                Leave::Via(format!("branches[{i}]"), Some(target.clone())),
                                now_ms,
                            );
                        }
                        Ok(false) => {}
                        Err(e) => {
                            return self
                                .leave(Leave::Error(format!("branches[{i}].when: {e}")), now_ms)
                        }
                    }
                }
                self.result(json!({ "branch": null }));
                self.leave(Leave::Next, now_ms);
            }
            BlockBody::Webhook(w) => {
                let st = WebhookState {
                    id: 0,
                    attempt: 1,
                    deadline: 0,
                    backing_off: false,
                };
                self.webhook_send(w, st, now_ms);
            }
            BlockBody::Loop(l) => {
                let st = match self.loops.remove(&idx) {
                    Some(st) => st,
                    None => {
                        let count = match &l.count {
                            None => None,
                            Some(LoopCount::Fixed(n)) => Some(*n),
                            Some(LoopCount::Template(t)) => {
                                match self.flow.templates.render(t, &self.attrs).map(|s| {
                                    s.trim()
                                        .parse::<f64>()
                                        .ok()
                                        .filter(|n| n.fract() == 0.0 && *n >= 0.0)
                                }) {
                                    Ok(Some(n)) => {
                                        Some((n as u64).min(u64::from(MAX_LOOP_ITERATIONS)) as u32)
                                    }
                                    Ok(None) => {
                                        return self.leave(
                                            Leave::Error("count: not a whole number".into()),
                                            now_ms,
                                        )
                                    }
                                    Err(e) => {
                                        return self
                                            .leave(Leave::Error(format!("count: {e}")), now_ms)
                                    }
                                }
                            }
                        };
                        LoopState { done: 0, count }
                    }
                };
                let iteration = st.done + 1;
                if let Some(name) = &l.index_attribute {
                    if let Err(e) = self.set_attr(name, json!(iteration)) {
                        return self.leave(Leave::Error(format!("index_attribute: {e}")), now_ms);
                    }
                }
                let go_on = match (&st.count, &l.while_) {
                    (Some(n), _) => Ok(st.done < *n),
                    (None, Some(c)) => c.eval(&self.attrs, &self.flow.templates),
                    (None, None) => Ok(false),
                };
                match go_on {
                    Err(e) => self.leave(Leave::Error(format!("while: {e}")), now_ms),
                    Ok(false) => {
                        self.result(json!({ "iterations": st.done }));
                        self.leave(Leave::Next, now_ms);
                    }
                    Ok(true) if st.count.is_none() && st.done >= l.max_iterations => {
                        self.result(json!({ "iterations": st.done }));
                        self.leave(
                            Leave::Error(format!(
                                "the loop ran max_iterations ({}) times and its condition still holds",
                                l.max_iterations
                            )),
                            now_ms,
                        );
                    }
                    Ok(true) => {
                        self.result(json!({ "iteration": iteration }));
                        self.loops.insert(
                            idx,
                            LoopState {
                                done: iteration,
                                count: st.count,
                            },
                        );
                        self.leave(Leave::Via("body".into(), Some(l.body.clone())), now_ms);
                    }
                }
            }
            BlockBody::Transfer(t) => {
                let to = match self.flow.templates.render(&t.to, &self.attrs) {
                    Ok(s) => s.trim().to_string(),
                    Err(e) => return self.leave(Leave::Error(format!("to: {e}")), now_ms),
                };
                if !valid_transfer_target(&to) {
                    return self.leave(
                        Leave::Error(format!("to: {to:?} is not a SIP URI or phone number")),
                        now_ms,
                    );
                }
                let id = self.new_id();
                self.input_trace(TraceInput::Request {
                    at_ms: now_ms,
                    id,
                    what: format!("transfer to {to}"),
                    attempt: 1,
                });
                self.actions.push_back(Action::Transfer {
                    id,
                    to: to.clone(),
                    mode: t.mode,
                });
                self.set_wait(Wait::Transfer {
                    id,
                    to,
                    deadline: now_ms + t.timeout_ms,
                });
            }
            BlockBody::Hangup(h) => {
                let reason = h.reason.clone().unwrap_or_else(|| HANGUP_BLOCK.into());
                let t = self.trace_idx();
                self.trace.leave(t, now_ms, None, None);
                self.finish(
                    Outcome::Completed {
                        block: Some(block.id.clone()),
                    },
                    Some(&reason),
                    now_ms,
                );
            }
            BlockBody::Extension(e) => {
                let mut state = Value::Null;
                let step = {
                    let mut call = ExtensionCall {
                        block_id: &block.id,
                        fields: &e.fields,
                        attributes: &self.attrs,
                        state: &mut state,
                        now_ms,
                        templates: &self.flow.templates,
                    };
                    e.kind.enter(&mut call)
                };
                self.extension_step(step, state, now_ms);
            }
        }
    }

    /// Route an event to the current block.
    fn dispatch(&mut self, ev: &Event, now_ms: u64) {
        let Some(cur) = self.cur.as_mut() else { return };
        let wait = std::mem::replace(&mut cur.wait, Wait::None);
        match (wait, ev) {
            (Wait::Play { id, deadline }, _) => self.play_event(id, deadline, ev, now_ms),
            (Wait::Input(st), _) => self.input_event(*st, ev, now_ms),
            (Wait::Record(st), _) => self.record_event(st, ev, now_ms),
            (Wait::Webhook(st), _) => self.webhook_event(st, ev, now_ms),
            (
                Wait::Transfer { id, to, .. },
                Event::TransferFinished {
                    id: rid,
                    ok,
                    reason,
                },
            ) if *rid == id => {
                self.input_trace(TraceInput::Response {
                    at_ms: now_ms,
                    id,
                    detail: json!({"ok": ok, "reason": reason}),
                });
                if *ok {
                    let block = self.current_block().unwrap_or_default().to_string();
                    let t = self.trace_idx();
                    self.trace.leave(t, now_ms, Some("transferred"), None);
                    self.finish(Outcome::Transferred { block, to }, None, now_ms);
                } else {
                    let why = reason.clone().unwrap_or_else(|| "refused".into());
                    self.leave(Leave::Error(format!("transfer failed: {why}")), now_ms);
                }
            }
            (
                Wait::Extension {
                    id,
                    deadline,
                    state,
                },
                Event::ExtensionResult { id: rid, ok, value },
            ) => {
                if *rid != id {
                    self.set_wait(Wait::Extension {
                        id,
                        deadline,
                        state,
                    });
                    return;
                }
                self.input_trace(TraceInput::Response {
                    at_ms: now_ms,
                    id,
                    detail: json!({"ok": ok, "value": value}),
                });
                let r = if *ok {
                    ExtensionResult::Ok(value.clone())
                } else {
                    ExtensionResult::Failed(match value {
                        Value::String(s) => s.clone(),
                        Value::Null => "failed".into(),
                        other => other.to_string(),
                    })
                };
                self.extension_result(state, r, now_ms);
            }
            (w, _) => self.set_wait(w),
        }
    }

    // -----------------------------------------------------------------------------------------
    // play

    fn play_event(&mut self, id: u64, deadline: u64, ev: &Event, now_ms: u64) {
        let flow = Arc::clone(&self.flow);
        let barge_in = match &flow.blocks()[self.cur.as_ref().map_or(0, |c| c.idx)].body {
            BlockBody::Play(p) => p.barge_in,
            _ => false,
        };
        match ev {
            Event::PlaybackFinished { id: r } if *r == id => self.leave(Leave::Next, now_ms),
            Event::PlaybackFailed { id: r, reason } if *r == id => {
                self.leave(Leave::Error(format!("playback failed: {reason}")), now_ms)
            }
            Event::PlaybackStarted { id: r, duration_ms } if *r == id => {
                self.set_wait(Wait::Play {
                    id,
                    deadline: deadline.min(now_ms + duration_ms + REPORT_GRACE_MS),
                })
            }
            Event::SpeechStarted | Event::Dtmf { .. } if barge_in => {
                let by = match ev {
                    Event::Dtmf { digit } => format!("dtmf {digit}"),
                    _ => "speech".into(),
                };
                self.input_trace(TraceInput::BargeIn { at_ms: now_ms, by });
                self.set_wait(Wait::Play { id, deadline });
                self.leave(Leave::Next, now_ms);
            }
            _ => self.set_wait(Wait::Play { id, deadline }),
        }
    }

    // -----------------------------------------------------------------------------------------
    // get_input

    fn input_block(&self) -> Option<Arc<Flow>> {
        let c = self.cur.as_ref()?;
        matches!(self.flow.blocks()[c.idx].body, BlockBody::GetInput(_))
            .then(|| Arc::clone(&self.flow))
    }

    fn with_input_block<R>(&mut self, f: impl FnOnce(&mut Self, &GetInputBlock) -> R) -> Option<R> {
        let flow = self.input_block()?;
        let idx = self.cur.as_ref()?.idx;
        match &flow.blocks()[idx].body {
            BlockBody::GetInput(g) => Some(f(self, g)),
            _ => None,
        }
    }

    fn enter_input(&mut self, g: &GetInputBlock, now_ms: u64) {
        let ty = match &g.answer_type {
            None => None,
            Some(AnswerTypeSource::Fixed(t)) => Some(*t),
            Some(AnswerTypeSource::Template(src)) => {
                match self.flow.templates.render(src, &self.attrs) {
                    Ok(s) => match s.parse::<AnswerType>() {
                        Ok(t) => Some(t),
                        Err(e) => {
                            return self.leave(Leave::Error(format!("answer_type: {e}")), now_ms)
                        }
                    },
                    Err(e) => return self.leave(Leave::Error(format!("answer_type: {e}")), now_ms),
                }
            }
        };
        let attribute = match self.render_name(&g.attribute) {
            Ok(a) => a,
            Err(e) => return self.leave(Leave::Error(format!("attribute: {e}")), now_ms),
        };
        let question = match self.render_prompt(&g.prompt) {
            Ok(p) => p,
            Err(e) => return self.leave(Leave::Error(format!("prompt: {e}")), now_ms),
        };
        let st = InputState {
            ty,
            attribute,
            question: question.clone(),
            attempt: 1,
            repeats: 0,
            queue: VecDeque::from([question]),
            playing: None,
            play_deadline: 0,
            recog: None,
            digits: String::new(),
            first_key_at: None,
            phase: InPhase::Prompting,
        };
        self.input_play_next(g, st, now_ms);
    }

    fn speech_on(g: &GetInputBlock, st: &InputState) -> bool {
        g.input.speech() && st.ty.is_some()
    }

    fn start_recognition(&mut self, g: &GetInputBlock, st: &mut InputState) {
        let (Some(ty), None) = (st.ty, st.recog) else {
            return;
        };
        let id = self.new_id();
        st.recog = Some(id);
        self.actions.push_back(Action::StartRecognition {
            id,
            answer_type: ty,
            no_input_timeout_ms: g.timeout_ms,
            max_speech_ms: g.max_speech_ms,
        });
    }

    fn stop_recognition(&mut self, st: &mut InputState) {
        if let Some(id) = st.recog.take() {
            self.actions.push_back(Action::StopRecognition { id });
        }
    }

    /// Play the next queued prompt, or start listening when none is left.
    fn input_play_next(&mut self, g: &GetInputBlock, mut st: InputState, now_ms: u64) {
        match st.queue.pop_front() {
            Some(p) => {
                let id = self.play(p, g.barge_in, st.attempt, now_ms);
                st.playing = Some(id);
                st.play_deadline = now_ms + MAX_PLAYBACK_MS + REPORT_GRACE_MS;
                st.phase = InPhase::Prompting;
                if g.barge_in && Self::speech_on(g, &st) {
                    self.start_recognition(g, &mut st);
                }
            }
            None => {
                st.playing = None;
                if Self::speech_on(g, &st) {
                    self.start_recognition(g, &mut st);
                }
                st.phase = InPhase::Listening {
                    until: now_ms + g.timeout_ms,
                };
            }
        }
        self.set_wait(Wait::Input(Box::new(st)));
    }

    fn barge(&mut self, st: &mut InputState, by: String, now_ms: u64) {
        if let Some(p) = st.playing.take() {
            self.stop_playback(p);
            self.input_trace(TraceInput::BargeIn { at_ms: now_ms, by });
        }
        st.queue.clear();
    }

    fn input_event(&mut self, st: InputState, ev: &Event, now_ms: u64) {
        let mut st = Some(st);
        self.with_input_block(|this, g| {
            let st = st.take().expect("state");
            this.input_event_in(g, st, ev, now_ms)
        });
    }

    fn input_event_in(&mut self, g: &GetInputBlock, mut st: InputState, ev: &Event, now_ms: u64) {
        let speech = Self::speech_on(g, &st);
        match ev {
            Event::PlaybackFinished { id } if st.playing == Some(*id) => {
                st.playing = None;
                return self.input_play_next(g, st, now_ms);
            }
            Event::PlaybackFailed { id, reason } if st.playing == Some(*id) => {
                st.playing = None;
                self.set_wait(Wait::Input(Box::new(st)));
                return self.leave(Leave::Error(format!("playback failed: {reason}")), now_ms);
            }
            Event::PlaybackStarted { id, duration_ms } if st.playing == Some(*id) => {
                st.play_deadline = st.play_deadline.min(now_ms + duration_ms + REPORT_GRACE_MS);
            }
            Event::SpeechStarted if speech => match st.phase {
                InPhase::Prompting if g.barge_in => {
                    self.barge(&mut st, "speech".into(), now_ms);
                    st.phase = InPhase::Speaking {
                        until: now_ms + g.max_speech_ms + REPORT_GRACE_MS,
                    };
                }
                InPhase::Listening { .. } => {
                    st.phase = InPhase::Speaking {
                        until: now_ms + g.max_speech_ms + REPORT_GRACE_MS,
                    };
                }
                _ => {}
            },
            Event::Dtmf { digit } if g.input.dtmf() => {
                if matches!(st.phase, InPhase::Prompting) && !g.barge_in {
                    self.note(
                        now_ms,
                        format!("key {digit} ignored: the prompt has no barge-in"),
                    );
                } else {
                    self.barge(&mut st, format!("dtmf {digit}"), now_ms);
                    self.stop_recognition(&mut st);
                    return self.input_key(g, st, *digit, now_ms);
                }
            }
            Event::Recognized {
                id,
                transcript,
                confidence,
            } if st.recog == Some(*id) => {
                st.recog = None;
                if !matches!(st.phase, InPhase::Keying { .. }) {
                    self.barge(&mut st, "speech".into(), now_ms);
                    return self.input_speech(g, st, transcript, *confidence, now_ms);
                }
            }
            Event::NoSpeech { id } if st.recog == Some(*id) => {
                st.recog = None;
                if matches!(
                    st.phase,
                    InPhase::Listening { .. } | InPhase::Speaking { .. }
                ) {
                    return self.input_failure(g, st, Failure::NoInput, String::new(), now_ms);
                }
            }
            Event::RecognitionFailed { id, reason } if st.recog == Some(*id) => {
                st.recog = None;
                self.set_wait(Wait::Input(Box::new(st)));
                return self.leave(
                    Leave::Error(format!("recognition failed: {reason}")),
                    now_ms,
                );
            }
            _ => {}
        }
        self.set_wait(Wait::Input(Box::new(st)));
    }

    fn input_key(&mut self, g: &GetInputBlock, mut st: InputState, digit: char, now_ms: u64) {
        if Some(digit) == g.dtmf.terminator {
            return self.input_digits_done(g, st, "terminator", now_ms);
        }
        st.digits.push(digit);
        let first = *st.first_key_at.get_or_insert(now_ms);
        let max = g
            .dtmf
            .max_digits
            .unwrap_or_else(|| default_max_digits(st.ty));
        if st.digits.chars().count() as u32 >= max {
            return self.input_digits_done(g, st, "max_digits", now_ms);
        }
        st.phase = InPhase::Keying {
            inter_until: now_ms + g.dtmf.inter_digit_timeout_ms,
            overall_until: first + g.dtmf.overall_timeout_ms,
        };
        self.set_wait(Wait::Input(Box::new(st)));
    }

    fn parse_ctx(&self, g: &GetInputBlock) -> ParseContext {
        ParseContext {
            call_start_unix_ms: self.ctx.call_start_unix_ms,
            utc_offset_minutes: self.ctx.utc_offset_minutes,
            choices: g.choices.clone(),
        }
    }

    fn input_digits_done(
        &mut self,
        g: &GetInputBlock,
        mut st: InputState,
        ended_by: &str,
        now_ms: u64,
    ) {
        let digits = std::mem::take(&mut st.digits);
        st.first_key_at = None;
        self.input_trace(TraceInput::Digits {
            at_ms: now_ms,
            digits: digits.clone(),
            ended_by: ended_by.into(),
            attempt: st.attempt,
        });
        let answer = match st.ty {
            _ if digits.is_empty() => None,
            Some(ty) => self.parser.parse_keypad(ty, &digits, &self.parse_ctx(g)),
            None if digits.chars().count() as u32 >= g.dtmf.min_digits => {
                Some(Value::String(digits.clone()))
            }
            None => None,
        };
        match answer {
            Some(v) => self.input_success(g, st, v, "dtmf", now_ms),
            None => self.input_failure(g, st, Failure::NoMatch, digits, now_ms),
        }
    }

    fn input_speech(
        &mut self,
        g: &GetInputBlock,
        st: InputState,
        transcript: &str,
        confidence: f32,
        now_ms: u64,
    ) {
        let said = transcript.trim();
        if said.is_empty() {
            return self.input_failure(g, st, Failure::NoInput, String::new(), now_ms);
        }
        self.input_trace(TraceInput::Speech {
            at_ms: now_ms,
            transcript: said.to_string(),
            confidence,
            attempt: st.attempt,
        });
        if is_repeat_request(said, &g.repeat_phrases) {
            return self.input_repeat(g, st, said, now_ms);
        }
        let answer = match st.ty {
            Some(ty) if confidence >= g.min_confidence => {
                self.parser.parse_speech(ty, said, &self.parse_ctx(g))
            }
            _ => None,
        };
        match answer {
            Some(v) => self.input_success(g, st, v, "speech", now_ms),
            None => self.input_failure(g, st, Failure::NoMatch, said.to_string(), now_ms),
        }
    }

    fn input_repeat(&mut self, g: &GetInputBlock, mut st: InputState, said: &str, now_ms: u64) {
        if st.repeats >= g.max_repeats {
            return self.input_failure(g, st, Failure::NoMatch, said.to_string(), now_ms);
        }
        st.repeats += 1;
        self.input_trace(TraceInput::Repeat {
            at_ms: now_ms,
            count: st.repeats,
        });
        st.queue = VecDeque::from([st.question.clone()]);
        self.input_play_next(g, st, now_ms);
    }

    fn input_failure(
        &mut self,
        g: &GetInputBlock,
        mut st: InputState,
        kind: Failure,
        heard: String,
        now_ms: u64,
    ) {
        self.stop_recognition(&mut st);
        if let Some(p) = st.playing.take() {
            self.stop_playback(p);
        }
        st.queue.clear();
        st.digits.clear();
        st.first_key_at = None;
        self.input_trace(match kind {
            Failure::NoInput => TraceInput::NoInput {
                at_ms: now_ms,
                attempt: st.attempt,
            },
            Failure::NoMatch => TraceInput::NoMatch {
                at_ms: now_ms,
                attempt: st.attempt,
                heard,
            },
        });
        if st.attempt >= g.max_attempts {
            let (name, exit, target) = match kind {
                Failure::NoInput => ("no_input", "on_no_input", &g.on_no_input),
                Failure::NoMatch => ("no_match", "on_no_match", &g.on_no_match),
            };
            self.result(json!({ "failed": name, "attempts": st.attempt }));
            self.set_wait(Wait::Input(Box::new(st)));
            return self.leave(Leave::Via(exit.into(), target.clone()), now_ms);
        }
        st.attempt += 1;
        let custom = match kind {
            Failure::NoInput => &g.no_input_prompt,
            Failure::NoMatch => &g.no_match_prompt,
        };
        let retry = match custom {
            Some(p) => match self.render_prompt(p) {
                Ok(p) => p,
                Err(e) => {
                    self.set_wait(Wait::Input(Box::new(st)));
                    return self.leave(Leave::Error(format!("retry prompt: {e}")), now_ms);
                }
            },
            None => Prompt::Text(
                st.ty
                    .map(default_retry_prompt)
                    .unwrap_or(DIGITS_RETRY_PROMPT)
                    .to_string(),
            ),
        };
        st.queue = VecDeque::from([retry]);
        if g.repeat_question_on_retry {
            st.queue.push_back(st.question.clone());
        }
        self.input_play_next(g, st, now_ms);
    }

    fn input_success(
        &mut self,
        g: &GetInputBlock,
        mut st: InputState,
        v: Value,
        by: &str,
        now_ms: u64,
    ) {
        self.stop_recognition(&mut st);
        if let Err(e) = self.set_attr(&st.attribute, v.clone()) {
            self.set_wait(Wait::Input(Box::new(st)));
            return self.leave(Leave::Error(e), now_ms);
        }
        self.result(json!({ "answer": v, "by": by, "attempt": st.attempt }));
        let branch = branch_for(&g.branches, &v).map(|(k, t)| (format!("branches.{k}"), t.clone()));
        self.set_wait(Wait::Input(Box::new(st)));
        match branch {
            Some((name, t)) => self.leave(Leave::Via(name, Some(t)), now_ms),
            None => self.leave(Leave::Next, now_ms),
        }
    }

    fn input_timeout(&mut self, st: InputState, now_ms: u64) {
        let mut st = Some(st);
        self.with_input_block(|this, g| {
            let mut st = st.take().expect("state");
            match st.phase {
                InPhase::Prompting => {
                    this.note(now_ms, "prompt not reported as finished in time".into());
                    this.set_wait(Wait::Input(Box::new(st)));
                    this.leave(
                        Leave::Error("playback not reported as finished".into()),
                        now_ms,
                    );
                }
                InPhase::Listening { .. } => {
                    this.input_failure(g, st, Failure::NoInput, String::new(), now_ms)
                }
                InPhase::Speaking { .. } => {
                    this.note(now_ms, "no recognition result in time".into());
                    this.stop_recognition(&mut st);
                    this.input_failure(g, st, Failure::NoMatch, String::new(), now_ms)
                }
                InPhase::Keying {
                    inter_until,
                    overall_until,
                } => {
                    let why = if now_ms >= overall_until && overall_until <= inter_until {
                        "overall_timeout"
                    } else {
                        "inter_digit_timeout"
                    };
                    this.input_digits_done(g, st, why, now_ms)
                }
            }
        });
    }

    // -----------------------------------------------------------------------------------------
    // record

    fn enter_record(&mut self, r: &RecordBlock, now_ms: u64) {
        let attribute = match self.render_name(&r.attribute) {
            Ok(a) => a,
            Err(e) => return self.leave(Leave::Error(format!("attribute: {e}")), now_ms),
        };
        let id = self.new_id();
        self.input_trace(TraceInput::Request {
            at_ms: now_ms,
            id,
            what: format!(
                "record up to {} ms{}{}",
                r.max_length_ms,
                r.end_on_silence_ms
                    .map(|s| format!(", end on {s} ms of silence"))
                    .unwrap_or_default(),
                if r.end_on_dtmf.is_empty() {
                    String::new()
                } else {
                    format!(", end on {}", r.end_on_dtmf)
                }
            ),
            attempt: 1,
        });
        self.actions.push_back(Action::StartRecording {
            id,
            max_length_ms: r.max_length_ms,
            end_on_silence_ms: r.end_on_silence_ms,
            end_on_dtmf: r.end_on_dtmf.clone(),
            beep: r.beep,
        });
        self.set_wait(Wait::Record(RecordState {
            id,
            attribute,
            deadline: now_ms + r.max_length_ms + REPORT_GRACE_MS,
            stop: None,
            hung_up: false,
        }));
    }

    fn record_block(&self) -> Option<RecordBlock> {
        match &self.flow.blocks()[self.cur.as_ref()?.idx].body {
            BlockBody::Record(r) => Some(r.clone()),
            _ => None,
        }
    }

    fn record_event(&mut self, mut st: RecordState, ev: &Event, now_ms: u64) {
        let Some(r) = self.record_block() else { return };
        match ev {
            Event::Dtmf { digit } if st.stop.is_none() && r.end_on_dtmf.contains(*digit) => {
                self.input_trace(TraceInput::Digits {
                    at_ms: now_ms,
                    digits: digit.to_string(),
                    ended_by: "end_on_dtmf".into(),
                    attempt: 1,
                });
                self.actions.push_back(Action::StopRecording { id: st.id });
                st.stop = Some(RecordingEnd::Dtmf);
                st.deadline = now_ms + REPORT_GRACE_MS;
            }
            Event::RecordingFinished {
                id,
                recording,
                duration_ms,
                reason,
            } if *id == st.id => {
                let reason = match st.stop {
                    Some(RecordingEnd::Dtmf) => RecordingEnd::Dtmf,
                    Some(RecordingEnd::Hangup) => RecordingEnd::Hangup,
                    _ => *reason,
                };
                self.input_trace(TraceInput::Response {
                    at_ms: now_ms,
                    id: st.id,
                    detail: json!({"recording": recording, "duration_ms": duration_ms, "reason": reason}),
                });
                self.result(
                    json!({"recording": recording, "duration_ms": duration_ms, "reason": reason}),
                );
                let set = self.set_attr(&st.attribute, Value::String(recording.clone()));
                if st.hung_up {
                    return self.end_hung_up(now_ms);
                }
                return match set {
                    Ok(()) => self.leave(Leave::Next, now_ms),
                    Err(e) => self.leave(Leave::Error(e), now_ms),
                };
            }
            Event::RecordingFailed { id, reason } if *id == st.id => {
                if st.hung_up {
                    return self.end_hung_up(now_ms);
                }
                return self.leave(Leave::Error(format!("recording failed: {reason}")), now_ms);
            }
            _ => {}
        }
        self.set_wait(Wait::Record(st));
    }

    fn record_timeout(&mut self, mut st: RecordState, now_ms: u64) {
        if st.hung_up {
            self.note(now_ms, "recording not reported after the hang-up".into());
            return self.end_hung_up(now_ms);
        }
        if st.stop.is_none() {
            self.note(
                now_ms,
                "recording ran past its maximum length: stopping it".into(),
            );
            self.actions.push_back(Action::StopRecording { id: st.id });
            st.stop = Some(RecordingEnd::MaxLength);
            st.deadline = now_ms + REPORT_GRACE_MS;
            return self.set_wait(Wait::Record(st));
        }
        self.leave(
            Leave::Error("recording not reported after it was stopped".into()),
            now_ms,
        );
    }

    // -----------------------------------------------------------------------------------------
    // amd

    fn amd_block(&self) -> Option<AmdBlock> {
        match &self.flow.blocks()[self.cur.as_ref()?.idx].body {
            BlockBody::Amd(a) => Some(a.clone()),
            _ => None,
        }
    }

    fn amd_decide(&mut self, answered_by: String, now_ms: u64) {
        let Some(a) = self.amd_block() else { return };
        if let Err(e) = self.set_attr(&a.attribute, Value::String(answered_by.clone())) {
            return self.leave(Leave::Error(e), now_ms);
        }
        self.input_trace(TraceInput::Response {
            at_ms: now_ms,
            id: 0,
            detail: json!({ "answered_by": answered_by }),
        });
        let machine = answered_by.starts_with("machine");
        let beep_known = self.beep_seen || answered_by == "machine_end_beep";
        if machine && a.wait_for_beep && !beep_known {
            return self.set_wait(Wait::Beep {
                deadline: now_ms + a.beep_timeout_ms,
            });
        }
        let beep = (machine && a.wait_for_beep).then_some(true);
        self.amd_route(&a, &answered_by, beep, now_ms);
    }

    fn amd_leave(&mut self, beep: bool, now_ms: u64) {
        let Some(a) = self.amd_block() else { return };
        let answered_by = self
            .attrs
            .get(&a.attribute)
            .and_then(Value::as_str)
            .unwrap_or("machine")
            .to_string();
        self.amd_route(&a, &answered_by, Some(beep), now_ms);
    }

    fn amd_route(&mut self, a: &AmdBlock, answered_by: &str, beep: Option<bool>, now_ms: u64) {
        if let Some(b) = beep {
            if let Err(e) = self.set_attr("beep_detected", Value::Bool(b)) {
                return self.leave(Leave::Error(e), now_ms);
            }
        }
        self.result(json!({ "answered_by": answered_by, "beep": beep }));
        let class = if answered_by.starts_with("machine") {
            "machine"
        } else {
            answered_by
        };
        let mut keys = Vec::new();
        if beep == Some(false) {
            keys.push("no_beep");
        }
        keys.push(answered_by);
        keys.push(class);
        for k in keys {
            if let Some(t) = a.branches.get(k) {
                return self.leave(Leave::Via(format!("branches.{k}"), Some(t.clone())), now_ms);
            }
        }
        self.leave(Leave::Next, now_ms);
    }

    // -----------------------------------------------------------------------------------------
    // webhook

    fn webhook_block(&self) -> Option<WebhookBlock> {
        match &self.flow.blocks()[self.cur.as_ref()?.idx].body {
            BlockBody::Webhook(w) => Some(w.clone()),
            _ => None,
        }
    }

    fn webhook_send(&mut self, w: &WebhookBlock, mut st: WebhookState, now_ms: u64) {
        let t = &self.flow.templates;
        let url = match t.render(&w.url, &self.attrs) {
            Ok(u) => u.trim().to_string(),
            Err(e) => return self.leave(Leave::Error(format!("url: {e}")), now_ms),
        };
        if !(url.starts_with("http://") || url.starts_with("https://"))
            || url.chars().any(|c| c.is_control() || c == ' ')
        {
            return self.leave(
                Leave::Error(format!("url: {url:?} is not an http(s) URL")),
                now_ms,
            );
        }
        let mut headers = Vec::new();
        for (k, v) in &w.headers {
            match t.render(v, &self.attrs) {
                Ok(v) if v.chars().any(|c| c.is_control() && c != '\t') => {
                    return self.leave(
                        Leave::Error(format!("headers.{k}: the value has control characters")),
                        now_ms,
                    )
                }
                Ok(v) => headers.push((k.clone(), v)),
                Err(e) => return self.leave(Leave::Error(format!("headers.{k}: {e}")), now_ms),
            }
        }
        let attributes: Map<String, Value> = match &w.send {
            None => self.attrs.clone(),
            Some(names) => names
                .iter()
                .filter_map(|n| self.attrs.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        };
        let block_id = self.current_block().unwrap_or_default().to_string();
        let body = json!({
            "flow_id": self.flow.id(),
            "block_id": block_id,
            "call_id": self.ctx.call_id,
            "attributes": attributes,
        });
        st.id = self.new_id();
        st.backing_off = false;
        st.deadline = now_ms + w.timeout_ms + REPORT_GRACE_MS;
        self.input_trace(TraceInput::Request {
            at_ms: now_ms,
            id: st.id,
            what: format!("POST {url}"),
            attempt: st.attempt,
        });
        self.actions.push_back(Action::HttpRequest {
            id: st.id,
            url,
            headers,
            body,
            timeout_ms: w.timeout_ms,
        });
        self.set_wait(Wait::Webhook(st));
    }

    fn webhook_retry(&mut self, w: &WebhookBlock, mut st: WebhookState, why: String, now_ms: u64) {
        if st.attempt > w.retries {
            return self.leave(
                Leave::Error(format!("webhook failed after {} tries: {why}", st.attempt)),
                now_ms,
            );
        }
        let shift = (st.attempt - 1).min(20);
        let backoff = w.backoff_ms.saturating_mul(1 << shift).min(MAX_BACKOFF_MS);
        st.attempt += 1;
        self.note(
            now_ms,
            format!("{why}; retry {} in {backoff} ms", st.attempt - 1),
        );
        if backoff == 0 {
            return self.webhook_send(w, st, now_ms);
        }
        st.backing_off = true;
        st.deadline = now_ms + backoff;
        self.set_wait(Wait::Webhook(st));
    }

    fn webhook_event(&mut self, st: WebhookState, ev: &Event, now_ms: u64) {
        let Some(w) = self.webhook_block() else {
            return;
        };
        match ev {
            Event::HttpResponse { id, status, body } if *id == st.id && !st.backing_off => {
                self.input_trace(TraceInput::Response {
                    at_ms: now_ms,
                    id: *id,
                    detail: json!({ "status": status }),
                });
                match status {
                    200..=299 => {
                        let mut mapped = Map::new();
                        for (attr, ptr) in &w.response {
                            match body.as_ref().and_then(|b| b.pointer(ptr)) {
                                Some(v) => {
                                    if let Err(e) = self.set_attr(attr, v.clone()) {
                                        return self.leave(Leave::Error(e), now_ms);
                                    }
                                    mapped.insert(attr.clone(), v.clone());
                                }
                                None => self.note(
                                    now_ms,
                                    format!("response has no {ptr}: {attr} left unchanged"),
                                ),
                            }
                        }
                        self.result(json!({ "status": status, "set": mapped }));
                        self.leave(Leave::Next, now_ms);
                    }
                    429 | 500..=599 => self.webhook_retry(&w, st, format!("HTTP {status}"), now_ms),
                    _ => {
                        self.result(json!({ "status": status }));
                        self.leave(
                            Leave::Error(format!("webhook answered HTTP {status}")),
                            now_ms,
                        )
                    }
                }
            }
            Event::HttpFailed { id, reason } if *id == st.id && !st.backing_off => {
                self.input_trace(TraceInput::Response {
                    at_ms: now_ms,
                    id: *id,
                    detail: json!({ "failed": reason }),
                });
                self.webhook_retry(&w, st, reason.clone(), now_ms)
            }
            _ => self.set_wait(Wait::Webhook(st)),
        }
    }

    fn webhook_timeout(&mut self, st: WebhookState, now_ms: u64) {
        let Some(w) = self.webhook_block() else {
            return;
        };
        if st.backing_off {
            return self.webhook_send(&w, st, now_ms);
        }
        let why = format!("no response within {} ms", w.timeout_ms + REPORT_GRACE_MS);
        self.webhook_retry(&w, st, why, now_ms)
    }

    // -----------------------------------------------------------------------------------------
    // extensions

    fn extension_step(&mut self, step: ExtensionStep, state: Value, now_ms: u64) {
        let flow = Arc::clone(&self.flow);
        let Some(idx) = self.cur.as_ref().map(|c| c.idx) else {
            return;
        };
        let block = &flow.blocks()[idx];
        let BlockBody::Extension(def) = &block.body else {
            return;
        };
        match step {
            ExtensionStep::Request {
                payload,
                timeout_ms,
            } => {
                let id = self.new_id();
                self.input_trace(TraceInput::Request {
                    at_ms: now_ms,
                    id,
                    what: format!("{} {}", def.type_name, payload),
                    attempt: 1,
                });
                self.actions.push_back(Action::Extension {
                    id,
                    block_type: def.type_name.clone(),
                    block_id: block.id.clone(),
                    payload,
                    timeout_ms,
                });
                self.set_wait(Wait::Extension {
                    id,
                    deadline: now_ms + timeout_ms,
                    state,
                });
            }
            ExtensionStep::Exit { exit, set, result } => {
                for (k, v) in set {
                    if let Err(e) = self.set_attr(&k, v) {
                        return self.leave(Leave::Error(e), now_ms);
                    }
                }
                self.result(result);
                match exit {
                    ExtensionExit::Next => self.leave(Leave::Next, now_ms),
                    ExtensionExit::Error(e) => self.leave(Leave::Error(e), now_ms),
                    ExtensionExit::Branch(b) => {
                        let t = def.branches.get(&b).cloned();
                        self.leave(Leave::Via(format!("branches.{b}"), t), now_ms)
                    }
                }
            }
        }
    }

    fn extension_result(&mut self, mut state: Value, r: ExtensionResult, now_ms: u64) {
        let flow = Arc::clone(&self.flow);
        let Some(idx) = self.cur.as_ref().map(|c| c.idx) else {
            return;
        };
        let block = &flow.blocks()[idx];
        let BlockBody::Extension(def) = &block.body else {
            return;
        };
        if r == ExtensionResult::TimedOut {
            self.note(now_ms, "no extension result in time".into());
        }
        let step = {
            let mut call = ExtensionCall {
                block_id: &block.id,
                fields: &def.fields,
                attributes: &self.attrs,
                state: &mut state,
                now_ms,
                templates: &self.flow.templates,
            };
            def.kind.on_result(&mut call, r)
        };
        self.extension_step(step, state, now_ms);
    }
}
