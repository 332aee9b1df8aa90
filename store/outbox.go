package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/incidentd/incidentd/incident"
)

// outboxLockKey is the PostgreSQL advisory lock that transactions writing
// events hold until they commit. It makes event ids follow commit order, so
// a consumer that has seen id n can never later meet a smaller id committing
// late. SQLite has one writer at a time already.
const outboxLockKey = 0x696e6369 // "inci"

// The same statement queues a notification on the events channel, which
// PostgreSQL delivers at commit: the other replicas' outbox consumers wake
// as this replica's do through OnCommit.
func (s *Store) lockOutbox(ctx context.Context, tx *sqlx.Tx) error {
	if s.backend != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1), pg_notify('"+changesChannel+"', current_schema() || ' "+ChangeEvents+"')", outboxLockKey)
	return err
}

// appendEvent writes one event and sets its id.
func (s *Store) appendEvent(ctx context.Context, tx *sqlx.Tx, ev *incident.Event) error {
	if err := s.lockOutbox(ctx, tx); err != nil {
		return err
	}
	return tx.GetContext(ctx, &ev.ID, s.db.Rebind("INSERT INTO events ("+eventColumns+") VALUES ("+placeholders(7)+") RETURNING id"), eventValues(ev)...)
}

// OnCommit sets a function called after every commit that wrote events,
// so that outbox consumers wake at once instead of polling.
func (s *Store) OnCommit(f func()) { s.onCommit.Store(&f) }

func (s *Store) committed() {
	if f := s.onCommit.Load(); f != nil {
		(*f)()
	}
}

// EventsAfter returns up to limit events with an id above after, in order.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]incident.Event, error) {
	var rows []eventRow
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind("SELECT id, "+eventColumns+" FROM events WHERE id > ? ORDER BY id LIMIT ?"), after, limit); err != nil {
		return nil, err
	}
	out := make([]incident.Event, len(rows))
	for i := range rows {
		out[i] = rows[i].event()
	}
	return out, nil
}

// Cursor returns the id of the last event consumer has processed.
func (s *Store) Cursor(ctx context.Context, consumer string) (int64, error) {
	var id int64
	err := s.db.GetContext(ctx, &id, s.db.Rebind("SELECT last_id FROM outbox_cursors WHERE consumer = ?"), consumer)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, err
}

// SaveCursor records that consumer has processed every event up to id,
// whoever holds its lease (tools, tests, a consumer's first start).
func (s *Store) SaveCursor(ctx context.Context, consumer string, id int64) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind("INSERT INTO outbox_cursors (consumer, last_id) VALUES (?, ?) ON CONFLICT (consumer) DO UPDATE SET last_id = excluded.last_id"), consumer, id)
	return err
}

// ClaimCursor takes or renews owner's lease on consumer's cursor until
// until, if the lease is free, expired at now, or owner's already. It
// returns the cursor when owner holds the lease, and otherwise when the
// other holder's lease ends.
func (s *Store) ClaimCursor(ctx context.Context, consumer, owner string, now, until time.Time) (cursor int64, held bool, leaseEnd time.Time, err error) {
	err = s.db.GetContext(ctx, &cursor, s.db.Rebind(`INSERT INTO outbox_cursors (consumer, last_id, owner, lease_until) VALUES (?, 0, ?, ?)
ON CONFLICT (consumer) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until
WHERE outbox_cursors.owner = excluded.owner OR outbox_cursors.lease_until <= ? RETURNING last_id`), consumer, owner, micro(until), micro(now))
	if err == nil {
		return cursor, true, until, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, time.Time{}, err
	}
	var end int64
	if err := s.db.GetContext(ctx, &end, s.db.Rebind("SELECT lease_until FROM outbox_cursors WHERE consumer = ?"), consumer); err != nil {
		return 0, false, time.Time{}, err
	}
	return 0, false, fromMicro(end), nil
}

// AdvanceCursor saves consumer's cursor and renews owner's lease until
// until, if owner still holds it; held is false when another replica has
// taken the lease over (this one stalled past its expiry).
func (s *Store) AdvanceCursor(ctx context.Context, consumer, owner string, id int64, until time.Time) (held bool, err error) {
	res, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE outbox_cursors SET last_id = ?, lease_until = ? WHERE consumer = ? AND owner = ?"), id, micro(until), consumer, owner)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// ReleaseCursor gives owner's lease on consumer up (at shutdown), so that
// another replica takes over at once instead of after the expiry.
func (s *Store) ReleaseCursor(ctx context.Context, consumer, owner string) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE outbox_cursors SET lease_until = 0 WHERE consumer = ? AND owner = ?"), consumer, owner)
	return err
}

// RecordEvents writes timeline events that no incident change carries
// (a page sent, an SLA threshold crossed, a runbook step finished) in
// their own transaction, and sets their ids. Outbox consumers see them like
// any other event.
func (s *Store) RecordEvents(ctx context.Context, evs []incident.Event) error {
	if len(evs) == 0 {
		return nil
	}
	err := s.inTx(ctx, func(tx *sqlx.Tx) error { return s.RecordEventsTx(ctx, tx, evs) })
	if err == nil {
		s.committed()
	}
	return err
}

// RecordEventsTx writes events in the caller's transaction (which must
// call the store's OnCommit function, through Committed, after it commits).
func (s *Store) RecordEventsTx(ctx context.Context, tx *sqlx.Tx, evs []incident.Event) error {
	for i := range evs {
		if err := s.appendEvent(ctx, tx, &evs[i]); err != nil {
			return err
		}
	}
	return nil
}

// Committed wakes the outbox consumers after a caller's own transaction
// that wrote events (RecordEventsTx) has committed.
func (s *Store) Committed() { s.committed() }
