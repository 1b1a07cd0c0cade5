//! `tympan call`: the JSON result and the exit codes of calls that cannot be answered (the
//! answered ones run against baresip in `crates/server/tests/sip_outbound.rs`), and a contact
//! flow (`--flow`) on a call answered by a second Tympan (`tympan serve`).

mod common;

use common::{temp_dir, tympan};

#[test]
fn an_unreachable_destination_is_a_result_with_exit_code_4() {
    // A port where nothing listens.
    let port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let data = temp_dir("call_unreachable");
    let dest = format!("sip:nobody@127.0.0.1:{port}");
    let out = tympan(&[
        "call",
        &dest,
        "--timeout",
        "1",
        "--data-dir",
        data.to_str().unwrap(),
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON result");
    assert_eq!(v["outcome"], "unreachable", "{v}");
    assert_eq!(v["sip_status"], 408, "{v}");
    assert_eq!(v["target"], dest.as_str(), "{v}");
    assert_eq!(v["digits"], "", "{v}");
    assert!(v["answered_by"].is_null(), "{v}");
    // The attempt is in the store.
    assert!(data.join("tympan.db").is_file());
}

#[test]
fn bad_arguments_exit_with_2_naming_them() {
    let data = temp_dir("call_bad");
    let d = data.to_str().unwrap();
    let out = tympan(&["call", "5551234", "--data-dir", d, "--json"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--trunk"), "{err}");
    let out = tympan(&[
        "call",
        "5551234",
        "--trunk",
        "carrier",
        "--data-dir",
        d,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`carrier`") && err.contains("[sip.trunks]"),
        "{err}"
    );
    let out = tympan(&[
        "call",
        "sip:a@127.0.0.1",
        "--play",
        "/nonexistent.wav",
        "--data-dir",
        d,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--play /nonexistent.wav"));
}

/// Kills the child process when the test ends, passed or failed.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_flow_runs_on_the_answered_call() {
    // The callee: `tympan serve` answering SIP on a free port (AMD only, no flow).
    let free = || {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let (sip, http) = (free(), free());
    let dir = temp_dir("call_flow");
    let callee = Killed(
        std::process::Command::new(env!("CARGO_BIN_EXE_tympan"))
            .args(["serve", "--listen", &format!("127.0.0.1:{http}")])
            .args(["--sip-listen", &format!("127.0.0.1:{sip}")])
            .arg("--data-dir")
            .arg(dir.join("callee"))
            .env_remove("TYMPAN_API_TOKEN")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait until it answers OPTIONS.
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .unwrap();
    let me = probe.local_addr().unwrap().port();
    let options = format!(
        "OPTIONS sip:test@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};branch=z9hG4bKp\r\n\
         Max-Forwards: 70\r\nFrom: <sip:p@127.0.0.1>;tag=p\r\nTo: <sip:test@127.0.0.1>\r\n\
         Call-ID: probe-{me}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    let mut buf = [0u8; 4096];
    let up = (0..300).any(|_| {
        probe
            .send_to(options.as_bytes(), ("127.0.0.1", sip))
            .unwrap();
        probe.recv_from(&mut buf).is_ok()
    });
    assert!(up, "tympan serve never answered OPTIONS");

    let flow = dir.join("hello.json");
    std::fs::write(
        &flow,
        r#"{"version": 1, "id": "hello", "start": "hello", "blocks": [
            {"id": "hello", "type": "play", "prompt": {"text": "Hello, this is a test call."},
             "next": "bye"},
            {"id": "bye", "type": "hangup", "reason": "done"}]}"#,
    )
    .unwrap();
    let out = tympan(&[
        "call",
        &format!("sip:test@127.0.0.1:{sip}"),
        "--flow",
        flow.to_str().unwrap(),
        "--timeout",
        "30",
        "--data-dir",
        dir.join("caller").to_str().unwrap(),
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("JSON result");
    assert_eq!(v["outcome"], "answered", "{v}");
    assert_eq!(v["ended_by"], "local", "the flow hung up: {v}");
    let f = &v["flow"];
    assert_eq!(f["flow"], "hello", "{v}");
    let blocks: Vec<&str> = f["trace"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["block"].as_str().unwrap())
        .collect();
    assert_eq!(blocks, ["hello", "bye"], "{f}");
    // The prompt (about 1.5 s) was played before the hang-up.
    let left = f["trace"]["entries"][0]["left_at_ms"].as_u64().unwrap();
    assert!(left >= 1000, "{f}");
    drop(callee);

    // A flow that does not validate is a bad argument (exit 2) naming the file.
    std::fs::write(
        &flow,
        r#"{"version": 1, "id": "x", "start": "nowhere", "blocks": []}"#,
    )
    .unwrap();
    let out = tympan(&[
        "call",
        "sip:test@127.0.0.1:9",
        "--flow",
        flow.to_str().unwrap(),
        "--data-dir",
        dir.join("caller").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hello.json"), "{err}");
}
