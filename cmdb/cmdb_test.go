package cmdb

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// example is the CMDB of the issue, plus a cluster.
const example = `cis:
  - id: checkout
    class: business_service
    criticality: 1
  - id: checkout-api
    class: application
    owner: team-shop
    match:
      - {service: checkout-api}
  - id: payments-db
    class: database
    criticality: 2
    match:
      - {instance: "10.0.3.17:5432"}
      - {service: payments-db}
  - id: db-host-1
    class: server
    match:
      - {instance: "db-host-1:9100"}
relations:
  - {from: checkout, type: depends_on, to: checkout-api}
  - {from: checkout-api, type: depends_on, to: payments-db}
  - {from: payments-db, type: runs_on, to: db-host-1}
`

func mustGraph(t *testing.T, text string) *Graph {
	t.Helper()
	doc, err := Parse("cmdb.yml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return Build(doc)
}

func TestParseExampleYAMLAndJSON(t *testing.T) {
	g := mustGraph(t, example)
	if g.Len() != 4 {
		t.Fatalf("%d CIs", g.Len())
	}
	ci, ok := g.CI("checkout-api")
	if !ok || ci.Owner != "team-shop" || ci.Criticality != DefaultCriticality {
		t.Fatalf("checkout-api: %+v", ci)
	}
	js := `{"cis": [{"id": "a", "class": "application", "attributes": {"port": 8080}}, {"id": "b"}], "relations": [{"from": "a", "type": "depends_on", "to": "b"}]}`
	g = mustGraph(t, js)
	if a, _ := g.CI("a"); a.Attributes["port"] != "8080" {
		t.Errorf("numeric attribute: %+v", a.Attributes)
	}
}

func TestInvalidDocumentListsEveryError(t *testing.T) {
	bad := `cis:
  - id: a
  - id: a
  - id: b
    criticality: 9
  - class: server
  - id: c
    match: [{}]
  - id: cl
    attributes: {min_up: none}
relations:
  - {from: a, type: needs, to: b}
  - {from: a, type: depends_on, to: ghost}
  - {from: b, type: depends_on, to: b}
  - {from: a, type: runs_on, to: b}
  - {from: a, type: runs_on, to: b}
  - {from: b, type: member_of, to: c}
  - {from: c, type: member_of, to: b}
  - {from: a, type: depends_on, to: b, weight: 3}
`
	_, err := Parse("cmdb.yml", []byte(bad))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`cmdb.yml:3: cis[1].id: duplicate id "a" (first at cis[0])`,
		"cmdb.yml:5: cis[2].criticality: 9 is not 1 (highest) to 5",
		"cmdb.yml:6: cis[3]: a CI needs an id",
		"cmdb.yml:8: cis[4].match[0]: an empty label set",
		`cmdb.yml:10: cis[5].attributes.min_up: "none" is not a positive number`,
		`cmdb.yml:12: relations[0].type: unknown relation type "needs"`,
		`cmdb.yml:13: relations[1].to: no CI with id "ghost"`,
		"cmdb.yml:14: relations[2]: a CI cannot relate to itself",
		"cmdb.yml:16: relations[4]: duplicate of relations[3]",
		"relations: member_of cycle: [b c b]",
		"cmdb.yml:19: relations[7].weight: unknown key",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q; got:\n%v", want, err)
		}
	}
}

func TestMatchLabels(t *testing.T) {
	g := mustGraph(t, example)
	tests := []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"service": "checkout-api", "alertname": "HighErrorRate"}, "checkout-api"},
		{map[string]string{"instance": "10.0.3.17:5432", "job": "postgres"}, "payments-db"},
		{map[string]string{"service": "payments-db"}, "payments-db"},
		{map[string]string{"instance": "db-host-1:9100"}, "db-host-1"},
		// Carrying sets of two CIs: the first in document order wins.
		{map[string]string{"service": "checkout-api", "instance": "db-host-1:9100"}, "checkout-api"},
		{map[string]string{"service": "unknown"}, ""},
	}
	for _, tt := range tests {
		if got, _ := g.MatchLabels(tt.labels); got != tt.want {
			t.Errorf("MatchLabels(%v) = %q, want %q", tt.labels, got, tt.want)
		}
	}
}

