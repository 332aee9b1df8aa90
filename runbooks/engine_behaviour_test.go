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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/runbooks"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

// TestRetryBackoffWithJitter checks when each attempt is made: backoff
// doubles up to max_backoff and jitter shortens each delay by the drawn
// fraction of jitter.
func TestRetryBackoffWithJitter(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) < 5 {
				http.Error(w, "busy", http.StatusTooManyRequests)
				return
			}
			io.WriteString(w, "ok")
		}))
		defer srv.Close()
		rb := `
name: flaky
triggers: [{manual: true}]
inputs: [{name: url, required: true}]
steps:
  - name: call
    http: {url: "{{ .Inputs.url }}"}
    retry: {attempts: 6, backoff: 2s, max_backoff: 5s, jitter: 0.5}
`
		clk := clock.NewFake(t0)
		// The drawn fraction is 0.5: each delay is shortened by 25 %.
		h := newHarness(t, b, "", clk, map[string]string{"f.yml": rb}, runbooks.Options{Rand: func() float64 { return 0.5 }})
		run, _, err := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "flaky", Actor: "bob", Inputs: map[string]any{"url": srv.URL}})
		if err != nil {
			t.Fatal(err)
		}
		h.settle()
		// 2s, 4s, 5s (capped), 5s, each × 0.75.
		for i, d := range []time.Duration{1500 * time.Millisecond, 3 * time.Second, 3750 * time.Millisecond, 3750 * time.Millisecond} {
			h.advance(d - time.Millisecond)
			if n := calls.Load(); n != int32(i+1) {
				t.Fatalf("%d calls %s into delay %d, want %d", n, d-time.Millisecond, i+1, i+1)
			}
			h.advance(time.Millisecond)
			if n := calls.Load(); n != int32(i+2) {
				t.Fatalf("%d calls after delay %d (%s), want %d", n, i+1, d, i+2)
			}
		}
		run, steps := h.run(run.ID)
		if run.Status != store.RunSucceeded || steps["call"].Attempts != 5 || result(t, steps["call"]).Status != 200 {
			t.Fatalf("run %s, call %+v", run.Status, steps["call"])
		}
	})
}

// TestRunTimeoutRunsOnFailure lets a run outlive its timeout: its open
// step times out, on_failure runs with the error, and the run ends
// timed_out. A hanging HTTP step and a hanging program fail at their own
// timeouts, and a step timeout stops retries.
func TestTimeouts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
		defer hang.Close()
		dir := helperDir(t)
		rbs := map[string]string{
			"slow.yml": `
name: slow
triggers: [{manual: true}]
timeout: 5m
steps:
  - wait: {duration: 4m}
  - name: long
    wait: {duration: 2m}
on_failure:
  - annotate: "slow failed: {{ .Error }}"
`,
			"hang.yml": `
name: hang
triggers: [{manual: true}]
inputs: [{name: url, required: true}]
steps:
  - name: call
    http: {url: "{{ .Inputs.url }}", timeout: 50ms}
    retry: {attempts: 5, backoff: 10s}
    timeout: 15s
    continue_on_error: true
  - name: prog
    exec: {command: [hang], timeout: 50ms}
`,
		}
		clk := clock.NewFake(t0)
		h := newHarness(t, b, "", clk, rbs, runbooks.Options{
			SearchPath: dir, Config: runbooks.Config{Exec: runbooks.ExecConfig{Allow: []string{dir + "/*"}}},
		})
		h.fire(checkoutLabels)
		h.settle()
		slow, _, err := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "slow", Actor: "bob", IncidentID: 1})
		if err != nil {
			t.Fatal(err)
		}
		h.settle()
		h.advance(4 * time.Minute)
		h.advance(time.Minute)
		run, steps := h.run(slow.ID)
		if run.Status != store.RunTimedOut || run.Error != "run timed out after 5m" || steps["long"].Status != store.StepTimedOut {
			t.Fatalf("slow: %s %q, long %s", run.Status, run.Error, steps["long"].Status)
		}
		if of := steps["on_failure[0]"]; of.Status != store.StepSucceeded {
			t.Fatalf("on_failure step %s: %s", of.Status, of.Error)
		}
		if tl := strings.Join(h.timeline(1), "\n"); !strings.Contains(tl, "incident.note slow failed: run timed out after 5m") {
			t.Errorf("timeline lacks the on_failure note:\n%s", tl)
		}

		hung, _, err := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "hang", Actor: "bob", Inputs: map[string]any{"url": hang.URL}})
		if err != nil {
			t.Fatal(err)
		}
		h.settle()
		_, steps = h.run(hung.ID)
		if s := steps["call"]; s.Status != store.StepRetrying || !strings.Contains(s.Error, "timed out after 50ms") {
			t.Fatalf("call: %s %q, want retrying after its attempt timed out", s.Status, s.Error)
		}
		h.advance(10 * time.Second)
		// The next retry would start at +20s, after the step's 15s timeout:
		// the step fails instead.
		run, steps = h.run(hung.ID)
		if s := steps["call"]; s.Status != store.StepFailed || s.Attempts != 2 {
			t.Fatalf("call: %s after %d attempts, want failed after 2", s.Status, s.Attempts)
		}
		if s := steps["prog"]; s.Status != store.StepFailed || !strings.Contains(s.Error, "timed out after 50ms") || result(t, s).ExitCode != -1 {
			t.Fatalf("prog: %s %q %+v, want killed at its timeout", s.Status, s.Error, result(t, s))
		}
		if run.Status != store.RunFailed {
			t.Fatalf("run %s", run.Status)
		}
	})
}

