//! The few libespeak-ng entry points the synthesizer uses (`espeak-ng/speak_lib.h` and
//! `espeak-ng/espeak_ng.h`, espeak-ng 1.51). Only [`super::espeak`] calls these, always while
//! holding its global engine lock.

use std::os::raw::{c_char, c_int, c_short, c_uint, c_void};

/// `espeak_AUDIO_OUTPUT::AUDIO_OUTPUT_SYNCHRONOUS`: `espeak_Synth` returns when synthesis is done.
pub const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
/// `espeakINITIALIZE_DONT_EXIT`: report errors instead of calling `exit()`.
pub const INITIALIZE_DONT_EXIT: c_int = 0x8000;
/// `espeakCHARS_UTF8`.
pub const CHARS_UTF8: c_uint = 1;
/// `espeakSSML`: elements inside `< >` are SSML.
pub const SSML: c_uint = 0x10;
/// `POS_CHARACTER`.
pub const POS_CHARACTER: c_int = 1;

/// `espeak_PARAMETER` values.
pub const PARAM_RATE: c_int = 1;
pub const PARAM_VOLUME: c_int = 2;
pub const PARAM_PITCH: c_int = 3;
pub const PARAM_RANGE: c_int = 4;
pub const PARAM_WORDGAP: c_int = 7;

/// `espeak_ERROR::EE_OK`.
pub const EE_OK: c_int = 0;
/// `espeak_ng_STATUS::ENS_OK`.
pub const ENS_OK: c_uint = 0;
/// `espeak_ng_STATUS::ENS_VOICE_NOT_FOUND`.
pub const ENS_VOICE_NOT_FOUND: c_uint = 0x1000_06FF;

/// `t_espeak_callback`: (samples, sample count, event list) → 0 to continue, 1 to abort.
/// The event list is opaque here (the synthesizer only collects samples).
pub type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut c_void) -> c_int;

/// `espeak_VOICE` (speak_lib.h): one entry of [`espeak_ListVoices`]'s NULL-terminated array.
/// `languages` is a run of (priority byte, NUL-terminated language) pairs ended by a 0 byte.
#[repr(C)]
pub struct Voice {
    pub name: *const c_char,
    pub languages: *const c_char,
    pub identifier: *const c_char,
    pub gender: u8,
    pub age: u8,
    pub variant: u8,
    pub xx1: u8,
    pub score: c_int,
    pub spare: *mut c_void,
}

#[link(name = "espeak-ng")]
extern "C" {
    pub fn espeak_Initialize(
        output: c_int,
        buflength: c_int,
        path: *const c_char,
        options: c_int,
    ) -> c_int;
    pub fn espeak_SetSynthCallback(cb: Option<SynthCallback>);
    pub fn espeak_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> c_int;
    pub fn espeak_Synth(
        text: *const c_void,
        size: usize,
        position: c_uint,
        position_type: c_int,
        end_position: c_uint,
        flags: c_uint,
        unique_identifier: *mut c_uint,
        user_data: *mut c_void,
    ) -> c_int;
    pub fn espeak_ng_SetVoiceByName(name: *const c_char) -> c_uint;
    pub fn espeak_ng_GetStatusCodeMessage(status: c_uint, buffer: *mut c_char, length: usize);
    pub fn espeak_ListVoices(spec: *mut Voice) -> *const *const Voice;
    pub fn espeak_Info(path_data: *mut *const c_char) -> *const c_char;
}
