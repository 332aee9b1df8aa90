package oncall

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/incidentd/incidentd/strictyaml"
)

// failFunc reports one problem at a key path relative to the section.
type failFunc func(key, format string, args ...any)

// New checks cfg and builds the directory. Its error lists every problem
// (as strictyaml.Errors, with key paths relative to the section); configs
// that passed Validate never fail here.
func New(cfg Config) (*Directory, error) {
	var errs strictyaml.Errors
	d := compile(cfg, func(key, format string, args ...any) {
		errs = append(errs, strictyaml.Error{Key: key, Msg: fmt.Sprintf(format, args...)})
	})
	if len(errs) > 0 {
		return nil, errs
	}
	return d, nil
}

// compile is the one place that reads a Config: Validate reports its
// complaints to the decoder, New collects them. What it returns is only
// usable when nothing was reported.
func compile(c Config, fail failFunc) *Directory {
	d := &Directory{users: map[string]User{}, schedules: map[string]*schedule{}}
	firstUser := map[string]int{}
	for i, u := range c.Users {
		p := fmt.Sprintf("users[%d]", i)
		if checkID(fail, p+".id", u.ID, "user", firstUser, i, "users") {
			u.Contacts = append([]Contact(nil), u.Contacts...)
			d.users[u.ID] = u
			d.userIDs = append(d.userIDs, u.ID)
		}
		if u.Timezone == "" {
			fail(p, "timezone is required: an IANA time zone such as Europe/Berlin or UTC")
		} else if _, err := loadZone(u.Timezone); err != nil {
			fail(p+".timezone", "%v", err)
		}
		if len(u.Contacts) == 0 {
			fail(p, "contacts are required: a user without contacts cannot be paged")
		}
		for j, ct := range u.Contacts {
			if strings.TrimSpace(ct.Notifier) == "" {
				fail(fmt.Sprintf("%s.contacts[%d]", p, j), "notifier is required")
			}
		}
	}
	knownUser := func(key, id string) {
		if _, ok := firstUser[id]; !ok {
			fail(key, "unknown user %q", id)
		}
	}

	firstSchedule := map[string]int{}
	for i, sc := range c.Schedules {
		p := fmt.Sprintf("schedules[%d]", i)
		ok := checkID(fail, p+".id", sc.ID, "schedule", firstSchedule, i, "schedules")
		loc, err := loadZone(sc.Timezone)
		switch {
		case sc.Timezone == "":
			fail(p, "timezone is required: an IANA time zone such as Europe/Berlin or UTC")
		case err != nil:
			fail(p+".timezone", "%v", err)
		}
		if err != nil {
			loc = time.UTC // keep checking the rest
		}
		s := &schedule{id: sc.ID, z: zone{loc}}
		if len(sc.Layers) == 0 && len(sc.Overrides) == 0 {
			fail(p, "has no layers and no overrides, so nobody is ever on call")
		}
		for j, l := range sc.Layers {
			s.layers = append(s.layers, compileLayer(l, s.z, j, fmt.Sprintf("%s.layers[%d]", p, j), fail, knownUser))
		}
		for j, o := range sc.Overrides {
			op := fmt.Sprintf("%s.overrides[%d]", p, j)
			if o.User == "" {
				fail(op, "user is required")
			} else {
				knownUser(op+".user", o.User)
			}
			okStart := checkTime(fail, op, "start", o.Start, "the time the override begins")
			okEnd := checkTime(fail, op, "end", o.End, "the time the override ends")
			if !okStart || !okEnd {
				continue
			}
			ov := override{user: o.User, start: o.Start.unix(s.z), end: o.End.unix(s.z), index: j}
			if ov.end <= ov.start {
				fail(op+".end", "must be after start (%s)", o.Start)
				continue
			}
			s.overrides = append(s.overrides, ov)
		}
		// Overlapping overrides would need a rule for which one wins; an
		// overlap is far more likely a typo, so it is refused.
		sort.SliceStable(s.overrides, func(a, b int) bool { return s.overrides[a].start < s.overrides[b].start })
		for j := 1; j < len(s.overrides); j++ {
			prev, cur := s.overrides[j-1], s.overrides[j]
			if cur.start < prev.end {
				first, second := min(prev.index, cur.index), max(prev.index, cur.index)
				fail(fmt.Sprintf("%s.overrides[%d]", p, second), "overlaps overrides[%d]; overrides of a schedule must not overlap", first)
			}
		}
		if ok {
			d.schedules[sc.ID] = s
			d.scheduleIDs = append(d.scheduleIDs, sc.ID)
		}
	}
	return d
}