// TestRelationDirections checks, for every relation type, which CI a
// failure impacts and that Near finds paths in either direction but never
// through a shared dependency.
func TestRelationDirections(t *testing.T) {
	for _, typ := range RelationTypes {
		t.Run(typ, func(t *testing.T) {
			g := mustGraph(t, fmt.Sprintf(`cis: [{id: x, class: business_service}, {id: y, class: business_service}]
relations: [{from: x, type: %s, to: y}]`, typ))
			impactedBy := func(failed string) []string {
				var out []string
				for _, i := range g.Impact([]string{failed}) {
					if i.CI != failed {
						out = append(out, i.CI)
					}
				}
				return out
			}
			// x needs y: y's failure impacts x. member_of: x is a member
			// of y, so x's failure impacts (here: downs, min_up 1) y.
			wantFromY, wantFromX := []string{"x"}, []string(nil)
			if typ == MemberOf {
				wantFromY, wantFromX = nil, []string{"y"}
			}
			if got := impactedBy("y"); !reflect.DeepEqual(got, wantFromY) {
				t.Errorf("failure of y impacts %v, want %v", got, wantFromY)
			}
			if got := impactedBy("x"); !reflect.DeepEqual(got, wantFromX) {
				t.Errorf("failure of x impacts %v, want %v", got, wantFromX)
			}
			for _, pair := range [][2]string{{"x", "y"}, {"y", "x"}} {
				p, ok := g.Near(pair[0], 3, map[string]bool{pair[1]: true})[pair[1]]
				if !ok || p.Hops != 1 || p.String() != "x "+typ+" y" {
					t.Errorf("Near(%s -> %s) = %+v, %v", pair[0], pair[1], p, ok)
				}
			}
		})
	}
}

// layered is business service -> 2 apps -> shared db -> host, and a
// 3-node cluster the host is... a member of nothing; the db runs on a
// cluster of 3 nodes with min_up 2.
const layered = `cis:
  - {id: shop, class: business_service, criticality: 1}
  - {id: blog, class: business_service, criticality: 4}
  - {id: api, class: application}
  - {id: web, class: application}
  - {id: db, class: database}
  - {id: pg-cluster, class: cluster, attributes: {min_up: 2}}
  - {id: node-1, class: server}
  - {id: node-2, class: server}
  - {id: node-3, class: server}
relations:
  - {from: shop, type: depends_on, to: api}
  - {from: blog, type: depends_on, to: web}
  - {from: api, type: depends_on, to: db}
  - {from: web, type: depends_on, to: db}
  - {from: db, type: runs_on, to: pg-cluster}
  - {from: node-1, type: member_of, to: pg-cluster}
  - {from: node-2, type: member_of, to: pg-cluster}
  - {from: node-3, type: member_of, to: pg-cluster}
`

func TestNearHopsAndSiblings(t *testing.T) {
	g := mustGraph(t, layered)
	targets := map[string]bool{"shop": true, "db": true, "web": true, "node-1": true}
	got := g.Near("api", 3, targets)
	if p := got["db"]; p.Hops != 1 || p.String() != "api depends_on db" {
		t.Errorf("api -> db: %+v", p)
	}
	if p := got["shop"]; p.Hops != 1 {
		t.Errorf("api -> shop: %+v", p)
	}
	if p := got["node-1"]; p.Hops != 3 || p.String() != "api depends_on db, db runs_on pg-cluster, node-1 member_of pg-cluster" {
		t.Errorf("api -> node-1: %+v", p)
	}
	if _, ok := got["web"]; ok {
		t.Error("api reached web, its sibling through the shared db")
	}
	if got := g.Near("api", 2, targets); got["node-1"].Hops != 0 {
		t.Errorf("node-1 is 3 hops away but found within 2: %+v", got["node-1"])
	}
}

