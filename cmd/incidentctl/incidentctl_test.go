package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/incident"
)

func TestCheckConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yml", "storage:\n  dsn: sqlite://data/x.db\ngrouping:\n  by: [alertname]\n")
	bad := write("bad.yml", "storage:\n  max_open_conns: 0\nlog:\n  level: loud\n")
	typo := write("typo.yml", "grouping:\n  windw: 5m\n")
	missing := filepath.Join(dir, "missing.yml")

	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr []string
		quietStderr    bool
	}{
		{name: "valid", args: []string{good}, code: 0, stdout: []string{good + ": valid\n"}, quietStderr: true},
		{name: "every error with file, line and key", args: []string{bad}, code: 1, stderr: []string{
			bad + ":2: storage.max_open_conns: must be at least 1\n",
			bad + `:4: log.level: "loud" is not one of debug, info, warn, error` + "\n",
		}},
		{name: "unknown key", args: []string{typo}, code: 1, stderr: []string{typo + ":2: grouping.windw: unknown key"}},
		{name: "missing file", args: []string{missing}, code: 1, stderr: []string{missing, "no such file"}},
		{name: "several files, one bad", args: []string{good, bad}, code: 1, stdout: []string{good + ": valid"}, stderr: []string{bad + ":2:"}},
		{name: "no file", args: nil, code: 2, stderr: []string{"missing FILE", "Usage: incidentctl check-config"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, append([]string{"check-config"}, tt.args...)...)
			r.want(t, tt.code, tt.stdout, tt.stderr)
			if tt.quietStderr && r.stderr != "" {
				t.Errorf("stderr not empty: %q", r.stderr)
			}
			if tt.code == 1 && strings.Contains(r.stdout, bad+": valid") {
				t.Errorf("bad file reported valid: %s", r.stdout)
			}
		})
	}
}

