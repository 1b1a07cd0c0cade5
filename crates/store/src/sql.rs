//! The two SQL backends. The SQL text is the same for both (SQLite accepts PostgreSQL's `$N`
//! placeholders, and the schema uses only TEXT and BIGINT), so one macro writes both impls;
//! only connecting differs.

use crate::types::{check_call_id, Cursor};
use crate::{
    redact_url, ActionRow, Batch, CallDetail, CallFilter, CallRow, CallState, EventRow, Page,
    PruneLimit, PruneReport, Result, SipMessageRow, Store, StoreError, ACQUIRE_TIMEOUT,
    MAX_EVENTS_LIMIT, POOL_CONNECTIONS, SQLITE_BUSY_TIMEOUT,
};
use async_trait::async_trait;
use serde_json::Value;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::str::FromStr;

/// The embedded schema, run on every open (already applied steps are skipped).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Rows per multi-row INSERT (5 binds each; far below SQLite's and PostgreSQL's bind limits).
const ROWS_PER_INSERT: usize = 500;
/// Ended calls read per step when prune looks for the byte budget's cut.
const PRUNE_SCAN_STEP: i64 = 1000;
/// `meta` row holding the highest event seq ever stored.
const META_EVENT_SEQ: &str = "event_seq_high";

const CALL_COLUMNS: &str = "call_id, platform, state, sample_rate, started_at, ended_at, \
                            audio_ms, answered_by, result, events_dropped";

/// SQLite in one file, WAL mode, `synchronous=NORMAL` (a commit survives a killed process;
/// an OS crash may lose the last transactions, never corrupt the file).
pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub(crate) async fn open(path: &Path) -> Result<Self> {
        let target = path.display().to_string();
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        let pool = SqlitePoolOptions::new()
            .max_connections(POOL_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(opts)
            .await
            .map_err(|source| StoreError::Open {
                target: target.clone(),
                source,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate { target, source })?;
        Ok(SqliteStore { pool })
    }
}

/// PostgreSQL through a connection pool.
pub(crate) struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub(crate) async fn connect(url: &str) -> Result<Self> {
        let target = redact_url(url);
        let opts = PgConnectOptions::from_str(url).map_err(|source| StoreError::Open {
            target: target.clone(),
            source,
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(opts)
            .await
            .map_err(|source| StoreError::Open {
                target: target.clone(),
                source,
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate { target, source })?;
        Ok(PgStore { pool })
    }
}

fn to_i64(field: &'static str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::invalid(field, &v.to_string(), "exceeds i64"))
}

fn json_text(v: &Value) -> String {
    // Serialising a `Value` cannot fail (its map keys are strings).
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_owned())
}

fn parse_json(row: String, column: &'static str, text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        row,
        column,
        reason: e.to_string(),
    })
}

/// Validated, serialised rows of a batch.
struct Prepared {
    calls: Vec<CallRow>,
    events: Vec<(EventRow, String)>,
    actions: Vec<(ActionRow, String)>,
    sip_messages: Vec<SipMessageRow>,
}

fn prepare(b: &Batch) -> Result<Prepared> {
    // Last row per call id wins, in the order of first appearance.
    let mut pos: HashMap<&str, usize> = HashMap::new();
    let mut calls: Vec<CallRow> = Vec::new();
    for c in &b.calls {
        c.check()?;
        to_i64("audio_ms", c.audio_ms)?;
        to_i64("events_dropped", c.events_dropped)?;
        match pos.get(c.call_id.as_str()) {
            Some(&i) => calls[i] = c.clone(),
            None => {
                pos.insert(&c.call_id, calls.len());
                calls.push(c.clone());
            }
        }
    }
    // A seq (or an action's key) given twice in one batch: the first wins, as in the table.
    let mut seqs = HashSet::new();
    let mut events = Vec::with_capacity(b.events.len());
    for e in &b.events {
        check_call_id(&e.call_id)?;
        if seqs.insert(e.seq) {
            events.push((e.clone(), json_text(&e.body)));
        }
    }
    let mut keys = HashSet::new();
    let mut actions = Vec::with_capacity(b.actions.len());
    for a in &b.actions {
        check_call_id(&a.call_id)?;
        if keys.insert((a.call_id.as_str(), a.idx)) {
            actions.push((a.clone(), json_text(&a.body)));
        }
    }
    let mut keys = HashSet::new();
    let mut sip_messages = Vec::with_capacity(b.sip_messages.len());
    for m in &b.sip_messages {
        check_call_id(&m.call_id)?;
        if keys.insert((m.call_id.as_str(), m.idx)) {
            sip_messages.push(m.clone());
        }
    }
    Ok(Prepared {
        calls,
        events,
        actions,
        sip_messages,
    })
}

