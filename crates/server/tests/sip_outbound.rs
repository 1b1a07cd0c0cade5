//! Outbound SIP calls (`tympan_server::outbound::place_call`, what `tympan call` runs) against
//! a real SIP phone: Debian's `baresip` on loopback.
//!
//! - A baresip that auto-answers and plays a voicemail-like greeting (real speech from
//!   `../shared/data/librispeech-dev`, else an espeak-ng greeting; then a 1 kHz beep) through
//!   its `aufile` source: the call's result is `machine_end_beep` with the beep where the
//!   file has it, SIP status 200, and the SIP trace is in the store and in `GET
//!   /v1/calls/{id}`.
//! - Audio Tympan → baresip: `play` a 700 Hz tone; baresip's `sndfile` module records what it
//!   received, and the tone is found there.
//! - Bad outcomes are results, not crashes: a baresip rejecting the call (486), one that
//!   rings and never answers (CANCEL, 487), a port where nothing listens (unreachable).
//!
//! Fails when baresip or espeak-ng is missing; real speech is used when the shared data is
//! present (required under `CI`).

mod common;

use common::baresip::{free_ports, Baresip};

use common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tympan_server::config::{BeepAction, ServerConfig};
use tympan_server::outbound::{place_call, CallOutcome, CallRequest, Outcome};

/// Length of the synthesised beep, ms.
const BEEP_MS: usize = 600;
/// Frequency of the tone Tympan plays to baresip, Hz.
const TONE_HZ: f32 = 700.0;

/// A block of 20 even RTP ports per test and side, away from the ephemeral range and from
/// the other SIP tests' blocks.
fn rtp_block(salt: u16) -> u16 {
    // In u32: (pid % 400) * 200 overflows a u16 for most process ids.
    let base = 40_000 + ((std::process::id() % 400) * 200 % 20_000) as u16 + salt * 20;
    base & !1
}

/// `$TYMPAN_SHARED/data` or `../shared/data` from the workspace, if present; under `CI` it
/// must be.
fn shared_data() -> Option<PathBuf> {
    let base = match std::env::var_os("TYMPAN_SHARED") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    let dir = base.join("data");
    if dir.join("librispeech-dev").is_dir() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!("CI is set but {} is missing", dir.display());
    }
    eprintln!(
        "note: {} not found: the greeting is espeak-ng speech",
        dir.display()
    );
    None
}

/// About 7 s of one LibriSpeech speaker at 8 kHz (a few utterances back to back).
fn librispeech_speech(data: &Path) -> Vec<f32> {
    let root = data.join("librispeech-dev");
    let mut speakers: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    speakers.sort();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&speakers[0])
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "flac"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let a =
            tympan_audio::decode::read_file(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        out.extend(tympan_audio::resample::resample(&a.downmix(), a.sample_rate, 8000).unwrap());
        if out.len() >= 7 * 8000 {
            break;
        }
    }
    out.truncate(9 * 8000);
    out
}

async fn espeak_speech() -> Vec<f32> {
    let say = BeepAction {
        say: Some("Hello, you have reached the voicemail of John Smith. I cannot take your call right now. Please leave a message after the tone.".into()),
        ..Default::default()
    };
    let speech = tympan_server::playback::render(&say, 8000, "espeak-ng", Path::new("."))
        .await
        .expect("espeak-ng must be installed (scripts/setup.sh) to synthesise the greeting");
    speech.iter().map(|&s| s as f32 / 32768.0).collect()
}

/// 300 ms silence, the greeting, 700 ms silence, a 600 ms 1 kHz beep, `tail_s` of silence.
/// Returns the WAV and where the beep starts, ms.
async fn greeting_wav(tail_s: usize) -> (Vec<u8>, u64) {
    let speech = match shared_data() {
        Some(d) => librispeech_speech(&d),
        None => espeak_speech().await,
    };
    assert!(
        speech.len() > 3 * 8000,
        "{} samples of speech",
        speech.len()
    );
    let mut x: Vec<f32> = vec![0.0; 2400];
    x.extend(speech);
    x.extend(std::iter::repeat_n(0.0, 5600));
    let beep_at = (x.len() as u64) * 1000 / 8000;
    for i in 0..BEEP_MS * 8 {
        x.push(0.4 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 8000.0).sin());
    }
    x.extend(std::iter::repeat_n(0.0, tail_s * 8000));
    (wav(x), beep_at)
}

