package correlate_test

// Per-alert correlation latency on a generated CMDB of 100,000 CIs and
// 300,000 relations, with the open incidents of an alert storm (the
// correlation issue's target: p99 under 200 µs per alert). Run with
//
//	go test -run XXX -bench . -benchtime 1x ./correlate/
//
// Each benchmark times every alert of the scenario on its own and reports
// the distribution: p50-µs, p99-µs and max-µs per alert.

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/correlate"
	"github.com/incidentd/incidentd/correlate/simulate"
	"github.com/incidentd/incidentd/incident"
)

const (
	benchCIs       = 100_000
	benchRelations = 300_000
	// benchOpen faults of the scenario are open incidents when the
	// measured alerts arrive: an estate of 100,000 CIs in a bad hour.
	benchOpen   = 30
	benchFaults = 150
	// The scenario fires about 35,000 alerts; the benchmarks time an even
	// sample of them. Policy.Apply takes seconds for some alerts (see
	// BenchmarkRootCause), hence its small sample.
	benchAlerts      = 5000
	benchApplyAlerts = 100
)

type fixture struct {
	sc   *simulate.Scenario
	corr *correlate.Correlator
	// targets are the CIs of the open incidents, as Policy.Apply gathers
	// them for Near.
	targets map[string]bool
	open    []simulate.Fault
	alerts  []simulate.Alert
	now     time.Time
}

var (
	fixOnce sync.Once
	fix     *fixture
)

func benchFixture(b *testing.B) *fixture {
	b.Helper()
	fixOnce.Do(func() {
		sc := simulate.Generate(simulate.Options{
			Seed:     1,
			Topology: simulate.TopologyOptions{CIs: benchCIs, Relations: benchRelations},
			Faults:   benchFaults,
			FaultGap: time.Minute,
		})
		c := correlate.New(correlate.Options{MaxHops: 3})
		c.SetGraph(cmdb.Build(sc.Topology.Doc))
		f := &fixture{sc: sc, corr: c, targets: map[string]bool{}, open: sc.Faults[:benchOpen], alerts: sample(sc.Alerts, benchAlerts)}
		for _, fault := range f.open {
			for _, ci := range fault.CIs {
				f.targets[ci] = true
			}
			if fault.Peak.After(f.now) {
				f.now = fault.Peak
			}
		}
		fix = f
	})
	return fix
}

// sample picks n alerts evenly spread over the scenario.
func sample(alerts []simulate.Alert, n int) []simulate.Alert {
	if len(alerts) <= n {
		return alerts
	}
	out := make([]simulate.Alert, n)
	for i := range out {
		out[i] = alerts[i*len(alerts)/n]
	}
	return out
}

// report sorts the per-alert durations and reports their distribution.
func report(b *testing.B, ds []time.Duration) { reportPer(b, ds, "alerts/op") }

// reportPer reports the distribution of durations of units (per op).
func reportPer(b *testing.B, ds []time.Duration, units string) {
	slices.Sort(ds)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
	b.ReportMetric(us(q(0.50)), "p50-µs")
	b.ReportMetric(us(q(0.99)), "p99-µs")
	b.ReportMetric(us(ds[len(ds)-1]), "max-µs")
	b.ReportMetric(float64(len(ds))/float64(b.N), units)
}

// BenchmarkCorrelateAlert times what correlation does for one new alert:
// MapCI, then Near against the CIs of the open incidents.
func BenchmarkCorrelateAlert(b *testing.B) {
	f := benchFixture(b)
	b.Logf("%s; %d open incidents on %d CIs; %d alerts", f.sc.Topology.Summary(), len(f.open), len(f.targets), len(f.alerts))
	ds := make([]time.Duration, 0, len(f.alerts))
	for b.Loop() {
		for i := range f.alerts {
			start := time.Now()
			if ci, _ := f.corr.MapCI(f.alerts[i].Labels); ci != "" {
				f.corr.Near(ci, f.targets)
			}
			ds = append(ds, time.Since(start))
		}
	}
	report(b, ds)
}

