package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func firing(labels map[string]string, startsAt time.Time) incident.AlertInput {
	return incident.AlertInput{Fingerprint: incident.Fingerprint(labels), Source: "test", Status: incident.AlertFiring, Labels: labels, Annotations: map[string]string{}, StartsAt: startsAt}
}

func resolved(labels map[string]string, startsAt, endsAt time.Time) incident.AlertInput {
	in := firing(labels, startsAt)
	in.Status, in.EndsAt = incident.AlertResolved, endsAt
	return in
}

func ingest(t *testing.T, s *store.Store, p *incident.Policy, now time.Time, in ...incident.AlertInput) incident.Stats {
	t.Helper()
	st, err := s.Ingest(context.Background(), p, in, now)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return st
}

func openIncidents(t *testing.T, s *store.Store) []*incident.Incident {
	t.Helper()
	incs, err := s.Incidents(context.Background(), store.IncidentFilter{Statuses: incident.OpenStatuses, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return incs
}

func TestDedupAndGrouping(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		p := incident.DefaultPolicy()
		ctx := context.Background()
		web1 := map[string]string{"alertname": "HighLatency", "service": "checkout", "instance": "web-1", "severity": "warning"}
		web2 := map[string]string{"alertname": "HighLatency", "service": "checkout", "instance": "web-2", "severity": "critical"}
		other := map[string]string{"alertname": "DiskFull", "service": "db", "instance": "db-1"}

		st := ingest(t, s, &p, t0, firing(web1, t0), firing(web2, t0), firing(other, t0))
		if st.New != 3 || st.IncidentsCreated != 2 {
			t.Fatalf("first batch: %+v, want 3 new alerts in 2 incidents", st)
		}
		// Alertmanager re-sends the whole group: pure repeats create nothing.
		for i := 1; i <= 3; i++ {
			st = ingest(t, s, &p, t0.Add(time.Duration(i)*time.Minute), firing(web1, t0), firing(web2, t0))
			if st.Repeats != 2 || st.New != 0 || st.IncidentsCreated != 0 || st.IncidentsUpdated != 0 {
				t.Fatalf("repeat %d: %+v", i, st)
			}
		}
		incs := openIncidents(t, s)
		if len(incs) != 2 {
			t.Fatalf("got %d open incidents, want 2", len(incs))
		}
		latency := incs[1] // ids ascend in creation order; list is newest first
		if latency.AlertCount != 2 || latency.FiringCount != 2 {
			t.Errorf("latency incident counts: %+v", latency)
		}
		// critical -> urgency 1, default impact 3 -> P3; warning alone would be P4.
		if latency.Priority != 3 {
			t.Errorf("priority = P%d, want P3", latency.Priority)
		}
		if _, ok := latency.Labels["instance"]; ok || latency.Labels["service"] != "checkout" {
			t.Errorf("common labels = %v, want service kept and instance dropped", latency.Labels)
		}
		if latency.Title != "HighLatency (service=checkout)" {
			t.Errorf("title = %q", latency.Title)
		}
		as, err := s.Alerts(ctx, store.AlertFilter{Fingerprint: incident.Fingerprint(web1), Limit: 10})
		if err != nil || len(as) != 1 {
			t.Fatalf("alerts of web1: %v %v", as, err)
		}
		if as[0].Repeats != 3 || !as[0].LastSeen.Equal(t0.Add(3*time.Minute)) || as[0].IncidentID != latency.ID {
			t.Errorf("web1 after repeats: %+v", as[0])
		}
		tl, err := s.Timeline(ctx, latency.ID)
		if err != nil {
			t.Fatal(err)
		}
		kinds := []string{}
		for _, e := range tl {
			kinds = append(kinds, e.Kind)
		}
		want := []string{incident.EventIncidentTriggered, incident.EventAlertFiring, incident.EventAlertFiring, incident.EventIncidentPriorityChanged}
		if len(kinds) != len(want) {
			t.Fatalf("timeline kinds = %v, want %v", kinds, want)
		}
		for i := range want {
			if kinds[i] != want[i] {
				t.Fatalf("timeline kinds = %v, want %v", kinds, want)
			}
		}
	})
}

