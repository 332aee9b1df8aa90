package sla

import (
	"reflect"
	"testing"
	"time"

	"github.com/incidentd/incidentd/incident"
)

const (
	triggered    = incident.StatusTriggered
	acknowledged = incident.StatusAcknowledged
	onHold       = incident.StatusOnHold
	resolved     = incident.StatusResolved
	closed       = incident.StatusClosed
)

// t0 is a Monday 09:00 in Berlin; h(x) is x hours after it.
var t0 = at("2026-03-02 09:00")

func h(x float64) time.Time { return t0.Add(time.Duration(x * float64(time.Hour))) }

// hist builds a history from (hours after t0, status) pairs.
func hist(pairs ...any) []Change {
	var out []Change
	for i := 0; i+1 < len(pairs); i += 2 {
		var x float64
		switch v := pairs[i].(type) {
		case int:
			x = float64(v)
		case float64:
			x = v
		}
		out = append(out, Change{At: h(x), Status: pairs[i+1].(incident.Status)})
	}
	return out
}

func TestClockEval(t *testing.T) {
	resolve := Clock{Kind: Resolve, Start: t0, Target: 4 * time.Hour}
	ack := Clock{Kind: Acknowledge, Start: t0, Target: 15 * time.Minute}
	tests := []struct {
		name      string
		clock     Clock
		history   []Change
		now       time.Time
		state     State
		due       time.Time
		elapsed   time.Duration
		remaining time.Duration
		stopped   time.Time
	}{
		{"running", resolve, nil, h(1), Running, h(4), time.Hour, 3 * time.Hour, time.Time{}},
		{"acknowledging does not stop the resolve clock", resolve, hist(0.5, acknowledged), h(1), Running, h(4), time.Hour, 3 * time.Hour, time.Time{}},
		// The breach timer fires at Due and must see the breach.
		{"at the due time", resolve, nil, h(4), Breached, h(4), 4 * time.Hour, 0, time.Time{}},
		{"due passed while running", resolve, hist(0.5, acknowledged), h(5), Breached, h(4), 5 * time.Hour, -time.Hour, time.Time{}},
		{"paused now: no due", resolve, hist(1, onHold), h(2), Paused, time.Time{}, time.Hour, 3 * time.Hour, time.Time{}},
		{"resumed: due moved by the pause", resolve, hist(1, onHold, 3, acknowledged), h(4), Running, h(6), 2 * time.Hour, 2 * time.Hour, time.Time{}},
		{"several pauses", resolve, hist(1, onHold, 2, acknowledged, 3, onHold, 3.5, triggered), h(4), Running, h(5.5), 2*time.Hour + 30*time.Minute, 90 * time.Minute, time.Time{}},
		{"on hold long past the due time is not a breach", resolve, hist(1, onHold), h(100), Paused, time.Time{}, time.Hour, 3 * time.Hour, time.Time{}},
		{"met", resolve, hist(1, acknowledged, 3, resolved), h(10), Met, h(4), 3 * time.Hour, time.Hour, h(3)},
		{"met, then closed", resolve, hist(3, resolved, 5, closed), h(10), Met, h(4), 3 * time.Hour, time.Hour, h(3)},
		{"met after a pause", resolve, hist(1, onHold, 3, acknowledged, 5, resolved), h(10), Met, h(6), 3 * time.Hour, time.Hour, h(5)},
		{"resolved late", resolve, hist(5, resolved), h(10), Breached, h(4), 5 * time.Hour, -time.Hour, h(5)},
		{"resolved exactly at the due time", resolve, hist(4, resolved), h(10), Breached, h(4), 4 * time.Hour, 0, h(4)},
		{"breached, then paused: stays breached", resolve, hist(5, onHold), h(7), Breached, h(4), 5 * time.Hour, -time.Hour, time.Time{}},
		{"reopened: runs on from where it stopped", resolve, hist(1, resolved, 2, triggered), h(3), Running, h(5), 2 * time.Hour, 2 * time.Hour, time.Time{}},
		{"reopened and breached later", resolve, hist(1, resolved, 2, triggered), h(6), Breached, h(5), 5 * time.Hour, -time.Hour, time.Time{}},
		{"changes after now are ignored", resolve, hist(2, resolved), h(1), Running, h(4), time.Hour, 3 * time.Hour, time.Time{}},
		{"history out of order", resolve, hist(3, acknowledged, 1, onHold), h(4), Running, h(6), 2 * time.Hour, 2 * time.Hour, time.Time{}},
		{"on hold before the clock starts", Clock{Kind: Resolve, Start: h(1), Target: 4 * time.Hour}, hist(0, onHold, 2, acknowledged), h(3), Running, h(6), time.Hour, 3 * time.Hour, time.Time{}},

		{"ack: running", ack, nil, h(0.1), Running, h(0.25), 6 * time.Minute, 9 * time.Minute, time.Time{}},
		{"ack: met", ack, hist(0.1, acknowledged), h(1), Met, h(0.25), 6 * time.Minute, 9 * time.Minute, h(0.1)},
		{"ack: late", ack, hist(0.5, acknowledged), h(1), Breached, h(0.25), 30 * time.Minute, -15 * time.Minute, h(0.5)},
		{"ack: unacknowledged and overdue", ack, nil, h(1), Breached, h(0.25), time.Hour, -45 * time.Minute, time.Time{}},
		{"ack: on hold is a response, not a pause", ack, hist(0.1, onHold), h(1), Met, h(0.25), 6 * time.Minute, 9 * time.Minute, h(0.1)},
		{"ack: resolving is a response", ack, hist(0.1, resolved), h(1), Met, h(0.25), 6 * time.Minute, 9 * time.Minute, h(0.1)},
		{"ack: a reopen does not restart it", ack, hist(0.1, acknowledged, 0.2, resolved, 0.5, triggered), h(1), Met, h(0.25), 6 * time.Minute, 9 * time.Minute, h(0.1)},
		{"ack: policy applied after the acknowledgement", Clock{Kind: Acknowledge, Start: h(1), Target: 15 * time.Minute}, hist(0.5, acknowledged), h(2), Met, h(1.25), 0, 15 * time.Minute, h(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.clock.Eval(tt.history, tt.now)
			got := []any{r.State, r.Due.In(berlin), r.Elapsed, r.Remaining, r.Stopped}
			want := []any{tt.state, tt.due.In(berlin), tt.elapsed, tt.remaining, tt.stopped}
			if tt.due.IsZero() {
				want[1] = time.Time{}
				got[1] = r.Due
			}
			if tt.stopped.IsZero() {
				want[4] = time.Time{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("state, due, elapsed, remaining, stopped\n got  %v\n want %v", got, want)
			}
		})
	}
}

func TestClockThresholds(t *testing.T) {
	cal := office(t)
	// Friday 16:00, 3 h of business time: 2 h on Friday, 1 h on Monday.
	start := at("2026-03-06 16:00")
	c := Clock{Kind: Resolve, Start: start, Target: 3 * time.Hour, Calendar: cal, WarnAt: []float64{0.5, 0.75}}
	th := func(pairs ...any) []Threshold {
		var out []Threshold
		for i := 0; i+1 < len(pairs); i += 2 {
			out = append(out, Threshold{Fraction: pairs[i].(float64), At: at(pairs[i+1].(string))})
		}
		return out
	}
	tests := []struct {
		name    string
		history []Change
		now     time.Time
		state   State
		due     time.Time
		elapsed time.Duration
		want    []Threshold
	}{
		{"over the weekend", nil, at("2026-03-07 12:00"), Running, at("2026-03-09 09:00"), 2 * time.Hour,
			th(0.5, "2026-03-06 17:30", 0.75, "2026-03-09 08:15", 1.0, "2026-03-09 09:00")},
		{"paused before the first warning: nothing ahead",
			[]Change{{at("2026-03-06 17:00"), onHold}}, at("2026-03-07 12:00"), Paused, time.Time{}, time.Hour, nil},
		{"paused after the first warning: only what was crossed",
			[]Change{{at("2026-03-06 17:45"), onHold}}, at("2026-03-07 12:00"), Paused, time.Time{}, 105 * time.Minute,
			th(0.5, "2026-03-06 17:30")},
		// 1 h on Friday, paused until Monday 10:00, then 2 h more.
		{"resumed in business hours",
			[]Change{{at("2026-03-06 17:00"), onHold}, {at("2026-03-09 10:00"), acknowledged}}, at("2026-03-09 10:30"), Running,
			at("2026-03-09 12:00"), 90 * time.Minute, th(0.5, "2026-03-09 10:30", 0.75, "2026-03-09 11:15", 1.0, "2026-03-09 12:00")},
		// Resuming on Saturday changes nothing until Monday opens.
		{"resumed outside business hours",
			[]Change{{at("2026-03-06 17:00"), onHold}, {at("2026-03-07 10:00"), triggered}}, at("2026-03-07 11:00"), Running,
			at("2026-03-09 10:00"), time.Hour, th(0.5, "2026-03-09 08:30", 0.75, "2026-03-09 09:15", 1.0, "2026-03-09 10:00")},
		{"breached", nil, at("2026-03-09 12:00"), Breached, at("2026-03-09 09:00"), 6 * time.Hour,
			th(0.5, "2026-03-06 17:30", 0.75, "2026-03-09 08:15", 1.0, "2026-03-09 09:00")},
		{"met on Monday morning", []Change{{at("2026-03-09 08:30"), resolved}}, at("2026-03-09 12:00"), Met, at("2026-03-09 09:00"), 150 * time.Minute,
			th(0.5, "2026-03-06 17:30", 0.75, "2026-03-09 08:15")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.Eval(tt.history, tt.now)
			if r.State != tt.state || !r.Due.Equal(tt.due) || r.Elapsed != tt.elapsed {
				t.Errorf("state %s, due %s, elapsed %s; want %s, %s, %s", r.State, r.Due.In(berlin), r.Elapsed, tt.state, tt.due.In(berlin), tt.elapsed)
			}
			got := r.Thresholds()
			if len(got) != len(tt.want) {
				t.Fatalf("thresholds %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i].Fraction != tt.want[i].Fraction || !got[i].At.Equal(tt.want[i].At) {
					t.Errorf("threshold %d = %v at %s, want %v at %s", i, got[i].Fraction, got[i].At.In(berlin), tt.want[i].Fraction, tt.want[i].At.In(berlin))
				}
			}
		})
	}
}

