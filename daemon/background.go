package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
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
	// owner names this process in the outbox leases it holds.
	owner string
	// changed hears of another replica's CMDB or maintenance change.
	changed func(kind string)

	mu        sync.Mutex
	consumers map[string]*outbox.Consumer
	failures  map[string]int
}

func newBackground(d *Daemon, st *store.Store, dsn string, reg prometheus.Registerer) *background {
	opts := timers.Options{Logger: d.log, Registerer: reg}
	if st.Backend() == store.Postgres {
		opts.ListenDSN = dsn
	}
	b := &background{
		timers:    timers.New(st, d.opts.Clock, opts),
		d:         d,
		st:        st,
		owner:     processOwner(st.Backend()),
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

// processOwner names this process uniquely among the replicas: host and
// pid for people reading the outbox_cursors table, and a random part
// because pids repeat across containers. A restarted replica is a new
// owner: it takes its consumers back when its old leases expire. SQLite
// has one process per file, so its owner never changes and a restart
// goes on at once.
func processOwner(b store.Backend) string {
	if b == store.SQLite {
		return "sqlite"
	}
	host, _ := os.Hostname()
	var r [4]byte
	rand.Read(r[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(r[:]))
}

// addConsumer registers an outbox consumer; start runs it. A pass that
// stops at a failing event schedules a durable wake-up with exponential
// backoff (1s doubling to 5m), so the event is retried without waiting for
// the next commit. A pass that finds another replica following the
// consumer schedules a look at the end of that replica's lease, so that
// its work is taken over if it died, even if nothing commits meanwhile.
func (b *background) addConsumer(name string, handle outbox.HandleFunc) *outbox.Consumer {
	c := outbox.NewConsumer(name, b.st, handle, b.d.log)
	c.SetLease(b.owner, b.d.opts.Clock, outbox.DefaultLease)
	c.OnPass(func(p outbox.Pass) {
		if !p.Busy.IsZero() {
			b.lookAfterLease(name, p.Busy)
			return
		}
		b.failed(name, p.Err)
	})
	b.mu.Lock()
	b.consumers[name] = c
	b.mu.Unlock()
	return c
}

// lookAfterLease wakes consumer name, on whichever replica claims the
// timer, just after another replica's lease on it ends. The key is the
// lease's end, so replicas that all find the same lease schedule one timer.
func (b *background) lookAfterLease(name string, end time.Time) {
	t := store.Timer{
		Key:     fmt.Sprintf("%s:%s:lease:%d", outboxRetryKind, name, end.UnixMicro()),
		Kind:    outboxRetryKind,
		Due:     end.Add(time.Millisecond),
		Payload: []byte(name),
	}
	if _, err := b.st.ScheduleTimer(context.Background(), t, b.d.opts.Clock.Now()); err != nil {
		b.d.log.Error("scheduling a look at another replica's outbox lease; it is looked at on the next commit", "consumer", name, "err", err)
	}
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
	// Other replicas' commits: new events wake the consumers here too
	// (whichever replica holds a consumer's lease handles them), and CMDB
	// or maintenance changes are reloaded. "" means notifications may have
	// been missed (start, reconnection): everything is looked at.
	wg.Go(func() {
		err := b.st.ListenChanges(ctx, func(kind string) {
			if kind == "" || kind == store.ChangeEvents {
				b.notifyAll()
			}
			if kind != store.ChangeEvents && b.changed != nil {
				b.changed(kind)
			}
		})
		if err != nil {
			b.d.log.Error("cannot listen for other replicas' changes: their events wait for a local commit or timer, their CMDB changes for a reload", "err", err)
		}
	})
	return wg.Wait
}
