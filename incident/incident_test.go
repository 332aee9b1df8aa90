package incident

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

func TestFingerprintMatchesAlertmanager(t *testing.T) {
	labels := map[string]string{"alertname": "HighLatency", "service": "checkout", "instance": "web-1"}
	ls := model.LabelSet{}
	for k, v := range labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	// Alertmanager puts Fingerprint().String() into the webhook payload.
	want := template.Alert{Fingerprint: ls.Fingerprint().String()}.Fingerprint
	if got := Fingerprint(labels); got != want || len(got) != 16 {
		t.Fatalf("Fingerprint = %q, want %q", got, want)
	}
	labels["instance"] = "web-2"
	if Fingerprint(labels) == want {
		t.Fatal("different labels, same fingerprint")
	}
}

func TestPriorityMatrix(t *testing.T) {
	tests := []struct{ impact, urgency, want int }{
		{1, 1, 1}, {1, 2, 2}, {1, 3, 3},
		{2, 1, 2}, {2, 2, 3}, {2, 3, 4},
		{3, 1, 3}, {3, 2, 4}, {3, 3, 5},
	}
	for _, tt := range tests {
		if got := PriorityFor(tt.impact, tt.urgency); got != tt.want {
			t.Errorf("PriorityFor(%d, %d) = P%d, want P%d", tt.impact, tt.urgency, got, tt.want)
		}
	}
	p := DefaultPolicy()
	for sev, want := range map[string]int{"critical": 1, "CRITICAL": 1, "warning": 2, "info": 3, "": 3, "bogus": 3} {
		if got := p.UrgencyOf(map[string]string{"severity": sev}); got != want {
			t.Errorf("UrgencyOf(%q) = %d, want %d", sev, got, want)
		}
	}
}

