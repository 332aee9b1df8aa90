package notify

import (
	"strings"
	"testing"
	"time"
)

func TestValidateReportsEveryErrorAtItsKey(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want []string // every error, in order
	}{
		{"valid", `
notifiers:
  - {name: pagerduty-shop, type: pagerduty, routing_key: "${secret:pd_shop}", events_url: "https://events.pagerduty.com"}
  - {name: ops-webhook, type: webhook, url: "https://ops.example.com/hook", hmac_secret: "${secret:hook}", headers: {Authorization: "Bearer ${secret:tok}"}}
  - {name: slack-sre, type: slack, webhook_url: "${secret:slack_sre}", rate: 1/s}
  - {name: mail, type: email, smtp: {host: smtp.example.com, port: 587, from: incidentd@example.com}}
`, nil},
		{"missing name and type", `
notifiers:
  - {routing_key: x}
`, []string{
			"test.yml:3: notifiers[0]: name is required",
			"test.yml:3: notifiers[0]: type is required: one of pagerduty, webhook, slack, email",
		}},
		{"unknown type, duplicate name", `
notifiers:
  - {name: a, type: slack, webhook_url: "https://hooks.slack.com/services/x"}
  - name: a
    type: pagerdty
`, []string{
			"test.yml:4: notifiers[1].name: \"a\" is also the name of notifiers[0]",
			"test.yml:5: notifiers[1].type: \"pagerdty\" is not one of pagerduty, webhook, slack, email",
		}},
		{"pagerduty", `
notifiers:
  - name: pd
    type: pagerduty
    events_url: "events.pagerduty.com"
    url: "https://x.example.com"
`, []string{
			"test.yml:3: notifiers[0]: routing_key is required: the integration key of a PagerDuty Events API v2 service",
			"test.yml:5: notifiers[0].events_url: \"events.pagerduty.com\" is not an http(s) URL",
			"test.yml:6: notifiers[0].url: not a key of a pagerduty notifier (it belongs to webhook)",
		}},
		{"webhook", `
notifiers:
  - name: hook
    type: webhook
    url: "ftp://ops.example.com/x"
    hmac_secret: "${secret:bad-name}"
    headers:
      X-Incidentd-Signature: forged
      "Bad Header": x
`, []string{
			"test.yml:5: notifiers[0].url: ftp://ops.example.com/... is not an http(s) URL",
			"test.yml:6: notifiers[0].hmac_secret: malformed secret reference: write ${secret:NAME} with NAME of letters, digits and _",
			"test.yml:8: notifiers[0].headers.X-Incidentd-Signature: X-Incidentd-Signature is set by incidentd",
			"test.yml:9: notifiers[0].headers.Bad Header: \"Bad Header\" is not a valid header name",
		}},
		{"slack", `
notifiers:
  - {name: s, type: slack, smtp: {host: x}}
`, []string{
			"test.yml:3: notifiers[0]: webhook_url is required: a Slack incoming webhook URL",
			"test.yml:3: notifiers[0].smtp: not a key of a slack notifier (it belongs to email)",
		}},
		{"email", `
notifiers:
  - name: mail
    type: email
    to: [ops@example.com, "not an address"]
    smtp:
      port: 70000
      from: "nobody"
      password: "${secret:smtp}"
      tls: true
      starttls: true
`, []string{
			"test.yml:5: notifiers[0].to[1]: \"not an address\" is not a mail address",
			"test.yml:6: notifiers[0].smtp: host is required",
			"test.yml:7: notifiers[0].smtp.port: want 1..65535",
			"test.yml:8: notifiers[0].smtp.from: \"nobody\" is not a mail address",
			"test.yml:9: notifiers[0].smtp.password: set without smtp.username",
			"test.yml:11: notifiers[0].smtp.starttls: set only one of tls (implicit TLS) and starttls",
		}},
		{"email without smtp", `
notifiers:
  - {name: mail, type: email}
`, []string{
			"test.yml:3: notifiers[0]: smtp is required: {host, port, from}",
		}},
		{"decoding errors", `
notifiers:
  - {name: x, type: webhook, url: "https://h.example.com", rate: "10 per second", timeout: forever, smtp: {hots: a}}
`, []string{
			`notifiers[0].rate: invalid rate "10 per second": want N/s, N/m, N/h or N/DURATION, e.g. 10/s`,
			`notifiers[0].timeout: invalid duration "forever"`,
			`notifiers[0].smtp.hots: unknown key`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.doc)
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected errors:\n%v", err)
				}
				return
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					if g == w || !strings.HasPrefix(w, "test.yml") && strings.Contains(g, w) {
						found = true
					}
				}
				if !found {
					t.Errorf("missing error %q", w)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %d errors, want %d:\n%s", len(got), len(tc.want), err)
			}
		})
	}
}

func TestRate(t *testing.T) {
	cases := []struct {
		in      string
		want    Rate
		wantErr bool
	}{
		{"10/s", Rate{10, time.Second}, false},
		{"30/m", Rate{30, time.Minute}, false},
		{"100/h", Rate{100, time.Hour}, false},
		{"5/10s", Rate{5, 10 * time.Second}, false},
		{" 2 / 1m ", Rate{2, time.Minute}, false},
		{"0/s", Rate{}, true},
		{"-1/s", Rate{}, true},
		{"10", Rate{}, true},
		{"10/x", Rate{}, true},
		{"ten/s", Rate{}, true},
	}
	for _, tc := range cases {
		var r Rate
		err := r.UnmarshalScalar(tc.in)
		if (err != nil) != tc.wantErr || r != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v, error %v", tc.in, r, err, tc.want, tc.wantErr)
		}
	}
}

func TestNewResolvesSecretsAndNamesMissingOnes(t *testing.T) {
	cfg, err := parse(t, `
notifiers:
  - {name: pd, type: pagerduty, routing_key: "${secret:pd}"}
  - {name: hook, type: webhook, url: "https://ops.example.com/${secret:path}", hmac_secret: "${secret:missing}"}
  - {name: bad-url, type: slack, webhook_url: "${secret:not_a_url}"}
`)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]string{"pd": "R0UTINGKEY", "path": "hook-token-123", "not_a_url": "hooks.slack.com/services/T0/B0/SECRETX"}
	_, err = New(cfg, Options{Secrets: secrets(vals)})
	if err == nil {
		t.Fatal("New accepted a missing secret and a bad URL")
	}
	for _, want := range []string{
		`notifiers[1].hmac_secret: secret "missing": not found`,
		`notifiers[2].webhook_url: <url> is not an http(s) URL`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	for _, v := range vals {
		if strings.Contains(err.Error(), v) {
			t.Errorf("error shows a secret value %q:\n%v", v, err)
		}
	}
	if _, err := New(cfg[:1], Options{}); err == nil || !strings.Contains(err.Error(), `secret "pd" referenced but no secret resolver is configured`) {
		t.Errorf("New without resolver: %v", err)
	}
	ns, err := New(cfg[:1], Options{Secrets: secrets(vals)})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.Names(); len(got) != 1 || got[0] != "pd" {
		t.Errorf("Names() = %v", got)
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	_, err := New(Config{{Name: "x", Type: "sms"}}, Options{})
	if err == nil || !strings.Contains(err.Error(), `notifiers[0].type: "sms" is not one of`) {
		t.Fatalf("New on an invalid config: %v", err)
	}
}
