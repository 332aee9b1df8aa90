package oncall

import "sort"

// schedule is a compiled Schedule.
type schedule struct {
	id        string
	z         zone
	layers    []*layer   // in config order; the last wins
	overrides []override // sorted by start, not overlapping
}

type override struct {
	user       string
	start, end int64
	index      int // in the config
}

// segment is one source's stretch of on-call time: a layer's turn (cut by
// restrictions) or an override.
type segment struct {
	user       string
	start, end int64
	layer      int // -1 for an override
	turn       int64
}

// overrideAt returns the override under way at u.
func (s *schedule) overrideAt(u int64) (override, bool) {
	i := sort.Search(len(s.overrides), func(i int) bool { return s.overrides[i].start > u }) - 1
	if i >= 0 && u < s.overrides[i].end {
		return s.overrides[i], true
	}
	return override{}, false
}

// sources returns every source's segments that overlap [lo, hi), in the
// order they win: overrides, then layers from the last to the first.
func (s *schedule) sources(lo, hi int64) [][]segment {
	var ov []segment
	for _, o := range s.overrides {
		if o.end > lo && o.start < hi {
			ov = append(ov, segment{user: o.user, start: o.start, end: o.end, layer: -1})
		}
	}
	out := [][]segment{ov}
	for i := len(s.layers) - 1; i >= 0; i-- {
		out = append(out, s.layers[i].segments(s.z, lo, hi))
	}
	return out
}

// piece is a stretch of the final schedule: where one segment wins.
type piece struct {
	seg        *segment
	start, end int64
}

// sweep cuts time at every segment boundary and keeps, for each cut, the
// segment of the first source that covers it, joining neighbouring cuts
// won by the same segment.
func sweep(sources [][]segment) []piece {
	var cuts []int64
	for _, segs := range sources {
		for _, g := range segs {
			cuts = append(cuts, g.start, g.end)
		}
	}
	sort.Slice(cuts, func(i, j int) bool { return cuts[i] < cuts[j] })
	next := make([]int, len(sources)) // per source, the first segment not yet over
	var out []piece
	for i := 0; i+1 < len(cuts); i++ {
		a, b := cuts[i], cuts[i+1]
		if a == b {
			continue
		}
		var win *segment
		for si, segs := range sources {
			for next[si] < len(segs) && segs[next[si]].end <= a {
				next[si]++
			}
			if next[si] < len(segs) && segs[next[si]].start <= a {
				win = &segs[next[si]]
				break
			}
		}
		if win == nil {
			continue
		}
		if n := len(out); n > 0 && out[n-1].seg == win && out[n-1].end == a {
			out[n-1].end = b
			continue
		}
		out = append(out, piece{seg: win, start: a, end: b})
	}
	return out
}

// pieces returns the stretches of the final schedule that overlap
// [from, to), whole. A stretch is bounded by its own segment, so once
// every segment that overlaps the winners' segments is known, the
// stretches at the edges are exact: the second pass widens the range to
// those segments.
func (s *schedule) pieces(from, to int64) []piece {
	if to <= from {
		return nil
	}
	ps := sweep(s.sources(from, to))
	lo, hi := from, to
	for _, p := range ps {
		lo, hi = min(lo, p.seg.start), max(hi, p.seg.end)
	}
	if lo < from || hi > to {
		ps = sweep(s.sources(lo, hi))
	}
	out := ps[:0]
	for _, p := range ps {
		if p.end > from && p.start < to {
			out = append(out, p)
		}
	}
	return out
}
