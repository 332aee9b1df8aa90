package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/incidentd/incidentd/correlate/simulate"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/store"
)

const simulateDetails = `Generates a random layered CMDB per seed, injects faults that cascade up its
relations and unrelated noise, replays the alerts in time order through the
real correlation engine and a real store, and scores where every alert ended
up against the ground truth. Nothing talks to a daemon. The same flags and
seed always give the same scenario. Seeds run in parallel.

Columns: COMPRESSION is alerts per incident. PRECISION, RECALL and F1 are over
pairs of fault alerts: same incident vs same fault. CEILING-F1 is the best
F1 any correlation by topology and time can reach on the scenario (entangled
faults alert at once on the same or directly related CIs); ADJ-F1 is F1
without the pairs between entangled faults. ROOT-CAUSE is top-1 accuracy:
at each fault's peak, the incident holding most of its alerts names the
fault's root CI. See docs/correlation.md, "How quality is measured".

--store sqlite (the default) evaluates each seed on a temporary SQLite file.
--store postgres://... evaluates each seed in a new schema of that database,
dropped afterwards: the role needs CREATE on the database.

--dump DIR (one seed only) also writes the scenario, to replay against a
daemon: DIR/cmdb.yml (cmdb import takes it), DIR/alerts.jsonl (one line per
instant: {"at", "alerts"}, where alerts is a body for POST /api/v1/alerts,
resolutions first) and DIR/faults.json (the ground truth: each fault's root,
failed CIs and alert fingerprints, and the noise alerts' fingerprints).
`

// Defaults of the simulate flags: the package's (simulate.Options, whose
// zero values take them; TestSimulateDefaultsArePackageDefaults checks).
const (
	simDefaultSeeds    = "1-8"
	simDefaultCIs      = 2000
	simDefaultFaults   = 30
	simDefaultSpacing  = time.Hour
	simDefaultNoise    = 0.2
	simDefaultUnmapped = 0.2
	simDefaultMaxHops  = 3
	// maxSimSeeds bounds --seeds, so that a typo in a range cannot run for
	// days.
	maxSimSeeds = 1000
)

// simRun is a parsed simulate command line.
type simRun struct {
	opts     simulate.Options // every field but Seed
	seeds    []uint64
	settings simSettings
	// postgres is the DSN of the PostgreSQL database to evaluate in; empty:
	// temporary SQLite files.
	postgres string
	dump     string
	details  bool
}

// simSettings echoes the scenario and engine settings in the output.
type simSettings struct {
	CIs int `json:"cis"`
	// Relations is the number asked for; 0 keeps the natural fan-out.
	Relations int     `json:"relations"`
	Faults    int     `json:"faults"`
	Spacing   string  `json:"spacing"`
	Noise     float64 `json:"noise"`
	Unmapped  float64 `json:"unmapped"`
	MaxHops   int     `json:"max_hops"`
	Window    string  `json:"window"`
	MaxSpan   string  `json:"max_span"`
	Store     string  `json:"store"`
}

// simOutput is what simulate --json prints.
type simOutput struct {
	Settings simSettings       `json:"settings"`
	Seeds    []simulate.Report `json:"seeds"`
	// Total combines the seeds (pairs micro-averaged). Its misses are left
	// out: they are listed per seed.
	Total simulate.Report `json:"total"`
}

func (a *app) simulate(c *command, args []string) error {
	r, err := a.parseSimulate(c, args)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if r.dump != "" {
		o := r.opts
		o.Seed = r.seeds[0]
		if err := dumpScenario(r.dump, simulate.Generate(o), a.stderr); err != nil {
			return err
		}
	}
	reports, err := r.evaluate(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted")
		}
		return err
	}
	total := simulate.Combine(reports...)
	if a.output == "json" {
		total.Misses = nil
		return writeJSON(a.stdout, simOutput{Settings: r.settings, Seeds: reports, Total: total})
	}
	writeSimTable(a.stdout, reports, total, r.settings)
	if r.details {
		fmt.Fprintf(a.stdout, "\n%s", total)
	}
	return nil
}

