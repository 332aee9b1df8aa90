package runbooks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/strictyaml"
)

// The YAML shapes, decoded strictly. Optional blocks are plain structs;
// whether the file sets them is read from the node positions.
type runbookYAML struct {
	Name        string              `yaml:"name"`
	Description string              `yaml:"description"`
	Triggers    []triggerYAML       `yaml:"triggers"`
	Concurrency concurrencyYAML     `yaml:"concurrency"`
	Timeout     strictyaml.Duration `yaml:"timeout"`
	Inputs      []inputYAML         `yaml:"inputs"`
	Steps       []stepYAML          `yaml:"steps"`
	OnFailure   []stepYAML          `yaml:"on_failure"`
}

type triggerYAML struct {
	On       string `yaml:"on"`
	Match    string `yaml:"match"`
	Schedule string `yaml:"schedule"`
	Timezone string `yaml:"timezone"`
	Manual   bool   `yaml:"manual"`
}

type concurrencyYAML struct {
	Key   string `yaml:"key"`
	Limit int    `yaml:"limit"`
}

type inputYAML struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Type        string `yaml:"type"`
	Required    bool   `yaml:"required"`
	Default     string `yaml:"default"`
}

type stepYAML struct {
	Name            string              `yaml:"name"`
	When            string              `yaml:"when"`
	Retry           retryYAML           `yaml:"retry"`
	Timeout         strictyaml.Duration `yaml:"timeout"`
	ContinueOnError bool                `yaml:"continue_on_error"`

	HTTP        httpYAML    `yaml:"http"`
	Exec        execYAML    `yaml:"exec"`
	Wait        waitYAML    `yaml:"wait"`
	Approve     approveYAML `yaml:"approve"`
	Annotate    string      `yaml:"annotate"`
	Set         setYAML     `yaml:"set"`
	Acknowledge messageYAML `yaml:"acknowledge"`
	Resolve     messageYAML `yaml:"resolve"`
	Escalate    messageYAML `yaml:"escalate"`
	Notify      notifyYAML  `yaml:"notify"`
	Runbook     callYAML    `yaml:"runbook"`
	Parallel    []stepYAML  `yaml:"parallel"`
}

type retryYAML struct {
	Attempts   int                 `yaml:"attempts"`
	Backoff    strictyaml.Duration `yaml:"backoff"`
	MaxBackoff strictyaml.Duration `yaml:"max_backoff"`
	Jitter     float64             `yaml:"jitter"`
}

type httpYAML struct {
	Method  string            `yaml:"method"`
	URL     string            `yaml:"url"`
	Headers map[string]string `yaml:"headers"`
	Body    string            `yaml:"body"`
	// JSON is taken out of the node tree before decoding (any YAML value
	// is allowed); the field only makes the key known.
	JSON    string              `yaml:"json"`
	Timeout strictyaml.Duration `yaml:"timeout"`
}

type execYAML struct {
	Command []string            `yaml:"command"`
	Env     map[string]string   `yaml:"env"`
	Dir     string              `yaml:"dir"`
	Timeout strictyaml.Duration `yaml:"timeout"`
}

type waitYAML struct {
	Duration strictyaml.Duration `yaml:"duration"`
	Until    string              `yaml:"until"`
	Timeout  strictyaml.Duration `yaml:"timeout"`
	Interval strictyaml.Duration `yaml:"interval"`
}

type approveYAML struct {
	From    []string            `yaml:"from"`
	Timeout strictyaml.Duration `yaml:"timeout"`
	Message string              `yaml:"message"`
}

type setYAML struct {
	Priority string            `yaml:"priority"`
	OnHold   bool              `yaml:"on_hold"`
	Labels   map[string]string `yaml:"labels"`
}

type messageYAML struct {
	Message string `yaml:"message"`
}

type notifyYAML struct {
	To      []string `yaml:"to"`
	Message string   `yaml:"message"`
}

type callYAML struct {
	Name   string            `yaml:"name"`
	Inputs map[string]string `yaml:"inputs"`
}

