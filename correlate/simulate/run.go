package simulate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/correlate"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
)

// Run generates the scenario of o and evaluates it on a fresh, temporary
// SQLite store (without fsync: nothing here needs to survive a crash).
func Run(ctx context.Context, o Options) (Report, error) {
	dir, err := os.MkdirTemp("", "incidentd-simulate-")
	if err != nil {
		return Report{}, err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "simulate.db")+"?_pragma=synchronous(OFF)", store.Options{})
	if err != nil {
		return Report{}, err
	}
	defer st.Close()
	return Evaluate(ctx, st, Generate(o))
}

// Event kinds, in the order they apply at one instant.
const (
	evResolve = iota
	evFire
	evPeak
)

type event struct {
	at   time.Time
	kind int
	i    int // alert index, or fault index for evPeak
}

// evaluator replays a scenario through the engine and reads the outcome.
type evaluator struct {
	sc *Scenario
	st *store.Store
	// byFP lists the alert indexes of each fingerprint by firing time.
	byFP map[string][]int
	// At each fault's peak: the incident of each of its alerts, the root
	// cause of the one holding most, and the alerts in that one.
	peakIncs    [][]int64
	peakRoot    []string
	peakMembers [][]int
}

// Evaluate feeds the scenario's alerts in time order through the real
// engine (Policy.Apply inside store.Ingest, placing through a Correlator
// over the scenario's CMDB), firing and resolving each alert at its time,
// one batch per instant. At each fault's peak it reads the root cause of
// the incident holding most of the fault's alerts; at the end it reads
// where every alert ended up. st must be empty.
func Evaluate(ctx context.Context, st *store.Store, sc *Scenario) (Report, error) {
	o := sc.Options
	c := correlate.New(correlate.Options{MaxHops: o.MaxHops})
	c.SetGraph(cmdb.Build(sc.Topology.Doc))
	p := incident.DefaultPolicy()
	p.Topology = c
	// firing counts the scenario's firing alerts per CI, for prototypes of
	// engine changes (see Options.wrap).
	firing := map[string]int{}
	if o.wrap != nil {
		p.Topology = o.wrap(c, firing)
	}
	p.CorrelationWindow = o.CorrelationWindow
	p.MaxSpan = o.MaxSpan
	if o.tune != nil {
		o.tune(&p)
	}

	e := &evaluator{
		sc: sc, st: st, byFP: map[string][]int{},
		peakIncs:    make([][]int64, len(sc.Faults)),
		peakRoot:    make([]string, len(sc.Faults)),
		peakMembers: make([][]int, len(sc.Faults)),
	}
	events := make([]event, 0, 2*len(sc.Alerts)+len(sc.Faults))
	for i, a := range sc.Alerts {
		e.byFP[a.Fingerprint] = append(e.byFP[a.Fingerprint], i) // alerts are sorted by FiresAt
		events = append(events, event{a.FiresAt, evFire, i}, event{a.ResolvesAt, evResolve, i})
	}
	for f, fault := range sc.Faults {
		events = append(events, event{fault.Peak, evPeak, f})
	}
	sort.Slice(events, func(i, j int) bool {
		a, b := events[i], events[j]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		return a.i < b.i
	})
	var stats incident.Stats
	for i := 0; i < len(events); {
		at := events[i].at
		var inputs []incident.AlertInput
		var peaks []int
		for ; i < len(events) && events[i].at.Equal(at); i++ {
			ev := events[i]
			if ev.kind == evPeak {
				peaks = append(peaks, ev.i)
				continue
			}
			a := &sc.Alerts[ev.i]
			if a.CI != "" {
				if ev.kind == evFire {
					firing[a.CI]++
				} else if firing[a.CI]--; firing[a.CI] == 0 {
					delete(firing, a.CI)
				}
			}
			in := incident.AlertInput{Fingerprint: a.Fingerprint, Source: "simulate", Status: incident.AlertFiring, Labels: a.Labels, StartsAt: a.FiresAt}
			if ev.kind == evResolve {
				in.Status, in.EndsAt = incident.AlertResolved, a.ResolvesAt
			}
			inputs = append(inputs, in)
		}
		if len(inputs) > 0 {
			s, err := st.Ingest(ctx, &p, inputs, at)
			if err != nil {
				return Report{}, fmt.Errorf("ingest at %s: %w", at.Sub(Start), err)
			}
			stats.Add(s)
		}
		for _, f := range peaks {
			if err := e.peak(ctx, f, at); err != nil {
				return Report{}, err
			}
		}
	}
	r, err := e.report(ctx)
	r.Stats = stats
	return r, err
}

// instance finds the scenario alert behind a stored occurrence of fp seen
// by at: the latest of its fingerprint to fire by then.
func (e *evaluator) instance(fp string, at time.Time) int {
	list := e.byFP[fp]
	k := sort.Search(len(list), func(k int) bool { return e.sc.Alerts[list[k]].FiresAt.After(at) })
	if k == 0 {
		return -1
	}
	return list[k-1]
}

