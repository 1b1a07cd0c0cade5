//! Contact flows on the server's calls: the flow a server runs (`tympan serve --flow FILE` or
//! `flow = "FILE"` in the config), with the speech engines its calls share — PocketSphinx
//! for answers, espeak-ng for prompts and a prompt cache keyed by content — and the rendering
//! of a flow's prompts into call audio. The per-call work (the `tympan_flow::FlowRunner`)
//! runs in [`crate::call_task`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};
use tympan_flow::{CallContext, Extensions, Flow, FlowRunner, Prompt};
use tympan_speech::asr::{SphinxConfig, SphinxEngine};
use tympan_speech::tts::{
    EspeakSettings, EspeakSynthesizer, PromptCache, SpeechInput, Synthesizer,
};

/// Bytes of synthesised prompts kept in memory (16 MiB: about 17 minutes of 8 kHz audio).
pub const PROMPT_CACHE_BYTES: usize = 16 * 1024 * 1024;
/// Largest audio file a flow's `audio` prompt may play, bytes.
pub const MAX_PROMPT_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// A loaded flow and the engines its calls use; shared by every call.
pub struct FlowSetup {
    /// The flow.
    pub flow: Arc<Flow>,
    /// Where it was read from.
    pub source: PathBuf,
    engine: Arc<SphinxEngine>,
    tts: EspeakSynthesizer,
    cache: PromptCache,
}

impl std::fmt::Debug for FlowSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowSetup")
            .field("flow", &self.flow.id())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl FlowSetup {
    /// Reads and validates the flow at `path` (errors name the file, and the block and field
    /// for a flow that does not validate) and starts the speech engines.
    pub fn load(path: &Path) -> Result<FlowSetup, String> {
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| format!("flow {name}: {e}"))?;
        if meta.len() > tympan_flow::limits::MAX_FLOW_BYTES as u64 {
            return Err(format!(
                "flow {name}: {} bytes is over the limit of {} bytes",
                meta.len(),
                tympan_flow::limits::MAX_FLOW_BYTES
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("flow {name}: {e}"))?;
        let flow = parse(&name, &text)?;
        Self::start(flow, path)
    }

    /// Starts the speech engines for an already validated flow read from `source`.
    fn start(flow: Flow, source: &Path) -> Result<FlowSetup, String> {
        let name = source.display().to_string();
        let engine = SphinxEngine::new(SphinxConfig::default())
            .map_err(|e| format!("speech recognition for flow {name}: {e}"))?;
        let tts = EspeakSynthesizer::new(EspeakSettings::default())
            .map_err(|e| format!("speech synthesis for flow {name}: {e}"))?;
        Ok(FlowSetup {
            flow: Arc::new(flow),
            source: source.to_path_buf(),
            engine: Arc::new(engine),
            tts,
            cache: PromptCache::new(PROMPT_CACHE_BYTES),
        })
    }

    /// A runner of the flow for one call at `rate` Hz with the call's attributes.
    pub fn runner(
        &self,
        call_id: &str,
        rate: u32,
        attributes: Map<String, Value>,
        start_unix_ms: i64,
    ) -> FlowRunner {
        FlowRunner::new(
            self.flow.clone(),
            attributes,
            CallContext {
                call_id: call_id.to_string(),
                call_start_unix_ms: Some(start_unix_ms),
                utc_offset_minutes: 0,
            },
            rate,
            self.engine.clone(),
        )
    }

    /// A prompt as call audio at `rate`: text and SSML through espeak-ng (cached by content),
    /// an audio file (relative to `media_dir`) decoded and resampled. Blocking: run it off the
    /// async workers.
    pub fn render(&self, prompt: &Prompt, rate: u32, media_dir: &Path) -> Result<Vec<i16>, String> {
        let input = match prompt {
            Prompt::Text(t) => SpeechInput::Text(t),
            Prompt::Ssml(s) => SpeechInput::Ssml(s),
            Prompt::Audio(rel) => return render_file(rel, rate, media_dir),
        };
        let (p, _hit) = self
            .cache
            .get_or_synthesize(&self.tts as &dyn Synthesizer, input, rate)
            .map_err(|e| e.to_string())?;
        Ok(p.samples.to_vec())
    }
}

/// Validates flow text; the error names `name`, and the block and field.
fn parse(name: &str, text: &str) -> Result<Flow, String> {
    if text.len() > tympan_flow::limits::MAX_FLOW_BYTES {
        return Err(format!(
            "flow {name}: {} bytes is over the limit of {} bytes",
            text.len(),
            tympan_flow::limits::MAX_FLOW_BYTES
        ));
    }
    Flow::parse_named(name, text, &Extensions::new())
        .map_err(|e| format!("flow {name} does not validate: {e}"))
}

/// What `POST /v1/flows` and `GET /v1/flows` answer.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct FlowInfo {
    /// The flow's id.
    pub id: String,
    /// Its number of blocks.
    pub blocks: usize,
    /// The file it runs from (`{data_dir}/flows/{id}.json` when registered over HTTP).
    pub source: String,
}

