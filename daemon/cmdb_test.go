package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/web"
)

const shopCMDB = `cis:
  - {id: checkout, class: business_service, criticality: 1}
  - {id: checkout-api, class: application, owner: team-shop, match: [{service: checkout-api}]}
  - {id: payments-db, class: database, criticality: 2, match: [{instance: "10.0.3.17:5432"}, {service: payments-db}]}
  - {id: db-host-1, class: server, match: [{instance: "db-host-1:9100"}]}
relations:
  - {from: checkout, type: depends_on, to: checkout-api}
  - {from: checkout-api, type: depends_on, to: payments-db}
  - {from: payments-db, type: runs_on, to: db-host-1}
`

// send makes a request and decodes a JSON answer into out (web.Error for
// errors), returning the status.
func send(t *testing.T, method, url, ctype, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

func TestCMDBAPIAndCorrelationOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		url, _ := daemontest.Start(t, "storage: {dsn: '"+storetest.DSN(t, b)+"'}\n")
		var changed api.CMDBChanged
		if code := send(t, "PUT", url+"/api/v1/cmdb", "application/yaml", shopCMDB, &changed); code != 200 || changed.CIs != 4 || changed.Relations != 3 || changed.Version != 1 {
			t.Fatalf("PUT: %d %+v", code, changed)
		}
		var ci api.CIView
		if code := send(t, "GET", url+"/api/v1/cmdb/cis/payments-db", "", "", &ci); code != 200 || ci.Criticality != 2 || len(ci.Relations) != 2 {
			t.Fatalf("GET CI: %d %+v", code, ci)
		}
		var impact api.ImpactView
		send(t, "GET", url+"/api/v1/cmdb/cis/db-host-1/impact", "", "", &impact)
		if len(impact.Impacted) != 1 || impact.Impacted[0].CI != "checkout" || impact.Impacted[0].State != "down" {
			t.Fatalf("impact: %+v", impact)
		}

		// An invalid document is rejected whole, every problem listed.
		var e web.Error
		bad := `{"cis": [{"id": "a"}, {"id": "a"}], "relations": [{"from": "a", "type": "uses", "to": "b"}]}`
		if code := send(t, "PUT", url+"/api/v1/cmdb", "application/json", bad, &e); code != 400 || len(e.Errors) != 3 {
			t.Fatalf("bad PUT: %d %+v", code, e)
		}
		if code := send(t, "PUT", url+"/api/v1/cmdb", "text/plain", shopCMDB, &e); code != 415 {
			t.Fatalf("text/plain PUT: %d", code)
		}
		if code := send(t, "GET", url+"/api/v1/cmdb/cis/payments-db", "", "", &ci); code != 200 {
			t.Fatal("old CMDB lost after a rejected PUT")
		}
		if code := send(t, "PATCH", url+"/api/v1/cmdb", "application/yaml", "delete: {cis: [nothing]}", &e); code != 400 || !strings.Contains(strings.Join(e.Errors, ";"), `no CI with id "nothing"`) {
			t.Fatalf("bad PATCH: %d %+v", code, e)
		}

		// Alerts over HTTP correlate through the CMDB just stored.
		postAlerts(t, url, `[{"labels": {"alertname": "HighErrorRate", "service": "checkout-api", "severity": "critical"}},
			{"labels": {"alertname": "PostgresDown", "instance": "10.0.3.17:5432", "severity": "critical"}}]`)
		var list api.IncidentList
		send(t, "GET", url+"/api/v1/incidents", "", "", &list)
		if len(list.Incidents) != 1 || list.Incidents[0].RootCause != "payments-db" || !list.Incidents[0].Major {
			t.Fatalf("incidents: %+v", list.Incidents)
		}
		var detail api.IncidentDetail
		send(t, "GET", url+"/api/v1/incidents/1", "", "", &detail)
		c := detail.Correlation
		if c == nil || c.RootCauseReason != "root cause payments-db: checkout-api depends on it" || len(c.Impacted) != 1 || len(detail.Alerts) != 2 || detail.Alerts[1].Explanation == "" {
			t.Fatalf("correlation: %+v alerts %+v", c, detail.Alerts)
		}

		if code := send(t, "PATCH", url+"/api/v1/cmdb", "application/yaml", "upsert: {cis: [{id: cache, class: cache}], relations: [{from: checkout-api, type: depends_on, to: cache}]}", &changed); code != 200 || changed.CIs != 5 || changed.Version != 2 {
			t.Fatalf("PATCH: %d %+v", code, changed)
		}
	})
}

func TestCMDBFilesReloadAndRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		dir := t.TempDir()
		file := filepath.Join(dir, "cmdb.yml")
		os.WriteFile(file, []byte(shopCMDB), 0o600)
		dsn := storetest.DSN(t, b)
		config := "storage: {dsn: '" + dsn + "'}\ncmdb: {files: ['" + file + "']}\n"
		url, cfgFile := daemontest.Start(t, config)
		var doc api.CMDBDocument
		if send(t, "GET", url+"/api/v1/cmdb", "", "", &doc); doc.Source != "files" || len(doc.CIs) != 4 {
			t.Fatalf("at start: %+v", doc)
		}
		// A broken file fails the reload and changes nothing.
		os.WriteFile(file, []byte(shopCMDB+"  - {from: checkout, type: depends_on, to: ghost}\n"), 0o600)
		var e web.Error
		if code := send(t, "POST", url+"/-/reload", "", "", &e); code != 500 || !strings.Contains(e.Error, `cmdb.yml:10: relations[3].to: no CI with id "ghost"`) {
			t.Fatalf("reload of broken CMDB: %d %+v", code, e)
		}
		os.WriteFile(file, []byte(shopCMDB+"  - {from: checkout, type: depends_on, to: db-host-1}\n"), 0o600)
		if code := send(t, "POST", url+"/-/reload", "", "", nil); code != 200 {
			t.Fatalf("reload: %d", code)
		}
		send(t, "GET", url+"/api/v1/cmdb", "", "", &doc)
		if len(doc.Relations) != 4 || doc.Version != 2 {
			t.Fatalf("after reload: version %d, %d relations", doc.Version, len(doc.Relations))
		}
		// An API edit survives a restart with unchanged files.
		send(t, "PATCH", url+"/api/v1/cmdb", "application/yaml", "upsert: {cis: [{id: extra}]}", nil)
		url2, _ := daemontest.Start(t, mustRead(t, cfgFile))
		send(t, "GET", url2+"/api/v1/cmdb", "", "", &doc)
		if len(doc.CIs) != 5 || doc.Source != "api" {
			t.Fatalf("after restart: source %s, %d CIs (the API edit was undone)", doc.Source, len(doc.CIs))
		}
	})
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMaintenanceAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		url, _ := daemontest.Start(t, "storage: {dsn: '"+storetest.DSN(t, b)+"'}\n")
		send(t, "PUT", url+"/api/v1/cmdb", "application/yaml", shopCMDB, nil)
		// An open incident on checkout-api, before the maintenance.
		postAlerts(t, url, `[{"labels": {"alertname": "HighErrorRate", "service": "checkout-api"}}]`)

		var e web.Error
		for _, tt := range []struct{ body, field string }{
			{`{"ci": "ghost", "start": "2026-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z", "actor": "a"}`, "ci"},
			{`{"ci": "db-host-1", "start": "2099-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z", "actor": "a"}`, "end"},
			{`{"ci": "db-host-1", "start": "2026-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z"}`, "actor"},
			{`{"ci": "db-host-1", "from": "2026-01-01T00:00:00Z"}`, "body"},
		} {
			if code := send(t, "POST", url+"/api/v1/maintenance", "application/json", tt.body, &e); code != 400 || e.Field != tt.field {
				t.Errorf("%s: %d %+v, want 400 on %s", tt.body, code, e, tt.field)
			}
		}
		var win struct{ ID int64 }
		if code := send(t, "POST", url+"/api/v1/maintenance", "application/json", `{"ci": "payments-db", "start": "2026-01-01T00:00:00Z", "end": "2099-01-01T00:00:00Z", "reason": "failover test", "actor": "alice"}`, &win); code != 201 || win.ID == 0 {
			t.Fatalf("add: %d %+v", code, win)
		}
		var list api.MaintenanceList
		if send(t, "GET", url+"/api/v1/maintenance", "", "", &list); len(list.Windows) != 1 || list.Windows[0].CreatedBy != "alice" || list.Windows[0].Source != "api" {
			t.Fatalf("list: %+v", list)
		}
		postAlerts(t, url, `[{"labels": {"alertname": "PostgresDown", "service": "payments-db"}}]`)
		var alerts api.AlertList
		send(t, "GET", url+"/api/v1/alerts?status=firing", "", "", &alerts)
		suppressed := 0
		for _, a := range alerts.Alerts {
			if a.Suppressed {
				suppressed++
			}
		}
		if suppressed != 1 {
			t.Fatalf("alerts: %+v", alerts.Alerts)
		}
		// The open incident says its CI needs one in maintenance.
		var d api.IncidentDetail
		send(t, "GET", url+"/api/v1/incidents/1", "", "", &d)
		if len(d.Maintenance) != 1 || !strings.Contains(d.Maintenance[0], "payments-db is in maintenance until 2099-01-01T00:00:00Z (failover test)") {
			t.Fatalf("incident maintenance: %+v", d.Maintenance)
		}
		if code := send(t, "DELETE", url+"/api/v1/maintenance/"+strconv.FormatInt(win.ID, 10), "", "", nil); code != 200 {
			t.Fatalf("delete: %d", code)
		}
		if code := send(t, "DELETE", url+"/api/v1/maintenance/"+strconv.FormatInt(win.ID, 10), "", "", &e); code != 404 {
			t.Fatalf("delete twice: %d", code)
		}
		var after api.IncidentDetail
		send(t, "GET", url+"/api/v1/incidents/1", "", "", &after)
		if len(after.Maintenance) != 0 {
			t.Fatalf("maintenance after delete: %+v", after.Maintenance)
		}
	})
}

