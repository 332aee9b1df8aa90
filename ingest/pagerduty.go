package ingest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/incidentd/incidentd/incident"
)

// PagerDuty Events API v2 actions.
const (
	PagerDutyTrigger     = "trigger"
	PagerDutyAcknowledge = "acknowledge"
	PagerDutyResolve     = "resolve"
)

// Limits of the Events API v2, which senders already keep to.
const (
	pdMaxSummary  = 1024
	pdMaxDedupKey = 255
)

// pagerDutyEvent is the Events API v2 body. Unknown fields are ignored,
// as PagerDuty does, so that any sender works unchanged.
type pagerDutyEvent struct {
	RoutingKey  string            `json:"routing_key"`
	EventAction string            `json:"event_action"`
	DedupKey    string            `json:"dedup_key"`
	Payload     *pagerDutyPayload `json:"payload"`
	Client      string            `json:"client"`
	ClientURL   string            `json:"client_url"`
	Links       json.RawMessage   `json:"links"`
	Images      json.RawMessage   `json:"images"`
}

type pagerDutyPayload struct {
	Summary       string          `json:"summary"`
	Source        string          `json:"source"`
	Severity      string          `json:"severity"`
	Timestamp     string          `json:"timestamp"`
	Component     string          `json:"component"`
	Group         string          `json:"group"`
	Class         string          `json:"class"`
	CustomDetails json.RawMessage `json:"custom_details"`
}

// PagerDutyEvent is a decoded Events API v2 event.
type PagerDutyEvent struct {
	RoutingKey string
	Action     string
	// DedupKey is the sender's, or one generated for a trigger without.
	DedupKey string
	// Alert is the event as an alert: firing for trigger, resolved for
	// resolve; for acknowledge, only its fingerprint matters.
	Alert incident.AlertInput
}

// DecodePagerDuty decodes and validates an Events API v2 body. Errors are a
// *BadRequest listing every problem, as PagerDuty's errors list does.
func DecodePagerDuty(body []byte) (*PagerDutyEvent, error) {
	if err := checkUTF8(body); err != nil {
		return nil, err
	}
	var e pagerDutyEvent
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&e); err != nil {
		return nil, jsonError(err)
	}
	if dec.More() {
		return nil, badf("", "unexpected data after the JSON object")
	}
	var errs []string
	if strings.TrimSpace(e.RoutingKey) == "" {
		errs = append(errs, "'routing_key' is missing or blank")
	}
	switch e.EventAction {
	case PagerDutyTrigger:
	case PagerDutyAcknowledge, PagerDutyResolve:
		if e.DedupKey == "" {
			errs = append(errs, "'dedup_key' is missing or blank: "+e.EventAction+" needs the key of the trigger")
		}
	default:
		errs = append(errs, "'event_action' must be one of trigger, acknowledge, resolve")
	}
	if len(e.DedupKey) > pdMaxDedupKey {
		errs = append(errs, "'dedup_key' is longer than 255 characters")
	}
	p := e.Payload
	var startsAt time.Time
	if e.EventAction == PagerDutyTrigger {
		if p == nil {
			errs = append(errs, "'payload' is missing")
			p = &pagerDutyPayload{}
		} else {
			if strings.TrimSpace(p.Summary) == "" {
				errs = append(errs, "'payload.summary' is missing or blank")
			} else if len(p.Summary) > pdMaxSummary {
				errs = append(errs, "'payload.summary' is longer than 1024 characters")
			}
			if strings.TrimSpace(p.Source) == "" {
				errs = append(errs, "'payload.source' is missing or blank")
			}
			switch p.Severity {
			case "critical", "error", "warning", "info":
			default:
				errs = append(errs, "'payload.severity' must be one of critical, error, warning, info")
			}
		}
	}
	if p != nil && p.Timestamp != "" {
		var err error
		if startsAt, err = time.Parse(time.RFC3339Nano, p.Timestamp); err != nil {
			errs = append(errs, "'payload.timestamp' is not an ISO 8601 (RFC 3339) time")
		}
	}
	if len(errs) > 0 {
		return nil, &BadRequest{Msg: strings.Join(errs, "; ")}
	}
	ev := &PagerDutyEvent{RoutingKey: e.RoutingKey, Action: e.EventAction, DedupKey: e.DedupKey}
	if ev.DedupKey == "" {
		ev.DedupKey = newDedupKey()
	}
	in := incident.AlertInput{
		Fingerprint:  dedupFingerprint(TypePagerDuty+"\x00"+e.RoutingKey, ev.DedupKey),
		Source:       TypePagerDuty,
		Status:       incident.AlertFiring,
		Labels:       map[string]string{},
		Annotations:  map[string]string{"dedup_key": ev.DedupKey},
		StartsAt:     startsAt,
		GeneratorURL: e.ClientURL,
	}
	if e.EventAction == PagerDutyResolve {
		in.Status = incident.AlertResolved
	}
	if p != nil {
		name := p.Class
		if name == "" {
			name = p.Summary
		}
		for k, v := range map[string]string{
			"alertname": name, "severity": p.Severity, "source": p.Source,
			"component": p.Component, "group": p.Group, "class": p.Class,
		} {
			if v != "" {
				in.Labels[k] = v
			}
		}
		in.Annotations["summary"] = p.Summary
		if raw := compactJSON(p.CustomDetails); raw != "" {
			in.Annotations["custom_details"] = raw
		}
	}
	if len(in.Labels) == 0 {
		// A resolve or acknowledge without payload: it only needs to find
		// the alert, by fingerprint; the label keeps an unknown one readable.
		in.Labels["dedup_key"] = ev.DedupKey
	}
	for k, raw := range map[string]json.RawMessage{"links": e.Links, "images": e.Images} {
		if s := compactJSON(raw); s != "" {
			in.Annotations[k] = s
		}
	}
	if e.Client != "" {
		in.Annotations["client"] = e.Client
	}
	if err := validate(&in, ""); err != nil {
		return nil, err
	}
	ev.Alert = in
	return ev, nil
}

// compactJSON returns raw without insignificant space, or "" for nothing,
// null, or an empty object or list.
func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if len(raw) == 0 || json.Compact(&b, raw) != nil {
		return ""
	}
	switch s := b.String(); s {
	case "null", "{}", "[]", `""`:
		return ""
	default:
		return s
	}
}

// newDedupKey makes a key for a trigger sent without one, as PagerDuty
// does: 32 hex digits.
func newDedupKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics rather)
	return hex.EncodeToString(b[:])
}
