package runbooks

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/incidentd/incidentd/strictyaml"
)

// Diagnostic is one error or warning in a runbook file, pointing at the key
// it is about: "restart.yml:12:7: steps[1].exec.command: must not be empty".
// Column is the column of the key (or list item) on Line, 0 if unknown.
type Diagnostic = strictyaml.Error

// Diagnostics is every error of one runbook file, in file order. Parse
// returns it as its error.
type Diagnostics = strictyaml.Errors

// sortDiagnostics puts diagnostics in file order.
func sortDiagnostics(ds Diagnostics) {
	sort.SliceStable(ds, func(i, j int) bool {
		if ds[i].Line != ds[j].Line {
			return ds[i].Line < ds[j].Line
		}
		return ds[i].Column < ds[j].Column
	})
}

// pos is where a key path is set: the key's position and its value's.
type pos struct {
	line, col       int
	valLine, valCol int
}

// positions maps key paths, spelled as strictyaml spells them (steps[2].http.url),
// to where the document sets them. strictyaml reports lines only; walking the
// same node tree gives columns too, and tells which optional keys are present.
type positions map[string][]pos

func (p positions) walk(n *yaml.Node, path string) {
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			p.walk(c, path)
		}
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := strictyaml.Join(path, k.Value)
			p[key] = append(p[key], pos{k.Line, k.Column, v.Line, v.Column})
			p.walk(v, key)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			key := path + "[" + strconv.Itoa(i) + "]"
			p[key] = append(p[key], pos{item.Line, item.Column, item.Line, item.Column})
			p.walk(item, key)
		}
	}
}

// has reports whether the document sets key (even to null).
func (p positions) has(key string) bool { return len(p[key]) > 0 }

// at is the position of key, or of its closest parent the document sets.
func (p positions) at(key string) (line, col int) {
	for k := key; k != ""; k = parentPath(k) {
		if ps := p[k]; len(ps) > 0 {
			return ps[0].line, ps[0].col
		}
	}
	return 0, 0
}

// column finds the column for an error strictyaml reported on line for
// key: the key's own column if it sits on that line, else its value's.
func (p positions) column(key string, line int) int {
	ps := p[key]
	for i := len(ps) - 1; i >= 0; i-- { // the last: "set twice" is about the repeat
		if ps[i].line == line {
			return ps[i].col
		}
	}
	for _, q := range ps {
		if q.valLine == line {
			return q.valCol
		}
	}
	return 0
}

// parentPath strips the last element of a key path: a.b[2].c -> a.b[2] -> a.b.
func parentPath(key string) string {
	if strings.HasSuffix(key, "]") {
		if i := strings.LastIndexByte(key, '['); i >= 0 {
			return key[:i]
		}
	}
	if i := strings.LastIndexAny(key, ".["); i >= 0 {
		return key[:i]
	}
	return ""
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// syntaxError turns a yaml.v3 error into a diagnostic with its line.
func syntaxError(file string, err error) Diagnostic {
	msg := err.Error()
	d := Diagnostic{File: file, Msg: strings.TrimPrefix(msg, "yaml: ")}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		d.Line, _ = strconv.Atoi(m[1])
		d.Msg = msg[len(m[0]):]
	}
	return d
}
