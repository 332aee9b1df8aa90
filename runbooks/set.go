package runbooks

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Set is a consistent set of runbooks: unique names, and every runbook step
// calls a runbook of the set with valid inputs, without cycles. It is
// immutable; reload builds a new Set and swaps it in whole.
type Set struct {
	byName   map[string]*Runbook
	names    []string
	warnings []Diagnostic
}

// LoadFiles loads the runbook files that globs match (a pattern without
// wildcards must name an existing file). A file with errors is rejected
// and the rest load; so is a runbook whose name another file already
// took, and one whose runbook steps are broken. Every error is a
// Diagnostic with file:line:column.
func LoadFiles(globs []string) (*Set, []error) {
	var errs []error
	var files []string
	seen := map[string]bool{}
	for _, g := range globs {
		matches, err := filepath.Glob(g)
		if err != nil {
			errs = append(errs, fmt.Errorf("runbooks.files: %q: %v", g, err))
			continue
		}
		if len(matches) == 0 && !strings.ContainsAny(g, `*?[\`) {
			errs = append(errs, fmt.Errorf("runbooks.files: %s: no such file", g))
		}
		slices.Sort(matches)
		for _, f := range matches {
			if st, err := os.Stat(f); err == nil && st.IsDir() || seen[f] {
				continue
			}
			seen[f] = true
			files = append(files, f)
		}
	}
	var rbs []*Runbook
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rb, err := Parse(f, data)
		if err != nil {
			errs = append(errs, splitErrors(err)...)
			continue
		}
		rbs = append(rbs, rb)
	}
	set, setErrs := NewSet(rbs)
	return set, append(errs, setErrs...)
}

func splitErrors(err error) []error {
	ds, ok := err.(Diagnostics)
	if !ok {
		return []error{err}
	}
	out := make([]error, len(ds))
	for i, d := range ds {
		out[i] = d
	}
	return out
}

// NewSet checks runbooks against each other and returns the consistent
// set: a runbook is left out, with an error, if an earlier one has its
// name, or if one of its runbook steps calls a missing (or left out)
// runbook, passes inputs the callee does not declare or lacks required
// ones, or closes a cycle of calls.
func NewSet(rbs []*Runbook) (*Set, []error) {
	var errs []error
	s := &Set{byName: map[string]*Runbook{}}
	for _, rb := range rbs {
		if first, dup := s.byName[rb.Name]; dup {
			errs = append(errs, rb.diag("name", "runbook %q is already defined in %s", rb.Name, first.where("name")))
			continue
		}
		s.byName[rb.Name] = rb
	}
	// Dropping a runbook can break its callers: repeat until stable.
	for changed := true; changed; {
		changed = false
		for _, name := range sortedKeys(s.byName) {
			rb := s.byName[name]
			if ds := s.checkCalls(rb); len(ds) > 0 {
				for _, d := range ds {
					errs = append(errs, d)
				}
				delete(s.byName, name)
				changed = true
			}
		}
		for _, name := range s.cycles() {
			rb := s.byName[name]
			delete(s.byName, name)
			errs = append(errs, rb.diag("name", "runbook %s calls itself through runbook steps", name))
			changed = true
		}
	}
	s.names = sortedKeys(s.byName)
	called := map[string]bool{}
	for _, rb := range s.byName {
		for _, c := range rb.calls() {
			called[c.Runbook.Runbook] = true
		}
	}
	for _, name := range s.names {
		rb := s.byName[name]
		s.warnings = append(s.warnings, rb.Warnings...)
		if len(rb.Triggers) == 0 && !called[name] {
			s.warnings = append(s.warnings, rb.diag("triggers", "no triggers, and no runbook calls it: it never runs"))
		}
	}
	return s, errs
}

// calls returns the runbook steps of rb.
func (rb *Runbook) calls() []*Step {
	var out []*Step
	rb.Walk(func(s *Step) {
		if s.Runbook != nil {
			out = append(out, s)
		}
	})
	return out
}

func (s *Set) checkCalls(rb *Runbook) []Diagnostic {
	var ds []Diagnostic
	for _, st := range rb.calls() {
		key := st.ID + ".runbook"
		callee, ok := s.byName[st.Runbook.Runbook]
		if !ok {
			ds = append(ds, rb.diag(key+".name", "no runbook named %q is loaded", st.Runbook.Runbook))
			continue
		}
		declared := map[string]*Input{}
		for _, in := range callee.Inputs {
			declared[in.Name] = in
		}
		for _, name := range sortedKeys(st.Runbook.Inputs) {
			in, ok := declared[name]
			k := key + ".inputs." + name
			if !ok {
				ds = append(ds, rb.diag(k, "runbook %s has no input %q", callee.Name, name))
				continue
			}
			if t := st.Runbook.Inputs[name]; t != nil && !t.IsTemplate() {
				if _, err := in.Parse(t.Source); err != nil {
					ds = append(ds, rb.diag(k, "%v", err))
				}
			}
		}
		for _, in := range callee.Inputs {
			if _, given := st.Runbook.Inputs[in.Name]; in.Required && !given {
				ds = append(ds, rb.diag(key+".inputs", "runbook %s requires input %s", callee.Name, in.Name))
			}
		}
	}
	return ds
}

// cycles returns the names of runbooks on a cycle of calls.
func (s *Set) cycles() []string {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	onCycle := map[string]bool{}
	var stack []string
	var visit func(string)
	visit = func(name string) {
		state[name] = active
		stack = append(stack, name)
		for _, c := range s.byName[name].calls() {
			next := c.Runbook.Runbook
			if _, ok := s.byName[next]; !ok {
				continue
			}
			switch state[next] {
			case unseen:
				visit(next)
			case active:
				for i := len(stack) - 1; i >= 0; i-- {
					onCycle[stack[i]] = true
					if stack[i] == next {
						break
					}
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
	}
	for _, name := range sortedKeys(s.byName) {
		if state[name] == unseen {
			visit(name)
		}
	}
	return sortedKeys(onCycle)
}

// diag makes a diagnostic at key of rb's file.
func (rb *Runbook) diag(key, format string, args ...any) Diagnostic {
	line, col := rb.pos.at(key)
	return Diagnostic{File: rb.File, Line: line, Column: col, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// where renders file:line of key.
func (rb *Runbook) where(key string) string {
	line, _ := rb.pos.at(key)
	if line == 0 {
		return rb.File
	}
	return fmt.Sprintf("%s:%d", rb.File, line)
}

// Get returns the runbook with the given name.
func (s *Set) Get(name string) (*Runbook, bool) {
	rb, ok := s.byName[name]
	return rb, ok
}

// All returns the runbooks sorted by name.
func (s *Set) All() []*Runbook {
	out := make([]*Runbook, len(s.names))
	for i, n := range s.names {
		out[i] = s.byName[n]
	}
	return out
}

// Len is the number of runbooks.
func (s *Set) Len() int { return len(s.names) }

// Warnings returns the non-fatal findings of every runbook of the set.
func (s *Set) Warnings() []Diagnostic { return s.warnings }

// ForEvent returns the runbooks that an event with the given labels
// (MatchLabels) starts, sorted by name; each at most once, however many of
// its triggers match.
func (s *Set) ForEvent(event string, lset map[string]string) []*Runbook {
	var out []*Runbook
	for _, rb := range s.All() {
		if slices.ContainsFunc(rb.Triggers, func(t *Trigger) bool { return t.Matches(event, lset) }) {
			out = append(out, rb)
		}
	}
	return out
}

// Secrets lists every secret name the set references, sorted, so that the
// daemon can report missing ones at load.
func (s *Set) Secrets() []string {
	var out []string
	for _, rb := range s.All() {
		out = append(out, rb.Secrets()...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
