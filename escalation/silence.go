package escalation

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
)

// hold is why a page is held back, until when, and a key naming the cause
// in the timer that retries the page.
type hold struct {
	why   string
	until time.Time
	key   string
}

// hold says whether a silence or a CI maintenance holds pages of inc back
// at now.
func (e *Engine) hold(ctx context.Context, inc *incident.Incident, now time.Time) (hold, error) {
	sub := e.subject(inc)
	silences, err := e.st.Silences(ctx, now)
	if err != nil {
		return hold{}, err
	}
	var best *store.Silence
	for i := range silences {
		s := &silences[i]
		if s.StartsAt.After(now) {
			continue
		}
		ms, err := incident.ParseMatchers(s.Matchers)
		if err != nil || !ms.MatchesSubject(sub) {
			continue
		}
		if best == nil || s.EndsAt.After(best.EndsAt) {
			best = s
		}
	}
	if best != nil {
		why := fmt.Sprintf("silenced by silence %d %s", best.ID, best.Matchers)
		if best.Comment != "" {
			why += " (" + best.Comment + ")"
		}
		return hold{why: why, until: best.EndsAt, key: "s" + strconv.FormatInt(best.ID, 10)}, nil
	}
	cis := incidentCIs(inc)
	if e.opts.CMDB == nil || len(cis) == 0 {
		return hold{}, nil
	}
	why, ok := e.inMaintenance(cis, now)
	if !ok {
		return hold{}, nil
	}
	until := e.maintenanceEnd(ctx, cis, now)
	return hold{why: "in maintenance: " + why, until: until, key: "m" + strconv.FormatInt(until.Unix(), 10)}, nil
}

// incidentCIs are the CIs whose maintenance holds an incident's pages: its
// root cause, or else every CI with alerts in it.
func incidentCIs(inc *incident.Incident) []string {
	if inc.RootCause != "" {
		return []string{inc.RootCause}
	}
	if inc.Correlation == nil {
		return nil
	}
	cis := make([]string, 0, len(inc.Correlation.CIs))
	for ci := range inc.Correlation.CIs {
		cis = append(cis, ci)
	}
	sort.Strings(cis)
	return cis
}

// inMaintenance reports whether every one of cis is in maintenance at t.
func (e *Engine) inMaintenance(cis []string, t time.Time) (string, bool) {
	var whys []string
	for _, ci := range cis {
		why, ok := e.opts.CMDB.Maintenance(ci, t)
		if !ok {
			return "", false
		}
		whys = append(whys, why)
	}
	return strings.Join(whys, "; "), true
}

// maintenanceEnd is the first end of a window under way at which cis are
// out of maintenance.
func (e *Engine) maintenanceEnd(ctx context.Context, cis []string, now time.Time) time.Time {
	fallback := now.Add(MaintenanceRecheck)
	if e.opts.Windows == nil {
		return fallback
	}
	ws, err := e.opts.Windows(ctx)
	if err != nil {
		e.log.Warn("escalation: listing maintenance windows; retrying the held page later", "err", err)
		return fallback
	}
	var ends []time.Time
	for _, w := range ws {
		if w.Active(now) {
			ends = append(ends, w.End)
		}
	}
	sort.Slice(ends, func(i, j int) bool { return ends[i].Before(ends[j]) })
	for _, end := range ends {
		if _, still := e.inMaintenance(cis, end); !still {
			return end
		}
	}
	if len(ends) > 0 {
		return ends[len(ends)-1]
	}
	return fallback
}

// InputError is a request the engine refuses (a bad matcher, a silence
// that ends before it starts).
type InputError struct {
	Field, Msg string
}

func (e *InputError) Error() string { return e.Field + ": " + e.Msg }

// SilenceRequest is a silence to add.
type SilenceRequest struct {
	// Matchers is an Alertmanager matcher list over the incident's labels
	// plus priority, ci, ci_class and team.
	Matchers string
	// Start defaults to now.
	Start, End time.Time
	Comment    string
	CreatedBy  string
}

// AddSilence validates and stores a silence. Like Alertmanager, it wants at
// least one matcher that does not match the empty string, so that a silence
// cannot silence everything by accident.
func (e *Engine) AddSilence(ctx context.Context, req SilenceRequest) (store.Silence, error) {
	now := e.clk.Now()
	ms, err := incident.ParseMatchers(req.Matchers)
	if err != nil {
		return store.Silence{}, &InputError{"matchers", err.Error()}
	}
	specific := false
	for _, m := range ms {
		if !m.Matches("") {
			specific = true
		}
	}
	if !specific {
		return store.Silence{}, &InputError{"matchers", "needs at least one matcher that does not match the empty string, e.g. {team=\"shop\"}"}
	}
	if strings.TrimSpace(req.CreatedBy) == "" {
		return store.Silence{}, &InputError{"created_by", "required: who silences"}
	}
	if req.Start.IsZero() {
		req.Start = now
	}
	switch {
	case req.End.IsZero():
		return store.Silence{}, &InputError{"end", "required (RFC 3339)"}
	case !req.End.After(req.Start):
		return store.Silence{}, &InputError{"end", "must be after start"}
	case !req.End.After(now):
		return store.Silence{}, &InputError{"end", "is in the past"}
	}
	return e.st.AddSilence(ctx, store.Silence{
		Matchers: ms.String(), StartsAt: req.Start, EndsAt: req.End, Comment: strings.TrimSpace(req.Comment),
		CreatedBy: strings.TrimSpace(req.CreatedBy), CreatedAt: now,
	})
}

// Silences lists the silences not over yet, or all of them.
func (e *Engine) Silences(ctx context.Context, all bool) ([]store.Silence, error) {
	after := e.clk.Now()
	if all {
		after = time.Time{}
	}
	return e.st.Silences(ctx, after)
}

// ExpireSilence ends silence id now, and pages at once what it held back
// (if still triggered).
func (e *Engine) ExpireSilence(ctx context.Context, id int64) (store.Silence, error) {
	now := e.clk.Now()
	s, err := e.st.ExpireSilence(ctx, id, now)
	if err != nil {
		return s, err
	}
	pending, err := e.st.Timers(ctx, store.TimerFilter{Prefix: "esc:", States: []store.TimerState{store.TimerPending}, Limit: 100000})
	if err != nil {
		return s, err
	}
	suffix := ":held:s" + strconv.FormatInt(id, 10)
	for _, t := range pending {
		if t.Kind == KindStep && strings.HasSuffix(t.Key, suffix) && t.Due.After(now) {
			if _, err := e.st.RescheduleTimer(ctx, t.Key, now, nil, now); err != nil {
				return s, err
			}
		}
	}
	return s, nil
}
