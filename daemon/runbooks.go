package daemon

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/config"
	"github.com/incidentd/incidentd/runbooks"
	"github.com/incidentd/incidentd/store"
)

// startRunbooks builds the runbook engine, registers its timer handlers
// and its outbox consumer on d.bg, which runs them, and loads the runbooks.
// Escalate and notify steps page through the escalation engine, so it is
// built first (startEscalation).
func (d *Daemon) startRunbooks(ctx context.Context, st *store.Store, reg prometheus.Registerer, cfg *config.Config) error {
	opts := runbooks.Options{
		Config: cfg.Runbooks, CI: d.runbookCI, Approvers: oncallApprovers{d}, Logger: d.log, Registerer: reg,
	}
	if d.escalation != nil {
		opts.Pager = d.escalation
	}
	d.runbooks = runbooks.NewEngine(st, d.bg.timers, d.opts.Clock, opts)
	d.bg.addConsumer(runbooks.ConsumerName, d.runbooks.Handle)
	return d.loadRunbooks(ctx, cfg)
}

// loadRunbooks loads cfg's runbook files and swaps them in whole. A runbook
// with errors is left out and logged with file:line:column; the others
// load. Runs in progress keep the runbook text they started with.
func (d *Daemon) loadRunbooks(ctx context.Context, cfg *config.Config) error {
	lib, errs := runbooks.LoadLibrary(cfg.Runbooks.Files)
	for _, err := range errs {
		d.log.Error("runbook rejected", "err", err)
	}
	for _, w := range lib.Set.Warnings() {
		d.log.Warn("runbook warning", "warning", w.Error())
	}
	secrets := secretsOf(cfg)
	for _, name := range lib.Set.Secrets() {
		if _, err := secrets.Secret(name); err != nil {
			d.log.Warn("runbook secret not available: steps that use it will fail", "secret", name, "env", runbooks.SecretEnvVar(name))
		}
	}
	d.runbooks.SetConfig(cfg.Runbooks)
	if err := d.runbooks.SetLibrary(ctx, lib); err != nil {
		return err
	}
	d.log.Info("runbooks loaded", "runbooks", lib.Set.Len(), "rejected", len(errs))
	return nil
}

// runbookCI looks a CI up in the CMDB in use.
func (d *Daemon) runbookCI(id string) (cmdb.CI, bool) {
	ci, ok := d.correlate.Graph().CI(id)
	if !ok {
		return cmdb.CI{}, false
	}
	return *ci, true
}

// oncallApprovers lets a person answer an approve step that names them
// (alice, user:alice), or a schedule they are on call for at the time
// (shop-primary, schedule:shop-primary). Other names (teams) must match
// the person's name.
type oncallApprovers struct{ d *Daemon }

func (a oncallApprovers) MayApprove(ctx context.Context, actor string, from []string, t time.Time) (bool, error) {
	if ok, err := (runbooks.NamedApprovers{}).MayApprove(ctx, actor, from, t); ok || err != nil {
		return ok, err
	}
	if a.d.escalation == nil {
		return false, nil
	}
	setup := a.d.escalation.Setup()
	if setup == nil || setup.Directory == nil {
		return false, nil
	}
	schedules := setup.Directory.Schedules()
	for _, f := range from {
		id := strings.TrimPrefix(f, "schedule:")
		if !slices.Contains(schedules, id) {
			continue
		}
		if on, ok, err := setup.Directory.OnCall(id, t); err == nil && ok && on.User == actor {
			return true, nil
		}
	}
	return false, nil
}
