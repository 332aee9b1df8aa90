package cmdb

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/incidentd/incidentd/strictyaml"
)

// CSV import: a CMDB as two files with a header row each, as spreadsheets
// and CMDB tools (ServiceNow list exports, say) write them.
//
// The CIs file has the columns id (required), name, class, criticality,
// owner, environment and match; any other column is an attribute of the CI
// (empty cells are left out). match holds label sets as
// "service=checkout-api,env=prod;instance=10.0.3.17:5432": sets separated by
// ';', name=value pairs by ','. The relations file has exactly the columns
// from, type and to. Header names are case-insensitive and trimmed (attribute
// names are lower-cased), cells are trimmed, rows of empty cells are skipped,
// a UTF-8 byte order mark is ignored, and lines may end in CRLF.

// CIColumns are the columns of a CIs file that are CI fields, not attributes.
var CIColumns = []string{"id", "name", "class", "criticality", "owner", "environment", "match"}

// RelationColumns are the columns of a relations file.
var RelationColumns = []string{"from", "type", "to"}

// ParseCSV decodes a CIs file and a relations file into a document and
// validates it. The error, a strictyaml.Errors, lists every problem of both
// files, each with its file, line and column name.
func ParseCSV(cisName string, cis io.Reader, relsName string, rels io.Reader) (*Document, error) {
	return parseCSV(cisName, cis, relsName, rels, false)
}

// ParseCSVPatch decodes a CIs file and a relations file into a patch that
// upserts them. It validates them as ParseCSV does, except that relations
// may name CIs that are not in the files: those must already be in the CMDB
// the patch is applied to, which Apply checks.
func ParseCSVPatch(cisName string, cis io.Reader, relsName string, rels io.Reader) (*Patch, error) {
	doc, err := parseCSV(cisName, cis, relsName, rels, true)
	if err != nil {
		return nil, err
	}
	return &Patch{Upsert: *doc}, nil
}

// csvFile reads one CSV file and collects its errors.
type csvFile struct {
	name string
	r    *csv.Reader
	errs strictyaml.Errors
}

func newCSVFile(name string, in io.Reader) *csvFile {
	br := bufio.NewReader(in)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\ufeff" {
		br.Discard(3)
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = 0 // the header's count, checked on every row
	return &csvFile{name: name, r: r}
}

