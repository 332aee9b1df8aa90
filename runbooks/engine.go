package runbooks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	randv2 "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/timers"
)

// The engine runs runbooks durably. A run is a row in the store, each step
// it reached another, and everything that happens later (the next step, a
// retry, a wait's next check, an approval's timeout, the run's timeout, the
// next cron tick) is a timer of package timers, scheduled in the same
// transaction as the state change it continues from. A restart or another
// replica picks the timers up: no goroutine sleeps, and no state lives only
// in memory.

// ConsumerName is the engine's outbox cursor.
const ConsumerName = "runbooks"

// DefaultSearchPath is where exec steps look up command[0], and the PATH
// their programs get, unless Options.SearchPath says otherwise.
const DefaultSearchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Timeline event kinds the engine records on a run's incident. Every
// message starts with "run N", the run's id.
const (
	EventRunStarted            = "runbook.run_started"
	EventRunFailing            = "runbook.run_failing" // failed; its on_failure steps run
	EventRunFinished           = "runbook.run_finished"
	EventStepFinished          = "runbook.step_finished"
	EventApprovalRequested     = "runbook.approval_requested"
	EventEscalationRequested   = "runbook.escalation_requested"
	EventNotificationRequested = "runbook.notification_requested"
)

// Timer kinds the engine handles.
const (
	timerStep     = "runbook.step"     // runbook:RUN:STEP:ATTEMPT: run one attempt of a step
	timerWait     = "runbook.wait"     // runbook:RUN:STEP:ATTEMPT:check:N|event:ID|done
	timerApproval = "runbook.approval" // runbook:RUN:STEP:ATTEMPT:approval-timeout
	timerChild    = "runbook.child"    // runbook:RUN:STEP:1:child-done: a called run ended
	timerDrive    = "runbook.drive"    // runbook-drive:RUN:REASON: start what can start, end what ended
	timerRun      = "runbook.run"      // runbook-run:RUN:timeout:PHASE|cancel
	timerCron     = "runbook.cron"     // cron:RUNBOOK:TRIGGER:TICK
)

// Approvers decides who may answer an approve step.
type Approvers interface {
	// MayApprove reports whether actor may answer a step that asks
	// from (people, teams or schedules, as the runbook writes them) at t.
	MayApprove(ctx context.Context, actor string, from []string, t time.Time) (bool, error)
}

// NamedApprovers lets exactly the names listed answer: actor "alice"
// answers a step whose from lists alice or user:alice. It is the default
// until teams and schedules can be resolved to people.
type NamedApprovers struct{}

// MayApprove implements Approvers.
func (NamedApprovers) MayApprove(_ context.Context, actor string, from []string, _ time.Time) (bool, error) {
	return slices.Contains(from, actor) || slices.Contains(from, "user:"+actor), nil
}

// Pager carries out escalate and notify steps; the daemon's is the
// escalation engine. key identifies the request: it is the same for every
// attempt of one step of one run (runbook:RUN:STEP), so that a pager that
// has carried a request out does nothing more when the step is tried again
// (a retry, or an attempt interrupted after the request took effect).
// Without a Pager the engine records the request on the incident's
// timeline (runbook.escalation_requested, runbook.notification_requested)
// and the step succeeds; nobody is paged.
type Pager interface {
	// Escalate pages the next level of the incident's escalation policy
	// now. An incident that cannot be escalated (acknowledged, unrouted,
	// every level paged) is not an error: the pager says why on the
	// timeline.
	Escalate(ctx context.Context, incidentID int64, key, message, actor string) error
	// Notify sends message to the targets in to (user:ID, schedule:ID,
	// notifier:NAME), or without to to the incident's on-call.
	Notify(ctx context.Context, incidentID int64, key string, to []string, message, actor string) error
}

