package timers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	randv2 "math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/store"
)

// Timer is a timer as its handler sees it; Attempts counts the current run.
type Timer = store.Timer

// HandlerFunc handles one firing of a timer. Returning nil marks the timer
// done; an error retries it (see Retry, RetryAt and Permanent). ctx ends
// when the scheduler stops or loses the timer's lease.
type HandlerFunc func(ctx context.Context, t Timer) error

// Retry says how often and how soon a failing handler runs again. Zero
// fields take the scheduler's defaults (Options.Retry, then 8 attempts, 5s,
// 10m).
type Retry struct {
	// MaxAttempts is the number of runs before the timer is marked failed.
	MaxAttempts int
	// Initial is the delay after the first failure; it doubles with every
	// further one, up to Max. The delay is drawn between half of that and
	// all of it (jitter), so that timers failing together spread out.
	Initial time.Duration
	Max     time.Duration
}

func (r Retry) or(d Retry) Retry {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = d.MaxAttempts
	}
	if r.Initial <= 0 {
		r.Initial = d.Initial
	}
	if r.Max <= 0 {
		r.Max = d.Max
	}
	if r.Max < r.Initial {
		r.Max = r.Initial
	}
	return r
}

// Backoff returns the delay before the run after failed run attempt
// (1-based): random in [d/2, d], d = Initial·2^(attempt-1) capped at Max.
func (r Retry) Backoff(attempt int) time.Duration {
	d := r.Initial
	for i := 1; i < attempt && d < r.Max; i++ {
		d *= 2
	}
	d = min(d, r.Max)
	half := d / 2
	return half + randv2.N(d-half+1)
}

// RetryAt asks for the next attempt at t instead of after the backoff, for
// example at an HTTP 429's Retry-After. It counts as an attempt.
func RetryAt(t time.Time, err error) error { return &retryAtError{at: t, err: err} }

type retryAtError struct {
	at  time.Time
	err error
}

