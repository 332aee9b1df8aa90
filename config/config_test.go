package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigIsValidAndDefault(t *testing.T) {
	cfg, err := Load("../configs/incidentd.yml")
	if err != nil {
		t.Fatal(err)
	}
	def := Default()
	if cfg.Storage != def.Storage || cfg.Ingest != def.Ingest || cfg.Alerts != def.Alerts || cfg.Incidents != def.Incidents || cfg.Log != def.Log {
		t.Errorf("example config differs from the defaults it documents:\n%+v\n%+v", cfg, def)
	}
	if len(cfg.Priority.Urgency) != len(def.Priority.Urgency) || cfg.Grouping.Window != def.Grouping.Window {
		t.Errorf("priority or grouping differ from defaults")
	}
}

func TestEmptyFileGivesDefaults(t *testing.T) {
	cfg, err := Parse("empty.yml", nil)
	if err != nil || cfg.Storage.DSN != DefaultDSN {
		t.Fatalf("%+v %v", cfg, err)
	}
}

func TestValues(t *testing.T) {
	cfg, err := Parse("x.yml", []byte("ingest:\n  max_body_bytes: 512KiB\n  retry_after: 1m\ngrouping:\n  by: [team]\n  window: 1d\npriority:\n  urgency: {Sev1: 1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ingest.MaxBodyBytes != 512<<10 || time.Duration(cfg.Grouping.Window) != 24*time.Hour || cfg.Grouping.By[0] != "team" || cfg.Priority.Urgency["sev1"] != 1 {
		t.Errorf("%+v", cfg)
	}
}

func TestErrorsNameFileLineAndKey(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top-level key", "storag:\n  dsn: x\n", []string{"x.yml:1: storag: unknown key"}},
		{"unknown nested key", "grouping:\n  window: 5m\n  bye: [a]\n", []string{"x.yml:3: grouping.bye: unknown key"}},
		{"bad duration", "alerts:\n  flap_window: fast\n", []string{`x.yml:2: alerts.flap_window: invalid duration "fast"`}},
		{"bad size", "ingest:\n  max_body_bytes: lots\n", []string{"x.yml:2: ingest.max_body_bytes: invalid size"}},
		{"wrong type", "ingest:\n  max_batch_alerts: many\n", []string{`x.yml:2: ingest.max_batch_alerts: "many" is not a valid int`}},
		{"list expected", "grouping:\n  by: alertname\n", []string{"x.yml:2: grouping.by: want a list"}},
		{"mapping expected", "storage: sqlite\n", []string{"x.yml:1: storage: want a mapping"}},
		{"bad dsn", "storage:\n  dsn: mysql://x\n", []string{"x.yml:2: storage.dsn: must start with"}},
		{"out of range", "priority:\n  default_impact: 4\n  urgency: {critical: 0}\n", []string{"x.yml:2: priority.default_impact: want 1..3", "x.yml:3: priority.urgency: urgency of \"critical\" is 0"}},
		{"bad label name", "grouping:\n  by: [alert-name, a, a]\n", []string{`x.yml:2: grouping.by: "alert-name" is not a valid label name`, `label "a" listed twice`}},
		{"duplicate key", "log:\n  level: info\n  level: debug\n", []string{"x.yml:3: log.level: set twice"}},
		{"several errors at once", "log:\n  level: loud\n  format: xml\n", []string{"x.yml:2: log.level", "x.yml:3: log.format"}},
		{"syntax error", "grouping: [\n", []string{"x.yml:"}},
		{"escalation references", `oncall:
  users:
    - {id: alice, timezone: UTC, contacts: [{notifier: pager}]}
  escalation_policies:
    - id: shop
      levels:
        - targets: [user:bob, schedule:nope, notifier:ghost, team:x]
          timeout: 0s
  routes:
    - {match: '{team="shop"', policy: shop}
    - {policy: other}
notifiers:
  - {name: pager, type: webhook, url: "https://example.com/hook"}
`, []string{
			`x.yml:7: oncall.escalation_policies[0].levels[0].targets[3]: "team:x": unknown target kind "team"`,
			`x.yml:7: oncall.escalation_policies[0].levels[0].targets[0]: unknown user "bob"`,
			`x.yml:7: oncall.escalation_policies[0].levels[0].targets[1]: unknown schedule "nope"`,
			`x.yml:7: oncall.escalation_policies[0].levels[0].targets[2]: unknown notifier "ghost"`,
			`x.yml:8: oncall.escalation_policies[0].levels[0].timeout: must be positive`,
			`x.yml:10: oncall.routes[0].match: "{team=\"shop\"" is not an Alertmanager matcher`,
			`x.yml:11: oncall.routes[1].policy: unknown escalation policy "other"`,
		}},
		{"sla, notifier and runbook sections are validated", `sla:
  policies:
    - targets: {P1: {acknowledge: 5m}}
      warn_at: [1.5]
notifiers:
  - {name: x, type: carrier-pigeon}
runbooks:
  exec: {allow: [relative/path]}
`, []string{"x.yml:4: sla.policies[0].warn_at[0]", "x.yml:6: notifiers[0].type", "x.yml:8: runbooks.exec.allow[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load("/nonexistent/incidentd.yml"); !os.IsNotExist(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestCorrelationConfig(t *testing.T) {
	cfg, err := Parse("x.yml", []byte("cmdb:\n  files: [a.yml]\ncorrelation:\n  max_hops: 2\n  ci_rules: ['{{ .Labels.namespace }}/{{ .Labels.pod }}']\n  impact_by_criticality: {1: 1, 2: 1, 3: 2, 4: 3, 5: 3}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Correlation.MaxHops != 2 || cfg.Correlation.ImpactByCriticality[2] != 1 || len(cfg.CIRuleTemplates()) != 1 || cfg.CMDB.Files[0] != "a.yml" {
		t.Fatalf("%+v", cfg.Correlation)
	}
	_, err = Parse("x.yml", []byte("correlation:\n  ci_rules: ['{{ .Labels.x']\n  impact_by_criticality: {one: 1}\n  max_span: 1m\n"))
	for _, want := range []string{"x.yml:2: correlation.ci_rules[0]:", `x.yml:3: correlation.impact_by_criticality.one: "one" is not a valid int`, "x.yml:4: correlation.max_span: must be at least correlation.window"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestMaintenanceConfig(t *testing.T) {
	cfg, err := Parse("x.yml", []byte("maintenance:\n  - {ci: db-host-1, start: 2026-12-01T22:00:00Z, end: \"2026-12-02T02:00:00+01:00\", reason: kernel}\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.Maintenance[0]
	if w.CI != "db-host-1" || w.End.Sub(w.Start) != 3*time.Hour || w.Reason != "kernel" {
		t.Fatalf("%+v", w)
	}
	_, err = Parse("x.yml", []byte("maintenance:\n  - {ci: a, start: 2026-12-02T00:00:00Z, end: 2026-12-01T00:00:00Z}\n  - {start: 2026-12-02T00:00:00Z, end: soon}\n"))
	for _, want := range []string{"x.yml:2: maintenance[0]: end 2026-12-01T00:00:00Z is not after start", `x.yml:3: maintenance[1].end: "soon" is not an RFC 3339 time`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestCMDBFilesRelativeToConfigFile(t *testing.T) {
	cfg, err := Load("../configs/incidentd.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.CMDB.Files) != 1 || cfg.CMDB.Files[0] != "../configs/cmdb.yml" {
		t.Fatalf("cmdb.files = %v, want ../configs/cmdb.yml", cfg.CMDB.Files)
	}
}
