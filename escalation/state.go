package escalation

import (
	"context"
	"errors"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
)

// State is an incident's escalation and SLA clocks, as the API shows them.
// Levels and rounds count from 1, as on the timeline.
type State struct {
	// Policy and Route (from 1) say which route picked which policy;
	// empty when none did.
	Policy string `json:"policy,omitempty"`
	Route  int    `json:"route,omitempty"`
	// State is unrouted, delayed, active, held, exhausted, flapping,
	// acknowledged, on_hold or resolved ("" before any escalation).
	State string `json:"state"`
	// Run counts escalations of the incident (reopens and acknowledgement
	// timeouts start new ones).
	Run   int `json:"run"`
	Level int `json:"level,omitempty"`
	Round int `json:"round,omitempty"`
	// NextStepAt is when the next level is paged, or when the incident is
	// triggered again after an acknowledgement (ack_timeout).
	NextStepAt time.Time `json:"next_step_at,omitzero"`
	// Held says why the last page was held back (a silence, maintenance).
	Held          string             `json:"held,omitempty"`
	Notifications []NotificationView `json:"notifications"`
	SLA           []ClockView        `json:"sla,omitempty"`
}

// NotificationView is one notification.
type NotificationView struct {
	ID       string `json:"id"`
	Event    string `json:"event"`
	Run      int    `json:"run"`
	Level    int    `json:"level"`
	Round    int    `json:"round"`
	Target   string `json:"target"`
	User     string `json:"user,omitempty"`
	Notifier string `json:"notifier"`
	Address  string `json:"address,omitempty"`
	// Text is the message the notification carries (a note, or why a
	// runbook escalated).
	Text      string    `json:"text,omitempty"`
	State     string    `json:"state"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	SentAt    time.Time `json:"sent_at,omitzero"`
}

// ClockView is one SLA clock evaluated now.
type ClockView struct {
	Kind     string `json:"kind"`
	State    string `json:"state"`
	Target   string `json:"target"`
	Calendar string `json:"calendar,omitempty"`
	// Policy is the index (from 0) of the SLA policy in sla.policies.
	Policy int       `json:"policy"`
	Start  time.Time `json:"start"`
	// Due is empty while paused.
	Due              time.Time `json:"due,omitzero"`
	TargetSeconds    float64   `json:"target_seconds"`
	ElapsedSeconds   float64   `json:"elapsed_seconds"`
	RemainingSeconds float64   `json:"remaining_seconds"`
	Stopped          time.Time `json:"stopped,omitzero"`
}

// IncidentState returns the escalation and SLA clocks of incident id, or
// nil if the engine has not seen the incident.
func (e *Engine) IncidentState(ctx context.Context, id int64) (*State, error) {
	r, err := e.st.Escalation(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rec, err := decodeRecord(&r)
	if err != nil {
		return nil, err
	}
	inc, err := e.st.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	ns, err := e.st.IncidentNotifications(ctx, id)
	if err != nil {
		return nil, err
	}
	s := &State{Policy: r.Policy, State: r.State, Run: r.Run, NextStepAt: r.NextAt, Held: rec.Held, Notifications: []NotificationView{}}
	if r.Route >= 0 && r.Policy != "" {
		s.Route = r.Route + 1
	}
	if r.Policy != "" && r.Run > 0 {
		s.Level, s.Round = r.Level+1, r.Loop+1
	}
	for _, n := range ns {
		s.Notifications = append(s.Notifications, NotificationView{
			ID: n.Key, Event: n.Event, Run: n.Run, Level: n.Level + 1, Round: n.Loop + 1, Target: n.Target, User: n.User,
			Notifier: n.Notifier, Address: n.Address, Text: n.Text, State: string(n.State), Attempts: n.Attempts, LastError: n.LastError,
			CreatedAt: n.CreatedAt, SentAt: n.SentAt,
		})
	}
	start := rec.SLAStart
	if start.IsZero() {
		start = inc.CreatedAt
	}
	pol, clocks := e.Setup().SLA.Clocks(e.subject(inc), start)
	now := e.clk.Now()
	for _, c := range clocks {
		rd := c.Eval(rec.history(), now)
		s.SLA = append(s.SLA, ClockView{
			Kind: string(rd.Kind), State: string(rd.State), Target: rd.Target.String(), Calendar: c.Calendar.ID(), Policy: pol.Index,
			Start: rd.Start, Due: rd.Due, TargetSeconds: rd.Target.Seconds(), ElapsedSeconds: rd.Elapsed.Seconds(),
			RemainingSeconds: rd.Remaining.Seconds(), Stopped: rd.Stopped,
		})
	}
	return s, nil
}

// Subject returns what route, silence and SLA matchers see of inc.
func (e *Engine) Subject(inc *incident.Incident) incident.Subject { return e.subject(inc) }
