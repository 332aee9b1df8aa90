package escalation_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

func TestMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		reg := prometheus.NewPedanticRegistry()
		h := newHarness(t, storetest.Open(t, b), slaConfig, escalation.Options{Metrics: escalation.NewMetrics(reg)})
		labels := []string{"alertname", "Down", "service", "web", "team", "shop", "severity", "critical"}
		h.ingest(alert(labels...))
		h.minutes(10)
		h.act(1, incident.ActionAcknowledge, "bob")
		h.minutes(20)
		h.ingest(resolvedAlert(labels...))

		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		// Counters as "name{label=value,...} value"; histograms' sums for P1.
		var counters []string
		sums := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, l.GetName()+"="+l.GetValue())
				}
				if c := m.GetCounter(); c != nil {
					counters = append(counters, fmt.Sprintf("%s{%s} %v", mf.GetName(), strings.Join(ls, ","), c.GetValue()))
				}
				if hg := m.GetHistogram(); hg != nil && hg.GetSampleCount() == 1 && m.GetLabel()[0].GetValue() == "P1" {
					sums[mf.GetName()] = hg.GetSampleSum()
				}
			}
		}
		wantCounters := []string{
			"incidentd_escalation_level_reached_total{level=1,policy=slow} 1",
			"incidentd_escalation_level_reached_total{level=2,policy=slow} 1",
			"incidentd_sla_breaches_total{priority=P1,target=acknowledge} 1",
			"incidentd_sla_warnings_total{priority=P1,target=acknowledge} 1",
			"incidentd_sla_warnings_total{priority=P1,target=resolve} 1",
		}
		if strings.Join(counters, "\n") != strings.Join(wantCounters, "\n") {
			t.Errorf("counters:\n%s\nwant:\n%s", strings.Join(counters, "\n"), strings.Join(wantCounters, "\n"))
		}
		// Acknowledged 10 minutes after paging began, resolved after 30.
		if sums["incidentd_incident_time_to_acknowledge_seconds"] != (10*time.Minute).Seconds() || sums["incidentd_incident_time_to_resolve_seconds"] != (30*time.Minute).Seconds() {
			t.Errorf("histograms: %v", sums)
		}
	})
}
