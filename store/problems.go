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

const problemColumns = "id, origin, signature, title, status, reason, workaround, runbook, created_at, updated_at, resolved_at, closed_at"

type problemRow struct {
	ID         int64  `db:"id"`
	Origin     string `db:"origin"`
	Signature  string `db:"signature"`
	Title      string `db:"title"`
	Status     string `db:"status"`
	Reason     string `db:"reason"`
	Workaround string `db:"workaround"`
	Runbook    string `db:"runbook"`
	CreatedAt  int64  `db:"created_at"`
	UpdatedAt  int64  `db:"updated_at"`
	ResolvedAt int64  `db:"resolved_at"`
	ClosedAt   int64  `db:"closed_at"`
}

func (r *problemRow) problem() *incident.Problem {
	return &incident.Problem{
		ID: r.ID, Origin: r.Origin, Signature: r.Signature, Title: r.Title, Status: incident.ProblemStatus(r.Status),
		Reason: r.Reason, Workaround: r.Workaround, Runbook: r.Runbook, CreatedAt: fromMicro(r.CreatedAt),
		UpdatedAt: fromMicro(r.UpdatedAt), ResolvedAt: fromMicro(r.ResolvedAt), ClosedAt: fromMicro(r.ClosedAt),
	}
}

func problemValues(p *incident.Problem) []any {
	return []any{p.ID, p.Origin, p.Signature, p.Title, string(p.Status), p.Reason, p.Workaround, p.Runbook,
		micro(p.CreatedAt), micro(p.UpdatedAt), micro(p.ResolvedAt), micro(p.ClosedAt)}
}

// OpenProblem opens p (its id is allocated) linking incidents, unless a
// problem with the same origin exists already; either way it returns the
// problem's id and whether it was opened now. Detection calls it again after
// a crash, so it must be idempotent.
func (s *Store) OpenProblem(ctx context.Context, p incident.Problem, incidents []int64, now time.Time) (int64, bool, error) {
	now = truncate(now)
	var id int64
	var opened bool
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockOutbox(ctx, tx); err != nil {
			return err
		}
		err := tx.GetContext(ctx, &id, s.db.Rebind("SELECT id FROM problems WHERE origin = ?"), p.Origin)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if id, err = s.allocate(ctx, tx, "problem", 1); err != nil {
			return err
		}
		p.ID, p.Status, p.CreatedAt, p.UpdatedAt = id, incident.ProblemNew, now, now
		if _, err := tx.ExecContext(ctx, s.db.Rebind("INSERT INTO problems ("+problemColumns+") VALUES ("+placeholders(12)+")"), problemValues(&p)...); err != nil {
			return err
		}
		ev := incident.Event{ProblemID: id, At: now, Actor: incident.Actor, Kind: incident.EventProblemOpened, Message: p.Reason}
		if err := s.appendEvent(ctx, tx, &ev); err != nil {
			return err
		}
		for _, inc := range incidents {
			if _, err := s.link(ctx, tx, id, inc, now); err != nil {
				return err
			}
		}
		opened = true
		return nil
	})
	if err == nil && opened {
		s.committed()
	}
	return id, opened, err
}

// link ties an incident to a problem, once.
func (s *Store) link(ctx context.Context, tx *sqlx.Tx, problem, inc int64, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, s.db.Rebind("INSERT INTO problem_incidents (problem_id, incident_id, linked_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"), problem, inc, micro(now))
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return false, nil
	}
	ev := incident.Event{ProblemID: problem, IncidentID: inc, At: now, Actor: incident.Actor, Kind: incident.EventProblemIncidentLinked,
		Message: fmt.Sprintf("%s linked to PRB-%d", incident.FormatKey(inc), problem)}
	return true, s.appendEvent(ctx, tx, &ev)
}

// LinkToOpenProblem links inc to the oldest open problem with its
// signature, if there is one, and returns that problem's id (0 if none).
func (s *Store) LinkToOpenProblem(ctx context.Context, inc *incident.Incident, now time.Time) (int64, error) {
	now = truncate(now)
	var id int64
	var linked bool
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		if err := s.lockOutbox(ctx, tx); err != nil {
			return err
		}
		err := tx.GetContext(ctx, &id, s.db.Rebind("SELECT id FROM problems WHERE signature = ? AND status IN ('new', 'investigating', 'known_error') ORDER BY id LIMIT 1"), inc.Signature)
		if errors.Is(err, sql.ErrNoRows) {
			id = 0
			return nil
		}
		if err != nil {
			return err
		}
		linked, err = s.link(ctx, tx, id, inc.ID, now)
		return err
	})
	if err == nil && linked {
		s.committed()
	}
	return id, err
}