// TestConcurrencyLimitQueues starts three runs, two on one key with limit
// 1: the second waits, queued, until the first ends.
func TestConcurrencyLimitQueues(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		rb := `
name: one-at-a-time
triggers: [{manual: true}]
inputs: [{name: target, required: true}]
concurrency: {key: "{{ .Inputs.target }}", limit: 1}
steps:
  - wait: {duration: 5m}
`
		clk := clock.NewFake(t0)
		h := newHarness(t, b, "", clk, map[string]string{"c.yml": rb}, runbooks.Options{})
		var ids []int64
		for _, target := range []string{"db-1", "db-1", "db-2"} {
			run, _, err := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "one-at-a-time", Actor: "bob", Inputs: map[string]any{"target": target}})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, run.ID)
		}
		h.settle()
		status := func() []store.RunStatus {
			var out []store.RunStatus
			for _, id := range ids {
				r, _ := h.run(id)
				out = append(out, r.Status)
			}
			return out
		}
		if got := status(); !slices.Equal(got, []store.RunStatus{store.RunWaiting, store.RunQueued, store.RunWaiting}) {
			t.Fatalf("statuses %v, want the second db-1 run queued", got)
		}
		h.advance(5 * time.Minute)
		if got := status(); !slices.Equal(got, []store.RunStatus{store.RunSucceeded, store.RunWaiting, store.RunSucceeded}) {
			t.Fatalf("statuses %v, want the queued run started when the slot freed", got)
		}
		if r, _ := h.run(ids[1]); !r.StartedAt.Equal(t0.Add(5 * time.Minute)) {
			t.Errorf("queued run started at %s, want +5m", r.StartedAt)
		}
		h.advance(5 * time.Minute)
		if got := status(); !slices.Equal(got, []store.RunStatus{store.RunSucceeded, store.RunSucceeded, store.RunSucceeded}) {
			t.Fatalf("statuses %v", got)
		}
	})
}

