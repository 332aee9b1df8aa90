// Package simulate generates layered CMDB topologies and alert storms with
// ground truth, feeds them through the real incident engine and store, and
// measures how well correlation groups alerts and picks root causes.
//
// Everything is deterministic for a seed: the same Options give the same
// topology, the same faults and the same alerts.
package simulate

import (
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/incidentd/incidentd/cmdb"
)

// Kind is the role of a CI in a generated topology. Several kinds share a
// CMDB class (hypervisors are servers; switch pairs, core pairs and host
// clusters are clusters).
type Kind uint8

// CI kinds, from the top of the stack to the bottom.
const (
	KindBusinessService Kind = iota
	KindApplication
	KindDatabase
	KindQueue
	KindCache
	KindHostCluster
	KindServer
	KindHypervisor
	KindVM
	KindSwitchPair
	KindSwitch
	KindCorePair
	KindRouter
	numKinds
)

var kindNames = [numKinds]string{"business_service", "application", "database", "queue", "cache", "host_cluster", "server", "hypervisor", "vm", "switch_pair", "switch", "core_pair", "router"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "kind" + strconv.Itoa(int(k))
}

// Class is the CMDB class of CIs of kind k.
func (k Kind) Class() string {
	switch k {
	case KindBusinessService:
		return cmdb.ClassBusinessService
	case KindApplication:
		return "application"
	case KindDatabase:
		return "database"
	case KindQueue:
		return "queue"
	case KindCache:
		return "cache"
	case KindHostCluster, KindSwitchPair, KindCorePair:
		return "cluster"
	case KindServer, KindHypervisor:
		return "server"
	case KindVM:
		return "virtual_machine"
	case KindSwitch:
		return "switch"
	case KindRouter:
		return "router"
	}
	return ""
}

var kindPrefix = [numKinds]string{"bs", "app", "db", "mq", "cache", "hcl", "srv", "hv", "vm", "swp", "sw", "core", "rtr"}

// TopologyOptions size a generated topology.
type TopologyOptions struct {
	// CIs is the number of configuration items (default 2000, at least 60).
	CIs int
	// Relations is the number of relations to reach by adding dependencies
	// between applications and from applications to data stores. 0 keeps
	// the natural fan-out, about 2.1 relations per CI. The generator never
	// goes below the natural count.
	Relations int
}

func (o TopologyOptions) withDefaults() TopologyOptions {
	if o.CIs <= 0 {
		o.CIs = 2000
	}
	o.CIs = max(o.CIs, 60)
	return o
}

// Topology is a generated CMDB with the structure the fault model needs.
type Topology struct {
	// Doc is the CMDB document; it passes Validate.
	Doc *cmdb.Document
	// Kinds is the kind of each CI of Doc.CIs, by index.
	Kinds []Kind
	// index maps a CI id to its index.
	index map[string]int32
	// upAt/up list, for each CI, the CIs its failure can reach directly:
	// those that need it, and the clusters it is a member of.
	upAt []int32
	up   []upEdge
	// members, minUp and clusterMembers describe clusters.
	members        []int32
	minUp          []int32
	clusterMembers map[int32][]int32
	// byKind lists the CI indexes of each kind.
	byKind [numKinds][]int32
}

type upEdge struct {
	ci  int32
	rel uint8 // relation kind, relDependsOn..relMemberOf
}

const (
	relDependsOn = iota
	relRunsOn
	relHostedOn
	relConnectsTo
	relMemberOf
)

var relTypes = [...]string{relDependsOn: cmdb.DependsOn, relRunsOn: cmdb.RunsOn, relHostedOn: cmdb.HostedOn, relConnectsTo: cmdb.ConnectsTo, relMemberOf: cmdb.MemberOf}

// Index returns the index of CI id in Doc.CIs.
func (t *Topology) Index(id string) (int, bool) {
	i, ok := t.index[id]
	return int(i), ok
}

// ID returns the id of the CI at index i.
func (t *Topology) ID(i int) string { return t.Doc.CIs[i].ID }

