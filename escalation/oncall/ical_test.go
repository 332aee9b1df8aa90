package oncall

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// icalEvent is one VEVENT's properties, unescaped only as far as the test
// needs.
type icalEvent map[string]string

// parseICal is a minimal RFC 5545 reader: it checks the physical lines
// (CRLF, at most 75 octets, no broken UTF-8), unfolds them, and returns the
// calendar's own properties and its events.
func parseICal(t *testing.T, data []byte) (map[string]string, []icalEvent) {
	t.Helper()
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		t.Fatal("calendar does not end with CRLF")
	}
	physical := strings.Split(strings.TrimSuffix(string(data), "\r\n"), "\r\n")
	var logical []string
	for i, l := range physical {
		if strings.ContainsAny(l, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, l)
		}
		if len(l) > 75 {
			t.Errorf("line %d is %d octets: %q", i+1, len(l), l)
		}
		if !utf8.ValidString(l) {
			t.Errorf("line %d splits a UTF-8 character: %q", i+1, l)
		}
		if strings.HasPrefix(l, " ") {
			if len(logical) == 0 {
				t.Fatal("continuation line first")
			}
			logical[len(logical)-1] += l[1:]
			continue
		}
		logical = append(logical, l)
	}
	cal := map[string]string{}
	var events []icalEvent
	var cur icalEvent
	var stack []string
	for _, l := range logical {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			t.Fatalf("content line without a colon: %q", l)
		}
		switch name {
		case "BEGIN":
			stack = append(stack, value)
			if value == "VEVENT" {
				cur = icalEvent{}
			}
			continue
		case "END":
			if len(stack) == 0 || stack[len(stack)-1] != value {
				t.Fatalf("END:%s does not close %v", value, stack)
			}
			stack = stack[:len(stack)-1]
			if value == "VEVENT" {
				events = append(events, cur)
				cur = nil
			}
			continue
		}
		if cur != nil {
			cur[name] = value
		} else {
			cal[name] = value
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed components %v", stack)
	}
	return cal, events
}

func unescapeText(s string) string {
	return strings.NewReplacer(`\\`, `\`, `\;`, ";", `\,`, ",", `\n`, "\n").Replace(s)
}

func TestScheduleICal(t *testing.T) {
	// A long name with multi-byte characters and characters TEXT escapes
	// makes SUMMARY fold, possibly inside a character.
	long := "Ålice Ünderwood-Öztürk, Site Reliability; Platform & Payments — Berlin office 🌍"
	src := strings.Replace(oneSchedule("Europe/Berlin", `
layers:
  - {rotation: {type: daily, handoff: "09:00"}, start: 2026-03-25, participants: [alice, bob]}
overrides:
  - {user: dave, start: "2026-03-29T12:00", end: "2026-03-29T14:00"}
`), "name: Alice Liddell", "name: \""+long+"\"", 1)
	dir := load(t, src)
	from, to := parseAt(t, nil, "2026-03-27T00:00:00Z"), parseAt(t, nil, "2026-04-01T00:00:00Z")
	now := parseAt(t, nil, "2026-03-26T10:00:00Z")
	data, err := dir.ScheduleICal("s", from, to, now)
	if err != nil {
		t.Fatal(err)
	}
	cal, events := parseICal(t, data)
	if cal["VERSION"] != "2.0" || cal["PRODID"] == "" || cal["X-WR-CALNAME"] != "On call: s" {
		t.Errorf("calendar properties: %v", cal)
	}
	shifts, _ := dir.Shifts("s", from, to)
	if len(events) != len(shifts) || len(events) < 6 {
		t.Fatalf("%d events for %d shifts", len(events), len(shifts))
	}
	uids := map[string]bool{}
	folded := false
	for i, ev := range events {
		sh := shifts[i]
		if ev["DTSTART"] != sh.Start.UTC().Format("20060102T150405Z") || ev["DTEND"] != sh.End.UTC().Format("20060102T150405Z") {
			t.Errorf("event %d: %s-%s, shift %s", i, ev["DTSTART"], ev["DTEND"], shiftString(sh))
		}
		start, err1 := time.Parse("20060102T150405Z", ev["DTSTART"])
		end, err2 := time.Parse("20060102T150405Z", ev["DTEND"])
		if err1 != nil || err2 != nil || !start.Before(end) {
			t.Errorf("event %d: bad times %q %q", i, ev["DTSTART"], ev["DTEND"])
		}
		if ev["DTSTAMP"] != "20260326T100000Z" {
			t.Errorf("event %d: DTSTAMP %q", i, ev["DTSTAMP"])
		}
		if uids[ev["UID"]] || ev["UID"] == "" {
			t.Errorf("event %d: UID %q empty or repeated", i, ev["UID"])
		}
		uids[ev["UID"]] = true
		name := sh.User
		if sh.User == "alice" {
			name = long
			folded = true
		}
		if got := unescapeText(ev["SUMMARY"]); got != "On call: "+name {
			t.Errorf("event %d: SUMMARY %q", i, got)
		}
		if sh.Override != strings.Contains(ev["DESCRIPTION"], "override") {
			t.Errorf("event %d: DESCRIPTION %q for %s", i, ev["DESCRIPTION"], shiftString(sh))
		}
	}
	if !folded || !bytes.Contains(data, []byte("\r\n ")) {
		t.Error("no folded line was tested")
	}

	// The same shifts get the same UIDs from another range and in the
	// user's own feed.
	again, _ := dir.ScheduleICal("s", from.Add(30*time.Hour), to, now.Add(time.Hour))
	_, events2 := parseICal(t, again)
	for _, ev := range events2 {
		if !uids[ev["UID"]] {
			t.Errorf("UID %s of %s is new in a narrower range", ev["UID"], ev["DTSTART"])
		}
	}
	mine, err := dir.UserICal("alice", from, to, now)
	if err != nil {
		t.Fatal(err)
	}
	cal, events3 := parseICal(t, mine)
	if unescapeText(cal["X-WR-CALNAME"]) != "On call: "+long {
		t.Errorf("user calendar name %q", cal["X-WR-CALNAME"])
	}
	if len(events3) == 0 {
		t.Fatal("alice has no events")
	}
	for _, ev := range events3 {
		if !uids[ev["UID"]] || ev["SUMMARY"] != "On call: s" {
			t.Errorf("user event %v does not match the schedule's", ev)
		}
	}
}

func TestFoldLine(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("a", 75), strings.Repeat("a", 76), strings.Repeat("a", 300),
		"X:" + strings.Repeat("é", 100), "X:" + strings.Repeat("🌍", 40), "X:a" + strings.Repeat("€", 60),
	} {
		var b bytes.Buffer
		foldLine(&b, s)
		lines := strings.Split(strings.TrimSuffix(b.String(), "\r\n"), "\r\n")
		var joined strings.Builder
		for i, l := range lines {
			if len(l) > 75 || !utf8.ValidString(l) {
				t.Errorf("%d-octet input: line %d %q", len(s), i, l)
			}
			if i > 0 {
				if !strings.HasPrefix(l, " ") {
					t.Errorf("continuation %q lacks the space", l)
				}
				l = l[1:]
			}
			joined.WriteString(l)
		}
		if joined.String() != s {
			t.Errorf("unfolding does not give back %q", s)
		}
		if len(s) > 75 && len(lines) < 2 {
			t.Errorf("%d octets not folded", len(s))
		}
	}
}
