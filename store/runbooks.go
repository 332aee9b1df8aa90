package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/incidentd/incidentd/incident"
)

// This file keeps the runs of package runbooks' engine: one row per run,
// one per step it has reached, and the runbook text each run follows. Every
// state change commits together with the timers that continue from it and
// the timeline events that describe it (RunbookEffects), so that a crash
// can leave a run only in a state some timer picks up again.

// RunStatus is where a run is.
type RunStatus string

// Run statuses. Queued runs wait for a concurrency slot; running, waiting
// and awaiting_approval runs are active (they hold a slot); the rest are
// final.
const (
	RunQueued           RunStatus = "queued"
	RunRunning          RunStatus = "running"
	RunWaiting          RunStatus = "waiting"
	RunAwaitingApproval RunStatus = "awaiting_approval"
	RunSucceeded        RunStatus = "succeeded"
	RunFailed           RunStatus = "failed"
	RunCancelled        RunStatus = "cancelled"
	RunTimedOut         RunStatus = "timed_out"
)

// ActiveRunStatuses hold a concurrency slot.
var ActiveRunStatuses = []RunStatus{RunRunning, RunWaiting, RunAwaitingApproval}

// Active reports whether a run in status s holds a concurrency slot.
func (s RunStatus) Active() bool {
	return s == RunRunning || s == RunWaiting || s == RunAwaitingApproval
}

// Ended reports whether s is final.
func (s RunStatus) Ended() bool {
	return s == RunSucceeded || s == RunFailed || s == RunCancelled || s == RunTimedOut
}

// Run phases: the runbook's steps, then, if the run fails, its on_failure
// steps.
const (
	PhaseMain      = "main"
	PhaseOnFailure = "on_failure"
)

// StepStatus is where a step is.
type StepStatus string

// Step statuses. The last six are final.
const (
	StepPending          StepStatus = "pending"  // its timer will run it
	StepRunning          StepStatus = "running"  // an attempt is in flight
	StepRetrying         StepStatus = "retrying" // waiting for its next attempt
	StepWaiting          StepStatus = "waiting"  // a wait, or a called runbook
	StepAwaitingApproval StepStatus = "awaiting_approval"
	StepSucceeded        StepStatus = "succeeded"
	StepFailed           StepStatus = "failed"
	StepSkipped          StepStatus = "skipped"
	StepTimedOut         StepStatus = "timed_out"
	StepRejected         StepStatus = "rejected"
	StepCancelled        StepStatus = "cancelled"
)

// Ended reports whether s is final.
func (s StepStatus) Ended() bool {
	switch s {
	case StepSucceeded, StepFailed, StepSkipped, StepTimedOut, StepRejected, StepCancelled:
		return true
	}
	return false
}

var openStepStatuses = []string{string(StepPending), string(StepRunning), string(StepRetrying), string(StepWaiting), string(StepAwaitingApproval)}

// RunbookSource is the text of one version of a runbook, keyed by its hash.
type RunbookSource struct {
	Hash   string
	Name   string
	File   string
	Source []byte
}

// RunbookRun is one run of a runbook.
type RunbookRun struct {
	ID         int64
	Runbook    string
	SourceHash string
	// Trigger is the event kind that started the run, "schedule",
	// "manual" or "runbook" (called by another run).
	Trigger string
	// TriggerEvent is the id of the event that started it, 0 if none.
	TriggerEvent int64
	// IncidentID is 0 for runs without an incident.
	IncidentID int64
	// ParentRun and ParentStep name the runbook step that called this run.
	ParentRun  int64
	ParentStep string
	// IdempotencyKey is unique: creating a run with a key that exists
	// returns the existing run.
	IdempotencyKey string
	Status         RunStatus
	Phase          string
	// EndStatus is the status a run in its on_failure phase ends with
	// (failed or timed_out).
	EndStatus        RunStatus
	ConcurrencyKey   string
	ConcurrencyLimit int
	// Timeout bounds each phase.
	Timeout time.Duration
	// Inputs is a JSON object of the run's inputs, as text.
	Inputs string
	// Actor started the run (manual runs), "" otherwise.
	Actor string
	// Error says why the run failed (masked).
	Error     string
	CreatedAt time.Time
	StartedAt time.Time
	EndedAt   time.Time
	// Deadline is when the current phase times out.
	Deadline  time.Time
	UpdatedAt time.Time
}

