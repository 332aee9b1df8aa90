package simulate

// Prototypes of engine changes, run through the same scenarios as the real
// engine to measure what each would gain. The changes that won are in the
// engine now (firing CIs attract, causes join only beneath root-cause
// candidates, re-fires after the correlation window are placed through the
// CMDB, candidates ranked by coverage); these are the ones that did not
// (measured in docs/correlation.md). They wrap the Correlator (the
// engine's Topology) because this package may not change incident/ or
// correlate/: where the engine would use an incident's own firing CIs, the
// wrapper uses the CIs with a firing alert anywhere (a close, slightly
// stricter, stand-in). Run with
//
//	PROTOTYPES=1 go test -run 'TestPrototypes|TestCeilingByDensity' -v ./correlate/simulate/
//
// GAPS=30m,1h,2h sets the fault spacings (default 1h), SEEDS=n uses seeds
// 1..n instead of the quality seeds, ONLY=i runs the i-th change alone,
// MISSES=1 lists every miss. Each row: spacing, change, compression,
// precision, recall, F1, ceiling F1, F1 without entangled pairs, root
// cause top-1, split faults, mixed faults, avoidable/all false pairs.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/correlate"
	"github.com/incidentd/incidentd/incident"
)

type change struct {
	// oneSymptomIncident: an alert merges the incidents it may be the
	// cause of (their CIs need it), but joins at most one incident it may
	// be a symptom of (it needs their CIs): a business service above two
	// unrelated failures no longer merges them.
	oneSymptomIncident bool
	// strictClusters: a path may pass through a cluster (over member_of)
	// only if the cluster itself alerts: one member failing only degrades
	// its cluster, so it neither impacts what runs on the cluster nor
	// explains the other members.
	strictClusters bool
	// rootByUrgency ranks candidates by urgency before coverage.
	rootByUrgency bool
}

func (c change) String() string {
	var s []string
	if c.oneSymptomIncident {
		s = append(s, "one-symptom-incident")
	}
	if c.strictClusters {
		s = append(s, "strict-clusters")
	}
	if c.rootByUrgency {
		s = append(s, "root-by-urgency")
	}
	if len(s) == 0 {
		return "engine as is"
	}
	return strings.Join(s, " + ")
}

type prototype struct {
	*correlate.Correlator
	change
	firing map[string]int
}

func (p *prototype) Near(ci string, targets map[string]bool) map[string]incident.Link {
	links := p.Correlator.Near(ci, targets)
	if p.strictClusters {
		for y, l := range links {
			for _, rel := range strings.Split(l.Path, ", ") {
				f := strings.Fields(rel)
				if len(f) == 3 && f[1] == cmdb.MemberOf && f[2] != y && f[2] != ci && p.firing[f[2]] == 0 {
					delete(links, y) // through a cluster that does not alert
					break
				}
			}
		}
	}
	if p.oneSymptomIncident {
		// Keep every target that needs ci, and only the closest that ci
		// needs (ties to the smallest id).
		best, bestHops := "", 0
		for y, l := range links {
			if y == ci || l.Above {
				continue
			}
			if best == "" || l.Hops < bestHops || l.Hops == bestHops && y < best {
				if best != "" {
					delete(links, best)
				}
				best, bestHops = y, l.Hops
			} else {
				delete(links, y)
			}
		}
	}
	return links
}

func (p *prototype) RootCause(members map[string]*incident.CIMember) incident.Cause {
	c := p.Correlator.RootCause(members)
	if !p.rootByUrgency || len(c.Candidates) < 2 {
		return c
	}
	best := c.Candidates[0]
	for _, r := range c.Candidates[1:] {
		if members[r].Urgency < members[best].Urgency {
			best = r
		}
	}
	c.CI = best
	c.Candidates = append([]string{best}, slices.DeleteFunc(slices.Clone(c.Candidates), func(s string) bool { return s == best })...)
	return c
}

