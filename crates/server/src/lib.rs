//! Tympan's network shell for live answering-machine detection.
//!
//! Routes (details in `crates/server/README.md`):
//! - open: `GET /v1/media/vonage`, `GET /v1/media/twilio` (media websockets),
//!   `GET|POST /v1/vonage/answer` (answer webhook), `GET /healthz`, `GET /metrics`
//!   and `GET /v1/openapi.json`
//! - control (bearer token, see [`auth`]): `GET /v1/events` (websocket of events, `?since=`
//!   replays from the store), `GET /v1/calls` (list), `GET /v1/calls/{id}`
//!
//! Calls, events and actions persist through [`tympan_store`] (see [`persist`]).
//!
//! All decisions are made by the sans-I/O detector (`tympan_amd`); this crate only moves
//! bytes. One call loop ([`call_task`]) serves every transport.

pub mod analyzer;
pub mod auth;
pub mod call_task;
pub mod calls;
pub mod config;
pub mod control;
pub mod flows;
pub mod ids;
pub mod metrics;
pub mod openapi;
pub mod outbound;
pub mod persist;
pub mod playback;
pub mod registry;
pub mod report;
pub mod transport;
pub mod ws;

pub use transport::{twilio, vonage};

pub use analyzer::amd_factory;
use analyzer::AnalyzerFactory;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use config::ServerConfig;
use registry::Registry;
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

/// Ended calls kept in memory after their end, for `GET /v1/calls/{id}` while their last
/// rows are on their way to the store.
pub const RECENT_CALLS_CACHED: usize = 1_000;
/// Bound on the JSON bytes of that cache (32 MiB).
pub const RECENT_CACHE_BYTES: usize = 32 << 20;

/// Unix time in ms (the shell's clock; cores get time as an argument).
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One published message: the call it belongs to, its global sequence number and its JSON
/// text (which carries the same `"seq"`).
#[derive(Debug)]
pub struct Published {
    /// The call the message is about.
    pub call_id: Arc<str>,
    /// Global event sequence number (continues across restarts from the store).
    pub seq: i64,
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
    /// Live calls and a small cache of recently ended ones.
    pub calls: Registry,
    /// Where calls, events and actions persist (the history).
    pub store: Arc<dyn tympan_store::Store>,
    /// Batched writes to the store, never awaited on the audio path.
    pub writer: tympan_store::Writer,
    /// The last event `seq` handed out. Held while a message is numbered, queued for the
    /// store and broadcast (no await inside), so subscribers see seqs in order.
    last_seq: std::sync::Mutex<i64>,
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
    /// The contact flow run on every call, if any ([`AppState::set_flow`]).
    flow: std::sync::RwLock<Option<Arc<flows::FlowSetup>>>,
}

impl AppState {
    /// Open the store (`data_dir`, `database_url`), mark calls a crash left active as ended,
    /// continue the event numbering, start the store writer and the pruning task. Control
    /// routes accept `config.api_tokens`.
    pub async fn new(
        config: ServerConfig,
        factory: AnalyzerFactory,
    ) -> Result<Arc<Self>, tympan_store::StoreError> {
        let tokens = auth::Tokens::new(config.api_tokens.iter().cloned());
        Self::with_tokens(config, factory, tokens).await
    }

    /// As [`AppState::new`] with explicit tokens (from [`auth::resolve_tokens`]).
    pub async fn with_tokens(
        config: ServerConfig,
        factory: AnalyzerFactory,
        tokens: auth::Tokens,
    ) -> Result<Arc<Self>, tympan_store::StoreError> {
        let store = tympan_store::open(&config.store_config()).await?;
        let (writer, last_seq) = persist::start(&store, &config).await?;
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Ok(Arc::new(AppState {
            calls: Registry::new(
                config.max_concurrent_calls,
                RECENT_CALLS_CACHED,
                RECENT_CACHE_BYTES,
            ),
            config,
            factory,
            store,
            writer,
            last_seq: std::sync::Mutex::new(last_seq),
            events,
            http: reqwest::Client::new(),
            tokens,
            metrics: metrics::Metrics::default(),
            shutdown: Shutdown::new(),
            flow: std::sync::RwLock::new(None),
        }))
    }

    /// Runs `setup`'s flow on the calls that start from now on (replacing any earlier one).
    pub fn set_flow(&self, setup: Arc<flows::FlowSetup>) {
        *self.flow.write().unwrap_or_else(|p| p.into_inner()) = Some(setup);
    }

