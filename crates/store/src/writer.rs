//! The batched writer: the audio path hands rows to a bounded buffer without awaiting; one task
//! commits them in batches, each batch one transaction.
//!
//! The buffer is a short mutex-guarded `Vec`, not a channel: a send wakes the writer task only
//! when it puts the first row into an empty queue (the task then arms its timer) or completes
//! a batch, not per event (a wake-up per event would cost a futex call and a context switch);
//! the task commits when a batch is full, when the oldest row is `flush_every` old, on `flush`
//! and on shutdown.

use crate::types::check_call_id;
use crate::{ActionRow, Batch, CallRow, EventRow, SipMessageRow, Store, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// How long rows may wait in the writer before their batch is committed, by default.
pub const DEFAULT_FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Rows per transaction at most, by default (a full batch is committed at once).
pub const DEFAULT_MAX_BATCH: usize = 1000;
/// Rows the writer holds uncommitted by default before `send` drops (10 s of 10,000 events/s).
pub const DEFAULT_QUEUE: usize = 100_000;
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
    /// Append SIP trace messages.
    SipMessages(Vec<SipMessageRow>),
}

impl Write {
    /// Rows this write holds (what the queue bound and the metrics count).
    pub fn rows(&self) -> usize {
        match self {
            Write::Call(_) => 1,
            Write::Events(v) => v.len(),
            Write::Actions(v) => v.len(),
            Write::SipMessages(v) => v.len(),
        }
    }

    fn check(&self) -> Result<(), StoreError> {
        match self {
            Write::Call(c) => c.check(),
            Write::Events(v) => v.iter().try_for_each(|e| check_call_id(&e.call_id)),
            Write::Actions(v) => v.iter().try_for_each(|a| check_call_id(&a.call_id)),
            Write::SipMessages(v) => v.iter().try_for_each(|m| check_call_id(&m.call_id)),
        }
    }
}

/// Writer settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterConfig {
    /// Longest a row waits before its batch is committed.
    pub flush_every: Duration,
    /// Rows per transaction at most (a single `Write` larger than this is one transaction).
    pub max_batch: usize,
    /// Rows held uncommitted (queued or being written) at most; `send` drops beyond.
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

/// What waits to be written, under the mutex.
struct Pending {
    writes: Vec<Write>,
    /// Rows in `writes`.
    rows: usize,
    /// Rows taken by the task and not yet committed.
    in_flight: usize,
    /// Enqueue time of the first row in `writes`.
    oldest: Option<Instant>,
    /// Enqueue time of the first row being written.
    in_flight_oldest: Option<Instant>,
    /// Rows ever accepted.
    accepted: u64,
    /// A flush waits: commit now.
    flush: bool,
    /// No more sends; the task writes what is left and stops.
    closed: bool,
}