// checkTime reports a missing or unparsable time at p.name.
func checkTime(fail failFunc, p, name string, t LocalTime, what string) bool {
	switch {
	case t.bad != nil:
		fail(p+"."+name, "%v", t.bad)
	case t.IsZero():
		fail(p, "%s is required: %s", name, what)
	default:
		return true
	}
	return false
}

// checkID reports a missing, malformed or duplicate id and records it.
func checkID(fail failFunc, key, id, kind string, first map[string]int, i int, list string) bool {
	switch {
	case id == "":
		fail(key[:strings.LastIndexByte(key, '.')], "id is required")
	case !validID(id):
		fail(key, "%q: a %s id may contain only letters, digits, '.', '_', '-' and '@'", id, kind)
		first[id] = i // reported once, not again at every reference
	default:
		if j, dup := first[id]; dup {
			fail(key, "duplicate %s id %q (also %s[%d])", kind, id, list, j)
			return false
		}
		first[id] = i
		return true
	}
	return false
}

// validID keeps ids safe in URLs, target strings (user:alice) and
// iCalendar UIDs.
func validID(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-@", r)) {
			return false
		}
	}
	return s != ""
}

func loadZone(name string) (*time.Location, error) {
	switch name {
	case "":
		return nil, fmt.Errorf("no time zone")
	case "Local":
		return nil, fmt.Errorf("\"Local\" depends on the host; name the zone, e.g. Europe/Berlin")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q (want an IANA name such as Europe/Berlin)", name)
	}
	return loc, nil
}

func compileLayer(l Layer, z zone, index int, p string, fail failFunc, knownUser func(key, id string)) *layer {
	r := l.Rotation
	rp := p + ".rotation"
	every := int64(r.Every)
	if r.Every < 0 {
		fail(rp+".every", "must be at least 1")
	}
	if every < 1 {
		every = 1
	}
	var cycle, offset int64 // hand-offs are offset seconds into each cycle
	hasOffset := r.Handoff != ""
	badHandoff := func(want string) { fail(rp+".handoff", "%q is not a hand-off time: want %s", r.Handoff, want) }
	switch r.Type {
	case "hourly":
		cycle = hour
		if hasOffset {
			digits := strings.TrimPrefix(r.Handoff, ":")
			m, err := strconv.Atoi(digits)
			if err != nil || len(digits) > 2 || digits[0] < '0' || digits[0] > '9' || m > 59 {
				badHandoff(`the minute of the hour, "MM" or ":MM" (e.g. ":30")`)
			}
			offset = int64(m) * minute
		}
	case "daily", "custom":
		cycle = day
		if hasOffset {
			tod, ok := parseClock(r.Handoff, false)
			if !ok {
				badHandoff(`"HH:MM" (e.g. "09:00")`)
			}
			offset = tod
		}
	case "weekly":
		cycle = week
		if hasOffset {
			dayName, clock, _ := strings.Cut(strings.TrimSpace(r.Handoff), " ")
			wd, okDay := parseDay(dayName)
			tod, okClock := parseClock(strings.TrimSpace(clock), false)
			if !okDay || !okClock {
				badHandoff(`"Day HH:MM" (e.g. "Mon 09:00")`)
			}
			// Civil day 0 (1970-01-01) was a Thursday.
			offset = floorMod(int64(wd)-int64(time.Thursday), 7)*day + tod
		}
	case "":
		fail(p, "rotation.type is required: hourly, daily, weekly or custom")
	default:
		fail(rp+".type", "%q is not hourly, daily, weekly or custom", r.Type)
	}
	if cycle == 0 {
		cycle = day // the type was missing or wrong, and reported; keep checking
	}
	period := every * cycle
	shift := time.Duration(r.Shift)
	if r.Type == "custom" {
		switch {
		case shift == 0:
			fail(rp, "shift is required for custom rotations: the length of a turn, e.g. 12h")
		case shift < time.Hour || shift%time.Minute != 0:
			fail(rp+".shift", "must be at least 1h and whole minutes")
		}
		if r.Every != 0 {
			fail(rp+".every", "custom rotations set the turn's length with shift, not every")
		}
		period = max(int64(shift/time.Second), hour)
	} else if shift != 0 && r.Type != "" {
		fail(rp+".shift", "only custom rotations take shift; %s rotations use every", r.Type)
	}

	lay := &layer{index: index, period: period, users: append([]string(nil), l.Participants...)}
	if checkTime(fail, p, "start", l.Start, "the date or time the rotation begins") {
		lay.anchor = l.Start.civilIn(z)
		if hasOffset {
			lay.anchor += floorMod(offset-lay.anchor, cycle)
		}
	}
	if len(l.Participants) == 0 {
		fail(p, "participants are required: at least one user")
	}
	for k, u := range l.Participants {
		knownUser(fmt.Sprintf("%s.participants[%d]", p, k), u)
	}
	for k, rs := range l.Restrict {
		if w, ok := compileRestriction(rs, fmt.Sprintf("%s.restrict[%d]", p, k), fail); ok {
			lay.windows = append(lay.windows, w)
		}
	}
	return lay
}