// TestIncidentLifecycle walks one incident through ack, note, resolve and
// close, checking each answer and the state the API then shows.
func TestIncidentLifecycle(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	postAlerts(t, base, `[{"labels":{"alertname":"A","service":"s"},"status":"firing"}]`)

	r := cli(t, "--url", base, "incidents", "list")
	r.want(t, 0, []string{"INC-1", "P5", "triggered", "1/1", "A (service=s)"}, nil)
	lines := strings.Split(r.stdout, "\n")
	header, row := lines[0], lines[1]
	for _, col := range []string{"KEY", "PRIORITY", "STATUS", "ALERTS", "AGE", "TITLE"} {
		if !strings.Contains(header, col) {
			t.Errorf("header %q lacks %s", header, col)
		}
	}
	// tabwriter aligns the columns.
	if strings.Index(header, "PRIORITY") != strings.Index(row, "P5") || strings.Index(header, "TITLE") != strings.Index(row, "A (service=s)") {
		t.Errorf("columns not aligned:\n%s\n%s", header, row)
	}

	steps := []struct {
		args           []string
		code           int
		stdout, stderr []string
		status         incident.Status
	}{
		{args: []string{"--actor", "alice", "incidents", "ack", "INC-1", "--message", "looking"}, code: 0,
			stdout: []string{"INC-1 acknowledged by alice: looking\n"}, status: incident.StatusAcknowledged},
		{args: []string{"--actor", "alice", "incidents", "ack", "1"}, code: 1,
			stderr: []string{"incidentctl: ", "INC-1 is acknowledged, cannot acknowledge", "(HTTP 409)"}, status: incident.StatusAcknowledged},
		// Global flags may follow the command; the note is the rest of the words.
		{args: []string{"incidents", "note", "inc-1", "restarted", "the", "pod", "--actor", "bob"}, code: 0,
			stdout: []string{"INC-1: note added by bob\n"}, status: incident.StatusAcknowledged},
		{args: []string{"--actor", "alice", "incidents", "close", "1"}, code: 1,
			stderr: []string{"cannot close", "(HTTP 409)"}, status: incident.StatusAcknowledged},
		// On hold and back: it stays acknowledged.
		{args: []string{"--actor", "alice", "incidents", "hold", "1", "--message", "waiting on the vendor"}, code: 0,
			stdout: []string{"INC-1 put on hold by alice: waiting on the vendor\n"}, status: incident.StatusOnHold},
		{args: []string{"--actor", "alice", "incidents", "resume", "1"}, code: 0,
			stdout: []string{"INC-1 taken off hold by alice\n"}, status: incident.StatusAcknowledged},
		// Flags may come before the ID too.
		{args: []string{"--actor", "alice", "incidents", "resolve", "--message", "fixed", "1"}, code: 0,
			stdout: []string{"INC-1 resolved by alice: fixed\n"}, status: incident.StatusResolved},
		{args: []string{"--actor", "carol", "incidents", "close", "INC-1"}, code: 0,
			stdout: []string{"INC-1 closed by carol\n"}, status: incident.StatusClosed},
		{args: []string{"--actor", "carol", "incidents", "resolve", "INC-1"}, code: 1,
			stderr: []string{"INC-1 is closed, cannot resolve (HTTP 409)"}, status: incident.StatusClosed},
	}
	for _, s := range steps {
		r := cli(t, append([]string{"--url", base}, s.args...)...)
		r.want(t, s.code, s.stdout, s.stderr)
		if s.code != 0 && r.stdout != "" {
			t.Errorf("%v: failure printed to stdout: %q", s.args, r.stdout)
		}
		if got := getIncident(t, base, 1).Status; got != s.status {
			t.Errorf("after %v: status %s, want %s", s.args, got, s.status)
		}
	}

	d := getIncident(t, base, 1)
	if d.AcknowledgedBy != "alice" || d.ResolvedBy != "alice" {
		t.Errorf("acknowledged_by %q, resolved_by %q: want alice", d.AcknowledgedBy, d.ResolvedBy)
	}
	var kinds, notes []string
	for _, e := range d.Timeline {
		kinds = append(kinds, e.Kind)
		if e.Kind == incident.EventIncidentNote {
			notes = append(notes, e.Actor+": "+e.Message)
		}
	}
	if want := []string{"bob: restarted the pod"}; !reflect.DeepEqual(notes, want) {
		t.Errorf("notes %q, want %q", notes, want)
	}
	for _, k := range []string{incident.EventIncidentTriggered, incident.EventIncidentAcknowledged, incident.EventIncidentResolved, incident.EventIncidentClosed} {
		if !strings.Contains(strings.Join(kinds, " "), k) {
			t.Errorf("timeline %v lacks %s", kinds, k)
		}
	}

	// show prints the timeline the actions wrote.
	r = cli(t, "--url", base, "incidents", "show", "INC-1")
	r.want(t, 0, []string{"closed", "incident.acknowledged", "acknowledged by alice: looking", "incident.note", "restarted the pod", "carol"}, nil)
}

func TestIncidentsShow(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	postAlerts(t, base, `[
		{"labels":{"alertname":"DiskFull","service":"db","instance":"db-1"},"fingerprint":"fp-db1","annotations":{"summary":"Disk full on db"}},
		{"labels":{"alertname":"DiskFull","service":"db","instance":"db-2"},"fingerprint":"fp-db2"}
	]`)
	now := time.Now()

	r := cliEnv(t, nil, now, "--url", base, "incidents", "show", "INC-1")
	r.want(t, 0, []string{
		"INC-1: Disk full on db\n",
		"Status:", "triggered",
		"Priority:", "P5 (urgency 3, impact 3)",
		"2 firing / 2 total",
		"Labels:", "alertname=DiskFull service=db",
		"Alerts (2):", "ALERT", "STATUS", "LABELS",
		// The alerts show what sets them apart from the incident.
		"fp-db1-1", "alertname=DiskFull instance=db-1\n",
		"fp-db2-1", "alertname=DiskFull instance=db-2\n",
		"Timeline (", "TIME", "ACTOR", "KIND", "MESSAGE", "incidentd", "incident.triggered",
	}, nil)

	// A bare number names the same incident.
	if r2 := cliEnv(t, nil, now, "--url", base, "incidents", "show", "1"); r2.stdout != r.stdout || r2.code != 0 {
		t.Errorf("show 1 differs from show INC-1:\n%s\n---\n%s", r2.stdout, r.stdout)
	}

	tests := []struct {
		id     string
		code   int
		stderr []string
	}{
		{"999", 1, []string{"incidentctl: incident INC-999: not found (HTTP 404)"}},
		{"INC-999", 1, []string{"not found", "(HTTP 404)"}},
		{"abc", 2, []string{`invalid incident id "abc"`, "Usage: incidentctl incidents show ID"}},
		{"INC-0", 2, []string{"invalid incident id"}},
		{"-5", 2, []string{"flag provided but not defined"}},
	}
	for _, tt := range tests {
		r := cli(t, "--url", base, "incidents", "show", tt.id)
		r.want(t, tt.code, nil, tt.stderr)
		if r.stdout != "" {
			t.Errorf("show %s printed to stdout: %q", tt.id, r.stdout)
		}
	}
}

