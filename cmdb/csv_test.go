package cmdb

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/strictyaml"
)

// A ServiceNow-like export: columns in its order, extra columns that become
// attributes, empty cells, quoted cells with commas.
const (
	snowCIs = `id,name,class,criticality,owner,environment,match,location,sys_updated_on,min_up
checkout,Checkout,business_service,1,team-shop,prod,,,2026-01-10 10:00:00,
checkout-api,Checkout API,application,2,team-shop,prod,"service=checkout-api,env=prod;instance=10.0.3.17:8080",Frankfurt,2026-01-11 09:30:00,
payments-db,Payments DB,database,,team-data,prod,instance=10.0.3.17:5432;service=payments-db,"Frankfurt, DC 2",,
db-cluster,DB cluster,cluster,2,team-data,prod,,,,2
db-node-1,,server,,,,instance=db-node-1:9100,,,
db-node-2,,server,,,,instance=db-node-2:9100,,,
`
	snowRels = `from,type,to
checkout,depends_on,checkout-api
checkout-api,depends_on,payments-db
payments-db,runs_on,db-cluster
db-node-1,member_of,db-cluster
db-node-2,member_of,db-cluster
`
)

func TestParseCSVValid(t *testing.T) {
	doc, err := ParseCSV("cis.csv", strings.NewReader(snowCIs), "rels.csv", strings.NewReader(snowRels))
	if err != nil {
		t.Fatal(err)
	}
	want := &Document{
		CIs: []CI{
			{ID: "checkout", Name: "Checkout", Class: "business_service", Criticality: 1, Owner: "team-shop", Environment: "prod",
				Attributes: map[string]string{"sys_updated_on": "2026-01-10 10:00:00"}},
			{ID: "checkout-api", Name: "Checkout API", Class: "application", Criticality: 2, Owner: "team-shop", Environment: "prod",
				Attributes: map[string]string{"location": "Frankfurt", "sys_updated_on": "2026-01-11 09:30:00"},
				Match:      []map[string]string{{"service": "checkout-api", "env": "prod"}, {"instance": "10.0.3.17:8080"}}},
			{ID: "payments-db", Name: "Payments DB", Class: "database", Criticality: DefaultCriticality, Owner: "team-data", Environment: "prod",
				Attributes: map[string]string{"location": "Frankfurt, DC 2"},
				Match:      []map[string]string{{"instance": "10.0.3.17:5432"}, {"service": "payments-db"}}},
			{ID: "db-cluster", Name: "DB cluster", Class: "cluster", Criticality: 2, Owner: "team-data", Environment: "prod",
				Attributes: map[string]string{"min_up": "2"}},
			{ID: "db-node-1", Class: "server", Criticality: DefaultCriticality,
				Match: []map[string]string{{"instance": "db-node-1:9100"}}},
			{ID: "db-node-2", Class: "server", Criticality: DefaultCriticality,
				Match: []map[string]string{{"instance": "db-node-2:9100"}}},
		},
		Relations: []Relation{
			{"checkout", DependsOn, "checkout-api"},
			{"checkout-api", DependsOn, "payments-db"},
			{"payments-db", RunsOn, "db-cluster"},
			{"db-node-1", MemberOf, "db-cluster"},
			{"db-node-2", MemberOf, "db-cluster"},
		},
	}
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", doc, want)
	}
	// The document works as a graph: a match set of two labels maps alerts,
	// and the min_up attribute rules the cluster (one of two nodes down
	// leaves it below min_up 2).
	g := Build(doc)
	if id, _ := g.MatchLabels(map[string]string{"service": "checkout-api", "env": "prod", "alertname": "X"}); id != "checkout-api" {
		t.Errorf("matched %q", id)
	}
	if imp := g.Impact([]string{"db-node-1"}); len(imp) != 1 || imp[0].CI != "checkout" || imp[0].State != Down {
		t.Errorf("impact %+v", imp)
	}
}

