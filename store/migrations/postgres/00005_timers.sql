-- Durable timers (package timers): every due time is a row, claimed with a
-- lease so that a restart or another replica picks it up. key is the
-- caller's idempotency key. ready_at is when the row may next be claimed:
-- its due time, or its lease expiry while a scheduler holds it. version
-- grows with every claim and reschedule, so a stale lease holder cannot
-- finish a timer that was since re-claimed or rescheduled. key sorts
-- bytewise (COLLATE "C", as SQLite does), so a key-prefix range scan uses
-- the primary key and matches exact prefixes.

-- +goose Up
CREATE TABLE timers (
    key          TEXT    COLLATE "C" PRIMARY KEY,
    kind         TEXT    NOT NULL,
    due          BIGINT  NOT NULL,
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT    NOT NULL DEFAULT '',
    owner        TEXT    NOT NULL DEFAULT '',
    lease_until  BIGINT  NOT NULL DEFAULT 0,
    ready_at     BIGINT  NOT NULL,
    version      BIGINT  NOT NULL DEFAULT 0,
    created_at   BIGINT  NOT NULL,
    updated_at   BIGINT  NOT NULL
);
CREATE INDEX timers_ready ON timers (ready_at) WHERE state = 'pending';
CREATE INDEX timers_finished ON timers (updated_at) WHERE state IN ('done', 'cancelled');

-- +goose Down
DROP TABLE timers;
