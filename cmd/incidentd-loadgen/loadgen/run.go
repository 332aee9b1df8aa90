package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/incident"
)

// Options of a run.
type Options struct {
	Target   string // base URL, e.g. http://127.0.0.1:9797
	Format   Format
	Rate     float64 // alerts/s over all senders; 0: as fast as possible
	Senders  int
	Batch    int // alerts per request
	Total    int // alerts to send (probes not counted)
	Duration time.Duration
	// Distinct is the pool size; Repeat and Resolve the ratios (see Plan).
	Distinct        int
	Repeat, Resolve float64
	Seed            uint64
	// StormCIs, when set, puts a ci label from this list on every alert.
	StormCIs []string
	// ProbeInterval posts a marker alert this often and times how long it
	// takes to show in the target's API; 0: no probes.
	ProbeInterval time.Duration
	// OnResponse, when set, is called after each request with the
	// fingerprints it carried and the status code (0: no answer).
	OnResponse func(fingerprints []string, code int)
	Client     *http.Client
}

// Percentiles of a sample, in milliseconds.
type Percentiles struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

// Summarize sorts samples and reads the nearest-rank percentiles.
func Summarize(samples []time.Duration) Percentiles {
	if len(samples) == 0 {
		return Percentiles{}
	}
	s := append([]time.Duration(nil), samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(p float64) float64 {
		i := int(p*float64(len(s))+0.999999) - 1 // ceil(p*n)-1
		i = max(0, min(i, len(s)-1))
		return float64(s[i]) / float64(time.Millisecond)
	}
	return Percentiles{N: len(s), P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: at(1)}
}

// Report is the outcome of a run.
type Report struct {
	Target          string         `json:"target"`
	Format          Format         `json:"format"`
	Senders         int            `json:"senders"`
	Batch           int            `json:"batch"`
	TargetRate      float64        `json:"target_rate"`
	Requests        int            `json:"requests"`
	AlertsSent      int            `json:"alerts_sent"`
	AlertsAccepted  int            `json:"alerts_accepted"`
	Seconds         float64        `json:"seconds"`
	AlertsPerSecond float64        `json:"alerts_per_second"`
	Latency         Percentiles    `json:"request_latency"`
	Codes           map[string]int `json:"responses"` // status code, or "no-answer"
	Delay           Percentiles    `json:"post_to_visible"`
	ProbesLost      int            `json:"probes_not_visible"`
}

// Due is when request i (counted over all senders from 0) is due after the
// start, at rate alerts/s in batches of batch: the pacing of the run.
func Due(i int, batch int, rate float64) time.Duration {
	if rate <= 0 {
		return 0
	}
	return time.Duration(float64(i) * float64(batch) / rate * float64(time.Second))
}

type request struct {
	body []byte
	fps  []string
	n    int
}

// build encodes the requests of a run up front, so that the timed part sends
// and does nothing else: the sender's CPU is not taken from the receiver.
func build(o Options, start time.Time) []request {
	plan := NewPlan(o.Distinct, o.Repeat, o.Resolve, o.Seed)
	var reqs []request
	batch := make([]Alert, 0, o.Batch)
	flush := func() {
		r := request{body: Encode(o.Format, batch, start, start), n: len(batch)}
		for _, a := range batch {
			r.fps = append(r.fps, a.Fingerprint)
		}
		reqs = append(reqs, r)
		batch = batch[:0]
	}
	for k := 0; k < o.Total; k++ {
		batch = append(batch, NewAlert(plan.Next(), o.StormCIs))
		if len(batch) == o.Batch {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	return reqs
}

// Run sends the load and reports. It stops after Total alerts, after
// Duration, or when ctx ends, whichever comes first.
func Run(ctx context.Context, o Options) (*Report, error) {
	if o.Senders < 1 || o.Batch < 1 || o.Total < 1 || o.Duration <= 0 {
		return nil, errors.New("loadgen: senders, batch, total and duration must be positive")
	}
	client := o.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: o.Senders + 2}}
	}
	reqs := build(o, time.Now().Add(-time.Minute))
	rep := &Report{Target: o.Target, Format: o.Format, Senders: o.Senders, Batch: o.Batch, TargetRate: o.Rate, Codes: map[string]int{}}

	// New requests stop at the deadline; those in flight finish.
	stop, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		next      atomic.Int64
		wg        sync.WaitGroup
		last      time.Time
	)
	probeDone := make(chan []time.Duration, 1)
	probeLost := 0
	probeCtx, stopProbes := context.WithCancel(stop)
	defer stopProbes()
	if o.ProbeInterval > 0 {
		go func() { probeDone <- probe(probeCtx, client, o, &probeLost) }()
	} else {
		probeDone <- nil
	}
	start := time.Now()
	for s := 0; s < o.Senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) {
					return
				}
				if !sleepUntil(stop, start.Add(Due(i, o.Batch, o.Rate))) {
					return
				}
				r := reqs[i]
				t0 := time.Now()
				code := post(ctx, client, o.Target+o.Format.Path(), r.body)
				d := time.Since(t0)
				if o.OnResponse != nil {
					o.OnResponse(r.fps, code)
				}
				mu.Lock()
				latencies = append(latencies, d)
				rep.Requests++
				rep.AlertsSent += r.n
				if code >= 200 && code < 300 {
					rep.AlertsAccepted += r.n
				}
				key := strconv.Itoa(code)
				if code == 0 {
					key = "no-answer"
				}
				rep.Codes[key]++
				last = time.Now()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	stopProbes()
	delays := <-probeDone
	if !last.IsZero() {
		rep.Seconds = last.Sub(start).Seconds()
	}
	if rep.Seconds > 0 {
		rep.AlertsPerSecond = float64(rep.AlertsAccepted) / rep.Seconds
	}
	rep.Latency = Summarize(latencies)
	rep.Delay = Summarize(delays)
	rep.ProbesLost = probeLost
	return rep, nil
}

