package oncall

import (
	"fmt"
	"strings"
	"time"

	"github.com/incidentd/incidentd/strictyaml"
)

// Config is the people half of the oncall section: users and their
// schedules.
type Config struct {
	Users     []User     `yaml:"users"`
	Schedules []Schedule `yaml:"schedules"`
}

// User is someone who can be on call.
type User struct {
	ID   string `yaml:"id"`
	Name string `yaml:"name"`
	// Timezone is where the user lives (IANA name); schedules keep their
	// own zone, this one is for showing the user their shifts.
	Timezone string    `yaml:"timezone"`
	Contacts []Contact `yaml:"contacts"`
}

// Contact is one way to reach a user: a notifier by name, and the address
// the notifier needs, if any (an email address; a webhook needs none).
type Contact struct {
	Notifier string `yaml:"notifier"`
	To       string `yaml:"to"`
}

// Schedule says who is on call when. Later layers win over earlier ones
// wherever they have someone on call; overrides win over every layer.
type Schedule struct {
	ID string `yaml:"id"`
	// Timezone (IANA name) is the zone of hand-offs, restrictions and every
	// start or end written without an offset.
	Timezone  string     `yaml:"timezone"`
	Layers    []Layer    `yaml:"layers"`
	Overrides []Override `yaml:"overrides"`
}

// Layer is one rotation of participants, optionally restricted to windows.
type Layer struct {
	Rotation Rotation `yaml:"rotation"`
	// Start is when the rotation begins: the first hand-off at or after it
	// puts Participants[0] on call.
	Start        LocalTime     `yaml:"start"`
	Participants []string      `yaml:"participants"`
	Restrict     []Restriction `yaml:"restrict"`
}

// Rotation says when the layer hands over to the next participant.
type Rotation struct {
	// Type is hourly, daily, weekly or custom.
	Type string `yaml:"type"`
	// Handoff is "MM" or ":MM" (hourly), "HH:MM" (daily, custom) or
	// "Mon 09:00" (weekly). Without it, hand-offs happen at Start's time.
	Handoff string `yaml:"handoff"`
	// Shift is the length of a custom rotation's turn, on the wall clock.
	Shift strictyaml.Duration `yaml:"shift"`
	// Every makes hourly, daily and weekly turns that many hours, days or
	// weeks long (0 means 1).
	Every int `yaml:"every"`
}

// Restriction is a window of each listed day (every day if none is
// listed) in which the layer is on call. To before From is an overnight
// window that ends the next day; "24:00" is the end of the day.
type Restriction struct {
	Days []string `yaml:"days"`
	From string   `yaml:"from"`
	To   string   `yaml:"to"`
}

// Override puts User on call from Start to End, over every layer.
type Override struct {
	User  string    `yaml:"user"`
	Start LocalTime `yaml:"start"`
	End   LocalTime `yaml:"end"`
}

// LocalTime is a start or end in a schedule: a date (2026-01-05, meaning
// midnight) or a wall-clock time (2026-01-05T09:00), both read in the
// schedule's zone, or an RFC 3339 time with an offset, which is an exact
// instant.
type LocalTime struct {
	raw     string
	civil   int64 // wall-clock seconds, when !exact
	instant time.Time
	exact   bool
	bad     error // set when the YAML value did not parse
}

var localLayouts = []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05"}

// ParseLocalTime reads a date, a wall-clock time or an RFC 3339 time.
func ParseLocalTime(s string) (LocalTime, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return LocalTime{raw: s, instant: t, exact: true}, nil
	}
	for _, layout := range localLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return LocalTime{raw: s, civil: t.Unix()}, nil
		}
	}
	return LocalTime{}, fmt.Errorf("%q is not a date (2026-01-05), a local time (2026-01-05T09:00) or an RFC 3339 time (2026-01-05T09:00:00+01:00)", s)
}

// At returns the LocalTime of an exact instant.
func At(t time.Time) LocalTime {
	return LocalTime{raw: t.Format(time.RFC3339), instant: t, exact: true}
}

// UnmarshalScalar parses the YAML value.
func (l *LocalTime) UnmarshalScalar(s string) error {
	v, err := ParseLocalTime(s)
	if err != nil {
		*l = LocalTime{raw: s, bad: err}
		return err
	}
	*l = v
	return nil
}

// MarshalYAML renders the time as it was written.
func (l LocalTime) MarshalYAML() (any, error) { return l.raw, nil }

// String returns the time as it was written.
func (l LocalTime) String() string { return l.raw }

// IsZero reports whether the time was never set.
func (l LocalTime) IsZero() bool { return l.raw == "" }

// In returns the instant in loc's zone. A wall-clock time that happens
// twice is the first occurrence; one that never happens is the moment the
// clock jumps past it.
func (l LocalTime) In(loc *time.Location) time.Time {
	z := zone{loc}
	return z.time(l.unix(z))
}

func (l LocalTime) unix(z zone) int64 {
	if l.exact {
		return l.instant.Unix()
	}
	return z.resolve(l.civil)
}

// civilIn returns the wall-clock seconds of the time in z.
func (l LocalTime) civilIn(z zone) int64 {
	if l.exact {
		return z.civil(l.instant.Unix())
	}
	return l.civil
}

// Validate reports every semantic error of the section at path (e.g.
// "oncall") to d, at the line of the offending key. A missing key is
// reported at the item that lacks it, which has a line.
func (c Config) Validate(d *strictyaml.Decoder, path string) {
	decoded := map[string]bool{}
	for _, e := range d.Errs() {
		decoded[e.Key] = true
	}
	compile(c, func(key, format string, args ...any) {
		key = strictyaml.Join(path, key)
		if decoded[key] {
			return // decoding already said what is wrong with it
		}
		d.Failf(key, format, args...)
	})
}

// ValidateNotifiers reports contacts whose notifier known does not accept.
// Notifiers are configured elsewhere, so the caller that has both checks
// them.
func (c Config) ValidateNotifiers(d *strictyaml.Decoder, path string, known func(name string) bool) {
	for i, u := range c.Users {
		for j, ct := range u.Contacts {
			if ct.Notifier != "" && !known(ct.Notifier) {
				d.Failf(strictyaml.Join(path, fmt.Sprintf("users[%d].contacts[%d].notifier", i, j)), "unknown notifier %q", ct.Notifier)
			}
		}
	}
}