func (e *retryAtError) Error() string {
	return fmt.Sprintf("%v (retry at %s)", e.err, e.at.UTC().Format(time.RFC3339))
}
func (e *retryAtError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the timer fails at once.
func Permanent(err error) error { return &permanentError{err} }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Options configure a Scheduler. Zero values take the defaults.
type Options struct {
	// Owner names this scheduler in leases; it must differ between
	// replicas. Default: host name, process id and a random suffix.
	Owner string
	// Lease is how long a claim lasts without renewal: how soon another
	// replica takes over the timers of one that died. Renewed every Lease/3
	// while a handler runs. Default 30s.
	Lease time.Duration
	// PollInterval is the slowest the scheduler looks at the store, to
	// cover lost notifications and timers scheduled by other processes
	// without LISTEN/NOTIFY. Default 10s.
	PollInterval time.Duration
	// Retention is how long done and cancelled timers are kept. Default 7d.
	Retention time.Duration
	// Concurrency is the number of handlers that run at once. Default 8.
	Concurrency int
	// Retry is the default retry policy of every kind.
	Retry Retry
	// ListenDSN is the store's PostgreSQL DSN. With it, the scheduler
	// LISTENs for timers that other replicas schedule and fires them at
	// once; without it, they fire within PollInterval. Ignored on SQLite.
	ListenDSN string
	Logger    *slog.Logger
	// Registerer, if set, gets the scheduler's metrics.
	Registerer prometheus.Registerer
}

var defaultRetry = Retry{MaxAttempts: 8, Initial: 5 * time.Second, Max: 10 * time.Minute}

// cleanupEvery is how often finished timers past their retention are
// deleted.
const cleanupEvery = time.Hour

// finishTimeout bounds the store write that finishes a timer, which must
// happen even when the scheduler is stopping.
const finishTimeout = 10 * time.Second

// Scheduler claims due timers and runs their handlers.
type Scheduler struct {
	st      *store.Store
	clk     clock.Clock
	opts    Options
	log     *slog.Logger
	metrics *metrics
	wake    chan struct{}

	mu          sync.Mutex
	handlers    map[string]handler
	kinds       []string  // sorted keys of handlers
	hint        time.Time // earliest due time heard of and not yet passed
	next        time.Time // earliest ready time in the store at the last pass
	lastAudit   time.Time
	lastCleanup time.Time
	reported    map[string]bool // unhandled kinds already logged

	inflight  atomic.Int64
	saturated atomic.Bool // the last claim took every free slot
	listening atomic.Bool

	hooks hooks
}

type handler struct {
	fn    HandlerFunc
	retry Retry
}

// hooks let tests drive what otherwise depends on real time.
type hooks struct {
	renewTicks <-chan time.Time // replaces the lease renewal ticker
	idle       func(listening bool)
}

// New returns a scheduler over st that reads the time from clk. Register
// handlers, then Run it.
func New(st *store.Store, clk clock.Clock, opts Options) *Scheduler {
	if opts.Owner == "" {
		opts.Owner = defaultOwner()
	}
	if opts.Lease <= 0 {
		opts.Lease = 30 * time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 10 * time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = 7 * 24 * time.Hour
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	opts.Retry = opts.Retry.or(defaultRetry)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{
		st: st, clk: clk, opts: opts, log: opts.Logger.With("owner", opts.Owner),
		wake: make(chan struct{}, 1), handlers: map[string]handler{}, reported: map[string]bool{},
	}
	if opts.Registerer != nil {
		s.metrics = newMetrics(opts.Registerer)
	}
	return s
}

func defaultOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + hex.EncodeToString(b[:])
}

// Owner returns the name this scheduler claims timers under.
func (s *Scheduler) Owner() string { return s.opts.Owner }

// Handle runs h for timers of kind, retried with Options.Retry. It panics
// if kind is empty or already handled, like http.ServeMux.
func (s *Scheduler) Handle(kind string, h HandlerFunc) { s.HandleRetry(kind, Retry{}, h) }

// HandleRetry runs h for timers of kind, retried as r says.
func (s *Scheduler) HandleRetry(kind string, r Retry, h HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if kind == "" || h == nil {
		panic("timers: Handle needs a kind and a handler")
	}
	if _, dup := s.handlers[kind]; dup {
		panic("timers: kind " + kind + " is handled twice")
	}
	s.handlers[kind] = handler{fn: h, retry: r.or(s.opts.Retry)}
	kinds := append(slices.Clone(s.kinds), kind) // a pass may be reading the old slice
	slices.Sort(kinds)
	s.kinds = kinds
	s.poke()
}

func (s *Scheduler) handledKinds() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kinds
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// noteDue remembers that a timer is due at due and wakes the loop to
// recompute its wait.
func (s *Scheduler) noteDue(due time.Time) {
	s.mu.Lock()
	if s.hint.IsZero() || due.Before(s.hint) {
		s.hint = due
	}
	s.mu.Unlock()
	s.poke()
}

// heard takes the listener's news: a due time, or zero for "look anyway".
func (s *Scheduler) heard(due time.Time) {
	if due.IsZero() {
		s.poke()
		s.listening.Store(true)
		return
	}
	s.noteDue(due)
}

// Run fires timers until ctx ends, then waits for running handlers (whose
// context it cancels) to finish. Store errors are logged and retried.
func (s *Scheduler) Run(ctx context.Context) {
	s.st.OnTimerScheduled(s.noteDue)
	defer s.st.OnTimerScheduled(nil)
	var wg sync.WaitGroup
	defer wg.Wait()
	if s.st.Backend() == store.Postgres {
		if s.opts.ListenDSN == "" {
			s.log.Info("timers: no ListenDSN, so timers scheduled by other replicas fire within the poll interval", "poll", s.opts.PollInterval)
		} else {
			wg.Go(func() {
				if err := s.st.ListenTimers(ctx, s.opts.ListenDSN, s.heard); err != nil {
					s.log.Error("timers: cannot listen for other replicas' timers; relying on the poll", "err", err)
				}
			})
		}
	}
	wait := time.NewTimer(0)
	defer wait.Stop()
	for {
		listening := s.listening.Load()
		select { // this pass serves every wake-up so far
		case <-s.wake:
		default:
		}
		d := s.pass(ctx, func(t Timer) {
			s.inflight.Add(1)
			wg.Go(func() {
				defer func() {
					// A slot is free: claim more if the last claim filled them all.
					if s.inflight.Add(-1) < int64(s.opts.Concurrency) && s.saturated.CompareAndSwap(true, false) {
						s.poke()
					}
				}()
				s.fire(ctx, t)
			})
		})
		if s.hooks.idle != nil {
			s.hooks.idle(listening)
		}
		wait.Reset(d)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-wait.C:
		}
	}
}

// RunDue claims and runs every timer due at the clock's time, waits for
// the handlers, and returns how many it ran. It is Run's pass, for tests
// and tools; a timer retried for a time not after now runs again in the
// same call. If ctx ends, it stops after the running handlers and returns
// ctx's error.
func (s *Scheduler) RunDue(ctx context.Context) (fired int, err error) {
	s.housekeeping(ctx, s.clk.Now())
	var n atomic.Int64
	for {
		if err := ctx.Err(); err != nil {
			return int(n.Load()), err
		}
		batch, err := s.claim(ctx, s.opts.Concurrency)
		if err != nil || len(batch) == 0 {
			return int(n.Load()), err
		}
		var wg sync.WaitGroup
		for _, t := range batch {
			wg.Go(func() {
				if s.fire(ctx, t) {
					n.Add(1)
				}
			})
		}
		wg.Wait()
	}
}

