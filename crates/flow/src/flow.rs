//! Flow files: parsing, JSON Schema validation and the semantic checks the schema cannot do.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};
use tympan_speech::AnswerType;

use crate::condition::Condition;
use crate::error::{FlowError, FlowErrors, FlowWarning};
use crate::event::TransferMode;
use crate::extension::{ExtensionBlock, Extensions};
use crate::limits::*;
use crate::template::{is_template, Templates};

/// The flow file format's JSON Schema (`flows/schema/flow-v1.schema.json`), as checked in.
pub const SCHEMA_V1: &str = include_str!("../../../flows/schema/flow-v1.schema.json");

/// The built-in block types.
pub const BUILTIN_TYPES: &[&str] = &[
    "play",
    "get_input",
    "record",
    "amd",
    "set_attribute",
    "condition",
    "webhook",
    "loop",
    "transfer",
    "hangup",
];

pub(crate) const ATTRIBUTE_NAME_RULE: &str =
    "must be a letter or _ followed by letters, digits or _ (at most 64)";

/// Whether `s` is a valid attribute name (`[A-Za-z_][A-Za-z0-9_]*`, at most
/// [`MAX_ATTRIBUTE_NAME_CHARS`]).
pub fn valid_attribute_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ATTRIBUTE_NAME_CHARS
        && s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_ID_CHARS
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether `s` is a transfer target: a `sip:`, `sips:` or `tel:` URI, or a phone number
/// (`+` optional, then 3-20 digits; spaces, dashes, dots and parentheses are ignored).
pub fn valid_transfer_target(s: &str) -> bool {
    let s = s.trim();
    for scheme in ["sip:", "sips:", "tel:"] {
        if let Some(rest) = s.strip_prefix(scheme) {
            return !rest.is_empty() && !rest.chars().any(|c| c.is_whitespace() || c.is_control());
        }
    }
    let digits: String = s
        .strip_prefix('+')
        .unwrap_or(s)
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    (3..=20).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
}

/// A prompt as written in the flow: templates not yet rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PromptSource {
    /// Text template.
    Text(String),
    /// SSML template (wrapped in `<speak>` when it is not).
    Ssml(String),
    /// Audio file id or relative path (may be a template).
    Audio(String),
}

/// An answer type, fixed or computed from the attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerTypeSource {
    /// Known when the flow is parsed.
    Fixed(AnswerType),
    /// A template rendering to a type name (`{{ attr("question_" ~ q ~ "_type") }}`).
    Template(String),
}

/// How a question may be answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputMode {
    /// Speech only.
    Speech,
    /// Keypad only.
    Dtmf,
    /// Speech, or the keypad alternative (the default for typed questions).
    SpeechAndDtmf,
}

impl InputMode {
    /// Whether speech is listened to.
    pub fn speech(self) -> bool {
        matches!(self, InputMode::Speech | InputMode::SpeechAndDtmf)
    }
    /// Whether keys are collected.
    pub fn dtmf(self) -> bool {
        matches!(self, InputMode::Dtmf | InputMode::SpeechAndDtmf)
    }
}

/// Keypad collection settings of a question.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DtmfSettings {
    /// Keys that end the answer at once (`None`: the type's default, see
    /// [`crate::answer::default_max_digits`]).
    pub max_digits: Option<u32>,
    /// Fewest keys of a raw-digit answer (fewer is a no-match).
    pub min_digits: u32,
    /// The key that ends the answer (not part of it); `None`: no terminator.
    pub terminator: Option<char>,
    /// Longest gap between keys before the answer is taken as complete, ms.
    pub inter_digit_timeout_ms: u64,
    /// Longest time from the first key to the end of the answer, ms.
    pub overall_timeout_ms: u64,
}

/// `play`.
#[derive(Clone, Debug, PartialEq)]
pub struct PlayBlock {
    /// What to play.
    pub prompt: PromptSource,
    /// Caller speech or a key stops the prompt (and the flow goes on to `next`).
    pub barge_in: bool,
}

/// `get_input`.
#[derive(Clone, Debug, PartialEq)]
pub struct GetInputBlock {
    /// The question.
    pub prompt: PromptSource,
    /// The expected answer (`None`: raw keypad digits).
    pub answer_type: Option<AnswerTypeSource>,
    /// Speech, keypad or both.
    pub input: InputMode,
    /// Where the answer goes (a name or a template).
    pub attribute: String,
    /// Caller speech or a key stops the prompts.
    pub barge_in: bool,
    /// No-input timeout after the prompts, ms.
    pub timeout_ms: u64,
    /// Longest utterance, ms.
    pub max_speech_ms: u64,
    /// Recognitions below this confidence are no-matches.
    pub min_confidence: f32,
    /// Keypad settings.
    pub dtmf: DtmfSettings,
    /// Attempts (first try included).
    pub max_attempts: u32,
    /// Played after a no-match (`None`: the type's Callouts prompt).
    pub no_match_prompt: Option<PromptSource>,
    /// Played after a no-input (`None`: the type's Callouts prompt).
    pub no_input_prompt: Option<PromptSource>,
    /// The question is asked again after the no-match/no-input prompt.
    pub repeat_question_on_retry: bool,
    /// Phrases asking for a repeat.
    pub repeat_phrases: Vec<String>,
    /// Repeats honoured without using an attempt.
    pub max_repeats: u32,
    /// Labels of the choices A-E (for the parser).
    pub choices: Vec<String>,
    /// Answer text → target.
    pub branches: BTreeMap<String, String>,
    /// Exit after the last attempt failed to match (`None`: `next`).
    pub on_no_match: Option<String>,
    /// Exit after the last attempt had no input (`None`: `next`).
    pub on_no_input: Option<String>,
}

/// `record`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordBlock {
    /// Where the recording id goes.
    pub attribute: String,
    /// Longest recording, ms.
    pub max_length_ms: u64,
    /// End after this much silence, ms.
    pub end_on_silence_ms: Option<u64>,
    /// Keys that end the recording.
    pub end_on_dtmf: String,
    /// Play a beep first.
    pub beep: bool,
}