// Options configure an Engine. Zero values take the defaults.
type Options struct {
	// Config is the runbooks section: secrets, exec allowlist, output cap.
	Config Config
	// CI looks up a CMDB CI by id, for .CI and the ci_class matcher label.
	CI func(id string) (cmdb.CI, bool)
	// Secrets resolves ${secret:NAME}; default EnvSecrets{Dir: Config.SecretsDir}.
	Secrets SecretSource
	// HTTPClient sends http steps; default a client without a global
	// timeout (each attempt has its own).
	HTTPClient *http.Client
	Approvers  Approvers
	Pager      Pager
	// SearchPath is where command[0] is looked up, and the PATH programs
	// get (DefaultSearchPath).
	SearchPath string
	// Rand returns numbers in [0, 1) for retry jitter; default math/rand.
	Rand   func() float64
	Logger *slog.Logger
	// Registerer, if set, gets the engine's metrics.
	Registerer prometheus.Registerer
}

// Engine runs runbooks. It is safe for concurrent use.
type Engine struct {
	st    *store.Store
	runs  *store.RunbookStore
	sched *timers.Scheduler
	clk   clock.Clock
	log   *slog.Logger
	opts  Options

	lib atomic.Pointer[Library]
	cfg atomic.Pointer[Config]

	mu       sync.Mutex
	parsed   map[string]*Runbook // by source hash
	inflight map[int64]map[*context.CancelFunc]bool

	metrics *metrics
}

// NewEngine returns an engine over st that registers its timer handlers on
// sched. Give it runbooks with SetLibrary; feed it events with Handle (an
// outbox consumer named ConsumerName).
func NewEngine(st *store.Store, sched *timers.Scheduler, clk clock.Clock, o Options) *Engine {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	if o.Approvers == nil {
		o.Approvers = NamedApprovers{}
	}
	if o.SearchPath == "" {
		o.SearchPath = DefaultSearchPath
	}
	if o.Rand == nil {
		o.Rand = randv2.Float64
	}
	e := &Engine{st: st, sched: sched, clk: clk, log: o.Logger, opts: o,
		parsed: map[string]*Runbook{}, inflight: map[int64]map[*context.CancelFunc]bool{}}
	e.runs = st.Runbooks(store.RunbookHooks{Started: e.startedEffects, Ended: e.endedEffects, CancelChild: e.cancelChildEffects})
	e.SetConfig(o.Config)
	e.lib.Store(&Library{Set: &Set{byName: map[string]*Runbook{}}, sources: map[string]store.RunbookSource{}})
	if o.Registerer != nil {
		e.metrics = newMetrics(o.Registerer, e.runs)
	}
	sched.Handle(timerStep, e.onStep)
	sched.Handle(timerWait, e.onWait)
	sched.Handle(timerApproval, e.onApprovalTimeout)
	sched.Handle(timerChild, e.onChildDone)
	sched.Handle(timerDrive, e.onDrive)
	sched.Handle(timerRun, e.onRunTimer)
	sched.Handle(timerCron, e.onCron)
	return e
}

// SetConfig changes the secrets directory, exec allowlist and output cap
// (config reload). Runs in progress use the new values from their next
// step on.
func (e *Engine) SetConfig(c Config) {
	if c.MaxOutputBytes <= 0 {
		c.MaxOutputBytes = DefaultConfig().MaxOutputBytes
	}
	e.cfg.Store(&c)
}

func (e *Engine) config() *Config { return e.cfg.Load() }

func (e *Engine) secrets() SecretSource {
	if e.opts.Secrets != nil {
		return e.opts.Secrets
	}
	return EnvSecrets{Dir: e.config().SecretsDir}
}

// SetLibrary makes lib the runbooks that triggers start (start and config
// reload: the swap is atomic) and schedules the next tick of every
// schedule trigger. Runs in progress keep following the runbook text they
// started with.
func (e *Engine) SetLibrary(ctx context.Context, lib *Library) error {
	e.lib.Store(lib)
	return e.scheduleCron(ctx, lib)
}

// Library returns the runbooks in force.
func (e *Engine) Library() *Library { return e.lib.Load() }

// Engine errors, for the API to map to HTTP statuses.
var (
	// ErrUnknownRunbook: no runbook of that name is loaded.
	ErrUnknownRunbook = errors.New("no such runbook")
	// ErrConflict: the run is not in a state that allows the request.
	ErrConflict = errors.New("conflict")
	// ErrNotAllowed: the actor may not answer the approval.
	ErrNotAllowed = errors.New("not allowed")
)

