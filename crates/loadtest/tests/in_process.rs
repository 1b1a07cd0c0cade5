//! The load generator against an in-process server on 127.0.0.1:0: five calls of a few seconds
//! of synthesised speech-like audio and a beep, each answered with a result.

use std::time::Duration;
use tympan_loadtest::{Clip, LoadConfig};
use tympan_server::config::ServerConfig;
use tympan_server::AppState;

/// Voiced syllables (harmonic complex on a gliding pitch, syllabic envelope) for `speech_ms`,
/// 400 ms of near-silence, a 1 kHz beep of 500 ms, then 600 ms of near-silence.
fn greeting_then_beep(rate: u32, speech_ms: f64) -> Vec<f32> {
    let mut x = Vec::new();
    let mut phase = 0.0f64;
    let n = (speech_ms * f64::from(rate) / 1000.0) as usize;
    for i in 0..n {
        let t = i as f64 / f64::from(rate);
        let syl = (t * 1000.0 / 220.0).fract();
        let env = (std::f64::consts::PI * syl).sin().powf(0.6) * 0.9 + 0.1;
        let f0 = 120.0 + 35.0 * (2.0 * std::f64::consts::PI * 1.3 * t).sin();
        phase += 2.0 * std::f64::consts::PI * f0 / f64::from(rate);
        let formant = 500.0 + 900.0 * (0.5 + 0.5 * (2.0 * std::f64::consts::PI * 2.1 * t).sin());
        let mut v = 0.0;
        let mut k = 1.0;
        while k * f0 < 3400.0f64.min(f64::from(rate) / 2.0) {
            let w = 1.0 / (1.0 + ((k * f0 - formant) / 300.0).powi(2)) + 0.3 / k;
            v += w * (k * phase).sin();
            k += 1.0;
        }
        x.push((0.12 * env * v) as f32);
    }
    let quiet = |ms: f64, x: &mut Vec<f32>| {
        x.extend(tympan_audio::synth::white_noise(rate, ms, -70.0, 5));
    };
    quiet(400.0, &mut x);
    x.extend(tympan_audio::synth::sine(rate, 1000.0, 500.0, -10.0));
    quiet(600.0, &mut x);
    x
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_calls_complete_with_results_and_finite_latencies() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The control routes (/v1/events) need a bearer token; the generator sends it.
    let token = "loadtest-token-0123456789";
    let data_dir = std::env::temp_dir().join(format!("tympan-loadtest-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let config = ServerConfig {
        api_tokens: vec![token.to_owned()],
        data_dir: data_dir.clone(),
        ..Default::default()
    };
    let state = AppState::new(config, tympan_server::amd_factory())
        .await
        .expect("store opens");
    tokio::spawn(async move { tympan_server::serve(listener, state).await.unwrap() });

    let rate = 8000;
    let clips = vec![
        Clip::from_f32("greeting-3s", &greeting_then_beep(rate, 3000.0)),
        Clip::from_f32("greeting-3.5s", &greeting_then_beep(rate, 3500.0)),
    ];
    let mut cfg = LoadConfig::new(&format!("ws://{addr}/v1/media/vonage")).unwrap();
    cfg.token = Some(token.to_owned());
    cfg.concurrency = 5;
    cfg.rate = rate;
    cfg.ramp = Duration::from_millis(500);
    // Long enough for one call per slot; the bound stops a second round.
    cfg.duration = Duration::from_secs(30);
    cfg.max_calls = 5;
    cfg.drain = Duration::from_secs(20);
    cfg.server_pid = tympan_loadtest::procfs::pid_listening_on(addr.port());
    cfg.header.insert(
        "amd".into(),
        serde_json::json!({"mode": "detect_message_end"}),
    );
    let r = tympan_loadtest::run(cfg, clips).await.unwrap();
    let text = r.to_text();
    assert_eq!(r.calls_started, 5, "{text}");
    assert_eq!(r.calls_completed, 5, "{text}");
    assert_eq!(r.calls_failed, 0, "{text}");
    assert_eq!(r.results, 5, "{text}");
    assert_eq!(r.peak_concurrent, 5, "{text}");
    // Every call decided while audio was still flowing (the beep comes before the end), so
    // every result has a latency, and beeps add lag samples.
    assert_eq!(r.decision_latency_ms.n, 5, "{text}");
    assert!(r.lag_ms.n >= 5, "{text}");
    assert_eq!(r.end_lag_ms.n, 5, "{text}");
    for p in [
        &r.decision_latency_ms,
        &r.lag_ms,
        &r.event_lag_ms,
        &r.end_lag_ms,
    ] {
        for v in [p.p50, p.p99, p.max] {
            let v = v.unwrap();
            assert!(v.is_finite() && v >= 0.0, "{text}");
        }
    }
    assert_eq!(r.events_ahead_of_audio, 0, "{text}");
    assert_eq!(r.events_missed, 0, "{text}");
    // The server here is this process, found by its port.
    let s = r.server.as_ref().expect("server sampled");
    assert_eq!(s.pid, Some(std::process::id()));
    assert!(s.rss_mb_max > 0.0, "{text}");
    // 5 calls × (speech + 1.5 s) of audio.
    let expect_s = 3.0 * 4.5 + 2.0 * 5.0;
    assert!((r.audio_s - expect_s).abs() < 0.1, "{text}");
}
