package runbooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"
)

// MaxRenderedBytes caps what one template may render, so that a large
// HTTP response or command output quoted into a later step cannot blow up.
const MaxRenderedBytes = 1 << 20

// Text is one templated string of a runbook: Go text/template with
// missingkey=error and the functions of funcs, plus ${secret:NAME}
// references where the field allows them.
//
// A secret reference counts only where it is written in the runbook file,
// outside {{ }}: the text is split at each reference, the pieces render
// separately, and the secret's value is put between them afterwards. So a
// value that data brings in (a label "${secret:kubeconfig}", an HTTP body)
// is never searched for references, and no template ever sees a secret.
type Text struct {
	// Source is the text as written.
	Source  string
	name    string
	parts   []textPart
	secrets []string
}

// textPart is a rendered piece, a literal, or a secret reference.
type textPart struct {
	tmpl    *template.Template
	literal string
	secret  string
}

// IsTemplate reports whether the text has template actions.
func (t *Text) IsTemplate() bool { return strings.Contains(t.Source, "{{") }

// Secrets lists the secret names the text references, in order.
func (t *Text) Secrets() []string { return t.secrets }

// String returns the source.
func (t *Text) String() string { return t.Source }

// funcs are the functions templates may call, besides text/template's
// built-ins (index, len, printf, eq, and, or, not, ...). Argument order
// follows sprig, so that the value can come last through a pipe:
// {{ .Labels.service | upper }}, {{ index .Labels "team" | default "ops" }}.
var funcs = template.FuncMap{
	// default DEF VALUE: VALUE, or DEF if VALUE is empty ("", 0, false, nil,
	// empty list or map). With missingkey=error a missing map key is an
	// error, not empty: use index for optional labels.
	"default": func(def, v any) any {
		if empty(v) {
			return def
		}
		return v
	},
	// trunc N S: the first N characters of S.
	"trunc": func(n int, s string) (string, error) {
		if n < 0 {
			return "", fmt.Errorf("trunc: negative length %d", n)
		}
		if utf8.RuneCountInString(s) <= n {
			return s, nil
		}
		return string([]rune(s)[:n]), nil
	},
	// join SEP LIST: the elements of a list, separated by SEP.
	"join": func(sep string, list any) (string, error) {
		v := reflect.ValueOf(list)
		if !v.IsValid() {
			return "", nil
		}
		if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
			return "", fmt.Errorf("join: want a list, got %T", list)
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strings.Join(parts, sep), nil
	},
	// quote V: V as a double-quoted, escaped Go/JSON-style string.
	"quote": func(v any) string { return strconv.Quote(fmt.Sprint(v)) },
	// toJson V: V encoded as JSON (without HTML escaping).
	"toJson": func(v any) (string, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	},
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	// replace OLD NEW S: S with every OLD replaced by NEW.
	"replace": func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
	// trim S: S without leading and trailing white space.
	"trim": strings.TrimSpace,
}

func empty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map, reflect.Array, reflect.String:
		return rv.Len() == 0
	}
	return rv.IsZero()
}

var (
	secretRef    = regexp.MustCompile(`\$\{secret:([^}]*)\}`)
	secretName   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	errSecretPos = errors.New("a ${secret:...} reference must sit in plain text: not inside {{ }}, nor between {{ if }}, {{ range }} or {{ with }} and its {{ end }}")
)

// scope is what a template or expression may refer to: the steps that have
// ended before it runs, every step name (for better messages), and the
// runbook's inputs. A nil before means no step results are available.
type scope struct {
	before map[string]bool
	all    map[string]bool
	inputs map[string]bool
}

func (sc *scope) checkStep(name string) error {
	switch {
	case sc.before[name]:
		return nil
	case sc.all[name]:
		return fmt.Errorf("step %q does not end before this point: only earlier steps can be read", name)
	default:
		return fmt.Errorf("no step is named %q", name)
	}
}

func (sc *scope) checkInput(name string) error {
	if sc.inputs[name] {
		return nil
	}
	return fmt.Errorf("no input is named %q", name)
}