// InputError is a bad request: unknown or invalid inputs, no such incident.
type InputError struct {
	Field string
	Msg   string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Msg }

// StartRequest asks for a manual run.
type StartRequest struct {
	Runbook string
	// Inputs by name: text (as from a CLI flag) or JSON values.
	Inputs map[string]any
	// IncidentID is the incident the run works on, 0 for none.
	IncidentID int64
	Actor      string
	// RequestID makes the request idempotent: a second request with the
	// same id returns the first one's run. Empty: a new run every time.
	RequestID string
}

// Start starts a manual run of a runbook that has a manual trigger. It
// returns the run (queued if its concurrency limit is reached) and whether
// it was created by this request.
func (e *Engine) Start(ctx context.Context, req StartRequest) (store.RunbookRun, bool, error) {
	lib := e.Library()
	rb, ok := lib.Set.Get(req.Runbook)
	if !ok {
		return store.RunbookRun{}, false, fmt.Errorf("%w %q", ErrUnknownRunbook, req.Runbook)
	}
	if !rb.Manual() {
		return store.RunbookRun{}, false, fmt.Errorf("%w: runbook %s has no manual trigger: add `- manual: true` to its triggers", ErrConflict, rb.Name)
	}
	if strings.TrimSpace(req.Actor) == "" {
		return store.RunbookRun{}, false, &InputError{"actor", "required: who starts the run"}
	}
	inputs, err := rb.ResolveInputs(req.Inputs)
	if err != nil {
		return store.RunbookRun{}, false, &InputError{"inputs", err.Error()}
	}
	if req.IncidentID != 0 {
		if _, err := e.st.Incident(ctx, req.IncidentID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return store.RunbookRun{}, false, &InputError{"incident", err.Error()}
			}
			return store.RunbookRun{}, false, err
		}
	}
	id := req.RequestID
	if id == "" {
		var b [12]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	return e.create(ctx, lib, rb, newRun{
		trigger: string(TriggerManual), incidentID: req.IncidentID, inputs: inputs, actor: req.Actor,
		key: "manual:" + rb.Name + ":" + id,
	})
}

// newRun describes a run to create.
type newRun struct {
	trigger    string
	event      int64
	incidentID int64
	inputs     map[string]any
	actor      string
	key        string
	parentRun  int64
	parentStep string
}

// create stores a run of rb and starts it if its concurrency limit allows.
func (e *Engine) create(ctx context.Context, lib *Library, rb *Runbook, n newRun) (store.RunbookRun, bool, error) {
	src, ok := lib.Source(rb.Name)
	if !ok {
		return store.RunbookRun{}, false, fmt.Errorf("%w %q", ErrUnknownRunbook, rb.Name)
	}
	if existing, err := e.runs.RunByKey(ctx, n.key); err == nil {
		return existing, false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.RunbookRun{}, false, err
	}
	run := store.RunbookRun{
		Runbook: rb.Name, Trigger: n.trigger, TriggerEvent: n.event, IncidentID: n.incidentID, IdempotencyKey: n.key,
		ParentRun: n.parentRun, ParentStep: n.parentStep, Timeout: rb.Timeout, Inputs: inputText(rb, n.inputs), Actor: n.actor,
	}
	var keyErr error
	if rb.Concurrency != nil {
		d, err := e.triggerData(ctx, rb, run)
		if err != nil {
			return store.RunbookRun{}, false, err
		}
		run.ConcurrencyKey, keyErr = rb.ConcurrencyKey(d)
		run.ConcurrencyLimit = rb.Concurrency.Limit
		if keyErr != nil {
			// The run cannot be placed under its limit: it is recorded, and
			// failed at once below, rather than run unlimited.
			run.ConcurrencyKey, run.ConcurrencyLimit = "", 0
		}
	}
	out, created, err := e.runs.Create(ctx, src, run, e.clk.Now())
	if err != nil || !created || keyErr == nil {
		return out, created, err
	}
	msg := "concurrency.key: " + keyErr.Error()
	if _, err := e.end(ctx, out, store.RunFailed, msg, ""); err != nil {
		return out, created, err
	}
	out, err = e.runs.Run(ctx, out.ID)
	return out, created, err
}

