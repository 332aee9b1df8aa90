package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/correlate"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/web"
)

// Tokens of the role matrix, one per role.
var (
	viewerToken    = "viewer-token-0123456789abcdef"
	responderToken = "responder-token-0123456789abcdef"
	adminToken     = "admin-token-0123456789abcdef"
	testTokens     = []api.Token{
		{Name: "vera", Role: api.Viewer, Secret: viewerToken},
		{Name: "rita", Role: api.Responder, Secret: responderToken},
		{Name: "adam", Role: api.Admin, Secret: adminToken},
	}
)

// setupAuth serves the API (with the CMDB routes) through a Router that
// checks testTokens, over the incidents of setup.
func setupAuth(t *testing.T, b store.Backend, tokens []api.Token) (*httptest.Server, *store.Store) {
	t.Helper()
	plain, s := setup(t, b)
	plain.Close()
	auth := api.NewAuth(nil)
	set, err := api.NewTokenSet(tokens, false)
	if err != nil {
		t.Fatal(err)
	}
	auth.Use(set)
	c := clock.NewFake(t0.Add(time.Hour))
	cm := correlate.NewCMDB(s, correlate.New(correlate.Options{MaxHops: 3}), c, nil)
	if err := cm.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt := api.NewRouter(auth)
	api.New(s, cm, c, nil).Register(rt)
	srv := httptest.NewServer(rt)
	t.Cleanup(srv.Close)
	return srv, s
}

type authResult struct {
	status int
	header http.Header
	body   []byte
}

func authDo(t *testing.T, method, url, authz, body string) authResult {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return authResult{resp.StatusCode, resp.Header, raw}
}

