package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty/webhookv3"

	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/escalation/oncall"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/web"
)

// Limits of the on-call routes.
const (
	// MaxShiftRange caps the from..to range of a shifts request.
	MaxShiftRange = 93 * 24 * time.Hour
	// DefaultShiftRange is the range when to is not given.
	DefaultShiftRange = 7 * 24 * time.Hour
	// icalPast and icalAhead bound the iCalendar feeds around now.
	icalPast  = 30 * 24 * time.Hour
	icalAhead = 90 * 24 * time.Hour
	// maxHookBytes bounds a PagerDuty webhook body (PagerDuty's own
	// verifier reads at most 2 MiB).
	maxHookBytes = 2 << 20
)

// WithEscalation serves the on-call, silence, PagerDuty webhook and
// one-click link routes over e, and shows escalation state and SLA clocks
// in incident details.
func (a *API) WithEscalation(e *escalation.Engine) *API {
	a.escalation = e
	return a
}

func (a *API) registerEscalation(mux web.Mux) {
	mux.HandleFunc("GET /api/v1/oncall", a.onCall)
	mux.HandleFunc("GET /api/v1/schedules/{id}/shifts", a.shifts)
	mux.HandleFunc("GET /api/v1/schedules/{id}/ical", a.scheduleICal)
	mux.HandleFunc("GET /api/v1/users/{id}/ical", a.userICal)
	mux.HandleFunc("POST /api/v1/hooks/pagerduty", a.pagerDutyHook)
	mux.HandleFunc("GET "+escalation.LinkPath, a.linkPage)
	mux.HandleFunc("POST "+escalation.LinkPath, a.linkAct)
	a.registerSilences(mux)
}

// escalationOf is the escalation part of an incident's detail.
func (a *API) escalationOf(ctx context.Context, id int64) (*escalation.State, error) {
	if a.escalation == nil {
		return nil, nil
	}
	return a.escalation.IncidentState(ctx, id)
}

// OnCallEntry is who is on call in one schedule.
type OnCallEntry struct {
	Schedule string `json:"schedule"`
	// User is empty when nobody is on call.
	User string `json:"user,omitempty"`
	Name string `json:"name,omitempty"`
	// Layer counts from 1; 0 with Override.
	Layer    int  `json:"layer,omitempty"`
	Override bool `json:"override,omitempty"`
	// Since and Until bound the shift under way.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
}

// OnCallList is the body of GET /api/v1/oncall.
type OnCallList struct {
	At     time.Time     `json:"at"`
	OnCall []OnCallEntry `json:"oncall"`
}

