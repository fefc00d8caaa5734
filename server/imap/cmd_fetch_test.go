package imap

import (
	"bufio"
	"reflect"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/floemail/floe/storage"
)

// testDecoder returns a decoder reading line (after the command name).
func testDecoder(line string) *decoder {
	d := &decoder{
		r:    bufio.NewReader(strings.NewReader(line)),
		cont: func(string) error { return nil },
		utf8: func() bool { return false },
	}
	d.reset(64<<10, 64<<10)
	return d
}

func TestParseFetchArgs(t *testing.T) {
	tests := []struct {
		in    string
		uid   bool
		items []fetchItem
		cs    uint64
		van   bool
		bad   bool
	}{
		{in: " 1:* FLAGS\r\n", items: []fetchItem{{kind: fetchFlags}}},
		{in: " 1 ALL\r\n", items: []fetchItem{{kind: fetchFlags}, {kind: fetchInternalDate}, {kind: fetchSize}, {kind: fetchEnvelope}}},
		{in: " 1 fast\r\n", items: []fetchItem{{kind: fetchFlags}, {kind: fetchInternalDate}, {kind: fetchSize}}},
		{in: " 1 FULL\r\n", items: []fetchItem{{kind: fetchFlags}, {kind: fetchInternalDate}, {kind: fetchSize}, {kind: fetchEnvelope}, {kind: fetchBody}}},
		{in: " 1 (UID BODYSTRUCTURE body RFC822.SIZE MODSEQ)\r\n", items: []fetchItem{{kind: fetchUID}, {kind: fetchBodyStructure}, {kind: fetchBody}, {kind: fetchSize}, {kind: fetchModSeq}}},
		{in: " 1 BODY[]\r\n", items: []fetchItem{{kind: fetchSection}}},
		{in: " 1 BODY.PEEK[1.2.MIME]<10.20>\r\n", items: []fetchItem{{kind: fetchSection, peek: true, sec: sectionSpec{Path: []int{1, 2}, Spec: specMIME}, partial: true, off: 10, count: 20}}},
		{in: " 1 (BODY.PEEK[HEADER.FIELDS (From \"To\" {2}\r\nCc)] BODY[3.TEXT])\r\n", items: []fetchItem{
			{kind: fetchSection, peek: true, sec: sectionSpec{Spec: specFields, Fields: []string{"From", "To", "Cc"}}},
			{kind: fetchSection, sec: sectionSpec{Path: []int{3}, Spec: specText}}}},
		{in: " 1 body[header.fields.not (x-a)]\r\n", items: []fetchItem{{kind: fetchSection, sec: sectionSpec{Spec: specFieldsNot, Fields: []string{"x-a"}}}}},
		{in: " 1 (BINARY[1] BINARY.PEEK[2]<0.5> BINARY.SIZE[1])\r\n", items: []fetchItem{
			{kind: fetchBinary, sec: sectionSpec{Path: []int{1}}},
			{kind: fetchBinary, peek: true, sec: sectionSpec{Path: []int{2}}, partial: true, count: 5},
			{kind: fetchBinarySize, sec: sectionSpec{Path: []int{1}}}}},
		{in: " 1 (RFC822 RFC822.HEADER RFC822.TEXT)\r\n", items: []fetchItem{{kind: fetchRFC822}, {kind: fetchRFC822Head}, {kind: fetchRFC822Text}}},
		{in: " 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n", uid: true, items: []fetchItem{{kind: fetchFlags}, {kind: fetchModSeq}}, cs: 12345, van: true},
		{in: " 1:* FLAGS (CHANGEDSINCE 7)\r\n", items: []fetchItem{{kind: fetchFlags}, {kind: fetchModSeq}}, cs: 7},
		{in: " 1:* FLAGS (VANISHED)\r\n", uid: true, bad: true},
		{in: " 1:* FLAGS (CHANGEDSINCE 1 VANISHED)\r\n", bad: true},
		{in: " 1 BODY[0]\r\n", bad: true},
		{in: " 1 BODY[MIME]\r\n", bad: true},
		{in: " 1 BODY[1.]\r\n", bad: true},
		{in: " 1 BINARY[HEADER]\r\n", bad: true},
		{in: " 1 BODY[HEADER.FIELDS ()]\r\n", bad: true},
		{in: " 1 BODY[]<1.0>\r\n", bad: true},
		{in: " 1 BOGUS\r\n", bad: true},
		{in: " 1 (FLAGS\r\n", bad: true},
		{in: " 1 BODY[TEXT\r\n", bad: true},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.in), func(t *testing.T) {
			d := testDecoder(tt.in)
			a, err := parseFetchArgs(d, tt.uid)
			if err == nil {
				err = d.CRLF()
			}
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted: %+v", a)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a.items, tt.items) {
				t.Fatalf("items\n%+v\nwant\n%+v", a.items, tt.items)
			}
			if a.changedSince != tt.cs || a.vanished != tt.van {
				t.Fatalf("modifiers %d %v", a.changedSince, a.vanished)
			}
		})
	}
}

