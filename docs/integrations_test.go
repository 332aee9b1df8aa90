package docs_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/daemon/daemontest"
)

// docSecrets are the values the examples of integrations.md send.
var docSecrets = map[string]string{
	"INCIDENTD_SECRET_AM_TOKEN":             "am-example-token",
	"INCIDENTD_SECRET_GRAFANA_TOKEN":        "grafana-example-token",
	"INCIDENTD_SECRET_CHECKOUT_ROUTING_KEY": "R0UT1NGKEYEXAMPLE00000000000000",
	"INCIDENTD_SECRET_ZABBIX_TOKEN":         "zabbix-example-token",
	"INCIDENTD_SECRET_GITHUB_HOOK_KEY":      "github-example-key",
	"INCIDENTD_SECRET_BACKUP_TOKEN":         "backup-example-token",
}

// TestIntegrationsExamples runs the `sh integrations` blocks of
// integrations.md against a daemon configured with the page's config,
// failing on any HTTP error; then runs each again without its secret,
// which must be refused.
func TestIntegrationsExamples(t *testing.T) {
	for _, tool := range []string{"curl", "openssl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
	for k, v := range docSecrets {
		t.Setenv(k, v)
	}
	var cfg string
	var scripts []string
	var lines []int
	for _, b := range blocks(t, "integrations.md") {
		switch {
		case b.Info == "yaml incidentd" && cfg == "":
			cfg = b.Text
		case b.Info == "sh integrations":
			scripts = append(scripts, b.Text)
			lines = append(lines, b.Line)
		}
	}
	if cfg == "" || len(scripts) < 5 {
		t.Fatalf("found config %t and %d examples", cfg != "", len(scripts))
	}
	url, _ := daemontest.Start(t, daemontest.SQLiteConfig(t.TempDir())+cfg)
	run := func(script string) ([]byte, error) {
		script = strings.ReplaceAll(script, "http://localhost:9095", url)
		script = strings.ReplaceAll(script, "curl -s ", "curl -sS --fail-with-body ")
		return exec.Command("sh", "-ec", script).CombinedOutput()
	}
	for i, s := range scripts {
		out, err := run(s)
		if err != nil {
			t.Fatalf("integrations.md:%d: example failed: %v\n%s", lines[i], err, out)
		}
		if !strings.HasPrefix(strings.TrimSpace(string(out)), "{") {
			t.Errorf("integrations.md:%d: example printed no JSON: %s", lines[i], out)
		}
	}
	for i, s := range scripts {
		stripped := s
		for _, v := range docSecrets {
			stripped = strings.ReplaceAll(stripped, v, "wrong")
		}
		if stripped == s {
			continue
		}
		out, err := run(stripped)
		if err == nil || !strings.Contains(string(out), "401") {
			t.Errorf("integrations.md:%d: the example with a wrong secret was not refused: %v\n%s", lines[i], err, out)
		}
	}
}
