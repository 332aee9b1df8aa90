package daemon_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

// TestRunbookStepsPageThroughTheEscalationEngine: in the daemon, a
// runbook's notify step reaches a person through the escalation engine's
// notifiers, with its text, and its escalate step pages level 1 at once,
// long before the route's one-hour delay would have.
func TestRunbookStepsPageThroughTheEscalationEngine(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		rec := &pages{}
		hook := httptest.NewServer(rec)
		defer hook.Close()
		dir := t.TempDir()
		runbook := `name: hand-over
triggers: [{on: incident.triggered}]
steps:
  - notify: {to: ["user:bob"], message: "{{ .Incident.Key }} is yours next"}
  - escalate: {message: "no time to wait"}
`
		if err := os.WriteFile(filepath.Join(dir, "hand-over.yml"), []byte(runbook), 0o600); err != nil {
			t.Fatal(err)
		}
		url, _ := daemontest.Start(t, "storage: {dsn: '"+storetest.DSN(t, b)+`'}
log: {level: error}
oncall:
  users:
    - {id: alice, timezone: UTC, contacts: [{notifier: hook}]}
    - {id: bob, timezone: UTC, contacts: [{notifier: hook}]}
  escalation_policies:
    - {id: p, levels: [{targets: ["user:alice"], timeout: 1h}]}
  routes:
    - {policy: p, delay: 1h}
notifiers:
  - {name: hook, type: webhook, url: "`+hook.URL+`"}
runbooks:
  files: ["`+filepath.Join(dir, "*.yml")+`"]
`)
		postAlerts(t, url, `[{"labels":{"alertname":"A","service":"x"}}]`)
		got := map[notify.Event]notify.WebhookPayload{}
		for _, p := range rec.wait(t, 2) {
			if p.Recipient == nil {
				t.Fatalf("notification without recipient: %+v", p)
			}
			got[p.Event] = p
		}
		if p := got[notify.EventTrigger]; p.Recipient.User != "alice" || p.Text != "escalated by runbook:hand-over: no time to wait" {
			t.Errorf("level 1 page: %+v, want alice now, with the reason", p)
		}
		if p := got[notify.EventNote]; p.Recipient.User != "bob" || p.Text != "INC-1 is yours next" {
			t.Errorf("note: %+v, want bob with the step's text", p)
		}
	})
}
