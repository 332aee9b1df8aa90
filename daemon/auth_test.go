package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/daemon"
	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/web"
)

// roleTokens are the secrets of the tokens authConfig declares, by role.
var roleTokens = map[api.Access]string{
	api.Viewer:    "vera-0123456789abcdef0123456789",
	api.Responder: "rita-0123456789abcdef0123456789",
	api.Admin:     "adam-0123456789abcdef0123456789",
}

// authConfig is a config on dsn with one token per role (vera, rita,
// adam), extra appended.
func authConfig(t *testing.T, dsn, extra string) string {
	t.Helper()
	return "storage: {dsn: '" + dsn + "'}\nlog: {level: error}\n" + daemontest.TokensConfig(t,
		daemontest.Token{Name: "vera", Role: "viewer", Secret: roleTokens[api.Viewer]},
		daemontest.Token{Name: "rita", Role: "responder", Secret: roleTokens[api.Responder]},
		daemontest.Token{Name: "adam", Role: "admin", Secret: roleTokens[api.Admin]},
	) + extra
}

// call sends a request with an optional bearer token and returns the
// status, the WWW-Authenticate header and the body.
func call(t *testing.T, c *http.Client, method, url, token string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// probe is a request that the route pattern serves.
func probe(pattern string) (method, path string) {
	method, path, found := strings.Cut(pattern, " ")
	if !found {
		method, path = "POST", pattern // method-less: the ingest mounts and the fallback
	}
	path = wildcard.ReplaceAllString(path, "1")
	if strings.HasSuffix(path, "/") {
		path += "probe"
	}
	return method, path
}

// TestRouteWalk walks every route a real daemon serves and proves that no
// route is open by mistake: each is in the route table; only the health
// endpoints and the 404 fallback are public and only /metrics follows
// metrics_auth; every role route refuses a request without a token (401,
// with a challenge) and one from the role below (403), and lets its own
// role through; routes with secrets of their own refuse an unsigned call.
func TestRouteWalk(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		var rt *api.Router
		url, _ := daemontest.StartWith(t, authConfig(t, storetest.DSN(t, b), ""), func(o *daemon.Options) {
			o.Router = func(r *api.Router) { rt = r }
		})
		registered := map[string]bool{}
		for _, r := range rt.Routes() {
			registered[r.Pattern] = true
		}
		// The table is not stale: the daemon serves every declared route.
		for _, r := range api.RouteTable() {
			if !registered[r.Pattern] {
				t.Errorf("route table declares %q, which the daemon does not serve", r.Pattern)
			}
		}
		public := map[string]bool{"GET /-/healthy": true, "GET /-/ready": true, "/": true}
		below := map[api.Access]api.Access{api.Responder: api.Viewer, api.Admin: api.Responder}
		for _, r := range rt.Routes() {
			t.Run(r.Pattern, func(t *testing.T) {
				method, path := probe(r.Pattern)
				req, _ := http.NewRequest(method, url+path, nil)
				if got := rt.Pattern(req); got != r.Pattern {
					t.Fatalf("probe %s %s reaches %q", method, path, got)
				}
				code, challenge, body := call(t, http.DefaultClient, method, url+path, "")
				switch r.Access {
				case api.Undeclared:
					t.Errorf("not in the route table: declare who may call it")
				case api.Public, api.Metrics:
					if r.Access == api.Public && !public[r.Pattern] || r.Access == api.Metrics && r.Pattern != "GET /metrics" {
						t.Errorf("%s without a token, but only health, readiness, the 404 fallback and GET /metrics may be", r.Access)
					}
					if code == 401 || code == 403 {
						t.Errorf("%s answers %d without a token", r.Access, code)
					}
				case api.Integration:
					// The ingest handler checks integration secrets (ingest
					// tests); only integration routes may be mounted here.
					if !strings.Contains(path, "/alerts") && !strings.Contains(path, "/v2/enqueue") &&
						!strings.Contains(path, "/integrations/") && !strings.Contains(path, "/heartbeats/") {
						t.Errorf("integration access on a path that takes no alerts")
					}
				case api.Signed:
					if code < 400 {
						t.Errorf("unsigned call answered %d", code)
					}
				default:
					var e web.Error
					if code != 401 || challenge != `Bearer realm="incidentd"` || json.Unmarshal(body, &e) != nil || e.Error == "" {
						t.Fatalf("without a token: %d %q %s, want 401 with a Bearer challenge and a JSON error", code, challenge, body)
					}
					if code, _, _ := call(t, http.DefaultClient, method, url+path, "not-a-token-at-all-0123456789"); code != 401 {
						t.Errorf("with a wrong token: %d, want 401", code)
					}
					if lower, ok := below[r.Access]; ok {
						if code, _, body := call(t, http.DefaultClient, method, url+path, roleTokens[lower]); code != 403 {
							t.Errorf("with a %s token: %d %s, want 403", lower, code, body)
						}
					}
					if code, _, body := call(t, http.DefaultClient, method, url+path, roleTokens[r.Access]); code == 401 || code == 403 {
						t.Errorf("with a %s token: %d %s, want it let through", r.Access, code, body)
					}
				}
			})
		}
	})
}

