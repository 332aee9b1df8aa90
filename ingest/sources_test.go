package ingest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/web"
)

// testSecrets resolves ${secret:NAME} from a map.
func testSecrets(m map[string]string) SecretFunc {
	return func(name string) (string, error) {
		if v, ok := m[name]; ok {
			return v, nil
		}
		return "", fmt.Errorf("secret %q not found", name)
	}
}

type integrationServer struct {
	url     string
	handler *Handler
}

// newIntegrationServer serves the integrations of configYAML (an
// integrations: section) with secrets, committing to s.
func newIntegrationServer(t *testing.T, s Store, configYAML string, secrets map[string]string, o HandlerOptions) integrationServer {
	t.Helper()
	list, err := parseIntegrations(t, "test.yml", []byte(configYAML))
	if err != nil {
		t.Fatal(err)
	}
	p := incident.DefaultPolicy()
	var policy atomic.Pointer[incident.Policy]
	policy.Store(&p)
	c := NewCommitter(s, &policy, CommitterOptions{Clock: o.Clock})
	if o.Heartbeats != nil {
		o.Heartbeats.SetCommitter(c)
		if err := o.Heartbeats.SetConfig(context.Background(), list); err != nil {
			t.Fatal(err)
		}
	}
	h := NewHandler(c, o)
	if err := h.SetIntegrations(list, testSecrets(secrets)); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(web.Logged(nil, mux))
	t.Cleanup(func() { srv.Close(); c.Close() })
	return integrationServer{url: srv.URL, handler: h}
}

type sent struct {
	code   int
	header http.Header
	body   []byte
}

func send(t *testing.T, url string, header http.Header, body string) sent {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return sent{resp.StatusCode, resp.Header, raw}
}

