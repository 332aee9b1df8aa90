package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
)

// This file keeps the rows of package timers. Callers schedule, reschedule,
// cancel and list timers here (inside their own transaction or not);
// timers.Scheduler claims and finishes them. See package timers for the
// model.

// TimerState is where a timer is in its life.
type TimerState string

// Timer states. Only pending timers fire; the others are final.
const (
	TimerPending   TimerState = "pending"
	TimerDone      TimerState = "done"
	TimerFailed    TimerState = "failed"
	TimerCancelled TimerState = "cancelled"
)

// ErrLeaseLost is returned when a scheduler renews or finishes a timer it no
// longer holds: its lease expired and another scheduler claimed it, or it was
// rescheduled or cancelled meanwhile. The current state wins.
var ErrLeaseLost = errors.New("timer lease lost")

// Timer is one durable timer. The caller sets Key, Kind, Due, Payload and,
// optionally, MaxAttempts; the store keeps the rest.
type Timer struct {
	// Key is the caller's idempotency key, unique across all timers, for
	// example "escalate:INC-12:level1:loop0". Scheduling a key that exists
	// changes nothing, whatever the existing timer's state.
	Key string
	// Kind selects the handler.
	Kind string
	// Due is when the timer fires; after a failed attempt, when it is
	// retried.
	Due time.Time
	// Payload is the handler's input, JSON or plain text (valid UTF-8).
	Payload []byte
	// MaxAttempts bounds the handler runs; 0 means the handler's default.
	MaxAttempts int

	State TimerState
	// Attempts counts handler runs started, including the current one.
	Attempts int
	// LastError is the error of the latest failed attempt.
	LastError string
	// Owner is the scheduler that holds the lease, or finished the timer.
	Owner string
	// LeaseUntil is when Owner's claim expires (zero when not claimed).
	LeaseUntil time.Time
	// Version grows with every claim and reschedule. With Key and Owner it
	// identifies one claim, so a stale claim cannot finish the timer.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TimerLease identifies one claim of a timer.
type TimerLease struct {
	Key     string
	Owner   string
	Version int64
}

// Lease returns the claim that t, as returned by ClaimTimers, holds.
func (t Timer) Lease() TimerLease { return TimerLease{Key: t.Key, Owner: t.Owner, Version: t.Version} }

const timerColumns = "key, kind, due, payload, state, attempts, max_attempts, last_error, owner, lease_until, version, created_at, updated_at"

type timerRow struct {
	Key         string `db:"key"`
	Kind        string `db:"kind"`
	Due         int64  `db:"due"`
	Payload     string `db:"payload"`
	State       string `db:"state"`
	Attempts    int    `db:"attempts"`
	MaxAttempts int    `db:"max_attempts"`
	LastError   string `db:"last_error"`
	Owner       string `db:"owner"`
	LeaseUntil  int64  `db:"lease_until"`
	Version     int64  `db:"version"`
	CreatedAt   int64  `db:"created_at"`
	UpdatedAt   int64  `db:"updated_at"`
}

func (r *timerRow) timer() Timer {
	t := Timer{
		Key: r.Key, Kind: r.Kind, Due: fromMicro(r.Due), MaxAttempts: r.MaxAttempts, State: TimerState(r.State),
		Attempts: r.Attempts, LastError: r.LastError, Owner: r.Owner, LeaseUntil: fromMicro(r.LeaseUntil),
		Version: r.Version, CreatedAt: fromMicro(r.CreatedAt), UpdatedAt: fromMicro(r.UpdatedAt),
	}
	if r.Payload != "" {
		t.Payload = []byte(r.Payload)
	}
	return t
}

func timerList(rows []timerRow) []Timer {
	out := make([]Timer, len(rows))
	for i := range rows {
		out[i] = rows[i].timer()
	}
	return out
}

// maxRune bounds key-prefix range scans: every key that starts with p sorts
// below p+maxRune, bytewise, because keys may not contain it.
const maxRune = "\U0010FFFF"

func validKey(what, key string) error {
	switch {
	case key == "":
		return fmt.Errorf("timer %s is empty", what)
	case !utf8.ValidString(key), strings.ContainsRune(key, 0), strings.Contains(key, maxRune):
		return fmt.Errorf("timer %s %q is not valid UTF-8 text", what, key)
	}
	return nil
}

func validTimer(t *Timer) error {
	if err := validKey("key", t.Key); err != nil {
		return err
	}
	switch {
	case t.Kind == "":
		return fmt.Errorf("timer %q: kind is empty", t.Key)
	case t.Due.IsZero():
		return fmt.Errorf("timer %q: due time is not set", t.Key)
	case t.MaxAttempts < 0:
		return fmt.Errorf("timer %q: max attempts %d is negative", t.Key, t.MaxAttempts)
	case !utf8.Valid(t.Payload) || strings.ContainsRune(string(t.Payload), 0):
		return fmt.Errorf("timer %q: payload is not UTF-8 text", t.Key)
	}
	return nil
}

// ScheduleTimer creates t as a pending timer due at t.Due, unless a timer
// with its key exists: then nothing changes (a done timer stays done, a
// cancelled one cancelled), and created is false. now is the creation time.
// It wakes the local scheduler, and on PostgreSQL every replica's.
func (s *Store) ScheduleTimer(ctx context.Context, t Timer, now time.Time) (created bool, err error) {
	err = s.inTx(ctx, func(tx *sqlx.Tx) error {
		created, err = s.scheduleTimer(ctx, tx, t, now)
		return err
	})
	if err == nil && created {
		s.timerScheduled(t.Due)
	}
	return created, err
}

// ScheduleTimerTx is ScheduleTimer inside the caller's transaction (or on
// s.DB()), so that a timer commits, or not, with the caller's own rows. It
// wakes the local scheduler at once: on SQLite its claim waits for the
// caller's commit; on PostgreSQL the notification sent at commit wakes every
// replica again.
func (s *Store) ScheduleTimerTx(ctx context.Context, tx sqlx.ExtContext, t Timer, now time.Time) (created bool, err error) {
	created, err = s.scheduleTimer(ctx, tx, t, now)
	if err == nil && created {
		s.timerScheduled(t.Due)
	}
	return created, err
}

func (s *Store) scheduleTimer(ctx context.Context, tx sqlx.ExtContext, t Timer, now time.Time) (bool, error) {
	if err := validTimer(&t); err != nil {
		return false, err
	}
	due, at := micro(t.Due), micro(now)
	res, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO timers (key, kind, due, payload, state, max_attempts, ready_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`),
		t.Key, t.Kind, due, string(t.Payload), t.MaxAttempts, due, at, at)
	if err != nil {
		return false, fmt.Errorf("schedule timer %q: %w", t.Key, err)
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	return true, s.notifyTimer(ctx, tx, due)
}

// RescheduleTimer moves a pending timer to due and, unless payload is nil,
// replaces its payload. It starts afresh: attempts and last error are
// cleared, and a claim in progress is revoked (its handler cannot finish the
// timer; it fires again at due). It reports false if no pending timer has
// the key.
func (s *Store) RescheduleTimer(ctx context.Context, key string, due time.Time, payload []byte, now time.Time) (bool, error) {
	var ok bool
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		ok, err = s.rescheduleTimer(ctx, tx, key, due, payload, now)
		return err
	})
	if err == nil && ok {
		s.timerScheduled(due)
	}
	return ok, err
}

// RescheduleTimerTx is RescheduleTimer inside the caller's transaction.
func (s *Store) RescheduleTimerTx(ctx context.Context, tx sqlx.ExtContext, key string, due time.Time, payload []byte, now time.Time) (bool, error) {
	ok, err := s.rescheduleTimer(ctx, tx, key, due, payload, now)
	if err == nil && ok {
		s.timerScheduled(due)
	}
	return ok, err
}

func (s *Store) rescheduleTimer(ctx context.Context, tx sqlx.ExtContext, key string, due time.Time, payload []byte, now time.Time) (bool, error) {
	if due.IsZero() {
		return false, fmt.Errorf("reschedule timer %q: due time is not set", key)
	}
	if !utf8.Valid(payload) || strings.ContainsRune(string(payload), 0) {
		return false, fmt.Errorf("reschedule timer %q: payload is not UTF-8 text", key)
	}
	set, args := "", []any{micro(due), micro(due), micro(now)}
	if payload != nil {
		set = ", payload = ?"
		args = append(args, string(payload))
	}
	res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE timers SET due = ?, ready_at = ?, updated_at = ?, attempts = 0, last_error = '',
		owner = '', lease_until = 0, version = version + 1`+set+` WHERE key = ? AND state = 'pending'`), append(args, key)...)
	if err != nil {
		return false, fmt.Errorf("reschedule timer %q: %w", key, err)
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return false, err
	}
	return true, s.notifyTimer(ctx, tx, micro(due))
}

