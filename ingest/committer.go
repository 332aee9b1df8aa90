package ingest

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/incident"
)

// ErrClosed is returned for alerts submitted after shutdown began.
var ErrClosed = errors.New("ingest is shutting down")

// Store is the part of the store ingest needs.
type Store interface {
	Ingest(ctx context.Context, p *incident.Policy, inputs []incident.AlertInput, now time.Time) (incident.Stats, error)
}

// Committer commits alerts with group commit: requests that arrive while a
// transaction is in flight queue up and share the next one, so one fsync (or
// one PostgreSQL round trip set) serves many senders. An idle committer
// commits a lone request at once: no added latency.
type Committer struct {
	store    Store
	policy   *atomic.Pointer[incident.Policy]
	clock    clock.Clock
	maxBatch int
	timeout  time.Duration
	log      *slog.Logger
	metrics  *Metrics

	reqs     chan *request
	mu       sync.RWMutex // guards closed against Submit racing Close
	closed   bool
	finished chan struct{}
}

type request struct {
	endpoint string // for metrics: a bounded set, unlike the alerts' source
	alerts   []incident.AlertInput
	done     chan error
}

// CommitterOptions configure a Committer.
type CommitterOptions struct {
	MaxBatch int
	// Timeout bounds one commit; a store that hangs must not hold senders
	// forever (they get 503 and retry).
	Timeout time.Duration
	Logger  *slog.Logger
	Metrics *Metrics
	Clock   clock.Clock
}

// NewCommitter starts a committer; Close stops it after the queued work.
func NewCommitter(s Store, policy *atomic.Pointer[incident.Policy], o CommitterOptions) *Committer {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 5000
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	c := &Committer{
		store: s, policy: policy, clock: o.Clock, maxBatch: o.MaxBatch, timeout: o.Timeout,
		log: o.Logger, metrics: o.Metrics,
		reqs: make(chan *request, 1024), finished: make(chan struct{}),
	}
	go c.run()
	return c
}

// SetMaxBatch changes the batch bound (config reload).
func (c *Committer) SetMaxBatch(n int) {
	c.mu.Lock()
	c.maxBatch = n
	c.mu.Unlock()
}

// Submit commits alerts and returns once they are durable, or with the error
// that kept them from being so. Cancelling ctx stops the wait, not the commit.
func (c *Committer) Submit(ctx context.Context, endpoint string, alerts []incident.AlertInput) error {
	r := &request{endpoint: endpoint, alerts: alerts, done: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	select {
	case c.reqs <- r:
		c.mu.RUnlock()
	case <-ctx.Done():
		c.mu.RUnlock()
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops accepting alerts, commits everything queued and returns when
// the last commit has finished.
func (c *Committer) Close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.reqs)
	}
	c.mu.Unlock()
	<-c.finished
}

func (c *Committer) run() {
	defer close(c.finished)
	var batch []*request
	for r := range c.reqs {
		batch = append(batch[:0], r)
		n := len(r.alerts)
		c.mu.RLock()
		max := c.maxBatch
		c.mu.RUnlock()
	collect:
		for n < max {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break collect
				}
				batch = append(batch, r)
				n += len(r.alerts)
			default:
				break collect
			}
		}
		c.commit(batch, n)
	}
}

func (c *Committer) commit(batch []*request, n int) {
	alerts := batch[0].alerts
	if len(batch) > 1 {
		alerts = make([]incident.AlertInput, 0, n)
		for _, r := range batch {
			alerts = append(alerts, r.alerts...)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	start := time.Now()
	stats, err := c.store.Ingest(ctx, c.policy.Load(), alerts, c.clock.Now())
	cancel()
	if m := c.metrics; m != nil {
		m.commitDuration.Observe(time.Since(start).Seconds())
		m.batchAlerts.Observe(float64(n))
		m.batchRequests.Observe(float64(len(batch)))
		if err != nil {
			m.commitErrors.Inc()
		} else {
			m.observeStats(batch, stats)
		}
	}
	if err != nil {
		c.log.Error("commit alerts failed", "alerts", n, "requests", len(batch), "err", err)
	} else {
		c.log.Debug("committed alerts", "alerts", n, "requests", len(batch), "new", stats.New, "repeats", stats.Repeats, "resolved", stats.Resolved, "incidents_created", stats.IncidentsCreated)
	}
	for _, r := range batch {
		r.done <- err
	}
}
