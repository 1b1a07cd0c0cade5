//! [`EspeakSynthesizer`]: espeak-ng linked as a library (libespeak-ng, synchronous mode).
//!
//! # Threads and state
//! libespeak-ng keeps one set of global state (current voice, parameters, the synthesis
//! callback) and is not thread-safe. This module owns it: one process-wide engine behind a
//! mutex, initialised on first use. Every synthesis takes the lock, sets the synthesizer's
//! voice and parameters, synthesises into a buffer and releases it, so any number of
//! `EspeakSynthesizer`s (different voices and settings) can be used from any threads; calls are
//! serialised. Resampling from espeak-ng's native 22050 Hz to 8 or 16 kHz happens after the
//! lock is released.
//!
//! espeak-ng's output is not bit-for-bit repeatable: some of its synthesis state carries from
//! one utterance to the next (measured: the same sentence five times in a row gives five
//! lengths within 0.3 % of each other and different samples). [`super::PromptCache`] is what makes a repeated prompt
//! identical. espeak-ng reads its voice data from its data directory (Debian:
//! `/usr/lib/x86_64-linux-gnu/espeak-ng-data`, or `$ESPEAK_DATA_PATH`) when it starts and when a
//! voice is first selected: the only file access, done by the C library.
//!
//! # SSML rendering
//! Two ways, chosen by [`EspeakSettings::ssml`] (measured in `tests/tts.rs` and the crate's
//! bench; see [`SsmlRendering`]):
//! - [`SsmlRendering::Native`] (default): the validated document is rewritten as canonical
//!   SSML ([`crate::ssml::Document::to_espeak_ssml`]: `say-as` dates, digits and telephone
//!   numbers already in words, prosody as percentages) and synthesised in one espeak-ng call
//!   in its SSML mode. Intonation runs across the whole prompt; espeak-ng's breaks come out
//!   within a few tens of ms of the requested time.
//! - [`SsmlRendering::Segments`]: each run of one style is synthesised on its own with the
//!   style's rate, pitch and volume, and breaks are inserted as exact digital silence. Break
//!   lengths are exact, but every run is spoken as its own utterance (falling intonation at
//!   each break) and each run costs one more call.

use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::os::raw::{c_char, c_int, c_short, c_void};
use std::sync::{Mutex, MutexGuard};

use super::espeak_ffi as ffi;
use super::{check_rate, Prompt, SpeechInput, Synthesizer, TtsError, MAX_PROMPT_S, MAX_TEXT_BYTES};
use crate::ssml::{self, Segment, Style};

const ENGINE_NAME: &str = "espeak-ng";

/// Speaking rate range espeak-ng accepts, words per minute.
pub const RATE_WPM: std::ops::RangeInclusive<u32> = 80..=450;
/// Pitch and pitch-range scale (50 is the voice's normal).
pub const PITCH: std::ops::RangeInclusive<u32> = 0..=100;
/// Volume scale (100 is normal; above it espeak-ng compresses and may distort).
pub const VOLUME: std::ops::RangeInclusive<u32> = 0..=200;
/// Longest voice name accepted, bytes.
pub const MAX_VOICE_NAME: usize = 64;

/// How SSML reaches espeak-ng; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SsmlRendering {
    /// One call in espeak-ng's SSML mode on the canonical document (the default).
    Native,
    /// One call per style run; breaks as exact silence.
    Segments,
}

impl SsmlRendering {
    fn as_str(self) -> &'static str {
        match self {
            SsmlRendering::Native => "native",
            SsmlRendering::Segments => "segments",
        }
    }
}

