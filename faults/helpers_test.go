package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/lib/pq"

	"github.com/incidentd/incidentd/cmd/incidentd-loadgen/loadgen"
	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/store/storetest"
)

// pgDatabase creates a database of the test's own on the PostgreSQL server of
// INCIDENTD_TEST_POSTGRES_DSN (skipping the test without it), drops it when
// the test ends, and returns its DSN. A database, not a schema: the tests
// terminate its backends by datname.
func pgDatabase(t *testing.T) (dsn, name string) {
	t.Helper()
	admin := os.Getenv(storetest.EnvPostgresDSN)
	if admin == "" {
		t.Skipf("%s not set: PostgreSQL fault test skipped", storetest.EnvPostgresDSN)
	}
	var buf [6]byte
	rand.Read(buf[:])
	name = "faults_" + hex.EncodeToString(buf[:])
	db := openPG(t, admin)
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String(), name
}

func openPG(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// logBuffer collects a process's log; tests read it while it runs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// proc is an incidentd process.
type proc struct {
	name string
	cmd  *exec.Cmd
	url  string
	log  *logBuffer
	done chan struct{}
}

// start runs the built binary on configFile and dsn (see spawn) and waits
// until it is ready.
func start(t *testing.T, name, configFile, dsn string) *proc {
	t.Helper()
	p := spawn(t, name, configFile, dsn)
	p.ready(t)
	return p
}

// spawn starts the built binary on configFile and dsn. The process is
// killed when the test ends; its log is shown if the test failed.
func spawn(t *testing.T, name, configFile, dsn string) *proc {
	t.Helper()
	addr := daemontest.FreeAddr(t)
	cmd := exec.Command(daemontest.Binary(t, "test"), "--config.file", configFile, "--storage.dsn", dsn, "--web.listen-address", addr)
	p := &proc{name: name, cmd: cmd, url: "http://" + addr, log: &logBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s log:\n%s", p.name, p.log.String())
		}
	})
	return p
}

// ready waits until the process answers /-/ready.
func (p *proc) ready(t *testing.T) {
	t.Helper()
	poll(t, 60*time.Second, p.name+" ready", func() bool {
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready:\n%s", p.name, p.log.String())
		default:
		}
		resp, err := client.Get(p.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// poll calls cond until it is true, failing the test after timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// page is one notification delivery the receiver got.
type page struct {
	Delivery, ID, Incident, Event, User string
	Level                               int
}

// hit is one runbook http step request.
type hit struct{ Incident, Run string }

// receiver records webhook notifications (/notify) and runbook requests
// (/runbook), every delivery including repeats.
type receiver struct {
	url   string
	mu    sync.Mutex
	pages []page
	hits  []hit
	// holdUser: the next page to this user is held open, neither recorded
	// nor answered, until release is closed; then it is answered 503.
	holdUser string
	held     chan struct{} // closed when the held page arrived
	release  chan struct{}
}

// holdNextPage makes the next page to user hang until the returned
// function is called; wait on r.held for its arrival.
func (r *receiver) holdNextPage(user string) (release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.holdUser, r.held, r.release = user, make(chan struct{}), make(chan struct{})
	ch := r.release
	return sync.OnceFunc(func() { close(ch) })
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer func() { r.mu.Unlock() }()
		switch req.URL.Path {
		case "/notify":
			var p struct {
				ID       string `json:"id"`
				Event    string `json:"event"`
				Incident struct {
					ID string `json:"id"`
				} `json:"incident"`
				Recipient *struct {
					User string `json:"user"`
				} `json:"recipient"`
				Escalation struct {
					Level int `json:"level"`
				} `json:"escalation"`
			}
			if err := json.Unmarshal(body, &p); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			pg := page{Delivery: req.Header.Get("X-Incidentd-Delivery"), ID: p.ID, Incident: p.Incident.ID, Event: p.Event, Level: p.Escalation.Level}
			if p.Recipient != nil {
				pg.User = p.Recipient.User
			}
			if r.holdUser != "" && pg.User == r.holdUser {
				r.holdUser = ""
				held, release := r.held, r.release
				r.mu.Unlock()
				close(held)
				select {
				case <-release:
				case <-req.Context().Done():
				}
				r.mu.Lock()
				http.Error(w, "held by the test", http.StatusServiceUnavailable)
				return
			}
			r.pages = append(r.pages, pg)
		case "/runbook":
			var h hit
			if err := json.Unmarshal(body, &h); err != nil {
				http.Error(w, err.Error(), 400)
				return
			}
			r.hits = append(r.hits, h)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL
	return r
}

// logIfFailed shows what the receiver got, when the test failed.
func (r *receiver) logIfFailed(t *testing.T) {
	if t.Failed() {
		pages, hits := r.snapshot()
		t.Logf("receiver: pages %+v\nrunbook requests %+v", pages, hits)
	}
}

func (r *receiver) snapshot() ([]page, []hit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]page(nil), r.pages...), append([]hit(nil), r.hits...)
}

// writeConfig writes a config that pages alice on an incident of alertname
// Timer, then bob after levelTimeout, and runs a runbook on each such
// incident that waits for wait, then calls the receiver (with retries, so
// that an attempt a kill interrupted is made again). It returns the config
// file.
func writeConfig(t *testing.T, rec *receiver, levelTimeout, wait time.Duration) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"incidentd.yml": fmt.Sprintf(`log: {level: info}
oncall:
  users:
    - {id: alice, timezone: UTC, contacts: [{notifier: hook}]}
    - {id: bob, timezone: UTC, contacts: [{notifier: hook}]}
  escalation_policies:
    - {id: p, levels: [{targets: ["user:alice"], timeout: %s}, {targets: ["user:bob"], timeout: 1h}]}
  routes:
    - {match: '{alertname="Timer"}', policy: p}
notifiers:
  - {name: hook, type: webhook, url: "%s/notify"}
runbooks:
  files: [runbooks/*.yml]
`, levelTimeout, rec.url),
		"runbooks/check.yml": fmt.Sprintf(`name: check
triggers: [{on: incident.triggered, match: '{alertname="Timer"}'}]
steps:
  - wait: {duration: %s}
  - retry: {attempts: 3, backoff: 1s}
    http:
      method: POST
      url: "%s/runbook"
      json: {incident: "{{ .Incident.Key }}", run: "{{ .Runbook.RunID }}"}
`, wait, rec.url),
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "incidentd.yml")
}

