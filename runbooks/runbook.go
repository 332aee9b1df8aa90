// Package runbooks defines incidentd's runbook format: the model, the strict
// loader with file:line:column errors, the templates that render step inputs,
// the `when`/`until` expressions, secret references and their masking, and
// the retry arithmetic; and, in the engine*.go files, the durable engine
// that starts runs from timeline events, cron ticks and requests, persists
// every step and resumes runs from timers after a restart.
//
// A loaded Runbook is immutable and safe for concurrent use. docs/runbooks.md
// is the format reference.
//
// The engine (and the CLI's dry run) use the format like this:
//
//	set, errs := runbooks.LoadFiles(cfg.Files)  // start and reload: swap the *Set whole
//	lset := runbooks.MatchLabels(inc.Labels, runbooks.NewIncident(inc), runbooks.NewCI(ci))
//	for _, rb := range set.ForEvent(event.Kind, lset) { /* start a run */ }
//	next := trigger.Next(now)                   // schedule triggers; key a tick by runbook, trigger.Index and tick
//	inputs, err := rb.ResolveInputs(given)      // manual runs and runbook calls
//
//	d := rb.NewData()                           // then fill Incident, Alerts, Labels, CI, Inputs, Runbook.RunID/Trigger, Now
//	key, err := rb.ConcurrencyKey(d)
//	r := &runbooks.Renderer{Secrets: runbooks.EnvSecrets{Dir: cfg.SecretsDir}, Masker: runbooks.NewMasker()}
//	for _, s := range rb.Steps {
//		run, err := s.ShouldRun(d)
//		in, err := r.Render(s, d)               // execute in; store and show only in.Masked(r.Masker)
//		// exec: cfg.Exec.Allowed(path from exec.LookPath(in.Exec.Command[0])), env in.Exec.Environ(PATH)
//		// wait: s.Wait.Until.Eval(d) on incident changes and every s.Wait.Interval
//		// failed attempt n: if s.Retry.More(n) sleep s.Retry.Delay(n, rand.Float64)
//		d.Steps[s.Name] = result                // outputs masked with r.Masker and size-capped
//	}
package runbooks

import (
	"slices"
	"time"

	"github.com/incidentd/incidentd/incident"
)

// DefaultTimeout bounds a run whose runbook sets no timeout: every run has
// one.
const DefaultTimeout = time.Hour

// Runbook is one loaded, validated runbook.
type Runbook struct {
	Name        string
	Description string
	// File is the file it was loaded from (or the name given to Parse).
	File     string
	Triggers []*Trigger
	// Concurrency is nil when runs are not limited.
	Concurrency *Concurrency
	// Timeout bounds the whole run, on_failure steps excepted.
	Timeout time.Duration
	// Inputs are the typed parameters of manual runs and runbook calls, in
	// file order.
	Inputs    []*Input
	Steps     []*Step
	OnFailure []*Step
	// Warnings are non-fatal findings, for `incidentctl runbook validate`.
	Warnings []Diagnostic

	pos positions
}

// Concurrency limits how many runs that render the same Key run at once.
type Concurrency struct {
	// Key renders with the trigger's Data (no step results); runs whose keys
	// render alike share Limit. A key that renders "" is one shared key.
	Key   *Text
	Limit int
}

// Kind is a step's action.
type Kind string

// Step actions. A step has exactly one.
const (
	KindHTTP        Kind = "http"
	KindExec        Kind = "exec"
	KindWait        Kind = "wait"
	KindApprove     Kind = "approve"
	KindAnnotate    Kind = "annotate"
	KindSet         Kind = "set"
	KindAcknowledge Kind = "acknowledge"
	KindResolve     Kind = "resolve"
	KindEscalate    Kind = "escalate"
	KindNotify      Kind = "notify"
	KindRunbook     Kind = "runbook"
	KindParallel    Kind = "parallel"
)

// Kinds lists every action, in the order the docs present them.
var Kinds = []Kind{KindHTTP, KindExec, KindWait, KindApprove, KindAnnotate, KindSet,
	KindAcknowledge, KindResolve, KindEscalate, KindNotify, KindRunbook, KindParallel}

