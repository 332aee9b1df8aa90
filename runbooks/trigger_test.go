package runbooks

import (
	"testing"
	"time"
)

func parseTrigger(t *testing.T, trigger string) *Trigger {
	t.Helper()
	rb, err := Parse("t.yml", []byte("name: t\ntriggers:\n  - "+trigger+"\nsteps: [{annotate: x}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	return rb.Triggers[0]
}

func TestTriggerMatches(t *testing.T) {
	inc := Incident{ID: 1, Priority: 1, Labels: map[string]string{"service": "checkout-api", "env": "prod"}, RootCause: RootCause{CI: "checkout-db"}}
	ci := CI{ID: "checkout-db", Class: "database"}
	lset := MatchLabels(inc.Labels, inc, ci)
	cases := []struct {
		trigger string
		event   string
		want    bool
	}{
		{`{on: incident.triggered}`, "incident.triggered", true},
		{`{on: incident.triggered}`, "incident.resolved", false},
		{`{on: incident.triggered, match: '{service="checkout-api"}'}`, "incident.triggered", true},
		{`{on: incident.triggered, match: 'service="checkout-api", env!="staging"'}`, "incident.triggered", true},
		{`{on: incident.triggered, match: '{service="cart"}'}`, "incident.triggered", false},
		{`{on: incident.triggered, match: '{service=~"checkout-.*"}'}`, "incident.triggered", true},
		{`{on: incident.triggered, match: '{service=~"checkout"}'}`, "incident.triggered", false}, // anchored
		{`{on: incident.triggered, match: '{priority="P1"}'}`, "incident.triggered", true},
		{`{on: incident.triggered, match: '{priority=~"P[12]", ci_class="database"}'}`, "incident.triggered", true},
		{`{on: incident.triggered, match: '{ci="checkout-db"}'}`, "incident.triggered", true},
		{`{on: incident.triggered, match: '{team=""}'}`, "incident.triggered", true}, // absent label
		{`{on: incident.triggered, match: '{team!=""}'}`, "incident.triggered", false},
		{`{schedule: '@hourly'}`, "incident.triggered", false},
		{`{manual: true}`, "incident.triggered", false},
	}
	for _, c := range cases {
		tr := parseTrigger(t, c.trigger)
		if got := tr.Matches(c.event, lset); got != c.want {
			t.Errorf("%s on %s over %v: got %v, want %v", c.trigger, c.event, lset, got, c.want)
		}
	}
}

func TestMatchLabels(t *testing.T) {
	got := MatchLabels(map[string]string{"service": "x", "priority": "spoofed"}, Incident{Priority: 2}, CI{ID: "web-1", Class: "host"})
	want := map[string]string{"service": "x", "priority": "P2", "ci": "web-1", "ci_class": "host"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// TestScheduleNext checks the ticks robfig/cron computes for our specs,
// across Berlin's 2026 daylight-saving changes (29 March 02:00 CET ->
// 03:00 CEST; 25 October 03:00 CEST -> 02:00 CET).
func TestScheduleNext(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		name    string
		trigger string
		after   time.Time
		want    []string // successive ticks, UTC
	}{
		{"every 30 minutes, UTC by default", `{schedule: "*/30 * * * *"}`, utc("2026-01-01T10:10:00Z"),
			[]string{"2026-01-01T10:30:00Z", "2026-01-01T11:00:00Z"}},
		{"a tick is strictly after", `{schedule: "*/30 * * * *"}`, utc("2026-01-01T10:30:00Z"),
			[]string{"2026-01-01T11:00:00Z"}},
		{"09:00 Berlin keeps its wall time across spring forward", `{schedule: "0 9 * * *", timezone: Europe/Berlin}`, utc("2026-03-28T00:00:00Z"),
			[]string{"2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z", "2026-03-30T07:00:00Z"}},
		{"02:30 does not exist on spring-forward night", `{schedule: "30 2 * * *", timezone: Europe/Berlin}`, utc("2026-03-28T02:00:00Z"),
			[]string{"2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"}},
		{"02:30 exists twice on fall-back night", `{schedule: "30 2 * * *", timezone: Europe/Berlin}`, utc("2026-10-24T12:00:00Z"),
			[]string{"2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-26T01:30:00Z"}},
		{"every 30 minutes jumps the missing hour", `{schedule: "*/30 * * * *", timezone: Europe/Berlin}`, utc("2026-03-29T00:30:00Z"),
			[]string{"2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"}},
		{"@daily is local midnight", `{schedule: "@daily", timezone: Europe/Berlin}`, utc("2026-07-01T12:00:00Z"),
			[]string{"2026-07-01T22:00:00Z", "2026-07-02T22:00:00Z"}},
		{"weekdays", `{schedule: "0 8 * * 1-5", timezone: America/New_York}`, utc("2026-11-06T14:00:00Z"), // Friday after 08:00 EST
			[]string{"2026-11-09T13:00:00Z", "2026-11-10T13:00:00Z"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := parseTrigger(t, c.trigger)
			at := c.after
			for _, w := range c.want {
				at = tr.Next(at)
				if got := at.UTC().Format(time.RFC3339); got != w {
					t.Fatalf("got tick %s, want %s", got, w)
				}
			}
		})
	}
	tr := parseTrigger(t, `{schedule: "0 9 * * *", timezone: Europe/Berlin}`)
	if got := tr.Next(time.Date(2026, 3, 28, 12, 0, 0, 0, berlin)); got.Location() != berlin || got.Hour() != 9 {
		t.Errorf("Next keeps the caller's location: %v", got)
	}
	if got := parseTrigger(t, `{manual: true}`).Next(time.Now()); !got.IsZero() {
		t.Errorf("a manual trigger has no ticks: %v", got)
	}
}
