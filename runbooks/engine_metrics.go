package runbooks

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/incidentd/incidentd/store"
)

type metrics struct {
	runs         *prometheus.CounterVec
	stepDuration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, runs *store.RunbookStore) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentd_runbook_runs_total",
			Help: "Runbook runs that ended, by runbook and result (succeeded, failed, cancelled, timed_out).",
		}, []string{"runbook", "result"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "incidentd_runbook_step_duration_seconds",
			Help: "How long runbook steps took, from their first attempt to their end (waits and approvals included), by runbook, kind and status.",
			// From a quick HTTP check to an approval that waits an hour.
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600},
		}, []string{"runbook", "kind", "status"}),
	}
	reg.MustRegister(m.runs, m.stepDuration, &approvalsCollector{
		runs: runs,
		desc: prometheus.NewDesc("incidentd_runbook_approvals_pending", "Runbook steps awaiting approval, in the store (every replica reports the same).", nil, nil),
	})
	return m
}

// approvalsCollector counts pending approvals at scrape time from the
// store, so that every replica reports the same truth.
type approvalsCollector struct {
	runs *store.RunbookStore
	desc *prometheus.Desc
}

func (c *approvalsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *approvalsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := c.runs.CountSteps(ctx, store.StepAwaitingApproval)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n))
}
