package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/api"
)

func (a *app) silenceAdd(c *command, args []string) error {
	fs := a.flags(c)
	window := windowFlags(fs)
	comment := fs.String("comment", "", "why (`TEXT`), shown on the timeline of the incidents it holds back")
	pos, err := a.operands(c, fs, args, 1, -1)
	if err != nil {
		return err
	}
	actor, err := a.actingAs(c, fs)
	if err != nil {
		return err
	}
	req := api.SilenceRequest{Matchers: strings.Join(pos, ", "), Comment: *comment, CreatedBy: actor}
	if req.Start, req.End, err = window.times(c, fs, a.now()); err != nil {
		return err
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
	if printed, err := a.get("/api/v1/silences", q, &list); printed || err != nil {
		return err
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

// window holds the --start, --end and --for flags of commands that create
// a time window (silences, maintenance).
type window struct {
	start, end *string
	duration   *time.Duration
}

func windowFlags(fs *flag.FlagSet) window {
	return window{
		start:    fs.String("start", "", "when it starts, RFC 3339 `TIME` (default now)"),
		end:      fs.String("end", "", "when it ends, RFC 3339 `TIME`"),
		duration: fs.Duration("for", 0, "how long it lasts from its start (`DURATION`), instead of --end"),
	}
}

// times returns the window's start (now unless --start) and end (--end, or
// --for after the start; exactly one of them).
func (w window) times(c *command, fs *flag.FlagSet, now time.Time) (start, end time.Time, err error) {
	start = now
	if *w.start != "" {
		if start, err = time.Parse(time.RFC3339, *w.start); err != nil {
			return start, end, &usageError{"--start: " + strconv.Quote(*w.start) + " is not an RFC 3339 time", c.usage(fs)}
		}
	}
	switch {
	case *w.end != "" && *w.duration != 0:
		return start, end, &usageError{"give --end or --for, not both", c.usage(fs)}
	case *w.end != "":
		if end, err = time.Parse(time.RFC3339, *w.end); err != nil {
			return start, end, &usageError{"--end: " + strconv.Quote(*w.end) + " is not an RFC 3339 time", c.usage(fs)}
		}
	case *w.duration > 0:
		end = start.Add(*w.duration)
	default:
		return start, end, &usageError{"missing --end or --for", c.usage(fs)}
	}
	return start, end, nil
}
