package escalation_test

import (
	"testing"
	"time"

	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

const slaConfig = `
priority: {default_impact: 1}
oncall:
  users:
    - {id: alice, timezone: UTC, contacts: [{notifier: hook, to: alice@example.com}]}
    - {id: bob, timezone: UTC, contacts: [{notifier: hook, to: bob@example.com}]}
  escalation_policies:
    - id: slow
      levels:
        - {targets: [user:alice], timeout: 30m}
        - {targets: [user:bob], timeout: 30m}
    - id: quick
      repeat: 1
      levels:
        - {targets: [user:alice], timeout: 5m}
        - {targets: [user:bob], timeout: 5m}
    - id: weekly
      levels:
        - {targets: [user:alice], timeout: 7d}
        - {targets: [user:bob], timeout: 7d}
  routes:
    - {match: '{team=~"shop|notify"}', policy: slow}
    - {match: '{team="desk"}', policy: weekly}
    - {match: '{team="quick"}', policy: quick}
sla:
  calendars:
    - {id: business, timezone: Europe/Berlin, hours: {"Mon-Fri": "08:00-18:00"}}
  policies:
    - match: '{team=~"shop|desk|quick"}'
      targets:
        P1: {acknowledge: 5m, resolve: 1h}
        P3: {acknowledge: 1h, resolve: 3d, calendar: business}
      warn_at: [0.5]
      on_breach: escalate
    - match: '{team="notify"}'
      targets: {P1: {acknowledge: 5m}}
      on_breach: notify
notifiers:
  - {name: hook, type: webhook, url: HOOK_URL}
`

// slaEvents lists incident id's SLA events as "HH:MM:SS kind message".
func (h *harness) slaEvents(id int64) []string {
	var out []string
	for _, ev := range h.timeline(id, escalation.EventSLAWarning, escalation.EventSLABreached) {
		out = append(out, ev.At.UTC().Format("15:04:05")+" "+ev.Kind+" "+ev.Message)
	}
	return out
}

func (h *harness) wantSLAEvents(id int64, want ...string) {
	h.t.Helper()
	got := h.slaEvents(id)
	if len(got) != len(want) {
		h.t.Errorf("SLA events of INC-%d:\n%v\nwant:\n%v", id, got, want)
		return
	}
	for i := range want {
		if got[i] != want[i] {
			h.t.Errorf("SLA event %d of INC-%d:\n%s\nwant:\n%s", i, id, got[i], want[i])
		}
	}
}

// steps advances the clock by step until it has moved by d.
func (h *harness) steps(d, step time.Duration) {
	h.t.Helper()
	for moved := time.Duration(0); moved < d; moved += step {
		h.advance(step)
	}
}

func TestSLAWarnsBreachesAndEscalates(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), slaConfig, escalation.Options{})
		h.ingest(alert("alertname", "Down", "service", "web", "team", "shop", "severity", "critical"))
		h.steps(10*time.Minute, 30*time.Second)
		// The breach of the acknowledge clock escalates to level 2 at
		// 10:05 instead of at level 1's timeout (10:30).
		h.wantPages("10:00:00 trigger alice L0/o0", "10:05:00 escalate bob L1/o0")
		h.wantSLAEvents(1,
			"10:02:30 sla.warning acknowledge SLA (P1, 5m0s): 50% of the target used at 2026-03-02T10:02:30Z",
			"10:05:00 sla.breached acknowledge SLA (P1, 5m0s) breached at 2026-03-02T10:05:00Z; escalating to level 2 now")
		h.act(1, incident.ActionAcknowledge, "bob")
		h.wantPages("10:10:00 acknowledge alice L0/o0", "10:10:00 acknowledge bob L1/o0")
		// The resolve clock keeps running while acknowledged; its breach is
		// reported, and nobody more is paged (escalation stopped at the ack).
		h.steps(55*time.Minute, time.Minute)
		h.wantPages()
		h.wantSLAEvents(1,
			"10:02:30 sla.warning acknowledge SLA (P1, 5m0s): 50% of the target used at 2026-03-02T10:02:30Z",
			"10:05:00 sla.breached acknowledge SLA (P1, 5m0s) breached at 2026-03-02T10:05:00Z; escalating to level 2 now",
			"10:30:00 sla.warning resolve SLA (P1, 1h0m0s): 50% of the target used at 2026-03-02T10:30:00Z",
			"11:00:00 sla.breached resolve SLA (P1, 1h0m0s) breached at 2026-03-02T11:00:00Z")
		s := h.state(1)
		if len(s.SLA) != 2 || s.SLA[0].Kind != "acknowledge" || s.SLA[0].State != "breached" || s.SLA[1].State != "breached" ||
			s.SLA[1].ElapsedSeconds != 65*60 || s.SLA[1].RemainingSeconds != -5*60 {
			t.Errorf("clocks: %+v", s.SLA)
		}
	})
}

func TestSLABreachNotifiesAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), slaConfig, escalation.Options{})
		h.ingest(alert("alertname", "Down", "service", "web", "team", "notify", "severity", "critical"))
		h.minutes(29)
		h.wantPages("10:00:00 trigger alice L0/o0", "10:05:00 escalate alice L0/o0")
		// Level 1's timeout still runs from its first page.
		h.minutes(1)
		h.wantPages("10:30:00 escalate bob L1/o0")
		containsAll(t, "timeline", h.messages(1, escalation.EventPaged), "level 1 again: paging alice")
	})
}

// setStatus changes an incident's status as a part of incidentd that the
// engine does not know would (a runbook putting it on hold), with an
// event of a kind the engine does not know.

func TestSLAResolveClockPausesOnHold(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), slaConfig, escalation.Options{})
		h.ingest(alert("alertname", "Down", "service", "web", "team", "shop", "severity", "critical"))
		h.advance(time.Minute)
		h.act(1, incident.ActionAcknowledge, "alice")
		h.advanceTo(t0.Add(10 * time.Minute))
		h.act(1, incident.ActionHold, "alice")
		s := h.state(1)
		if s.SLA[1].Kind != "resolve" || s.SLA[1].State != "paused" || !s.SLA[1].Due.IsZero() || s.SLA[1].ElapsedSeconds != 600 {
			t.Errorf("resolve clock on hold: %+v", s.SLA[1])
		}
		// The warning was due at 10:30; on hold, nothing fires.
		h.steps(30*time.Minute, time.Minute)
		h.wantSLAEvents(1)
		h.act(1, incident.ActionResume, "alice")
		// 10 minutes ran before the hold: the rest runs from 10:40.
		if s := h.state(1); s.SLA[1].State != "running" || !s.SLA[1].Due.Equal(t0.Add(90*time.Minute)) {
			t.Errorf("resolve clock after the hold: %+v", s.SLA[1])
		}
		h.steps(50*time.Minute, time.Minute)
		h.wantSLAEvents(1,
			"11:00:00 sla.warning resolve SLA (P1, 1h0m0s): 50% of the target used at 2026-03-02T11:00:00Z",
			"11:30:00 sla.breached resolve SLA (P1, 1h0m0s) breached at 2026-03-02T11:30:00Z")
	})
}

