//! The store's behaviour, written once and run on both backends (`sqlite::…` and
//! `postgres::…`). PostgreSQL: `TYMPAN_TEST_DATABASE_URL`, or a throwaway server the harness
//! starts itself (see `common/pg.rs`).

mod common;

use async_trait::async_trait;
use common::{Backend, Fixture};
use serde_json::json;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tympan_store::*;

fn call(id: &str, started_at: i64) -> CallRow {
    CallRow {
        call_id: id.into(),
        platform: "vonage".into(),
        state: CallState::Active,
        sample_rate: 16000,
        started_at,
        ended_at: None,
        audio_ms: 0,
        answered_by: None,
        result: None,
        events_dropped: 0,
    }
}

fn ended(id: &str, started_at: i64, answered_by: &str) -> CallRow {
    CallRow {
        state: CallState::Ended,
        ended_at: Some(started_at + 5000),
        audio_ms: 5000,
        answered_by: Some(answered_by.into()),
        result: Some(json!({"answered_by": answered_by, "beep": null})),
        ..call(id, started_at)
    }
}

fn event(seq: i64, id: &str, at_ms: i64, kind: &str) -> EventRow {
    EventRow {
        seq,
        call_id: id.into(),
        at_ms,
        kind: kind.into(),
        body: json!({"type": kind, "call_id": id, "at_ms": at_ms, "score": 0.999}),
    }
}

fn action(id: &str, idx: i64) -> ActionRow {
    ActionRow {
        call_id: id.into(),
        idx,
        body: json!({"action": "hangup", "ok": true, "n": idx}),
    }
}

fn ids(calls: &[CallRow]) -> Vec<String> {
    calls.iter().map(|c| c.call_id.clone()).collect()
}

async fn all_events(s: &Arc<dyn Store>) -> Vec<EventRow> {
    s.events_since(0, None, MAX_EVENTS_LIMIT).await.unwrap()
}

// ---------------------------------------------------------------------------------------

async fn round_trip(fx: Fixture) {
    let s = fx.open().await;
    assert_eq!(
        s.backend(),
        match fx.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    );
    assert!(s.get_call("c1").await.unwrap().is_none());
    let c = ended("c1", 1_700_000_000_000, "machine");
    s.upsert_call(&c).await.unwrap();
    let evs = vec![
        event(1, "c1", 0, "call_start"),
        event(2, "c1", 1200, "speech_start"),
        event(3, "c1", 4100, "beep"),
    ];
    s.append_events(&evs).await.unwrap();
    // Events of another call do not show.
    s.append_events(&[event(4, "other", 0, "call_start")])
        .await
        .unwrap();
    let acts = vec![action("c1", 0), action("c1", 1)];
    s.append_actions(&acts).await.unwrap();
    let d = s.get_call("c1").await.unwrap().expect("stored call");
    assert_eq!(d.call, c);
    assert_eq!(d.events, evs);
    assert_eq!(d.actions, acts);
    // Unicode and the largest id survive.
    let long = format!("ü{}", "x".repeat(MAX_CALL_ID_LEN - 2));
    s.upsert_call(&call(&long, 1)).await.unwrap();
    assert_eq!(s.get_call(&long).await.unwrap().unwrap().call.call_id, long);
}

async fn upsert_updates(fx: Fixture) {
    let s = fx.open().await;
    s.upsert_call(&call("u", 10)).await.unwrap();
    let mut c = call("u", 10);
    c.audio_ms = 900;
    s.upsert_call(&c).await.unwrap();
    assert_eq!(s.get_call("u").await.unwrap().unwrap().call.audio_ms, 900);
    let e = ended("u", 10, "human");
    s.upsert_call(&e).await.unwrap();
    let got = s.get_call("u").await.unwrap().unwrap().call;
    assert_eq!(got, e);
    assert_eq!(s.totals().await.unwrap().0, 1);
    // In one batch, the last row of an id wins.
    let mut last = ended("v", 20, "machine");
    last.events_dropped = 7;
    s.write_batch(&Batch {
        calls: vec![call("v", 20), call("w", 30), last.clone()],
        ..Batch::default()
    })
    .await
    .unwrap();
    assert_eq!(s.get_call("v").await.unwrap().unwrap().call, last);
    assert_eq!(s.totals().await.unwrap().0, 3);
}

