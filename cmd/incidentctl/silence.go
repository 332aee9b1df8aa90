package main

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/api"
)

func (a *app) silenceAdd(c *command, args []string) error {
	fs := a.flags(c)
	start := fs.String("start", "", "when it starts, RFC 3339 `TIME` (default now)")
	end := fs.String("end", "", "when it ends, RFC 3339 `TIME`")
	duration := fs.Duration("for", 0, "how long it lasts from its start (`DURATION`), instead of --end")
	comment := fs.String("comment", "", "why (`TEXT`), shown on the timeline of the incidents it holds back")
	pos, err := a.operands(c, fs, args, 1, -1)
	if err != nil {
		return err
	}
	req := api.SilenceRequest{Matchers: strings.Join(pos, ", "), Comment: *comment, CreatedBy: strings.TrimSpace(a.actor)}
	if req.CreatedBy == "" {
		return &usageError{"no actor: set --actor or INCIDENTD_ACTOR", c.usage(fs)}
	}
	if *start != "" {
		if req.Start, err = time.Parse(time.RFC3339, *start); err != nil {
			return &usageError{"--start: " + strconv.Quote(*start) + " is not an RFC 3339 time", c.usage(fs)}
		}
	}
	switch {
	case *end != "" && *duration != 0:
		return &usageError{"give --end or --for, not both", c.usage(fs)}
	case *end != "":
		if req.End, err = time.Parse(time.RFC3339, *end); err != nil {
			return &usageError{"--end: " + strconv.Quote(*end) + " is not an RFC 3339 time", c.usage(fs)}
		}
	case *duration > 0:
		req.Duration = duration.String()
	default:
		return &usageError{"missing --end or --for", c.usage(fs)}
	}
	var s api.SilenceView
	raw, err := a.client().do(context.Background(), "POST", "/api/v1/silences", nil, req, &s)
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printJSON(raw)
	}
	fmt.Fprintf(a.stdout, "silence %d: %s until %s\n", s.ID, clean(s.Matchers), formatTime(s.EndsAt))
	return nil
}

func (a *app) silenceList(c *command, args []string) error {
	fs := a.flags(c)
	all := fs.Bool("all", false, "list expired silences too")
	if _, err := a.operands(c, fs, args, 0, 0); err != nil {
		return err
	}
	q := url.Values{}
	if *all {
		q.Set("all", "true")
	}
	var list api.SilenceList
	raw, err := a.client().do(context.Background(), "GET", "/api/v1/silences", q, nil, &list)
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printJSON(raw)
	}
	if len(list.Silences) == 0 {
		fmt.Fprintln(a.stdout, "No silences.")
		return nil
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "ID\tSTATE\tMATCHERS\tSTART\tEND\tBY\tCOMMENT")
	for _, s := range list.Silences {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.State, clean(s.Matchers), formatTime(s.StartsAt), formatTime(s.EndsAt), clean(s.CreatedBy), clean(s.Comment))
	}
	return tw.Flush()
}

func (a *app) silenceExpire(c *command, args []string) error {
	fs := a.flags(c)
	pos, err := a.operands(c, fs, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id < 1 {
		return &usageError{"not a silence id: " + strconv.Quote(pos[0]), c.usage(fs)}
	}
	var s api.SilenceView
	raw, err := a.client().do(context.Background(), "DELETE", "/api/v1/silences/"+strconv.FormatInt(id, 10), nil, nil, &s)
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printJSON(raw)
	}
	fmt.Fprintf(a.stdout, "silence %d expired\n", s.ID)
	return nil
}
