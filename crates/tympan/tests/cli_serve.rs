//! `tympan serve` as a process: the token file on first start, the database in the data
//! directory, 401 without the token, the open OpenAPI document, and a SIGTERM that drains and
//! exits 0.

#[allow(dead_code)]
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Upper bound on any wait here.
const WAIT: Duration = Duration::from_secs(60);

fn http_get(addr: &str, path: &str, token: Option<&str>) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Start `tympan serve` on a free port; returns the child, its address and a channel of its
/// stderr lines.
fn spawn_serve(data_dir: &std::path::Path) -> (Child, String, Vec<String>) {
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
    let mut addr = None;
    let mut lines = Vec::new();
    while addr.is_none() {
        let line = rx.recv_timeout(WAIT).expect("server starts");
        if line.contains("tympan serve listening") {
            let at = line.find("addr=").expect("address in the log line") + 5;
            addr = Some(line[at..].split_whitespace().next().unwrap().to_owned());
        }
        lines.push(line);
    }
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    (child, addr.unwrap(), lines)
}

#[test]
fn serve_creates_a_private_token_refuses_without_it_and_drains_on_sigterm() {
    let dir = common::temp_dir("serve-token");
    let data = dir.join("data");
    let (mut child, addr, logs) = spawn_serve(&data);
    let token_file = data.join("api-token");
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_owned();
    assert!(token.len() >= 32, "{token}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{mode:o}");
    }
    let all = logs.join("\n");
    assert!(
        all.contains(&token_file.display().to_string()),
        "the token file's path is logged: {all}"
    );
    assert!(!all.contains(&token), "the token itself is not logged");
    assert!(http_get(&addr, "/v1/calls/x", None).starts_with("HTTP/1.1 401"));
    assert!(
        http_get(&addr, "/v1/calls/x", Some("wrong-token-0123456789")).starts_with("HTTP/1.1 401")
    );
    assert!(http_get(&addr, "/v1/calls/x", Some(&token)).starts_with("HTTP/1.1 404"));
    assert!(http_get(&addr, "/healthz", None).starts_with("HTTP/1.1 200"));
    // The store lives in the data directory; the API document is open.
    assert!(
        data.join("tympan.db").is_file(),
        "SQLite database in the data dir"
    );
    let spec = http_get(&addr, "/v1/openapi.json", None);
    assert!(spec.starts_with("HTTP/1.1 200"), "{spec}");
    assert!(spec.contains("\"/v1/calls/{id}\""), "{spec}");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait());
    });
    let exit = done_rx
        .recv_timeout(WAIT)
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    // A second start reads the same token back.
    let (mut child, addr, _rx) = spawn_serve(&data);
    assert!(http_get(&addr, "/v1/calls/x", Some(&token)).starts_with("HTTP/1.1 404"));
    child.kill().unwrap();
    let _ = child.wait();
    std::fs::remove_dir_all(&dir).unwrap();
}
