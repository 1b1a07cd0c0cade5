//! Persistence through the store: a restart (a new `AppState` on the same data dir) keeps
//! every finished call with its result and events; listing with filters and cursor
//! pagination; `/v1/events?since=SEQ` replays then continues live without gaps or duplicates;
//! calls a crash left active are marked ended; the same through PostgreSQL.

mod common;

#[allow(dead_code)]
#[path = "../../store/tests/common/pg.rs"]
mod pg;

use common::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::path::Path;
use tokio_tungstenite::tungstenite::Message;
use tympan_server::config::ServerConfig;

fn config(dir: &Path) -> ServerConfig {
    ServerConfig {
        data_dir: dir.to_path_buf(),
        ..Default::default()
    }
}

/// Stream `pcm` (16 kHz) as one Vonage call and return its messages up to `call_end`.
async fn call(server: &TestServer, events: &mut Ws, id: &str, pcm: &[f32]) -> Vec<Value> {
    let mut media = server.ws("/v1/media/vonage").await;
    let header = json!({"content-type": "audio/l16;rate=16000", "uuid": id,
                        "amd": {"mode": "detect_message_end"}});
    media
        .send(Message::Text(header.to_string().into()))
        .await
        .unwrap();
    send_l16(&mut media, &le_bytes(&to_i16(pcm)), 640, false).await;
    media.close(None).await.unwrap();
    tokio::time::timeout(WAIT, events_until_end(events, id))
        .await
        .expect("events within the wait")
}

/// Half a second of near-silence: a short call with no verdict of `machine`.
fn quiet() -> Vec<f32> {
    vec![0.0; 8000]
}

async fn stop(server: &TestServer) {
    server.state.writer.shutdown().await.unwrap();
    server.state.store.close().await;
}

