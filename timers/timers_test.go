package timers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/timers"
)

var t0 = time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)

// recorder remembers every handler run: which timer, which scheduler.
type recorder struct {
	mu   sync.Mutex
	runs map[string][]string // key → owners, in order
}

func newRecorder() *recorder { return &recorder{runs: map[string][]string{}} }

func (r *recorder) record(owner string, t timers.Timer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs[t.Key] = append(r.runs[t.Key], owner)
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs[key])
}

func newScheduler(st *store.Store, clk clock.Clock, owner string, opts timers.Options) *timers.Scheduler {
	opts.Owner = owner
	return timers.New(st, clk, opts)
}

func schedule(t testing.TB, st *store.Store, tm store.Timer) {
	t.Helper()
	if _, err := st.ScheduleTimer(context.Background(), tm, t0); err != nil {
		t.Fatalf("schedule %s: %v", tm.Key, err)
	}
}

func get(t testing.TB, st *store.Store, key string) store.Timer {
	t.Helper()
	tm, err := st.Timer(context.Background(), key)
	if err != nil {
		t.Fatalf("timer %s: %v", key, err)
	}
	return tm
}

func runDue(t testing.TB, s *timers.Scheduler, want int) {
	t.Helper()
	n, err := s.RunDue(context.Background())
	if err != nil {
		t.Fatalf("RunDue: %v", err)
	}
	if n != want {
		t.Fatalf("RunDue fired %d timers, want %d", n, want)
	}
}

// firedTotal reads incidentd_timers_fired_total{kind, result} from reg.
func firedTotal(t *testing.T, reg *prometheus.Registry, kind, result string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "incidentd_timers_fired_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["result"] == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestFiresWhenDue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		st := storetest.Open(t, b)
		clk := clock.NewFake(t0)
		reg := prometheus.NewRegistry()
		s := newScheduler(st, clk, "A", timers.Options{Registerer: reg})
		var got []timers.Timer
		s.Handle("escalate", func(ctx context.Context, tm timers.Timer) error {
			got = append(got, tm)
			return nil
		})
		schedule(t, st, store.Timer{Key: "escalate:INC-12:level1", Kind: "escalate", Due: t0.Add(time.Minute), Payload: []byte(`{"level":1}`)})

		runDue(t, s, 0)
		clk.Advance(time.Minute - time.Microsecond)
		runDue(t, s, 0)
		clk.Advance(time.Microsecond)
		runDue(t, s, 1)
		if len(got) != 1 || got[0].Key != "escalate:INC-12:level1" || string(got[0].Payload) != `{"level":1}` || got[0].Attempts != 1 || got[0].Owner != "A" {
			t.Fatalf("handler saw %+v", got)
		}
		if tm := get(t, st, "escalate:INC-12:level1"); tm.State != store.TimerDone {
			t.Fatalf("state %s, want done", tm.State)
		}
		clk.Advance(time.Hour)
		runDue(t, s, 0)
		if n := firedTotal(t, reg, "escalate", "done"); n != 1 {
			t.Fatalf("fired{done} = %v, want 1", n)
		}
	})
}