// inputText keeps inputs as text, which the runbook's types parse back.
func inputText(rb *Runbook, inputs map[string]any) string {
	out := map[string]string{}
	for _, in := range rb.Inputs {
		v, ok := inputs[in.Name]
		if !ok {
			continue
		}
		switch x := v.(type) {
		case time.Duration:
			out[in.Name] = formatDuration(x)
		default:
			out[in.Name] = fmt.Sprint(x)
		}
	}
	b, _ := json.Marshal(out) // a map of strings always marshals
	return string(b)
}

// formatDuration writes d so that Input.Parse reads it back: 1h30m, 90s.
func formatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit string
		d    time.Duration
	}{{"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}} {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.unit)
			d -= n * u.d
		}
	}
	return b.String()
}

// Answer approves (approve true) or rejects the approve step of a run that
// awaits an answer. step names the step (name or ID) when several await
// one; "" picks the only one.
func (e *Engine) Answer(ctx context.Context, runID int64, step, actor, message string, approve bool) (store.RunbookStep, error) {
	actor = strings.TrimSpace(actor)
	if actor == "" {
		return store.RunbookStep{}, &InputError{"actor", "required: who answers"}
	}
	run, err := e.runs.Run(ctx, runID)
	if err != nil {
		return store.RunbookStep{}, err
	}
	if !run.Status.Active() {
		return store.RunbookStep{}, fmt.Errorf("%w: run %d is %s", ErrConflict, run.ID, run.Status)
	}
	rb, err := e.runbookOf(ctx, run)
	if err != nil {
		if broken, err := e.failBroken(ctx, run, err, ""); broken && err == nil {
			return store.RunbookStep{}, fmt.Errorf("%w: run %d failed: its runbook no longer loads", ErrConflict, run.ID)
		}
		return store.RunbookStep{}, err
	}
	rows, err := e.runs.Steps(ctx, run.ID)
	if err != nil {
		return store.RunbookStep{}, err
	}
	var waiting []store.RunbookStep
	for _, r := range rows {
		if r.Status != store.StepAwaitingApproval {
			continue
		}
		if step == "" || r.StepID == step || r.Name == step {
			waiting = append(waiting, r)
		}
	}
	switch {
	case len(waiting) == 0 && step != "":
		return store.RunbookStep{}, fmt.Errorf("%w: step %s of run %d does not await approval", ErrConflict, step, run.ID)
	case len(waiting) == 0:
		return store.RunbookStep{}, fmt.Errorf("%w: no step of run %d awaits approval (it is %s)", ErrConflict, run.ID, run.Status)
	case len(waiting) > 1:
		var ids []string
		for _, w := range waiting {
			ids = append(ids, stepLabel(w))
		}
		return store.RunbookStep{}, &InputError{"step", "several steps await approval: name one of " + strings.Join(ids, ", ")}
	}
	row := waiting[0]
	s, ok := rb.Step(row.StepID)
	if !ok || s.Approve == nil {
		return store.RunbookStep{}, fmt.Errorf("%w: step %s is not an approve step", ErrConflict, row.StepID)
	}
	now := e.clk.Now()
	allowed, err := e.opts.Approvers.MayApprove(ctx, actor, s.Approve.From, now)
	if err != nil {
		return store.RunbookStep{}, err
	}
	if !allowed {
		return store.RunbookStep{}, fmt.Errorf("%w: %s may not answer step %s, which asks %s", ErrNotAllowed, actor, s.Label(), strings.Join(s.Approve.From, " or "))
	}
	m := e.masker(rb)
	message = m.Mask(strings.TrimSpace(message))
	res := StepResult{Attempts: row.Attempts, Actor: actor}
	status, verb := store.StepSucceeded, "approved"
	if !approve {
		status, verb = store.StepRejected, "rejected"
		res.Error = "rejected by " + actor
		if message != "" {
			res.Error += ": " + message
		}
	}
	note := verb + " by " + actor
	if message != "" {
		note += ": " + message
	}
	ok, err = e.endStep(ctx, run, rb, s, row, status, res, note, store.RunbookEffects{Cancel: []string{approvalKey(run.ID, s.ID, row.Attempts)}})
	if err != nil {
		return store.RunbookStep{}, err
	}
	if !ok {
		return store.RunbookStep{}, fmt.Errorf("%w: step %s was answered or ended meanwhile", ErrConflict, s.Label())
	}
	rows, err = e.runs.Steps(ctx, run.ID)
	for _, r := range rows {
		if r.StepID == row.StepID {
			return r, err
		}
	}
	return row, err
}

