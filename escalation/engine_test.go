package escalation_test

import (
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

const baseConfig = `
priority: {default_impact: 1}
alerts: {flap_threshold: 2}
oncall:
  users:
    - {id: alice, timezone: UTC, contacts: [{notifier: hook, to: alice@example.com}]}
    - {id: bob, timezone: UTC, contacts: [{notifier: hook, to: bob@example.com}]}
    - {id: carol, timezone: UTC, contacts: [{notifier: hook, to: carol@example.com}]}
  schedules:
    - id: primary
      timezone: UTC
      layers:
        - rotation: {type: daily, handoff: "09:00"}
          start: 2026-01-05
          participants: [alice, bob]
  escalation_policies:
    - id: shop
      repeat: 1
      levels:
        - {targets: [schedule:primary], timeout: 5m}
        - {targets: [user:carol], timeout: 10m}
    - id: acker
      ack_timeout: 30m
      levels:
        - {targets: [user:alice], timeout: 5m}
  routes:
    - {match: '{team="shop"}', policy: shop}
    - {match: '{team="slow"}', policy: shop, delay: 2m}
    - {match: '{team="ack"}', policy: acker}
notifiers:
  - {name: hook, type: webhook, url: HOOK_URL}
`

// minutes advances the clock one minute at a time, n times, so that every
// page arrives at the minute it is due.
func (h *harness) minutes(n int) {
	h.t.Helper()
	for i := 0; i < n; i++ {
		h.advance(time.Minute)
	}
}

func TestEscalationRepeatsUntilExhausted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), baseConfig, escalation.Options{})
		h.ingest(alert("alertname", "Down", "service", "web", "team", "shop", "severity", "critical"))
		h.wantPages("10:00:00 trigger alice L0/o0")
		if s := h.state(1); s.State != escalation.StateActive || s.Policy != "shop" || s.Route != 1 || s.Level != 1 || !s.NextStepAt.Equal(t0.Add(5*time.Minute)) {
			t.Errorf("state after the first page: %+v", s)
		}
		h.minutes(40)
		h.wantPages(
			"10:05:00 escalate carol L1/o0",
			"10:15:00 escalate alice L0/o1",
			"10:20:00 escalate carol L1/o1",
		)
		if s := h.state(1); s.State != escalation.StateExhausted || !s.NextStepAt.IsZero() {
			t.Errorf("state at the end: %+v", s)
		}
		containsAll(t, "timeline", h.messages(1, escalation.EventPaged),
			"level 1 (round 1 of 2): paging alice by hook alice@example.com (schedule:primary)",
			"level 2 (round 2 of 2): paging carol by hook carol@example.com (user:carol)")
		if ex := h.timeline(1, escalation.EventExhausted); len(ex) != 1 || !ex[0].At.Equal(t0.Add(30*time.Minute)) {
			t.Errorf("exhausted events: %+v, want one at 10:30", ex)
		}
		if n := len(h.timeline(1, escalation.EventSent)); n != 4 {
			t.Errorf("%d notification.sent events, want 4", n)
		}
	})
}

func TestAcknowledgeStopsEscalationAndResolveTellsEveryonePaged(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), baseConfig, escalation.Options{})
		labels := []string{"alertname", "Down", "service", "web", "team", "shop", "severity", "critical"}
		h.ingest(alert(labels...))
		h.minutes(6)
		h.wantPages("10:00:00 trigger alice L0/o0", "10:05:00 escalate carol L1/o0")
		h.act(1, incident.ActionAcknowledge, "carol")
		h.wantPages("10:06:00 acknowledge alice L0/o0", "10:06:00 acknowledge carol L1/o0")
		h.minutes(60)
		h.wantPages()
		if s := h.state(1); s.State != escalation.StateAcknowledged || !s.NextStepAt.IsZero() {
			t.Errorf("state after ack: %+v", s)
		}
		containsAll(t, "timeline", h.messages(1, escalation.EventStopped), "acknowledged by carol: escalation stopped at level 2")
		pending, err := h.st.Timers(h.ctx, store.TimerFilter{Prefix: "esc:1:step:", States: []store.TimerState{store.TimerPending}})
		if err != nil || len(pending) != 0 {
			t.Errorf("pending step timers after ack: %+v %v", pending, err)
		}

		// The alert resolves: so does the incident, and everyone paged hears.
		h.ingest(resolvedAlert(labels...))
		h.wantPages("11:06:00 resolve alice L0/o0", "11:06:00 resolve carol L1/o0")
		if s := h.state(1); s.State != escalation.StateResolved {
			t.Errorf("state after resolve: %+v", s)
		}
		containsAll(t, "timeline", h.messages(1, escalation.EventStopped), "resolved: escalation stopped")
	})
}

func TestAckTimeoutTriggersAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), baseConfig, escalation.Options{})
		h.ingest(alert("alertname", "Down", "service", "api", "team", "ack", "severity", "critical"))
		h.advance(2 * time.Minute)
		h.act(1, incident.ActionAcknowledge, "alice")
		h.wantPages("10:00:00 trigger alice L0/o0", "10:02:00 acknowledge alice L0/o0")
		if s := h.state(1); !s.NextStepAt.Equal(t0.Add(32 * time.Minute)) {
			t.Errorf("next step %v, want the ack timeout at 10:32", s.NextStepAt)
		}
		h.advanceTo(t0.Add(32*time.Minute - time.Second))
		h.wantPages()
		if inc := h.incident(1); inc.Status != incident.StatusAcknowledged {
			t.Fatalf("status %s before the ack timeout", inc.Status)
		}
		h.advanceTo(t0.Add(32 * time.Minute))
		// Triggered again: a new run pages level 1 at once, as a trigger.
		h.wantPages("10:32:00 trigger alice L0/o0")
		inc := h.incident(1)
		if inc.Status != incident.StatusTriggered || inc.AcknowledgedBy != "" {
			t.Fatalf("after the ack timeout: %s by %q", inc.Status, inc.AcknowledgedBy)
		}
		if s := h.state(1); s.Run != 2 || s.State != escalation.StateActive {
			t.Errorf("state: %+v, want run 2 active", s)
		}
		containsAll(t, "timeline", h.messages(1, escalation.EventRetriggered), "acknowledged by alice but not resolved within 30m0s: triggered again")
		// It can be acknowledged again, and then it is quiet.
		h.act(1, incident.ActionAcknowledge, "alice")
		h.wantPages("10:32:00 acknowledge alice L0/o0")
		h.advance(10 * time.Minute)
		h.act(1, incident.ActionResolve, "alice")
		h.wantPages("10:42:00 resolve alice L0/o0")
		h.advance(time.Hour)
		h.wantPages()
	})
}

func TestDelayPagesOnlyIfStillTriggered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), baseConfig, escalation.Options{})
		quick := []string{"alertname", "Blip", "service", "web", "team", "slow", "severity", "critical"}
		h.ingest(alert(quick...))
		if s := h.state(1); s.State != escalation.StateDelayed || !s.NextStepAt.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("state during the delay: %+v", s)
		}
		h.advance(time.Minute)
		h.ingest(resolvedAlert(quick...)) // resolves itself within the delay
		h.minutes(10)
		h.wantPages()
		containsAll(t, "timeline", h.messages(1, escalation.EventStopped), "resolved before level 1 was paged: nobody is paged")

		h.ingest(alert("alertname", "Outage", "service", "db", "team", "slow", "severity", "critical"))
		start := h.clk.Now()
		h.advanceTo(start.Add(2*time.Minute - time.Second))
		h.wantPages()
		h.advanceTo(start.Add(2 * time.Minute))
		h.wantPages("10:13:00 trigger alice L0/o0")
		containsAll(t, "timeline", h.messages(2, escalation.EventStarted), "level 1 is paged in 2m0s if the incident is still triggered then")
	})
}

func TestUnroutedAndFlappingDoNotPage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), baseConfig, escalation.Options{})
		h.ingest(alert("alertname", "Noise", "service", "x", "team", "nobody", "severity", "critical"))
		h.minutes(10)
		h.wantPages()
		containsAll(t, "timeline", h.messages(1, escalation.EventUnrouted), `no escalation route matches {alertname="Noise", priority="P1", service="x", severity="critical", team="nobody"}: nobody is paged`)
		if s := h.state(1); s.State != escalation.StateUnrouted || len(s.Notifications) != 0 {
			t.Errorf("unrouted state: %+v", s)
		}

		// A flap within the flap window reopens the incident: the first one
		// pages again; at the flap threshold (2) the alert is flapping and
		// re-fires no longer page.
		flappy := []string{"alertname", "Flappy", "service", "web", "team", "shop", "severity", "critical"}
		h.ingest(alert(flappy...))
		h.wantPages("10:10:00 trigger alice L0/o0")
		h.advance(time.Minute)
		h.ingest(resolvedAlert(flappy...))
		h.wantPages("10:11:00 resolve alice L0/o0")
		h.advance(time.Minute)
		h.ingest(alert(flappy...)) // flap 1: reopens, pages again
		h.wantPages("10:12:00 trigger alice L0/o0")
		h.advance(time.Minute)
		h.ingest(resolvedAlert(flappy...))
		h.wantPages("10:13:00 resolve alice L0/o0")
		h.advance(time.Minute)
		h.ingest(alert(flappy...)) // flap 2: flapping now
		h.minutes(30)
		h.wantPages()
		containsAll(t, "timeline", h.messages(2, escalation.EventFlapping), "not paging again: alert Flappy that reopened the incident is flapping")
		if s := h.state(2); s.State != escalation.StateFlapping {
			t.Errorf("state: %+v", s)
		}
	})
}

