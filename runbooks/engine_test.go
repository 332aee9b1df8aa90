package runbooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/runbooks"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/web"
)

const kubeconfigSecret = "/etc/kube/s3cr3t-kubeconfig"

func exampleRunbook(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile("../configs/runbooks/restart-checkout-on-errors.yml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// apiServer serves the runbook routes of whatever engine h has now.
func apiServer(t testing.TB, h *harness) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux := http.NewServeMux()
		api.NewRunbooks(h.eng, nil).Register(mux)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func post(t testing.TB, url, body string, out any) int {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("POST %s: %d %s: %v", url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

func get(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestExampleRunbookEndToEnd drives the example runbook from a real
// incident: the alert is ingested, the health check fails three times with
// backoff, the allowlisted kubectl runs with the secret in its environment,
// the note lands on the timeline, the wait times out, the on-call approves
// through the API, the escalation is recorded, and the incident resolves.
func TestExampleRunbookEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		health := &requests{}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			health.add(r, "")
			http.Error(w, "checkout unhealthy", http.StatusServiceUnavailable)
		}))
		defer srv.Close()
		dir := helperDir(t)
		clk := clock.NewFake(t0)
		h := newHarness(t, b, "", clk, map[string]string{"restart.yml": exampleRunbook(t)}, runbooks.Options{
			Config:     runbooks.Config{Exec: runbooks.ExecConfig{Allow: []string{filepath.Join(dir, "kubectl")}}, MaxOutputBytes: 64 << 10},
			SearchPath: dir, HTTPClient: routeTo(srv.Listener.Addr().String()),
			Secrets: mapSecrets{"kubeconfig": kubeconfigSecret},
		})
		apiSrv := apiServer(t, h)

		h.fire(checkoutLabels)
		h.settle()
		run, steps := h.onlyRun("restart-checkout-on-errors")
		if run.Trigger != incident.EventIncidentTriggered || run.IncidentID != 1 || run.ConcurrencyKey != "checkout-api" {
			t.Fatalf("run %+v: want a run of INC-1 triggered by incident.triggered, keyed by its root cause", run)
		}
		if s := steps["health"]; s.Status != store.StepRetrying || s.Attempts != 1 || health.len() != 1 {
			t.Fatalf("health after the first attempt: %s, %d attempts, %d requests", s.Status, s.Attempts, health.len())
		}
		if got := health.list[0].Host; got != "app.internal:8080" {
			t.Errorf("health checked %s, want the CI's host app.internal:8080", got)
		}
		// Backoff 2s, then 4s: nothing happens a moment before each.
		h.advance(2*time.Second - time.Millisecond)
		if health.len() != 1 {
			t.Fatal("retried before its backoff")
		}
		h.advance(time.Millisecond)
		h.advance(4 * time.Second)
		run, steps = h.run(run.ID)
		hr := result(t, steps["health"])
		if steps["health"].Status != store.StepFailed || hr.Attempts != 3 || hr.Status != 503 || health.len() != 3 {
			t.Fatalf("health: %s %+v after %d requests, want failed after 3 attempts with status 503", steps["health"].Status, hr, health.len())
		}
		var log []struct {
			Attempt   int       `json:"attempt"`
			StartedAt time.Time `json:"started_at"`
		}
		json.Unmarshal([]byte(steps["health"].AttemptLog), &log)
		if len(log) != 3 || !log[1].StartedAt.Equal(t0.Add(2*time.Second)) || !log[2].StartedAt.Equal(t0.Add(6*time.Second)) {
			t.Fatalf("attempt log %+v: want attempts at +0s, +2s, +6s", log)
		}

		rr := result(t, steps["restart"])
		if steps["restart"].Status != store.StepSucceeded || rr.ExitCode != 0 {
			t.Fatalf("restart: %s %+v", steps["restart"].Status, rr)
		}
		var printed struct {
			Args []string `json:"args"`
			Env  []string `json:"env"`
		}
		if err := json.Unmarshal([]byte(rr.Stdout), &printed); err != nil {
			t.Fatalf("kubectl output %q: %v", rr.Stdout, err)
		}
		if want := []string{"rollout", "restart", "deployment/checkout-api"}; !slices.Equal(printed.Args, want) {
			t.Errorf("kubectl got %q, want %q", printed.Args, want)
		}
		if want := []string{"KUBECONFIG=***", "PATH=" + dir}; !slices.Equal(printed.Env, want) {
			t.Errorf("kubectl's environment %q, want exactly %q (secret masked in the output)", printed.Env, want)
		}
		if steps["note"].Status != store.StepSucceeded || steps["wait-recovery"].Status != store.StepWaiting || run.Status != store.RunWaiting {
			t.Fatalf("note %s, wait %s, run %s", steps["note"].Status, steps["wait-recovery"].Status, run.Status)
		}

		// The alerts keep firing: the wait times out after 10 minutes and
		// the run asks for approval.
		h.advance(10 * time.Minute)
		run, steps = h.run(run.ID)
		if steps["wait-recovery"].Status != store.StepTimedOut || steps["ask"].Status != store.StepAwaitingApproval || run.Status != store.RunAwaitingApproval {
			t.Fatalf("after 10m: wait %s, ask %s, run %s", steps["wait-recovery"].Status, steps["ask"].Status, run.Status)
		}
		var e web.Error
		if code := post(t, fmt.Sprintf("%s/api/v1/runbooks/runs/%d/approve", apiSrv.URL, run.ID), `{"actor": "mallory"}`, &e); code != http.StatusForbidden {
			t.Fatalf("approval by someone not asked: %d %+v, want 403", code, e)
		}
		var ans api.AnswerResult
		if code := post(t, fmt.Sprintf("%s/api/v1/runbooks/runs/%d/approve", apiSrv.URL, run.ID), `{"actor": "oncall", "message": "go"}`, &ans); code != http.StatusOK {
			t.Fatalf("approve: %d %+v", code, ans)
		}
		if ans.Step.Name != "ask" || ans.Step.Status != store.StepSucceeded {
			t.Fatalf("approve answered %+v", ans.Step)
		}
		h.settle()
		run, steps = h.run(run.ID)
		if run.Status != store.RunSucceeded || steps["escalate"].Status != store.StepSucceeded || result(t, steps["ask"]).Actor != "oncall" {
			t.Fatalf("run %s (%s), escalate %s, ask %+v", run.Status, run.Error, steps["escalate"].Status, result(t, steps["ask"]))
		}

		// Resolution: the alert resolves and the incident with it.
		h.resolve(checkoutLabels, t0)
		h.settle()
		inc, err := h.st.Incident(context.Background(), 1)
		if err != nil || inc.Status != incident.StatusResolved {
			t.Fatalf("incident %v %v, want resolved", inc, err)
		}

		tl := strings.Join(h.timeline(1), "\n")
		for _, want := range []string{
			"runbook.run_started run 1: restart-checkout-on-errors started (incident.triggered)",
			"runbook.step_finished run 1: step health failed after 3 attempts: HTTP 503 Service Unavailable",
			"incident.note Restarted checkout-api",
			"runbook.step_finished run 1: step wait-recovery timed out: alerts_resolved did not hold within 10m",
			"runbook.approval_requested run 1: step ask awaits approval from oncall or team-shop",
			"runbook.step_finished run 1: step ask succeeded: approved by oncall: go",
			"runbook.escalation_requested run 1: escalation requested",
			"runbook.run_finished run 1: restart-checkout-on-errors succeeded",
			"incident.resolved",
		} {
			if !strings.Contains(tl, want) {
				t.Errorf("timeline lacks %q:\n%s", want, tl)
			}
		}
		code, body := get(t, fmt.Sprintf("%s/api/v1/runbooks/runs/%d", apiSrv.URL, run.ID))
		if code != http.StatusOK || !strings.Contains(body, `"status":"succeeded"`) {
			t.Fatalf("GET run: %d %s", code, body)
		}
		h.noSecret(kubeconfigSecret, body)
		code, body = get(t, apiSrv.URL+"/api/v1/runbooks/runs?incident=INC-1")
		if code != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`"id":%d`, run.ID)) {
			t.Fatalf("GET runs of INC-1: %d %s", code, body)
		}
	})
}

