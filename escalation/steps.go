package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/timers"
)

// stepPayload is the payload of step and ack-timeout timers.
type stepPayload struct {
	Incident int64 `json:"incident"`
	Run      int   `json:"run"`
	Level    int   `json:"level"`
	Loop     int   `json:"loop"`
	// Tag makes the notification keys of a re-page (on_breach: notify)
	// differ from the level's first page.
	Tag string `json:"tag,omitempty"`
	// Text goes to the people the step pages: why a runbook escalated.
	Text string `json:"text,omitempty"`
}

func decodeStep(t timers.Timer) (stepPayload, error) {
	var p stepPayload
	if err := json.Unmarshal(t.Payload, &p); err != nil || p.Incident == 0 {
		return p, timers.Permanent(fmt.Errorf("timer %s: bad payload %q", t.Key, t.Payload))
	}
	return p, nil
}

// fireStep pages one level of an incident's policy and schedules the next.
func (e *Engine) fireStep(ctx context.Context, t timers.Timer) error {
	p, err := decodeStep(t)
	if err != nil {
		return err
	}
	inc, err := e.st.Incident(ctx, p.Incident)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if inc.Status != incident.StatusTriggered {
		// Acknowledged, on hold or resolved since: the status change
		// stops the escalation (and has cancelled this timer, or will).
		return nil
	}
	h, err := e.hold(ctx, inc, e.clk.Now())
	if err != nil {
		return err
	}
	return e.update(ctx, p.Incident, func(u *txn) error {
		if u.r.Run != p.Run {
			return errNoChange
		}
		switch u.r.State {
		case StateDelayed, StateActive, StateHeld:
		default:
			return errNoChange
		}
		// Another handler of this incident (an acknowledgement, an SLA
		// breach escalating) may have cancelled this timer while it was
		// claimed; updates of one incident take turns, so it shows now.
		if current, err := e.st.TimerTx(ctx, u.tx, t.Key); err != nil || current.State != store.TimerPending || current.Version != t.Version {
			return errNoChange
		}
		return u.step(inc, p, h)
	})
}

// step pages level p.Level of loop p.Loop, unless a silence or maintenance
// holds it back, and schedules what comes next.
func (u *txn) step(inc *incident.Incident, p stepPayload, h hold) error {
	id := u.r.IncidentID
	pol := u.setup.Policy(u.r.Policy)
	if pol == nil {
		u.r.State, u.r.NextAt = StateExhausted, time.Time{}
		u.event(EventStopped, "escalation policy %s is no longer configured: escalation stopped", u.r.Policy)
		return nil
	}
	if p.Level >= len(pol.Levels) {
		u.r.State, u.r.NextAt = StateExhausted, time.Time{}
		times := "once"
		if pol.Repeat > 0 {
			times = strconv.Itoa(pol.Repeat+1) + " times"
		}
		u.event(EventExhausted, "nobody acknowledged: every level of policy %s was paged %s", pol.ID, times)
		return nil
	}
	if h.why != "" {
		u.r.State, u.r.NextAt = StateHeld, h.until
		if u.rec.Held != h.why {
			u.rec.Held = h.why
			u.event(EventHeld, "level %d not paged: %s; paging resumes at %s if the incident is still triggered", p.Level+1, h.why, h.until.UTC().Format(time.RFC3339))
		}
		return u.schedule(stepKey(id, p.Run, p.Level, p.Loop)+":held:"+h.key, KindStep, h.until, p)
	}
	resumed := ""
	if u.rec.Held != "" {
		resumed = " (no longer held back)"
		u.rec.Held = ""
	}
	level := pol.Levels[p.Level]
	dests, notes := u.setup.resolve(level, u.now)
	event := notify.EventEscalate
	if p.Level == 0 && p.Loop == 0 && p.Tag == "" {
		event = notify.EventTrigger
	}
	tag := ""
	if p.Tag != "" {
		tag = "/" + p.Tag
	}
	for _, d := range dests {
		user := d.user
		if user == "" {
			user = "-"
		}
		key := fmt.Sprintf("%s/r%d/l%d/o%d/%s/%s/%d:%s%s", inc.Key(), p.Run, p.Level, p.Loop, d.target, user, d.contact, d.notifier, tag)
		if err := u.notify(store.Notification{
			Key: key, IncidentID: id, Run: p.Run, Event: string(event), Level: p.Level, Loop: p.Loop,
			Target: d.target.String(), User: d.user, Notifier: d.notifier, Address: d.to, Text: p.Text,
		}); err != nil {
			return err
		}
	}
	where := fmt.Sprintf("level %d", p.Level+1)
	if pol.Repeat > 0 {
		where += fmt.Sprintf(" (round %d of %d)", p.Loop+1, pol.Repeat+1)
	}
	if p.Tag != "" {
		where += " again"
	}
	who := describe(dests)
	if who == "" {
		who = "nobody to page"
	} else {
		who = "paging " + who
	}
	if len(notes) > 0 {
		who += "; " + strings.Join(notes, "; ")
	}
	u.event(EventPaged, "%s%s: %s", where, resumed, who)
	if u.e.metrics != nil && p.Loop == 0 && p.Tag == "" {
		u.e.metrics.levelReached.WithLabelValues(pol.ID, strconv.Itoa(p.Level+1)).Inc()
	}
	u.r.State, u.r.Level, u.r.Loop = StateActive, p.Level, p.Loop
	u.rec.LevelAt = u.now
	if p.Tag != "" {
		return nil // a re-page: the level's timeout already runs
	}
	next, loop := nextStep(pol, p.Level, p.Loop)
	due := u.now.Add(time.Duration(level.Timeout))
	u.r.NextAt = due
	return u.schedule(stepKey(id, p.Run, next, loop), KindStep, due, stepPayload{Incident: id, Run: p.Run, Level: next, Loop: loop})
}

