package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/runbooks"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/web"
)

// RunbookEngine is what the runbook routes use: runbooks.Engine.
type RunbookEngine interface {
	Library() *runbooks.Library
	Start(ctx context.Context, req runbooks.StartRequest) (store.RunbookRun, bool, error)
	DryRun(ctx context.Context, req runbooks.DryRunRequest) (*runbooks.DryRunResult, error)
	Answer(ctx context.Context, runID int64, step, actor, message string, approve bool) (store.RunbookStep, error)
	Cancel(ctx context.Context, runID int64, actor, message string) (store.RunbookRun, error)
	Run(ctx context.Context, id int64) (store.RunbookRun, []store.RunbookStep, error)
	Runs(ctx context.Context, f store.RunFilter) ([]store.RunbookRun, error)
}

// RunbookAPI serves the runbook routes.
type RunbookAPI struct {
	eng RunbookEngine
	log *slog.Logger
}

// NewRunbooks returns the runbook routes over eng.
func NewRunbooks(eng RunbookEngine, log *slog.Logger) *RunbookAPI {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RunbookAPI{eng: eng, log: log}
}

// Register adds the runbook routes to mux.
func (a *RunbookAPI) Register(mux web.Mux) {
	mux.HandleFunc("GET /api/v1/runbooks", a.list)
	mux.HandleFunc("POST /api/v1/runbooks/{name}/runs", a.start)
	mux.HandleFunc("GET /api/v1/runbooks/runs", a.runs)
	mux.HandleFunc("GET /api/v1/runbooks/runs/{id}", a.run)
	mux.HandleFunc("POST /api/v1/runbooks/runs/{id}/approve", a.answer(true))
	mux.HandleFunc("POST /api/v1/runbooks/runs/{id}/reject", a.answer(false))
	mux.HandleFunc("POST /api/v1/runbooks/runs/{id}/cancel", a.cancel)
}

// RunbookInfo is a loaded runbook as GET /api/v1/runbooks lists it.
type RunbookInfo struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	File        string `json:"file"`
	// Triggers as written: "on incident.triggered {alertname=...}",
	// "schedule */30 * * * * Europe/Berlin", "manual".
	Triggers []string       `json:"triggers"`
	Manual   bool           `json:"manual"`
	Inputs   []RunbookInput `json:"inputs,omitempty"`
	Steps    int            `json:"steps"`
	Timeout  string         `json:"timeout"`
	Warnings []string       `json:"warnings,omitempty"`
}

// RunbookInput is a declared input.
type RunbookInput struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description,omitempty"`
	Required    bool   `json:"required,omitempty"`
	Default     string `json:"default,omitempty"`
}

// RunbookList is the body of GET /api/v1/runbooks.
type RunbookList struct {
	Runbooks []RunbookInfo `json:"runbooks"`
}

// RunView is a run without its steps.
type RunView struct {
	ID           int64  `json:"id"`
	Runbook      string `json:"runbook"`
	Trigger      string `json:"trigger"`
	TriggerEvent int64  `json:"trigger_event,omitempty"`
	// Incident is INC-n, "" for runs without an incident.
	Incident       string            `json:"incident,omitempty"`
	ParentRun      int64             `json:"parent_run,omitempty"`
	ParentStep     string            `json:"parent_step,omitempty"`
	Status         store.RunStatus   `json:"status"`
	Phase          string            `json:"phase"`
	Error          string            `json:"error,omitempty"`
	Inputs         map[string]string `json:"inputs,omitempty"`
	Actor          string            `json:"actor,omitempty"`
	ConcurrencyKey string            `json:"concurrency_key,omitempty"`
	CreatedAt      time.Time         `json:"created_at"`
	StartedAt      time.Time         `json:"started_at,omitzero"`
	EndedAt        time.Time         `json:"ended_at,omitzero"`
	Deadline       time.Time         `json:"deadline,omitzero"`
}

