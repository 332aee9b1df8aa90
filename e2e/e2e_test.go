// Package e2e runs incidentd as its users do: the real daemon binary behind a
// real Alertmanager, which a real Prometheus feeds with an alert on
// incidentd's own metrics. It needs INCIDENTD_E2E=1 and the two Prometheus
// binaries (Debian: prometheus-alertmanager, prometheus; override with
// ALERTMANAGER_BIN and PROMETHEUS_BIN); set INCIDENTD_TEST_POSTGRES_DSN to
// run the scenario on PostgreSQL as well.
//
//	INCIDENTD_E2E=1 go test -v -count=1 ./e2e/
package e2e

import (
	"fmt"
	"maps"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

func TestEndToEnd(t *testing.T) {
	if os.Getenv("INCIDENTD_E2E") != "1" {
		t.Skip("end-to-end test: set INCIDENTD_E2E=1 to run it (needs prometheus-alertmanager and prometheus)")
	}
	// Look the external programs up before the build: a missing one fails
	// fast, and fails rather than skips (CI must not pass without them).
	bins := binaries{
		alertmanager: binary(t, "ALERTMANAGER_BIN", "/usr/bin/prometheus-alertmanager"),
		prometheus:   binary(t, "PROMETHEUS_BIN", "/usr/bin/prometheus"),
	}
	bins.incidentd = daemontest.Binary(t, buildVersion)

	// The config file names a SQLite store; PostgreSQL is given by flag,
	// as an operator overriding the file would.
	t.Run("sqlite", func(t *testing.T) { runScenario(t, bins, "") })
	if os.Getenv(storetest.EnvPostgresDSN) == "" {
		t.Logf("%s not set: PostgreSQL run skipped", storetest.EnvPostgresDSN)
		return
	}
	t.Run("postgres", func(t *testing.T) { runScenario(t, bins, storetest.DSN(t, store.Postgres)) })
}

// runScenario drives one fresh incidentd + Alertmanager (+ Prometheus) stack
// through firing, repeats, a Prometheus-generated alert and resolution. The
// phases run in this order so that each can count exactly: Prometheus's alert
// is only added once a. and b. have counted theirs.
func runScenario(t *testing.T, bins binaries, dsnFlag string) {
	s := startStack(t, bins, dsnFlag)

	// Nanosecond precision on purpose: incidentd stores microseconds, and the
	// resolve notifications must still match the stored occurrences.
	startsAt := time.Now().UTC()
	firing := []amAlert{
		testAlert("HighLatency", "checkout", "web-1", "critical", startsAt),
		testAlert("HighLatency", "checkout", "web-2", "critical", startsAt),
		testAlert("HighLatency", "checkout", "web-3", "critical", startsAt),
		testAlert("DiskFull", "db", "db-1", "warning", startsAt),
	}
	postJSON(t, s.amURL+"/api/v2/alerts", firing)

	latency, disk := checkArrival(s, startsAt)
	checkRepeatsDeduplicated(s, latency)
	self := checkPrometheusAlert(s, bins.prometheus)
	checkResolution(s, firing, []incidentJSON{latency, disk}, self)
}

// checkArrival (a): Alertmanager's first notifications, after group_wait,
// become 4 firing alerts in 2 incidents grouped by alertname and service.
func checkArrival(s *stack, startsAt time.Time) (latency, disk incidentJSON) {
	t := s.t
	s.poll("4 firing alerts in incidentd", func() error {
		return s.wantAlertCount("status=firing", 4)
	})
	// An alert and its incident are committed in one transaction, so once
	// the alerts are visible the incidents must be exactly these, at once.
	open := s.incidents("status=open")
	if len(open) != 2 {
		t.Fatalf("open incidents: got %d, want 2: %s", len(open), describeIncidents(open))
	}
	latency = findIncident(t, open, "HighLatency")
	disk = findIncident(t, open, "DiskFull")
	checkIncident(t, latency, "triggered", "checkout", 3, 3, "P3") // impact 3 + urgency 1 (critical) - 1
	checkIncident(t, disk, "triggered", "db", 1, 1, "P4")          // urgency 2 (warning)
	s.checkAlertsMatchAlertmanager(startsAt, map[string]int64{"HighLatency": latency.ID, "DiskFull": disk.ID})
	t.Logf("a. %s: 4 alerts arrived as %s (3 alerts) and %s (1 alert)", s.elapsed(), latency.Key, disk.Key)
	return latency, disk
}

// checkRepeatsDeduplicated (b): Alertmanager re-sends both groups every
// second or two (repeat_interval). Once every alert has been repeated, there
// are still 4 occurrences and 2 incidents: the repeats created nothing.
func checkRepeatsDeduplicated(s *stack, latency incidentJSON) {
	t := s.t
	s.poll("every alert re-sent by Alertmanager and deduplicated", func() error {
		n, err := metric(s.incidentdURL+"/metrics", "incidentd_alerts_deduplicated_total")
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("incidentd_alerts_deduplicated_total is 0")
		}
		alerts, err := s.alerts("")
		if err != nil {
			return err
		}
		for _, a := range alerts {
			if a.Repeats == 0 {
				return fmt.Errorf("alert %s/%s not repeated yet", a.Labels["alertname"], a.Labels["instance"])
			}
		}
		return nil
	})
	all := s.mustAlerts("")
	if len(all) != 4 {
		t.Fatalf("after repeats: %d alert occurrences, want still 4: %s", len(all), describeAlerts(all))
	}
	for _, a := range all {
		if a.Seq != 1 || !a.Current || a.Status != "firing" {
			t.Errorf("after repeats: alert %s is seq %d current %v %s, want the first occurrence, current, firing",
				a.Labels["instance"], a.Seq, a.Current, a.Status)
		}
	}
	if incs := s.incidents(""); len(incs) != 2 {
		t.Fatalf("after repeats: %d incidents, want still 2: %s", len(incs), describeIncidents(incs))
	}
	s.checkMetric("incidentd_incidents_created_total", 2)
	// Repeats leave no trace on the timeline either: one event per alert.
	d := s.incident(latency.ID)
	if got := countEvents(d.Timeline, "alert.firing"); got != 3 {
		t.Errorf("%s timeline: %d alert.firing events, want 3 (repeats add none): %+v", d.Key, got, d.Timeline)
	}
	if d.AlertCount != 3 || len(d.Alerts) != 3 {
		t.Errorf("%s after repeats: alert_count %d with %d alerts, want 3", d.Key, d.AlertCount, len(d.Alerts))
	}
	t.Logf("b. %s: repeats deduplicated: still 4 alerts, 2 incidents", s.elapsed())
}

