//! A contact flow on a real call path: `AppState::set_flow` (what `tympan serve --flow` does)
//! and an Asterisk AudioSocket caller that listens to the prompts the server plays (espeak-ng,
//! 20 ms frames in real time) and answers with espeak-ng speech through µ-law. The server
//! recognises the answer (PocketSphinx), records a message into the object store, plays the
//! goodbye and hangs up; the call's record holds the flow's trace and final attributes. The
//! shipped `flows/voicemail-drop.json` waits for AMD and the beep of a voicemail (a spoken
//! greeting, then a 1 kHz tone) and starts its message only after the beep has ended. A
//! webhook block POSTs its attributes to a local HTTP server and maps the answer back (an
//! answer over `MAX_WEBHOOK_RESPONSE_BYTES` counts as no body).

mod common;

use common::*;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tympan_server::config::ServerConfig;
use tympan_server::flows::FlowSetup;
use tympan_server::transport::audiosocket::{encode, KIND_AUDIO, KIND_UUID};
use tympan_server::{AppState, Listeners};
use tympan_speech::asr::eval::telephone;
use tympan_speech::tts::{EspeakSettings, EspeakSynthesizer, SpeechInput, Synthesizer};

const UUID: &str = "4a6b2c1d-0e9f-4a8b-8c7d-6e5f4a3b2c1d";
/// A prompt has ended when no audio came from the server for this long.
const PROMPT_GAP: Duration = Duration::from_millis(600);

/// What the server played: (arrival, samples) per frame.
type Heard = Vec<(Instant, Vec<i16>)>;

const FLOW: &str = r#"{
  "version": 1, "id": "callback", "start": "ask",
  "blocks": [
    {"id": "ask", "type": "get_input", "answer_type": "yes_no", "attribute": "callback",
     "prompt": {"text": "Hello. Would you like us to call you back?"},
     "next": "leave", "on_no_match": "bye", "on_no_input": "bye"},
    {"id": "leave", "type": "play", "prompt": {"text": "Please leave a short message."},
     "next": "rec"},
    {"id": "rec", "type": "record", "attribute": "message", "max_length_ms": 15000,
     "end_on_silence_ms": 1500, "next": "bye"},
    {"id": "bye", "type": "play", "prompt": {"text": "Thank you. Goodbye."}, "next": "end"},
    {"id": "end", "type": "hangup", "reason": "done"}
  ]
}"#;

fn speech(text: &str) -> Vec<i16> {
    let tts = EspeakSynthesizer::new(EspeakSettings::default()).expect("espeak-ng starts");
    let p = tts.synthesize(SpeechInput::Text(text), 16000).unwrap();
    telephone(&p.samples, 16000).unwrap()
}

