//! Twilio Media Streams websocket: `connected`, `start`, `media`, `stop`, `mark`, `dtmf` in;
//! `media`, `mark`, `clear` out.

use crate::calls::{call_id_or_new, record_action, CallSession, CallSettings};
use crate::vonage::{CLOSE_BAD_DATA, CLOSE_POLICY, CLOSE_UNSUPPORTED};
use crate::ws::{close_with, spawn_writer, FIRST_FRAME_TIMEOUT, MAX_WS_MESSAGE};
use crate::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use base64::Engine;
use futures_util::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use tracing::Instrument;
use tympan_audio::g711;

/// Name of the mark sent after the on-beep message; Twilio echoes it when playback is done.
pub const PLAYBACK_MARK: &str = "tympan-on-beep";
/// Extra time allowed after the message's own length for the mark to come back before
/// hanging up anyway.
pub const MARK_GRACE: Duration = Duration::from_secs(5);
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
        .map(str::to_owned);
    let call_id = call_id_or_new(call_sid.as_deref()).map_err(|e| (CLOSE_POLICY, e))?;
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
pub async fn media_ws(ws: WebSocketUpgrade, State(state): State<Arc<AppState>>) -> Response {
    ws.max_message_size(MAX_WS_MESSAGE)
        .on_upgrade(move |s| run(state, s))
}

fn parse_json(t: &str) -> Result<Value, (u16, String)> {
    serde_json::from_str(t).map_err(|e| (CLOSE_BAD_DATA, format!("message is not JSON: {e}")))
}

async fn refuse(
    tx: mpsc::Sender<Message>,
    writer: tokio::task::JoinHandle<()>,
    code: u16,
    why: &str,
) {
    tracing::warn!(code, reason = %why, "twilio websocket refused");
    close_with(&tx, code, why).await;
    drop(tx);
    let _ = writer.await;
}

async fn run(state: Arc<AppState>, socket: WebSocket) {
    let (sink, mut stream) = socket.split();
    let (tx, writer) = spawn_writer(sink);
    // Wait for `start` (after an optional `connected`).
    let deadline = tokio::time::Instant::now() + FIRST_FRAME_TIMEOUT;
    let start = loop {
        let msg = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(Ok(m))) => m,
            Ok(_) => return,
            Err(_) => {
                let why = format!("no `start` within {FIRST_FRAME_TIMEOUT:?}");
                return refuse(tx, writer, CLOSE_POLICY, &why).await;
            }
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => return,
            Message::Binary(_) => {
                return refuse(
                    tx,
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
            Err((c, w)) => return refuse(tx, writer, c, &w).await,
        };
        match v.get("event").and_then(Value::as_str) {
            Some("connected") => continue,
            Some("start") => match parse_start(&v) {
                Ok(s) => break s,
                Err((c, w)) => return refuse(tx, writer, c, &w).await,
            },
            Some(other) => {
                let why = format!("`{other}` before `start`");
                return refuse(tx, writer, CLOSE_POLICY, &why).await;
            }
            None => return refuse(tx, writer, CLOSE_BAD_DATA, "message has no `event`").await,
        }
    };
    let span = tracing::info_span!("call", call_id = %start.call_id, platform = "twilio");
    async move {
        let mut session = match CallSession::start(
            state.clone(),
            start.call_id.clone(),
            "twilio",
            8000,
            &start.settings,
        ) {
            Ok(s) => s,
            Err(why) => return refuse(tx, writer, CLOSE_POLICY, &why).await,
        };
        let mark_done = Arc::new(Notify::new());
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut ulaw = Vec::new();
        let mut pcm = Vec::new();
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
            let text = match msg {
                Ok(Message::Text(t)) => t,
                Ok(Message::Close(_)) | Err(_) => break,
                _ => continue,
            };
            let v = match parse_json(text.as_str()) {
                Ok(v) => v,
                Err((_, why)) => {
                    tracing::warn!(%why, "ignored message");
                    continue;
                }
            };
            match v.get("event").and_then(Value::as_str) {
                Some("media") => {
                    let media = v.get("media");
                    let track = media.and_then(|m| m.get("track")).and_then(Value::as_str);
                    if matches!(track, Some(t) if t != "inbound" && t != "inbound_track") {
                        continue;
                    }
                    let Some(payload) =
                        media.and_then(|m| m.get("payload")).and_then(Value::as_str)
                    else {
                        tracing::warn!("media message without payload");
                        continue;
                    };
                    ulaw.clear();
                    if let Err(e) = b64.decode_vec(payload, &mut ulaw) {
                        let chunk = media.and_then(|m| m.get("chunk")).cloned();
                        tracing::warn!(error = %e, ?chunk, "media payload is not base64; skipped");
                        continue;
                    }
                    pcm.clear();
                    pcm.extend(
                        ulaw.iter()
                            .map(|&b| f32::from(g711::ulaw_decode(b)) / 32768.0),
                    );
                    if session.push_f32(&pcm) {
                        if let Some(action) = session.on_beep.clone() {
                            spawn_action(
                                &state,
                                &session,
                                action,
                                start.stream_sid.clone(),
                                start.call_sid.clone(),
                                tx.clone(),
                                mark_done.clone(),
                            );
                        }
                    }
                }
                Some("mark") => {
                    let name = v
                        .pointer("/mark/name")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    tracing::debug!(name, "mark played");
                    if name == PLAYBACK_MARK {
                        mark_done.notify_one();
                    }
                }
                Some("dtmf") => {
                    let digit = v
                        .pointer("/dtmf/digit")
                        .and_then(Value::as_str)
                        .unwrap_or("");
                    tracing::info!(digit, "dtmf");
                }
                Some("stop") => break,
                other => tracing::debug!(event = ?other, "ignored message"),
            }
        }
        session.finish();
        drop(tx);
        let _ = writer.await;
    }
    .instrument(span)
    .await
}