// compileText parses src as the template named key. Secret references are
// allowed only if secrets is true.
func compileText(key, src string, secrets bool, sc *scope) (*Text, error) {
	t := &Text{Source: src, name: key}
	locs := secretRef.FindAllStringSubmatchIndex(src, -1)
	if !secrets && (len(locs) > 0 || strings.Contains(src, "${secret:")) {
		return nil, errors.New("${secret:...} can only be used in http url, headers, body and json, and in exec arguments and env")
	}
	// The whole text must parse, so that its errors read naturally; then
	// each piece between references must parse on its own.
	if _, err := parseTemplate(key, src, sc); err != nil {
		return nil, err
	}
	prev := 0
	for _, l := range locs {
		name := src[l[2]:l[3]]
		if !secretName.MatchString(name) || strings.Contains(name, "..") {
			return nil, fmt.Errorf("invalid secret name %q: want letters, digits, '_', '-' and '.'", name)
		}
		if err := t.addPiece(src[prev:l[0]], sc); err != nil {
			return nil, err
		}
		t.parts = append(t.parts, textPart{secret: name})
		t.secrets = append(t.secrets, name)
		prev = l[1]
	}
	if err := t.addPiece(src[prev:], sc); err != nil {
		return nil, err
	}
	if strings.Contains(src, "${secret:") && len(locs) != strings.Count(src, "${secret:") {
		return nil, errors.New("malformed secret reference: want ${secret:NAME}")
	}
	return t, nil
}

func (t *Text) addPiece(src string, sc *scope) error {
	if src == "" {
		return nil
	}
	if !strings.Contains(src, "{{") {
		t.parts = append(t.parts, textPart{literal: src})
		return nil
	}
	tmpl, err := parseTemplate(t.name, src, sc)
	if err != nil {
		if len(t.parts) > 0 || len(src) < len(t.Source) {
			return errSecretPos
		}
		return err
	}
	t.parts = append(t.parts, textPart{tmpl: tmpl})
	return nil
}

func parseTemplate(name, src string, sc *scope) (*template.Template, error) {
	tmpl, err := template.New(name).Option("missingkey=error").Funcs(funcs).Parse(src)
	if err != nil {
		return nil, err
	}
	if tmpl.Tree != nil && sc != nil {
		if err := checkTree(tmpl.Tree.Root, true, sc); err != nil {
			return nil, err
		}
	}
	return tmpl, nil
}

// render executes the text over d. resolve returns a secret's value; it
// is called only for references written in the text.
func (t *Text) render(d *Data, resolve func(name string) (string, error)) (string, error) {
	var b bytes.Buffer
	w := &capWriter{buf: &b, max: MaxRenderedBytes}
	for _, p := range t.parts {
		switch {
		case p.tmpl != nil:
			if err := p.tmpl.Execute(w, d); err != nil {
				return "", fmt.Errorf("%s: %w", t.name, cleanExecError(err))
			}
		case p.secret != "":
			v, err := resolve(p.secret)
			if err != nil {
				return "", fmt.Errorf("%s: %w", t.name, err)
			}
			if _, err := w.Write([]byte(v)); err != nil {
				return "", fmt.Errorf("%s: %w", t.name, err)
			}
		default:
			if _, err := w.Write([]byte(p.literal)); err != nil {
				return "", fmt.Errorf("%s: %w", t.name, err)
			}
		}
	}
	return b.String(), nil
}

// cleanExecError drops text/template's "template: NAME:" prefix, which the
// caller's prefix repeats.
func cleanExecError(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, " at <"); i >= 0 {
		return errors.New(msg[i+1:]) // at <.Labels.team>: map has no entry for key "team"
	}
	var ee template.ExecError
	if errors.As(err, &ee) {
		return ee.Err
	}
	return err
}

type capWriter struct {
	buf *bytes.Buffer
	max int
}

func (w *capWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		return 0, fmt.Errorf("rendered text exceeds %d bytes", w.max)
	}
	return w.buf.Write(p)
}

var dataType = reflect.TypeOf(Data{})