// TestCronTicksOnceAcrossEngines runs two engines (two replicas) on one
// database: each tick of a schedule starts exactly one run, and the next
// tick is scheduled once.
func TestCronTicksOnceAcrossEngines(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		rb := `
name: every-half-hour
triggers: [{schedule: "*/30 * * * *", timezone: Europe/Berlin}]
steps:
  - annotate: "tick"
    continue_on_error: true
`
		clk := clock.NewFake(t0.Add(7 * time.Minute))
		files := map[string]string{"cron.yml": rb}
		a := newHarness(t, b, "", clk, files, runbooks.Options{})
		bb := newHarness(t, b, a.dsn, clk, files, runbooks.Options{})
		for tick := range 3 {
			clk.Set(t0.Add(time.Duration(tick+1) * 30 * time.Minute))
			var wg sync.WaitGroup
			for _, h := range []*harness{a, bb} {
				wg.Go(func() {
					if _, err := h.sched.RunDue(context.Background()); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			a.settle()
			bb.settle()
		}
		runs, err := a.eng.Runs(context.Background(), store.RunFilter{Runbook: "every-half-hour"})
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, r := range runs {
			keys = append(keys, r.IdempotencyKey)
			if r.Trigger != "schedule" || r.Status != store.RunSucceeded {
				t.Errorf("run %d: %s %s", r.ID, r.Trigger, r.Status)
			}
		}
		slices.Sort(keys)
		want := []string{
			"cron:every-half-hour:0:2026-11-21T10:30:00Z",
			"cron:every-half-hour:0:2026-11-21T11:00:00Z",
			"cron:every-half-hour:0:2026-11-21T11:30:00Z",
		}
		if !slices.Equal(keys, want) {
			t.Fatalf("runs %v, want one per tick %v", keys, want)
		}
		ts, err := a.st.Timers(context.Background(), store.TimerFilter{Prefix: "cron:", States: []store.TimerState{store.TimerPending}})
		if err != nil || len(ts) != 1 || ts[0].Key != "cron:every-half-hour:0:2026-11-21T12:00:00Z" {
			t.Fatalf("pending cron timers %v %v, want the next tick once", ts, err)
		}
	})
}

// TestExecArgumentsAreData puts shell syntax into alert labels: every
// label arrives verbatim as one argument, nothing else runs, and the
// program's environment is exactly PATH and the step's env.
func TestExecArgumentsAreData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		dir := helperDir(t)
		pwned := filepath.Join(t.TempDir(), "pwned")
		evil := map[string]string{
			"alertname": "Injection",
			"semi":      "x; rm -rf /",
			"subst":     "$(touch " + pwned + ")",
			"tick":      "`touch " + pwned + "`",
			"newline":   "a\nb; touch " + pwned,
			"tmpl":      "{{ .Env }}",
			"secretref": "${secret:token}",
			"spaces":    "  two  words  ",
		}
		rb := `
name: echo-labels
triggers: [{on: incident.triggered, match: '{alertname="Injection"}'}]
steps:
  - name: echo
    exec:
      command: [argv, "{{ .Labels.semi }}", "{{ .Labels.subst }}", "{{ .Labels.tick }}", "{{ .Labels.newline }}",
                "{{ .Labels.tmpl }}", "{{ .Labels.secretref }}", "{{ .Labels.spaces }}", "--flag={{ .Labels.semi }}"]
      env: {LABEL: "{{ .Labels.subst }}", TOKEN: "${secret:token}"}
`
		clk := clock.NewFake(t0)
		h := newHarness(t, b, "", clk, map[string]string{"e.yml": rb}, runbooks.Options{
			SearchPath: dir, Config: runbooks.Config{Exec: runbooks.ExecConfig{Allow: []string{filepath.Join(dir, "argv")}}},
			Secrets: mapSecrets{"token": "tok-s3cr3t"},
		})
		t.Setenv("INCIDENTD_SECRET_TOKEN", "from-daemon-env") // never reaches the program
		h.fire(evil)
		h.settle()
		run, steps := h.onlyRun("echo-labels")
		if run.Status != store.RunSucceeded {
			t.Fatalf("run %s: %s", run.Status, run.Error)
		}
		var printed struct {
			Args []string `json:"args"`
			Env  []string `json:"env"`
		}
		if err := json.Unmarshal([]byte(result(t, steps["echo"]).Stdout), &printed); err != nil {
			t.Fatal(err)
		}
		want := []string{evil["semi"], evil["subst"], evil["tick"], evil["newline"], evil["tmpl"], evil["secretref"], evil["spaces"], "--flag=" + evil["semi"]}
		if !slices.Equal(printed.Args, want) {
			t.Errorf("arguments:\n got %q\nwant %q", printed.Args, want)
		}
		if wantEnv := []string{"LABEL=" + evil["subst"], "PATH=" + dir, "TOKEN=***"}; !slices.Equal(printed.Env, wantEnv) {
			t.Errorf("environment %q, want exactly %q", printed.Env, wantEnv)
		}
		if _, err := os.Stat(pwned); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a label ran a command: %s exists", pwned)
		}
	})
}

// TestExecAllowlist refuses programs outside runbooks.exec.allow, and
// every program when the list is empty.
func TestExecAllowlist(t *testing.T) {
	dir := helperDir(t)
	for _, tc := range []struct {
		allow []string
		want  string
	}{
		{nil, "exec steps are off"},
		{[]string{filepath.Join(dir, "kubectl")}, filepath.Join(dir, "argv") + " is not allowed"},
		{[]string{"/usr/bin/*"}, "is not allowed"},
	} {
		clk := clock.NewFake(t0)
		rb := "name: x\ntriggers: [{manual: true}]\nsteps:\n  - exec: {command: [argv, hello]}\n"
		h := newHarness(t, store.SQLite, "", clk, map[string]string{"x.yml": rb}, runbooks.Options{
			SearchPath: dir, Config: runbooks.Config{Exec: runbooks.ExecConfig{Allow: tc.allow}},
		})
		run, _, err := h.eng.Start(context.Background(), runbooks.StartRequest{Runbook: "x", Actor: "bob"})
		if err != nil {
			t.Fatal(err)
		}
		h.settle()
		run, _ = h.run(run.ID)
		if run.Status != store.RunFailed || !strings.Contains(run.Error, tc.want) {
			t.Errorf("allow %v: run %s %q, want failed with %q", tc.allow, run.Status, run.Error, tc.want)
		}
	}
}

