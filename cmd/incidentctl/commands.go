package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/config"
	"github.com/incidentd/incidentd/incident"
)

// Defaults of the global flags when neither flag nor environment sets them.
const (
	defaultURL     = "http://localhost:9095"
	defaultTimeout = 10 * time.Second
	defaultActor   = "incidentctl"
)

// app is one run of incidentctl.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	now            func() time.Time

	// Global flags.
	url     string
	output  string
	timeout time.Duration
	token   string
	actor   string
	// actorGiven is set when --actor or INCIDENTD_ACTOR named the actor
	// (not the $USER default).
	actorGiven bool
	caFile     string
	insecure   bool
}

// command is one subcommand.
type command struct {
	path     string // "incidents list"
	operands string // "ID MESSAGE"
	flags    string // "[--message M]"
	summary  string
	details  string   // more help, shown by COMMAND --help
	outputs  []string // the --output formats it takes; default text, json
	run      func(a *app, c *command, args []string) error
}

var commands = []*command{
	{path: "check-config", operands: "FILE...", summary: "Validate configuration files offline.", run: (*app).checkConfig},
	{path: "incidents list", flags: "[--status S,...] [--priority P,...] [--limit N] [--all]", summary: "List incidents, newest first.", run: (*app).incidentsList},
	{path: "incidents show", operands: "ID", summary: "Show an incident, its alerts and its timeline.", run: (*app).incidentsShow},
	{path: "incidents explain", operands: "ID", summary: "Explain an incident's correlation: root cause, impacted services, why each alert joined.", details: explainDetails, run: (*app).incidentsExplain},
	{path: "incidents ack", operands: "ID", flags: "[--message M]", summary: "Acknowledge a triggered incident.", run: actCommand(incident.ActionAcknowledge, "acknowledge")},
	{path: "incidents resolve", operands: "ID", flags: "[--message M]", summary: "Resolve an open incident.", run: actCommand(incident.ActionResolve, "resolve")},
	{path: "incidents close", operands: "ID", flags: "[--message M]", summary: "Close a resolved incident.", run: actCommand(incident.ActionClose, "close")},
	{path: "incidents hold", operands: "ID", flags: "[--message M]", summary: "Put an open incident on hold (the resolve SLA clock pauses).", run: actCommand(incident.ActionHold, "hold")},
	{path: "incidents resume", operands: "ID", flags: "[--message M]", summary: "Take an incident off hold.", run: actCommand(incident.ActionResume, "resume")},
	{path: "incidents note", operands: "ID MESSAGE", summary: "Add a note to an incident's timeline.", run: actCommand(incident.ActionNote, "notes")},
	{path: "alerts list", flags: "[--status firing|resolved] [--fingerprint F] [--limit N] [--all]", summary: "List alerts: current occurrences, or every occurrence of --fingerprint.", run: (*app).alertsList},
	{path: "cmdb import", operands: "FILE...", flags: "[--csv] [--patch] [--dry-run]", summary: "Validate CMDB files (YAML or JSON; --csv: CIS.csv RELATIONS.csv) and replace the CMDB with them, or --patch it.", details: importDetails, run: (*app).cmdbImport},
	{path: "cmdb export", flags: "[--output yaml|json]", summary: "Print the CMDB as YAML (default) or JSON, ready to re-import.", outputs: []string{"text", "yaml", "json"}, details: exportDetails, run: (*app).cmdbExport},
	{path: "cmdb show", operands: "CI", summary: "Show a CI: its fields, attributes, match label sets and relations.", run: (*app).cmdbShow},
	{path: "cmdb impact", operands: "CI", summary: "List the business services a failure of CI impacts, with state and criticality.", run: (*app).cmdbImpact},
	{path: "problems list", flags: "[--status S,...] [--limit N]", summary: "List problems, newest first.", run: (*app).problemsList},
	{path: "problems show", operands: "ID", summary: "Show a problem, its incidents and its timeline.", run: (*app).problemsShow},
	{path: "problems status", operands: "ID STATUS", flags: "[--workaround TEXT] [--runbook NAME] [--message M]", summary: "Move a problem to investigating, known_error, resolved or closed.", run: (*app).problemsStatus},
	{path: "maintenance list", summary: "List maintenance windows not over yet.", run: (*app).maintenanceList},
	{path: "maintenance add", operands: "CI", flags: "(--end TIME | --for DURATION) [--start TIME] [--reason TEXT]", summary: "Put a CI in maintenance: its alerts, and those of what needs it, open no incident.", run: (*app).maintenanceAdd},
	{path: "maintenance delete", operands: "ID", summary: "End a maintenance window early.", run: (*app).maintenanceDelete},
	{path: "oncall", flags: "[--schedule S] [--at TIME]", summary: "Show who is on call in every schedule (or S), now or at TIME.", run: (*app).oncall},
	{path: "silence add", operands: "MATCHER...", flags: "(--end TIME | --for DURATION) [--start TIME] [--comment TEXT]", summary: "Silence paging for incidents the Alertmanager matchers fit (labels, priority, ci, ci_class, team).", run: (*app).silenceAdd},
	{path: "silence list", flags: "[--all]", summary: "List silences not over yet (--all: expired ones too).", run: (*app).silenceList},
	{path: "silence expire", operands: "ID", summary: "End a silence now; what it held back is paged at once.", run: (*app).silenceExpire},
	{path: "runbook", operands: "SUBCOMMAND ...", summary: "Runbooks: validate and test files offline; list runbooks, start, show, approve, reject and cancel runs.", details: runbookDetails, run: (*app).runbook},
	{path: "simulate", flags: "[--seeds LIST | --seed N] [--cis N] [--faults N] [--spacing D] [--noise R] [--store sqlite|DSN] [--dump DIR] [--json]", summary: "Measure correlation offline on generated topologies and alert storms (no daemon needed).", details: simulateDetails, run: (*app).simulate},
}

