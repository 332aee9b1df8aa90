package escalation_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/config"
	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/ingest"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/timers"
)

// smtpSink is a local SMTP server that offers STARTTLS (with a certificate
// the test trusts) and records every mail with the fake clock's time.
type smtpSink struct {
	clk   *clock.Fake
	tls   *tls.Config
	ln    net.Listener
	mu    sync.Mutex
	mails []string
}

func newSMTPSink(t *testing.T, clk *clock.Fake) (*smtpSink, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{clk: clk, ln: ln, tls: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}
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
	return s, pool
}

func (s *smtpSink) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *smtpSink) serve(c net.Conn) {
	defer c.Close()
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 127.0.0.1 ESMTP test")
	secure := false
	var rcpts []string
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			if secure {
				tp.PrintfLine("250 127.0.0.1")
			} else {
				tp.PrintfLine("250-127.0.0.1")
				tp.PrintfLine("250 STARTTLS")
			}
		case "STARTTLS":
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, secure = tc, true
			tp = textproto.NewConn(tc)
		case "MAIL":
			if !secure {
				tp.PrintfLine("530 5.7.0 STARTTLS first")
				continue
			}
			rcpts = nil
			tp.PrintfLine("250 ok")
		case "RCPT":
			rcpts = append(rcpts, strings.Trim(strings.TrimPrefix(strings.ToUpper(arg[:3]), "TO:")+arg[3:], "<>"))
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go ahead")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			s.record(rcpts, data)
			tp.PrintfLine("250 queued")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("250 ok")
		}
	}
}

// record keeps "HH:MM:SS TO SUBJECT".
func (s *smtpSink) record(rcpts []string, data []byte) {
	m, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(data)))
	subject := "unreadable mail"
	if err == nil {
		subject, _ = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range rcpts {
		s.mails = append(s.mails, fmt.Sprintf("%s %s %s", s.clk.Now().Format("15:04:05"), strings.TrimPrefix(r, "TO:"), subject))
	}
}

func (s *smtpSink) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.mails
	s.mails = nil
	slices.Sort(out)
	return out
}

// pdSink is a PagerDuty Events API v2 endpoint; it answers 503 as many
// times as fail says first.
type pdSink struct {
	clk    *clock.Fake
	fail   atomic.Int32
	mu     sync.Mutex
	events []string
}

