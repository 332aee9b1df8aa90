package ingest

import (
	"encoding/json"

	"github.com/prometheus/alertmanager/template"

	"github.com/incidentd/incidentd/incident"
)

// grafanaMessage is Grafana unified alerting's webhook payload (version
// "1"): Alertmanager's, plus per-alert links and values. Fields Grafana may
// add later are ignored.
type grafanaMessage struct {
	Version         string         `json:"version"`
	Receiver        string         `json:"receiver"`
	Status          string         `json:"status"`
	Alerts          []grafanaAlert `json:"alerts"`
	TruncatedAlerts uint64         `json:"truncatedAlerts"`
}

type grafanaAlert struct {
	template.Alert
	SilenceURL   string `json:"silenceURL"`
	DashboardURL string `json:"dashboardURL"`
	PanelURL     string `json:"panelURL"`
	// Values holds each query's value; ValueString says the same in text,
	// with labels, and is what is kept.
	Values      map[string]json.RawMessage `json:"values"`
	ValueString string                     `json:"valueString"`
}

// grafanaLinks are the per-alert fields kept as annotations, unless the
// rule sets an annotation of that name itself.
var grafanaLinks = []struct {
	annotation string
	value      func(*grafanaAlert) string
}{
	{"silence_url", func(a *grafanaAlert) string { return a.SilenceURL }},
	{"dashboard_url", func(a *grafanaAlert) string { return a.DashboardURL }},
	{"panel_url", func(a *grafanaAlert) string { return a.PanelURL }},
	{"values", func(a *grafanaAlert) string { return a.ValueString }},
}

// DecodeGrafana decodes and validates a Grafana alerting webhook body.
// Alerts keep Grafana's fingerprint, so that its repeats and resolutions
// find them. truncated is the number of alerts Grafana dropped.
func DecodeGrafana(body []byte) (alerts []incident.AlertInput, truncated uint64, err error) {
	if err := checkUTF8(body); err != nil {
		return nil, 0, err
	}
	var msg grafanaMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, 0, jsonError(err)
	}
	if err := checkWebhook("Grafana's", msg.Version, "1", len(msg.Alerts)); err != nil {
		return nil, 0, err
	}
	alerts = make([]incident.AlertInput, len(msg.Alerts))
	for i := range msg.Alerts {
		a := &msg.Alerts[i]
		alerts[i], err = webhookAlert(&a.Alert, TypeGrafana, i, func(in *incident.AlertInput) {
			for _, l := range grafanaLinks {
				if v := l.value(a); v != "" {
					if in.Annotations == nil {
						in.Annotations = map[string]string{}
					}
					if _, set := in.Annotations[l.annotation]; !set {
						in.Annotations[l.annotation] = v
					}
				}
			}
		})
		if err != nil {
			return nil, 0, err
		}
	}
	return alerts, msg.TruncatedAlerts, nil
}
