package problem_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/correlate"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/outbox"
	"github.com/incidentd/incidentd/problem"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/store/storetest"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

const topology = `cis:
  - {id: checkout, class: business_service, criticality: 1}
  - {id: reports, class: business_service, criticality: 4}
  - {id: checkout-api, class: application, match: [{service: checkout-api}]}
  - {id: reports-db, class: database, match: [{service: reports-db}]}
relations:
  - {from: checkout, type: depends_on, to: checkout-api}
  - {from: reports, type: depends_on, to: reports-db}
`

type env struct {
	t        *testing.T
	s        *store.Store
	p        incident.Policy
	consumer *outbox.Consumer
}

func newEnv(t *testing.T, b store.Backend) *env {
	doc, err := cmdb.Parse("cmdb.yml", []byte(topology))
	if err != nil {
		t.Fatal(err)
	}
	c := correlate.New(correlate.Options{})
	c.SetGraph(cmdb.Build(doc))
	p := incident.DefaultPolicy()
	p.Topology = c
	s := storetest.Open(t, b)
	d := problem.NewDetector(s, problem.Options{Recurrence: 3, Period: 7 * 24 * time.Hour}, nil)
	return &env{t: t, s: s, p: p, consumer: newConsumer(s, d)}
}

// newConsumer follows the outbox for d as one process (owner "test").
func newConsumer(s *store.Store, d *problem.Detector) *outbox.Consumer {
	c := outbox.NewConsumer(problem.ConsumerName, s, d.Handle, nil)
	c.SetLease("test", clock.Real{}, outbox.DefaultLease)
	return c
}

// outage fires an alert at start and resolves it 5 minutes later.
func (e *env) outage(start time.Duration, labels map[string]string) {
	e.t.Helper()
	in := incident.AlertInput{Fingerprint: incident.Fingerprint(labels), Source: "t", Status: incident.AlertFiring, Labels: labels, StartsAt: t0.Add(start)}
	if _, err := e.s.Ingest(context.Background(), &e.p, []incident.AlertInput{in}, t0.Add(start)); err != nil {
		e.t.Fatal(err)
	}
	in.Status, in.EndsAt = incident.AlertResolved, t0.Add(start+5*time.Minute)
	if _, err := e.s.Ingest(context.Background(), &e.p, []incident.AlertInput{in}, t0.Add(start+5*time.Minute)); err != nil {
		e.t.Fatal(err)
	}
	if err := e.consumer.Drain(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) problems() []*incident.Problem {
	ps, err := e.s.Problems(context.Background(), store.ProblemFilter{Limit: 10})
	if err != nil {
		e.t.Fatal(err)
	}
	return ps
}

func TestRecurrenceOpensProblemAndLinksLaterIncidents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		db := map[string]string{"alertname": "DiskFull", "service": "reports-db", "severity": "warning"}
		e.outage(0, db)
		e.outage(2*time.Hour, db)
		if n := len(e.problems()); n != 0 {
			t.Fatalf("%d problems after 2 incidents", n)
		}
		e.outage(4*time.Hour, db)
		ps := e.problems()
		if len(ps) != 1 {
			t.Fatalf("%d problems after 3 incidents, want 1", len(ps))
		}
		p := ps[0]
		if p.Signature != "reports-db/DiskFull" || p.Status != incident.ProblemNew || p.Title != "Recurring DiskFull on reports-db" ||
			p.Reason != "3 incidents with root cause reports-db and alert DiskFull within 168h0m0s: INC-1, INC-2, INC-3" {
			t.Fatalf("problem %+v", p)
		}
		e.outage(6*time.Hour, db)
		if ids, _ := e.s.ProblemIncidents(ctx, p.ID); len(ids) != 4 {
			t.Fatalf("linked incidents %v, want 4", ids)
		}
		if ps, _ := e.s.IncidentProblems(ctx, 4); len(ps) != 1 || ps[0] != p.ID {
			t.Fatalf("INC-4's problems: %v", ps)
		}
		// Replaying the whole outbox changes nothing: a restarted process
		// (a new consumer, which reads the stored cursor) from event 0.
		if err := e.s.SaveCursor(ctx, problem.ConsumerName, 0); err != nil {
			t.Fatal(err)
		}
		e.consumer = newConsumer(e.s, problem.NewDetector(e.s, problem.Options{Recurrence: 3, Period: 7 * 24 * time.Hour}, nil))
		if err := e.consumer.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if cur, _ := e.s.Cursor(ctx, problem.ConsumerName); cur == 0 {
			t.Fatal("the replay handled no event")
		}
		tl, _ := e.s.ProblemTimeline(ctx, p.ID)
		if len(e.problems()) != 1 || len(tl) != 5 { // opened + 4 links
			t.Fatalf("after replay: %d problems, timeline %+v", len(e.problems()), tl)
		}
		// Outside the period, old incidents do not count.
		other := map[string]string{"alertname": "Slow", "service": "reports-db"}
		e.outage(0, other)
		e.outage(8*24*time.Hour, other)
		e.outage(9*24*time.Hour, other)
		if n := len(e.problems()); n != 1 {
			t.Fatalf("incidents spread over 9 days opened a problem (%d problems)", n)
		}
	})
}

