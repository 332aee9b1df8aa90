package incident

import (
	"fmt"
	"maps"
	"sort"
	"strconv"
	"time"
)

// State is the part of the store one ingest batch needs, loaded inside the
// batch's transaction.
type State struct {
	// Alerts holds the current occurrence of each fingerprint in the batch.
	Alerts map[string]*Alert
	// Incidents holds the incidents that changing occurrences belong to and
	// the open incidents of the batch's group keys.
	Incidents map[int64]*Incident
	// Owners holds, for every loaded occurrence's incident, the little that
	// classifying a repeat needs; the store reads it with the occurrences.
	Owners map[int64]Owner
}

// Owner is the status of an occurrence's incident.
type Owner struct {
	Status     Status
	ResolvedAt time.Time
}

// keeps reports whether an occurrence still firing stays quietly in its
// incident: the incident is open, or was resolved less than the reopen window
// ago (people resolve before monitoring catches up). A closed incident, or
// one resolved longer ago, lets go: the alert starts a new occurrence.
func (p *Policy) keeps(o Owner, now time.Time) bool {
	return o.Status.Open() || o.Status == StatusResolved && now.Sub(o.ResolvedAt) <= p.ReopenWindow
}

func (s *State) owner(a *Alert) (Owner, bool) {
	if inc, ok := s.Incidents[a.IncidentID]; ok {
		return Owner{Status: inc.Status, ResolvedAt: inc.ResolvedAt}, true
	}
	o, ok := s.Owners[a.IncidentID]
	return o, ok
}

// Stats counts what a batch did, for metrics and the ingest response.
type Stats struct {
	Received         int `json:"received"`
	New              int `json:"new"`
	Repeats          int `json:"repeats"`
	Resolved         int `json:"resolved"`
	Flaps            int `json:"flaps"`
	Stale            int `json:"stale"`
	IncidentsCreated int `json:"incidents_created"`
	IncidentsUpdated int `json:"incidents_updated"`
	// Unmapped counts new occurrences on no CI (grouped by labels) while a
	// CMDB is in use.
	Unmapped   int `json:"unmapped"`
	Merges     int `json:"merges"`
	Suppressed int `json:"suppressed"`
}

// Add accumulates o into s.
func (s *Stats) Add(o Stats) {
	s.Received += o.Received
	s.New += o.New
	s.Repeats += o.Repeats
	s.Resolved += o.Resolved
	s.Flaps += o.Flaps
	s.Stale += o.Stale
	s.IncidentsCreated += o.IncidentsCreated
	s.IncidentsUpdated += o.IncidentsUpdated
	s.Unmapped += o.Unmapped
	s.Merges += o.Merges
	s.Suppressed += o.Suppressed
}

// Changes is what a batch decided: rows to write and events to append.
type Changes struct {
	// Alerts are occurrences to write whole (insert or update).
	Alerts []*Alert
	// Repeats are occurrences whose only change is last_seen (the batch's
	// time) and their repeat counter, grouped by how many repeats this batch
	// added: the store updates each group with one narrow statement.
	Repeats   map[int][]*Alert
	Incidents []*Incident
	Events    []Event
	Stats     Stats
	// Merges move every alert of one incident to another.
	Merges []Merge
	// NewIncidents counts incidents in Incidents with a placeholder (negative)
	// id; the store allocates real ids and calls AssignIDs.
	NewIncidents int
}

// Merge moves the alerts of incident From into incident Into.
type Merge struct{ From, Into int64 }

// AssignIDs replaces the placeholder ids of new incidents with first,
// first+1, ... in creation order, everywhere they are referenced.
func (c *Changes) AssignIDs(first int64) {
	real := func(id int64) int64 {
		if id < 0 {
			return first + (-id - 1)
		}
		return id
	}
	for _, inc := range c.Incidents {
		inc.ID = real(inc.ID)
	}
	for _, a := range c.Alerts {
		a.IncidentID = real(a.IncidentID)
	}
	for i := range c.Events {
		c.Events[i].IncidentID = real(c.Events[i].IncidentID)
	}
	for i := range c.Merges {
		c.Merges[i] = Merge{From: real(c.Merges[i].From), Into: real(c.Merges[i].Into)}
	}
	for _, inc := range c.Incidents {
		inc.MergedInto = real(inc.MergedInto)
	}
}

