package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/runbooks"
)

const runbookDetails = `Subcommands (incidentctl runbook SUBCOMMAND --help for each):
  validate FILE...          check runbook files offline: errors as file:line:column, and warnings
  test FILE                 dry-run a runbook file offline, step by step, conditions evaluated
  list                      list the daemon's runbooks
  run NAME                  start a manual run (or --dry-run it on the daemon)
  runs                      list runs, newest first
  show RUN                  show a run and its steps
  approve RUN, reject RUN   answer the approve step a run waits on
  cancel RUN                cancel a run
`

// runbookCommands are the subcommands of the one runbook entry of the
// command table.
var runbookCommands = []*command{
	{path: "runbook validate", operands: "FILE...", summary: "Check runbook files offline: every error with file:line:column, and warnings. Pass all files of a set (runbooks/*.yml): runbook steps must call runbooks among them.", run: (*app).runbookValidate},
	{path: "runbook test", operands: "FILE", flags: "[--incident FIXTURE.json] [--input NAME=VALUE]... [--trigger EVENT] [--with FILE]...", summary: "Dry-run a runbook file offline: each step as it would run, with its condition evaluated; nothing is sent, run or changed, and secrets are not read.", details: runbookTestDetails, run: (*app).runbookTest},
	{path: "runbook list", summary: "List the daemon's runbooks.", run: (*app).runbookList},
	{path: "runbook run", operands: "NAME", flags: "[--incident ID] [--input NAME=VALUE]... [--dry-run] [--request-id ID]", summary: "Start a run of a runbook with a manual trigger; --dry-run shows what it would do now, on the daemon's data.", run: (*app).runbookRun},
	{path: "runbook runs", flags: "[--incident ID] [--runbook NAME] [--status S,...] [--limit N]", summary: "List runs, newest first.", run: (*app).runbookRuns},
	{path: "runbook show", operands: "RUN", summary: "Show a run: its steps, their inputs and outputs (secrets masked), attempts and timings.", run: (*app).runbookShow},
	{path: "runbook approve", operands: "RUN", flags: "[--step S] [--message M]", summary: "Approve the step a run awaits approval on (as --actor).", run: runbookAnswer(true)},
	{path: "runbook reject", operands: "RUN", flags: "[--step S] [--message M]", summary: "Reject the step a run awaits approval on: the run fails.", run: runbookAnswer(false)},
	{path: "runbook cancel", operands: "RUN", flags: "[--message M]", summary: "Cancel a run; its on_failure steps do not run.", run: (*app).runbookCancel},
}

const runbookTestDetails = `FIXTURE.json is an incident as "incidentctl --output json incidents show ID" prints
it, optionally with the CMDB CI the run would see under "ci":
  {"id": 12, "title": "...", "status": "triggered", "priority": 2, "labels": {...},
   "alerts": [...], "ci": {"id": "checkout-api", "class": "application",
   "attributes": {"host": "app.internal"}}}
Without it the run has no incident, as a scheduled run. Every step that would run is
assumed to succeed with empty outputs (approvals as approved); --with loads runbooks
that runbook steps call, to check their inputs.
`

// runbook dispatches the runbook subcommands.
func (a *app) runbook(c *command, args []string) error {
	var names []string
	for _, sub := range runbookCommands {
		name := strings.TrimPrefix(sub.path, "runbook ")
		names = append(names, name)
		if len(args) > 0 && args[0] == name {
			return sub.run(a, sub, args[1:])
		}
	}
	fs := a.flags(c)
	switch {
	case len(args) == 0:
		return &usageError{"runbook needs a subcommand: " + strings.Join(names, ", "), c.usage(fs)}
	case slices.Contains([]string{"-h", "-help", "--help", "help"}, args[0]):
		return &helpRequest{c.usage(fs)}
	}
	return &usageError{fmt.Sprintf("unknown command %q: want one of %s", "runbook "+args[0], strings.Join(names, ", ")), c.usage(fs)}
}

// inputsFlag collects repeated --input NAME=VALUE.
type inputsFlag map[string]any

