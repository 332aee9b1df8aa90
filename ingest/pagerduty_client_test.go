package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

// getJSON decodes a GET of the daemon's API.
func getJSON(t *testing.T, url string, out any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatal(err)
	}
}

// The go-pagerduty client, pointed at incidentd instead of PagerDuty by
// its endpoint option alone, triggers, acknowledges and resolves.
func TestPagerDutyClientDropIn(t *testing.T) {
	const routingKey = "R0UT1NGKEY0000000000000000000001"
	t.Setenv("INCIDENTD_SECRET_PD_CHECKOUT", routingKey)
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		url, _ := daemontest.Start(t, "storage:\n  dsn: "+storetest.DSN(t, b)+"\nlog:\n  level: error\n"+
			"integrations:\n  - {name: checkout-pd, type: pagerduty, routing_key: '${secret:pd_checkout}'}\n")
		client := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(url))

		resp, err := client.ManageEventWithContext(ctx, &pagerduty.V2Event{
			RoutingKey: routingKey, Action: "trigger",
			Payload: &pagerduty.V2Payload{
				Summary: "checkout p99 latency above 2s", Source: "checkout-1", Severity: "critical",
				Class: "latency", Component: "checkout", Group: "shop", Details: map[string]any{"p99_ms": 2310},
			},
			Links: []any{map[string]string{"href": "https://grafana.example.com/d/checkout", "text": "dashboard"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != "success" || resp.Message != "Event processed" || len(resp.DedupKey) != 32 {
			t.Fatalf("trigger answered %+v", resp)
		}
		dedup := resp.DedupKey

		var list api.IncidentList
		getJSON(t, url+"/api/v1/incidents", &list)
		if len(list.Incidents) != 1 || list.Incidents[0].Status != incident.StatusTriggered {
			t.Fatalf("incidents after trigger: %+v", list.Incidents)
		}
		id := strconv.FormatInt(list.Incidents[0].ID, 10)
		var detail api.IncidentDetail
		getJSON(t, url+"/api/v1/incidents/"+id, &detail)
		a := detail.Alerts[0]
		if a.Source != "checkout-pd" || a.Labels["alertname"] != "latency" || a.Labels["severity"] != "critical" ||
			a.Labels["component"] != "checkout" || a.Annotations["custom_details"] != `{"p99_ms":2310}` || a.Annotations["dedup_key"] != dedup {
			t.Fatalf("stored alert %+v", a)
		}

		// A repeat with the same dedup key is the same alert.
		if _, err := client.ManageEventWithContext(ctx, &pagerduty.V2Event{RoutingKey: routingKey, Action: "trigger", DedupKey: dedup,
			Payload: &pagerduty.V2Payload{Summary: "checkout p99 latency above 2s", Source: "checkout-1", Severity: "critical", Class: "latency"}}); err != nil {
			t.Fatal(err)
		}
		resp, err = client.ManageEventWithContext(ctx, &pagerduty.V2Event{RoutingKey: routingKey, Action: "acknowledge", DedupKey: dedup})
		if err != nil || resp.DedupKey != dedup {
			t.Fatalf("acknowledge: %+v %v", resp, err)
		}
		getJSON(t, url+"/api/v1/incidents/"+id, &detail)
		if detail.Status != incident.StatusAcknowledged || detail.AcknowledgedBy != "integration:checkout-pd" || len(detail.Alerts) != 1 {
			t.Fatalf("after acknowledge: status %s by %q, %d alerts", detail.Status, detail.AcknowledgedBy, len(detail.Alerts))
		}

		if _, err := client.ManageEventWithContext(ctx, &pagerduty.V2Event{RoutingKey: routingKey, Action: "resolve", DedupKey: dedup}); err != nil {
			t.Fatal(err)
		}
		getJSON(t, url+"/api/v1/incidents/"+id, &detail)
		if detail.Alerts[0].Status != incident.AlertResolved || detail.Status != incident.StatusResolved {
			t.Fatalf("after resolve: incident %s, alert %s", detail.Status, detail.Alerts[0].Status)
		}

		// PagerDuty's errors, as its client reads them.
		for _, tt := range []struct {
			name string
			ev   pagerduty.V2Event
			code int
		}{
			{"unknown routing key", pagerduty.V2Event{RoutingKey: "nope", Action: "trigger", Payload: &pagerduty.V2Payload{Summary: "s", Source: "h", Severity: "info"}}, 401},
			{"invalid severity", pagerduty.V2Event{RoutingKey: routingKey, Action: "trigger", Payload: &pagerduty.V2Payload{Summary: "s", Source: "h", Severity: "fatal"}}, 400},
		} {
			_, err := client.ManageEventWithContext(ctx, &tt.ev)
			var apiErr pagerduty.APIError
			if !errors.As(err, &apiErr) || apiErr.StatusCode != tt.code {
				t.Errorf("%s: error %v, want HTTP %d", tt.name, err, tt.code)
			}
		}
		getJSON(t, url+"/api/v1/incidents", &list)
		if len(list.Incidents) != 1 {
			t.Fatalf("rejected events opened incidents: %+v", list.Incidents)
		}
	})
}

// The daemon arms configured heartbeats at start and runs their timers: one
// never pinged raises HeartbeatMissing, and a ping resolves it.
func TestDaemonHeartbeatWiring(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		url, _ := daemontest.Start(t, "storage:\n  dsn: "+storetest.DSN(t, b)+"\nlog:\n  level: error\n"+
			"integrations:\n  - {name: cron-ping, type: heartbeat, interval: 2s}\n")
		alertStatus := func() incident.AlertStatus {
			var list api.AlertList
			getJSON(t, url+"/api/v1/alerts", &list)
			for _, a := range list.Alerts {
				if a.Labels["alertname"] == "HeartbeatMissing" && a.Labels["heartbeat"] == "cron-ping" {
					return a.Status
				}
			}
			return ""
		}
		waitFor := func(want incident.AlertStatus) {
			t.Helper()
			for deadline := time.Now().Add(15 * time.Second); alertStatus() != want; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("heartbeat alert not %q within 15s (is %q)", want, alertStatus())
				}
			}
		}
		waitFor(incident.AlertFiring)
		resp, err := http.Post(url+"/api/v1/heartbeats/cron-ping", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("ping: %d", resp.StatusCode)
		}
		if got := alertStatus(); got != incident.AlertResolved {
			t.Fatalf("after the ping answered 200 the alert is %q, want resolved", got)
		}
	})
}

