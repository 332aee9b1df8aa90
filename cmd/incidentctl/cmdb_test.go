package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/daemon/daemontest"
	"github.com/incidentd/incidentd/incident"
)

// shopCIs and shopRelations are a CMDB split over two files: two business
// services on two apps that share a database, and a CI whose id holds '/'.
const (
	shopCIs = `cis:
  - id: shop
    name: Web shop
    class: business_service
    criticality: 1
  - id: blog
    class: business_service
    criticality: 4
  - id: app-a
    name: App A
    class: application
    owner: team-a
    environment: prod
    attributes: {port: "8080", tier: web}
    match:
      - {service: app-a}
      - {service: app-a-canary, env: prod}
  - id: app-b
    class: application
    match:
      - {service: app-b}
  - id: db
    class: database
    criticality: 2
    match:
      - {service: db}
  - id: k8s/prod/worker
    class: pod
    match:
      - {service: worker}
  - id: orphan
`
	shopRelations = `relations:
  - {from: shop, type: depends_on, to: app-a}
  - {from: blog, type: depends_on, to: app-b}
  - {from: app-a, type: depends_on, to: db}
  - {from: app-b, type: depends_on, to: db}
  - {from: app-a, type: runs_on, to: k8s/prod/worker}
`
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// serverCMDB reads the daemon's CMDB straight from the API.
func serverCMDB(t *testing.T, base string) api.CMDBDocument {
	t.Helper()
	var d api.CMDBDocument
	getJSON(t, base, "/api/v1/cmdb", &d)
	if d.Document == nil {
		d.Document = &cmdb.Document{}
	}
	return d
}

// importShop imports the shop CMDB from its two files.
func importShop(t *testing.T, base string) {
	t.Helper()
	dir := t.TempDir()
	cli(t, "--url", base, "cmdb", "import", writeFile(t, dir, "cis.yml", shopCIs), writeFile(t, dir, "relations.yml", shopRelations)).
		want(t, 0, []string{"CMDB version 1: 7 CIs, 5 relations\n"}, nil)
}

// TestCMDBImportShowImpactExport imports two YAML files, looks at CIs and
// impacts, and checks that export gives a document that re-imports to the
// same CMDB.
func TestCMDBImportShowImpactExport(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	rec := newRecorder(t, base)
	dir := t.TempDir()

	r := cli(t, "--url", rec.URL, "cmdb", "import", writeFile(t, dir, "cis.yml", shopCIs), writeFile(t, dir, "relations.yml", shopRelations))
	r.want(t, 0, nil, nil)
	if r.stdout != "CMDB version 1: 7 CIs, 5 relations\n" || r.stderr != "" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
	// One PUT of the merged document, as JSON.
	reqs := rec.take()
	if len(reqs) != 1 || reqs[0].Method != http.MethodPut || reqs[0].Path != "/api/v1/cmdb" {
		t.Fatalf("requests %+v", reqs)
	}
	var sent cmdb.Document
	if err := json.Unmarshal([]byte(reqs[0].Body), &sent); err != nil || len(sent.CIs) != 7 || len(sent.Relations) != 5 {
		t.Errorf("sent %s (%v)", reqs[0].Body, err)
	}
	orig := serverCMDB(t, base)
	if orig.Version != 1 || len(orig.CIs) != 7 {
		t.Fatalf("server CMDB %+v", orig)
	}

	t.Run("show", func(t *testing.T) {
		r := cli(t, "--url", base, "cmdb", "show", "app-a")
		r.want(t, 0, []string{
			"CI app-a: App A\n",
			"Class:", "application", "Criticality:  3\n", "Owner:", "team-a", "Environment:", "prod",
			"Attributes (2):\n", "port", "8080", "tier", "web",
			"Match label sets (2):\n  service=app-a\n  env=prod service=app-a-canary\n",
			"Relations (3):\n",
			"  app-a depends_on db\n", "  app-a runs_on k8s/prod/worker\n", "  shop depends_on app-a\n",
		}, nil)
		// An id with '/' goes as %2F.
		cli(t, "--url", base, "cmdb", "show", "k8s/prod/worker").want(t, 0, []string{
			"CI k8s/prod/worker\n", "Name:         -\n", "Class:        pod\n", "Attributes (0):", "service=worker", "Relations (1):\n  app-a runs_on k8s/prod/worker\n",
		}, nil)
		cli(t, "--url", base, "cmdb", "show", "nope").want(t, 1, nil, []string{`incidentctl: no CI with id "nope" (HTTP 404)`})
		cli(t, "--url", base, "cmdb", "show", "k8s/nope").want(t, 1, nil, []string{`no CI with id "k8s/nope" (HTTP 404)`})

		r = cli(t, "--url", base, "--output", "json", "cmdb", "show", "k8s/prod/worker")
		r.want(t, 0, nil, nil)
		var v api.CIView
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.CI == nil || v.ID != "k8s/prod/worker" || len(v.Relations) != 1 {
			t.Errorf("json: %v: %s", err, r.stdout)
		}
	})

	t.Run("impact", func(t *testing.T) {
		r := cli(t, "--url", base, "cmdb", "impact", "db")
		r.want(t, 0, []string{"SERVICE", "STATE", "CRITICALITY", "NAME", "Web shop"}, nil)
		for col, want := range [][]string{{"shop", "blog"}, {"down", "down"}, {"1", "4"}} {
			if got := tableColumn(r.stdout, col); !reflect.DeepEqual(got, want) {
				t.Errorf("column %d: %v, want %v", col, got, want)
			}
		}
		r = cli(t, "--url", base, "cmdb", "impact", "k8s/prod/worker")
		if got := tableColumn(r.stdout, 0); r.code != 0 || !reflect.DeepEqual(got, []string{"shop"}) {
			t.Errorf("impact of k8s/prod/worker: %d %v\n%s", r.code, got, r.stderr)
		}
		cli(t, "--url", base, "cmdb", "impact", "orphan").want(t, 0, []string{"A failure of orphan impacts no business service.\n"}, nil)
		cli(t, "--url", base, "cmdb", "impact", "nope").want(t, 1, nil, []string{`no CI with id "nope" (HTTP 404)`})

		r = cli(t, "--url", base, "--output", "json", "cmdb", "impact", "k8s/prod/worker")
		var v api.ImpactView
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || v.CI != "k8s/prod/worker" || len(v.Impacted) != 1 || v.Impacted[0].State != cmdb.Down {
			t.Errorf("json: %v: %s", err, r.stdout)
		}
	})

	t.Run("export YAML re-imports", func(t *testing.T) {
		r := cli(t, "--url", base, "cmdb", "export")
		r.want(t, 0, []string{"# CMDB version 1, from api\n", "cis:\n", "  - id: shop\n", "      - {service: app-a}\n", "  - {from: shop, type: depends_on, to: app-a}\n"}, nil)
		doc, err := cmdb.Parse("export.yml", []byte(r.stdout))
		if err != nil {
			t.Fatalf("export does not parse: %v\n%s", err, r.stdout)
		}
		if !reflect.DeepEqual(doc, orig.Document) {
			t.Errorf("export parses to\n%+v\nwant\n%+v", doc, orig.Document)
		}
		// --output yaml and text are the same.
		for _, o := range []string{"yaml", "text"} {
			if r2 := cli(t, "--url", base, "cmdb", "export", "--output", o); r2.stdout != r.stdout {
				t.Errorf("--output %s differs:\n%s", o, r2.stdout)
			}
		}
		f := writeFile(t, t.TempDir(), "export.yml", r.stdout)
		cli(t, "--url", base, "cmdb", "import", f).want(t, 0, []string{"CMDB version 2: 7 CIs, 5 relations\n"}, nil)
		if got := serverCMDB(t, base); got.Version != 2 || !reflect.DeepEqual(got.Document, orig.Document) {
			t.Errorf("after re-import: %+v", got)
		}
	})

	t.Run("export JSON re-imports", func(t *testing.T) {
		r := cli(t, "--url", base, "--output", "json", "cmdb", "export")
		r.want(t, 0, []string{"{\n  \"cis\": [\n"}, nil)
		doc, err := cmdb.Parse("export.json", []byte(r.stdout))
		if err != nil || !reflect.DeepEqual(doc, orig.Document) {
			t.Errorf("export.json: %v\n%s", err, r.stdout)
		}
		if strings.Contains(r.stdout, `"version"`) {
			t.Errorf("JSON export has the version: it would not re-import")
		}
	})
}

// TestCMDBExportYAMLQuoting checks that values YAML would read as
// something else come back as the same strings.
func TestCMDBExportYAMLQuoting(t *testing.T) {
	t.Parallel()
	doc := &cmdb.Document{
		CIs: []cmdb.CI{
			{ID: "a/b c", Name: `say "hi": now`, Class: "yes", Criticality: 2, Owner: "null", Environment: "~",
				Attributes: map[string]string{"on": "yes", "port": "8080", "empty": "", "hash": "#x", "lead": " space", "multi": "two\nlines", "float": "1e3", "date": "2026-01-01", "unicode": "Zürich ✓", "long": strings.Repeat("word ", 40)},
				Match:      []map[string]string{{"instance": "10.0.3.17:5432", "job": "- x"}, {"x": "[a, b]"}}},
			{ID: "123", Criticality: 3},
			{ID: "true", Criticality: 5},
		},
		Relations: []cmdb.Relation{{From: "a/b c", Type: cmdb.DependsOn, To: "123"}, {From: "true", Type: cmdb.MemberOf, To: "123"}},
	}
	var buf bytes.Buffer
	if err := writeCMDBYAML(&buf, doc, "test"); err != nil {
		t.Fatal(err)
	}
	got, err := cmdb.Parse("export.yml", buf.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, buf.String())
	}
	if !reflect.DeepEqual(got, doc) {
		t.Errorf("got\n%+v\nwant\n%+v\nfrom\n%s", got, doc, buf.String())
	}

	buf.Reset()
	if err := writeCMDBYAML(&buf, &cmdb.Document{}, "empty"); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "# empty\ncis: []\nrelations: []\n" {
		t.Errorf("empty CMDB: %q", buf.String())
	}
	if got, err := cmdb.Parse("empty.yml", buf.Bytes()); err != nil || len(got.CIs) != 0 {
		t.Errorf("empty export: %v", err)
	}
}

