-- Calls, their events and their actions. Portable SQL: the same file runs on SQLite and on
-- PostgreSQL (only TEXT and BIGINT columns; JSON is stored as text).

CREATE TABLE calls (
    call_id        TEXT   NOT NULL PRIMARY KEY,
    platform       TEXT   NOT NULL,
    state          TEXT   NOT NULL,
    sample_rate    BIGINT NOT NULL,
    started_at     BIGINT NOT NULL,
    ended_at       BIGINT,
    audio_ms       BIGINT NOT NULL,
    answered_by    TEXT,
    result         TEXT,
    events_dropped BIGINT NOT NULL,
    -- Bytes of JSON stored for the call (result, events, actions): what `prune` bounds.
    payload_bytes  BIGINT NOT NULL DEFAULT 0
);

-- Newest first listing and its keyset cursor.
CREATE INDEX calls_by_start ON calls (started_at, call_id);
CREATE INDEX calls_by_state ON calls (state, started_at, call_id);

CREATE TABLE events (
    seq     BIGINT NOT NULL PRIMARY KEY,
    call_id TEXT   NOT NULL,
    at_ms   BIGINT NOT NULL,
    kind    TEXT   NOT NULL,
    body    TEXT   NOT NULL
);

CREATE INDEX events_by_call ON events (call_id, seq);

CREATE TABLE actions (
    call_id TEXT   NOT NULL,
    idx     BIGINT NOT NULL,
    body    TEXT   NOT NULL,
    PRIMARY KEY (call_id, idx)
);

-- Counters that must survive the rows they count (e.g. the highest event seq ever stored,
-- kept when prune deletes the newest events of an ended call).
CREATE TABLE meta (
    name  TEXT   NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);