// noSecret fails if secret appears in anything the runs stored, in the
// timeline, in the timers, or in the texts given.
func (h *harness) noSecret(secret string, texts ...string) {
	h.t.Helper()
	db := h.st.DB()
	for _, q := range []string{
		"SELECT input || output || error || attempt_log FROM runbook_steps",
		"SELECT error || inputs || concurrency_key FROM runbook_runs",
		"SELECT message FROM events",
		"SELECT payload || last_error FROM timers",
	} {
		var rows []string
		if err := db.Select(&rows, q); err != nil {
			h.t.Fatalf("%s: %v", q, err)
		}
		for _, r := range rows {
			if strings.Contains(r, secret) {
				h.t.Errorf("secret stored (%s): %s", q, r)
			}
		}
	}
	for _, s := range texts {
		if strings.Contains(s, secret) {
			h.t.Errorf("secret shown: %s", s)
		}
	}
}

// TestWaitEndsOnIncidentChange runs the example on a healthy service: no
// restart, and the wait ends as soon as the alert resolves (an incident
// change), not at its next periodic check; then ask and escalate are
// skipped because the incident resolved.
func TestWaitEndsOnIncidentChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"ok": true}`) }))
		defer srv.Close()
		clk := clock.NewFake(t0)
		h := newHarness(t, b, "", clk, map[string]string{"restart.yml": exampleRunbook(t)}, runbooks.Options{
			HTTPClient: routeTo(srv.Listener.Addr().String()), Secrets: mapSecrets{"kubeconfig": kubeconfigSecret},
		})
		h.fire(checkoutLabels)
		h.settle()
		run, steps := h.onlyRun("restart-checkout-on-errors")
		if steps["restart"].Status != store.StepSkipped || steps["wait-recovery"].Status != store.StepWaiting {
			t.Fatalf("restart %s, wait %s: want skipped (health is 200) and waiting", steps["restart"].Status, steps["wait-recovery"].Status)
		}
		if hr := result(t, steps["health"]); hr.JSON.(map[string]any)["ok"] != true {
			t.Errorf("health json %v, want the parsed body", hr.JSON)
		}
		clk.Advance(5 * time.Second) // well before the first periodic check (30s)
		h.resolve(checkoutLabels, t0)
		h.settle()
		run, steps = h.run(run.ID)
		if steps["wait-recovery"].Status != store.StepSucceeded || steps["ask"].Status != store.StepSkipped || steps["escalate"].Status != store.StepSkipped {
			t.Fatalf("wait %s, ask %s, escalate %s", steps["wait-recovery"].Status, steps["ask"].Status, steps["escalate"].Status)
		}
		if run.Status != store.RunSucceeded || !run.EndedAt.Equal(t0.Add(5*time.Second)) {
			t.Fatalf("run %s ended %s, want succeeded at +5s", run.Status, run.EndedAt)
		}
	})
}

const waitAndApprove = `
name: wait-then-note
triggers: [{manual: true}]
timeout: 1h
steps:
  - name: pause
    wait: {duration: 10m}
  - annotate: "waited"
