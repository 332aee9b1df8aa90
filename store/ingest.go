package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/incidentd/incidentd/incident"
)

// maxParams keeps a statement under SQLite's default limit of 32766 bound
// parameters (PostgreSQL allows 65535).
const maxParams = 32000

// Ingest applies a batch of alert notifications in one transaction: it loads
// the current occurrences of the batch's fingerprints and the incidents that
// the changes touch, lets the policy decide, and writes every changed row
// and timeline event with a few multi-row statements. Nothing is written
// unless all of it is.
func (s *Store) Ingest(ctx context.Context, p *incident.Policy, inputs []incident.AlertInput, now time.Time) (incident.Stats, error) {
	now = truncate(now)
	fps := make([]string, 0, len(inputs))
	seen := make(map[string]bool, len(inputs))
	for i := range inputs {
		in := &inputs[i]
		in.StartsAt, in.EndsAt = truncate(in.StartsAt), truncate(in.EndsAt)
		if !seen[in.Fingerprint] {
			seen[in.Fingerprint] = true
			fps = append(fps, in.Fingerprint)
		}
	}
	var stats incident.Stats
	var wroteEvents bool
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		state, err := s.currentAlerts(ctx, tx, fps)
		if err != nil {
			return fmt.Errorf("load alerts: %w", err)
		}
		state.Incidents, err = s.incidentsFor(ctx, tx, p.Needs(state, inputs, now))
		if err != nil {
			return fmt.Errorf("load incidents: %w", err)
		}
		ch := p.Apply(state, inputs, now)
		if ch.NewIncidents > 0 {
			first, err := s.allocate(ctx, tx, "incident", ch.NewIncidents)
			if err != nil {
				return fmt.Errorf("allocate incident numbers: %w", err)
			}
			ch.AssignIDs(first)
		}
		if err := s.writeChanges(ctx, tx, ch); err != nil {
			return err
		}
		stats = ch.Stats
		wroteEvents = len(ch.Events) > 0
		return nil
	})
	if err == nil && wroteEvents {
		s.committed()
	}
	return stats, err
}

func (s *Store) writeChanges(ctx context.Context, tx *sqlx.Tx, ch *incident.Changes) error {
	// Incidents first: alerts and events reference them.
	if err := s.upsert(ctx, tx, "incidents", incidentColumns, "id", len(ch.Incidents), func(i int) []any { return incidentValues(ch.Incidents[i]) }); err != nil {
		return fmt.Errorf("write incidents: %w", err)
	}
	if err := s.upsert(ctx, tx, "alerts", alertColumns, "fingerprint, seq", len(ch.Alerts), func(i int) []any { return alertValues(ch.Alerts[i]) }); err != nil {
		return fmt.Errorf("write alerts: %w", err)
	}
	if len(ch.Events) > 0 {
		if err := s.lockOutbox(ctx, tx); err != nil {
			return err
		}
	}
	if err := s.upsert(ctx, tx, "events", eventColumns, "", len(ch.Events), func(i int) []any { return eventValues(&ch.Events[i]) }); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	for _, m := range ch.Merges {
		if _, err := tx.ExecContext(ctx, s.db.Rebind("UPDATE alerts SET incident_id = ? WHERE incident_id = ?"), m.Into, m.From); err != nil {
			return fmt.Errorf("merge incidents: %w", err)
		}
	}
	for n, alerts := range ch.Repeats {
		if err := s.touchRepeats(ctx, tx, n, alerts); err != nil {
			return fmt.Errorf("write repeats: %w", err)
		}
	}
	return nil
}

// touchRepeats records n more repeats of each alert, all seen at the same
// time, with one statement: Alertmanager re-sending a group costs no row
// rewrite.
func (s *Store) touchRepeats(ctx context.Context, tx *sqlx.Tx, n int, alerts []*incident.Alert) error {
	fps := make([]string, len(alerts))
	for i, a := range alerts {
		fps[i] = a.Fingerprint
	}
	cond, arg, err := s.in("fingerprint", fps)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, s.db.Rebind("UPDATE alerts SET last_seen = ?, repeats = repeats + ? WHERE is_current = 1 AND "+cond),
		micro(alerts[0].LastSeen), n, arg)
	if err != nil {
		return err
	}
	if got, err := res.RowsAffected(); err == nil && got != int64(len(alerts)) {
		return fmt.Errorf("updated %d alerts, want %d", got, len(alerts))
	}
	return nil
}

