package runbooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/strictyaml"
	"github.com/incidentd/incidentd/timers"
)

// This file advances runs: the drive (which starts the steps that can
// start and ends runs and parallel steps whose steps have all ended) and
// the handlers of step, wait, approval, call and run timers.

// startedEffects commit with a run that gets its concurrency slot: its
// first drive, its timeout and the timeline event.
func (e *Engine) startedEffects(run store.RunbookRun) store.RunbookEffects {
	msg := fmt.Sprintf("%s started (%s)", run.Runbook, run.Trigger)
	if run.Actor != "" {
		msg += " by " + run.Actor
	}
	return store.RunbookEffects{
		Timers: []store.Timer{
			e.timer(timerDrive, driveKey(run.ID, "started"), run.StartedAt, payload{Run: run.ID}),
			e.timer(timerRun, runKey(run.ID, "timeout:"+store.PhaseMain), run.Deadline, payload{Run: run.ID, Op: store.PhaseMain}),
		},
		Events: e.event(run, EventRunStarted, msg),
	}
}

// endedEffects commit with a run that ended: the step that called it
// continues.
func (e *Engine) endedEffects(run store.RunbookRun) store.RunbookEffects {
	if run.ParentRun == 0 {
		return store.RunbookEffects{}
	}
	p := payload{Run: run.ParentRun, Step: run.ParentStep, Attempt: 1, Child: run.ID}
	return store.RunbookEffects{Timers: []store.Timer{e.timer(timerChild, childKey(run.ParentRun, run.ParentStep), run.EndedAt, p)}}
}

// cancelChildEffects commit with a run that ended or failed while a run it
// called is active: that run is cancelled too.
func (e *Engine) cancelChildEffects(child store.RunbookRun) store.RunbookEffects {
	return store.RunbookEffects{Timers: []store.Timer{
		e.timer(timerRun, runKey(child.ID, "cancel"), e.clk.Now(), payload{Run: child.ID, Op: "cancel"}),
	}}
}

// end ends run with status and msg (the error, for failures), cancelling
// its pending timers but self (the caller's own timer).
func (e *Engine) end(ctx context.Context, run store.RunbookRun, status store.RunStatus, msg, self string) (bool, error) {
	cancel := []string{}
	for _, k := range []string{runKey(run.ID, "timeout:"+store.PhaseMain), runKey(run.ID, "timeout:"+store.PhaseOnFailure)} {
		if k != self {
			cancel = append(cancel, k)
		}
	}
	text := fmt.Sprintf("%s %s", run.Runbook, status)
	if msg != "" && status != store.RunSucceeded {
		text += ": " + msg
	}
	ok, err := e.runs.End(ctx, run.ID, status, msg, store.RunbookEffects{
		CancelPrefix: runPrefix(run.ID), Cancel: cancel, Events: e.event(run, EventRunFinished, text),
	}, e.clk.Now())
	if ok {
		e.stopInflight(run.ID)
		if e.metrics != nil {
			e.metrics.runs.WithLabelValues(run.Runbook, string(status)).Inc()
		}
		e.log.Info("runbook run ended", "run", run.ID, "runbook", run.Runbook, "status", status, "error", msg)
	}
	return ok, err
}

// fail fails run with msg: into its on_failure steps if it has any and is
// not running them already, else to its end. endStatus is failed or
// timed_out; open steps end with stepStatus.
func (e *Engine) fail(ctx context.Context, run store.RunbookRun, rb *Runbook, endStatus store.RunStatus, stepStatus store.StepStatus, msg, self string) error {
	if run.Phase == store.PhaseOnFailure {
		status := run.EndStatus
		if status == "" {
			status = store.RunFailed
		}
		_, err := e.end(ctx, run, status, run.Error+"; then on_failure: "+msg, self)
		return err
	}
	if len(rb.OnFailure) == 0 {
		_, err := e.end(ctx, run, endStatus, msg, self)
		return err
	}
	now := e.clk.Now()
	var cancel []string
	if k := runKey(run.ID, "timeout:"+store.PhaseMain); k != self {
		cancel = append(cancel, k)
	}
	ok, err := e.runs.Fail(ctx, run.ID, endStatus, stepStatus, msg, store.RunbookEffects{
		CancelPrefix: runPrefix(run.ID), Cancel: cancel,
		Timers: []store.Timer{
			e.timer(timerDrive, driveKey(run.ID, store.PhaseOnFailure), now, payload{Run: run.ID}),
			e.timer(timerRun, runKey(run.ID, "timeout:"+store.PhaseOnFailure), now.Add(run.Timeout), payload{Run: run.ID, Op: store.PhaseOnFailure}),
		},
		Events: e.event(run, EventRunFailing, fmt.Sprintf("%s failed: %s; running its on_failure steps", run.Runbook, msg)),
	}, now)
	if ok {
		e.stopInflight(run.ID)
	}
	return err
}