func (f inputsFlag) String() string { return "" }

func (f inputsFlag) Set(s string) error {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE")
	}
	if _, dup := f[name]; dup {
		return fmt.Errorf("input %s given twice", name)
	}
	f[name] = value // the runbook's input types parse the text
	return nil
}

// listFlag collects a repeated flag.
type listFlag []string

func (f *listFlag) String() string     { return strings.Join(*f, ",") }
func (f *listFlag) Set(s string) error { *f = append(*f, s); return nil }

// fileResult is one file's findings, for --output json.
type fileResult struct {
	File     string   `json:"file"`
	Runbook  string   `json:"runbook,omitempty"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
}

func (a *app) runbookValidate(c *command, args []string) error {
	fs := a.flags(c)
	files, err := a.operands(c, fs, args, 1, -1)
	if err != nil {
		return err
	}
	results := map[string]*fileResult{}
	var order []string
	var rbs []*runbooks.Runbook
	for _, f := range files {
		r := &fileResult{File: f, Errors: []string{}, Warnings: []string{}}
		results[f] = r
		order = append(order, f)
		data, err := os.ReadFile(f)
		if err != nil {
			r.Errors = append(r.Errors, err.Error())
			continue
		}
		rb, err := runbooks.Parse(f, data)
		if err != nil {
			var ds runbooks.Diagnostics
			if errors.As(err, &ds) {
				for _, d := range ds {
					r.Errors = append(r.Errors, d.Error())
				}
			} else {
				r.Errors = append(r.Errors, err.Error())
			}
			continue
		}
		r.Runbook = rb.Name
		rbs = append(rbs, rb)
	}
	set, setErrs := runbooks.NewSet(rbs)
	for _, err := range setErrs {
		f := errorFile(err, results)
		results[f].Errors = append(results[f].Errors, err.Error())
	}
	for _, w := range set.Warnings() {
		if r := results[w.File]; r != nil {
			r.Warnings = append(r.Warnings, w.Error())
		}
	}
	failed := false
	var out []*fileResult
	for _, f := range order {
		r := results[f]
		out = append(out, r)
		failed = failed || len(r.Errors) > 0
	}
	if a.output == "json" {
		b, err := json.Marshal(map[string]any{"files": out})
		if err != nil {
			return err
		}
		if err := a.printJSON(b); err != nil {
			return err
		}
	} else {
		for _, r := range out {
			for _, e := range r.Errors {
				fmt.Fprintln(a.stderr, e)
			}
			for _, w := range r.Warnings {
				fmt.Fprintln(a.stderr, "warning: "+w)
			}
			switch {
			case len(r.Errors) > 0:
				fmt.Fprintf(a.stdout, "%s: invalid (%d errors)\n", r.File, len(r.Errors))
			case len(r.Warnings) > 0:
				fmt.Fprintf(a.stdout, "%s: valid, runbook %s (%d warnings)\n", r.File, r.Runbook, len(r.Warnings))
			default:
				fmt.Fprintf(a.stdout, "%s: valid, runbook %s\n", r.File, r.Runbook)
			}
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// errorFile finds which file a set error is about.
func errorFile(err error, results map[string]*fileResult) string {
	var d runbooks.Diagnostic
	if errors.As(err, &d) {
		if _, ok := results[d.File]; ok {
			return d.File
		}
	}
	for f := range results {
		if strings.HasPrefix(err.Error(), f+":") {
			return f
		}
	}
	for f := range results {
		return f
	}
	return ""
}

// fixture is an incident as incidentctl prints it, with the CI.
type fixture struct {
	api.IncidentDetail
	CI *runbooks.CI `json:"ci"`
}

func (a *app) runbookTest(c *command, args []string) error {
	fs := a.flags(c)
	fixtureFile := fs.String("incident", "", "the incident the run works on, as `FIXTURE.json` (see below); none by default")
	trigger := fs.String("trigger", "", "the `EVENT` that starts the run (incident.triggered, schedule, manual, ...); default the runbook's first trigger")
	inputs := inputsFlag{}
	fs.Var(inputs, "input", "give input `NAME=VALUE` (repeatable)")
	var with listFlag
	fs.Var(&with, "with", "load the runbook in `FILE` too, for runbook steps that call it (repeatable)")
	pos, err := a.operands(c, fs, args, 1, 1)
	if err != nil {
		return err
	}
	var rbs []*runbooks.Runbook
	var rb *runbooks.Runbook
	for i, f := range append([]string{pos[0]}, with...) {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		r, err := runbooks.Parse(f, data)
		if err != nil {
			fmt.Fprintln(a.stderr, err)
			return errReported
		}
		if i == 0 {
			rb = r
		}
		rbs = append(rbs, r)
	}
	var set *runbooks.Set
	if len(with) > 0 {
		var errs []error
		if set, errs = runbooks.NewSet(rbs); len(errs) > 0 {
			for _, err := range errs {
				fmt.Fprintln(a.stderr, err)
			}
			return errReported
		}
	}
	d := rb.NewData()
	d.Now = a.now()
	if *fixtureFile != "" {
		if err := loadFixture(*fixtureFile, d); err != nil {
			return err
		}
	}
	d.Runbook.Trigger = *trigger
	if d.Runbook.Trigger == "" && len(rb.Triggers) > 0 {
		switch t := rb.Triggers[0]; t.Kind {
		case runbooks.TriggerEvent:
			d.Runbook.Trigger = t.Event
		default:
			d.Runbook.Trigger = string(t.Kind)
		}
	}
	if d.Inputs, err = rb.ResolveInputs(inputs); err != nil {
		return &usageError{err.Error(), c.usage(fs)}
	}
	res := runbooks.DryRun(rb, d, runbooks.DryRunOptions{Set: set})
	if a.output == "json" {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		return a.printJSON(b)
	}
	where := "no incident"
	if d.Incident.ID != 0 {
		where = "incident " + d.Incident.Key
	}
	fmt.Fprintf(a.stdout, "Dry run of %s (trigger %s, %s): nothing is sent, run or changed.\n\n", rb.Name, clean(d.Runbook.Trigger), clean(where))
	writeDryRun(a.stdout, res)
	return nil
}

// loadFixture fills d from an incident fixture file.
func loadFixture(file string, d *runbooks.Data) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var f fixture
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("%s: want an incident as incidentctl --output json incidents show prints it: %v", file, err)
	}
	if f.Incident == nil || f.Incident.ID == 0 {
		return fmt.Errorf("%s: the incident has no id", file)
	}
	if f.Incident.Status == "" {
		f.Incident.Status = incident.StatusTriggered
	}
	d.Incident = runbooks.NewIncident(f.Incident)
	for k, v := range f.Incident.Labels {
		d.Labels[k] = v
	}
	for _, al := range f.Alerts {
		d.Alerts = append(d.Alerts, runbooks.NewAlert(al))
	}
	if f.CI != nil {
		d.CI = *f.CI
		if d.Incident.RootCause.CI == "" {
			d.Incident.RootCause.CI = f.CI.ID
		}
	}
	return nil
}

// writeDryRun prints a dry run step by step.
func writeDryRun(w io.Writer, res *runbooks.DryRunResult) {
	for _, s := range res.Steps {
		writeDryStep(w, s, "")
	}
	if res.Error == "" {
		fmt.Fprintln(w, "\nThe run would succeed.")
		return
	}
	fmt.Fprintf(w, "\nThe run would fail: %s\n", clean(res.Error))
	if len(res.OnFailure) > 0 {
		fmt.Fprintln(w, "\non_failure:")
		for _, s := range res.OnFailure {
			writeDryStep(w, s, "")
		}
	}
}

func writeDryStep(w io.Writer, s runbooks.DryStep, indent string) {
	label := s.ID
	if s.Name != "" {
		label = s.Name + " (" + s.ID + ")"
	}
	fmt.Fprintf(w, "%s%s [%s]: %s\n", indent, clean(label), s.Kind, strings.ReplaceAll(s.State, "_", " "))
	in := indent + "    "
	if s.When != "" && s.State != runbooks.DryNotReached {
		holds := "true"
		switch {
		case s.State == runbooks.DrySkipped:
			holds = "false"
		case s.State == runbooks.DryFails && strings.HasPrefix(s.Error, "when:"):
			holds = "error"
		}
		fmt.Fprintf(w, "%swhen %s: %s\n", in, clean(s.When), holds)
	}
	if s.State == runbooks.DryWouldRun || s.State == runbooks.DryFails && s.Input != nil {
		for _, line := range renderedLines(s.Input) {
			fmt.Fprintf(w, "%s%s\n", in, line)
		}
		if s.Note != "" && s.Kind != runbooks.KindHTTP && s.Kind != runbooks.KindExec {
			fmt.Fprintf(w, "%s%s\n", in, clean(s.Note))
		}
	}
	if s.Error != "" {
		fmt.Fprintf(w, "%serror: %s\n", in, clean(s.Error))
		if s.Note != "" {
			fmt.Fprintf(w, "%s%s\n", in, clean(s.Note))
		}
	}
	for _, c := range s.Steps {
		writeDryStep(w, c, in)
	}
}

// renderedLines shows a rendered input: the request, the argument vector
// (each argument quoted if it needs to be), the text.
func renderedLines(r *runbooks.Rendered) []string {
	if r == nil {
		return nil
	}
	var out []string
	switch {
	case r.HTTP != nil:
		out = append(out, clean(r.HTTP.Method+" "+r.HTTP.URL))
		for _, k := range sortedKeys(r.HTTP.Headers) {
			out = append(out, clean("header "+k+": "+r.HTTP.Headers[k]))
		}
		if r.HTTP.Body != "" {
			out = append(out, "body "+clean(r.HTTP.Body))
		}
	case r.Exec != nil:
		args := make([]string, len(r.Exec.Command))
		for i, arg := range r.Exec.Command {
			args[i] = quoteArg(arg)
		}
		out = append(out, "run "+strings.Join(args, " "))
		for _, k := range sortedKeys(r.Exec.Env) {
			out = append(out, "env "+k+"="+quoteArg(r.Exec.Env[k]))
		}
	case r.Note != "":
		out = append(out, "note "+strconv.Quote(r.Note))
	case r.Message != "":
		out = append(out, "message "+strconv.Quote(r.Message))
	case r.Approve != nil && r.Approve.Message != "":
		out = append(out, "message "+strconv.Quote(r.Approve.Message))
	case r.Call != nil:
		for _, k := range sortedKeys(r.Call.Inputs) {
			out = append(out, "input "+k+"="+quoteArg(r.Call.Inputs[k]))
		}
	}
	return out
}

// quoteArg quotes an argument that a reader could take for several.
func quoteArg(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '\'' || r == '\\' || r > '~' }) {
		return strconv.Quote(s)
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (a *app) runbookList(c *command, args []string) error {
	fs := a.flags(c)
	if _, err := a.operands(c, fs, args, 0, 0); err != nil {
		return err
	}
	var list api.RunbookList
	if printed, err := a.get("/api/v1/runbooks", nil, &list); printed || err != nil {
		return err
	}
	if len(list.Runbooks) == 0 {
		fmt.Fprintln(a.stdout, "No runbooks loaded.")
		return nil
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "NAME\tTRIGGERS\tINPUTS\tDESCRIPTION")
	for _, rb := range list.Runbooks {
		var ins []string
		for _, in := range rb.Inputs {
			s := in.Name
			if in.Required {
				s += "*"
			}
			ins = append(ins, s)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", clean(rb.Name), clean(strings.Join(rb.Triggers, "; ")), dash(strings.Join(ins, ",")), clean(rb.Description))
	}
	return tw.Flush()
}

func (a *app) runbookRun(c *command, args []string) error {
	fs := a.flags(c)
	inc := fs.String("incident", "", "the incident `ID` the run works on")
	inputs := inputsFlag{}
	fs.Var(inputs, "input", "give input `NAME=VALUE` (repeatable)")
	dry := fs.Bool("dry-run", false, "show what the run would do now; start nothing")
	reqID := fs.String("request-id", "", "make the request idempotent: a retry with the same `ID` returns the first run")
	pos, err := a.operands(c, fs, args, 1, 1)
	if err != nil {
		return err
	}
	actor, err := a.actingAs(c, fs)
	if err != nil {
		return err
	}
	req := api.StartRunRequest{Inputs: inputs, Actor: actor, DryRun: *dry, RequestID: *reqID}
	if *inc != "" {
		id, err := parseID(c, fs, *inc)
		if err != nil {
			return err
		}
		req.Incident = incident.FormatKey(id)
	}
	path := "/api/v1/runbooks/" + url.PathEscape(pos[0]) + "/runs"
	if *dry {
		var res runbooks.DryRunResult
		raw, err := a.client().do(context.Background(), "POST", path, nil, req, &res)
		if err != nil {
			return err
		}
		if a.output == "json" {
			return a.printJSON(raw)
		}
		fmt.Fprintf(a.stdout, "Dry run of %s on the daemon: nothing is sent, run or changed.\n\n", clean(pos[0]))
		writeDryRun(a.stdout, &res)
		return nil
	}
	var run api.RunDetail
	raw, err := a.client().do(context.Background(), "POST", path, nil, req, &run)
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printJSON(raw)
	}
	on := ""
	if run.Incident != "" {
		on = " on " + run.Incident
	}
	fmt.Fprintf(a.stdout, "run %d of %s%s: %s\n", run.ID, clean(run.Runbook), on, run.Status)
	return nil
}

func parseRunID(c *command, s string, usage string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(strings.ToLower(s), "run-"), 10, 64)
	if err != nil || id < 1 {
		return 0, &usageError{fmt.Sprintf("%s: %q is not a run id", c.path, s), usage}
	}
	return id, nil
}

func (a *app) runbookRuns(c *command, args []string) error {
	fs := a.flags(c)
	inc := fs.String("incident", "", "list only runs on incident `ID`")
	rb := fs.String("runbook", "", "list only runs of runbook `NAME`")
	status := fs.String("status", "", "list only runs whose status is one of `S,...` (active, queued, running, waiting, awaiting_approval, succeeded, failed, cancelled, timed_out)")
	limit := limitFlag(fs, "runs")
	if _, err := a.operands(c, fs, args, 0, 0); err != nil {
		return err
	}
	q := url.Values{}
	if err := checkLimit(c, fs, *limit, q); err != nil {
		return err
	}
	if *inc != "" {
		id, err := parseID(c, fs, *inc)
		if err != nil {
			return err
		}
		q.Set("incident", incident.FormatKey(id))
	}
	if *rb != "" {
		q.Set("runbook", *rb)
	}
	if *status != "" {
		q.Set("status", *status)
	}
	var list api.RunList
	if printed, err := a.get("/api/v1/runbooks/runs", q, &list); printed || err != nil {
		return err
	}
	if len(list.Runs) == 0 {
		fmt.Fprintln(a.stdout, "No runs.")
		return nil
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "RUN\tRUNBOOK\tINCIDENT\tSTATUS\tTRIGGER\tAGE\tERROR")
	for _, r := range list.Runs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, clean(r.Runbook), dash(r.Incident), r.Status, clean(r.Trigger),
			formatAge(a.now().Sub(r.CreatedAt)), dash(clean(truncateText(r.Error, 80))))
	}
	return tw.Flush()
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

func (a *app) runbookShow(c *command, args []string) error {
	fs := a.flags(c)
	pos, err := a.operands(c, fs, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := parseRunID(c, pos[0], c.usage(fs))
	if err != nil {
		return err
	}
	var run api.RunDetail
	if printed, err := a.get(fmt.Sprintf("/api/v1/runbooks/runs/%d", id), nil, &run); printed || err != nil {
		return err
	}
	w := a.stdout
	fmt.Fprintf(w, "Run %d of %s: %s\n", run.ID, clean(run.Runbook), run.Status)
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Trigger", clean(run.Trigger))
	if run.Incident != "" {
		row("Incident", run.Incident)
	}
	if run.ParentRun != 0 {
		row("Called by", fmt.Sprintf("run %d, step %s", run.ParentRun, clean(run.ParentStep)))
	}
	if run.Actor != "" {
		row("Started by", clean(run.Actor))
	}
	if len(run.Inputs) > 0 {
		row("Inputs", formatLabels(run.Inputs, nil))
	}
	row("Created", when(run.CreatedAt, a.now()))
	if !run.StartedAt.IsZero() {
		row("Started", formatTime(run.StartedAt))
	}
	if !run.EndedAt.IsZero() {
		row("Ended", formatTime(run.EndedAt))
	}
	if !run.Deadline.IsZero() {
		row("Times out", formatTime(run.Deadline))
	}
	if run.Error != "" {
		row("Error", clean(run.Error))
	}
	tw.Flush()
	fmt.Fprintf(w, "\nSteps (%d):\n", len(run.Steps))
	tw = newTable(w)
	fmt.Fprintln(tw, "STEP\tKIND\tSTATUS\tATTEMPTS\tTOOK\tERROR")
	for _, s := range run.Steps {
		label := s.ID
		if s.Name != "" {
			label = s.Name
		}
		took := "-"
		if s.Seconds > 0 {
			took = (time.Duration(s.Seconds * float64(time.Second))).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", clean(label), s.Kind, s.Status, s.Attempts, took, dash(clean(truncateText(s.Error, 100))))
	}
	return tw.Flush()
}

func runbookAnswer(approve bool) func(a *app, c *command, args []string) error {
	return func(a *app, c *command, args []string) error {
		fs := a.flags(c)
		step := fs.String("step", "", "the step `S` (name or id) to answer, when several await approval")
		message := fs.String("message", "", "say why (`M`), on the timeline")
		pos, err := a.operands(c, fs, args, 1, 1)
		if err != nil {
			return err
		}
		id, err := parseRunID(c, pos[0], c.usage(fs))
		if err != nil {
			return err
		}
		actor, err := a.actingAs(c, fs)
		if err != nil {
			return err
		}
		req := api.AnswerRequest{Actor: actor, Message: *message, Step: *step}
		verb := "approve"
		if !approve {
			verb = "reject"
		}
		var res api.AnswerResult
		raw, err := a.client().do(context.Background(), "POST", fmt.Sprintf("/api/v1/runbooks/runs/%d/%s", id, verb), nil, req, &res)
		if err != nil {
			return err
		}
		if a.output == "json" {
			return a.printJSON(raw)
		}
		label := res.Step.ID
		if res.Step.Name != "" {
			label = res.Step.Name
		}
		by := ""
		if req.Actor != "" {
			by = " by " + clean(req.Actor)
		}
		fmt.Fprintf(a.stdout, "run %d: step %s %s%s\n", id, clean(label), res.Step.Status, by)
		return nil
	}
}

func (a *app) runbookCancel(c *command, args []string) error {
	fs := a.flags(c)
	message := fs.String("message", "", "say why (`M`)")
	pos, err := a.operands(c, fs, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := parseRunID(c, pos[0], c.usage(fs))
	if err != nil {
		return err
	}
	actor, err := a.actingAs(c, fs)
	if err != nil {
		return err
	}
	req := api.AnswerRequest{Actor: actor, Message: *message}
	var run api.RunDetail
	raw, err := a.client().do(context.Background(), "POST", fmt.Sprintf("/api/v1/runbooks/runs/%d/cancel", id), nil, req, &run)
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printJSON(raw)
	}
	fmt.Fprintf(a.stdout, "run %d of %s: %s\n", run.ID, clean(run.Runbook), run.Status)
	return nil
}
