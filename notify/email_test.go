package notify

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// selfSigned returns a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "smtp test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// smtpServer speaks just enough SMTP for one client at a time: EHLO,
// STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT.
type smtpServer struct {
	ln       net.Listener
	tls      *tls.Config
	starttls bool              // offer STARTTLS
	implicit bool              // TLS from the first byte
	replies  map[string]string // command -> reply, to inject failures

	sessions chan received
}

type received struct {
	tls        bool
	auth       string // decoded AUTH PLAIN
	from       string
	to         []string
	data       string
	transcript []string
}

func startSMTP(t *testing.T, s *smtpServer) string {
	t.Helper()
	s.sessions = make(chan received, 16)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if s.implicit {
		ln = tls.NewListener(ln, s.tls)
	}
	s.ln = ln
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return ln.Addr().String()
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	_, isTLS := c.(*tls.Conn)
	r := received{tls: isTLS}
	tp := textproto.NewConn(c)
	reply := func(cmd, def string) {
		if rep, ok := s.replies[cmd]; ok {
			def = rep
		}
		tp.PrintfLine("%s", def)
	}
	defer func() { s.sessions <- r }()
	tp.PrintfLine("220 test ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		r.transcript = append(r.transcript, line)
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			ext := []string{"250-test"}
			if s.starttls && !r.tls {
				ext = append(ext, "250-STARTTLS")
			}
			ext = append(ext, "250 AUTH PLAIN")
			tp.PrintfLine("%s", strings.Join(ext, "\r\n"))
		case "STARTTLS":
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, r.tls = tc, true
			tp = textproto.NewConn(tc)
		case "AUTH":
			_, b64, _ := strings.Cut(arg, " ")
			dec, _ := base64.StdEncoding.DecodeString(b64)
			r.auth = string(dec)
			reply("AUTH", "235 2.7.0 ok")
		case "MAIL":
			r.from = arg
			reply("MAIL", "250 ok")
		case "RCPT":
			r.to = append(r.to, arg)
			reply("RCPT", "250 ok")
		case "DATA":
			if rep, ok := s.replies["DATA"]; ok {
				tp.PrintfLine("%s", rep)
				continue
			}
			tp.PrintfLine("354 go ahead")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			r.data = string(b)
			tp.PrintfLine("250 queued")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 unknown")
		}
	}
}

func (s *smtpServer) received(t *testing.T) received {
	t.Helper()
	// The client may return before the server has closed the session.
	select {
	case r := <-s.sessions:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the SMTP server saw no session")
		return received{}
	}
}

func emailNotifier(t *testing.T, addr, extra string, pool *x509.CertPool, secretVals map[string]string) *Notifier {
	host, port, _ := net.SplitHostPort(addr)
	return build1(t, fmt.Sprintf(`
notifiers:
  - name: mail
    type: email
    smtp: {host: %q, port: %s, from: "incidentd <incidentd@example.com>"%s}
`, host, port, extra), Options{TLSConfig: &tls.Config{RootCAs: pool}, Secrets: secrets(secretVals)}, "mail")
}

func TestEmailDelivery(t *testing.T) {
	cert, pool := selfSigned(t)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	cases := []struct {
		name     string
		server   smtpServer
		extra    string
		wantTLS  bool
		wantAuth string
	}{
		{"STARTTLS with AUTH", smtpServer{tls: srvTLS, starttls: true}, `, username: ops, password: "${secret:smtp_pw}"`, true, "\x00ops\x00pa55word"},
		{"implicit TLS", smtpServer{tls: srvTLS, implicit: true}, `, tls: true`, true, ""},
		{"plain text when starttls is off", smtpServer{}, `, starttls: false`, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.server
			addr := startSMTP(t, &srv)
			n := emailNotifier(t, addr, tc.extra, pool, map[string]string{"smtp_pw": "pa55word"})
			if err := n.Send(context.Background(), message()); err != nil {
				t.Fatal(err)
			}
			got := srv.received(t)
			if got.tls != tc.wantTLS || got.auth != tc.wantAuth {
				t.Errorf("tls %v auth %q, want %v %q; transcript %q", got.tls, got.auth, tc.wantTLS, tc.wantAuth, got.transcript)
			}
			if got.from != "FROM:<incidentd@example.com>" || len(got.to) != 1 || got.to[0] != "TO:<alice@example.com>" {
				t.Errorf("envelope %q -> %q", got.from, got.to)
			}
			checkMail(t, got.data)
		})
	}
}

