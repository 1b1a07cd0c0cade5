//! Tympan's network shell for live answering-machine detection.
//!
//! Routes (details in `crates/server/README.md`):
//! - `GET  /v1/media/vonage`  — Vonage `audio/l16` media websocket, one detector per call
//! - `GET  /v1/media/twilio`  — Twilio Media Streams websocket (µ-law 8 kHz)
//! - `GET  /v1/events`        — websocket of every AMD event, plus Vonage-sample `beep_detected`
//! - `GET  /v1/calls/{id}`    — a call's result, events and actions (last `max_calls_kept` calls)
//! - `GET|POST /v1/vonage/answer` — answer webhook returning an NCCO to the media websocket
//! - `GET  /healthz`
//!
//! All decisions are made by the sans-I/O detector (`tympan_amd`); this crate only moves bytes.

pub mod analyzer;
pub mod calls;
pub mod config;
pub mod control;
pub mod playback;
pub mod twilio;
pub mod vonage;
pub mod ws;

pub use analyzer::amd_factory;
use analyzer::AnalyzerFactory;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use calls::CallStore;
use config::ServerConfig;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Events buffered for slow `/v1/events` subscribers before they miss some (they are then
/// sent `{"type":"lagged","missed":N}`).
pub const EVENT_BUFFER: usize = 4096;

/// Shared server state.
pub struct AppState {
    /// The configuration the server started with.
    pub config: ServerConfig,
    /// Makes one detector per call.
    pub factory: AnalyzerFactory,
    /// Call history for `GET /v1/calls/{id}`.
    pub calls: Mutex<CallStore>,
    /// Fan-out to `/v1/events` subscribers (JSON text).
    pub events: broadcast::Sender<Arc<str>>,
    /// Client for call-control requests.
    pub http: reqwest::Client,
}

impl AppState {
    /// State with the given detector factory.
    pub fn new(config: ServerConfig, factory: AnalyzerFactory) -> Arc<Self> {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Arc::new(AppState {
            calls: Mutex::new(CallStore::new(config.max_calls_kept)),
            config,
            factory,
            events,
            http: reqwest::Client::new(),
        })
    }

    /// Send one JSON value to every `/v1/events` subscriber (none connected is fine).
    pub fn publish(&self, v: Value) {
        let _ = self.events.send(Arc::from(v.to_string()));
    }
}

/// All routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/media/vonage", get(vonage::media_ws))
        .route("/v1/media/twilio", get(twilio::media_ws))
        .route("/v1/events", get(events_ws))
        .route("/v1/calls/{id}", get(get_call))
        .route(
            "/v1/vonage/answer",
            get(vonage::answer).post(vonage::answer),
        )
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Serve on an already bound listener until the future is dropped or fails.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    let calls = state.calls.lock().unwrap().len();
    Json(json!({"status": "ok", "calls_kept": calls,
                "event_subscribers": state.events.receiver_count()}))
}

async fn get_call(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.calls.lock().unwrap().get(&id) {
        Some(r) => Json(r.clone()).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no call `{id}` (unknown or older than the last {} calls)", state.config.max_calls_kept)})),
        )
            .into_response(),
    }
}

async fn events_ws(ws: WebSocketUpgrade, State(state): State<Arc<AppState>>) -> Response {
    // Subscribe before the upgrade completes so nothing published after the 101 is missed.
    let rx = state.events.subscribe();
    ws.on_upgrade(move |s| events_run(s, rx))
}

async fn events_run(mut socket: WebSocket, mut rx: broadcast::Receiver<Arc<str>>) {
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let text: String = match ev {
                    Ok(t) => t.to_string(),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        json!({"type": "lagged", "missed": n}).to_string()
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                if socket.send(Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                _ => {}
            },
        }
    }
}
