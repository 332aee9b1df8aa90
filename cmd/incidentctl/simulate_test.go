package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/incidentd/incidentd/api"
	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/correlate/simulate"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/ingest"
	"github.com/incidentd/incidentd/store/storetest"
)

const correlationDoc = "../../docs/correlation.md"

// simTable is a parsed simulate text table: its header and its rows by
// first column (seed or "all").
type simTable struct {
	header []string
	rows   map[string][]string
	order  []string
}

// parseSimTable reads the table at the start of simulate's text output
// (up to the first blank line).
func parseSimTable(t *testing.T, out string) simTable {
	t.Helper()
	table, _, _ := strings.Cut(out, "\n\n")
	lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
	st := simTable{header: strings.Fields(lines[0]), rows: map[string][]string{}}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) != len(st.header) {
			t.Fatalf("row %q has %d cells, header %d", l, len(f), len(st.header))
		}
		st.rows[f[0]] = f
		st.order = append(st.order, f[0])
	}
	return st
}

// cell returns the value of column col in row, as a number.
func (st simTable) cell(t *testing.T, row, col string) float64 {
	t.Helper()
	for i, h := range st.header {
		if h == col {
			v, err := strconv.ParseFloat(st.rows[row][i], 64)
			if err != nil {
				t.Fatalf("row %s column %s: %v", row, col, err)
			}
			return v
		}
	}
	t.Fatalf("no column %s in %v", col, st.header)
	return 0
}

// roundTrip passes a report through JSON, as the command prints it.
func roundTrip(t *testing.T, r simulate.Report) simulate.Report {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var out simulate.Report
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSimulateMatchesPackage runs the command on small scenarios and
// checks its reports against simulate.Run on the options the flags stand
// for: as JSON, the very same reports; as text, the same counts and scores
// in a table with a total row.
func TestSimulateMatchesPackage(t *testing.T) {
	t.Parallel()
	small := func(seed uint64) simulate.Options {
		return simulate.Options{Seed: seed, Topology: simulate.TopologyOptions{CIs: 120}, Faults: 4}
	}
	tests := []struct {
		name string
		args []string
		want []simulate.Options
	}{
		{name: "one seed", args: []string{"--seed", "5"}, want: []simulate.Options{small(5)}},
		{name: "seed list", args: []string{"--seeds", "2,9-10"}, want: []simulate.Options{small(2), small(9), small(10)}},
		{
			name: "no noise, dense faults",
			args: []string{"--seed", "3", "--noise", "0", "--spacing", "10m", "--faults", "6"},
			want: []simulate.Options{func() simulate.Options {
				o := small(3)
				o.NoiseRatio, o.FaultGap, o.Faults = -1, 10*time.Minute, 6
				return o
			}()},
		},
		{
			name: "engine settings and relations",
			args: []string{"--seed", "4", "--max-hops", "1", "--window", "2m", "--max-span", "20m", "--relations", "400", "--unmapped", "1"},
			want: []simulate.Options{func() simulate.Options {
				o := small(4)
				o.MaxHops, o.CorrelationWindow, o.MaxSpan, o.Topology.Relations, o.UnmappedShare = 1, 2*time.Minute, 20*time.Minute, 400, 1
				return o
			}()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"simulate", "--cis", "120", "--faults", "4"}, tt.args...)
			want := make([]simulate.Report, len(tt.want))
			for i, o := range tt.want {
				r, err := simulate.Run(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				want[i] = roundTrip(t, r)
			}
			total := simulate.Combine(want...)

			r := cli(t, append(args, "--json")...)
			r.want(t, 0, nil, nil)
			var got simOutput
			if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
				t.Fatalf("--json output is not JSON: %v\n%s", err, r.stdout)
			}
			if !reflect.DeepEqual(got.Seeds, want) {
				t.Errorf("reports differ from simulate.Run's:\n got %+v\nwant %+v", got.Seeds, want)
			}
			if got.Total.FaultAlerts != total.FaultAlerts || got.Total.NoiseAlerts != total.NoiseAlerts || got.Total.Incidents != total.Incidents || got.Total.F1 != total.F1 || got.Total.Misses != nil {
				t.Errorf("total %+v, want %+v without misses", got.Total, total)
			}
			for _, rep := range got.Seeds {
				for name, v := range map[string]float64{"precision": rep.Precision, "recall": rep.Recall, "f1": rep.F1, "ceiling_f1": rep.CeilingF1, "adjusted_f1": rep.AdjustedF1, "root_cause_top1": rep.RootCauseTop1} {
					if v < 0 || v > 1 {
						t.Errorf("seed %v: %s %v outside 0..1", rep.Seeds, name, v)
					}
				}
				if rep.FaultAlerts < rep.Faults || rep.Incidents < 1 || rep.Compression <= 0 {
					t.Errorf("seed %v: %d fault alerts for %d faults, %d incidents, compression %v", rep.Seeds, rep.FaultAlerts, rep.Faults, rep.Incidents, rep.Compression)
				}
			}
			if tt.want[0].NoiseRatio < 0 && got.Total.NoiseAlerts != 0 {
				t.Errorf("--noise 0: %d noise alerts", got.Total.NoiseAlerts)
			}

			r = cli(t, args...)
			r.want(t, 0, nil, nil)
			table := parseSimTable(t, r.stdout)
			rows := make([]string, len(want))
			for i, w := range want {
				rows[i] = strconv.FormatUint(w.Seeds[0], 10)
			}
			if len(want) > 1 {
				rows = append(rows, "all")
				want = append(want, total)
			}
			if !reflect.DeepEqual(table.order, rows) {
				t.Fatalf("rows %v, want %v:\n%s", table.order, rows, r.stdout)
			}
			for i, row := range rows {
				w := want[i]
				for col, v := range map[string]float64{
					"FAULTS": float64(w.Faults), "ALERTS": float64(w.FaultAlerts + w.NoiseAlerts), "NOISE": float64(w.NoiseAlerts),
					"INCIDENTS": float64(w.Incidents), "F1": w.F1, "ROOT-CAUSE": w.RootCauseTop1, "ADJ-F1": w.AdjustedF1,
				} {
					if got := table.cell(t, row, col); got != v && strconv.FormatFloat(got, 'f', 3, 64) != strconv.FormatFloat(v, 'f', 3, 64) {
						t.Errorf("row %s column %s: %v, want %v", row, col, got, v)
					}
				}
			}
			if !strings.Contains(r.stdout, "root cause "+strconv.Itoa(total.RootCauseCorrect)+"/"+strconv.Itoa(total.Faults)+";") {
				t.Errorf("no root cause count %d/%d under the table:\n%s", total.RootCauseCorrect, total.Faults, r.stdout)
			}
		})
	}
}

