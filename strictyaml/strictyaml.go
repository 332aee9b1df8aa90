// Package strictyaml decodes YAML (and JSON, which is YAML) into Go structs
// strictly: unknown and duplicate keys are errors, and every error names the
// line and the key path (grouping.window, cis[3].id). It collects all errors
// instead of stopping at the first, and remembers where each key was set so
// that later semantic checks can point at it too.
package strictyaml

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ScalarUnmarshaler is implemented by types written as one YAML scalar with
// their own syntax (durations, sizes).
type ScalarUnmarshaler interface {
	UnmarshalScalar(s string) error
}

// Error is one problem in a document.
type Error struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors lists every problem found in a document.
type Errors []Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Decoder decodes one document and collects its errors.
type Decoder struct {
	lines map[string]int
	errs  Errors
}

// NewDecoder returns an empty decoder.
func NewDecoder() *Decoder { return &Decoder{lines: map[string]int{}} }

// Parse decodes data (YAML or JSON) from file into out, which keeps the
// values of keys the document leaves out. It returns the decoder, for
// semantic checks with Failf, or a syntax error.
func Parse(file string, data []byte, out any) (*Decoder, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, Errors{{File: file, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}
	}
	d := NewDecoder()
	d.Decode(&n, out)
	return d, nil
}

// Err returns the collected errors, sorted by line and naming file, or nil.
func (d *Decoder) Err(file string) error {
	if len(d.errs) == 0 {
		return nil
	}
	errs := append(Errors(nil), d.errs...)
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	for i := range errs {
		errs[i].File = file
	}
	return errs
}

// Lines returns every key path with the line it was set on.
func (d *Decoder) Lines() map[string]int { return d.lines }

// SetLine records the line of key, for documents assembled from parts.
func (d *Decoder) SetLine(key string, line int) { d.lines[key] = line }

// Errs returns the errors collected so far, without file names.
func (d *Decoder) Errs() Errors { return d.errs }

// FailAt records an error at a line.
func (d *Decoder) FailAt(line int, key, format string, args ...any) {
	d.errs = append(d.errs, Error{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Failf records an error at the line where key was set (0 if the key came
// from defaults).
func (d *Decoder) Failf(key, format string, args ...any) {
	d.FailAt(d.lines[key], key, format, args...)
}

// Decode fills out (a pointer) from n.
func (d *Decoder) Decode(n *yaml.Node, out any) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	d.value(n, reflect.ValueOf(out).Elem(), "")
}

// Join appends key to a key path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var (
	scalarType = reflect.TypeOf((*ScalarUnmarshaler)(nil)).Elem()
	timeType   = reflect.TypeOf(time.Time{})
)

func (d *Decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if path != "" {
		if _, ok := d.lines[path]; !ok {
			d.lines[path] = n.Line
		}
	}
	if n.Tag == "!!null" {
		return // an empty key keeps its default
	}
	if v.Type() == timeType {
		t, err := time.Parse(time.RFC3339Nano, n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.FailAt(n.Line, path, "%q is not an RFC 3339 time (e.g. 2026-12-01T22:00:00Z)", n.Value)
			return
		}
		v.Set(reflect.ValueOf(t))
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(scalarType) {
		if n.Kind != yaml.ScalarNode {
			d.FailAt(n.Line, path, "want a single value, got %s", kindName(n))
			return
		}
		if err := v.Addr().Interface().(ScalarUnmarshaler).UnmarshalScalar(n.Value); err != nil {
			d.FailAt(n.Line, path, "%v", err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.FailAt(n.Line, path, "want a mapping, got %s", kindName(n))
			return
		}
		fields := map[string]reflect.Value{}
		var names []string
		for i := 0; i < v.NumField(); i++ {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			fields[name] = v.Field(i)
			names = append(names, name)
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := Join(path, k.Value)
			if seen[k.Value] {
				d.FailAt(k.Line, key, "set twice")
				continue
			}
			seen[k.Value] = true
			f, ok := fields[k.Value]
			if !ok {
				d.FailAt(k.Line, key, "unknown key (known keys: %s)", strings.Join(names, ", "))
				continue
			}
			d.lines[key] = k.Line
			d.value(val, f, key)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.FailAt(n.Line, path, "want a mapping, got %s", kindName(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if seen[k.Value] {
				d.FailAt(k.Line, Join(path, k.Value), "set twice")
				continue
			}
			seen[k.Value] = true
			key := reflect.New(v.Type().Key()).Elem()
			before := len(d.errs)
			d.value(k, key, Join(path, k.Value))
			if len(d.errs) > before {
				continue
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			d.value(val, elem, Join(path, k.Value))
			m.SetMapIndex(key, elem)
		}
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.FailAt(n.Line, path, "want a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		// Any scalar is text: a label value or attribute may look like a
		// number (min_up: 2, port: 5432).
		if n.Kind != yaml.ScalarNode {
			d.FailAt(n.Line, path, "want a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	default:
		if n.Kind != yaml.ScalarNode {
			d.FailAt(n.Line, path, "want a %s, got %s", v.Kind(), kindName(n))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.FailAt(n.Line, path, "%q is not a valid %s", n.Value, v.Kind())
		}
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}
