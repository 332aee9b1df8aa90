-- Outbox consumers hold a lease on their cursor, so that with several
-- replicas one replica at a time follows each consumer's events: owner is
-- the holding process, lease_until (unix microseconds) when another may
-- take over if the holder stops renewing (it died).

-- +goose Up
ALTER TABLE outbox_cursors ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox_cursors ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE outbox_cursors DROP COLUMN lease_until;
ALTER TABLE outbox_cursors DROP COLUMN owner;
