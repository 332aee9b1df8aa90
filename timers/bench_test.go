package timers_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
	"github.com/incidentd/incidentd/timers"
)

// BenchmarkScheduleAndFire measures the whole life of a timer: schedule it
// (one transaction each, as an escalation step would), then claim, run a
// no-op handler and mark it done. ns/op is per timer.
func BenchmarkScheduleAndFire(b *testing.B) {
	for _, backend := range storetest.Backends() {
		b.Run(string(backend), func(b *testing.B) {
			st := storetest.Open(b, backend)
			ctx := context.Background()
			clk := clock.NewFake(t0)
			s := timers.New(st, clk, timers.Options{Owner: "bench"})
			s.Handle("k", func(context.Context, timers.Timer) error { return nil })
			b.ResetTimer()
			for i := range b.N {
				if _, err := st.ScheduleTimer(ctx, store.Timer{Key: fmt.Sprintf("k%d", i), Kind: "k", Due: t0}, t0); err != nil {
					b.Fatal(err)
				}
			}
			scheduled := b.Elapsed()
			n, err := s.RunDue(ctx)
			if err != nil || n != b.N {
				b.Fatalf("fired %d of %d: %v", n, b.N, err)
			}
			fired := b.Elapsed() - scheduled
			b.ReportMetric(float64(scheduled.Nanoseconds())/float64(b.N), "schedule-ns/op")
			b.ReportMetric(float64(fired.Nanoseconds())/float64(b.N), "fire-ns/op")
		})
	}
}
