// Package sla computes ITIL SLA clocks: business calendars (working hours,
// holidays, time zones), the acknowledge and resolve clocks of an incident
// with their pauses, warnings and breaches, and the policies that pick
// targets by priority. It is pure: no store, no timers, no time.Now. The
// escalation engine feeds it an incident's status history and "now", and
// schedules durable timers at the threshold times it returns.
package sla

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Calendar counts business time: the hours of a weekly pattern in a time
// zone, minus holidays. An instant is business time when its local
// wall-clock time lies in its weekday's hours and its local date is not a
// holiday; business time is the real time spent in such instants. So
// 08:00-18:00 is ten hours in summer, in winter and on DST days, while a
// 00:00-06:00 window holds five real hours on the night clocks skip 02:00
// to 03:00, and seven on the night they repeat it.
//
// A nil *Calendar is the 24x7 calendar: every method treats it as plain
// time. A Calendar is immutable and safe for concurrent use.
type Calendar struct {
	id  string
	loc *time.Location
	// days holds the business windows of each weekday, sorted and disjoint.
	days [7][]window
	// week is the wall-clock business time of a week without holidays.
	week time.Duration
	// holidays are civil day numbers, sorted.
	holidays []int64
}

// window is one business interval of a day, as wall-clock offsets from
// local midnight: 0 <= from < to <= 24h.
type window struct{ from, to time.Duration }

// span is a window resolved to real instants on one date.
type span struct{ from, to time.Time }

// Date is a calendar date written 2026-12-25.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads a date written YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, strings.TrimSpace(s))
	if err != nil {
		return Date{}, fmt.Errorf("%q is not a date (want YYYY-MM-DD, e.g. 2026-12-25)", s)
	}
	return Date{t.Year(), t.Month(), t.Day()}, nil
}

