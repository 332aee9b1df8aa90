// Package hostile_test sends every kind of malformed, oversized and
// malicious input to every route of a real daemon, on SQLite and
// PostgreSQL, and checks the three things docs/security.md promises: a
// clear 4xx with a JSON error, nothing partial stored, and a daemon that
// keeps serving.
package hostile_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

// The daemon's limits these cases are built around.
const (
	ingestLimit = 4 << 20 // ingest.max_body_bytes below
	apiLimit    = 1 << 20 // the API's body limit
	sqlBait     = `'; DROP TABLE alerts;--`
)

func config(dsn string) string {
	return "storage:\n  dsn: " + dsn + `
log:
  level: error
ingest:
  max_body_bytes: 4MiB
integrations:
  - name: mapped
    type: mapping
    mapping:
      labels: {alertname: '{{ .name }}', host: '{{ .host }}'}
  - name: beat
    type: heartbeat
    interval: 1h
`
}

var client = &http.Client{
	Timeout: time.Minute,
	// A redirect is an answer to check, not to follow.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// sent records every request the suite makes, to prove each route of the
// route table was tried.
var sent struct {
	sync.Mutex
	reqs []*http.Request
}

func send(t *testing.T, method, u, ctype string, body []byte) response {
	t.Helper()
	return sendWith(t, method, u, ctype, body, nil)
}

// sendWith sends a request with extra headers.
func sendWith(t *testing.T, method, u, ctype string, body []byte, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	sent.Lock()
	sent.reqs = append(sent.reqs, req)
	sent.Unlock()
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, u, err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func getJSON(t *testing.T, u string, v any) {
	t.Helper()
	r := send(t, "GET", u, "", nil)
	if r.status != 200 {
		t.Fatalf("GET %s: %d %s", u, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, r.body)
	}
}

// state is what a rejected request must leave as it was.
type state struct {
	Alerts, Incidents, Timeline, Silences, Maintenance int
	CMDBVersion                                        int64
}

func snapshot(t *testing.T, base string) state {
	t.Helper()
	var s state
	var alerts struct{ Alerts []json.RawMessage }
	getJSON(t, base+"/api/v1/alerts?limit=500", &alerts)
	var incs struct{ Incidents []json.RawMessage }
	getJSON(t, base+"/api/v1/incidents?limit=500", &incs)
	var inc struct{ Timeline []json.RawMessage }
	getJSON(t, base+"/api/v1/incidents/INC-1", &inc)
	var sil struct{ Silences []json.RawMessage }
	getJSON(t, base+"/api/v1/silences?all=true", &sil)
	var mw struct{ Windows []json.RawMessage }
	getJSON(t, base+"/api/v1/maintenance", &mw)
	var cm struct{ Version int64 }
	getJSON(t, base+"/api/v1/cmdb", &cm)
	s.Alerts, s.Incidents, s.Timeline, s.Silences, s.Maintenance, s.CMDBVersion =
		len(alerts.Alerts), len(incs.Incidents), len(inc.Timeline), len(sil.Silences), len(mw.Windows), cm.Version
	if s.Alerts >= 500 || s.Incidents >= 500 {
		t.Fatal("more than a page of alerts or incidents: the counts would be wrong")
	}
	return s
}

// checkError requires a 4xx whose JSON body says what was wrong: "error",
// or on PagerDuty's routes, which answer as PagerDuty does, "errors".
func checkError(t *testing.T, r response, want int, pagerDuty bool) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d: %.300s", r.status, want, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON: %.300s", ct, r.body)
	}
	var e struct {
		Error  string   `json:"error"`
		Errors []string `json:"errors"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body is not JSON: %v: %.300s", err, r.body)
	}
	if pagerDuty && len(e.Errors) == 0 || !pagerDuty && e.Error == "" {
		t.Fatalf("error body says nothing: %.300s", r.body)
	}
}

// route is one endpoint that takes a body, with a valid body to mutate.
type route struct {
	method, path string
	valid        string
	// pagerDuty marks PagerDuty's answer shape.
	pagerDuty bool
	limit     int
}

func nested(n int) string { return strings.Repeat("[", n) }

func manyLabels(n int) string {
	var b strings.Builder
	b.WriteString(`{"alertname":"many"`)
	for i := range n {
		fmt.Fprintf(&b, `,"l%d":"v"`, i)
	}
	b.WriteString("}")
	return b.String()
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "ingest", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// amBody is an Alertmanager webhook with one alert of the given labels and
// annotations (JSON objects).
func amBody(labels, annotations string) string {
	return `{"version":"4","status":"firing","receiver":"r","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"",` +
		`"alerts":[{"status":"firing","labels":` + labels + `,"annotations":` + annotations + `,"startsAt":"2026-11-21T10:00:00Z"}]}`
}

func genericBody(labels, annotations string) string {
	return `[{"labels":` + labels + `,"annotations":` + annotations + `}]`
}

// TestHostileInput is the suite. Each case runs against a daemon that
// already holds an incident (INC-1), so that actions reach the store.
func TestHostileInput(t *testing.T) {
	grafana := readTestdata(t, "grafana-firing.json")
	pagerDuty := readTestdata(t, "pagerduty-trigger.json")
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		base, _ := daemontest.Start(t, config(storetest.DSN(t, b)))
		if r := send(t, "POST", base+"/api/v1/alerts", "application/json", []byte(genericBody(`{"alertname":"seed"}`, `{}`))); r.status != 200 {
			t.Fatalf("seeding an incident: %d %s", r.status, r.body)
		}

		bodyRoutes := []route{
			{method: "POST", path: "/api/v1/alerts/alertmanager", valid: amBody(`{"alertname":"x"}`, `{}`), limit: ingestLimit},
			{method: "POST", path: "/api/v1/alerts", valid: genericBody(`{"alertname":"x"}`, `{}`), limit: ingestLimit},
			{method: "POST", path: "/api/v1/alerts/grafana", valid: grafana, limit: ingestLimit},
			{method: "POST", path: "/v2/enqueue", valid: pagerDuty, pagerDuty: true, limit: ingestLimit},
			{method: "POST", path: "/api/v1/alerts/pagerduty", valid: pagerDuty, pagerDuty: true, limit: ingestLimit},
			{method: "POST", path: "/api/v1/integrations/mapped", valid: `{"name":"x","host":"h"}`, limit: ingestLimit},
			{method: "POST", path: "/api/v1/incidents/INC-1/notes", valid: `{"actor":"a","message":"m"}`, limit: apiLimit},
			{method: "POST", path: "/api/v1/incidents/INC-1/acknowledge", valid: `{"actor":"a"}`, limit: apiLimit},
			{method: "POST", path: "/api/v1/incidents/INC-1/hold", valid: `{"actor":"a"}`, limit: apiLimit},
			{method: "POST", path: "/api/v1/incidents/INC-1/resume", valid: `{"actor":"a"}`, limit: apiLimit},
			{method: "POST", path: "/api/v1/incidents/INC-1/resolve", valid: `{"actor":"a"}`, limit: apiLimit},
			{method: "POST", path: "/api/v1/incidents/INC-1/close", valid: `{"actor":"a"}`, limit: apiLimit},
			{method: "POST", path: "/api/v1/silences", valid: `{"matchers":"{a=\"b\"}","duration":"1h","created_by":"a","comment":"c"}`, limit: apiLimit},
			{method: "POST", path: "/api/v1/maintenance", valid: `{"ci":"none","start":"2026-01-01T00:00:00Z","end":"2026-01-02T00:00:00Z","actor":"a"}`, limit: apiLimit},
			{method: "POST", path: "/api/v1/problems/PRB-1/status", valid: `{"status":"known_error","actor":"a"}`, limit: apiLimit},
			{method: "POST", path: "/api/v1/runbooks/none/runs", valid: `{"actor":"a"}`, limit: apiLimit},
			{method: "POST", path: "/api/v1/runbooks/runs/1/approve", valid: `{"actor":"a"}`, limit: apiLimit},
			{method: "POST", path: "/api/v1/runbooks/runs/1/reject", valid: `{"actor":"a"}`, limit: apiLimit},
			{method: "POST", path: "/api/v1/runbooks/runs/1/cancel", valid: `{"actor":"a"}`, limit: apiLimit},
			{method: "PUT", path: "/api/v1/cmdb", valid: `{"cis":[{"id":"a"}]}`},
			{method: "PATCH", path: "/api/v1/cmdb", valid: `{"upsert":{"cis":[{"id":"a"}]}}`},
		}
		// Malformed bodies every route must refuse with 400 (415 for the
		// content type, 413 beyond the limit).
		malformed := []struct {
			name  string
			ctype string
			body  func(r route) string
			want  int
		}{
			{"truncated JSON", "application/json", func(r route) string { return r.valid[:len(r.valid)/2] }, 400},
			{"100k nested lists", "application/json", func(route) string { return nested(100_000) }, 400},
			{"100k nested objects", "application/json", func(route) string { return strings.Repeat(`{"a":`, 100_000) }, 400},
			{"invalid UTF-8", "application/json", func(r route) string { return strings.Replace(r.valid, `"`, "\"\xff\xfe", 1) }, 400},
			{"raw NUL byte", "application/json", func(r route) string { return "\x00" + r.valid }, 400},
			{"JSON string instead of an object", "application/json", func(route) string { return `"` + sqlBait + `"` }, 400},
			{"JSON number instead of an object", "application/json", func(route) string { return `12` }, 400},
			{"wrong content type", "text/plain", func(r route) string { return r.valid }, 415},
			{"form content type", "application/x-www-form-urlencoded", func(r route) string { return r.valid }, 415},
			{"body over the limit", "application/json", func(r route) string { return strings.Repeat(" ", r.limit+1) + r.valid }, 413},
		}
		for _, rt := range bodyRoutes {
			for _, m := range malformed {
				if m.want == 413 && rt.limit == 0 {
					continue // the CMDB's limit is 256 MiB: too big to send here
				}
				t.Run(rt.method+" "+rt.path+"/"+m.name, func(t *testing.T) {
					before := snapshot(t, base)
					r := send(t, rt.method, base+rt.path, m.ctype, []byte(m.body(rt)))
					checkError(t, r, m.want, rt.pagerDuty)
					checkUnchanged(t, base, before)
				})
			}
		}

		// Inputs that are well-formed JSON but wrong: each route has its own.
		semantic := []struct {
			name, method, path, ctype, body string
			want                            int
		}{
			{"am: 100k labels", "POST", "/api/v1/alerts/alertmanager", "", amBody(manyLabels(100_000), `{}`), 400},
			{"am: 1 MB label value", "POST", "/api/v1/alerts/alertmanager", "", amBody(`{"a":"`+strings.Repeat("x", 1<<20)+`"}`, `{}`), 400},
			{"am: 1 MB annotation", "POST", "/api/v1/alerts/alertmanager", "", amBody(`{"a":"b"}`, `{"summary":"`+strings.Repeat("x", 1<<20)+`"}`), 400},
			{"am: NUL in a label", "POST", "/api/v1/alerts/alertmanager", "", amBody(`{"a":"x\u0000y"}`, `{}`), 400},
			{"am: number as a label value", "POST", "/api/v1/alerts/alertmanager", "", amBody(`{"a":1}`, `{}`), 400},
			{"am: number as the version", "POST", "/api/v1/alerts/alertmanager", "", strings.Replace(amBody(`{"a":"b"}`, `{}`), `"version":"4"`, `"version":4`, 1), 400},
			{"generic: 100k labels", "POST", "/api/v1/alerts", "", genericBody(manyLabels(100_000), `{}`), 400},
			{"generic: 1 MB label value", "POST", "/api/v1/alerts", "", genericBody(`{"a":"`+strings.Repeat("x", 1<<20)+`"}`, `{}`), 400},
			{"generic: 1 MB label name", "POST", "/api/v1/alerts", "", genericBody(`{"`+strings.Repeat("x", 1<<20)+`":"v"}`, `{}`), 400},
			{"generic: NUL in a label name", "POST", "/api/v1/alerts", "", genericBody(`{"a\u0000":"b"}`, `{}`), 400},
			{"generic: NUL in an annotation", "POST", "/api/v1/alerts", "", genericBody(`{"a":"b"}`, `{"s":"\u0000"}`), 400},
			{"generic: NUL in the source", "POST", "/api/v1/alerts", "", `[{"labels":{"a":"b"},"source":"\u0000"}]`, 400},
			{"generic: NUL in the generator URL", "POST", "/api/v1/alerts", "", `[{"labels":{"a":"b"},"generator_url":"x\u0000"}]`, 400},
			{"generic: data after the list", "POST", "/api/v1/alerts", "", genericBody(`{"a":"b"}`, `{}`) + "x", 400},
			{"generic: number as a label value", "POST", "/api/v1/alerts", "", genericBody(`{"a":1}`, `{}`), 400},
			{"generic: list as labels", "POST", "/api/v1/alerts", "", genericBody(`["a"]`, `{}`), 400},
			{"generic: fingerprint with SQL and spaces", "POST", "/api/v1/alerts", "", `[{"labels":{"a":"b"},"fingerprint":"` + sqlBait + `"}]`, 400},
			{"generic: second alert bad, first not stored", "POST", "/api/v1/alerts", "", `[{"labels":{"ok":"1"}},{"labels":{"a":1}}]`, 400},
			{"grafana: 1 MB label value", "POST", "/api/v1/alerts/grafana", "", strings.Replace(grafana, `"HighCPU"`, `"`+strings.Repeat("x", 1<<20)+`"`, 1), 400},
			{"grafana: number as a label value", "POST", "/api/v1/alerts/grafana", "", strings.Replace(grafana, `"HighCPU"`, `12`, 1), 400},
			{"grafana: NUL in a label", "POST", "/api/v1/alerts/grafana", "", strings.Replace(grafana, `"HighCPU"`, `"a\u0000"`, 1), 400},
			{"pagerduty: 1 MB summary", "POST", "/v2/enqueue", "", strings.Replace(pagerDuty, `"DISK at 99% on machine prod-datapipe03.example.com"`, `"`+strings.Repeat("x", 1<<20)+`"`, 1), 400},
			{"pagerduty: number as the routing key", "POST", "/v2/enqueue", "", strings.Replace(pagerDuty, `"R015X1NTEGRAT10NKEY0000000000000"`, `12`, 1), 400},
			{"pagerduty: NUL in the source", "POST", "/v2/enqueue", "", strings.Replace(pagerDuty, `"prod-datapipe03.example.com",`, `"a\u0000b",`, 1), 400},
			{"pagerduty: SQL as the action", "POST", "/v2/enqueue", "", strings.Replace(pagerDuty, `"trigger"`, `"`+sqlBait+`"`, 1), 400},
			{"mapping: 1 MB label value", "POST", "/api/v1/integrations/mapped", "", `{"name":"` + strings.Repeat("x", 1<<20) + `","host":"h"}`, 400},
			{"mapping: NUL in a label", "POST", "/api/v1/integrations/mapped", "", `{"name":"a\u0000","host":"h"}`, 400},
			{"mapping: key missing", "POST", "/api/v1/integrations/mapped", "", `{"host":"h"}`, 400},
			{"integration: SQL as the name", "POST", "/api/v1/integrations/" + url.PathEscape(sqlBait), "", `{}`, 404},
			{"integration: path traversal", "POST", "/api/v1/integrations/..%2f..%2fetc%2fpasswd", "", `{}`, 404},
			{"heartbeat: SQL as the name", "POST", "/api/v1/heartbeats/" + url.PathEscape(sqlBait), "", ``, 404},
			{"heartbeat: path traversal", "POST", "/api/v1/heartbeats/..%2f..%2fetc%2fpasswd", "", ``, 404},
			{"heartbeat: body over the limit", "POST", "/api/v1/heartbeats/beat", "", strings.Repeat("x", ingestLimit+1), 413},

			{"note: number as the actor", "POST", "/api/v1/incidents/INC-1/notes", "", `{"actor":5,"message":"m"}`, 400},
			{"note: NUL in the message", "POST", "/api/v1/incidents/INC-1/notes", "", `{"actor":"a","message":"x\u0000y"}`, 400},
			{"note: NUL in the actor", "POST", "/api/v1/incidents/INC-1/notes", "", `{"actor":"a\u0000","message":"m"}`, 400},
			{"note: data after the object", "POST", "/api/v1/incidents/INC-1/notes", "", `{"actor":"a","message":"m"} {}`, 400},
			{"note: unknown field", "POST", "/api/v1/incidents/INC-1/notes", "", `{"actor":"a","message":"m","admin":true}`, 400},
			{"note: path traversal in the id", "POST", "/api/v1/incidents/..%2f..%2fetc%2fpasswd/notes", "", `{"actor":"a","message":"m"}`, 400},
			{"note: SQL in the id", "POST", "/api/v1/incidents/" + url.PathEscape(sqlBait) + "/notes", "", `{"actor":"a","message":"m"}`, 400},
			{"note: incident that does not exist", "POST", "/api/v1/incidents/INC-99999/notes", "", `{"actor":"a","message":"m"}`, 404},
			{"note: id beyond int64", "POST", "/api/v1/incidents/INC-99999999999999999999/notes", "", `{"actor":"a","message":"m"}`, 400},
			{"silence: NUL in the comment", "POST", "/api/v1/silences", "", `{"matchers":"{a=\"b\"}","duration":"1h","created_by":"a","comment":"\u0000"}`, 400},
			{"silence: SQL as the matchers", "POST", "/api/v1/silences", "", `{"matchers":"` + sqlBait + `","duration":"1h","created_by":"a"}`, 400},
			{"silence: number as the duration", "POST", "/api/v1/silences", "", `{"matchers":"{a=\"b\"}","duration":3600,"created_by":"a"}`, 400},
			{"silence: expire SQL id", "DELETE", "/api/v1/silences/" + url.PathEscape(sqlBait), "", ``, 400},
			{"maintenance: SQL as the CI", "POST", "/api/v1/maintenance", "", `{"ci":"` + sqlBait + `","start":"2026-01-01T00:00:00Z","end":"2026-01-02T00:00:00Z","actor":"a"}`, 400},
			{"maintenance: delete path traversal", "DELETE", "/api/v1/maintenance/..%2f..%2fetc%2fpasswd", "", ``, 400},
			{"problem: SQL as the status of a missing problem", "POST", "/api/v1/problems/PRB-1/status", "", `{"status":"` + sqlBait + `","actor":"a"}`, 404},
			{"problem: NUL in the message", "POST", "/api/v1/problems/PRB-1/status", "", `{"status":"known_error","actor":"a","message":"\u0000"}`, 400},
			{"runbook: path traversal in the name", "POST", "/api/v1/runbooks/..%2f..%2fetc%2fpasswd/runs", "", `{"actor":"a"}`, 404},
			{"runbook: SQL in the name", "POST", "/api/v1/runbooks/" + url.PathEscape(sqlBait) + "/runs", "", `{"actor":"a"}`, 404},
			{"runbook: SQL as the incident", "POST", "/api/v1/runbooks/none/runs", "", `{"actor":"a","incident":"` + sqlBait + `"}`, 400},
			{"cmdb: NUL in a CI id", "PUT", "/api/v1/cmdb", "", `{"cis":[{"id":"a\u0000"}]}`, 400},
			{"cmdb: NUL in an attribute, YAML", "PUT", "/api/v1/cmdb", "application/yaml", "cis: [{id: a, attributes: {k: \"\\0\"}}]\n", 400},
			{"cmdb: invalid UTF-8 in a CI id, JSON", "PUT", "/api/v1/cmdb", "", "{\"cis\":[{\"id\":\"a\xff\"}]}", 400},
			{"cmdb: NUL in a deleted CI id", "PATCH", "/api/v1/cmdb", "", `{"delete":{"cis":["a\u0000"]}}`, 400},
			{"cmdb: list as a CI id", "PUT", "/api/v1/cmdb", "", `{"cis":[{"id":[1]}]}`, 400},
			{"cmdb: YAML alias bomb", "PUT", "/api/v1/cmdb", "application/yaml", aliasBomb(), 400},
			{"cmdb: YAML alias cycle", "PUT", "/api/v1/cmdb", "application/yaml", "cis: &c [{id: a, match: *c}]\n", 400},
			{"cmdb: relation to a missing CI", "PATCH", "/api/v1/cmdb", "", `{"upsert":{"relations":[{"from":"a","type":"depends_on","to":"` + sqlBait + `"}]}}`, 400},

			{"GET incident: path traversal", "GET", "/api/v1/incidents/..%2f..%2fetc%2fpasswd", "", ``, 400},
			{"GET incident: SQL as the id", "GET", "/api/v1/incidents/" + url.PathEscape(sqlBait), "", ``, 400},
			{"GET incidents: SQL as the status", "GET", "/api/v1/incidents?status=" + url.QueryEscape(sqlBait), "", ``, 400},
			{"GET incidents: SQL as the priority", "GET", "/api/v1/incidents?priority=" + url.QueryEscape(sqlBait), "", ``, 400},
			{"GET incidents: SQL as the cursor", "GET", "/api/v1/incidents?cursor=" + url.QueryEscape(sqlBait), "", ``, 400},
			{"GET incidents: huge limit", "GET", "/api/v1/incidents?limit=99999999999999999999", "", ``, 400},
			{"GET alerts: SQL as the cursor", "GET", "/api/v1/alerts?cursor=" + url.QueryEscape(sqlBait), "", ``, 400},
			{"GET alerts: SQL as the status", "GET", "/api/v1/alerts?status=" + url.QueryEscape(sqlBait), "", ``, 400},
			{"GET alerts: NUL in the fingerprint", "GET", "/api/v1/alerts?fingerprint=a%00", "", ``, 400},
			{"GET alerts: invalid UTF-8 in the fingerprint", "GET", "/api/v1/alerts?fingerprint=a%ff", "", ``, 400},
			{"GET runs: NUL in the runbook", "GET", "/api/v1/runbooks/runs?runbook=a%00", "", ``, 400},
			{"GET alerts: NUL in the cursor", "GET", "/api/v1/alerts?cursor=a%00:1", "", ``, 400},
			{"GET CI: NUL in the id", "GET", "/api/v1/cmdb/cis/a%00", "", ``, 404},
			{"GET problems: SQL as the status", "GET", "/api/v1/problems?status=" + url.QueryEscape(sqlBait), "", ``, 400},
			{"GET problems: SQL as the cursor", "GET", "/api/v1/problems?cursor=" + url.QueryEscape(sqlBait), "", ``, 400},
			{"GET problem: SQL as the id", "GET", "/api/v1/problems/" + url.PathEscape(sqlBait), "", ``, 400},
			{"GET CI: path traversal", "GET", "/api/v1/cmdb/cis/..%2f..%2fetc%2fpasswd", "", ``, 404},
			{"GET impact: SQL as the CI", "GET", "/api/v1/cmdb/cis/" + url.PathEscape(sqlBait) + "/impact", "", ``, 404},
			{"GET shifts: path traversal", "GET", "/api/v1/schedules/..%2f..%2fetc%2fpasswd/shifts", "", ``, 404},
			{"GET shifts: SQL as the time", "GET", "/api/v1/schedules/x/shifts?from=" + url.QueryEscape(sqlBait), "", ``, 400},
			{"GET schedule ical: path traversal", "GET", "/api/v1/schedules/..%2f..%2fetc%2fpasswd/ical", "", ``, 404},
			{"GET user ical: SQL as the id", "GET", "/api/v1/users/" + url.PathEscape(sqlBait) + "/ical", "", ``, 404},
			{"GET oncall: SQL as the schedule", "GET", "/api/v1/oncall?schedule=" + url.QueryEscape(sqlBait), "", ``, 404},
			{"GET silences: SQL as all", "GET", "/api/v1/silences?all=" + url.QueryEscape(sqlBait), "", ``, 400},
			{"GET run: SQL as the id", "GET", "/api/v1/runbooks/runs/" + url.PathEscape(sqlBait), "", ``, 400},
			{"GET runs: SQL as the status", "GET", "/api/v1/runbooks/runs?status=" + url.QueryEscape(sqlBait), "", ``, 400},
			{"GET runs: SQL as the incident", "GET", "/api/v1/runbooks/runs?incident=" + url.QueryEscape(sqlBait), "", ``, 400},
			{"PagerDuty webhook without a secret configured", "POST", "/api/v1/hooks/pagerduty", "", `{}`, 404},
			{"unknown route with traversal", "GET", "/api/v1/..%2f..%2fetc%2fpasswd", "", ``, 404},
		}
		for _, c := range semantic {
			t.Run(c.name, func(t *testing.T) {
				ctype := c.ctype
				if ctype == "" && c.body != "" {
					ctype = "application/json"
				}
				before := snapshot(t, base)
				r := send(t, c.method, base+c.path, ctype, []byte(c.body))
				checkError(t, r, c.want, c.path == "/v2/enqueue" || c.path == "/api/v1/alerts/pagerduty")
				checkUnchanged(t, base, before)
			})
		}

		t.Run("SQL metacharacters are stored verbatim", func(t *testing.T) { sqlVerbatim(t, base) })
		t.Run("duplicate keys: the last one wins", func(t *testing.T) { duplicateKeys(t, base) })

		if b == store.SQLite { // a property of the HTTP server, not the store
			t.Run("slow headers are cut by ReadHeaderTimeout", func(t *testing.T) { slowHeaders(t, base) })
		}

		// After all of it, a valid request of each kind is served.
		if r := send(t, "POST", base+"/api/v1/alerts/alertmanager", "application/json", []byte(amBody(`{"alertname":"after"}`, `{}`))); r.status != 200 {
			t.Fatalf("valid Alertmanager webhook after the hostile cases: %d %s", r.status, r.body)
		}
		if r := send(t, "POST", base+"/api/v1/incidents/INC-1/notes", "application/json", []byte(`{"actor":"a","message":"still here"}`)); r.status != 201 {
			t.Fatalf("valid note after the hostile cases: %d %s", r.status, r.body)
		}
	})
	t.Run("every route is tried", everyRouteTried)
}