// timerAlerts is the body of n alerts of alertname Timer in n groups (n
// incidents), tagged so that different calls make different groups.
func timerAlerts(tag string, n int) string {
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, fmt.Sprintf(`{"labels":{"alertname":"Timer","service":"%s-%d","instance":"a"}}`, tag, i))
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// client bounds every request of the tests: a hung daemon fails the test,
// it does not hang it.
var client = &http.Client{Timeout: 30 * time.Second}

func post(t *testing.T, url, body string) {
	t.Helper()
	resp, err := client.Post(url+"/api/v1/alerts", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatalf("post alerts: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("post alerts: %d", resp.StatusCode)
	}
}

// acks counts the answers a load got and the fingerprints answered 2xx.
type acks struct {
	mu    sync.Mutex
	fps   map[string]bool
	codes map[int]int
}

func (a *acks) record(fps []string, code int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fps == nil {
		a.fps, a.codes = map[string]bool{}, map[int]int{}
	}
	a.codes[code]++
	if code >= 200 && code < 300 {
		for _, fp := range fps {
			a.fps[fp] = true
		}
	}
}

func (a *acks) count() (acked int, codes map[int]int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	codes = map[int]int{}
	for c, n := range a.codes {
		codes[c] = n
	}
	return len(a.fps), codes
}

// load sends new generic alerts from the load tool's pool to target, at
// most 5000/s, until ctx ends (or 50,000 alerts, or a minute), recording
// every answer in a.
func load(ctx context.Context, target string, a *acks) {
	loadgen.Run(ctx, loadgen.Options{
		Target: target, Format: loadgen.Generic, Senders: 4, Batch: 25, Total: 50000, Duration: 60 * time.Second,
		Rate: 5000, Distinct: 50000, Seed: 1,
		OnResponse: func(fps []string, code int) {
			if code == 0 && ctx.Err() != nil {
				return // cancelled by the test, not unanswered
			}
			a.record(fps, code)
		},
		Client: &http.Client{Timeout: 10 * time.Second},
	})
}

// missing returns how many of want are not among the current alerts of the
// store at dsn (read with SQL, not through a daemon).
func missing(t *testing.T, db *sql.DB, want map[string]bool) int {
	t.Helper()
	rows, err := db.Query("SELECT fingerprint FROM alerts")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	have := map[string]bool{}
	for rows.Next() {
		var fp string
		if err := rows.Scan(&fp); err != nil {
			t.Fatal(err)
		}
		have[fp] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for fp := range want {
		if !have[fp] {
			n++
		}
	}
	return n
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// plainConfig writes a config with nothing but info logs.
func plainConfig(t *testing.T) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "incidentd.yml")
	if err := os.WriteFile(f, []byte("log: {level: info}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// isPage: level 1 pages with trigger, later levels with escalate.
func isPage(p page) bool { return p.Event == "trigger" || p.Event == "escalate" }

// paged returns the incidents user was paged for.
func paged(rec *receiver, user string) map[string]bool {
	pages, _ := rec.snapshot()
	out := map[string]bool{}
	for _, p := range pages {
		if isPage(p) && p.User == user {
			out[p.Incident] = true
		}
	}
	return out
}

// checkOnce fails the test if a page went out under two delivery ids (a
// repeat of one id is at-least-once delivery, allowed) or a runbook ran
// twice for an incident.
func checkOnce(t *testing.T, rec *receiver) {
	t.Helper()
	pages, hits := rec.snapshot()
	ids := map[string]map[string]int{} // incident/user -> delivery id -> deliveries
	for _, p := range pages {
		if !isPage(p) {
			continue
		}
		k := p.Incident + "/" + p.User
		if ids[k] == nil {
			ids[k] = map[string]int{}
		}
		ids[k][p.Delivery]++
	}
	for k, d := range ids {
		if len(d) != 1 {
			t.Errorf("%s paged under %d distinct delivery ids %v: want one (repeats of one id are allowed)", k, len(d), d)
		}
	}
	runs := map[string]map[string]int{} // incident -> run -> requests
	for _, h := range hits {
		if runs[h.Incident] == nil {
			runs[h.Incident] = map[string]int{}
		}
		runs[h.Incident][h.Run]++
	}
	for inc, r := range runs {
		if len(r) != 1 {
			t.Errorf("%s: runbook ran %d times %v: want one run", inc, len(r), r)
		}
	}
	t.Logf("%d pages delivered (%d destinations), %d runbook requests", len(pages), len(ids), len(hits))
}
