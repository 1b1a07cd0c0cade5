//! PocketSphinx (Debian's libpocketsphinx 0.8+5prealpha with the `pocketsphinx-en-us` model)
//! behind [`RecognizerEngine`].
//!
//! # Decoders, threads and state
//! A `ps_decoder_t` holds the acoustic model, the dictionary and its searches (~40 MB, loaded
//! from the model files by the C library in a few hundred ms) and must not be used by two
//! threads at once. [`SphinxEngine`] keeps a **pool** of decoders, each loaded with the six
//! answer grammars (and the full language model when [`SphinxConfig::language_model`] is
//! set): a recogniser only borrows a decoder for the moment it decodes a finished utterance,
//! so a few decoders serve many concurrent calls. Decoders are created on demand (creation is
//! serialised by a global lock: the library's logging and parser setup are global) and at most
//! [`SphinxConfig::max_idle_decoders`] are kept.
//!
//! # Decoding
//! Endpointing finds the utterance ([`super::endpoint`]); the utterance is then decoded in one
//! call as a full utterance (`ps_process_raw(..., full_utt = 1)`) with batch cepstral mean
//! normalisation, after `ps_start_stream` resets the front end's noise estimate — so the result
//! depends only on the utterance: not on how the audio was chunked, nor on what the decoder
//! heard before. 8 kHz call audio is upsampled to the model's 16 kHz with the `audio` crate's
//! resampler and a low white-noise floor is added ([`model_audio`],
//! [`COMFORT_NOISE_AMPLITUDE`]). The confidence is the hypothesis' posterior probability (with
//! these small grammars it is nearly always 1.0, so it does not separate good from bad
//! matches); below [`SphinxConfig::min_confidence`] the outcome is [`Outcome::NoMatch`], as it
//! is when no path of the grammar survives the search.
//!
//! Analysing 8 kHz audio directly (`-samprate 8000` with a narrowband filter bank) is not
//! offered: the model's filter bank is fixed by its `feat.params`, and with one rebuilt for
//! 8 kHz the model recognised none of ten espeak-ng dates (measured with the C library).

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::endpoint::{EndpointConfig, EndpointEvent, Endpointer, Utterance};
use super::grammar::{self, Grammar};
use super::sphinx_ffi as ffi;
use super::{check_rate, AsrError, AsrEvent, Outcome, Recognition, Recognizer, RecognizerEngine};
use crate::AnswerType;

/// Debian's `pocketsphinx-en-us` acoustic model directory.
pub const DEFAULT_MODEL_DIR: &str = "/usr/share/pocketsphinx/model/en-us/en-us";
/// Debian's `pocketsphinx-en-us` pronunciation dictionary.
pub const DEFAULT_DICT: &str = "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict";
/// Debian's `pocketsphinx-en-us` trigram language model (for the full-LM comparison only).
pub const DEFAULT_LM: &str = "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin";
/// The search name of the full language model in a decoder.
pub const LM_SEARCH: &str = "lm";

/// The acoustic model's sample rate, Hz: 8 kHz call audio is upsampled to it.
pub const MODEL_RATE: u32 = 16_000;

/// Peak amplitude of the white noise added to every utterance after upsampling (uniform in
/// ±this, 16-bit scale; about −50 dBFS RMS). The model was trained on wideband audio: the empty
/// 4–8 kHz band of upsampled call audio, and digital silence, are far outside what it knows,
/// and a low noise floor there is what it expects (see "Measurements" in the module docs: 256
/// gave the best accuracy on espeak-ng and real 8 kHz recordings of 32…512). The noise comes from a
/// fixed-seed generator restarted per utterance, so decoding stays deterministic.
pub const COMFORT_NOISE_AMPLITUDE: i32 = 256;

/// The MLLR mean transform for 8 kHz µ-law call audio (`models/telephone-8k.mllr`, text):
/// estimated with sphinxtrain's `bw` + `mllr_solve` on LibriSpeech dev-clean passed through
/// the same 8 kHz µ-law → 16 kHz path as calls (`scripts/speech-adapt.sh`). PocketSphinx reads
/// transforms from a file only, so the shell writes this text to a file and sets
/// [`SphinxConfig::mllr`].
pub const TELEPHONE_MLLR: &str = include_str!("../../models/telephone-8k.mllr");

