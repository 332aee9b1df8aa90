package notify

import (
	"fmt"
	"log/slog"
	"math"
	"net/mail"
	"net/textproto"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/strictyaml"
)

// Notifier types.
const (
	TypePagerDuty = "pagerduty"
	TypeWebhook   = "webhook"
	TypeSlack     = "slack"
	TypeEmail     = "email"
)

// DefaultEventsURL is PagerDuty's Events API v2 host.
const DefaultEventsURL = "https://events.pagerduty.com"

// DefaultTimeout bounds one delivery attempt when a notifier sets none.
const DefaultTimeout = 10 * time.Second

// Config is the notifiers: section, a list of named endpoints.
type Config []NotifierConfig

// NotifierConfig is one endpoint. Which keys apply depends on Type; a key
// of another type is an error, so a typo cannot silently do nothing.
type NotifierConfig struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// Rate limits sends through Allow/Reserve: "10/s", "30/m", "5/10s".
	Rate Rate `yaml:"rate"`
	// Timeout bounds one attempt (connect, TLS, request, response).
	Timeout strictyaml.Duration `yaml:"timeout"`

	// pagerduty
	RoutingKey Secret `yaml:"routing_key"`
	EventsURL  string `yaml:"events_url"`

	// webhook
	URL        Secret            `yaml:"url"`
	HMACSecret Secret            `yaml:"hmac_secret"`
	Headers    map[string]Secret `yaml:"headers"`

	// slack
	WebhookURL Secret `yaml:"webhook_url"`

	// email
	SMTP SMTPConfig `yaml:"smtp"`
	// To receives messages that carry no recipient address (an
	// escalation target "notifier:NAME" rather than a user's contact).
	To []string `yaml:"to"`
}

// SMTPConfig is an email notifier's mail server.
type SMTPConfig struct {
	Host string `yaml:"host"`
	// Port defaults (when 0 or unset) to 587, or 465 with implicit TLS.
	Port     int    `yaml:"port"`
	From     string `yaml:"from"`
	Username Secret `yaml:"username"`
	Password Secret `yaml:"password"`
	// StartTLS (default true) upgrades the connection before anything is
	// sent and fails if the server does not offer it.
	StartTLS *bool `yaml:"starttls"`
	// TLS connects with TLS from the first byte (SMTPS, port 465).
	TLS bool `yaml:"tls"`
}

// typeKeys lists the type-specific keys, each with whether it is set, so
// that a key of another type is reported rather than ignored.
func (n *NotifierConfig) typeKeys() map[string][]struct {
	key string
	set bool
} {
	type k = struct {
		key string
		set bool
	}
	return map[string][]k{
		TypePagerDuty: {{"routing_key", n.RoutingKey != ""}, {"events_url", n.EventsURL != ""}},
		TypeWebhook:   {{"url", n.URL != ""}, {"hmac_secret", n.HMACSecret != ""}, {"headers", n.Headers != nil}},
		TypeSlack:     {{"webhook_url", n.WebhookURL != ""}},
		TypeEmail:     {{"smtp", n.SMTP != (SMTPConfig{})}, {"to", n.To != nil}},
	}
}

var (
	nameRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	secretRe = regexp.MustCompile(`\$\{secret:([A-Za-z0-9_]+)\}`)
)

// reservedHeaders are set by the webhook notifier itself.
var reservedHeaders = []string{"Content-Type", "Content-Length", "Host", "User-Agent", headerSignature, headerTimestamp, headerEvent, headerDelivery}

