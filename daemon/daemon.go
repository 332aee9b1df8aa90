// Package daemon builds incidentd's long-lived parts in one place, runs them,
// and tears them down in reverse order.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	toolkitweb "github.com/prometheus/exporter-toolkit/web"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/config"
	"github.com/incidentd/incidentd/correlate"
	"github.com/incidentd/incidentd/escalation"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/ingest"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/problem"
	"github.com/incidentd/incidentd/runbooks"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/web"
)

// Options are the command-line settings; non-empty ones override the file.
type Options struct {
	ConfigFile    string
	ListenAddress string
	StorageDSN    string
	Version       string
	// ExternalURL is where people reach incidentd; pages and mails link
	// there.
	ExternalURL string
	Clock       clock.Clock
	// Reload delivers SIGHUP.
	Reload <-chan os.Signal
	// Ready, if set, receives the bound address once the daemon serves.
	Ready func(addr string)
	// WebConfigFile is the exporter-toolkit web config: TLS and basic
	// auth (--web.config.file).
	WebConfigFile string
	// Router, if set, receives the HTTP router once built (tests walk
	// its routes).
	Router func(*api.Router)
}

// Daemon is a running incidentd.
type Daemon struct {
	opts      Options
	log       *slog.Logger
	logLevel  *slog.LevelVar
	policy    atomic.Pointer[incident.Policy]
	reloadMu  sync.Mutex
	cfg       *config.Config
	committer *ingest.Committer
	ingest    *ingest.Handler
	correlate *correlate.Correlator
	cmdb      *correlate.CMDB
	problems  *problem.Detector
	bg        *background
	// The escalation engine (daemon/escalation.go).
	escalation    *escalation.Engine
	notifyMetrics *notify.Metrics
	// The runbook engine (daemon/runbooks.go).
	runbooks *runbooks.Engine
	// Heartbeat integrations (daemon/integrations.go).
	heartbeats *ingest.Heartbeats
	// API tokens (daemon/auth.go).
	auth *api.Auth
}

// LoadConfig reads the config file and applies the flag overrides.
func LoadConfig(opts Options) (*config.Config, error) {
	cfg, err := config.Load(opts.ConfigFile)
	if err != nil {
		return nil, err
	}
	if opts.StorageDSN != "" {
		cfg.Storage.DSN = opts.StorageDSN
	}
	return cfg, nil
}

// NewLogger builds the process logger from the log config.
func NewLogger(c config.LogConfig, level *slog.LevelVar) *slog.Logger {
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config
	o := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, o))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, o))
}

