package store

import (
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/lib/pq"

	"github.com/incidentd/incidentd/incident"
)

var jsonMarshal = json.Marshal

func stringArray(v []string) any { return pq.StringArray(v) }
func int64Array(v []int64) any   { return pq.Int64Array(v) }

// micro stores a time as unix microseconds; the zero time is 0.
func micro(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicro(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// truncate rounds t down to what the store keeps, so that times compared in
// memory compare the same after a round trip.
func truncate(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.Truncate(time.Microsecond).UTC()
}

func labelsJSON(m map[string]string) string {
	if m == nil {
		return "{}"
	}
	b, _ := json.Marshal(m) // a map[string]string always marshals
	return string(b)
}

func parseLabels(s string) map[string]string {
	m := map[string]string{}
	_ = json.Unmarshal([]byte(s), &m) // written by labelsJSON
	return m
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const alertColumns = "fingerprint, seq, incident_id, is_current, source, status, labels, annotations, generator_url, starts_at, ends_at, first_seen, last_seen, resolved_at, repeats, flaps, flapping, ci, explanation, suppressed"

type alertRow struct {
	Fingerprint  string        `db:"fingerprint"`
	Seq          int           `db:"seq"`
	IncidentID   sql.NullInt64 `db:"incident_id"`
	Current      int           `db:"is_current"`
	Source       string        `db:"source"`
	Status       string        `db:"status"`
	Labels       string        `db:"labels"`
	Annotations  string        `db:"annotations"`
	GeneratorURL string        `db:"generator_url"`
	StartsAt     int64         `db:"starts_at"`
	EndsAt       int64         `db:"ends_at"`
	FirstSeen    int64         `db:"first_seen"`
	LastSeen     int64         `db:"last_seen"`
	ResolvedAt   int64         `db:"resolved_at"`
	Repeats      int64         `db:"repeats"`
	Flaps        int           `db:"flaps"`
	Flapping     int           `db:"flapping"`
	CI           string        `db:"ci"`
	Explanation  string        `db:"explanation"`
	Suppressed   int           `db:"suppressed"`
}

func (r *alertRow) alert() *incident.Alert {
	return &incident.Alert{
		Fingerprint: r.Fingerprint, Seq: r.Seq, IncidentID: r.IncidentID.Int64,
		Current: r.Current == 1, Source: r.Source, Status: incident.AlertStatus(r.Status),
		Labels: parseLabels(r.Labels), Annotations: parseLabels(r.Annotations), GeneratorURL: r.GeneratorURL,
		StartsAt: fromMicro(r.StartsAt), EndsAt: fromMicro(r.EndsAt), FirstSeen: fromMicro(r.FirstSeen),
		LastSeen: fromMicro(r.LastSeen), ResolvedAt: fromMicro(r.ResolvedAt),
		Repeats: r.Repeats, Flaps: r.Flaps, Flapping: r.Flapping == 1,
		CI: r.CI, Explanation: r.Explanation, Suppressed: r.Suppressed == 1,
	}
}

func alertValues(a *incident.Alert) []any {
	return []any{
		a.Fingerprint, a.Seq, nullIfZero(a.IncidentID), boolInt(a.Current), a.Source, string(a.Status),
		labelsJSON(a.Labels), labelsJSON(a.Annotations), a.GeneratorURL,
		micro(a.StartsAt), micro(a.EndsAt), micro(a.FirstSeen), micro(a.LastSeen), micro(a.ResolvedAt),
		a.Repeats, a.Flaps, boolInt(a.Flapping), a.CI, a.Explanation, boolInt(a.Suppressed),
	}
}

const incidentColumns = "id, group_key, title, status, priority, urgency, impact, labels, alert_count, firing_count, created_at, updated_at, last_alert_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, closed_at, root_cause, major, merged_into, correlation, signature"

type incidentRow struct {
	ID             int64  `db:"id"`
	GroupKey       string `db:"group_key"`
	Title          string `db:"title"`
	Status         string `db:"status"`
	Priority       int    `db:"priority"`
	Urgency        int    `db:"urgency"`
	Impact         int    `db:"impact"`
	Labels         string `db:"labels"`
	AlertCount     int    `db:"alert_count"`
	FiringCount    int    `db:"firing_count"`
	CreatedAt      int64  `db:"created_at"`
	UpdatedAt      int64  `db:"updated_at"`
	LastAlertAt    int64  `db:"last_alert_at"`
	AcknowledgedAt int64  `db:"acknowledged_at"`
	AcknowledgedBy string `db:"acknowledged_by"`
	ResolvedAt     int64  `db:"resolved_at"`
	ResolvedBy     string `db:"resolved_by"`
	ClosedAt       int64  `db:"closed_at"`
	RootCause      string `db:"root_cause"`
	Major          int    `db:"major"`
	MergedInto     int64  `db:"merged_into"`
	Correlation    string `db:"correlation"`
	Signature      string `db:"signature"`
}

func (r *incidentRow) base() *incident.Incident {
	return &incident.Incident{
		ID: r.ID, GroupKey: r.GroupKey, Title: r.Title, Status: incident.Status(r.Status),
		Priority: r.Priority, Urgency: r.Urgency, Impact: r.Impact, Labels: parseLabels(r.Labels),
		AlertCount: r.AlertCount, FiringCount: r.FiringCount,
		CreatedAt: fromMicro(r.CreatedAt), UpdatedAt: fromMicro(r.UpdatedAt), LastAlertAt: fromMicro(r.LastAlertAt),
		AcknowledgedAt: fromMicro(r.AcknowledgedAt), AcknowledgedBy: r.AcknowledgedBy,
		ResolvedAt: fromMicro(r.ResolvedAt), ResolvedBy: r.ResolvedBy, ClosedAt: fromMicro(r.ClosedAt),
		RootCause: r.RootCause, Major: r.Major == 1, MergedInto: r.MergedInto, Signature: r.Signature,
	}
}

func (r *incidentRow) incident() *incident.Incident {
	inc := r.base()
	if r.Correlation != "" {
		inc.Correlation = &incident.Correlation{}
		_ = json.Unmarshal([]byte(r.Correlation), inc.Correlation) // written by incidentValues
	}
	return inc
}

func incidentValues(i *incident.Incident) []any {
	return []any{
		i.ID, i.GroupKey, i.Title, string(i.Status), i.Priority, i.Urgency, i.Impact, labelsJSON(i.Labels),
		i.AlertCount, i.FiringCount, micro(i.CreatedAt), micro(i.UpdatedAt), micro(i.LastAlertAt),
		micro(i.AcknowledgedAt), i.AcknowledgedBy, micro(i.ResolvedAt), i.ResolvedBy, micro(i.ClosedAt),
		i.RootCause, boolInt(i.Major), i.MergedInto, correlationJSON(i.Correlation), i.Signature,
	}
}

func correlationJSON(c *incident.Correlation) string {
	if c == nil {
		return ""
	}
	b, _ := json.Marshal(c) // plain data always marshals
	return string(b)
}

const eventColumns = "incident_id, problem_id, alert_id, at, actor, kind, message"

type eventRow struct {
	ID         int64         `db:"id"`
	IncidentID sql.NullInt64 `db:"incident_id"`
	ProblemID  sql.NullInt64 `db:"problem_id"`
	AlertID    string        `db:"alert_id"`
	At         int64         `db:"at"`
	Actor      string        `db:"actor"`
	Kind       string        `db:"kind"`
	Message    string        `db:"message"`
}

func (r *eventRow) event() incident.Event {
	return incident.Event{ID: r.ID, IncidentID: r.IncidentID.Int64, ProblemID: r.ProblemID.Int64, AlertID: r.AlertID, At: fromMicro(r.At), Actor: r.Actor, Kind: r.Kind, Message: r.Message}
}

func eventValues(e *incident.Event) []any {
	return []any{nullIfZero(e.IncidentID), nullIfZero(e.ProblemID), e.AlertID, micro(e.At), e.Actor, e.Kind, e.Message}
}

// upsertSQL builds a multi-row INSERT of n rows; with conflict columns set it
// updates every other column on conflict (one statement for new and changed
// rows alike).
func upsertSQL(table, columns string, n int, conflict string) string {
	cols := strings.Split(columns, ", ")
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(table)
	b.WriteString(" (")
	b.WriteString(columns)
	b.WriteString(") VALUES ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(onConflict(cols, conflict))
	return b.String()
}

// onConflict is the clause that updates every non-key column of a row
// whose conflict key exists ("" without conflict columns).
func onConflict(cols []string, conflict string) string {
	if conflict == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString(" ON CONFLICT (")
	b.WriteString(conflict)
	b.WriteString(") DO UPDATE SET ")
	keys := map[string]bool{}
	for _, k := range strings.Split(conflict, ", ") {
		keys[k] = true
	}
	first := true
	for _, c := range cols {
		if keys[c] {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(c + " = excluded." + c)
	}
	return b.String()
}
