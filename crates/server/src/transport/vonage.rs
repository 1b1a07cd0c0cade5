//! Vonage: the answer webhook (NCCO) and the `audio/l16` media websocket.

use crate::call_task::{pace_frames, run_call, CallStart, Inbound, MediaIn, MediaOut, PlayOutcome};
use crate::calls::CallSettings;
use crate::ids::call_id_or_new;
use crate::ws::{spawn_writer, WsSender, FIRST_FRAME_TIMEOUT, SEND_TIMEOUT};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Websocket close code for an unsupported `content-type` (RFC 6455 1003).
pub const CLOSE_UNSUPPORTED: u16 = 1003;
/// Websocket close code for a header that is not JSON (RFC 6455 1007).
pub const CLOSE_BAD_DATA: u16 = 1007;
/// Websocket close code for refused per-call settings, ids or protocol misuse (RFC 6455 1008).
pub const CLOSE_POLICY: u16 = crate::registry::CLOSE_POLICY;

/// What the first text frame said.
#[derive(Debug)]
pub struct VonageHeader {
    pub rate: u32,
    pub call_id: String,
    pub settings: CallSettings,
}

/// Parse the first text frame: JSON object with `content-type: audio/l16;rate=16000|8000`,
/// optional `uuid`, optional Tympan settings (see [`CallSettings::from_map`]).
/// Errors carry the close code and reason.
pub fn parse_header(text: &str) -> Result<VonageHeader, (u16, String)> {
    let v: Value = serde_json::from_str(text)
        .map_err(|e| (CLOSE_BAD_DATA, format!("header is not JSON: {e}")))?;
    let Value::Object(m) = v else {
        return Err((CLOSE_BAD_DATA, "header is not a JSON object".into()));
    };
    let ct = m.get("content-type").and_then(Value::as_str).ok_or((
        CLOSE_UNSUPPORTED,
        "header has no `content-type`".to_string(),
    ))?;
    let norm: String = ct
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let rate = match norm.as_str() {
        "audio/l16;rate=16000" => 16000,
        "audio/l16;rate=8000" => 8000,
        _ => {
            return Err((
                CLOSE_UNSUPPORTED,
                format!("content-type `{ct}` unsupported; audio/l16;rate=16000 or 8000"),
            ))
        }
    };
    let uuid = match m.get("uuid") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err((CLOSE_POLICY, "`uuid` must be a string".into())),
    };
    let call_id = call_id_or_new("uuid", uuid).map_err(|e| (CLOSE_POLICY, e))?;
    let settings = CallSettings::from_map(&m).map_err(|e| (CLOSE_POLICY, e))?;
    Ok(VonageHeader {
        rate,
        call_id,
        settings,
    })
}

/// `GET /v1/media/vonage`.
#[utoipa::path(get, path = "/v1/media/vonage", tag = "media",
    responses((status = 101, description = "Vonage media websocket: a JSON header text frame, then binary 16-bit LE PCM")))]
pub async fn media_ws(ws: WebSocketUpgrade, State(state): State<Arc<AppState>>) -> Response {
    crate::ws::configure(ws).on_upgrade(move |s| run(state, s))
}

async fn run(state: Arc<AppState>, socket: WebSocket) {
    let (sink, mut stream) = socket.split();
    let (tx, writer) = spawn_writer(sink, SEND_TIMEOUT);
    let out = WsSender { tx };
    let header = match tokio::time::timeout(FIRST_FRAME_TIMEOUT, stream.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => parse_header(t.as_str()),
        Ok(Some(Ok(Message::Binary(_)))) => Err((
            CLOSE_POLICY,
            "first frame must be the JSON header (text), got binary".into(),
        )),
        Ok(Some(Ok(_))) => Err((CLOSE_POLICY, "first frame must be the JSON header".into())),
        Ok(_) => return,
        Err(_) => Err((
            CLOSE_POLICY,
            format!("no header within {FIRST_FRAME_TIMEOUT:?}"),
        )),
    };
    match header {
        Ok(hdr) => {
            let start = CallStart {
                call_id: hdr.call_id.clone(),
                platform: "vonage",
                rate: hdr.rate,
                settings: hdr.settings,
            };
            let out = VonageOut {
                ws: out,
                rate: hdr.rate,
                call_id: hdr.call_id,
            };
            let input = VonageIn {
                stream,
                carry: None,
            };
            run_call(state, start, input, out).await;
        }
        Err((code, reason)) => {
            tracing::warn!(code, %reason, "vonage websocket refused");
            out.close(code, &reason).await;
            drop(out);
        }
    }
    // The writer ends once every sender (a running playback's too) is gone.
    let _ = writer.await;
}

