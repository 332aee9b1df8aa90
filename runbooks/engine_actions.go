package runbooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
)

// act carries out one attempt of a step whose action reaches outside the
// run: http, exec, and the incident actions. It returns the result
// (outputs masked and capped) and effects to commit with the step's end.
func (e *Engine) act(ctx context.Context, l loaded, in *Rendered, m *Masker, d *Data) (StepResult, store.RunbookEffects, error) {
	run, s := l.run, l.step
	actor := actorOf(run.Runbook)
	now := e.clk.Now()
	var none store.RunbookEffects
	needIncident := func() error {
		if run.IncidentID == 0 {
			return fmt.Errorf("%s needs an incident, and this run (%s) has none", s.Kind, run.Trigger)
		}
		return nil
	}
	switch s.Kind {
	case KindHTTP:
		res, err := e.doHTTP(ctx, in.HTTP, m)
		return res, none, err
	case KindExec:
		res, err := e.doExec(ctx, in.Exec, m)
		return res, none, err
	case KindAnnotate:
		if err := needIncident(); err != nil {
			return StepResult{}, none, err
		}
		_, _, err := e.st.Act(ctx, run.IncidentID, incident.ActionNote, actor, m.Mask(in.Note), now)
		return StepResult{}, none, err
	case KindAcknowledge, KindResolve:
		if err := needIncident(); err != nil {
			return StepResult{}, none, err
		}
		action := incident.ActionAcknowledge
		if s.Kind == KindResolve {
			action = incident.ActionResolve
		}
		_, _, err := e.st.Act(ctx, run.IncidentID, action, actor, m.Mask(in.Message), now)
		return StepResult{}, none, err
	case KindSet:
		if err := needIncident(); err != nil {
			return StepResult{}, none, err
		}
		return StepResult{}, none, e.set(ctx, run.IncidentID, in.Set, actor, now)
	case KindEscalate:
		if err := needIncident(); err != nil {
			return StepResult{}, none, err
		}
		msg := m.Mask(in.Message)
		if e.opts.Pager != nil {
			return StepResult{}, none, e.opts.Pager.Escalate(ctx, run.IncidentID, pageKey(run.ID, s.ID), msg, actor)
		}
		text := "escalation requested (this engine has no pager: nobody was paged)"
		if msg != "" {
			text += ": " + msg
		}
		return StepResult{}, store.RunbookEffects{Events: e.event(run, EventEscalationRequested, text)}, nil
	case KindNotify:
		msg := m.Mask(in.Message)
		if e.opts.Pager != nil {
			if err := needIncident(); err != nil {
				return StepResult{}, none, err
			}
			return StepResult{}, none, e.opts.Pager.Notify(ctx, run.IncidentID, pageKey(run.ID, s.ID), in.To, msg, actor)
		}
		to := "the incident's on-call"
		if len(in.To) > 0 {
			to = strings.Join(in.To, ", ")
		}
		text := fmt.Sprintf("notification to %s requested (this engine has no pager: nothing was sent): %s", to, msg)
		return StepResult{}, store.RunbookEffects{Events: e.event(run, EventNotificationRequested, text)}, nil
	}
	return StepResult{}, none, fmt.Errorf("step kind %s has no action", s.Kind)
}

// set carries out a set step: priority and labels through the store's
// incident change, on_hold through the hold and resume actions. Each change
// is on the timeline under the run's name.
func (e *Engine) set(ctx context.Context, id int64, c *SetChange, actor string, now time.Time) error {
	if c.Priority != 0 || len(c.Labels) > 0 {
		if _, _, err := e.st.ChangeIncident(ctx, id, incident.Change{Priority: c.Priority, Labels: c.Labels}, actor, now); err != nil {
			return err
		}
	}
	if c.OnHold == nil {
		return nil
	}
	inc, err := e.st.Incident(ctx, id)
	if err != nil {
		return err
	}
	onHold := inc.Status == incident.StatusOnHold
	if onHold == *c.OnHold {
		return nil // already so
	}
	action := incident.ActionResume
	if *c.OnHold {
		action = incident.ActionHold
	}
	_, _, err = e.st.Act(ctx, id, action, actor, "", now)
	return err
}

// doHTTP sends one request. Later steps see the status, the first value of
// each header, the body (masked, capped) and the body parsed as JSON.
func (e *Engine) doHTTP(ctx context.Context, h *HTTPRequest, m *Masker) (StepResult, error) {
	var body io.Reader
	if h.Body != "" {
		body = strings.NewReader(h.Body)
	}
	req, err := http.NewRequestWithContext(ctx, h.Method, h.URL, body)
	if err != nil {
		return StepResult{}, err
	}
	for k, v := range h.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "incidentd-runbooks")
	}
	resp, err := e.opts.HTTPClient.Do(req)
	if err != nil {
		return StepResult{}, err
	}
	defer resp.Body.Close()
	limit := int(e.config().MaxOutputBytes)
	raw, more, readErr := readCapped(resp.Body, limit)
	res := StepResult{Status: resp.StatusCode, Headers: map[string]string{}}
	for k, vs := range resp.Header {
		if len(vs) > 0 {
			res.Headers[k] = m.Mask(vs[0])
		}
	}
	text, cut := capText(m.Mask(string(raw)), limit)
	if !more && !cut && readErr == nil && json.Valid([]byte(text)) {
		var v any
		if json.Unmarshal([]byte(text), &v) == nil {
			res.JSON = v
		}
	}
	if more || cut {
		text += fmt.Sprintf("\n[truncated at %d bytes]", limit)
	}
	res.Body = text
	if readErr != nil {
		return res, fmt.Errorf("reading the response of HTTP %d: %w", resp.StatusCode, readErr)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return res, fmt.Errorf("HTTP %s", resp.Status)
	}
	return res, nil
}

