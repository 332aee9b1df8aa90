package oncall

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkOnCall asks the four-layer schedule with overrides in 2026,
// once with its layers started in 2026 and once started fifty years
// earlier (over 100,000 turns ago for the hourly layer): the cost is per
// layer, not per past turn, so both take about the same time.
func BenchmarkOnCall(b *testing.B) {
	for _, bc := range []struct{ name, schedule string }{
		{"started weeks ago", busy},
		{"started 50 years ago", strings.ReplaceAll(busy, "start: 2026-01-0", "start: 1976-01-0")},
	} {
		dir := load(b, oneSchedule("Europe/Berlin", bc.schedule))
		at := parseAt(b, nil, "2026-03-20T00:00:00Z")
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				// Minute by minute over about three weeks, DST change included.
				if _, _, err := dir.OnCall("s", at.Add(time.Duration(i%30000)*time.Minute)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkShiftsWeek(b *testing.B) {
	dir := load(b, oneSchedule("Europe/Berlin", busy))
	from := parseAt(b, nil, "2026-03-23T00:00:00Z")
	for b.Loop() {
		if _, err := dir.Shifts("s", from, from.Add(7*24*time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}