// Validate reports every semantic error of the section with d.Failf at the
// key that is wrong, or at the list item or mapping that lacks a required
// key; path is the section's key ("notifiers").
func (c Config) Validate(d *strictyaml.Decoder, path string) {
	seen := map[string]int{}
	for i := range c {
		n := &c[i]
		p := fmt.Sprintf("%s[%d]", path, i)
		key := func(k string) string { return strictyaml.Join(p, k) }
		switch {
		case n.Name == "":
			d.Failf(p, "name is required")
		case !nameRe.MatchString(n.Name):
			d.Failf(key("name"), "%q is not a valid name (letters, digits, _ . -)", n.Name)
		default:
			if j, dup := seen[n.Name]; dup {
				d.Failf(key("name"), "%q is also the name of %s[%d]", n.Name, path, j)
			} else {
				seen[n.Name] = i
			}
		}
		byType := n.typeKeys()
		if _, ok := byType[n.Type]; !ok {
			if n.Type == "" {
				d.Failf(p, "type is required: one of pagerduty, webhook, slack, email")
			} else {
				d.Failf(key("type"), "%q is not one of pagerduty, webhook, slack, email", n.Type)
			}
			continue
		}
		for _, typ := range []string{TypePagerDuty, TypeWebhook, TypeSlack, TypeEmail} {
			if typ == n.Type {
				continue
			}
			for _, k := range byType[typ] {
				if k.set {
					d.Failf(key(k.key), "not a key of a %s notifier (it belongs to %s)", n.Type, typ)
				}
			}
		}
		if n.Timeout < 0 {
			d.Failf(key("timeout"), "must not be negative")
		}
		checkRefs := func(k string, v string) {
			if err := checkSecretRefs(v); err != nil {
				d.Failf(key(k), "%v", err)
			}
		}
		switch n.Type {
		case TypePagerDuty:
			checkRefs("routing_key", string(n.RoutingKey))
			if n.RoutingKey == "" {
				d.Failf(p, "routing_key is required: the integration key of a PagerDuty Events API v2 service")
			}
			if n.EventsURL != "" && checkURL(n.EventsURL) != nil {
				// Not a secret: show it.
				d.Failf(key("events_url"), "%q is not an http(s) URL", n.EventsURL)
			}
		case TypeWebhook:
			checkRefs("url", string(n.URL))
			checkRefs("hmac_secret", string(n.HMACSecret))
			if n.URL == "" {
				d.Failf(p, "url is required")
			} else if !hasSecretRef(string(n.URL)) {
				if err := checkURL(string(n.URL)); err != nil {
					d.Failf(key("url"), "%v", err)
				}
			}
			names := make([]string, 0, len(n.Headers))
			for h := range n.Headers {
				names = append(names, h)
			}
			sort.Strings(names)
			for _, h := range names {
				v := n.Headers[h]
				hk := strictyaml.Join(key("headers"), h)
				checkRefs(strictyaml.Join("headers", h), string(v))
				if !validHeaderName(h) {
					d.Failf(hk, "%q is not a valid header name", h)
				}
				for _, r := range reservedHeaders {
					if textproto.CanonicalMIMEHeaderKey(h) == textproto.CanonicalMIMEHeaderKey(r) {
						d.Failf(hk, "%s is set by incidentd", r)
					}
				}
			}
		case TypeSlack:
			checkRefs("webhook_url", string(n.WebhookURL))
			if n.WebhookURL == "" {
				d.Failf(p, "webhook_url is required: a Slack incoming webhook URL")
			} else if !hasSecretRef(string(n.WebhookURL)) {
				if err := checkURL(string(n.WebhookURL)); err != nil {
					d.Failf(key("webhook_url"), "%v", err)
				}
			}
		case TypeEmail:
			for j, to := range n.To {
				if _, err := mail.ParseAddress(to); err != nil {
					d.Failf(fmt.Sprintf("%s[%d]", key("to"), j), "%q is not a mail address", to)
				}
			}
			s := &n.SMTP
			if *s == (SMTPConfig{}) {
				d.Failf(p, "smtp is required: {host, port, from}")
				continue
			}
			sk := func(k string) string { return strictyaml.Join(key("smtp"), k) }
			checkRefs("smtp.username", string(s.Username))
			checkRefs("smtp.password", string(s.Password))
			if s.Host == "" {
				d.Failf(key("smtp"), "host is required")
			}
			if s.Port < 0 || s.Port > 65535 {
				d.Failf(sk("port"), "want 1..65535")
			}
			if s.From == "" {
				d.Failf(key("smtp"), "from is required")
			} else if _, err := mail.ParseAddress(s.From); err != nil {
				d.Failf(sk("from"), "%q is not a mail address", s.From)
			}
			if s.Password != "" && s.Username == "" {
				d.Failf(sk("password"), "set without smtp.username")
			}
			if s.TLS && s.StartTLS != nil && *s.StartTLS {
				d.Failf(sk("starttls"), "set only one of tls (implicit TLS) and starttls")
			}
		}
	}
}

