package cmdb

import (
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Graph is an immutable index of a validated Document. It is built once per
// CMDB change and swapped in atomically; every read is lock-free.
//
// Edges are kept in the dependency direction, dependent -> dependency ("x
// needs y": a failure of y can impact x), in compressed adjacency arrays, and
// reversed for impact walks. For member_of the cluster is the dependent and
// the member the dependency.
type Graph struct {
	doc   *Document
	index map[string]int32
	// needs[needsAt[i]:needsAt[i+1]] are the dependencies of CI i;
	// impacts[...] the CIs that depend on it. Each edge keeps the index of
	// the relation it came from, to explain itself.
	needsAt, impactsAt []int32
	needs, impacts     []edge
	// members and minUp describe clusters (targets of member_of).
	members []int32
	minUp   []int32
	// match indexes every CI match set by one of its label pairs.
	match map[labelPair][]matcher
	// walkers are reused by walks (Roots, Above, Impact).
	walkers sync.Pool
}

type edge struct {
	ci  int32
	rel int32
}

type labelPair struct{ name, value string }

type matcher struct {
	ci  int32
	set map[string]string
}

// Build indexes a document that has passed validation.
func Build(doc *Document) *Graph {
	n := len(doc.CIs)
	g := &Graph{
		doc:     doc,
		index:   make(map[string]int32, n),
		members: make([]int32, n),
		minUp:   make([]int32, n),
		match:   map[labelPair][]matcher{},
	}
	for i, ci := range doc.CIs {
		g.index[ci.ID] = int32(i)
		g.minUp[i] = 1
		if v, err := strconv.Atoi(ci.Attributes["min_up"]); err == nil && v > 0 {
			g.minUp[i] = int32(v)
		}
		for _, set := range ci.Match {
			// Index by the smallest pair; a candidate must carry the rest too.
			names := make([]string, 0, len(set))
			for k := range set {
				names = append(names, k)
			}
			sort.Strings(names)
			p := labelPair{names[0], set[names[0]]}
			g.match[p] = append(g.match[p], matcher{ci: int32(i), set: set})
		}
	}
	deg := make([]int32, n+1)
	rdeg := make([]int32, n+1)
	type pair struct{ dependent, dependency, rel int32 }
	pairs := make([]pair, len(doc.Relations))
	for r, rel := range doc.Relations {
		from, to := g.index[rel.From], g.index[rel.To]
		p := pair{from, to, int32(r)}
		if rel.Type == MemberOf {
			p = pair{to, from, int32(r)}
			g.members[to]++
		}
		pairs[r] = p
		deg[p.dependent+1]++
		rdeg[p.dependency+1]++
	}
	for i := 1; i <= n; i++ {
		deg[i] += deg[i-1]
		rdeg[i] += rdeg[i-1]
	}
	g.needsAt, g.impactsAt = deg, rdeg
	g.needs = make([]edge, len(pairs))
	g.impacts = make([]edge, len(pairs))
	fill := append([]int32(nil), deg[:n]...)
	rfill := append([]int32(nil), rdeg[:n]...)
	for _, p := range pairs {
		g.needs[fill[p.dependent]] = edge{p.dependency, p.rel}
		fill[p.dependent]++
		g.impacts[rfill[p.dependency]] = edge{p.dependent, p.rel}
		rfill[p.dependency]++
	}
	return g
}

// Empty is the graph of an empty CMDB.
func Empty() *Graph { return Build(&Document{}) }

// Document returns the document the graph was built from. Do not modify it.
func (g *Graph) Document() *Document { return g.doc }

// Len is the number of CIs.
func (g *Graph) Len() int { return len(g.doc.CIs) }

// CI returns the CI with id.
func (g *Graph) CI(id string) (*CI, bool) {
	i, ok := g.index[id]
	if !ok {
		return nil, false
	}
	return &g.doc.CIs[i], true
}

// Relations returns the relations in which id takes part.
func (g *Graph) Relations(id string) []Relation {
	i, ok := g.index[id]
	if !ok {
		return nil
	}
	var out []Relation
	for _, e := range g.needs[g.needsAt[i]:g.needsAt[i+1]] {
		out = append(out, g.doc.Relations[e.rel])
	}
	for _, e := range g.impacts[g.impactsAt[i]:g.impactsAt[i+1]] {
		out = append(out, g.doc.Relations[e.rel])
	}
	return out
}

// MatchLabels returns the first CI, in document order, one of whose match
// label sets the labels carry.
func (g *Graph) MatchLabels(labels map[string]string) (string, bool) {
	best := int32(-1)
	for name, value := range labels {
		for _, m := range g.match[labelPair{name, value}] {
			if best >= 0 && m.ci >= best {
				continue
			}
			if carries(labels, m.set) {
				best = m.ci
			}
		}
	}
	if best < 0 {
		return "", false
	}
	return g.doc.CIs[best].ID, true
}

func carries(labels, set map[string]string) bool {
	for k, v := range set {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// Path is a chain of relations between two CIs.
type Path struct {
	// Hops is the number of relations.
	Hops int
	// Relations along the path, in their written form.
	Relations []Relation
	// Above is true when the far end needs the start (a failure of the
	// start can explain it), false when the start needs the far end.
	Above bool
}

func (p Path) String() string {
	parts := make([]string, len(p.Relations))
	for i, r := range p.Relations {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}

// Near finds, for each CI in targets that lies within maxHops of from along
// a path in one direction (from needs it, or it needs from, transitively),
// the shortest such path. A path that mixes directions (two apps sharing a
// database) does not count: such alerts join only when the shared
// dependency alerts too, which merges them.
func (g *Graph) Near(from string, maxHops int, targets map[string]bool) map[string]Path {
	src, ok := g.index[from]
	if !ok || len(targets) == 0 {
		return nil
	}
	out := map[string]Path{}
	if targets[from] {
		out[from] = Path{}
	}
	g.walk(src, maxHops, false, targets, out)
	g.walk(src, maxHops, true, targets, out)
	return out
}

// walk is a bounded breadth-first search along one direction (up: to what
// needs src; down: to what src needs), recording the shortest path to each
// target reached.
func (g *Graph) walk(src int32, maxHops int, up bool, targets map[string]bool, out map[string]Path) {
	at, edges := g.needsAt, g.needs
	if up {
		at, edges = g.impactsAt, g.impacts
	}
	type visit struct {
		parent int32
		rel    int32
	}
	seen := map[int32]visit{src: {-1, -1}}
	frontier := []int32{src}
	for hop := 1; hop <= maxHops && len(frontier) > 0; hop++ {
		var next []int32
		for _, n := range frontier {
			for _, e := range edges[at[n]:at[n+1]] {
				if _, ok := seen[e.ci]; ok {
					continue
				}
				seen[e.ci] = visit{n, e.rel}
				next = append(next, e.ci)
				id := g.doc.CIs[e.ci].ID
				if !targets[id] {
					continue
				}
				if prev, ok := out[id]; ok && prev.Hops <= hop {
					continue
				}
				rels := make([]Relation, hop)
				for c, i := e.ci, hop-1; c != src; c, i = seen[c].parent, i-1 {
					rels[i] = g.doc.Relations[seen[c].rel]
				}
				out[id] = Path{Hops: hop, Relations: rels, Above: up}
			}
		}
		frontier = next
	}
}

// DependsOnAny reports the first CI of set that id needs, transitively
// (within maxDepth relations), with the path to it.
func (g *Graph) DependsOnAny(id string, set map[string]bool, maxDepth int) (string, Path, bool) {
	src, ok := g.index[id]
	if !ok {
		return "", Path{}, false
	}
	others := make(map[string]bool, len(set))
	for k := range set {
		if k != id {
			others[k] = true
		}
	}
	found := map[string]Path{}
	g.walk(src, maxDepth, false, others, found)
	best, bestPath := "", Path{}
	for k, p := range found {
		if best == "" || p.Hops < bestPath.Hops || p.Hops == bestPath.Hops && k < best {
			best, bestPath = k, p
		}
	}
	return best, bestPath, best != ""
}

// Roots returns the CIs of firing that no other CI of firing sits beneath
// within depth relations: the root-cause candidates. It is one walk up the
// graph from all of them at once (a firing CI the walk reaches has a firing
// CI beneath it), instead of one walk down per CI: large incidents stay
// cheap. Unknown ids are candidates.
func (g *Graph) Roots(firing []string, depth int) []string {
	w := g.walker()
	defer g.walkers.Put(w)
	frontier := w.frontier[:0]
	for _, id := range firing {
		x, ok := g.index[id]
		if !ok {
			continue
		}
		for _, e := range g.impacts[g.impactsAt[x]:g.impactsAt[x+1]] {
			if w.visit(e.ci) {
				frontier = append(frontier, e.ci)
			}
		}
	}
	next := w.next[:0]
	for hop := 2; hop <= depth && len(frontier) > 0; hop++ {
		next = next[:0]
		for _, x := range frontier {
			for _, e := range g.impacts[g.impactsAt[x]:g.impactsAt[x+1]] {
				if w.visit(e.ci) {
					next = append(next, e.ci)
				}
			}
		}
		frontier, next = next, frontier
	}
	w.frontier, w.next = frontier, next
	var out []string
	for _, id := range firing {
		if x, ok := g.index[id]; !ok || !w.seen(x) {
			out = append(out, id)
		}
	}
	return out
}

// State of an impacted CI.
type State string

// Impact states.
const (
	Down     State = "down"
	Degraded State = "degraded"
)

// Impacted is a CI a failure reaches.
type Impacted struct {
	CI          string `json:"ci"`
	Name        string `json:"name,omitempty"`
	Class       string `json:"class"`
	Criticality int    `json:"criticality"`
	State       State  `json:"state"`
}

// Impact walks from the failed CIs through everything that needs them and
// returns the business services reached, with their state, most critical
// first. A CI that needs a down CI is down, one that needs a degraded CI is
// degraded; a cluster is degraded while at least min_up (default 1) of its
// members are up, and down below that.
func (g *Graph) Impact(failed []string) []Impacted {
	w := g.walker()
	defer g.walkers.Put(w)
	// w.state holds each visited CI's state; clusters count their down
	// members, each member_of relation once.
	var downMembers map[int32]int32
	var countedDown map[int32]bool
	work := w.frontier[:0]
	reached := w.next[:0]
	for _, id := range failed {
		if i, ok := g.index[id]; ok && w.stateOf(i) != Down {
			if w.visit(i) {
				reached = append(reached, i)
			}
			w.state[i] = down
			work = append(work, i)
		}
	}
	for len(work) > 0 {
		x := work[len(work)-1]
		work = work[:len(work)-1]
		for _, e := range g.impacts[g.impactsAt[x]:g.impactsAt[x+1]] {
			y := e.ci
			var s uint8
			if g.doc.Relations[e.rel].Type == MemberOf {
				if downMembers == nil {
					downMembers, countedDown = map[int32]int32{}, map[int32]bool{}
				}
				if w.state[x] == down && !countedDown[e.rel] {
					countedDown[e.rel] = true
					downMembers[y]++
				}
				s = degraded
				if g.members[y]-downMembers[y] < g.minUp[y] {
					s = down
				}
			} else {
				s = w.state[x]
			}
			if w.visit(y) {
				reached = append(reached, y)
				w.state[y] = 0
			}
			if s > w.state[y] {
				w.state[y] = s
				work = append(work, y)
			}
		}
	}
	var out []Impacted
	for _, i := range reached {
		ci := &g.doc.CIs[i]
		if ci.Class == ClassBusinessService {
			out = append(out, Impacted{CI: ci.ID, Name: ci.Name, Class: ci.Class, Criticality: ci.Criticality, State: stateNames[w.state[i]]})
		}
	}
	w.frontier, w.next = work, reached
	sort.Slice(out, func(a, b int) bool {
		if out[a].Criticality != out[b].Criticality {
			return out[a].Criticality < out[b].Criticality
		}
		return out[a].CI < out[b].CI
	})
	return out
}

// Impact states as walk values, ordered by severity.
const (
	unaffected uint8 = iota
	degraded
	down
)

var stateNames = [...]State{unaffected: "", degraded: Degraded, down: Down}

// Above returns the CIs of set that need id, transitively within depth
// relations: the failures that a failure of id can explain.
func (g *Graph) Above(id string, set map[string]bool, depth int) []string {
	src, ok := g.index[id]
	if !ok || len(set) == 0 {
		return nil
	}
	w := g.walker()
	defer g.walkers.Put(w)
	w.visit(src)
	frontier := append(w.frontier[:0], src)
	next := w.next[:0]
	var out []string
	for hop := 1; hop <= depth && len(frontier) > 0; hop++ {
		next = next[:0]
		for _, x := range frontier {
			for _, e := range g.impacts[g.impactsAt[x]:g.impactsAt[x+1]] {
				if !w.visit(e.ci) {
					continue
				}
				next = append(next, e.ci)
				if id := g.doc.CIs[e.ci].ID; set[id] {
					out = append(out, id)
				}
			}
		}
		frontier, next = next, frontier
	}
	w.frontier, w.next = frontier, next
	sort.Strings(out)
	return out
}

// walker is the reusable state of a walk over the graph: a visit stamp per
// CI (visited in this walk when equal to gen), so that a walk costs what it
// visits, not the size of the graph.
type walker struct {
	stamp          []uint32
	gen            uint32
	state          []uint8 // Impact's per-CI state, valid where visited
	frontier, next []int32
}

// walker takes a fresh walker from the pool; put it back when done.
func (g *Graph) walker() *walker {
	w, _ := g.walkers.Get().(*walker)
	if w == nil {
		w = &walker{stamp: make([]uint32, len(g.doc.CIs)), state: make([]uint8, len(g.doc.CIs))}
	}
	w.reset()
	return w
}

// reset starts a new walk.
func (w *walker) reset() {
	if w.gen++; w.gen == 0 { // wrapped: forget every old stamp
		clear(w.stamp)
		w.gen = 1
	}
}

// visit marks x and reports whether it is new in this walk.
func (w *walker) visit(x int32) bool {
	if w.stamp[x] == w.gen {
		return false
	}
	w.stamp[x] = w.gen
	return true
}

func (w *walker) seen(x int32) bool { return w.stamp[x] == w.gen }

func (w *walker) stateOf(x int32) State {
	if !w.seen(x) {
		return ""
	}
	return stateNames[w.state[x]]
}