// ShiftView is one shift.
type ShiftView struct {
	User     string    `json:"user"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	Layer    int       `json:"layer,omitempty"`
	Override bool      `json:"override,omitempty"`
}

// ShiftList is the body of GET /api/v1/schedules/{id}/shifts.
type ShiftList struct {
	Schedule string      `json:"schedule"`
	From     time.Time   `json:"from"`
	To       time.Time   `json:"to"`
	Shifts   []ShiftView `json:"shifts"`
}

func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, &paramError{name, "want an RFC 3339 time such as 2026-03-02T10:00:00Z"}
	}
	return t, nil
}

func notFound(what, id string) error {
	return &notFoundError{what + " " + id + " is not configured"}
}

type notFoundError struct{ msg string }

func (e *notFoundError) Error() string { return e.msg }

// failEsc answers engine and on-call errors, then falls back to fail.
func (a *API) failEsc(w http.ResponseWriter, r *http.Request, err error) {
	var nf *notFoundError
	var in *escalation.InputError
	switch {
	case errors.As(err, &nf):
		web.WriteError(w, r, http.StatusNotFound, "", nf.msg)
	case errors.As(err, &in):
		web.WriteError(w, r, http.StatusBadRequest, in.Field, in.Error())
	default:
		a.fail(w, r, err)
	}
}

func (a *API) onCall(w http.ResponseWriter, r *http.Request) {
	at, err := parseTimeParam(r, "at", a.clock.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	dir := a.escalation.Setup().Directory
	schedules := dir.Schedules()
	if s := r.URL.Query().Get("schedule"); s != "" {
		if _, err := dir.Location(s); err != nil {
			a.failEsc(w, r, notFound("schedule", s))
			return
		}
		schedules = []string{s}
	}
	out := OnCallList{At: at, OnCall: []OnCallEntry{}}
	for _, id := range schedules {
		e := OnCallEntry{Schedule: id}
		as, ok, err := dir.OnCall(id, at)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		if ok {
			e.User, e.Override = as.User, as.Override
			if !as.Override {
				e.Layer = as.Layer + 1
			}
			if u, ok := dir.User(as.User); ok {
				e.Name = u.Name
			}
			shifts, err := dir.Shifts(id, at, at.Add(time.Second))
			if err != nil {
				a.fail(w, r, err)
				return
			}
			for _, sh := range shifts {
				if !sh.Start.After(at) && sh.End.After(at) {
					e.Since, e.Until = sh.Start.UTC(), sh.End.UTC()
				}
			}
		}
		out.OnCall = append(out.OnCall, e)
	}
	web.WriteJSON(w, http.StatusOK, out)
}

func (a *API) shifts(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	from, err := parseTimeParam(r, "from", a.clock.Now())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	to, err := parseTimeParam(r, "to", from.Add(DefaultShiftRange))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	switch {
	case !to.After(from):
		a.fail(w, r, &paramError{"to", "must be after from"})
		return
	case to.Sub(from) > MaxShiftRange:
		a.fail(w, r, &paramError{"to", "the range is longer than 93 days: ask for less"})
		return
	}
	shifts, err := a.escalation.Setup().Directory.Shifts(id, from, to)
	if errors.Is(err, oncall.ErrNotFound) {
		a.failEsc(w, r, notFound("schedule", id))
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := ShiftList{Schedule: id, From: from, To: to, Shifts: []ShiftView{}}
	for _, sh := range shifts {
		v := ShiftView{User: sh.User, Start: sh.Start.UTC(), End: sh.End.UTC(), Override: sh.Override}
		if !sh.Override {
			v.Layer = sh.Layer + 1
		}
		out.Shifts = append(out.Shifts, v)
	}
	web.WriteJSON(w, http.StatusOK, out)
}

func (a *API) scheduleICal(w http.ResponseWriter, r *http.Request) {
	now := a.clock.Now()
	id := r.PathValue("id")
	b, err := a.escalation.Setup().Directory.ScheduleICal(id, now.Add(-icalPast), now.Add(icalAhead), now)
	a.writeICal(w, r, "schedule", id, b, err)
}

func (a *API) userICal(w http.ResponseWriter, r *http.Request) {
	now := a.clock.Now()
	id := r.PathValue("id")
	b, err := a.escalation.Setup().Directory.UserICal(id, now.Add(-icalPast), now.Add(icalAhead), now)
	a.writeICal(w, r, "user", id, b, err)
}

func (a *API) writeICal(w http.ResponseWriter, r *http.Request, what, id string, body []byte, err error) {
	if errors.Is(err, oncall.ErrNotFound) {
		a.failEsc(w, r, notFound(what, id))
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/calendar; charset=utf-8")
	w.Header().Set("Content-Disposition", `inline; filename="`+what+"-"+sanitizeFilename(id)+`.ics"`)
	w.Write(body)
}

func sanitizeFilename(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}

// pagerDutyWebhook is the part of a PagerDuty v3 webhook the API reads.
type pagerDutyWebhook struct {
	Event struct {
		EventType string `json:"event_type"`
		Agent     *struct {
			Summary string `json:"summary"`
		} `json:"agent"`
		Data struct {
			Type        string `json:"type"`
			IncidentKey string `json:"incident_key"`
			Title       string `json:"title"`
		} `json:"data"`
	} `json:"event"`
}

// HookResult is the answer to a webhook.
type HookResult struct {
	Status   string `json:"status"`
	Incident string `json:"incident,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// summaryKey finds the incident in a PagerDuty incident title made from
// incidentd's summary, "[P1] INC-12: ...".
var summaryKey = regexp.MustCompile(`^\[P[1-5]\] (INC-[0-9]+)\b`)

// pagerDutyHook takes PagerDuty v3 webhooks: an acknowledgement or a
// resolution in PagerDuty acknowledges or resolves the incident whose id
// is the PagerDuty incident's key (incidentd sends its id as dedup_key).
func (a *API) pagerDutyHook(w http.ResponseWriter, r *http.Request) {
	secrets := a.escalation.PagerDutyWebhookSecrets()
	if len(secrets) == 0 {
		web.WriteError(w, r, http.StatusNotFound, "", "PagerDuty webhooks are not configured (no webhook secret)")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHookBytes))
	if err != nil {
		web.WriteError(w, r, http.StatusRequestEntityTooLarge, "", "body larger than 2 MiB")
		return
	}
	verified := false
	for _, secret := range secrets {
		req := r.Clone(r.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		if webhookv3.VerifySignature(req, secret) == nil {
			verified = true
			break
		}
	}
	if !verified {
		web.WriteError(w, r, http.StatusUnauthorized, "", "invalid or missing X-PagerDuty-Signature")
		return
	}
	var hook pagerDutyWebhook
	if err := json.Unmarshal(body, &hook); err != nil {
		a.fail(w, r, &paramError{"body", "not a PagerDuty v3 webhook: " + err.Error()})
		return
	}
	var action incident.Action
	switch hook.Event.EventType {
	case "incident.acknowledged":
		action = incident.ActionAcknowledge
	case "incident.resolved":
		action = incident.ActionResolve
	default:
		web.WriteJSON(w, http.StatusOK, HookResult{Status: "ignored", Reason: "event " + hook.Event.EventType + " changes nothing here"})
		return
	}
	key := hook.Event.Data.IncidentKey
	id, err := incident.ParseKey(key)
	if err != nil {
		if m := summaryKey.FindStringSubmatch(hook.Event.Data.Title); m != nil {
			id, err = incident.ParseKey(m[1])
		}
	}
	if err != nil {
		web.WriteJSON(w, http.StatusOK, HookResult{Status: "ignored", Reason: "not an incidentd incident: key " + key})
		return
	}
	actor := "PagerDuty"
	if hook.Event.Agent != nil && strings.TrimSpace(hook.Event.Agent.Summary) != "" {
		actor = strings.TrimSpace(hook.Event.Agent.Summary) + " (PagerDuty)"
	}
	_, _, err = a.store.Act(r.Context(), id, action, actor, "in PagerDuty", a.clock.Now())
	switch {
	case err == nil:
		web.WriteJSON(w, http.StatusOK, HookResult{Status: string(action) + "d", Incident: incident.FormatKey(id)})
	case errors.Is(err, incident.ErrConflict):
		web.WriteJSON(w, http.StatusOK, HookResult{Status: "ignored", Incident: incident.FormatKey(id), Reason: err.Error()})
	case isNotFound(err):
		web.WriteJSON(w, http.StatusOK, HookResult{Status: "ignored", Reason: err.Error()})
	default:
		a.fail(w, r, err)
	}
}

// linkTemplate is the page behind a one-click link: GET shows it with a
// button, because mail scanners open links; the button POSTs.
var linkTemplate = template.Must(template.New("link").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{{.Title}}</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>{{.Title}}</h1>
{{if .Detail}}<p>{{.Detail}}</p>{{end}}
{{if .Token}}<form method="post" action="{{.Action}}">
<input type="hidden" name="token" value="{{.Token}}">
<button type="submit" style="font-size: 1.2em; padding: 0.4em 1.2em">{{.Button}}</button>
</form>{{end}}
</body></html>
`))

type linkPageData struct {
	Title, Detail, Token, Action, Button string
}

func (a *API) writeLinkPage(w http.ResponseWriter, status int, d linkPageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	linkTemplate.Execute(w, d)
}

// verifyLink checks a one-click token and answers the error page itself.
func (a *API) verifyLink(w http.ResponseWriter, token string) (id int64, user string, action notify.Action, ok bool) {
	signer := a.escalation.Signer()
	if signer == nil {
		a.writeLinkPage(w, http.StatusNotFound, linkPageData{Title: "One-click links are off", Detail: "Use the API or incidentctl."})
		return 0, "", "", false
	}
	subject, action, err := signer.Verify(token, a.clock.Now())
	if errors.Is(err, notify.ErrLinkExpired) {
		a.writeLinkPage(w, http.StatusGone, linkPageData{Title: "This link has expired", Detail: "Use the link of a newer message, the API or incidentctl."})
		return 0, "", "", false
	}
	if err != nil {
		a.writeLinkPage(w, http.StatusForbidden, linkPageData{Title: "This link is not valid"})
		return 0, "", "", false
	}
	key, user := escalation.ParseLinkSubject(subject)
	id, err = incident.ParseKey(key)
	if err != nil {
		a.writeLinkPage(w, http.StatusForbidden, linkPageData{Title: "This link is not valid"})
		return 0, "", "", false
	}
	return id, user, action, true
}

func (a *API) linkPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	id, _, action, ok := a.verifyLink(w, token)
	if !ok {
		return
	}
	inc, err := a.store.Incident(r.Context(), id)
	if err != nil {
		a.writeLinkPage(w, http.StatusNotFound, linkPageData{Title: incident.FormatKey(id) + " not found"})
		return
	}
	verb := "Acknowledge"
	if action == notify.ActionResolve {
		verb = "Resolve"
	}
	a.writeLinkPage(w, http.StatusOK, linkPageData{
		Title:  verb + " " + inc.Key() + "?",
		Detail: "[" + incident.PriorityLabel(inc.Priority) + "] " + inc.Title + " (" + string(inc.Status) + ")",
		Token:  token, Action: escalation.LinkPath, Button: verb + " " + inc.Key(),
	})
}

func (a *API) linkAct(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	token := r.FormValue("token")
	id, user, action, ok := a.verifyLink(w, token)
	if !ok {
		return
	}
	act := incident.ActionAcknowledge
	if action == notify.ActionResolve {
		act = incident.ActionResolve
	}
	actor := user
	if actor == "" {
		actor = "one-click link"
	}
	inc, _, err := a.store.Act(r.Context(), id, act, actor, "by one-click link", a.clock.Now())
	switch {
	case err == nil:
		a.writeLinkPage(w, http.StatusOK, linkPageData{Title: inc.Key() + " " + string(inc.Status) + " by " + actor})
	case errors.Is(err, incident.ErrConflict):
		a.writeLinkPage(w, http.StatusConflict, linkPageData{Title: "Nothing to do", Detail: err.Error()})
	case isNotFound(err):
		a.writeLinkPage(w, http.StatusNotFound, linkPageData{Title: incident.FormatKey(id) + " not found"})
	default:
		a.log.Error("one-click link failed", "request_id", web.RequestID(r.Context()), "err", err)
		a.writeLinkPage(w, http.StatusServiceUnavailable, linkPageData{Title: "Try again later", Detail: "The store is unavailable."})
	}
}