    /// The flow new calls run, if any.
    pub fn flow(&self) -> Option<Arc<flows::FlowSetup>> {
        self.flow.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Number one JSON message about `call_id` (its `"seq"` is added), queue it for the store
    /// when `persist` (without waiting), and send it to the `/v1/events` subscribers (none is
    /// fine). Returns the message as published.
    pub fn publish(&self, call_id: &str, v: &Value, persist: bool) -> Value {
        self.publish_then(call_id, std::slice::from_ref(v), persist, |_| {})
            .pop()
            .unwrap_or_default()
    }

    /// [`publish`](Self::publish) each of `msgs` in order, and run `before_send` on the
    /// numbered messages before any subscriber gets them: what a subscriber reads on receipt
    /// (e.g. the ended call with its `call_end` event) is already in place. `before_send`
    /// runs under the numbering lock, so it must not publish.
    pub fn publish_then(
        &self,
        call_id: &str,
        msgs: &[Value],
        persist: bool,
        before_send: impl FnOnce(&[Value]),
    ) -> Vec<Value> {
        let mut last = registry::lock(&self.last_seq);
        let first = *last + 1;
        let values: Vec<Value> = msgs
            .iter()
            .map(|v| {
                *last += 1;
                let mut v = v.clone();
                if let Some(o) = v.as_object_mut() {
                    o.insert("seq".into(), json!(*last));
                }
                self.persist_event(call_id, *last, &v, persist);
                v
            })
            .collect();
        before_send(&values);
        if self.events.receiver_count() > 0 {
            for (seq, v) in (first..).zip(&values) {
                let _ = self.events.send(Arc::new(Published {
                    call_id: Arc::from(call_id),
                    seq,
                    text: Arc::from(v.to_string()),
                }));
            }
        }
        drop(last);
        values
    }

    /// Queue one numbered message for the store when `persist`.
    fn persist_event(&self, call_id: &str, seq: i64, v: &Value, persist: bool) {
        if persist {
            let kind = v
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or(if v.get("beep_detected").is_some() {
                    "beep_detected"
                } else {
                    "message"
                })
                .to_owned();
            self.writer
                .send(tympan_store::Write::Events(vec![tympan_store::EventRow {
                    seq,
                    call_id: call_id.to_owned(),
                    at_ms: v.get("at_ms").and_then(Value::as_i64).unwrap_or(0),
                    kind,
                    body: v.clone(),
                }]));
        }
    }
}

/// A route: its path (axum and OpenAPI share the `{param}` syntax) and its handlers.
pub type Route = (&'static str, axum::routing::MethodRouter<Arc<AppState>>);

/// The open routes: media websockets, the answer webhook, health, metrics, the OpenAPI
/// document. The one list the router is built from (and the OpenAPI test reads).
pub fn public_routes() -> Vec<Route> {
    vec![
        ("/healthz", get(healthz)),
        ("/metrics", get(metrics::metrics)),
        ("/v1/openapi.json", get(openapi::openapi_json)),
        ("/v1/media/vonage", get(vonage::media_ws)),
        ("/v1/media/twilio", get(twilio::media_ws)),
        (
            "/v1/vonage/answer",
            get(vonage::answer).post(vonage::answer),
        ),
    ]
}

/// The control routes (behind the bearer-token check). The one list the router is built
/// from (and the OpenAPI test reads).
pub fn control_routes() -> Vec<Route> {
    vec![
        ("/v1/events", get(persist::events_ws)),
        ("/v1/calls", get(persist::list_calls)),
        ("/v1/calls/{id}", get(persist::get_call)),
        (
            "/v1/flows",
            get(flows::current_flow).post(flows::register_flow),
        ),
    ]
}

/// Every HTTP route path the server registers.
pub fn route_paths() -> Vec<&'static str> {
    public_routes()
        .into_iter()
        .chain(control_routes())
        .map(|(p, _)| p)
        .collect()
}

fn build(routes: Vec<Route>) -> Router<Arc<AppState>> {
    routes
        .into_iter()
        .fold(Router::new(), |r, (path, m)| r.route(path, m))
}

/// Routes open to the network: media websockets, the answer webhook, health and metrics.
pub fn public_router(state: Arc<AppState>) -> Router {
    build(public_routes())
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Control routes, behind the bearer-token check.
pub fn control_router(state: Arc<AppState>) -> Router {
    build(control_routes())
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
    let sip = transport::sip::bind_configured(&state.config.sip).await?;
    if !sip.is_empty() {
        let stop = stopped();
        let st = state.clone();
        servers.spawn(async move {
            transport::sip::serve_all(sip, st, stop).await;
            Ok(())
        });
    }
    tokio::select! {
        _ = shutdown => {}
        Some(r) = servers.join_next() => {
            // A listener failed: stop the rest the same way.
            let _ = stop_tx.send(true);
            state.shutdown.set(ENDING);
            let _ = state.writer.shutdown().await;
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
    match state.writer.shutdown().await {
        Ok(()) => tracing::info!(rows = state.writer.written(), "store flushed"),
        Err(e) => tracing::error!(error = %e, "store flush failed"),
    }
    state.store.close().await;
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

/// `GET /healthz`.
#[utoipa::path(get, path = "/healthz", tag = "open",
    responses((status = 200, description = "`{status: ok|draining, calls_live, calls_kept, event_subscribers}`")))]
pub async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(
        json!({"status": if state.shutdown.draining() { "draining" } else { "ok" },
                "calls_live": state.calls.live_count(),
                "calls_kept": state.calls.history_len(),
                "event_subscribers": state.events.receiver_count()}),
    )
}
