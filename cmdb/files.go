package cmdb

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/incidentd/incidentd/strictyaml"
)

// File is one CMDB file's name and content.
type File struct {
	Name string
	Data []byte
}

var (
	indexed   = regexp.MustCompile(`^(cis|relations)\[(\d+)\](.*)$`)
	mentioned = regexp.MustCompile(`(cis|relations)\[(\d+)\]`)
)

// ParseFiles decodes several files into one document and validates it as a
// whole (a relation may name a CI of another file). Every error names the
// file and line it comes from.
func ParseFiles(files []File) (*Document, error) {
	merged := &Document{}
	var errs strictyaml.Errors
	// A span is one file's entries in merged; its decoder finds the lines
	// of errors, which are rare, so nothing is looked up while all is well.
	type span struct {
		file       string
		d          *strictyaml.Decoder
		cis, rels  int // offsets of the file's entries in merged
		nCI, nRels int
	}
	var spans []span
	for _, f := range files {
		var doc Document
		d, err := strictyaml.Parse(f.Name, f.Data, &doc)
		if err != nil {
			errs = append(errs, err.(strictyaml.Errors)...)
			continue
		}
		if err := d.Err(f.Name); err != nil {
			errs = append(errs, err.(strictyaml.Errors)...)
			continue
		}
		spans = append(spans, span{file: f.Name, d: d, cis: len(merged.CIs), rels: len(merged.Relations), nCI: len(doc.CIs), nRels: len(doc.Relations)})
		merged.CIs = append(merged.CIs, doc.CIs...)
		merged.Relations = append(merged.Relations, doc.Relations...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	md := strictyaml.NewDecoder()
	merged.validate(md)
	// locate maps an index of the merged document to its file and index.
	locate := func(kind string, i int) (*span, int) {
		for k := range spans {
			sp := &spans[k]
			off, n := sp.cis, sp.nCI
			if kind == "relations" {
				off, n = sp.rels, sp.nRels
			}
			if i >= off && i < off+n {
				return sp, i - off
			}
		}
		return nil, i
	}
	for _, e := range md.Errs() {
		// Name the file of the entry, its index within that file and its
		// line, in the key and in the message (duplicate of cis[3]).
		if m := indexed.FindStringSubmatch(e.Key); m != nil {
			i, _ := strconv.Atoi(m[2])
			if sp, j := locate(m[1], i); sp != nil {
				e.File, e.Key = sp.file, fmt.Sprintf("%s[%d]%s", m[1], j, m[3])
				e.Line = sp.d.Line(e.Key)
			}
		}
		e.Msg = mentioned.ReplaceAllStringFunc(e.Msg, func(ref string) string {
			m := mentioned.FindStringSubmatch(ref)
			i, _ := strconv.Atoi(m[2])
			sp, j := locate(m[1], i)
			if sp == nil || sp.file == e.File {
				return fmt.Sprintf("%s[%d]", m[1], j)
			}
			return fmt.Sprintf("%s %s[%d]", sp.file, m[1], j)
		})
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return merged, nil
}
