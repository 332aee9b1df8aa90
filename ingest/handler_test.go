package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/web"
)

func newServer(t *testing.T, s Store, maxBody int64) *httptest.Server {
	t.Helper()
	p := incident.DefaultPolicy()
	var policy atomic.Pointer[incident.Policy]
	policy.Store(&p)
	c := NewCommitter(s, &policy, CommitterOptions{})
	h := NewHandler(c, HandlerOptions{MaxBodyBytes: maxBody})
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(web.Logged(nil, mux))
	t.Cleanup(func() { srv.Close(); c.Close() })
	return srv
}

func post(t *testing.T, url, contentType string, body []byte) (int, web.Error, http.Header) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var e web.Error
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(raw, &e); err != nil || e.Error == "" {
			t.Fatalf("status %d with a body that is not a JSON error: %q", resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, e, resp.Header
}

const amAlert = `{"status":"firing","labels":{"alertname":"A","service":"s"},"annotations":{},"startsAt":"2026-11-21T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"00000000000000aa"}`

func amBody(alerts ...string) string {
	return `{"version":"4","status":"firing","receiver":"r","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"","alerts":[` + strings.Join(alerts, ",") + `]}`
}

func TestBadInputIsRejectedAndNothingStored(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		srv := newServer(t, s, 4096)
		am := srv.URL + "/api/v1/alerts/alertmanager"
		generic := srv.URL + "/api/v1/alerts"
		const js = "application/json"
		tests := []struct {
			name        string
			url, ctype  string
			body        string
			wantStatus  int
			wantField   string
			wantMessage string
		}{
			{"malformed json", am, js, `{"version":"4",`, 400, "", "malformed JSON"},
			{"not json at all", generic, js, `hello`, 400, "", "malformed JSON"},
			{"empty body", generic, js, ``, 400, "", "malformed JSON"},
			{"labels of wrong type", am, js, amBody(`{"status":"firing","labels":"x"}`), 400, "alerts.labels", "wrong type"},
			{"startsAt of wrong type", am, js, amBody(`{"status":"firing","labels":{"a":"b"},"startsAt":5}`), 400, "", ""},
			{"missing labels", am, js, amBody(`{"status":"firing","annotations":{}}`), 400, "alerts[0].labels", "missing"},
			{"second alert bad, first not stored", am, js, amBody(amAlert, `{"status":"firing","labels":{}}`), 400, "alerts[1].labels", "missing"},
			{"unknown status", am, js, amBody(`{"status":"pending","labels":{"a":"b"}}`), 400, "alerts[0].status", "not firing or resolved"},
			{"unknown version", am, js, strings.Replace(amBody(amAlert), `"version":"4"`, `"version":"5"`, 1), 400, "version", "unsupported"},
			{"missing version", am, js, strings.Replace(amBody(amAlert), `"version":"4",`, ``, 1), 400, "version", "missing"},
			{"no alerts", am, js, amBody(), 400, "alerts", "no alerts"},
			{"invalid utf-8", generic, js, "[{\"labels\":{\"a\":\"\xff\xfe\"}}]", 400, "", "UTF-8"},
			{"nul in label value", generic, js, `[{"labels":{"a":"x\u0000y"}}]`, 400, "[0].labels.a", "NUL"},
			{"generic unknown field", generic, js, `[{"labels":{"a":"b"},"start_at":"x"}]`, 400, "start_at", "unknown field"},
			{"generic bad time", generic, js, `[{"labels":{"a":"b"},"starts_at":"yesterday"}]`, 400, "[0].starts_at", "RFC 3339"},
			{"generic not a list", generic, js, `{"labels":{"a":"b"}}`, 400, "(top level)", "wrong type"},
			{"generic empty list", generic, js, `[]`, 400, "", "no alerts"},
			{"generic trailing data", generic, js, `[{"labels":{"a":"b"}}] [1]`, 400, "", "after the JSON list"},
			{"generic fingerprint with spaces", generic, js, `[{"labels":{"a":"b"},"fingerprint":"a b"}]`, 400, "[0].fingerprint", ""},
			{"body too large", generic, js, `[{"labels":{"a":"` + strings.Repeat("x", 5000) + `"}}]`, 413, "", "max_body_bytes"},
			{"form content type", generic, "application/x-www-form-urlencoded", `[{"labels":{"a":"b"}}]`, 415, "", "application/json"},
			{"no content type", am, "", amBody(amAlert), 415, "", "application/json"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				code, e, _ := post(t, tt.url, tt.ctype, []byte(tt.body))
				if code != tt.wantStatus {
					t.Fatalf("status %d (%+v), want %d", code, e, tt.wantStatus)
				}
				if e.Field != tt.wantField {
					t.Errorf("field %q, want %q (error %q)", e.Field, tt.wantField, e.Error)
				}
				if !strings.Contains(e.Error, tt.wantMessage) {
					t.Errorf("error %q does not mention %q", e.Error, tt.wantMessage)
				}
				if e.RequestID == "" {
					t.Error("error has no request_id")
				}
			})
		}
		alerts, err := s.Alerts(context.Background(), store.AlertFilter{Limit: 10})
		if err != nil || len(alerts) != 0 {
			t.Fatalf("rejected requests stored %d alerts (err %v)", len(alerts), err)
		}
		// The daemon keeps serving: a valid request after all that is stored.
		if code, e, _ := post(t, am, js, []byte(amBody(amAlert))); code != 200 {
			t.Fatalf("valid request after bad ones: %d %+v", code, e)
		}
		if code, e, _ := post(t, generic, "application/json; charset=utf-8", []byte(`[{"labels":{"alertname":"B"},"starts_at":"2026-11-21T10:00:00Z","source":"cron"}]`)); code != 200 {
			t.Fatalf("valid generic request: %d %+v", code, e)
		}
		alerts, _ = s.Alerts(context.Background(), store.AlertFilter{Limit: 10})
		if len(alerts) != 2 {
			t.Fatalf("valid requests stored %d alerts, want 2", len(alerts))
		}
	})
}

