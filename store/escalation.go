package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/incidentd/incidentd/incident"
)

// This file keeps the rows of package escalation: one escalation record per
// incident, the notifications sent about incidents, silences, and the
// engine's generated secrets. The engine decides; these functions only
// read and write.

// Escalation is the escalation engine's record of one incident.
type Escalation struct {
	IncidentID int64
	// Run counts the escalations of the incident: the first trigger is
	// run 1, a reopen or an acknowledgement that timed out starts the next.
	Run int
	// Policy and Route are the escalation policy and the index of the route
	// that picked it; "" and -1 when no route matched.
	Policy string
	Route  int
	// State is the engine's (delayed, active, acknowledged, ...).
	State       string
	Level, Loop int
	// NextAt is when the next step is due, zero if none is.
	NextAt time.Time
	// Status is the last incident status the engine saw.
	Status incident.Status
	// LastEvent is the id of the last timeline event the engine applied,
	// so that an event handled again after a crash changes nothing.
	LastEvent int64
	// Data is the engine's own JSON.
	Data      []byte
	StartedAt time.Time
	UpdatedAt time.Time
}

const escalationColumns = "incident_id, run, policy, route, state, level_no, loop_no, next_at, status, last_event, data, started_at, updated_at"

type escalationRow struct {
	IncidentID int64  `db:"incident_id"`
	Run        int    `db:"run"`
	Policy     string `db:"policy"`
	Route      int    `db:"route"`
	State      string `db:"state"`
	Level      int    `db:"level_no"`
	Loop       int    `db:"loop_no"`
	NextAt     int64  `db:"next_at"`
	Status     string `db:"status"`
	LastEvent  int64  `db:"last_event"`
	Data       string `db:"data"`
	StartedAt  int64  `db:"started_at"`
	UpdatedAt  int64  `db:"updated_at"`
}

func (r *escalationRow) escalation() Escalation {
	return Escalation{
		IncidentID: r.IncidentID, Run: r.Run, Policy: r.Policy, Route: r.Route, State: r.State,
		Level: r.Level, Loop: r.Loop, NextAt: fromMicro(r.NextAt), Status: incident.Status(r.Status),
		LastEvent: r.LastEvent, Data: []byte(r.Data), StartedAt: fromMicro(r.StartedAt), UpdatedAt: fromMicro(r.UpdatedAt),
	}
}

func escalationValues(e *Escalation) []any {
	data := string(e.Data)
	if data == "" {
		data = "{}"
	}
	return []any{e.IncidentID, e.Run, e.Policy, e.Route, e.State, e.Level, e.Loop, micro(e.NextAt), string(e.Status),
		e.LastEvent, data, micro(e.StartedAt), micro(e.UpdatedAt)}
}

// Escalation returns the escalation record of incident id, or ErrNotFound.
func (s *Store) Escalation(ctx context.Context, id int64) (Escalation, error) {
	var row escalationRow
	err := s.db.GetContext(ctx, &row, s.db.Rebind("SELECT "+escalationColumns+" FROM escalations WHERE incident_id = ?"), id)
	if errors.Is(err, sql.ErrNoRows) {
		return Escalation{}, fmt.Errorf("escalation of %s: %w", incident.FormatKey(id), ErrNotFound)
	}
	if err != nil {
		return Escalation{}, err
	}
	return row.escalation(), nil
}

// UpdateEscalation runs fn in one transaction on the escalation record of
// incident id, locked against every other update of it, and writes the
// record back if fn returns nil. A record not stored yet comes with Route
// -1 and only IncidentID set. fn writes what goes with the change (timers,
// notifications, events) through tx, so that all of it commits or none
// does; if it records events, call Committed after UpdateEscalation
// returns. now stamps UpdatedAt.
func (s *Store) UpdateEscalation(ctx context.Context, id int64, now time.Time, fn func(tx *sqlx.Tx, e *Escalation) error) error {
	return s.inTx(ctx, func(tx *sqlx.Tx) error {
		if _, err := tx.ExecContext(ctx, s.db.Rebind("INSERT INTO escalations (incident_id, updated_at) VALUES (?, ?) ON CONFLICT (incident_id) DO NOTHING"), id, micro(now)); err != nil {
			return fmt.Errorf("escalation of %s: %w", incident.FormatKey(id), err)
		}
		var row escalationRow
		if err := tx.GetContext(ctx, &row, s.db.Rebind("SELECT "+escalationColumns+" FROM escalations WHERE incident_id = ?"+s.forUpdate), id); err != nil {
			return fmt.Errorf("escalation of %s: %w", incident.FormatKey(id), err)
		}
		e := row.escalation()
		if err := fn(tx, &e); err != nil {
			return err
		}
		e.IncidentID, e.UpdatedAt = id, truncate(now)
		return s.upsert(ctx, tx, "escalations", escalationColumns, "incident_id", 1, func(int) []any { return escalationValues(&e) })
	})
}

