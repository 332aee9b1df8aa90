package notify

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSlackBlocks(t *testing.T) {
	rec := &recorder{status: 200, body: "ok"}
	srv := newServer(t, rec)
	n := build1(t, `
notifiers:
  - {name: slack-sre, type: slack, webhook_url: "${secret:slack}"}
`, Options{Secrets: secrets(map[string]string{"slack": srv.URL + "/services/T000/B000/XXXX"})}, "slack-sre")

	cases := []struct {
		name string
		edit func(*Message)
		want string
	}{
		{"trigger", func(*Message) {}, `{
		  "text": "Triggered: [P1] INC-12: Checkout returns 5xx",
		  "blocks": [
		    {"type": "header", "text": {"type": "plain_text", "text": "[P1] INC-12: Checkout returns 5xx"}},
		    {"type": "section", "fields": [
		      {"type": "mrkdwn", "text": "*Priority*\nP1"},
		      {"type": "mrkdwn", "text": "*Status*\ntriggered"},
		      {"type": "mrkdwn", "text": "*Root cause*\ndb-1"},
		      {"type": "mrkdwn", "text": "*Impacted services*\ncheckout, payments"}
		    ]},
		    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Triggered · escalation level 1, loop 0 · paging alice"}]},
		    {"type": "actions", "elements": [
		      {"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"}, "url": "https://incidentd.example.com/l?token=ack", "action_id": "acknowledge", "style": "primary"},
		      {"type": "button", "text": {"type": "plain_text", "text": "Resolve"}, "url": "https://incidentd.example.com/l?token=res", "action_id": "resolve", "style": "danger"},
		      {"type": "button", "text": {"type": "plain_text", "text": "Open incident"}, "url": "https://incidentd.example.com/incidents/INC-12", "action_id": "open"}
		    ]}
		  ]
		}`},
		{"resolved: no ack or resolve buttons; mrkdwn escaped", func(m *Message) {
			*m = Message{Event: EventResolve, IncidentID: "INC-7", Title: "a < b & c", Priority: "P3", Status: "resolved",
				URL: "https://i.example.com/INC-7", AckURL: "https://i.example.com/a", ResolveURL: "https://i.example.com/r"}
		}, `{
		  "text": "Resolved: [P3] INC-7: a &lt; b &amp; c",
		  "blocks": [
		    {"type": "header", "text": {"type": "plain_text", "text": "[P3] INC-7: a < b & c"}},
		    {"type": "section", "fields": [
		      {"type": "mrkdwn", "text": "*Priority*\nP3"},
		      {"type": "mrkdwn", "text": "*Status*\nresolved"},
		      {"type": "mrkdwn", "text": "*Root cause*\nnot identified"},
		      {"type": "mrkdwn", "text": "*Impacted services*\nnone known"}
		    ]},
		    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Resolved"}]},
		    {"type": "actions", "elements": [
		      {"type": "button", "text": {"type": "plain_text", "text": "Open incident"}, "url": "https://i.example.com/INC-7", "action_id": "open"}
		    ]}
		  ]
		}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := message()
			tc.edit(&m)
			if err := n.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			req, body := rec.last(t)
			if req.URL.Path != "/services/T000/B000/XXXX" || req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("posted to %s as %s", req.URL.Path, req.Header.Get("Content-Type"))
			}
			jsonEqual(t, body, tc.want)
		})
	}
}

func TestSlackHeaderIsTruncatedToTheBlockKitLimit(t *testing.T) {
	m := message()
	m.Title = strings.Repeat("é", 200)
	h := NewSlackMessage(m).Blocks[0].Text.Text
	if len(h) > slackHeaderMax || !utf8.ValidString(h) || !strings.HasSuffix(h, "é…") {
		t.Errorf("header %q: %d bytes (max %d), valid UTF-8 %v", h, len(h), slackHeaderMax, utf8.ValidString(h))
	}
}
