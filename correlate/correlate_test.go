package correlate_test

import (
	"context"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/correlate"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

const topology = `cis:
  - {id: checkout, class: business_service, criticality: 1}
  - {id: blog, class: business_service, criticality: 4}
  - id: checkout-api
    class: application
    match: [{service: checkout-api}]
  - id: blog-web
    class: application
    match: [{service: blog-web}]
  - id: payments-db
    class: database
    match: [{instance: "10.0.3.17:5432"}, {service: payments-db}]
  - id: db-host-1
    class: server
    match: [{instance: "db-host-1:9100"}]
  - {id: shop/cart-7f9, class: container}
relations:
  - {from: checkout, type: depends_on, to: checkout-api}
  - {from: blog, type: depends_on, to: blog-web}
  - {from: checkout-api, type: depends_on, to: payments-db}
  - {from: blog-web, type: depends_on, to: payments-db}
  - {from: payments-db, type: runs_on, to: db-host-1}
  - {from: checkout-api, type: runs_on, to: shop/cart-7f9}
`

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

type env struct {
	t *testing.T
	s *store.Store
	p incident.Policy
}

func newEnv(t *testing.T, b store.Backend) *env {
	doc, err := cmdb.Parse("cmdb.yml", []byte(topology))
	if err != nil {
		t.Fatal(err)
	}
	c := correlate.New(correlate.Options{
		MaxHops: 3,
		Rules:   []*template.Template{template.Must(template.New("r").Option("missingkey=zero").Parse("{{ .Labels.namespace }}/{{ .Labels.pod }}"))},
	})
	c.SetGraph(cmdb.Build(doc))
	p := incident.DefaultPolicy()
	p.Topology = c
	return &env{t: t, s: storetest.Open(t, b), p: p}
}

func (e *env) send(at time.Duration, status incident.AlertStatus, labels ...string) incident.Stats {
	e.t.Helper()
	return e.sendStarting(at, 0, status, labels...)
}

// sendStarting sends an alert at t0+at that started at t0+started.
func (e *env) sendStarting(at, started time.Duration, status incident.AlertStatus, labels ...string) incident.Stats {
	e.t.Helper()
	l := labelMap(labels)
	in := incident.AlertInput{Fingerprint: incident.Fingerprint(l), Source: "test", Status: status, Labels: l, StartsAt: t0.Add(started)}
	st, err := e.s.Ingest(context.Background(), &e.p, []incident.AlertInput{in}, t0.Add(at))
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

func (e *env) open() []*incident.Incident {
	e.t.Helper()
	incs, err := e.s.Incidents(context.Background(), store.IncidentFilter{Statuses: incident.OpenStatuses, Limit: 50})
	if err != nil {
		e.t.Fatal(err)
	}
	return incs
}

func (e *env) timeline(id int64, kind string) []string {
	tl, _ := e.s.Timeline(context.Background(), id)
	var out []string
	for _, ev := range tl {
		if ev.Kind == kind {
			out = append(out, ev.Message)
		}
	}
	return out
}

func TestCascadeIsOneIncidentWithRootCause(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		e := newEnv(t, b)
		const firing = incident.AlertFiring
		e.send(0, firing, "alertname=HighErrorRate", "service=checkout-api", "severity=warning")
		e.send(20*time.Second, firing, "alertname=PostgresDown", "instance=10.0.3.17:5432", "severity=critical")
		e.send(40*time.Second, firing, "alertname=HostDown", "instance=db-host-1:9100", "severity=critical")
		open := e.open()
		if len(open) != 1 {
			t.Fatalf("%d open incidents, want 1", len(open))
		}
		inc := open[0]
		if inc.RootCause != "db-host-1" || inc.AlertCount != 3 {
			t.Fatalf("root cause %q, %d alerts", inc.RootCause, inc.AlertCount)
		}
		// checkout (criticality 1) is down: impact 1; critical: urgency 1.
		if inc.Priority != 1 || !inc.Major || len(inc.Correlation.Impacted) != 2 || inc.Correlation.Impacted[0].CI != "checkout" {
			t.Fatalf("priority P%d major %v impacted %+v", inc.Priority, inc.Major, inc.Correlation.Impacted)
		}
		if want := "root cause db-host-1: checkout-api, payments-db depend on it"; inc.Correlation.RootCauseReason != want {
			t.Errorf("reason %q, want %q", inc.Correlation.RootCauseReason, want)
		}
		changes := e.timeline(inc.ID, incident.EventIncidentRootCause)
		if len(changes) != 2 || !strings.HasPrefix(changes[0], "root cause checkout-api -> payments-db") || !strings.HasPrefix(changes[1], "root cause payments-db -> db-host-1") {
			t.Errorf("root cause events: %q", changes)
		}
		alerts, _ := e.s.IncidentAlerts(context.Background(), inc.ID)
		if got := alerts[1].Explanation; got != "on CI payments-db (by a match label set of payments-db); joined INC-1: checkout-api depends_on payments-db, 1 hop, 20s after its newest alert" {
			t.Errorf("explanation: %q", got)
		}
		if got := alerts[0].Explanation; !strings.Contains(got, "opened a new incident: no open incident has an alert within 3 hops") {
			t.Errorf("first explanation: %q", got)
		}

		// The host recovers: the root cause moves back up.
		e.send(time.Minute, incident.AlertResolved, "alertname=HostDown", "instance=db-host-1:9100", "severity=critical")
		inc, _ = e.s.Incident(context.Background(), inc.ID)
		if inc.RootCause != "payments-db" {
			t.Errorf("after db-host-1 resolved, root cause %q", inc.RootCause)
		}
	})
}

