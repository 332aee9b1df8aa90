// Package docs_test runs every example in README.md and docs/*.md: config
// snippets are validated, the Alertmanager snippet is checked with amtool,
// and the curl examples run, in order, against a live daemon.
package docs_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/config"
	"github.com/incidentd/incidentd/daemon/daemontest"
)

type block struct {
	file, info, text string
	line             int
}

// blocks returns the fenced code blocks of a markdown file.
func blocks(t *testing.T, file string) []block {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []block
	var cur *block
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &block{file: file, info: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: n}
		case cur != nil && strings.HasPrefix(line, "```"):
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	return out
}

func allBlocks(t *testing.T) []block {
	files, _ := filepath.Glob("*.md")
	var out []block
	for _, f := range append([]string{"../README.md"}, files...) {
		out = append(out, blocks(t, f)...)
	}
	return out
}

func TestConfigExamplesAreValid(t *testing.T) {
	n := 0
	for _, b := range allBlocks(t) {
		if b.info == "yaml incidentd" {
			n++
			if _, err := config.Parse(b.file, []byte(b.text)); err != nil {
				t.Errorf("%s:%d: config example invalid: %v", b.file, b.line, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no incidentd config example found")
	}
}

// TestCheckConfigExample checks that the documented bad.yml gives exactly
// the documented errors.
func TestCheckConfigExample(t *testing.T) {
	var bad, want string
	for _, b := range allBlocks(t) {
		switch b.info {
		case "yaml bad.yml":
			bad = b.text
		case "text check-config":
			lines := strings.SplitN(b.text, "\n", 2)
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
		if b.info != "yaml alertmanager" {
			continue
		}
		n++
		f := filepath.Join(t.TempDir(), "alertmanager.yml")
		os.WriteFile(f, []byte(b.text), 0o600)
		if out, err := exec.Command(amtool, "check-config", f).CombinedOutput(); err != nil {
			t.Errorf("%s:%d: amtool check-config: %v\n%s", b.file, b.line, err, out)
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
			if b.info != "sh api" {
				continue
			}
			n++
			script := strings.ReplaceAll(b.text, "http://localhost:9095", url)
			script = strings.ReplaceAll(script, "curl -s ", "curl -sS --fail-with-body ")
			out, err := exec.Command("sh", "-ec", script).CombinedOutput()
			if err != nil {
				t.Fatalf("%s:%d: example failed: %v\n%s", b.file, b.line, err, out)
			}
			if !strings.HasPrefix(strings.TrimSpace(string(out)), "{") {
				t.Errorf("%s:%d: example printed no JSON: %s", b.file, b.line, out)
			}
		}
	}
	if n < 2 {
		t.Fatalf("found %d curl examples", n)
	}
}
