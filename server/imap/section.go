package imap

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/mimeparse"
)

// This file extracts BODY[section]<partial> and BINARY[section]<partial>
// (RFC 9051 6.4.5, RFC 3516) from a message blob using the part offsets
// stored at delivery: nothing is parsed again and bodies are streamed, never
// loaded in memory.

// Section specifiers (RFC 9051 6.4.5 "section-msgtext" and "MIME").
const (
	specNone      = ""
	specHeader    = "HEADER"
	specFields    = "HEADER.FIELDS"
	specFieldsNot = "HEADER.FIELDS.NOT"
	specText      = "TEXT"
	specMIME      = "MIME"
)

// sectionSpec is a parsed section: part path, specifier and header fields.
type sectionSpec struct {
	Path   []int
	Spec   string
	Fields []string // HEADER.FIELDS / HEADER.FIELDS.NOT, as the client wrote them
}

// errUnknownCTE is returned for BINARY of a part whose
// Content-Transfer-Encoding cannot be decoded (RFC 3516 4.3, UNKNOWN-CTE).
var errUnknownCTE = errors.New("unknown content-transfer-encoding")

// findPart resolves a part number path (RFC 9051 6.4.5): part numbers index
// the children of a multipart; inside a message/rfc822 part they index the
// parts of the encapsulated message; a non-multipart body has only part 1.
func findPart(root *storage.Part, path []int) (*storage.Part, bool) {
	p := root
	for i, n := range path {
		if i > 0 && p.Message != nil {
			p = &p.Message.Body
		}
		switch {
		case p.Type == "multipart" && len(p.Children) > 0:
			if n < 1 || n > len(p.Children) {
				return nil, false
			}
			p = &p.Children[n-1]
		case n != 1:
			return nil, false
		}
	}
	return p, true
}

// sectionRange returns the byte range [start, end) of the raw message that
// holds sec, before any header filtering. ok is false when the section does
// not exist (no such part, or HEADER/TEXT of a part that is not a message).
func sectionRange(root *storage.Part, size int64, sec sectionSpec) (start, end int64, ok bool) {
	if len(sec.Path) == 0 {
		switch sec.Spec {
		case specNone:
			return 0, size, true
		case specHeader, specFields, specFieldsNot:
			return 0, clampOff(root.BodyStart, size), true
		case specText:
			return clampOff(root.BodyStart, size), size, true
		}
		return 0, 0, false // MIME needs a part number
	}
	p, ok := findPart(root, sec.Path)
	if !ok {
		return 0, 0, false
	}
	switch sec.Spec {
	case specNone:
		return p.BodyStart, p.End, true
	case specMIME:
		return p.HeaderStart, p.BodyStart, true
	}
	// HEADER, HEADER.FIELDS[.NOT], TEXT: only of an encapsulated message.
	if p.Message == nil {
		return 0, 0, false
	}
	m := &p.Message.Body
	if sec.Spec == specText {
		return m.BodyStart, m.End, true
	}
	return m.HeaderStart, m.BodyStart, true
}

func clampOff(v, size int64) int64 {
	return max(0, min(v, size))
}

// sectionData is the content of one section, ready to be sent as a literal
// of exactly Size bytes.
type sectionData struct {
	Size int64
	// NUL is set when the content contains a NUL byte (sent as literal8,
	// RFC 3516 4.2); only computed for BINARY.
	NUL bool
	// raw/start: a plain byte range of the message (fast path); open: a
	// fresh stream of the whole content, for filtered or decoded sections.
	raw   io.ReaderAt
	start int64
	open  func() io.Reader
}

// Reader returns the content from offset off, at most count bytes (count
// < 0: to the end), with its length (RFC 9051 6.4.5 <partial>: a partial
// beyond the end gives an empty string).
func (d *sectionData) Reader(off, count int64) (io.Reader, int64, error) {
	off = clampOff(off, d.Size)
	n := d.Size - off
	if count >= 0 && count < n {
		n = count
	}
	if d.open == nil {
		return io.NewSectionReader(d.raw, d.start+off, n), n, nil
	}
	r := d.open()
	if off > 0 {
		if _, err := io.CopyN(io.Discard, r, off); err != nil {
			return nil, 0, err
		}
	}
	return io.LimitReader(r, n), n, nil
}