// Needs says which incidents the store must load for a batch.
type Needs struct {
	IDs       []int64
	GroupKeys []string
	// Correlated asks for every open incident correlated through the CMDB:
	// a new alert on a CI may join any of them. Batches whose changes are on
	// no CI (or with an empty CMDB) skip that read and its row locks.
	Correlated bool
}

// Needs tells the store which incidents to load for inputs, given the current
// occurrences and their owners already loaded: only inputs that change
// something need incidents, so a batch of pure repeats costs one read and one
// write.
func (p *Policy) Needs(state *State, inputs []AlertInput, now time.Time) Needs {
	var n Needs
	seenID := map[int64]bool{}
	seenKey := map[string]bool{}
	count := make(map[string]int, len(inputs))
	for i := range inputs {
		count[inputs[i].Fingerprint]++
	}
	for i := range inputs {
		in := &inputs[i]
		a := state.Alerts[in.Fingerprint]
		if a != nil && a.Status == in.Status && count[in.Fingerprint] == 1 && p.repeatKept(state, a, now) {
			continue // a plain repeat
		}
		if a != nil && a.IncidentID != 0 && !seenID[a.IncidentID] {
			seenID[a.IncidentID] = true
			n.IDs = append(n.IDs, a.IncidentID)
		}
		if k := p.GroupKey(in.Labels); !seenKey[k] {
			seenKey[k] = true
			n.GroupKeys = append(n.GroupKeys, k)
		}
		if in.Status == AlertFiring && p.Topology != nil && !n.Correlated {
			ci, _ := p.Topology.MapCI(in.Labels)
			n.Correlated = ci != ""
		}
	}
	return n
}

// batch carries the working state of one Apply call.
type batch struct {
	p     *Policy
	now   time.Time
	state *State
	open  map[string][]*Incident // open incidents by group key
	// correlated are the open incidents placed through the CMDB.
	correlated []*Incident
	ch         *Changes
	dirtyA     map[*Alert]bool
	repeated   map[*Alert]int // plain repeats this batch, by count
	dirtyI     map[*Incident]bool
	nextTemp   int64
	// stale incidents need their root cause, impact and priority
	// re-derived, each for the last alert that changed it (in order).
	stale      map[*Incident]string
	staleOrder []*Incident
}

// Apply deduplicates inputs against state and groups new alerts into
// incidents. It mutates the objects in state and returns every changed row.
// Inputs are applied in order, so repeats of one fingerprint within a batch
// behave as if they had arrived one by one.
func (p *Policy) Apply(state *State, inputs []AlertInput, now time.Time) *Changes {
	b := &batch{
		p: p, now: now, state: state,
		open:     map[string][]*Incident{},
		ch:       &Changes{},
		dirtyA:   map[*Alert]bool{},
		repeated: map[*Alert]int{},
		dirtyI:   map[*Incident]bool{},
		stale:    map[*Incident]string{},
	}
	if state.Alerts == nil {
		state.Alerts = map[string]*Alert{}
	}
	if state.Incidents == nil {
		state.Incidents = map[int64]*Incident{}
	}
	for _, inc := range state.Incidents {
		if inc.Status.Open() {
			b.open[inc.GroupKey] = append(b.open[inc.GroupKey], inc)
			if inc.Correlation != nil {
				b.correlated = append(b.correlated, inc)
			}
		}
	}
	for i := range inputs {
		b.apply(&inputs[i])
	}
	b.rederiveStale()
	for a, n := range b.repeated {
		if !b.dirtyA[a] { // written whole anyway
			if b.ch.Repeats == nil {
				b.ch.Repeats = map[int][]*Alert{}
			}
			b.ch.Repeats[n] = append(b.ch.Repeats[n], a)
		}
	}
	b.ch.Stats.Received = len(inputs)
	return b.ch
}

func (b *batch) apply(in *AlertInput) {
	a := b.state.Alerts[in.Fingerprint]
	if in.Status == AlertResolved {
		b.resolve(a, in)
		return
	}
	switch {
	case a == nil:
		b.newOccurrence(nil, in)
	case a.Status == AlertFiring && b.p.repeatKept(b.state, a, b.now):
		b.repeat(a, in)
	case a.Status == AlertFiring:
		b.newOccurrence(a, in) // still firing after its incident let go
	case !in.StartsAt.IsZero() && !in.StartsAt.After(a.EndsAt):
		// A firing notice for an occurrence that has since resolved: a
		// delayed retry. Applying it would reopen a healthy alert.
		b.ch.Stats.Stale++
	case b.now.Sub(a.ResolvedAt) <= b.p.FlapWindow && b.incidentTaking(a) != nil:
		b.flap(a, in)
	default:
		b.newOccurrence(a, in)
	}
}