// checkTree checks the field references of a template against Data:
// .Incident.Stauts, .Steps.later and .Inputs.undeclared are load errors,
// not run-time surprises. Inside range and with the dot is something else,
// so only $-rooted references are checked there.
func checkTree(n parse.Node, topDot bool, sc *scope) error {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkTree(c, topDot, sc); err != nil {
				return err
			}
		}
	case *parse.ActionNode:
		return checkTree(n.Pipe, topDot, sc)
	case *parse.IfNode:
		return checkBranch(&n.BranchNode, topDot, topDot, sc)
	case *parse.RangeNode:
		return checkBranch(&n.BranchNode, topDot, false, sc)
	case *parse.WithNode:
		return checkBranch(&n.BranchNode, topDot, false, sc)
	case *parse.TemplateNode:
		return checkTree(n.Pipe, topDot, sc)
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Cmds {
			if err := checkTree(c, topDot, sc); err != nil {
				return err
			}
		}
	case *parse.CommandNode:
		if err := checkIndex(n, topDot, sc); err != nil {
			return err
		}
		for _, a := range n.Args {
			if err := checkTree(a, topDot, sc); err != nil {
				return err
			}
		}
	case *parse.FieldNode:
		if topDot {
			return checkFields(n.Ident, sc)
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			return checkFields(n.Ident[1:], sc)
		}
	case *parse.ChainNode:
		return checkTree(n.Node, topDot, sc)
	}
	return nil
}

func checkBranch(b *parse.BranchNode, topDot, bodyDot bool, sc *scope) error {
	if err := checkTree(b.Pipe, topDot, sc); err != nil {
		return err
	}
	if err := checkTree(b.List, bodyDot, sc); err != nil {
		return err
	}
	return checkTree(b.ElseList, topDot, sc)
}

// checkIndex checks index .Steps "name" and index .Inputs "name".
func checkIndex(n *parse.CommandNode, topDot bool, sc *scope) error {
	if len(n.Args) < 3 {
		return nil
	}
	if id, ok := n.Args[0].(*parse.IdentifierNode); !ok || id.Ident != "index" {
		return nil
	}
	var field []string
	switch a := n.Args[1].(type) {
	case *parse.FieldNode:
		if topDot {
			field = a.Ident
		}
	case *parse.VariableNode:
		if len(a.Ident) > 1 && a.Ident[0] == "$" {
			field = a.Ident[1:]
		}
	}
	key, ok := n.Args[2].(*parse.StringNode)
	if len(field) != 1 || !ok {
		return nil
	}
	switch field[0] {
	case "Steps":
		return checkFields([]string{"Steps", key.Text}, sc)
	case "Inputs":
		return checkFields([]string{"Inputs", key.Text}, sc)
	}
	return nil
}

// checkFields follows a field chain from Data through struct fields and
// methods; a map accepts any key, except that .Steps and .Inputs keys must
// name a step that has ended and a declared input.
func checkFields(ident []string, sc *scope) error {
	t := dataType
	for i, name := range ident {
		path := "." + strings.Join(ident[:i+1], ".")
		if i == 1 && ident[0] == "Steps" {
			if err := sc.checkStep(name); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			t = t.Elem()
			continue
		}
		if i == 1 && ident[0] == "Inputs" {
			if err := sc.checkInput(name); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return nil
		}
		switch t.Kind() {
		case reflect.Struct:
			if f, ok := t.FieldByName(name); ok && f.IsExported() {
				t = f.Type
				continue
			}
			if m, ok := reflect.PointerTo(t).MethodByName(name); ok && m.Type.NumOut() > 0 {
				t = m.Type.Out(0)
				continue
			}
			return fmt.Errorf("%s: %s has no field %s (it has %s)", path, t.Name(), name, fieldNames(t))
		case reflect.Map:
			t = t.Elem()
		case reflect.Interface:
			return nil
		default:
			return fmt.Errorf("%s: .%s is a %s, which has no fields", path, strings.Join(ident[:i], "."), t.Kind())
		}
	}
	return nil
}

func fieldNames(t reflect.Type) string {
	var names []string
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).IsExported() {
			names = append(names, t.Field(i).Name)
		}
	}
	return strings.Join(names, ", ")
}