var (
	runbookNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	stepNameRe    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)
	inputNameRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	labelNameRe   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	envNameRe     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	headerNameRe  = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	httpMethods   = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

// Parse loads one runbook from data (file names it in messages). The error,
// if any, is a Diagnostics listing every problem with file:line:column.
// Checks that need other runbooks (runbook steps) are made by NewSet.
func Parse(file string, data []byte) (*Runbook, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, Diagnostics{{File: file, Msg: "empty file: want a runbook"}}
		}
		return nil, Diagnostics{syntaxError(file, err)}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, Diagnostics{{File: file, Line: extra.Line, Msg: "a file holds one runbook: split the documents into files"}}
	case !errors.Is(err, io.EOF):
		return nil, Diagnostics{syntaxError(file, err)}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		line := 0
		if len(doc.Content) > 0 {
			line = doc.Content[0].Line
		}
		return nil, Diagnostics{{File: file, Line: line, Msg: "want a runbook: a mapping with name, triggers and steps"}}
	}
	// The walks below follow aliases: refuse cycles and alias bombs first.
	if e := strictyaml.CheckAliases(&doc); e != nil {
		e.File = file
		return nil, Diagnostics{*e}
	}
	pos := positions{}
	pos.walk(&doc, "")
	jsonNodes := map[string]yaml.Node{}
	stashJSON(&doc, "", jsonNodes)

	var raw runbookYAML
	d := strictyaml.NewDecoder()
	d.Decode(&doc, &raw)
	b := &builder{file: file, pos: pos, json: jsonNodes}
	b.decodeErr = map[string]bool{}
	for _, e := range d.Errs() {
		b.diags = append(b.diags, Diagnostic{File: file, Line: e.Line, Column: pos.column(e.Key, e.Line), Key: e.Key, Msg: e.Msg})
		b.decodeErr[e.Key] = true
	}
	rb := b.build(&raw)
	if len(b.diags) > 0 {
		sortDiagnostics(b.diags)
		return nil, b.diags
	}
	sortDiagnostics(b.warns)
	rb.Warnings = b.warns
	return rb, nil
}

// stashJSON takes every http.json value out of the tree, leaving null, so
// that strictyaml decodes the rest and the builder reads json as any YAML.
func stashJSON(n *yaml.Node, key string, out map[string]yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			stashJSON(c, key, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			child := strictyaml.Join(key, k.Value)
			if k.Value == "json" && strings.HasSuffix(key, "].http") && v.Tag != "!!null" {
				if _, dup := out[child]; !dup {
					out[child] = *v
				}
				*v = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: v.Line, Column: v.Column}
				continue
			}
			stashJSON(v, child, out)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			stashJSON(c, key+"["+strconv.Itoa(i)+"]", out)
		}
	}
}

type builder struct {
	file  string
	pos   positions
	json  map[string]yaml.Node
	diags Diagnostics
	warns Diagnostics

	// decodeErr marks keys strictyaml already reported.
	decodeErr map[string]bool

	rb     *Runbook
	all    map[string]bool // every step name
	inputs map[string]bool
}