// ByKind lists the CI ids of kind k.
func (t *Topology) ByKind(k Kind) []string {
	out := make([]string, len(t.byKind[k]))
	for j, i := range t.byKind[k] {
		out[j] = t.Doc.CIs[i].ID
	}
	return out
}

// builder accumulates a topology.
type builder struct {
	r     *rand.Rand
	doc   *cmdb.Document
	kinds []Kind
	minUp []int32
	rels  []rawRel
	seen  map[[2]int32]bool
	by    [numKinds][]int32
}

type rawRel struct {
	from, to int32
	typ      uint8
}

func (b *builder) add(k Kind, n int) []int32 {
	out := make([]int32, n)
	for j := range n {
		i := int32(len(b.doc.CIs))
		id := kindPrefix[k] + "-" + strconv.Itoa(j)
		ci := cmdb.CI{ID: id, Class: k.Class(), Criticality: cmdb.DefaultCriticality, Match: matchSets(k, id)}
		switch k {
		case KindBusinessService:
			ci.Criticality = 1 + b.r.IntN(5)
		case KindHypervisor:
			ci.Attributes = map[string]string{"role": "hypervisor"}
		case KindApplication, KindDatabase, KindQueue, KindCache:
			ci.Owner = "team-" + strconv.Itoa(b.r.IntN(40))
		}
		b.doc.CIs = append(b.doc.CIs, ci)
		b.kinds = append(b.kinds, k)
		b.minUp = append(b.minUp, 1)
		b.by[k] = append(b.by[k], i)
		out[j] = i
	}
	return out
}

// relate adds "from typ to" unless that pair is already related.
func (b *builder) relate(from int32, typ uint8, to int32) bool {
	key := [2]int32{from, to}
	if from == to || b.seen[key] {
		return false
	}
	b.seen[key] = true
	b.rels = append(b.rels, rawRel{from, to, typ})
	return true
}

// cluster makes members members of c, with a majority quorum.
func (b *builder) cluster(c int32, members []int32) {
	for _, m := range members {
		b.relate(m, relMemberOf, c)
	}
	n := len(members)
	up := 1
	if n >= 3 {
		up = n/2 + 1
	}
	b.minUp[c] = int32(up)
	b.doc.CIs[c].Attributes = map[string]string{"min_up": strconv.Itoa(up)}
}

// matchSets are the label sets that map alerts to a CI, in the forms
// Prometheus exporters produce.
func matchSets(k Kind, id string) []map[string]string {
	switch k {
	case KindBusinessService:
		return []map[string]string{{"business_service": id}}
	case KindApplication:
		return []map[string]string{{"service": id}}
	case KindDatabase:
		return []map[string]string{{"service": id}, {"instance": id + ":5432"}}
	case KindQueue:
		return []map[string]string{{"service": id}, {"instance": id + ":9092"}}
	case KindCache:
		return []map[string]string{{"service": id}, {"instance": id + ":6379"}}
	case KindServer, KindHypervisor, KindVM:
		return []map[string]string{{"instance": id + ":9100"}}
	case KindHostCluster, KindSwitchPair, KindCorePair:
		return []map[string]string{{"cluster": id}}
	case KindSwitch, KindRouter:
		return []map[string]string{{"device": id}}
	}
	return nil
}

// newRand is the generator's random source for seed.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x5eed70b0)) }

// skewLow picks an index below n, favouring low ones: the popular shared
// services and data stores that many others depend on.
func skewLow(r *rand.Rand, n int) int {
	u := r.Float64()
	return min(int(u*u*float64(n)), n-1)
}

