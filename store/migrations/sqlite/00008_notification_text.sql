-- The text of a notification that carries a message: a runbook's note
-- (event "note"), or why a runbook escalated. Empty for plain pages.

-- +goose Up
ALTER TABLE notifications ADD COLUMN text TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE notifications DROP COLUMN text;
