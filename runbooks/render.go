package runbooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// JSONValue is an http.json body: any YAML value whose strings are
// templates. Each string renders on its own and the whole is encoded
// afterwards, so a label holding quotes or braces stays one JSON string.
type JSONValue struct {
	object  map[string]*JSONValue
	array   []*JSONValue
	text    *Text
	literal bool
	value   any // number, bool or nil, for literals
}

func (v *JSONValue) texts() []*Text {
	var out []*Text
	switch {
	case v == nil:
	case v.text != nil:
		out = append(out, v.text)
	case v.object != nil:
		for _, k := range sortedKeys(v.object) {
			out = append(out, v.object[k].texts()...)
		}
	default:
		for _, e := range v.array {
			out = append(out, e.texts()...)
		}
	}
	return out
}

func (v *JSONValue) render(d *Data, resolve func(string) (string, error)) (any, error) {
	switch {
	case v.literal:
		return v.value, nil
	case v.text != nil:
		return v.text.render(d, resolve)
	case v.object != nil:
		out := make(map[string]any, len(v.object))
		for k, e := range v.object {
			r, err := e.render(d, resolve)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	default:
		out := make([]any, len(v.array))
		for i, e := range v.array {
			r, err := e.render(d, resolve)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	}
}

// Rendered is a step's input as the engine executes it: templates rendered,
// secrets resolved. Exactly one field besides Kind is set, for the step's
// kind (acknowledge, resolve and escalate use Message only; parallel has
// nothing: the engine renders each of its steps). Persist and show
// Masked(), never this.
type Rendered struct {
	Kind    Kind             `json:"kind"`
	HTTP    *HTTPRequest     `json:"http,omitempty"`
	Exec    *ExecCommand     `json:"exec,omitempty"`
	Wait    *WaitSpec        `json:"wait,omitempty"`
	Approve *ApprovalRequest `json:"approve,omitempty"`
	// Note is the annotate text.
	Note string     `json:"note,omitempty"`
	Set  *SetChange `json:"set,omitempty"`
	// Message is the timeline message of acknowledge, resolve and escalate,
	// and the text of notify.
	Message string `json:"message,omitempty"`
	// To are notify's recipients.
	To   []string `json:"to,omitempty"`
	Call *Call    `json:"runbook,omitempty"`
}

// HTTPRequest is a rendered http step.
type HTTPRequest struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	// Timeout bounds one attempt.
	Timeout time.Duration `json:"timeout"`
}

// ExecCommand is a rendered exec step: an argument vector, never a shell
// line.
type ExecCommand struct {
	Command []string          `json:"command"`
	Env     map[string]string `json:"env,omitempty"`
	Dir     string            `json:"dir,omitempty"`
	Timeout time.Duration     `json:"timeout"`
}

// Environ is the program's whole environment: PATH (the search path the
// engine uses) and Env, nothing inherited. The daemon's own environment,
// which holds the INCIDENTD_SECRET_* variables, never reaches a runbook's
// program. Env may override PATH.
func (c *ExecCommand) Environ(path string) []string {
	env := map[string]string{"PATH": path}
	for k, v := range c.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for _, k := range sortedKeys(env) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// WaitSpec is a wait step; the engine evaluates Step.Wait.Until itself.
type WaitSpec struct {
	Duration time.Duration `json:"duration,omitempty"`
	Until    string        `json:"until,omitempty"`
	Timeout  time.Duration `json:"timeout,omitempty"`
	Interval time.Duration `json:"interval,omitempty"`
}

// ApprovalRequest is a rendered approve step.
type ApprovalRequest struct {
	From    []string      `json:"from"`
	Timeout time.Duration `json:"timeout,omitempty"`
	Message string        `json:"message,omitempty"`
}

// SetChange is a rendered set step.
type SetChange struct {
	Priority int               `json:"priority,omitempty"`
	OnHold   *bool             `json:"on_hold,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Call is a rendered runbook step: pass Inputs to the callee's
// ResolveInputs.
type Call struct {
	Runbook string            `json:"runbook"`
	Inputs  map[string]string `json:"inputs,omitempty"`
}

// Renderer renders step inputs for one run.
type Renderer struct {
	// Secrets resolves ${secret:NAME}. If nil (dry runs), references stay
	// as written and nothing is resolved.
	Secrets SecretSource
	// Masker receives every value resolved; required with Secrets. Use one
	// per run and mask everything the run stores or logs with it.
	Masker *Masker
}

// ShouldRun evaluates the step's when (true if it has none).
func (s *Step) ShouldRun(d *Data) (bool, error) {
	if s.When == nil {
		return true, nil
	}
	return s.When.Eval(d)
}

// ConcurrencyKey renders the runbook's concurrency key for a run; "" when
// the runbook has no concurrency limit.
func (rb *Runbook) ConcurrencyKey(d *Data) (string, error) {
	if rb.Concurrency == nil || rb.Concurrency.Key == nil {
		return "", nil
	}
	return rb.Concurrency.Key.render(d.withDefaults(), noSecrets)
}

func noSecrets(name string) (string, error) {
	return "", fmt.Errorf("secret %q not allowed here", name)
}

// Render renders the inputs of step s over d.
func (r *Renderer) Render(s *Step, d *Data) (*Rendered, error) {
	if r.Secrets != nil && r.Masker == nil {
		return nil, errors.New("runbooks: a Renderer with Secrets needs a Masker")
	}
	d = d.withDefaults()
	resolve := func(name string) (string, error) {
		if r.Secrets == nil {
			return "${secret:" + name + "}", nil
		}
		v, err := r.Secrets.Secret(name)
		if err != nil {
			return "", err
		}
		r.Masker.Add(v)
		return v, nil
	}
	text := func(t *Text) (string, error) {
		if t == nil {
			return "", nil
		}
		return t.render(d, resolve)
	}
	texts := func(m map[string]*Text) (map[string]string, error) {
		if len(m) == 0 {
			return nil, nil
		}
		out := make(map[string]string, len(m))
		for k, t := range m {
			v, err := text(t)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	}
	out := &Rendered{Kind: s.Kind}
	var err error
	switch s.Kind {
	case KindHTTP:
		out.HTTP, err = r.http(s.HTTP, d, text, texts, resolve)
	case KindExec:
		out.Exec, err = r.exec(s.Exec, text, texts)
	case KindWait:
		w := s.Wait
		out.Wait = &WaitSpec{Duration: w.Duration, Timeout: w.Timeout, Interval: w.Interval}
		if w.Until != nil {
			out.Wait.Until = w.Until.Source
		}
	case KindApprove:
		a := s.Approve
		out.Approve = &ApprovalRequest{From: a.From, Timeout: a.Timeout}
		out.Approve.Message, err = text(a.Message)
	case KindAnnotate:
		out.Note, err = text(s.Annotate)
	case KindSet:
		out.Set = &SetChange{Priority: s.Set.Priority, OnHold: s.Set.OnHold}
		out.Set.Labels, err = texts(s.Set.Labels)
		for k, v := range out.Set.Labels {
			if err == nil && strings.ContainsAny(v, "\x00") {
				err = fmt.Errorf("label %s: value has a NUL byte", k)
			}
		}
	case KindAcknowledge:
		out.Message, err = text(s.Acknowledge.Message)
	case KindResolve:
		out.Message, err = text(s.Resolve.Message)
	case KindEscalate:
		out.Message, err = text(s.Escalate.Message)
	case KindNotify:
		out.To = s.Notify.To
		out.Message, err = text(s.Notify.Message)
	case KindRunbook:
		out.Call = &Call{Runbook: s.Runbook.Runbook}
		out.Call.Inputs, err = texts(s.Runbook.Inputs)
	case KindParallel:
	default:
		err = fmt.Errorf("step %s has no action", s.Label())
	}
	if err != nil {
		if s.Name != "" {
			return nil, fmt.Errorf("step %s: %w", s.Name, err)
		}
		return nil, err
	}
	return out, nil
}

func (r *Renderer) http(h *HTTPAction, d *Data, text func(*Text) (string, error),
	texts func(map[string]*Text) (map[string]string, error), resolve func(string) (string, error)) (*HTTPRequest, error) {
	req := &HTTPRequest{Method: h.Method, Timeout: h.Timeout}
	var err error
	if req.URL, err = text(h.URL); err != nil {
		return nil, err
	}
	if u, perr := url.Parse(req.URL); perr != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Say which part is wrong without quoting a URL that may hold a
		// secret.
		return nil, errors.New("http.url: rendered URL is not an absolute http:// or https:// URL")
	}
	if req.Headers, err = texts(h.Headers); err != nil {
		return nil, err
	}
	for k, v := range req.Headers {
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("http.headers.%s: rendered value holds a line break or NUL", k)
		}
	}
	switch {
	case h.Body != nil:
		req.Body, err = text(h.Body)
	case h.JSON != nil:
		var v any
		if v, err = h.JSON.render(d, resolve); err != nil {
			return nil, err
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err = enc.Encode(v); err != nil {
			return nil, fmt.Errorf("http.json: %w", err)
		}
		req.Body = strings.TrimSuffix(b.String(), "\n")
		if !hasHeader(req.Headers, "Content-Type") {
			if req.Headers == nil {
				req.Headers = map[string]string{}
			}
			req.Headers["Content-Type"] = "application/json"
		}
	}
	return req, err
}

func hasHeader(h map[string]string, name string) bool {
	for k := range h {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func (r *Renderer) exec(e *ExecAction, text func(*Text) (string, error),
	texts func(map[string]*Text) (map[string]string, error)) (*ExecCommand, error) {
	cmd := &ExecCommand{Dir: e.Dir, Timeout: e.Timeout, Command: make([]string, len(e.Command))}
	for i, t := range e.Command {
		// One element, one argument: what a template renders is never
		// split, globbed or handed to a shell.
		v, err := text(t)
		if err != nil {
			return nil, err
		}
		if strings.Contains(v, "\x00") {
			return nil, fmt.Errorf("exec.command[%d]: rendered argument holds a NUL byte", i)
		}
		cmd.Command[i] = v
	}
	var err error
	if cmd.Env, err = texts(e.Env); err != nil {
		return nil, err
	}
	for k, v := range cmd.Env {
		if strings.Contains(v, "\x00") {
			return nil, fmt.Errorf("exec.env.%s: rendered value holds a NUL byte", k)
		}
	}
	return cmd, nil
}

// Masked returns a copy with every secret value m knows replaced by ***,
// for storing, showing and logging.
func (r *Rendered) Masked(m *Masker) *Rendered {
	c := *r
	mask := m.Mask
	maskMap := func(in map[string]string) map[string]string {
		if in == nil {
			return nil
		}
		out := make(map[string]string, len(in))
		for k, v := range in {
			out[k] = mask(v)
		}
		return out
	}
	if r.HTTP != nil {
		h := *r.HTTP
		h.URL, h.Body, h.Headers = mask(h.URL), mask(h.Body), maskMap(h.Headers)
		c.HTTP = &h
	}
	if r.Exec != nil {
		e := *r.Exec
		e.Command = make([]string, len(r.Exec.Command))
		for i, a := range r.Exec.Command {
			e.Command[i] = mask(a)
		}
		e.Env = maskMap(e.Env)
		c.Exec = &e
	}
	if r.Approve != nil {
		a := *r.Approve
		a.Message = mask(a.Message)
		c.Approve = &a
	}
	if r.Set != nil {
		s := *r.Set
		s.Labels = maskMap(s.Labels)
		c.Set = &s
	}
	if r.Call != nil {
		call := *r.Call
		call.Inputs = maskMap(call.Inputs)
		c.Call = &call
	}
	c.Note, c.Message = mask(c.Note), mask(c.Message)
	return &c
}
