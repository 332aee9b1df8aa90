// Package config loads and validates incidentd's YAML configuration. Every
// error names the file, line and key, and all errors are reported at once.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/ingest"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/runbooks"
	"github.com/incidentd/incidentd/sla"
	"github.com/incidentd/incidentd/strictyaml"
)

// DefaultDSN is the embedded store used when neither flag nor file names one.
const DefaultDSN = "sqlite://data/incidentd.db"

// Config is the whole configuration file.
type Config struct {
	Storage   StorageConfig   `yaml:"storage"`
	Ingest    IngestConfig    `yaml:"ingest"`
	Grouping  GroupingConfig  `yaml:"grouping"`
	Alerts    AlertsConfig    `yaml:"alerts"`
	Incidents IncidentsConfig `yaml:"incidents"`
	Priority  PriorityConfig  `yaml:"priority"`
	CMDB      CMDBConfig      `yaml:"cmdb"`
	// Maintenance windows on CIs; those added through the API are kept.
	Maintenance []cmdb.Window     `yaml:"maintenance"`
	Correlation CorrelationConfig `yaml:"correlation"`
	Problems    ProblemsConfig    `yaml:"problems"`
	// Runbooks: where they are loaded from, secrets, and the exec
	// allowlist (see docs/runbooks.md).
	Runbooks runbooks.Config `yaml:"runbooks"`
	// Oncall: users, schedules, escalation policies and routes; SLA
	// targets; and the notifiers that reach people (docs/escalation.md).
	Oncall    escalation.Config `yaml:"oncall"`
	SLA       sla.Config        `yaml:"sla"`
	Notifiers notify.Config     `yaml:"notifiers"`
	// Integrations are the alert sources with their secrets, rate
	// limits and heartbeats (docs/integrations.md).
	Integrations ingest.Integrations `yaml:"integrations"`
	Log          LogConfig           `yaml:"log"`
	// API tokens and their roles (docs/api.md).
	API APIConfig `yaml:"api"`
}

// StorageConfig selects and tunes the store.
type StorageConfig struct {
	// DSN is sqlite://PATH (embedded) or postgres://... (production).
	DSN          string `yaml:"dsn"`
	MaxOpenConns int    `yaml:"max_open_conns"`
}

// IngestConfig bounds the webhook endpoints.
type IngestConfig struct {
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// MaxBatchAlerts caps how many alerts share one group-commit transaction.
	MaxBatchAlerts int `yaml:"max_batch_alerts"`
	// RetryAfter is sent with 503 when the store fails.
	RetryAfter Duration `yaml:"retry_after"`
}

// GroupingConfig groups alerts into incidents by labels.
type GroupingConfig struct {
	By     []string `yaml:"by"`
	Window Duration `yaml:"window"`
}

// AlertsConfig tunes deduplication and flap detection.
type AlertsConfig struct {
	FlapWindow    Duration `yaml:"flap_window"`
	FlapThreshold int      `yaml:"flap_threshold"`
}

// IncidentsConfig tunes the incident lifecycle.
type IncidentsConfig struct {
	AutoResolve  bool     `yaml:"auto_resolve"`
	ReopenWindow Duration `yaml:"reopen_window"`
}

// PriorityConfig maps severities to urgency and sets the default impact.
type PriorityConfig struct {
	SeverityLabel  string         `yaml:"severity_label"`
	Urgency        map[string]int `yaml:"urgency"`
	DefaultUrgency int            `yaml:"default_urgency"`
	DefaultImpact  int            `yaml:"default_impact"`
}

// CMDBConfig names the files the CMDB is loaded from.
type CMDBConfig struct {
	// Files (YAML or JSON) are imported at start and on reload when their
	// content changed since the last import.
	Files []string `yaml:"files"`
}

// CorrelationConfig tunes CMDB-aware correlation.
type CorrelationConfig struct {
	MaxHops int      `yaml:"max_hops"`
	Window  Duration `yaml:"window"`
	MaxSpan Duration `yaml:"max_span"`
	// CIRules are Go templates over .Labels that render a CI id, tried in
	// order when an alert has no ci label and carries no CI match set.
	CIRules []string `yaml:"ci_rules"`
	// ImpactByCriticality maps business-service criticality 1..5 to ITIL
	// impact 1..3.
	ImpactByCriticality map[int]int `yaml:"impact_by_criticality"`
}

// ProblemsConfig tunes problem detection.
type ProblemsConfig struct {
	// Recurrence incidents with the same root-cause CI and alertname within
	// Period open a problem.
	Recurrence int      `yaml:"recurrence"`
	Period     Duration `yaml:"period"`
}

