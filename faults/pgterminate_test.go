package faults

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/incidentd/incidentd/store/storetest"
)

// TestPostgresConnectionsTerminated terminates every PostgreSQL connection
// of the daemon's database, again and again, while a loader posts alerts.
// Ingest must answer only 200 or 503 (never a 200 for an alert that was not
// committed), recover by itself within seconds once the terminations stop,
// and every alert answered 200 must be in the store.
func TestPostgresConnectionsTerminated(t *testing.T) {
	dsn, name := pgDatabase(t)
	admin := openPG(t, os.Getenv(storetest.EnvPostgresDSN))
	p := start(t, "incidentd", plainConfig(t), dsn)

	a := &acks{}
	ctx, stop := context.WithCancel(context.Background())
	loaded := make(chan struct{})
	go func() { defer close(loaded); load(ctx, p.url, a) }()
	defer func() { stop(); <-loaded }()
	poll(t, 30*time.Second, "500 alerts acknowledged before the fault", func() bool { n, _ := a.count(); return n >= 500 })

	terminated := 0
	for i := 0; i < 15; i++ {
		var n int
		if err := admin.QueryRow("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		terminated += n
		time.Sleep(200 * time.Millisecond) // the fault's pace, not an assertion
	}
	if terminated == 0 {
		t.Fatal("no connection of the daemon terminated: the test tested nothing")
	}
	during, _ := a.count()
	poll(t, 15*time.Second, "ingest recovered (500 more alerts acknowledged)", func() bool { n, _ := a.count(); return n >= during+500 })
	stop()
	<-loaded

	select {
	case <-p.done:
		t.Fatalf("the daemon exited: %s", p.log.String())
	default:
	}
	acked, codes := a.count()
	for code, n := range codes {
		if code != 200 && code != 503 {
			t.Errorf("%d answers %d: want only 200 and 503", n, code)
		}
	}
	db := openPG(t, dsn)
	if n := missing(t, db, a.fps); n > 0 {
		t.Fatalf("%d of %d alerts answered 200 are not in the store", n, acked)
	}
	t.Logf("%d connections terminated; answers %v; all %d acknowledged alerts stored", terminated, codes, acked)
}
