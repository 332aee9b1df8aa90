package runbooks

import (
	"testing"
	"time"
)

func TestRetryDelay(t *testing.T) {
	s := time.Second
	example := Retry{Attempts: 3, Backoff: 2 * s, MaxBackoff: 30 * s, Jitter: 0.2}
	fixed := func(f float64) func() float64 { return func() float64 { return f } }
	cases := []struct {
		name    string
		r       Retry
		attempt int
		rnd     func() float64
		want    time.Duration
	}{
		{"first retry waits backoff", example, 1, nil, 2 * s},
		{"doubles", example, 2, nil, 4 * s},
		{"doubles again", example, 3, nil, 8 * s},
		{"and again", example, 4, nil, 16 * s},
		{"capped at max_backoff", example, 5, nil, 30 * s},
		{"stays capped", example, 40, nil, 30 * s},
		{"no overflow far out", example, 1000, nil, 30 * s},
		{"jitter 0 keeps the delay", example, 2, fixed(0), 4 * s},
		{"jitter shortens by up to its fraction", example, 2, fixed(0.5), 4*s - 400*time.Millisecond},
		{"jitter at its most", example, 9, fixed(0.75), 30*s - 4500*time.Millisecond},
		{"jitter applies after the cap", example, 9, fixed(0.5), 27 * s},
		{"jitter off", Retry{Attempts: 3, Backoff: s, MaxBackoff: 10 * s}, 2, fixed(0.5), 2 * s},
		{"full jitter", Retry{Attempts: 3, Backoff: s, MaxBackoff: 10 * s, Jitter: 1}, 2, fixed(0.25), 1500 * time.Millisecond},
		{"rnd out of range is clamped", example, 1, fixed(7), 2*s - 400*time.Millisecond},
		{"attempt 0 waits nothing", example, 0, nil, 0},
		{"no backoff waits nothing", Retry{Attempts: 3}, 2, nil, 0},
		{"max_backoff unset caps at backoff", Retry{Attempts: 3, Backoff: 5 * s}, 3, nil, 5 * s},
		{"huge cap", Retry{Attempts: 100, Backoff: s, MaxBackoff: time.Duration(1<<63 - 1)}, 90, nil, time.Duration(1<<63 - 1)},
	}
	for _, c := range cases {
		if got := c.r.Delay(c.attempt, c.rnd); got != c.want {
			t.Errorf("%s: Delay(%d) = %v, want %v", c.name, c.attempt, got, c.want)
		}
	}
}

// TestRetryDelayBounds: for any attempt and any random draw, the delay is
// within [(1-jitter)*d, d] for d = min(backoff*2^(attempt-1), max_backoff).
func TestRetryDelayBounds(t *testing.T) {
	r := Retry{Attempts: 60, Backoff: 300 * time.Millisecond, MaxBackoff: 7 * time.Minute, Jitter: 0.3}
	for attempt := 1; attempt <= 60; attempt++ {
		d := r.Backoff
		for i := 1; i < attempt && d < r.MaxBackoff; i++ {
			d *= 2
		}
		d = min(d, r.MaxBackoff)
		lo := time.Duration(float64(d) * (1 - r.Jitter))
		for _, f := range []float64{0, 0.1, 0.5, 0.9, 0.999999} {
			got := r.Delay(attempt, func() float64 { return f })
			if got > d || got < lo {
				t.Fatalf("Delay(%d) with %v = %v, want within [%v, %v]", attempt, f, got, lo, d)
			}
		}
	}
}

func TestRetryMore(t *testing.T) {
	r := Retry{Attempts: 3}
	for attempt, want := range map[int]bool{1: true, 2: true, 3: false, 4: false} {
		if got := r.More(attempt); got != want {
			t.Errorf("More(%d) = %v, want %v", attempt, got, want)
		}
	}
	if (Retry{Attempts: 1}).More(1) {
		t.Error("one attempt has no retry")
	}
}

// TestRetryDefaults checks what a retry block that sets only attempts means.
func TestRetryDefaults(t *testing.T) {
	rb, err := Parse("t.yml", []byte(head+"  - annotate: x\n    retry: {attempts: 4}\n  - annotate: y\n    retry: {attempts: 2, backoff: 10m}\n  - annotate: z\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Retry{
		{Attempts: 4, Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff, Jitter: DefaultJitter},
		{Attempts: 2, Backoff: 10 * time.Minute, MaxBackoff: 10 * time.Minute, Jitter: DefaultJitter},
		{Attempts: 1},
	}
	for i, w := range want {
		if got := rb.Steps[i].Retry; got != w {
			t.Errorf("steps[%d]: %+v, want %+v", i, got, w)
		}
	}
}
