// Command incidentd-loadgen sends alert load to incidentd (or, for the
// side-by-side benchmark, to Alertmanager's API v2) and reports alerts/s,
// request latency, errors by status code and the delay from post to
// incident visible in the API. It is bounded in alerts and time and refuses
// targets off this machine unless --allow-remote.
//
//	incidentd-loadgen --target http://127.0.0.1:9797 --alerts 100000 --batch 1000 --senders 2
//	incidentd-loadgen --format am-api-v2 --target http://127.0.0.1:9093 ...
//	incidentd-loadgen --storm --cmdb configs/cmdb.yml --rate 500 --duration 30s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/incidentd/incidentd/cmd/incidentd-loadgen/loadgen"
	"github.com/incidentd/incidentd/cmdb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "incidentd-loadgen:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("incidentd-loadgen", flag.ContinueOnError)
	var (
		o        loadgen.Options
		format   string
		remote   bool
		asJSON   bool
		storm    bool
		cmdbFile string
		stormCI  string
	)
	fs.StringVar(&o.Target, "target", "http://127.0.0.1:9797", "base URL of the receiver")
	fs.StringVar(&format, "format", "alertmanager", "alertmanager (webhook to incidentd), generic (incidentd's JSON list) or am-api-v2 (Alertmanager's POST /api/v2/alerts)")
	fs.Float64Var(&o.Rate, "rate", 0, "alerts per second over all senders; 0: as fast as possible")
	fs.IntVar(&o.Senders, "senders", 2, "concurrent senders")
	fs.IntVar(&o.Batch, "batch", 1000, "alerts per request")
	fs.IntVar(&o.Total, "alerts", 100000, "alerts to send (at most)")
	fs.DurationVar(&o.Duration, "duration", 60*time.Second, "stop sending after this long (at most)")
	fs.IntVar(&o.Distinct, "distinct", 0, "distinct label sets in the pool; 0: as many as --alerts")
	fs.Float64Var(&o.Repeat, "repeat-ratio", 0, "share of alerts that re-send an alert already sent (0..1)")
	fs.Float64Var(&o.Resolve, "resolve-ratio", 0, "share of alerts sent resolved (0..1)")
	fs.Uint64Var(&o.Seed, "seed", 1, "the same seed sends the same alerts")
	fs.DurationVar(&o.ProbeInterval, "probe-interval", time.Second, "post a marker alert this often and time it until it shows in the API; 0: off")
	fs.BoolVar(&storm, "storm", false, "topology storm: alerts on one CI of --cmdb and on every CI that needs it, with ci labels")
	fs.StringVar(&cmdbFile, "cmdb", "configs/cmdb.yml", "CMDB file for --storm")
	fs.StringVar(&stormCI, "storm-ci", "", "the CI that fails in --storm; default: the one most CIs need")
	fs.BoolVar(&remote, "allow-remote", false, "allow a target that is not a loopback address")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if o.Format, err = loadgen.ParseFormat(format); err != nil {
		return err
	}
	if err := loadgen.CheckTarget(o.Target, remote); err != nil {
		return err
	}
	if o.Repeat < 0 || o.Repeat > 1 || o.Resolve < 0 || o.Resolve > 1 || o.Rate < 0 {
		return fmt.Errorf("--repeat-ratio and --resolve-ratio take 0..1, --rate 0 or more")
	}
	if o.Distinct == 0 {
		o.Distinct = o.Total
	}
	if o.Distinct > 1<<24 {
		return fmt.Errorf("--distinct %d: at most %d label sets", o.Distinct, 1<<24)
	}
	if storm {
		data, err := os.ReadFile(cmdbFile)
		if err != nil {
			return err
		}
		doc, err := cmdb.Parse(cmdbFile, data)
		if err != nil {
			return err
		}
		if o.StormCIs, err = loadgen.StormCIs(doc, stormCI); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "storm on %s and %d CIs that need it\n", o.StormCIs[0], len(o.StormCIs)-1)
	}
	rep, err := loadgen.Run(ctx, o)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printReport(out, rep)
	return nil
}

func printReport(out io.Writer, r *loadgen.Report) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "target\t%s (%s)\n", r.Target, r.Format)
	fmt.Fprintf(w, "load\t%d senders, batches of %d, rate %s\n", r.Senders, r.Batch, rateText(r.TargetRate))
	fmt.Fprintf(w, "sent\t%d alerts in %d requests, %.2fs\n", r.AlertsSent, r.Requests, r.Seconds)
	fmt.Fprintf(w, "accepted\t%d alerts, %.0f alerts/s\n", r.AlertsAccepted, r.AlertsPerSecond)
	codes := make([]string, 0, len(r.Codes))
	for c := range r.Codes {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	for _, c := range codes {
		fmt.Fprintf(w, "responses %s\t%d\n", c, r.Codes[c])
	}
	fmt.Fprintf(w, "\tn\tp50 ms\tp95 ms\tp99 ms\tmax ms\n")
	for _, row := range []struct {
		name string
		p    loadgen.Percentiles
	}{{"request latency", r.Latency}, {"post to visible", r.Delay}} {
		fmt.Fprintf(w, "%s\t%d\t%.1f\t%.1f\t%.1f\t%.1f\n", row.name, row.p.N, row.p.P50, row.p.P95, row.p.P99, row.p.Max)
	}
	if r.ProbesLost > 0 {
		fmt.Fprintf(w, "probes not visible\t%d\n", r.ProbesLost)
	}
	w.Flush()
}

func rateText(r float64) string {
	if r == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%.0f alerts/s", r)
}