func (b *builder) diag(key, format string, args ...any) Diagnostic {
	line, col := b.pos.at(key)
	return Diagnostic{File: b.file, Line: line, Column: col, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (b *builder) fail(key, format string, args ...any) {
	if b.decodeErr[key] {
		return // strictyaml already said what is wrong here
	}
	b.diags = append(b.diags, b.diag(key, format, args...))
}

func (b *builder) warn(key, format string, args ...any) {
	b.warns = append(b.warns, b.diag(key, format, args...))
}

func (b *builder) has(key string) bool { return b.pos.has(key) }

// positive checks an optional duration the file sets.
func (b *builder) positive(key string, d strictyaml.Duration) time.Duration {
	if b.has(key) && d <= 0 && !b.decodeErr[key] {
		b.fail(key, "must be positive")
	}
	return time.Duration(d)
}

func (b *builder) text(key, src string, secrets bool, sc *scope) *Text {
	t, err := compileText(key, src, secrets, sc)
	if err != nil {
		b.fail(key, "%v", err)
		return nil
	}
	return t
}

func (b *builder) condition(key, src string, sc *scope) *Condition {
	if strings.TrimSpace(src) == "" {
		b.fail(key, "empty condition")
		return nil
	}
	c, err := compileCondition(src, sc)
	if err != nil {
		b.fail(key, "%v", err)
		return nil
	}
	return c
}

func (b *builder) build(raw *runbookYAML) *Runbook {
	rb := &Runbook{Name: raw.Name, Description: raw.Description, File: b.file, pos: b.pos, Timeout: DefaultTimeout}
	b.rb = rb
	switch {
	case raw.Name == "":
		b.fail("name", "required")
	case !runbookNameRe.MatchString(raw.Name):
		b.fail("name", "%q: want letters, digits, '_', '-' and '.', starting with a letter or digit (at most 128)", raw.Name)
	}
	b.buildInputs(raw.Inputs)
	b.buildTriggers(raw.Triggers)
	if b.has("timeout") {
		rb.Timeout = b.positive("timeout", raw.Timeout)
	}
	b.all = map[string]bool{}
	names := map[string]string{}
	b.collectNames(raw.Steps, "steps", names)
	b.collectNames(raw.OnFailure, "on_failure", names)

	if b.has("concurrency") {
		c := &Concurrency{Limit: raw.Concurrency.Limit}
		if c.Limit < 1 {
			b.fail("concurrency.limit", "must be at least 1")
		}
		c.Key = b.text("concurrency.key", raw.Concurrency.Key, false, &scope{all: b.all, inputs: b.inputs})
		rb.Concurrency = c
	}

	if len(raw.Steps) == 0 {
		b.fail("steps", "a runbook needs at least one step")
	}
	before := map[string]bool{}
	rb.Steps = b.sequence(raw.Steps, "steps", before)
	rb.OnFailure = b.sequence(raw.OnFailure, "on_failure", before)
	b.timeoutWarnings()
	return rb
}

func (b *builder) buildInputs(raw []inputYAML) {
	b.inputs = map[string]bool{}
	for i, in := range raw {
		key := fmt.Sprintf("inputs[%d]", i)
		switch {
		case in.Name == "":
			b.fail(key+".name", "required")
		case !inputNameRe.MatchString(in.Name):
			b.fail(key+".name", "%q: want letters, digits and '_', not starting with a digit", in.Name)
		case b.inputs[in.Name]:
			b.fail(key+".name", "input %q declared twice", in.Name)
		}
		b.inputs[in.Name] = true
		input := &Input{Name: in.Name, Description: in.Description, Type: InputType(in.Type), Required: in.Required}
		if input.Type == "" {
			input.Type = InputString
		}
		if !slices.Contains(InputTypes, input.Type) {
			b.fail(key+".type", "%q: want string, int, bool or duration", in.Type)
		} else if b.has(key + ".default") {
			if in.Required {
				b.fail(key+".default", "a required input takes no default")
			}
			v, err := input.Parse(in.Default)
			if err != nil {
				b.fail(key+".default", "%v", err)
			}
			input.Default = v
		}
		b.rb.Inputs = append(b.rb.Inputs, input)
	}
}

func (b *builder) buildTriggers(raw []triggerYAML) {
	for i, tr := range raw {
		key := fmt.Sprintf("triggers[%d]", i)
		t := &Trigger{Index: i}
		t.Line, t.Column = b.pos.at(key)
		var kinds []string
		for _, k := range []string{"on", "schedule", "manual"} {
			if b.has(key + "." + k) {
				kinds = append(kinds, k)
			}
		}
		if len(kinds) != 1 {
			b.fail(key, "a trigger has exactly one of on, schedule and manual (got %s)", listOrNone(kinds))
			continue
		}
		if b.has(key+".match") && kinds[0] != "on" {
			b.fail(key+".match", "match filters events: it goes with on")
		}
		if b.has(key+".timezone") && kinds[0] != "schedule" {
			b.fail(key+".timezone", "timezone goes with schedule")
		}
		switch kinds[0] {
		case "on":
			t.Kind, t.Event = TriggerEvent, tr.On
			if !slices.Contains(Events, tr.On) {
				b.fail(key+".on", "unknown event %q (known: %s)", tr.On, strings.Join(Events, ", "))
			}
			if b.has(key + ".match") {
				ms, err := incident.ParseMatchers(tr.Match)
				if err != nil {
					b.fail(key+".match", "%v", err)
				}
				t.Match = ms
			}
		case "schedule":
			t.Kind, t.Schedule = TriggerSchedule, tr.Schedule
			sched, loc, err := parseSchedule(tr.Schedule, tr.Timezone)
			if err != nil {
				k := key + ".schedule"
				if strings.Contains(err.Error(), "timezone") && b.has(key+".timezone") {
					k = key + ".timezone"
				}
				b.fail(k, "%v", err)
			}
			t.sched, t.Location = sched, loc
		case "manual":
			t.Kind = TriggerManual
			if !tr.Manual {
				b.fail(key+".manual", "write manual: true, or remove the trigger")
			}
		}
		b.rb.Triggers = append(b.rb.Triggers, t)
	}
	// Runs started by events and schedules get no inputs, so every input
	// needs a value without them.
	auto := slices.ContainsFunc(b.rb.Triggers, func(t *Trigger) bool { return t.Kind != TriggerManual })
	for i, in := range b.rb.Inputs {
		if auto && in.Required {
			b.fail(fmt.Sprintf("inputs[%d].required", i), "runs started by events or schedules have no inputs: give %s a default instead", in.Name)
		}
	}
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, " and ")
}

// collectNames checks step names for syntax and uniqueness across the whole
// runbook, parallel and on_failure steps included.
func (b *builder) collectNames(steps []stepYAML, key string, seen map[string]string) {
	for i := range steps {
		s := &steps[i]
		k := fmt.Sprintf("%s[%d]", key, i)
		if s.Name != "" {
			switch {
			case !stepNameRe.MatchString(s.Name):
				b.fail(k+".name", "%q: want letters, digits, '_' and '-', starting with a letter (at most 64)", s.Name)
			case seen[s.Name] != "":
				b.fail(k+".name", "step name %q is already used by %s", s.Name, seen[s.Name])
			default:
				seen[s.Name] = k
			}
			b.all[s.Name] = true
		}
		b.collectNames(s.Parallel, k+".parallel", seen)
	}
}

// sequence builds steps that run one after another: each sees the results
// of the steps before it. before is updated with every step that ends.
func (b *builder) sequence(steps []stepYAML, key string, before map[string]bool) []*Step {
	var out []*Step
	for i := range steps {
		k := fmt.Sprintf("%s[%d]", key, i)
		s := b.step(&steps[i], k, before)
		out = append(out, s)
		markEnded(s, before)
	}
	return out
}

func markEnded(s *Step, before map[string]bool) {
	if s.Name != "" {
		before[s.Name] = true
	}
	for _, c := range s.Parallel {
		markEnded(c, before)
	}
}

func (b *builder) step(raw *stepYAML, key string, before map[string]bool) *Step {
	s := &Step{Name: raw.Name, ID: key, ContinueOnError: raw.ContinueOnError, Retry: Retry{Attempts: 1}}
	s.Line, s.Column = b.pos.at(key)
	sc := &scope{before: maps(before), all: b.all, inputs: b.inputs}

	var kinds []string
	for _, k := range Kinds {
		if b.has(key + "." + string(k)) {
			kinds = append(kinds, string(k))
		}
	}
	switch len(kinds) {
	case 0:
		b.fail(key, "a step needs an action: one of %s", kindList())
		return s
	case 1:
		s.Kind = Kind(kinds[0])
	default:
		b.fail(key, "a step has exactly one action, got %s", strings.Join(kinds, " and "))
		return s
	}
	if b.has(key + ".when") {
		s.When = b.condition(key+".when", raw.When, sc)
	}
	if b.has(key + ".timeout") {
		s.Timeout = b.positive(key+".timeout", raw.Timeout)
		if s.Kind == KindWait || s.Kind == KindApprove {
			b.fail(key+".timeout", "a %s step takes its timeout inside: %s.timeout", s.Kind, s.Kind)
		}
	}
	if b.has(key + ".retry") {
		if s.Kind == KindWait || s.Kind == KindApprove || s.Kind == KindParallel || s.Kind == KindRunbook {
			b.fail(key+".retry", "%s steps cannot be retried", s.Kind)
		}
		s.Retry = b.retry(raw.Retry, key+".retry")
	}
	ak := key + "." + string(s.Kind)
	switch s.Kind {
	case KindHTTP:
		s.HTTP = b.http(&raw.HTTP, ak, sc)
	case KindExec:
		s.Exec = b.exec(&raw.Exec, ak, sc)
	case KindWait:
		s.Wait = b.wait(&raw.Wait, ak, sc)
	case KindApprove:
		s.Approve = b.approve(&raw.Approve, ak, sc)
	case KindAnnotate:
		if strings.TrimSpace(raw.Annotate) == "" {
			b.fail(ak, "the note is empty")
		}
		s.Annotate = b.text(ak, raw.Annotate, false, sc)
	case KindSet:
		s.Set = b.set(&raw.Set, ak, sc)
	case KindAcknowledge:
		s.Acknowledge = b.message(&raw.Acknowledge, ak, sc)
	case KindResolve:
		s.Resolve = b.message(&raw.Resolve, ak, sc)
	case KindEscalate:
		s.Escalate = b.message(&raw.Escalate, ak, sc)
	case KindNotify:
		s.Notify = &NotifyAction{To: raw.Notify.To}
		if strings.TrimSpace(raw.Notify.Message) == "" {
			b.fail(ak+".message", "required")
		}
		s.Notify.Message = b.text(ak+".message", raw.Notify.Message, false, sc)
		b.names(ak+".to", raw.Notify.To, false)
	case KindRunbook:
		s.Runbook = &CallAction{Runbook: raw.Runbook.Name, Inputs: map[string]*Text{}}
		if raw.Runbook.Name == "" {
			b.fail(ak+".name", "required")
		}
		for _, name := range sortedKeys(raw.Runbook.Inputs) {
			s.Runbook.Inputs[name] = b.text(strictyaml.Join(ak+".inputs", name), raw.Runbook.Inputs[name], false, sc)
		}
	case KindParallel:
		if len(raw.Parallel) == 0 {
			b.fail(ak, "a parallel step needs steps")
		}
		if len(raw.Parallel) == 1 {
			b.warn(ak, "one step runs in parallel with nothing")
		}
		for i := range raw.Parallel {
			// Siblings run at the same time: none sees another's result.
			s.Parallel = append(s.Parallel, b.step(&raw.Parallel[i], fmt.Sprintf("%s[%d]", ak, i), before))
		}
	}
	return s
}

func kindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

func maps(m map[string]bool) map[string]bool {
	c := make(map[string]bool, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (b *builder) retry(raw retryYAML, key string) Retry {
	r := Retry{Attempts: raw.Attempts, Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff, Jitter: DefaultJitter}
	switch {
	case !b.has(key + ".attempts"):
		b.fail(key+".attempts", "required: how many attempts in all")
	case r.Attempts < 1 || r.Attempts > MaxAttempts:
		b.fail(key+".attempts", "want 1..%d", MaxAttempts)
	case r.Attempts == 1:
		b.warn(key+".attempts", "1 attempt never retries")
	}
	if b.has(key + ".backoff") {
		r.Backoff = b.positive(key+".backoff", raw.Backoff)
	}
	if b.has(key + ".max_backoff") {
		r.MaxBackoff = b.positive(key+".max_backoff", raw.MaxBackoff)
	} else if r.Backoff > r.MaxBackoff {
		r.MaxBackoff = r.Backoff
	}
	if r.Backoff > r.MaxBackoff && r.MaxBackoff > 0 {
		b.fail(key+".max_backoff", "%s is less than backoff %s", strictyaml.Duration(r.MaxBackoff), strictyaml.Duration(r.Backoff))
	}
	if b.has(key + ".jitter") {
		r.Jitter = raw.Jitter
		if r.Jitter < 0 || r.Jitter > 1 {
			b.fail(key+".jitter", "want a fraction from 0 to 1")
		}
	}
	return r
}

func (b *builder) http(raw *httpYAML, key string, sc *scope) *HTTPAction {
	h := &HTTPAction{Method: strings.ToUpper(raw.Method), Headers: map[string]*Text{}, Timeout: DefaultHTTPTimeout}
	if h.Method == "" {
		h.Method = "GET"
	}
	if !slices.Contains(httpMethods, h.Method) {
		b.fail(key+".method", "%q: want one of %s", raw.Method, strings.Join(httpMethods, ", "))
	}
	if strings.TrimSpace(raw.URL) == "" {
		b.fail(key+".url", "required")
	} else if h.URL = b.text(key+".url", raw.URL, true, sc); h.URL != nil {
		// Check what is written literally before any template or secret.
		lit := raw.URL
		if i := strings.Index(lit, "{{"); i >= 0 {
			lit = lit[:i]
		}
		if i := strings.Index(lit, "${secret:"); i >= 0 {
			lit = lit[:i]
		}
		if lit == raw.URL {
			if err := checkURL(raw.URL); err != nil {
				b.fail(key+".url", "%v", err)
			}
		} else if strings.Contains(lit, "://") && !strings.HasPrefix(lit, "http://") && !strings.HasPrefix(lit, "https://") {
			b.fail(key+".url", "want an http:// or https:// URL")
		}
	}
	for _, name := range sortedKeys(raw.Headers) {
		k := strictyaml.Join(key+".headers", name)
		if !headerNameRe.MatchString(name) {
			b.fail(k, "invalid header name %q", name)
		}
		h.Headers[name] = b.text(k, raw.Headers[name], true, sc)
	}
	bodyKey, jsonKey := key+".body", key+".json"
	if b.has(bodyKey) && b.has(jsonKey) {
		b.fail(jsonKey, "set body or json, not both")
	}
	if b.has(bodyKey) {
		h.Body = b.text(bodyKey, raw.Body, true, sc)
	}
	if n, ok := b.json[jsonKey]; ok {
		h.JSON = b.jsonValue(&n, jsonKey, sc)
		if v := strings.TrimSpace(n.Value); n.Kind == yaml.ScalarNode && n.Tag == "!!str" && (strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[")) {
			b.warn(jsonKey, "json is text here, so it is sent as one JSON string: write the value as YAML, or use body for JSON text")
		}
	}
	if (h.Body != nil || h.JSON != nil) && (h.Method == "GET" || h.Method == "HEAD") {
		b.warn(key+".method", "a %s request with a body: many servers ignore or reject it", h.Method)
	}
	if b.has(key + ".timeout") {
		h.Timeout = b.positive(key+".timeout", raw.Timeout)
	}
	return h
}

// checkURL checks a URL that has no template.
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL: %v", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an absolute http:// or https:// URL")
	}
	return nil
}

func (b *builder) jsonValue(n *yaml.Node, key string, sc *scope) *JSONValue {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		v := &JSONValue{object: map[string]*JSONValue{}}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ck := strictyaml.Join(key, k.Value)
			if _, dup := v.object[k.Value]; dup {
				b.fail(ck, "set twice")
				continue
			}
			v.object[k.Value] = b.jsonValue(n.Content[i+1], ck, sc)
		}
		return v
	case yaml.SequenceNode:
		v := &JSONValue{array: []*JSONValue{}}
		for i, c := range n.Content {
			v.array = append(v.array, b.jsonValue(c, fmt.Sprintf("%s[%d]", key, i), sc))
		}
		return v
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return &JSONValue{literal: true}
		case "!!int", "!!float", "!!bool":
			var x any
			if err := n.Decode(&x); err != nil {
				b.fail(key, "%q: %v", n.Value, err)
			}
			return &JSONValue{literal: true, value: x}
		default:
			return &JSONValue{text: b.text(key, n.Value, true, sc)}
		}
	}
	b.fail(key, "unsupported YAML value")
	return &JSONValue{literal: true}
}