// usageError is a wrong command line: exit 2 with usage.
type usageError struct {
	msg   string
	usage string
}

func (e *usageError) Error() string { return e.msg }

// helpRequest is -h or --help: usage on stdout, exit 0.
type helpRequest struct{ usage string }

func (h *helpRequest) Error() string { return "help requested" }

// errReported means the command already printed why it failed.
var errReported = errors.New("failed")

func (a *app) run(args []string) int {
	err := a.dispatch(args)
	var ue *usageError
	var hr *helpRequest
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &hr):
		fmt.Fprint(a.stdout, hr.usage)
		return exitOK
	case errors.As(err, &ue):
		if ue.msg != "" {
			fmt.Fprintln(a.stderr, "incidentctl: "+ue.msg)
		}
		fmt.Fprint(a.stderr, ue.usage)
		return exitUsage
	case errors.Is(err, errReported):
		return exitError
	default:
		fmt.Fprintln(a.stderr, "incidentctl: "+err.Error())
		return exitError
	}
}

// setDefaults fills the global flags from the environment.
func (a *app) setDefaults() {
	a.url = firstNonEmpty(a.getenv("INCIDENTD_URL"), defaultURL)
	a.output = "text"
	a.timeout = defaultTimeout
	a.token = a.getenv("INCIDENTD_TOKEN")
	a.actor = firstNonEmpty(a.getenv("INCIDENTD_ACTOR"), a.getenv("USER"), defaultActor)
	a.actorGiven = strings.TrimSpace(a.getenv("INCIDENTD_ACTOR")) != ""
	a.caFile = a.getenv("INCIDENTD_CA_FILE")
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}

var globalFlagNames = map[string]bool{"url": true, "output": true, "timeout": true, "token": true, "actor": true, "ca-file": true, "insecure-skip-verify": true}

