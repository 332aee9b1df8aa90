// Package escalation pages people about incidents: on-call schedules
// (package oncall) resolve who is on call, escalation policies say who is
// paged in which order, and routes pick a policy per incident.
package escalation

import (
	"fmt"
	"strings"

	"github.com/incidentd/incidentd/escalation/oncall"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/strictyaml"
)

// Config is the oncall section: people and schedules, escalation policies,
// and the routes that pick a policy for each incident.
type Config struct {
	Users              []oncall.User     `yaml:"users"`
	Schedules          []oncall.Schedule `yaml:"schedules"`
	EscalationPolicies []PolicyConfig    `yaml:"escalation_policies"`
	Routes             []RouteConfig     `yaml:"routes"`
}

// People returns the users and schedules, for oncall.New.
func (c Config) People() oncall.Config {
	return oncall.Config{Users: c.Users, Schedules: c.Schedules}
}

// PolicyConfig is an escalation policy: levels notified in turn until
// someone acknowledges.
type PolicyConfig struct {
	ID string `yaml:"id"`
	// Repeat is how many more times the levels run after the last one.
	Repeat int           `yaml:"repeat"`
	Levels []LevelConfig `yaml:"levels"`
	// AckTimeout, when set, re-triggers an acknowledged incident that is
	// still not resolved this long after the acknowledgement.
	AckTimeout strictyaml.Duration `yaml:"ack_timeout"`
}

// LevelConfig is one level of a policy.
type LevelConfig struct {
	Targets []Target `yaml:"targets"`
	// Timeout is how long the level has to acknowledge before the next
	// level is notified.
	Timeout strictyaml.Duration `yaml:"timeout"`
}

// Target kinds.
const (
	TargetSchedule = "schedule"
	TargetUser     = "user"
	TargetNotifier = "notifier"
)

// Target is who a level notifies, written kind:id: schedule:shop-primary
// (whoever is on call then), user:erin, notifier:pagerduty-shop (a
// notifier that pages by itself, such as a PagerDuty service).
type Target struct {
	Kind, ID string
}

func (t Target) String() string { return t.Kind + ":" + t.ID }

// UnmarshalScalar parses kind:id.
func (t *Target) UnmarshalScalar(s string) error {
	kind, id, ok := strings.Cut(s, ":")
	if !ok || id == "" {
		return fmt.Errorf("%q: want schedule:ID, user:ID or notifier:NAME", s)
	}
	switch kind {
	case TargetSchedule, TargetUser, TargetNotifier:
	default:
		return fmt.Errorf("%q: unknown target kind %q (want schedule, user or notifier)", s, kind)
	}
	*t = Target{Kind: kind, ID: id}
	return nil
}

// RouteConfig picks a policy for the incidents its matcher fits.
type RouteConfig struct {
	// Match is an Alertmanager matcher list over the incident's labels
	// plus priority, ci, ci_class and team; empty matches every incident.
	Match incident.Matchers `yaml:"match"`
	// Policy is the escalation policy's id.
	Policy string `yaml:"policy"`
	// Delay holds paging back this long, and pages only if the incident
	// is still open then (for alerts that usually resolve themselves).
	Delay strictyaml.Duration `yaml:"delay"`
}

// Validate reports every semantic error of the section at path (e.g.
// "oncall"). Notifier names are checked by ValidateNotifiers, because
// notifiers are configured in another section.
func (c Config) Validate(d *strictyaml.Decoder, path string) {
	c.People().Validate(d, path)
	users, schedules := map[string]bool{}, map[string]bool{}
	for _, u := range c.Users {
		users[u.ID] = true
	}
	for _, s := range c.Schedules {
		schedules[s.ID] = true
	}
	policies := map[string]bool{}
	for i, p := range c.EscalationPolicies {
		key := strictyaml.Join(path, fmt.Sprintf("escalation_policies[%d]", i))
		switch {
		case p.ID == "":
			d.Failf(key, "id is required")
		case policies[p.ID]:
			d.Failf(strictyaml.Join(key, "id"), "policy %q defined twice", p.ID)
		}
		policies[p.ID] = true
		if p.Repeat < 0 {
			d.Failf(strictyaml.Join(key, "repeat"), "must not be negative")
		}
		if p.AckTimeout < 0 {
			d.Failf(strictyaml.Join(key, "ack_timeout"), "must not be negative")
		}
		if len(p.Levels) == 0 {
			d.Failf(key, "needs at least one level")
		}
		for j, l := range p.Levels {
			lkey := strictyaml.Join(key, fmt.Sprintf("levels[%d]", j))
			if len(l.Targets) == 0 {
				d.Failf(lkey, "needs at least one target")
			}
			if l.Timeout <= 0 {
				d.Failf(strictyaml.Join(lkey, "timeout"), "must be positive (how long the level has to acknowledge)")
			}
			for k, t := range l.Targets {
				tkey := strictyaml.Join(lkey, fmt.Sprintf("targets[%d]", k))
				switch {
				case t.Kind == TargetUser && !users[t.ID]:
					d.Failf(tkey, "unknown user %q", t.ID)
				case t.Kind == TargetSchedule && !schedules[t.ID]:
					d.Failf(tkey, "unknown schedule %q", t.ID)
				}
			}
		}
	}
	for i, r := range c.Routes {
		key := strictyaml.Join(path, fmt.Sprintf("routes[%d]", i))
		switch {
		case r.Policy == "":
			d.Failf(key, "policy is required")
		case !policies[r.Policy]:
			d.Failf(strictyaml.Join(key, "policy"), "unknown escalation policy %q", r.Policy)
		}
		if r.Delay < 0 {
			d.Failf(strictyaml.Join(key, "delay"), "must not be negative")
		}
	}
}

// ValidateNotifiers reports contacts and notifier targets that name a
// notifier known does not accept.
func (c Config) ValidateNotifiers(d *strictyaml.Decoder, path string, known func(name string) bool) {
	c.People().ValidateNotifiers(d, path, known)
	for i, p := range c.EscalationPolicies {
		for j, l := range p.Levels {
			for k, t := range l.Targets {
				if t.Kind == TargetNotifier && !known(t.ID) {
					d.Failf(strictyaml.Join(path, fmt.Sprintf("escalation_policies[%d].levels[%d].targets[%d]", i, j, k)), "unknown notifier %q", t.ID)
				}
			}
		}
	}
}