func TestSectionName(t *testing.T) {
	for _, tt := range []struct {
		sec  sectionSpec
		want string
	}{
		{sectionSpec{}, ""},
		{sectionSpec{Path: []int{1, 2}}, "1.2"},
		{sectionSpec{Path: []int{3}, Spec: specMIME}, "3.MIME"},
		{sectionSpec{Spec: specFields, Fields: []string{"From", "x y"}}, `HEADER.FIELDS (From "x y")`},
	} {
		if got := tt.sec.name(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestParseStoreArgs(t *testing.T) {
	tests := []struct {
		in   string
		want storeArgs
		bad  bool
	}{
		{in: " 1 +FLAGS (\\Seen)\r\n", want: storeArgs{op: 0, flags: []string{`\Seen`}}},
		{in: " 1:3 -FLAGS.SILENT \\deleted $Label\r\n", want: storeArgs{op: 1, silent: true, flags: []string{`\Deleted`, "$Label"}}},
		{in: " 1 FLAGS ()\r\n", want: storeArgs{op: 2}},
		{in: " 1 (UNCHANGEDSINCE 42) +FLAGS (\\Flagged)\r\n", want: storeArgs{op: 0, flags: []string{`\Flagged`}, unchanged: true, unchangedSince: 42}},
		{in: " 1 (UNCHANGEDSINCE 0) FLAGS (a)\r\n", want: storeArgs{op: 2, flags: []string{"a"}, unchanged: true}},
		{in: " 1 +FLAGS (\\Recent)\r\n", bad: true},
		{in: " 1 +FLAGS (\\Bogus)\r\n", bad: true},
		{in: " 1 FLAGZ (a)\r\n", bad: true},
		{in: " 1 (FOO 1) FLAGS (a)\r\n", bad: true},
		{in: " 1 +FLAGS\r\n", bad: true},
		{in: " 1 +FLAGS (a\r\n", bad: true},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.in), func(t *testing.T) {
			d := testDecoder(tt.in)
			a, err := parseStoreArgs(d, false)
			if err == nil {
				err = d.CRLF()
			}
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted: %+v", a)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			a.set = nil
			if !reflect.DeepEqual(*a, tt.want) {
				t.Fatalf("got %+v, want %+v", *a, tt.want)
			}
		})
	}
}

func TestCopyUID(t *testing.T) {
	got := copyUID(storageCopy(7, []uint32{5, 1, 2, 3, 9}, []uint32{14, 10, 11, 12, 15}))
	if got != "COPYUID 7 1:3,5,9 10:12,14,15" {
		t.Fatalf("got %q", got)
	}
}

func FuzzFetchArgs(f *testing.F) {
	for _, s := range []string{
		" 1:* (FLAGS)", " 1 ALL", " 2,4:7 (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
		" 1 (BODY[1.2.MIME]<0.100> BINARY.PEEK[1] BINARY.SIZE[2])", " 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)",
		" 1 BODYSTRUCTURE", " * (ENVELOPE INTERNALDATE)", " 1 BODY[HEADER.FIELDS ({3}\r\nabc)]",
	} {
		f.Add(s+"\r\n", true)
	}
	f.Fuzz(func(t *testing.T, in string, uid bool) {
		d := testDecoder(in)
		a, err := parseFetchArgs(d, uid)
		if err != nil {
			return
		}
		for _, it := range a.items {
			if it.partial && it.count == 0 {
				t.Fatal("zero partial length")
			}
			for _, n := range it.sec.Path {
				if n <= 0 {
					t.Fatal("non-positive part number")
				}
			}
			_ = it.sec.name()
		}
	})
}

func FuzzStore(f *testing.F) {
	for _, s := range []string{
		" 1 +FLAGS (\\Seen)", " 1:* -FLAGS.SILENT (\\Deleted $Junk)", " 3 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\Deleted)",
		" 1 FLAGS \\Answered \\Draft",
	} {
		f.Add(s + "\r\n")
	}
	f.Fuzz(func(t *testing.T, in string) {
		d := testDecoder(in)
		a, err := parseStoreArgs(d, false)
		if err != nil {
			return
		}
		if checkStoreFlags(a.flags) != nil {
			t.Fatal("accepted flags that cannot be stored")
		}
	})
}

var _ = imap.UIDSet{}

func storageCopy(validity uint32, src, dst []uint32) storage.CopyResult {
	r := storage.CopyResult{UIDValidity: validity}
	for i := range src {
		r.Source = append(r.Source, storage.UID(src[i]))
		r.Dest = append(r.Dest, storage.UID(dst[i]))
	}
	return r
}

// A body that disappears between FETCH's metadata read and opening the blob
// (another session expunged the last copy) is served like an expunged
// message: empty data and OK [EXPUNGEISSUED] (RFC 2180 4.1.3, as Dovecot).
func TestFetchBodyGoneMeanwhile(t *testing.T) {
	env := newTestServer(t)
	env.deliver(t, testUser, testMessage("kept"))
	env.deliver(t, testUser, testMessage("vanishing"))
	c := env.rawLogin(t)
	c.cmd("a1", "SELECT INBOX", "OK")
	ms, err := env.store.Messages(t.Context(), inbox(t, env).ID, storage.Query{})
	if err != nil || len(ms) != 2 {
		t.Fatalf("messages: %v, %v", ms, err)
	}
	if err := env.store.Blobs().Delete(ms[1].Blob); err != nil {
		t.Fatal(err)
	}
	lines := c.cmd("a2", "UID FETCH 1:* (UID BODY.PEEK[])", "OK [EXPUNGEISSUED]")
	if !hasLine(lines, "* 1 FETCH (UID 1 BODY[] {") || !hasLine(lines, "* 2 FETCH (UID 2 BODY[] NIL)") {
		t.Fatalf("UID FETCH: %q", lines)
	}
	lines = c.cmd("a3", "FETCH 1:2 (BODY.PEEK[])", "OK [EXPUNGEISSUED]")
	if !hasLine(lines, "* 1 FETCH (BODY[] {") || !hasLine(lines, "* 2 FETCH (BODY[] NIL)") {
		t.Fatalf("FETCH: %q", lines)
	}
	c.cmd("a4", "NOOP", "OK") // the session goes on
}

// TestFetchExpungedByOther: a message another session expunged, while this
// session has not been told (no EXPUNGE may be sent during FETCH, RFC 9051
// 7.5.1), is still answered: its UID, last flags and modseq, empty data in
// Dovecot's form, and OK [EXPUNGEISSUED]; the next NOOP reports the expunge.
func TestFetchExpungedByOther(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	env.deliver(t, testUser, testMessage("kept"))
	env.deliver(t, testUser, testMessage("going"))
	a := env.rawLogin(t)
	b := env.rawLogin(t)
	a.cmd("s", "SELECT INBOX", "OK")
	b.cmd("s", "SELECT INBOX", "OK")
	a.cmd("d", `STORE 2 +FLAGS.SILENT (\Deleted $Gone)`, "OK")
	a.cmd("e", "EXPUNGE", "OK")

	lines := b.cmd("f", "FETCH 1:2 (UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER] BINARY.SIZE[1] MODSEQ)", "OK [EXPUNGEISSUED]")
	want := `* 2 FETCH (UID 2 FLAGS ($Gone \Deleted) INTERNALDATE "01-Jan-1970 00:00:00 +0000" RFC822.SIZE 0 ` +
		`ENVELOPE (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) BODYSTRUCTURE ("text" "plain" NIL NIL NIL "7bit" 0 0) ` +
		`BODY[HEADER] NIL BINARY.SIZE[1] 0 MODSEQ (`
	if !hasLine(lines, "* 1 FETCH (UID 1 FLAGS ()") || !hasLine(lines, want) {
		t.Fatalf("FETCH: %q\nwant %q", lines, want)
	}
	// The keyword of the expunged message was announced before its FETCH.
	if !hasLine(lines, `* FLAGS (\Answered \Flagged \Deleted \Seen \Draft $Gone)`) {
		t.Fatalf("keyword not announced: %q", lines)
	}
	if hasLine(lines, "* 2 EXPUNGE") || len(lines) != 6 { // with HIGHESTMODSEQ (MODSEQ enables CONDSTORE)
		t.Fatalf("EXPUNGE or more during FETCH: %q", lines)
	}
	lines = b.cmd("n", "NOOP", "OK")
	if !hasLine(lines, "* 2 EXPUNGE") {
		t.Fatalf("NOOP: %q", lines)
	}
	b.cmd("f2", "FETCH 1 (FLAGS)", "OK FETCH completed")
}

// TestSearchExpungedByOther: SEARCH, SORT and THREAD cannot evaluate a
// message another session expunged (its index entry and metadata are
// gone) while this session still has it (no EXPUNGE may be sent during
// SEARCH, RFC 9051 7.5.1): they answer OK [EXPUNGEISSUED] (RFC 9051 7.1)
// so that the client knows the result may lack it, as imaptest's stress
// mode requires ("SEARCH result missing seq"). Once the expunge is
// reported, a SEARCH is a plain OK again.
func TestSearchExpungedByOther(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	env.deliver(t, testUser, testMessage("kept one"))
	env.deliver(t, testUser, testMessage("going one"))
	a := env.rawLogin(t)
	b := env.rawLogin(t)
	a.cmd("s", "SELECT INBOX", "OK")
	b.cmd("s", "SELECT INBOX", "OK")
	a.cmd("d", `STORE 2 +FLAGS.SILENT (\Deleted)`, "OK")
	a.cmd("e", "EXPUNGE", "OK")

	for _, c := range []struct{ cmd, data string }{
		{`SEARCH BODY "one"`, "* SEARCH 1"},              // text index only
		{`SEARCH SUBJECT "one" UNDELETED`, "* SEARCH 1"}, // metadata
		{`SORT (SUBJECT) UTF-8 ALL`, "* SORT 1"},
		{`THREAD REFERENCES UTF-8 ALL`, "* THREAD (1)"},
		{`UID SEARCH BODY "one"`, "* SEARCH 1"}, // last: it may report the expunge
	} {
		lines := b.cmd("q", c.cmd, "OK [EXPUNGEISSUED]")
		if !hasLine(lines, c.data) {
			t.Errorf("%s: %q, want %q", c.cmd, lines, c.data)
		}
		if hasLine(lines, "* 2 EXPUNGE") && !strings.HasPrefix(c.cmd, "UID ") {
			t.Errorf("%s: EXPUNGE during a sequence-number command: %q", c.cmd, lines)
		}
	}
	// The UID SEARCH reported the expunge: the view and the store agree.
	b.cmd("n", "NOOP", "OK")
	b.cmd("q2", `SEARCH BODY "one"`, "OK SEARCH completed")
}

// TestFetchItemsOnce: UID, FLAGS and MODSEQ appear once in a FETCH
// response though the request names them twice, and the FLAGS and MODSEQ
// that FETCH adds after setting \Seen (RFC 9051 6.4.5, RFC 7162 3.1.4) are
// not repeated when the request asked for them.
func TestFetchItemsOnce(t *testing.T) {
	t.Parallel()
	env := newTestServer(t)
	env.deliver(t, testUser, testMessage("twice"))
	c := env.rawLogin(t)
	c.cmd("e", "ENABLE CONDSTORE", "OK")
	c.cmd("s", "SELECT INBOX", "OK")
	lines := c.cmd("f", "FETCH 1 (UID FLAGS UID FLAGS MODSEQ MODSEQ)", "OK")
	if !hasLine(lines, `* 1 FETCH (UID 1 FLAGS (\Recent) MODSEQ (`) {
		t.Fatalf("FETCH: %q", lines)
	}
	for _, l := range lines {
		if strings.Count(l, "UID ") > 1 || strings.Count(l, "FLAGS ") > 1 || strings.Count(l, "MODSEQ ") > 1 {
			t.Fatalf("item twice: %q", l)
		}
	}
	lines = c.cmd("b", "FETCH 1 (FLAGS BODY[HEADER.FIELDS (SUBJECT)] MODSEQ)", "OK")
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "* 1 FETCH (FLAGS (") {
			n++
			if strings.Count(l, "FLAGS ") != 1 || strings.Count(l, "MODSEQ ") != 1 {
				t.Fatalf("FLAGS or MODSEQ twice: %q", l)
			}
		}
	}
	if n != 1 {
		t.Fatalf("FETCH that sets \\Seen: %q", lines)
	}
}