func TestRoleMatrix(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		srv, s := setupAuth(t, b, testTokens)
		u := srv.URL + "/api/v1/"
		bearer := func(tok string) string { return "Bearer " + tok }
		const cmdbDoc = `{"cis":[{"id":"db-1","class":"database"}]}`
		tests := []struct {
			name, method, path, authz, body string
			wantStatus                      int
			// wantChallenge is the WWW-Authenticate error, "-" for none.
			wantChallenge string
			wantField     string
			// wantActor is the actor the answer's event records.
			wantActor string
		}{
			{"no token", "GET", "incidents", "", "", 401, "", "", ""},
			{"wrong token", "GET", "incidents", bearer("not-a-token-0123456789abcdef"), "", 401, "invalid_token", "", ""},
			{"a prefix of a token", "GET", "incidents", bearer(viewerToken[:20]), "", 401, "invalid_token", "", ""},
			{"basic scheme", "GET", "incidents", "Basic dmVyYTpwdw==", "", 401, "", "", ""},
			{"empty bearer", "GET", "incidents", "Bearer ", "", 401, "", "", ""},
			{"viewer reads", "GET", "incidents", bearer(viewerToken), "", 200, "-", "", ""},
			{"lower-case scheme", "GET", "incidents/1", "bearer " + viewerToken, "", 200, "-", "", ""},
			{"viewer reads the CMDB", "GET", "cmdb", bearer(viewerToken), "", 200, "-", "", ""},
			{"viewer cannot acknowledge", "POST", "incidents/1/acknowledge", bearer(viewerToken), `{}`, 403, "insufficient_scope", "", ""},
			{"viewer cannot add a note", "POST", "incidents/1/notes", bearer(viewerToken), `{"message":"hi"}`, 403, "insufficient_scope", "", ""},
			{"responder acknowledges", "POST", "incidents/1/acknowledge", bearer(responderToken), `{}`, 200, "-", "", "rita"},
			{"responder names herself", "POST", "incidents/1/notes", bearer(responderToken), `{"actor":"rita","message":"looking"}`, 201, "-", "", "rita"},
			{"responder names someone else", "POST", "incidents/1/notes", bearer(responderToken), `{"actor":"mallory","message":"x"}`, 403, "-", "actor", ""},
			{"responder cannot replace the CMDB", "PUT", "cmdb", bearer(responderToken), cmdbDoc, 403, "insufficient_scope", "", ""},
			{"responder cannot add maintenance", "POST", "maintenance", bearer(responderToken), `{"ci":"db-1","start":"2026-11-21T11:00:00Z","end":"2026-11-21T12:00:00Z"}`, 403, "insufficient_scope", "", ""},
			{"admin replaces the CMDB", "PUT", "cmdb", bearer(adminToken), cmdbDoc, 200, "-", "", ""},
			{"admin resolves", "POST", "incidents/2/resolve", bearer(adminToken), `{}`, 200, "-", "", "adam"},
			{"admin adds maintenance", "POST", "maintenance", bearer(adminToken), `{"ci":"db-1","start":"2026-11-21T11:00:00Z","end":"2026-11-21T12:00:00Z","reason":"upgrade"}`, 201, "-", "", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := authDo(t, tt.method, u+tt.path, tt.authz, tt.body)
				if res.status != tt.wantStatus {
					t.Fatalf("status %d (%s), want %d", res.status, res.body, tt.wantStatus)
				}
				challenge := res.header.Get("WWW-Authenticate")
				switch {
				case tt.wantChallenge == "-" && challenge != "":
					t.Errorf("WWW-Authenticate %q on a %d", challenge, res.status)
				case tt.wantChallenge == "" && res.status == 401 && challenge != `Bearer realm="incidentd"`:
					t.Errorf("WWW-Authenticate %q, want a plain Bearer challenge", challenge)
				case tt.wantChallenge != "-" && tt.wantChallenge != "" && !strings.Contains(challenge, `error="`+tt.wantChallenge+`"`):
					t.Errorf("WWW-Authenticate %q, want error=%q", challenge, tt.wantChallenge)
				}
				if res.status >= 400 {
					var e web.Error
					if err := json.Unmarshal(res.body, &e); err != nil || e.Error == "" || e.Field != tt.wantField {
						t.Errorf("error body %s: want a JSON error with field %q", res.body, tt.wantField)
					}
					for _, tok := range []string{viewerToken, responderToken, adminToken} {
						if strings.Contains(string(res.body), tok) {
							t.Errorf("error body echoes a token: %s", res.body)
						}
					}
					return
				}
				if tt.wantActor != "" {
					var ar api.ActionResult
					if err := json.Unmarshal(res.body, &ar); err != nil || ar.Event.Actor != tt.wantActor {
						t.Errorf("event actor %q (%s), want %q", ar.Event.Actor, res.body, tt.wantActor)
					}
				}
			})
		}
		// The timeline names the tokens' holders, and nobody else.
		for id, want := range map[int64][]string{1: {"rita", "rita"}, 2: {"adam"}} {
			tl, err := s.Timeline(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range tl {
				if ev.Actor != "" && ev.Actor != "incidentd" && ev.Actor != "system" {
					got = append(got, ev.Actor)
				}
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("INC-%d timeline actors %v, want %v", id, got, want)
			}
		}
		var ws api.MaintenanceList
		res := authDo(t, "GET", u+"maintenance", bearer(viewerToken), "")
		if err := json.Unmarshal(res.body, &ws); err != nil || len(ws.Windows) != 1 || ws.Windows[0].CreatedBy != "adam" {
			t.Errorf("maintenance windows %s: want one created by adam", res.body)
		}
	})
}

// TestNoTokensKeepsTheAPIOpen: without tokens the API answers everyone and
// records the actor the body names, as before tokens existed.
func TestNoTokensKeepsTheAPIOpen(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		srv, _ := setupAuth(t, b, nil)
		res := authDo(t, "POST", srv.URL+"/api/v1/incidents/1/acknowledge", "", `{"actor":"alice"}`)
		var ar api.ActionResult
		if err := json.Unmarshal(res.body, &ar); res.status != 200 || err != nil || ar.Event.Actor != "alice" {
			t.Fatalf("ack without tokens: %d %s", res.status, res.body)
		}
		if res := authDo(t, "POST", srv.URL+"/api/v1/incidents/1/notes", "", `{"message":"x"}`); res.status != 400 {
			t.Errorf("note without actor and without tokens: %d, want 400 (who acts is required)", res.status)
		}
	})
}