// checkMail asserts the headers and both alternative parts of the mail
// sent for message().
func checkMail(t *testing.T, data string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("not a mail: %v\n%s", err, data)
	}
	h := msg.Header
	for k, want := range map[string]string{
		"From":                 `"incidentd" <incidentd@example.com>`,
		"To":                   "<alice@example.com>",
		"Subject":              "[P1] INC-12 triggered: Checkout returns 5xx",
		"Date":                 "Mon, 02 Mar 2026 09:59:00 +0000",
		"Mime-Version":         "1.0",
		"Auto-Submitted":       "auto-generated",
		"X-Incidentd-Incident": "INC-12",
		"X-Incidentd-Event":    "trigger",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	id := h.Get("Message-Id")
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") || id != "<"+hashID("INC-12/0/0/user:alice")+"@example.com>" {
		t.Errorf("Message-ID %q is not derived from the message id", id)
	}
	if ref := h.Get("References"); ref != "<"+hashID("INC-12")+".incident@example.com>" {
		t.Errorf("References %q", ref)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q", h.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	parts := map[string]string{}
	var order []string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.Header.Get("Content-Transfer-Encoding") != "quoted-printable" {
			t.Errorf("part %s is %q encoded", p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"))
		}
		b, err := io.ReadAll(quotedprintable.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		ct := p.Header.Get("Content-Type")
		parts[ct] = string(b)
		order = append(order, ct)
	}
	if strings.Join(order, ",") != "text/plain; charset=utf-8,text/html; charset=utf-8" {
		t.Fatalf("parts %q, want text then HTML", order)
	}
	text, html := parts[order[0]], parts[order[1]]
	for _, want := range []string{
		"[P1] INC-12: Checkout returns 5xx", "Root cause:        db-1", "Impacted services: checkout, payments",
		"Labels:            alertname=HighErrorRate, service=checkout", "Escalation:        level 1, loop 0",
		"Acknowledge: https://incidentd.example.com/l?token=ack", "Resolve:     https://incidentd.example.com/l?token=res",
		"Open:        https://incidentd.example.com/incidents/INC-12",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{
		`<h2>[P1] INC-12: Checkout returns 5xx</h2>`, `<td>db-1</td>`, `<td>checkout, payments</td>`,
		`<a href="https://incidentd.example.com/l?token=ack">Acknowledge</a>`,
		`<a href="https://incidentd.example.com/l?token=res">Resolve</a>`,
		`<a href="https://incidentd.example.com/incidents/INC-12">Open incident</a>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML part lacks %q:\n%s", want, html)
		}
	}
}

func TestEmailFailures(t *testing.T) {
	cert, pool := selfSigned(t)
	srvTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	cases := []struct {
		name      string
		server    smtpServer
		extra     string
		pool      *x509.CertPool
		permanent bool
		code      int
		msg       string
	}{
		{"unknown mailbox", smtpServer{replies: map[string]string{"RCPT": "550 5.1.1 no such user"}}, `, starttls: false`, pool, true, 550, "RCPT TO <alice@example.com>: 550 5.1.1 no such user"},
		{"greylisted", smtpServer{replies: map[string]string{"RCPT": "451 4.7.1 try again later"}}, `, starttls: false`, pool, false, 451, "451 4.7.1 try again later"},
		{"queue full at DATA", smtpServer{replies: map[string]string{"DATA": "452 4.3.1 insufficient storage"}}, `, starttls: false`, pool, false, 452, "DATA: 452"},
		{"sender refused", smtpServer{replies: map[string]string{"MAIL": "553 5.7.1 sender not allowed"}}, `, starttls: false`, pool, true, 553, "MAIL FROM: 553"},
		{"authentication refused", smtpServer{tls: srvTLS, starttls: true, replies: map[string]string{"AUTH": "535 5.7.8 bad credentials"}}, `, username: ops, password: "${secret:smtp_pw}"`, pool, true, 535, "AUTH: 535 5.7.8 bad credentials"},
		{"no STARTTLS offered", smtpServer{}, ``, pool, true, 0, "does not offer STARTTLS"},
		{"untrusted certificate", smtpServer{tls: srvTLS, starttls: true}, ``, x509.NewCertPool(), true, 0, "certificate"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.server
			addr := startSMTP(t, &srv)
			n := emailNotifier(t, addr, tc.extra, tc.pool, map[string]string{"smtp_pw": "pa55word"})
			err := n.Send(context.Background(), message())
			var e *Error
			if err == nil || !asError(err, &e) {
				t.Fatalf("Send = %v, want an *Error", err)
			}
			if e.Permanent != tc.permanent || e.Code != tc.code || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("got %v (permanent %v, code %d), want permanent %v, code %d, containing %q", err, e.Permanent, e.Code, tc.permanent, tc.code, tc.msg)
			}
			if strings.Contains(err.Error(), "pa55word") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		n := emailNotifier(t, closedAddr(t), "", pool, nil)
		err := n.Send(context.Background(), message())
		if err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("Send = %v, want a retryable connection error", err)
		}
	})
	t.Run("no recipient", func(t *testing.T) {
		n := emailNotifier(t, closedAddr(t), "", pool, nil)
		m := message()
		m.Recipient = Recipient{User: "bob"}
		if err := n.Send(context.Background(), m); !IsPermanent(err) || !strings.Contains(err.Error(), "no recipient address") {
			t.Errorf("Send = %v, want a permanent error", err)
		}
	})
}

func TestEmailFallsBackToTheNotifiersTo(t *testing.T) {
	srv := smtpServer{}
	addr := startSMTP(t, &srv)
	host, port, _ := net.SplitHostPort(addr)
	n := build1(t, fmt.Sprintf(`
notifiers:
  - {name: mail, type: email, to: [ops@example.com, sre@example.com], smtp: {host: %q, port: %s, from: incidentd@example.com, starttls: false}}
`, host, port), Options{}, "mail")
	m := message()
	m.Recipient = Recipient{}
	m.Title = "evil\r\nBcc: victim@example.com"
	if err := n.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.received(t)
	if strings.Join(got.to, " ") != "TO:<ops@example.com> TO:<sre@example.com>" {
		t.Errorf("recipients %q", got.to)
	}
	msg, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(got.data)))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Bcc") != "" || msg.Header.Get("Subject") != "[P1] INC-12 triggered: evil Bcc: victim@example.com" {
		t.Errorf("a title with a line break injected a header: Subject %q, Bcc %q", msg.Header.Get("Subject"), msg.Header.Get("Bcc"))
	}
}
