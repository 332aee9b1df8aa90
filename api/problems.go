package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/web"
)

// ProblemStore is what the problem routes read and change.
type ProblemStore interface {
	Problems(ctx context.Context, f store.ProblemFilter) ([]*incident.Problem, error)
	Problem(ctx context.Context, id int64) (*incident.Problem, error)
	ProblemIncidents(ctx context.Context, id int64) ([]int64, error)
	ProblemTimeline(ctx context.Context, id int64) ([]incident.Event, error)
	ChangeProblem(ctx context.Context, id int64, c incident.ProblemChange, now time.Time) (*incident.Problem, incident.Event, error)
	IncidentProblems(ctx context.Context, incidentID int64) ([]int64, error)
}

// ProblemView is a problem as the API shows it.
type ProblemView struct {
	*incident.Problem
	Key string `json:"key"`
}

// ProblemList is the body of GET /api/v1/problems.
type ProblemList struct {
	Problems   []ProblemView `json:"problems"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// ProblemDetail is the body of GET /api/v1/problems/{id}.
type ProblemDetail struct {
	ProblemView
	Incidents []string         `json:"incidents"`
	Timeline  []incident.Event `json:"timeline"`
}

// ProblemStatusRequest is the body of POST /api/v1/problems/{id}/status.
type ProblemStatusRequest struct {
	Status     incident.ProblemStatus `json:"status"`
	Actor      string                 `json:"actor"`
	Workaround string                 `json:"workaround"`
	Runbook    string                 `json:"runbook"`
	Message    string                 `json:"message"`
}

func (a *API) registerProblems(mux web.Mux) {
	mux.HandleFunc("GET /api/v1/problems", a.listProblems)
	mux.HandleFunc("GET /api/v1/problems/{id}", a.getProblem)
	mux.HandleFunc("POST /api/v1/problems/{id}/status", a.changeProblem)
}

func problemView(p *incident.Problem) ProblemView { return ProblemView{Problem: p, Key: p.Key()} }

func (a *API) listProblems(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f store.ProblemFilter
	var err error
	if f.Limit, err = parseLimit(q.Get("limit")); err != nil {
		a.fail(w, r, err)
		return
	}
	for _, s := range splitList(q.Get("status")) {
		if s == "open" {
			f.Statuses = append(f.Statuses, incident.ProblemNew, incident.ProblemInvestigating, incident.ProblemKnownError)
			continue
		}
		st := incident.ProblemStatus(s)
		if !st.Open() && st != incident.ProblemResolved && st != incident.ProblemClosed {
			a.fail(w, r, &paramError{"status", strconv.Quote(s) + " is not one of open, new, investigating, known_error, resolved, closed"})
			return
		}
		f.Statuses = append(f.Statuses, st)
	}
	if c := q.Get("cursor"); c != "" {
		if f.Before, err = strconv.ParseInt(c, 10, 64); err != nil || f.Before < 1 {
			a.fail(w, r, &paramError{"cursor", "not a cursor returned by this API"})
			return
		}
	}
	ps, err := a.problems.Problems(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := ProblemList{Problems: make([]ProblemView, len(ps))}
	for i, p := range ps {
		out.Problems[i] = problemView(p)
	}
	if len(ps) == f.Limit {
		out.NextCursor = strconv.FormatInt(ps[len(ps)-1].ID, 10)
	}
	web.WriteJSON(w, http.StatusOK, out)
}

func problemID(r *http.Request) (int64, error) {
	id, err := incident.ParseProblemKey(r.PathValue("id"))
	if err != nil {
		return 0, &paramError{"id", err.Error()}
	}
	return id, nil
}

func (a *API) getProblem(w http.ResponseWriter, r *http.Request) {
	id, err := problemID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p, err := a.problems.Problem(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ids, err := a.problems.ProblemIncidents(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	tl, err := a.problems.ProblemTimeline(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d := ProblemDetail{ProblemView: problemView(p), Incidents: keys(ids), Timeline: tl}
	web.WriteJSON(w, http.StatusOK, d)
}

func keys(ids []int64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = incident.FormatKey(id)
	}
	return out
}

func (a *API) changeProblem(w http.ResponseWriter, r *http.Request) {
	id, err := problemID(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		web.WriteError(w, r, http.StatusUnsupportedMediaType, "", errMediaType.Error())
		return
	}
	var req ProblemStatusRequest
	body, err := readBody(w, r)
	if err == nil {
		err = decodeStrict(body, &req, false, `want {"status", "actor", "workaround", "runbook", "message"}`)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Actor, err = actorOf(r, req.Actor); err != nil {
		a.fail(w, r, err)
		return
	}
	p, ev, err := a.problems.ChangeProblem(r.Context(), id, incident.ProblemChange{
		Status: req.Status, Actor: req.Actor, Workaround: req.Workaround, Runbook: req.Runbook, Message: req.Message,
	}, a.clock.Now())
	var input *incident.InputError
	if errors.As(err, &input) {
		err = &paramError{"body", input.Msg}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, struct {
		Problem ProblemView    `json:"problem"`
		Event   incident.Event `json:"event"`
	}{problemView(p), ev})
}
