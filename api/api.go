// Package api serves incidentd's read/act JSON API: incidents, their alerts
// and timelines, and the actions people take on them.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/web"
)

const (
	defaultLimit = 50
	maxLimit     = 500
	maxBodyBytes = 1 << 20
)

// Store is what the API reads and changes.
type Store interface {
	Incidents(ctx context.Context, f store.IncidentFilter) ([]*incident.Incident, error)
	Incident(ctx context.Context, id int64) (*incident.Incident, error)
	IncidentAlerts(ctx context.Context, id int64) ([]*incident.Alert, error)
	Timeline(ctx context.Context, id int64) ([]incident.Event, error)
	Alerts(ctx context.Context, f store.AlertFilter) ([]*incident.Alert, error)
	Act(ctx context.Context, id int64, action incident.Action, actor, message string, now time.Time) (*incident.Incident, incident.Event, error)
}

// API serves the routes.
type API struct {
	store      Store
	problems   ProblemStore
	cmdb       CMDB
	escalation *escalation.Engine
	clock      clock.Clock
	log        *slog.Logger
}

// New returns the API over s; with cmdb set it serves the CMDB routes too.
func New(s Store, cmdb CMDB, c clock.Clock, log *slog.Logger) *API {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &API{store: s, cmdb: cmdb, clock: c, log: log}
	a.problems, _ = s.(ProblemStore)
	return a
}

// Register adds the API routes to mux.
func (a *API) Register(mux web.Mux) {
	mux.HandleFunc("GET /api/v1/incidents", a.listIncidents)
	mux.HandleFunc("GET /api/v1/incidents/{id}", a.getIncident)
	mux.HandleFunc("POST /api/v1/incidents/{id}/acknowledge", a.act(incident.ActionAcknowledge))
	mux.HandleFunc("POST /api/v1/incidents/{id}/resolve", a.act(incident.ActionResolve))
	mux.HandleFunc("POST /api/v1/incidents/{id}/close", a.act(incident.ActionClose))
	mux.HandleFunc("POST /api/v1/incidents/{id}/hold", a.act(incident.ActionHold))
	mux.HandleFunc("POST /api/v1/incidents/{id}/resume", a.act(incident.ActionResume))
	mux.HandleFunc("POST /api/v1/incidents/{id}/notes", a.act(incident.ActionNote))
	mux.HandleFunc("GET /api/v1/alerts", a.listAlerts)
	if a.cmdb != nil {
		a.registerCMDB(mux)
	}
	if a.problems != nil {
		a.registerProblems(mux)
	}
	if a.escalation != nil {
		a.registerEscalation(mux)
	}
}

// IncidentView is an incident as the API shows it.
type IncidentView struct {
	*incident.Incident
	Key           string `json:"key"`
	PriorityLabel string `json:"priority_label"`
}

func view(i *incident.Incident) IncidentView {
	return IncidentView{Incident: i, Key: i.Key(), PriorityLabel: incident.PriorityLabel(i.Priority)}
}

// IncidentList is the body of GET /api/v1/incidents.
type IncidentList struct {
	Incidents  []IncidentView `json:"incidents"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// IncidentDetail is the body of GET /api/v1/incidents/{id}.
type IncidentDetail struct {
	IncidentView
	Alerts   []*incident.Alert `json:"alerts"`
	Timeline []incident.Event  `json:"timeline"`
	// Maintenance says which of its CIs are in maintenance now, and until
	// when: their new alerts open no incident and page nobody.
	Maintenance []string `json:"maintenance,omitempty"`
	// Problems the incident is linked to (PRB-n).
	Problems []string `json:"problems,omitempty"`
	// Escalation is who was paged and when, and the SLA clocks.
	Escalation *escalation.State `json:"escalation,omitempty"`
}

// ActionRequest is the body of the action endpoints.
type ActionRequest struct {
	Actor   string `json:"actor"`
	Message string `json:"message"`
}

// ActionResult is the answer to an action.
type ActionResult struct {
	Incident IncidentView   `json:"incident"`
	Event    incident.Event `json:"event"`
}

// AlertList is the body of GET /api/v1/alerts.
type AlertList struct {
	Alerts     []*incident.Alert `json:"alerts"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// paramError is a bad query parameter or body field.
type paramError struct{ field, msg string }

func (e *paramError) Error() string { return e.field + ": " + e.msg }

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *paramError
	var ae *actorError
	switch {
	case errors.As(err, &pe):
		web.WriteError(w, r, http.StatusBadRequest, pe.field, pe.Error())
	case errors.As(err, &ae):
		web.WriteError(w, r, http.StatusForbidden, "actor", ae.Error())
	case errors.Is(err, errTooLarge):
		web.WriteError(w, r, http.StatusRequestEntityTooLarge, "", err.Error())
	case errors.Is(err, store.ErrNotFound):
		web.WriteError(w, r, http.StatusNotFound, "", err.Error())
	case errors.Is(err, incident.ErrConflict):
		web.WriteError(w, r, http.StatusConflict, "", err.Error())
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// client went away
	default:
		a.log.Error("api request failed", "request_id", web.RequestID(r.Context()), "path", r.URL.Path, "err", err)
		web.WriteError(w, r, http.StatusServiceUnavailable, "", "store unavailable: retry later")
	}
}

func parseLimit(q string) (int, error) {
	if q == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(q)
	if err != nil || n < 1 || n > maxLimit {
		return 0, &paramError{"limit", "want a number from 1 to " + strconv.Itoa(maxLimit)}
	}
	return n, nil
}

