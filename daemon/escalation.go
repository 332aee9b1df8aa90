package daemon

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/incidentd/incidentd/config"
	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/runbooks"
	"github.com/incidentd/incidentd/store"
)

// Secrets and settings of the escalation engine that the config file does
// not hold (yet): they come from the environment, like other secrets.
const (
	// linkKeySecret signs one-click acknowledge and resolve links. Without
	// it, a random key is generated once and kept in the store, so that
	// every replica and restart accepts the links already sent.
	linkKeySecret = "link_signing_key"
	// pagerDutyWebhookSecret verifies PagerDuty v3 webhooks
	// (POST /api/v1/hooks/pagerduty); without it they are refused.
	pagerDutyWebhookSecret = "pagerduty_webhook"
)

// secretsOf resolves ${secret:NAME} as runbooks do: INCIDENTD_SECRET_NAME,
// then the file NAME in runbooks.secrets_dir.
func secretsOf(cfg *config.Config) runbooks.EnvSecrets {
	return runbooks.EnvSecrets{Dir: cfg.Runbooks.SecretsDir}
}

// escalationSetup builds the notifiers, on-call directory, policies and
// SLA rules of cfg.
func (d *Daemon) escalationSetup(cfg *config.Config) (*escalation.Setup, error) {
	ns, err := notify.New(cfg.Notifiers, notify.Options{Secrets: secretsOf(cfg).Secret, Clock: d.opts.Clock, Metrics: d.notifyMetrics})
	if err != nil {
		return nil, err
	}
	return escalation.NewSetup(cfg.Oncall, cfg.SLA, ns)
}

// startEscalation builds the escalation engine and registers its timer
// handlers and its outbox consumer on d.bg, which runs them.
func (d *Daemon) startEscalation(ctx context.Context, st *store.Store, reg prometheus.Registerer, cfg *config.Config) error {
	d.notifyMetrics = notify.NewMetrics(reg)
	setup, err := d.escalationSetup(cfg)
	if err != nil {
		return err
	}
	secrets := secretsOf(cfg)
	key, err := secrets.Secret(linkKeySecret)
	if errors.Is(err, runbooks.ErrSecretNotFound) {
		key, err = st.EscalationSecret(ctx, linkKeySecret, func() (string, error) {
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return "", err
			}
			return base64.RawURLEncoding.EncodeToString(b), nil
		})
	}
	if err != nil {
		return fmt.Errorf("link signing key: %w", err)
	}
	signer, err := notify.NewSigner([]byte(key))
	if err != nil {
		return fmt.Errorf("secret %s: %w", linkKeySecret, err)
	}
	opts := escalation.Options{
		Store: st, Timers: d.bg.timers, Clock: d.opts.Clock, Logger: d.log, CMDB: d.correlate, Windows: d.cmdb.Maintenance,
		Signer: signer, ExternalURL: strings.TrimSpace(d.opts.ExternalURL), Metrics: escalation.NewMetrics(reg),
	}
	if opts.ExternalURL == "" {
		d.log.Info("escalation: messages carry no links; set --web.external-url to where people reach incidentd")
	}
	switch pd, err := secrets.Secret(pagerDutyWebhookSecret); {
	case err == nil:
		opts.PagerDutyWebhookSecrets = []string{pd}
	case errors.Is(err, runbooks.ErrSecretNotFound):
		d.log.Debug("escalation: PagerDuty webhooks refused: no secret", "secret", pagerDutyWebhookSecret)
	default:
		return err
	}
	if d.escalation, err = escalation.New(setup, opts); err != nil {
		return err
	}
	if err := d.escalation.Start(ctx); err != nil {
		return err
	}
	d.bg.addConsumer(escalation.ConsumerName, d.escalation.Handle)
	d.log.Info("escalation engine ready", slog.Int("routes", len(cfg.Oncall.Routes)), slog.Int("notifiers", len(setup.Notifiers.Names())))
	return nil
}
