package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

// pages records the webhook notifications a daemon sends.
type pages struct {
	mu  sync.Mutex
	got []notify.WebhookPayload
}

func (p *pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var pl notify.WebhookPayload
	body, _ := io.ReadAll(r.Body)
	if json.Unmarshal(body, &pl) == nil {
		p.mu.Lock()
		p.got = append(p.got, pl)
		p.mu.Unlock()
	}
}

// wait returns once n notifications arrived, or fails after 10 s.
func (p *pages) wait(t *testing.T, n int) []notify.WebhookPayload {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		p.mu.Lock()
		got := append([]notify.WebhookPayload(nil), p.got...)
		p.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d notifications after 10s, want %d", len(got), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDaemonPagesAndReloadsEscalation runs the engine inside the daemon:
// an alert pages the on-call user through a webhook, the engine's state
// shows in the incident, and a reload switches the route to another user.
func TestDaemonPagesAndReloadsEscalation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		rec := &pages{}
		hook := httptest.NewServer(rec)
		defer hook.Close()
		dsn := storetest.DSN(t, b)
		config := func(user string) string {
			return "storage: {dsn: '" + dsn + `'}
log: {level: error}
oncall:
  users:
    - {id: alice, timezone: UTC, contacts: [{notifier: hook}]}
    - {id: bob, timezone: UTC, contacts: [{notifier: hook}]}
  escalation_policies:
    - {id: p, levels: [{targets: ["user:` + user + `"], timeout: 1h}]}
  routes:
    - {policy: p}
notifiers:
  - {name: hook, type: webhook, url: "` + hook.URL + `"}
`
		}
		url, file := daemontest.Start(t, config("alice"))
		postAlerts(t, url, `[{"labels":{"alertname":"A","service":"x"}}]`)
		if got := rec.wait(t, 1); got[0].Event != notify.EventTrigger || got[0].Recipient == nil || got[0].Recipient.User != "alice" || got[0].Incident.ID != "INC-1" {
			t.Fatalf("first page: %+v", got[0])
		}
		resp, err := http.Get(url + "/api/v1/incidents/INC-1")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `"escalation":{"policy":"p"`) {
			t.Errorf("incident detail without escalation: %s", body)
		}
		// The PagerDuty webhook is refused without its secret.
		resp, err = http.Post(url+"/api/v1/hooks/pagerduty", "application/json", strings.NewReader("{}"))
		if err != nil || resp.StatusCode != 404 {
			t.Errorf("PagerDuty webhook without a secret: %v %v", resp.StatusCode, err)
		}

		if err := os.WriteFile(file, []byte(config("bob")), 0o600); err != nil {
			t.Fatal(err)
		}
		resp, err = http.Post(url+"/-/reload", "", nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("reload: %v %v", resp, err)
		}
		postAlerts(t, url, `[{"labels":{"alertname":"B","service":"x"}}]`)
		if got := rec.wait(t, 2); got[1].Recipient == nil || got[1].Recipient.User != "bob" || got[1].Incident.ID != "INC-2" {
			t.Fatalf("page after the reload: %+v", got[1])
		}
		// The sender counts a page once the receiver has answered it, a
		// moment after the receiver saw it: read until both counts show.
		want := []string{`incidentd_notifications_sent_total{notifier="hook",type="webhook"} 2`, `incidentd_escalation_level_reached_total{level="1",policy="p"} 2`}
		var metrics string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			resp, err = http.Get(url + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			metrics = string(body)
			if strings.Contains(metrics, want[0]) && strings.Contains(metrics, want[1]) || time.Now().After(deadline) {
				break
			}
		}
		for _, m := range want {
			if !strings.Contains(metrics, m) {
				t.Errorf("metrics lack %s", m)
			}
		}
	})
}

// TestSIGKILLMidEscalationLosesAndDuplicatesNothing kills the daemon right
// after the first page, restarts it on the same store, and checks that the
// escalation carries on from the store: the next level is paged, an
// acknowledgement and a resolution notify everyone paged, and every
// notification is delivered under one identity. Delivery is at least once:
// a page sent just before the kill may be sent again, but only under the
// same delivery id, which receivers use to drop it.
func TestSIGKILLMidEscalationLosesAndDuplicatesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		rec := &pages{}
		hook := httptest.NewServer(rec)
		defer hook.Close()
		file := t.TempDir() + "/incidentd.yml"
		config := `log: {level: info}
oncall:
  users:
    - {id: alice, timezone: UTC, contacts: [{notifier: hook}]}
    - {id: bob, timezone: UTC, contacts: [{notifier: hook}]}
  escalation_policies:
    - {id: p, levels: [{targets: ["user:alice"], timeout: 2s}, {targets: ["user:bob"], timeout: 1h}]}
  routes:
    - {policy: p}
notifiers:
  - {name: hook, type: webhook, url: "` + hook.URL + `"}
`
		if err := os.WriteFile(file, []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
		dsn := storetest.DSN(t, b)
		cmd, url := startDaemonWith(t, file, dsn)
		postAlerts(t, url, `[{"labels":{"alertname":"A","service":"x"}}]`)
		rec.wait(t, 1)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()

		// Level 1 is due two seconds after level 0, on the store's timer.
		_, url = startDaemonWith(t, file, dsn)
		distinct := func() map[string]notify.WebhookPayload {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			out := map[string]notify.WebhookPayload{}
			for _, p := range rec.got {
				out[p.ID] = p
			}
			return out
		}
		waitDistinct := func(n int) map[string]notify.WebhookPayload {
			t.Helper()
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if d := distinct(); len(d) >= n {
					return d
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d distinct notifications, want %d: %+v", len(distinct()), n, distinct())
				}
			}
		}
		waitDistinct(2)
		resp, err := http.Post(url+"/api/v1/incidents/INC-1/resolve", "application/json", strings.NewReader(`{"actor":"carol"}`))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("resolve: %v %v", resp, err)
		}
		resp.Body.Close()
		got := waitDistinct(4)
		var seen []string
		for _, p := range got {
			if p.Recipient == nil {
				t.Fatalf("notification without recipient: %+v", p)
			}
			seen = append(seen, string(p.Event)+" "+p.Recipient.User)
		}
		sort.Strings(seen)
		if want := []string{"escalate bob", "resolve alice", "resolve bob", "trigger alice"}; !slices.Equal(seen, want) {
			t.Fatalf("notifications %q, want %q", seen, want)
		}
		rec.mu.Lock()
		t.Logf("%d deliveries for %d notifications", len(rec.got), len(got))
		rec.mu.Unlock()
	})
}
