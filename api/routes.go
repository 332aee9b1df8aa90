package api

import (
	"net/http"
	"sort"
	"strings"

	"github.com/incidentd/incidentd/escalation"
)

// Access is who may call a route: one of the three roles a token carries
// (viewer < responder < admin), or a kind of route that API tokens do not
// guard.
type Access string

// The roles, lowest first; each may do what the ones below it may.
const (
	// Viewer reads: incidents, alerts, CMDB, on-call, runbooks and runs.
	Viewer Access = "viewer"
	// Responder acts on incidents: acknowledge, resolve, close, hold,
	// resume, notes, problem status, runbook approvals and silences.
	Responder Access = "responder"
	// Admin changes configuration-like state: CMDB writes, maintenance,
	// manual runbook runs and cancels, reload.
	Admin Access = "admin"
)

// The routes API tokens do not guard.
const (
	// Public routes answer anyone: health and readiness.
	Public Access = "public"
	// Metrics is GET /metrics: public, or viewer with api.metrics_auth.
	Metrics Access = "metrics"
	// Integration routes take alerts; each integration's own secret
	// authenticates them (package ingest).
	Integration Access = "integration"
	// Signed routes carry their own signature: one-click links (HMAC in
	// the link) and PagerDuty v3 webhooks (PagerDuty's signature header).
	Signed Access = "signed"
	// Undeclared is the access of a pattern missing from the route table:
	// with tokens configured nobody may call it.
	Undeclared Access = ""
)

// ParseRole reads viewer, responder or admin.
func ParseRole(s string) (Access, bool) {
	a := Access(s)
	return a, a.rank() > 0
}

