//! The fuzz targets: every parser that reads bytes a network peer or an operator controls.
//!
//! Each target runs the same code the server runs on that input and then checks invariants
//! the code promises (a failed check panics, so the driver reports it like a crash).

use crate::{error_class, fnv1a, Outcome, Target};
use base64::Engine;
use serde_json::{Map, Value};
use std::path::Path;
use tympan_amd::AmdConfig;
use tympan_server::calls::CallSettings;
use tympan_server::config::ServerConfig;

/// Longest call id the server may accept, in characters (the documented limit of issue 13;
/// kept here so the check does not depend on where the server defines it).
pub const MAX_CALL_ID_CHARS: usize = 128;

/// Text of a frame: websocket text frames are UTF-8 (the websocket layer refuses others);
/// other bytes are read lossily so the parser still sees them.
fn text(input: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(input)
}

fn refused(msg: &str) -> Outcome {
    Outcome::Refused(error_class(msg))
}

/// What [`CallSettings`] promise once accepted: the AMD overrides are resolved against the
/// defaults at `rate` (as `CallSession::start` does) and a `play_wav` path stays in
/// `media_dir`. Returns the outcome of the AMD step.
fn check_settings(s: &CallSettings, rate: u32) -> Outcome {
    if let Some(a) = &s.on_beep {
        let media = Path::new("/srv/media");
        if tympan_server::playback::check_action(a, media).is_ok() {
            if let Some(p) = &a.play_wav {
                let full = tympan_server::playback::media_path(media, p)
                    .expect("check_action accepted the path");
                assert!(full.starts_with(media), "{p:?} escapes media_dir");
                assert!(
                    !full
                        .components()
                        .any(|c| c == std::path::Component::ParentDir),
                    "{p:?} has `..`"
                );
            }
        }
    }
    match s.amd_config(&AmdConfig::default(), rate) {
        Ok(cfg) => {
            assert_eq!(cfg.sample_rate, rate);
            assert!(
                cfg.validate().is_ok(),
                "amd_config returned an invalid config"
            );
            Outcome::Accepted(1)
        }
        Err(e) => refused(&e),
    }
}

fn check_call_id(id: &str) {
    assert!(!id.is_empty(), "empty call id accepted");
    assert!(
        id.chars().count() <= MAX_CALL_ID_CHARS,
        "call id of {} chars accepted",
        id.chars().count()
    );
    assert!(
        !id.chars().any(|c| c.is_control() || c == '/'),
        "call id {id:?} has a control character or `/`"
    );
}

/// Vonage media websocket: the first text frame.
pub fn vonage_header(input: &[u8]) -> Outcome {
    let t = text(input);
    match tympan_server::vonage::parse_header(&t) {
        Ok(h) => {
            assert!(h.rate == 8000 || h.rate == 16000, "rate {}", h.rate);
            check_call_id(&h.call_id);
            match check_settings(&h.settings, h.rate) {
                Outcome::Accepted(_) => Outcome::Accepted(u64::from(h.rate)),
                r => r,
            }
        }
        Err((code, why)) => {
            assert!(
                [1003, 1007, 1008].contains(&code),
                "close code {code} for {why}"
            );
            Outcome::Refused(error_class(&why) ^ u64::from(code))
        }
    }
}

