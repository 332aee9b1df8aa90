package escalation_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/outbox"
	"github.com/incidentd/incidentd/runbooks"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

// requestConfig is baseConfig with a PagerDuty service on level 1 of the
// shop policy, which takes pages but not notes.
const requestConfig = `
priority: {default_impact: 1}
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
      levels:
        - {targets: [schedule:primary, notifier:pd], timeout: 5m}
        - {targets: [user:carol], timeout: 10m}
  routes:
    - {match: '{team="shop"}', policy: shop}
    - {match: '{team="slow"}', policy: shop, delay: 2m}
notifiers:
  - {name: hook, type: webhook, url: HOOK_URL}
  - {name: pd, type: pagerduty, routing_key: "${secret:pd}", events_url: PD_URL}
`

// withRunbooks is the escalation harness plus a runbook engine on the same
// store, clock and timer scheduler, paging through the escalation engine
// as the daemon wires them.
type withRunbooks struct {
	*harness
	rb    *runbooks.Engine
	rbOut *outbox.Consumer
	pd    *pdCounter
	pager *flakyPager
}

// pdCounter is a PagerDuty Events API that counts what it is sent.
type pdCounter struct {
	mu      sync.Mutex
	actions []string
}

func (p *pdCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev struct {
		Action string `json:"event_action"`
	}
	_ = json.NewDecoder(r.Body).Decode(&ev)
	p.mu.Lock()
	p.actions = append(p.actions, ev.Action)
	p.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

func (p *pdCounter) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.actions
	p.actions = nil
	return out
}

// flakyPager passes requests to the engine and, for the first request
// whose key starts with one in fail, reports an error after the request
// took effect: what a step sees when its answer is lost (a timeout, a
// connection reset, a crash).
type flakyPager struct {
	*escalation.Engine
	mu    sync.Mutex
	fail  map[string]bool
	calls []string
}

func (f *flakyPager) lostAnswer(key string, err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, key)
	for k := range f.fail {
		if err == nil && strings.HasPrefix(key, k) {
			delete(f.fail, k)
			return errors.New("connection reset after the request took effect")
		}
	}
	return err
}

func (f *flakyPager) Escalate(ctx context.Context, id int64, key, message, actor string) error {
	return f.lostAnswer(key, f.Engine.Escalate(ctx, id, key, message, actor))
}

func (f *flakyPager) Notify(ctx context.Context, id int64, key string, to []string, message, actor string) error {
	return f.lostAnswer(key, f.Engine.Notify(ctx, id, key, to, message, actor))
}

func newWithRunbooks(t *testing.T, b store.Backend, runbook string) *withRunbooks {
	return newWithRunbooksConfig(t, b, requestConfig, runbook)
}

// newWithRunbooksConfig runs config (HOOK_URL and PD_URL are replaced by
// the test endpoints) and runbook.
func newWithRunbooksConfig(t *testing.T, b store.Backend, config, runbook string) *withRunbooks {
	t.Helper()
	pd := &pdCounter{}
	srv := httptest.NewServer(pd)
	t.Cleanup(srv.Close)
	h := newHarness(t, storetest.Open(t, b), strings.ReplaceAll(config, "PD_URL", srv.URL), escalation.Options{})
	w := &withRunbooks{harness: h, pd: pd, pager: &flakyPager{Engine: h.eng, fail: map[string]bool{}}}
	lib, errs := runbooks.NewLibrary(map[string][]byte{"rb.yml": []byte(runbook)})
	if len(errs) > 0 {
		t.Fatalf("runbook: %v", errs)
	}
	w.rb = runbooks.NewEngine(h.st, h.sch, h.clk, runbooks.Options{Pager: w.pager, Rand: func() float64 { return 0 }})
	if err := w.rb.SetLibrary(h.ctx, lib); err != nil {
		t.Fatal(err)
	}
	w.rbOut = outbox.NewConsumer(runbooks.ConsumerName, h.st, w.rb.Handle, nil)
	return w
}