// TestOutputJSON checks that --output json prints the API's answer, valid
// and pretty-printed, for every command that calls the API.
func TestOutputJSON(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	postAlerts(t, base, `[{"labels":{"alertname":"A","service":"s"},"fingerprint":"fa"}]`)
	postAlerts(t, base, `[{"labels":{"alertname":"B","service":"s"},"fingerprint":"fb"}]`)

	tests := []struct {
		name  string
		args  []string
		into  any
		check func(t *testing.T, v any)
	}{
		{"incidents list", []string{"incidents", "list"}, &api.IncidentList{}, func(t *testing.T, v any) {
			l := v.(*api.IncidentList)
			if len(l.Incidents) != 2 || l.Incidents[0].Key != "INC-2" || l.Incidents[0].PriorityLabel != "P5" {
				t.Errorf("got %+v", l)
			}
		}},
		{"incidents list --all", []string{"incidents", "list", "--all", "--limit", "1"}, &api.IncidentList{}, func(t *testing.T, v any) {
			l := v.(*api.IncidentList)
			if len(l.Incidents) != 2 || l.NextCursor != "" {
				t.Errorf("got %d incidents, cursor %q; want 2 and none", len(l.Incidents), l.NextCursor)
			}
		}},
		{"incidents show", []string{"incidents", "show", "INC-1"}, &api.IncidentDetail{}, func(t *testing.T, v any) {
			d := v.(*api.IncidentDetail)
			if d.Key != "INC-1" || len(d.Alerts) != 1 || d.Alerts[0].Fingerprint != "fa" || len(d.Timeline) == 0 {
				t.Errorf("got %+v", d)
			}
		}},
		{"alerts list", []string{"alerts", "list"}, &api.AlertList{}, func(t *testing.T, v any) {
			if l := v.(*api.AlertList); len(l.Alerts) != 2 || l.Alerts[0].ID() != "fa-1" {
				t.Errorf("got %+v", l)
			}
		}},
		{"incidents ack", []string{"--actor", "alice", "incidents", "ack", "2"}, &api.ActionResult{}, func(t *testing.T, v any) {
			res := v.(*api.ActionResult)
			if res.Incident.Status != incident.StatusAcknowledged || res.Incident.AcknowledgedBy != "alice" || res.Event.Kind != incident.EventIncidentAcknowledged {
				t.Errorf("got %+v", res)
			}
		}},
		{"incidents note", []string{"--actor", "alice", "incidents", "note", "2", "<b>html</b> & co"}, &api.ActionResult{}, func(t *testing.T, v any) {
			if res := v.(*api.ActionResult); res.Event.Message != "<b>html</b> & co" {
				t.Errorf("got %+v", res)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, append([]string{"--url", base, "--output", "json"}, tt.args...)...)
			r.want(t, 0, nil, nil)
			if !json.Valid([]byte(r.stdout)) {
				t.Fatalf("not valid JSON:\n%s", r.stdout)
			}
			if !strings.HasPrefix(r.stdout, "{\n  \"") || !strings.HasSuffix(r.stdout, "}\n") {
				t.Errorf("not pretty-printed:\n%s", r.stdout)
			}
			if err := json.Unmarshal([]byte(r.stdout), tt.into); err != nil {
				t.Fatal(err)
			}
			tt.check(t, tt.into)
		})
	}

	// The flag works after the command too, and errors stay text on stderr.
	r := cli(t, "--url", base, "incidents", "show", "999", "--output", "json")
	r.want(t, 1, nil, []string{"not found (HTTP 404)"})
	if r.stdout != "" {
		t.Errorf("stdout %q, want empty", r.stdout)
	}
}

