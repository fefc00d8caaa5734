package dav

import (
	"strings"
	"testing"
)

const berlinTZ = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n"
const newYorkTZ = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n"

// TestFloatingTimes: floating times (no TZID, no "Z"; all-day dates) are
// read in the calendar's CALDAV:calendar-timezone (RFC 4791 5.2.2, 9.9) —
// or in the query's CALDAV:timezone (9.8) — by calendar-query time
// ranges, expand and free/busy; without either they are UTC.
func TestFloatingTimes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cal := "/dav/calendars/jane@example.test/Calendar/"
	put := func(name, body string) {
		t.Helper()
		if r, b := e.do(t, "jane@example.test", "PUT", cal+name, map[string]string{"Content-Type": "text/calendar"}, body); r.StatusCode != 201 {
			t.Fatalf("PUT %s: %d %s", name, r.StatusCode, b)
		}
	}
	// 00:30 floating on 2 March: 23:30Z on 1 March in Berlin (UTC+1).
	put("night.ics", event("night", "Night", "20260302T003000", "20260302T013000", ""))
	put("day.ics", strings.ReplaceAll(event("day", "Day", "X", "X", ""), "DTSTART:X\r\nDTEND:X\r\n", "DTSTART;VALUE=DATE:20260305\r\n"))
	query := func(start, end, extra string) string {
		t.Helper()
		r, b := e.do(t, "jane@example.test", "REPORT", cal, map[string]string{"Depth": "1"},
			`<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>`+
				`<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="`+start+`" end="`+end+`"/>`+
				`</C:comp-filter></C:comp-filter></C:filter>`+extra+`</C:calendar-query>`)
		if r.StatusCode != 207 {
			t.Fatalf("query: %d %s", r.StatusCode, b)
		}
		return b
	}
	// No calendar-timezone: floating is UTC.
	if b := query("20260302T004500Z", "20260302T010000Z", ""); !strings.Contains(b, "night.ics") {
		t.Fatalf("UTC reading: %s", b)
	}
	// The calendar's time zone: Berlin.
	pp := func(value string) (int, string) {
		r, b := e.do(t, "jane@example.test", "PROPPATCH", cal, nil,
			`<D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><C:calendar-timezone>`+value+`</C:calendar-timezone></D:prop></D:set></D:propertyupdate>`)
		return r.StatusCode, b
	}
	if code, b := pp("not a time zone"); code != 207 || !strings.Contains(b, "403 Forbidden") {
		t.Fatalf("bad calendar-timezone: %d %s", code, b)
	}
	if code, b := pp(strings.ReplaceAll(berlinTZ, "\r", "&#13;")); code != 207 || !strings.Contains(b, "200 OK") {
		t.Fatalf("calendar-timezone: %d %s", code, b)
	}
	if r, b := e.do(t, "jane@example.test", "PROPFIND", cal, map[string]string{"Depth": "0"},
		`<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-timezone/></D:prop></D:propfind>`); r.StatusCode != 207 || !strings.Contains(b, "TZID:Europe/Berlin") {
		t.Fatalf("PROPFIND calendar-timezone: %s", b)
	}
	if b := query("20260302T004500Z", "20260302T010000Z", ""); strings.Contains(b, "night.ics") {
		t.Fatalf("Berlin: 00:30-01:30 floating matched 00:45Z-01:00Z: %s", b)
	}
	if b := query("20260301T230000Z", "20260301T235900Z", ""); !strings.Contains(b, "night.ics") {
		t.Fatalf("Berlin: 00:30 floating is not 23:30Z: %s", b)
	}
	// The all-day 5 March starts at 23:00Z on the 4th in Berlin.
	if b := query("20260304T233000Z", "20260304T234500Z", ""); !strings.Contains(b, "day.ics") {
		t.Fatalf("Berlin: all-day: %s", b)
	}
	if b := query("20260305T233000Z", "20260305T234500Z", ""); strings.Contains(b, "day.ics") {
		t.Fatalf("Berlin: all-day ends at 23:00Z: %s", b)
	}
	// The query's own time zone wins: New York (UTC-5): 05:30Z.
	tz := "<C:timezone>" + strings.ReplaceAll(newYorkTZ, "\r", "&#13;") + "</C:timezone>"
	if b := query("20260302T050000Z", "20260302T060000Z", tz); !strings.Contains(b, "night.ics") {
		t.Fatalf("New York: %s", b)
	}
	if r, b := e.do(t, "jane@example.test", "REPORT", cal, map[string]string{"Depth": "1"},
		`<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter><C:timezone>nonsense</C:timezone></C:calendar-query>`); r.StatusCode != 403 || !strings.Contains(b, "valid-calendar-data") {
		t.Fatalf("bad request time zone: %d %s", r.StatusCode, b)
	}
	// expand: the floating start in UTC as Berlin reads it; dates stay dates.
	r, b := e.do(t, "jane@example.test", "REPORT", cal, map[string]string{"Depth": "1"},
		`<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data><C:expand start="20260301T000000Z" end="20260310T000000Z"/></C:calendar-data></D:prop>`+
			`<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260301T000000Z" end="20260310T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`)
	if r.StatusCode != 207 || !strings.Contains(b, "DTSTART:20260301T233000Z") || !strings.Contains(b, "DTSTART;VALUE=DATE:20260305") {
		t.Fatalf("expand: %s", b)
	}
	// Free/busy reads the calendar's zone too.
	r, b = e.do(t, "jane@example.test", "GET", "/freebusy/?jane@example.test&start=20260301T000000Z&end=20260303T000000Z", nil, "")
	if r.StatusCode != 200 || !strings.Contains(b, "FREEBUSY;FBTYPE=BUSY:20260301T233000Z/20260302T003000Z") {
		t.Fatalf("free/busy: %d %s", r.StatusCode, b)
	}
}
