package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

var testSource = store.RunbookSource{Hash: "h1", Name: "restart", File: "restart.yml", Source: []byte("name: restart\n")}

// hookLog records which runs the store reported as started, ended and
// cancelled, and schedules a timer for each so that the test can see the
// effects committed.
type hookLog struct {
	mu                        sync.Mutex
	started, ended, cancelled []int64
}

func (h *hookLog) hooks() store.RunbookHooks {
	return store.RunbookHooks{
		Started: func(r store.RunbookRun) store.RunbookEffects {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.started = append(h.started, r.ID)
			return store.RunbookEffects{Timers: []store.Timer{{Key: fmt.Sprintf("started:%d", r.ID), Kind: "k", Due: r.StartedAt}}}
		},
		Ended: func(r store.RunbookRun) store.RunbookEffects {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.ended = append(h.ended, r.ID)
			return store.RunbookEffects{}
		},
		CancelChild: func(r store.RunbookRun) store.RunbookEffects {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.cancelled = append(h.cancelled, r.ID)
			return store.RunbookEffects{}
		},
	}
}

func newRun(key, ckey string, limit int) store.RunbookRun {
	return store.RunbookRun{Runbook: "restart", Trigger: "manual", IdempotencyKey: key, ConcurrencyKey: ckey, ConcurrencyLimit: limit, Timeout: 15 * time.Minute}
}

func create(t *testing.T, rs *store.RunbookStore, r store.RunbookRun) store.RunbookRun {
	t.Helper()
	out, created, err := rs.Create(context.Background(), testSource, r, t0)
	if err != nil || !created {
		t.Fatalf("create %s: created %v, %v", r.IdempotencyKey, created, err)
	}
	return out
}

func TestRunbookRunsIdempotentAndLimited(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		s := storetest.Open(t, b)
		h := &hookLog{}
		rs := s.Runbooks(h.hooks())

		a := create(t, rs, newRun("event:1:restart", "db-1", 1))
		if a.Status != store.RunRunning || !a.StartedAt.Equal(t0) || !a.Deadline.Equal(t0.Add(15*time.Minute)) {
			t.Fatalf("first run: %+v, want running since t0 with a deadline", a)
		}
		again, created, err := rs.Create(ctx, testSource, newRun("event:1:restart", "db-1", 1), t0)
		if err != nil || created || again.ID != a.ID {
			t.Fatalf("same key again: run %d created %v err %v, want run %d not created", again.ID, created, err, a.ID)
		}
		bq := create(t, rs, newRun("event:2:restart", "db-1", 1))
		cq := create(t, rs, newRun("event:3:restart", "db-1", 1))
		other := create(t, rs, newRun("event:4:restart", "db-2", 1))
		if bq.Status != store.RunQueued || cq.Status != store.RunQueued || other.Status != store.RunRunning {
			t.Fatalf("statuses %s %s %s, want queued queued running (the limit is per key)", bq.Status, cq.Status, other.Status)
		}
		if _, err := s.Timer(ctx, fmt.Sprintf("started:%d", a.ID)); err != nil {
			t.Fatalf("the Started hook's timer did not commit: %v", err)
		}

		// Ending the first run starts the oldest queued one, not the newest.
		ok, err := rs.End(ctx, a.ID, store.RunSucceeded, "", store.RunbookEffects{
			Events: []incident.Event{{At: t0, Actor: "runbook:restart", Kind: "runbook.run_finished", Message: "run 1: done"}},
		}, t0.Add(time.Minute))
		if err != nil || !ok {
			t.Fatalf("end: %v %v", ok, err)
		}
		if ok, _ := rs.End(ctx, a.ID, store.RunFailed, "", store.RunbookEffects{}, t0.Add(time.Minute)); ok {
			t.Fatal("ending an ended run reported a change")
		}
		for id, want := range map[int64]store.RunStatus{bq.ID: store.RunRunning, cq.ID: store.RunQueued, a.ID: store.RunSucceeded} {
			if r, _ := rs.Run(ctx, id); r.Status != want {
				t.Errorf("run %d is %s, want %s", id, r.Status, want)
			}
		}
		if len(h.ended) != 1 || h.ended[0] != a.ID {
			t.Errorf("Ended hook saw %v, want [%d]", h.ended, a.ID)
		}
	})
}