// BenchmarkCorrelateAlertParts splits BenchmarkCorrelateAlert: MapCI alone,
// and Near alone from each alert's CI.
func BenchmarkCorrelateAlertParts(b *testing.B) {
	f := benchFixture(b)
	b.Run("MapCI", func(b *testing.B) {
		ds := make([]time.Duration, 0, len(f.alerts))
		for b.Loop() {
			for i := range f.alerts {
				start := time.Now()
				f.corr.MapCI(f.alerts[i].Labels)
				ds = append(ds, time.Since(start))
			}
		}
		report(b, ds)
	})
	b.Run("Near", func(b *testing.B) {
		ds := make([]time.Duration, 0, len(f.alerts))
		for b.Loop() {
			for i := range f.alerts {
				if f.alerts[i].CI == "" {
					continue
				}
				start := time.Now()
				f.corr.Near(f.alerts[i].CI, f.targets)
				ds = append(ds, time.Since(start))
			}
		}
		report(b, ds)
	})
	b.Run("Impact", func(b *testing.B) {
		// What a new incident's priority needs: the business services the
		// alert's CI reaches.
		ds := make([]time.Duration, 0, len(f.alerts))
		for b.Loop() {
			for i := range f.alerts {
				if f.alerts[i].CI == "" {
					continue
				}
				start := time.Now()
				f.corr.Impact([]string{f.alerts[i].CI})
				ds = append(ds, time.Since(start))
			}
		}
		report(b, ds)
	})
	b.Run("Near-prototype", func(b *testing.B) {
		p := newRootsPrototype(f.sc.Topology.Doc)
		ds := make([]time.Duration, 0, len(f.alerts))
		for b.Loop() {
			for i := range f.alerts {
				if f.alerts[i].CI == "" {
					continue
				}
				start := time.Now()
				p.near(f.alerts[i].CI, 3, f.targets)
				ds = append(ds, time.Since(start))
			}
		}
		// Same CIs at the same distances as Near.
		for i := range f.alerts[:500] {
			if ci := f.alerts[i].CI; ci != "" {
				want, got := f.corr.Near(ci, f.targets), p.near(ci, 3, f.targets)
				if len(want) != len(got) {
					b.Fatalf("%s: Near %v, prototype %v", ci, want, got)
				}
				for id, l := range want {
					if got[id].Hops != l.Hops {
						b.Fatalf("%s: Near %v, prototype %v", ci, want, got)
					}
				}
			}
		}
		report(b, ds)
	})
}

// openState builds the engine state of the open incidents, fresh for each
// alert (Apply changes it).
func (f *fixture) openState() *incident.State {
	st := &incident.State{Alerts: map[string]*incident.Alert{}, Incidents: map[int64]*incident.Incident{}}
	for i, fault := range f.open {
		inc := &incident.Incident{
			ID: int64(i + 1), GroupKey: "cmdb:" + fault.Root, Title: "fault " + fault.Root,
			Status: incident.StatusTriggered, Urgency: 1, Impact: 2, Priority: 2,
			AlertCount: len(fault.Alerts), FiringCount: len(fault.Alerts),
			CreatedAt: f.now.Add(-20 * time.Minute), UpdatedAt: f.now, LastAlertAt: f.now.Add(-time.Minute),
			RootCause:   fault.Root,
			Correlation: &incident.Correlation{CIs: map[string]*incident.CIMember{}},
		}
		for k, ci := range fault.CIs {
			inc.Correlation.CIs[ci] = &incident.CIMember{Firing: 1, FirstFiring: fault.Start.Add(time.Duration(k) * time.Second), Urgency: 1 + k%3}
		}
		st.Incidents[inc.ID] = inc
	}
	return st
}