---
name: ask-then-note
triggers: [{manual: true}]
timeout: 1h
steps:
  - name: ask
    approve: {from: [alice], timeout: 30m}
  - annotate: "approved by {{ .Steps.ask.Actor }}"
`

func splitRunbooks(text string) map[string]string {
	out := map[string]string{}
	for i, doc := range strings.Split(text, "\n---\n") {
		out[fmt.Sprintf("rb%d.yml", i)] = doc
	}
	return out
}

// TestRestartResumesWaitingAndApprovalRuns stops everything mid-run
// (engine, scheduler, consumer, store) and starts again on the same
// database: the waiting run finishes its wait on time and the run awaiting
// approval takes the answer.
func TestRestartResumesWaitingAndApprovalRuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		clk := clock.NewFake(t0)
		h := newHarness(t, b, "", clk, splitRunbooks(waitAndApprove), runbooks.Options{})
		h.fire(checkoutLabels)
		h.settle()
		waiting, _, err := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "wait-then-note", IncidentID: 1, Actor: "bob"})
		if err != nil {
			t.Fatal(err)
		}
		asking, _, err := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "ask-then-note", IncidentID: 1, Actor: "bob"})
		if err != nil {
			t.Fatal(err)
		}
		h.settle()
		h.advance(time.Minute)
		if r, _ := h.run(waiting.ID); r.Status != store.RunWaiting {
			t.Fatalf("wait run %s before restart", r.Status)
		}
		if r, _ := h.run(asking.ID); r.Status != store.RunAwaitingApproval {
			t.Fatalf("approval run %s before restart", r.Status)
		}

		h.restart()
		h.advance(9*time.Minute - time.Second)
		if r, _ := h.run(waiting.ID); r.Status != store.RunWaiting {
			t.Fatalf("wait ended early after restart: %s", r.Status)
		}
		h.advance(time.Second)
		if r, _ := h.run(waiting.ID); r.Status != store.RunSucceeded || !r.EndedAt.Equal(t0.Add(10*time.Minute)) {
			t.Fatalf("wait run after restart: %s at %s, want succeeded at +10m", r.Status, r.EndedAt)
		}
		if _, err := h.eng.Answer(ctx, asking.ID, "", "alice", "", true); err != nil {
			t.Fatal(err)
		}
		h.settle()
		if r, _ := h.run(asking.ID); r.Status != store.RunSucceeded {
			t.Fatalf("approval run after restart: %s %s", r.Status, r.Error)
		}
		tl := strings.Join(h.timeline(1), "\n")
		for _, want := range []string{"incident.note waited", "incident.note approved by alice"} {
			if !strings.Contains(tl, want) {
				t.Errorf("timeline lacks %q:\n%s", want, tl)
			}
		}
	})
}

const interruptible = `
name: interruptible
triggers: [{manual: true}]
inputs: [{name: url, required: true}]
steps:
  - name: call
    http: {url: "{{ .Inputs.url }}", timeout: 1m}
    retry: {attempts: %d, backoff: 5s}