func TestCMDBImportCSV(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	dir := t.TempDir()
	// A spreadsheet export: BOM, CRLF, quoted cells, an extra column.
	cis := writeFile(t, dir, "cis.csv", "\ufeffID,Name,Class,Criticality,Match,Location\r\n"+
		"shop,Web shop,business_service,1,,\r\n"+
		"app-a,App A,application,,\"service=app-a,env=prod;instance=10.0.0.1:8080\",\"Frankfurt, DC 2\"\r\n"+
		"k8s/prod/worker,,pod,5,service=worker,\r\n")
	rels := writeFile(t, dir, "relations.csv", "from,type,to\r\nshop,depends_on,app-a\r\napp-a,runs_on,k8s/prod/worker\r\n")

	cli(t, "--url", base, "cmdb", "import", "--csv", cis, rels).want(t, 0, []string{"CMDB version 1: 3 CIs, 2 relations\n"}, nil)
	cli(t, "--url", base, "cmdb", "show", "app-a").want(t, 0, []string{
		"CI app-a: App A\n", "Criticality:  3\n", "Attributes (1):\n  location  Frankfurt, DC 2\n",
		"Match label sets (2):\n  env=prod service=app-a\n  instance=10.0.0.1:8080\n",
		"Relations (2):\n  app-a runs_on k8s/prod/worker\n  shop depends_on app-a\n",
	}, nil)
	r := cli(t, "--url", base, "cmdb", "impact", "k8s/prod/worker")
	if got := tableColumn(r.stdout, 0); !reflect.DeepEqual(got, []string{"shop"}) {
		t.Errorf("impact %v", got)
	}
	// The flag may come last, and --output json prints the API's answer.
	r = cli(t, "--url", base, "--output", "json", "cmdb", "import", cis, rels, "--csv")
	var ch api.CMDBChanged
	if err := json.Unmarshal([]byte(r.stdout), &ch); err != nil || ch.Version != 2 || ch.CIs != 3 || ch.Relations != 2 {
		t.Errorf("json: %v: %s", err, r.stdout)
	}
}

