package item

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
)

const attachCal = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" +
	"BEGIN:VEVENT\r\nUID:ev1\r\nDTSTAMP:20250101T000000Z\r\nDTSTART:20250102T100000Z\r\nSUMMARY:Meeting\r\n" +
	"ATTACH;FMTTYPE=application/pdf;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=\"agen\r\n da;1.pdf\":SGVsbG8g\r\n d29ybGQ=\r\n" +
	"ATTACH:https://example.org/x.pdf\r\n" +
	"BEGIN:VALARM\r\nACTION:AUDIO\r\nTRIGGER:-PT5M\r\nATTACH;VALUE=BINARY;ENCODING=BASE64:AAAA\r\nEND:VALARM\r\n" +
	"END:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:ev1\r\nDTSTAMP:20250101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20250109T110000\r\nDTSTART:20250109T120000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n" +
	"END:VCALENDAR\r\n"

func TestAttachments(t *testing.T) {
	t.Parallel()
	comps, atts := Attachments([]byte(attachCal))
	if len(comps) != 2 || comps[0].Name != "VEVENT" || comps[0].RecurrenceID != "" || comps[1].RecurrenceID != "20250109T110000" || comps[1].RecurrenceTZID != "Europe/Berlin" {
		t.Fatalf("components %+v", comps)
	}
	if len(atts) != 2 { // the VALARM's sound is not an attachment
		t.Fatalf("%d attachments", len(atts))
	}
	a := atts[0]
	if !a.Binary() || a.Filename() != "agenda;1.pdf" || a.Param("FMTTYPE") != "application/pdf" || a.Comp != 0 {
		t.Fatalf("attachment 0: %+v (filename %q)", a, a.Filename())
	}
	if d, err := a.Decode(); err != nil || string(d) != "Hello world" {
		t.Fatalf("decode: %q %v", d, err)
	}
	if b := atts[1]; b.Binary() || b.Value != "https://example.org/x.pdf" || b.Filename() != "" {
		t.Fatalf("attachment 1: %+v", b)
	}
}