struct Running {
    state: Arc<AppState>,
    dir: std::path::PathBuf,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A server running `flow` on every call, and an AudioSocket caller connected to it: what the
/// server plays is collected in the returned list; the task ends true on the hang-up frame.
async fn start(
    tag: &str,
    flow: &str,
    call_uuid: &str,
) -> (
    Running,
    tokio::net::tcp::OwnedWriteHalf,
    Arc<Mutex<Heard>>,
    tokio::task::JoinHandle<bool>,
) {
    let dir = temp_dir(tag);
    let flow_path = dir.join("flow.json");
    std::fs::write(&flow_path, flow).unwrap();
    let cfg = ServerConfig {
        api_tokens: vec![TEST_TOKEN.into()],
        data_dir: dir.join("data"),
        ..Default::default()
    };
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let as_l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let audiosocket = as_l.local_addr().unwrap();
    let state = AppState::new(cfg, tympan_server::amd_factory())
        .await
        .unwrap();
    state.set_flow(Arc::new(
        FlowSetup::load(&flow_path).expect("the flow loads"),
    ));
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let listeners = Listeners {
        main,
        control: None,
        audiosocket: Some(as_l),
    };
    tokio::spawn(tympan_server::run(listeners, state.clone(), async move {
        let _ = rx.await;
    }));

    let a = tokio::net::TcpStream::connect(audiosocket).await.unwrap();
    let (mut r, mut w) = a.into_split();
    w.write_all(&encode(
        KIND_UUID,
        uuid::Uuid::parse_str(call_uuid).unwrap().as_bytes(),
    ))
    .await
    .unwrap();
    let heard: Arc<Mutex<Heard>> = Arc::default();
    let h = heard.clone();
    let reader = tokio::spawn(async move {
        read_audiosocket(&mut r, |pcm| h.lock().unwrap().push((Instant::now(), pcm))).await
    });
    let running = Running {
        state,
        dir,
        _stop: stop,
    };
    (running, w, heard, reader)
}

/// The ended call's record, once it has ended.
async fn ended_call(state: &AppState, call_uuid: &str) -> Value {
    tokio::time::timeout(WAIT, async {
        loop {
            if let Some(tympan_server::registry::Found::Ended(j)) = state.calls.get(call_uuid) {
                return serde_json::from_str::<Value>(&j).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap()
}

/// The `flow` action of a call's record.
fn flow_report(call: &Value) -> Value {
    let actions = call["actions"].as_array().unwrap();
    actions
        .iter()
        .find(|a| a["action"] == "flow")
        .unwrap_or_else(|| panic!("a flow action in {actions:#?}"))
        .clone()
}

fn blocks(flow: &Value) -> Vec<String> {
    flow["trace"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["block"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_asks_recognises_records_and_hangs_up() {
    let (server, mut w, heard, reader) = start("flow-calls", FLOW, UUID).await;
    let (state, dir) = (server.state.clone(), server.dir.clone());

    // The caller: 20 ms frames in real time; after each prompt ends, the next answer.
    let answers = [speech("yes"), speech("please call me tomorrow morning")];
    let writer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut queue: Vec<i16> = Vec::new();
        let mut prompts_answered = 0;
        for _ in 0..2000 {
            tick.tick().await;
            let prompts_ended = {
                let heard = heard.lock().unwrap();
                let mut bursts = 0;
                for pair in heard.windows(2) {
                    if pair[1].0 - pair[0].0 >= PROMPT_GAP {
                        bursts += 1;
                    }
                }
                if heard.last().is_some_and(|l| l.0.elapsed() >= PROMPT_GAP) {
                    bursts += 1;
                }
                bursts
            };
            if queue.is_empty() && prompts_ended > prompts_answered && prompts_answered < 2 {
                queue = vec![0; 1600];
                queue.extend_from_slice(&answers[prompts_answered]);
                prompts_answered = prompts_ended;
            }
            let mut frame: Vec<i16> = queue.drain(..160.min(queue.len())).collect();
            frame.resize(160, 0);
            if w.write_all(&encode(KIND_AUDIO, &le_bytes(&frame)))
                .await
                .is_err()
            {
                return prompts_answered;
            }
        }
        prompts_answered
    });

    let hung_up = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the flow ends within a minute")
        .unwrap();
    assert!(
        hung_up,
        "the flow's hang-up reaches the caller as a 0x00 frame"
    );
    writer.abort();

    let call = ended_call(&state, UUID).await;
    let actions = call["actions"].as_array().unwrap();
    let flow = flow_report(&call);
    assert_eq!(flow["flow"], "callback");
    assert_eq!(flow["attributes"]["callback"], "yes", "{flow:#}");
    let key = format!("recordings/{UUID}/rec-1.wav");
    assert_eq!(flow["attributes"]["message"], key.as_str());
    assert_eq!(blocks(&flow), ["ask", "leave", "rec", "bye", "end"]);
    // Three prompts were played and logged with their flow ids.
    let plays = actions.iter().filter(|a| a["flow_prompt"].is_u64()).count();
    assert_eq!(plays, 3, "{actions:#?}");
    // The recording is in the object store: the sentence plus the end-on-silence tail.
    let rec = actions
        .iter()
        .find(|a| a["action"] == "recording")
        .expect("a recording action");
    assert_eq!(rec["key"], key.as_str());
    let wav = std::fs::read(dir.join("data/objects").join(&key)).expect("the WAV is stored");
    let audio = tympan_audio::decode::decode_bytes(&wav).unwrap();
    let ms = audio.channels[0].len() as u64 * 1000 / u64::from(audio.sample_rate);
    let said = answers_ms("please call me tomorrow morning");
    assert!(
        ms >= said && ms <= said + 200 + 1500 + 1000,
        "{ms} ms for {said} ms of speech"
    );
}

fn answers_ms(text: &str) -> u64 {
    speech(text).len() as u64 / 8
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_voicemail_drop_flow_leaves_its_message_after_the_beep() {
    const VM_UUID: &str = "5b7c3d2e-1f0a-4b9c-9d8e-7f6a5b4c3d2e";
    let flow = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../flows/voicemail-drop.json"
    ))
    .unwrap();
    let (server, mut w, heard, reader) = start("flow-voicemail", &flow, VM_UUID).await;
    // The callee is a voicemail: a spoken greeting (espeak-ng through µ-law), 400 ms of
    // silence, a 500 ms 1 kHz beep, then silence until the call ends.
    let mut callee = vec![0i16; 2400];
    callee.extend(speech(
        "Hi, you have reached Sam. I cannot take your call right now. \
         Please leave a message after the tone.",
    ));
    callee.extend(vec![0i16; 3200]);
    let beep_start = callee.len();
    callee.extend(
        tympan_audio::synth::sine(8000, 1000.0, 500.0, -6.0)
            .iter()
            .map(|&v| tympan_audio::pcm::f32_to_i16(v)),
    );
    let beep_end_frame = callee.len().div_ceil(160);
    let beep_sent: Arc<Mutex<Option<Instant>>> = Arc::default();
    let sent = beep_sent.clone();
    let writer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for i in 0..3000 {
            tick.tick().await;
            let mut frame: Vec<i16> = callee
                .get(i * 160..)
                .unwrap_or(&[])
                .iter()
                .take(160)
                .copied()
                .collect();
            frame.resize(160, 0);
            if w.write_all(&encode(KIND_AUDIO, &le_bytes(&frame)))
                .await
                .is_err()
            {
                break;
            }
            if i + 1 == beep_end_frame {
                *sent.lock().unwrap() = Some(Instant::now());
            }
        }
    });
    let hung_up = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the flow ends within a minute")
        .unwrap();
    assert!(hung_up, "the flow hangs up after its message");
    writer.abort();
    let call = ended_call(&server.state, VM_UUID).await;
    let flow = flow_report(&call);
    assert_eq!(
        blocks(&flow),
        ["detect", "leave_message", "bye"],
        "{flow:#}"
    );
    assert!(
        call["answered_by"]
            .as_str()
            .unwrap_or("")
            .starts_with("machine"),
        "{call:#}"
    );
    // The message starts after the beep ended (the beep's end is when its last frame left).
    let heard = heard.lock().unwrap();
    let first = heard.first().expect("the message was played").0;
    let last = heard.last().unwrap().0;
    let beep = call["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "beep")
        .expect("a beep event");
    let at = beep["beep"]["start_ms"].as_u64().expect("the beep's start");
    assert!(
        (beep_start as u64 / 8).abs_diff(at) <= 40,
        "beep found at {at} ms, sent at {} ms: {beep}",
        beep_start / 8
    );
    let beep_sent = beep_sent.lock().unwrap().expect("the beep was sent");
    assert!(
        first > beep_sent,
        "the message started before the beep had ended"
    );
    let message_ms = (last - first).as_millis() as u64;
    let words = speech(
        "Hello, this is a message from your clinic. Please call us back at your convenience. Goodbye.",
    )
    .len() as u64
        / 8;
    assert!(
        message_ms + 500 >= words,
        "{message_ms} ms of message for {words} ms of words"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_post_attributes_and_map_the_response_back() {
    const WH_UUID: &str = "6c8d4e3f-2a1b-4c0d-8e9f-0a1b2c3d4e5f";
    // The CRM: records what it was sent; `/crm` answers a small JSON, `/big` 2 MiB of it.
    let got: Arc<Mutex<Vec<Value>>> = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new()
        .route(
            "/crm",
            axum::routing::post(move |body: String| {
                let seen = seen.clone();
                async move {
                    seen.lock()
                        .unwrap()
                        .push(serde_json::from_str(&body).unwrap());
                    axum::Json(serde_json::json!({"name": "Ada", "tier": {"level": 3}}))
                }
            }),
        )
        .route(
            "/big",
            axum::routing::post(|| async {
                format!("{{\"x\": \"{}\"}}", "y".repeat(2 * 1024 * 1024))
            }),
        );
    let crm = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let crm_addr = crm.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(crm, app).await.unwrap() });
    let flow = format!(
        r#"{{"version": 1, "id": "crm", "start": "lookup",
        "attributes": {{"caller": "+15550100"}},
        "blocks": [
          {{"id": "lookup", "type": "webhook", "url": "http://{crm_addr}/crm", "send": ["caller"],
           "response": {{"customer": "/name", "level": "tier.level"}}, "next": "big"}},
          {{"id": "big", "type": "webhook", "url": "http://{crm_addr}/big",
           "response": {{"x": "/x"}}, "next": "end"}},
          {{"id": "end", "type": "hangup"}}]}}"#
    );
    let (server, mut w, _heard, reader) = start("flow-webhook", &flow, WH_UUID).await;
    let writer = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for _ in 0..1000 {
            tick.tick().await;
            if w.write_all(&encode(KIND_AUDIO, &[0u8; 320])).await.is_err() {
                break;
            }
        }
    });
    let hung_up = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .expect("the flow ends")
        .unwrap();
    assert!(hung_up);
    writer.abort();
    let call = ended_call(&server.state, WH_UUID).await;
    let flow = flow_report(&call);
    assert_eq!(blocks(&flow), ["lookup", "big", "end"], "{flow:#}");
    assert_eq!(flow["attributes"]["customer"], "Ada", "{flow:#}");
    assert_eq!(flow["attributes"]["level"], 3, "{flow:#}");
    // The 2 MiB answer is over the cap: read as no JSON body, so nothing is mapped from it.
    assert!(flow["attributes"].get("x").is_none(), "{flow:#}");
    let posted = got.lock().unwrap().clone();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["attributes"]["caller"], "+15550100", "{posted:?}");
    assert_eq!(posted[0]["call_id"], WH_UUID);
    assert_eq!(posted[0]["block_id"], "lookup");
    let http: Vec<&Value> = call["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "flow_http")
        .collect();
    assert_eq!(http.len(), 2);
    assert!(http.iter().all(|a| a["status"] == 200), "{http:?}");
}

