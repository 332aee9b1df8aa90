package daemon

import (
	"context"

	"github.com/incidentd/incidentd/config"
	"github.com/incidentd/incidentd/ingest"
	"github.com/incidentd/incidentd/store"
)

// startHeartbeats registers the heartbeat timer handler on d.bg, which
// runs it; startIntegrations arms the heartbeats once ingest runs.
func (d *Daemon) startHeartbeats(st *store.Store) {
	d.heartbeats = ingest.NewHeartbeats(st, d.opts.Clock, d.log)
	d.bg.timers.Handle(ingest.HeartbeatTimerKind, d.heartbeats.Fire)
}

// startIntegrations serves cfg's integrations and arms its heartbeats.
func (d *Daemon) startIntegrations(ctx context.Context, cfg *config.Config) error {
	d.heartbeats.SetCommitter(d.committer)
	return d.setIntegrations(ctx, cfg)
}

// setIntegrations resolves the integrations' secrets (an unresolvable one
// fails start or reload, keeping what is in use) and serves them.
func (d *Daemon) setIntegrations(ctx context.Context, cfg *config.Config) error {
	if err := d.ingest.SetIntegrations(cfg.Integrations, secretsOf(cfg).Secret); err != nil {
		return err
	}
	if err := d.heartbeats.SetConfig(ctx, cfg.Integrations); err != nil {
		// The integrations are served; only arming some deadline failed,
		// and a ping or the next reload arms it.
		d.log.Error("arming heartbeat timers", "err", err)
	}
	return nil
}
