//! Interop and load with Debian's `sip-tester` (sipp 3.6.1) against the server on loopback:
//! - `scripts/sipp/uac_g711_load.xml`: [`LOAD_CALLS`] concurrent inbound calls, each playing
//!   G.711 u-law RTP from `g711u-speech.pcap` (a LibriSpeech recording) for 7 s and hung up
//!   with BYE; sipp must report every call successful and none failed, Tympan must have
//!   received the RTP (`/metrics`) and kept every call with an AMD verdict (`/v1/calls/{id}`).
//! - `scripts/sipp/uac_digest_auth.xml` with `[sip.auth]` configured: INVITE → 401 → INVITE
//!   with Authorization → 200 → ACK → BYE succeeds; `uac_digest_wrong_password.xml` (wrong
//!   password) must get a second 401 and no call may start.
//!
//! Fails when sipp is missing (scripts/setup.sh installs it). sipp's `play_pcap_audio` sends
//! through a raw socket: it needs root or CAP_NET_RAW.

mod common;

use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;
use tympan_server::config::ServerConfig;
use tympan_server::transport::sip_auth::{SipAuthConfig, SipUser};
use tympan_server::{AppState, Listeners};

/// Concurrent calls of the load scenario in this test (the full run is scripts/sipp-load.sh).
const LOAD_CALLS: usize = 30;
/// Packets in g711u-speech.pcap (7.08 s of 20 ms packets).
const PCAP_PACKETS: u64 = 354;
/// Calls of the digest scenario (each gets its own nonce).
const AUTH_CALLS: usize = 3;

fn sipp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/sipp")
}

/// Panics (the test fails) when sipp cannot run.
fn require_sipp() {
    let out = Command::new("sipp").arg("-v").output().unwrap_or_else(|e| {
        panic!("sipp not runnable ({e}): install Debian's sip-tester (scripts/setup.sh)")
    });
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("SIPp v3."), "unexpected `sipp -v`: {text}");
}

/// `n` distinct free UDP ports on loopback (held until all are chosen).
fn free_udp_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::UdpSocket> = (0..n)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    held.iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect()
}

