package simulate

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/incidentd/incidentd/correlate"
	"github.com/incidentd/incidentd/incident"
)

// Options describe a scenario and how it is evaluated. Zero values take the
// defaults given with each field.
type Options struct {
	// Seed makes everything reproducible.
	Seed uint64
	// Topology sizes the CMDB (default 2000 CIs, natural fan-out).
	Topology TopologyOptions
	// Faults is the number of independent failures (default 30).
	Faults int
	// FaultGap is the mean time between the starts of two faults,
	// exponentially distributed (default 1h): about a third of the faults
	// overlap another in time, and a few percent of them are entangled
	// (see Scenario.Entangled).
	FaultGap time.Duration
	// MinDuration and MaxDuration bound how long a failure lasts once it
	// has spread and been noticed, before its CIs recover, root first
	// (default 3m to 15m, uniform).
	MinDuration, MaxDuration time.Duration
	// PropagateDepends is the chance that a failure spreads over one
	// depends_on relation (default 0.6): applications often degrade
	// gracefully. PropagateInfra is the chance over runs_on, hosted_on and
	// connects_to (default 0.9). A cluster fails when fewer than min_up of
	// its members are up, whatever these say.
	PropagateDepends, PropagateInfra float64
	// MinHopDelay and MaxHopDelay bound the time a failure takes to cross
	// one relation (default 1s to 20s, uniform).
	MinHopDelay, MaxHopDelay time.Duration
	// MinDetectDelay and MaxDetectDelay bound the time from a CI failing
	// to one of its alerts firing (scrape interval plus the rule's for:),
	// ResolveDelay the time from its recovery to the alert resolving
	// (defaults 10s to 2m, and up to 1m). Symptoms above a failure often
	// fire before the failure itself.
	MinDetectDelay, MaxDetectDelay time.Duration
	ResolveDelay                   time.Duration
	// MaxAlertsPerCI: each failed CI fires 1 to this many distinct alerts
	// (default 3).
	MaxAlertsPerCI int
	// NoiseRatio is the number of unrelated alerts per fault alert (default
	// 0.2; negative for none). UnmappedShare of them are on no CI at all
	// (default 0.2; negative for none), the rest on random CIs.
	NoiseRatio, UnmappedShare float64
	// MinNoiseDuration and MaxNoiseDuration bound how long a noise alert
	// fires (default 2m to 20m).
	MinNoiseDuration, MaxNoiseDuration time.Duration

	// MaxHops, CorrelationWindow and MaxSpan configure the engine (defaults:
	// 3, and incident.DefaultPolicy's 10m and 1h).
	MaxHops                    int
	CorrelationWindow, MaxSpan time.Duration

	// wrap, if set, wraps the correlator the engine uses: tests prototype
	// engine changes with it, given the number of alerts firing on each CI.
	wrap func(c *correlate.Correlator, firing map[string]int) incident.Topology
	// tune, if set, changes the engine's policy, for the same purpose.
	tune func(p *incident.Policy)
}

func (o Options) withDefaults() Options {
	o.Topology = o.Topology.withDefaults()
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
		*v = max(*v, 0)
	}
	if o.Faults <= 0 {
		o.Faults = 30
	}
	def(&o.FaultGap, time.Hour)
	def(&o.MinDuration, 3*time.Minute)
	def(&o.MaxDuration, 15*time.Minute)
	deff(&o.PropagateDepends, 0.6)
	deff(&o.PropagateInfra, 0.9)
	def(&o.MinHopDelay, time.Second)
	def(&o.MaxHopDelay, 20*time.Second)
	def(&o.MinDetectDelay, 10*time.Second)
	def(&o.MaxDetectDelay, 2*time.Minute)
	def(&o.ResolveDelay, time.Minute)
	if o.MaxAlertsPerCI <= 0 {
		o.MaxAlertsPerCI = 3
	}
	deff(&o.NoiseRatio, 0.2)
	deff(&o.UnmappedShare, 0.2)
	def(&o.MinNoiseDuration, 2*time.Minute)
	def(&o.MaxNoiseDuration, 20*time.Minute)
	if o.MaxHops <= 0 {
		o.MaxHops = 3
	}
	p := incident.DefaultPolicy()
	def(&o.CorrelationWindow, p.CorrelationWindow)
	def(&o.MaxSpan, p.MaxSpan)
	o.MaxDuration = max(o.MaxDuration, o.MinDuration)
	o.MaxHopDelay = max(o.MaxHopDelay, o.MinHopDelay)
	o.MaxDetectDelay = max(o.MaxDetectDelay, o.MinDetectDelay)
	o.MaxNoiseDuration = max(o.MaxNoiseDuration, o.MinNoiseDuration)
	return o
}