/// `amd`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmdBlock {
    /// Where `answered_by` goes.
    pub attribute: String,
    /// Wait for the detector's result, ms.
    pub timeout_ms: u64,
    /// For a machine, wait for the beep before leaving.
    pub wait_for_beep: bool,
    /// Wait for the beep, ms.
    pub beep_timeout_ms: u64,
    /// `human`, `machine` (any `machine_*`), an exact `answered_by`, `fax`, `unknown`,
    /// `no_beep` → target.
    pub branches: BTreeMap<String, String>,
}

/// A value of a `set_attribute` block.
#[derive(Clone, Debug, PartialEq)]
pub enum SetValue {
    /// A string template, rendered to a string.
    Template(String),
    /// `{"expr": "..."}`: an expression's value.
    Expr(String),
    /// Any other JSON, stored as is.
    Literal(Value),
}

/// `set_attribute`.
#[derive(Clone, Debug, PartialEq)]
pub struct SetAttributeBlock {
    /// Name → value, in name order.
    pub set: Vec<(String, SetValue)>,
}

/// `condition`.
#[derive(Clone, Debug, PartialEq)]
pub struct ConditionBlock {
    /// Conditions and their targets, in order; the first that holds wins.
    pub branches: Vec<(Condition, String)>,
}

/// `webhook`.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookBlock {
    /// The URL (a template).
    pub url: String,
    /// Header name → value template.
    pub headers: Vec<(String, String)>,
    /// Attributes sent (`None`: all).
    pub send: Option<Vec<String>>,
    /// Per-try timeout, ms.
    pub timeout_ms: u64,
    /// Retries after the first try.
    pub retries: u32,
    /// Wait before the first retry, ms; doubled for each further one (≤ [`MAX_BACKOFF_MS`]).
    pub backoff_ms: u64,
    /// Attribute → JSON pointer into the response body.
    pub response: Vec<(String, String)>,
}

/// How many times a loop runs.
#[derive(Clone, Debug, PartialEq)]
pub enum LoopCount {
    /// A fixed count.
    Fixed(u32),
    /// A template rendering to a count, evaluated when the loop starts.
    Template(String),
}

/// `loop`.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopBlock {
    /// The first block of each iteration.
    pub body: String,
    /// Run this many times...
    pub count: Option<LoopCount>,
    /// ... or while this holds (checked before each iteration).
    pub while_: Option<Condition>,
    /// Hard cap on iterations.
    pub max_iterations: u32,
    /// Set to the iteration number (1, 2, ...) before each check.
    pub index_attribute: Option<String>,
}

/// `transfer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferBlock {
    /// Target (a template).
    pub to: String,
    /// REFER or a bridged leg.
    pub mode: TransferMode,
    /// Wait for the shell's report, ms.
    pub timeout_ms: u64,
}

/// `hangup`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HangupBlock {
    /// Reason given in the hang-up action.
    pub reason: Option<String>,
}

/// A block of an extension type.
#[derive(Clone)]
pub struct ExtensionBlockDef {
    /// The type name.
    pub type_name: String,
    /// The block's own fields.
    pub fields: Map<String, Value>,
    /// Branch name → target.
    pub branches: BTreeMap<String, String>,
    pub(crate) kind: Arc<dyn ExtensionBlock>,
}

impl std::fmt::Debug for ExtensionBlockDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtensionBlockDef")
            .field("type_name", &self.type_name)
            .field("fields", &self.fields)
            .field("branches", &self.branches)
            .finish()
    }
}

/// What a block does.
#[derive(Clone, Debug)]
pub enum BlockBody {
    /// `play`.
    Play(PlayBlock),
    /// `get_input`.
    GetInput(Box<GetInputBlock>),
    /// `record`.
    Record(RecordBlock),
    /// `amd`.
    Amd(AmdBlock),
    /// `set_attribute`.
    SetAttribute(SetAttributeBlock),
    /// `condition`.
    Condition(ConditionBlock),
    /// `webhook`.
    Webhook(WebhookBlock),
    /// `loop`.
    Loop(LoopBlock),
    /// `transfer`.
    Transfer(TransferBlock),
    /// `hangup`.
    Hangup(HangupBlock),
    /// An extension type.
    Extension(ExtensionBlockDef),
}

/// One block of a flow.
#[derive(Clone, Debug)]
pub struct Block {
    /// Its id.
    pub id: String,
    /// Free text.
    pub description: Option<String>,
    /// Where the flow goes when the block is done (`None`: the flow ends, hanging up).
    pub next: Option<String>,
    /// Where the flow goes when the block fails (`None`: the flow ends with an error).
    pub on_error: Option<String>,
    /// The block's own settings.
    pub body: BlockBody,
}

impl Block {
    /// The block's type name.
    pub fn kind(&self) -> &str {
        match &self.body {
            BlockBody::Play(_) => "play",
            BlockBody::GetInput(_) => "get_input",
            BlockBody::Record(_) => "record",
            BlockBody::Amd(_) => "amd",
            BlockBody::SetAttribute(_) => "set_attribute",
            BlockBody::Condition(_) => "condition",
            BlockBody::Webhook(_) => "webhook",
            BlockBody::Loop(_) => "loop",
            BlockBody::Transfer(_) => "transfer",
            BlockBody::Hangup(_) => "hangup",
            BlockBody::Extension(e) => &e.type_name,
        }
    }