// TestSecretsNeverStored sends a secret in an HTTP URL, header and body to
// a server that echoes all of it, and to a program that prints it; the
// secret shows up in no stored output, error, timeline event or API
// answer.
func TestSecretsNeverStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		const secret = "tok/s3cr3t?&x=1"
		echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Echo", r.Header.Get("Authorization"))
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(map[string]string{"path": r.URL.RawPath + r.URL.Path, "query": r.URL.RawQuery, "auth": r.Header.Get("Authorization"), "body": string(body)})
		}))
		defer echo.Close()
		dir := helperDir(t)
		rb := `
name: leaky
triggers: [{on: incident.triggered}]
inputs: [{name: base, default: "` + echo.URL + `"}]
steps:
  - name: call
    http:
      method: POST
      url: "{{ .Inputs.base }}/hooks/${secret:token}?k=${secret:token}"
      headers: {Authorization: "Bearer ${secret:token}"}
      json: {token: "${secret:token}", note: "{{ .Incident.Key }}"}
  - name: env
    exec: {command: [argv, "{{ .Steps.call.Body }}"], env: {TOKEN: "${secret:token}"}}
  - name: refused
    http: {url: "http://127.0.0.1:1/${secret:token}", timeout: 2s}
on_failure:
  - annotate: "leaky failed: {{ .Error }} / {{ .Steps.call.Body }} / {{ .Steps.env.Stdout }}"
`
		clk := clock.NewFake(t0)
		h := newHarness(t, b, "", clk, map[string]string{"l.yml": rb}, runbooks.Options{
			SearchPath: dir, Config: runbooks.Config{Exec: runbooks.ExecConfig{Allow: []string{dir + "/*"}}},
			Secrets: mapSecrets{"token": secret},
		})
		apiSrv := apiServer(t, h)
		h.fire(checkoutLabels)
		h.settle()
		run, steps := h.onlyRun("leaky")
		if run.Status != store.RunFailed || steps["refused"].Status != store.StepFailed || steps["on_failure[0]"].Status != store.StepSucceeded {
			t.Fatalf("run %s (%s), refused %s, on_failure %s", run.Status, run.Error, steps["refused"].Status, steps["on_failure[0]"].Status)
		}
		call := result(t, steps["call"])
		if call.Headers["X-Echo"] != "Bearer ***" || !strings.Contains(call.Body, `"auth":"Bearer ***"`) {
			t.Errorf("the echo was not masked as expected: %+v", call)
		}
		if j, _ := call.JSON.(map[string]any); j["body"] == nil {
			t.Errorf("json of the masked body: %v", call.JSON)
		}
		_, detail := get(t, fmt.Sprintf("%s/api/v1/runbooks/runs/%d", apiSrv.URL, run.ID))
		_, list := get(t, apiSrv.URL+"/api/v1/runbooks/runs")
		h.noSecret(secret, detail, list, strings.Join(h.timeline(1), "\n"))
		h.noSecret(strings.ReplaceAll(secret, "?", "%3F"), detail)
		if !strings.Contains(detail, `hooks/***`) {
			t.Errorf("rendered input not shown masked: %s", detail)
		}
	})
}

// TestEventStartsRunOnce handles a trigger event twice (a consumer
// crashed before saving its cursor): one run.
func TestEventStartsRunOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		rb := "name: once\ntriggers: [{on: incident.triggered, match: '{service=\"checkout-api\", priority=~\"P[1-3]\"}'}]\nsteps:\n  - wait: {duration: 1m}\n"
		clk := clock.NewFake(t0)
		h := newHarness(t, b, "", clk, map[string]string{"o.yml": rb}, runbooks.Options{})
		h.fire(checkoutLabels)
		h.settle()
		evs, err := h.st.EventsAfter(context.Background(), 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if err := h.eng.Handle(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
		}
		h.settle()
		runs, _ := h.eng.Runs(context.Background(), store.RunFilter{})
		if len(runs) != 1 || runs[0].IdempotencyKey != fmt.Sprintf("event:%d:once", runs[0].TriggerEvent) {
			t.Fatalf("runs %+v, want one keyed by its event", runs)
		}
		// An event the matcher rejects starts nothing.
		h.fire(map[string]string{"alertname": "Other", "service": "search"})
		h.settle()
		if runs, _ := h.eng.Runs(context.Background(), store.RunFilter{}); len(runs) != 1 {
			t.Fatalf("%d runs after a non-matching incident", len(runs))
		}
	})
}

