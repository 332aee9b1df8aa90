package ingest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// SecretFunc returns the value of the secret NAME written ${secret:NAME}
// (runbooks.EnvSecrets.Secret).
type SecretFunc func(name string) (string, error)

// source is one configured integration, ready to serve: secrets resolved,
// mapping compiled, its token bucket.
type source struct {
	cfg Integration
	// token is the bearer/?token= secret's SHA-256, so that comparing it
	// costs the same whatever the length of what was sent.
	token      *[sha256.Size]byte
	hmacKey    []byte
	routingKey []byte
	limiter    *rate.Limiter
	mapping    *compiledMapping
}

// sources is the routing table built from the integrations section.
type sources struct {
	byName map[string]*source
	// byType is the first integration of each type: it owns the type's
	// fixed route.
	byType map[string]*source
	// pagerDuty are selected by routing key.
	pagerDuty []*source
}

// errUnauthorized is answered with 401; its text says what was missing,
// never what was expected.
type errUnauthorized struct{ msg string }

func (e *errUnauthorized) Error() string { return e.msg }

// buildSources resolves the secrets of list and compiles its mappings. prev
// is the table in use: a source whose rate limit is unchanged keeps its
// bucket across a reload.
func buildSources(list Integrations, secrets SecretFunc, prev *sources) (*sources, error) {
	s := &sources{byName: map[string]*source{}, byType: map[string]*source{}}
	var errs []error
	resolve := func(in *Integration, key, ref string) []byte {
		if ref == "" {
			return nil
		}
		name, ok := secretRef(ref)
		if !ok {
			errs = append(errs, fmt.Errorf("integrations %s: %s: want ${secret:NAME}", in.Name, key))
			return nil
		}
		if secrets == nil {
			errs = append(errs, fmt.Errorf("integrations %s: %s: secret %q referenced but no secret source is configured", in.Name, key, name))
			return nil
		}
		v, err := secrets(name)
		if err == nil && v == "" {
			err = errors.New("empty")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("integrations %s: %s: %w", in.Name, key, err))
			return nil
		}
		return []byte(v)
	}
	routingKeys := map[string]string{}
	for i := range list {
		in := list[i]
		src := &source{cfg: in}
		if tok := resolve(&in, "secret", in.Secret); tok != nil {
			sum := sha256.Sum256(tok)
			src.token = &sum
		}
		if in.HMAC.set() {
			src.hmacKey = resolve(&in, "hmac.secret", in.HMAC.Secret)
		}
		if in.Type == TypePagerDuty {
			src.routingKey = resolve(&in, "routing_key", in.RoutingKey)
			if other, dup := routingKeys[string(src.routingKey)]; dup && src.routingKey != nil {
				errs = append(errs, fmt.Errorf("integrations %s: routing_key: the same value as integration %s's", in.Name, other))
			}
			routingKeys[string(src.routingKey)] = in.Name
			s.pagerDuty = append(s.pagerDuty, src)
		}
		if in.Type == TypeMapping {
			m, err := in.Mapping.compile(in.Name)
			if err != nil {
				errs = append(errs, fmt.Errorf("integrations %s: mapping: %w", in.Name, err))
			}
			src.mapping = m
		}
		if r := in.RateLimit; r.PerSecond > 0 {
			burst := r.Burst
			if burst == 0 {
				burst = int(math.Ceil(r.PerSecond))
			}
			src.limiter = rate.NewLimiter(rate.Limit(r.PerSecond), burst)
			if prev != nil {
				if old := prev.byName[in.Name]; old != nil && old.limiter != nil && old.cfg.RateLimit == r {
					src.limiter = old.limiter
				}
			}
		}
		s.byName[in.Name] = src
		if _, taken := s.byType[in.Type]; !taken {
			s.byType[in.Type] = src
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// authenticate checks the request's bearer token, ?token= or HMAC
// signature against the source's secret. A source without one (or no
// source: a fixed route no integration claims) lets every request in.
func (src *source) authenticate(r *http.Request, body []byte) error {
	switch {
	case src == nil:
		return nil
	case src.token != nil:
		given, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			given = r.URL.Query().Get("token")
		}
		if given == "" {
			return &errUnauthorized{"this integration needs its secret: send Authorization: Bearer <secret>, or ?token=<secret>"}
		}
		sum := sha256.Sum256([]byte(given))
		if subtle.ConstantTimeCompare(sum[:], src.token[:]) != 1 {
			return &errUnauthorized{"invalid token"}
		}
	case src.hmacKey != nil:
		h := src.cfg.HMAC
		sig := r.Header.Get(h.Header)
		if sig == "" {
			return &errUnauthorized{"this integration needs a signature in the " + h.Header + " header"}
		}
		got, ok := decodeSignature(strings.TrimPrefix(sig, h.Prefix), h.Encoding)
		mac := hmac.New(sha256.New, src.hmacKey)
		mac.Write(body)
		if !ok || !hmac.Equal(got, mac.Sum(nil)) {
			return &errUnauthorized{"invalid signature in the " + h.Header + " header"}
		}
	}
	return nil
}

func decodeSignature(s, encoding string) ([]byte, bool) {
	var b []byte
	var err error
	if encoding == "base64" {
		b, err = base64.StdEncoding.DecodeString(s)
	} else {
		b, err = hex.DecodeString(strings.ToLower(s))
	}
	return b, err == nil
}

// allow takes a token from the source's bucket; when it is empty it returns
// how long until the next token.
func (src *source) allow(now time.Time) (ok bool, retryAfter time.Duration) {
	if src == nil || src.limiter == nil {
		return true, 0
	}
	res := src.limiter.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// pagerDutySource finds the pagerduty integration of a routing key, in
// constant time per configured key.
func (s *sources) pagerDutySource(routingKey string) *source {
	var found *source
	for _, src := range s.pagerDuty {
		if subtle.ConstantTimeCompare([]byte(routingKey), src.routingKey) == 1 {
			found = src
		}
	}
	return found
}
