package faults

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReplicasKill9 runs three replicas on one PostgreSQL database. They
// start together (one migrates, the others wait), take the same alerts at
// the same moment (no incident may be duplicated), and page and run
// runbooks for the incidents; the replica delivering a page of the second
// escalation level is killed with SIGKILL in the middle of it, while the
// runbooks' waits end. Every page and
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
	together := make(chan struct{})
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
			<-together
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
	close(together)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// Once level 1 has paged everywhere, hold the first page of level 2
	// open at the receiver and kill the replica sending it, which holds the
	// lease of that delivery: a survivor must deliver it once the lease
	// expires. The runbooks' steps are due at the same time, wherever.
	poll(t, 30*time.Second, "alice paged for every incident", func() bool { return len(paged(rec, "alice")) >= groups })
	release := rec.holdNextPage("bob")
	defer release()
	if n := len(paged(rec, "bob")); n > 0 {
		t.Fatalf("level 2 paged for %d incidents before the kill: the test would not test the kill", n)
	}
	select {
	case <-rec.held:
	case <-time.After(30 * time.Second):
		t.Fatal("no level 2 page within 30s")
	}
	db := openPG(t, dsn)
	var victim *proc
	poll(t, 10*time.Second, "the replica holding the held delivery's lease", func() bool {
		victim = leaseHolder(t, db, reps)
		return victim != nil
	})
	victim.kill()
	release()
	var survivors []*proc
	for _, p := range reps {
		if p != victim {
			survivors = append(survivors, p)
		}
	}

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

// pageKinds are the timers that deliver pages: a level's step makes the
// first attempt, retries are notify timers.
var pageKinds = []string{"escalation.step", "escalation.notify"}

// leaseHolder returns the replica that holds the claimed timers that
// deliver pages, nil unless exactly one replica holds any. Timer owners name the
// process id (host:pid:random).
func leaseHolder(t *testing.T, db *sql.DB, reps []*proc) *proc {
	t.Helper()
	rows, err := db.Query("SELECT DISTINCT owner FROM timers WHERE kind IN ($1, $2) AND state = 'pending' AND owner <> ''", pageKinds[0], pageKinds[1])
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var owners []string
	for rows.Next() {
		var o string
		if err := rows.Scan(&o); err != nil {
			t.Fatal(err)
		}
		owners = append(owners, o)
	}
	if len(owners) != 1 {
		return nil
	}
	for _, f := range strings.FieldsFunc(owners[0], func(r rune) bool { return r == ':' || r == '/' }) {
		for _, p := range reps {
			if strconv.Itoa(p.cmd.Process.Pid) == f {
				return p
			}
		}
	}
	t.Fatalf("timer owner %q names none of the replicas", owners[0])
	return nil
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