// untested lists the routes of the route table the suite sends nothing
// hostile to, and why.
var untested = map[string]string{
	"GET /metrics":            "takes no input",
	"GET /-/healthy":          "takes no input",
	"GET /-/ready":            "takes no input (every case calls it)",
	"POST /-/reload":          "takes no input; rereads the config file",
	"GET /api/v1/cmdb":        "takes no input (every case calls it)",
	"GET /api/v1/runbooks":    "takes no input",
	"GET /api/v1/maintenance": "takes no input (every case calls it)",
	"GET /api/v1/link":        "answers HTML pages for people, checked by api's link tests",
	"POST /api/v1/link":       "answers HTML pages for people, checked by api's link tests",
	"/":                       "the 404 fallback",
}

// everyRouteTried fails when a route is added to the route table without
// hostile cases here (or a reason in untested).
func everyRouteTried(t *testing.T) {
	if run := flag.Lookup("test.run"); run != nil && strings.Contains(run.Value.String(), "/") {
		t.Skip("-run selects some cases only")
	}
	sent.Lock()
	reqs := sent.reqs
	sent.Unlock()
	mux := http.NewServeMux()
	for _, r := range api.RouteTable() {
		mux.HandleFunc(r.Pattern, func(http.ResponseWriter, *http.Request) {})
	}
	tried := map[string]bool{}
	for _, req := range reqs {
		_, pattern := mux.Handler(req)
		tried[pattern] = true
	}
	for _, r := range api.RouteTable() {
		if _, ok := untested[r.Pattern]; !ok && !tried[r.Pattern] {
			t.Errorf("route %s: no hostile case tries it; add cases to TestHostileInput or a reason to untested", r.Pattern)
		}
	}
}

