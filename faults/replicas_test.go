package faults

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReplicasKill9 runs three replicas on one PostgreSQL database. They
// start together (one migrates, the others wait), take the same alerts at
// the same moment (no incident may be duplicated), and page and run
// runbooks for the incidents; one is killed with SIGKILL while the second
// escalation level and the runbooks' waits are pending. Every page and
// runbook step must still happen, on the survivors, and none twice beyond
// at-least-once: a delivery may repeat with its id, but no page or run is
// made twice under distinct ids.
func TestReplicasKill9(t *testing.T) {
	dsn, _ := pgDatabase(t)
	rec := newReceiver(t)
	defer rec.logIfFailed(t)
	config := writeConfig(t, rec, 5*time.Second, 5*time.Second)
	var reps []*proc
	for i := 0; i < 3; i++ {
		reps = append(reps, spawn(t, fmt.Sprintf("replica %d", i), config, dsn))
	}
	for _, p := range reps {
		p.ready(t)
	}

	// Each replica gets, at the same moment, one alert every replica gets
	// and one of its own, in each of the groups: one incident per group.
	const groups = 6
	release := make(chan struct{})
	errs := make(chan error, len(reps))
	var wg sync.WaitGroup
	for r, p := range reps {
		var alerts []string
		for g := 0; g < groups; g++ {
			for _, inst := range []string{"shared", fmt.Sprint("own-", r)} {
				alerts = append(alerts, fmt.Sprintf(`{"labels":{"alertname":"Timer","service":"rep-%d","instance":"%s"}}`, g, inst))
			}
		}
		body := "[" + strings.Join(alerts, ",") + "]"
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-release
			resp, err := client.Post(p.url+"/api/v1/alerts", "application/json", strings.NewReader(body))
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != 200 {
					err = fmt.Errorf("%s answered %d", p.name, resp.StatusCode)
				}
			}
			errs <- err
		}()
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// Kill a replica once level 1 has paged everywhere: level 2 and the
	// runbooks' http steps are due five seconds after it.
	poll(t, 30*time.Second, "alice paged for every incident", func() bool { return len(paged(rec, "alice")) >= groups })
	if n := len(paged(rec, "bob")); n == groups {
		t.Fatalf("level 2 paged for all %d incidents before the kill: the test would not test the kill", n)
	}
	reps[0].kill()
	survivors := reps[1:]

	// Leases of the dead replica expire (timers: 30s), then the survivors
	// finish its work.
	var incidents []string
	poll(t, 90*time.Second, "bob paged and the runbook's request made for every incident", func() bool {
		incidents = openIncidents(t, survivors[0].url)
		_, hits := rec.snapshot()
		runs := map[string]bool{}
		for _, h := range hits {
			runs[h.Incident] = true
		}
		bob := paged(rec, "bob")
		for _, inc := range incidents {
			if !bob[inc] || !runs[inc] {
				return false
			}
		}
		return len(incidents) > 0
	})
	if len(incidents) != groups {
		t.Errorf("%d incidents %v for %d groups sent to three replicas at once: want one per group", len(incidents), incidents, groups)
	}
	checkOnce(t, rec)
}

// openIncidents lists the keys of the incidents the API shows.
func openIncidents(t *testing.T, url string) []string {
	t.Helper()
	var list struct {
		Incidents []struct {
			Key string `json:"key"`
		} `json:"incidents"`
	}
	getJSON(t, url+"/api/v1/incidents?limit=500", &list)
	var keys []string
	for _, i := range list.Incidents {
		keys = append(keys, i.Key)
	}
	return keys
}