impl FlowInfo {
    fn of(setup: &FlowSetup) -> FlowInfo {
        FlowInfo {
            id: setup.flow.id().to_string(),
            blocks: setup.flow.blocks().len(),
            source: setup.source.display().to_string(),
        }
    }
}

/// `POST /v1/flows`: validates the flow in the body (JSON, at most
/// `tympan_flow::limits::MAX_FLOW_BYTES`), keeps it as `{data_dir}/flows/{id}.json` and runs
/// it on the calls that start from then on (calls in progress keep theirs).
#[utoipa::path(post, path = "/v1/flows", tag = "control",
    request_body(content = String, description = "A flow (flows/schema/flow-v1.schema.json)",
                 content_type = "application/json"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Registered; new calls run it", body = FlowInfo),
        (status = 400, description = "The flow does not validate (names block and field)",
         body = crate::persist::ErrorBody),
        (status = 401, description = "No or wrong bearer token"),
        (status = 500, description = "It could not be stored or the speech engines did not start",
         body = crate::persist::ErrorBody)))]
pub async fn register_flow(
    axum::extract::State(state): axum::extract::State<Arc<crate::AppState>>,
    body: String,
) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let fail = |code: StatusCode, error: String| {
        (code, axum::Json(crate::persist::ErrorBody { error })).into_response()
    };
    let flow = match parse("(request body)", &body) {
        Ok(f) => f,
        Err(e) => return fail(StatusCode::BAD_REQUEST, e),
    };
    let dir = state.config.data_dir.join("flows");
    let path = dir.join(format!("{}.json", flow.id()));
    let started = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, &body).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        FlowSetup::start(flow, &path)
    })
    .await
    .unwrap_or_else(|e| Err(format!("registering the flow failed: {e}")));
    match started {
        Ok(setup) => {
            let info = FlowInfo::of(&setup);
            tracing::info!(flow = %info.id, source = %info.source, "flow registered");
            state.set_flow(Arc::new(setup));
            (StatusCode::CREATED, axum::Json(info)).into_response()
        }
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `GET /v1/flows`: the flow new calls run (404 when none).
#[utoipa::path(get, path = "/v1/flows", tag = "control",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The flow new calls run", body = FlowInfo),
        (status = 404, description = "No flow: calls run AMD only", body = crate::persist::ErrorBody),
        (status = 401, description = "No or wrong bearer token")))]
pub async fn current_flow(
    axum::extract::State(state): axum::extract::State<Arc<crate::AppState>>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.flow() {
        Some(setup) => axum::Json(FlowInfo::of(&setup)).into_response(),
        None => (
            axum::http::StatusCode::NOT_FOUND,
            axum::Json(crate::persist::ErrorBody {
                error: "no flow: calls run AMD only".into(),
            }),
        )
            .into_response(),
    }
}

fn render_file(rel: &str, rate: u32, media_dir: &Path) -> Result<Vec<i16>, String> {
    let path = crate::playback::media_path(media_dir, rel)?;
    let len = std::fs::metadata(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if len > MAX_PROMPT_FILE_BYTES {
        return Err(format!(
            "{}: {len} bytes is over the limit of {MAX_PROMPT_FILE_BYTES} bytes",
            path.display()
        ));
    }
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    crate::playback::decode_pcm(&bytes, rate).map_err(|e| format!("{}: {e}", path.display()))
}