func TestResolveFlapReopen(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		p := incident.DefaultPolicy()
		p.FlapThreshold = 2
		l := map[string]string{"alertname": "Down", "service": "api"}
		fp := incident.Fingerprint(l)
		ingest(t, s, &p, t0, firing(l, t0))
		inc := openIncidents(t, s)[0]

		// Resolution auto-resolves the incident.
		ingest(t, s, &p, t0.Add(time.Minute), resolved(l, t0, t0.Add(time.Minute)))
		got, _ := s.Incident(ctx, inc.ID)
		if got.Status != incident.StatusResolved || got.ResolvedBy != incident.Actor {
			t.Fatalf("after resolution: %+v", got)
		}
		// A delayed retry of the old firing notice is stale: nothing reopens.
		st := ingest(t, s, &p, t0.Add(2*time.Minute), firing(l, t0))
		if st.Stale != 1 {
			t.Fatalf("stale firing: %+v", st)
		}
		// Re-fire within the flap window: same occurrence, flap counted,
		// incident reopened.
		for i := 1; i <= 2; i++ {
			at := t0.Add(time.Duration(2*i+1) * time.Minute)
			ingest(t, s, &p, at, firing(l, at))
			ingest(t, s, &p, at.Add(30*time.Second), resolved(l, at, at.Add(30*time.Second)))
		}
		as, _ := s.Alerts(ctx, store.AlertFilter{Fingerprint: fp, Limit: 10})
		if len(as) != 1 || as[0].Flaps != 2 || !as[0].Flapping {
			t.Fatalf("after two flaps: %+v", as)
		}
		tl, _ := s.Timeline(ctx, inc.ID)
		var reopened, flapping int
		for _, e := range tl {
			switch e.Kind {
			case incident.EventIncidentReopened:
				reopened++
			case incident.EventAlertFlapping:
				flapping++
			}
		}
		if reopened != 2 || flapping != 1 {
			t.Errorf("timeline: %d reopened, %d flapping events; want 2, 1", reopened, flapping)
		}

		// After the flap window, but within the reopen window: a new
		// occurrence in the same, reopened incident.
		at := t0.Add(40 * time.Minute)
		ingest(t, s, &p, at, firing(l, at))
		as, _ = s.Alerts(ctx, store.AlertFilter{Fingerprint: fp, Limit: 10})
		if len(as) != 2 || as[0].Current || !as[1].Current || as[1].Seq != 2 || as[1].IncidentID != inc.ID {
			t.Fatalf("occurrences: %+v", as)
		}
		ingest(t, s, &p, at.Add(time.Minute), resolved(l, at, at.Add(time.Minute)))

		// After the reopen window: a new incident.
		at = at.Add(3 * time.Hour)
		st = ingest(t, s, &p, at, firing(l, at))
		if st.IncidentsCreated != 1 {
			t.Fatalf("re-fire after reopen window: %+v", st)
		}
		open := openIncidents(t, s)
		if len(open) != 1 || open[0].ID == inc.ID {
			t.Fatalf("open incidents: %+v", open)
		}
	})
}

func TestResolvedUnknownAlertIsKept(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		p := incident.DefaultPolicy()
		l := map[string]string{"alertname": "Gone"}
		st := ingest(t, s, &p, t0, resolved(l, t0.Add(-time.Hour), t0))
		if st.Resolved != 1 || st.IncidentsCreated != 0 {
			t.Fatalf("stats: %+v", st)
		}
		as, err := s.Alerts(context.Background(), store.AlertFilter{Status: incident.AlertResolved, Limit: 10})
		if err != nil || len(as) != 1 || as[0].IncidentID != 0 {
			t.Fatalf("resolved alerts: %+v %v", as, err)
		}
	})
}

func TestActLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		p := incident.DefaultPolicy()
		ingest(t, s, &p, t0, firing(map[string]string{"alertname": "X"}, t0))
		id := openIncidents(t, s)[0].ID

		steps := []struct {
			action  incident.Action
			msg     string
			want    incident.Status
			wantErr error
		}{
			{incident.ActionNote, "looking", incident.StatusTriggered, nil},
			{incident.ActionAcknowledge, "", incident.StatusAcknowledged, nil},
			{incident.ActionAcknowledge, "", incident.StatusAcknowledged, incident.ErrConflict},
			{incident.ActionClose, "", incident.StatusAcknowledged, incident.ErrConflict},
			{incident.ActionResolve, "fixed the config", incident.StatusResolved, nil},
			{incident.ActionResolve, "", incident.StatusResolved, incident.ErrConflict},
			{incident.ActionClose, "", incident.StatusClosed, nil},
		}
		for i, st := range steps {
			inc, ev, err := s.Act(ctx, id, st.action, "alice", st.msg, t0.Add(time.Duration(i+1)*time.Minute))
			if !errors.Is(err, st.wantErr) || (st.wantErr == nil && err != nil) {
				t.Fatalf("step %d %s: err = %v, want %v", i, st.action, err, st.wantErr)
			}
			if err == nil && (ev.ID == 0 || ev.Actor != "alice") {
				t.Errorf("step %d: event %+v", i, ev)
			}
			if err == nil && inc.Status != st.want {
				t.Errorf("step %d: status %s, want %s", i, inc.Status, st.want)
			}
		}
		got, _ := s.Incident(ctx, id)
		if got.AcknowledgedBy != "alice" || got.ResolvedBy != "alice" || got.ClosedAt.IsZero() {
			t.Errorf("final incident: %+v", got)
		}
		tl, _ := s.Timeline(ctx, id)
		last := tl[len(tl)-2]
		if last.Kind != incident.EventIncidentResolved || last.Message != "resolved by alice: fixed the config" {
			t.Errorf("resolve event: %+v", last)
		}
		if _, _, err := s.Act(ctx, 999, incident.ActionAcknowledge, "alice", "", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("act on missing incident: %v", err)
		}
		// A closed incident never reopens: the alert's re-fire opens a new one.
		st := ingest(t, s, &p, t0.Add(time.Hour), firing(map[string]string{"alertname": "X"}, t0.Add(time.Hour)))
		if st.IncidentsCreated != 1 {
			t.Errorf("re-fire after close: %+v", st)
		}
	})
}

func TestPaginationAndFilters(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		p := incident.DefaultPolicy()
		var in []incident.AlertInput
		for i := 0; i < 7; i++ {
			in = append(in, firing(map[string]string{"alertname": "A", "service": string(rune('a' + i))}, t0))
		}
		ingest(t, s, &p, t0, in...)
		var ids []int64
		var before int64
		for page := 0; page < 5; page++ {
			incs, err := s.Incidents(ctx, store.IncidentFilter{Limit: 3, Before: before})
			if err != nil {
				t.Fatal(err)
			}
			for _, inc := range incs {
				ids = append(ids, inc.ID)
			}
			if len(incs) < 3 {
				break
			}
			before = incs[len(incs)-1].ID
		}
		if len(ids) != 7 || ids[0] != 7 || ids[6] != 1 {
			t.Fatalf("paged ids = %v, want 7..1", ids)
		}
		s.Act(ctx, 2, incident.ActionAcknowledge, "bob", "", t0)
		acked, _ := s.Incidents(ctx, store.IncidentFilter{Statuses: []incident.Status{incident.StatusAcknowledged}, Limit: 10})
		if len(acked) != 1 || acked[0].ID != 2 {
			t.Errorf("acknowledged filter: %+v", acked)
		}
		none, _ := s.Incidents(ctx, store.IncidentFilter{Priorities: []int{1}, Limit: 10})
		if len(none) != 0 {
			t.Errorf("P1 filter: %d incidents, want 0", len(none))
		}
		alerts, _ := s.Alerts(ctx, store.AlertFilter{Limit: 4})
		rest, _ := s.Alerts(ctx, store.AlertFilter{Limit: 10, After: alerts[3].ID()})
		if len(alerts)+len(rest) != 7 {
			t.Errorf("alert pages: %d + %d, want 7", len(alerts), len(rest))
		}
		counts, err := s.OpenIncidentCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, c := range counts {
			total += c.Count
		}
		if total != 7 {
			t.Errorf("open incident counts: %+v", counts)
		}
	})
}