// NewTopology generates a layered topology for seed:
//
//	business services  -depends_on->  applications (2-6, favouring front ends)
//	applications       -depends_on->  databases, queues, caches (1-3) and
//	                                  other applications (0-3, favouring a
//	                                  few widely shared core services)
//	applications, data -runs_on->     a server, a VM or a host cluster
//	VMs                -hosted_on->   a hypervisor
//	servers            -connects_to-> a switch or a redundant switch pair
//	switches           -connects_to-> a redundant core router pair
//	hosts, switches, routers -member_of-> clusters with a majority min_up
//	                                  (a third of host clusters in one rack)
func NewTopology(seed uint64, o TopologyOptions) *Topology {
	o = o.withDefaults()
	n := o.CIs
	r := newRand(seed)
	b := &builder{r: r, doc: &cmdb.Document{CIs: make([]cmdb.CI, 0, n)}, seen: make(map[[2]int32]bool, max(o.Relations, 3*n))}
	pct := func(p float64, least int) int { return max(least, int(p*float64(n))) }
	nBS := pct(0.02, 1)
	nRouters := pct(0.004, 2)
	nCore := nRouters / 2
	nSwitchPairs := pct(0.004, 1)
	nSwitches := max(pct(0.028, 2), 2*nSwitchPairs)
	nHyp := pct(0.06, 1)
	nServers := pct(0.12, 2)
	nVMs := pct(0.30, 2)
	nHostClusters := pct(0.03, 1)
	nDB, nMQ, nCache := pct(0.07, 1), pct(0.03, 1), pct(0.04, 1)
	nApps := n - (nBS + nRouters + nCore + nSwitchPairs + nSwitches + nHyp + nServers + nVMs + nHostClusters + nDB + nMQ + nCache)

	bs := b.add(KindBusinessService, nBS)
	apps := b.add(KindApplication, nApps)
	dbs := b.add(KindDatabase, nDB)
	mqs := b.add(KindQueue, nMQ)
	caches := b.add(KindCache, nCache)
	hcl := b.add(KindHostCluster, nHostClusters)
	servers := b.add(KindServer, nServers)
	hyps := b.add(KindHypervisor, nHyp)
	vms := b.add(KindVM, nVMs)
	swp := b.add(KindSwitchPair, nSwitchPairs)
	sws := b.add(KindSwitch, nSwitches)
	core := b.add(KindCorePair, nCore)
	rtrs := b.add(KindRouter, nRouters)

	// Network: routers in redundant core pairs; switches uplinked to a core
	// pair; some switches in redundant pairs.
	for c, id := range core {
		b.cluster(id, rtrs[2*c:2*c+2])
	}
	uplink := func() int32 {
		if len(core) == 0 || len(rtrs)%2 == 1 && r.IntN(len(core)+1) == 0 {
			return rtrs[len(rtrs)-1] // the odd router out serves alone
		}
		return core[r.IntN(len(core))]
	}
	for _, s := range sws {
		b.relate(s, relConnectsTo, uplink())
	}
	for p, id := range swp {
		b.cluster(id, sws[2*p:2*p+2])
	}
	// Access: a server's uplink is a switch pair or an unpaired switch.
	// Servers sit in racks: consecutive servers share an uplink.
	access := append(append([]int32{}, swp...), sws[2*len(swp):]...)
	phys := append(append([]int32{}, servers...), hyps...)
	r.Shuffle(len(phys), func(i, j int) { phys[i], phys[j] = phys[j], phys[i] })
	for i, s := range phys {
		b.relate(s, relConnectsTo, access[i*len(access)/len(phys)])
	}
	for _, v := range vms {
		b.relate(v, relHostedOn, hyps[r.IntN(len(hyps))])
	}
	// Host clusters of 2-5 members, each host in at most one. Most spread
	// their members at random (some still share a hypervisor or a rack);
	// a third were built in one rack, behind one uplink.
	hosts := append(append([]int32{}, servers...), vms...)
	r.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	inCluster := make(map[int32]bool, len(hosts))
	var racked []int32 // servers in rack order
	for _, s := range phys {
		if b.kinds[s] == KindServer {
			racked = append(racked, s)
		}
	}
	next, nextRacked := 0, 0
	for _, c := range hcl {
		size := 2 + r.IntN(4)
		var members []int32
		if r.IntN(3) == 0 {
			for ; len(members) < size && nextRacked < len(racked); nextRacked++ {
				if s := racked[nextRacked]; !inCluster[s] {
					members = append(members, s)
				}
			}
		}
		for tries := 0; len(members) < size && tries < 2*len(hosts); tries++ {
			h := hosts[next%len(hosts)]
			next++
			if !inCluster[h] || next > len(hosts) { // tiny topologies reuse hosts
				members = append(members, h)
			}
		}
		for _, m := range members {
			inCluster[m] = true
		}
		b.cluster(c, members)
	}
	runOn := func(x int32, clusterShare float64) {
		if r.Float64() < clusterShare {
			b.relate(x, relRunsOn, hcl[r.IntN(len(hcl))])
		} else {
			b.relate(x, relRunsOn, hosts[r.IntN(len(hosts))])
		}
	}
	data := append(append(append([]int32{}, dbs...), mqs...), caches...)
	for _, d := range data {
		runOn(d, 0.4)
	}
	pickData := func() int32 {
		switch u := r.Float64(); {
		case u < 0.5:
			return dbs[skewLow(r, len(dbs))]
		case u < 0.75:
			return caches[skewLow(r, len(caches))]
		default:
			return mqs[skewLow(r, len(mqs))]
		}
	}
	for i, a := range apps {
		runOn(a, 0.5)
		for range 1 + r.IntN(3) {
			b.relate(a, relDependsOn, pickData())
		}
		if i > 0 {
			for range r.IntN(4) {
				b.relate(a, relDependsOn, apps[skewLow(r, i)])
			}
		}
	}
	for _, s := range bs {
		for range 2 + r.IntN(5) {
			b.relate(s, relDependsOn, apps[len(apps)-1-skewLow(r, len(apps))])
		}
	}
	// Denser graphs: more dependencies between applications and on data.
	for tries := 0; len(b.rels) < o.Relations && tries < 4*o.Relations; tries++ {
		i := 1 + r.IntN(len(apps)-1)
		if r.IntN(2) == 0 {
			b.relate(apps[i], relDependsOn, pickData())
		} else {
			b.relate(apps[i], relDependsOn, apps[skewLow(r, i)])
		}
	}
	return b.finish()
}

