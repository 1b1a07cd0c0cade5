//! The server's side of persistence: opening the store at start-up (calls a crash left active
//! are marked ended, event numbering continues), pruning, and the routes that read the store:
//! `GET /v1/calls/{id}`, `GET /v1/calls` and `/v1/events?since=SEQ`.
//!
//! Writes go through [`tympan_store::Writer`] (`AppState::publish`, the call task): the audio
//! path never awaits the database.

use crate::call_task::CLOSE_GOING_AWAY;
use crate::config::ServerConfig;
use crate::registry::{CallRecord, Found};
use crate::{ws, AppState, Published, Shutdown};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tympan_store::{
    CallFilter, CallRow, CallState, PruneLimit, Store, StoreError, Writer, WriterConfig,
    MAX_EVENTS_LIMIT, MAX_LIST_LIMIT,
};

/// How often the store is pruned to `max_calls_kept` / `history_max_bytes` (also once at
/// start-up).
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// At start-up: mark the calls a crashed process left active as ended, prune once, start
/// the writer and the pruning task. Returns the writer and the last event seq stored.
pub async fn start(
    store: &Arc<dyn Store>,
    config: &ServerConfig,
) -> Result<(Writer, i64), StoreError> {
    let ended = store.mark_active_calls_ended(crate::unix_ms()).await?;
    if ended > 0 {
        tracing::warn!(
            calls = ended,
            "calls left active by an earlier process marked ended"
        );
    }
    let last_seq = store.max_event_seq().await?;
    let limit = PruneLimit {
        keep_calls: Some(config.max_calls_kept as u64),
        keep_bytes: Some(config.history_max_bytes as u64),
    };
    prune(store, &limit).await;
    let writer = Writer::spawn(store.clone(), WriterConfig::default());
    let s = store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(PRUNE_INTERVAL);
        tick.tick().await;
        loop {
            tick.tick().await;
            prune(&s, &limit).await;
        }
    });
    tracing::info!(backend = store.backend(), last_seq, "store open");
    Ok((writer, last_seq))
}

async fn prune(store: &Arc<dyn Store>, limit: &PruneLimit) {
    match store.prune(limit).await {
        Ok(r) if r.calls > 0 => tracing::info!(calls = r.calls, events = r.events, "store pruned"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "store prune failed"),
    }
}

fn error(status: StatusCode, msg: String) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

fn store_error(e: StoreError) -> Response {
    tracing::error!(error = %e, "store read failed");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("the store failed: {e}"),
    )
}

/// Body of an error response.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What was wrong, naming the parameter or id.
    pub error: String,
}

/// `GET /v1/calls/{id}`: live calls from memory, recently ended ones from the cache, others
/// from the store.
#[utoipa::path(get, path = "/v1/calls/{id}", tag = "control",
    params(("id" = String, Path, description = "The call id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The call with its result, events and actions", body = CallRecord),
        (status = 404, description = "Unknown (or pruned) call", body = ErrorBody),
        (status = 401, description = "No or wrong bearer token")))]
pub async fn get_call(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.calls.get(&id) {
        Some(Found::Live(mut r)) => {
            if r.platform == "sip" {
                match stored_sip_trace(&state, &id).await {
                    Ok(t) => r.sip_trace = t,
                    Err(e) => return store_error(e),
                }
            }
            return Json(r).into_response();
        }
        Some(Found::Ended(json)) => {
            // A SIP call's trace is in the store, not in the cache (its first messages come
            // before the call's record exists).
            if let Ok(mut v) = serde_json::from_str::<Value>(&json) {
                if v["platform"] == "sip" {
                    match stored_sip_trace(&state, &id).await {
                        Ok(t) => v["sip_trace"] = Value::Array(t),
                        Err(e) => return store_error(e),
                    }
                    return Json(v).into_response();
                }
            }
            return (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                json.to_string(),
            )
                .into_response();
        }
        None => {}
    }
    let mut found = match state.store.get_call(&id).await {
        Ok(f) => f,
        Err(e) => return store_error(e),
    };
    // Not live, but missing or still active in the store: its last rows may be queued.
    if found
        .as_ref()
        .is_none_or(|d| d.call.state == CallState::Active)
    {
        if let Err(e) = state.writer.flush().await {
            tracing::warn!(error = %e, "store flush before a read failed");
        }
        found = match state.store.get_call(&id).await {
            Ok(f) => f,
            Err(e) => return store_error(e),
        };
    }
    match found {
        Some(d) => Json(CallRecord::from_detail(d)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            format!("no call `{}` (unknown or pruned)", id.escape_default()),
        ),
    }
}

