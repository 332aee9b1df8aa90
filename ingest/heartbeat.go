package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/incidentd/incidentd/clock"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
	"github.com/incidentd/incidentd/timers"
)

// HeartbeatTimerKind is the durable timer that fires when a heartbeat's
// interval passes without a ping.
const HeartbeatTimerKind = "heartbeat.missed"

// HeartbeatAlertName is the alertname of a missing heartbeat's alert.
const HeartbeatAlertName = "HeartbeatMissing"

// Heartbeats watches the heartbeat integrations. Each has one pending
// durable timer (key heartbeat:<name>:<armed at>) due an interval after
// the last ping; a ping moves it, and when it fires a HeartbeatMissing alert
// goes through the committer like any other. The next ping resolves the
// alert and arms a new timer. Timers live in the store, so a restart
// neither forgets a deadline nor misses one that passed while it was down.
type Heartbeats struct {
	st        *store.Store
	committer atomic.Pointer[Committer]
	clock     clock.Clock
	log       *slog.Logger

	// mu serialises pings and firings within this process, so that a
	// ping racing its own deadline either moves the timer first (the
	// firing sees that and does nothing) or resolves what the firing
	// opened.
	mu      sync.Mutex
	configs map[string]Integration
}

// NewHeartbeats watches heartbeats in st; Fire is the handler of
// HeartbeatTimerKind. It submits alerts once SetCommitter has been called.
func NewHeartbeats(st *store.Store, clk clock.Clock, log *slog.Logger) *Heartbeats {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Heartbeats{st: st, clock: clk, log: log, configs: map[string]Integration{}}
}

// SetCommitter sets where heartbeat alerts are committed.
func (hb *Heartbeats) SetCommitter(c *Committer) { hb.committer.Store(c) }

func heartbeatPrefix(name string) string { return "heartbeat:" + name + ":" }

// heartbeatFingerprint stays the same when the heartbeat's configured
// labels change, so that a resolution finds the alert a firing opened.
func heartbeatFingerprint(name string) string {
	return incident.Fingerprint(map[string]string{"alertname": HeartbeatAlertName, "heartbeat": name})
}

// SetConfig takes the heartbeats of list (start and reload): each one
// without a pending timer gets one, due an interval from now, so that a
// heartbeat that never pings still raises its alert; the timers of
// heartbeats no longer configured are cancelled.
func (hb *Heartbeats) SetConfig(ctx context.Context, list Integrations) error {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	configs := map[string]Integration{}
	for _, in := range list {
		if in.Type == TypeHeartbeat {
			configs[in.Name] = in
		}
	}
	now := hb.clock.Now()
	var errs []error
	for name := range hb.configs {
		if _, still := configs[name]; !still {
			if _, err := hb.st.CancelTimers(ctx, heartbeatPrefix(name), now); err != nil {
				errs = append(errs, err)
			}
		}
	}
	hb.configs = configs
	for name, in := range configs {
		if err := hb.arm(ctx, name, now.Add(time.Duration(in.Interval)), now, false); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// arm makes sure the heartbeat has a pending timer; with move, an existing
// one is moved to due.
func (hb *Heartbeats) arm(ctx context.Context, name string, due, now time.Time, move bool) error {
	pending, err := hb.st.Timers(ctx, store.TimerFilter{Prefix: heartbeatPrefix(name), States: []store.TimerState{store.TimerPending}})
	if err != nil {
		return err
	}
	if len(pending) > 0 {
		if !move {
			return nil
		}
		for _, t := range pending {
			if _, err := hb.st.RescheduleTimer(ctx, t.Key, due, nil, now); err != nil {
				return err
			}
		}
		return nil
	}
	_, err = hb.st.ScheduleTimer(ctx, store.Timer{
		Key: heartbeatPrefix(name) + strconv.FormatInt(now.UnixNano(), 10), Kind: HeartbeatTimerKind, Due: due, Payload: []byte(name),
	}, now)
	return err
}

// Ping records that heartbeat name was seen: it resolves its alert if one
// is firing and moves its deadline an interval from now. Both are durable
// when it returns nil.
func (hb *Heartbeats) Ping(ctx context.Context, name string) error {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	in, ok := hb.configs[name]
	if !ok {
		return badf("name", "no heartbeat named %q is configured", name)
	}
	now := hb.clock.Now()
	firing, err := hb.st.Alerts(ctx, store.AlertFilter{Fingerprint: heartbeatFingerprint(name), Status: incident.AlertFiring, Limit: 1})
	if err != nil {
		return err
	}
	if len(firing) > 0 {
		a := hb.alert(in, incident.AlertResolved, now)
		a.EndsAt = now
		if err := hb.submit(ctx, a); err != nil {
			return err
		}
		hb.log.Info("heartbeat back: alert resolved", "heartbeat", name)
	}
	return hb.arm(ctx, name, now.Add(time.Duration(in.Interval)), now, true)
}

// Fire handles HeartbeatTimerKind: the interval passed without a ping.
func (hb *Heartbeats) Fire(ctx context.Context, t timers.Timer) error {
	hb.mu.Lock()
	defer hb.mu.Unlock()
	name := string(t.Payload)
	in, ok := hb.configs[name]
	if !ok {
		return nil // no longer configured
	}
	cur, err := hb.st.Timer(ctx, t.Key)
	if err != nil {
		return err
	}
	if cur.State != store.TimerPending || cur.Due.After(t.Due) {
		return nil // a ping moved the deadline while this firing waited
	}
	hb.log.Warn("heartbeat missing: alert firing", "heartbeat", name, "interval", in.Interval.String())
	return hb.submit(ctx, hb.alert(in, incident.AlertFiring, t.Due))
}

func (hb *Heartbeats) submit(ctx context.Context, a incident.AlertInput) error {
	c := hb.committer.Load()
	if c == nil {
		return errors.New("ingest is not running yet")
	}
	return c.Submit(ctx, TypeHeartbeat, []incident.AlertInput{a})
}

// alert is the heartbeat's HeartbeatMissing alert; a firing one starts at
// the missed deadline.
func (hb *Heartbeats) alert(in Integration, status incident.AlertStatus, at time.Time) incident.AlertInput {
	labels := maps.Clone(in.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels["alertname"] = HeartbeatAlertName
	labels["heartbeat"] = in.Name
	a := incident.AlertInput{
		Fingerprint: heartbeatFingerprint(in.Name),
		Source:      in.Name,
		Status:      status,
		Labels:      labels,
		Annotations: map[string]string{
			"summary":     fmt.Sprintf("Heartbeat %s not seen for %s", in.Name, in.Interval),
			"description": fmt.Sprintf("No ping reached /api/v1/heartbeats/%s within its interval of %s.", in.Name, in.Interval),
		},
	}
	if status == incident.AlertFiring {
		a.StartsAt = at
	}
	return a
}