// settleAll drains both engines' outboxes and fires due timers until
// nothing is left to do at the clock's time.
func (w *withRunbooks) settleAll() {
	w.t.Helper()
	for range 100 {
		w.settle()
		if err := w.rbOut.Drain(w.ctx); err != nil {
			w.t.Fatal(err)
		}
		n, err := w.sch.RunDue(w.ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		if n == 0 {
			w.settle()
			return
		}
	}
	w.t.Fatal("did not settle")
}

// seconds advances the clock a second at a time and settles each time.
func (w *withRunbooks) seconds(n int) {
	w.t.Helper()
	for range n {
		w.clk.Advance(time.Second)
		w.settleAll()
	}
}

// onlyRun returns the one runbook run and its steps by name.
func (w *withRunbooks) onlyRun() (store.RunbookRun, map[string]store.RunbookStep) {
	w.t.Helper()
	runs, err := w.rb.Runs(w.ctx, store.RunFilter{})
	if err != nil || len(runs) != 1 {
		w.t.Fatalf("runs: %v %v, want one", runs, err)
	}
	run, steps, err := w.rb.Run(w.ctx, runs[0].ID)
	if err != nil {
		w.t.Fatal(err)
	}
	by := map[string]store.RunbookStep{}
	for _, s := range steps {
		by[s.Name] = s
	}
	return run, by
}

// TestRunbookEscalateStep: a runbook's escalate step pages the next level
// at once, with its message, unless the incident was acknowledged; then it
// pages nobody and the timeline says why. Either way the step succeeds.
func TestRunbookEscalateStep(t *testing.T) {
	const runbook = `
name: escalate-when-stuck
triggers: [{on: incident.triggered, match: '{team="shop"}'}]
steps:
  - wait: {duration: 1m}
  - name: up
    escalate: {message: "checkout still fails after {{ .Labels.service }} restarted"}
`
	cases := []struct {
		name      string
		ack       bool
		wantPages []string // after the level 1 page: time, event, user, level, text
		wantEvent string
	}{
		{"unacknowledged: level 2 now, not at 10:05", false,
			[]string{"10:01:00 escalate carol L1 escalated by runbook:escalate-when-stuck: checkout still fails after web restarted"},
			"escalation requested by runbook:escalate-when-stuck (runbook:1:steps[1]): escalating to level 2 now. Message: checkout still fails after web restarted"},
		{"acknowledged: nobody", true,
			[]string{"10:00:30 acknowledge alice L0 "},
			"escalation requested by runbook:escalate-when-stuck (runbook:1:steps[1]): not escalated: the incident is acknowledged. Message: checkout still fails after web restarted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, b store.Backend) {
				w := newWithRunbooks(t, b, runbook)
				w.ingest(alert("alertname", "Down", "service", "web", "team", "shop", "severity", "critical"))
				w.settleAll()
				w.wantPages("10:00:00 trigger alice L0/o0")
				if got := w.pd.take(); len(got) != 1 || got[0] != "trigger" {
					t.Errorf("PagerDuty got %q, want one trigger", got)
				}
				w.seconds(30)
				if tc.ack {
					w.act(1, incident.ActionAcknowledge, "alice")
					w.settleAll()
				}
				w.seconds(30)
				var got []string
				for _, p := range w.hook.take() {
					got = append(got, fmt.Sprintf("%s %s %s L%d %s", p.At.Format("15:04:05"), p.Event, p.User, p.Level, p.Text))
				}
				if strings.Join(got, "\n") != strings.Join(tc.wantPages, "\n") {
					t.Errorf("pages:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wantPages, "\n"))
				}
				if got := w.messages(1, escalation.EventEscalateRequested); len(got) != 1 || got[0] != tc.wantEvent {
					t.Errorf("escalation.requested: %q\nwant: %q", got, tc.wantEvent)
				}
				if ev := w.timeline(1, escalation.EventEscalateRequested); len(ev) == 1 && ev[0].Actor != "runbook:escalate-when-stuck" {
					t.Errorf("requested by %q, want the runbook", ev[0].Actor)
				}
				run, steps := w.onlyRun()
				if run.Status != store.RunSucceeded || steps["up"].Status != store.StepSucceeded {
					t.Errorf("run %s, step %s (%s), want both succeeded", run.Status, steps["up"].Status, steps["up"].Error)
				}
				if !tc.ack {
					// Level 2's own timeout runs from its page: nothing
					// comes at 10:05.
					w.clk.Advance(5 * time.Minute)
					w.settleAll()
					w.wantPages()
					if s := w.state(1); s.Level != 2 || !s.NextStepAt.Equal(t0.Add(11*time.Minute)) {
						t.Errorf("state %+v, want level 2 until 10:11", s)
					}
				}
			})
		})
	}
}

