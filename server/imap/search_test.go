package imap

import (
	"bufio"
	"context"
	"errors"
	"io"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
)

// searchDecoder returns a decoder over one command line (the part after
// the command name).
func searchDecoder(line string) *decoder {
	d := &decoder{
		r:    bufio.NewReader(strings.NewReader(line + "\r\n")),
		cont: func(string) error { return nil },
		utf8: func() bool { return true },
	}
	d.reset(1<<20, 1<<20)
	return d
}

// parseSearchLine parses SEARCH arguments and the final CRLF.
func parseSearchLine(line string) (*searchArgs, error) {
	d := searchDecoder(line)
	a, err := parseSearchArgs(d)
	if err == nil {
		err = d.CRLF()
	}
	return a, err
}

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func TestParseSearch(t *testing.T) {
	jan2 := day(2024, 1, 2)
	jan3 := day(2024, 1, 3)
	tests := []struct {
		line string
		want imap.SearchCriteria
	}{
		{" ALL", imap.SearchCriteria{}},
		{" all", imap.SearchCriteria{}},
		{" ANSWERED", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagAnswered}}},
		{" DELETED DRAFT FLAGGED SEEN", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagDeleted, imap.FlagDraft, imap.FlagFlagged, imap.FlagSeen}}},
		{" UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagAnswered, imap.FlagDeleted, imap.FlagDraft, imap.FlagFlagged, imap.FlagSeen}}},
		{" RECENT", imap.SearchCriteria{Flag: []imap.Flag{`\Recent`}}},
		{" NEW", imap.SearchCriteria{Flag: []imap.Flag{`\Recent`}, NotFlag: []imap.Flag{imap.FlagSeen}}},
		{" OLD", imap.SearchCriteria{NotFlag: []imap.Flag{`\Recent`}}},
		{" KEYWORD $Work UNKEYWORD Junk", imap.SearchCriteria{Flag: []imap.Flag{"$Work"}, NotFlag: []imap.Flag{"Junk"}}},
		{` BCC "a b"`, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Bcc", Value: "a b"}}}},
		{` CC x FROM y TO z SUBJECT {3}` + "\r\nw v", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{
			{Key: "Cc", Value: "x"}, {Key: "From", Value: "y"}, {Key: "To", Value: "z"}, {Key: "Subject", Value: "w v"}}}},
		{` HEADER X-Spam ""`, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "X-Spam", Value: ""}}}},
		{` BODY hello TEXT "big world"`, imap.SearchCriteria{Body: []string{"hello"}, Text: []string{"big world"}}},
		{` BEFORE 2-Jan-2024`, imap.SearchCriteria{Before: jan2}},
		{` SINCE "02-jan-2024"`, imap.SearchCriteria{Since: jan2}},
		{` ON 2-Jan-2024`, imap.SearchCriteria{Since: jan2, Before: jan3}},
		{` SENTBEFORE 2-Jan-2024 SENTSINCE 2-Jan-2024`, imap.SearchCriteria{SentBefore: jan2, SentSince: jan2}},
		{` SENTON 2-Jan-2024`, imap.SearchCriteria{SentSince: jan2, SentBefore: jan3}},
		{` LARGER 10 SMALLER 20`, imap.SearchCriteria{Larger: 10, Smaller: 20}},
		{` LARGER 10 LARGER 5 SMALLER 20 SMALLER 30`, imap.SearchCriteria{Larger: 10, Smaller: 20}},
		{` LARGER 0`, imap.SearchCriteria{Not: []imap.SearchCriteria{{Smaller: 1}}}},
		{` SMALLER 0`, imap.SearchCriteria{Not: []imap.SearchCriteria{{}}}},
		{` 1:3,5`, imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 1, Stop: 3}, {Start: 5, Stop: 5}}}}},
		{` 2:*`, imap.SearchCriteria{SeqNum: []imap.SeqSet{{{Start: 2, Stop: 0}}}}},
		{` UID 4:7`, imap.SearchCriteria{UID: []imap.UIDSet{{{Start: 4, Stop: 7}}}}},
		{` NOT SEEN`, imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}}}}},
		{` OR SEEN FLAGGED`, imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Flag: []imap.Flag{imap.FlagSeen}}, {Flag: []imap.Flag{imap.FlagFlagged}}}}}},
		{` (SEEN FLAGGED) DRAFT`, imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagDraft}}},
		{` OR (SEEN LARGER 3) NOT (DRAFT)`, imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{
			{Flag: []imap.Flag{imap.FlagSeen}, Larger: 3},
			{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagDraft}}}}}}}},
		{` MODSEQ 5`, imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{ModSeq: 5}}},
		{` MODSEQ "/flags/\\draft" all 620162338`, imap.SearchCriteria{ModSeq: &imap.SearchCriteriaModSeq{
			ModSeq: 620162338, MetadataName: `/flags/\draft`, MetadataType: imap.SearchCriteriaMetadataAll}}},
		{" CHARSET UTF-8 SUBJECT \"caf\u00e9\"", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "caf\u00e9"}}}},
		{` charset us-ascii ALL`, imap.SearchCriteria{}},
		{` CC alice`, imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Cc", Value: "alice"}}}},
		{` RETURN (MIN) ALL`, imap.SearchCriteria{}},
		{` RETURN () CHARSET UTF-8 SEEN`, imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}},
		{` RECENT`, imap.SearchCriteria{Flag: []imap.Flag{`\Recent`}}},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			a, err := parseSearchLine(tc.line)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if !reflect.DeepEqual(a.crit, tc.want) {
				t.Errorf("criteria\n got %+v\nwant %+v", a.crit, tc.want)
			}
		})
	}
}

