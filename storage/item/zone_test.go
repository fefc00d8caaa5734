package item

import (
	"testing"
	"time"
)

// TestFloatingIndex: an item whose start carries no zone is indexed as
// floating (its times as wall clock written as UTC); UTC and zoned ones
// are not.
func TestFloatingIndex(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		comp     string
		floating bool
	}{
		{"BEGIN:VEVENT\nUID:f\nDTSTART:20260302T100000\nDTEND:20260302T110000\nEND:VEVENT\n", true},
		{"BEGIN:VEVENT\nUID:d\nDTSTART;VALUE=DATE:20260302\nEND:VEVENT\n", true},
		{"BEGIN:VEVENT\nUID:u\nDTSTART:20260302T100000Z\nEND:VEVENT\n", false},
		{"BEGIN:VEVENT\nUID:z\nDTSTART;TZID=Europe/Berlin:20260302T100000\nEND:VEVENT\n", false},
		{"BEGIN:VTODO\nUID:t\nDUE:20260302T100000\nEND:VTODO\n", true},
		{"BEGIN:VTODO\nUID:n\nEND:VTODO\n", false},
	} {
		cal, err := DecodeCalendar(ics(tc.comp))
		if err != nil {
			t.Fatal(err)
		}
		idx, err := IndexCalendar(cal)
		if err != nil {
			t.Fatal(err)
		}
		if idx.Floating != tc.floating {
			t.Errorf("%s: Floating %v, want %v", idx.UID, idx.Floating, tc.floating)
		}
		if idx.UID == "f" && !idx.Start.Equal(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) {
			t.Errorf("floating start %v, want the wall clock as UTC", idx.Start)
		}
	}
}

func TestParseTimezone(t *testing.T) {
	t.Parallel()
	wall := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	berlin := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n"
	z, id, err := ParseTimezone([]byte(berlin))
	if err != nil || id != "Europe/Berlin" || !z.ToUTC(wall).Equal(time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("Berlin: %v %q %v", z.ToUTC(wall), id, err)
	}
	// A zone known only by its rules (UTC-5, daylight UTC-4 from the
	// second Sunday of March to the first of November).
	custom := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VTIMEZONE\r\nTZID:My Eastern\r\n" +
		"BEGIN:STANDARD\r\nDTSTART:19671029T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\n" +
		"BEGIN:DAYLIGHT\r\nDTSTART:19870405T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\n" +
		"END:VTIMEZONE\r\nEND:VCALENDAR\r\n"
	z, id, err = ParseTimezone([]byte(custom))
	if err != nil || id != "My Eastern" || !z.ToUTC(wall).Equal(time.Date(2026, 7, 1, 16, 0, 0, 0, time.UTC)) {
		t.Fatalf("custom: %v %q %v", z.ToUTC(wall), id, err)
	}
	if !(Zone{}).ToUTC(wall).Equal(wall) {
		t.Fatal("the zero Zone is not UTC")
	}
	for _, bad := range []string{
		"not ical",
		"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nEND:VCALENDAR\r\n",
		"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VTIMEZONE\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n",
		"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Nowhere/Special\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n",
		"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
	} {
		if _, _, err := ParseTimezone([]byte(bad)); err == nil {
			t.Errorf("ParseTimezone(%q) accepted", bad)
		}
	}
}

// FuzzParseTimezone: any input is refused or gives a zone that converts
// times without panicking.
func FuzzParseTimezone(f *testing.F) {
	f.Add([]byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n"))
	f.Add([]byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\nTZID:X\r\nBEGIN:STANDARD\r\nDTSTART:19671029T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nEND:VCALENDAR\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		z, _, err := ParseTimezone(data)
		if err != nil {
			return
		}
		_ = z.ToUTC(time.Date(2026, 3, 29, 2, 30, 0, 0, time.UTC))
	})
}
