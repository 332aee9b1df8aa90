package e2e

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/daemon/daemontest"
)

// buildVersion is stamped into the daemon so the test can tell, through
// incidentd_build_info, that it talks to the binary it built.
const buildVersion = "e2e-test"

// pollTimeout bounds each wait for the system to reach a state. Every step
// normally takes one to a few seconds (Prometheus up to ~8: it discovers its
// targets in 5 s ticks); the margin absorbs a loaded machine.
const pollTimeout = 30 * time.Second

// binaries are the programs the test runs.
type binaries struct {
	incidentd, alertmanager, prometheus string
}

// stack is one running incidentd with the Alertmanager (and later the
// Prometheus) in front of it, each with its own temp dir and port, all on
// 127.0.0.1.
type stack struct {
	t                                     *testing.T
	start                                 time.Time
	dir                                   string
	incidentd, alertmanager, prometheus   *process
	incidentdAddr, amAddr, prometheusAddr string
	incidentdURL, amURL, prometheusURL    string
}

// startStack starts incidentd and Alertmanager and waits until both are
// ready. dsnFlag, if set, overrides the config file's SQLite store.
func startStack(t *testing.T, bins binaries, dsnFlag string) *stack {
	t.Helper()
	s := &stack{t: t, start: time.Now(), dir: t.TempDir(), incidentdAddr: daemontest.FreeAddr(t), amAddr: daemontest.FreeAddr(t)}
	s.incidentdURL = "http://" + s.incidentdAddr
	s.amURL = "http://" + s.amAddr

	// Debug logging records every webhook in incidentd's output, shown if
	// the test fails.
	cfg := writeFile(t, s.dir, "incidentd.yml", fmt.Sprintf(`
storage:
  dsn: sqlite://%s
log:
  level: debug
`, filepath.Join(s.dir, "incidentd.db")))
	args := []string{"--config.file=" + cfg, "--web.listen-address=" + s.incidentdAddr}
	if dsnFlag != "" {
		args = append(args, "--storage.dsn="+dsnFlag)
	}
	s.incidentd = startProcess(t, "incidentd", bins.incidentd, args...)
	s.incidentd.mustStopCleanly = true
	// Successful GETs (the test's polls, Prometheus's scrapes) would bury
	// the webhooks and errors in the failure log.
	s.incidentd.omit = func(line string) bool {
		return strings.Contains(line, `level=DEBUG msg="http request"`) && strings.Contains(line, "method=GET")
	}
	waitReady(t, s.incidentd, s.incidentdURL)

	// group_wait and group_interval 1s make the first notification and
	// changes quick. Alertmanager rejects repeat_interval 0 and accepts
	// sub-second values, but it only repeats at group_interval flushes, so
	// 1s is as fast as repeats get: one every second or two.
	amCfg := writeFile(t, s.dir, "alertmanager.yml", fmt.Sprintf(`
route:
  receiver: incidentd
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1s
receivers:
  - name: incidentd
    webhook_configs:
      - url: http://%s/api/v1/alerts/alertmanager
        send_resolved: true
`, s.incidentdAddr))
	s.alertmanager = startProcess(t, "alertmanager", bins.alertmanager,
		"--config.file="+amCfg,
		"--storage.path="+filepath.Join(s.dir, "alertmanager"),
		"--web.listen-address="+s.amAddr,
		"--cluster.listen-address=", // no gossip: a single instance
	)
	waitReady(t, s.alertmanager, s.amURL)
	return s
}