func TestParseSearchReturnAndCharset(t *testing.T) {
	tests := []struct {
		line    string
		ret     searchReturn
		esearch bool
		bad     bool
	}{
		{" ALL", searchReturn{}, false, false},
		{" RETURN () ALL", searchReturn{all: true}, true, false},
		{" RETURN (MIN MAX COUNT ALL SAVE) ALL", searchReturn{min: true, max: true, all: true, count: true, save: true}, true, false},
		// RFC 5267 4: PARTIAL, UPDATE, CONTEXT.
		{" RETURN (PARTIAL 4:2 UPDATE) ALL", searchReturn{partial: partialRange{2, 4}, update: true}, true, false},
		{" RETURN (CONTEXT COUNT partial 1:500) SEEN", searchReturn{context: true, count: true, partial: partialRange{1, 500}}, true, false},
		{" RETURN (UPDATE) ALL", searchReturn{update: true}, true, false},
		{" return (save) ALL", searchReturn{save: true}, true, false},
		{" CHARSET ISO-8859-1 ALL", searchReturn{}, false, true},
		{" RETURN (COUNT) CHARSET KOI8-R ALL", searchReturn{count: true}, true, true},
	}
	for _, tc := range tests {
		a, err := parseSearchLine(tc.line)
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if a.ret != tc.ret || a.esearch != tc.esearch || a.badCharset != tc.bad {
			t.Errorf("%q: got ret %+v esearch %v bad %v", tc.line, a.ret, a.esearch, a.badCharset)
		}
	}
}

func TestParseSearchSearchRes(t *testing.T) {
	a, err := parseSearchLine(" $ UID $")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.crit.UID) != 2 || !imap.IsSearchRes(a.crit.UID[0]) || !imap.IsSearchRes(a.crit.UID[1]) {
		t.Errorf("$ not parsed as the saved result: %+v", a.crit)
	}
}