// A reload applies new integrations and secrets; one whose secret cannot
// be resolved fails the reload and keeps those in use.
func TestDaemonReloadsIntegrations(t *testing.T) {
	t.Setenv("INCIDENTD_SECRET_AM_OLD", "old-token")
	t.Setenv("INCIDENTD_SECRET_AM_NEW", "new-token")
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		base := "storage:\n  dsn: " + storetest.DSN(t, b) + "\nlog:\n  level: error\n"
		url, file := daemontest.Start(t, base+"integrations:\n  - {name: am, type: alertmanager, secret: '${secret:am_old}'}\n")
		post := func(path, token string) int {
			t.Helper()
			req, _ := http.NewRequest(http.MethodPost, url+path, strings.NewReader(`{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"A"}}]}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		reload := func(cfg string) int {
			t.Helper()
			if err := os.WriteFile(file, []byte(base+cfg), 0o600); err != nil {
				t.Fatal(err)
			}
			resp, err := http.Post(url+"/-/reload", "", nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		if got := post("/api/v1/alerts/alertmanager", "old-token"); got != 200 {
			t.Fatalf("old token before reload: %d", got)
		}
		if got := reload("integrations:\n  - {name: am, type: alertmanager, secret: '${secret:am_missing}'}\n"); got != http.StatusInternalServerError {
			t.Fatalf("reload with a missing secret: %d, want 500", got)
		}
		if got := post("/api/v1/alerts/alertmanager", "old-token"); got != 200 {
			t.Fatalf("old token after a failed reload: %d", got)
		}
		if got := reload("integrations:\n  - {name: am2, type: alertmanager, secret: '${secret:am_new}'}\n"); got != http.StatusOK {
			t.Fatalf("reload: %d", got)
		}
		for _, tt := range []struct {
			path, token string
			want        int
		}{
			{"/api/v1/alerts/alertmanager", "old-token", 401},
			{"/api/v1/alerts/alertmanager", "new-token", 200},
			{"/api/v1/integrations/am2", "new-token", 200},
			{"/api/v1/integrations/am", "old-token", 404},
		} {
			if got := post(tt.path, tt.token); got != tt.want {
				t.Errorf("after reload, %s with %s: %d, want %d", tt.path, tt.token, got, tt.want)
			}
		}
	})
}
