package main

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/incident"
)

func (a *app) problemsList(c *command, args []string) error {
	fs := a.flags(c)
	status := fs.String("status", "", "list only problems whose status is one of `S,...` (open, new, investigating, known_error, resolved, closed)")
	limit := limitFlag(fs, "problems")
	if _, err := a.operands(c, fs, args, 0, 0); err != nil {
		return err
	}
	q := url.Values{}
	if err := checkLimit(c, fs, *limit, q); err != nil {
		return err
	}
	if *status != "" {
		q.Set("status", *status)
	}
	var list api.ProblemList
	if printed, err := a.get("/api/v1/problems", q, &list); printed || err != nil {
		return err
	}
	if len(list.Problems) == 0 {
		fmt.Fprintln(a.stdout, "No problems.")
		return nil
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "KEY\tSTATUS\tAGE\tTITLE")
	for _, p := range list.Problems {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Key, p.Status, formatAge(a.now().Sub(p.CreatedAt)), clean(p.Title))
	}
	return tw.Flush()
}

func (a *app) problemsShow(c *command, args []string) error {
	fs := a.flags(c)
	pos, err := a.operands(c, fs, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := incident.ParseProblemKey(pos[0])
	if err != nil {
		return &usageError{err.Error(), c.usage(fs)}
	}
	var p api.ProblemDetail
	if printed, err := a.get("/api/v1/problems/"+strconv.FormatInt(id, 10), nil, &p); printed || err != nil {
		return err
	}
	w := a.stdout
	fmt.Fprintf(w, "%s  %s\n", p.Key, clean(p.Title))
	fmt.Fprintf(w, "Status:     %s\n", p.Status)
	fmt.Fprintf(w, "Signature:  %s\n", p.Signature)
	fmt.Fprintf(w, "Opened:     %s (%s)\n", formatTime(p.CreatedAt), clean(p.Reason))
	if p.Workaround != "" {
		fmt.Fprintf(w, "Workaround: %s\n", clean(p.Workaround))
	}
	if p.Runbook != "" {
		fmt.Fprintf(w, "Runbook:    %s\n", p.Runbook)
	}
	fmt.Fprintf(w, "Incidents:  %s\n", strings.Join(p.Incidents, ", "))
	fmt.Fprintln(w, "\nTimeline:")
	tw := newTable(w)
	for _, ev := range p.Timeline {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", formatTime(ev.At), ev.Actor, ev.Kind, clean(ev.Message))
	}
	return tw.Flush()
}

func (a *app) problemsStatus(c *command, args []string) error {
	fs := a.flags(c)
	workaround := fs.String("workaround", "", "the workaround `TEXT` (required for known_error)")
	runbook := fs.String("runbook", "", "the runbook `NAME` that applies the workaround")
	message := fs.String("message", "", "add message `M` to the timeline event")
	pos, err := a.operands(c, fs, args, 2, 2)
	if err != nil {
		return err
	}
	id, err := incident.ParseProblemKey(pos[0])
	if err != nil {
		return &usageError{err.Error(), c.usage(fs)}
	}
	actor, err := a.actingAs(c, fs)
	if err != nil {
		return err
	}
	req := api.ProblemStatusRequest{Status: incident.ProblemStatus(pos[1]), Actor: actor, Workaround: *workaround, Runbook: *runbook, Message: *message}
	var res struct {
		Problem api.ProblemView `json:"problem"`
		Event   incident.Event  `json:"event"`
	}
	raw, err := a.client().do(context.Background(), "POST", "/api/v1/problems/"+strconv.FormatInt(id, 10)+"/status", nil, req, &res)
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printJSON(raw)
	}
	fmt.Fprintf(a.stdout, "%s %s\n", res.Problem.Key, clean(res.Event.Message))
	return nil
}

func (a *app) maintenanceList(c *command, args []string) error {
	fs := a.flags(c)
	if _, err := a.operands(c, fs, args, 0, 0); err != nil {
		return err
	}
	var list api.MaintenanceList
	if printed, err := a.get("/api/v1/maintenance", nil, &list); printed || err != nil {
		return err
	}
	if len(list.Windows) == 0 {
		fmt.Fprintln(a.stdout, "No maintenance windows.")
		return nil
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "ID\tCI\tSTART\tEND\tSOURCE\tREASON")
	for _, w := range list.Windows {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", w.ID, clean(w.CI), formatTime(w.Start), formatTime(w.End), w.Source, clean(w.Reason))
	}
	return tw.Flush()
}

func (a *app) maintenanceAdd(c *command, args []string) error {
	fs := a.flags(c)
	window := windowFlags(fs)
	reason := fs.String("reason", "", "why (`TEXT`), shown on suppressed alerts")
	pos, err := a.operands(c, fs, args, 1, 1)
	if err != nil {
		return err
	}
	actor, err := a.actingAs(c, fs)
	if err != nil {
		return err
	}
	req := api.MaintenanceRequest{CI: pos[0], Reason: *reason, Actor: actor}
	if req.Start, req.End, err = window.times(c, fs, a.now()); err != nil {
		return err
	}
	var w struct{ ID int64 }
	raw, err := a.client().do(context.Background(), "POST", "/api/v1/maintenance", nil, req, &w)
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printJSON(raw)
	}
	fmt.Fprintf(a.stdout, "maintenance window %d: %s until %s\n", w.ID, req.CI, formatTime(req.End))
	return nil
}

func (a *app) maintenanceDelete(c *command, args []string) error {
	fs := a.flags(c)
	pos, err := a.operands(c, fs, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id < 1 {
		return &usageError{"not a maintenance window id: " + strconv.Quote(pos[0]), c.usage(fs)}
	}
	if _, err := a.client().do(context.Background(), "DELETE", "/api/v1/maintenance/"+pos[0], nil, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "maintenance window %d deleted\n", id)
	return nil
}
