package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/clock"
)

// closedAddr returns a local address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestHTTPResultClassification(t *testing.T) {
	dead := "http://" + closedAddr(t)
	cases := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		url        string // instead of the server
		permanent  bool
		retryAfter time.Duration
		code       int
		msg        string
	}{
		{name: "400 bad request", status: 400, body: `{"status":"invalid event","message":"Event object is invalid","errors":["'payload.summary' is missing"]}`,
			permanent: true, code: 400, msg: "HTTP 400 Bad Request"},
		{name: "404 not found", status: 404, body: "no_service", permanent: true, code: 404, msg: "HTTP 404 Not Found"},
		{name: "410 gone", status: 410, body: "channel_is_archived", permanent: true, code: 410, msg: "channel_is_archived"},
		{name: "408 timeout", status: 408, code: 408, msg: "HTTP 408"},
		{name: "429 with Retry-After seconds", status: 429, header: map[string]string{"Retry-After": "30"}, code: 429, retryAfter: 30 * time.Second},
		{name: "429 with Retry-After date", status: 429, header: map[string]string{"Retry-After": testNow.Add(2 * time.Minute).Format(http.TimeFormat)}, code: 429, retryAfter: 2 * time.Minute},
		{name: "429 without Retry-After", status: 429, code: 429},
		{name: "500", status: 500, code: 500, msg: "HTTP 500 Internal Server Error"},
		{name: "503 with Retry-After", status: 503, header: map[string]string{"Retry-After": "5"}, code: 503, retryAfter: 5 * time.Second},
		{name: "302 is not followed", status: 302, header: map[string]string{"Location": "https://elsewhere.example.com/"}, permanent: true, code: 302, msg: "redirects are not followed"},
		{name: "connection refused", url: dead, msg: "connection refused"},
	}
	for _, typ := range []string{TypeWebhook, TypePagerDuty, TypeSlack} {
		for _, tc := range cases {
			t.Run(typ+"/"+tc.name, func(t *testing.T) {
				rec := &recorder{status: tc.status, header: tc.header, body: tc.body}
				srv := httptest.NewServer(rec)
				defer srv.Close()
				url := srv.URL
				if tc.url != "" {
					url = tc.url
				}
				cfg := Config{{Name: "n", Type: typ}}
				switch typ {
				case TypeWebhook:
					cfg[0].URL = Secret(url)
				case TypeSlack:
					cfg[0].WebhookURL = Secret(url)
				case TypePagerDuty:
					cfg[0].RoutingKey, cfg[0].EventsURL = "key", url
				}
				ns, err := New(cfg, Options{Clock: clock.NewFake(testNow)})
				if err != nil {
					t.Fatal(err)
				}
				n, _ := ns.Get("n")
				err = n.Send(context.Background(), message())
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("Send = %v, want an *Error", err)
				}
				if IsPermanent(err) != tc.permanent {
					t.Errorf("IsPermanent = %v, want %v (%v)", IsPermanent(err), tc.permanent, err)
				}
				ra, ok := RetryAfter(err)
				if ra != tc.retryAfter || ok != (tc.retryAfter > 0) {
					t.Errorf("RetryAfter = %v, %v; want %v", ra, ok, tc.retryAfter)
				}
				if e.Code != tc.code {
					t.Errorf("Code = %d, want %d", e.Code, tc.code)
				}
				if !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "notify n ("+typ+"): ") {
					t.Errorf("error %q lacks %q", err, tc.msg)
				}
			})
		}
	}
}

func TestContextErrorsAreRetryable(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	n := build1(t, `
notifiers:
  - {name: hook, type: webhook, url: "`+srv.URL+`", timeout: 50ms}
`, Options{}, "hook")
	err := n.Send(context.Background(), message())
	if err == nil || IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send to a hung endpoint = %v, want a retryable deadline error", err)
	}
}

func TestInvalidMessagesArePermanent(t *testing.T) {
	n := build1(t, `
notifiers:
  - {name: hook, type: webhook, url: "http://127.0.0.1:1"}
`, Options{}, "hook")
	for _, m := range []Message{{Event: EventTrigger}, {Event: "page", IncidentID: "INC-1"}} {
		if err := n.Send(context.Background(), m); !IsPermanent(err) {
			t.Errorf("Send(%+v) = %v, want a permanent error", m, err)
		}
	}
}

func TestUnclassifiedErrors(t *testing.T) {
	for _, err := range []error{nil, errors.New("x"), context.Canceled} {
		if IsPermanent(err) {
			t.Errorf("IsPermanent(%v)", err)
		}
		if _, ok := RetryAfter(err); ok {
			t.Errorf("RetryAfter(%v)", err)
		}
	}
}

func TestHTTPSTrustComesFromTLSConfig(t *testing.T) {
	srv := httptest.NewTLSServer(&recorder{status: 200})
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	doc := `
notifiers:
  - {name: hook, type: webhook, url: "` + srv.URL + `"}
`
	trusted := build1(t, doc, Options{TLSConfig: &tls.Config{RootCAs: pool}}, "hook")
	if err := trusted.Send(context.Background(), message()); err != nil {
		t.Errorf("with the server's CA: %v", err)
	}
	untrusted := build1(t, doc, Options{TLSConfig: &tls.Config{RootCAs: x509.NewCertPool()}}, "hook")
	err := untrusted.Send(context.Background(), message())
	if !IsPermanent(err) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("an untrusted certificate: %v, want a permanent certificate error", err)
	}
}