`

// TestInterruptedStepRetriedOnlyIfAllowed stops the process while an
// HTTP attempt is in flight. After the restart the attempt is recorded as
// interrupted; it is made again only if the step's retry allows.
func TestInterruptedStepRetriedOnlyIfAllowed(t *testing.T) {
	for _, attempts := range []int{1, 2} {
		t.Run(fmt.Sprintf("attempts=%d", attempts), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, b store.Backend) {
				ctx := context.Background()
				arrived, release := make(chan struct{}, 1), make(chan struct{})
				var calls atomic.Int32
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if calls.Add(1) == 1 {
						arrived <- struct{}{}
						select {
						case <-release:
						case <-r.Context().Done():
						}
						return
					}
					io.WriteString(w, "ok")
				}))
				defer srv.Close()
				defer close(release)
				clk := clock.NewFake(t0)
				h := newHarness(t, b, "", clk, map[string]string{"i.yml": fmt.Sprintf(interruptible, attempts)}, runbooks.Options{})
				run, _, err := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "interruptible", Actor: "bob", Inputs: map[string]any{"url": srv.URL}})
				if err != nil {
					t.Fatal(err)
				}
				// Stop the scheduler while the request is in flight.
				stop, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); h.sched.RunDue(stop) }()
				<-arrived
				cancel()
				<-done
				if _, steps := h.run(run.ID); steps["call"].Status != store.StepRunning {
					t.Fatalf("call is %s after the stop, want running", steps["call"].Status)
				}
				h.restart()
				h.settle()
				run, steps := h.run(run.ID)
				log := steps["call"].AttemptLog
				if !strings.Contains(log, `"interrupted":true`) {
					t.Errorf("attempt log %s does not record the interruption", log)
				}
				if attempts == 1 {
					if run.Status != store.RunFailed || !strings.Contains(run.Error, "interrupted") || !strings.Contains(run.Error, "no more attempts") || calls.Load() != 1 {
						t.Fatalf("run %s %q after %d calls: want failed, not retried", run.Status, run.Error, calls.Load())
					}
					return
				}
				if steps["call"].Status != store.StepRetrying {
					t.Fatalf("call %s, want retrying", steps["call"].Status)
				}
				h.advance(5 * time.Second)
				run, steps = h.run(run.ID)
				if run.Status != store.RunSucceeded || steps["call"].Attempts != 2 || calls.Load() != 2 {
					t.Fatalf("run %s (%s), %d attempts, %d calls: want the retry to succeed", run.Status, run.Error, steps["call"].Attempts, calls.Load())
				}
			})
		})
	}
}

// TestRunWhoseRunbookNoLongerLoadsFails: a run whose stored runbook text no
// longer loads (an upgrade with stricter checks) fails at its next step,
// and an answer to its approval is refused, instead of retrying forever.
func TestRunWhoseRunbookNoLongerLoadsFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		clk := clock.NewFake(t0)
		h := newHarness(t, b, "", clk, splitRunbooks(waitAndApprove), runbooks.Options{})
		waiting, _, _ := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "wait-then-note", Actor: "bob"})
		asking, _, _ := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "ask-then-note", Actor: "bob"})
		h.settle()
		if _, err := h.st.DB().Exec("UPDATE runbook_sources SET source = 'name: broken'"); err != nil {
			t.Fatal(err)
		}
		h.restart() // forget the parsed runbooks
		h.advance(10 * time.Minute)
		if r, _ := h.run(waiting.ID); r.Status != store.RunFailed || !strings.Contains(r.Error, "no longer loads") {
			t.Fatalf("waiting run: %s %q", r.Status, r.Error)
		}
		if _, err := h.eng.Answer(ctx, asking.ID, "", "alice", "", true); !errors.Is(err, runbooks.ErrConflict) {
			t.Fatalf("answer: %v, want a conflict", err)
		}
		if r, _ := h.run(asking.ID); r.Status != store.RunFailed {
			t.Fatalf("approval run: %s", r.Status)
		}
	})
}

// TestLoadLibrary loads the shipped runbooks with their text; a file with
// errors is rejected with file:line:column and the others still load.
func TestLoadLibrary(t *testing.T) {
	lib, errs := runbooks.LoadLibrary([]string{"../configs/runbooks/*.yml"})
	if len(errs) > 0 || lib.Set.Len() < 5 {
		t.Fatalf("%d runbooks, errors %v", lib.Set.Len(), errs)
	}
	for _, rb := range lib.Set.All() {
		src, ok := lib.Source(rb.Name)
		text, err := os.ReadFile(rb.File)
		if !ok || err != nil || string(src.Source) != string(text) || src.Hash == "" {
			t.Errorf("%s: source %v %v", rb.Name, ok, err)
		}
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "good.yml"), []byte("name: good\ntriggers: [{manual: true}]\nsteps:\n  - annotate: hi\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "bad.yml"), []byte("name: bad\nsteps:\n  - annotate: \"\"\n"), 0o600)
	lib, errs = runbooks.LoadLibrary([]string{filepath.Join(dir, "*.yml"), filepath.Join(dir, "missing.yml")})
	if lib.Set.Len() != 1 || len(errs) != 2 {
		t.Fatalf("%d runbooks, errors %v: want good loaded, bad and missing.yml reported", lib.Set.Len(), errs)
	}
	if got := errs[0].Error(); !strings.Contains(got, "missing.yml: no such file") {
		t.Errorf("first error %q", got)
	}
	if got := errs[1].Error(); got != filepath.Join(dir, "bad.yml")+":3:5: steps[0].annotate: the note is empty" {
		t.Errorf("second error %q", got)
	}
}
