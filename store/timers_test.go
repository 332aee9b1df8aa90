package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

var timerNow = time.Date(2026, 11, 21, 3, 0, 0, 0, time.UTC)

func schedule(t *testing.T, s *store.Store, key, kind string, due time.Time, payload string) bool {
	t.Helper()
	created, err := s.ScheduleTimer(context.Background(), store.Timer{Key: key, Kind: kind, Due: due, Payload: []byte(payload)}, timerNow)
	if err != nil {
		t.Fatalf("schedule %s: %v", key, err)
	}
	return created
}

func getTimer(t *testing.T, s *store.Store, key string) store.Timer {
	t.Helper()
	tm, err := s.Timer(context.Background(), key)
	if err != nil {
		t.Fatalf("timer %s: %v", key, err)
	}
	return tm
}

func claim(t *testing.T, s *store.Store, owner string, now time.Time, kinds ...string) []store.Timer {
	t.Helper()
	got, err := s.ClaimTimers(context.Background(), owner, kinds, now, now.Add(30*time.Second), 100)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	return got
}

func keys(ts []store.Timer) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Key
	}
	return out
}

func TestTimerScheduleIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		due := timerNow.Add(5 * time.Minute)
		if !schedule(t, s, "cron:nightly:2026-11-21T03:00Z", "cron", due, `{"n":1}`) {
			t.Fatal("first schedule did not create the timer")
		}
		// A second replica, or a replayed event, schedules the same key
		// with other values: nothing changes.
		if schedule(t, s, "cron:nightly:2026-11-21T03:00Z", "cron", due.Add(time.Hour), `{"n":2}`) {
			t.Fatal("second schedule created the timer again")
		}
		got := getTimer(t, s, "cron:nightly:2026-11-21T03:00Z")
		if !got.Due.Equal(due) || string(got.Payload) != `{"n":1}` || got.State != store.TimerPending || got.Attempts != 0 || got.Kind != "cron" {
			t.Fatalf("timer after repeated schedule: %+v", got)
		}

		// Done stays done: the tick ran once, a late reschedule changes nothing.
		c := claim(t, s, "a", due, "cron")
		if len(c) != 1 || c[0].Attempts != 1 || c[0].Owner != "a" {
			t.Fatalf("claim: %+v", c)
		}
		if err := s.CompleteTimer(ctx, c[0].Lease(), due); err != nil {
			t.Fatal(err)
		}
		if schedule(t, s, "cron:nightly:2026-11-21T03:00Z", "cron", due, "") {
			t.Fatal("a done key was created again")
		}
		if ok, err := s.RescheduleTimer(ctx, "cron:nightly:2026-11-21T03:00Z", due.Add(time.Hour), nil, due); ok || err != nil {
			t.Fatalf("reschedule of a done timer: %v %v", ok, err)
		}
		if got := getTimer(t, s, "cron:nightly:2026-11-21T03:00Z"); got.State != store.TimerDone {
			t.Fatalf("state %s, want done", got.State)
		}
		if c := claim(t, s, "b", due.Add(48*time.Hour), "cron"); len(c) != 0 {
			t.Fatalf("a done timer was claimed: %v", keys(c))
		}

		// Cancelled stays cancelled too.
		schedule(t, s, "x", "cron", due, "")
		if ok, err := s.CancelTimer(ctx, "x", timerNow); !ok || err != nil {
			t.Fatalf("cancel: %v %v", ok, err)
		}
		if schedule(t, s, "x", "cron", due, "") || getTimer(t, s, "x").State != store.TimerCancelled {
			t.Fatal("a cancelled key came back")
		}
	})
}

