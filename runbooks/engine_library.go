package runbooks

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/incidentd/incidentd/store"
)

// Library is a loaded Set together with the text of each runbook, which
// the engine stores with every run: a run follows the runbook as it was
// when the run started, whatever reloads happen while it waits.
type Library struct {
	Set     *Set
	sources map[string]store.RunbookSource // by runbook name
}

// Source returns the stored form of a runbook of the library.
func (l *Library) Source(name string) (store.RunbookSource, bool) {
	src, ok := l.sources[name]
	return src, ok
}

// LoadLibrary loads runbook files as LoadFiles does (a file with errors is
// rejected and the rest load, every error with file:line:column) and keeps
// the text each runbook was parsed from. Each file is read once, so the
// text kept is the text parsed.
func LoadLibrary(globs []string) (*Library, []error) {
	var errs []error
	files := map[string][]byte{}
	var order []string
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
			if _, seen := files[f]; seen {
				continue
			}
			if st, err := os.Stat(f); err == nil && st.IsDir() {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			files[f] = data
			order = append(order, f)
		}
	}
	lib, lerrs := newLibrary(order, files)
	return lib, append(errs, lerrs...)
}

// NewLibrary parses runbooks from texts keyed by file name, in file name
// order, and checks them as a Set.
func NewLibrary(files map[string][]byte) (*Library, []error) {
	return newLibrary(sortedKeys(files), files)
}

func newLibrary(order []string, files map[string][]byte) (*Library, []error) {
	var errs []error
	var rbs []*Runbook
	texts := map[*Runbook][]byte{}
	for _, f := range order {
		rb, err := Parse(f, files[f])
		if err != nil {
			errs = append(errs, splitErrors(err)...)
			continue
		}
		rbs = append(rbs, rb)
		texts[rb] = files[f]
	}
	set, setErrs := NewSet(rbs)
	lib := &Library{Set: set, sources: map[string]store.RunbookSource{}}
	for _, rb := range set.All() {
		lib.sources[rb.Name] = newSource(rb.Name, rb.File, texts[rb])
	}
	return lib, append(errs, setErrs...)
}

func newSource(name, file string, text []byte) store.RunbookSource {
	h := sha256.New()
	h.Write([]byte(file))
	h.Write([]byte{0})
	h.Write(text)
	return store.RunbookSource{Hash: hex.EncodeToString(h.Sum(nil)), Name: name, File: file, Source: text}
}
