package sla

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

var berlin = mustZone("Europe/Berlin")

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func mustCalendar(t testing.TB, tz string, hours map[string]string, holidays ...string) *Calendar {
	t.Helper()
	cc := CalendarConfig{ID: "test", Timezone: tz, Hours: hours}
	for _, h := range holidays {
		d, err := ParseDate(h)
		if err != nil {
			t.Fatal(err)
		}
		cc.Holidays = append(cc.Holidays, d)
	}
	c, err := NewCalendar(cc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// at reads a local Berlin wall-clock time "2006-01-02 15:04".
func at(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
	if err != nil {
		panic(err)
	}
	return t
}

// office is the calendar most tests use: Mon-Fri 08:00-18:00 in Berlin,
// Christmas Day 2026 (a Friday) off.
func office(t testing.TB) *Calendar {
	return mustCalendar(t, "Europe/Berlin", map[string]string{"Mon-Fri": "08:00-18:00"}, "2026-12-25")
}

func TestCalendarDatesUsedByTests(t *testing.T) {
	// The expectations below rely on these weekdays and on the 2026 EU
	// DST dates (last Sundays of March and October).
	for s, want := range map[string]time.Weekday{
		"2026-03-02 09:00": time.Monday, "2026-03-06 09:00": time.Friday, "2026-03-29 09:00": time.Sunday,
		"2026-10-25 09:00": time.Sunday, "2026-12-25 09:00": time.Friday, "2026-01-05 09:00": time.Monday,
	} {
		if got := at(s).Weekday(); got != want {
			t.Fatalf("%s is a %s, not a %s", s, got, want)
		}
	}
	if _, off := at("2026-03-29 12:00").Zone(); off != 2*3600 {
		t.Fatal("2026-03-29 is not the first CEST day")
	}
	if _, off := at("2026-10-25 12:00").Zone(); off != 3600 {
		t.Fatal("2026-10-25 is not the first CET day")
	}
}

func TestCalendarAdd(t *testing.T) {
	cal := office(t)
	split := mustCalendar(t, "Europe/Berlin", map[string]string{"Mon-Fri": "08:00-12:00,13:00-17:00"})
	sundays := mustCalendar(t, "Europe/Berlin", map[string]string{"Sun": "08:00-18:00"})
	nights := mustCalendar(t, "Europe/Berlin", map[string]string{"Sun": "00:00-06:00"})
	tokyo := mustCalendar(t, "Asia/Tokyo", map[string]string{"Mon-Fri": "09:00-17:00"})
	tests := []struct {
		name  string
		cal   *Calendar
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		{"within a day", cal, at("2026-03-02 09:00"), 2 * time.Hour, at("2026-03-02 11:00")},
		{"over a night", cal, at("2026-03-02 17:00"), 2 * time.Hour, at("2026-03-03 09:00")},
		{"start at night", cal, at("2026-03-02 20:00"), time.Hour, at("2026-03-03 09:00")},
		{"start before opening", cal, at("2026-03-02 06:00"), time.Hour, at("2026-03-02 09:00")},
		{"ends exactly at closing, not next morning", cal, at("2026-03-02 08:00"), 10 * time.Hour, at("2026-03-02 18:00")},
		{"over a weekend", cal, at("2026-03-06 17:30"), time.Hour, at("2026-03-09 08:30")},
		{"start on a Saturday", cal, at("2026-03-07 10:00"), 30 * time.Minute, at("2026-03-09 08:30")},
		{"over a holiday and a weekend", cal, at("2026-12-24 17:00"), 2 * time.Hour, at("2026-12-28 09:00")},
		{"start on a holiday", cal, at("2026-12-25 10:00"), time.Hour, at("2026-12-28 09:00")},
		// 72 h of business time: five 10 h days (50 h), two more (70 h), 2 h.
		{"3d of business time", cal, at("2026-03-02 08:00"), 72 * time.Hour, at("2026-03-11 10:00")},
		// 720 h: 14 weeks of 50 h (Jan 5 + 98 days = Apr 13, across the
		// March DST change, which falls outside the hours), then 20 h.
		{"30 days over DST", cal, at("2026-01-05 08:00"), 720 * time.Hour, at("2026-04-14 18:00")},
		// 52 weeks of 50 h would end on Friday 2027-01-01 18:00; Christmas
		// Day takes 10 h, made up on the next Monday.
		{"a year with a holiday", cal, at("2026-01-05 08:00"), 52 * 50 * time.Hour, at("2027-01-04 18:00")},
		{"over the lunch break", split, at("2026-03-02 11:00"), 2 * time.Hour, at("2026-03-02 14:00")},
		{"start in the lunch break", split, at("2026-03-02 12:30"), time.Hour, at("2026-03-02 14:00")},
		{"split day over a night", split, at("2026-03-02 16:00"), 2 * time.Hour, at("2026-03-03 09:00")},
		{"DST forward, Friday to Monday", cal, at("2026-03-27 17:00"), 2 * time.Hour, at("2026-03-30 09:00")},
		{"DST back, Friday to Monday", cal, at("2026-10-23 17:00"), 2 * time.Hour, at("2026-10-26 09:00")},
		{"10 h on the day clocks go forward", sundays, at("2026-03-29 08:00"), 10 * time.Hour, at("2026-03-29 18:00")},
		{"10 h on the day clocks go back", sundays, at("2026-10-25 08:00"), 10 * time.Hour, at("2026-10-25 18:00")},
		// 00:00-06:00 holds 5 real hours when 02:00-03:00 is skipped, 7
		// when it is repeated.
		{"night window loses an hour", nights, at("2026-03-29 00:00"), 5 * time.Hour, at("2026-03-29 06:00")},
		{"night window gains an hour", nights, at("2026-10-25 00:00"), 7 * time.Hour, at("2026-10-25 06:00")},
		{"hours are local to the calendar's zone", tokyo, time.Date(2026, 3, 6, 7, 0, 0, 0, time.UTC), 2 * time.Hour, time.Date(2026, 3, 9, 1, 0, 0, 0, time.UTC)},
		{"24x7 is plain time", nil, at("2026-03-28 12:00"), 24 * time.Hour, at("2026-03-29 13:00")},
		{"zero duration", cal, at("2026-03-07 10:00"), 0, at("2026-03-07 10:00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cal.Add(tt.start, tt.d); !got.Equal(tt.want) {
				t.Errorf("Add(%s, %s) = %s, want %s", tt.start, tt.d, got.In(berlin), tt.want.In(berlin))
			}
		})
	}
}

func TestCalendarElapsed(t *testing.T) {
	cal := office(t)
	sundays := mustCalendar(t, "Europe/Berlin", map[string]string{"Sun": "08:00-18:00"})
	nights := mustCalendar(t, "Europe/Berlin", map[string]string{"Sun": "00:00-06:00"})
	split := mustCalendar(t, "Europe/Berlin", map[string]string{"Mon-Fri": "08:00-12:00,13:00-17:00"})
	tests := []struct {
		name     string
		cal      *Calendar
		from, to time.Time
		want     time.Duration
	}{
		{"inside one window", cal, at("2026-03-02 09:00"), at("2026-03-02 10:30"), 90 * time.Minute},
		{"over a weekend", cal, at("2026-03-06 17:00"), at("2026-03-09 09:00"), 2 * time.Hour},
		{"all outside hours", cal, at("2026-03-06 18:00"), at("2026-03-09 08:00"), 0},
		{"over a holiday", cal, at("2026-12-24 08:00"), at("2026-12-28 08:00"), 10 * time.Hour},
		// 14 weeks of 50 h, one with the March DST change.
		{"whole weeks", cal, at("2026-01-05 00:00"), at("2026-04-13 00:00"), 700 * time.Hour},
		// December 2026 has 23 weekdays; Christmas is one of them.
		{"a month with a holiday", cal, at("2026-12-01 00:00"), at("2027-01-01 00:00"), 220 * time.Hour},
		{"reversed", cal, at("2026-03-02 12:00"), at("2026-03-02 10:00"), 0},
		{"lunch break does not count", split, at("2026-03-02 11:30"), at("2026-03-02 13:30"), time.Hour},
		{"DST forward keeps a 10 h day", sundays, at("2026-03-28 00:00"), at("2026-03-30 00:00"), 10 * time.Hour},
		{"DST back keeps a 10 h day", sundays, at("2026-10-24 00:00"), at("2026-10-26 00:00"), 10 * time.Hour},
		{"DST forward shortens a night window", nights, at("2026-03-28 00:00"), at("2026-03-30 00:00"), 5 * time.Hour},
		{"DST back lengthens a night window", nights, at("2026-10-24 00:00"), at("2026-10-26 00:00"), 7 * time.Hour},
		{"24x7 is plain time", nil, at("2026-10-24 00:00"), at("2026-10-26 00:00"), 49 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cal.Elapsed(tt.from, tt.to); got != tt.want {
				t.Errorf("Elapsed(%s, %s) = %s, want %s", tt.from, tt.to, got, tt.want)
			}
		})
	}
}

