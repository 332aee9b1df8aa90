-- Maintenance windows on CIs, and alerts they suppress.

-- +goose Up
CREATE TABLE maintenance_windows (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ci         TEXT    NOT NULL,
    starts_at  BIGINT  NOT NULL,
    ends_at    BIGINT  NOT NULL,
    reason     TEXT    NOT NULL,
    created_by TEXT    NOT NULL,
    source     TEXT    NOT NULL
);
CREATE INDEX maintenance_windows_end ON maintenance_windows (ends_at);
ALTER TABLE alerts ADD COLUMN suppressed INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE alerts DROP COLUMN suppressed;
DROP TABLE maintenance_windows;