// parseSimulate parses and checks simulate's command line.
func (a *app) parseSimulate(c *command, args []string) (*simRun, error) {
	fs := a.flags(c)
	p := incident.DefaultPolicy()
	seedList := fs.String("seeds", simDefaultSeeds, "run the seeds in `LIST`: 1-8, or 1,4,9-12 (default "+simDefaultSeeds+")")
	seed := fs.Uint64("seed", 0, "run seed `N` only (instead of --seeds)")
	cis := fs.Int("cis", simDefaultCIs, fmt.Sprintf("`N` configuration items per topology, at least 60 (default %d)", simDefaultCIs))
	relations := fs.Int("relations", 0, "add dependencies up to `N` relations per topology (default: the natural fan-out, about 2.1 per CI)")
	faults := fs.Int("faults", simDefaultFaults, fmt.Sprintf("`N` independent faults per scenario (default %d)", simDefaultFaults))
	spacing := fs.Duration("spacing", simDefaultSpacing, "mean `DURATION` between the starts of two faults, exponentially distributed (default "+formatDuration(simDefaultSpacing)+")")
	noise := fs.Float64("noise", simDefaultNoise, fmt.Sprintf("unrelated alerts per fault alert (`RATIO`), 0 for none (default %g)", simDefaultNoise))
	unmapped := fs.Float64("unmapped", simDefaultUnmapped, fmt.Sprintf("share of the noise on no CI (`RATIO`, 0..1; default %g)", simDefaultUnmapped))
	maxHops := fs.Int("max-hops", simDefaultMaxHops, fmt.Sprintf("engine: correlate alerts up to `N` relations apart, as correlation.max_hops (default %d)", simDefaultMaxHops))
	window := fs.Duration("window", p.CorrelationWindow, "engine: an incident takes alerts for `DURATION` after its newest, as correlation.window (default "+formatDuration(p.CorrelationWindow)+")")
	maxSpan := fs.Duration("max-span", p.MaxSpan, "engine: an incident takes alerts for `DURATION` after it opened, as correlation.max_span (default "+formatDuration(p.MaxSpan)+")")
	storeFlag := fs.String("store", "sqlite", "evaluate on `STORE`: sqlite (temporary files) or a postgres://... DSN (a temporary schema per seed)")
	dump := fs.String("dump", "", "also write the scenario of the one seed to `DIR`: cmdb.yml, alerts.jsonl, faults.json")
	asJSON := fs.Bool("json", false, "print the reports as JSON (same as --output json)")
	details := fs.Bool("details", false, "after the table, print the combined report with the faults the engine got wrong, and why")
	if _, err := a.operands(c, fs, args, 0, 0); err != nil {
		return nil, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	fail := func(format string, v ...any) (*simRun, error) {
		return nil, &usageError{fmt.Sprintf(format, v...), c.usage(fs)}
	}

	r := &simRun{dump: *dump, details: *details}
	switch {
	case set["seed"] && set["seeds"]:
		return fail("give --seed or --seeds, not both")
	case set["seed"]:
		r.seeds = []uint64{*seed}
	default:
		var err error
		if r.seeds, err = parseSeeds(*seedList); err != nil {
			return fail("--seeds %q: %v", *seedList, err)
		}
	}
	switch {
	case *cis < 60:
		return fail("--cis %d: must be at least 60", *cis)
	case *relations < 0:
		return fail("--relations %d: must not be negative", *relations)
	case *faults < 1:
		return fail("--faults %d: must be at least 1", *faults)
	case *spacing <= 0:
		return fail("--spacing %s: must be positive", *spacing)
	case *noise < 0:
		return fail("--noise %g: must not be negative", *noise)
	case *unmapped < 0 || *unmapped > 1:
		return fail("--unmapped %g: must be between 0 and 1", *unmapped)
	case *maxHops < 1:
		return fail("--max-hops %d: must be at least 1", *maxHops)
	case *window <= 0:
		return fail("--window %s: must be positive", *window)
	case *maxSpan <= 0:
		return fail("--max-span %s: must be positive", *maxSpan)
	case r.dump != "" && len(r.seeds) != 1:
		return fail("--dump writes one scenario: give one seed (--seed N), not %d", len(r.seeds))
	}
	backend := "sqlite"
	switch s := *storeFlag; {
	case s == "sqlite":
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		if _, err := url.Parse(s); err != nil {
			return fail("--store: the PostgreSQL DSN is not a URL")
		}
		r.postgres, backend = s, "postgres"
	default:
		return fail("--store %q: want sqlite or postgres://...", store.Redact(s))
	}
	if *asJSON {
		a.output = "json"
	}

	// The package reads 0 as "default" and a negative ratio as "none".
	none := func(v float64) float64 {
		if v == 0 {
			return -1
		}
		return v
	}
	r.opts = simulate.Options{
		Topology:          simulate.TopologyOptions{CIs: *cis, Relations: *relations},
		Faults:            *faults,
		FaultGap:          *spacing,
		NoiseRatio:        none(*noise),
		UnmappedShare:     none(*unmapped),
		MaxHops:           *maxHops,
		CorrelationWindow: *window,
		MaxSpan:           *maxSpan,
	}
	r.settings = simSettings{
		CIs: *cis, Relations: *relations, Faults: *faults, Spacing: formatDuration(*spacing),
		Noise: *noise, Unmapped: *unmapped, MaxHops: *maxHops,
		Window: formatDuration(*window), MaxSpan: formatDuration(*maxSpan), Store: backend,
	}
	return r, nil
}

// parseSeeds parses a list of seeds and ranges: "1-8", "3", "1,4,9-12".
func parseSeeds(s string) ([]uint64, error) {
	var seeds []uint64
	seen := map[uint64]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		loS, hiS, isRange := strings.Cut(part, "-")
		lo, err := strconv.ParseUint(loS, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not a seed or a range FROM-TO", part)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.ParseUint(hiS, 10, 64); err != nil {
				return nil, fmt.Errorf("%q is not a seed or a range FROM-TO", part)
			}
			if hi < lo {
				return nil, fmt.Errorf("range %q ends before it starts", part)
			}
		}
		if hi-lo >= maxSimSeeds || len(seeds)+int(hi-lo) >= maxSimSeeds {
			return nil, fmt.Errorf("more than %d seeds", maxSimSeeds)
		}
		for v := lo; ; v++ {
			if seen[v] {
				return nil, fmt.Errorf("seed %d given twice", v)
			}
			seen[v] = true
			seeds = append(seeds, v)
			if v == hi {
				break
			}
		}
	}
	return seeds, nil
}

