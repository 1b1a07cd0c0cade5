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
        let flow = Flow::parse_named(&name, &text, &Extensions::new())
            .map_err(|e| format!("flow {name} does not validate: {e}"))?;
        let engine = SphinxEngine::new(SphinxConfig::default())
            .map_err(|e| format!("speech recognition for flow {name}: {e}"))?;
        let tts = EspeakSynthesizer::new(EspeakSettings::default())
            .map_err(|e| format!("speech synthesis for flow {name}: {e}"))?;
        Ok(FlowSetup {
            flow: Arc::new(flow),
            source: path.to_path_buf(),
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
    let audio = tympan_audio::decode::read_file_mono(&path, None)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let x = &audio.channels[0];
    let y = if audio.sample_rate == rate {
        x.clone()
    } else {
        tympan_audio::resample::resample(x, audio.sample_rate, rate)
            .map_err(|e| format!("{}: {e}", path.display()))?
    };
    Ok(y.iter()
        .map(|&v| tympan_audio::pcm::f32_to_i16(v))
        .collect())
}
