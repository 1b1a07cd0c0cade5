//! The same call over Vonage, Twilio and AudioSocket gives the events of the same audio pushed
//! through the call core directly; a beep over AudioSocket plays the message and hangs up.

mod common;

use base64::Engine;
use common::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tympan_server::config::{BeepAction, ServerConfig};
use tympan_server::transport::audiosocket::{encode, KIND_AUDIO, KIND_UUID};
use tympan_server::{AppState, Listeners};

const AS_UUID: &str = "0f8f4d8e-1c2b-4a5d-9e6f-7a8b9c0d1e2f";

/// The call as 8 kHz samples that survive µ-law unchanged, so all three transports carry
/// exactly the same PCM.
fn call_pcm() -> Vec<i16> {
    to_i16(&greeting_then_beep(8000))
        .into_iter()
        .map(|s| tympan_audio::g711::ulaw_decode(tympan_audio::g711::ulaw_encode(s)))
        .collect()
}

/// Messages without the fields that name the transport or the call.
fn comparable(msgs: &[Value]) -> Vec<Value> {
    msgs.iter()
        .map(|m| {
            let mut m = m.clone();
            if let Some(o) = m.as_object_mut() {
                o.remove("call_id");
                o.remove("uuids");
                o.remove("platform");
                o.remove("seq");
            }
            m
        })
        .collect()
}

struct Running {
    addr: std::net::SocketAddr,
    audiosocket: std::net::SocketAddr,
    state: Arc<AppState>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(mut cfg: ServerConfig) -> Running {
    cfg.api_tokens = vec![TEST_TOKEN.into()];
    cfg.data_dir = common::temp_dir("transports");
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let as_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (addr, audiosocket) = (main.local_addr().unwrap(), as_l.local_addr().unwrap());
    let state = AppState::new(cfg, tympan_server::amd_factory())
        .await
        .unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let listeners = Listeners {
        main,
        control: None,
        audiosocket: Some(as_l),
    };
    tokio::spawn(tympan_server::run(listeners, state.clone(), async move {
        let _ = rx.await;
    }));
    Running {
        addr,
        audiosocket,
        state,
        _stop: stop,
    }
}

fn uuid_bytes() -> Vec<u8> {
    uuid::Uuid::parse_str(AS_UUID).unwrap().as_bytes().to_vec()
}

#[tokio::test]
async fn every_transport_gives_the_events_of_the_core() {
    let pcm = call_pcm();
    let amd = tympan_amd::AmdConfig {
        mode: tympan_amd::Mode::DetectMessageEnd,
        sample_rate: 8000,
        ..Default::default()
    };
    let server = start(ServerConfig {
        amd: amd.clone(),
        ..Default::default()
    })
    .await;
    let mut events = ws_connect(server.addr, "/v1/events", Some(TEST_TOKEN))
        .await
        .unwrap();

    // Directly through the core, in one chunk.
    let mut core_cfg = tympan_call::CallConfig::new("direct", "direct", 8000);
    core_cfg.amd = Some(amd);
    let samples: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32768.0).collect();
    let want = comparable(
        &tympan_call::replay(core_cfg, &samples, samples.len())
            .unwrap()
            .json("direct"),
    );
    assert!(want.iter().any(|m| m["type"] == "beep"), "{want:#?}");

