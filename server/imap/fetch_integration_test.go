package imap

import (
	"strconv"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

func selectInbox(t *testing.T, c *imapclient.Client) {
	t.Helper()
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestFetchClient(t *testing.T) {
	env := newTestServer(t)
	raw := nestedMsg
	env.deliver(t, testUser, raw)
	env.deliver(t, testUser, "From: =?utf-8?q?Zo=C3=AB?= <zoe@example.org>\r\nSubject: =?utf-8?b?R3LDvMOfZQ==?=\r\nTo: undisclosed-recipients:;\r\n\r\nhi\r\n")
	c := env.dial(t)
	selectInbox(t, c)

	opts := &imap.FetchOptions{
		UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{
			{Part: []int{3, 2}, Peek: true},
			{Specifier: imap.PartSpecifierHeader, Peek: true},
			{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject", "To"}, Peek: true},
			{Part: []int{3}, Specifier: imap.PartSpecifierText, Peek: true},
			{Part: []int{1}, Specifier: imap.PartSpecifierMIME, Peek: true},
			{Partial: &imap.SectionPartial{Offset: 6, Size: 5}, Peek: true},
		},
		BinarySection:     []*imap.FetchItemBinarySection{{Part: []int{2}, Peek: true}},
		BinarySectionSize: []*imap.FetchItemBinarySectionSize{{Part: []int{2}}},
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), opts).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.UID != 1 || m.RFC822Size != int64(len(raw)) || m.InternalDate.IsZero() ||
		len(m.Flags) != 1 || m.Flags[0] != `\Recent` { // first to see it (RFC 3501 2.3.2)
		t.Fatalf("metadata: uid %d size %d date %v flags %v", m.UID, m.RFC822Size, m.InternalDate, m.Flags)
	}
	if m.Envelope.Subject != "nested" || m.Envelope.From[0].Addr() != "alice@example.test" ||
		m.Envelope.Sender[0].Name != "Alice" || m.Envelope.ReplyTo[0].Addr() != "alice@example.test" ||
		m.Envelope.To[0].Addr() != "bob@example.test" || m.Envelope.MessageID != "outer@example.test" {
		t.Fatalf("envelope: %+v", m.Envelope)
	}
	mp, ok := m.BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || mp.Subtype != "MIXED" || len(mp.Children) != 4 || mp.Extended == nil || mp.Extended.Params["boundary"] != "outer" {
		t.Fatalf("bodystructure: %#v", m.BodyStructure)
	}
	att := mp.Children[1].(*imap.BodyStructureSinglePart)
	if att.Filename() != "a.bin" || att.Encoding != "BASE64" || att.Size != 16 {
		t.Fatalf("attachment: %#v", att)
	}
	inner := mp.Children[2].(*imap.BodyStructureSinglePart)
	if inner.MessageRFC822 == nil || inner.MessageRFC822.Envelope.Subject != "inner" {
		t.Fatalf("inner: %#v", inner)
	}
	if alt, ok := inner.MessageRFC822.BodyStructure.(*imap.BodyStructureMultiPart); !ok || len(alt.Children) != 2 {
		t.Fatalf("inner structure: %#v", inner.MessageRFC822.BodyStructure)
	}
	want := map[int]string{
		0: "<p>inner =3D html</p>",
		1: raw[:strings.Index(raw, "\r\n\r\n")+4],
		2: "To: Bob <bob@example.test>\r\nSubject: nested\r\n\r\n",
		4: "Content-Type: text/plain; charset=utf-8\r\n\r\n",
		5: raw[6:11],
	}
	for i, w := range want {
		if got := string(m.FindBodySection(opts.BodySection[i])); got != w {
			t.Errorf("section %d: got %q, want %q", i, got, w)
		}
	}
	if got := string(m.FindBinarySection(opts.BinarySection[0])); got != "\x00\x01\x02\x03\x04\x05hello" {
		t.Errorf("binary: %q", got)
	}
	if n, ok := m.FindBinarySectionSize([]int{2}); !ok || n != 11 {
		t.Errorf("binary size %d %v", n, ok)
	}

	// Non-ASCII header text arrives as encoded-words the client decodes.
	msgs, err = c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if env := msgs[0].Envelope; env.Subject != "Grüße" || env.From[0].Name != "Zoë" {
		t.Fatalf("envelope: %+v", env)
	}

	// A non-PEEK fetch sets \Seen and reports it.
	msgs, err = c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Part: []int{1}}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs[0].Flags) != 2 || msgs[0].Flags[1] != imap.FlagSeen {
		t.Fatalf("flags after BODY[1]: %v", msgs[0].Flags)
	}
	if got := string(msgs[0].FindBodySection(&imap.FetchItemBodySection{Part: []int{1}})); got != "Hello Bob." {
		t.Fatalf("BODY[1] = %q", got)
	}
}