// peak records, as fault f's last alert has fired, where its alerts are
// and the root cause of the incident holding most of them.
func (e *evaluator) peak(ctx context.Context, f int, at time.Time) error {
	fault := &e.sc.Faults[f]
	incs := make([]int64, len(fault.Alerts))
	for k, ai := range fault.Alerts {
		occs, err := e.st.Alerts(ctx, store.AlertFilter{Fingerprint: e.sc.Alerts[ai].Fingerprint, Limit: 1 << 20})
		if err != nil {
			return err
		}
		for _, occ := range occs {
			if occ.Current {
				incs[k] = occ.IncidentID
			}
		}
	}
	e.peakIncs[f] = incs
	maj := MajorityIncident(incs)
	if maj == 0 {
		return nil
	}
	inc, err := e.st.Incident(ctx, maj)
	if err != nil {
		return err
	}
	e.peakRoot[f] = inc.RootCause
	members, err := e.st.IncidentAlerts(ctx, maj)
	if err != nil {
		return err
	}
	for _, m := range members {
		if i := e.instance(m.Fingerprint, at); i >= 0 {
			e.peakMembers[f] = append(e.peakMembers[f], i)
		}
	}
	return nil
}

// report reads where every alert ended up and scores it.
func (e *evaluator) report(ctx context.Context) (Report, error) {
	sc := e.sc
	r := Report{
		Seeds:             []uint64{sc.Options.Seed},
		CIs:               len(sc.Topology.Doc.CIs),
		Relations:         len(sc.Topology.Doc.Relations),
		Faults:            len(sc.Faults),
		OverlappingFaults: sc.Overlapping(),
	}
	// Each alert's final occurrence: the latest of its fingerprint first
	// seen by the time it fired (a flap re-fires the same occurrence).
	as := make([]Assignment, len(sc.Alerts))
	occOf := make([]*incident.Alert, len(sc.Alerts))
	fps := make([]string, 0, len(e.byFP))
	for fp := range e.byFP {
		fps = append(fps, fp)
	}
	sort.Strings(fps)
	for _, fp := range fps {
		occs, err := e.st.Alerts(ctx, store.AlertFilter{Fingerprint: fp, Limit: 1 << 20})
		if err != nil {
			return r, err
		}
		slices.SortFunc(occs, func(a, b *incident.Alert) int { return a.Seq - b.Seq })
		for _, i := range e.byFP[fp] {
			a := &sc.Alerts[i]
			for _, occ := range occs {
				if !occ.FirstSeen.After(a.FiresAt) {
					occOf[i] = occ
				}
			}
			as[i].Fault = a.Fault
			if occOf[i] != nil {
				as[i].Incident = occOf[i].IncidentID
			}
		}
	}
	for _, a := range sc.Alerts {
		if a.Fault == Noise {
			r.NoiseAlerts++
			if a.CI == "" {
				r.UnmappedNoise++
			}
		} else {
			r.FaultAlerts++
		}
	}
	r.Incidents = Incidents(as)
	r.IdealIncidents = r.Faults + r.NoiseAlerts
	r.Pairs = CountPairs(as)
	// The reference grouping: faults entangled in time and topology share
	// an incident, everything else is grouped perfectly.
	group := sc.Entangled()
	ref := make([]Assignment, len(sc.Alerts))
	for i, a := range sc.Alerts {
		ref[i].Fault = a.Fault
		if a.Fault != Noise {
			ref[i].Incident = int64(group[a.Fault]) + 1
		}
	}
	r.EntangledPairs = CountPairs(ref)
	for f, g := range group {
		if g != f || slices.Contains(group[:f], g) || slices.Contains(group[f+1:], g) {
			r.EntangledFaults++
		}
	}

	// What each incident holds, by fault (Noise for noise).
	holds := map[int64]map[int]int{}
	for _, a := range as {
		if a.Incident == 0 {
			continue
		}
		if holds[a.Incident] == nil {
			holds[a.Incident] = map[int]int{}
		}
		holds[a.Incident][a.Fault]++
	}
	for _, a := range as {
		if a.Fault == Noise && a.Incident != 0 && len(holds[a.Incident]) > 1 {
			r.NoiseAbsorbed++
		}
	}
	for _, faults := range holds {
		for f, nf := range faults {
			for g, ng := range faults {
				if f < g && f != Noise && group[f] == group[g] {
					r.EntangledFalsePairs += int64(nf * ng)
				}
			}
		}
	}
	for f := range sc.Faults {
		fault := &sc.Faults[f]
		final := make([]int64, len(fault.Alerts))
		for k, ai := range fault.Alerts {
			final[k] = as[ai].Incident
		}
		n := 0
		seen := map[int64]bool{}
		for _, id := range final {
			if !seen[id] {
				seen[id] = true
				n++
			}
		}
		split := n > 1
		maj := MajorityIncident(final)
		var others []int
		for g := range holds[maj] {
			if g != f && g != Noise {
				others = append(others, g)
			}
		}
		sort.Ints(others)
		mixed := len(others) > 0
		ok := RootCauseHit(e.peakIncs[f], map[int64]string{MajorityIncident(e.peakIncs[f]): e.peakRoot[f]}, fault.Root)
		if split {
			r.SplitFaults++
		}
		if mixed {
			r.MixedFaults++
		}
		if ok {
			r.RootCauseCorrect++
		}
		if split || mixed || !ok {
			r.Misses = append(r.Misses, Miss{
				Seed: sc.Options.Seed, Fault: f, Root: fault.Root, RootKind: fault.RootKind.String(),
				Alerts: len(fault.Alerts), CIs: len(fault.CIs), Incidents: n,
				RootCause: e.peakRoot[f], RootCauseOK: ok,
				Why: e.why(ctx, f, split, n, others, ok, as, occOf, group),
			})
		}
	}
	r.compute()
	return r, nil
}