// TestParseCSVFormats checks the CSV dialects one meets: header case and
// order, quoting, a byte order mark, CRLF line ends, blank lines.
func TestParseCSVFormats(t *testing.T) {
	base := &Document{
		CIs:       []CI{{ID: "a", Name: "A", Criticality: 3}, {ID: "b", Criticality: 3}},
		Relations: []Relation{{"a", DependsOn, "b"}},
	}
	tests := []struct {
		name      string
		cis, rels string
		want      *Document
	}{
		{name: "plain", cis: "id,name\na,A\nb,\n", rels: "from,type,to\na,depends_on,b\n", want: base},
		{name: "header case, spaces and order", cis: " Name ,ID\nA,a\n,b\n", rels: "TO, Type ,From\nb,depends_on,a\n", want: base},
		{name: "cells trimmed", cis: "id,name\n a , A \nb,\n", rels: "from,type,to\n a ,depends_on , b\n", want: base},
		{name: "BOM at the start of both files", cis: "\ufeffid,name\na,A\nb,\n", rels: "\ufefffrom,type,to\na,depends_on,b\n", want: base},
		{name: "CRLF", cis: "id,name\r\na,A\r\nb,\r\n", rels: "from,type,to\r\na,depends_on,b\r\n", want: base},
		{name: "BOM and CRLF, no final newline", cis: "\ufeffid,name\r\na,A\r\nb,", rels: "from,type,to\r\na,depends_on,b", want: base},
		{name: "blank lines and empty rows skipped", cis: "id,name\n\na,A\n,\n\nb,\n", rels: "from,type,to\n,,\na,depends_on,b\n\n", want: base},
		{name: "header only relations", cis: "id,name\na,A\nb,\n", rels: "from,type,to\n",
			want: &Document{CIs: base.CIs}},
		{name: "quoting", cis: "id,name,note\n\"a\",\"A\",\"says \"\"hi\"\", twice\"\nb,,\"two\nlines\"\n", rels: "from,type,to\n\"a\",\"depends_on\",\"b\"\n",
			want: &Document{
				CIs: []CI{
					{ID: "a", Name: "A", Criticality: 3, Attributes: map[string]string{"note": `says "hi", twice`}},
					{ID: "b", Criticality: 3, Attributes: map[string]string{"note": "two\nlines"}},
				},
				Relations: base.Relations,
			}},
		{name: "quoted match with separators", cis: "id,match\na,\"x=1, y = 2 ;z=a=b;\"\nb,\n", rels: "from,type,to\na,depends_on,b\n",
			want: &Document{
				CIs:       []CI{{ID: "a", Criticality: 3, Match: []map[string]string{{"x": "1", "y": "2"}, {"z": "a=b"}}}, {ID: "b", Criticality: 3}},
				Relations: base.Relations,
			}},
		{name: "attribute names lower-cased, empty ones left out", cis: "id,Location,Rack\na,FRA,\nb,,\n", rels: "from,type,to\na,depends_on,b\n",
			want: &Document{
				CIs:       []CI{{ID: "a", Criticality: 3, Attributes: map[string]string{"location": "FRA"}}, {ID: "b", Criticality: 3}},
				Relations: base.Relations,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := ParseCSV("cis.csv", strings.NewReader(tt.cis), "rels.csv", strings.NewReader(tt.rels))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(doc, tt.want) {
				t.Errorf("got\n%+v\nwant\n%+v", doc, tt.want)
			}
		})
	}
}

