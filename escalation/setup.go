package escalation

import (
	"fmt"

	"github.com/incidentd/incidentd/escalation/oncall"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/sla"
)

// Setup is one configuration of the engine, compiled: who is on call, the
// policies and routes, the SLA rules and the notifiers. It is immutable;
// the daemon builds a new one on reload and hands it to Engine.SetSetup.
type Setup struct {
	Config    Config
	Directory *oncall.Directory
	SLA       *sla.Rules
	Notifiers *notify.Notifiers
	policies  map[string]*PolicyConfig
}

// NewSetup compiles the oncall and sla sections and takes the notifiers
// built from the notifiers section (nil for none).
func NewSetup(oc Config, sc sla.Config, ns *notify.Notifiers) (*Setup, error) {
	dir, err := oncall.New(oc.People())
	if err != nil {
		return nil, fmt.Errorf("oncall: %w", err)
	}
	rules, err := sla.Compile(sc)
	if err != nil {
		return nil, fmt.Errorf("sla: %w", err)
	}
	if ns == nil {
		if ns, err = notify.New(nil, notify.Options{}); err != nil {
			return nil, err
		}
	}
	s := &Setup{Config: oc, Directory: dir, SLA: rules, Notifiers: ns, policies: map[string]*PolicyConfig{}}
	for i := range oc.EscalationPolicies {
		p := &oc.EscalationPolicies[i]
		if len(p.Levels) == 0 {
			return nil, fmt.Errorf("oncall.escalation_policies[%d]: needs at least one level", i)
		}
		s.policies[p.ID] = p
	}
	for i, r := range oc.Routes {
		if s.policies[r.Policy] == nil {
			return nil, fmt.Errorf("oncall.routes[%d].policy: unknown escalation policy %q", i, r.Policy)
		}
	}
	for _, p := range oc.EscalationPolicies {
		for _, l := range p.Levels {
			for _, t := range l.Targets {
				if t.Kind == TargetNotifier {
					if _, ok := ns.Get(t.ID); !ok {
						return nil, fmt.Errorf("escalation policy %q: unknown notifier %q", p.ID, t.ID)
					}
				}
			}
		}
	}
	return s, nil
}

// Policy returns the escalation policy with id, or nil.
func (s *Setup) Policy(id string) *PolicyConfig { return s.policies[id] }

// Route returns the first route whose matcher fits the subject and its
// index, or -1 when none does.
func (s *Setup) Route(sub incident.Subject) (RouteConfig, int) {
	ls := sub.LabelSet()
	for i, r := range s.Config.Routes {
		if r.Match.Matches(ls) {
			return r, i
		}
	}
	return RouteConfig{}, -1
}