func TestSilencesHoldPagesBack(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), baseConfig, escalation.Options{})
		for _, bad := range []escalation.SilenceRequest{
			{Matchers: `{}`, End: t0.Add(time.Hour), CreatedBy: "bob"},
			{Matchers: `{team=~".*"}`, End: t0.Add(time.Hour), CreatedBy: "bob"},
			{Matchers: `{team="shop"`, End: t0.Add(time.Hour), CreatedBy: "bob"},
			{Matchers: `{team="shop"}`, End: t0.Add(-time.Minute), Start: t0.Add(-time.Hour), CreatedBy: "bob"},
			{Matchers: `{team="shop"}`, End: t0.Add(time.Hour)},
		} {
			if _, err := h.eng.AddSilence(h.ctx, bad); err == nil {
				t.Errorf("silence %+v accepted", bad)
			}
		}
		sil, err := h.eng.AddSilence(h.ctx, escalation.SilenceRequest{Matchers: `team="shop", service="web"`, End: t0.Add(time.Hour), Comment: "deploy", CreatedBy: "bob"})
		if err != nil {
			t.Fatal(err)
		}
		if sil.Matchers != `{team="shop",service="web"}` {
			t.Errorf("stored matchers %q", sil.Matchers)
		}
		h.ingest(alert("alertname", "Down", "service", "web", "team", "shop", "severity", "critical"))
		h.ingest(alert("alertname", "Down", "service", "db", "team", "shop", "severity", "critical"))
		h.wantPages("10:00:00 trigger alice L0/o0") // INC-2 only
		s := h.state(1)
		if s.State != escalation.StateHeld || !strings.Contains(s.Held, "silence 1") || !s.NextStepAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("held state: %+v", s)
		}
		containsAll(t, "timeline", h.messages(1, escalation.EventHeld), `level 1 not paged: silenced by silence 1 {team="shop",service="web"} (deploy); paging resumes at 2026-03-02T11:00:00Z`)
		h.advanceTo(t0.Add(59 * time.Minute))
		h.hook.take() // INC-2's escalation
		h.advanceTo(t0.Add(time.Hour))
		var inc1 []page
		for _, p := range h.hook.take() {
			if p.Inc == "INC-1" {
				inc1 = append(inc1, p)
			}
		}
		if len(inc1) != 1 || inc1[0].Event != "trigger" || !inc1[0].At.Equal(t0.Add(time.Hour)) {
			t.Errorf("INC-1 pages when the silence ended: %v", inc1)
		}
		if n := len(h.timeline(1, escalation.EventHeld)); n != 1 {
			t.Errorf("%d held events, want 1 (said once)", n)
		}

		// Expiring a silence early pages at once what it held back.
		h.ingest(alert("alertname", "Down", "service", "cache", "team", "other-shop", "severity", "critical")) // unrouted INC-3
		sil2, err := h.eng.AddSilence(h.ctx, escalation.SilenceRequest{Matchers: `{service="queue"}`, End: t0.Add(5 * time.Hour), CreatedBy: "bob"})
		if err != nil {
			t.Fatal(err)
		}
		h.ingest(alert("alertname", "Down", "service", "queue", "team", "shop", "severity", "critical"))
		h.advance(10 * time.Minute)
		for _, p := range h.hook.take() {
			if p.Inc == "INC-4" {
				t.Errorf("silenced INC-4 paged: %v", p)
			}
		}
		if _, err := h.eng.ExpireSilence(h.ctx, sil2.ID); err != nil {
			t.Fatal(err)
		}
		h.settle()
		got := h.hook.take()
		if len(got) != 1 || got[0].Inc != "INC-4" || !got[0].At.Equal(h.clk.Now()) {
			t.Errorf("after expiring the silence: %v, want INC-4 paged now", got)
		}
		active, _ := h.eng.Silences(h.ctx, false)
		all, _ := h.eng.Silences(h.ctx, true)
		if len(active) != 0 || len(all) != 2 {
			t.Errorf("silences: %d active, %d in all; want 0 and 2", len(active), len(all))
		}
	})
}