// Cancel ends an active or queued run as cancelled. Its on_failure steps
// do not run; attempts in flight in this process are stopped, and those on
// other replicas lose their timers' leases and stop within a lease
// renewal.
func (e *Engine) Cancel(ctx context.Context, runID int64, actor, message string) (store.RunbookRun, error) {
	actor = strings.TrimSpace(actor)
	if actor == "" {
		return store.RunbookRun{}, &InputError{"actor", "required: who cancels"}
	}
	run, err := e.runs.Run(ctx, runID)
	if err != nil {
		return store.RunbookRun{}, err
	}
	if run.Status.Ended() {
		return run, fmt.Errorf("%w: run %d has %s", ErrConflict, run.ID, run.Status)
	}
	msg := "cancelled by " + actor
	if m := strings.TrimSpace(message); m != "" {
		msg += ": " + m
	}
	ok, err := e.end(ctx, run, store.RunCancelled, msg, "")
	if err != nil {
		return store.RunbookRun{}, err
	}
	if !ok {
		run, _ = e.runs.Run(ctx, runID)
		return run, fmt.Errorf("%w: run %d ended meanwhile", ErrConflict, run.ID)
	}
	return e.runs.Run(ctx, runID)
}

// Run returns a run and its steps.
func (e *Engine) Run(ctx context.Context, id int64) (store.RunbookRun, []store.RunbookStep, error) {
	run, err := e.runs.Run(ctx, id)
	if err != nil {
		return run, nil, err
	}
	steps, err := e.runs.Steps(ctx, id)
	return run, steps, err
}

// Runs lists runs, newest first.
func (e *Engine) Runs(ctx context.Context, f store.RunFilter) ([]store.RunbookRun, error) {
	return e.runs.Runs(ctx, f)
}

// track registers the cancel function of an attempt in flight, so that
// cancelling or failing its run stops it at once in this process.
func (e *Engine) track(runID int64, cancel context.CancelFunc) func() {
	e.mu.Lock()
	defer e.mu.Unlock()
	m := e.inflight[runID]
	if m == nil {
		m = map[*context.CancelFunc]bool{}
		e.inflight[runID] = m
	}
	m[&cancel] = true
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		delete(m, &cancel)
		if len(m) == 0 {
			delete(e.inflight, runID)
		}
	}
}

func (e *Engine) stopInflight(runID int64) {
	e.mu.Lock()
	var fns []context.CancelFunc
	for f := range e.inflight[runID] {
		fns = append(fns, *f)
	}
	e.mu.Unlock()
	for _, f := range fns {
		f()
	}
}

// errBrokenRun marks a run whose runbook text is gone or no longer loads
// (after an upgrade with stricter checks): it cannot go on, and fails.
var errBrokenRun = errors.New("the run cannot go on")

// failBroken ends a run that cannot go on, if err says so, and reports
// whether it did.
func (e *Engine) failBroken(ctx context.Context, run store.RunbookRun, err error, self string) (bool, error) {
	if !errors.Is(err, errBrokenRun) {
		return false, err
	}
	e.log.Error("runbook run failed: its runbook no longer loads", "run", run.ID, "err", err)
	_, err = e.end(ctx, run, store.RunFailed, err.Error(), self)
	return true, err
}

// runbookOf returns the runbook text a run follows, parsed (cached by
// hash).
func (e *Engine) runbookOf(ctx context.Context, run store.RunbookRun) (*Runbook, error) {
	e.mu.Lock()
	rb, ok := e.parsed[run.SourceHash]
	e.mu.Unlock()
	if ok {
		return rb, nil
	}
	src, err := e.runs.Source(ctx, run.SourceHash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %v", errBrokenRun, err)
	}
	if err != nil {
		return nil, err
	}
	rb, err = Parse(src.File, src.Source)
	if err != nil {
		return nil, fmt.Errorf("%w: runbook %s as stored for run %d no longer loads: %v", errBrokenRun, src.Name, run.ID, err)
	}
	e.mu.Lock()
	if len(e.parsed) >= 512 {
		clear(e.parsed)
	}
	e.parsed[run.SourceHash] = rb
	e.mu.Unlock()
	return rb, nil
}