func TestBatchIsAtomic(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		p := incident.DefaultPolicy()
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Ingest(cancelled, &p, []incident.AlertInput{firing(map[string]string{"alertname": "A"}, t0)}, t0); err == nil {
			t.Fatal("ingest with a cancelled context succeeded")
		}
		as, _ := s.Alerts(ctx, store.AlertFilter{Limit: 10})
		incs, _ := s.Incidents(ctx, store.IncidentFilter{Limit: 10})
		if len(as) != 0 || len(incs) != 0 {
			t.Fatalf("failed batch left %d alerts, %d incidents", len(as), len(incs))
		}
		if err := s.Ready(ctx); err != nil {
			t.Fatalf("ready: %v", err)
		}
	})
}

func TestReopenPersistsAcrossRestart(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		dsn := storetest.DSN(t, b)
		ctx := context.Background()
		p := incident.DefaultPolicy()
		s1, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ingest(t, s1, &p, t0, firing(map[string]string{"alertname": "A"}, t0))
		s1.Close()
		s2, err := store.Open(ctx, dsn, store.Options{}) // migrations are idempotent
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		st := ingest(t, s2, &p, t0.Add(time.Minute), firing(map[string]string{"alertname": "A"}, t0))
		if st.Repeats != 1 {
			t.Fatalf("after reopen of store: %+v", st)
		}
	})
}

func TestRepeatsInOneBatchAndAnnotationChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		p := incident.DefaultPolicy()
		l1 := map[string]string{"alertname": "A", "i": "1"}
		l2 := map[string]string{"alertname": "A", "i": "2"}
		ingest(t, s, &p, t0, firing(l1, t0), firing(l2, t0))
		// An HA pair of Alertmanagers sends each group twice; both land in
		// one group commit.
		at := t0.Add(time.Minute)
		st := ingest(t, s, &p, at, firing(l1, t0), firing(l1, t0), firing(l1, t0), firing(l2, t0))
		if st.Repeats != 4 {
			t.Fatalf("stats %+v", st)
		}
		changed := firing(l2, t0)
		changed.Annotations = map[string]string{"value": "97%"}
		ingest(t, s, &p, at.Add(time.Minute), changed)
		for _, tt := range []struct {
			labels   map[string]string
			repeats  int64
			lastSeen time.Time
			value    string
		}{
			{l1, 3, at, ""},
			{l2, 2, at.Add(time.Minute), "97%"},
		} {
			as, err := s.Alerts(ctx, store.AlertFilter{Fingerprint: incident.Fingerprint(tt.labels), Limit: 5})
			if err != nil || len(as) != 1 {
				t.Fatalf("%v: %v %v", tt.labels, as, err)
			}
			a := as[0]
			if a.Repeats != tt.repeats || !a.LastSeen.Equal(tt.lastSeen) || a.Annotations["value"] != tt.value {
				t.Errorf("%v: repeats %d last_seen %v annotations %v; want %d %v %q", tt.labels, a.Repeats, a.LastSeen, a.Annotations, tt.repeats, tt.lastSeen, tt.value)
			}
		}
	})
}

