//! SIGKILL safety of the SQLite store behind the writer.
//!
//! The test re-executes its own binary as a child (with `CHILD_ENV` set to a data directory)
//! that writes events through the `Writer` continuously and prints, line by line, the last
//! seq it has queued (`sent N`) and the last seq a flush acknowledged (`committed N`). The
//! parent kills it with SIGKILL mid-stream, then checks that the database passes
//! `PRAGMA integrity_check`, that every acknowledged event is there, that every event queued
//! more than a second before the kill is there, and that what is there has no gaps.
//!
//! A custom harness (`harness = false`): `main` is either the parent or the child.

mod common;

use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tympan_store::*;

/// Set in the child's environment: the data directory to write to.
const CHILD_ENV: &str = "TYMPAN_STORE_CRASH_CHILD";
/// Events the child queues per 10 ms tick (1,000 events/s).
const EVENTS_PER_TICK: i64 = 10;
/// Flush acknowledgements the parent waits for before killing the child.
const ACKS_BEFORE_KILL: usize = 8;
/// Ticks (10 ms) the parent waits after the last acknowledgement before the kill.
const SENDS_AFTER_LAST_ACK: usize = 17;
/// The most a killed process may lose, by the contract.
const MAY_LOSE: Duration = Duration::from_secs(1);
const CALL_ID: &str = "crash-call";

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(dir.into());
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let name = "sigkill_loses_at_most_the_last_second";
    if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
        println!("test {name} ... filtered out");
        return;
    }
    sigkill_loses_at_most_the_last_second();
    println!("test {name} ... ok");
}

fn child(dir: std::path::PathBuf) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let store = open(&StoreConfig::sqlite(dir)).await.expect("open store");
        let w = Writer::spawn(store, WriterConfig::default());
        assert!(w.send(Write::Call(CallRow {
            call_id: CALL_ID.into(),
            platform: "vonage".into(),
            state: CallState::Active,
            sample_rate: 16000,
            started_at: 1,
            ended_at: None,
            audio_ms: 0,
            answered_by: None,
            result: None,
            events_dropped: 0,
        })));
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
        // Flush acknowledgements now and then (most commits are the writer's own timer).
        let (w2, sent2) = (w.clone(), sent.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let s = sent2.load(std::sync::atomic::Ordering::SeqCst);
                w2.flush().await.expect("flush");
                println!("committed {s}");
            }
        });
        let mut seq = 0i64;
        loop {
            let evs: Vec<EventRow> = (0..EVENTS_PER_TICK)
                .map(|_| {
                    seq += 1;
                    EventRow {
                        seq,
                        call_id: CALL_ID.into(),
                        at_ms: seq,
                        kind: "tick".into(),
                        body: json!({"type": "tick", "call_id": CALL_ID, "at_ms": seq,
                                     "pad": "x".repeat(100)}),
                    }
                })
                .collect();
            assert!(w.send(Write::Events(evs)), "writer queue full");
            sent.store(seq, std::sync::atomic::Ordering::SeqCst);
            println!("sent {seq}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
}

fn sigkill_loses_at_most_the_last_second() {
    let dir = common::TempDir::new("crash");
    let data = dir.path().join("data");
    let mut child = Command::new(std::env::current_exe().expect("test binary path"))
        .env(CHILD_ENV, &data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the writer child");
    let out = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    let mut lines: Vec<(Instant, String)> = Vec::new();
    let mut acks = 0;
    while acks < ACKS_BEFORE_KILL {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(l) => {
                acks += l.1.starts_with("committed ") as usize;
                lines.push(l);
            }
            Err(e) => {
                let _ = child.kill();
                panic!("the writer child stopped talking ({e}): {:?}", lines.last());
            }
        }
    }
    // Then some more queued events, so the kill falls between commits.
    let mut more = 0;
    while more < SENDS_AFTER_LAST_ACK {
        let l = rx
            .recv_timeout(Duration::from_secs(120))
            .expect("the writer child stopped talking");
        more += l.1.starts_with("sent ") as usize;
        lines.push(l);
    }
    child.kill().expect("SIGKILL the child"); // std sends SIGKILL on Unix
    let killed_at = Instant::now();
    let status = child.wait().expect("reap the child");
    assert!(!status.success(), "the child was killed: {status}");
    // Lines read before the kill (later ones may have been printed earlier, but need not be
    // counted: that only makes the check less strict, never wrong).
    while let Ok(l) = rx.try_recv() {
        if l.0 <= killed_at {
            lines.push(l);
        }
    }
    let value = |prefix: &str, before: Instant| {
        lines
            .iter()
            .filter(|(t, _)| *t <= before)
            .filter_map(|(_, l)| l.strip_prefix(prefix)?.parse::<i64>().ok())
            .max()
            .unwrap_or(0)
    };
    let committed = value("committed ", killed_at);
    let sent_a_second_before = value("sent ", killed_at - MAY_LOSE);
    let sent = value("sent ", killed_at);
    assert!(committed > 0 && sent_a_second_before > 0, "{lines:?}");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let path = data.join(SQLITE_FILE);
        let mut conn: sqlx::SqliteConnection =
            sqlx::Connection::connect(&format!("sqlite://{}", path.display()))
                .await
                .expect("open the killed database");
        let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await
            .expect("integrity_check");
        assert_eq!(check, ["ok"]);
        drop(conn);
        let s = open(&StoreConfig::sqlite(&data)).await.expect("reopen");
        let mut seqs = Vec::new();
        let mut after = 0;
        loop {
            let page = s.events_since(after, None, MAX_EVENTS_LIMIT).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.seq;
            seqs.extend(page.iter().map(|e| e.seq));
        }
        let stored = seqs.len() as i64;
        assert_eq!(
            seqs,
            (1..=stored).collect::<Vec<_>>(),
            "events stored without gaps"
        );
        assert!(
            stored >= committed,
            "acknowledged up to {committed}, stored {stored}"
        );
        assert!(
            stored >= sent_a_second_before,
            "queued up to {sent_a_second_before} a second before the kill, stored {stored}"
        );
        assert_eq!(s.max_event_seq().await.unwrap(), stored);
        let call = s.get_call(CALL_ID).await.unwrap().expect("the call row");
        assert_eq!(call.call.state, CallState::Active);
        assert_eq!(s.mark_active_calls_ended(2).await.unwrap(), 1);
        eprintln!(
            "crash: queued {sent}, {sent_a_second_before} a second before the kill, \
             acknowledged {committed}, stored {stored} (lost {})",
            sent - stored
        );
    });
}
