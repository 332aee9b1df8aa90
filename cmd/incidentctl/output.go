package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/incident"
)

const timeLayout = "2006-01-02 15:04:05 MST"

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// writeIncidentTable writes incidents as an aligned table.
func writeIncidentTable(w io.Writer, incs []api.IncidentView, now time.Time) {
	tw := newTable(w)
	fmt.Fprintln(tw, "KEY\tPRIORITY\tSTATUS\tALERTS\tAGE\tTITLE")
	for _, v := range incs {
		if v.Incident == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d\t%s\t%s\n",
			clean(v.Key), clean(v.PriorityLabel), clean(string(v.Status)),
			v.FiringCount, v.AlertCount, formatAge(now.Sub(v.CreatedAt)), clean(v.Title))
	}
	tw.Flush()
}

// writeIncident writes an incident's header, its alerts and its timeline.
func writeIncident(w io.Writer, d api.IncidentDetail, now time.Time) {
	inc := d.Incident
	if inc == nil {
		inc = &incident.Incident{}
	}
	fmt.Fprintf(w, "%s: %s\n\n", clean(d.Key), clean(inc.Title))
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Status", clean(string(inc.Status)))
	row("Priority", fmt.Sprintf("%s (urgency %d, impact %d)", clean(d.PriorityLabel), inc.Urgency, inc.Impact))
	row("Alerts", fmt.Sprintf("%d firing / %d total", inc.FiringCount, inc.AlertCount))
	row("Created", when(inc.CreatedAt, now))
	row("Last alert", when(inc.LastAlertAt, now))
	if !inc.AcknowledgedAt.IsZero() {
		row("Acknowledged", when(inc.AcknowledgedAt, now)+" by "+clean(inc.AcknowledgedBy))
	}
	if !inc.ResolvedAt.IsZero() {
		by := ""
		if inc.ResolvedBy != "" {
			by = " by " + clean(inc.ResolvedBy)
		}
		row("Resolved", when(inc.ResolvedAt, now)+by)
	}
	if !inc.ClosedAt.IsZero() {
		row("Closed", when(inc.ClosedAt, now))
	}
	row("Labels", formatLabels(inc.Labels, nil))
	row("Group key", clean(inc.GroupKey))
	tw.Flush()

	fmt.Fprintf(w, "\nAlerts (%d):\n", len(d.Alerts))
	if len(d.Alerts) > 0 {
		tw = newTable(w)
		fmt.Fprintln(tw, "ALERT\tSTATUS\tSINCE\tLABELS")
		for _, a := range d.Alerts {
			// The incident's labels are shown above; show what sets each
			// alert apart.
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", clean(a.ID()), alertStatus(a), formatAge(now.Sub(a.FirstSeen)), formatLabels(a.Labels, inc.Labels))
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\nTimeline (%d):\n", len(d.Timeline))
	if len(d.Timeline) > 0 {
		tw = newTable(w)
		fmt.Fprintln(tw, "TIME\tACTOR\tKIND\tMESSAGE")
		for _, e := range d.Timeline {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", formatTime(e.At), clean(e.Actor), clean(e.Kind), clean(e.Message))
		}
		tw.Flush()
	}
}

// writeAlertTable writes alert occurrences as an aligned table.
func writeAlertTable(w io.Writer, alerts []*incident.Alert, now time.Time) {
	tw := newTable(w)
	fmt.Fprintln(tw, "ALERT\tSTATUS\tINCIDENT\tAGE\tLABELS")
	for _, a := range alerts {
		if a == nil {
			continue
		}
		inc := "-"
		if a.IncidentID > 0 {
			inc = incident.FormatKey(a.IncidentID)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", clean(a.ID()), alertStatus(a), inc, formatAge(now.Sub(a.FirstSeen)), formatLabels(a.Labels, nil))
	}
	tw.Flush()
}

// writeActionResult confirms an action.
func writeActionResult(w io.Writer, action incident.Action, r api.ActionResult) {
	if action == incident.ActionNote {
		fmt.Fprintf(w, "%s: note added by %s\n", clean(r.Incident.Key), clean(r.Event.Actor))
		return
	}
	// The event says what happened: "acknowledged by alice: looking".
	fmt.Fprintf(w, "%s %s\n", clean(r.Incident.Key), clean(r.Event.Message))
}

func alertStatus(a *incident.Alert) string {
	s := clean(string(a.Status))
	if a.Flapping {
		s += ",flapping"
	}
	if !a.Current {
		s += ",superseded"
	}
	return s
}

// formatLabels renders labels as name=value, alertname first, then by name.
// Labels equal in omit are left out, but for alertname.
func formatLabels(labels, omit map[string]string) string {
	names := make([]string, 0, len(labels))
	for k, v := range labels {
		if k != "alertname" {
			if ov, ok := omit[k]; ok && ov == v {
				continue
			}
		}
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "alertname") != (names[j] == "alertname") {
			return names[i] == "alertname"
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, k := range names {
		v := labels[k]
		if v == "" || strings.IndexFunc(v, func(r rune) bool { return unicode.IsSpace(r) || r == '"' || !unicode.IsPrint(r) }) >= 0 {
			v = strconv.Quote(v)
		}
		parts[i] = clean(k) + "=" + clean(v)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

// formatAge renders a duration the way ps and kubectl do: 45s, 12m, 5h, 3d.
func formatAge(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	default:
		return strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(timeLayout)
}

func when(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return formatTime(t) + " (" + formatAge(now.Sub(t)) + " ago)"
}

// clean makes text from the server safe for a one-line table cell: control
// characters (tabs, newlines, terminal escapes) become spaces.
func clean(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