async fn restart_keeps_the_call(cfg: ServerConfig) {
    let server = TestServer::start(cfg.clone()).await;
    let mut events = server.ws("/v1/events").await;
    let msgs = call(
        &server,
        &mut events,
        "persist-1",
        &greeting_then_beep(16000),
    )
    .await;
    let result = assert_beep_dropin_result(&msgs, "persist-1");
    let seqs: Vec<i64> = msgs.iter().map(|m| m["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    stop(&server).await;

    let again = TestServer::start(cfg).await;
    let c = again.get_json("/v1/calls/persist-1").await;
    assert_eq!(c["state"], "ended", "{c}");
    assert_eq!(c["platform"], "vonage");
    assert_eq!(c["audio_ms"], SIGNAL_MS);
    assert_eq!(c["result"], result);
    assert_eq!(c["answered_by"], "machine_end_beep");
    assert!(c["ended_at"].as_i64().unwrap() >= c["started_at"].as_i64().unwrap());
    let stored: Vec<&Value> = c["events"].as_array().unwrap().iter().collect();
    // Every typed event the subscriber saw, action_done aside, is stored, same JSON.
    let seen: Vec<&Value> = msgs
        .iter()
        .filter(|m| m.get("type").is_some() && m["type"] != "action_done")
        .collect();
    assert_eq!(stored, seen);
    assert!(stored.iter().any(|e| e["type"] == "beep"));
    // Numbering continues after the restart.
    let mut events = again.ws("/v1/events").await;
    let next = call(&again, &mut events, "persist-2", &quiet()).await;
    assert!(
        next[0]["seq"].as_i64().unwrap() > *seqs.last().unwrap(),
        "{} after {seqs:?}",
        next[0]
    );
    assert_eq!(
        again.get("/v1/calls/nope").await.status(),
        reqwest::StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_restart_keeps_every_finished_call_with_its_result_and_events() {
    restart_keeps_the_call(config(&temp_dir("restart"))).await;
}

#[tokio::test]
async fn a_restart_keeps_calls_in_postgresql() {
    let mut cfg = config(&temp_dir("restart-pg"));
    cfg.database_url = Some(pg::fresh_schema_url("server_restart").await);
    restart_keeps_the_call(cfg).await;
}

#[tokio::test]
async fn calls_are_listed_with_filters_and_cursor_pagination() {
    let server = TestServer::start(config(&temp_dir("list"))).await;
    let mut events = server.ws("/v1/events").await;
    call(
        &server,
        &mut events,
        "list-beep",
        &greeting_then_beep(16000),
    )
    .await;
    for id in ["list-q1", "list-q2"] {
        call(&server, &mut events, id, &quiet()).await;
    }
    server.state.writer.flush().await.unwrap();

    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/calls?limit=2&cursor={c}"),
            None => "/v1/calls?limit=2".to_owned(),
        };
        let page = server.get_json(&path).await;
        let calls = page["calls"].as_array().unwrap();
        assert!(calls.len() <= 2, "{page}");
        ids.extend(
            calls
                .iter()
                .map(|c| c["call_id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 5, "pagination does not end");
    }
    ids.sort();
    assert_eq!(ids, ["list-beep", "list-q1", "list-q2"]);
    assert!(pages >= 2);

    let m = server
        .get_json("/v1/calls?answered_by=machine_end_beep&state=ended")
        .await;
    let got: Vec<&str> = m["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["list-beep"]);
    assert_eq!(m["calls"][0]["result"]["answered_by"], "machine_end_beep");
    let active = server.get_json("/v1/calls?state=active").await;
    assert_eq!(active["calls"], json!([]));
    let future = server.get_json("/v1/calls?since=99999999999999").await;
    assert_eq!(future["calls"], json!([]));

    for (q, name) in [
        ("state=done", "state"),
        ("limit=0", "limit"),
        ("since=soon", "since"),
        ("cursor=zzz", "cursor"),
        ("colour=red", "colour"),
    ] {
        let r = server.get(&format!("/v1/calls?{q}")).await;
        assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST, "{q}");
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"].as_str().unwrap().contains(&format!("`{name}`")),
            "{q}: {e}"
        );
    }
}

#[tokio::test]
async fn events_since_replays_the_store_then_continues_live_without_gaps() {
    let server = TestServer::start(config(&temp_dir("since"))).await;
    let mut events = server.ws("/v1/events").await;
    let first = call(&server, &mut events, "since-a", &greeting_then_beep(16000)).await;
    let second = call(&server, &mut events, "since-b", &quiet()).await;
    let all: Vec<Value> = first.iter().chain(&second).cloned().collect();

    // From the middle of the first call: the rest of it, all of the second, then live.
    let mid = first[first.len() / 2]["seq"].as_i64().unwrap();
    let mut replay = server.ws(&format!("/v1/events?since={mid}")).await;
    let want: Vec<&Value> = all
        .iter()
        .filter(|m| m["seq"].as_i64().unwrap() > mid)
        .collect();
    for w in &want {
        let got = next_json(&mut replay).await.unwrap();
        assert_eq!(&got, *w);
    }
    // Live continues after the replay: a new call, each message once, in seq order.
    let live = call(&server, &mut events, "since-c", &quiet()).await;
    let mut last = want.last().unwrap()["seq"].as_i64().unwrap();
    for w in &live {
        let got = next_json(&mut replay).await.unwrap();
        assert_eq!(&got, w);
        let seq = got["seq"].as_i64().unwrap();
        assert!(seq > last, "{seq} after {last}");
        last = seq;
    }

    // One call's stored messages only.
    let mut one = server.ws("/v1/events?since=0&call_id=since-b").await;
    for w in &second {
        assert_eq!(next_json(&mut one).await.unwrap(), *w);
    }
    let r = server.get("/v1/events?since=x").await;
    assert_eq!(r.status(), reqwest::StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn calls_left_active_by_a_crash_are_ended_at_start_up() {
    let dir = temp_dir("crash-left");
    let store = tympan_store::open(&config(&dir).store_config())
        .await
        .unwrap();
    store
        .upsert_call(&tympan_store::CallRow {
            call_id: "orphan".into(),
            platform: "vonage".into(),
            state: tympan_store::CallState::Active,
            sample_rate: 16000,
            started_at: 1_000,
            ended_at: None,
            audio_ms: 500,
            answered_by: None,
            result: None,
            events_dropped: 0,
        })
        .await
        .unwrap();
    store.close().await;
    let server = TestServer::start(config(&dir)).await;
    let c = server.get_json("/v1/calls/orphan").await;
    assert_eq!(c["state"], "ended", "{c}");
    assert!(c["ended_at"].as_i64().unwrap() > 1_000);
    let m = server.get("/metrics").await.text().await.unwrap();
    assert!(m.contains("\ntympan_store_write_lag_ms "), "{m}");
    assert!(m.contains("\ntympan_store_writes_dropped_total 0\n"), "{m}");
}
