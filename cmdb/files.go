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
	md := strictyaml.NewDecoder()
	var errs strictyaml.Errors
	type span struct {
		file       string
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
		sp := span{file: f.Name, cis: len(merged.CIs), rels: len(merged.Relations), nCI: len(doc.CIs), nRels: len(doc.Relations)}
		spans = append(spans, sp)
		for key, line := range d.Lines() {
			if m := indexed.FindStringSubmatch(key); m != nil {
				i, _ := strconv.Atoi(m[2])
				off := sp.cis
				if m[1] == "relations" {
					off = sp.rels
				}
				md.SetLine(fmt.Sprintf("%s[%d]%s", m[1], i+off, m[3]), line)
			}
		}
		merged.CIs = append(merged.CIs, doc.CIs...)
		merged.Relations = append(merged.Relations, doc.Relations...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	merged.validate(md)
	// locate maps an index of the merged document to its file and index.
	locate := func(kind string, i int) (string, int) {
		for _, sp := range spans {
			off, n := sp.cis, sp.nCI
			if kind == "relations" {
				off, n = sp.rels, sp.nRels
			}
			if i >= off && i < off+n {
				return sp.file, i - off
			}
		}
		return "", i
	}
	for _, e := range md.Errs() {
		// Name the file of the entry, and its index within that file, in
		// the key and in the message (duplicate of cis[3]).
		if m := indexed.FindStringSubmatch(e.Key); m != nil {
			i, _ := strconv.Atoi(m[2])
			file, j := locate(m[1], i)
			e.File, e.Key = file, fmt.Sprintf("%s[%d]%s", m[1], j, m[3])
		}
		e.Msg = mentioned.ReplaceAllStringFunc(e.Msg, func(ref string) string {
			m := mentioned.FindStringSubmatch(ref)
			i, _ := strconv.Atoi(m[2])
			file, j := locate(m[1], i)
			if file == e.File {
				return fmt.Sprintf("%s[%d]", m[1], j)
			}
			return fmt.Sprintf("%s %s[%d]", file, m[1], j)
		})
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return merged, nil
}