// RetriggerIncident puts an acknowledged incident back to triggered (its
// acknowledgement timed out), recording ev, in one transaction. It reports
// false, and records nothing, if the incident is not acknowledged.
func (s *Store) RetriggerIncident(ctx context.Context, id int64, ev incident.Event) (bool, error) {
	ev.At = truncate(ev.At)
	ev.IncidentID = id
	changed := false
	err := s.inTx(ctx, func(tx *sqlx.Tx) error {
		inc, err := s.getIncident(ctx, tx, id, s.forUpdate)
		if err != nil {
			return err
		}
		if inc.Status != incident.StatusAcknowledged {
			return nil
		}
		inc.Status = incident.StatusTriggered
		inc.AcknowledgedAt, inc.AcknowledgedBy = time.Time{}, ""
		inc.UpdatedAt = ev.At
		if err := s.upsert(ctx, tx, "incidents", incidentColumns, "id", 1, func(int) []any { return incidentValues(inc) }); err != nil {
			return err
		}
		changed = true
		return s.appendEvent(ctx, tx, &ev)
	})
	if err == nil && changed {
		s.committed()
	}
	return changed, err
}

// NotificationState is where a notification is in its delivery.
type NotificationState string

// Notification states. Pending notifications are being delivered (a timer
// holds each); the others are final.
const (
	NotificationPending NotificationState = "pending"
	NotificationSent    NotificationState = "sent"
	NotificationFailed  NotificationState = "failed"
	// NotificationCancelled: the incident moved on before delivery (a page
	// of an incident already acknowledged or resolved).
	NotificationCancelled NotificationState = "cancelled"
)

// Notification is one message to one destination about one incident.
type Notification struct {
	// Key is the idempotency key: (incident, run, level, loop, target,
	// destination) for pages. It is also the message id receivers see.
	Key        string
	IncidentID int64
	Run        int
	// Event is trigger, escalate, acknowledge, resolve or note.
	Event       string
	Level, Loop int
	// Target is the policy target that led here (schedule:x, user:y,
	// notifier:z); User is the paged user, "" for a notifier target.
	Target, User string
	// Notifier and Address are the destination (Address may be empty).
	Notifier, Address string
	// Text is the message the notification carries, if any: a note's
	// text, or why a runbook escalated.
	Text      string
	State     NotificationState
	Attempts  int
	LastError string
	// ReservedAt is the moment a rate-limit token was reserved for, zero
	// when none is held.
	ReservedAt time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	SentAt     time.Time
}

const notificationColumns = "key, incident_id, run, event, level_no, loop_no, target, user_id, notifier, address, state, attempts, last_error, reserved_at, created_at, updated_at, sent_at, text"

type notificationRow struct {
	Key        string `db:"key"`
	IncidentID int64  `db:"incident_id"`
	Run        int    `db:"run"`
	Event      string `db:"event"`
	Level      int    `db:"level_no"`
	Loop       int    `db:"loop_no"`
	Target     string `db:"target"`
	User       string `db:"user_id"`
	Notifier   string `db:"notifier"`
	Address    string `db:"address"`
	State      string `db:"state"`
	Attempts   int    `db:"attempts"`
	LastError  string `db:"last_error"`
	ReservedAt int64  `db:"reserved_at"`
	CreatedAt  int64  `db:"created_at"`
	UpdatedAt  int64  `db:"updated_at"`
	SentAt     int64  `db:"sent_at"`
	Text       string `db:"text"`
}

func (r *notificationRow) notification() Notification {
	return Notification{
		Key: r.Key, IncidentID: r.IncidentID, Run: r.Run, Event: r.Event, Level: r.Level, Loop: r.Loop,
		Target: r.Target, User: r.User, Notifier: r.Notifier, Address: r.Address, State: NotificationState(r.State),
		Attempts: r.Attempts, LastError: r.LastError, ReservedAt: fromMicro(r.ReservedAt),
		CreatedAt: fromMicro(r.CreatedAt), UpdatedAt: fromMicro(r.UpdatedAt), SentAt: fromMicro(r.SentAt), Text: r.Text,
	}
}

