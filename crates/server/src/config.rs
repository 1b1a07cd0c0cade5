//! Server configuration: a TOML (or JSON, by file extension) file; every field has a default so
//! `tympan serve` starts with no file at all.
//!
//! ```toml
//! listen = "127.0.0.1:8080"                 # the CLI's --listen wins over this
//! public_base_url = "https://amd.example.com" # used in NCCO websocket URIs (https → wss)
//! media_dir = "media"                       # root for per-call `play_wav` paths
//! espeak = "espeak-ng"                      # TTS program for `say`
//! max_calls_kept = 100000                   # ended calls kept in the store (oldest pruned first)
//! history_max_bytes = 1073741824            # ... and at most this many bytes of their JSON
//! max_concurrent_calls = 2000               # more live calls are refused (close 1013)
//! media_stall_timeout_s = 30                # a media stream silent this long is ended
//! shutdown_grace_s = 30                     # SIGTERM: live calls get this long to finish
//! data_dir = "tympan-data"                  # the API token file and the SQLite database
//! database_url = "postgres://u@h/db"        # PostgreSQL instead of SQLite in data_dir
//! api_tokens = ["..."]                      # bearer tokens for the control routes
//! control_listen = "127.0.0.1:8081"         # control routes on their own listener
//! audiosocket_listen = "127.0.0.1:9092"     # Asterisk AudioSocket (TCP) calls
//! flow = "flows/survey.json"               # a contact flow run on every call
//!
//! [amd]                                     # tympan_amd::AmdConfig defaults for every call
//! mode = "detect_message_end"
//! speech_threshold_ms = 2400
//!
//! [vonage]
//! api_base = "https://api.nexmo.com"
//! jwt = "eyJ..."                            # minted elsewhere; Tympan does not mint JWTs
//!
//! [twilio]
//! api_base = "https://api.twilio.com"
//! account_sid = "AC..."
//! auth_token = "..."
//!
//! [on_beep]                                 # default action when a call sets none
//! say = "Sorry we missed you."
//! hangup = true
//! ```

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tympan_amd::AmdConfig;

/// Largest configuration file read, in bytes.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Default number of ended calls the store keeps (older ones are pruned).
pub const DEFAULT_MAX_CALLS_KEPT: usize = 100_000;
/// Default bound on the JSON bytes (results, events, actions) the store keeps (1 GiB).
pub const DEFAULT_HISTORY_MAX_BYTES: usize = 1 << 30;
/// Default number of live calls beyond which new calls are refused.
pub const DEFAULT_MAX_CONCURRENT_CALLS: usize = 2_000;
/// Default time a media stream may send nothing before the call is ended, in seconds.
pub const DEFAULT_MEDIA_STALL_TIMEOUT_S: u64 = 30;
/// Default time live calls get to finish after SIGTERM, in seconds.
pub const DEFAULT_SHUTDOWN_GRACE_S: u64 = 30;
/// Default data directory (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "tympan-data";

