package oncall

import "sort"

// layer is a compiled rotation. Turn k runs from hand-off k to hand-off
// k+1; hand-off k is at wall-clock time anchor + k*period, so a daily
// 09:00 hand-off stays at 09:00 across DST changes and the turns around
// them last 23 or 25 hours. Participant k mod n has turn k.
type layer struct {
	index   int
	anchor  int64 // civil seconds of hand-off 0
	period  int64 // civil seconds
	users   []string
	windows []window // none: on call around the clock
}

// window is a restriction: on each of days, from from to to seconds after
// that day's civil midnight (to may pass the next midnight).
type window struct {
	days     [7]bool
	from, to int64
}

// span is a half-open interval of unix seconds.
type span struct{ start, end int64 }

func (l *layer) handoff(z zone, k int64) int64 { return z.resolve(l.anchor + k*l.period) }

// turn returns the turn under way at instant u, or -1 before the first
// hand-off. It is arithmetic, not a walk from the anchor; the loops only
// step over turns that the zone squeezed to nothing (several hand-offs in
// one skipped hour) or that fall in a repeated hour.
func (l *layer) turn(z zone, u int64) int64 {
	k := floorDiv(z.civil(u)-l.anchor, l.period)
	for l.handoff(z, k) > u {
		k--
	}
	for l.handoff(z, k+1) <= u {
		k++
	}
	if k < 0 {
		return -1
	}
	return k
}

func (l *layer) user(k int64) string { return l.users[k%int64(len(l.users))] }

// covers reports whether the restrictions let the layer be on call at u.
// A window's ends are wall-clock times resolved like hand-offs.
func (l *layer) covers(z zone, u int64) bool {
	if len(l.windows) == 0 {
		return true
	}
	today := floorDiv(z.civil(u), day)
	for _, w := range l.windows {
		// A window that started yesterday may still be open; tomorrow's is
		// checked for zones whose clocks fall back across midnight.
		for d := today - 1; d <= today+1; d++ {
			if w.days[weekday(d)] && z.resolve(d*day+w.from) <= u && u < z.resolve(d*day+w.to) {
				return true
			}
		}
	}
	return false
}

// open returns the restriction windows that overlap [lo, hi), merged
// where they overlap or touch, in order.
func (l *layer) open(z zone, lo, hi int64) []span {
	var out []span
	for d := floorDiv(z.civil(lo), day) - 2; d <= floorDiv(z.civil(hi), day)+1; d++ {
		for _, w := range l.windows {
			if !w.days[weekday(d)] {
				continue
			}
			s := span{z.resolve(d*day + w.from), z.resolve(d*day + w.to)}
			if s.start < s.end && s.end > lo && s.start < hi {
				out = append(out, s)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	merged := out[:0]
	for _, s := range out {
		if n := len(merged); n > 0 && s.start <= merged[n-1].end {
			merged[n-1].end = max(merged[n-1].end, s.end)
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// segments returns the layer's on-call stretches that overlap [lo, hi),
// whole: each turn, cut by the restriction windows.
func (l *layer) segments(z zone, lo, hi int64) []segment {
	k := max(l.turn(z, lo), 0)
	var windows []span
	if len(l.windows) > 0 {
		// Turns overlapping [lo, hi) may start before lo and end after hi.
		windows = l.open(z, min(lo, l.handoff(z, k)), l.endOfTurnAt(z, hi))
	}
	var out []segment
	for ; ; k++ {
		start, end := l.handoff(z, k), l.handoff(z, k+1)
		if start >= hi {
			break
		}
		if end <= lo || start == end {
			continue
		}
		seg := segment{user: l.user(k), layer: l.index, turn: k}
		if len(l.windows) == 0 {
			seg.start, seg.end = start, end
			out = append(out, seg)
			continue
		}
		for _, w := range windows {
			if w.end <= start || w.start >= end {
				continue
			}
			seg.start, seg.end = max(w.start, start), min(w.end, end)
			out = append(out, seg)
		}
	}
	return out
}

// endOfTurnAt returns the end of the turn under way at u (or of the first
// turn, before it starts).
func (l *layer) endOfTurnAt(z zone, u int64) int64 {
	return l.handoff(z, max(l.turn(z, u), 0)+1)
}
