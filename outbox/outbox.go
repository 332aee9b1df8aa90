// Package outbox runs consumers of the timeline events that every change
// writes in its own transaction. A consumer reads events in id order after
// they commit, remembers how far it got in the store, is woken as soon as a
// commit writes events, and catches up after a restart. Consumers must be
// safe to repeat: an event may be handled again if the process dies between
// handling it and saving the cursor.
package outbox

import (
	"context"
	"log/slog"

	"github.com/incidentd/incidentd/incident"
)

// Source is where consumers read events and keep their cursors.
type Source interface {
	EventsAfter(ctx context.Context, after int64, limit int) ([]incident.Event, error)
	Cursor(ctx context.Context, consumer string) (int64, error)
	SaveCursor(ctx context.Context, consumer string, id int64) error
}

// HandleFunc handles one event.
type HandleFunc func(ctx context.Context, ev incident.Event) error

// Consumer feeds events to a handler.
type Consumer struct {
	name   string
	src    Source
	handle HandleFunc
	wake   chan struct{}
	log    *slog.Logger
	batch  int
	// onFailure learns of a pass stopped at a failing event (nil after a
	// clean pass), so that the caller can schedule a durable retry.
	onFailure func(err error)
}

// NewConsumer returns a consumer; Run starts it.
func NewConsumer(name string, src Source, handle HandleFunc, log *slog.Logger) *Consumer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Consumer{name: name, src: src, handle: handle, wake: make(chan struct{}, 1), log: log.With("consumer", name), batch: 500}
}

// Notify wakes the consumer: new events may have committed. It never blocks.
func (c *Consumer) Notify() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// OnFailure sets f to be told after every pass of Run: the error that
// stopped it at a failing event, or nil when it handled everything. Set it
// before Run.
func (c *Consumer) OnFailure(f func(err error)) { c.onFailure = f }

// Run handles every event after the stored cursor, then waits for Notify,
// until ctx is cancelled. A failing handler stops the pass; the event is
// tried again on the next wake (a commit, or the retry OnFailure arranges).
func (c *Consumer) Run(ctx context.Context) {
	for {
		err := c.drain(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.log.Error("outbox consumer stopped at a failing event; it is retried", "err", err)
		}
		if c.onFailure != nil {
			c.onFailure(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
	}
}

// Drain handles every pending event once, synchronously (tests, tools).
func (c *Consumer) Drain(ctx context.Context) error { return c.drain(ctx) }

func (c *Consumer) drain(ctx context.Context) error {
	cursor, err := c.src.Cursor(ctx, c.name)
	if err != nil {
		return err
	}
	for {
		events, err := c.src.EventsAfter(ctx, cursor, c.batch)
		if err != nil {
			return err
		}
		if len(events) == 0 {
			return nil
		}
		for _, ev := range events {
			if err := c.handle(ctx, ev); err != nil {
				if serr := c.src.SaveCursor(ctx, c.name, cursor); serr != nil {
					c.log.Warn("saving cursor", "err", serr)
				}
				return err
			}
			cursor = ev.ID
		}
		if err := c.src.SaveCursor(ctx, c.name, cursor); err != nil {
			return err
		}
	}
}

// Name is the consumer's name, which keys its cursor.
func (c *Consumer) Name() string { return c.name }
