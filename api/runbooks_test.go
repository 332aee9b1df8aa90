package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/runbooks"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/timers"
	"github.com/incidentd/incidentd/web"
)

const apiRunbooks = `name: purge
description: Purge a cache path.
triggers: [{manual: true}]
inputs:
  - {name: path, required: true, description: what to purge}
  - {name: retries, type: int, default: "2"}
steps:
  - name: ask
    approve: {from: [alice]}
  - annotate: "purged {{ .Inputs.path }} ({{ .Inputs.retries }})"
---
name: on-trigger
triggers: [{on: incident.triggered, match: '{severity="critical"}'}, {schedule: "@daily"}]
steps:
  - name: check
    when: 'incident.priority <= 3'
    annotate: "P{{ .Incident.Priority }}"
`

// runbookSetup serves the incident API and the runbook routes over one
// store with three incidents and an engine on a fake clock; run settles
// the engine.
func runbookSetup(t *testing.T, b store.Backend) (srv *httptest.Server, run func()) {
	t.Helper()
	base, st := setup(t, b)
	base.Close()
	clk := clock.NewFake(t0.Add(time.Hour))
	sched := timers.New(st, clk, timers.Options{Owner: "api-test"})
	eng := runbooks.NewEngine(st, sched, clk, runbooks.Options{})
	texts := map[string][]byte{}
	for i, doc := range strings.Split(apiRunbooks, "\n---\n") {
		texts[fmt.Sprintf("rb%d.yml", i)] = []byte(doc)
	}
	lib, errs := runbooks.NewLibrary(texts)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if err := eng.SetLibrary(context.Background(), lib); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(st, nil, clk, nil).Register(mux)
	api.NewRunbooks(eng, nil).Register(mux)
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, func() {
		for range 20 {
			if n, err := sched.RunDue(context.Background()); err != nil || n == 0 {
				return
			}
		}
	}
}