func TestAlertConnectingTwoIncidentsMergesThem(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		e := newEnv(t, b)
		const firing = incident.AlertFiring
		e.send(0, firing, "alertname=Slow", "service=checkout-api")
		e.send(10*time.Second, firing, "alertname=Slow", "service=blog-web")
		if n := len(e.open()); n != 2 {
			t.Fatalf("siblings sharing a database: %d incidents, want 2 (not related until it alerts)", n)
		}
		st := e.send(20*time.Second, firing, "alertname=PostgresDown", "service=payments-db", "severity=critical")
		if st.Merges != 1 {
			t.Fatalf("stats %+v", st)
		}
		open := e.open()
		if len(open) != 1 {
			t.Fatalf("%d open incidents after the shared db alerted, want 1", len(open))
		}
		survivor := open[0]
		// Both are 1 hop away; the tie goes to the most recent (blog-web's).
		if survivor.ID != 2 || survivor.AlertCount != 3 || survivor.FiringCount != 3 || survivor.RootCause != "payments-db" {
			t.Fatalf("survivor %+v", survivor)
		}
		alerts, _ := e.s.IncidentAlerts(context.Background(), survivor.ID)
		if len(alerts) != 3 {
			t.Fatalf("survivor holds %d alerts, want 3", len(alerts))
		}
		merged, _ := e.s.Incident(context.Background(), 1)
		if merged.Status != incident.StatusClosed || merged.MergedInto != 2 {
			t.Fatalf("merged incident: %+v", merged)
		}
		if m := e.timeline(1, incident.EventIncidentMerged); len(m) != 1 || !strings.HasPrefix(m[0], "merged into INC-2: alert PostgresDown") {
			t.Errorf("merged timeline: %q", m)
		}
		if m := e.timeline(2, incident.EventIncidentMerged); len(m) != 1 || !strings.HasPrefix(m[0], "absorbed INC-1") {
			t.Errorf("survivor timeline: %q", m)
		}
		// The survivor began when the older incident did.
		if !survivor.CreatedAt.Equal(t0) {
			t.Errorf("survivor created at %v, want the merged incident's %v", survivor.CreatedAt, t0)
		}
		// Both services are impacted; checkout is the most critical.
		if imp := survivor.Correlation.Impacted; len(imp) != 2 || imp[0].CI != "checkout" || survivor.Impact != 1 {
			t.Errorf("impacted %+v impact %d", imp, survivor.Impact)
		}
	})
}

func TestWindowsAndMapping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		e := newEnv(t, b)
		const firing = incident.AlertFiring
		// Mapped by the ci label, by a rule, and not at all.
		e.send(0, firing, "alertname=A", "ci=checkout-api")
		e.send(time.Second, firing, "alertname=B", "namespace=shop", "pod=cart-7f9")
		st := e.send(2*time.Second, firing, "alertname=C", "service=unknown")
		if st.Unmapped != 1 {
			t.Fatalf("stats %+v", st)
		}
		open := e.open()
		if len(open) != 2 {
			t.Fatalf("%d open incidents, want the CI one and the label one", len(open))
		}
		alerts, _ := e.s.IncidentAlerts(context.Background(), 1)
		if len(alerts) != 2 || alerts[0].CI != "checkout-api" || alerts[1].CI != "shop/cart-7f9" || !strings.Contains(alerts[1].Explanation, "correlation.ci_rules[0]") {
			t.Fatalf("mapped alerts: %+v", alerts)
		}
		// Past correlation.window since the newest alert: a new incident.
		e.send(15*time.Minute, firing, "alertname=PostgresDown", "service=payments-db")
		if n := len(e.open()); n != 3 {
			t.Fatalf("alert after the window: %d open incidents, want 3", n)
		}
		// An incident stops taking alerts after max_span, however busy:
		// alerts every 9 minutes keep it within the window until 60 minutes
		// after it opened (at 15m).
		for i := 1; i <= 6; i++ {
			st := e.send(15*time.Minute+time.Duration(i)*9*time.Minute, firing, "alertname=Keepalive", "service=payments-db", "n="+string(rune('0'+i)))
			if st.IncidentsCreated != 0 {
				t.Fatalf("keepalive %d within max_span opened an incident", i)
			}
		}
		st = e.send(15*time.Minute+61*time.Minute, firing, "alertname=Late", "instance=db-host-1:9100")
		if st.IncidentsCreated != 1 {
			t.Fatalf("alert past max_span joined: %+v", st)
		}
	})
}