func TestDependsOnAny(t *testing.T) {
	g := mustGraph(t, layered)
	set := map[string]bool{"api": true, "db": true, "node-2": true}
	if id, p, ok := g.DependsOnAny("api", set, 8); !ok || id != "db" || p.Hops != 1 {
		t.Errorf("api sits above %q (%+v)", id, p)
	}
	if id, _, ok := g.DependsOnAny("db", set, 8); !ok || id != "node-2" {
		t.Errorf("db sits above %q", id)
	}
	if id, _, ok := g.DependsOnAny("node-2", set, 8); ok {
		t.Errorf("node-2 sits above %q, want nothing", id)
	}
}

func TestImpactHonoursRedundancy(t *testing.T) {
	g := mustGraph(t, layered)
	tests := []struct {
		failed []string
		want   string
	}{
		{[]string{"node-1"}, "shop:degraded blog:degraded"},   // 2 of 3 up: cluster degraded
		{[]string{"node-1", "node-2"}, "shop:down blog:down"}, // 1 up < min_up 2
		{[]string{"web"}, "blog:down"},                        // only what needs web
		{[]string{"db", "node-1"}, "shop:down blog:down"},     // down beats degraded
		{[]string{"ghost"}, ""},                               // unknown CIs impact nothing
		{[]string{"shop"}, "shop:down"},                       // a failed service impacts itself
	}
	for _, tt := range tests {
		var parts []string
		for _, i := range g.Impact(tt.failed) {
			parts = append(parts, i.CI+":"+string(i.State))
		}
		if got := strings.Join(parts, " "); got != tt.want {
			t.Errorf("Impact(%v) = %q, want %q", tt.failed, got, tt.want)
		}
	}
}