/// Engine settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SphinxConfig {
    /// Acoustic model directory ([`DEFAULT_MODEL_DIR`]).
    pub model_dir: PathBuf,
    /// Pronunciation dictionary ([`DEFAULT_DICT`]); every grammar word must be in it.
    pub dict: PathBuf,
    /// A language model to load as an extra search ([`LM_SEARCH`]); `None` by default (it adds
    /// ~30 MB and a second per decoder).
    pub language_model: Option<PathBuf>,
    /// An MLLR transform file for the acoustic model (e.g. [`TELEPHONE_MLLR`] written to a
    /// file by the shell); `None` by default.
    pub mllr: Option<PathBuf>,
    /// Idle decoders kept in the pool (1–64; default 4).
    pub max_idle_decoders: usize,
    /// Below this confidence a hypothesis is a no-match (0–1; default 0.0: every grammar
    /// match counts: with these grammars the posterior is nearly always 1.0).
    pub min_confidence: f32,
    /// Extra decoder arguments, as pairs (`("-remove_noise", "no")`), after the defaults
    /// (for tuning experiments; empty by default).
    pub extra_args: Vec<(String, String)>,
}

impl Default for SphinxConfig {
    fn default() -> Self {
        SphinxConfig {
            model_dir: DEFAULT_MODEL_DIR.into(),
            dict: DEFAULT_DICT.into(),
            language_model: None,
            mllr: None,
            max_idle_decoders: 4,
            min_confidence: 0.0,
            extra_args: Vec::new(),
        }
    }
}

/// Serialises decoder creation (global logging and parser state in the C library).
static INIT: Mutex<()> = Mutex::new(());

/// One `ps_decoder_t` with every search loaded.
struct Decoder {
    ps: *mut ffi::PsDecoder,
    /// Strings handed to `cmd_ln_parse_r` stay alive as long as the decoder.
    _args: Vec<CString>,
}

// SAFETY: a decoder is used by one thread at a time (it is owned, moved in and out of the
// pool by value); PocketSphinx decoders have no thread affinity.
unsafe impl Send for Decoder {}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: `ps` came from ps_init and is freed once.
        unsafe {
            ffi::ps_free(self.ps);
        }
    }
}

fn path_str(p: &std::path::Path, what: &str) -> Result<CString, AsrError> {
    let s = p
        .to_str()
        .ok_or_else(|| AsrError::EngineInit(format!("{what} path {} is not UTF-8", p.display())))?;
    CString::new(s).map_err(|_| AsrError::EngineInit(format!("{what} path contains a NUL")))
}

impl Decoder {
    fn new(cfg: &SphinxConfig) -> Result<Decoder, AsrError> {
        let _guard = INIT.lock().unwrap_or_else(|p| p.into_inner());
        let mut args: Vec<CString> = vec![
            CString::new("-hmm").expect("no NUL"),
            path_str(&cfg.model_dir, "model")?,
            CString::new("-dict").expect("no NUL"),
            path_str(&cfg.dict, "dictionary")?,
        ];
        for a in [
            "-samprate",
            "16000",
            "-cmn",
            "batch",
            "-remove_silence",
            "no",
            "-bestpath",
            "yes",
        ] {
            args.push(CString::new(a).expect("no NUL"));
        }
        if let Some(m) = &cfg.mllr {
            args.push(CString::new("-mllr").expect("no NUL"));
            args.push(path_str(m, "MLLR transform")?);
        }
        for (k, v) in &cfg.extra_args {
            for a in [k, v] {
                args.push(CString::new(a.as_str()).map_err(|_| {
                    AsrError::EngineInit(format!("decoder argument {a:?} contains a NUL"))
                })?);
            }
        }
        let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
        // SAFETY: argv points at NUL-terminated strings kept alive in `args` for the decoder's
        // lifetime; logging is turned off before the library prints anything.
        let ps = unsafe {
            ffi::err_set_logfp(std::ptr::null_mut());
            let config = ffi::cmd_ln_parse_r(
                std::ptr::null_mut(),
                ffi::ps_args(),
                argv.len() as i32,
                argv.as_mut_ptr(),
                1,
            );
            if config.is_null() {
                return Err(AsrError::EngineInit("bad decoder arguments".into()));
            }
            let ps = ffi::ps_init(config);
            // ps_init keeps its own reference to the configuration.
            ffi::cmd_ln_free_r(config);
            ps
        };
        if ps.is_null() {
            return Err(AsrError::EngineInit(format!(
                "could not load the acoustic model {} or the dictionary {} (Debian package \
                 pocketsphinx-en-us; scripts/setup.sh installs it)",
                cfg.model_dir.display(),
                cfg.dict.display()
            )));
        }
        let dec = Decoder { ps, _args: args };
        for t in AnswerType::ALL {
            dec.add_grammar(t.as_str(), grammar::jsgf(t))?;
        }
        if let Some(lm) = &cfg.language_model {
            let name = CString::new(LM_SEARCH).expect("no NUL");
            let path = path_str(lm, "language model")?;
            // SAFETY: valid decoder and NUL-terminated strings.
            let rc = unsafe { ffi::ps_set_lm_file(dec.ps, name.as_ptr(), path.as_ptr()) };
            if rc != 0 {
                return Err(AsrError::EngineInit(format!(
                    "could not load the language model {}",
                    lm.display()
                )));
            }
        }
        Ok(dec)
    }

