package mimeparse

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/floemail/floe/storage"
)

// crlf converts a test message written with LF line ends to CRLF.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func parseString(t testing.TB, raw string) *storage.Parsed {
	t.Helper()
	p, err := Parse(strings.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checkInvariants(t, raw, p)
	return p
}

// partAt returns the part at the IMAP section path (1-based numbers).
func partAt(t testing.TB, root *storage.Part, path ...int) *storage.Part {
	t.Helper()
	p := root
	for _, n := range path {
		if p.Message != nil {
			p = &p.Message.Body
		}
		if p.Type != "multipart" {
			if n != 1 {
				t.Fatalf("no part %v", path)
			}
			continue
		}
		if n < 1 || n > len(p.Children) {
			t.Fatalf("no part %v (have %d children)", path, len(p.Children))
		}
		p = &p.Children[n-1]
	}
	return p
}

func body(raw string, p *storage.Part) string   { return raw[p.BodyStart:p.End] }
func header(raw string, p *storage.Part) string { return raw[p.HeaderStart:p.BodyStart] }

// checkInvariants verifies the documented structural invariants.
func checkInvariants(t testing.TB, raw string, p *storage.Parsed) {
	t.Helper()
	if err := invariants(int64(len(raw)), p); err != nil {
		t.Fatalf("invariant violated: %v\nmessage:\n%q", err, raw)
	}
}

func invariants(size int64, p *storage.Parsed) error {
	if p.Structure.HeaderStart != 0 || p.Structure.End != size {
		return fmt.Errorf("top part spans [%d,%d), want [0,%d)", p.Structure.HeaderStart, p.Structure.End, size)
	}
	if len(p.Header) > storage.MaxStoredHeader {
		return errors.New("header over cap")
	}
	if int64(len(p.Header)) > p.Structure.BodyStart && !p.HeaderTruncated {
		return errors.New("header longer than the header section")
	}
	if len(p.Text) > storage.MaxIndexedText || !utf8.ValidString(p.Text) {
		return errors.New("bad text")
	}
	n := 0
	if err := checkPart(&p.Structure, 0, size, 0, &n); err != nil {
		return err
	}
	if n > MaxParts+1 {
		return fmt.Errorf("%d parts", n)
	}
	for _, s := range []string{p.Envelope.Subject, p.BaseSubject} {
		if !utf8.ValidString(s) {
			return fmt.Errorf("invalid UTF-8 %q", s)
		}
	}
	return nil
}

func checkPart(p *storage.Part, lo, hi int64, depth int, n *int) error {
	*n++
	if depth > 2*MaxDepth+2 {
		return errors.New("too deep")
	}
	if !(lo <= p.HeaderStart && p.HeaderStart <= p.BodyStart && p.BodyStart <= p.End && p.End <= hi) {
		return fmt.Errorf("part %s/%s [%d %d %d] not within [%d,%d]", p.Type, p.Subtype, p.HeaderStart, p.BodyStart, p.End, lo, hi)
	}
	if p.Type == "" || p.Subtype == "" || p.Type != strings.ToLower(p.Type) || p.Subtype != strings.ToLower(p.Subtype) {
		return fmt.Errorf("bad type %q/%q", p.Type, p.Subtype)
	}
	if p.Lines < 0 || p.Lines > p.End-p.BodyStart {
		return fmt.Errorf("bad lines %d", p.Lines)
	}
	for k := range p.Params {
		if k != strings.ToLower(k) {
			return fmt.Errorf("param key %q", k)
		}
	}
	isMsg := p.Type == "message" && (p.Subtype == "rfc822" || p.Subtype == "global")
	if p.Type == "multipart" && len(p.Children) == 0 {
		return errors.New("multipart without children")
	}
	if p.Type != "multipart" && len(p.Children) > 0 {
		return errors.New("children of a leaf")
	}
	if isMsg != (p.Message != nil) {
		return fmt.Errorf("message %s/%s with Message=%v", p.Type, p.Subtype, p.Message != nil)
	}
	prev := p.BodyStart
	for i := range p.Children {
		c := &p.Children[i]
		if c.HeaderStart < prev {
			return errors.New("children overlap")
		}
		if err := checkPart(c, p.BodyStart, p.End, depth+1, n); err != nil {
			return err
		}
		prev = c.End
	}
	if p.Message != nil {
		b := &p.Message.Body
		if b.HeaderStart != p.BodyStart || b.End != p.End {
			return fmt.Errorf("encapsulated body [%d,%d) != part body [%d,%d)", b.HeaderStart, b.End, p.BodyStart, p.End)
		}
		if err := checkPart(b, p.BodyStart, p.End, depth+1, n); err != nil {
			return err
		}
	}
	return nil
}

// errReaderAt fails every read past off.
type errReaderAt struct {
	r   io.ReaderAt
	off int64
}

var errDisk = errors.New("disk on fire")

func (e errReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > e.off {
		if off >= e.off {
			return 0, errDisk
		}
		n, _ := e.r.ReadAt(p[:e.off-off], off)
		return n, errDisk
	}
	return e.r.ReadAt(p, off)
}

func TestIOError(t *testing.T) {
	raw := crlf(msgMixed)
	for _, at := range []int64{0, 10, int64(len(raw)) / 2, int64(len(raw)) - 1} {
		_, err := Parse(errReaderAt{strings.NewReader(raw), at}, int64(len(raw)))
		if !errors.Is(err, errDisk) {
			t.Errorf("fail at %d: err = %v, want errDisk", at, err)
		}
	}
	// A reader shorter than the announced size is an error too.
	if _, err := Parse(strings.NewReader(raw), int64(len(raw))+10); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short reader: err = %v", err)
	}
	// Text extraction reads text parts again (the structure pass reads the
	// small message in one call at offset 0): its read errors are reported.
	r := failMiddle{r: strings.NewReader(raw), size: int64(len(raw))}
	if _, err := Parse(r, int64(len(raw))); !errors.Is(err, errDisk) {
		t.Errorf("text pass: err = %v", err)
	}
}

// failMiddle fails reads that start inside the message but not at 0.
type failMiddle struct {
	r    io.ReaderAt
	size int64
}

func (f failMiddle) ReadAt(p []byte, off int64) (int, error) {
	if off > 0 && off < f.size {
		return 0, errDisk
	}
	return f.r.ReadAt(p, off)
}