func TestRunbookStepsCompareAndSet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		s := storetest.Open(t, b)
		h := &hookLog{}
		rs := s.Runbooks(h.hooks())
		run := create(t, rs, newRun("manual:x", "", 0))
		steps := []store.RunbookStep{
			{RunID: run.ID, StepID: "steps[0]", Position: 0, Name: "check", Kind: "http", Status: store.StepPending},
			{RunID: run.ID, StepID: "steps[1]", Position: 1, Name: "ask", Kind: "approve", Status: store.StepPending},
		}
		next := store.Timer{Key: "runbook:x:steps[0]:1", Kind: "k", Due: t0}
		if ok, err := rs.AddSteps(ctx, run.ID, steps, store.RunbookEffects{Timers: []store.Timer{next}}, t0); err != nil || !ok {
			t.Fatalf("add steps: %v %v", ok, err)
		}
		if _, err := s.Timer(ctx, next.Key); err != nil {
			t.Fatalf("timer committed with the steps: %v", err)
		}
		st := steps[1]
		st.Status, st.Attempts = store.StepAwaitingApproval, 1
		cond := store.StepCondition{Statuses: []store.StepStatus{store.StepPending}, Attempts: 0}
		if ok, err := rs.UpdateStep(ctx, st, cond, store.RunbookEffects{}, t0); err != nil || !ok {
			t.Fatalf("update: %v %v", ok, err)
		}
		if ok, _ := rs.UpdateStep(ctx, st, cond, store.RunbookEffects{}, t0); ok {
			t.Fatal("a second update under the same condition succeeded")
		}
		if r, _ := rs.Run(ctx, run.ID); r.Status != store.RunAwaitingApproval {
			t.Fatalf("run status %s, want awaiting_approval while a step awaits approval", r.Status)
		}
		if n, err := rs.CountSteps(ctx, store.StepAwaitingApproval); err != nil || n != 1 {
			t.Fatalf("pending approvals %d %v, want 1", n, err)
		}
		st.Status, st.Output = store.StepRejected, `{"outcome":"rejected"}`
		if ok, err := rs.UpdateStep(ctx, st, store.StepCondition{Statuses: []store.StepStatus{store.StepAwaitingApproval}, Attempts: 1}, store.RunbookEffects{}, t0); err != nil || !ok {
			t.Fatalf("reject: %v %v", ok, err)
		}
		if r, _ := rs.Run(ctx, run.ID); r.Status != store.RunRunning {
			t.Fatalf("run status %s, want running once no step waits", r.Status)
		}

		// Failing moves to on_failure and closes open steps; ending
		// cancels what is still open.
		ok, err := rs.Fail(ctx, run.ID, store.RunTimedOut, store.StepTimedOut, "run timed out", store.RunbookEffects{CancelPrefix: "runbook:x:"}, t0.Add(time.Minute))
		if err != nil || !ok {
			t.Fatalf("fail: %v %v", ok, err)
		}
		if tm, _ := s.Timer(ctx, next.Key); tm.State != store.TimerCancelled {
			t.Errorf("timer %s is %s, want cancelled by prefix", next.Key, tm.State)
		}
		got, _ := rs.Steps(ctx, run.ID)
		if got[0].Status != store.StepTimedOut || got[0].Error != "run timed out" || got[1].Status != store.StepRejected {
			t.Fatalf("steps after fail: %+v", got)
		}
		r, _ := rs.Run(ctx, run.ID)
		if r.Phase != store.PhaseOnFailure || r.EndStatus != store.RunTimedOut || !r.Deadline.Equal(t0.Add(16*time.Minute)) {
			t.Fatalf("run after fail: %+v", r)
		}
		if ok, _ := rs.Fail(ctx, run.ID, store.RunFailed, store.StepCancelled, "again", store.RunbookEffects{}, t0); ok {
			t.Fatal("failing a run in its on_failure phase again reported a change")
		}
	})
}

func TestRunbookEndCancelsChildren(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		s := storetest.Open(t, b)
		h := &hookLog{}
		rs := s.Runbooks(h.hooks())
		parent := create(t, rs, newRun("manual:p", "", 0))
		child := newRun("call:p", "", 0)
		child.ParentRun, child.ParentStep = parent.ID, "steps[0]"
		c := create(t, rs, child)
		if ok, err := rs.End(ctx, parent.ID, store.RunCancelled, "cancelled by alice", store.RunbookEffects{}, t0); err != nil || !ok {
			t.Fatalf("end: %v %v", ok, err)
		}
		if len(h.cancelled) != 1 || h.cancelled[0] != c.ID {
			t.Fatalf("CancelChild saw %v, want [%d]", h.cancelled, c.ID)
		}
		runs, err := rs.Runs(ctx, store.RunFilter{ParentRun: parent.ID})
		if err != nil || len(runs) != 1 || runs[0].ID != c.ID {
			t.Fatalf("children %v %v", runs, err)
		}
	})
}

// TestRunbookSlotsUnderContention ends running runs and creates new ones
// of one key at once: the limit holds on PostgreSQL too, where these
// transactions run in parallel, and every queued run starts in turn.
func TestRunbookSlotsUnderContention(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		s := storetest.Open(t, b)
		rs := s.Runbooks(store.RunbookHooks{})
		for i := range 6 {
			if _, _, err := rs.Create(ctx, testSource, newRun(fmt.Sprintf("a%d", i), "shared", 2), t0); err != nil {
				t.Fatal(err)
			}
		}
		active := func() []store.RunbookRun {
			t.Helper()
			runs, err := rs.Runs(ctx, store.RunFilter{Statuses: store.ActiveRunStatuses})
			if err != nil {
				t.Fatal(err)
			}
			return runs
		}
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for round := range 4 {
			for _, r := range active() {
				wg.Go(func() {
					if _, err := rs.End(ctx, r.ID, store.RunSucceeded, "", store.RunbookEffects{}, t0); err != nil {
						errs <- err
					}
				})
			}
			for i := range 3 {
				wg.Go(func() {
					if _, _, err := rs.Create(ctx, testSource, newRun(fmt.Sprintf("b%d-%d", round, i), "shared", 2), t0); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			if n := len(active()); n != 2 {
				t.Fatalf("round %d: %d runs active, want the limit, 2", round, n)
			}
		}
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})
}