// startPrometheus starts Prometheus scraping incidentd every second, with a
// rule on incidentd_incidents_open that alerts through the Alertmanager.
func (s *stack) startPrometheus(bin string) {
	t := s.t
	t.Helper()
	s.prometheusAddr = daemontest.FreeAddr(t)
	s.prometheusURL = "http://" + s.prometheusAddr
	rules := writeFile(t, s.dir, "rules.yml", `
groups:
  - name: incidentd
    rules:
      - alert: IncidentdHasOpenIncidents
        expr: sum(incidentd_incidents_open) > 0
        for: 0s
        labels:
          service: incidentd
          severity: warning
        annotations:
          summary: incidentd has open incidents
`)
	cfg := writeFile(t, s.dir, "prometheus.yml", fmt.Sprintf(`
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: incidentd
    static_configs:
      - targets: [%q]
`, rules, s.amAddr, s.incidentdAddr))
	s.prometheus = startProcess(t, "prometheus", bin,
		"--config.file="+cfg,
		"--storage.tsdb.path="+filepath.Join(s.dir, "prometheus"),
		"--web.listen-address="+s.prometheusAddr,
		// Generator URLs then name this instance, not the host name.
		"--web.external-url="+s.prometheusURL,
		// Prometheus learns its Alertmanager target a few seconds after
		// start and drops alerts evaluated before; resend after 1s, not the
		// default 1m.
		"--rules.alert.resend-delay=1s",
	)
	waitReady(t, s.prometheus, s.prometheusURL)
}

// elapsed is the time since the stack started, for progress logs.
func (s *stack) elapsed() time.Duration { return time.Since(s.start).Round(100 * time.Millisecond) }

// poll waits for cond with pollTimeout, failing at once if a process died.
func (s *stack) poll(what string, cond func() error) {
	s.t.Helper()
	poll(s.t, what, pollTimeout, []*process{s.incidentd, s.alertmanager, s.prometheus}, cond)
}

// alerts lists incidentd's alert occurrences; query is e.g. "status=firing".
func (s *stack) alerts(query string) ([]alertJSON, error) {
	var list struct {
		Alerts     []alertJSON `json:"alerts"`
		NextCursor string      `json:"next_cursor"`
	}
	if err := getJSON(s.incidentdURL+"/api/v1/alerts?limit=500&"+query, &list); err != nil {
		return nil, err
	}
	if list.NextCursor != "" {
		return nil, fmt.Errorf("more than 500 alerts")
	}
	return list.Alerts, nil
}

func (s *stack) mustAlerts(query string) []alertJSON {
	s.t.Helper()
	a, err := s.alerts(query)
	if err != nil {
		s.t.Fatal(err)
	}
	return a
}

func (s *stack) wantAlertCount(query string, n int) error {
	a, err := s.alerts(query)
	if err != nil {
		return err
	}
	if len(a) != n {
		return fmt.Errorf("%d alerts (%s), want %d: %s", len(a), query, n, describeAlerts(a))
	}
	return nil
}

// listIncidents lists incidentd's incidents; query is e.g. "status=open".
func (s *stack) listIncidents(query string) ([]incidentJSON, error) {
	var list struct {
		Incidents  []incidentJSON `json:"incidents"`
		NextCursor string         `json:"next_cursor"`
	}
	if err := getJSON(s.incidentdURL+"/api/v1/incidents?limit=500&"+query, &list); err != nil {
		return nil, err
	}
	if list.NextCursor != "" {
		return nil, fmt.Errorf("more than 500 incidents")
	}
	return list.Incidents, nil
}

func (s *stack) incidents(query string) []incidentJSON {
	s.t.Helper()
	incs, err := s.listIncidents(query)
	if err != nil {
		s.t.Fatal(err)
	}
	return incs
}

// incident gets one incident with its alerts and timeline.
func (s *stack) incident(id int64) incidentDetail {
	s.t.Helper()
	var d incidentDetail
	mustGetJSON(s.t, fmt.Sprintf("%s/api/v1/incidents/%d", s.incidentdURL, id), &d)
	return d
}

// checkMetric asserts the sum of a metric's samples on incidentd's /metrics.
func (s *stack) checkMetric(name string, want float64, match ...string) {
	s.t.Helper()
	got, err := metric(s.incidentdURL+"/metrics", name, match...)
	if err != nil {
		s.t.Fatal(err)
	}
	if got != want {
		s.t.Errorf("%s%v: got %v, want %v", name, match, got, want)
	}
}