func TestParseSearchBad(t *testing.T) {
	deep := " " + strings.Repeat("NOT ", maxSearchDepth) + "SEEN"
	deepParens := " " + strings.Repeat("(", maxSearchDepth+1) + "SEEN" + strings.Repeat(")", maxSearchDepth+1)
	okDepth := " " + strings.Repeat("NOT ", maxSearchDepth-1) + "SEEN"
	if _, err := parseSearchLine(okDepth); err != nil {
		t.Fatalf("depth %d refused: %v", maxSearchDepth, err)
	}
	for _, line := range []string{
		"", " ", "  ALL", " ALL ", " FOO", " SEEN FOO", " SUBJECT", " SUBJECT ", " HEADER X",
		" BEFORE 32-Jan-2024", " BEFORE yesterday", " LARGER x", " LARGER -1", " UID", " UID x",
		" 0", " 1:0", " OR SEEN", " NOT", " ()", " (SEEN", " SEEN)", " MODSEQ", " MODSEQ \"/flags/x\" bogus 1",
		" RETURN (FOO) ALL", " RETURN MIN ALL", " RETURN (MIN)", " CHARSET", " CHARSET UTF-8",
		" KEYWORD", " LARGER 99999999999999999999", deep, deepParens,
		// RFC 5267 4.4: a range of two nz-numbers, one PARTIAL or one ALL.
		" RETURN (PARTIAL 1) ALL", " RETURN (PARTIAL 1:*) ALL", " RETURN (PARTIAL *:1) ALL", " RETURN (PARTIAL 0:3) ALL",
		" RETURN (PARTIAL) ALL", " RETURN (PARTIAL 1:2 ALL) ALL", " RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL",
		" RETURN (UPDATE (UID)) ALL",
	} {
		_, err := parseSearchLine(line)
		var re *respError
		if !errors.As(err, &re) || re.kind != "BAD" {
			t.Errorf("%q: got %v, want BAD", line, err)
		}
	}
}

// fakeView is a searchView over a UID list.
type fakeView []storage.UID

func (v fakeView) Count() uint32 { return uint32(len(v)) }
func (v fakeView) UIDAt(seq uint32) storage.UID {
	if seq == 0 || int(seq) > len(v) {
		return 0
	}
	return v[seq-1]
}
func (v fakeView) SeqOf(uid storage.UID) (uint32, bool) {
	i, ok := slices.BinarySearch(v, uid)
	return uint32(i + 1), ok
}

// fakeMessages implements what runSearch calls (the embedded Store is nil).
type fakeMessages struct {
	storage.Store
	msgs    []storage.Message
	text    map[string][]storage.UID // "field:value"
	calls   int
	fields  storage.Fields
	ftsCall int
}

func (f *fakeMessages) Messages(_ context.Context, _ storage.MailboxID, q storage.Query) ([]storage.Message, error) {
	f.calls++
	f.fields = q.Fields
	var out []storage.Message
	for _, m := range f.msgs {
		if q.UIDs.Contains(m.UID) {
			out = append(out, m)
		}
	}
	return out, nil
}

func (f *fakeMessages) SearchText(_ context.Context, _ storage.MailboxID, field, query string) ([]storage.UID, error) {
	f.ftsCall++
	return f.text[field+":"+query], nil
}

