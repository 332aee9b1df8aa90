package oncall

import (
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/strictyaml"
)

// section is how the daemon's config will hold this package's part.
type section struct {
	OnCall Config `yaml:"oncall"`
}

func validate(t *testing.T, file, src string) string {
	t.Helper()
	var s section
	d, err := strictyaml.Parse(file, []byte(src), &s)
	if err != nil {
		t.Fatal(err)
	}
	s.OnCall.Validate(d, "oncall")
	if err := d.Err(file); err != nil {
		return err.Error()
	}
	return ""
}

// TestValidateNamesKeyAndLine lists every kind of mistake once and checks
// the whole report: each error names the file, the line and the key path.
func TestValidateNamesKeyAndLine(t *testing.T) {
	src := `oncall:
  users:
    - {id: alice, timezone: Europe/Berlin, contacts: [{notifier: mail}]}
    - {id: alice, timezone: Mars/Olympus, contacts: [{notifier: mail}]}
    - {id: "bad id", timezone: UTC}
    - {id: carol, timezone: Local, contacts: [{to: carol@example.com}]}
  schedules:
    - id: s
      layers:
        - rotation: {type: weekly, handoff: "Mon 9am"}
          start: 2026-01-05
          participants: [alice, zed]
          restrict: [{days: [Mon, Mon, Funday], from: "08:00", to: "08:00"}]
        - rotation: {type: custom}
          participants: []
        - rotation: {type: daily, shift: 12h, every: -1, handoff: "25:00"}
          start: tomorrow
          participants: [alice]
          restrict: [{from: "8", to: "20:60"}, {to: "10:00"}]
        - rotation: {type: hourly, handoff: ":60"}
          start: 2026-01-05
          participants: [alice]
        - rotation: {handoff: "09:00"}
          start: 2026-01-05
          participants: [alice]
      overrides:
        - {user: alice, start: 2026-01-10, end: 2026-01-09}
        - {user: zed, start: 2026-01-01, end: 2026-01-03}
        - {user: alice, start: 2026-01-02, end: 2026-01-04}
        - {user: alice, start: 2026-01-03T12:00}
    - id: s
      timezone: UTC
    - {id: t, timezone: UTC, layers: [{rotation: {type: yearly}, start: 2026-01-01, participants: [alice]}]}
    - {id: u, timezone: UTC, layers: [{rotation: {type: custom, shift: 30m, every: 2}, start: 2026-01-01, participants: [alice]}]}
`
	want := `test.yml:4: oncall.users[1].id: duplicate user id "alice" (also users[0])
test.yml:4: oncall.users[1].timezone: unknown time zone "Mars/Olympus" (want an IANA name such as Europe/Berlin)
test.yml:5: oncall.users[2].id: "bad id": a user id may contain only letters, digits, '.', '_', '-' and '@'
test.yml:5: oncall.users[2]: contacts are required: a user without contacts cannot be paged
test.yml:6: oncall.users[3].timezone: "Local" depends on the host; name the zone, e.g. Europe/Berlin
test.yml:6: oncall.users[3].contacts[0]: notifier is required
test.yml:8: oncall.schedules[0]: timezone is required: an IANA time zone such as Europe/Berlin or UTC
test.yml:10: oncall.schedules[0].layers[0].rotation.handoff: "Mon 9am" is not a hand-off time: want "Day HH:MM" (e.g. "Mon 09:00")
test.yml:12: oncall.schedules[0].layers[0].participants[1]: unknown user "zed"
test.yml:13: oncall.schedules[0].layers[0].restrict[0].days[1]: Mon listed twice
test.yml:13: oncall.schedules[0].layers[0].restrict[0].days[2]: "Funday" is not a day: want Mon, Tue, Wed, Thu, Fri, Sat or Sun
test.yml:13: oncall.schedules[0].layers[0].restrict[0].to: equals from; a whole day is from "00:00" to "24:00"
test.yml:14: oncall.schedules[0].layers[1].rotation: shift is required for custom rotations: the length of a turn, e.g. 12h
test.yml:14: oncall.schedules[0].layers[1]: start is required: the date or time the rotation begins
test.yml:14: oncall.schedules[0].layers[1]: participants are required: at least one user
test.yml:16: oncall.schedules[0].layers[2].rotation.every: must be at least 1
test.yml:16: oncall.schedules[0].layers[2].rotation.handoff: "25:00" is not a hand-off time: want "HH:MM" (e.g. "09:00")
test.yml:16: oncall.schedules[0].layers[2].rotation.shift: only custom rotations take shift; daily rotations use every
test.yml:17: oncall.schedules[0].layers[2].start: "tomorrow" is not a date (2026-01-05), a local time (2026-01-05T09:00) or an RFC 3339 time (2026-01-05T09:00:00+01:00)
test.yml:19: oncall.schedules[0].layers[2].restrict[0].from: "8" is not a time of day: want "HH:MM" (e.g. "08:00")
test.yml:19: oncall.schedules[0].layers[2].restrict[0].to: "20:60" is not a time of day: want "HH:MM" (e.g. "20:00", or "24:00" for the end of the day)
test.yml:19: oncall.schedules[0].layers[2].restrict[1]: from is required: the time of day the window opens, "HH:MM"
test.yml:20: oncall.schedules[0].layers[3].rotation.handoff: ":60" is not a hand-off time: want the minute of the hour, "MM" or ":MM" (e.g. ":30")
test.yml:23: oncall.schedules[0].layers[4]: rotation.type is required: hourly, daily, weekly or custom
test.yml:27: oncall.schedules[0].overrides[0].end: must be after start (2026-01-10)
test.yml:28: oncall.schedules[0].overrides[1].user: unknown user "zed"
test.yml:29: oncall.schedules[0].overrides[2]: overlaps overrides[1]; overrides of a schedule must not overlap
test.yml:30: oncall.schedules[0].overrides[3]: end is required: the time the override ends
test.yml:31: oncall.schedules[1].id: duplicate schedule id "s" (also schedules[0])
test.yml:31: oncall.schedules[1]: has no layers and no overrides, so nobody is ever on call
test.yml:33: oncall.schedules[2].layers[0].rotation.type: "yearly" is not hourly, daily, weekly or custom
test.yml:34: oncall.schedules[3].layers[0].rotation.shift: must be at least 1h and whole minutes
test.yml:34: oncall.schedules[3].layers[0].rotation.every: custom rotations set the turn's length with shift, not every`
	if got := validate(t, "test.yml", src); got != want {
		t.Errorf("got:\n%s\n\nwant:\n%s", got, want)
	}
}

