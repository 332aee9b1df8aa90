package daemon

import (
	"errors"
	"fmt"
	"os"

	toolkitweb "github.com/prometheus/exporter-toolkit/web"
	"gopkg.in/yaml.v3"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/config"
)

// apiTokens resolves and checks the API tokens of cfg, for useTokens to
// put in force once the rest of a reload succeeded.
func (d *Daemon) apiTokens(cfg *config.Config) (*api.TokenSet, error) {
	secrets := secretsOf(cfg)
	var tokens []api.Token
	var errs []error
	for _, t := range cfg.API.Tokens {
		role, _ := api.ParseRole(t.Role) // validated by config
		v, err := secrets.Secret(t.SecretName())
		if err != nil {
			errs = append(errs, fmt.Errorf("api token %q: %w", t.Name, err))
			continue
		}
		tokens = append(tokens, api.Token{Name: t.Name, Role: role, Secret: v})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := checkWebConfig(d.opts.WebConfigFile, len(tokens) > 0); err != nil {
		return nil, err
	}
	return api.NewTokenSet(tokens, cfg.API.MetricsAuth)
}

// useTokens puts set in force, warning when it leaves the API open.
func (d *Daemon) useTokens(set *api.TokenSet) {
	d.auth.Use(set)
	if !d.auth.Enabled() {
		d.log.Warn("api: no tokens configured: anyone who reaches the API may read and act on incidents (see api.tokens in docs/configuration.md)")
	}
}

// checkWebConfig validates the --web.config.file (TLS and basic auth, the
// Prometheus exporter-toolkit format) before the daemon serves. Basic auth
// and API tokens both travel in the Authorization header, so a request
// cannot carry both: the two together are refused.
func checkWebConfig(path string, tokens bool) error {
	if path == "" {
		return nil
	}
	if err := toolkitweb.Validate(path); err != nil {
		return fmt.Errorf("web config file %s: %w", path, err)
	}
	if !tokens {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var c struct {
		Users map[string]any `yaml:"basic_auth_users"`
	}
	if err := yaml.Unmarshal(data, &c); err != nil {
		return fmt.Errorf("web config file %s: %w", path, err)
	}
	if len(c.Users) > 0 {
		return fmt.Errorf("web config file %s has basic_auth_users and api.tokens are configured: both use the Authorization header, so no request could pass both; use one", path)
	}
	return nil
}