// addGlobalFlags defines the global flags on fs, defaulting to their current
// values, so that they may also follow the subcommand.
func (a *app) addGlobalFlags(fs *flag.FlagSet) {
	fs.StringVar(&a.url, "url", a.url, "incidentd's `URL` (default $INCIDENTD_URL, else "+defaultURL+")")
	fs.StringVar(&a.output, "output", a.output, "output `format`: text or json (the API's JSON answer); cmdb export: yaml or json")
	fs.DurationVar(&a.timeout, "timeout", a.timeout, "give up on a request after this `duration`; 0 waits forever")
	fs.StringVar(&a.token, "token", a.token, "send Authorization: Bearer `TOKEN` (default $INCIDENTD_TOKEN)")
	fs.Var(actorFlag{a}, "actor", "`name` recorded on the actions you take (default $INCIDENTD_ACTOR, else $USER, else "+defaultActor+"); with --token incidentd records the token's name and refuses another")
	fs.StringVar(&a.caFile, "ca-file", a.caFile, "trust the CA certificates in `FILE` (PEM) for an https --url (default $INCIDENTD_CA_FILE)")
	fs.BoolVar(&a.insecure, "insecure-skip-verify", a.insecure, "do not verify incidentd's TLS certificate (testing only)")
}

// actorFlag sets the actor and records that it was given.
type actorFlag struct{ a *app }

func (f actorFlag) String() string {
	if f.a == nil {
		return ""
	}
	return f.a.actor
}

func (f actorFlag) Set(s string) error {
	f.a.actor, f.a.actorGiven = s, true
	return nil
}

// actingAs is the actor to send with an action. With a token incidentd
// records the token's name and refuses a different one, so a name that
// only defaulted from $USER is left out; without a token one is required.
func (a *app) actingAs(c *command, fs *flag.FlagSet) (string, error) {
	if a.token != "" && !a.actorGiven {
		return "", nil
	}
	actor := strings.TrimSpace(a.actor)
	if actor == "" {
		return "", &usageError{"no actor: set --actor or INCIDENTD_ACTOR", c.usage(fs)}
	}
	return actor, nil
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are reported by run, with usage
	fs.Usage = func() {}
	return fs
}

func (a *app) usage() string {
	var b strings.Builder
	b.WriteString("Usage: incidentctl [global flags] COMMAND [flags] [args]\n\nCommands:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, c := range commands {
		syn := c.path
		if c.operands != "" {
			syn += " " + c.operands
		}
		if c.flags != "" {
			syn += " [flags]"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", syn, c.summary)
	}
	tw.Flush()
	fs := newFlagSet("incidentctl")
	a.addGlobalFlags(fs) // changes nothing: the defaults are the current values
	b.WriteString("\nGlobal flags (before or after the command):\n")
	b.WriteString(flagHelp(fs, nil))
	b.WriteString("\nID is an incident number: INC-12 or 12. CI is the id of a CMDB configuration item.\n")
	return b.String()
}

func (c *command) usage(fs *flag.FlagSet) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: incidentctl %s\n\n%s\n", strings.Join(strings.Fields(c.path+" "+c.operands+" "+c.flags), " "), c.summary)
	if c.details != "" {
		b.WriteString("\n" + c.details)
	}
	if h := flagHelp(fs, globalFlagNames); h != "" {
		b.WriteString("\nFlags:\n")
		b.WriteString(h)
	}
	b.WriteString("\nGlobal flags: --url, --output, --timeout, --token, --actor, --ca-file, --insecure-skip-verify (see incidentctl --help).\n")
	return b.String()
}

// flagHelp lists the flags of fs but those in skip, GNU style.
func flagHelp(fs *flag.FlagSet, skip map[string]bool) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		if skip[f.Name] {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		if name != "" {
			name = " " + name
		}
		fmt.Fprintf(tw, "  --%s%s\t%s\n", f.Name, name, usage)
	})
	tw.Flush()
	return b.String()
}