    /// Every exit with a target: (field, target id).
    pub fn exits(&self) -> Vec<(String, &str)> {
        let mut v = Vec::new();
        if let Some(t) = &self.next {
            v.push(("next".to_string(), t.as_str()));
        }
        if let Some(t) = &self.on_error {
            v.push(("on_error".to_string(), t.as_str()));
        }
        match &self.body {
            BlockBody::GetInput(g) => {
                for (k, t) in &g.branches {
                    v.push((format!("branches.{k}"), t.as_str()));
                }
                if let Some(t) = &g.on_no_match {
                    v.push(("on_no_match".into(), t.as_str()));
                }
                if let Some(t) = &g.on_no_input {
                    v.push(("on_no_input".into(), t.as_str()));
                }
            }
            BlockBody::Amd(a) => {
                for (k, t) in &a.branches {
                    v.push((format!("branches.{k}"), t.as_str()));
                }
            }
            BlockBody::Extension(e) => {
                for (k, t) in &e.branches {
                    v.push((format!("branches.{k}"), t.as_str()));
                }
            }
            BlockBody::Condition(c) => {
                for (i, (_, t)) in c.branches.iter().enumerate() {
                    v.push((format!("branches[{i}].next"), t.as_str()));
                }
            }
            BlockBody::Loop(l) => v.push(("body".into(), l.body.as_str())),
            _ => {}
        }
        v
    }

    /// Whether entering the block always waits for the caller or the shell (a prompt, a
    /// request). `set_attribute`, `condition`, `loop` and `amd` (whose result may be known
    /// already) do not; `hangup` and `transfer` end the flow.
    pub fn waits(&self) -> bool {
        matches!(
            self.body,
            BlockBody::Play(_)
                | BlockBody::GetInput(_)
                | BlockBody::Record(_)
                | BlockBody::Webhook(_)
                | BlockBody::Extension(_)
        )
    }

    /// Whether the flow may end normally in this block (it has no `next`, or it hangs up or
    /// transfers).
    fn may_end(&self) -> bool {
        self.next.is_none() || matches!(self.body, BlockBody::Hangup(_) | BlockBody::Transfer(_))
    }
}

/// A parsed, validated flow. Share it between calls with an `Arc`.
#[derive(Debug)]
pub struct Flow {
    id: String,
    description: Option<String>,
    start: String,
    attributes: Map<String, Value>,
    blocks: Vec<Block>,
    index: HashMap<String, usize>,
    warnings: Vec<FlowWarning>,
    source: Option<String>,
    pub(crate) templates: Templates,
}

fn schema_validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let schema: Value =
            serde_json::from_str(SCHEMA_V1).expect("the checked-in schema is valid JSON");
        jsonschema::validator_for(&schema).expect("the checked-in schema is a valid JSON Schema")
    })
}

impl Flow {
    /// Parse and validate a flow file. `extensions` are the extension block types the flow
    /// may use. Every error names the block id and field.
    pub fn parse(text: &str, extensions: &Extensions) -> Result<Flow, FlowErrors> {
        Self::parse_inner(None, text, extensions)
    }

    /// [`Flow::parse`] for text read from `source` (a file name): errors and warnings name it.
    pub fn parse_named(
        source: &str,
        text: &str,
        extensions: &Extensions,
    ) -> Result<Flow, FlowErrors> {
        Self::parse_inner(Some(source), text, extensions)
    }

