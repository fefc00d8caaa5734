package imap

import (
	"bufio"
	"bytes"
	"compress/flate"
	"errors"
	cfgpkg "github.com/floemail/floe/server/config"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func newTestDecoder(in string, utf8 bool) (*decoder, *strings.Builder) {
	var conts strings.Builder
	d := &decoder{
		r:    bufio.NewReaderSize(strings.NewReader(in), 16),
		cont: func(text string) error { conts.WriteString("+ " + text + "\n"); return nil },
		utf8: func() bool { return utf8 },
	}
	d.reset(preAuthMaxLine, preAuthMaxLiteral)
	return d, &conts
}

func TestDecoderStrings(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
		cont     bool
	}{
		{in: "atom\r\n", want: "atom"},
		{in: "a]b\r\n", want: "a]b"},
		{in: `"quoted \"x\" \\"` + "\r\n", want: `quoted "x" \`},
		{in: `""` + "\r\n", want: ""},
		{in: "{5}\r\nhello\r\n", want: "hello", cont: true},
		{in: "{5+}\r\nhello\r\n", want: "hello"},
		{in: "{0}\r\n\r\n", want: "", cont: true},
		{in: `"unterminated` + "\r\n", bad: true},
		{in: `"bad \q escape"` + "\r\n", bad: true},
		{in: "(list)\r\n", bad: true},
		{in: "\r\n", bad: true},
		{in: "\"caf\xc3\xa9\"\r\n", want: "café"},
		{in: "\"bad \xff utf8\"\r\n", bad: true},
	}
	for _, tt := range tests {
		d, conts := newTestDecoder(tt.in, false)
		got, err := d.AString()
		if tt.bad {
			var re *respError
			if !errors.As(err, &re) || re.kind != "BAD" {
				t.Errorf("AString(%q) = %q, %v; want BAD", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("AString(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			continue
		}
		if err := d.CRLF(); err != nil {
			t.Errorf("CRLF after %q: %v", tt.in, err)
		}
		if (conts.Len() > 0) != tt.cont {
			t.Errorf("AString(%q): continuation %q, want %v", tt.in, conts.String(), tt.cont)
		}
	}
}

func TestDecoderLiteralLimits(t *testing.T) {
	d, conts := newTestDecoder("{70000}\r\n", false)
	_, err := d.AString()
	var re *respError
	if !errors.As(err, &re) || re.code != "TOOBIG" || re.close || conts.Len() > 0 || !d.lineDone {
		t.Fatalf("sync literal over limit: %v close=%v conts=%q", err, re != nil && re.close, conts)
	}
	d, _ = newTestDecoder("{70000+}\r\n", false)
	_, err = d.AString()
	if !errors.As(err, &re) || !re.close {
		t.Fatalf("non-sync literal over limit must close: %v", err)
	}
	d, _ = newTestDecoder(strings.Repeat("a", preAuthMaxLine+10)+"\r\n", false)
	_, err = d.AString()
	if err != errLineTooLong {
		t.Fatalf("long line: %v", err)
	}
	// APPEND literal: refused above max, streamed below.
	d, conts = newTestDecoder("~{10}\r\n0123456789 rest\r\n", false)
	r, n, bin, err := d.Literal(20)
	if err != nil || n != 10 || !bin || conts.Len() == 0 {
		t.Fatalf("Literal: %v %d %v", err, n, bin)
	}
	b, _ := io.ReadAll(r)
	if string(b) != "0123456789" {
		t.Fatalf("literal data %q", b)
	}
	if err := d.SP(); err != nil {
		t.Fatal(err)
	}
	if a, _ := d.Atom(); a != "rest" {
		t.Fatalf("after literal: %q", a)
	}
	d, _ = newTestDecoder("{30}\r\n", false)
	if _, _, _, err := d.Literal(20); !errors.As(err, &re) || re.code != "TOOBIG" {
		t.Fatalf("Literal over max: %v", err)
	}
	// Unread literal data is skipped before the next read.
	d, _ = newTestDecoder("{4+}\r\nabcd\r\n", false)
	if _, _, _, err := d.Literal(20); err != nil {
		t.Fatal(err)
	}
	if err := d.CRLF(); err != nil {
		t.Fatalf("CRLF after unread literal: %v", err)
	}
}

func TestDecoderNumSet(t *testing.T) {
	tests := []struct {
		in   string
		uid  bool
		want string
		bad  bool
	}{
		{in: "1", want: "1"},
		{in: "1:*", want: "1:*"},
		{in: "*:3", want: "3:*"},
		{in: "1,3:5,7", want: "1,3:5,7"},
		{in: "5:3", want: "3:5"},
		{in: "*", want: "*"},
		{in: "$", want: "$", uid: true},
		{in: "0", bad: true},
		{in: "1:0", bad: true},
		{in: "1,,2", bad: true},
		{in: "4294967296", bad: true},
		{in: "x", bad: true},
	}
	for _, tt := range tests {
		d, _ := newTestDecoder(tt.in+"\r\n", false)
		set, err := d.NumSet(tt.uid)
		if tt.bad {
			if err == nil {
				t.Errorf("NumSet(%q) = %v, want error", tt.in, set)
			}
			continue
		}
		if err != nil || set.String() != tt.want {
			t.Errorf("NumSet(%q) = %v, %v; want %q", tt.in, set, err, tt.want)
		}
		if _, isUID := set.(imap.UIDSet); isUID != (tt.uid || tt.in == "$") {
			t.Errorf("NumSet(%q, uid=%v) type %T", tt.in, tt.uid, set)
		}
	}
}

func TestDecoderMisc(t *testing.T) {
	d, _ := newTestDecoder(`(\seen \ANSWERED $Junk \Custom) "17-Jul-1996 02:44:25 -0700" " 7-Feb-2024 01:02:03 +0000" 1-Feb-1994 "INBOX/sub" Entw&APw-rfe NIL {3}`+"\r\nabc\r\n", false)
	flags, err := d.FlagList()
	if err != nil || strings.Join(flags, " ") != `\Seen \Answered $Junk \Custom` {
		t.Fatalf("FlagList: %q %v", flags, err)
	}
	d.SP()
	dt, err := d.DateTime()
	if err != nil || dt.Format(time.RFC3339) != "1996-07-17T02:44:25-07:00" {
		t.Fatalf("DateTime: %v %v", dt, err)
	}
	d.SP()
	if dt, err = d.DateTime(); err != nil || dt.Day() != 7 {
		t.Fatalf("DateTime with space-padded day: %v %v", dt, err)
	}
	d.SP()
	if dt, err = d.Date(); err != nil || dt.Year() != 1994 {
		t.Fatalf("Date: %v %v", dt, err)
	}
	d.SP()
	if mb, err := d.Mailbox(); err != nil || mb != "INBOX/sub" {
		t.Fatalf("Mailbox: %q %v", mb, err)
	}
	d.SP()
	if mb, err := d.Mailbox(); err != nil || mb != "Entwürfe" {
		t.Fatalf("Mailbox mUTF-7: %q %v", mb, err)
	}
	d.SP()
	if _, isNil, err := d.NString(); err != nil || !isNil {
		t.Fatalf("NString NIL: %v %v", isNil, err)
	}
	d.SP()
	if s, isNil, err := d.NString(); err != nil || isNil || s != "abc" {
		t.Fatalf("NString literal: %q %v", s, err)
	}
	if err := d.CRLF(); err != nil {
		t.Fatal(err)
	}
	// With UTF8=ACCEPT, names are not mUTF-7 decoded.
	d, _ = newTestDecoder("Entw&APw-rfe inbox\r\n", true)
	if mb, _ := d.Mailbox(); mb != "Entw&APw-rfe" {
		t.Fatalf("utf8 Mailbox: %q", mb)
	}
	d.SP()
	if mb, _ := d.Mailbox(); mb != "INBOX" {
		t.Fatalf("inbox: %q", mb)
	}
	// skipLine discards non-synchronising literal data announced on the line.
	d, _ = newTestDecoder("garbage {3+}\r\nabc more\r\nNEXT\r\n", false)
	d.Atom()
	if err := d.skipLine(); err != nil {
		t.Fatal(err)
	}
	d.reset(preAuthMaxLine, preAuthMaxLiteral)
	if a, _ := d.Atom(); a != "NEXT" {
		t.Fatalf("after skipLine: %q", a)
	}
}

func TestEncoder(t *testing.T) {
	var sb strings.Builder
	e := &encoder{w: &sb, pool: newWriterPool()}
	e.Untagged().Atom("X ").String("plain").SP().String(`q"b\`).SP().String("line\nbreak").SP().String("café").
		SP().NString("").SP().Mailbox("Entwürfe").SP().Flags([]string{`\Seen`, "k"}).SP().
		Literal(strings.NewReader("abc"), 3, true).CRLF()
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "* X \"plain\" \"q\\\"b\\\\\" {10}\r\nline\nbreak {5}\r\ncafé NIL \"Entw&APw-rfe\" (\\Seen k) ~{3}\r\nabc\r\n"
	if sb.String() != want {
		t.Fatalf("encoder:\n%q\nwant\n%q", sb.String(), want)
	}
	sb.Reset()
	e.utf8 = true
	e.String("café").SP().Mailbox("Entwürfe").Flush()
	if sb.String() != `"café" "Entwürfe"` {
		t.Fatalf("utf8 encoder: %q", sb.String())
	}
}

// parseAnything drives the decoder over one command line the way handlers
// do, choosing the element type by the next byte.
func parseAnything(d *decoder, depth int) error {
	for {
		b, err := d.Peek()
		if err != nil {
			return err
		}
		switch {
		case b == '\r' || b == '\n':
			return d.CRLF()
		case b == ')' && depth > 0:
			return nil
		case b == ' ':
			d.SP()
		case b == '(':
			if depth > 8 {
				return errBad("too deep")
			}
			if err := d.List(func() error { return parseAnything(d, depth+1) }); err != nil {
				return err
			}
		case b == '~':
			r, _, _, err := d.Literal(1 << 16)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, r)
		case b == '"' || b == '{':
			if _, err := d.String(); err != nil {
				return err
			}
		case isDigit(b) || b == '*' || b == '$':
			if _, err := d.NumSet(false); err != nil {
				return err
			}
		case b == '\\':
			if _, err := d.Flag(); err != nil {
				return err
			}
		default:
			if _, err := d.ListMailbox(); err != nil {
				return err
			}
		}
		if depth > 0 {
			if b2, err := d.Peek(); err == nil && b2 == ')' {
				return nil
			}
		}
	}
}

func FuzzDecoder(f *testing.F) {
	for _, s := range []string{
		"a1 LOGIN alice@example.test password\r\n",
		"a2 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n",
		"a3 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From Subject)]<0.100>)\r\n",
		"a4 APPEND Drafts (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {5+}\r\nhello\r\n",
		"a5 STORE 2:4 +FLAGS.SILENT (\\Deleted $Junk)\r\n",
		"a6 SEARCH CHARSET UTF-8 OR (FROM \"x\" SINCE 1-Feb-1994) $\r\n",
		"a7 ID (\"name\" \"Thunderbird\" \"version\" {4}\r\n1.23)\r\n",
		"a8 APPEND INBOX ~{3+}\r\n\x00\x01\x02\r\n",
		"a9 LIST \"\" \"Entw&APw-rfe/*\"\r\n",
		// MULTIAPPEND (RFC 3502), CATENATE (RFC 4469).
		"b1 APPEND INBOX (\\Seen) {5+}\r\nhello (\\Flagged) \"17-Jul-1996 02:44:25 -0700\" {5+}\r\nworld\r\n",
		"b2 APPEND Drafts CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" TEXT {4+}\r\nbody)\r\n",
		"b3 APPEND INBOX CATENATE (TEXT {2+}\r\nhi URL \"/INBOX/;UID=1\") CATENATE (URL \"/INBOX/;UID=2/;PARTIAL=0.10\") {3+}\r\nabc\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, _ := newTestDecoder(in, len(in)%2 == 0)
		for i := 0; i < 20; i++ {
			d.reset(preAuthMaxLine, preAuthMaxLiteral)
			if _, err := d.tag(); err != nil {
				if d.ioErr != nil {
					return
				}
			}
			err := parseAnything(d, 0)
			if d.ioErr != nil {
				return
			}
			var re *respError
			if err != nil && !errors.As(err, &re) {
				t.Fatalf("non-protocol error without I/O error: %v", err)
			}
			if err != nil {
				if re.close {
					return
				}
				if err := d.skipLine(); err != nil {
					return
				}
			}
		}
	})
}

func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"a1 CAPABILITY\r\na2 NOOP\r\n",
		"a1 LOGIN alice@example.test password\r\na2 SELECT INBOX\r\na3 IDLE\r\nDONE\r\na4 LOGOUT\r\n",
		"a1 AUTHENTICATE PLAIN\r\nAGFsaWNlQGV4YW1wbGUudGVzdABwYXNzd29yZA==\r\n",
		"a1 AUTHENTICATE LOGIN\r\n*\r\n",
		"a1 STARTTLS\r\n\x16\x03\x01\x00\x05hello",
		"a1 ID (\"name\" {3+}\r\nabc)\r\na2 ENABLE CONDSTORE\r\n",
		"garbage\r\n\r\n\x00\xff{99999999+}\r\n",
		"a1 LOGIN {5}\r\nalice {8}\r\npassword\r\n",
		"a1 LOGIN alice@example.test password\r\n" +
			"a2 APPEND INBOX (\\Seen) {14+}\r\nSubject: x\r\n\r\n {14+}\r\nSubject: y\r\n\r\n\r\n" +
			"a3 APPEND Archive CATENATE (URL \"/INBOX/;UID=1/;SECTION=HEADER\" TEXT {3+}\r\nhi\n URL \"/INBOX;UIDVALIDITY=1/;UID=2\")\r\n" +
			"a4 APPEND Archive CATENATE (TEXT {2}\r\n",
		// ESORT, CONTEXT=SEARCH/SORT (RFC 5267).
		"a1 LOGIN alice@example.test password\r\na2 SELECT INBOX\r\n" +
			"a3 UID SORT RETURN (MIN MAX COUNT PARTIAL 1:10 UPDATE) (REVERSE SUBJECT) UTF-8 ALL\r\n" +
			"a4 SEARCH RETURN (UPDATE CONTEXT ALL) UNSEEN\r\na5 STORE 1:* +FLAGS (\\Seen)\r\na6 CANCELUPDATE \"a3\" \"a4\"\r\n",
		"a1 LOGIN alice@example.test password\r\na2 SETACL INBOX bob lrs\r\na3 GETACL INBOX\r\na4 LISTRIGHTS INBOX -bob\r\n" +
			"a5 MYRIGHTS \"~bob@example.test\"\r\na6 DELETEACL INBOX bob\r\na7 SELECT \"~x@example.test/INBOX\"\r\n",
	} {
		f.Add(s)
	}
	// NOTIFY (RFC 5465).
	f.Add("a1 LOGIN alice@example.test password\r\na2 SELECT INBOX\r\n" +
		"a3 NOTIFY SET STATUS (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (Subject)]) MessageExpunge FlagChange)) " +
		"(personal (MessageNew MessageExpunge MailboxName SubscriptionChange MailboxMetadataChange)) (mailboxes (INBOX Trash) NONE)\r\n" +
		"a4 CREATE x\r\na5 NOTIFY NONE\r\na6 LOGOUT\r\n")
	// COMPRESS=DEFLATE (RFC 4978): the commands after it are deflated.
	var z bytes.Buffer
	zw, _ := flate.NewWriter(&z, flate.BestSpeed)
	zw.Write([]byte("a3 SELECT INBOX\r\n"))
	zw.Flush()
	zw.Write([]byte("a4 FETCH 1:* (FLAGS)\r\na5 LOGOUT\r\n"))
	zw.Flush()
	f.Add("a1 LOGIN alice@example.test password\r\na2 COMPRESS DEFLATE\r\n" + z.String())
	env := newTestServer(f)
	env.setConfig(func(c *cfgConfig) { c.TLS.AllowPlaintextAuth = true })
	f.Fuzz(func(t *testing.T, in string) {
		cli, srv := net.Pipe()
		sess := env.srv.newSession(srv, false)
		done := make(chan struct{})
		go func() { sess.serve(); close(done) }()
		go io.Copy(io.Discard, cli)
		cli.SetWriteDeadline(time.Now().Add(5 * time.Second))
		cli.Write([]byte(in))
		cli.Close()
		select {
		case <-done:
		case <-time.After(safety):
			t.Fatal("session did not end after the client closed")
		}
	})
}

type cfgConfig = cfgpkg.Config