// RunbookStep is the state of one step of a run.
type RunbookStep struct {
	RunID  int64
	StepID string
	// Position orders steps as the runbook lists them.
	Position int
	Name     string
	Kind     string
	Status   StepStatus
	Attempts int
	// Input is the rendered input as JSON, secrets masked.
	Input string
	// Output is the step's result as JSON, secrets masked, size-capped.
	Output string
	Error  string
	// AttemptLog is a JSON list of the attempts made.
	AttemptLog string
	// Deadline is when a wait or approval times out.
	Deadline  time.Time
	StartedAt time.Time
	EndedAt   time.Time
	UpdatedAt time.Time
}

// RunbookEffects commit with a state change: timeline events to record,
// timers to schedule, and pending timers to cancel (by key, and by key
// prefix) before the new ones are scheduled.
type RunbookEffects struct {
	Events       []incident.Event
	Timers       []Timer
	Cancel       []string
	CancelPrefix string
}

// RunbookHooks are the effects the store commits on the engine's behalf
// when a change reaches further than the row the engine names: a queued
// run that gets a concurrency slot, and the children of a run that ends.
type RunbookHooks struct {
	// Started gives the effects of a queued run that starts.
	Started func(run RunbookRun) RunbookEffects
	// Ended gives the effects of a run that ended (its parent's step
	// continues).
	Ended func(run RunbookRun) RunbookEffects
	// CancelChild gives the effects that cancel an active run called by a
	// run that ended.
	CancelChild func(child RunbookRun) RunbookEffects
}

// RunbookStore keeps runbook runs. Get one with Store.Runbooks.
type RunbookStore struct {
	s     *Store
	hooks RunbookHooks
}

// Runbooks returns the runbook run store, committing hooks' effects.
func (s *Store) Runbooks(hooks RunbookHooks) *RunbookStore {
	return &RunbookStore{s: s, hooks: hooks}
}

const runColumns = "id, runbook, source_hash, trigger_kind, trigger_event, incident_id, parent_run, parent_step, idempotency_key, status, phase, end_status, concurrency_key, concurrency_limit, timeout_us, inputs, actor, error, created_at, started_at, ended_at, deadline, updated_at"

type runRow struct {
	ID               int64         `db:"id"`
	Runbook          string        `db:"runbook"`
	SourceHash       string        `db:"source_hash"`
	Trigger          string        `db:"trigger_kind"`
	TriggerEvent     int64         `db:"trigger_event"`
	IncidentID       sql.NullInt64 `db:"incident_id"`
	ParentRun        int64         `db:"parent_run"`
	ParentStep       string        `db:"parent_step"`
	IdempotencyKey   string        `db:"idempotency_key"`
	Status           string        `db:"status"`
	Phase            string        `db:"phase"`
	EndStatus        string        `db:"end_status"`
	ConcurrencyKey   string        `db:"concurrency_key"`
	ConcurrencyLimit int           `db:"concurrency_limit"`
	TimeoutUS        int64         `db:"timeout_us"`
	Inputs           string        `db:"inputs"`
	Actor            string        `db:"actor"`
	Error            string        `db:"error"`
	CreatedAt        int64         `db:"created_at"`
	StartedAt        int64         `db:"started_at"`
	EndedAt          int64         `db:"ended_at"`
	Deadline         int64         `db:"deadline"`
	UpdatedAt        int64         `db:"updated_at"`
}

func (r *runRow) run() RunbookRun {
	return RunbookRun{
		ID: r.ID, Runbook: r.Runbook, SourceHash: r.SourceHash, Trigger: r.Trigger, TriggerEvent: r.TriggerEvent,
		IncidentID: r.IncidentID.Int64, ParentRun: r.ParentRun, ParentStep: r.ParentStep, IdempotencyKey: r.IdempotencyKey,
		Status: RunStatus(r.Status), Phase: r.Phase, EndStatus: RunStatus(r.EndStatus), ConcurrencyKey: r.ConcurrencyKey,
		ConcurrencyLimit: r.ConcurrencyLimit, Timeout: time.Duration(r.TimeoutUS) * time.Microsecond, Inputs: r.Inputs,
		Actor: r.Actor, Error: r.Error, CreatedAt: fromMicro(r.CreatedAt), StartedAt: fromMicro(r.StartedAt),
		EndedAt: fromMicro(r.EndedAt), Deadline: fromMicro(r.Deadline), UpdatedAt: fromMicro(r.UpdatedAt),
	}
}

