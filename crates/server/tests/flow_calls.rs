//! A contact flow on a real call path: `AppState::set_flow` (what `tympan serve --flow` does)
//! and an Asterisk AudioSocket caller that listens to the prompts the server plays (espeak-ng,
//! 20 ms frames in real time) and answers with espeak-ng speech through µ-law. The server
//! recognises the answer (PocketSphinx), records a message into the object store, plays the
//! goodbye and hangs up; the call's record holds the flow's trace and final attributes.

mod common;

use common::*;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use tympan_server::config::ServerConfig;
use tympan_server::flows::FlowSetup;
use tympan_server::transport::audiosocket::{encode, KIND_AUDIO, KIND_HANGUP, KIND_UUID};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_asks_recognises_records_and_hangs_up() {
    let dir = temp_dir("flow-calls");
    let flow_path = dir.join("callback.json");
    std::fs::write(&flow_path, FLOW).unwrap();
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
    let (_stop, rx) = tokio::sync::oneshot::channel::<()>();
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
        uuid::Uuid::parse_str(UUID).unwrap().as_bytes(),
    ))
    .await
    .unwrap();

    // What the server plays: (arrival, samples) per frame.
    let heard: Arc<Mutex<Heard>> = Arc::default();
    let h = heard.clone();
    let reader = tokio::spawn(async move {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = r.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return false;
            }
            buf.extend_from_slice(&chunk[..n]);
            while buf.len() >= 3 {
                let len = usize::from(u16::from_be_bytes([buf[1], buf[2]]));
                if buf.len() < 3 + len {
                    break;
                }
                let kind = buf[0];
                let payload: Vec<u8> = buf.drain(..3 + len).skip(3).collect();
                if kind == KIND_HANGUP {
                    return true;
                }
                let pcm = payload
                    .chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect();
                h.lock().unwrap().push((Instant::now(), pcm));
            }
        }
    });

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

    let call = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(tympan_server::registry::Found::Ended(j)) = state.calls.get(UUID) {
                return serde_json::from_str::<Value>(&j).unwrap();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    let actions = call["actions"].as_array().unwrap();
    let flow = actions
        .iter()
        .find(|a| a["action"] == "flow")
        .unwrap_or_else(|| panic!("a flow action in {actions:#?}"));
    assert_eq!(flow["flow"], "callback");
    assert_eq!(flow["attributes"]["callback"], "yes", "{flow:#}");
    let key = format!("recordings/{UUID}/rec-1.wav");
    assert_eq!(flow["attributes"]["message"], key.as_str());
    let blocks: Vec<&str> = flow["trace"]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["block"].as_str().unwrap())
        .collect();
    assert_eq!(blocks, ["ask", "leave", "rec", "bye", "end"]);
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
