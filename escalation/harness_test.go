package escalation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/config"
	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/timers"
)

// t0 is a Monday, 10:00 UTC; the "primary" schedule of the test configs
// has alice on call that day.
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// page is one webhook notification as the receiver saw it.
type page struct {
	At    time.Time // the fake clock when it arrived
	ID    string
	Event string
	User  string
	Level int
	Loop  int
	Inc   string
	Text  string
}

func (p page) String() string {
	return fmt.Sprintf("%s %s %s %s L%d/o%d", p.At.Format("15:04:05"), p.Inc, p.Event, p.User, p.Level, p.Loop)
}

// receiver is a webhook endpoint that records what it gets and answers
// with the queued statuses first, then 200.
type receiver struct {
	mu      sync.Mutex
	clk     *clock.Fake
	pages   []page
	answers []answer
	srv     *httptest.Server
}

type answer struct {
	status     int
	retryAfter string
}

func newReceiver(t *testing.T, clk *clock.Fake) *receiver {
	r := &receiver{clk: clk}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.answers) > 0 {
		a := r.answers[0]
		r.answers = r.answers[1:]
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		return
	}
	var p notify.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	pg := page{At: r.clk.Now(), ID: p.ID, Event: string(p.Event), Level: p.Escalation.Level, Loop: p.Escalation.Loop, Inc: p.Incident.ID, Text: p.Text}
	if p.Recipient != nil {
		pg.User = p.Recipient.User
	}
	r.pages = append(r.pages, pg)
}

func (r *receiver) answer(as ...answer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers = append(r.answers, as...)
}

// take returns the pages received since the last take.
func (r *receiver) take() []page {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.pages
	r.pages = nil
	return out
}

// harness runs the engine on a store with a fake clock: ingest alerts,
// advance the clock, and settle (drain the outbox, fire due timers) until
// nothing is left to do.
type harness struct {
	t      *testing.T
	ctx    context.Context
	st     *store.Store
	clk    *clock.Fake
	cfg    *config.Config
	policy incident.Policy
	sch    *timers.Scheduler
	eng    *escalation.Engine
	hook   *receiver
	opts   escalation.Options
}

// hookURL is replaced by the receiver's URL in test configs.
const hookURL = "HOOK_URL"

func newHarness(t *testing.T, st *store.Store, configText string, opts escalation.Options) *harness {
	t.Helper()
	clk := clock.NewFake(t0)
	h := &harness{t: t, ctx: context.Background(), st: st, clk: clk}
	h.hook = newReceiver(t, clk)
	cfg, err := config.Parse("test.yml", []byte(strings.ReplaceAll(configText, hookURL, h.hook.srv.URL)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	h.cfg = cfg
	h.policy = cfg.Policy()
	opts.Store, opts.Clock = st, clk
	h.opts = opts
	h.start()
	return h
}

// start builds the scheduler and the engine (again, after a restart).
func (h *harness) start() {
	h.t.Helper()
	ns, err := notify.New(h.cfg.Notifiers, notify.Options{Clock: h.clk, Secrets: func(name string) (string, error) { return "secret-" + name, nil }})
	if err != nil {
		h.t.Fatal(err)
	}
	setup, err := escalation.NewSetup(h.cfg.Oncall, h.cfg.SLA, ns)
	if err != nil {
		h.t.Fatal(err)
	}
	h.sch = timers.New(h.st, h.clk, timers.Options{Retry: timers.Retry{MaxAttempts: 3, Initial: time.Second, Max: time.Second}})
	opts := h.opts
	opts.Timers = h.sch
	if opts.DeliveryRetry.Initial == 0 {
		// Deterministic backoff: 10s, 20s, 40s ... (jitter draws from [d/2, d],
		// so make d/2 = d impossible to confuse: tests only check ranges).
		opts.DeliveryRetry = timers.Retry{MaxAttempts: 5, Initial: 10 * time.Second, Max: time.Minute}
	}
	h.eng, err = escalation.New(setup, opts)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.eng.Start(h.ctx); err != nil {
		h.t.Fatal(err)
	}
}

// settle drains the outbox and fires due timers until neither has work.
func (h *harness) settle() {
	h.t.Helper()
	for i := 0; ; i++ {
		if i > 100 {
			h.t.Fatal("settle: still busy after 100 rounds")
		}
		if err := h.eng.Drain(h.ctx); err != nil {
			h.t.Fatalf("drain: %v", err)
		}
		n, err := h.sch.RunDue(h.ctx)
		if err != nil {
			h.t.Fatalf("RunDue: %v", err)
		}
		if n == 0 {
			if err := h.eng.Drain(h.ctx); err != nil {
				h.t.Fatalf("drain: %v", err)
			}
			return
		}
	}
}

// advance moves the clock by d and settles.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.clk.Advance(d)
	h.settle()
}

// advanceTo moves the clock to t and settles.
func (h *harness) advanceTo(t time.Time) {
	h.t.Helper()
	h.clk.Set(t)
	h.settle()
}

func alert(labels ...string) incident.AlertInput {
	ls := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		ls[labels[i]] = labels[i+1]
	}
	return incident.AlertInput{Fingerprint: incident.Fingerprint(ls), Source: "test", Status: incident.AlertFiring, Labels: ls, Annotations: map[string]string{}}
}