/// Progress the task publishes.
#[derive(Clone, Debug, Default)]
struct Progress {
    /// Rows done with (committed or failed), in acceptance order.
    done: u64,
    /// Batches that failed so far.
    failures: u64,
    /// The task has stopped.
    stopped: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Notify,
    progress: watch::Sender<Progress>,
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Nothing panics while holding it; a poisoned lock still holds consistent data.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Stops the task when the last `Writer` clone is dropped.
struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

/// Handle on the writer task. Cheap to clone; every clone feeds the same queue. When the last
/// clone is dropped the task writes what is queued and stops.
#[derive(Clone)]
pub struct Writer {
    handle: Arc<Handle>,
    cfg: WriterConfig,
}

impl Writer {
    /// Start the writer task on the current tokio runtime.
    pub fn spawn(store: Arc<dyn Store>, cfg: WriterConfig) -> Writer {
        let cfg = WriterConfig {
            max_batch: cfg.max_batch.max(1),
            queue: cfg.queue.max(1),
            ..cfg
        };
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                writes: Vec::new(),
                rows: 0,
                in_flight: 0,
                oldest: None,
                in_flight_oldest: None,
                accepted: 0,
                flush: false,
                closed: false,
            }),
            wake: Notify::new(),
            progress: watch::channel(Progress::default()).0,
            written: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_error: Mutex::new(None),
        });
        tokio::spawn(
            Task {
                store,
                cfg,
                shared: shared.clone(),
                done: 0,
                failures: 0,
            }
            .run(),
        );
        Writer {
            handle: Arc::new(Handle { shared }),
            cfg,
        }
    }

    fn shared(&self) -> &Shared {
        &self.handle.shared
    }

    /// Queue a write without waiting. False when it was dropped (queue full, writer shut
    /// down, or a call id the store refuses); dropped rows are counted.
    pub fn send(&self, w: Write) -> bool {
        let rows = w.rows();
        let sh = self.shared();
        if let Err(e) = w.check() {
            tracing::warn!(error = %e, "store writer: write refused");
            sh.dropped.fetch_add(rows as u64, Ordering::Relaxed);
            return false;
        }
        let wake = {
            let mut p = sh.lock();
            if p.closed || p.rows + p.in_flight + rows > self.cfg.queue {
                drop(p);
                sh.dropped.fetch_add(rows as u64, Ordering::Relaxed);
                return false;
            }
            if p.oldest.is_none() {
                p.oldest = Some(Instant::now());
            }
            let before = p.rows;
            p.rows += rows;
            p.accepted += rows as u64;
            p.writes.push(w);
            // Wake the task when the queue was empty (an idle task sleeps with no deadline and
            // must arm its timer for this row) and when this send completes a batch; other
            // sends find the task's timer already running.
            before == 0 || (before < self.cfg.max_batch && p.rows >= self.cfg.max_batch)
        };
        if wake {
            sh.wake.notify_one();
        }
        true
    }

    /// Wait until every write queued before this call is committed. Err when a batch failed
    /// meanwhile (its rows are counted in `failed`), or when the writer is shut down.
    pub async fn flush(&self) -> Result<(), StoreError> {
        let sh = self.shared();
        let mut rx = sh.progress.subscribe();
        let failures_before = rx.borrow().failures;
        let target = {
            let mut p = sh.lock();
            if p.closed {
                return Err(StoreError::WriterClosed);
            }
            p.flush = true;
            p.accepted
        };
        sh.wake.notify_one();
        self.wait(&mut rx, target, failures_before).await
    }

    /// Commit everything queued, then stop the task; later sends are dropped. Err as for
    /// `flush`.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        let sh = self.shared();
        let mut rx = sh.progress.subscribe();
        let failures_before = rx.borrow().failures;
        let target = {
            let mut p = sh.lock();
            p.closed = true;
            p.accepted
        };
        sh.wake.notify_one();
        self.wait(&mut rx, target, failures_before).await?;
        rx.wait_for(|p| p.stopped)
            .await
            .map_err(|_| StoreError::WriterClosed)?;
        Ok(())
    }

    async fn wait(
        &self,
        rx: &mut watch::Receiver<Progress>,
        target: u64,
        failures_before: u64,
    ) -> Result<(), StoreError> {
        let p = rx
            .wait_for(|p| p.done >= target || p.stopped)
            .await
            .map_err(|_| StoreError::WriterClosed)?
            .clone();
        if p.done < target {
            return Err(StoreError::WriterClosed);
        }
        if p.failures > failures_before {
            let e = self.last_error().unwrap_or_default();
            return Err(StoreError::Writer(e));
        }
        Ok(())
    }

    /// Rows accepted and not yet committed.
    pub fn queued(&self) -> u64 {
        let p = self.shared().lock();
        (p.rows + p.in_flight) as u64
    }

    /// Rows committed.
    pub fn written(&self) -> u64 {
        self.shared().written.load(Ordering::Relaxed)
    }

    /// Rows refused by `send`.
    pub fn dropped(&self) -> u64 {
        self.shared().dropped.load(Ordering::Relaxed)
    }

    /// Rows whose batch failed to commit.
    pub fn failed(&self) -> u64 {
        self.shared().failed.load(Ordering::Relaxed)
    }

    /// Age of the oldest uncommitted row, ms (0 when everything is committed).
    pub fn write_lag_ms(&self) -> u64 {
        let oldest = {
            let p = self.shared().lock();
            p.in_flight_oldest.or(p.oldest)
        };
        oldest.map_or(0, |t| t.elapsed().as_millis() as u64)
    }

    /// The last commit error, if any batch ever failed.
    pub fn last_error(&self) -> Option<String> {
        self.shared()
            .last_error
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
    done: u64,
    failures: u64,
}

impl Task {
    async fn run(mut self) {
        loop {
            // What to do now: take rows, or sleep until the oldest is due.
            let (taken, closed, due) = {
                let mut p = self.shared.lock();
                let due = p.oldest.map(|t| t + self.cfg.flush_every);
                let now = p.flush
                    || p.closed
                    || p.rows >= self.cfg.max_batch
                    || due.is_some_and(|d| d <= Instant::now());
                if now {
                    p.flush = false;
                    p.in_flight = p.rows;
                    p.in_flight_oldest = p.oldest.take();
                    p.rows = 0;
                    (std::mem::take(&mut p.writes), p.closed, None)
                } else {
                    (Vec::new(), false, due)
                }
            };
            let took = !taken.is_empty();
            if took {
                self.commit_all(taken).await;
                let mut p = self.shared.lock();
                p.in_flight = 0;
                p.in_flight_oldest = None;
            }
            if closed {
                // Rows accepted before `closed` was set are all in what was just taken.
                break;
            }
            if !took {
                match due {
                    Some(d) => {
                        tokio::select! {
                            _ = self.shared.wake.notified() => {}
                            _ = tokio::time::sleep_until(d) => {}
                        }
                    }
                    None => self.shared.wake.notified().await,
                }
            }
        }
        self.shared.progress.send_modify(|p| p.stopped = true);
    }

    /// Commit `writes` in batches of at most `max_batch` rows, in order.
    async fn commit_all(&mut self, writes: Vec<Write>) {
        let mut batch = Batch::default();
        for w in writes {
            match w {
                Write::Call(c) => batch.calls.push(c),
                Write::Events(v) => batch.events.extend(v),
                Write::Actions(v) => batch.actions.extend(v),
                Write::SipMessages(v) => batch.sip_messages.extend(v),
            }
            if batch.len() >= self.cfg.max_batch {
                self.commit(std::mem::take(&mut batch)).await;
            }
        }
        if !batch.is_empty() {
            self.commit(batch).await;
        }
    }

    async fn commit(&mut self, batch: Batch) {
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
                *self
                    .shared
                    .last_error
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                self.failures += 1;
            }
        }
        self.done += rows;
        {
            let mut p = self.shared.lock();
            p.in_flight = p.in_flight.saturating_sub(rows as usize);
        }
        let (done, failures) = (self.done, self.failures);
        self.shared.progress.send_modify(|p| {
            p.done = done;
            p.failures = failures;
        });
    }
}
