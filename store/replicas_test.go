package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/correlate"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

// replicas opens n stores on one fresh database, as n replicas would. On
// PostgreSQL they all start (and migrate) at the same moment. SQLite is
// the single-node store, without a migration lock: its stores open one
// after the other, as one process's restarts would.
func replicas(t *testing.T, b store.Backend, n int) []*store.Store {
	t.Helper()
	dsn := storetest.DSN(t, b)
	out := make([]*store.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range out {
		open := func() { out[i], errs[i] = store.Open(context.Background(), dsn, store.Options{}) }
		if b == store.Postgres {
			wg.Go(open)
		} else {
			open()
		}
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: open: %v", i, err)
		}
		t.Cleanup(func() { out[i].Close() })
	}
	return out
}

func TestReplicasMigrateTogether(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		for i, s := range replicas(t, b, 4) {
			if err := s.Ready(context.Background()); err != nil {
				t.Errorf("replica %d: %v", i, err)
			}
		}
	})
}

func TestCursorLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		lease := 15 * time.Second
		claim := func(owner string, now time.Time) (int64, bool, time.Time) {
			t.Helper()
			c, held, end, err := s.ClaimCursor(ctx, "c", owner, now, now.Add(lease))
			if err != nil {
				t.Fatal(err)
			}
			return c, held, end
		}
		if c, held, _ := claim("A", t0); !held || c != 0 {
			t.Fatalf("A's first claim: cursor %d held %v, want 0 true", c, held)
		}
		if held, err := s.AdvanceCursor(ctx, "c", "A", 7, t0.Add(lease)); err != nil || !held {
			t.Fatalf("A advances: held %v err %v", held, err)
		}
		if _, held, end := claim("B", t0.Add(time.Second)); held || !end.Equal(t0.Add(lease)) {
			t.Fatalf("B claims A's live lease: held %v end %v, want false %v", held, end, t0.Add(lease))
		}
		if held, _ := s.AdvanceCursor(ctx, "c", "B", 99, t0.Add(time.Minute)); held {
			t.Fatal("B advanced a cursor it does not hold")
		}
		// A renews within its lease and keeps it.
		if c, held, _ := claim("A", t0.Add(10*time.Second)); !held || c != 7 {
			t.Fatalf("A renews: cursor %d held %v, want 7 true", c, held)
		}
		// A dies: once its lease is over, B takes over from A's cursor.
		after := t0.Add(10*time.Second + lease)
		if c, held, _ := claim("B", after); !held || c != 7 {
			t.Fatalf("B after A's lease: cursor %d held %v, want 7 true", c, held)
		}
		if held, _ := s.AdvanceCursor(ctx, "c", "A", 8, after.Add(lease)); held {
			t.Fatal("A, back from a stall, advanced the cursor B now holds")
		}
		// B shuts down and gives the lease up: A takes it at once.
		if err := s.ReleaseCursor(ctx, "c", "B"); err != nil {
			t.Fatal(err)
		}
		if _, held, _ := claim("A", after.Add(time.Second)); !held {
			t.Fatal("A could not claim a released lease")
		}
	})
}

// TestReplicasIngestRelatedAlertsAtOnce sends the same new alerts, and
// alerts of the same groups and of one CMDB outage, to several replicas at
// the same moment: each fingerprint has one current occurrence and each
// group and outage one incident.
func TestReplicasIngestRelatedAlertsAtOnce(t *testing.T) {
	doc, err := cmdb.Parse("cmdb.yml", []byte(`cis:
  - {id: db, class: database, match: [{service: db}]}
  - {id: api, class: application, match: [{service: api}]}
  - {id: web, class: application, match: [{service: web}]}
relations:
  - {from: api, type: depends_on, to: db}
  - {from: web, type: depends_on, to: api}
`))
	if err != nil {
		t.Fatal(err)
	}
	corr := correlate.New(correlate.Options{})
	corr.SetGraph(cmdb.Build(doc))
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		stores := replicas(t, b, 3)
		oracle := storetest.Open(t, b)
		p := incident.DefaultPolicy()
		p.Topology = corr
		const rounds = 8
		for round := range rounds {
			now := t0.Add(time.Duration(round) * 24 * time.Hour)
			var wg sync.WaitGroup
			errs := make([]error, len(stores))
			for i, s := range stores {
				// Every replica gets the round's shared alerts (in its own
				// order) plus one of its own in the same group.
				batch := []incident.AlertInput{
					firing(map[string]string{"alertname": "Down", "service": "db", "round": fmt.Sprint(round)}, now),
					firing(map[string]string{"alertname": "Errors", "service": "api", "round": fmt.Sprint(round)}, now),
					firing(map[string]string{"alertname": "Errors", "service": "web", "round": fmt.Sprint(round), "replica": fmt.Sprint(i)}, now),
					firing(map[string]string{"alertname": "Queue", "job": "batch", "round": fmt.Sprint(round), "replica": fmt.Sprint(i)}, now),
				}
				if i%2 == 1 {
					batch[0], batch[3] = batch[3], batch[0]
				}
				// The oracle gets the same batches one after the other (a
				// copy: Ingest normalises its inputs' times in place).
				own := slices.Clone(batch)
				wg.Go(func() { _, errs[i] = s.Ingest(context.Background(), &p, batch, now) })
				if _, err := oracle.Ingest(context.Background(), &p, own, now); err != nil {
					t.Fatal(err)
				}
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d, replica %d: %v", round, i, err)
				}
			}
		}
		count := func(s *store.Store, q string) int {
			t.Helper()
			var n int
			if err := s.DB().Get(&n, q); err != nil {
				t.Fatal(err)
			}
			return n
		}
		// Per round: db, api, 3 web and 3 batch alerts.
		if got, want := count(stores[0], "SELECT count(*) FROM alerts"), rounds*8; got != want {
			t.Errorf("%d alert rows, want %d: a fingerprint was stored twice", got, want)
		}
		// The db outage (db, api, web) is one incident, the batch group
		// another, as when the same batches come one after the other.
		got, want := count(stores[0], "SELECT count(*) FROM incidents"), count(oracle, "SELECT count(*) FROM incidents")
		if got != want {
			t.Errorf("%d incidents, want %d as on one replica: replicas opened duplicates", got, want)
		}
	})
}