// repeatKept reports whether a repeat of a leaves it where it is. A
// suppressed alert still firing when its maintenance is over is not: it
// starts an occurrence that opens or joins an incident.
func (p *Policy) repeatKept(s *State, a *Alert, now time.Time) bool {
	if a.Suppressed && a.Status == AlertFiring {
		if p.Topology == nil {
			return false
		}
		_, still := p.Topology.Maintenance(a.CI, now)
		return still
	}
	if a.Status == AlertResolved || a.IncidentID == 0 {
		return true
	}
	o, ok := s.owner(a)
	return !ok || p.keeps(o, now)
}

// repeat records a notification that changes nothing but last_seen and the
// counter, unless its annotations changed (then the row is written whole).
func (b *batch) repeat(a *Alert, in *AlertInput) {
	a.LastSeen = b.now
	a.Repeats++
	b.ch.Stats.Repeats++
	if len(in.Annotations) > 0 && !maps.Equal(a.Annotations, in.Annotations) {
		a.Annotations = in.Annotations
		b.touchAlert(a)
		return
	}
	b.repeated[a]++
}

// flap re-fires a recently resolved occurrence.
func (b *batch) flap(a *Alert, in *AlertInput) {
	inc := b.incidentTaking(a)
	a.Status = AlertFiring
	a.EndsAt = time.Time{}
	a.ResolvedAt = time.Time{}
	a.LastSeen = b.now
	a.Flaps++
	if len(in.Annotations) > 0 {
		a.Annotations = in.Annotations
	}
	b.touchAlert(a)
	b.ch.Stats.Flaps++
	b.event(inc.ID, a.ID(), EventAlertFiring, fmt.Sprintf("alert %s firing again (flap %d)", alertName(a), a.Flaps))
	if !a.Flapping && a.Flaps >= b.p.FlapThreshold {
		a.Flapping = true
		b.event(inc.ID, a.ID(), EventAlertFlapping, fmt.Sprintf("alert %s is flapping: %d re-fires within %s of resolving", alertName(a), a.Flaps, b.p.FlapWindow))
	}
	b.attach(inc, a, false)
}

func (b *batch) newOccurrence(prev *Alert, in *AlertInput) {
	a := &Alert{
		Fingerprint:  in.Fingerprint,
		Seq:          1,
		Source:       in.Source,
		Status:       AlertFiring,
		Labels:       in.Labels,
		Annotations:  in.Annotations,
		GeneratorURL: in.GeneratorURL,
		StartsAt:     in.StartsAt,
		FirstSeen:    b.now,
		LastSeen:     b.now,
		Current:      true,
	}
	if a.StartsAt.IsZero() {
		a.StartsAt = b.now
	}
	via := ""
	if b.p.Topology != nil {
		a.CI, via = b.p.Topology.MapCI(a.Labels)
	}
	var inc *Incident
	if prev != nil {
		a.Seq = prev.Seq + 1
		prev.Current = false
		b.touchAlert(prev)
		if inc = b.incidentTaking(prev); inc != nil {
			a.Explanation = "fired again: back into " + b.name(inc)
		}
	}
	if inc == nil && a.CI != "" {
		if why, ok := b.p.Topology.Maintenance(a.CI, b.now); ok {
			a.Suppressed = true
			a.Explanation = fmt.Sprintf("on CI %s (by %s); suppressed: %s", a.CI, via, why)
			b.state.Alerts[a.Fingerprint] = a
			b.touchAlert(a)
			b.ch.Stats.New++
			b.ch.Stats.Suppressed++
			b.event(0, a.ID(), EventAlertSuppressed, fmt.Sprintf("alert %s suppressed: %s", alertName(a), why))
			return
		}
	}
	if inc == nil {
		inc = b.place(a, via)
	}
	b.state.Alerts[a.Fingerprint] = a
	b.touchAlert(a)
	b.ch.Stats.New++
	b.event(inc.ID, a.ID(), EventAlertFiring, fmt.Sprintf("alert %s firing", alertName(a)))
	b.attach(inc, a, true)
}

