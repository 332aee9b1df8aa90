package notify

import "github.com/prometheus/client_golang/prometheus"

// Metrics counts deliveries by notifier. The daemon creates it once and
// passes it to every New, so counts survive config reloads.
type Metrics struct {
	sent   *prometheus.CounterVec
	failed *prometheus.CounterVec
}

// NewMetrics registers the notification metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentd_notifications_sent_total", Help: "Notifications delivered, by notifier and type.",
		}, []string{"notifier", "type"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentd_notifications_failed_total", Help: "Notification attempts that failed, by notifier, type and whether a retry can help (reason: permanent|retryable).",
		}, []string{"notifier", "type", "reason"}),
	}
	reg.MustRegister(m.sent, m.failed)
	return m
}

func (m *Metrics) observe(name, typ string, err error) {
	if m == nil {
		return
	}
	switch {
	case err == nil:
		m.sent.WithLabelValues(name, typ).Inc()
	case IsPermanent(err):
		m.failed.WithLabelValues(name, typ, "permanent").Inc()
	default:
		m.failed.WithLabelValues(name, typ, "retryable").Inc()
	}
}