// port is the SMTP port, defaulted from the TLS mode.
func (s *SMTPConfig) port() int {
	switch {
	case s.Port != 0:
		return s.Port
	case s.TLS:
		return 465
	default:
		return 587
	}
}

// startTLS says whether to upgrade with STARTTLS: on unless turned off or
// the connection is TLS already.
func (s *SMTPConfig) startTLS() bool {
	return !s.TLS && (s.StartTLS == nil || *s.StartTLS)
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s is not an http(s) URL", redactURL(s))
	}
	return nil
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

func hasSecretRef(s string) bool { return strings.Contains(s, "${secret:") }

// checkSecretRefs rejects a "${secret:" that is not a whole reference, so
// that a typo is not sent as a literal value.
func checkSecretRefs(s string) error {
	rest := secretRe.ReplaceAllString(s, "")
	if strings.Contains(rest, "${secret:") {
		return fmt.Errorf("malformed secret reference: write ${secret:NAME} with NAME of letters, digits and _")
	}
	return nil
}

// Secret is a config value that must never be shown: String, YAML, JSON and
// slog render it as <secret>.
type Secret string

const secretMask = "<secret>"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return secretMask
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return strconv.Quote(s.String()) }

// LogValue masks the value in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML masks the value when a config is dumped.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON masks the value when a config is dumped.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// LogValue describes a notifier without its secrets.
func (n NotifierConfig) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("name", n.Name), slog.String("type", n.Type)}
	switch n.Type {
	case TypePagerDuty:
		attrs = append(attrs, slog.String("events_url", n.eventsURL()))
	case TypeWebhook:
		attrs = append(attrs, slog.String("url", redactURL(string(n.URL))))
	case TypeEmail:
		if n.SMTP.Host != "" {
			attrs = append(attrs, slog.String("smtp", fmt.Sprintf("%s:%d", n.SMTP.Host, n.SMTP.port())))
		}
	}
	return slog.GroupValue(attrs...)
}

func (n NotifierConfig) eventsURL() string {
	if n.EventsURL == "" {
		return DefaultEventsURL
	}
	return strings.TrimRight(n.EventsURL, "/")
}

func (n NotifierConfig) timeout() time.Duration {
	if n.Timeout == 0 {
		return DefaultTimeout
	}
	return time.Duration(n.Timeout)
}

// Rate is a send rate written "N/UNIT": 10/s, 30/m, 100/h, or N per a
// duration, 5/10s. Bursts of up to N are allowed. Zero means unlimited.
type Rate struct {
	N   int
	Per time.Duration
}

// UnmarshalScalar parses a rate.
func (r *Rate) UnmarshalScalar(s string) error {
	bad := fmt.Errorf("invalid rate %q: want N/s, N/m, N/h or N/DURATION, e.g. 10/s", s)
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	if !ok {
		return bad
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil || n < 1 {
		return bad
	}
	unit = strings.TrimSpace(unit)
	switch unit {
	case "s", "m", "h":
		unit = "1" + unit
	}
	var per strictyaml.Duration
	if err := per.UnmarshalScalar(unit); err != nil || per <= 0 {
		return bad
	}
	*r = Rate{N: n, Per: time.Duration(per)}
	return nil
}

func (r Rate) String() string {
	if r.N == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%d/%s", r.N, strictyaml.Duration(r.Per))
}

// perSecond is the rate in events per second, math.Inf(1) when unlimited.
func (r Rate) perSecond() float64 {
	if r.N == 0 || r.Per <= 0 {
		return math.Inf(1)
	}
	return float64(r.N) / r.Per.Seconds()
}
