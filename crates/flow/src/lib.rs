//! Contact flows for Tympan: a versioned JSON flow format validated against its checked-in
//! JSON Schema, and a sans-I/O interpreter that runs one flow for one call.
//!
//! - [`Flow::parse`] reads and checks a flow file (`flows/*.json`, format in the crate
//!   README); every error names the block id and the field.
//! - [`Interpreter`] runs it: the shell feeds [`Event`]s with its clock (`now_ms`), carries
//!   out the [`Action`]s, and calls [`Interpreter::handle_timeout`] at
//!   [`Interpreter::poll_timeout`]. No clock, socket, file, thread or async inside.
//! - [`AnswerParser`] turns words and digits into answers (the speech crate implements it).
//! - [`ExtensionBlock`] adds block types (`classify`, `voice_id`) from other crates.
//! - [`Trace`] records every block visit; [`simulate()`] runs a flow against a scripted callee
//!   in virtual time.
//!
//! The driving loop of a shell:
//!
//! ```
//! use std::sync::Arc;
//! use serde_json::{Map, Value};
//! use tympan_flow::{Action, AnswerParser, CallContext, Event, Extensions, Flow, Interpreter,
//!                   ParseContext};
//! use tympan_speech::AnswerType;
//!
//! struct Digits; // a toy parser: keypad digits are the answer
//! impl AnswerParser for Digits {
//!     fn parse_speech(&self, _: AnswerType, _: &str, _: &ParseContext) -> Option<Value> { None }
//!     fn parse_keypad(&self, _: AnswerType, d: &str, _: &ParseContext) -> Option<Value> {
//!         Some(Value::String(d.into()))
//!     }
//! }
//!
//! let flow = Arc::new(Flow::parse(r#"{"version": 1, "id": "hello", "start": "hi",
//!     "blocks": [{"id": "hi", "type": "play", "prompt": "Hello {{ name }}."}]}"#,
//!     &Extensions::new()).unwrap());
//! let mut attrs = Map::new();
//! attrs.insert("name".into(), "Ann".into());
//! let mut it = Interpreter::new(flow, attrs, CallContext::default(), Arc::new(Digits));
//! it.handle(Event::Answered, 0);
//! let mut played = Vec::new();
//! while let Some(action) = it.poll_action() {
//!     match action {
//!         Action::Play { id, prompt, .. } => {
//!             played.push(prompt.as_str().to_string());
//!             // ... the shell renders and plays it, and later reports:
//!             it.handle(Event::PlaybackFinished { id }, 2_000);
//!         }
//!         Action::Hangup { .. } => { /* hang the call up */ }
//!         Action::Finished { outcome, .. } => assert_eq!(outcome.status(), "completed"),
//!         _ => {}
//!     }
//!     // and whenever nothing comes in: sleep until it.poll_timeout(), then
//!     // it.handle_timeout(now_ms).
//! }
//! assert_eq!(played, ["Hello Ann."]);
//! assert!(it.is_finished());
//! ```

mod answer;
mod condition;
mod error;
mod event;
mod extension;
mod flow;
mod interp;
pub mod limits;
pub mod runner;
pub mod simulate;
mod speech_answers;
mod template;
mod trace;

pub use answer::{
    default_max_digits, default_retry_prompt, is_repeat_request, words, AnswerParser, ParseContext,
    DEFAULT_REPEAT_PHRASES, DIGITS_RETRY_PROMPT,
};
pub use condition::{Condition, Op};
pub use error::{FieldError, FlowError, FlowErrors, FlowWarning};
pub use event::{Action, Event, Outcome, Prompt, RecordingEnd, TransferMode};
pub use extension::{
    ExtensionBlock, ExtensionCall, ExtensionExit, ExtensionResult, ExtensionStep, Extensions,
};
pub use flow::{
    valid_attribute_name, valid_transfer_target, AmdBlock, AnswerTypeSource, Block, BlockBody,
    ConditionBlock, DtmfSettings, ExtensionBlockDef, Flow, GetInputBlock, HangupBlock, InputMode,
    LoopBlock, LoopCount, PlayBlock, PromptSource, RecordBlock, SetAttributeBlock, SetValue,
    TransferBlock, WebhookBlock, BUILTIN_TYPES, SCHEMA_V1,
};
pub use interp::{CallContext, Interpreter, HANGUP_BLOCK, HANGUP_FLOW_END, HANGUP_FLOW_ERROR};
pub use runner::{FlowRunner, RunnerAction};
pub use simulate::{simulate, Script, SimulationReport};
pub use speech_answers::SpeechAnswers;
pub use template::{check_template, is_template};
pub use trace::{Trace, TraceEntry, TraceInput};
