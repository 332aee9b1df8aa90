package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/outbox"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// recorder counts the events each replica handled.
type recorder struct {
	mu   sync.Mutex
	seen map[int64][]string
	fail map[int64]bool
}

func (r *recorder) handler(replica string) outbox.HandleFunc {
	return func(_ context.Context, ev incident.Event) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail[ev.ID] {
			return errors.New("handler failed")
		}
		r.seen[ev.ID] = append(r.seen[ev.ID], replica)
		return nil
	}
}

func record(t *testing.T, s *store.Store, n int) []int64 {
	t.Helper()
	evs := make([]incident.Event, n)
	for i := range evs {
		evs[i] = incident.Event{At: t0, Actor: "test", Kind: "note", Message: fmt.Sprint(i)}
	}
	if err := s.RecordEvents(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, n)
	for i := range evs {
		ids[i] = evs[i].ID
	}
	return ids
}

// TestOneReplicaFollowsAConsumer runs one consumer name on two replicas
// sharing a store: the lease holder handles the events, the other stands
// by; when the holder dies (stops without giving the lease up), the other
// takes over from the saved cursor once the lease has expired.
func TestOneReplicaFollowsAConsumer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		clk := clock.NewFake(t0)
		rec := &recorder{seen: map[int64][]string{}, fail: map[int64]bool{}}
		a := outbox.NewConsumer("c", s, rec.handler("A"), nil)
		a.SetLease("A", clk, 15*time.Second)
		bb := outbox.NewConsumer("c", s, rec.handler("B"), nil)
		bb.SetLease("B", clk, 15*time.Second)

		first := record(t, s, 3)
		for _, c := range []*outbox.Consumer{a, bb} {
			if err := c.Drain(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, id := range first {
			if got := rec.seen[id]; len(got) != 1 || got[0] != "A" {
				t.Fatalf("event %d handled by %v, want once by A", id, got)
			}
		}

		// A stops at a failing event and then dies; B waits out A's lease.
		second := record(t, s, 2)
		rec.fail[second[1]] = true
		if err := a.Drain(ctx); err == nil {
			t.Fatal("A's pass over a failing event reported no error")
		}
		rec.fail[second[1]] = false
		clk.Advance(10 * time.Second)
		if err := bb.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if got := rec.seen[second[1]]; len(got) != 0 {
			t.Fatalf("B handled event %d during A's lease: %v", second[1], got)
		}
		clk.Advance(6 * time.Second)
		if err := bb.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if got := rec.seen[second[0]]; len(got) != 1 || got[0] != "A" {
			t.Errorf("event %d handled by %v, want once by A (its cursor was saved)", second[0], got)
		}
		if got := rec.seen[second[1]]; len(got) != 1 || got[0] != "B" {
			t.Errorf("event %d handled by %v, want once by B after A's lease", second[1], got)
		}
	})
}

// TestRunGivesTheLeaseUp checks that a consumer stopping cleanly lets
// another replica take over at once, without waiting for the expiry.
func TestRunGivesTheLeaseUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		clk := clock.NewFake(t0)
		rec := &recorder{seen: map[int64][]string{}, fail: map[int64]bool{}}
		a := outbox.NewConsumer("c", s, rec.handler("A"), nil)
		a.SetLease("A", clk, time.Hour)
		passes := make(chan outbox.Pass, 10)
		a.OnPass(func(p outbox.Pass) { passes <- p })
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		if p := <-passes; p.Err != nil || !p.Busy.IsZero() {
			t.Fatalf("A's first pass: %+v", p)
		}
		stop()
		<-done

		ids := record(t, s, 1)
		bb := outbox.NewConsumer("c", s, rec.handler("B"), nil)
		bb.SetLease("B", clk, time.Hour)
		if err := bb.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := rec.seen[ids[0]]; len(got) != 1 || got[0] != "B" {
			t.Fatalf("event handled by %v, want B right after A stopped", got)
		}
	})
}