// StepView is one step of a run: rendered input and output with secrets
// masked, attempts and timings.
type StepView struct {
	ID       string           `json:"id"`
	Name     string           `json:"name,omitempty"`
	Kind     string           `json:"kind"`
	Status   store.StepStatus `json:"status"`
	Attempts int              `json:"attempts"`
	Input    json.RawMessage  `json:"input,omitempty"`
	Output   json.RawMessage  `json:"output,omitempty"`
	Error    string           `json:"error,omitempty"`
	// AttemptLog lists each attempt: start, end, error, and whether it
	// was interrupted by a restart.
	AttemptLog json.RawMessage `json:"attempt_log,omitempty"`
	// Deadline is when a wait or approval times out.
	Deadline  time.Time `json:"deadline,omitzero"`
	StartedAt time.Time `json:"started_at,omitzero"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	// Seconds is how long the step took, once it ended.
	Seconds float64 `json:"seconds,omitempty"`
}

// RunDetail is the body of GET /api/v1/runbooks/runs/{id}.
type RunDetail struct {
	RunView
	Steps []StepView `json:"steps"`
}

// RunList is the body of GET /api/v1/runbooks/runs.
type RunList struct {
	Runs       []RunView `json:"runs"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// StartRunRequest is the body of POST /api/v1/runbooks/{name}/runs.
type StartRunRequest struct {
	// Inputs by name, as JSON values or text.
	Inputs map[string]any `json:"inputs,omitempty"`
	// Incident (INC-n or n) the run works on; optional.
	Incident string `json:"incident,omitempty"`
	Actor    string `json:"actor"`
	// DryRun answers what the run would do, step by step, and changes
	// nothing.
	DryRun bool `json:"dry_run,omitempty"`
	// RequestID makes retries of the request start one run.
	RequestID string `json:"request_id,omitempty"`
}

// AnswerRequest is the body of approve, reject and cancel.
type AnswerRequest struct {
	Actor   string `json:"actor"`
	Message string `json:"message,omitempty"`
	// Step names the step when several await approval.
	Step string `json:"step,omitempty"`
}

// AnswerResult is the answer to approve and reject.
type AnswerResult struct {
	Step StepView `json:"step"`
}

func (a *RunbookAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	var ie *runbooks.InputError
	var ae *actorError
	switch {
	case errors.As(err, &pe):
		web.WriteError(w, r, http.StatusBadRequest, pe.field, pe.Error())
	case errors.As(err, &ae):
		web.WriteError(w, r, http.StatusForbidden, "actor", ae.Error())
	case errors.As(err, &ie):
		web.WriteError(w, r, http.StatusBadRequest, ie.Field, ie.Error())
	case errors.Is(err, errTooLarge):
		web.WriteError(w, r, http.StatusRequestEntityTooLarge, "", err.Error())
	case errors.Is(err, errMediaType):
		web.WriteError(w, r, http.StatusUnsupportedMediaType, "", err.Error())
	case errors.Is(err, runbooks.ErrUnknownRunbook), errors.Is(err, store.ErrNotFound):
		web.WriteError(w, r, http.StatusNotFound, "", err.Error())
	case errors.Is(err, runbooks.ErrNotAllowed):
		web.WriteError(w, r, http.StatusForbidden, "actor", err.Error())
	case errors.Is(err, runbooks.ErrConflict):
		web.WriteError(w, r, http.StatusConflict, "", err.Error())
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
	default:
		a.log.Error("api request failed", "request_id", web.RequestID(r.Context()), "path", r.URL.Path, "err", err)
		web.WriteError(w, r, http.StatusServiceUnavailable, "", "store unavailable: retry later")
	}
}

// decodeBody decodes a JSON body strictly into v; an empty body leaves v
// as it is.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return errMediaType
	}
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return decodeStrict(body, v, true, "want a JSON object")
}