// TestSimulateDetails checks that --details explains the misses after the
// table, as the package's report does.
func TestSimulateDetails(t *testing.T) {
	t.Parallel()
	o := simulate.Options{Seed: 2, Topology: simulate.TopologyOptions{CIs: 300}, Faults: 12, FaultGap: 5 * time.Minute}
	rep, err := simulate.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	r := cli(t, "simulate", "--seed", "2", "--cis", "300", "--faults", "12", "--spacing", "5m", "--details")
	r.want(t, 0, []string{"SEED  FAULTS", "\nseeds [2]: 300 CIs", "root cause top-1: "}, nil)
	if len(rep.Misses) == 0 {
		t.Fatal("the scenario has no misses to explain: pick a denser one")
	}
	m := rep.Misses[0]
	if want := "seed 2 fault " + strconv.Itoa(m.Fault) + " (root " + m.Root; !strings.Contains(r.stdout, want) {
		t.Errorf("details lack the first miss %q:\n%s", want, r.stdout)
	}
}

// TestSimulateDefaultsArePackageDefaults checks that the command without
// flags runs what simulate.Options' zero values stand for, on seeds 1-8.
func TestSimulateDefaultsArePackageDefaults(t *testing.T) {
	t.Parallel()
	a := &app{stdout: &strings.Builder{}, stderr: &strings.Builder{}, getenv: func(string) string { return "" }}
	a.setDefaults()
	c := findCommand(t, "simulate")
	r, err := a.parseSimulate(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{1, 2, 3, 4, 5, 6, 7, 8}; !reflect.DeepEqual(r.seeds, want) {
		t.Errorf("seeds %v, want %v", r.seeds, want)
	}
	if r.postgres != "" || r.dump != "" || r.details || a.output != "text" {
		t.Errorf("defaults %+v, output %s", r, a.output)
	}
	o := r.opts
	o.Seed = 1
	got, want := simulate.Generate(o).Options, simulate.Generate(simulate.Options{Seed: 1}).Options
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the flags' defaults resolve to\n%+v\nthe package's to\n%+v", got, want)
	}
}

