package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/strictyaml"
)

const importDetails = `FILE... are CMDB documents in YAML or JSON ({cis: [...], relations: [...]}),
merged into one: a relation may name a CI of another file. With --csv, give
exactly two files instead: the CIs and the relations, as CSV with a header row
(see docs/cmdb-import.md). The files are validated here first; if anything is
wrong, every problem is printed as FILE:LINE: KEY: MESSAGE and nothing is sent.

Without --patch the files replace the whole CMDB (PUT /api/v1/cmdb). With
--patch their CIs and relations are upserted into it (PATCH /api/v1/cmdb): a
CI with the id of an existing one replaces it, and relations may name CIs that
are already in the CMDB.
`

const exportDetails = `The YAML (the default, also --output text) and the JSON are the document
alone, {cis, relations}, so that cmdb import takes them back unchanged; the
YAML starts with a comment naming the CMDB version.
`

// cmdbPath is the API path of a CI; ids may hold '/', sent as %2F.
func cmdbPath(id string, sub ...string) string {
	return "/api/v1/cmdb/cis/" + url.PathEscape(id) + strings.Join(append([]string{""}, sub...), "/")
}

// getCMDB gets the whole CMDB.
func (c *client) getCMDB(ctx context.Context) (api.CMDBDocument, json.RawMessage, error) {
	var out api.CMDBDocument
	raw, err := c.do(ctx, http.MethodGet, "/api/v1/cmdb", nil, nil, &out)
	if out.Document == nil {
		out.Document = &cmdb.Document{}
	}
	return out, raw, err
}

// putCMDB replaces the CMDB with doc, or with patch upserts doc into it.
func (c *client) putCMDB(ctx context.Context, doc *cmdb.Document, patch bool) (api.CMDBChanged, json.RawMessage, error) {
	var out api.CMDBChanged
	var raw json.RawMessage
	var err error
	if patch {
		raw, err = c.do(ctx, http.MethodPatch, "/api/v1/cmdb", nil, map[string]any{"upsert": doc}, &out)
	} else {
		raw, err = c.do(ctx, http.MethodPut, "/api/v1/cmdb", nil, doc, &out)
	}
	return out, raw, err
}

// ci gets one CI with its relations.
func (c *client) ci(ctx context.Context, id string) (api.CIView, json.RawMessage, error) {
	var out api.CIView
	raw, err := c.do(ctx, http.MethodGet, cmdbPath(id), nil, nil, &out)
	return out, raw, err
}

// impact gets the business services a failure of CI id reaches.
func (c *client) impact(ctx context.Context, id string) (api.ImpactView, json.RawMessage, error) {
	var out api.ImpactView
	raw, err := c.do(ctx, http.MethodGet, cmdbPath(id, "impact"), nil, nil, &out)
	return out, raw, err
}

// importSummary is what cmdb import --dry-run --output json prints.
type importSummary struct {
	DryRun    bool `json:"dry_run"`
	Patch     bool `json:"patch"`
	CIs       int  `json:"cis"`
	Relations int  `json:"relations"`
	// ExternalCIs are CIs that relations of a patch name, which are not in
	// the files: the CMDB must have them.
	ExternalCIs []string `json:"external_cis,omitempty"`
}

func (a *app) cmdbImport(c *command, args []string) error {
	fs := a.flags(c)
	csvPair := fs.Bool("csv", false, "the two files are CSV: CIS.csv RELATIONS.csv")
	patch := fs.Bool("patch", false, "upsert into the CMDB (PATCH) instead of replacing it")
	dryRun := fs.Bool("dry-run", false, "validate and print a summary; send nothing")
	files, err := a.parse(c, fs, args)
	if err != nil {
		return err
	}
	if *csvPair {
		if len(files) != 2 {
			return &usageError{fmt.Sprintf("cmdb import --csv: want two files, CIS.csv RELATIONS.csv; got %d", len(files)), c.usage(fs)}
		}
	} else {
		if err := positional(c, fs, files, 1, -1); err != nil {
			return err
		}
		for _, f := range files {
			if strings.EqualFold(filepath.Ext(f), ".csv") {
				return &usageError{fmt.Sprintf("%s is CSV: use cmdb import --csv CIS.csv RELATIONS.csv", f), c.usage(fs)}
			}
		}
	}
	var doc *cmdb.Document
	if *csvPair {
		doc, err = readCSVPair(files[0], files[1], *patch)
	} else {
		doc, err = readCMDBFiles(files, *patch)
	}
	var errs strictyaml.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Fprintln(a.stderr, clean(e.Error()))
		}
		fmt.Fprintf(a.stderr, "incidentctl: %d problem(s) in %s; nothing was sent\n", len(errs), strings.Join(files, ", "))
		return errReported
	}
	if err != nil {
		return err
	}
	if *dryRun {
		s := importSummary{DryRun: true, Patch: *patch, CIs: len(doc.CIs), Relations: len(doc.Relations)}
		if *patch {
			s.ExternalCIs = externalCIs(doc)
		}
		return a.printImportSummary(s)
	}
	res, raw, err := a.client().putCMDB(context.Background(), doc, *patch)
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printJSON(raw)
	}
	fmt.Fprintf(a.stdout, "CMDB version %d: %d CIs, %d relations\n", res.Version, res.CIs, res.Relations)
	return nil
}

