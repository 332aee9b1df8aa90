package daemon_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

func postAlerts(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url+"/api/v1/alerts", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("post alerts: %v %v", resp, err)
	}
	resp.Body.Close()
}

func incidentCount(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/api/v1/incidents")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list api.IncidentList
	json.NewDecoder(resp.Body).Decode(&list)
	return len(list.Incidents)
}

func TestReloadAppliesNewGroupingAndKeepsOldOnError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		dsn := storetest.DSN(t, b)
		url, file := daemontest.Start(t, "storage: {dsn: '"+dsn+"'}\ngrouping: {by: [alertname]}\n")
		postAlerts(t, url, `[{"labels":{"alertname":"A","service":"x"}},{"labels":{"alertname":"A","service":"y"}}]`)
		if n := incidentCount(t, url); n != 1 {
			t.Fatalf("grouped by alertname: %d incidents, want 1", n)
		}

		// A broken file is refused with its errors; the old config stays.
		os.WriteFile(file, []byte("storage: {dsn: '"+dsn+"'}\ngrouping: {by: [alertname], window: soon}\n"), 0o600)
		resp, err := http.Post(url+"/-/reload", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		var e struct{ Error string }
		json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != 500 || !strings.Contains(e.Error, "incidentd.yml:2: grouping.window") {
			t.Fatalf("reload of a bad file: %d %q", resp.StatusCode, e.Error)
		}
		postAlerts(t, url, `[{"labels":{"alertname":"A","service":"z"}}]`)
		if n := incidentCount(t, url); n != 1 {
			t.Fatalf("after failed reload: %d incidents, want 1 (old grouping kept)", n)
		}

		os.WriteFile(file, []byte("storage: {dsn: '"+dsn+"'}\ngrouping: {by: [alertname, service]}\n"), 0o600)
		resp, err = http.Post(url+"/-/reload", "", bytes.NewReader(nil))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("reload: %v %v", resp, err)
		}
		resp.Body.Close()
		postAlerts(t, url, `[{"labels":{"alertname":"B","service":"x"}},{"labels":{"alertname":"B","service":"y"}}]`)
		if n := incidentCount(t, url); n != 3 {
			t.Fatalf("after reload grouping by service: %d incidents, want 3", n)
		}
	})
}