// TestListAllPages checks that --all follows next_cursor to the end, and
// that without it only the first page is shown.
func TestListAllPages(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	for _, name := range []string{"A", "B", "C"} {
		postAlerts(t, base, `[{"labels":{"alertname":"`+name+`","service":"s"}}]`)
	}
	rec := newRecorder(t, base)

	r := cli(t, "--url", rec.URL, "incidents", "list", "--limit", "1")
	r.want(t, 0, nil, []string{"--all"})
	if got := tableColumn(r.stdout, 0); !reflect.DeepEqual(got, []string{"INC-3"}) {
		t.Errorf("keys %v, want [INC-3]", got)
	}
	if reqs := rec.take(); len(reqs) != 1 {
		t.Errorf("%d requests, want 1", len(reqs))
	}

	r = cli(t, "--url", rec.URL, "incidents", "list", "--limit", "1", "--all")
	r.want(t, 0, nil, nil)
	if got := tableColumn(r.stdout, 0); !reflect.DeepEqual(got, []string{"INC-3", "INC-2", "INC-1"}) {
		t.Errorf("keys %v, want [INC-3 INC-2 INC-1]", got)
	}
	if r.stderr != "" {
		t.Errorf("stderr %q, want empty", r.stderr)
	}
	var cursors []string
	for _, req := range rec.take() {
		if req.Path != "/api/v1/incidents" || req.Query.Get("limit") != "1" {
			t.Errorf("request %s %v", req.Path, req.Query)
		}
		cursors = append(cursors, req.Query.Get("cursor"))
	}
	// The last full page still has a cursor; the page after it is empty.
	if want := []string{"", "3", "2", "1"}; !reflect.DeepEqual(cursors, want) {
		t.Errorf("cursors %q, want %q", cursors, want)
	}
}

func TestIncidentsListFilters(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	postAlerts(t, base, `[{"labels":{"alertname":"A","service":"s","severity":"critical"}}]`) // P3
	postAlerts(t, base, `[{"labels":{"alertname":"B","service":"s"}}]`)                       // P5
	postAlerts(t, base, `[{"labels":{"alertname":"C","service":"s"}}]`)                       // P5
	cli(t, "--url", base, "--actor", "alice", "incidents", "ack", "2").want(t, 0, nil, nil)

	tests := []struct {
		args   []string
		code   int
		keys   []string
		stdout string
		stderr string
	}{
		{args: nil, code: 0, keys: []string{"INC-3", "INC-2", "INC-1"}},
		{args: []string{"--status", "acknowledged"}, code: 0, keys: []string{"INC-2"}},
		{args: []string{"--status", "open"}, code: 0, keys: []string{"INC-3", "INC-2", "INC-1"}},
		{args: []string{"--status", "triggered,acknowledged", "--priority", "P3"}, code: 0, keys: []string{"INC-1"}},
		{args: []string{"--priority", "p5"}, code: 0, keys: []string{"INC-3", "INC-2"}},
		{args: []string{"--status", "resolved"}, code: 0, stdout: "No incidents.\n"},
		{args: []string{"--status", "bogus"}, code: 1, stderr: `incidentctl: status: "bogus" is not one of open, triggered, acknowledged, on_hold, resolved, closed (HTTP 400)` + "\n"},
		{args: []string{"--priority", "P9"}, code: 1, stderr: "(HTTP 400)"},
		{args: []string{"--limit", "501"}, code: 1, stderr: "limit: want a number from 1 to 500 (HTTP 400)"},
		{args: []string{"--limit", "0"}, code: 2, stderr: "--limit 0: must be at least 1"},
	}
	for _, tt := range tests {
		r := cli(t, append([]string{"--url", base, "incidents", "list"}, tt.args...)...)
		r.want(t, tt.code, nil, []string{tt.stderr})
		if tt.keys != nil {
			if got := tableColumn(r.stdout, 0); !reflect.DeepEqual(got, tt.keys) {
				t.Errorf("%v: keys %v, want %v", tt.args, got, tt.keys)
			}
		}
		if tt.stdout != "" && r.stdout != tt.stdout {
			t.Errorf("%v: stdout %q, want %q", tt.args, r.stdout, tt.stdout)
		}
	}
}

