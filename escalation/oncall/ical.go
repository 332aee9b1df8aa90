package oncall

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// The feed is written by hand: it is a few properties, and the Go
// iCalendar libraries either do not fold lines (emersion/go-ical) or have
// had folding bugs with multi-byte text (arran4/golang-ical).

// ScheduleICal returns an RFC 5545 calendar of the schedule's shifts that
// overlap [from, to). now is the DTSTAMP of every event.
func (d *Directory) ScheduleICal(scheduleID string, from, to, now time.Time) ([]byte, error) {
	shifts, err := d.Shifts(scheduleID, from, to)
	if err != nil {
		return nil, err
	}
	return writeICal("On call: "+scheduleID, shifts, now, func(sh Shift) string {
		return "On call: " + d.displayName(sh.User)
	}), nil
}

// UserICal returns an RFC 5545 calendar of the user's shifts, in every
// schedule, that overlap [from, to). now is the DTSTAMP of every event.
func (d *Directory) UserICal(userID string, from, to, now time.Time) ([]byte, error) {
	shifts, err := d.UserShifts(userID, from, to)
	if err != nil {
		return nil, err
	}
	return writeICal("On call: "+d.displayName(userID), shifts, now, func(sh Shift) string {
		return "On call: " + sh.Schedule
	}), nil
}

func (d *Directory) displayName(id string) string {
	if u, ok := d.users[id]; ok && u.Name != "" {
		return u.Name
	}
	return id
}

// writeICal renders one VEVENT per shift, with UTC times, CRLF line ends
// and lines folded at 75 octets.
func writeICal(name string, shifts []Shift, now time.Time, summary func(Shift) string) []byte {
	var b bytes.Buffer
	line := func(prop, value string) { foldLine(&b, prop+":"+value) }
	line("BEGIN", "VCALENDAR")
	line("VERSION", "2.0")
	line("PRODID", "-//incidentd//on-call//EN")
	line("CALSCALE", "GREGORIAN")
	line("METHOD", "PUBLISH")
	line("X-WR-CALNAME", escapeText(name))
	for _, sh := range shifts {
		line("BEGIN", "VEVENT")
		line("UID", shiftUID(sh))
		line("DTSTAMP", icalTime(now))
		line("DTSTART", icalTime(sh.Start))
		line("DTEND", icalTime(sh.End))
		line("SUMMARY", escapeText(summary(sh)))
		line("DESCRIPTION", escapeText(describe(sh)))
		line("END", "VEVENT")
	}
	line("END", "VCALENDAR")
	return b.Bytes()
}

func describe(sh Shift) string {
	if sh.Override {
		return fmt.Sprintf("%s is on call for schedule %s (override).", sh.User, sh.Schedule)
	}
	return fmt.Sprintf("%s is on call for schedule %s (layer %d).", sh.User, sh.Schedule, sh.Layer+1)
}

// shiftUID is the same for the same shift whatever range or feed it is
// listed in, so calendar clients update events instead of duplicating
// them.
func shiftUID(sh Shift) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%s\x00%d\x00%d\x00%d", sh.Schedule, sh.User, sh.Layer, sh.Start.Unix(), sh.End.Unix()))
	return hex.EncodeToString(h[:16]) + "@incidentd"
}

func icalTime(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// escapeText escapes a TEXT value (RFC 5545 3.3.11).
func escapeText(s string) string {
	return strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`).Replace(s)
}

// foldLine writes a content line in pieces of at most 75 octets, each
// continuation starting with a space (RFC 5545 3.1), never splitting a
// UTF-8 character.
func foldLine(b *bytes.Buffer, s string) {
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut])
		b.WriteString("\r\n ")
		s = s[cut:]
		limit = 74 // the leading space counts
	}
	b.WriteString(s)
	b.WriteString("\r\n")
}