// TestCMDBImportPatch upserts into an imported CMDB: relations may name
// CIs that only the server has, and the server's errors are all printed.
func TestCMDBImportPatch(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	importShop(t, base)
	rec := newRecorder(t, base)
	dir := t.TempDir()

	// A new CI needed by app-a, which only the server has, and app-b
	// replaced with a new owner.
	patch := writeFile(t, dir, "patch.yml", `cis:
  - id: cache
    class: database
    match: [{service: cache}]
  - id: app-b
    class: application
    owner: team-b
relations:
  - {from: app-a, type: depends_on, to: cache}
`)
	cli(t, "--url", rec.URL, "cmdb", "import", "--patch", patch).want(t, 0, []string{"CMDB version 2: 8 CIs, 6 relations\n"}, nil)
	reqs := rec.take()
	if len(reqs) != 1 || reqs[0].Method != http.MethodPatch || reqs[0].Path != "/api/v1/cmdb" {
		t.Fatalf("requests %+v", reqs)
	}
	var p cmdb.Patch
	if err := json.Unmarshal([]byte(reqs[0].Body), &p); err != nil || len(p.Upsert.CIs) != 2 || len(p.Upsert.Relations) != 1 {
		t.Errorf("sent %s (%v): want an upsert of 2 CIs (no stand-in for app-a), 1 relation", reqs[0].Body, err)
	}
	cli(t, "--url", base, "cmdb", "show", "app-b").want(t, 0, []string{"Owner:        team-b\n", "Match label sets (0):"}, nil)
	cli(t, "--url", base, "cmdb", "show", "cache").want(t, 0, []string{"app-a depends_on cache"}, nil)

	// CSV too.
	cis := writeFile(t, dir, "cis.csv", "id,class\nqueue,queue\n")
	rels := writeFile(t, dir, "relations.csv", "from,type,to\napp-b,depends_on,queue\n")
	cli(t, "--url", base, "cmdb", "import", "--patch", "--csv", cis, rels).want(t, 0, []string{"CMDB version 3: 9 CIs, 7 relations\n"}, nil)

	// A CI that is nowhere: the server refuses, and says why.
	ghost := writeFile(t, dir, "ghost.yml", "relations:\n  - {from: app-a, type: depends_on, to: ghost}\n")
	r := cli(t, "--url", base, "cmdb", "import", "--patch", ghost)
	r.want(t, 1, nil, []string{"incidentctl: 1 problem(s); nothing was changed (HTTP 400)\n", `  relations[7].to: no CI with id "ghost"` + "\n"})
	if r.stdout != "" {
		t.Errorf("stdout %q", r.stdout)
	}
	// Without --patch the same file is invalid on its own: nothing is sent.
	rec.take()
	r = cli(t, "--url", rec.URL, "cmdb", "import", ghost)
	r.want(t, 1, nil, []string{ghost + `:2: relations[0].from: no CI with id "app-a"`, ghost + `:2: relations[0].to: no CI with id "ghost"`})
	if n := len(rec.take()); n != 0 {
		t.Errorf("%d requests sent", n)
	}
	if v := serverCMDB(t, base).Version; v != 3 {
		t.Errorf("version %d, want 3", v)
	}
}