func TestTimerValidation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		for _, tc := range []struct {
			name string
			t    store.Timer
		}{
			{"empty key", store.Timer{Kind: "k", Due: timerNow}},
			{"no kind", store.Timer{Key: "a", Due: timerNow}},
			{"no due", store.Timer{Key: "a", Kind: "k"}},
			{"negative attempts", store.Timer{Key: "a", Kind: "k", Due: timerNow, MaxAttempts: -1}},
			{"binary payload", store.Timer{Key: "a", Kind: "k", Due: timerNow, Payload: []byte{0xff, 0}}},
			{"invalid key", store.Timer{Key: "a\xff", Kind: "k", Due: timerNow}},
			{"NUL in key", store.Timer{Key: "a\x00", Kind: "k", Due: timerNow}},
		} {
			if _, err := s.ScheduleTimer(ctx, tc.t, timerNow); err == nil {
				t.Errorf("%s: scheduled", tc.name)
			}
		}
		if _, err := s.CancelTimers(ctx, "", timerNow); err == nil {
			t.Error("cancelling every timer with an empty prefix was allowed")
		}
		if _, err := s.Timer(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing timer: %v", err)
		}
	})
}

func TestTimerRescheduleCancelAndList(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		for i, key := range []string{
			"escalate:INC-12:level1", "escalate:INC-12:level2", "sla:INC-12:resolve",
			"escalate:INC-120:level1", "escalate:INC-1:level1", "ESCALATE:INC-12:level3", "escalate_INC-12:x",
		} {
			schedule(t, s, key, "escalate", timerNow.Add(time.Duration(10-i)*time.Minute), key)
		}

		// Reschedule: a new due time and payload (SLA re-prioritisation).
		if ok, err := s.RescheduleTimer(ctx, "sla:INC-12:resolve", timerNow.Add(time.Hour), []byte(`{"p":1}`), timerNow); !ok || err != nil {
			t.Fatalf("reschedule: %v %v", ok, err)
		}
		got := getTimer(t, s, "sla:INC-12:resolve")
		if !got.Due.Equal(timerNow.Add(time.Hour)) || string(got.Payload) != `{"p":1}` {
			t.Fatalf("rescheduled timer: %+v", got)
		}
		// A nil payload keeps the payload.
		if ok, err := s.RescheduleTimer(ctx, "sla:INC-12:resolve", timerNow.Add(2*time.Hour), nil, timerNow); !ok || err != nil {
			t.Fatalf("reschedule: %v %v", ok, err)
		}
		if got := getTimer(t, s, "sla:INC-12:resolve"); !got.Due.Equal(timerNow.Add(2*time.Hour)) || string(got.Payload) != `{"p":1}` {
			t.Fatalf("rescheduled timer: %+v", got)
		}
		if ok, err := s.RescheduleTimer(ctx, "missing", timerNow, nil, timerNow); ok || err != nil {
			t.Fatalf("reschedule of a missing timer: %v %v", ok, err)
		}

		// List by prefix: exact, case-sensitive prefixes, by due time.
		list, err := s.Timers(ctx, store.TimerFilter{Prefix: "escalate:INC-12:"})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"escalate:INC-12:level2", "escalate:INC-12:level1"}; !slices.Equal(keys(list), want) {
			t.Fatalf("list escalate:INC-12: = %v, want %v", keys(list), want)
		}
		all, err := s.Timers(ctx, store.TimerFilter{Limit: 3})
		if err != nil || len(all) != 3 {
			t.Fatalf("list with limit 3: %v %v", keys(all), err)
		}

		// Cancel by prefix: INC-12's steps only, not INC-120's or INC-1's.
		n, err := s.CancelTimers(ctx, "escalate:INC-12:", timerNow)
		if err != nil || n != 2 {
			t.Fatalf("cancel prefix: %d %v, want 2", n, err)
		}
		if n, _ := s.CancelTimers(ctx, "escalate:INC-12:", timerNow); n != 0 {
			t.Fatalf("second cancel: %d, want 0", n)
		}
		pending, err := s.Timers(ctx, store.TimerFilter{States: []store.TimerState{store.TimerPending}})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"escalate_INC-12:x", "ESCALATE:INC-12:level3", "escalate:INC-1:level1", "escalate:INC-120:level1", "sla:INC-12:resolve"}
		if !slices.Equal(keys(pending), want) {
			t.Fatalf("pending after cancel = %v, want %v", keys(pending), want)
		}
		cancelled, err := s.Timers(ctx, store.TimerFilter{Prefix: "escalate:", States: []store.TimerState{store.TimerCancelled}})
		if err != nil || len(cancelled) != 2 {
			t.Fatalf("cancelled: %v %v", keys(cancelled), err)
		}
		if ok, err := s.CancelTimer(ctx, "escalate:INC-12:level1", timerNow); ok || err != nil {
			t.Fatalf("cancel of a cancelled timer: %v %v", ok, err)
		}
	})
}

func TestTimerInCallersTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		for _, commit := range []bool{false, true} {
			tx, err := s.DB().BeginTxx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.ScheduleTimerTx(ctx, tx, store.Timer{Key: "tx", Kind: "k", Due: timerNow}, timerNow); err != nil {
				t.Fatal(err)
			}
			if commit {
				err = tx.Commit()
			} else {
				err = tx.Rollback()
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Timer(ctx, "tx")
			if exists := err == nil; exists != commit {
				t.Fatalf("commit=%v: timer exists=%v (%v)", commit, exists, err)
			}
		}
	})
}

func TestTimerLeases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		schedule(t, s, "a", "page", timerNow, "")
		schedule(t, s, "b", "page", timerNow.Add(time.Minute), "")
		schedule(t, s, "c", "other", timerNow, "")

		if c := claim(t, s, "A", timerNow.Add(-time.Second), "page"); len(c) != 0 {
			t.Fatalf("claimed before due: %v", keys(c))
		}
		if c := claim(t, s, "A", timerNow, "nobody"); len(c) != 0 {
			t.Fatalf("claimed a kind not asked for: %v", keys(c))
		}
		a := claim(t, s, "A", timerNow, "page")
		if !slices.Equal(keys(a), []string{"a"}) || a[0].Attempts != 1 || !a[0].LeaseUntil.Equal(timerNow.Add(30*time.Second)) {
			t.Fatalf("claim A: %+v", a)
		}
		// Held: nobody else claims it until the lease expires.
		if c := claim(t, s, "B", timerNow.Add(29*time.Second), "page"); len(c) != 0 {
			t.Fatalf("claimed a leased timer: %v", keys(c))
		}
		next, err := s.NextTimerReady(ctx, []string{"page"})
		if err != nil || !next.Equal(timerNow.Add(30*time.Second)) {
			t.Fatalf("next ready = %v %v, want the lease expiry", next, err)
		}
		// A renews; B still waits.
		if err := s.RenewTimerLease(ctx, a[0].Lease(), timerNow.Add(50*time.Second), timerNow.Add(20*time.Second)); err != nil {
			t.Fatal(err)
		}
		if c := claim(t, s, "B", timerNow.Add(40*time.Second), "page"); len(c) != 0 {
			t.Fatalf("claimed a renewed timer: %v", keys(c))
		}
		// A dies; its lease expires; B takes over.
		bb := claim(t, s, "B", timerNow.Add(61*time.Second), "page")
		if !slices.Equal(keys(bb), []string{"a", "b"}) || bb[0].Attempts != 2 || bb[0].Owner != "B" {
			t.Fatalf("claim B after expiry: %+v", bb)
		}
		// A comes back late: it can neither renew nor finish.
		late, at := a[0].Lease(), timerNow.Add(62*time.Second)
		for name, op := range map[string]func() error{
			"renew":    func() error { return s.RenewTimerLease(ctx, late, at.Add(time.Minute), at) },
			"complete": func() error { return s.CompleteTimer(ctx, late, at) },
			"retry":    func() error { return s.RetryTimer(ctx, late, at.Add(time.Hour), "x", at) },
			"fail":     func() error { return s.FailTimer(ctx, late, "x", at) },
			"release":  func() error { return s.ReleaseTimer(ctx, late, at) },
		} {
			if err := op(); !errors.Is(err, store.ErrLeaseLost) {
				t.Errorf("late %s by A: %v, want ErrLeaseLost", name, err)
			}
		}
		if got := getTimer(t, s, "a"); got.State != store.TimerPending || got.Owner != "B" || got.Attempts != 2 {
			t.Fatalf("after A's late writes: %+v", got)
		}
		// The same owner's older claim is fenced too.
		again := claim(t, s, "B", timerNow.Add(2*time.Minute), "page")
		if len(again) != 2 {
			t.Fatalf("reclaim: %v", keys(again))
		}
		if err := s.CompleteTimer(ctx, bb[0].Lease(), timerNow.Add(2*time.Minute)); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("complete by B's expired claim: %v", err)
		}
		if err := s.CompleteTimer(ctx, again[0].Lease(), timerNow.Add(2*time.Minute)); err != nil {
			t.Fatalf("complete by the current claim: %v", err)
		}

		// Retry sets the next due time and keeps the error; release
		// hands back without counting the attempt.
		if err := s.RetryTimer(ctx, again[1].Lease(), timerNow.Add(time.Hour), "HTTP 503", timerNow.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got := getTimer(t, s, "b"); got.State != store.TimerPending || !got.Due.Equal(timerNow.Add(time.Hour)) || got.LastError != "HTTP 503" || got.Attempts != 2 {
			t.Fatalf("after retry: %+v", got)
		}
		r := claim(t, s, "B", timerNow.Add(time.Hour), "page")
		if len(r) != 1 || r[0].Attempts != 3 {
			t.Fatalf("claim for retry: %+v", r)
		}
		if err := s.ReleaseTimer(ctx, r[0].Lease(), timerNow.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		r = claim(t, s, "A", timerNow.Add(time.Hour), "page")
		if len(r) != 1 || r[0].Attempts != 3 {
			t.Fatalf("claim after release: %+v", r)
		}
		if err := s.FailTimer(ctx, r[0].Lease(), "gave up", timerNow.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got := getTimer(t, s, "b"); got.State != store.TimerFailed || got.LastError != "gave up" {
			t.Fatalf("after fail: %+v", got)
		}

		// A reschedule revokes the claim in progress.
		schedule(t, s, "d", "page", timerNow, "")
		d := claim(t, s, "A", timerNow.Add(2*time.Hour), "page")
		if _, err := s.RescheduleTimer(ctx, "d", timerNow.Add(3*time.Hour), nil, timerNow.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteTimer(ctx, d[0].Lease(), timerNow.Add(2*time.Hour)); !errors.Is(err, store.ErrLeaseLost) {
			t.Fatalf("complete after reschedule: %v", err)
		}
		if got := getTimer(t, s, "d"); got.State != store.TimerPending || got.Attempts != 0 {
			t.Fatalf("rescheduled timer: %+v", got)
		}

		kinds, err := s.UnhandledTimerKinds(ctx, []string{"page"}, timerNow.Add(4*time.Hour))
		if err != nil || !slices.Equal(kinds, []string{"other"}) {
			t.Fatalf("unhandled kinds = %v %v, want [other]", kinds, err)
		}
	})
}

func TestDeleteFinishedTimers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		for _, k := range []string{"done", "failed", "cancelled", "pending"} {
			schedule(t, s, k, "k", timerNow, "")
		}
		c := claim(t, s, "A", timerNow, "k")
		byKey := map[string]store.Timer{}
		for _, tm := range c {
			byKey[tm.Key] = tm
		}
		if err := s.CompleteTimer(ctx, byKey["done"].Lease(), timerNow); err != nil {
			t.Fatal(err)
		}
		if err := s.FailTimer(ctx, byKey["failed"].Lease(), "boom", timerNow); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CancelTimer(ctx, "cancelled", timerNow); err != nil {
			t.Fatal(err)
		}
		if n, err := s.DeleteFinishedTimers(ctx, timerNow); n != 0 || err != nil {
			t.Fatalf("deleted %d (%v) within retention", n, err)
		}
		n, err := s.DeleteFinishedTimers(ctx, timerNow.Add(time.Microsecond))
		if n != 2 || err != nil {
			t.Fatalf("deleted %d (%v), want done and cancelled", n, err)
		}
		left, _ := s.Timers(ctx, store.TimerFilter{})
		if got := keys(left); len(got) != 2 || !slices.Contains(got, "failed") || !slices.Contains(got, "pending") {
			t.Fatalf("left %v, want failed and pending", got)
		}
	})
}
