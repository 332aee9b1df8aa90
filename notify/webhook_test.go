package notify

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/incidentd/incidentd/clock"
)

func TestWebhookBodyAndSignature(t *testing.T) {
	rec := &recorder{status: http.StatusNoContent}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	clk := clock.NewFake(testNow)
	n := build1(t, `
notifiers:
  - name: ops-webhook
    type: webhook
    url: "`+srv.URL+`/hook"
    hmac_secret: "${secret:hook}"
    headers: {Authorization: "Bearer ${secret:token}", X-Team: shop}
`, Options{Clock: clk, Secrets: secrets(map[string]string{"hook": "s3cr3t-hmac-key", "token": "t0ken"})}, "ops-webhook")

	if err := n.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	req, body := rec.last(t)
	jsonEqual(t, body, `{
	  "version": "1",
	  "id": "INC-12/0/0/user:alice",
	  "event": "trigger",
	  "notifier": "ops-webhook",
	  "time": "2026-03-02T09:59:00Z",
	  "incident": {
	    "id": "INC-12", "title": "Checkout returns 5xx", "priority": "P1", "status": "triggered",
	    "root_cause": "db-1", "impacted_services": ["checkout", "payments"],
	    "labels": {"alertname": "HighErrorRate", "service": "checkout"}
	  },
	  "recipient": {"user": "alice", "to": "alice@example.com"},
	  "escalation": {"level": 1, "loop": 0},
	  "links": {
	    "incident": "https://incidentd.example.com/incidents/INC-12",
	    "acknowledge": "https://incidentd.example.com/l?token=ack",
	    "resolve": "https://incidentd.example.com/l?token=res"
	  }
	}`)
	for k, want := range map[string]string{
		"Content-Type":          "application/json",
		"Authorization":         "Bearer t0ken",
		"X-Team":                "shop",
		"X-Incidentd-Event":     "trigger",
		"X-Incidentd-Delivery":  "INC-12/0/0/user:alice",
		"X-Incidentd-Timestamp": strconv.FormatInt(testNow.Unix(), 10),
	} {
		if got := req.Header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	if req.URL.Path != "/hook" {
		t.Errorf("path %q", req.URL.Path)
	}

	secret := []byte("s3cr3t-hmac-key")
	h := req.Header
	if err := VerifySignature(secret, h, body, testNow.Add(time.Minute), DefaultSignatureTolerance); err != nil {
		t.Fatalf("the signature sent does not verify: %v", err)
	}
	tampered := func(f func(h http.Header, b []byte) (http.Header, []byte)) (http.Header, []byte) {
		return f(h.Clone(), bytes.Clone(body))
	}
	cases := []struct {
		name   string
		h      http.Header
		body   []byte
		secret []byte
		now    time.Time
		want   error
	}{
		{"body changed", nil, bytes.Replace(body, []byte(`"P1"`), []byte(`"P5"`), 1), secret, testNow, ErrSignatureInvalid},
		{"wrong secret", nil, nil, []byte("another-key"), testNow, ErrSignatureInvalid},
		{"timestamp changed", func() http.Header {
			h, _ := tampered(func(h http.Header, b []byte) (http.Header, []byte) {
				h.Set(headerTimestamp, strconv.FormatInt(testNow.Unix()+60, 10))
				return h, b
			})
			return h
		}(), nil, secret, testNow, ErrSignatureInvalid},
		{"signature missing", func() http.Header { h := h.Clone(); h.Del(headerSignature); return h }(), nil, secret, testNow, ErrSignatureInvalid},
		{"replayed too late", nil, nil, secret, testNow.Add(DefaultSignatureTolerance + time.Second), ErrSignatureStale},
		{"from the future", nil, nil, secret, testNow.Add(-DefaultSignatureTolerance - time.Second), ErrSignatureStale},
	}
	for _, tc := range cases {
		hh, bb := tc.h, tc.body
		if hh == nil {
			hh = h
		}
		if bb == nil {
			bb = body
		}
		if err := VerifySignature(tc.secret, hh, bb, tc.now, DefaultSignatureTolerance); !errors.Is(err, tc.want) {
			t.Errorf("%s: VerifySignature = %v, want %v", tc.name, err, tc.want)
		}
	}

	// A retry an hour later is signed with the time it is sent, so that the
	// receiver's replay window does not reject it.
	clk.Advance(time.Hour)
	if err := n.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	req, body = rec.last(t)
	if err := VerifySignature(secret, req.Header, body, clk.Now(), DefaultSignatureTolerance); err != nil {
		t.Errorf("a retry's signature: %v", err)
	}
}

func TestWebhookWithoutSecretIsUnsigned(t *testing.T) {
	rec := &recorder{status: http.StatusOK}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := build1(t, `
notifiers:
  - {name: hook, type: webhook, url: "`+srv.URL+`"}
`, Options{}, "hook")
	m := message()
	m.ID = ""
	if err := n.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	req, _ := rec.last(t)
	if req.Header.Get(headerSignature) != "" {
		t.Errorf("unsigned webhook carries %s", headerSignature)
	}
	if len(req.Header.Get(headerDelivery)) != 32 {
		t.Errorf("a message without id gets a random delivery id, got %q", req.Header.Get(headerDelivery))
	}
}