const stepColumns = "run_id, step_id, position, name, kind, status, attempts, input, output, error, attempt_log, deadline, started_at, ended_at, updated_at"

type stepRow struct {
	RunID      int64  `db:"run_id"`
	StepID     string `db:"step_id"`
	Position   int    `db:"position"`
	Name       string `db:"name"`
	Kind       string `db:"kind"`
	Status     string `db:"status"`
	Attempts   int    `db:"attempts"`
	Input      string `db:"input"`
	Output     string `db:"output"`
	Error      string `db:"error"`
	AttemptLog string `db:"attempt_log"`
	Deadline   int64  `db:"deadline"`
	StartedAt  int64  `db:"started_at"`
	EndedAt    int64  `db:"ended_at"`
	UpdatedAt  int64  `db:"updated_at"`
}

func (r *stepRow) step() RunbookStep {
	return RunbookStep{
		RunID: r.RunID, StepID: r.StepID, Position: r.Position, Name: r.Name, Kind: r.Kind, Status: StepStatus(r.Status),
		Attempts: r.Attempts, Input: r.Input, Output: r.Output, Error: r.Error, AttemptLog: r.AttemptLog,
		Deadline: fromMicro(r.Deadline), StartedAt: fromMicro(r.StartedAt), EndedAt: fromMicro(r.EndedAt), UpdatedAt: fromMicro(r.UpdatedAt),
	}
}

// inTx runs fn in a transaction and wakes outbox consumers if it wrote
// events.
func (rs *RunbookStore) inTx(ctx context.Context, fn func(tx *sqlx.Tx) (events bool, err error)) error {
	var wrote bool
	err := rs.s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		wrote, err = fn(tx)
		return err
	})
	if err == nil && wrote {
		rs.s.committed()
	}
	return err
}

// apply commits effects in tx: cancellations first, then timers and events.
func (rs *RunbookStore) apply(ctx context.Context, tx *sqlx.Tx, e RunbookEffects, now time.Time) (events bool, err error) {
	if e.CancelPrefix != "" {
		if _, err := rs.s.CancelTimersTx(ctx, tx, e.CancelPrefix, now); err != nil {
			return false, err
		}
	}
	for _, k := range e.Cancel {
		if _, err := rs.s.CancelTimerTx(ctx, tx, k, now); err != nil {
			return false, err
		}
	}
	for _, t := range e.Timers {
		if _, err := rs.s.ScheduleTimerTx(ctx, tx, t, now); err != nil {
			return false, err
		}
	}
	for i := range e.Events {
		e.Events[i].At = truncate(e.Events[i].At)
	}
	if err := rs.s.RecordEventsTx(ctx, tx, e.Events); err != nil {
		return false, err
	}
	return len(e.Events) > 0, nil
}