// BenchmarkApplyNewAlert times Policy.Apply for a batch of one new firing
// alert with the open incidents loaded: mapping, placement (gathering the
// open incidents' CIs, Near), and, when the alert brings a new CI into an
// incident, the root cause, impact and priority recomputation. The state is
// rebuilt outside the timed part before each alert.
func BenchmarkApplyNewAlert(b *testing.B) {
	f := benchFixture(b)
	p := incident.DefaultPolicy()
	p.Topology = f.corr
	alerts := sample(f.alerts, benchApplyAlerts)
	ds := make([]time.Duration, 0, len(alerts))
	var created, joined int
	for b.Loop() {
		for i := range alerts {
			a := &alerts[i]
			st := f.openState()
			in := []incident.AlertInput{{Fingerprint: a.Fingerprint, Source: "bench", Status: incident.AlertFiring, Labels: a.Labels, StartsAt: f.now}}
			start := time.Now()
			ch := p.Apply(st, in, f.now)
			ds = append(ds, time.Since(start))
			if ch.Stats.IncidentsCreated > 0 {
				created++
			} else {
				joined++
			}
		}
	}
	b.Logf("%d alerts opened an incident, %d joined one", created, joined)
	report(b, ds)
}

// BenchmarkRootCause times Correlator.RootCause on each open incident
// (the recomputation Policy.Apply runs when a new CI joins an incident, and
// after each merge), and, for comparison, a prototype that finds the same
// root-cause candidates with one multi-source walk (see rootsPrototype).
func BenchmarkRootCause(b *testing.B) {
	f := benchFixture(b)
	st := f.openState()
	var incs []*incident.Incident
	for _, inc := range st.Incidents {
		incs = append(incs, inc)
	}
	slices.SortFunc(incs, func(a, b *incident.Incident) int { return len(a.Correlation.CIs) - len(b.Correlation.CIs) })
	b.Run("current", func(b *testing.B) {
		ds := make([]time.Duration, 0, len(incs))
		for b.Loop() {
			for _, inc := range incs {
				start := time.Now()
				f.corr.RootCause(inc.Correlation.CIs)
				ds = append(ds, time.Since(start))
			}
		}
		b.ReportMetric(float64(len(incs[len(incs)-1].Correlation.CIs)), "largest-CIs")
		reportPer(b, ds, "incidents/op")
	})
	b.Run("prototype", func(b *testing.B) {
		p := newRootsPrototype(f.sc.Topology.Doc)
		ds := make([]time.Duration, 0, len(incs))
		for b.Loop() {
			for _, inc := range incs {
				start := time.Now()
				roots := p.roots(inc.Correlation.CIs, 16)
				ds = append(ds, time.Since(start))
				if len(roots) == 0 {
					b.Fatal("no root")
				}
			}
		}
		// The prototype finds the same candidates as RootCause.
		for _, inc := range incs[:len(incs)-1] {
			want := f.corr.RootCause(inc.Correlation.CIs).CI
			if !slices.Contains(p.roots(inc.Correlation.CIs, 16), want) {
				b.Errorf("incident %d: root cause %s is not among the prototype's candidates", inc.ID, want)
			}
		}
		reportPer(b, ds, "incidents/op")
	})
}

// rootsPrototype is what cmdb.Graph and Correlator.RootCause could do
// instead of one DependsOnAny walk per firing CI: a single breadth-first
// walk up the graph from all firing CIs at once, over index arrays rather
// than maps keyed by CI id. A firing CI that the walk reaches has another
// firing CI beneath it; those it never reaches are the candidates.
type rootsPrototype struct {
	doc   *cmdb.Document
	index map[string]int32
	// up[upAt[i]:upAt[i+1]] need CI i (and clusters i is a member of);
	// down[downAt[i]:downAt[i+1]] are what CI i needs. upRel and downRel
	// hold the relation of each edge.
	upAt, up, upRel       []int32
	downAt, down, downRel []int32
	// seen and firing hold the stamp of the walk that last marked a CI.
	seen, firing []uint32
	stamp        uint32
	// parent and via record the walk's tree, for paths.
	parent, via []int32
}

