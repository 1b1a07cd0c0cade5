//! The store's error, with the operation and the input it was about.

use std::path::PathBuf;

/// What went wrong in the store, naming the operation, file, field or value.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configuration cannot be used (unknown URL scheme, …).
    #[error("store configuration: {0}")]
    Config(String),
    /// A directory or file could not be created or read.
    #[error("store: {}: {source}", path.display())]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The database could not be opened or reached.
    #[error("store: cannot open {target}: {source}")]
    Open {
        /// The SQLite file or the (password-redacted) PostgreSQL URL.
        target: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The embedded migrations failed.
    #[error("store: migrating {target}: {source}")]
    Migrate {
        /// The SQLite file or the (password-redacted) PostgreSQL URL.
        target: String,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
    /// A query failed.
    #[error("store: {op}: {source}")]
    Query {
        /// The operation (`write_batch`, `list_calls`, …).
        op: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// An input value is out of bounds (e.g. a call id longer than `MAX_CALL_ID_LEN`).
    #[error("store: invalid {field} {value:?}: {reason}")]
    Invalid {
        /// The field (`call_id`, `seq`, …).
        field: &'static str,
        /// The offending value (truncated for display).
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A pagination cursor this store did not hand out.
    #[error("store: bad cursor {cursor:?}: {reason}")]
    BadCursor {
        /// The cursor as given.
        cursor: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored value does not decode (a row written by something else).
    #[error("store: row {row}: column {column}: {reason}")]
    Corrupt {
        /// Which row (`calls/ID`, `events/SEQ`, …).
        row: String,
        /// The column.
        column: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The writer task has stopped (after `shutdown`).
    #[error("store writer is shut down")]
    WriterClosed,
    /// A batch committed by the writer failed (the items in it were counted as failed).
    #[error("store writer: {0}")]
    Writer(String),
}

impl StoreError {
    pub(crate) fn query(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { op, source }
    }

    pub(crate) fn invalid(field: &'static str, value: &str, reason: impl Into<String>) -> Self {
        let mut v: String = value.chars().take(160).collect();
        if v.len() < value.len() {
            v.push('…');
        }
        StoreError::Invalid {
            field,
            value: v,
            reason: reason.into(),
        }
    }
}