/// Twilio Media Streams: one text frame through the server's own pure parser,
/// [`tympan_server::twilio::parse_message`] (JSON, then by `event`: `start` through
/// `parse_start` and the call settings, `media` through the track filter and base64, `mark`
/// and `dtmf` through their fields), then the µ-law decoding the receive loop does.
pub fn twilio_message(input: &[u8]) -> Outcome {
    use tympan_server::twilio::{parse_message, TwilioMessage};
    let t = text(input);
    match parse_message(&t) {
        Ok(TwilioMessage::Start(s)) => {
            check_call_id(&s.call_id);
            if let Some(sid) = &s.call_sid {
                assert_eq!(&s.call_id, sid, "call id is not the callSid");
            }
            match check_settings(&s.settings, 8000) {
                Outcome::Accepted(_) => Outcome::Accepted(1),
                r => r,
            }
        }
        Ok(TwilioMessage::Media(ulaw)) => {
            let pcm: Vec<f32> = ulaw
                .iter()
                .map(|&b| f32::from(tympan_audio::g711::ulaw_decode(b)) / 32768.0)
                .collect();
            assert_eq!(pcm.len(), ulaw.len());
            assert!(pcm.iter().all(|x| (-1.0..=1.0).contains(x)));
            // What decoded re-encodes to the same base64 text.
            let b64 = base64::engine::general_purpose::STANDARD.encode(&ulaw);
            assert_eq!(
                base64::engine::general_purpose::STANDARD
                    .decode(&b64)
                    .expect("own base64"),
                ulaw
            );
            Outcome::Accepted(4 ^ (u64::from(ulaw.is_empty()) << 8))
        }
        Ok(TwilioMessage::OtherTrack) => Outcome::Accepted(2),
        Ok(TwilioMessage::Mark(name)) => Outcome::Accepted(5 ^ (fnv1a(name.as_bytes()) & 1) << 8),
        Ok(TwilioMessage::Dtmf(d)) => {
            assert!(
                d.is_ascii_digit() || "*#ABCD".contains(d),
                "dtmf digit {d:?} accepted"
            );
            Outcome::Accepted(7)
        }
        Ok(m @ (TwilioMessage::Connected | TwilioMessage::Stop)) => {
            Outcome::Accepted(8 ^ fnv1a(m.event().as_bytes()))
        }
        Ok(TwilioMessage::Other(e)) => {
            assert!(
                !["connected", "start", "media", "mark", "dtmf", "stop"].contains(&e.as_str()),
                "known event {e:?} reported as other"
            );
            Outcome::Accepted(9)
        }
        Err((code, why)) => {
            assert!(
                [1003, 1007, 1008].contains(&code),
                "close code {code} for {why}"
            );
            Outcome::Refused(error_class(&why) ^ u64::from(code))
        }
    }
}

/// What `ServerConfig::load` does after parsing: the AMD defaults are validated at both call
/// rates (at 8 kHz only `beep_max_hz` may fail).
fn check_server_config(cfg: &ServerConfig) -> Outcome {
    for rate in [8000, 16000] {
        let mut amd = cfg.amd.clone();
        amd.sample_rate = rate;
        if let Err(e) = amd.validate() {
            if rate == 16000 || e.field != "beep_max_hz" {
                return refused(&e.to_string());
            }
        }
    }
    if let Some(a) = &cfg.on_beep {
        let _ = tympan_server::playback::check_action(a, &cfg.media_dir);
    }
    // An accepted configuration survives a JSON round trip unchanged.
    let j = serde_json::to_value(cfg).expect("ServerConfig serialises");
    let back = ServerConfig::from_json(&j.to_string()).expect("own JSON parses back");
    assert_eq!(serde_json::to_value(&back).unwrap(), j, "JSON round trip");
    Outcome::Accepted(1)
}

/// `tympan serve --config FILE.toml`: [`ServerConfig::from_toml`] plus the checks of `load`.
pub fn server_config_toml(input: &[u8]) -> Outcome {
    // `load` reads with `read_to_string`, which refuses invalid UTF-8 before parsing.
    let Ok(t) = std::str::from_utf8(input) else {
        return Outcome::Refused(0);
    };
    match ServerConfig::from_toml(t) {
        Ok(cfg) => check_server_config(&cfg),
        Err(e) => refused(&e),
    }
}

/// `tympan serve --config FILE.json`: [`ServerConfig::from_json`] plus the checks of `load`.
pub fn server_config_json(input: &[u8]) -> Outcome {
    let Ok(t) = std::str::from_utf8(input) else {
        return Outcome::Refused(0);
    };
    match ServerConfig::from_json(t) {
        Ok(cfg) => check_server_config(&cfg),
        Err(e) => refused(&e),
    }
}