func TestRetryWithBackoffThenFailed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		st := storetest.Open(t, b)
		clk := clock.NewFake(t0)
		s := newScheduler(st, clk, "A", timers.Options{})
		s.HandleRetry("notify", timers.Retry{MaxAttempts: 3, Initial: 10 * time.Second, Max: 15 * time.Second},
			func(ctx context.Context, tm timers.Timer) error {
				return fmt.Errorf("HTTP 503 on attempt %d", tm.Attempts)
			})
		schedule(t, st, store.Timer{Key: "n1", Kind: "notify", Due: t0})
		schedule(t, st, store.Timer{Key: "n2", Kind: "notify", Due: t0, MaxAttempts: 1})

		runDue(t, s, 2)
		// n2 allows one attempt: failed at once, with its error.
		if tm := get(t, st, "n2"); tm.State != store.TimerFailed || tm.LastError != "HTTP 503 on attempt 1" {
			t.Fatalf("n2 after one failure: %+v", tm)
		}
		// n1 backs off: [5s, 10s] after the first failure, then [7.5s, 15s]
		// (20s capped at 15s) after the second.
		for i, window := range [][2]time.Duration{{5 * time.Second, 10 * time.Second}, {7500 * time.Millisecond, 15 * time.Second}} {
			tm := get(t, st, "n1")
			now := clk.Now()
			if tm.State != store.TimerPending || tm.Attempts != i+1 || tm.LastError != fmt.Sprintf("HTTP 503 on attempt %d", i+1) {
				t.Fatalf("n1 after failure %d: %+v", i+1, tm)
			}
			if d := tm.Due.Sub(now); d < window[0] || d > window[1] {
				t.Fatalf("retry %d after %v, want within %v", i+1, d, window)
			}
			clk.Set(tm.Due.Add(-time.Microsecond))
			runDue(t, s, 0)
			clk.Set(tm.Due)
			runDue(t, s, 1)
		}
		tm := get(t, st, "n1")
		if tm.State != store.TimerFailed || tm.Attempts != 3 || tm.LastError != "HTTP 503 on attempt 3" {
			t.Fatalf("n1 after the last attempt: %+v", tm)
		}
		clk.Advance(24 * time.Hour)
		runDue(t, s, 0)
	})
}

func TestHandlerChoosesRetryOrGivesUp(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		st := storetest.Open(t, b)
		clk := clock.NewFake(t0)
		s := newScheduler(st, clk, "A", timers.Options{})
		retryAt := t0.Add(90 * time.Minute)
		s.Handle("webhook", func(ctx context.Context, tm timers.Timer) error {
			switch {
			case tm.Key == "429" && tm.Attempts == 1:
				return timers.RetryAt(retryAt, errors.New("HTTP 429"))
			case tm.Key == "400":
				return timers.Permanent(errors.New("HTTP 400: bad payload"))
			case tm.Key == "panic" && tm.Attempts == 1:
				panic("nil map")
			}
			return nil
		})
		for _, k := range []string{"429", "400", "panic"} {
			schedule(t, st, store.Timer{Key: k, Kind: "webhook", Due: t0})
		}
		runDue(t, s, 3)
		if tm := get(t, st, "429"); tm.State != store.TimerPending || !tm.Due.Equal(retryAt) || !strings.Contains(tm.LastError, "HTTP 429") {
			t.Fatalf("429: %+v, want pending until %v", tm, retryAt)
		}
		if tm := get(t, st, "400"); tm.State != store.TimerFailed || tm.Attempts != 1 || tm.LastError != "HTTP 400: bad payload" {
			t.Fatalf("400: %+v, want failed at once", tm)
		}
		p := get(t, st, "panic")
		if p.State != store.TimerPending || !strings.Contains(p.LastError, "panicked: nil map") {
			t.Fatalf("panic: %+v, want a retry with the panic as its error", p)
		}
		clk.Set(p.Due)
		runDue(t, s, 1)
		clk.Set(retryAt)
		runDue(t, s, 1)
		for _, k := range []string{"429", "panic"} {
			if tm := get(t, st, k); tm.State != store.TimerDone || tm.Attempts != 2 {
				t.Fatalf("%s: %+v, want done on attempt 2", k, tm)
			}
		}
	})
}

