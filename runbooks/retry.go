package runbooks

import "time"

// Delay is how long to wait after the attempt-th failed attempt (1-based)
// before the next one: Backoff doubled for each earlier failure, capped at
// MaxBackoff, then shortened by up to Jitter of itself at random. rnd
// returns a number in [0, 1) (rand.Float64); nil means no jitter. Jitter
// only ever shortens, so MaxBackoff is a true bound.
func (r Retry) Delay(attempt int, rnd func() float64) time.Duration {
	if attempt < 1 || r.Backoff <= 0 {
		return 0
	}
	limit := r.MaxBackoff
	if limit <= 0 {
		limit = r.Backoff
	}
	d := r.Backoff
	for i := 1; i < attempt && d < limit; i++ {
		if d > limit/2 { // doubling would pass the cap (or overflow)
			d = limit
			break
		}
		d *= 2
	}
	d = min(d, limit)
	if rnd != nil && r.Jitter > 0 {
		f := rnd()
		if f < 0 {
			f = 0
		}
		if f >= 1 {
			f = 1
		}
		d -= time.Duration(float64(d) * r.Jitter * f)
	}
	return d
}

// More reports whether another attempt follows the attempt-th failed one.
func (r Retry) More(attempt int) bool { return attempt < r.Attempts }
