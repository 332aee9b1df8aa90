package incident

import (
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Policy holds the tunables of deduplication, grouping, lifecycle and
// priority. The daemon swaps in a new Policy on config reload.
type Policy struct {
	// GroupBy are the labels whose values put alerts into the same incident.
	GroupBy []string
	// GroupWindow is how long after its last alert an open incident with no
	// firing alert still takes new alerts of its group.
	GroupWindow time.Duration
	// FlapWindow: a re-fire this soon after resolution reopens the same
	// occurrence and counts a flap.
	FlapWindow time.Duration
	// FlapThreshold flaps mark the occurrence flapping.
	FlapThreshold int
	// ReopenWindow: a re-fire of one of a resolved incident's alerts this soon
	// after the incident resolved reopens it.
	ReopenWindow time.Duration
	// AutoResolve resolves an incident when all its alerts have resolved.
	AutoResolve bool
	// SeverityLabel names the label mapped to urgency.
	SeverityLabel string
	// Urgency maps lower-cased severity values to ITIL urgency 1 (high)..3.
	Urgency map[string]int
	// DefaultUrgency applies when the severity is missing or unknown.
	DefaultUrgency int
	// DefaultImpact is the ITIL impact 1..3 of incidents that impact no
	// business service known to the CMDB.
	DefaultImpact int
	// Topology, when set, places alerts on CIs into incidents through the
	// CMDB; alerts on no CI fall back to label grouping.
	Topology Topology
	// CorrelationWindow: an incident takes CMDB-related alerts while its
	// newest alert is this recent...
	CorrelationWindow time.Duration
	// MaxSpan: ...and until it is this old.
	MaxSpan time.Duration
}

// DefaultPolicy returns the documented defaults.
func DefaultPolicy() Policy {
	return Policy{
		GroupBy:           []string{"alertname", "cluster", "service"},
		GroupWindow:       10 * time.Minute,
		FlapWindow:        15 * time.Minute,
		FlapThreshold:     3,
		ReopenWindow:      time.Hour,
		AutoResolve:       true,
		SeverityLabel:     "severity",
		Urgency:           map[string]int{"critical": 1, "page": 1, "high": 1, "error": 2, "major": 2, "warning": 2, "minor": 3, "info": 3, "none": 3},
		DefaultUrgency:    3,
		DefaultImpact:     3,
		CorrelationWindow: 10 * time.Minute,
		MaxSpan:           time.Hour,
	}
}

// PriorityFor applies the ITIL impact x urgency matrix:
//
//	            urgency 1  2  3
//	impact 1         P1 P2 P3
//	impact 2         P2 P3 P4
//	impact 3         P3 P4 P5
func PriorityFor(impact, urgency int) int { return impact + urgency - 1 }

// UrgencyOf maps an alert's severity label to an urgency.
func (p *Policy) UrgencyOf(labels map[string]string) int {
	if u, ok := p.Urgency[strings.ToLower(labels[p.SeverityLabel])]; ok {
		return u
	}
	return p.DefaultUrgency
}

// GroupKey renders the grouping labels of an alert as a stable string, e.g.
// `alertname="HighLatency",cluster="eu1",service=""`.
func (p *Policy) GroupKey(labels map[string]string) string {
	var b strings.Builder
	for i, name := range p.GroupBy {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(labels[name])
		b.WriteByte('"')
	}
	return b.String()
}

// Fingerprint is Alertmanager's identity of a label set: FNV-1a over the
// sorted label names and values.
func Fingerprint(labels map[string]string) string {
	ls := make(model.LabelSet, len(labels))
	for k, v := range labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}

// titleFor names a new incident after its first alert: the summary annotation
// if any, else the alertname and the non-empty grouping labels.
func (p *Policy) titleFor(a *Alert) string {
	if s := strings.TrimSpace(a.Annotations["summary"]); s != "" {
		return s
	}
	name := a.Labels["alertname"]
	if name == "" {
		name = "alert " + a.Fingerprint
	}
	var parts []string
	for _, l := range p.GroupBy {
		if l != "alertname" && a.Labels[l] != "" {
			parts = append(parts, l+"="+a.Labels[l])
		}
	}
	if len(parts) == 0 {
		return name
	}
	return name + " (" + strings.Join(parts, ", ") + ")"
}

// commonLabels keeps the labels of have that want shares.
func commonLabels(have, want map[string]string) map[string]string {
	out := make(map[string]string, len(have))
	for k, v := range have {
		if w, ok := want[k]; ok && w == v {
			out[k] = v
		}
	}
	return out
}

func copyLabels(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sortedKeys returns the keys of m, sorted.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
