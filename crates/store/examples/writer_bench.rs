//! Writer throughput: N events (about 150 bytes of JSON each) through the batched writer,
//! then one flush; prints events/s.
//!
//! `cargo run --release -p tympan-store --example writer_bench -- [EVENTS] [DATABASE_URL]`
//! (SQLite in a temporary directory when no URL is given).

use serde_json::json;
use std::time::Instant;
use tympan_store::*;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: i64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(200_000);
    let url = args.next();
    let dir = std::env::temp_dir().join(format!("tympan-writer-bench-{}", std::process::id()));
    let store = open(&StoreConfig {
        data_dir: dir.clone(),
        database_url: url,
    })
    .await?;
    let base = store.max_event_seq().await?;
    let w = Writer::spawn(store.clone(), WriterConfig::default());
    let calls = 1000;
    let t = Instant::now();
    for c in 0..calls {
        w.send(Write::Call(CallRow {
            call_id: format!("bench-{c}"),
            platform: "vonage".into(),
            state: CallState::Active,
            sample_rate: 16000,
            started_at: c,
            ended_at: None,
            audio_ms: 0,
            answered_by: None,
            result: None,
            events_dropped: 0,
        }));
    }
    let mut sent = 0;
    for i in 1..=n {
        let id = format!("bench-{}", i % calls);
        let ok = w.send(Write::Events(vec![EventRow {
            seq: base + i,
            call_id: id.clone(),
            at_ms: i,
            kind: "speech_start".into(),
            body: json!({"type": "speech_start", "call_id": id, "at_ms": i, "energy_db": -23.5}),
        }]));
        sent += ok as i64;
        // Keep the queue below its bound: this measures commits, not drops.
        while w.queued() > 30_000 {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
    }
    w.flush().await?;
    let s = t.elapsed().as_secs_f64();
    let m = w.metrics();
    println!(
        "{}: {sent} events + {calls} calls committed in {s:.2} s = {:.0} events/s \
         (dropped {}, failed {})",
        store.backend(),
        sent as f64 / s,
        m.dropped,
        m.failed
    );
    w.shutdown().await?;
    let _ = std::fs::remove_dir_all(dir);
    Ok(())
}