// Run starts incidentd and blocks until ctx is cancelled, then shuts down:
// the HTTP server stops taking requests and finishes those in flight (their
// commits included), then the committer drains, then the store closes.
func Run(ctx context.Context, opts Options) error {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	cfg, err := LoadConfig(opts)
	if err != nil {
		return err
	}
	d := &Daemon{opts: opts, cfg: cfg, logLevel: new(slog.LevelVar)}
	d.log = NewLogger(cfg.Log, d.logLevel)
	slog.SetDefault(d.log)
	d.correlate = correlate.New(correlationOptions(cfg))

	reg, storeErrors := newRegistry(opts.Version)

	d.log.Info("starting incidentd", "version", opts.Version, "config", opts.ConfigFile, "store", store.Redact(cfg.Storage.DSN))
	st, err := openStore(ctx, cfg.Storage, d.log)
	if err != nil {
		return err
	}
	defer st.Close()
	reg.MustRegister(newOpenIncidentsCollector(st, storeErrors))

	d.cmdb = correlate.NewCMDB(st, d.correlate, opts.Clock, d.log)
	if err := d.cmdb.Load(ctx); err != nil {
		return err
	}
	if err := d.cmdb.SyncFiles(ctx, cfg.CMDB.Files); err != nil {
		return err
	}
	if err := d.cmdb.SyncConfigMaintenance(ctx, cfg.Maintenance); err != nil {
		return err
	}
	registerCMDBMetrics(reg, d.cmdb)
	d.setPolicy(cfg)

	// Timers and outbox consumers run until the store closes; commits
	// wake the consumers. Features register their consumers and timer
	// handlers on d.bg before it starts.
	d.bg = newBackground(d, st, cfg.Storage.DSN, reg)
	d.bg.changed = d.otherReplicaChanged
	d.problems = problem.NewDetector(st, problemOptions(cfg), d.log)
	d.bg.addConsumer(problem.ConsumerName, d.problems.Handle)
	if err := d.startEscalation(ctx, st, reg, cfg); err != nil {
		return err
	}
	if err := d.startRunbooks(ctx, st, reg, cfg); err != nil {
		return err
	}
	d.startHeartbeats(st)
	bgCtx, stopBackground := context.WithCancel(context.Background())
	waitBackground := d.bg.start(bgCtx)
	defer func() { stopBackground(); waitBackground() }()

	ingestMetrics := ingest.NewMetrics(reg, storeErrors)
	d.committer = ingest.NewCommitter(st, &d.policy, ingest.CommitterOptions{
		MaxBatch: cfg.Ingest.MaxBatchAlerts, Logger: d.log, Metrics: ingestMetrics, Clock: opts.Clock,
	})
	defer d.committer.Close()
	d.ingest = ingest.NewHandler(d.committer, ingest.HandlerOptions{
		MaxBodyBytes: int64(cfg.Ingest.MaxBodyBytes), RetryAfter: time.Duration(cfg.Ingest.RetryAfter),
		Logger: d.log, Metrics: ingestMetrics,
		Clock: opts.Clock, Acknowledger: ingest.StoreAcknowledger{Store: st, Clock: opts.Clock}, Heartbeats: d.heartbeats,
	})
	if err := d.startIntegrations(ctx, cfg); err != nil {
		return err
	}

	// Every route goes through the router, which puts it behind the
	// access api's route table declares; ingest is mounted whole on the
	// integration patterns and checks its own secrets.
	d.auth = api.NewAuth(d.log)
	tokens, err := d.apiTokens(cfg)
	if err != nil {
		return err
	}
	d.useTokens(tokens)
	mux := api.NewRouter(d.auth)
	ingestMux := http.NewServeMux()
	d.ingest.Register(ingestMux)
	ingestMux.HandleFunc("/", notFound)
	mux.Mount(api.Integration, ingestMux)
	api.New(st, d.cmdb, opts.Clock, d.log).WithEscalation(d.escalation).Register(mux)
	api.NewRunbooks(d.runbooks, d.log).Register(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, r *http.Request) {
		web.WriteJSON(w, http.StatusOK, map[string]string{"status": "healthy"})
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, r *http.Request) {
		rctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := st.Ready(rctx); err != nil {
			web.WriteError(w, r, http.StatusServiceUnavailable, "", err.Error())
			return
		}
		web.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := d.reload(); err != nil {
			web.WriteError(w, r, http.StatusInternalServerError, "", "reload failed, old config kept: "+err.Error())
			return
		}
		web.WriteJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
	})
	mux.HandleFunc("/", notFound)
	if opts.Router != nil {
		opts.Router(mux)
	}

	addr := opts.ListenAddress
	if addr == "" {
		addr = ":9095"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           web.Logged(d.log, mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	serveErr := make(chan error, 1)
	webConfig := opts.WebConfigFile
	systemdSocket := false
	go func() {
		serveErr <- toolkitweb.Serve(ln, srv, &toolkitweb.FlagConfig{
			WebListenAddresses: &[]string{ln.Addr().String()}, WebSystemdSocket: &systemdSocket, WebConfigFile: &webConfig,
		}, d.log)
	}()
	if opts.Ready != nil {
		opts.Ready(ln.Addr().String())
	}

	for {
		select {
		case <-opts.Reload:
			if err := d.reload(); err != nil {
				d.log.Error("reload failed, old config kept", "err", err)
			}
			continue
		case err := <-serveErr:
			return fmt.Errorf("http server: %w", err)
		case <-ctx.Done():
		}
		break
	}
	d.log.Info("shutting down: finishing in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		d.log.Warn("http shutdown", "err", err)
	}
	d.committer.Close()
	d.log.Info("stopped")
	return nil
}

// otherReplicaChanged brings what this replica holds in memory up to date
// with a change another replica committed: the CMDB graph or the
// maintenance windows ("" for both, when notifications may have been
// missed).
func (d *Daemon) otherReplicaChanged(kind string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if kind == "" || kind == store.ChangeCMDB {
		if err := d.cmdb.Refresh(ctx); err != nil {
			d.log.Error("loading the CMDB another replica changed; this replica keeps the one it has until the next change or reload", "err", err)
		}
	}
	if kind == "" || kind == store.ChangeMaintenance {
		if err := d.cmdb.LoadMaintenance(ctx); err != nil {
			d.log.Error("loading the maintenance windows another replica changed", "err", err)
		}
	}
}

func notFound(w http.ResponseWriter, r *http.Request) {
	web.WriteError(w, r, http.StatusNotFound, "", "no route for "+r.Method+" "+r.URL.Path)
}

func problemOptions(cfg *config.Config) problem.Options {
	return problem.Options{Recurrence: cfg.Problems.Recurrence, Period: time.Duration(cfg.Problems.Period)}
}

func correlationOptions(cfg *config.Config) correlate.Options {
	return correlate.Options{MaxHops: cfg.Correlation.MaxHops, Rules: cfg.CIRuleTemplates(), ImpactByCriticality: cfg.Correlation.ImpactByCriticality}
}

// setPolicy makes cfg's incident policy, correlating through the CMDB,
// the one ingest applies.
func (d *Daemon) setPolicy(cfg *config.Config) {
	p := cfg.Policy()
	p.Topology = d.correlate
	d.policy.Store(&p)
}

// openStore connects, retrying for a while so a daemon started together
// with its database does not give up at once.
func openStore(ctx context.Context, c config.StorageConfig, log *slog.Logger) (*store.Store, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := store.Open(ctx, c.DSN, store.Options{MaxOpenConns: c.MaxOpenConns, Logger: log})
		if err == nil {
			return st, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, err
		}
		log.Warn("store not reachable yet, retrying", "err", err)
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// reload re-reads the config file and applies what can change live. On any
// error the old config stays in force.
func (d *Daemon) reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg, err := LoadConfig(d.opts)
	if err != nil {
		return err
	}
	escalationSetup, err := d.escalationSetup(cfg)
	if err != nil {
		return err
	}
	if err := d.setIntegrations(context.Background(), cfg); err != nil {
		return err
	}
	tokens, err := d.apiTokens(cfg)
	if err != nil {
		return err
	}
	if cfg.Storage != d.cfg.Storage {
		d.log.Warn("storage settings changed: they take effect at restart")
	}
	d.correlate.SetOptions(correlationOptions(cfg))
	if err := d.cmdb.SyncFiles(context.Background(), cfg.CMDB.Files); err != nil {
		d.correlate.SetOptions(correlationOptions(d.cfg))
		return err
	}
	if err := d.cmdb.SyncConfigMaintenance(context.Background(), cfg.Maintenance); err != nil {
		return err
	}
	d.setPolicy(cfg)
	d.problems.SetOptions(problemOptions(cfg))
	_ = d.logLevel.UnmarshalText([]byte(cfg.Log.Level))
	d.ingest.SetLimits(int64(cfg.Ingest.MaxBodyBytes), time.Duration(cfg.Ingest.RetryAfter))
	d.committer.SetMaxBatch(cfg.Ingest.MaxBatchAlerts)
	d.escalation.SetSetup(escalationSetup)
	d.useTokens(tokens)
	if err := d.loadRunbooks(context.Background(), cfg); err != nil {
		d.log.Error("runbooks reloaded, but scheduling their cron ticks failed; they are scheduled again at the next reload or restart", "err", err)
	}
	d.cfg = cfg
	d.log.Info("config reloaded", "file", d.opts.ConfigFile)
	return nil
}
