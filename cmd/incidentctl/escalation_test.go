package main

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/incidentd/incidentd/daemon/daemontest"
)

func TestOnCallAndSilences(t *testing.T) {
	t.Parallel()
	hook := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(hook.Close)
	dir := t.TempDir()
	url, _ := daemontest.Start(t, "storage: {dsn: 'sqlite://"+filepath.Join(dir, "x.db")+`'}
log: {level: error}
oncall:
  users:
    - {id: alice, name: Alice, timezone: UTC, contacts: [{notifier: hook}]}
    - {id: bob, timezone: UTC, contacts: [{notifier: hook}]}
  schedules:
    - id: primary
      timezone: UTC
      layers:
        - rotation: {type: daily, handoff: "09:00"}
          start: 2026-01-05
          participants: [alice, bob]
    - id: weekend
      timezone: UTC
      layers:
        - rotation: {type: weekly}
          start: 2026-01-03
          participants: [bob]
          restrict: [{days: [Sat, Sun], from: "00:00", to: "24:00"}]
notifiers:
  - {name: hook, type: webhook, url: "`+hook.URL+`"}
`)
	cli(t, "--url", url, "oncall", "--at", "2026-03-02T10:00:00Z").want(t, 0,
		[]string{"SCHEDULE", "primary", "alice (Alice)", "2026-03-02 09:00", "2026-03-03 09:00", "layer 1", "weekend", "(nobody)"}, nil)
	cli(t, "--url", url, "oncall", "--schedule", "weekend", "--at", "2026-03-07T10:00:00Z").want(t, 0, []string{"weekend", "bob", "layer 1"}, nil)
	cli(t, "--url", url, "oncall", "--schedule", "nope").want(t, 1, nil, []string{"schedule nope is not configured (HTTP 404)"})
	cli(t, "--url", url, "oncall", "--at", "monday").want(t, 2, nil, []string{"--at: \"monday\" is not an RFC 3339 time"})
	cli(t, "--url", url, "--output", "json", "oncall", "--schedule", "primary", "--at", "2026-03-03T10:00:00Z").want(t, 0, []string{`"user": "bob"`}, nil)

	cli(t, "--url", url, "silence", "list").want(t, 0, []string{"No silences."}, nil)
	cli(t, "--url", url, "--actor", "bob", "silence", "add", `team="shop"`, `service=~"web|api"`, "--for", "2h", "--comment", "deploy").
		want(t, 0, []string{`silence 1: {team="shop",service=~"web|api"} until`}, nil)
	cli(t, "--url", url, "--actor", "bob", "silence", "add", `team=~".*"`, "--for", "2h").want(t, 1, nil, []string{"does not match the empty string"})
	cli(t, "--url", url, "--actor", "bob", "silence", "add", `team="shop"`).want(t, 2, nil, []string{"missing --end or --for"})
	cli(t, "--url", url, "silence", "list").want(t, 0, []string{"ID", "active", `{team="shop",service=~"web|api"}`, "bob", "deploy"}, nil)
	cli(t, "--url", url, "silence", "expire", "1").want(t, 0, []string{"silence 1 expired"}, nil)
	cli(t, "--url", url, "silence", "list").want(t, 0, []string{"No silences."}, nil)
	cli(t, "--url", url, "silence", "list", "--all").want(t, 0, []string{"expired"}, nil)
	cli(t, "--url", url, "silence", "expire", "9").want(t, 1, nil, []string{"(HTTP 404)"})
}
