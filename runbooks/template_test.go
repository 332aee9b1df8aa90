package runbooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// renderNote renders an annotate step's text over d.
func renderNote(t *testing.T, text string, d *Data) (string, error) {
	t.Helper()
	rb, err := Parse("t.yml", []byte(head+"  - annotate: "+jsonQuote(text)+"\n"))
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	out, err := (&Renderer{}).Render(rb.Steps[0], d)
	if err != nil {
		return "", err
	}
	return out.Note, nil
}

func TestTemplateFunctions(t *testing.T) {
	cases := []struct{ text, want string }{
		{`{{ .Labels.service }}`, "checkout-api"},
		{`{{ .Incident.RootCause.CI }} on {{ .CI.Attributes.host }}`, "checkout-api on 10.0.0.7"},
		{`{{ .Steps.health.Status }} {{ .Steps.health.JSON.status }}`, "503 down"},
		{`{{ (index .Steps "wait-recovery").Outcome }}`, "timed_out"},
		{`{{ index .Labels "team" | default "ops" }}`, "ops"},
		{`{{ .Labels.service | default "ops" }}`, "checkout-api"},
		{`{{ default 5 0 }}`, "5"},
		{`{{ .Incident.Title | trunc 8 }}`, "Checkout"},
		{`{{ trunc 50 "short" }}`, "short"},
		{`{{ trunc 2 "äöü" }}`, "äö"},
		{`{{ join ", " .Incident.Impacted }}`, "shop, payments"},
		{`{{ quote .Incident.Title }}`, `"Checkout errors"`},
		{`{{ quote "a\"b" }}`, `"a\"b"`},
		{`{{ toJson .Labels }}`, `{"alertname":"HighErrorRate","service":"checkout-api"}`},
		{`{{ toJson "<&>" }}`, `"<&>"`},
		{`{{ upper .Labels.service }} {{ lower "ABC" }}`, "CHECKOUT-API abc"},
		{`{{ .Labels.service | replace "-" "_" }}`, "checkout_api"},
		{`{{ trim "  x  " }}`, "x"},
		{`P{{ .Incident.Priority }} {{ .Incident.Key }}`, "P2 INC-12"},
		{`{{ .Now.Format "2006-01-02" }}`, "2026-05-04"},
		{`{{ .Inputs.days }} days, {{ .Inputs.window }}`, "7 days, 2h0m0s"},
		{`{{ range .Alerts }}{{ .ID }}={{ .Status }} {{ end }}`, "a-1=firing b-1=resolved "},
		{`{{ with .CI }}{{ .Class }}{{ end }}`, "service"},
		{`{{ if eq .Incident.Status "triggered" }}new{{ else }}old{{ end }}`, "new"},
		{`{{ .Runbook.Name }}: {{ .Error }}`, "restart-checkout-on-errors: "},
	}
	d := sampleData(t)
	d.Incident.Impacted = []string{"shop", "payments"}
	for _, c := range cases {
		rb, err := Parse("t.yml", []byte(declaredRunbook+"  - annotate: "+jsonQuote(c.text)+"\n"))
		if err != nil {
			t.Errorf("%s: %v", c.text, err)
			continue
		}
		out, err := (&Renderer{}).Render(rb.Steps[4], d)
		if err != nil {
			t.Errorf("%s: %v", c.text, err)
			continue
		}
		if out.Note != c.want {
			t.Errorf("%s = %q, want %q", c.text, out.Note, c.want)
		}
	}
}

func TestTemplateRunTimeErrors(t *testing.T) {
	cases := []struct{ text, want string }{
		{`{{ .Labels.team }}`, `steps[0].annotate: at <.Labels.team>: map has no entry for key "team"`},
		{`{{ .CI.Attributes.host }}`, `map has no entry for key "host"`},
		{`{{ trunc -1 "x" }}`, "trunc: negative length -1"},
		{`{{ join "," "abc" }}`, "join: want a list, got string"},
	}
	for _, c := range cases {
		_, err := renderNote(t, c.text, &Data{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.text, err, c.want)
		}
	}
}

func TestRenderedTextIsCapped(t *testing.T) {
	big := strings.Repeat("x", MaxRenderedBytes/2+1)
	_, err := renderNote(t, "{{ .Labels.a }}{{ .Labels.a }}", &Data{Labels: map[string]string{"a": big}})
	if err == nil || !strings.Contains(err.Error(), "rendered text exceeds") {
		t.Fatalf("got %v", err)
	}
	if _, err := renderNote(t, "{{ .Labels.a }}", &Data{Labels: map[string]string{"a": big}}); err != nil {
		t.Fatal(err)
	}
}

// hostile are label values that would do harm if anything parsed them as
// shell, template or secret reference.
var hostile = []string{
	"x; rm -rf /",
	"$(id)",
	"`id`",
	"a\nb\r\nc",
	"{{ .Env }}",
	`{{ template "x" }}`,
	"${secret:kubeconfig}",
	"${secret:kubeconfig",
	"--kubeconfig=/etc/shadow",
	`"'\ *?[a]~ && || > /tmp/x < /etc/passwd | cat &`,
	"\t \u00a0ünïcode ✓",
	"",
}

