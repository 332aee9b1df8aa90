package sla

import (
	"math"
	"sort"
	"time"

	"github.com/incidentd/incidentd/incident"
)

// Kind is what a clock measures.
type Kind string

// Clock kinds: time to acknowledge (ITIL response) and time to resolve.
const (
	Acknowledge Kind = "acknowledge"
	Resolve     Kind = "resolve"
)

// State is where a clock stands.
type State string

// Clock states. A clock that reached its target while running stays
// breached whatever the incident does next; only a new target (another
// priority) can change that.
const (
	Running  State = "running"
	Paused   State = "paused"
	Met      State = "met"
	Breached State = "breached"
)

// Change is one status change of the incident, from its timeline.
type Change struct {
	At     time.Time
	Status incident.Status
}

// Clock defines one SLA clock of one incident. It holds no state: Eval
// computes the clock from the incident's history, so a restart, a replayed
// event or a new priority cannot make it drift.
type Clock struct {
	Kind Kind
	// Start is when the clock started: the incident's creation, or when its
	// SLA policy first applied. Re-prioritising keeps Start and changes
	// Target (ServiceNow's "retroactive start").
	Start  time.Time
	Target time.Duration
	// Calendar counts business time; nil is 24x7.
	Calendar *Calendar
	// WarnAt are fractions of Target in (0, 1), ascending.
	WarnAt []float64
}

// Reading is a clock evaluated at a moment.
type Reading struct {
	Kind   Kind
	State  State
	Start  time.Time
	Target time.Duration
	// Due is when the clock reaches its target. Running: when it will, if
	// nothing pauses it. Breached: when it did. Met: when it would have,
	// had it kept running after it stopped. Paused: zero, because it
	// depends on when the pause ends; on resume, Due has moved later by the
	// business time the pause took.
	Due time.Time
	// Elapsed is the business time the clock has run; Remaining is Target
	// minus Elapsed, negative once overdue.
	Elapsed   time.Duration
	Remaining time.Duration
	// Stopped is when the clock stopped (met or breached), zero while it
	// can still run.
	Stopped time.Time

	clock Clock
	// runs are the periods the clock ran, oldest first; the last one has a
	// zero end while the clock runs.
	runs []span
}

// Threshold is a moment at which the clock crosses a fraction of its
// target; the breach is the threshold at 1.0.
type Threshold struct {
	Fraction float64
	At       time.Time
}

// phase is what an incident status does to a clock.
type phase int

const (
	run phase = iota
	pause
	stop
)

func (c Clock) phase(s incident.Status, stopped bool) phase {
	switch c.Kind {
	case Acknowledge:
		// Any move out of triggered is the first response; it does not
		// pause, and a reopen does not restart it.
		if stopped || s != incident.StatusTriggered {
			return stop
		}
		return run
	default:
		// Resolve counts the time the incident is open and not on hold. A
		// reopen resumes it: time while resolved did not count, time
		// before did (iTop's stopwatches accumulate the same way).
		switch {
		case s == incident.StatusOnHold:
			return pause
		case s.Open() || !s.Valid():
			return run
		default:
			return stop
		}
	}
}

// Eval evaluates the clock at now from the incident's status changes (in
// any order; changes after now are ignored). Before the first change, the
// incident is taken to be triggered.
func (c Clock) Eval(history []Change, now time.Time) Reading {
	hs := append([]Change(nil), history...)
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].At.Before(hs[j].At) })

	status := incident.StatusTriggered
	i := 0
	for ; i < len(hs) && !hs[i].At.After(c.Start); i++ {
		status = hs[i].Status
	}
	r := Reading{Kind: c.Kind, Start: c.Start, Target: c.Target, clock: c}
	cur := c.phase(status, false)
	var stoppedAt time.Time
	if cur == run {
		r.runs = append(r.runs, span{from: c.Start})
	}
	if cur == stop {
		stoppedAt = c.Start
	}
	for ; i < len(hs) && !hs[i].At.After(now); i++ {
		next := c.phase(hs[i].Status, cur == stop && c.Kind == Acknowledge)
		if next == cur {
			continue
		}
		at := hs[i].At
		if cur == run {
			r.runs[len(r.runs)-1].to = at
		}
		if next == run {
			r.runs = append(r.runs, span{from: at})
		}
		stoppedAt = time.Time{}
		if next == stop {
			stoppedAt = at
		}
		cur = next
	}

	cal := c.Calendar
	for _, s := range r.runs {
		end := s.to
		if end.IsZero() || end.After(now) {
			end = now
		}
		r.Elapsed += cal.Elapsed(s.from, end)
	}
	r.Remaining = c.Target - r.Elapsed
	due, known := r.reach(c.Target)
	switch {
	case known && !due.After(now):
		r.State, r.Due, r.Stopped = Breached, due, stoppedAt
	case cur == stop:
		r.State, r.Stopped = Met, stoppedAt
		r.Due = cal.Add(stoppedAt, r.Remaining)
	case cur == pause:
		r.State = Paused
	default:
		r.State, r.Due = Running, due
	}
	return r
}

// reach returns the moment the clock's elapsed time reaches x, if known:
// already reached, or ahead while it runs.
func (r Reading) reach(x time.Duration) (time.Time, bool) {
	cal := r.clock.Calendar
	var sum time.Duration
	for _, s := range r.runs {
		if s.to.IsZero() {
			return cal.Add(s.from, x-sum), true
		}
		e := cal.Elapsed(s.from, s.to)
		if sum+e >= x {
			return cal.Add(s.from, x-sum), true
		}
		sum += e
	}
	return time.Time{}, false
}

// Thresholds returns the moments the clock crosses each warn_at fraction
// and its target (Fraction 1.0), ascending: those already crossed, and,
// while it runs, those ahead (until a pause or stop moves them). The
// escalation engine schedules timers for those after now and recomputes
// them on every status or priority change.
func (r Reading) Thresholds() []Threshold {
	var out []Threshold
	for _, f := range append(append([]float64(nil), r.clock.WarnAt...), 1) {
		x := r.Target
		if f != 1 {
			x = time.Duration(math.Round(f * float64(r.Target)))
		}
		if at, ok := r.reach(x); ok {
			out = append(out, Threshold{Fraction: f, At: at})
		}
	}
	return out
}
