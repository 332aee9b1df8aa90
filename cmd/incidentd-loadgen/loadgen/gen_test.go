package loadgen

import (
	"encoding/json"
	"math"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/incidentd/incidentd/cmdb"
	"github.com/incidentd/incidentd/incident"
	"github.com/incidentd/incidentd/ingest"
)

func TestLabelsAreDistinctAndRealistic(t *testing.T) {
	const n = 100000
	seen := make(map[string]int, n)
	for i := 0; i < n; i++ {
		l := Labels(i, "")
		for _, k := range []string{"alertname", "service", "job", "namespace", "severity", "cluster", "instance"} {
			if l[k] == "" {
				t.Fatalf("Labels(%d) without %s: %v", i, k, l)
			}
		}
		fp := incident.Fingerprint(l)
		if j, dup := seen[fp]; dup {
			t.Fatalf("Labels(%d) and Labels(%d) are the same set %v", i, j, l)
		}
		seen[fp] = i
	}
	if l := Labels(5, "db-1"); l["ci"] != "db-1" {
		t.Fatalf("storm label set without its ci: %v", l)
	}
}

func TestPlanOrder(t *testing.T) {
	p := NewPlan(5, 0, 0, 1)
	var got []int
	for i := 0; i < 12; i++ {
		it := p.Next()
		if it.Resolved {
			t.Fatalf("alert %d resolved with resolve ratio 0", i)
		}
		got = append(got, it.Index)
	}
	if want := []int{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("plan without repeats: %v, want the pool in order, then again: %v", got, want)
	}
}

func TestPlanRatios(t *testing.T) {
	for _, tc := range []struct{ repeat, resolve float64 }{{0.3, 0.1}, {0.9, 0}, {0, 0.5}} {
		const n = 200000
		p := NewPlan(n, tc.repeat, tc.resolve, 7)
		again := NewPlan(n, tc.repeat, tc.resolve, 7)
		sent := map[int]bool{}
		repeats, resolved, newest := 0, 0, -1
		for i := 0; i < n; i++ {
			it := p.Next()
			if it != again.Next() {
				t.Fatalf("%+v: the same seed gave another alert at %d", tc, i)
			}
			if sent[it.Index] {
				repeats++
				if it.Index > newest {
					t.Fatalf("%+v: re-send of %d, never sent", tc, it.Index)
				}
			} else {
				if it.Index != newest+1 {
					t.Fatalf("%+v: new alert %d after %d: want pool order", tc, it.Index, newest)
				}
				newest = it.Index
			}
			sent[it.Index] = true
			if it.Resolved {
				resolved++
			}
		}
		if r := float64(repeats) / n; math.Abs(r-tc.repeat) > 0.01 {
			t.Errorf("%+v: repeat share %.3f", tc, r)
		}
		if r := float64(resolved) / n; math.Abs(r-tc.resolve) > 0.01 {
			t.Errorf("%+v: resolve share %.3f", tc, r)
		}
	}
}

func TestDue(t *testing.T) {
	for _, tc := range []struct {
		i, batch int
		rate     float64
		want     time.Duration
	}{
		{0, 100, 1000, 0},
		{1, 100, 1000, 100 * time.Millisecond},
		{10, 100, 1000, time.Second},
		{3, 1, 2, 1500 * time.Millisecond},
		{1000, 1000, 0, 0}, // unlimited
	} {
		if got := Due(tc.i, tc.batch, tc.rate); got != tc.want {
			t.Errorf("Due(%d, %d, %v) = %v, want %v", tc.i, tc.batch, tc.rate, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	var hundred []time.Duration
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		in   []time.Duration
		want Percentiles
	}{
		{nil, Percentiles{}},
		{ms(7), Percentiles{N: 1, P50: 7, P95: 7, P99: 7, Max: 7}},
		{ms(4, 1, 3, 2), Percentiles{N: 4, P50: 2, P95: 4, P99: 4, Max: 4}},
		{hundred, Percentiles{N: 100, P50: 50, P95: 95, P99: 99, Max: 100}},
	} {
		if got := Summarize(tc.in); got != tc.want {
			t.Errorf("Summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	for _, tc := range []struct {
		target string
		remote bool
		ok     bool
	}{
		{"http://127.0.0.1:9797", false, true},
		{"http://localhost:9797", false, true},
		{"http://[::1]:9797", false, true},
		{"http://10.0.0.5:9797", false, false},
		{"http://incidentd.example.com", false, false},
		{"http://incidentd.example.com", true, true},
		{"127.0.0.1:9797", false, false},
		{"ftp://127.0.0.1", true, false},
	} {
		if err := CheckTarget(tc.target, tc.remote); (err == nil) != tc.ok {
			t.Errorf("CheckTarget(%q, %v) = %v, want ok=%v", tc.target, tc.remote, err, tc.ok)
		}
	}
}

func TestStormCIs(t *testing.T) {
	data, err := os.ReadFile("../../../configs/cmdb.yml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := cmdb.Parse("cmdb.yml", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		root string
		want []string
	}{
		{"payments-db", []string{"payments-db", "checkout", "checkout-api", "search", "search-api"}},
		{"checkout", []string{"checkout"}},
		// A host: its cluster, the database on it, and all above.
		{"", []string{"db-host-1", "checkout", "checkout-api", "payments-db", "pg-cluster", "search", "search-api"}},
	} {
		got, err := StormCIs(doc, tc.root)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("StormCIs(%q) = %v, %v; want %v", tc.root, got, err, tc.want)
		}
	}
	if _, err := StormCIs(doc, "nope"); err == nil {
		t.Error("StormCIs on an unknown CI: no error")
	}
}

// TestEncode: what incidentd's decoders (and a plain decode of the API v2
// shape) read back is what was generated.
func TestEncode(t *testing.T) {
	batch := []Alert{NewAlert(Item{Index: 3}, nil), NewAlert(Item{Index: 4, Resolved: true}, []string{"a", "b"})}
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	now := start.Add(time.Hour)
	check := func(format Format, got []incident.AlertInput) {
		t.Helper()
		if len(got) != 2 {
			t.Fatalf("%s: %d alerts", format, len(got))
		}
		for i, a := range got {
			if a.Fingerprint != batch[i].Fingerprint || !reflect.DeepEqual(a.Labels, batch[i].Labels) || (a.Status == incident.AlertResolved) != batch[i].Resolved || !a.StartsAt.Equal(start) {
				t.Errorf("%s: alert %d decoded as %+v, sent %+v", format, i, a, batch[i])
			}
		}
		if !got[1].EndsAt.Equal(now) || got[1].Labels["ci"] != "a" {
			t.Errorf("%s: resolved storm alert decoded as %+v", format, got[1])
		}
	}
	am, _, err := ingest.DecodeAlertmanager(Encode(Alertmanager, batch, start, now))
	if err != nil {
		t.Fatal(err)
	}
	check(Alertmanager, am)
	gen, err := ingest.DecodeGeneric(Encode(Generic, batch, start, now))
	if err != nil {
		t.Fatal(err)
	}
	check(Generic, gen)
	var v2 []postableAlert
	if err := json.Unmarshal(Encode(AMv2, batch, start, now), &v2); err != nil {
		t.Fatal(err)
	}
	if len(v2) != 2 || v2[0].EndsAt != nil || v2[1].EndsAt == nil || !v2[1].EndsAt.Equal(now) || !reflect.DeepEqual(v2[1].Labels, batch[1].Labels) {
		t.Errorf("API v2 alerts: %+v", v2)
	}
}
