package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/daemon/daemontest"
)

const problemsCMDB = `cis:
  - {id: shop, class: business_service, criticality: 4}
  - {id: db, class: database, match: [{service: db}]}
relations:
  - {from: shop, type: depends_on, to: db}
`

func TestProblemsAndMaintenance(t *testing.T) {
	dir := t.TempDir()
	// Every re-fire is a new incident, so three outages are three incidents.
	url, _ := daemontest.Start(t, "storage: {dsn: 'sqlite://"+filepath.Join(dir, "x.db")+"'}\nalerts: {flap_window: 0s}\nincidents: {reopen_window: 0s}\nlog: {level: error}\n")
	file := writeFile(t, dir, "cmdb.yml", problemsCMDB)
	cli(t, "--url", url, "cmdb", "import", file).want(t, 0, []string{"CMDB version 1"}, nil)

	cli(t, "--url", url, "problems", "list").want(t, 0, []string{"No problems."}, nil)
	for i := 0; i < 3; i++ {
		postAlerts(t, url, `[{"labels": {"alertname": "DiskFull", "service": "db"}}]`)
		postAlerts(t, url, `[{"labels": {"alertname": "DiskFull", "service": "db"}, "status": "resolved"}]`)
	}
	// The detector runs after commit: wait for it.
	deadline := time.Now().Add(10 * time.Second)
	for r := cli(t, "--url", url, "problems", "list", "--status", "open"); r.code != 0 || !strings.Contains(r.stdout, "PRB-1"); r = cli(t, "--url", url, "problems", "list", "--status", "open") {
		if time.Now().After(deadline) {
			t.Fatalf("no problem listed: %+v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cli(t, "--url", url, "problems", "show", "PRB-1").want(t, 0, []string{"Recurring DiskFull on db", "Signature:  db/DiskFull", "INC-1, INC-2, INC-3", "problem.opened"}, nil)
	cli(t, "--url", url, "--actor", "alice", "problems", "status", "1", "known_error").want(t, 1, nil, []string{"known_error needs a workaround (HTTP 400)"})
	cli(t, "--url", url, "--actor", "alice", "problems", "status", "1", "known_error", "--workaround", "grow the volume").want(t, 0, []string{"PRB-1 new -> known_error by alice"}, nil)
	cli(t, "--url", url, "problems", "show", "PRB-1").want(t, 0, []string{"Workaround: grow the volume"}, nil)
	cli(t, "--url", url, "problems", "show", "PRB-x").want(t, 2, nil, []string{"invalid problem id"})

	cli(t, "--url", url, "--actor", "bob", "maintenance", "add", "db", "--for", "2h", "--reason", "resize").want(t, 0, []string{"maintenance window 1: db until"}, nil)
	cli(t, "--url", url, "maintenance", "list").want(t, 0, []string{"db", "api", "resize"}, nil)
	cli(t, "--url", url, "--actor", "bob", "maintenance", "add", "nope", "--for", "1h").want(t, 1, nil, []string{`no CI with id "nope"`})
	cli(t, "--url", url, "--actor", "bob", "maintenance", "add", "db").want(t, 2, nil, []string{"missing --end or --for"})
	cli(t, "--url", url, "maintenance", "delete", "1").want(t, 0, []string{"maintenance window 1 deleted"}, nil)
	cli(t, "--url", url, "maintenance", "delete", "1").want(t, 1, nil, []string{"(HTTP 404)"})
	cli(t, "--url", url, "maintenance", "list").want(t, 0, []string{"No maintenance windows."}, nil)
}