func TestValidConfigHasNoErrors(t *testing.T) {
	if got := validate(t, "test.yml", "oncall:\n"+indent(oneSchedule("Europe/Berlin", busy), "  ")); got != "" {
		t.Errorf("valid config rejected:\n%s", got)
	}
}

func TestNewReportsErrors(t *testing.T) {
	cfg := Config{
		Users:     []User{{ID: "alice", Timezone: "UTC", Contacts: []Contact{{Notifier: "mail"}}}},
		Schedules: []Schedule{{ID: "s", Timezone: "UTC", Layers: []Layer{{Rotation: Rotation{Type: "daily"}, Participants: []string{"bob"}}}}},
	}
	_, err := New(cfg)
	if err == nil {
		t.Fatal("New accepted an invalid config")
	}
	for _, want := range []string{"schedules[0].layers[0]: start is required", `schedules[0].layers[0].participants[0]: unknown user "bob"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	cfg.Users = append(cfg.Users, User{ID: "bob", Timezone: "UTC", Contacts: []Contact{{Notifier: "mail"}}})
	cfg.Schedules[0].Layers[0].Start = At(time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	dir, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, ok, _ := dir.OnCall("s", time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC))
	if b, _, _ := dir.OnCall("s", time.Date(2026, 1, 5, 8, 59, 59, 0, time.UTC)); !ok || a.User != "bob" || b.User != "" {
		t.Errorf("a rotation started with At: %+v, before it %+v", a, b)
	}
}

func TestValidateNotifiers(t *testing.T) {
	var s section
	d, err := strictyaml.Parse("test.yml", []byte(`oncall:
  users:
    - id: alice
      timezone: UTC
      contacts:
        - {notifier: mail, to: alice@example.com}
        - {notifier: pager}
`), &s)
	if err != nil {
		t.Fatal(err)
	}
	s.OnCall.ValidateNotifiers(d, "oncall", func(name string) bool { return name == "mail" })
	want := `test.yml:7: oncall.users[0].contacts[1].notifier: unknown notifier "pager"`
	if err := d.Err("test.yml"); err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestParseLocalTime(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want: the instant in Europe/Berlin, or "error"
	}{
		{"2026-01-05", "2026-01-05T00:00:00+01:00"},
		{"2026-01-05T09:30", "2026-01-05T09:30:00+01:00"},
		{"2026-07-05 09:30:15", "2026-07-05T09:30:15+02:00"},
		{"2026-01-05T09:30:00Z", "2026-01-05T10:30:00+01:00"},
		{"2026-03-29T02:30", "2026-03-29T03:00:00+02:00"}, // skipped: when the clock passes it
		{"2026-01-05T25:00", "error"},
		{"next monday", "error"},
	} {
		lt, err := ParseLocalTime(tc.in)
		got := "error"
		if err == nil {
			got = lt.In(mustZone(t, "Europe/Berlin").loc).Format(time.RFC3339)
		}
		if got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.in, got, tc.want)
		}
	}
}
