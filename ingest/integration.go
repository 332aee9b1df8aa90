package ingest

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/incidentd/incidentd/strictyaml"
)

// Integration types: the payload format an integration takes.
const (
	TypeAlertmanager = "alertmanager"
	TypeGrafana      = "grafana"
	TypeGeneric      = "generic"
	TypePagerDuty    = "pagerduty"
	TypeMapping      = "mapping"
	TypeHeartbeat    = "heartbeat"
)

// typedRoutes are the fixed routes of the built-in formats. The first
// integration of a type in the config serves its route; every integration
// is also served at /api/v1/integrations/{name}.
var typedRoutes = map[string][]string{
	TypeAlertmanager: {"/api/v1/alerts/alertmanager"},
	TypeGeneric:      {"/api/v1/alerts"},
	TypeGrafana:      {"/api/v1/alerts/grafana"},
	TypePagerDuty:    {"/v2/enqueue", "/api/v1/alerts/pagerduty"},
}

// Integrations is the integrations: section of the config, a list of named
// alert sources, each with its own secret and rate limit.
type Integrations []Integration

// Integration is one alert source. Which keys apply depends on Type; a key
// of another type is an error.
type Integration struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"`
	// Secret (${secret:NAME}) must be sent as "Authorization: Bearer
	// VALUE" or as ?token=VALUE.
	Secret string `yaml:"secret"`
	// HMAC, instead of Secret, authenticates with a signature of the body.
	HMAC HMACConfig `yaml:"hmac"`
	// RateLimit bounds the requests per second this source may send.
	RateLimit RateLimit `yaml:"rate_limit"`

	// pagerduty: the routing (integration) key senders put in the body;
	// it selects this integration and is its secret.
	RoutingKey string `yaml:"routing_key"`

	// mapping: how to turn an arbitrary JSON body into alerts.
	Mapping Mapping `yaml:"mapping"`

	// heartbeat: an alert fires when no ping arrived for Interval; Labels
	// are added to it.
	Interval strictyaml.Duration `yaml:"interval"`
	Labels   map[string]string   `yaml:"labels"`
}

// HMACConfig checks a signature of the body: Header carries Prefix followed
// by the hex (or base64) HMAC-SHA256 of the body under Secret, as GitHub's
// X-Hub-Signature-256 does ("sha256=...").
type HMACConfig struct {
	Header   string `yaml:"header"`
	Secret   string `yaml:"secret"`
	Prefix   string `yaml:"prefix"`
	Encoding string `yaml:"encoding"` // hex (default) or base64
}

func (h HMACConfig) set() bool { return h != (HMACConfig{}) }

// RateLimit is a token bucket over requests: PerSecond tokens are added each
// second up to Burst (default: PerSecond rounded up).
type RateLimit struct {
	PerSecond float64 `yaml:"per_second"`
	Burst     int     `yaml:"burst"`
}

var (
	integrationNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	secretRefRe       = regexp.MustCompile(`^\$\{secret:([A-Za-z0-9_]+)\}$`)
	headerNameRe      = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	labelNameRe       = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// secretRef returns NAME of a value written ${secret:NAME}.
func secretRef(v string) (string, bool) {
	m := secretRefRe.FindStringSubmatch(v)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// Validate reports every semantic error of the section with d.Failf; key is
// the section's key ("integrations").
func (list Integrations) Validate(d *strictyaml.Decoder, key string) {
	names := map[string]bool{}
	for i := range list {
		in := &list[i]
		p := fmt.Sprintf("%s[%d]", key, i)
		k := func(s string) string { return strictyaml.Join(p, s) }
		if !integrationNameRe.MatchString(in.Name) {
			d.Failf(k("name"), "%q: want 1..64 letters, digits, '_', '.' or '-', starting with a letter or digit", in.Name)
		} else if names[in.Name] {
			d.Failf(k("name"), "%q used twice", in.Name)
		}
		names[in.Name] = true
		secretKey := func(name, v string) {
			if v != "" {
				if _, ok := secretRef(v); !ok {
					d.Failf(k(name), "write the value as ${secret:NAME} (letters, digits, _), so it stays out of the config file")
				}
			}
		}
		secretKey("secret", in.Secret)
		if in.HMAC.set() {
			if in.Secret != "" {
				d.Failf(k("hmac"), "set secret or hmac, not both")
			}
			if !headerNameRe.MatchString(in.HMAC.Header) {
				d.Failf(k("hmac.header"), "%q is not an HTTP header name", in.HMAC.Header)
			}
			if in.HMAC.Secret == "" {
				d.Failf(k("hmac"), "secret is required")
			}
			secretKey("hmac.secret", in.HMAC.Secret)
			if e := in.HMAC.Encoding; e != "" && e != "hex" && e != "base64" {
				d.Failf(k("hmac.encoding"), "%q is not hex or base64", e)
			}
		}
		if r := in.RateLimit; d.Line(k("rate_limit")) != 0 {
			if r.PerSecond <= 0 {
				d.Failf(k("rate_limit.per_second"), "must be positive")
			}
			if r.Burst < 0 {
				d.Failf(k("rate_limit.burst"), "must not be negative")
			}
		}
		only := func(typ, name string, set bool) {
			if set && in.Type != typ {
				d.Failf(k(name), "only for integrations of type %s", typ)
			}
		}
		only(TypePagerDuty, "routing_key", in.RoutingKey != "")
		only(TypeMapping, "mapping", in.Mapping.set())
		only(TypeHeartbeat, "interval", in.Interval != 0)
		only(TypeHeartbeat, "labels", in.Labels != nil)
		switch in.Type {
		case TypeAlertmanager, TypeGeneric, TypeGrafana:
		case TypePagerDuty:
			if in.RoutingKey == "" {
				d.Failf(p, "routing_key is required: senders put it in the body's routing_key, and it selects this integration")
			}
			secretKey("routing_key", in.RoutingKey)
			if in.Secret != "" || in.HMAC.set() {
				d.Failf(p, "a pagerduty integration is authenticated by its routing_key: secret and hmac do not apply")
			}
		case TypeMapping:
			if !in.Mapping.set() {
				d.Failf(p, "mapping is required")
			} else {
				in.Mapping.validate(d, k("mapping"))
			}
		case TypeHeartbeat:
			if in.Interval < strictyaml.Duration(time.Second) {
				d.Failf(k("interval"), "must be at least 1s")
			}
			for l, v := range in.Labels {
				if !labelNameRe.MatchString(l) {
					d.Failf(k("labels"), "%q is not a valid label name", l)
				}
				if l == "alertname" || l == "heartbeat" {
					d.Failf(k("labels"), "%q is set by incidentd (alertname=HeartbeatMissing, heartbeat=<name>)", l)
				}
				if len(v) > maxValueBytes || strings.IndexByte(v, 0) >= 0 {
					d.Failf(k("labels."+l), "value too long or contains NUL")
				}
			}
		default:
			d.Failf(k("type"), "%q is not one of alertmanager, grafana, generic, pagerduty, mapping, heartbeat", in.Type)
		}
	}
}