func (a *RunbookAPI) list(w http.ResponseWriter, r *http.Request) {
	out := RunbookList{Runbooks: []RunbookInfo{}}
	for _, rb := range a.eng.Library().Set.All() {
		info := RunbookInfo{Name: rb.Name, Description: rb.Description, File: rb.File, Manual: rb.Manual(),
			Steps: len(rb.Steps), Timeout: rb.Timeout.String(), Triggers: []string{}}
		for _, t := range rb.Triggers {
			switch t.Kind {
			case runbooks.TriggerEvent:
				s := "on " + t.Event
				if len(t.Match) > 0 {
					s += " " + t.Match.String()
				}
				info.Triggers = append(info.Triggers, s)
			case runbooks.TriggerSchedule:
				info.Triggers = append(info.Triggers, "schedule "+t.Schedule+" "+t.Location.String())
			default:
				info.Triggers = append(info.Triggers, string(t.Kind))
			}
		}
		for _, in := range rb.Inputs {
			ri := RunbookInput{Name: in.Name, Type: string(in.Type), Description: in.Description, Required: in.Required}
			if in.Default != nil {
				ri.Default = formatInput(in.Default)
			}
			info.Inputs = append(info.Inputs, ri)
		}
		for _, d := range rb.Warnings {
			info.Warnings = append(info.Warnings, d.Error())
		}
		out.Runbooks = append(out.Runbooks, info)
	}
	web.WriteJSON(w, http.StatusOK, out)
}

func formatInput(v any) string {
	if d, ok := v.(time.Duration); ok {
		return d.String()
	}
	b, _ := json.Marshal(v) // strings, ints and bools marshal
	return strings.Trim(string(b), `"`)
}

func (a *RunbookAPI) start(w http.ResponseWriter, r *http.Request) {
	var req StartRunRequest
	if err := decodeBody(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	var err error
	if req.Actor, err = actorOf(r, req.Actor); err != nil {
		a.fail(w, r, err)
		return
	}
	var incID int64
	if req.Incident != "" {
		id, err := incident.ParseKey(req.Incident)
		if err != nil {
			a.fail(w, r, &paramError{"incident", err.Error()})
			return
		}
		incID = id
	}
	inputs := map[string]any{}
	for k, v := range req.Inputs {
		if n, ok := v.(json.Number); ok {
			v = n.String() // the runbook's input types parse the text
		}
		inputs[k] = v
	}
	name := r.PathValue("name")
	if req.DryRun {
		res, err := a.eng.DryRun(r.Context(), runbooks.DryRunRequest{Runbook: name, Inputs: inputs, IncidentID: incID})
		if err != nil {
			a.fail(w, r, err)
			return
		}
		web.WriteJSON(w, http.StatusOK, res)
		return
	}
	run, created, err := a.eng.Start(r.Context(), runbooks.StartRequest{
		Runbook: name, Inputs: inputs, IncidentID: incID, Actor: req.Actor, RequestID: req.RequestID,
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	web.WriteJSON(w, status, RunDetail{RunView: runView(run), Steps: []StepView{}})
}

func (a *RunbookAPI) runs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f store.RunFilter
	var err error
	if f.Runbook, err = textParam(q, "runbook"); err != nil {
		a.fail(w, r, err)
		return
	}
	if f.Limit, err = parseLimit(q.Get("limit")); err != nil {
		a.fail(w, r, err)
		return
	}
	if s := q.Get("incident"); s != "" {
		if f.IncidentID, err = incident.ParseKey(s); err != nil {
			a.fail(w, r, &paramError{"incident", err.Error()})
			return
		}
	}
	for _, s := range splitList(q.Get("status")) {
		st := store.RunStatus(s)
		if s == "active" {
			f.Statuses = append(f.Statuses, store.ActiveRunStatuses...)
			continue
		}
		if !st.Active() && !st.Ended() && st != store.RunQueued {
			a.fail(w, r, &paramError{"status", strconv.Quote(s) + " is not one of active, queued, running, waiting, awaiting_approval, succeeded, failed, cancelled, timed_out"})
			return
		}
		f.Statuses = append(f.Statuses, st)
	}
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 1 {
			a.fail(w, r, &paramError{"cursor", "not a cursor returned by this API"})
			return
		}
		f.Before = n
	}
	runs, err := a.eng.Runs(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := RunList{Runs: make([]RunView, len(runs))}
	for i, run := range runs {
		out.Runs[i] = runView(run)
	}
	if len(runs) == f.Limit {
		out.NextCursor = strconv.FormatInt(runs[len(runs)-1].ID, 10)
	}
	web.WriteJSON(w, http.StatusOK, out)
}

func runID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(r.PathValue("id"), "run-"), 10, 64)
	if err != nil || id < 1 {
		return 0, &paramError{"id", strconv.Quote(r.PathValue("id")) + " is not a run id"}
	}
	return id, nil
}