func TestFetchTranscript(t *testing.T) {
	env := newTestServer(t)
	env.deliver(t, testUser, nestedMsg)
	c := env.rawLogin(t)
	c.cmd("s", "EXAMINE INBOX", "OK")

	lines := c.cmd("a", "FETCH 1 (BODY.PEEK[]<0.10> RFC822.SIZE)", "OK")
	want := "* 1 FETCH (BODY[]<0> {10}\r\nFrom: Alic RFC822.SIZE " + itoa(len(nestedMsg)) + ")"
	if lines[0] != want {
		t.Fatalf("got %q, want %q", lines[0], want)
	}
	lines = c.cmd("b", "FETCH 1 BODY.PEEK[HEADER.FIELDS (subject)]", "OK")
	if lines[0] != "* 1 FETCH (BODY[HEADER.FIELDS (subject)] {19}\r\nSubject: nested\r\n\r\n)" {
		t.Fatalf("got %q", lines[0])
	}
	lines = c.cmd("c", "FETCH 1 (BODY[9] BINARY.SIZE[9])", "OK")
	if lines[0] != "* 1 FETCH (BODY[9] NIL BINARY.SIZE[9] NIL)" {
		t.Fatalf("got %q", lines[0])
	}
	c.cmd("d", "FETCH 1 BINARY[4]", "NO [UNKNOWN-CTE]")
	lines = c.cmd("e", "FETCH 1 (BINARY.PEEK[2]<6.100>)", "OK")
	if lines[0] != "* 1 FETCH (BINARY[2]<6> ~{5}\r\nhello)" {
		t.Fatalf("got %q", lines[0])
	}
	lines = c.cmd("f", "FETCH 1 BINARY.PEEK[2]", "OK")
	if lines[0] != "* 1 FETCH (BINARY[2] ~{11}\r\n\x00\x01\x02\x03\x04\x05hello)" {
		t.Fatalf("got %q", lines[0])
	}
	// EXAMINE is read-only: no \Seen; the unclaimed message is \Recent.
	lines = c.cmd("g", "FETCH 1 (RFC822.TEXT FLAGS)", "OK")
	if !strings.HasSuffix(lines[0], ` FLAGS (\Recent))`) {
		t.Fatalf("got %q", lines[0])
	}
	lines = c.cmd("h", "UID FETCH 1 (FLAGS)", "OK")
	if lines[0] != `* 1 FETCH (UID 1 FLAGS (\Recent))` {
		t.Fatalf("got %q", lines[0])
	}
	c.cmd("i", "FETCH 1 (BODY[0])", "BAD")
	c.cmd("j", "FETCH 2 FLAGS", "BAD")
	lines = c.cmd("k", "FETCH 1 (MODSEQ)", "OK")
	if !strings.HasPrefix(lines[0], "* OK [HIGHESTMODSEQ ") || !strings.HasPrefix(lines[1], "* 1 FETCH (MODSEQ (") {
		t.Fatalf("got %q", lines[0])
	}
	lines = c.cmd("l", "FETCH 1 FAST", "OK")
	if !strings.HasPrefix(lines[0], `* 1 FETCH (FLAGS (\Recent) INTERNALDATE "`) {
		t.Fatalf("got %q", lines[0])
	}
	lines = c.cmd("m", "FETCH 1 BODY", "OK")
	if !strings.HasPrefix(lines[0], `* 1 FETCH (BODY (("TEXT" "PLAIN" ("CHARSET" "utf-8") NIL NIL "7BIT" 10 0)`) {
		t.Fatalf("got %q", lines[0])
	}
}

func TestFetchSeenAndChangedSince(t *testing.T) {
	env := newTestServer(t)
	for i := 0; i < 3; i++ {
		env.deliver(t, testUser, testMessage("m"+itoa(i)))
	}
	c := env.rawLogin(t)
	c.cmd("e", "ENABLE QRESYNC", "OK")
	c.cmd("s", "SELECT INBOX", "OK")
	lines := c.cmd("a", "FETCH 2 (BODY[TEXT])", "OK")
	if !strings.Contains(lines[0], `FLAGS (\Recent \Seen)`) || !strings.Contains(lines[0], "MODSEQ (") || !strings.Contains(lines[0], "Hello m1") {
		t.Fatalf("got %q", lines)
	}
	// The flag change is not echoed later.
	lines = c.cmd("n", "NOOP", "OK")
	if len(lines) != 1 {
		t.Fatalf("echo: %q", lines)
	}
	lines = c.cmd("b", "FETCH 2 (MODSEQ)", "OK")
	ms := strings.TrimSuffix(strings.TrimPrefix(lines[0], "* 2 FETCH (MODSEQ ("), "))")
	c.cmd("c", "STORE 1 +FLAGS.SILENT (\\Deleted)", "OK")
	c.cmd("d", "EXPUNGE", "OK")
	lines = c.cmd("f", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE "+ms+" VANISHED)", "OK")
	if lines[0] != "* VANISHED (EARLIER) 1" || len(lines) != 2 {
		t.Fatalf("got %q", lines)
	}
	lines = c.cmd("g", "UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1)", "OK")
	if len(lines) != 3 || !strings.Contains(lines[0], "UID 2") || !strings.Contains(lines[0], "MODSEQ") {
		t.Fatalf("got %q", lines)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
