package incident

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ProblemStatus is an ITIL problem's state.
type ProblemStatus string

// Problem statuses, in order: new -> investigating -> known_error (a
// workaround is known) -> resolved -> closed.
const (
	ProblemNew           ProblemStatus = "new"
	ProblemInvestigating ProblemStatus = "investigating"
	ProblemKnownError    ProblemStatus = "known_error"
	ProblemResolved      ProblemStatus = "resolved"
	ProblemClosed        ProblemStatus = "closed"
)

var problemOrder = []ProblemStatus{ProblemNew, ProblemInvestigating, ProblemKnownError, ProblemResolved, ProblemClosed}

func (s ProblemStatus) rank() int {
	for i, v := range problemOrder {
		if v == s {
			return i
		}
	}
	return -1
}

// Open reports whether new incidents still link to the problem.
func (s ProblemStatus) Open() bool { return s.rank() >= 0 && s.rank() < ProblemResolved.rank() }

// Problem is the underlying cause of recurring incidents.
type Problem struct {
	ID int64 `json:"id"`
	// Origin makes detection idempotent: recurrence:SIGNATURE:FIRST-INCIDENT
	// or p1:INC-n.
	Origin     string        `json:"origin"`
	Signature  string        `json:"signature"`
	Title      string        `json:"title"`
	Status     ProblemStatus `json:"status"`
	Reason     string        `json:"reason"`
	Workaround string        `json:"workaround,omitempty"`
	Runbook    string        `json:"runbook,omitempty"`
	CreatedAt  time.Time     `json:"created_at"`
	UpdatedAt  time.Time     `json:"updated_at"`
	ResolvedAt time.Time     `json:"resolved_at,omitzero"`
	ClosedAt   time.Time     `json:"closed_at,omitzero"`
}

// Key is the human problem number, e.g. PRB-7.
func (p *Problem) Key() string { return "PRB-" + strconv.FormatInt(p.ID, 10) }

// ParseProblemKey accepts "PRB-7", "prb-7" or "7".
func ParseProblemKey(s string) (int64, error) {
	n := s
	if len(s) > 4 && strings.EqualFold(s[:4], "PRB-") {
		n = s[4:]
	}
	id, err := strconv.ParseInt(n, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("invalid problem id %q: want PRB-<number> or <number>", s)
	}
	return id, nil
}

// Problem event kinds.
const (
	EventProblemOpened         = "problem.opened"
	EventProblemIncidentLinked = "problem.incident_linked"
	EventProblemStatusChanged  = "problem.status_changed"
)

// ProblemChange is a status change asked for by a person.
type ProblemChange struct {
	Status     ProblemStatus
	Actor      string
	Workaround string
	Runbook    string
	Message    string
}

// ChangeProblem applies c to p at now and returns the timeline event. Moves
// go forward (a resolved problem may go back to investigating when it
// recurs); known_error needs a workaround; closed is final.
func ChangeProblem(p *Problem, c ProblemChange, now time.Time) (Event, error) {
	if strings.TrimSpace(c.Actor) == "" {
		return Event{}, &InputError{"actor is required"}
	}
	to := c.Status
	if to.rank() < 0 {
		return Event{}, &InputError{fmt.Sprintf("unknown status %q: want one of new, investigating, known_error, resolved, closed", to)}
	}
	reopen := p.Status == ProblemResolved && to == ProblemInvestigating
	if p.Status == ProblemClosed || to.rank() <= p.Status.rank() && !reopen {
		return Event{}, fmt.Errorf("%w: %s is %s, cannot move to %s", ErrConflict, p.Key(), p.Status, to)
	}
	if c.Workaround != "" {
		p.Workaround = c.Workaround
	}
	if c.Runbook != "" {
		p.Runbook = c.Runbook
	}
	if to == ProblemKnownError && strings.TrimSpace(p.Workaround) == "" {
		return Event{}, &InputError{"known_error needs a workaround"}
	}
	msg := fmt.Sprintf("%s -> %s by %s", p.Status, to, c.Actor)
	if m := strings.TrimSpace(c.Message); m != "" {
		msg += ": " + m
	}
	p.Status = to
	p.UpdatedAt = now
	switch to {
	case ProblemResolved:
		p.ResolvedAt = now
	case ProblemClosed:
		p.ClosedAt = now
	case ProblemInvestigating:
		p.ResolvedAt = time.Time{}
	}
	return Event{ProblemID: p.ID, At: now, Actor: c.Actor, Kind: EventProblemStatusChanged, Message: msg}, nil
}
