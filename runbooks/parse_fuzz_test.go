package runbooks

import (
	"testing"

	"github.com/incidentd/incidentd/internal/fuzzseed"
)

func FuzzParse(f *testing.F) {
	for _, data := range fuzzseed.Files(f, "configs/runbooks/*.yml") {
		f.Add(data)
	}
	for _, s := range fuzzseed.DocBlocks(f, "yaml runbook") {
		f.Add([]byte(s))
	}
	for _, s := range []string{"", "---\n---\n", "[]", "name: x\nsteps: *a\n", "a: &a [*a]\n", "steps: &s [{parallel: *s}]\n", "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n", "name: \"\\xff\"\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rb, err := Parse("fuzz.yml", data)
		if err != nil {
			fuzzseed.CheckErrors(t, err, "fuzz.yml")
			return
		}
		if !runbookNameRe.MatchString(rb.Name) || len(rb.Steps) == 0 || rb.Timeout <= 0 {
			t.Fatalf("accepted runbook: name %q, %d steps, timeout %v", rb.Name, len(rb.Steps), rb.Timeout)
		}
		// The set checks never panic either; a runbook calling others it
		// does not have is left out with a diagnostic.
		set, errs := NewSet([]*Runbook{rb})
		if len(errs) == 0 && len(set.All()) != 1 {
			t.Fatalf("a set of one runbook, no errors, holds %d", len(set.All()))
		}
	})
}