func TestCMDBImportDryRun(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	rec := newRecorder(t, base)
	dir := t.TempDir()
	cisFile, relFile := writeFile(t, dir, "cis.yml", shopCIs), writeFile(t, dir, "relations.yml", shopRelations)

	cli(t, "--url", rec.URL, "cmdb", "import", "--dry-run", cisFile, relFile).
		want(t, 0, []string{"valid: 7 CIs, 5 relations (dry run: nothing sent)\n"}, nil)
	// A patch may name CIs the server must have.
	r := cli(t, "--url", rec.URL, "cmdb", "import", "--dry-run", "--patch", relFile)
	r.want(t, 0, nil, nil)
	if want := "valid patch, upserting: 0 CIs, 5 relations (dry run: nothing sent)\nrelations also name CIs the CMDB must have: app-a, app-b, blog, db, k8s/prod/worker, shop\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	r = cli(t, "--url", rec.URL, "--output", "json", "cmdb", "import", "--dry-run", "--csv", writeFile(t, dir, "c.csv", "id\na\nb\n"), writeFile(t, dir, "r.csv", "from,type,to\na,depends_on,b\n"))
	var s importSummary
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil || !s.DryRun || s.CIs != 2 || s.Relations != 1 {
		t.Errorf("json: %v: %s", err, r.stdout)
	}
	// A dry run of a broken file fails the same way.
	cli(t, "--url", rec.URL, "cmdb", "import", "--dry-run", cisFile).
		want(t, 0, []string{"valid: 7 CIs, 0 relations"}, nil)
	cli(t, "--url", rec.URL, "cmdb", "import", "--dry-run", relFile).
		want(t, 1, nil, []string{relFile + `:2: relations[0].from: no CI with id "shop"`, "nothing was sent"})

	if reqs := rec.take(); len(reqs) != 0 {
		t.Errorf("dry runs sent %d requests: %+v", len(reqs), reqs)
	}
	if d := serverCMDB(t, base); d.Version != 0 || len(d.CIs) != 0 {
		t.Errorf("server CMDB changed: %+v", d)
	}
}