// dest is one destination of a page.
type dest struct {
	target   Target
	user     string
	notifier string
	to       string
	contact  int
}

// resolve expands a level's targets into destinations at t: a schedule to
// whoever is on call then, a user to their contacts, a notifier to itself.
// A destination reached twice is paged once. notes say which targets
// reached nobody.
func (s *Setup) resolve(l LevelConfig, t time.Time) (dests []dest, notes []string) {
	seen := map[string]bool{}
	add := func(d dest) {
		k := d.notifier + "\x00" + d.user + "\x00" + d.to
		if !seen[k] {
			seen[k] = true
			dests = append(dests, d)
		}
	}
	addUser := func(target Target, id string) {
		u, ok := s.Directory.User(id)
		if !ok {
			notes = append(notes, fmt.Sprintf("%s: unknown user %q", target, id))
			return
		}
		for i, c := range u.Contacts {
			add(dest{target: target, user: id, notifier: c.Notifier, to: c.To, contact: i})
		}
	}
	for _, target := range l.Targets {
		switch target.Kind {
		case TargetSchedule:
			a, ok, err := s.Directory.OnCall(target.ID, t)
			switch {
			case err != nil:
				notes = append(notes, fmt.Sprintf("%s: %v", target, err))
			case !ok:
				notes = append(notes, target.String()+" has nobody on call")
			default:
				addUser(target, a.User)
			}
		case TargetUser:
			addUser(target, target.ID)
		case TargetNotifier:
			add(dest{target: target, notifier: target.ID})
		}
	}
	return dests, notes
}

// describe lists destinations for the timeline: "alice by mail, ops-webhook
// (schedule:shop-primary); pagerduty-shop".
func describe(dests []dest) string {
	var parts []string
	index := map[string]int{}
	var order []string
	by := map[string][]string{}
	for _, d := range dests {
		k := d.target.String() + "\x00" + d.user
		if _, ok := index[k]; !ok {
			index[k] = len(order)
			order = append(order, k)
		}
		via := d.notifier
		if d.to != "" {
			via += " " + d.to
		}
		by[k] = append(by[k], via)
	}
	for _, k := range order {
		target, user, _ := strings.Cut(k, "\x00")
		if user == "" {
			parts = append(parts, strings.Join(by[k], ", "))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s by %s (%s)", user, strings.Join(by[k], ", "), target))
	}
	return strings.Join(parts, "; ")
}

// fireAckTimeout re-triggers an incident acknowledged too long ago.
func (e *Engine) fireAckTimeout(ctx context.Context, t timers.Timer) error {
	p, err := decodeStep(t)
	if err != nil {
		return err
	}
	r, err := e.st.Escalation(ctx, p.Incident)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Run != p.Run || r.State != StateAcknowledged {
		return nil
	}
	inc, err := e.st.Incident(ctx, p.Incident)
	if err != nil {
		return err
	}
	timeout := ""
	if pol := e.Setup().Policy(r.Policy); pol != nil {
		timeout = " within " + time.Duration(pol.AckTimeout).String()
	}
	_, err = e.st.RetriggerIncident(ctx, p.Incident, incident.Event{
		At: e.clk.Now(), Actor: incident.Actor, Kind: EventRetriggered,
		Message: fmt.Sprintf("acknowledged by %s but not resolved%s: triggered again", inc.AcknowledgedBy, timeout),
	})
	return err
}

func sortStrings(s []string) { sort.Strings(s) }
