package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/incidentd/incidentd/incident"
)

// IncidentFilter selects incidents, newest first.
type IncidentFilter struct {
	Statuses   []incident.Status
	Priorities []int
	// Before returns incidents with an id below it (the pagination cursor).
	Before int64
	Limit  int
}

// Incidents lists incidents matching f, newest first.
func (s *Store) Incidents(ctx context.Context, f IncidentFilter) ([]*incident.Incident, error) {
	var conds []string
	var args []any
	if len(f.Statuses) > 0 {
		conds = append(conds, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	if len(f.Priorities) > 0 {
		conds = append(conds, "priority IN ("+placeholders(len(f.Priorities))+")")
		for _, p := range f.Priorities {
			args = append(args, p)
		}
	}
	if f.Before > 0 {
		conds = append(conds, "id < ?")
		args = append(args, f.Before)
	}
	q := "SELECT " + incidentColumns + " FROM incidents"
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, f.Limit)
	var rows []incidentRow
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(q), args...); err != nil {
		return nil, err
	}
	out := make([]*incident.Incident, len(rows))
	for i := range rows {
		out[i] = rows[i].incident()
	}
	return out, nil
}

// Incident returns one incident, or ErrNotFound.
func (s *Store) Incident(ctx context.Context, id int64) (*incident.Incident, error) {
	return s.getIncident(ctx, s.db, id, "")
}

func (s *Store) getIncident(ctx context.Context, q sqlx.QueryerContext, id int64, suffix string) (*incident.Incident, error) {
	var row incidentRow
	err := sqlx.GetContext(ctx, q, &row, s.db.Rebind("SELECT "+incidentColumns+" FROM incidents WHERE id = ?"+suffix), id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("incident %s: %w", incident.FormatKey(id), ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return row.incident(), nil
}

// IncidentAlerts lists the alert occurrences of an incident, oldest first.
func (s *Store) IncidentAlerts(ctx context.Context, id int64) ([]*incident.Alert, error) {
	var rows []alertRow
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind("SELECT "+alertColumns+" FROM alerts WHERE incident_id = ? ORDER BY first_seen, fingerprint, seq"), id); err != nil {
		return nil, err
	}
	return alerts(rows), nil
}

// Timeline lists an incident's events in order.
func (s *Store) Timeline(ctx context.Context, id int64) ([]incident.Event, error) {
	var rows []eventRow
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind("SELECT id, "+eventColumns+" FROM events WHERE incident_id = ? ORDER BY id"), id); err != nil {
		return nil, err
	}
	out := make([]incident.Event, len(rows))
	for i := range rows {
		out[i] = rows[i].event()
	}
	return out, nil
}

// AlertFilter selects alert occurrences.
type AlertFilter struct {
	Status incident.AlertStatus
	// Fingerprint selects every occurrence of one fingerprint; without it
	// only current occurrences are listed.
	Fingerprint string
	// After is the id (fingerprint-seq) of the last alert of the previous page.
	After string
	Limit int
}

// Alerts lists alert occurrences ordered by fingerprint and sequence.
func (s *Store) Alerts(ctx context.Context, f AlertFilter) ([]*incident.Alert, error) {
	return s.AlertsTx(ctx, s.db, f)
}

// AlertsTx lists alerts in the caller's transaction (see TimersTx).
func (s *Store) AlertsTx(ctx context.Context, tx sqlx.QueryerContext, f AlertFilter) ([]*incident.Alert, error) {
	conds := []string{}
	var args []any
	if f.Fingerprint != "" {
		conds = append(conds, "fingerprint = ?")
		args = append(args, f.Fingerprint)
	} else {
		conds = append(conds, "is_current = 1")
	}
	if f.Status != "" {
		conds = append(conds, "status = ?")
		args = append(args, string(f.Status))
	}
	if f.After != "" {
		fp, seq, err := ParseAlertID(f.After)
		if err != nil {
			return nil, err
		}
		conds = append(conds, "(fingerprint > ? OR (fingerprint = ? AND seq > ?))")
		args = append(args, fp, fp, seq)
	}
	q := "SELECT " + alertColumns + " FROM alerts WHERE " + strings.Join(conds, " AND ") + " ORDER BY fingerprint, seq LIMIT ?"
	args = append(args, f.Limit)
	var rows []alertRow
	if err := sqlx.SelectContext(ctx, tx, &rows, s.db.Rebind(q), args...); err != nil {
		return nil, err
	}
	return alerts(rows), nil
}

