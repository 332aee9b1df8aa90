package hostile_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

const (
	viewerToken = "vera-hostile-0123456789abcdef"
	amSecret    = "am-hostile-0123456789abcdef"
)

// TestHostileCredentials sends malformed and malicious credentials to a
// daemon with API tokens and an integration secret: each gets a 401 with
// a JSON error and stores nothing, and the right credentials still work.
func TestHostileCredentials(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		t.Setenv("INCIDENTD_SECRET_HOSTILE_AM", amSecret)
		cfg := "storage:\n  dsn: " + storetest.DSN(t, b) + "\nlog:\n  level: error\n" +
			"integrations:\n  - {name: am, type: alertmanager, secret: '${secret:hostile_am}'}\n" +
			daemontest.TokensConfig(t, daemontest.Token{Name: "vera", Role: "viewer", Secret: viewerToken})
		base, _ := daemontest.Start(t, cfg)
		count := func() int {
			t.Helper()
			r := authed(t, "GET", base+"/api/v1/alerts?limit=500", "", "Bearer "+viewerToken, nil)
			if r.status != 200 {
				t.Fatalf("listing alerts with the viewer token: %d %s", r.status, r.body)
			}
			return strings.Count(string(r.body), `"fingerprint"`)
		}
		webhook := []byte(amBody(`{"alertname":"auth"}`, `{}`))
		long := strings.Repeat("x", 64<<10)
		cases := []struct {
			name, method, path, auth string
			body                     []byte
		}{
			{"API: no token", "GET", "/api/v1/incidents", "", nil},
			{"API: SQL as the token", "GET", "/api/v1/incidents", "Bearer " + sqlBait, nil},
			{"API: 64 KiB token", "GET", "/api/v1/incidents", "Bearer " + long, nil},
			{"API: the token's prefix", "GET", "/api/v1/incidents", "Bearer " + viewerToken[:len(viewerToken)-1], nil},
			{"API: the token and more", "GET", "/api/v1/incidents", "Bearer " + viewerToken + "x", nil},
			{"API: the token as basic auth", "GET", "/api/v1/incidents", "Basic " + viewerToken, nil},
			{"API: lower-case scheme and no token", "GET", "/api/v1/incidents", "bearer", nil},
			{"API: the token in the query", "GET", "/api/v1/incidents?access_token=" + viewerToken, "", nil},
			{"iCal: SQL as the access token", "GET", "/api/v1/users/x/ical?access_token=" + url.QueryEscape(sqlBait), "", nil},
			{"ingest: no secret", "POST", "/api/v1/alerts/alertmanager", "", webhook},
			{"ingest: SQL as the secret", "POST", "/api/v1/alerts/alertmanager", "Bearer " + sqlBait, webhook},
			{"ingest: SQL as the query token", "POST", "/api/v1/alerts/alertmanager?token=" + url.QueryEscape(sqlBait), "", webhook},
			{"ingest: 64 KiB secret", "POST", "/api/v1/alerts/alertmanager", "Bearer " + long, webhook},
			{"ingest: the API token", "POST", "/api/v1/alerts/alertmanager", "Bearer " + viewerToken, webhook},
			{"ingest by name: the secret's prefix", "POST", "/api/v1/integrations/am", "Bearer " + amSecret[:10], webhook},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				before := count()
				r := authed(t, c.method, base+c.path, "application/json", c.auth, c.body)
				checkError(t, r, http.StatusUnauthorized, false)
				if strings.Contains(string(r.body), sqlBait) || strings.Contains(string(r.body), long[:64]) {
					t.Fatalf("the answer echoes the credential: %.300s", r.body)
				}
				if after := count(); after != before {
					t.Fatalf("a request with bad credentials stored %d alerts", after-before)
				}
			})
		}
		if r := authed(t, "POST", base+"/api/v1/alerts/alertmanager", "application/json", "Bearer "+amSecret, webhook); r.status != 200 {
			t.Fatalf("the right secret after the bad ones: %d %s", r.status, r.body)
		}
		if n := count(); n != 1 {
			t.Fatalf("%d alerts stored, want the one sent with the secret", n)
		}
	})
}

// authed sends a request with an Authorization header (if not empty).
func authed(t *testing.T, method, u, ctype, auth string, body []byte) response {
	t.Helper()
	if auth == "" {
		return send(t, method, u, ctype, body)
	}
	return sendWith(t, method, u, ctype, body, http.Header{"Authorization": {auth}})
}