// TestCMDBImportBroken checks that broken files print every problem with
// file and line, exit 1, and leave the server's CMDB alone.
func TestCMDBImportBroken(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	importShop(t, base)
	before := serverCMDB(t, base)
	rec := newRecorder(t, base)
	dir := t.TempDir()

	good := writeFile(t, dir, "good.yml", "cis:\n  - id: x\n")
	bad := writeFile(t, dir, "bad.yml", `cis:
  - id: a
  - id: a
    criticality: 9
  - id: b
relations:
  - {from: a, type: needs, to: x}
  - {from: a, type: depends_on, to: ghost}
`)
	typo := writeFile(t, dir, "typo.yml", "cis:\n  - id: b\n    colour: red\n")
	syntax := writeFile(t, dir, "syntax.yml", "cis: [\n")
	badCIs := writeFile(t, dir, "cis.csv", "id,criticality,match\na,high,\nb,2,service\n")
	badRels := writeFile(t, dir, "relations.csv", "from,type,to,weight\na,depends_on,b,1\n")

	tests := []struct {
		name   string
		args   []string
		stderr string // all of it
	}{
		// bad.yml first: cmdb.ParseFiles maps the keys of later files to
		// their own indexes but not the "first at cis[N]" of a message.
		{name: "every problem, with file and line", args: []string{bad, good}, stderr: bad + `:3: cis[1].id: duplicate id "a" (first at cis[0])
` + bad + `:4: cis[1].criticality: 9 is not 1 (highest) to 5
` + bad + `:7: relations[0].type: unknown relation type "needs" (want one of [depends_on runs_on hosted_on connects_to contained_by member_of])
` + bad + `:8: relations[1].to: no CI with id "ghost"
incidentctl: 4 problem(s) in ` + bad + `, ` + good + `; nothing was sent
`},
		{name: "unknown key", args: []string{typo}, stderr: typo + `:3: cis[0].colour: unknown key (known keys: id, name, class, criticality, owner, environment, attributes, match)
incidentctl: 1 problem(s) in ` + typo + `; nothing was sent
`},
		{name: "validation after decoding", args: []string{good, writeFile(t, dir, "rels.yml", "relations:\n  - {from: a, type: needs, to: x}\n  - {from: x, type: depends_on, to: x}\n")}, stderr: dir + `/rels.yml:2: relations[0].type: unknown relation type "needs" (want one of [depends_on runs_on hosted_on connects_to contained_by member_of])
` + dir + `/rels.yml:2: relations[0].from: no CI with id "a"
` + dir + `/rels.yml:3: relations[1]: a CI cannot relate to itself
incidentctl: 3 problem(s) in ` + good + `, ` + dir + `/rels.yml; nothing was sent
`},
		{name: "YAML syntax", args: []string{syntax}, stderr: syntax + ": line 1: did not find expected node content\nincidentctl: 1 problem(s) in " + syntax + "; nothing was sent\n"},
		{name: "CSV, both files", args: []string{"--csv", badCIs, badRels}, stderr: badCIs + `:2: criticality: "high" is not a number
` + badCIs + `:3: match: "service" is not name=value (sets are separated by ';', pairs by ',')
` + badRels + `:1: weight: unknown column 4 (want exactly from, type, to)
incidentctl: 3 problem(s) in ` + badCIs + `, ` + badRels + `; nothing was sent
`},
		{name: "missing file", args: []string{filepath.Join(dir, "nope.yml")}, stderr: "incidentctl: open " + filepath.Join(dir, "nope.yml") + ": no such file or directory\n"},
		{name: "missing CSV file", args: []string{"--csv", badCIs, filepath.Join(dir, "nope.csv")}, stderr: "incidentctl: open " + filepath.Join(dir, "nope.csv") + ": no such file or directory\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, patch := range []bool{false, true} {
				args := append([]string{"--url", rec.URL, "cmdb", "import"}, tt.args...)
				if patch {
					args = append(args, "--patch")
				}
				r := cli(t, args...)
				if r.code != 1 || r.stdout != "" {
					t.Errorf("patch %v: exit %d, stdout %q", patch, r.code, r.stdout)
				}
				if r.stderr != tt.stderr && !(patch && strings.Contains(tt.stderr, "no CI with id")) {
					t.Errorf("patch %v: stderr:\n%s\nwant:\n%s", patch, r.stderr, tt.stderr)
				}
			}
		})
	}
	if reqs := rec.take(); len(reqs) != 0 {
		t.Errorf("%d requests sent: %+v", len(reqs), reqs)
	}
	if after := serverCMDB(t, base); !reflect.DeepEqual(after, before) {
		t.Errorf("server CMDB changed:\n%+v\nwas\n%+v", after, before)
	}
}

