package runbooks

import (
	"time"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/incident"
)

// Data is what templates and expressions see. The engine fills it for every
// step: templates read it with Go names (.Incident.Status, .Steps.health.Status),
// expressions with the snake_case names of the expr tags (incident.status,
// steps.health.status), which are also the JSON names of the API.
//
// Everything here may carry text from outside (alert labels, HTTP responses,
// command output): rendering never parses it as a template, never runs it,
// and never resolves secret references in it.
type Data struct {
	// Incident is the run's incident; its ID is 0 for runs without one
	// (schedule, manual without incident).
	Incident Incident
	// Alerts are the incident's alerts.
	Alerts []Alert
	// Labels are the incident's labels (those all its alerts share).
	Labels map[string]string
	// CI is the CMDB record of the incident's root-cause CI, or of the CI
	// its alerts are on; zero if none.
	CI CI
	// Steps has a result for every named step of the runbook (zero for
	// steps that have not run).
	Steps map[string]StepResult
	// Inputs are the run's typed inputs (string, int, bool, time.Duration).
	Inputs map[string]any
	// Runbook describes the run.
	Runbook RunInfo
	// Error is why the run failed, for on_failure steps; "" otherwise.
	Error string
	// Now is when the step renders (from the engine's clock).
	Now time.Time
}

// Incident is the incident as runbooks see it.
type Incident struct {
	ID             int64             `json:"id" expr:"id"`
	Key            string            `json:"key" expr:"key"` // INC-12
	Title          string            `json:"title" expr:"title"`
	Status         string            `json:"status" expr:"status"`
	Priority       int               `json:"priority" expr:"priority"` // 1..5
	Urgency        int               `json:"urgency" expr:"urgency"`
	Impact         int               `json:"impact" expr:"impact"`
	Major          bool              `json:"major" expr:"major"`
	Labels         map[string]string `json:"labels" expr:"labels"`
	AlertCount     int               `json:"alert_count" expr:"alert_count"`
	FiringCount    int               `json:"firing_count" expr:"firing_count"`
	RootCause      RootCause         `json:"root_cause" expr:"root_cause"`
	Impacted       []string          `json:"impacted" expr:"impacted"` // business service CIs
	CreatedAt      time.Time         `json:"created_at" expr:"created_at"`
	AcknowledgedAt time.Time         `json:"acknowledged_at" expr:"acknowledged_at"`
	AcknowledgedBy string            `json:"acknowledged_by" expr:"acknowledged_by"`
	ResolvedAt     time.Time         `json:"resolved_at" expr:"resolved_at"`
	ResolvedBy     string            `json:"resolved_by" expr:"resolved_by"`
}

// RootCause is the incident's root-cause CI and why it was chosen.
type RootCause struct {
	CI     string `json:"ci" expr:"ci"`
	Reason string `json:"reason" expr:"reason"`
}

// Alert is one alert of the incident.
type Alert struct {
	ID           string            `json:"id" expr:"id"`
	Status       string            `json:"status" expr:"status"` // firing, resolved
	Labels       map[string]string `json:"labels" expr:"labels"`
	Annotations  map[string]string `json:"annotations" expr:"annotations"`
	CI           string            `json:"ci" expr:"ci"`
	StartsAt     time.Time         `json:"starts_at" expr:"starts_at"`
	EndsAt       time.Time         `json:"ends_at" expr:"ends_at"`
	GeneratorURL string            `json:"generator_url" expr:"generator_url"`
}

// CI is a CMDB configuration item.
type CI struct {
	ID          string            `json:"id" expr:"id"`
	Name        string            `json:"name" expr:"name"`
	Class       string            `json:"class" expr:"class"`
	Criticality int               `json:"criticality" expr:"criticality"`
	Owner       string            `json:"owner" expr:"owner"`
	Environment string            `json:"environment" expr:"environment"`
	Attributes  map[string]string `json:"attributes" expr:"attributes"`
}

// RunInfo describes the run.
type RunInfo struct {
	Name        string `json:"name" expr:"name"`
	Description string `json:"description" expr:"description"`
	// RunID is the engine's id of the run.
	RunID string `json:"run_id" expr:"run_id"`
	// Trigger is the event kind (incident.triggered), "schedule" or
	// "manual".
	Trigger string `json:"trigger" expr:"trigger"`
	// DryRun is true when nothing may change (incidentctl runbook test).
	DryRun bool `json:"dry_run" expr:"dry_run"`
}

// Step outcomes.
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeSkipped   = "skipped"
	OutcomeTimedOut  = "timed_out"
	OutcomeRejected  = "rejected"
)

