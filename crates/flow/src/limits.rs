//! Every limit of the flow format and the interpreter, in one place.
//!
//! The schema (`flows/schema/flow-v1.schema.json`) repeats the limits that a JSON Schema can
//! state; a test checks that both agree.

/// Largest flow file accepted by [`crate::Flow::parse`], bytes.
pub const MAX_FLOW_BYTES: usize = 1 << 20;
/// Most blocks in one flow.
pub const MAX_BLOCKS: usize = 500;
/// Longest prompt template (text or SSML), and longest rendered prompt, characters.
pub const MAX_PROMPT_CHARS: usize = 4_000;
/// Longest audio prompt id or path, characters.
pub const MAX_AUDIO_PATH_CHARS: usize = 255;
/// Longest block or flow id, characters (`[A-Za-z0-9_-]`).
pub const MAX_ID_CHARS: usize = 64;
/// Longest attribute name, characters (`[A-Za-z_][A-Za-z0-9_]*`).
pub const MAX_ATTRIBUTE_NAME_CHARS: usize = 64;
/// Most attributes a call may hold; setting one more is an error of the block that tried.
pub const MAX_ATTRIBUTES: usize = 1_000;

/// Attempts of a question when `max_attempts` is not given: the Callouts rule
/// (`../shared/SEEDS.md` §3, "at most 2 attempts"), i.e. one retry.
pub const DEFAULT_ATTEMPTS: u32 = 2;
/// Most attempts a question may have.
pub const MAX_ATTEMPTS: u32 = 5;
/// "Repeat" requests honoured per question when `max_repeats` is not given.
pub const DEFAULT_MAX_REPEATS: u32 = 2;
/// Most "repeat" requests a question may honour.
pub const MAX_REPEATS: u32 = 5;
/// Most digits one keypad answer may have.
pub const MAX_DIGITS: u32 = 32;

/// Shortest timeout a block may set (no-input, inter-digit, webhook), ms.
pub const MIN_TIMEOUT_MS: u64 = 100;
/// Longest no-input timeout of a question, ms.
pub const MAX_INPUT_TIMEOUT_MS: u64 = 120_000;
/// No-input timeout of a question when `timeout_ms` is not given, ms.
pub const DEFAULT_INPUT_TIMEOUT_MS: u64 = 5_000;
/// Longest utterance the recogniser is asked to take when `max_speech_ms` is not given, ms.
pub const DEFAULT_MAX_SPEECH_MS: u64 = 15_000;
/// Gap allowed between two keys when `inter_digit_timeout_ms` is not given, ms.
pub const DEFAULT_INTER_DIGIT_MS: u64 = 3_000;
/// Time allowed from the first key to the end of a keypad answer when
/// `overall_timeout_ms` is not given, ms.
pub const DEFAULT_OVERALL_DTMF_MS: u64 = 30_000;

/// Longest recording, ms.
pub const MAX_RECORD_MS: u64 = 600_000;
/// Shortest `max_length_ms` of a recording, ms.
pub const MIN_RECORD_MS: u64 = 1_000;
/// Recording length when `max_length_ms` is not given, ms.
pub const DEFAULT_RECORD_MS: u64 = 60_000;

/// Time an `amd` block waits for the detector's result when `timeout_ms` is not given, ms.
pub const DEFAULT_AMD_TIMEOUT_MS: u64 = 30_000;
/// Time an `amd` block waits for the beep when `beep_timeout_ms` is not given, ms.
pub const DEFAULT_BEEP_TIMEOUT_MS: u64 = 20_000;

/// Longest webhook timeout, ms.
pub const MAX_WEBHOOK_TIMEOUT_MS: u64 = 30_000;
/// Webhook timeout when `timeout_ms` is not given, ms.
pub const DEFAULT_WEBHOOK_TIMEOUT_MS: u64 = 5_000;
/// Most retries of a webhook (after the first try).
pub const MAX_WEBHOOK_RETRIES: u32 = 5;
/// Webhook retries when `retries` is not given.
pub const DEFAULT_WEBHOOK_RETRIES: u32 = 2;
/// First backoff before a webhook retry when `backoff_ms` is not given, ms; it doubles for
/// each further retry.
pub const DEFAULT_BACKOFF_MS: u64 = 500;
/// Longest wait before one webhook retry, ms (the doubling stops there).
pub const MAX_BACKOFF_MS: u64 = 30_000;

/// Most iterations of any loop: a `count` above it is refused, `max_iterations` cannot exceed it.
pub const MAX_LOOP_ITERATIONS: u32 = 1_000;
/// Cap of a `while` loop when `max_iterations` is not given.
pub const DEFAULT_LOOP_MAX_ITERATIONS: u32 = 100;
/// Deepest nesting of `all`/`any`/`not` in a condition.
pub const MAX_CONDITION_DEPTH: usize = 8;

/// Transfer wait when `timeout_ms` is not given, ms.
pub const DEFAULT_TRANSFER_TIMEOUT_MS: u64 = 30_000;

/// Blocks entered while handling one event (or one timeout) without waiting for the caller or
/// the shell: more means the flow loops without waiting, and it ends with an error.
pub const MAX_STEPS_PER_EVENT: usize = 1_000;

/// Longest a prompt may play before the interpreter gives up on its end report, ms (unless the
/// shell reported the prompt's length with `Event::PlaybackStarted`).
pub const MAX_PLAYBACK_MS: u64 = 300_000;
/// Extra time allowed after a reported playback length, a recording's maximum length, a
/// recognition's maximum utterance or a request's timeout before the interpreter stops
/// waiting for the shell's report, ms.
pub const REPORT_GRACE_MS: u64 = 5_000;

/// Template fuel (minijinja instructions) per rendering: a template that loops for longer fails.
pub const TEMPLATE_FUEL: u64 = 100_000;
/// Most entries in a call's trace; later blocks are counted in `Trace::dropped_entries`.
pub const MAX_TRACE_ENTRIES: usize = 10_000;
/// Most inputs recorded in one trace entry; later ones are counted in `dropped_inputs`.
pub const MAX_TRACE_INPUTS: usize = 200;
