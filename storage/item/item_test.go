package item

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
)

func ics(body string) []byte {
	return []byte(strings.ReplaceAll("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n"+body+"END:VCALENDAR\n", "\n", "\r\n"))
}

const berlinVTZ = `BEGIN:VTIMEZONE
TZID:Custom Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
`

func utc(s string) time.Time {
	t, err := time.Parse("20060102T150405Z", s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseCalendar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		data       []byte
		pre        string // expected precondition, "" = valid
		kind       storage.ItemKind
		start, end string
		recurring  bool
		endless    bool
	}{
		{"utc event", ics("BEGIN:VEVENT\nUID:a\nDTSTAMP:20260101T000000Z\nDTSTART:20260105T100000Z\nDTEND:20260105T110000Z\nSUMMARY:Meet\nEND:VEVENT\n"),
			"", storage.ItemEvent, "20260105T100000Z", "20260105T110000Z", false, false},
		{"iana tz", ics("BEGIN:VEVENT\nUID:b\nDTSTART;TZID=Europe/Berlin:20260705T100000\nDURATION:PT30M\nEND:VEVENT\n"),
			"", storage.ItemEvent, "20260705T080000Z", "20260705T083000Z", false, false},
		{"mozilla prefixed tz", ics("BEGIN:VEVENT\nUID:b2\nDTSTART;TZID=/mozilla.org/20050126_1/Europe/Berlin:20260105T100000\nEND:VEVENT\n"),
			"", storage.ItemEvent, "20260105T090000Z", "20260105T090000Z", false, false},
		{"windows tz", ics("BEGIN:VEVENT\nUID:b3\nDTSTART;TZID=W. Europe Standard Time:20260105T100000\nDTEND;TZID=W. Europe Standard Time:20260105T120000\nEND:VEVENT\n"),
			"", storage.ItemEvent, "20260105T090000Z", "20260105T110000Z", false, false},
		{"custom vtimezone summer", ics(berlinVTZ + "BEGIN:VEVENT\nUID:c\nDTSTART;TZID=Custom Berlin:20260705T100000\nDTEND;TZID=Custom Berlin:20260705T110000\nEND:VEVENT\n"),
			"", storage.ItemEvent, "20260705T080000Z", "20260705T090000Z", false, false},
		{"custom vtimezone winter", ics(berlinVTZ + "BEGIN:VEVENT\nUID:c2\nDTSTART;TZID=Custom Berlin:20260105T100000\nEND:VEVENT\n"),
			"", storage.ItemEvent, "20260105T090000Z", "20260105T090000Z", false, false},
		{"all day", ics("BEGIN:VEVENT\nUID:d\nDTSTART;VALUE=DATE:20260105\nEND:VEVENT\n"),
			"", storage.ItemEvent, "20260105T000000Z", "20260106T000000Z", false, false},
		{"weekly count", ics("BEGIN:VEVENT\nUID:e\nDTSTART:20260105T100000Z\nDTEND:20260105T110000Z\nRRULE:FREQ=WEEKLY;COUNT=3\nEND:VEVENT\n"),
			"", storage.ItemEvent, "20260105T100000Z", "20260119T110000Z", true, false},
		{"daily endless", ics("BEGIN:VEVENT\nUID:f\nDTSTART:20260105T100000Z\nRRULE:FREQ=DAILY\nEND:VEVENT\n"),
			"", storage.ItemEvent, "20260105T100000Z", "", true, true},
		{"todo due", ics("BEGIN:VTODO\nUID:g\nDUE:20260105T100000Z\nEND:VTODO\n"),
			"", storage.ItemTodo, "20260105T100000Z", "20260105T100000Z", false, false},
		{"journal", ics("BEGIN:VJOURNAL\nUID:h\nSUMMARY:note\nEND:VJOURNAL\n"), "", storage.ItemJournal, "", "", false, false},
		{"method", ics("METHOD:REQUEST\nBEGIN:VEVENT\nUID:i\nDTSTART:20260105T100000Z\nEND:VEVENT\n"), PreValidCalendarObject, "", "", "", false, false},
		{"no uid", ics("BEGIN:VEVENT\nDTSTART:20260105T100000Z\nEND:VEVENT\n"), PreValidCalendarObject, "", "", "", false, false},
		{"two uids", ics("BEGIN:VEVENT\nUID:x\nDTSTART:20260105T100000Z\nEND:VEVENT\nBEGIN:VEVENT\nUID:y\nDTSTART:20260105T100000Z\nEND:VEVENT\n"), PreValidCalendarObject, "", "", "", false, false},
		{"mixed", ics("BEGIN:VEVENT\nUID:x\nDTSTART:20260105T100000Z\nEND:VEVENT\nBEGIN:VTODO\nUID:x\nEND:VTODO\n"), PreValidCalendarObject, "", "", "", false, false},
		{"vfreebusy", ics("BEGIN:VFREEBUSY\nUID:x\nEND:VFREEBUSY\n"), PreSupportedComponent, "", "", "", false, false},
		{"garbage", []byte("hello"), PreValidCalendarData, "", "", "", false, false},
		{"unknown tz", ics("BEGIN:VEVENT\nUID:x\nDTSTART;TZID=Nowhere/Land:20260105T100000\nEND:VEVENT\n"), PreValidCalendarData, "", "", "", false, false},
		{"end before start", ics("BEGIN:VEVENT\nUID:x\nDTSTART:20260105T100000Z\nDTEND:20260105T090000Z\nEND:VEVENT\n"), PreValidCalendarData, "", "", "", false, false},
		{"bad rrule", ics("BEGIN:VEVENT\nUID:x\nDTSTART:20260105T100000Z\nRRULE:FREQ=SOMETIMES\nEND:VEVENT\n"), PreValidCalendarData, "", "", "", false, false},
		{"deep nesting", ics(strings.Repeat("BEGIN:X\n", 20) + strings.Repeat("END:X\n", 20)), PreValidCalendarData, "", "", "", false, false},
		{"no version", []byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260105T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"), PreValidCalendarData, "", "", "", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			idx, err := ParseCalendar(tc.data)
			if tc.pre != "" {
				var inv *Invalid
				if !errors.As(err, &inv) || inv.Precondition != tc.pre {
					t.Fatalf("err = %v, want precondition %s", err, tc.pre)
				}
				if !errors.Is(err, storage.ErrInvalid) || inv.Reason == "" {
					t.Fatalf("err %v: not ErrInvalid or no reason", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if idx.Kind != tc.kind || idx.Recurring != tc.recurring {
				t.Fatalf("kind %s recurring %v", idx.Kind, idx.Recurring)
			}
			if tc.start != "" && !idx.Start.Equal(utc(tc.start)) {
				t.Errorf("start %v, want %s", idx.Start, tc.start)
			}
			if tc.end != "" && !idx.End.Equal(utc(tc.end)) {
				t.Errorf("end %v, want %s", idx.End, tc.end)
			}
			if tc.endless && !idx.End.Equal(storage.ItemEndless) {
				t.Errorf("end %v, want endless", idx.End)
			}
		})
	}
}

func expandAll(t *testing.T, data []byte, from, to string, max int) Expansion {
	t.Helper()
	idx, err := ParseCalendar(data)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := DecodeRecurrence(idx.Recurrence)
	if err != nil {
		t.Fatal(err)
	}
	var f, e time.Time
	if from != "" {
		f = utc(from)
	}
	if to != "" {
		e = utc(to)
	}
	exp, err := rec.Expand(f, e, max)
	if err != nil {
		t.Fatal(err)
	}
	return exp
}

func starts(exp Expansion) string {
	var s []string
	for _, in := range exp.Instances {
		s = append(s, in.Start.Format("0102T1504"))
	}
	return strings.Join(s, " ")
}

func TestExpand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, from, to, want string
	}{
		{"weekly byday", "DTSTART:20260105T100000Z\nRRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=4", "", "", "0105T1000 0107T1000 0112T1000 0114T1000"},
		{"monthly last weekday", "DTSTART:20260130T090000Z\nRRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=3", "", "", "0130T0900 0227T0900 0331T0900"},
		{"monthly second tuesday", "DTSTART:20260113T090000Z\nRRULE:FREQ=MONTHLY;BYDAY=2TU;COUNT=2", "", "", "0113T0900 0210T0900"},
		{"yearly default", "DTSTART:20260301T090000Z\nRRULE:FREQ=YEARLY;COUNT=2", "", "", "0301T0900 0301T0900"},
		{"exdate", "DTSTART:20260105T100000Z\nRRULE:FREQ=DAILY;COUNT=3\nEXDATE:20260106T100000Z", "", "", "0105T1000 0107T1000"},
		{"rdate", "DTSTART:20260105T100000Z\nRRULE:FREQ=DAILY;COUNT=1\nRDATE:20260110T100000Z", "", "", "0105T1000 0110T1000"},
		{"until", "DTSTART:20260105T100000Z\nRRULE:FREQ=DAILY;UNTIL=20260107T100000Z", "", "", "0105T1000 0106T1000 0107T1000"},
		{"window", "DTSTART:20200105T100000Z\nRRULE:FREQ=DAILY", "20260301T000000Z", "20260303T000000Z", "0301T1000 0302T1000"},
		{"dst in zone", "DTSTART;TZID=Europe/Berlin:20260327T100000\nRRULE:FREQ=DAILY;COUNT=3", "", "", "0327T0900 0328T0900 0329T0800"},
		{"monthly 31st skips", "DTSTART:20260131T100000Z\nRRULE:FREQ=MONTHLY;COUNT=3", "", "", "0131T1000 0331T1000 0531T1000"},
		{"interval weeks", "DTSTART:20260105T100000Z\nRRULE:FREQ=WEEKLY;INTERVAL=2;COUNT=3", "", "", "0105T1000 0119T1000 0202T1000"},
		{"hourly", "DTSTART:20260105T100000Z\nRRULE:FREQ=HOURLY;INTERVAL=6;COUNT=3", "", "", "0105T1000 0105T1600 0105T2200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := expandAll(t, ics("BEGIN:VEVENT\nUID:r\n"+tc.body+"\nEND:VEVENT\n"), tc.from, tc.to, 0)
			if got := starts(exp); got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestExpandOverride: an overridden instance moves, keeps its own
// transparency and status, and one moved into the window appears.
func TestExpandOverride(t *testing.T) {
	t.Parallel()
	data := ics("BEGIN:VEVENT\nUID:o\nDTSTART:20260105T100000Z\nDTEND:20260105T110000Z\nRRULE:FREQ=DAILY;COUNT=5\nEND:VEVENT\n" +
		"BEGIN:VEVENT\nUID:o\nRECURRENCE-ID:20260106T100000Z\nDTSTART:20260106T150000Z\nDTEND:20260106T160000Z\nSTATUS:TENTATIVE\nEND:VEVENT\n" +
		"BEGIN:VEVENT\nUID:o\nRECURRENCE-ID:20260107T100000Z\nDTSTART:20260120T100000Z\nDTEND:20260120T110000Z\nEND:VEVENT\n")
	exp := expandAll(t, data, "", "", 0)
	if got := starts(exp); got != "0105T1000 0106T1500 0108T1000 0109T1000 0120T1000" {
		t.Fatalf("got %s", got)
	}
	if exp.Instances[1].Status != "TENTATIVE" || !exp.Instances[1].Overridden {
		t.Fatalf("override lost: %+v", exp.Instances[1])
	}
	exp = expandAll(t, data, "20260119T000000Z", "20260121T000000Z", 0)
	if got := starts(exp); got != "0120T1000" {
		t.Fatalf("moved override in window: got %q", got)
	}
}

// TestExpandBounded: rules that would run forever or produce millions of
// instances are cut off at a bound, quickly (the test would time out
// otherwise), with Truncated set.
func TestExpandBounded(t *testing.T) {
	t.Parallel()
	for _, rule := range []string{
		"FREQ=SECONDLY",
		"FREQ=SECONDLY;COUNT=10000000",
		"FREQ=DAILY;BYSETPOS=2",
		"FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30",
		"FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
		"FREQ=YEARLY;BYHOUR=0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23;BYMINUTE=0,10,20,30,40,50;BYSECOND=0,30",
	} {
		t.Run(rule, func(t *testing.T) {
			data := ics("BEGIN:VEVENT\nUID:b\nDTSTART:20000101T000000Z\nRRULE:" + rule + "\nEND:VEVENT\n")
			exp := expandAll(t, data, "20260101T000000Z", "20260301T000000Z", 0)
			if len(exp.Instances) > MaxInstances {
				t.Fatalf("%d instances", len(exp.Instances))
			}
			if len(exp.Instances) == MaxInstances && !exp.Truncated {
				t.Fatal("at the bound but not truncated")
			}
		})
	}
}

func TestContact(t *testing.T) {
	t.Parallel()
	v4 := "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:1\r\nFN:Jane Doe\r\nN:Doe;Jane;;;\r\nEMAIL:Jane@Example.test\r\nTEL:+1 555\r\nEND:VCARD\r\n"
	idx, out, err := ParseContact([]byte(v4), "")
	if err != nil {
		t.Fatal(err)
	}
	if idx.Summary != "Jane Doe" || idx.Emails[0] != "jane@example.test" || idx.Phones[0] != "+1 555" || !bytes.Equal(out, []byte(v4)) {
		t.Fatalf("%+v", idx)
	}
	if idx.DefaultName == "" || strings.ContainsAny(idx.DefaultName, ":/") {
		t.Fatalf("default name %q", idx.DefaultName)
	}
	v3 := "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:John\r\nEND:VCARD\r\n"
	idx, out, err = ParseContact([]byte(v3), "fallback-1")
	if err != nil || idx.UID != "fallback-1" || bytes.Equal(out, []byte(v3)) || !bytes.Contains(out, []byte("UID:fallback-1")) {
		t.Fatalf("%v %+v %q", err, idx, out)
	}
	for data, pre := range map[string]string{
		v3: PreValidAddressData, // no UID, no fallback
		"BEGIN:VCARD\r\nVERSION:2.1\r\nUID:x\r\nFN:x\r\nEND:VCARD\r\n": PreSupportedAddressData,
		"hello": PreValidAddressData,
		v4 + v4: PreValidAddressData,
	} {
		var inv *Invalid
		if _, _, err := ParseContact([]byte(data), ""); !errors.As(err, &inv) || inv.Precondition != pre {
			t.Errorf("%q: %v, want %s", data, err, pre)
		}
	}
}

// TestComposeRoundTrip: an item message parses (mimeparse) back to the
// exact payload, with Subject = UID and the Kolab type header, for clean
// and for LF-only payloads.
func TestComposeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, data := range [][]byte{
		ics("BEGIN:VEVENT\nUID:round@trip\nDTSTART:20260105T100000Z\nSUMMARY:Grüße\nEND:VEVENT\n"),
		[]byte("BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:lf\nDTSTART:20260105T100000Z\nEND:VEVENT\nEND:VCALENDAR\n"),
	} {
		idx, err := ParseCalendar(data)
		if err != nil {
			t.Fatal(err)
		}
		msg := Compose(idx, data, MessageOptions{FolderType: "event.default", From: "a@example.test"})
		p, err := mimeparse.Parse(bytes.NewReader(msg), int64(len(msg)))
		if err != nil {
			t.Fatal(err)
		}
		if p.Envelope.Subject != idx.UID || !bytes.Contains(p.Header, []byte("X-Kolab-Type: application/x-vnd.kolab.event")) {
			t.Fatalf("subject %q header %q", p.Envelope.Subject, p.Header)
		}
		got, mt, err := Payload(p, bytes.NewReader(msg))
		if err != nil || mt != "text/calendar" || !bytes.Equal(got, data) {
			t.Fatalf("payload %q %s %v", got, mt, err)
		}
		idx2, err := Index(p, bytes.NewReader(msg))
		if err != nil || idx2 == nil || idx2.UID != idx.UID {
			t.Fatalf("index %+v %v", idx2, err)
		}
		// The index keeps the payload GET returns.
		if !bytes.Equal(idx2.Data, got) {
			t.Fatalf("index data %q, payload %q", idx2.Data, got)
		}
		if !strings.Contains(p.Text, "Event:") {
			t.Fatalf("no summary text for mail clients: %q", p.Text)
		}
	}
	// Mail is not an item.
	mail := []byte("Subject: hi\r\n\r\nhello\r\n")
	p, _ := mimeparse.Parse(bytes.NewReader(mail), int64(len(mail)))
	if idx, err := Index(p, bytes.NewReader(mail)); idx != nil || err != nil {
		t.Fatalf("mail indexed: %+v %v", idx, err)
	}
}

func TestDefaultName(t *testing.T) {
	t.Parallel()
	if n := DefaultName("abc-1@host", storage.ItemEvent); n != "abc-1@host.ics" {
		t.Fatal(n)
	}
	if n := DefaultName("a/b c", storage.ItemContact); !strings.HasPrefix(n, "u-") || !strings.HasSuffix(n, ".vcf") || !ValidName(n) {
		t.Fatal(n)
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a\x00"} {
		if ValidName(bad) {
			t.Errorf("%q valid", bad)
		}
	}
}
