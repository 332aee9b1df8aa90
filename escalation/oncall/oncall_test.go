package oncall

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/strictyaml"
)

const users = `
users:
  - {id: alice, name: Alice Liddell, timezone: Europe/Berlin, contacts: [{notifier: mail, to: alice@example.com}]}
  - {id: bob, timezone: Europe/Berlin, contacts: [{notifier: mail, to: bob@example.com}]}
  - {id: carol, timezone: America/New_York, contacts: [{notifier: mail, to: carol@example.com}]}
  - {id: dave, timezone: America/New_York, contacts: [{notifier: ops-webhook}]}
  - {id: erin, timezone: UTC, contacts: [{notifier: ops-webhook}]}
`

// load decodes and validates a config the way the daemon will, then
// builds the directory.
func load(t testing.TB, src string) *Directory {
	t.Helper()
	var cfg Config
	d, err := strictyaml.Parse("test.yml", []byte(src), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Validate(d, "")
	if err := d.Err("test.yml"); err != nil {
		t.Fatalf("config invalid:\n%v", err)
	}
	dir, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// oneSchedule is a config with the users and one schedule "s" in zone
// whose layers and overrides are given as YAML lines.
func oneSchedule(zone, body string) string {
	return users + "schedules:\n  - id: s\n    timezone: " + zone + "\n" + indent(body, "    ")
}

func indent(s, by string) string {
	lines := strings.Split(strings.Trim(s, "\n"), "\n")
	for i := range lines {
		lines[i] = by + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}

// parseAt reads an RFC 3339 time, or "2006-01-02 15:04:05" in loc.
func parseAt(t testing.TB, loc *time.Location, s string) time.Time {
	t.Helper()
	if at, err := time.Parse(time.RFC3339, s); err == nil {
		return at
	}
	at, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return at
}

func who(a Assignment, ok bool) string {
	switch {
	case !ok:
		return "-"
	case a.Override:
		return a.User + "/override"
	}
	return fmt.Sprintf("%s/%d", a.User, a.Layer)
}

func shiftString(sh Shift) string {
	src := fmt.Sprint(sh.Layer)
	if sh.Override {
		src = "override"
	}
	const f = "2006-01-02 15:04 MST"
	return fmt.Sprintf("%s/%s %s -> %s", sh.User, src, sh.Start.Format(f), sh.End.Format(f))
}

type probe struct{ at, want string }

// expect checks OnCall at each probe time (local to the schedule unless
// it carries an offset).
func expect(t *testing.T, dir *Directory, schedule string, probes []probe) {
	t.Helper()
	loc, err := dir.Location(schedule)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probes {
		a, ok, err := dir.OnCall(schedule, parseAt(t, loc, p.at))
		if err != nil {
			t.Fatal(err)
		}
		if got := who(a, ok); got != p.want {
			t.Errorf("%s at %s: on call %s, want %s", schedule, p.at, got, p.want)
		}
	}
}

func expectShifts(t *testing.T, dir *Directory, schedule, from, to string, want []string) {
	t.Helper()
	loc, _ := dir.Location(schedule)
	shifts, err := dir.Shifts(schedule, parseAt(t, loc, from), parseAt(t, loc, to))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sh := range shifts {
		got = append(got, shiftString(sh))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("shifts of %s from %s to %s:\n%s\nwant:\n%s", schedule, from, to, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRotationTypes checks each rotation type one second before, at and
// after its hand-offs. 2026-01-05 is a Monday; Berlin is on CET (+01:00)
// throughout January.
func TestRotationTypes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layer  string
		probes []probe
	}{{
		name:  "hourly at :30",
		layer: `{rotation: {type: hourly, handoff: ":30"}, start: 2026-01-05, participants: [alice, bob, carol]}`,
		probes: []probe{
			{"2026-01-05 00:29:59", "-"}, // before the first hand-off
			{"2026-01-05 00:30:00", "alice/0"},
			{"2026-01-05 01:29:59", "alice/0"},
			{"2026-01-05 01:30:00", "bob/0"},
			{"2026-01-05 01:30:01", "bob/0"},
			{"2026-01-05 02:30:00", "carol/0"},
			{"2026-01-05 03:30:00", "alice/0"},
			// 24 turns a day, 3 participants: every day starts alike.
			{"2026-01-09 00:30:00", "alice/0"},
		},
	}, {
		name:  "every 4 hours, hand-off written without colon",
		layer: `{rotation: {type: hourly, handoff: "00", every: 4}, start: 2026-01-05, participants: [alice, bob, carol]}`,
		probes: []probe{
			{"2026-01-05 03:59:59", "alice/0"},
			{"2026-01-05 04:00:00", "bob/0"},
			{"2026-01-05 08:00:00", "carol/0"},
			{"2026-01-05 12:00:00", "alice/0"},
		},
	}, {
		name:  "daily",
		layer: `{rotation: {type: daily, handoff: "09:00"}, start: 2026-01-05, participants: [alice, bob]}`,
		probes: []probe{
			{"2026-01-05 08:59:59", "-"},
			{"2026-01-05 09:00:00", "alice/0"},
			{"2026-01-06 08:59:59", "alice/0"},
			{"2026-01-06 09:00:00", "bob/0"},
			{"2026-01-06 09:00:01", "bob/0"},
			{"2026-01-07 09:00:00", "alice/0"},
			// 2036-01-05 is 3652 days on (two leap days): an even turn.
			{"2036-01-05 09:00:00", "alice/0"},
			{"2036-01-06 09:00:00", "bob/0"},
		},
	}, {
		name:  "every 2 days",
		layer: `{rotation: {type: daily, handoff: "09:00", every: 2}, start: 2026-01-05, participants: [alice, bob]}`,
		probes: []probe{
			{"2026-01-06 09:00:00", "alice/0"},
			{"2026-01-07 08:59:59", "alice/0"},
			{"2026-01-07 09:00:00", "bob/0"},
			{"2026-01-09 09:00:00", "alice/0"},
		},
	}, {
		name:  "weekly, as in the issue",
		layer: `{rotation: {type: weekly, handoff: "Mon 09:00"}, start: 2026-01-05, participants: [alice, bob, carol]}`,
		probes: []probe{
			{"2026-01-05 08:59:59", "-"},
			{"2026-01-05 09:00:00", "alice/0"},
			{"2026-01-11 23:00:00", "alice/0"},
			{"2026-01-12 08:59:59", "alice/0"},
			{"2026-01-12 09:00:00", "bob/0"},
			{"2026-01-12 09:00:01", "bob/0"},
			{"2026-01-19 09:00:00", "carol/0"},
			{"2026-01-26 09:00:00", "alice/0"},
		},
	}, {
		name:  "weekly starting mid-week waits for the first hand-off",
		layer: `{rotation: {type: weekly, handoff: "mon 09:00"}, start: 2026-01-07, participants: [alice, bob]}`,
		probes: []probe{
			{"2026-01-08 12:00:00", "-"},
			{"2026-01-12 08:59:59", "-"},
			{"2026-01-12 09:00:00", "alice/0"},
			{"2026-01-19 09:00:00", "bob/0"},
		},
	}, {
		name:  "every 2 weeks counts weeks from start",
		layer: `{rotation: {type: weekly, handoff: "Monday 09:00", every: 2}, start: 2026-01-05, participants: [alice, bob]}`,
		probes: []probe{
			{"2026-01-12 09:00:00", "alice/0"},
			{"2026-01-19 08:59:59", "alice/0"},
			{"2026-01-19 09:00:00", "bob/0"},
			{"2026-02-02 09:00:00", "alice/0"},
		},
	}, {
		name:  "custom 12h turns at 08:00 and 20:00",
		layer: `{rotation: {type: custom, shift: 12h, handoff: "08:00"}, start: 2026-01-05, participants: [alice, bob, carol]}`,
		probes: []probe{
			{"2026-01-05 07:59:59", "-"},
			{"2026-01-05 08:00:00", "alice/0"},
			{"2026-01-05 19:59:59", "alice/0"},
			{"2026-01-05 20:00:00", "bob/0"},
			{"2026-01-06 08:00:00", "carol/0"},
			{"2026-01-06 20:00:00", "alice/0"},
		},
	}, {
		name:  "custom 36h from start's time",
		layer: `{rotation: {type: custom, shift: 36h}, start: "2026-01-05T06:00", participants: [alice, bob]}`,
		probes: []probe{
			{"2026-01-05 05:59:59", "-"},
			{"2026-01-05 06:00:00", "alice/0"},
			{"2026-01-06 17:59:59", "alice/0"},
			{"2026-01-06 18:00:00", "bob/0"},
			{"2026-01-08 06:00:00", "alice/0"},
		},
	}, {
		name:  "no hand-off: daily at start's time",
		layer: `{rotation: {type: daily}, start: "2026-01-05T10:15", participants: [alice, bob]}`,
		probes: []probe{
			{"2026-01-05 10:14:59", "-"},
			{"2026-01-05 10:15:00", "alice/0"},
			{"2026-01-06 10:14:59", "alice/0"},
			{"2026-01-06 10:15:00", "bob/0"},
		},
	}, {
		name:  "start as an instant with another offset",
		layer: `{rotation: {type: weekly}, start: "2026-01-05T08:00:00Z", participants: [alice, bob]}`,
		probes: []probe{
			{"2026-01-05 08:59:59", "-"},
			{"2026-01-05 09:00:00", "alice/0"},
			{"2026-01-12 09:00:00", "bob/0"},
		},
	}, {
		name:  "the same participant twice",
		layer: `{rotation: {type: daily, handoff: "00:00"}, start: 2026-01-05, participants: [alice, bob, alice, carol]}`,
		probes: []probe{
			{"2026-01-05 12:00:00", "alice/0"},
			{"2026-01-06 12:00:00", "bob/0"},
			{"2026-01-07 12:00:00", "alice/0"},
			{"2026-01-08 12:00:00", "carol/0"},
			{"2026-01-09 12:00:00", "alice/0"},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := load(t, oneSchedule("Europe/Berlin", "layers:\n  - "+tc.layer))
			expect(t, dir, "s", tc.probes)
		})
	}
}

// TestFollowTheSun: a weekly layer around the clock, and above it a daily
// layer restricted to weekday office hours, which wins inside them.
func TestFollowTheSun(t *testing.T) {
	dir := load(t, oneSchedule("Europe/Berlin", `
layers:
  - rotation: {type: weekly, handoff: "Mon 09:00"}
    start: 2026-01-05
    participants: [alice, bob]
  - rotation: {type: daily, handoff: "08:00"}
    start: 2026-01-05
    participants: [carol, dave]
    restrict: [{days: [Mon, Tue, Wed, Thu, Fri], from: "08:00", to: "20:00"}]
overrides:
  - {user: erin, start: "2026-01-13T12:00", end: "2026-01-13T13:00"}
`))
	expect(t, dir, "s", []probe{
		{"2026-01-10 12:00:00", "alice/0"}, // Saturday: only layer 0
		{"2026-01-12 07:59:59", "alice/0"},
		{"2026-01-12 08:00:00", "dave/1"}, // day 7 of layer 1: dave
		{"2026-01-12 09:00:00", "dave/1"}, // layer 0 hands over underneath
		{"2026-01-12 19:59:59", "dave/1"},
		{"2026-01-12 20:00:00", "bob/0"},
		{"2026-01-12 20:00:01", "bob/0"},
		{"2026-01-13 08:00:00", "carol/1"},
		{"2026-01-13 12:00:00", "erin/override"}, // overrides beat the top layer
		{"2026-01-13 13:00:00", "carol/1"},
		{"2026-01-16 20:00:00", "bob/0"},
		{"2026-01-17 08:00:00", "bob/0"}, // Saturday is not restricted in
	})
	// Whole shifts: the first starts when layer 1 closed on Friday.
	expectShifts(t, dir, "s", "2026-01-12 00:00:00", "2026-01-13 00:00:00", []string{
		"alice/0 2026-01-09 20:00 CET -> 2026-01-12 08:00 CET",
		"dave/1 2026-01-12 08:00 CET -> 2026-01-12 20:00 CET",
		"bob/0 2026-01-12 20:00 CET -> 2026-01-13 08:00 CET",
	})
	expectShifts(t, dir, "s", "2026-01-13 11:00:00", "2026-01-13 14:00:00", []string{
		"carol/1 2026-01-13 08:00 CET -> 2026-01-13 12:00 CET",
		"erin/override 2026-01-13 12:00 CET -> 2026-01-13 13:00 CET",
		"carol/1 2026-01-13 13:00 CET -> 2026-01-13 20:00 CET",
	})
}

func TestRestrictions(t *testing.T) {
	for _, tc := range []struct {
		name     string
		restrict string
		probes   []probe
	}{{
		name:     "overnight window ends the next day",
		restrict: `[{days: [Fri], from: "20:00", to: "08:00"}]`,
		probes: []probe{
			{"2026-01-08 23:00:00", "-"}, // Thursday night
			{"2026-01-09 19:59:59", "-"},
			{"2026-01-09 20:00:00", "alice/0"},
			{"2026-01-10 07:59:59", "alice/0"}, // Saturday morning, still Friday's window
			{"2026-01-10 08:00:00", "-"},
			{"2026-01-10 21:00:00", "-"},
		},
	}, {
		name:     "24:00 ends the day; no days means every day",
		restrict: `[{days: [Sat, Sun], from: "00:00", to: "24:00"}, {from: "12:00", to: "13:00"}]`,
		probes: []probe{
			{"2026-01-09 23:59:59", "-"},
			{"2026-01-10 00:00:00", "alice/0"},
			{"2026-01-11 23:59:59", "alice/0"},
			{"2026-01-12 00:00:00", "-"},
			{"2026-01-12 12:30:00", "alice/0"},
			{"2026-01-12 13:00:00", "-"},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := load(t, oneSchedule("Europe/Berlin", `
layers:
  - {rotation: {type: weekly, handoff: "Mon 00:00"}, start: 2026-01-05, participants: [alice], restrict: `+tc.restrict+`}
`))
			expect(t, dir, "s", tc.probes)
		})
	}
}

// TestOverrides puts overrides inside a shift, across a hand-off, and at
// an exact instant.
func TestOverrides(t *testing.T) {
	dir := load(t, oneSchedule("Europe/Berlin", `
layers:
  - {rotation: {type: weekly, handoff: "Mon 09:00"}, start: 2026-01-05, participants: [alice, bob]}
overrides:
  - {user: dave, start: "2026-01-07T12:00", end: "2026-01-07T18:00"}
  - {user: erin, start: 2026-01-12, end: "2026-01-12T12:00"}
  - {user: carol, start: "2026-01-20T08:00:00Z", end: "2026-01-20T10:00:00-05:00"}
`))
	expect(t, dir, "s", []probe{
		{"2026-01-07 11:59:59", "alice/0"},
		{"2026-01-07 12:00:00", "dave/override"},
		{"2026-01-07 17:59:59", "dave/override"},
		{"2026-01-07 18:00:00", "alice/0"},
		{"2026-01-11 23:59:59", "alice/0"},
		{"2026-01-12 00:00:00", "erin/override"},
		{"2026-01-12 09:00:00", "erin/override"}, // the hand-off happens underneath
		{"2026-01-12 11:59:59", "erin/override"},
		{"2026-01-12 12:00:00", "bob/0"},
		{"2026-01-20T07:59:59Z", "alice/0"}, // the third week is alice's again
		{"2026-01-20T08:00:00Z", "carol/override"},
		{"2026-01-20T14:59:59Z", "carol/override"},
		{"2026-01-20T15:00:00Z", "alice/0"},
	})
	expectShifts(t, dir, "s", "2026-01-07 00:00:00", "2026-01-13 00:00:00", []string{
		"alice/0 2026-01-05 09:00 CET -> 2026-01-07 12:00 CET",
		"dave/override 2026-01-07 12:00 CET -> 2026-01-07 18:00 CET",
		"alice/0 2026-01-07 18:00 CET -> 2026-01-12 00:00 CET",
		"erin/override 2026-01-12 00:00 CET -> 2026-01-12 12:00 CET",
		"bob/0 2026-01-12 12:00 CET -> 2026-01-19 09:00 CET",
	})
}

// TestDST: daily hand-offs keep their wall-clock time, so the turns that
// contain a change last 23 or 25 hours; a hand-off in the skipped hour
// happens at the jump, one in the repeated hour at its first occurrence.
func TestDST(t *testing.T) {
	t.Run("Berlin daily 09:00", func(t *testing.T) {
		dir := load(t, oneSchedule("Europe/Berlin", `
layers: [{rotation: {type: daily, handoff: "09:00"}, start: 2026-03-01, participants: [alice, bob]}]`))
		// 2026-03-01 is turn 0 (alice); 2026-03-28 is turn 27 (bob).
		expectShifts(t, dir, "s", "2026-03-28 12:00:00", "2026-03-30 12:00:00", []string{
			"bob/0 2026-03-28 09:00 CET -> 2026-03-29 09:00 CEST", // 23 h
			"alice/0 2026-03-29 09:00 CEST -> 2026-03-30 09:00 CEST",
			"bob/0 2026-03-30 09:00 CEST -> 2026-03-31 09:00 CEST",
		})
		expect(t, dir, "s", []probe{
			{"2026-03-29T08:59:59+02:00", "bob/0"},
			{"2026-03-29T09:00:00+02:00", "alice/0"},
			{"2026-10-25T08:59:59+01:00", "bob/0"}, // 2026-10-24 is turn 237
			{"2026-10-25T09:00:00+01:00", "alice/0"},
			{"2026-10-25T08:00:00Z", "alice/0"},
		})
		expectShifts(t, dir, "s", "2026-10-24 12:00:00", "2026-10-25 12:00:00", []string{
			"bob/0 2026-10-24 09:00 CEST -> 2026-10-25 09:00 CET", // 25 h
			"alice/0 2026-10-25 09:00 CET -> 2026-10-26 09:00 CET",
		})
	})
	t.Run("New York daily 09:00", func(t *testing.T) {
		dir := load(t, oneSchedule("America/New_York", `
layers: [{rotation: {type: daily, handoff: "09:00"}, start: 2026-03-01, participants: [alice, bob]}]`))
		expectShifts(t, dir, "s", "2026-03-07 12:00:00", "2026-03-08 12:00:00", []string{
			"alice/0 2026-03-07 09:00 EST -> 2026-03-08 09:00 EDT", // turn 6, 23 h
			"bob/0 2026-03-08 09:00 EDT -> 2026-03-09 09:00 EDT",
		})
		expectShifts(t, dir, "s", "2026-10-31 12:00:00", "2026-11-01 12:00:00", []string{
			"alice/0 2026-10-31 09:00 EDT -> 2026-11-01 09:00 EST", // turn 244, 25 h
			"bob/0 2026-11-01 09:00 EST -> 2026-11-02 09:00 EST",
		})
		expect(t, dir, "s", []probe{
			{"2026-03-08T12:59:59Z", "alice/0"},
			{"2026-03-08T13:00:00Z", "bob/0"},
			{"2026-11-01T13:59:59Z", "alice/0"},
			{"2026-11-01T14:00:00Z", "bob/0"},
		})
	})
	t.Run("hand-off in the skipped and the repeated hour", func(t *testing.T) {
		for _, tc := range []struct {
			zone, handoff string
			probes        []probe
		}{
			{"Europe/Berlin", "02:30", []probe{
				{"2026-03-29T00:59:59Z", "bob/0"},   // 01:59:59 CET
				{"2026-03-29T01:00:00Z", "alice/0"}, // 03:00 CEST, when the clock passes 02:30
				{"2026-10-25T00:29:59Z", "bob/0"},
				{"2026-10-25T00:30:00Z", "alice/0"}, // 02:30 CEST, the first 02:30
				{"2026-10-25T01:30:00Z", "alice/0"}, // 02:30 CET: no second hand-off
			}},
			{"America/New_York", "02:30", []probe{
				{"2026-03-08T06:59:59Z", "bob/0"},
				{"2026-03-08T07:00:00Z", "alice/0"}, // 03:00 EDT
			}},
			{"America/New_York", "01:30", []probe{
				{"2026-11-01T05:29:59Z", "bob/0"},
				{"2026-11-01T05:30:00Z", "alice/0"}, // 01:30 EDT, the first 01:30
				{"2026-11-01T06:30:00Z", "alice/0"}, // 01:30 EST
			}},
		} {
			checked := 0
			// Start on a DST day's eve: turn 0 is bob, the DST day's is alice.
			for _, eve := range []string{"2026-03-07", "2026-03-28", "2026-10-24", "2026-10-31"} {
				dir := load(t, oneSchedule(tc.zone, fmt.Sprintf(`
layers: [{rotation: {type: daily, handoff: "%s"}, start: %s, participants: [bob, alice]}]`, tc.handoff, eve)))
				var mine []probe
				for _, p := range tc.probes {
					if d, _ := time.Parse(time.RFC3339, p.at); d.AddDate(0, 0, -1).Format("2006-01-02") == eve {
						mine = append(mine, p)
					}
				}
				expect(t, dir, "s", mine)
				checked += len(mine)
			}
			if checked != len(tc.probes) {
				t.Fatalf("%s %s: %d of %d probes checked", tc.zone, tc.handoff, checked, len(tc.probes))
			}
		}
	})
	t.Run("hourly over the changes", func(t *testing.T) {
		// In spring the 02:00 turn (carol's) has no time and is skipped; in
		// autumn the 02:00 turn gets both 02:00 hours.
		dir := load(t, oneSchedule("Europe/Berlin", `
layers: [{rotation: {type: hourly, handoff: ":00"}, start: 2026-03-29, participants: [alice, bob, carol]}]`))
		expectShifts(t, dir, "s", "2026-03-29 00:30:00", "2026-03-29 04:30:00", []string{
			"alice/0 2026-03-29 00:00 CET -> 2026-03-29 01:00 CET",
			"bob/0 2026-03-29 01:00 CET -> 2026-03-29 03:00 CEST",
			"alice/0 2026-03-29 03:00 CEST -> 2026-03-29 04:00 CEST",
			"bob/0 2026-03-29 04:00 CEST -> 2026-03-29 05:00 CEST",
		})
		dir = load(t, oneSchedule("Europe/Berlin", `
layers: [{rotation: {type: hourly, handoff: ":00"}, start: 2026-10-25, participants: [alice, bob, carol]}]`))
		expectShifts(t, dir, "s", "2026-10-25T00:30:00+02:00", "2026-10-25T03:30:00+01:00", []string{
			"alice/0 2026-10-25 00:00 CEST -> 2026-10-25 01:00 CEST",
			"bob/0 2026-10-25 01:00 CEST -> 2026-10-25 02:00 CEST",
			"carol/0 2026-10-25 02:00 CEST -> 2026-10-25 03:00 CET", // two hours
			"alice/0 2026-10-25 03:00 CET -> 2026-10-25 04:00 CET",
		})
	})
	t.Run("restriction windows keep wall-clock times", func(t *testing.T) {
		dir := load(t, oneSchedule("Europe/Berlin", `
layers:
  - rotation: {type: weekly, handoff: "Mon 12:00"}
    start: 2026-03-02
    participants: [alice]
    restrict: [{from: "20:00", to: "08:00"}, {days: [Sun], from: "09:00", to: "10:00"}]`))
		expectShifts(t, dir, "s", "2026-03-28 12:00:00", "2026-03-30 12:00:00", []string{
			"alice/0 2026-03-28 20:00 CET -> 2026-03-29 08:00 CEST", // 11 h
			"alice/0 2026-03-29 09:00 CEST -> 2026-03-29 10:00 CEST",
			"alice/0 2026-03-29 20:00 CEST -> 2026-03-30 08:00 CEST",
		})
	})
	t.Run("weekly hand-off in the skipped hour", func(t *testing.T) {
		dir := load(t, oneSchedule("Europe/Berlin", `
layers: [{rotation: {type: weekly, handoff: "Sun 02:30"}, start: 2026-03-01, participants: [alice, bob]}]`))
		// Turns: Mar 1 alice, 8 bob, 15 alice, 22 bob, 29 alice.
		expectShifts(t, dir, "s", "2026-03-29 00:00:00", "2026-03-29 04:00:00", []string{
			"bob/0 2026-03-22 02:30 CET -> 2026-03-29 03:00 CEST",
			"alice/0 2026-03-29 03:00 CEST -> 2026-04-05 02:30 CEST",
		})
	})
}

func TestUnknownIDs(t *testing.T) {
	dir := load(t, oneSchedule("UTC", `layers: [{rotation: {type: daily}, start: 2026-01-05, participants: [alice]}]`))
	if _, _, err := dir.OnCall("nope", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("OnCall of an unknown schedule: %v", err)
	}
	if _, err := dir.Shifts("nope", time.Now(), time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Shifts of an unknown schedule: %v", err)
	}
	if _, err := dir.UserShifts("nope", time.Now(), time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("UserShifts of an unknown user: %v", err)
	}
	if u, ok := dir.User("alice"); !ok || u.Name != "Alice Liddell" || u.Contacts[0].To != "alice@example.com" {
		t.Errorf("User(alice) = %+v, %v", u, ok)
	}
	if _, ok := dir.User("nope"); ok {
		t.Error("User(nope) found")
	}
	if got := len(dir.Users()); got != 5 {
		t.Errorf("%d users", got)
	}
	if got := dir.Schedules(); len(got) != 1 || got[0] != "s" {
		t.Errorf("schedules %v", got)
	}
}

func TestUserShifts(t *testing.T) {
	dir := load(t, users+`
schedules:
  - id: primary
    timezone: Europe/Berlin
    layers: [{rotation: {type: weekly, handoff: "Mon 09:00"}, start: 2026-01-05, participants: [alice, bob]}]
  - id: secondary
    timezone: America/New_York
    layers: [{rotation: {type: daily, handoff: "18:00"}, start: 2026-01-05, participants: [bob, alice]}]
`)
	from, to := parseAt(t, nil, "2026-01-06T00:00:00Z"), parseAt(t, nil, "2026-01-08T00:00:00Z")
	shifts, err := dir.UserShifts("alice", from, to)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sh := range shifts {
		got = append(got, sh.Schedule+" "+sh.Start.UTC().Format(time.RFC3339)+" "+sh.End.UTC().Format(time.RFC3339))
	}
	want := []string{
		"primary 2026-01-05T08:00:00Z 2026-01-12T08:00:00Z",
		"secondary 2026-01-06T23:00:00Z 2026-01-07T23:00:00Z", // 18:00 EST
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("alice's shifts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