func TestProblemsOverHTTP(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		// Each re-fire is a new incident: no flap or reopen window.
		url, _ := daemontest.Start(t, "storage: {dsn: '"+storetest.DSN(t, b)+"'}\nalerts: {flap_window: 0s}\nincidents: {reopen_window: 0s}\n")
		send(t, "PUT", url+"/api/v1/cmdb", "application/yaml", shopCMDB, nil)
		for i := 0; i < 3; i++ {
			postAlerts(t, url, `[{"labels": {"alertname": "PostgresDown", "service": "payments-db", "severity": "warning"}}]`)
			postAlerts(t, url, `[{"labels": {"alertname": "PostgresDown", "service": "payments-db", "severity": "warning"}, "status": "resolved"}]`)
		}
		// The detector runs after commit, woken by it: wait for it.
		var list api.ProblemList
		deadline := time.Now().Add(10 * time.Second)
		for send(t, "GET", url+"/api/v1/problems?status=open", "", "", &list); len(list.Problems) == 0; send(t, "GET", url+"/api/v1/problems?status=open", "", "", &list) {
			if time.Now().After(deadline) {
				t.Fatal("no problem opened within 10s")
			}
			time.Sleep(20 * time.Millisecond)
		}
		var p api.ProblemDetail
		if code := send(t, "GET", url+"/api/v1/problems/PRB-1", "", "", &p); code != 200 || p.Signature != "payments-db/PostgresDown" || strings.Join(p.Incidents, ",") != "INC-1,INC-2,INC-3" {
			t.Fatalf("problem: %d %+v", code, p)
		}
		var e web.Error
		if code := send(t, "POST", url+"/api/v1/problems/1/status", "application/json", `{"status": "known_error", "actor": "alice"}`, &e); code != 400 || !strings.Contains(e.Error, "workaround") {
			t.Fatalf("known_error without workaround: %d %+v", code, e)
		}
		if code := send(t, "POST", url+"/api/v1/problems/1/status", "application/json", `{"status": "known_error", "actor": "alice", "workaround": "fail over to the replica"}`, nil); code != 200 {
			t.Fatalf("known_error: %d", code)
		}
		if code := send(t, "POST", url+"/api/v1/problems/1/status", "application/json", `{"status": "new", "actor": "alice"}`, &e); code != 409 {
			t.Fatalf("backwards: %d", code)
		}
		if code := send(t, "GET", url+"/api/v1/problems/PRB-9", "", "", &e); code != 404 {
			t.Fatalf("missing problem: %d", code)
		}
		var d api.IncidentDetail
		send(t, "GET", url+"/api/v1/incidents/2", "", "", &d)
		if strings.Join(d.Problems, ",") != "PRB-1" {
			t.Fatalf("INC-2 problems: %v", d.Problems)
		}
	})
}