func sleepUntil(ctx context.Context, t time.Time) bool {
	if d := time.Until(t); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
		}
	}
	return ctx.Err() == nil
}

// post sends one body and returns the status code, 0 when there was none.
func post(ctx context.Context, client *http.Client, url string, body []byte) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body) // keeps the connection reusable
	resp.Body.Close()
	return resp.StatusCode
}

// probe posts a marker alert every interval and measures how long it takes
// from the post until the target's API shows it: for incidentd, the alert
// with its incident; for Alertmanager, the alert.
func probe(ctx context.Context, client *http.Client, o Options, lost *int) []time.Duration {
	var delays []time.Duration
	tick := time.NewTicker(o.ProbeInterval)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return delays
		case <-tick.C:
		}
		l := map[string]string{"alertname": "LoadgenProbe", "service": "loadgen", "probe": fmt.Sprintf("%d-%d-%d", o.Seed, time.Now().UnixNano(), n)}
		a := Alert{Labels: l, Fingerprint: incident.Fingerprint(l)}
		now := time.Now()
		t0 := time.Now()
		if code := post(ctx, client, o.Target+o.Format.Path(), Encode(o.Format, []Alert{a}, now, now)); code < 200 || code > 299 {
			if ctx.Err() == nil {
				*lost++
			}
			continue
		}
		// Polling continues past the end of the load, for a bounded time.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		ok := false
		for pctx.Err() == nil {
			if ok = visible(pctx, client, o, a); ok {
				break
			}
			sleepUntil(pctx, time.Now().Add(5*time.Millisecond))
		}
		cancel()
		if ok {
			delays = append(delays, time.Since(t0))
		} else {
			*lost++
		}
	}
}

func visible(ctx context.Context, client *http.Client, o Options, a Alert) bool {
	u := o.Target + "/api/v1/alerts?fingerprint=" + a.Fingerprint
	if o.Format == AMv2 {
		u = o.Target + "/api/v2/alerts?filter=" + url.QueryEscape(`probe="`+a.Labels["probe"]+`"`)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return false
	}
	if o.Format == AMv2 {
		var list []json.RawMessage
		return json.NewDecoder(resp.Body).Decode(&list) == nil && len(list) > 0
	}
	var out struct {
		Alerts []struct {
			IncidentID int64 `json:"incident_id"`
			Suppressed bool  `json:"suppressed"`
		} `json:"alerts"`
	}
	if json.NewDecoder(resp.Body).Decode(&out) != nil {
		return false
	}
	for _, x := range out.Alerts {
		if x.IncidentID != 0 || x.Suppressed {
			return true
		}
	}
	return false
}

// CheckTarget refuses a target that is not on this machine unless remote is
// allowed: a load tool pointed at production by a typo does harm.
func CheckTarget(target string, remote bool) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("target %q: want http://HOST:PORT", target)
	}
	if remote {
		return nil
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("target %q is not a loopback address: pass --allow-remote to load another machine", target)
}

// StormCIs returns root and every CI that needs it, transitively: the CIs
// an outage of root makes fire. Without root, the CI with the most CIs
// needing it is taken (ties: the first id), the widest storm.
func StormCIs(doc *cmdb.Document, root string) ([]string, error) {
	g := cmdb.Build(doc)
	all := make(map[string]bool, len(doc.CIs))
	for _, ci := range doc.CIs {
		all[ci.ID] = true
	}
	depth := len(doc.CIs)
	if root == "" {
		best := -1
		ids := make([]string, 0, len(all))
		for id := range all {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			if n := len(g.Above(id, all, depth)); n > best {
				root, best = id, n
			}
		}
	}
	if !all[root] {
		return nil, fmt.Errorf("storm: no CI %q in the CMDB", root)
	}
	return append([]string{root}, g.Above(root, all, depth)...), nil
}