// TestParallelAndCalledRunbook runs two checks at once, one failing with
// continue_on_error, then calls another runbook with inputs and waits for
// it; a parallel step whose step fails fails the run.
func TestParallelAndCalledRunbook(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/bad") {
				http.Error(w, "no", http.StatusBadGateway)
				return
			}
			io.WriteString(w, `{"role": "primary"}`)
		}))
		defer srv.Close()
		rbs := splitRunbooks(`
name: checks
triggers: [{manual: true}]
inputs: [{name: base, required: true}, {name: strict, type: bool, default: "false"}]
steps:
  - name: both
    parallel:
      - name: good
        http: {url: "{{ .Inputs.base }}/good"}
      - name: bad
        http: {url: "{{ .Inputs.base }}/bad"}
        continue_on_error: true
  - name: strict
    when: inputs.strict
    parallel:
      - name: bad2
        http: {url: "{{ .Inputs.base }}/bad"}
      - name: pause
        wait: {duration: 1m}
  - name: diagnose
    when: '!steps.bad.ok && steps.good.json.role == "primary"'
    runbook:
      name: diagnostics
      inputs: {reason: "{{ .Steps.bad.Status }}", minutes: "2"}
  - annotate: "diagnostics: {{ .Steps.diagnose.Outcome }}"
on_failure:
  - annotate: "checks failed: {{ .Error }}"
---
name: diagnostics
inputs: [{name: reason, required: true}, {name: minutes, type: int, default: "1"}]
steps:
  - wait: {duration: 2m}
  - annotate: "diagnosed {{ .Inputs.reason }} for {{ .Inputs.minutes }}m"
`)
		clk := clock.NewFake(t0)
		h := newHarness(t, b, "", clk, rbs, runbooks.Options{})
		h.fire(checkoutLabels)
		h.settle()
		run, _, err := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "checks", Actor: "bob", IncidentID: 1, Inputs: map[string]any{"base": srv.URL}})
		if err != nil {
			t.Fatal(err)
		}
		h.settle()
		run, steps := h.run(run.ID)
		if steps["both"].Status != store.StepSucceeded || steps["bad"].Status != store.StepFailed || steps["strict"].Status != store.StepSkipped || steps["diagnose"].Status != store.StepWaiting {
			t.Fatalf("both %s, bad %s, strict %s, diagnose %s", steps["both"].Status, steps["bad"].Status, steps["strict"].Status, steps["diagnose"].Status)
		}
		children, _ := h.eng.Runs(ctx, store.RunFilter{ParentRun: run.ID})
		if len(children) != 1 || children[0].Trigger != "runbook" || children[0].IncidentID != 1 || children[0].Status != store.RunWaiting {
			t.Fatalf("children %+v", children)
		}
		h.advance(2 * time.Minute)
		run, _ = h.run(run.ID)
		if run.Status != store.RunSucceeded {
			t.Fatalf("run %s: %s", run.Status, run.Error)
		}
		tl := strings.Join(h.timeline(1), "\n")
		for _, want := range []string{"incident.note diagnosed 502 for 2m", "incident.note diagnostics: succeeded"} {
			if !strings.Contains(tl, want) {
				t.Errorf("timeline lacks %q:\n%s", want, tl)
			}
		}

		strict, _, err := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "checks", Actor: "bob", IncidentID: 1, Inputs: map[string]any{"base": srv.URL, "strict": true}})
		if err != nil {
			t.Fatal(err)
		}
		h.settle()
		if r, steps := h.run(strict.ID); r.Status != store.RunWaiting || steps["bad2"].Status != store.StepFailed || steps["pause"].Status != store.StepWaiting {
			t.Fatalf("strict run %s: the parallel step must wait for all its steps", r.Status)
		}
		h.advance(time.Minute)
		r, steps := h.run(strict.ID)
		if r.Status != store.RunFailed || steps["strict"].Status != store.StepFailed || !strings.Contains(r.Error, "step bad2 failed: HTTP 502") {
			t.Fatalf("strict run %s %q, strict %s", r.Status, r.Error, steps["strict"].Status)
		}
	})
}

