//! `tympan serve` killed with SIGKILL in the middle of a call: on restart on the same data
//! directory the database opens clean, the call is there (marked ended) and every event that
//! was visible through the API more than a second before the kill is stored.

#[allow(dead_code)]
mod common;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Upper bound on any wait here.
const WAIT: Duration = Duration::from_secs(60);
/// How long the events seen through the API are given to reach the store before the kill
/// (the writer commits every 200 ms; the issue allows the last second to be lost).
const BEFORE_KILL: Duration = Duration::from_millis(1500);
const CALL_ID: &str = "crash-call-1";
/// A call that ended normally before the kill.
const DONE_ID: &str = "crash-done-1";

fn http(addr: &str, path: &str, token: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

fn get_json(addr: &str, path: &str, token: &str) -> Option<Value> {
    let (status, body) = http(addr, path, token);
    (status == 200).then(|| serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")))
}

/// `tympan serve` on a free port with `data_dir`; returns the child and its address.
fn spawn_serve(data_dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tympan"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("TYMPAN_API_TOKEN")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let addr = loop {
        let line = rx.recv_timeout(WAIT).expect("server starts");
        if line.contains("tympan serve listening") {
            let at = line.find("addr=").expect("address in the log line") + 5;
            break line[at..].split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || while rx.recv().is_ok() {});
    (child, addr)
}

/// A client websocket frame (masked, as RFC 6455 requires of clients).
fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n if n <= 0xffff => {
            f.push(0x80 | 126);
            f.extend((n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend((n as u64).to_be_bytes());
        }
    }
    let mask = [0x1b, 0x7e, 0x42, 0x99];
    f.extend(mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// Open the Vonage media websocket (handshake checked) and leave the socket open.
fn vonage_media(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "GET /v1/media/vonage HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// 300 ms of silence, an 800 ms 1 kHz beep (tone events without in-band DTMF), 500 ms silence.
fn call_audio() -> Vec<f32> {
    let mut pcm = tympan_audio::synth::silence(8000, 300.0);
    pcm.extend(tympan_audio::synth::sine(8000, 1000.0, 800.0, -10.0));
    pcm.extend(tympan_audio::synth::silence(8000, 500.0));
    pcm
}

/// Open a Vonage call `id` and stream [`call_audio`] as 20 ms frames; the socket stays open.
fn stream_call(addr: &str, id: &str) -> TcpStream {
    let mut media = vonage_media(addr);
    let header = format!(r#"{{"content-type":"audio/l16;rate=8000","uuid":"{id}"}}"#);
    media.write_all(&ws_frame(0x1, header.as_bytes())).unwrap();
    let bytes: Vec<u8> = call_audio()
        .iter()
        .map(|&v| (v * 32767.0).round().clamp(-32768.0, 32767.0) as i16)
        .flat_map(i16::to_le_bytes)
        .collect();
    for chunk in bytes.chunks(320) {
        media.write_all(&ws_frame(0x2, chunk)).unwrap();
    }
    media.flush().unwrap();
    media
}

fn events_of(call: &Value) -> Vec<Value> {
    call["events"].as_array().cloned().unwrap_or_default()
}

#[test]
fn sigkill_leaves_a_database_that_opens_clean_with_the_call_and_its_events() {
    let dir = common::temp_dir("serve-crash");
    let data = dir.join("data");
    let (mut child, addr) = spawn_serve(&data);
    let token = std::fs::read_to_string(data.join("api-token"))
        .unwrap()
        .trim()
        .to_owned();

    // A call that ends before the kill: it must come back whole.
    let mut done = stream_call(&addr, DONE_ID);
    done.write_all(&ws_frame(0x8, &1000u16.to_be_bytes()))
        .unwrap();
    let t0 = std::time::Instant::now();
    let finished = loop {
        assert!(
            t0.elapsed() < WAIT,
            "the finished call never showed as ended"
        );
        if let Some(c) = get_json(&addr, &format!("/v1/calls/{DONE_ID}"), &token) {
            if c["state"] == "ended" {
                break c;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    drop(done);

    // A call that stays live: no close.
    let media = stream_call(&addr, CALL_ID);
    let audio_ms = (call_audio().len() / 8) as u64;

    // Wait until the call's events (all of the audio analysed) are visible through the API.
    let t0 = std::time::Instant::now();
    let seen = loop {
        assert!(t0.elapsed() < WAIT, "the call's events never showed");
        if let Some(c) = get_json(&addr, &format!("/v1/calls/{CALL_ID}"), &token) {
            if c["audio_ms"].as_u64() == Some(audio_ms) && c["state"] == "active" {
                break events_of(&c);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(seen.len() >= 3, "too few events to test: {seen:#?}");
    assert_eq!(seen[0]["type"], "call_start");
    std::thread::sleep(BEFORE_KILL);

    let st = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed, not exited: {status}");
    drop(media);

    // Restart on the same directory: it opens (migrations, integrity), the call is ended.
    let (mut child, addr) = spawn_serve(&data);
    let (status, body) = http(&addr, &format!("/v1/calls/{CALL_ID}"), &token);
    assert_eq!(status, 200, "the call survived the kill: {body}");
    let c: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(c["state"], "ended", "{c}");
    assert!(c["ended_at"].is_i64(), "{c}");
    let stored = events_of(&c);
    for e in &seen {
        assert!(
            stored.contains(e),
            "event {e} was visible {BEFORE_KILL:?} before the kill but is not stored; stored: \
             {stored:#?}"
        );
    }
    let f = get_json(&addr, &format!("/v1/calls/{DONE_ID}"), &token)
        .expect("the finished call survived the kill");
    assert_eq!(f["state"], "ended", "{f}");
    assert_eq!(f["ended_at"], finished["ended_at"], "{f}");
    assert_eq!(f["audio_ms"], finished["audio_ms"], "{f}");
    assert_eq!(f["result"], finished["result"], "{f}");
    assert!(events_of(&finished).len() >= 3, "{finished}");
    assert_eq!(events_of(&f), events_of(&finished));
    let active = get_json(&addr, "/v1/calls?state=active", &token).unwrap();
    assert_eq!(active["calls"], serde_json::json!([]), "{active}");

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
