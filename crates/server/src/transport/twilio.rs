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

/// One Twilio Media Streams text message, parsed without I/O: what the receive loop acts
/// on. [`parse_message`] makes it; the websocket task only reacts.
#[derive(Debug)]
pub enum TwilioMessage {
    /// `connected`: the first message, carries nothing we use.
    Connected,
    /// `start`, checked by [`parse_start`].
    Start(TwilioStart),
    /// `media` of the inbound track: its µ-law bytes (base64-decoded `media.payload`).
    Media(Vec<u8>),
    /// `media` of another track (`outbound`): ignored.
    OtherTrack,
    /// `mark` with its `mark.name` (empty when absent); Twilio echoes our marks.
    Mark(String),
    /// `dtmf` with its single digit (0-9, `*`, `#`, A-D).
    Dtmf(char),
    /// `stop`: the stream ended.
    Stop,
    /// Any other event, by name: ignored.
    Other(String),
}

impl TwilioMessage {
    /// The `event` name the message had.
    pub fn event(&self) -> &str {
        match self {
            TwilioMessage::Connected => "connected",
            TwilioMessage::Start(_) => "start",
            TwilioMessage::Media(_) | TwilioMessage::OtherTrack => "media",
            TwilioMessage::Mark(_) => "mark",
            TwilioMessage::Dtmf(_) => "dtmf",
            TwilioMessage::Stop => "stop",
            TwilioMessage::Other(e) => e,
        }
    }
}

