// Package notify delivers one notification about an incident to one
// endpoint (PagerDuty Events API v2, a signed JSON webhook, a Slack incoming
// webhook, or email over SMTP) and classifies the outcome as delivered,
// retryable (with the endpoint's Retry-After) or permanent. It keeps no
// state and never retries: the escalation engine calls it from durable
// timers and decides when to try again.
package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/strictyaml"
)

// Event is what happened to the incident.
type Event string

// Events. EventEscalate is a page to a further escalation level or loop;
// PagerDuty sees it as a trigger of the same dedup key. EventNote is a
// message about the incident that pages nobody anew (a runbook's notify
// step): its Text is the point. PagerDuty takes no notes (see Supports).
const (
	EventTrigger     Event = "trigger"
	EventAcknowledge Event = "acknowledge"
	EventResolve     Event = "resolve"
	EventEscalate    Event = "escalate"
	EventNote        Event = "note"
)

// Message is one notification, filled by the escalation engine.
type Message struct {
	// ID identifies this notification; retries of it carry the same ID, so
	// receivers can drop duplicates (the webhook's X-Incidentd-Delivery,
	// the mail's Message-ID). The engine uses its idempotency key.
	ID         string
	Event      Event
	IncidentID string
	Title      string
	// Priority is P1..P5.
	Priority string
	// Status is the incident's status: triggered, acknowledged, resolved.
	Status string
	// RootCause is the root-cause CI, if correlation found one.
	RootCause        string
	ImpactedServices []string
	Labels           map[string]string
	// URL opens the incident; AckURL and ResolveURL are signed one-click
	// links (see Signer).
	URL, AckURL, ResolveURL string
	Recipient               Recipient
	// Level and Loop place the page in the escalation policy (both from 0).
	Level, Loop int
	// Time is when the event happened; the clock's now if zero.
	Time time.Time
	// Text is a message from whoever asked for the notification: the text
	// of a note, or why a runbook escalated. Every notifier shows it.
	Text string
}

// Recipient is the person paged, when the target is a user's contact.
type Recipient struct {
	// User is the on-call user id.
	User string
	// To is the contact's address (email address for email notifiers).
	To string
}

// Sender sends one message; *Notifier implements it, and engine tests can
// substitute their own.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// SecretFunc returns the value of the secret NAME written ${secret:NAME}.
type SecretFunc func(name string) (string, error)

// Options are the dependencies of New.
type Options struct {
	// Secrets resolves ${secret:NAME} references; a config with references
	// and no Secrets is an error.
	Secrets SecretFunc
	// Clock stamps messages and drives rate limits; the wall clock if nil.
	Clock clock.Clock
	// HTTPClient sends webhook, Slack and PagerDuty requests. The default
	// does not follow redirects, so a signed body never goes elsewhere.
	HTTPClient *http.Client
	// TLSConfig is the base for outgoing TLS, SMTP and (with the default
	// HTTPClient) HTTPS: for example private RootCAs.
	TLSConfig *tls.Config
	// Metrics counts deliveries; nil counts nothing.
	Metrics *Metrics
}

// Notifiers are the configured notifiers by name.
type Notifiers struct {
	byName map[string]*Notifier
}

// Notifier is one configured endpoint with its rate limit.
type Notifier struct {
	b       *base
	send    func(ctx context.Context, m Message) error
	timeout time.Duration
	limit   *rate.Limiter
	rate    Rate
	clock   clock.Clock
	metrics *Metrics
	desc    slog.Value
}

// New validates cfg (as Validate does, without lines) and builds its
// notifiers, resolving secret references. Errors name the key and the
// secret, never a value.
func New(cfg Config, opts Options) (*Notifiers, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = defaultHTTPClient(opts.TLSConfig)
	}
	d := strictyaml.NewDecoder()
	cfg.Validate(d, "notifiers")
	if err := d.Err(""); err != nil {
		return nil, err
	}
	ns := &Notifiers{byName: map[string]*Notifier{}}
	var errs []error
	for i, c := range cfg {
		path := fmt.Sprintf("notifiers[%d]", i)
		n, err := build(c, opts, path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := ns.byName[c.Name]; dup {
			errs = append(errs, fmt.Errorf("%s.name: %q used twice", path, c.Name))
			continue
		}
		ns.byName[c.Name] = n
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ns, nil
}

// Get returns the notifier called name.
func (ns *Notifiers) Get(name string) (*Notifier, bool) {
	n, ok := ns.byName[name]
	return n, ok
}

// Names lists the notifiers, sorted.
func (ns *Notifiers) Names() []string {
	out := make([]string, 0, len(ns.byName))
	for name := range ns.byName {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func build(c NotifierConfig, opts Options, path string) (*Notifier, error) {
	now := opts.Clock.Now
	b := &base{name: c.Name, typ: c.Type, now: now}
	res := resolver{opts: opts, path: path, red: &b.red}
	n := &Notifier{
		b: b, timeout: c.timeout(), rate: c.Rate, clock: opts.Clock, metrics: opts.Metrics, desc: c.LogValue(),
		limit: rate.NewLimiter(rate.Limit(c.Rate.perSecond()), max(c.Rate.N, 1)),
	}
	switch c.Type {
	case TypePagerDuty:
		p := &pagerDuty{base: b, http: opts.HTTPClient, eventsURL: c.eventsURL()}
		p.routingKey = res.secret("routing_key", c.RoutingKey)
		n.send = p.send
	case TypeWebhook:
		w := &webhook{base: b, http: opts.HTTPClient, headers: http.Header{}}
		w.url = res.url("url", c.URL)
		w.secret = []byte(res.secret("hmac_secret", c.HMACSecret))
		for h, v := range c.Headers {
			w.headers.Set(h, res.secret("headers."+h, v))
		}
		n.send = w.send
	case TypeSlack:
		s := &slack{base: b, http: opts.HTTPClient}
		s.url = res.url("webhook_url", c.WebhookURL)
		n.send = s.send
	case TypeEmail:
		e := &email{base: b, cfg: c.SMTP, to: c.To, tlsBase: opts.TLSConfig}
		e.username = res.secret("smtp.username", c.SMTP.Username)
		e.password = res.secret("smtp.password", c.SMTP.Password)
		n.send = e.send
	default:
		return nil, fmt.Errorf("%s.type: unknown notifier type %q", path, c.Type)
	}
	if len(res.errs) > 0 {
		return nil, errors.Join(res.errs...)
	}
	return n, nil
}

// resolver expands ${secret:NAME} in one notifier's values, remembering
// every resolved value so that errors can be scrubbed of it.
type resolver struct {
	opts Options
	path string
	red  *redactor
	errs []error
}

func (r *resolver) secret(key string, v Secret) string {
	s := string(v)
	if err := checkSecretRefs(s); err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s.%s: %v", r.path, key, err))
		return ""
	}
	out := secretRe.ReplaceAllStringFunc(s, func(ref string) string {
		name := secretRe.FindStringSubmatch(ref)[1]
		if r.opts.Secrets == nil {
			r.errs = append(r.errs, fmt.Errorf("%s.%s: secret %q referenced but no secret resolver is configured", r.path, key, name))
			return ""
		}
		val, err := r.opts.Secrets(name)
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("%s.%s: secret %q: %v", r.path, key, name, err))
			return ""
		}
		r.red.add(val)
		return val
	})
	r.red.add(out)
	return out
}