// checkPrometheusAlert: Prometheus scrapes incidentd's /metrics, its rule on
// incidentd_incidents_open fires (2 incidents are open), and the alert comes
// back to incidentd through the same Alertmanager as a third incident.
func checkPrometheusAlert(s *stack, prometheusBin string) incidentJSON {
	t := s.t
	s.startPrometheus(prometheusBin)
	var self incidentJSON
	s.poll("Prometheus's IncidentdHasOpenIncidents alert as an incident", func() error {
		incs, err := s.listIncidents("status=open")
		if err != nil {
			return err
		}
		for _, inc := range incs {
			if inc.Labels["alertname"] == "IncidentdHasOpenIncidents" {
				self = inc
				return nil
			}
		}
		return fmt.Errorf("no such incident yet: %s", describeIncidents(incs))
	})
	d := s.incident(self.ID)
	if len(d.Alerts) != 1 {
		t.Fatalf("%s: %d alerts, want 1: %s", d.Key, len(d.Alerts), describeAlerts(d.Alerts))
	}
	// The generator URL proves the alert was evaluated by our Prometheus,
	// the source that it was delivered by Alertmanager's webhook.
	a := d.Alerts[0]
	want := map[string]string{"alertname": "IncidentdHasOpenIncidents", "service": "incidentd", "severity": "warning"}
	if !maps.Equal(a.Labels, want) || a.Source != "alertmanager" || !strings.HasPrefix(a.GeneratorURL, s.prometheusURL+"/") {
		t.Errorf("Prometheus alert: labels %v source %q generator_url %q; want labels %v from alertmanager, generated by %s",
			a.Labels, a.Source, a.GeneratorURL, want, s.prometheusURL)
	}
	if incs := s.incidents(""); len(incs) != 3 {
		t.Fatalf("with the Prometheus alert: %d incidents, want 3: %s", len(incs), describeIncidents(incs))
	}
	t.Logf("prometheus: %s: its alert on incidentd_incidents_open arrived as %s", s.elapsed(), self.Key)
	return self
}

