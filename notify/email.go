package notify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"sort"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
)

// email sends a multipart/alternative (text and HTML) mail over SMTP,
// upgrading with STARTTLS unless told not to.
type email struct {
	*base
	cfg                SMTPConfig
	to                 []string
	tlsBase            *tls.Config
	username, password string
}

func (e *email) send(ctx context.Context, m Message) error {
	rcpts := e.to
	if m.Recipient.To != "" {
		rcpts = []string{m.Recipient.To}
	}
	if len(rcpts) == 0 {
		return e.invalid("no recipient address: the contact has no \"to\" and the notifier no \"to\" list")
	}
	var to []*mail.Address
	for _, r := range rcpts {
		a, err := mail.ParseAddress(r)
		if err != nil {
			return e.invalid("recipient %q is not a mail address", r)
		}
		to = append(to, a)
	}
	from, err := mail.ParseAddress(e.cfg.From)
	if err != nil {
		return e.invalid("smtp.from %q is not a mail address", e.cfg.From)
	}
	msg, err := composeMail(m, from, to)
	if err != nil {
		return e.fail(true, 0, nil, "composing the mail: %v", err)
	}
	err = e.deliver(ctx, from.Address, to, msg)
	if err != nil && ctx.Err() != nil {
		// The connection was closed under us; say why.
		return e.transportError(ctx.Err())
	}
	return err
}

func (e *email) tlsConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.tlsBase != nil {
		c = e.tlsBase.Clone()
	}
	c.ServerName = e.cfg.Host
	return c
}