/// `tympan amd --config FILE.json` and per-call `amd` objects: JSON → [`AmdConfig`] →
/// `validate`; a valid configuration must build a detector.
pub fn amd_config_json(input: &[u8]) -> Outcome {
    let cfg: AmdConfig = match serde_json::from_slice(input) {
        Ok(c) => c,
        Err(e) => return refused(&e.to_string()),
    };
    match cfg.validate() {
        Ok(()) => {
            if let Err(e) = tympan_amd::AmdDetector::new(cfg.clone()) {
                panic!("validated config refused by AmdDetector::new: {e}");
            }
            Outcome::Accepted(u64::from(cfg.sample_rate))
        }
        Err(e) => Outcome::Refused(fnv1a(e.field.as_bytes())),
    }
}

/// `GET|POST /v1/vonage/answer` form bodies and query strings: pairs → [`CallSettings`].
pub fn vonage_answer_form(input: &[u8]) -> Outcome {
    let pairs: Vec<(String, String)> = match serde_urlencoded::from_bytes(input) {
        Ok(p) => p,
        Err(e) => return refused(&e.to_string()),
    };
    let m: Map<String, Value> = pairs
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    match CallSettings::from_map(&m) {
        Ok(s) => {
            // What the answer webhook writes into the NCCO headers reads back the same.
            let mut h = Map::new();
            s.to_headers(&mut h);
            assert_eq!(
                CallSettings::from_map(&h).expect("own headers parse"),
                s,
                "settings → headers → settings"
            );
            check_settings(&s, 16000)
        }
        Err(e) => refused(&e),
    }
}

/// Asterisk AudioSocket byte stream through the server's sans-I/O
/// [`tympan_server::transport::audiosocket::Decoder`]. Checks: the frames and the error do not
/// depend on how the stream is cut into reads, an error's byte offset lies inside the stream,
/// and re-encoding the decoded frames gives back the bytes they were decoded from.
pub fn audiosocket_stream(input: &[u8]) -> Outcome {
    use tympan_server::transport::audiosocket::{encode, Decoder, Frame, FrameError};
    fn decode(chunks: &mut dyn Iterator<Item = &[u8]>) -> (Vec<Frame>, Option<FrameError>) {
        let mut d = Decoder::default();
        let mut frames = Vec::new();
        for c in chunks {
            d.push(c);
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => frames.push(f),
                    Ok(None) => break,
                    Err(e) => return (frames, Some(e)),
                }
            }
        }
        (frames, None)
    }
    let whole = decode(&mut std::iter::once(input));
    // Reads of 1..=7 bytes, the size chosen by the first byte.
    let step = 1 + usize::from(input.first().copied().unwrap_or(0) % 7);
    let cut = decode(&mut input.chunks(step));
    assert_eq!(
        whole, cut,
        "decoding depends on read sizes (reads of {step})"
    );
    let (frames, err) = whole;
    let mut again = Vec::new();
    for f in &frames {
        again.extend(match f {
            Frame::Hangup => encode(0x00, &[]),
            Frame::Uuid(b) => encode(0x01, b),
            Frame::Dtmf(c) => encode(0x03, &[u8::try_from(*c).expect("DTMF is ASCII")]),
            Frame::Audio(x) => encode(
                0x10,
                &x.iter().flat_map(|s| s.to_le_bytes()).collect::<Vec<u8>>(),
            ),
            Frame::Error(p) => encode(0xff, p),
        });
    }
    // Every frame (hang-up included: it has no payload) re-encodes to the very bytes it
    // came from.
    assert!(
        input.starts_with(&again),
        "re-encoded frames differ from the input"
    );
    assert!(again.len() <= input.len());
    let (back, back_err) = decode(&mut std::iter::once(again.as_slice()));
    assert_eq!(back, frames, "decode(encode(frames)) != frames");
    assert!(back_err.is_none(), "own encoding refused: {back_err:?}");
    let kinds = frames.iter().fold(0u64, |m, f| {
        m | match f {
            Frame::Hangup => 1,
            Frame::Uuid(_) => 2,
            Frame::Dtmf(_) => 4,
            Frame::Audio(_) => 8,
            Frame::Error(_) => 16,
        }
    });
    match err {
        None => Outcome::Accepted(kinds),
        Some(e) => {
            let (offset, class) = match &e {
                FrameError::UnknownKind { offset, .. } => (*offset, 1),
                FrameError::TooLong { offset, .. } => (*offset, 2),
                FrameError::BadLength { offset, what, .. } => (*offset, 3 ^ fnv1a(what.as_bytes())),
                FrameError::BadDtmf { offset, .. } => (*offset, 4),
            };
            assert!(
                offset as usize >= again.len() && (offset as usize) < input.len(),
                "error offset {offset} outside the failing frame's range"
            );
            assert_eq!(
                offset as usize,
                again.len(),
                "error offset {offset} is not the failing frame's start"
            );
            Outcome::Refused(class ^ (kinds << 8))
        }
    }
}