func TestAlertsList(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	postAlerts(t, base, `[
		{"labels":{"alertname":"A","service":"s","instance":"i1"},"fingerprint":"fp1"},
		{"labels":{"alertname":"A","service":"s","instance":"i2"},"fingerprint":"fp2"}
	]`)
	postAlerts(t, base, `[{"labels":{"alertname":"A","service":"s","instance":"i2"},"fingerprint":"fp2","status":"resolved"}]`)

	r := cli(t, "--url", base, "alerts", "list")
	r.want(t, 0, []string{"ALERT", "STATUS", "INCIDENT", "AGE", "LABELS", "alertname=A instance=i1 service=s"}, nil)
	if got := tableColumn(r.stdout, 0); !reflect.DeepEqual(got, []string{"fp1-1", "fp2-1"}) {
		t.Errorf("alerts %v", got)
	}
	if got := tableColumn(r.stdout, 2); !reflect.DeepEqual(got, []string{"INC-1", "INC-1"}) {
		t.Errorf("incidents %v", got)
	}

	tests := []struct {
		args   []string
		code   int
		ids    []string
		status []string
		stderr string
	}{
		{args: []string{"--status", "firing"}, ids: []string{"fp1-1"}, status: []string{"firing"}},
		{args: []string{"--status", "resolved"}, ids: []string{"fp2-1"}, status: []string{"resolved"}},
		{args: []string{"--fingerprint", "fp2"}, ids: []string{"fp2-1"}},
		{args: []string{"--fingerprint", "nope"}},
		{args: []string{"--limit", "1"}, ids: []string{"fp1-1"}, stderr: "(more alerts: add --all to list them all)"},
		{args: []string{"--limit", "1", "--all"}, ids: []string{"fp1-1", "fp2-1"}},
		{args: []string{"--status", "bogus"}, code: 1, stderr: `status: "bogus" is not firing or resolved (HTTP 400)`},
	}
	for _, tt := range tests {
		r := cli(t, append([]string{"--url", base, "alerts", "list"}, tt.args...)...)
		r.want(t, tt.code, nil, []string{tt.stderr})
		if tt.code != 0 {
			continue
		}
		if tt.ids == nil {
			if r.stdout != "No alerts.\n" {
				t.Errorf("%v: stdout %q", tt.args, r.stdout)
			}
			continue
		}
		if got := tableColumn(r.stdout, 0); !reflect.DeepEqual(got, tt.ids) {
			t.Errorf("%v: alerts %v, want %v", tt.args, got, tt.ids)
		}
		if got := tableColumn(r.stdout, 1); tt.status != nil && !reflect.DeepEqual(got, tt.status) {
			t.Errorf("%v: statuses %v, want %v", tt.args, got, tt.status)
		}
	}
}

// TestDefaults checks where --url, --token and --actor come from when the
// flags are not given, and that the flags win over the environment.
func TestDefaults(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	postAlerts(t, base, `[{"labels":{"alertname":"A","service":"s"}}]`)
	rec := newRecorder(t, base)

	tests := []struct {
		name      string
		env       map[string]string
		args      []string
		wantAuth  string
		wantActor string
	}{
		{name: "INCIDENTD_ACTOR", env: map[string]string{"INCIDENTD_ACTOR": "carol", "USER": "dave"}, wantActor: "carol"},
		{name: "USER", env: map[string]string{"USER": "dave"}, wantActor: "dave"},
		{name: "fallback", env: map[string]string{}, wantActor: "incidentctl"},
		{name: "--actor wins", env: map[string]string{"INCIDENTD_ACTOR": "carol"}, args: []string{"--actor", "erin"}, wantActor: "erin"},
		// With a token only a named actor is sent (TestTokens: the server
		// records the token's name); this daemon has no tokens.
		{name: "INCIDENTD_TOKEN", env: map[string]string{"INCIDENTD_TOKEN": "envtok", "INCIDENTD_ACTOR": "carol"}, wantAuth: "Bearer envtok", wantActor: "carol"},
		{name: "--token wins", env: map[string]string{"INCIDENTD_TOKEN": "envtok"}, args: []string{"--token", "s3cret", "--actor", "erin"}, wantAuth: "Bearer s3cret", wantActor: "erin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"INCIDENTD_URL": rec.URL} // no --url: the environment's
			for k, v := range tt.env {
				env[k] = v
			}
			r := cliEnv(t, env, time.Now(), append(tt.args, "incidents", "note", "INC-1", "hello")...)
			r.want(t, 0, []string{"INC-1: note added by " + tt.wantActor + "\n"}, nil)
			reqs := rec.take()
			if len(reqs) != 1 {
				t.Fatalf("%d requests through %s, want 1", len(reqs), rec.URL)
			}
			req := reqs[0]
			if req.Method != http.MethodPost || req.Path != "/api/v1/incidents/1/notes" {
				t.Errorf("request %s %s", req.Method, req.Path)
			}
			if req.Auth != tt.wantAuth {
				t.Errorf("Authorization %q, want %q", req.Auth, tt.wantAuth)
			}
			var body api.ActionRequest
			if err := json.Unmarshal([]byte(req.Body), &body); err != nil || body.Actor != tt.wantActor || body.Message != "hello" {
				t.Errorf("body %s (%v), want actor %s, message hello", req.Body, err, tt.wantActor)
			}
		})
	}
}