// interpreters run their script argument as code: a template there is an
// injection waiting for a label with ; or $(...).
var interpreters = map[string]string{
	"sh": "-c", "bash": "-c", "dash": "-c", "zsh": "-c", "ksh": "-c", "ash": "-c", "fish": "-c",
	"python": "-c", "python3": "-c", "perl": "-e", "ruby": "-e", "node": "-e",
}

func (b *builder) exec(raw *execYAML, key string, sc *scope) *ExecAction {
	e := &ExecAction{Env: map[string]*Text{}, Dir: raw.Dir, Timeout: DefaultExecTimeout}
	ck := key + ".command"
	if len(raw.Command) == 0 || raw.Command[0] == "" {
		b.fail(ck, "want the program and its arguments, e.g. [kubectl, rollout, restart, deployment/x]")
	}
	for i, arg := range raw.Command {
		k := fmt.Sprintf("%s[%d]", ck, i)
		if i == 0 {
			if strings.Contains(arg, "{{") || strings.Contains(arg, "${") {
				b.fail(k, "the program must be written out, not templated: it is checked against runbooks.exec.allow")
				continue
			}
			e.Command = append(e.Command, &Text{Source: arg, name: k, parts: []textPart{{literal: arg}}})
			continue
		}
		t := b.text(k, arg, true, sc)
		if t != nil && len(t.Secrets()) > 0 {
			b.warn(k, "a secret in an argument is visible to every process on the host (ps): pass it in env")
		}
		e.Command = append(e.Command, t)
	}
	if len(raw.Command) > 0 {
		if flag, ok := interpreters[path.Base(raw.Command[0])]; ok {
			for i := 1; i+1 < len(raw.Command); i++ {
				a := raw.Command[i]
				if a == flag || flag == "-c" && len(a) > 1 && a[0] == '-' && a[1] != '-' && strings.HasSuffix(a, "c") {
					if strings.Contains(raw.Command[i+1], "{{") {
						b.warn(fmt.Sprintf("%s[%d]", ck, i+1), "a template inside a %s %s script is code: a label holding ; or $(...) would run. Pass values as arguments after the script (\"$1\") or in env", path.Base(raw.Command[0]), a)
					}
					break
				}
			}
		}
	}
	for _, name := range sortedKeys(raw.Env) {
		k := strictyaml.Join(key+".env", name)
		if !envNameRe.MatchString(name) {
			b.fail(k, "invalid environment variable name %q", name)
		}
		e.Env[name] = b.text(k, raw.Env[name], true, sc)
	}
	if b.has(key+".dir") && !path.IsAbs(raw.Dir) {
		b.fail(key+".dir", "want an absolute path")
	}
	if b.has(key + ".timeout") {
		e.Timeout = b.positive(key+".timeout", raw.Timeout)
	}
	return e
}

