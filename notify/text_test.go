package notify

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http/httptest"
	"net/mail"
	"strings"
	"testing"
)

// note is message() as a runbook's note to alice: text with characters
// each format must escape.
func note() Message {
	m := message()
	m.ID, m.Event, m.Level = "INC-12/runbook:7:steps[2]/user:alice/alice/0:hook", EventNote, 0
	m.Text = "Rolled back <v2> & restarted checkout.\nPlease check the dashboards."
	return m
}

func TestWebhookCarriesTheText(t *testing.T) {
	cases := []struct {
		name     string
		m        Message
		wantText any // nil: no text field
	}{
		{"note", note(), note().Text},
		{"escalation with a reason", func() Message { m := message(); m.Event, m.Text = EventEscalate, "still down"; return m }(), "still down"},
		{"page without text", message(), nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(NewWebhookPayload("hook", tc.m))
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got["text"] != tc.wantText || got["event"] != string(tc.m.Event) {
				t.Errorf("text %q event %q, want %q %q", got["text"], got["event"], tc.wantText, tc.m.Event)
			}
		})
	}
}

func TestSlackShowsTheText(t *testing.T) {
	got := NewSlackMessage(note())
	wantFallback := "Note: [P1] INC-12: Checkout returns 5xx: Rolled back &lt;v2&gt; &amp; restarted checkout.\nPlease check the dashboards."
	if got.Text != wantFallback {
		t.Errorf("fallback text %q, want %q", got.Text, wantFallback)
	}
	if len(got.Blocks) < 3 || got.Blocks[1].Type != "section" || got.Blocks[1].Text == nil {
		t.Fatalf("blocks %+v: want the text as the section after the header", got.Blocks)
	}
	if want := "Rolled back &lt;v2&gt; &amp; restarted checkout.\nPlease check the dashboards."; got.Blocks[1].Text.Text != want || got.Blocks[1].Text.Type != "mrkdwn" {
		t.Errorf("text block %+v, want mrkdwn %q", got.Blocks[1].Text, want)
	}
	var context string
	for _, b := range got.Blocks {
		if b.Type == "context" {
			context = b.Elements.([]SlackText)[0].Text
		}
	}
	if context != "Note · to alice" {
		t.Errorf("context %q, want %q (a note pages nobody: no escalation level)", context, "Note · to alice")
	}

	// Without text, nothing changes: no text block.
	plain := NewSlackMessage(message())
	for _, b := range plain.Blocks {
		if b.Type == "section" && b.Text != nil {
			t.Errorf("a page without text has a text block: %+v", b.Text)
		}
	}
	if plain.Text != "Triggered: [P1] INC-12: Checkout returns 5xx" {
		t.Errorf("fallback of a page without text: %q", plain.Text)
	}

	long := note()
	long.Text = strings.Repeat("x", 5000)
	if b := NewSlackMessage(long); len(b.Blocks[1].Text.Text) > slackSectionMax || len(b.Text) > slackSectionMax {
		t.Errorf("text block %d bytes, fallback %d bytes: over Block Kit's %d", len(b.Blocks[1].Text.Text), len(b.Text), slackSectionMax)
	}
}

// mailParts composes the mail for m and returns its subject, plain text
// and HTML.
func mailParts(t *testing.T, m Message) (subject, text, html string) {
	t.Helper()
	from, _ := mail.ParseAddress("incidentd <incidentd@example.com>")
	to, _ := mail.ParseAddress("alice@example.com")
	data, err := composeMail(m, from, []*mail.Address{to})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var parts []string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, strings.ReplaceAll(string(b), "\r\n", "\n"))
	}
	if len(parts) != 2 {
		t.Fatalf("%d parts, want text and HTML", len(parts))
	}
	return msg.Header.Get("Subject"), parts[0], parts[1]
}

func TestEmailShowsTheText(t *testing.T) {
	subject, text, html := mailParts(t, note())
	if subject != "[P1] INC-12 note: Checkout returns 5xx" {
		t.Errorf("subject %q", subject)
	}
	if want := "Note\n\nRolled back <v2> & restarted checkout.\nPlease check the dashboards.\n\nPriority:"; !strings.Contains(text, want) {
		t.Errorf("text part lacks the message paragraph %q:\n%s", want, text)
	}
	if want := "<p style=\"white-space: pre-wrap\">Rolled back &lt;v2&gt; &amp; restarted checkout.\nPlease check the dashboards.</p>"; !strings.Contains(html, want) {
		t.Errorf("HTML part lacks the escaped message %q:\n%s", want, html)
	}
	for _, part := range []string{text, html} {
		if strings.Contains(part, "Escalation") {
			t.Errorf("a note names an escalation level:\n%s", part)
		}
	}

	// A page without text keeps its layout: title, blank line, facts.
	_, text, html = mailParts(t, message())
	if !strings.Contains(text, "Triggered\n\nPriority:") || strings.Contains(html, "pre-wrap") {
		t.Errorf("a page without text changed:\n%s\n%s", text, html)
	}
}

func TestPagerDutyTextAndNotes(t *testing.T) {
	rec := &recorder{body: `{"status":"success","message":"Event processed","dedup_key":"INC-12"}`}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := build1(t, `
notifiers:
  - {name: pd, type: pagerduty, routing_key: "${secret:pd}", events_url: "`+srv.URL+`"}
`, Options{Secrets: secrets(map[string]string{"pd": "R0UTINGKEY0123456789abcdef012345"})}, "pd")

	// An escalation with a reason carries it in custom_details.
	m := message()
	m.Event, m.Text = EventEscalate, "runbook restart-checkout: still failing after the restart"
	if err := n.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	_, body := rec.last(t)
	var ev struct {
		Action  string `json:"event_action"`
		Payload struct {
			Details map[string]any `json:"custom_details"`
		} `json:"payload"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Action != "trigger" || ev.Payload.Details["text"] != m.Text {
		t.Errorf("event %s with custom_details %v, want a trigger with text %q", ev.Action, ev.Payload.Details, m.Text)
	}

	// A note is not an event PagerDuty knows: refused, permanently, and
	// nothing is sent.
	if n.Supports(EventNote) || !n.Supports(EventEscalate) {
		t.Errorf("Supports(note) %v, Supports(escalate) %v: want false, true", n.Supports(EventNote), n.Supports(EventEscalate))
	}
	count := func() int { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.bodies) }
	before := count()
	err := n.Send(context.Background(), note())
	if err == nil || !IsPermanent(err) || !strings.Contains(err.Error(), "PagerDuty takes no notes") {
		t.Errorf("note to PagerDuty: %v, want a permanent error saying why", err)
	}
	if count() != before {
		t.Error("a note was sent to PagerDuty")
	}
}

func TestNoteNeedsText(t *testing.T) {
	rec := &recorder{status: 200}
	srv := newServer(t, rec)
	n := build1(t, `
notifiers:
  - {name: hook, type: webhook, url: "`+srv.URL+`"}
`, Options{}, "hook")
	m := note()
	m.Text = "  "
	if err := n.Send(context.Background(), m); err == nil || !IsPermanent(err) {
		t.Errorf("a note without text: %v, want a permanent error", err)
	}
	if err := n.Send(context.Background(), note()); err != nil {
		t.Errorf("a note with text: %v", err)
	}
}
