package cmdb

import (
	"reflect"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/internal/mdcode"
	"github.com/incidentd/incidentd/strictyaml"
)

// docBlocks returns the fenced code blocks of a markdown file.
func docBlocks(t *testing.T, file string) []mdcode.Block {
	t.Helper()
	blocks, err := mdcode.Blocks(file)
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

// TestImportDocExamples checks the examples of docs/cmdb-import.md: every
// ```csv cis block with the ```csv relations block after it parses with
// ParseCSV, every ```yaml cmdb block with Parse, the first CSV pair is the
// same CMDB as the first YAML document, and the ```yaml patch block is a
// valid upsert into it.
func TestImportDocExamples(t *testing.T) {
	const file = "../docs/cmdb-import.md"
	var yamlDocs, csvDocs []*Document
	var patches []mdcode.Block
	var cis *mdcode.Block
	for _, b := range docBlocks(t, file) {
		switch b.Info {
		case "yaml cmdb":
			doc, err := Parse("cmdb.yml", []byte(b.Text))
			if err != nil {
				t.Errorf("%s:%d: YAML example invalid:\n%v", file, b.Line, err)
				continue
			}
			yamlDocs = append(yamlDocs, doc)
		case "csv cis":
			if cis != nil {
				t.Errorf("%s:%d: csv cis block without csv relations after it", file, cis.Line)
			}
			cis = &b
		case "csv relations":
			if cis == nil {
				t.Errorf("%s:%d: csv relations block without csv cis before it", file, b.Line)
				continue
			}
			doc, err := ParseCSV("cis.csv", strings.NewReader(cis.Text), "relations.csv", strings.NewReader(b.Text))
			if err != nil {
				t.Errorf("%s:%d: CSV example invalid:\n%v", file, cis.Line, err)
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
		d, err := strictyaml.Parse("patch.yml", []byte(b.Text), &p.Upsert)
		if err == nil {
			err = d.Err("patch.yml")
		}
		if err == nil {
			_, err = yamlDocs[0].Apply(&p)
		}
		if err != nil {
			t.Errorf("%s:%d: patch example does not apply to the YAML example:\n%v", file, b.Line, err)
		}
	}
}
