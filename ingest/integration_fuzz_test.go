package ingest

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/incidentd/incidentd/incident"
)

// checkDecodedOrBad is what every decoder must do with any body: return
// alerts that pass validation again unchanged, or a *BadRequest.
func checkDecodedOrBad(t *testing.T, alerts []incident.AlertInput, err error) {
	t.Helper()
	if err != nil {
		var bad *BadRequest
		if !errors.As(err, &bad) {
			t.Fatalf("error %v (%T) is not a *BadRequest", err, err)
		}
		return
	}
	if len(alerts) == 0 {
		t.Fatal("no alerts and no error")
	}
	for i, a := range alerts {
		fp := a.Fingerprint
		if fp == "" {
			t.Fatalf("alert %d has no fingerprint", i)
		}
		if err := validate(&a, "again"); err != nil || a.Fingerprint != fp {
			t.Fatalf("alert %d does not pass validation: %v (fingerprint %q, was %q)", i, err, a.Fingerprint, fp)
		}
	}
}

func addTestdataSeeds(f *testing.F, names ...string) {
	for _, n := range names {
		f.Add(readTestdata(f, n))
	}
}

func FuzzDecodePagerDuty(f *testing.F) {
	addTestdataSeeds(f, "pagerduty-trigger.json")
	for _, s := range []string{
		`{"routing_key":"k","event_action":"resolve","dedup_key":"d"}`,
		`{"routing_key":"k","event_action":"acknowledge","dedup_key":"d","payload":{"summary":"s","source":"h","severity":"info"}}`,
		`{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info","custom_details":"text","timestamp":"2026-11-21T10:00:00Z"},"links":null,"images":[]}`,
		`{"routing_key":"k","event_action":"trigger","payload":{"summary":"a\u0000b","source":"h","severity":"info"}}`,
		`{}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := DecodePagerDuty(body)
		if err != nil {
			checkDecodedOrBad(t, nil, err)
			return
		}
		if ev.DedupKey == "" {
			t.Fatal("no dedup key")
		}
		checkDecodedOrBad(t, []incident.AlertInput{ev.Alert}, nil)
	})
}

func FuzzDecodeGrafana(f *testing.F) {
	addTestdataSeeds(f, "grafana-firing.json")
	for _, s := range []string{
		`{"version":"1","alerts":[{"status":"firing","labels":{"a":"b"}}]}`,
		`{"version":"1","alerts":[{"status":"resolved","labels":{"a":"b"},"annotations":{"values":"x"},"valueString":"y","startsAt":"2026-11-21T10:00:00Z","endsAt":"2026-11-21T09:00:00Z"}]}`,
		`{"version":"1","alerts":[{"status":"firing","labels":{"a":"b"},"values":{"B":1e400}}]}`,
		`{"version":"1"}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts, _, err := DecodeGrafana(body)
		checkDecodedOrBad(t, alerts, err)
	})
}

// FuzzMapping runs each shipped example mapping over arbitrary bodies.
func FuzzMapping(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("..", "configs", "integrations", "*.yml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no mapping examples (%v)", err)
	}
	var mappings []*compiledMapping
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		list, err := parseIntegrations(f, file, data)
		if err != nil {
			f.Fatal(err)
		}
		for _, in := range list {
			if in.Type == TypeMapping {
				m, err := in.Mapping.compile(in.Name)
				if err != nil {
					f.Fatal(err)
				}
				mappings = append(mappings, m)
			}
		}
	}
	for _, n := range []string{"zabbix-problem.json", "zabbix-resolved.json", "datadog-triggered.json", "sentry-event-alert.json"} {
		for i := range mappings {
			f.Add(uint8(i), readTestdata(f, n))
		}
	}
	f.Add(uint8(0), []byte(`[{"event_id":"1","event_status":"OK","trigger_name":"t","host_name":"h","event_severity":"x","event_date":"2026.11.21","event_time":"25:00:00"}]`))
	f.Add(uint8(1), []byte(`{"alert_title":"a","hostname":"h","alert_priority":"p1","alert_id":7,"tags":"","title":"t","alert_transition":"Recovered","aggreg_key":"k","date":"99999999999999999999","link":""}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		alerts, err := mappings[int(which)%len(mappings)].decode(body)
		checkDecodedOrBad(t, alerts, err)
	})
}
