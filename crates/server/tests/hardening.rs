//! Security and reliability of the server shell: hostile ids, live-id claims, bearer tokens,
//! the control listener, the call cap, stalls, per-call event subscriptions and the drain on
//! shutdown.

mod common;

use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio_tungstenite::tungstenite::Message;
use tympan_server::config::{BeepAction, ServerConfig};
use tympan_server::{AppState, Listeners};

async fn close_of(ws: &mut Ws) -> (u16, String) {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("close within the wait");
        match m {
            Some(Ok(Message::Close(Some(f)))) => return (f.code.into(), f.reason.to_string()),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a reason"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error instead of a close: {e}"),
        }
    }
}

fn vonage_header(uuid: &str) -> Message {
    Message::Text(
        json!({"content-type": "audio/l16;rate=8000", "uuid": uuid})
            .to_string()
            .into(),
    )
}

#[tokio::test]
async fn hostile_ids_are_refused_and_never_reach_call_control() {
    let ctl = RecordingCallControl::start().await;
    let mut cfg = config_with_control(&ctl);
    // Every call that got as far as a beep would hang up through the stand-in.
    cfg.on_beep = Some(BeepAction {
        hangup: true,
        ..Default::default()
    });
    let server = TestServer::start(cfg).await;
    let beep_call = le_bytes(&to_i16(&greeting_then_beep(8000)));
    for hostile in ["..", "%2e%2e", "abc?x=1", "a/b"] {
        let mut ws = server.ws("/v1/media/vonage").await;
        ws.send(vonage_header(hostile)).await.unwrap();
        // Audio anyway, as an attacker would.
        let _ = ws.send(Message::Binary(beep_call.clone().into())).await;
        let (code, reason) = close_of(&mut ws).await;
        assert_eq!(code, 1008, "{hostile}: {reason}");
        assert!(
            reason.contains("uuid") && reason.contains("refused"),
            "{hostile}: {reason}"
        );
    }
    for hostile in ["..", "abc?x=1"] {
        let mut ws = server.ws("/v1/media/twilio").await;
        let start = json!({"event": "start", "start": {"streamSid": "MZ1", "callSid": hostile,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}});
        ws.send(Message::Text(start.to_string().into()))
            .await
            .unwrap();
        let (code, reason) = close_of(&mut ws).await;
        assert_eq!(code, 1008, "{hostile}: {reason}");
        assert!(reason.contains("callSid"), "{reason}");
    }
    // A legitimate call with a beep does reach the stand-in: the check above is not vacuous.
    let mut ws = server.ws("/v1/media/vonage").await;
    ws.send(vonage_header("legit-1")).await.unwrap();
    ws.send(Message::Binary(beep_call.into())).await.unwrap();
    let req = ctl.first_request().await;
    assert_eq!(req.path, "/v1/calls/legit-1");
    let paths: Vec<String> = ctl
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        paths,
        ["/v1/calls/legit-1"],
        "only the legitimate call was hung up"
    );
    assert_eq!(
        server.state.calls.history_len() + server.state.calls.live_count(),
        1
    );
}

