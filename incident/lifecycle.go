package incident

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrConflict marks a transition the incident's status does not allow.
var ErrConflict = errors.New("conflict")

// InputError is an invalid argument to Do (missing actor, empty note).
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// Action is a change a person (or automation) makes to an incident.
type Action string

// Actions on incidents.
const (
	ActionAcknowledge Action = "acknowledge"
	ActionResolve     Action = "resolve"
	ActionClose       Action = "close"
	ActionNote        Action = "note"
	// ActionHold puts an open incident on hold (waiting on a customer or
	// a vendor): the resolve SLA clock pauses. ActionResume takes it off
	// hold, back to acknowledged if it was acknowledged, else triggered.
	ActionHold   Action = "hold"
	ActionResume Action = "resume"
)

// MaxNoteBytes bounds a timeline note.
const MaxNoteBytes = 64 << 10

// Do applies action to inc at now and returns the timeline event to record.
// A transition the status does not allow returns an error wrapping
// ErrConflict; inc is then unchanged.
func Do(inc *Incident, action Action, actor, message string, now time.Time) (Event, error) {
	actor = strings.TrimSpace(actor)
	if actor == "" {
		return Event{}, &InputError{"actor is required"}
	}
	ev := Event{IncidentID: inc.ID, At: now, Actor: actor}
	conflict := func() (Event, error) {
		return Event{}, fmt.Errorf("%w: %s is %s, cannot %s", ErrConflict, inc.Key(), inc.Status, action)
	}
	switch action {
	case ActionAcknowledge:
		if inc.Status != StatusTriggered {
			return conflict()
		}
		inc.Status = StatusAcknowledged
		inc.AcknowledgedAt, inc.AcknowledgedBy = now, actor
		ev.Kind, ev.Message = EventIncidentAcknowledged, "acknowledged by "+actor
	case ActionResolve:
		if !inc.Status.Open() {
			return conflict()
		}
		inc.Status = StatusResolved
		inc.ResolvedAt, inc.ResolvedBy = now, actor
		ev.Kind, ev.Message = EventIncidentResolved, "resolved by "+actor
	case ActionHold:
		if inc.Status != StatusTriggered && inc.Status != StatusAcknowledged {
			return conflict()
		}
		inc.Status = StatusOnHold
		ev.Kind, ev.Message = EventIncidentOnHold, "put on hold by "+actor
	case ActionResume:
		if inc.Status != StatusOnHold {
			return conflict()
		}
		inc.Status = StatusTriggered
		if !inc.AcknowledgedAt.IsZero() {
			inc.Status = StatusAcknowledged
		}
		ev.Kind, ev.Message = EventIncidentResumed, "taken off hold by "+actor
	case ActionClose:
		if inc.Status != StatusResolved {
			return conflict()
		}
		inc.Status = StatusClosed
		inc.ClosedAt = now
		ev.Kind, ev.Message = EventIncidentClosed, "closed by "+actor
	case ActionNote:
		message = strings.TrimSpace(message)
		if message == "" {
			return Event{}, &InputError{"message is required"}
		}
		if len(message) > MaxNoteBytes {
			return Event{}, &InputError{fmt.Sprintf("message is %d bytes, more than %d", len(message), MaxNoteBytes)}
		}
		ev.Kind, ev.Message = EventIncidentNote, message
		return ev, nil
	default:
		return Event{}, &InputError{fmt.Sprintf("unknown action %q", action)}
	}
	if message = strings.TrimSpace(message); message != "" {
		ev.Message += ": " + message
	}
	inc.UpdatedAt = now
	return ev, nil
}

// Change is what a runbook's set step changes on an incident: a priority
// (1..5, 0 leaves it) and labels (an empty value removes the label).
type Change struct {
	Priority int
	Labels   map[string]string
}

// Set applies c to inc at now and returns the timeline events to record,
// none if nothing changed. A priority set by hand holds until the engine
// re-derives it from impact and urgency (a CI of the incident starts or
// stops firing, or a more urgent alert joins), which the timeline records.
func Set(inc *Incident, c Change, actor string, now time.Time) ([]Event, error) {
	actor = strings.TrimSpace(actor)
	if actor == "" {
		return nil, &InputError{"actor is required"}
	}
	if c.Priority != 0 && (c.Priority < 1 || c.Priority > 5) {
		return nil, &InputError{fmt.Sprintf("priority %d: want 1..5", c.Priority)}
	}
	if !inc.Status.Open() {
		return nil, fmt.Errorf("%w: %s is %s, cannot change it", ErrConflict, inc.Key(), inc.Status)
	}
	var evs []Event
	if c.Priority != 0 && c.Priority != inc.Priority {
		old := inc.Priority
		inc.Priority = c.Priority
		inc.Major = c.Priority == 1
		evs = append(evs, Event{IncidentID: inc.ID, At: now, Actor: actor, Kind: EventIncidentPriorityChanged,
			Message: fmt.Sprintf("priority %s -> %s: set by %s", PriorityLabel(old), PriorityLabel(c.Priority), actor)})
	}
	var changed []string
	for _, k := range sortedKeys(c.Labels) {
		v := c.Labels[k]
		if old, ok := inc.Labels[k]; ok && old == v || !ok && v == "" {
			continue
		}
		if inc.Labels == nil {
			inc.Labels = map[string]string{}
		}
		if v == "" {
			delete(inc.Labels, k)
			changed = append(changed, k+" removed")
		} else {
			inc.Labels[k] = v
			changed = append(changed, k+"="+v)
		}
	}
	if len(changed) > 0 {
		evs = append(evs, Event{IncidentID: inc.ID, At: now, Actor: actor, Kind: EventIncidentLabelsChanged,
			Message: "labels set by " + actor + ": " + strings.Join(changed, ", ")})
	}
	if len(evs) > 0 {
		inc.UpdatedAt = now
	}
	return evs, nil
}