/// Everything `tympan serve` can be told.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (overridden by `--listen`).
    pub listen: String,
    /// Public base URL of this server as the telephony platform reaches it, e.g.
    /// `https://amd.example.com`. Used to build NCCO websocket URIs; when absent the answer
    /// webhook uses the request's `Host` header with `ws://`.
    pub public_base_url: Option<String>,
    /// Directory that per-call `play_wav` paths are relative to (absolute paths and `..` are
    /// refused so a call cannot read arbitrary files).
    pub media_dir: PathBuf,
    /// The espeak-ng program used for `say`.
    pub espeak: String,
    /// How many ended calls the store keeps (the oldest are pruned first, every
    /// `persist::PRUNE_INTERVAL`).
    pub max_calls_kept: usize,
    /// Bound on the JSON bytes of events, actions and results in the store (oldest ended
    /// calls pruned first). Active calls are never pruned.
    pub history_max_bytes: usize,
    /// Live calls beyond this are refused with websocket close code 1013 ("try again later").
    pub max_concurrent_calls: usize,
    /// A media stream that sends nothing for this many seconds is closed (1008) and its call
    /// ended.
    pub media_stall_timeout_s: u64,
    /// On SIGTERM or ctrl-c: stop accepting, give live calls this many seconds to end, then
    /// close them (1001).
    pub shutdown_grace_s: u64,
    /// Directory for the server's files: the generated API token (`api-token`) and the SQLite
    /// database `tympan.db` (when `database_url` is unset).
    pub data_dir: PathBuf,
    /// `postgres://…` or `postgresql://…`: keep calls in PostgreSQL instead of SQLite.
    pub database_url: Option<String>,
    /// Bearer tokens accepted on the control routes (with `TYMPAN_API_TOKEN`); when neither is
    /// set, `tympan serve` creates `data_dir/api-token`.
    pub api_tokens: Vec<String>,
    /// When set, the control routes (`/v1/calls…`, `/v1/events`) are served on this address
    /// only, not on `listen`.
    pub control_listen: Option<String>,
    /// When set, Asterisk AudioSocket (TCP) calls are accepted on this address.
    pub audiosocket_listen: Option<String>,
    /// A contact flow (JSON, `flows/`) run on every call (overridden by `--flow`).
    pub flow: Option<PathBuf>,
    /// Default AMD configuration; `sample_rate` is always taken from the stream.
    pub amd: AmdConfig,
    /// Model file from `tympan amd train`. When set, every call also classifies its VAD clips
    /// and reports them as `clip` events (advice only; the result stays the detector's).
    pub amd_model: Option<PathBuf>,
    /// Vonage Voice API access for hang-up.
    pub vonage: VonageConfig,
    /// Twilio REST API access for hang-up.
    pub twilio: TwilioConfig,
    /// Default action on a beep for calls that set none.
    pub on_beep: Option<BeepAction>,
    /// `[sip]`: SIP over UDP (see [`crate::transport::sip`]).
    #[serde(default)]
    pub sip: crate::transport::sip::SipConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            public_base_url: None,
            media_dir: PathBuf::from("media"),
            espeak: "espeak-ng".into(),
            max_calls_kept: DEFAULT_MAX_CALLS_KEPT,
            history_max_bytes: DEFAULT_HISTORY_MAX_BYTES,
            max_concurrent_calls: DEFAULT_MAX_CONCURRENT_CALLS,
            media_stall_timeout_s: DEFAULT_MEDIA_STALL_TIMEOUT_S,
            shutdown_grace_s: DEFAULT_SHUTDOWN_GRACE_S,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            database_url: None,
            api_tokens: Vec::new(),
            control_listen: None,
            audiosocket_listen: None,
            flow: None,
            amd: AmdConfig::default(),
            amd_model: None,
            vonage: VonageConfig::default(),
            twilio: TwilioConfig::default(),
            on_beep: None,
            sip: Default::default(),
        }
    }
}

/// Vonage Voice API call control.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VonageConfig {
    /// API base URL (tests point it at a local recorder).
    pub api_base: String,
    /// Bearer JWT for `PUT /v1/calls/{uuid}`; hang-up is skipped (and logged) without it.
    pub jwt: Option<String>,
}

impl Default for VonageConfig {
    fn default() -> Self {
        VonageConfig {
            api_base: "https://api.nexmo.com".into(),
            jwt: None,
        }
    }
}

/// Twilio REST API call control.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwilioConfig {
    /// API base URL (tests point it at a local recorder).
    pub api_base: String,
    /// Account SID (basic-auth user); hang-up is skipped (and logged) without it.
    pub account_sid: Option<String>,
    /// Auth token (basic-auth password).
    pub auth_token: Option<String>,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        TwilioConfig {
            api_base: "https://api.twilio.com".into(),
            account_sid: None,
            auth_token: None,
        }
    }
}

/// What to do when a beep is heard: play a message into the call, then maybe hang up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BeepAction {
    /// Text spoken with espeak-ng.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub say: Option<String>,
    /// A 16-bit PCM WAV file under `media_dir`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play_wav: Option<String>,
    /// Hang up through the platform's call-control API once the message has played.
    #[serde(default)]
    pub hangup: bool,
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_CONFIG_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path}: {msg}")]
    Parse { path: PathBuf, msg: String },
    #[error("{path}: {source}")]
    Amd {
        path: PathBuf,
        source: tympan_amd::ConfigError,
    },
}

impl ServerConfig {
    /// Where the store lives (`data_dir`, `database_url`).
    pub fn store_config(&self) -> tympan_store::StoreConfig {
        tympan_store::StoreConfig {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
        }
    }

    /// Read a `.json` file as JSON and anything else as TOML; the AMD part is validated.
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let io = |source| ConfigFileError::Io {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_CONFIG_BYTES {
            return Err(ConfigFileError::TooLarge {
                path: path.to_owned(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let cfg = if is_json {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        }
        .map_err(|msg| ConfigFileError::Parse {
            path: path.to_owned(),
            msg,
        })?;
        // Check the AMD defaults at both call rates, so a bad file fails at start-up.
        for rate in [8000, 16000] {
            let mut amd = cfg.amd.clone();
            amd.sample_rate = rate;
            if let Err(source) = amd.validate() {
                // beep_max_hz may be legal only at 16 kHz; 8 kHz calls then fail per call.
                if rate == 16000 || source.field != "beep_max_hz" {
                    return Err(ConfigFileError::Amd {
                        path: path.to_owned(),
                        source,
                    });
                }
            }
        }
        Ok(cfg)
    }

    /// [`Self::media_stall_timeout_s`] as a duration (at least one second).
    pub fn media_stall_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.media_stall_timeout_s.max(1))
    }

    /// [`Self::shutdown_grace_s`] as a duration.
    pub fn shutdown_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.shutdown_grace_s)
    }

