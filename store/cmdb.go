package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/incidentd/incidentd/cmdb"
)

// CMDBMeta describes the stored CMDB.
type CMDBMeta struct {
	// Version increases with every change; replicas compare it to know
	// whether their in-memory graph is current.
	Version int64 `db:"version" json:"version"`
	// Source says where the last change came from: files, api, import.
	Source string `db:"source" json:"source"`
	// FilesHash identifies the content of the cmdb.files last imported, so
	// a restart does not re-import (and undo API edits) unless files changed.
	FilesHash string `db:"files_hash" json:"-"`
	UpdatedAt int64  `db:"updated_at" json:"-"`
}

// LoadCMDB reads the stored CMDB.
func (s *Store) LoadCMDB(ctx context.Context) (*cmdb.Document, CMDBMeta, error) {
	var doc *cmdb.Document
	var meta CMDBMeta
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		doc, meta, err = s.loadCMDB(ctx, tx, "")
		return err
	})
	return doc, meta, err
}

// CMDBVersion reads the stored CMDB's version alone: a replica compares it
// with the version it holds before loading the whole document.
func (s *Store) CMDBVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.db.GetContext(ctx, &v, "SELECT version FROM cmdb_meta WHERE id = 1")
	return v, err
}

func (s *Store) loadCMDB(ctx context.Context, tx *sqlx.Tx, lock string) (*cmdb.Document, CMDBMeta, error) {
	var meta CMDBMeta
	if err := tx.GetContext(ctx, &meta, "SELECT version, source, files_hash, updated_at FROM cmdb_meta WHERE id = 1"+lock); err != nil {
		return nil, meta, err
	}
	doc := &cmdb.Document{}
	var docs []string
	if err := tx.SelectContext(ctx, &docs, "SELECT doc FROM cmdb_cis ORDER BY position"); err != nil {
		return nil, meta, err
	}
	doc.CIs = make([]cmdb.CI, len(docs))
	for i, d := range docs {
		if err := json.Unmarshal([]byte(d), &doc.CIs[i]); err != nil {
			return nil, meta, fmt.Errorf("stored CI %d: %w", i, err)
		}
	}
	if err := tx.SelectContext(ctx, &doc.Relations, "SELECT from_ci AS \"from\", type, to_ci AS \"to\" FROM cmdb_relations ORDER BY position"); err != nil {
		return nil, meta, err
	}
	return doc, meta, nil
}

// UpdateCMDB replaces the stored CMDB with what change returns, given the
// stored one, in one transaction that holds the CMDB lock: concurrent
// updates (PATCHes on two replicas) apply one after the other. change must
// return a validated document. filesHash is recorded (see CMDBMeta).
func (s *Store) UpdateCMDB(ctx context.Context, source, filesHash string, now time.Time, change func(current *cmdb.Document, meta CMDBMeta) (*cmdb.Document, error)) (*cmdb.Document, CMDBMeta, error) {
	var doc *cmdb.Document
	var meta CMDBMeta
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		current, m, err := s.loadCMDB(ctx, tx, s.forUpdate)
		if err != nil {
			return err
		}
		doc, err = change(current, m)
		if err != nil || doc == nil {
			doc, meta = current, m
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM cmdb_relations"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM cmdb_cis"); err != nil {
			return err
		}
		err = s.upsert(ctx, tx, "cmdb_cis", "id, position, doc", "", len(doc.CIs), func(i int) []any {
			b, _ := json.Marshal(doc.CIs[i]) // a CI always marshals
			return []any{doc.CIs[i].ID, i, string(b)}
		})
		if err != nil {
			return fmt.Errorf("write CIs: %w", err)
		}
		err = s.upsert(ctx, tx, "cmdb_relations", "from_ci, type, to_ci, position", "", len(doc.Relations), func(i int) []any {
			r := doc.Relations[i]
			return []any{r.From, r.Type, r.To, i}
		})
		if err != nil {
			return fmt.Errorf("write relations: %w", err)
		}
		meta = CMDBMeta{Version: m.Version + 1, Source: source, FilesHash: filesHash, UpdatedAt: micro(now)}
		_, err = tx.ExecContext(ctx, s.db.Rebind("UPDATE cmdb_meta SET version = ?, source = ?, files_hash = ?, updated_at = ? WHERE id = 1"),
			meta.Version, meta.Source, meta.FilesHash, meta.UpdatedAt)
		if err != nil {
			return err
		}
		return s.notifyChange(ctx, tx, ChangeCMDB)
	})
	if err != nil {
		return nil, CMDBMeta{}, err
	}
	return doc, meta, nil
}

type windowRow struct {
	ID        int64  `db:"id"`
	CI        string `db:"ci"`
	StartsAt  int64  `db:"starts_at"`
	EndsAt    int64  `db:"ends_at"`
	Reason    string `db:"reason"`
	CreatedBy string `db:"created_by"`
	Source    string `db:"source"`
}

const windowColumns = "ci, starts_at, ends_at, reason, created_by, source"

func windowValues(w *cmdb.Window) []any {
	return []any{w.CI, micro(w.Start), micro(w.End), w.Reason, w.CreatedBy, w.Source}
}

// MaintenanceWindows lists the windows that end after t, soonest first.
func (s *Store) MaintenanceWindows(ctx context.Context, endingAfter time.Time) ([]cmdb.Window, error) {
	var rows []windowRow
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind("SELECT id, "+windowColumns+" FROM maintenance_windows WHERE ends_at > ? ORDER BY starts_at, id"), micro(endingAfter)); err != nil {
		return nil, err
	}
	out := make([]cmdb.Window, len(rows))
	for i, r := range rows {
		out[i] = cmdb.Window{ID: r.ID, CI: r.CI, Start: fromMicro(r.StartsAt), End: fromMicro(r.EndsAt), Reason: r.Reason, CreatedBy: r.CreatedBy, Source: r.Source}
	}
	return out, nil
}

// AddMaintenance stores a window and returns its id.
func (s *Store) AddMaintenance(ctx context.Context, w cmdb.Window) (int64, error) {
	var id int64
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := tx.GetContext(ctx, &id, s.db.Rebind("INSERT INTO maintenance_windows ("+windowColumns+") VALUES ("+placeholders(6)+") RETURNING id"), windowValues(&w)...); err != nil {
			return err
		}
		return s.notifyChange(ctx, tx, ChangeMaintenance)
	})
	return id, err
}

// DeleteMaintenance removes a window; ErrNotFound if there is none.
func (s *Store) DeleteMaintenance(ctx context.Context, id int64) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, s.db.Rebind("DELETE FROM maintenance_windows WHERE id = ?"), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("maintenance window %d: %w", id, ErrNotFound)
		}
		return s.notifyChange(ctx, tx, ChangeMaintenance)
	})
}

// ReplaceConfigMaintenance makes the windows from the config file exactly
// windows; windows added through the API stay.
func (s *Store) ReplaceConfigMaintenance(ctx context.Context, windows []cmdb.Window) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM maintenance_windows WHERE source = 'config'"); err != nil {
			return err
		}
		err := s.upsert(ctx, tx, "maintenance_windows", windowColumns, "", len(windows), func(i int) []any {
			w := windows[i]
			w.Source = "config"
			return windowValues(&w)
		})
		if err != nil {
			return err
		}
		return s.notifyChange(ctx, tx, ChangeMaintenance)
	})
}