func TestStoppingReleasesWithoutCountingTheAttempt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		st := storetest.Open(t, b)
		clk := clock.NewFake(t0)
		ctx, stop := context.WithCancel(context.Background())
		s := newScheduler(st, clk, "A", timers.Options{})
		s.Handle("k", func(ctx context.Context, tm timers.Timer) error {
			stop() // the daemon shuts down while the handler runs
			return ctx.Err()
		})
		schedule(t, st, store.Timer{Key: "k1", Kind: "k", Due: t0})
		if n, err := s.RunDue(ctx); n != 1 || !errors.Is(err, context.Canceled) {
			t.Fatalf("RunDue = %d, %v; want 1, context.Canceled", n, err)
		}
		// Handed back at once, for any replica, with no attempt used up.
		if tm := get(t, st, "k1"); tm.State != store.TimerPending || tm.Attempts != 0 || tm.Owner != "" || !tm.LeaseUntil.IsZero() {
			t.Fatalf("after shutdown: %+v, want released", tm)
		}
		other := newScheduler(st, clk, "B", timers.Options{})
		other.Handle("k", func(context.Context, timers.Timer) error { return nil })
		runDue(t, other, 1)
	})
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestUnknownKindIsLeftPendingAndLoggedOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		st := storetest.Open(t, b)
		clk := clock.NewFake(t0)
		var logs syncBuffer
		s := newScheduler(st, clk, "old", timers.Options{PollInterval: 10 * time.Second, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		s.Handle("escalate", func(context.Context, timers.Timer) error { return nil })
		schedule(t, st, store.Timer{Key: "r1", Kind: "runbook-v2", Due: t0})
		for range 3 {
			runDue(t, s, 0)
			clk.Advance(time.Minute)
		}
		if tm := get(t, st, "r1"); tm.State != store.TimerPending || tm.Attempts != 0 || tm.Owner != "" {
			t.Fatalf("unknown kind: %+v, want untouched", tm)
		}
		if n := strings.Count(logs.String(), "kind=runbook-v2"); n != 1 {
			t.Fatalf("logged the unknown kind %d times, want once:\n%s", n, logs.String())
		}
		// A replica that knows the kind fires it.
		newer := newScheduler(st, clk, "new", timers.Options{})
		newer.Handle("runbook-v2", func(context.Context, timers.Timer) error { return nil })
		runDue(t, newer, 1)
	})
}

func TestTwoSchedulersFireEachTimerOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		dsn := storetest.DSN(t, b)
		ctx := context.Background()
		open := func() *store.Store {
			st, err := store.Open(ctx, dsn, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		stA, stB := open(), open()
		clk := clock.NewFake(t0)
		const n = 300
		tx, err := stA.DB().BeginTxx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if _, err := stA.ScheduleTimerTx(ctx, tx, store.Timer{Key: fmt.Sprintf("t%03d", i), Kind: "k", Due: t0}, t0); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		var scheds []*timers.Scheduler
		for _, p := range []struct {
			owner string
			st    *store.Store
		}{{"A", stA}, {"B", stB}} {
			s := newScheduler(p.st, clk, p.owner, timers.Options{Concurrency: 4})
			s.Handle("k", func(ctx context.Context, tm timers.Timer) error {
				rec.record(p.owner, tm)
				return nil
			})
			scheds = append(scheds, s)
		}
		var wg sync.WaitGroup
		for _, s := range scheds {
			wg.Go(func() {
				if _, err := s.RunDue(ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		perOwner := map[string]int{}
		for i := range n {
			key := fmt.Sprintf("t%03d", i)
			if c := rec.count(key); c != 1 {
				t.Fatalf("%s ran %d times (%v), want once", key, c, rec.runs[key])
			}
			perOwner[rec.runs[key][0]]++
			if tm := get(t, stB, key); tm.State != store.TimerDone {
				t.Fatalf("%s: %s, want done", key, tm.State)
			}
		}
		t.Logf("fired per scheduler: %v", perOwner)
	})
}

func TestLeaseExpiryTakeoverAndLateFinisher(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		st := storetest.Open(t, b)
		clk := clock.NewFake(t0)
		regA := prometheus.NewRegistry()
		a := newScheduler(st, clk, "A", timers.Options{Lease: 30 * time.Second, Registerer: regA})
		timers.SetRenewTicks(a, make(chan time.Time)) // A hangs: it never renews
		started, release := make(chan struct{}), make(chan struct{})
		a.Handle("page", func(ctx context.Context, tm timers.Timer) error {
			close(started)
			<-release
			return nil
		})
		bSched := newScheduler(st, clk, "B", timers.Options{Lease: 30 * time.Second})
		var bRuns []timers.Timer
		bSched.Handle("page", func(ctx context.Context, tm timers.Timer) error {
			bRuns = append(bRuns, tm)
			return nil
		})
		schedule(t, st, store.Timer{Key: "page:INC-7", Kind: "page", Due: t0})

		aDone := make(chan int)
		go func() {
			n, err := a.RunDue(context.Background())
			if err != nil {
				t.Error(err)
			}
			aDone <- n
		}()
		<-started
		clk.Advance(29 * time.Second)
		runDue(t, bSched, 0) // A's lease still holds
		clk.Advance(time.Second)
		runDue(t, bSched, 1) // expired: B takes over
		if len(bRuns) != 1 || bRuns[0].Attempts != 2 {
			t.Fatalf("B ran %+v, want attempt 2", bRuns)
		}
		// A wakes up and finishes late: its completion is rejected.
		close(release)
		if n := <-aDone; n != 1 {
			t.Fatalf("A fired %d", n)
		}
		if tm := get(t, st, "page:INC-7"); tm.State != store.TimerDone || tm.Owner != "B" {
			t.Fatalf("after A's late finish: %+v, want done by B", tm)
		}
		if n := firedTotal(t, regA, "page", "lease_lost"); n != 1 {
			t.Fatalf("A's fired{lease_lost} = %v, want 1", n)
		}
	})
}

func TestLongHandlerKeepsItsLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		st := storetest.Open(t, b)
		ctx := context.Background()
		clk := clock.NewFake(t0)
		ticks := make(chan time.Time)
		a := newScheduler(st, clk, "A", timers.Options{Lease: 30 * time.Second})
		timers.SetRenewTicks(a, ticks)
		started, release := make(chan struct{}, 1), make(chan struct{})
		var cause error
		a.Handle("runbook", func(ctx context.Context, tm timers.Timer) error {
			started <- struct{}{}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				cause = context.Cause(ctx)
				return ctx.Err()
			}
		})
		b2 := newScheduler(st, clk, "B", timers.Options{Lease: 30 * time.Second})
		bRuns := 0
		b2.Handle("runbook", func(context.Context, timers.Timer) error { bRuns++; return nil })

		// A renewed lease keeps B away past the first lease's end.
		schedule(t, st, store.Timer{Key: "long", Kind: "runbook", Due: t0})
		aDone := make(chan struct{})
		go func() { a.RunDue(ctx); close(aDone) }()
		<-started
		clk.Advance(20 * time.Second)
		ticks <- clk.Now()
		ticks <- clk.Now() // taken only once the first renewal is written
		clk.Advance(20 * time.Second)
		runDue(t, b2, 0)
		close(release)
		<-aDone
		if tm := get(t, st, "long"); tm.State != store.TimerDone || tm.Owner != "A" || tm.Attempts != 1 {
			t.Fatalf("long: %+v, want done by A on attempt 1", tm)
		}

		// A reschedule while the handler runs revokes the lease: the next
		// renewal cancels the handler, and the timer fires at its new time.
		schedule(t, st, store.Timer{Key: "moved", Kind: "runbook", Due: clk.Now()})
		release = make(chan struct{}) // never closed: only the lost lease ends this run
		aDone = make(chan struct{})
		go func() { a.RunDue(ctx); close(aDone) }()
		<-started
		newDue := clk.Now().Add(time.Hour)
		if ok, err := st.RescheduleTimer(ctx, "moved", newDue, nil, clk.Now()); !ok || err != nil {
			t.Fatalf("reschedule: %v %v", ok, err)
		}
		ticks <- clk.Now()
		<-aDone
		if !errors.Is(cause, store.ErrLeaseLost) {
			t.Fatalf("handler context ended with %v, want ErrLeaseLost", cause)
		}
		if tm := get(t, st, "moved"); tm.State != store.TimerPending || !tm.Due.Equal(newDue) || tm.Attempts != 0 {
			t.Fatalf("moved: %+v, want pending at %v", tm, newDue)
		}
		clk.Set(newDue)
		runDue(t, b2, 1)
		if bRuns != 1 {
			t.Fatalf("B ran %d times, want 1", bRuns)
		}
	})
}