// recordingSecrets counts lookups, to prove which references resolve.
type recordingSecrets struct {
	values map[string]string
	asked  []string
}

func (r *recordingSecrets) Secret(name string) (string, error) {
	r.asked = append(r.asked, name)
	v, ok := r.values[name]
	if !ok {
		return "", fmt.Errorf("secret %q: %w", name, ErrSecretNotFound)
	}
	return v, nil
}

// TestHelperProcess is not a test: TestLabelsCannotInject runs the test
// binary as the exec step's program, and in that process this writes the
// arguments and environment it got to a file.
func TestHelperProcess(t *testing.T) {
	out := os.Getenv("RUNBOOKS_HELPER_OUT")
	if out == "" {
		t.Skip("helper process only")
	}
	got := map[string]any{"args": os.Args[1:], "svc": os.Getenv("SVC"), "kubeconfig": os.Getenv("KUBECONFIG"), "environ": os.Environ()}
	b, _ := json.Marshal(got)
	if err := os.WriteFile(out, b, 0o600); err != nil {
		os.Exit(3)
	}
	os.Exit(0)
}

// TestLabelsCannotInject renders the restart step with hostile
// label values, runs the rendered argument vector, and checks that every
// value arrived verbatim as exactly one argument, that no secret reference
// in a label resolved, and that nothing else ran.
func TestLabelsCannotInject(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`name: inject
steps:
  - name: restart
    exec:
      command: [%s, "-test.run=^TestHelperProcess$", "--", "deployment/{{ .Labels.service }}", "{{ .Labels.service }}"]
      env: {KUBECONFIG: "${secret:kubeconfig}", SVC: "{{ .Labels.service }}"}
  - annotate: "Restarted {{ .Labels.service }}"
`, jsonQuote(self))
	rb, err := Parse("inject.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	const kubeconfig = "/etc/incidentd/kubeconfig-s3cr3t"
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	labels := append(slices.Clone(hostile),
		"x; touch "+marker, "$(touch "+marker+")", "`touch "+marker+"`", "x\ntouch "+marker)
	for _, label := range labels {
		secrets := &recordingSecrets{values: map[string]string{"kubeconfig": kubeconfig}}
		m := NewMasker()
		r := &Renderer{Secrets: secrets, Masker: m}
		d := &Data{Labels: map[string]string{"service": label}}
		out, err := r.Render(rb.Steps[0], d)
		if err != nil {
			t.Fatalf("%q: %v", label, err)
		}
		cmd := out.Exec.Command
		if len(cmd) != 5 || cmd[3] != "deployment/"+label || cmd[4] != label {
			t.Fatalf("%q rendered to %q", label, cmd)
		}
		if !slices.Equal(secrets.asked, []string{"kubeconfig"}) || out.Exec.Env["KUBECONFIG"] != kubeconfig || out.Exec.Env["SVC"] != label {
			t.Fatalf("%q: secrets asked %v, env %q", label, secrets.asked, out.Exec.Env)
		}
		for _, a := range cmd {
			if strings.Contains(a, kubeconfig) {
				t.Fatalf("%q: the secret reached an argument: %q", label, cmd)
			}
		}
		note, err := r.Render(rb.Steps[1], d)
		if err != nil || note.Note != "Restarted "+label {
			t.Fatalf("%q: note %q, %v", label, note.Note, err)
		}

		// Run it as the engine will: argument vector, no shell.
		res := filepath.Join(dir, "result.json")
		c := exec.Command(cmd[0], cmd[1:]...)
		c.Env = append(out.Exec.Environ("/usr/bin:/bin"), "RUNBOOKS_HELPER_OUT="+res)
		if b, err := c.CombinedOutput(); err != nil {
			t.Fatalf("%q: helper: %v\n%s", label, err, b)
		}
		var got struct {
			Args       []string
			SVC        string
			Kubeconfig string
			Environ    []string
		}
		b, err := os.ReadFile(res)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		want := []string{"-test.run=^TestHelperProcess$", "--", "deployment/" + label, label}
		if !slices.Equal(got.Args, want) || got.SVC != label || got.Kubeconfig != kubeconfig {
			t.Fatalf("%q: the program got %q, SVC=%q", label, got.Args, got.SVC)
		}
		wantEnv := []string{"KUBECONFIG=" + kubeconfig, "PATH=/usr/bin:/bin", "RUNBOOKS_HELPER_OUT=" + res, "SVC=" + label}
		slices.Sort(got.Environ)
		if !slices.Equal(got.Environ, wantEnv) {
			t.Fatalf("%q: the program's environment is %q, want %q", label, got.Environ, wantEnv)
		}
		if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%q: something ran: %s exists", label, marker)
		}
		os.Remove(res)
	}
}