// UnmarshalScalar parses a date.
func (d *Date) UnmarshalScalar(s string) error {
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// IsZero reports whether d is unset.
func (d Date) IsZero() bool { return d == Date{} }

// dayNum is a civil day number: days since 1970-01-01.
func dayNum(y int, m time.Month, d int) int64 {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// civil turns a day number back into a date.
func civil(n int64) (int, time.Month, int) { return time.Unix(n*86400, 0).UTC().Date() }

// weekday of a day number; day 0 was a Thursday.
func weekday(n int64) time.Weekday { return time.Weekday(((n+4)%7 + 7) % 7) }

// CalendarConfig is one calendar of the sla.calendars section.
type CalendarConfig struct {
	ID       string `yaml:"id"`
	Timezone string `yaml:"timezone"`
	// Hours maps days ("Mon-Fri", "Sat", "Mon,Wed") to hours
	// ("08:00-18:00", "08:00-12:00,13:00-17:00", "24h"). Days not listed
	// have no business hours.
	Hours    map[string]string `yaml:"hours"`
	Holidays []Date            `yaml:"holidays"`
}

// NewCalendar builds a calendar from its configuration.
func NewCalendar(cc CalendarConfig) (*Calendar, error) {
	var errs errList
	c := buildCalendar(cc, errs.add)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// buildCalendar builds a calendar and reports every problem through fail,
// with keys relative to the calendar.
func buildCalendar(cc CalendarConfig, fail failFunc) *Calendar {
	c := &Calendar{id: cc.ID}
	switch cc.Timezone {
	case "":
		fail("timezone", "missing: name an IANA time zone, e.g. Europe/Berlin or UTC")
	case "Local":
		fail("timezone", "Local depends on the host; name an IANA time zone, e.g. Europe/Berlin")
	default:
		loc, err := time.LoadLocation(cc.Timezone)
		if err != nil {
			fail("timezone", "unknown time zone %q (want an IANA name, e.g. Europe/Berlin)", cc.Timezone)
		}
		c.loc = loc
	}
	if len(cc.Hours) == 0 {
		fail("hours", "missing: a calendar needs business hours on at least one day")
	}
	keys := make([]string, 0, len(cc.Hours))
	for k := range cc.Hours {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	setBy := [7]string{}
	for _, k := range keys {
		key := "hours." + k
		days, err := parseDays(k)
		if err != nil {
			fail(key, "%v", err)
			continue
		}
		ws, err := parseHours(cc.Hours[k])
		if err != nil {
			fail(key, "%v", err)
			continue
		}
		for _, d := range days {
			if setBy[d] != "" {
				fail(key, "%s already has hours from %q", d, setBy[d])
				continue
			}
			setBy[d] = k
			c.days[d] = ws
			for _, w := range ws {
				c.week += w.to - w.from
			}
		}
	}
	if len(cc.Hours) > 0 && c.week == 0 {
		fail("hours", "no business hours on any day")
	}
	seen := map[int64]int{}
	for i, h := range cc.Holidays {
		if h.IsZero() {
			continue // the decoder already reported it
		}
		n := dayNum(h.Year, h.Month, h.Day)
		if j, ok := seen[n]; ok {
			fail(fmt.Sprintf("holidays[%d]", i), "%s is already listed as holidays[%d]", h, j)
			continue
		}
		seen[n] = i
		c.holidays = append(c.holidays, n)
	}
	sort.Slice(c.holidays, func(i, j int) bool { return c.holidays[i] < c.holidays[j] })
	return c
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// parseDays reads "Mon-Fri", "Sat", "Mon,Wed", "Fri-Mon" (ranges may wrap
// over the weekend).
func parseDays(s string) ([]time.Weekday, error) {
	day := func(name string) (time.Weekday, error) {
		d, ok := dayNames[strings.ToLower(strings.TrimSpace(name))]
		if !ok {
			return 0, fmt.Errorf("%q is not a day (want Mon, Tue, Wed, Thu, Fri, Sat or Sun; ranges like Mon-Fri; lists like Mon,Wed)", strings.TrimSpace(name))
		}
		return d, nil
	}
	var out []time.Weekday
	seen := map[time.Weekday]bool{}
	for _, part := range strings.Split(s, ",") {
		from, to, isRange := strings.Cut(part, "-")
		a, err := day(from)
		if err != nil {
			return nil, err
		}
		b := a
		if isRange {
			if b, err = day(to); err != nil {
				return nil, err
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			if seen[d] {
				return nil, fmt.Errorf("%s is listed twice in %q", d, s)
			}
			seen[d] = true
			out = append(out, d)
			if d == b {
				break
			}
		}
	}
	return out, nil
}

// parseHours reads "08:00-18:00", "08:00-12:00,13:00-17:00", "24h" or
// "00:00-24:00". Ranges must not overlap; touching ranges are joined.
func parseHours(s string) ([]window, error) {
	if strings.TrimSpace(s) == "24h" {
		return []window{{0, 24 * time.Hour}}, nil
	}
	var ws []window
	for _, part := range strings.Split(s, ",") {
		from, to, ok := strings.Cut(strings.TrimSpace(part), "-")
		if !ok {
			return nil, fmt.Errorf("%q is not a range of hours (want HH:MM-HH:MM, several separated by commas, or 24h)", strings.TrimSpace(part))
		}
		a, err := parseClock(from)
		if err != nil {
			return nil, err
		}
		b, err := parseClock(to)
		if err != nil {
			return nil, err
		}
		if a == 24*time.Hour || b <= a {
			return nil, fmt.Errorf("%q ends before it starts (a range cannot cross midnight: split it, e.g. 22:00-24:00 on one day and 00:00-06:00 on the next)", strings.TrimSpace(part))
		}
		ws = append(ws, window{a, b})
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].from < ws[j].from })
	out := ws[:1]
	for _, w := range ws[1:] {
		last := &out[len(out)-1]
		switch {
		case w.from < last.to:
			return nil, fmt.Errorf("ranges overlap in %q", s)
		case w.from == last.to:
			last.to = w.to
		default:
			out = append(out, w)
		}
	}
	return out, nil
}

// parseClock reads HH:MM, 00:00 to 24:00.
func parseClock(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || len(h) != 2 || len(m) != 2 || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && mm != 0 {
		return 0, fmt.Errorf("%q is not a time of day (want HH:MM, 00:00 to 24:00)", s)
	}
	return time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute, nil
}

// ID names the calendar ("" for 24x7).
func (c *Calendar) ID() string {
	if c == nil {
		return ""
	}
	return c.id
}

// Location is the calendar's time zone (UTC for 24x7).
func (c *Calendar) Location() *time.Location {
	if c == nil || c.loc == nil {
		return time.UTC
	}
	return c.loc
}

// dayOf is the local day number of t.
func (c *Calendar) dayOf(t time.Time) int64 {
	y, m, d := t.In(c.loc).Date()
	return dayNum(y, m, d)
}

func (c *Calendar) holiday(n int64) bool {
	i := sort.Search(len(c.holidays), func(i int) bool { return c.holidays[i] >= n })
	return i < len(c.holidays) && c.holidays[i] == n
}

// spans returns the business time of day n as instants, ascending,
// appending to buf: every instant whose local wall-clock time lies in one
// of the day's windows. Within a stretch of constant UTC offset, wall
// clock and real time move together, so each window is one interval per
// stretch; on DST days the stretches make a skipped hour count for
// nothing and a repeated hour count twice, without relying on how
// time.Date resolves wall times that do not exist or exist twice.
func (c *Calendar) spans(n int64, buf []span) []span {
	buf = buf[:0]
	ws := c.days[weekday(n)]
	if len(ws) == 0 || c.holiday(n) {
		return buf
	}
	// mid is local midnight of day n as a wall-clock Unix time; the
	// instants of that local date lie within 15 h of [mid, mid+24h).
	mid := n * 86400
	t, end := time.Unix(mid-15*3600, 0).In(c.loc), time.Unix(mid+39*3600, 0).In(c.loc)
	for t.Before(end) {
		_, off := t.Zone()
		_, next := t.ZoneBounds()
		if next.IsZero() || next.After(end) {
			next = end
		}
		midnight := time.Unix(mid-int64(off), 0).In(c.loc) // wall 00:00 at this offset
		for _, w := range ws {
			a, b := midnight.Add(w.from), midnight.Add(w.to)
			if a.Before(t) {
				a = t
			}
			if b.After(next) {
				b = next
			}
			if b.After(a) {
				buf = append(buf, span{a, b})
			}
		}
		t = next.In(c.loc)
	}
	return buf
}

// cleanWeeks caps k, a number of whole weeks from the start of day n, to
// the weeks that hold exactly c.week of business time: no holiday and no
// change of UTC offset in them.
func (c *Calendar) cleanWeeks(n, k int64) int64 {
	if i := sort.Search(len(c.holidays), func(i int) bool { return c.holidays[i] >= n }); i < len(c.holidays) {
		k = min(k, (c.holidays[i]-n)/7)
	}
	if k <= 0 {
		return 0
	}
	y, m, d := civil(n)
	if _, end := time.Date(y, m, d, 0, 0, 0, 0, c.loc).ZoneBounds(); !end.IsZero() {
		k = min(k, (c.dayOf(end)-n)/7)
	}
	return max(k, 0)
}

// Add returns the earliest moment at which d of business time has elapsed
// after start. A d of zero or less returns start. Whole weeks are skipped
// arithmetically, so 30 days cost a few dozen steps, not thousands.
func (c *Calendar) Add(start time.Time, d time.Duration) time.Time {
	if c == nil {
		return start.Add(d)
	}
	if d <= 0 || c.week == 0 {
		return start
	}
	var buf [4]span
	n := c.dayOf(start)
	for {
		for _, s := range c.spans(n, buf[:0]) {
			if !s.to.After(start) {
				continue
			}
			from := s.from
			if start.After(from) {
				from = start
			}
			avail := s.to.Sub(from)
			if d <= avail {
				return from.Add(d)
			}
			d -= avail
		}
		n++
		// Keep some time for the last week, so that the answer is the end
		// of a window rather than the midnight after it.
		if k := c.cleanWeeks(n, int64((d-1)/c.week)); k > 0 {
			n += 7 * k
			d -= time.Duration(k) * c.week
		}
	}
}

// Elapsed returns the business time between from and to (0 if to is not
// after from).
func (c *Calendar) Elapsed(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	if c == nil {
		return to.Sub(from)
	}
	var buf [4]span
	var total time.Duration
	first, last := c.dayOf(from), c.dayOf(to)
	for n := first; n <= last; n++ {
		if n > first {
			// Days before the last one lie wholly between from and to.
			if k := c.cleanWeeks(n, (last-n)/7); k > 0 {
				n += 7 * k
				total += time.Duration(k) * c.week
			}
		}
		for _, s := range c.spans(n, buf[:0]) {
			a, b := s.from, s.to
			if a.Before(from) {
				a = from
			}
			if b.After(to) {
				b = to
			}
			if b.After(a) {
				total += b.Sub(a)
			}
		}
	}
	return total
}

// InHours reports whether t is inside business hours (always, for 24x7).
// A window includes its start and excludes its end.
func (c *Calendar) InHours(t time.Time) bool {
	if c == nil {
		return true
	}
	var buf [4]span
	for _, s := range c.spans(c.dayOf(t), buf[:0]) {
		if !t.Before(s.from) && t.Before(s.to) {
			return true
		}
	}
	return false
}