#[tokio::test]
async fn a_second_connection_cannot_claim_a_live_call() {
    let server = TestServer::start(ServerConfig::default()).await;
    let mut first = server.ws("/v1/media/vonage").await;
    first.send(vonage_header("taken")).await.unwrap();
    first
        .send(Message::Binary(vec![0u8; 320].into()))
        .await
        .unwrap();
    // Wait until the first call is live.
    tokio::time::timeout(WAIT, async {
        while server.state.calls.live_count() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let mut second = server.ws("/v1/media/vonage").await;
    second.send(vonage_header("taken")).await.unwrap();
    second
        .send(Message::Binary(vec![1u8; 3200].into()))
        .await
        .unwrap();
    let (code, reason) = close_of(&mut second).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("already live"), "{reason}");
    // The first call is untouched and goes on.
    first
        .send(Message::Binary(vec![0u8; 320].into()))
        .await
        .unwrap();
    first.close(None).await.unwrap();
    let call = tokio::time::timeout(WAIT, async {
        loop {
            let c = server.get_json("/v1/calls/taken").await;
            if c["state"] == "ended" {
                return c;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    // 640 bytes at 8 kHz = 40 ms: the second connection's 3200 bytes were never merged.
    assert_eq!(call["audio_ms"], 40, "{call}");
}

#[tokio::test]
async fn control_routes_need_the_bearer_token() {
    let server = TestServer::start(ServerConfig::default()).await;
    let http = reqwest::Client::new();
    for path in ["/v1/calls/x", "/v1/events"] {
        let r = http.get(server.http(path)).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} without a token");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let r = http
            .get(server.http(path))
            .bearer_auth("test-token-0123456788")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{path} with a wrong token");
    }
    assert!(ws_connect(server.addr, "/v1/events", None).await.is_err());
    assert!(ws_connect(server.addr, "/v1/events", Some("nope"))
        .await
        .is_err());
    let mut events = ws_connect(server.addr, "/v1/events", Some(TEST_TOKEN))
        .await
        .expect("events with the token");
    // With the token: a finished call answers 200.
    let mut media = server.ws("/v1/media/vonage").await;
    media.send(vonage_header("authed")).await.unwrap();
    media
        .send(Message::Binary(vec![0u8; 1600].into()))
        .await
        .unwrap();
    media.close(None).await.unwrap();
    let msgs = events_until_end(&mut events, "authed").await;
    assert_eq!(msgs.last().unwrap()["type"], "call_end");
    let r = server.get("/v1/calls/authed").await;
    assert_eq!(r.status(), 200);
    // Open routes stay open.
    for path in ["/healthz", "/metrics"] {
        let r = http.get(server.http(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn a_server_without_tokens_refuses_every_control_request() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::with_tokens(
        ServerConfig {
            data_dir: common::temp_dir("no-tokens"),
            ..Default::default()
        },
        tympan_server::amd_factory(),
        tympan_server::auth::Tokens::default(),
    )
    .await
    .unwrap();
    tokio::spawn(tympan_server::serve(listener, state));
    let r = reqwest::Client::new()
        .get(format!("http://{addr}/v1/calls/x"))
        .bearer_auth("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn control_listen_serves_the_control_routes_alone() {
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let control = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (main_addr, control_addr) = (main.local_addr().unwrap(), control.local_addr().unwrap());
    let cfg = ServerConfig {
        api_tokens: vec![TEST_TOKEN.into()],
        data_dir: common::temp_dir("control-listen"),
        ..Default::default()
    };
    let state = AppState::new(cfg, tympan_server::amd_factory())
        .await
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tympan_server::run(
        Listeners {
            main,
            control: Some(control),
            audiosocket: None,
        },
        state,
        async move {
            let _ = stop_rx.await;
        },
    ));
    let http = reqwest::Client::new();
    let get = |addr: std::net::SocketAddr, path: &str| {
        http.get(format!("http://{addr}{path}"))
            .bearer_auth(TEST_TOKEN)
            .send()
    };
    assert_eq!(get(main_addr, "/v1/calls/x").await.unwrap().status(), 404);
    assert_eq!(get(main_addr, "/v1/events").await.unwrap().status(), 404);
    assert_eq!(get(main_addr, "/healthz").await.unwrap().status(), 200);
    // On the control listener: the call is unknown (404 after auth), unauthenticated is 401,
    // and the public routes are not there.
    let r = get(control_addr, "/v1/calls/x").await.unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("no call"),
        "{body}"
    );
    let r = http
        .get(format!("http://{control_addr}/v1/calls/x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(get(control_addr, "/healthz").await.unwrap().status(), 404);
    assert!(ws_connect(control_addr, "/v1/events", Some(TEST_TOKEN))
        .await
        .is_ok());
    stop_tx.send(()).unwrap();
    tokio::time::timeout(WAIT, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn calls_beyond_max_concurrent_calls_are_told_to_try_again_later() {
    let cfg = ServerConfig {
        max_concurrent_calls: 1,
        ..Default::default()
    };
    let server = TestServer::start(cfg).await;
    let mut first = server.ws("/v1/media/vonage").await;
    first.send(vonage_header("one")).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while server.state.calls.live_count() == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    let mut second = server.ws("/v1/media/vonage").await;
    second.send(vonage_header("two")).await.unwrap();
    let (code, reason) = close_of(&mut second).await;
    assert_eq!(code, 1013);
    assert!(reason.contains("try again later"), "{reason}");
    assert!(reason.contains("max_concurrent_calls"), "{reason}");
    first.close(None).await.unwrap();
}

#[tokio::test]
async fn a_silent_media_stream_is_ended_after_the_stall_timeout() {
    let cfg = ServerConfig {
        media_stall_timeout_s: 1,
        ..Default::default()
    };
    let server = TestServer::start(cfg).await;
    let mut ws = server.ws("/v1/media/vonage").await;
    ws.send(vonage_header("stalled")).await.unwrap();
    ws.send(Message::Binary(vec![0u8; 320].into()))
        .await
        .unwrap();
    let (code, reason) = close_of(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("media_stall_timeout_s"), "{reason}");
    let call = tokio::time::timeout(WAIT, async {
        loop {
            let c = server.get_json("/v1/calls/stalled").await;
            if c["state"] == "ended" {
                return c;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(call["audio_ms"], 20);
}

#[tokio::test]
async fn events_can_be_subscribed_per_call() {
    let server = TestServer::start(ServerConfig::default()).await;
    let mut only_b = server.ws("/v1/events?call_id=call-b").await;
    for id in ["call-a", "call-b"] {
        let mut media = server.ws("/v1/media/vonage").await;
        media.send(vonage_header(id)).await.unwrap();
        media
            .send(Message::Binary(vec![0u8; 1600].into()))
            .await
            .unwrap();
        media.close(None).await.unwrap();
        // Wait for this call to end before the next starts, so order is known.
        tokio::time::timeout(WAIT, async {
            while server.state.calls.get(id).is_none() || server.state.calls.live_count() > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
    }
    let first = next_json(&mut only_b).await.unwrap();
    assert_eq!(first["call_id"], "call-b", "{first}");
    assert_eq!(first["type"], "call_start");
    loop {
        let v = next_json(&mut only_b).await.unwrap();
        assert_eq!(v["call_id"], "call-b", "{v}");
        if v["type"] == "call_end" {
            break;
        }
    }
    // Unknown query keys are refused.
    let r = server.get("/v1/events?callid=x").await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(body.contains("callid"), "{body}");
}

#[tokio::test]
async fn shutdown_stops_accepting_then_closes_calls_after_the_grace_period() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cfg = ServerConfig {
        api_tokens: vec![TEST_TOKEN.into()],
        shutdown_grace_s: 1,
        data_dir: common::temp_dir("shutdown"),
        ..Default::default()
    };
    let state = AppState::new(cfg, tympan_server::amd_factory())
        .await
        .unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tympan_server::run(
        Listeners {
            main: listener,
            control: None,
            audiosocket: None,
        },
        Arc::clone(&state),
        async move {
            let _ = stop_rx.await;
        },
    ));
    // One call that ends during the grace period, one that does not.
    let mut polite = ws_connect(addr, "/v1/media/vonage", None).await.unwrap();
    polite.send(vonage_header("polite")).await.unwrap();
    let mut stubborn = ws_connect(addr, "/v1/media/vonage", None).await.unwrap();
    stubborn.send(vonage_header("stubborn")).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while state.calls.live_count() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    stop_tx.send(()).unwrap();
    tokio::time::timeout(WAIT, async {
        while !state.shutdown.draining() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    // No new connections once draining (the listener is closed).
    tokio::time::timeout(WAIT, async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("listener closed");
    // The live calls still work.
    polite
        .send(Message::Binary(vec![0u8; 160].into()))
        .await
        .unwrap();
    polite.close(None).await.unwrap();
    let (code, reason) = close_of(&mut stubborn).await;
    assert_eq!(code, 1001);
    assert!(reason.contains("shutting down"), "{reason}");
    tokio::time::timeout(WAIT, server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(state.calls.live_count(), 0);
    for id in ["polite", "stubborn"] {
        assert!(
            matches!(
                state.calls.get(id),
                Some(tympan_server::registry::Found::Ended(_))
            ),
            "{id} recorded as ended"
        );
    }
}
