//! Tympan's persistence, shell-side: calls, their events and their actions behind one async
//! trait, [`Store`], with two backends on the same embedded migrations — SQLite (the
//! zero-configuration default, a file `tympan.db` in the data directory, WAL mode) and
//! PostgreSQL (when `database_url` starts with `postgres://` or `postgresql://`).
//!
//! Writes from the audio path go through the [`Writer`]: a bounded queue that never awaits the
//! database, drained by one task that commits batches, each in one transaction.
//!
//! No core crate depends on this one; the server owns the store and the writer.

mod error;
pub mod objects;
mod sql;
mod types;
mod writer;

pub use error::StoreError;
pub use objects::{LocalObjects, ObjectStore};
pub use types::{
    ActionRow, Batch, CallDetail, CallFilter, CallRow, CallState, EventRow, Page, PruneLimit,
    PruneReport, SipMessageRow,
};
pub use writer::{Write, Writer, WriterConfig, WriterMetrics};

use async_trait::async_trait;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Longest call id stored, in bytes (the server's validated ids are at most this long).
pub const MAX_CALL_ID_LEN: usize = 128;
/// Page size of [`Store::list_calls`] when the filter gives none.
pub const DEFAULT_LIST_LIMIT: u32 = 50;
/// Largest page of [`Store::list_calls`] (larger limits are clamped to it).
pub const MAX_LIST_LIMIT: u32 = 1000;
/// Largest number of events one [`Store::events_since`] call returns (larger limits are
/// clamped to it).
pub const MAX_EVENTS_LIMIT: u32 = 10_000;
/// Name of the SQLite file inside the data directory.
pub const SQLITE_FILE: &str = "tympan.db";
/// Data directory when the configuration gives none.
pub const DEFAULT_DATA_DIR: &str = "./tympan-data";
/// How long an SQLite connection waits for a lock held by another before failing.
pub const SQLITE_BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long getting a connection (or connecting at open) may take before it fails.
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Connections in a pool (SQLite serialises writers anyway; these serve concurrent reads).
pub const POOL_CONNECTIONS: u32 = 8;

/// Result of store operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where the store lives. Config keys `data_dir` and `database_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// Directory for the SQLite file (created if missing). Default `./tympan-data`.
    pub data_dir: PathBuf,
    /// `postgres://…` or `postgresql://…` selects PostgreSQL; `None` selects SQLite in
    /// `data_dir`. Any other scheme is refused by name.
    pub database_url: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            database_url: None,
        }
    }
}

impl StoreConfig {
    /// SQLite in `data_dir`.
    pub fn sqlite(data_dir: impl Into<PathBuf>) -> Self {
        StoreConfig {
            data_dir: data_dir.into(),
            database_url: None,
        }
    }

    /// The SQLite file this configuration uses (meaningful when `database_url` is `None`).
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join(SQLITE_FILE)
    }
}

/// True when `url` selects the PostgreSQL backend.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Persistence of calls, events and actions. Object-safe: use it as `Arc<dyn Store>`.
///
/// Every method is one transaction. Appends are idempotent: an event whose `seq` is already
/// stored, or an action whose `(call_id, idx)` is, is skipped.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;

    /// Apply calls (upserted, last row per id wins), then events, then actions, in one
    /// transaction.
    async fn write_batch(&self, batch: &Batch) -> Result<()>;

    /// Insert a call or replace every field of the stored one (except the payload bytes
    /// counted so far).
    async fn upsert_call(&self, call: &CallRow) -> Result<()> {
        self.write_batch(&Batch {
            calls: vec![call.clone()],
            ..Batch::default()
        })
        .await
    }

    /// Append events (their `seq` is assigned by the caller, unique across calls).
    async fn append_events(&self, events: &[EventRow]) -> Result<()> {
        self.write_batch(&Batch {
            events: events.to_vec(),
            ..Batch::default()
        })
        .await
    }

    /// Append actions.
    async fn append_actions(&self, actions: &[ActionRow]) -> Result<()> {
        self.write_batch(&Batch {
            actions: actions.to_vec(),
            ..Batch::default()
        })
        .await
    }

    /// Append SIP trace messages (their `idx` is assigned by the caller, per call).
    async fn append_sip_messages(&self, messages: &[SipMessageRow]) -> Result<()> {
        self.write_batch(&Batch {
            sip_messages: messages.to_vec(),
            ..Batch::default()
        })
        .await
    }

    /// A call's SIP trace in `idx` order (empty when it has none). Messages may be stored
    /// before their call's row is.
    async fn sip_trace(&self, call_id: &str) -> Result<Vec<SipMessageRow>>;

    /// A call with its events (in `seq` order), actions (in `idx` order) and SIP trace.
    async fn get_call(&self, call_id: &str) -> Result<Option<CallDetail>>;

    /// Calls newest first (by `started_at`, then `call_id`), filtered, one page at a time.
    /// Pass `next_cursor` back as `filter.cursor` for the next page; the pages stay stable
    /// while new calls arrive. A cursor this store did not make is an error naming it.
    async fn list_calls(&self, filter: &CallFilter) -> Result<Page>;

    /// Events with `seq > after`, oldest first, of one call or of all, at most `limit`
    /// (clamped to [`MAX_EVENTS_LIMIT`]).
    async fn events_since(
        &self,
        after: i64,
        call_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<EventRow>>;

    /// The largest stored event `seq`, 0 when there is none (the server numbers on from it).
    async fn max_event_seq(&self) -> Result<i64>;

    /// At start-up: calls left `active` by a process that died are marked `ended` at
    /// `ended_at` (unix ms). Returns how many.
    async fn mark_active_calls_ended(&self, ended_at: i64) -> Result<u64>;

    /// Delete the oldest ended calls (with their events and actions) until the limit holds.
    /// Active calls are never deleted, even when they alone exceed the limit.
    async fn prune(&self, limit: &PruneLimit) -> Result<PruneReport>;

    /// Number of calls stored and bytes of JSON payload they hold.
    async fn totals(&self) -> Result<(u64, u64)>;

    /// Close the connections (pending queries finish first).
    async fn close(&self);
}

/// Open the store the configuration names, creating the data directory or the database schema
/// when missing (migrations are embedded and idempotent).
pub async fn open(cfg: &StoreConfig) -> Result<Arc<dyn Store>> {
    match cfg.database_url.as_deref() {
        Some(url) if is_postgres_url(url) => Ok(Arc::new(sql::PgStore::connect(url).await?)),
        Some(url) => Err(StoreError::Config(format!(
            "database_url `{}` is not supported: use postgres://… or postgresql://…, or leave \
             it unset for SQLite in data_dir",
            redact_url(url)
        ))),
        None => {
            create_dir(&cfg.data_dir)?;
            Ok(Arc::new(sql::SqliteStore::open(&cfg.sqlite_path()).await?))
        }
    }
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// A URL with any password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let auth = &rest[..auth_end];
    match (auth.rfind('@'), auth.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &auth[..colon],
            &rest[at..]
        ),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db?x=1"),
            "postgres://u:***@h:5432/db?x=1"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("mysql://h/db"), "mysql://h/db");
    }

    #[test]
    fn url_schemes() {
        assert!(is_postgres_url("postgres://x"));
        assert!(is_postgres_url("postgresql://x"));
        assert!(!is_postgres_url("sqlite://x"));
    }
}
