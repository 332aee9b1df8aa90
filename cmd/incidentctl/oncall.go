package main

import (
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/incidentd/incidentd/api"
)

func (a *app) oncall(c *command, args []string) error {
	fs := a.flags(c)
	schedule := fs.String("schedule", "", "only schedule `S` (default: every schedule)")
	at := fs.String("at", "", "who is on call at RFC 3339 `TIME` (default now)")
	if _, err := a.operands(c, fs, args, 0, 0); err != nil {
		return err
	}
	q := url.Values{}
	if *schedule != "" {
		q.Set("schedule", *schedule)
	}
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return &usageError{"--at: " + strconv.Quote(*at) + " is not an RFC 3339 time", c.usage(fs)}
		}
		q.Set("at", t.Format(time.RFC3339))
	}
	var list api.OnCallList
	if printed, err := a.get("/api/v1/oncall", q, &list); printed || err != nil {
		return err
	}
	if len(list.OnCall) == 0 {
		fmt.Fprintln(a.stdout, "No schedules.")
		return nil
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "SCHEDULE\tON CALL\tSINCE\tUNTIL\tBECAUSE OF")
	for _, e := range list.OnCall {
		if e.User == "" {
			fmt.Fprintf(tw, "%s\t(nobody)\t-\t-\t-\n", clean(e.Schedule))
			continue
		}
		who := e.User
		if e.Name != "" && e.Name != e.User {
			who += " (" + e.Name + ")"
		}
		why := "layer " + strconv.Itoa(e.Layer)
		if e.Override {
			why = "override"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", clean(e.Schedule), clean(who), formatTime(e.Since), formatTime(e.Until), why)
	}
	return tw.Flush()
}