func (a *app) printImportSummary(s importSummary) error {
	if a.output == "json" {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		return a.printJSON(b)
	}
	what := "valid"
	if s.Patch {
		what = "valid patch, upserting"
	}
	fmt.Fprintf(a.stdout, "%s: %d CIs, %d relations (dry run: nothing sent)\n", what, s.CIs, s.Relations)
	if len(s.ExternalCIs) > 0 {
		fmt.Fprintf(a.stdout, "relations also name CIs the CMDB must have: %s\n", clean(strings.Join(s.ExternalCIs, ", ")))
	}
	return nil
}

// externalCIs lists, sorted, the CIs relations name that doc lacks.
func externalCIs(doc *cmdb.Document) []string {
	have := make(map[string]bool, len(doc.CIs))
	for _, ci := range doc.CIs {
		have[ci.ID] = true
	}
	var out []string
	for _, r := range doc.Relations {
		for _, id := range []string{r.From, r.To} {
			if !have[id] {
				have[id] = true
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}

// externalFile names the stand-ins for CIs a patch's relations name that
// its files lack. They pass validation as existing CIs and are dropped
// before the patch is sent; the server checks that they exist.
const externalFile = "(CIs already in the CMDB)"

// readCMDBFiles reads, merges and validates YAML or JSON CMDB files. With
// patch, relations may name CIs that are not in the files.
func readCMDBFiles(names []string, patch bool) (*cmdb.Document, error) {
	files := make([]cmdb.File, len(names))
	for i, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		files[i] = cmdb.File{Name: name, Data: data}
	}
	var stubs int
	if patch {
		var all cmdb.Document
		for _, f := range files {
			var doc cmdb.Document
			if _, err := strictyaml.Parse(f.Name, f.Data, &doc); err != nil {
				continue // ParseFiles reports it
			}
			all.CIs = append(all.CIs, doc.CIs...)
			all.Relations = append(all.Relations, doc.Relations...)
		}
		var stub cmdb.Document
		for _, id := range externalCIs(&all) {
			if id != "" { // a missing from or to stays an error
				stub.CIs = append(stub.CIs, cmdb.CI{ID: id})
			}
		}
		if stubs = len(stub.CIs); stubs > 0 {
			data, err := json.Marshal(stub)
			if err != nil {
				return nil, err
			}
			files = append(files, cmdb.File{Name: externalFile, Data: data})
		}
	}
	doc, err := cmdb.ParseFiles(files)
	if err != nil {
		return nil, err
	}
	doc.CIs = doc.CIs[:len(doc.CIs)-stubs]
	return doc, nil
}

// readCSVPair reads and validates a CIs and a relations CSV file.
func readCSVPair(cisName, relsName string, patch bool) (*cmdb.Document, error) {
	cis, err := os.Open(cisName)
	if err != nil {
		return nil, err
	}
	defer cis.Close()
	rels, err := os.Open(relsName)
	if err != nil {
		return nil, err
	}
	defer rels.Close()
	if patch {
		p, err := cmdb.ParseCSVPatch(cisName, cis, relsName, rels)
		if err != nil {
			return nil, err
		}
		return &p.Upsert, nil
	}
	return cmdb.ParseCSV(cisName, cis, relsName, rels)
}

func (a *app) cmdbExport(c *command, args []string) error {
	fs := a.flags(c)
	if _, err := a.operands(c, fs, args, 0, 0); err != nil {
		return err
	}
	d, _, err := a.client().getCMDB(context.Background())
	if err != nil {
		return err
	}
	doc := d.Document
	if doc.CIs == nil {
		doc.CIs = []cmdb.CI{}
	}
	if doc.Relations == nil {
		doc.Relations = []cmdb.Relation{}
	}
	if a.output == "json" {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			return err
		}
		_, err := a.stdout.Write(buf.Bytes())
		return err
	}
	comment := fmt.Sprintf("CMDB version %d", d.Version)
	if d.Source != "" {
		comment += ", from " + d.Source
	}
	return writeCMDBYAML(a.stdout, doc, comment)
}

// writeCMDBYAML writes doc as YAML that cmdb.Parse reads back to the same
// document: CIs as block mappings with their set fields only, match label
// sets and relations in flow style, one per line.
func writeCMDBYAML(w io.Writer, doc *cmdb.Document, comment string) error {
	str := func(s string) *yaml.Node {
		var n yaml.Node
		n.Encode(s) // quotes what would not read back as this string
		return &n
	}
	mapping := func(style yaml.Style, kv ...*yaml.Node) *yaml.Node {
		return &yaml.Node{Kind: yaml.MappingNode, Style: style, Content: kv}
	}
	labels := func(m map[string]string, style yaml.Style) *yaml.Node {
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		n := mapping(style)
		for _, k := range names {
			n.Content = append(n.Content, str(k), str(m[k]))
		}
		return n
	}
	cis := &yaml.Node{Kind: yaml.SequenceNode}
	for _, ci := range doc.CIs {
		n := mapping(0, str("id"), str(ci.ID))
		for _, f := range []struct{ k, v string }{{"name", ci.Name}, {"class", ci.Class}} {
			if f.v != "" {
				n.Content = append(n.Content, str(f.k), str(f.v))
			}
		}
		if ci.Criticality != 0 {
			var v yaml.Node
			v.Encode(ci.Criticality)
			n.Content = append(n.Content, str("criticality"), &v)
		}
		for _, f := range []struct{ k, v string }{{"owner", ci.Owner}, {"environment", ci.Environment}} {
			if f.v != "" {
				n.Content = append(n.Content, str(f.k), str(f.v))
			}
		}
		if len(ci.Attributes) > 0 {
			n.Content = append(n.Content, str("attributes"), labels(ci.Attributes, 0))
		}
		if len(ci.Match) > 0 {
			sets := &yaml.Node{Kind: yaml.SequenceNode}
			for _, set := range ci.Match {
				sets.Content = append(sets.Content, labels(set, yaml.FlowStyle))
			}
			n.Content = append(n.Content, str("match"), sets)
		}
		cis.Content = append(cis.Content, n)
	}
	rels := &yaml.Node{Kind: yaml.SequenceNode}
	for _, r := range doc.Relations {
		rels.Content = append(rels.Content, mapping(yaml.FlowStyle, str("from"), str(r.From), str("type"), str(r.Type), str("to"), str(r.To)))
	}
	if len(cis.Content) == 0 {
		cis.Style = yaml.FlowStyle // cis: []
	}
	if len(rels.Content) == 0 {
		rels.Style = yaml.FlowStyle
	}
	root := mapping(0, str("cis"), cis, str("relations"), rels)
	root.HeadComment = comment
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func (a *app) cmdbShow(c *command, args []string) error {
	fs := a.flags(c)
	pos, err := a.operands(c, fs, args, 1, 1)
	if err != nil {
		return err
	}
	v, raw, err := a.client().ci(context.Background(), pos[0])
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printJSON(raw)
	}
	writeCI(a.stdout, v)
	return nil
}

func (a *app) cmdbImpact(c *command, args []string) error {
	fs := a.flags(c)
	pos, err := a.operands(c, fs, args, 1, 1)
	if err != nil {
		return err
	}
	v, raw, err := a.client().impact(context.Background(), pos[0])
	if err != nil {
		return err
	}
	if a.output == "json" {
		return a.printJSON(raw)
	}
	if len(v.Impacted) == 0 {
		fmt.Fprintf(a.stdout, "A failure of %s impacts no business service.\n", clean(v.CI))
		return nil
	}
	writeImpactTable(a.stdout, v.Impacted)
	return nil
}

// writeCI writes a CI's fields, attributes, match label sets and relations.
func writeCI(w io.Writer, v api.CIView) {
	ci := v.CI
	if ci == nil {
		ci = &cmdb.CI{}
	}
	title := "CI " + clean(ci.ID)
	if ci.Name != "" {
		title += ": " + clean(ci.Name)
	}
	fmt.Fprintf(w, "%s\n\n", title)
	tw := newTable(w)
	row := func(k, v string) {
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(tw, "%s:\t%s\n", k, clean(v))
	}
	row("ID", ci.ID)
	row("Name", ci.Name)
	row("Class", ci.Class)
	row("Criticality", fmt.Sprintf("%d", ci.Criticality))
	row("Owner", ci.Owner)
	row("Environment", ci.Environment)
	tw.Flush()

	fmt.Fprintf(w, "\nAttributes (%d):\n", len(ci.Attributes))
	if len(ci.Attributes) > 0 {
		names := make([]string, 0, len(ci.Attributes))
		for k := range ci.Attributes {
			names = append(names, k)
		}
		sort.Strings(names)
		tw = newTable(w)
		for _, k := range names {
			fmt.Fprintf(tw, "  %s\t%s\n", clean(k), clean(ci.Attributes[k]))
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\nMatch label sets (%d):\n", len(ci.Match))
	for _, set := range ci.Match {
		fmt.Fprintf(w, "  %s\n", formatLabels(set, nil))
	}

	fmt.Fprintf(w, "\nRelations (%d):\n", len(v.Relations))
	for _, r := range v.Relations {
		fmt.Fprintf(w, "  %s\n", clean(r.String()))
	}
}

// writeImpactTable writes impacted business services, most critical first
// as the server orders them.
func writeImpactTable(w io.Writer, impacted []cmdb.Impacted) {
	tw := newTable(w)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tCRITICALITY\tNAME")
	for _, s := range impacted {
		name := s.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", clean(s.CI), clean(string(s.State)), s.Criticality, clean(name))
	}
	tw.Flush()
}
