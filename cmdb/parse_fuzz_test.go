package cmdb

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/internal/fuzzseed"
)

// checkDocument requires an accepted document to be valid and to come back
// the same through JSON, the form the API and the store use.
func checkDocument(t *testing.T, doc *Document) {
	t.Helper()
	if err := doc.Validate(); err != nil {
		t.Fatalf("accepted document does not validate: %v", err)
	}
	for i := range doc.CIs {
		if f := nulField(&doc.CIs[i]); f != "" {
			t.Fatalf("accepted CI %d has a NUL in %s", i, f)
		}
	}
	js, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse("again.json", js)
	if err != nil {
		t.Fatalf("accepted document, re-encoded as JSON, is rejected: %v\n%s", err, js)
	}
	js2, _ := json.Marshal(again)
	if !bytes.Equal(js, js2) {
		t.Fatalf("JSON round trip changed the document:\n%s\n%s", js, js2)
	}
}

func addDocumentSeeds(f *testing.F) {
	for _, data := range fuzzseed.Files(f, "configs/cmdb.yml") {
		f.Add(data)
	}
	for _, s := range fuzzseed.DocBlocks(f, "yaml cmdb", "yaml patch") {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"cis":[{"id":"a","match":[{"service":"a"}]},{"id":"b"}],"relations":[{"from":"a","type":"depends_on","to":"b"}]}`,
		`{"cis":[{"id":"a"},{"id":"a"}]}`,
		`{"cis":[{"id":"a","id":"b"}]}`,
		`{"cis":[{"id":1}]}`,
		"cis: &c [{id: a, match: *c}]\n",
		"cis:\n  - id: \"a\\x00\"\n",
		"upsert: {cis: [{id: a}]}\ndelete: {cis: [b], relations: [{from: a, type: runs_on, to: b}]}\n",
		`[[[[[[[[[[[[[[[[[[[[`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
}

func FuzzParse(f *testing.F) {
	addDocumentSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse("fuzz.yml", data)
		if err != nil {
			fuzzseed.CheckErrors(t, err, "")
			return
		}
		checkDocument(t, doc)
	})
}

func FuzzParsePatch(f *testing.F) {
	addDocumentSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := ParsePatch("fuzz.yml", data); err != nil {
			fuzzseed.CheckErrors(t, err, "")
		}
	})
}

func FuzzParseCSV(f *testing.F) {
	cis := fuzzseed.DocBlocks(f, "csv cis", "csv bad-cis")
	rels := fuzzseed.DocBlocks(f, "csv relations", "csv bad-relations")
	if len(cis) == 0 || len(cis) != len(rels) {
		f.Fatalf("docs have %d CIs and %d relations CSV examples, want pairs", len(cis), len(rels))
	}
	for i := range cis {
		f.Add(cis[i], rels[i])
	}
	f.Add("\ufeffid,match\r\na,\"service=a,env=prod;instance=x:1\"\r\n", "from,type,to\n")
	f.Add("id,id\na,b\n", "from,type,to\na,depends_on,a\n")
	f.Add("id,\"unterminated\na\n", "from,type\n")
	f.Add("ID , Owner,Extra\n a , b ,\n,,\n", "FROM,TYPE,TO\n")
	f.Fuzz(func(t *testing.T, cisCSV, relsCSV string) {
		doc, err := ParseCSV("cis.csv", strings.NewReader(cisCSV), "relations.csv", strings.NewReader(relsCSV))
		if err != nil {
			fuzzseed.CheckErrors(t, err, "")
		} else {
			checkDocument(t, doc)
		}
		if _, err := ParseCSVPatch("cis.csv", strings.NewReader(cisCSV), "relations.csv", strings.NewReader(relsCSV)); err != nil {
			fuzzseed.CheckErrors(t, err, "")
		}
	})
}

// TestParseCSVRejectsInvalidUTF8 pins the fix for the fuzzer's finding: a
// cell (or header) in another encoding was stored as is and came back
// from the API with U+FFFD.
func TestParseCSVRejectsInvalidUTF8(t *testing.T) {
	for _, tt := range []struct{ name, cis, want string }{
		{"cell", "id,owner\na,\"\xcd\"\n", "cis.csv:2: column 2: not valid UTF-8"},
		{"header", "id,\xffowner\na,b\n", "cis.csv:1: column 2: not valid UTF-8"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCSV("cis.csv", strings.NewReader(tt.cis), "relations.csv", strings.NewReader("from,type,to\n"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