// formatDuration drops the zero units Duration.String leaves: 1h, 10m, 1h30m.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// evaluate runs the seeds, as many at once as there are CPUs, and returns
// their reports in seed order.
func (r *simRun) evaluate(ctx context.Context) ([]simulate.Report, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var db *sql.DB
	if r.postgres != "" {
		var err error
		if db, err = sql.Open("postgres", r.postgres); err != nil {
			return nil, fmt.Errorf("postgres store: %w", err)
		}
		defer db.Close()
		if err := db.PingContext(ctx); err != nil {
			return nil, fmt.Errorf("connect to postgres store: %w", err)
		}
	}
	reports := make([]simulate.Report, len(r.seeds))
	errs := make([]error, len(r.seeds))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, seed := range r.seeds {
		o := r.opts
		o.Seed = seed
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			if db == nil {
				reports[i], errs[i] = simulate.Run(ctx, o)
			} else {
				reports[i], errs[i] = evaluatePostgres(ctx, db, r.postgres, o)
			}
			if errs[i] != nil {
				errs[i] = fmt.Errorf("seed %d: %w", seed, errs[i])
				cancel() // the others' results are of no use
			}
		})
	}
	wg.Wait()
	// The first error by seed that is not the cancellation it caused.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled) && !errors.Is(err, context.Canceled)) {
			first = err
		}
	}
	return reports, first
}

// evaluatePostgres evaluates the scenario of o in a new schema of the
// database behind db (whose DSN is dsn), dropping the schema afterwards.
func evaluatePostgres(ctx context.Context, db *sql.DB, dsn string, o simulate.Options) (simulate.Report, error) {
	var buf [6]byte
	rand.Read(buf[:])
	schema := "incidentd_simulate_" + hex.EncodeToString(buf[:])
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		return simulate.Report{}, fmt.Errorf("create schema %s: %w", schema, err)
	}
	defer func() {
		// Even when interrupted: the schema is ours to remove.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE")
	}()
	u, err := url.Parse(dsn)
	if err != nil {
		return simulate.Report{}, errors.New("the PostgreSQL DSN is not a URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	st, err := store.Open(ctx, u.String(), store.Options{MaxOpenConns: 2})
	if err != nil {
		return simulate.Report{}, err
	}
	defer st.Close()
	return simulate.Evaluate(ctx, st, simulate.Generate(o))
}

// writeSimTable writes one row per seed, a total row when there are
// several, and what the figures mean.
func writeSimTable(w io.Writer, reports []simulate.Report, total simulate.Report, s simSettings) {
	tw := newTable(w)
	fmt.Fprintln(tw, "SEED\tFAULTS\tALERTS\tNOISE\tINCIDENTS\tCOMPRESSION\tPRECISION\tRECALL\tF1\tCEILING-F1\tADJ-F1\tROOT-CAUSE")
	row := func(name string, r simulate.Report) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.2f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", name,
			r.Faults, r.FaultAlerts+r.NoiseAlerts, r.NoiseAlerts, r.Incidents, r.Compression,
			r.Precision, r.Recall, r.F1, r.CeilingF1, r.AdjustedF1, r.RootCauseTop1)
	}
	for _, r := range reports {
		row(strconv.FormatUint(r.Seeds[0], 10), r)
	}
	if len(reports) > 1 {
		row("all", total)
	}
	tw.Flush()
	relations := "natural relations"
	if s.Relations > 0 {
		relations = fmt.Sprintf("%d relations", s.Relations)
	}
	fmt.Fprintf(w, "\nideal compression %.2f; root cause %d/%d; faults split over incidents: %d, sharing one with another fault: %d; noise alerts in a fault's incident: %d\n",
		total.IdealCompression, total.RootCauseCorrect, total.Faults, total.SplitFaults, total.MixedFaults, total.NoiseAbsorbed)
	fmt.Fprintln(w, "CEILING-F1: the best F1 any correlation by topology and time can reach here; ADJ-F1: F1 without the pairs between entangled faults")
	fmt.Fprintf(w, "scenario: %d CIs (%s), %d faults %s apart on average, noise %g (%g of it on no CI); engine: max hops %d, window %s, max span %s; store: %s\n",
		s.CIs, relations, s.Faults, s.Spacing, s.Noise, s.Unmapped, s.MaxHops, s.Window, s.MaxSpan, s.Store)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// dumpAlert is one alert as the generic ingest endpoint takes it.