// TestIncidentsExplain forms incidents from alerts on CIs: two apps that
// share a database alert apart, then the database alerts and merges them.
func TestIncidentsExplain(t *testing.T) {
	t.Parallel()
	base := startDaemon(t)
	importShop(t, base)
	postAlerts(t, base, `[{"labels":{"alertname":"AppAErrors","service":"app-a"},"fingerprint":"fa"}]`)
	// app-b shares db with app-a, but a path that goes up and down again
	// does not join: a second incident.
	postAlerts(t, base, `[{"labels":{"alertname":"AppBErrors","service":"app-b"},"fingerprint":"fb"}]`)
	postAlerts(t, base, `[{"labels":{"alertname":"DBDown","service":"db","severity":"critical"},"fingerprint":"fdb"}]`)
	postAlerts(t, base, `[{"labels":{"alertname":"Unrelated","service":"elsewhere"},"fingerprint":"fu"}]`)

	// The database alert joins the incident with the newest alert and
	// merges the other into it.
	one, two := getIncident(t, base, 1), getIncident(t, base, 2)
	kept, merged := two, one
	if two.MergedInto != 0 {
		kept, merged = one, two
	}
	if merged.MergedInto != kept.ID || kept.RootCause != "db" {
		t.Fatalf("INC-1 merged into %d, root cause %q; INC-2 merged into %d, root cause %q", one.MergedInto, one.RootCause, two.MergedInto, two.RootCause)
	}
	r := cli(t, "--url", base, "incidents", "explain", kept.Key)
	r.want(t, 0, []string{
		kept.Key + ": ",
		"Status:", "triggered",
		"Priority:", "P1 (major incident)\n",
		"Root cause:", "db\n",
		"Why:", "root cause db: app-a, app-b depend on it\n",
		"Impacted services (2):\n",
		"CIs with alerts (3):\n", "CI ", "FIRING", "URGENCY", "FIRST FIRING", "ROLE", "root cause",
		"Alerts (3), oldest first:\n", "EXPLANATION",
		"on CI app-a (by a match label set of app-a); opened a new incident",
		"on CI db (by a match label set of db); joined " + kept.Key + ": ",
		"Correlation events (",
		"incident.merged", "absorbed " + merged.Key + ": alert DBDown", "on db connects them",
		"incident.root_cause_changed", "-> db: root cause db: app-a, app-b depend on it",
		"incident.priority_changed",
	}, nil)
	if strings.Contains(r.stdout, "Merged into") {
		t.Errorf("kept incident shown as merged:\n%s", r.stdout)
	}
	// The impacted services, most critical first.
	section := r.stdout[strings.Index(r.stdout, "Impacted services"):]
	section = section[strings.Index(section, "\n")+1 : strings.Index(section, "\n\n")]
	if got := tableColumn(section, 0); !reflect.DeepEqual(got, []string{"shop", "blog"}) {
		t.Errorf("impacted %v:\n%s", got, section)
	}
	if got := tableColumn(section, 1); !reflect.DeepEqual(got, []string{"down", "down"}) {
		t.Errorf("states %v", got)
	}
	// The alerts in the order they came.
	ia, ib, idb := strings.Index(r.stdout, "fa-1 "), strings.Index(r.stdout, "fb-1 "), strings.Index(r.stdout, "fdb-1 ")
	if ia < 0 || ib < 0 || idb < 0 || !(ia < ib && ib < idb) {
		t.Errorf("alerts not in time order (fa-1 at %d, fb-1 at %d, fdb-1 at %d):\n%s", ia, ib, idb, r.stdout)
	}

	// The merged incident points at the one it went into.
	cli(t, "--url", base, "incidents", "explain", strings.TrimPrefix(merged.Key, "INC-")).want(t, 0, []string{
		"Merged into:", kept.Key + " (run: incidentctl incidents explain " + kept.Key + ")",
		"incident.merged", "merged into " + kept.Key + ": alert DBDown",
	}, nil)

	// An incident of alerts on no CI.
	cli(t, "--url", base, "incidents", "explain", "INC-3").want(t, 0, []string{
		"Root cause:", "not correlated through the CMDB",
		"Alerts (1), oldest first:", "fu-1", "Unrelated", "on no CI: grouped by labels",
		"Correlation events (0):",
	}, nil)

	r = cli(t, "--url", base, "--output", "json", "incidents", "explain", kept.Key)
	r.want(t, 0, nil, nil)
	if !strings.HasPrefix(r.stdout, "{\n  \"key\": ") {
		t.Errorf("not pretty-printed:\n%s", r.stdout)
	}
	var e explanation
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil {
		t.Fatal(err)
	}
	if e.Key != kept.Key || e.RootCause != "db" || !e.Major || e.Correlation == nil || len(e.Correlation.CIs) != 3 ||
		len(e.Correlation.Impacted) != 2 || e.Correlation.RootCauseReason == "" || e.MergedInto != 0 {
		t.Errorf("json: %+v", e)
	}
	var ids []string
	for _, a := range e.Alerts {
		ids = append(ids, a.ID+"@"+a.CI)
		if a.Explanation == "" {
			t.Errorf("alert %s has no explanation", a.ID)
		}
	}
	if want := []string{"fa-1@app-a", "fb-1@app-b", "fdb-1@db"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("alerts %v, want %v", ids, want)
	}
	kinds := map[string]bool{}
	for _, ev := range e.Events {
		kinds[ev.Kind] = true
		if ev.Kind == incident.EventIncidentTriggered {
			t.Errorf("unrelated event %+v", ev)
		}
	}
	if !kinds[incident.EventIncidentMerged] || !kinds[incident.EventIncidentRootCause] {
		t.Errorf("events %+v", e.Events)
	}
	r = cli(t, "--url", base, "--output", "json", "incidents", "explain", merged.Key)
	e = explanation{}
	if err := json.Unmarshal([]byte(r.stdout), &e); err != nil || e.MergedInto != kept.ID {
		t.Errorf("merged json: %v: %s", err, r.stdout)
	}

	cli(t, "--url", base, "incidents", "explain", "99").want(t, 1, nil, []string{"not found (HTTP 404)"})
}