// Step is one step of a runbook. Exactly one of the action fields is set,
// the one Kind names.
type Step struct {
	// Name is optional, unique within the runbook, and required for a step
	// whose result a later step reads (steps.NAME, .Steps.NAME).
	Name string
	// ID is the step's key path in its file: steps[2], steps[3].parallel[0],
	// on_failure[0]. It is unique within the runbook and stable while the
	// file is unchanged; the engine keys step state by it.
	ID   string
	Kind Kind
	// When is nil if the step always runs.
	When *Condition
	// Retry is the attempt policy; Attempts is 1 when the step sets none.
	Retry Retry
	// Timeout bounds the whole step, every attempt and backoff included; 0
	// leaves only the run's timeout.
	Timeout         time.Duration
	ContinueOnError bool

	HTTP        *HTTPAction
	Exec        *ExecAction
	Wait        *WaitAction
	Approve     *ApproveAction
	Annotate    *Text
	Set         *SetAction
	Acknowledge *MessageAction
	Resolve     *MessageAction
	Escalate    *MessageAction
	Notify      *NotifyAction
	Runbook     *CallAction
	// Parallel steps start together; the step ends when all have ended and
	// fails if one of them fails (without continue_on_error).
	Parallel []*Step

	// Line and Column locate the step in its file.
	Line, Column int
}

// Label names the step in messages: its name, or its ID.
func (s *Step) Label() string {
	if s.Name != "" {
		return s.Name
	}
	return s.ID
}

// HTTPAction sends one request. The step fails on a transport error or a
// status outside 200..299; later steps still see the status, headers and
// body it got.
type HTTPAction struct {
	Method  string
	URL     *Text
	Headers map[string]*Text
	// Body is a template rendered as is; JSON is a value whose strings are
	// templates, encoded after rendering, so data never changes its shape.
	// At most one is set.
	Body *Text
	JSON *JSONValue
	// Timeout bounds one attempt (DefaultHTTPTimeout if unset).
	Timeout time.Duration
}

// DefaultHTTPTimeout bounds one HTTP attempt whose step sets no timeout.
const DefaultHTTPTimeout = 30 * time.Second

// ExecAction runs a program with an argument vector: no shell, each element
// renders into exactly one argument.
type ExecAction struct {
	// Command[0] is the program, literal (never a template); the engine
	// checks it against runbooks.exec.allow.
	Command []*Text
	Env     map[string]*Text
	// Dir is the working directory (absolute), "" for the engine's default.
	Dir string
	// Timeout bounds one attempt (DefaultExecTimeout if unset).
	Timeout time.Duration
}

// DefaultExecTimeout bounds one exec attempt whose step sets no timeout.
const DefaultExecTimeout = time.Minute

// WaitAction pauses the run for Duration, or until Until holds (checked on
// every change of the incident and every Interval) for at most Timeout.
type WaitAction struct {
	Duration time.Duration
	Until    *Condition
	Timeout  time.Duration
	Interval time.Duration
}

// DefaultWaitInterval is how often a wait re-checks its condition.
const DefaultWaitInterval = 30 * time.Second

// ApproveAction pauses the run until one of From approves (the step
// succeeds) or rejects (it fails), or Timeout passes (it fails).
type ApproveAction struct {
	// From are the people, teams or schedules allowed to answer.
	From []string
	// Timeout is 0 when only the run's timeout bounds the wait.
	Timeout time.Duration
	// Message is shown to approvers; nil for none.
	Message *Text
}

// SetAction changes the incident.
type SetAction struct {
	// Priority is 1..5, 0 to leave it.
	Priority int
	// OnHold is nil to leave the status, else puts the incident on hold
	// (true) or takes it off hold (false).
	OnHold *bool
	// Labels to set; a value that renders "" removes the label.
	Labels map[string]*Text
}

// MessageAction is acknowledge, resolve or escalate, with an optional
// timeline message.
type MessageAction struct {
	Message *Text
}

