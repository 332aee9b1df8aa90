package runbooks

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestEnvSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("kubeconfig", "/etc/kube/config\n")
	write("pg-password", "from-file")
	write("crlf", "v\r\n")
	write("two-lines", "a\nb\n\n")
	env := map[string]string{"INCIDENTD_SECRET_PG_PASSWORD": "from-env", "INCIDENTD_SECRET_SLACK_HOOK_V2": "hook", "INCIDENTD_SECRET_EMPTY": ""}
	s := EnvSecrets{Dir: dir, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	cases := []struct{ name, want, err string }{
		{"kubeconfig", "/etc/kube/config", ""}, // file, one newline dropped
		{"pg-password", "from-env", ""},        // env wins over file
		{"slack.hook-v2", "hook", ""},          // '.' and '-' become '_'
		{"empty", "", ""},                      // set but empty is set
		{"crlf", "v", ""},                      // CRLF dropped
		{"two-lines", "a\nb\n", ""},            // only one newline dropped
		{"missing", "", "secret not found"},    // neither
		{"../etc/passwd", "", "invalid secret name"},
		{"a/b", "", "invalid secret name"},
	}
	for _, c := range cases {
		got, err := s.Secret(c.name)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: got %q, %v; want error %q", c.name, got, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	_, err := s.Secret("missing")
	if !errors.Is(err, ErrSecretNotFound) || !strings.Contains(err.Error(), "INCIDENTD_SECRET_MISSING") {
		t.Errorf("missing: %v", err)
	}
	if _, err := (EnvSecrets{LookupEnv: func(string) (string, bool) { return "", false }}).Secret("x"); !errors.Is(err, ErrSecretNotFound) {
		t.Errorf("no dir: %v", err)
	}
	if SecretEnvVar("kube-config.prod") != "INCIDENTD_SECRET_KUBE_CONFIG_PROD" {
		t.Error(SecretEnvVar("kube-config.prod"))
	}
}

func TestMasker(t *testing.T) {
	m := NewMasker("s3cr3t", "p@ss word/&", "")
	m.Add("s3cr3t-longer") // contains another secret: masked whole
	cases := []struct{ in, want string }{
		{"token=s3cr3t", "token=***"},
		{"s3cr3t and s3cr3t", "*** and ***"},
		{"s3cr3t-longer!", "***!"},
		{"pw: p@ss word/&", "pw: ***"},
		{`{"pw":"p@ss word/\u0026"}`, `{"pw":"***"}`}, // JSON-escaped
		{"?pw=p%40ss+word%2F%26", "?pw=***"},          // query-escaped
		{"/p@ss%20word%2F&", "/***"},                  // path-escaped
		{"nothing here", "nothing here"},
		{"", ""},
	}
	for _, c := range cases {
		if got := m.Mask(c.in); got != c.want {
			t.Errorf("Mask(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if err := m.MaskError(fmt.Errorf("auth with s3cr3t failed")); err.Error() != "auth with *** failed" {
		t.Error(err)
	}
	if m.MaskError(nil) != nil {
		t.Error("nil error")
	}
	var nilMasker *Masker
	if nilMasker.Mask("s3cr3t") != "s3cr3t" {
		t.Error("nil masker")
	}
}

func TestMaskerConcurrentUse(t *testing.T) {
	m := NewMasker()
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			v := fmt.Sprintf("secret-%d", i)
			m.Add(v)
			if got := m.Mask("x " + v); got != "x ***" {
				t.Errorf("%s: %q", v, got)
			}
		}(i)
	}
	wg.Wait()
}

// TestRenderedSecretsAreMasked: the renderer registers what it resolves,
// and the masked copy (what is stored and shown) holds no secret.
func TestRenderedSecretsAreMasked(t *testing.T) {
	rb, err := Parse("t.yml", []byte(head+`  - name: call
    http:
      method: POST
      url: "https://api.example/v1?key=${secret:api-key}"
      headers: {Authorization: "Bearer ${secret:token}"}
      json: {password: "${secret:db}", note: "{{ .Labels.service }}"}
  - exec:
      command: [psql, -c, "select 1"]
      env: {PGPASSWORD: "${secret:db}"}
`))
	if err != nil {
		t.Fatal(err)
	}
	secrets := &recordingSecrets{values: map[string]string{"api-key": "AK-1", "token": "tok\"en", "db": "pg pw&1"}}
	m := NewMasker()
	r := &Renderer{Secrets: secrets, Masker: m}
	d := &Data{Labels: map[string]string{"service": "checkout"}}
	var shown []string
	for _, s := range rb.Steps {
		out, err := r.Render(s, d)
		if err != nil {
			t.Fatal(err)
		}
		masked := out.Masked(m)
		shown = append(shown, fmt.Sprintf("%+v %+v", masked.HTTP, masked.Exec))
		if s.Kind == KindHTTP && (out.HTTP.Headers["Authorization"] != `Bearer tok"en` || !strings.Contains(out.HTTP.Body, `"password":"pg pw&1"`)) {
			t.Errorf("unmasked render: %+v", out.HTTP)
		}
	}
	all := strings.Join(shown, "\n")
	for _, v := range secrets.values {
		if strings.Contains(all, v) {
			t.Errorf("secret %q shown:\n%s", v, all)
		}
	}
	for _, want := range []string{"key=***", "Bearer ***", `"password":"***"`, `"note":"checkout"`, "PGPASSWORD:***"} {
		if !strings.Contains(all, want) {
			t.Errorf("masked view lacks %q:\n%s", want, all)
		}
	}
	// A response echoing the secret is masked too.
	if got := m.Mask(`{"echo": "tok\"en"}`); got != `{"echo": "***"}` {
		t.Errorf("echo: %s", got)
	}
}

func TestRenderSecretErrors(t *testing.T) {
	rb, err := Parse("t.yml", []byte(head+"  - name: call\n    http: {url: 'https://x', headers: {A: '${secret:nope}'}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&Renderer{Secrets: &recordingSecrets{}, Masker: NewMasker()}).Render(rb.Steps[0], &Data{})
	if !errors.Is(err, ErrSecretNotFound) || !strings.HasPrefix(err.Error(), `step call: steps[0].http.headers.A: secret "nope"`) {
		t.Errorf("got %v", err)
	}
	_, err = (&Renderer{Secrets: &recordingSecrets{}}).Render(rb.Steps[0], &Data{})
	if err == nil || !strings.Contains(err.Error(), "needs a Masker") {
		t.Errorf("without masker: %v", err)
	}
	// A dry run resolves nothing and shows the reference.
	out, err := (&Renderer{}).Render(rb.Steps[0], &Data{})
	if err != nil || out.HTTP.Headers["A"] != "${secret:nope}" {
		t.Errorf("dry run: %+v %v", out, err)
	}
}
