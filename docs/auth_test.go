package docs_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/daemon"
	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/internal/mdcode"
	"github.com/incidentd/incidentd/web"
)

// blockWith returns the first block of file tagged info whose text
// contains s.
func blockWith(t *testing.T, file, info, s string) mdcode.Block {
	t.Helper()
	for _, b := range blocks(t, file) {
		if b.Info == info && strings.Contains(b.Text, s) {
			return b
		}
	}
	t.Fatalf("%s: no %q block with %q", file, info, s)
	return mdcode.Block{}
}

// TestAuthExamples runs docs/api.md's token examples against a daemon
// configured with docs/configuration.md's api: example: the calls that
// should work do, the refused one gets the documented 403, and the
// timeline names the token's holder.
func TestAuthExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	tokens := map[string]string{"ALICE": "alice-0123456789abcdef01234567", "BOB": "bob-0123456789abcdef0123456789", "DEPLOY": "deploy-0123456789abcdef012345"}
	for name, v := range tokens {
		t.Setenv("INCIDENTD_SECRET_"+name+"_API_TOKEN", v)
	}
	cfg := blockWith(t, "configuration.md", "yaml incidentd", "tokens:")
	url, _ := daemontest.Start(t, daemontest.SQLiteConfig(t.TempDir())+cfg.Text)
	resp, err := http.Post(url+"/api/v1/alerts", "application/json", strings.NewReader(`[{"labels":{"alertname":"HighErrorRate","service":"checkout"}}]`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("post alert: %v %v", resp, err)
	}
	resp.Body.Close()
	env := append(os.Environ(), "ALICE_TOKEN="+tokens["ALICE"], "BOB_TOKEN="+tokens["BOB"])
	run := func(b mdcode.Block, curl string) string {
		script := strings.ReplaceAll(b.Text, "http://localhost:9095", url)
		script = strings.ReplaceAll(script, "curl -s ", curl)
		cmd := exec.Command("sh", "-ec", script)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("api.md:%d: example failed: %v\n%s", b.Line, err, out)
		}
		return string(out)
	}
	ok := blockWith(t, "api.md", "sh auth", "acknowledge")
	if out := run(ok, "curl -sS --fail-with-body "); !strings.Contains(out, `"actor":"alice"`) || !strings.Contains(out, "acknowledged by alice: looking") {
		t.Errorf("api.md:%d: the acknowledgement is not alice's:\n%s", ok.Line, out)
	}
	refused := blockWith(t, "api.md", "sh auth 403", "resolve")
	out := run(refused, `curl -sS -w '\n%{http_code}' `)
	out = strings.TrimSpace(out)
	i := strings.LastIndex(out, "\n") // the body, then -w's status
	body, code := out[:max(i, 0)], out[i+1:]
	var got, want web.Error
	documented := blockWith(t, "api.md", "json", `has role viewer`)
	if err := json.Unmarshal([]byte(documented.Text), &want); err != nil {
		t.Fatalf("api.md:%d: %v", documented.Line, err)
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != "403" || got.Error != want.Error {
		t.Errorf("api.md:%d: got %s %s, want 403 with the error of api.md:%d", refused.Line, code, body, documented.Line)
	}
}

// TestRolesTable checks api.md's table of routes against the route table
// the daemon enforces, both ways.
func TestRolesTable(t *testing.T) {
	data, err := os.ReadFile("api.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)`[^|]* \\| ([a-z]+) \\|$")
	_, table, found := strings.Cut(string(data), "| Route | Access |")
	if !found {
		t.Fatal("api.md: no | Route | Access | table")
	}
	table, _, _ = strings.Cut(table, "\n\n")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		documented[m[1]] = m[2]
	}
	for _, r := range api.RouteTable() {
		if got, ok := documented[r.Pattern]; !ok || got != string(r.Access) {
			t.Errorf("api.md documents %q as %q, the route table says %q", r.Pattern, got, r.Access)
		}
		delete(documented, r.Pattern)
	}
	for p := range documented {
		t.Errorf("api.md documents %q, which the route table does not have", p)
	}
}

// TestTLSExample serves docs/configuration.md's web config (with a fresh
// certificate) and runs its curl example against it.
func TestTLSExample(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	dir := t.TempDir()
	daemontest.SelfSigned(t, dir)
	webCfg := blockWith(t, "configuration.md", "yaml web-config", "tls_server_config")
	file := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(file, []byte(webCfg.Text), 0o600); err != nil {
		t.Fatal(err)
	}
	url, _ := daemontest.StartWith(t, daemontest.SQLiteConfig(t.TempDir()), func(o *daemon.Options) { o.WebConfigFile = file })
	example := blockWith(t, "configuration.md", "sh tls", "curl")
	script := strings.ReplaceAll(example.Text, "https://localhost:9095", strings.Replace(url, "http://", "https://", 1))
	script = strings.ReplaceAll(script, "curl -s ", "curl -sS --fail-with-body ")
	cmd := exec.Command("sh", "-ec", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"status":"ready"`) {
		t.Fatalf("configuration.md:%d: %v\n%s", example.Line, err, out)
	}
}