fn spawn_action(
    state: &Arc<AppState>,
    session: &CallSession,
    action: crate::config::BeepAction,
    stream_sid: String,
    call_sid: Option<String>,
    tx: mpsc::Sender<Message>,
    mark_done: Arc<Notify>,
) {
    let state = state.clone();
    let call_id = session.call_id.clone();
    let span = tracing::info_span!("on_beep", call_id = %call_id, platform = "twilio");
    tokio::spawn(
        async move {
            let pcm = match crate::playback::render(
                &action,
                8000,
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
            let b64 = base64::engine::general_purpose::STANDARD;
            let mut msgs = vec![json!({"event": "clear", "streamSid": stream_sid})];
            for chunk in pcm.chunks(OUT_CHUNK) {
                let bytes = g711::ulaw_encode_slice(chunk);
                msgs.push(json!({"event": "media", "streamSid": stream_sid,
                                 "media": {"payload": b64.encode(bytes)}}));
            }
            let played = !pcm.is_empty();
            if played {
                msgs.push(json!({"event": "mark", "streamSid": stream_sid,
                                 "mark": {"name": PLAYBACK_MARK}}));
            }
            // Twilio buffers outbound media and plays it in order; the mark comes back when
            // the last chunk has played.
            for m in msgs {
                if tx.send(Message::Text(m.to_string().into())).await.is_err() {
                    tracing::info!("call closed during playback");
                    return;
                }
            }
            drop(tx);
            if played {
                let audio = Duration::from_millis(pcm.len() as u64 / 8);
                let heard = tokio::time::timeout(audio + MARK_GRACE, mark_done.notified())
                    .await
                    .is_ok();
                record_action(
                    &state,
                    &call_id,
                    json!({"action": "play", "ms": audio.as_millis() as u64,
                           "mark_received": heard}),
                );
            }
            if action.hangup {
                let r = match &call_sid {
                    Some(sid) => {
                        crate::control::twilio_hangup(&state.http, &state.config.twilio, sid).await
                    }
                    None => Err("no callSid in `start`; cannot hang up".into()),
                };
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
    }
}