// NotifyAction sends a message through notifiers.
type NotifyAction struct {
	// To names notifiers or people; empty means the incident's defaults.
	To      []string
	Message *Text
}

// CallAction runs another runbook to its end, on the same incident, as part
// of this step.
type CallAction struct {
	Runbook string
	// Inputs are templates; their rendered text is parsed by the callee's
	// input types (Runbook.ResolveInputs).
	Inputs map[string]*Text
}

// Retry is a step's attempt policy: Attempts tries in all, waiting
// Delay(n) after the n-th failed one.
type Retry struct {
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Jitter is the fraction (0..1) by which a delay may be shortened at
	// random, so that retries of many runs spread out.
	Jitter float64
}

// Retry defaults for keys a retry block leaves out.
const (
	DefaultBackoff    = time.Second
	DefaultMaxBackoff = 5 * time.Minute
	DefaultJitter     = 0.2
	// MaxAttempts bounds retry.attempts.
	MaxAttempts = 100
)

// Walk calls fn for every step of the runbook, in file order: steps, the
// steps inside parallel steps, then on_failure.
func (rb *Runbook) Walk(fn func(*Step)) {
	var walk func([]*Step)
	walk = func(ss []*Step) {
		for _, s := range ss {
			fn(s)
			walk(s.Parallel)
		}
	}
	walk(rb.Steps)
	walk(rb.OnFailure)
}

// Step returns the step with the given name or ID.
func (rb *Runbook) Step(nameOrID string) (*Step, bool) {
	var found *Step
	rb.Walk(func(s *Step) {
		if found == nil && (s.Name == nameOrID || s.ID == nameOrID) {
			found = s
		}
	})
	return found, found != nil
}

// StepNames lists the names of the runbook's named steps, in file order.
// The engine fills Data.Steps with a result for each, so that expressions
// about steps that did not run see zero values instead of failing.
func (rb *Runbook) StepNames() []string {
	var names []string
	rb.Walk(func(s *Step) {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	})
	return names
}

// Secrets lists the secret names the runbook references, sorted.
func (rb *Runbook) Secrets() []string {
	var out []string
	rb.Walk(func(s *Step) {
		for _, t := range s.texts() {
			out = append(out, t.Secrets()...)
		}
	})
	slices.Sort(out)
	return slices.Compact(out)
}

// Manual reports whether the runbook may be started by hand.
func (rb *Runbook) Manual() bool {
	return slices.ContainsFunc(rb.Triggers, func(t *Trigger) bool { return t.Kind == TriggerManual })
}

// texts returns every template of a step's own action.
func (s *Step) texts() []*Text {
	var out []*Text
	add := func(ts ...*Text) {
		for _, t := range ts {
			if t != nil {
				out = append(out, t)
			}
		}
	}
	switch {
	case s.HTTP != nil:
		add(s.HTTP.URL, s.HTTP.Body)
		for _, k := range sortedKeys(s.HTTP.Headers) {
			add(s.HTTP.Headers[k])
		}
		if s.HTTP.JSON != nil {
			add(s.HTTP.JSON.texts()...)
		}
	case s.Exec != nil:
		add(s.Exec.Command...)
		for _, k := range sortedKeys(s.Exec.Env) {
			add(s.Exec.Env[k])
		}
	case s.Approve != nil:
		add(s.Approve.Message)
	case s.Annotate != nil:
		add(s.Annotate)
	case s.Set != nil:
		for _, k := range sortedKeys(s.Set.Labels) {
			add(s.Set.Labels[k])
		}
	case s.Acknowledge != nil:
		add(s.Acknowledge.Message)
	case s.Resolve != nil:
		add(s.Resolve.Message)
	case s.Escalate != nil:
		add(s.Escalate.Message)
	case s.Notify != nil:
		add(s.Notify.Message)
	case s.Runbook != nil:
		for _, k := range sortedKeys(s.Runbook.Inputs) {
			add(s.Runbook.Inputs[k])
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// priorityLabel renders 1 as P1.
func priorityLabel(p int) string { return incident.PriorityLabel(p) }