// TestMetricsAuth: with api.metrics_auth, GET /metrics needs a viewer
// token; health stays open.
func TestMetricsAuth(t *testing.T) {
	url, _ := daemontest.Start(t, authConfig(t, "sqlite://"+filepath.Join(t.TempDir(), "i.db"), "  metrics_auth: true\n"))
	tests := []struct {
		path, token string
		want        int
	}{
		{"/metrics", "", 401},
		{"/metrics", roleTokens[api.Viewer], 200},
		{"/-/healthy", "", 200},
		{"/-/ready", "", 200},
	}
	for _, tt := range tests {
		if code, _, body := call(t, http.DefaultClient, "GET", url+tt.path, tt.token); code != tt.want {
			t.Errorf("GET %s (token %v): %d %s, want %d", tt.path, tt.token != "", code, body, tt.want)
		}
	}
}

// TestReloadChangesTokens: a reload puts new tokens in force; one whose
// secret is missing fails the reload and the tokens in force stay.
func TestReloadChangesTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		dsn := storetest.DSN(t, b)
		cfg := authConfig(t, dsn, "")
		url, file := daemontest.Start(t, cfg)
		reload := func() int {
			code, _, _ := call(t, http.DefaultClient, "POST", url+"/-/reload", roleTokens[api.Admin])
			return code
		}
		// A token whose secret is nowhere: refused, rita keeps her access.
		broken := strings.Replace(cfg, "${secret:rita_token}", "${secret:missing_token}", 1)
		os.WriteFile(file, []byte(broken), 0o600)
		if code := reload(); code != 500 {
			t.Fatalf("reload with a missing secret: %d, want 500", code)
		}
		if code, _, _ := call(t, http.DefaultClient, "GET", url+"/api/v1/incidents", roleTokens[api.Responder]); code != 200 {
			t.Fatalf("after a failed reload rita gets %d, want 200", code)
		}
		// rita removed: her token is refused from now on.
		without := strings.Replace(cfg, "    - {name: rita, role: responder, token: '${secret:rita_token}'}\n", "", 1)
		os.WriteFile(file, []byte(without), 0o600)
		if code := reload(); code != 200 {
			t.Fatalf("reload: %d", code)
		}
		if code, _, _ := call(t, http.DefaultClient, "GET", url+"/api/v1/incidents", roleTokens[api.Responder]); code != 401 {
			t.Errorf("a removed token gets %d, want 401", code)
		}
		if code, _, _ := call(t, http.DefaultClient, "GET", url+"/api/v1/incidents", roleTokens[api.Viewer]); code != 200 {
			t.Errorf("a kept token gets %d, want 200", code)
		}
	})
}