/// A call's SIP trace from the store, after the writer committed what is queued.
async fn stored_sip_trace(state: &AppState, id: &str) -> Result<Vec<Value>, StoreError> {
    if let Err(e) = state.writer.flush().await {
        tracing::warn!(error = %e, "store flush before a read failed");
    }
    Ok(crate::registry::sip_trace_json(
        state.store.sip_trace(id).await?,
    ))
}

/// One page of `GET /v1/calls`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CallList {
    /// Calls, newest first (without events and actions).
    pub calls: Vec<CallSummary>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A call in a list.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CallSummary {
    /// The call's id.
    pub call_id: String,
    /// `vonage`, `twilio` or `audiosocket`.
    pub platform: String,
    /// `active` or `ended`.
    #[schema(value_type = String)]
    pub state: &'static str,
    /// Samples per second.
    pub sample_rate: u32,
    /// Start, unix ms.
    pub started_at: i64,
    /// End, unix ms.
    pub ended_at: Option<i64>,
    /// Audio received, ms.
    pub audio_ms: u64,
    /// The AMD verdict once known.
    pub answered_by: Option<String>,
    /// The AMD result once known.
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    /// Events not kept.
    pub events_dropped: u64,
}

impl From<CallRow> for CallSummary {
    fn from(c: CallRow) -> Self {
        CallSummary {
            call_id: c.call_id,
            platform: c.platform,
            state: c.state.as_str(),
            sample_rate: c.sample_rate,
            started_at: c.started_at,
            ended_at: c.ended_at,
            audio_ms: c.audio_ms,
            answered_by: c.answered_by,
            result: c.result,
            events_dropped: c.events_dropped,
        }
    }
}

/// The query of `GET /v1/calls` as a store filter; errors name the parameter.
pub fn call_filter(q: &HashMap<String, String>) -> Result<CallFilter, String> {
    let mut f = CallFilter::default();
    for (k, v) in q {
        match k.as_str() {
            "state" => {
                f.state = Some(CallState::parse(v).ok_or_else(|| {
                    format!(
                        "parameter `state`: `{}` is not active or ended",
                        v.escape_default()
                    )
                })?)
            }
            "answered_by" => f.answered_by = Some(v.clone()),
            "since" => {
                f.since = Some(v.parse().map_err(|_| {
                    format!(
                        "parameter `since`: `{}` is not a unix time in ms",
                        v.escape_default()
                    )
                })?)
            }
            "limit" => {
                let n: u32 = v.parse().map_err(|_| {
                    format!(
                        "parameter `limit`: `{}` is not a number",
                        v.escape_default()
                    )
                })?;
                if n == 0 || n > MAX_LIST_LIMIT {
                    return Err(format!(
                        "parameter `limit`: {n} is outside 1..={MAX_LIST_LIMIT}"
                    ));
                }
                f.limit = Some(n);
            }
            "cursor" => f.cursor = Some(v.clone()),
            other => {
                return Err(format!(
                    "unknown parameter `{}` (state, answered_by, since, limit, cursor)",
                    other.escape_default()
                ))
            }
        }
    }
    Ok(f)
}

/// `GET /v1/calls`: stored calls, newest first, one page at a time.
#[utoipa::path(get, path = "/v1/calls", tag = "control",
    params(
        ("state" = Option<String>, Query, description = "`active` or `ended`"),
        ("answered_by" = Option<String>, Query, description = "`human`, `machine`, …"),
        ("since" = Option<i64>, Query, description = "Only calls started at or after this unix time, ms"),
        ("limit" = Option<u32>, Query, description = "Page size, 1..=1000 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of calls", body = CallList),
        (status = 400, description = "A bad parameter, named", body = ErrorBody),
        (status = 401, description = "No or wrong bearer token")))]
pub async fn list_calls(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let filter = match call_filter(&q) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    match state.store.list_calls(&filter).await {
        Ok(page) => Json(CallList {
            calls: page.calls.into_iter().map(CallSummary::from).collect(),
            next_cursor: page.next_cursor,
        })
        .into_response(),
        Err(e @ StoreError::BadCursor { .. }) => {
            error(StatusCode::BAD_REQUEST, format!("parameter `cursor`: {e}"))
        }
        Err(e) => store_error(e),
    }
}

/// Query of `/v1/events`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Only this call's messages.
    pub call_id: Option<String>,
    /// First replay the stored messages with a `seq` above this, then continue live.
    pub since: Option<i64>,
}

