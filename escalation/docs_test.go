package escalation_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/internal/mdcode"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

const docFile = "../docs/escalation.md"

// sectionBlocks returns a section's code blocks by info string.
func sectionBlocks(t *testing.T, heading string) map[string][]mdcode.Block {
	t.Helper()
	blocks, err := mdcode.SectionBlocks(docFile, heading)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]mdcode.Block{}
	for _, b := range blocks {
		out[b.Info] = append(out[b.Info], b)
	}
	return out
}

func one(t *testing.T, blocks map[string][]mdcode.Block, info string) mdcode.Block {
	t.Helper()
	if len(blocks[info]) != 1 {
		t.Fatalf("want one %q block, found %d", info, len(blocks[info]))
	}
	return blocks[info][0]
}

// TestDocsEngineExample runs the Engine section's example: its config,
// the incident the text describes, and the timeline it shows.
func TestDocsEngineExample(t *testing.T) {
	blocks := sectionBlocks(t, "## Engine")
	for info := range blocks {
		switch info {
		case "yaml incidentd", "text engine-timeline":
		case "yaml runbook-requests", "text runbook-requests-timeline": // TestDocsRunbookRequests
		default:
			if strings.HasPrefix(info, "yaml") {
				t.Errorf("YAML example %q of the Engine section is not checked by any test", info)
			}
		}
	}
	cfg := one(t, blocks, "yaml incidentd")
	want := one(t, blocks, "text engine-timeline")
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		pd := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
		defer pd.Close()
		text := strings.NewReplacer(
			`"https://ops.example.com/hook"`, hookURL,
			`routing_key: "${secret:pd_shop}"}`, `routing_key: "${secret:pd_shop}", events_url: "`+pd.URL+`"}`,
		).Replace(cfg.Text)
		h := newHarness(t, storetest.Open(t, b), text, escalation.Options{})
		// Monday 2026-03-02, 10:00 in Berlin.
		h.clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		h.ingest(alert("alertname", "CheckoutDown", "service", "checkout", "team", "shop", "severity", "critical"))
		h.steps(7*time.Minute, 30*time.Second)
		h.act(1, incident.ActionAcknowledge, "erin")
		h.steps(33*time.Minute, time.Minute)
		h.act(1, incident.ActionResolve, "alice")
		var got []string
		for _, ev := range h.timeline(1) {
			got = append(got, ev.At.Format("15:04:05")+" "+ev.Kind+" "+ev.Message)
		}
		lines := strings.Split(strings.TrimSpace(want.Text), "\n")
		for i, l := range lines {
			// The doc aligns the kinds in a column.
			at, rest, _ := strings.Cut(l, " ")
			kind, msg, _ := strings.Cut(strings.TrimSpace(rest), " ")
			lines[i] = at + " " + kind + " " + strings.TrimSpace(msg)
		}
		// Deliveries of one moment finish in any order.
		slices.Sort(got)
		slices.Sort(lines)
		if strings.Join(got, "\n") != strings.Join(lines, "\n") {
			t.Errorf("%s:%d: the documented timeline:\n%s\nthe engine's:\n%s", docFile, want.Line, strings.Join(lines, "\n"), strings.Join(got, "\n"))
		}
	})
}

// TestDocsAPIExample checks that the API section's incident detail is
// what the API answers: every field known, nothing invented.
func TestDocsAPIExample(t *testing.T) {
	blocks := sectionBlocks(t, "## API")
	b := one(t, blocks, "json incident-escalation")
	var d api.IncidentDetail
	dec := json.NewDecoder(bytes.NewReader([]byte(b.Text)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s:%d: %v", docFile, b.Line, err)
	}
	if d.Escalation == nil || len(d.Escalation.Notifications) == 0 || len(d.Escalation.SLA) == 0 {
		t.Fatalf("%s:%d: the example shows no escalation, notifications or SLA clocks", docFile, b.Line)
	}
}

// TestDocsRunbookRequests runs the Engine section's runbook on its config:
// the incident of the example above opens, the runbook notifies and
// escalates, and the escalation engine's events are the ones shown.
func TestDocsRunbookRequests(t *testing.T) {
	blocks := sectionBlocks(t, "## Engine")
	cfg := one(t, blocks, "yaml incidentd")
	runbook := one(t, blocks, "yaml runbook-requests")
	want := one(t, blocks, "text runbook-requests-timeline")
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		text := strings.NewReplacer(
			`"https://ops.example.com/hook"`, hookURL,
			`routing_key: "${secret:pd_shop}"}`, `routing_key: "${secret:pd_shop}", events_url: "PD_URL"}`,
		).Replace(cfg.Text)
		w := newWithRunbooksConfig(t, b, text, runbook.Text)
		w.clk.Set(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
		w.ingest(alert("alertname", "CheckoutDown", "service", "checkout", "team", "shop", "severity", "critical"))
		w.settleAll()
		w.clk.Advance(time.Minute)
		w.settleAll()
		var got []string
		for _, ev := range w.timeline(1) {
			if strings.HasPrefix(ev.Kind, "escalation.") || strings.HasPrefix(ev.Kind, "notification.") {
				got = append(got, ev.At.Format("15:04:05")+" "+ev.Kind+" "+ev.Message)
			}
		}
		lines := strings.Split(strings.TrimSpace(want.Text), "\n")
		for i, l := range lines {
			at, rest, _ := strings.Cut(l, " ")
			kind, msg, _ := strings.Cut(strings.TrimSpace(rest), " ")
			lines[i] = at + " " + kind + " " + strings.TrimSpace(msg)
		}
		slices.Sort(got)
		slices.Sort(lines)
		if strings.Join(got, "\n") != strings.Join(lines, "\n") {
			t.Errorf("%s:%d: the documented timeline:\n%s\nthe engine's:\n%s", docFile, want.Line, strings.Join(lines, "\n"), strings.Join(got, "\n"))
		}
	})
}
