package daemon_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

// TestSIGKILLMidRunResumesRuns kills the daemon with SIGKILL while one run
// awaits approval and another waits for its incident to resolve. The
// restarted daemon takes the approval and sees the resolution: both runs
// finish, each step once.
func TestSIGKILLMidRunResumesRuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		dir := t.TempDir()
		files := map[string]string{
			"incidentd.yml": "log: {level: info}\nrunbooks:\n  files: [runbooks/*.yml]\n",
			"runbooks/ask.yml": `name: ask
triggers: [{manual: true}]
steps:
  - name: q
    approve: {from: [alice], timeout: 1h}
  - annotate: "approved by {{ .Steps.q.Actor }}"
`,
			"runbooks/until-resolved.yml": `name: until-resolved
triggers: [{manual: true}]
steps:
  - wait: {until: incident_resolved, timeout: 1h, interval: 1h}
  - annotate: "saw the resolution"
`,
		}
		for name, text := range files {
			p := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		config := filepath.Join(dir, "incidentd.yml")
		dsn := storetest.DSN(t, b)
		cmd, url := startDaemonWith(t, config, dsn)

		var list api.RunbookList
		if code := send(t, "GET", url+"/api/v1/runbooks", "", "", &list); code != 200 || len(list.Runbooks) != 2 {
			t.Fatalf("runbooks: %d %+v", code, list)
		}
		postAlerts(t, url, `[{"labels":{"alertname":"A","service":"x"}}]`)
		var ask, wait api.RunDetail
		if code := send(t, "POST", url+"/api/v1/runbooks/ask/runs", "application/json", `{"actor":"bob","incident":"INC-1"}`, &ask); code != 201 {
			t.Fatalf("start ask: %d %+v", code, ask)
		}
		if code := send(t, "POST", url+"/api/v1/runbooks/until-resolved/runs", "application/json", `{"actor":"bob","incident":"INC-1"}`, &wait); code != 201 {
			t.Fatalf("start until-resolved: %d %+v", code, wait)
		}
		waitStatus(t, url, ask.ID, store.RunAwaitingApproval)
		waitStatus(t, url, wait.ID, store.RunWaiting)

		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		_, url = startDaemonWith(t, config, dsn)

		var ans api.AnswerResult
		if code := send(t, "POST", fmt.Sprintf("%s/api/v1/runbooks/runs/%d/approve", url, ask.ID), "application/json", `{"actor":"alice"}`, &ans); code != 200 {
			t.Fatalf("approve after restart: %d %+v", code, ans)
		}
		waitStatus(t, url, ask.ID, store.RunSucceeded)
		if code := send(t, "POST", url+"/api/v1/incidents/INC-1/resolve", "application/json", `{"actor":"carol"}`, nil); code != 200 {
			t.Fatalf("resolve: %d", code)
		}
		waitStatus(t, url, wait.ID, store.RunSucceeded)

		var inc api.IncidentDetail
		send(t, "GET", url+"/api/v1/incidents/INC-1", "", "", &inc)
		var notes []string
		for _, ev := range inc.Timeline {
			if ev.Kind == "incident.note" {
				notes = append(notes, ev.Message)
			}
		}
		if strings.Join(notes, "|") != "approved by alice|saw the resolution" {
			t.Fatalf("notes %q: want each run's note once", notes)
		}
	})
}

// waitStatus polls a run until it has status, for at most 20 seconds.
func waitStatus(t *testing.T, url string, id int64, status store.RunStatus) {
	t.Helper()
	var run api.RunDetail
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if code := send(t, "GET", fmt.Sprintf("%s/api/v1/runbooks/runs/%d", url, id), "", "", &run); code != http.StatusOK {
			t.Fatalf("run %d: HTTP %d", id, code)
		}
		if run.Status == status {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %d is %s (%s), want %s", id, run.Status, run.Error, status)
		}
	}
}
