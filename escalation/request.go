package escalation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/store"
)

// This file takes requests from outside the timeline: a runbook's escalate
// and notify steps (the engine is the runbook engine's Pager). Each request
// has a key from the caller (the runbook run and step), so that a request
// made again, by a retried step or after a crash, does nothing more.

// Bounds on what a request writes.
const (
	// maxRequests is how many request keys an escalation record keeps;
	// repeats come within minutes, far fewer requests apart.
	maxRequests = 100
	// maxText bounds the text a notification carries.
	maxText = 8 << 10
	// maxEventText bounds the message quoted on the timeline.
	maxEventText = 1 << 10
)

// Escalate pages the next level of incident id's escalation policy now, as
// an SLA breach with on_breach: escalate does: level 1 if the route's delay
// still runs. Nothing is paged, and the timeline says why, when the
// incident is not triggered, no route matched it, a flapping alert stopped
// its paging, or every level was paged already; that is not an error. key
// identifies the request: the same key again changes nothing. message
// (optional) goes on the timeline and to the people paged; actor is who
// asks (runbook:NAME).
func (e *Engine) Escalate(ctx context.Context, id int64, key, message, actor string) error {
	if key == "" {
		return errors.New("escalate: a request needs a key")
	}
	inc, err := e.st.Incident(ctx, id)
	if err != nil {
		return err
	}
	text := "escalated by " + orActor(actor)
	if message != "" {
		text += ": " + message
	}
	text = clip(text, maxText)
	if _, err := e.escalation(ctx, id); errors.Is(err, store.ErrNotFound) {
		// Created before the engine ran: it is not the engine's to page
		// (and a record created now would start SLA clocks for the past).
		return e.record(ctx, requestEvent(id, e.clk.Now(), actor, EventEscalateRequested,
			escalateText(actor, key, "not escalated: the incident opened before escalation was turned on, and has no escalation", message)))
	} else if err != nil {
		return err
	}
	return e.update(ctx, id, func(u *txn) error {
		if slices.Contains(u.rec.Requests, key) {
			return errNoChange
		}
		u.rec.Requests = append(u.rec.Requests, key)
		if n := len(u.rec.Requests); n > maxRequests {
			u.rec.Requests = slices.Clone(u.rec.Requests[n-maxRequests:])
		}
		what, err := u.escalateOnRequest(inc, key, text)
		if err != nil {
			return err
		}
		u.events = append(u.events, requestEvent(id, u.now, actor, EventEscalateRequested, escalateText(actor, key, what, message)))
		return nil
	})
}

// escalateOnRequest escalates now if the incident is being paged, and
// says what it did or why it did nothing.
func (u *txn) escalateOnRequest(inc *incident.Incident, key, text string) (string, error) {
	if inc.Status != incident.StatusTriggered {
		return fmt.Sprintf("not escalated: the incident is %s", strings.ReplaceAll(string(inc.Status), "_", " ")), nil
	}
	switch u.r.State {
	case StateActive, StateDelayed, StateHeld:
	case "":
		return "not escalated: no escalation routes are configured", nil
	case StateUnrouted:
		return fmt.Sprintf("not escalated: no escalation route matches %s", labelText(u.e.subject(inc))), nil
	case StateExhausted:
		return fmt.Sprintf("not escalated: every level of policy %s was paged already", u.r.Policy), nil
	case StateFlapping:
		return "not escalated: a flapping alert reopened the incident, and it is not paged again", nil
	default:
		return fmt.Sprintf("not escalated: its escalation is %s", strings.ReplaceAll(u.r.State, "_", " ")), nil
	}
	pol := u.setup.Policy(u.r.Policy)
	if pol == nil {
		return fmt.Sprintf("not escalated: escalation policy %s is no longer configured", u.r.Policy), nil
	}
	what, err := u.escalateNow(pol, "req:"+key, text)
	if err != nil || what != "" {
		return what, err
	}
	return fmt.Sprintf("not escalated: every level of policy %s was paged already", pol.ID), nil
}

func escalateText(actor, key, what, message string) string {
	s := fmt.Sprintf("escalation requested by %s (%s): %s", orActor(actor), key, what)
	if message != "" {
		s += ". Message: " + clip(message, maxEventText)
	}
	return s
}

