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
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"
)

// ScalarUnmarshaler is implemented by types written as one YAML scalar with
// their own syntax (durations, sizes).
type ScalarUnmarshaler interface {
	UnmarshalScalar(s string) error
}

// Error is one problem in a document: "file:line:column: key: message".
// Column is 0 when only the line is known.
type Error struct {
	File   string
	Line   int
	Column int
	Key    string
	Msg    string
}

func (e Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, "%d:", e.Column)
		}
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

// Decoder decodes one document and collects its errors. It keeps the
// document's node tree and finds the line of a key path only when an error
// asks for it, so a valid document costs no line bookkeeping.
type Decoder struct {
	roots []*yaml.Node
	errs  Errors
	path  []step // while decoding
}

// NewDecoder returns an empty decoder.
func NewDecoder() *Decoder { return &Decoder{} }

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

// Line returns the line where the document sets key (a key path such as
// grouping.window or cis[3].id), or 0 if it does not, so that the value
// came from defaults. A list item's line is where the item starts.
func (d *Decoder) Line(key string) int {
	if key == "" {
		return 0
	}
	for _, n := range d.roots {
		if line, ok := lineOf(n, key); ok {
			return line
		}
	}
	return 0
}

// Errs returns the errors collected so far, without file names.
func (d *Decoder) Errs() Errors { return d.errs }

