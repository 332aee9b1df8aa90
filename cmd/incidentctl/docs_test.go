package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/internal/mdcode"
)

const importDoc = "../../docs/cmdb-import.md"

// docBlocks returns the fenced code blocks of a markdown file.
func docBlocks(t *testing.T, file string) []mdcode.Block {
	t.Helper()
	blocks, err := mdcode.Blocks(file)
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// docFiles writes the example files of the import doc into a new directory:
// ```csv cis becomes cis.csv, ```yaml patch patch.yml.
func docFiles(t *testing.T) (dir string, blocks []mdcode.Block) {
	t.Helper()
	dir = t.TempDir()
	blocks = docBlocks(t, importDoc)
	ext := map[string]string{"csv": ".csv", "yaml": ".yml"}
	for _, b := range blocks {
		lang, name, ok := strings.Cut(b.Info, " ")
		if e, known := ext[lang]; ok && known {
			writeFile(t, dir, name+e, b.Text)
		}
	}
	return dir, blocks
}

// docArgs splits a documented command line after "incidentctl", naming
// the example files by their path in dir.
func docArgs(t *testing.T, dir, line string) []string {
	t.Helper()
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != "incidentctl" {
		t.Fatalf("%q is not an incidentctl command", line)
	}
	args := f[1:]
	for i, a := range args {
		if p := filepath.Join(dir, a); !strings.HasPrefix(a, "-") {
			if _, err := os.Stat(p); err == nil {
				args[i] = p
			}
		}
	}
	return args
}

// TestImportDocCommands runs the ```sh incidentctl block of the import doc,
// line by line, against a daemon: every command must succeed.
func TestImportDocCommands(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	dir, blocks := docFiles(t)
	n := 0
	for _, b := range blocks {
		if b.Info != "sh incidentctl" {
			continue
		}
		for i, line := range strings.Split(strings.TrimSpace(b.Text), "\n") {
			n++
			r := cli(t, append([]string{"--url", base}, docArgs(t, dir, line)...)...)
			if r.code != 0 {
				t.Errorf("%s:%d: %s: exit %d\n%s", importDoc, b.Line+1+i, line, r.code, r.stderr)
			}
		}
	}
	if n == 0 {
		t.Fatal("no sh incidentctl example found")
	}
}

// TestImportDocErrors checks that the documented broken CSV pair gives
// exactly the documented output.
func TestImportDocErrors(t *testing.T) {
	t.Parallel()
	dir, blocks := docFiles(t)
	n := 0
	for _, b := range blocks {
		if b.Info != "text import-errors" {
			continue
		}
		n++
		cmd, want, _ := strings.Cut(b.Text, "\n")
		// Nothing listens at the URL: a valid pair would fail differently.
		u := "http://" + daemontest.FreeAddr(t)
		r := cli(t, append([]string{"--url", u}, docArgs(t, dir, strings.TrimPrefix(cmd, "$ "))...)...)
		got := strings.ReplaceAll(r.stderr, dir+string(filepath.Separator), "")
		if r.code != 1 || got != want || r.stdout != "" {
			t.Errorf("%s:%d: exit %d, stdout %q, stderr:\n%s\nthe doc says:\n%s", importDoc, b.Line, r.code, r.stdout, got, want)
		}
	}
	if n == 0 {
		t.Fatal("no import-errors example found")
	}
}
