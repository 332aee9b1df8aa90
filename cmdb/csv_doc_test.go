package cmdb

import (
	"bufio"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/strictyaml"
)

// docBlock is a fenced code block of a markdown file.
type docBlock struct {
	info, text string
	line       int
}

// docBlocks returns the fenced code blocks of a markdown file.
func docBlocks(t *testing.T, file string) []docBlock {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []docBlock
	var cur *docBlock
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &docBlock{info: strings.TrimSpace(strings.TrimPrefix(line, "```")), line: n}
		case cur != nil && strings.HasPrefix(line, "```"):
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	return out
}

// TestImportDocExamples checks the examples of docs/cmdb-import.md: every
// ```csv cis block with the ```csv relations block after it parses with
// ParseCSV, every ```yaml cmdb block with Parse, the first CSV pair is the
// same CMDB as the first YAML document, and the ```yaml patch block is a
// valid upsert into it.
func TestImportDocExamples(t *testing.T) {
	const file = "../docs/cmdb-import.md"
	var yamlDocs, csvDocs []*Document
	var patches []docBlock
	var cis *docBlock
	for _, b := range docBlocks(t, file) {
		switch b.info {
		case "yaml cmdb":
			doc, err := Parse("cmdb.yml", []byte(b.text))
			if err != nil {
				t.Errorf("%s:%d: YAML example invalid:\n%v", file, b.line, err)
				continue
			}
			yamlDocs = append(yamlDocs, doc)
		case "csv cis":
			if cis != nil {
				t.Errorf("%s:%d: csv cis block without csv relations after it", file, cis.line)
			}
			cis = &b
		case "csv relations":
			if cis == nil {
				t.Errorf("%s:%d: csv relations block without csv cis before it", file, b.line)
				continue
			}
			doc, err := ParseCSV("cis.csv", strings.NewReader(cis.text), "relations.csv", strings.NewReader(b.text))
			if err != nil {
				t.Errorf("%s:%d: CSV example invalid:\n%v", file, cis.line, err)
			} else {
				csvDocs = append(csvDocs, doc)
			}
			cis = nil
		case "yaml patch":
			patches = append(patches, b)
		}
	}
	if len(yamlDocs) == 0 || len(csvDocs) == 0 || len(patches) == 0 {
		t.Fatalf("found %d YAML, %d CSV and %d patch examples; want at least one of each", len(yamlDocs), len(csvDocs), len(patches))
	}
	if !reflect.DeepEqual(csvDocs[0], yamlDocs[0]) {
		t.Errorf("the CSV example is not the YAML example:\n%+v\n%+v", csvDocs[0], yamlDocs[0])
	}
	for _, b := range patches {
		var p Patch
		d, err := strictyaml.Parse("patch.yml", []byte(b.text), &p.Upsert)
		if err == nil {
			err = d.Err("patch.yml")
		}
		if err == nil {
			_, err = yamlDocs[0].Apply(&p)
		}
		if err != nil {
			t.Errorf("%s:%d: patch example does not apply to the YAML example:\n%v", file, b.line, err)
		}
	}
}