/// A server with SIP on `sip_port` and an even RTP block of `span` ports.
async fn start_server(
    tag: &str,
    sip_port: u16,
    rtp_base: u16,
    span: u16,
    auth: Option<SipAuthConfig>,
) -> (TestServer, tokio::sync::oneshot::Sender<()>) {
    let mut cfg = ServerConfig {
        api_tokens: vec![TEST_TOKEN.into()],
        data_dir: temp_dir(tag),
        ..Default::default()
    };
    cfg.sip.listen = Some(format!("127.0.0.1:{sip_port}"));
    cfg.sip.rtp_port_min = rtp_base;
    cfg.sip.rtp_port_max = rtp_base + span - 1;
    cfg.sip.max_calls = 2 * LOAD_CALLS;
    cfg.sip.auth = auth;
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = main.local_addr().unwrap();
    let state = AppState::new(cfg, tympan_server::amd_factory())
        .await
        .expect("store opens");
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let listeners = Listeners {
        main,
        control: None,
        audiosocket: None,
    };
    tokio::spawn(tympan_server::run(listeners, state.clone(), async move {
        let _ = rx.await;
    }));
    // The SIP socket is bound by `run`; wait until it answers OPTIONS-free probing by
    // checking that the port is taken.
    for _ in 0..100 {
        if std::net::UdpSocket::bind(("127.0.0.1", sip_port)).is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (TestServer { addr, state }, stop)
}

/// sipp's result: exit status, pid (in the Call-IDs), and the last row of its statistics
/// file as (column, value) pairs.
struct SippRun {
    output: Output,
    pid: u32,
    stats: Vec<(String, String)>,
    errors: String,
    messages: String,
}

impl SippRun {
    fn stat(&self, name: &str) -> u64 {
        self.stats
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("sipp statistic {name} missing: {:?}", self.stats))
    }

    fn describe(&self) -> String {
        format!(
            "status {:?}\nstdout tail: {}\nstderr: {}\nerrors: {}\nmessages (tail): {}",
            self.output.status,
            tail(&String::from_utf8_lossy(&self.output.stdout), 3000),
            String::from_utf8_lossy(&self.output.stderr),
            tail(&self.errors, 3000),
            tail(&self.messages, 6000)
        )
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Runs sipp with `scenario` (copied with the pcap into a fresh directory, which is its
/// working directory) against `127.0.0.1:sip_port`.
async fn run_sipp(tag: &str, scenario: &str, sip_port: u16, args: &[&str]) -> SippRun {
    let dir = temp_dir(&format!("sipp-{tag}"));
    for f in [scenario, "g711u-speech.pcap"] {
        std::fs::copy(sipp_dir().join(f), dir.join(f))
            .unwrap_or_else(|e| panic!("copy scripts/sipp/{f}: {e}"));
    }
    let ports = free_udp_ports(2);
    let stats = dir.join("stats.csv");
    let errors = dir.join("errors.log");
    let mut cmd = Command::new("sipp");
    cmd.current_dir(&dir)
        .arg(format!("127.0.0.1:{sip_port}"))
        .args([
            "-sf",
            scenario,
            "-s",
            "tympan",
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
        ])
        .args(["-nostdin", "-timeout", "60s", "-timeout_error"])
        .args(["-cp", &ports[0].to_string(), "-mp", &ports[1].to_string()])
        .args(["-trace_stat", "-fd", "1", "-stf"])
        .arg(&stats)
        .args(["-trace_err", "-error_file"])
        .arg(&errors)
        .args(["-trace_msg", "-message_file"])
        .arg(dir.join("messages.log"))
        .args(args);
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("sipp starts (scripts/setup.sh installs sip-tester)");
    let pid = child.id();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .expect("sipp runs");
    let csv = std::fs::read_to_string(&stats).unwrap_or_default();
    let mut lines = csv.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split(';')
        .map(str::to_string)
        .collect();
    let last: Vec<String> = lines
        .next_back()
        .unwrap_or("")
        .split(';')
        .map(str::to_string)
        .collect();
    SippRun {
        output,
        pid,
        stats: header.into_iter().zip(last).collect(),
        errors: std::fs::read_to_string(&errors).unwrap_or_default(),
        messages: std::fs::read_to_string(dir.join("messages.log")).unwrap_or_default(),
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

/// The call once it has ended (the store may lag the BYE by a moment).
async fn ended_call(server: &TestServer, id: &str) -> Value {
    for _ in 0..200 {
        let r = server.get(&format!("/v1/calls/{id}")).await;
        if r.status() == 200 {
            let v: Value = r.json().await.unwrap();
            if v["call"]["state"] == "ended" || v["state"] == "ended" {
                return v;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("call {id} never ended in /v1/calls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_load_g711_calls_with_amd() {
    require_sipp();
    let sip_port = free_udp_ports(1)[0];
    let rtp_base = 42_000 + (std::process::id() as u16 % 100) * 200;
    let (server, stop) = start_server("sipp-load", sip_port, rtp_base, 200, None).await;
    let n = LOAD_CALLS.to_string();
    let run = run_sipp(
        "load",
        "uac_g711_load.xml",
        sip_port,
        &[
            "-l",
            &n,
            "-m",
            &n,
            "-r",
            &n,
            "-d",
            "9000",
            "-cid_str",
            "sipp-%u-%p",
        ],
    )
    .await;
    assert!(run.output.status.success(), "{}", run.describe());
    assert_eq!(
        run.stat("SuccessfulCall(C)"),
        LOAD_CALLS as u64,
        "{}",
        run.describe()
    );
    assert_eq!(run.stat("FailedCall(C)"), 0, "{}", run.describe());

    let metrics = server.get("/metrics").await.text().await.unwrap();
    let received = metric(&metrics, "tympan_rtp_packets_received_total");
    assert!(
        received >= LOAD_CALLS as u64 * PCAP_PACKETS * 95 / 100,
        "RTP packets received {received} of {} sent\n{metrics}",
        LOAD_CALLS as u64 * PCAP_PACKETS
    );
    for i in 1..=LOAD_CALLS {
        let id = format!("sipp-{i}-{}", run.pid);
        let c = ended_call(&server, &id).await;
        let call = if c["call"].is_object() {
            &c["call"]
        } else {
            &c
        };
        assert_eq!(call["platform"], "sip", "{id}: {c}");
        assert!(
            call["answered_by"].is_string(),
            "{id} has no AMD verdict: {c}"
        );
        // The pcap is 7 s of speech: most of it reached the call core.
        let audio_ms = call["audio_ms"].as_u64().unwrap_or(0);
        assert!(audio_ms >= 6_000, "{id}: audio_ms {audio_ms}: {c}");
    }
    let _ = stop.send(());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_digest_auth_accepts_right_and_refuses_wrong_password() {
    require_sipp();
    let sip_port = free_udp_ports(1)[0];
    let rtp_base = 44_000 + (std::process::id() as u16 % 100) * 200;
    let auth = SipAuthConfig {
        realm: "tympan.test".into(),
        nonce_lifetime_s: 60,
        // sipp 3.6.1 computes MD5 only (from the first challenge).
        algorithms: vec!["MD5".into()],
        users: vec![SipUser {
            username: "alice".into(),
            password: "s3cret".into(),
        }],
    };
    let (server, stop) = start_server("sipp-auth", sip_port, rtp_base, 40, Some(auth)).await;
    let m = AUTH_CALLS.to_string();
    // sipp's digest-uri defaults to sip:host:port; Tympan checks it is the Request-URI.
    let auth_uri = format!("tympan@127.0.0.1:{sip_port}");
    let ok = run_sipp(
        "auth",
        "uac_digest_auth.xml",
        sip_port,
        &[
            "-au",
            "alice",
            "-ap",
            "s3cret",
            "-auth_uri",
            &auth_uri,
            "-m",
            &m,
            "-l",
            &m,
            "-d",
            "1000",
            "-cid_str",
            "sipp-auth-%u-%p",
        ],
    )
    .await;
    assert!(ok.output.status.success(), "{}", ok.describe());
    assert_eq!(
        ok.stat("SuccessfulCall(C)"),
        AUTH_CALLS as u64,
        "{}",
        ok.describe()
    );
    assert_eq!(ok.stat("FailedCall(C)"), 0, "{}", ok.describe());
    for i in 1..=AUTH_CALLS {
        let id = format!("sipp-auth-{i}-{}", ok.pid);
        let c = ended_call(&server, &id).await;
        let call = if c["call"].is_object() {
            &c["call"]
        } else {
            &c
        };
        assert_eq!(call["platform"], "sip", "{id}: {c}");
    }

    let bad = run_sipp(
        "auth-bad",
        "uac_digest_wrong_password.xml",
        sip_port,
        &[
            "-au",
            "alice",
            "-ap",
            "wrong",
            "-auth_uri",
            &auth_uri,
            "-m",
            &m,
            "-l",
            &m,
            "-cid_str",
            "sipp-bad-%u-%p",
        ],
    )
    .await;
    assert!(bad.output.status.success(), "{}", bad.describe());
    assert_eq!(
        bad.stat("SuccessfulCall(C)"),
        AUTH_CALLS as u64,
        "{}",
        bad.describe()
    );
    assert_eq!(bad.stat("FailedCall(C)"), 0, "{}", bad.describe());
    for i in 1..=AUTH_CALLS {
        let id = format!("sipp-bad-{i}-{}", bad.pid);
        let r = server.get(&format!("/v1/calls/{id}")).await;
        assert_eq!(r.status(), 404, "{id} must not have become a call");
    }
    let _ = stop.send(());
}
