package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/sla"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/timers"
)

// slaPayload is the payload of SLA threshold timers.
type slaPayload struct {
	Incident int64 `json:"incident"`
}

// history is the incident's status changes as package sla reads them.
func (rec *record) history() []sla.Change {
	out := make([]sla.Change, len(rec.History))
	for i, c := range rec.History {
		out[i] = sla.Change{At: c.At, Status: c.Status}
	}
	return out
}

// reportKey names one threshold of one clock and target, so that each is
// reported once; a new target (re-prioritisation) has new thresholds.
func reportKey(kind sla.Kind, fraction float64, target time.Duration) string {
	return fmt.Sprintf("%s/%s/%s", kind, strconv.FormatFloat(fraction, 'f', -1, 64), target)
}

// updateSLA evaluates the incident's clocks at now: it reports the
// thresholds crossed and not reported yet, and keeps one timer at each
// threshold ahead, moving or cancelling those that a pause, a stop or a
// new priority changed. firing is the key of the SLA timer being handled,
// if any (it is finishing, so it is left alone).
func (u *txn) updateSLA(inc *incident.Incident, firing string) error {
	id := u.r.IncidentID
	if u.rec.SLAStart.IsZero() {
		u.rec.SLAStart = inc.CreatedAt
	}
	pol, clocks := u.setup.SLA.Clocks(u.e.subject(inc), u.rec.SLAStart)
	history := u.rec.history()
	want := map[string]time.Time{}
	for _, c := range clocks {
		r := c.Eval(history, u.now)
		for _, th := range r.Thresholds() {
			rk := reportKey(c.Kind, th.Fraction, c.Target)
			if slices.Contains(u.rec.Reported, rk) {
				continue
			}
			if !th.At.After(u.now) {
				if err := u.report(inc, pol, c, th, rk); err != nil {
					return err
				}
				continue
			}
			want[fmt.Sprintf("%s%s/%d", slaPrefix(id), rk, th.At.UnixMicro())] = th.At
		}
	}
	pending, err := u.e.st.TimersTx(u.ctx, u.tx, store.TimerFilter{Prefix: slaPrefix(id), States: []store.TimerState{store.TimerPending}})
	if err != nil {
		return err
	}
	for _, t := range pending {
		if _, ok := want[t.Key]; !ok && t.Key != firing {
			if _, err := u.e.st.CancelTimerTx(u.ctx, u.tx, t.Key, u.now); err != nil {
				return err
			}
		}
	}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		if err := u.schedule(k, KindSLA, want[k], slaPayload{Incident: id}); err != nil {
			return err
		}
	}
	return nil
}

// report writes sla.warning or sla.breached for a threshold crossed, and
// acts on a breach as the SLA policy says.
func (u *txn) report(inc *incident.Incident, pol *sla.Policy, c sla.Clock, th sla.Threshold, rk string) error {
	u.rec.Reported = append(u.rec.Reported, rk)
	prio := incident.PriorityLabel(inc.Priority)
	calendar := ""
	if id := c.Calendar.ID(); id != "" {
		calendar = " on calendar " + id
	}
	if th.Fraction < 1 {
		if u.e.metrics != nil {
			u.e.metrics.slaWarnings.WithLabelValues(string(c.Kind), prio).Inc()
		}
		u.event(EventSLAWarning, "%s SLA (%s, %s%s): %s of the target used at %s",
			c.Kind, prio, c.Target, calendar, strconv.FormatFloat(th.Fraction*100, 'f', -1, 64)+"%", th.At.UTC().Format(time.RFC3339))
		return nil
	}
	if u.e.metrics != nil {
		u.e.metrics.slaBreaches.WithLabelValues(string(c.Kind), prio).Inc()
	}
	action, err := u.onBreach(pol.OnBreach, c.Kind, th.At)
	if err != nil {
		return err
	}
	u.event(EventSLABreached, "%s SLA (%s, %s%s) breached at %s%s", c.Kind, prio, c.Target, calendar, th.At.UTC().Format(time.RFC3339), action)
	return nil
}

