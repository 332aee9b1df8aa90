package sla

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/strictyaml"
)

// Config is the sla section of the daemon configuration.
type Config struct {
	Calendars []CalendarConfig `yaml:"calendars"`
	// Policies are tried in order; the first whose matcher fits the
	// incident applies.
	Policies []PolicyConfig `yaml:"policies"`
}

// PolicyConfig is one entry of sla.policies.
type PolicyConfig struct {
	// Match is an Alertmanager matcher list over the incident's labels plus
	// priority (P1..P5), ci, ci_class and team; empty or {} matches all.
	Match string `yaml:"match"`
	// Targets maps P1..P5 to targets; a priority not listed gets no SLA
	// from this policy.
	Targets  map[string]TargetConfig `yaml:"targets"`
	WarnAt   []float64               `yaml:"warn_at"`
	OnBreach OnBreach                `yaml:"on_breach"`
}

// TargetConfig sets the targets of one priority.
type TargetConfig struct {
	Acknowledge strictyaml.Duration `yaml:"acknowledge"`
	Resolve     strictyaml.Duration `yaml:"resolve"`
	// Calendar names a calendar of sla.calendars; empty is 24x7.
	Calendar string `yaml:"calendar"`
}

// OnBreach says what the escalation engine does, besides writing an
// sla.breached event, when a clock breaches.
type OnBreach string

// What to do on a breach.
const (
	// OnBreachNone only writes the event (runbooks can act on it).
	OnBreachNone OnBreach = "none"
	// OnBreachNotify notifies the current escalation level again.
	OnBreachNotify OnBreach = "notify"
	// OnBreachEscalate jumps to the next escalation level.
	OnBreachEscalate OnBreach = "escalate"
)

// Rules are the compiled sla section.
type Rules struct {
	Calendars map[string]*Calendar
	Policies  []*Policy
}

// Policy is one compiled policy.
type Policy struct {
	// Index is the policy's position in sla.policies.
	Index    int
	Matchers incident.Matchers
	// Targets is indexed by priority (1..5); index 0 is unused.
	Targets  [6]*Target
	WarnAt   []float64
	OnBreach OnBreach
}

// Target is one priority's targets; a zero duration means no clock.
type Target struct {
	Acknowledge time.Duration
	Resolve     time.Duration
	// Calendar is nil for 24x7.
	Calendar *Calendar
}

// Subject is what a policy matcher sees of an incident.
type Subject = incident.Subject

// Match returns the first policy whose matcher fits s, or nil.
func (r *Rules) Match(s Subject) *Policy {
	if r == nil {
		return nil
	}
	ls := s.LabelSet()
	for _, p := range r.Policies {
		if p.Matchers.Matches(ls) {
			return p
		}
	}
	return nil
}

// Clocks returns the incident's clocks, started at start: those the first
// matching policy sets for the incident's priority (none if that policy
// has no target for it), and the policy itself. Call it again after a
// priority change, with the same start, and evaluate the new clocks over
// the same history: elapsed time carries over and only the targets change.
func (r *Rules) Clocks(s Subject, start time.Time) (*Policy, []Clock) {
	p := r.Match(s)
	if p == nil || s.Priority < 1 || s.Priority >= len(p.Targets) || p.Targets[s.Priority] == nil {
		return p, nil
	}
	t := p.Targets[s.Priority]
	var out []Clock
	for _, k := range []struct {
		kind Kind
		d    time.Duration
	}{{Acknowledge, t.Acknowledge}, {Resolve, t.Resolve}} {
		if k.d > 0 {
			out = append(out, Clock{Kind: k.kind, Start: start, Target: k.d, Calendar: t.Calendar, WarnAt: p.WarnAt})
		}
	}
	return p, out
}

// Validate reports every semantic error of the section, at the key's line.
// path is the section's key path ("sla").
func (c *Config) Validate(d *strictyaml.Decoder, path string) {
	decoded := map[string]bool{}
	for _, e := range d.Errs() {
		decoded[e.Key] = true
	}
	c.compile(func(key, format string, args ...any) {
		full := strictyaml.Join(path, key)
		for k := range decoded {
			if k == full || strings.HasPrefix(k, full+".") || strings.HasPrefix(k, full+"[") {
				return // the decoder already said what is wrong here
			}
		}
		d.Failf(full, format, args...)
	})
}