/// Voice and settings of an [`EspeakSynthesizer`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EspeakSettings {
    /// espeak-ng voice name, with an optional variant: `en-us`, `en-gb`, `en-us+f2`, `en+m3`.
    pub voice: String,
    /// Words per minute, [`RATE_WPM`] (default 160: a little slower than espeak-ng's 175,
    /// for the phone).
    pub rate_wpm: u32,
    /// Base pitch, [`PITCH`] (default 50).
    pub pitch: u32,
    /// Pitch range (intonation), [`PITCH`] (default 50).
    pub range: u32,
    /// Volume, [`VOLUME`] (default 100).
    pub volume: u32,
    /// How SSML is rendered (default [`SsmlRendering::Native`]).
    pub ssml: SsmlRendering,
}

impl Default for EspeakSettings {
    fn default() -> Self {
        EspeakSettings {
            voice: "en-us".into(),
            rate_wpm: 160,
            pitch: 50,
            range: 50,
            volume: 100,
            ssml: SsmlRendering::Native,
        }
    }
}

impl EspeakSettings {
    fn validate(&self) -> Result<(), TtsError> {
        let range = |name, v: u32, r: &std::ops::RangeInclusive<u32>| {
            if r.contains(&v) {
                Ok(())
            } else {
                Err(TtsError::InvalidSetting {
                    name,
                    why: format!("{v} is outside {}..={}", r.start(), r.end()),
                })
            }
        };
        range("rate_wpm", self.rate_wpm, &RATE_WPM)?;
        range("pitch", self.pitch, &PITCH)?;
        range("range", self.range, &PITCH)?;
        range("volume", self.volume, &VOLUME)?;
        if self.voice.is_empty()
            || self.voice.len() > MAX_VOICE_NAME
            || !self
                .voice
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_+/".contains(&b))
        {
            return Err(TtsError::InvalidSetting {
                name: "voice",
                why: format!(
                    "{:?}: 1 to {MAX_VOICE_NAME} characters among letters, digits, - _ + /",
                    self.voice
                ),
            });
        }
        Ok(())
    }
}

/// The process-wide engine (see the module docs).
struct Engine {
    native_rate: u32,
    version: String,
    /// The voice last selected, to skip reloading it.
    voice: Option<String>,
}

static ENGINE: Mutex<Option<Engine>> = Mutex::new(None);

/// Samples collected by the callback during one synthesis (same thread, lock held).
#[derive(Default)]
struct Sink {
    samples: Vec<i16>,
    limit: usize,
    overflow: bool,
}

thread_local! {
    static SINK: RefCell<Sink> = RefCell::new(Sink::default());
}

unsafe extern "C" fn on_audio(wav: *mut c_short, n: c_int, _events: *mut c_void) -> c_int {
    if wav.is_null() || n <= 0 {
        return 0;
    }
    // SAFETY: espeak-ng passes `n` valid samples at `wav` for the duration of the call.
    let samples = unsafe { std::slice::from_raw_parts(wav, n as usize) };
    SINK.with(|s| {
        let Ok(mut s) = s.try_borrow_mut() else {
            return 1;
        };
        if s.samples.len() + samples.len() > s.limit {
            s.overflow = true;
            return 1;
        }
        s.samples.extend_from_slice(samples);
        0
    })
}

fn lock() -> MutexGuard<'static, Option<Engine>> {
    // A panic while holding the lock leaves no half-done state we rely on: every call sets the
    // voice and all parameters again.
    ENGINE.lock().unwrap_or_else(|p| p.into_inner())
}

fn status_message(status: u32) -> String {
    let mut buf = [0 as c_char; 256];
    // SAFETY: the buffer and its length are valid; espeak-ng writes a NUL-terminated string.
    unsafe {
        ffi::espeak_ng_GetStatusCodeMessage(status, buf.as_mut_ptr(), buf.len());
        CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
    }
}

