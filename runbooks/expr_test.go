package runbooks

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// sampleData is a run of the example on a triggered incident,
// with the health check having answered 503.
func sampleData(t *testing.T) *Data {
	t.Helper()
	var body any
	if err := json.Unmarshal([]byte(`{"status": "down", "checks": [{"name": "db", "ok": false}], "flag": "yes"}`), &body); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	return &Data{
		Incident: Incident{
			ID: 12, Key: "INC-12", Title: "Checkout errors", Status: "triggered", Priority: 2,
			Labels:     map[string]string{"alertname": "HighErrorRate", "service": "checkout-api"},
			AlertCount: 2, FiringCount: 1, RootCause: RootCause{CI: "checkout-api", Reason: "lowest firing CI"},
			CreatedAt: now.Add(-45 * time.Minute),
		},
		Alerts: []Alert{
			{ID: "a-1", Status: "firing", Labels: map[string]string{"severity": "critical", "service": "checkout-api"}},
			{ID: "b-1", Status: "resolved", Labels: map[string]string{"severity": "warning", "service": "checkout-api"}},
		},
		Labels: map[string]string{"alertname": "HighErrorRate", "service": "checkout-api"},
		CI:     CI{ID: "checkout-api", Class: "service", Attributes: map[string]string{"host": "10.0.0.7"}},
		Steps: map[string]StepResult{
			"health":        {Outcome: OutcomeFailed, Error: "503 Service Unavailable", Attempts: 3, Status: 503, Body: `{"status":"down"}`, JSON: body, Headers: map[string]string{"Content-Type": "application/json"}},
			"restart":       {Outcome: OutcomeSucceeded, OK: true, ExitCode: 0, Stdout: "deployment.apps/checkout-api restarted\n"},
			"wait-recovery": {Outcome: OutcomeTimedOut},
			"later":         {},
		},
		Inputs:  map[string]any{"days": 7, "window": 2 * time.Hour, "dry": false, "service": "checkout-api"},
		Runbook: RunInfo{Name: "restart-checkout-on-errors", Trigger: "incident.triggered"},
		Now:     now,
	}
}

// declaredRunbook declares the steps and inputs sampleData has, so that
// conditions and templates over them compile in a step appended to it.
const declaredRunbook = `name: e
triggers: [{manual: true}]
inputs:
  - {name: days, type: int, default: "1"}
  - {name: window, type: duration, default: 1h}
  - {name: dry, type: bool, default: "false"}
  - {name: service, default: x}
steps:
  - {name: health, annotate: x}
  - {name: restart, annotate: x}
  - {name: wait-recovery, annotate: x}
  - {name: later, annotate: x}
`

const exprRunbook = declaredRunbook + "  - name: probe\n    when: %q\n    annotate: x\n"