func TestParseKey(t *testing.T) {
	for in, want := range map[string]int64{"INC-12": 12, "inc-7": 7, "3": 3} {
		if got, err := ParseKey(in); err != nil || got != want {
			t.Errorf("ParseKey(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "INC-", "INC-0", "-1", "INC-x", "12a"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
}

func TestGroupKeyAndTitle(t *testing.T) {
	p := DefaultPolicy()
	a := &Alert{Fingerprint: "f", Labels: map[string]string{"alertname": "Down", "service": "api", "instance": "x"}}
	if got := p.GroupKey(a.Labels); got != `alertname="Down",cluster="",service="api"` {
		t.Errorf("GroupKey = %s", got)
	}
	if got := p.titleFor(a); got != "Down (service=api)" {
		t.Errorf("title = %q", got)
	}
	a.Annotations = map[string]string{"summary": " API down "}
	if got := p.titleFor(a); got != "API down" {
		t.Errorf("title with summary = %q", got)
	}
}

// Resuming an incident that was acknowledged before its hold returns it
// to acknowledged: nobody needs paging again.
func TestResumeKeepsAcknowledgement(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	inc := &Incident{ID: 1, Status: StatusTriggered}
	for _, a := range []Action{ActionAcknowledge, ActionHold, ActionResume} {
		if _, err := Do(inc, a, "alice", "", now); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	if inc.Status != StatusAcknowledged {
		t.Fatalf("resumed to %s, want acknowledged", inc.Status)
	}
}

func TestDoTransitions(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		from    Status
		action  Action
		to      Status
		wantErr error
	}{
		{StatusTriggered, ActionAcknowledge, StatusAcknowledged, nil},
		{StatusAcknowledged, ActionAcknowledge, StatusAcknowledged, ErrConflict},
		{StatusTriggered, ActionResolve, StatusResolved, nil},
		{StatusOnHold, ActionResolve, StatusResolved, nil},
		{StatusResolved, ActionResolve, StatusResolved, ErrConflict},
		{StatusResolved, ActionClose, StatusClosed, nil},
		{StatusTriggered, ActionClose, StatusTriggered, ErrConflict},
		{StatusClosed, ActionAcknowledge, StatusClosed, ErrConflict},
		{StatusClosed, ActionNote, StatusClosed, nil},
		{StatusTriggered, ActionHold, StatusOnHold, nil},
		{StatusAcknowledged, ActionHold, StatusOnHold, nil},
		{StatusOnHold, ActionHold, StatusOnHold, ErrConflict},
		{StatusResolved, ActionHold, StatusResolved, ErrConflict},
		{StatusOnHold, ActionResume, StatusTriggered, nil}, // never acknowledged
		{StatusTriggered, ActionResume, StatusTriggered, ErrConflict},
	}
	for _, tt := range tests {
		inc := &Incident{ID: 1, Status: tt.from}
		ev, err := Do(inc, tt.action, "alice", "msg", now)
		if tt.action == ActionHold && err == nil && ev.Kind != EventIncidentOnHold {
			t.Errorf("hold event %q", ev.Kind)
		}
		if !errors.Is(err, tt.wantErr) || tt.wantErr == nil && err != nil {
			t.Errorf("%s on %s: err %v, want %v", tt.action, tt.from, err, tt.wantErr)
			continue
		}
		if inc.Status != tt.to {
			t.Errorf("%s on %s: status %s, want %s", tt.action, tt.from, inc.Status, tt.to)
		}
		if err == nil && (ev.Actor != "alice" || ev.Kind == "") {
			t.Errorf("%s on %s: event %+v", tt.action, tt.from, ev)
		}
	}
	var input *InputError
	if _, err := Do(&Incident{Status: StatusTriggered}, ActionAcknowledge, " ", "", now); !errors.As(err, &input) {
		t.Errorf("empty actor: %v", err)
	}
	if _, err := Do(&Incident{Status: StatusTriggered}, ActionNote, "a", "", now); !errors.As(err, &input) {
		t.Errorf("empty note: %v", err)
	}
}

// TestApplyWithinOneBatch checks that a batch behaves as its notifications
// would one by one: fire, resolve and re-fire of one alert in one batch.
func TestApplyWithinOneBatch(t *testing.T) {
	p := DefaultPolicy()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := map[string]string{"alertname": "A"}
	fp := Fingerprint(l)
	in := []AlertInput{
		{Fingerprint: fp, Status: AlertFiring, Labels: l, StartsAt: now.Add(-time.Minute)},
		{Fingerprint: fp, Status: AlertFiring, Labels: l, StartsAt: now.Add(-time.Minute)},
		{Fingerprint: fp, Status: AlertResolved, Labels: l, StartsAt: now.Add(-time.Minute), EndsAt: now.Add(-30 * time.Second)},
		{Fingerprint: fp, Status: AlertFiring, Labels: l, StartsAt: now},
	}
	ch := p.Apply(&State{}, in, now)
	if ch.Stats.New != 1 || ch.Stats.Repeats != 1 || ch.Stats.Resolved != 1 || ch.Stats.Flaps != 1 || ch.NewIncidents != 1 {
		t.Fatalf("stats %+v, new incidents %d", ch.Stats, ch.NewIncidents)
	}
	ch.AssignIDs(41)
	inc := ch.Incidents[0]
	if inc.ID != 41 || inc.Status != StatusTriggered || inc.FiringCount != 1 || inc.AlertCount != 1 {
		t.Fatalf("incident %+v", inc)
	}
	for _, e := range ch.Events {
		if e.IncidentID != 41 {
			t.Fatalf("event %+v not remapped to the allocated id", e)
		}
	}
}

func TestSetPriorityAndLabels(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		status  Status
		change  Change
		want    []string // event messages
		labels  string
		prio    int
		wantErr error
	}{
		{"priority", StatusTriggered, Change{Priority: 1}, []string{"priority P3 -> P1: set by rb"}, "a=1", 1, nil},
		{"same priority", StatusTriggered, Change{Priority: 3}, nil, "a=1", 3, nil},
		{"labels set and removed", StatusAcknowledged, Change{Labels: map[string]string{"b": "2", "a": ""}}, []string{"labels set by rb: a removed, b=2"}, "b=2", 3, nil},
		{"no-op labels", StatusTriggered, Change{Labels: map[string]string{"a": "1", "zz": ""}}, nil, "a=1", 3, nil},
		{"bad priority", StatusTriggered, Change{Priority: 6}, nil, "a=1", 3, nil},
		{"resolved", StatusResolved, Change{Priority: 1}, nil, "a=1", 3, ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc := &Incident{ID: 1, Status: tt.status, Priority: 3, Labels: map[string]string{"a": "1"}}
			evs, err := Set(inc, tt.change, "rb", now)
			if tt.name == "bad priority" {
				var ie *InputError
				if !errors.As(err, &ie) {
					t.Fatalf("err %v, want an input error", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) || tt.wantErr == nil && err != nil {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			var msgs []string
			for _, ev := range evs {
				msgs = append(msgs, ev.Message)
			}
			if strings.Join(msgs, "|") != strings.Join(tt.want, "|") {
				t.Errorf("events %q, want %q", msgs, tt.want)
			}
			var ls []string
			for _, k := range sortedKeys(inc.Labels) {
				ls = append(ls, k+"="+inc.Labels[k])
			}
			if got := strings.Join(ls, ","); got != tt.labels || inc.Priority != tt.prio {
				t.Errorf("labels %q priority %d, want %q %d", got, inc.Priority, tt.labels, tt.prio)
			}
		})
	}
}
