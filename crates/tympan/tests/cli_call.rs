//! `tympan call`: the JSON result and the exit codes of calls that cannot be answered (the
//! answered ones run against baresip in `crates/server/tests/sip_outbound.rs`).

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
