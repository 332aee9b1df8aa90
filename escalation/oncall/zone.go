package oncall

import (
	"time"

	// Schedules must resolve zones the same on every host, including the
	// distroless image, so the zone database is compiled in.
	_ "time/tzdata"
)

// Wall-clock ("civil") times are counted in seconds as if the wall clock
// were UTC: a civil time is unix seconds plus the zone's offset. Days are
// then always 86400 civil seconds, so "the same local time tomorrow" is
// plain addition, and only the last step, back to an instant, needs the
// zone.
const (
	minute = 60
	hour   = 60 * minute
	day    = 24 * hour
	week   = 7 * day
)

// zone converts between instants (unix seconds) and the wall clock of one
// location.
type zone struct{ loc *time.Location }

func (z zone) offset(unix int64) int64 {
	_, off := time.Unix(unix, 0).In(z.loc).Zone()
	return int64(off)
}

// civil returns the wall-clock time at an instant.
func (z zone) civil(unix int64) int64 { return unix + z.offset(unix) }

// resolve returns the first instant at which the wall clock reads c or
// later. That is the unique instant for most wall times. For a time that
// happens twice (the hour repeated when clocks fall back) it is the first
// occurrence, as RFC 5545 says. For a time that never happens (the hour
// skipped when clocks spring forward) it is the moment of the jump: a
// hand-off at 02:30 on the spring-forward day in Berlin happens at 03:00
// CEST, when the clock passes 02:30. Unlike time.Date, whose choice in both
// cases depends on the zone's side of UTC, this is the same everywhere, and
// it never decreases as c grows, so hand-offs stay in order.
//
// It assumes a zone changes its offset at most once within two days, which
// holds for every zone in use.
func (z zone) resolve(c int64) int64 {
	before, after := z.offset(c-day), z.offset(c+day)
	if before == after {
		return c - before
	}
	tb, ta := c-before, c-after
	okb, oka := z.offset(tb) == before, z.offset(ta) == after
	switch {
	case okb && oka:
		return min(tb, ta)
	case okb:
		return tb
	case oka:
		return ta
	}
	// In the gap: tb lies after the jump, in the new offset's period, which
	// starts at the jump.
	start, _ := time.Unix(tb, 0).In(z.loc).ZoneBounds()
	return start.Unix()
}

func (z zone) time(unix int64) time.Time { return time.Unix(unix, 0).In(z.loc) }

// floorDiv divides rounding towards minus infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// weekday of a civil day number (days since 1970-01-01, a Thursday).
func weekday(civilDay int64) time.Weekday { return time.Weekday(floorMod(civilDay+4, 7)) }
