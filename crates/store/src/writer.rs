//! The batched writer: the audio path hands rows to a bounded queue without awaiting; one task
//! commits them in batches, each batch one transaction.

use crate::types::check_call_id;
use crate::{ActionRow, Batch, CallRow, EventRow, Store, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// How long rows may wait in the writer before their batch is committed, by default.
pub const DEFAULT_FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Rows per transaction at most, by default (a full batch is committed at once).
pub const DEFAULT_MAX_BATCH: usize = 1000;
/// Messages (`Write`s) the writer's queue holds by default before `send` drops.
pub const DEFAULT_QUEUE: usize = 65_536;
/// Attempts at committing one batch before its rows are counted as failed.
pub const WRITE_ATTEMPTS: u32 = 3;
/// Pause before the second attempt (doubled for each further one).
pub const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// One thing to persist.
#[derive(Clone, Debug, PartialEq)]
pub enum Write {
    /// Insert or replace a call row.
    Call(CallRow),
    /// Append events.
    Events(Vec<EventRow>),
    /// Append actions.
    Actions(Vec<ActionRow>),
}

impl Write {
    /// Rows this write holds (what the metrics count).
    pub fn rows(&self) -> usize {
        match self {
            Write::Call(_) => 1,
            Write::Events(v) => v.len(),
            Write::Actions(v) => v.len(),
        }
    }

    fn check(&self) -> Result<(), StoreError> {
        match self {
            Write::Call(c) => c.check(),
            Write::Events(v) => v.iter().try_for_each(|e| check_call_id(&e.call_id)),
            Write::Actions(v) => v.iter().try_for_each(|a| check_call_id(&a.call_id)),
        }
    }
}

/// Writer settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterConfig {
    /// Longest a row waits before its batch is committed.
    pub flush_every: Duration,
    /// Rows per transaction at most.
    pub max_batch: usize,
    /// Messages the queue holds (at least 1); `send` drops beyond.
    pub queue: usize,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            flush_every: DEFAULT_FLUSH_EVERY,
            max_batch: DEFAULT_MAX_BATCH,
            queue: DEFAULT_QUEUE,
        }
    }
}

/// A snapshot of the writer's counters (rows, not messages).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterMetrics {
    /// Rows accepted and not yet committed (queued or in the batch being written).
    pub queued: u64,
    /// Rows committed.
    pub written: u64,
    /// Rows refused by `send` (queue full, writer shut down, or an invalid call id).
    pub dropped: u64,
    /// Rows whose batch failed to commit after [`WRITE_ATTEMPTS`].
    pub failed: u64,
    /// Age of the oldest row not yet committed, ms (0 when none).
    pub write_lag_ms: u64,
}

const NO_ROW: u64 = u64::MAX;

struct Shared {
    queued: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    /// Enqueue time of the oldest uncommitted row, µs since `epoch`, or `NO_ROW`.
    oldest_us: AtomicU64,
    epoch: Instant,
    last_error: Mutex<Option<String>>,
}

impl Shared {
    fn since_epoch_us(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_micros() as u64
    }
}

enum Msg {
    Write(Write, Instant),
    Flush(oneshot::Sender<Option<String>>),
    Shutdown(oneshot::Sender<Option<String>>),
}

/// Handle on the writer task. Cheap to clone; every clone feeds the same queue.
#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Msg>,
    shared: Arc<Shared>,
}

impl Writer {
    /// Start the writer task on the current tokio runtime.
    pub fn spawn(store: Arc<dyn Store>, cfg: WriterConfig) -> Writer {
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let shared = Arc::new(Shared {
            queued: AtomicU64::new(0),
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            oldest_us: AtomicU64::new(NO_ROW),
            epoch: Instant::now(),
            last_error: Mutex::new(None),
        });
        let task = Task {
            store,
            cfg,
            shared: shared.clone(),
            batch: Batch::default(),
            deadline: None,
            failure: None,
        };
        tokio::spawn(task.run(rx));
        Writer { tx, shared }
    }

    /// Queue a write without waiting. False when it was dropped (queue full, writer shut
    /// down, or a call id the store refuses); dropped rows are counted.
    pub fn send(&self, w: Write) -> bool {
        let rows = w.rows() as u64;
        if let Err(e) = w.check() {
            tracing::warn!(error = %e, "store writer: write refused");
            self.shared.dropped.fetch_add(rows, Ordering::Relaxed);
            return false;
        }
        // Counted before the send so the task never decrements below zero.
        self.shared.queued.fetch_add(rows, Ordering::Relaxed);
        let now = Instant::now();
        match self.tx.try_send(Msg::Write(w, now)) {
            Ok(()) => {
                // Lag counts time in the queue too: the first row after an empty writer
                // starts the clock (the task moves it to its batch's first row).
                let _ = self.shared.oldest_us.compare_exchange(
                    NO_ROW,
                    self.shared.since_epoch_us(now),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                true
            }
            Err(_) => {
                self.shared.queued.fetch_sub(rows, Ordering::Relaxed);
                self.shared.dropped.fetch_add(rows, Ordering::Relaxed);
                false
            }
        }
    }

    /// Wait until every write queued before this call is committed. Err when a batch failed
    /// since the previous flush (its rows are counted in `failed`), or when the writer is shut
    /// down.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Flush(reply))
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        match rx.await {
            Ok(None) => Ok(()),
            Ok(Some(e)) => Err(StoreError::Writer(e)),
            Err(_) => Err(StoreError::WriterClosed),
        }
    }

