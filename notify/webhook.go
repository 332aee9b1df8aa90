package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Webhook headers.
const (
	headerSignature = "X-Incidentd-Signature"
	headerTimestamp = "X-Incidentd-Timestamp"
	headerEvent     = "X-Incidentd-Event"
	headerDelivery  = "X-Incidentd-Delivery"
)

// WebhookVersion is the version of the webhook body schema.
const WebhookVersion = "1"

// WebhookPayload is the JSON body of a webhook notification.
type WebhookPayload struct {
	Version string `json:"version"`
	// ID is the notification's id; a retry carries the same id.
	ID       string    `json:"id"`
	Event    Event     `json:"event"`
	Notifier string    `json:"notifier"`
	Time     time.Time `json:"time"`
	// Text is the message of a note, or why a runbook escalated; left
	// out when there is none.
	Text     string `json:"text,omitempty"`
	Incident struct {
		ID               string            `json:"id"`
		Title            string            `json:"title"`
		Priority         string            `json:"priority"`
		Status           string            `json:"status"`
		RootCause        string            `json:"root_cause,omitempty"`
		ImpactedServices []string          `json:"impacted_services"`
		Labels           map[string]string `json:"labels"`
	} `json:"incident"`
	// Recipient is set when a user is paged through their contact.
	Recipient *struct {
		User string `json:"user"`
		To   string `json:"to,omitempty"`
	} `json:"recipient,omitempty"`
	Escalation struct {
		Level int `json:"level"`
		Loop  int `json:"loop"`
	} `json:"escalation"`
	Links struct {
		Incident    string `json:"incident,omitempty"`
		Acknowledge string `json:"acknowledge,omitempty"`
		Resolve     string `json:"resolve,omitempty"`
	} `json:"links"`
}

// NewWebhookPayload is the body the webhook notifier sends for m.
func NewWebhookPayload(notifier string, m Message) WebhookPayload {
	var p WebhookPayload
	p.Version, p.ID, p.Event, p.Notifier, p.Time = WebhookVersion, m.ID, m.Event, notifier, m.Time.UTC()
	p.Text = m.Text
	p.Incident.ID, p.Incident.Title, p.Incident.Priority, p.Incident.Status = m.IncidentID, m.Title, m.Priority, m.Status
	p.Incident.RootCause = m.RootCause
	p.Incident.ImpactedServices = append([]string{}, m.ImpactedServices...)
	sort.Strings(p.Incident.ImpactedServices)
	p.Incident.Labels = map[string]string{}
	for k, v := range m.Labels {
		p.Incident.Labels[k] = v
	}
	if m.Recipient.User != "" || m.Recipient.To != "" {
		p.Recipient = &struct {
			User string `json:"user"`
			To   string `json:"to,omitempty"`
		}{m.Recipient.User, m.Recipient.To}
	}
	p.Escalation.Level, p.Escalation.Loop = m.Level, m.Loop
	p.Links.Incident, p.Links.Acknowledge, p.Links.Resolve = m.URL, m.AckURL, m.ResolveURL
	return p
}

// webhook posts WebhookPayload as JSON, signed when hmac_secret is set.
type webhook struct {
	*base
	http    *http.Client
	url     string
	secret  []byte
	headers http.Header
}

func (w *webhook) send(ctx context.Context, m Message) error {
	if m.ID == "" {
		m.ID = randomID()
	}
	body, err := json.Marshal(NewWebhookPayload(w.name, m))
	if err != nil {
		return w.fail(true, 0, nil, "encoding the body: %v", err)
	}
	h := w.headers.Clone()
	// The send time, not the event's: a retry hours later must still pass
	// the receiver's replay window.
	ts := strconv.FormatInt(w.now().Unix(), 10)
	h.Set(headerTimestamp, ts)
	h.Set(headerEvent, string(m.Event))
	h.Set(headerDelivery, m.ID)
	if len(w.secret) > 0 {
		h.Set(headerSignature, Sign(w.secret, ts, body))
	}
	return postJSON(ctx, w.base, w.http, w.url, h, body)
}

// Sign returns the X-Incidentd-Signature value for a body sent at
// timestamp (unix seconds, as in X-Incidentd-Timestamp):
// "sha256=" + hex(HMAC-SHA256(secret, timestamp + "." + body)).
func Sign(secret []byte, timestamp string, body []byte) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(timestamp))
	h.Write([]byte("."))
	h.Write(body)
	return "sha256=" + hex.EncodeToString(h.Sum(nil))
}

// Signature verification errors.
var (
	ErrSignatureInvalid = errors.New("webhook signature missing or invalid")
	ErrSignatureStale   = errors.New("webhook timestamp outside the accepted window")
)

// DefaultSignatureTolerance is how far a webhook's timestamp may be from the
// receiver's clock, either way.
const DefaultSignatureTolerance = 5 * time.Minute

// VerifySignature checks a received webhook: the signature must match the
// body and the timestamp header, and the timestamp must be within tolerance
// of now, so that a captured request cannot be replayed later. Receivers
// should also drop repeated X-Incidentd-Delivery ids within the window.
func VerifySignature(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(headerTimestamp)
	sig := h.Get(headerSignature)
	if ts == "" || !strings.HasPrefix(sig, "sha256=") {
		return ErrSignatureInvalid
	}
	if !hmac.Equal([]byte(sig), []byte(Sign(secret, ts, body))) {
		return ErrSignatureInvalid
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrSignatureInvalid
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureStale
	}
	return nil
}

// postJSON posts body and classifies the answer; only 2xx is success.
func postJSON(ctx context.Context, b *base, client *http.Client, url string, h http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return b.fail(true, 0, nil, "building the request for %s", redactURL(url))
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "incidentd")
	resp, err := client.Do(req)
	if err != nil {
		return b.transportError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return b.httpStatus(resp.StatusCode, resp.Header, string(snippet))
}

func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
