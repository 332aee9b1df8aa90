package runbooks

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func names(s *Set) []string {
	var out []string
	for _, rb := range s.All() {
		out = append(out, rb.Name)
	}
	return out
}

func errStrings(dir string, errs []error) []string {
	var out []string
	for _, e := range errs {
		msg := e.Error()
		if dir != "" {
			msg = strings.ReplaceAll(msg, dir+string(filepath.Separator), "")
		}
		out = append(out, msg)
	}
	return out
}

func TestLoadFilesRejectsBadRunbooksAndLoadsTheRest(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a-good.yml":    "name: good\ntriggers: [{manual: true}]\nsteps: [{annotate: x}]\n",
		"b-broken.yml":  "name: broken\ntriggers: [{manual: true}]\nsteps:\n  - exec: {command: []}\n  - wait: {}\n",
		"c-dup.yml":     "name: good\ntriggers: [{manual: true}]\nsteps: [{annotate: y}]\n",
		"d-syntax.yml":  "name: [\n",
		"sub/e.yaml":    "name: nested\ntriggers: [{manual: true}]\nsteps: [{annotate: z}]\n",
		"notes.txt":     "not a runbook",
		"f-caller.yml":  "name: caller\ntriggers: [{manual: true}]\nsteps:\n  - runbook: {name: broken}\n",
		"g-caller2.yml": "name: caller2\ntriggers: [{manual: true}]\nsteps:\n  - runbook: {name: caller}\n",
	})
	set, errs := LoadFiles([]string{filepath.Join(dir, "*.yml"), filepath.Join(dir, "sub", "*.yaml"), filepath.Join(dir, "a-good.yml")})
	if got := names(set); !slices.Equal(got, []string{"good", "nested"}) {
		t.Errorf("loaded %v", got)
	}
	want := []string{
		"b-broken.yml:4:12: steps[0].exec.command: want the program and its arguments, e.g. [kubectl, rollout, restart, deployment/x]",
		"b-broken.yml:5:5: steps[1].wait: a wait has exactly one of duration and until",
		"d-syntax.yml:1: did not find expected node content",
		"c-dup.yml:1:1: name: runbook \"good\" is already defined in " + filepath.Join(dir, "a-good.yml") + ":1",
		`f-caller.yml:4:15: steps[0].runbook.name: no runbook named "broken" is loaded`,
		`g-caller2.yml:4:15: steps[0].runbook.name: no runbook named "caller" is loaded`,
	}
	got := errStrings(dir, errs)
	for i := range want {
		want[i] = strings.ReplaceAll(want[i], dir+string(filepath.Separator), "")
	}
	if !slices.Equal(got, want) {
		t.Errorf("errors:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// The good one is the first file's, not the duplicate's.
	if rb, _ := set.Get("good"); rb.Steps[0].Annotate.Source != "x" {
		t.Error("the duplicate replaced the first")
	}
}

func TestLoadFilesMissingFile(t *testing.T) {
	set, errs := LoadFiles([]string{"/nonexistent/runbook.yml", "/nonexistent/*.yml", "[bad"})
	got := errStrings("", errs)
	want := []string{
		"runbooks.files: /nonexistent/runbook.yml: no such file",
		`runbooks.files: "[bad": syntax error in pattern`,
	}
	if !slices.Equal(got, want) || set.Len() != 0 {
		t.Errorf("got %q", got)
	}
}

func TestSetChecksRunbookCalls(t *testing.T) {
	callee := "name: cleanup\ninputs:\n  - {name: host, required: true}\n  - {name: days, type: int, default: \"7\"}\nsteps: [{annotate: x}]\n"
	cases := []struct {
		name   string
		caller string
		want   string // "" when valid
	}{
		{"valid", "  - runbook: {name: cleanup, inputs: {host: '{{ .CI.ID }}', days: '3'}}\n", ""},
		{"missing callee", "  - runbook: {name: nope}\n", `c.yml:6:15: steps[0].runbook.name: no runbook named "nope" is loaded`},
		{"unknown input", "  - runbook: {name: cleanup, inputs: {host: a, hots: b}}\n", `c.yml:6:48: steps[0].runbook.inputs.hots: runbook cleanup has no input "hots"`},
		{"missing required input", "  - runbook: {name: cleanup, inputs: {days: '1'}}\n", "c.yml:6:30: steps[0].runbook.inputs: runbook cleanup requires input host"},
		{"literal of the wrong type", "  - runbook: {name: cleanup, inputs: {host: a, days: many}}\n", `c.yml:6:48: steps[0].runbook.inputs.days: input days: "many" is not an integer`},
		{"call inside parallel", "  - parallel:\n      - {annotate: a}\n      - runbook: {name: nope}\n", `c.yml:8:19: steps[0].parallel[1].runbook.name: no runbook named "nope" is loaded`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := Parse("a.yml", []byte(callee))
			if err != nil {
				t.Fatal(err)
			}
			b, err := Parse("c.yml", []byte("name: caller\ntriggers: [{manual: true}]\ninputs: [{name: x, default: y}]\ntimeout: 1h\nsteps:\n"+c.caller))
			if err != nil {
				t.Fatal(err)
			}
			set, errs := NewSet([]*Runbook{a, b})
			if c.want == "" {
				if len(errs) > 0 || set.Len() != 2 {
					t.Fatalf("errors %v", errs)
				}
				return
			}
			if len(errs) != 1 || errs[0].Error() != c.want {
				t.Fatalf("got %v, want %s", errs, c.want)
			}
			if _, ok := set.Get("caller"); ok {
				t.Error("the broken caller was kept")
			}
		})
	}
}

