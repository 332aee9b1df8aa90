// Package problem detects ITIL problems: it consumes incident events from
// the outbox and opens a problem when incidents with the same root-cause CI
// and alertname recur, or when a major (P1) incident resolves; new
// incidents with an open problem's signature are linked to it.
package problem

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
)

// ConsumerName is the detector's outbox cursor.
const ConsumerName = "problems"

// Options tune detection.
type Options struct {
	// Recurrence incidents with one signature within Period open a problem.
	Recurrence int
	Period     time.Duration
}

// Detector handles outbox events.
type Detector struct {
	store *store.Store
	opts  atomic.Pointer[Options]
	log   *slog.Logger
}

// NewDetector returns a detector writing to st.
func NewDetector(st *store.Store, o Options, log *slog.Logger) *Detector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Detector{store: st, log: log}
	d.SetOptions(o)
	return d
}

// SetOptions changes the options (config reload).
func (d *Detector) SetOptions(o Options) { d.opts.Store(&o) }

// Handle looks at one event. It is safe to repeat: problems are keyed by
// their origin and links are unique.
func (d *Detector) Handle(ctx context.Context, ev incident.Event) error {
	switch ev.Kind {
	case incident.EventIncidentResolved:
		return d.majorResolved(ctx, ev)
	case incident.EventIncidentTriggered, incident.EventIncidentRootCause, incident.EventIncidentMerged:
		return d.recurrence(ctx, ev)
	}
	return nil
}

func (d *Detector) majorResolved(ctx context.Context, ev incident.Event) error {
	inc, err := d.store.Incident(ctx, ev.IncidentID)
	if err != nil || inc.Priority != 1 {
		return err
	}
	p := incident.Problem{
		Origin:    "p1:" + inc.Key(),
		Signature: inc.Signature,
		Title:     "Major incident " + inc.Key() + ": " + inc.Title,
		Reason:    fmt.Sprintf("P1 incident %s resolved: find its underlying cause", inc.Key()),
	}
	id, opened, err := d.store.OpenProblem(ctx, p, []int64{inc.ID}, ev.At)
	if opened {
		d.log.Info("problem opened", "problem", id, "reason", p.Reason)
	}
	return err
}

func (d *Detector) recurrence(ctx context.Context, ev incident.Event) error {
	inc, err := d.store.Incident(ctx, ev.IncidentID)
	if err != nil || inc.Signature == "" || inc.MergedInto != 0 {
		return err
	}
	if id, err := d.store.LinkToOpenProblem(ctx, inc, ev.At); err != nil || id != 0 {
		return err
	}
	o := d.opts.Load()
	ids, err := d.store.IncidentsWithSignature(ctx, inc.Signature, ev.At.Add(-o.Period))
	if err != nil || len(ids) < o.Recurrence {
		return err
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = incident.FormatKey(id)
	}
	ci, alertname, _ := strings.Cut(inc.Signature, "/")
	p := incident.Problem{
		Origin:    fmt.Sprintf("recurrence:%s:%d", inc.Signature, ids[0]),
		Signature: inc.Signature,
		Title:     fmt.Sprintf("Recurring %s on %s", alertname, ci),
		Reason:    fmt.Sprintf("%d incidents with root cause %s and alert %s within %s: %s", len(ids), ci, alertname, o.Period, strings.Join(keys, ", ")),
	}
	id, opened, err := d.store.OpenProblem(ctx, p, ids, ev.At)
	if opened {
		d.log.Info("problem opened", "problem", id, "reason", p.Reason)
	}
	return err
}