async fn appends_are_idempotent(fx: Fixture) {
    let s = fx.open().await;
    s.upsert_call(&call("a", 1)).await.unwrap();
    s.append_events(&[event(1, "a", 0, "x"), event(2, "a", 5, "y")])
        .await
        .unwrap();
    let (_, bytes) = s.totals().await.unwrap();
    assert!(bytes > 0);
    // A replayed batch (writer retry) neither fails nor duplicates nor counts twice.
    s.append_events(&[event(2, "a", 5, "y"), event(3, "a", 9, "z")])
        .await
        .unwrap();
    s.append_actions(&[action("a", 0)]).await.unwrap();
    s.append_actions(&[action("a", 0), action("a", 0)])
        .await
        .unwrap();
    // The same seq twice in one batch: the first is kept.
    let twice = event(4, "a", 1, "first");
    s.append_events(&[twice.clone(), event(4, "a", 2, "second")])
        .await
        .unwrap();
    assert_eq!(
        s.events_since(3, None, 10).await.unwrap(),
        std::slice::from_ref(&twice)
    );
    let d = s.get_call("a").await.unwrap().unwrap();
    assert_eq!(
        d.events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(d.actions.len(), 1);
    let (_, bytes2) = s.totals().await.unwrap();
    let one_event = serde_json::to_string(&event(3, "a", 9, "z").body)
        .unwrap()
        .len()
        + serde_json::to_string(&twice.body).unwrap().len();
    let one_action = serde_json::to_string(&action("a", 0).body).unwrap().len();
    assert_eq!(bytes2 - bytes, (one_event + one_action) as u64);
}

async fn bad_input_is_named(fx: Fixture) {
    let s = fx.open().await;
    let long = "x".repeat(MAX_CALL_ID_LEN + 1);
    let e = s.upsert_call(&call(&long, 1)).await.unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::Invalid {
                field: "call_id",
                ..
            }
        ),
        "{e}"
    );
    let e = s
        .append_events(&[event(1, &long, 0, "x")])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("call_id"), "{e}");
    // Nothing of the refused batch was written.
    assert!(all_events(&s).await.is_empty());
}

async fn filters(fx: Fixture) {
    let s = fx.open().await;
    let rows = vec![
        ended("m1", 100, "machine"),
        ended("h1", 200, "human"),
        call("a1", 300),
        ended("m2", 400, "machine"),
        call("a2", 500),
    ];
    s.write_batch(&Batch {
        calls: rows,
        ..Batch::default()
    })
    .await
    .unwrap();
    let list = |f: CallFilter| {
        let s = s.clone();
        async move { ids(&s.list_calls(&f).await.unwrap().calls) }
    };
    assert_eq!(
        list(CallFilter::default()).await,
        ["a2", "m2", "a1", "h1", "m1"]
    );
    assert_eq!(
        list(CallFilter {
            state: Some(CallState::Active),
            ..CallFilter::default()
        })
        .await,
        ["a2", "a1"]
    );
    assert_eq!(
        list(CallFilter {
            state: Some(CallState::Ended),
            ..CallFilter::default()
        })
        .await,
        ["m2", "h1", "m1"]
    );
    assert_eq!(
        list(CallFilter {
            answered_by: Some("machine".into()),
            ..CallFilter::default()
        })
        .await,
        ["m2", "m1"]
    );
    assert_eq!(
        list(CallFilter {
            since: Some(200),
            ..CallFilter::default()
        })
        .await,
        ["a2", "m2", "a1", "h1"]
    );
    assert_eq!(
        list(CallFilter {
            state: Some(CallState::Ended),
            answered_by: Some("machine".into()),
            since: Some(101),
            ..CallFilter::default()
        })
        .await,
        ["m2"]
    );
    assert!(list(CallFilter {
        answered_by: Some("fax".into()),
        ..CallFilter::default()
    })
    .await
    .is_empty());
}