func (b *builder) finish() *Topology {
	n := len(b.doc.CIs)
	t := &Topology{
		Doc:     b.doc,
		Kinds:   b.kinds,
		index:   make(map[string]int32, n),
		upAt:    make([]int32, n+1),
		members: make([]int32, n),
		minUp:   b.minUp,
		byKind:  b.by,

		clusterMembers: map[int32][]int32{},
	}
	for i := range b.doc.CIs {
		t.index[b.doc.CIs[i].ID] = int32(i)
	}
	b.doc.Relations = make([]cmdb.Relation, len(b.rels))
	// A failure travels from a dependency to its dependent, and from a
	// member to its cluster.
	for i, rel := range b.rels {
		b.doc.Relations[i] = cmdb.Relation{From: b.doc.CIs[rel.from].ID, Type: relTypes[rel.typ], To: b.doc.CIs[rel.to].ID}
		src := rel.to
		if rel.typ == relMemberOf {
			src = rel.from
			t.members[rel.to]++
			t.clusterMembers[rel.to] = append(t.clusterMembers[rel.to], rel.from)
		}
		t.upAt[src+1]++
	}
	for i := 1; i <= n; i++ {
		t.upAt[i] += t.upAt[i-1]
	}
	t.up = make([]upEdge, len(b.rels))
	fill := append([]int32(nil), t.upAt[:n]...)
	for _, rel := range b.rels {
		src, dst := rel.to, rel.from
		if rel.typ == relMemberOf {
			src, dst = rel.from, rel.to
		}
		t.up[fill[src]] = upEdge{dst, rel.typ}
		fill[src]++
	}
	return t
}

// Summary counts CIs by kind and relations by type.
func (t *Topology) Summary() string {
	s := fmt.Sprintf("%d CIs, %d relations:", len(t.Doc.CIs), len(t.Doc.Relations))
	for k := range numKinds {
		s += fmt.Sprintf(" %s=%d", k, len(t.byKind[k]))
	}
	return s
}
