package mimeparse

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/floemail/floe/storage"
)

func fuzzSeeds() []string {
	var seeds []string
	for _, tc := range cases {
		seeds = append(seeds, tc.raw, crlf(tc.raw))
	}
	return append(seeds,
		"",
		"\n",
		"Content-Type: multipart/mixed; boundary=a\n\n--a\n--a\n--a--",
		"Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\n",
		"Content-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: message/rfc822\n\nSubject: x\n\n--a--\n",
		"Content-Type: multipart/digest; boundary=a\r\n\r\n--a\r\n\r\n--a--\r\n",
		"Content-Type: text/html\n\n<p>a &amp; b<script>x</script>",
		"Content-Type: text/plain; charset=utf-16\nContent-Transfer-Encoding: base64\n\n//5oAGkA\n",
	)
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		if err := invariants(int64(len(data)), p); err != nil {
			t.Fatalf("%v\n%q", err, data)
		}
		var walk func(*storage.Part)
		walk = func(part *storage.Part) {
			for i := range part.Children {
				walk(&part.Children[i])
			}
			if part.Message != nil {
				walk(&part.Message.Body)
			}
			n, err := io.Copy(io.Discard, DecodedReader(part, bytes.NewReader(data)))
			if err != nil || n > part.End-part.BodyStart {
				t.Fatalf("DecodedReader: %d bytes from %d, %v", n, part.End-part.BodyStart, err)
			}
		}
		walk(&p.Structure)
	})
}

func FuzzHeaderValues(f *testing.F) {
	for _, s := range []string{
		"=?utf-8?q?a?= =?utf-8?b?Yg==?=", `"A" <a@b>, g: c@d;`, "Mon, 2 Jan 2006 15:04:05 -0700",
		"Re: [x] Fwd: y (fwd)", "text/plain; a*0*=utf-8''%41; a*1=b", "<a@b> <c@d>", "(((", `"\`,
	} {
		f.Add(s)
	}
	for _, pat := range hostilePatterns {
		f.Add(strings.Repeat(pat, 50))
	}
	f.Fuzz(func(t *testing.T, s string) {
		if d := DecodeHeaderValue(s); !utf8.ValidString(d) {
			t.Fatalf("DecodeHeaderValue(%q) = %q: invalid UTF-8", s, d)
		}
		if l := ParseAddressList(s); len(l) > maxAddresses+1 {
			t.Fatalf("%d addresses", len(l))
		}
		ParseDate(s)
		if utf8.ValidString(s) {
			if b := BaseSubject(s); !utf8.ValidString(b) || len(b) > len(s) {
				t.Fatalf("BaseSubject(%q) = %q", s, b)
			}
		}
		MessageIDs(s)
		_, _, params := parseContentType(s)
		for k := range params {
			ParamValue(params, strings.TrimSuffix(k, "*"))
		}
	})
}