// why explains a miss in words.
func (e *evaluator) why(ctx context.Context, f int, split bool, n int, others []int, ok bool, as []Assignment, occOf []*incident.Alert, group []int) string {
	sc := e.sc
	fault := &sc.Faults[f]
	var parts []string
	if !ok {
		rc := e.peakRoot[f]
		var on []string
		for _, i := range e.peakMembers[f] {
			a := &sc.Alerts[i]
			if a.CI != rc || rc == "" {
				continue
			}
			switch {
			case a.Fault == Noise:
				on = append(on, "noise alert "+a.Labels["alertname"])
			case a.Fault != f:
				on = append(on, fmt.Sprintf("fault %d (root %s, started %s, %s)", a.Fault, sc.Faults[a.Fault].Root, sc.Faults[a.Fault].Start.Sub(fault.Start).Round(time.Second), relation(sc, a.Fault, f)))
			default:
				on = append(on, "this fault")
			}
		}
		slices.Sort(on)
		on = slices.Compact(on)
		rootIn := false
		maj := MajorityIncident(e.peakIncs[f])
		for k, ai := range fault.Alerts {
			if sc.Alerts[ai].CI == fault.Root && e.peakIncs[f][k] == maj {
				rootIn = true
			}
		}
		switch {
		case !rootIn:
			parts = append(parts, "at its peak the root's alerts were not in the incident holding most of its alerts")
		case len(on) > 0:
			parts = append(parts, fmt.Sprintf("at its peak the incident's root cause %s came from %s", rc, strings.Join(on, ", ")))
		}
	}
	if split {
		parts = append(parts, fmt.Sprintf("split over %d incidents", n))
	}
	if len(others) > 0 {
		var descr []string
		for _, g := range others {
			ent := ""
			if group[g] == group[f] {
				ent = ", entangled"
			}
			descr = append(descr, fmt.Sprintf("%d (root %s, %s%s)", g, sc.Faults[g].Root, relation(sc, g, f), ent))
		}
		parts = append(parts, "shares its incident with fault "+strings.Join(descr, ", fault "))
		// How they came together: the merges on the incident's timeline,
		// and the first alert of another fault (or noise) that joined it.
		maj := MajorityIncident(incidentsOf(fault.Alerts, as))
		if tl, err := e.st.Timeline(ctx, maj); err == nil {
			n := 0
			for _, ev := range tl {
				if ev.Kind == incident.EventIncidentMerged && n < 2 {
					parts = append(parts, fmt.Sprintf("%s %q", incident.FormatKey(maj), ev.Message))
					n++
				}
			}
		}
		for i := range sc.Alerts {
			if as[i].Incident == maj && as[i].Fault != f && occOf[i] != nil && strings.Contains(occOf[i].Explanation, "joined") {
				parts = append(parts, fmt.Sprintf("first foreign alert to join: %s on %s (fault %d): %q", sc.Alerts[i].Labels["alertname"], orNone(sc.Alerts[i].CI), sc.Alerts[i].Fault, occOf[i].Explanation))
				break
			}
		}
	}
	return strings.Join(parts, "; ")
}

func incidentsOf(alerts []int, as []Assignment) []int64 {
	out := make([]int64, len(alerts))
	for k, i := range alerts {
		out[k] = as[i].Incident
	}
	return out
}

// relation describes how fault g's CIs relate to fault f's: shared CIs,
// or none.
func relation(sc *Scenario, g, f int) string {
	mine := map[string]bool{}
	for _, ci := range sc.Faults[f].CIs {
		mine[ci] = true
	}
	var shared []string
	for _, ci := range sc.Faults[g].CIs {
		if mine[ci] {
			shared = append(shared, ci)
		}
	}
	if len(shared) == 0 {
		return "no CI in common"
	}
	if len(shared) > 3 {
		return fmt.Sprintf("%d CIs in common", len(shared))
	}
	return "in common " + strings.Join(shared, ", ")
}
