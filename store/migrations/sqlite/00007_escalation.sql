-- Escalation (package escalation): one row per incident that the engine
-- has seen, the notifications it sends (each with its idempotency key),
-- silences, and the engine's own secrets (the link signing key).
-- data is the engine's JSON: the status history the SLA clocks are
-- computed from, the SLA thresholds already reported, and who was paged.

-- +goose Up
CREATE TABLE escalations (
    incident_id BIGINT  PRIMARY KEY REFERENCES incidents (id),
    run         INTEGER NOT NULL DEFAULT 0,
    policy      TEXT    NOT NULL DEFAULT '',
    route       INTEGER NOT NULL DEFAULT -1,
    state       TEXT    NOT NULL DEFAULT '',
    level_no    INTEGER NOT NULL DEFAULT 0,
    loop_no     INTEGER NOT NULL DEFAULT 0,
    next_at     BIGINT  NOT NULL DEFAULT 0,
    status      TEXT    NOT NULL DEFAULT '',
    last_event  BIGINT  NOT NULL DEFAULT 0,
    data        TEXT    NOT NULL DEFAULT '{}',
    started_at  BIGINT  NOT NULL DEFAULT 0,
    updated_at  BIGINT  NOT NULL DEFAULT 0
);

CREATE TABLE notifications (
    key         TEXT    PRIMARY KEY,
    incident_id BIGINT  NOT NULL REFERENCES incidents (id),
    run         INTEGER NOT NULL,
    event       TEXT    NOT NULL,
    level_no    INTEGER NOT NULL,
    loop_no     INTEGER NOT NULL,
    target      TEXT    NOT NULL,
    user_id     TEXT    NOT NULL,
    notifier    TEXT    NOT NULL,
    address     TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT    NOT NULL DEFAULT '',
    reserved_at BIGINT  NOT NULL DEFAULT 0,
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    sent_at     BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX notifications_incident ON notifications (incident_id, created_at);

CREATE TABLE silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    matchers   TEXT   NOT NULL,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    comment    TEXT   NOT NULL,
    created_by TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX silences_end ON silences (ends_at);

CREATE TABLE escalation_secrets (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE escalation_secrets;
DROP TABLE silences;
DROP TABLE notifications;
DROP TABLE escalations;