macro_rules! impl_store {
    ($store:ident, $db:ty, $name:literal) => {
        impl $store {
            fn call_from_row(r: &<$db as sqlx::Database>::Row) -> Result<CallRow> {
                let get = |e: sqlx::Error| StoreError::Query {
                    op: "decode call",
                    source: e,
                };
                let call_id: String = r.try_get("call_id").map_err(get)?;
                let state_text: String = r.try_get("state").map_err(get)?;
                let state = CallState::parse(&state_text).ok_or_else(|| StoreError::Corrupt {
                    row: format!("calls/{call_id}"),
                    column: "state",
                    reason: format!("{state_text:?} is neither active nor ended"),
                })?;
                let num = |col: &'static str, v: i64| -> Result<u64> {
                    u64::try_from(v).map_err(|_| StoreError::Corrupt {
                        row: format!("calls/{call_id}"),
                        column: col,
                        reason: format!("negative value {v}"),
                    })
                };
                let sample_rate: i64 = r.try_get("sample_rate").map_err(get)?;
                let audio_ms: i64 = r.try_get("audio_ms").map_err(get)?;
                let events_dropped: i64 = r.try_get("events_dropped").map_err(get)?;
                let result: Option<String> = r.try_get("result").map_err(get)?;
                let result = match result {
                    Some(t) => Some(parse_json(format!("calls/{call_id}"), "result", &t)?),
                    None => None,
                };
                Ok(CallRow {
                    platform: r.try_get("platform").map_err(get)?,
                    state,
                    sample_rate: u32::try_from(num("sample_rate", sample_rate)?).map_err(
                        |_| StoreError::Corrupt {
                            row: format!("calls/{call_id}"),
                            column: "sample_rate",
                            reason: format!("{sample_rate} exceeds u32"),
                        },
                    )?,
                    started_at: r.try_get("started_at").map_err(get)?,
                    ended_at: r.try_get("ended_at").map_err(get)?,
                    audio_ms: num("audio_ms", audio_ms)?,
                    answered_by: r.try_get("answered_by").map_err(get)?,
                    result,
                    events_dropped: num("events_dropped", events_dropped)?,
                    call_id,
                })
            }

            fn event_from_row(r: &<$db as sqlx::Database>::Row) -> Result<EventRow> {
                let get = |e: sqlx::Error| StoreError::Query {
                    op: "decode event",
                    source: e,
                };
                let seq: i64 = r.try_get("seq").map_err(get)?;
                let body: String = r.try_get("body").map_err(get)?;
                Ok(EventRow {
                    seq,
                    call_id: r.try_get("call_id").map_err(get)?,
                    at_ms: r.try_get("at_ms").map_err(get)?,
                    kind: r.try_get("kind").map_err(get)?,
                    body: parse_json(format!("events/{seq}"), "body", &body)?,
                })
            }

            fn action_from_row(r: &<$db as sqlx::Database>::Row) -> Result<ActionRow> {
                let get = |e: sqlx::Error| StoreError::Query {
                    op: "decode action",
                    source: e,
                };
                let call_id: String = r.try_get("call_id").map_err(get)?;
                let idx: i64 = r.try_get("idx").map_err(get)?;
                let body: String = r.try_get("body").map_err(get)?;
                Ok(ActionRow {
                    body: parse_json(format!("actions/{call_id}/{idx}"), "body", &body)?,
                    call_id,
                    idx,
                })
            }

            fn sip_message_from_row(r: &<$db as sqlx::Database>::Row) -> Result<SipMessageRow> {
                let get = |e: sqlx::Error| StoreError::Query {
                    op: "decode sip message",
                    source: e,
                };
                Ok(SipMessageRow {
                    call_id: r.try_get("call_id").map_err(get)?,
                    idx: r.try_get("idx").map_err(get)?,
                    at_ms: r.try_get("at_ms").map_err(get)?,
                    direction: r.try_get("direction").map_err(get)?,
                    peer: r.try_get("peer").map_err(get)?,
                    first_line: r.try_get("first_line").map_err(get)?,
                    text: r.try_get("text").map_err(get)?,
                })
            }

            /// Delete ended calls at or before `cut` in the newest-first order's reverse
            /// (i.e. `(started_at, call_id) <= cut`), with their events and actions.
            async fn delete_ended_up_to(
                tx: &mut sqlx::Transaction<'static, $db>,
                cut: &Cursor,
            ) -> Result<PruneReport> {
                const OLD: &str = "SELECT call_id FROM calls WHERE state = 'ended' AND \
                                   (started_at < $1 OR (started_at = $1 AND call_id <= $2))";
                let q = StoreError::query("prune");
                let events = sqlx::query(&format!("DELETE FROM events WHERE call_id IN ({OLD})"))
                    .bind(cut.started_at)
                    .bind(&cut.call_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(q)?
                    .rows_affected();
                let actions =
                    sqlx::query(&format!("DELETE FROM actions WHERE call_id IN ({OLD})"))
                        .bind(cut.started_at)
                        .bind(&cut.call_id)
                        .execute(&mut **tx)
                        .await
                        .map_err(StoreError::query("prune"))?
                        .rows_affected();
                sqlx::query(&format!("DELETE FROM sip_messages WHERE call_id IN ({OLD})"))
                    .bind(cut.started_at)
                    .bind(&cut.call_id)
                    .execute(&mut **tx)
                    .await
                    .map_err(StoreError::query("prune"))?;
                let calls = sqlx::query(
                    "DELETE FROM calls WHERE state = 'ended' AND \
                     (started_at < $1 OR (started_at = $1 AND call_id <= $2))",
                )
                .bind(cut.started_at)
                .bind(&cut.call_id)
                .execute(&mut **tx)
                .await
                .map_err(StoreError::query("prune"))?
                .rows_affected();
                Ok(PruneReport {
                    calls,
                    events,
                    actions,
                })
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> &'static str {
                $name
            }

            async fn write_batch(&self, b: &Batch) -> Result<()> {
                if b.is_empty() {
                    return Ok(());
                }
                let p = prepare(b)?;
                let q = StoreError::query;
                let mut tx = self.pool.begin().await.map_err(q("write_batch: begin"))?;
                for chunk in p.calls.chunks(ROWS_PER_INSERT) {
                    let mut qb: QueryBuilder<$db> =
                        QueryBuilder::new(format!("INSERT INTO calls ({CALL_COLUMNS}) "));
                    qb.push_values(chunk, |mut r, c| {
                        r.push_bind(c.call_id.clone())
                            .push_bind(c.platform.clone())
                            .push_bind(c.state.as_str())
                            .push_bind(i64::from(c.sample_rate))
                            .push_bind(c.started_at)
                            .push_bind(c.ended_at)
                            .push_bind(c.audio_ms as i64)
                            .push_bind(c.answered_by.clone())
                            .push_bind(c.result.as_ref().map(json_text))
                            .push_bind(c.events_dropped as i64);
                    });
                    qb.push(
                        " ON CONFLICT (call_id) DO UPDATE SET platform = excluded.platform, \
                         state = excluded.state, sample_rate = excluded.sample_rate, \
                         started_at = excluded.started_at, ended_at = excluded.ended_at, \
                         audio_ms = excluded.audio_ms, answered_by = excluded.answered_by, \
                         result = excluded.result, events_dropped = excluded.events_dropped",
                    );
                    qb.build()
                        .execute(&mut *tx)
                        .await
                        .map_err(q("write_batch: calls"))?;
                }
                // Payload bytes actually inserted, per call: rows already stored (a replayed
                // batch) are skipped by the inserts and not counted. They are looked up first
                // rather than with RETURNING, which would cost a hand-off per row.
                let mut added: HashMap<String, i64> = HashMap::new();
                let max_seq = p.events.iter().map(|(e, _)| e.seq).max();
                for chunk in p.events.chunks(ROWS_PER_INSERT) {
                    let mut qb: QueryBuilder<$db> =
                        QueryBuilder::new("SELECT seq FROM events WHERE seq IN (");
                    let mut list = qb.separated(", ");
                    for (e, _) in chunk {
                        list.push_bind(e.seq);
                    }
                    qb.push(")");
                    let stored: HashSet<i64> = qb
                        .build()
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(q("write_batch: events"))?
                        .iter()
                        .map(|r| r.try_get::<i64, _>(0))
                        .collect::<Result<_, _>>()
                        .map_err(q("write_batch: events"))?;
                    let mut qb: QueryBuilder<$db> =
                        QueryBuilder::new("INSERT INTO events (seq, call_id, at_ms, kind, body) ");
                    qb.push_values(chunk, |mut r, (e, body)| {
                        r.push_bind(e.seq)
                            .push_bind(e.call_id.clone())
                            .push_bind(e.at_ms)
                            .push_bind(e.kind.clone())
                            .push_bind(body.clone());
                    });
                    qb.push(" ON CONFLICT (seq) DO NOTHING");
                    qb.build()
                        .execute(&mut *tx)
                        .await
                        .map_err(q("write_batch: events"))?;
                    for (e, body) in chunk.iter().filter(|(e, _)| !stored.contains(&e.seq)) {
                        *added.entry(e.call_id.clone()).or_default() += body.len() as i64;
                    }
                }
                for chunk in p.actions.chunks(ROWS_PER_INSERT) {
                    let ids: HashSet<&str> = chunk.iter().map(|(a, _)| a.call_id.as_str()).collect();
                    let mut qb: QueryBuilder<$db> =
                        QueryBuilder::new("SELECT call_id, idx FROM actions WHERE call_id IN (");
                    let mut list = qb.separated(", ");
                    for id in &ids {
                        list.push_bind(id.to_string());
                    }
                    qb.push(")");
                    let stored: HashSet<(String, i64)> = qb
                        .build()
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(q("write_batch: actions"))?
                        .iter()
                        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
                        .collect::<Result<_, sqlx::Error>>()
                        .map_err(q("write_batch: actions"))?;
                    let mut qb: QueryBuilder<$db> =
                        QueryBuilder::new("INSERT INTO actions (call_id, idx, body) ");
                    qb.push_values(chunk, |mut r, (a, body)| {
                        r.push_bind(a.call_id.clone())
                            .push_bind(a.idx)
                            .push_bind(body.clone());
                    });
                    qb.push(" ON CONFLICT (call_id, idx) DO NOTHING");
                    qb.build()
                        .execute(&mut *tx)
                        .await
                        .map_err(q("write_batch: actions"))?;
                    for (a, body) in chunk
                        .iter()
                        .filter(|(a, _)| !stored.contains(&(a.call_id.clone(), a.idx)))
                    {
                        *added.entry(a.call_id.clone()).or_default() += body.len() as i64;
                    }
                }
                for chunk in p.sip_messages.chunks(ROWS_PER_INSERT) {
                    let ids: HashSet<&str> = chunk.iter().map(|m| m.call_id.as_str()).collect();
                    let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                        "SELECT call_id, idx FROM sip_messages WHERE call_id IN (",
                    );
                    let mut list = qb.separated(", ");
                    for id in &ids {
                        list.push_bind(id.to_string());
                    }
                    qb.push(")");
                    let stored: HashSet<(String, i64)> = qb
                        .build()
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(q("write_batch: sip_messages"))?
                        .iter()
                        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
                        .collect::<Result<_, sqlx::Error>>()
                        .map_err(q("write_batch: sip_messages"))?;
                    let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                        "INSERT INTO sip_messages \
                         (call_id, idx, at_ms, direction, peer, first_line, text) ",
                    );
                    qb.push_values(chunk, |mut r, m| {
                        r.push_bind(m.call_id.clone())
                            .push_bind(m.idx)
                            .push_bind(m.at_ms)
                            .push_bind(m.direction.clone())
                            .push_bind(m.peer.clone())
                            .push_bind(m.first_line.clone())
                            .push_bind(m.text.clone());
                    });
                    qb.push(" ON CONFLICT (call_id, idx) DO NOTHING");
                    qb.build()
                        .execute(&mut *tx)
                        .await
                        .map_err(q("write_batch: sip_messages"))?;
                    for m in chunk
                        .iter()
                        .filter(|m| !stored.contains(&(m.call_id.clone(), m.idx)))
                    {
                        *added.entry(m.call_id.clone()).or_default() += m.payload_len() as i64;
                    }
                }
                let mut added: Vec<(String, i64)> = added.into_iter().collect();
                added.sort(); // a fixed lock order between concurrent writers
                for chunk in added.chunks(ROWS_PER_INSERT) {
                    // One statement for every call of the batch (a join, not a subquery per row).
                    let mut qb: QueryBuilder<$db> = QueryBuilder::new("WITH v (id, n) AS (");
                    qb.push_values(chunk, |mut r, (id, n)| {
                        r.push_bind(id.clone()).push_bind(*n);
                    });
                    qb.push(
                        ") UPDATE calls SET payload_bytes = calls.payload_bytes + v.n \
                         FROM v WHERE calls.call_id = v.id",
                    );
                    qb.build()
                        .execute(&mut *tx)
                        .await
                        .map_err(q("write_batch: payload bytes"))?;
                }
                if let Some(s) = max_seq {
                    sqlx::query(
                        "INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) \
                         DO UPDATE SET value = CASE WHEN meta.value < excluded.value \
                         THEN excluded.value ELSE meta.value END",
                    )
                    .bind(META_EVENT_SEQ)
                    .bind(s)
                    .execute(&mut *tx)
                    .await
                    .map_err(q("write_batch: seq high-water mark"))?;
                }
                tx.commit().await.map_err(q("write_batch: commit"))?;
                Ok(())
            }

            async fn get_call(&self, call_id: &str) -> Result<Option<CallDetail>> {
                let q = StoreError::query("get_call");
                let row = sqlx::query(&format!(
                    "SELECT {CALL_COLUMNS} FROM calls WHERE call_id = $1"
                ))
                .bind(call_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(q)?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let call = Self::call_from_row(&row)?;
                let events = sqlx::query(
                    "SELECT seq, call_id, at_ms, kind, body FROM events WHERE call_id = $1 \
                     ORDER BY seq",
                )
                .bind(call_id)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query("get_call: events"))?
                .iter()
                .map(Self::event_from_row)
                .collect::<Result<Vec<_>>>()?;
                let actions = sqlx::query(
                    "SELECT call_id, idx, body FROM actions WHERE call_id = $1 ORDER BY idx",
                )
                .bind(call_id)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query("get_call: actions"))?
                .iter()
                .map(Self::action_from_row)
                .collect::<Result<Vec<_>>>()?;
                let sip_trace = self.sip_trace(call_id).await?;
                Ok(Some(CallDetail {
                    call,
                    events,
                    actions,
                    sip_trace,
                }))
            }

            async fn sip_trace(&self, call_id: &str) -> Result<Vec<SipMessageRow>> {
                sqlx::query(
                    "SELECT call_id, idx, at_ms, direction, peer, first_line, text \
                     FROM sip_messages WHERE call_id = $1 ORDER BY idx",
                )
                .bind(call_id)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::query("sip_trace"))?
                .iter()
                .map(Self::sip_message_from_row)
                .collect()
            }

            async fn list_calls(&self, f: &CallFilter) -> Result<Page> {
                let cursor = f.cursor.as_deref().map(Cursor::decode).transpose()?;
                let limit = f.effective_limit() as usize;
                let mut qb: QueryBuilder<$db> =
                    QueryBuilder::new(format!("SELECT {CALL_COLUMNS} FROM calls WHERE 1 = 1"));
                if let Some(s) = f.state {
                    qb.push(" AND state = ").push_bind(s.as_str());
                }
                if let Some(a) = &f.answered_by {
                    qb.push(" AND answered_by = ").push_bind(a.clone());
                }
                if let Some(t) = f.since {
                    qb.push(" AND started_at >= ").push_bind(t);
                }
                if let Some(c) = &cursor {
                    qb.push(" AND (started_at < ")
                        .push_bind(c.started_at)
                        .push(" OR (started_at = ")
                        .push_bind(c.started_at)
                        .push(" AND call_id < ")
                        .push_bind(c.call_id.clone())
                        .push("))");
                }
                qb.push(" ORDER BY started_at DESC, call_id DESC LIMIT ")
                    .push_bind(limit as i64 + 1);
                let rows = qb
                    .build()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("list_calls"))?;
                let mut calls = rows
                    .iter()
                    .map(Self::call_from_row)
                    .collect::<Result<Vec<_>>>()?;
                let next_cursor = if calls.len() > limit {
                    calls.truncate(limit);
                    calls.last().map(|c| {
                        Cursor {
                            started_at: c.started_at,
                            call_id: c.call_id.clone(),
                        }
                        .encode()
                    })
                } else {
                    None
                };
                Ok(Page { calls, next_cursor })
            }

            async fn events_since(
                &self,
                after: i64,
                call_id: Option<&str>,
                limit: u32,
            ) -> Result<Vec<EventRow>> {
                let limit = i64::from(limit.min(MAX_EVENTS_LIMIT));
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "SELECT seq, call_id, at_ms, kind, body FROM events WHERE seq > ",
                );
                qb.push_bind(after);
                if let Some(id) = call_id {
                    qb.push(" AND call_id = ").push_bind(id.to_owned());
                }
                qb.push(" ORDER BY seq LIMIT ").push_bind(limit);
                qb.build()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(StoreError::query("events_since"))?
                    .iter()
                    .map(Self::event_from_row)
                    .collect()
            }

            async fn max_event_seq(&self) -> Result<i64> {
                let row = sqlx::query(
                    "SELECT COALESCE((SELECT MAX(seq) FROM events), 0), \
                     COALESCE((SELECT value FROM meta WHERE name = $1), 0)",
                )
                .bind(META_EVENT_SEQ)
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::query("max_event_seq"))?;
                let a: i64 = row.try_get(0).map_err(StoreError::query("max_event_seq"))?;
                let b: i64 = row.try_get(1).map_err(StoreError::query("max_event_seq"))?;
                Ok(a.max(b))
            }

            async fn mark_active_calls_ended(&self, ended_at: i64) -> Result<u64> {
                Ok(sqlx::query(
                    "UPDATE calls SET state = 'ended', \
                     ended_at = COALESCE(ended_at, $1) WHERE state = 'active'",
                )
                .bind(ended_at)
                .execute(&self.pool)
                .await
                .map_err(StoreError::query("mark_active_calls_ended"))?
                .rows_affected())
            }

            async fn prune(&self, limit: &PruneLimit) -> Result<PruneReport> {
                let q = StoreError::query;
                let mut tx = self.pool.begin().await.map_err(q("prune: begin"))?;
                // A write first, so SQLite takes the write lock now rather than failing to
                // upgrade a read later.
                sqlx::query(
                    "INSERT INTO meta (name, value) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
                )
                .bind(META_EVENT_SEQ)
                .execute(&mut *tx)
                .await
                .map_err(q("prune: meta"))?;
                // Deleting the newest events must not lower max_event_seq.
                sqlx::query(
                    "UPDATE meta SET value = COALESCE((SELECT MAX(seq) FROM events), 0) \
                     WHERE name = $1 AND value < COALESCE((SELECT MAX(seq) FROM events), 0)",
                )
                .bind(META_EVENT_SEQ)
                .execute(&mut *tx)
                .await
                .map_err(q("prune: meta"))?;
                let mut report = PruneReport::default();
                if let Some(keep) = limit.keep_calls {
                    let cut = sqlx::query(
                        "SELECT started_at, call_id FROM calls WHERE state = 'ended' \
                         ORDER BY started_at DESC, call_id DESC LIMIT 1 OFFSET $1",
                    )
                    .bind(to_i64("keep_calls", keep)?)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(q("prune: keep_calls"))?;
                    if let Some(row) = cut {
                        let cut = Cursor {
                            started_at: row.try_get(0).map_err(q("prune: keep_calls"))?,
                            call_id: row.try_get(1).map_err(q("prune: keep_calls"))?,
                        };
                        let r = Self::delete_ended_up_to(&mut tx, &cut).await?;
                        report.calls += r.calls;
                        report.events += r.events;
                        report.actions += r.actions;
                    }
                }
                if let Some(keep) = limit.keep_bytes {
                    let keep = to_i64("keep_bytes", keep)?;
                    let total: i64 = sqlx::query(
                        "SELECT CAST(COALESCE(SUM(payload_bytes), 0) AS BIGINT) FROM calls",
                    )
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(q("prune: keep_bytes"))?
                    .try_get(0)
                    .map_err(q("prune: keep_bytes"))?;
                    let mut excess = total - keep;
                    let mut cut: Option<Cursor> = None;
                    // Oldest ended calls first, until their bytes cover the excess.
                    while excess > 0 {
                        let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                            "SELECT started_at, call_id, payload_bytes FROM calls \
                             WHERE state = 'ended'",
                        );
                        if let Some(c) = &cut {
                            qb.push(" AND (started_at > ")
                                .push_bind(c.started_at)
                                .push(" OR (started_at = ")
                                .push_bind(c.started_at)
                                .push(" AND call_id > ")
                                .push_bind(c.call_id.clone())
                                .push("))");
                        }
                        qb.push(" ORDER BY started_at, call_id LIMIT ")
                            .push_bind(PRUNE_SCAN_STEP);
                        let rows = qb
                            .build()
                            .fetch_all(&mut *tx)
                            .await
                            .map_err(q("prune: keep_bytes"))?;
                        if rows.is_empty() {
                            break;
                        }
                        for row in rows {
                            cut = Some(Cursor {
                                started_at: row.try_get(0).map_err(q("prune: keep_bytes"))?,
                                call_id: row.try_get(1).map_err(q("prune: keep_bytes"))?,
                            });
                            let n: i64 = row.try_get(2).map_err(q("prune: keep_bytes"))?;
                            excess -= n;
                            if excess <= 0 {
                                break;
                            }
                        }
                    }
                    if let Some(cut) = cut {
                        let r = Self::delete_ended_up_to(&mut tx, &cut).await?;
                        report.calls += r.calls;
                        report.events += r.events;
                        report.actions += r.actions;
                    }
                }
                tx.commit().await.map_err(q("prune: commit"))?;
                Ok(report)
            }

            async fn totals(&self) -> Result<(u64, u64)> {
                let row = sqlx::query(
                    "SELECT COUNT(*), CAST(COALESCE(SUM(payload_bytes), 0) AS BIGINT) FROM calls",
                )
                .fetch_one(&self.pool)
                .await
                .map_err(StoreError::query("totals"))?;
                let n: i64 = row.try_get(0).map_err(StoreError::query("totals"))?;
                let b: i64 = row.try_get(1).map_err(StoreError::query("totals"))?;
                Ok((n.max(0) as u64, b.max(0) as u64))
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }
    };
}

impl_store!(SqliteStore, sqlx::Sqlite, "sqlite");
impl_store!(PgStore, sqlx::Postgres, "postgres");