func TestStoreFailureAnswers503(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		srv := newServer(t, s, 1<<20)
		s.Close() // every commit now fails
		code, e, h := post(t, srv.URL+"/api/v1/alerts/alertmanager", "application/json", []byte(amBody(amAlert)))
		if code != http.StatusServiceUnavailable {
			t.Fatalf("status %d (%+v), want 503", code, e)
		}
		if h.Get("Retry-After") != "5" {
			t.Errorf("Retry-After = %q, want 5", h.Get("Retry-After"))
		}
	})
}

// gatedStore holds the first commit until released, so that a test can queue
// requests behind it and watch them share the next transaction.
type gatedStore struct {
	Store
	gate    chan struct{}
	entered chan struct{}
	calls   atomic.Int32
	sizes   chan int
}

func (g *gatedStore) Ingest(ctx context.Context, p *incident.Policy, in []incident.AlertInput, now time.Time) (incident.Stats, error) {
	if g.calls.Add(1) == 1 {
		close(g.entered)
		<-g.gate
	}
	g.sizes <- len(in)
	return g.Store.Ingest(ctx, p, in, now)
}

func TestGroupCommitSharesOneTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		g := &gatedStore{Store: storetest.Open(t, b), gate: make(chan struct{}), entered: make(chan struct{}), sizes: make(chan int, 100)}
		p := incident.DefaultPolicy()
		var policy atomic.Pointer[incident.Policy]
		policy.Store(&p)
		c := NewCommitter(g, &policy, CommitterOptions{MaxBatch: 1000})
		defer c.Close()
		input := func(i int) []incident.AlertInput {
			l := map[string]string{"alertname": fmt.Sprint("A", i)}
			return []incident.AlertInput{{Fingerprint: incident.Fingerprint(l), Source: "t", Status: incident.AlertFiring, Labels: l}}
		}
		errs := make(chan error, 11)
		go func() { errs <- c.Submit(context.Background(), "generic", input(0)) }()
		<-g.entered // the first commit is in flight
		for i := 1; i <= 10; i++ {
			go func() { errs <- c.Submit(context.Background(), "generic", input(i)) }()
		}
		for len(c.reqs) < 10 {
			runtime.Gosched() // wait until all ten are queued behind the first
		}
		close(g.gate)
		for i := 0; i < 11; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if first, second := <-g.sizes, <-g.sizes; first != 1 || second != 10 || g.calls.Load() != 2 {
			t.Fatalf("commits: %d calls, sizes %d then %d; want 2 calls, 1 then 10", g.calls.Load(), first, second)
		}
	})
}

func TestCloseCommitsQueuedAlertsThenRefuses(t *testing.T) {
	s := storetest.Open(t, store.SQLite)
	g := &gatedStore{Store: s, gate: make(chan struct{}), entered: make(chan struct{}), sizes: make(chan int, 100)}
	p := incident.DefaultPolicy()
	var policy atomic.Pointer[incident.Policy]
	policy.Store(&p)
	c := NewCommitter(g, &policy, CommitterOptions{})
	l := map[string]string{"alertname": "A"}
	in := []incident.AlertInput{{Fingerprint: incident.Fingerprint(l), Source: "t", Status: incident.AlertFiring, Labels: l}}
	errs := make(chan error, 2)
	go func() { errs <- c.Submit(context.Background(), "generic", in) }()
	<-g.entered
	closed := make(chan struct{})
	go func() { c.Close(); close(closed) }()
	close(g.gate)
	<-closed
	if err := <-errs; err != nil {
		t.Fatalf("in-flight submit: %v", err)
	}
	if err := c.Submit(context.Background(), "generic", in); err != ErrClosed {
		t.Fatalf("submit after close: %v, want ErrClosed", err)
	}
}