func (b *batch) resolve(a *Alert, in *AlertInput) {
	endsAt := in.EndsAt
	if endsAt.IsZero() {
		endsAt = b.now
	}
	switch {
	case a == nil:
		// A resolution for an alert never seen firing (sent before incidentd
		// ran, or after its data was purged). Keep it, visible, with no incident.
		a = &Alert{
			Fingerprint: in.Fingerprint, Seq: 1, Source: in.Source, Status: AlertResolved,
			Labels: in.Labels, Annotations: in.Annotations, GeneratorURL: in.GeneratorURL,
			StartsAt: in.StartsAt, EndsAt: endsAt, FirstSeen: b.now, LastSeen: b.now,
			ResolvedAt: b.now, Current: true,
		}
		if a.StartsAt.IsZero() {
			a.StartsAt = endsAt
		}
		b.state.Alerts[a.Fingerprint] = a
		b.touchAlert(a)
		b.ch.Stats.Resolved++
		return
	case a.Status == AlertResolved:
		b.repeat(a, in)
		return
	case !in.StartsAt.IsZero() && in.StartsAt.Before(a.StartsAt):
		b.ch.Stats.Stale++ // resolves an older occurrence
		return
	}
	a.Status = AlertResolved
	a.EndsAt = endsAt
	a.ResolvedAt = b.now
	a.LastSeen = b.now
	if len(in.Annotations) > 0 {
		a.Annotations = in.Annotations
	}
	b.touchAlert(a)
	b.ch.Stats.Resolved++
	inc := b.state.Incidents[a.IncidentID]
	if inc == nil {
		return
	}
	inc.FiringCount--
	inc.UpdatedAt = b.now
	b.touchIncident(inc)
	b.event(inc.ID, a.ID(), EventAlertResolved, fmt.Sprintf("alert %s resolved", alertName(a)))
	if m := b.member(inc, a); m != nil && m.Firing > 0 {
		if m.Firing--; m.Firing == 0 {
			b.recompute(inc, a.ID())
		}
	}
	if inc.FiringCount <= 0 && b.p.AutoResolve && inc.Status.Open() {
		inc.FiringCount = 0
		inc.Status = StatusResolved
		inc.ResolvedAt = b.now
		inc.ResolvedBy = Actor
		b.event(inc.ID, "", EventIncidentResolved, "all alerts resolved")
	}
}

// incidentTaking returns the incident of a's previous occurrence if it can
// take a re-fire: still open, or resolved within the reopen window (then it
// is reopened). Otherwise nil.
//
// A re-fire of an alert on a CI reopens a resolved correlated incident only
// within the correlation window (capped by the reopen window); later the
// CMDB places it like a new alert. A failure that returns after a quiet
// spell is most often a new one, and the topology knows better than the
// history which open incident, if any, it belongs to.
func (b *batch) incidentTaking(a *Alert) *Incident {
	inc := b.state.Incidents[a.IncidentID]
	if inc == nil {
		return nil
	}
	if inc.Status == StatusResolved && inc.Correlation != nil && a.CI != "" && b.now.Sub(inc.ResolvedAt) > min(b.p.ReopenWindow, b.p.CorrelationWindow) {
		return nil
	}
	if b.p.keeps(Owner{Status: inc.Status, ResolvedAt: inc.ResolvedAt}, b.now) {
		return inc
	}
	return nil
}

// groupIncident finds the open incident of a's group that takes new alerts,
// or opens one.
func (b *batch) groupIncident(a *Alert) *Incident {
	key := b.p.GroupKey(a.Labels)
	var best *Incident
	for _, inc := range b.open[key] {
		if !inc.Status.Open() {
			continue
		}
		if inc.FiringCount > 0 || b.now.Sub(inc.LastAlertAt) <= b.p.GroupWindow {
			if best == nil || inc.LastAlertAt.After(best.LastAlertAt) {
				best = inc
			}
		}
	}
	if best != nil {
		return best
	}
	return b.newIncident(a, key, b.p.DefaultImpact)
}

