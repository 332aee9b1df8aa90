package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/web"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// setup opens a store with three incidents: INC-1 (critical, P3), INC-2 and
// INC-3 (no severity, P5), and serves the API over it.
func setup(t *testing.T, b store.Backend) (*httptest.Server, *store.Store) {
	t.Helper()
	s := storetest.Open(t, b)
	p := incident.DefaultPolicy()
	var in []incident.AlertInput
	for i, sev := range []string{"critical", "", ""} {
		l := map[string]string{"alertname": fmt.Sprint("A", i+1), "severity": sev}
		in = append(in, incident.AlertInput{Fingerprint: incident.Fingerprint(l), Source: "test", Status: incident.AlertFiring, Labels: l})
	}
	if _, err := s.Ingest(context.Background(), &p, in, t0); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.New(s, nil, clock.NewFake(t0.Add(time.Hour)), nil).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, s
}

func do(t *testing.T, method, url, ctype, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		var e web.Error
		if err := json.Unmarshal(raw, &e); err != nil || e.Error == "" {
			t.Fatalf("%s %s: status %d, body not a JSON error: %q", method, url, resp.StatusCode, raw)
		}
		if out != nil {
			*out.(*web.Error) = e
		}
		return resp.StatusCode
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %q", method, url, err, raw)
		}
	}
	return resp.StatusCode
}

func TestListAndShow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		srv, _ := setup(t, b)
		tests := []struct {
			query string
			want  []string
		}{
			{"", []string{"INC-3", "INC-2", "INC-1"}},
			{"?status=open", []string{"INC-3", "INC-2", "INC-1"}},
			{"?status=resolved", nil},
			{"?priority=P3", []string{"INC-1"}},
			{"?priority=5,p3", []string{"INC-3", "INC-2", "INC-1"}},
			{"?limit=2", []string{"INC-3", "INC-2"}},
			{"?limit=2&cursor=2", []string{"INC-1"}},
		}
		for _, tt := range tests {
			var list api.IncidentList
			if code := do(t, "GET", srv.URL+"/api/v1/incidents"+tt.query, "", "", &list); code != 200 {
				t.Fatalf("%s: status %d", tt.query, code)
			}
			var got []string
			for _, inc := range list.Incidents {
				got = append(got, inc.Key)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("%s: got %v, want %v", tt.query, got, tt.want)
			}
			if tt.query == "?limit=2" && list.NextCursor != "2" {
				t.Errorf("next_cursor = %q, want 2", list.NextCursor)
			}
		}
		var d api.IncidentDetail
		if code := do(t, "GET", srv.URL+"/api/v1/incidents/INC-1", "", "", &d); code != 200 {
			t.Fatalf("show: %d", code)
		}
		if d.Key != "INC-1" || d.PriorityLabel != "P3" || len(d.Alerts) != 1 || len(d.Timeline) != 2 || d.Alerts[0].Labels["alertname"] != "A1" {
			t.Errorf("detail: %+v", d)
		}
		var alerts api.AlertList
		do(t, "GET", srv.URL+"/api/v1/alerts?status=firing&limit=2", "", "", &alerts)
		if len(alerts.Alerts) != 2 || alerts.NextCursor == "" {
			t.Fatalf("alerts page 1: %+v", alerts)
		}
		var rest api.AlertList
		do(t, "GET", srv.URL+"/api/v1/alerts?status=firing&cursor="+alerts.NextCursor, "", "", &rest)
		if len(rest.Alerts) != 1 || rest.NextCursor != "" {
			t.Errorf("alerts page 2: %+v", rest)
		}
	})
}

func TestActions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		srv, s := setup(t, b)
		url := srv.URL + "/api/v1/incidents/"
		var res api.ActionResult
		if code := do(t, "POST", url+"1/acknowledge", "application/json", `{"actor":"alice","message":"looking"}`, &res); code != 200 {
			t.Fatalf("ack: %d", code)
		}
		if res.Incident.Status != incident.StatusAcknowledged || res.Event.Message != "acknowledged by alice: looking" || !res.Incident.AcknowledgedAt.Equal(t0.Add(time.Hour)) {
			t.Errorf("ack result: %+v", res)
		}
		if code := do(t, "POST", url+"INC-1/notes", "application/json", `{"actor":"bob","message":"db is slow"}`, &res); code != 201 {
			t.Fatalf("note: %d", code)
		}
		if code := do(t, "POST", url+"1/resolve", "application/json", `{"actor":"alice"}`, &res); code != 200 || res.Incident.ResolvedBy != "alice" {
			t.Fatalf("resolve: %d %+v", code, res)
		}
		if code := do(t, "POST", url+"1/close", "application/json", `{"actor":"alice"}`, &res); code != 200 || res.Incident.Status != incident.StatusClosed {
			t.Fatalf("close: %d %+v", code, res)
		}
		tl, _ := s.Timeline(context.Background(), 1)
		if len(tl) != 6 || tl[3].Kind != incident.EventIncidentNote || tl[3].Actor != "bob" {
			t.Errorf("timeline: %+v", tl)
		}
	})
}

func TestErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		srv, _ := setup(t, b)
		u := srv.URL + "/api/v1/"
		tests := []struct {
			name, method, path, ctype, body string
			wantStatus                      int
			wantField                       string
		}{
			{"bad status filter", "GET", "incidents?status=sleeping", "", "", 400, "status"},
			{"bad priority filter", "GET", "incidents?priority=P9", "", "", 400, "priority"},
			{"bad limit", "GET", "incidents?limit=0", "", "", 400, "limit"},
			{"bad cursor", "GET", "incidents?cursor=abc", "", "", 400, "cursor"},
			{"bad id", "GET", "incidents/INC-x", "", "", 400, "id"},
			{"unknown incident", "GET", "incidents/INC-99", "", "", 404, ""},
			{"act on unknown incident", "POST", "incidents/99/acknowledge", "application/json", `{"actor":"a"}`, 404, ""},
			{"missing actor", "POST", "incidents/1/acknowledge", "application/json", `{}`, 400, "actor"},
			{"empty note", "POST", "incidents/1/notes", "application/json", `{"actor":"a","message":"  "}`, 400, "message"},
			{"unknown body field", "POST", "incidents/1/resolve", "application/json", `{"actor":"a","who":"b"}`, 400, "body"},
			{"malformed body", "POST", "incidents/1/resolve", "application/json", `{"actor":`, 400, "body"},
			{"wrong content type", "POST", "incidents/1/resolve", "text/plain", `actor=a`, 415, ""},
			{"close an open incident", "POST", "incidents/1/close", "application/json", `{"actor":"a"}`, 409, ""},
			{"bad alert status", "GET", "alerts?status=pending", "", "", 400, "status"},
			{"bad alert cursor", "GET", "alerts?cursor=nodash", "", "", 400, "cursor"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var e web.Error
				if code := do(t, tt.method, u+tt.path, tt.ctype, tt.body, &e); code != tt.wantStatus || e.Field != tt.wantField {
					t.Errorf("status %d field %q (%s), want %d %q", code, e.Field, e.Error, tt.wantStatus, tt.wantField)
				}
			})
		}
	})
}
