// Package docs_test runs every example in README.md and docs/*.md: config
// snippets are validated, the Alertmanager snippet is checked with amtool,
// and the curl examples run, in order, against a live daemon.
package docs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/config"
	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/internal/mdcode"
)

// blocks returns the fenced code blocks of a markdown file.
func blocks(t *testing.T, file string) []mdcode.Block {
	t.Helper()
	out, err := mdcode.Blocks(file)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func allBlocks(t *testing.T) []mdcode.Block {
	files, _ := filepath.Glob("*.md")
	var out []mdcode.Block
	for _, f := range append([]string{"../README.md"}, files...) {
		out = append(out, blocks(t, f)...)
	}
	return out
}

func TestConfigAndCMDBExamplesAreValid(t *testing.T) {
	counts := map[string]int{}
	for _, b := range allBlocks(t) {
		var err error
		switch b.Info {
		case "yaml incidentd":
			_, err = config.Parse(b.File, []byte(b.Text))
		case "yaml cmdb":
			_, err = cmdb.Parse(b.File, []byte(b.Text))
		default:
			continue
		}
		counts[b.Info]++
		if err != nil {
			t.Errorf("%s:%d: %s example invalid: %v", b.File, b.Line, b.Info, err)
		}
	}
	if counts["yaml incidentd"] == 0 || counts["yaml cmdb"] == 0 {
		t.Fatalf("examples found: %v", counts)
	}
}

// TestCorrelationWalkthrough runs docs/correlation.md's walkthrough from
// the repository root against a fresh daemon and checks that the
// explanations the page quotes are what the daemon says.
func TestCorrelationWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	url, _ := daemontest.Start(t, daemontest.SQLiteConfig(t.TempDir()))
	var out []byte
	var quoted []string
	for _, b := range blocks(t, "correlation.md") {
		switch b.Info {
		case "sh correlation":
			script := strings.ReplaceAll(b.Text, "http://localhost:9095", url)
			script = strings.ReplaceAll(script, "curl -s ", "curl -sS --fail-with-body ")
			cmd := exec.Command("sh", "-ec", script)
			cmd.Dir = ".."
			var err error
			if out, err = cmd.CombinedOutput(); err != nil {
				t.Fatalf("correlation.md:%d: walkthrough failed: %v\n%s", b.Line, err, out)
			}
		case "text explanations":
			quoted = strings.Split(strings.TrimSpace(b.Text), "\n")
		}
	}
	if len(out) == 0 || len(quoted) == 0 {
		t.Fatal("walkthrough or quoted explanations not found")
	}
	for _, q := range quoted {
		if !strings.Contains(string(out), q) {
			t.Errorf("the walkthrough's output does not contain the quoted explanation %q", q)
		}
	}
	for _, want := range []string{`"priority_label":"P1"`, `"major":true`, `"state":"degraded"`, `"reason":"kernel upgrade"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("walkthrough output lacks %s:\n%s", want, out)
		}
	}
}

// TestCheckConfigExample checks that the documented bad.yml gives exactly
// the documented errors.
func TestCheckConfigExample(t *testing.T) {
	var bad, want string
	for _, b := range allBlocks(t) {
		switch b.Info {
		case "yaml bad.yml":
			bad = b.Text
		case "text check-config":
			lines := strings.SplitN(b.Text, "\n", 2)
			want = strings.TrimSpace(lines[1])
		}
	}
	if bad == "" || want == "" {
		t.Fatal("bad.yml example or its output not found")
	}
	_, err := config.Parse("bad.yml", []byte(bad))
	if err == nil || err.Error() != want {
		t.Fatalf("documented output:\n%s\ngot:\n%v", want, err)
	}
}

func TestAlertmanagerExampleIsValid(t *testing.T) {
	amtool, err := exec.LookPath("amtool")
	if err != nil {
		if os.Getenv("INCIDENTD_E2E") != "" {
			t.Fatal("amtool not found (install prometheus-alertmanager)")
		}
		t.Skip("amtool not installed")
	}
	n := 0
	for _, b := range allBlocks(t) {
		if b.Info != "yaml alertmanager" {
			continue
		}
		n++
		f := filepath.Join(t.TempDir(), "alertmanager.yml")
		os.WriteFile(f, []byte(b.Text), 0o600)
		if out, err := exec.Command(amtool, "check-config", f).CombinedOutput(); err != nil {
			t.Errorf("%s:%d: amtool check-config: %v\n%s", b.File, b.Line, err, out)
		}
	}
	if n == 0 {
		t.Fatal("no Alertmanager example found")
	}
}

// TestCurlExamples runs the `sh api` blocks of README.md, then of
// docs/api.md, against one daemon, failing on any HTTP error.
func TestCurlExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed")
	}
	url, _ := daemontest.Start(t, daemontest.SQLiteConfig(t.TempDir()))
	n := 0
	for _, file := range []string{"../README.md", "api.md"} {
		for _, b := range blocks(t, file) {
			if b.Info != "sh api" {
				continue
			}
			n++
			script := strings.ReplaceAll(b.Text, "http://localhost:9095", url)
			script = strings.ReplaceAll(script, "curl -s ", "curl -sS --fail-with-body ")
			out, err := exec.Command("sh", "-ec", script).CombinedOutput()
			if err != nil {
				t.Fatalf("%s:%d: example failed: %v\n%s", b.File, b.Line, err, out)
			}
			if !strings.HasPrefix(strings.TrimSpace(string(out)), "{") {
				t.Errorf("%s:%d: example printed no JSON: %s", b.File, b.Line, out)
			}
		}
	}
	if n < 2 {
		t.Fatalf("found %d curl examples", n)
	}
}
