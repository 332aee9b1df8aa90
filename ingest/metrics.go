package ingest

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/incidentd/incidentd/incident"
)

// Metrics instruments ingest.
type Metrics struct {
	received       *prometheus.CounterVec
	deduplicated   prometheus.Counter
	stale          prometheus.Counter
	flaps          prometheus.Counter
	incidents      prometheus.Counter
	unmapped       prometheus.Counter
	merges         prometheus.Counter
	suppressed     prometheus.Counter
	truncated      prometheus.Counter
	rejected       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	commitDuration prometheus.Histogram
	commitErrors   prometheus.Counter
	batchAlerts    prometheus.Histogram
	batchRequests  prometheus.Histogram
}

// NewMetrics registers ingest's metrics with reg. storeErrors is the shared
// incidentd_store_errors_total; ingest counts its failed commits there.
func NewMetrics(reg prometheus.Registerer, storeErrors *prometheus.CounterVec) *Metrics {
	m := &Metrics{
		commitErrors: storeErrors.WithLabelValues("ingest"),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentd_alerts_received_total", Help: "Alert notifications committed, by source and status.",
		}, []string{"source", "status"}),
		deduplicated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "incidentd_alerts_deduplicated_total", Help: "Alert notifications that repeated a known alert and created nothing.",
		}),
		stale: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "incidentd_alerts_stale_total", Help: "Alert notifications older than what is stored (delayed retries), ignored.",
		}),
		flaps: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "incidentd_alerts_flaps_total", Help: "Alerts that fired again within the flap window of resolving.",
		}),
		incidents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "incidentd_incidents_created_total", Help: "Incidents opened.",
		}),
		unmapped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "incidentd_alerts_unmapped_total", Help: "New alerts on no CMDB configuration item, grouped by labels instead.",
		}),
		merges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "incidentd_incidents_merged_total", Help: "Incidents merged into another because an alert connected them.",
		}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "incidentd_alerts_suppressed_total", Help: "New alerts recorded without an incident because their CI was in maintenance.",
		}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "incidentd_alertmanager_truncated_alerts_total", Help: "Alerts Alertmanager dropped from webhooks (its max_alerts setting).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentd_ingest_rejected_requests_total", Help: "Ingest requests answered with an error, by endpoint and HTTP status code.",
		}, []string{"endpoint", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "incidentd_ingest_request_duration_seconds", Help: "Time from request to answer, including the commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"endpoint", "code"}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "incidentd_ingest_commit_duration_seconds", Help: "Time to commit one group-commit batch.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		batchAlerts: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "incidentd_ingest_batch_alerts", Help: "Alerts per group-commit batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 9),
		}),
		batchRequests: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "incidentd_ingest_batch_requests", Help: "Requests per group-commit batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10),
		}),
	}
	reg.MustRegister(m.received, m.deduplicated, m.stale, m.flaps, m.incidents, m.unmapped, m.merges, m.suppressed, m.truncated, m.rejected,
		m.requestSeconds, m.commitDuration, m.batchAlerts, m.batchRequests)
	return m
}

func (m *Metrics) observeStats(batch []*request, st incident.Stats) {
	type key struct{ source, status string }
	counts := map[key]int{}
	for _, r := range batch {
		for i := range r.alerts {
			counts[key{r.endpoint, string(r.alerts[i].Status)}]++
		}
	}
	for k, n := range counts {
		m.received.WithLabelValues(k.source, k.status).Add(float64(n))
	}
	m.deduplicated.Add(float64(st.Repeats))
	m.stale.Add(float64(st.Stale))
	m.flaps.Add(float64(st.Flaps))
	m.incidents.Add(float64(st.IncidentsCreated))
	m.unmapped.Add(float64(st.Unmapped))
	m.merges.Add(float64(st.Merges))
	m.suppressed.Add(float64(st.Suppressed))
}