// newIncident opens an incident for a.
func (b *batch) newIncident(a *Alert, key string, impact int) *Incident {
	b.nextTemp--
	urgency := b.p.UrgencyOf(a.Labels)
	inc := &Incident{
		ID:          b.nextTemp,
		GroupKey:    key,
		Title:       b.p.titleFor(a),
		Status:      StatusTriggered,
		Urgency:     urgency,
		Impact:      impact,
		Priority:    PriorityFor(impact, urgency),
		Major:       PriorityFor(impact, urgency) == 1,
		Labels:      copyLabels(a.Labels),
		CreatedAt:   b.now,
		UpdatedAt:   b.now,
		LastAlertAt: b.now,
	}
	b.state.Incidents[inc.ID] = inc
	b.open[key] = append(b.open[key], inc)
	b.ch.NewIncidents++
	b.ch.Stats.IncidentsCreated++
	b.touchIncident(inc)
	b.event(inc.ID, "", EventIncidentTriggered, fmt.Sprintf("incident opened by alert %s (%s)", alertName(a), PriorityLabel(inc.Priority)))
	return inc
}

// place puts a new occurrence into an incident: through the CMDB when the
// alert is on a CI, by labels otherwise.
func (b *batch) place(a *Alert, via string) *Incident {
	if a.CI == "" {
		if b.p.Topology != nil {
			b.ch.Stats.Unmapped++
		}
		inc := b.groupIncident(a)
		a.Explanation = "on no CI: grouped by labels " + inc.GroupKey
		return inc
	}
	// Placement reads the incidents' firing CIs and root-cause candidates.
	b.rederiveStale()
	// Every firing CI of an open incident that still takes alerts: a CI
	// whose alerts resolved no longer attracts new failures.
	targets := map[string]bool{}
	owners := map[string][]*Incident{}
	for _, inc := range b.correlated {
		if !inc.Status.Open() || b.now.Sub(inc.LastAlertAt) > b.p.CorrelationWindow || b.now.Sub(inc.CreatedAt) > b.p.MaxSpan {
			continue
		}
		for ci, m := range inc.Correlation.CIs {
			if m.Firing > 0 {
				targets[ci] = true
				owners[ci] = append(owners[ci], inc)
			}
		}
	}
	type hit struct {
		inc  *Incident
		ci   string
		link Link
	}
	best := map[*Incident]hit{}
	for ci, link := range b.p.Topology.Near(a.CI, targets) {
		for _, inc := range owners[ci] {
			// From below, the alert may be a cause: only of a CI that
			// has no cause in the incident yet, or a shared dependency
			// (a business service, a widely used API) would pull
			// unrelated failures beneath it together.
			if link.Above && !inc.Correlation.candidate(ci) {
				continue
			}
			if h, ok := best[inc]; !ok || link.Hops < h.link.Hops || link.Hops == h.link.Hops && ci < h.ci {
				best[inc] = hit{inc, ci, link}
			}
		}
	}
	on := fmt.Sprintf("on CI %s (by %s)", a.CI, via)
	if len(best) == 0 {
		_, impact := b.p.Topology.Impact([]string{a.CI})
		if impact == 0 {
			impact = b.p.DefaultImpact
		}
		inc := b.newIncident(a, "cmdb:"+a.CI, impact)
		inc.Correlation = &Correlation{CIs: map[string]*CIMember{}}
		b.correlated = append(b.correlated, inc)
		a.Explanation = fmt.Sprintf("%s; opened a new incident: no open incident has an alert within %d hops", on, b.p.Topology.MaxHops())
		return inc
	}
	hits := make([]hit, 0, len(best))
	for _, h := range best {
		hits = append(hits, h)
	}
	// Closest first; ties to the incident with the most recent alert.
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].link.Hops != hits[j].link.Hops {
			return hits[i].link.Hops < hits[j].link.Hops
		}
		if !hits[i].inc.LastAlertAt.Equal(hits[j].inc.LastAlertAt) {
			return hits[i].inc.LastAlertAt.After(hits[j].inc.LastAlertAt)
		}
		return hits[i].inc.ID < hits[j].inc.ID
	})
	join := hits[0]
	a.Explanation = fmt.Sprintf("%s; joined %s: %s, %s, %s after its newest alert",
		on, b.name(join.inc), pathOrSame(join.link, a.CI), hopWord(join.link.Hops), b.now.Sub(join.inc.LastAlertAt).Round(time.Second))
	// The alert connects every other incident it reaches: merge them in.
	for _, h := range hits[1:] {
		b.merge(join.inc, h.inc, a, h.link)
	}
	return join.inc
}

