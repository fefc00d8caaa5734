package item

import (
	"errors"
	"strings"
	"testing"
)

const weekly = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20250101T000000Z\r\n" +
	"DTSTART;TZID=Europe/Berlin:20250106T100000\r\nDTEND;TZID=Europe/Berlin:20250106T113000\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\n" +
	"EXDATE;TZID=Europe/Berlin:20250113T100000\r\nSUMMARY:Weekly\r\nATTACH;MANAGED-ID=m1;VALUE=URI:https://h/webdav/a/f.pdf\r\n" +
	"BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\nEND:VALARM\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20250101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20250120T100000\r\n" +
	"DTSTART;TZID=Europe/Berlin:20250120T120000\r\nDTEND;TZID=Europe/Berlin:20250120T130000\r\nSUMMARY:Moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

// TestAddOverrides: an instance without a component gets one derived from
// the master (no rule, moved start and end, RECURRENCE-ID in DTSTART's
// form, the master's attachments and alarms); existing overrides and "M"
// are left; instances that do not exist are ErrNoInstance.
func TestAddOverrides(t *testing.T) {
	t.Parallel()
	// 2025-01-27 10:00 Berlin is 09:00 UTC.
	out, err := AddOverrides([]byte(weekly), []string{"M", "20250120T090000Z", "20250127T090000Z"})
	if err != nil {
		t.Fatal(err)
	}
	comps, atts := Attachments(out)
	if len(comps) != 3 || comps[1].RecurrenceID != "20250127T100000" || comps[1].RecurrenceTZID != "Europe/Berlin" {
		t.Fatalf("components %+v\n%s", comps, out)
	}
	if len(atts) != 2 || atts[1].Comp != 1 || atts[1].ManagedID() != "m1" { // the new one is the master's neighbour
		t.Fatalf("attachments %+v\n%s", atts, out)
	}
	want := "BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20250101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20250127T100000\r\n" +
		"RECURRENCE-ID;TZID=Europe/Berlin:20250127T100000\r\nDTEND;TZID=Europe/Berlin:20250127T113000\r\nSUMMARY:Weekly\r\n" +
		"ATTACH;MANAGED-ID=m1;VALUE=URI:https://h/webdav/a/f.pdf\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\n" +
		"DESCRIPTION:x\r\nEND:VALARM\r\nEND:VEVENT\r\n"
	if !strings.Contains(string(out), "END:VEVENT\r\n"+want+"BEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20250101T000000Z\r\nRECURRENCE-ID") {
		t.Fatalf("override text:\n%s", out)
	}
	if _, err := ParseCalendar(out); err != nil {
		t.Fatalf("result does not index: %v", err)
	}
	// The result recurs as before; the new override replaces its instance.
	if again, err := AddOverrides(out, []string{"20250127T090000Z"}); err != nil || string(again) != string(out) {
		t.Fatalf("second call changed the data: %v", err)
	}
	for _, rid := range []string{"20250113T090000Z", "20250127T100000Z", "20260105T090000Z", "bogus", "20250127"} {
		if _, err := AddOverrides([]byte(weekly), []string{rid}); !errors.Is(err, ErrNoInstance) {
			t.Errorf("rid %s: %v, want ErrNoInstance", rid, err)
		}
	}
	single := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:s1\r\nDTSTAMP:20250101T000000Z\r\n" +
		"DTSTART:20250106T090000Z\r\nDTEND:20250106T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	if _, err := AddOverrides([]byte(single), []string{"20250106T090000Z"}); !errors.Is(err, ErrNoInstance) {
		t.Errorf("non-recurring item: %v", err)
	}
}

// TestAddOverridesForms: UTC and all-day masters.
func TestAddOverridesForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, start, end, rid, want string
	}{
		{"utc", "DTSTART:20250106T100000Z", "DTEND:20250106T110000Z", "20250108T100000Z",
			"DTSTART:20250108T100000Z\r\nRECURRENCE-ID:20250108T100000Z\r\nDTEND:20250108T110000Z\r\n"},
		{"all day", "DTSTART;VALUE=DATE:20250106", "DTEND;VALUE=DATE:20250107", "20250109",
			"DTSTART;VALUE=DATE:20250109\r\nRECURRENCE-ID;VALUE=DATE:20250109\r\nDTEND;VALUE=DATE:20250110\r\n"},
	} {
		data := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:d1\r\nDTSTAMP:20250101T000000Z\r\n" +
			tc.start + "\r\n" + tc.end + "\r\nRRULE:FREQ=DAILY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
		out, err := AddOverrides([]byte(data), []string{tc.rid})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !strings.Contains(string(out), "DTSTAMP:20250101T000000Z\r\n"+tc.want+"END:VEVENT\r\nEND:VCALENDAR") {
			t.Fatalf("%s:\n%s", tc.name, out)
		}
		comps, _ := Attachments(out)
		if len(comps) != 2 || !MatchRID(comps[1], []string{tc.rid}) {
			t.Fatalf("%s: %+v", tc.name, comps)
		}
	}
}

// FuzzAddOverrides: any data and recurrence ID: no panic; a result is the
// input with text added after the master, never anything removed.
func FuzzAddOverrides(f *testing.F) {
	f.Add([]byte(weekly), "20250127T090000Z")
	f.Add([]byte(weekly), "M")
	f.Add([]byte(strings.ReplaceAll(weekly, "\r\n", "\n")), "20250203T090000Z")
	f.Add([]byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20250101\r\nRRULE:FREQ=DAILY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"), "20250102")
	f.Fuzz(func(t *testing.T, data []byte, rid string) {
		out, err := AddOverrides(data, strings.Split(rid, ","))
		if err != nil {
			return
		}
		if len(out) < len(data) {
			t.Fatalf("data lost: %d -> %d bytes", len(data), len(out))
		}
	})
}