func TestSLABusinessHoursAndReprioritisation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), slaConfig, escalation.Options{})
		// Friday 2026-03-06 17:30 in Berlin (16:30 UTC): a P3 with a 1h
		// business-hours acknowledge target.
		fri := time.Date(2026, 3, 6, 16, 30, 0, 0, time.UTC)
		h.clk.Set(fri)
		h.ingest(alert("alertname", "Slow", "service", "desk", "team", "desk", "severity", "minor", "instance", "a"))
		if p := h.incident(1).Priority; p != 3 {
			t.Fatalf("priority P%d, want P3", p)
		}
		h.advanceTo(fri.Add(30*time.Minute - time.Second))
		h.wantSLAEvents(1)
		h.advanceTo(fri.Add(30 * time.Minute)) // Friday 18:00 Berlin
		h.wantSLAEvents(1, "17:00:00 sla.warning acknowledge SLA (P3, 1h0m0s on calendar business): 50% of the target used at 2026-03-06T17:00:00Z")
		mon := time.Date(2026, 3, 9, 7, 30, 0, 0, time.UTC) // Monday 08:30 Berlin
		h.advanceTo(mon.Add(-time.Second))
		if n := len(h.slaEvents(1)); n != 1 {
			t.Errorf("%d SLA events over the weekend, want 1", n)
		}
		h.advanceTo(mon)
		h.wantSLAEvents(1,
			"17:00:00 sla.warning acknowledge SLA (P3, 1h0m0s on calendar business): 50% of the target used at 2026-03-06T17:00:00Z",
			"07:30:00 sla.breached acknowledge SLA (P3, 1h0m0s on calendar business) breached at 2026-03-09T07:30:00Z; escalating to level 2 now")

		// Another P3 on Monday 10:00 Berlin; ten minutes later a critical
		// alert joins it: P1, whose 5m target counts from the same start,
		// so both P1 thresholds are crossed at once, and the P3 warning
		// due at 10:30 Berlin never comes.
		start := time.Date(2026, 3, 9, 9, 0, 0, 0, time.UTC)
		h.clk.Set(start)
		h.ingest(alert("alertname", "Slow", "service", "queue", "team", "desk", "severity", "minor", "instance", "a"))
		h.advanceTo(start.Add(10 * time.Minute))
		h.ingest(alert("alertname", "Slow", "service", "queue", "team", "desk", "severity", "critical", "instance", "b"))
		if p := h.incident(2).Priority; p != 1 {
			t.Fatalf("priority P%d after the critical alert, want P1", p)
		}
		h.steps(2*time.Hour, 5*time.Minute)
		h.wantSLAEvents(2,
			"09:10:00 sla.warning acknowledge SLA (P1, 5m0s): 50% of the target used at 2026-03-09T09:02:30Z",
			"09:10:00 sla.breached acknowledge SLA (P1, 5m0s) breached at 2026-03-09T09:05:00Z; escalating to level 2 now",
			"09:30:00 sla.warning resolve SLA (P1, 1h0m0s): 50% of the target used at 2026-03-09T09:30:00Z",
			"10:00:00 sla.breached resolve SLA (P1, 1h0m0s) breached at 2026-03-09T10:00:00Z")
	})
}

func TestSLABreachAtALevelTimeoutEscalatesOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), slaConfig, escalation.Options{})
		// Level 1's timeout and the acknowledge breach both fall at 10:05:
		// level 2 is paged once, and the breach does not jump past it.
		h.ingest(alert("alertname", "Down", "service", "web", "team", "quick", "severity", "critical"))
		h.minutes(9)
		h.wantPages("10:00:00 trigger alice L0/o0", "10:05:00 escalate bob L1/o0")
		// Which of the two fires first is up to the scheduler: either the
		// breach escalates (and the timeout's step finds its timer
		// cancelled), or the step pages level 2 (and the breach sees it).
		at1005 := 0
		for _, ev := range h.timeline(1, escalation.EventPaged) {
			if ev.At.Equal(t0.Add(5 * time.Minute)) {
				at1005++
			}
		}
		if at1005 != 1 {
			t.Errorf("%d pages recorded at 10:05, want 1", at1005)
		}
		h.minutes(1)
		h.wantPages("10:10:00 escalate alice L0/o1")
	})
}

func TestOnHoldStopsPagingAndOffHoldPagesAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		h := newHarness(t, storetest.Open(t, b), slaConfig, escalation.Options{})
		h.ingest(alert("alertname", "Down", "service", "web", "team", "quick", "severity", "critical"))
		h.advance(time.Minute)
		h.act(1, incident.ActionHold, "alice")
		h.minutes(20)
		h.wantPages("10:00:00 trigger alice L0/o0")
		if s := h.state(1); s.State != escalation.StateOnHold {
			t.Errorf("state on hold: %+v", s)
		}
		h.act(1, incident.ActionResume, "alice")
		h.minutes(5)
		h.wantPages("10:21:00 trigger alice L0/o0", "10:26:00 escalate bob L1/o0")
		if s := h.state(1); s.Run != 2 {
			t.Errorf("run %d after the hold, want 2", s.Run)
		}
	})
}