// StepResult is what a step left for later steps. The engine fills the
// fields of its action; outputs are masked and size-capped before they get
// here.
type StepResult struct {
	// Outcome is one of the Outcome constants, "" if the step has not run.
	Outcome string `json:"outcome" expr:"outcome"`
	// OK is true when the step succeeded.
	OK bool `json:"ok" expr:"ok"`
	// Error says why the step failed.
	Error    string `json:"error,omitempty" expr:"error"`
	Attempts int    `json:"attempts" expr:"attempts"`
	// http: the last attempt's response; headers in canonical form
	// (Content-Type), the first value of each.
	Status  int               `json:"status,omitempty" expr:"status"`
	Headers map[string]string `json:"headers,omitempty" expr:"headers"`
	Body    string            `json:"body,omitempty" expr:"body"`
	// JSON is the body parsed as JSON, nil if it is not JSON.
	JSON any `json:"json,omitempty" expr:"json"`
	// exec
	ExitCode int    `json:"exit_code,omitempty" expr:"exit_code"`
	Stdout   string `json:"stdout,omitempty" expr:"stdout"`
	Stderr   string `json:"stderr,omitempty" expr:"stderr"`
	// approve: who answered.
	Actor string `json:"actor,omitempty" expr:"actor"`
}

// NewIncident converts the domain incident for runbooks.
func NewIncident(in *incident.Incident) Incident {
	if in == nil {
		return Incident{}
	}
	out := Incident{
		ID: in.ID, Key: in.Key(), Title: in.Title, Status: string(in.Status),
		Priority: in.Priority, Urgency: in.Urgency, Impact: in.Impact, Major: in.Major,
		Labels: in.Labels, AlertCount: in.AlertCount, FiringCount: in.FiringCount,
		RootCause: RootCause{CI: in.RootCause},
		CreatedAt: in.CreatedAt, AcknowledgedAt: in.AcknowledgedAt, AcknowledgedBy: in.AcknowledgedBy,
		ResolvedAt: in.ResolvedAt, ResolvedBy: in.ResolvedBy,
	}
	if c := in.Correlation; c != nil {
		out.RootCause.Reason = c.RootCauseReason
		for _, imp := range c.Impacted {
			out.Impacted = append(out.Impacted, imp.CI)
		}
	}
	return out
}

// NewAlert converts a domain alert for runbooks.
func NewAlert(a *incident.Alert) Alert {
	return Alert{
		ID: a.ID(), Status: string(a.Status), Labels: a.Labels, Annotations: a.Annotations,
		CI: a.CI, StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL,
	}
}

// NewCI converts a CMDB CI for runbooks.
func NewCI(ci cmdb.CI) CI {
	return CI{
		ID: ci.ID, Name: ci.Name, Class: ci.Class, Criticality: ci.Criticality,
		Owner: ci.Owner, Environment: ci.Environment, Attributes: ci.Attributes,
	}
}

// MatchLabels is the label set trigger matchers see: the incident's labels
// plus priority (P1..P5), ci (root cause, else the CI of the run) and
// ci_class. For alert.* events the engine may pass the alert's labels as
// labels instead of the incident's.
func MatchLabels(labels map[string]string, inc Incident, ci CI) map[string]string {
	sub := incident.Subject{Labels: labels, Priority: inc.Priority, CI: inc.RootCause.CI, CIClass: ci.Class}
	if sub.CI == "" {
		sub.CI = ci.ID
	}
	return sub.LabelSet()
}

// NewData returns the Data a run of rb starts from: Runbook filled in and a
// zero result for every named step, so that templates and expressions that
// read a step which has not run see zero values instead of failing. The
// engine fills in the rest and records each step's result as it ends.
func (rb *Runbook) NewData() *Data {
	d := &Data{
		Runbook: RunInfo{Name: rb.Name, Description: rb.Description},
		Steps:   map[string]StepResult{},
		Inputs:  map[string]any{},
		Labels:  map[string]string{},
	}
	for _, n := range rb.StepNames() {
		d.Steps[n] = StepResult{}
	}
	return d
}

// withDefaults returns d with nil maps made empty, so that templates and
// expressions see empty collections rather than nil.
func (d *Data) withDefaults() *Data {
	c := *d
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	if c.Steps == nil {
		c.Steps = map[string]StepResult{}
	}
	if c.Inputs == nil {
		c.Inputs = map[string]any{}
	}
	if c.Incident.Labels == nil {
		c.Incident.Labels = map[string]string{}
	}
	if c.CI.Attributes == nil {
		c.CI.Attributes = map[string]string{}
	}
	return &c
}
