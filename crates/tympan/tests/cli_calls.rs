//! `tympan calls list|show` on a store a real `tympan call` wrote: the call (an unanswered
//! INVITE, retransmitted) is listed, shown as text with its SIP ladder, and as the API's JSON;
//! an unknown id and a missing store are errors naming them.

mod common;

use common::{temp_dir, tympan};

#[test]
fn calls_list_and_show_read_the_store() {
    let port = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    };
    let data = temp_dir("calls_cli");
    let d = data.to_str().unwrap();
    let dest = format!("sip:nobody@127.0.0.1:{port}");
    let out = tympan(&["call", &dest, "--timeout", "1", "--data-dir", d, "--json"]);
    let placed: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("tympan call prints JSON");
    let id = placed["call_id"].as_str().expect("call_id").to_owned();

    let out = tympan(&["calls", "list", "--data-dir", d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("CALL_ID"), "{text}");
    let row = text
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{id} in {text}"));
    assert!(row.contains("sip") && row.contains("ended"), "{row}");

    let out = tympan(&["calls", "list", "--data-dir", d, "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["call_id"], id.as_str(), "{list}");

    let out = tympan(&["calls", "show", &id, "--data-dir", d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(&format!("call {id}\n")), "{text}");
    let invites = text
        .lines()
        .filter(|l| l.contains("-->") && l.contains("INVITE sip:nobody@"))
        .count();
    assert!(
        invites >= 2,
        "the INVITE and its retransmissions in the ladder:\n{text}"
    );
    assert!(text.contains("state ended"), "{text}");

    let out = tympan(&["calls", "show", &id, "--data-dir", d, "--json"]);
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["call_id"], id.as_str());
    assert_eq!(rec["platform"], "sip");
    assert!(
        rec["sip_trace"].as_array().is_some_and(|t| t.len() >= 2),
        "{rec}"
    );
    assert!(rec["sip_trace"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("INVITE "));

    let out = tympan(&["calls", "show", "no-such-call", "--data-dir", d]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-call"));

    let empty = temp_dir("calls_cli_empty");
    let out = tympan(&["calls", "list", "--data-dir", empty.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no store at"));
}
