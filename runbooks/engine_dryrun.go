package runbooks

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/strictyaml"
)

// Dry-run step statuses.
const (
	DryWouldRun   = "would_run"
	DrySkipped    = "skipped"     // its when is false
	DryFails      = "fails"       // its when or its templates fail, or exec is not allowed
	DryNotReached = "not_reached" // an earlier step failed the run, or the run does not fail (on_failure)
)

// DryStep is a step as a dry run sees it.
type DryStep struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Kind  Kind   `json:"kind"`
	When  string `json:"when,omitempty"`
	State string `json:"state"`
	// Note says what the step would do.
	Note string `json:"note,omitempty"`
	// Input is the rendered input; secret references stay as written.
	Input *Rendered `json:"input,omitempty"`
	Error string    `json:"error,omitempty"`
	// Steps are a parallel step's steps.
	Steps []DryStep `json:"steps,omitempty"`
}

// Label names the step: its name, or its ID.
func (s DryStep) Label() string {
	if s.Name != "" {
		return s.Name
	}
	return s.ID
}

// DryRunResult is what a run would do, step by step.
type DryRunResult struct {
	Runbook   string    `json:"runbook"`
	Trigger   string    `json:"trigger"`
	Steps     []DryStep `json:"steps"`
	OnFailure []DryStep `json:"on_failure,omitempty"`
	// Error is why the run would fail, "" if it would succeed.
	Error string `json:"error,omitempty"`
}

// DryRunOptions add checks that need the daemon's configuration.
type DryRunOptions struct {
	// Exec, if set, checks exec programs against the allowlist, looked up
	// in SearchPath (DefaultSearchPath).
	Exec       *ExecConfig
	SearchPath string
	// Set, if set, checks runbook steps' callees and inputs.
	Set *Set
}

// DryRun walks rb over d without side effects: nothing is sent, run or
// changed, and secrets are not resolved. Each step's when is evaluated and
// its templates rendered; every step that would run is assumed to succeed
// with empty outputs (an approval as approved, a wait as over), so later
// conditions see ok true and zero values. A step that cannot render fails
// the run as it would for real, and on_failure steps are shown with
// .Error set.
func DryRun(rb *Runbook, d *Data, o DryRunOptions) *DryRunResult {
	if o.SearchPath == "" {
		o.SearchPath = DefaultSearchPath
	}
	c := *d.withDefaults()
	c.Runbook.DryRun = true
	c.Runbook.Name, c.Runbook.Description = rb.Name, rb.Description
	steps := map[string]StepResult{}
	for _, n := range rb.StepNames() {
		steps[n] = StepResult{}
	}
	for k, v := range c.Steps {
		steps[k] = v
	}
	c.Steps = steps
	dr := &dryRunner{d: &c, o: o}
	out := &DryRunResult{Runbook: rb.Name, Trigger: c.Runbook.Trigger}
	out.Steps, out.Error = dr.seq(rb.Steps)
	if out.Error == "" {
		for _, s := range rb.OnFailure {
			out.OnFailure = append(out.OnFailure, notReached(s))
		}
		return out
	}
	c.Error = out.Error
	var onFailErr string
	out.OnFailure, onFailErr = dr.seq(rb.OnFailure)
	if onFailErr != "" {
		out.Error += "; then on_failure: " + onFailErr
	}
	return out
}

type dryRunner struct {
	d *Data
	o DryRunOptions
}

func (r *dryRunner) seq(steps []*Step) ([]DryStep, string) {
	var out []DryStep
	for i, s := range steps {
		ds, failure := r.one(s)
		out = append(out, ds)
		if failure != "" {
			for _, rest := range steps[i+1:] {
				out = append(out, notReached(rest))
			}
			return out, failure
		}
	}
	return out, ""
}

func notReached(s *Step) DryStep {
	ds := DryStep{ID: s.ID, Name: s.Name, Kind: s.Kind, State: DryNotReached}
	if s.When != nil {
		ds.When = s.When.Source
	}
	for _, c := range s.Parallel {
		ds.Steps = append(ds.Steps, notReached(c))
	}
	return ds
}