func sign(key, body string) string {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

const secretsYAML = `integrations:
  - name: prod-am
    type: alertmanager
    secret: ${secret:am_token}
  - name: signed
    type: generic
    hmac: {header: X-Signature, secret: '${secret:sig_key}', prefix: 'sha256='}
  - name: cw
    type: mapping
    secret: ${secret:cw_token}
    mapping:
      alerts: Records
      labels: {alertname: '{{ .name }}'}
`

// Each integration takes only requests with its secret; the others get a
// 401 that names no secret, and nothing of theirs is stored. A fixed route
// that no integration claims stays open.
func TestIntegrationSecretsAreEnforced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		secrets := map[string]string{"am_token": "am-s3cret", "sig_key": "k3y", "cw_token": "cw-s3cret"}
		srv := newIntegrationServer(t, s, secretsYAML, secrets, HandlerOptions{})
		n := 0
		am := func() string { n++; return amBody(fmt.Sprintf(`{"status":"firing","labels":{"alertname":"A%d"}}`, n)) }
		generic := func() string { n++; return fmt.Sprintf(`[{"labels":{"alertname":"G%d"}}]`, n) }
		cw := func() string { n++; return fmt.Sprintf(`{"Records":[{"name":"C%d"}]}`, n) }
		grafana := func() string {
			n++
			return fmt.Sprintf(`{"version":"1","alerts":[{"status":"firing","labels":{"alertname":"F%d"},"fingerprint":"f%d"}]}`, n, n)
		}
		bearer := func(v string) http.Header { return http.Header{"Authorization": {"Bearer " + v}} }
		sig := func(v string) http.Header { return http.Header{"X-Signature": {v}} }
		body := generic()
		tests := []struct {
			name   string
			path   string
			header http.Header
			body   string
			want   int
		}{
			{"alertmanager without token", "/api/v1/alerts/alertmanager", nil, am(), 401},
			{"alertmanager wrong bearer", "/api/v1/alerts/alertmanager", bearer("am-s3cre"), am(), 401},
			{"alertmanager basic auth", "/api/v1/alerts/alertmanager", http.Header{"Authorization": {"Basic YW06YW0tczNjcmV0"}}, am(), 401},
			{"alertmanager wrong query token", "/api/v1/alerts/alertmanager?token=nope", nil, am(), 401},
			{"alertmanager another integration's token", "/api/v1/alerts/alertmanager", bearer("cw-s3cret"), am(), 401},
			{"alertmanager bearer", "/api/v1/alerts/alertmanager", bearer("am-s3cret"), am(), 200},
			{"alertmanager query token", "/api/v1/alerts/alertmanager?token=am-s3cret", nil, am(), 200},
			{"alertmanager by name", "/api/v1/integrations/prod-am", bearer("am-s3cret"), am(), 200},
			{"alertmanager by name without token", "/api/v1/integrations/prod-am", nil, am(), 401},
			{"generic without signature", "/api/v1/alerts", nil, generic(), 401},
			{"generic signature of another body", "/api/v1/alerts", sig(sign("k3y", "[]")), generic(), 401},
			{"generic signature with another key", "/api/v1/alerts", sig(sign("k3", body)), body, 401},
			{"generic signature not hex", "/api/v1/alerts", sig("sha256=zz"), generic(), 401},
			{"generic bearer instead of signature", "/api/v1/alerts", bearer("k3y"), generic(), 401},
			{"generic signed", "/api/v1/alerts", sig(sign("k3y", body)), body, 200},
			{"mapping without token", "/api/v1/integrations/cw", nil, cw(), 401},
			{"mapping with token", "/api/v1/integrations/cw?token=cw-s3cret", nil, cw(), 200},
			{"unknown integration", "/api/v1/integrations/nope", bearer("am-s3cret"), am(), 404},
			{"grafana, claimed by none, is open", "/api/v1/alerts/grafana", nil, grafana(), 200},
			{"pagerduty, claimed by none, is open", "/v2/enqueue", nil, `{"routing_key":"any","event_action":"trigger","dedup_key":"d","payload":{"summary":"s","source":"h","severity":"info"}}`, 202},
		}
		stored := 0
		for _, tt := range tests {
			got := send(t, srv.url+tt.path, tt.header, tt.body)
			if got.code != tt.want {
				t.Errorf("%s: status %d (%s), want %d", tt.name, got.code, got.body, tt.want)
				continue
			}
			if got.code < 300 {
				stored++
				continue
			}
			var e web.Error
			if err := json.Unmarshal(got.body, &e); err != nil || e.Error == "" {
				t.Errorf("%s: %d without a JSON error: %s", tt.name, got.code, got.body)
			}
			for _, v := range secrets {
				if bytes.Contains(got.body, []byte(v)) {
					t.Errorf("%s: the answer shows a secret: %s", tt.name, got.body)
				}
			}
		}
		alerts, err := s.Alerts(context.Background(), store.AlertFilter{Limit: 100})
		if err != nil || len(alerts) != stored {
			t.Fatalf("%d alerts stored (%v), want %d: one per accepted request", len(alerts), err, stored)
		}
		for _, a := range alerts {
			if strings.HasPrefix(a.Labels["alertname"], "A") && a.Source != "prod-am" {
				t.Errorf("alert %s: source %q, want the integration's name", a.Labels["alertname"], a.Source)
			}
		}
	})
}

func TestSetIntegrationsFailsOnMissingSecretAndKeepsTheOldOnes(t *testing.T) {
	srv := newIntegrationServer(t, &countingStore{}, secretsYAML, map[string]string{"am_token": "a", "sig_key": "k", "cw_token": "c"}, HandlerOptions{})
	list, err := parseIntegrations(t, "test.yml", []byte("integrations:\n  - {name: x, type: alertmanager, secret: '${secret:gone}'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = srv.handler.SetIntegrations(list, testSecrets(nil))
	if err == nil || !strings.Contains(err.Error(), `integrations x: secret: secret "gone" not found`) {
		t.Fatalf("error %v", err)
	}
	if got := send(t, srv.url+"/api/v1/alerts/alertmanager", nil, amBody(amAlert)); got.code != 401 {
		t.Fatalf("after a failed reload the old secret should still hold: %d", got.code)
	}
}

// countingStore stores nothing and counts the alerts it was given.
type countingStore struct {
	mu     sync.Mutex
	alerts []incident.AlertInput
}

func (c *countingStore) Ingest(_ context.Context, _ *incident.Policy, in []incident.AlertInput, _ time.Time) (incident.Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.alerts = append(c.alerts, in...)
	return incident.Stats{}, nil
}

func (c *countingStore) got() []incident.AlertInput {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]incident.AlertInput(nil), c.alerts...)
}

