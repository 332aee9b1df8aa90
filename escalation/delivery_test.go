package escalation_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/correlate"
	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

const deliveryConfig = `
priority: {default_impact: 1}
oncall:
  users:
    - {id: alice, timezone: UTC, contacts: [{notifier: hook, to: alice@example.com}]}
    - {id: bob, timezone: UTC, contacts: [{notifier: hook, to: bob@example.com}]}
    - {id: carol, timezone: UTC, contacts: [{notifier: limited, to: carol@example.com}]}
    - {id: dave, timezone: UTC, contacts: [{notifier: limited, to: dave@example.com}]}
  escalation_policies:
    - id: one
      levels: [{targets: [user:alice], timeout: 1h}]
    - id: two
      levels:
        - {targets: [user:alice], timeout: 5m}
        - {targets: [user:bob], timeout: 1h}
    - id: limited
      levels: [{targets: [user:carol, user:dave], timeout: 1h}]
  routes:
    - {match: '{team="one"}', policy: one}
    - {match: '{team="dbteam"}', policy: two}
    - {match: '{team="limited"}', policy: limited}
notifiers:
  - {name: hook, type: webhook, url: HOOK_URL}
  - {name: limited, type: webhook, url: HOOK_URL, rate: 1/m}
`

func TestDeliveryRetriesAndFailures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), deliveryConfig, escalation.Options{})

		// 400: permanent, visible, never retried.
		h.hook.answer(answer{status: 400})
		h.ingest(alert("alertname", "A", "service", "a", "team", "one", "severity", "critical"))
		h.minutes(10)
		h.wantPages()
		containsAll(t, "INC-1 timeline", h.messages(1, escalation.EventFailed),
			"trigger to alice by hook alice@example.com failed after 1 attempt: notify hook (webhook): HTTP 400 Bad Request (permanent)")
		if s := h.state(1); len(s.Notifications) != 1 || s.Notifications[0].State != "failed" || s.Notifications[0].Attempts != 1 {
			t.Errorf("notifications: %+v", s.Notifications)
		}

		// 429 with Retry-After: 30: retried 30 s later, not before.
		h.hook.answer(answer{status: 429, retryAfter: "30"})
		h.ingest(alert("alertname", "B", "service", "b", "team", "one", "severity", "critical"))
		start := h.clk.Now()
		h.advanceTo(start.Add(29 * time.Second))
		h.wantPages()
		h.advanceTo(start.Add(30 * time.Second))
		h.wantPages("10:10:30 trigger alice L0/o0")
		if s := h.state(2); s.Notifications[0].State != "sent" || s.Notifications[0].Attempts != 2 {
			t.Errorf("notification after the 429: %+v", s.Notifications[0])
		}

		// 5xx: retried with backoff until the last attempt, then failed.
		h.hook.answer(answer{status: 503}, answer{status: 503}, answer{status: 503}, answer{status: 503}, answer{status: 503})
		h.ingest(alert("alertname", "C", "service", "c", "team", "one", "severity", "critical"))
		for i := 0; i < 30; i++ {
			h.advance(10 * time.Second)
		}
		h.wantPages()
		containsAll(t, "INC-3 timeline", h.messages(3, escalation.EventFailed), "failed after 5 attempts: notify hook (webhook): HTTP 503 Service Unavailable")
		tm, err := h.st.Timers(h.ctx, store.TimerFilter{Prefix: "esc:3:notify:", States: []store.TimerState{store.TimerFailed}})
		if err != nil || len(tm) != 1 || tm[0].Attempts != 5 {
			t.Errorf("failed delivery timer: %+v %v", tm, err)
		}
	})
}

func TestRateLimitDefersDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), deliveryConfig, escalation.Options{})
		h.ingest(alert("alertname", "A", "service", "a", "team", "limited", "severity", "critical"))
		h.advanceTo(t0.Add(59 * time.Second))
		first := h.hook.take()
		h.advanceTo(t0.Add(time.Minute))
		second := h.hook.take()
		if len(first) != 1 || len(second) != 1 || !first[0].At.Equal(t0) || !second[0].At.Equal(t0.Add(time.Minute)) {
			t.Fatalf("pages: %v then %v; want one at 10:00:00 and one at 10:01:00", first, second)
		}
		users := []string{first[0].User, second[0].User}
		slices.Sort(users)
		if strings.Join(users, ",") != "carol,dave" {
			t.Errorf("paged %v, want carol and dave", users)
		}
	})
}

func TestMaintenanceHoldsPagesBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		corr := correlate.New(correlate.Options{})
		corr.SetGraph(cmdb.Build(&cmdb.Document{
			CIs:       []cmdb.CI{{ID: "shop", Class: cmdb.ClassBusinessService, Criticality: 1}, {ID: "db", Class: "database", Owner: "dbteam"}},
			Relations: []cmdb.Relation{{From: "shop", Type: cmdb.DependsOn, To: "db"}},
		}))
		var windows []cmdb.Window
		h := newHarness(t, storetest.Open(t, b), deliveryConfig, escalation.Options{
			CMDB:    corr,
			Windows: func(context.Context) ([]cmdb.Window, error) { return windows, nil },
		})
		h.policy.Topology = corr
		// The route matches team, which comes from the root cause's owner in
		// the CMDB, not from the alert.
		h.ingest(alert("alertname", "DBDown", "ci", "db", "severity", "critical"))
		h.wantPages("10:00:00 trigger alice L0/o0")
		h.advance(time.Minute)
		windows = []cmdb.Window{{CI: "db", Start: t0.Add(time.Minute), End: t0.Add(20 * time.Minute), Reason: "failover test"}}
		corr.SetMaintenance(windows)
		h.minutes(18)
		h.wantPages()
		containsAll(t, "timeline", h.messages(1, escalation.EventHeld),
			"level 2 not paged: in maintenance: db is in maintenance until 2026-03-02T10:20:00Z (failover test); paging resumes at 2026-03-02T10:20:00Z")
		h.minutes(1)
		h.wantPages("10:20:00 escalate bob L1/o0")
		containsAll(t, "timeline", h.messages(1, escalation.EventPaged), "level 2 (no longer held back): paging bob")
	})
}

// A page still pending when the incident resolves may already have reached
// its person (a 5xx after the receiver acted, or a process killed between
// sending and recording): the person gets the resolve too, and the page
// itself is not sent again for a resolved incident.
func TestResolveFollowsAPageThatMayHaveGone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), deliveryConfig, escalation.Options{})
		h.hook.answer(answer{status: http.StatusBadGateway})
		h.ingest(alert("alertname", "Down", "team", "one"))
		h.wantPages() // the 502 left alice's page pending, to retry in 10s
		h.act(1, incident.ActionResolve, "bob")
		h.advance(time.Minute)
		h.wantPages("10:00:00 resolve alice L0/o0")
		var states []string
		ns, err := h.st.IncidentNotifications(h.ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range ns {
			states = append(states, n.Event+":"+string(n.State))
		}
		slices.Sort(states)
		if want := []string{"resolve:sent", "trigger:cancelled"}; !slices.Equal(states, want) {
			t.Errorf("notifications %v, want %v", states, want)
		}
	})
}