func TestSetRejectsCallCycles(t *testing.T) {
	parse := func(name, callee string) *Runbook {
		src := "name: " + name + "\nsteps:\n  - annotate: x\n"
		if callee != "" {
			src += "  - runbook: {name: " + callee + "}\n"
		}
		rb, err := Parse(name+".yml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return rb
	}
	set, errs := NewSet([]*Runbook{parse("a", "b"), parse("b", "c"), parse("c", "a"), parse("self", "self"), parse("d", "a"), parse("e", "f"), parse("f", "")})
	got := errStrings("", errs)
	want := []string{
		"a.yml:1:1: name: runbook a calls itself through runbook steps",
		"b.yml:1:1: name: runbook b calls itself through runbook steps",
		"c.yml:1:1: name: runbook c calls itself through runbook steps",
		"self.yml:1:1: name: runbook self calls itself through runbook steps",
		`d.yml:4:15: steps[1].runbook.name: no runbook named "a" is loaded`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("errors:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !slices.Equal(names(set), []string{"e", "f"}) {
		t.Errorf("kept %v", names(set))
	}
	// e has no trigger and nobody calls it; f is called by e.
	var warns []string
	for _, w := range set.Warnings() {
		warns = append(warns, w.Error())
	}
	if !slices.Equal(warns, []string{"e.yml: triggers: no triggers, and no runbook calls it: it never runs"}) {
		t.Errorf("warnings %v", warns)
	}
}

func TestSetForEventAndSecrets(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"p1.yml":    "name: p1-chat\ntriggers:\n  - {on: incident.triggered, match: '{priority=\"P1\"}'}\n  - {on: incident.priority_changed, match: '{priority=\"P1\"}'}\nsteps:\n  - http: {method: POST, url: 'https://chat/${secret:chat}', body: x}\n",
		"all.yml":   "name: all-triggered\ntriggers: [{on: incident.triggered}]\nsteps: [{annotate: x}]\n",
		"db.yml":    "name: db\ntriggers: [{on: incident.triggered, match: '{ci_class=\"database\"}'}]\nsteps:\n  - exec: {command: [x], env: {A: '${secret:db}', B: '${secret:chat}'}}\n",
		"sched.yml": "name: nightly\ntriggers: [{schedule: '@daily'}]\nsteps: [{annotate: x}]\n",
	})
	set, errs := LoadFiles([]string{filepath.Join(dir, "*.yml")})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	lset := MatchLabels(nil, Incident{Priority: 1}, CI{ID: "pg", Class: "database"})
	var got []string
	for _, rb := range set.ForEvent("incident.triggered", lset) {
		got = append(got, rb.Name)
	}
	if !slices.Equal(got, []string{"all-triggered", "db", "p1-chat"}) {
		t.Errorf("ForEvent: %v", got)
	}
	if n := len(set.ForEvent("incident.triggered", MatchLabels(nil, Incident{Priority: 3}, CI{}))); n != 1 {
		t.Errorf("a P3 without CI starts %d runbooks, want 1", n)
	}
	if !slices.Equal(set.Secrets(), []string{"chat", "db"}) {
		t.Errorf("secrets %v", set.Secrets())
	}
}

