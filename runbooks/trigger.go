package runbooks

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/incidentd/incidentd/incident"
)

// TriggerKind says what starts a run.
type TriggerKind string

// Trigger kinds.
const (
	TriggerEvent    TriggerKind = "event"
	TriggerSchedule TriggerKind = "schedule"
	TriggerManual   TriggerKind = "manual"
)

// Events are the events a trigger's `on` may name.
var Events = []string{
	"incident.triggered", "incident.acknowledged", "incident.resolved",
	"incident.priority_changed", "incident.root_cause_changed",
	"alert.firing", "alert.resolved",
	"sla.warning", "sla.breached",
	"problem.opened",
}

// Trigger is one way a runbook starts.
type Trigger struct {
	Kind TriggerKind
	// Index is the trigger's position in the runbook's triggers list.
	Index int

	// Event (event triggers) is one of Events; Match filters the event's
	// labels (MatchLabels); an empty Match matches every event.
	Event string
	Match incident.Matchers

	// Schedule (schedule triggers) is the cron spec as written, in
	// Location (UTC unless timezone says otherwise).
	Schedule string
	Location *time.Location
	sched    cron.Schedule

	Line, Column int
}

// Matches reports whether an event with the given labels starts a run
// through this trigger.
func (t *Trigger) Matches(event string, lset map[string]string) bool {
	if t.Kind != TriggerEvent || t.Event != event {
		return false
	}
	return t.Match.Matches(lset)
}

// Next returns the first tick of a schedule trigger strictly after t, in
// t's location; zero for other triggers. Ticks fall on whole minutes (or
// hours, days, for descriptors), so replicas agree on them and the engine
// can key a tick's run by runbook, trigger index and tick time.
//
// Across daylight-saving changes it does what robfig/cron does: ticks keep
// their wall-clock time (09:00 stays 09:00 local), a wall time that does
// not exist (02:30 on the spring-forward night in Berlin) gets no tick that
// day, and a wall time that exists twice (02:30 on the fall-back night)
// gets a tick at each occurrence.
func (t *Trigger) Next(after time.Time) time.Time {
	if t.sched == nil {
		return time.Time{}
	}
	return t.sched.Next(after).In(after.Location())
}

// parseSchedule reads a standard five-field cron spec or a descriptor
// (@hourly, @daily, @weekly, @monthly, @yearly, @midnight, @annually) in
// the time zone tz ("" is UTC).
func parseSchedule(spec, tz string) (cron.Schedule, *time.Location, error) {
	loc := time.UTC
	if tz != "" {
		if tz == "Local" {
			return nil, nil, fmt.Errorf("timezone %q depends on the machine: name a zone such as Europe/Berlin or UTC", tz)
		}
		l, err := time.LoadLocation(tz)
		if err != nil {
			return nil, nil, fmt.Errorf("unknown timezone %q: want an IANA name such as Europe/Berlin or UTC", tz)
		}
		loc = l
	}
	s := strings.TrimSpace(spec)
	switch {
	case s == "":
		return nil, nil, fmt.Errorf("empty schedule")
	case strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ="):
		return nil, nil, fmt.Errorf("set the zone with timezone, not in the schedule")
	case strings.HasPrefix(s, "@every"):
		return nil, nil, fmt.Errorf("@every is not supported: its ticks depend on when the daemon started, so replicas would not agree; use a cron spec such as */5 * * * *")
	case strings.HasPrefix(s, "@"):
		if !slices.Contains([]string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}, s) {
			return nil, nil, fmt.Errorf("unknown descriptor %q: want @hourly, @daily, @weekly, @monthly or @yearly", s)
		}
	}
	sched, err := cron.ParseStandard("CRON_TZ=" + loc.String() + " " + s)
	if err != nil {
		return nil, nil, fmt.Errorf("invalid schedule %q: %v (want 5 fields: minute hour day-of-month month day-of-week)", spec, err)
	}
	return sched, loc, nil
}