func TestParseParams(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want map[string][]string
	}{
		{"", map[string][]string{}},
		{"VALUE=BINARY", map[string][]string{"VALUE": {"BINARY"}}},
		{`fmttype=text/plain;X-FILENAME="a;b:c,d.txt"`, map[string][]string{"FMTTYPE": {"text/plain"}, "X-FILENAME": {"a;b:c,d.txt"}}},
		{`MEMBER="a","b",c`, map[string][]string{"MEMBER": {"a", "b", "c"}}},
		{`FILENAME=say ^'hi^'^n^^`, map[string][]string{"FILENAME": {"say \"hi\"\n^"}}},
		{`X="unterminated`, map[string][]string{"X": {"unterminated"}}},
		{`NOEQUALS;A=1`, map[string][]string{"A": {"1"}}},
	} {
		if got := parseParams(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseParams(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestEditAttachments(t *testing.T) {
	t.Parallel()
	m := ManagedAttach{ManagedID: "m1", URL: "https://mail.example.org/webdav/jane@example.org/Files/Calendar%20Attachments/Calendar/agenda%3B1.pdf",
		ContentType: "application/pdf", Filename: "agenda;1.pdf", Size: 11}
	out := EditAttachments([]byte(attachCal), AttachmentEdit{
		Replace: map[int]string{0: m.Line(), 1: ""},
		Add:     map[int][]string{1: {ManagedAttach{ManagedID: "m2", URL: "https://h/x", Size: 2}.Line()}},
	})
	comps, atts := Attachments(out)
	if len(comps) != 2 || len(atts) != 2 {
		t.Fatalf("after edit: %d components, %d attachments\n%s", len(comps), len(atts), out)
	}
	if a := atts[0]; a.ManagedID() != "m1" || a.Value != m.URL || a.Filename() != "agenda;1.pdf" || a.Param("SIZE") != "11" || a.Param("VALUE") != "URI" || a.Comp != 0 {
		t.Fatalf("replaced: %+v", a)
	}
	if a := atts[1]; a.ManagedID() != "m2" || a.Comp != 1 {
		t.Fatalf("added: %+v", a)
	}
	// Everything else is unchanged, the alarm's sound included.
	for _, keep := range []string{"SUMMARY:Meeting\r\n", "ATTACH;VALUE=BINARY;ENCODING=BASE64:AAAA\r\n", "RECURRENCE-ID;TZID=Europe/Berlin:20250109T110000\r\nDTSTART:20250109T120000Z\r\nSUMMARY:Moved\r\n"} {
		if !bytes.Contains(out, []byte(keep)) {
			t.Errorf("lost %q", keep)
		}
	}
	if bytes.Contains(out, []byte("example.org/x.pdf")) {
		t.Error("removed attachment still there")
	}
	for _, l := range strings.Split(string(out), "\r\n") {
		if len(l) > 75 {
			t.Errorf("line longer than 75 octets: %q", l)
		}
	}
	// The result is still a valid calendar object.
	if _, err := ParseCalendar(out); err != nil {
		t.Fatalf("edited object: %v\n%s", err, out)
	}
}

func TestManagedAttachLine(t *testing.T) {
	t.Parallel()
	l := ManagedAttach{ManagedID: "abc", URL: "https://h/f", ContentType: "text/plain", Filename: `Prüfung "final".txt`, Size: 5}.Line()
	want := "ATTACH;MANAGED-ID=abc;FMTTYPE=text/plain;SIZE=5;FILENAME=\"Prüfung ^'final^'.txt\";VALUE=URI:https://h/f\r\n"
	if strings.ReplaceAll(l, "\r\n ", "") != want {
		t.Fatalf("line %q\nwant %q", l, want)
	}
	_, atts := Attachments([]byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n" + l + "END:VEVENT\r\nEND:VCALENDAR\r\n"))
	if len(atts) != 1 || atts[0].Filename() != `Prüfung "final".txt` || atts[0].Value != "https://h/f" {
		t.Fatalf("round trip: %+v", atts)
	}
	long := ManagedAttach{ManagedID: "x", URL: "https://h/" + strings.Repeat("ü", 80), Size: 1}.Line()
	for _, seg := range strings.Split(strings.TrimSuffix(long, "\r\n"), "\r\n") {
		if len(seg) > 75 || !strings.HasPrefix(seg, "ATTACH") && !strings.HasPrefix(seg, " ") {
			t.Fatalf("fold %q", seg)
		}
	}
	if _, atts := Attachments([]byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n" + long + "END:VEVENT\r\nEND:VCALENDAR\r\n")); len(atts) != 1 || atts[0].Value != "https://h/"+strings.Repeat("ü", 80) {
		t.Fatalf("folded line unfolds to %+v", atts)
	}
}

func TestMatchRID(t *testing.T) {
	t.Parallel()
	comps, _ := Attachments([]byte(attachCal))
	for _, tt := range []struct {
		rids   []string
		master bool
		inst   bool
	}{
		{nil, true, true},
		{[]string{"M"}, true, false},
		{[]string{"20250109T100000Z"}, false, true}, // 11:00 Berlin is 10:00 UTC
		{[]string{"20250109T110000Z"}, false, false},
		{[]string{"M", "20250109T100000Z"}, true, true},
	} {
		if got := MatchRID(comps[0], tt.rids); got != tt.master {
			t.Errorf("%v master: %v", tt.rids, got)
		}
		if got := MatchRID(comps[1], tt.rids); got != tt.inst {
			t.Errorf("%v instance: %v", tt.rids, got)
		}
	}
}

func TestHasInlineAttachment(t *testing.T) {
	t.Parallel()
	if !HasInlineAttachment([]byte(attachCal)) || HasInlineAttachment([]byte("BEGIN:VCALENDAR\r\nATTACH:https://x\r\nEND:VCALENDAR\r\n")) {
		t.Fatal("HasInlineAttachment")
	}
}

// FuzzAttachments: any data is scanned without a panic; replacing every
// attachment and adding one to every component keeps the components and
// gives back exactly the attachments written.
func FuzzAttachments(f *testing.F) {
	f.Add(attachCal)
	f.Add("BEGIN:VCALENDAR\nBEGIN:VTODO\nATTACH;ENCODING=BASE64;VALUE=BINARY:" + base64.StdEncoding.EncodeToString([]byte("x")) + "\nEND:VTODO\nEND:VCALENDAR")
	f.Add("ATTACH:x\r\n")
	f.Add("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nATTACH;X=\"a:b\r\n c\":v\r\n")
	f.Fuzz(func(t *testing.T, data string) {
		comps, atts := Attachments([]byte(data))
		for _, a := range atts {
			_, _ = a.Decode()
			_ = a.Filename()
			if a.Comp < 0 || a.Comp >= len(comps) || a.start < 0 || a.end > len(data) || a.start > a.end {
				t.Fatalf("attachment %+v out of range", a)
			}
		}
		edit := AttachmentEdit{Replace: map[int]string{}, Add: map[int][]string{}}
		for i := range atts {
			edit.Replace[i] = ManagedAttach{ManagedID: "r", URL: "https://h/r", Size: 1}.Line()
		}
		for i := range comps {
			edit.Add[i] = []string{ManagedAttach{ManagedID: "a", URL: "https://h/a", Size: 1}.Line()}
		}
		out := EditAttachments([]byte(data), edit)
		comps2, atts2 := Attachments(out)
		if len(comps2) != len(comps) {
			t.Fatalf("%d components after the edit, was %d", len(comps2), len(comps))
		}
		want := len(atts)
		for _, c := range comps {
			if c.end >= 0 {
				want++
			}
		}
		if len(atts2) != want && len(atts) < MaxAttachments {
			t.Fatalf("%d attachments after the edit, want %d\n%q", len(atts2), want, out)
		}
		for _, a := range atts2 {
			if id := a.ManagedID(); id != "r" && id != "a" {
				t.Fatalf("attachment %+v not one of ours", a)
			}
		}
	})
}