// TestParseCSVErrors checks every kind of error, each with its file, line
// and column, and that all of them are reported at once.
func TestParseCSVErrors(t *testing.T) {
	const (
		okCIs  = "id\na\nb\n"
		okRels = "from,type,to\na,depends_on,b\n"
	)
	tests := []struct {
		name      string
		cis, rels string
		want      []string // the whole error, one line per problem
	}{
		{name: "criticality not a number", cis: "id,criticality\na,1\nb,high\n", rels: okRels,
			want: []string{`cis.csv:3: criticality: "high" is not a number`}},
		{name: "criticality out of range", cis: "id,criticality\na,0\nb,9\n", rels: okRels,
			want: []string{`cis.csv:2: criticality: 0 is not 1 (highest) to 5`, `cis.csv:3: criticality: 9 is not 1 (highest) to 5`}},
		{name: "bad match sets", cis: "id,match\na,service\nb,\"x=1,=2\"\nc,\"x=1,x=2\"\n", rels: okRels,
			want: []string{
				`cis.csv:2: match: "service" is not name=value (sets are separated by ';', pairs by ',')`,
				`cis.csv:3: match: "=2" is not name=value (sets are separated by ';', pairs by ',')`,
				`cis.csv:4: match: label "x" twice in the set "x=1,x=2"`,
			}},
		{name: "duplicate and empty ids", cis: "id,name\na,A\nb,B\na,again\n,nameless\n", rels: okRels,
			want: []string{`cis.csv:4: id: duplicate id "a" (first at line 2)`, `cis.csv:5: a CI needs an id`}},
		{name: "bad min_up attribute", cis: "id,MIN_UP\na,none\nb,2\n", rels: okRels,
			want: []string{`cis.csv:2: min_up: "none" is not a positive number`}},
		{name: "wrong number of cells", cis: "id,name\na,A,extra\nb\n", rels: okRels,
			want: []string{
				"cis.csv:2: wrong number of cells: the header has 2 columns",
				"cis.csv:3: wrong number of cells: the header has 2 columns",
				// The rows left out leave the relation dangling.
				`rels.csv:2: from: no CI with id "a"`,
				`rels.csv:2: to: no CI with id "b"`,
			}},
		{name: "quoting errors", cis: "id,name\na,bad\"quote\nb,\"unterminated\n", rels: "from,type,to\na,depends_on,\"b\"x\n",
			want: []string{
				`cis.csv:2: column 6: bare " in non-quoted-field`,
				`cis.csv:3: column 17: extraneous or missing " in quoted-field`,
				`rels.csv:2: column 16: extraneous or missing " in quoted-field`,
			}},
		{name: "line numbers after a multi-line cell", cis: "id,note\na,\"one\ntwo\"\na,x\n", rels: okRels,
			want: []string{`cis.csv:4: id: duplicate id "a" (first at line 2)`, `rels.csv:2: to: no CI with id "b"`}},
		{name: "missing id column", cis: "name,class\nA,app\n", rels: okRels,
			want: []string{`cis.csv:1: missing column "id"`}},
		{name: "bad CI headers", cis: "id,name,,Name\na,A,,A\n", rels: okRels,
			want: []string{"cis.csv:1: column 3 of the header has no name", "cis.csv:1: name: column 4 repeats column 2"}},
		{name: "empty files", cis: "", rels: "",
			want: []string{"cis.csv: empty file: want a header row", "rels.csv: empty file: want a header row"}},
		{name: "bad relation headers", cis: okCIs, rels: "from,kind,to,weight\na,depends_on,b,3\n",
			want: []string{
				"rels.csv:1: kind: unknown column 2 (want exactly from, type, to)",
				"rels.csv:1: weight: unknown column 4 (want exactly from, type, to)",
				`rels.csv:1: missing column "type"`,
			}},
		{name: "bad relations", cis: "id\na\nb\nc\n",
			rels: "from,type,to\na,needs,b\na,depends_on,ghost\nb,depends_on,b\na,runs_on,b\na,runs_on,b\n,depends_on,b\na,,b\nb,member_of,c\nc,member_of,b\n",
			want: []string{
				`rels.csv:2: type: unknown relation type "needs" (want one of [depends_on runs_on hosted_on connects_to contained_by member_of])`,
				`rels.csv:3: to: no CI with id "ghost"`,
				"rels.csv:4: a CI cannot relate to itself",
				"rels.csv:6: duplicate of line 5",
				"rels.csv:7: missing from",
				"rels.csv:8: missing type",
				"rels.csv: member_of cycle: [b c b]",
			}},
		{name: "every error of both files at once", cis: "id,criticality,match\na,high,x\na,2,\n", rels: "from,type,to\na,depends_on,zz\na,frobs,a\n",
			want: []string{
				`cis.csv:2: criticality: "high" is not a number`,
				`cis.csv:2: match: "x" is not name=value (sets are separated by ';', pairs by ',')`,
				`cis.csv:3: id: duplicate id "a" (first at line 2)`,
				`rels.csv:2: to: no CI with id "zz"`,
				`rels.csv:3: type: unknown relation type "frobs" (want one of [depends_on runs_on hosted_on connects_to contained_by member_of])`,
				"rels.csv:3: a CI cannot relate to itself",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := ParseCSV("cis.csv", strings.NewReader(tt.cis), "rels.csv", strings.NewReader(tt.rels))
			if err == nil {
				t.Fatalf("accepted: %+v", doc)
			}
			var errs strictyaml.Errors
			if !errors.As(err, &errs) {
				t.Fatalf("%T is not strictyaml.Errors: %v", err, err)
			}
			if got, want := err.Error(), strings.Join(tt.want, "\n"); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestParseCSVPatch(t *testing.T) {
	cis := "id,class\ncache,database\n"
	rels := "from,type,to\ncheckout-api,depends_on,cache\n"
	// As a whole CMDB the relation dangles ...
	if _, err := ParseCSV("cis.csv", strings.NewReader(cis), "rels.csv", strings.NewReader(rels)); err == nil ||
		err.Error() != `rels.csv:2: from: no CI with id "checkout-api"` {
		t.Errorf("ParseCSV: %v", err)
	}
	// ... as a patch it names a CI already in the CMDB.
	p, err := ParseCSVPatch("cis.csv", strings.NewReader(cis), "rels.csv", strings.NewReader(rels))
	if err != nil {
		t.Fatal(err)
	}
	want := Document{CIs: []CI{{ID: "cache", Class: "database", Criticality: 3}}, Relations: []Relation{{"checkout-api", DependsOn, "cache"}}}
	if !reflect.DeepEqual(p.Upsert, want) || p.Delete.CIs != nil || p.Delete.Relations != nil {
		t.Errorf("got %+v", p)
	}
	base, err := Parse("cmdb.yml", []byte(example))
	if err != nil {
		t.Fatal(err)
	}
	out, err := base.Apply(p)
	if err != nil || len(out.CIs) != len(base.CIs)+1 || len(out.Relations) != len(base.Relations)+1 {
		t.Errorf("Apply: %v, %+v", err, out)
	}
	// Other errors still count.
	_, err = ParseCSVPatch("cis.csv", strings.NewReader("id\ncache\ncache\n"), "rels.csv", strings.NewReader("from,type,to\nx,needs,cache\n"))
	want2 := `cis.csv:3: id: duplicate id "cache" (first at line 2)` + "\n" + `rels.csv:2: type: unknown relation type "needs" (want one of [depends_on runs_on hosted_on connects_to contained_by member_of])`
	if err == nil || err.Error() != want2 {
		t.Errorf("got:\n%v\nwant:\n%s", err, want2)
	}
}
