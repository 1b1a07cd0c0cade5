//! Twilio Media Streams websocket: `connected`, `start`, `media`, `stop`, `mark`, `dtmf` in;
//! `media`, `mark`, `clear` out.

use super::vonage::{CLOSE_BAD_DATA, CLOSE_POLICY, CLOSE_UNSUPPORTED};
use crate::call_task::{run_call, CallStart, Inbound, MediaIn, MediaOut, PlayOutcome};
use crate::calls::CallSettings;
use crate::ids::{call_id_or_new, validate_id};
use crate::ws::{spawn_writer, WsSender, FIRST_FRAME_TIMEOUT, SEND_TIMEOUT};
use crate::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use base64::Engine;
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;
use tympan_audio::g711;

/// Name of the mark sent after the on-beep message; Twilio echoes it when playback is done.
pub const PLAYBACK_MARK: &str = "tympan-on-beep";
/// µ-law bytes per outbound `media` message (20 ms at 8 kHz).
pub const OUT_CHUNK: usize = 160;

/// The `start` message's essentials.
#[derive(Debug)]
pub struct TwilioStart {
    pub stream_sid: String,
    pub call_sid: Option<String>,
    pub call_id: String,
    pub settings: CallSettings,
}

/// Parse a `start` message; checks the media format is `audio/x-mulaw`, 8000 Hz, 1 channel.
pub fn parse_start(v: &Value) -> Result<TwilioStart, (u16, String)> {
    let start = v.get("start").and_then(Value::as_object).ok_or((
        CLOSE_BAD_DATA,
        "`start` message has no `start` object".to_string(),
    ))?;
    let stream_sid = start
        .get("streamSid")
        .or_else(|| v.get("streamSid"))
        .and_then(Value::as_str)
        .ok_or((CLOSE_BAD_DATA, "`start` has no `streamSid`".to_string()))?
        .to_owned();
    validate_id("streamSid", &stream_sid).map_err(|e| (CLOSE_POLICY, e))?;
    if let Some(fmt) = start.get("mediaFormat") {
        let enc = fmt.get("encoding").and_then(Value::as_str).unwrap_or("");
        let rate = fmt.get("sampleRate").and_then(Value::as_u64).unwrap_or(0);
        let ch = fmt.get("channels").and_then(Value::as_u64).unwrap_or(0);
        if !enc.eq_ignore_ascii_case("audio/x-mulaw") || rate != 8000 || ch != 1 {
            return Err((
                CLOSE_UNSUPPORTED,
                format!("mediaFormat {enc} {rate} Hz {ch} ch unsupported; audio/x-mulaw 8000 1"),
            ));
        }
    }
    let call_sid = start
        .get("callSid")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let call_id = call_id_or_new("callSid", call_sid.as_deref()).map_err(|e| (CLOSE_POLICY, e))?;
    let settings = match start.get("customParameters") {
        Some(Value::Object(m)) => CallSettings::from_map(m).map_err(|e| (CLOSE_POLICY, e))?,
        _ => CallSettings::default(),
    };
    Ok(TwilioStart {
        stream_sid,
        call_sid,
        call_id,
        settings,
    })
}

/// `GET /v1/media/twilio`.
#[utoipa::path(get, path = "/v1/media/twilio", tag = "media",
    responses((status = 101, description = "Twilio Media Streams websocket (`connected`, `start`, `media`, `stop`, `mark`, `dtmf`)")))]
pub async fn media_ws(ws: WebSocketUpgrade, State(state): State<Arc<AppState>>) -> Response {
    crate::ws::configure(ws).on_upgrade(move |s| run(state, s))
}

fn parse_json(t: &str) -> Result<Value, (u16, String)> {
    serde_json::from_str(t).map_err(|e| (CLOSE_BAD_DATA, format!("message is not JSON: {e}")))
}

async fn refuse(out: WsSender, writer: tokio::task::JoinHandle<()>, code: u16, why: &str) {
    tracing::warn!(code, reason = %why, "twilio websocket refused");
    out.close(code, why).await;
    drop(out);
    let _ = writer.await;
}

