package ingest

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/strictyaml"
)

// parseIntegrations reads an integrations: section as the config does.
func parseIntegrations(t testing.TB, file string, data []byte) (Integrations, error) {
	t.Helper()
	var doc struct {
		Integrations Integrations `yaml:"integrations"`
	}
	d, err := strictyaml.Parse(file, data, &doc)
	if err != nil {
		return nil, err
	}
	doc.Integrations.Validate(d, "integrations")
	return doc.Integrations, d.Err(file)
}

func TestIntegrationsConfigErrorsNameLineAndKey(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"ok", "integrations:\n  - {name: am, type: alertmanager, secret: '${secret:am}', rate_limit: {per_second: 5}}\n", ""},
		{"unknown type", "integrations:\n  - {name: x, type: nagios}\n", "2: integrations[0].type: \"nagios\" is not one of"},
		{"bad name", "integrations:\n  - {name: 'a/b', type: generic}\n", "integrations[0].name: \"a/b\""},
		{"duplicate name", "integrations:\n  - {name: a, type: generic}\n  - {name: a, type: grafana}\n", "3: integrations[1].name: \"a\" used twice"},
		{"literal secret", "integrations:\n  - {name: a, type: generic, secret: hunter2}\n", "integrations[0].secret: write the value as ${secret:NAME}"},
		{"secret and hmac", "integrations:\n  - {name: a, type: generic, secret: '${secret:x}', hmac: {header: X-Sig, secret: '${secret:y}'}}\n", "set secret or hmac, not both"},
		{"hmac bad header", "integrations:\n  - {name: a, type: generic, hmac: {header: 'X Sig', secret: '${secret:y}'}}\n", "integrations[0].hmac.header: \"X Sig\" is not an HTTP header name"},
		{"hmac bad encoding", "integrations:\n  - {name: a, type: generic, hmac: {header: X-Sig, secret: '${secret:y}', encoding: rot13}}\n", "hmac.encoding"},
		{"zero rate", "integrations:\n  - {name: a, type: generic, rate_limit: {per_second: 0}}\n", "rate_limit.per_second: must be positive"},
		{"pagerduty without key", "integrations:\n  - {name: pd, type: pagerduty}\n", "routing_key is required"},
		{"pagerduty with secret", "integrations:\n  - {name: pd, type: pagerduty, routing_key: '${secret:k}', secret: '${secret:x}'}\n", "authenticated by its routing_key"},
		{"routing key on grafana", "integrations:\n  - {name: g, type: grafana, routing_key: '${secret:k}'}\n", "integrations[0].routing_key: only for integrations of type pagerduty"},
		{"mapping missing", "integrations:\n  - {name: m, type: mapping}\n", "mapping is required"},
		{"mapping bad template", "integrations:\n  - name: m\n    type: mapping\n    mapping: {labels: {alertname: '{{ .x '}}\n", "integrations[0].mapping: labels.alertname:"},
		{"mapping bad status map", "integrations:\n  - name: m\n    type: mapping\n    mapping: {labels: {a: x}, status_map: {OK: fine}}\n", "status_map: \"OK\" maps to \"fine\""},
		{"mapping no labels", "integrations:\n  - name: m\n    type: mapping\n    mapping: {summary: x}\n", "mapping.labels: at least one label"},
		{"heartbeat short interval", "integrations:\n  - {name: hb, type: heartbeat, interval: 0s}\n", "interval: must be at least 1s"},
		{"heartbeat reserved label", "integrations:\n  - {name: hb, type: heartbeat, interval: 1m, labels: {alertname: X}}\n", "set by incidentd"},
		{"interval on generic", "integrations:\n  - {name: g, type: generic, interval: 1m}\n", "interval: only for integrations of type heartbeat"},
		{"unknown key", "integrations:\n  - {name: g, type: generic, token: x}\n", "integrations[0].token: unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseIntegrations(t, "incidentd.yml", []byte(tt.yaml))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "incidentd.yml:") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestMappingExamples loads each shipped example of configs/integrations
// and maps its recorded payload.
func TestMappingExamples(t *testing.T) {
	tests := []struct {
		config, payload string
		want            incident.AlertInput
	}{
		{"zabbix.yml", "zabbix-problem.json", incident.AlertInput{
			Fingerprint: dedupFingerprint("zabbix", "48213"), Source: "zabbix", Status: incident.AlertFiring,
			Labels: map[string]string{"alertname": "High CPU utilization (over 90% for 5m)", "host": "web-1", "severity": "high"},
			Annotations: map[string]string{
				"summary": "High CPU utilization (over 90% for 5m) on web-1", "host_ip": "10.0.0.11", "value": "93.4 %",
			},
			StartsAt:     at("2026-11-21T10:05:12Z"),
			GeneratorURL: "https://zabbix.example.com/tr_events.php?triggerid=23456&eventid=48213",
		}},
		{"zabbix.yml", "zabbix-resolved.json", incident.AlertInput{
			Fingerprint: dedupFingerprint("zabbix", "48213"), Source: "zabbix", Status: incident.AlertResolved,
			Labels: map[string]string{"alertname": "High CPU utilization (over 90% for 5m)", "host": "web-1", "severity": "high"},
			Annotations: map[string]string{
				"summary": "High CPU utilization (over 90% for 5m) on web-1", "host_ip": "10.0.0.11", "value": "41.2 %",
			},
			StartsAt: at("2026-11-21T10:05:12Z"),
		}},
		{"datadog.yml", "datadog-triggered.json", incident.AlertInput{
			Fingerprint: dedupFingerprint("datadog", "8c2c1d4b6b1c4e2f"), Source: "datadog", Status: incident.AlertFiring,
			Labels:       map[string]string{"alertname": "CPU usage is high", "host": "web-1", "priority": "p2", "monitor_id": "123456789"},
			Annotations:  map[string]string{"summary": "[Triggered on {host:web-1}] CPU usage is high on web-1", "tags": "env:prod,service:checkout,team:payments"},
			StartsAt:     at("2026-11-21T10:05:12Z"),
			GeneratorURL: "https://app.datadoghq.com/event/event?id=7270923641929486347",
		}},
		{"sentry.yml", "sentry-event-alert.json", incident.AlertInput{
			Fingerprint: dedupFingerprint("sentry", "4151983215"), Source: "sentry", Status: incident.AlertFiring,
			Labels: map[string]string{
				"alertname": "Page on checkout errors", "environment": "production", "level": "error", "culprit": "app.views.checkout in submit_order",
			},
			Annotations:  map[string]string{"summary": "ZeroDivisionError: division by zero"},
			StartsAt:     at("2026-11-21T10:05:12.123Z"),
			GeneratorURL: "https://sentry.example.com/organizations/example/issues/4151983215/events/1f0d3b2cf4f54d8c9a0e7b12d9a1a6b1/",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.payload, func(t *testing.T) {
			file := filepath.Join("..", "configs", "integrations", tt.config)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			list, err := parseIntegrations(t, file, data)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].Type != TypeMapping {
				t.Fatalf("%s: want one mapping integration, got %+v", file, list)
			}
			m, err := list[0].Mapping.compile(list[0].Name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.decode(readTestdata(t, tt.payload))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || !reflect.DeepEqual(got[0], tt.want) {
				t.Fatalf("mapped\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestMappingRejectsWhatItCannotMap(t *testing.T) {
	m := &Mapping{
		Alerts:    "Records",
		Labels:    map[string]string{"alertname": "{{ .name }}"},
		Status:    "{{ .state }}",
		StatusMap: map[string]string{"ALARM": "firing", "OK": "resolved"},
		StartsAt:  `{{ index . "at" | default "" }}`,
	}
	c, err := m.compile("cw")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, body, field, msg string
	}{
		{"path missing", `{"records":[]}`, "Records", "missing"},
		{"path not a list", `{"Records":"x"}`, "Records", "want an alert object or a list"},
		{"empty list", `{"Records":[]}`, "Records", "no alerts"},
		{"item not an object", `{"Records":[1]}`, "Records[0]", "want an object"},
		{"key missing in template", `{"Records":[{"state":"OK"}]}`, "Records[0].labels.alertname", "map has no entry for key \"name\""},
		{"status not in map", `{"Records":[{"name":"a","state":"INSUFFICIENT_DATA"}]}`, "Records[0].status", "not in the integration's status_map"},
		{"bad time", `{"Records":[{"name":"a","state":"OK","at":"noon"}]}`, "Records[0].starts_at", "RFC 3339"},
		{"renders no label", `{"Records":[{"name":"","state":"OK"}]}`, "Records[0].labels", "at least one label"},
		{"trailing data", `{"Records":[]} {}`, "", "after the JSON value"},
		{"not utf-8", "{\"Records\":[{\"name\":\"\xff\"}]}", "", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.decode([]byte(tt.body))
			var bad *BadRequest
			if !errors.As(err, &bad) {
				t.Fatalf("error %v, want a *BadRequest", err)
			}
			if bad.Field != tt.field || !strings.Contains(bad.Msg, tt.msg) {
				t.Fatalf("error field %q msg %q, want field %q containing %q", bad.Field, bad.Msg, tt.field, tt.msg)
			}
		})
	}
	// A case-insensitive status match, and a list of several alerts.
	got, err := c.decode([]byte(`{"Records":[{"name":"a","state":"alarm","at":"1795255512"},{"name":"b","state":"OK"}]}`))
	if err != nil || len(got) != 2 || got[0].Status != incident.AlertFiring || got[1].Status != incident.AlertResolved || !got[0].StartsAt.Equal(at("2026-11-21T10:05:12Z")) {
		t.Fatalf("decoded %+v, %v", got, err)
	}
}

func TestDecodeGrafanaRecorded(t *testing.T) {
	got, truncated, err := DecodeGrafana(readTestdata(t, "grafana-firing.json"))
	if err != nil || truncated != 0 {
		t.Fatal(err, truncated)
	}
	want := []incident.AlertInput{{
		Fingerprint: "57c6d9296de2ad39", Source: "grafana", Status: incident.AlertFiring,
		Labels: map[string]string{"alertname": "HighCPU", "grafana_folder": "Infrastructure", "instance": "web-1:9100", "service": "checkout", "severity": "critical"},
		Annotations: map[string]string{
			"summary":       "CPU above 90% on web-1:9100",
			"runbook_url":   "https://wiki.example.com/runbooks/high-cpu",
			"silence_url":   "https://grafana.example.com/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DHighCPU&matcher=instance%3Dweb-1%3A9100&orgId=1",
			"dashboard_url": "https://grafana.example.com/d/node-exporter?orgId=1",
			"panel_url":     "https://grafana.example.com/d/node-exporter?orgId=1&viewPanel=3",
			"values":        "[ var='B' labels={instance=web-1:9100} value=93.1 ], [ var='C' labels={instance=web-1:9100} value=1 ]",
		},
		StartsAt: at("2026-11-21T10:02:00Z"), EndsAt: time.Time{}.UTC(),
		GeneratorURL: "https://grafana.example.com/alerting/grafana/cdx1k9/view?orgId=1",
	}, {
		Fingerprint: "c6eadffa33fcdf37", Source: "grafana", Status: incident.AlertResolved,
		Labels: map[string]string{"alertname": "DiskFull", "grafana_folder": "Infrastructure", "instance": "db-1:9100", "severity": "warning"},
		Annotations: map[string]string{
			"summary":     "Disk /var above 95% on db-1:9100",
			"silence_url": "https://grafana.example.com/alerting/silence/new?alertmanager=grafana&matcher=alertname%3DDiskFull&orgId=1",
		},
		StartsAt: at("2026-11-21T09:40:00Z"), EndsAt: at("2026-11-21T10:01:00Z"),
		GeneratorURL: "https://grafana.example.com/alerting/grafana/ab7t2q/view?orgId=1",
	}}
	if len(got) != len(want) {
		t.Fatalf("got %d alerts", len(got))
	}
	for i := range want {
		got[i].StartsAt, got[i].EndsAt = got[i].StartsAt.UTC(), got[i].EndsAt.UTC()
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("alert %d:\n%+v\nwant\n%+v", i, got[i], want[i])
		}
	}
	for _, tt := range []struct{ name, body, field string }{
		{"wrong version", `{"version":"4","alerts":[]}`, "version"},
		{"no version", `{"alerts":[]}`, "version"},
		{"no alerts", `{"version":"1","alerts":[]}`, "alerts"},
		{"bad fingerprint", `{"version":"1","alerts":[{"status":"firing","labels":{"a":"b"},"fingerprint":"a b"}]}`, "alerts[0].fingerprint"},
	} {
		_, _, err := DecodeGrafana([]byte(tt.body))
		var bad *BadRequest
		if !errors.As(err, &bad) || bad.Field != tt.field {
			t.Errorf("%s: error %v, want a *BadRequest on %q", tt.name, err, tt.field)
		}
	}
}

func TestDecodePagerDuty(t *testing.T) {
	ev, err := DecodePagerDuty(readTestdata(t, "pagerduty-trigger.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := incident.AlertInput{
		Fingerprint: dedupFingerprint("pagerduty\x00R015X1NTEGRAT10NKEY0000000000000", "srv01/HTTP"),
		Source:      "pagerduty", Status: incident.AlertFiring,
		Labels: map[string]string{
			"alertname": "disk", "severity": "critical", "source": "prod-datapipe03.example.com",
			"component": "mysql", "group": "prod-datapipe", "class": "disk",
		},
		Annotations: map[string]string{
			"summary":        "DISK at 99% on machine prod-datapipe03.example.com",
			"dedup_key":      "srv01/HTTP",
			"custom_details": `{"free space":"1%","ping time":"1500ms","load avg":0.75}`,
			"links":          `[{"href":"https://example.com/","text":"Link text"}]`,
			"images":         `[{"src":"https://www.pagerduty.com/wp-content/uploads/2016/05/pagerduty-logo-green.png","href":"https://example.com/","alt":"Example text"}]`,
			"client":         "Sample Monitoring Service",
		},
		StartsAt:     at("2026-11-21T10:07:00Z"),
		GeneratorURL: "https://monitoring.example.com",
	}
	ev.Alert.StartsAt = ev.Alert.StartsAt.UTC()
	if ev.Action != "trigger" || ev.DedupKey != "srv01/HTTP" || !reflect.DeepEqual(ev.Alert, want) {
		t.Fatalf("decoded %+v\nwant %+v", ev.Alert, want)
	}

	// Without class the summary names the alert; without dedup_key one is
	// made, as PagerDuty does.
	ev, err = DecodePagerDuty([]byte(`{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"}}`))
	if err != nil || ev.Alert.Labels["alertname"] != "s" || len(ev.DedupKey) != 32 || ev.Alert.Fingerprint != dedupFingerprint("pagerduty\x00k", ev.DedupKey) {
		t.Fatalf("decoded %+v, %v", ev, err)
	}
	// A resolve needs no payload.
	ev, err = DecodePagerDuty([]byte(`{"routing_key":"k","event_action":"resolve","dedup_key":"d"}`))
	if err != nil || ev.Alert.Status != incident.AlertResolved || ev.Alert.Fingerprint != dedupFingerprint("pagerduty\x00k", "d") {
		t.Fatalf("decoded %+v, %v", ev, err)
	}

	for _, tt := range []struct{ name, body, want string }{
		{"everything missing", `{}`, "'routing_key' is missing or blank; 'event_action' must be one of trigger, acknowledge, resolve"},
		{"trigger without payload", `{"routing_key":"k","event_action":"trigger"}`, "'payload' is missing"},
		{"payload incomplete", `{"routing_key":"k","event_action":"trigger","payload":{"severity":"fatal"}}`, "'payload.summary' is missing or blank; 'payload.source' is missing or blank; 'payload.severity' must be one of critical, error, warning, info"},
		{"resolve without key", `{"routing_key":"k","event_action":"resolve"}`, "'dedup_key' is missing or blank"},
		{"acknowledge without key", `{"routing_key":"k","event_action":"acknowledge"}`, "'dedup_key' is missing or blank"},
		{"long summary", `{"routing_key":"k","event_action":"trigger","payload":{"summary":"` + strings.Repeat("x", 1025) + `","source":"h","severity":"info"}}`, "longer than 1024"},
		{"bad timestamp", `{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info","timestamp":"yesterday"}}`, "'payload.timestamp'"},
		{"wrong type", `{"routing_key":5}`, "wrong type"},
		{"not json", `routing_key=k`, "malformed JSON"},
	} {
		_, err := DecodePagerDuty([]byte(tt.body))
		var bad *BadRequest
		if !errors.As(err, &bad) || !strings.Contains(bad.Error(), tt.want) {
			t.Errorf("%s: error %v, want a *BadRequest containing %q", tt.name, err, tt.want)
		}
	}
}
