// Package correlate turns the CMDB's graph into the decisions the incident
// engine needs: which CI an alert is on, which open incidents it is near,
// which CI of an incident is the root cause, and what the incident impacts.
// Every decision comes with its explanation.
package correlate

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/incident"
)

// Options tune correlation.
type Options struct {
	// MaxHops bounds how far along relations an alert looks for an open
	// incident to join.
	MaxHops int
	// Rules map alert labels to CI ids when neither a ci label nor a CI
	// match set does, e.g. {{ .Labels.namespace }}/{{ .Labels.pod }}.
	Rules []*template.Template
	// ImpactByCriticality maps a business service's criticality (1..5) to
	// ITIL impact (1..3).
	ImpactByCriticality map[int]int
}

// maxReasonCIs is how many dependent CIs a root-cause reason names.
const maxReasonCIs = 10

// maxRootDepth bounds the search below a root-cause candidate; real
// dependency chains are far shorter.
const maxRootDepth = 16

// Correlator implements incident.Topology over the current CMDB graph.
// SetGraph swaps the graph atomically; readers never wait.
type Correlator struct {
	graph       atomic.Pointer[cmdb.Graph]
	opts        atomic.Pointer[Options]
	maintenance atomic.Pointer[[]cmdb.Window]
}

// New returns a correlator over an empty CMDB.
func New(o Options) *Correlator {
	c := &Correlator{}
	c.SetOptions(o)
	c.graph.Store(cmdb.Empty())
	return c
}

// SetOptions changes the options (config reload).
func (c *Correlator) SetOptions(o Options) {
	if o.MaxHops <= 0 {
		o.MaxHops = 3
	}
	if o.ImpactByCriticality == nil {
		o.ImpactByCriticality = DefaultImpactByCriticality()
	}
	c.opts.Store(&o)
}

// DefaultImpactByCriticality maps criticality 1 -> impact 1, 2-3 -> 2, 4-5 -> 3.
func DefaultImpactByCriticality() map[int]int {
	return map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3}
}

// SetGraph makes g the CMDB that correlation reads.
func (c *Correlator) SetGraph(g *cmdb.Graph) { c.graph.Store(g) }

// Graph returns the current graph.
func (c *Correlator) Graph() *cmdb.Graph { return c.graph.Load() }

// MapCI finds the CI an alert is on: its ci label, else the first CI whose
// match label set it carries, else the first rule that renders an existing
// CI id.
func (c *Correlator) MapCI(labels map[string]string) (string, string) {
	g := c.graph.Load()
	if id := labels["ci"]; id != "" {
		if _, ok := g.CI(id); ok {
			return id, "its ci label"
		}
	}
	if id, ok := g.MatchLabels(labels); ok {
		return id, "a match label set of " + id
	}
	for i, rule := range c.opts.Load().Rules {
		var b strings.Builder
		if err := rule.Execute(&b, struct{ Labels map[string]string }{labels}); err != nil {
			continue
		}
		if _, ok := g.CI(b.String()); ok {
			return b.String(), fmt.Sprintf("correlation.ci_rules[%d]", i)
		}
	}
	return "", ""
}

// Near reports the CIs of targets within reach of ci, with the path and its
// direction.
func (c *Correlator) Near(ci string, targets map[string]bool) map[string]incident.Link {
	paths := c.graph.Load().Near(ci, c.opts.Load().MaxHops, targets)
	out := make(map[string]incident.Link, len(paths))
	for id, p := range paths {
		out[id] = incident.Link{Hops: p.Hops, Path: p.String(), Above: p.Above}
	}
	return out
}

// MaxHops is the reach of Near.
func (c *Correlator) MaxHops() int { return c.opts.Load().MaxHops }