/// Vonage's inbound half: binary L16 frames (any size; an odd byte carries over).
struct VonageIn {
    stream: SplitStream<WebSocket>,
    carry: Option<u8>,
}

/// Append the samples of `bytes` (16-bit little-endian) to `pcm`, carrying an odd byte.
pub fn decode_l16(carry: &mut Option<u8>, mut bytes: &[u8], pcm: &mut Vec<i16>) {
    if let Some(lo) = carry.take() {
        if let Some((&hi, rest)) = bytes.split_first() {
            pcm.push(i16::from_le_bytes([lo, hi]));
            bytes = rest;
        } else {
            *carry = Some(lo);
        }
    }
    let mut it = bytes.chunks_exact(2);
    pcm.extend(it.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
    if let [odd] = it.remainder() {
        *carry = Some(*odd);
    }
}

impl MediaIn for VonageIn {
    async fn next(&mut self) -> Inbound {
        match self.stream.next().await {
            Some(Ok(Message::Binary(b))) => {
                let mut pcm = Vec::with_capacity(b.len() / 2 + 1);
                decode_l16(&mut self.carry, &b, &mut pcm);
                Inbound::Audio(pcm)
            }
            Some(Ok(Message::Text(t))) => {
                tracing::debug!(text = %t.as_str(), "vonage text frame");
                Inbound::Ignored
            }
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Inbound::End,
            Some(Ok(_)) => Inbound::Ignored,
        }
    }
}

/// Vonage's outbound half: 20 ms L16 frames at real-time pace; hang-up through the Voice API.
#[derive(Clone)]
struct VonageOut {
    ws: WsSender,
    rate: u32,
    call_id: String,
}

impl MediaOut for VonageOut {
    async fn play(&self, pcm: Vec<i16>) -> PlayOutcome {
        let frame = (self.rate / 50) as usize;
        pace_frames(&pcm, frame, |f| {
            let bytes: Vec<u8> = f.iter().flat_map(|s| s.to_le_bytes()).collect();
            self.ws.send(Message::Binary(bytes.into()))
        })
        .await
    }

    async fn hangup(&self, state: Arc<AppState>) -> Result<Option<u16>, String> {
        crate::control::vonage_hangup(&state.http, &state.config.vonage, &self.call_id)
            .await
            .map(Some)
    }

    async fn close(&self, code: u16, reason: &str) {
        self.ws.close(code, reason).await
    }

    async fn gone(&self) {
        self.ws.gone().await
    }
}

/// Base of websocket URIs: `public_base_url` with http(s) mapped to ws(s), else the request's
/// `Host` with `ws://`.
fn ws_base(state: &AppState, headers: &HeaderMap) -> Result<String, String> {
    if let Some(b) = &state.config.public_base_url {
        let b = b.trim_end_matches('/');
        return Ok(if let Some(rest) = b.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = b.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            b.to_owned()
        });
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .ok_or("no public_base_url configured and no Host header")?;
    Ok(format!("ws://{host}"))
}

/// `GET|POST /v1/vonage/answer`: the NCCO connecting the call to `/v1/media/vonage`.
/// Parameters (query, JSON body or form body): `uuid` (Vonage sends it), `talk` (greeting
/// spoken first), `rate` (8000|16000, default 16000), and the per-call settings
/// (`on_beep_say`, `on_beep_play_wav`, `hangup`, `amd`).
#[utoipa::path(method(get, post), path = "/v1/vonage/answer", tag = "open",
    params(
        ("uuid" = Option<String>, Query, description = "The call id (Vonage sends it)"),
        ("talk" = Option<String>, Query, description = "Greeting spoken first"),
        ("rate" = Option<u32>, Query, description = "8000 or 16000 (default)")),
    responses(
        (status = 200, description = "NCCO: optional `talk`, then `connect` to the media websocket"),
        (status = 400, description = "Bad settings or uuid, named", body = crate::persist::ErrorBody)))]