async fn pagination(fx: Fixture) {
    let s = fx.open().await;
    // 120 calls, three per start time (ties are broken by call id).
    let rows: Vec<CallRow> = (0..120)
        .map(|i| {
            let c = ended(&format!("p{i:03}"), 1000 + (i / 3) as i64, "human");
            if i % 2 == 0 {
                CallRow {
                    state: CallState::Active,
                    ..c
                }
            } else {
                c
            }
        })
        .collect();
    s.write_batch(&Batch {
        calls: rows.clone(),
        ..Batch::default()
    })
    .await
    .unwrap();
    let mut expected = rows.clone();
    expected.sort_by(|a, b| (b.started_at, &b.call_id).cmp(&(a.started_at, &a.call_id)));
    let mut got = Vec::new();
    let mut cursor = None;
    let mut sizes = Vec::new();
    loop {
        let page = s
            .list_calls(&CallFilter {
                limit: Some(50),
                cursor: cursor.clone(),
                ..CallFilter::default()
            })
            .await
            .unwrap();
        sizes.push(page.calls.len());
        got.extend(page.calls);
        if sizes.len() == 1 {
            // Calls arriving meanwhile (newer) do not shift the following pages.
            s.upsert_call(&call("new1", 5000)).await.unwrap();
            s.upsert_call(&call("new2", 5001)).await.unwrap();
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(sizes, [50, 50, 20]);
    assert_eq!(ids(&got), ids(&expected));
    let unique: HashSet<_> = got.iter().map(|c| c.call_id.clone()).collect();
    assert_eq!(unique.len(), 120);
    // Pagination with a filter: the 60 active calls, 25 per page.
    let mut n = 0;
    let mut cursor = None;
    loop {
        let page = s
            .list_calls(&CallFilter {
                state: Some(CallState::Active),
                since: Some(1000),
                limit: Some(25),
                cursor,
                ..CallFilter::default()
            })
            .await
            .unwrap();
        assert!(page.calls.iter().all(|c| c.state == CallState::Active));
        n += page.calls.len();
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(n, 60 + 2);
    // Limits are clamped.
    let p = s
        .list_calls(&CallFilter {
            limit: Some(100_000),
            ..CallFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(p.calls.len(), 122);
    assert!(p.next_cursor.is_none());
    let p = s
        .list_calls(&CallFilter {
            limit: Some(0),
            ..CallFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(ids(&p.calls), ["new2"]);
}

async fn bad_cursor(fx: Fixture) {
    let s = fx.open().await;
    s.upsert_call(&call("x", 1)).await.unwrap();
    for bad in ["nonsense", "c1.12.zz", "c1.abc.61", ""] {
        let e = s
            .list_calls(&CallFilter {
                cursor: Some(bad.into()),
                ..CallFilter::default()
            })
            .await
            .unwrap_err();
        match &e {
            StoreError::BadCursor { cursor, .. } => assert_eq!(cursor, bad),
            other => panic!("{bad:?}: {other}"),
        }
        assert!(e.to_string().contains("cursor"), "{e}");
    }
}

async fn events_since(fx: Fixture) {
    let s = fx.open().await;
    let mut evs = Vec::new();
    for seq in 1..=30 {
        let id = if seq % 3 == 0 { "b" } else { "a" };
        evs.push(event(seq, id, seq * 10, "tick"));
    }
    // Written out of order: reads are in seq order all the same.
    let mut shuffled = evs.clone();
    shuffled.reverse();
    s.append_events(&shuffled).await.unwrap();
    assert_eq!(all_events(&s).await, evs);
    let after = s.events_since(25, None, 100).await.unwrap();
    assert_eq!(
        after.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [26, 27, 28, 29, 30]
    );
    let b = s.events_since(0, Some("b"), 100).await.unwrap();
    assert_eq!(
        b.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [3, 6, 9, 12, 15, 18, 21, 24, 27, 30]
    );
    let b = s.events_since(12, Some("b"), 3).await.unwrap();
    assert_eq!(b.iter().map(|e| e.seq).collect::<Vec<_>>(), [15, 18, 21]);
    assert!(s.events_since(30, None, 10).await.unwrap().is_empty());
    assert!(s.events_since(0, Some("zz"), 10).await.unwrap().is_empty());
    assert_eq!(s.events_since(0, None, 7).await.unwrap().len(), 7);
}

async fn max_event_seq(fx: Fixture) {
    let s = fx.open().await;
    assert_eq!(s.max_event_seq().await.unwrap(), 0);
    s.upsert_call(&ended("old", 1, "human")).await.unwrap();
    s.upsert_call(&call("live", 2)).await.unwrap();
    s.append_events(&[event(5, "live", 0, "a"), event(41, "old", 0, "b")])
        .await
        .unwrap();
    assert_eq!(s.max_event_seq().await.unwrap(), 41);
    // Pruning the call holding the newest event does not lower the numbering.
    let r = s
        .prune(&PruneLimit {
            keep_calls: Some(0),
            ..PruneLimit::default()
        })
        .await
        .unwrap();
    assert_eq!((r.calls, r.events), (1, 1));
    assert_eq!(ids_of_events(&s).await, [5]);
    assert_eq!(s.max_event_seq().await.unwrap(), 41);
    drop(s);
    let s = fx.open().await;
    assert_eq!(s.max_event_seq().await.unwrap(), 41);
}

async fn ids_of_events(s: &Arc<dyn Store>) -> Vec<i64> {
    all_events(s).await.iter().map(|e| e.seq).collect()
}

async fn restart_keeps_everything(fx: Fixture) {
    let s = fx.open().await;
    let c = ended("r1", 77, "machine");
    s.upsert_call(&c).await.unwrap();
    s.upsert_call(&call("r2", 78)).await.unwrap();
    s.append_events(&[event(1, "r1", 0, "beep")]).await.unwrap();
    s.append_actions(&[action("r1", 0)]).await.unwrap();
    let before = s.get_call("r1").await.unwrap();
    s.close().await;
    drop(s);
    // Reopening runs the migrations again: they are idempotent.
    for _ in 0..2 {
        let s = fx.open().await;
        assert_eq!(s.get_call("r1").await.unwrap(), before);
        assert_eq!(s.totals().await.unwrap().0, 2);
        s.close().await;
    }
    let s = fx.open().await;
    // After a crash the server marks what was left active as ended.
    assert_eq!(s.mark_active_calls_ended(999).await.unwrap(), 1);
    let r2 = s.get_call("r2").await.unwrap().unwrap().call;
    assert_eq!((r2.state, r2.ended_at), (CallState::Ended, Some(999)));
    assert_eq!(
        s.get_call("r1").await.unwrap(),
        before,
        "ended calls untouched"
    );
    assert_eq!(s.mark_active_calls_ended(1000).await.unwrap(), 0);
    if fx.backend == Backend::Sqlite {
        assert!(fx.cfg.sqlite_path().exists());
    }
}

async fn prune_keeps_active_calls(fx: Fixture) {
    let s = fx.open().await;
    let mut seq = 0;
    let mut batch = Batch::default();
    for i in 0..10 {
        let id = format!("k{i}");
        let row = if i % 4 == 0 {
            call(&id, i)
        } else {
            ended(&id, i, "human")
        };
        batch.calls.push(row);
        for _ in 0..3 {
            seq += 1;
            batch.events.push(event(seq, &id, 0, "tick"));
        }
        batch.actions.push(action(&id, 0));
    }
    s.write_batch(&batch).await.unwrap();
    // Active: k0, k4, k8. Ended, oldest first: k1 k2 k3 k5 k6 k7 k9.
    let r = s
        .prune(&PruneLimit {
            keep_calls: Some(3),
            ..PruneLimit::default()
        })
        .await
        .unwrap();
    assert_eq!(
        r,
        PruneReport {
            calls: 4,
            events: 12,
            actions: 4
        }
    );
    let left = ids(&s.list_calls(&CallFilter::default()).await.unwrap().calls);
    assert_eq!(left, ["k9", "k8", "k7", "k6", "k4", "k0"]);
    assert!(s.get_call("k1").await.unwrap().is_none());
    assert!(s.events_since(0, Some("k1"), 10).await.unwrap().is_empty());
    // A byte budget: per call 3 events + 1 action.
    let (_, total) = s.totals().await.unwrap();
    let per_call = total / 6;
    let r = s
        .prune(&PruneLimit {
            keep_bytes: Some(total - per_call - 1),
            ..PruneLimit::default()
        })
        .await
        .unwrap();
    assert_eq!(
        r.calls, 2,
        "the two oldest ended calls cover one call's bytes + 1"
    );
    let left = ids(&s.list_calls(&CallFilter::default()).await.unwrap().calls);
    assert_eq!(left, ["k9", "k8", "k4", "k0"]);
    // Even a budget of 0 leaves every active call and its data.
    let r = s
        .prune(&PruneLimit {
            keep_calls: Some(0),
            keep_bytes: Some(0),
        })
        .await
        .unwrap();
    assert_eq!(r.calls, 1);
    let left = ids(&s.list_calls(&CallFilter::default()).await.unwrap().calls);
    assert_eq!(left, ["k8", "k4", "k0"]);
    for id in ["k0", "k4", "k8"] {
        let d = s.get_call(id).await.unwrap().unwrap();
        assert_eq!((d.events.len(), d.actions.len()), (3, 1), "{id}");
    }
    assert_eq!(s.totals().await.unwrap(), (3, per_call * 3));
    // Nothing to do: nothing deleted.
    let r = s.prune(&PruneLimit::default()).await.unwrap();
    assert_eq!(r, PruneReport::default());
}

// ---------------------------------------------------------------------------------------
// The writer.

/// Records each batch's size; can be told to fail.
struct Recorder {
    inner: Arc<dyn Store>,
    batches: Mutex<Vec<usize>>,
    fail: std::sync::atomic::AtomicBool,
}

impl Recorder {
    fn new(inner: Arc<dyn Store>) -> Arc<Recorder> {
        Arc::new(Recorder {
            inner,
            batches: Mutex::new(Vec::new()),
            fail: false.into(),
        })
    }
    fn batches(&self) -> Vec<usize> {
        self.batches.lock().unwrap().clone()
    }
}

#[async_trait]
impl Store for Recorder {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn write_batch(&self, b: &Batch) -> Result<()> {
        self.batches.lock().unwrap().push(b.len());
        if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::Config("told to fail".into()));
        }
        self.inner.write_batch(b).await
    }
    async fn get_call(&self, id: &str) -> Result<Option<CallDetail>> {
        self.inner.get_call(id).await
    }
    async fn sip_trace(&self, id: &str) -> Result<Vec<SipMessageRow>> {
        self.inner.sip_trace(id).await
    }
    async fn list_calls(&self, f: &CallFilter) -> Result<Page> {
        self.inner.list_calls(f).await
    }
    async fn events_since(&self, a: i64, c: Option<&str>, l: u32) -> Result<Vec<EventRow>> {
        self.inner.events_since(a, c, l).await
    }
    async fn max_event_seq(&self) -> Result<i64> {
        self.inner.max_event_seq().await
    }
    async fn mark_active_calls_ended(&self, t: i64) -> Result<u64> {
        self.inner.mark_active_calls_ended(t).await
    }
    async fn prune(&self, l: &PruneLimit) -> Result<PruneReport> {
        self.inner.prune(l).await
    }
    async fn totals(&self) -> Result<(u64, u64)> {
        self.inner.totals().await
    }
    async fn close(&self) {
        self.inner.close().await
    }
}

// These run on a current-thread runtime: the writer task only runs when the test awaits, so
// what is queued before an await is exactly known.

async fn writer_batches_and_flushes(fx: Fixture) {
    let s = fx.open().await;
    let rec = Recorder::new(s.clone());
    let w = Writer::spawn(
        rec.clone(),
        WriterConfig {
            flush_every: Duration::from_secs(3600),
            max_batch: 10,
            queue: 1000,
        },
    );
    assert!(w.send(Write::Call(call("w", 1))));
    for seq in 1..=24 {
        assert!(w.send(Write::Events(vec![event(seq, "w", seq, "tick")])));
    }
    assert_eq!(w.queued(), 25);
    w.flush().await.unwrap();
    // Two full batches, then the rest at the flush (long before flush_every).
    assert_eq!(rec.batches(), [10, 10, 5]);
    assert_eq!(
        w.metrics(),
        WriterMetrics {
            queued: 0,
            written: 25,
            dropped: 0,
            failed: 0,
            write_lag_ms: 0
        }
    );
    assert_eq!(ids_of_events(&s).await, (1..=24).collect::<Vec<_>>());
    // Several messages of several kinds in one transaction.
    w.send(Write::Actions(vec![action("w", 0), action("w", 1)]));
    let mut c = ended("w", 1, "machine");
    c.events_dropped = 3;
    w.send(Write::Call(c.clone()));
    w.flush().await.unwrap();
    assert_eq!(rec.batches(), [10, 10, 5, 3]);
    let d = s.get_call("w").await.unwrap().unwrap();
    assert_eq!((d.call, d.actions.len()), (c, 2));
    // An empty flush writes nothing.
    w.flush().await.unwrap();
    assert_eq!(rec.batches().len(), 4);
    w.shutdown().await.unwrap();
    assert!(!w.send(Write::Call(call("late", 2))));
    assert_eq!(w.dropped(), 1);
    assert!(matches!(w.flush().await, Err(StoreError::WriterClosed)));
}

async fn writer_commits_on_its_own(fx: Fixture) {
    let s = fx.open().await;
    let rec = Recorder::new(s.clone());
    let w = Writer::spawn(
        rec.clone(),
        WriterConfig {
            flush_every: Duration::from_millis(20),
            max_batch: 1000,
            queue: 100,
        },
    );
    // The task goes idle (nothing queued, no deadline) before the first send: a send to an
    // idle writer must arm its timer, and so must the first send after a commit.
    tokio::time::sleep(Duration::from_millis(50)).await;
    w.send(Write::Events(vec![
        event(1, "t", 0, "a"),
        event(2, "t", 0, "b"),
    ]));
    // No flush: the timer commits. (Waits for the commit; the bound is only a hang guard.)
    let wait_written = |n: u64| {
        let w = w.clone();
        async move {
            let mut waits = 0;
            while w.written() < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
                waits += 1;
                assert!(waits < 12_000, "the writer never committed on its own");
            }
        }
    };
    wait_written(2).await;
    assert_eq!(rec.batches(), [2]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    w.send(Write::Events(vec![event(3, "t", 0, "c")]));
    wait_written(3).await;
    assert_eq!(rec.batches(), [2, 1]);
    assert_eq!(ids_of_events(&s).await, [1, 2, 3]);
    assert_eq!(w.write_lag_ms(), 0);
    assert_eq!(w.queued(), 0);
}

async fn writer_counts_drops_and_failures(fx: Fixture) {
    let s = fx.open().await;
    let rec = Recorder::new(s.clone());
    let w = Writer::spawn(
        rec.clone(),
        WriterConfig {
            flush_every: Duration::from_secs(3600),
            max_batch: 1000,
            queue: 8,
        },
    );
    let w2 = w.clone();
    let mut accepted = 0;
    for seq in 1..=10 {
        // Two rows per message; the queue holds 8 rows.
        let ok = w2.send(Write::Events(vec![
            event(2 * seq - 1, "d", 0, "a"),
            event(2 * seq, "d", 0, "b"),
        ]));
        accepted += ok as i64;
    }
    assert_eq!(accepted, 4);
    assert_eq!((w.queued(), w.dropped()), (8, 12));
    // An id the store would refuse is dropped at the door, not in a batch.
    assert!(!w.send(Write::Call(call(&"x".repeat(MAX_CALL_ID_LEN + 1), 0))));
    assert_eq!(w.dropped(), 13);
    w.flush().await.unwrap();
    assert_eq!(ids_of_events(&s).await, (1..=8).collect::<Vec<_>>());
    assert_eq!((w.written(), w.queued()), (8, 0));
    // A failing batch: counted, reported by the next flush only.
    rec.fail.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(w.send(Write::Events(vec![event(100, "d", 0, "c")])));
    let e = w.flush().await.unwrap_err();
    assert!(e.to_string().contains("told to fail"), "{e}");
    assert_eq!((w.failed(), w.written(), w.queued()), (1, 8, 0));
    assert!(w.last_error().unwrap().contains("told to fail"));
    rec.fail.store(false, std::sync::atomic::Ordering::Relaxed);
    w.flush().await.unwrap();
    // The lag is the age of the oldest row not committed, time in the queue included (the
    // writer task cannot run during this blocking sleep), and 0 once committed.
    assert_eq!(w.write_lag_ms(), 0);
    assert!(w.send(Write::Events(vec![event(101, "d", 0, "c")])));
    std::thread::sleep(Duration::from_millis(30));
    assert!(w.send(Write::Events(vec![event(102, "d", 0, "c")])));
    assert!(w.write_lag_ms() >= 30, "{}", w.write_lag_ms());
    assert_eq!(w.queued(), 2);
    w.flush().await.unwrap();
    assert_eq!(w.write_lag_ms(), 0);
    assert_eq!(ids_of_events(&s).await.last(), Some(&102));
}

#[tokio::test]
async fn bad_configs_are_named() {
    let e = open(&StoreConfig {
        data_dir: "unused".into(),
        database_url: Some("mysql://u:hunter2@h/db".into()),
    })
    .await
    .err()
    .expect("mysql refused");
    let text = e.to_string();
    assert!(
        text.contains("database_url") && text.contains("mysql://u:***@h/db"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
    // A data_dir that is a file.
    let dir = common::TempDir::new("badcfg");
    let file = dir.path().join("f");
    std::fs::write(&file, b"x").unwrap();
    let e = open(&StoreConfig::sqlite(&file))
        .await
        .err()
        .expect("a file");
    assert!(
        matches!(&e, StoreError::Io { path, .. } if *path == file),
        "{e}"
    );
    // An SQLite file that is not a database.
    let d2 = dir.path().join("d2");
    std::fs::create_dir_all(&d2).unwrap();
    std::fs::write(d2.join(SQLITE_FILE), vec![7u8; 4096]).unwrap();
    let e = open(&StoreConfig::sqlite(&d2))
        .await
        .err()
        .expect("not a database");
    assert!(e.to_string().contains(SQLITE_FILE), "{e}");
}

fn sip(id: &str, idx: i64, first_line: &str) -> SipMessageRow {
    SipMessageRow {
        call_id: id.into(),
        idx,
        at_ms: 1_700_000_000_000 + idx * 20,
        direction: if idx % 2 == 0 { "sent" } else { "received" }.into(),
        peer: "127.0.0.1:5062".into(),
        first_line: first_line.into(),
        text: format!("{first_line}\r\nCall-ID: ü-{id}\r\nContent-Length: 0\r\n\r\n"),
    }
}

async fn sip_trace_round_trip_and_prune(fx: Fixture) {
    let s = fx.open().await;
    // Trace rows may arrive before their call row (the INVITE precedes the call).
    let ladder = vec![
        sip("t1", 0, "INVITE sip:bob@127.0.0.1:5062 SIP/2.0"),
        sip("t1", 1, "SIP/2.0 100 Trying"),
        sip("t1", 2, "SIP/2.0 200 OK"),
    ];
    s.append_sip_messages(&ladder[..2]).await.unwrap();
    s.upsert_call(&ended("t1", 10, "machine_end_beep"))
        .await
        .unwrap();
    let (_, before) = s.totals().await.unwrap();
    // A replayed row is skipped (and not counted twice), a new one appended, out of order.
    s.write_batch(&Batch {
        sip_messages: vec![ladder[2].clone(), ladder[1].clone()],
        ..Batch::default()
    })
    .await
    .unwrap();
    let (_, after) = s.totals().await.unwrap();
    let m = &ladder[2];
    let len = m.direction.len() + m.peer.len() + m.first_line.len() + m.text.len();
    assert_eq!(after - before, len as u64, "only the new row is counted");
    s.append_sip_messages(&[sip("t2", 0, "OPTIONS sip:x SIP/2.0")])
        .await
        .unwrap();
    let d = s.get_call("t1").await.unwrap().unwrap();
    assert_eq!(d.sip_trace, ladder);
    assert_eq!(s.sip_trace("t1").await.unwrap(), ladder);
    assert!(s.sip_trace("none").await.unwrap().is_empty());
    // Bad ids are named.
    let e = s
        .append_sip_messages(&[sip("", 0, "BYE x SIP/2.0")])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("call_id"), "{e}");
    // Pruning the call deletes its trace.
    s.prune(&PruneLimit {
        keep_calls: Some(0),
        keep_bytes: None,
    })
    .await
    .unwrap();
    assert!(s.get_call("t1").await.unwrap().is_none());
    assert!(s.sip_trace("t1").await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let fx = crate::Fixture::new(crate::Backend::Sqlite, stringify!($name)).await;
                    crate::$name(fx).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let fx = crate::Fixture::new(crate::Backend::Postgres, stringify!($name)).await;
                    crate::$name(fx).await
                }
            )*
        }
    };
}

on_both_backends!(
    round_trip,
    upsert_updates,
    appends_are_idempotent,
    bad_input_is_named,
    filters,
    pagination,
    bad_cursor,
    events_since,
    max_event_seq,
    restart_keeps_everything,
    prune_keeps_active_calls,
    writer_batches_and_flushes,
    writer_commits_on_its_own,
    writer_counts_drops_and_failures,
    sip_trace_round_trip_and_prune,
);