async fn run(state: Arc<AppState>, socket: WebSocket) {
    let (sink, mut stream) = socket.split();
    let (tx, writer) = spawn_writer(sink, SEND_TIMEOUT);
    let out = WsSender { tx };
    // Wait for `start` (after an optional `connected`).
    let deadline = tokio::time::Instant::now() + FIRST_FRAME_TIMEOUT;
    let start = loop {
        let msg = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(_) => return,
            Err(_) => {
                let why = format!("no `start` within {FIRST_FRAME_TIMEOUT:?}");
                return refuse(out, writer, CLOSE_POLICY, &why).await;
            }
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => return,
            Message::Binary(_) => {
                return refuse(
                    out,
                    writer,
                    CLOSE_POLICY,
                    "binary frame; Twilio sends JSON text",
                )
                .await
            }
            _ => continue,
        };
        let v = match parse_json(text.as_str()) {
            Ok(v) => v,
            Err((c, w)) => return refuse(out, writer, c, &w).await,
        };
        match v.get("event").and_then(Value::as_str) {
            Some("connected") => continue,
            Some("start") => match parse_start(&v) {
                Ok(s) => break s,
                Err((c, w)) => return refuse(out, writer, c, &w).await,
            },
            Some(other) => {
                let why = format!("`{other}` before `start`");
                return refuse(out, writer, CLOSE_POLICY, &why).await;
            }
            None => {
                return refuse(out, writer, CLOSE_BAD_DATA, "message has no `event`").await;
            }
        }
    };
    let call = CallStart {
        call_id: start.call_id.clone(),
        platform: "twilio",
        rate: 8000,
        settings: start.settings,
    };
    let out = TwilioOut {
        ws: out,
        stream_sid: start.stream_sid,
        call_sid: start.call_sid,
    };
    let input = TwilioIn {
        stream,
        ulaw: Vec::new(),
    };
    run_call(state, call, input, out).await;
    let _ = writer.await;
}

/// Twilio's inbound half: JSON text messages.
struct TwilioIn {
    stream: SplitStream<WebSocket>,
    ulaw: Vec<u8>,
}