// Compile checks the section and builds its rules. Errors name key paths
// relative to the section.
func Compile(c Config) (*Rules, error) {
	var errs errList
	r := c.compile(errs.add)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return r, nil
}

// failFunc reports a semantic error at a key path.
type failFunc func(key, format string, args ...any)

// errList collects errors for callers without a decoder.
type errList strictyaml.Errors

func (e *errList) add(key, format string, args ...any) {
	*e = append(*e, strictyaml.Error{Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (e errList) err() error {
	if len(e) == 0 {
		return nil
	}
	return strictyaml.Errors(e)
}

func (c *Config) compile(fail failFunc) *Rules {
	r := &Rules{Calendars: map[string]*Calendar{}}
	for i, cc := range c.Calendars {
		key := fmt.Sprintf("calendars[%d]", i)
		sub := func(k, format string, args ...any) { fail(key+"."+k, format, args...) }
		switch {
		case cc.ID == "":
			fail(key, "missing id")
		case r.Calendars[cc.ID] != nil:
			fail(key+".id", "calendar %q is defined twice", cc.ID)
		}
		cal := buildCalendar(cc, sub)
		if cc.ID != "" && r.Calendars[cc.ID] == nil {
			r.Calendars[cc.ID] = cal
		}
	}
	for i, pc := range c.Policies {
		r.Policies = append(r.Policies, compilePolicy(i, pc, r.Calendars, fail))
	}
	return r
}

func compilePolicy(i int, pc PolicyConfig, cals map[string]*Calendar, fail failFunc) *Policy {
	key := fmt.Sprintf("policies[%d]", i)
	p := &Policy{Index: i, WarnAt: pc.WarnAt, OnBreach: pc.OnBreach}
	ms, err := incident.ParseMatchers(pc.Match)
	if err != nil {
		fail(key+".match", "%v", err)
	}
	p.Matchers = ms
	switch pc.OnBreach {
	case "":
		p.OnBreach = OnBreachNone
	case OnBreachNone, OnBreachNotify, OnBreachEscalate:
	default:
		fail(key+".on_breach", "%q is not one of escalate, notify, none", pc.OnBreach)
	}
	for j, f := range pc.WarnAt {
		switch {
		case !(f > 0 && f < 1):
			fail(fmt.Sprintf("%s.warn_at[%d]", key, j), "%v is not a fraction between 0 and 1 (exclusive); the breach at 1 is always reported", f)
		case j > 0 && f <= pc.WarnAt[j-1]:
			fail(fmt.Sprintf("%s.warn_at[%d]", key, j), "%v does not come after %v: list fractions once, ascending", f, pc.WarnAt[j-1])
		}
	}
	if len(pc.Targets) == 0 {
		fail(key+".targets", "missing: set targets for at least one priority, e.g. P1: {acknowledge: 5m, resolve: 4h}")
	}
	prios := make([]string, 0, len(pc.Targets))
	for k := range pc.Targets {
		prios = append(prios, k)
	}
	sort.Strings(prios)
	for _, prio := range prios {
		tc := pc.Targets[prio]
		tkey := key + ".targets." + prio
		n := 0
		if len(prio) == 2 && prio[0] == 'P' && prio[1] >= '1' && prio[1] <= '5' {
			n = int(prio[1] - '0')
		} else {
			fail(tkey, "%q is not a priority (want P1..P5)", prio)
		}
		t := &Target{Acknowledge: time.Duration(tc.Acknowledge), Resolve: time.Duration(tc.Resolve)}
		if t.Acknowledge <= 0 && t.Resolve <= 0 {
			fail(tkey, "sets neither acknowledge nor resolve")
		}
		if tc.Calendar != "" {
			if t.Calendar = cals[tc.Calendar]; t.Calendar == nil {
				fail(tkey+".calendar", "unknown calendar %q (define it under calendars)", tc.Calendar)
			}
		}
		if n > 0 {
			p.Targets[n] = t
		}
	}
	return p
}