    fn add_grammar(&self, name: &str, text: &str) -> Result<(), AsrError> {
        // Every word must be in the dictionary, or the FSG silently loses the path.
        let g = Grammar::parse(name, text)?;
        for w in g.words() {
            if !self.has_word(&w) {
                return Err(AsrError::Grammar {
                    name: name.to_string(),
                    why: format!("the word {w:?} is not in the pronunciation dictionary"),
                });
            }
        }
        let cname = CString::new(name).expect("no NUL in grammar names");
        let ctext = CString::new(text).map_err(|_| AsrError::Grammar {
            name: name.to_string(),
            why: "contains a NUL byte".into(),
        })?;
        // SAFETY: valid decoder and NUL-terminated strings.
        let rc = unsafe { ffi::ps_set_jsgf_string(self.ps, cname.as_ptr(), ctext.as_ptr()) };
        if rc != 0 {
            return Err(AsrError::Grammar {
                name: name.to_string(),
                why: "pocketsphinx refused the grammar".into(),
            });
        }
        Ok(())
    }

    fn has_word(&self, w: &str) -> bool {
        let Ok(c) = CString::new(w) else {
            return false;
        };
        // SAFETY: valid decoder; the returned string is ours to free.
        unsafe {
            let p = ffi::ps_lookup_word(self.ps, c.as_ptr());
            if p.is_null() {
                false
            } else {
                ffi::ckd_free(p as *mut _);
                true
            }
        }
    }

    /// Decodes one full utterance (model-rate samples) with the search `search`.
    fn decode(
        &mut self,
        search: &str,
        samples: &[i16],
    ) -> Result<Option<(String, i32, f32)>, AsrError> {
        let name = CString::new(search).expect("no NUL in search names");
        // SAFETY: valid decoder; the sample slice is valid for the call; the hypothesis string
        // is owned by the decoder and copied before the next call.
        unsafe {
            if ffi::ps_set_search(self.ps, name.as_ptr()) != 0 {
                return Err(AsrError::Decode(format!("no search named {search}")));
            }
            // A new stream resets the front end's noise estimate: the result depends on this
            // utterance only.
            if ffi::ps_start_stream(self.ps) != 0 {
                return Err(AsrError::Decode("ps_start_stream failed".into()));
            }
            if ffi::ps_start_utt(self.ps) != 0 {
                return Err(AsrError::Decode("ps_start_utt failed".into()));
            }
            if !samples.is_empty()
                && ffi::ps_process_raw(self.ps, samples.as_ptr(), samples.len(), 0, 1) < 0
            {
                ffi::ps_end_utt(self.ps);
                return Err(AsrError::Decode("ps_process_raw failed".into()));
            }
            if ffi::ps_end_utt(self.ps) != 0 {
                return Err(AsrError::Decode("ps_end_utt failed".into()));
            }
            let mut score = 0i32;
            let hyp = ffi::ps_get_hyp(self.ps, &mut score);
            if hyp.is_null() {
                return Ok(None);
            }
            let text = CStr::from_ptr(hyp).to_string_lossy().into_owned();
            let words: Vec<&str> = text.split_whitespace().collect();
            if words.is_empty() {
                return Ok(None);
            }
            let prob = ffi::ps_get_prob(self.ps);
            let conf = ffi::logmath_exp(ffi::ps_get_logmath(self.ps), prob) as f32;
            Ok(Some((words.join(" "), score, conf.clamp(0.0, 1.0))))
        }
    }
}