// TestConfiguredRunbooksLoad loads configs/runbooks as the daemon will.
func TestConfiguredRunbooksLoad(t *testing.T) {
	set, errs := LoadFiles([]string{"../configs/runbooks/*.yml"})
	for _, e := range errs {
		t.Error(e)
	}
	for _, w := range set.Warnings() {
		t.Errorf("warning: %v", w)
	}
	if set.Len() < 5 {
		t.Fatalf("%d runbooks, want the issue's example and at least four more", set.Len())
	}
	if _, ok := set.Get("restart-checkout-on-errors"); !ok {
		t.Error("the issue's example is missing")
	}
	kinds := map[Kind]bool{}
	triggers := map[TriggerKind]bool{}
	for _, rb := range set.All() {
		rb.Walk(func(s *Step) { kinds[s.Kind] = true })
		for _, tr := range rb.Triggers {
			triggers[tr.Kind] = true
		}
	}
	for _, k := range Kinds {
		if !kinds[k] {
			t.Errorf("no example uses a %s step", k)
		}
	}
	for _, k := range []TriggerKind{TriggerEvent, TriggerSchedule, TriggerManual} {
		if !triggers[k] {
			t.Errorf("no example has a %s trigger", k)
		}
	}
}

// TestConfiguredRunbooksRender renders every step of every example over a
// representative incident (manual runs without one), and evaluates every
// condition, so that the examples work when run, not only when loaded.
func TestConfiguredRunbooksRender(t *testing.T) {
	set, errs := LoadFiles([]string{"../configs/runbooks/*.yml"})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var open any
	if err := json.Unmarshal([]byte(`{"incidents": [{"key": "INC-4", "priority": 2, "title": "Checkout errors", "status": "triggered"}]}`), &open); err != nil {
		t.Fatal(err)
	}
	withIncident := func(rb *Runbook) *Data {
		d := rb.NewData()
		d.Incident = Incident{ID: 4, Key: "INC-4", Title: "Checkout errors", Status: "triggered", Priority: 1, AlertCount: 2, FiringCount: 1,
			Labels: map[string]string{"alertname": "HighErrorRate", "service": "checkout-api", "instance": "web-3"}, RootCause: RootCause{CI: "checkout-db"}}
		d.Labels = map[string]string{"alertname": "HighErrorRate", "service": "checkout-api", "instance": "web-3"}
		d.CI = CI{ID: "checkout-db", Class: "database", Attributes: map[string]string{"host": "10.0.0.5", "replica_host": "10.0.0.6", "cluster": "checkout"}}
		d.Runbook.Trigger = "incident.triggered"
		for n := range d.Steps {
			d.Steps[n] = StepResult{Outcome: OutcomeSucceeded, OK: true, Status: 200, Stdout: "ok\n"}
		}
		d.Steps["open"] = StepResult{Outcome: OutcomeSucceeded, OK: true, Status: 200, JSON: open}
		return d
	}
	for _, rb := range set.All() {
		datas := []*Data{withIncident(rb)}
		if rb.Manual() {
			given := map[string]any{}
			for _, in := range rb.Inputs {
				if in.Required {
					given[in.Name] = "db-1"
				}
			}
			inputs, err := rb.ResolveInputs(given)
			if err != nil {
				t.Fatal(err)
			}
			manual := rb.NewData()
			manual.Inputs, manual.Runbook.Trigger = inputs, "manual"
			datas = append(datas, manual)
			datas[0].Inputs = inputs
		} else {
			inputs, err := rb.ResolveInputs(nil)
			if err != nil {
				t.Fatal(err)
			}
			datas[0].Inputs = inputs
		}
		for _, d := range datas {
			d.Error = "step x failed"
			r := &Renderer{Secrets: secretFunc(func(string) (string, error) { return "s3cr3t", nil }), Masker: NewMasker()}
			if _, err := rb.ConcurrencyKey(d); err != nil {
				t.Errorf("%s (%s): concurrency key: %v", rb.Name, d.Runbook.Trigger, err)
			}
			rb.Walk(func(s *Step) {
				if _, err := s.ShouldRun(d); err != nil {
					t.Errorf("%s (%s): %s: when: %v", rb.Name, d.Runbook.Trigger, s.ID, err)
				}
				if s.Wait != nil && s.Wait.Until != nil {
					if _, err := s.Wait.Until.Eval(d); err != nil {
						t.Errorf("%s: %s: until: %v", rb.Name, s.ID, err)
					}
				}
				if _, err := r.Render(s, d); err != nil {
					t.Errorf("%s (%s): %v", rb.Name, d.Runbook.Trigger, err)
				}
			})
		}
	}
}

type secretFunc func(string) (string, error)

func (f secretFunc) Secret(name string) (string, error) { return f(name) }
