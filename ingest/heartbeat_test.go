package ingest

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/timers"
)

const heartbeatYAML = `integrations:
  - name: nightly-backup
    type: heartbeat
    interval: 5m
    secret: ${secret:hb_token}
    labels: {team: ops, severity: critical}
`

// A heartbeat not pinged within its interval opens an alert through the
// normal ingest path, and the next ping resolves it; the deadline is a
// durable timer, so a restarted daemon keeps it.
func TestHeartbeatMissedOpensAlertAndPingResolvesIt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		st := storetest.Open(t, b)
		t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
		clk := clock.NewFake(t0)
		start := func() (*timers.Scheduler, integrationServer) {
			hb := NewHeartbeats(st, clk, nil)
			sch := timers.New(st, clk, timers.Options{})
			sch.Handle(HeartbeatTimerKind, hb.Fire)
			srv := newIntegrationServer(t, st, heartbeatYAML, map[string]string{"hb_token": "t0ken"}, HandlerOptions{Clock: clk, Heartbeats: hb})
			return sch, srv
		}
		sch, srv := start()
		token := http.Header{"Authorization": {"Bearer t0ken"}}
		url := srv.url + "/api/v1/heartbeats/nightly-backup"
		runDue := func(want int) {
			t.Helper()
			if n, err := sch.RunDue(ctx); err != nil || n != want {
				t.Fatalf("at %s: %d timers fired (%v), want %d", clk.Now().Sub(t0), n, err, want)
			}
		}
		alert := func() *incident.Alert {
			t.Helper()
			as, err := st.Alerts(ctx, store.AlertFilter{Fingerprint: heartbeatFingerprint("nightly-backup"), Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range as {
				if a.Current {
					return a
				}
			}
			return nil
		}
		pending := func() []store.Timer {
			t.Helper()
			ts, err := st.Timers(ctx, store.TimerFilter{Prefix: heartbeatPrefix("nightly-backup"), States: []store.TimerState{store.TimerPending}})
			if err != nil {
				t.Fatal(err)
			}
			return ts
		}

		if got := send(t, url, nil, ""); got.code != http.StatusUnauthorized {
			t.Fatalf("ping without the secret: %d", got.code)
		}
		if got := send(t, srv.url+"/api/v1/heartbeats/other", token, ""); got.code != http.StatusNotFound {
			t.Fatalf("unknown heartbeat: %d", got.code)
		}
		// Armed at start: one pending deadline an interval away.
		if p := pending(); len(p) != 1 || !p[0].Due.Equal(t0.Add(5*time.Minute)) {
			t.Fatalf("pending after start: %+v", p)
		}
		clk.Advance(time.Minute)
		// Any body and content type: Alertmanager's Watchdog posts its JSON.
		if got := send(t, url, http.Header{"Authorization": {"Bearer t0ken"}, "Content-Type": {"text/plain"}}, `{"version":"4","alerts":[]}`); got.code != http.StatusOK {
			t.Fatalf("ping: %d %s", got.code, got.body)
		}
		if p := pending(); len(p) != 1 || !p[0].Due.Equal(t0.Add(6*time.Minute)) {
			t.Fatalf("pending after the ping: %+v", p)
		}
		clk.Set(t0.Add(5 * time.Minute))
		runDue(0)
		if a := alert(); a != nil {
			t.Fatalf("alert before the deadline: %+v", a)
		}

		clk.Set(t0.Add(6 * time.Minute))
		runDue(1)
		a := alert()
		if a == nil || a.Status != incident.AlertFiring || a.IncidentID == 0 {
			t.Fatalf("after the deadline: %+v, want a firing alert in an incident", a)
		}
		want := map[string]string{"alertname": "HeartbeatMissing", "heartbeat": "nightly-backup", "team": "ops", "severity": "critical"}
		if len(a.Labels) != len(want) || a.Labels["alertname"] != want["alertname"] || a.Labels["heartbeat"] != want["heartbeat"] || a.Labels["team"] != "ops" {
			t.Fatalf("labels %v, want %v", a.Labels, want)
		}
		if !a.StartsAt.Equal(t0.Add(6*time.Minute)) || a.Source != "nightly-backup" {
			t.Fatalf("starts %v source %q", a.StartsAt, a.Source)
		}
		if p := pending(); len(p) != 0 {
			t.Fatalf("pending after firing: %+v", p)
		}
		// Still missing: nothing more fires.
		clk.Advance(time.Hour)
		runDue(0)

		if got := send(t, url+"?token=t0ken", nil, ""); got.code != http.StatusOK {
			t.Fatalf("ping: %d %s", got.code, got.body)
		}
		if a := alert(); a == nil || a.Status != incident.AlertResolved {
			t.Fatalf("after the ping: %+v, want resolved", a)
		}
		back := clk.Now()
		if p := pending(); len(p) != 1 || !p[0].Due.Equal(back.Add(5*time.Minute)) {
			t.Fatalf("pending after it came back: %+v", p)
		}

		// A restart: new scheduler and watcher on the same store. Arming
		// again adds no second deadline, and the old one still fires.
		sch, _ = start()
		if p := pending(); len(p) != 1 {
			t.Fatalf("pending after restart: %+v", p)
		}
		clk.Set(back.Add(5 * time.Minute))
		runDue(1)
		if a := alert(); a == nil || a.Status != incident.AlertFiring {
			t.Fatalf("after the restart's deadline: %+v, want it firing again", a)
		}
	})
}

// A ping that moves the deadline while its timer is already claimed makes
// the firing a no-op.
func TestHeartbeatFiringAfterAPingDoesNothing(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	hb := NewHeartbeats(st, clk, nil)
	cs := &countingStore{}
	list, err := parseIntegrations(t, "test.yml", []byte("integrations:\n  - {name: hb, type: heartbeat, interval: 1m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := hb.SetConfig(ctx, list); err != nil {
		t.Fatal(err)
	}
	c := NewCommitter(cs, incidentPolicy(), CommitterOptions{Clock: clk})
	defer c.Close()
	hb.SetCommitter(c)
	ts, err := st.Timers(ctx, store.TimerFilter{Prefix: heartbeatPrefix("hb")})
	if err != nil || len(ts) != 1 {
		t.Fatal(ts, err)
	}
	claimed := ts[0] // as the scheduler would hand it over
	clk.Advance(time.Minute)
	if err := hb.Ping(ctx, "hb"); err != nil {
		t.Fatal(err)
	}
	if err := hb.Fire(ctx, claimed); err != nil {
		t.Fatal(err)
	}
	if got := cs.got(); len(got) != 0 {
		t.Fatalf("a firing overtaken by a ping committed %+v", got)
	}
}

func incidentPolicy() *atomic.Pointer[incident.Policy] {
	p := incident.DefaultPolicy()
	var policy atomic.Pointer[incident.Policy]
	policy.Store(&p)
	return &policy
}
