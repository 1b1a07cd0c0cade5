//! Interop with a real SIP phone: Debian's `baresip` (1.0.0) dials Tympan over SIP/UDP on
//! loopback, plays a WAV (espeak-ng greeting, silence, a 1 kHz beep, silence) through its
//! `aufile` source and sends RFC 4733 digit 5 (`sndcode`) over its `ctrl_tcp` netstring
//! interface. Tympan must answer, run AMD on the G.711 audio (beep and result), report the
//! digit and end the call with `call_end`; baresip's RTCP reports reach the call's
//! `media_quality`. A second call runs `flows/voicemail-drop.json`: the message is spoken after
//! the beep and the flow hangs up. Fails when baresip or espeak-ng is missing.

mod common;

use common::baresip::{free_ports, Baresip};

use common::*;
use serde_json::{json, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tympan_server::config::{BeepAction, ServerConfig};
use tympan_server::{AppState, Listeners};

/// Where the beep starts in the synthesised file, relative to its start, is computed; this
/// is its length.
const BEEP_MS: usize = 600;

/// A start for a block of 20 even RTP ports, away from the ephemeral range.
fn rtp_block(salt: u16) -> u16 {
    let base = 30_000 + (std::process::id() as u16 % 500) * 40 + salt * 20;
    base & !1
}

/// The audio baresip plays: 300 ms silence, an espeak-ng greeting, 700 ms silence, a 600 ms
/// 1 kHz beep, then 20 s of silence (baresip's aufile ends the call at end of file).
/// Returns the WAV bytes and where the beep starts, in ms.
async fn greeting_wav() -> (Vec<u8>, u64) {
    let say = BeepAction {
        say: Some("Hello, you have reached the voicemail of John Smith. I cannot take your call right now. Please leave a message after the tone.".into()),
        ..Default::default()
    };
    let speech = tympan_server::playback::render(&say, 8000, "espeak-ng", Path::new("."))
        .await
        .expect("espeak-ng must be installed (scripts/setup.sh) to synthesise the greeting");
    assert!(
        speech.len() > 8000,
        "espeak-ng produced {} samples",
        speech.len()
    );
    let mut x: Vec<f32> = vec![0.0; 2400];
    x.extend(speech.iter().map(|&s| s as f32 / 32768.0));
    x.extend(std::iter::repeat_n(0.0, 5600));
    let beep_at = (x.len() as u64) * 1000 / 8000;
    for i in 0..BEEP_MS * 8 {
        x.push(0.4 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 8000.0).sin());
    }
    x.extend(std::iter::repeat_n(0.0, 20 * 8000));
    let audio = tympan_audio::Audio::mono(8000, x);
    (
        tympan_audio::wav_write::encode_wav(&audio, tympan_audio::wav_write::Codec::Pcm16),
        beep_at,
    )
}