// checkResolution (c): the same alerts posted with endsAt = now are resolved
// in Alertmanager, which sends resolved notifications (send_resolved); the
// alerts resolve in incidentd and it auto-resolves both incidents.
func checkResolution(s *stack, firing []amAlert, incs []incidentJSON, self incidentJSON) {
	t := s.t
	endsAt := time.Now().UTC()
	resolved := make([]amAlert, len(firing))
	for i, a := range firing {
		a.EndsAt = &endsAt
		resolved[i] = a
	}
	postJSON(t, s.amURL+"/api/v2/alerts", resolved)
	s.poll("incidents auto-resolved", func() error {
		for _, inc := range incs {
			var now incidentJSON
			if err := getJSON(fmt.Sprintf("%s/api/v1/incidents/%d", s.incidentdURL, inc.ID), &now); err != nil {
				return err
			}
			if now.Status != "resolved" {
				return fmt.Errorf("%s is %s (firing_count %d)", now.Key, now.Status, now.FiringCount)
			}
		}
		return nil
	})
	for _, inc := range incs {
		d := s.incident(inc.ID)
		if d.ResolvedBy != "incidentd" || d.ResolvedAt.IsZero() || d.FiringCount != 0 {
			t.Errorf("%s: resolved_by %q resolved_at %v firing_count %d; want resolved by incidentd with no alert firing",
				d.Key, d.ResolvedBy, d.ResolvedAt, d.FiringCount)
		}
		for _, a := range d.Alerts {
			if a.Status != "resolved" || a.EndsAt.IsZero() || a.ResolvedAt.IsZero() {
				t.Errorf("%s: alert %s is %s (ends_at %v, resolved_at %v), want resolved",
					d.Key, a.Labels["instance"], a.Status, a.EndsAt, a.ResolvedAt)
			}
		}
		if ev, ok := findEvent(d.Timeline, "incident.resolved"); !ok || ev.Actor != "incidentd" {
			t.Errorf("%s timeline: want an incident.resolved event by incidentd: %+v", d.Key, d.Timeline)
		}
	}
	if got := s.mustAlerts("status=resolved"); len(got) != 4 {
		t.Errorf("resolved alerts: got %d, want 4: %s", len(got), describeAlerts(got))
	}
	// Prometheus's alert keeps firing while any incident is open, its own
	// included: it is the one left.
	stillFiring := s.mustAlerts("status=firing")
	if len(stillFiring) != 1 || stillFiring[0].Labels["alertname"] != "IncidentdHasOpenIncidents" {
		t.Errorf("firing alerts after resolution: %s; want only IncidentdHasOpenIncidents", describeAlerts(stillFiring))
	}
	if open := s.incidents("status=open"); len(open) != 1 || open[0].ID != self.ID {
		t.Errorf("open incidents after resolution: %s; want only %s", describeIncidents(open), self.Key)
	}
	s.checkMetric("incidentd_incidents_open", 1)
	// Every webhook was accepted (Alertmanager retries failures, which would
	// otherwise go unnoticed), and none was a late firing notice.
	s.checkMetric("incidentd_ingest_rejected_requests_total", 0)
	s.checkMetric("incidentd_alerts_stale_total", 0)
	if n, err := metric(s.incidentdURL+"/metrics", "incidentd_alerts_received_total", `source="alertmanager"`, `status="resolved"`); err != nil || n < 4 {
		t.Errorf(`incidentd_alerts_received_total{source="alertmanager",status="resolved"}: %v (err %v), want at least 4`, n, err)
	}
	// And all of it was done by the binary this test built.
	s.checkMetric("incidentd_build_info", 1, `version="`+buildVersion+`"`)
	t.Logf("c. %s: %s and %s resolved by incidentd", s.elapsed(), incs[0].Key, incs[1].Key)
}

// amAlert is an alert as posted to Alertmanager's API v2.
type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations,omitempty"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      *time.Time        `json:"endsAt,omitempty"` // omitted: firing until resolve_timeout
}

func testAlert(name, service, instance, severity string, startsAt time.Time) amAlert {
	return amAlert{
		Labels:      map[string]string{"alertname": name, "service": service, "instance": instance, "severity": severity},
		Annotations: map[string]string{"summary": name + " on " + instance},
		StartsAt:    startsAt,
	}
}

// findIncident returns the one incident whose labels have alertname name.
func findIncident(t *testing.T, incs []incidentJSON, name string) incidentJSON {
	t.Helper()
	var found []incidentJSON
	for _, inc := range incs {
		if inc.Labels["alertname"] == name {
			found = append(found, inc)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one incident for alertname %s: %s", name, describeIncidents(incs))
	}
	return found[0]
}

func checkIncident(t *testing.T, inc incidentJSON, status, service string, alerts, firing int, priority string) {
	t.Helper()
	if inc.Status != status || inc.Labels["service"] != service || inc.AlertCount != alerts || inc.FiringCount != firing || inc.PriorityLabel != priority {
		t.Errorf("%s: status %s service %q alert_count %d firing_count %d priority %s; want %s, %q, %d, %d, %s",
			inc.Key, inc.Status, inc.Labels["service"], inc.AlertCount, inc.FiringCount, inc.PriorityLabel,
			status, service, alerts, firing, priority)
	}
}

func countEvents(evs []eventJSON, kind string) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func findEvent(evs []eventJSON, kind string) (eventJSON, bool) {
	for _, e := range evs {
		if e.Kind == kind {
			return e, true
		}
	}
	return eventJSON{}, false
}