func TestRestartFiresWhatWasPending(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		dsn := storetest.DSN(t, b)
		ctx := context.Background()
		st1, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		clk := clock.NewFake(t0)
		for _, tm := range []store.Timer{
			{Key: "now", Kind: "k", Due: t0},
			{Key: "later", Kind: "k", Due: t0.Add(time.Hour)},
			{Key: "crashed", Kind: "k", Due: t0.Add(-time.Minute)},
		} {
			schedule(t, st1, tm)
		}
		// A scheduler claims "crashed" and dies before finishing it.
		if c, err := st1.ClaimTimers(ctx, "dead", []string{"k"}, t0, t0.Add(30*time.Second), 1); err != nil || len(c) != 1 || c[0].Key != "crashed" {
			t.Fatalf("claim: %v %v", c, err)
		}
		s1 := newScheduler(st1, clk, "first", timers.Options{})
		s1.Handle("k", func(context.Context, timers.Timer) error { return nil })
		st1.Close()

		st2, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st2.Close()
		rec := newRecorder()
		s2 := newScheduler(st2, clk, "second", timers.Options{Lease: 30 * time.Second})
		s2.Handle("k", func(ctx context.Context, tm timers.Timer) error { rec.record("second", tm); return nil })
		runDue(t, s2, 1) // "now"; "crashed" is still leased
		clk.Advance(30 * time.Second)
		runDue(t, s2, 1) // "crashed", after the dead lease
		clk.Set(t0.Add(time.Hour))
		runDue(t, s2, 1) // "later"
		for _, k := range []string{"now", "later", "crashed"} {
			if rec.count(k) != 1 || get(t, st2, k).State != store.TimerDone {
				t.Fatalf("%s: ran %d times, state %s", k, rec.count(k), get(t, st2, k).State)
			}
		}
		if tm := get(t, st2, "crashed"); tm.Attempts != 2 {
			t.Fatalf("crashed: attempts %d, want 2 (the dead one counts)", tm.Attempts)
		}
	})
}

func TestAbandonedAttemptsEndInFailed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		st := storetest.Open(t, b)
		ctx := context.Background()
		clk := clock.NewFake(t0)
		schedule(t, st, store.Timer{Key: "poison", Kind: "k", Due: t0, MaxAttempts: 2})
		// Two schedulers claim it and die (say the handler crashes the
		// process); the third gives up instead of running it again.
		for i, owner := range []string{"dead1", "dead2"} {
			now := t0.Add(time.Duration(i) * time.Minute)
			if c, err := st.ClaimTimers(ctx, owner, []string{"k"}, now, now.Add(30*time.Second), 1); err != nil || len(c) != 1 {
				t.Fatalf("claim %s: %v %v", owner, c, err)
			}
		}
		clk.Set(t0.Add(2 * time.Minute))
		ran := 0
		s := newScheduler(st, clk, "third", timers.Options{})
		s.Handle("k", func(context.Context, timers.Timer) error { ran++; return nil })
		runDue(t, s, 0)
		if tm := get(t, st, "poison"); ran != 0 || tm.State != store.TimerFailed || !strings.Contains(tm.LastError, "never finished") {
			t.Fatalf("poison: ran %d, %+v, want failed unrun", ran, tm)
		}
	})
}

