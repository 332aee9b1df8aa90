package daemon

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/incidentd/incidentd/outbox"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/timers"
)

// outboxRetryKind is the timer that wakes an outbox consumer whose last
// pass stopped at a failing event.
const outboxRetryKind = "outbox.retry"

// background is the work that is not a request: the one timer scheduler
// every feature registers its handlers on, and the outbox consumers, all
// woken by each commit that writes events.
type background struct {
	timers *timers.Scheduler
	d      *Daemon
	st     *store.Store

	mu        sync.Mutex
	consumers map[string]*outbox.Consumer
	failures  map[string]int
}

func newBackground(d *Daemon, st *store.Store, dsn string, reg prometheus.Registerer) *background {
	opts := timers.Options{Logger: d.log, Registerer: reg}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		opts.ListenDSN = dsn
	}
	b := &background{
		timers:    timers.New(st, d.opts.Clock, opts),
		d:         d,
		st:        st,
		consumers: map[string]*outbox.Consumer{},
		failures:  map[string]int{},
	}
	b.timers.Handle(outboxRetryKind, func(ctx context.Context, t timers.Timer) error {
		b.mu.Lock()
		c := b.consumers[string(t.Payload)]
		b.mu.Unlock()
		if c != nil {
			c.Notify()
		}
		return nil
	})
	st.OnCommit(b.notifyAll)
	return b
}

// addConsumer registers an outbox consumer; start runs it. A pass that
// stops at a failing event schedules a durable wake-up with exponential
// backoff (1s doubling to 5m), so the event is retried without waiting for
// the next commit.
func (b *background) addConsumer(name string, handle outbox.HandleFunc) *outbox.Consumer {
	c := outbox.NewConsumer(name, b.st, handle, b.d.log)
	c.OnFailure(func(err error) { b.failed(name, err) })
	b.mu.Lock()
	b.consumers[name] = c
	b.mu.Unlock()
	return c
}

func (b *background) failed(name string, err error) {
	b.mu.Lock()
	if err == nil {
		delete(b.failures, name)
		b.mu.Unlock()
		return
	}
	n := b.failures[name]
	b.failures[name]++
	b.mu.Unlock()
	delay := min(time.Second<<min(n, 9), 5*time.Minute)
	now := b.d.opts.Clock.Now()
	t := store.Timer{
		Key:     fmt.Sprintf("%s:%s:%d", outboxRetryKind, name, now.UnixNano()),
		Kind:    outboxRetryKind,
		Due:     now.Add(delay),
		Payload: []byte(name),
	}
	if _, serr := b.st.ScheduleTimer(context.Background(), t, now); serr != nil {
		b.d.log.Error("scheduling an outbox retry; the event is retried on the next commit", "consumer", name, "err", serr)
	}
}

func (b *background) notifyAll() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.consumers {
		c.Notify()
	}
}

// start runs the scheduler and every consumer until ctx is cancelled;
// wait returns when they have all stopped.
func (b *background) start(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	b.mu.Lock()
	for _, c := range b.consumers {
		wg.Add(1)
		go func() { defer wg.Done(); c.Run(ctx) }()
	}
	b.mu.Unlock()
	wg.Add(1)
	go func() { defer wg.Done(); b.timers.Run(ctx) }()
	return wg.Wait
}
