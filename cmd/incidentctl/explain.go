package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/incident"
)

const explainDetails = `Tells how incidentd correlated the incident through the CMDB: its root cause
and why, the business services it impacts, the CIs with alerts, each alert's
CI and why it joined (oldest first), and the merges, root-cause and priority
changes of its timeline. --output json prints these parts of the API's answer.
`

// explainKinds are the timeline events that tell the correlation story.
var explainKinds = map[string]bool{
	incident.EventIncidentMerged:          true,
	incident.EventIncidentRootCause:       true,
	incident.EventIncidentPriorityChanged: true,
}

// explanation is what incidents explain --output json prints.
type explanation struct {
	Key           string                `json:"key"`
	Title         string                `json:"title"`
	Status        incident.Status       `json:"status"`
	PriorityLabel string                `json:"priority_label"`
	Major         bool                  `json:"major"`
	RootCause     string                `json:"root_cause,omitempty"`
	MergedInto    int64                 `json:"merged_into,omitempty"`
	Correlation   *incident.Correlation `json:"correlation"`
	Alerts        []explainedAlert      `json:"alerts"`
	Events        []incident.Event      `json:"events"`
}

type explainedAlert struct {
	ID          string               `json:"id"`
	Alertname   string               `json:"alertname,omitempty"`
	Status      incident.AlertStatus `json:"status"`
	FirstSeen   time.Time            `json:"first_seen"`
	CI          string               `json:"ci,omitempty"`
	Explanation string               `json:"explanation,omitempty"`
}

// explain picks the correlation story out of an incident's detail: alerts
// oldest first, and the events that changed the correlation.
func explain(d api.IncidentDetail) explanation {
	inc := d.Incident
	if inc == nil {
		inc = &incident.Incident{}
	}
	e := explanation{
		Key: d.Key, Title: inc.Title, Status: inc.Status, PriorityLabel: d.PriorityLabel, Major: inc.Major,
		RootCause: inc.RootCause, MergedInto: inc.MergedInto, Correlation: inc.Correlation,
		Alerts: []explainedAlert{}, Events: []incident.Event{},
	}
	alerts := append([]*incident.Alert(nil), d.Alerts...)
	sort.SliceStable(alerts, func(i, j int) bool {
		a, b := alerts[i], alerts[j]
		if !a.FirstSeen.Equal(b.FirstSeen) {
			return a.FirstSeen.Before(b.FirstSeen)
		}
		return a.ID() < b.ID()
	})
	for _, a := range alerts {
		if a == nil {
			continue
		}
		e.Alerts = append(e.Alerts, explainedAlert{
			ID: a.ID(), Alertname: a.Labels["alertname"], Status: a.Status, FirstSeen: a.FirstSeen, CI: a.CI, Explanation: a.Explanation,
		})
	}
	for _, ev := range d.Timeline {
		if explainKinds[ev.Kind] {
			e.Events = append(e.Events, ev)
		}
	}
	return e
}

func (a *app) incidentsExplain(c *command, args []string) error {
	fs := a.flags(c)
	pos, err := a.operands(c, fs, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := parseID(c, fs, pos[0])
	if err != nil {
		return err
	}
	d, _, err := a.client().incident(context.Background(), id)
	if err != nil {
		return err
	}
	e := explain(d)
	if a.output == "json" {
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		return a.printJSON(b)
	}
	writeExplanation(a.stdout, e)
	return nil
}

// writeExplanation writes the correlation story of an incident.
func writeExplanation(w io.Writer, e explanation) {
	fmt.Fprintf(w, "%s: %s\n\n", clean(e.Key), clean(e.Title))
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Status", clean(string(e.Status)))
	prio := clean(e.PriorityLabel)
	if e.Major {
		prio += " (major incident)"
	}
	row("Priority", prio)
	if e.MergedInto != 0 {
		into := incident.FormatKey(e.MergedInto)
		row("Merged into", into+" (run: incidentctl incidents explain "+into+")")
	}
	corr := e.Correlation
	switch {
	case corr == nil:
		row("Root cause", "- (not correlated through the CMDB: its alerts are on no CI)")
	case e.RootCause == "":
		row("Root cause", "- (no alert of it has fired on a CI)")
	default:
		row("Root cause", clean(e.RootCause))
		row("Why", clean(corr.RootCauseReason))
	}
	tw.Flush()

	if corr != nil {
		fmt.Fprintf(w, "\nImpacted services (%d):\n", len(corr.Impacted))
		if len(corr.Impacted) > 0 {
			writeImpactTable(w, corr.Impacted)
		}
		ids := make([]string, 0, len(corr.CIs))
		for id := range corr.CIs {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool {
			a, b := corr.CIs[ids[i]], corr.CIs[ids[j]]
			if !a.FirstFiring.Equal(b.FirstFiring) {
				return a.FirstFiring.Before(b.FirstFiring)
			}
			return ids[i] < ids[j]
		})
		fmt.Fprintf(w, "\nCIs with alerts (%d):\n", len(ids))
		if len(ids) > 0 {
			tw = newTable(w)
			fmt.Fprintln(tw, "CI\tFIRING\tURGENCY\tFIRST FIRING\tROLE")
			for _, id := range ids {
				m := corr.CIs[id]
				role := "-"
				if id == e.RootCause {
					role = "root cause"
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", clean(id), m.Firing, m.Urgency, formatTime(m.FirstFiring), role)
			}
			tw.Flush()
		}
	}

	fmt.Fprintf(w, "\nAlerts (%d), oldest first:\n", len(e.Alerts))
	if len(e.Alerts) > 0 {
		tw = newTable(w)
		fmt.Fprintln(tw, "FIRST SEEN\tALERT\tNAME\tSTATUS\tCI\tEXPLANATION")
		for _, a := range e.Alerts {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", formatTime(a.FirstSeen), clean(a.ID), dash(clean(a.Alertname)),
				clean(string(a.Status)), dash(clean(a.CI)), dash(clean(a.Explanation)))
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\nCorrelation events (%d):\n", len(e.Events))
	if len(e.Events) > 0 {
		tw = newTable(w)
		fmt.Fprintln(tw, "TIME\tKIND\tMESSAGE")
		for _, ev := range e.Events {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", formatTime(ev.At), clean(ev.Kind), clean(ev.Message))
		}
		tw.Flush()
	}
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}
