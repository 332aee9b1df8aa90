-- The primary key (fingerprint, seq) already finds a fingerprint's current
-- occurrence (a fingerprint has few): the partial index on fingerprint cost
-- one more random index insert for every new alert, for no read it served.

-- +goose Up
DROP INDEX alerts_current;

-- +goose Down
CREATE INDEX alerts_current ON alerts (fingerprint) WHERE is_current = 1;