// LogConfig sets logging.
type LogConfig struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// Default returns the configuration used for keys a file leaves out.
func Default() Config {
	p := incident.DefaultPolicy()
	return Config{
		Storage:   StorageConfig{DSN: DefaultDSN, MaxOpenConns: 8},
		Ingest:    IngestConfig{MaxBodyBytes: 10 << 20, MaxBatchAlerts: 5000, RetryAfter: Duration(5 * time.Second)},
		Grouping:  GroupingConfig{By: p.GroupBy, Window: Duration(p.GroupWindow)},
		Alerts:    AlertsConfig{FlapWindow: Duration(p.FlapWindow), FlapThreshold: p.FlapThreshold},
		Incidents: IncidentsConfig{AutoResolve: p.AutoResolve, ReopenWindow: Duration(p.ReopenWindow)},
		Priority:  PriorityConfig{SeverityLabel: p.SeverityLabel, Urgency: p.Urgency, DefaultUrgency: p.DefaultUrgency, DefaultImpact: p.DefaultImpact},
		Correlation: CorrelationConfig{
			MaxHops: 3, Window: Duration(p.CorrelationWindow), MaxSpan: Duration(p.MaxSpan),
			ImpactByCriticality: map[int]int{1: 1, 2: 2, 3: 2, 4: 3, 5: 3},
		},
		Log:      LogConfig{Level: "info", Format: "text"},
		Runbooks: runbooks.DefaultConfig(),
		Problems: ProblemsConfig{Recurrence: 3, Period: Duration(7 * 24 * time.Hour)},
	}
}

// Policy turns the configuration into the incident engine's policy.
func (c *Config) Policy() incident.Policy {
	return incident.Policy{
		GroupBy:        c.Grouping.By,
		GroupWindow:    time.Duration(c.Grouping.Window),
		FlapWindow:     time.Duration(c.Alerts.FlapWindow),
		FlapThreshold:  c.Alerts.FlapThreshold,
		ReopenWindow:   time.Duration(c.Incidents.ReopenWindow),
		AutoResolve:    c.Incidents.AutoResolve,
		SeverityLabel:  c.Priority.SeverityLabel,
		Urgency:        c.Priority.Urgency,
		DefaultUrgency: c.Priority.DefaultUrgency,
		DefaultImpact:  c.Priority.DefaultImpact,

		CorrelationWindow: time.Duration(c.Correlation.Window),
		MaxSpan:           time.Duration(c.Correlation.MaxSpan),
	}
}

// CIRuleTemplates parses correlation.ci_rules (validated at load).
func (c *Config) CIRuleTemplates() []*template.Template {
	out := make([]*template.Template, 0, len(c.Correlation.CIRules))
	for _, r := range c.Correlation.CIRules {
		t, err := parseRule(r)
		if err == nil {
			out = append(out, t)
		}
	}
	return out
}

func parseRule(r string) (*template.Template, error) {
	return template.New("ci_rule").Option("missingkey=zero").Parse(r)
}

// Load reads and validates the file at path. Relative paths in it (CMDB
// files) are taken relative to the file's directory, as Prometheus does.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	for i, f := range cfg.CMDB.Files {
		if !filepath.IsAbs(f) {
			cfg.CMDB.Files[i] = filepath.Join(filepath.Dir(path), f)
		}
	}
	for i, f := range cfg.Runbooks.Files {
		if !filepath.IsAbs(f) {
			cfg.Runbooks.Files[i] = filepath.Join(filepath.Dir(path), f)
		}
	}
	if d := cfg.Runbooks.SecretsDir; d != "" && !filepath.IsAbs(d) {
		cfg.Runbooks.SecretsDir = filepath.Join(filepath.Dir(path), d)
	}
	return cfg, nil
}