var _ incident.Topology = (*prototype)(nil)

func withChange(o Options, c change) Options {
	o.wrap = func(corr *correlate.Correlator, firing map[string]int) incident.Topology {
		return &prototype{Correlator: corr, change: c, firing: firing}
	}
	return o
}

func TestPrototypes(t *testing.T) {
	if os.Getenv("PROTOTYPES") == "" {
		t.Skip("set PROTOTYPES=1 to measure prototypes of engine changes")
	}
	changes := []change{
		{},
		{rootByUrgency: true},
		{oneSymptomIncident: true},
		{strictClusters: true},
	}
	gaps := []time.Duration{time.Hour}
	if s := os.Getenv("GAPS"); s != "" {
		gaps = nil
		for _, f := range strings.Split(s, ",") {
			d, err := time.ParseDuration(f)
			if err != nil {
				t.Fatal(err)
			}
			gaps = append(gaps, d)
		}
	}
	for _, gap := range gaps {
		for ci, c := range changes {
			if only := os.Getenv("ONLY"); only != "" && only != strconv.Itoa(ci) {
				continue
			}
			var rs []Report
			seeds := qualitySeeds
			if n, _ := strconv.Atoi(os.Getenv("SEEDS")); n > 0 {
				seeds = nil
				for s := 1; s <= n; s++ {
					seeds = append(seeds, uint64(s))
				}
			}
			for _, seed := range seeds {
				o := qualityOptions(seed)
				o.FaultGap = gap
				r, err := Run(context.Background(), withChange(o, c))
				if err != nil {
					t.Fatal(err)
				}
				rs = append(rs, r)
			}
			s := Combine(rs...)
			fmt.Printf("| %s | %s | %.2f | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %d | %d | %d/%d |\n", gap, c, s.Compression, s.Precision, s.Recall, s.F1, s.CeilingF1, s.AdjustedF1, s.RootCauseTop1, s.SplitFaults, s.MixedFaults, s.Pairs.SameIncident-s.Pairs.Together-s.EntangledFalsePairs, s.Pairs.SameIncident-s.Pairs.Together)
			if os.Getenv("MISSES") != "" {
				for _, m := range s.Misses {
					fmt.Printf("    %+v\n", m)
				}
			}
		}
	}
}

// TestCeilingByDensity shows how the time between faults bounds what any
// correlation by topology and time can reach: for 60 scenarios per
// spacing, the share of faults overlapping another, the share entangled,
// and the F1 of grouping exactly the entangled faults together. It only
// generates scenarios (no engine), so it is quick.
func TestCeilingByDensity(t *testing.T) {
	if os.Getenv("PROTOTYPES") == "" {
		t.Skip("set PROTOTYPES=1")
	}
	for _, gap := range []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour} {
		var all Pairs
		below, overlapping, entangled, faults := 0, 0, 0, 0
		for seed := uint64(1); seed <= 60; seed++ {
			o := qualityOptions(seed)
			o.FaultGap = gap
			sc := Generate(o)
			group := sc.Entangled()
			ref := make([]Assignment, len(sc.Alerts))
			for i, a := range sc.Alerts {
				ref[i].Fault = a.Fault
				if a.Fault != Noise {
					ref[i].Incident = int64(group[a.Fault]) + 1
				}
			}
			size := map[int]int{}
			for _, g := range group {
				size[g]++
			}
			for _, g := range group {
				if size[g] > 1 {
					entangled++
				}
			}
			p := CountPairs(ref)
			all = all.Add(p)
			if p.F1() < targetF1 {
				below++
			}
			overlapping += sc.Overlapping()
			faults += len(sc.Faults)
		}
		fmt.Printf("| %s | %.0f%% | %.1f%% | %.4f | %d/60 |\n", gap, 100*float64(overlapping)/float64(faults), 100*float64(entangled)/float64(faults), all.F1(), below)
	}
}
