package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/daemon/daemontest"
)

// writeTree writes a file under dir, creating its directories.
func writeTree(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunbookValidate(t *testing.T) {
	t.Parallel()
	examples, err := filepath.Glob("../../configs/runbooks/*.yml")
	if err != nil || len(examples) < 5 {
		t.Fatalf("example runbooks: %v %v", examples, err)
	}
	r := cli(t, append([]string{"runbook", "validate"}, examples...)...)
	r.want(t, 0, []string{"restart-checkout-on-errors.yml: valid, runbook restart-checkout-on-errors"}, nil)
	if strings.Contains(r.stdout, "invalid") {
		t.Errorf("an example is invalid:\n%s\n%s", r.stdout, r.stderr)
	}

	dir := t.TempDir()
	bad := writeTree(t, dir, "bad.yml", `name: bad
triggers: [{on: incident.triggerd}]
steps:
  - exec: {command: ["{{ .Labels.tool }}"]}
  - runbook: {name: missing}
`)
	warn := writeTree(t, dir, "warn.yml", `name: warn
triggers: [{on: alert.firing}]
steps:
  - exec: {command: [sh, -c, "echo {{ .Labels.x }}"]}
`)
	r = cli(t, "runbook", "validate", bad, warn)
	r.want(t, 1, []string{"bad.yml: invalid (2 errors)", "warn.yml: valid, runbook warn (1 warnings)"}, []string{
		bad + `:2:13: triggers[0].on: unknown event "incident.triggerd"`,
		bad + ":4:22: steps[0].exec.command[0]: the program must be written out",
		"warning: " + warn + ":4:30: steps[0].exec.command[2]: a template inside a sh -c script is code",
	})
	// A call to a runbook not among the files is an error of the set.
	call := writeTree(t, dir, "call.yml", "name: call\ntriggers: [{manual: true}]\nsteps:\n  - runbook: {name: elsewhere}\n")
	r = cli(t, "runbook", "validate", call)
	r.want(t, 1, []string{"call.yml: invalid (1 errors)"}, []string{`no runbook named "elsewhere" is loaded`})
	r = cli(t, "--output", "json", "runbook", "validate", warn)
	r.want(t, 0, []string{`"runbook": "warn"`, `"errors": []`, "a template inside a sh -c script"}, nil)
}

const fixtureJSON = `{
  "id": 12, "key": "INC-12", "title": "HighErrorRate checkout-api", "status": "triggered", "priority": 2,
  "labels": {"alertname": "HighErrorRate", "service": "checkout-api; rm -rf /"},
  "firing_count": 1, "alert_count": 1,
  "alerts": [{"fingerprint": "f", "seq": 1, "status": "firing", "labels": {"alertname": "HighErrorRate"}}],
  "ci": {"id": "checkout-api", "class": "application", "attributes": {"host": "app.internal"}}
}`

func TestRunbookTest(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fixture := writeTree(t, dir, "inc.json", fixtureJSON)
	example := "../../configs/runbooks/restart-checkout-on-errors.yml"
	r := cli(t, "runbook", "test", example, "--incident", fixture)
	r.want(t, 0, []string{
		"Dry run of restart-checkout-on-errors (trigger incident.triggered, incident INC-12): nothing is sent, run or changed.",
		"health (steps[0]) [http]: would run\n    GET http://app.internal:8080/healthz",
		"restart (steps[1]) [exec]: would run\n    when steps.health.status != 200: true\n    run kubectl rollout restart \"deployment/checkout-api; rm -rf /\"\n    env KUBECONFIG=${secret:kubeconfig}",
		`note "Restarted checkout-api; rm -rf /"`,
		"when incident.status != \"resolved\": true",
		"alerts_resolved does not hold now",
		"The run would succeed.",
	}, nil)

	// Without an incident, as a scheduled run: health and restart cannot
	// render, and on_failure shows the error.
	r = cli(t, "runbook", "test", example, "--trigger", "schedule")
	r.want(t, 0, []string{
		"health (steps[0]) [http]: fails",
		"error: ",
		"continue_on_error: the run goes on",
		"restart (steps[1]) [exec]: fails",
		"note (steps[2]) [annotate]: not reached",
		"The run would fail: step restart failed",
		"on_failure:\non_failure[0] [annotate]: would run\n    note \"Runbook restart-checkout-on-errors failed: step restart failed",
	}, nil)

	// Inputs, and a called runbook loaded with --with.
	caller := writeTree(t, dir, "caller.yml", `name: caller
triggers: [{manual: true}]
inputs: [{name: host, required: true}, {name: deep, type: bool, default: "false"}]
steps:
  - name: skip-me
    when: '!inputs.deep'
    annotate: "shallow"
  - runbook: {name: callee, inputs: {host: "{{ .Inputs.host }}"}}
`)
	callee := writeTree(t, dir, "callee.yml", "name: callee\ninputs: [{name: host, required: true}]\nsteps:\n  - annotate: \"{{ .Inputs.host }}\"\n")
	r = cli(t, "runbook", "test", caller, "--input", "host=db-1", "--input", "deep=true", "--with", callee)
	r.want(t, 0, []string{"when !inputs.deep: false", "skip-me (steps[0]) [annotate]: skipped", "input host=db-1", "would run runbook callee"}, nil)
	cli(t, "runbook", "test", caller).want(t, 2, nil, []string{"input host is required"})
	cli(t, "runbook", "test", caller, "--input", "nope").want(t, 2, nil, []string{"want NAME=VALUE"})
	r = cli(t, "--output", "json", "runbook", "test", example, "--incident", fixture)
	r.want(t, 0, []string{`"state": "would_run"`, `"url": "http://app.internal:8080/healthz"`}, nil)
	cli(t, "runbook").want(t, 2, nil, []string{"runbook needs a subcommand: validate, test, list, run, runs, show, approve, reject, cancel"})
	cli(t, "runbook", "frobnicate").want(t, 2, nil, []string{`unknown command "runbook frobnicate"`})
}

// TestRunbookRunApproveCancel drives runs on a real daemon through the CLI.
func TestRunbookRunApproveCancel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, "runbooks/ask.yml", `name: ask
description: Ask, then note.
triggers: [{manual: true}]
inputs: [{name: what, required: true}]
steps:
  - name: q
    approve: {from: [alice], message: "Do {{ .Inputs.what }}?"}
  - annotate: "done: {{ .Inputs.what }}"
`)
	base, _ := daemontest.Start(t, daemontest.SQLiteConfig(dir)+"runbooks:\n  files: ["+filepath.Join(dir, "runbooks/*.yml")+"]\n")
	postAlerts(t, base, `[{"labels": {"alertname": "A", "service": "x"}}]`)
	ctl := func(args ...string) result {
		return cli(t, append([]string{"--url", base, "--actor", "alice"}, args...)...)
	}

	ctl("runbook", "list").want(t, 0, []string{"NAME", "ask", "manual", "what*", "Ask, then note."}, nil)
	ctl("runbook", "run", "ask", "--incident", "INC-1", "--input", "what=restart", "--dry-run").want(t, 0, []string{
		"Dry run of ask on the daemon", `message "Do restart?"`, "The run would succeed.",
	}, nil)
	ctl("runbook", "run", "ask", "--incident", "INC-1").want(t, 1, nil, []string{"input what is required (HTTP 400)"})
	ctl("runbook", "run", "ask", "--incident", "INC-1", "--input", "what=restart").want(t, 0, []string{"run 1 of ask on INC-1: "}, nil)
	ctl("runbook", "run", "ask", "--input", "what=other").want(t, 0, []string{"run 2 of ask: "}, nil)
	waitRun(t, base, 1, "awaiting_approval")
	ctl("--actor", "bob", "runbook", "approve", "1").want(t, 1, nil, []string{"bob may not answer step q, which asks alice (HTTP 403)"})
	ctl("runbook", "approve", "1", "--message", "go").want(t, 0, []string{"run 1: step q succeeded by alice"}, nil)
	waitRun(t, base, 1, "succeeded")
	ctl("runbook", "show", "1").want(t, 0, []string{"Run 1 of ask: succeeded", "Incident:", "INC-1", "what=restart", "q", "approve", "succeeded", "steps[1]"}, nil)
	waitRun(t, base, 2, "awaiting_approval")
	ctl("runbook", "cancel", "2", "--message", "not needed").want(t, 0, []string{"run 2 of ask: cancelled"}, nil)
	ctl("runbook", "reject", "2").want(t, 1, nil, []string{"run 2 is cancelled (HTTP 409)"})
	ctl("runbook", "runs", "--incident", "INC-1").want(t, 0, []string{"RUN", "1", "ask", "INC-1", "succeeded", "manual"}, nil)
	r := ctl("runbook", "runs", "--status", "cancelled")
	r.want(t, 0, []string{"cancelled by alice: not needed"}, nil)
	if strings.Contains(r.stdout, "succeeded") {
		t.Errorf("--status cancelled listed others:\n%s", r.stdout)
	}
	ctl("runbook", "show", "x").want(t, 2, nil, []string{`"x" is not a run id`})

	var d api.IncidentDetail
	getJSON(t, base, "/api/v1/incidents/1", &d)
	var tl []string
	for _, ev := range d.Timeline {
		tl = append(tl, ev.Kind+" "+ev.Message)
	}
	if s := strings.Join(tl, "\n"); !strings.Contains(s, "incident.note done: restart") || !strings.Contains(s, "runbook.run_finished run 1: ask succeeded") {
		t.Errorf("timeline:\n%s", s)
	}
}

