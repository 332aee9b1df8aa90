package daemon

import (
	"context"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/incidentd/incidentd/correlate"
	"github.com/incidentd/incidentd/store"
)

// registerCMDBMetrics reports the size and version of the CMDB in use.
func registerCMDBMetrics(reg prometheus.Registerer, c *correlate.CMDB) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "incidentd_cmdb_cis", Help: "Configuration items in the CMDB in use."},
			func() float64 { return float64(c.Graph().Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "incidentd_cmdb_relations", Help: "Relations in the CMDB in use."},
			func() float64 { return float64(len(c.Graph().Document().Relations)) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "incidentd_cmdb_version", Help: "Version of the CMDB in use; it increases with every change."},
			func() float64 { return float64(c.Meta().Version) }),
	)
}

// newRegistry returns a registry with the process and Go collectors, build
// info and the store error counter every component shares.
func newRegistry(version string) (*prometheus.Registry, *prometheus.CounterVec) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "incidentd_build_info", Help: "A metric with a constant 1 labelled by version and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	info.Set(1)
	storeErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "incidentd_store_errors_total", Help: "Store operations that failed, by operation.",
	}, []string{"operation"})
	reg.MustRegister(info, storeErrors)
	return reg, storeErrors
}

// openIncidentsCollector reports open incidents by status and priority from
// the store at scrape time, so every replica reports the same truth.
type openIncidentsCollector struct {
	store  *store.Store
	desc   *prometheus.Desc
	errors prometheus.Counter
}

func newOpenIncidentsCollector(s *store.Store, storeErrors *prometheus.CounterVec) *openIncidentsCollector {
	return &openIncidentsCollector{
		store:  s,
		desc:   prometheus.NewDesc("incidentd_incidents_open", "Open incidents by status and priority.", []string{"status", "priority"}, nil),
		errors: storeErrors.WithLabelValues("metrics"),
	}
}

func (c *openIncidentsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *openIncidentsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.store.OpenIncidentCounts(ctx)
	if err != nil {
		c.errors.Inc()
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n.Count), n.Status, "P"+strconv.Itoa(n.Priority))
	}
}