// Parse validates data read from file (the name is used in errors).
func Parse(file string, data []byte) (*Config, error) {
	cfg := Default()
	if strings.TrimSpace(string(data)) == "" {
		return &cfg, nil
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		if errs, ok := err.(Errors); ok {
			for i := range errs {
				errs[i].File = file
			}
			return nil, errs
		}
		return nil, Errors{{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	return &cfg, nil
}

// UnmarshalYAML decodes strictly (unknown keys are errors) over the defaults
// already in c, then validates.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	d := strictyaml.NewDecoder()
	d.Decode(n, c)
	c.validate(d)
	return d.Err("")
}

func (c *Config) validate(d *strictyaml.Decoder) {
	if c.Storage.DSN != "" && !strings.HasPrefix(c.Storage.DSN, "sqlite://") && !strings.HasPrefix(c.Storage.DSN, "postgres://") && !strings.HasPrefix(c.Storage.DSN, "postgresql://") {
		d.Failf("storage.dsn", "must start with sqlite:// or postgres://")
	}
	if c.Storage.MaxOpenConns < 1 {
		d.Failf("storage.max_open_conns", "must be at least 1")
	}
	if c.Ingest.MaxBodyBytes < 1024 {
		d.Failf("ingest.max_body_bytes", "must be at least 1KiB")
	}
	if c.Ingest.MaxBatchAlerts < 1 {
		d.Failf("ingest.max_batch_alerts", "must be at least 1")
	}
	if c.Ingest.RetryAfter < Duration(time.Second) {
		d.Failf("ingest.retry_after", "must be at least 1s")
	}
	if len(c.Grouping.By) == 0 {
		d.Failf("grouping.by", "must name at least one label")
	}
	seen := map[string]bool{}
	for _, l := range c.Grouping.By {
		if !validLabelName(l) {
			d.Failf("grouping.by", "%q is not a valid label name", l)
		}
		if seen[l] {
			d.Failf("grouping.by", "label %q listed twice", l)
		}
		seen[l] = true
	}
	if c.Grouping.Window <= 0 {
		d.Failf("grouping.window", "must be positive")
	}
	if c.Alerts.FlapWindow < 0 {
		d.Failf("alerts.flap_window", "must not be negative")
	}
	if c.Alerts.FlapThreshold < 1 {
		d.Failf("alerts.flap_threshold", "must be at least 1")
	}
	if c.Incidents.ReopenWindow < 0 {
		d.Failf("incidents.reopen_window", "must not be negative")
	}
	if !validLabelName(c.Priority.SeverityLabel) {
		d.Failf("priority.severity_label", "%q is not a valid label name", c.Priority.SeverityLabel)
	}
	for sev, u := range c.Priority.Urgency {
		if u < 1 || u > 3 {
			d.Failf("priority.urgency", "urgency of %q is %d, want 1..3", sev, u)
		}
	}
	lower := make(map[string]int, len(c.Priority.Urgency))
	for sev, u := range c.Priority.Urgency {
		lower[strings.ToLower(sev)] = u
	}
	c.Priority.Urgency = lower
	if c.Priority.DefaultUrgency < 1 || c.Priority.DefaultUrgency > 3 {
		d.Failf("priority.default_urgency", "want 1..3")
	}
	if c.Priority.DefaultImpact < 1 || c.Priority.DefaultImpact > 3 {
		d.Failf("priority.default_impact", "want 1..3")
	}
	if c.Correlation.MaxHops < 1 || c.Correlation.MaxHops > 10 {
		d.Failf("correlation.max_hops", "want 1..10")
	}
	if c.Correlation.Window <= 0 {
		d.Failf("correlation.window", "must be positive")
	}
	if c.Correlation.MaxSpan < c.Correlation.Window {
		d.Failf("correlation.max_span", "must be at least correlation.window")
	}
	for i, r := range c.Correlation.CIRules {
		if _, err := parseRule(r); err != nil {
			d.Failf(fmt.Sprintf("correlation.ci_rules[%d]", i), "%v", err)
		}
	}
	for crit := 1; crit <= 5; crit++ {
		if imp, ok := c.Correlation.ImpactByCriticality[crit]; !ok || imp < 1 || imp > 3 {
			d.Failf("correlation.impact_by_criticality", "criticality %d needs an impact 1..3", crit)
		}
	}
	if c.Problems.Recurrence < 2 {
		d.Failf("problems.recurrence", "want at least 2")
	}
	if c.Problems.Period <= 0 {
		d.Failf("problems.period", "must be positive")
	}
	for i := range c.Maintenance {
		if err := c.Maintenance[i].Check(); err != nil {
			d.Failf(fmt.Sprintf("maintenance[%d]", i), "%v", err)
		}
	}
	for i, f := range c.CMDB.Files {
		if strings.TrimSpace(f) == "" {
			d.Failf(fmt.Sprintf("cmdb.files[%d]", i), "empty file name")
		}
	}
	c.Runbooks.Validate(d, "runbooks")
	c.Oncall.Validate(d, "oncall")
	c.SLA.Validate(d, "sla")
	c.Notifiers.Validate(d, "notifiers")
	c.Integrations.Validate(d, "integrations")
	c.API.Validate(d, "api")
	notifiers := map[string]bool{}
	for _, n := range c.Notifiers {
		notifiers[n.Name] = true
	}
	c.Oncall.ValidateNotifiers(d, "oncall", func(name string) bool { return notifiers[name] })
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		d.Failf("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		d.Failf("log.format", "%q is not one of text, json", c.Log.Format)
	}
}

func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// Error is one problem in a configuration file.
type Error = strictyaml.Error

// Errors lists every problem found in a configuration file.
type Errors = strictyaml.Errors
