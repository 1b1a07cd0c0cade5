//! Vonage: the answer webhook (NCCO) and the `audio/l16` media websocket.

use crate::calls::{call_id_or_new, record_action, CallSession, CallSettings};
use crate::ws::{close_with, spawn_writer, FIRST_FRAME_TIMEOUT, MAX_WS_MESSAGE};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tracing::Instrument;

/// Websocket close code for an unsupported `content-type` (RFC 6455 1003).
pub const CLOSE_UNSUPPORTED: u16 = 1003;
/// Websocket close code for a header that is not JSON (RFC 6455 1007).
pub const CLOSE_BAD_DATA: u16 = 1007;
/// Websocket close code for refused per-call settings or protocol misuse (RFC 6455 1008).
pub const CLOSE_POLICY: u16 = 1008;

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
    let call_id =
        call_id_or_new(m.get("uuid").and_then(Value::as_str)).map_err(|e| (CLOSE_POLICY, e))?;
    let settings = CallSettings::from_map(&m).map_err(|e| (CLOSE_POLICY, e))?;
    Ok(VonageHeader {
        rate,
        call_id,
        settings,
    })
}

/// `GET /v1/media/vonage`.
pub async fn media_ws(ws: WebSocketUpgrade, State(state): State<Arc<AppState>>) -> Response {
    ws.max_message_size(MAX_WS_MESSAGE)
        .on_upgrade(move |s| run(state, s))
}

async fn run(state: Arc<AppState>, socket: WebSocket) {
    let (sink, mut stream) = socket.split();
    let (tx, writer) = spawn_writer(sink);
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
    let hdr = match header {
        Ok(h) => h,
        Err((code, reason)) => {
            tracing::warn!(code, %reason, "vonage websocket refused");
            close_with(&tx, code, &reason).await;
            drop(tx);
            let _ = writer.await;
            return;
        }
    };
    let span = tracing::info_span!("call", call_id = %hdr.call_id, platform = "vonage");
    async move {
        let mut session = match CallSession::start(
            state.clone(),
            hdr.call_id.clone(),
            "vonage",
            hdr.rate,
            &hdr.settings,
        ) {
            Ok(s) => s,
            Err(reason) => {
                tracing::warn!(%reason, "call refused");
                close_with(&tx, CLOSE_POLICY, &reason).await;
                drop(tx);
                let _ = writer.await;
                return;
            }
        };
        let mut carry: Option<u8> = None;
        let mut pcm: Vec<i16> = Vec::new();
        loop {
            let msg = match crate::ws::next_before(&mut stream, session.deadline()).await {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(()) => {
                    // Audio stalled past the analyser's decision deadline.
                    session.on_timeout();
                    continue;
                }
            };
            match msg {
                Ok(Message::Binary(b)) => {
                    pcm.clear();
                    let mut bytes = b.as_ref();
                    if let Some(lo) = carry.take() {
                        if let Some((&hi, rest)) = bytes.split_first() {
                            pcm.push(i16::from_le_bytes([lo, hi]));
                            bytes = rest;
                        } else {
                            carry = Some(lo);
                        }
                    }
                    let mut it = bytes.chunks_exact(2);
                    pcm.extend(it.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
                    if let [odd] = it.remainder() {
                        carry = Some(*odd);
                    }
                    if session.push_i16(pcm.iter().copied()) {
                        if let Some(action) = session.on_beep.clone() {
                            spawn_action(&state, &session, action, tx.clone());
                        }
                    }
                }
                Ok(Message::Text(t)) => {
                    tracing::debug!(text = %t.as_str(), "vonage text frame");
                }
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        session.finish();
        drop(tx);
        // The writer ends once a running playback drops its sender too.
        let _ = writer.await;
    }
    .instrument(span)
    .await
}

fn spawn_action(
    state: &Arc<AppState>,
    session: &CallSession,
    action: crate::config::BeepAction,
    tx: mpsc::Sender<Message>,
) {
    let state = state.clone();
    let call_id = session.call_id.clone();
    let rate = session.rate;
    let span = tracing::info_span!("on_beep", call_id = %call_id, platform = "vonage");
    tokio::spawn(
        async move {
            let pcm = match crate::playback::render(
                &action,
                rate,
                &state.config.espeak,
                &state.config.media_dir,
            )
            .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "on_beep message not rendered");
                    record_action(&state, &call_id, json!({"action": "play", "error": e}));
                    Vec::new()
                }
            };
            // 20 ms frames, zero-padded, at real-time pace.
            let frame = (rate / 50) as usize;
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut frames = 0usize;
            for chunk in pcm.chunks(frame) {
                tick.tick().await;
                let mut bytes = Vec::with_capacity(frame * 2);
                for i in 0..frame {
                    bytes.extend_from_slice(&chunk.get(i).copied().unwrap_or(0).to_le_bytes());
                }
                if tx.send(Message::Binary(bytes.into())).await.is_err() {
                    tracing::info!("call closed during playback");
                    record_action(
                        &state,
                        &call_id,
                        json!({"action": "play", "frames": frames, "interrupted": true}),
                    );
                    return;
                }
                frames += 1;
            }
            if frames > 0 {
                record_action(
                    &state,
                    &call_id,
                    json!({"action": "play", "frames": frames, "ms": frames * 20}),
                );
            }
            if action.hangup {
                let r = crate::control::vonage_hangup(&state.http, &state.config.vonage, &call_id)
                    .await;
                tracing::info!(result = ?r, "hangup");
                let v = match r {
                    Ok(status) => json!({"action": "hangup", "status": status}),
                    Err(e) => json!({"action": "hangup", "error": e}),
                };
                record_action(&state, &call_id, v);
            }
        }
        .instrument(span),
    );
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
    }
}