func findCommand(t *testing.T, path string) *command {
	t.Helper()
	for _, c := range commands {
		if c.path == path {
			return c
		}
	}
	t.Fatalf("no command %q", path)
	return nil
}

func TestSimulateUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		args   []string
		stderr []string
	}{
		{args: []string{"--seeds", "x"}, stderr: []string{`--seeds "x": "x" is not a seed or a range FROM-TO`}},
		{args: []string{"--seeds", ""}, stderr: []string{`--seeds "": "" is not a seed`}},
		{args: []string{"--seeds", "8-1"}, stderr: []string{`range "8-1" ends before it starts`}},
		{args: []string{"--seeds", "1-3,2"}, stderr: []string{"seed 2 given twice"}},
		{args: []string{"--seeds", "1-18446744073709551615"}, stderr: []string{"more than 1000 seeds"}},
		{args: []string{"--seeds", "1-2", "--seed", "3"}, stderr: []string{"give --seed or --seeds, not both"}},
		{args: []string{"--seed", "-1"}, stderr: []string{"invalid value"}},
		{args: []string{"--cis", "59"}, stderr: []string{"--cis 59: must be at least 60"}},
		{args: []string{"--cis", "many"}, stderr: []string{`invalid value "many" for flag -cis`}},
		{args: []string{"--relations", "-1"}, stderr: []string{"--relations -1: must not be negative"}},
		{args: []string{"--faults", "0"}, stderr: []string{"--faults 0: must be at least 1"}},
		{args: []string{"--spacing", "0s"}, stderr: []string{"--spacing 0s: must be positive"}},
		{args: []string{"--spacing", "1d"}, stderr: []string{`invalid value "1d" for flag -spacing`}},
		{args: []string{"--noise", "-0.1"}, stderr: []string{"--noise -0.1: must not be negative"}},
		{args: []string{"--unmapped", "1.5"}, stderr: []string{"--unmapped 1.5: must be between 0 and 1"}},
		{args: []string{"--max-hops", "0"}, stderr: []string{"--max-hops 0: must be at least 1"}},
		{args: []string{"--window", "-1m"}, stderr: []string{"--window -1m0s: must be positive"}},
		{args: []string{"--max-span", "0s"}, stderr: []string{"--max-span 0s: must be positive"}},
		{args: []string{"--store", "mysql://u:secret@db/x"}, stderr: []string{`--store "mysql://u:xxxxx@db/x": want sqlite or postgres://...`}},
		{args: []string{"--dump", dir}, stderr: []string{"--dump writes one scenario: give one seed (--seed N), not 8"}},
		{args: []string{"--output", "yaml"}, stderr: []string{`--output "yaml": want text or json`}},
		{args: []string{"extra"}, stderr: []string{`simulate: unexpected argument "extra"`}},
		{args: []string{"--bogus"}, stderr: []string{"flag provided but not defined: -bogus"}},
	}
	for _, tt := range tests {
		r := cli(t, append([]string{"simulate"}, tt.args...)...)
		r.want(t, exitUsage, nil, append(tt.stderr, "Usage: incidentctl simulate [--seeds LIST | --seed N]"))
		if r.stdout != "" {
			t.Errorf("%v: usage error printed to stdout: %q", tt.args, r.stdout)
		}
		if strings.Contains(r.stderr, "secret") {
			t.Errorf("%v: the DSN's password is printed: %s", tt.args, r.stderr)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a rejected --dump wrote %d files", len(entries))
	}
	r := cli(t, "simulate", "--help")
	r.want(t, exitOK, []string{"--store STORE", "--dump DIR", "ROOT-CAUSE is top-1 accuracy", "(default 2000)", "(default 10m)"}, nil)
	cli(t, "--help").want(t, exitOK, []string{"\n  simulate [flags]", "Measure correlation offline"}, nil)
}