// masker returns a masker that knows every secret rb references, so that
// a value one step resolved is masked in every other step's output too.
func (e *Engine) masker(rb *Runbook) *Masker {
	m := NewMasker()
	src := e.secrets()
	for _, name := range rb.Secrets() {
		if v, err := src.Secret(name); err == nil {
			m.Add(v)
		}
	}
	return m
}

func stepLabel(r store.RunbookStep) string {
	if r.Name != "" {
		return r.Name
	}
	return r.StepID
}

// maxEventMessage bounds a timeline message the engine writes.
const maxEventMessage = 4 << 10

// event returns the timeline event about run, or nothing for runs without
// an incident.
func (e *Engine) event(run store.RunbookRun, kind, msg string) []incident.Event {
	if run.IncidentID == 0 {
		return nil
	}
	msg = fmt.Sprintf("run %d: %s", run.ID, msg)
	if len(msg) > maxEventMessage {
		msg = truncateUTF8(msg, maxEventMessage-3) + "..."
	}
	return []incident.Event{{IncidentID: run.IncidentID, At: e.clk.Now(), Actor: actorOf(run.Runbook), Kind: kind, Message: msg}}
}

// actorOf names a runbook as the actor of what its runs do.
func actorOf(runbook string) string { return "runbook:" + runbook }

// Timer keys. Step timers share the prefix runbook:RUN:, which ending a
// run cancels; drive and run timers have their own, so that the handler
// ending a run never cancels its own timer.
func stepKey(run int64, step string, attempt int) string {
	return fmt.Sprintf("runbook:%d:%s:%d", run, step, attempt)
}
func runPrefix(run int64) string { return fmt.Sprintf("runbook:%d:", run) }
func waitKey(run int64, step string, attempt int, what string) string {
	return stepKey(run, step, attempt) + ":" + what
}
func approvalKey(run int64, step string, attempt int) string {
	return stepKey(run, step, attempt) + ":approval-timeout"
}
func childKey(run int64, step string) string { return stepKey(run, step, 1) + ":child-done" }
func driveKey(run int64, reason string) string {
	return fmt.Sprintf("runbook-drive:%d:%s", run, reason)
}
func runKey(run int64, what string) string { return fmt.Sprintf("runbook-run:%d:%s", run, what) }
func cronKey(rb string, trigger int, tick time.Time) string {
	return fmt.Sprintf("cron:%s:%d:%s", rb, trigger, tick.UTC().Format(time.RFC3339))
}

// payload is a timer's input.
type payload struct {
	Run     int64  `json:"run,omitempty"`
	Step    string `json:"step,omitempty"`
	Attempt int    `json:"attempt,omitempty"`
	Op      string `json:"op,omitempty"`
	Check   int    `json:"check,omitempty"`
	Child   int64  `json:"child,omitempty"`
	// Cron ticks.
	Runbook  string    `json:"runbook,omitempty"`
	Trigger  int       `json:"trigger,omitempty"`
	Schedule string    `json:"schedule,omitempty"`
	Timezone string    `json:"timezone,omitempty"`
	Tick     time.Time `json:"tick,omitzero"`
}

func (p payload) bytes() []byte {
	b, _ := json.Marshal(p) // plain fields always marshal
	return b
}

func decode(t timers.Timer) (payload, error) {
	var p payload
	if err := json.Unmarshal(t.Payload, &p); err != nil {
		return p, timers.Permanent(fmt.Errorf("timer %s: bad payload: %w", t.Key, err))
	}
	return p, nil
}

func (e *Engine) timer(kind, key string, due time.Time, p payload) store.Timer {
	return store.Timer{Key: key, Kind: kind, Due: due, Payload: p.bytes()}
}