// Start is when every scenario begins.
var Start = time.Date(2026, 1, 5, 8, 0, 0, 0, time.UTC)

// Noise marks an alert that belongs to no fault.
const Noise = -1

// Alert is one alert occurrence the scenario sends, with its ground truth.
type Alert struct {
	Labels      map[string]string
	Fingerprint string
	// CI is the CI the alert is on ("" for noise on no CI).
	CI string
	// Fault is the index of the fault that caused it, or Noise.
	Fault               int
	FiresAt, ResolvesAt time.Time
}

// Fault is one independent failure and its cascade.
type Fault struct {
	ID int
	// Root is the CI that failed first; RootKind its kind.
	Root     string
	RootKind Kind
	Start    time.Time
	// CIs are the CIs that failed, in the order they failed (Root first).
	CIs []string
	// Alerts are indexes into Scenario.Alerts.
	Alerts []int
	// Peak is when the last of its alerts fires; End when its last alert
	// resolves.
	Peak, End time.Time
}

// Scenario is a topology, faults and the alerts they produce, sorted by
// firing time.
type Scenario struct {
	Options  Options
	Topology *Topology
	Faults   []Fault
	Alerts   []Alert
}

type alertDef struct {
	name, severity string
}

// faultAlerts are the alerts each kind fires when it fails; noiseAlerts the
// ones it fires for unrelated reasons. The two lists never share a name.
var faultAlerts = [numKinds][]alertDef{
	KindBusinessService: {{"SLOErrorBudgetBurn", "critical"}, {"SyntheticCheckFailed", "critical"}, {"CheckoutConversionDrop", "warning"}},
	KindApplication:     {{"HighErrorRate", "critical"}, {"HighLatency", "warning"}, {"PodCrashLooping", "warning"}, {"UpstreamTimeouts", "warning"}},
	KindDatabase:        {{"PostgresDown", "critical"}, {"ReplicationLagHigh", "warning"}, {"TooManyConnections", "warning"}},
	KindQueue:           {{"KafkaBrokerDown", "critical"}, {"ConsumerLagHigh", "warning"}, {"UnderReplicatedPartitions", "warning"}},
	KindCache:           {{"RedisDown", "critical"}, {"RedisRejectedConnections", "warning"}, {"CacheHitRateLow", "warning"}},
	KindHostCluster:     {{"ClusterQuorumLost", "critical"}, {"ClusterNodesNotReady", "warning"}},
	KindServer:          {{"HostDown", "critical"}, {"HostUnreachable", "critical"}, {"NodeExporterDown", "warning"}},
	KindHypervisor:      {{"HostDown", "critical"}, {"HypervisorUnreachable", "critical"}, {"NodeExporterDown", "warning"}},
	KindVM:              {{"InstanceDown", "critical"}, {"NodeExporterDown", "warning"}},
	KindSwitchPair:      {{"SwitchPairDown", "critical"}, {"LACPBundleDown", "critical"}},
	KindSwitch:          {{"SwitchDown", "critical"}, {"InterfaceDown", "warning"}, {"SNMPUnreachable", "warning"}},
	KindCorePair:        {{"CoreFabricDown", "critical"}, {"RoutingTableEmpty", "critical"}},
	KindRouter:          {{"RouterDown", "critical"}, {"BGPSessionDown", "critical"}},
}

var noiseAlerts = [numKinds][]alertDef{
	KindBusinessService: {{"SLOBudgetLow", "info"}},
	KindApplication:     {{"HighMemoryUsage", "warning"}, {"DeploymentReplicasMismatch", "warning"}, {"CertificateExpiringSoon", "info"}},
	KindDatabase:        {{"BackupOverdue", "warning"}, {"SlowQueries", "warning"}, {"TableBloat", "info"}},
	KindQueue:           {{"TopicRetentionLow", "info"}, {"DiskSpaceLow", "warning"}},
	KindCache:           {{"EvictionsHigh", "warning"}, {"CertificateExpiringSoon", "info"}},
	KindHostCluster:     {{"ClusterVersionSkew", "info"}, {"ClusterCPUOvercommit", "warning"}},
	KindServer:          {{"DiskSpaceLow", "warning"}, {"HighCPU", "warning"}, {"ClockSkew", "info"}},
	KindHypervisor:      {{"DiskSpaceLow", "warning"}, {"MemoryOvercommit", "warning"}},
	KindVM:              {{"DiskSpaceLow", "warning"}, {"HighCPU", "warning"}, {"ClockSkew", "info"}},
	KindSwitchPair:      {{"PairConfigDrift", "info"}},
	KindSwitch:          {{"InterfaceErrors", "warning"}, {"FanFailure", "warning"}},
	KindCorePair:        {{"PairConfigDrift", "info"}},
	KindRouter:          {{"InterfaceErrors", "warning"}, {"PowerSupplyDegraded", "warning"}},
}

