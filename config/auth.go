package config

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/incidentd/incidentd/strictyaml"
)

// APIConfig holds the API's tokens (docs/api.md, Authentication).
type APIConfig struct {
	// Tokens; none leaves the API open to anyone who reaches it.
	Tokens []APIToken `yaml:"tokens"`
	// MetricsAuth makes GET /metrics need a viewer token too.
	MetricsAuth bool `yaml:"metrics_auth"`
}

// APIToken is one token: who holds it and what it may do.
type APIToken struct {
	// Name is the actor the timeline records for what the token does.
	Name string `yaml:"name"`
	// Role is viewer, responder or admin.
	Role string `yaml:"role"`
	// Token is a reference ${secret:NAME}, never the token itself: the
	// value comes from INCIDENTD_SECRET_<NAME> or the file NAME in
	// runbooks.secrets_dir.
	Token string `yaml:"token"`
}

var (
	wholeSecretRef = regexp.MustCompile(`^\$\{secret:([A-Za-z0-9_]+)\}$`)
	// actorName is a name fit for the timeline and logs.
	actorName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$`)
)

// SecretName is NAME of the token's ${secret:NAME} (validated at load).
func (t APIToken) SecretName() string {
	m := wholeSecretRef.FindStringSubmatch(t.Token)
	if m == nil {
		return ""
	}
	return m[1]
}

// Validate checks the section; key is its path ("api").
func (c *APIConfig) Validate(d *strictyaml.Decoder, key string) {
	// A key left out has no line: name the token's instead.
	lineOr := func(key, item string) int {
		if l := d.Line(key); l > 0 {
			return l
		}
		return d.Line(item)
	}
	names := map[string]bool{}
	secrets := map[string]string{}
	for i, t := range c.Tokens {
		k := fmt.Sprintf("%s[%d]", strictyaml.Join(key, "tokens"), i)
		switch {
		case !actorName.MatchString(t.Name):
			d.FailAt(lineOr(k+".name", k), k+".name", "%q: want 1-64 letters, digits, '_', '.', '@' or '-', starting with a letter or digit", t.Name)
		case names[t.Name]:
			d.Failf(k+".name", "%q is used by another token", t.Name)
		}
		names[t.Name] = true
		switch t.Role {
		case "viewer", "responder", "admin":
		default:
			d.FailAt(lineOr(k+".role", k), k+".role", "%q is not one of viewer, responder, admin", t.Role)
		}
		name := t.SecretName()
		switch {
		case name == "" && strings.TrimSpace(t.Token) == "":
			d.FailAt(lineOr(k+".token", k), k+".token", "required: ${secret:NAME}")
		case name == "":
			// Not echoed: it may be the token itself.
			d.Failf(k+".token", "write ${secret:NAME} (the value comes from INCIDENTD_SECRET_<NAME> or runbooks.secrets_dir); tokens do not go in the config file")
		case secrets[name] != "":
			d.Failf(k+".token", "secret %q is also the token of %q", name, secrets[name])
		default:
			secrets[name] = t.Name
		}
	}
}
