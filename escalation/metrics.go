package escalation

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the engine's Prometheus metrics. Create them once per
// process; they survive config reloads. Notification deliveries are
// counted by package notify (notify.NewMetrics).
type Metrics struct {
	timeToAck     *prometheus.HistogramVec
	timeToResolve *prometheus.HistogramVec
	slaWarnings   *prometheus.CounterVec
	slaBreaches   *prometheus.CounterVec
	levelReached  *prometheus.CounterVec
}

// NewMetrics registers the engine's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	buckets := []float64{30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200}
	m := &Metrics{
		timeToAck: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "incidentd_incident_time_to_acknowledge_seconds", Help: "Time from the start of paging to the acknowledgement, by priority.", Buckets: buckets,
		}, []string{"priority"}),
		timeToResolve: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "incidentd_incident_time_to_resolve_seconds", Help: "Time from an incident's creation to its resolution, by priority.", Buckets: buckets,
		}, []string{"priority"}),
		slaWarnings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentd_sla_warnings_total", Help: "SLA warnings (warn_at fractions crossed), by target (acknowledge, resolve) and priority.",
		}, []string{"target", "priority"}),
		slaBreaches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentd_sla_breaches_total", Help: "SLA breaches, by target (acknowledge, resolve) and priority.",
		}, []string{"target", "priority"}),
		levelReached: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentd_escalation_level_reached_total", Help: "Escalations that reached a level (1 = first) of a policy, counted once per escalation and level.",
		}, []string{"policy", "level"}),
	}
	reg.MustRegister(m.timeToAck, m.timeToResolve, m.slaWarnings, m.slaBreaches, m.levelReached)
	return m
}