func (b *builder) wait(raw *waitYAML, key string, sc *scope) *WaitAction {
	w := &WaitAction{}
	hasDur, hasUntil := b.has(key+".duration"), b.has(key+".until")
	switch {
	case hasDur == hasUntil:
		b.fail(key, "a wait has exactly one of duration and until")
	case hasDur:
		w.Duration = b.positive(key+".duration", raw.Duration)
		for _, k := range []string{"timeout", "interval"} {
			if b.has(key + "." + k) {
				b.fail(key+"."+k, "goes with until, not duration")
			}
		}
	default:
		w.Until = b.condition(key+".until", raw.Until, sc)
		if !b.has(key + ".timeout") {
			b.fail(key+".timeout", "required with until: how long to wait at most")
		}
		w.Timeout = b.positive(key+".timeout", raw.Timeout)
		w.Interval = DefaultWaitInterval
		if b.has(key + ".interval") {
			w.Interval = b.positive(key+".interval", raw.Interval)
		}
	}
	return w
}

func (b *builder) approve(raw *approveYAML, key string, sc *scope) *ApproveAction {
	a := &ApproveAction{From: raw.From}
	if len(raw.From) == 0 {
		b.fail(key+".from", "name who may approve: people, teams or schedules")
	}
	b.names(key+".from", raw.From, true)
	a.Timeout = b.positive(key+".timeout", raw.Timeout)
	if b.has(key + ".message") {
		a.Message = b.text(key+".message", raw.Message, false, sc)
	}
	return a
}

