package sla

import (
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/strictyaml"
)

// file is a config file with an sla section, as the daemon's config will
// hold it.
type file struct {
	SLA Config `yaml:"sla"`
}

// parseDoc decodes and validates doc; it returns the rules and the errors as
// check-config prints them.
func parseDoc(t testing.TB, doc string) (*Rules, error) {
	t.Helper()
	var f file
	d, err := strictyaml.Parse("f.yml", []byte(doc), &f)
	if err != nil {
		return nil, err
	}
	f.SLA.Validate(d, "sla")
	if err := d.Err("f.yml"); err != nil {
		return nil, err
	}
	return Compile(f.SLA)
}

func mustRules(t testing.TB, doc string) *Rules {
	t.Helper()
	r, err := parseDoc(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestPolicyMatchOrder(t *testing.T) {
	rules := mustRules(t, `
sla:
  calendars:
    - {id: office, timezone: Europe/Berlin, hours: {"Mon-Fri": "08:00-18:00"}}
  policies:
    - match: '{team="shop", priority=~"P1|P2"}'
      targets: {P1: {acknowledge: 5m}, P2: {acknowledge: 10m}}
    - match: '{team="shop"}'
      targets: {P1: {acknowledge: 1m}, P4: {resolve: 5d, calendar: office}}
    - match: 'ci_class="database"'
      targets: {P3: {acknowledge: 20m, resolve: 2h}}
    - match: '{}'
      targets: {P3: {acknowledge: 1h, resolve: 3d, calendar: office}}
`)
	tests := []struct {
		name   string
		s      Subject
		policy int // -1: none
		ack    time.Duration
		res    time.Duration
	}{
		{"first match wins over a later one", Subject{Team: "shop", Priority: 1}, 0, 5 * time.Minute, 0},
		{"team from a label", Subject{Labels: map[string]string{"team": "shop"}, Priority: 2}, 0, 10 * time.Minute, 0},
		{"the CMDB's team overrides the label", Subject{Labels: map[string]string{"team": "shop"}, Team: "payments", Priority: 3}, 3, time.Hour, 72 * time.Hour},
		{"falls to the second policy by priority", Subject{Team: "shop", Priority: 4}, 1, 0, 120 * time.Hour},
		// The first match wins even with no target for the priority.
		{"matched policy without the priority: no clocks", Subject{Team: "shop", Priority: 3}, 1, 0, 0},
		{"ci_class from the CMDB", Subject{CIClass: "database", Priority: 3}, 2, 20 * time.Minute, 2 * time.Hour},
		{"catch-all", Subject{Labels: map[string]string{"alertname": "X"}, Priority: 3}, 3, time.Hour, 72 * time.Hour},
		{"catch-all without the priority", Subject{Priority: 5}, 3, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, clocks := rules.Clocks(tt.s, t0)
			if p == nil || p.Index != tt.policy {
				t.Fatalf("policy %+v, want index %d", p, tt.policy)
			}
			var ack, res time.Duration
			for _, c := range clocks {
				if !c.Start.Equal(t0) {
					t.Errorf("%s clock starts at %s", c.Kind, c.Start)
				}
				switch c.Kind {
				case Acknowledge:
					ack = c.Target
				case Resolve:
					res = c.Target
				}
			}
			if ack != tt.ack || res != tt.res {
				t.Errorf("targets ack %s resolve %s, want %s and %s", ack, res, tt.ack, tt.res)
			}
		})
	}
	if _, cs := rules.Clocks(Subject{Priority: 3}, t0); len(cs) != 2 || cs[1].Calendar.ID() != "office" {
		t.Errorf("P3 resolve clock should count the office calendar: %+v", cs)
	}
	var none *Rules
	if p, cs := none.Clocks(Subject{Priority: 1}, t0); p != nil || cs != nil {
		t.Error("no sla section should mean no clocks")
	}
	if p := rules.Policies[0]; p.OnBreach != OnBreachNone {
		t.Errorf("on_breach defaults to %q, want none", p.OnBreach)
	}
}

func TestValidateErrors(t *testing.T) {
	doc := `sla:
  calendars:
    - id: office
      timezone: Europe/Berlln
      hours:
        Mon-Fri: "08:00-18:00"
        Fri: "08:00-12:00"
        Sat: "14:00-12:00"
      holidays: [2026-12-25, 2026-13-01]
    - id: office
      timezone: UTC
      hours: {Sun: 24h}
    - timezone: UTC
      hours: {Sun: 24h}
  policies:
    - match: '{team=~"shop"'
      targets:
        P1: {acknowledge: 5m, resolve: 4h, calendar: offce}
        P6: {acknowledge: 5m}
        P2: {calendar: office}
        P3: {acknowledge: 5x}
      warn_at: [0.5, 0.5, 1.5, 0]
      on_breach: page
    - match: 'team shop'
      targets: {}
`
	_, err := parseDoc(t, doc)
	if err == nil {
		t.Fatal("no errors")
	}
	want := []string{
		`f.yml:4: sla.calendars[0].timezone: unknown time zone "Europe/Berlln"`,
		`f.yml:6: sla.calendars[0].hours.Mon-Fri: Friday already has hours from "Fri"`,
		`f.yml:8: sla.calendars[0].hours.Sat: "14:00-12:00" ends before it starts`,
		`f.yml:9: sla.calendars[0].holidays[1]: "2026-13-01" is not a date`,
		`f.yml:10: sla.calendars[1].id: calendar "office" is defined twice`,
		`f.yml:13: sla.calendars[2]: missing id`,
		`f.yml:16: sla.policies[0].match: "{team=~\"shop\"" is not an Alertmanager matcher`,
		`f.yml:18: sla.policies[0].targets.P1.calendar: unknown calendar "offce"`,
		`f.yml:19: sla.policies[0].targets.P6: "P6" is not a priority (want P1..P5)`,
		`f.yml:20: sla.policies[0].targets.P2: sets neither acknowledge nor resolve`,
		`f.yml:21: sla.policies[0].targets.P3.acknowledge: invalid duration "5x"`,
		`f.yml:22: sla.policies[0].warn_at[1]: 0.5 does not come after 0.5`,
		`f.yml:22: sla.policies[0].warn_at[2]: 1.5 is not a fraction between 0 and 1`,
		`f.yml:22: sla.policies[0].warn_at[3]: 0 is not a fraction between 0 and 1`,
		`f.yml:23: sla.policies[0].on_breach: "page" is not one of escalate, notify, none`,
		`f.yml:24: sla.policies[1].match: "team shop" is not an Alertmanager matcher`,
		`f.yml:25: sla.policies[1].targets: missing`,
	}
	lines := strings.Split(err.Error(), "\n")
	for _, w := range want {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, w)
		}
		if !found {
			t.Errorf("missing error %s", w)
		}
	}
	if len(lines) != len(want) {
		t.Errorf("got %d errors, want %d:\n%s", len(lines), len(want), err)
	}
	// The bad duration is reported once, by the decoder: not again as a
	// target that sets nothing.
	if strings.Contains(err.Error(), "targets.P3: sets neither") {
		t.Error("P3's bad duration was also reported as an empty target")
	}
}

func TestCompileWithoutDecoder(t *testing.T) {
	_, err := Compile(Config{Policies: []PolicyConfig{{Targets: map[string]TargetConfig{"P1": {Calendar: "x"}}}}})
	for _, w := range []string{`policies[0].targets.P1: sets neither`, `policies[0].targets.P1.calendar: unknown calendar "x"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Compile error %v lacks %q", err, w)
		}
	}
	r, err := Compile(Config{})
	if err != nil || r.Match(Subject{Priority: 1}) != nil {
		t.Errorf("an empty section compiles to no policies: %v %v", r, err)
	}
}
