package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
)

// recorder is a local endpoint that records request bodies and answers
// with a fixed status, headers and body.
type recorder struct {
	mu     sync.Mutex
	bodies [][]byte
	reqs   []*http.Request
	status int
	header map[string]string
	body   string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.reqs = append(r.reqs, req)
	status, header, body := r.status, r.header, r.body
	r.mu.Unlock()
	for k, v := range header {
		w.Header().Set(k, v)
	}
	if status == 0 {
		status = http.StatusAccepted
	}
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func (r *recorder) last(t *testing.T) (*http.Request, []byte) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bodies) == 0 {
		t.Fatal("the endpoint received nothing")
	}
	return r.reqs[len(r.reqs)-1], r.bodies[len(r.bodies)-1]
}

func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		gb, _ := json.MarshalIndent(g, "", "  ")
		wb, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("body:\n%s\nwant:\n%s", gb, wb)
	}
}

func TestPagerDutyEventsV2(t *testing.T) {
	rec := &recorder{body: `{"status":"success","message":"Event processed","dedup_key":"INC-12"}`}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	n := build1(t, `
notifiers:
  - {name: pd, type: pagerduty, routing_key: "${secret:pd}", events_url: "`+srv.URL+`"}
`, Options{Secrets: secrets(map[string]string{"pd": "R0UTINGKEY0123456789abcdef012345"})}, "pd")

	trigger := `{
	  "routing_key": "R0UTINGKEY0123456789abcdef012345",
	  "event_action": "trigger",
	  "dedup_key": "INC-12",
	  "client": "incidentd",
	  "client_url": "https://incidentd.example.com/incidents/INC-12",
	  "links": [
	    {"href": "https://incidentd.example.com/incidents/INC-12", "text": "Incident INC-12 in incidentd"},
	    {"href": "https://incidentd.example.com/l?token=ack", "text": "Acknowledge INC-12"},
	    {"href": "https://incidentd.example.com/l?token=res", "text": "Resolve INC-12"}
	  ],
	  "payload": {
	    "summary": "[P1] INC-12: Checkout returns 5xx",
	    "source": "db-1",
	    "severity": "critical",
	    "timestamp": "2026-03-02T09:59:00Z",
	    "component": "db-1",
	    "group": "checkout",
	    "class": "HighErrorRate",
	    "custom_details": {
	      "incident_id": "INC-12", "priority": "P1", "status": "triggered", "level": 1, "loop": 0,
	      "root_cause": "db-1", "impacted_services": ["checkout", "payments"],
	      "labels": {"alertname": "HighErrorRate", "service": "checkout"}
	    }
	  }
	}`
	cases := []struct {
		name string
		edit func(*Message)
		want string
	}{
		{"trigger", func(*Message) {}, trigger},
		{"escalate is a trigger of the same dedup key", func(m *Message) { m.Event = EventEscalate }, trigger},
		{"acknowledge", func(m *Message) { m.Event, m.Status = EventAcknowledge, "acknowledged" },
			`{"routing_key": "R0UTINGKEY0123456789abcdef012345", "event_action": "acknowledge", "dedup_key": "INC-12"}`},
		{"resolve", func(m *Message) { m.Event, m.Status = EventResolve, "resolved" },
			`{"routing_key": "R0UTINGKEY0123456789abcdef012345", "event_action": "resolve", "dedup_key": "INC-12"}`},
		{"minimal trigger", func(m *Message) {
			*m = Message{Event: EventTrigger, IncidentID: "INC-3", Title: "Disk full", Priority: "P4", Status: "triggered", Time: testNow}
		}, `{
		  "routing_key": "R0UTINGKEY0123456789abcdef012345", "event_action": "trigger", "dedup_key": "INC-3",
		  "client": "incidentd",
		  "payload": {"summary": "[P4] INC-3: Disk full", "source": "incidentd", "severity": "info", "timestamp": "2026-03-02T10:00:00Z",
		    "custom_details": {"incident_id": "INC-3", "priority": "P4", "status": "triggered", "level": 0, "loop": 0}}
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
			if req.URL.Path != "/v2/enqueue" || req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
				t.Errorf("request %s %s (%s), want POST /v2/enqueue (application/json)", req.Method, req.URL.Path, req.Header.Get("Content-Type"))
			}
			jsonEqual(t, body, tc.want)
		})
	}
}

func TestPagerDutySeverityFromPriority(t *testing.T) {
	p := &pagerDuty{base: &base{}, routingKey: "k"}
	for prio, want := range map[string]string{"P1": "critical", "P2": "error", "P3": "warning", "P4": "info", "P5": "info", "": "error"} {
		m := message()
		m.Priority = prio
		if got := p.event(m).Payload.Severity; got != want {
			t.Errorf("priority %q: severity %q, want %q", prio, got, want)
		}
	}
}
