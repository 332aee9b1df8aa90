package oncall

import (
	"testing"
	"time"
)

func mustZone(t testing.TB, name string) zone {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return zone{loc}
}

// TestResolveDST pins the two DST rules: a skipped wall time happens when
// the clock jumps past it, a repeated one at its first occurrence, on both
// sides of UTC (time.Date differs between them).
func TestResolveDST(t *testing.T) {
	for _, tc := range []struct {
		zone string
		wall string // in the zone, 2006-01-02T15:04
		want string // UTC
	}{
		{"Europe/Berlin", "2026-03-29T01:59", "2026-03-29T00:59:00Z"},
		{"Europe/Berlin", "2026-03-29T02:00", "2026-03-29T01:00:00Z"}, // skipped: 03:00 CEST
		{"Europe/Berlin", "2026-03-29T02:30", "2026-03-29T01:00:00Z"}, // skipped: 03:00 CEST
		{"Europe/Berlin", "2026-03-29T03:00", "2026-03-29T01:00:00Z"},
		{"Europe/Berlin", "2026-03-29T03:01", "2026-03-29T01:01:00Z"},
		{"Europe/Berlin", "2026-10-25T01:59", "2026-10-24T23:59:00Z"},
		{"Europe/Berlin", "2026-10-25T02:00", "2026-10-25T00:00:00Z"}, // twice: the CEST one
		{"Europe/Berlin", "2026-10-25T02:30", "2026-10-25T00:30:00Z"}, // twice: the CEST one
		{"Europe/Berlin", "2026-10-25T03:00", "2026-10-25T02:00:00Z"},
		{"America/New_York", "2026-03-08T01:59", "2026-03-08T06:59:00Z"},
		{"America/New_York", "2026-03-08T02:30", "2026-03-08T07:00:00Z"}, // skipped: 03:00 EDT
		{"America/New_York", "2026-03-08T03:00", "2026-03-08T07:00:00Z"},
		{"America/New_York", "2026-11-01T01:00", "2026-11-01T05:00:00Z"}, // twice: the EDT one
		{"America/New_York", "2026-11-01T01:30", "2026-11-01T05:30:00Z"}, // twice: the EDT one
		{"America/New_York", "2026-11-01T02:00", "2026-11-01T07:00:00Z"},
		{"UTC", "2026-03-29T02:30", "2026-03-29T02:30:00Z"},
	} {
		z := mustZone(t, tc.zone)
		w, _ := time.Parse("2006-01-02T15:04", tc.wall)
		got := z.time(z.resolve(w.Unix())).UTC().Format(time.RFC3339)
		if got != tc.want {
			t.Errorf("%s %s: got %s, want %s", tc.zone, tc.wall, got, tc.want)
		}
	}
}

// TestResolveIsFirstInstantAtOrAfter checks resolve against its definition
// by brute force, minute by minute, around DST changes of zones east and
// west of UTC, with half-hour DST, and with changes at midnight.
func TestResolveIsFirstInstantAtOrAfter(t *testing.T) {
	for _, tc := range []struct {
		zone    string
		changes []string // UTC instants near a change
	}{
		{"Europe/Berlin", []string{"2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"}},
		{"America/New_York", []string{"2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"}},
		{"Australia/Lord_Howe", []string{"2026-04-04T15:00:00Z", "2026-10-03T15:30:00Z"}},
		{"America/Havana", []string{"2026-03-08T05:00:00Z", "2026-11-01T05:00:00Z"}},
		{"America/Santiago", []string{"2026-04-05T03:00:00Z", "2026-09-06T04:00:00Z"}},
		{"Asia/Kolkata", []string{"2026-03-29T01:00:00Z"}},
	} {
		z := mustZone(t, tc.zone)
		for _, ch := range tc.changes {
			at, _ := time.Parse(time.RFC3339, ch)
			u0 := at.Unix()
			prev := int64(-1 << 62)
			for c := z.civil(u0) - 4*hour; c <= z.civil(u0)+4*hour; c += 5 * minute {
				want := int64(0)
				for u := c - 16*hour; u <= c+16*hour; u += minute {
					if z.civil(u) >= c {
						want = u
						break
					}
				}
				got := z.resolve(c)
				if got != want {
					t.Errorf("%s: resolve(%s) = %s, want %s", tc.zone, time.Unix(c, 0).UTC().Format("2006-01-02T15:04"),
						z.time(got), z.time(want))
				}
				if got < prev {
					t.Errorf("%s: resolve went backwards at %s", tc.zone, time.Unix(c, 0).UTC())
				}
				prev = got
			}
		}
	}
}

func TestWeekdayOfCivilDay(t *testing.T) {
	for d := int64(-800); d < 800; d += 37 {
		want := time.Unix(d*day, 0).UTC().Weekday()
		if got := weekday(d); got != want {
			t.Errorf("day %d: got %s, want %s", d, got, want)
		}
	}
}