// names checks a list of names: none empty, none twice.
func (b *builder) names(key string, list []string, unique bool) {
	seen := map[string]bool{}
	for i, n := range list {
		k := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case strings.TrimSpace(n) == "":
			b.fail(k, "empty name")
		case unique && seen[n]:
			b.fail(k, "%q listed twice", n)
		}
		seen[n] = true
	}
}

func (b *builder) set(raw *setYAML, key string, sc *scope) *SetAction {
	s := &SetAction{Labels: map[string]*Text{}}
	if !b.has(key+".priority") && !b.has(key+".on_hold") && !b.has(key+".labels") {
		b.fail(key, "set needs priority, on_hold or labels")
	}
	if b.has(key + ".priority") {
		p := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(raw.Priority)), "P")
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 5 {
			b.fail(key+".priority", "%q: want P1..P5", raw.Priority)
		}
		s.Priority = n
	}
	if b.has(key + ".on_hold") {
		v := raw.OnHold
		s.OnHold = &v
	}
	for _, name := range sortedKeys(raw.Labels) {
		k := strictyaml.Join(key+".labels", name)
		if !labelNameRe.MatchString(name) {
			b.fail(k, "invalid label name %q", name)
		}
		s.Labels[name] = b.text(k, raw.Labels[name], false, sc)
	}
	return s
}

