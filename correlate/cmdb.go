package correlate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/store"
)

// CMDB keeps the stored CMDB and the correlator's in-memory graph in step:
// every change is validated, committed, and only then swapped in.
type CMDB struct {
	store *store.Store
	corr  *Correlator
	clock clock.Clock
	log   *slog.Logger
	mu    sync.Mutex
	meta  store.CMDBMeta
}

// NewCMDB connects the correlator to the stored CMDB.
func NewCMDB(st *store.Store, corr *Correlator, c clock.Clock, log *slog.Logger) *CMDB {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &CMDB{store: st, corr: corr, clock: c, log: log}
}

// Load reads the stored CMDB into the correlator.
func (c *CMDB) Load(ctx context.Context) error {
	doc, meta, err := c.store.LoadCMDB(ctx)
	if err != nil {
		return fmt.Errorf("load CMDB: %w", err)
	}
	if err := doc.Validate(); err != nil {
		return fmt.Errorf("stored CMDB is invalid: %w", err)
	}
	c.swap(doc, meta)
	return nil
}

// Refresh loads the stored CMDB if another replica has changed it since
// this one loaded it (it heard of the change, or may have missed one).
func (c *CMDB) Refresh(ctx context.Context) error {
	v, err := c.store.CMDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read CMDB version: %w", err)
	}
	if v <= c.Meta().Version {
		return nil
	}
	return c.Load(ctx)
}

func (c *CMDB) swap(doc *cmdb.Document, meta store.CMDBMeta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if meta.Version < c.meta.Version {
		return // a newer graph is already in place
	}
	c.corr.SetGraph(cmdb.Build(doc))
	c.meta = meta
	c.log.Info("CMDB in use", "version", meta.Version, "source", meta.Source, "cis", len(doc.CIs), "relations", len(doc.Relations))
}

// Meta describes the CMDB in use.
func (c *CMDB) Meta() store.CMDBMeta {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.meta
}

// Graph is the CMDB in use.
func (c *CMDB) Graph() *cmdb.Graph { return c.corr.Graph() }

// SyncFiles imports the files when their content differs from the last
// import, so that a restart does not undo changes made through the API
// since. Invalid files are an error and change nothing.
func (c *CMDB) SyncFiles(ctx context.Context, names []string) error {
	if len(names) == 0 {
		return nil
	}
	h := sha256.New()
	files := make([]cmdb.File, len(names))
	for i, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("cmdb.files: %w", err)
		}
		files[i] = cmdb.File{Name: name, Data: data}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(data))
		h.Write(data)
	}
	hash := hex.EncodeToString(h.Sum(nil))
	doc, err := cmdb.ParseFiles(files)
	if err != nil {
		return err
	}
	imported := false
	newDoc, meta, err := c.store.UpdateCMDB(ctx, "files", hash, c.clock.Now(), func(_ *cmdb.Document, m store.CMDBMeta) (*cmdb.Document, error) {
		if m.FilesHash == hash {
			return nil, nil // unchanged since the last import
		}
		imported = true
		return doc, nil
	})
	if err != nil {
		return err
	}
	if imported {
		c.log.Info("imported CMDB files", "files", names)
	}
	c.swap(newDoc, meta)
	return nil
}

// Replace stores doc (validated) as the whole CMDB.
func (c *CMDB) Replace(ctx context.Context, doc *cmdb.Document, source string) (store.CMDBMeta, error) {
	if err := doc.Validate(); err != nil {
		return store.CMDBMeta{}, err
	}
	return c.update(ctx, source, func(*cmdb.Document) (*cmdb.Document, error) { return doc, nil })
}

// Patch applies p to the stored CMDB.
func (c *CMDB) Patch(ctx context.Context, p *cmdb.Patch, source string) (store.CMDBMeta, error) {
	return c.update(ctx, source, func(cur *cmdb.Document) (*cmdb.Document, error) { return cur.Apply(p) })
}

func (c *CMDB) update(ctx context.Context, source string, change func(*cmdb.Document) (*cmdb.Document, error)) (store.CMDBMeta, error) {
	doc, meta, err := c.store.UpdateCMDB(ctx, source, c.Meta().FilesHash, c.clock.Now(), func(cur *cmdb.Document, _ store.CMDBMeta) (*cmdb.Document, error) {
		return change(cur)
	})
	if err != nil {
		return store.CMDBMeta{}, err
	}
	c.swap(doc, meta)
	return meta, nil
}

// LoadMaintenance reads the maintenance windows that are not over into the
// correlator.
func (c *CMDB) LoadMaintenance(ctx context.Context) error {
	ws, err := c.store.MaintenanceWindows(ctx, c.clock.Now())
	if err != nil {
		return fmt.Errorf("load maintenance windows: %w", err)
	}
	c.corr.SetMaintenance(ws)
	return nil
}

// Maintenance lists the windows not over at t.
func (c *CMDB) Maintenance(ctx context.Context) ([]cmdb.Window, error) {
	return c.store.MaintenanceWindows(ctx, c.clock.Now())
}

// SyncConfigMaintenance makes the config file's windows the stored ones
// from config, keeping those added through the API.
func (c *CMDB) SyncConfigMaintenance(ctx context.Context, windows []cmdb.Window) error {
	if err := c.store.ReplaceConfigMaintenance(ctx, windows); err != nil {
		return err
	}
	return c.LoadMaintenance(ctx)
}

// AddMaintenance stores a window and puts it in force.
func (c *CMDB) AddMaintenance(ctx context.Context, w cmdb.Window) (cmdb.Window, error) {
	if err := w.Check(); err != nil {
		return w, err
	}
	w.Source = "api"
	id, err := c.store.AddMaintenance(ctx, w)
	if err != nil {
		return w, err
	}
	w.ID = id
	return w, c.LoadMaintenance(ctx)
}

// DeleteMaintenance ends a window early.
func (c *CMDB) DeleteMaintenance(ctx context.Context, id int64) error {
	if err := c.store.DeleteMaintenance(ctx, id); err != nil {
		return err
	}
	return c.LoadMaintenance(ctx)
}

// Suppression says why alerts on ci are suppressed now, if they are.
func (c *CMDB) Suppression(ci string) (string, bool) {
	return c.corr.Maintenance(ci, c.clock.Now())
}