type dumpAlert struct {
	Labels      map[string]string `json:"labels"`
	Status      string            `json:"status"`
	StartsAt    string            `json:"starts_at"`
	EndsAt      string            `json:"ends_at,omitempty"`
	Fingerprint string            `json:"fingerprint"`
	Source      string            `json:"source"`
}

// dumpBatch is one line of alerts.jsonl: what happens at one instant.
type dumpBatch struct {
	At     string      `json:"at"`
	Alerts []dumpAlert `json:"alerts"`
}

// dumpFault is a fault's ground truth in faults.json.
type dumpFault struct {
	Fault    int      `json:"fault"`
	Root     string   `json:"root"`
	RootKind string   `json:"root_kind"`
	Start    string   `json:"start"`
	CIs      []string `json:"cis"`
	Alerts   []string `json:"alerts"`
}

// dumpScenario writes sc into dir (see simulateDetails), telling on
// stderr what it wrote.
func dumpScenario(dir string, sc *simulate.Scenario, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	write := func(name string, fill func(w io.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := fill(f); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	doc := sc.Topology.Doc
	err := write("cmdb.yml", func(w io.Writer) error {
		return writeCMDBYAML(w, doc, fmt.Sprintf("Generated by incidentctl simulate, seed %d", sc.Options.Seed))
	})
	if err != nil {
		return err
	}

	// The batches the simulator sends: at each instant, resolutions first,
	// then firings, each in the scenario's order.
	type event struct {
		at      time.Time
		resolve bool
		i       int
	}
	events := make([]event, 0, 2*len(sc.Alerts))
	for i, al := range sc.Alerts {
		events = append(events, event{al.FiresAt, false, i}, event{al.ResolvesAt, true, i})
	}
	sort.Slice(events, func(i, j int) bool {
		a, b := events[i], events[j]
		if !a.at.Equal(b.at) {
			return a.at.Before(b.at)
		}
		if a.resolve != b.resolve {
			return a.resolve
		}
		return a.i < b.i
	})
	var batches int
	err = write("alerts.jsonl", func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for i := 0; i < len(events); {
			b := dumpBatch{At: events[i].at.Format(time.RFC3339)}
			for at := events[i].at; i < len(events) && events[i].at.Equal(at); i++ {
				al := &sc.Alerts[events[i].i]
				d := dumpAlert{Labels: al.Labels, Status: string(incident.AlertFiring), StartsAt: al.FiresAt.Format(time.RFC3339), Fingerprint: al.Fingerprint, Source: "simulate"}
				if events[i].resolve {
					d.Status, d.EndsAt = string(incident.AlertResolved), al.ResolvesAt.Format(time.RFC3339)
				}
				b.Alerts = append(b.Alerts, d)
			}
			batches++
			if err := enc.Encode(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}

	truth := struct {
		Seed   uint64      `json:"seed"`
		Faults []dumpFault `json:"faults"`
		Noise  []string    `json:"noise"`
	}{Seed: sc.Options.Seed, Faults: []dumpFault{}, Noise: []string{}}
	for _, f := range sc.Faults {
		d := dumpFault{Fault: f.ID, Root: f.Root, RootKind: f.RootKind.String(), Start: f.Start.Format(time.RFC3339), CIs: f.CIs}
		for _, i := range f.Alerts {
			d.Alerts = append(d.Alerts, sc.Alerts[i].Fingerprint)
		}
		truth.Faults = append(truth.Faults, d)
	}
	for _, al := range sc.Alerts {
		if al.Fault == simulate.Noise {
			truth.Noise = append(truth.Noise, al.Fingerprint)
		}
	}
	if err := write("faults.json", func(w io.Writer) error { return writeJSON(w, truth) }); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "wrote %s: cmdb.yml (%d CIs, %d relations), alerts.jsonl (%d alerts in %d batches), faults.json (%d faults)\n",
		dir, len(doc.CIs), len(doc.Relations), len(sc.Alerts), batches, len(sc.Faults))
	return nil
}