// onBreach escalates to the next level (escalate) or pages the current
// level again (notify), while the incident is being paged and nobody has
// acknowledged, unless the current level was paged at or after the breach
// (its timeout ran out at the same moment): that level has only just been
// asked. It returns what it did, for the timeline.
func (u *txn) onBreach(mode sla.OnBreach, kind sla.Kind, breach time.Time) (string, error) {
	if mode != sla.OnBreachEscalate && mode != sla.OnBreachNotify {
		return "", nil
	}
	switch u.r.State {
	case StateActive, StateDelayed, StateHeld:
	default:
		return "", nil
	}
	if u.r.State != StateDelayed && !u.rec.LevelAt.Before(breach) {
		return fmt.Sprintf("; level %d was paged at the breach", u.r.Level+1), nil
	}
	pol := u.setup.Policy(u.r.Policy)
	if pol == nil {
		return "", nil
	}
	tag := "sla-" + string(kind)
	if mode == sla.OnBreachNotify && u.r.State != StateDelayed {
		// A re-page of the level; its timeout keeps running from its first
		// page, so the step timers stay.
		id, run := u.r.IncidentID, u.r.Run
		p := stepPayload{Incident: id, Run: run, Level: u.r.Level, Loop: u.r.Loop, Tag: tag}
		if err := u.schedule(stepKey(id, run, p.Level, p.Loop)+":"+tag, KindStep, u.now, p); err != nil {
			return "", err
		}
		return fmt.Sprintf("; paging level %d again", u.r.Level+1), nil
	}
	what, err := u.escalateNow(pol, tag, "")
	if what == "" || err != nil {
		return "", err // every level was paged already
	}
	return "; " + what, nil
}

// escalateNow pages the next level of the incident's policy at once
// instead of at the current level's timeout, for a breach with on_breach:
// escalate and for Escalate. While no level of this run has been paged yet
// (the route's delay runs, or level 1's page is due but has not gone out),
// that is level 1. The pending step makes way for it, and the level paged
// schedules its own timeout as usual. tag tells its step timer from others
// of that level; text goes to the people paged. It returns what it did,
// for the timeline, or "" when every level of every round was paged
// already. The caller checks that the incident is being paged (active,
// delayed or held).
func (u *txn) escalateNow(pol *PolicyConfig, tag, text string) (string, error) {
	id, run := u.r.IncidentID, u.r.Run
	p := stepPayload{Incident: id, Run: run, Text: text}
	what := "paging level 1 now"
	// step sets LevelAt when it pages; start sets StartedAt.
	pagedThisRun := !u.rec.LevelAt.IsZero() && !u.rec.LevelAt.Before(u.r.StartedAt)
	if u.r.State != StateDelayed && pagedThisRun {
		p.Level, p.Loop = nextStep(pol, u.r.Level, u.r.Loop)
		if p.Level >= len(pol.Levels) {
			return "", nil
		}
		what = fmt.Sprintf("escalating to level %d now", p.Level+1)
	}
	if err := u.cancel(stepPrefix(id)); err != nil {
		return "", err
	}
	if err := u.schedule(stepKey(id, run, p.Level, p.Loop)+":"+tag, KindStep, u.now, p); err != nil {
		return "", err
	}
	u.r.NextAt = u.now
	return what, nil
}

// nextStep is the level and loop after level of loop; a level equal to
// len(pol.Levels) means every level and repeat has been paged.
func nextStep(pol *PolicyConfig, level, loop int) (int, int) {
	next := level + 1
	if next >= len(pol.Levels) {
		if loop < pol.Repeat {
			return 0, loop + 1
		}
		return len(pol.Levels), loop
	}
	return next, loop
}

// fireSLA re-evaluates the clocks when one reaches a threshold: the clock
// may have been paused, met or given a new target since the timer was set.
func (e *Engine) fireSLA(ctx context.Context, t timers.Timer) error {
	var p slaPayload
	if err := json.Unmarshal(t.Payload, &p); err != nil || p.Incident == 0 {
		return timers.Permanent(fmt.Errorf("timer %s: bad payload %q", t.Key, t.Payload))
	}
	inc, err := e.st.Incident(ctx, p.Incident)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return e.update(ctx, p.Incident, func(u *txn) error { return u.updateSLA(inc, t.Key) })
}
