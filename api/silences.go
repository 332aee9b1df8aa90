package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/web"
)

// SilenceRequest is the body of POST /api/v1/silences.
type SilenceRequest struct {
	// Matchers is an Alertmanager matcher list over the incident's labels
	// plus priority, ci, ci_class and team, e.g. {team="shop"}.
	Matchers string `json:"matchers"`
	// Start defaults to now.
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end"`
	// Duration sets End from Start when End is not given ("2h", Go syntax).
	Duration  string `json:"duration,omitempty"`
	Comment   string `json:"comment"`
	CreatedBy string `json:"created_by"`
}

// SilenceView is a silence as the API shows it.
type SilenceView struct {
	ID       int64     `json:"id"`
	Matchers string    `json:"matchers"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	// State is pending (not started), active or expired, now.
	State     string    `json:"state"`
	Comment   string    `json:"comment,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
}

// SilenceList is the body of GET /api/v1/silences.
type SilenceList struct {
	Silences []SilenceView `json:"silences"`
}

func (a *API) registerSilences(mux web.Mux) {
	mux.HandleFunc("GET /api/v1/silences", a.listSilences)
	mux.HandleFunc("POST /api/v1/silences", a.addSilence)
	mux.HandleFunc("DELETE /api/v1/silences/{id}", a.expireSilence)
}

func (a *API) silenceView(s store.Silence) SilenceView {
	now := a.clock.Now()
	state := "active"
	switch {
	case !s.EndsAt.After(now):
		state = "expired"
	case s.StartsAt.After(now):
		state = "pending"
	}
	return SilenceView{ID: s.ID, Matchers: s.Matchers, StartsAt: s.StartsAt, EndsAt: s.EndsAt, State: state,
		Comment: s.Comment, CreatedBy: s.CreatedBy, CreatedAt: s.CreatedAt}
}

func (a *API) listSilences(w http.ResponseWriter, r *http.Request) {
	all := false
	switch v := r.URL.Query().Get("all"); v {
	case "", "false", "0":
	case "true", "1":
		all = true
	default:
		a.fail(w, r, &paramError{"all", strconv.Quote(v) + " is not true or false"})
		return
	}
	ss, err := a.escalation.Silences(r.Context(), all)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := SilenceList{Silences: []SilenceView{}}
	for _, s := range ss {
		out.Silences = append(out.Silences, a.silenceView(s))
	}
	web.WriteJSON(w, http.StatusOK, out)
}

func (a *API) addSilence(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		web.WriteError(w, r, http.StatusUnsupportedMediaType, "", errMediaType.Error())
		return
	}
	var req SilenceRequest
	body, err := readBody(w, r)
	if err == nil {
		err = decodeStrict(body, &req, false, `want {"matchers", "end" or "duration", "start", "comment", "created_by"}`)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if req.CreatedBy, err = actorOf(r, req.CreatedBy); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Duration != "" {
		if !req.End.IsZero() {
			a.fail(w, r, &paramError{"duration", "give end or duration, not both"})
			return
		}
		d, err := time.ParseDuration(req.Duration)
		if err != nil || d <= 0 {
			a.fail(w, r, &paramError{"duration", "want a positive duration such as 2h or 30m"})
			return
		}
		start := req.Start
		if start.IsZero() {
			start = a.clock.Now()
		}
		req.Start, req.End = start, start.Add(d)
	}
	s, err := a.escalation.AddSilence(r.Context(), escalation.SilenceRequest{
		Matchers: req.Matchers, Start: req.Start, End: req.End, Comment: req.Comment, CreatedBy: req.CreatedBy,
	})
	if err != nil {
		a.failEsc(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusCreated, a.silenceView(s))
}

func (a *API) expireSilence(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		a.fail(w, r, &paramError{"id", "not a silence id"})
		return
	}
	s, err := a.escalation.ExpireSilence(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, a.silenceView(s))
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }
