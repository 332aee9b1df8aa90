-- Runbook runs (package runbooks' engine). A run is keyed by its trigger
-- (idempotency_key: runbook and event id, cron tick or manual request id),
-- so that a trigger starts a runbook once however often it is seen. The
-- runbook's text is kept by hash (runbook_sources), so a run finishes with
-- the runbook as it was when it started, whatever reloads happen. Step
-- rows hold each step's state as it changes: status, attempts, rendered
-- input and output (secrets masked, output capped), error, timings.

-- +goose Up
CREATE TABLE runbook_sources (
    hash       TEXT   PRIMARY KEY,
    name       TEXT   NOT NULL,
    file       TEXT   NOT NULL,
    source     TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE runbook_runs (
    id                BIGINT  PRIMARY KEY,
    runbook           TEXT    NOT NULL,
    source_hash       TEXT    NOT NULL REFERENCES runbook_sources (hash),
    trigger_kind      TEXT    NOT NULL,
    trigger_event     BIGINT  NOT NULL DEFAULT 0,
    incident_id       BIGINT  REFERENCES incidents (id),
    parent_run        BIGINT  NOT NULL DEFAULT 0,
    parent_step       TEXT    NOT NULL DEFAULT '',
    idempotency_key   TEXT    NOT NULL UNIQUE,
    status            TEXT    NOT NULL,
    phase             TEXT    NOT NULL DEFAULT 'main',
    end_status        TEXT    NOT NULL DEFAULT '',
    concurrency_key   TEXT    NOT NULL DEFAULT '',
    concurrency_limit INTEGER NOT NULL DEFAULT 0,
    timeout_us        BIGINT  NOT NULL,
    inputs            TEXT    NOT NULL DEFAULT '{}',
    actor             TEXT    NOT NULL DEFAULT '',
    error             TEXT    NOT NULL DEFAULT '',
    created_at        BIGINT  NOT NULL,
    started_at        BIGINT  NOT NULL DEFAULT 0,
    ended_at          BIGINT  NOT NULL DEFAULT 0,
    deadline          BIGINT  NOT NULL DEFAULT 0,
    updated_at        BIGINT  NOT NULL
);
CREATE INDEX runbook_runs_incident ON runbook_runs (incident_id, id);
CREATE INDEX runbook_runs_runbook ON runbook_runs (runbook, id);
CREATE INDEX runbook_runs_slots ON runbook_runs (runbook, concurrency_key, status, id);
CREATE INDEX runbook_runs_parent ON runbook_runs (parent_run) WHERE parent_run <> 0;
CREATE TABLE runbook_steps (
    run_id      BIGINT  NOT NULL REFERENCES runbook_runs (id),
    step_id     TEXT    NOT NULL,
    position    INTEGER NOT NULL,
    name        TEXT    NOT NULL DEFAULT '',
    kind        TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    input       TEXT    NOT NULL DEFAULT '',
    output      TEXT    NOT NULL DEFAULT '',
    error       TEXT    NOT NULL DEFAULT '',
    attempt_log TEXT    NOT NULL DEFAULT '[]',
    deadline    BIGINT  NOT NULL DEFAULT 0,
    started_at  BIGINT  NOT NULL DEFAULT 0,
    ended_at    BIGINT  NOT NULL DEFAULT 0,
    updated_at  BIGINT  NOT NULL,
    PRIMARY KEY (run_id, step_id)
);
CREATE INDEX runbook_steps_status ON runbook_steps (status, kind);
INSERT INTO counters (name, value) VALUES ('runbook_run', 0);

-- +goose Down
DELETE FROM counters WHERE name = 'runbook_run';
DROP TABLE runbook_steps;
DROP TABLE runbook_runs;
DROP TABLE runbook_sources;
