-- The CMDB, and what correlation records on alerts and incidents.

-- +goose Up
CREATE TABLE cmdb_cis (
    id       TEXT    PRIMARY KEY,
    position INTEGER NOT NULL,
    doc      TEXT    NOT NULL
);
CREATE TABLE cmdb_relations (
    from_ci  TEXT    NOT NULL,
    type     TEXT    NOT NULL,
    to_ci    TEXT    NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (from_ci, type, to_ci)
);
CREATE TABLE cmdb_meta (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    version     BIGINT  NOT NULL,
    source      TEXT    NOT NULL,
    files_hash  TEXT    NOT NULL,
    updated_at  BIGINT  NOT NULL
);
INSERT INTO cmdb_meta (id, version, source, files_hash, updated_at) VALUES (1, 0, '', '', 0);

ALTER TABLE alerts ADD COLUMN ci TEXT NOT NULL DEFAULT '';
ALTER TABLE alerts ADD COLUMN explanation TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN root_cause TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN major INTEGER NOT NULL DEFAULT 0;
ALTER TABLE incidents ADD COLUMN correlation TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN merged_into BIGINT NOT NULL DEFAULT 0;
CREATE INDEX incidents_open_correlated ON incidents (id) WHERE root_cause <> '' AND status IN ('triggered', 'acknowledged', 'on_hold');

-- +goose Down
DROP INDEX incidents_open_correlated;
ALTER TABLE incidents DROP COLUMN merged_into;
ALTER TABLE incidents DROP COLUMN correlation;
ALTER TABLE incidents DROP COLUMN major;
ALTER TABLE incidents DROP COLUMN root_cause;
ALTER TABLE alerts DROP COLUMN explanation;
ALTER TABLE alerts DROP COLUMN ci;
DROP TABLE cmdb_meta;
DROP TABLE cmdb_relations;
DROP TABLE cmdb_cis;