const AUDIOSOCKET_DICT: &[&[u8]] = &[
    b"\x00\x00\x00",
    b"\x01\x00\x10",
    b"\x03\x00\x01",
    b"\x10\x01\x40",
    b"\x10\x00\x02",
    b"\xff\x00\x01",
    b"\x10\x3e\x80",
    b"\x10\x3e\x82",
    b"\x10\xff\xff",
    b"\x02\x00\x00",
];

const JSON_DICT: &[&[u8]] = &[
    b"\"content-type\"",
    b"\"audio/l16;rate=16000\"",
    b"\"audio/l16;rate=8000\"",
    b"\"uuid\"",
    b"\"amd\"",
    b"\"on_beep\"",
    b"\"on_beep_say\"",
    b"\"on_beep_play_wav\"",
    b"\"hangup\"",
    b"\"say\"",
    b"\"play_wav\"",
    b"\"mode\"",
    b"\"detect_message_end\"",
    b"\"speech_threshold_ms\"",
    b"\"sample_rate\"",
    b"\"beep_max_hz\"",
    b"\"../x.wav\"",
    b"\"/etc/passwd\"",
    b"\"{\\\"mode\\\":\\\"enable\\\"}\"",
    b"\"event\"",
    b"\"start\"",
    b"\"media\"",
    b"\"payload\"",
    b"\"track\"",
    b"\"inbound\"",
    b"\"mark\"",
    b"\"dtmf\"",
    b"\"streamSid\"",
    b"\"callSid\"",
    b"\"mediaFormat\"",
    b"\"customParameters\"",
    b"\"encoding\"",
    b"\"audio/x-mulaw\"",
    b"\"sampleRate\"",
    b"\"channels\"",
    b"\"/w==\"",
    b"\"=\"",
];

const TOML_DICT: &[&[u8]] = &[
    b"listen = ",
    b"public_base_url = ",
    b"media_dir = ",
    b"espeak = ",
    b"max_calls_kept = ",
    b"amd_model = ",
    b"[amd]\n",
    b"[vonage]\n",
    b"[twilio]\n",
    b"[on_beep]\n",
    b"[[on_beep]]\n",
    b"mode = \"detect_message_end\"\n",
    b"strategy = ",
    b"speech_threshold_ms = ",
    b"beep_min_hz = ",
    b"beep_max_hz = ",
    b"sample_rate = ",
    b"jwt = ",
    b"api_base = ",
    b"hangup = true\n",
    b"say = ",
    b"play_wav = ",
    b"\"\"\"",
    b"'''",
    b"1979-05-27T07:32:00Z",
    b"inf",
    b"nan",
    b"{ a = 1 }",
    b"[1, 2]",
    b"0x7fffffff",
];