// TestEscalateRequests calls Escalate as a runbook would, in each state.
func TestEscalateRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		w := newWithRunbooks(t, b, "name: idle\nsteps: [{annotate: x}]\n")
		ctx := w.ctx
		escalate := func(id int64, key string) {
			t.Helper()
			if err := w.eng.Escalate(ctx, id, key, "", "runbook:r"); err != nil {
				t.Fatalf("Escalate %s: %v", key, err)
			}
			w.settleAll()
		}
		last := func(id int64) string {
			t.Helper()
			m := w.messages(id, escalation.EventEscalateRequested)
			if len(m) == 0 {
				return ""
			}
			return m[len(m)-1]
		}

		// INC-1, delayed by its route: level 1 now, with the reason.
		w.ingest(alert("alertname", "Slow", "team", "slow", "severity", "critical"))
		w.wantPages()
		escalate(1, "k1")
		w.wantPages("10:00:00 trigger alice L0/o0")
		if got := last(1); !strings.HasSuffix(got, "(k1): paging level 1 now") {
			t.Errorf("delayed: %q", got)
		}
		// The same request again changes nothing.
		escalate(1, "k1")
		w.wantPages()
		if n := len(w.messages(1, escalation.EventEscalateRequested)); n != 1 {
			t.Errorf("%d requests recorded for one key, want 1", n)
		}
		// Another request goes on to level 2, then there is nobody left.
		escalate(1, "k2")
		w.wantPages("10:00:00 escalate carol L1/o0")
		escalate(1, "k3")
		w.wantPages()
		if got := last(1); !strings.HasSuffix(got, "(k3): not escalated: every level of policy shop was paged already") {
			t.Errorf("after the last level: %q", got)
		}

		// INC-2 matches no route.
		w.ingest(alert("alertname", "Other", "team", "none", "severity", "critical"))
		escalate(2, "k4")
		if got := last(2); !strings.Contains(got, `not escalated: no escalation route matches {alertname="Other"`) {
			t.Errorf("unrouted: %q", got)
		}
		w.wantPages()

		// A resolved incident is not escalated.
		w.act(1, incident.ActionResolve, "alice")
		w.hook.take()
		escalate(1, "k5")
		if got := last(1); !strings.HasSuffix(got, "(k5): not escalated: the incident is resolved") {
			t.Errorf("resolved: %q", got)
		}
		w.wantPages()

		if err := w.eng.Escalate(ctx, 99, "k6", "", "runbook:r"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown incident: %v, want ErrNotFound", err)
		}
	})
}