func TestDefaultURL(t *testing.T) {
	t.Parallel()
	a := &app{getenv: func(string) string { return "" }}
	a.setDefaults()
	if a.url != "http://localhost:9095" || a.timeout != 10*time.Second || a.output != "text" || a.token != "" || a.actor != "incidentctl" {
		t.Errorf("defaults: %+v", a)
	}
}

func TestConnectionFailure(t *testing.T) {
	t.Parallel()
	u := "http://" + daemontest.FreeAddr(t) // nothing listens there
	for _, args := range [][]string{
		{"incidents", "list"},
		{"incidents", "show", "1"},
		{"--actor", "a", "incidents", "ack", "1"},
		{"alerts", "list"},
	} {
		r := cli(t, append([]string{"--url", u}, args...)...)
		r.want(t, 1, nil, []string{"incidentctl: cannot reach incidentd at " + u + ": ", "connection refused"})
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // never answers; the client gives up
	}))
	t.Cleanup(srv.Close)
	r := cli(t, "--url", srv.URL, "--timeout", "100ms", "incidents", "list")
	r.want(t, 1, nil, []string{"incidentctl: no answer from incidentd at " + srv.URL + " within 100ms"})
}

func TestNonJSONError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		w.Write([]byte("<html>upstream down</html>\n<p>more</p>"))
	}))
	t.Cleanup(srv.Close)
	r := cli(t, "--url", srv.URL, "incidents", "list")
	r.want(t, 1, nil, []string{"incidentctl: Bad Gateway: <html>upstream down</html> (HTTP 502)\n"})
}

