// Package incident holds the domain: alerts, incidents, their lifecycle and the
// rules that deduplicate alerts and group them into incidents. It does no I/O:
// the store loads state, the Engine decides, the store writes the decision.
package incident

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/cmdb"
)

// Status is an incident's lifecycle state.
type Status string

// Incident statuses. triggered -> acknowledged -> resolved -> closed; on_hold
// pauses SLA clocks.
const (
	StatusTriggered    Status = "triggered"
	StatusAcknowledged Status = "acknowledged"
	StatusOnHold       Status = "on_hold"
	StatusResolved     Status = "resolved"
	StatusClosed       Status = "closed"
)

// OpenStatuses are the statuses of an incident that still needs attention.
var OpenStatuses = []Status{StatusTriggered, StatusAcknowledged, StatusOnHold}

// AllStatuses lists every status, for validation.
var AllStatuses = []Status{StatusTriggered, StatusAcknowledged, StatusOnHold, StatusResolved, StatusClosed}

// Open reports whether the incident still needs attention.
func (s Status) Open() bool {
	return s == StatusTriggered || s == StatusAcknowledged || s == StatusOnHold
}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, v := range AllStatuses {
		if s == v {
			return true
		}
	}
	return false
}

// AlertStatus is the state an alert source reports.
type AlertStatus string

// Alert statuses, as Alertmanager names them.
const (
	AlertFiring   AlertStatus = "firing"
	AlertResolved AlertStatus = "resolved"
)

// Actor is the name used on timeline events written by incidentd itself.
const Actor = "incidentd"

// AlertInput is one alert notification as decoded from a source, before
// deduplication.
type AlertInput struct {
	Fingerprint  string
	Source       string
	Status       AlertStatus
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string
}

// Alert is one occurrence of an alert: from its first firing to its final
// resolution. Repeats and flaps (re-fires within the flap window) stay on the
// same occurrence; a re-fire after that starts a new occurrence (Seq+1).
type Alert struct {
	Fingerprint  string            `json:"fingerprint"`
	Seq          int               `json:"seq"`
	IncidentID   int64             `json:"incident_id,omitempty"`
	Source       string            `json:"source"`
	Status       AlertStatus       `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	GeneratorURL string            `json:"generator_url,omitempty"`
	StartsAt     time.Time         `json:"starts_at"`
	EndsAt       time.Time         `json:"ends_at,omitzero"`
	FirstSeen    time.Time         `json:"first_seen"`
	LastSeen     time.Time         `json:"last_seen"`
	ResolvedAt   time.Time         `json:"resolved_at,omitzero"`
	Repeats      int64             `json:"repeats"`
	Flaps        int               `json:"flaps"`
	Flapping     bool              `json:"flapping"`
	// CI is the CMDB configuration item the alert is on ("" if unmapped).
	CI string `json:"ci,omitempty"`
	// Explanation says how the occurrence was placed in its incident.
	Explanation string `json:"explanation,omitempty"`
	// Suppressed: the alert's CI (or one it needs) was in maintenance when
	// it fired; it opens no incident until the maintenance is over.
	Suppressed bool `json:"suppressed,omitempty"`
	// Current is false once a newer occurrence of the same fingerprint exists.
	Current bool `json:"current"`
}

// ID is the occurrence's stable identifier: fingerprint and sequence number.
func (a *Alert) ID() string { return a.Fingerprint + "-" + strconv.Itoa(a.Seq) }

// Incident is a group of related alerts that people work on as one.
type Incident struct {
	ID             int64             `json:"id"`
	GroupKey       string            `json:"group_key"`
	Title          string            `json:"title"`
	Status         Status            `json:"status"`
	Priority       int               `json:"priority"`
	Urgency        int               `json:"urgency"`
	Impact         int               `json:"impact"`
	Labels         map[string]string `json:"labels"`
	AlertCount     int               `json:"alert_count"`
	FiringCount    int               `json:"firing_count"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	LastAlertAt    time.Time         `json:"last_alert_at"`
	AcknowledgedAt time.Time         `json:"acknowledged_at,omitzero"`
	AcknowledgedBy string            `json:"acknowledged_by,omitempty"`
	ResolvedAt     time.Time         `json:"resolved_at,omitzero"`
	ResolvedBy     string            `json:"resolved_by,omitempty"`
	ClosedAt       time.Time         `json:"closed_at,omitzero"`
	// RootCause is the CI of the most upstream firing alert, for incidents
	// correlated through the CMDB.
	RootCause string `json:"root_cause,omitempty"`
	// Major marks a P1.
	Major bool `json:"major"`
	// MergedInto is the incident this one was merged into (then closed).
	MergedInto int64 `json:"merged_into,omitempty"`
	// Signature identifies recurrences: the root-cause CI and the alertname
	// of its first alert ("payments-db/PostgresDown"). Problems group
	// incidents by it.
	Signature   string       `json:"signature,omitempty"`
	Correlation *Correlation `json:"correlation,omitempty"`
}