    fn parse_inner(
        source: Option<&str>,
        text: &str,
        extensions: &Extensions,
    ) -> Result<Flow, FlowErrors> {
        let name = |mut e: FlowError| {
            e.source = source.map(str::to_string);
            e
        };
        let fail = |errors: Vec<FlowError>, warnings: Vec<FlowError>| FlowErrors {
            errors: errors.into_iter().map(name).collect(),
            warnings: warnings.into_iter().map(name).collect(),
        };
        if text.len() > MAX_FLOW_BYTES {
            return Err(fail(
                vec![FlowError::flow(
                    "",
                    format!(
                        "the file has {} bytes; at most {MAX_FLOW_BYTES} are accepted",
                        text.len()
                    ),
                )],
                vec![],
            ));
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            fail(
                vec![FlowError::flow("", crate::error::json_syntax(&e))],
                vec![],
            )
        })?;
        let schema_errors = schema_errors(&value);
        if !schema_errors.is_empty() {
            return Err(fail(schema_errors, vec![]));
        }
        let mut b = Builder {
            templates: Templates::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            failed: HashSet::new(),
        };
        let flow = b.build(&value, extensions);
        match flow {
            Some(mut f) if b.errors.is_empty() => {
                f.warnings = b.warnings.into_iter().map(name).collect();
                f.source = source.map(str::to_string);
                Ok(f)
            }
            _ => Err(fail(b.errors, b.warnings)),
        }
    }

    /// The flow's id.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The flow's description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The first block's id.
    pub fn start(&self) -> &str {
        &self.start
    }
    /// Default attributes (the call's attributes override them).
    pub fn default_attributes(&self) -> &Map<String, Value> {
        &self.attributes
    }
    /// The blocks, in file order.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }
    /// The block with this id.
    pub fn block(&self, id: &str) -> Option<&Block> {
        self.index.get(id).map(|&i| &self.blocks[i])
    }
    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
    /// Warnings found while validating (unreachable blocks, loops only the caller can end).
    pub fn warnings(&self) -> &[FlowWarning] {
        &self.warnings
    }
    /// The source name given to [`Flow::parse_named`].
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }
    /// Whether the flow has an `amd` block: the shell must run answering-machine detection
    /// and report [`crate::Event::AmdResult`] and [`crate::Event::Beep`].
    pub fn uses_amd(&self) -> bool {
        self.blocks
            .iter()
            .any(|b| matches!(b.body, BlockBody::Amd(_)))
    }
    /// The extension types the flow uses, sorted.
    pub fn extension_types(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .blocks
            .iter()
            .filter_map(|b| match &b.body {
                BlockBody::Extension(e) => Some(e.type_name.as_str()),
                _ => None,
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

// ---------------------------------------------------------------------------------------------
// Schema errors

/// A JSON pointer's segments.
fn segments(pointer: &str) -> Vec<String> {
    if pointer.is_empty() {
        return Vec::new();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// A dotted field path: `dtmf.max_digits`, `branches[2].when.op`.
fn field_path(segs: &[String]) -> String {
    let mut s = String::new();
    for seg in segs {
        if seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty() {
            s.push_str(&format!("[{seg}]"));
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(seg);
        }
    }
    s
}

fn join_field(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}.{name}")
    }
}

/// Where an instance path points: (block id or `#N`, block type, field inside the block), or
/// no block for flow-level fields.
fn locate(root: &Value, segs: &[String]) -> (Option<String>, Option<String>, String) {
    if segs.len() >= 2 && segs[0] == "blocks" {
        if let Ok(i) = segs[1].parse::<usize>() {
            let block = root.get("blocks").and_then(|b| b.get(i));
            let id = block
                .and_then(|b| b.get("id"))
                .and_then(Value::as_str)
                .filter(|s| valid_id(s))
                .map(str::to_string)
                .unwrap_or_else(|| format!("#{}", i + 1));
            let kind = block
                .and_then(|b| b.get("type"))
                .and_then(Value::as_str)
                .map(str::to_string);
            return (Some(id), kind, field_path(&segs[2..]));
        }
    }
    (None, None, field_path(segs))
}

fn pattern_message(pattern: &str) -> String {
    match pattern {
        "^[A-Za-z0-9_-]{1,64}$" => "must be an id: 1-64 of A-Z a-z 0-9 _ -".into(),
        "^[A-Za-z_][A-Za-z0-9_]{0,63}$" => format!("attribute name {ATTRIBUTE_NAME_RULE}"),
        "^[a-z][a-z0-9_]{0,63}$" => {
            "must be a type name: lowercase letters, digits and _ (starting with a letter)".into()
        }
        "^(https?://|\\{\\{)" => {
            "must be an http:// or https:// URL (or a template starting with {{)".into()
        }
        "^[0-9*#A-D]{0,16}$" => "must be DTMF keys (0-9 * # A-D), at most 16".into(),
        "^[A-Za-z0-9-]{1,64}$" => "header name must be 1-64 of A-Z a-z 0-9 -".into(),
        p => format!("must match {p}"),
    }
}

fn schema_errors(root: &Value) -> Vec<FlowError> {
    let mut out = Vec::new();
    for e in schema_validator().iter_errors(root) {
        push_schema_error(root, &e, &mut out);
    }
    let mut seen = HashSet::new();
    out.retain(|e| seen.insert(e.to_string()));
    out
}

fn push_schema_error(root: &Value, e: &jsonschema::ValidationError<'_>, out: &mut Vec<FlowError>) {
    use jsonschema::error::ValidationErrorKind as K;
    let segs = segments(e.instance_path().as_str());
    let (block, kind, field) = locate(root, &segs);
    let make = |field: String, message: String| FlowError {
        source: None,
        block: block.clone(),
        field,
        message,
    };
    let of_type = || match &kind {
        Some(k) => format!("\"{k}\" blocks"),
        None => "flows".to_string(),
    };
    let msg = match e.kind() {
        K::Minimum { limit } => format!("must be ≥ {limit}"),
        K::Maximum { limit } => format!("must be ≤ {limit}"),
        K::ExclusiveMinimum { limit } => format!("must be > {limit}"),
        K::ExclusiveMaximum { limit } => format!("must be < {limit}"),
        K::MinLength { limit } => format!("must have at least {limit} characters"),
        K::MaxLength { limit } => format!("must have at most {limit} characters"),
        K::MinItems { limit } => format!("must have at least {limit} items"),
        K::MaxItems { limit } => format!("must have at most {limit} items"),
        K::MinProperties { limit } => format!("must have at least {limit} entries"),
        K::MaxProperties { limit } => format!("must have at most {limit} entries"),
        K::Pattern { pattern } => pattern_message(pattern),
        K::Constant { expected_value } => format!("must be {expected_value}"),
        K::Enum { options } => format!("must be one of {options}"),
        K::Type { kind } => {
            let want = match kind {
                jsonschema::error::TypeKind::Single(t) => format!("{t}"),
                jsonschema::error::TypeKind::Multiple(_) => "of another type".to_string(),
            };
            format!("must be {want}, not {}", json_type(e.instance()))
        }
        K::Required { property } => {
            let p = property.as_str().unwrap_or_default();
            out.push(make(join_field(&field, p), "is required".into()));
            return;
        }
        K::AdditionalProperties { unexpected } => {
            for u in unexpected {
                out.push(make(
                    join_field(&field, u),
                    format!("unknown field (not a field of {})", of_type()),
                ));
            }
            return;
        }
        K::FalseSchema => format!("is not allowed in {}", of_type()),
        K::PropertyNames { error } => {
            let name = error.instance().as_str().unwrap_or_default().to_string();
            let inner = match error.kind() {
                K::Pattern { pattern } => pattern_message(pattern),
                _ => error.to_string(),
            };
            out.push(make(join_field(&field, &name), format!("name: {inner}")));
            return;
        }
        K::OneOfNotValid { context } | K::AnyOf { context } => {
            // The branch of the value's own type says what is wrong; when every branch
            // refuses the type, list the types.
            let best = context.iter().find(|branch| {
                !branch.iter().any(|x| {
                    matches!(x.kind(), K::Type { .. })
                        && x.instance_path().as_str() == e.instance_path().as_str()
                })
            });
            match best {
                Some(branch) => {
                    for x in branch {
                        push_schema_error(root, x, out);
                    }
                    return;
                }
                None => {
                    let types: Vec<String> = context
                        .iter()
                        .flat_map(|b| b.iter())
                        .filter_map(|x| match x.kind() {
                            K::Type {
                                kind: jsonschema::error::TypeKind::Single(t),
                            } => Some(t.to_string()),
                            _ => None,
                        })
                        .collect();
                    format!(
                        "must be {}, not {}",
                        types.join(" or "),
                        json_type(e.instance())
                    )
                }
            }
        }
        _ => e.to_string(),
    };
    out.push(make(field, msg));
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

// ---------------------------------------------------------------------------------------------
// Typed blocks and semantic checks

struct Builder {
    templates: Templates,
    errors: Vec<FlowError>,
    warnings: Vec<FlowWarning>,
    /// Ids of blocks that failed to build: exits to them are not reported again.
    failed: HashSet<String>,
}

/// Fields every block may have, handled by the builder itself.
const COMMON_FIELDS: &[&str] = &["id", "type", "description", "next", "on_error"];

fn u64_of(o: &Map<String, Value>, k: &str, default: u64) -> u64 {
    o.get(k).and_then(Value::as_u64).unwrap_or(default)
}
fn bool_of(o: &Map<String, Value>, k: &str, default: bool) -> bool {
    o.get(k).and_then(Value::as_bool).unwrap_or(default)
}
fn str_of(o: &Map<String, Value>, k: &str) -> Option<String> {
    o.get(k).and_then(Value::as_str).map(str::to_string)
}
fn targets_of(o: &Map<String, Value>, k: &str) -> BTreeMap<String, String> {
    o.get(k)
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|t| (k.clone(), t.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

impl Builder {
    fn err(&mut self, block: &str, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FlowError::block(block, field, message));
    }

    fn warn(&mut self, block: Option<&str>, field: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(FlowError {
            source: None,
            block: block.map(str::to_string),
            field: field.into(),
            message: message.into(),
        });
    }

    fn template(&mut self, block: &str, field: &str, src: &str) {
        if let Err(e) = self.templates.check(src) {
            self.err(block, field, e);
        }
    }

    fn prompt(&mut self, block: &str, field: &str, v: &Value) -> PromptSource {
        match v {
            Value::String(s) => {
                self.template(block, field, s);
                PromptSource::Text(s.clone())
            }
            Value::Object(o) => {
                if let Some(s) = str_of(o, "text") {
                    self.template(block, &format!("{field}.text"), &s);
                    PromptSource::Text(s)
                } else if let Some(s) = str_of(o, "ssml") {
                    self.template(block, &format!("{field}.ssml"), &s);
                    PromptSource::Ssml(s)
                } else {
                    let s = str_of(o, "audio").unwrap_or_default();
                    let f = format!("{field}.audio");
                    if is_template(&s) {
                        self.template(block, &f, &s);
                    } else if let Err(m) = check_audio_path(&s) {
                        self.err(block, f, m);
                    }
                    PromptSource::Audio(s)
                }
            }
            _ => PromptSource::Text(String::new()),
        }
    }

    fn attribute_ref(&mut self, block: &str, field: &str, s: &str) {
        if is_template(s) {
            self.template(block, field, s);
        } else if !valid_attribute_name(s) {
            self.err(
                block,
                field,
                format!("attribute name {ATTRIBUTE_NAME_RULE}"),
            );
        }
    }

    fn build(&mut self, root: &Value, extensions: &Extensions) -> Option<Flow> {
        let o = root.as_object()?;
        let id = str_of(o, "id")?;
        let start = str_of(o, "start")?;
        let attributes = o
            .get("attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut blocks = Vec::new();
        let mut index = HashMap::new();
        for (i, bv) in o.get("blocks")?.as_array()?.iter().enumerate() {
            let bo = bv.as_object()?;
            let bid = str_of(bo, "id")?;
            if let Some(prev) = index.get(&bid) {
                self.err(
                    &bid,
                    "id",
                    format!(
                        "duplicate id (block #{} has it too; this is #{})",
                        *prev + 1,
                        i + 1
                    ),
                );
                continue;
            }
            match self.block(&bid, bo, extensions) {
                Some(b) => {
                    index.insert(bid, blocks.len());
                    blocks.push(b);
                }
                None => {
                    self.failed.insert(bid);
                }
            }
        }
        let mut flow = Flow {
            id,
            description: str_of(o, "description"),
            start,
            attributes,
            blocks,
            index,
            warnings: Vec::new(),
            source: None,
            templates: Templates::new(),
        };
        self.check_graph(&flow);
        std::mem::swap(&mut flow.templates, &mut self.templates);
        Some(flow)
    }

    fn block(
        &mut self,
        id: &str,
        o: &Map<String, Value>,
        extensions: &Extensions,
    ) -> Option<Block> {
        let kind = str_of(o, "type")?;
        let body = match kind.as_str() {
            "play" => BlockBody::Play(PlayBlock {
                prompt: self.prompt(id, "prompt", &o["prompt"]),
                barge_in: bool_of(o, "barge_in", false),
            }),
            "get_input" => BlockBody::GetInput(Box::new(self.get_input(id, o))),
            "record" => {
                let attribute = str_of(o, "attribute").unwrap_or_default();
                self.attribute_ref(id, "attribute", &attribute);
                BlockBody::Record(RecordBlock {
                    attribute,
                    max_length_ms: u64_of(o, "max_length_ms", DEFAULT_RECORD_MS),
                    end_on_silence_ms: o.get("end_on_silence_ms").and_then(Value::as_u64),
                    end_on_dtmf: str_of(o, "end_on_dtmf").unwrap_or_default(),
                    beep: bool_of(o, "beep", false),
                })
            }
            "amd" => {
                let wait_for_beep = bool_of(o, "wait_for_beep", false);
                let branches = targets_of(o, "branches");
                if branches.contains_key("no_beep") && !wait_for_beep {
                    self.err(id, "branches.no_beep", "needs \"wait_for_beep\": true");
                }
                if o.contains_key("beep_timeout_ms") && !wait_for_beep {
                    self.warn(
                        Some(id),
                        "beep_timeout_ms",
                        "has no effect without \"wait_for_beep\": true",
                    );
                }
                BlockBody::Amd(AmdBlock {
                    attribute: str_of(o, "attribute").unwrap_or_else(|| "answered_by".into()),
                    timeout_ms: u64_of(o, "timeout_ms", DEFAULT_AMD_TIMEOUT_MS),
                    wait_for_beep,
                    beep_timeout_ms: u64_of(o, "beep_timeout_ms", DEFAULT_BEEP_TIMEOUT_MS),
                    branches,
                })
            }
            "set_attribute" => {
                let mut set = Vec::new();
                for (name, v) in o["set"].as_object()? {
                    let f = format!("set.{name}");
                    let value = match v {
                        Value::String(s) => {
                            self.template(id, &f, s);
                            SetValue::Template(s.clone())
                        }
                        Value::Object(m) if m.contains_key("expr") => {
                            match (m.len(), m["expr"].as_str()) {
                                (1, Some(e)) => {
                                    if let Err(msg) = self.templates.check_expr(e) {
                                        self.err(id, format!("{f}.expr"), msg);
                                    }
                                    SetValue::Expr(e.to_string())
                                }
                                _ => {
                                    self.err(
                                        id,
                                        &f,
                                        "an expression is {\"expr\": \"...\"} with nothing else",
                                    );
                                    SetValue::Literal(v.clone())
                                }
                            }
                        }
                        other => SetValue::Literal(other.clone()),
                    };
                    set.push((name.clone(), value));
                }
                BlockBody::SetAttribute(SetAttributeBlock { set })
            }
            "condition" => {
                let mut branches = Vec::new();
                for (i, br) in o["branches"].as_array()?.iter().enumerate() {
                    let f = format!("branches[{i}].when");
                    match Condition::parse(&br["when"], &f, &self.templates) {
                        Ok(c) => branches.push((c, str_of(br.as_object()?, "next")?)),
                        Err(e) => self.err(id, e.field, e.message),
                    }
                }
                BlockBody::Condition(ConditionBlock { branches })
            }
            "webhook" => BlockBody::Webhook(self.webhook(id, o)?),
            "loop" => BlockBody::Loop(self.loop_block(id, o)),
            "transfer" => {
                let to = str_of(o, "to").unwrap_or_default();
                if is_template(&to) {
                    self.template(id, "to", &to);
                } else if !valid_transfer_target(&to) {
                    self.err(
                        id,
                        "to",
                        "must be a sip:, sips: or tel: URI or a phone number (3-20 digits, + optional)",
                    );
                }
                let mode = match o.get("mode").and_then(Value::as_str) {
                    Some("bridge") => TransferMode::Bridge,
                    _ => TransferMode::Refer,
                };
                BlockBody::Transfer(TransferBlock {
                    to,
                    mode,
                    timeout_ms: u64_of(o, "timeout_ms", DEFAULT_TRANSFER_TIMEOUT_MS),
                })
            }
            "hangup" => BlockBody::Hangup(HangupBlock {
                reason: str_of(o, "reason"),
            }),
            other => match extensions.get(other) {
                None => {
                    let registered = extensions.names();
                    self.err(
                        id,
                        "type",
                        format!(
                            "unknown block type {other:?} (built-in: {}; registered extensions: {})",
                            BUILTIN_TYPES.join(", "),
                            if registered.is_empty() {
                                "none".to_string()
                            } else {
                                registered.join(", ")
                            }
                        ),
                    );
                    return None;
                }
                Some(ext) => {
                    let fields: Map<String, Value> = o
                        .iter()
                        .filter(|(k, _)| !COMMON_FIELDS.contains(&k.as_str()) && *k != "branches")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    if let Err(es) = ext.validate(&fields) {
                        for e in es {
                            self.err(id, e.field, e.message);
                        }
                    }
                    let branches = match o.get("branches") {
                        None => BTreeMap::new(),
                        Some(Value::Object(m)) => {
                            let allowed = ext.branches();
                            let mut out = BTreeMap::new();
                            for (k, v) in m {
                                if !allowed.contains(&k.as_str()) {
                                    self.err(
                                        id,
                                        format!("branches.{k}"),
                                        format!(
                                            "unknown branch of \"{other}\" blocks (they have: {})",
                                            if allowed.is_empty() {
                                                "none".to_string()
                                            } else {
                                                allowed.join(", ")
                                            }
                                        ),
                                    );
                                } else if let Some(t) = v.as_str().filter(|t| valid_id(t)) {
                                    out.insert(k.clone(), t.to_string());
                                } else {
                                    self.err(id, format!("branches.{k}"), "must be a block id");
                                }
                            }
                            out
                        }
                        Some(_) => {
                            self.err(id, "branches", "must be an object of branch → block id");
                            BTreeMap::new()
                        }
                    };
                    BlockBody::Extension(ExtensionBlockDef {
                        type_name: other.to_string(),
                        fields,
                        branches,
                        kind: ext.clone(),
                    })
                }
            },
        };
        Some(Block {
            id: id.to_string(),
            description: str_of(o, "description"),
            next: str_of(o, "next"),
            on_error: str_of(o, "on_error"),
            body,
        })
    }

    fn get_input(&mut self, id: &str, o: &Map<String, Value>) -> GetInputBlock {
        let prompt = self.prompt(id, "prompt", &o["prompt"]);
        let answer_type = match str_of(o, "answer_type") {
            None => None,
            Some(s) if is_template(&s) => {
                self.template(id, "answer_type", &s);
                Some(AnswerTypeSource::Template(s))
            }
            Some(s) => match s.parse::<AnswerType>() {
                Ok(t) => Some(AnswerTypeSource::Fixed(t)),
                Err(e) => {
                    self.err(id, "answer_type", e.to_string());
                    None
                }
            },
        };
        let input = match o.get("input").and_then(Value::as_str) {
            Some("speech") => InputMode::Speech,
            Some("dtmf") => InputMode::Dtmf,
            Some(_) => InputMode::SpeechAndDtmf,
            None if answer_type.is_some() || o.contains_key("answer_type") => {
                InputMode::SpeechAndDtmf
            }
            None => InputMode::Dtmf,
        };
        if input.speech() && !o.contains_key("answer_type") {
            self.err(
                id,
                "input",
                "speech needs an answer_type (a question without one takes raw keypad digits)",
            );
        }
        let attribute = str_of(o, "attribute").unwrap_or_default();
        self.attribute_ref(id, "attribute", &attribute);
        let d = o
            .get("dtmf")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let max_digits = d
            .get("max_digits")
            .and_then(Value::as_u64)
            .map(|n| n as u32);
        let min_digits = d.get("min_digits").and_then(Value::as_u64).unwrap_or(1) as u32;
        if let Some(m) = max_digits {
            if min_digits > m {
                self.err(
                    id,
                    "dtmf.min_digits",
                    format!("must be ≤ dtmf.max_digits ({m})"),
                );
            }
        }
        if !d.is_empty() && !input.dtmf() {
            self.warn(
                Some(id),
                "dtmf",
                "has no effect: the question takes speech only",
            );
        }
        let terminator = match d.get("terminator").and_then(Value::as_str) {
            None => Some('#'),
            Some(t) => t.chars().next(),
        };
        let prompt_opt = |this: &mut Self, k: &str| o.get(k).map(|v| this.prompt(id, k, v));
        let no_match_prompt = prompt_opt(self, "no_match_prompt");
        let no_input_prompt = prompt_opt(self, "no_input_prompt");
        let repeat_phrases = match o.get("repeat_phrases").and_then(Value::as_array) {
            Some(a) => a
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect(),
            None => crate::answer::DEFAULT_REPEAT_PHRASES
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        let branches = targets_of(o, "branches");
        if let Some(AnswerTypeSource::Fixed(t)) = &answer_type {
            let ok_key = |k: &str| match t {
                AnswerType::YesNo => {
                    matches!(
                        k.to_ascii_lowercase().as_str(),
                        "yes" | "no" | "true" | "false"
                    )
                }
                AnswerType::Choice => {
                    k.len() == 1
                        && matches!(k.to_ascii_uppercase().as_str(), "A" | "B" | "C" | "D" | "E")
                }
                _ => true,
            };
            for k in branches.keys() {
                if !ok_key(k) {
                    let want = if *t == AnswerType::YesNo {
                        "yes, no, true or false"
                    } else {
                        "A, B, C, D or E"
                    };
                    self.err(
                        id,
                        format!("branches.{k}"),
                        format!("a {t} answer is never {k:?} (use {want})"),
                    );
                }
            }
        }
        GetInputBlock {
            prompt,
            answer_type,
            input,
            attribute,
            barge_in: bool_of(o, "barge_in", true),
            timeout_ms: u64_of(o, "timeout_ms", DEFAULT_INPUT_TIMEOUT_MS),
            max_speech_ms: u64_of(o, "max_speech_ms", DEFAULT_MAX_SPEECH_MS),
            min_confidence: o
                .get("min_confidence")
                .and_then(Value::as_f64)
                .unwrap_or(0.0) as f32,
            dtmf: DtmfSettings {
                max_digits,
                min_digits,
                terminator,
                inter_digit_timeout_ms: u64_of(
                    &d,
                    "inter_digit_timeout_ms",
                    DEFAULT_INTER_DIGIT_MS,
                ),
                overall_timeout_ms: u64_of(&d, "overall_timeout_ms", DEFAULT_OVERALL_DTMF_MS),
            },
            max_attempts: u64_of(o, "max_attempts", u64::from(DEFAULT_ATTEMPTS)) as u32,
            no_match_prompt,
            no_input_prompt,
            repeat_question_on_retry: bool_of(o, "repeat_question_on_retry", true),
            repeat_phrases,
            max_repeats: u64_of(o, "max_repeats", u64::from(DEFAULT_MAX_REPEATS)) as u32,
            choices: o
                .get("choices")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            branches,
            on_no_match: str_of(o, "on_no_match"),
            on_no_input: str_of(o, "on_no_input"),
        }
    }

    fn webhook(&mut self, id: &str, o: &Map<String, Value>) -> Option<WebhookBlock> {
        let url = str_of(o, "url")?;
        self.template(id, "url", &url);
        let mut headers = Vec::new();
        for (k, v) in o
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let v = v.as_str().unwrap_or_default().to_string();
            self.template(id, &format!("headers.{k}"), &v);
            headers.push((k.clone(), v));
        }
        let mut response = Vec::new();
        for (k, v) in o
            .get("response")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let p = v.as_str().unwrap_or_default();
            let pointer = if p.starts_with('/') {
                p.to_string()
            } else if p.is_empty() || p.split('.').any(str::is_empty) {
                self.err(
                    id,
                    format!("response.{k}"),
                    "must be a JSON pointer (/a/b) or a dotted path (a.b) into the response",
                );
                continue;
            } else {
                format!(
                    "/{}",
                    p.replace('~', "~0").replace('/', "~1").replace('.', "/")
                )
            };
            response.push((k.clone(), pointer));
        }
        Some(WebhookBlock {
            url,
            headers,
            send: o.get("send").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            }),
            timeout_ms: u64_of(o, "timeout_ms", DEFAULT_WEBHOOK_TIMEOUT_MS),
            retries: u64_of(o, "retries", u64::from(DEFAULT_WEBHOOK_RETRIES)) as u32,
            backoff_ms: u64_of(o, "backoff_ms", DEFAULT_BACKOFF_MS),
            response,
        })
    }

    fn loop_block(&mut self, id: &str, o: &Map<String, Value>) -> LoopBlock {
        let body = str_of(o, "body").unwrap_or_default();
        if body == id {
            self.err(id, "body", "must not be the loop block itself");
        }
        let count = match o.get("count") {
            None => None,
            Some(Value::String(s)) if is_template(s) => {
                self.template(id, "count", s);
                Some(LoopCount::Template(s.clone()))
            }
            Some(Value::String(s)) => match s.trim().parse::<u32>() {
                Ok(n) if n <= MAX_LOOP_ITERATIONS => Some(LoopCount::Fixed(n)),
                _ => {
                    self.err(
                        id,
                        "count",
                        format!("must be a whole number 0-{MAX_LOOP_ITERATIONS} or a template"),
                    );
                    None
                }
            },
            Some(v) => Some(LoopCount::Fixed(v.as_u64().unwrap_or(0) as u32)),
        };
        let while_ = match o.get("while") {
            None => None,
            Some(w) => match Condition::parse(w, "while", &self.templates) {
                Ok(c) => Some(c),
                Err(e) => {
                    self.err(id, e.field, e.message);
                    None
                }
            },
        };
        match (o.contains_key("count"), o.contains_key("while")) {
            (true, true) => self.err(id, "while", "give count or while, not both"),
            (false, false) => self.err(id, "count", "a loop needs count or while"),
            _ => {}
        }
        if o.contains_key("max_iterations") && o.contains_key("count") {
            self.warn(
                Some(id),
                "max_iterations",
                "caps while-loops; a count loop runs count times",
            );
        }
        LoopBlock {
            body,
            count,
            while_,
            max_iterations: u64_of(o, "max_iterations", u64::from(DEFAULT_LOOP_MAX_ITERATIONS))
                as u32,
            index_attribute: str_of(o, "index_attribute"),
        }
    }

    /// Targets exist, the start exists; warnings for unreachable blocks; errors for loops of
    /// non-waiting blocks with no way out, warnings for waiting loops only a hang-up ends.
    fn check_graph(&mut self, flow: &Flow) {
        if !flow.index.contains_key(&flow.start) && !self.failed.contains(&flow.start) {
            self.errors.push(FlowError::flow(
                "start",
                format!("no block has id {:?}", flow.start),
            ));
        }
        let mut edges: Vec<Vec<usize>> = vec![Vec::new(); flow.blocks.len()];
        for (i, b) in flow.blocks.iter().enumerate() {
            for (field, target) in b.exits() {
                match flow.index.get(target) {
                    Some(&j) => edges[i].push(j),
                    None if self.failed.contains(target) => {}
                    None => self.err(&b.id, field, format!("no block has id {target:?}")),
                }
            }
        }
        // Reachability from the start.
        let mut seen = vec![false; flow.blocks.len()];
        if let Some(&s) = flow.index.get(&flow.start) {
            let mut stack = vec![s];
            while let Some(i) = stack.pop() {
                if !std::mem::replace(&mut seen[i], true) {
                    stack.extend(edges[i].iter().copied());
                }
            }
            for (i, b) in flow.blocks.iter().enumerate() {
                if !seen[i] {
                    self.warn(
                        Some(&b.id),
                        "",
                        "unreachable: no path from the start leads here",
                    );
                }
            }
        }
        // Loops that come back to their loop block.
        for (i, b) in flow.blocks.iter().enumerate() {
            if let BlockBody::Loop(l) = &b.body {
                if let Some(&body) = flow.index.get(&l.body) {
                    if !reaches(&edges, body, i) {
                        self.warn(
                            Some(&b.id),
                            "body",
                            "no path from the body leads back to the loop: it runs once",
                        );
                    }
                }
            }
        }
        for scc in strongly_connected(&edges) {
            let cyclic = scc.len() > 1 || edges[scc[0]].contains(&scc[0]);
            if !cyclic {
                continue;
            }
            let members: HashSet<usize> = scc.iter().copied().collect();
            let way_out = scc.iter().any(|&i| {
                flow.blocks[i].may_end() || edges[i].iter().any(|j| !members.contains(j))
            });
            if way_out {
                continue;
            }
            let mut ids: Vec<&str> = scc.iter().map(|&i| flow.blocks[i].id.as_str()).collect();
            ids.sort_unstable();
            let first = ids[0];
            let cycle = ids.join(", ");
            if scc.iter().any(|&i| flow.blocks[i].waits()) {
                self.warn(
                    Some(first),
                    "",
                    format!("blocks {cycle} loop with no way out: the flow only ends when the caller hangs up"),
                );
            } else {
                self.err(
                    first,
                    "",
                    format!("blocks {cycle} loop forever without waiting for the caller (no exit leaves them)"),
                );
            }
        }
    }
}

fn check_audio_path(s: &str) -> Result<(), String> {
    if s.starts_with('/') || s.contains('\\') || s.split('/').any(|p| p == "..") {
        return Err("must be a relative path without .. or backslashes".into());
    }
    if s.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(())
}

fn reaches(edges: &[Vec<usize>], from: usize, to: usize) -> bool {
    let mut seen = vec![false; edges.len()];
    let mut stack = vec![from];
    while let Some(i) = stack.pop() {
        if i == to {
            return true;
        }
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(edges[i].iter().copied());
        }
    }
    false
}

/// Tarjan's strongly connected components, iterative.
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = edges.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut out = Vec::new();
    let mut next = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, next edge to look at)
        let mut work = vec![(root, 0usize)];
        while let Some(&mut (v, ref mut ei)) = work.last_mut() {
            if *ei == 0 && index[v] == usize::MAX {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = edges[v].get(*ei) {
                *ei += 1;
                if index[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                comp.sort_unstable();
                out.push(comp);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scc_finds_cycles() {
        // 0 → 1 → 2 → 0, 2 → 3, 3 → 3
        let edges = vec![vec![1], vec![2], vec![0, 3], vec![3]];
        let mut sccs = strongly_connected(&edges);
        sccs.sort();
        assert_eq!(sccs, vec![vec![0, 1, 2], vec![3]]);
        assert!(reaches(&edges, 0, 3));
        assert!(!reaches(&edges, 3, 0));
    }

    #[test]
    fn transfer_targets() {
        for ok in [
            "sip:agent@example.com",
            "tel:+15551234",
            "+1 (555) 123-4567",
            "911",
        ] {
            assert!(valid_transfer_target(ok), "{ok}");
        }
        for bad in ["", "sip:", "agent", "12", "+1555abc", "sip:a b"] {
            assert!(!valid_transfer_target(bad), "{bad}");
        }
    }

    #[test]
    fn field_paths() {
        assert_eq!(
            field_path(&segments("/branches/2/when/op")),
            "branches[2].when.op"
        );
        assert_eq!(field_path(&segments("/dtmf/max_digits")), "dtmf.max_digits");
        assert_eq!(field_path(&segments("")), "");
    }
}