func (e *Engine) onDrive(ctx context.Context, t timers.Timer) error {
	p, err := decode(t)
	if err != nil {
		return err
	}
	return e.drive(ctx, p.Run, t.Key)
}

// drive looks at a run's steps: it starts those that can start, ends
// parallel steps whose steps have all ended, and ends or fails the run when
// its current phase is over. Every change it makes schedules the next
// drive, so one drive per change is enough, and drives are idempotent.
func (e *Engine) drive(ctx context.Context, runID int64, self string) error {
	run, err := e.runs.Run(ctx, runID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !run.Status.Active() {
		return nil
	}
	if err != nil {
		return err
	}
	rb, err := e.runbookOf(ctx, run)
	if err != nil {
		_, err = e.failBroken(ctx, run, err, self)
		return err
	}
	rows, err := e.runs.Steps(ctx, run.ID)
	if err != nil {
		return err
	}
	w := &walker{rows: map[string]store.RunbookStep{}}
	for _, r := range rows {
		w.rows[r.StepID] = r
	}
	list := rb.Steps
	if run.Phase == store.PhaseOnFailure {
		list = rb.OnFailure
	}
	state, why := w.seq(list)
	for _, f := range w.finished {
		res := StepResult{Attempts: f.row.Attempts}
		status, note := store.StepSucceeded, "its steps ended"
		if f.failed {
			status, note = store.StepFailed, f.why
			res.Error = f.why
		}
		if _, err := e.endStep(ctx, run, rb, f.step, f.row, status, res, note, store.RunbookEffects{}); err != nil {
			return err
		}
	}
	if len(w.finished) > 0 {
		return nil // each end scheduled the next drive
	}
	if len(w.start) > 0 {
		pos := stepPositions(rb)
		now := e.clk.Now()
		var steps []store.RunbookStep
		var eff store.RunbookEffects
		for _, s := range w.start {
			steps = append(steps, store.RunbookStep{RunID: run.ID, StepID: s.ID, Position: pos[s.ID], Name: s.Name, Kind: string(s.Kind), Status: store.StepPending})
			eff.Timers = append(eff.Timers, e.timer(timerStep, stepKey(run.ID, s.ID, 1), now, payload{Run: run.ID, Step: s.ID, Attempt: 1}))
		}
		_, err := e.runs.AddSteps(ctx, run.ID, steps, eff, now)
		return err
	}
	switch state {
	case walkDone:
		status := store.RunSucceeded
		msg := ""
		if run.Phase == store.PhaseOnFailure {
			status, msg = run.EndStatus, run.Error
			if status == "" {
				status = store.RunFailed
			}
		}
		_, err := e.end(ctx, run, status, msg, self)
		return err
	case walkFailed:
		return e.fail(ctx, run, rb, store.RunFailed, store.StepCancelled, why, self)
	}
	return nil
}

// stepPositions numbers a runbook's steps in file order.
func stepPositions(rb *Runbook) map[string]int {
	out := map[string]int{}
	rb.Walk(func(s *Step) { out[s.ID] = len(out) })
	return out
}

type walkState int

const (
	walkRunning walkState = iota
	walkDone
	walkFailed
)

// walker finds what a drive must do from the step rows.
type walker struct {
	rows     map[string]store.RunbookStep
	start    []*Step
	finished []finishedParallel
}

type finishedParallel struct {
	step   *Step
	row    store.RunbookStep
	failed bool
	why    string
}

// seq walks steps that run one after another.
func (w *walker) seq(steps []*Step) (walkState, string) {
	for _, s := range steps {
		if st, why := w.one(s); st != walkDone {
			return st, why
		}
	}
	return walkDone, ""
}

// par walks steps that run together: done when all have ended.
func (w *walker) par(steps []*Step) (walkState, string) {
	state, why := walkDone, ""
	for _, s := range steps {
		switch st, y := w.one(s); st {
		case walkRunning:
			state = walkRunning
		case walkFailed:
			if why == "" {
				why = y
			}
		}
	}
	if state == walkRunning {
		return walkRunning, ""
	}
	if why != "" {
		return walkFailed, why
	}
	return walkDone, ""
}

func (w *walker) one(s *Step) (walkState, string) {
	row, ok := w.rows[s.ID]
	switch {
	case !ok:
		w.start = append(w.start, s)
		return walkRunning, ""
	case row.Status.Ended():
		if failed(row.Status) && !s.ContinueOnError {
			why := fmt.Sprintf("step %s %s", s.Label(), strings.ReplaceAll(string(row.Status), "_", " "))
			if row.Error != "" {
				why += ": " + row.Error
			}
			return walkFailed, why
		}
		return walkDone, ""
	case s.Kind == KindParallel && row.Status == store.StepWaiting:
		if st, why := w.par(s.Parallel); st != walkRunning {
			w.finished = append(w.finished, finishedParallel{step: s, row: row, failed: st == walkFailed, why: why})
		}
	}
	return walkRunning, ""
}

func failed(s store.StepStatus) bool {
	return s == store.StepFailed || s == store.StepTimedOut || s == store.StepRejected || s == store.StepCancelled
}

// loaded is what a step handler works on.
type loaded struct {
	run  store.RunbookRun
	rb   *Runbook
	step *Step
	row  store.RunbookStep
}

// load reads a step of an active run; ok is false when there is nothing
// to do (the run ended, the step is gone).
func (e *Engine) load(ctx context.Context, runID int64, stepID string) (l loaded, ok bool, err error) {
	l.run, err = e.runs.Run(ctx, runID)
	if errors.Is(err, store.ErrNotFound) || err == nil && !l.run.Status.Active() {
		return l, false, nil
	}
	if err != nil {
		return l, false, err
	}
	if l.rb, err = e.runbookOf(ctx, l.run); err != nil {
		_, err = e.failBroken(ctx, l.run, err, "")
		return l, false, err
	}
	if l.step, ok = l.rb.Step(stepID); !ok {
		return l, false, nil
	}
	rows, err := e.runs.Steps(ctx, runID)
	if err != nil {
		return l, false, err
	}
	for _, r := range rows {
		if r.StepID == stepID {
			l.row = r
			return l, true, nil
		}
	}
	return l, false, nil
}

// hasEffects reports whether a step's attempt acts outside incidentd's own
// state, so that an attempt cut short by a crash may have taken effect.
func hasEffects(k Kind) bool {
	switch k {
	case KindWait, KindApprove, KindRunbook, KindParallel:
		return false
	}
	return true
}

func (e *Engine) onStep(ctx context.Context, t timers.Timer) error {
	p, err := decode(t)
	if err != nil {
		return err
	}
	l, ok, err := e.load(ctx, p.Run, p.Step)
	if err != nil || !ok {
		return err
	}
	row := l.row
	switch {
	case row.Status == store.StepPending && p.Attempt == 1 && row.Attempts == 0:
	case row.Status == store.StepRetrying && row.Attempts == p.Attempt-1:
	case row.Status == store.StepRunning && row.Attempts == p.Attempt:
		// The timer fires again: the attempt it started never finished
		// (the process died, or lost the timer's lease).
		if hasEffects(l.step.Kind) {
			return e.interrupted(ctx, l, p.Attempt)
		}
		// Setting up a wait, approval, call or parallel step changes only
		// incidentd's own state: set it up again.
	default:
		return nil // stale: the step moved on
	}
	return e.attempt(ctx, l, p.Attempt)
}

// attemptEntry is one entry of a step's attempt log.
type attemptEntry struct {
	Attempt     int       `json:"attempt"`
	StartedAt   time.Time `json:"started_at"`
	EndedAt     time.Time `json:"ended_at,omitzero"`
	Error       string    `json:"error,omitempty"`
	Interrupted bool      `json:"interrupted,omitempty"`
	// RetryAt is when the next attempt is due.
	RetryAt time.Time `json:"retry_at,omitzero"`
}

func attemptLog(s string) []attemptEntry {
	var out []attemptEntry
	_ = json.Unmarshal([]byte(s), &out) // written by this file; empty if not
	return out
}

func writeLog(l []attemptEntry) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // plain fields always marshal
	return string(b)
}

