package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jmoiron/sqlx"

	"github.com/incidentd/incidentd/incident"
)

// outboxLockKey is the PostgreSQL advisory lock that transactions writing
// events hold until they commit. It makes event ids follow commit order, so
// a consumer that has seen id n can never later meet a smaller id committing
// late. SQLite has one writer at a time already.
const outboxLockKey = 0x696e6369 // "inci"

func (s *Store) lockOutbox(ctx context.Context, tx *sqlx.Tx) error {
	if s.backend != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", outboxLockKey)
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

// SaveCursor records that consumer has processed every event up to id.
func (s *Store) SaveCursor(ctx context.Context, consumer string, id int64) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind("INSERT INTO outbox_cursors (consumer, last_id) VALUES (?, ?) ON CONFLICT (consumer) DO UPDATE SET last_id = excluded.last_id"), consumer, id)
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