// pass does housekeeping, claims what is due into free handler slots,
// starts each through start, and returns how long to wait for the next
// pass.
func (s *Scheduler) pass(ctx context.Context, start func(Timer)) time.Duration {
	now := s.clk.Now()
	s.housekeeping(ctx, now)
	free := s.opts.Concurrency - int(s.inflight.Load())
	if free <= 0 {
		s.saturated.Store(true)
		if s.opts.Concurrency-int(s.inflight.Load()) > 0 {
			return 0 // a slot freed before saturated was set: its poke was missed
		}
		return s.untilNext(now, true)
	}
	batch, err := s.claim(ctx, free)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("timers: claiming due timers failed; retrying", "err", err)
		}
		return min(time.Second, s.opts.PollInterval)
	}
	full := len(batch) == free
	if full {
		s.saturated.Store(true)
	}
	for _, t := range batch {
		start(t)
	}
	return s.untilNext(s.clk.Now(), full)
}

// claim leases up to limit due timers and refreshes the earliest ready
// time. Hints at or before now are served by this claim.
func (s *Scheduler) claim(ctx context.Context, limit int) ([]Timer, error) {
	now := s.clk.Now()
	s.mu.Lock()
	if !s.hint.IsZero() && !s.hint.After(now) {
		s.hint = time.Time{}
	}
	s.mu.Unlock()
	kinds := s.handledKinds()
	batch, err := s.st.ClaimTimers(ctx, s.opts.Owner, kinds, now, now.Add(s.opts.Lease), limit)
	if err != nil {
		return nil, err
	}
	next, err := s.st.NextTimerReady(ctx, kinds)
	s.mu.Lock()
	if err == nil {
		s.next = next
	} else if s.next.IsZero() || s.next.After(now.Add(time.Second)) {
		s.next = now.Add(time.Second) // unknown: look again soon
	}
	s.mu.Unlock()
	if err != nil && ctx.Err() == nil {
		s.log.Warn("timers: reading the next due time failed", "err", err)
	}
	return batch, nil
}

// untilNext is the wait until the earliest known due time, at most the
// poll interval. When saturated, timers already due wait for a free slot
// (which wakes the loop) rather than spinning.
func (s *Scheduler) untilNext(now time.Time, saturated bool) time.Duration {
	at := now.Add(s.opts.PollInterval)
	s.mu.Lock()
	for _, t := range []time.Time{s.next, s.hint} {
		if !t.IsZero() && t.Before(at) && !(saturated && !t.After(now)) {
			at = t
		}
	}
	s.mu.Unlock()
	return max(at.Sub(now), 0)
}

// housekeeping logs unhandled kinds every poll interval and deletes
// finished timers past their retention every hour, by the scheduler's
// clock.
func (s *Scheduler) housekeeping(ctx context.Context, now time.Time) {
	s.mu.Lock()
	audit := now.Sub(s.lastAudit) >= s.opts.PollInterval
	if audit {
		s.lastAudit = now
	}
	cleanup := now.Sub(s.lastCleanup) >= cleanupEvery
	if cleanup {
		s.lastCleanup = now
	}
	kinds := s.kinds
	s.mu.Unlock()
	if audit {
		unknown, err := s.st.UnhandledTimerKinds(ctx, kinds, now)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("timers: listing unhandled kinds", "err", err)
		}
		for _, k := range unknown {
			s.mu.Lock()
			first := !s.reported[k]
			s.reported[k] = true
			s.mu.Unlock()
			if first {
				s.log.Warn("timers: due timers of a kind nobody here handles are left pending for a replica that does", "kind", k)
			}
		}
	}
	if cleanup {
		n, err := s.st.DeleteFinishedTimers(ctx, now.Add(-s.opts.Retention))
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Warn("timers: deleting finished timers", "err", err)
		case n > 0:
			s.log.Debug("timers: deleted finished timers", "count", n)
		}
	}
}