func compileRestriction(rs Restriction, p string, fail failFunc) (window, bool) {
	w := window{}
	if len(rs.Days) == 0 {
		w.days = [7]bool{true, true, true, true, true, true, true}
	}
	ok := true
	for i, name := range rs.Days {
		wd, valid := parseDay(name)
		switch {
		case !valid:
			fail(fmt.Sprintf("%s.days[%d]", p, i), "%q is not a day: want Mon, Tue, Wed, Thu, Fri, Sat or Sun", name)
			ok = false
		case w.days[wd]:
			fail(fmt.Sprintf("%s.days[%d]", p, i), "%s listed twice", name)
		}
		if valid {
			w.days[wd] = true
		}
	}
	from, okFrom := parseClock(rs.From, false)
	switch {
	case rs.From == "":
		fail(p, "from is required: the time of day the window opens, \"HH:MM\"")
	case !okFrom:
		fail(p+".from", "%q is not a time of day: want \"HH:MM\" (e.g. \"08:00\")", rs.From)
	}
	to, okTo := parseClock(rs.To, true)
	switch {
	case rs.To == "":
		fail(p, "to is required: the time of day the window closes, \"HH:MM\" (\"24:00\" for midnight)")
	case !okTo:
		fail(p+".to", "%q is not a time of day: want \"HH:MM\" (e.g. \"20:00\", or \"24:00\" for the end of the day)", rs.To)
	}
	if okFrom && okTo && from == to {
		fail(p+".to", "equals from; a whole day is from \"00:00\" to \"24:00\"")
		ok = false
	}
	if to <= from {
		to += day // overnight: ends the next day
	}
	w.from, w.to = from, to
	return w, ok && okFrom && okTo
}

// parseClock reads "HH:MM" (or "H:MM") as seconds after midnight;
// allow24 admits "24:00", the end of the day.
func parseClock(s string, allow24 bool) (int64, bool) {
	hs, ms, ok := strings.Cut(s, ":")
	if !ok || len(hs) < 1 || len(hs) > 2 || len(ms) != 2 {
		return 0, false
	}
	h, err1 := strconv.Atoi(hs)
	m, err2 := strconv.Atoi(ms)
	if err1 != nil || err2 != nil || h < 0 || m < 0 || m > 59 || hs[0] == '+' || ms[0] == '+' {
		return 0, false
	}
	if h == 24 && m == 0 && allow24 {
		return day, true
	}
	if h > 23 {
		return 0, false
	}
	return int64(h)*hour + int64(m)*minute, true
}

var dayNames = map[string]time.Weekday{}

func init() {
	for d := time.Sunday; d <= time.Saturday; d++ {
		dayNames[strings.ToLower(d.String())] = d
		dayNames[strings.ToLower(d.String()[:3])] = d
	}
}

// parseDay reads Mon or Monday, in any case.
func parseDay(s string) (time.Weekday, bool) {
	d, ok := dayNames[strings.ToLower(strings.TrimSpace(s))]
	return d, ok
}