func (p *pdSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v2/enqueue" {
		http.NotFound(w, r)
		return
	}
	if p.fail.Add(-1) >= 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	var ev struct {
		RoutingKey string `json:"routing_key"`
		Action     string `json:"event_action"`
		DedupKey   string `json:"dedup_key"`
		Payload    *struct {
			Summary  string `json:"summary"`
			Severity string `json:"severity"`
		} `json:"payload"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &ev); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	s := fmt.Sprintf("%s %s %s key=%s", p.clk.Now().Format("15:04:05"), ev.Action, ev.DedupKey, ev.RoutingKey)
	if ev.Payload != nil {
		s += " " + ev.Payload.Severity + " " + ev.Payload.Summary
	}
	p.mu.Lock()
	p.events = append(p.events, s)
	p.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, `{"status":"success","message":"Event processed","dedup_key":%q}`, ev.DedupKey)
}

func (p *pdSink) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.events
	p.events = nil
	return out
}

const e2eConfig = `
priority: {default_impact: 1}
oncall:
  users:
    - {id: alice, timezone: UTC, contacts: [{notifier: mail, to: alice@example.com}, {notifier: hook}]}
    - {id: bob, timezone: UTC, contacts: [{notifier: mail, to: bob@example.com}]}
    - {id: carol, timezone: UTC, contacts: [{notifier: mail, to: carol@example.com}]}
  schedules:
    - id: primary
      timezone: UTC
      layers:
        - rotation: {type: daily, handoff: "09:00"}
          start: 2026-01-05
          participants: [alice, bob]
  escalation_policies:
    - id: shop
      repeat: 1
      levels:
        - {targets: [schedule:primary, notifier:pagerduty-shop], timeout: 5m}
        - {targets: [user:carol], timeout: 10m}
  routes:
    - {match: '{team="shop"}', policy: shop, delay: 1m}
notifiers:
  - {name: pagerduty-shop, type: pagerduty, routing_key: "${secret:pd_shop}", events_url: PD_URL}
  - {name: hook, type: webhook, url: HOOK_URL, hmac_secret: "${secret:hook}"}
  - name: mail
    type: email
    smtp: {host: 127.0.0.1, port: SMTP_PORT, from: "incidentd <incidentd@example.com>"}
`

// node is one incidentd process as far as escalation goes: the store,
// ingest (the Alertmanager webhook), the API (the PagerDuty webhook) and
// the engine with its timers.
type node struct {
	st        *store.Store
	sch       *timers.Scheduler
	eng       *escalation.Engine
	committer *ingest.Committer
	srv       *httptest.Server
}

type e2e struct {
	t    *testing.T
	ctx  context.Context
	dsn  string
	clk  *clock.Fake
	cfg  *config.Config
	pool *x509.CertPool
	n    *node
}

func (e *e2e) start() {
	t := e.t
	st, err := store.Open(e.ctx, e.dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secrets := func(name string) (string, error) { return "secret-" + name, nil }
	ns, err := notify.New(e.cfg.Notifiers, notify.Options{Clock: e.clk, Secrets: secrets, TLSConfig: &tls.Config{RootCAs: e.pool}})
	if err != nil {
		t.Fatal(err)
	}
	setup, err := escalation.NewSetup(e.cfg.Oncall, e.cfg.SLA, ns)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{st: st, sch: timers.New(st, e.clk, timers.Options{})}
	n.eng, err = escalation.New(setup, escalation.Options{
		Store: st, Timers: n.sch, Clock: e.clk, PagerDutyWebhookSecrets: []string{"pd-v3-secret"},
		DeliveryRetry: timers.Retry{MaxAttempts: 5, Initial: 10 * time.Second, Max: time.Minute},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.eng.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	var policy atomic.Pointer[incident.Policy]
	p := e.cfg.Policy()
	policy.Store(&p)
	n.committer = ingest.NewCommitter(st, &policy, ingest.CommitterOptions{Clock: e.clk})
	mux := http.NewServeMux()
	ingest.NewHandler(n.committer, ingest.HandlerOptions{MaxBodyBytes: 1 << 20, RetryAfter: time.Second}).Register(mux)
	api.New(st, nil, e.clk, nil).WithEscalation(n.eng).Register(mux)
	n.srv = httptest.NewServer(mux)
	e.n = n
}

// stop ends the node the hard way: nothing is drained or finished first.
func (e *e2e) stop() {
	e.n.srv.Close()
	e.n.committer.Close()
	e.n.st.Close()
	e.n = nil
}

func (e *e2e) settle() {
	e.t.Helper()
	for i := 0; i < 100; i++ {
		if err := e.n.eng.Drain(e.ctx); err != nil {
			e.t.Fatal(err)
		}
		n, err := e.n.sch.RunDue(e.ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if n == 0 {
			if err := e.n.eng.Drain(e.ctx); err != nil {
				e.t.Fatal(err)
			}
			return
		}
	}
	e.t.Fatal("not settled")
}

// at moves the clock to HH:MM:SS of t0's day, settling every second on the
// way so that nothing fires late.
func (e *e2e) at(hms string) { e.t.Helper(); e.stepTo(hms, time.Second) }

// skip is at for quiet stretches, where nothing is due between minutes.
func (e *e2e) skip(hms string) { e.t.Helper(); e.stepTo(hms, time.Minute) }

func (e *e2e) stepTo(hms string, step time.Duration) {
	e.t.Helper()
	d, err := time.Parse("15:04:05", hms)
	if err != nil {
		e.t.Fatal(err)
	}
	target := time.Date(t0.Year(), t0.Month(), t0.Day(), d.Hour(), d.Minute(), d.Second(), 0, time.UTC)
	for e.clk.Now().Before(target) {
		next := e.clk.Now().Truncate(step).Add(step)
		if next.After(target) {
			next = target
		}
		e.clk.Set(next)
		e.settle()
	}
}

func (e *e2e) post(path, body string, header http.Header) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("POST", e.n.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *e2e) alertmanager(status string) {
	e.t.Helper()
	now := e.clk.Now().Format(time.RFC3339)
	ends := "0001-01-01T00:00:00Z"
	if status == "resolved" {
		ends = now
	}
	body := `{"version": "4", "groupKey": "{}:{alertname=\"CheckoutDown\"}", "status": "` + status + `", "receiver": "incidentd", "alerts": [
		{"status": "` + status + `", "labels": {"alertname": "CheckoutDown", "service": "checkout", "team": "shop", "severity": "critical"},
		 "annotations": {"summary": "Checkout is down"}, "startsAt": "` + t0.Format(time.RFC3339) + `", "endsAt": "` + ends + `", "fingerprint": "c0ffee"}]}`
	if code, b := e.post("/api/v1/alerts/alertmanager", body, nil); code != 200 {
		e.t.Fatalf("alertmanager webhook: %d %s", code, b)
	}
	e.settle()
}

func want(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	got = slices.Sorted(slices.Values(got))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestEndToEnd pages through ingest, PagerDuty (go-pagerduty to a local
// Events API), a signed webhook and mail (a local SMTP server with
// STARTTLS), restarts in the middle, stops on a PagerDuty v3 acknowledge
// webhook, and tells everyone when the alert resolves.
func TestEndToEnd(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		clk := clock.NewFake(t0)
		pd := &pdSink{clk: clk}
		pdSrv := httptest.NewServer(pd)
		t.Cleanup(pdSrv.Close)
		hook := newReceiver(t, clk)
		var badSignatures atomic.Int32
		hookSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if err := notify.VerifySignature([]byte("secret-hook"), r.Header, body, clk.Now(), notify.DefaultSignatureTolerance); err != nil {
				badSignatures.Add(1)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			hook.serve(w, r)
		}))
		t.Cleanup(hookSrv.Close)
		smtp, pool := newSMTPSink(t, clk)
		text := strings.NewReplacer("PD_URL", pdSrv.URL, "HOOK_URL", hookSrv.URL, "SMTP_PORT", fmt.Sprint(smtp.port())).Replace(e2eConfig)
		cfg, err := config.Parse("e2e.yml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		e := &e2e{t: t, ctx: context.Background(), dsn: storetest.DSN(t, b), clk: clk, cfg: cfg, pool: pool}
		e.start()
		defer func() {
			if e.n != nil {
				e.stop()
			}
		}()

		// 10:00 the alert arrives; the route's delay holds paging for 1m.
		e.alertmanager("firing")
		e.at("10:00:59")
		want(t, "PagerDuty before the delay", pd.take())
		want(t, "mail before the delay", smtp.take())

		// 10:01 level 1: whoever is on call (alice) and the PagerDuty
		// service. PagerDuty answers 503 once: retried 5-10 s later.
		pd.fail.Store(1)
		e.at("10:01:00")
		want(t, "mail at 10:01", smtp.take(), "10:01:00 alice@example.com [P1] INC-1 triggered: Checkout is down")
		e.wantHook(hook, "10:01:00 trigger alice L0/o0")
		want(t, "PagerDuty at 10:01", pd.take())

		// The process dies with the PagerDuty retry pending, and starts again.
		e.stop()
		e.start()
		e.at("10:01:10")
		// Backoff with jitter: 5 to 10 s after the failure, exactly once.
		retried := pd.take()
		if len(retried) != 1 || !strings.HasSuffix(retried[0], " trigger INC-1 key=secret-pd_shop critical [P1] INC-1: Checkout is down") ||
			retried[0][:8] < "10:01:05" || retried[0][:8] > "10:01:10" {
			t.Errorf("PagerDuty after the restart: %q, want one trigger between 10:01:05 and 10:01:10", retried)
		}

		// 10:06 level 2: carol. Restart again just before.
		e.at("10:05:59")
		e.stop()
		e.start()
		e.at("10:06:00")
		want(t, "mail at 10:06", smtp.take(), "10:06:00 carol@example.com [P1] INC-1 escalated: Checkout is down")

		// 10:07 someone acknowledges in PagerDuty's app.
		e.at("10:07:00")
		ack := `{"event":{"id":"01","event_type":"incident.acknowledged","resource_type":"incident","occurred_at":"2026-03-02T10:07:00Z",` +
			`"agent":{"id":"PU","summary":"Carol","type":"user_reference"},"data":{"id":"Q","type":"incident","number":1,"status":"acknowledged","incident_key":"INC-1","title":"[P1] INC-1: Checkout is down"}}}`
		mac := hmac.New(sha256.New, []byte("pd-v3-secret"))
		mac.Write([]byte(ack))
		if code, body := e.post("/api/v1/hooks/pagerduty", ack, http.Header{"X-Pagerduty-Signature": {"v1=" + hex.EncodeToString(mac.Sum(nil))}}); code != 200 {
			t.Fatalf("PagerDuty webhook: %d %s", code, body)
		}
		e.settle()
		want(t, "PagerDuty at the ack", pd.take(), "10:07:00 acknowledge INC-1 key=secret-pd_shop")
		want(t, "mail at the ack", smtp.take(),
			"10:07:00 alice@example.com [P1] INC-1 acknowledged: Checkout is down", "10:07:00 carol@example.com [P1] INC-1 acknowledged: Checkout is down")
		e.wantHook(hook, "10:07:00 acknowledge alice L0/o0")

		// Nothing more is paged while acknowledged.
		e.skip("10:39:00")
		want(t, "PagerDuty while acknowledged", pd.take())
		want(t, "mail while acknowledged", smtp.take())
		e.wantHook(hook)

		// 10:40 the alert resolves: the incident resolves and everyone
		// paged hears, once.
		e.at("10:40:00")
		e.alertmanager("resolved")
		e.skip("11:30:00")
		want(t, "PagerDuty at the resolution", pd.take(), "10:40:00 resolve INC-1 key=secret-pd_shop")
		want(t, "mail at the resolution", smtp.take(),
			"10:40:00 alice@example.com [P1] INC-1 resolved: Checkout is down", "10:40:00 carol@example.com [P1] INC-1 resolved: Checkout is down")
		e.wantHook(hook, "10:40:00 resolve alice L0/o0")
		if n := badSignatures.Load(); n != 0 {
			t.Errorf("%d webhook deliveries with a bad signature", n)
		}

		// The notifications as the store keeps them: every one sent once.
		ns, err := e.n.st.IncidentNotifications(e.ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range ns {
			got = append(got, fmt.Sprintf("%s %s %s %s", n.Event, n.Notifier, n.User, n.State))
		}
		want(t, "notifications", got,
			"trigger mail alice sent", "trigger hook alice sent", "trigger pagerduty-shop  sent", "escalate mail carol sent",
			"acknowledge mail alice sent", "acknowledge hook alice sent", "acknowledge pagerduty-shop  sent", "acknowledge mail carol sent",
			"resolve mail alice sent", "resolve hook alice sent", "resolve pagerduty-shop  sent", "resolve mail carol sent")
	})
}

func (e *e2e) wantHook(r *receiver, pages ...string) {
	e.t.Helper()
	var got []string
	for _, p := range r.take() {
		got = append(got, fmt.Sprintf("%s %s %s L%d/o%d", p.At.Format("15:04:05"), p.Event, p.User, p.Level, p.Loop))
	}
	want(e.t, "webhook", got, pages...)
}
