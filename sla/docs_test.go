package sla

import (
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/internal/mdcode"
	"github.com/incidentd/incidentd/strictyaml"
)

const docFile = "../docs/escalation.md"

// slaBlocks returns the code blocks of the "## SLA" section of
// docs/escalation.md (other sections belong to other packages).
func slaBlocks(t *testing.T) map[string][]mdcode.Block {
	t.Helper()
	blocks, err := mdcode.SectionBlocks(docFile, "## SLA")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]mdcode.Block{}
	for _, b := range blocks {
		out[b.Info] = append(out[b.Info], b)
	}
	return out
}

// TestDocsExamples loads every YAML example of the SLA section: the valid
// ones must compile, and the bad one must give exactly the errors shown.
func TestDocsExamples(t *testing.T) {
	blocks := slaBlocks(t)
	for info, bs := range blocks {
		switch info {
		case "yaml sla", "yaml sla-bad.yml", "text sla-errors":
		default:
			if strings.HasPrefix(info, "yaml") {
				t.Errorf("%s:%d: YAML example %q is not checked by any test", docFile, bs[0].Line, info)
			}
		}
	}
	if len(blocks["yaml sla"]) == 0 {
		t.Fatal("no yaml sla example found")
	}
	for _, b := range blocks["yaml sla"] {
		if _, err := parseDoc(t, b.Text); err != nil {
			t.Errorf("%s:%d: example invalid: %v", docFile, b.Line, err)
		}
	}
	bad, want := blocks["yaml sla-bad.yml"], blocks["text sla-errors"]
	if len(bad) != 1 || len(want) != 1 {
		t.Fatalf("want one sla-bad.yml example and its errors, got %d and %d", len(bad), len(want))
	}
	var f file
	d, err := strictyaml.Parse("sla-bad.yml", []byte(bad[0].Text), &f)
	if err != nil {
		t.Fatal(err)
	}
	f.SLA.Validate(d, "sla")
	got := ""
	if err := d.Err("sla-bad.yml"); err != nil {
		got = err.Error()
	}
	if got != strings.TrimSpace(want[0].Text) {
		t.Errorf("documented errors:\n%s\ngot:\n%s", strings.TrimSpace(want[0].Text), got)
	}
}

// TestDocsWorkedExample checks the numbers of the section's worked
// example against the documented configuration.
func TestDocsWorkedExample(t *testing.T) {
	rules := mustRules(t, slaBlocks(t)["yaml sla"][0].Text)
	opened := at("2026-03-06 17:30")
	p, clocks := rules.Clocks(Subject{Priority: 3, Labels: map[string]string{"alertname": "DiskFull"}}, opened)
	if p == nil || p.Index != 2 || len(clocks) != 2 {
		t.Fatalf("a P3 incident should get two clocks from the catch-all policy, got %+v %+v", p, clocks)
	}
	ack, res := clocks[0], clocks[1]
	history := []Change{
		{at("2026-03-09 08:10"), acknowledged},
		{at("2026-03-09 10:00"), onHold},
		{at("2026-03-10 10:00"), acknowledged},
	}
	check := func(name string, r Reading, state State, due string, elapsed time.Duration, thresholds ...string) {
		t.Helper()
		wantDue := time.Time{}
		if due != "" {
			wantDue = at(due)
		}
		if r.State != state || !r.Due.Equal(wantDue) || r.Elapsed != elapsed {
			t.Errorf("%s: %s, due %s, elapsed %s; documented %s, due %s, elapsed %s", name, r.State, r.Due.In(berlin), r.Elapsed, state, due, elapsed)
		}
		th := r.Thresholds()
		if len(thresholds) > 0 && len(th) != len(thresholds) {
			t.Fatalf("%s: thresholds %v, documented %v", name, th, thresholds)
		}
		for i, s := range thresholds {
			if !th[i].At.Equal(at(s)) {
				t.Errorf("%s: threshold %v at %s, documented %s", name, th[i].Fraction, th[i].At.In(berlin), s)
			}
		}
	}
	check("acknowledge when opened", ack.Eval(nil, opened), Running, "2026-03-09 08:30", 0,
		"2026-03-06 18:00", "2026-03-09 08:15", "2026-03-09 08:30")
	check("acknowledge", ack.Eval(history, at("2026-03-10 11:00")), Met, "2026-03-09 08:30", 40*time.Minute)
	check("resolve when opened", res.Eval(nil, opened), Running, "2026-03-18 09:30", 0)
	check("resolve on hold", res.Eval(history, at("2026-03-09 12:00")), Paused, "", 150*time.Minute)
	check("resolve resumed", res.Eval(history, at("2026-03-10 11:00")), Running, "2026-03-19 09:30", 210*time.Minute,
		"2026-03-13 13:30", "2026-03-17 11:30", "2026-03-19 09:30")
}