fn start_baresip(sip_port: u16, ctrl_port: u16, wav: &[u8], rtp_salt: u16) -> Baresip {
    let dir = std::env::temp_dir().join(format!(
        "tympan-sip-baresip-{}-{}",
        std::process::id(),
        sip_port
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join("source.wav");
    std::fs::write(&src, wav).unwrap();
    let rtp = rtp_block(rtp_salt);
    let config = format!(
        "poll_method\t\tepoll\n\
         sip_listen\t\t127.0.0.1:{sip_port}\n\
         audio_source\t\taufile,{src}\n\
         audio_player\t\taufile,/dev/null\n\
         module_path\t\t/usr/lib/baresip/modules\n\
         module\t\t\taccount.so\n\
         module\t\t\tg711.so\n\
         module\t\t\taufile.so\n\
         module\t\t\tctrl_tcp.so\n\
         module_app\t\tmenu.so\n\
         ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}\n\
         rtp_ports\t\t{rtp}-{}\n",
        rtp + 20,
        src = src.display()
    );
    std::fs::write(dir.join("config"), config).unwrap();
    std::fs::write(dir.join("accounts"), "<sip:baresip@127.0.0.1>;regint=0\n").unwrap();
    std::fs::write(dir.join("contacts"), "").unwrap();
    let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
    let child = Command::new("baresip")
        .arg("-f")
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("baresip must be installed (Debian package baresip; scripts/setup.sh)");
    Baresip { child, dir }
}

/// One ctrl_tcp command as a netstring (`LEN:JSON,`).
async fn command(ctrl: &mut TcpStream, cmd: &str, params: &str) {
    let body = json!({"command": cmd, "params": params, "token": cmd}).to_string();
    let frame = format!("{}:{},", body.len(), body);
    ctrl.write_all(frame.as_bytes()).await.unwrap();
}

async fn connect_ctrl(port: u16, bs: &Baresip) -> TcpStream {
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("baresip ctrl_tcp never listened; log:\n{}", bs.log());
}

/// Reads and discards what ctrl_tcp sends (responses and events), so it never blocks.
fn drain(mut ctrl: TcpStream) -> tokio::task::JoinHandle<Vec<u8>> {
    tokio::spawn(async move {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = ctrl.read(&mut buf).await {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        all
    })
}

async fn next_of_call(events: &mut Ws, seen: &std::sync::Mutex<Vec<Value>>, want: &str) -> Value {
    loop {
        let v = next_json(events).await.unwrap_or_else(|| {
            panic!(
                "events closed waiting for {want}; seen {:#?}",
                seen.lock().unwrap()
            )
        });
        if v.get("call_id").is_some() {
            seen.lock().unwrap().push(v.clone());
        }
        if want.is_empty() || v["type"] == want {
            return v;
        }
    }
}

/// A server answering SIP on `sip_port` (and running `flow` on its calls), with the events
/// websocket open.
struct Running {
    state: std::sync::Arc<AppState>,
    events: Ws,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn start_server(sip_port: u16, tag: &str, flow: Option<&Path>, rtp_salt: u16) -> Running {
    let mut cfg = ServerConfig {
        api_tokens: vec![TEST_TOKEN.into()],
        ..Default::default()
    };
    cfg.sip.listen = Some(format!("127.0.0.1:{sip_port}"));
    let rtp0 = rtp_block(rtp_salt);
    cfg.sip.rtp_port_min = rtp0;
    cfg.sip.rtp_port_max = rtp0 + 20;
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = main.local_addr().unwrap();
    cfg.data_dir = temp_dir(tag);
    let state = AppState::new(cfg, tympan_server::amd_factory())
        .await
        .expect("store opens");
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let listeners = Listeners {
        main,
        control: None,
        audiosocket: None,
    };
    if let Some(f) = flow {
        state.set_flow(std::sync::Arc::new(
            tympan_server::flows::FlowSetup::load(f).expect("the flow loads"),
        ));
    }
    let server = tokio::spawn(tympan_server::run(listeners, state.clone(), async move {
        let _ = rx.await;
    }));
    let events = ws_connect(addr, "/v1/events", Some(TEST_TOKEN))
        .await
        .expect("events websocket");
    Running {
        state,
        events,
        stop,
        server,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_dials_tympan_amd_dtmf_and_hangup() {
    let (wav, beep_at) = greeting_wav().await;
    let p = free_ports(3);
    let (sip_port, bs_sip_port, ctrl_port) = (p[0], p[1], p[2]);
    let Running {
        state,
        mut events,
        stop,
        server,
    } = start_server(sip_port, "sip_baresip", None, 0).await;

    let bs = start_baresip(bs_sip_port, ctrl_port, &wav, 1);
    let seen = std::sync::Mutex::new(Vec::new());
    let outcome = tokio::time::timeout(Duration::from_secs(90), async {
        let mut ctrl = connect_ctrl(ctrl_port, &bs).await;
        command(&mut ctrl, "dial", &format!("sip:test@127.0.0.1:{sip_port}")).await;
        let start = next_of_call(&mut events, &seen, "call_start").await;
        assert_eq!(start["platform"], "sip", "{start}");
        let call_id = start["call_id"].as_str().unwrap().to_owned();
        // The result (machine_start, while the greeting plays) and the beep come in either
        // order.
        let (mut beep, mut result) = (None, None);
        while beep.is_none() || result.is_none() {
            let v = next_of_call(&mut events, &seen, "").await;
            match v["type"].as_str() {
                Some("beep") => beep = Some(v),
                Some("result") => result = Some(v),
                _ => {}
            }
        }
        let (beep, result) = (beep.unwrap(), result.unwrap());
        command(&mut ctrl, "sndcode", "5").await;
        let dtmf = next_of_call(&mut events, &seen, "dtmf").await;
        command(&mut ctrl, "hangup", "").await;
        let end = next_of_call(&mut events, &seen, "call_end").await;
        let _reader = drain(ctrl);
        (call_id, beep, result, dtmf, end)
    })
    .await;
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let (call_id, beep, result, dtmf, end) = match outcome {
        Ok(v) => v,
        Err(_) => panic!(
            "the call did not complete in 90 s; events {seen:#?}\nbaresip log:\n{}",
            bs.log()
        ),
    };
    let log = bs.log();
    drop(bs);
    // The beep is where the file has it (media time of the call = RTP timestamps).
    let at = beep["beep"]["start_ms"].as_u64().expect("beep.start_ms");
    assert!(
        at + 100 >= beep_at && at <= beep_at + 300,
        "beep at {at} ms, the file has it at {beep_at} ms: {beep}"
    );
    let f = beep["beep"]["frequency_hz"].as_f64().unwrap();
    assert!((f - 1000.0).abs() < 30.0, "beep frequency {f}");
    let answered_by = result["result"]["answered_by"]
        .as_str()
        .or(result["answered_by"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(
        answered_by.starts_with("machine"),
        "a greeting ending in a beep is a machine: {result}"
    );
    assert_eq!(dtmf["digit"], "5", "{dtmf}");
    assert_eq!(end["call_id"], call_id.as_str());
    assert!(
        seen.iter().any(|v| v["type"] == "remote_hangup"),
        "baresip hung up: expected a remote_hangup signal in {seen:#?}\nbaresip log:\n{log}"
    );
    // The record is closed with the same events, and baresip's RTCP reports (it sends
    // them by default, from its RTP port + 1) are in its media quality.
    let rec: Value = match state.calls.get(&call_id) {
        Some(tympan_server::registry::Found::Ended(json)) => serde_json::from_str(&json).unwrap(),
        Some(tympan_server::registry::Found::Live(r)) => serde_json::to_value(&*r).unwrap(),
        None => panic!("call {call_id} not recorded"),
    };
    let q = &rec["media_quality"];
    assert!(
        q["reports_received"].as_u64().unwrap_or(0) >= 1,
        "baresip's RTCP received: {q}\nbaresip log:\n{log}"
    );
    assert_eq!(q["bad_packets"], 0, "{q}");
    assert!(q["remote_cname"].is_string(), "baresip's SDES CNAME: {q}");
    assert!(q["remote_ssrc"].is_u64(), "{q}");
    assert!(
        q["reports_sent"].as_u64().unwrap_or(0) >= 2,
        "our reports and BYE: {q}"
    );
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(20), server).await;
    let _ = std::io::stderr().flush();
}

/// The shipped `flows/voicemail-drop.json` on a call from baresip: its greeting is AMD's
/// machine, the flow waits for the beep, speaks its message into the call after it and hangs
/// up with a BYE (baresip does not hang up first: its file runs 20 s past the beep).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_call_runs_the_voicemail_drop_flow() {
    let (wav, beep_at) = greeting_wav().await;
    let p = free_ports(3);
    let (sip_port, bs_sip_port, ctrl_port) = (p[0], p[1], p[2]);
    let flow = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows/voicemail-drop.json");
    let Running {
        state,
        mut events,
        stop,
        server,
    } = start_server(sip_port, "sip_baresip_flow", Some(&flow), 2).await;
    let bs = start_baresip(bs_sip_port, ctrl_port, &wav, 3);
    let seen = std::sync::Mutex::new(Vec::new());
    let outcome = tokio::time::timeout(Duration::from_secs(90), async {
        let mut ctrl = connect_ctrl(ctrl_port, &bs).await;
        command(&mut ctrl, "dial", &format!("sip:test@127.0.0.1:{sip_port}")).await;
        let start = next_of_call(&mut events, &seen, "call_start").await;
        let call_id = start["call_id"].as_str().unwrap().to_owned();
        let end = next_of_call(&mut events, &seen, "call_end").await;
        let _reader = drain(ctrl);
        (call_id, end)
    })
    .await;
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    let (call_id, _end) = match outcome {
        Ok(v) => v,
        Err(_) => panic!(
            "the call did not end in 90 s; events {seen:#?}\nbaresip log:\n{}",
            bs.log()
        ),
    };
    let log = bs.log();
    drop(bs);
    assert!(
        !seen.iter().any(|v| v["type"] == "remote_hangup"),
        "the flow hangs up, not baresip: {seen:#?}"
    );
    let rec: Value = match state.calls.get(&call_id) {
        Some(tympan_server::registry::Found::Ended(json)) => serde_json::from_str(&json).unwrap(),
        _ => panic!("call {call_id} not ended"),
    };
    let actions = rec["actions"].as_array().unwrap();
    let flow = actions
        .iter()
        .find(|a| a["action"] == "flow")
        .unwrap_or_else(|| panic!("a flow action in {actions:#?}\nbaresip log:\n{log}"));
    let entries = flow["trace"]["entries"].as_array().unwrap();
    let blocks: Vec<&str> = entries
        .iter()
        .map(|e| e["block"].as_str().unwrap())
        .collect();
    assert_eq!(blocks, ["detect", "leave_message", "bye"], "{flow:#}");
    assert!(
        rec["answered_by"]
            .as_str()
            .unwrap_or("")
            .starts_with("machine"),
        "{rec:#}"
    );
    // The message starts once the beep is over (flow time and media time both count from
    // the call's start; 200 ms of slack for the detector's hop and the RTP path).
    let message_at = entries[1]["entered_at_ms"].as_u64().unwrap();
    let beep_end = beep_at + BEEP_MS as u64;
    assert!(
        message_at + 200 >= beep_end,
        "message at {message_at} ms, the beep ends at {beep_end} ms"
    );
    // It was played in full into the call, then the flow hung up.
    let play = actions
        .iter()
        .find(|a| a["flow_prompt"].is_u64())
        .expect("the message's play");
    assert!(play["ms"].as_u64().unwrap_or(0) > 4000, "{play}");
    assert!(
        actions.iter().any(|a| a["action"] == "hangup"),
        "{actions:#?}"
    );
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(20), server).await;
}
