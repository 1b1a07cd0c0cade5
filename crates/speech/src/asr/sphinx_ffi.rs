//! The few libpocketsphinx / libsphinxbase entry points the recogniser uses (Debian bookworm's
//! 0.8+5prealpha: `pocketsphinx.h`, `ps_search.h`, `sphinxbase/cmd_ln.h`, `err.h`,
//! `logmath.h`). Only [`super::sphinx`] calls these.

use std::os::raw::{c_char, c_int, c_void};

/// `cmd_ln_t` (opaque).
#[repr(C)]
pub struct CmdLn {
    _private: [u8; 0],
}
/// `arg_t` (opaque: only passed back to `cmd_ln_parse_r`).
#[repr(C)]
pub struct ArgDef {
    _private: [u8; 0],
}
/// `ps_decoder_t` (opaque).
#[repr(C)]
pub struct PsDecoder {
    _private: [u8; 0],
}
/// `logmath_t` (opaque).
#[repr(C)]
pub struct LogMath {
    _private: [u8; 0],
}

#[link(name = "sphinxbase")]
extern "C" {
    pub fn cmd_ln_parse_r(
        inout: *mut CmdLn,
        defn: *const ArgDef,
        argc: i32,
        argv: *mut *mut c_char,
        strict: i32,
    ) -> *mut CmdLn;
    pub fn cmd_ln_free_r(cmdln: *mut CmdLn) -> c_int;
    /// `err_set_logfp(FILE *)`: NULL turns the library's logging off.
    pub fn err_set_logfp(stream: *mut c_void);
    pub fn logmath_exp(lmath: *mut LogMath, logb_p: c_int) -> f64;
    pub fn ckd_free(ptr: *mut c_void);
}

#[link(name = "pocketsphinx")]
extern "C" {
    pub fn ps_args() -> *const ArgDef;
    pub fn ps_init(config: *mut CmdLn) -> *mut PsDecoder;
    pub fn ps_free(ps: *mut PsDecoder) -> c_int;
    pub fn ps_get_logmath(ps: *mut PsDecoder) -> *mut LogMath;
    pub fn ps_lookup_word(ps: *mut PsDecoder, word: *const c_char) -> *mut c_char;
    pub fn ps_set_jsgf_string(
        ps: *mut PsDecoder,
        name: *const c_char,
        jsgf: *const c_char,
    ) -> c_int;
    pub fn ps_set_lm_file(ps: *mut PsDecoder, name: *const c_char, path: *const c_char) -> c_int;
    pub fn ps_set_search(ps: *mut PsDecoder, name: *const c_char) -> c_int;
    pub fn ps_start_stream(ps: *mut PsDecoder) -> c_int;
    pub fn ps_start_utt(ps: *mut PsDecoder) -> c_int;
    pub fn ps_process_raw(
        ps: *mut PsDecoder,
        data: *const i16,
        n_samples: usize,
        no_search: c_int,
        full_utt: c_int,
    ) -> c_int;
    pub fn ps_end_utt(ps: *mut PsDecoder) -> c_int;
    pub fn ps_get_hyp(ps: *mut PsDecoder, out_best_score: *mut i32) -> *const c_char;
    pub fn ps_get_prob(ps: *mut PsDecoder) -> i32;
}