func testMessages() []storage.Message {
	est := time.FixedZone("EST", -5*3600)
	cest := time.FixedZone("CEST", 2*3600)
	return []storage.Message{
		{
			UID: 10, ModSeq: 5, Flags: []string{`\Seen`}, Size: 100,
			// Jan 5 in its own zone, Jan 6 in UTC.
			InternalDate: time.Date(2024, 1, 5, 23, 30, 0, 0, est),
			Envelope: &storage.Envelope{
				Subject: "Hello world",
				Date:    time.Date(2024, 1, 4, 10, 0, 0, 0, cest),
				From:    []storage.Address{{Name: "Alice Example", Mailbox: "alice", Host: "example.org"}},
				To:      []storage.Address{{Mailbox: "bob", Host: "example.test"}},
			},
			Header: []byte("Subject: Hello world\r\nFrom: Alice Example <alice@example.org>\r\nTo: bob@example.test\r\nX-Priority: 1 (Highest)\r\n\r\n"),
		},
		{
			UID: 11, ModSeq: 9, Flags: []string{"$Work", `\Answered`, `\Flagged`}, Size: 2000,
			InternalDate: time.Date(2024, 2, 1, 0, 30, 0, 0, cest), // Jan 31 in UTC
			Envelope: &storage.Envelope{
				Subject: "Re: Hello world",
				From:    []storage.Address{{Name: "Carol", Mailbox: "carol", Host: "example.net"}},
				Cc:      []storage.Address{{Mailbox: "dave", Host: "example.test"}},
			},
			Header: []byte("Subject: Re: Hello world\r\nFrom: Carol\r\n <carol@example.net>\r\nCc: =?utf-8?q?D=C3=A1ve?= <dave@example.test>\r\nX-Mailer: Floe\r\n =?utf-8?q?Caf=C3=A9?=\r\n\r\n"),
		},
		{
			UID: 20, ModSeq: 12, Flags: []string{`\Deleted`, `\Draft`}, Size: 50000,
			InternalDate: time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC),
			Envelope: &storage.Envelope{
				Subject: "Report",
				Date:    time.Date(2024, 3, 9, 23, 0, 0, 0, est),
				Bcc:     []storage.Address{{Name: "Eve", Mailbox: "eve", Host: "example.com"}},
			},
			Header: []byte("Subject: Report\r\nbcc: Eve <eve@example.com>\r\n\r\n"),
		},
	}
}

