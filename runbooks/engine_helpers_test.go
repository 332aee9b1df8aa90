package runbooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/correlate"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/outbox"
	"github.com/incidentd/incidentd/runbooks"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/timers"
)

// TestMain doubles as the programs exec steps run: linked under the names
// below, the test binary prints what it was given instead of testing.
func TestMain(m *testing.M) {
	switch filepath.Base(os.Args[0]) {
	case "kubectl", "argv":
		// Print the argument vector and the whole environment, as JSON.
		json.NewEncoder(os.Stdout).Encode(map[string]any{"args": os.Args[1:], "env": os.Environ()})
		os.Exit(0)
	case "fail":
		fmt.Fprintln(os.Stderr, "boom: "+strings.Join(os.Args[1:], " "))
		os.Exit(3)
	case "hang":
		select {} // until the step's timeout kills it
	}
	os.Exit(m.Run())
}

// helperDir links the test binary as kubectl, argv, fail and hang into a
// new directory, for exec steps.
func helperDir(t testing.TB) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{"kubectl", "argv", "fail", "hang"} {
		if err := os.Symlink(self, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// shopCMDB maps the checkout-api alerts to a CI with a host attribute.
const shopCMDB = `cis:
  - {id: checkout, class: business_service, criticality: 1}
  - {id: checkout-api, class: application, owner: team-shop, attributes: {host: app.internal}, match: [{service: checkout-api}]}
relations:
  - {from: checkout, type: depends_on, to: checkout-api}
`

// mapSecrets resolves secrets from a map.
type mapSecrets map[string]string

func (m mapSecrets) Secret(name string) (string, error) {
	if v, ok := m[name]; ok {
		return v, nil
	}
	return "", fmt.Errorf("secret %q: %w", name, runbooks.ErrSecretNotFound)
}

// harness is one incidentd's runbook half over a store: engine, timer
// scheduler and outbox consumer on a fake clock.
type harness struct {
	t       testing.TB
	dsn     string
	st      *store.Store
	clk     *clock.Fake
	sched   *timers.Scheduler
	eng     *runbooks.Engine
	cons    *outbox.Consumer
	policy  *incident.Policy
	graph   *cmdb.Graph
	opts    runbooks.Options
	library *runbooks.Library
}

// newHarness opens a store on dsn (a new one if ""), with the shop CMDB
// and runbooks (file name -> text).
func newHarness(t testing.TB, b store.Backend, dsn string, clk *clock.Fake, files map[string]string, o runbooks.Options) *harness {
	t.Helper()
	if dsn == "" {
		dsn = storetest.DSN(t, b)
	}
	st, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dsn: dsn, st: st, clk: clk, opts: o}
	t.Cleanup(func() { h.st.Close() })
	doc, err := cmdb.Parse("cmdb.yml", []byte(shopCMDB))
	if err != nil {
		t.Fatal(err)
	}
	h.graph = cmdb.Build(doc)
	corr := correlate.New(correlate.Options{MaxHops: 3, ImpactByCriticality: correlate.DefaultImpactByCriticality()})
	corr.SetGraph(h.graph)
	p := incident.DefaultPolicy()
	p.Topology = corr
	h.policy = &p
	if o.CI == nil {
		o.CI = func(id string) (cmdb.CI, bool) {
			ci, ok := h.graph.CI(id)
			if !ok {
				return cmdb.CI{}, false
			}
			return *ci, true
		}
	}
	if o.Rand == nil {
		o.Rand = func() float64 { return 0 } // no jitter: exact retry times
	}
	h.opts = o
	texts := map[string][]byte{}
	for name, text := range files {
		texts[name] = []byte(text)
	}
	lib, errs := runbooks.NewLibrary(texts)
	if len(errs) > 0 {
		t.Fatalf("runbooks: %v", errs)
	}
	h.library = lib
	h.start()
	return h
}

// start builds the scheduler, engine and consumer (again, after restart).
func (h *harness) start() {
	h.sched = timers.New(h.st, h.clk, timers.Options{Owner: fmt.Sprintf("test-%p", h)})
	h.eng = runbooks.NewEngine(h.st, h.sched, h.clk, h.opts)
	if err := h.eng.SetLibrary(context.Background(), h.library); err != nil {
		h.t.Fatal(err)
	}
	h.cons = outbox.NewConsumer(runbooks.ConsumerName, h.st, h.eng.Handle, nil)
}

// restart drops everything in memory and opens the store again, as a
// process killed and started again would.
func (h *harness) restart() {
	h.t.Helper()
	h.st.Close()
	st, err := store.Open(context.Background(), h.dsn, store.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.st = st
	h.start()
}

// settle feeds events to the engine and fires due timers until nothing
// is left to do at the clock's time.
func (h *harness) settle() {
	h.t.Helper()
	ctx := context.Background()
	quiet := 0
	for range 200 {
		if err := h.cons.Drain(ctx); err != nil {
			h.t.Fatalf("outbox: %v", err)
		}
		n, err := h.sched.RunDue(ctx)
		if err != nil {
			h.t.Fatalf("timers: %v", err)
		}
		if n == 0 {
			if quiet++; quiet == 2 {
				h.noTimerErrors()
				return
			}
		} else {
			quiet = 0
		}
	}
	h.t.Fatal("runbooks did not settle after 200 rounds")
}

// advance moves the clock and settles.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.clk.Advance(d)
	h.settle()
}

// noTimerErrors fails on any timer whose handler failed: the engine's
// handlers only fail on store errors, and tests have none.
func (h *harness) noTimerErrors() {
	h.t.Helper()
	ts, err := h.st.Timers(context.Background(), store.TimerFilter{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, tm := range ts {
		if tm.LastError != "" || tm.State == store.TimerFailed {
			h.t.Fatalf("timer %s (%s) failed: %s", tm.Key, tm.State, tm.LastError)
		}
	}
}

// fire ingests alerts at the clock's time.
func (h *harness) fire(labels map[string]string) {
	h.t.Helper()
	in := incident.AlertInput{Fingerprint: incident.Fingerprint(labels), Source: "test", Status: incident.AlertFiring,
		Labels: labels, Annotations: map[string]string{}, StartsAt: h.clk.Now()}
	if _, err := h.st.Ingest(context.Background(), h.policy, []incident.AlertInput{in}, h.clk.Now()); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) resolve(labels map[string]string, startsAt time.Time) {
	h.t.Helper()
	in := incident.AlertInput{Fingerprint: incident.Fingerprint(labels), Source: "test", Status: incident.AlertResolved,
		Labels: labels, Annotations: map[string]string{}, StartsAt: startsAt, EndsAt: h.clk.Now()}
	if _, err := h.st.Ingest(context.Background(), h.policy, []incident.AlertInput{in}, h.clk.Now()); err != nil {
		h.t.Fatal(err)
	}
}

// onlyRun returns the one run of a runbook, with its steps by name or id.
func (h *harness) onlyRun(runbook string) (store.RunbookRun, map[string]store.RunbookStep) {
	h.t.Helper()
	runs, err := h.eng.Runs(context.Background(), store.RunFilter{Runbook: runbook})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(runs) != 1 {
		h.t.Fatalf("%d runs of %s, want 1", len(runs), runbook)
	}
	return h.run(runs[0].ID)
}

func (h *harness) run(id int64) (store.RunbookRun, map[string]store.RunbookStep) {
	h.t.Helper()
	run, steps, err := h.eng.Run(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]store.RunbookStep{}
	for _, s := range steps {
		out[s.StepID] = s
		if s.Name != "" {
			out[s.Name] = s
		}
	}
	return run, out
}

// result decodes a step's output.
func result(t testing.TB, s store.RunbookStep) runbooks.StepResult {
	t.Helper()
	var r runbooks.StepResult
	if s.Output != "" {
		if err := json.Unmarshal([]byte(s.Output), &r); err != nil {
			t.Fatalf("step %s output %q: %v", s.StepID, s.Output, err)
		}
	}
	return r
}

// timeline returns the kinds and messages of an incident's events.
func (h *harness) timeline(id int64) []string {
	h.t.Helper()
	evs, err := h.st.Timeline(context.Background(), id)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Kind+" "+ev.Message)
	}
	return out
}

// routeTo is an HTTP client whose connections all go to addr, whatever
// host the URL names, so that runbooks can keep their real URLs.
func routeTo(addr string) *http.Client {
	d := &net.Dialer{}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}}
}

// requests records the requests a test server got.
type requests struct {
	mu   sync.Mutex
	list []*http.Request
	body []string
}

func (r *requests) add(req *http.Request, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.list = append(r.list, req)
	r.body = append(r.body, body)
}

func (r *requests) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.list)
}

var checkoutLabels = map[string]string{"alertname": "HighErrorRate", "service": "checkout-api", "severity": "critical"}
