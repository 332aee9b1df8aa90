package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/incidentd/incidentd/web"
)

// Token is an API token: whoever presents Secret acts as Name with Role.
type Token struct {
	// Name is the actor recorded on the timeline for what the token does.
	Name   string
	Role   Access
	Secret string
}

// MinTokenBytes is the shortest secret accepted as a token.
const MinTokenBytes = 16

// Caller is who a request authenticated as.
type Caller struct {
	Name string
	Role Access
}

type callerKey struct{}

// CallerFrom returns the caller a request authenticated as; false when API
// tokens are off or the route takes none.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// TokenSet is a checked set of tokens, ready to put in force.
type TokenSet struct {
	tokens      []storedToken
	metricsAuth bool
}

// storedToken keeps only the SHA-256 of the secret: comparing digests of
// equal length in constant time tells nothing about the secret's length
// or how much of it matched.
type storedToken struct {
	name string
	role Access
	sum  [sha256.Size]byte
}

// Auth checks bearer tokens against the configured ones. Without tokens
// the API is open, as it was before tokens existed.
type Auth struct {
	set atomic.Pointer[TokenSet]
	log *slog.Logger
}

// NewAuth returns an Auth with no tokens: everything open.
func NewAuth(log *slog.Logger) *Auth {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Auth{log: log}
	a.set.Store(&TokenSet{})
	return a
}

// NewTokenSet checks tokens: names and secrets must be unique, roles valid
// and secrets at least MinTokenBytes long; errors name the token, never its
// secret. With metricsAuth, GET /metrics needs a viewer token too.
func NewTokenSet(tokens []Token, metricsAuth bool) (*TokenSet, error) {
	set := &TokenSet{metricsAuth: metricsAuth}
	names := map[string]bool{}
	sums := map[[sha256.Size]byte]string{}
	var errs []error
	for _, t := range tokens {
		if t.Role.rank() == 0 {
			errs = append(errs, fmt.Errorf("api token %q: role %q is not viewer, responder or admin", t.Name, t.Role))
		}
		if strings.TrimSpace(t.Name) == "" || names[t.Name] {
			errs = append(errs, fmt.Errorf("api token %q: name empty or used twice", t.Name))
		}
		names[t.Name] = true
		if len(t.Secret) < MinTokenBytes {
			errs = append(errs, fmt.Errorf("api token %q: secret shorter than %d bytes", t.Name, MinTokenBytes))
		}
		sum := sha256.Sum256([]byte(t.Secret))
		if other, ok := sums[sum]; ok {
			errs = append(errs, fmt.Errorf("api tokens %q and %q have the same secret", other, t.Name))
		}
		sums[sum] = t.Name
		set.tokens = append(set.tokens, storedToken{name: t.Name, role: t.Role, sum: sum})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return set, nil
}

// Use puts set in force (start and reload).
func (a *Auth) Use(set *TokenSet) { a.set.Store(set) }

// Enabled reports whether tokens are configured.
func (a *Auth) Enabled() bool { return len(a.set.Load().tokens) > 0 }

// lookup finds the token whose secret is presented. Every token is
// compared, so the time taken does not tell which one matched.
func (set *TokenSet) lookup(presented string) (storedToken, bool) {
	sum := sha256.Sum256([]byte(presented))
	var found storedToken
	ok := 0
	for _, t := range set.tokens {
		if subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1 {
			found, ok = t, 1
		}
	}
	return found, ok == 1
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Require wraps h so that only callers with access get through; public,
// integration and signed routes pass (they check their own secrets).
func (a *Auth) Require(access Access, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set := a.set.Load()
		need := access
		switch access {
		case Public, Integration, Signed:
			h.ServeHTTP(w, r)
			return
		case Metrics:
			if !set.metricsAuth {
				h.ServeHTTP(w, r)
				return
			}
			need = Viewer
		}
		if len(set.tokens) == 0 {
			h.ServeHTTP(w, r)
			return
		}
		presented, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="incidentd"`)
			web.WriteError(w, r, http.StatusUnauthorized, "", "authentication required: send Authorization: Bearer <token>")
			return
		}
		t, ok := set.lookup(presented)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="incidentd", error="invalid_token"`)
			web.WriteError(w, r, http.StatusUnauthorized, "", "invalid token")
			return
		}
		if need == Undeclared {
			a.log.Error("refused a route with no declared access", "request_id", web.RequestID(r.Context()), "method", r.Method, "path", r.URL.Path)
			web.WriteError(w, r, http.StatusForbidden, "", "this route declares no access and is refused; report it as a bug")
			return
		}
		if t.role.rank() < need.rank() {
			w.Header().Set("WWW-Authenticate", `Bearer realm="incidentd", error="insufficient_scope"`)
			web.WriteError(w, r, http.StatusForbidden, "", fmt.Sprintf("token %q has role %s; %s %s needs %s", t.name, t.role, r.Method, r.URL.Path, need))
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, Caller{Name: t.name, Role: t.role})))
	})
}

// actorError is a body naming an actor other than the caller's token.
type actorError struct{ given, caller string }

func (e *actorError) Error() string {
	return fmt.Sprintf("actor %q is not the token's name %q: leave actor out (the token's name is recorded) or send that name", e.given, e.caller)
}

// actorOf is who acts on r: the token's name when the caller authenticated
// (a body naming someone else is refused, so nobody acts under another's
// name), else the name the body gives.
func actorOf(r *http.Request, given string) (string, error) {
	c, ok := CallerFrom(r.Context())
	if !ok {
		return given, nil
	}
	if g := strings.TrimSpace(given); g != "" && g != c.Name {
		return "", &actorError{given: g, caller: c.Name}
	}
	return c.Name, nil
}