func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
	cs := &countingStore{}
	srv := newIntegrationServer(t, cs, `integrations:
  - {name: slow, type: generic, rate_limit: {per_second: 0.5, burst: 2}}
  - {name: other, type: grafana, rate_limit: {per_second: 1}}
`, nil, HandlerOptions{Clock: clk})
	body := `[{"labels":{"alertname":"A"}}]`
	for i, want := range []int{200, 200, 429, 429} {
		got := send(t, srv.url+"/api/v1/alerts", nil, body)
		if got.code != want {
			t.Fatalf("request %d: %d, want %d", i, got.code, want)
		}
		if want == 429 {
			var e web.Error
			if json.Unmarshal(got.body, &e) != nil || !strings.Contains(e.Error, `rate limit of integration "slow"`) {
				t.Fatalf("429 body %s", got.body)
			}
			if ra := got.header.Get("Retry-After"); ra != "2" {
				t.Fatalf("Retry-After %q, want 2 (one token per 2s)", ra)
			}
		}
	}
	// Another integration has its own bucket.
	if got := send(t, srv.url+"/api/v1/integrations/other", nil, `{"version":"1","alerts":[{"status":"firing","labels":{"a":"b"}}]}`); got.code != 200 {
		t.Fatalf("other integration: %d %s", got.code, got.body)
	}
	clk.Advance(2 * time.Second)
	if got := send(t, srv.url+"/api/v1/alerts", nil, body); got.code != 200 {
		t.Fatalf("after the refill: %d", got.code)
	}
	if n := len(cs.got()); n != 4 {
		t.Fatalf("%d alerts committed, want 4 (throttled requests commit nothing)", n)
	}
}

// fakeAcker records acknowledgements.
type fakeAcker struct {
	mu    sync.Mutex
	calls []string
}

func (f *fakeAcker) AcknowledgeAlert(_ context.Context, fp, actor string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fp+" by "+actor)
	return "INC-1", nil
}