// IncidentsWithSignature lists the ids of incidents (not merged away) with
// signature created at or after since, oldest first.
func (s *Store) IncidentsWithSignature(ctx context.Context, signature string, since time.Time) ([]int64, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, s.db.Rebind("SELECT id FROM incidents WHERE signature = ? AND created_at >= ? AND merged_into = 0 ORDER BY id"), signature, micro(since))
	return ids, err
}

// ProblemFilter selects problems, newest first.
type ProblemFilter struct {
	Statuses []incident.ProblemStatus
	Before   int64
	Limit    int
}

// Problems lists problems.
func (s *Store) Problems(ctx context.Context, f ProblemFilter) ([]*incident.Problem, error) {
	var conds []string
	var args []any
	if len(f.Statuses) > 0 {
		conds = append(conds, "status IN ("+placeholders(len(f.Statuses))+")")
		for _, st := range f.Statuses {
			args = append(args, string(st))
		}
	}
	if f.Before > 0 {
		conds = append(conds, "id < ?")
		args = append(args, f.Before)
	}
	q := "SELECT " + problemColumns + " FROM problems"
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	var rows []problemRow
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind(q+" ORDER BY id DESC LIMIT ?"), append(args, f.Limit)...); err != nil {
		return nil, err
	}
	out := make([]*incident.Problem, len(rows))
	for i := range rows {
		out[i] = rows[i].problem()
	}
	return out, nil
}

// Problem returns one problem, or ErrNotFound.
func (s *Store) Problem(ctx context.Context, id int64) (*incident.Problem, error) {
	return s.getProblem(ctx, s.db, id, "")
}

func (s *Store) getProblem(ctx context.Context, q sqlx.QueryerContext, id int64, suffix string) (*incident.Problem, error) {
	var row problemRow
	err := sqlx.GetContext(ctx, q, &row, s.db.Rebind("SELECT "+problemColumns+" FROM problems WHERE id = ?"+suffix), id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("problem PRB-%s: %w", strconv.FormatInt(id, 10), ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return row.problem(), nil
}

// ProblemIncidents lists the incidents linked to a problem.
func (s *Store) ProblemIncidents(ctx context.Context, id int64) ([]int64, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, s.db.Rebind("SELECT incident_id FROM problem_incidents WHERE problem_id = ? ORDER BY incident_id"), id)
	return ids, err
}

// IncidentProblems lists the problems an incident is linked to.
func (s *Store) IncidentProblems(ctx context.Context, incidentID int64) ([]int64, error) {
	var ids []int64
	err := s.db.SelectContext(ctx, &ids, s.db.Rebind("SELECT problem_id FROM problem_incidents WHERE incident_id = ? ORDER BY problem_id"), incidentID)
	return ids, err
}

// ProblemTimeline lists a problem's events in order.
func (s *Store) ProblemTimeline(ctx context.Context, id int64) ([]incident.Event, error) {
	var rows []eventRow
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind("SELECT id, "+eventColumns+" FROM events WHERE problem_id = ? ORDER BY id"), id); err != nil {
		return nil, err
	}
	out := make([]incident.Event, len(rows))
	for i := range rows {
		out[i] = rows[i].event()
	}
	return out, nil
}

// ChangeProblem applies a person's status change to a problem.
func (s *Store) ChangeProblem(ctx context.Context, id int64, c incident.ProblemChange, now time.Time) (*incident.Problem, incident.Event, error) {
	now = truncate(now)
	var p *incident.Problem
	var ev incident.Event
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		if p, err = s.getProblem(ctx, tx, id, s.forUpdate); err != nil {
			return err
		}
		if ev, err = incident.ChangeProblem(p, c, now); err != nil {
			return err
		}
		if err := s.upsert(ctx, tx, "problems", problemColumns, "id", 1, func(int) []any { return problemValues(p) }); err != nil {
			return err
		}
		return s.appendEvent(ctx, tx, &ev)
	})
	if err != nil {
		return nil, incident.Event{}, err
	}
	s.committed()
	return p, ev, nil
}