// TestLabelsCannotSmuggleIntoHTTP: headers refuse line breaks (no header
// injection), bodies and URLs take values verbatim and resolve no secret.
func TestLabelsCannotSmuggleIntoHTTP(t *testing.T) {
	rb, err := Parse("t.yml", []byte(head+`  - http:
      method: POST
      url: "https://hooks.example/{{ .Labels.team }}?token=${secret:hook}"
      headers: {X-Service: "{{ .Labels.service }}", Authorization: "Bearer ${secret:token}"}
      body: "service={{ .Labels.service }}"
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range hostile {
		secrets := &recordingSecrets{values: map[string]string{"hook": "h00k", "token": "t0ken", "kubeconfig": "KUBE"}}
		r := &Renderer{Secrets: secrets, Masker: NewMasker()}
		out, err := r.Render(rb.Steps[0], &Data{Labels: map[string]string{"service": label, "team": "shop"}})
		if strings.ContainsAny(label, "\r\n") {
			if err == nil || !strings.Contains(err.Error(), "http.headers.X-Service: rendered value holds a line break") {
				t.Errorf("%q: got %v, want a header error", label, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", label, err)
		}
		if out.HTTP.Body != "service="+label || out.HTTP.Headers["X-Service"] != label || out.HTTP.Headers["Authorization"] != "Bearer t0ken" ||
			out.HTTP.URL != "https://hooks.example/shop?token=h00k" {
			t.Errorf("%q: %+v", label, out.HTTP)
		}
		slices.Sort(secrets.asked)
		if !slices.Equal(secrets.asked, []string{"hook", "token"}) {
			t.Errorf("%q: secrets asked %v", label, secrets.asked)
		}
	}
	// A label that turns the URL into something else than http(s) fails
	// without quoting the URL, which holds a secret.
	r := &Renderer{Secrets: &recordingSecrets{values: map[string]string{"hook": "h00k", "token": "t"}}, Masker: NewMasker()}
	_, err = r.Render(rb.Steps[0], &Data{Labels: map[string]string{"service": "x", "team": "%zz"}})
	if err == nil || strings.Contains(err.Error(), "h00k") || !strings.Contains(err.Error(), "http.url") {
		t.Errorf("bad URL: %v", err)
	}
}

func TestRenderEveryKind(t *testing.T) {
	rb, err := Parse("t.yml", []byte(`name: t
triggers: [{manual: true}]
inputs: [{name: who, default: bob}]
steps:
  - wait: {duration: 2m}
  - wait: {until: alerts_resolved, timeout: 5m, interval: 10s}
  - approve: {from: [oncall], timeout: 1h, message: "Restart {{ .Labels.service }}?"}
  - set: {priority: p2, on_hold: false, labels: {owner: "{{ .Inputs.who }}"}}
  - acknowledge: {message: "ack by runbook"}
  - resolve: {}
  - escalate: {message: "{{ .Incident.Key }} not fixed"}
  - notify: {to: [chat], message: "{{ .Incident.Title }}"}
  - runbook: {name: other, inputs: {host: "{{ .CI.ID }}"}}
  - parallel: [{annotate: a}, {annotate: b}]
`))
	if err != nil {
		t.Fatal(err)
	}
	d := &Data{Incident: Incident{Key: "INC-3", Title: "Disk full"}, CI: CI{ID: "db-1"}, Labels: map[string]string{"service": "db"}, Inputs: map[string]any{"who": "bob"}}
	var got []string
	for _, s := range rb.Steps {
		out, err := (&Renderer{}).Render(s, d)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(out)
		got = append(got, string(b))
	}
	want := []string{
		`{"kind":"wait","wait":{"duration":120000000000}}`,
		`{"kind":"wait","wait":{"until":"alerts_resolved","timeout":300000000000,"interval":10000000000}}`,
		`{"kind":"approve","approve":{"from":["oncall"],"timeout":3600000000000,"message":"Restart db?"}}`,
		`{"kind":"set","set":{"priority":2,"on_hold":false,"labels":{"owner":"bob"}}}`,
		`{"kind":"acknowledge","message":"ack by runbook"}`,
		`{"kind":"resolve"}`,
		`{"kind":"escalate","message":"INC-3 not fixed"}`,
		`{"kind":"notify","message":"Disk full","to":["chat"]}`,
		`{"kind":"runbook","runbook":{"runbook":"other","inputs":{"host":"db-1"}}}`,
		`{"kind":"parallel"}`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestConcurrencyKey(t *testing.T) {
	data, err := os.ReadFile("../configs/runbooks/restart-checkout-on-errors.yml")
	if err != nil {
		t.Fatal(err)
	}
	rb, err := Parse("x.yml", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		d    *Data
		want string
	}{
		{&Data{Incident: Incident{RootCause: RootCause{CI: "checkout-api"}}}, "checkout-api"},
		{&Data{}, ""}, // a scheduled run without incident: one shared key
	} {
		if got, err := rb.ConcurrencyKey(c.d); err != nil || got != c.want {
			t.Errorf("key %q, %v; want %q", got, err, c.want)
		}
	}
	plain, _ := Parse("t.yml", []byte(head+"  - annotate: x\n"))
	if got, err := plain.ConcurrencyKey(&Data{}); got != "" || err != nil {
		t.Errorf("no concurrency: %q %v", got, err)
	}
}
