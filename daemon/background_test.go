package daemon

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/timers"
)

// A consumer that fails on an event is woken again by a durable timer, not
// only by the next commit.
func TestFailingConsumerIsRetriedOnATimer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		st := storetest.Open(t, b)
		clk := clock.NewFake(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC))
		d := &Daemon{opts: Options{Clock: clk}, log: slog.New(slog.DiscardHandler)}
		bg := newBackground(d, st, "", nil)
		var calls atomic.Int32
		handled := make(chan int32, 10)
		bg.addConsumer("flaky", func(ctx context.Context, ev incident.Event) error {
			n := calls.Add(1)
			handled <- n
			if n == 1 {
				return errors.New("downstream unavailable")
			}
			return nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		bgc := bg.consumers["flaky"]
		go bgc.Run(ctx) // the consumer alone; the test drives the timers

		if err := st.RecordEvents(ctx, []incident.Event{{At: clk.Now(), Actor: "test", Kind: "test.event", Message: "x"}}); err != nil {
			t.Fatal(err)
		}
		if n := <-handled; n != 1 {
			t.Fatalf("first call %d", n)
		}
		// The failure schedules a retry timer due in a second.
		var pending []timers.Timer
		for deadline := time.Now().Add(10 * time.Second); len(pending) == 0; {
			var err error
			if pending, err = st.Timers(ctx, store.TimerFilter{Prefix: outboxRetryKind + ":flaky:"}); err != nil {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatal("no retry timer scheduled")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if due := pending[0].Due; !due.Equal(clk.Now().Add(time.Second)) {
			t.Fatalf("retry due %v, want a second after the failure", due)
		}
		// Not due yet: nothing fires.
		if n, err := bg.timers.RunDue(ctx); err != nil || n != 0 {
			t.Fatalf("fired %d early (%v)", n, err)
		}
		clk.Advance(time.Second)
		if n, err := bg.timers.RunDue(ctx); err != nil || n != 1 {
			t.Fatalf("fired %d (%v)", n, err)
		}
		if n := <-handled; n != 2 {
			t.Fatalf("retry call %d", n)
		}
	})
}