func TestMaintenanceSuppressesThenReleases(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		e := newEnv(t, b)
		c := e.p.Topology.(*correlate.Correlator)
		c.SetMaintenance([]cmdb.Window{{CI: "db-host-1", Start: t0, End: t0.Add(30 * time.Minute), Reason: "kernel upgrade"}})
		const firing = incident.AlertFiring
		// On the CI itself, and on what needs it: recorded, no incident.
		st := e.send(time.Minute, firing, "alertname=HostDown", "instance=db-host-1:9100")
		st.Add(e.send(2*time.Minute, firing, "alertname=PostgresDown", "service=payments-db"))
		if st.Suppressed != 2 || st.IncidentsCreated != 0 {
			t.Fatalf("stats %+v", st)
		}
		// blog-web needs payments-db, which runs on the host: suppressed too.
		if st := e.send(3*time.Minute, firing, "alertname=Down", "service=blog-web"); st.Suppressed != 1 {
			t.Fatalf("blog-web: %+v", st)
		}
		// Not on what does not need the host.
		if st := e.send(3*time.Minute, firing, "alertname=Down", "ci=shop/cart-7f9"); st.IncidentsCreated != 1 {
			t.Fatalf("container: %+v", st)
		}
		alerts, _ := e.s.Alerts(context.Background(), store.AlertFilter{Fingerprint: incident.Fingerprint(map[string]string{"alertname": "PostgresDown", "service": "payments-db"}), Limit: 5})
		if len(alerts) != 1 || !alerts[0].Suppressed || alerts[0].IncidentID != 0 || !strings.Contains(alerts[0].Explanation, "db-host-1 is in maintenance until 2026-11-21T10:30:00Z (kernel upgrade); payments-db runs_on db-host-1") {
			t.Fatalf("suppressed alert: %+v", alerts)
		}
		// Repeats during the window stay suppressed.
		if st := e.send(20*time.Minute, firing, "alertname=PostgresDown", "service=payments-db"); st.Repeats != 1 || st.IncidentsCreated != 0 {
			t.Fatalf("repeat in maintenance: %+v", st)
		}
		// Still firing after the window: now it is a real incident.
		st = e.send(31*time.Minute, firing, "alertname=PostgresDown", "service=payments-db")
		if st.New != 1 || st.IncidentsCreated != 1 || st.Suppressed != 0 {
			t.Fatalf("after maintenance: %+v", st)
		}
		alerts, _ = e.s.Alerts(context.Background(), store.AlertFilter{Fingerprint: alerts[0].Fingerprint, Limit: 5})
		if len(alerts) != 2 || alerts[1].Suppressed || alerts[1].IncidentID == 0 {
			t.Fatalf("occurrences after maintenance: %+v", alerts)
		}
	})
}

// TestNeedsCorrelatedOnlyForAlertsOnCIs: a batch whose new alerts are on no
// CI does not read and lock the open correlated incidents.
func TestNeedsCorrelatedOnlyForAlertsOnCIs(t *testing.T) {
	e := newEnv(t, store.SQLite)
	in := func(labels map[string]string) []incident.AlertInput {
		return []incident.AlertInput{{Fingerprint: incident.Fingerprint(labels), Status: incident.AlertFiring, Labels: labels}}
	}
	empty := &incident.State{Alerts: map[string]*incident.Alert{}}
	if e.p.Needs(empty, in(map[string]string{"alertname": "X", "service": "unknown"}), t0).Correlated {
		t.Error("an alert on no CI asked for the correlated incidents")
	}
	if !e.p.Needs(empty, in(map[string]string{"alertname": "X", "service": "payments-db"}), t0).Correlated {
		t.Error("an alert on payments-db did not ask for the correlated incidents")
	}
}

