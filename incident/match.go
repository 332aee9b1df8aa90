package incident

import (
	"fmt"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/matcher/parse"
	"github.com/prometheus/alertmanager/pkg/labels"
)

// Subject is what matchers over an incident see (runbook triggers, SLA
// policies, escalation routes, silences): its labels, plus priority
// (P1..P5), ci (the root-cause CI), ci_class and team (the CI's class and
// owner in the CMDB). The derived names win over labels of the same name.
type Subject struct {
	Labels            map[string]string
	Priority          int
	CI, CIClass, Team string
}

// LabelSet returns the labels a matcher is applied to.
func (s Subject) LabelSet() map[string]string {
	out := make(map[string]string, len(s.Labels)+4)
	for k, v := range s.Labels {
		out[k] = v
	}
	for k, v := range map[string]string{"ci": s.CI, "ci_class": s.CIClass, "team": s.Team} {
		if v != "" {
			out[k] = v
		}
	}
	if s.Priority > 0 {
		out["priority"] = PriorityLabel(s.Priority)
	}
	return out
}

// Matchers is an Alertmanager matcher list, e.g. {team="shop",
// priority=~"P1|P2"}; empty (or {}) matches everything.
type Matchers labels.Matchers

// ParseMatchers reads Alertmanager's matcher syntax through the parser
// Alertmanager itself has used by default since v0.27 (stricter than
// pkg/labels.ParseMatchers, which accepts a missing closing brace).
func ParseMatchers(s string) (Matchers, error) {
	// Invalid UTF-8 would come back from String() as U+FFFD: another matcher.
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%q is not an Alertmanager matcher: not valid UTF-8", s)
	}
	ms, err := parse.Matchers(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not an Alertmanager matcher (e.g. {team=\"shop\", priority=~\"P1|P2\"}): %v", s, err)
	}
	// The parser takes {""="x"}, but a label has a name, and String()
	// would write it as {="x"}, which does not parse back (a stored
	// silence would stop matching).
	for _, m := range ms {
		if m.Name == "" {
			return nil, fmt.Errorf("%q is not an Alertmanager matcher: a matcher needs a label name", s)
		}
	}
	return Matchers(ms), nil
}

// UnmarshalScalar parses a matcher list written in a config file.
func (m *Matchers) UnmarshalScalar(s string) error {
	ms, err := ParseMatchers(s)
	if err != nil {
		return err
	}
	*m = ms
	return nil
}

// Matches reports whether every matcher accepts the label set (a missing
// label is the empty string, as in Alertmanager).
func (m Matchers) Matches(set map[string]string) bool {
	for _, x := range m {
		if !x.Matches(set[x.Name]) {
			return false
		}
	}
	return true
}

// MatchesSubject reports whether the matchers accept s.
func (m Matchers) MatchesSubject(s Subject) bool { return m.Matches(s.LabelSet()) }

func (m Matchers) String() string { return labels.Matchers(m).String() }
