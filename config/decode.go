package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written like Prometheus durations: 30s, 15m,
// 2h, 1d, 1w.
type Duration time.Duration

func (d Duration) String() string { return model.Duration(d).String() }

// MarshalYAML renders the duration as text.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ByteSize is a size in bytes, written as an integer or with a unit: 512KiB,
// 10MiB, 1GiB, 10MB.
type ByteSize int64

// ParseByteSize reads "10MiB", "1MB", "4096".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q: want a number of bytes, optionally with KiB, MiB, GiB, KB, MB or GB", s)
	}
	return ByteSize(n * mult), nil
}

var (
	durationType = reflect.TypeOf(Duration(0))
	byteSizeType = reflect.TypeOf(ByteSize(0))
)

// decoder fills Go values from a YAML node tree, strictly, remembering the
// line of every key so that later validation can point at it.
type decoder struct {
	lines map[string]int
	errs  Errors
}

func (d *decoder) failAt(line int, key, format string, args ...any) {
	d.errs = append(d.errs, Error{Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// failf reports a validation error at the line where key was set (0 if the
// key came from the defaults).
func (d *decoder) failf(key, format string, args ...any) {
	d.failAt(d.lines[key], key, format, args...)
}

func (d *decoder) decode(n *yaml.Node, out any, path string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	d.value(n, reflect.ValueOf(out).Elem(), path)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Tag == "!!null" {
		return // an empty key keeps its default
	}
	switch {
	case v.Type() == durationType:
		dur, err := model.ParseDuration(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.failAt(n.Line, path, "invalid duration %q: want e.g. 30s, 15m, 2h, 1d", n.Value)
			return
		}
		v.SetInt(int64(dur))
		return
	case v.Type() == byteSizeType:
		size, err := ParseByteSize(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.failAt(n.Line, path, "%v", err)
			return
		}
		v.SetInt(int64(size))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.failAt(n.Line, path, "want a mapping, got %s", kindName(n))
			return
		}
		fields := map[string]reflect.Value{}
		var names []string
		for i := 0; i < v.NumField(); i++ {
			name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
			fields[name] = v.Field(i)
			names = append(names, name)
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			key := join(path, k.Value)
			if seen[k.Value] {
				d.failAt(k.Line, key, "set twice")
				continue
			}
			seen[k.Value] = true
			f, ok := fields[k.Value]
			if !ok {
				d.failAt(k.Line, key, "unknown key (known keys: %s)", strings.Join(names, ", "))
				continue
			}
			d.lines[key] = k.Line
			d.value(val, f, key)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.failAt(n.Line, path, "want a mapping, got %s", kindName(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			elem := reflect.New(v.Type().Elem()).Elem()
			d.value(val, elem, join(path, k.Value))
			m.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.failAt(n.Line, path, "want a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	default:
		if n.Kind != yaml.ScalarNode {
			d.failAt(n.Line, path, "want a %s, got %s", v.Kind(), kindName(n))
			return
		}
		if err := n.Decode(v.Addr().Interface()); err != nil {
			d.failAt(n.Line, path, "%q is not a valid %s", n.Value, v.Kind())
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