func (a *app) dispatch(args []string) error {
	a.setDefaults()
	fs := newFlagSet("incidentctl")
	a.addGlobalFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &helpRequest{a.usage()}
		}
		return &usageError{err.Error(), a.usage()}
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return &usageError{"", a.usage()}
	}
	if rest[0] == "help" {
		return &helpRequest{a.usage()}
	}
	var group []*command
	for _, c := range commands {
		words := strings.Fields(c.path)
		if words[0] != rest[0] {
			continue
		}
		if len(words) == 1 {
			return c.run(a, c, rest[1:])
		}
		group = append(group, c)
	}
	if len(group) == 0 {
		return &usageError{fmt.Sprintf("unknown command %q", rest[0]), a.usage()}
	}
	var names []string
	for _, c := range group {
		words := strings.Fields(c.path)
		if len(rest) > 1 && words[1] == rest[1] {
			return c.run(a, c, rest[2:])
		}
		names = append(names, words[1])
	}
	if len(rest) == 1 {
		return &usageError{fmt.Sprintf("%s needs a subcommand: %s", rest[0], strings.Join(names, ", ")), a.usage()}
	}
	switch rest[1] {
	case "-h", "-help", "--help", "help":
		return &helpRequest{a.usage()}
	}
	return &usageError{fmt.Sprintf("unknown command %q: want one of %s", rest[0]+" "+rest[1], strings.Join(names, ", ")), a.usage()}
}

// flags returns the flag set of c, with the global flags on it.
func (a *app) flags(c *command) *flag.FlagSet {
	fs := newFlagSet("incidentctl " + c.path)
	a.addGlobalFlags(fs)
	return fs
}

// parse parses args, flags and positional arguments in any order ("--" ends
// the flags), and checks the global flags. It returns the positional ones.
func (a *app) parse(c *command, fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			pos = append(pos, arg)
			continue
		}
		flags = append(flags, arg)
		name := strings.TrimLeft(arg, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // Parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, &helpRequest{c.usage(fs)}
		}
		return nil, &usageError{err.Error(), c.usage(fs)}
	}
	if err := a.checkGlobals(c); err != nil {
		return nil, &usageError{err.Error(), c.usage(fs)}
	}
	return pos, nil
}

func (a *app) checkGlobals(c *command) error {
	outputs := c.outputs
	if outputs == nil {
		outputs = []string{"text", "json"}
	}
	if !slices.Contains(outputs, a.output) {
		want := outputs
		if len(want) > 2 && want[0] == "text" {
			want = want[1:] // text is the default's name: yaml for export
		}
		return fmt.Errorf("--output %q: want %s", a.output, strings.Join(want, " or "))
	}
	if a.timeout < 0 {
		return fmt.Errorf("--timeout %s: must not be negative", a.timeout)
	}
	u, err := url.Parse(a.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--url %q: want http://HOST:PORT or https://HOST:PORT", a.url)
	}
	return nil
}

func (a *app) client() *client {
	c := newClient(a.url, a.token, a.timeout)
	c.setTLS(a.caFile, a.insecure)
	return c
}

// positional checks the number of positional arguments.
// operands parses the command's flags and checks that between min and max
// (-1: any number) operands remain.
func (a *app) operands(c *command, fs *flag.FlagSet, args []string, min, max int) ([]string, error) {
	pos, err := a.parse(c, fs, args)
	if err != nil {
		return nil, err
	}
	return pos, positional(c, fs, pos, min, max)
}

func positional(c *command, fs *flag.FlagSet, pos []string, min, max int) error {
	switch {
	case len(pos) < min:
		missing := strings.Fields(c.operands)
		if len(pos) < len(missing) {
			missing = missing[len(pos):]
		}
		return &usageError{fmt.Sprintf("%s: missing %s", c.path, strings.Join(missing, " ")), c.usage(fs)}
	case max >= 0 && len(pos) > max:
		return &usageError{fmt.Sprintf("%s: unexpected argument %q", c.path, pos[max]), c.usage(fs)}
	}
	return nil
}

