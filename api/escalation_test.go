package api_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/config"
	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/timers"
	"github.com/incidentd/incidentd/web"
)

const escConfig = `
priority: {default_impact: 1}
oncall:
  users:
    - {id: alice, name: Alice, timezone: UTC, contacts: [{notifier: hook, to: alice@example.com}]}
    - {id: bob, timezone: UTC, contacts: [{notifier: hook, to: bob@example.com}]}
  schedules:
    - id: primary
      timezone: UTC
      layers:
        - rotation: {type: daily, handoff: "09:00"}
          start: 2026-01-05
          participants: [alice, bob]
      overrides:
        - {user: bob, start: 2026-11-22T12:00:00Z, end: 2026-11-22T14:00:00Z}
  escalation_policies:
    - id: shop
      levels:
        - {targets: [schedule:primary], timeout: 5m}
        - {targets: [user:bob], timeout: 5m}
  routes:
    - {match: '{team="shop"}', policy: shop}
sla:
  policies:
    - match: '{}'
      targets: {P1: {acknowledge: 5m, resolve: 1h}}
notifiers:
  - {name: hook, type: webhook, url: HOOK_URL}
`

const pdSecret = "pd-webhook-secret"

type escEnv struct {
	srv *httptest.Server
	st  *store.Store
	clk *clock.Fake
	eng *escalation.Engine
	sch *timers.Scheduler
	key []byte
}

// settle drains the outbox and fires due timers until nothing is left.
func (e *escEnv) settle(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < 50; i++ {
		if err := e.eng.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		n, err := e.sch.RunDue(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("not settled")
}

func escSetup(t *testing.T, b store.Backend) *escEnv {
	t.Helper()
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(hook.Close)
	cfg, err := config.Parse("test.yml", []byte(strings.ReplaceAll(escConfig, "HOOK_URL", hook.URL)))
	if err != nil {
		t.Fatal(err)
	}
	env := &escEnv{st: storetest.Open(t, b), clk: clock.NewFake(t0), key: []byte(strings.Repeat("k", 32))}
	ns, err := notify.New(cfg.Notifiers, notify.Options{Clock: env.clk})
	if err != nil {
		t.Fatal(err)
	}
	setup, err := escalation.NewSetup(cfg.Oncall, cfg.SLA, ns)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := notify.NewSigner(env.key)
	if err != nil {
		t.Fatal(err)
	}
	env.sch = timers.New(env.st, env.clk, timers.Options{})
	env.eng, err = escalation.New(setup, escalation.Options{
		Store: env.st, Timers: env.sch, Clock: env.clk, Signer: signer, ExternalURL: "https://incidentd.example.com",
		PagerDutyWebhookSecrets: []string{"old-secret", pdSecret},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(env.st, nil, env.clk, nil).WithEscalation(env.eng).Register(mux)
	env.srv = httptest.NewServer(mux)
	t.Cleanup(env.srv.Close)
	p := cfg.Policy()
	l := map[string]string{"alertname": "Down", "service": "web", "team": "shop", "severity": "critical"}
	if _, err := env.st.Ingest(context.Background(), &p, []incident.AlertInput{{Fingerprint: incident.Fingerprint(l), Source: "test", Status: incident.AlertFiring, Labels: l, StartsAt: t0}}, t0); err != nil {
		t.Fatal(err)
	}
	env.settle(t)
	return env
}

func TestOnCallShiftsAndCalendars(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		env := escSetup(t, b)
		u := env.srv.URL
		var oc api.OnCallList
		// t0 is Saturday 2026-11-21 10:00 UTC: alice's day.
		if code := do(t, "GET", u+"/api/v1/oncall", "", "", &oc); code != 200 || len(oc.OnCall) != 1 || oc.OnCall[0].User != "alice" ||
			oc.OnCall[0].Name != "Alice" || oc.OnCall[0].Layer != 1 || !oc.OnCall[0].Until.Equal(time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)) {
			t.Errorf("on call now: %d %+v", code, oc)
		}
		if code := do(t, "GET", u+"/api/v1/oncall?schedule=primary&at=2026-11-22T13:00:00Z", "", "", &oc); code != 200 || oc.OnCall[0].User != "bob" || !oc.OnCall[0].Override ||
			!oc.OnCall[0].Since.Equal(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("on call during the override: %d %+v", code, oc)
		}
		var e web.Error
		if code := do(t, "GET", u+"/api/v1/oncall?schedule=nope", "", "", &e); code != 404 {
			t.Errorf("unknown schedule: %d", code)
		}
		if code := do(t, "GET", u+"/api/v1/oncall?at=tomorrow", "", "", &e); code != 400 || e.Field != "at" {
			t.Errorf("bad at: %d %+v", code, e)
		}

		var sl api.ShiftList
		if code := do(t, "GET", u+"/api/v1/schedules/primary/shifts?from=2026-11-22T00:00:00Z&to=2026-11-23T00:00:00Z", "", "", &sl); code != 200 || len(sl.Shifts) != 4 {
			t.Fatalf("shifts: %d %+v", code, sl)
		}
		if s := sl.Shifts[2]; s.User != "bob" || !s.Override || !s.Start.Equal(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)) {
			t.Errorf("third shift %+v, want bob's override", s)
		}
		if code := do(t, "GET", u+"/api/v1/schedules/primary/shifts?from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z", "", "", &e); code != 400 || e.Field != "to" {
			t.Errorf("a 5-month range: %d %+v", code, e)
		}
		if code := do(t, "GET", u+"/api/v1/schedules/nope/shifts", "", "", &e); code != 404 {
			t.Errorf("unknown schedule shifts: %d", code)
		}

		for path, want := range map[string]int{"/api/v1/schedules/primary/ical": 200, "/api/v1/users/bob/ical": 200, "/api/v1/users/nobody/ical": 404} {
			resp, err := http.Get(u + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
				continue
			}
			if want == 200 && (!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/calendar") || !strings.Contains(string(body), "BEGIN:VCALENDAR") || !strings.Contains(string(body), "BEGIN:VEVENT")) {
				t.Errorf("%s: %s\n%s", path, resp.Header.Get("Content-Type"), body)
			}
		}
	})
}

func TestSilencesAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		env := escSetup(t, b)
		u := env.srv.URL
		var e web.Error
		for _, body := range []string{
			`{"matchers": "{team=\"shop\"}", "duration": "1h"}`,
			`{"matchers": "{}", "duration": "1h", "created_by": "bob"}`,
			`{"matchers": "{team=\"shop\"}", "duration": "1h", "end": "2026-11-21T12:00:00Z", "created_by": "bob"}`,
			`{"matchers": "{team=\"shop\"}", "created_by": "bob"}`,
			`{"matchers": "{team=\"shop\"}", "duration": "1h", "created_by": "bob", "extra": 1}`,
		} {
			if code := do(t, "POST", u+"/api/v1/silences", "application/json", body, &e); code != 400 {
				t.Errorf("%s: %d %+v, want 400", body, code, e)
			}
		}
		var s api.SilenceView
		if code := do(t, "POST", u+"/api/v1/silences", "application/json", `{"matchers": "team=\"shop\"", "duration": "2h", "comment": "deploy", "created_by": "bob"}`, &s); code != 201 ||
			s.State != "active" || !s.EndsAt.Equal(t0.Add(2*time.Hour)) || s.Matchers != `{team="shop"}` {
			t.Fatalf("add: %d %+v", code, s)
		}
		var list api.SilenceList
		if do(t, "GET", u+"/api/v1/silences", "", "", &list); len(list.Silences) != 1 || list.Silences[0].ID != s.ID {
			t.Errorf("list: %+v", list)
		}
		if code := do(t, "DELETE", u+"/api/v1/silences/1", "", "", &s); code != 200 || s.State != "expired" {
			t.Errorf("expire: %d %+v", code, s)
		}
		if do(t, "GET", u+"/api/v1/silences", "", "", &list); len(list.Silences) != 0 {
			t.Errorf("list after expiry: %+v", list)
		}
		if do(t, "GET", u+"/api/v1/silences?all=true", "", "", &list); len(list.Silences) != 1 {
			t.Errorf("list all: %+v", list)
		}
		if code := do(t, "DELETE", u+"/api/v1/silences/7", "", "", &e); code != 404 {
			t.Errorf("expire unknown: %d", code)
		}
	})
}

func pdSign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

