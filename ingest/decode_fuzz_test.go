package ingest

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/internal/fuzzseed"
)

// ingestSeeds are bodies that reach every branch of the two decoders: valid
// ones, and the rejections the handler tests name.
var ingestSeeds = []string{
	amBody(amAlert),
	amBody(amAlert, `{"status":"resolved","labels":{"alertname":"B"},"startsAt":"2026-11-21T10:00:00+01:00","endsAt":"2026-11-21T11:00:00Z","generatorURL":"http://prom/graph"}`),
	amBody(`{"status":"firing","labels":{"a":"x\u0000y"}}`),
	strings.Replace(amBody(amAlert), `"version":"4"`, `"version":"5"`, 1),
	`{"version":"4","truncatedAlerts":3,"alerts":[{"status":"firing","labels":{"a":"b"},"fingerprint":"a b"}]}`,
	`[{"labels":{"alertname":"B"},"starts_at":"2026-11-21T10:00:00Z","source":"cron"}]`,
	`[{"labels":{"a":"b"},"annotations":{"summary":"s"},"status":"resolved","starts_at":"2026-11-21T10:00:00Z","ends_at":"2026-11-21T09:00:00Z"}]`,
	`[{"labels":{"a":"b"},"start_at":"x"}]`,
	`[{"labels":{"a":"b"}}] [1]`,
	`[{"labels":{"a":1}}]`,
	`[{"labels":{"a":"b","a":"c"}}]`,
	"[{\"labels\":{\"a\":\"\xff\xfe\"}}]",
	`[[[[[[[[[[[[[[[[[[[[[[[[`,
	`{"version":"4",`,
	``,
}

func addIngestSeeds(f *testing.F) {
	for _, s := range ingestSeeds {
		f.Add([]byte(s))
	}
	for _, s := range fuzzseed.DocBlocks(f, "json") {
		f.Add([]byte(s))
	}
}

// checkDecoded is what every decoded alert must satisfy, whatever the body.
func checkDecoded(t *testing.T, alerts []incident.AlertInput) {
	t.Helper()
	if len(alerts) == 0 {
		t.Fatal("no error and no alerts")
	}
	for i, a := range alerts {
		if a.Fingerprint == "" || len(a.Fingerprint) > maxFingerprintLen || strings.ContainsAny(a.Fingerprint, "\x00 \t\r\n") {
			t.Fatalf("alert %d: fingerprint %q", i, a.Fingerprint)
		}
		if n := len(a.Labels); n < 1 || n > maxLabels {
			t.Fatalf("alert %d: %d labels", i, n)
		}
		if a.Status != incident.AlertFiring && a.Status != incident.AlertResolved {
			t.Fatalf("alert %d: status %q", i, a.Status)
		}
		if a.Source == "" || a.Annotations == nil || strings.ContainsRune(a.Source+a.GeneratorURL, 0) {
			t.Fatalf("alert %d: source %q, generator URL %q, annotations %v", i, a.Source, a.GeneratorURL, a.Annotations)
		}
		for _, kv := range []map[string]string{a.Labels, a.Annotations} {
			for k, v := range kv {
				if k == "" || len(k) > maxNameBytes || len(v) > maxValueBytes || strings.ContainsRune(k+v, 0) {
					t.Fatalf("alert %d: label or annotation %q=%q passed validation", i, k, v)
				}
			}
		}
	}
}

// checkRejected requires a client error, never another kind of error.
func checkRejected(t *testing.T, err error) {
	t.Helper()
	var bad *BadRequest
	if !errors.As(err, &bad) || bad.Msg == "" {
		t.Fatalf("error %T %v is not a BadRequest with a message", err, err)
	}
}

// sameAlerts compares decoded alerts with times as instants (a re-encoded
// offset comes back as another *time.Location).
func sameAlerts(t *testing.T, got, want []incident.AlertInput) {
	t.Helper()
	norm := func(in []incident.AlertInput) []incident.AlertInput {
		out := make([]incident.AlertInput, len(in))
		for i, a := range in {
			a.StartsAt, a.EndsAt = a.StartsAt.UTC(), a.EndsAt.UTC()
			out[i] = a
		}
		return out
	}
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Fatalf("re-encoded alerts decode differently:\n got %+v\nwant %+v", g, w)
	}
}

func FuzzDecodeAlertmanager(f *testing.F) {
	addIngestSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts, _, err := DecodeAlertmanager(body)
		if err != nil {
			checkRejected(t, err)
			return
		}
		checkDecoded(t, alerts)
		// Re-encoding what was accepted gives back the same alerts.
		msg := alertmanagerMessage{Data: &template.Data{}, Version: "4"}
		for _, a := range alerts {
			msg.Alerts = append(msg.Alerts, template.Alert{
				Status: string(a.Status), Labels: a.Labels, Annotations: a.Annotations,
				StartsAt: a.StartsAt, EndsAt: a.EndsAt, GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint,
			})
		}
		again, err := json.Marshal(msg)
		if err != nil {
			t.Fatalf("re-encoding accepted alerts: %v", err)
		}
		round, _, err := DecodeAlertmanager(again)
		if err != nil {
			t.Fatalf("re-encoded alerts rejected: %v\n%s", err, again)
		}
		sameAlerts(t, round, alerts)
	})
}

func FuzzDecodeGeneric(f *testing.F) {
	addIngestSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts, err := DecodeGeneric(body)
		if err != nil {
			checkRejected(t, err)
			return
		}
		checkDecoded(t, alerts)
		format := func(ts time.Time) string {
			if ts.IsZero() {
				return ""
			}
			return ts.Format(time.RFC3339Nano)
		}
		list := make([]GenericAlert, len(alerts))
		for i, a := range alerts {
			list[i] = GenericAlert{
				Labels: a.Labels, Annotations: a.Annotations, Status: string(a.Status), Fingerprint: a.Fingerprint,
				Source: a.Source, GeneratorURL: a.GeneratorURL, StartsAt: format(a.StartsAt), EndsAt: format(a.EndsAt),
			}
		}
		again, err := json.Marshal(list)
		if err != nil {
			t.Fatalf("re-encoding accepted alerts: %v", err)
		}
		round, err := DecodeGeneric(again)
		if err != nil {
			t.Fatalf("re-encoded alerts rejected: %v\n%s", err, again)
		}
		sameAlerts(t, round, alerts)
	})
}