// TestClockReprioritised recomputes the clocks from the same start and
// history with the new priority's targets, as the escalation engine does
// on incident.priority_changed.
func TestClockReprioritised(t *testing.T) {
	rules := mustRules(t, `
sla:
  calendars:
    - {id: office, timezone: Europe/Berlin, hours: {"Mon-Fri": "08:00-18:00"}}
  policies:
    - targets:
        P1: {acknowledge: 5m, resolve: 4h}
        P3: {acknowledge: 1h, resolve: 8h, calendar: office}
      warn_at: [0.5]
`)
	// Monday 2026-03-02 09:00; acknowledged at 09:03.
	history := hist(0.05, acknowledged)
	clockFor := func(prio int, kind Kind) Clock {
		_, cs := rules.Clocks(Subject{Priority: prio}, t0)
		for _, c := range cs {
			if c.Kind == kind {
				return c
			}
		}
		t.Fatalf("no %s clock for P%d", kind, prio)
		return Clock{}
	}
	tests := []struct {
		name    string
		from    int
		to      int
		now     time.Time
		before  State
		after   State
		due     time.Time
		elapsed time.Duration
	}{
		// P3 resolves by 17:00 (8 business hours); 5 h in, P1's 4 h have
		// already passed.
		{"P3 to P1, past the new target", 3, 1, h(5), Running, Breached, h(4), 5 * time.Hour},
		{"P3 to P1, within the new target", 3, 1, h(3), Running, Running, h(4), 3 * time.Hour},
		// P1 is breached at 13:00; as P3 the same 5 h are within 8.
		{"P1 to P3", 1, 3, h(5), Breached, Running, h(8), 5 * time.Hour},
		// 12 h in, at 21:00: P3 counts only the 9 business hours to 18:00,
		// and P3's due time, 17:00, has passed.
		{"P1 to P3, past the new target too", 1, 3, h(12), Breached, Breached, h(8), 9 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := clockFor(tt.from, Resolve).Eval(history, tt.now)
			after := clockFor(tt.to, Resolve).Eval(history, tt.now)
			if before.State != tt.before || after.State != tt.after || !after.Due.Equal(tt.due) || after.Elapsed != tt.elapsed {
				t.Errorf("P%d %s -> P%d %s due %s elapsed %s; want %s -> %s due %s elapsed %s",
					tt.from, before.State, tt.to, after.State, after.Due.In(berlin), after.Elapsed, tt.before, tt.after, tt.due.In(berlin), tt.elapsed)
			}
			if !after.Start.Equal(before.Start) {
				t.Errorf("the clock's start moved from %s to %s", before.Start, after.Start)
			}
		})
	}
	// The acknowledge clock was met under both targets (3 minutes).
	for _, p := range []int{1, 3} {
		if r := clockFor(p, Acknowledge).Eval(history, h(5)); r.State != Met {
			t.Errorf("P%d acknowledge clock %s, want met", p, r.State)
		}
	}
}
