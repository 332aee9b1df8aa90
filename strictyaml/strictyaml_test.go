package strictyaml

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

type server struct {
	Name  string    `yaml:"name"`
	Port  int       `yaml:"port"`
	Every Duration  `yaml:"every"`
	At    time.Time `yaml:"at"`
}

type doc struct {
	Server  server            `yaml:"server"`
	Items   []server          `yaml:"items"`
	Labels  map[string]string `yaml:"labels"`
	ByName  map[string]server `yaml:"by_name"`
	Tags    []string          `yaml:"tags"`
	Weights map[int]int8      `yaml:"weights"`
	Matrix  [][]string        `yaml:"matrix"`
	Skipped string            `yaml:"-"`
	NoTag   string
}

// TestDecodeErrors checks that every decoding error names the line and the
// key path of the offending key, in nested structs, lists and maps.
func TestDecodeErrors(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []string // the whole error, one line per problem, sorted by line
	}{
		{"unknown nested key", "server:\n  name: a\n  nam: b\n",
			[]string{"f.yml:3: server.nam: unknown key (known keys: name, port, every, at)"}},
		{"unknown top-level key", "x: 1\n",
			[]string{"f.yml:1: x: unknown key (known keys: server, items, labels, by_name, tags, weights, matrix)"}},
		{"untagged and skipped fields are not keys", "NoTag: a\nSkipped: b\n",
			[]string{"f.yml:1: NoTag: unknown key (known keys: server, items, labels, by_name, tags, weights, matrix)",
				"f.yml:2: Skipped: unknown key (known keys: server, items, labels, by_name, tags, weights, matrix)"}},
		{"duplicate top-level key", "tags: [a]\nserver: {}\ntags: [b]\n",
			[]string{"f.yml:3: tags: set twice"}},
		{"duplicate key in a list item", "items:\n  - name: a\n  - name: b\n    port: 1\n    name: c\n",
			[]string{"f.yml:5: items[1].name: set twice"}},
		{"duplicate map key", "labels:\n  a: x\n  b: y\n  a: z\n",
			[]string{"f.yml:4: labels.a: set twice"}},
		{"duplicate unknown key", "server:\n  nope: 1\n  nope: 2\n",
			[]string{"f.yml:2: server.nope: unknown key (known keys: name, port, every, at)", "f.yml:3: server.nope: set twice"}},
		{"type error in a list item", "items:\n  - name: a\n  - name: b\n    port: x\n",
			[]string{`f.yml:4: items[1].port: "x" is not a valid int`}},
		{"quoted number is not an int", "server:\n  port: \"80\"\n",
			[]string{`f.yml:2: server.port: "80" is not a valid int`}},
		{"int out of range", "weights:\n  1: 300\n",
			[]string{`f.yml:2: weights.1: "300" is not a valid int8`}},
		{"bad map key", "weights:\n  one: 1\n",
			[]string{`f.yml:2: weights.one: "one" is not a valid int`}},
		{"scalar type in a map of structs", "by_name:\n  web:\n    every: soon\n",
			[]string{`f.yml:3: by_name.web.every: invalid duration "soon": want e.g. 30s, 15m, 2h, 1d`}},
		{"scalar type given a mapping", "server:\n  every: {a: 1}\n",
			[]string{"f.yml:2: server.every: want a single value, got a mapping"}},
		{"bad time", "items:\n  - at: tomorrow\n",
			[]string{`f.yml:2: items[0].at: "tomorrow" is not an RFC 3339 time (e.g. 2026-12-01T22:00:00Z)`}},
		{"list wanted", "tags: a\n", []string{`f.yml:1: tags: want a list, got "a"`}},
		{"mapping wanted", "server: [a]\n", []string{"f.yml:1: server: want a mapping, got a list"}},
		{"mapping wanted for a map", "labels: x\n", []string{`f.yml:1: labels: want a mapping, got "x"`}},
		{"string wanted", "tags:\n  - a\n  - {b: c}\n", []string{"f.yml:3: tags[1]: want a string, got a mapping"}},
		{"int wanted", "server:\n  port: [1]\n", []string{"f.yml:2: server.port: want a int, got a list"}},
		{"nested lists", "matrix:\n  - [a, b]\n  - [c, [d]]\n", []string{"f.yml:3: matrix[1][1]: want a string, got a list"}},
		{"every error, sorted by line", "server:\n  port: x\nitems:\n  - bad: 1\nlabels: []\n",
			[]string{`f.yml:2: server.port: "x" is not a valid int`,
				"f.yml:4: items[0].bad: unknown key (known keys: name, port, every, at)",
				"f.yml:5: labels: want a mapping, got a list"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out doc
			d, err := Parse("f.yml", []byte(tt.in), &out)
			if err != nil {
				t.Fatalf("syntax error: %v", err)
			}
			got := d.Err("f.yml")
			if got == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if got.Error() != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%v\nwant\n%s", got, strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestFailfLines checks the line a semantic error points at: the line of
// the key (or of the list item) the path names, and 0 for a key the
// document leaves out, so that its value came from defaults.
func TestFailfLines(t *testing.T) {
	const in = `server:
  name: web
  port: 80
items:
  - name: a
  - {name: b, port: 2}
  -
    name: c
labels:
  a.b: dotted
  plain: x
by_name:
  api:
    every: 5m
tags: [x, y,
  z]
weights: {1: 1, 2: 2}
matrix:
  - [a]
  - - b
    - c
`
	for _, tt := range []struct {
		key  string
		line int
	}{
		{"server", 1},
		{"server.name", 2},
		{"server.port", 3},
		{"server.every", 0}, // defaulted
		{"items", 4},
		{"items[0]", 5},
		{"items[0].name", 5},
		{"items[1]", 6},
		{"items[1].port", 6},
		{"items[1].every", 0},
		{"items[2]", 8}, // a block mapping starts at its first key
		{"items[2].name", 8},
		{"items[3]", 0},
		{"labels.a.b", 10}, // a map key with a dot
		{"labels.plain", 11},
		{"labels.a", 0},
		{"by_name.api", 13},
		{"by_name.api.every", 14},
		{"by_name.api.name", 0},
		{"tags[1]", 15},
		{"tags[2]", 16},
		{"weights.2", 17},
		{"matrix[1]", 20},
		{"matrix[1][1]", 21},
		{"NoTag", 0},
		{"", 0},
		{"nosuch.key", 0},
	} {
		t.Run(tt.key, func(t *testing.T) {
			var out doc
			d, err := Parse("f.yml", []byte(in), &out)
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Err("f.yml"); err != nil {
				t.Fatalf("valid document: %v", err)
			}
			d.Failf(tt.key, "bad %s", "value")
			want := Error{File: "f.yml", Line: tt.line, Key: tt.key, Msg: "bad value"}
			if got := d.Err("f.yml").(Errors); len(got) != 1 || got[0] != want {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

// TestFailfLinesEdgeCases covers keys set twice, empty values, aliases and
// a decoder fed a node, as config's UnmarshalYAML does.
func TestFailfLinesEdgeCases(t *testing.T) {
	for _, tt := range []struct {
		name, in, key string
		line          int
	}{
		{"first of a duplicate key", "labels:\n  a: x\n  a: y\n", "labels.a", 2},
		{"empty value keeps its key's line", "server:\n  name:\n", "server.name", 2},
		{"nothing under an empty value", "server:\n", "server.name", 0},
		{"alias item points at its anchor", "items:\n  - &s {name: a}\n  - *s\n", "items[1]", 2},
		{"key of an alias", "items:\n  - &s\n    name: a\n  - *s\n", "items[1].name", 3},
		{"leading comments and document marker", "# c\n---\nserver:\n  port: 1\n", "server.port", 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out doc
			d, err := Parse("f.yml", []byte(tt.in), &out)
			if err != nil {
				t.Fatal(err)
			}
			d.Failf(tt.key, "m")
			line := -1
			for _, e := range d.Errs() {
				if e.Msg == "m" {
					line = e.Line
				}
			}
			if line != tt.line {
				t.Errorf("%s: got line %d, want %d (errors %v)", tt.key, line, tt.line, d.Errs())
			}
		})
	}

	var n yaml.Node
	if err := yaml.Unmarshal([]byte("a: 1\nserver:\n  port: 8\n"), &n); err != nil {
		t.Fatal(err)
	}
	var out struct {
		A      int    `yaml:"a"`
		Server server `yaml:"server"`
	}
	d := NewDecoder()
	d.Decode(&n, &out)
	d.Failf("server.port", "too small")
	d.Failf("server.name", "empty")
	want := Errors{{File: "c.yml", Key: "server.name", Msg: "empty"}, {File: "c.yml", Line: 3, Key: "server.port", Msg: "too small"}}
	if got := d.Err("c.yml"); !reflect.DeepEqual(got, want) || out.A != 1 || out.Server.Port != 8 {
		t.Errorf("got %v (%+v), want %v", got, out, want)
	}
}

// TestDecodeValues checks that values land where they belong, that keys the
// document leaves out keep their defaults, and that integers read as
// yaml.v3 reads them.
func TestDecodeValues(t *testing.T) {
	in := "server:\n  name: web\n  every: 2h\n  at: 2026-12-01T22:00:00Z\nitems: [{name: a}, {port: 3}]\nlabels: {port: 5432, empty: \"\"}\ntags: [1, true, x]\nweights: {1: -3}\nmatrix: [[a], []]\n"
	out := doc{Server: server{Port: 80}, NoTag: "kept"}
	d, err := Parse("f.yml", []byte(in), &out)
	if err != nil || d.Err("f.yml") != nil {
		t.Fatal(err, d.Err("f.yml"))
	}
	want := doc{
		Server:  server{Name: "web", Port: 80, Every: Duration(2 * time.Hour), At: time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)},
		Items:   []server{{Name: "a"}, {Port: 3}},
		Labels:  map[string]string{"port": "5432", "empty": ""},
		Tags:    []string{"1", "true", "x"},
		Weights: map[int]int8{1: -3},
		Matrix:  [][]string{{"a"}, {}},
		NoTag:   "kept",
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("got %+v\nwant %+v", out, want)
	}

	for _, lit := range []string{"0", "7", "-7", "+7", "010", "0o17", "0x1F", "-0x1F", "0b101", "1_000", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "1e3", "1.0", "07", "-0", "~", "null", "''"} {
		var ref, got struct {
			N int64 `yaml:"n"`
		}
		refErr := yaml.Unmarshal([]byte("n: "+lit), &ref)
		d, err := Parse("f.yml", []byte("n: "+lit), &got)
		if err != nil {
			t.Fatal(err)
		}
		if gotErr := d.Err(""); (refErr != nil) != (gotErr != nil) || got.N != ref.N {
			t.Errorf("n: %s = %d (error %v), yaml.v3 reads %d (error %v)", lit, got.N, gotErr, ref.N, refErr)
		}
	}
}

func TestSyntaxError(t *testing.T) {
	var out doc
	_, err := Parse("f.yml", []byte("server:\n  name: [a\n"), &out)
	if errs, ok := err.(Errors); !ok || len(errs) != 1 || errs[0].File != "f.yml" || !strings.Contains(errs[0].Msg, "line") {
		t.Errorf("got %v", err)
	}
}
