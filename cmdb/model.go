// Package cmdb holds the configuration management database: configuration
// items (CIs), the relations between them, their validation, and an
// immutable in-memory graph that correlation reads without locks or queries.
package cmdb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/incidentd/incidentd/strictyaml"
)

// Relation types. A relation {from, type, to} reads "from needs to": a
// failure of to can impact from. member_of is the exception that its name
// forces: {from: node-1, type: member_of, to: cluster-a} makes node-1 a
// member of cluster-a, and a member's failure degrades its cluster, which is
// down only when fewer than its min_up attribute of members are up.
const (
	DependsOn   = "depends_on"
	RunsOn      = "runs_on"
	HostedOn    = "hosted_on"
	ConnectsTo  = "connects_to"
	ContainedBy = "contained_by"
	MemberOf    = "member_of"
)

// RelationTypes lists the valid relation types.
var RelationTypes = []string{DependsOn, RunsOn, HostedOn, ConnectsTo, ContainedBy, MemberOf}

// ClassBusinessService is the class impact walks stop at.
const ClassBusinessService = "business_service"

// DefaultCriticality applies to a CI that states none.
const DefaultCriticality = 3

// CI is a configuration item.
type CI struct {
	ID          string              `json:"id" yaml:"id"`
	Name        string              `json:"name,omitempty" yaml:"name"`
	Class       string              `json:"class,omitempty" yaml:"class"`
	Criticality int                 `json:"criticality,omitempty" yaml:"criticality"`
	Owner       string              `json:"owner,omitempty" yaml:"owner"`
	Environment string              `json:"environment,omitempty" yaml:"environment"`
	Attributes  map[string]string   `json:"attributes,omitempty" yaml:"attributes"`
	Match       []map[string]string `json:"match,omitempty" yaml:"match"`
}

// Relation is a directed edge: From needs To.
type Relation struct {
	From string `json:"from" yaml:"from"`
	Type string `json:"type" yaml:"type"`
	To   string `json:"to" yaml:"to"`
}

func (r Relation) String() string { return r.From + " " + r.Type + " " + r.To }

// Document is a whole CMDB, as files, PUT bodies and the store hold it.
type Document struct {
	CIs       []CI       `json:"cis" yaml:"cis"`
	Relations []Relation `json:"relations" yaml:"relations"`
}

// Patch changes part of a CMDB: upserts first, then deletions. Deleting a
// CI deletes its relations.
type Patch struct {
	Upsert Document      `json:"upsert" yaml:"upsert"`
	Delete PatchDeletion `json:"delete" yaml:"delete"`
}

// PatchDeletion names what a patch deletes.
type PatchDeletion struct {
	CIs       []string   `json:"cis" yaml:"cis"`
	Relations []Relation `json:"relations" yaml:"relations"`
}

// Parse decodes a CMDB document (YAML or JSON) strictly and validates it.
// The error lists every problem, with file, line and key.
func Parse(file string, data []byte) (*Document, error) {
	if doc, ok := parseValidJSON(data); ok {
		return doc, nil
	}
	var doc Document
	d, err := strictyaml.Parse(file, data, &doc)
	if err != nil {
		return nil, err
	}
	doc.validate(d)
	if err := d.Err(file); err != nil {
		return nil, err
	}
	return &doc, nil
}

// parseValidJSON is the fast path for large JSON documents: a plain decode
// and validation, several times faster than yaml.v3 building the strict
// decoder's node tree. Anything it does not accept (YAML, unknown fields,
// wrong types, an invalid document) goes through the strict decoder, which
// names file, line and key. One difference: a key repeated within a JSON
// object takes its last value here instead of being an error.
func parseValidJSON(data []byte) (*Document, bool) {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, false
	}
	// encoding/json would store invalid UTF-8 as U+FFFD; the strict
	// decoder rejects it with the line.
	if !utf8.Valid(data) {
		return nil, false
	}
	var doc Document
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil || dec.More() {
		return nil, false
	}
	if doc.Validate() != nil {
		return nil, false
	}
	return &doc, true
}

// ParsePatch decodes a patch strictly. The result of applying it is
// validated by Apply.
func ParsePatch(file string, data []byte) (*Patch, error) {
	var p Patch
	d, err := strictyaml.Parse(file, data, &p)
	if err != nil {
		return nil, err
	}
	if err := d.Err(file); err != nil {
		return nil, err
	}
	return &p, nil
}

// Validate checks a document built in code (no line numbers).
func (doc *Document) Validate() error {
	d := strictyaml.NewDecoder()
	doc.validate(d)
	return d.Err("")
}