func TestCalendarInHours(t *testing.T) {
	cal := office(t)
	for s, want := range map[string]bool{
		"2026-03-02 07:59": false, "2026-03-02 08:00": true, "2026-03-02 17:59": true, "2026-03-02 18:00": false,
		"2026-03-07 10:00": false, "2026-12-25 10:00": false, "2026-12-24 10:00": true,
	} {
		if got := cal.InHours(at(s)); got != want {
			t.Errorf("InHours(%s) = %v, want %v", s, got, want)
		}
	}
	var always *Calendar
	if !always.InHours(at("2026-03-07 03:00")) {
		t.Error("the 24x7 calendar is always in hours")
	}
}

// TestCalendarAgainstMinuteCount checks Elapsed and InHours against a
// count of the minutes whose local wall-clock time falls in the hours,
// which knows nothing of windows, zone offsets or week skipping. Sunday's
// windows have edges inside the hour that DST skips (spring) and repeats
// (autumn), in both zones.
func TestCalendarAgainstMinuteCount(t *testing.T) {
	hours := map[string]string{"Mon-Thu": "08:00-12:00,13:00-17:30", "Fri": "08:00-14:00", "Sun": "00:00-01:30,02:00-02:30,02:45-06:00"}
	inHours := func(l time.Time) bool {
		hm := l.Format("15:04")
		switch l.Weekday() {
		case time.Monday, time.Tuesday, time.Wednesday, time.Thursday:
			return hm >= "08:00" && hm < "12:00" || hm >= "13:00" && hm < "17:30"
		case time.Friday:
			return hm >= "08:00" && hm < "14:00"
		case time.Sunday:
			return hm < "01:30" || hm >= "02:00" && hm < "02:30" || hm >= "02:45" && hm < "06:00"
		}
		return false
	}
	for _, z := range []struct {
		zone     string
		holidays []string
		bases    []string // around both DST changes, and in summer
	}{
		{"Europe/Berlin", []string{"2026-03-30", "2026-10-26"}, []string{"2026-03-25", "2026-10-21", "2026-06-10"}},
		{"America/New_York", []string{"2026-11-02"}, []string{"2026-03-04", "2026-10-28", "2026-06-10"}},
	} {
		t.Run(z.zone, func(t *testing.T) {
			cal := mustCalendar(t, z.zone, hours, z.holidays...)
			loc := mustZone(z.zone)
			business := func(m time.Time) bool {
				l := m.In(loc)
				for _, h := range z.holidays {
					if l.Format(time.DateOnly) == h {
						return false
					}
				}
				return inHours(l)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < 60; i++ {
				base, _ := time.ParseInLocation(time.DateOnly, z.bases[i%len(z.bases)], loc)
				from := base.Add(time.Duration(rng.IntN(7*24*60)) * time.Minute)
				to := from.Add(time.Duration(rng.IntN(10*24*60)) * time.Minute)
				var want time.Duration
				for m := from; m.Before(to); m = m.Add(time.Minute) {
					if business(m) {
						want += time.Minute
					}
					if m.Minute()%13 == 0 && cal.InHours(m) != business(m) {
						t.Fatalf("InHours(%s) = %v", m.In(loc), !business(m))
					}
				}
				if got := cal.Elapsed(from, to); got != want {
					t.Errorf("Elapsed(%s, %s) = %s, minute count %s", from, to, got, want)
				}
			}
		})
	}
}

// TestCalendarAddElapsedRoundTrip: for random starts and durations,
// Elapsed(start, Add(start, d)) == d, and Add returns the earliest such
// moment: just before it, d has not yet elapsed and hours are open.
func TestCalendarAddElapsedRoundTrip(t *testing.T) {
	cals := map[string]*Calendar{
		"office":   office(t),
		"split":    mustCalendar(t, "Europe/Berlin", map[string]string{"Mon-Fri": "08:00-12:00,13:00-17:00", "Sat": "10:00-14:00"}, "2026-05-01", "2026-12-25", "2027-01-01"),
		"nights":   mustCalendar(t, "Europe/Berlin", map[string]string{"Sun": "00:00-02:15,02:40-06:00,23:00-24:00", "Mon": "00:00-03:30"}),
		"24h":      mustCalendar(t, "Europe/Berlin", map[string]string{"Mon-Sun": "24h"}),
		"new-york": mustCalendar(t, "America/New_York", map[string]string{"Mon-Fri": "09:00-17:00"}, "2026-07-03", "2026-11-26"),
		"24x7":     nil,
	}
	rng := rand.New(rand.NewPCG(3, 4))
	base := at("2026-01-01 00:00")
	for name, cal := range cals {
		t.Run(name, func(t *testing.T) {
			for i := 0; i < 2000; i++ {
				start := base.Add(time.Duration(rng.Int64N(int64(2 * 365 * 24 * time.Hour))))
				d := time.Duration(rng.Int64N(int64(60 * 24 * time.Hour)))
				if i%4 == 0 {
					d = time.Duration(rng.IntN(48*60)) * time.Minute // short and round
				}
				end := cal.Add(start, d)
				if got := cal.Elapsed(start, end); got != d {
					t.Fatalf("Elapsed(%s, Add(start, %s) = %s) = %s", start, d, end, got)
				}
				if d > 0 {
					before := end.Add(-time.Nanosecond)
					if cal.Elapsed(start, before) >= d || !cal.InHours(before) {
						t.Fatalf("Add(%s, %s) = %s is not the earliest moment", start, d, end)
					}
				}
			}
		})
	}
	if got, want := cals["24h"].Add(at("2026-03-28 12:00"), 36*time.Hour), at("2026-03-28 12:00").Add(36*time.Hour); !got.Equal(want) {
		t.Errorf("a 24h-every-day calendar is plain time across DST: got %s, want %s", got, want)
	}
}

func TestCalendarConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cc   CalendarConfig
		want []string
	}{
		{"no zone", CalendarConfig{ID: "a", Hours: map[string]string{"Mon": "24h"}}, []string{"timezone: missing"}},
		{"bad zone", CalendarConfig{ID: "a", Timezone: "Mars/Olympus", Hours: map[string]string{"Mon": "24h"}}, []string{`timezone: unknown time zone "Mars/Olympus"`}},
		{"host zone", CalendarConfig{ID: "a", Timezone: "Local", Hours: map[string]string{"Mon": "24h"}}, []string{"timezone: Local depends on the host"}},
		{"no hours", CalendarConfig{ID: "a", Timezone: "UTC"}, []string{"hours: missing"}},
		{"bad day", CalendarConfig{ID: "a", Timezone: "UTC", Hours: map[string]string{"Mon-Fry": "24h"}}, []string{`hours.Mon-Fry: "Fry" is not a day`}},
		{"day twice in a key", CalendarConfig{ID: "a", Timezone: "UTC", Hours: map[string]string{"Mon-Wed,Tue": "24h"}}, []string{`hours.Mon-Wed,Tue: Tuesday is listed twice`}},
		{"day in two keys", CalendarConfig{ID: "a", Timezone: "UTC", Hours: map[string]string{"Mon-Fri": "08:00-18:00", "Fri": "08:00-12:00"}}, []string{`hours.Mon-Fri: Friday already has hours from "Fri"`}},
		{"over midnight", CalendarConfig{ID: "a", Timezone: "UTC", Hours: map[string]string{"Mon": "22:00-06:00"}}, []string{`hours.Mon: "22:00-06:00" ends before it starts`}},
		{"bad time", CalendarConfig{ID: "a", Timezone: "UTC", Hours: map[string]string{"Mon": "8:00-18:00"}}, []string{`hours.Mon: "8:00" is not a time of day`}},
		{"24:30", CalendarConfig{ID: "a", Timezone: "UTC", Hours: map[string]string{"Mon": "20:00-24:30"}}, []string{`hours.Mon: "24:30" is not a time of day`}},
		{"overlap", CalendarConfig{ID: "a", Timezone: "UTC", Hours: map[string]string{"Mon": "08:00-12:00,11:00-17:00"}}, []string{`hours.Mon: ranges overlap`}},
		{"not a range", CalendarConfig{ID: "a", Timezone: "UTC", Hours: map[string]string{"Mon": "all day"}}, []string{`hours.Mon: "all day" is not a range of hours`}},
		{"holiday twice", CalendarConfig{ID: "a", Timezone: "UTC", Hours: map[string]string{"Mon": "24h"}, Holidays: []Date{{2026, 12, 25}, {2026, 12, 25}}}, []string{"holidays[1]: 2026-12-25 is already listed as holidays[0]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCalendar(tt.cc)
			if err == nil || c != nil {
				t.Fatalf("NewCalendar accepted %+v", tt.cc)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	c, err := NewCalendar(CalendarConfig{ID: "a", Timezone: "UTC", Hours: map[string]string{"fri-MON": "00:00-24:00", "Wed": "08:00-12:00,12:00-13:00"}})
	if err != nil {
		t.Fatal(err)
	}
	// Fri-Mon wraps over the weekend: four whole days; Wednesday's touching
	// ranges join into 5 h.
	if c.week != 4*24*time.Hour+5*time.Hour {
		t.Errorf("week = %s, want 101h", c.week)
	}
}

func BenchmarkCalendarAdd(b *testing.B) {
	cal := office(b)
	for _, d := range []time.Duration{72 * time.Hour, 720 * time.Hour} {
		b.Run(d.String(), func(b *testing.B) {
			start := at("2026-03-04 16:20")
			for b.Loop() {
				cal.Add(start, d)
			}
		})
	}
}

func BenchmarkCalendarElapsed(b *testing.B) {
	cal := office(b)
	from, to := at("2026-03-04 16:20"), at("2026-04-04 10:00")
	for b.Loop() {
		cal.Elapsed(from, to)
	}
}
