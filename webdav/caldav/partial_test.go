package caldav

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/floemail/floe/storage/item"
	"github.com/floemail/floe/webdav/davxml"
)

// calendarData parses a <C:calendar-data> element written with the C
// prefix bound to CalDAV.
func calendarData(t testing.TB, inner string) []davxml.Any {
	t.Helper()
	var a davxml.Any
	if err := xml.Unmarshal([]byte(`<C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav">`+inner+`</C:calendar-data>`), &a); err != nil {
		t.Fatal(err)
	}
	return a.Children
}

const partialCal = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" +
	"BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n" +
	"BEGIN:VEVENT\r\nUID:p1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260302T100000\r\nDTEND;TZID=Europe/Berlin:20260302T110000\r\n" +
	"SUMMARY:Budget\r\nDESCRIPTION:Secret numbers\r\nLOCATION:Room 7\r\n" +
	"BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:soon\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

// TestSelect: the RFC 4791 7.8.1 kind of request: VERSION, some VEVENT
// properties, the whole VTIMEZONE; novalue; allprop and allcomp.
func TestSelect(t *testing.T) {
	t.Parallel()
	cal, err := item.DecodeCalendar([]byte(partialCal))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, sel   string
		want, unwan []string
	}{
		{"rfc example", `<C:comp name="VCALENDAR"><C:prop name="VERSION"/><C:comp name="VEVENT"><C:prop name="SUMMARY"/><C:prop name="UID"/>` +
			`<C:prop name="DTSTART"/><C:prop name="DTEND"/></C:comp><C:comp name="VTIMEZONE"/></C:comp>`,
			[]string{"VERSION:2.0", "SUMMARY:Budget", "UID:p1", "DTSTART;TZID=Europe/Berlin:20260302T100000", "TZOFFSETTO:+0100", "BEGIN:STANDARD"},
			[]string{"PRODID", "DESCRIPTION", "LOCATION", "VALARM", "DTSTAMP"}},
		{"novalue", `<C:comp name="VCALENDAR"><C:comp name="VEVENT"><C:prop name="uid"/><C:prop name="description" novalue="yes"/></C:comp></C:comp>`,
			[]string{"UID:p1", "DESCRIPTION:\r\n"},
			[]string{"Secret", "VERSION", "VTIMEZONE", "SUMMARY"}},
		{"allprop no comps", `<C:comp name="VCALENDAR"><C:allprop/><C:comp name="VEVENT"><C:allprop/></C:comp></C:comp>`,
			[]string{"PRODID", "SUMMARY:Budget", "LOCATION:Room 7"},
			[]string{"VALARM", "VTIMEZONE"}},
		{"allcomp", `<C:comp name="VCALENDAR"><C:prop name="VERSION"/><C:allcomp/></C:comp>`,
			[]string{"VERSION", "SUMMARY:Budget", "BEGIN:VALARM", "BEGIN:VTIMEZONE"},
			[]string{"PRODID"}},
		{"whole event", `<C:comp name="VCALENDAR"><C:comp name="VEVENT"/></C:comp>`,
			[]string{"SUMMARY:Budget", "BEGIN:VALARM", "TRIGGER:-PT15M"},
			[]string{"VERSION", "VTIMEZONE"}},
	} {
		sel, err := ParseSelection(calendarData(t, tc.sel))
		if err != nil || sel == nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		out, err := Select(cal, sel)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := string(out)
		if !strings.HasPrefix(got, "BEGIN:VCALENDAR\r\n") || !strings.HasSuffix(got, "END:VCALENDAR\r\n") {
			t.Errorf("%s: not a calendar: %q", tc.name, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: no %q in\n%s", tc.name, w, got)
			}
		}
		for _, u := range tc.unwan {
			if strings.Contains(got, u) {
				t.Errorf("%s: %q should be gone from\n%s", tc.name, u, got)
			}
		}
	}
	if sel, err := ParseSelection(calendarData(t, `<C:expand start="20260101T000000Z" end="20260201T000000Z"/>`)); sel != nil || err != nil {
		t.Fatalf("no comp: %v %v", sel, err)
	}
}

func TestParseSelectionErrors(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		`<C:comp name="VEVENT"/>`,
		`<C:comp name="VCALENDAR"/><C:comp name="VCALENDAR"/>`,
		`<C:comp/>`,
		`<C:comp name="VCALENDAR"><C:prop/></C:comp>`,
		`<C:comp name="VCALENDAR"><C:allprop/><C:prop name="VERSION"/></C:comp>`,
		`<C:comp name="VCALENDAR"><C:allcomp/><C:comp name="VEVENT"/></C:comp>`,
		`<C:comp name="VCALENDAR"><C:prop name="X" novalue="maybe"/></C:comp>`,
		`<C:comp name="VCALENDAR">` + strings.Repeat(`<C:comp name="X">`, 9) + strings.Repeat(`</C:comp>`, 9) + `</C:comp>`,
	} {
		if _, err := ParseSelection(calendarData(t, bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// FuzzParseSelection: any calendar-data element is refused or gives a
// selection that applies to a calendar without panicking.
func FuzzParseSelection(f *testing.F) {
	f.Add(`<C:comp name="VCALENDAR"><C:prop name="VERSION"/><C:comp name="VEVENT"><C:prop name="SUMMARY" novalue="yes"/></C:comp><C:comp name="VTIMEZONE"/></C:comp>`)
	f.Add(`<C:comp name="VCALENDAR"><C:allprop/><C:allcomp/></C:comp>`)
	cal, err := item.DecodeCalendar([]byte(partialCal))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, inner string) {
		var a davxml.Any
		if xml.Unmarshal([]byte(`<C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav">`+inner+`</C:calendar-data>`), &a) != nil {
			return
		}
		sel, err := ParseSelection(a.Children)
		if err != nil || sel == nil {
			return
		}
		if _, err := Select(cal, sel); err != nil {
			t.Fatalf("%q: %v", inner, err)
		}
	})
}