// TestCancelRun cancels a run waiting on a called runbook: both end
// cancelled, on_failure does not run.
func TestCancelRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		rbs := splitRunbooks(`
name: outer
triggers: [{manual: true}]
steps:
  - runbook: {name: inner}
on_failure:
  - annotate: "should not run"
---
name: inner
steps:
  - approve: {from: [alice]}
`)
		clk := clock.NewFake(t0)
		h := newHarness(t, b, "", clk, rbs, runbooks.Options{})
		h.fire(checkoutLabels)
		h.settle()
		outer, _, err := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "outer", Actor: "bob", IncidentID: 1})
		if err != nil {
			t.Fatal(err)
		}
		h.settle()
		inner, _ := h.eng.Runs(ctx, store.RunFilter{ParentRun: outer.ID})
		if len(inner) != 1 || inner[0].Status != store.RunAwaitingApproval {
			t.Fatalf("inner %+v", inner)
		}
		if _, err := h.eng.Cancel(ctx, outer.ID, "", ""); err == nil {
			t.Fatal("cancel without actor accepted")
		}
		if _, err := h.eng.Cancel(ctx, outer.ID, "carol", "wrong incident"); err != nil {
			t.Fatal(err)
		}
		h.settle()
		o, steps := h.run(outer.ID)
		i, _ := h.run(inner[0].ID)
		if o.Status != store.RunCancelled || o.Error != "cancelled by carol: wrong incident" || i.Status != store.RunCancelled || steps["on_failure[0]"].StepID != "" {
			t.Fatalf("outer %s %q, inner %s %q, on_failure %+v", o.Status, o.Error, i.Status, i.Error, steps["on_failure[0]"])
		}
		if _, err := h.eng.Answer(ctx, inner[0].ID, "", "alice", "", true); !errors.Is(err, runbooks.ErrConflict) {
			t.Fatalf("answering a cancelled run: %v, want a conflict", err)
		}
		if _, err := h.eng.Cancel(ctx, outer.ID, "carol", ""); !errors.Is(err, runbooks.ErrConflict) {
			t.Fatalf("cancelling twice: %v", err)
		}
	})
}

// TestApprovalRejectAndTimeout: a rejection fails the step (rejected) and
// the run; an unanswered approval times out.
func TestApprovalRejectAndTimeout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		rb := "name: ask\ntriggers: [{manual: true}]\nsteps:\n  - name: q\n    approve: {from: [user:alice, team-db], timeout: 15m}\n"
		clk := clock.NewFake(t0)
		h := newHarness(t, b, "", clk, map[string]string{"a.yml": rb}, runbooks.Options{})
		r1, _, _ := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "ask", Actor: "bob"})
		r2, _, _ := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "ask", Actor: "bob"})
		h.settle()
		if _, err := h.eng.Answer(ctx, r1.ID, "", "bob", "", false); !errors.Is(err, runbooks.ErrNotAllowed) {
			t.Fatalf("bob answered: %v", err)
		}
		if _, err := h.eng.Answer(ctx, r1.ID, "nope", "alice", "", false); !errors.Is(err, runbooks.ErrConflict) {
			t.Fatalf("answer for a step that does not wait: %v", err)
		}
		if _, err := h.eng.Answer(ctx, r1.ID, "q", "alice", "not now", false); err != nil {
			t.Fatal(err)
		}
		h.advance(15 * time.Minute)
		run1, s1 := h.run(r1.ID)
		run2, s2 := h.run(r2.ID)
		if run1.Status != store.RunFailed || s1["q"].Status != store.StepRejected || result(t, s1["q"]).Outcome != runbooks.OutcomeRejected || run1.Error != "step q rejected: rejected by alice: not now" {
			t.Fatalf("rejected run %s %q, step %s", run1.Status, run1.Error, s1["q"].Status)
		}
		if run2.Status != store.RunFailed || s2["q"].Status != store.StepTimedOut {
			t.Fatalf("unanswered run %s, step %s", run2.Status, s2["q"].Status)
		}
	})
}

