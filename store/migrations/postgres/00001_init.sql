-- Times are unix microseconds (0 = not set), so both backends compare and
-- sort them the same way without driver-specific time handling.

-- +goose Up
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('incident', 0);

CREATE TABLE incidents (
    id              BIGINT PRIMARY KEY,
    group_key       TEXT    NOT NULL,
    title           TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    priority        INTEGER NOT NULL,
    urgency         INTEGER NOT NULL,
    impact          INTEGER NOT NULL,
    labels          TEXT    NOT NULL,
    alert_count     INTEGER NOT NULL,
    firing_count    INTEGER NOT NULL,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL,
    last_alert_at   BIGINT  NOT NULL,
    acknowledged_at BIGINT  NOT NULL DEFAULT 0,
    acknowledged_by TEXT    NOT NULL DEFAULT '',
    resolved_at     BIGINT  NOT NULL DEFAULT 0,
    resolved_by     TEXT    NOT NULL DEFAULT '',
    closed_at       BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX incidents_open_group ON incidents (group_key) WHERE status IN ('triggered', 'acknowledged', 'on_hold');
CREATE INDEX incidents_status ON incidents (status, id);

CREATE TABLE alerts (
    fingerprint   TEXT    NOT NULL,
    seq           INTEGER NOT NULL,
    incident_id   BIGINT  REFERENCES incidents (id),
    is_current    INTEGER NOT NULL,
    source        TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    labels        TEXT    NOT NULL,
    annotations   TEXT    NOT NULL,
    generator_url TEXT    NOT NULL,
    starts_at     BIGINT  NOT NULL,
    ends_at       BIGINT  NOT NULL,
    first_seen    BIGINT  NOT NULL,
    last_seen     BIGINT  NOT NULL,
    resolved_at   BIGINT  NOT NULL,
    repeats       BIGINT  NOT NULL,
    flaps         INTEGER NOT NULL,
    flapping      INTEGER NOT NULL,
    PRIMARY KEY (fingerprint, seq)
);
CREATE INDEX alerts_current ON alerts (fingerprint) WHERE is_current = 1;
CREATE INDEX alerts_incident ON alerts (incident_id);

CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id BIGINT REFERENCES incidents (id),
    alert_id    TEXT   NOT NULL DEFAULT '',
    at          BIGINT NOT NULL,
    actor       TEXT   NOT NULL,
    kind        TEXT   NOT NULL,
    message     TEXT   NOT NULL
);
CREATE INDEX events_incident ON events (incident_id, id);

-- +goose Down
DROP TABLE events;
DROP TABLE alerts;
DROP TABLE incidents;
DROP TABLE counters;