// TestSimulateDump checks the files --dump writes against the scenario,
// then replays them into a daemon: every alert lands on the CI the
// scenario put it on.
func TestSimulateDump(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "sim")
	o := simulate.Options{Seed: 6, Topology: simulate.TopologyOptions{CIs: 150}, Faults: 4}
	sc := simulate.Generate(o)
	r := cli(t, "simulate", "--seed", "6", "--cis", "150", "--faults", "4", "--dump", dir, "--json")
	r.want(t, 0, nil, []string{"wrote " + dir + ": cmdb.yml (150 CIs, "})
	var out simOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("stdout is not JSON only: %v\n%s", err, r.stdout)
	}

	data, err := os.ReadFile(filepath.Join(dir, "cmdb.yml"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cmdb.Parse("cmdb.yml", data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(doc.CIs, sc.Topology.Doc.CIs) || !reflect.DeepEqual(doc.Relations, sc.Topology.Doc.Relations) {
		t.Error("cmdb.yml is not the scenario's CMDB")
	}

	// alerts.jsonl: every alert fires once and resolves once, in time
	// order, each line a valid body for the generic endpoint.
	f, err := os.Open(filepath.Join(dir, "alerts.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var all []json.RawMessage // every batch's alerts, in order
	fired, resolved := map[string]int{}, map[string]int{}
	var last time.Time
	sc2 := bufio.NewScanner(f)
	sc2.Buffer(nil, 1<<24)
	for sc2.Scan() {
		var b struct {
			At     time.Time       `json:"at"`
			Alerts json.RawMessage `json:"alerts"`
		}
		if err := json.Unmarshal(sc2.Bytes(), &b); err != nil {
			t.Fatal(err)
		}
		if !b.At.After(last) {
			t.Errorf("batch at %s follows %s", b.At, last)
		}
		last = b.At
		ins, err := ingest.DecodeGeneric(b.Alerts)
		if err != nil {
			t.Fatalf("batch at %s: %v", b.At, err)
		}
		for _, in := range ins {
			if in.Status == incident.AlertFiring {
				fired[in.Fingerprint]++
				if !in.StartsAt.Equal(b.At) {
					t.Errorf("%s fires in the batch of %s, starts_at %s", in.Fingerprint, b.At, in.StartsAt)
				}
			} else {
				resolved[in.Fingerprint]++
				if !in.EndsAt.Equal(b.At) {
					t.Errorf("%s resolves in the batch of %s, ends_at %s", in.Fingerprint, b.At, in.EndsAt)
				}
			}
		}
		var list []json.RawMessage
		if err := json.Unmarshal(b.Alerts, &list); err != nil {
			t.Fatal(err)
		}
		all = append(all, list...)
	}
	if err := sc2.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	ciOf := map[string]string{}
	for _, a := range sc.Alerts {
		want[a.Fingerprint]++
		ciOf[a.Fingerprint] = a.CI
	}
	if !reflect.DeepEqual(fired, want) || !reflect.DeepEqual(resolved, want) {
		t.Errorf("fired %v, resolved %v, want each %v", fired, resolved, want)
	}

	var truth struct {
		Seed   uint64
		Faults []dumpFault
		Noise  []string
	}
	data, err = os.ReadFile(filepath.Join(dir, "faults.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &truth); err != nil {
		t.Fatal(err)
	}
	if truth.Seed != 6 || len(truth.Faults) != len(sc.Faults) || len(truth.Noise) != out.Seeds[0].NoiseAlerts {
		t.Fatalf("faults.json: seed %d, %d faults, %d noise; want 6, %d, %d", truth.Seed, len(truth.Faults), len(truth.Noise), len(sc.Faults), out.Seeds[0].NoiseAlerts)
	}
	for i, tf := range truth.Faults {
		f := sc.Faults[i]
		if tf.Root != f.Root || tf.CIs[0] != f.Root || len(tf.Alerts) != len(f.Alerts) {
			t.Errorf("fault %d: %+v, want root %s and %d alerts", i, tf, f.Root, len(f.Alerts))
		}
	}

	// The replay: the daemon maps every alert to the scenario's CI. One
	// request with every batch in order is the same as one request per
	// batch (a batch is applied as if its alerts came one by one), only
	// faster.
	base := startDaemon(t)
	cli(t, "--url", base, "cmdb", "import", filepath.Join(dir, "cmdb.yml")).want(t, 0, []string{"150 CIs"}, nil)
	body, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	postAlerts(t, base, string(body))
	r = cli(t, "--url", base, "alerts", "list", "--all", "--limit", "500", "--output", "json")
	r.want(t, 0, nil, nil)
	var stored api.AlertList
	if err := json.Unmarshal([]byte(r.stdout), &stored); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, a := range stored.Alerts {
		seen[a.Fingerprint] = true
		if a.CI != ciOf[a.Fingerprint] {
			t.Errorf("alert %v is on CI %q in the daemon, %q in the scenario", a.Labels, a.CI, ciOf[a.Fingerprint])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("the daemon holds %d distinct alerts, the scenario %d", len(seen), len(want))
	}
}

// TestSimulatePostgres evaluates on PostgreSQL: the reports are those of
// SQLite, and no schema is left behind.
func TestSimulatePostgres(t *testing.T) {
	dsn := os.Getenv(storetest.EnvPostgresDSN)
	if dsn == "" {
		t.Skipf("%s not set", storetest.EnvPostgresDSN)
	}
	t.Parallel()
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schemas := func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM information_schema.schemata WHERE schema_name LIKE 'incidentd_simulate_%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := schemas()
	// Seed 7 has misses: their explanations are compared too.
	args := []string{"simulate", "--seed", "7", "--cis", "120", "--faults", "4", "--spacing", "20m", "--json"}
	var outs [2]simOutput
	for i, extra := range [][]string{nil, {"--store", dsn}} {
		r := cli(t, append(args, extra...)...)
		r.want(t, 0, nil, nil)
		if err := json.Unmarshal([]byte(r.stdout), &outs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if outs[1].Settings.Store != "postgres" || strings.Contains(outs[1].Settings.Store, dsn) {
		t.Errorf("settings.store %q", outs[1].Settings.Store)
	}
	if len(outs[0].Seeds[0].Misses) == 0 {
		t.Error("seed 7 has no misses any more: pick a seed that has")
	}
	if !reflect.DeepEqual(outs[0].Seeds, outs[1].Seeds) {
		t.Errorf("PostgreSQL and SQLite disagree:\n%+v\n%+v", outs[1].Seeds, outs[0].Seeds)
	}
	if after := schemas(); after != before {
		t.Errorf("%d simulate schemas before, %d after", before, after)
	}
	r := cli(t, "simulate", "--seed", "1", "--cis", "60", "--faults", "1", "--store", "postgres://nobody:secret@127.0.0.1:1/x?connect_timeout=2")
	r.want(t, exitError, nil, []string{"connect to postgres store"})
	if strings.Contains(r.stderr, "secret") {
		t.Errorf("the DSN's password is printed: %s", r.stderr)
	}
}

// TestSimulateDocExample runs the simulate examples of docs/correlation.md:
// the commands in-process, the documented output compared for what the
// generator alone decides (the engine's scores move as it improves), and
// the replay against a daemon.
func TestSimulateDocExample(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var firstOut string
	var documented, replay string
	n := 0
	for _, b := range docBlocks(t, correlationDoc) {
		switch b.Info {
		case "sh simulate":
			for line := range strings.Lines(strings.TrimSpace(b.Text)) {
				args := docArgs(t, dir, strings.TrimSpace(line))
				for i := range args {
					if i > 0 && args[i-1] == "--dump" && !filepath.IsAbs(args[i]) {
						args[i] = filepath.Join(dir, args[i]) // the doc's relative DIR
					}
				}
				r := cli(t, args...)
				if r.code != 0 {
					t.Fatalf("%s:%d: %s: exit %d\n%s", correlationDoc, b.Line, line, r.code, r.stderr)
				}
				if n == 0 {
					firstOut = r.stdout
				}
				n++
			}
		case "text simulate":
			documented = b.Text
		case "sh simulate-replay":
			replay = b.Text
		}
	}
	if n == 0 || documented == "" || replay == "" {
		t.Fatalf("found %d simulate commands, output %v, replay %v", n, documented != "", replay != "")
	}
	doc, got := parseSimTable(t, documented), parseSimTable(t, firstOut)
	if !reflect.DeepEqual(doc.header, got.header) || !reflect.DeepEqual(doc.order, got.order) {
		t.Fatalf("the documented table has another shape:\n%s\nthe command prints:\n%s", documented, firstOut)
	}
	for _, row := range doc.order {
		for _, col := range []string{"FAULTS", "ALERTS", "NOISE"} {
			if d, g := doc.cell(t, row, col), got.cell(t, row, col); d != g {
				t.Errorf("%s: row %s column %s documented %v, printed %v", correlationDoc, row, col, d, g)
			}
		}
	}

	for _, tool := range []string{"curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: replay not run", tool)
		}
	}
	base := startDaemon(t)
	script := strings.ReplaceAll(replay, "http://localhost:9095", base)
	script = strings.ReplaceAll(script, "curl -s ", "curl -sS --fail-with-body ")
	cmd := exec.Command("sh", "-ec", script)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: replay failed: %v\n%s", correlationDoc, err, out)
	}
	var incs api.IncidentList
	getJSON(t, base, "/api/v1/incidents?limit=1", &incs)
	if len(incs.Incidents) == 0 {
		t.Error("the replay opened no incident")
	}
}