func TestRecordEventsJoinTheTimelineAndTheOutbox(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		p := incident.DefaultPolicy()
		ingest(t, s, &p, t0, firing(map[string]string{"alertname": "A"}, t0))
		inc := openIncidents(t, s)[0]
		woken := 0
		s.OnCommit(func() { woken++ })
		evs := []incident.Event{
			{IncidentID: inc.ID, At: t0.Add(time.Minute), Actor: "escalation", Kind: "incident.paged", Message: "paged alice"},
			{IncidentID: inc.ID, At: t0.Add(2 * time.Minute), Actor: "sla", Kind: "sla.warning", Message: "acknowledge 50%"},
		}
		if err := s.RecordEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if evs[0].ID == 0 || evs[1].ID <= evs[0].ID || woken != 1 {
			t.Fatalf("ids %d, %d; consumers woken %d times", evs[0].ID, evs[1].ID, woken)
		}
		tl, err := s.Timeline(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if last := tl[len(tl)-1]; last.Kind != "sla.warning" || last.Actor != "sla" || last.ID != evs[1].ID {
			t.Fatalf("timeline ends with %+v", last)
		}
		after, err := s.EventsAfter(ctx, evs[0].ID-1, 10)
		if err != nil || len(after) != 2 || after[0].Message != "paged alice" {
			t.Fatalf("outbox after: %+v, %v", after, err)
		}
	})
}

func TestChangeIncidentPriorityAndLabels(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		ctx := context.Background()
		p := incident.DefaultPolicy()
		ingest(t, s, &p, t0, firing(map[string]string{"alertname": "A", "service": "x"}, t0))
		inc := openIncidents(t, s)[0]
		got, evs, err := s.ChangeIncident(ctx, inc.ID, incident.Change{Priority: 1, Labels: map[string]string{"team": "db"}}, "runbook failover (run 3)", t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].ID == 0 || got.Priority != 1 || !got.Major {
			t.Fatalf("events %+v, incident %+v", evs, got)
		}
		stored, err := s.Incident(ctx, inc.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Priority != 1 || stored.Labels["team"] != "db" || stored.Labels["alertname"] != "A" {
			t.Fatalf("stored %+v", stored)
		}
		tl, _ := s.Timeline(ctx, inc.ID)
		if last := tl[len(tl)-1]; last.Kind != incident.EventIncidentLabelsChanged || last.Actor != "runbook failover (run 3)" {
			t.Fatalf("timeline ends with %+v", last)
		}
		// Nothing to change: no event, no write.
		if _, evs, err := s.ChangeIncident(ctx, inc.ID, incident.Change{Priority: 1}, "x", t0.Add(2*time.Minute)); err != nil || len(evs) != 0 {
			t.Fatalf("no-op change: %+v %v", evs, err)
		}
		if _, _, err := s.ChangeIncident(ctx, 999, incident.Change{Priority: 1}, "x", t0); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown incident: %v", err)
		}
	})
}

// TestAwkwardTextRoundTrips writes values that array literals and SQL
// quote specially through multi-row writes (PostgreSQL's unnest arrays)
// and reads them back unchanged.
func TestAwkwardTextRoundTrips(t *testing.T) {
	values := []string{`NULL`, `a"b`, `back\slash`, `{x,y}`, `'; DROP TABLE alerts;--`, ``, ` spaced `, "tab\tline\nbreak", `ünïcødé ✓`, `,`}
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		s := storetest.Open(t, b)
		p := incident.DefaultPolicy()
		var in []incident.AlertInput
		for i, v := range values {
			a := firing(map[string]string{"alertname": "Awkward", "i": string(rune('a' + i)), "value": v}, t0)
			a.Annotations = map[string]string{"summary": v}
			in = append(in, a)
		}
		ingest(t, s, &p, t0, in...)
		for i, v := range values {
			got, err := s.Alerts(context.Background(), store.AlertFilter{Fingerprint: in[i].Fingerprint, Limit: 10})
			if err != nil || len(got) != 1 {
				t.Fatalf("alert %d: %v, %d rows", i, err, len(got))
			}
			if got[0].Labels["value"] != v || got[0].Annotations["summary"] != v {
				t.Errorf("value %q came back as label %q, annotation %q", v, got[0].Labels["value"], got[0].Annotations["summary"])
			}
		}
	})
}