func postPD(t *testing.T, u, sig, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u+"/api/v1/hooks/pagerduty", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("X-PagerDuty-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func pdEvent(eventType, key string) string {
	return `{"event":{"id":"01","event_type":"` + eventType + `","resource_type":"incident","occurred_at":"2026-11-21T11:00:00Z",` +
		`"agent":{"id":"PU1","summary":"Alice Schmidt","type":"user_reference"},"client":null,` +
		`"data":{"id":"Q1","type":"incident","number":7,"status":"acknowledged","incident_key":"` + key + `","title":"[P1] INC-1: Down"}}}`
}

func TestIncidentDetailAndPagerDutyWebhook(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		env := escSetup(t, b)
		u := env.srv.URL
		var d api.IncidentDetail
		if code := do(t, "GET", u+"/api/v1/incidents/INC-1", "", "", &d); code != 200 || d.Escalation == nil {
			t.Fatalf("detail: %d %+v", code, d)
		}
		es := d.Escalation
		if es.Policy != "shop" || es.State != "active" || es.Level != 1 || len(es.Notifications) != 1 || es.Notifications[0].User != "alice" ||
			es.Notifications[0].State != "sent" || len(es.SLA) != 2 || es.SLA[0].Kind != "acknowledge" || es.SLA[0].State != "running" || !es.SLA[0].Due.Equal(t0.Add(5*time.Minute)) {
			t.Errorf("escalation in the detail: %+v", es)
		}

		ack := pdEvent("incident.acknowledged", "INC-1")
		for _, sig := range []string{"", "v1=00", pdSign("wrong", ack)} {
			if code, body := postPD(t, u, sig, ack); code != 401 {
				t.Errorf("signature %q: %d %s", sig, code, body)
			}
		}
		if code, body := postPD(t, u, pdSign(pdSecret, pdEvent("incident.priority_updated", "INC-1")), pdEvent("incident.priority_updated", "INC-1")); code != 200 || !strings.Contains(body, "ignored") {
			t.Errorf("other event: %d %s", code, body)
		}
		if code, body := postPD(t, u, pdSign(pdSecret, ack), ack); code != 200 || !strings.Contains(body, `"acknowledged"`) {
			t.Fatalf("ack: %d %s", code, body)
		}
		inc, _ := env.st.Incident(context.Background(), 1)
		if inc.Status != incident.StatusAcknowledged || inc.AcknowledgedBy != "Alice Schmidt (PagerDuty)" {
			t.Errorf("after the PagerDuty ack: %s by %q", inc.Status, inc.AcknowledgedBy)
		}
		// Delivered again (PagerDuty retries): nothing more happens.
		if code, body := postPD(t, u, pdSign(pdSecret, ack), ack); code != 200 || !strings.Contains(body, "ignored") {
			t.Errorf("repeated ack: %d %s", code, body)
		}
		// A key that is not ours: the title gives nothing either.
		foreign := strings.Replace(pdEvent("incident.resolved", "abc123"), "[P1] INC-1: Down", "disk full", 1)
		if code, body := postPD(t, u, pdSign(pdSecret, foreign), foreign); code != 200 || !strings.Contains(body, "not an incidentd incident") {
			t.Errorf("foreign incident: %d %s", code, body)
		}
		// An empty incident_key: the title made from incidentd's summary says which.
		res := pdEvent("incident.resolved", "")
		if code, body := postPD(t, u, pdSign("old-secret", res), res); code != 200 || !strings.Contains(body, `"resolved"`) {
			t.Errorf("resolve by title with the previous secret: %d %s", code, body)
		}
	})
}

func TestOneClickLinks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		env := escSetup(t, b)
		u := env.srv.URL
		signer, _ := notify.NewSigner(env.key)
		exp := t0.Add(2 * time.Hour)
		ack := signer.Token(escalation.LinkSubject("INC-1", "alice"), notify.ActionAcknowledge, exp)
		get := func(token string) (int, string) {
			resp, err := http.Get(u + escalation.LinkPath + "?token=" + url.QueryEscape(token))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		post := func(token string) (int, string) {
			resp, err := http.PostForm(u+escalation.LinkPath, url.Values{"token": {token}})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		// GET only asks: mail scanners open links.
		if code, body := get(ack); code != 200 || !strings.Contains(body, "Acknowledge INC-1?") || !strings.Contains(body, `method="post"`) {
			t.Errorf("GET: %d %s", code, body)
		}
		if inc, _ := env.st.Incident(context.Background(), 1); inc.Status != incident.StatusTriggered {
			t.Fatalf("GET changed the incident: %s", inc.Status)
		}
		if code, body := get(ack[:len(ack)-2] + "xx"); code != 403 {
			t.Errorf("tampered: %d %s", code, body)
		}
		expired := signer.Token("INC-1 alice", notify.ActionAcknowledge, t0)
		if code, body := post(expired); code != 410 || !strings.Contains(body, "expired") {
			t.Errorf("expired: %d %s", code, body)
		}
		if code, body := post(ack); code != 200 || !strings.Contains(body, "INC-1 acknowledged by alice") {
			t.Errorf("POST: %d %s", code, body)
		}
		if code, _ := post(ack); code != 409 {
			t.Errorf("second POST: %d, want 409", code)
		}
		env.settle(t)
		tl, _ := env.st.Timeline(context.Background(), 1)
		found := false
		for _, ev := range tl {
			if ev.Kind == escalation.EventStopped && strings.Contains(ev.Message, "acknowledged by alice") {
				found = true
			}
		}
		if !found {
			t.Errorf("timeline lacks the stop after the link's ack: %+v", tl)
		}
	})
}