func TestSearchEval(t *testing.T) {
	view := fakeView{10, 11, 20}
	tests := []struct {
		line string
		want []uint32 // sequence numbers
	}{
		{"ALL", []uint32{1, 2, 3}},
		{"SEEN", []uint32{1}},
		{"UNSEEN", []uint32{2, 3}},
		{"ANSWERED FLAGGED", []uint32{2}},
		{"UNANSWERED UNFLAGGED", []uint32{1, 3}},
		{"DELETED DRAFT", []uint32{3}},
		{"UNDELETED UNDRAFT", []uint32{1, 2}},
		{"KEYWORD $work", []uint32{2}},
		{"UNKEYWORD $WORK", []uint32{1, 3}},
		{"RECENT", nil},
		{"NEW", nil},
		{"OLD", []uint32{1, 2, 3}},
		{"LARGER 100", []uint32{2, 3}},
		{"SMALLER 2000", []uint32{1}},
		{"LARGER 0", []uint32{1, 2, 3}},
		{"SMALLER 0", nil},
		{"2:*", []uint32{2, 3}},
		{"*", []uint32{3}},
		{"5:*", []uint32{3}},
		{"1,3", []uint32{1, 3}},
		{"UID 11:15", []uint32{2}},
		{"UID 100:*", []uint32{3}},
		{"UID *", []uint32{3}},
		{"NOT 1", []uint32{2, 3}},
		{"OR SEEN DRAFT", []uint32{1, 3}},
		{"OR (SEEN LARGER 50) (NOT DELETED SMALLER 3000)", []uint32{1, 2}},
		{"MODSEQ 9", []uint32{2, 3}},
		// Dates in the message's own zone.
		{"ON 5-Jan-2024", []uint32{1}},
		{"ON 6-Jan-2024", nil},
		{"ON 1-Feb-2024", []uint32{2}},
		{"BEFORE 1-Feb-2024", []uint32{1}},
		{"SINCE 1-Feb-2024", []uint32{2, 3}},
		{"SINCE 5-Jan-2024 BEFORE 10-Mar-2024", []uint32{1, 2}},
		{"SENTON 4-Jan-2024", []uint32{1}},
		{"SENTON 9-Mar-2024", []uint32{3}},
		{"SENTBEFORE 1-Feb-2024", []uint32{1}},
		// Without a Date header the internal date counts.
		{"SENTON 1-Feb-2024", []uint32{2}},
		{"SENTSINCE 5-Jan-2024", []uint32{2, 3}},
		// Header criteria: case-insensitive substrings.
		{"SUBJECT hello", []uint32{1, 2}},
		{"SUBJECT \"LO WOR\"", []uint32{1, 2}},
		{"SUBJECT re:", []uint32{2}},
		{"FROM alice", []uint32{1}},
		{"FROM \"alice example\"", []uint32{1}},
		{"FROM example.", []uint32{1, 2}},
		{"FROM \"<carol@\"", []uint32{2}},
		{"TO bob", []uint32{1}},
		{"CC DAVE", []uint32{2}},
		{"CC \"d\u00c1ve <\"", []uint32{2}},
		{"BCC eve", []uint32{3}},
		{"BCC \"\"", []uint32{3}},
		{"HEADER X-Priority highest", []uint32{1}},
		{"HEADER x-mailer \"floe caf\u00e9\"", []uint32{2}},
		{"HEADER X-Mailer \"\"", []uint32{2}},
		{"HEADER X-None \"\"", nil},
		// Full-text criteria come from the index.
		{"TEXT world", []uint32{1, 2}},
		{"BODY report", []uint32{3}},
		{"TEXT world NOT BODY report SEEN", []uint32{1}},
		{"OR TEXT world BODY report", []uint32{1, 2, 3}},
		{"TEXT nothing", nil},
		// The saved result.
		{"$", []uint32{2}},
		{"UID $ SEEN", nil},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			a, err := parseSearchLine(" " + tc.line)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			st := &fakeMessages{msgs: testMessages(), text: map[string][]storage.UID{
				":world": {11, 10}, "body:report": {20},
			}}
			hits, err := runSearch(context.Background(), st, 1, view, &a.crit, []storage.UID{11}, false, 0)
			if err != nil {
				t.Fatal(err)
			}
			var got []uint32
			for _, h := range hits {
				got = append(got, h.Seq)
				if view[h.Seq-1] != h.Msg.UID {
					t.Errorf("hit seq %d has uid %d", h.Seq, h.Msg.UID)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSearchLoadsOnlyNeededFields(t *testing.T) {
	tests := []struct {
		line   string
		calls  int
		fields storage.Fields
	}{
		{"TEXT world", 0, 0},
		{"UID 1:* 1:2 NOT TEXT x", 0, 0},
		{"UNSEEN", 1, 0},
		{"LARGER 5 MODSEQ 2", 1, 0},
		{"SUBJECT x", 1, storage.FieldHeader},
		{"NOT SENTON 1-Jan-2020", 1, storage.FieldEnvelope},
		{"OR SEEN HEADER X-A b", 1, storage.FieldHeader},
	}
	for _, tc := range tests {
		a, err := parseSearchLine(" " + tc.line)
		if err != nil {
			t.Fatal(err)
		}
		st := &fakeMessages{msgs: testMessages()}
		if _, err := runSearch(context.Background(), st, 1, fakeView{10, 11, 20}, &a.crit, nil, false, 0); err != nil {
			t.Fatal(err)
		}
		if st.calls != tc.calls || st.fields != tc.fields {
			t.Errorf("%s: %d Messages calls with fields %b, want %d with %b", tc.line, st.calls, st.fields, tc.calls, tc.fields)
		}
	}
}

func TestSearchSkipsUnannouncedMessages(t *testing.T) {
	// UID 20 is in storage but not yet in the session's view.
	a, _ := parseSearchLine(" ALL UNDELETED")
	st := &fakeMessages{msgs: testMessages()}
	hits, err := runSearch(context.Background(), st, 1, fakeView{10, 11}, &a.crit, nil, false, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 2 {
		t.Fatalf("got %d hits, want 2", len(hits))
	}
	hits, err = runSearch(context.Background(), st, 1, fakeView{}, &a.crit, nil, false, 0)
	if err != nil || hits != nil {
		t.Fatalf("empty view: %v %v", hits, err)
	}
}

func TestCompactSet(t *testing.T) {
	tests := []struct {
		in   []uint32
		want string
	}{
		{[]uint32{1}, "1"},
		{[]uint32{1, 2, 3, 5, 7, 8}, "1:3,5,7:8"},
		{[]uint32{9, 3, 4, 4}, "3:4,9"},
	}
	for _, tc := range tests {
		if got := compactSet(tc.in); got != tc.want {
			t.Errorf("compactSet(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSortHits(t *testing.T) {
	msgs := testMessages()
	msgs[0].BaseSubject = "Hello world"
	msgs[1].BaseSubject = "Hello world"
	msgs[2].BaseSubject = "Report"
	hits := []searchHit{{1, msgs[0]}, {2, msgs[1]}, {3, msgs[2]}}
	tests := []struct {
		keys string
		want []uint32
	}{
		{"(ARRIVAL)", []uint32{1, 2, 3}},
		{"(REVERSE ARRIVAL)", []uint32{3, 2, 1}},
		{"(SIZE)", []uint32{1, 2, 3}},
		{"(REVERSE SIZE)", []uint32{3, 2, 1}},
		// Sent dates: 1 Jan 4, 2 none (internal Feb 1), 3 Mar 9.
		{"(DATE)", []uint32{1, 2, 3}},
		// Empty addresses sort first.
		{"(FROM)", []uint32{3, 1, 2}},
		{"(REVERSE FROM)", []uint32{2, 1, 3}},
		{"(CC)", []uint32{1, 3, 2}},
		{"(TO)", []uint32{2, 3, 1}},
		{"(SUBJECT)", []uint32{1, 2, 3}},
		{"(REVERSE SUBJECT SIZE)", []uint32{3, 1, 2}},
		{"(REVERSE SUBJECT REVERSE SIZE)", []uint32{3, 2, 1}},
		{"(DISPLAYFROM)", []uint32{3, 1, 2}},
	}
	for _, tc := range tests {
		keys, err := parseSortCriteria(searchDecoder(tc.keys))
		if err != nil {
			t.Fatalf("%s: %v", tc.keys, err)
		}
		var got []uint32
		for _, h := range sortHits(hits, keys) {
			got = append(got, h.Seq)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.keys, got, tc.want)
		}
	}
	for _, bad := range []string{"()", "(FOO)", "(REVERSE)", "(REVERSE REVERSE DATE)", "DATE"} {
		if _, err := parseSortCriteria(searchDecoder(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func FuzzSearchCriteria(f *testing.F) {
	for _, s := range []string{
		" ALL", " UID 1:*", " RETURN (MIN MAX COUNT SAVE) CHARSET UTF-8 TEXT hello",
		" OR (SEEN FLAGGED) NOT (DELETED LARGER 100)", ` HEADER "X-Spam" "yes" SINCE 1-Jan-2024`,
		" MODSEQ \"/flags/\\\\seen\" priv 5", " $", " 1:3,5 UNKEYWORD $Junk", " SUBJECT {3}\r\nabc",
		" NOT NOT NOT (((SEEN)))", " SENTON \"1-Feb-2020\" BODY x",
		// RFC 5267 4: CONTEXT=SEARCH return options.
		" RETURN (PARTIAL 1:500 UPDATE CONTEXT) UNDELETED UNKEYWORD $Junk", " RETURN (COUNT PARTIAL 23500:24000) ALL",
	} {
		f.Add(s)
	}
	view := fakeView{1, 2, 5, 9}
	msgs := testMessages()
	for i := range msgs {
		msgs[i].UID = view[i]
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\r\n") && !strings.Contains(line, "}\r\n") {
			return
		}
		d := searchDecoder(line)
		a, err := parseSearchArgs(d)
		if err == nil {
			err = d.CRLF()
		}
		if err != nil {
			var re *respError
			if !errors.As(err, &re) && d.ioErr == nil && !errors.Is(err, io.EOF) {
				t.Fatalf("non-protocol error: %v", err)
			}
			return
		}
		st := &fakeMessages{msgs: msgs}
		if _, err := runSearch(context.Background(), st, 1, view, &a.crit, []storage.UID{2}, false, 0); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSearchHeaderEnvelopeFallback(t *testing.T) {
	// A message without a stored header is matched on its envelope.
	m := &matcher{}
	msg := &storage.Message{UID: 1, Envelope: &storage.Envelope{
		Subject: "Quarterly report",
		To:      []storage.Address{{Name: "Team", Mailbox: "team", Host: "example.test"}},
	}}
	for _, tc := range []struct {
		key, value string
		want       bool
	}{
		{"Subject", "REPORT", true},
		{"To", "team <team@", true},
		{"Cc", "", false},
		{"From", "x", false},
		{"X-Other", "", false},
	} {
		if got := m.matchHeader(msg, tc.key, tc.value); got != tc.want {
			t.Errorf("%s %q: got %v, want %v", tc.key, tc.value, got, tc.want)
		}
	}
}

// TestSearchAddressForms: FROM/TO/CC/BCC match an address however the
// header writes it (comments inside the brackets, a comment as name, a
// source route, groups), as imaptest's "search-addresses" expects.
func TestSearchAddressForms(t *testing.T) {
	m := &matcher{}
	for _, tc := range []struct {
		header, key, value string
		want               bool
	}{
		{"From: <user-from (comment)@ (comment) domain.org>\r\n", "FROM", "user-from@domain.org", true},
		{"From: user-from@domain.org (RealFrom)\r\n", "FROM", "realfrom", true},
		{"From: RealFrom <user-from@domain.org>\r\n", "FROM", "user-from@domain.org", true},
		{"From: <@route:user@domain>\r\n", "FROM", "user@domain", true},
		{"To: groupname: groupuser1@domain.org, groupuser2@domain.org;,\r\n  groupname2: groupuser3@domain.org;\r\n", "TO", "groupuser3@domain.org", true},
		{"From: user-from1@domain.org, user-from2@domain.org\r\n", "FROM", "user-from@domain.org", false},
		{"Subject: <a (x)@b>\r\n", "SUBJECT", "a@b", false}, // not an address field
	} {
		msg := &storage.Message{UID: 1, Header: []byte(tc.header + "\r\n")}
		if got := m.matchHeader(msg, tc.key, tc.value); got != tc.want {
			t.Errorf("%q %s %q: got %v, want %v", tc.header, tc.key, tc.value, got, tc.want)
		}
	}
}

// TestSortCollation checks the RFC 5256/5957 keys on the header forms of
// imaptest's sort groups: a group's name is its first address's mailbox
// (CC, DISPLAYTO), and keys compare by i;ascii-casemap, where "[" and "_"
// follow the letters.
func TestSortCollation(t *testing.T) {
	sortOf := func(t *testing.T, crit string, msgs []storage.Message) []uint32 {
		t.Helper()
		hits := make([]searchHit, len(msgs))
		for i := range msgs {
			hits[i] = searchHit{Seq: uint32(i + 1), Msg: msgs[i]}
		}
		keys, err := parseSortCriteria(searchDecoder(crit))
		if err != nil {
			t.Fatal(err)
		}
		var got []uint32
		for _, h := range sortHits(hits, keys) {
			got = append(got, h.Seq)
		}
		return got
	}
	withEnv := func(field string, values ...string) []storage.Message {
		out := make([]storage.Message, len(values))
		for i, v := range values {
			env := &storage.Envelope{}
			as := mimeparse.ParseAddressList(v)
			switch field {
			case "cc":
				env.Cc = as
			case "to":
				env.To = as
			}
			out[i] = storage.Message{Envelope: env, InternalDate: time.Unix(int64(1000+i), 0)}
		}
		return out
	}
	cc := withEnv("cc", "user2@domain2.org (foo bar)", "user2: blah@domain1.org;", "user1@domain1.org")
	for crit, want := range map[string][]uint32{
		"(CC)":                         {3, 1, 2},
		"(REVERSE CC)":                 {1, 2, 3},
		"(CC REVERSE ARRIVAL)":         {3, 2, 1},
		"(REVERSE CC ARRIVAL)":         {1, 2, 3},
		"(CC REVERSE SIZE)":            {3, 1, 2},
		"(REVERSE CC DATE)":            {1, 2, 3},
		"(CC ARRIVAL)":                 {3, 1, 2},
		"(REVERSE CC REVERSE ARRIVAL)": {2, 1, 3},
	} {
		if got := sortOf(t, crit, cc); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", crit, got, want)
		}
	}
	to := withEnv("to", "foo bar <a@b.c>", "b@c.d", "d", "=?iso-8859-1?q?foo_aar?= <e@f.g>",
		"=?iso-8859-1?q?foo_car?= <f@g.h>", "a: xx@xx.org, yy@yy.org;", "z: aa@aa.org, bb@bb.org;", "empty:;")
	if got, want := sortOf(t, "(DISPLAYTO)", to), []uint32{6, 2, 3, 8, 4, 1, 5, 7}; !slices.Equal(got, want) {
		t.Errorf("DISPLAYTO: got %v, want %v", got, want)
	}
	if got, want := sortOf(t, "(REVERSE DISPLAYTO)", to), []uint32{7, 5, 1, 4, 8, 3, 2, 6}; !slices.Equal(got, want) {
		t.Errorf("REVERSE DISPLAYTO: got %v, want %v", got, want)
	}
	var subj []storage.Message
	for _, s := range []string{"a", "C", "b", "_", "[foo] Fwd: [bar] Re: fw: b (fWd)  (fwd)", "b (a)", "Re: [FWD: c]",
		"[xyz]", "", " ", "Re: b", "RE: C", "Re: c", "Ad: Re: Ad: Re: Ad: x", "re: [fwd: [fwd: re: [fwd: babylon]]]"} {
		subj = append(subj, storage.Message{Envelope: &storage.Envelope{Subject: s}, BaseSubject: mimeparse.BaseSubject(s)})
	}
	if got, want := sortOf(t, "(SUBJECT)", subj), []uint32{9, 10, 1, 14, 3, 5, 11, 6, 15, 2, 7, 12, 13, 8, 4}; !slices.Equal(got, want) {
		t.Errorf("SUBJECT: got %v, want %v", got, want)
	}
}

// TestSearchReportsGoneMessages: a message of the view that the store no
// longer has (another session expunged it, this one was not told yet)
// cannot be evaluated, and runSearchGone says so, for whole-mailbox and
// UID-narrowed queries; a message merely outside the UID range does not.
func TestSearchReportsGoneMessages(t *testing.T) {
	st := &fakeMessages{msgs: testMessages()} // UIDs 10, 11, 20
	tests := []struct {
		line string
		view fakeView
		gone bool
	}{
		{" ALL UNDELETED", fakeView{10, 11, 20}, false},
		{" ALL UNDELETED", fakeView{10, 11, 15, 20}, true},
		{" UID 11:20 UNDELETED", fakeView{10, 11, 15, 20}, true},
		{" UID 16:20 UNDELETED", fakeView{10, 11, 15, 20}, false},
		{" UID 1:10 UNSEEN", fakeView{5, 10, 11}, true},
	}
	for _, tc := range tests {
		a, err := parseSearchLine(tc.line)
		if err != nil {
			t.Fatal(err)
		}
		_, gone, err := runSearchGone(context.Background(), st, 1, tc.view, &a.crit, nil, false, 0)
		if err != nil {
			t.Fatal(err)
		}
		if gone != tc.gone {
			t.Errorf("%s over %v: gone %v, want %v", tc.line, tc.view, gone, tc.gone)
		}
	}
}