func parseIncidentFilter(r *http.Request) (store.IncidentFilter, error) {
	q := r.URL.Query()
	var f store.IncidentFilter
	var err error
	if f.Limit, err = parseLimit(q.Get("limit")); err != nil {
		return f, err
	}
	for _, s := range splitList(q.Get("status")) {
		if s == "open" {
			f.Statuses = append(f.Statuses, incident.OpenStatuses...)
			continue
		}
		st := incident.Status(s)
		if !st.Valid() {
			return f, &paramError{"status", strconv.Quote(s) + " is not one of open, triggered, acknowledged, on_hold, resolved, closed"}
		}
		f.Statuses = append(f.Statuses, st)
	}
	for _, p := range splitList(q.Get("priority")) {
		n, err := strconv.Atoi(strings.TrimPrefix(strings.ToUpper(p), "P"))
		if err != nil || n < 1 || n > 5 {
			return f, &paramError{"priority", strconv.Quote(p) + " is not a priority P1..P5"}
		}
		f.Priorities = append(f.Priorities, n)
	}
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 1 {
			return f, &paramError{"cursor", "not a cursor returned by this API"}
		}
		f.Before = n
	}
	return f, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (a *API) listIncidents(w http.ResponseWriter, r *http.Request) {
	f, err := parseIncidentFilter(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	incs, err := a.store.Incidents(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := IncidentList{Incidents: make([]IncidentView, len(incs))}
	for i, inc := range incs {
		out.Incidents[i] = view(inc)
	}
	if len(incs) == f.Limit {
		out.NextCursor = strconv.FormatInt(incs[len(incs)-1].ID, 10)
	}
	web.WriteJSON(w, http.StatusOK, out)
}

func incidentID(r *http.Request) (int64, error) {
	id, err := incident.ParseKey(r.PathValue("id"))
	if err != nil {
		return 0, &paramError{"id", err.Error()}
	}
	return id, nil
}

func (a *API) getIncident(w http.ResponseWriter, r *http.Request) {
	id, err := incidentID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	inc, err := a.store.Incident(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	alerts, err := a.store.IncidentAlerts(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	timeline, err := a.store.Timeline(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d := IncidentDetail{IncidentView: view(inc), Alerts: alerts, Timeline: timeline}
	if a.problems != nil {
		ps, err := a.problems.IncidentProblems(r.Context(), id)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for _, p := range ps {
			d.Problems = append(d.Problems, (&incident.Problem{ID: p}).Key())
		}
	}
	if a.cmdb != nil && inc.Correlation != nil {
		cis := map[string]bool{}
		for ci := range inc.Correlation.CIs {
			cis[ci] = true
		}
		d.Maintenance = a.maintenanceOf(cis)
	}
	if d.Escalation, err = a.escalationOf(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, d)
}

func (a *API) act(action incident.Action) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, err := incidentID(r)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		req, err := decodeAction(w, r)
		if err != nil {
			if errors.Is(err, errTooLarge) {
				web.WriteError(w, r, http.StatusRequestEntityTooLarge, "", err.Error())
				return
			}
			if errors.Is(err, errMediaType) {
				web.WriteError(w, r, http.StatusUnsupportedMediaType, "", err.Error())
				return
			}
			a.fail(w, r, err)
			return
		}
		if req.Actor, err = actorOf(r, req.Actor); err != nil {
			a.fail(w, r, err)
			return
		}
		if strings.TrimSpace(req.Actor) == "" {
			a.fail(w, r, &paramError{"actor", "required: who is acting"})
			return
		}
		if action == incident.ActionNote && strings.TrimSpace(req.Message) == "" {
			a.fail(w, r, &paramError{"message", "required: the note's text"})
			return
		}
		inc, ev, err := a.store.Act(r.Context(), id, action, req.Actor, req.Message, a.clock.Now())
		var input *incident.InputError
		if errors.As(err, &input) {
			err = &paramError{"message", input.Msg}
		}
		if err != nil {
			a.fail(w, r, err)
			return
		}
		status := http.StatusOK
		if action == incident.ActionNote {
			status = http.StatusCreated
		}
		web.WriteJSON(w, status, ActionResult{Incident: view(inc), Event: ev})
	}
}

var (
	errTooLarge  = errors.New("body larger than 1 MiB")
	errMediaType = errors.New("Content-Type must be application/json")
)

func decodeAction(w http.ResponseWriter, r *http.Request) (ActionRequest, error) {
	var req ActionRequest
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return req, errMediaType
	}
	body, err := readBody(w, r)
	if err != nil {
		return req, err
	}
	return req, decodeStrict(body, &req, false, `want a JSON object {"actor": ..., "message": ...}`)
}

func (a *API) listAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f store.AlertFilter
	var err error
	if f.Fingerprint, err = textParam(q, "fingerprint"); err != nil {
		a.fail(w, r, err)
		return
	}
	if f.After, err = textParam(q, "cursor"); err != nil {
		a.fail(w, r, err)
		return
	}
	if f.Limit, err = parseLimit(q.Get("limit")); err != nil {
		a.fail(w, r, err)
		return
	}
	switch s := incident.AlertStatus(q.Get("status")); s {
	case "", incident.AlertFiring, incident.AlertResolved:
		f.Status = s
	default:
		a.fail(w, r, &paramError{"status", strconv.Quote(string(s)) + " is not firing or resolved"})
		return
	}
	if f.After != "" {
		if _, _, err := store.ParseAlertID(f.After); err != nil {
			a.fail(w, r, &paramError{"cursor", "not a cursor returned by this API"})
			return
		}
	}
	alerts, err := a.store.Alerts(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := AlertList{Alerts: alerts}
	if len(alerts) == f.Limit {
		out.NextCursor = alerts[len(alerts)-1].ID()
	}
	web.WriteJSON(w, http.StatusOK, out)
}
