package escalation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/timers"
)

// LinkPath is the API path of one-click acknowledge and resolve links.
const LinkPath = "/api/v1/link"

// errRateLimited defers a notification to its reserved rate-limit slot.
var errRateLimited = errors.New("deferred by the notifier's rate limit")

// deliver sends one notification: the handler of KindNotify timers. It is
// retried with backoff (Options.DeliveryRetry); a permanent failure, or the
// last attempt's, is recorded on the timeline.
func (e *Engine) deliver(ctx context.Context, t timers.Timer) error {
	key := string(t.Payload)
	n, err := e.st.Notification(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if n.State != store.NotificationPending {
		return nil // an earlier attempt finished it
	}
	inc, err := e.st.Incident(ctx, n.IncidentID)
	if err != nil {
		return err
	}
	now := e.clk.Now()
	n.Attempts = t.Attempts
	if page := n.Event == string(notify.EventTrigger) || n.Event == string(notify.EventEscalate); page && inc.Status != incident.StatusTriggered {
		// The incident moved on while the page waited: do not page for it.
		n.State, n.LastError = store.NotificationCancelled, "not sent: the incident is "+string(inc.Status)
		_, err := e.st.UpdateNotification(ctx, n, now)
		return err
	}
	nf, ok := e.Setup().Notifiers.Get(n.Notifier)
	if !ok {
		return e.failed(ctx, n, now, fmt.Errorf("notifier %q is no longer configured", n.Notifier))
	}
	if n.ReservedAt.IsZero() {
		if wait := nf.Reserve(); wait > 0 {
			// The token for this send is ours at now+wait: come back then.
			n.ReservedAt = now.Add(wait)
			if _, err := e.st.UpdateNotification(ctx, n, now); err != nil {
				return err
			}
			return timers.RetryAt(n.ReservedAt, errRateLimited)
		}
	}
	n.ReservedAt = time.Time{}
	err = nf.Send(ctx, e.message(inc, n, now))
	switch {
	case err == nil:
		n.State, n.SentAt, n.LastError = store.NotificationSent, now, ""
		if ok, err := e.st.UpdateNotification(ctx, n, now); err != nil || !ok {
			return err
		}
		return e.record(ctx, incident.Event{IncidentID: n.IncidentID, At: now, Actor: incident.Actor, Kind: EventSent,
			Message: fmt.Sprintf("%s sent to %s", n.Event, destination(n))})
	case ctx.Err() != nil:
		return err // stopping: the timer is handed back
	case notify.IsPermanent(err) || t.Attempts >= e.opts.DeliveryRetry.MaxAttempts:
		return e.failed(ctx, n, now, err)
	}
	n.LastError = err.Error()
	if _, uerr := e.st.UpdateNotification(ctx, n, now); uerr != nil {
		return uerr
	}
	if after, ok := notify.RetryAfter(err); ok {
		return timers.RetryAt(now.Add(after), err)
	}
	return err
}

// failed records a notification that will not be delivered, and fails its
// timer so that it stays visible there too.
func (e *Engine) failed(ctx context.Context, n store.Notification, now time.Time, cause error) error {
	n.State, n.LastError = store.NotificationFailed, cause.Error()
	ok, err := e.st.UpdateNotification(ctx, n, now)
	if err != nil {
		return err
	}
	if ok {
		tries := "1 attempt"
		if n.Attempts > 1 {
			tries = fmt.Sprintf("%d attempts", n.Attempts)
		}
		if err := e.record(ctx, incident.Event{IncidentID: n.IncidentID, At: now, Actor: incident.Actor, Kind: EventFailed,
			Message: fmt.Sprintf("%s to %s failed after %s: %v", n.Event, destination(n), tries, cause)}); err != nil {
			return err
		}
	}
	return timers.Permanent(cause)
}

func (e *Engine) record(ctx context.Context, evs ...incident.Event) error {
	return e.st.RecordEvents(ctx, evs)
}

// destination names a notification's destination for the timeline.
func destination(n store.Notification) string {
	s := n.Notifier
	if n.Address != "" {
		s += " " + n.Address
	}
	if n.User != "" {
		return n.User + " by " + s
	}
	return s
}

// message builds what the notifier sends.
func (e *Engine) message(inc *incident.Incident, n store.Notification, now time.Time) notify.Message {
	m := notify.Message{
		ID: n.Key, Event: notify.Event(n.Event), IncidentID: inc.Key(), Title: inc.Title,
		Priority: incident.PriorityLabel(inc.Priority), Status: string(inc.Status), RootCause: inc.RootCause,
		Labels: inc.Labels, Recipient: notify.Recipient{User: n.User, To: n.Address},
		Level: n.Level, Loop: n.Loop, Time: n.CreatedAt, Text: n.Text,
	}
	if inc.Correlation != nil {
		for _, im := range inc.Correlation.Impacted {
			name := im.Name
			if name == "" {
				name = im.CI
			}
			m.ImpactedServices = append(m.ImpactedServices, name)
		}
	}
	if e.opts.ExternalURL == "" {
		return m
	}
	m.URL = e.opts.ExternalURL + "/api/v1/incidents/" + inc.Key()
	if e.opts.Signer == nil || !inc.Status.Open() {
		return m
	}
	expiry := now.Add(e.opts.LinkTTL)
	subject := LinkSubject(inc.Key(), n.User)
	if inc.Status == incident.StatusTriggered {
		m.AckURL = e.opts.Signer.Link(e.opts.ExternalURL+LinkPath, subject, notify.ActionAcknowledge, expiry)
	}
	m.ResolveURL = e.opts.Signer.Link(e.opts.ExternalURL+LinkPath, subject, notify.ActionResolve, expiry)
	return m
}

// LinkSubject is what a one-click link's token names: the incident and,
// when a person was paged, who, so that the action is theirs.
func LinkSubject(incidentKey, user string) string {
	if user == "" {
		return incidentKey
	}
	return incidentKey + " " + user
}

// ParseLinkSubject splits what LinkSubject joined.
func ParseLinkSubject(s string) (incidentKey, user string) {
	incidentKey, user, _ = strings.Cut(s, " ")
	return incidentKey, user
}
