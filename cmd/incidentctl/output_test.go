package main

import (
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/incident"
)

func TestFormatAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{0, "0s"},
		{59 * time.Second, "59s"},
		{time.Minute, "1m"},
		{59*time.Minute + 59*time.Second, "59m"},
		{time.Hour, "1h"},
		{47 * time.Hour, "47h"},
		{48 * time.Hour, "2d"},
		{400 * 24 * time.Hour, "400d"},
	}
	for _, tt := range tests {
		if got := formatAge(tt.d); got != tt.want {
			t.Errorf("formatAge(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestFormatLabels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		labels, omit map[string]string
		want         string
	}{
		{"alertname first, then sorted", map[string]string{"zone": "a", "alertname": "X", "instance": "i"}, nil, "alertname=X instance=i zone=a"},
		{"omits labels shared with the incident", map[string]string{"alertname": "X", "service": "s", "instance": "i"}, map[string]string{"alertname": "X", "service": "s"}, "alertname=X instance=i"},
		{"keeps labels that differ from the incident's", map[string]string{"service": "t"}, map[string]string{"service": "s"}, "service=t"},
		{"quotes values with spaces or quotes", map[string]string{"summary": "a b", "q": `x"y`, "e": ""}, nil, `e="" q="x\"y" summary="a b"`},
		{"none", nil, nil, "-"},
	}
	for _, tt := range tests {
		if got := formatLabels(tt.labels, tt.omit); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// TestTableStaysOneLinePerRow checks that text from the server cannot break
// the table or write terminal escapes.
func TestTableStaysOneLinePerRow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	incs := []api.IncidentView{{
		Incident: &incident.Incident{ID: 7, Title: "line1\nline2\tcol\x1b[31m", Status: incident.StatusTriggered, Priority: 2, AlertCount: 3, FiringCount: 1, CreatedAt: now.Add(-90 * time.Minute)},
		Key:      "INC-7", PriorityLabel: "P2",
	}}
	var b strings.Builder
	writeIncidentTable(&b, incs, now)
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), b.String())
	}
	if strings.ContainsRune(b.String(), '\x1b') {
		t.Errorf("escape character in output: %q", b.String())
	}
	f := strings.Fields(lines[1])
	if want := []string{"INC-7", "P2", "triggered", "1/3", "1h", "line1"}; strings.Join(f[:6], " ") != strings.Join(want, " ") {
		t.Errorf("row %q, want it to start with %q", lines[1], want)
	}
}