struct Pool {
    cfg: SphinxConfig,
    idle: Mutex<Vec<Decoder>>,
}

impl Pool {
    fn take(&self) -> Result<Decoder, AsrError> {
        let popped = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match popped {
            Some(d) => Ok(d),
            None => Decoder::new(&self.cfg),
        }
    }

    fn give(&self, d: Decoder) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.cfg.max_idle_decoders {
            idle.push(d);
        }
    }
}

/// PocketSphinx with the answer grammars; cheap to clone (shares its decoder pool).
#[derive(Clone)]
pub struct SphinxEngine {
    pool: Arc<Pool>,
    grammars: Arc<Vec<(AnswerType, Grammar)>>,
}

impl std::fmt::Debug for SphinxEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SphinxEngine")
            .field("cfg", &self.pool.cfg)
            .finish()
    }
}

/// What a decoder searches with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// The grammar of an answer type.
    Grammar(AnswerType),
    /// The full language model ([`SphinxConfig::language_model`] must be set).
    LanguageModel,
}

impl SphinxEngine {
    /// Loads one decoder (model, dictionary, every grammar) to check the set-up; errors name
    /// the missing file, grammar or word.
    pub fn new(cfg: SphinxConfig) -> Result<Self, AsrError> {
        if !(1..=64).contains(&cfg.max_idle_decoders) {
            return Err(AsrError::InvalidSetting {
                name: "max_idle_decoders",
                why: format!("{} is outside 1..=64", cfg.max_idle_decoders),
            });
        }
        if !(0.0..=1.0).contains(&cfg.min_confidence) {
            return Err(AsrError::InvalidSetting {
                name: "min_confidence",
                why: format!("{} is outside 0..=1", cfg.min_confidence),
            });
        }
        let first = Decoder::new(&cfg)?;
        let grammars = AnswerType::ALL
            .iter()
            .map(|&t| (t, Grammar::for_type(t)))
            .collect();
        Ok(SphinxEngine {
            pool: Arc::new(Pool {
                cfg,
                idle: Mutex::new(vec![first]),
            }),
            grammars: Arc::new(grammars),
        })
    }

    /// The settings.
    pub fn config(&self) -> &SphinxConfig {
        &self.pool.cfg
    }

    fn grammar(&self, t: AnswerType) -> &Grammar {
        &self
            .grammars
            .iter()
            .find(|(g, _)| *g == t)
            .expect("every type has a grammar")
            .1
    }

    /// Whether `word` is in the pronunciation dictionary.
    pub fn has_word(&self, word: &str) -> bool {
        match self.pool.take() {
            Ok(d) => {
                let found = d.has_word(word);
                self.pool.give(d);
                found
            }
            Err(_) => false,
        }
    }

    /// A streaming recogniser with an explicit search (the answer grammars or the full LM).
    pub fn recognizer(
        &self,
        search: Search,
        sample_rate: u32,
        endpoint: &EndpointConfig,
    ) -> Result<SphinxRecognizer, AsrError> {
        check_rate(sample_rate)?;
        if search == Search::LanguageModel && self.pool.cfg.language_model.is_none() {
            return Err(AsrError::InvalidSetting {
                name: "language_model",
                why: "the engine was built without a language model".into(),
            });
        }
        Ok(SphinxRecognizer {
            engine: self.clone(),
            search,
            endpointer: Endpointer::new(sample_rate, endpoint.clone())?,
            outcome: None,
        })
    }

    /// Decodes a whole utterance (no endpointing) at `sample_rate`: the best transcript with
    /// its score and confidence, or `None` when nothing matched.
    pub fn decode(
        &self,
        search: Search,
        samples: &[i16],
        sample_rate: u32,
    ) -> Result<Option<(String, i32, f32)>, AsrError> {
        check_rate(sample_rate)?;
        let audio = self.model_audio(samples, sample_rate)?;
        let name = match search {
            Search::Grammar(t) => t.as_str(),
            Search::LanguageModel => LM_SEARCH,
        };
        let mut d = self.pool.take()?;
        let r = d.decode(name, &audio);
        self.pool.give(d);
        r
    }

    /// The samples as the decoder gets them: see [`model_audio`].
    fn model_audio(&self, samples: &[i16], rate: u32) -> Result<Vec<i16>, AsrError> {
        model_audio(samples, rate)
    }
}