    // Vonage, 8 kHz L16 in 333-byte frames.
    let mut v = ws_connect(server.addr, "/v1/media/vonage", None)
        .await
        .unwrap();
    v.send(Message::Text(
        json!({"content-type": "audio/l16;rate=8000", "uuid": "via-vonage"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    send_l16(&mut v, &le_bytes(&pcm), 333, false).await;
    v.close(None).await.unwrap();
    let got = events_until_end(&mut events, "via-vonage").await;
    assert_eq!(comparable(&got), want, "vonage");

    // Twilio, µ-law in 20 ms media messages.
    let mut t = ws_connect(server.addr, "/v1/media/twilio", None)
        .await
        .unwrap();
    let start = json!({"event": "start", "start": {"streamSid": "MZ9", "callSid": "via-twilio",
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}});
    t.send(Message::Text(start.to_string().into()))
        .await
        .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    for c in pcm.chunks(160) {
        let ulaw: Vec<u8> = c
            .iter()
            .map(|&s| tympan_audio::g711::ulaw_encode(s))
            .collect();
        let m =
            json!({"event": "media", "media": {"track": "inbound", "payload": b64.encode(ulaw)}});
        t.send(Message::Text(m.to_string().into())).await.unwrap();
    }
    t.send(Message::Text(json!({"event": "stop"}).to_string().into()))
        .await
        .unwrap();
    let got = events_until_end(&mut events, "via-twilio").await;
    assert_eq!(comparable(&got), want, "twilio");

    // AudioSocket: UUID frame, 20 ms 0x10 frames, then EOF.
    let mut a = tokio::net::TcpStream::connect(server.audiosocket)
        .await
        .unwrap();
    a.write_all(&encode(KIND_UUID, &uuid_bytes()))
        .await
        .unwrap();
    for c in pcm.chunks(160) {
        a.write_all(&encode(KIND_AUDIO, &le_bytes(c)))
            .await
            .unwrap();
    }
    a.shutdown().await.unwrap();
    let got = events_until_end(&mut events, AS_UUID).await;
    assert_eq!(comparable(&got), want, "audiosocket");
    assert!(server.state.calls.get(AS_UUID).is_some());
}

#[tokio::test]
async fn an_audiosocket_beep_plays_the_message_then_hangs_up() {
    // The message: 0.5 s of 600 Hz in a WAV under media_dir.
    let media_dir = std::env::temp_dir().join(format!("tympan-as-media-{}", std::process::id()));
    std::fs::create_dir_all(&media_dir).unwrap();
    let tone = tympan_audio::synth::sine(8000, 600.0, 500.0, -10.0);
    let wav = tympan_audio::wav_write::encode_wav(
        &tympan_audio::Audio::mono(8000, tone),
        tympan_audio::wav_write::Codec::Pcm16,
    );
    std::fs::write(media_dir.join("bye.wav"), wav).unwrap();
    let cfg = ServerConfig {
        media_dir: media_dir.clone(),
        on_beep: Some(BeepAction {
            play_wav: Some("bye.wav".into()),
            hangup: true,
            ..Default::default()
        }),
        ..Default::default()
    };
    let server = start(cfg).await;
    let mut a = tokio::net::TcpStream::connect(server.audiosocket)
        .await
        .unwrap();
    a.write_all(&encode(KIND_UUID, &uuid_bytes()))
        .await
        .unwrap();
    for c in call_pcm().chunks(160) {
        a.write_all(&encode(KIND_AUDIO, &le_bytes(c)))
            .await
            .unwrap();
    }
    // Keep the line open with silence while reading what comes back, until the hang-up.
    let (mut r, mut w) = a.into_split();
    let keep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
        for _ in 0..500 {
            tick.tick().await;
            if w.write_all(&encode(KIND_AUDIO, &[0u8; 320])).await.is_err() {
                break;
            }
        }
    });
    let mut frames: Vec<Vec<i16>> = Vec::new();
    let hung_up = tokio::time::timeout(WAIT, read_audiosocket(&mut r, |f| frames.push(f)))
        .await
        .expect("hang-up within the wait");
    keep.abort();
    assert!(hung_up, "a 0x00 hang-up frame before the close");
    assert_eq!(frames.len(), 25, "0.5 s of message in 20 ms frames");
    assert!(frames.iter().all(|f| f.len() == 160), "320-byte frames");
    let peak = frames
        .iter()
        .flatten()
        .map(|s| s.unsigned_abs())
        .max()
        .unwrap();
    assert!(peak > 5000, "the message is audible (peak {peak})");
    // The record shows the play and the hang-up.
    let call = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(tympan_server::registry::Found::Ended(j)) = server.state.calls.get(AS_UUID)
            {
                return serde_json::from_str::<Value>(&j).unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let actions = call["actions"].as_array().unwrap();
    assert!(
        actions
            .iter()
            .any(|a| a["action"] == "play" && a["frames"] == 25),
        "{actions:?}"
    );
    assert!(
        actions.iter().any(|a| a["action"] == "hangup"),
        "{actions:?}"
    );
    assert_eq!(call["platform"], "audiosocket");
    std::fs::remove_dir_all(&media_dir).unwrap();
}