const FORM_DICT: &[&[u8]] = &[
    b"uuid=",
    b"talk=",
    b"rate=",
    b"on_beep_say=",
    b"on_beep_play_wav=",
    b"hangup=",
    b"amd=",
    b"on_beep=",
    b"&",
    b"%7B%22mode%22%3A%22enable%22%7D",
    b"%2e%2e",
    b"%00",
    b"+",
    b"%",
];

/// Every target, in CLI order.
pub static TARGETS: &[Target] = &[
    Target {
        name: "vonage_header",
        about: "Vonage media websocket header (tympan_server::vonage::parse_header)",
        seeds: &[
            br#"{"content-type":"audio/l16;rate=16000"}"#,
            br#"{"content-type":"audio/l16; rate=8000","uuid":"abc-123"}"#,
            br#"{"content-type":"audio/l16;rate=16000","uuid":"c1","amd":{"mode":"detect_message_end","speech_threshold_ms":3000}}"#,
            br#"{"content-type":"audio/l16;rate=8000","on_beep":{"say":"Sorry we missed you"},"hangup":true}"#,
            br#"{"content-type":"audio/l16;rate=16000","on_beep_play_wav":"msg/a.wav","hangup":"false","amd":"{\"timeout_ms\":5000}"}"#,
            br#"{"content-type":"audio/l16;rate=16000","event":"websocket:connected","uuid":"x","app":"y","on_beep":"{\"say\":\"hi\"}"}"#,
            br#"{"content-type":"audio/pcmu;rate=8000"}"#,
            br#"{}"#,
        ],
        dict: JSON_DICT,
        seed_fn: None,
        max_len: 4_096,
        run: vonage_header,
    },
    Target {
        name: "twilio_message",
        about: "Twilio Media Streams text frame (parse_start, media/mark/dtmf handling)",
        seeds: &[
            br#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#,
            br#"{"event":"start","sequenceNumber":"1","streamSid":"MZ1","start":{"streamSid":"MZ1","accountSid":"AC1","callSid":"CA1","tracks":["inbound"],"customParameters":{"on_beep_say":"hi","hangup":"true","amd":"{\"mode\":\"detect_message_end\"}"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}"#,
            br#"{"event":"start","start":{"streamSid":"MZ2","mediaFormat":{"encoding":"audio/l16","sampleRate":16000,"channels":1}}}"#,
            br#"{"event":"media","sequenceNumber":"3","media":{"track":"inbound","chunk":"1","timestamp":"5","payload":"/////39/fn5+"},"streamSid":"MZ1"}"#,
            br#"{"event":"media","media":{"track":"outbound","payload":"AAAA"}}"#,
            br#"{"event":"mark","sequenceNumber":"4","streamSid":"MZ1","mark":{"name":"tympan-on-beep"}}"#,
            br#"{"event":"dtmf","streamSid":"MZ1","dtmf":{"track":"inbound_track","digit":"1"}}"#,
            br#"{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC1","callSid":"CA1"}}"#,
        ],
        dict: JSON_DICT,
        seed_fn: None,
        max_len: 8_192,
        run: twilio_message,
    },
    Target {
        name: "server_config_toml",
        about: "tympan serve --config (TOML → ServerConfig + AMD validation)",
        seeds: &[
            b"",
            b"listen = \"127.0.0.1:8080\"\npublic_base_url = \"https://amd.example.com\"\nmedia_dir = \"media\"\nespeak = \"espeak-ng\"\nmax_calls_kept = 10000\n\n[amd]\nmode = \"detect_message_end\"\nspeech_threshold_ms = 2400\n\n[vonage]\napi_base = \"https://api.nexmo.com\"\njwt = \"eyJ\"\n\n[twilio]\napi_base = \"https://api.twilio.com\"\naccount_sid = \"AC1\"\nauth_token = \"t\"\n\n[on_beep]\nsay = \"Sorry we missed you.\"\nhangup = true\n",
            b"[amd]\nbeep_min_hz = 400.0\nbeep_max_hz = 3500.0\ntimeout_ms = 59000\n",
            b"amd = { mode = \"enable\", strategy = \"twilio\" }\non_beep = { play_wav = \"a/b.wav\" }\n",
            b"amd_model = \"model.json\"\n[amd]\nspeach_threshold_ms = 1\n",
            b"listn = \"x\"\n[amd]\nspeech_threshold_ms = 50\n",
        ],
        dict: TOML_DICT,
        seed_fn: None,
        max_len: 8_192,
        run: server_config_toml,
    },
    Target {
        name: "server_config_json",
        about: "tympan serve --config FILE.json (JSON → ServerConfig + AMD validation)",
        seeds: &[
            br#"{}"#,
            br#"{"public_base_url":"https://x.test","amd":{"speech_threshold_ms":3000},"vonage":{"jwt":"abc"},"on_beep":{"say":"hi","hangup":true},"max_calls_kept":5}"#,
            br#"{"listen":"0.0.0.0:1","media_dir":"m","amd":{"mode":"detect_message_end","beep_max_hz":3999.5},"twilio":{"account_sid":"A","auth_token":"t"}}"#,
            br#"{"listn":"x","amd":{"timeout_ms":1}}"#,
        ],
        dict: JSON_DICT,
        seed_fn: None,
        max_len: 8_192,
        run: server_config_json,
    },
    Target {
        name: "amd_config_json",
        about: "AmdConfig JSON (tympan amd --config, per-call amd) + validate + AmdDetector::new",
        seeds: &[
            br#"{}"#,
            br#"{"sample_rate":16000,"mode":"detect_message_end","strategy":"twilio","timeout_ms":30000,"speech_threshold_ms":2400,"speech_end_threshold_ms":1200,"silence_timeout_ms":5000,"beep_min_hz":300.0,"beep_max_hz":2500.0}"#,
            br#"{"sample_rate":8000,"mode":"enable","max_words":3,"min_word_length_ms":100,"max_word_length_ms":5000,"beep_min_ms":80,"beep_timeout_ms":0}"#,
            br#"{"sample_rate":8000,"beep_max_hz":3999.0}"#,
            br#"{"sample_rate":8000,"beep_max_hz":4000.0}"#,
        ],
        dict: JSON_DICT,
        seed_fn: None,
        max_len: 4_096,
        run: amd_config_json,
    },
    Target {
        name: "vonage_answer_form",
        about: "answer webhook form/query pairs → CallSettings (headers round trip)",
        seeds: &[
            b"uuid=abc&talk=Hello&rate=8000",
            b"on_beep_say=Sorry+we+missed+you&hangup=true&amd=%7B%22mode%22%3A%22detect_message_end%22%7D",
            b"on_beep_play_wav=msg%2Fa.wav&hangup=1",
            b"on_beep=%7B%22say%22%3A%22hi%22%7D&hangup=0",
        ],
        dict: FORM_DICT,
        seed_fn: None,
        max_len: 4_096,
        run: vonage_answer_form,
    },
    Target {
        name: "audiosocket_stream",
        about: "Asterisk AudioSocket TCP framing (transport::audiosocket::Decoder)",
        seeds: &[
            b"\x01\x00\x10\x40\x1c\x8f\x3a\x55\x01\x4e\x2b\x9d\x11\x22\x33\x44\x55\x66\x77\x10\x00\x08\x01\x00\xff\x7f\x00\x80\x10\x00\x03\x00\x01\x35\x00\x00\x00",
            b"\x01\x00\x10\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x03\x00\x01#\x03\x00\x01d\xff\x00\x01\x02",
            b"\x10\x00\x03\x01\x02\x03",
            b"\x03\x00\x01x",
            b"\x07\x00\x00",
            b"\x10\x3e\x82",
            b"\x01\x00\x0f\x00",
        ],
        dict: AUDIOSOCKET_DICT,
        seed_fn: None,
        max_len: 4_096,
        run: audiosocket_stream,
    },
    Target {
        name: "sip_message",
        about: "SIP datagram parser and TCP Content-Length framer in arbitrary read splits (tympan_telephony::sip)",
        seeds: &[crate::media::BARESIP_INVITE, crate::media::BARESIP_ANSWER],
        seed_fn: Some(crate::sip::sip_message_seeds),
        dict: crate::sip::SIP_DICT,
        max_len: 8_192,
        run: crate::sip::sip_message,
    },
    Target {
        name: "sip_transactions",
        about: "transaction layer and dialog UserAgent fed message sequences and timer advances",
        seeds: &[],
        seed_fn: Some(crate::sip_tx::sip_transaction_seeds),
        dict: SIP_TX_DICT,
        max_len: 8_192,
        run: crate::sip_tx::sip_transactions,
    },
    Target {
        name: "sdp",
        about: "SDP offer → answer (only offered codecs, 488 when nothing matches) → read_answer",
        seeds: &[],
        seed_fn: Some(crate::media::sdp_seeds),
        dict: crate::media::SDP_DICT,
        max_len: 4_096,
        run: crate::media::sdp,
    },
    Target {
        name: "rtp_packets",
        about: "RTP, RTCP compounds (SR/RR/SDES/BYE), RFC 4733 events, jitter buffer schedules",
        seeds: &[],
        seed_fn: Some(crate::media::rtp_seeds),
        dict: crate::media::RTP_DICT,
        max_len: 2_048,
        run: crate::media::rtp_packets,
    },
];

