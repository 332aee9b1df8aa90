package notify

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/incidentd/incidentd/clock"
)

func TestRateLimitAllowAndReserve(t *testing.T) {
	clk := clock.NewFake(testNow)
	doc := `
notifiers:
  - {name: slow, type: webhook, url: "https://h.example.com", rate: 2/s}
  - {name: free, type: webhook, url: "https://h.example.com"}
`
	slow := build1(t, doc, Options{Clock: clk}, "slow")
	free := build1(t, doc, Options{Clock: clk}, "free")

	// A burst of 2 passes, the third waits for the next token.
	if !slow.Allow() || !slow.Allow() {
		t.Fatal("the first two sends of a 2/s limit were refused")
	}
	if slow.Allow() {
		t.Fatal("a third send in the same instant was allowed")
	}
	if d := slow.Reserve(); d != 500*time.Millisecond {
		t.Errorf("Reserve = %v, want 500ms", d)
	}
	// That token is taken: the next one is a further 500ms away.
	if d := slow.Reserve(); d != time.Second {
		t.Errorf("second Reserve = %v, want 1s", d)
	}
	clk.Advance(time.Second)
	if slow.Allow() {
		t.Error("Allow took a token already reserved")
	}
	clk.Advance(500 * time.Millisecond)
	if !slow.Allow() {
		t.Error("no token after the reservations were due")
	}
	for i := 0; i < 1000; i++ {
		if !free.Allow() || free.Reserve() != 0 {
			t.Fatal("a notifier without rate was limited")
		}
	}
	if slow.Rate().String() != "2/1s" || free.Rate().String() != "unlimited" {
		t.Errorf("Rate() = %s, %s", slow.Rate(), free.Rate())
	}
}

func TestMetricsCountByOutcome(t *testing.T) {
	rec := &recorder{status: 200}
	srv := newServer(t, rec)
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	n := build1(t, `
notifiers:
  - {name: hook, type: webhook, url: "`+srv.URL+`"}
`, Options{Metrics: m}, "hook")
	ctx := context.Background()
	n.Send(ctx, message())
	n.Send(ctx, message())
	rec.mu.Lock()
	rec.status = 400
	rec.mu.Unlock()
	n.Send(ctx, message())
	rec.mu.Lock()
	rec.status = 503
	rec.mu.Unlock()
	n.Send(ctx, message())
	n.Send(ctx, message())

	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"incidentd_notifications_sent_total notifier=hook type=webhook":                    2,
		"incidentd_notifications_failed_total notifier=hook reason=permanent type=webhook": 1,
		"incidentd_notifications_failed_total notifier=hook reason=retryable type=webhook": 2,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
}

// TestSecretsNeverShow sends to endpoints that fail in every way, some
// echoing the request back, and checks that no secret value appears in an
// error, in the config printed or dumped, or in the log.
func TestSecretsNeverShow(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "rejected %s %s %s", r.URL.String(), r.Header.Get("Authorization"), b.String())
	})
	srv := newServer(t, echo)
	dead := "http://" + closedAddr(t)
	vals := map[string]string{
		"pd":         "PDROUTINGKEY-0123456789abcdef",
		"hook_path":  "hooktoken-abcdef123456",
		"hmac":       "hmac-secret-value-xyz",
		"bearer":     "bearer-token-value-42",
		"slack":      srv.URL + "/services/T0/B0/SLACKTOKEN987",
		"slack_dead": dead + "/services/T1/B1/DEADSLACKTOKEN",
		"smtp_pw":    "smtp-password-value",
	}
	doc := `
notifiers:
  - {name: pd, type: pagerduty, routing_key: "${secret:pd}", events_url: "` + srv.URL + `"}
  - {name: pd-dead, type: pagerduty, routing_key: "${secret:pd}", events_url: "` + dead + `"}
  - {name: hook, type: webhook, url: "` + srv.URL + `/${secret:hook_path}?t=${secret:hook_path}", hmac_secret: "${secret:hmac}", headers: {Authorization: "Bearer ${secret:bearer}"}}
  - {name: hook-dead, type: webhook, url: "` + dead + `/${secret:hook_path}", hmac_secret: "${secret:hmac}"}
  - {name: slack, type: slack, webhook_url: "${secret:slack}"}
  - {name: slack-dead, type: slack, webhook_url: "${secret:slack_dead}"}
  - {name: mail, type: email, smtp: {host: "127.0.0.1", port: ` + strings.Split(closedAddr(t), ":")[1] + `, from: a@example.com, username: ops, password: "${secret:smtp_pw}"}}
`
	cfg, err := parse(t, doc)
	if err != nil {
		t.Fatal(err)
	}
	// The literal values too: a config may hold them instead of references.
	literal := append(Config(nil), cfg...)
	literal[0].RoutingKey = Secret(vals["pd"])
	literal[2].HMACSecret = Secret(vals["hmac"])
	literal[6].SMTP.Password = Secret(vals["smtp_pw"])

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ns, err := New(cfg, Options{Secrets: secrets(vals)})
	if err != nil {
		t.Fatal(err)
	}
	var shown []string
	for _, name := range ns.Names() {
		n, _ := ns.Get(name)
		err := n.Send(context.Background(), message())
		if err == nil {
			t.Errorf("%s: Send to a failing endpoint succeeded", name)
			continue
		}
		shown = append(shown, err.Error(), fmt.Sprintf("%+v", err), n.String())
		log.Error("send failed", "notifier", n, "err", err)
	}
	for _, c := range []Config{cfg, literal} {
		y, _ := yaml.Marshal(section{c})
		shown = append(shown, fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), string(y))
		for _, nc := range c {
			log.Info("notifier", "config", nc)
		}
	}
	shown = append(shown, logs.String())
	all := strings.Join(shown, "\n")
	for name, v := range vals {
		for _, s := range []string{v, strings.TrimPrefix(strings.TrimPrefix(v, srv.URL), dead)} {
			if strings.Contains(all, s) {
				t.Errorf("secret %s shows in output:\n%s", name, all)
			}
		}
	}
	if !strings.Contains(all, "HTTP 400") || !strings.Contains(all, "connection refused") {
		t.Errorf("errors lost their substance:\n%s", all)
	}
}
