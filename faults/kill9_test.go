package faults

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestKill9UnderLoad kills the daemon with SIGKILL while a loader posts
// alerts and while escalations and runbook waits are pending, on SQLite and
// on PostgreSQL. After a restart every alert answered 200 is in the store,
// and the pending timers fire: the second escalation level pages and the
// runbooks make their request, each once.
func TestKill9UnderLoad(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "incidentd.db")
		kill9UnderLoad(t, "sqlite://"+file, func() *sql.DB {
			db, err := sql.Open("sqlite", file)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			return db
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn, _ := pgDatabase(t)
		kill9UnderLoad(t, dsn, func() *sql.DB { return openPG(t, dsn) })
	})
}

func kill9UnderLoad(t *testing.T, dsn string, open func() *sql.DB) {
	rec := newReceiver(t)
	defer rec.logIfFailed(t)
	config := writeConfig(t, rec, 8*time.Second, 8*time.Second)
	p := start(t, "incidentd", config, dsn)
	const incidents = 3
	post(t, p.url, timerAlerts("kill", incidents))

	a := &acks{}
	ctx, stop := context.WithCancel(context.Background())
	loaded := make(chan struct{})
	go func() { defer close(loaded); load(ctx, p.url, a) }()
	defer func() { stop(); <-loaded }()
	poll(t, 30*time.Second, "alice paged for every incident and 1000 alerts acknowledged", func() bool {
		n, _ := a.count()
		return len(paged(rec, "alice")) == incidents && n >= 1000
	})
	if _, hits := rec.snapshot(); len(paged(rec, "bob")) > 0 || len(hits) > 0 {
		t.Fatalf("level 2 or a runbook request before the kill: the test would not test the timers")
	}
	p.kill()
	stop()
	<-loaded

	p = start(t, "incidentd again", config, dsn)
	poll(t, 60*time.Second, "bob paged and the runbook's request made for every incident", func() bool {
		_, hits := rec.snapshot()
		runs := map[string]bool{}
		for _, h := range hits {
			runs[h.Incident] = true
		}
		return len(paged(rec, "bob")) == incidents && len(runs) == incidents
	})
	checkOnce(t, rec)
	acked, codes := a.count()
	if n := missing(t, open(), a.fps); n > 0 {
		t.Fatalf("%d of %d alerts answered 200 before the kill are not in the store", n, acked)
	}
	t.Logf("answers before the kill %v; all %d acknowledged alerts stored", codes, acked)
}