func pathOrSame(l Link, ci string) string {
	if l.Hops == 0 {
		return "same CI " + ci
	}
	return l.Path
}

func hopWord(n int) string {
	if n == 1 {
		return "1 hop"
	}
	return strconv.Itoa(n) + " hops"
}

// name refers to an incident in explanations; new incidents have no number
// until the store allocates one.
func (b *batch) name(inc *Incident) string {
	if inc.ID > 0 {
		return inc.Key()
	}
	return "a new incident"
}

// merge moves everything of from into into: an alert connects them.
func (b *batch) merge(into, from *Incident, a *Alert, link Link) {
	why := fmt.Sprintf("alert %s on %s connects them (%s)", alertName(a), a.CI, pathOrSame(link, a.CI))
	b.event(into.ID, a.ID(), EventIncidentMerged, fmt.Sprintf("absorbed %s: %s", b.name(from), why))
	b.event(from.ID, a.ID(), EventIncidentMerged, fmt.Sprintf("merged into %s: %s", b.name(into), why))
	into.AlertCount += from.AlertCount
	into.FiringCount += from.FiringCount
	into.Labels = commonLabels(into.Labels, from.Labels)
	if from.LastAlertAt.After(into.LastAlertAt) {
		into.LastAlertAt = from.LastAlertAt
	}
	// The merged incident began when the older one did: max_span counts
	// from there, or merges would keep old CIs attracting alerts forever.
	if from.CreatedAt.Before(into.CreatedAt) {
		into.CreatedAt = from.CreatedAt
	}
	if from.Urgency < into.Urgency {
		into.Urgency = from.Urgency
	}
	for ci, m := range from.Correlation.CIs {
		have := into.Correlation.CIs[ci]
		if have == nil {
			into.Correlation.CIs[ci] = &CIMember{Firing: m.Firing, FirstFiring: m.FirstFiring, Urgency: m.Urgency, Alertname: m.Alertname}
			continue
		}
		have.Firing += m.Firing
		if m.FirstFiring.Before(have.FirstFiring) {
			have.FirstFiring = m.FirstFiring
		}
		have.Urgency = min(have.Urgency, m.Urgency)
	}
	from.Status = StatusClosed
	from.ClosedAt = b.now
	from.FiringCount = 0
	from.MergedInto = into.ID
	from.UpdatedAt = b.now
	into.UpdatedAt = b.now
	for _, x := range b.state.Alerts {
		if x.IncidentID == from.ID {
			x.IncidentID = into.ID
		}
	}
	b.ch.Merges = append(b.ch.Merges, Merge{From: from.ID, Into: into.ID})
	b.ch.Stats.Merges++
	b.touchIncident(from)
	b.touchIncident(into)
	b.recompute(into, a.ID())
}

// member returns the CI membership of a in inc, if inc is correlated.
func (b *batch) member(inc *Incident, a *Alert) *CIMember {
	if inc.Correlation == nil || a.CI == "" {
		return nil
	}
	return inc.Correlation.CIs[a.CI]
}

// recompute marks an incident's root cause, impact and priority for
// re-deriving from its firing CIs. The work runs once per incident when the
// next placement needs it or the batch ends, not once per change: an alert
// that merges incidents and brings a new CI would otherwise pay three times.
func (b *batch) recompute(inc *Incident, alertID string) {
	if inc.Correlation == nil || b.p.Topology == nil {
		return
	}
	if _, ok := b.stale[inc]; !ok {
		b.staleOrder = append(b.staleOrder, inc)
	}
	b.stale[inc] = alertID
}

// rederiveStale re-derives every incident marked by recompute.
func (b *batch) rederiveStale() {
	for _, inc := range b.staleOrder {
		b.rederive(inc, b.stale[inc])
	}
	clear(b.stale)
	b.staleOrder = b.staleOrder[:0]
}

