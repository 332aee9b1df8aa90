// Package timers fires durable timers: every escalation step, SLA threshold,
// runbook wait or approval timeout, cron tick and notification retry is a
// row in the store with a due time, claimed with a lease, so that a restart
// or another replica picks it up. Do not start goroutines that sleep; put a
// timer here.
//
// # Scheduling
//
// Timers are scheduled through the store, alone or inside the caller's
// transaction so that the timer commits with the caller's rows:
//
//	st.ScheduleTimer(ctx, store.Timer{
//		Key:     "escalate:INC-12:level1:loop0", // idempotency key
//		Kind:    "escalate",                     // selects the handler
//		Due:     now.Add(5 * time.Minute),
//		Payload: []byte(`{"incident":12,"level":1}`),
//	}, now)
//	st.ScheduleTimerTx(ctx, tx, t, now) // in the caller's *sqlx.Tx
//
// The key is the timer's identity. Scheduling a key that exists changes
// nothing: a repeated outbox event, or two replicas scheduling the same
// cron tick ("cron:nightly-report:2026-11-21T03:00Z"), create one timer, and
// a done key stays done. Choose keys that name the occurrence, not just the
// job.
//
// Also on the store: RescheduleTimer (new due time and payload for a pending
// timer; it revokes a claim in progress), CancelTimer (by key), CancelTimers
// (by key prefix, e.g. "escalate:INC-12:" when INC-12 resolves; end the
// prefix with a separator), Timers (list by prefix and state) and Timer (one
// by key), each with a Tx variant where it writes.
//
// # Firing
//
// A Scheduler runs the handlers:
//
//	sch := timers.New(st, clock.Real{}, timers.Options{ListenDSN: dsn, Logger: log})
//	sch.Handle("escalate", func(ctx context.Context, t timers.Timer) error { ... })
//	go sch.Run(ctx)
//
// Run claims due timers of the kinds it handles, with a lease (Options.Lease)
// that it renews while a handler runs, and marks each one done when its
// handler returns nil. A timer fires within about a second of its due time:
// the scheduler sleeps until the earliest due time it knows of, a Schedule
// through the same store wakes it at once, and on PostgreSQL (with
// Options.ListenDSN) so does a Schedule on any other replica, through
// LISTEN/NOTIFY. A slow poll (Options.PollInterval) covers lost
// notifications. On start it fires everything already due.
//
// Handlers run at least once, not exactly once: if the process dies after a
// handler's effect but before the timer is marked done, the timer fires
// again once the lease expires, elsewhere. Make handlers idempotent, for
// example by keying what they write with the timer's key.
//
// Handler errors are retried with exponential backoff and jitter (Retry, per
// kind with HandleRetry, or per timer with Timer.MaxAttempts). After the last
// attempt the timer is marked failed and keeps its last error: failures stay
// visible in the store and are never dropped. A handler can choose its retry
// time by returning RetryAt(t, err) (an HTTP 429's Retry-After), or give up
// at once with Permanent(err). Both still count as attempts.
//
// A claim is fenced: a handler whose lease expired and whose timer was
// claimed again, rescheduled or cancelled cannot finish it (the store
// answers store.ErrLeaseLost, and the newer state stands); its context is
// cancelled at the next lease renewal. Only the handler's own writes can
// still land, which is why they must be idempotent.
//
// A pending timer whose kind no handler here knows is left pending, and the
// kind is logged once: another replica, perhaps of a newer version, may
// handle it. It is never claimed, so it burns no attempts.
//
// Done and cancelled timers are deleted after Options.Retention (7 days);
// after that their keys could be scheduled anew. Failed timers are kept.
//
// # Tests
//
// Give the scheduler a clock.Fake and call RunDue, which claims and runs
// everything due at the clock's time and returns when the handlers have
// finished: advance the clock, RunDue, assert. Run is a thin loop over the
// same code.
package timers
