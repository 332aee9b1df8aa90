package runbooks

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// head is prepended to the step lists of the error cases: steps start on
// line 5.
const head = "name: t\ntriggers:\n  - on: incident.triggered\nsteps:\n"

func TestParseReportsEachErrorAtItsKey(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want string // the whole diagnostic, file:line:column: key: message
	}{
		{"name required", "triggers: [{manual: true}]\nsteps: [{annotate: x}]\n",
			"t.yml: name: required"},
		{"name syntax", "name: has space\nsteps: [{annotate: x}]\n",
			`t.yml:1:1: name: "has space": want letters, digits, '_', '-' and '.', starting with a letter or digit (at most 128)`},
		{"no steps", "name: t\ntriggers: [{manual: true}]\n",
			"t.yml: steps: a runbook needs at least one step"},
		{"unknown top key", "name: t\nstep: []\nsteps: [{annotate: x}]\n",
			"t.yml:2:1: step: unknown key (known keys: name, description, triggers, concurrency, timeout, inputs, steps, on_failure)"},
		{"key set twice", "name: t\nname: u\nsteps: [{annotate: x}]\n",
			"t.yml:2:1: name: set twice"},
		{"unknown event", "name: t\ntriggers:\n  - on: incident.exploded\nsteps: [{annotate: x}]\n",
			`t.yml:3:5: triggers[0].on: unknown event "incident.exploded" (known: incident.triggered, incident.acknowledged, incident.resolved, incident.priority_changed, incident.root_cause_changed, alert.firing, alert.resolved, sla.warning, sla.breached, problem.opened)`},
		{"bad matcher", "name: t\ntriggers:\n  - on: alert.firing\n    match: '{severity=~\"(\"}'\nsteps: [{annotate: x}]\n",
			`t.yml:4:5: triggers[0].match: "{severity=~\"(\"}" is not an Alertmanager matcher`},
		{"match without on", "name: t\ntriggers:\n  - manual: true\n    match: '{a=\"b\"}'\nsteps: [{annotate: x}]\n",
			"t.yml:4:5: triggers[0].match: match filters events: it goes with on"},
		{"two kinds in a trigger", "name: t\ntriggers:\n  - on: alert.firing\n    schedule: '@daily'\nsteps: [{annotate: x}]\n",
			"t.yml:3:5: triggers[0]: a trigger has exactly one of on, schedule and manual (got on and schedule)"},
		{"bad cron", "name: t\ntriggers:\n  - schedule: '61 * * * *'\nsteps: [{annotate: x}]\n",
			`t.yml:3:5: triggers[0].schedule: invalid schedule "61 * * * *"`},
		{"six cron fields", "name: t\ntriggers:\n  - schedule: '0 0 3 * * *'\nsteps: [{annotate: x}]\n",
			`t.yml:3:5: triggers[0].schedule: invalid schedule "0 0 3 * * *": expected exactly 5 fields`},
		{"@every", "name: t\ntriggers:\n  - schedule: '@every 5m'\nsteps: [{annotate: x}]\n",
			"t.yml:3:5: triggers[0].schedule: @every is not supported"},
		{"zone in spec", "name: t\ntriggers:\n  - schedule: 'CRON_TZ=UTC 0 3 * * *'\nsteps: [{annotate: x}]\n",
			"t.yml:3:5: triggers[0].schedule: set the zone with timezone, not in the schedule"},
		{"bad timezone", "name: t\ntriggers:\n  - schedule: '0 3 * * *'\n    timezone: Mars/Olympus\nsteps: [{annotate: x}]\n",
			`t.yml:4:5: triggers[0].timezone: unknown timezone "Mars/Olympus"`},
		{"timezone without schedule", "name: t\ntriggers:\n  - manual: true\n    timezone: UTC\nsteps: [{annotate: x}]\n",
			"t.yml:4:5: triggers[0].timezone: timezone goes with schedule"},
		{"manual false", "name: t\ntriggers:\n  - manual: false\nsteps: [{annotate: x}]\n",
			"t.yml:3:5: triggers[0].manual: write manual: true, or remove the trigger"},
		{"required input on an event runbook", "name: t\ntriggers: [{on: alert.firing}]\ninputs:\n  - name: svc\n    required: true\nsteps: [{annotate: x}]\n",
			"t.yml:5:5: inputs[0].required: runs started by events or schedules have no inputs: give svc a default instead"},
		{"input default of wrong type", "name: t\ntriggers: [{manual: true}]\ninputs:\n  - name: days\n    type: int\n    default: seven\nsteps: [{annotate: x}]\n",
			`t.yml:6:5: inputs[0].default: input days: "seven" is not an integer`},
		{"input type", "name: t\ninputs:\n  - {name: x, type: float}\nsteps: [{annotate: x}]\n",
			`t.yml:3:15: inputs[0].type: "float": want string, int, bool or duration`},
		{"input twice", "name: t\ninputs:\n  - {name: x}\n  - {name: x}\nsteps: [{annotate: x}]\n",
			`t.yml:4:6: inputs[1].name: input "x" declared twice`},
		{"required with default", "name: t\ntriggers: [{manual: true}]\ninputs:\n  - {name: x, required: true, default: y}\nsteps: [{annotate: x}]\n",
			"t.yml:4:31: inputs[0].default: a required input takes no default"},
		{"timeout zero", "name: t\ntimeout: 0s\nsteps: [{annotate: x}]\n",
			"t.yml:2:1: timeout: must be positive"},
		{"timeout syntax", "name: t\ntimeout: soon\nsteps: [{annotate: x}]\n",
			`t.yml:2:1: timeout: invalid duration "soon": want e.g. 30s, 15m, 2h, 1d`},
		{"concurrency limit", "name: t\nconcurrency: {key: x, limit: 0}\nsteps: [{annotate: x}]\n",
			"t.yml:2:23: concurrency.limit: must be at least 1"},
		{"concurrency key reads steps", "name: t\nconcurrency: {key: '{{ .Steps.a.Body }}', limit: 1}\nsteps: [{name: a, annotate: x}]\n",
			`t.yml:2:15: concurrency.key: .Steps.a: step "a" does not end before this point`},
		{"no action", head + "  - name: a\n",
			"t.yml:5:5: steps[0]: a step needs an action: one of http, exec, wait, approve, annotate, set, acknowledge, resolve, escalate, notify, runbook, parallel"},
		{"two actions", head + "  - annotate: x\n    resolve: {}\n",
			"t.yml:5:5: steps[0]: a step has exactly one action, got annotate and resolve"},
		{"unknown step key", head + "  - annotate: x\n    bogus: 1\n",
			"t.yml:6:5: steps[0].bogus: unknown key"},
		{"duplicate step name", head + "  - {name: a, annotate: x}\n  - parallel:\n      - {name: a, annotate: y}\n      - {annotate: z}\n",
			`t.yml:7:10: steps[1].parallel[0].name: step name "a" is already used by steps[0]`},
		{"step name syntax", head + "  - {name: 'a b', annotate: x}\n",
			`t.yml:5:6: steps[0].name: "a b": want letters, digits, '_' and '-', starting with a letter (at most 64)`},
		{"when reads a later step", head + "  - {name: a, when: 'steps.b.ok', annotate: x}\n  - {name: b, annotate: y}\n",
			`t.yml:5:15: steps[0].when: steps.b: step "b" does not end before this point: only earlier steps can be read`},
		{"when reads itself", head + "  - {name: a, when: 'steps[\"a\"].ok', annotate: x}\n",
			`t.yml:5:15: steps[0].when: steps.a: step "a" does not end before this point`},
		{"when reads an unknown step", head + "  - {when: 'steps.nope.ok', annotate: x}\n",
			`t.yml:5:6: steps[0].when: steps.nope: no step is named "nope"`},
		{"when indexes steps dynamically", head + "  - {when: 'steps[labels.x].ok', annotate: x}\n",
			`t.yml:5:6: steps[0].when: steps must be indexed by a literal name (steps.NAME or steps["NAME"])`},
		{"when reads a sibling in parallel", head + "  - parallel:\n      - {name: a, annotate: x}\n      - {when: steps.a.ok, annotate: y}\n",
			`t.yml:7:10: steps[0].parallel[1].when: steps.a: step "a" does not end before this point`},
		{"when misspells a field", head + "  - {name: a, annotate: x}\n  - {when: 'steps.a.stauts == 200', annotate: y}\n",
			"t.yml:6:6: steps[1].when: invalid expression: type runbooks.StepResult has no field stauts (column 9)"},
		{"when is not boolean", head + "  - {when: '1 + 1', annotate: x}\n",
			"t.yml:5:6: steps[0].when: invalid expression: want a boolean, got int"},
		{"when calls now()", head + "  - {when: 'now() > now()', annotate: x}\n",
			"t.yml:5:6: steps[0].when: invalid expression: "},
		{"when names an unknown input", head + "  - {when: inputs.nope, annotate: x}\n",
			`t.yml:5:6: steps[0].when: inputs.nope: no input is named "nope"`},
		{"empty when", head + "  - {when: '', annotate: x}\n",
			"t.yml:5:6: steps[0].when: empty condition"},
		{"template syntax", head + "  - annotate: '{{ .Labels.x '\n",
			"t.yml:5:5: steps[0].annotate: template: steps[0].annotate:1: unclosed action"},
		{"template field", head + "  - annotate: '{{ .Incident.Stauts }}'\n",
			"t.yml:5:5: steps[0].annotate: .Incident.Stauts: Incident has no field Stauts"},
		{"template reads a later step", head + "  - annotate: '{{ .Steps.b.Body }}'\n  - {name: b, annotate: y}\n",
			`t.yml:5:5: steps[0].annotate: .Steps.b: step "b" does not end before this point`},
		{"template indexes an unknown step", head + "  - annotate: '{{ index .Steps \"nope\" }}'\n",
			`t.yml:5:5: steps[0].annotate: .Steps.nope: no step is named "nope"`},
		{"template names an unknown input", head + "  - annotate: '{{ $.Inputs.nope }}'\n",
			`t.yml:5:5: steps[0].annotate: .Inputs.nope: no input is named "nope"`},
		{"template calls an unknown function", head + "  - annotate: '{{ env \"HOME\" }}'\n",
			`t.yml:5:5: steps[0].annotate: template: steps[0].annotate:1: function "env" not defined`},
		{"empty note", head + "  - annotate: ''\n",
			"t.yml:5:5: steps[0].annotate: the note is empty"},
		{"secret outside http and exec", head + "  - annotate: 'token ${secret:token}'\n",
			"t.yml:5:5: steps[0].annotate: ${secret:...} can only be used in http url, headers, body and json, and in exec arguments and env"},
		{"secret inside an action", head + "  - http: {url: 'https://x', body: '{{ \"${secret:a}\" }}'}\n",
			"t.yml:5:30: steps[0].http.body: a ${secret:...} reference must sit in plain text"},
		{"secret inside if", head + "  - http: {url: 'https://x', body: '{{ if .Labels.x }}${secret:a}{{ end }}'}\n",
			"t.yml:5:30: steps[0].http.body: a ${secret:...} reference must sit in plain text"},
		{"malformed secret", head + "  - http: {url: 'https://x', body: '${secret:a'}\n",
			"t.yml:5:30: steps[0].http.body: malformed secret reference: want ${secret:NAME}"},
		{"secret name", head + "  - http: {url: 'https://x', body: '${secret:../etc/passwd}'}\n",
			`t.yml:5:30: steps[0].http.body: invalid secret name "../etc/passwd"`},
		{"http method", head + "  - http: {method: FETCH, url: 'https://x'}\n",
			`t.yml:5:12: steps[0].http.method: "FETCH": want one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS`},
		{"http url required", head + "  - http: {method: GET}\n",
			"t.yml:5:5: steps[0].http.url: required"},
		{"http url scheme", head + "  - http: {url: 'ftp://x/{{ .Labels.x }}'}\n",
			"t.yml:5:12: steps[0].http.url: want an http:// or https:// URL"},
		{"http url relative", head + "  - http: {url: '/healthz'}\n",
			"t.yml:5:12: steps[0].http.url: want an absolute http:// or https:// URL"},
		{"http header name", head + "  - http: {url: 'https://x', headers: {'a b': c}}\n",
			`t.yml:5:40: steps[0].http.headers.a b: invalid header name "a b"`},
		{"http body and json", head + "  - http: {url: 'https://x', body: a, json: {b: c}}\n",
			"t.yml:5:39: steps[0].http.json: set body or json, not both"},
		{"http json template", head + "  - http:\n      url: 'https://x'\n      json: {text: '{{ .Nope }}'}\n",
			"t.yml:7:14: steps[0].http.json.text: .Nope: Data has no field Nope"},
		{"http timeout", head + "  - http: {url: 'https://x', timeout: 0s}\n",
			"t.yml:5:30: steps[0].http.timeout: must be positive"},
		{"exec command empty", head + "  - exec: {command: []}\n",
			"t.yml:5:12: steps[0].exec.command: want the program and its arguments"},
		{"exec command missing", head + "  - exec: {env: {A: b}}\n",
			"t.yml:5:5: steps[0].exec.command: want the program and its arguments"},
		{"exec command not a list", head + "  - exec: {command: 'kubectl get pods'}\n",
			`t.yml:5:12: steps[0].exec.command: want a list, got "kubectl get pods"`},
		{"exec program templated", head + "  - exec: {command: ['{{ .Labels.prog }}']}\n",
			"t.yml:5:22: steps[0].exec.command[0]: the program must be written out, not templated"},
		{"exec env name", head + "  - exec: {command: [true], env: {'1X': y}}\n",
			`t.yml:5:35: steps[0].exec.env.1X: invalid environment variable name "1X"`},
		{"exec dir", head + "  - exec: {command: [true], dir: tmp}\n",
			"t.yml:5:29: steps[0].exec.dir: want an absolute path"},
		{"wait both", head + "  - wait: {duration: 1m, until: alerts_resolved, timeout: 5m}\n",
			"t.yml:5:5: steps[0].wait: a wait has exactly one of duration and until"},
		{"wait neither", head + "  - wait: {timeout: 5m}\n",
			"t.yml:5:5: steps[0].wait: a wait has exactly one of duration and until"},
		{"wait until without timeout", head + "  - wait: {until: alerts_resolved}\n",
			"t.yml:5:5: steps[0].wait.timeout: required with until: how long to wait at most"},
		{"wait duration with timeout", head + "  - wait: {duration: 1m, timeout: 5m}\n",
			"t.yml:5:26: steps[0].wait.timeout: goes with until, not duration"},
		{"wait duration negative", head + "  - wait: {duration: 0s}\n",
			"t.yml:5:12: steps[0].wait.duration: must be positive"},
		{"wait until unknown name", head + "  - wait: {until: alerts_gone, timeout: 5m}\n",
			"t.yml:5:12: steps[0].wait.until: invalid expression: unknown name alerts_gone (column 1)"},
		{"wait with step timeout", head + "  - wait: {duration: 1m}\n    timeout: 5m\n",
			"t.yml:6:5: steps[0].timeout: a wait step takes its timeout inside: wait.timeout"},
		{"approve from empty", head + "  - approve: {from: []}\n",
			"t.yml:5:15: steps[0].approve.from: name who may approve: people, teams or schedules"},
		{"approve from missing", head + "  - approve: {timeout: 5m}\n",
			"t.yml:5:5: steps[0].approve.from: name who may approve"},
		{"approve from twice", head + "  - approve: {from: [a, a]}\n",
			`t.yml:5:25: steps[0].approve.from[1]: "a" listed twice`},
		{"approve retried", head + "  - approve: {from: [a]}\n    retry: {attempts: 2}\n",
			"t.yml:6:5: steps[0].retry: approve steps cannot be retried"},
		{"set nothing", head + "  - set: {}\n",
			"t.yml:5:5: steps[0].set: set needs priority, on_hold or labels"},
		{"set priority", head + "  - set: {priority: P9}\n",
			`t.yml:5:11: steps[0].set.priority: "P9": want P1..P5`},
		{"set label name", head + "  - set: {labels: {'a-b': c}}\n",
			`t.yml:5:20: steps[0].set.labels.a-b: invalid label name "a-b"`},
		{"notify message", head + "  - notify: {to: [oncall]}\n",
			"t.yml:5:5: steps[0].notify.message: required"},
		{"runbook name", head + "  - runbook: {inputs: {a: b}}\n",
			"t.yml:5:5: steps[0].runbook.name: required"},
		{"parallel empty", head + "  - parallel: []\n",
			"t.yml:5:5: steps[0].parallel: a parallel step needs steps"},
		{"parallel nested step invalid", head + "  - parallel:\n      - {annotate: a}\n      - {exec: {command: []}}\n",
			"t.yml:7:17: steps[0].parallel[1].exec.command: want the program and its arguments"},
		{"retry attempts required", head + "  - annotate: x\n    retry: {backoff: 1s}\n",
			"t.yml:6:5: steps[0].retry.attempts: required: how many attempts in all"},
		{"retry attempts range", head + "  - annotate: x\n    retry: {attempts: 101}\n",
			"t.yml:6:13: steps[0].retry.attempts: want 1..100"},
		{"retry backoff above max", head + "  - annotate: x\n    retry: {attempts: 3, backoff: 1m, max_backoff: 10s}\n",
			"t.yml:6:39: steps[0].retry.max_backoff: 10s is less than backoff 1m"},
		{"retry jitter", head + "  - annotate: x\n    retry: {attempts: 3, jitter: 1.5}\n",
			"t.yml:6:26: steps[0].retry.jitter: want a fraction from 0 to 1"},
		{"retry backoff zero", head + "  - annotate: x\n    retry: {attempts: 3, backoff: 0s}\n",
			"t.yml:6:26: steps[0].retry.backoff: must be positive"},
		{"step timeout", head + "  - annotate: x\n    timeout: 0s\n",
			"t.yml:6:5: steps[0].timeout: must be positive"},
		{"continue_on_error type", head + "  - annotate: x\n    continue_on_error: maybe\n",
			`t.yml:6:5: steps[0].continue_on_error: "maybe" is not a valid bool`},
		{"on_failure step invalid", head + "  - annotate: x\non_failure:\n  - {annotate: '{{ .Nope }}'}\n",
			"t.yml:7:6: on_failure[0].annotate: .Nope: Data has no field Nope"},
		{"on_failure reads a later on_failure step", head + "  - annotate: x\non_failure:\n  - {when: steps.b.ok, annotate: x}\n  - {name: b, annotate: y}\n",
			`t.yml:7:6: on_failure[0].when: steps.b: step "b" does not end before this point`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rb, err := Parse("t.yml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("loaded %q, want error %q", rb.Name, c.want)
			}
			var ds Diagnostics
			if !errors.As(err, &ds) {
				t.Fatalf("error is %T, want Diagnostics", err)
			}
			found := false
			for _, d := range ds {
				if strings.HasPrefix(d.Error(), c.want) {
					found = true
				}
			}
			if !found {
				t.Errorf("want an error starting with\n  %s\ngot\n  %v", c.want, strings.ReplaceAll(err.Error(), "\n", "\n  "))
			}
		})
	}
}