/// `GET /v1/events` (websocket).
#[utoipa::path(get, path = "/v1/events", tag = "control",
    params(EventsQuery),
    security(("bearer" = [])),
    responses(
        (status = 101, description = "Websocket of event JSON messages, each with `seq`, `call_id`, `type`"),
        (status = 400, description = "A bad parameter"),
        (status = 401, description = "No or wrong bearer token")))]
pub async fn events_ws(
    Query(q): Query<EventsQuery>,
    State(state): State<Arc<AppState>>,
    ws: WebSocketUpgrade,
) -> Response {
    // Subscribe before the upgrade (and before any replay) so nothing is missed.
    let rx = state.events.subscribe();
    ws::configure(ws).on_upgrade(move |s| events_run(state, s, rx, q))
}

/// Send the stored messages after `since` (of one call or all); returns the last seq sent,
/// or `None` when the subscriber went away.
async fn replay(
    state: &AppState,
    out: &ws::WsSender,
    since: i64,
    only: Option<&str>,
) -> Option<i64> {
    // Everything published before the subscription is queued for the store: commit it.
    if let Err(e) = state.writer.flush().await {
        tracing::warn!(error = %e, "store flush before a replay failed");
    }
    let mut after = since;
    loop {
        let rows = match state
            .store
            .events_since(after, only, MAX_EVENTS_LIMIT)
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "event replay failed");
                let text = json!({"type": "replay_failed", "error": e.to_string()}).to_string();
                out.send(Message::Text(text.into())).await;
                return Some(after);
            }
        };
        let n = rows.len();
        for r in rows {
            after = r.seq;
            if !out.send(Message::Text(r.body.to_string().into())).await {
                return None;
            }
        }
        if n < MAX_EVENTS_LIMIT as usize {
            return Some(after);
        }
    }
}

async fn events_run(
    state: Arc<AppState>,
    socket: WebSocket,
    mut rx: broadcast::Receiver<Arc<Published>>,
    q: EventsQuery,
) {
    use futures_util::StreamExt;
    let only = q.call_id;
    let (sink, mut stream) = socket.split();
    let (tx, writer) = ws::spawn_writer(sink, ws::SEND_TIMEOUT);
    let out = ws::WsSender { tx };
    // Live messages up to this seq were replayed already.
    let mut replayed = i64::MIN;
    if let Some(since) = q.since {
        match replay(&state, &out, since, only.as_deref()).await {
            Some(last) => replayed = last,
            None => {
                drop(out);
                let _ = writer.await;
                return;
            }
        }
    }
    let mut ping = tokio::time::interval(crate::EVENTS_PING_INTERVAL);
    ping.tick().await;
    let mut shutdown = state.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = Shutdown::ending(&mut shutdown) => {
                out.close(CLOSE_GOING_AWAY, "server shutting down").await;
                break;
            }
            _ = out.gone() => break,
            _ = ping.tick() => {
                if !out.send(Message::Ping(Vec::new().into())).await {
                    break;
                }
            }
            ev = rx.recv() => {
                let text: String = match ev {
                    Ok(p) => {
                        if p.seq <= replayed
                            || only.as_deref().is_some_and(|id| id != &*p.call_id)
                        {
                            continue;
                        }
                        p.text.to_string()
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        state.metrics.events_dropped(n);
                        json!({"type": "lagged", "missed": n}).to_string()
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if !out.send(Message::Text(text.into())).await {
                    break;
                }
            }
            msg = stream.next() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
    drop(out);
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn list_parameters_are_parsed_and_bad_ones_named() {
        let f = call_filter(&q(&[
            ("state", "ended"),
            ("answered_by", "machine"),
            ("since", "5"),
            ("limit", "7"),
            ("cursor", "c1.1.61"),
        ]))
        .unwrap();
        assert_eq!(f.state, Some(CallState::Ended));
        assert_eq!(f.answered_by.as_deref(), Some("machine"));
        assert_eq!((f.since, f.limit), (Some(5), Some(7)));
        assert_eq!(f.cursor.as_deref(), Some("c1.1.61"));
        for (k, v) in [
            ("state", "done"),
            ("since", "yesterday"),
            ("limit", "0"),
            ("limit", "1001"),
            ("limit", "x"),
            ("colour", "red"),
        ] {
            let e = call_filter(&q(&[(k, v)])).unwrap_err();
            assert!(e.contains(&format!("`{k}`")), "{k}={v}: {e}");
        }
    }
}