// TestCMDBUsage checks the command lines of the new commands: exit 2 with
// usage, before any request.
func TestCMDBUsage(t *testing.T) {
	t.Parallel()
	u := "http://" + daemontest.FreeAddr(t) // nothing listens there
	dir := t.TempDir()
	csvFile := writeFile(t, dir, "cis.csv", "id\na\n")
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr []string
	}{
		{args: []string{"cmdb"}, code: 2, stderr: []string{"cmdb needs a subcommand: import, export, show, impact"}},
		{args: []string{"cmdb", "import"}, code: 2, stderr: []string{"cmdb import: missing FILE...", "Usage: incidentctl cmdb import FILE... [--csv] [--patch] [--dry-run]"}},
		{args: []string{"cmdb", "import", "--csv", csvFile}, code: 2, stderr: []string{"cmdb import --csv: want two files, CIS.csv RELATIONS.csv; got 1"}},
		{args: []string{"cmdb", "import", csvFile, csvFile, csvFile, "--csv"}, code: 2, stderr: []string{"got 3"}},
		{args: []string{"cmdb", "import", csvFile}, code: 2, stderr: []string{csvFile + " is CSV: use cmdb import --csv CIS.csv RELATIONS.csv"}},
		{args: []string{"cmdb", "import", "--bogus", "x.yml"}, code: 2, stderr: []string{"flag provided but not defined: -bogus"}},
		{args: []string{"cmdb", "export", "x"}, code: 2, stderr: []string{`unexpected argument "x"`}},
		{args: []string{"cmdb", "export", "--output", "xml"}, code: 2, stderr: []string{`--output "xml": want yaml or json`}},
		{args: []string{"--output", "yaml", "cmdb", "show", "x"}, code: 2, stderr: []string{`--output "yaml": want text or json`}},
		{args: []string{"cmdb", "show"}, code: 2, stderr: []string{"cmdb show: missing CI", "Usage: incidentctl cmdb show CI"}},
		{args: []string{"cmdb", "show", "a", "b"}, code: 2, stderr: []string{`unexpected argument "b"`}},
		{args: []string{"cmdb", "impact"}, code: 2, stderr: []string{"cmdb impact: missing CI"}},
		{args: []string{"incidents", "explain"}, code: 2, stderr: []string{"incidents explain: missing ID"}},
		{args: []string{"incidents", "explain", "abc"}, code: 2, stderr: []string{`invalid incident id "abc"`}},
		{args: []string{"--help"}, code: 0, stdout: "cmdb import FILE... [flags]"},
		{args: []string{"help"}, code: 0, stdout: "incidents explain ID"},
		{args: []string{"cmdb", "import", "--help"}, code: 0, stdout: "--patch"},
		{args: []string{"cmdb", "import", "-h"}, code: 0, stdout: "PATCH /api/v1/cmdb"},
		{args: []string{"cmdb", "export", "--help"}, code: 0, stdout: "re-import"},
		{args: []string{"incidents", "explain", "--help"}, code: 0, stdout: "root cause"},
	}
	for _, tt := range tests {
		r := cli(t, append([]string{"--url", u}, tt.args...)...)
		var stdout []string
		if tt.stdout != "" {
			stdout = []string{tt.stdout}
		}
		r.want(t, tt.code, stdout, tt.stderr)
		if tt.code == 2 && r.stdout != "" {
			t.Errorf("%v: usage error printed to stdout: %q", tt.args, r.stdout)
		}
	}
	// Commands that call the API report an unreachable server.
	for _, args := range [][]string{
		{"cmdb", "import", writeFile(t, dir, "ok.yml", "cis: [{id: a}]\n")},
		{"cmdb", "export"},
		{"cmdb", "show", "a/b"},
		{"cmdb", "impact", "a"},
		{"incidents", "explain", "1"},
	} {
		cli(t, append([]string{"--url", u}, args...)...).want(t, 1, nil, []string{"cannot reach incidentd at " + u})
	}
}