// Create stores a queued run of the runbook version src and, if a
// concurrency slot is free, starts it (the Started hook's effects commit
// with it). If a run with its idempotency key exists, Create changes
// nothing and returns that run with created false.
func (rs *RunbookStore) Create(ctx context.Context, src RunbookSource, run RunbookRun, now time.Time) (RunbookRun, bool, error) {
	now = truncate(now)
	var out RunbookRun
	var created bool
	err := rs.inTx(ctx, func(tx *sqlx.Tx) (bool, error) {
		existing, err := rs.byKey(ctx, tx, run.IdempotencyKey)
		if err == nil {
			out = existing
			return false, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, rs.s.db.Rebind(`INSERT INTO runbook_sources (hash, name, file, source, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (hash) DO NOTHING`), src.Hash, src.Name, src.File, string(src.Source), micro(now)); err != nil {
			return false, fmt.Errorf("store runbook source: %w", err)
		}
		id, err := rs.s.allocate(ctx, tx, "runbook_run", 1)
		if err != nil {
			return false, err
		}
		if run.Inputs == "" {
			run.Inputs = "{}"
		}
		if run.Phase == "" {
			run.Phase = PhaseMain
		}
		res, err := tx.ExecContext(ctx, rs.s.db.Rebind(`INSERT INTO runbook_runs (id, runbook, source_hash, trigger_kind, trigger_event,
			incident_id, parent_run, parent_step, idempotency_key, status, phase, concurrency_key, concurrency_limit, timeout_us,
			inputs, actor, created_at, updated_at) VALUES (`+placeholders(18)+`) ON CONFLICT (idempotency_key) DO NOTHING`),
			id, run.Runbook, src.Hash, run.Trigger, run.TriggerEvent, nullIfZero(run.IncidentID), run.ParentRun, run.ParentStep,
			run.IdempotencyKey, string(RunQueued), run.Phase, run.ConcurrencyKey, run.ConcurrencyLimit, run.Timeout.Microseconds(),
			run.Inputs, run.Actor, micro(now), micro(now))
		if err != nil {
			return false, fmt.Errorf("create run: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			// Another transaction created it meanwhile (PostgreSQL).
			if err == nil {
				out, err = rs.byKey(ctx, tx, run.IdempotencyKey)
			}
			return false, err
		}
		created = true
		wrote, err := rs.fillSlots(ctx, tx, run.Runbook, run.ConcurrencyKey, now)
		if err != nil {
			return false, err
		}
		out, err = rs.get(ctx, tx, id, "")
		return wrote, err
	})
	return out, created, err
}

// lockSlots serialises starting and ending runs that share a concurrency
// key, on PostgreSQL (SQLite has one writer at a time). The two-key form
// keeps these locks apart from the outbox lock.
func (rs *RunbookStore) lockSlots(ctx context.Context, tx *sqlx.Tx, runbook, key string) error {
	if rs.s.backend != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1, hashtext($2))", int32(0x72756e62), runbook+"\x1f"+key)
	return err
}

// fillSlots starts the oldest queued runs of runbook with concurrency key
// while their limit allows, committing the Started hook's effects for each.
func (rs *RunbookStore) fillSlots(ctx context.Context, tx *sqlx.Tx, runbook, key string, now time.Time) (bool, error) {
	if err := rs.lockSlots(ctx, tx, runbook, key); err != nil {
		return false, err
	}
	var queued []runRow
	if err := tx.SelectContext(ctx, &queued, rs.s.db.Rebind("SELECT "+runColumns+" FROM runbook_runs WHERE runbook = ? AND concurrency_key = ? AND status = ? ORDER BY id LIMIT 100"),
		runbook, key, string(RunQueued)); err != nil {
		return false, err
	}
	wrote := false
	for _, q := range queued {
		run := q.run()
		if run.ConcurrencyLimit > 0 {
			var active int
			if err := tx.GetContext(ctx, &active, rs.s.db.Rebind("SELECT COUNT(*) FROM runbook_runs WHERE runbook = ? AND concurrency_key = ? AND status IN (?, ?, ?)"),
				runbook, key, string(RunRunning), string(RunWaiting), string(RunAwaitingApproval)); err != nil {
				return false, err
			}
			if active >= run.ConcurrencyLimit {
				break // first in, first out: later runs wait too
			}
		}
		run.Status, run.StartedAt, run.Deadline, run.UpdatedAt = RunRunning, now, now.Add(run.Timeout), now
		res, err := tx.ExecContext(ctx, rs.s.db.Rebind("UPDATE runbook_runs SET status = ?, started_at = ?, deadline = ?, updated_at = ? WHERE id = ? AND status = ?"),
			string(RunRunning), micro(now), micro(run.Deadline), micro(now), run.ID, string(RunQueued))
		if err != nil {
			return false, err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return false, err
			}
			continue // started or ended meanwhile
		}
		if rs.hooks.Started != nil {
			w, err := rs.apply(ctx, tx, rs.hooks.Started(run), now)
			if err != nil {
				return false, err
			}
			wrote = wrote || w
		}
	}
	return wrote, nil
}

func (rs *RunbookStore) byKey(ctx context.Context, q sqlx.QueryerContext, key string) (RunbookRun, error) {
	var row runRow
	err := sqlx.GetContext(ctx, q, &row, rs.s.db.Rebind("SELECT "+runColumns+" FROM runbook_runs WHERE idempotency_key = ?"), key)
	if errors.Is(err, sql.ErrNoRows) {
		return RunbookRun{}, ErrNotFound
	}
	return row.run(), err
}

