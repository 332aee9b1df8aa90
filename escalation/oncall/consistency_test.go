package oncall

import (
	"math/rand/v2"
	"testing"
	"time"
)

// busy has every kind of rotation, overnight and DST-crossing
// restrictions, and overrides, so that OnCall (arithmetic per layer) and
// Shifts (a sweep over segments) can be checked against each other.
const busy = `
layers:
  - rotation: {type: weekly, handoff: "Mon 09:00"}
    start: 2026-01-05
    participants: [alice, bob, carol]
  - rotation: {type: hourly, handoff: ":15", every: 3}
    start: 2026-01-03
    participants: [dave, erin]
    restrict: [{days: [Sat, Sun], from: "10:00", to: "02:00"}]
  - rotation: {type: custom, shift: 8h, handoff: "06:00"}
    start: 2026-01-01
    participants: [bob, erin, alice, carol]
    restrict: [{days: [Mon, Tue, Wed, Thu, Fri], from: "22:00", to: "06:00"}]
  - rotation: {type: daily, handoff: "02:30", every: 2}
    start: 2026-01-02
    participants: [carol, dave]
    restrict: [{days: [Sun], from: "01:30", to: "03:30"}, {days: [Wed], from: "00:00", to: "24:00"}]
overrides:
  - {user: erin, start: "2026-03-07T23:00", end: "2026-03-08T09:00"}
  - {user: alice, start: "2026-03-29T01:00", end: "2026-03-29T03:30"}
  - {user: carol, start: "2026-10-25T02:30", end: "2026-10-25T05:00"}
  - {user: bob, start: "2026-11-01T00:00:00Z", end: "2026-11-01T08:00:00Z"}
`

func TestOnCallAgreesWithShifts(t *testing.T) {
	for _, zoneName := range []string{"Europe/Berlin", "America/New_York"} {
		dir := load(t, oneSchedule(zoneName, busy))
		for _, r := range []struct{ from, to string }{
			{"2026-02-25T00:00:00Z", "2026-04-05T00:00:00Z"}, // spring changes
			{"2026-10-20T00:00:00Z", "2026-11-06T00:00:00Z"}, // autumn changes
		} {
			from, to := parseAt(t, nil, r.from), parseAt(t, nil, r.to)
			shifts, err := dir.Shifts("s", from, to)
			if err != nil {
				t.Fatal(err)
			}
			if len(shifts) < 50 {
				t.Fatalf("%s: only %d shifts", zoneName, len(shifts))
			}
			for i, sh := range shifts {
				if !sh.Start.Before(sh.End) {
					t.Errorf("%s: empty shift %s", zoneName, shiftString(sh))
				}
				if i > 0 && sh.Start.Before(shifts[i-1].End) {
					t.Errorf("%s: %s overlaps %s", zoneName, shiftString(sh), shiftString(shifts[i-1]))
				}
			}
			// containing returns the shift at t, as OnCall would say it.
			containing := func(at time.Time) string {
				for _, sh := range shifts {
					if !at.Before(sh.Start) && at.Before(sh.End) {
						return who(Assignment{User: sh.User, Layer: sh.Layer, Override: sh.Override}, true)
					}
				}
				return "-"
			}
			check := func(at time.Time) {
				a, ok, err := dir.OnCall("s", at)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := who(a, ok), containing(at); got != want {
					t.Errorf("%s at %s: OnCall says %s, Shifts say %s", zoneName, at, got, want)
				}
			}
			for _, sh := range shifts {
				for _, at := range []time.Time{sh.Start.Add(-time.Second), sh.Start, sh.End.Add(-time.Second), sh.End} {
					if !at.Before(from) && at.Before(to) {
						check(at)
					}
				}
			}
			for at := from; at.Before(to); at = at.Add(7*time.Minute + 13*time.Second) {
				check(at)
			}

			// Any sub-range lists exactly the whole shifts that overlap it.
			rnd := rand.New(rand.NewPCG(1, 2))
			span := to.Sub(from)
			for range 200 {
				a := from.Add(time.Duration(rnd.Int64N(int64(span))))
				b := a.Add(time.Duration(rnd.Int64N(int64(3 * 24 * time.Hour))))
				if b.After(to) {
					b = to
				}
				sub, _ := dir.Shifts("s", a, b)
				var want []Shift
				for _, sh := range shifts {
					if sh.End.After(a) && sh.Start.Before(b) {
						want = append(want, sh)
					}
				}
				// Shifts that overlap the big range's edges may differ only
				// if they are cut there; they are not, so all must match.
				if len(sub) != len(want) {
					t.Fatalf("%s: [%s, %s): %d shifts, the whole range has %d there", zoneName, a, b, len(sub), len(want))
				}
				for i := range sub {
					if shiftString(sub[i]) != shiftString(want[i]) {
						t.Errorf("%s: [%s, %s): shift %s, the whole range has %s", zoneName, a, b, shiftString(sub[i]), shiftString(want[i]))
					}
				}
			}
		}
	}
}

// TestShiftsAreWhole: a range inside one shift still returns all of it.
func TestShiftsAreWhole(t *testing.T) {
	dir := load(t, oneSchedule("Europe/Berlin", busy))
	at := parseAt(t, nil, "2026-01-14T12:00:00Z") // a Wednesday noon: layer 3 all day
	shifts, err := dir.Shifts("s", at, at.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(shifts) != 1 {
		t.Fatalf("got %d shifts", len(shifts))
	}
	a, _, _ := dir.OnCall("s", at)
	sh := shifts[0]
	if sh.User != a.User || sh.Layer != 3 || !sh.Start.Before(at) || !sh.End.After(at.Add(time.Second)) {
		t.Errorf("shift %s around %s, on call %+v", shiftString(sh), at, a)
	}
}