func parseID(c *command, fs *flag.FlagSet, s string) (int64, error) {
	id, err := incident.ParseKey(s)
	if err != nil {
		return 0, &usageError{err.Error(), c.usage(fs)}
	}
	return id, nil
}

// limitFlag adds --limit; checkLimit validates it when given.
func limitFlag(fs *flag.FlagSet, what string) *int {
	return fs.Int("limit", 0, "show at most `N` "+what+" (with --all: fetch N per request); default: the server's")
}

func checkLimit(c *command, fs *flag.FlagSet, limit int, q url.Values) error {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "limit" })
	if !set {
		return nil
	}
	if limit < 1 {
		return &usageError{fmt.Sprintf("--limit %d: must be at least 1", limit), c.usage(fs)}
	}
	q.Set("limit", strconv.Itoa(limit))
	return nil
}

func (a *app) checkConfig(c *command, args []string) error {
	fs := a.flags(c)
	files, err := a.parse(c, fs, args)
	if err != nil {
		return err
	}
	if err := positional(c, fs, files, 1, -1); err != nil {
		return err
	}
	failed := false
	for _, f := range files {
		if _, err := config.Load(f); err != nil {
			// config.Errors are file:line: key: message, one per line.
			fmt.Fprintln(a.stderr, err)
			failed = true
			continue
		}
		fmt.Fprintf(a.stdout, "%s: valid\n", f)
	}
	if failed {
		return errReported
	}
	return nil
}

func (a *app) incidentsList(c *command, args []string) error {
	fs := a.flags(c)
	status := fs.String("status", "", "list only incidents whose status is one of `S,...` (open, triggered, acknowledged, on_hold, resolved, closed)")
	priority := fs.String("priority", "", "list only incidents whose priority is one of `P,...` (P1..P5)")
	limit := limitFlag(fs, "incidents")
	all := fs.Bool("all", false, "follow next_cursor until every matching incident is listed")
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
	if *priority != "" {
		q.Set("priority", *priority)
	}
	cl := a.client()
	incs, pages, more, err := fetchPages(q, *all, func(q url.Values) ([]api.IncidentView, string, json.RawMessage, error) {
		l, raw, err := cl.listIncidents(context.Background(), q)
		return l.Incidents, l.NextCursor, raw, err
	})
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printPages("incidents", pages, *all)
	}
	if len(incs) == 0 {
		fmt.Fprintln(a.stdout, "No incidents.")
		return nil
	}
	writeIncidentTable(a.stdout, incs, a.now())
	if more {
		fmt.Fprintln(a.stderr, "(more incidents: add --all to list them all)")
	}
	return nil
}

func (a *app) alertsList(c *command, args []string) error {
	fs := a.flags(c)
	status := fs.String("status", "", "list only alerts whose status is `S` (firing or resolved)")
	fingerprint := fs.String("fingerprint", "", "list every occurrence of the alert with fingerprint `F`")
	limit := limitFlag(fs, "alerts")
	all := fs.Bool("all", false, "follow next_cursor until every matching alert is listed")
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
	if *fingerprint != "" {
		q.Set("fingerprint", *fingerprint)
	}
	cl := a.client()
	alerts, pages, more, err := fetchPages(q, *all, func(q url.Values) ([]*incident.Alert, string, json.RawMessage, error) {
		l, raw, err := cl.listAlerts(context.Background(), q)
		return l.Alerts, l.NextCursor, raw, err
	})
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printPages("alerts", pages, *all)
	}
	if len(alerts) == 0 {
		fmt.Fprintln(a.stdout, "No alerts.")
		return nil
	}
	writeAlertTable(a.stdout, alerts, a.now())
	if more {
		fmt.Fprintln(a.stderr, "(more alerts: add --all to list them all)")
	}
	return nil
}