// url resolves a URL that may hold secrets and checks it once resolved.
func (r *resolver) url(key string, v Secret) string {
	before := len(r.errs)
	u := r.secret(key, v)
	if len(r.errs) == before {
		if err := checkURL(u); err != nil {
			r.errs = append(r.errs, fmt.Errorf("%s.%s: %v", r.path, key, err))
		}
	}
	// Tokens live in the path or query (Slack's /services/T/B/TOKEN), and
	// endpoints echo them without the host.
	if parsed, err := url.Parse(u); err == nil {
		pw, _ := parsed.User.Password()
		r.red.add(strings.TrimPrefix(parsed.Path, "/"), parsed.RawQuery, pw)
	}
	return u
}

func defaultHTTPClient(tc *tls.Config) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if tc != nil {
		t.TLSClientConfig = tc.Clone()
	}
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = 30 * time.Second
	return &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Name is the notifier's configured name.
func (n *Notifier) Name() string { return n.b.name }

// Type is pagerduty, webhook, slack or email.
func (n *Notifier) Type() string { return n.b.typ }

// String names the notifier without any secret.
func (n *Notifier) String() string { return n.b.name + " (" + n.b.typ + ")" }

// LogValue describes the notifier without its secrets.
func (n *Notifier) LogValue() slog.Value { return n.desc }

// Send delivers m once. It returns nil, or an *Error that says whether a
// retry can help (IsPermanent, RetryAfter). It does not consult the rate
// limit: call Allow or Reserve first.
func (n *Notifier) Send(ctx context.Context, m Message) error {
	if m.Time.IsZero() {
		m.Time = n.clock.Now()
	}
	var err error
	if verr := n.check(m); verr != nil {
		err = verr
	} else {
		ctx, cancel := context.WithTimeout(ctx, n.timeout)
		err = n.send(ctx, m)
		cancel()
	}
	n.metrics.observe(n.b.name, n.b.typ, err)
	return err
}

func (n *Notifier) check(m Message) error {
	switch m.Event {
	case EventTrigger, EventAcknowledge, EventResolve, EventEscalate, EventNote:
	default:
		return n.b.invalid("unknown event %q", m.Event)
	}
	if !n.Supports(m.Event) {
		return n.b.invalid("%s", unsupported(n.b.typ, m.Event))
	}
	if m.Event == EventNote && strings.TrimSpace(m.Text) == "" {
		return n.b.invalid("a note without text")
	}
	if strings.TrimSpace(m.IncidentID) == "" {
		return n.b.invalid("no incident id")
	}
	return nil
}

// Supports reports whether the notifier can deliver event. PagerDuty
// cannot deliver notes: the Events API has trigger, acknowledge and
// resolve only, and a note sent as a trigger would open a new PagerDuty
// incident, and page its on-call, whenever the alert is not open there
// (an incident resolved, or one whose PagerDuty level was never paged).
func (n *Notifier) Supports(event Event) bool {
	return unsupported(n.b.typ, event) == ""
}

// unsupported says why a notifier of typ cannot deliver event ("" if it
// can).
func unsupported(typ string, event Event) string {
	if typ == TypePagerDuty && event == EventNote {
		return "PagerDuty takes no notes: its Events API has no such event, and a trigger would open a new PagerDuty incident where none is open"
	}
	return ""
}

// Allow takes a token from the notifier's rate limit if one is free now.
func (n *Notifier) Allow() bool { return n.limit.AllowN(n.clock.Now(), 1) }

// Reserve takes the next token of the rate limit and returns how long the
// caller must wait before sending with it (0: send now). The engine
// schedules the send that much later instead of blocking.
func (n *Notifier) Reserve() time.Duration {
	now := n.clock.Now()
	r := n.limit.ReserveN(now, 1)
	if !r.OK() {
		return n.rate.Per
	}
	return r.DelayFrom(now)
}

// Rate is the notifier's configured rate limit.
func (n *Notifier) Rate() Rate { return n.rate }