func (a *RunbookAPI) run(w http.ResponseWriter, r *http.Request) {
	id, err := runID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	run, steps, err := a.eng.Run(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d := RunDetail{RunView: runView(run), Steps: make([]StepView, len(steps))}
	for i, s := range steps {
		d.Steps[i] = stepView(s)
	}
	web.WriteJSON(w, http.StatusOK, d)
}

func (a *RunbookAPI) answer(approve bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := runID(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		var req AnswerRequest
		if err := decodeBody(w, r, &req); err != nil {
			a.fail(w, r, err)
			return
		}
		if req.Actor, err = actorOf(r, req.Actor); err != nil {
			a.fail(w, r, err)
			return
		}
		step, err := a.eng.Answer(r.Context(), id, req.Step, req.Actor, req.Message, approve)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		web.WriteJSON(w, http.StatusOK, AnswerResult{Step: stepView(step)})
	}
}

func (a *RunbookAPI) cancel(w http.ResponseWriter, r *http.Request) {
	id, err := runID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req AnswerRequest
	if err := decodeBody(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Actor, err = actorOf(r, req.Actor); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Step != "" {
		a.fail(w, r, &paramError{"step", "cancel ends the whole run: leave step out"})
		return
	}
	run, err := a.eng.Cancel(r.Context(), id, req.Actor, req.Message)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, RunDetail{RunView: runView(run), Steps: []StepView{}})
}

func runView(run store.RunbookRun) RunView {
	v := RunView{
		ID: run.ID, Runbook: run.Runbook, Trigger: run.Trigger, TriggerEvent: run.TriggerEvent, ParentRun: run.ParentRun,
		ParentStep: run.ParentStep, Status: run.Status, Phase: run.Phase, Error: run.Error, Actor: run.Actor,
		ConcurrencyKey: run.ConcurrencyKey, CreatedAt: run.CreatedAt, StartedAt: run.StartedAt, EndedAt: run.EndedAt,
	}
	if !run.Status.Ended() {
		v.Deadline = run.Deadline
	}
	if run.IncidentID != 0 {
		v.Incident = incident.FormatKey(run.IncidentID)
	}
	_ = json.Unmarshal([]byte(run.Inputs), &v.Inputs) // written by the engine as a JSON object of strings
	return v
}

func stepView(s store.RunbookStep) StepView {
	v := StepView{
		ID: s.StepID, Name: s.Name, Kind: s.Kind, Status: s.Status, Attempts: s.Attempts, Error: s.Error,
		StartedAt: s.StartedAt, EndedAt: s.EndedAt,
	}
	if !s.Status.Ended() {
		v.Deadline = s.Deadline
	}
	if !s.StartedAt.IsZero() && !s.EndedAt.IsZero() {
		v.Seconds = s.EndedAt.Sub(s.StartedAt).Seconds()
	}
	for _, f := range []struct {
		src string
		dst *json.RawMessage
	}{{s.Input, &v.Input}, {s.Output, &v.Output}, {s.AttemptLog, &v.AttemptLog}} {
		if f.src != "" && f.src != "[]" && json.Valid([]byte(f.src)) {
			*f.dst = json.RawMessage(f.src)
		}
	}
	return v
}