// TestRunbookNotifyStep: a notify step to user:bob delivers its text to
// bob's webhook once, though the step's first attempt lost its answer and
// was retried; a notify step without to reaches whoever is on call, and
// leaves PagerDuty out, saying so.
func TestRunbookNotifyStep(t *testing.T) {
	const runbook = `
name: tell
triggers: [{on: incident.triggered, match: '{team="shop"}'}]
steps:
  - name: bob
    notify: {to: ["user:bob"], message: "{{ .Incident.Key }}: restarted {{ .Labels.service }}, please check"}
    retry: {attempts: 3, backoff: 1s}
  - name: oncall
    notify: {message: "Heads-up from the runbook"}
  - name: typo
    notify: {to: ["user:bobb"], message: "nobody gets this"}
    continue_on_error: true
`
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		w := newWithRunbooks(t, b, runbook)
		w.pager.fail["runbook:1:steps[0]"] = true
		w.ingest(alert("alertname", "Down", "service", "web", "team", "shop", "severity", "critical"))
		w.settleAll()
		w.pd.take()
		w.seconds(3)

		var notes []page
		for _, p := range w.hook.take() {
			if p.Event == "note" {
				notes = append(notes, p)
			}
		}
		want := map[string]string{"bob": "INC-1: restarted web, please check", "alice": "Heads-up from the runbook"}
		if len(notes) != len(want) {
			t.Fatalf("notes %+v, want one to bob and one to alice (on call)", notes)
		}
		for _, n := range notes {
			if want[n.User] != n.Text || n.Inc != "INC-1" {
				t.Errorf("note to %s: %q about %s, want %q", n.User, n.Text, n.Inc, want[n.User])
			}
		}
		if got := w.pd.take(); len(got) != 0 {
			t.Errorf("PagerDuty got %q; it takes no notes", got)
		}
		if calls := strings.Join(w.pager.calls, " "); calls != "runbook:1:steps[0] runbook:1:steps[0] runbook:1:steps[1] runbook:1:steps[2]" {
			t.Errorf("pager calls %q: want the bob step twice with one key", calls)
		}

		_, steps := w.onlyRun()
		if s := steps["bob"]; s.Status != store.StepSucceeded || s.Attempts != 2 {
			t.Errorf("bob step %s after %d attempts, want succeeded after 2", s.Status, s.Attempts)
		}
		if s := steps["typo"]; s.Status != store.StepFailed || !strings.Contains(s.Error, `to[0]: unknown user "bobb"`) {
			t.Errorf("typo step %s: %q", s.Status, s.Error)
		}
		containsAll(t, "note requests", w.messages(1, escalation.EventNoteRequested),
			"note from runbook:tell (runbook:1:steps[0]) to bob by hook bob@example.com (user:bob): INC-1: restarted web, please check",
			"note from runbook:tell (runbook:1:steps[1]) to alice by hook alice@example.com (schedule:primary); pd left out: pagerduty notifiers take no notes: Heads-up from the runbook")
		if n := len(w.messages(1, escalation.EventNoteRequested)); n != 2 {
			t.Errorf("%d note requests on the timeline, want 2", n)
		}
		containsAll(t, "deliveries", w.messages(1, escalation.EventSent), "note sent to bob by hook bob@example.com", "note sent to alice by hook alice@example.com")
		s := w.state(1)
		texts := 0
		for _, n := range s.Notifications {
			if n.Event == "note" && n.State == "sent" && n.Text != "" {
				texts++
			}
		}
		if texts != 2 {
			t.Errorf("notifications %+v: want 2 sent notes with their text", s.Notifications)
		}

		// Once level 2 is paged, it is the on-call.
		w.clk.Advance(5 * time.Minute)
		w.settleAll()
		w.hook.take()
		if err := w.eng.Notify(w.ctx, 1, "direct", nil, "level 2 has it", "runbook:x"); err != nil {
			t.Fatal(err)
		}
		w.settleAll()
		if got := w.hook.take(); len(got) != 1 || got[0].User != "carol" || got[0].Text != "level 2 has it" {
			t.Errorf("note to the on-call at level 2: %+v, want carol", got)
		}
	})
}

// A request that arrives before the engine has handled the event that
// opened the incident (a runbook triggered by that same event) catches the
// engine up first, instead of finding no escalation.
func TestEscalateRequestRacingTheTrigger(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		w := newWithRunbooks(t, b, "name: idle\nsteps: [{annotate: x}]\n")
		in := alert("alertname", "Slow", "team", "slow", "severity", "critical")
		in.StartsAt = w.clk.Now()
		// Ingest without settling: the engine has not seen incident.triggered.
		if _, err := w.st.Ingest(w.ctx, &w.policy, []incident.AlertInput{in}, w.clk.Now()); err != nil {
			t.Fatal(err)
		}
		if err := w.eng.Escalate(w.ctx, 1, "k1", "", "runbook:r"); err != nil {
			t.Fatal(err)
		}
		w.settleAll()
		w.wantPages("10:00:00 trigger alice L0/o0")
		if m := w.messages(1, escalation.EventEscalateRequested); len(m) != 1 || !strings.HasSuffix(m[0], "(k1): paging level 1 now") {
			t.Errorf("request: %q", m)
		}
	})
}