#[tokio::test]
async fn post_v1_flows_validates_keeps_and_activates_a_flow() {
    let server = TestServer::start(ServerConfig::default()).await;
    let http = reqwest::Client::new();
    let url = server.http("/v1/flows");
    // No flow yet.
    let r = server.get("/v1/flows").await;
    assert_eq!(r.status(), 404);
    // A flow whose block points nowhere: 400 naming the block and field; nothing changes.
    let bad = r#"{"version": 1, "id": "bad", "start": "a",
        "blocks": [{"id": "a", "type": "play", "prompt": {"text": "hi"}, "next": "nowhere"}]}"#;
    let r = http
        .post(&url)
        .bearer_auth(TEST_TOKEN)
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let err: Value = r.json().await.unwrap();
    let msg = err["error"].as_str().unwrap();
    assert!(msg.contains("nowhere") && msg.contains("next"), "{msg}");
    assert!(server.state.flow().is_none());
    // Without the token: 401.
    let r = http.post(&url).body(FLOW).send().await.unwrap();
    assert_eq!(r.status(), 401);
    // A good flow: 201, kept under the data directory, run by new calls.
    let r = http
        .post(&url)
        .bearer_auth(TEST_TOKEN)
        .body(FLOW)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let info: Value = r.json().await.unwrap();
    assert_eq!(info["id"], "callback");
    assert_eq!(info["blocks"], 5);
    let kept = std::path::PathBuf::from(info["source"].as_str().unwrap());
    assert!(kept.ends_with("flows/callback.json"), "{kept:?}");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), FLOW);
    assert_eq!(server.state.flow().unwrap().flow.id(), "callback");
    let r = server.get_json("/v1/flows").await;
    assert_eq!(r["id"], "callback");
}
