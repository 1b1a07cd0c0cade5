//! End-to-end: the server in-process, websocket clients streaming a machine greeting and a
//! beep, a `/v1/events` subscriber, and a recording call-control double.

mod common;

use base64::Engine;
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tympan_server::config::ServerConfig;

async fn vonage_call(paced: bool, frame_bytes: usize, call_id: &str) {
    let server = TestServer::start(ServerConfig::default()).await;
    let mut events = server.ws("/v1/events").await;
    let mut media = server.ws("/v1/media/vonage").await;
    let header = json!({"content-type": "audio/l16;rate=16000", "uuid": call_id,
                        "amd": {"mode": "detect_message_end"}});
    media
        .send(Message::Text(header.to_string().into()))
        .await
        .unwrap();
    let pcm = le_bytes(&to_i16(&greeting_then_beep(16000)));
    send_l16(&mut media, &pcm, frame_bytes, paced).await;
    media.close(None).await.unwrap();

    let msgs = tokio::time::timeout(WAIT, events_until_end(&mut events, call_id))
        .await
        .expect("events within the wait");
    assert_eq!(msgs[0]["type"], "call_start");
    assert_eq!(msgs[0]["sample_rate"], 16000);
    let result = assert_beep_dropin_result(&msgs, call_id);
    assert_eq!(result["answered_by"], "machine_end_beep", "{result}");
    let end = msgs.last().unwrap();
    assert_eq!(end["type"], "call_end");
    assert_eq!(end["at_ms"], SIGNAL_MS);

    // The same story from the history endpoint.
    let call: Value = server.get_json(&format!("/v1/calls/{call_id}")).await;
    assert_eq!(call["state"], "ended");
    assert_eq!(call["platform"], "vonage");
    assert_eq!(call["audio_ms"], SIGNAL_MS);
    assert_eq!(call["result"], result);
    assert!(call["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["type"] == "beep"));
}

#[tokio::test]
async fn vonage_l16_real_time_gives_beep_dropin_and_result() {
    vonage_call(true, 640, "vonage-rt").await;
}

#[tokio::test]
async fn vonage_l16_unpaced_odd_frames_give_the_same_story() {
    // 333-byte frames split samples across frames: the odd byte must carry over.
    vonage_call(false, 333, "vonage-fast").await;
}

fn twilio_start(call_sid: &str, params: Value) -> Value {
    json!({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
           "start": {"streamSid": "MZ1", "accountSid": "ACtest", "callSid": call_sid,
                     "tracks": ["inbound"], "customParameters": params,
                     "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}})
}

fn twilio_media_messages(x: &[f32]) -> Vec<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    to_i16(x)
        .chunks(160)
        .enumerate()
        .map(|(i, c)| {
            let ulaw: Vec<u8> = c
                .iter()
                .map(|&s| tympan_audio::g711::ulaw_encode(s))
                .collect();
            json!({"event": "media", "sequenceNumber": (i + 2).to_string(), "streamSid": "MZ1",
                   "media": {"track": "inbound", "chunk": (i + 1).to_string(),
                             "timestamp": (i * 20).to_string(), "payload": b64.encode(ulaw)}})
            .to_string()
        })
        .collect()
}

#[tokio::test]
async fn twilio_mulaw_stream_gives_beep_dropin_and_result() {
    let server = TestServer::start(ServerConfig::default()).await;
    let mut events = server.ws("/v1/events").await;
    let mut media = server.ws("/v1/media/twilio").await;
    let send = |m: String| Message::Text(m.into());
    media
        .send(send(
            json!({"event": "connected", "protocol": "Call", "version": "1.0.0"}).to_string(),
        ))
        .await
        .unwrap();
    media
        .send(send(
            twilio_start(
                "CAbeep",
                json!({"amd": "{\"mode\":\"detect_message_end\"}"}),
            )
            .to_string(),
        ))
        .await
        .unwrap();
    for m in twilio_media_messages(&greeting_then_beep(8000)) {
        media.send(send(m)).await.unwrap();
    }
    media
        .send(send(
            json!({"event": "stop", "streamSid": "MZ1", "stop": {"callSid": "CAbeep"}}).to_string(),
        ))
        .await
        .unwrap();
    let msgs = tokio::time::timeout(WAIT, events_until_end(&mut events, "CAbeep"))
        .await
        .unwrap();
    assert_eq!(msgs[0]["platform"], "twilio");
    assert_eq!(msgs[0]["sample_rate"], 8000);
    let result = assert_beep_dropin_result(&msgs, "CAbeep");
    assert_eq!(result["answered_by"], "machine_end_beep", "{result}");
}

#[tokio::test]
async fn vonage_on_beep_plays_speech_back_then_hangs_up() {
    let ctl = RecordingCallControl::start().await;
    let server = TestServer::start(config_with_control(&ctl)).await;
    let mut media = server.ws("/v1/media/vonage").await;
    let header = json!({"content-type": "audio/l16;rate=16000", "uuid": "vonage-act",
                        "on_beep": {"say": "Sorry we missed you"}, "hangup": true});
    media
        .send(Message::Text(header.to_string().into()))
        .await
        .unwrap();
    let (mut tx, mut rx) = media.split();
    let pcm = le_bytes(&to_i16(&greeting_then_beep(16000)));
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for chunk in pcm.chunks(640) {
            tick.tick().await;
            tx.send(Message::Binary(chunk.to_vec().into()))
                .await
                .unwrap();
        }
        // Keep the call open with silence while the message plays.
        for _ in 0..400 {
            tick.tick().await;
            if tx
                .send(Message::Binary(vec![0u8; 640].into()))
                .await
                .is_err()
            {
                break;
            }
        }
        tx
    });
    // Collect the played-back frames until the hang-up request is seen.
    let mut frames = 0usize;
    let mut peak = 0u16;
    let collected = tokio::time::timeout(WAIT, async {
        // Read until the hang-up is seen, then drain what is still in flight.
        let mut drain_until: Option<tokio::time::Instant> = None;
        loop {
            if drain_until.is_none() && !ctl.requests.lock().unwrap().is_empty() {
                drain_until = Some(tokio::time::Instant::now() + Duration::from_millis(300));
            }
            if drain_until.is_some_and(|d| tokio::time::Instant::now() >= d) {
                break;
            }
            match tokio::time::timeout(Duration::from_millis(50), rx.next()).await {
                Ok(Some(Ok(Message::Binary(b)))) => {
                    assert_eq!(b.len(), 640, "20 ms L16 frames at 16 kHz");
                    frames += 1;
                    for p in b.chunks_exact(2) {
                        peak = peak.max(i16::from_le_bytes([p[0], p[1]]).unsigned_abs());
                    }
                }
                Ok(Some(Ok(_))) | Err(_) => {}
                Ok(None) | Ok(Some(Err(_))) => break,
            }
        }
    })
    .await;
    assert!(collected.is_ok(), "hang-up within the wait");
    assert!(frames >= 25, "only {frames} frames of message played");
    assert!(peak > 2000, "played audio is silent (peak {peak})");
    let req = ctl.first_request().await;
    assert_eq!(req.method, "PUT");
    assert_eq!(req.path, "/v1/calls/vonage-act");
    assert_eq!(req.authorization.as_deref(), Some("Bearer test-jwt"));
    let body: Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body, json!({"action": "hangup"}));
    sender.abort();
    // The history records both actions.
    let call: Value = server.get_json("/v1/calls/vonage-act").await;
    let actions = call["actions"].as_array().unwrap();
    assert!(actions
        .iter()
        .any(|a| a["action"] == "play" && a["frames"].as_u64() == Some(frames as u64)));
    assert!(actions
        .iter()
        .any(|a| a["action"] == "hangup" && a["status"] == 204));
}

#[tokio::test]
async fn twilio_on_beep_plays_wav_via_clear_media_mark_then_hangs_up() {
    // The message: 1 s of 600 Hz at 16 kHz in a WAV under media_dir; it must arrive resampled
    // to 8 kHz µ-law.
    let media_dir = std::env::temp_dir().join(format!("tympan-media-{}", std::process::id()));
    std::fs::create_dir_all(&media_dir).unwrap();
    let tone: Vec<f32> = (0..16000)
        .map(|i| 0.3 * (2.0 * std::f32::consts::PI * 600.0 * i as f32 / 16000.0).sin())
        .collect();
    let wav = tympan_audio::wav_write::encode_wav(
        &tympan_audio::Audio::mono(16000, tone),
        tympan_audio::wav_write::Codec::Pcm16,
    );
    std::fs::write(media_dir.join("msg.wav"), wav).unwrap();
    let ctl = RecordingCallControl::start().await;
    let mut cfg = config_with_control(&ctl);
    cfg.media_dir = media_dir.clone();
    let server = TestServer::start(cfg).await;
    let mut media = server.ws("/v1/media/twilio").await;
    let send = |m: String| Message::Text(m.into());
    let params = json!({"on_beep": "{\"play_wav\":\"msg.wav\"}", "hangup": "true"});
    media
        .send(send(twilio_start("CAact", params).to_string()))
        .await
        .unwrap();
    for m in twilio_media_messages(&greeting_then_beep(8000)) {
        media.send(send(m)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut played: Vec<i16> = Vec::new();
    let b64 = base64::engine::general_purpose::STANDARD;
    loop {
        let v = next_json(&mut media)
            .await
            .expect("outbound messages before close");
        assert_eq!(v["streamSid"], "MZ1");
        let ev = v["event"].as_str().unwrap().to_owned();
        if ev == "media" {
            let bytes = b64.decode(v["media"]["payload"].as_str().unwrap()).unwrap();
            assert!(bytes.len() <= 160, "20 ms chunks");
            played.extend(tympan_audio::g711::ulaw_decode_slice(&bytes));
        }
        seen.push(ev.clone());
        if ev == "mark" {
            assert_eq!(v["mark"]["name"], "tympan-on-beep");
            // Twilio echoes the mark once playback finished.
            media.send(send(v.to_string())).await.unwrap();
            break;
        }
    }
    assert_eq!(seen.first().map(String::as_str), Some("clear"));
    assert!(
        (7900..=8100).contains(&played.len()),
        "{} samples",
        played.len()
    );
    // Still a 600 Hz tone at 8 kHz: about 1200 zero crossings in the second.
    let crossings = played
        .windows(2)
        .filter(|w| (w[0] < 0) != (w[1] < 0))
        .count();
    assert!(
        (1150..=1250).contains(&crossings),
        "{crossings} zero crossings"
    );
    let req = ctl.first_request().await;
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/2010-04-01/Accounts/ACtest/Calls/CAact.json");
    let want = format!("Basic {}", b64.encode("ACtest:secret"));
    assert_eq!(req.authorization.as_deref(), Some(want.as_str()));
    assert_eq!(req.body, "Status=completed");
    assert_eq!(
        req.content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    let call: Value = server.get_json("/v1/calls/CAact").await;
    let actions = call["actions"].as_array().unwrap();
    assert!(
        actions
            .iter()
            .any(|a| a["action"] == "play" && a["mark_received"] == true),
        "{actions:?}"
    );
    std::fs::remove_dir_all(&media_dir).unwrap();
}

async fn expect_close(ws: &mut Ws) -> (CloseCode, String) {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("close within the wait");
        match m {
            Some(Ok(Message::Close(Some(f)))) => return (f.code, f.reason.to_string()),
            Some(Ok(Message::Close(None))) | None => panic!("closed without a reason"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error instead of a close: {e}"),
        }
    }
}

#[tokio::test]
async fn malformed_headers_close_with_a_reason() {
    let server = TestServer::start(ServerConfig::default()).await;
    let cases = [
        ("not json".to_string(), 1007u16, "not JSON"),
        (
            json!({"content-type": "audio/pcmu;rate=8000"}).to_string(),
            1003,
            "audio/pcmu",
        ),
        (json!({"uuid": "x"}).to_string(), 1003, "content-type"),
        (
            json!({"content-type": "audio/l16;rate=16000", "amd": {"speech_threshold_ms": 5}})
                .to_string(),
            1008,
            "speech_threshold_ms",
        ),
    ];
    for (header, code, needle) in cases {
        let mut ws = server.ws("/v1/media/vonage").await;
        ws.send(Message::Text(header.clone().into())).await.unwrap();
        let (got, reason) = expect_close(&mut ws).await;
        assert_eq!(u16::from(got), code, "{header}: {reason}");
        assert!(reason.contains(needle), "{header}: reason `{reason}`");
    }
    // Binary audio before the header.
    let mut ws = server.ws("/v1/media/vonage").await;
    ws.send(Message::Binary(vec![0u8; 640].into()))
        .await
        .unwrap();
    let (got, reason) = expect_close(&mut ws).await;
    assert_eq!(u16::from(got), 1008);
    assert!(reason.contains("header"), "{reason}");
    // Twilio: wrong media format, and media before start.
    let mut ws = server.ws("/v1/media/twilio").await;
    let mut start = twilio_start("CAbad", json!({}));
    start["start"]["mediaFormat"]["encoding"] = json!("audio/x-alaw");
    ws.send(Message::Text(start.to_string().into()))
        .await
        .unwrap();
    let (got, reason) = expect_close(&mut ws).await;
    assert_eq!(u16::from(got), 1003);
    assert!(reason.contains("audio/x-alaw"), "{reason}");
    let mut ws = server.ws("/v1/media/twilio").await;
    ws.send(Message::Text(
        json!({"event": "media", "media": {"payload": ""}})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let (_, reason) = expect_close(&mut ws).await;
    assert!(reason.contains("before `start`"), "{reason}");
}

#[tokio::test]
async fn answer_webhook_returns_ncco_to_the_media_socket() {
    let cfg = ServerConfig {
        public_base_url: Some("https://amd.example.test/".into()),
        ..Default::default()
    };
    let server = TestServer::start(cfg).await;
    let http = reqwest::Client::new();
    let ncco: Value = http
        .get(server.http("/v1/vonage/answer"))
        .query(&[
            ("uuid", "u-1"),
            ("talk", "Hello"),
            ("on_beep_say", "Bye"),
            ("hangup", "true"),
            ("amd", r#"{"mode":"detect_message_end"}"#),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ncco[0], json!({"action": "talk", "text": "Hello"}));
    assert_eq!(ncco[1]["action"], "connect");
    let ep = &ncco[1]["endpoint"][0];
    assert_eq!(ep["type"], "websocket");
    assert_eq!(ep["uri"], "wss://amd.example.test/v1/media/vonage");
    assert_eq!(ep["content-type"], "audio/l16;rate=16000");
    assert_eq!(ep["headers"]["uuid"], "u-1");
    assert_eq!(ep["headers"]["on_beep"], json!({"say": "Bye"}));
    assert_eq!(ep["headers"]["hangup"], true);
    assert_eq!(ep["headers"]["amd"], json!({"mode": "detect_message_end"}));
    // The headers as Vonage would send them back are a valid first frame.
    let mut first = ep["headers"].as_object().unwrap().clone();
    first.insert("content-type".into(), ep["content-type"].clone());
    let h = tympan_server::vonage::parse_header(&Value::Object(first).to_string()).unwrap();
    assert_eq!(h.call_id, "u-1");
    assert!(h.settings.on_beep.unwrap().hangup);
    // POST with a JSON body (Vonage's answer_method=POST) and 8 kHz.
    let ncco: Value = http
        .post(server.http("/v1/vonage/answer?rate=8000"))
        .json(&json!({"uuid": "u-2", "conversation_uuid": "c", "from": "1", "to": "2"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ncco.as_array().unwrap().len(), 1);
    assert_eq!(
        ncco[0]["endpoint"][0]["content-type"],
        "audio/l16;rate=8000"
    );
    assert_eq!(ncco[0]["endpoint"][0]["headers"], json!({"uuid": "u-2"}));
    // Bad settings are refused before the call is connected.
    let r = http
        .get(server.http("/v1/vonage/answer"))
        .query(&[("amd", r#"{"timeout_ms": 1}"#)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(e["error"].as_str().unwrap().contains("timeout_ms"), "{e}");
    let r = http
        .get(server.http("/v1/vonage/answer"))
        .query(&[("on_beep_play_wav", "../../etc/passwd")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn healthz_and_unknown_call() {
    let server = TestServer::start(ServerConfig::default()).await;
    let h: Value = server.get_json("/healthz").await;
    assert_eq!(h["status"], "ok");
    assert_eq!(h["calls_kept"], 0);
    let r = server.get("/v1/calls/nope").await;
    assert_eq!(r.status(), 404);
}

/// A clip model trained here: 1 kHz-ish tones are `beep`, pieces of the synthetic greeting
/// (and louder / quieter copies) are `speech`.
fn clip_model() -> std::sync::Arc<tympan_ml::Model> {
    use tympan_amd::clips::{ClipFeatures, FeatureSet};
    let set = FeatureSet::MfccMeanStdDuration;
    let mut f = ClipFeatures::new(set);
    let (mut rows, mut labels) = (Vec::new(), Vec::new());
    for i in 0..16 {
        let freq = 600.0 + 100.0 * i as f32;
        let ms = 300.0 + 60.0 * i as f64;
        let mut tone = tympan_audio::synth::sine(8000, freq, ms, -12.0 + 0.5 * i as f32);
        // Real lines are never digitally silent around a tone.
        let hiss = tympan_audio::synth::white_noise(8000, ms, -60.0, i as u64 + 1);
        tone.iter_mut().zip(hiss).for_each(|(t, n)| *t += n);
        rows.push(f.row(&tone, 8000).unwrap());
        labels.push(0);
    }
    let call = greeting_then_beep(8000);
    for i in 0..16 {
        let start = 8 * (300 + 100 * i);
        let len = 8 * (600 + 60 * i);
        let gain = 0.5 + 0.1 * i as f32;
        let piece: Vec<f32> = call[start..start + len].iter().map(|v| v * gain).collect();
        rows.push(f.row(&piece, 8000).unwrap());
        labels.push(1);
    }
    let data = tympan_ml::Dataset::new(rows, labels, vec!["beep".into(), "speech".into()]).unwrap();
    let opts = tympan_ml::TrainOptions::new(tympan_ml::ClassifierConfig::logistic_regression());
    std::sync::Arc::new(tympan_ml::Model::train(&data, &opts, set.id()).unwrap())
}

#[tokio::test]
async fn clip_advice_comes_out_as_events_and_leaves_the_result_alone() {
    let factory = tympan_server::analyzer::amd_factory_with_model(Some(clip_model()));
    let server = TestServer::start_with(ServerConfig::default(), factory).await;
    let mut events = server.ws("/v1/events").await;
    let mut media = server.ws("/v1/media/vonage").await;
    let header = json!({"content-type": "audio/l16;rate=16000", "uuid": "advised",
                        "amd": {"mode": "detect_message_end"}});
    media
        .send(Message::Text(header.to_string().into()))
        .await
        .unwrap();
    let pcm = le_bytes(&to_i16(&greeting_then_beep(16000)));
    send_l16(&mut media, &pcm, 640, false).await;
    media.close(None).await.unwrap();
    let msgs = tokio::time::timeout(WAIT, events_until_end(&mut events, "advised"))
        .await
        .expect("events within the wait");
    let result = assert_beep_dropin_result(&msgs, "advised");
    assert_eq!(result["answered_by"], "machine_end_beep", "{result}");
    let clips: Vec<&Value> = msgs.iter().filter(|m| m["type"] == "clip").collect();
    assert_eq!(clips.len(), 2, "{clips:?}");
    assert_eq!(clips[0]["clip"]["label"], "speech", "{:?}", clips[0]);
    assert_eq!(clips[1]["clip"]["label"], "beep", "{:?}", clips[1]);
    let start = clips[1]["clip"]["start_ms"].as_u64().unwrap();
    assert!(
        start.abs_diff(BEEP_START_MS) <= 30,
        "beep clip starts at {start}"
    );
    assert_eq!(clips[1]["call_id"], "advised");
}
