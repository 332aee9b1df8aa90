package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
)

// slack posts Block Kit messages to an incoming webhook. The handful of
// block types used are plain structs: a Slack SDK would bring a large API
// surface for five types.
type slack struct {
	*base
	http *http.Client
	url  string
}

// SlackMessage is an incoming-webhook body: Text is the notification and
// fallback text, Blocks the rendered message.
type SlackMessage struct {
	Text   string       `json:"text"`
	Blocks []SlackBlock `json:"blocks"`
}

// SlackBlock is one Block Kit layout block (header, section, context or
// actions).
type SlackBlock struct {
	Type     string      `json:"type"`
	Text     *SlackText  `json:"text,omitempty"`
	Fields   []SlackText `json:"fields,omitempty"`
	Elements any         `json:"elements,omitempty"`
}

// SlackText is a plain_text or mrkdwn text object.
type SlackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// SlackButton is a link button.
type SlackButton struct {
	Type     string    `json:"type"`
	Text     SlackText `json:"text"`
	URL      string    `json:"url"`
	ActionID string    `json:"action_id"`
	Style    string    `json:"style,omitempty"`
}

// Block Kit limits.
const (
	slackHeaderMax  = 150
	slackFieldMax   = 2000
	slackSectionMax = 3000
)

var eventTitles = map[Event]string{
	EventTrigger: "Triggered", EventEscalate: "Escalated", EventAcknowledge: "Acknowledged", EventResolve: "Resolved",
	EventNote: "Note",
}

// NewSlackMessage renders m as a Block Kit message.
func NewSlackMessage(m Message) SlackMessage {
	services := append([]string(nil), m.ImpactedServices...)
	sort.Strings(services)
	field := func(name, value string) SlackText {
		return SlackText{Type: "mrkdwn", Text: truncate("*"+name+"*\n"+slackEscape(value), slackFieldMax)}
	}
	orNone := func(s, none string) string {
		if s == "" {
			return none
		}
		return s
	}
	blocks := []SlackBlock{
		{Type: "header", Text: &SlackText{Type: "plain_text", Text: truncate(summary(m), slackHeaderMax)}},
	}
	if m.Text != "" {
		// The message comes first: it is what the note is for.
		blocks = append(blocks, SlackBlock{Type: "section", Text: &SlackText{Type: "mrkdwn", Text: truncate(slackEscape(m.Text), slackSectionMax)}})
	}
	blocks = append(blocks,
		SlackBlock{Type: "section", Fields: []SlackText{
			field("Priority", orNone(m.Priority, "unknown")),
			field("Status", orNone(m.Status, "unknown")),
			field("Root cause", orNone(m.RootCause, "not identified")),
			field("Impacted services", orNone(strings.Join(services, ", "), "none known")),
		}},
	)
	ctx := eventTitles[m.Event]
	if (m.Level > 0 || m.Loop > 0) && m.Event != EventNote {
		ctx += fmt.Sprintf(" · escalation level %d, loop %d", m.Level, m.Loop)
	}
	switch {
	case m.Recipient.User != "" && m.Event == EventNote:
		ctx += " · to " + m.Recipient.User
	case m.Recipient.User != "":
		ctx += " · paging " + m.Recipient.User
	}
	blocks = append(blocks, SlackBlock{Type: "context", Elements: []SlackText{{Type: "mrkdwn", Text: slackEscape(ctx)}}})
	var buttons []SlackButton
	open := m.Event != EventResolve
	if m.AckURL != "" && open && m.Event != EventAcknowledge {
		buttons = append(buttons, SlackButton{Type: "button", Text: SlackText{Type: "plain_text", Text: "Acknowledge"}, URL: m.AckURL, ActionID: "acknowledge", Style: "primary"})
	}
	if m.ResolveURL != "" && open {
		buttons = append(buttons, SlackButton{Type: "button", Text: SlackText{Type: "plain_text", Text: "Resolve"}, URL: m.ResolveURL, ActionID: "resolve", Style: "danger"})
	}
	if m.URL != "" {
		buttons = append(buttons, SlackButton{Type: "button", Text: SlackText{Type: "plain_text", Text: "Open incident"}, URL: m.URL, ActionID: "open"})
	}
	if len(buttons) > 0 {
		blocks = append(blocks, SlackBlock{Type: "actions", Elements: buttons})
	}
	text := eventTitles[m.Event] + ": " + summary(m)
	if m.Text != "" {
		// Notifications show only this field: the message belongs in it.
		text += ": " + m.Text
	}
	return SlackMessage{Text: truncate(slackEscape(text), slackSectionMax), Blocks: blocks}
}

func (s *slack) send(ctx context.Context, m Message) error {
	body, err := json.Marshal(NewSlackMessage(m))
	if err != nil {
		return s.fail(true, 0, nil, "encoding the message: %v", err)
	}
	return postJSON(ctx, s.base, s.http, s.url, nil, body)
}

// slackEscape escapes the three characters mrkdwn treats as control.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
