// Package outbox runs consumers of the timeline events that every change
// writes in its own transaction. A consumer reads events in id order after
// they commit, remembers how far it got in the store, is woken as soon as a
// commit writes events, and catches up after a restart. Consumers must be
// safe to repeat: an event may be handled again if the process dies between
// handling it and saving the cursor.
//
// With several replicas on one database, each consumer is followed by one
// replica at a time: the replica holds a lease on the consumer's cursor,
// renews it while it works, and gives it up at shutdown. A replica that
// dies stops renewing; once its lease expires, the next replica woken takes
// over from the saved cursor.
package outbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"time"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/incident"
)

// Source is where consumers read events and keep their leased cursors.
type Source interface {
	EventsAfter(ctx context.Context, after int64, limit int) ([]incident.Event, error)
	// ClaimCursor takes or renews owner's lease until until; without it,
	// leaseEnd is when the current holder's lease ends.
	ClaimCursor(ctx context.Context, consumer, owner string, now, until time.Time) (cursor int64, held bool, leaseEnd time.Time, err error)
	// AdvanceCursor saves the cursor and renews the lease, if owner still
	// holds it.
	AdvanceCursor(ctx context.Context, consumer, owner string, id int64, until time.Time) (held bool, err error)
	ReleaseCursor(ctx context.Context, consumer, owner string) error
}

// HandleFunc handles one event.
type HandleFunc func(ctx context.Context, ev incident.Event) error

// DefaultLease is how long a consumer's lease lasts without renewal: how
// long a dead replica's consumers wait before another replica takes them.
const DefaultLease = 15 * time.Second

// Pass tells how a pass over the pending events ended.
type Pass struct {
	// Err stopped the pass at a failing event; nil when every event was
	// handled.
	Err error
	// Busy is set when another replica holds the consumer's lease: the end
	// of that lease, when this replica should look again in case the
	// holder died.
	Busy time.Time
}

// Consumer feeds events to a handler.
type Consumer struct {
	name   string
	src    Source
	handle HandleFunc
	wake   chan struct{}
	log    *slog.Logger
	batch  int
	owner  string
	clock  clock.Clock
	lease  time.Duration
	// onPass learns how each pass of Run ended, so that the caller can
	// schedule a durable retry or a look after another replica's lease.
	onPass func(Pass)
	// heldUntil and cursor are the lease this consumer holds and how far
	// it got: while the lease has more than a third to run, a pass starts
	// from them without a write to claim it again. Nobody else moves the
	// cursor while the lease is held.
	heldUntil time.Time
	cursor    int64
}

// NewConsumer returns a consumer with a random owner id, the wall clock
// and DefaultLease (see SetLease); Run starts it.
func NewConsumer(name string, src Source, handle HandleFunc, log *slog.Logger) *Consumer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var id [8]byte
	rand.Read(id[:])
	return &Consumer{
		name: name, src: src, handle: handle, wake: make(chan struct{}, 1), log: log.With("consumer", name), batch: 500,
		owner: hex.EncodeToString(id[:]), clock: clock.Real{}, lease: DefaultLease,
	}
}

// SetLease sets the owner id the consumer's lease is held under (one per
// process), the clock leases are measured by, and the lease length. Set it
// before Run.
func (c *Consumer) SetLease(owner string, clk clock.Clock, lease time.Duration) {
	c.owner, c.clock, c.lease = owner, clk, lease
}

// Notify wakes the consumer: new events may have committed. It never blocks.
func (c *Consumer) Notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// OnPass sets f to be told after every pass of Run how it ended. Set it
// before Run.
func (c *Consumer) OnPass(f func(Pass)) { c.onPass = f }

// Run handles every event after the stored cursor, then waits for Notify,
// until ctx is cancelled, and then gives its lease up. A failing handler
// stops the pass; the event is tried again on the next wake (a commit, or
// the retry OnPass arranges).
func (c *Consumer) Run(ctx context.Context) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := c.src.ReleaseCursor(rctx, c.name, c.owner); err != nil {
			c.log.Warn("giving up the outbox lease; another replica takes over when it expires", "err", err)
		}
	}()
	for {
		p := c.drain(ctx)
		if ctx.Err() != nil {
			return
		}
		if p.Err != nil {
			c.log.Error("outbox consumer stopped at a failing event; it is retried", "err", p.Err)
		}
		if c.onPass != nil {
			c.onPass(p)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
	}
}

// Drain handles every pending event once, synchronously (tests, tools). It
// returns nil without handling anything while another owner holds the
// lease.
func (c *Consumer) Drain(ctx context.Context) error { return c.drain(ctx).Err }

func (c *Consumer) drain(ctx context.Context) Pass {
	now := c.clock.Now()
	cursor := c.cursor
	if now.After(c.heldUntil.Add(-c.lease / 3)) {
		c.heldUntil = time.Time{}
		var held bool
		var leaseEnd time.Time
		var err error
		cursor, held, leaseEnd, err = c.src.ClaimCursor(ctx, c.name, c.owner, now, now.Add(c.lease))
		if err != nil {
			return Pass{Err: err}
		}
		if !held {
			return Pass{Busy: leaseEnd}
		}
		c.heldUntil, c.cursor = now.Add(c.lease), cursor
	}
	saved := cursor
	// save records progress and renews the lease; false when the lease was
	// lost (this process stalled past it), and the pass must stop.
	save := func() (bool, error) {
		until := c.clock.Now().Add(c.lease)
		held, err := c.src.AdvanceCursor(ctx, c.name, c.owner, cursor, until)
		switch {
		case err != nil:
			c.heldUntil = time.Time{} // claim (and read the cursor) again
		case !held:
			c.heldUntil = time.Time{}
			c.log.Warn("outbox lease lost to another replica; it goes on from the saved cursor")
		default:
			saved, c.cursor, c.heldUntil = cursor, cursor, until
		}
		return held, err
	}
	renewAt := c.heldUntil.Add(-2 * c.lease / 3)
	for {
		events, err := c.src.EventsAfter(ctx, cursor, c.batch)
		if err != nil {
			return Pass{Err: err}
		}
		if len(events) == 0 {
			return Pass{}
		}
		for _, ev := range events {
			if err := c.handle(ctx, ev); err != nil {
				if cursor != saved {
					if _, serr := save(); serr != nil {
						c.log.Warn("saving cursor", "err", serr)
					}
				}
				c.heldUntil = time.Time{} // the retry claims afresh
				return Pass{Err: err}
			}
			cursor = ev.ID
			if c.clock.Now().After(renewAt) {
				if held, err := save(); err != nil || !held {
					return Pass{Err: err}
				}
				renewAt = c.clock.Now().Add(c.lease / 3)
			}
		}
		if held, err := save(); err != nil || !held {
			return Pass{Err: err}
		}
	}
}

// Name is the consumer's name, which keys its cursor.
func (c *Consumer) Name() string { return c.name }
