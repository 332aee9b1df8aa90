package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Replicas on one PostgreSQL database learn of each other's changes
// through LISTEN/NOTIFY. A notification is queued inside the transaction
// that makes the change, so it is delivered only if, and once, it commits.
// Payloads start with the store's schema, which tells the stores sharing a
// database (tests, or several installations) apart.

// changesChannel carries the kinds of committed changes that replicas keep
// in memory or wait for: new events (outbox consumers), the CMDB and the
// maintenance windows.
const changesChannel = "incidentd_changes"

// Kinds of change announced on changesChannel.
const (
	ChangeEvents      = "events"
	ChangeCMDB        = "cmdb"
	ChangeMaintenance = "maintenance"
)

// notifyChange announces a change of kind at the commit of tx.
func (s *Store) notifyChange(ctx context.Context, tx sqlx.ExtContext, kind string) error {
	if s.backend != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_notify('"+changesChannel+"', current_schema() || ' ' || $1)", kind)
	return err
}

// ListenChanges calls wake with the kind of every change that any replica
// commits in this store, until ctx ends. wake gets "" when it should look
// at everything: once listening starts (changes before that were not
// heard) and after every reconnection. SQLite has one process: it returns
// at once.
func (s *Store) ListenChanges(ctx context.Context, wake func(kind string)) error {
	if s.backend != Postgres {
		return nil
	}
	return s.listen(ctx, s.dsn, changesChannel, func(payload string) { wake(payload) })
}

// listen LISTENs on channel over a dedicated connection to dsn and calls
// heard with the payload (its schema prefix removed) of each notification
// for this store's schema, and with "" once listening and after each
// reconnection, until ctx ends.
func (s *Store) listen(ctx context.Context, dsn, channel string, heard func(payload string)) error {
	var schema string
	if err := s.db.GetContext(ctx, &schema, "SELECT current_schema()"); err != nil {
		return fmt.Errorf("listen on %s: %w", channel, err)
	}
	l := pq.NewListener(dsn, time.Second, time.Minute, func(ev pq.ListenerEventType, err error) {
		if err != nil {
			s.log.Warn("notification connection", "channel", channel, "event", ev.String(), "err", err)
		}
	})
	defer func() {
		l.Close()
		go func() { // let pq's goroutine deliver what it holds, and end
			for range l.Notify {
			}
		}()
	}()
	// Listen blocks until connected; closing the listener unblocks it.
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	if err := l.Listen(channel); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("listen on %s: %w", channel, err)
	}
	heard("")
	// A ping now and then notices a dead connection, which reconnects.
	ping := time.NewTicker(time.Minute)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ping.C:
			go l.Ping()
		case n, ok := <-l.Notify:
			if !ok {
				return nil
			}
			if n == nil {
				heard("")
				continue
			}
			if sch, payload, _ := strings.Cut(n.Extra, " "); sch == schema {
				heard(payload)
			}
		}
	}
}