// TestSet puts an incident on hold and takes it off, and sets its priority
// and labels, each change on the timeline under the runbook's name.
func TestSet(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		clk := clock.NewFake(t0)
		rbs := splitRunbooks(`
name: hold
triggers: [{on: incident.triggered}]
steps:
  - set: {on_hold: true}
  - set: {on_hold: true}
  - name: off
    set: {on_hold: false}
  - set: {priority: P5, labels: {team: payments}}
`)
		h := newHarness(t, b, "", clk, rbs, runbooks.Options{})
		h.fire(checkoutLabels)
		h.settle()
		run, steps := h.onlyRun("hold")
		if steps["steps[1]"].Status != store.StepSucceeded || steps["off"].Status != store.StepSucceeded {
			t.Fatalf("holding twice: %s, taking off hold: %s", steps["steps[1]"].Status, steps["off"].Status)
		}
		if run.Status != store.RunSucceeded {
			t.Fatalf("run %s %q", run.Status, run.Error)
		}
		inc, _ := h.st.Incident(context.Background(), 1)
		if inc.Status != "triggered" || inc.Priority != 5 || inc.Major || inc.Labels["team"] != "payments" {
			t.Fatalf("incident %s P%d labels %v", inc.Status, inc.Priority, inc.Labels)
		}
		tl := strings.Join(h.timeline(1), "\n")
		for _, want := range []string{"put on hold by runbook:hold", "-> P5: set by runbook:hold", "labels set by runbook:hold: team=payments"} {
			if strings.Count(tl, want) != 1 {
				t.Errorf("want %q once on the timeline:\n%s", want, tl)
			}
		}
	})
}

// TestDryRunExample walks the example as a scheduled run would: without
// an incident the health URL cannot render, the restart cannot either,
// and on_failure shows the error -- as docs/runbooks.md explains.
func TestDryRunExample(t *testing.T) {
	rb, err := runbooks.Parse("restart.yml", []byte(exampleRunbook(t)))
	if err != nil {
		t.Fatal(err)
	}
	d := rb.NewData()
	d.Runbook.Trigger = "schedule"
	res := runbooks.DryRun(rb, d, runbooks.DryRunOptions{})
	var states []string
	for _, s := range res.Steps {
		states = append(states, s.Label()+"="+s.State)
	}
	want := []string{"health=fails", "restart=fails", "note=not_reached", "wait-recovery=not_reached", "ask=not_reached", "escalate=not_reached"}
	if !slices.Equal(states, want) {
		t.Fatalf("states %v, want %v", states, want)
	}
	if !strings.Contains(res.Error, "step restart failed") || len(res.OnFailure) != 1 || res.OnFailure[0].State != runbooks.DryWouldRun {
		t.Fatalf("error %q, on_failure %+v", res.Error, res.OnFailure)
	}
	if note := res.OnFailure[0].Input.Note; !strings.HasPrefix(note, "Runbook restart-checkout-on-errors failed: step restart failed") {
		t.Errorf("on_failure note %q", note)
	}

	// With an incident, everything renders; the secret stays a reference.
	d = rb.NewData()
	d.Incident = runbooks.Incident{ID: 1, Key: "INC-1", Status: "triggered", FiringCount: 1}
	d.Labels = map[string]string{"service": "checkout-api"}
	d.CI = runbooks.CI{ID: "checkout-api", Attributes: map[string]string{"host": "app.internal"}}
	res = runbooks.DryRun(rb, d, runbooks.DryRunOptions{})
	if res.Error != "" {
		t.Fatalf("dry run failed: %s", res.Error)
	}
	byName := map[string]runbooks.DryStep{}
	for _, s := range res.Steps {
		byName[s.Name] = s
	}
	if got := byName["health"].Input.HTTP.URL; got != "http://app.internal:8080/healthz" {
		t.Errorf("health URL %q", got)
	}
	if byName["restart"].State != runbooks.DryWouldRun || byName["restart"].Input.Exec.Env["KUBECONFIG"] != "${secret:kubeconfig}" {
		t.Errorf("restart %+v", byName["restart"])
	}
	if !strings.Contains(byName["wait-recovery"].Note, "does not hold now") || byName["ask"].State != runbooks.DryWouldRun {
		t.Errorf("wait %q, ask %s", byName["wait-recovery"].Note, byName["ask"].State)
	}
}