// Notify sends message to the targets in to (user:ID, schedule:ID or
// notifier:NAME, written as escalation targets are) or, without to, to the
// incident's on-call: the targets of the level of its policy being paged,
// else of level 1. Each destination gets a note (notify.EventNote) through
// its contact's notifier, delivered as pages are (retries, rate limits,
// visible in the incident's escalation), whatever the incident's status.
// PagerDuty takes no notes, so PagerDuty destinations are left out, and the
// timeline says so. An unknown or malformed target is an error and sends
// nothing. key identifies the request: the same key again sends nothing
// more. actor is who asks (runbook:NAME).
func (e *Engine) Notify(ctx context.Context, id int64, key string, to []string, message, actor string) error {
	if key == "" {
		return errors.New("notify: a request needs a key")
	}
	if strings.TrimSpace(message) == "" {
		return errors.New("notify: the message is empty")
	}
	setup := e.Setup()
	targets, err := setup.parseTargets(to)
	if err != nil {
		return err
	}
	inc, err := e.st.Incident(ctx, id)
	if err != nil {
		return err
	}
	r, err := e.escalation(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	level, loop, why := 0, 0, ""
	if len(targets) == 0 {
		targets, level, loop, why = e.onCall(setup, inc, r)
	}
	now := e.clk.Now()
	dests, notes := setup.resolve(LevelConfig{Targets: targets}, now)
	if why != "" {
		notes = append(notes, why)
	}
	var send []dest
	for _, d := range dests {
		if nf, ok := setup.Notifiers.Get(d.notifier); ok && !nf.Supports(notify.EventNote) {
			notes = append(notes, fmt.Sprintf("%s left out: %s notifiers take no notes", describe([]dest{d}), nf.Type()))
			continue
		}
		send = append(send, d)
	}
	text := clip(message, maxText)
	prefix := inc.Key() + "/" + key + "/"
	wrote := false
	err = e.st.UpdateNotifications(ctx, func(tx *sqlx.Tx) error {
		existing, err := e.st.IncidentNotificationsTx(ctx, tx, id)
		if err != nil {
			return err
		}
		for _, n := range existing {
			if strings.HasPrefix(n.Key, prefix) {
				return nil // done before
			}
		}
		for _, d := range send {
			user := d.user
			if user == "" {
				user = "-"
			}
			if _, err := e.addNotification(ctx, tx, store.Notification{
				Key: fmt.Sprintf("%s%s/%s/%d:%s", prefix, d.target, user, d.contact, d.notifier), IncidentID: id, Run: r.Run,
				Event: string(notify.EventNote), Level: level, Loop: loop, Target: d.target.String(), User: d.user,
				Notifier: d.notifier, Address: d.to, Text: text,
			}, now); err != nil {
				return err
			}
		}
		who := "nobody notified"
		if len(send) > 0 {
			who = "to " + describe(send)
		}
		if len(notes) > 0 {
			who += "; " + strings.Join(notes, "; ")
		}
		msg := fmt.Sprintf("note from %s (%s) %s: %s", orActor(actor), key, who, clip(message, maxEventText))
		wrote = true
		return e.st.RecordEventsTx(ctx, tx, []incident.Event{requestEvent(id, now, actor, EventNoteRequested, msg)})
	})
	if err == nil && wrote {
		e.st.Committed()
	}
	return err
}

// parseTargets parses and checks the targets of a notify request.
func (s *Setup) parseTargets(to []string) ([]Target, error) {
	var out []Target
	var errs []error
	for i, raw := range to {
		var t Target
		if err := t.UnmarshalScalar(strings.TrimSpace(raw)); err != nil {
			errs = append(errs, fmt.Errorf("to[%d]: %w", i, err))
			continue
		}
		switch t.Kind {
		case TargetUser:
			if _, ok := s.Directory.User(t.ID); !ok {
				errs = append(errs, fmt.Errorf("to[%d]: unknown user %q", i, t.ID))
				continue
			}
		case TargetSchedule:
			if !slices.Contains(s.Directory.Schedules(), t.ID) {
				errs = append(errs, fmt.Errorf("to[%d]: unknown schedule %q", i, t.ID))
				continue
			}
		case TargetNotifier:
			if _, ok := s.Notifiers.Get(t.ID); !ok {
				errs = append(errs, fmt.Errorf("to[%d]: unknown notifier %q", i, t.ID))
				continue
			}
		}
		out = append(out, t)
	}
	return out, errors.Join(errs...)
}

// onCall is who is on call for inc: the targets of the level its
// escalation pages (or last paged, or stopped at), else of level 1 of the
// policy of its escalation, or of the route that matches it now. why says
// why there is nobody.
func (e *Engine) onCall(setup *Setup, inc *incident.Incident, r store.Escalation) (targets []Target, level, loop int, why string) {
	policy := r.Policy
	if policy != "" {
		switch r.State {
		case StateActive, StateHeld, StateExhausted, StateAcknowledged, StateOnHold:
			level, loop = r.Level, r.Loop
		}
	} else {
		if len(setup.Config.Routes) == 0 {
			return nil, 0, 0, "no on-call: no escalation routes are configured"
		}
		sub := e.subject(inc)
		route, idx := setup.Route(sub)
		if idx < 0 {
			return nil, 0, 0, "no on-call: no escalation route matches " + labelText(sub)
		}
		policy = route.Policy
	}
	pol := setup.Policy(policy)
	if pol == nil {
		return nil, 0, 0, fmt.Sprintf("no on-call: escalation policy %s is no longer configured", policy)
	}
	if level >= len(pol.Levels) {
		level, loop = 0, 0
	}
	return pol.Levels[level].Targets, level, loop, ""
}

func requestEvent(id int64, at time.Time, actor, kind, msg string) incident.Event {
	return incident.Event{IncidentID: id, At: at, Actor: orActor(actor), Kind: kind, Message: msg}
}

func orActor(actor string) string {
	if actor == "" {
		return incident.Actor
	}
	return actor
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// escalation returns incident id's escalation row after applying the
// incident's events that the outbox consumer has not reached yet. A request
// often races the consumer: a runbook triggered by incident.triggered asks
// to escalate before the engine has handled that same event. Handle is safe
// to repeat, so the consumer's own pass later changes nothing.
func (e *Engine) escalation(ctx context.Context, id int64) (store.Escalation, error) {
	r, err := e.st.Escalation(ctx, id)
	if !errors.Is(err, store.ErrNotFound) {
		return r, err
	}
	cursor, err := e.st.Cursor(ctx, ConsumerName)
	if err != nil {
		return r, err
	}
	evs, err := e.st.Timeline(ctx, id)
	if err != nil {
		return r, err
	}
	for _, ev := range evs {
		if ev.ID > cursor {
			if err := e.Handle(ctx, ev); err != nil {
				return r, err
			}
		}
	}
	return e.st.Escalation(ctx, id)
}
