// Package ingest receives alert webhooks, validates and decodes them in one
// pass, and commits them through a group-commit batcher before answering.
package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/template"

	"github.com/incidentd/incidentd/incident"
)

// Limits on what one alert may carry; beyond them a sender is misbehaving.
const (
	maxLabels         = 256
	maxNameBytes      = 1024
	maxValueBytes     = 16 << 10
	maxFingerprintLen = 128
)

// BadRequest is a client error: the JSON body says what was wrong.
type BadRequest struct {
	Field string `json:"field,omitempty"`
	Msg   string `json:"error"`
}

func (e *BadRequest) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func badf(field, format string, args ...any) *BadRequest {
	return &BadRequest{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// alertmanagerMessage is Alertmanager's webhook payload (notify/webhook's
// Message), built on template.Data without importing notify/webhook and its
// dependencies.
type alertmanagerMessage struct {
	*template.Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// DecodeAlertmanager decodes and validates an Alertmanager webhook body.
// truncated is the number of alerts Alertmanager dropped (max_alerts).
func DecodeAlertmanager(body []byte) (alerts []incident.AlertInput, truncated uint64, err error) {
	if err := checkUTF8(body); err != nil {
		return nil, 0, err
	}
	msg := alertmanagerMessage{Data: &template.Data{}}
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, 0, jsonError(err)
	}
	if err := checkWebhook("Alertmanager's", msg.Version, "4", len(msg.Alerts)); err != nil {
		return nil, 0, err
	}
	alerts = make([]incident.AlertInput, len(msg.Alerts))
	for i := range msg.Alerts {
		if alerts[i], err = webhookAlert(&msg.Alerts[i], TypeAlertmanager, i, nil); err != nil {
			return nil, 0, err
		}
	}
	return alerts, msg.TruncatedAlerts, nil
}

// checkWebhook checks the version and the alert count of an
// Alertmanager-shaped webhook (Alertmanager's own, Grafana's).
func checkWebhook(sender, version, want string, n int) error {
	if version != want {
		if version == "" {
			return badf("version", "missing: this endpoint takes %s webhook payload, version %q", sender, want)
		}
		return badf("version", "unsupported version %q: want %q", version, want)
	}
	if n == 0 {
		return badf("alerts", "no alerts in the payload")
	}
	return nil
}

// webhookAlert converts and validates alert i of an Alertmanager-shaped
// webhook; annotate, if set, adds annotations first.
func webhookAlert(a *template.Alert, source string, i int, annotate func(*incident.AlertInput)) (incident.AlertInput, error) {
	in := incident.AlertInput{
		Fingerprint:  a.Fingerprint,
		Source:       source,
		Status:       incident.AlertStatus(a.Status),
		Labels:       a.Labels,
		Annotations:  a.Annotations,
		StartsAt:     a.StartsAt,
		EndsAt:       a.EndsAt,
		GeneratorURL: a.GeneratorURL,
	}
	if annotate != nil {
		annotate(&in)
	}
	return in, validate(&in, fmt.Sprintf("alerts[%d]", i))
}

// GenericAlert is one alert of the generic JSON endpoint.
type GenericAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	Status       string            `json:"status"`
	StartsAt     string            `json:"starts_at"`
	EndsAt       string            `json:"ends_at"`
	Fingerprint  string            `json:"fingerprint"`
	Source       string            `json:"source"`
	GeneratorURL string            `json:"generator_url"`
}

// DecodeGeneric decodes and validates a JSON list of generic alerts.
// Unknown fields are rejected so that a typo (start_at) is not silently
// ignored.
func DecodeGeneric(body []byte) ([]incident.AlertInput, error) {
	if err := checkUTF8(body); err != nil {
		return nil, err
	}
	var list []GenericAlert
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		return nil, jsonError(err)
	}
	if dec.More() {
		return nil, badf("", "unexpected data after the JSON list")
	}
	if len(list) == 0 {
		return nil, badf("", "no alerts: want a JSON list of alerts")
	}
	alerts := make([]incident.AlertInput, len(list))
	for i, g := range list {
		field := fmt.Sprintf("[%d]", i)
		in := incident.AlertInput{
			Fingerprint:  g.Fingerprint,
			Source:       g.Source,
			Status:       incident.AlertStatus(g.Status),
			Labels:       g.Labels,
			Annotations:  g.Annotations,
			GeneratorURL: g.GeneratorURL,
		}
		if in.Status == "" {
			in.Status = incident.AlertFiring
		}
		if in.Source == "" {
			in.Source = "generic"
		}
		var err error
		if in.StartsAt, err = parseTime(g.StartsAt, field+".starts_at"); err != nil {
			return nil, err
		}
		if in.EndsAt, err = parseTime(g.EndsAt, field+".ends_at"); err != nil {
			return nil, err
		}
		if len(in.Source) > maxNameBytes {
			return nil, badf(field+".source", "longer than %d bytes", maxNameBytes)
		}
		if err := validate(&in, field); err != nil {
			return nil, err
		}
		alerts[i] = in
	}
	return alerts, nil
}