func notificationValues(n *Notification) []any {
	return []any{n.Key, n.IncidentID, n.Run, n.Event, n.Level, n.Loop, n.Target, n.User, n.Notifier, n.Address,
		string(n.State), n.Attempts, n.LastError, micro(n.ReservedAt), micro(n.CreatedAt), micro(n.UpdatedAt), micro(n.SentAt), n.Text}
}

// AddNotificationTx stores n as pending in the caller's transaction, unless
// a notification with its key exists (then nothing changes and created is
// false).
func (s *Store) AddNotificationTx(ctx context.Context, tx sqlx.ExtContext, n Notification) (created bool, err error) {
	if n.Key == "" || n.IncidentID == 0 || n.Notifier == "" {
		return false, fmt.Errorf("notification needs a key, an incident and a notifier")
	}
	n.State = NotificationPending
	n.CreatedAt, n.UpdatedAt = truncate(n.CreatedAt), truncate(n.CreatedAt)
	res, err := tx.ExecContext(ctx, s.db.Rebind("INSERT INTO notifications ("+notificationColumns+") VALUES ("+placeholders(18)+") ON CONFLICT (key) DO NOTHING"),
		notificationValues(&n)...)
	if err != nil {
		return false, fmt.Errorf("add notification %q: %w", n.Key, err)
	}
	rows, err := res.RowsAffected()
	return rows > 0, err
}

// UpdateNotifications runs fn in one transaction, committing if it
// returns nil: for notifications that belong to no escalation record (a
// runbook's note), written through tx with their timers and events so
// that all of them commit or none does. If fn records events, call
// Committed after it returns.
func (s *Store) UpdateNotifications(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	return s.inTx(ctx, fn)
}