func (b *builder) message(raw *messageYAML, key string, sc *scope) *MessageAction {
	m := &MessageAction{}
	if b.has(key + ".message") {
		m.Message = b.text(key+".message", raw.Message, false, sc)
	}
	return m
}

// timeoutWarnings flags timeouts longer than the run's, which the run's
// timeout cuts short anyway.
func (b *builder) timeoutWarnings() {
	rb := b.rb
	rb.Walk(func(s *Step) {
		if !strings.HasPrefix(s.ID, "steps") {
			return // on_failure steps run after the run's timeout
		}
		for _, field := range []string{".timeout", ".http.timeout", ".exec.timeout", ".wait.timeout", ".wait.duration", ".approve.timeout"} {
			var d time.Duration
			switch field {
			case ".timeout":
				d = s.Timeout
			case ".http.timeout", ".exec.timeout":
				if s.HTTP != nil {
					d = s.HTTP.Timeout
				} else if s.Exec != nil {
					d = s.Exec.Timeout
				}
			case ".wait.timeout", ".wait.duration":
				if s.Wait != nil {
					d = max(s.Wait.Timeout, s.Wait.Duration)
				}
			case ".approve.timeout":
				if s.Approve != nil {
					d = s.Approve.Timeout
				}
			}
			if b.has(s.ID+field) && d > rb.Timeout {
				b.warn(s.ID+field, "%s is longer than the runbook's timeout %s, which ends the run first", strictyaml.Duration(d), strictyaml.Duration(rb.Timeout))
			}
		}
	})
}
