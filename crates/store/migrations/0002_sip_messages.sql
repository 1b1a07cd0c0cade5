-- The SIP trace of a call (its ladder): every SIP message sent or received for the call, in
-- order. Same portable SQL as 0001 (TEXT and BIGINT only).

CREATE TABLE sip_messages (
    call_id    TEXT   NOT NULL,
    -- Position in the call's trace, from 0.
    idx        BIGINT NOT NULL,
    -- When it was sent or received, unix ms.
    at_ms      BIGINT NOT NULL,
    -- `sent` or `received`.
    direction  TEXT   NOT NULL,
    -- The other end, `ip:port`.
    peer       TEXT   NOT NULL,
    -- The request or status line.
    first_line TEXT   NOT NULL,
    -- The whole message as text.
    text       TEXT   NOT NULL,
    PRIMARY KEY (call_id, idx)
);