// slowHeaders sends a request's headers a byte at a time and requires
// the server to close the connection once ReadHeaderTimeout (10s, fixed in
// daemon.go) has passed, while serving others meanwhile. ReadTimeout (60s)
// cuts a slow body the same way; too slow to test here, it is documented
// in docs/security.md.
func slowHeaders(t *testing.T, base string) {
	const readHeaderTimeout = 10 * time.Second
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST /api/v1/alerts HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("a")); err != nil {
					return // closed by the server, as it should be
				}
			}
		}
	}()
	// Others are served while the slow client holds its connection.
	if r := send(t, "GET", base+"/-/ready", "", nil); r.status != 200 {
		t.Fatalf("not serving during a slow-loris request: %d", r.status)
	}
	// The server closes (possibly after a 408): the read ends with EOF or
	// a reset well before the client's own deadline.
	conn.SetReadDeadline(time.Now().Add(readHeaderTimeout + 10*time.Second))
	_, err = io.Copy(io.Discard, conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("server still reading slow headers after %v", time.Since(start))
	}
	if took := time.Since(start); took < readHeaderTimeout-time.Second {
		t.Fatalf("connection closed after %v, before ReadHeaderTimeout: %v", took, err)
	}
}

// checkUnchanged requires the daemon to serve, and nothing to have been
// stored.
func checkUnchanged(t *testing.T, base string, before state) {
	t.Helper()
	if r := send(t, "GET", base+"/-/ready", "", nil); r.status != 200 {
		t.Fatalf("daemon not ready after the request: %d %s", r.status, r.body)
	}
	if after := snapshot(t, base); after != before {
		t.Fatalf("a rejected request changed the store: before %+v, after %+v", before, after)
	}
}