// closeAttempt records the end of the latest attempt in a log.
func closeAttempt(log string, attempt int, now time.Time, errMsg string, retryAt time.Time) string {
	l := attemptLog(log)
	if n := len(l); n > 0 && l[n-1].Attempt == attempt && l[n-1].EndedAt.IsZero() {
		l[n-1].EndedAt, l[n-1].Error, l[n-1].RetryAt = now, errMsg, retryAt
	}
	return writeLog(l)
}

// attempt runs one attempt of a step: when (first attempt), render, mark
// running, act, record.
func (e *Engine) attempt(ctx context.Context, l loaded, attempt int) error {
	run, rb, s, row := l.run, l.rb, l.step, l.row
	now := e.clk.Now()
	d, err := e.data(ctx, run, rb)
	if err != nil {
		return err
	}
	m := e.masker(rb)
	if row.Status == store.StepPending {
		ok, err := s.ShouldRun(d)
		if err != nil {
			_, err := e.endStep(ctx, run, rb, s, row, store.StepFailed, StepResult{Error: m.Mask("when: " + err.Error())}, "", store.RunbookEffects{})
			return err
		}
		if !ok {
			_, err := e.endStep(ctx, run, rb, s, row, store.StepSkipped, StepResult{}, "when is false", store.RunbookEffects{})
			return err
		}
	}
	r := &Renderer{Secrets: e.secrets(), Masker: m}
	in, renderErr := r.Render(s, d)
	running := row
	running.Status, running.Attempts, running.Error = store.StepRunning, attempt, ""
	if in != nil {
		b, _ := json.Marshal(in.Masked(m)) // plain values always marshal
		running.Input = string(b)
	}
	if running.StartedAt.IsZero() {
		running.StartedAt = now
	}
	if attempt == 1 && s.Timeout > 0 && running.Deadline.IsZero() {
		running.Deadline = now.Add(s.Timeout)
	}
	if row.Status != store.StepRunning {
		running.AttemptLog = writeLog(append(attemptLog(row.AttemptLog), attemptEntry{Attempt: attempt, StartedAt: now}))
	}
	ok, err := e.runs.UpdateStep(ctx, running, store.StepCondition{Statuses: []store.StepStatus{row.Status}, Attempts: row.Attempts}, store.RunbookEffects{}, now)
	if err != nil || !ok {
		return err
	}
	l.row = running
	if renderErr != nil {
		return e.attemptFailed(ctx, l, attempt, StepResult{}, m.MaskError(renderErr), false)
	}
	switch s.Kind {
	case KindWait:
		return e.startWait(ctx, l, d, m)
	case KindApprove:
		return e.startApproval(ctx, l, in, m)
	case KindRunbook:
		return e.startCall(ctx, l, in)
	case KindParallel:
		// The step waits for its steps, which the drive starts.
		next := running
		next.Status = store.StepWaiting
		_, err := e.runs.UpdateStep(ctx, next, store.StepCondition{Statuses: []store.StepStatus{store.StepRunning}, Attempts: attempt},
			store.RunbookEffects{Timers: []store.Timer{e.timer(timerDrive, driveKey(run.ID, s.ID+":started"), now, payload{Run: run.ID})}}, now)
		return err
	}
	// An attempt is bounded by its own timeout, what is left of the step's
	// and of the run's.
	limit := attemptTimeout(s)
	stepLimited := false
	if !running.Deadline.IsZero() {
		if left := running.Deadline.Sub(now); left < limit {
			limit, stepLimited = left, true
		}
	}
	if left := run.Deadline.Sub(now); left < limit {
		limit, stepLimited = left, false
	}
	actx, cancel := context.WithTimeout(ctx, max(limit, 0))
	untrack := e.track(run.ID, cancel)
	res, eff, actErr := e.act(actx, l, in, m, d)
	timedOut := actErr != nil && errors.Is(actx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
	untrack()
	cancel()
	if ctx.Err() != nil {
		// The scheduler stops or lost the timer: the timer fires again
		// and finds the attempt interrupted.
		return ctx.Err()
	}
	if actErr != nil {
		if timedOut {
			actErr = fmt.Errorf("timed out after %s: %w", limit.Round(time.Millisecond), actErr)
		}
		return e.attemptFailed(ctx, l, attempt, res, m.MaskError(actErr), timedOut && stepLimited)
	}
	res.Attempts = attempt
	_, err = e.endStep(ctx, run, rb, s, l.row, store.StepSucceeded, res, "", eff)
	return err
}

// attemptTimeout is how long one attempt of s may take.
func attemptTimeout(s *Step) time.Duration {
	switch {
	case s.HTTP != nil:
		return s.HTTP.Timeout
	case s.Exec != nil:
		return s.Exec.Timeout
	}
	return time.Minute // incident actions: one store transaction
}

// attemptFailed retries the step if its retry allows another attempt
// before the step's and the run's deadlines, else fails it. stepTimeout
// says the step's own timeout ended the attempt.
func (e *Engine) attemptFailed(ctx context.Context, l loaded, attempt int, res StepResult, cause error, stepTimeout bool) error {
	run, s, row := l.run, l.step, l.row
	now := e.clk.Now()
	res.Attempts, res.Error = attempt, cause.Error()
	if s.Retry.More(attempt) && !stepTimeout {
		at := now.Add(s.Retry.Delay(attempt, e.opts.Rand))
		if (row.Deadline.IsZero() || at.Before(row.Deadline)) && at.Before(run.Deadline) {
			next := row
			next.Status, next.Attempts, next.Error = store.StepRetrying, attempt, res.Error
			next.Output = e.output(res)
			next.AttemptLog = closeAttempt(row.AttemptLog, attempt, now, res.Error, at)
			_, err := e.runs.UpdateStep(ctx, next, store.StepCondition{Statuses: []store.StepStatus{store.StepRunning}, Attempts: attempt},
				store.RunbookEffects{Timers: []store.Timer{
					e.timer(timerStep, stepKey(run.ID, s.ID, attempt+1), at, payload{Run: run.ID, Step: s.ID, Attempt: attempt + 1}),
				}}, now)
			return err
		}
	}
	status := store.StepFailed
	if stepTimeout {
		status = store.StepTimedOut
	}
	_, err := e.endStep(ctx, run, l.rb, s, row, status, res, "", store.RunbookEffects{})
	return err
}

// interrupted records that an attempt with effects outside incidentd was
// cut short, and retries it only if the step's retry allows.
func (e *Engine) interrupted(ctx context.Context, l loaded, attempt int) error {
	msg := fmt.Sprintf("attempt %d was interrupted (incidentd stopped, or lost the step, while it ran): it may or may not have taken effect", attempt)
	l.row.AttemptLog = func() string {
		lg := attemptLog(l.row.AttemptLog)
		if n := len(lg); n > 0 && lg[n-1].Attempt == attempt {
			lg[n-1].Interrupted = true
		}
		return writeLog(lg)
	}()
	if !l.step.Retry.More(attempt) {
		msg += fmt.Sprintf("; retry allows no more attempts (%d)", l.step.Retry.Attempts)
	} else {
		msg += "; retried, as its retry allows"
	}
	e.log.Warn("runbook step interrupted", "run", l.run.ID, "step", l.step.ID, "attempt", attempt, "retry", l.step.Retry.More(attempt))
	var res StepResult
	if l.row.Output != "" {
		_ = json.Unmarshal([]byte(l.row.Output), &res)
	}
	return e.attemptFailed(ctx, l, attempt, res, errors.New(msg), false)
}

// output encodes a step result for the store: masked and capped before.
func (e *Engine) output(res StepResult) string {
	b, err := json.Marshal(res)
	if err != nil { // a JSON value from a response always marshals back
		b, _ = json.Marshal(StepResult{Outcome: res.Outcome, OK: res.OK, Error: res.Error, Attempts: res.Attempts})
	}
	return string(b)
}

// outcomeOf maps a final step status to the outcome templates see.
func outcomeOf(s store.StepStatus) string {
	switch s {
	case store.StepSucceeded:
		return OutcomeSucceeded
	case store.StepSkipped:
		return OutcomeSkipped
	case store.StepTimedOut:
		return OutcomeTimedOut
	case store.StepRejected:
		return OutcomeRejected
	}
	return OutcomeFailed
}

// endStep records a step's final status and result (masked), if it is
// still where row says, with its timeline event, the next drive and extra
// effects. note adds to the event's text.
func (e *Engine) endStep(ctx context.Context, run store.RunbookRun, rb *Runbook, s *Step, row store.RunbookStep, status store.StepStatus,
	res StepResult, note string, extra store.RunbookEffects) (bool, error) {
	now := e.clk.Now()
	res.Outcome, res.OK = outcomeOf(status), status == store.StepSucceeded
	if res.Attempts == 0 {
		res.Attempts = row.Attempts
	}
	end := row
	end.Status, end.Error, end.EndedAt = status, res.Error, now
	end.Output = e.output(res)
	if row.Status == store.StepRunning {
		end.AttemptLog = closeAttempt(row.AttemptLog, row.Attempts, now, res.Error, time.Time{})
	}
	text := fmt.Sprintf("step %s %s", s.Label(), strings.ReplaceAll(string(status), "_", " "))
	if res.Attempts > 1 {
		text += fmt.Sprintf(" after %d attempts", res.Attempts)
	}
	switch {
	case note != "":
		text += ": " + note
	case res.Error != "":
		text += ": " + res.Error
	}
	extra.Events = append(extra.Events, e.event(run, EventStepFinished, text)...)
	extra.Timers = append(extra.Timers, e.timer(timerDrive, driveKey(run.ID, fmt.Sprintf("%s:%d:%s", s.ID, row.Attempts, status)), now, payload{Run: run.ID}))
	ok, err := e.runs.UpdateStep(ctx, end, store.StepCondition{Statuses: []store.StepStatus{row.Status}, Attempts: row.Attempts}, extra, now)
	if ok && e.metrics != nil && !row.StartedAt.IsZero() {
		e.metrics.stepDuration.WithLabelValues(rb.Name, string(s.Kind), string(status)).Observe(now.Sub(row.StartedAt).Seconds())
	}
	return ok, err
}

// startWait puts a wait step to waiting: until its duration passes, or
// until its condition holds (checked now, every interval and on every
// change of the incident) or its timeout passes.
func (e *Engine) startWait(ctx context.Context, l loaded, d *Data, m *Masker) error {
	run, s, row := l.run, l.step, l.row
	now := e.clk.Now()
	w := s.Wait
	next := row
	next.Status = store.StepWaiting
	var t store.Timer
	p := payload{Run: run.ID, Step: s.ID, Attempt: row.Attempts}
	if w.Until == nil {
		next.Deadline = now.Add(w.Duration)
		p.Op = "done"
		t = e.timer(timerWait, waitKey(run.ID, s.ID, row.Attempts, "done"), next.Deadline, p)
	} else {
		ok, err := w.Until.Eval(d)
		if err != nil {
			_, err := e.endStep(ctx, run, l.rb, s, row, store.StepFailed, StepResult{Error: m.Mask("until: " + err.Error())}, "", store.RunbookEffects{})
			return err
		}
		if ok {
			_, err := e.endStep(ctx, run, l.rb, s, row, store.StepSucceeded, StepResult{}, "the condition holds", store.RunbookEffects{})
			return err
		}
		next.Deadline = now.Add(w.Timeout)
		p.Op, p.Check = "check", 1
		t = e.timer(timerWait, waitKey(run.ID, s.ID, row.Attempts, "check:1"), minTime(now.Add(w.Interval), next.Deadline), p)
	}
	_, err := e.runs.UpdateStep(ctx, next, store.StepCondition{Statuses: []store.StepStatus{store.StepRunning}, Attempts: row.Attempts},
		store.RunbookEffects{Timers: []store.Timer{t}}, now)
	return err
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (e *Engine) onWait(ctx context.Context, t timers.Timer) error {
	p, err := decode(t)
	if err != nil {
		return err
	}
	l, ok, err := e.load(ctx, p.Run, p.Step)
	if err != nil || !ok || l.row.Status != store.StepWaiting || l.row.Attempts != p.Attempt || l.step.Wait == nil {
		return err
	}
	run, rb, s, row := l.run, l.rb, l.step, l.row
	if p.Op == "done" {
		_, err := e.endStep(ctx, run, rb, s, row, store.StepSucceeded, StepResult{}, "", store.RunbookEffects{})
		return err
	}
	if s.Wait.Until == nil {
		return nil
	}
	d, err := e.data(ctx, run, rb)
	if err != nil {
		return err
	}
	holds, err := s.Wait.Until.Eval(d)
	if err != nil {
		_, err := e.endStep(ctx, run, rb, s, row, store.StepFailed, StepResult{Error: e.masker(rb).Mask("until: " + err.Error())}, "", store.RunbookEffects{})
		return err
	}
	if holds {
		_, err := e.endStep(ctx, run, rb, s, row, store.StepSucceeded, StepResult{}, "the condition holds", store.RunbookEffects{})
		return err
	}
	if p.Op != "check" {
		return nil // an event's check; the periodic checks go on
	}
	now := e.clk.Now()
	if !now.Before(row.Deadline) {
		res := StepResult{Error: fmt.Sprintf("%s did not hold within %s", s.Wait.Until.Source, strictyaml.Duration(s.Wait.Timeout))}
		_, err := e.endStep(ctx, run, rb, s, row, store.StepTimedOut, res, "", store.RunbookEffects{})
		return err
	}
	np := p
	np.Check++
	_, err = e.st.ScheduleTimer(ctx, e.timer(timerWait, waitKey(run.ID, s.ID, row.Attempts, "check:"+strconv.Itoa(np.Check)),
		minTime(now.Add(s.Wait.Interval), row.Deadline), np), now)
	return err
}

// startApproval puts an approve step to awaiting_approval until someone
// answers through Answer or its timeout passes.
func (e *Engine) startApproval(ctx context.Context, l loaded, in *Rendered, m *Masker) error {
	run, s, row := l.run, l.step, l.row
	now := e.clk.Now()
	next := row
	next.Status = store.StepAwaitingApproval
	var eff store.RunbookEffects
	if s.Approve.Timeout > 0 {
		next.Deadline = now.Add(s.Approve.Timeout)
		eff.Timers = append(eff.Timers, e.timer(timerApproval, approvalKey(run.ID, s.ID, row.Attempts), next.Deadline,
			payload{Run: run.ID, Step: s.ID, Attempt: row.Attempts}))
	}
	text := fmt.Sprintf("step %s awaits approval from %s", s.Label(), strings.Join(s.Approve.From, " or "))
	if in != nil && in.Approve != nil && in.Approve.Message != "" {
		text += ": " + m.Mask(in.Approve.Message)
	}
	eff.Events = e.event(run, EventApprovalRequested, text)
	_, err := e.runs.UpdateStep(ctx, next, store.StepCondition{Statuses: []store.StepStatus{store.StepRunning}, Attempts: row.Attempts}, eff, now)
	return err
}

func (e *Engine) onApprovalTimeout(ctx context.Context, t timers.Timer) error {
	p, err := decode(t)
	if err != nil {
		return err
	}
	l, ok, err := e.load(ctx, p.Run, p.Step)
	if err != nil || !ok || l.row.Status != store.StepAwaitingApproval || l.row.Attempts != p.Attempt {
		return err
	}
	res := StepResult{Error: fmt.Sprintf("nobody answered within %s", strictyaml.Duration(l.step.Approve.Timeout))}
	_, err = e.endStep(ctx, l.run, l.rb, l.step, l.row, store.StepTimedOut, res, "", store.RunbookEffects{})
	return err
}

// startCall starts the called runbook as a child run (once per step, by
// key) and puts the step to waiting until the child ends.
func (e *Engine) startCall(ctx context.Context, l loaded, in *Rendered) error {
	run, s, row := l.run, l.step, l.row
	lib := e.Library()
	callee, ok := lib.Set.Get(in.Call.Runbook)
	if !ok {
		return e.attemptFailed(ctx, l, row.Attempts, StepResult{}, fmt.Errorf("runbook %s is not loaded", in.Call.Runbook), false)
	}
	given := map[string]any{}
	for k, v := range in.Call.Inputs {
		given[k] = v
	}
	inputs, err := callee.ResolveInputs(given)
	if err != nil {
		return e.attemptFailed(ctx, l, row.Attempts, StepResult{}, err, false)
	}
	child, _, err := e.create(ctx, lib, callee, newRun{
		trigger: "runbook", incidentID: run.IncidentID, inputs: inputs,
		key: fmt.Sprintf("call:%d:%s", run.ID, s.ID), parentRun: run.ID, parentStep: s.ID,
	})
	if err != nil {
		return err
	}
	next := row
	next.Status = store.StepWaiting
	b, _ := json.Marshal(map[string]any{"runbook": callee.Name, "run": child.ID}) // plain values
	next.Output = string(b)
	_, err = e.runs.UpdateStep(ctx, next, store.StepCondition{Statuses: []store.StepStatus{store.StepRunning}, Attempts: row.Attempts}, store.RunbookEffects{}, e.clk.Now())
	return err
}

// errNotYet asks the scheduler to try a timer again shortly.
var errNotYet = errors.New("the calling step is not waiting yet")

func (e *Engine) onChildDone(ctx context.Context, t timers.Timer) error {
	p, err := decode(t)
	if err != nil {
		return err
	}
	l, ok, err := e.load(ctx, p.Run, p.Step)
	if err != nil || !ok {
		return err
	}
	if l.row.Status == store.StepRunning {
		// The child ended before its parent recorded the call.
		return timers.RetryAt(e.clk.Now().Add(time.Second), errNotYet)
	}
	if l.row.Status != store.StepWaiting || l.step.Runbook == nil {
		return nil
	}
	child, err := e.runs.Run(ctx, p.Child)
	if err != nil || !child.Status.Ended() {
		return err
	}
	res := StepResult{Attempts: l.row.Attempts}
	status := store.StepSucceeded
	note := fmt.Sprintf("run %d of %s %s", child.ID, child.Runbook, child.Status)
	if child.Status != store.RunSucceeded {
		status = store.StepFailed
		res.Error = note
		if child.Error != "" {
			res.Error += ": " + child.Error
		}
		note = ""
	}
	_, err = e.endStep(ctx, l.run, l.rb, l.step, l.row, status, res, note, store.RunbookEffects{})
	return err
}

// onRunTimer handles a run's timeout and the cancellation of a called run.
func (e *Engine) onRunTimer(ctx context.Context, t timers.Timer) error {
	p, err := decode(t)
	if err != nil {
		return err
	}
	run, err := e.runs.Run(ctx, p.Run)
	if errors.Is(err, store.ErrNotFound) || err == nil && run.Status.Ended() {
		return nil
	}
	if err != nil {
		return err
	}
	if p.Op == "cancel" {
		msg := "cancelled: the run that called it ended"
		if parent, err := e.runs.Run(ctx, run.ParentRun); err == nil {
			msg = fmt.Sprintf("cancelled: run %d, which called it, %s", parent.ID, strings.ReplaceAll(string(parent.Status), "_", " "))
		}
		_, err := e.end(ctx, run, store.RunCancelled, msg, t.Key)
		return err
	}
	if run.Status == store.RunQueued || run.Phase != p.Op {
		return nil
	}
	rb, err := e.runbookOf(ctx, run)
	if err != nil {
		_, err = e.failBroken(ctx, run, err, t.Key)
		return err
	}
	msg := fmt.Sprintf("run timed out after %s", strictyaml.Duration(run.Timeout))
	if run.Phase == store.PhaseOnFailure {
		msg = fmt.Sprintf("on_failure steps timed out after %s", strictyaml.Duration(run.Timeout))
	}
	e.stopInflight(run.ID)
	return e.fail(ctx, run, rb, store.RunTimedOut, store.StepTimedOut, msg, t.Key)
}

// data is what a run's templates and expressions see now: the incident as
// it is, the results of the steps that ended, the inputs.
func (e *Engine) data(ctx context.Context, run store.RunbookRun, rb *Runbook) (*Data, error) {
	d, err := e.triggerData(ctx, rb, run)
	if err != nil {
		return nil, err
	}
	rows, err := e.runs.Steps(ctx, run.ID)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if r.Name == "" || r.Output == "" || !r.Status.Ended() && r.Status != store.StepRetrying {
			continue
		}
		var res StepResult
		if json.Unmarshal([]byte(r.Output), &res) == nil {
			d.Steps[r.Name] = res
		}
	}
	if run.Phase == store.PhaseOnFailure {
		d.Error = run.Error
	}
	return d, nil
}

// triggerData is the data of a run without step results: the incident,
// its alerts and CI, inputs and run info.
func (e *Engine) triggerData(ctx context.Context, rb *Runbook, run store.RunbookRun) (*Data, error) {
	d := rb.NewData()
	d.Now = e.clk.Now()
	if run.ID != 0 {
		d.Runbook.RunID = strconv.FormatInt(run.ID, 10)
	}
	d.Runbook.Trigger = run.Trigger
	var text map[string]string
	_ = json.Unmarshal([]byte(run.Inputs), &text) // written by inputText
	given := map[string]any{}
	for k, v := range text {
		given[k] = v
	}
	inputs, err := rb.ResolveInputs(given)
	if err != nil {
		return nil, err
	}
	d.Inputs = inputs
	if run.IncidentID == 0 {
		return d, nil
	}
	inc, err := e.st.Incident(ctx, run.IncidentID)
	if err != nil {
		return nil, err
	}
	alerts, err := e.st.IncidentAlerts(ctx, run.IncidentID)
	if err != nil {
		return nil, err
	}
	e.fillIncident(d, inc, alerts)
	return d, nil
}

// fillIncident puts an incident, its alerts and its CI into d.
func (e *Engine) fillIncident(d *Data, inc *incident.Incident, alerts []*incident.Alert) {
	d.Incident = NewIncident(inc)
	for k, v := range inc.Labels {
		d.Labels[k] = v
	}
	for _, a := range alerts {
		d.Alerts = append(d.Alerts, NewAlert(a))
	}
	d.CI = e.ciOf(inc, alerts)
}

// ciOf is the incident's root-cause CI, else the CI of its first alert
// that has one.
func (e *Engine) ciOf(inc *incident.Incident, alerts []*incident.Alert) CI {
	if e.opts.CI == nil {
		return CI{}
	}
	id := inc.RootCause
	for _, a := range alerts {
		if id != "" {
			break
		}
		id = a.CI
	}
	if id == "" {
		return CI{}
	}
	ci, ok := e.opts.CI(id)
	if !ok {
		return CI{ID: id}
	}
	return NewCI(ci)
}