// rederive re-derives an incident's root cause, impact and priority from
// its firing CIs. The root cause stays when nothing fires any more.
func (b *batch) rederive(inc *Incident, alertID string) {
	cause := b.p.Topology.RootCause(inc.Correlation.CIs)
	if ci := cause.CI; ci != "" {
		if ci != inc.RootCause && inc.RootCause != "" {
			b.event(inc.ID, alertID, EventIncidentRootCause, fmt.Sprintf("root cause %s -> %s: %s", inc.RootCause, ci, cause.Reason))
		}
		inc.RootCause = ci
		inc.Correlation.RootCauseReason = cause.Reason
		inc.Correlation.Candidates = cause.Candidates
		inc.Signature = ci + "/" + inc.Correlation.CIs[ci].Alertname
	}
	var firing []string
	for ci, m := range inc.Correlation.CIs {
		if m.Firing > 0 {
			firing = append(firing, ci)
		}
	}
	if len(firing) > 0 {
		sort.Strings(firing)
		impacted, impact := b.p.Topology.Impact(firing)
		if impact == 0 {
			impact = b.p.DefaultImpact
		}
		inc.Correlation.Impacted = impacted
		inc.Impact = impact
	}
	b.reprioritize(inc, alertID, "impact "+strconv.Itoa(inc.Impact)+", urgency "+strconv.Itoa(inc.Urgency))
	b.touchIncident(inc)
}

// reprioritize applies the ITIL matrix and records a change.
func (b *batch) reprioritize(inc *Incident, alertID, why string) {
	old := inc.Priority
	inc.Priority = PriorityFor(inc.Impact, inc.Urgency)
	inc.Major = inc.Priority == 1
	if inc.Priority != old {
		b.event(inc.ID, alertID, EventIncidentPriorityChanged, fmt.Sprintf("priority %s -> %s: %s", PriorityLabel(old), PriorityLabel(inc.Priority), why))
	}
}

// attach records a firing occurrence on inc, reopening inc if it had
// resolved and raising its priority if the alert is more urgent.
func (b *batch) attach(inc *Incident, a *Alert, isNew bool) {
	a.IncidentID = inc.ID
	if isNew {
		inc.AlertCount++
		if inc.AlertCount > 1 {
			inc.Labels = commonLabels(inc.Labels, a.Labels)
		}
	}
	inc.FiringCount++
	inc.LastAlertAt = b.now
	inc.UpdatedAt = b.now
	if inc.Status == StatusResolved {
		inc.Status = StatusTriggered
		inc.ResolvedAt = time.Time{}
		inc.ResolvedBy = ""
		inc.AcknowledgedAt = time.Time{}
		inc.AcknowledgedBy = ""
		b.open[inc.GroupKey] = append(b.open[inc.GroupKey], inc)
		b.event(inc.ID, a.ID(), EventIncidentReopened, fmt.Sprintf("reopened: alert %s fired again", alertName(a)))
	}
	urgency := b.p.UrgencyOf(a.Labels)
	if urgency < inc.Urgency {
		inc.Urgency = urgency
		b.reprioritize(inc, a.ID(), "alert "+alertName(a))
	}
	if inc.Correlation != nil && a.CI != "" {
		m := inc.Correlation.CIs[a.CI]
		if m == nil {
			m = &CIMember{FirstFiring: b.now, Urgency: urgency, Alertname: a.Labels["alertname"]}
			inc.Correlation.CIs[a.CI] = m
		}
		m.Urgency = min(m.Urgency, urgency)
		if m.Firing++; m.Firing == 1 {
			b.recompute(inc, a.ID())
		}
	}
	b.touchIncident(inc)
}

func (b *batch) touchAlert(a *Alert) {
	if !b.dirtyA[a] {
		b.dirtyA[a] = true
		b.ch.Alerts = append(b.ch.Alerts, a)
	}
}

func (b *batch) touchIncident(inc *Incident) {
	if !b.dirtyI[inc] {
		b.dirtyI[inc] = true
		b.ch.Incidents = append(b.ch.Incidents, inc)
		if inc.ID > 0 {
			b.ch.Stats.IncidentsUpdated++
		}
	}
}

func (b *batch) event(incidentID int64, alertID, kind, msg string) {
	b.ch.Events = append(b.ch.Events, Event{IncidentID: incidentID, AlertID: alertID, At: b.now, Actor: Actor, Kind: kind, Message: msg})
}

func alertName(a *Alert) string {
	if n := a.Labels["alertname"]; n != "" {
		return n + " " + a.Fingerprint
	}
	return a.Fingerprint
}
