package escalation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/notify"
	"github.com/incidentd/incidentd/outbox"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/timers"
)

// ConsumerName is the engine's outbox cursor.
const ConsumerName = "escalation"

// Timer kinds the engine handles.
const (
	KindStep       = "escalation.step"
	KindNotify     = "escalation.notify"
	KindAckTimeout = "escalation.ack_timeout"
	KindSLA        = "escalation.sla"
)

// Timeline event kinds the engine writes. sla.warning and sla.breached are
// the kinds runbooks trigger on.
const (
	EventStarted     = "escalation.started"
	EventUnrouted    = "escalation.unrouted"
	EventPaged       = "escalation.paged"
	EventHeld        = "escalation.silenced"
	EventFlapping    = "escalation.flapping"
	EventStopped     = "escalation.stopped"
	EventExhausted   = "escalation.exhausted"
	EventRetriggered = "escalation.retriggered"
	EventSent        = "notification.sent"
	EventFailed      = "notification.failed"
	EventSLAWarning  = "sla.warning"
	EventSLABreached = "sla.breached"
	// EventEscalateRequested: a runbook asked to escalate (Escalate); the
	// message says what was done, or why nothing was.
	EventEscalateRequested = "escalation.requested"
	// EventNoteRequested: a runbook sent a note (Notify): to whom, or why
	// nobody.
	EventNoteRequested = "notification.requested"
)

// States of an incident's escalation.
const (
	// StateUnrouted: no route matched; nobody is paged.
	StateUnrouted = "unrouted"
	// StateDelayed: the route's delay runs; level 0 pages when it ends if
	// the incident is still triggered.
	StateDelayed = "delayed"
	// StateActive: levels are paged in turn until someone acknowledges.
	StateActive = "active"
	// StateHeld: a silence or a CI maintenance holds the next page back.
	StateHeld = "held"
	// StateExhausted: every level and repeat was paged and nobody
	// acknowledged.
	StateExhausted = "exhausted"
	// StateFlapping: a flapping alert reopened the incident; it is not paged
	// again.
	StateFlapping     = "flapping"
	StateAcknowledged = "acknowledged"
	// StateOnHold: the incident is on hold; paging stopped.
	StateOnHold   = "on_hold"
	StateResolved = "resolved"
)

// CMDB is what the engine reads of the CMDB: CI classes and owners for
// route matchers, and maintenance.
type CMDB interface {
	Graph() *cmdb.Graph
	// Maintenance says why alerts on ci are suppressed at t, if they are.
	Maintenance(ci string, t time.Time) (why string, ok bool)
}

// Options are the engine's dependencies.
type Options struct {
	Store  *store.Store
	Timers *timers.Scheduler
	Clock  clock.Clock
	Logger *slog.Logger
	// CMDB may be nil: then routes see no ci_class or team, and no
	// maintenance holds pages back.
	CMDB CMDB
	// Windows lists maintenance windows not over yet, so that a page held
	// back by maintenance is retried when the window ends. Without it, such
	// a page is retried every MaintenanceRecheck.
	Windows func(ctx context.Context) ([]cmdb.Window, error)
	// Signer signs one-click acknowledge and resolve links; nil sends none.
	Signer *notify.Signer
	// ExternalURL is where people reach this incidentd
	// (https://incidentd.example.com); links in messages start with it.
	// Empty: messages carry no links.
	ExternalURL string
	// LinkTTL is how long one-click links work; default 12h.
	LinkTTL time.Duration
	// DeliveryRetry bounds the attempts of one notification; default 10
	// attempts, 5s doubling up to 10m.
	DeliveryRetry timers.Retry
	// PagerDutyWebhookSecrets verify PagerDuty v3 webhooks; empty refuses
	// them.
	PagerDutyWebhookSecrets []string
	Metrics                 *Metrics
}

// MaintenanceRecheck is how often a page held back by maintenance is
// retried when the end of the maintenance is not known.
const MaintenanceRecheck = 5 * time.Minute

// Engine pages people about incidents. It follows the timeline through the
// outbox and does everything that happens later through durable timers.
type Engine struct {
	opts     Options
	st       *store.Store
	clk      clock.Clock
	log      *slog.Logger
	setup    atomic.Pointer[Setup]
	consumer *outbox.Consumer
	metrics  *Metrics
}

