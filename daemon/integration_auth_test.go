package daemon_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/daemon"
	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/runbooks"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

// integrationsWithSecrets has one integration of every type, each with a
// secret of its own.
const integrationsWithSecrets = `
integrations:
  - {name: prod-am, type: alertmanager, secret: '${secret:am_token}'}
  - {name: grafana, type: grafana, secret: '${secret:grafana_token}'}
  - {name: checkout-pd, type: pagerduty, routing_key: '${secret:pd_key}'}
  - name: zabbix
    type: mapping
    secret: ${secret:zabbix_token}
    mapping:
      labels: {alertname: '{{ .trigger_name }}'}
      status: '{{ .event_status }}'
      status_map: {PROBLEM: firing, RESOLVED: resolved}
  - name: github
    type: generic
    hmac: {header: X-Hub-Signature-256, secret: '${secret:github_key}', prefix: 'sha256='}
  - {name: watchdog, type: heartbeat, interval: 10m, secret: '${secret:watchdog_token}'}
`

// TestIntegrationRoutesRefuseRequestsWithoutTheirSecret completes the
// route walk for the routes that take alerts: with every integration
// secured, each of their URLs answers 401 to a request that carries no
// credential (or, for PagerDuty, an unknown routing key), stores nothing,
// and together the URLs reach every integration route of the table.
func TestIntegrationRoutesRefuseRequestsWithoutTheirSecret(t *testing.T) {
	for _, name := range []string{"am_token", "grafana_token", "pd_key", "zabbix_token", "github_key", "watchdog_token"} {
		t.Setenv(runbooks.SecretEnvVar(name), "s3cret-"+name)
	}
	am := `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"A"}}]}`
	grafana := `{"version":"1","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"G"},"fingerprint":"g1"}]}`
	pd := `{"routing_key":"not-the-key","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"critical"}}`
	zabbix := `{"trigger_name":"Z","event_status":"PROBLEM"}`
	generic := `[{"labels":{"alertname":"X"}}]`
	requests := []struct{ path, body string }{
		{"/api/v1/alerts/alertmanager", am},
		{"/api/v1/alerts/grafana", grafana},
		{"/api/v1/alerts/pagerduty", pd},
		{"/v2/enqueue", pd},
		{"/api/v1/alerts", generic},
		{"/api/v1/integrations/prod-am", am},
		{"/api/v1/integrations/grafana", grafana},
		{"/api/v1/integrations/checkout-pd", pd},
		{"/api/v1/integrations/zabbix", zabbix},
		{"/api/v1/integrations/github", generic},
		{"/api/v1/integrations/watchdog", "{}"},
		{"/api/v1/heartbeats/watchdog", "{}"},
	}
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		var rt *api.Router
		url, _ := daemontest.StartWith(t, "storage: {dsn: '"+storetest.DSN(t, b)+"'}\nlog: {level: error}\n"+integrationsWithSecrets, func(o *daemon.Options) {
			o.Router = func(r *api.Router) { rt = r }
		})
		reached := map[string]bool{}
		for _, r := range requests {
			req, err := http.NewRequest("POST", url+r.path, strings.NewReader(r.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			reached[rt.Pattern(req)] = true
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("POST %s without its secret: %d, want 401", r.path, resp.StatusCode)
			}
		}
		for _, r := range api.RouteTable() {
			if r.Access == api.Integration && !reached[r.Pattern] {
				t.Errorf("integration route %q was not probed: add a request for it", r.Pattern)
			}
		}
		resp, err := http.Get(url + "/api/v1/alerts")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var list api.AlertList
		if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
			t.Fatal(err)
		}
		if len(list.Alerts) != 0 {
			t.Errorf("%d alerts stored from refused requests", len(list.Alerts))
		}
	})
}