// rank orders the roles; other kinds of access have none.
func (a Access) rank() int {
	switch a {
	case Viewer:
		return 1
	case Responder:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// routeTable is every route incidentd serves, with who may call it: the one
// place access is declared. Router.Handle looks routes up here, and
// daemon's route-walk test proves each route the daemon serves is in it
// and enforced. A pattern ending in "/" (no method) is a subtree.
var routeTable = map[string]Access{
	// Incidents and alerts (api.go).
	"GET /api/v1/incidents":                   Viewer,
	"GET /api/v1/incidents/{id}":              Viewer,
	"POST /api/v1/incidents/{id}/acknowledge": Responder,
	"POST /api/v1/incidents/{id}/resolve":     Responder,
	"POST /api/v1/incidents/{id}/close":       Responder,
	"POST /api/v1/incidents/{id}/hold":        Responder,
	"POST /api/v1/incidents/{id}/resume":      Responder,
	"POST /api/v1/incidents/{id}/notes":       Responder,
	"GET /api/v1/alerts":                      Viewer,

	// CMDB and maintenance (cmdb.go, maintenance.go).
	"GET /api/v1/cmdb":                 Viewer,
	"PUT /api/v1/cmdb":                 Admin,
	"PATCH /api/v1/cmdb":               Admin,
	"GET /api/v1/cmdb/cis/{id}":        Viewer,
	"GET /api/v1/cmdb/cis/{id}/impact": Viewer,
	"GET /api/v1/maintenance":          Viewer,
	"POST /api/v1/maintenance":         Admin,
	"DELETE /api/v1/maintenance/{id}":  Admin,

	// Problems (problems.go).
	"GET /api/v1/problems":              Viewer,
	"GET /api/v1/problems/{id}":         Viewer,
	"POST /api/v1/problems/{id}/status": Responder,

	// On-call, silences, webhooks and links (escalation.go, silences.go).
	"GET /api/v1/oncall":                Viewer,
	"GET /api/v1/schedules/{id}/shifts": Viewer,
	"GET /api/v1/schedules/{id}/ical":   Viewer,
	"GET /api/v1/users/{id}/ical":       Viewer,
	"POST /api/v1/hooks/pagerduty":      Signed,
	"GET " + escalation.LinkPath:        Signed,
	"POST " + escalation.LinkPath:       Signed,
	"GET /api/v1/silences":              Viewer,
	"POST /api/v1/silences":             Responder,
	"DELETE /api/v1/silences/{id}":      Responder,

	// Runbooks (runbooks.go).
	"GET /api/v1/runbooks":                    Viewer,
	"POST /api/v1/runbooks/{name}/runs":       Admin,
	"GET /api/v1/runbooks/runs":               Viewer,
	"GET /api/v1/runbooks/runs/{id}":          Viewer,
	"POST /api/v1/runbooks/runs/{id}/approve": Responder,
	"POST /api/v1/runbooks/runs/{id}/reject":  Responder,
	"POST /api/v1/runbooks/runs/{id}/cancel":  Admin,

	// Ingest (package ingest), mounted whole on these patterns.
	"POST /api/v1/alerts":   Integration,
	"/api/v1/alerts/":       Integration,
	"/v2/enqueue":           Integration,
	"/api/v1/integrations/": Integration,
	"/api/v1/heartbeats/":   Integration,

	// The daemon's own routes (daemon.go).
	"GET /metrics":   Metrics,
	"GET /-/healthy": Public,
	"GET /-/ready":   Public,
	"POST /-/reload": Admin,
	// The fallback answers 404 to anything else, so it reveals nothing
	// the documentation does not.
	"/": Public,
}

// AccessOf returns the access the route table declares for pattern, or
// Undeclared.
func AccessOf(pattern string) Access {
	return routeTable[pattern]
}

// Route is a registered pattern and its access.
type Route struct {
	Pattern string
	Access  Access
}

// RouteTable lists the declared routes sorted by pattern (for docs and
// tests).
func RouteTable() []Route {
	out := make([]Route, 0, len(routeTable))
	for p, a := range routeTable {
		out = append(out, Route{p, a})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pattern < out[j].Pattern })
	return out
}

// Router registers routes on its own ServeMux, each behind the access the
// route table declares for its pattern. It has ServeMux's Handle and
// HandleFunc, so Register methods take a web.Mux and work on either.
type Router struct {
	mux    *http.ServeMux
	auth   *Auth
	routes []Route
}

// NewRouter returns an empty Router checking access with auth.
func NewRouter(auth *Auth) *Router {
	return &Router{mux: http.NewServeMux(), auth: auth}
}

// Handle registers h at pattern behind the pattern's declared access. A
// pattern the table does not declare is registered closed: with tokens
// configured every call is refused (the route-walk test names it).
func (rt *Router) Handle(pattern string, h http.Handler) {
	access := AccessOf(pattern)
	if access == Undeclared {
		rt.auth.log.Error("route has no access in api's route table: refused while tokens are configured", "pattern", pattern)
	}
	rt.routes = append(rt.routes, Route{pattern, access})
	h = rt.auth.Require(access, h)
	if strings.HasSuffix(pattern, "/ical") {
		h = queryToken(h)
	}
	rt.mux.Handle(pattern, h)
}

// queryToken lets calendar clients, which subscribe to a URL and cannot
// send headers, give the token as ?access_token= (RFC 6750, section 2.3);
// the access log records paths only, never the query.
func queryToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if tok := q.Get("access_token"); tok != "" && r.Header.Get("Authorization") == "" {
			r = r.Clone(r.Context())
			r.Header.Set("Authorization", "Bearer "+tok)
			q.Del("access_token")
			r.URL.RawQuery = q.Encode()
		}
		h.ServeHTTP(w, r)
	})
}

// HandleFunc registers f at pattern as Handle does.
func (rt *Router) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	rt.Handle(pattern, http.HandlerFunc(f))
}

// Mount registers h at every pattern the table declares with access (the
// ingest handler at the Integration patterns, which routes within them).
func (rt *Router) Mount(access Access, h http.Handler) {
	for _, r := range RouteTable() {
		if r.Access == access {
			rt.Handle(r.Pattern, h)
		}
	}
}

// Routes lists what was registered, in order.
func (rt *Router) Routes() []Route { return append([]Route(nil), rt.routes...) }

// ServeHTTP serves through the mux.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.mux.ServeHTTP(w, r) }

// Pattern returns the registered pattern that r would be served by.
func (rt *Router) Pattern(r *http.Request) string {
	_, p := rt.mux.Handler(r)
	return p
}
