package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

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
	lean := true
	err := s.retryConflicts(ctx, func() error {
		return s.inTx(ctx, func(tx *sqlx.Tx) error {
			var repeats map[string]*incident.AlertInput
			if lean {
				repeats = repeatCandidates(inputs)
			}
			state, leanAlerts, needs, err := s.ingestState(ctx, tx, p, inputs, fps, repeats, now)
			if err != nil {
				return err
			}
			state.Incidents, err = s.incidentsFor(ctx, tx, needs)
			if err != nil {
				return fmt.Errorf("load incidents: %w", err)
			}
			ch := p.Apply(state, inputs, now)
			for _, a := range ch.Alerts {
				if leanAlerts[a] {
					// The policy rewrites an alert read without all its
					// columns: read everything and decide again.
					lean = false
					return errPlacementRace
				}
			}
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
	})
	if err == nil && wroteEvents {
		s.committed()
	}
	return stats, err
}

// ingestState loads the current occurrences of fps (row-locked) and what
// the policy needs to place the batch. With replicas on PostgreSQL, two
// transactions must not both decide that a fingerprint is new, or both
// open an incident for one group key or one CMDB neighbourhood: such
// decisions are serialised by advisory locks on hash buckets of the new
// fingerprints and the group keys, and on one lock for CMDB-correlated
// placement, always taken after the alert row locks and before the
// incidents are read. Repeats of known alerts take no advisory lock: their
// rows are locked already. If another replica committed one of the
// missing fingerprints while this transaction waited for its locks, the
// transaction starts again (errPlacementRace), so that it row-locks that
// alert like any other; locking it now, while holding advisory locks,
// could deadlock.
func (s *Store) ingestState(ctx context.Context, tx *sqlx.Tx, p *incident.Policy, inputs []incident.AlertInput, fps []string, repeats map[string]*incident.AlertInput, now time.Time) (*incident.State, map[*incident.Alert]bool, incident.Needs, error) {
	state, leanAlerts, err := s.currentAlerts(ctx, tx, fps, repeats)
	if err != nil {
		return nil, nil, incident.Needs{}, fmt.Errorf("load alerts: %w", err)
	}
	state, needs, err := s.lockPlacement(ctx, tx, p, inputs, fps, state, now)
	return state, leanAlerts, needs, err
}

// lockPlacement takes the advisory locks described at ingestState.
func (s *Store) lockPlacement(ctx context.Context, tx *sqlx.Tx, p *incident.Policy, inputs []incident.AlertInput, fps []string, state *incident.State, now time.Time) (*incident.State, incident.Needs, error) {
	needs := p.Needs(state, inputs, now)
	if s.backend != Postgres {
		return state, needs, nil // one writer at a time already
	}
	var missing []string
	for _, fp := range fps {
		if state.Alerts[fp] == nil {
			missing = append(missing, fp)
		}
	}
	keys := placementLockKeys(missing, needs)
	if len(keys) == 0 {
		return state, needs, nil
	}
	if _, err := tx.ExecContext(ctx, "SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS k", int64Array(keys)); err != nil {
		return nil, needs, fmt.Errorf("lock placement: %w", err)
	}
	if len(missing) > 0 {
		var late bool
		if err := tx.GetContext(ctx, &late, "SELECT EXISTS (SELECT 1 FROM alerts WHERE is_current = 1 AND fingerprint = ANY($1))", stringArray(missing)); err != nil {
			return nil, needs, fmt.Errorf("load alerts: %w", err)
		}
		if late {
			return nil, needs, errPlacementRace
		}
	}
	return state, needs, nil
}

// errPlacementRace restarts an ingest transaction that found an alert it
// took for new committed by another replica meanwhile.
var errPlacementRace = errors.New("another replica stored one of the new alerts first")

// placementLockBuckets bounds the advisory locks one ingest transaction
// takes (PostgreSQL's lock table holds max_locks_per_transaction per
// connection on average): a batch of thousands of alerts locks at most
// 2*placementLockBuckets+1 keys.
const placementLockBuckets = 24

// placementLockBase keeps the placement locks apart from other advisory
// locks ("incp" in the high bytes).
const placementLockBase = int64(0x696e6370) << 16

// placementLockKeys returns, sorted so that transactions cannot deadlock
// on them, the advisory lock keys for new fingerprints, group keys and
// CMDB correlation.
func placementLockKeys(newFingerprints []string, needs incident.Needs) []int64 {
	set := map[int64]bool{}
	add := func(space int64, v string) {
		h := fnv.New32a()
		h.Write([]byte(v))
		set[placementLockBase+space*placementLockBuckets+int64(h.Sum32()%placementLockBuckets)] = true
	}
	for _, fp := range newFingerprints {
		add(0, fp)
	}
	for _, gk := range needs.GroupKeys {
		add(1, gk)
	}
	if needs.Correlated {
		set[placementLockBase+2*placementLockBuckets] = true
	}
	keys := make([]int64, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// retryConflicts runs a transaction again, a few times, when it lost a
// race with another replica's: PostgreSQL aborted it as a deadlock victim
// or for a serialisation failure, or it met errPlacementRace. Both
// transactions were valid, only their interleaving was not.
func (s *Store) retryConflicts(ctx context.Context, tx func() error) error {
	for attempt := 1; ; attempt++ {
		err := tx()
		var pqErr *pq.Error
		conflict := errors.Is(err, errPlacementRace) || errors.As(err, &pqErr) && (pqErr.Code == "40P01" || pqErr.Code == "40001")
		if !conflict || attempt == 8 {
			return err
		}
		s.log.Debug("transaction conflicted with another replica's; running it again", "attempt", attempt, "err", err)
		if ctx.Err() != nil {
			return err
		}
	}
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
	if s.backend == Postgres && n > 1 {
		return s.upsertUnnest(ctx, tx, table, columns, conflict, n, values)
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

// leanAlertColumns are the columns a plain repeat is decided on: not the
// labels (a repeat's are its input's: they make its fingerprint) nor the
// texts that only a rewrite of the row needs.
const leanAlertColumns = "fingerprint, seq, incident_id, is_current, status, annotations, starts_at, ends_at, first_seen, last_seen, resolved_at, repeats, flaps, flapping, ci, suppressed"

// repeatCandidates are the inputs that may be plain repeats of firing
// alerts: firing, and alone in the batch for their fingerprint.
func repeatCandidates(inputs []incident.AlertInput) map[string]*incident.AlertInput {
	out := make(map[string]*incident.AlertInput, len(inputs))
	dup := map[string]bool{}
	for i := range inputs {
		in := &inputs[i]
		if _, seen := out[in.Fingerprint]; seen || dup[in.Fingerprint] {
			delete(out, in.Fingerprint)
			dup[in.Fingerprint] = true
			continue
		}
		if in.Status == incident.AlertFiring {
			out[in.Fingerprint] = in
		}
	}
	return out
}

// currentAlerts loads the current occurrence of each fingerprint, with the
// status of its incident, row-locked. Alerts that repeats holds a plain
// repeat for (same status, same annotations) are read lean: without
// parsing their labels and annotations, which are the input's. The others
// are read whole. leanAlerts are the alerts read lean.
func (s *Store) currentAlerts(ctx context.Context, tx *sqlx.Tx, fps []string, repeats map[string]*incident.AlertInput) (st *incident.State, leanAlerts map[*incident.Alert]bool, err error) {
	st = &incident.State{Alerts: make(map[string]*incident.Alert, len(fps)), Owners: map[int64]incident.Owner{}}
	if len(fps) == 0 {
		return st, nil, nil
	}
	columns := alertColumns
	if len(repeats) > 0 {
		columns = leanAlertColumns
	}
	keep := func(a *incident.Alert, owner *incident.Owner) {
		st.Alerts[a.Fingerprint] = a
		if owner != nil {
			st.Owners[a.IncidentID] = *owner
		}
	}
	var whole []string
	err = s.loadCurrentAlerts(ctx, tx, fps, columns, func(r *alertRow, owner *incident.Owner) {
		var a *incident.Alert
		if columns == leanAlertColumns {
			in := repeats[r.Fingerprint]
			if in == nil || r.Suppressed == 1 || incident.AlertStatus(r.Status) != incident.AlertFiring ||
				(len(in.Annotations) > 0 && labelsJSON(in.Annotations) != r.Annotations) {
				whole = append(whole, r.Fingerprint)
				return
			}
			r.Labels = ""
			r.Annotations = ""
			a = r.alert()
			a.Labels, a.Annotations = in.Labels, in.Annotations
			if leanAlerts == nil {
				leanAlerts = map[*incident.Alert]bool{}
			}
			leanAlerts[a] = true
		} else {
			a = r.alert()
		}
		keep(a, owner)
	})
	if err != nil || len(whole) == 0 {
		return st, leanAlerts, err
	}
	err = s.loadCurrentAlerts(ctx, tx, whole, alertColumns, func(r *alertRow, owner *incident.Owner) { keep(r.alert(), owner) })
	return st, leanAlerts, err
}

// loadCurrentAlerts reads columns of the current occurrences of fps,
// row-locked, and then the status of their incidents. Two queries rather
// than a join: with a thousand fingerprints PostgreSQL hashed the whole
// incidents table for the join (13 of 57 ms with 50,000 incidents).
func (s *Store) loadCurrentAlerts(ctx context.Context, tx *sqlx.Tx, fps []string, columns string, each func(r *alertRow, owner *incident.Owner)) error {
	cond, arg, err := s.in("fingerprint", fps)
	if err != nil {
		return err
	}
	var rows []alertRow
	q := "SELECT " + columns + " FROM alerts WHERE is_current = 1 AND " + cond + " ORDER BY fingerprint" + s.forUpdate
	if err := tx.SelectContext(ctx, &rows, s.db.Rebind(q), arg); err != nil {
		return err
	}
	var ids []int64
	seen := map[int64]bool{}
	for i := range rows {
		if id := rows[i].IncidentID.Int64; rows[i].IncidentID.Valid && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	owners := make(map[int64]*incident.Owner, len(ids))
	if len(ids) > 0 {
		cond, arg, err := s.in("id", ids)
		if err != nil {
			return err
		}
		var incs []struct {
			ID         int64  `db:"id"`
			Status     string `db:"status"`
			ResolvedAt int64  `db:"resolved_at"`
		}
		if err := tx.SelectContext(ctx, &incs, s.db.Rebind("SELECT id, status, resolved_at FROM incidents WHERE "+cond), arg); err != nil {
			return err
		}
		for _, inc := range incs {
			owners[inc.ID] = &incident.Owner{Status: incident.Status(inc.Status), ResolvedAt: fromMicro(inc.ResolvedAt)}
		}
	}
	for i := range rows {
		each(&rows[i], owners[rows[i].IncidentID.Int64])
	}
	return nil
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