// ParseAlertID splits "fingerprint-seq".
func ParseAlertID(id string) (string, int, error) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, fmt.Errorf("invalid alert id %q: want FINGERPRINT-SEQ", id)
	}
	seq, err := strconv.Atoi(id[i+1:])
	if err != nil {
		return "", 0, fmt.Errorf("invalid alert id %q: want FINGERPRINT-SEQ", id)
	}
	return id[:i], seq, nil
}

func alerts(rows []alertRow) []*incident.Alert {
	out := make([]*incident.Alert, len(rows))
	for i := range rows {
		out[i] = rows[i].alert()
	}
	return out
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// Act applies a person's action to an incident and records it on the
// timeline, in one transaction.
func (s *Store) Act(ctx context.Context, id int64, action incident.Action, actor, message string, now time.Time) (*incident.Incident, incident.Event, error) {
	inc, evs, err := s.changeIncident(ctx, id, now, action != incident.ActionNote, func(inc *incident.Incident, now time.Time) ([]incident.Event, error) {
		ev, err := incident.Do(inc, action, actor, message, now)
		return []incident.Event{ev}, err
	})
	if err != nil {
		return nil, incident.Event{}, err
	}
	return inc, evs[0], nil
}

// ChangeIncident sets an incident's priority or labels (a runbook's set
// step) and records each change on the timeline, in one transaction.
func (s *Store) ChangeIncident(ctx context.Context, id int64, c incident.Change, actor string, now time.Time) (*incident.Incident, []incident.Event, error) {
	return s.changeIncident(ctx, id, now, true, func(inc *incident.Incident, now time.Time) ([]incident.Event, error) {
		return incident.Set(inc, c, actor, now)
	})
}

// changeIncident locks incident id, lets change modify it, and writes the
// row (when write) and the events change returns.
func (s *Store) changeIncident(ctx context.Context, id int64, now time.Time, write bool, change func(*incident.Incident, time.Time) ([]incident.Event, error)) (*incident.Incident, []incident.Event, error) {
	now = truncate(now)
	var inc *incident.Incident
	var evs []incident.Event
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		inc, err = s.getIncident(ctx, tx, id, s.forUpdate)
		if err != nil {
			return err
		}
		if evs, err = change(inc, now); err != nil {
			return err
		}
		if write && len(evs) > 0 {
			if err := s.upsert(ctx, tx, "incidents", incidentColumns, "id", 1, func(int) []any { return incidentValues(inc) }); err != nil {
				return err
			}
		}
		for i := range evs {
			if err := s.appendEvent(ctx, tx, &evs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(evs) > 0 {
		s.committed()
	}
	return inc, evs, nil
}

// OpenIncidentCount is the number of open incidents with one status and
// priority.
type OpenIncidentCount struct {
	Status   string `db:"status"`
	Priority int    `db:"priority"`
	Count    int    `db:"n"`
}

// OpenIncidentCounts counts open incidents by status and priority.
func (s *Store) OpenIncidentCounts(ctx context.Context) ([]OpenIncidentCount, error) {
	var out []OpenIncidentCount
	err := s.db.SelectContext(ctx, &out, "SELECT status, priority, COUNT(*) AS n FROM incidents WHERE status IN ('triggered', 'acknowledged', 'on_hold') GROUP BY status, priority")
	return out, err
}
