// Package oncall answers who is on call: users, schedules made of
// rotating layers with restrictions and overrides, the user on call at an
// instant, the shifts between two instants, and iCalendar feeds of them.
//
// It is pure: no store, no clock, no I/O. Every answer depends only on the
// config and the instants passed in. Hand-offs and restrictions are
// wall-clock times in the schedule's zone (see docs/escalation.md for the
// exact rules, DST included).
package oncall

import (
	"errors"
	"fmt"
	"sort"
	"time"
)

// ErrNotFound is returned (wrapped) for an unknown schedule or user id.
var ErrNotFound = errors.New("not found")

// Directory answers on-call questions for one configuration. It is
// immutable, so it is safe for concurrent use; build a new one on reload.
type Directory struct {
	users       map[string]User
	userIDs     []string
	schedules   map[string]*schedule
	scheduleIDs []string
}

// Assignment is who is on call at an instant, and why.
type Assignment struct {
	User string
	// Layer is the index of the winning layer, or -1 when an override
	// wins.
	Layer    int
	Override bool
}

// Shift is a stretch of a schedule's final, layered result: one user, from
// Start until End (exclusive), because of one layer or one override.
type Shift struct {
	Schedule   string
	User       string
	Start, End time.Time // in the schedule's zone
	// Layer is the index of the layer the shift comes from, or -1 when
	// Override.
	Layer    int
	Override bool
}

// User returns the user with id.
func (d *Directory) User(id string) (User, bool) {
	u, ok := d.users[id]
	return u, ok
}

// Users returns every user, in config order.
func (d *Directory) Users() []User {
	out := make([]User, len(d.userIDs))
	for i, id := range d.userIDs {
		out[i] = d.users[id]
	}
	return out
}

// Schedules returns the schedule ids, in config order.
func (d *Directory) Schedules() []string { return append([]string(nil), d.scheduleIDs...) }

// Location returns a schedule's time zone.
func (d *Directory) Location(scheduleID string) (*time.Location, error) {
	s, err := d.schedule(scheduleID)
	if err != nil {
		return nil, err
	}
	return s.z.loc, nil
}

func (d *Directory) schedule(id string) (*schedule, error) {
	s, ok := d.schedules[id]
	if !ok {
		return nil, fmt.Errorf("schedule %q: %w", id, ErrNotFound)
	}
	return s, nil
}

// OnCall returns who is on call in the schedule at t: the user of the
// override under way, else of the last layer whose turn and restrictions
// cover t. ok is false when nobody is. It costs a few zone look-ups per
// layer, however long the schedule has been running.
func (d *Directory) OnCall(scheduleID string, t time.Time) (a Assignment, ok bool, err error) {
	s, err := d.schedule(scheduleID)
	if err != nil {
		return Assignment{}, false, err
	}
	u := t.Unix()
	if o, ok := s.overrideAt(u); ok {
		return Assignment{User: o.user, Layer: -1, Override: true}, true, nil
	}
	for i := len(s.layers) - 1; i >= 0; i-- {
		l := s.layers[i]
		k := l.turn(s.z, u)
		if k < 0 || !l.covers(s.z, u) {
			continue
		}
		return Assignment{User: l.user(k), Layer: i}, true, nil
	}
	return Assignment{}, false, nil
}

// Shifts returns the shifts of the schedule's final result that overlap
// [from, to), in order. Shifts are whole, not cut at from and to, so the
// same shift looks the same whatever range asked for it. A shift ends
// where its turn ends, where a restriction window closes, or where a
// higher layer or an override takes over; consecutive turns of the same
// user are separate shifts.
func (d *Directory) Shifts(scheduleID string, from, to time.Time) ([]Shift, error) {
	s, err := d.schedule(scheduleID)
	if err != nil {
		return nil, err
	}
	return s.shifts(from, to), nil
}

func (s *schedule) shifts(from, to time.Time) []Shift {
	ps := s.pieces(from.Unix(), ceilUnix(to))
	out := make([]Shift, len(ps))
	for i, p := range ps {
		out[i] = Shift{
			Schedule: s.id, User: p.seg.user,
			Start: s.z.time(p.start), End: s.z.time(p.end),
			Layer: p.seg.layer, Override: p.seg.layer < 0,
		}
	}
	return out
}

// UserShifts returns the user's shifts in every schedule that overlap
// [from, to), ordered by start (then schedule, in config order).
func (d *Directory) UserShifts(userID string, from, to time.Time) ([]Shift, error) {
	if _, ok := d.users[userID]; !ok {
		return nil, fmt.Errorf("user %q: %w", userID, ErrNotFound)
	}
	var out []Shift
	for _, id := range d.scheduleIDs {
		for _, sh := range d.schedules[id].shifts(from, to) {
			if sh.User == userID {
				out = append(out, sh)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out, nil
}

// ceilUnix rounds up to a whole second, so that [from, to) keeps a
// boundary that lies inside to's last second.
func ceilUnix(t time.Time) int64 {
	u := t.Unix()
	if t.Nanosecond() > 0 {
		u++
	}
	return u
}
