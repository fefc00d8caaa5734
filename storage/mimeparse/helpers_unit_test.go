package mimeparse

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
)

func TestBaseSubject(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Hello", "Hello"},
		{"Re: Hello", "Hello"},
		{"RE: re: Fwd: Hello", "Hello"},
		{"Re[2]: Hello", "Hello"}, // subj-refwd allows a blob before ":"
		{"Re [x] y", "Re [x] y"},
		{"Re [2]: Hello", "Hello"},
		{"[list] Re: Hello", "Hello"},
		{"[list] [tag] Hello", "Hello"},
		{"[list]", "[list]"},
		{"Hello (fwd)", "Hello"},
		{"Hello (fwd) (FWD)  ", "Hello"},
		{"[Fwd: Re: Hello]", "Hello"},
		{"Fw: [fwd: Hello (fwd)]", "Hello"},
		{"  Hello \t  world  ", "Hello world"},
		{"Re:", ""},
		{"Reply: x", "Reply: x"},
		{"fwd:fwd:x", "x"},
		{"", ""},
		{"Re: [PATCH] fix", "fix"},
	} {
		if got := BaseSubject(tc.in); got != tc.want {
			t.Errorf("BaseSubject(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDecodeHeaderValue(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"=?utf-8?q?caf=C3=A9?=", "café"},
		{"=?ISO-8859-1?Q?caf=E9?= bar", "café bar"},
		{"=?utf-8?b?Y2Fmw6k=?=", "café"},
		{"=?utf-8?b?Y2Fmw6k?=", "café"}, // missing padding
		{"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"},
		{"=?utf-8?q?a?=\t \t=?utf-8?q?b?=", "ab"},
		{"=?utf-8?q?a?= x =?utf-8?q?b?=", "a x b"},
		{"=?utf-8?q?a_b?=", "a b"},
		{"=?utf-8*en?q?lang?=", "lang"},
		{"=?utf-8?q?no end", "=?utf-8?q?no end"},
		{"=??q?x?=", "=??q?x?="},
		{"a=?b", "a=?b"},
		{"=?koi8-r?b?8NLJ18XU?=", "Привет"},
		{"=?windows-1252?q?=80?=", "€"},
		{"=?iso-2022-jp?B?GyRCRnxLXDhsGyhC?=", "日本語"},
		{"=?utf-8?q?=E6=97?= =?utf-8?q?=A5?=", "日"}, // split character
		{"caf\xe9", "café"},                         // raw Latin-1
		{"café", "café"},                            // raw UTF-8 (RFC 6532)
		{"=?utf-8?q?bad=FF?=", "badÿ"},              // invalid UTF-8 read as Latin-1
	} {
		if got := DecodeHeaderValue(tc.in); got != tc.want {
			t.Errorf("DecodeHeaderValue(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseAddressList(t *testing.T) {
	a := func(n, m, h string) storage.Address { return storage.Address{Name: n, Mailbox: m, Host: h} }
	for _, tc := range []struct {
		in   string
		want []storage.Address
	}{
		{"", nil},
		{"user@example.com", []storage.Address{a("", "user", "example.com")}},
		{"User <user@example.com>", []storage.Address{a("User", "user", "example.com")}},
		{`"Last, First" <f@x.org>, b@y.org`, []storage.Address{a("Last, First", "f", "x.org"), a("", "b", "y.org")}},
		{"=?utf-8?q?J=C3=BCrgen?= <j@x>", []storage.Address{a("Jürgen", "j", "x")}},
		{`"=?utf-8?q?J=C3=BCrgen?=" <j@x>`, []storage.Address{a("Jürgen", "j", "x")}},
		{"j@x (Jürgen Comment)", []storage.Address{a("Jürgen Comment", "j", "x")}},
		{"g: ;", []storage.Address{a("", "g", ""), {}}},
		{"g: a@b", []storage.Address{a("", "g", ""), a("", "a", "b"), {}}}, // unterminated group
		{"<a@[192.0.2.1]>", []storage.Address{a("", "a", "[192.0.2.1]")}},
		{`"a b"@x`, []storage.Address{a("", "a b", "x")}},
		{"<unterminated@x", []storage.Address{a("", "unterminated", "x")}},
		{"@", []storage.Address{a("", MissingMailbox, MissingDomain)}},
		{"x <a@b>, ; y@z", []storage.Address{a("x", "a", "b"), a("", "y", "z")}},
		// Obsolete source routes are kept for the ENVELOPE (RFC 5322 4.4).
		{"<@route:user@domain>", []storage.Address{{Mailbox: "user", Host: "domain", Route: "@route"}}},
		{"N <@a.org,@b.org:u@d>", []storage.Address{{Name: "N", Mailbox: "u", Host: "d", Route: "@a.org,@b.org"}}},
		// Comments inside the address vanish.
		{"<user-from (comment)@ (comment) domain.org>", []storage.Address{a("", "user-from", "domain.org")}},
	} {
		got := ParseAddressList(tc.in)
		if len(got) == 0 && len(tc.want) == 0 {
			continue
		}
		if !equalAddrs(got, tc.want) {
			t.Errorf("ParseAddressList(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
	// Bounded output.
	if n := len(ParseAddressList(strings.Repeat("a@b,", 5000))); n > maxAddresses {
		t.Errorf("%d addresses", n)
	}
}

func equalAddrs(a, b []storage.Address) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseDate(t *testing.T) {
	utc := func(y, mo, d, h, mi, s int) time.Time { return time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC) }
	for _, tc := range []struct {
		in   string
		want time.Time // zero: must fail
	}{
		{"Mon, 2 Jan 2006 15:04:05 -0700", utc(2006, 1, 2, 22, 4, 5)},
		{"2 Jan 2006 15:04:05 +0000", utc(2006, 1, 2, 15, 4, 5)},
		{"Mon, 02 Jan 2006 15:04 GMT", utc(2006, 1, 2, 15, 4, 0)},
		{"Mon, 2 Jan 06 15:04:05 EST", utc(2006, 1, 2, 20, 4, 5)},
		{"2 Jan 99 15:04:05 UT", utc(1999, 1, 2, 15, 4, 5)},
		{"Mon, 2 Jan 2006 15:04:05 -0700 (MST)", utc(2006, 1, 2, 22, 4, 5)},
		{"Mon,  2 Jan 2006\r\n 15:04:05 +0100", utc(2006, 1, 2, 14, 4, 5)},
		{"Mon Jan  2 15:04:05 2006", utc(2006, 1, 2, 15, 4, 5)}, // asctime
		{"2006-01-02 15:04:05 +0200", utc(2006, 1, 2, 13, 4, 5)},
		{"02-Jan-2006 15:04:05 +0000", utc(2006, 1, 2, 15, 4, 5)},
		{"Monday, 2 January 2006 15:04:05.123 +01:00", utc(2006, 1, 2, 14, 4, 5)},
		{"Mon, 2 Jan 2006 23:59:60 +0000", utc(2006, 1, 2, 23, 59, 59)},
		{"Mon, 2 Jan 2006", utc(2006, 1, 2, 0, 0, 0)},
		{"", time.Time{}},
		{"garbage", time.Time{}},
		{"31 Feb 2006 10:00:00 +0000", time.Time{}},
		{"Mon, 2 Jan 2006 25:00:00 +0000", time.Time{}},
	} {
		got, err := ParseDate(tc.in)
		if tc.want.IsZero() {
			if err == nil {
				t.Errorf("ParseDate(%q) = %v, want error", tc.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("ParseDate(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParams(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]string
	}{
		{"text/plain; charset=utf-8", map[string]string{"charset": "utf-8"}},
		{"text/plain; CHARSET=\"UTF-8\"", map[string]string{"charset": "UTF-8"}},
		{"text/plain;charset=a;charset=b", map[string]string{"charset": "a"}},
		{"text/plain; name=my file.txt", map[string]string{"name": "my file.txt"}},
		{`text/plain; a="x\"y;z"; b=c`, map[string]string{"a": `x"y;z`, "b": "c"}},
		{"text/plain; a*=utf-8''%41", map[string]string{"a*": "utf-8''%41"}},
		{"text/plain; a*1=y; a*0=x", map[string]string{"a": "xy"}},
		{"text/plain; a*0=x; a*2=z", map[string]string{"a": "x"}},
		{"text/plain; a*0=x y; a*1*=%41", map[string]string{"a*": "''x%20y%41"}},
		{"text/plain; ; =x; novalue; k=v", map[string]string{"k": "v"}},
		{"text/plain (comment); k=v (c)", map[string]string{"k": "v"}},
	} {
		_, _, got := parseContentType(tc.in)
		if len(got) != len(tc.want) {
			t.Errorf("%q: params %v, want %v", tc.in, got, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%q: params %v, want %v", tc.in, got, tc.want)
			}
		}
	}
	eqs := func(got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	eqs(ParamValue(map[string]string{"a*": "''x%20y%41"}, "a"), "x yA")
	eqs(ParamValue(map[string]string{"a*": "utf-8'en'%E2%82%AC", "a": "fallback"}, "a"), "€")
	eqs(ParamValue(map[string]string{"a": "=?utf-8?q?=E2=82=AC?="}, "a"), "€")
	eqs(ParamValue(nil, "a"), "")
	for _, bad := range []string{"", "text", "text/", "/plain", "text /plain x"} {
		if typ, _, _ := parseContentType(bad); typ != "" && bad != "text /plain x" {
			t.Errorf("parseContentType(%q) accepted", bad)
		}
	}
}

func TestMessageIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"<a@b> <c@d>", []string{"<a@b>", "<c@d>"}},
		{"<a@b>\r\n\t<c@d> (comment <x@y>)", []string{"<a@b>", "<c@d>"}},
		{"<a @ b>", []string{"<a@b>"}},
		{"a@b c@d", []string{"a@b", "c@d"}},
		{"<>", nil},
		{"", nil},
	} {
		got := MessageIDs(tc.in)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("MessageIDs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDecodedReader(t *testing.T) {
	data := make([]byte, 100000)
	for i := range data {
		data[i] = byte(i * 7 % 251)
	}
	// base64 with line breaks, as written by mailers, round trips.
	enc := base64.StdEncoding.EncodeToString(data)
	var wrapped strings.Builder
	for i := 0; i < len(enc); i += 76 {
		wrapped.WriteString(enc[i:min(i+76, len(enc))])
		wrapped.WriteString("\r\n")
	}
	check := func(name, encoding, encoded string, want []byte) {
		t.Helper()
		raw := "X" + encoded + "Y"
		p := &storage.Part{Encoding: encoding, BodyStart: 1, End: int64(1 + len(encoded))}
		got, err := io.ReadAll(DecodedReader(p, strings.NewReader(raw)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: got %d bytes %q, err %v; want %d bytes", name, len(got), trunc(got), err, len(want))
		}
	}
	check("base64", "base64", wrapped.String(), data)
	check("base64 junk", "base64", "aGVs!!bG8\r\n=\r\n", []byte("hello"))
	check("base64 chunks", "base64", "aGk=aGk=", []byte("hihi"))
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	w.Binary = true
	w.Write(data)
	w.Close()
	check("qp", "quoted-printable", qp.String(), data)
	check("qp lenient", "quoted-printable", "a=3d=ZZb =\r\nc  \r\nd=\n=", []byte("a==ZZb c\r\nd"))
	check("qp trailing space", "quoted-printable", "x \t\ny ", []byte("x\ny"))
	check("7bit", "", "as is\r\n", []byte("as is\r\n"))
	check("8bit", "8bit", "caf\xc3\xa9", []byte("caf\xc3\xa9"))
}

func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func TestStripHTML(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"<p>a</p><p>b</p>", "a\nb"},
		{"<script>if (a < b) x = '</p>';</script>ok", "ok"},
		{"<STYLE type=x>p{}</STYLE >ok", "ok"},
		{"a<!-- <b>hidden</b> -->b", "ab"},
		{"a &amp; b &lt;c&gt; &eacute; &#8364; &unknown;", "a & b <c> é € &unknown;"},
		{`<a href="x>y">link</a> text`, "link text"},
		{"one<br>two<br/>three", "one\ntwo\nthree"},
		{"<td>a</td><td>b</td>", "a b"},
		{"   lots   \n\n of   space  ", "lots of space"},
		{"unterminated <b", "unterminated"},
	} {
		var sb strings.Builder
		if err := stripHTML(&sb, strings.NewReader(tc.in), 1000); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(sb.String()); got != tc.want {
			t.Errorf("stripHTML(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