// waitRun polls the daemon until run id has status: the daemon advances
// runs in the background.
func waitRun(t *testing.T, base string, id int, status string) {
	t.Helper()
	var run api.RunDetail
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		getJSON(t, base, fmt.Sprintf("/api/v1/runbooks/runs/%d", id), &run)
		if string(run.Status) == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d is %s (%s), want %s", id, run.Status, run.Error, status)
		}
	}
}

// TestRunbookTestDoc runs the documented dry run of docs/runbooks.md on
// its fixture and compares the output word for word.
func TestRunbookTestDoc(t *testing.T) {
	t.Parallel()
	var fixture, want string
	for _, b := range docBlocks(t, "../../docs/runbooks.md") {
		switch b.Info {
		case "json fixture":
			fixture = b.Text
		case "text runbook-test":
			want = b.Text
		}
	}
	if fixture == "" || want == "" {
		t.Fatal("docs/runbooks.md lacks the ```json fixture or ```text runbook-test block")
	}
	f := writeTree(t, t.TempDir(), "inc-12.json", fixture)
	r := cli(t, "runbook", "test", "../../configs/runbooks/restart-checkout-on-errors.yml", "--incident", f)
	if r.code != 0 || r.stdout != want {
		t.Errorf("documented output:\n%s\ngot (exit %d):\n%s%s", want, r.code, r.stdout, r.stderr)
	}
}