pub async fn answer(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let bad = |msg: String| (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response();
    let mut params: Map<String, Value> = query
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    if !body.is_empty() {
        let ct = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if ct.starts_with("application/json") {
            match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Object(m)) => params.extend(m),
                _ => return bad("body is not a JSON object".into()),
            }
        } else if ct.starts_with("application/x-www-form-urlencoded") {
            match serde_urlencoded_pairs(&body) {
                Ok(pairs) => params.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v)))),
                Err(e) => return bad(e),
            }
        }
    }
    let settings = match CallSettings::from_map(&params) {
        Ok(s) => s,
        Err(e) => return bad(e),
    };
    let rate = match params
        .get("rate")
        .and_then(Value::as_str)
        .unwrap_or("16000")
    {
        "16000" => 16000,
        "8000" => 8000,
        other => return bad(format!("rate `{other}`: 8000 or 16000")),
    };
    if let Err(e) = settings.amd_config(&state.config.amd, rate) {
        return bad(e);
    }
    if let Some(a) = &settings.on_beep {
        if let Err(e) = crate::playback::check_action(a, &state.config.media_dir) {
            return bad(e);
        }
    }
    let base = match ws_base(&state, &headers) {
        Ok(b) => b,
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
    };
    let mut ws_headers = Map::new();
    if let Some(uuid) = params.get("uuid").and_then(Value::as_str) {
        if let Err(e) = crate::ids::validate_id("uuid", uuid) {
            return bad(e);
        }
        ws_headers.insert("uuid".into(), json!(uuid));
    }
    settings.to_headers(&mut ws_headers);
    let mut ncco = Vec::new();
    if let Some(talk) = params.get("talk").and_then(Value::as_str) {
        ncco.push(json!({"action": "talk", "text": talk}));
    }
    ncco.push(json!({
        "action": "connect",
        "endpoint": [{
            "type": "websocket",
            "uri": format!("{base}/v1/media/vonage"),
            "content-type": format!("audio/l16;rate={rate}"),
            "headers": Value::Object(ws_headers),
        }]
    }));
    Json(Value::Array(ncco)).into_response()
}

fn serde_urlencoded_pairs(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    serde_urlencoded::from_bytes(body).map_err(|e| format!("form body: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_parsing() {
        let h = parse_header(r#"{"content-type":"audio/l16; rate=8000","uuid":"abc"}"#).unwrap();
        assert_eq!((h.rate, h.call_id.as_str()), (8000, "abc"));
        let h = parse_header(r#"{"content-type":"audio/l16;rate=16000"}"#).unwrap();
        assert_eq!(h.call_id.len(), 36);
        let (code, why) = parse_header(r#"{"content-type":"audio/pcmu;rate=8000"}"#).unwrap_err();
        assert_eq!(code, CLOSE_UNSUPPORTED);
        assert!(why.contains("audio/pcmu"), "{why}");
        assert_eq!(parse_header("nope").unwrap_err().0, CLOSE_BAD_DATA);
        assert_eq!(parse_header("{}").unwrap_err().0, CLOSE_UNSUPPORTED);
        let (code, why) =
            parse_header(r#"{"content-type":"audio/l16;rate=8000","hangup":"perhaps"}"#)
                .unwrap_err();
        assert_eq!(code, CLOSE_POLICY);
        assert!(why.contains("hangup"));
        for hostile in ["..", "%2e%2e", "abc?x=1", "a/b"] {
            let h = json!({"content-type": "audio/l16;rate=8000", "uuid": hostile}).to_string();
            let (code, why) = parse_header(&h).unwrap_err();
            assert_eq!(code, CLOSE_POLICY);
            assert!(why.contains("uuid") && why.contains("refused"), "{why}");
        }
        let (_, why) =
            parse_header(r#"{"content-type":"audio/l16;rate=8000","uuid":7}"#).unwrap_err();
        assert!(why.contains("uuid"), "{why}");
    }

    #[test]
    fn l16_odd_bytes_carry_over() {
        let mut carry = None;
        let mut pcm = Vec::new();
        decode_l16(&mut carry, &[0x01, 0x02, 0x03], &mut pcm);
        assert_eq!((pcm.as_slice(), carry), (&[0x0201i16][..], Some(0x03)));
        decode_l16(&mut carry, &[0x04], &mut pcm);
        assert_eq!((pcm.as_slice(), carry), (&[0x0201i16, 0x0403][..], None));
    }
}