// readCapped reads up to limit bytes, plus enough more that a secret
// straddling the limit is still masked whole before the text is cut. more
// reports that the body went on.
func readCapped(r io.Reader, limit int) (b []byte, more bool, err error) {
	b, err = io.ReadAll(io.LimitReader(r, int64(limit+MaxSecretBytes+1)))
	if len(b) > limit+MaxSecretBytes {
		return b[:limit+MaxSecretBytes], true, err
	}
	return b, false, err
}

// capText cuts s to at most limit bytes, at a character boundary.
func capText(s string, limit int) (string, bool) {
	if len(s) <= limit {
		return s, false
	}
	return truncateUTF8(s, limit), true
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// cappedBuffer keeps the first limit bytes written and counts the rest.
type cappedBuffer struct {
	buf     bytes.Buffer
	limit   int
	dropped int64
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.limit - c.buf.Len(); room > 0 {
		keep := min(room, len(p))
		c.buf.Write(p[:keep])
		c.dropped += int64(len(p) - keep)
	} else {
		c.dropped += int64(len(p))
	}
	return len(p), nil
}

// text is what the buffer kept, masked, capped at limit, with a note of
// what was dropped.
func (c *cappedBuffer) text(m *Masker, limit int) string {
	s, cut := capText(m.Mask(c.buf.String()), limit)
	if cut || c.dropped > 0 {
		s += fmt.Sprintf("\n[truncated at %d bytes]", limit)
	}
	return s
}

// execWaitDelay bounds how long a program's output pipes are drained after
// it exits or is killed (a child it left behind may hold them).
const execWaitDelay = 5 * time.Second

// doExec runs an allowlisted program with an argument vector and exactly
// the environment Environ gives: no shell, nothing of incidentd's own
// environment.
func (e *Engine) doExec(ctx context.Context, c *ExecCommand, m *Masker) (StepResult, error) {
	cfg := e.config()
	if len(cfg.Exec.Allow) == 0 {
		return StepResult{}, errors.New("exec steps are off: runbooks.exec.allow lists no programs")
	}
	path, err := lookPath(c.Command[0], e.opts.SearchPath)
	if err != nil {
		return StepResult{}, err
	}
	if !cfg.Exec.Allowed(path) {
		return StepResult{}, fmt.Errorf("%s is not allowed: add it to runbooks.exec.allow", path)
	}
	limit := int(cfg.MaxOutputBytes)
	stdout := &cappedBuffer{limit: limit + MaxSecretBytes}
	stderr := &cappedBuffer{limit: limit + MaxSecretBytes}
	cmd := exec.CommandContext(ctx, path)
	cmd.Args = c.Command
	cmd.Env = c.Environ(e.opts.SearchPath)
	cmd.Dir = c.Dir
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = execWaitDelay
	runErr := cmd.Run()
	res := StepResult{Stdout: stdout.text(m, limit), Stderr: stderr.text(m, limit)}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	var exitErr *exec.ExitError
	switch {
	case runErr == nil:
		return res, nil
	case errors.As(runErr, &exitErr) && ctx.Err() == nil:
		msg := fmt.Sprintf("%s exited with status %d", filepath.Base(path), res.ExitCode)
		if line := firstLine(res.Stderr); line != "" {
			msg += ": " + line
		}
		return res, errors.New(msg)
	}
	return res, runErr
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return truncateUTF8(s, 200)
}

// lookPath finds the program command[0] names: an absolute path as is, a
// bare name in searchPath. Relative paths are refused: what they name
// depends on the working directory.
func lookPath(name, searchPath string) (string, error) {
	if strings.ContainsRune(name, '/') {
		if !filepath.IsAbs(name) {
			return "", fmt.Errorf("%s: write an absolute path or a program name looked up in PATH", name)
		}
		p := filepath.Clean(name)
		if !executable(p) {
			return "", fmt.Errorf("%s: no such executable file", p)
		}
		return p, nil
	}
	for _, dir := range filepath.SplitList(searchPath) {
		if !filepath.IsAbs(dir) {
			continue
		}
		if p := filepath.Join(dir, name); executable(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found in %s", name, searchPath)
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// pageKey identifies an escalate or notify step's request to the Pager.
// It leaves the attempt out on purpose: every attempt of the step asks for
// the same thing, and a retry after a request that took effect must not
// page again.
func pageKey(run int64, step string) string { return fmt.Sprintf("runbook:%d:%s", run, step) }