func TestPagerDutyEndpointAnswersLikePagerDuty(t *testing.T) {
	cs := &countingStore{}
	acker := &fakeAcker{}
	srv := newIntegrationServer(t, cs, `integrations:
  - {name: pd-db, type: pagerduty, routing_key: '${secret:pd_db}'}
  - {name: pd-web, type: pagerduty, routing_key: '${secret:pd_web}'}
`, map[string]string{"pd_db": "db0000000000000000000000000000000", "pd_web": "web000000000000000000000000000000"}, HandlerOptions{Acknowledger: acker})
	trigger := `{"routing_key":"web000000000000000000000000000000","event_action":"trigger","dedup_key":"k1","payload":{"summary":"s","source":"h","severity":"error"}}`
	tests := []struct {
		name, path, ctype, body string
		want                    int
		wantBody                pagerDutyResponse
	}{
		{"unknown routing key", "/v2/enqueue", "application/json", strings.Replace(trigger, "web000", "xyz000", 1), 401,
			pagerDutyResponse{Status: "unauthorized", Message: "unknown routing_key", Errors: []string{"unknown routing_key"}}},
		{"invalid event", "/v2/enqueue", "application/json", `{"routing_key":"web000000000000000000000000000000","event_action":"trigger","payload":{"summary":"s"}}`, 400,
			pagerDutyResponse{Status: "invalid event", Message: "Event object is invalid", Errors: []string{"'payload.source' is missing or blank", "'payload.severity' must be one of critical, error, warning, info"}}},
		{"not json", "/v2/enqueue", "application/json", `{`, 400,
			pagerDutyResponse{Status: "invalid event", Message: "Event object is invalid", Errors: []string{"malformed JSON at offset 1: unexpected end of JSON input"}}},
		{"wrong content type", "/v2/enqueue", "text/plain", trigger, 415,
			pagerDutyResponse{Status: "unsupported media type", Message: `Content-Type must be application/json, got "text/plain"`, Errors: []string{`Content-Type must be application/json, got "text/plain"`}}},
		{"the other integration's name", "/api/v1/integrations/pd-db", "application/json", trigger, 401,
			pagerDutyResponse{Status: "unauthorized", Message: "unknown routing_key for this integration", Errors: []string{"unknown routing_key for this integration"}}},
		{"trigger", "/v2/enqueue", "application/json", trigger, 202,
			pagerDutyResponse{Status: "success", Message: "Event processed", DedupKey: "k1"}},
		{"trigger at the second URL", "/api/v1/alerts/pagerduty", "application/json", trigger, 202,
			pagerDutyResponse{Status: "success", Message: "Event processed", DedupKey: "k1"}},
		{"trigger by name", "/api/v1/integrations/pd-web", "application/json", trigger, 202,
			pagerDutyResponse{Status: "success", Message: "Event processed", DedupKey: "k1"}},
		{"acknowledge", "/v2/enqueue", "application/json", `{"routing_key":"web000000000000000000000000000000","event_action":"acknowledge","dedup_key":"k1"}`, 202,
			pagerDutyResponse{Status: "success", Message: "Event processed; INC-1 acknowledged", DedupKey: "k1"}},
	}
	for _, tt := range tests {
		got := send(t, srv.url+tt.path, http.Header{"Content-Type": {tt.ctype}}, tt.body)
		var resp pagerDutyResponse
		if err := json.Unmarshal(got.body, &resp); err != nil {
			t.Fatalf("%s: body %s", tt.name, got.body)
		}
		if got.code != tt.want || fmt.Sprint(resp) != fmt.Sprint(tt.wantBody) {
			t.Errorf("%s: %d %+v, want %d %+v", tt.name, got.code, resp, tt.want, tt.wantBody)
		}
	}
	alerts := cs.got()
	fp := dedupFingerprint("pagerduty\x00web000000000000000000000000000000", "k1")
	if len(alerts) != 3 || alerts[0].Source != "pd-web" || alerts[0].Fingerprint != fp {
		t.Fatalf("committed %+v", alerts)
	}
	if len(acker.calls) != 1 || acker.calls[0] != fp+" by integration:pd-web" {
		t.Fatalf("acknowledged %v", acker.calls)
	}
}

// Every new endpoint commits through the committer (or the store), and a
// failing store answers 503 with Retry-After, in the source's own format.
func TestNewEndpointsAnswer503WhenTheStoreFails(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		clk := clock.NewFake(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
		srv := newIntegrationServer(t, s, `integrations:
  - {name: hb, type: heartbeat, interval: 1m}
  - name: m
    type: mapping
    mapping: {labels: {alertname: '{{ .name }}'}}
`, nil, HandlerOptions{Clock: clk, Heartbeats: NewHeartbeats(s, clk, nil)})
		s.Close() // every commit now fails
		for _, tt := range []struct{ name, path, body string }{
			{"grafana", "/api/v1/alerts/grafana", `{"version":"1","alerts":[{"status":"firing","labels":{"a":"b"}}]}`},
			{"pagerduty", "/v2/enqueue", `{"routing_key":"k","event_action":"trigger","payload":{"summary":"s","source":"h","severity":"info"}}`},
			{"mapping", "/api/v1/integrations/m", `{"name":"x"}`},
			{"heartbeat", "/api/v1/heartbeats/hb", ``},
		} {
			got := send(t, srv.url+tt.path, nil, tt.body)
			if got.code != http.StatusServiceUnavailable || got.header.Get("Retry-After") != "5" {
				t.Errorf("%s: %d Retry-After %q (%s), want 503 with Retry-After 5", tt.name, got.code, got.header.Get("Retry-After"), got.body)
			}
			if tt.name == "pagerduty" && !bytes.Contains(got.body, []byte(`"status":"service unavailable"`)) {
				t.Errorf("pagerduty 503 body %s", got.body)
			}
		}
	})
}