// FailAt records an error at a line.
func (d *Decoder) FailAt(line int, key, format string, args ...any) {
	d.errs = append(d.errs, Error{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Failf records an error at the line where key was set (0 if the key came
// from defaults).
func (d *Decoder) Failf(key, format string, args ...any) {
	d.FailAt(d.Line(key), key, format, args...)
}

// Decode fills out (a pointer) from n, and keeps n to find the lines of
// later errors.
func (d *Decoder) Decode(n *yaml.Node, out any) {
	if e := CheckAliases(n); e != nil {
		d.errs = append(d.errs, *e)
		return
	}
	d.roots = append(d.roots, n)
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	v := reflect.ValueOf(out).Elem()
	d.path = d.path[:0]
	d.value(n, v, infoOf(v.Type()))
}

// Join appends key to a key path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// lineOf finds the line of the key path rest below n. A mapping key may
// itself contain dots (a label name, a.b), so every key that rest starts
// with is tried. Of a key set twice, the first counts, as in decoding.
func lineOf(n *yaml.Node, rest string) (int, bool) {
	n = resolve(n)
	switch n.Kind {
	case yaml.MappingNode:
	keys:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if !strings.HasPrefix(rest, k) {
				continue
			}
			tail := rest[len(k):]
			if tail != "" && tail[0] != '.' && tail[0] != '[' {
				continue
			}
			for j := 0; j < i; j += 2 {
				if n.Content[j].Value == k {
					continue keys
				}
			}
			if tail == "" {
				return n.Content[i].Line, true
			}
			if line, ok := lineOf(n.Content[i+1], strings.TrimPrefix(tail, ".")); ok {
				return line, true
			}
		}
	case yaml.SequenceNode:
		end := strings.IndexByte(rest, ']')
		if !strings.HasPrefix(rest, "[") || end < 0 {
			return 0, false
		}
		i, err := strconv.Atoi(rest[1:end])
		if err != nil || i < 0 || i >= len(n.Content) {
			return 0, false
		}
		item, tail := resolve(n.Content[i]), rest[end+1:]
		switch {
		case tail == "":
			return item.Line, true
		case tail[0] == '.' || tail[0] == '[':
			return lineOf(item, strings.TrimPrefix(tail, "."))
		}
	}
	return 0, false
}

// resolve follows an alias and steps into a document.
func resolve(n *yaml.Node) *yaml.Node {
	for {
		switch {
		case n.Kind == yaml.AliasNode && n.Alias != nil:
			n = n.Alias
		case n.Kind == yaml.DocumentNode && len(n.Content) > 0:
			n = n.Content[0]
		default:
			return n
		}
	}
}

// step is one element of the key path of the value being decoded: a key,
// or a list index. The decoder keeps the path as a stack of steps and
// writes it out only when an error names it.
type step struct {
	key   string
	index int // a list index, or -1 for a key
}

func (d *Decoder) push(key string, index int) { d.path = append(d.path, step{key, index}) }
func (d *Decoder) pop()                       { d.path = d.path[:len(d.path)-1] }

// pathString is the current key path: grouping.window, cis[3].id.
func (d *Decoder) pathString() string {
	var b strings.Builder
	for _, s := range d.path {
		switch {
		case s.index >= 0:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		case b.Len() > 0:
			b.WriteByte('.')
			b.WriteString(s.key)
		default:
			b.WriteString(s.key)
		}
	}
	return b.String()
}

// typeInfo is what decoding needs to know about a Go type, worked out once
// per type instead of once per value.
type typeInfo struct {
	kind     reflect.Kind
	time     bool // time.Time
	scalar   bool // *T implements ScalarUnmarshaler
	plainInt bool // an unnamed integer type, parsed here without yaml.v3
	bits     int
	fields   map[string]fieldInfo // struct: by YAML key
	known    string               // struct: its keys, for unknown-key errors
	key      *typeInfo            // map
	elem     *typeInfo            // map, slice
}

type fieldInfo struct {
	index int
	info  *typeInfo
}

var (
	scalarType = reflect.TypeOf((*ScalarUnmarshaler)(nil)).Elem()
	timeType   = reflect.TypeOf(time.Time{})

	typeInfos   sync.Map // reflect.Type -> *typeInfo, complete
	typeInfosMu sync.Mutex
)

func infoOf(t reflect.Type) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	typeInfosMu.Lock()
	defer typeInfosMu.Unlock()
	// Recursive types refer to themselves: publish only complete infos.
	building := map[reflect.Type]*typeInfo{}
	ti := buildInfo(t, building)
	for t, ti := range building {
		typeInfos.Store(t, ti)
	}
	return ti
}

func buildInfo(t reflect.Type, building map[reflect.Type]*typeInfo) *typeInfo {
	if ti, ok := typeInfos.Load(t); ok {
		return ti.(*typeInfo)
	}
	if ti, ok := building[t]; ok {
		return ti
	}
	ti := &typeInfo{kind: t.Kind(), time: t == timeType, scalar: reflect.PointerTo(t).Implements(scalarType)}
	building[t] = ti
	if ti.time || ti.scalar {
		return ti
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		// Named types may have their own YAML methods: yaml.v3 decodes them.
		ti.plainInt, ti.bits = t.PkgPath() == "", t.Bits()
	case reflect.Struct:
		ti.fields = map[string]fieldInfo{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			ti.fields[name] = fieldInfo{index: i, info: buildInfo(t.Field(i).Type, building)}
			names = append(names, name)
		}
		ti.known = strings.Join(names, ", ")
	case reflect.Map:
		ti.key, ti.elem = buildInfo(t.Key(), building), buildInfo(t.Elem(), building)
	case reflect.Slice:
		ti.elem = buildInfo(t.Elem(), building)
	}
	return ti
}

// repeated reports whether the key at Content[i] of mapping n repeats an
// earlier key. Small mappings (struct fields) are scanned; large ones use
// seen, made on first need.
func repeated(n *yaml.Node, i int, seen *map[string]struct{}) bool {
	k := n.Content[i].Value
	if len(n.Content) <= 32 {
		for j := 0; j < i; j += 2 {
			if n.Content[j].Value == k {
				return true
			}
		}
		return false
	}
	if *seen == nil {
		*seen = make(map[string]struct{}, len(n.Content)/2)
	}
	if _, ok := (*seen)[k]; ok {
		return true
	}
	(*seen)[k] = struct{}{}
	return false
}

// fail records an error at the current key path.
func (d *Decoder) fail(line int, format string, args ...any) {
	d.FailAt(line, d.pathString(), format, args...)
}

func (d *Decoder) value(n *yaml.Node, v reflect.Value, ti *typeInfo) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return // an empty key keeps its default
	}
	if ti.time {
		t, err := time.Parse(time.RFC3339Nano, n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.fail(n.Line, "%q is not an RFC 3339 time (e.g. 2026-12-01T22:00:00Z)", n.Value)
			return
		}
		v.Set(reflect.ValueOf(t))
		return
	}
	if ti.scalar {
		if n.Kind != yaml.ScalarNode {
			d.fail(n.Line, "want a single value, got %s", kindName(n))
			return
		}
		if err := v.Addr().Interface().(ScalarUnmarshaler).UnmarshalScalar(n.Value); err != nil {
			d.fail(n.Line, "%v", err)
		}
		return
	}
	switch ti.kind {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, "want a mapping, got %s", kindName(n))
			return
		}
		var seen map[string]struct{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			d.push(k.Value, -1)
			if repeated(n, i, &seen) {
				d.fail(k.Line, "set twice")
			} else if f, ok := ti.fields[k.Value]; !ok {
				d.fail(k.Line, "unknown key (known keys: %s)", ti.known)
			} else {
				d.value(val, v.Field(f.index), f.info)
			}
			d.pop()
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, "want a mapping, got %s", kindName(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		t := v.Type()
		var seen map[string]struct{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			d.push(k.Value, -1)
			if repeated(n, i, &seen) {
				d.fail(k.Line, "set twice")
			} else {
				key := reflect.New(t.Key()).Elem()
				before := len(d.errs)
				d.value(k, key, ti.key)
				if len(d.errs) == before {
					elem := reflect.New(t.Elem()).Elem()
					d.value(val, elem, ti.elem)
					m.SetMapIndex(key, elem)
				}
			}
			d.pop()
		}
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n.Line, "want a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.push("", i)
			d.value(item, s.Index(i), ti.elem)
			d.pop()
		}
		v.Set(s)
	case reflect.String:
		// Any scalar is text: a label value or attribute may look like a
		// number (min_up: 2, port: 5432).
		if n.Kind != yaml.ScalarNode {
			d.fail(n.Line, "want a string, got %s", kindName(n))
			return
		}
		v.SetString(n.Value)
	default:
		if n.Kind != yaml.ScalarNode {
			d.fail(n.Line, "want a %s, got %s", ti.kind, kindName(n))
			return
		}
		if ti.plainInt && n.Tag == "!!int" && decimal(n.Value) {
			// yaml.v3's Node.Decode costs a decoder per value; plain
			// decimals read the same with strconv.
			if ti.kind >= reflect.Uint {
				if u, err := strconv.ParseUint(n.Value, 10, ti.bits); err == nil {
					v.SetUint(u)
					return
				}
			} else if i, err := strconv.ParseInt(n.Value, 10, ti.bits); err == nil {
				v.SetInt(i)
				return
			}
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.fail(n.Line, "%q is not a valid %s", n.Value, ti.kind)
		}
	}
}

// decimal reports whether s is an integer that base 10 and yaml.v3 (which
// reads 010 as octal) read alike: an optional sign, then 0 or digits not
// starting with 0.
func decimal(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "" || s[0] == '0' && len(s) > 1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
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
