package davxml

import (
	"encoding/xml"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestAppendCharData(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"BEGIN:VCALENDAR\r\nSUMMARY:a & b <c>\r\n", "BEGIN:VCALENDAR&#13;\nSUMMARY:a &amp; b &lt;c&gt;&#13;\n"},
		{"tab\there", "tab\there"},
		{"ctl\x01\x7f", "ctl\uFFFD\uFFFD"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{"Grüße ✓ 𝄞", "Grüße ✓ 𝄞"},
		{"nonchar \uFFFE", "nonchar \uFFFD"},
	} {
		if got := string(AppendCharData(nil, []byte(tc.in))); got != tc.want {
			t.Errorf("AppendCharData(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := string(AppendCharData([]byte("x"), []byte("<"))); got != "x&lt;" {
		t.Errorf("appends: %q", got)
	}
}

// FuzzAppendCharData: what AppendCharData writes parses back (encoding/xml)
// to the input, CRLF included, whenever the input is text XML can carry.
func FuzzAppendCharData(f *testing.F) {
	f.Add([]byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nSUMMARY:a & b <c> ]]>\r\nEND:VCALENDAR\r\n"))
	f.Add([]byte("BEGIN:VCARD\r\nFN:Jöhn\r\nEND:VCARD\r\n"))
	f.Add([]byte("\x00\xff\r\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		out := AppendCharData(nil, in)
		var v struct {
			Text string `xml:",chardata"`
		}
		if err := xml.Unmarshal([]byte("<a>"+string(out)+"</a>"), &v); err != nil {
			t.Fatalf("%q -> %q: %v", in, out, err)
		}
		if !utf8.Valid(in) {
			return
		}
		for _, r := range string(in) {
			if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0x7f || r >= 0x80 && !isXMLChar(r) {
				return
			}
		}
		if v.Text != string(in) {
			t.Fatalf("%q -> %q -> %q", in, out, v.Text)
		}
		if strings.Contains(string(out), "\r") {
			t.Fatalf("a raw CR in %q", out)
		}
	})
}