func newRootsPrototype(doc *cmdb.Document) *rootsPrototype {
	n := len(doc.CIs)
	p := &rootsPrototype{
		doc: doc, index: make(map[string]int32, n), upAt: make([]int32, n+1), downAt: make([]int32, n+1),
		seen: make([]uint32, n), firing: make([]uint32, n), parent: make([]int32, n), via: make([]int32, n),
	}
	for i, ci := range doc.CIs {
		p.index[ci.ID] = int32(i)
	}
	type edge struct{ dependency, dependent int32 }
	edges := make([]edge, len(doc.Relations))
	for i, r := range doc.Relations {
		e := edge{p.index[r.To], p.index[r.From]}
		if r.Type == cmdb.MemberOf {
			e = edge{e.dependent, e.dependency}
		}
		edges[i] = e
		p.upAt[e.dependency+1]++
		p.downAt[e.dependent+1]++
	}
	for i := 1; i <= n; i++ {
		p.upAt[i] += p.upAt[i-1]
		p.downAt[i] += p.downAt[i-1]
	}
	p.up, p.upRel = make([]int32, len(edges)), make([]int32, len(edges))
	p.down, p.downRel = make([]int32, len(edges)), make([]int32, len(edges))
	fill := append([]int32(nil), p.upAt[:n]...)
	dfill := append([]int32(nil), p.downAt[:n]...)
	for r, e := range edges {
		p.up[fill[e.dependency]], p.upRel[fill[e.dependency]] = e.dependent, int32(r)
		fill[e.dependency]++
		p.down[dfill[e.dependent]], p.downRel[dfill[e.dependent]] = e.dependency, int32(r)
		dfill[e.dependent]++
	}
	return p
}

// near is Graph.Near over index arrays: each direction's walk stamps what
// it has seen instead of filling a map. Targets stay a map, looked up for
// the CIs the walk reaches (usually far fewer than the targets).
func (p *rootsPrototype) near(from string, maxHops int, targets map[string]bool) map[string]incident.Link {
	src, ok := p.index[from]
	if !ok || len(targets) == 0 {
		return nil
	}
	out := map[string]incident.Link{}
	if targets[from] {
		out[from] = incident.Link{}
	}
	walk := func(at, edges, rels []int32) {
		p.stamp++
		p.seen[src] = p.stamp
		frontier := []int32{src}
		for hop := 1; hop <= maxHops && len(frontier) > 0; hop++ {
			var next []int32
			for _, x := range frontier {
				for k := at[x]; k < at[x+1]; k++ {
					y := edges[k]
					if p.seen[y] == p.stamp {
						continue
					}
					p.seen[y], p.parent[y], p.via[y] = p.stamp, x, rels[k]
					next = append(next, y)
					id := p.doc.CIs[y].ID
					if !targets[id] {
						continue
					}
					if prev, ok := out[id]; ok && prev.Hops <= hop {
						continue
					}
					parts := make([]string, hop)
					for c, i := y, hop-1; c != src; c, i = p.parent[c], i-1 {
						parts[i] = p.doc.Relations[p.via[c]].String()
					}
					out[id] = incident.Link{Hops: hop, Path: strings.Join(parts, ", ")}
				}
			}
			frontier = next
		}
	}
	walk(p.downAt, p.down, p.downRel)
	walk(p.upAt, p.up, p.upRel)
	return out
}

func (p *rootsPrototype) roots(members map[string]*incident.CIMember, depth int) []string {
	p.stamp++
	var firing, frontier []int32
	for id, m := range members {
		if i, ok := p.index[id]; ok && m.Firing > 0 {
			p.firing[i] = p.stamp
			firing = append(firing, i)
		}
	}
	// Start one hop up from every firing CI: a firing CI reached later has
	// a firing CI beneath it.
	for _, x := range firing {
		for _, y := range p.up[p.upAt[x]:p.upAt[x+1]] {
			if p.seen[y] != p.stamp {
				p.seen[y] = p.stamp
				frontier = append(frontier, y)
			}
		}
	}
	for hop := 2; hop <= depth && len(frontier) > 0; hop++ {
		var next []int32
		for _, x := range frontier {
			for _, y := range p.up[p.upAt[x]:p.upAt[x+1]] {
				if p.seen[y] != p.stamp {
					p.seen[y] = p.stamp
					next = append(next, y)
				}
			}
		}
		frontier = next
	}
	var out []string
	for _, x := range firing {
		if p.seen[x] != p.stamp {
			out = append(out, p.doc.CIs[x].ID)
		}
	}
	return out
}
