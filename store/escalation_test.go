package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

func TestEscalationRecordUpdatesAtomically(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		p := incident.DefaultPolicy()
		ingest(t, s, &p, t0, firing(map[string]string{"alertname": "Down", "service": "web"}, t0))

		if _, err := s.Escalation(ctx, 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("escalation before any update: %v, want ErrNotFound", err)
		}
		err := s.UpdateEscalation(ctx, 1, t0, func(tx *sqlx.Tx, e *store.Escalation) error {
			if e.Route != -1 || e.Run != 0 {
				t.Errorf("new record: %+v, want route -1 and run 0", e)
			}
			e.Run, e.Policy, e.Route, e.State, e.Level, e.Loop = 1, "shop", 0, "active", 1, 2
			e.NextAt, e.Status, e.LastEvent, e.Data = t0.Add(5*time.Minute), incident.StatusTriggered, 7, []byte(`{"x":1}`)
			_, err := s.ScheduleTimerTx(ctx, tx, store.Timer{Key: "esc:1:step", Kind: "escalation.step", Due: t0.Add(5 * time.Minute)}, t0)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		e, err := s.Escalation(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if e.Run != 1 || e.Policy != "shop" || e.Route != 0 || e.Level != 1 || e.Loop != 2 || !e.NextAt.Equal(t0.Add(5*time.Minute)) ||
			e.Status != incident.StatusTriggered || e.LastEvent != 7 || string(e.Data) != `{"x":1}` || !e.UpdatedAt.Equal(t0) {
			t.Fatalf("stored record: %+v", e)
		}

		// A failing update leaves the record and the timers it scheduled untouched.
		boom := errors.New("boom")
		err = s.UpdateEscalation(ctx, 1, t0.Add(time.Minute), func(tx *sqlx.Tx, e *store.Escalation) error {
			e.Level = 9
			if _, err := s.ScheduleTimerTx(ctx, tx, store.Timer{Key: "esc:1:other", Kind: "escalation.step", Due: t0}, t0); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("update error %v, want boom", err)
		}
		if e, _ := s.Escalation(ctx, 1); e.Level != 1 {
			t.Errorf("level %d after a rolled back update, want 1", e.Level)
		}
		if _, err := s.Timer(ctx, "esc:1:other"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("timer of a rolled back update: %v, want ErrNotFound", err)
		}
	})
}

func TestNotificationsAreIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		p := incident.DefaultPolicy()
		ingest(t, s, &p, t0, firing(map[string]string{"alertname": "Down", "service": "web"}, t0))

		n := store.Notification{Key: "INC-1/1/0/0/user:alice/mail/0", IncidentID: 1, Run: 1, Event: "trigger",
			Target: "user:alice", User: "alice", Notifier: "mail", Address: "alice@example.com", CreatedAt: t0}
		for i, want := range []bool{true, false} {
			created, err := s.AddNotificationTx(ctx, s.DB(), n)
			if err != nil || created != want {
				t.Fatalf("add #%d: created %v, err %v; want %v", i, created, err, want)
			}
		}
		if _, err := s.AddNotificationTx(ctx, s.DB(), store.Notification{Key: "x", IncidentID: 1}); err == nil {
			t.Error("a notification without notifier was accepted")
		}
		got, err := s.Notification(ctx, n.Key)
		if err != nil || got.State != store.NotificationPending || got.Address != "alice@example.com" || !got.CreatedAt.Equal(t0) {
			t.Fatalf("stored: %+v, %v", got, err)
		}
		got.State, got.Attempts, got.SentAt = store.NotificationSent, 2, t0.Add(time.Second)
		if ok, err := s.UpdateNotification(ctx, got, t0.Add(time.Second)); !ok || err != nil {
			t.Fatalf("update: %v %v", ok, err)
		}
		// A second attempt finishing late cannot overwrite the final state.
		got.State, got.LastError = store.NotificationFailed, "late"
		if ok, err := s.UpdateNotification(ctx, got, t0.Add(2*time.Second)); ok || err != nil {
			t.Fatalf("update of a final notification: %v %v, want false", ok, err)
		}
		list, err := s.IncidentNotifications(ctx, 1)
		if err != nil || len(list) != 1 || list[0].State != store.NotificationSent || list[0].Attempts != 2 || list[0].LastError != "" {
			t.Fatalf("list: %+v, %v", list, err)
		}
		if _, err := s.Notification(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown key: %v", err)
		}
	})
}

func TestNotificationTextAndTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		p := incident.DefaultPolicy()
		ingest(t, s, &p, t0, firing(map[string]string{"alertname": "Down", "service": "web"}, t0))
		note := store.Notification{Key: "INC-1/runbook:3:steps[0]/user:bob/bob/0:hook", IncidentID: 1, Event: "note",
			Target: "user:bob", User: "bob", Notifier: "hook", Text: "Rolled back; ’quotes’ and\nlines stay", CreatedAt: t0}
		boom := errors.New("boom")
		// A failing fn commits nothing.
		err := s.UpdateNotifications(ctx, func(tx *sqlx.Tx) error {
			if _, err := s.AddNotificationTx(ctx, tx, note); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("UpdateNotifications: %v, want the fn's error", err)
		}
		if _, err := s.Notification(ctx, note.Key); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("notification of a rolled back transaction: %v, want ErrNotFound", err)
		}
		err = s.UpdateNotifications(ctx, func(tx *sqlx.Tx) error {
			_, err := s.AddNotificationTx(ctx, tx, note)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Notification(ctx, note.Key)
		if err != nil || got.Text != note.Text || got.Event != "note" {
			t.Fatalf("stored note: %+v, %v", got, err)
		}
		if list, _ := s.IncidentNotifications(ctx, 1); len(list) != 1 || list[0].Text != note.Text {
			t.Errorf("listed: %+v", list)
		}
	})
}

func TestSilencesAndSecrets(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		a, err := s.AddSilence(ctx, store.Silence{Matchers: `{team="shop"}`, StartsAt: t0, EndsAt: t0.Add(time.Hour), Comment: "deploy", CreatedBy: "alice", CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		later, err := s.AddSilence(ctx, store.Silence{Matchers: `{}`, StartsAt: t0.Add(2 * time.Hour), EndsAt: t0.Add(3 * time.Hour), CreatedBy: "bob", CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if a.ID == later.ID || a.ID == 0 {
			t.Fatalf("ids %d and %d", a.ID, later.ID)
		}
		list, err := s.Silences(ctx, t0.Add(90*time.Minute))
		if err != nil || len(list) != 1 || list[0].ID != later.ID {
			t.Fatalf("silences ending after 90m: %+v, %v", list, err)
		}
		// Expiring one that has not started yet ends it before it starts.
		exp, err := s.ExpireSilence(ctx, later.ID, t0.Add(time.Minute))
		if err != nil || !exp.EndsAt.Equal(t0.Add(time.Minute)) || exp.StartsAt.After(exp.EndsAt) {
			t.Fatalf("expired: %+v, %v", exp, err)
		}
		if all, _ := s.Silences(ctx, time.Time{}); len(all) != 2 {
			t.Errorf("all silences: %d, want 2", len(all))
		}
		if _, err := s.ExpireSilence(ctx, 99, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expire unknown: %v", err)
		}

		calls := 0
		gen := func() (string, error) { calls++; return strings.Repeat("k", 40) + string(rune('a'+calls)), nil }
		first, err := s.EscalationSecret(ctx, "links", gen)
		if err != nil {
			t.Fatal(err)
		}
		second, err := s.EscalationSecret(ctx, "links", gen)
		if err != nil || second != first || calls != 1 {
			t.Fatalf("secret changed or regenerated: %q %q, %d calls", first, second, calls)
		}
	})
}

func TestRetriggerIncident(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		p := incident.DefaultPolicy()
		ingest(t, s, &p, t0, firing(map[string]string{"alertname": "Down", "service": "web"}, t0))
		ev := incident.Event{At: t0.Add(time.Hour), Actor: incident.Actor, Kind: "escalation.retriggered", Message: "ack timed out"}
		if ok, err := s.RetriggerIncident(ctx, 1, ev); ok || err != nil {
			t.Fatalf("retrigger of a triggered incident: %v %v, want false", ok, err)
		}
		if _, _, err := s.Act(ctx, 1, incident.ActionAcknowledge, "alice", "", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.RetriggerIncident(ctx, 1, ev); !ok || err != nil {
			t.Fatalf("retrigger: %v %v", ok, err)
		}
		inc, _ := s.Incident(ctx, 1)
		if inc.Status != incident.StatusTriggered || inc.AcknowledgedBy != "" || !inc.AcknowledgedAt.IsZero() {
			t.Fatalf("after retrigger: %+v", inc)
		}
		tl, _ := s.Timeline(ctx, 1)
		if last := tl[len(tl)-1]; last.Kind != "escalation.retriggered" || !last.At.Equal(ev.At) {
			t.Fatalf("last event %+v", last)
		}
		// It can be acknowledged again.
		if _, _, err := s.Act(ctx, 1, incident.ActionAcknowledge, "bob", "", t0.Add(2*time.Hour)); err != nil {
			t.Fatal(err)
		}
	})
}