/// Call audio as the decoder gets it: resampled to [`MODEL_RATE`] with the `audio` crate's
/// resampler, plus [`COMFORT_NOISE_AMPLITUDE`] white noise from a generator seeded afresh for
/// every call of this function (public so that adaptation data is prepared exactly the same
/// way).
pub fn model_audio(samples: &[i16], rate: u32) -> Result<Vec<i16>, AsrError> {
    check_rate(rate)?;
    let mut out = tympan_audio::resample::resample_i16(samples, rate, MODEL_RATE)?;
    let mut state: u32 = 12345;
    let span = 2 * COMFORT_NOISE_AMPLITUDE as u32 + 1;
    for s in out.iter_mut() {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
        let noise = ((state >> 16) % span) as i32 - COMFORT_NOISE_AMPLITUDE;
        *s = (*s as i32 + noise).clamp(i16::MIN as i32, i16::MAX as i32) as i16;
    }
    Ok(out)
}

impl RecognizerEngine for SphinxEngine {
    fn start(
        &self,
        answer_type: AnswerType,
        sample_rate: u32,
        endpoint: &EndpointConfig,
    ) -> Result<Box<dyn Recognizer>, AsrError> {
        Ok(Box::new(self.recognizer(
            Search::Grammar(answer_type),
            sample_rate,
            endpoint,
        )?))
    }
}

/// One recognition with PocketSphinx; see [`super::Recognizer`].
pub struct SphinxRecognizer {
    engine: SphinxEngine,
    search: Search,
    endpointer: Endpointer,
    outcome: Option<Outcome>,
}

impl std::fmt::Debug for SphinxRecognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SphinxRecognizer")
            .field("search", &self.search)
            .field("endpointer", &self.endpointer)
            .field("outcome", &self.outcome)
            .finish()
    }
}

impl SphinxRecognizer {
    fn conclude(&mut self, u: Utterance) -> Result<Outcome, AsrError> {
        let best = self.engine.decode(self.search, &u.samples, u.sample_rate)?;
        let min = self.engine.pool.cfg.min_confidence;
        let outcome = match best {
            Some((transcript, score, confidence)) if confidence >= min => {
                let is_repeat = match self.search {
                    Search::Grammar(t) => self.engine.grammar(t).is_repeat(&transcript),
                    Search::LanguageModel => false,
                };
                Outcome::Recognized(Recognition {
                    transcript,
                    confidence,
                    score,
                    start_ms: u.start_ms,
                    end_ms: u.end_ms,
                    truncated: u.truncated,
                    is_repeat,
                })
            }
            other => Outcome::NoMatch {
                start_ms: u.start_ms,
                end_ms: u.end_ms,
                best: other.map(|(t, _, c)| (t, c)),
            },
        };
        self.outcome = Some(outcome.clone());
        Ok(outcome)
    }

    fn handle(
        &mut self,
        events: Vec<EndpointEvent>,
        out: &mut Vec<AsrEvent>,
    ) -> Result<(), AsrError> {
        for ev in events {
            match ev {
                EndpointEvent::SpeechStart { at_ms } => out.push(AsrEvent::SpeechStart { at_ms }),
                EndpointEvent::Utterance(u) => {
                    let o = self.conclude(u)?;
                    out.push(AsrEvent::Done(o));
                }
                EndpointEvent::NoInput { at_ms } => {
                    let o = Outcome::NoSpeech { at_ms };
                    self.outcome = Some(o.clone());
                    out.push(AsrEvent::Done(o));
                }
            }
        }
        Ok(())
    }
}

impl Recognizer for SphinxRecognizer {
    fn sample_rate(&self) -> u32 {
        self.endpointer.sample_rate()
    }

    fn push(&mut self, samples: &[i16]) -> Result<Vec<AsrEvent>, AsrError> {
        let mut out = Vec::new();
        if self.outcome.is_some() {
            return Ok(out);
        }
        let events = self.endpointer.push(samples);
        self.handle(events, &mut out)?;
        Ok(out)
    }

    fn finish(&mut self) -> Result<Outcome, AsrError> {
        if let Some(o) = &self.outcome {
            return Ok(o.clone());
        }
        let events = self.endpointer.finish();
        let mut out = Vec::new();
        self.handle(events, &mut out)?;
        Ok(self.outcome.clone().expect("finish always concludes"))
    }

    fn elapsed_ms(&self) -> f64 {
        self.endpointer.elapsed_ms()
    }

    fn is_done(&self) -> bool {
        self.outcome.is_some()
    }
}
