package runbooks_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/internal/mdcode"
	"github.com/incidentd/incidentd/runbooks"
)

// TestEngineDocs checks the Engine section of docs/runbooks.md against the
// code: the run example decodes strictly as the API's run, and every
// timeline event kind and metric the engine has is documented.
func TestEngineDocs(t *testing.T) {
	blocks, err := mdcode.Blocks("../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, b := range blocks {
		if b.Info != "json run" {
			continue
		}
		found = true
		dec := json.NewDecoder(strings.NewReader(b.Text))
		dec.DisallowUnknownFields()
		var run api.RunDetail
		if err := dec.Decode(&run); err != nil {
			t.Fatalf("%s:%d: the run example is not an API run: %v", b.File, b.Line, err)
		}
		for _, s := range run.Steps {
			for _, raw := range []json.RawMessage{s.Input, s.Output} {
				if len(raw) == 0 {
					continue
				}
				var in runbooks.Rendered
				var out runbooks.StepResult
				var target any = &out
				if bytes.Contains(raw, []byte(`"kind"`)) {
					target = &in
				}
				d := json.NewDecoder(bytes.NewReader(raw))
				d.DisallowUnknownFields()
				if err := d.Decode(target); err != nil {
					t.Errorf("%s:%d: step %s: %s is not what the engine stores: %v", b.File, b.Line, s.ID, raw, err)
				}
			}
		}
	}
	if !found {
		t.Fatal("no ```json run example")
	}
	doc, err := os.ReadFile("../docs/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		runbooks.EventRunStarted, runbooks.EventRunFailing, runbooks.EventRunFinished, runbooks.EventStepFinished, runbooks.EventApprovalRequested,
		runbooks.EventEscalationRequested, runbooks.EventNotificationRequested,
		"incidentd_runbook_runs_total", "incidentd_runbook_step_duration_seconds", "incidentd_runbook_approvals_pending",
	} {
		if !bytes.Contains(doc, []byte("`"+name)) {
			t.Errorf("docs/runbooks.md does not document %s", name)
		}
	}
}