var unmappedAlerts = []alertDef{{"BatchJobFailed", "warning"}, {"WatchdogMissing", "critical"}, {"BackupJobFailed", "warning"}, {"CronJobStuck", "warning"}, {"LicenseExpiringSoon", "info"}}

// rootWeights is how often each kind fails on its own. Business services
// and clusters fail only through what they need.
var rootWeights = [numKinds]float64{
	KindApplication: 0.23, KindDatabase: 0.12, KindQueue: 0.05, KindCache: 0.06,
	KindServer: 0.17, KindHypervisor: 0.10, KindVM: 0.16, KindSwitch: 0.08, KindRouter: 0.03,
}

// labelsFor renders the labels of alert def on CI i: the alert's name and
// severity, the job, and one of the CI's match label sets.
func labelsFor(r *rand.Rand, t *Topology, i int32, def alertDef) map[string]string {
	ci := &t.Doc.CIs[i]
	set := ci.Match[r.IntN(len(ci.Match))]
	l := make(map[string]string, len(set)+3)
	for k, v := range set {
		l[k] = v
	}
	l["alertname"] = def.name
	l["severity"] = def.severity
	l["job"] = jobOf[t.Kinds[i]]
	return l
}

var jobOf = [numKinds]string{"blackbox", "app", "postgres-exporter", "kafka-exporter", "redis-exporter", "kube-state-metrics", "node", "node", "node", "snmp", "snmp", "snmp", "snmp"}

// interval is a time a CI (or a fingerprint) is taken by one fault.
type interval struct{ from, to time.Time }

type gen struct {
	o    Options
	r    *rand.Rand
	t    *Topology
	busy map[int32][]interval // CIs failed by earlier faults
	sc   *Scenario
}

// between draws a duration uniformly in [lo, hi], to the millisecond.
func (g *gen) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(g.r.Int64N(int64((hi-lo)/time.Millisecond)+1))*time.Millisecond
}

// taken reports whether CI i is failed by an earlier fault at or after at.
func (g *gen) taken(i int32, at time.Time) bool {
	for _, iv := range g.busy[i] {
		if iv.to.After(at) {
			return true
		}
	}
	return false
}

// downAt reports whether CI i is failed by an earlier fault at instant at.
func (g *gen) downAt(i int32, at time.Time) bool {
	for _, iv := range g.busy[i] {
		if !iv.from.After(at) && iv.to.After(at) {
			return true
		}
	}
	return false
}

// Generate builds the scenario of o: a topology, faults cascading through
// it, and noise.
func Generate(o Options) *Scenario {
	o = o.withDefaults()
	t := NewTopology(o.Seed, o.Topology)
	g := &gen{
		o:    o,
		r:    rand.New(rand.NewPCG(o.Seed, o.Seed^0xfa0175)),
		t:    t,
		busy: map[int32][]interval{},
		sc:   &Scenario{Options: o, Topology: t},
	}
	at := Start.Add(5 * time.Minute)
	for f := range o.Faults {
		if f > 0 {
			at = at.Add(time.Duration(g.r.ExpFloat64() * float64(o.FaultGap)).Round(time.Second))
		}
		g.fault(f, at)
	}
	g.noise()
	g.finish()
	return g.sc
}

// pickRoot draws a CI to fail on its own, by rootWeights, free at at.
func (g *gen) pickRoot(at time.Time) int32 {
	var total float64
	for k, w := range rootWeights {
		if len(g.t.byKind[k]) > 0 {
			total += w
		}
	}
	var last int32
	for range 50 {
		u := g.r.Float64() * total
		for k, w := range rootWeights {
			if w == 0 || len(g.t.byKind[k]) == 0 {
				continue
			}
			if u -= w; u < 0 {
				cands := g.t.byKind[k]
				last = cands[g.r.IntN(len(cands))]
				break
			}
		}
		if !g.taken(last, at) {
			return last
		}
	}
	return last
}

type failing struct {
	at time.Duration // since the fault's start
	ci int32
}

type failHeap []failing