// TestMetrics counts ended runs by result, step durations by kind and
// status, and the approvals pending in the store.
func TestMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		reg := prometheus.NewRegistry()
		clk := clock.NewFake(t0)
		rb := "name: m\ntriggers: [{manual: true}]\nsteps:\n  - name: q\n    approve: {from: [alice]}\n  - wait: {duration: 90s}\n"
		h := newHarness(t, b, "", clk, map[string]string{"m.yml": rb}, runbooks.Options{Registerer: reg})
		r1, _, _ := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "m", Actor: "bob"})
		r2, _, _ := h.eng.Start(ctx, runbooks.StartRequest{Runbook: "m", Actor: "bob"})
		h.settle()
		pending := func() float64 {
			t.Helper()
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			for _, mf := range mfs {
				if mf.GetName() == "incidentd_runbook_approvals_pending" {
					return mf.GetMetric()[0].GetGauge().GetValue()
				}
			}
			t.Fatal("no incidentd_runbook_approvals_pending")
			return 0
		}
		if n := pending(); n != 2 {
			t.Fatalf("approvals pending %v, want 2", n)
		}
		clk.Advance(30 * time.Second)
		if _, err := h.eng.Answer(ctx, r1.ID, "", "alice", "", true); err != nil {
			t.Fatal(err)
		}
		if _, err := h.eng.Cancel(ctx, r2.ID, "alice", ""); err != nil {
			t.Fatal(err)
		}
		h.settle()
		if n := pending(); n != 0 {
			t.Fatalf("approvals pending %v after the answers, want 0", n)
		}
		h.advance(90 * time.Second)
		runs := series(t, reg, "incidentd_runbook_runs_total")
		if runs[`result="succeeded",runbook="m"`] != 1 || runs[`result="cancelled",runbook="m"`] != 1 || len(runs) != 2 {
			t.Errorf("runs by result %v, want one succeeded and one cancelled", runs)
		}
		steps := series(t, reg, "incidentd_runbook_step_duration_seconds")
		want := map[string]float64{
			`kind="approve",runbook="m",status="succeeded"`: 30, // asked at +0s, approved at +30s
			`kind="wait",runbook="m",status="succeeded"`:    90,
			// The cancelled run's approval ends cancelled, with the run:
			// steps are observed only when the engine ends them.
		}
		if fmt.Sprint(steps) != fmt.Sprint(want) {
			t.Errorf("step durations (sum of one observation each) %v, want %v", steps, want)
		}
	})
}

// series gathers a counter's values or a histogram's sums (each series
// must have exactly one observation) by their labels.
func series(t *testing.T, reg *prometheus.Registry, name string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := strings.Join(labels, ",")
			if h := m.GetHistogram(); h != nil {
				if h.GetSampleCount() != 1 {
					t.Errorf("%s{%s}: %d observations, want 1", name, key, h.GetSampleCount())
				}
				out[key] = h.GetSampleSum()
				continue
			}
			out[key] = m.GetCounter().GetValue()
		}
	}
	return out
}

// TestAlertAndSLATriggers: alert.* triggers match the alert's own labels
// (not only those the incident's alerts share), and sla.* events start
// runs on their incident.
func TestAlertAndSLATriggers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		ctx := context.Background()
		rbs := splitRunbooks(`
name: on-disk
triggers: [{on: alert.firing, match: '{alertname="DiskFull", mountpoint="/var"}'}]
steps:
  - annotate: "disk {{ .Incident.Key }}"
---
name: on-breach
triggers: [{on: sla.breached, match: '{priority=~"P[1-3]"}'}]
steps:
  - annotate: "breach {{ .Runbook.Trigger }}"
`)
		clk := clock.NewFake(t0)
		h := newHarness(t, b, "", clk, rbs, runbooks.Options{})
		// Two alerts in one incident: only one is on /var.
		h.fire(map[string]string{"alertname": "DiskFull", "service": "db", "mountpoint": "/data", "severity": "critical"})
		h.fire(map[string]string{"alertname": "DiskFull", "service": "db", "mountpoint": "/var", "severity": "critical"})
		h.settle()
		runs, _ := h.eng.Runs(ctx, store.RunFilter{Runbook: "on-disk"})
		if len(runs) != 1 || runs[0].Trigger != "alert.firing" || runs[0].IncidentID != 1 {
			t.Fatalf("on-disk runs %+v, want one, for the /var alert", runs)
		}
		if err := h.st.RecordEvents(ctx, []incident.Event{{IncidentID: 1, At: clk.Now(), Actor: "incidentd", Kind: "sla.breached", Message: "resolve SLA breached"}}); err != nil {
			t.Fatal(err)
		}
		h.settle()
		run, _ := h.onlyRun("on-breach")
		if run.Status != store.RunSucceeded || run.Trigger != "sla.breached" {
			t.Fatalf("on-breach run %s %s", run.Status, run.Trigger)
		}
		if tl := strings.Join(h.timeline(1), "\n"); !strings.Contains(tl, "incident.note breach sla.breached") || !strings.Contains(tl, "incident.note disk INC-1") {
			t.Errorf("timeline:\n%s", tl)
		}
	})
}
