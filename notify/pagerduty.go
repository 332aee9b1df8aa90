package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/PagerDuty/go-pagerduty"
)

// pagerDuty sends Events API v2 events through go-pagerduty, with the
// incident id as dedup key so that trigger, acknowledge and resolve act on
// one PagerDuty alert.
type pagerDuty struct {
	*base
	http       *http.Client
	eventsURL  string
	routingKey string
}

// severities maps incidentd priorities to Events v2 severities.
var severities = map[string]string{"P1": "critical", "P2": "error", "P3": "warning", "P4": "info", "P5": "info"}

// pdSummaryMax is the Events API's limit on payload.summary.
const pdSummaryMax = 1024

func (p *pagerDuty) send(ctx context.Context, m Message) error {
	rec := &capture{http: p.http}
	client := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(p.eventsURL))
	client.HTTPClient = rec
	_, err := client.ManageEventWithContext(ctx, p.event(m))
	switch {
	case rec.err != nil:
		return p.transportError(rec.err)
	case rec.status >= 200 && rec.status <= 299:
		// Accepted; an unreadable success body does not undo that.
		return nil
	case rec.status != 0:
		return p.httpStatus(rec.status, rec.header, pdErrorText(rec.body))
	case err != nil:
		return p.fail(true, 0, nil, "building the event: %v", err)
	}
	return nil
}

// event builds the Events v2 event for m. Acknowledge and resolve carry only
// the dedup key: PagerDuty ignores a payload on them.
func (p *pagerDuty) event(m Message) *pagerduty.V2Event {
	action := string(m.Event)
	if m.Event == EventEscalate {
		action = string(EventTrigger)
	}
	e := &pagerduty.V2Event{RoutingKey: p.routingKey, Action: action, DedupKey: m.IncidentID}
	if action != string(EventTrigger) {
		return e
	}
	sev, ok := severities[m.Priority]
	if !ok {
		sev = "error"
	}
	source := m.RootCause
	if source == "" {
		source = "incidentd"
	}
	services := append([]string(nil), m.ImpactedServices...)
	sort.Strings(services)
	group := ""
	if len(services) > 0 {
		group = services[0]
	}
	details := map[string]any{
		"incident_id": m.IncidentID,
		"priority":    m.Priority,
		"status":      m.Status,
		"level":       m.Level,
		"loop":        m.Loop,
	}
	if m.RootCause != "" {
		details["root_cause"] = m.RootCause
	}
	if len(services) > 0 {
		details["impacted_services"] = services
	}
	if len(m.Labels) > 0 {
		details["labels"] = m.Labels
	}
	if m.Text != "" {
		// Why a runbook escalated: the responder reads it in the alert.
		details["text"] = m.Text
	}
	e.Client = "incidentd"
	e.ClientURL = m.URL
	e.Payload = &pagerduty.V2Payload{
		Summary:   truncate(summary(m), pdSummaryMax),
		Source:    source,
		Severity:  sev,
		Timestamp: m.Time.UTC().Format(time.RFC3339),
		Component: m.RootCause,
		Group:     group,
		Class:     m.Labels["alertname"],
		Details:   details,
	}
	for _, l := range []struct{ href, text string }{
		{m.URL, "Incident " + m.IncidentID + " in incidentd"},
		{m.AckURL, "Acknowledge " + m.IncidentID},
		{m.ResolveURL, "Resolve " + m.IncidentID},
	} {
		if l.href != "" {
			e.Links = append(e.Links, map[string]string{"href": l.href, "text": l.text})
		}
	}
	return e
}

// pdErrorText reads the Events API's error body {status, message, errors}.
func pdErrorText(body []byte) string {
	var eo pagerduty.EventsAPIV2ErrorObject
	if json.Unmarshal(body, &eo) != nil || (eo.Message == "" && eo.Status == "") {
		return string(body)
	}
	parts := []string{}
	for _, s := range append([]string{eo.Status, eo.Message}, eo.Errors...) {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}

// capture is the HTTP client handed to go-pagerduty. It records what the
// library's errors leave out: the transport error itself (the library
// flattens it to text), the status, Retry-After and the error body.
type capture struct {
	http   *http.Client
	err    error
	status int
	header http.Header
	body   []byte
}

func (c *capture) Do(req *http.Request) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err != nil {
		c.err = err
		return nil, err
	}
	c.status, c.header = resp.StatusCode, resp.Header
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		c.body, _ = io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(c.body))
	}
	return resp, nil
}

// summary is the one-line description used as PagerDuty summary, mail
// subject and chat fallback text.
func summary(m Message) string {
	var b strings.Builder
	if m.Priority != "" {
		b.WriteString("[" + m.Priority + "] ")
	}
	b.WriteString(m.IncidentID)
	if m.Title != "" {
		b.WriteString(": " + m.Title)
	}
	return b.String()
}

// truncate cuts s to at most n bytes on a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