func (e *email) deliver(ctx context.Context, from string, to []*mail.Address, msg []byte) error {
	addr := net.JoinHostPort(e.cfg.Host, strconv.Itoa(e.cfg.port()))
	dialer := &net.Dialer{}
	var conn net.Conn
	var err error
	if e.cfg.TLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: e.tlsConfig()}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return e.transportError(err)
	}
	// net/smtp takes no context: bound every read and write by the
	// context's deadline, and close the connection if it is cancelled.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, e.cfg.Host)
	if err != nil {
		conn.Close()
		return e.smtpError("greeting", err)
	}
	defer c.Close()
	// net/smtp's own default; relays that check the name want a real
	// one, which would need a config key.
	if err := c.Hello("localhost"); err != nil {
		return e.smtpError("EHLO", err)
	}
	if e.cfg.startTLS() {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return e.fail(true, 0, nil, "%s does not offer STARTTLS (set smtp.starttls: false to send unencrypted)", addr)
		}
		if err := c.StartTLS(e.tlsConfig()); err != nil {
			return e.smtpError("STARTTLS", err)
		}
	}
	if e.username != "" {
		if err := c.Auth(smtp.PlainAuth("", e.username, e.password, e.cfg.Host)); err != nil {
			var te *textproto.Error
			if !errors.As(err, &te) {
				// net/smtp's own refusals (no AUTH offered, plain text
				// over an unencrypted link) are configuration problems.
				return e.fail(true, 0, nil, "AUTH: %v", err)
			}
			return e.smtpError("AUTH", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return e.smtpError("MAIL FROM", err)
	}
	for _, a := range to {
		if err := c.Rcpt(a.Address); err != nil {
			return e.smtpError("RCPT TO <"+a.Address+">", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return e.smtpError("DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return e.smtpError("DATA", err)
	}
	if err := w.Close(); err != nil {
		return e.smtpError("DATA", err)
	}
	// The server has taken the message; a failed QUIT does not change that.
	c.Quit()
	return nil
}

// mailView is what the mail templates render.
type mailView struct {
	Message
	Summary, EventTitle, Services, LabelText string
	// ShowLevel: a page beyond level 0 names its level; a note pages
	// nobody and names none.
	ShowLevel bool
}

var mailText = texttemplate.Must(texttemplate.New("text").Parse(`{{.Summary}}
{{.EventTitle}}
{{if .Text}}
{{.Text}}
{{end}}
Priority:          {{or .Priority "unknown"}}
Status:            {{or .Status "unknown"}}
Root cause:        {{or .RootCause "not identified"}}
Impacted services: {{or .Services "none known"}}
{{- if .LabelText}}
Labels:            {{.LabelText}}{{end}}
{{- if .ShowLevel}}
Escalation:        level {{.Level}}, loop {{.Loop}}{{end}}
{{if .AckURL}}
Acknowledge: {{.AckURL}}{{end}}{{if .ResolveURL}}
Resolve:     {{.ResolveURL}}{{end}}{{if .URL}}
Open:        {{.URL}}{{end}}

Sent by incidentd.
`))

var mailHTML = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2>{{.Summary}}</h2>
<p>{{.EventTitle}}</p>
{{- if .Text}}
<p style="white-space: pre-wrap">{{.Text}}</p>
{{- end}}
<table cellpadding="4">
<tr><th align="left">Priority</th><td>{{or .Priority "unknown"}}</td></tr>
<tr><th align="left">Status</th><td>{{or .Status "unknown"}}</td></tr>
<tr><th align="left">Root cause</th><td>{{or .RootCause "not identified"}}</td></tr>
<tr><th align="left">Impacted services</th><td>{{or .Services "none known"}}</td></tr>
{{- if .LabelText}}
<tr><th align="left">Labels</th><td>{{.LabelText}}</td></tr>{{end}}
{{- if .ShowLevel}}
<tr><th align="left">Escalation</th><td>level {{.Level}}, loop {{.Loop}}</td></tr>{{end}}
</table>
<p>
{{- if .AckURL}}<a href="{{.AckURL}}">Acknowledge</a> {{end}}
{{- if .ResolveURL}}<a href="{{.ResolveURL}}">Resolve</a> {{end}}
{{- if .URL}}<a href="{{.URL}}">Open incident</a>{{end}}
</p>
<p style="color: #777">Sent by incidentd.</p>
</body></html>
`))

// composeMail renders the whole RFC 5322 message with CRLF line ends.
func composeMail(m Message, from *mail.Address, to []*mail.Address) ([]byte, error) {
	v := mailView{Message: m, Summary: summary(m), EventTitle: eventTitles[m.Event], ShowLevel: (m.Level > 0 || m.Loop > 0) && m.Event != EventNote}
	services := append([]string(nil), m.ImpactedServices...)
	sort.Strings(services)
	v.Services = strings.Join(services, ", ")
	keys := make([]string, 0, len(m.Labels))
	for k := range m.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			v.LabelText += ", "
		}
		v.LabelText += k + "=" + m.Labels[k]
	}
	// Links are shown only while they can do something.
	if m.Event == EventResolve {
		v.AckURL, v.ResolveURL = "", ""
	}
	if m.Event == EventAcknowledge {
		v.AckURL = ""
	}
	var text, html bytes.Buffer
	if err := mailText.Execute(&text, v); err != nil {
		return nil, err
	}
	if err := mailHTML.Execute(&html, v); err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	domain := from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	id := m.ID
	if id == "" {
		id = randomID()
	}
	tos := make([]string, len(to))
	for i, a := range to {
		tos[i] = a.String()
	}
	subject := fmt.Sprintf("[%s] %s %s", orDefault(m.Priority, "P?"), m.IncidentID, strings.ToLower(eventTitles[m.Event]))
	if m.Title != "" {
		subject += ": " + m.Title
	}
	thread := "<" + hashID(m.IncidentID) + ".incident@" + domain + ">"
	headers := []struct{ k, v string }{
		{"From", from.String()},
		{"To", strings.Join(tos, ", ")},
		{"Subject", mime.QEncoding.Encode("utf-8", truncate(headerSafe(subject), 200))},
		{"Date", m.Time.Format(time.RFC1123Z)},
		{"Message-ID", "<" + hashID(id) + "@" + domain + ">"},
		// Every mail about one incident threads under one root.
		{"References", thread},
		{"In-Reply-To", thread},
		{"MIME-Version", "1.0"},
		{"Content-Type", "multipart/alternative; boundary=" + strconv.Quote(mw.Boundary())},
		// Keep vacation responders from answering pages (RFC 3834).
		{"Auto-Submitted", "auto-generated"},
		{"X-Auto-Response-Suppress", "All"},
		{"X-Incidentd-Incident", headerSafe(m.IncidentID)},
		{"X-Incidentd-Event", string(m.Event)},
	}
	for _, h := range headers {
		buf.WriteString(h.k + ": " + h.v + "\r\n")
	}
	buf.WriteString("\r\n")
	for _, part := range []struct {
		ctype string
		body  []byte
	}{{"text/plain; charset=utf-8", text.Bytes()}, {"text/html; charset=utf-8", html.Bytes()}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.ctype},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(pw)
		if _, err := qp.Write(bytes.ReplaceAll(part.body, []byte("\n"), []byte("\r\n"))); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// headerSafe keeps alert text from adding header lines.
func headerSafe(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}

func hashID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
