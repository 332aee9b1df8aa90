package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

// TestRunAgainstDaemon sends a small bounded load in both of incidentd's
// formats to a real daemon and checks the report and that every alert
// answered 2xx is in the store.
func TestRunAgainstDaemon(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		url, _ := daemontest.Start(t, fmt.Sprintf("storage:\n  dsn: %q\nlog:\n  level: error\n", storetest.DSN(t, b)))
		for i, format := range []Format{Alertmanager, Generic} {
			var mu sync.Mutex
			acked := map[string]bool{}
			o := Options{
				Target: url, Format: format, Senders: 3, Batch: 100, Total: 3000, Duration: time.Minute,
				Rate: 6000, Distinct: 2000, Repeat: 0.2, Resolve: 0.1, Seed: uint64(i + 1),
				ProbeInterval: 50 * time.Millisecond,
				OnResponse: func(fps []string, code int) {
					if code != 200 {
						return
					}
					mu.Lock()
					defer mu.Unlock()
					for _, fp := range fps {
						acked[fp] = true
					}
				},
			}
			rep, err := Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if rep.AlertsSent != 3000 || rep.AlertsAccepted != 3000 || rep.Requests != 30 || rep.Codes["200"] != 30 || rep.Latency.N != 30 {
				t.Fatalf("%s: report %+v: want 3000 alerts accepted in 30 requests", format, rep)
			}
			// 3000 alerts at 6000/s take half a second: several probes.
			if rep.Seconds < 0.4 || rep.Delay.N < 1 || rep.ProbesLost != 0 || rep.AlertsPerSecond > 8000 {
				t.Fatalf("%s: pacing or probes: %+v", format, rep)
			}
			stored := listFingerprints(t, url)
			missing := 0
			for fp := range acked {
				if !stored[fp] {
					missing++
				}
			}
			if len(acked) < 1500 || missing > 0 {
				t.Fatalf("%s: %d of %d acknowledged alerts not in the store", format, missing, len(acked))
			}
		}
	})
}

// listFingerprints pages through GET /api/v1/alerts.
func listFingerprints(t *testing.T, url string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	cursor := ""
	for {
		resp, err := http.Get(url + "/api/v1/alerts?limit=500&cursor=" + cursor)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Alerts []struct {
				Fingerprint string `json:"fingerprint"`
			} `json:"alerts"`
			NextCursor string `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("list alerts: %d %v", resp.StatusCode, err)
		}
		for _, a := range page.Alerts {
			out[a.Fingerprint] = true
		}
		if page.NextCursor == "" {
			return out
		}
		cursor = page.NextCursor
	}
}
