package simulate

import (
	"fmt"
	"strings"

	"github.com/incidentd/incidentd/incident"
)

// Report is what a scenario's evaluation measured. Combine sums several.
type Report struct {
	Seeds     []uint64 `json:"seeds"`
	CIs       int      `json:"cis"`
	Relations int      `json:"relations"`
	Faults    int      `json:"faults"`
	// OverlappingFaults overlap another fault in time.
	OverlappingFaults int `json:"overlapping_faults"`
	FaultAlerts       int `json:"fault_alerts"`
	// NoiseAlerts are unrelated to any fault; UnmappedNoise of them are on
	// no CI.
	NoiseAlerts   int `json:"noise_alerts"`
	UnmappedNoise int `json:"unmapped_noise"`
	// Incidents hold the alerts at the end; IdealIncidents is one per fault
	// plus one per noise alert.
	Incidents      int `json:"incidents"`
	IdealIncidents int `json:"ideal_incidents"`
	// Compression is alerts per incident; IdealCompression what perfect
	// grouping would give.
	Compression      float64 `json:"compression"`
	IdealCompression float64 `json:"ideal_compression"`
	// Pairs of fault alerts, and the grouping scores derived from them.
	Pairs     Pairs   `json:"pairs"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	// RootCauseCorrect faults have, at their peak (when their last alert
	// fired), the fault's root CI as root cause of the incident holding
	// most of their alerts.
	RootCauseCorrect int     `json:"root_cause_correct"`
	RootCauseTop1    float64 `json:"root_cause_top1"`
	// SplitFaults end with their alerts in more than one incident;
	// MixedFaults share the incident holding most of their alerts with
	// another fault's alerts; NoiseAbsorbed noise alerts sit in an incident
	// with fault alerts.
	SplitFaults   int `json:"split_faults"`
	MixedFaults   int `json:"mixed_faults"`
	NoiseAbsorbed int `json:"noise_absorbed"`
	// EntangledFaults overlap in time with a fault one of whose failed CIs
	// is one relation away from one of theirs: no correlation by topology
	// and time can tell them apart. EntangledPairs scores the grouping that
	// puts entangled faults together and groups everything else perfectly,
	// a ceiling for the engine on this scenario.
	EntangledFaults int     `json:"entangled_faults"`
	EntangledPairs  Pairs   `json:"entangled_pairs"`
	CeilingF1       float64 `json:"ceiling_f1"`
	// EntangledFalsePairs are the false pairs (same incident, different
	// faults) between entangled faults; the other false pairs were
	// avoidable.
	EntangledFalsePairs int64 `json:"entangled_false_pairs"`
	// AdjustedPrecision and AdjustedF1 leave out the pairs between
	// entangled faults, whose right answer no correlation by topology and
	// time can know: what remains is the engine's own doing (1 at best).
	AdjustedPrecision float64 `json:"adjusted_precision"`
	AdjustedF1        float64 `json:"adjusted_f1"`
	// Stats sums what the engine reported per batch.
	Stats incident.Stats `json:"stats"`
	// Misses explain every fault that was split, mixed or given a wrong
	// root cause.
	Misses []Miss `json:"misses,omitempty"`
}

// Miss is a fault the engine did not get entirely right.
type Miss struct {
	Seed     uint64 `json:"seed"`
	Fault    int    `json:"fault"`
	Root     string `json:"root"`
	RootKind string `json:"root_kind"`
	Alerts   int    `json:"alerts"`
	CIs      int    `json:"cis"`
	// Incidents holding its alerts at the end.
	Incidents int `json:"incidents"`
	// RootCause the engine named at the fault's peak.
	RootCause   string `json:"root_cause"`
	RootCauseOK bool   `json:"root_cause_ok"`
	// Why, in words: which other faults or noise shared its incident, and
	// where the wrong root cause came from.
	Why string `json:"why"`
}

func (r *Report) compute() {
	r.Compression = Compression(r.FaultAlerts+r.NoiseAlerts, r.Incidents)
	r.IdealCompression = Compression(r.FaultAlerts+r.NoiseAlerts, r.IdealIncidents)
	r.Precision, r.Recall, r.F1 = r.Pairs.Precision(), r.Pairs.Recall(), r.Pairs.F1()
	r.RootCauseTop1 = Ratio(r.RootCauseCorrect, r.Faults)
	r.CeilingF1 = r.EntangledPairs.F1()
	adj := r.Pairs
	adj.SameIncident -= r.EntangledFalsePairs
	r.AdjustedPrecision, r.AdjustedF1 = adj.Precision(), adj.F1()
}

// Combine sums reports of several scenarios: counts add up, and the scores
// are recomputed from the summed counts (pairs micro-averaged).
func Combine(rs ...Report) Report {
	var out Report
	for _, r := range rs {
		out.Seeds = append(out.Seeds, r.Seeds...)
		out.CIs += r.CIs
		out.Relations += r.Relations
		out.Faults += r.Faults
		out.OverlappingFaults += r.OverlappingFaults
		out.FaultAlerts += r.FaultAlerts
		out.NoiseAlerts += r.NoiseAlerts
		out.UnmappedNoise += r.UnmappedNoise
		out.Incidents += r.Incidents
		out.IdealIncidents += r.IdealIncidents
		out.Pairs = out.Pairs.Add(r.Pairs)
		out.RootCauseCorrect += r.RootCauseCorrect
		out.SplitFaults += r.SplitFaults
		out.MixedFaults += r.MixedFaults
		out.NoiseAbsorbed += r.NoiseAbsorbed
		out.EntangledFaults += r.EntangledFaults
		out.EntangledPairs = out.EntangledPairs.Add(r.EntangledPairs)
		out.EntangledFalsePairs += r.EntangledFalsePairs
		out.Stats.Add(r.Stats)
		out.Misses = append(out.Misses, r.Misses...)
	}
	out.compute()
	return out
}

// MaxMissesShown bounds the misses String lists.
const MaxMissesShown = 20

func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seeds %v: %d CIs, %d relations; %d faults (%d overlapping another), %d fault alerts, %d noise alerts (%d on no CI)\n",
		r.Seeds, r.CIs, r.Relations, r.Faults, r.OverlappingFaults, r.FaultAlerts, r.NoiseAlerts, r.UnmappedNoise)
	fmt.Fprintf(&b, "incidents: %d (ideal %d); compression %.2f alerts/incident (ideal %.2f)\n",
		r.Incidents, r.IdealIncidents, r.Compression, r.IdealCompression)
	fmt.Fprintf(&b, "grouping (pairs of fault alerts): precision %.4f, recall %.4f, F1 %.4f (%d pairs together of %d put together and %d belonging together)\n",
		r.Precision, r.Recall, r.F1, r.Pairs.Together, r.Pairs.SameIncident, r.Pairs.SameFault)
	fmt.Fprintf(&b, "false pairs: %d, of which %d between entangled faults\n", r.Pairs.SameIncident-r.Pairs.Together, r.EntangledFalsePairs)
	fmt.Fprintf(&b, "ceiling: %d faults entangled with another (alerting at once on the same or directly related CIs); grouping them and nothing else scores precision %.4f, F1 %.4f\n",
		r.EntangledFaults, r.EntangledPairs.Precision(), r.CeilingF1)
	fmt.Fprintf(&b, "without the pairs between entangled faults: precision %.4f, F1 %.4f\n", r.AdjustedPrecision, r.AdjustedF1)
	fmt.Fprintf(&b, "root cause top-1: %d/%d = %.4f\n", r.RootCauseCorrect, r.Faults, r.RootCauseTop1)
	fmt.Fprintf(&b, "faults split over incidents: %d; faults sharing their incident with another fault: %d; noise alerts in a fault's incident: %d\n",
		r.SplitFaults, r.MixedFaults, r.NoiseAbsorbed)
	fmt.Fprintf(&b, "engine: %d new, %d resolved, %d flaps, %d incidents created, %d merges, %d unmapped\n",
		r.Stats.New, r.Stats.Resolved, r.Stats.Flaps, r.Stats.IncidentsCreated, r.Stats.Merges, r.Stats.Unmapped)
	for i, m := range r.Misses {
		if i == MaxMissesShown {
			fmt.Fprintf(&b, "  ... and %d more misses\n", len(r.Misses)-i)
			break
		}
		ok := "root cause ok"
		if !m.RootCauseOK {
			ok = "root cause " + orNone(m.RootCause) + " WRONG"
		}
		fmt.Fprintf(&b, "  seed %d fault %d (root %s, %s; %d alerts on %d CIs; %d incidents): %s: %s\n",
			m.Seed, m.Fault, m.Root, m.RootKind, m.Alerts, m.CIs, m.Incidents, ok, m.Why)
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