func TestParseReportsEveryErrorInFileOrder(t *testing.T) {
	src := head + "  - set: {priority: P0}\n  - http: {url: x}\n  - exec: {command: []}\n"
	_, err := Parse("t.yml", []byte(src))
	want := `t.yml:5:11: steps[0].set.priority: "P0": want P1..P5
t.yml:6:12: steps[1].http.url: want an absolute http:// or https:// URL
t.yml:7:12: steps[2].exec.command: want the program and its arguments, e.g. [kubectl, rollout, restart, deployment/x]`
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
}

func TestParseRejectsWhatIsNotOneRunbook(t *testing.T) {
	cases := []struct{ name, yaml, want string }{
		{"empty", "", "t.yml: empty file: want a runbook"},
		{"comment only", "# nothing\n", "t.yml: empty file: want a runbook"},
		{"a list", "- name: x\n", "t.yml:1: want a runbook: a mapping with name, triggers and steps"},
		{"two documents", "name: a\nsteps: [{annotate: x}]\n---\nname: b\n", "t.yml:3: a file holds one runbook"},
		{"syntax", "name: a\nsteps: [\n", "t.yml:2: did not find expected node content"},
		{"tab indent", "name: a\nsteps:\n\t- annotate: x\n", "t.yml:3: found character that cannot start any token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("t.yml", []byte(c.yaml))
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("got %v, want %q", err, c.want)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want string // "" for none
	}{
		{"template in sh -c", head + "  - exec: {command: [sh, -c, 'echo {{ .Labels.x }}']}\n",
			"t.yml:5:30: steps[0].exec.command[2]: a template inside a sh -c script is code"},
		{"template in bash -ec", head + "  - exec: {command: [/bin/bash, -ec, 'kubectl delete {{ .Labels.pod }}']}\n",
			"t.yml:5:38: steps[0].exec.command[2]: a template inside a bash -ec script is code"},
		{"template in python -c", head + "  - exec: {command: [python3, -c, 'print(\"{{ .Labels.x }}\")']}\n",
			"t.yml:5:35: steps[0].exec.command[2]: a template inside a python3 -c script is code"},
		{"sh -c with values as arguments", head + "  - exec: {command: [sh, -c, 'echo \"$1\"', sh, '{{ .Labels.x }}']}\n", ""},
		{"sh -c without templates", head + "  - exec: {command: [sh, -c, 'df -h /']}\n", ""},
		{"template as a plain argument", head + "  - exec: {command: [kubectl, get, 'pod/{{ .Labels.pod }}']}\n", ""},
		{"secret as an argument", head + "  - exec: {command: [curl, -u, 'admin:${secret:pw}', 'https://x']}\n",
			"t.yml:5:32: steps[0].exec.command[2]: a secret in an argument is visible to every process on the host (ps): pass it in env"},
		{"secret in env", head + "  - exec: {command: [curl], env: {PW: '${secret:pw}'}}\n", ""},
		{"one attempt", head + "  - annotate: x\n    retry: {attempts: 1}\n",
			"t.yml:6:13: steps[0].retry.attempts: 1 attempt never retries"},
		{"step longer than the run", "name: t\ntimeout: 5m\nsteps:\n  - wait: {duration: 1h}\n",
			"t.yml:4:12: steps[0].wait.duration: 1h is longer than the runbook's timeout 5m, which ends the run first"},
		{"exec longer than the run", "name: t\ntimeout: 5m\nsteps:\n  - exec: {command: [x], timeout: 10m}\n",
			"t.yml:4:26: steps[0].exec.timeout: 10m is longer than the runbook's timeout 5m"},
		{"lone parallel step", head + "  - parallel: [{annotate: x}]\n",
			"t.yml:5:5: steps[0].parallel: one step runs in parallel with nothing"},
		{"GET with a body", head + "  - http: {url: 'https://x', body: a}\n",
			"t.yml:5:5: steps[0].http.method: a GET request with a body"},
		{"json written as text", head + "  - http: {method: POST, url: 'https://x', json: '{\"a\": 1}'}\n",
			"t.yml:5:44: steps[0].http.json: json is text here, so it is sent as one JSON string"},
		{"json as YAML", head + "  - http: {method: POST, url: 'https://x', json: {a: 1}}\n", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rb, err := Parse("t.yml", []byte(c.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if c.want == "" {
				if len(rb.Warnings) > 0 {
					t.Fatalf("unexpected warnings: %v", rb.Warnings)
				}
				return
			}
			if len(rb.Warnings) != 1 || !strings.HasPrefix(rb.Warnings[0].Error(), c.want) {
				t.Fatalf("got warnings %v, want one starting with %q", rb.Warnings, c.want)
			}
		})
	}
}

// TestIssueExample loads the issue's example as written and checks what
// the model says about it.
func TestIssueExample(t *testing.T) {
	data, err := os.ReadFile("../configs/runbooks/restart-checkout-on-errors.yml")
	if err != nil {
		t.Fatal(err)
	}
	rb, err := Parse("restart-checkout-on-errors.yml", data)
	if err != nil {
		t.Fatal(err)
	}
	if len(rb.Warnings) != 0 {
		t.Errorf("warnings: %v", rb.Warnings)
	}
	if rb.Name != "restart-checkout-on-errors" || rb.Timeout != 15*time.Minute {
		t.Errorf("name %q timeout %v", rb.Name, rb.Timeout)
	}
	if len(rb.Triggers) != 2 {
		t.Fatalf("triggers: %d", len(rb.Triggers))
	}
	ev, sched := rb.Triggers[0], rb.Triggers[1]
	if ev.Kind != TriggerEvent || ev.Event != "incident.triggered" || len(ev.Match) != 2 {
		t.Errorf("event trigger: %+v", ev)
	}
	if !ev.Matches("incident.triggered", map[string]string{"alertname": "HighErrorRate", "service": "checkout-api", "env": "prod"}) ||
		ev.Matches("incident.triggered", map[string]string{"alertname": "HighErrorRate", "service": "cart"}) ||
		ev.Matches("incident.resolved", map[string]string{"alertname": "HighErrorRate", "service": "checkout-api"}) {
		t.Error("event trigger matches the wrong events")
	}
	if sched.Kind != TriggerSchedule || sched.Location.String() != "Europe/Berlin" {
		t.Errorf("schedule trigger: %+v", sched)
	}
	if rb.Concurrency == nil || rb.Concurrency.Limit != 1 || rb.Concurrency.Key.Source != "{{ .Incident.RootCause.CI }}" {
		t.Errorf("concurrency: %+v", rb.Concurrency)
	}
	var kinds []Kind
	for _, s := range rb.Steps {
		kinds = append(kinds, s.Kind)
	}
	if want := []Kind{KindHTTP, KindExec, KindAnnotate, KindWait, KindApprove, KindEscalate}; !slices.Equal(kinds, want) {
		t.Errorf("kinds %v, want %v", kinds, want)
	}
	health := rb.Steps[0]
	if health.Retry != (Retry{Attempts: 3, Backoff: 2 * time.Second, MaxBackoff: 30 * time.Second, Jitter: DefaultJitter}) ||
		!health.ContinueOnError || health.HTTP.Timeout != 5*time.Second || health.HTTP.Method != "GET" {
		t.Errorf("health: %+v %+v", health, health.HTTP)
	}
	if rb.Steps[1].When.Source != "steps.health.status != 200" || rb.Steps[1].Exec.Timeout != time.Minute {
		t.Errorf("restart: %+v", rb.Steps[1])
	}
	if w := rb.Steps[3].Wait; w.Until.Source != "alerts_resolved" || w.Timeout != 10*time.Minute || w.Interval != DefaultWaitInterval {
		t.Errorf("wait: %+v", w)
	}
	if a := rb.Steps[4].Approve; !slices.Equal(a.From, []string{"oncall", "team-shop"}) || a.Timeout != 15*time.Minute {
		t.Errorf("approve: %+v", a)
	}
	if rb.Steps[5].Escalate == nil || rb.Steps[5].Escalate.Message != nil {
		t.Errorf("escalate: %+v", rb.Steps[5])
	}
	if len(rb.OnFailure) != 1 || rb.OnFailure[0].Kind != KindAnnotate || rb.OnFailure[0].ID != "on_failure[0]" {
		t.Errorf("on_failure: %+v", rb.OnFailure)
	}
	if !slices.Equal(rb.Secrets(), []string{"kubeconfig"}) {
		t.Errorf("secrets %v", rb.Secrets())
	}
	if !slices.Equal(rb.StepNames(), []string{"health", "restart", "note", "wait-recovery", "ask", "escalate"}) {
		t.Errorf("names %v", rb.StepNames())
	}
	if s, ok := rb.Step("wait-recovery"); !ok || s.ID != "steps[3]" || s.Line != 26 || s.Column != 5 {
		t.Errorf("step lookup: %+v", s)
	}
}

func TestParseKeepsStepStructure(t *testing.T) {
	src := `name: t
steps:
  - name: a
    annotate: x
  - name: both
    parallel:
      - {name: p1, when: steps.a.ok, annotate: y}
      - parallel:
          - {name: p2, annotate: z}
          - {acknowledge: {message: '{{ .Steps.a.Outcome }}'}}
  - {when: 'steps.p1.ok && steps.p2.ok && steps.both.ok', resolve: {}}
on_failure:
  - {when: steps.p2.ok, annotate: '{{ .Error }}'}
`
	rb, err := Parse("t.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	rb.Walk(func(s *Step) { ids = append(ids, s.ID+"="+string(s.Kind)) })
	want := []string{"steps[0]=annotate", "steps[1]=parallel", "steps[1].parallel[0]=annotate",
		"steps[1].parallel[1]=parallel", "steps[1].parallel[1].parallel[0]=annotate",
		"steps[1].parallel[1].parallel[1]=acknowledge", "steps[2]=resolve", "on_failure[0]=annotate"}
	if !slices.Equal(ids, want) {
		t.Fatalf("walk:\n%v\nwant\n%v", ids, want)
	}
}

func TestHTTPJSONKeepsItsShape(t *testing.T) {
	src := head + `  - http:
      method: POST
      url: https://chat.example/hook
      json:
        text: "{{ .Incident.Title }}"
        count: 3
        ratio: 0.5
        urgent: true
        none: null
        tags: ["{{ .Labels.service }}", fixed]
        nested: {who: "{{ .Incident.Key }}"}
`
	rb, err := Parse("t.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	hostile := `", "admin": true, "x": "` + "\n}"
	d := &Data{Incident: Incident{ID: 7, Key: "INC-7", Title: hostile}, Labels: map[string]string{"service": "{{ .Env }}"}}
	out, err := (&Renderer{}).Render(rb.Steps[0], d)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"count":3,"nested":{"who":"INC-7"},"none":null,"ratio":0.5,"tags":["{{ .Env }}","fixed"],"text":"\", \"admin\": true, \"x\": \"\n}","urgent":true}`
	if out.HTTP.Body != want {
		t.Fatalf("body\n%s\nwant\n%s", out.HTTP.Body, want)
	}
	if out.HTTP.Headers["Content-Type"] != "application/json" {
		t.Errorf("headers %v", out.HTTP.Headers)
	}
}
