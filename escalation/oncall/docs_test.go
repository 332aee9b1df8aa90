package oncall

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/internal/mdcode"
	"github.com/incidentd/incidentd/strictyaml"
)

const docFile = "../../docs/escalation.md"

// onCallBlocks returns the code blocks of the "## On-call" section of
// docs/escalation.md (other sections belong to other packages).
func onCallBlocks(t *testing.T) []mdcode.Block {
	t.Helper()
	blocks, err := mdcode.SectionBlocks(docFile, "## On-call")
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestDocsExamples checks every example of the section: the config is
// valid, the on-call answers and shifts it quotes are what the package
// computes, and the bad config gives exactly the errors shown.
func TestDocsExamples(t *testing.T) {
	var dir *Directory
	var bad string
	counts := map[string]int{}
	for _, b := range onCallBlocks(t) {
		kind, args, _ := strings.Cut(b.Info, " ")
		if kind == "text" || kind == "yaml" {
			kind, args, _ = strings.Cut(args, " ")
		}
		counts[kind]++
		where := fmt.Sprintf("%s:%d", docFile, b.Line)
		switch kind {
		case "oncall":
			var s section
			d, err := strictyaml.Parse("example.yml", []byte(b.Text), &s)
			if err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			s.OnCall.Validate(d, "oncall")
			if err := d.Err("example.yml"); err != nil {
				t.Fatalf("%s: example invalid:\n%v", where, err)
			}
			if dir, err = New(s.OnCall); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
		case "oncall-check":
			checkDocOnCall(t, where, dir, b.Text)
		case "oncall-shifts":
			checkDocShifts(t, where, dir, args, b.Text)
		case "oncall-bad.yml":
			bad = b.Text
		case "oncall-errors":
			if got := validate(t, "oncall-bad.yml", bad); got != strings.TrimSpace(b.Text) {
				t.Errorf("%s: documented errors:\n%s\ngot:\n%s", where, strings.TrimSpace(b.Text), got)
			}
		default:
			if strings.HasPrefix(b.Info, "yaml") {
				t.Errorf("%s: YAML example %q is not checked by any test", where, b.Info)
			}
		}
	}
	for _, k := range []string{"oncall", "oncall-check", "oncall-shifts", "oncall-bad.yml", "oncall-errors"} {
		if counts[k] == 0 {
			t.Errorf("no %s block in the On-call section", k)
		}
	}
}

// checkDocOnCall reads "TIME SCHEDULE USER (layer N|override)" or
// "TIME SCHEDULE nobody" lines.
func checkDocOnCall(t *testing.T, where string, dir *Directory, text string) {
	if dir == nil {
		t.Fatalf("%s: no config example before the check", where)
	}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			t.Fatalf("%s: bad line %q", where, line)
		}
		at, err := time.Parse(time.RFC3339, f[0])
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		a, ok, err := dir.OnCall(f[1], at)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if got, want := docWho(a, ok), strings.Join(f[2:], " "); got != want {
			t.Errorf("%s: %s at %s: the docs say %s, the package says %s", where, f[1], f[0], want, got)
		}
	}
}

// checkDocShifts compares a block "oncall-shifts SCHEDULE FROM TO" (local
// times) with the shifts the package lists.
func checkDocShifts(t *testing.T, where string, dir *Directory, args, text string) {
	f := strings.Fields(args)
	if dir == nil || len(f) != 3 {
		t.Fatalf("%s: want a config example first and SCHEDULE FROM TO, got %q", where, args)
	}
	loc, err := dir.Location(f[0])
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var rng [2]time.Time
	for i, s := range f[1:] {
		if rng[i], err = time.ParseInLocation("2006-01-02T15:04", s, loc); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
	}
	shifts, err := dir.Shifts(f[0], rng[0], rng[1])
	if err != nil {
		t.Fatalf("%s: %v", where, err)
	}
	var got []string
	for _, sh := range shifts {
		const layout = "2006-01-02 15:04 MST"
		got = append(got, fmt.Sprintf("%s %s -> %s", docWho(Assignment{User: sh.User, Layer: sh.Layer, Override: sh.Override}, true),
			sh.Start.Format(layout), sh.End.Format(layout)))
	}
	if want := strings.TrimSpace(text); strings.Join(got, "\n") != want {
		t.Errorf("%s: the docs list:\n%s\nthe package lists:\n%s", where, want, strings.Join(got, "\n"))
	}
}

// docWho says who is on call the way the page does, numbering layers
// from 1.
func docWho(a Assignment, ok bool) string {
	switch {
	case !ok:
		return "nobody"
	case a.Override:
		return a.User + " (override)"
	}
	return fmt.Sprintf("%s (layer %d)", a.User, a.Layer+1)
}
