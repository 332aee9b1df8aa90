package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store/storetest"
)

// amPayload is an Alertmanager webhook with n alerts; round varies the
// labels so that each round is new alerts (or, fixed, repeats).
func amPayload(n, round int) []byte {
	msg := alertmanagerMessage{Data: &template.Data{Status: "firing", Receiver: "incidentd"}, Version: "4"}
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	for i := 0; i < n; i++ {
		l := template.KV{"alertname": "Bench", "service": fmt.Sprintf("svc-%d", i%50), "instance": fmt.Sprintf("host-%d-%d", round, i), "severity": "warning"}
		msg.Alerts = append(msg.Alerts, template.Alert{Status: "firing", Labels: l, Annotations: template.KV{"summary": "bench"}, StartsAt: start, Fingerprint: incident.Fingerprint(l)})
	}
	b, _ := json.Marshal(msg)
	return b
}

// BenchmarkIngest measures decode -> dedup -> commit of Alertmanager
// webhooks of 1000 alerts, one transaction each: "new" alerts every round
// (an alert storm) and "repeat" (Alertmanager re-sending a group).
func BenchmarkIngest(b *testing.B) {
	for _, backend := range storetest.Backends() {
		for _, mode := range []string{"new", "repeat"} {
			b.Run(string(backend)+"/"+mode, func(b *testing.B) {
				s := storetest.Open(b, backend)
				p := incident.DefaultPolicy()
				const n = 1000
				payloads := make([][]byte, 64)
				for i := range payloads {
					round := i
					if mode == "repeat" {
						round = 0
					}
					payloads[i] = amPayload(n, round)
				}
				if mode == "repeat" { // the first sight of the alerts is not a repeat
					alerts, _, _ := DecodeAlertmanager(payloads[0])
					s.Ingest(context.Background(), &p, alerts, time.Now())
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					body := payloads[i%len(payloads)]
					if mode == "new" && i >= len(payloads) {
						b.StopTimer()
						body = amPayload(n, i)
						b.StartTimer()
					}
					alerts, _, err := DecodeAlertmanager(body)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := s.Ingest(context.Background(), &p, alerts, time.Now()); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "alerts/s")
			})
		}
	}
}

// BenchmarkHTTPIngestParallel measures the whole HTTP path with many
// concurrent senders sharing group commits: each sender re-sends its own
// group of 100 alerts, as Alertmanager does for its groups.
func BenchmarkHTTPIngestParallel(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(string(backend), func(b *testing.B) {
			s := storetest.Open(b, backend)
			p := incident.DefaultPolicy()
			var policy atomic.Pointer[incident.Policy]
			policy.Store(&p)
			c := NewCommitter(s, &policy, CommitterOptions{})
			defer c.Close()
			h := NewHandler(c, HandlerOptions{})
			mux := http.NewServeMux()
			h.Register(mux)
			srv := &http.Server{Handler: mux}
			ln := listen(b)
			go srv.Serve(ln)
			defer srv.Close()
			url := "http://" + ln.Addr().String() + "/api/v1/alerts/alertmanager"
			const n = 100
			var sender atomic.Int32
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				body := amPayload(n, int(sender.Add(1)))
				for pb.Next() {
					resp, err := client.Post(url, "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != 200 {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "alerts/s")
		})
	}
}

func listen(b *testing.B) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return ln
}
