package mimeparse

import (
	"encoding/base64"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
)

// tcase is one table test; check runs for the LF and the CRLF form of raw.
type tcase struct {
	name  string
	raw   string
	check func(t *testing.T, raw string, p *storage.Parsed)
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

// nl returns s with the line ends of raw (LF or CRLF).
func nl(raw, s string) string {
	if strings.Contains(raw, "\r\n") {
		return crlf(s)
	}
	return s
}

var cases = []tcase{
	{"simple", msgSimple, func(t *testing.T, raw string, p *storage.Parsed) {
		s := &p.Structure
		eq(t, "type", s.Type+"/"+s.Subtype, "text/plain")
		eq(t, "params", s.Params, map[string]string{"charset": "us-ascii"})
		eq(t, "body", body(raw, s), nl(raw, "Hi Bob,\n\nshall we have lunch tomorrow?\nAlice\n"))
		eq(t, "lines", s.Lines, int64(4))
		eq(t, "header", string(p.Header), raw[:s.BodyStart])
		if !strings.HasSuffix(string(p.Header), nl(raw, "1.0\n\n")) {
			t.Errorf("header does not end with the blank line: %q", p.Header)
		}
		e := p.Envelope
		eq(t, "from", e.From, []storage.Address{{Name: "Alice Example", Mailbox: "alice", Host: "example.org"}})
		eq(t, "to", e.To, []storage.Address{{Name: "Bob", Mailbox: "bob", Host: "example.com"}})
		eq(t, "sender", e.Sender, []storage.Address(nil))
		eq(t, "reply-to", e.ReplyTo, []storage.Address(nil))
		eq(t, "subject", e.Subject, "Lunch tomorrow?")
		eq(t, "date", e.Date.Equal(time.Date(2024, 2, 12, 9, 59, 59, 0, time.UTC)), true)
		eq(t, "rawdate", e.RawDate, "Mon, 12 Feb 2024 10:59:59 +0100")
		eq(t, "message-id", e.MessageID, "<20240212095959.1234@example.org>")
		eq(t, "references", p.References, []string(nil))
		eq(t, "text", p.Text, "Hi Bob,\n\nshall we have lunch tomorrow?\nAlice")
		eq(t, "attachment", p.HasAttachment, false)
	}},
	{"alternative", msgAlternative, func(t *testing.T, raw string, p *storage.Parsed) {
		s := &p.Structure
		eq(t, "type", s.Type+"/"+s.Subtype, "multipart/alternative")
		eq(t, "boundary", s.Params["boundary"], "----=_Part_1_2024")
		eq(t, "children", len(s.Children), 2)
		eq(t, "subject", p.Envelope.Subject, "Wochenangebote – 50 %")
		plain, html := partAt(t, s, 1), partAt(t, s, 2)
		eq(t, "plain body", body(raw, plain), nl(raw, "Gro=C3=9Fe Rabatte diese Woche.=20\nNur f=C3=BCr kurze Zeit: soft=\nbreak."))
		eq(t, "plain header", header(raw, plain), nl(raw, "Content-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: quoted-printable\n\n"))
		eq(t, "plain encoding", plain.Encoding, "quoted-printable")
		eq(t, "plain lines", plain.Lines, int64(2))
		eq(t, "html lines", html.Lines, int64(1))
		eq(t, "html encoding", html.Encoding, "7bit")
		if !strings.HasSuffix(body(raw, html), "</html>") {
			t.Errorf("html body %q", body(raw, html))
		}
		eq(t, "decoded", readAll(t, DecodedReader(plain, strings.NewReader(raw))), nl(raw, "Große Rabatte diese Woche. \nNur für kurze Zeit: softbreak."))
		// Only the plain alternative is indexed.
		eq(t, "text", p.Text, "Große Rabatte diese Woche. \nNur für kurze Zeit: softbreak.")
	}},
	{"mixed", msgMixed, func(t *testing.T, raw string, p *storage.Parsed) {
		s := &p.Structure
		eq(t, "children", len(s.Children), 2)
		txt, pdf := partAt(t, s, 1), partAt(t, s, 2)
		eq(t, "text body", body(raw, txt), nl(raw, "Hello Bob, the report is attached.\n"))
		eq(t, "text lines", txt.Lines, int64(1))
		eq(t, "pdf type", pdf.Type+"/"+pdf.Subtype, "application/pdf")
		eq(t, "pdf params", pdf.Params, map[string]string{"name": "report.pdf"})
		eq(t, "pdf disposition", pdf.Disposition, "attachment")
		eq(t, "pdf dparams", pdf.DispParams, map[string]string{"filename": "report.pdf"})
		eq(t, "pdf lines", pdf.Lines, int64(0))
		b64 := "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K" +
			"eJwr5HIK4TI2UTAwNVEwUDA3MTQyMzWwMDVVMDFQCOEqVDA0tTQ1MjIyNzcyNDUw"
		want, _ := base64.StdEncoding.DecodeString(b64)
		eq(t, "pdf decoded", readAll(t, DecodedReader(pdf, strings.NewReader(raw))), string(want))
		eq(t, "has attachment", p.HasAttachment, true)
		eq(t, "names", p.AttachmentNames, []string{"report.pdf"})
		eq(t, "cc", p.Envelope.Cc, []storage.Address{{Name: "Dave", Mailbox: "dave", Host: "example.com"}, {Mailbox: "erin", Host: "example.com"}})
		eq(t, "in-reply-to", p.Envelope.InReplyTo, "<req-7@example.com>")
		eq(t, "references", p.References, []string{"<req-7@example.com>"})
		eq(t, "text", p.Text, "Hello Bob, the report is attached.")
		eq(t, "end", s.End, int64(len(raw)))
	}},
	{"forward", msgForward, func(t *testing.T, raw string, p *storage.Parsed) {
		s := &p.Structure
		fwd := partAt(t, s, 2)
		eq(t, "type", fwd.Type+"/"+fwd.Subtype, "message/rfc822")
		m := fwd.Message
		if m == nil {
			t.Fatal("no encapsulated message")
		}
		eq(t, "inner subject", m.Envelope.Subject, "Lunch tomorrow?")
		eq(t, "inner from", m.Envelope.From, []storage.Address{{Name: "Alice Example", Mailbox: "alice", Host: "example.org"}})
		eq(t, "inner date", m.Envelope.Date.Equal(time.Date(2024, 2, 12, 9, 59, 59, 0, time.UTC)), true)
		if !strings.HasPrefix(header(raw, &m.Body), "From: Alice") || !strings.HasSuffix(header(raw, &m.Body), nl(raw, "boundary=\"inner\"\n\n")) {
			t.Errorf("inner header %q", header(raw, &m.Body))
		}
		eq(t, "inner type", m.Body.Type+"/"+m.Body.Subtype, "multipart/alternative")
		eq(t, "message body", body(raw, fwd), raw[m.Body.HeaderStart:m.Body.End])
		if !strings.HasSuffix(body(raw, fwd), nl(raw, "--inner--\n")) {
			t.Errorf("message/rfc822 body ends with %q", body(raw, fwd))
		}
		eq(t, "message lines", fwd.Lines, int64(strings.Count(body(raw, fwd), "\n")))
		eq(t, "message lines", fwd.Lines, int64(17))
		latin := partAt(t, s, 2, 1)
		eq(t, "2.1 body", body(raw, latin), "Caf=E9?")
		eq(t, "2.2 body", body(raw, partAt(t, s, 2, 2)), "<p>Caf&eacute;?</p>")
		eq(t, "text", p.Text, "See below.\nCafé?")
		eq(t, "references", p.References, []string{"<20240212095959.1234@example.org>", "<reply-2@example.com>"})
		eq(t, "base subject", p.BaseSubject, "Lunch tomorrow?")
		eq(t, "disposition", fwd.Disposition, "inline")
	}},
	{"groups", msgGroups, func(t *testing.T, raw string, p *storage.Parsed) {
		e := p.Envelope
		eq(t, "from", e.From, []storage.Address{{Name: "André Pirard", Mailbox: "PIRARD", Host: "vm1.ulg.ac.be"}})
		eq(t, "to", e.To, []storage.Address{
			{Mailbox: "A Group"},
			{Name: "Ed Jones", Mailbox: "c", Host: "a.test"},
			{Mailbox: "joe", Host: "where.test"},
			{Name: "John", Mailbox: "jdoe", Host: "one.test"},
			{},
		})
		eq(t, "cc", e.Cc, []storage.Address{{Mailbox: "Undisclosed recipients"}, {}})
		eq(t, "bcc", e.Bcc, []storage.Address{
			{Name: "Joe Q. Public", Mailbox: "john.q.public", Host: "example.com"},
			{Name: "Mary Smith", Mailbox: "mary", Host: "example.net", Route: "@node.test"},
		})
		eq(t, "reply-to", e.ReplyTo, []storage.Address{
			{Mailbox: "broken-address", Host: MissingDomain},
			{Name: "Named", Mailbox: MissingMailbox, Host: MissingDomain},
			{Name: "Real Name", Mailbox: "user", Host: MissingDomain},
		})
		eq(t, "sender", e.Sender, []storage.Address{{Name: "Pete", Mailbox: "pete", Host: "silly.test"}})
		eq(t, "subject", e.Subject, "If you can read this you understand the example.")
		eq(t, "date", e.Date.Equal(time.Date(1997, 11, 21, 9, 55, 6, 0, time.UTC)), true)
	}},
	{"no headers", msgNoHeaders, func(t *testing.T, raw string, p *storage.Parsed) {
		s := &p.Structure
		eq(t, "type", s.Type+"/"+s.Subtype, "text/plain")
		eq(t, "params", s.Params, map[string]string{"charset": "us-ascii"})
		eq(t, "header", string(p.Header), nl(raw, "\n"))
		eq(t, "body", body(raw, s), nl(raw, "just a body, no header at all\n"))
		eq(t, "lines", s.Lines, int64(1))
		eq(t, "envelope", p.Envelope, storage.Envelope{})
	}},
	{"header only", msgHeaderOnly, func(t *testing.T, raw string, p *storage.Parsed) {
		s := &p.Structure
		eq(t, "bodystart", s.BodyStart, int64(len(raw)))
		eq(t, "subject", p.Envelope.Subject, "nothing else")
		eq(t, "header", string(p.Header), raw)
		eq(t, "lines", s.Lines, int64(0))
	}},
	{"no close delimiter", msgBrokenNoClose, func(t *testing.T, raw string, p *storage.Parsed) {
		s := &p.Structure
		eq(t, "children", len(s.Children), 2)
		eq(t, "1", body(raw, partAt(t, s, 1)), "first")
		last := partAt(t, s, 2)
		eq(t, "2", body(raw, last), nl(raw, "second, and then the message just ends\n"))
		eq(t, "2 end", last.End, int64(len(raw)))
	}},
	{"no delimiter", msgBrokenNoDelimiter, func(t *testing.T, raw string, p *storage.Parsed) {
		s := &p.Structure
		eq(t, "type", s.Type+"/"+s.Subtype, "text/plain")
		eq(t, "lines", s.Lines, int64(2))
		eq(t, "text", p.Text, "This body has no delimiter line.\nSecond line.")
	}},
	{"no boundary param", msgBrokenNoBoundaryParam, func(t *testing.T, raw string, p *storage.Parsed) {
		s := &p.Structure
		eq(t, "type", s.Type+"/"+s.Subtype, "text/plain")
		eq(t, "children", len(s.Children), 0)
	}},
	{"broken nesting", msgBrokenNesting, func(t *testing.T, raw string, p *storage.Parsed) {
		s := &p.Structure
		eq(t, "children", len(s.Children), 2)
		alt := partAt(t, s, 1)
		eq(t, "alt", alt.Type+"/"+alt.Subtype, "multipart/alternative")
		eq(t, "1.1", body(raw, partAt(t, s, 1, 1)), "inner text")
		eq(t, "2", body(raw, partAt(t, s, 2)), "second outer part")
	}},
	{"rfc2231", msg2231, func(t *testing.T, raw string, p *storage.Parsed) {
		s := &p.Structure
		eq(t, "children", len(s.Children), 4)
		a := partAt(t, s, 1)
		eq(t, "params", a.Params, map[string]string{"name*": "UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt"})
		eq(t, "name", ParamValue(a.Params, "name"), "日本語.txt")
		eq(t, "filename", ParamValue(a.DispParams, "filename"), "Grüße.txt")
		img := partAt(t, s, 2)
		eq(t, "img name", ParamValue(img.Params, "name"), "Bild ü.png")
		txt := partAt(t, s, 3)
		eq(t, "txt params", txt.Params, map[string]string{"charset": "us-ascii", "format": "flowed"})
		x := partAt(t, s, 4)
		eq(t, "continued", x.Params, map[string]string{"title": "continued plain"})
		eq(t, "has attachment", p.HasAttachment, true)
		eq(t, "names", p.AttachmentNames, []string{"Grüße.txt", "Bild ü.png"})
	}},
	{"digest", msgDigest, func(t *testing.T, raw string, p *storage.Parsed) {
		d := partAt(t, &p.Structure, 1)
		eq(t, "digest default", d.Type+"/"+d.Subtype, "message/rfc822")
		eq(t, "params", d.Params, map[string]string(nil))
		eq(t, "digested subject", d.Message.Envelope.Subject, "first digested")
		eq(t, "digested body", body(raw, &d.Message.Body), "one")
		eq(t, "2", partAt(t, &p.Structure, 2).Type, "text")
	}},
	{"lines", msgLFOnlyLines, func(t *testing.T, raw string, p *storage.Parsed) {
		s := &p.Structure
		eq(t, "children", len(s.Children), 3)
		a := partAt(t, s, 1)
		eq(t, "1 body", body(raw, a), nl(raw, "a\nb\n\nc"))
		eq(t, "1 lines", a.Lines, int64(3))
		b := partAt(t, s, 2)
		eq(t, "2 body", body(raw, b), "")
		eq(t, "2 header", header(raw, b), nl(raw, "Content-Type: text/plain\n\n"))
		c := partAt(t, s, 3)
		eq(t, "3 body", body(raw, c), "")
		eq(t, "3 header", header(raw, c), nl(raw, "Content-Type: text/plain\n"))
		eq(t, "3 end", strings.HasPrefix(raw[c.End:], "--L--"), true)
	}},
	{"dovecot shape", msgDovecotShape, func(t *testing.T, raw string, p *storage.Parsed) {
		s := &p.Structure
		eq(t, "boundary", s.Params, map[string]string{"boundary": "foo bar"})
		a := partAt(t, s, 1)
		eq(t, "1 params", a.Params, map[string]string{"charset": "us-ascii", "foo": `quoted"string`})
		eq(t, "1 id", a.ID, "<foo@example.com>")
		eq(t, "1 md5", a.MD5, "Q2hlY2sgSW50ZWdyaXR5IQ==")
		eq(t, "1 disposition", a.Disposition+" "+a.DispParams["foo"], "inline bar")
		eq(t, "1 description", a.Description, "hellodescription")
		eq(t, "1 language", a.Language, []string{"en", "fi", "se"})
		eq(t, "1 location", a.Location, "http://example.com/test.txt")
		m := partAt(t, s, 2)
		eq(t, "2 subject", m.Message.Envelope.Subject, "submsg")
		if strings.Contains(raw, "\r\n") {
			// Dovecot's BODYSTRUCTURE numbers.
			eq(t, "1 size/lines", [2]int64{a.End - a.BodyStart, a.Lines}, [2]int64{7, 1})
			eq(t, "2 size/lines", [2]int64{m.End - m.BodyStart, m.Lines}, [2]int64{331, 19})
			h, pl := partAt(t, s, 2, 1), partAt(t, s, 2, 2)
			eq(t, "2.1 size/lines", [2]int64{h.End - h.BodyStart, h.Lines}, [2]int64{20, 1})
			eq(t, "2.2 size/lines", [2]int64{pl.End - pl.BodyStart, pl.Lines}, [2]int64{21, 1})
		}
	}},
	{"html only", "Subject: html\nContent-Type: text/html; charset=iso-8859-1\nContent-Transfer-Encoding: base64\n\n" +
		"PGh0bWw+PGhlYWQ+PHN0eWxlPmJvZHl7fTwvc3R5bGU+PC9oZWFkPjxib2R5PjxwPkNhZukgJmFtcDsgYmFyPC9wPjxw\nPk5ldzwvcD48L2JvZHk+PC9odG1sPg==\n",
		func(t *testing.T, raw string, p *storage.Parsed) {
			eq(t, "text", p.Text, "Café & bar\nNew")
			eq(t, "lines", p.Structure.Lines, int64(2))
		}},
	// Every text subtype is body text (RFC 9051 6.4.4 BODY; Dovecot finds
	// words there too): a private text/x-... part, base64-encoded.
	{"other text subtypes", "Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/x-myown; charset=us-ascii\n" +
		"Content-Transfer-Encoding: base64\n\naGVsbG8gd29y\nbGQ=\n--b\nContent-Type: text/enriched\n\n<bold>rich</bold>\n--b\n" +
		"Content-Type: application/octet-stream\n\nnot text\n--b--\n",
		func(t *testing.T, raw string, p *storage.Parsed) {
			eq(t, "text", p.Text, "hello world\n<bold>rich</bold>")
		}},
	{"weird", msgWeird, func(t *testing.T, raw string, p *storage.Parsed) {
		eq(t, "subject", p.Envelope.Subject, "brokenok =?utf-8?x?bad?= 😀")
		eq(t, "from", p.Envelope.From, []storage.Address{{Name: "no-angle-name", Mailbox: "user", Host: "example.com"}})
		eq(t, "to", p.Envelope.To, []storage.Address(nil))
		eq(t, "text", p.Text, "Présentation € 10 = ok=ZZ end")
	}},
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParse(t *testing.T) {
	for _, tc := range cases {
		for _, form := range []string{"LF", "CRLF"} {
			t.Run(tc.name+"/"+form, func(t *testing.T) {
				raw := tc.raw
				if form == "CRLF" {
					raw = crlf(raw)
				}
				p := parseString(t, raw)
				tc.check(t, raw, p)
			})
		}
	}
}