// TestAccessKinds covers the accesses other than the roles: a route
// missing from the table is refused to everyone while tokens are
// configured, metrics follow metrics_auth, and the routes with secrets of
// their own pass through.
func TestAccessKinds(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	tests := []struct {
		name        string
		access      api.Access
		tokens      bool
		metricsAuth bool
		authz       string
		want        int
	}{
		{"undeclared, no tokens configured", api.Undeclared, false, false, "", 204},
		{"undeclared, no token", api.Undeclared, true, false, "", 401},
		{"undeclared, admin", api.Undeclared, true, false, "Bearer " + adminToken, 403},
		{"metrics open", api.Metrics, true, false, "", 204},
		{"metrics with metrics_auth, no token", api.Metrics, true, true, "", 401},
		{"metrics with metrics_auth, viewer", api.Metrics, true, true, "Bearer " + viewerToken, 204},
		{"metrics_auth without tokens stays open", api.Metrics, false, true, "", 204},
		{"public", api.Public, true, true, "", 204},
		{"integration", api.Integration, true, false, "", 204},
		{"signed", api.Signed, true, false, "", 204},
		{"admin route, responder", api.Admin, true, false, "Bearer " + responderToken, 403},
		{"admin route, admin", api.Admin, true, false, "Bearer " + adminToken, 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var tokens []api.Token
			if tt.tokens {
				tokens = testTokens
			}
			set, err := api.NewTokenSet(tokens, tt.metricsAuth)
			if err != nil {
				t.Fatal(err)
			}
			auth := api.NewAuth(nil)
			auth.Use(set)
			req := httptest.NewRequest("GET", "/x", nil)
			if tt.authz != "" {
				req.Header.Set("Authorization", tt.authz)
			}
			rec := httptest.NewRecorder()
			auth.Require(tt.access, ok).ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status %d (%s), want %d", rec.Code, rec.Body, tt.want)
			}
		})
	}
}

func TestNewTokenSetRejects(t *testing.T) {
	long := "0123456789abcdef0123"
	tests := []struct {
		name   string
		tokens []api.Token
		want   string
	}{
		{"short secret", []api.Token{{Name: "a", Role: api.Viewer, Secret: "short"}}, `"a": secret shorter than 16 bytes`},
		{"bad role", []api.Token{{Name: "a", Role: "root", Secret: long}}, `role "root"`},
		{"same name", []api.Token{{Name: "a", Role: api.Viewer, Secret: long}, {Name: "a", Role: api.Admin, Secret: long + "x"}}, "used twice"},
		{"same secret", []api.Token{{Name: "a", Role: api.Viewer, Secret: long}, {Name: "b", Role: api.Admin, Secret: long}}, `"a" and "b" have the same secret`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := api.NewTokenSet(tt.tokens, false)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), long) {
				t.Errorf("error shows a secret: %v", err)
			}
		})
	}
}

// TestQueryTokenOnCalendarFeeds: calendar clients cannot send headers, so
// the iCalendar feeds take ?access_token=; no other route does.
func TestQueryTokenOnCalendarFeeds(t *testing.T) {
	set, err := api.NewTokenSet(testTokens, false)
	if err != nil {
		t.Fatal(err)
	}
	auth := api.NewAuth(nil)
	auth.Use(set)
	rt := api.NewRouter(auth)
	var gotQuery string
	ok := func(w http.ResponseWriter, r *http.Request) {
		gotQuery = r.URL.RawQuery
		w.WriteHeader(http.StatusNoContent)
	}
	rt.HandleFunc("GET /api/v1/users/{id}/ical", ok)
	rt.HandleFunc("GET /api/v1/incidents", ok)
	tests := []struct {
		url       string
		want      int
		wantQuery string
	}{
		{"/api/v1/users/alice/ical?access_token=" + viewerToken + "&x=1", 204, "x=1"},
		{"/api/v1/users/alice/ical?access_token=wrong-0123456789abcdef", 401, ""},
		{"/api/v1/users/alice/ical", 401, ""},
		{"/api/v1/incidents?access_token=" + viewerToken, 401, ""},
	}
	for _, tt := range tests {
		gotQuery = ""
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest("GET", tt.url, nil))
		if rec.Code != tt.want || gotQuery != tt.wantQuery {
			t.Errorf("GET %s: %d, query %q; want %d, %q", tt.url, rec.Code, gotQuery, tt.want, tt.wantQuery)
		}
	}
}