func TestRetentionDeletesFinishedTimers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		st := storetest.Open(t, b)
		ctx := context.Background()
		clk := clock.NewFake(t0)
		s := newScheduler(st, clk, "A", timers.Options{Retention: 7 * 24 * time.Hour})
		s.Handle("k", func(ctx context.Context, tm timers.Timer) error {
			if tm.Key == "bad" {
				return timers.Permanent(errors.New("no"))
			}
			return nil
		})
		for _, k := range []string{"ok", "bad", "cancelled"} {
			schedule(t, st, store.Timer{Key: k, Kind: "k", Due: t0})
		}
		schedule(t, st, store.Timer{Key: "far", Kind: "k", Due: t0.Add(30 * 24 * time.Hour)})
		if _, err := st.CancelTimer(ctx, "cancelled", t0); err != nil {
			t.Fatal(err)
		}
		runDue(t, s, 2)
		clk.Advance(6 * 24 * time.Hour)
		runDue(t, s, 0)
		if _, err := st.Timer(ctx, "ok"); err != nil {
			t.Fatalf("done timer deleted within retention: %v", err)
		}
		clk.Advance(24*time.Hour + time.Minute)
		runDue(t, s, 0)
		for k, want := range map[string]bool{"ok": false, "cancelled": false, "bad": true, "far": true} {
			_, err := st.Timer(ctx, k)
			if kept := err == nil; kept != want {
				t.Errorf("%s kept=%v, want %v (%v)", k, kept, want, err)
			}
		}
	})
}

// TestRunWakesOnLocalSchedule runs the real loop with a one-hour poll: a
// timer scheduled through the same store must wake it at once. The loop
// stops itself, from the second handler; the deadline only turns a hang
// into a failure.
func TestRunWakesOnLocalSchedule(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		st := storetest.Open(t, b)
		clk := clock.NewFake(t0)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s := newScheduler(st, clk, "A", timers.Options{PollInterval: time.Hour, Lease: time.Hour})
		s.Handle("first", func(ctx context.Context, tm timers.Timer) error {
			_, err := st.ScheduleTimer(ctx, store.Timer{Key: "second", Kind: "second", Due: clk.Now()}, clk.Now())
			return err
		})
		s.Handle("second", func(context.Context, timers.Timer) error {
			cancel()
			return nil
		})
		schedule(t, st, store.Timer{Key: "first", Kind: "first", Due: t0}) // due before Run starts
		s.Run(ctx)
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatal("Run did not wake for the timer scheduled while it waited")
		}
		for _, k := range []string{"first", "second"} {
			if tm := get(t, st, k); tm.State != store.TimerDone {
				t.Fatalf("%s: %s, want done", k, tm.State)
			}
		}
	})
}

// TestListenWakesOtherReplica checks the real PostgreSQL notification: B
// waits with a one-hour poll and nothing due, and must fire a timer that A
// (another store) schedules. It is the one test that waits for real time.
func TestListenWakesOtherReplica(t *testing.T) {
	dsn := storetest.DSN(t, store.Postgres) // skips without PostgreSQL
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func() *store.Store {
		st, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	stA, stB := open(), open()
	clk := clock.NewFake(t0)
	b := newScheduler(stB, clk, "B", timers.Options{PollInterval: time.Hour, ListenDSN: dsn})
	fired := make(chan string, 1)
	b.Handle("page", func(ctx context.Context, tm timers.Timer) error {
		fired <- tm.Key
		return nil
	})
	idleListening := make(chan struct{}, 1)
	timers.SetIdle(b, func(listening bool) {
		if listening {
			select {
			case idleListening <- struct{}{}:
			default:
			}
		}
	})
	runDone := make(chan struct{})
	go func() { b.Run(ctx); close(runDone) }()
	defer func() { cancel(); <-runDone }()

	select {
	case <-idleListening: // B listens and has gone to wait with nothing due
	case <-time.After(30 * time.Second):
		t.Fatal("B never started listening")
	}
	schedule(t, stA, store.Timer{Key: "page:INC-3", Kind: "page", Due: clk.Now()})
	select {
	case key := <-fired:
		if key != "page:INC-3" {
			t.Fatalf("B fired %s", key)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("B was not woken by A's notification")
	}
}
