//! Tympan's network shell for live answering-machine detection.
//!
//! Routes (details in `crates/server/README.md`):
//! - open: `GET /v1/media/vonage`, `GET /v1/media/twilio` (media websockets),
//!   `GET|POST /v1/vonage/answer` (answer webhook), `GET /healthz`, `GET /metrics`
//! - control (bearer token, see [`auth`]): `GET /v1/events` (websocket of events),
//!   `GET /v1/calls/{id}`
//!
//! All decisions are made by the sans-I/O detector (`tympan_amd`); this crate only moves
//! bytes. One call loop ([`call_task`]) serves every transport.

pub mod analyzer;
pub mod auth;
pub mod call_task;
pub mod calls;
pub mod config;
pub mod control;
pub mod ids;
pub mod metrics;
pub mod playback;
pub mod registry;
pub mod transport;
pub mod ws;

pub use transport::{twilio, vonage};

pub use analyzer::amd_factory;
use analyzer::AnalyzerFactory;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use config::ServerConfig;
use registry::{Found, Registry};
use serde::Deserialize;
use serde_json::{json, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

/// Events buffered for slow `/v1/events` subscribers before they miss some (they are then
/// sent `{"type":"lagged","missed":N}`).
pub const EVENT_BUFFER: usize = 4096;
/// Interval between pings on `/v1/events`.
pub const EVENTS_PING_INTERVAL: Duration = Duration::from_secs(20);
/// After the grace period and the closing of live calls, how long shutdown waits for their
/// tasks to record their end.
pub const SHUTDOWN_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// One published message: the call it belongs to and its JSON text.
#[derive(Debug)]
pub struct Published {
    /// The call the message is about.
    pub call_id: Arc<str>,
    /// The JSON text sent to subscribers.
    pub text: Arc<str>,
}

/// The server's shutdown phases, watched by every call task and events subscriber.
pub struct Shutdown(watch::Sender<u8>);

const RUNNING: u8 = 0;
const DRAINING: u8 = 1;
const ENDING: u8 = 2;

impl Shutdown {
    fn new() -> Self {
        Shutdown(watch::channel(RUNNING).0)
    }

    /// A receiver for [`Shutdown::ending`].
    pub fn subscribe(&self) -> watch::Receiver<u8> {
        self.0.subscribe()
    }

    /// True once the server stopped accepting calls.
    pub fn draining(&self) -> bool {
        *self.0.borrow() >= DRAINING
    }

    /// Resolves when live calls must end now (grace period over); never if the server is
    /// dropped first.
    pub async fn ending(rx: &mut watch::Receiver<u8>) {
        if rx.wait_for(|p| *p >= ENDING).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    fn set(&self, phase: u8) {
        self.0.send_if_modified(|p| {
            let changed = *p < phase;
            *p = (*p).max(phase);
            changed
        });
    }
}

/// Shared server state.
pub struct AppState {
    /// The configuration the server started with.
    pub config: ServerConfig,
    /// Makes one detector per call.
    pub factory: AnalyzerFactory,
    /// Live calls and the bounded history.
    pub calls: Registry,
    /// Fan-out to `/v1/events` subscribers.
    pub events: broadcast::Sender<Arc<Published>>,
    /// Client for call-control requests.
    pub http: reqwest::Client,
    /// Tokens accepted on the control routes (`config.api_tokens`; see [`auth`]).
    pub tokens: auth::Tokens,
    /// Counters for `/metrics`.
    pub metrics: metrics::Metrics,
    /// Shutdown phase.
    pub shutdown: Shutdown,
}

impl AppState {
    /// State with the given detector factory; control routes accept `config.api_tokens`.
    pub fn new(config: ServerConfig, factory: AnalyzerFactory) -> Arc<Self> {
        let tokens = auth::Tokens::new(config.api_tokens.iter().cloned());
        Self::with_tokens(config, factory, tokens)
    }

    /// State with explicit tokens (from [`auth::resolve_tokens`]).
    pub fn with_tokens(
        config: ServerConfig,
        factory: AnalyzerFactory,
        tokens: auth::Tokens,
    ) -> Arc<Self> {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Arc::new(AppState {
            calls: Registry::new(
                config.max_concurrent_calls,
                config.max_calls_kept,
                config.history_max_bytes,
            ),
            config,
            factory,
            events,
            http: reqwest::Client::new(),
            tokens,
            metrics: metrics::Metrics::default(),
            shutdown: Shutdown::new(),
        })
    }

    /// Send one JSON value about `call_id` to the `/v1/events` subscribers (none is fine).
    pub fn publish(&self, call_id: &str, v: &Value) {
        if self.events.receiver_count() == 0 {
            return;
        }
        let _ = self.events.send(Arc::new(Published {
            call_id: Arc::from(call_id),
            text: Arc::from(v.to_string()),
        }));
    }
}

/// Routes open to the network: media websockets, the answer webhook, health and metrics.
pub fn public_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/v1/media/vonage", get(vonage::media_ws))
        .route("/v1/media/twilio", get(twilio::media_ws))
        .route(
            "/v1/vonage/answer",
            get(vonage::answer).post(vonage::answer),
        )
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Control routes, behind the bearer-token check.
pub fn control_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/events", get(events_ws))
        .route("/v1/calls/{id}", get(get_call))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Every route on one router.
pub fn router(state: Arc<AppState>) -> Router {
    public_router(state.clone()).merge(control_router(state))
}

/// The bound sockets a server runs on.
pub struct Listeners {
    /// Public routes (and the control routes when `control` is `None`).
    pub main: TcpListener,
    /// The control routes' own listener (`control_listen`).
    pub control: Option<TcpListener>,
    /// Asterisk AudioSocket (TCP) connections (`audiosocket_listen`).
    pub audiosocket: Option<TcpListener>,
}

impl Listeners {
    /// Bind `config.listen` and, when set, `config.control_listen`.
    pub async fn bind(config: &ServerConfig) -> std::io::Result<Self> {
        let with = |addr: &str| {
            let addr = addr.to_owned();
            move |e: std::io::Error| std::io::Error::new(e.kind(), format!("{addr}: {e}"))
        };
        let main = TcpListener::bind(&config.listen)
            .await
            .map_err(with(&config.listen))?;
        let control = match &config.control_listen {
            Some(a) => Some(TcpListener::bind(a).await.map_err(with(a))?),
            None => None,
        };
        let audiosocket = match &config.audiosocket_listen {
            Some(a) => Some(TcpListener::bind(a).await.map_err(with(a))?),
            None => None,
        };
        Ok(Listeners {
            main,
            control,
            audiosocket,
        })
    }
}

/// Serve every route on an already bound listener until the future is dropped or fails.
pub async fn serve(listener: TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

/// Serve until `shutdown` resolves, then drain: stop accepting, give live calls
/// `shutdown_grace_s` to end, close the rest (1001), and return once their records are
/// closed.
pub async fn run(
    listeners: Listeners,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let mut servers = tokio::task::JoinSet::new();
    let main_router = if listeners.control.is_some() {
        public_router(state.clone())
    } else {
        router(state.clone())
    };
    let main = listeners.main;
    let stop = stopped();
    servers.spawn(async move {
        axum::serve(main, main_router)
            .with_graceful_shutdown(stop)
            .await
    });
    if let Some(l) = listeners.control {
        let control = control_router(state.clone());
        let stop = stopped();
        servers.spawn(async move { axum::serve(l, control).with_graceful_shutdown(stop).await });
    }
    if let Some(l) = listeners.audiosocket {
        let stop = stopped();
        let st = state.clone();
        servers.spawn(async move {
            transport::audiosocket::serve(l, st, stop).await;
            Ok(())
        });
    }
    if let Some(sock) = transport::sip::bind_configured(&state.config.sip).await? {
        let stop = stopped();
        let st = state.clone();
        servers.spawn(async move {
            transport::sip::serve(sock, st, stop).await;
            Ok(())
        });
    }
    tokio::select! {
        _ = shutdown => {}
        Some(r) = servers.join_next() => {
            // A listener failed: stop the rest the same way.
            let _ = stop_tx.send(true);
            state.shutdown.set(ENDING);
            return r.map_err(std::io::Error::other)?;
        }
    }
    tracing::info!(
        live = state.calls.live_count(),
        "shutting down: no new calls"
    );
    state.shutdown.set(DRAINING);
    let _ = stop_tx.send(true);
    wait_for_calls(&state, state.config.shutdown_grace()).await;
    if state.calls.live_count() > 0 {
        tracing::warn!(
            live = state.calls.live_count(),
            "grace period over; closing live calls"
        );
    }
    state.shutdown.set(ENDING);
    wait_for_calls(&state, SHUTDOWN_CLOSE_WAIT).await;
    // The HTTP servers stop once their in-flight requests are done.
    let _ = tokio::time::timeout(SHUTDOWN_CLOSE_WAIT, async {
        while servers.join_next().await.is_some() {}
    })
    .await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_calls(state: &AppState, limit: Duration) {
    let _ = tokio::time::timeout(limit, async {
        loop {
            let ended = state.calls.ended.notified();
            if state.calls.live_count() == 0 {
                return;
            }
            ended.await;
        }
    })
    .await;
}

/// Resolves on SIGTERM or ctrl-c (SIGINT).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async {
                match term.as_mut() {
                    Some(t) => { t.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(
        json!({"status": if state.shutdown.draining() { "draining" } else { "ok" },
                "calls_live": state.calls.live_count(),
                "calls_kept": state.calls.history_len(),
                "event_subscribers": state.events.receiver_count()}),
    )
}

async fn get_call(State(state): State<Arc<AppState>>, Path(id): Path<String>) -> Response {
    match state.calls.get(&id) {
        Some(Found::Live(r)) => Json(r).into_response(),
        Some(Found::Ended(json)) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            json.to_string(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no call `{}` (unknown or forgotten)", id.escape_default())})),
        )
            .into_response(),
    }
}

/// Query of `/v1/events`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Only this call's messages.
    pub call_id: Option<String>,
}

async fn events_ws(
    Query(q): Query<EventsQuery>,
    State(state): State<Arc<AppState>>,
    ws: WebSocketUpgrade,
) -> Response {
    // Subscribe before the upgrade completes so nothing published after the 101 is missed.
    let rx = state.events.subscribe();
    ws.on_upgrade(move |s| events_run(state, s, rx, q.call_id))
}

async fn events_run(
    state: Arc<AppState>,
    socket: WebSocket,
    mut rx: broadcast::Receiver<Arc<Published>>,
    only: Option<String>,
) {
    use futures_util::StreamExt;
    let (sink, mut stream) = socket.split();
    let (tx, writer) = ws::spawn_writer(sink, ws::SEND_TIMEOUT);
    let out = ws::WsSender { tx };
    let mut ping = tokio::time::interval(EVENTS_PING_INTERVAL);
    ping.tick().await;
    let mut shutdown = state.shutdown.subscribe();
    loop {
        tokio::select! {
            _ = Shutdown::ending(&mut shutdown) => {
                out.close(call_task::CLOSE_GOING_AWAY, "server shutting down").await;
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
                        if only.as_deref().is_some_and(|id| id != &*p.call_id) {
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
