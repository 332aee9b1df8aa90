// Package loadgen generates alert traffic for incidentd (and, for the
// side-by-side, Alertmanager): realistic label sets from a bounded pool,
// re-sends and resolutions in set ratios, encoded in the receivers' formats.
// cmd/incidentd-loadgen is its command line; the fault tests reuse it.
package loadgen

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/incidentd/incidentd/incident"
)

// Format is the wire format of the requests.
type Format string

// Formats.
const (
	// Alertmanager is its webhook (version "4") to /api/v1/alerts/alertmanager.
	Alertmanager Format = "alertmanager"
	// Generic is incidentd's JSON list to /api/v1/alerts.
	Generic Format = "generic"
	// AMv2 is Alertmanager's own API: POST /api/v2/alerts, a list of
	// postable alerts.
	AMv2 Format = "am-api-v2"
)

// Path is the request path of the format.
func (f Format) Path() string {
	switch f {
	case Alertmanager:
		return "/api/v1/alerts/alertmanager"
	case AMv2:
		return "/api/v2/alerts"
	}
	return "/api/v1/alerts"
}

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Alertmanager, Generic, AMv2:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want alertmanager, generic or am-api-v2", s)
}

// Vocabulary of the label sets: what a Prometheus setup of a few teams fires.
var (
	alertnames = []string{"HighCPU", "HighMemory", "DiskFull", "InstanceDown", "HighLatency",
		"HighErrorRate", "PodCrashLooping", "TargetDown", "CertificateExpiry", "QueueBacklog", "ReplicationLag"}
	services   = []string{"checkout-api", "search-api", "payments-db", "cart", "catalog", "auth", "gateway", "inventory", "mailer", "billing", "ledger", "images", "recommendations"}
	namespaces = []string{"shop", "search", "data", "platform", "identity"}
	severities = []string{"critical", "warning", "warning", "info"}
	clusters   = []string{"eu-west-1", "eu-central-1", "us-east-1"}
)

// Labels returns label set i of the pool: distinct for every i below 2^24
// (the instance address encodes i), the other labels spread over realistic
// values. ci, when not empty, is added as the ci label (storm mode).
func Labels(i int, ci string) map[string]string {
	svc := services[(i/len(alertnames))%len(services)]
	l := map[string]string{
		"alertname": alertnames[i%len(alertnames)],
		"service":   svc,
		"job":       svc,
		"namespace": namespaces[(i/7)%len(namespaces)],
		"severity":  severities[(i/3)%len(severities)],
		"cluster":   clusters[(i/11)%len(clusters)],
		"instance":  fmt.Sprintf("10.%d.%d.%d:9100", i>>16&255, i>>8&255, i&255),
	}
	if ci != "" {
		l["ci"] = ci
	}
	return l
}

// Item is one alert to send: label set Index of the pool, firing or resolved.
type Item struct {
	Index    int
	Resolved bool
}

// Plan decides the order of the alerts. A fresh plan sends new label sets in
// pool order; with probability repeat an alert is instead a re-send of one
// already sent (Alertmanager re-sends what still fires at every
// repeat/group interval). Once the pool is used up, it starts over, so
// total = 2*distinct with repeat 0 sends every set once new, then once again.
// With probability resolve an alert is sent resolved.
type Plan struct {
	Distinct        int
	Repeat, Resolve float64
	rng             *rand.Rand
	next            int // next new index, not wrapped
}

// NewPlan returns a plan seeded with seed: the same seed gives the same
// alerts, so that two targets get the same traffic.
func NewPlan(distinct int, repeat, resolve float64, seed uint64) *Plan {
	if distinct < 1 {
		distinct = 1
	}
	return &Plan{Distinct: distinct, Repeat: repeat, Resolve: resolve, rng: rand.New(rand.NewPCG(seed, 0x10ad))}
}

// Next returns the next alert of the plan.
func (p *Plan) Next() Item {
	var it Item
	if sent := min(p.next, p.Distinct); sent > 0 && p.rng.Float64() < p.Repeat {
		it.Index = p.rng.IntN(sent)
	} else {
		it.Index = p.next % p.Distinct
		p.next++
	}
	it.Resolved = p.Resolve > 0 && p.rng.Float64() < p.Resolve
	return it
}