// fire runs t's handler under its lease and records the outcome. It
// reports whether the handler ran.
func (s *Scheduler) fire(ctx context.Context, t Timer) bool {
	s.mu.Lock()
	h, ok := s.handlers[t.Kind]
	s.mu.Unlock()
	if !ok { // cannot happen: claims name handled kinds only
		return false
	}
	lease := t.Lease()
	maxAttempts := h.retry.MaxAttempts
	if t.MaxAttempts > 0 {
		maxAttempts = t.MaxAttempts
	}
	log := s.log.With("timer", t.Key, "kind", t.Kind, "attempt", t.Attempts)
	if t.Attempts > maxAttempts {
		// Attempt maxAttempts was claimed but never finished: its process
		// died or lost the lease. Give up rather than crash-loop.
		msg := fmt.Sprintf("gave up: attempt %d of %d never finished (its lease expired)", t.Attempts-1, maxAttempts)
		if t.LastError != "" {
			msg += "; earlier error: " + t.LastError
		}
		s.finish(ctx, log, t, "failed", func(ctx context.Context, now time.Time) error {
			return s.st.FailTimer(ctx, lease, msg, now)
		})
		return false
	}
	if s.metrics != nil {
		s.metrics.lag.WithLabelValues(t.Kind).Observe(max(s.clk.Now().Sub(t.Due), 0).Seconds())
	}

	hctx, lost := context.WithCancelCause(ctx)
	stopRenewing := s.keepLease(hctx, lease, lost)
	err := call(hctx, h.fn, t)
	stopRenewing()
	lost(nil)

	var retryAt *retryAtError
	var permanent *permanentError
	switch {
	case err != nil && errors.Is(context.Cause(hctx), store.ErrLeaseLost):
		log.Warn("timers: lease lost while the handler ran (rescheduled, cancelled or taken over); its outcome is dropped", "err", err)
		if s.metrics != nil {
			s.metrics.fired.WithLabelValues(t.Kind, "lease_lost").Inc()
		}
	case err == nil:
		s.finish(ctx, log, t, "done", func(ctx context.Context, now time.Time) error {
			return s.st.CompleteTimer(ctx, lease, now)
		})
	case ctx.Err() != nil:
		// Stopping: hand the timer back without counting the attempt.
		s.finish(ctx, log, t, "released", func(ctx context.Context, now time.Time) error {
			return s.st.ReleaseTimer(ctx, lease, now)
		})
	case errors.As(err, &permanent) || t.Attempts >= maxAttempts:
		log.Error("timers: handler failed for the last time; timer marked failed", "err", err)
		s.finish(ctx, log, t, "failed", func(ctx context.Context, now time.Time) error {
			return s.st.FailTimer(ctx, lease, err.Error(), now)
		})
	default:
		var at time.Time
		if errors.As(err, &retryAt) && !retryAt.at.IsZero() {
			at = retryAt.at
		} else {
			at = s.clk.Now().Add(h.retry.Backoff(t.Attempts))
		}
		log.Warn("timers: handler failed; retrying", "err", err, "retry_at", at)
		if s.finish(ctx, log, t, "retry", func(ctx context.Context, now time.Time) error {
			return s.st.RetryTimer(ctx, lease, at, err.Error(), now)
		}) {
			s.noteDue(at)
		}
	}
	return true
}

// call runs h, turning a panic into an error.
func call(ctx context.Context, h HandlerFunc, t Timer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", p, debug.Stack())
		}
	}()
	return h(ctx, t)
}

// finish records a timer's outcome with write, even if ctx has ended, and
// counts it. A lost lease means someone else decided the timer's fate.
func (s *Scheduler) finish(ctx context.Context, log *slog.Logger, t Timer, result string, write func(context.Context, time.Time) error) bool {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	err := write(wctx, s.clk.Now())
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		log.Warn("timers: lease lost before the outcome was recorded; the timer's newer state stands", "outcome", result)
		result = "lease_lost"
	case err != nil:
		log.Error("timers: recording the outcome failed; the timer fires again when its lease expires", "outcome", result, "err", err)
		result = "store_error"
	}
	if s.metrics != nil {
		s.metrics.fired.WithLabelValues(t.Kind, result).Inc()
	}
	return err == nil
}

// keepLease renews lease every Lease/3 until stop is called, and calls
// lost if the lease is gone (the handler's context then ends).
func (s *Scheduler) keepLease(ctx context.Context, lease store.TimerLease, lost context.CancelCauseFunc) (stop func()) {
	ticks, stopTicker := s.hooks.renewTicks, func() {}
	if ticks == nil {
		ticker := time.NewTicker(s.opts.Lease / 3)
		ticks, stopTicker = ticker.C, ticker.Stop
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			case <-ticks:
				now := s.clk.Now()
				err := s.st.RenewTimerLease(ctx, lease, now.Add(s.opts.Lease), now)
				switch {
				case errors.Is(err, store.ErrLeaseLost):
					lost(err)
					return
				case err != nil && ctx.Err() == nil:
					s.log.Warn("timers: renewing a lease failed; trying again", "timer", lease.Key, "err", err)
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		stopTicker()
	}
}

type metrics struct {
	fired *prometheus.CounterVec
	lag   *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		fired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "incidentd_timers_fired_total",
			Help: "Timer firings by kind and result (done, retry, failed, released, lease_lost, store_error).",
		}, []string{"kind", "result"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "incidentd_timer_lag_seconds",
			Help:    "How long after its due time a timer's handler started.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"kind"}),
	}
	reg.MustRegister(m.fired, m.lag)
	return m
}
