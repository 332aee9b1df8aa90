// Package fuzzseed seeds fuzz targets with the repository's real examples:
// the fenced code blocks of README.md and docs/*.md, and shipped files such
// as configs/. Seeds from real inputs reach deep into a parser at once,
// where random bytes would take the fuzzer minutes to get past the syntax.
package fuzzseed

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/internal/mdcode"
	"github.com/incidentd/incidentd/strictyaml"
)

// Root returns the module root as seen from a package directory (the
// nearest parent holding go.mod), so a test finds docs/ wherever it runs.
func Root(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("fuzzseed: no go.mod above the test's directory")
		}
		dir = parent
	}
}

// DocBlocks returns the text of every code block in README.md and docs/*.md
// whose info string starts with one of prefixes ("yaml runbook" matches
// "yaml runbook-invalid" too).
func DocBlocks(tb testing.TB, prefixes ...string) []string {
	tb.Helper()
	root := Root(tb)
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	var out []string
	for _, f := range append([]string{filepath.Join(root, "README.md")}, files...) {
		blocks, err := mdcode.Blocks(f)
		if err != nil {
			tb.Fatal(err)
		}
		for _, b := range blocks {
			for _, p := range prefixes {
				if strings.HasPrefix(b.Info, p) {
					out = append(out, b.Text)
					break
				}
			}
		}
	}
	return out
}

// Files returns the contents of the files matching globs, relative to the
// module root.
func Files(tb testing.TB, globs ...string) [][]byte {
	tb.Helper()
	root := Root(tb)
	var out [][]byte
	for _, g := range globs {
		names, err := filepath.Glob(filepath.Join(root, g))
		if err != nil {
			tb.Fatal(err)
		}
		for _, n := range names {
			data, err := os.ReadFile(n)
			if err != nil {
				tb.Fatal(err)
			}
			out = append(out, data)
		}
	}
	return out
}

// CheckErrors requires err, from a parser of config-like files, to be a
// non-empty strictyaml.Errors whose every entry says something and, if
// file is not empty, names file: an operator is pointed at the line, never
// given a bare error.
func CheckErrors(t *testing.T, err error, file string) {
	t.Helper()
	var errs strictyaml.Errors
	if !errors.As(err, &errs) || len(errs) == 0 {
		t.Fatalf("error %T %v is not a list of problems", err, err)
	}
	for _, e := range errs {
		if e.Msg == "" || file != "" && e.File != file {
			t.Fatalf("problem %+v says nothing or does not name %s", e, file)
		}
	}
}