// Alert is one alert ready to encode, with the fingerprint incidentd files
// it under.
type Alert struct {
	Labels      map[string]string
	Fingerprint string
	Resolved    bool
}

// NewAlert builds the alert of item it; cis, when not empty, are the storm's
// CIs, spread over the pool.
func NewAlert(it Item, cis []string) Alert {
	ci := ""
	if len(cis) > 0 {
		ci = cis[it.Index%len(cis)]
	}
	l := Labels(it.Index, ci)
	return Alert{Labels: l, Fingerprint: incident.Fingerprint(l), Resolved: it.Resolved}
}

// The three wire shapes. Only the fields the receivers read are sent, as a
// real sender fills them.
type (
	amAlert struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	}
	amWebhook struct {
		Version           string            `json:"version"`
		GroupKey          string            `json:"groupKey"`
		TruncatedAlerts   int               `json:"truncatedAlerts"`
		Status            string            `json:"status"`
		Receiver          string            `json:"receiver"`
		GroupLabels       map[string]string `json:"groupLabels"`
		CommonLabels      map[string]string `json:"commonLabels"`
		CommonAnnotations map[string]string `json:"commonAnnotations"`
		ExternalURL       string            `json:"externalURL"`
		Alerts            []amAlert         `json:"alerts"`
	}
	genericAlert struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     string            `json:"starts_at"`
		EndsAt       string            `json:"ends_at,omitempty"`
		GeneratorURL string            `json:"generator_url"`
	}
	postableAlert struct {
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       *time.Time        `json:"endsAt,omitempty"`
		GeneratorURL string            `json:"generatorURL"`
	}
)

func annotations(l map[string]string) map[string]string {
	return map[string]string{
		"summary":     l["alertname"] + " on " + l["instance"],
		"description": l["service"] + " in " + l["namespace"] + " (" + l["cluster"] + ") is " + l["severity"] + ": see the runbook.",
	}
}

// Encode returns the request body of a batch in format f. startsAt is the
// alerts' start; a resolved alert ends at now.
func Encode(f Format, batch []Alert, startsAt, now time.Time) []byte {
	var v any
	status := func(a Alert) string {
		if a.Resolved {
			return string(incident.AlertResolved)
		}
		return string(incident.AlertFiring)
	}
	gen := func(a Alert) string {
		return "http://prometheus.example:9090/graph?g0.expr=" + a.Labels["alertname"]
	}
	switch f {
	case Alertmanager:
		m := amWebhook{Version: "4", Status: "firing", Receiver: "incidentd", GroupLabels: map[string]string{},
			CommonLabels: map[string]string{}, CommonAnnotations: map[string]string{},
			ExternalURL: "http://alertmanager.example:9093", GroupKey: "{}:{}", Alerts: make([]amAlert, len(batch))}
		for i, a := range batch {
			x := amAlert{Status: status(a), Labels: a.Labels, Annotations: annotations(a.Labels), StartsAt: startsAt, GeneratorURL: gen(a), Fingerprint: a.Fingerprint}
			if a.Resolved {
				x.EndsAt = now
			}
			m.Alerts[i] = x
		}
		v = m
	case AMv2:
		list := make([]postableAlert, len(batch))
		for i, a := range batch {
			list[i] = postableAlert{Labels: a.Labels, Annotations: annotations(a.Labels), StartsAt: startsAt, GeneratorURL: gen(a)}
			if a.Resolved {
				end := now
				list[i].EndsAt = &end
			}
		}
		v = list
	default:
		list := make([]genericAlert, len(batch))
		for i, a := range batch {
			list[i] = genericAlert{Status: status(a), Labels: a.Labels, Annotations: annotations(a.Labels), StartsAt: startsAt.Format(time.RFC3339Nano), GeneratorURL: gen(a)}
			if a.Resolved {
				list[i].EndsAt = now.Format(time.RFC3339Nano)
			}
		}
		v = list
	}
	body, err := json.Marshal(v)
	if err != nil {
		panic("loadgen: encoding plain structs: " + err.Error()) // cannot happen
	}
	return body
}
