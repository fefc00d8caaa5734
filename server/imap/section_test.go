package imap

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
)

// nestedMsg is a multipart/mixed message with a text part, a base64
// attachment and an encapsulated multipart message (RFC 9051 6.4.5 example
// shape).
var nestedMsg = strings.ReplaceAll(`From: Alice <alice@example.test>
To: Bob <bob@example.test>
Subject: nested
Message-ID: <outer@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: text/plain; charset=utf-8

Hello Bob.
--outer
Content-Type: application/octet-stream; name="a.bin"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="a.bin"

AAECAwQFaGVsbG8=
--outer
Content-Type: message/rfc822

From: Carol <carol@example.test>
Subject: inner
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

inner plain
--inner
Content-Type: text/html
Content-Transfer-Encoding: quoted-printable

<p>inner =3D html</p>
--inner--
--outer
Content-Type: text/plain
Content-Transfer-Encoding: x-unknown

odd
--outer--
`, "\n", "\r\n")

func parseMsg(t testing.TB, raw string) *storage.Parsed {
	t.Helper()
	p, err := mimeparse.Parse(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readAll(t testing.TB, d *sectionData, off, count int64) string {
	t.Helper()
	r, n, err := d.Reader(off, count)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != n {
		t.Fatalf("reader gave %d bytes, announced %d", len(b), n)
	}
	return string(b)
}

func TestBodySection(t *testing.T) {
	raw := nestedMsg
	p := parseMsg(t, raw)
	hdrEnd := strings.Index(raw, "\r\n\r\n") + 4
	innerStart := strings.Index(raw, "From: Carol")
	innerBody := strings.Index(raw, "--inner\r\nContent-Type: text/plain")
	innerEnd := strings.Index(raw, "\r\n--outer\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-unknown")
	if storedHeader(p.Header) == nil || string(p.Header) != raw[:hdrEnd] {
		t.Fatalf("stored header %q is not the header section", p.Header)
	}
	tests := []struct {
		name string
		sec  sectionSpec
		want string
		ok   bool
	}{
		{"whole", sectionSpec{}, raw, true},
		{"header", sectionSpec{Spec: specHeader}, raw[:hdrEnd], true},
		{"text", sectionSpec{Spec: specText}, raw[hdrEnd:], true},
		{"fields", sectionSpec{Spec: specFields, Fields: []string{"subject", "TO"}},
			"To: Bob <bob@example.test>\r\nSubject: nested\r\n\r\n", true},
		{"fields not", sectionSpec{Spec: specFieldsNot, Fields: []string{"content-type", "mime-version", "message-id", "from"}},
			"To: Bob <bob@example.test>\r\nSubject: nested\r\n\r\n", true},
		{"fields none", sectionSpec{Spec: specFields, Fields: []string{"x-none"}}, "\r\n", true},
		{"part 1", sectionSpec{Path: []int{1}}, "Hello Bob.", true},
		{"part 1 mime", sectionSpec{Path: []int{1}, Spec: specMIME}, "Content-Type: text/plain; charset=utf-8\r\n\r\n", true},
		{"part 2", sectionSpec{Path: []int{2}}, "AAECAwQFaGVsbG8=", true},
		{"part 3 message", sectionSpec{Path: []int{3}}, raw[innerStart:innerEnd], true},
		{"part 3 header", sectionSpec{Path: []int{3}, Spec: specHeader},
			"From: Carol <carol@example.test>\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=\"inner\"\r\n\r\n", true},
		{"part 3 fields", sectionSpec{Path: []int{3}, Spec: specFields, Fields: []string{"Subject"}}, "Subject: inner\r\n\r\n", true},
		{"part 3 text", sectionSpec{Path: []int{3}, Spec: specText}, raw[innerBody:innerEnd], true},
		{"part 3.1", sectionSpec{Path: []int{3, 1}}, "inner plain", true},
		{"part 3.2", sectionSpec{Path: []int{3, 2}}, "<p>inner =3D html</p>", true},
		{"part 3.2 mime", sectionSpec{Path: []int{3, 2}, Spec: specMIME},
			"Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n", true},
		{"part 5 missing", sectionSpec{Path: []int{5}}, "", false},
		{"part 1.2 missing", sectionSpec{Path: []int{1, 2}}, "", false},
		{"part 1.1 leaf", sectionSpec{Path: []int{1, 1}}, "Hello Bob.", true},
		{"header of non-message", sectionSpec{Path: []int{1}, Spec: specHeader}, "", false},
		{"mime without part", sectionSpec{Spec: specMIME}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, hdr := range [][]byte{nil, p.Header} {
				d, ok, err := bodySection(strings.NewReader(raw), int64(len(raw)), &p.Structure, hdr, tt.sec)
				if err != nil {
					t.Fatal(err)
				}
				if ok != tt.ok {
					t.Fatalf("ok = %v, want %v", ok, tt.ok)
				}
				if !ok {
					return
				}
				if got := readAll(t, d, 0, -1); got != tt.want {
					t.Fatalf("got %q, want %q", got, tt.want)
				}
				// Partial: every window agrees with slicing the full content.
				for _, w := range [][2]int64{{0, 1}, {3, 5}, {int64(len(tt.want)) - 1, 10}, {int64(len(tt.want)) + 5, 3}} {
					want := tt.want[clampOff(w[0], int64(len(tt.want))):clampOff(w[0]+w[1], int64(len(tt.want)))]
					if got := readAll(t, d, w[0], w[1]); got != want {
						t.Fatalf("partial %v: got %q, want %q", w, got, want)
					}
				}
			}
		})
	}
}

func TestBinarySection(t *testing.T) {
	raw := nestedMsg
	p := parseMsg(t, raw)
	rd := strings.NewReader(raw)
	d, ok, err := binarySection(rd, int64(len(raw)), &p.Structure, []int{2})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want := "\x00\x01\x02\x03\x04\x05hello"
	if d.Size != int64(len(want)) || !d.NUL {
		t.Fatalf("size %d nul %v", d.Size, d.NUL)
	}
	if got := readAll(t, d, 0, -1); got != want {
		t.Fatalf("got %q", got)
	}
	if got := readAll(t, d, 6, 3); got != "hel" {
		t.Fatalf("partial got %q", got)
	}
	d, _, err = binarySection(rd, int64(len(raw)), &p.Structure, []int{3, 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, d, 0, -1); got != "<p>inner = html</p>" || d.NUL {
		t.Fatalf("qp got %q", got)
	}
	if _, _, err := binarySection(rd, int64(len(raw)), &p.Structure, []int{4}); err != errUnknownCTE {
		t.Fatalf("x-unknown: err %v", err)
	}
	if _, ok, _ := binarySection(rd, int64(len(raw)), &p.Structure, []int{9}); ok {
		t.Fatal("missing part found")
	}
	d, _, _ = binarySection(rd, int64(len(raw)), &p.Structure, nil)
	if d.Size != int64(len(raw)) {
		t.Fatalf("whole: %d", d.Size)
	}
}

func TestHeaderFilter(t *testing.T) {
	tests := []struct {
		in     string
		fields []string
		not    bool
		want   string
	}{
		{"A: 1\r\nB: 2\r\n folded\r\nC: 3\r\n\r\n", []string{"b"}, false, "B: 2\r\n folded\r\n\r\n"},
		{"A: 1\r\nB: 2\r\n folded\r\nC: 3\r\n\r\n", []string{"b"}, true, "A: 1\r\nC: 3\r\n\r\n"},
		{"A: 1\nB : 2\n\n", []string{"B"}, false, "B : 2\n\r\n"},
		{"A: 1\r\nB: 2", []string{"B"}, false, "B: 2\r\n\r\n"},
		{"A: 1\r\nB: 2", []string{"A"}, false, "A: 1\r\n\r\n"},
		{"", []string{"A"}, false, "\r\n"},
		{"garbage line\r\nA: 1\r\n\r\n", []string{"A"}, true, "garbage line\r\n\r\n"},
		{"X: " + strings.Repeat("y", 10000) + "\r\nZ: 1\r\n\r\n", []string{"x"}, false, "X: " + strings.Repeat("y", 10000) + "\r\n\r\n"},
	}
	for i, tt := range tests {
		got, err := io.ReadAll(newHeaderFilter(strings.NewReader(tt.in), tt.fields, tt.not))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, []byte(tt.want)) {
			t.Errorf("%d: got %q, want %q", i, got, tt.want)
		}
	}
}