func compileWhen(t *testing.T, expr string) *Condition {
	t.Helper()
	src := strings.Replace(exprRunbook, "%q", jsonQuote(expr), 1)
	rb, err := Parse("e.yml", []byte(src))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return rb.Steps[4].When
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestConditions(t *testing.T) {
	cases := []struct {
		expr string
		edit func(d *Data)
		want bool
	}{
		{`steps.health.status != 200`, nil, true},
		{`steps.health.status != 200`, func(d *Data) { d.Steps["health"] = StepResult{Outcome: OutcomeSucceeded, OK: true, Status: 200} }, false},
		{`steps.health.status != 200`, func(d *Data) { d.Steps["health"] = StepResult{} }, true}, // not run: zero status
		{`incident.status != "resolved"`, nil, true},
		{`incident.status != "resolved"`, func(d *Data) { d.Incident.Status = "resolved" }, false},
		{`alerts_resolved`, nil, false},
		{`alerts_resolved`, func(d *Data) { d.Incident.FiringCount = 0 }, true},
		{`alerts_resolved`, func(d *Data) { d.Incident = Incident{} }, false}, // no incident
		{`incident_resolved`, func(d *Data) { d.Incident.Status = "closed" }, true},
		{`incident_resolved || alerts_resolved`, nil, false},
		{`steps.health.ok`, nil, false},
		{`steps.restart.ok && steps.restart.exit_code == 0`, nil, true},
		{`steps.restart.stdout contains "restarted"`, nil, true},
		{`steps["wait-recovery"].outcome == "timed_out"`, nil, true},
		{`steps.later.outcome == ""`, nil, true},
		{`steps.health.attempts == 3 && steps.health.error startsWith "503"`, nil, true},
		{`steps.health.headers["Content-Type"] == "application/json"`, nil, true},
		{`steps.health.json.status == "down"`, nil, true},
		{`steps.health.json.checks[0].ok == false`, nil, true},
		{`incident.priority <= 2 && incident.key == "INC-12"`, nil, true},
		{`incident.root_cause.ci == ci.id`, nil, true},
		{`incident.labels.service == "checkout-api"`, nil, true},
		{`labels.service == "checkout-api" && "team" in labels`, nil, false},
		{`labels.alertname matches "^High"`, nil, true},
		{`ci.attributes.host == "10.0.0.7" && ci.class == "service"`, nil, true},
		{`len(alerts) == 2 && any(alerts, .labels.severity == "critical")`, nil, true},
		{`all(alerts, .status == "firing")`, nil, false},
		{`count(alerts, .status == "firing") == incident.firing_count`, nil, true},
		{`inputs.days > 3 && inputs.service == "checkout-api" && !inputs.dry`, nil, true},
		{`inputs.window >= duration("2h")`, nil, true},
		{`now - incident.created_at > duration("30m")`, nil, true},
		{`now - incident.created_at > duration("1h")`, nil, false},
		{`runbook.trigger == "incident.triggered" && runbook.name startsWith "restart"`, nil, true},
		{`error == ""`, nil, true},
		{`error contains "timeout"`, func(d *Data) { d.Error = "step ask: timeout" }, true},
	}
	for _, c := range cases {
		d := sampleData(t)
		if c.edit != nil {
			c.edit(d)
		}
		got, err := compileWhen(t, c.expr).Eval(d)
		if err != nil {
			t.Errorf("%s: %v", c.expr, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s = %v, want %v", c.expr, got, c.want)
		}
	}
}

func TestConditionRunTimeErrors(t *testing.T) {
	cases := []struct{ expr, want string }{
		{`steps.health.json.flag`, `got string, want a boolean`},
		{`steps.health.json.checks[5].ok`, `index out of range`},
		{`steps.later.json.x == 1`, `cannot fetch x from <nil>`},
	}
	for _, c := range cases {
		_, err := compileWhen(t, c.expr).Eval(sampleData(t))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error containing %q", c.expr, err, c.want)
		}
	}
}

// TestConditionSeesNoNilMaps: a run without an incident or step results
// still evaluates (empty maps, not nil).
func TestConditionWithEmptyData(t *testing.T) {
	for expr, want := range map[string]bool{
		`labels.service == "x"`:     false,
		`len(incident.labels) == 0`: true,
		`steps.health.status == 0`:  true,
		`!alerts_resolved`:          true,
	} {
		got, err := compileWhen(t, expr).Eval(&Data{})
		if err != nil || got != want {
			t.Errorf("%s over empty data: %v, %v; want %v", expr, got, err, want)
		}
	}
}

func TestShouldRun(t *testing.T) {
	rb, err := Parse("t.yml", []byte(head+"  - {name: a, annotate: x}\n  - {when: steps.a.ok, annotate: y}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := &Data{Steps: map[string]StepResult{"a": {OK: true}}}
	for i, want := range []bool{true, true} {
		if got, err := rb.Steps[i].ShouldRun(d); err != nil || got != want {
			t.Errorf("steps[%d]: %v %v", i, got, err)
		}
	}
	d.Steps["a"] = StepResult{Outcome: OutcomeFailed}
	if got, _ := rb.Steps[1].ShouldRun(d); got {
		t.Error("runs although steps.a failed")
	}
}