fn start(guard: &mut MutexGuard<'static, Option<Engine>>) -> Result<(u32, String), TtsError> {
    if let Some(e) = guard.as_ref() {
        return Ok((e.native_rate, e.version.clone()));
    }
    // SAFETY: called once under the engine lock; a NULL path selects the default data dir.
    let rate = unsafe {
        ffi::espeak_Initialize(
            ffi::AUDIO_OUTPUT_SYNCHRONOUS,
            0,
            std::ptr::null(),
            ffi::INITIALIZE_DONT_EXIT,
        )
    };
    if rate <= 0 {
        return Err(TtsError::EngineInit {
            engine: ENGINE_NAME,
            why: "espeak_Initialize failed (is espeak-ng-data installed?)".into(),
        });
    }
    // SAFETY: the callback is a plain function valid for the program's lifetime.
    let version = unsafe {
        ffi::espeak_SetSynthCallback(Some(on_audio));
        let v = ffi::espeak_Info(std::ptr::null_mut());
        if v.is_null() {
            "unknown".to_string()
        } else {
            CStr::from_ptr(v).to_string_lossy().into_owned()
        }
    };
    **guard = Some(Engine {
        native_rate: rate as u32,
        version: version.clone(),
        voice: None,
    });
    Ok((rate as u32, version))
}

/// espeak-ng with one voice and its settings; see the module docs for threading.
#[derive(Debug, Clone)]
pub struct EspeakSynthesizer {
    settings: EspeakSettings,
    native_rate: u32,
    version: String,
}

