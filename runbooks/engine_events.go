package runbooks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/timers"
)

// Handle is the engine's outbox handler. An event that a trigger matches
// starts a run of each runbook it matches, once: the run's idempotency key
// is the event id and the runbook. Any change of an incident also re-checks
// the `wait: {until}` steps of its runs. Safe to repeat.
func (e *Engine) Handle(ctx context.Context, ev incident.Event) error {
	if strings.HasPrefix(ev.Kind, "runbook.") {
		return nil // the engine's own record
	}
	if ev.IncidentID != 0 && hasUntilWaits(e.Library()) {
		if err := e.recheckWaits(ctx, ev); err != nil {
			return err
		}
	}
	if !slices.Contains(Events, ev.Kind) {
		return nil
	}
	lib := e.Library()
	if !listens(lib.Set, ev.Kind) {
		return nil
	}
	incID := ev.IncidentID
	if ev.Kind == incident.EventProblemOpened && incID == 0 && ev.ProblemID != 0 {
		// A problem's runs work on its latest incident.
		ids, err := e.st.ProblemIncidents(ctx, ev.ProblemID)
		if err != nil {
			return err
		}
		for _, id := range ids {
			incID = max(incID, id)
		}
	}
	if incID == 0 {
		return nil // alerts without an incident (suppressed, unknown) start nothing
	}
	inc, err := e.st.Incident(ctx, incID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	// Matchers see the alert's labels for alert events; the CI is the
	// root cause, else the alert's, else the first alert's that has one.
	// Only the alert the event names is read, not the incident's alerts,
	// which an alert storm makes many.
	labels := inc.Labels
	var alerts []*incident.Alert
	if strings.HasPrefix(ev.Kind, "alert.") && ev.AlertID != "" {
		if a, err := e.alert(ctx, ev.AlertID); err != nil {
			return err
		} else if a != nil {
			labels, alerts = a.Labels, []*incident.Alert{a}
		}
	}
	if inc.RootCause == "" && (len(alerts) == 0 || alerts[0].CI == "") && e.opts.CI != nil {
		if alerts, err = e.st.IncidentAlerts(ctx, incID); err != nil {
			return err
		}
	}
	lset := MatchLabels(labels, NewIncident(inc), e.ciOf(inc, alerts))
	for _, rb := range lib.Set.ForEvent(ev.Kind, lset) {
		run, created, err := e.create(ctx, lib, rb, newRun{
			trigger: ev.Kind, event: ev.ID, incidentID: incID,
			key: fmt.Sprintf("event:%d:%s", ev.ID, rb.Name),
		})
		if err != nil {
			return fmt.Errorf("runbook %s for event %d: %w", rb.Name, ev.ID, err)
		}
		if created {
			e.log.Info("runbook run created", "run", run.ID, "runbook", rb.Name, "event", ev.Kind, "incident", incident.FormatKey(incID), "status", run.Status)
		}
	}
	return nil
}

// listens reports whether a runbook of set has a trigger on event.
func listens(set *Set, event string) bool {
	for _, rb := range set.All() {
		for _, t := range rb.Triggers {
			if t.Kind == TriggerEvent && t.Event == event {
				return true
			}
		}
	}
	return false
}

// alert reads one alert occurrence by its id (FINGERPRINT-SEQ); nil if it
// is gone.
func (e *Engine) alert(ctx context.Context, id string) (*incident.Alert, error) {
	fp, _, err := store.ParseAlertID(id)
	if err != nil {
		return nil, nil
	}
	occ, err := e.st.Alerts(ctx, store.AlertFilter{Fingerprint: fp, Limit: 1000})
	if err != nil {
		return nil, err
	}
	for _, a := range occ {
		if a.ID() == id {
			return a, nil
		}
	}
	return nil, nil
}

// recheckWaits schedules, for every wait step with a condition on runs of
// the event's incident, a check now.
// hasUntilWaits reports whether a runbook of lib waits on a condition.
// Without one, events need no look for waiting steps: an alert storm then
// costs the engine no query per event. A run still following an older
// text with such a wait re-checks on its interval.
func hasUntilWaits(lib *Library) bool {
	for _, rb := range lib.Set.All() {
		for _, steps := range [][]*Step{rb.Steps, rb.OnFailure} {
			for _, st := range steps {
				if st.Wait != nil && st.Wait.Until != nil {
					return true
				}
			}
		}
	}
	return false
}

func (e *Engine) recheckWaits(ctx context.Context, ev incident.Event) error {
	waits, err := e.runs.OpenSteps(ctx, ev.IncidentID, string(KindWait), store.StepWaiting)
	if err != nil {
		return err
	}
	now := e.clk.Now()
	for _, w := range waits {
		p := payload{Run: w.Run.ID, Step: w.Step.StepID, Attempt: w.Step.Attempts, Op: "event"}
		key := waitKey(w.Run.ID, w.Step.StepID, w.Step.Attempts, fmt.Sprintf("event:%d", ev.ID))
		if _, err := e.st.ScheduleTimer(ctx, e.timer(timerWait, key, now, p), now); err != nil {
			return err
		}
	}
	return nil
}

// scheduleCron schedules the next tick of every schedule trigger of lib.
// Replicas agree on tick times, so they schedule the same timer keys and
// each tick fires once.
func (e *Engine) scheduleCron(ctx context.Context, lib *Library) error {
	now := e.clk.Now()
	var errs []error
	for _, rb := range lib.Set.All() {
		for _, t := range rb.Triggers {
			if t.Kind != TriggerSchedule {
				continue
			}
			if err := e.scheduleTick(ctx, rb, t, now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (e *Engine) scheduleTick(ctx context.Context, rb *Runbook, t *Trigger, after time.Time) error {
	tick := t.Next(after.In(t.Location))
	if tick.IsZero() {
		return nil
	}
	p := payload{Runbook: rb.Name, Trigger: t.Index, Schedule: t.Schedule, Timezone: t.Location.String(), Tick: tick.UTC()}
	_, err := e.st.ScheduleTimer(ctx, e.timer(timerCron, cronKey(rb.Name, t.Index, tick), tick, p), e.clk.Now())
	return err
}

// onCron starts the run of one tick, if the runbook still has that
// schedule, and schedules its next tick. Ticks missed while no replica
// ran are not made up: the next tick is the first after now.
func (e *Engine) onCron(ctx context.Context, tm timers.Timer) error {
	p, err := decode(tm)
	if err != nil {
		return err
	}
	lib := e.Library()
	rb, ok := lib.Set.Get(p.Runbook)
	if !ok || p.Trigger >= len(rb.Triggers) {
		return nil
	}
	t := rb.Triggers[p.Trigger]
	if t.Kind != TriggerSchedule || t.Schedule != p.Schedule || t.Location.String() != p.Timezone {
		return nil // the schedule changed: its new ticks have their own timers
	}
	if _, _, err := e.create(ctx, lib, rb, newRun{
		trigger: string(TriggerSchedule), key: cronKey(rb.Name, t.Index, p.Tick),
	}); err != nil {
		return err
	}
	after := e.clk.Now()
	if after.Before(p.Tick) {
		after = p.Tick
	}
	return e.scheduleTick(ctx, rb, t, after)
}