// one dry-runs a step and returns why it fails the run, if it does.
func (r *dryRunner) one(s *Step) (DryStep, string) {
	ds := DryStep{ID: s.ID, Name: s.Name, Kind: s.Kind, State: DryWouldRun}
	fail := func(err error) (DryStep, string) {
		ds.State, ds.Error = DryFails, err.Error()
		r.record(s, StepResult{Outcome: OutcomeFailed, Error: err.Error(), Attempts: 1})
		if s.ContinueOnError {
			ds.Note = "continue_on_error: the run goes on"
			return ds, ""
		}
		return ds, fmt.Sprintf("step %s failed: %s", s.Label(), err)
	}
	if s.When != nil {
		ds.When = s.When.Source
		ok, err := s.When.Eval(r.d)
		if err != nil {
			return fail(fmt.Errorf("when: %w", err))
		}
		if !ok {
			ds.State, ds.Note = DrySkipped, "when is false"
			r.record(s, StepResult{Outcome: OutcomeSkipped})
			return ds, ""
		}
	}
	in, err := (&Renderer{}).Render(s, r.d)
	if err != nil {
		return fail(err)
	}
	if s.Kind != KindParallel {
		ds.Input = in
	}
	res := StepResult{Outcome: OutcomeSucceeded, OK: true, Attempts: 1}
	switch s.Kind {
	case KindHTTP:
		ds.Note = fmt.Sprintf("would send %s %s", in.HTTP.Method, in.HTTP.URL)
	case KindExec:
		ds.Note = "would run " + strings.Join(in.Exec.Command, " ")
		if r.o.Exec != nil {
			path, err := lookPath(in.Exec.Command[0], r.o.SearchPath)
			if err == nil && !r.o.Exec.Allowed(path) {
				err = fmt.Errorf("%s is not allowed: add it to runbooks.exec.allow", path)
			}
			if err != nil {
				return fail(err)
			}
		}
	case KindWait:
		if s.Wait.Until == nil {
			ds.Note = "would wait " + strictyaml.Duration(s.Wait.Duration).String()
			break
		}
		holds, err := s.Wait.Until.Eval(r.d)
		switch {
		case err != nil:
			return fail(fmt.Errorf("until: %w", err))
		case holds:
			ds.Note = fmt.Sprintf("%s holds now: the wait would end at once", s.Wait.Until.Source)
		default:
			ds.Note = fmt.Sprintf("%s does not hold now: would wait for it up to %s (assumed to hold)", s.Wait.Until.Source, strictyaml.Duration(s.Wait.Timeout))
		}
	case KindApprove:
		ds.Note = "would ask " + strings.Join(s.Approve.From, " or ") + " for approval (assumed approved)"
		res.Actor = "(dry run)"
	case KindAnnotate:
		ds.Note = "would add a note to the incident"
	case KindSet:
		ds.Note = "would change the incident"
	case KindAcknowledge, KindResolve, KindEscalate:
		ds.Note = "would " + string(s.Kind) + " the incident"
	case KindNotify:
		ds.Note = "would notify " + strings.Join(in.To, ", ")
	case KindRunbook:
		ds.Note = "would run runbook " + in.Call.Runbook
		if r.o.Set != nil {
			callee, ok := r.o.Set.Get(in.Call.Runbook)
			if !ok {
				return fail(fmt.Errorf("runbook %s is not loaded", in.Call.Runbook))
			}
			given := map[string]any{}
			for k, v := range in.Call.Inputs {
				given[k] = v
			}
			if _, err := callee.ResolveInputs(given); err != nil {
				return fail(err)
			}
		}
	case KindParallel:
		var why string
		for _, c := range s.Parallel {
			cs, f := r.one(c)
			ds.Steps = append(ds.Steps, cs)
			if why == "" {
				why = f
			}
		}
		if why != "" {
			return fail(errors.New(why))
		}
		ds.Note = "would run its steps together"
	}
	r.record(s, res)
	return ds, ""
}

func (r *dryRunner) record(s *Step, res StepResult) {
	if s.Name != "" {
		r.d.Steps[s.Name] = res
	}
}

// DryRunRequest asks what a run would do now.
type DryRunRequest struct {
	Runbook    string
	Inputs     map[string]any
	IncidentID int64
	// Trigger is the event the run would start on; default "manual".
	Trigger string
}

// DryRun shows what a run of a loaded runbook would do now, on an incident
// as it is in the store, with the daemon's exec allowlist. Nothing is
// stored or changed.
func (e *Engine) DryRun(ctx context.Context, req DryRunRequest) (*DryRunResult, error) {
	lib := e.Library()
	rb, ok := lib.Set.Get(req.Runbook)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownRunbook, req.Runbook)
	}
	inputs, err := rb.ResolveInputs(req.Inputs)
	if err != nil {
		return nil, &InputError{"inputs", err.Error()}
	}
	if req.Trigger == "" {
		req.Trigger = string(TriggerManual)
	}
	run := store.RunbookRun{Trigger: req.Trigger, IncidentID: req.IncidentID, Inputs: inputText(rb, inputs)}
	d, err := e.triggerData(ctx, rb, run)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &InputError{"incident", err.Error()}
	}
	if err != nil {
		return nil, err
	}
	exec := e.config().Exec
	return DryRun(rb, d, DryRunOptions{Exec: &exec, SearchPath: e.opts.SearchPath, Set: lib.Set}), nil
}
