package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/daemon/daemontest"
)

// result is what one incidentctl run printed and returned.
type result struct {
	code           int
	stdout, stderr string
}

// cli runs incidentctl through run, as main does.
func cli(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return result{code, out.String(), errb.String()}
}

// cliEnv runs incidentctl with env as its whole environment and a fixed now.
func cliEnv(t *testing.T, env map[string]string, now time.Time, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }, now: func() time.Time { return now }}
	code := a.run(args)
	return result{code, out.String(), errb.String()}
}

func (r result) want(t *testing.T, code int, stdout, stderr []string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, s := range stdout {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	for _, s := range stderr {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}

// startDaemon runs a real incidentd on a fresh SQLite file and returns its
// base URL. It stops when the test ends.
func startDaemon(t *testing.T) string {
	t.Helper()
	url, _ := daemontest.Start(t, daemontest.SQLiteConfig(t.TempDir()))
	return url
}

// postAlerts sends alerts (a JSON list) to the generic ingest endpoint. The
// daemon commits them before answering.
func postAlerts(t *testing.T, base, alerts string) {
	t.Helper()
	resp, err := http.Post(base+"/api/v1/alerts", "application/json", strings.NewReader(alerts))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v1/alerts: %s: %s", resp.Status, body)
	}
}

// getJSON reads an API resource straight from the daemon.
func getJSON(t *testing.T, base, path string, out any) {
	t.Helper()
	resp, err := http.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

func getIncident(t *testing.T, base string, id int) api.IncidentDetail {
	t.Helper()
	var d api.IncidentDetail
	getJSON(t, base, "/api/v1/incidents/"+strconv.Itoa(id), &d)
	return d
}

// recorded is one request that passed the recording proxy.
type recorded struct {
	Method, Path, Auth string
	Query              url.Values
	Body               string
}

// recorder is a reverse proxy in front of the daemon that remembers the
// requests incidentctl sent.
type recorder struct {
	URL  string
	mu   sync.Mutex
	reqs []recorded
}

func newRecorder(t *testing.T, target string) *recorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{Method: r.Method, Path: r.URL.Path, Auth: r.Header.Get("Authorization"), Query: r.URL.Query(), Body: string(body)})
		rec.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	rec.URL = srv.URL
	return rec
}

// take returns and forgets the recorded requests.
func (r *recorder) take() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

// tableColumn returns column col (0-based, split on runs of spaces) of the
// rows of a table, the header left out.
func tableColumn(out string, col int) []string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	var vals []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if col < len(f) {
			vals = append(vals, f[col])
		}
	}
	return vals
}