// New returns an engine over setup and registers its timer handlers with
// opts.Timers. Start it, then Run its consumer.
func New(setup *Setup, opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Timers == nil || setup == nil {
		return nil, errors.New("escalation: New needs a store, a timer scheduler and a setup")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.LinkTTL <= 0 {
		opts.LinkTTL = 12 * time.Hour
	}
	if opts.DeliveryRetry.MaxAttempts <= 0 {
		opts.DeliveryRetry.MaxAttempts = 10
	}
	if opts.DeliveryRetry.Initial <= 0 {
		opts.DeliveryRetry.Initial = 5 * time.Second
	}
	if opts.DeliveryRetry.Max <= 0 {
		opts.DeliveryRetry.Max = 10 * time.Minute
	}
	opts.ExternalURL = strings.TrimRight(opts.ExternalURL, "/")
	e := &Engine{opts: opts, st: opts.Store, clk: opts.Clock, log: opts.Logger.With("component", "escalation"), metrics: opts.Metrics}
	e.setup.Store(setup)
	e.consumer = outbox.NewConsumer(ConsumerName, opts.Store, e.Handle, opts.Logger)
	// The engine's own consumer (Run, Drain) serves tools and tests, one
	// process at a time; the daemon runs Handle through its replica-aware
	// consumers instead.
	e.consumer.SetLease(ConsumerName+"-standalone", opts.Clock, outbox.DefaultLease)
	opts.Timers.Handle(KindStep, e.fireStep)
	opts.Timers.HandleRetry(KindNotify, opts.DeliveryRetry, e.deliver)
	opts.Timers.Handle(KindAckTimeout, e.fireAckTimeout)
	opts.Timers.Handle(KindSLA, e.fireSLA)
	return e, nil
}

// SetSetup makes s the configuration in force. Escalations under way keep
// their policy by id; a policy that disappeared stops them at their next
// step.
func (e *Engine) SetSetup(s *Setup) { e.setup.Store(s) }

// Setup returns the configuration in force.
func (e *Engine) Setup() *Setup { return e.setup.Load() }

// Signer returns the signer of one-click links (nil when links are off).
func (e *Engine) Signer() *notify.Signer { return e.opts.Signer }

// PagerDutyWebhookSecrets returns the secrets PagerDuty v3 webhooks are
// verified with (none: they are refused).
func (e *Engine) PagerDutyWebhookSecrets() []string { return e.opts.PagerDutyWebhookSecrets }

// Start prepares the engine's cursor: a store the engine has never
// followed starts after its newest event, so that enabling escalation on
// an existing database does not page for, or report SLA breaches of,
// incidents of the past.
func (e *Engine) Start(ctx context.Context) error {
	cur, err := e.st.Cursor(ctx, ConsumerName)
	if err != nil || cur != 0 {
		return err
	}
	last, err := e.st.LastEventID(ctx)
	if err != nil || last == 0 {
		return err
	}
	e.log.Info("escalation: first start on this store; incidents of the past are not paged", "after_event", last)
	return e.st.SaveCursor(ctx, ConsumerName, last)
}

// Run follows the timeline until ctx ends.
func (e *Engine) Run(ctx context.Context) { e.consumer.Run(ctx) }

// Wake wakes the engine's outbox consumer: new events have committed.
// Call it from the store's commit hook when the engine runs its own
// consumer (Run). (Notify is the runbook request, in request.go.)
func (e *Engine) Wake() { e.consumer.Notify() }

// Drain handles every pending timeline event once (tests, tools).
func (e *Engine) Drain(ctx context.Context) error { return e.consumer.Drain(ctx) }

// record is the engine's JSON in the escalation row.
type record struct {
	// History is the incident's status changes, which the SLA clocks are
	// computed from.
	History []change `json:"history,omitempty"`
	// SLAStart is when the SLA clocks started.
	SLAStart time.Time `json:"sla_start,omitzero"`
	// Reported lists the SLA thresholds already reported, as
	// kind/fraction/target.
	Reported []string `json:"reported,omitempty"`
	// Held says why the last page was held back, so it is said once.
	Held string `json:"held,omitempty"`
	// LevelAt is when the current level was paged.
	LevelAt time.Time `json:"level_at,omitzero"`
	// Requests are the keys of the latest escalation requests carried out
	// (Escalate), so that a repeated request changes nothing.
	Requests []string `json:"requests,omitempty"`
}

type change struct {
	At     time.Time       `json:"at"`
	Status incident.Status `json:"status"`
}

func decodeRecord(r *store.Escalation) (*record, error) {
	rec := &record{}
	if len(r.Data) > 0 {
		if err := json.Unmarshal(r.Data, rec); err != nil {
			return nil, fmt.Errorf("escalation of %s: stored data: %w", incident.FormatKey(r.IncidentID), err)
		}
	}
	return rec, nil
}

func (rec *record) encode(r *store.Escalation) {
	r.Data, _ = json.Marshal(rec) // plain data always marshals
}

// ownKinds are the prefixes of events the engine writes itself; they
// change no status (escalation.retriggered does, and is handled).
func ownKind(kind string) bool {
	if kind == EventRetriggered {
		return false
	}
	return strings.HasPrefix(kind, "escalation.") || strings.HasPrefix(kind, "notification.") || strings.HasPrefix(kind, "sla.")
}

// statusAfter is the incident's status once ev happened: known kinds say it
// exactly; kinds that change no status keep the last one seen; any other
// kind (a merge, or a change made by a part of incidentd the engine does
// not know, such as putting an incident on hold) takes the incident's
// current status.
func statusAfter(ev incident.Event, last incident.Status, current incident.Status) incident.Status {
	switch ev.Kind {
	case incident.EventIncidentTriggered, incident.EventIncidentReopened, EventRetriggered:
		return incident.StatusTriggered
	case incident.EventIncidentAcknowledged:
		return incident.StatusAcknowledged
	case incident.EventIncidentResolved:
		return incident.StatusResolved
	case incident.EventIncidentClosed:
		return incident.StatusClosed
	case incident.EventIncidentPriorityChanged:
		return last
	}
	if keepsStatus(ev.Kind) {
		return last
	}
	return current
}

// keepsStatus reports whether events of kind leave the incident's status,
// and so its escalation, as they are, and start nothing: the engine skips
// them without reading the store, which an alert storm's thousand events a
// second would otherwise cost.
func keepsStatus(kind string) bool {
	switch kind {
	case incident.EventIncidentRootCause, incident.EventIncidentNote:
		return true
	}
	return strings.HasPrefix(kind, "alert.") || strings.HasPrefix(kind, "problem.")
}

func startsRun(kind string) bool {
	return kind == incident.EventIncidentTriggered || kind == incident.EventIncidentReopened || kind == EventRetriggered
}

// errNoChange rolls back an UpdateEscalation that found nothing to do.
var errNoChange = errors.New("no change")

// update runs fn on the escalation row of incident id and wakes the outbox
// consumers if fn recorded events.
func (e *Engine) update(ctx context.Context, id int64, fn func(u *txn) error) error {
	now := e.clk.Now()
	var wrote bool
	err := e.st.UpdateEscalation(ctx, id, now, func(tx *sqlx.Tx, r *store.Escalation) error {
		rec, err := decodeRecord(r)
		if err != nil {
			return err
		}
		u := &txn{e: e, ctx: ctx, tx: tx, r: r, rec: rec, now: now, setup: e.Setup()}
		if err := fn(u); err != nil {
			return err
		}
		if len(u.events) > 0 {
			if err := e.st.RecordEventsTx(ctx, tx, u.events); err != nil {
				return err
			}
			wrote = true
		}
		rec.encode(r)
		return nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	if err == nil && wrote {
		e.st.Committed()
	}
	return err
}

// txn is one update of an incident's escalation: the row, the engine's
// record, and the events to write with it.
type txn struct {
	e      *Engine
	ctx    context.Context
	tx     *sqlx.Tx
	r      *store.Escalation
	rec    *record
	now    time.Time
	setup  *Setup
	events []incident.Event
}

func (u *txn) event(kind, format string, args ...any) {
	u.events = append(u.events, incident.Event{IncidentID: u.r.IncidentID, At: u.now, Actor: incident.Actor, Kind: kind, Message: fmt.Sprintf(format, args...)})
}

func (u *txn) schedule(key, kind string, due time.Time, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	_, err = u.e.st.ScheduleTimerTx(u.ctx, u.tx, store.Timer{Key: key, Kind: kind, Due: due, Payload: b}, u.now)
	return err
}

func (u *txn) cancel(prefix string) error {
	_, err := u.e.st.CancelTimersTx(u.ctx, u.tx, prefix, u.now)
	return err
}

// Timer keys. Every key of incident N starts with "esc:N:", and each group
// with its own prefix, so that a group is cancelled at once.
func stepPrefix(id int64) string { return fmt.Sprintf("esc:%d:step:", id) }
func slaPrefix(id int64) string  { return fmt.Sprintf("esc:%d:sla:", id) }

func stepKey(id int64, run, level, loop int) string {
	return fmt.Sprintf("%sr%d:l%d:o%d", stepPrefix(id), run, level, loop)
}

// Handle applies one timeline event. It is the engine's outbox handler, and
// safe to repeat: each escalation row remembers the last event applied.
func (e *Engine) Handle(ctx context.Context, ev incident.Event) error {
	if ev.IncidentID == 0 || ownKind(ev.Kind) || keepsStatus(ev.Kind) {
		return nil
	}
	existing, err := e.st.Escalation(ctx, ev.IncidentID)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if exists && existing.LastEvent >= ev.ID {
		return nil
	}
	starts := startsRun(ev.Kind)
	reprioritised := ev.Kind == incident.EventIncidentPriorityChanged
	if !starts && !reprioritised {
		// Most events (alert storms) change no status: decide without
		// reading the incident when the kind says enough.
		if !exists {
			return nil
		}
		if s := statusAfter(ev, existing.Status, ""); s != "" && s == existing.Status {
			return nil
		}
	}
	inc, err := e.st.Incident(ctx, ev.IncidentID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}
	status := statusAfter(ev, existing.Status, inc.Status)
	if !starts && (!exists || (status == existing.Status && !reprioritised)) {
		// Nothing that concerns escalation or SLAs. An incident the engine
		// never saw start (created before it ran) is left alone.
		return nil
	}
	return e.update(ctx, ev.IncidentID, func(u *txn) error {
		if u.r.LastEvent >= ev.ID {
			return errNoChange
		}
		u.r.LastEvent = ev.ID
		prev := u.r.Status
		if status != prev {
			u.rec.History = append(u.rec.History, change{At: ev.At, Status: status})
			u.r.Status = status
		}
		switch {
		case starts:
			if err := u.start(inc, ev); err != nil {
				return err
			}
		case status == incident.StatusResolved || status == incident.StatusClosed:
			if prev.Open() || prev == "" {
				if err := u.stop(inc, ev, status); err != nil {
					return err
				}
			}
		case status == incident.StatusAcknowledged || status == incident.StatusOnHold:
			if prev == incident.StatusTriggered {
				if err := u.acknowledged(inc, ev, status); err != nil {
					return err
				}
			}
		case status == incident.StatusTriggered && prev == incident.StatusOnHold && u.r.State == StateOnHold:
			// Off hold and nobody has acknowledged: page again, from
			// level 1, as after an acknowledgement that timed out.
			if err := u.start(inc, ev); err != nil {
				return err
			}
		}
		return u.updateSLA(inc, "")
	})
}

// subject is what route, silence and SLA matchers see of inc.
func (e *Engine) subject(inc *incident.Incident) incident.Subject {
	s := incident.Subject{Labels: inc.Labels, Priority: inc.Priority, CI: inc.RootCause}
	if e.opts.CMDB != nil && inc.RootCause != "" {
		if g := e.opts.CMDB.Graph(); g != nil {
			if ci, ok := g.CI(inc.RootCause); ok {
				s.CIClass, s.Team = ci.Class, ci.Owner
			}
		}
	}
	return s
}

// start begins a new run of escalation for a (re)triggered incident.
func (u *txn) start(inc *incident.Incident, ev incident.Event) error {
	id := u.r.IncidentID
	if err := u.cancel(stepPrefix(id)); err != nil {
		return err
	}
	u.rec.Held = ""
	if ev.Kind == incident.EventIncidentReopened && ev.AlertID != "" {
		flapping, name, err := u.e.alertFlapping(u.ctx, u.tx, ev.AlertID)
		if err != nil {
			return err
		}
		if flapping {
			u.r.State, u.r.NextAt = StateFlapping, time.Time{}
			u.event(EventFlapping, "not paging again: alert %s that reopened the incident is flapping", name)
			return nil
		}
	}
	if len(u.setup.Config.Routes) == 0 {
		u.r.State, u.r.Policy, u.r.Route = "", "", -1
		return nil
	}
	sub := u.e.subject(inc)
	route, idx := u.setup.Route(sub)
	if idx < 0 {
		u.r.State, u.r.Policy, u.r.Route, u.r.NextAt = StateUnrouted, "", -1, time.Time{}
		u.event(EventUnrouted, "no escalation route matches %s: nobody is paged", labelText(sub))
		return nil
	}
	u.r.Run++
	u.r.Policy, u.r.Route, u.r.Level, u.r.Loop, u.r.StartedAt = route.Policy, idx, 0, 0, u.now
	delay := time.Duration(route.Delay)
	if !startsRun(ev.Kind) || ev.Kind == EventRetriggered {
		delay = 0 // served before the acknowledgement or the hold
	}
	due := u.now.Add(delay)
	if err := u.schedule(stepKey(id, u.r.Run, 0, 0), KindStep, due, stepPayload{Incident: id, Run: u.r.Run}); err != nil {
		return err
	}
	u.r.NextAt = due
	if delay > 0 {
		u.r.State = StateDelayed
		u.event(EventStarted, "escalation policy %s (route %d): level 1 is paged in %s if the incident is still triggered then", route.Policy, idx+1, delay)
	} else {
		u.r.State = StateActive
		u.event(EventStarted, "escalation policy %s (route %d): paging level 1", route.Policy, idx+1)
	}
	return nil
}

// labelText renders a subject's label set for messages.
func labelText(s incident.Subject) string {
	ls := s.LabelSet()
	keys := make([]string, 0, len(ls))
	for k := range ls {
		keys = append(keys, k)
	}
	sortStrings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, ls[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// alertFlapping reports whether the alert occurrence id is flapping.
func (e *Engine) alertFlapping(ctx context.Context, tx sqlx.QueryerContext, id string) (bool, string, error) {
	fp, seq, err := store.ParseAlertID(id)
	if err != nil {
		return false, id, nil
	}
	alerts, err := e.st.AlertsTx(ctx, tx, store.AlertFilter{Fingerprint: fp, Limit: 1000})
	if err != nil {
		return false, id, err
	}
	for _, a := range alerts {
		if a.Seq == seq {
			name := a.Labels["alertname"]
			if name == "" {
				name = id
			}
			return a.Flapping, name, nil
		}
	}
	return false, id, nil
}

// acknowledged stops paging: the incident was acknowledged or put on hold.
func (u *txn) acknowledged(inc *incident.Incident, ev incident.Event, status incident.Status) error {
	id := u.r.IncidentID
	if err := u.cancel(stepPrefix(id)); err != nil {
		return err
	}
	paging := u.r.Policy != "" && (u.r.State == StateActive || u.r.State == StateDelayed || u.r.State == StateHeld || u.r.State == StateExhausted)
	u.r.NextAt = time.Time{}
	if status == incident.StatusOnHold {
		if paging {
			u.r.State = StateOnHold
			u.event(EventStopped, "on hold: escalation stopped at level %d", u.r.Level+1)
		}
		return nil
	}
	if u.e.metrics != nil && u.r.Run > 0 && !inc.AcknowledgedAt.IsZero() {
		from := u.r.StartedAt
		if from.IsZero() {
			from = inc.CreatedAt
		}
		u.e.metrics.timeToAck.WithLabelValues(incident.PriorityLabel(inc.Priority)).Observe(max(inc.AcknowledgedAt.Sub(from), 0).Seconds())
	}
	if !paging {
		return nil
	}
	u.r.State = StateAcknowledged
	by := inc.AcknowledgedBy
	if by == "" {
		by = ev.Actor
	}
	msg := fmt.Sprintf("acknowledged by %s: escalation stopped at level %d", by, u.r.Level+1)
	if p := u.setup.Policy(u.r.Policy); p != nil && p.AckTimeout > 0 {
		at := inc.AcknowledgedAt
		if at.IsZero() {
			at = ev.At
		}
		due := at.Add(time.Duration(p.AckTimeout))
		if err := u.schedule(fmt.Sprintf("%sr%d:acktimeout", stepPrefix(id), u.r.Run), KindAckTimeout, due, stepPayload{Incident: id, Run: u.r.Run}); err != nil {
			return err
		}
		u.r.NextAt = due
		msg += fmt.Sprintf("; it is triggered again at %s unless resolved (ack_timeout %s)", due.UTC().Format(time.RFC3339), time.Duration(p.AckTimeout))
	}
	u.event(EventStopped, "%s", msg)
	return u.follow(inc, notify.EventAcknowledge, ev.ID)
}

// stop ends escalation for a resolved or closed incident and tells
// everyone paged about it.
func (u *txn) stop(inc *incident.Incident, ev incident.Event, status incident.Status) error {
	id := u.r.IncidentID
	if err := u.cancel(stepPrefix(id)); err != nil {
		return err
	}
	if err := u.cancel(slaPrefix(id)); err != nil {
		return err
	}
	if u.e.metrics != nil && status == incident.StatusResolved && !inc.ResolvedAt.IsZero() {
		u.e.metrics.timeToResolve.WithLabelValues(incident.PriorityLabel(inc.Priority)).Observe(max(inc.ResolvedAt.Sub(inc.CreatedAt), 0).Seconds())
	}
	was := u.r.State
	u.r.NextAt = time.Time{}
	if u.r.Policy == "" || was == StateResolved {
		if was != "" && was != StateUnrouted {
			u.r.State = StateResolved
		}
		return nil
	}
	u.r.State = StateResolved
	what := "resolved"
	if status == incident.StatusClosed {
		what = "closed"
	}
	if was == StateDelayed {
		u.event(EventStopped, "%s before level 1 was paged: nobody is paged (the route's delay)", what)
		return nil
	}
	u.event(EventStopped, "%s: escalation stopped", what)
	return u.follow(inc, notify.EventResolve, ev.ID)
}

// follow sends event to every destination that a page reached: of this
// run for an acknowledgement, of any run for the resolution.
func (u *txn) follow(inc *incident.Incident, event notify.Event, eventID int64) error {
	ns, err := u.e.st.IncidentNotificationsTx(u.ctx, u.tx, u.r.IncidentID)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, n := range ns {
		// A pending page may have gone out already: a process killed between
		// sending it and recording it leaves it pending. Its person gets the
		// follow-up too; a page that never went out is cancelled at delivery.
		mayHaveGone := n.State == store.NotificationSent || n.State == store.NotificationPending
		if (n.Run != u.r.Run && event != notify.EventResolve) || !mayHaveGone || (n.Event != string(notify.EventTrigger) && n.Event != string(notify.EventEscalate)) {
			continue
		}
		dest := n.Notifier + "\x00" + n.User + "\x00" + n.Address
		if seen[dest] {
			continue
		}
		seen[dest] = true
		user := n.User
		if user == "" {
			user = "-"
		}
		key := fmt.Sprintf("%s/r%d/%s/e%d/%s/%s/%s", inc.Key(), u.r.Run, event, eventID, n.Notifier, user, n.Address)
		if err := u.notify(store.Notification{
			Key: key, IncidentID: u.r.IncidentID, Run: u.r.Run, Event: string(event), Level: n.Level, Loop: n.Loop,
			Target: n.Target, User: n.User, Notifier: n.Notifier, Address: n.Address,
		}); err != nil {
			return err
		}
	}
	return nil
}

// notify stores a pending notification and the timer that delivers it.
func (u *txn) notify(n store.Notification) error {
	_, err := u.e.addNotification(u.ctx, u.tx, n, u.now)
	return err
}

// addNotification stores n as pending, created now, with the timer that
// delivers it, in tx. A notification whose key exists changes nothing
// (created is false).
func (e *Engine) addNotification(ctx context.Context, tx *sqlx.Tx, n store.Notification, now time.Time) (created bool, err error) {
	n.CreatedAt = now
	created, err = e.st.AddNotificationTx(ctx, tx, n)
	if err != nil || !created {
		return false, err
	}
	_, err = e.st.ScheduleTimerTx(ctx, tx, store.Timer{
		Key: fmt.Sprintf("esc:%d:notify:%s", n.IncidentID, n.Key), Kind: KindNotify, Due: now, Payload: []byte(n.Key),
	}, now)
	return err == nil, err
}