// upsert writes n rows in as few statements as the parameter limit allows.
func (s *Store) upsert(ctx context.Context, tx *sqlx.Tx, table, columns, conflict string, n int, values func(int) []any) error {
	if n == 0 {
		return nil
	}
	width := len(strings.Split(columns, ", "))
	chunk := maxParams / width
	args := make([]any, 0, min(n, chunk)*width)
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		args = args[:0]
		for i := start; i < end; i++ {
			args = append(args, values(i)...)
		}
		if _, err := tx.ExecContext(ctx, s.db.Rebind(upsertSQL(table, columns, end-start, conflict)), args...); err != nil {
			return err
		}
	}
	return nil
}

// currentAlerts loads the current occurrence of each fingerprint, with the
// status of its incident, in one query.
func (s *Store) currentAlerts(ctx context.Context, tx *sqlx.Tx, fps []string) (*incident.State, error) {
	st := &incident.State{Alerts: make(map[string]*incident.Alert, len(fps)), Owners: map[int64]incident.Owner{}}
	if len(fps) == 0 {
		return st, nil
	}
	cond, arg, err := s.in("a.fingerprint", fps)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		alertRow
		OwnerStatus     sql.NullString `db:"owner_status"`
		OwnerResolvedAt sql.NullInt64  `db:"owner_resolved_at"`
	}
	lock := ""
	if s.forUpdate != "" {
		lock = s.forUpdate + " OF a"
	}
	q := "SELECT a." + strings.ReplaceAll(alertColumns, ", ", ", a.") + ", i.status AS owner_status, i.resolved_at AS owner_resolved_at" +
		" FROM alerts a LEFT JOIN incidents i ON i.id = a.incident_id WHERE a.is_current = 1 AND " + cond + " ORDER BY a.fingerprint" + lock
	if err := tx.SelectContext(ctx, &rows, s.db.Rebind(q), arg); err != nil {
		return nil, err
	}
	for i := range rows {
		a := rows[i].alert()
		st.Alerts[a.Fingerprint] = a
		if rows[i].OwnerStatus.Valid {
			st.Owners[a.IncidentID] = incident.Owner{Status: incident.Status(rows[i].OwnerStatus.String), ResolvedAt: fromMicro(rows[i].OwnerResolvedAt.Int64)}
		}
	}
	return st, nil
}

// incidentsFor loads incidents by id, the open incidents of group keys, and
// the open correlated incidents if asked.
func (s *Store) incidentsFor(ctx context.Context, tx *sqlx.Tx, needs incident.Needs) (map[int64]*incident.Incident, error) {
	ids, keys := needs.IDs, needs.GroupKeys
	out := map[int64]*incident.Incident{}
	load := func(cond string, args ...any) error {
		var rows []incidentRow
		q := "SELECT " + incidentColumns + " FROM incidents WHERE " + cond + " ORDER BY id" + s.forUpdate
		if err := tx.SelectContext(ctx, &rows, s.db.Rebind(q), args...); err != nil {
			return err
		}
		for i := range rows {
			out[rows[i].ID] = rows[i].incident()
		}
		return nil
	}
	if len(ids) > 0 {
		cond, arg, err := s.in("id", ids)
		if err != nil {
			return nil, err
		}
		if err := load(cond, arg); err != nil {
			return nil, err
		}
	}
	if len(keys) > 0 {
		cond, arg, err := s.in("group_key", keys)
		if err != nil {
			return nil, err
		}
		if err := load(cond+" AND status IN ('triggered', 'acknowledged', 'on_hold')", arg); err != nil {
			return nil, err
		}
	}
	if needs.Correlated {
		if err := load("root_cause <> '' AND status IN ('triggered', 'acknowledged', 'on_hold')"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// allocate reserves n consecutive numbers from a named counter and returns
// the first. The counter row serialises allocation across replicas.
func (s *Store) allocate(ctx context.Context, tx *sqlx.Tx, name string, n int) (int64, error) {
	var last int64
	err := tx.GetContext(ctx, &last, s.db.Rebind("UPDATE counters SET value = value + ? WHERE name = ? RETURNING value"), n, name)
	if err != nil {
		return 0, err
	}
	return last - int64(n) + 1, nil
}