// bodySection prepares BODY[sec] of a message: raw is the blob of size
// bytes, root its stored structure (may be nil for BODY[] and for top-level
// header sections when header is given), header its complete stored
// top-level header or nil (then it is read from the blob). ok is false when
// the section does not exist.
func bodySection(raw io.ReaderAt, size int64, root *storage.Part, header []byte, sec sectionSpec) (d *sectionData, ok bool, err error) {
	var src func() io.Reader
	filter := sec.Spec == specFields || sec.Spec == specFieldsNot
	switch {
	case len(sec.Path) == 0 && sec.Spec == specNone:
		return &sectionData{Size: size, raw: raw}, true, nil
	case len(sec.Path) == 0 && header != nil && (sec.Spec == specHeader || filter):
		if !filter {
			return &sectionData{Size: int64(len(header)), raw: bytes.NewReader(header)}, true, nil
		}
		src = func() io.Reader { return bytes.NewReader(header) }
	default:
		if root == nil {
			return nil, false, errors.New("imap: section needs the message structure")
		}
		start, end, ok := sectionRange(root, size, sec)
		if !ok {
			return nil, false, nil
		}
		start, end = clampOff(start, size), clampOff(end, size)
		end = max(end, start)
		if !filter {
			return &sectionData{Size: end - start, raw: raw, start: start}, true, nil
		}
		src = func() io.Reader { return io.NewSectionReader(raw, start, end-start) }
	}
	open := func() io.Reader { return newHeaderFilter(src(), sec.Fields, sec.Spec == specFieldsNot) }
	// Two passes: the literal needs its exact size before its content.
	n, err := io.Copy(io.Discard, open())
	if err != nil {
		return nil, false, err
	}
	return &sectionData{Size: n, open: open}, true, nil
}

// storedHeader returns the stored top-level header when it is known to be
// complete: mimeparse caps it at storage.MaxStoredHeader, and a header that
// was cut is at least MaxStoredHeader-2 bytes long.
func storedHeader(h []byte) []byte {
	if len(h) == 0 || len(h) >= storage.MaxStoredHeader-2 {
		return nil
	}
	return h
}

// binarySection prepares BINARY[path] (RFC 3516 4.2, RFC 9051 6.4.5): the
// part's body with its Content-Transfer-Encoding removed. An empty path is
// the whole message as it is.
func binarySection(raw io.ReaderAt, size int64, root *storage.Part, path []int) (d *sectionData, ok bool, err error) {
	var open func() io.Reader
	if len(path) == 0 {
		open = func() io.Reader { return io.NewSectionReader(raw, 0, size) }
	} else {
		p, ok := findPart(root, path)
		if !ok {
			return nil, false, nil
		}
		switch p.Encoding {
		case "", "7bit", "8bit", "binary", "base64", "quoted-printable":
		default:
			return nil, true, errUnknownCTE
		}
		part := *p
		part.BodyStart, part.End = clampOff(part.BodyStart, size), clampOff(part.End, size)
		part.End = max(part.End, part.BodyStart)
		open = func() io.Reader { return mimeparse.DecodedReader(&part, raw) }
	}
	var c nulCounter
	if _, err := io.Copy(&c, open()); err != nil {
		return nil, false, err
	}
	return &sectionData{Size: c.n, NUL: c.nul, open: open}, true, nil
}

// nulCounter counts bytes and notes NUL bytes.
type nulCounter struct {
	n   int64
	nul bool
}

func (c *nulCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if !c.nul && bytes.IndexByte(p, 0) >= 0 {
		c.nul = true
	}
	return len(p), nil
}

// headerFilter streams the fields of a header section whose names are (or,
// with not, are not) in fields, followed by the blank line (RFC 9051 6.4.5
// HEADER.FIELDS: "the subset of the header ... including the delimiting
// blank line"). Field names compare case-insensitively; continuation lines
// follow their field. Lines that are not fields are kept only by NOT.
type headerFilter struct {
	br      *bufio.Reader
	fields  []string
	not     bool
	keep    bool
	bol     bool // at the beginning of a line
	done    bool
	pending []byte
}

func newHeaderFilter(r io.Reader, fields []string, not bool) *headerFilter {
	return &headerFilter{br: bufio.NewReaderSize(r, 4096), fields: fields, not: not, bol: true}
}

var crlfBytes = []byte("\r\n")

func (f *headerFilter) Read(p []byte) (int, error) {
	for len(f.pending) == 0 {
		if f.done {
			return 0, io.EOF
		}
		if err := f.step(); err != nil {
			return 0, err
		}
	}
	n := copy(p, f.pending)
	f.pending = f.pending[n:]
	return n, nil
}

func (f *headerFilter) step() error {
	line, err := f.br.ReadSlice('\n')
	if err != nil && err != bufio.ErrBufferFull && err != io.EOF {
		return err
	}
	if f.bol {
		switch {
		case len(line) == 0 || string(line) == "\r\n" || string(line) == "\n":
			// End of the header: the delimiting blank line.
			f.done, f.pending = true, crlfBytes
			return nil
		case line[0] == ' ' || line[0] == '\t':
			// Continuation: same decision as the field it continues.
		default:
			i := bytes.IndexByte(line, ':')
			if i < 0 {
				f.keep = f.not
			} else {
				f.keep = f.matches(string(bytes.TrimRight(line[:i], " \t"))) != f.not
			}
		}
	}
	if f.keep {
		f.pending = line // valid until the next ReadSlice, after it is drained
	}
	f.bol = err == nil
	if err == io.EOF {
		// Header without blank line (message without body).
		f.done = true
		if f.keep && len(line) > 0 {
			f.pending = append(append([]byte(nil), line...), "\r\n\r\n"...)
		} else {
			f.pending = append(f.pending[:len(f.pending):len(f.pending)], crlfBytes...)
		}
	}
	return nil
}

func (f *headerFilter) matches(name string) bool {
	for _, k := range f.fields {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}