func parseTime(s, field string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badf(field, "%q is not an RFC 3339 time (e.g. 2026-11-21T10:00:00Z)", s)
	}
	return t, nil
}

// validate checks one decoded alert and fills its fingerprint.
func validate(in *incident.AlertInput, field string) error {
	switch in.Status {
	case incident.AlertFiring, incident.AlertResolved:
	default:
		return badf(field+".status", "%q is not firing or resolved", in.Status)
	}
	if len(in.Labels) == 0 {
		return badf(field+".labels", "missing: an alert needs at least one label")
	}
	if len(in.Labels) > maxLabels {
		return badf(field+".labels", "%d labels, more than %d", len(in.Labels), maxLabels)
	}
	// Like label values, these are stored as text, which cannot hold NUL.
	if strings.IndexByte(in.Source, 0) >= 0 || strings.IndexByte(in.GeneratorURL, 0) >= 0 {
		return badf(field, "source or generator URL contains a NUL character")
	}
	if err := checkKV(in.Labels, field+".labels"); err != nil {
		return err
	}
	if err := checkKV(in.Annotations, field+".annotations"); err != nil {
		return err
	}
	if in.Annotations == nil {
		in.Annotations = map[string]string{}
	}
	if in.Fingerprint == "" {
		in.Fingerprint = incident.Fingerprint(in.Labels)
	} else if len(in.Fingerprint) > maxFingerprintLen || strings.ContainsAny(in.Fingerprint, "\x00 \t\r\n") {
		return badf(field+".fingerprint", "must be 1..%d characters without spaces", maxFingerprintLen)
	}
	if !in.EndsAt.IsZero() && !in.StartsAt.IsZero() && in.EndsAt.Before(in.StartsAt) && in.Status == incident.AlertResolved {
		return badf(field+".ends_at", "before starts_at")
	}
	return nil
}

func checkKV(kv map[string]string, field string) error {
	for k, v := range kv {
		if k == "" {
			return badf(field, "empty name")
		}
		if len(k) > maxNameBytes || len(v) > maxValueBytes {
			return badf(field+"."+truncate(k), "name or value too long (limits %d and %d bytes)", maxNameBytes, maxValueBytes)
		}
		// PostgreSQL text cannot hold NUL; reject it for every backend alike.
		if strings.IndexByte(k, 0) >= 0 || strings.IndexByte(v, 0) >= 0 {
			return badf(field+"."+truncate(k), "contains a NUL character")
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:64] + "..."
}

// checkUTF8 rejects bodies with invalid UTF-8: encoding/json would silently
// replace the bad bytes, storing something the sender never sent.
func checkUTF8(body []byte) error {
	if utf8.Valid(body) {
		return nil
	}
	off := 0
	for off < len(body) {
		r, size := utf8.DecodeRune(body[off:])
		if r == utf8.RuneError && size <= 1 {
			break
		}
		off += size
	}
	return badf("", "body is not valid UTF-8 (first bad byte at offset %d)", off)
}

// jsonError turns a decoding error into a message that names the field.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var perr *time.ParseError
	switch {
	case errors.As(err, &syn):
		return badf("", "malformed JSON at offset %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := strings.TrimPrefix(typ.Field, "Data.") // the embedded template.Data
		if field == "" {
			field = "(top level)"
		}
		return badf(field, "wrong type: got JSON %s, want %s", typ.Value, jsonType(typ.Type.Kind().String()))
	case errors.As(err, &perr):
		return badf("", "a timestamp is not RFC 3339: %v", perr)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badf(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "unknown field")
	case err.Error() == "unexpected EOF":
		return badf("", "malformed JSON: unexpected end of body")
	}
	return badf("", "malformed JSON: %v", err)
}

func jsonType(kind string) string {
	switch kind {
	case "map", "struct":
		return "an object"
	case "slice", "array":
		return "a list"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	}
	return kind
}