    /// Commit everything queued, then stop the task; later sends are dropped. Err as for
    /// `flush`.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Shutdown(reply))
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        match rx.await {
            Ok(None) => Ok(()),
            Ok(Some(e)) => Err(StoreError::Writer(e)),
            Err(_) => Err(StoreError::WriterClosed),
        }
    }

    /// Rows accepted and not yet committed.
    pub fn queued(&self) -> u64 {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Rows committed.
    pub fn written(&self) -> u64 {
        self.shared.written.load(Ordering::Relaxed)
    }

    /// Rows refused by `send`.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Rows whose batch failed to commit.
    pub fn failed(&self) -> u64 {
        self.shared.failed.load(Ordering::Relaxed)
    }

    /// Age of the oldest uncommitted row, ms (0 when everything is committed).
    pub fn write_lag_ms(&self) -> u64 {
        match self.shared.oldest_us.load(Ordering::Relaxed) {
            NO_ROW => 0,
            t => self.shared.since_epoch_us(Instant::now()).saturating_sub(t) / 1000,
        }
    }

    /// The last commit error, if any batch ever failed.
    pub fn last_error(&self) -> Option<String> {
        self.shared.last_error.lock().ok().and_then(|e| e.clone())
    }

    /// All counters at once.
    pub fn metrics(&self) -> WriterMetrics {
        WriterMetrics {
            queued: self.queued(),
            written: self.written(),
            dropped: self.dropped(),
            failed: self.failed(),
            write_lag_ms: self.write_lag_ms(),
        }
    }
}

struct Task {
    store: Arc<dyn Store>,
    cfg: WriterConfig,
    shared: Arc<Shared>,
    batch: Batch,
    /// When the current batch must be committed (first row's enqueue time + flush_every).
    deadline: Option<Instant>,
    /// A commit error not yet reported to a flush.
    failure: Option<String>,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut shutdown_replies = Vec::new();
        loop {
            let msg = match self.deadline {
                Some(d) => tokio::select! {
                    m = rx.recv() => m,
                    _ = tokio::time::sleep_until(d) => {
                        self.commit().await;
                        continue;
                    }
                },
                None => rx.recv().await,
            };
            match msg {
                Some(Msg::Write(w, at)) => {
                    if self.batch.is_empty() {
                        self.shared
                            .oldest_us
                            .store(self.shared.since_epoch_us(at), Ordering::Relaxed);
                        self.deadline = Some(at + self.cfg.flush_every);
                    }
                    match w {
                        Write::Call(c) => self.batch.calls.push(c),
                        Write::Events(v) => self.batch.events.extend(v),
                        Write::Actions(v) => self.batch.actions.extend(v),
                    }
                    if self.batch.len() >= self.cfg.max_batch.max(1) {
                        self.commit().await;
                    }
                }
                Some(Msg::Flush(reply)) => {
                    self.commit().await;
                    let _ = reply.send(self.failure.take());
                }
                Some(Msg::Shutdown(reply)) => {
                    // Refuse new messages; those already queued are still written.
                    rx.close();
                    shutdown_replies.push(reply);
                }
                None => break,
            }
        }
        self.commit().await;
        let failure = self.failure.take();
        for reply in shutdown_replies {
            let _ = reply.send(failure.clone());
        }
    }

    async fn commit(&mut self) {
        self.deadline = None;
        if self.batch.is_empty() {
            self.shared.oldest_us.store(NO_ROW, Ordering::Relaxed);
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let rows = batch.len() as u64;
        let mut pause = RETRY_PAUSE;
        let mut attempt = 1;
        let outcome = loop {
            match self.store.write_batch(&batch).await {
                Ok(()) => break Ok(()),
                Err(e) if attempt < WRITE_ATTEMPTS && matches!(e, StoreError::Query { .. }) => {
                    tracing::warn!(error = %e, attempt, rows, "store writer: batch failed, retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
                Err(e) => break Err(e),
            }
        };
        match outcome {
            Ok(()) => {
                self.shared.written.fetch_add(rows, Ordering::Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %e, rows, "store writer: batch lost");
                self.shared.failed.fetch_add(rows, Ordering::Relaxed);
                let text = e.to_string();
                if let Ok(mut last) = self.shared.last_error.lock() {
                    *last = Some(text.clone());
                }
                self.failure = Some(text);
            }
        }
        self.shared.queued.fetch_sub(rows, Ordering::Relaxed);
        self.shared.oldest_us.store(NO_ROW, Ordering::Relaxed);
    }
}