/// Parses one text frame: JSON, then by `event`. Refusals are `(close code, reason)`, the
/// reason naming the field at fault (`event`, `media.payload`, `dtmf.digit`, or what
/// [`parse_start`] names).
pub fn parse_message(text: &str) -> Result<TwilioMessage, (u16, String)> {
    let v = parse_json(text)?;
    match v.get("event").and_then(Value::as_str) {
        Some("connected") => Ok(TwilioMessage::Connected),
        Some("start") => parse_start(&v).map(TwilioMessage::Start),
        Some("media") => {
            let media = v.get("media");
            let track = media.and_then(|m| m.get("track")).and_then(Value::as_str);
            if matches!(track, Some(t) if t != "inbound" && t != "inbound_track") {
                return Ok(TwilioMessage::OtherTrack);
            }
            let payload = media
                .and_then(|m| m.get("payload"))
                .and_then(Value::as_str)
                .ok_or((
                    CLOSE_BAD_DATA,
                    "`media` message has no string `media.payload`".to_string(),
                ))?;
            let mut ulaw = Vec::new();
            base64::engine::general_purpose::STANDARD
                .decode_vec(payload, &mut ulaw)
                .map_err(|e| {
                    let chunk = media.and_then(|m| m.get("chunk")).cloned();
                    let at = chunk.map(|c| format!(" (chunk {c})")).unwrap_or_default();
                    (
                        CLOSE_BAD_DATA,
                        format!("`media.payload` is not base64{at}: {e}"),
                    )
                })?;
            Ok(TwilioMessage::Media(ulaw))
        }
        Some("mark") => Ok(TwilioMessage::Mark(
            v.pointer("/mark/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
        )),
        Some("dtmf") => {
            let digit = v
                .pointer("/dtmf/digit")
                .and_then(Value::as_str)
                .unwrap_or("");
            match digit.chars().next() {
                Some(d) if digit.len() == 1 && (d.is_ascii_digit() || "*#ABCD".contains(d)) => {
                    Ok(TwilioMessage::Dtmf(d))
                }
                _ => Err((
                    CLOSE_BAD_DATA,
                    format!("`dtmf.digit` {digit:?} is not one DTMF digit"),
                )),
            }
        }
        Some("stop") => Ok(TwilioMessage::Stop),
        Some(other) => Ok(TwilioMessage::Other(other.to_owned())),
        None => Err((CLOSE_BAD_DATA, "message has no `event`".to_string())),
    }
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
        // Before `start` only `connected` is expected; a malformed message is refused with
        // its own reason, any other one as out of order.
        match parse_message(text.as_str()) {
            Ok(TwilioMessage::Connected) => continue,
            Ok(TwilioMessage::Start(s)) => break s,
            Ok(other) => {
                let why = format!("`{}` before `start`", other.event());
                return refuse(out, writer, CLOSE_POLICY, &why).await;
            }
            Err((c, w)) => return refuse(out, writer, c, &w).await,
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
    let input = TwilioIn { stream };
    run_call(state, call, input, out).await;
    let _ = writer.await;
}

/// Twilio's inbound half: JSON text messages.
struct TwilioIn {
    stream: SplitStream<WebSocket>,
}

impl TwilioIn {
    fn message(&mut self, text: &str) -> Inbound {
        match parse_message(text) {
            Ok(TwilioMessage::Media(ulaw)) => {
                Inbound::Audio(ulaw.iter().map(|&b| g711::ulaw_decode(b)).collect())
            }
            Ok(TwilioMessage::Mark(name)) => {
                tracing::debug!(name, "mark played");
                if name == PLAYBACK_MARK {
                    Inbound::PlaybackDone
                } else {
                    Inbound::Ignored
                }
            }
            Ok(TwilioMessage::Dtmf(d)) => Inbound::Dtmf(d),
            Ok(TwilioMessage::Stop) => Inbound::End,
            Ok(other) => {
                tracing::debug!(event = other.event(), "ignored message");
                Inbound::Ignored
            }
            Err((_, why)) => {
                tracing::warn!(%why, "ignored message");
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

    #[test]
    fn messages_parse_by_event_and_refusals_name_the_field() {
        let m = |v: Value| parse_message(&v.to_string());
        assert!(matches!(
            m(json!({"event":"connected"})),
            Ok(TwilioMessage::Connected)
        ));
        match m(json!({"event":"media","media":{"track":"inbound","payload":"/38A"}})) {
            Ok(TwilioMessage::Media(b)) => assert_eq!(b, [0xff, 0x7f, 0x00]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            m(json!({"event":"media","media":{"track":"outbound","payload":"!"}})),
            Ok(TwilioMessage::OtherTrack)
        ));
        let (code, why) =
            m(json!({"event":"media","media":{"chunk":"7","payload":"a!"}})).unwrap_err();
        assert_eq!(code, CLOSE_BAD_DATA);
        assert!(
            why.contains("media.payload") && why.contains("chunk \"7\""),
            "{why}"
        );
        let (_, why) = m(json!({"event":"media","media":{}})).unwrap_err();
        assert!(why.contains("media.payload"), "{why}");
        match m(json!({"event":"mark","mark":{"name":PLAYBACK_MARK}})) {
            Ok(TwilioMessage::Mark(n)) => assert_eq!(n, PLAYBACK_MARK),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            m(json!({"event":"dtmf","dtmf":{"digit":"#"}})),
            Ok(TwilioMessage::Dtmf('#'))
        ));
        let (_, why) = m(json!({"event":"dtmf","dtmf":{"digit":"12"}})).unwrap_err();
        assert!(why.contains("dtmf.digit"), "{why}");
        assert!(matches!(
            m(json!({"event":"stop"})),
            Ok(TwilioMessage::Stop)
        ));
        match m(json!({"event":"weird"})) {
            Ok(o) => assert_eq!(o.event(), "weird"),
            other => panic!("{other:?}"),
        }
        assert_eq!(m(json!({"x":1})).unwrap_err().0, CLOSE_BAD_DATA);
        assert_eq!(parse_message("{").unwrap_err().0, CLOSE_BAD_DATA);
        match m(json!({"event":"start","start":{"streamSid":"MZ1","callSid":"CA1"}})) {
            Ok(TwilioMessage::Start(s)) => assert_eq!(s.call_id, "CA1"),
            other => panic!("{other:?}"),
        }
    }
}