func (h failHeap) Len() int { return len(h) }
func (h failHeap) Less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].ci < h[j].ci
}
func (h failHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *failHeap) Push(x any)   { *h = append(*h, x.(failing)) }
func (h *failHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// fault fails a root CI at start and spreads the failure up the graph in
// time order: over each relation with its probability and delay, to a
// cluster when fewer than min_up of its members remain up. A CI that an
// earlier fault has failed (or will fail) stops the spread: it is already
// alerting.
func (g *gen) fault(id int, start time.Time) { g.failFrom(id, g.pickRoot(start), start) }

// failFrom fails root at start and spreads the failure (see fault).
func (g *gen) failFrom(id int, root int32, start time.Time) {
	t := g.t
	failAt := map[int32]time.Duration{}
	var order []int32
	downMembers := map[int32]int32{}
	h := &failHeap{{0, root}}
	for h.Len() > 0 {
		x := heap.Pop(h).(failing)
		if _, done := failAt[x.ci]; done {
			continue
		}
		failAt[x.ci] = x.at
		order = append(order, x.ci)
		for _, e := range t.up[t.upAt[x.ci]:t.upAt[x.ci+1]] {
			y := e.ci
			if _, done := failAt[y]; done {
				continue
			}
			when := x.at + g.between(g.o.MinHopDelay, g.o.MaxHopDelay)
			if g.taken(y, start.Add(when)) {
				continue
			}
			switch e.rel {
			case relMemberOf:
				downMembers[y]++
				down := downMembers[y]
				for _, m := range g.membersOf(y) {
					if _, ours := failAt[m]; !ours && g.downAt(m, start.Add(x.at)) {
						down++
					}
				}
				if t.members[y]-down >= t.minUp[y] {
					continue // degraded, still serving
				}
			case relDependsOn:
				if g.r.Float64() >= g.o.PropagateDepends {
					continue
				}
			default:
				if g.r.Float64() >= g.o.PropagateInfra {
					continue
				}
			}
			heap.Push(h, failing{when, y})
		}
	}
	// Recovery starts once the failure has spread and been noticed, and
	// follows the same order: the root first.
	spread := failAt[order[len(order)-1]] + g.o.MaxDetectDelay
	recovery := spread + g.between(g.o.MinDuration, g.o.MaxDuration)
	f := Fault{ID: id, Root: t.ID(int(root)), RootKind: t.Kinds[root], Start: start}
	for _, ci := range order {
		f.CIs = append(f.CIs, t.ID(int(ci)))
		fails := start.Add(failAt[ci])
		recovers := start.Add(recovery + failAt[ci] + g.between(0, 30*time.Second))
		g.busy[ci] = append(g.busy[ci], interval{fails, recovers.Add(g.o.ResolveDelay + time.Second)})
		defs := faultAlerts[t.Kinds[ci]]
		perm := g.r.Perm(len(defs))
		for _, d := range perm[:1+g.r.IntN(min(g.o.MaxAlertsPerCI, len(defs)))] {
			a := Alert{
				Labels:     labelsFor(g.r, t, ci, defs[d]),
				CI:         t.ID(int(ci)),
				Fault:      id,
				FiresAt:    fails.Add(g.between(g.o.MinDetectDelay, g.o.MaxDetectDelay)).Round(time.Second),
				ResolvesAt: recovers.Add(g.between(0, g.o.ResolveDelay)).Round(time.Second),
			}
			g.sc.Alerts = append(g.sc.Alerts, a)
		}
	}
	g.sc.Faults = append(g.sc.Faults, f)
}

// membersOf lists the members of cluster c.
func (g *gen) membersOf(c int32) []int32 { return g.t.clusterMembers[c] }

// noise adds alerts unrelated to any fault, at uniform times over the
// scenario, on random CIs or on none.
func (g *gen) noise() {
	var faultAlerts int
	end := Start
	for _, a := range g.sc.Alerts {
		faultAlerts++
		if a.ResolvesAt.After(end) {
			end = a.ResolvesAt
		}
	}
	n := int(math.Round(g.o.NoiseRatio * float64(faultAlerts)))
	busy := map[string][]interval{} // by fingerprint
	span := end.Sub(Start)
	for range n {
		at := Start.Add(g.between(0, span)).Round(time.Second)
		dur := g.between(g.o.MinNoiseDuration, g.o.MaxNoiseDuration).Round(time.Second)
		var a Alert
		if g.r.Float64() < g.o.UnmappedShare {
			d := unmappedAlerts[g.r.IntN(len(unmappedAlerts))]
			job := "batch-" + strconv.Itoa(g.r.IntN(30))
			a = Alert{Labels: map[string]string{"alertname": d.name, "severity": d.severity, "job": job, "service": job}}
		} else {
			ci := int32(g.r.IntN(len(g.t.Doc.CIs)))
			defs := noiseAlerts[g.t.Kinds[ci]]
			a = Alert{Labels: labelsFor(g.r, g.t, ci, defs[g.r.IntN(len(defs))]), CI: g.t.ID(int(ci))}
		}
		a.Fault, a.FiresAt, a.ResolvesAt = Noise, at, at.Add(dur)
		a.Fingerprint = incident.Fingerprint(a.Labels)
		clash := false
		for _, iv := range busy[a.Fingerprint] {
			if a.FiresAt.Before(iv.to) && iv.from.Before(a.ResolvesAt) {
				clash = true
			}
		}
		if clash {
			continue // the same alert already firing: a repeat, not news
		}
		busy[a.Fingerprint] = append(busy[a.Fingerprint], interval{a.FiresAt, a.ResolvesAt.Add(time.Second)})
		g.sc.Alerts = append(g.sc.Alerts, a)
	}
}

// finish sorts the alerts by firing time and indexes them by fault.
func (g *gen) finish() {
	sc := g.sc
	for i := range sc.Alerts {
		if sc.Alerts[i].Fingerprint == "" {
			sc.Alerts[i].Fingerprint = incident.Fingerprint(sc.Alerts[i].Labels)
		}
	}
	slices.SortStableFunc(sc.Alerts, func(a, b Alert) int { return a.FiresAt.Compare(b.FiresAt) })
	for i, a := range sc.Alerts {
		if a.Fault == Noise {
			continue
		}
		f := &sc.Faults[a.Fault]
		f.Alerts = append(f.Alerts, i)
		if a.FiresAt.After(f.Peak) {
			f.Peak = a.FiresAt
		}
		if a.ResolvesAt.After(f.End) {
			f.End = a.ResolvesAt
		}
	}
}

// Overlapping counts the faults whose time (first alert to last
// resolution) overlaps another fault's.
func (sc *Scenario) Overlapping() int {
	n := 0
	for i, f := range sc.Faults {
		for j, o := range sc.Faults {
			if i != j && f.Start.Before(o.End) && o.Start.Before(f.End) {
				n++
				break
			}
		}
	}
	return n
}

// Entangled groups the faults that no correlation by topology and time can
// tell apart: two faults are entangled when a CI one of them failed is one
// relation away (either way) from a CI the other failed while both alert,
// or when both failed the same CI, the second within the correlation window
// of the first recovering (the same alert firing again goes back to its
// incident). Faults entangled with the same fault are entangled in turn.
// It returns a group number per fault.
func (sc *Scenario) Entangled() []int {
	t := sc.Topology
	parent := make([]int, len(sc.Faults))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	// When each fault's CIs alerted.
	spans := make([]map[int32]interval, len(sc.Faults))
	for f := range spans {
		spans[f] = map[int32]interval{}
	}
	for _, a := range sc.Alerts {
		if a.Fault == Noise {
			continue
		}
		i, ok := t.index[a.CI]
		if !ok {
			continue
		}
		iv, seen := spans[a.Fault][i]
		if !seen || a.FiresAt.Before(iv.from) {
			iv.from = a.FiresAt
		}
		if a.ResolvesAt.After(iv.to) {
			iv.to = a.ResolvesAt
		}
		spans[a.Fault][i] = iv
	}
	overlap := func(a, b interval) bool { return a.from.Before(b.to) && b.from.Before(a.to) }
	w := sc.Options.CorrelationWindow
	again := func(a, b interval) bool { return overlap(interval{a.from, a.to.Add(w)}, interval{b.from, b.to.Add(w)}) }
	// touches reports whether a CI of f is, or is one relation away from,
	// a CI of g alerting at an overlapping time. Up edges from both sides
	// cover both directions.
	touches := func(f, g int) bool {
		for c, ivc := range spans[f] {
			if ivd, ok := spans[g][c]; ok && again(ivc, ivd) {
				return true
			}
			for _, e := range t.up[t.upAt[c]:t.upAt[c+1]] {
				if ivd, ok := spans[g][e.ci]; ok && overlap(ivc, ivd) {
					return true
				}
			}
		}
		return false
	}
	for f := range sc.Faults {
		for g := f + 1; g < len(sc.Faults); g++ {
			a, b := sc.Faults[f], sc.Faults[g]
			if a.Start.Before(b.End.Add(sc.Options.CorrelationWindow)) && b.Start.Before(a.End.Add(sc.Options.CorrelationWindow)) && (touches(f, g) || touches(g, f)) {
				parent[find(f)] = find(g)
			}
		}
	}
	out := make([]int, len(sc.Faults))
	for f := range out {
		out[f] = find(f)
	}
	return out
}