// TestUsage checks command-line errors: exit 2 with usage, before any
// request (the URL is unreachable, which would exit 1).
func TestUsage(t *testing.T) {
	t.Parallel()
	u := "http://" + daemontest.FreeAddr(t) // nothing listens there
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr []string
	}{
		{args: nil, code: 2, stderr: []string{"Usage: incidentctl [global flags] COMMAND"}},
		{args: []string{"frob"}, code: 2, stderr: []string{`unknown command "frob"`, "Usage:"}},
		{args: []string{"incidents"}, code: 2, stderr: []string{"incidents needs a subcommand: list, show, explain, ack, resolve, close, hold, resume, note"}},
		{args: []string{"incidents", "frob"}, code: 2, stderr: []string{`unknown command "incidents frob"`}},
		{args: []string{"alerts", "show"}, code: 2, stderr: []string{`unknown command "alerts show": want one of list`}},
		{args: []string{"incidents", "ack"}, code: 2, stderr: []string{"incidents ack: missing ID", "Usage: incidentctl incidents ack ID [--message M]"}},
		{args: []string{"incidents", "ack", "abc"}, code: 2, stderr: []string{`invalid incident id "abc": want INC-<number> or <number>`}},
		{args: []string{"incidents", "ack", "1", "2"}, code: 2, stderr: []string{`unexpected argument "2"`}},
		{args: []string{"incidents", "ack", "1", "--message"}, code: 2, stderr: []string{"flag needs an argument: -message"}},
		{args: []string{"incidents", "show"}, code: 2, stderr: []string{"missing ID"}},
		{args: []string{"incidents", "note", "1"}, code: 2, stderr: []string{"incidents note: missing MESSAGE"}},
		{args: []string{"incidents", "note", "1", "  "}, code: 2, stderr: []string{"missing MESSAGE"}},
		{args: []string{"incidents", "note", "1", "--message", "x"}, code: 2, stderr: []string{"flag provided but not defined: -message"}},
		{args: []string{"--actor", " ", "incidents", "resolve", "1"}, code: 2, stderr: []string{"no actor"}},
		{args: []string{"--output", "yaml", "incidents", "list"}, code: 2, stderr: []string{`--output "yaml": want text or json`}},
		{args: []string{"incidents", "list", "--output", "yaml"}, code: 2, stderr: []string{`--output "yaml"`, "Usage: incidentctl incidents list"}},
		{args: []string{"incidents", "list", "--bogus"}, code: 2, stderr: []string{"flag provided but not defined: -bogus"}},
		{args: []string{"incidents", "list", "extra"}, code: 2, stderr: []string{`unexpected argument "extra"`}},
		{args: []string{"incidents", "list", "--limit", "x"}, code: 2, stderr: []string{"invalid value"}},
		{args: []string{"alerts", "list", "--limit", "-1"}, code: 2, stderr: []string{"--limit -1: must be at least 1"}},
		{args: []string{"--timeout", "-1s", "incidents", "list"}, code: 2, stderr: []string{"--timeout -1s: must not be negative"}},
		{args: []string{"--url", "ftp://x", "incidents", "list"}, code: 2, stderr: []string{`--url "ftp://x"`}},
		{args: []string{"--bogus", "incidents", "list"}, code: 2, stderr: []string{"flag provided but not defined: -bogus"}},
		{args: []string{"--help"}, code: 0, stdout: "Usage: incidentctl [global flags] COMMAND"},
		{args: []string{"help"}, code: 0, stdout: "incidents list [flags]"},
		{args: []string{"incidents", "--help"}, code: 0, stdout: "Usage: incidentctl"},
		{args: []string{"incidents", "list", "-h"}, code: 0, stdout: "Usage: incidentctl incidents list [--status S,...] [--priority P,...] [--limit N] [--all]"},
		{args: []string{"alerts", "list", "--help"}, code: 0, stdout: "--fingerprint F"},
	}
	for _, tt := range tests {
		r := cli(t, append([]string{"--url", u}, tt.args...)...)
		var stdout []string
		if tt.stdout != "" {
			stdout = []string{tt.stdout}
		}
		r.want(t, tt.code, stdout, tt.stderr)
		if tt.code == 2 && r.stdout != "" {
			t.Errorf("%v: usage error printed to stdout: %q", tt.args, r.stdout)
		}
		if tt.code == 0 && r.stderr != "" {
			t.Errorf("%v: help printed to stderr: %q", tt.args, r.stderr)
		}
	}
}

func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	c := &command{path: "incidents ack", operands: "ID"}
	tests := []struct {
		args    []string
		pos     []string
		message string
		all     bool
	}{
		{args: []string{"1", "--message", "m"}, pos: []string{"1"}, message: "m"},
		{args: []string{"--message", "m", "1"}, pos: []string{"1"}, message: "m"},
		{args: []string{"-message=m", "1", "--all"}, pos: []string{"1"}, message: "m", all: true},
		{args: []string{"--all", "1", "rest"}, pos: []string{"1", "rest"}, all: true},
		{args: []string{"1", "--", "--message", "-5"}, pos: []string{"1", "--message", "-5"}},
		{args: []string{"--message", "--all", "1"}, pos: []string{"1"}, message: "--all"},
		{args: []string{"1", "-"}, pos: []string{"1", "-"}},
	}
	for _, tt := range tests {
		a := &app{getenv: func(string) string { return "" }}
		a.setDefaults()
		fs := a.flags(c)
		message := fs.String("message", "", "")
		all := fs.Bool("all", false, "")
		pos, err := a.parse(c, fs, tt.args)
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if !reflect.DeepEqual(pos, tt.pos) || *message != tt.message || *all != tt.all {
			t.Errorf("%q: pos %q message %q all %v; want %q %q %v", tt.args, pos, *message, *all, tt.pos, tt.message, tt.all)
		}
	}
}