// fetchPages gets the first page, or with all every page, following the
// cursor. more reports that a page was left unfetched.
func fetchPages[T any](q url.Values, all bool, fetch func(url.Values) ([]T, string, json.RawMessage, error)) (items []T, pages []json.RawMessage, more bool, err error) {
	seen := map[string]bool{}
	for {
		page, next, raw, err := fetch(q)
		if err != nil {
			return nil, nil, false, err
		}
		items = append(items, page...)
		pages = append(pages, raw)
		if next == "" {
			return items, pages, false, nil
		}
		if !all {
			return items, pages, true, nil
		}
		if seen[next] {
			return nil, nil, false, fmt.Errorf("the server returned cursor %q twice; stopping", next)
		}
		seen[next] = true
		q.Set("cursor", next)
	}
}

// printPages prints the API's answer: the one page, or with all the items of
// every page as one list under key.
func (a *app) printPages(key string, pages []json.RawMessage, all bool) error {
	if !all {
		return a.printJSON(pages[0])
	}
	items := []json.RawMessage{}
	for _, p := range pages {
		var page map[string]json.RawMessage
		if err := json.Unmarshal(p, &page); err != nil {
			return err
		}
		var list []json.RawMessage
		if v, ok := page[key]; ok {
			if err := json.Unmarshal(v, &list); err != nil {
				return err
			}
		}
		items = append(items, list...)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(map[string]any{key: items}); err != nil {
		return err
	}
	return a.printJSON(buf.Bytes())
}

// printJSON pretty-prints an API answer.
// get GETs path into out. With --output json it prints the raw answer
// instead and reports printed, so the caller has nothing left to do.
func (a *app) get(path string, q url.Values, out any) (printed bool, err error) {
	raw, err := a.client().do(context.Background(), "GET", path, q, nil, out)
	if err != nil || a.output != "json" {
		return false, err
	}
	return true, a.printJSON(raw)
}

func (a *app) printJSON(raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		return fmt.Errorf("the server's answer is not JSON: %v", err)
	}
	buf.WriteByte('\n')
	_, err := a.stdout.Write(buf.Bytes())
	return err
}

func (a *app) incidentsShow(c *command, args []string) error {
	fs := a.flags(c)
	pos, err := a.operands(c, fs, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := parseID(c, fs, pos[0])
	if err != nil {
		return err
	}
	d, raw, err := a.client().incident(context.Background(), id)
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printJSON(raw)
	}
	writeIncident(a.stdout, d, a.now())
	return nil
}

// actCommand returns the command posting action to endpoint.
func actCommand(action incident.Action, endpoint string) func(a *app, c *command, args []string) error {
	return func(a *app, c *command, args []string) error {
		fs := a.flags(c)
		var message *string
		if action != incident.ActionNote {
			message = fs.String("message", "", "add message `M` to the timeline event")
		}
		pos, err := a.parse(c, fs, args)
		if err != nil {
			return err
		}
		max := 1
		if action == incident.ActionNote {
			max = -1 // the note's words
		}
		if err := positional(c, fs, pos, 1, max); err != nil {
			return err
		}
		id, err := parseID(c, fs, pos[0])
		if err != nil {
			return err
		}
		actor, err := a.actingAs(c, fs)
		if err != nil {
			return err
		}
		req := api.ActionRequest{Actor: actor}
		if message != nil {
			req.Message = *message
		} else {
			req.Message = strings.Join(pos[1:], " ")
			if strings.TrimSpace(req.Message) == "" {
				return &usageError{c.path + ": missing MESSAGE", c.usage(fs)}
			}
		}
		res, raw, err := a.client().act(context.Background(), id, endpoint, req)
		if err != nil {
			return err
		}
		if a.output == "json" {
			return a.printJSON(raw)
		}
		writeActionResult(a.stdout, action, res)
		return nil
	}
}