func TestMajorIncidentResolvedOpensProblem(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		e := newEnv(t, b)
		e.outage(0, map[string]string{"alertname": "HighErrorRate", "service": "checkout-api", "severity": "critical"})
		ps := e.problems()
		if len(ps) != 1 || ps[0].Origin != "p1:INC-1" || !strings.HasPrefix(ps[0].Reason, "P1 incident INC-1 resolved") {
			t.Fatalf("problems %+v", ps)
		}
	})
}

func TestProblemLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, b store.Backend) {
		e := newEnv(t, b)
		ctx := context.Background()
		e.outage(0, map[string]string{"alertname": "HighErrorRate", "service": "checkout-api", "severity": "critical"})
		id := e.problems()[0].ID
		var input *incident.InputError
		steps := []struct {
			c       incident.ProblemChange
			want    incident.ProblemStatus
			wantErr error
		}{
			{incident.ProblemChange{Status: incident.ProblemInvestigating, Actor: "alice"}, incident.ProblemInvestigating, nil},
			{incident.ProblemChange{Status: incident.ProblemNew, Actor: "alice"}, incident.ProblemInvestigating, incident.ErrConflict},
			{incident.ProblemChange{Status: incident.ProblemKnownError, Actor: "alice"}, incident.ProblemInvestigating, input},
			{incident.ProblemChange{Status: incident.ProblemKnownError, Actor: "alice", Workaround: "restart the pool", Runbook: "restart-checkout"}, incident.ProblemKnownError, nil},
			{incident.ProblemChange{Status: incident.ProblemResolved, Actor: "bob", Message: "pool size fixed"}, incident.ProblemResolved, nil},
			{incident.ProblemChange{Status: incident.ProblemInvestigating, Actor: "bob", Message: "it came back"}, incident.ProblemInvestigating, nil},
			{incident.ProblemChange{Status: incident.ProblemClosed, Actor: "bob"}, incident.ProblemClosed, nil},
			{incident.ProblemChange{Status: incident.ProblemInvestigating, Actor: "bob"}, incident.ProblemClosed, incident.ErrConflict},
		}
		for i, st := range steps {
			p, _, err := e.s.ChangeProblem(ctx, id, st.c, t0.Add(time.Duration(i)*time.Hour))
			switch {
			case st.wantErr == nil && err != nil, st.wantErr == incident.ErrConflict && !errors.Is(err, incident.ErrConflict):
				t.Fatalf("step %d: err %v, want %v", i, err, st.wantErr)
			case st.wantErr == input && !errors.As(err, &input):
				t.Fatalf("step %d: err %v, want an input error", i, err)
			case err == nil && p.Status != st.want:
				t.Fatalf("step %d: status %s, want %s", i, p.Status, st.want)
			}
		}
		p, _ := e.s.Problem(ctx, id)
		if p.Workaround != "restart the pool" || p.Runbook != "restart-checkout" || p.ClosedAt.IsZero() || !p.ResolvedAt.IsZero() {
			t.Fatalf("final problem %+v", p)
		}
	})
}