func (f *csvFile) failAt(line int, key, format string, args ...any) {
	f.errs = append(f.errs, strictyaml.Error{File: f.name, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// header reads the header row: trimmed, lower-cased column names. It
// reports empty and repeated names.
func (f *csvFile) header() ([]string, bool) {
	rec, err := f.r.Read()
	if err == io.EOF {
		f.failAt(0, "", "empty file: want a header row")
		return nil, false
	}
	if err != nil {
		f.readError(err)
		return nil, false
	}
	names := make([]string, len(rec))
	first := map[string]int{}
	ok := true
	for i, h := range rec {
		names[i] = strings.ToLower(strings.TrimSpace(h))
		line, _ := f.r.FieldPos(i)
		if !f.checkUTF8(line, i, h) {
			ok = false
		}
		switch j, dup := first[names[i]]; {
		case names[i] == "":
			f.failAt(line, "", "column %d of the header has no name", i+1)
			ok = false
		case dup:
			f.failAt(line, names[i], "column %d repeats column %d", i+1, j+1)
			ok = false
		default:
			first[names[i]] = i
		}
	}
	return names, ok
}

// csvRow is one data row: trimmed cells and the line of each.
type csvRow struct {
	cells []string
	lines []int
}

// rows reads the data rows, skipping those whose cells are all empty and
// reporting malformed ones.
func (f *csvFile) rows() []csvRow {
	var out []csvRow
	for {
		rec, err := f.r.Read()
		if err == io.EOF {
			return out
		}
		if err != nil {
			f.readError(err)
			continue
		}
		r := csvRow{cells: make([]string, len(rec)), lines: make([]int, len(rec))}
		blank := true
		for i, c := range rec {
			r.cells[i] = strings.TrimSpace(c)
			r.lines[i], _ = f.r.FieldPos(i)
			blank = blank && r.cells[i] == ""
			f.checkUTF8(r.lines[i], i, c)
		}
		if !blank {
			out = append(out, r)
		}
	}
}

// checkUTF8 reports a cell that is not UTF-8 (a spreadsheet saved in
// another encoding): stored as is, it would come back from the API with
// U+FFFD in place of the bad bytes.
func (f *csvFile) checkUTF8(line, col int, cell string) bool {
	if utf8.ValidString(cell) {
		return true
	}
	f.failAt(line, "", "column %d: not valid UTF-8 (save the file as UTF-8)", col+1)
	return false
}

// readError reports a malformed row. The reader goes on with the next one.
func (f *csvFile) readError(err error) {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		f.failAt(0, "", "%v", err)
		return
	}
	if errors.Is(pe.Err, csv.ErrFieldCount) {
		f.failAt(pe.StartLine, "", "wrong number of cells: the header has %d columns", f.r.FieldsPerRecord)
		return
	}
	f.failAt(pe.Line, "", "column %d: %v", pe.Column, pe.Err)
}

func parseCSV(cisName string, cis io.Reader, relsName string, rels io.Reader, external bool) (*Document, error) {
	cf := newCSVFile(cisName, cis)
	rf := newCSVFile(relsName, rels)
	doc := &Document{}
	var ciLines, relLines []int

	ciHeader, ciOK := cf.header()
	if ciOK && !slices.Contains(ciHeader, "id") {
		cf.failAt(1, "", `missing column "id"`)
		ciOK = false
	}
	if ciOK {
		for _, r := range cf.rows() {
			ci, line := cf.ci(ciHeader, r)
			doc.CIs = append(doc.CIs, ci)
			ciLines = append(ciLines, line)
		}
	}

	relHeader, relOK := rf.header()
	if relOK {
		for i, h := range relHeader {
			if !slices.Contains(RelationColumns, h) {
				rf.failAt(1, h, "unknown column %d (want exactly %s)", i+1, strings.Join(RelationColumns, ", "))
				relOK = false
			}
		}
		for _, want := range RelationColumns {
			if !slices.Contains(relHeader, want) {
				rf.failAt(1, "", "missing column %q", want)
				relOK = false
			}
		}
	}
	if relOK {
		for _, r := range rf.rows() {
			var rel Relation
			for i, h := range relHeader {
				switch h {
				case "from":
					rel.From = r.cells[i]
				case "type":
					rel.Type = r.cells[i]
				case "to":
					rel.To = r.cells[i]
				}
			}
			doc.Relations = append(doc.Relations, rel)
			relLines = append(relLines, r.lines[0])
		}
	}

	errs := append(append(strictyaml.Errors{}, cf.errs...), rf.errs...)
	if ciOK && relOK {
		// Validate only documents read whole: a missing column would make
		// every row wrong again.
		errs = append(errs, validateCSV(doc, external, cf, rf, ciLines, relLines)...)
	}
	if len(errs) > 0 {
		fileOrder := map[string]int{cisName: 0, relsName: 1}
		sort.SliceStable(errs, func(i, j int) bool {
			a, b := errs[i], errs[j]
			if a.File != b.File {
				return fileOrder[a.File] < fileOrder[b.File]
			}
			// Errors of no line (a member_of cycle) come last.
			return a.Line != 0 && (b.Line == 0 || a.Line < b.Line)
		})
		return nil, errs
	}
	return doc, nil
}

// ci builds the CI of a row of the CIs file and returns it with the row's
// line.
func (f *csvFile) ci(header []string, r csvRow) (CI, int) {
	var ci CI
	for i, h := range header {
		v, line := r.cells[i], r.lines[i]
		switch h {
		case "id":
			ci.ID = v
		case "name":
			ci.Name = v
		case "class":
			ci.Class = v
		case "owner":
			ci.Owner = v
		case "environment":
			ci.Environment = v
		case "criticality":
			if v == "" {
				break
			}
			n, err := strconv.Atoi(v)
			switch {
			case err != nil:
				f.failAt(line, h, "%q is not a number", v)
			case n == 0:
				// 0 would silently mean the default.
				f.failAt(line, h, "0 is not 1 (highest) to 5")
			default:
				ci.Criticality = n
			}
		case "match":
			ci.Match = f.matchSets(line, h, v)
		default:
			if v == "" {
				break
			}
			if ci.Attributes == nil {
				ci.Attributes = map[string]string{}
			}
			ci.Attributes[h] = v
		}
	}
	return ci, r.lines[0]
}

// matchSets parses "a=1,b=2;c=3" into label sets. Empty sets (a trailing
// ';') are left out.
func (f *csvFile) matchSets(line int, key, v string) []map[string]string {
	var sets []map[string]string
	for _, s := range strings.Split(v, ";") {
		if strings.TrimSpace(s) == "" {
			continue
		}
		set := map[string]string{}
		ok := true
		for _, pair := range strings.Split(s, ",") {
			name, value, found := strings.Cut(pair, "=")
			name, value = strings.TrimSpace(name), strings.TrimSpace(value)
			switch _, dup := set[name]; {
			case !found || name == "":
				f.failAt(line, key, "%q is not name=value (sets are separated by ';', pairs by ',')", strings.TrimSpace(pair))
				ok = false
			case dup:
				f.failAt(line, key, "label %q twice in the set %q", name, strings.TrimSpace(s))
				ok = false
			default:
				set[name] = value
			}
		}
		if ok {
			sets = append(sets, set)
		}
	}
	return sets
}

var (
	csvKey   = regexp.MustCompile(`^(cis|relations)\[(\d+)\]\.?(.*)$`)
	csvIndex = regexp.MustCompile(`\b(cis|relations)\[(\d+)\]`)
)

// validateCSV validates doc and maps the errors back to the files: cis[i]
// to the line of the i-th CI row, cis[i].criticality to the column
// criticality, and "first at cis[0]" to "first at line 2". With external,
// relations may name CIs not in doc.
func validateCSV(doc *Document, external bool, cf, rf *csvFile, ciLines, relLines []int) strictyaml.Errors {
	n := len(doc.CIs)
	if external {
		have := make(map[string]bool, n)
		for _, ci := range doc.CIs {
			have[ci.ID] = true
		}
		for _, r := range doc.Relations {
			for _, id := range []string{r.From, r.To} {
				if id != "" && !have[id] {
					have[id] = true
					doc.CIs = append(doc.CIs, CI{ID: id}) // a stand-in, removed below
				}
			}
		}
	}
	err := doc.Validate()
	doc.CIs = doc.CIs[:n]
	verrs, _ := err.(strictyaml.Errors)
	where := func(kind string, i int) (string, int) {
		if kind == "cis" {
			if i < len(ciLines) {
				return cf.name, ciLines[i]
			}
			return cf.name, 0
		}
		if i < len(relLines) {
			return rf.name, relLines[i]
		}
		return rf.name, 0
	}
	var out strictyaml.Errors
	for _, e := range verrs {
		e.Msg = csvIndex.ReplaceAllStringFunc(e.Msg, func(s string) string {
			m := csvIndex.FindStringSubmatch(s)
			i, _ := strconv.Atoi(m[2])
			if _, line := where(m[1], i); line > 0 {
				return "line " + strconv.Itoa(line)
			}
			return s
		})
		if m := csvKey.FindStringSubmatch(e.Key); m != nil {
			i, _ := strconv.Atoi(m[2])
			e.File, e.Line = where(m[1], i)
			// The column: criticality, match[0] -> match, attributes.min_up -> min_up.
			col := strings.TrimPrefix(m[3], "attributes.")
			if j := strings.IndexByte(col, '['); j >= 0 {
				col = col[:j]
			}
			e.Key = col
		} else if e.Key == "relations" {
			e.File, e.Key = rf.name, ""
		}
		out = append(out, e)
	}
	return out
}