    /// Parse TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Parse JSON text.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_toml_is_the_default() {
        let c = ServerConfig::from_toml("").unwrap();
        assert_eq!(c.listen, "127.0.0.1:8080");
        assert_eq!(c.max_calls_kept, DEFAULT_MAX_CALLS_KEPT);
        assert_eq!(c.amd, AmdConfig::default());
    }

    #[test]
    fn toml_and_json_agree() {
        let t = ServerConfig::from_toml(
            "public_base_url = \"https://x.test\"\n[amd]\nspeech_threshold_ms = 3000\n\
             [vonage]\njwt = \"abc\"\n[on_beep]\nsay = \"hi\"\nhangup = true\n",
        )
        .unwrap();
        let j = ServerConfig::from_json(
            r#"{"public_base_url":"https://x.test","amd":{"speech_threshold_ms":3000},
                "vonage":{"jwt":"abc"},"on_beep":{"say":"hi","hangup":true}}"#,
        )
        .unwrap();
        for c in [&t, &j] {
            assert_eq!(c.amd.speech_threshold_ms, 3000);
            assert_eq!(c.amd.timeout_ms, AmdConfig::default().timeout_ms);
            assert_eq!(c.vonage.jwt.as_deref(), Some("abc"));
            assert_eq!(c.vonage.api_base, "https://api.nexmo.com");
            assert_eq!(c.on_beep.as_ref().unwrap().say.as_deref(), Some("hi"));
            assert!(c.on_beep.as_ref().unwrap().hangup);
        }
    }

    #[test]
    fn unknown_field_is_named() {
        let e = ServerConfig::from_toml("listn = \"x\"").unwrap_err();
        assert!(e.contains("listn"), "{e}");
    }

    #[test]
    fn unknown_nested_fields_are_named() {
        for (text, key) in [
            ("[vonage]\njwtt = \"x\"\n", "jwtt"),
            ("[twilio]\nauth = \"x\"\n", "auth"),
            ("[on_beep]\nsing = \"x\"\n", "sing"),
        ] {
            let e = ServerConfig::from_toml(text).unwrap_err();
            assert!(e.contains(key), "{text}: {e}");
        }
        let e = ServerConfig::from_toml("[amd]\nspeach_threshold_ms = 1\n").unwrap_err();
        assert!(e.contains("speach_threshold_ms"), "{e}");
        let e = ServerConfig::from_json(r#"{"vonage":{"api":"x"}}"#).unwrap_err();
        assert!(e.contains("api"), "{e}");
    }

    #[test]
    fn hardening_keys_parse() {
        let c = ServerConfig::from_toml(
            "api_tokens = [\"0123456789abcdef\"]\ncontrol_listen = \"127.0.0.1:0\"\n\
             max_concurrent_calls = 3\nhistory_max_bytes = 1000\nmedia_stall_timeout_s = 2\n\
             shutdown_grace_s = 1\ndata_dir = \"/tmp/x\"\n",
        )
        .unwrap();
        assert_eq!(c.api_tokens, ["0123456789abcdef"]);
        assert_eq!(c.control_listen.as_deref(), Some("127.0.0.1:0"));
        assert_eq!((c.max_concurrent_calls, c.history_max_bytes), (3, 1000));
        assert_eq!(c.media_stall_timeout().as_secs(), 2);
        assert_eq!(c.shutdown_grace().as_secs(), 1);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        let d = ServerConfig::default();
        assert_eq!(d.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(d.max_concurrent_calls, DEFAULT_MAX_CONCURRENT_CALLS);
    }

    #[test]
    fn bad_amd_value_in_file_is_refused_with_field() {
        let dir = std::env::temp_dir().join(format!("tympan-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("bad.toml");
        std::fs::write(&p, "[amd]\nspeech_threshold_ms = 50\n").unwrap();
        let e = ServerConfig::load(&p).unwrap_err().to_string();
        assert!(e.contains("speech_threshold_ms"), "{e}");
        assert!(e.contains("bad.toml"), "{e}");
        let p = dir.join("ok.json");
        std::fs::write(&p, r#"{"max_calls_kept": 5}"#).unwrap();
        assert_eq!(ServerConfig::load(&p).unwrap().max_calls_kept, 5);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