// checkAlertsMatchAlertmanager checks incidentd's firing alerts against
// Alertmanager's view: the same label sets, Alertmanager's fingerprint as
// incidentd's identity, startsAt intact after the trip, and each alert in
// the incident of its alertname.
func (s *stack) checkAlertsMatchAlertmanager(startsAt time.Time, incidentOf map[string]int64) {
	t := s.t
	t.Helper()
	var amAlerts []struct {
		Fingerprint string            `json:"fingerprint"`
		Labels      map[string]string `json:"labels"`
	}
	mustGetJSON(t, s.amURL+"/api/v2/alerts", &amAlerts)
	fingerprints := map[string]string{}
	for _, a := range amAlerts {
		fingerprints[labelKey(a.Labels)] = a.Fingerprint
	}
	alerts := s.mustAlerts("status=firing")
	if len(alerts) != len(amAlerts) {
		t.Errorf("incidentd has %d firing alerts, Alertmanager %d", len(alerts), len(amAlerts))
	}
	for _, a := range alerts {
		fp, ok := fingerprints[labelKey(a.Labels)]
		switch {
		case !ok:
			t.Errorf("alert %v is not in Alertmanager", a.Labels)
		case a.Fingerprint != fp:
			t.Errorf("alert %v: fingerprint %s, Alertmanager's is %s", a.Labels, a.Fingerprint, fp)
		}
		if a.Source != "alertmanager" || a.Seq != 1 || !a.Current {
			t.Errorf("alert %v: source %q seq %d current %v, want alertmanager, 1, true", a.Labels, a.Source, a.Seq, a.Current)
		}
		if !a.StartsAt.Equal(startsAt.Truncate(time.Microsecond)) {
			t.Errorf("alert %v: starts_at %v, want %v as posted to Alertmanager", a.Labels, a.StartsAt, startsAt)
		}
		if want := incidentOf[a.Labels["alertname"]]; a.IncidentID != want {
			t.Errorf("alert %v: in incident %d, want %d", a.Labels, a.IncidentID, want)
		}
	}
}

// The JSON shapes of incidentd's API, declared here rather than imported
// from package api so that the test reads the wire format as a client does.

type alertJSON struct {
	Fingerprint  string            `json:"fingerprint"`
	Seq          int               `json:"seq"`
	IncidentID   int64             `json:"incident_id"`
	Source       string            `json:"source"`
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	GeneratorURL string            `json:"generator_url"`
	StartsAt     time.Time         `json:"starts_at"`
	EndsAt       time.Time         `json:"ends_at"`
	ResolvedAt   time.Time         `json:"resolved_at"`
	Repeats      int64             `json:"repeats"`
	Current      bool              `json:"current"`
}

type incidentJSON struct {
	ID            int64             `json:"id"`
	Key           string            `json:"key"`
	Status        string            `json:"status"`
	PriorityLabel string            `json:"priority_label"`
	Labels        map[string]string `json:"labels"`
	AlertCount    int               `json:"alert_count"`
	FiringCount   int               `json:"firing_count"`
	ResolvedAt    time.Time         `json:"resolved_at"`
	ResolvedBy    string            `json:"resolved_by"`
}

type eventJSON struct {
	Kind    string `json:"kind"`
	Actor   string `json:"actor"`
	AlertID string `json:"alert_id"`
	Message string `json:"message"`
}

type incidentDetail struct {
	incidentJSON
	Alerts   []alertJSON `json:"alerts"`
	Timeline []eventJSON `json:"timeline"`
}

// labelKey renders a label set canonically, to compare label sets from two
// systems.
func labelKey(labels map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		fmt.Fprintf(&b, "%s=%q,", k, labels[k])
	}
	return b.String()
}

func describeAlerts(alerts []alertJSON) string {
	var parts []string
	for _, a := range alerts {
		parts = append(parts, fmt.Sprintf("%s/%s %s seq=%d repeats=%d incident=%d",
			a.Labels["alertname"], a.Labels["instance"], a.Status, a.Seq, a.Repeats, a.IncidentID))
	}
	sort.Strings(parts)
	return "[" + strings.Join(parts, "; ") + "]"
}

func describeIncidents(incs []incidentJSON) string {
	var parts []string
	for _, i := range incs {
		parts = append(parts, fmt.Sprintf("%s %s %v alerts=%d firing=%d", i.Key, i.Status, i.Labels, i.AlertCount, i.FiringCount))
	}
	return "[" + strings.Join(parts, "; ") + "]"
}
