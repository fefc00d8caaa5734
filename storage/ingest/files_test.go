package ingest

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
)

// memBlob is a storage.Blob over bytes.
type memBlob struct{ *bytes.Reader }

func (memBlob) Close() error { return nil }

// TestComposedFileMessageParses checks that the structure
// ComposeFileMessage writes by hand is the one mimeparse reads from the
// composed bytes, and that the composite reader renders those bytes at any
// offset.
func TestComposedFileMessageParses(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name, ctype string
		size        int
	}{
		{"report.pdf", "application/pdf", 100000},
		{"empty.txt", "text/plain", 0},
		{"one line.txt", "", 57},
		{"r\u00e9sum\u00e9 \u65e5\u672c #%&+'.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", 58},
		{strings.Repeat("long name ", 25) + ".bin", "bogus", 1},
		{`quote"back\slash.txt`, "text/plain; charset=utf-8", 3000},
	} {
		content := make([]byte, tc.size)
		for i := range content {
			content[i] = byte(rng.IntN(256))
		}
		ref := storage.BlobRef{ID: storage.BlobID(strings.Repeat("ab", 32)), Size: int64(tc.size)}
		m := storage.ComposeFileMessage(tc.name, tc.ctype, ref, time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC))
		blob := storage.NewCompositeBlob(m.Head, m.Tail, memBlob{bytes.NewReader(content)})
		raw, err := io.ReadAll(blob)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(raw)) != blob.Size() || blob.Size() != m.Size(int64(tc.size)) {
			t.Fatalf("%s: read %d, Size %d", tc.name, len(raw), blob.Size())
		}
		for i, b := range raw {
			if b >= 0x80 || b == 0 {
				t.Fatalf("%s: 8-bit byte at %d", tc.name, i)
			}
		}
		for _, line := range strings.Split(string(raw), "\r\n") {
			if len(line) > 998 {
				t.Fatalf("%s: line of %d bytes", tc.name, len(line))
			}
		}
		// Random ReadAt windows agree with the whole.
		for range 200 {
			off := rng.IntN(len(raw) + 1)
			n := rng.IntN(5000)
			buf := make([]byte, n)
			got, err := blob.ReadAt(buf, int64(off))
			want := raw[off:min(len(raw), off+n)]
			if got != len(want) || !bytes.Equal(buf[:got], want) || (got < n) != (err == io.EOF) {
				t.Fatalf("%s: ReadAt(%d, %d) = %d, %v", tc.name, off, n, got, err)
			}
		}
		p, err := mimeparse.Parse(bytes.NewReader(raw), int64(len(raw)))
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(p.Structure)
		got, _ := json.Marshal(m.Parsed.Structure)
		if !bytes.Equal(got, want) {
			t.Errorf("%s: structure\n got %s\nwant %s", tc.name, got, want)
		}
		if p.Envelope.Subject != tc.name || m.Parsed.Envelope.Subject != tc.name {
			t.Errorf("%s: subject %q / %q", tc.name, p.Envelope.Subject, m.Parsed.Envelope.Subject)
		}
		if !bytes.Equal(p.Header, m.Parsed.Header) || p.HasAttachment != m.Parsed.HasAttachment ||
			strings.Join(p.AttachmentNames, "|") != strings.Join(m.Parsed.AttachmentNames, "|") {
			t.Errorf("%s: header/attachments differ: %q %v %v", tc.name, p.Header, p.AttachmentNames, m.Parsed.AttachmentNames)
		}
		dec, _ := io.ReadAll(mimeparse.DecodedReader(&p.Structure.Children[1], bytes.NewReader(raw)))
		if !bytes.Equal(dec, content) {
			t.Errorf("%s: decoded file part differs", tc.name)
		}
		if n := mimeparse.ParamValue(p.Structure.Children[1].DispParams, "filename"); n != tc.name {
			t.Errorf("filename %q, want %q", n, tc.name)
		}
	}
}