fn wav(x: Vec<f32>) -> Vec<u8> {
    tympan_audio::wav_write::encode_wav(
        &tympan_audio::Audio::mono(8000, x),
        tympan_audio::wav_write::Codec::Pcm16,
    )
}

/// A baresip listening on `sip_port`, playing `source` (its aufile ends the call at the end
/// of the file), recording what it receives with `sndfile` into `dir/snd`. `answer` is
/// baresip's answermode (`auto` or `manual`).
fn start_baresip(sip_port: u16, ctrl_port: u16, source: &[u8], answer: &str, salt: u16) -> Baresip {
    let dir = std::env::temp_dir().join(format!(
        "tympan-sip-outbound-{}-{}",
        std::process::id(),
        sip_port
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("snd")).unwrap();
    let src = dir.join("source.wav");
    std::fs::write(&src, source).unwrap();
    let rtp = rtp_block(salt);
    let config = format!(
        "poll_method\t\tepoll\n\
         sip_listen\t\t127.0.0.1:{sip_port}\n\
         audio_source\t\taufile,{src}\n\
         audio_player\t\taufile,/dev/null\n\
         module_path\t\t/usr/lib/baresip/modules\n\
         module\t\t\taccount.so\n\
         module\t\t\tg711.so\n\
         module\t\t\taufile.so\n\
         module\t\t\tsndfile.so\n\
         module\t\t\tctrl_tcp.so\n\
         module_app\t\tmenu.so\n\
         snd_path\t\t{snd}\n\
         ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}\n\
         rtp_ports\t\t{rtp}-{}\n",
        rtp + 20,
        src = src.display(),
        snd = dir.join("snd").display(),
    );
    std::fs::write(dir.join("config"), config).unwrap();
    std::fs::write(
        dir.join("accounts"),
        format!("<sip:baresip@127.0.0.1>;regint=0;answermode={answer}\n"),
    )
    .unwrap();
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

async fn connect_ctrl(port: u16, bs: &Baresip) -> TcpStream {
    for _ in 0..100 {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)).await {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("baresip ctrl_tcp never listened; log:\n{}", bs.log());
}

/// One ctrl_tcp command as a netstring (`LEN:JSON,`).
async fn command(ctrl: &mut TcpStream, cmd: &str, params: &str) {
    let body = json!({"command": cmd, "params": params, "token": cmd}).to_string();
    let frame = format!("{}:{},", body.len(), body);
    ctrl.write_all(frame.as_bytes()).await.unwrap();
}

/// Read ctrl_tcp output until it contains `what`.
async fn wait_for(ctrl: &mut TcpStream, what: &str) {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&all).contains(what) {
        let n = ctrl.read(&mut buf).await.unwrap();
        assert!(n > 0, "ctrl_tcp closed before {what}");
        all.extend_from_slice(&buf[..n]);
    }
}

/// A server state (and HTTP routes) whose SIP RTP ports are the block `salt`.
async fn server(salt: u16, tag: &str) -> TestServer {
    let mut cfg = ServerConfig::default();
    let rtp = rtp_block(salt);
    cfg.sip.rtp_port_min = rtp;
    cfg.sip.rtp_port_max = rtp + 19;
    cfg.data_dir = temp_dir(tag);
    TestServer::start(cfg).await
}

async fn call(srv: &TestServer, req: CallRequest) -> CallOutcome {
    tokio::time::timeout(Duration::from_secs(120), place_call(srv.state.clone(), req))
        .await
        .expect("the call returns")
        .expect("the call is attempted")
}

/// The first lines of a stored trace, in order.
async fn trace_lines(srv: &TestServer, call_id: &str) -> Vec<(String, String)> {
    srv.state
        .store
        .sip_trace(call_id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.direction, m.first_line))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calling_a_voicemail_gives_machine_end_beep_and_a_stored_trace() {
    let (greeting, beep_at) = greeting_wav(5).await;
    let p = free_ports(2);
    let bs = start_baresip(p[0], p[1], &greeting, "auto", 1);
    let _ctrl = connect_ctrl(p[1], &bs).await;
    let srv = server(0, "sip_out_machine").await;
    let mut req = CallRequest::new(format!("sip:baresip@127.0.0.1:{}", p[0]));
    req.amd = true;
    req.timeout = Duration::from_secs(60);
    let out = call(&srv, req).await;
    let log = bs.log();
    let shown = serde_json::to_string_pretty(&out).unwrap();
    assert_eq!(
        out.outcome,
        Outcome::Answered,
        "{shown}\nbaresip log:\n{log}"
    );
    assert_eq!(out.sip_status, 200, "{shown}");
    assert_eq!(
        out.answered_by.as_deref(),
        Some("machine_end_beep"),
        "{shown}\nbaresip log:\n{log}"
    );
    let at = out.beep.as_ref().and_then(|b| b["start_ms"].as_u64());
    let at = at.unwrap_or_else(|| panic!("beep.start_ms in {shown}"));
    // Audio time counts from the answer, when baresip starts its file.
    assert!(
        at + 150 >= beep_at && at <= beep_at + 400,
        "beep at {at} ms, the file has it at {beep_at} ms: {shown}"
    );
    assert!(out.setup_ms.is_some(), "{shown}");
    assert!(out.audio_ms >= beep_at, "{shown}");
    assert_eq!(out.ended_by, Some("local"), "--amd hangs up: {shown}");
    // The ladder: INVITE out, 200 in, ACK out, BYE out, its 200 in.
    let lines = trace_lines(&srv, &out.call_id).await;
    let find = |dir: &str, start: &str| {
        lines
            .iter()
            .position(|(d, l)| d == dir && l.starts_with(start))
            .unwrap_or_else(|| panic!("no {dir} {start} in {lines:#?}"))
    };
    let invite = find("sent", "INVITE sip:baresip@127.0.0.1");
    let ok = find("received", "SIP/2.0 200");
    let ack = find("sent", "ACK ");
    let bye = find("sent", "BYE ");
    assert!(invite < ok && ok < ack && ack < bye, "{lines:#?}");
    // The same through the API, with the full text.
    let rec = srv.get_json(&format!("/v1/calls/{}", out.call_id)).await;
    assert_eq!(rec["platform"], "sip", "{rec}");
    assert_eq!(rec["answered_by"], "machine_end_beep", "{rec}");
    let trace = rec["sip_trace"].as_array().expect("sip_trace array");
    assert_eq!(trace.len(), lines.len(), "{rec}");
    assert_eq!(trace[0]["direction"], "sent");
    assert!(trace[0]["at_ms"].as_i64().unwrap() > 0);
    let text = trace[0]["text"].as_str().unwrap();
    assert!(text.contains("m=audio ") && text.contains("PCMU"), "{text}");
    assert!(trace.iter().all(|m| m["peer"].as_str().is_some()));
}

/// Magnitude of the `hz` component of `x` (8 kHz), per sample.
fn goertzel(x: &[f32], hz: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * hz / 8000.0;
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &v in x {
        let s = v + 2.0 * w.cos() * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    (s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2).sqrt() / x.len().max(1) as f32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_played_tone_reaches_baresip_and_its_audio_is_recorded() {
    // baresip sends 8 s of a quiet 400 Hz tone (then its file ends and it hangs up).
    let src: Vec<f32> = (0..8 * 8000)
        .map(|i| 0.1 * (2.0 * std::f32::consts::PI * 400.0 * i as f32 / 8000.0).sin())
        .collect();
    let p = free_ports(2);
    let bs = start_baresip(p[0], p[1], &wav(src), "auto", 3);
    let _ctrl = connect_ctrl(p[1], &bs).await;
    let srv = server(2, "sip_out_tone").await;
    let dir = temp_dir("sip_out_tone_files");
    let tone: Vec<f32> = (0..3 * 8000)
        .map(|i| 0.4 * (2.0 * std::f32::consts::PI * TONE_HZ * i as f32 / 8000.0).sin())
        .collect();
    // At 16 kHz: the call resamples to 8 kHz.
    let tone16 = tympan_audio::resample::resample(&tone, 8000, 16000).unwrap();
    let play = dir.join("tone.wav");
    std::fs::write(
        &play,
        tympan_audio::wav_write::encode_wav(
            &tympan_audio::Audio::mono(16000, tone16),
            tympan_audio::wav_write::Codec::Pcm16,
        ),
    )
    .unwrap();
    let record = dir.join("received.wav");
    let mut req = CallRequest::new(format!("sip:baresip@127.0.0.1:{}", p[0]));
    req.play = Some(play);
    req.record = Some(record.clone());
    // Once the call is up, baresip sends RFC 4733 digit 7.
    let mut ctrl = _ctrl;
    let keys = tokio::spawn(async move {
        wait_for(&mut ctrl, "CALL_ESTABLISHED").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        command(&mut ctrl, "sndcode", "7").await;
        ctrl
    });
    let out = call(&srv, req).await;
    let _ctrl = keys.await.unwrap();
    assert_eq!(out.digits, "7", "RFC 4733 digit from baresip");
    let rec = srv.get_json(&format!("/v1/calls/{}", out.call_id)).await;
    let dtmf: Vec<&Value> = rec["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "dtmf")
        .collect();
    assert_eq!(dtmf.len(), 1, "{rec}");
    assert_eq!(dtmf[0]["digit"], "7", "{rec}");
    let shown = serde_json::to_string_pretty(&out).unwrap();
    assert_eq!(out.outcome, Outcome::Answered, "{shown}\n{}", bs.log());
    assert_eq!(out.ended_by, Some("local"), "hung up after --play: {shown}");
    // What baresip received (sndfile's decoded stream) has the tone.
    drop(_ctrl);
    let snd = bs.dir.join("snd");
    let files: Vec<PathBuf> = std::fs::read_dir(&snd)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let dec = files
        .iter()
        .find(|f| f.to_string_lossy().contains("dec"))
        .unwrap_or_else(|| panic!("no decoded recording in {files:?}\n{}", bs.log()));
    let got =
        tympan_audio::decode::read_file(dec).unwrap_or_else(|e| panic!("{}: {e}", dec.display()));
    let x = tympan_audio::resample::resample(&got.downmix(), got.sample_rate, 8000).unwrap();
    let at_tone = goertzel(&x, TONE_HZ);
    for other in [400.0, 1000.0, 1400.0] {
        assert!(
            at_tone > 5.0 * goertzel(&x, other),
            "{TONE_HZ} Hz {at_tone} vs {other} Hz {} in {}",
            goertzel(&x, other),
            dec.display()
        );
    }
    // What Tympan received is in --record: baresip's 400 Hz tone.
    let rec = tympan_audio::decode::read_file(&record).unwrap();
    assert_eq!(rec.sample_rate, 8000);
    let r = rec.downmix();
    assert!(out.recorded_ms.unwrap() >= 2000, "{shown}");
    assert!(goertzel(&r, 400.0) > 5.0 * goertzel(&r, TONE_HZ), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_unanswered_and_unreachable_calls_are_results() {
    let (greeting, _) = greeting_wav(1).await;
    let p = free_ports(3);
    let bs = start_baresip(p[0], p[1], &greeting, "manual", 5);
    let mut ctrl = connect_ctrl(p[1], &bs).await;
    let srv = server(4, "sip_out_bad").await;
    let dest = format!("sip:baresip@127.0.0.1:{}", p[0]);

    // baresip rings; hanging up an incoming call rejects it.
    let mut req = CallRequest::new(dest.clone());
    req.timeout = Duration::from_secs(30);
    let srv2 = srv.state.clone();
    let busy = tokio::spawn(async move { place_call(srv2, req).await });
    wait_for(&mut ctrl, "CALL_INCOMING").await;
    command(&mut ctrl, "hangup", "").await;
    let out = busy.await.unwrap().expect("attempted");
    let shown = serde_json::to_string_pretty(&out).unwrap();
    assert_eq!(out.outcome, Outcome::Rejected, "{shown}\n{}", bs.log());
    assert_eq!(out.sip_status, 486, "{shown}");
    assert_eq!(out.outcome.exit_code(), 3);
    assert!(
        out.answered_by.is_none() && out.setup_ms.is_none(),
        "{shown}"
    );
    let lines = trace_lines(&srv, &out.call_id).await;
    assert!(
        lines
            .iter()
            .any(|(d, l)| d == "received" && l.starts_with("SIP/2.0 486")),
        "{lines:#?}"
    );
    let rec = srv.get_json(&format!("/v1/calls/{}", out.call_id)).await;
    assert_eq!(rec["state"], "ended", "{rec}");
    assert!(!rec["sip_trace"].as_array().unwrap().is_empty(), "{rec}");

    // Rings and is never answered: CANCEL at the timeout, 487.
    let mut req = CallRequest::new(dest);
    req.timeout = Duration::from_secs(2);
    let out = call(&srv, req).await;
    let shown = serde_json::to_string_pretty(&out).unwrap();
    assert_eq!(out.outcome, Outcome::NoAnswer, "{shown}\n{}", bs.log());
    assert_eq!(out.sip_status, 487, "{shown}");
    let lines = trace_lines(&srv, &out.call_id).await;
    assert!(
        lines
            .iter()
            .any(|(d, l)| d == "sent" && l.starts_with("CANCEL ")),
        "{lines:#?}"
    );

    // Nothing listens there.
    let mut req = CallRequest::new(format!("sip:nobody@127.0.0.1:{}", p[2]));
    req.timeout = Duration::from_secs(2);
    let out = call(&srv, req).await;
    let shown = serde_json::to_string_pretty(&out).unwrap();
    assert_eq!(out.outcome, Outcome::Unreachable, "{shown}");
    assert_eq!(out.sip_status, 408, "{shown}");
    assert_eq!(out.outcome.exit_code(), 4);

    // Bad input is refused before dialing, naming the argument.
    let e = place_call(srv.state.clone(), CallRequest::new("5551234"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("--trunk"), "{e}");
    let mut req = CallRequest::new("sip:x@127.0.0.1");
    req.play = Some(PathBuf::from("/nonexistent/greeting.wav"));
    let e = place_call(srv.state.clone(), req).await.unwrap_err();
    assert!(
        e.to_string().contains("--play /nonexistent/greeting.wav"),
        "{e}"
    );
    let _: Value = json!(null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tympan_calls_tympan_and_both_sides_keep_the_trace() {
    // The callee: a server answering SIP (inbound shell) on its own store.
    let callee = server(6, "sip_out_callee").await;
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sip_addr = sock.local_addr().unwrap();
    tokio::spawn(tympan_server::transport::sip::serve(
        sock,
        callee.state.clone(),
        std::future::pending::<()>(),
    ));
    let caller = server(8, "sip_out_caller").await;
    let mut req = CallRequest::new(format!("sip:amd@{sip_addr}"));
    req.timeout = Duration::from_secs(3);
    let out = call(&caller, req).await;
    let shown = serde_json::to_string_pretty(&out).unwrap();
    assert_eq!(out.outcome, Outcome::Answered, "{shown}");
    assert_eq!(out.ended_by, Some("local"), "BYE at the timeout: {shown}");
    // The callee's record of the same call (its id is not the Call-ID, which has an `@`).
    let mut found = None;
    for _ in 0..100 {
        let page = callee
            .state
            .store
            .list_calls(&Default::default())
            .await
            .unwrap();
        if let Some(c) = page
            .calls
            .into_iter()
            .find(|c| c.state == tympan_store::CallState::Ended)
        {
            found = Some(c);
            break;
        }
        let _ = callee.state.writer.flush().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let c = found.expect("the callee recorded the call");
    assert_eq!(c.platform, "sip");
    let rec = callee.get_json(&format!("/v1/calls/{}", c.call_id)).await;
    let lines: Vec<(String, String)> = rec["sip_trace"]
        .as_array()
        .expect("sip_trace")
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap().to_owned(),
                m["first_line"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let pos = |dir: &str, start: &str| {
        lines
            .iter()
            .position(|(d, l)| d == dir && l.starts_with(start))
            .unwrap_or_else(|| panic!("no {dir} {start} in {lines:#?}"))
    };
    let invite = pos("received", "INVITE sip:amd@");
    let ok = pos("sent", "SIP/2.0 200");
    let ack = pos("received", "ACK ");
    let bye = pos("received", "BYE ");
    assert!(invite < ok && ok < ack && ack < bye, "{lines:#?}");
    // Every message carries the dialog's Call-ID.
    for m in rec["sip_trace"].as_array().unwrap() {
        assert!(
            m["text"].as_str().unwrap().contains(&out.sip_call_id),
            "{m}"
        );
    }
}

/// The next SIP message on `sock` whose first line starts with `what` (`INVITE`, `ACK`,
/// `SIP/2.0`...), parsed, with its source; others are skipped (retransmissions).
async fn next_sip(
    sock: &tokio::net::UdpSocket,
    what: &str,
) -> (tympan_telephony::sip::Message, std::net::SocketAddr) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (n, from) = tokio::time::timeout(Duration::from_secs(30), sock.recv_from(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {what} within 30 s"))
            .unwrap();
        if buf[..n].starts_with(what.as_bytes()) {
            let m = tympan_telephony::sip::parse_datagram(&buf[..n]).unwrap();
            return (m, from);
        }
    }
}

/// The next RTCP compound on `sock` that holds a packet matching `want`.
async fn next_rtcp(
    sock: &tokio::net::UdpSocket,
    want: impl Fn(&tympan_telephony::rtp::rtcp::Report) -> bool,
) -> (
    Vec<tympan_telephony::rtp::rtcp::Report>,
    std::net::SocketAddr,
) {
    let mut buf = vec![0u8; 2048];
    loop {
        let (n, from) = tokio::time::timeout(Duration::from_secs(30), sock.recv_from(&mut buf))
            .await
            .expect("an RTCP packet within 30 s")
            .unwrap();
        let reports = tympan_telephony::rtp::rtcp::parse_compound(&buf[..n])
            .unwrap_or_else(|e| panic!("Tympan sent RTCP that does not parse: {e}"));
        if reports.iter().any(&want) {
            return (reports, from);
        }
    }
}

/// A SIP phone written with raw datagrams (the telephony crate builds and parses its
/// messages): it answers Tympan's INVITE with 183 and an SDP answer whose `a=rtcp:` names a
/// port other than RTP + 1 (RFC 3605), plays 2 s of US ringback (440 + 480 Hz) as early
/// media, answers 200, sends DTMF by SIP INFO (`dtmf-relay` 5, `dtmf` 7, and a `text/plain`
/// INFO that gets 415), reads Tympan's RTCP (an SR with CNAME: Tympan plays a file) and
/// answers it with a receiver report, then takes Tympan's BYE and its RTCP BYE. The call's
/// result and record show the ringback as early-media call progress, the digits, and the
/// peer's report (fraction lost, cumulative lost, jitter, round trip).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_media_rtcp_and_info_dtmf_with_a_raw_sip_peer() {
    use tympan_telephony::rtp::rtcp::{ntp_middle, Block, Report, RtcpSession};
    use tympan_telephony::rtp::{encode_payload, RtpSender, SenderConfig};
    use tympan_telephony::sdp::{self, Codec, LocalMedia};
    use tympan_telephony::sip::{Message, NameAddr, Uri};

    let srv = server(5, "sip_raw_peer").await;
    let sip = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let rtp = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let rtcp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let sip_port = sip.local_addr().unwrap().port();
    let rtp_port = rtp.local_addr().unwrap().port();
    let rtcp_port = rtcp.local_addr().unwrap().port();
    assert_ne!(rtcp_port, rtp_port + 1, "a=rtcp must matter");
    // Tympan plays 6 s (so it sends RTP and SRs), then hangs up by itself.
    let dir = temp_dir("sip_raw_peer_play");
    let play = dir.join("tone.wav");
    let tone: Vec<f32> = (0..6 * 8000)
        .map(|i| 0.2 * (2.0 * std::f32::consts::PI * 500.0 * i as f32 / 8000.0).sin())
        .collect();
    std::fs::write(&play, wav(tone)).unwrap();
    let mut req = CallRequest::new(format!("sip:peer@127.0.0.1:{sip_port}"));
    req.play = Some(play);
    req.timeout = Duration::from_secs(60);
    let placing = tokio::spawn(place_call(srv.state.clone(), req));

    let (invite, tympan) = next_sip(&sip, "INVITE ").await;
    let local = LocalMedia {
        address: "127.0.0.1".parse().unwrap(),
        port: rtp_port,
        codecs: vec![Codec::Pcmu],
        session_id: 9,
        session_version: 1,
    };
    let (mut answer, neg) = sdp::answer(&invite.body, &local).unwrap();
    answer.extend_from_slice(format!("a=rtcp:{rtcp_port}\r\n").as_bytes());
    let tympan_rtp = std::net::SocketAddr::new(neg.remote_addr, neg.remote_port);
    let contact = NameAddr::new(Uri::parse(&format!("sip:peer@127.0.0.1:{sip_port}")).unwrap());
    let respond = |code: u16, reason: &str| {
        let mut r = Message::response_to(&invite, code, reason);
        r.to.set_tag("peer1");
        r.contact = vec![contact.clone()];
        r.content_type = Some("application/sdp".into());
        r.body = answer.clone();
        r.to_bytes()
    };
    sip.send_to(&respond(183, "Session Progress"), tympan)
        .await
        .unwrap();
    // Early media: 2 s of ringback, then silence until the end of the call.
    let ssrc = 0x5eed_0001;
    let sender_task = {
        let rtp = rtp.clone();
        tokio::spawn(async move {
            let mut s = RtpSender::new(SenderConfig {
                ssrc,
                initial_sequence: 100,
                initial_timestamp: 1000,
                payload_type: 0,
            });
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            for k in 0u32.. {
                tick.tick().await;
                let pcm: Vec<i16> = (0..160)
                    .map(|i| {
                        let t = (k * 160 + i) as f32 / 8000.0;
                        if k < 100 {
                            let two_pi = 2.0 * std::f32::consts::PI;
                            (6000.0 * ((two_pi * 440.0 * t).sin() + (two_pi * 480.0 * t).sin()))
                                as i16
                        } else {
                            0
                        }
                    })
                    .collect();
                let bytes = s.audio(encode_payload(Codec::Pcmu, &pcm), 160).unwrap();
                let _ = rtp.send_to(&bytes, tympan_rtp).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(2600)).await;
    sip.send_to(&respond(200, "OK"), tympan).await.unwrap();
    let (ack, _) = next_sip(&sip, "ACK ").await;
    assert_eq!(ack.cseq.seq, invite.cseq.seq);

    // DTMF by INFO in the dialog (we are the callee: From = our To, To = Tympan's From).
    let target = invite.contact[0].uri.to_string();
    let mut from_us = invite.to.clone();
    from_us.set_tag("peer1");
    let info = |seq: u32, ct: &str, body: &str| {
        format!(
            "INFO {target} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{sip_port};branch=z9hG4bKinfo{seq}\r\n\
             Max-Forwards: 70\r\nFrom: {from_us}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {seq} INFO\r\n\
             Content-Type: {ct}\r\nContent-Length: {}\r\n\r\n{body}",
            invite.from,
            invite.call_id,
            body.len()
        )
    };
    for (seq, ct, body, code) in [
        (
            1,
            "application/dtmf-relay",
            "Signal=5\r\nDuration=160\r\n",
            200,
        ),
        (2, "application/dtmf", "7", 200),
        (3, "text/plain", "hello", 415),
    ] {
        sip.send_to(info(seq, ct, body).as_bytes(), tympan)
            .await
            .unwrap();
        let (r, _) = next_sip(&sip, "SIP/2.0 ").await;
        assert_eq!(r.cseq.seq, seq);
        assert_eq!(r.response().unwrap().code, code, "INFO {ct}: {r}");
    }

    // Tympan's RTCP comes to the a=rtcp port, from its RTP port + 1: an SR (it plays) with
    // its CNAME.
    let (reports, tympan_rtcp) = next_rtcp(&rtcp, |r| matches!(r, Report::Sender { .. })).await;
    assert_eq!(tympan_rtcp.port(), neg.remote_port + 1);
    let Some(Report::Sender {
        ssrc: theirs,
        info: sr,
        ..
    }) = reports
        .iter()
        .find(|r| matches!(r, Report::Sender { .. }))
        .cloned()
    else {
        unreachable!()
    };
    assert!(sr.packet_count > 0, "{reports:?}");
    assert!(
        reports
            .iter()
            .any(|r| matches!(r, Report::Cname { ssrc, cname } if *ssrc == theirs && cname.ends_with("@tympan"))),
        "SDES CNAME in {reports:?}"
    );
    // Our receiver report about Tympan's stream, sent at once (DLSR 0).
    let rr = RtcpSession::new(ssrc, "peer@raw")
        .build(
            None,
            &[Block {
                ssrc: theirs,
                fraction_lost: 64,
                cumulative_lost: 7,
                extended_highest_seq: 1234,
                jitter: 80,
                lsr: ntp_middle(sr.ntp_timestamp),
                dlsr: 0,
            }],
        )
        .unwrap();
    rtcp.send_to(&rr, tympan_rtcp).await.unwrap();

    // Tympan hangs up after its file: BYE, then its RTCP BYE.
    let (bye, _) = next_sip(&sip, "BYE ").await;
    let ok = Message::response_to(&bye, 200, "OK");
    sip.send_to(&ok.to_bytes(), tympan).await.unwrap();
    let (last, _) = next_rtcp(&rtcp, |r| matches!(r, Report::Bye { .. })).await;
    assert!(
        last.iter()
            .any(|r| matches!(r, Report::Bye { ssrcs } if ssrcs == &vec![theirs])),
        "{last:?}"
    );
    sender_task.abort();
    let out = placing.await.unwrap().expect("the call is attempted");
    assert_eq!(out.outcome, Outcome::Answered, "{out:?}");
    assert_eq!(out.digits, "57", "INFO digits in the result");
    let ringback: Vec<&Value> = out
        .call_progress
        .iter()
        .filter(|t| t["tone"] == "ringback")
        .collect();
    assert!(
        !ringback.is_empty(),
        "ringback heard: {:?}",
        out.call_progress
    );
    assert_eq!(ringback[0]["phase"], "early_media");

    // The record: early-media tones first, the digits as dtmf events, the peer's report.
    let rec = srv.get_json(&format!("/v1/calls/{}", out.call_id)).await;
    let events = rec["events"].as_array().expect("events");
    assert_eq!(events[0]["type"], "tone", "{events:#?}");
    assert_eq!(events[0]["phase"], "early_media");
    let start = events
        .iter()
        .position(|e| e["type"] == "call_start")
        .unwrap();
    assert!(
        events[..start].iter().all(|e| e["phase"] == "early_media"),
        "only early media before call_start: {events:#?}"
    );
    let digits: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "dtmf")
        .filter_map(|e| e["digit"].as_str())
        .collect();
    assert_eq!(digits, ["5", "7"]);
    let q = &rec["media_quality"];
    assert!(q["reports_received"].as_u64().unwrap() >= 1, "{q}");
    assert!(
        q["reports_sent"].as_u64().unwrap() >= 2,
        "a report and the BYE: {q}"
    );
    assert_eq!(q["remote"]["fraction_lost"], 0.25, "{q}");
    assert_eq!(q["remote"]["cumulative_lost"], 7);
    assert_eq!(q["remote"]["jitter_ms"], 10.0);
    assert_eq!(q["remote_cname"], "peer@raw");
    let rtt = q["rtt_ms"].as_f64().expect("a round trip from LSR/DLSR");
    assert!((0.0..1000.0).contains(&rtt), "{rtt}");
    // Tympan's view of our stream: it heard our packets.
    assert_eq!(q["local"]["cumulative_lost"], 0, "{q}");
    let metrics = srv.get("/metrics").await.text().await.unwrap();
    let counter = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in /metrics"))
    };
    assert!(counter("tympan_rtcp_reports_received_total") >= 1);
    assert!(counter("tympan_rtcp_reports_sent_total") >= 2);
    assert_eq!(counter("tympan_rtcp_last_fraction_lost_ppm"), 250_000);
    assert_eq!(counter("tympan_rtcp_last_jitter_us"), 10_000);
    // After a restart the record comes from the store: the same media_quality and events.
    srv.state.writer.flush().await.unwrap();
    let stored = srv
        .state
        .store
        .get_call(&out.call_id)
        .await
        .unwrap()
        .expect("stored");
    let rebuilt = tympan_server::registry::CallRecord::from_detail(stored);
    let rq = rebuilt
        .media_quality
        .expect("media_quality from the stored event");
    assert_eq!(rq["remote"]["cumulative_lost"], 7);
    assert!(rebuilt.events.iter().any(|e| e["phase"] == "early_media"));
    assert!(!rebuilt.events.iter().any(|e| e["type"] == "media_quality"));
}
