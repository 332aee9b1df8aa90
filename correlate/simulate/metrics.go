package simulate

// Assignment is where one alert ended up and where it belongs.
type Assignment struct {
	// Incident is the incident holding the alert at the end (0: none; each
	// such alert then counts as an incident of its own).
	Incident int64
	// Fault is the fault that caused the alert, or Noise.
	Fault int
}

// Pairs counts unordered pairs of fault alerts. Noise alerts take part in
// no pair: an unrelated alert joining an incident neither helps nor hurts
// grouping here (Report.NoiseAbsorbed counts it, and the root-cause metric
// feels it). Noise that bridges two faults' incidents does hurt: the
// faults' alerts then share an incident.
type Pairs struct {
	// Together is the number of pairs in the same incident and of the same
	// fault: true positives.
	Together int64 `json:"together"`
	// SameIncident is the number of pairs in the same incident: true plus
	// false positives.
	SameIncident int64 `json:"same_incident"`
	// SameFault is the number of pairs of the same fault: true positives
	// plus false negatives.
	SameFault int64 `json:"same_fault"`
}

// Add sums pair counts (micro-averaging over scenarios).
func (p Pairs) Add(o Pairs) Pairs {
	return Pairs{p.Together + o.Together, p.SameIncident + o.SameIncident, p.SameFault + o.SameFault}
}

// Precision is the share of pairs put together that belong together; 1
// when nothing was put together.
func (p Pairs) Precision() float64 {
	if p.SameIncident == 0 {
		return 1
	}
	return float64(p.Together) / float64(p.SameIncident)
}

// Recall is the share of pairs that belong together that were put
// together; 1 when no two alerts belong together.
func (p Pairs) Recall() float64 {
	if p.SameFault == 0 {
		return 1
	}
	return float64(p.Together) / float64(p.SameFault)
}

// F1 is the harmonic mean of precision and recall.
func (p Pairs) F1() float64 { return F1(p.Precision(), p.Recall()) }

// F1 is the harmonic mean of a precision and a recall (0 when both are 0).
func F1(precision, recall float64) float64 {
	if precision+recall == 0 {
		return 0
	}
	return 2 * precision * recall / (precision + recall)
}

func pairs(n int64) int64 { return n * (n - 1) / 2 }

// CountPairs counts the pairs of fault alerts from where each alert ended
// up, through the contingency table of incidents by faults: pairs that
// share an incident and a fault are Σ C(n(incident, fault), 2), pairs that
// share an incident Σ C(n(incident), 2), pairs that share a fault
// Σ C(n(fault), 2), all over fault alerts only.
func CountPairs(as []Assignment) Pairs {
	type cell struct {
		inc   int64
		fault int
	}
	byCell := map[cell]int64{}
	byInc := map[int64]int64{}
	byFault := map[int]int64{}
	var alone int64 // alerts in no incident get ids of their own
	for _, a := range as {
		if a.Fault == Noise {
			continue
		}
		inc := a.Incident
		if inc == 0 {
			alone--
			inc = alone
		}
		byCell[cell{inc, a.Fault}]++
		byInc[inc]++
		byFault[a.Fault]++
	}
	var p Pairs
	for _, n := range byCell {
		p.Together += pairs(n)
	}
	for _, n := range byInc {
		p.SameIncident += pairs(n)
	}
	for _, n := range byFault {
		p.SameFault += pairs(n)
	}
	return p
}

// Compression is alerts per incident (0 without incidents).
func Compression(alerts, incidents int) float64 {
	if incidents == 0 {
		return 0
	}
	return float64(alerts) / float64(incidents)
}

// Incidents counts the distinct incidents holding the alerts; alerts in no
// incident count one each.
func Incidents(as []Assignment) int {
	seen := map[int64]bool{}
	n := 0
	for _, a := range as {
		if a.Incident == 0 {
			n++
		} else if !seen[a.Incident] {
			seen[a.Incident] = true
			n++
		}
	}
	return n
}

// MajorityIncident returns the incident holding most of the given alerts'
// incidents, ties going to the lowest id; 0 if none is in an incident.
func MajorityIncident(incidents []int64) int64 {
	count := map[int64]int{}
	var best int64
	for _, id := range incidents {
		if id == 0 {
			continue
		}
		count[id]++
		if c, b := count[id], count[best]; best == 0 || c > b || c == b && id < best {
			best = id
		}
	}
	return best
}

// RootCauseHit reports whether a fault's root cause was found: the incident
// holding most of its alerts (incidents, one per alert) names root as its
// root cause (rootCauses, by incident).
func RootCauseHit(incidents []int64, rootCauses map[int64]string, root string) bool {
	inc := MajorityIncident(incidents)
	return inc != 0 && rootCauses[inc] == root
}

// Ratio is n/d, or 1 when d is 0.
func Ratio(n, d int) float64 {
	if d == 0 {
		return 1
	}
	return float64(n) / float64(d)
}
