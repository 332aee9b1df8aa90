-- Outbox cursors, and ITIL problems that recurring incidents open.

-- +goose Up
CREATE TABLE outbox_cursors (
    consumer TEXT   PRIMARY KEY,
    last_id  BIGINT NOT NULL
);
CREATE TABLE problems (
    id          BIGINT  PRIMARY KEY,
    origin      TEXT    NOT NULL UNIQUE,
    signature   TEXT    NOT NULL,
    title       TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    reason      TEXT    NOT NULL,
    workaround  TEXT    NOT NULL DEFAULT '',
    runbook     TEXT    NOT NULL DEFAULT '',
    created_at  BIGINT  NOT NULL,
    updated_at  BIGINT  NOT NULL,
    resolved_at BIGINT  NOT NULL DEFAULT 0,
    closed_at   BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX problems_signature ON problems (signature, status);
CREATE TABLE problem_incidents (
    problem_id  BIGINT NOT NULL REFERENCES problems (id),
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    linked_at   BIGINT NOT NULL,
    PRIMARY KEY (problem_id, incident_id)
);
INSERT INTO counters (name, value) VALUES ('problem', 0);
ALTER TABLE events ADD COLUMN problem_id BIGINT REFERENCES problems (id);
CREATE INDEX events_problem ON events (problem_id, id);
ALTER TABLE incidents ADD COLUMN signature TEXT NOT NULL DEFAULT '';
CREATE INDEX incidents_signature ON incidents (signature, created_at);

-- +goose Down
DROP INDEX incidents_signature;
ALTER TABLE incidents DROP COLUMN signature;
DROP INDEX events_problem;
ALTER TABLE events DROP COLUMN problem_id;
DELETE FROM counters WHERE name = 'problem';
DROP TABLE problem_incidents;
DROP TABLE problems;
DROP TABLE outbox_cursors;