func TestRunbookRoutes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		srv, settle := runbookSetup(t, b)
		u := srv.URL + "/api/v1/runbooks"

		var list api.RunbookList
		if code := do(t, "GET", u, "", "", &list); code != 200 || len(list.Runbooks) != 2 {
			t.Fatalf("list: %d %+v", code, list)
		}
		on, purge := list.Runbooks[0], list.Runbooks[1]
		if purge.Name != "purge" || !purge.Manual || len(purge.Inputs) != 2 || purge.Inputs[1].Default != "2" || !purge.Inputs[0].Required {
			t.Errorf("purge listed as %+v", purge)
		}
		if want := []string{`on incident.triggered {severity="critical"}`, "schedule @daily UTC"}; fmt.Sprint(on.Triggers) != fmt.Sprint(want) {
			t.Errorf("triggers %q, want %q", on.Triggers, want)
		}

		for _, tc := range []struct {
			name, path, body string
			code             int
			field, msg       string
		}{
			{"unknown runbook", "/nope/runs", `{"actor":"bob"}`, 404, "", "no such runbook"},
			{"not manual", "/on-trigger/runs", `{"actor":"bob"}`, 409, "", "no manual trigger"},
			{"no actor", "/purge/runs", `{"inputs":{"path":"/a"}}`, 400, "actor", "required"},
			{"missing input", "/purge/runs", `{"actor":"bob"}`, 400, "inputs", "input path is required"},
			{"bad input", "/purge/runs", `{"actor":"bob","inputs":{"path":"/a","retries":"many"}}`, 400, "inputs", "not an integer"},
			{"unknown input", "/purge/runs", `{"actor":"bob","inputs":{"path":"/a","x":1}}`, 400, "inputs", `unknown input "x"`},
			{"unknown field", "/purge/runs", `{"actor":"bob","force":true}`, 400, "body", "unknown field"},
			{"bad incident", "/purge/runs", `{"actor":"bob","incident":"INC-x","inputs":{"path":"/a"}}`, 400, "incident", "invalid incident id"},
			{"no such incident", "/purge/runs", `{"actor":"bob","incident":"INC-99","inputs":{"path":"/a"}}`, 400, "incident", "not found"},
		} {
			var e web.Error
			if code := do(t, "POST", u+tc.path, "application/json", tc.body, &e); code != tc.code || e.Field != tc.field || !strings.Contains(e.Error, tc.msg) {
				t.Errorf("%s: %d %+v, want %d field %q with %q", tc.name, code, e, tc.code, tc.field, tc.msg)
			}
		}
		if code := do(t, "POST", u+"/purge/runs", "text/plain", `{}`, nil); code != http.StatusUnsupportedMediaType {
			t.Errorf("text/plain body: %d, want 415", code)
		}

		var dry runbooks.DryRunResult
		if code := do(t, "POST", u+"/purge/runs", "application/json", `{"actor":"bob","incident":"INC-1","dry_run":true,"inputs":{"path":"/img","retries":5}}`, &dry); code != 200 {
			t.Fatalf("dry run: %d", code)
		}
		if len(dry.Steps) != 2 || dry.Steps[1].Input.Note != "purged /img (5)" || dry.Error != "" {
			t.Fatalf("dry run %+v", dry)
		}
		var none api.RunList
		if do(t, "GET", u+"/runs", "", "", &none); len(none.Runs) != 0 {
			t.Fatalf("a dry run stored a run: %+v", none)
		}

		var run api.RunDetail
		body := `{"actor":"bob","incident":"1","inputs":{"path":"/img"},"request_id":"r-1"}`
		if code := do(t, "POST", u+"/purge/runs", "application/json", body, &run); code != 201 || run.Incident != "INC-1" || run.Inputs["retries"] != "2" || run.Actor != "bob" {
			t.Fatalf("start: %d %+v", code, run)
		}
		var again api.RunDetail
		if code := do(t, "POST", u+"/purge/runs", "application/json", body, &again); code != 200 || again.ID != run.ID {
			t.Fatalf("same request id: %d run %d, want 200 and run %d", code, again.ID, run.ID)
		}
		settle()
		runURL := fmt.Sprintf("%s/runs/%d", u, run.ID)
		var got api.RunDetail
		if code := do(t, "GET", runURL, "", "", &got); code != 200 || got.Status != store.RunAwaitingApproval || len(got.Steps) != 1 || got.Steps[0].Status != store.StepAwaitingApproval {
			t.Fatalf("run: %d %+v", code, got)
		}
		if !strings.Contains(string(got.Steps[0].Input), `"from":["alice"]`) {
			t.Errorf("step input %s", got.Steps[0].Input)
		}
		var e web.Error
		if code := do(t, "POST", runURL+"/approve", "application/json", `{"actor":"bob"}`, &e); code != 403 || e.Field != "actor" {
			t.Errorf("approval by bob: %d %+v", code, e)
		}
		if code := do(t, "POST", runURL+"/reject", "application/json", `{"actor":"alice","step":"nope"}`, &e); code != 409 {
			t.Errorf("answer to a step that does not wait: %d %+v", code, e)
		}
		var ans api.AnswerResult
		if code := do(t, "POST", runURL+"/approve", "application/json", `{"actor":"alice","message":"ok"}`, &ans); code != 200 || ans.Step.Status != store.StepSucceeded {
			t.Fatalf("approve: %d %+v", code, ans)
		}
		if code := do(t, "POST", runURL+"/approve", "application/json", `{"actor":"alice"}`, &e); code != 409 {
			t.Errorf("second approval: %d %+v", code, e)
		}
		settle()
		if do(t, "GET", runURL, "", "", &got); got.Status != store.RunSucceeded || len(got.Steps) != 2 || got.Steps[1].Status != store.StepSucceeded {
			t.Fatalf("after approval: %+v", got)
		}
		if code := do(t, "POST", runURL+"/cancel", "application/json", `{"actor":"alice"}`, &e); code != 409 {
			t.Errorf("cancelling a finished run: %d %+v", code, e)
		}

		// Another run, cancelled while it waits.
		var second api.RunDetail
		do(t, "POST", u+"/purge/runs", "application/json", `{"actor":"bob","inputs":{"path":"/b"}}`, &second)
		settle()
		var cancelled api.RunDetail
		if code := do(t, "POST", fmt.Sprintf("%s/runs/%d/cancel", u, second.ID), "application/json", `{"actor":"carol","message":"not needed"}`, &cancelled); code != 200 || cancelled.Status != store.RunCancelled || cancelled.Error != "cancelled by carol: not needed" {
			t.Fatalf("cancel: %d %+v", code, cancelled)
		}

		var runs api.RunList
		if code := do(t, "GET", u+"/runs?incident=INC-1", "", "", &runs); code != 200 || len(runs.Runs) != 1 || runs.Runs[0].ID != run.ID {
			t.Fatalf("runs of INC-1: %d %+v", code, runs)
		}
		if do(t, "GET", u+"/runs?status=cancelled,succeeded&limit=1", "", "", &runs); len(runs.Runs) != 1 || runs.Runs[0].ID != second.ID || runs.NextCursor == "" {
			t.Fatalf("page 1: %+v", runs)
		}
		if do(t, "GET", u+"/runs?status=cancelled,succeeded&limit=1&cursor="+runs.NextCursor, "", "", &runs); len(runs.Runs) != 1 || runs.Runs[0].ID != run.ID {
			t.Fatalf("page 2: %+v", runs)
		}
		for _, bad := range []string{"/runs?status=done", "/runs?incident=x", "/runs?limit=0", "/runs/abc"} {
			if code := do(t, "GET", u+bad, "", "", &e); code != 400 {
				t.Errorf("GET %s: %d, want 400", bad, code)
			}
		}
		if code := do(t, "GET", u+"/runs/999", "", "", &e); code != 404 {
			t.Errorf("unknown run: %d", code)
		}
	})
}