// aliasBomb is a YAML document of a few hundred bytes whose aliases expand
// to 10^9 nodes.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		ref := fmt.Sprintf("*a%d", i-1)
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(ref+", ", 10), ", "))
	}
	return b.String()
}

// sqlVerbatim sends SQL metacharacters in every field that is stored and
// reads them back unchanged; the tables they name are still there.
func sqlVerbatim(t *testing.T, base string) {
	baits := []string{sqlBait, `'); DELETE FROM incidents; --`, `" OR 1=1 --`, `\'; DROP TABLE events; --`, `%_*`, `$1`}
	for i, bait := range baits {
		fp := fmt.Sprintf("sql-%d", i)
		labels, _ := json.Marshal(map[string]string{"alertname": bait, bait: "v"})
		ann, _ := json.Marshal(map[string]string{"summary": bait})
		body := fmt.Sprintf(`[{"labels":%s,"annotations":%s,"fingerprint":%q,"source":%s,"generator_url":%s}]`, labels, ann, fp, quote(bait), quote(bait))
		if r := send(t, "POST", base+"/api/v1/alerts", "application/json", []byte(body)); r.status != 200 {
			t.Fatalf("alert with %q: %d %s", bait, r.status, r.body)
		}
		var got struct {
			Alerts []struct {
				Labels       map[string]string `json:"labels"`
				Annotations  map[string]string `json:"annotations"`
				Source       string            `json:"source"`
				GeneratorURL string            `json:"generator_url"`
			}
		}
		getJSON(t, base+"/api/v1/alerts?fingerprint="+url.QueryEscape(fp), &got)
		if len(got.Alerts) != 1 {
			t.Fatalf("alert %s: %d found", fp, len(got.Alerts))
		}
		a := got.Alerts[0]
		if a.Labels["alertname"] != bait || a.Labels[bait] != "v" || a.Annotations["summary"] != bait || a.Source != bait || a.GeneratorURL != bait {
			t.Fatalf("alert with %q stored as %+v", bait, a)
		}
		// As a query parameter it is a value to look for, not SQL.
		var none struct{ Alerts []json.RawMessage }
		getJSON(t, base+"/api/v1/alerts?fingerprint="+url.QueryEscape(bait), &none)
		if len(none.Alerts) != 0 {
			t.Fatalf("fingerprint %q matched %d alerts", bait, len(none.Alerts))
		}
		var runs struct{ Runs []json.RawMessage }
		getJSON(t, base+"/api/v1/runbooks/runs?runbook="+url.QueryEscape(bait), &runs)

		note, _ := json.Marshal(map[string]string{"actor": bait, "message": bait})
		r := send(t, "POST", base+"/api/v1/incidents/INC-1/notes", "application/json", note)
		if r.status != 201 {
			t.Fatalf("note with %q: %d %s", bait, r.status, r.body)
		}
		var ev struct {
			Event struct {
				Actor   string `json:"actor"`
				Message string `json:"message"`
			} `json:"event"`
		}
		if err := json.Unmarshal(r.body, &ev); err != nil || ev.Event.Actor != bait || ev.Event.Message != bait {
			t.Fatalf("note with %q recorded as %+v (%v)", bait, ev.Event, err)
		}

		sil, _ := json.Marshal(map[string]string{"matchers": fmt.Sprintf("{alertname=%q}", bait), "duration": "1h", "created_by": bait, "comment": bait})
		r = send(t, "POST", base+"/api/v1/silences", "application/json", sil)
		var s struct {
			Matchers, Comment string
			CreatedBy         string `json:"created_by"`
		}
		if r.status != 201 || json.Unmarshal(r.body, &s) != nil || s.Comment != bait || s.CreatedBy != bait || !strings.Contains(s.Matchers, "alertname=") {
			t.Fatalf("silence with %q: %d %s", bait, r.status, r.body)
		}

		doc, _ := json.Marshal(map[string]any{"upsert": map[string]any{"cis": []map[string]any{{"id": fp, "name": bait, "owner": bait, "attributes": map[string]string{bait: bait}}}}})
		if r := send(t, "PATCH", base+"/api/v1/cmdb", "application/json", doc); r.status != 200 {
			t.Fatalf("CI with %q: %d %s", bait, r.status, r.body)
		}
		var ci struct {
			Name, Owner string
			Attributes  map[string]string
		}
		getJSON(t, base+"/api/v1/cmdb/cis/"+fp, &ci)
		if ci.Name != bait || ci.Owner != bait || ci.Attributes[bait] != bait {
			t.Fatalf("CI with %q stored as %+v", bait, ci)
		}
	}
	// The tables the baits name are all still there and readable.
	for _, u := range []string{"/api/v1/alerts", "/api/v1/incidents", "/api/v1/incidents/INC-1", "/api/v1/silences", "/api/v1/cmdb", "/api/v1/runbooks/runs"} {
		if r := send(t, "GET", base+u, "", nil); r.status != 200 {
			t.Fatalf("GET %s after the SQL baits: %d %s", u, r.status, r.body)
		}
	}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// duplicateKeys pins what encoding/json does with a key given twice in an
// object: the last value wins, on ingest and on the API alike.
func duplicateKeys(t *testing.T, base string) {
	body := `[{"labels":{"alertname":"dup","team":"first","team":"second"},"fingerprint":"dup-1","fingerprint":"dup-2"}]`
	if r := send(t, "POST", base+"/api/v1/alerts", "application/json", []byte(body)); r.status != 200 {
		t.Fatalf("duplicate keys: %d %s", r.status, r.body)
	}
	var got struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
		}
	}
	getJSON(t, base+"/api/v1/alerts?fingerprint=dup-2", &got)
	if len(got.Alerts) != 1 || got.Alerts[0].Labels["team"] != "second" {
		t.Fatalf("duplicate keys stored as %+v, want the last fingerprint and team=second", got.Alerts)
	}
	var first struct{ Alerts []json.RawMessage }
	getJSON(t, base+"/api/v1/alerts?fingerprint=dup-1", &first)
	if len(first.Alerts) != 0 {
		t.Fatal("the first of two fingerprints was stored too")
	}
	r := send(t, "POST", base+"/api/v1/incidents/INC-1/notes", "application/json", []byte(`{"actor":"a","message":"first","message":"second"}`))
	if r.status != 201 || !strings.Contains(string(r.body), `"message":"second"`) || strings.Contains(string(r.body), `"message":"first"`) {
		t.Fatalf("duplicate message keys in a note: %d %s", r.status, r.body)
	}
	// A CMDB body is YAML, whose decoder refuses a key set twice; only a
	// valid JSON document for PUT takes the JSON fast path, where the last
	// value wins (cmdb.Parse says so).
	r = send(t, "PUT", base+"/api/v1/cmdb", "application/json", []byte(`{"cis":[{"id":"dup-first","id":"dup-second"}]}`))
	if r.status != 200 {
		t.Fatalf("duplicate id keys in a CMDB document: %d %s", r.status, r.body)
	}
	if r := send(t, "GET", base+"/api/v1/cmdb/cis/dup-second", "", nil); r.status != 200 {
		t.Fatalf("the last of two ids was not stored: %d %s", r.status, r.body)
	}
	if r := send(t, "GET", base+"/api/v1/cmdb/cis/dup-first", "", nil); r.status != 404 {
		t.Fatalf("the first of two ids was stored: %d %s", r.status, r.body)
	}
	for _, c := range []struct{ method, ctype, body string }{
		{"PATCH", "application/json", `{"upsert":{"cis":[{"id":"a","id":"b"}]}}`},
		{"PUT", "application/yaml", "cis: [{id: a}]\ncis: [{id: b}]\n"},
	} {
		r = send(t, c.method, base+"/api/v1/cmdb", c.ctype, []byte(c.body))
		checkError(t, r, 400, false)
		if !strings.Contains(string(r.body), "set twice") {
			t.Fatalf("%s %s: a key set twice: %s", c.method, c.body, r.body)
		}
	}
}