// validate reports every problem: empty or duplicate ids, bad criticality,
// empty match sets, unknown relation types, relations to missing CIs,
// self-relations, duplicate relations, and member_of cycles.
func (doc *Document) validate(d *strictyaml.Decoder) {
	ids := make(map[string]int, len(doc.CIs))
	for i := range doc.CIs {
		ci := &doc.CIs[i]
		// The key path is written only for an error: formatting one per
		// CI cost a fifth of validating 100,000 CIs.
		key := func(sub string) string { return "cis[" + strconv.Itoa(i) + "]" + sub }
		switch first, dup := ids[ci.ID]; {
		case ci.ID == "":
			d.Failf(key(""), "a CI needs an id")
		case dup:
			d.Failf(key(".id"), "duplicate id %q (first at cis[%d])", ci.ID, first)
		default:
			ids[ci.ID] = i
		}
		if f := nulField(ci); f != "" {
			d.Failf(key("."+f), "contains a NUL character")
		}
		if ci.Criticality == 0 {
			ci.Criticality = DefaultCriticality
		}
		if ci.Criticality < 1 || ci.Criticality > 5 {
			d.Failf(key(".criticality"), "%d is not 1 (highest) to 5", ci.Criticality)
		}
		for j, m := range ci.Match {
			if len(m) == 0 {
				d.Failf(key(fmt.Sprintf(".match[%d]", j)), "an empty label set would match every alert")
			}
		}
		if v, ok := ci.Attributes["min_up"]; ok {
			if n, err := strconv.Atoi(v); err != nil || n < 1 {
				d.Failf(key(".attributes.min_up"), "%q is not a positive number", v)
			}
		}
	}
	valid := map[string]bool{}
	for _, t := range RelationTypes {
		valid[t] = true
	}
	seen := make(map[Relation]int, len(doc.Relations))
	memberOf := map[string][]string{}
	for i, r := range doc.Relations {
		key := func(sub string) string { return "relations[" + strconv.Itoa(i) + "]" + sub }
		switch {
		case r.Type == "":
			d.Failf(key(""), "missing type")
		case !valid[r.Type]:
			d.Failf(key(".type"), "unknown relation type %q (want one of %v)", r.Type, RelationTypes)
		}
		for _, end := range [...]struct{ name, id string }{{"from", r.From}, {"to", r.To}} {
			if end.id == "" {
				d.Failf(key(""), "missing %s", end.name)
			} else if _, ok := ids[end.id]; !ok {
				d.Failf(key("."+end.name), "no CI with id %q", end.id)
			}
		}
		if r.From == r.To && r.From != "" {
			d.Failf(key(""), "a CI cannot relate to itself")
		}
		if first, dup := seen[r]; dup {
			d.Failf(key(""), "duplicate of relations[%d]", first)
		}
		seen[r] = i
		if r.Type == MemberOf {
			memberOf[r.From] = append(memberOf[r.From], r.To)
		}
	}
	for _, cycle := range cycles(memberOf) {
		d.Failf("relations", "member_of cycle: %v", cycle)
	}
}

// nulField names a field of ci that holds a NUL character, which
// PostgreSQL text cannot store (YAML writes it "\0", JSON "\u0000"), or "".
func nulField(ci *CI) string {
	for _, f := range [...]struct{ name, v string }{{"id", ci.ID}, {"name", ci.Name}, {"class", ci.Class}, {"owner", ci.Owner}, {"environment", ci.Environment}} {
		if strings.IndexByte(f.v, 0) >= 0 {
			return f.name
		}
	}
	for k, v := range ci.Attributes {
		if strings.IndexByte(k+v, 0) >= 0 {
			return "attributes"
		}
	}
	for j, m := range ci.Match {
		for k, v := range m {
			if strings.IndexByte(k+v, 0) >= 0 {
				return fmt.Sprintf("match[%d]", j)
			}
		}
	}
	return ""
}

// cycles finds the cycles of a directed graph given as adjacency lists,
// one per strongly connected group, reported as the CI ids along it.
func cycles(adj map[string][]string) [][]string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var out [][]string
	var stack []string
	var visit func(n string)
	visit = func(n string) {
		color[n] = grey
		stack = append(stack, n)
		for _, m := range adj[n] {
			switch color[m] {
			case white:
				visit(m)
			case grey:
				for i := len(stack) - 1; i >= 0; i-- {
					if stack[i] == m {
						out = append(out, append(append([]string{}, stack[i:]...), m))
						break
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
	}
	nodes := make([]string, 0, len(adj))
	for n := range adj {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		if color[n] == white {
			visit(n)
		}
	}
	return out
}

// Apply returns a new document: doc with p applied. It validates the result.
func (doc *Document) Apply(p *Patch) (*Document, error) {
	out := &Document{}
	byID := make(map[string]int, len(doc.CIs))
	out.CIs = append(out.CIs, doc.CIs...)
	for i, ci := range out.CIs {
		byID[ci.ID] = i
	}
	for _, ci := range p.Upsert.CIs {
		if i, ok := byID[ci.ID]; ok {
			out.CIs[i] = ci
		} else {
			byID[ci.ID] = len(out.CIs)
			out.CIs = append(out.CIs, ci)
		}
	}
	deleted := map[string]bool{}
	var missing []string
	for _, id := range p.Delete.CIs {
		deleted[id] = true
		if _, ok := byID[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(deleted) > 0 {
		kept := out.CIs[:0:0]
		for _, ci := range out.CIs {
			if !deleted[ci.ID] {
				kept = append(kept, ci)
			}
		}
		out.CIs = kept
	}
	dropRel := map[Relation]bool{}
	for _, r := range p.Delete.Relations {
		dropRel[r] = true
	}
	have := map[Relation]bool{}
	for _, r := range append(append([]Relation{}, doc.Relations...), p.Upsert.Relations...) {
		if have[r] || dropRel[r] || deleted[r.From] || deleted[r.To] {
			continue
		}
		have[r] = true
		out.Relations = append(out.Relations, r)
	}
	err := out.Validate()
	if len(missing) > 0 {
		errs, _ := err.(strictyaml.Errors)
		for _, id := range missing {
			errs = append(errs, strictyaml.Error{Key: "delete.cis", Msg: fmt.Sprintf("no CI with id %q to delete", id)})
		}
		err = errs
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}