// Correlation is what the CMDB says about an incident.
type Correlation struct {
	// CIs are the CIs with alerts in the incident.
	CIs             map[string]*CIMember `json:"cis"`
	RootCauseReason string               `json:"root_cause_reason,omitempty"`
	// Candidates are the firing CIs with nothing firing beneath them, best
	// first (the root cause leads). Only beneath these may a new alert join
	// as a possible cause: a CI that already has its cause in the incident
	// does not attract unrelated failures below it.
	Candidates []string `json:"root_candidates,omitempty"`
	// Impacted are the business services the firing CIs reach.
	Impacted []cmdb.Impacted `json:"impacted,omitempty"`
}

// candidate reports whether ci is a root-cause candidate. Incidents stored
// before candidates were recorded take the old rule: every CI.
func (c *Correlation) candidate(ci string) bool {
	if c.Candidates == nil {
		return true
	}
	return slices.Contains(c.Candidates, ci)
}

// CIMember is one CI's part in an incident.
type CIMember struct {
	Firing      int       `json:"firing"`
	FirstFiring time.Time `json:"first_firing"`
	Urgency     int       `json:"urgency"`
	// Alertname of the first alert on the CI.
	Alertname string `json:"alertname,omitempty"`
}

// Link is a path through the CMDB between two CIs.
type Link struct {
	Hops int
	Path string
	// Above: the far CI needs the near one, so the near one may be its
	// cause. Otherwise the near one needs the far one (it is a symptom).
	Above bool
}

// Cause is a root-cause decision.
type Cause struct {
	CI     string
	Reason string
	// Candidates are the firing CIs with nothing firing beneath them, best
	// first.
	Candidates []string
}

// Topology is the CMDB as the engine needs it; package correlate implements
// it over the in-memory graph.
type Topology interface {
	// MapCI names the CI an alert is on and how it was found, or "".
	MapCI(labels map[string]string) (ci, via string)
	// Near returns the CIs of targets within reach of ci.
	Near(ci string, targets map[string]bool) map[string]Link
	// MaxHops is how far Near reaches.
	MaxHops() int
	// RootCause picks the root-cause CI among members and says why.
	RootCause(members map[string]*CIMember) Cause
	// Impact lists the business services the firing CIs reach, and the
	// ITIL impact (1..3) they imply, 0 if none.
	Impact(firing []string) ([]cmdb.Impacted, int)
	// Maintenance says why alerts on ci are suppressed at t: ci, or a CI it
	// needs, is in a maintenance window.
	Maintenance(ci string, t time.Time) (why string, ok bool)
}

// Key is the human incident number, e.g. INC-123.
func (i *Incident) Key() string { return FormatKey(i.ID) }

// FormatKey renders an incident id as its human number.
func FormatKey(id int64) string { return "INC-" + strconv.FormatInt(id, 10) }

// ParseKey accepts "INC-123", "inc-123" or "123".
func ParseKey(s string) (int64, error) {
	n := s
	if len(s) > 4 && strings.EqualFold(s[:4], "INC-") {
		n = s[4:]
	}
	id, err := strconv.ParseInt(n, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("invalid incident id %q: want INC-<number> or <number>", s)
	}
	return id, nil
}

// PriorityLabel renders a priority as P1..P5.
func PriorityLabel(p int) string { return "P" + strconv.Itoa(p) }

// Event is one entry on an incident's timeline. Events are written in the same
// transaction as the change they describe, so consumers that read them after
// commit (runbooks, escalation, notifications) see every change exactly once
// per event id.
type Event struct {
	ID         int64     `json:"id"`
	IncidentID int64     `json:"incident_id,omitempty"`
	ProblemID  int64     `json:"problem_id,omitempty"`
	AlertID    string    `json:"alert_id,omitempty"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Kind       string    `json:"kind"`
	Message    string    `json:"message"`
}

// Event kinds.
const (
	EventIncidentTriggered       = "incident.triggered"
	EventIncidentAcknowledged    = "incident.acknowledged"
	EventIncidentResolved        = "incident.resolved"
	EventIncidentReopened        = "incident.reopened"
	EventIncidentClosed          = "incident.closed"
	EventIncidentOnHold          = "incident.on_hold"
	EventIncidentResumed         = "incident.resumed"
	EventIncidentPriorityChanged = "incident.priority_changed"
	EventIncidentLabelsChanged   = "incident.labels_changed"
	EventIncidentRootCause       = "incident.root_cause_changed"
	EventIncidentMerged          = "incident.merged"
	EventIncidentNote            = "incident.note"
	EventAlertFiring             = "alert.firing"
	EventAlertResolved           = "alert.resolved"
	EventAlertFlapping           = "alert.flapping"
	EventAlertSuppressed         = "alert.suppressed"
)