func TestJoinRules(t *testing.T) {
	const firing, resolved = incident.AlertFiring, incident.AlertResolved
	type alert struct {
		at, started time.Duration
		status      incident.AlertStatus
		labels      []string
	}
	tests := []struct {
		name   string
		alerts []alert
		// open incidents afterwards, and the explanation of the last alert
		open        int
		explanation string
		rootCause   string
	}{{
		// checkout-api already has its cause in the incident (payments-db):
		// its container failing beneath it is a separate failure, not a
		// second cause to pull in through checkout-api.
		name: "a cause joins only beneath a root-cause candidate",
		alerts: []alert{
			{0, 0, firing, []string{"alertname=PostgresDown", "service=payments-db"}},
			{10 * time.Second, 0, firing, []string{"alertname=HighErrorRate", "service=checkout-api"}},
			{20 * time.Second, 0, firing, []string{"alertname=OOMKilled", "namespace=shop", "pod=cart-7f9"}},
		},
		open:        2,
		explanation: "opened a new incident",
	}, {
		name: "beneath the candidate it joins",
		alerts: []alert{
			{0, 0, firing, []string{"alertname=HighErrorRate", "service=checkout-api"}},
			{20 * time.Second, 0, firing, []string{"alertname=OOMKilled", "namespace=shop", "pod=cart-7f9"}},
		},
		open:        1,
		explanation: "joined INC-1: checkout-api runs_on shop/cart-7f9, 1 hop",
		rootCause:   "shop/cart-7f9",
	}, {
		// payments-db resolved: only blog-web, still firing, attracts.
		name: "only firing CIs attract",
		alerts: []alert{
			{0, 0, firing, []string{"alertname=PostgresDown", "service=payments-db"}},
			{10 * time.Second, 0, firing, []string{"alertname=Slow", "service=blog-web"}},
			{time.Minute, 0, resolved, []string{"alertname=PostgresDown", "service=payments-db"}},
			{2 * time.Minute, 0, firing, []string{"alertname=HostDown", "instance=db-host-1:9100"}},
		},
		open:        1,
		explanation: "joined INC-1: payments-db runs_on db-host-1, blog-web depends_on payments-db, 2 hops",
		rootCause:   "db-host-1",
	}, {
		// Past the flap window and the correlation window, a re-fire is
		// placed through the CMDB, not back into its resolved incident.
		name: "a late re-fire opens a new incident",
		alerts: []alert{
			{0, 0, firing, []string{"alertname=Slow", "service=blog-web"}},
			{time.Minute, 0, resolved, []string{"alertname=Slow", "service=blog-web"}},
			{21 * time.Minute, 21 * time.Minute, firing, []string{"alertname=Slow", "service=blog-web"}},
		},
		open:        1,
		explanation: "opened a new incident",
	}, {
		// The container and the database both have nothing alerting
		// beneath them; the database explains more (checkout-api and
		// blog-web need it), so it is the root cause although the
		// container fired first.
		name: "the candidate explaining the most failures is the root cause",
		alerts: []alert{
			{0, 0, firing, []string{"alertname=OOMKilled", "namespace=shop", "pod=cart-7f9"}},
			{10 * time.Second, 0, firing, []string{"alertname=PostgresDown", "service=payments-db"}},
			{20 * time.Second, 0, firing, []string{"alertname=HighErrorRate", "service=checkout-api"}},
			{30 * time.Second, 0, firing, []string{"alertname=Slow", "service=blog-web"}},
		},
		open:      1,
		rootCause: "payments-db",
	}}
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := newEnv(t, b)
				for _, a := range tt.alerts {
					e.sendStarting(a.at, a.started, a.status, a.labels...)
				}
				open := e.open()
				if len(open) != tt.open {
					t.Fatalf("%d open incidents, want %d", len(open), tt.open)
				}
				last := tt.alerts[len(tt.alerts)-1]
				got, err := e.s.Alerts(context.Background(), store.AlertFilter{Limit: 50})
				if err != nil {
					t.Fatal(err)
				}
				fp := incident.Fingerprint(labelMap(last.labels))
				var explanation string
				for _, a := range got {
					if a.Fingerprint == fp && a.Current {
						explanation = a.Explanation
					}
				}
				if !strings.Contains(explanation, tt.explanation) {
					t.Errorf("last alert: %q, want it to say %q", explanation, tt.explanation)
				}
				if tt.rootCause != "" && open[0].RootCause != tt.rootCause {
					t.Errorf("root cause %q (%s), want %q", open[0].RootCause, open[0].Correlation.RootCauseReason, tt.rootCause)
				}
			})
		}
	})
}

func labelMap(labels []string) map[string]string {
	l := map[string]string{}
	for _, kv := range labels {
		k, v, _ := strings.Cut(kv, "=")
		l[k] = v
	}
	return l
}
