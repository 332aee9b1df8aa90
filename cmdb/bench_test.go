package cmdb_test

// Load and memory benchmarks on a generated CMDB of 100,000 CIs and 300,000
// relations (the size the correlation issue targets: load in under 3 s,
// the built graph under 200 MB). Run them with
//
//	go test -run XXX -bench . -benchtime 1x ./cmdb/
//
// The document is generated once per process (about a second) and shared.

import (
	"bytes"
	"encoding/json"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/correlate/simulate"
)

const (
	benchCIs       = 100_000
	benchRelations = 300_000
)

var bench struct {
	once       sync.Once
	doc        *cmdb.Document
	json, yaml []byte
}

func benchDocument(b *testing.B) (*cmdb.Document, []byte, []byte) {
	b.Helper()
	bench.once.Do(func() {
		t := simulate.NewTopology(1, simulate.TopologyOptions{CIs: benchCIs, Relations: benchRelations})
		bench.doc = t.Doc
		var err error
		if bench.json, err = json.Marshal(t.Doc); err != nil {
			panic(err)
		}
		bench.yaml = yamlDocument(t.Doc)
	})
	if len(bench.doc.CIs) != benchCIs || len(bench.doc.Relations) != benchRelations {
		b.Fatalf("generated %d CIs, %d relations", len(bench.doc.CIs), len(bench.doc.Relations))
	}
	return bench.doc, bench.json, bench.yaml
}

// yamlDocument writes doc the way people write CMDB files: a block list of
// CIs with flow-style match sets, and one flow mapping per relation.
func yamlDocument(doc *cmdb.Document) []byte {
	var b bytes.Buffer
	q := strconv.Quote
	flow := func(m map[string]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k + ": " + q(m[k]))
		}
		b.WriteByte('}')
	}
	b.WriteString("cis:\n")
	for _, ci := range doc.CIs {
		b.WriteString("  - id: " + ci.ID + "\n    class: " + ci.Class + "\n")
		if ci.Criticality != 0 {
			b.WriteString("    criticality: " + strconv.Itoa(ci.Criticality) + "\n")
		}
		if ci.Owner != "" {
			b.WriteString("    owner: " + ci.Owner + "\n")
		}
		if len(ci.Attributes) > 0 {
			b.WriteString("    attributes: ")
			flow(ci.Attributes)
			b.WriteByte('\n')
		}
		if len(ci.Match) > 0 {
			b.WriteString("    match:\n")
			for _, m := range ci.Match {
				b.WriteString("      - ")
				flow(m)
				b.WriteByte('\n')
			}
		}
	}
	b.WriteString("relations:\n")
	for _, r := range doc.Relations {
		b.WriteString("  - {from: " + r.From + ", type: " + r.Type + ", to: " + r.To + "}\n")
	}
	return b.Bytes()
}

// BenchmarkLoad measures loading a CMDB of 100,000 CIs and 300,000
// relations: Load (Parse then Build, the target of under 3 s) of
// the YAML and of the JSON form, then its steps: Parse (strict decoding
// and validation), Validate alone and Build. Each reports seconds.
func BenchmarkLoad(b *testing.B) {
	doc, js, ym := benchDocument(b)
	b.Logf("document: %d CIs, %d relations; JSON %.1f MB, YAML %.1f MB", len(doc.CIs), len(doc.Relations), float64(len(js))/1e6, float64(len(ym))/1e6)
	for _, in := range []struct {
		format string
		data   []byte
	}{{"json", js}, {"yaml", ym}} {
		b.Run("Load/"+in.format, func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			for b.Loop() {
				d, err := cmdb.Parse("cmdb."+in.format, in.data)
				if err != nil {
					b.Fatal(err)
				}
				if g := cmdb.Build(d); g.Len() != benchCIs {
					b.Fatal(g.Len())
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/load")
		})
		b.Run("Parse/"+in.format, func(b *testing.B) {
			b.SetBytes(int64(len(in.data)))
			for b.Loop() {
				d, err := cmdb.Parse("cmdb."+in.format, in.data)
				if err != nil {
					b.Fatal(err)
				}
				if len(d.CIs) != benchCIs {
					b.Fatalf("%d CIs", len(d.CIs))
				}
			}
			b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/load")
		})
	}
	// For comparison: what the libraries cost on their own. yaml-nodes is
	// yaml.v3 building its node tree, the floor of the strict YAML parse;
	// json-direct and yaml-direct decode straight into the Document,
	// rejecting unknown keys, then Validate (json-direct is the JSON fast
	// path; yaml.v3 builds the same node tree inside its Decode).
	b.Run("Library/yaml-nodes", func(b *testing.B) {
		b.SetBytes(int64(len(ym)))
		for b.Loop() {
			var n yaml.Node
			if err := yaml.Unmarshal(ym, &n); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/load")
	})
	b.Run("Library/json-direct", func(b *testing.B) {
		b.SetBytes(int64(len(js)))
		for b.Loop() {
			var d cmdb.Document
			dec := json.NewDecoder(bytes.NewReader(js))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&d); err != nil {
				b.Fatal(err)
			}
			if err := d.Validate(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/load")
	})
	b.Run("Library/yaml-direct", func(b *testing.B) {
		b.SetBytes(int64(len(ym)))
		for b.Loop() {
			var d cmdb.Document
			dec := yaml.NewDecoder(bytes.NewReader(ym))
			dec.KnownFields(true)
			if err := dec.Decode(&d); err != nil {
				b.Fatal(err)
			}
			if err := d.Validate(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/load")
	})
	b.Run("Validate", func(b *testing.B) {
		for b.Loop() {
			if err := doc.Validate(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/load")
	})
	b.Run("Build", func(b *testing.B) {
		for b.Loop() {
			if g := cmdb.Build(doc); g.Len() != benchCIs {
				b.Fatal(g.Len())
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/load")
	})
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkGraphMemory measures the live heap of a CMDB of 100,000 CIs and
// 300,000 relations: the document as Parse returns it (doc-MB), what Build
// adds for its indexes (index-MB), and both together (graph-MB: a Graph
// keeps its document).
func BenchmarkGraphMemory(b *testing.B) {
	_, js, _ := benchDocument(b)
	for b.Loop() {
		start := heapAfterGC()
		doc, err := cmdb.Parse("cmdb.json", js)
		if err != nil {
			b.Fatal(err)
		}
		parsed := heapAfterGC()
		t := time.Now()
		g := cmdb.Build(doc)
		build := time.Since(t)
		built := heapAfterGC()
		runtime.KeepAlive(g)
		mb := func(n uint64) float64 { return float64(int64(n)) / (1 << 20) }
		b.ReportMetric(mb(parsed-start), "doc-MB")
		b.ReportMetric(mb(built-parsed), "index-MB")
		b.ReportMetric(mb(built-start), "graph-MB")
		b.ReportMetric(build.Seconds(), "build-s")
	}
}