func (rs *RunbookStore) get(ctx context.Context, q sqlx.QueryerContext, id int64, suffix string) (RunbookRun, error) {
	var row runRow
	err := sqlx.GetContext(ctx, q, &row, rs.s.db.Rebind("SELECT "+runColumns+" FROM runbook_runs WHERE id = ?"+suffix), id)
	if errors.Is(err, sql.ErrNoRows) {
		return RunbookRun{}, fmt.Errorf("run %d: %w", id, ErrNotFound)
	}
	return row.run(), err
}

// Run returns one run, or ErrNotFound.
func (rs *RunbookStore) Run(ctx context.Context, id int64) (RunbookRun, error) {
	return rs.get(ctx, rs.s.db, id, "")
}

// RunByKey returns the run with an idempotency key, or ErrNotFound.
func (rs *RunbookStore) RunByKey(ctx context.Context, key string) (RunbookRun, error) {
	return rs.byKey(ctx, rs.s.db, key)
}

// RunFilter selects runs, newest first.
type RunFilter struct {
	IncidentID int64
	Runbook    string
	Statuses   []RunStatus
	ParentRun  int64
	// Before returns runs with an id below it (pagination).
	Before int64
	// Limit caps the result; 0 means 100.
	Limit int
}

// Runs lists runs matching f, newest first.
func (rs *RunbookStore) Runs(ctx context.Context, f RunFilter) ([]RunbookRun, error) {
	var conds []string
	var args []any
	if f.IncidentID != 0 {
		conds, args = append(conds, "incident_id = ?"), append(args, f.IncidentID)
	}
	if f.Runbook != "" {
		conds, args = append(conds, "runbook = ?"), append(args, f.Runbook)
	}
	if f.ParentRun != 0 {
		conds, args = append(conds, "parent_run = ?"), append(args, f.ParentRun)
	}
	if len(f.Statuses) > 0 {
		conds = append(conds, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, s := range f.Statuses {
			args = append(args, string(s))
		}
	}
	if f.Before > 0 {
		conds, args = append(conds, "id < ?"), append(args, f.Before)
	}
	if f.Limit <= 0 {
		f.Limit = 100
	}
	q := "SELECT " + runColumns + " FROM runbook_runs"
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	var rows []runRow
	if err := rs.s.db.SelectContext(ctx, &rows, rs.s.db.Rebind(q+" ORDER BY id DESC LIMIT ?"), append(args, f.Limit)...); err != nil {
		return nil, err
	}
	out := make([]RunbookRun, len(rows))
	for i := range rows {
		out[i] = rows[i].run()
	}
	return out, nil
}

// Source returns the runbook text a run follows.
func (rs *RunbookStore) Source(ctx context.Context, hash string) (RunbookSource, error) {
	var row struct {
		Hash   string `db:"hash"`
		Name   string `db:"name"`
		File   string `db:"file"`
		Source string `db:"source"`
	}
	err := rs.s.db.GetContext(ctx, &row, rs.s.db.Rebind("SELECT hash, name, file, source FROM runbook_sources WHERE hash = ?"), hash)
	if errors.Is(err, sql.ErrNoRows) {
		return RunbookSource{}, fmt.Errorf("runbook source %s: %w", hash, ErrNotFound)
	}
	if err != nil {
		return RunbookSource{}, err
	}
	return RunbookSource{Hash: row.Hash, Name: row.Name, File: row.File, Source: []byte(row.Source)}, nil
}

// Steps returns the step rows of a run, in runbook order.
func (rs *RunbookStore) Steps(ctx context.Context, runID int64) ([]RunbookStep, error) {
	var rows []stepRow
	if err := rs.s.db.SelectContext(ctx, &rows, rs.s.db.Rebind("SELECT "+stepColumns+" FROM runbook_steps WHERE run_id = ? ORDER BY position"), runID); err != nil {
		return nil, err
	}
	out := make([]RunbookStep, len(rows))
	for i := range rows {
		out[i] = rows[i].step()
	}
	return out, nil
}

// AddSteps creates the step rows that do not exist yet (existing ones are
// left as they are) and commits effects, if the run is active.
func (rs *RunbookStore) AddSteps(ctx context.Context, runID int64, steps []RunbookStep, e RunbookEffects, now time.Time) (bool, error) {
	now = truncate(now)
	var ok bool
	err := rs.inTx(ctx, func(tx *sqlx.Tx) (bool, error) {
		run, err := rs.get(ctx, tx, runID, rs.s.forUpdate)
		if err != nil || !run.Status.Active() {
			return false, err
		}
		for _, st := range steps {
			if st.AttemptLog == "" {
				st.AttemptLog = "[]"
			}
			if _, err := tx.ExecContext(ctx, rs.s.db.Rebind(`INSERT INTO runbook_steps (run_id, step_id, position, name, kind, status, attempt_log, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (run_id, step_id) DO NOTHING`),
				runID, st.StepID, st.Position, st.Name, st.Kind, string(st.Status), st.AttemptLog, micro(now)); err != nil {
				return false, fmt.Errorf("add step %s: %w", st.StepID, err)
			}
		}
		ok = true
		wrote, err := rs.apply(ctx, tx, e, now)
		if err != nil {
			return false, err
		}
		return wrote, rs.refreshStatus(ctx, tx, runID, now)
	})
	return ok, err
}

// StepCondition is what a step row must hold for UpdateStep to change it.
type StepCondition struct {
	// Statuses: the row's status is one of these.
	Statuses []StepStatus
	// Attempts: the row's attempts equal it, unless it is negative.
	Attempts int
}

// UpdateStep writes st's state (status, attempts, input, output, error,
// attempt log, deadline, started and ended times) if the row exists and
// meets cond, commits effects with it, and reports whether it did. The
// run's status follows its steps: awaiting_approval while a step awaits
// approval, else running while one runs, else waiting while one waits.
func (rs *RunbookStore) UpdateStep(ctx context.Context, st RunbookStep, cond StepCondition, e RunbookEffects, now time.Time) (bool, error) {
	now = truncate(now)
	var ok bool
	err := rs.inTx(ctx, func(tx *sqlx.Tx) (bool, error) {
		// Lock the run first, as End and Fail do, so that the two cannot
		// deadlock over the run's and the step's rows.
		if _, err := rs.get(ctx, tx, st.RunID, rs.s.forUpdate); err != nil {
			return false, err
		}
		q := `UPDATE runbook_steps SET status = ?, attempts = ?, input = ?, output = ?, error = ?, attempt_log = ?, deadline = ?,
			started_at = ?, ended_at = ?, updated_at = ? WHERE run_id = ? AND step_id = ?`
		args := []any{string(st.Status), st.Attempts, st.Input, st.Output, st.Error, orEmptyList(st.AttemptLog), micro(st.Deadline),
			micro(st.StartedAt), micro(st.EndedAt), micro(now), st.RunID, st.StepID}
		if len(cond.Statuses) > 0 {
			q += " AND status IN (" + placeholders(len(cond.Statuses)) + ")"
			for _, s := range cond.Statuses {
				args = append(args, string(s))
			}
		}
		if cond.Attempts >= 0 {
			q += " AND attempts = ?"
			args = append(args, cond.Attempts)
		}
		res, err := tx.ExecContext(ctx, rs.s.db.Rebind(q), args...)
		if err != nil {
			return false, fmt.Errorf("update step %s: %w", st.StepID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return false, err
		}
		ok = true
		wrote, err := rs.apply(ctx, tx, e, now)
		if err != nil {
			return false, err
		}
		return wrote, rs.refreshStatus(ctx, tx, st.RunID, now)
	})
	return ok, err
}

func orEmptyList(s string) string {
	if s == "" {
		return "[]"
	}
	return s
}

// refreshStatus sets an active run's status from its open steps.
func (rs *RunbookStore) refreshStatus(ctx context.Context, tx *sqlx.Tx, runID int64, now time.Time) error {
	_, err := tx.ExecContext(ctx, rs.s.db.Rebind(`UPDATE runbook_runs SET updated_at = ?, status = CASE
		WHEN EXISTS (SELECT 1 FROM runbook_steps WHERE run_id = ? AND status = ?) THEN ?
		WHEN EXISTS (SELECT 1 FROM runbook_steps WHERE run_id = ? AND status IN (?, ?, ?)) THEN ?
		WHEN EXISTS (SELECT 1 FROM runbook_steps WHERE run_id = ? AND status = ?) THEN ?
		ELSE ? END
		WHERE id = ? AND status IN (?, ?, ?)`),
		micro(now),
		runID, string(StepAwaitingApproval), string(RunAwaitingApproval),
		runID, string(StepPending), string(StepRunning), string(StepRetrying), string(RunRunning),
		runID, string(StepWaiting), string(RunWaiting),
		string(RunRunning),
		runID, string(RunRunning), string(RunWaiting), string(RunAwaitingApproval))
	return err
}

// closeSteps ends every open step of a run with status.
func (rs *RunbookStore) closeSteps(ctx context.Context, tx *sqlx.Tx, runID int64, status StepStatus, msg string, now time.Time) error {
	_, err := tx.ExecContext(ctx, rs.s.db.Rebind(`UPDATE runbook_steps SET status = ?, error = CASE WHEN error = '' THEN ? ELSE error END,
		ended_at = ?, updated_at = ? WHERE run_id = ? AND status IN (`+placeholders(len(openStepStatuses))+`)`),
		append([]any{string(status), msg, micro(now), micro(now), runID}, anys(openStepStatuses)...)...)
	return err
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// Fail moves an active run in its main phase to its on_failure phase: the
// error is recorded, open steps end with stepStatus, the phase gets a new
// deadline (now + the run's timeout), and endStatus is what the run ends
// with once its on_failure steps are done. Active runs it called are
// cancelled (CancelChild hook). It reports false if the run is not active
// or already failing.
func (rs *RunbookStore) Fail(ctx context.Context, id int64, endStatus RunStatus, stepStatus StepStatus, msg string, e RunbookEffects, now time.Time) (bool, error) {
	now = truncate(now)
	var ok bool
	err := rs.inTx(ctx, func(tx *sqlx.Tx) (bool, error) {
		run, err := rs.get(ctx, tx, id, rs.s.forUpdate)
		if err != nil || !run.Status.Active() || run.Phase != PhaseMain {
			return false, err
		}
		if err := rs.closeSteps(ctx, tx, id, stepStatus, msg, now); err != nil {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, rs.s.db.Rebind(`UPDATE runbook_runs SET phase = ?, end_status = ?, error = ?, deadline = ?, status = ?, updated_at = ?
			WHERE id = ?`), PhaseOnFailure, string(endStatus), msg, micro(now.Add(run.Timeout)), string(RunRunning), micro(now), id); err != nil {
			return false, err
		}
		ok = true
		wrote, err := rs.apply(ctx, tx, e, now)
		if err != nil {
			return false, err
		}
		w, err := rs.cancelChildren(ctx, tx, id, now)
		return wrote || w, err
	})
	return ok, err
}

// End ends an active (or queued) run with status: open steps are
// cancelled, effects commit, runs it called are cancelled (CancelChild),
// the Ended hook's effects commit, and queued runs that share its
// concurrency key start if the slot it held lets them. A non-empty msg
// replaces the run's error. It reports false if the run had ended.
func (rs *RunbookStore) End(ctx context.Context, id int64, status RunStatus, msg string, e RunbookEffects, now time.Time) (bool, error) {
	if !status.Ended() {
		return false, fmt.Errorf("end run %d: %q is not a final status", id, status)
	}
	now = truncate(now)
	var ok bool
	err := rs.inTx(ctx, func(tx *sqlx.Tx) (bool, error) {
		run, err := rs.get(ctx, tx, id, rs.s.forUpdate)
		if err != nil || run.Status.Ended() {
			return false, err
		}
		if err := rs.lockSlots(ctx, tx, run.Runbook, run.ConcurrencyKey); err != nil {
			return false, err
		}
		if err := rs.closeSteps(ctx, tx, id, StepCancelled, "", now); err != nil {
			return false, err
		}
		if msg == "" {
			msg = run.Error
		}
		if _, err := tx.ExecContext(ctx, rs.s.db.Rebind("UPDATE runbook_runs SET status = ?, error = ?, ended_at = ?, updated_at = ? WHERE id = ?"),
			string(status), msg, micro(now), micro(now), id); err != nil {
			return false, err
		}
		ok = true
		run.Status, run.Error, run.EndedAt, run.UpdatedAt = status, msg, now, now
		wrote, err := rs.apply(ctx, tx, e, now)
		if err != nil {
			return false, err
		}
		if rs.hooks.Ended != nil {
			w, err := rs.apply(ctx, tx, rs.hooks.Ended(run), now)
			if err != nil {
				return false, err
			}
			wrote = wrote || w
		}
		w, err := rs.cancelChildren(ctx, tx, id, now)
		if err != nil {
			return false, err
		}
		w2, err := rs.fillSlots(ctx, tx, run.Runbook, run.ConcurrencyKey, now)
		return wrote || w || w2, err
	})
	return ok, err
}

func (rs *RunbookStore) cancelChildren(ctx context.Context, tx *sqlx.Tx, id int64, now time.Time) (bool, error) {
	if rs.hooks.CancelChild == nil {
		return false, nil
	}
	var rows []runRow
	if err := tx.SelectContext(ctx, &rows, rs.s.db.Rebind("SELECT "+runColumns+" FROM runbook_runs WHERE parent_run = ? AND status IN (?, ?, ?, ?)"),
		id, string(RunQueued), string(RunRunning), string(RunWaiting), string(RunAwaitingApproval)); err != nil {
		return false, err
	}
	wrote := false
	for _, r := range rows {
		w, err := rs.apply(ctx, tx, rs.hooks.CancelChild(r.run()), now)
		if err != nil {
			return false, err
		}
		wrote = wrote || w
	}
	return wrote, nil
}

// RunStep is a step row with its run.
type RunStep struct {
	Run  RunbookRun
	Step RunbookStep
}

// OpenSteps lists the steps of active runs on an incident (0: every
// incident) whose kind and status are the given ones, oldest run first.
func (rs *RunbookStore) OpenSteps(ctx context.Context, incidentID int64, kind string, status StepStatus) ([]RunStep, error) {
	q := "SELECT " + prefixed("r.", runColumns) + ", " + prefixed("s.", stepColumns) + ` FROM runbook_steps s JOIN runbook_runs r ON r.id = s.run_id
		WHERE s.kind = ? AND s.status = ? AND r.status IN (?, ?, ?)`
	args := []any{kind, string(status), string(RunRunning), string(RunWaiting), string(RunAwaitingApproval)}
	if incidentID != 0 {
		q += " AND r.incident_id = ?"
		args = append(args, incidentID)
	}
	rows, err := rs.s.db.QueryxContext(ctx, rs.s.db.Rebind(q+" ORDER BY r.id, s.position"), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RunStep
	for rows.Next() {
		var r runRow
		var s stepRow
		if err := rows.Scan(&r.ID, &r.Runbook, &r.SourceHash, &r.Trigger, &r.TriggerEvent, &r.IncidentID, &r.ParentRun, &r.ParentStep,
			&r.IdempotencyKey, &r.Status, &r.Phase, &r.EndStatus, &r.ConcurrencyKey, &r.ConcurrencyLimit, &r.TimeoutUS, &r.Inputs,
			&r.Actor, &r.Error, &r.CreatedAt, &r.StartedAt, &r.EndedAt, &r.Deadline, &r.UpdatedAt,
			&s.RunID, &s.StepID, &s.Position, &s.Name, &s.Kind, &s.Status, &s.Attempts, &s.Input, &s.Output, &s.Error,
			&s.AttemptLog, &s.Deadline, &s.StartedAt, &s.EndedAt, &s.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, RunStep{Run: r.run(), Step: s.step()})
	}
	return out, rows.Err()
}

func prefixed(p, columns string) string {
	cols := strings.Split(columns, ", ")
	for i, c := range cols {
		cols[i] = p + c
	}
	return strings.Join(cols, ", ")
}

// CountSteps counts the steps of active runs in status.
func (rs *RunbookStore) CountSteps(ctx context.Context, status StepStatus) (int, error) {
	var n int
	err := rs.s.db.GetContext(ctx, &n, rs.s.db.Rebind(`SELECT COUNT(*) FROM runbook_steps s JOIN runbook_runs r ON r.id = s.run_id
		WHERE s.status = ? AND r.status IN (?, ?, ?)`), string(status), string(RunRunning), string(RunWaiting), string(RunAwaitingApproval))
	return n, err
}