// RootCause picks, among the CIs with firing alerts, those that no other
// firing CI sits beneath (the most upstream failures), and ranks them by how
// many firing CIs depend on them: the candidate that explains the most
// failures wins. Ties go to the earliest firing, then the most urgent, then
// the id. Coverage comes first because a downstream CI often alerts before
// its cause does (a symptom's alert rule has a shorter "for:").
func (c *Correlator) RootCause(members map[string]*incident.CIMember) incident.Cause {
	g := c.graph.Load()
	firing := map[string]bool{}
	var ids []string
	for ci, m := range members {
		if m.Firing > 0 {
			firing[ci] = true
			ids = append(ids, ci)
		}
	}
	if len(firing) == 0 {
		return incident.Cause{}
	}
	roots := g.Roots(ids, maxRootDepth)
	if len(roots) == 0 { // only in a dependency cycle: fall back to all
		roots = ids
	}
	// With one candidate every other firing CI sits above it (that is how
	// the others stopped being candidates): no walk needed.
	above := make(map[string][]string, len(roots))
	if len(roots) == 1 {
		for _, ci := range ids {
			if ci != roots[0] {
				above[roots[0]] = append(above[roots[0]], ci)
			}
		}
		sort.Strings(above[roots[0]])
	} else {
		for _, r := range roots {
			above[r] = g.Above(r, firing, maxRootDepth)
		}
	}
	sort.Slice(roots, func(i, j int) bool {
		ri, rj := roots[i], roots[j]
		if len(above[ri]) != len(above[rj]) {
			return len(above[ri]) > len(above[rj])
		}
		a, b := members[ri], members[rj]
		if !a.FirstFiring.Equal(b.FirstFiring) {
			return a.FirstFiring.Before(b.FirstFiring)
		}
		if a.Urgency != b.Urgency {
			return a.Urgency < b.Urgency
		}
		return ri < rj
	})
	root := roots[0]
	return incident.Cause{CI: root, Reason: rootReason(root, above[root], len(firing), len(roots)), Candidates: roots}
}

func rootReason(root string, above []string, firing, candidates int) string {
	depend := " depend on it"
	if len(above) == 1 {
		depend = " depends on it"
	}
	// Name the first few: a storm's reason stays readable.
	if len(above) > maxReasonCIs {
		above = append(above[:maxReasonCIs:maxReasonCIs], fmt.Sprintf("and %d more", len(above)-maxReasonCIs))
	}
	switch {
	case firing == 1:
		return fmt.Sprintf("root cause %s: the only CI alerting", root)
	case len(above) > 0 && candidates == 1:
		return fmt.Sprintf("root cause %s: %s%s", root, strings.Join(above, ", "), depend)
	case len(above) > 0:
		return fmt.Sprintf("root cause %s: %s%s; the most depended on of %d CIs with nothing alerting beneath them", root, strings.Join(above, ", "), depend, candidates)
	default:
		return fmt.Sprintf("root cause %s: first to fire of %d CIs with nothing alerting beneath them", root, candidates)
	}
}

// Impact lists the business services the firing CIs reach and the ITIL
// impact of the most critical one (0 when none is reached).
func (c *Correlator) Impact(firing []string) ([]cmdb.Impacted, int) {
	impacted := c.graph.Load().Impact(firing)
	if len(impacted) == 0 {
		return nil, 0
	}
	return impacted, c.opts.Load().ImpactByCriticality[impacted[0].Criticality]
}

// SetMaintenance makes windows the maintenance windows in force.
func (c *Correlator) SetMaintenance(windows []cmdb.Window) { c.maintenance.Store(&windows) }

// Maintenance reports whether alerts on ci are suppressed at t, because ci
// or a CI it needs (transitively) is in an active maintenance window.
func (c *Correlator) Maintenance(ci string, t time.Time) (string, bool) {
	ws := c.maintenance.Load()
	if ws == nil || ci == "" {
		return "", false
	}
	active := map[string]*cmdb.Window{}
	for i := range *ws {
		if w := &(*ws)[i]; w.Active(t) {
			active[w.CI] = w
		}
	}
	if len(active) == 0 {
		return "", false
	}
	describe := func(w *cmdb.Window) string {
		s := fmt.Sprintf("%s is in maintenance until %s", w.CI, w.End.UTC().Format(time.RFC3339))
		if w.Reason != "" {
			s += " (" + w.Reason + ")"
		}
		return s
	}
	if w, ok := active[ci]; ok {
		return describe(w), true
	}
	set := make(map[string]bool, len(active))
	for id := range active {
		set[id] = true
	}
	if id, p, ok := c.graph.Load().DependsOnAny(ci, set, maxRootDepth); ok {
		return describe(active[id]) + "; " + p.String(), true
	}
	return "", false
}