func resolvedAlert(labels ...string) incident.AlertInput {
	a := alert(labels...)
	a.Status = incident.AlertResolved
	return a
}

// ingest commits alerts at the clock's time and settles.
func (h *harness) ingest(in ...incident.AlertInput) {
	h.t.Helper()
	for i := range in {
		if in[i].StartsAt.IsZero() {
			in[i].StartsAt = h.clk.Now()
		}
		if in[i].Status == incident.AlertResolved && in[i].EndsAt.IsZero() {
			in[i].EndsAt = h.clk.Now()
		}
	}
	if _, err := h.st.Ingest(h.ctx, &h.policy, in, h.clk.Now()); err != nil {
		h.t.Fatalf("ingest: %v", err)
	}
	h.settle()
}

func (h *harness) act(id int64, action incident.Action, actor string) {
	h.t.Helper()
	if _, _, err := h.st.Act(h.ctx, id, action, actor, "", h.clk.Now()); err != nil {
		h.t.Fatalf("%s INC-%d: %v", action, id, err)
	}
	h.settle()
}

// timeline returns incident id's events of the given kinds (all if none).
func (h *harness) timeline(id int64, kinds ...string) []incident.Event {
	h.t.Helper()
	evs, err := h.st.Timeline(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []incident.Event
	for _, ev := range evs {
		if len(kinds) == 0 || slices.Contains(kinds, ev.Kind) {
			out = append(out, ev)
		}
	}
	return out
}

func (h *harness) state(id int64) *escalation.State {
	h.t.Helper()
	s, err := h.eng.IncidentState(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	if s == nil {
		h.t.Fatalf("INC-%d has no escalation state", id)
	}
	return s
}

func (h *harness) incident(id int64) *incident.Incident {
	h.t.Helper()
	inc, err := h.st.Incident(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return inc
}

// wantPages checks the pages received since the last check, as
// "HH:MM:SS EVENT USER Llevel/oloop" (level and loop from 0).
func (h *harness) wantPages(want ...string) {
	h.t.Helper()
	got := h.hook.take()
	var gs []string
	for _, p := range got {
		gs = append(gs, fmt.Sprintf("%s %s %s L%d/o%d", p.At.Format("15:04:05"), p.Event, p.User, p.Level, p.Loop))
	}
	// Pages of one moment are sent concurrently: compare them in order.
	slices.Sort(gs)
	want = slices.Sorted(slices.Values(want))
	if strings.Join(gs, "\n") != strings.Join(want, "\n") {
		h.t.Errorf("pages:\n%s\nwant:\n%s", strings.Join(gs, "\n"), strings.Join(want, "\n"))
	}
}

// messages returns the messages of incident id's events of kind.
func (h *harness) messages(id int64, kind string) []string {
	var out []string
	for _, ev := range h.timeline(id, kind) {
		out = append(out, ev.Message)
	}
	return out
}

func containsAll(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	all := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("%s lack %q:\n%s", what, w, all)
		}
	}
}