impl TwilioIn {
    fn message(&mut self, text: &str) -> Inbound {
        let v = match parse_json(text) {
            Ok(v) => v,
            Err((_, why)) => {
                tracing::warn!(%why, "ignored message");
                return Inbound::Ignored;
            }
        };
        match v.get("event").and_then(Value::as_str) {
            Some("media") => {
                let media = v.get("media");
                let track = media.and_then(|m| m.get("track")).and_then(Value::as_str);
                if matches!(track, Some(t) if t != "inbound" && t != "inbound_track") {
                    return Inbound::Ignored;
                }
                let Some(payload) = media.and_then(|m| m.get("payload")).and_then(Value::as_str)
                else {
                    tracing::warn!("media message without payload");
                    return Inbound::Ignored;
                };
                self.ulaw.clear();
                let b64 = base64::engine::general_purpose::STANDARD;
                if let Err(e) = b64.decode_vec(payload, &mut self.ulaw) {
                    let chunk = media.and_then(|m| m.get("chunk")).cloned();
                    tracing::warn!(error = %e, ?chunk, "media payload is not base64; skipped");
                    return Inbound::Ignored;
                }
                Inbound::Audio(self.ulaw.iter().map(|&b| g711::ulaw_decode(b)).collect())
            }
            Some("mark") => {
                let name = v
                    .pointer("/mark/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                tracing::debug!(name, "mark played");
                if name == PLAYBACK_MARK {
                    Inbound::PlaybackDone
                } else {
                    Inbound::Ignored
                }
            }
            Some("dtmf") => {
                let digit = v
                    .pointer("/dtmf/digit")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                match digit.chars().next() {
                    Some(d) if digit.len() == 1 && (d.is_ascii_digit() || "*#ABCD".contains(d)) => {
                        Inbound::Dtmf(d)
                    }
                    _ => {
                        tracing::warn!(digit, "dtmf digit not understood");
                        Inbound::Ignored
                    }
                }
            }
            Some("stop") => Inbound::End,
            other => {
                tracing::debug!(event = ?other, "ignored message");
                Inbound::Ignored
            }
        }
    }
}

impl MediaIn for TwilioIn {
    async fn next(&mut self) -> Inbound {
        match self.stream.next().await {
            Some(Ok(Message::Text(t))) => self.message(t.as_str()),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Inbound::End,
            Some(Ok(_)) => Inbound::Ignored,
        }
    }
}

/// Twilio's outbound half: `clear`, 20 ms µ-law `media` messages and a `mark` (Twilio buffers
/// and plays them in order, echoing the mark at the end); hang-up through the REST API.
#[derive(Clone)]
struct TwilioOut {
    ws: WsSender,
    stream_sid: String,
    call_sid: Option<String>,
}

impl MediaOut for TwilioOut {
    async fn play(&self, pcm: Vec<i16>) -> PlayOutcome {
        let b64 = base64::engine::general_purpose::STANDARD;
        let sid = &self.stream_sid;
        if !self
            .ws
            .send(text(json!({"event": "clear", "streamSid": sid})))
            .await
        {
            return PlayOutcome::Interrupted { frames: 0 };
        }
        for (i, chunk) in pcm.chunks(OUT_CHUNK).enumerate() {
            let bytes = g711::ulaw_encode_slice(chunk);
            let m = json!({"event": "media", "streamSid": sid,
                           "media": {"payload": b64.encode(bytes)}});
            if !self.ws.send(text(m)).await {
                return PlayOutcome::Interrupted { frames: i };
            }
        }
        let mark = json!({"event": "mark", "streamSid": sid, "mark": {"name": PLAYBACK_MARK}});
        if !self.ws.send(text(mark)).await {
            return PlayOutcome::Interrupted {
                frames: pcm.len().div_ceil(OUT_CHUNK),
            };
        }
        PlayOutcome::Queued {
            ms: pcm.len() as u64 / 8,
        }
    }

    async fn hangup(&self, state: Arc<AppState>) -> Result<Option<u16>, String> {
        match &self.call_sid {
            Some(sid) => crate::control::twilio_hangup(&state.http, &state.config.twilio, sid)
                .await
                .map(Some),
            None => Err("no callSid in `start`; cannot hang up".into()),
        }
    }

    async fn close(&self, code: u16, reason: &str) {
        self.ws.close(code, reason).await
    }

    async fn gone(&self) {
        self.ws.gone().await
    }
}

fn text(v: Value) -> Message {
    Message::Text(v.to_string().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_parsing() {
        let v = json!({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1",
            "mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1},
            "customParameters":{"on_beep_say":"hi","hangup":"true"}}});
        let s = parse_start(&v).unwrap();
        assert_eq!((s.stream_sid.as_str(), s.call_id.as_str()), ("MZ1", "CA1"));
        assert!(s.settings.on_beep.unwrap().hangup);
        let v = json!({"event":"start","start":{"streamSid":"MZ1",
            "mediaFormat":{"encoding":"audio/l16","sampleRate":8000,"channels":1}}});
        let (code, why) = parse_start(&v).unwrap_err();
        assert_eq!(code, CLOSE_UNSUPPORTED);
        assert!(why.contains("audio/l16"));
        assert!(parse_start(&json!({"event":"start"})).is_err());
        for (field, hostile) in [
            ("callSid", ".."),
            ("callSid", "abc?x=1"),
            ("streamSid", "a/b"),
        ] {
            let mut v = json!({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1"}});
            v["start"][field] = json!(hostile);
            let (code, why) = parse_start(&v).unwrap_err();
            assert_eq!(code, CLOSE_POLICY);
            assert!(why.contains(field) && why.contains("refused"), "{why}");
        }
    }
}