// Notification returns the notification with key, or ErrNotFound.
func (s *Store) Notification(ctx context.Context, key string) (Notification, error) {
	var row notificationRow
	err := s.db.GetContext(ctx, &row, s.db.Rebind("SELECT "+notificationColumns+" FROM notifications WHERE key = ?"), key)
	if errors.Is(err, sql.ErrNoRows) {
		return Notification{}, fmt.Errorf("notification %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return Notification{}, err
	}
	return row.notification(), nil
}

// IncidentNotifications lists the notifications about incident id, oldest
// first.
func (s *Store) IncidentNotifications(ctx context.Context, id int64) ([]Notification, error) {
	return s.IncidentNotificationsTx(ctx, s.db, id)
}

// IncidentNotificationsTx is IncidentNotifications in the caller's
// transaction.
func (s *Store) IncidentNotificationsTx(ctx context.Context, tx sqlx.QueryerContext, id int64) ([]Notification, error) {
	var rows []notificationRow
	if err := sqlx.SelectContext(ctx, tx, &rows, s.db.Rebind("SELECT "+notificationColumns+" FROM notifications WHERE incident_id = ? ORDER BY created_at, key"), id); err != nil {
		return nil, err
	}
	out := make([]Notification, len(rows))
	for i := range rows {
		out[i] = rows[i].notification()
	}
	return out, nil
}

// UpdateNotification writes n's delivery fields (state, attempts, last
// error, reservation, sent time), if the stored notification is still
// pending. It reports false if it was not (another attempt finished it).
func (s *Store) UpdateNotification(ctx context.Context, n Notification, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE notifications SET state = ?, attempts = ?, last_error = ?, reserved_at = ?, sent_at = ?, updated_at = ?
		WHERE key = ? AND state = 'pending'`), string(n.State), n.Attempts, n.LastError, micro(n.ReservedAt), micro(n.SentAt), micro(now), n.Key)
	if err != nil {
		return false, fmt.Errorf("update notification %q: %w", n.Key, err)
	}
	rows, err := res.RowsAffected()
	return rows > 0, err
}

// Silence stops paging for the incidents its matchers fit, from StartsAt
// until EndsAt.
type Silence struct {
	ID int64
	// Matchers is an Alertmanager matcher list, as written.
	Matchers  string
	StartsAt  time.Time
	EndsAt    time.Time
	Comment   string
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

const silenceColumns = "matchers, starts_at, ends_at, comment, created_by, created_at, updated_at"

type silenceRow struct {
	ID        int64  `db:"id"`
	Matchers  string `db:"matchers"`
	StartsAt  int64  `db:"starts_at"`
	EndsAt    int64  `db:"ends_at"`
	Comment   string `db:"comment"`
	CreatedBy string `db:"created_by"`
	CreatedAt int64  `db:"created_at"`
	UpdatedAt int64  `db:"updated_at"`
}

func (r *silenceRow) silence() Silence {
	return Silence{ID: r.ID, Matchers: r.Matchers, StartsAt: fromMicro(r.StartsAt), EndsAt: fromMicro(r.EndsAt),
		Comment: r.Comment, CreatedBy: r.CreatedBy, CreatedAt: fromMicro(r.CreatedAt), UpdatedAt: fromMicro(r.UpdatedAt)}
}

// AddSilence stores sl and returns it with its id.
func (s *Store) AddSilence(ctx context.Context, sl Silence) (Silence, error) {
	sl.StartsAt, sl.EndsAt, sl.CreatedAt = truncate(sl.StartsAt), truncate(sl.EndsAt), truncate(sl.CreatedAt)
	sl.UpdatedAt = sl.CreatedAt
	err := s.db.GetContext(ctx, &sl.ID, s.db.Rebind("INSERT INTO silences ("+silenceColumns+") VALUES ("+placeholders(7)+") RETURNING id"),
		sl.Matchers, micro(sl.StartsAt), micro(sl.EndsAt), sl.Comment, sl.CreatedBy, micro(sl.CreatedAt), micro(sl.UpdatedAt))
	return sl, err
}

// Silence returns silence id, or ErrNotFound.
func (s *Store) Silence(ctx context.Context, id int64) (Silence, error) {
	var row silenceRow
	err := s.db.GetContext(ctx, &row, s.db.Rebind("SELECT id, "+silenceColumns+" FROM silences WHERE id = ?"), id)
	if errors.Is(err, sql.ErrNoRows) {
		return Silence{}, fmt.Errorf("silence %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Silence{}, err
	}
	return row.silence(), nil
}

// Silences lists the silences that end after endingAfter (all of them if
// it is zero), by start time.
func (s *Store) Silences(ctx context.Context, endingAfter time.Time) ([]Silence, error) {
	var rows []silenceRow
	if err := s.db.SelectContext(ctx, &rows, s.db.Rebind("SELECT id, "+silenceColumns+" FROM silences WHERE ends_at > ? ORDER BY starts_at, id"), micro(endingAfter)); err != nil {
		return nil, err
	}
	out := make([]Silence, len(rows))
	for i := range rows {
		out[i] = rows[i].silence()
	}
	return out, nil
}

// ExpireSilence ends silence id at now, if it has not ended yet (a silence
// that has not started ends before it starts), and returns it.
func (s *Store) ExpireSilence(ctx context.Context, id int64, now time.Time) (Silence, error) {
	now = truncate(now)
	if _, err := s.db.ExecContext(ctx, s.db.Rebind("UPDATE silences SET ends_at = ?, starts_at = CASE WHEN starts_at > ? THEN ? ELSE starts_at END, updated_at = ? WHERE id = ? AND ends_at > ?"),
		micro(now), micro(now), micro(now), micro(now), id, micro(now)); err != nil {
		return Silence{}, err
	}
	return s.Silence(ctx, id)
}

// EscalationSecret returns the stored secret name, creating it with
// generate the first time. Replicas that race agree on the first value
// stored.
func (s *Store) EscalationSecret(ctx context.Context, name string, generate func() (string, error)) (string, error) {
	var value string
	err := s.db.GetContext(ctx, &value, s.db.Rebind("SELECT value FROM escalation_secrets WHERE name = ?"), name)
	if err == nil {
		return value, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", err
	}
	fresh, err := generate()
	if err != nil {
		return "", err
	}
	if _, err := s.db.ExecContext(ctx, s.db.Rebind("INSERT INTO escalation_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"), name, fresh); err != nil {
		return "", err
	}
	err = s.db.GetContext(ctx, &value, s.db.Rebind("SELECT value FROM escalation_secrets WHERE name = ?"), name)
	return value, err
}

// LastEventID returns the id of the newest timeline event, 0 if there is
// none: where a new outbox consumer that must not replay history starts.
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	err := s.db.GetContext(ctx, &id, "SELECT COALESCE(MAX(id), 0) FROM events")
	return id, err
}
