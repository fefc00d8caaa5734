package item

import (
	"testing"
	"time"
)

// FuzzParseCalendar: any input is refused with an Invalid or indexed;
// never a panic or a hang, and a recurring index always expands within
// the bounds.
func FuzzParseCalendar(f *testing.F) {
	f.Add(ics("BEGIN:VEVENT\nUID:a\nDTSTART:20260105T100000Z\nDTEND:20260105T110000Z\nEND:VEVENT\n"))
	f.Add(ics(berlinVTZ + "BEGIN:VEVENT\nUID:c\nDTSTART;TZID=Custom Berlin:20260705T100000\nRRULE:FREQ=WEEKLY;BYDAY=MO\nEND:VEVENT\n"))
	f.Add(ics("BEGIN:VEVENT\nUID:o\nDTSTART:20260105T100000Z\nRRULE:FREQ=DAILY;COUNT=5\nEXDATE:20260106T100000Z\nEND:VEVENT\nBEGIN:VEVENT\nUID:o\nRECURRENCE-ID:20260107T100000Z\nDTSTART:20260120T100000Z\nEND:VEVENT\n"))
	f.Add(ics("BEGIN:VTODO\nUID:t\nDUE;VALUE=DATE:20260105\nEND:VTODO\n"))
	f.Add(ics("BEGIN:VEVENT\nUID:s\nDTSTART:20000101T000000Z\nRRULE:FREQ=SECONDLY;BYSETPOS=3\nEND:VEVENT\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := ParseCalendar(data)
		if err != nil {
			if _, ok := err.(*Invalid); !ok {
				t.Fatalf("error %v is not an Invalid", err)
			}
			return
		}
		if idx.UID == "" {
			t.Fatal("indexed without UID")
		}
		if idx.Recurring {
			rec, err := DecodeRecurrence(idx.Recurrence)
			if err != nil {
				t.Fatal(err)
			}
			from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			exp, err := rec.Expand(from, from.AddDate(0, 2, 0), 0)
			if err == nil && len(exp.Instances) > MaxInstances {
				t.Fatalf("%d instances", len(exp.Instances))
			}
		}
	})
}

// FuzzParseContact: any input is refused with an Invalid or indexed.
func FuzzParseContact(f *testing.F) {
	f.Add([]byte("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:1\r\nFN:Jane\r\nEMAIL:j@x.test\r\nEND:VCARD\r\n"))
	f.Add([]byte("BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;John;;;\r\nFN:John\r\nTEL;TYPE=CELL:+1\r\nEND:VCARD\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, _, err := ParseContact(data, "fallback")
		if err != nil {
			if _, ok := err.(*Invalid); !ok {
				t.Fatalf("error %v is not an Invalid", err)
			}
			return
		}
		if idx.UID == "" {
			t.Fatal("indexed without UID")
		}
	})
}

// FuzzExpand: any RRULE text either fails to parse or expands within the
// bounds, quickly.
func FuzzExpand(f *testing.F) {
	for _, r := range []string{"FREQ=DAILY;COUNT=3", "FREQ=MONTHLY;BYDAY=-1FR;BYSETPOS=1", "FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO",
		"FREQ=SECONDLY", "FREQ=DAILY;BYSETPOS=2", "FREQ=MINUTELY;INTERVAL=7;BYHOUR=3"} {
		f.Add(r, "20200101T000000")
	}
	f.Fuzz(func(t *testing.T, rule, start string) {
		rec := &Recurrence{Start: start, RRule: rule, Duration: 3600}
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		exp, err := rec.Expand(from, from.AddDate(0, 1, 0), 0)
		if err == nil && len(exp.Instances) > MaxInstances {
			t.Fatalf("%d instances", len(exp.Instances))
		}
	})
}