/// Tokens of `sip_transactions` programs: operations (after the `\n~` separator) and the
/// SIP pieces that make messages match or miss a transaction.
const SIP_TX_DICT: &[&[u8]] = &[
    b"\n~t",
    b"\n~t32000",
    b"\n~t500",
    b"\n~r180",
    b"\n~r183",
    b"\n~r200",
    b"\n~r486",
    b"\n~e100",
    b"\n~e180",
    b"\n~e183",
    b"\n~e200",
    b"\n~e487",
    b"\n~e603",
    b"\n~k",
    b"\n~c",
    b"\n~y",
    b"\n~i",
    b"\n~h",
    b"\n~u",
    b"\n~x",
    b"z9hG4bKinv1",
    b"z9hG4bK",
    b";tag=",
    b"CSeq: 2 ",
    b"CSeq: 1 INVITE",
    b"CSeq: 1 ACK",
    b"CSeq: 1 CANCEL",
    b"INVITE",
    b"ACK",
    b"BYE",
    b"CANCEL",
    b"OPTIONS",
    b"SIP/2.0 200 OK",
    b"SIP/2.0 180 Ringing",
    b"SIP/2.0 487 Request Terminated",
    b"192.0.2.10:5060",
    b"192.0.2.11:5060",
];

/// A target by name.
pub fn by_name(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_do_not_panic_and_reach_both_outcomes() {
        for t in TARGETS {
            let mut acc = 0;
            let mut rej = 0;
            for s in t.all_seeds() {
                match crate::run_once(t, &s) {
                    Ok(Outcome::Accepted(_)) => acc += 1,
                    Ok(Outcome::Refused(_)) => rej += 1,
                    Err(m) => panic!(
                        "{}: seed {:?} panicked: {m}",
                        t.name,
                        String::from_utf8_lossy(&s)
                    ),
                }
            }
            assert!(acc > 0, "{}: no seed is accepted", t.name);
            assert!(
                rej > 0 || ["vonage_answer_form", "sip_transactions"].contains(&t.name),
                "{}: no seed is refused",
                t.name
            );
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, t) in TARGETS.iter().enumerate() {
            assert!(TARGETS[i + 1..].iter().all(|u| u.name != t.name));
            assert!(std::ptr::eq(by_name(t.name).unwrap(), t));
        }
    }
}
