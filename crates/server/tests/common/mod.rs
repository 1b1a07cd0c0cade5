//! Shared test helpers: an in-process server, a recording call-control double, test signals
//! and websocket helpers. Every wait is bounded by a timeout.

#![allow(dead_code)]

pub mod baresip;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tympan_server::config::ServerConfig;
use tympan_server::AppState;

/// Upper bound on any single wait in these tests.
pub const WAIT: Duration = Duration::from_secs(30);

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// One request seen by [`RecordingCallControl`].
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub body: String,
}

/// Test double for the Vonage/Twilio call-control APIs: a local HTTP server that records every
/// request and answers 204 (PUT) or 200 with `{}` (anything else).
pub struct RecordingCallControl {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl RecordingCallControl {
    pub async fn start() -> Self {
        use axum::extract::Request;
        use axum::response::IntoResponse;
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let rec = requests.clone();
        let app = axum::Router::new().fallback(move |req: Request| {
            let rec = rec.clone();
            async move {
                let (parts, body) = req.into_parts();
                let bytes = axum::body::to_bytes(body, 1 << 20)
                    .await
                    .unwrap_or_default();
                let h = |n: &str| {
                    parts
                        .headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                rec.lock().unwrap().push(Recorded {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    authorization: h("authorization"),
                    content_type: h("content-type"),
                    body: String::from_utf8_lossy(&bytes).into_owned(),
                });
                if parts.method == axum::http::Method::PUT {
                    axum::http::StatusCode::NO_CONTENT.into_response()
                } else {
                    (axum::http::StatusCode::OK, "{}").into_response()
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        RecordingCallControl { addr, requests }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Wait until at least one request arrived.
    pub async fn first_request(&self) -> Recorded {
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(r) = self.requests.lock().unwrap().first().cloned() {
                    return r;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("call-control request within the wait")
    }
}

/// A fresh directory under the system temp dir (left behind for inspection; names are
/// unique per process and call).
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let p = std::env::temp_dir().join(format!(
        "tympan-server-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

/// The API token every [`TestServer`] accepts unless its config sets others.
pub const TEST_TOKEN: &str = "test-token-0123456789";

/// A running server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
}

impl TestServer {
    pub async fn start(config: ServerConfig) -> Self {
        Self::start_with(config, tympan_server::amd_factory()).await
    }

    pub async fn start_with(
        mut config: ServerConfig,
        factory: tympan_server::analyzer::AnalyzerFactory,
    ) -> Self {
        if config.api_tokens.is_empty() {
            config.api_tokens = vec![TEST_TOKEN.into()];
        }
        if config.data_dir == ServerConfig::default().data_dir {
            config.data_dir = temp_dir("server");
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = AppState::new(config, factory)
            .await
            .expect("open the store");
        let s = state.clone();
        tokio::spawn(async move { tympan_server::serve(listener, s).await.unwrap() });
        TestServer { addr, state }
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A websocket to `path` (with the test token, which media routes ignore).
    pub async fn ws(&self, path: &str) -> Ws {
        ws_connect(self.addr, path, Some(TEST_TOKEN))
            .await
            .expect("websocket connect")
    }

    /// GET `path` with the test token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        reqwest::Client::new()
            .get(self.http(path))
            .bearer_auth(TEST_TOKEN)
            .send()
            .await
            .unwrap()
    }

    /// GET `path` with the test token, as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }
}

/// Open a websocket to `addr` + `path`, with `Authorization: Bearer token` when given.
pub async fn ws_connect(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{addr}{path}").into_client_request().unwrap();
    if let Some(t) = token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    let (ws, _) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .expect("connect within the wait")?;
    Ok(ws)
}

/// Config with call control pointed at the recording double.
pub fn config_with_control(ctl: &RecordingCallControl) -> ServerConfig {
    let mut c = ServerConfig::default();
    c.vonage.api_base = ctl.base();
    c.vonage.jwt = Some("test-jwt".into());
    c.twilio.api_base = ctl.base();
    c.twilio.account_sid = Some("ACtest".into());
    c.twilio.auth_token = Some("secret".into());
    c
}

/// Where the beep sits in [`greeting_then_beep`], in ms.
pub const BEEP_START_MS: u64 = 3300;
pub const BEEP_END_MS: u64 = 3800;
pub const SIGNAL_MS: u64 = 4800;

/// A machine-like call: 300 ms of near-silence, 2.6 s of speech-like voiced syllables
/// (harmonic complex, gliding pitch, moving formant, syllabic envelope), 400 ms of silence,
/// a 500 ms 1 kHz beep, then 1 s of silence. Values in [-1, 1].
pub fn greeting_then_beep(rate: u32) -> Vec<f32> {
    let n = (SIGNAL_MS * rate as u64 / 1000) as usize;
    let ms = |i: usize| i as f64 * 1000.0 / rate as f64;
    let mut noise_state: u32 = 12345;
    let mut noise = move || {
        noise_state = noise_state
            .wrapping_mul(1_664_525)
            .wrapping_add(1_013_904_223);
        (noise_state >> 8) as f64 / (1u32 << 24) as f64 - 0.5
    };
    let mut phase = 0.0f64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = ms(i);
        let mut x = 0.0005 * noise();
        if (300.0..2900.0).contains(&t) {
            let ts = (t - 300.0) / 1000.0;
            // Syllables of 220 ms with a short dip between them.
            let syl = (ts * 1000.0 / 220.0).fract();
            let env = (std::f64::consts::PI * syl).sin().powf(0.6) * 0.9 + 0.1;
            let f0 = 120.0 + 35.0 * (2.0 * std::f64::consts::PI * 1.3 * ts).sin();
            phase += 2.0 * std::f64::consts::PI * f0 / rate as f64;
            let formant =
                500.0 + 900.0 * (0.5 + 0.5 * (2.0 * std::f64::consts::PI * 2.1 * ts).sin());
            let mut v = 0.0;
            let mut k = 1.0;
            while k * f0 < (rate as f64 / 2.0).min(3400.0) {
                let fk = k * f0;
                let w = 1.0 / (1.0 + ((fk - formant) / 300.0).powi(2)) + 0.3 / k;
                v += w * (k * phase).sin();
                k += 1.0;
            }
            x += 0.12 * env * v + 0.01 * noise();
        } else if (BEEP_START_MS as f64..BEEP_END_MS as f64).contains(&t) {
            x += 0.4 * (2.0 * std::f64::consts::PI * 1000.0 * t / 1000.0).sin();
        }
        out.push(x.clamp(-1.0, 1.0) as f32);
    }
    out
}

pub fn to_i16(x: &[f32]) -> Vec<i16> {
    x.iter()
        .map(|&v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

pub fn le_bytes(x: &[i16]) -> Vec<u8> {
    x.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Next text message as JSON (skipping pings), or None when the socket closed.
pub async fn next_json(ws: &mut Ws) -> Option<Value> {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("message within the wait")?;
        match m.ok()? {
            Message::Text(t) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// Read `/v1/events` messages until `call_end` for `call_id`; returns that call's messages.
pub async fn events_until_end(events: &mut Ws, call_id: &str) -> Vec<Value> {
    let mut got = Vec::new();
    while let Some(v) = next_json(events).await {
        let mine = v["call_id"] == call_id
            || v["uuids"]
                .as_array()
                .is_some_and(|a| a.iter().any(|u| u == call_id));
        if !mine {
            continue;
        }
        let end = v["type"] == "call_end";
        got.push(v);
        if end {
            break;
        }
    }
    got
}

/// Send the whole signal as binary frames of `frame_bytes`, optionally paced every 20 ms.
pub async fn send_l16(ws: &mut Ws, bytes: &[u8], frame_bytes: usize, paced: bool) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for chunk in bytes.chunks(frame_bytes) {
        if paced {
            tick.tick().await;
        }
        ws.send(Message::Binary(chunk.to_vec().into()))
            .await
            .unwrap();
    }
}

/// Assert the messages include a plausible beep, the drop-in message and a result.
pub fn assert_beep_dropin_result(msgs: &[Value], call_id: &str) -> Value {
    let beep = msgs
        .iter()
        .find(|v| v["type"] == "beep")
        .unwrap_or_else(|| panic!("no beep event in {msgs:#?}"));
    let at = beep["at_ms"].as_u64().unwrap();
    assert!(
        (BEEP_START_MS..=BEEP_END_MS + 500).contains(&at),
        "beep reported at {at} ms; it sounds {BEEP_START_MS}..{BEEP_END_MS}"
    );
    let start = beep["beep"]["start_ms"].as_u64().unwrap();
    assert!(
        start + 150 >= BEEP_START_MS && start <= BEEP_START_MS + 200,
        "beep start {start}"
    );
    let hz = beep["beep"]["frequency_hz"].as_f64().unwrap();
    assert!((hz - 1000.0).abs() < 30.0, "beep frequency {hz}");
    assert!(
        msgs.iter()
            .any(|v| v["beep_detected"] == true && v["uuids"] == serde_json::json!([call_id])),
        "no drop-in beep_detected message"
    );
    let result = msgs
        .iter()
        .find(|v| v["type"] == "result")
        .unwrap_or_else(|| panic!("no result event in {msgs:#?}"));
    assert_eq!(result["call_id"], call_id);
    result["result"].clone()
}

/// Reads what a Tympan AudioSocket server sends its caller, with the transport's own frame
/// decoder: each audio frame's samples go to `on_audio`. True at the hang-up frame, false when
/// the stream ends (or fails) first; any other frame is a test failure.
#[allow(dead_code)] // only the AudioSocket tests read frames
pub async fn read_audiosocket<R: tokio::io::AsyncRead + Unpin>(
    r: &mut R,
    mut on_audio: impl FnMut(Vec<i16>),
) -> bool {
    use tokio::io::AsyncReadExt;
    use tympan_server::transport::audiosocket::{Decoder, Frame};
    let mut decoder = Decoder::default();
    let mut chunk = [0u8; 4096];
    loop {
        let n = r.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return false;
        }
        decoder.push(&chunk[..n]);
        while let Some(frame) = decoder.next_frame().expect("AudioSocket frames") {
            match frame {
                Frame::Hangup => return true,
                Frame::Audio(samples) => on_audio(samples),
                other => panic!("unexpected AudioSocket frame from the server: {other:?}"),
            }
        }
    }
}