func TestApplyPatch(t *testing.T) {
	doc, _ := Parse("x", []byte(layered))
	p, err := ParsePatch("p", []byte(`upsert:
  cis: [{id: api, class: application, owner: team-shop}, {id: cache, class: cache}]
  relations: [{from: api, type: depends_on, to: cache}]
delete:
  cis: [node-3]
  relations: [{from: web, type: depends_on, to: db}]
`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := doc.Apply(p)
	if err != nil {
		t.Fatal(err)
	}
	g := Build(out)
	if api, _ := g.CI("api"); api.Owner != "team-shop" {
		t.Errorf("api not updated: %+v", api)
	}
	if _, ok := g.CI("node-3"); ok || len(g.Relations("pg-cluster")) != 3 {
		t.Errorf("node-3 and its relation not deleted: %v", g.Relations("pg-cluster"))
	}
	if len(g.Relations("web")) != 1 || len(g.Relations("cache")) != 1 {
		t.Errorf("relations: web %v, cache %v", g.Relations("web"), g.Relations("cache"))
	}
	if len(doc.CIs) != 9 {
		t.Error("Apply changed the original document")
	}
	bad, _ := ParsePatch("p", []byte("upsert:\n  relations: [{from: api, type: depends_on, to: nowhere}]\ndelete:\n  cis: [nothing]\n"))
	if _, err := doc.Apply(bad); err == nil || !strings.Contains(err.Error(), `no CI with id "nowhere"`) || !strings.Contains(err.Error(), `"nothing"`) {
		t.Errorf("bad patch: %v", err)
	}
}

func TestParseFilesAcrossFiles(t *testing.T) {
	doc, err := ParseFiles([]File{
		{"services.yml", []byte("cis:\n  - {id: shop, class: business_service}\nrelations:\n  - {from: shop, type: depends_on, to: db}\n")},
		{"infra.yml", []byte("cis:\n  - {id: db, class: database}\n")},
	})
	if err != nil || len(doc.CIs) != 2 || len(doc.Relations) != 1 {
		t.Fatalf("%+v %v", doc, err)
	}
	_, err = ParseFiles([]File{
		{"services.yml", []byte("cis:\n  - {id: shop}\nrelations:\n  - {from: shop, type: depends_on, to: db}\n")},
		{"infra.yml", []byte("cis:\n  - {id: cache}\n  - {id: shop}\nrelations:\n  - {from: cache, type: uses, to: shop}\n")},
	})
	for _, want := range []string{
		`services.yml:4: relations[0].to: no CI with id "db"`,
		`infra.yml:3: cis[1].id: duplicate id "shop" (first at services.yml cis[0])`,
		`infra.yml:5: relations[0].type: unknown relation type "uses"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestJSONFastPathKeepsStrictErrors(t *testing.T) {
	good := `{"cis": [{"id": "a", "class": "business_service"}, {"id": "b"}], "relations": [{"from": "a", "type": "depends_on", "to": "b"}]}`
	if doc, err := Parse("x.json", []byte(good)); err != nil || len(doc.CIs) != 2 || doc.CIs[1].Criticality != DefaultCriticality {
		t.Fatalf("%+v %v", doc, err)
	}
	for _, tt := range []struct{ doc, want string }{
		{"{\"cis\": [{\"id\": \"a\"},\n {\"id\": \"a\"}]}", `x.json:2: cis[1].id: duplicate id "a"`},
		{"{\"cis\": [\n{\"id\": \"a\", \"colour\": \"red\"}]}", "x.json:2: cis[0].colour: unknown key"},
		{"{\"cis\": [{\"id\": \"a\", \"criticality\": \"high\"}]}", `x.json:1: cis[0].criticality: "high" is not a valid int`},
	} {
		if _, err := Parse("x.json", []byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.doc, err, tt.want)
		}
	}
}

func TestRootsAgreesWithDependsOnAny(t *testing.T) {
	g := mustGraph(t, layered)
	for _, firing := range [][]string{
		{"api", "db", "node-2"},
		{"shop", "blog", "web"},
		{"api", "web"},
		{"node-1", "node-2", "pg-cluster", "ghost"},
	} {
		set := map[string]bool{}
		for _, id := range firing {
			set[id] = true
		}
		var want []string
		for _, id := range firing {
			if _, _, above := g.DependsOnAny(id, set, 16); !above {
				want = append(want, id)
			}
		}
		if got := g.Roots(firing, 16); !reflect.DeepEqual(got, want) {
			t.Errorf("Roots(%v) = %v, want %v", firing, got, want)
		}
	}
}

// Above must name exactly the CIs of the set that depend on the CI (what
// DependsOnAny finds walking down from each), and walks must not leak into
// each other through the pooled visit stamps.
func TestAboveAgreesWithDependsOnAny(t *testing.T) {
	g := mustGraph(t, layered)
	for _, tt := range []struct {
		id  string
		set []string
	}{
		{"db", []string{"api", "web", "shop", "db"}},
		{"node-1", []string{"node-1", "node-2", "pg-cluster", "db", "blog"}},
		{"web", []string{"web", "blog", "ghost", "api"}},
		{"ghost", []string{"web"}},
	} {
		set := map[string]bool{}
		for _, id := range tt.set {
			set[id] = true
		}
		var want []string
		for _, f := range tt.set {
			if id, _, ok := g.DependsOnAny(f, map[string]bool{tt.id: true}, 16); ok && id == tt.id {
				want = append(want, f)
			}
		}
		sort.Strings(want)
		for round := 0; round < 3; round++ { // the pool hands back used walkers
			if got := g.Above(tt.id, set, 16); !reflect.DeepEqual(got, want) {
				t.Errorf("Above(%s, %v) = %v, want %v", tt.id, tt.set, got, want)
			}
		}
	}
}