// CancelTimer cancels the pending timer key and reports whether there was
// one. A handler running for it cannot finish it any more, and loses its
// context at its next lease renewal.
func (s *Store) CancelTimer(ctx context.Context, key string, now time.Time) (bool, error) {
	return s.CancelTimerTx(ctx, s.db, key, now)
}

// CancelTimerTx is CancelTimer inside the caller's transaction.
func (s *Store) CancelTimerTx(ctx context.Context, tx sqlx.ExtContext, key string, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE timers SET state = 'cancelled', lease_until = 0, version = version + 1, updated_at = ?
		WHERE key = ? AND state = 'pending'`), micro(now), key)
	if err != nil {
		return false, fmt.Errorf("cancel timer %q: %w", key, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// CancelTimers cancels every pending timer whose key starts with prefix and
// returns how many. End the prefix with a separator ("escalate:INC-12:"), or
// it also matches INC-120.
func (s *Store) CancelTimers(ctx context.Context, prefix string, now time.Time) (int, error) {
	return s.CancelTimersTx(ctx, s.db, prefix, now)
}

// CancelTimersTx is CancelTimers inside the caller's transaction.
func (s *Store) CancelTimersTx(ctx context.Context, tx sqlx.ExtContext, prefix string, now time.Time) (int, error) {
	if err := validKey("prefix", prefix); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE timers SET state = 'cancelled', lease_until = 0, version = version + 1, updated_at = ?
		WHERE key >= ? AND key < ? AND state = 'pending'`), micro(now), prefix, prefix+maxRune)
	if err != nil {
		return 0, fmt.Errorf("cancel timers %q: %w", prefix, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// TimerFilter selects timers to list.
type TimerFilter struct {
	// Prefix keeps keys that start with it; empty keeps all.
	Prefix string
	// States keeps timers in one of these states; empty keeps all.
	States []TimerState
	// Limit caps the result; 0 means 1000.
	Limit int
}

// Timers lists timers by due time, then key.
func (s *Store) Timers(ctx context.Context, f TimerFilter) ([]Timer, error) {
	return s.TimersTx(ctx, s.db, f)
}

// TimersTx lists timers in the caller's transaction: a caller holding a
// write transaction must not wait for a second connection (on SQLite, the
// pool's other connections may all be waiting for its write lock).
func (s *Store) TimersTx(ctx context.Context, tx sqlx.QueryerContext, f TimerFilter) ([]Timer, error) {
	var where []string
	var args []any
	if f.Prefix != "" {
		if err := validKey("prefix", f.Prefix); err != nil {
			return nil, err
		}
		where = append(where, "key >= ? AND key < ?")
		args = append(args, f.Prefix, f.Prefix+maxRune)
	}
	if len(f.States) > 0 {
		states := make([]string, len(f.States))
		for i, st := range f.States {
			states[i] = string(st)
		}
		clause, arg, err := s.in("state", states)
		if err != nil {
			return nil, err
		}
		where = append(where, clause)
		args = append(args, arg)
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q := "SELECT " + timerColumns + " FROM timers"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	var rows []timerRow
	if err := sqlx.SelectContext(ctx, tx, &rows, s.db.Rebind(q+" ORDER BY due, key LIMIT ?"), append(args, f.Limit)...); err != nil {
		return nil, err
	}
	return timerList(rows), nil
}

// Timer returns the timer key, or ErrNotFound.
func (s *Store) Timer(ctx context.Context, key string) (Timer, error) {
	return s.TimerTx(ctx, s.db, key)
}

// TimerTx returns the timer key in the caller's transaction (see TimersTx).
func (s *Store) TimerTx(ctx context.Context, tx sqlx.QueryerContext, key string) (Timer, error) {
	var rows []timerRow
	if err := sqlx.SelectContext(ctx, tx, &rows, s.db.Rebind("SELECT "+timerColumns+" FROM timers WHERE key = ?"), key); err != nil {
		return Timer{}, err
	}
	if len(rows) == 0 {
		return Timer{}, ErrNotFound
	}
	return rows[0].timer(), nil
}

// ClaimTimers leases up to limit pending timers of the given kinds that are
// ready at now (due, and not held by an unexpired lease) to owner until
// leaseUntil, counts an attempt on each, and returns them by due time. On
// PostgreSQL, rows another scheduler is claiming are skipped, so no two
// schedulers claim the same timer; SQLite has one writer at a time.
func (s *Store) ClaimTimers(ctx context.Context, owner string, kinds []string, now, leaseUntil time.Time, limit int) ([]Timer, error) {
	if len(kinds) == 0 || limit <= 0 {
		return nil, nil
	}
	kindIn, kindArg, err := s.in("kind", kinds)
	if err != nil {
		return nil, err
	}
	lock := ""
	if s.backend == Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	until, at := micro(leaseUntil), micro(now)
	var rows []timerRow
	err = s.db.SelectContext(ctx, &rows, s.db.Rebind(`UPDATE timers SET owner = ?, lease_until = ?, ready_at = ?, attempts = attempts + 1,
		version = version + 1, updated_at = ? WHERE key IN (SELECT key FROM timers WHERE state = 'pending' AND ready_at <= ? AND `+kindIn+`
		ORDER BY ready_at LIMIT ?`+lock+`) RETURNING `+timerColumns), owner, until, until, at, at, kindArg, limit)
	if err != nil {
		return nil, fmt.Errorf("claim timers: %w", err)
	}
	out := timerList(rows)
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Due.Equal(out[j].Due) {
			return out[i].Due.Before(out[j].Due)
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// NextTimerReady returns when the earliest pending timer of the given kinds
// can next be claimed (its due time, or its lease expiry if it is held), or
// the zero time if there is none.
func (s *Store) NextTimerReady(ctx context.Context, kinds []string) (time.Time, error) {
	if len(kinds) == 0 {
		return time.Time{}, nil
	}
	kindIn, kindArg, err := s.in("kind", kinds)
	if err != nil {
		return time.Time{}, err
	}
	var next *int64
	if err := s.db.GetContext(ctx, &next, s.db.Rebind("SELECT MIN(ready_at) FROM timers WHERE state = 'pending' AND "+kindIn), kindArg); err != nil {
		return time.Time{}, err
	}
	if next == nil {
		return time.Time{}, nil
	}
	return fromMicro(*next), nil
}

// UnhandledTimerKinds returns the kinds, other than handled, of pending
// timers ready at now: timers no handler here will claim.
func (s *Store) UnhandledTimerKinds(ctx context.Context, handled []string, now time.Time) ([]string, error) {
	q, args := "SELECT DISTINCT kind FROM timers WHERE state = 'pending' AND ready_at <= ?", []any{micro(now)}
	if len(handled) > 0 {
		kindIn, kindArg, err := s.in("kind", handled)
		if err != nil {
			return nil, err
		}
		q += " AND NOT (" + kindIn + ")"
		args = append(args, kindArg)
	}
	var kinds []string
	err := s.db.SelectContext(ctx, &kinds, s.db.Rebind(q+" ORDER BY kind"), args...)
	return kinds, err
}

// held is the condition that l is the timer's current claim.
const held = " WHERE key = ? AND owner = ? AND version = ? AND state = 'pending'"

func (s *Store) updateHeld(ctx context.Context, l TimerLease, set string, args ...any) error {
	res, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE timers SET "+set+held), append(args, l.Key, l.Owner, l.Version)...)
	if err != nil {
		return fmt.Errorf("timer %q: %w", l.Key, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("timer %q: %w", l.Key, ErrLeaseLost)
	}
	return nil
}

// RenewTimerLease extends the claim l until until. It returns ErrLeaseLost
// if l is no longer the timer's claim.
func (s *Store) RenewTimerLease(ctx context.Context, l TimerLease, until, now time.Time) error {
	return s.updateHeld(ctx, l, "lease_until = ?, ready_at = ?, updated_at = ?", micro(until), micro(until), micro(now))
}

// CompleteTimer marks the timer of claim l done. A done timer never fires
// again, even if its key is scheduled again. It returns ErrLeaseLost if l is
// no longer the timer's claim (the timer's current state stands).
func (s *Store) CompleteTimer(ctx context.Context, l TimerLease, now time.Time) error {
	return s.updateHeld(ctx, l, "state = 'done', lease_until = 0, updated_at = ?", micro(now))
}

// RetryTimer records a failed attempt of claim l and makes the timer due
// again at at.
func (s *Store) RetryTimer(ctx context.Context, l TimerLease, at time.Time, lastError string, now time.Time) error {
	return s.updateHeld(ctx, l, "due = ?, ready_at = ?, last_error = ?, owner = '', lease_until = 0, updated_at = ?",
		micro(at), micro(at), lastError, micro(now))
}

// FailTimer marks the timer of claim l failed with lastError. It stays in
// the store, visible, until someone deals with it.
func (s *Store) FailTimer(ctx context.Context, l TimerLease, lastError string, now time.Time) error {
	return s.updateHeld(ctx, l, "state = 'failed', last_error = ?, lease_until = 0, updated_at = ?", lastError, micro(now))
}

// ReleaseTimer gives up claim l without counting its attempt (the scheduler
// is shutting down), so that any scheduler can claim the timer at once.
func (s *Store) ReleaseTimer(ctx context.Context, l TimerLease, now time.Time) error {
	if err := s.updateHeld(ctx, l, "owner = '', lease_until = 0, ready_at = due, attempts = attempts - 1, updated_at = ?", micro(now)); err != nil {
		return err
	}
	return s.notifyTimer(ctx, s.db, micro(now))
}

// DeleteFinishedTimers deletes done and cancelled timers last changed
// before before, and returns how many. Failed timers stay. Once deleted, a
// key can be scheduled anew, so keep them longer than a key may be
// scheduled again.
func (s *Store) DeleteFinishedTimers(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.db.Rebind("DELETE FROM timers WHERE state IN ('done', 'cancelled') AND updated_at < ?"), micro(before))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// timerHooks maps a *Store to the function that wakes its scheduler. It is
// kept here rather than in Store so that this file stays self-contained.
var timerHooks sync.Map

// OnTimerScheduled sets the function called when this store schedules or
// reschedules a timer, with its due time, so that the local scheduler wakes
// at once instead of at its next poll. nil removes it.
func (s *Store) OnTimerScheduled(f func(due time.Time)) {
	if f == nil {
		timerHooks.Delete(s)
		return
	}
	timerHooks.Store(s, f)
}

func (s *Store) timerScheduled(due time.Time) {
	if f, ok := timerHooks.Load(s); ok {
		f.(func(time.Time))(truncate(due))
	}
}

// timerChannel is the PostgreSQL notification channel for timers. A
// payload is "SCHEMA DUE": the schema tells the stores that share a
// database apart, the due time (unix microseconds) when to wake.
const timerChannel = "incidentd_timers"

// notifyTimer tells listening schedulers, at commit, that a timer is due at
// due.
func (s *Store) notifyTimer(ctx context.Context, tx sqlx.ExtContext, due int64) error {
	if s.backend != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_notify('"+timerChannel+"', current_schema() || ' ' || $1)", strconv.FormatInt(due, 10))
	return err
}

// ListenTimers calls wake with the due time of every timer that any
// connection to this PostgreSQL database schedules in this store's schema,
// until ctx ends. dsn must reach the store's database; a dedicated
// connection LISTENs on it. wake gets the zero time when it should look at
// the store anyway: once listening starts (notifications before that were
// missed) and after every reconnection.
func (s *Store) ListenTimers(ctx context.Context, dsn string, wake func(due time.Time)) error {
	if s.backend != Postgres {
		return fmt.Errorf("timer notifications need PostgreSQL, not %s", s.backend)
	}
	return s.listen(ctx, dsn, timerChannel, func(payload string) {
		if payload == "" {
			wake(time.Time{})
			return
		}
		if us, err := strconv.ParseInt(payload, 10, 64); err == nil {
			wake(fromMicro(us))
		}
	})
}