impl EspeakSynthesizer {
    /// Starts the engine if needed and checks the settings and that the voice exists.
    pub fn new(settings: EspeakSettings) -> Result<Self, TtsError> {
        settings.validate()?;
        let mut guard = lock();
        let (native_rate, version) = start(&mut guard)?;
        let engine = guard.as_mut().expect("started");
        select_voice(engine, &settings.voice)?;
        Ok(EspeakSynthesizer {
            settings,
            native_rate,
            version,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &EspeakSettings {
        &self.settings
    }

    /// espeak-ng's own output rate, Hz (22050), before resampling.
    pub fn native_rate(&self) -> u32 {
        self.native_rate
    }

    /// Synthesises at the native rate (no resampling): the raw engine output.
    pub fn synthesize_native(&self, input: SpeechInput<'_>) -> Result<Vec<i16>, TtsError> {
        let plan = self.plan(input)?;
        let mut guard = lock();
        start(&mut guard)?;
        let engine = guard.as_mut().expect("started");
        select_voice(engine, &self.settings.voice)?;
        let limit = MAX_PROMPT_S as usize * self.native_rate as usize;
        let mut out: Vec<i16> = Vec::new();
        // With more than one step (segment rendering), each spoken run loses espeak-ng's own
        // leading and trailing pause so that breaks between runs are the requested length.
        let trim = plan.len() > 1;
        for step in plan {
            match step {
                Step::Silence(ms) => {
                    let n = (ms as u64 * self.native_rate as u64 / 1000) as usize;
                    if out.len() + n > limit {
                        return Err(TtsError::TooLong {
                            max_s: MAX_PROMPT_S,
                        });
                    }
                    out.resize(out.len() + n, 0);
                }
                Step::Speak { text, ssml, style } => {
                    self.apply(style)?;
                    let pcm = speak(&text, ssml, limit - out.len())?;
                    out.extend_from_slice(if trim { trim_silence(&pcm) } else { &pcm });
                }
            }
        }
        Ok(out)
    }

    fn plan(&self, input: SpeechInput<'_>) -> Result<Vec<Step>, TtsError> {
        Ok(match input {
            SpeechInput::Text(t) => {
                if t.len() > MAX_TEXT_BYTES {
                    return Err(TtsError::TextTooLong {
                        len: t.len(),
                        max: MAX_TEXT_BYTES,
                    });
                }
                vec![Step::Speak {
                    text: t.replace('\0', " "),
                    ssml: false,
                    style: Style::default(),
                }]
            }
            SpeechInput::Ssml(s) => {
                let doc = ssml::parse(s)?;
                match self.settings.ssml {
                    SsmlRendering::Native => vec![Step::Speak {
                        text: doc.to_espeak_ssml(),
                        ssml: true,
                        style: Style::default(),
                    }],
                    SsmlRendering::Segments => doc
                        .segments()
                        .into_iter()
                        .map(|seg| match seg {
                            Segment::Silence(ms) => Step::Silence(ms),
                            Segment::Speech {
                                text,
                                characters,
                                style,
                            } => {
                                let mut s = String::from("<speak>");
                                if characters {
                                    s.push_str("<say-as interpret-as=\"characters\">");
                                }
                                ssml::escape_xml(&text, &mut s);
                                if characters {
                                    s.push_str("</say-as>");
                                }
                                s.push_str("</speak>");
                                Step::Speak {
                                    text: s,
                                    ssml: true,
                                    style,
                                }
                            }
                        })
                        .collect(),
                }
            }
        })
    }

    /// Sets the engine's parameters for a run in `style` (engine lock held by the caller).
    fn apply(&self, style: Style) -> Result<(), TtsError> {
        let s = &self.settings;
        let scale = |base: u32, f: f32, r: &std::ops::RangeInclusive<u32>| {
            ((base as f32 * f).round() as u32).clamp(*r.start(), *r.end())
        };
        let params = [
            (
                ffi::PARAM_RATE,
                scale(s.rate_wpm, style.prosody.rate, &RATE_WPM),
            ),
            (
                ffi::PARAM_PITCH,
                scale(s.pitch, style.prosody.pitch, &PITCH),
            ),
            (ffi::PARAM_RANGE, s.range),
            (
                ffi::PARAM_VOLUME,
                scale(s.volume, style.prosody.volume, &VOLUME),
            ),
            (ffi::PARAM_WORDGAP, 0),
        ];
        for (p, v) in params {
            // SAFETY: plain integer parameters; engine lock held.
            let rc = unsafe { ffi::espeak_SetParameter(p, v as c_int, 0) };
            if rc != ffi::EE_OK {
                return Err(TtsError::Synthesis {
                    engine: ENGINE_NAME,
                    why: format!("espeak_SetParameter({p}, {v}) returned {rc}"),
                });
            }
        }
        Ok(())
    }
}

enum Step {
    Speak {
        text: String,
        ssml: bool,
        style: Style,
    },
    Silence(u32),
}

fn select_voice(engine: &mut Engine, voice: &str) -> Result<(), TtsError> {
    if engine.voice.as_deref() == Some(voice) {
        return Ok(());
    }
    let set = |name: &str| {
        let name = CString::new(name).map_err(|_| TtsError::VoiceNotFound(voice.to_string()))?;
        // SAFETY: NUL-terminated name; engine lock held.
        Ok::<_, TtsError>(unsafe { ffi::espeak_ng_SetVoiceByName(name.as_ptr()) })
    };
    let mut status = set(voice)?;
    if status == ffi::ENS_VOICE_NOT_FOUND {
        // Not a voice name or file: a language code (`en-gb`, as espeak-ng's command line
        // accepts), resolved to the voice that lists it with the best priority.
        let (language, variant) = match voice.split_once('+') {
            Some((l, v)) => (l, Some(v)),
            None => (voice, None),
        };
        if let Some(id) = voice_for_language(language) {
            status = match variant {
                Some(v) => set(&format!("{id}+{v}"))?,
                None => set(&id)?,
            };
        }
    }
    if status != ffi::ENS_OK {
        engine.voice = None;
        if status == ffi::ENS_VOICE_NOT_FOUND {
            return Err(TtsError::VoiceNotFound(voice.to_string()));
        }
        return Err(TtsError::Synthesis {
            engine: ENGINE_NAME,
            why: format!("selecting voice {voice:?}: {}", status_message(status)),
        });
    }
    engine.voice = Some(voice.to_string());
    Ok(())
}

/// Largest absolute sample value treated as silence when trimming a spoken run's edges.
const SILENCE_LEVEL: i16 = 16;

/// `pcm` without its leading and trailing near-silence (|x| ≤ [`SILENCE_LEVEL`]).
fn trim_silence(pcm: &[i16]) -> &[i16] {
    let loud = |v: &i16| v.unsigned_abs() > SILENCE_LEVEL as u16;
    match (pcm.iter().position(loud), pcm.iter().rposition(loud)) {
        (Some(a), Some(b)) => &pcm[a..=b],
        _ => &[],
    }
}

/// The identifier (`gmw/en`) of the installed voice that lists `language` (case-insensitive)
/// with the best (lowest) priority; engine lock held by the caller.
fn voice_for_language(language: &str) -> Option<String> {
    // SAFETY: a NULL spec lists every voice; the array and its strings are owned by espeak-ng
    // and stay valid until the next list call, which cannot happen while the lock is held.
    unsafe {
        let list = ffi::espeak_ListVoices(std::ptr::null_mut());
        if list.is_null() {
            return None;
        }
        let mut best: Option<(u8, String)> = None;
        let mut i = 0;
        loop {
            let v = *list.add(i);
            if v.is_null() {
                break;
            }
            i += 1;
            let v = &*v;
            if v.languages.is_null() || v.identifier.is_null() {
                continue;
            }
            let mut p = v.languages as *const u8;
            while *p != 0 {
                let priority = *p;
                let lang = CStr::from_ptr(p.add(1) as *const c_char);
                let bytes = lang.to_bytes();
                if bytes.eq_ignore_ascii_case(language.as_bytes())
                    && best.as_ref().is_none_or(|(b, _)| priority < *b)
                {
                    let id = CStr::from_ptr(v.identifier).to_string_lossy().into_owned();
                    best = Some((priority, id));
                }
                p = p.add(2 + bytes.len());
            }
        }
        best.map(|(_, id)| id)
    }
}

/// One synchronous espeak-ng call (engine lock held by the caller).
fn speak(text: &str, ssml: bool, limit: usize) -> Result<Vec<i16>, TtsError> {
    let c = CString::new(text.replace('\0', " ")).expect("NULs replaced");
    SINK.with(|s| {
        let mut s = s.borrow_mut();
        s.samples.clear();
        s.limit = limit;
        s.overflow = false;
    });
    let flags = ffi::CHARS_UTF8 | if ssml { ffi::SSML } else { 0 };
    // SAFETY: NUL-terminated UTF-8 text valid for the call; synchronous mode returns after the
    // callback has seen all audio; engine lock held.
    let rc = unsafe {
        ffi::espeak_Synth(
            c.as_ptr() as *const c_void,
            c.as_bytes_with_nul().len(),
            0,
            ffi::POS_CHARACTER,
            0,
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    let (samples, overflow) = SINK.with(|s| {
        let mut s = s.borrow_mut();
        (std::mem::take(&mut s.samples), s.overflow)
    });
    if overflow {
        return Err(TtsError::TooLong {
            max_s: MAX_PROMPT_S,
        });
    }
    if rc != ffi::EE_OK {
        return Err(TtsError::Synthesis {
            engine: ENGINE_NAME,
            why: format!("espeak_Synth returned {rc}"),
        });
    }
    Ok(samples)
}

impl Synthesizer for EspeakSynthesizer {
    fn fingerprint(&self) -> String {
        let s = &self.settings;
        format!(
            "espeak-ng {}; voice={}; rate={}; pitch={}; range={}; volume={}; ssml={}",
            self.version,
            s.voice,
            s.rate_wpm,
            s.pitch,
            s.range,
            s.volume,
            s.ssml.as_str()
        )
    }

    fn synthesize(&self, input: SpeechInput<'_>, sample_rate: u32) -> Result<Prompt, TtsError> {
        check_rate(sample_rate)?;
        let native = self.synthesize_native(input)?;
        let samples = tympan_audio::resample::resample_i16(&native, self.native_rate, sample_rate)?;
        Ok(Prompt {
            sample_rate,
            samples: samples.into(),
        })
    }
}
