package runbooks

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/internal/mdcode"
	"github.com/incidentd/incidentd/strictyaml"
)

const runbooksDoc = "../docs/runbooks.md"

// TestDocExamples loads every YAML example of docs/runbooks.md by its kind:
//
//	yaml runbook          must load without errors or warnings; all of them
//	                      together must form a Set (runbook steps resolve)
//	yaml runbook-invalid  must give exactly the errors of the next text block
//	yaml runbook-warns    must load with exactly the warnings of the next text block
//	yaml runbooks-config  must be a valid runbooks config section
//
// A YAML block of another kind fails the test, so no example goes untested.
func TestDocExamples(t *testing.T) {
	blocks, err := mdcode.Blocks(runbooksDoc)
	if err != nil {
		t.Fatal(err)
	}
	var valid []*Runbook
	counts := map[string]int{}
	for i, b := range blocks {
		lang, _, _ := strings.Cut(b.Info, " ")
		if lang != "yaml" {
			continue
		}
		counts[b.Info]++
		where := func() string { return b.File + ":" + strconv.Itoa(b.Line) }
		next := func(info string) string {
			if i+1 >= len(blocks) || blocks[i+1].Info != info {
				t.Fatalf("%s: %s must be followed by a ```%s block", where(), b.Info, info)
			}
			return strings.TrimSpace(blocks[i+1].Text)
		}
		switch b.Info {
		case "yaml runbook":
			rb, err := Parse(where(), []byte(b.Text))
			if err != nil {
				t.Errorf("%s: example does not load:\n%v", where(), err)
				continue
			}
			if len(rb.Warnings) > 0 {
				t.Errorf("%s: example has warnings: %v", where(), rb.Warnings)
			}
			valid = append(valid, rb)
		case "yaml runbook-invalid":
			want := next("text errors")
			name := strings.SplitN(want, ":", 2)[0]
			_, err := Parse(name, []byte(b.Text))
			if err == nil || err.Error() != want {
				t.Errorf("%s: documented errors:\n%s\ngot:\n%v", where(), want, err)
			}
		case "yaml runbook-warns":
			want := next("text warnings")
			name := strings.SplitN(want, ":", 2)[0]
			rb, err := Parse(name, []byte(b.Text))
			if err != nil {
				t.Errorf("%s: %v", where(), err)
				continue
			}
			if got := Diagnostics(rb.Warnings).Error(); got != want {
				t.Errorf("%s: documented warnings:\n%s\ngot:\n%s", where(), want, got)
			}
		case "yaml runbooks-config":
			var doc struct {
				Runbooks Config `yaml:"runbooks"`
			}
			doc.Runbooks = DefaultConfig()
			d, err := strictyaml.Parse(where(), []byte(b.Text), &doc)
			if err == nil {
				doc.Runbooks.Validate(d, "runbooks")
				err = d.Err(where())
			}
			if err != nil {
				t.Errorf("%s: %v", where(), err)
			}
		default:
			t.Errorf("%s: unknown example kind %q: tag it so that a test checks it", where(), b.Info)
		}
	}
	if _, errs := NewSet(valid); len(errs) > 0 {
		t.Errorf("the examples do not form a set: %v", errs)
	}
	for _, kind := range []string{"yaml runbook", "yaml runbook-invalid", "yaml runbook-warns", "yaml runbooks-config"} {
		if counts[kind] == 0 {
			t.Errorf("no %q example found", kind)
		}
	}
}

// TestDocShowsTheIssueExample: the first example is the shipped file, word
// for word.
func TestDocShowsTheIssueExample(t *testing.T) {
	blocks, err := mdcode.Blocks(runbooksDoc)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile("../configs/runbooks/restart-checkout-on-errors.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if b.Info == "yaml runbook" {
			if b.Text != string(file) {
				t.Errorf("the first runbook example differs from configs/runbooks/restart-checkout-on-errors.yml")
			}
			return
		}
	}
	t.Fatal("no runbook example")
}
