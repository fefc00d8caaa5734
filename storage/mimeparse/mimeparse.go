// Package mimeparse parses a raw RFC 5322 / MIME message once, at delivery,
// into a *storage.Parsed: envelope, MIME structure with exact byte offsets,
// threading data, attachment names and indexable text.
//
// Parse streams through the message (it never holds a body in memory) and is
// best effort: a malformed message yields the structure that can be salvaged,
// never an error. Only I/O errors of the underlying reader are returned.
//
// Invariants of the returned structure, relied upon by the IMAP layer:
//   - every Part has 0 <= HeaderStart <= BodyStart <= End <= size, and every
//     child (or encapsulated message body) lies within its parent's body;
//   - a part with Type "multipart" has at least one child;
//   - a part with Type "message" and Subtype "rfc822" or "global" has a
//     non-nil Message whose Body spans the part's body exactly;
//   - Type, Subtype, parameter keys, Encoding and Disposition are lowercase.
//
// Parts nested deeper than MaxDepth, parts beyond MaxParts, multiparts without
// a usable boundary and multiparts in which no boundary delimiter was found are
// reported as leaf text/plain parts (RFC 2045 5.2: a syntactically invalid
// Content-Type is treated as the default).
package mimeparse

import (
	"bufio"
	"io"

	"github.com/floemail/floe/storage"
)

// Limits applied to hostile input.
const (
	// MaxParts is the maximum number of MIME parts described; further parts
	// stay inside their parent's body, undescribed.
	MaxParts = 1000
	// MaxDepth is the maximum nesting depth of multiparts and encapsulated
	// messages.
	MaxDepth = 50
	// maxHeader is the maximum header size parsed per part.
	maxHeader = storage.MaxStoredHeader
)

// Parse parses the message of size bytes read from r. It returns an error
// only when reading r fails.
func Parse(r io.ReaderAt, size int64) (*storage.Parsed, error) {
	if size < 0 {
		size = 0
	}
	bufSize := size + 16
	if bufSize < 4096 {
		bufSize = 4096
	}
	if bufSize > 64<<10 {
		bufSize = 64 << 10
	}
	p := &parser{
		br:   bufio.NewReaderSize(io.NewSectionReader(r, 0, size), int(bufSize)),
		size: size,
		bol:  true,
		hbuf: make([]byte, 0, min(bufSize, 8192)),
	}
	res := &storage.Parsed{}
	var top topInfo
	p.parsePart(&res.Structure, 0, false, &res.Envelope, &top)
	if p.err != nil {
		return nil, p.err
	}
	// The top-level part covers the whole message.
	res.Structure.End = size
	res.Header = top.header
	res.HeaderTruncated = top.truncated
	res.References = MessageIDs(top.references)
	if len(res.References) == 0 {
		// RFC 5256 section 2.2: without References, use the first message
		// ID of In-Reply-To.
		if ids := MessageIDs(res.Envelope.InReplyTo); len(ids) > 0 {
			res.References = ids[:1]
		}
	}
	res.BaseSubject = BaseSubject(res.Envelope.Subject)
	collectAttachments(&res.Structure, res)
	text, err := extractText(r, &res.Structure)
	if err != nil {
		return nil, err
	}
	res.Text = text
	return res, nil
}

// topInfo receives what only the top-level header provides.
type topInfo struct {
	header     []byte
	truncated  bool
	references string
}

// stop describes where the body of a part stopped: at a boundary delimiter
// line of the boundary stack, or at the end of the message.
type stop struct {
	level   int   // index into parser.bounds; -1 at end of message
	closing bool  // close-delimiter ("--boundary--")
	at      int64 // offset of the delimiter line (size at EOF)
	eol     int64 // length of the line break preceding it (0, 1 or 2)
	lfAt    int64 // LFs before at
}

type parser struct {
	br   *bufio.Reader
	size int64
	off  int64 // offset of the next unread byte
	lf   int64 // LFs consumed so far
	bol  bool  // the next byte starts a line
	eol  int64 // length of the line break that ended the last line
	cr   bool  // the last byte consumed was '\r'

	bounds [][]byte // active boundaries, outermost first
	nparts int
	hbuf   []byte
	err    error
}

// next returns the next line fragment: a whole line including its line
// break, or a piece of a long line. bol reports whether it starts a line.
// The fragment is valid until the next call. At end of input (or on an I/O
// error, recorded in p.err) it returns nil.
func (p *parser) next() (frag []byte, start int64, bol bool) {
	if p.err != nil || p.off >= p.size {
		return nil, p.off, p.bol
	}
	line, err := p.br.ReadSlice('\n')
	if err != nil && err != bufio.ErrBufferFull && err != io.EOF {
		p.err = err
		return nil, p.off, p.bol
	}
	if len(line) == 0 {
		if err == io.EOF {
			p.err = io.ErrUnexpectedEOF
		}
		return nil, p.off, p.bol
	}
	start, bol = p.off, p.bol
	p.off += int64(len(line))
	if line[len(line)-1] == '\n' {
		p.lf++
		p.bol = true
		switch {
		case len(line) >= 2 && line[len(line)-2] == '\r':
			p.eol = 2
		case len(line) == 1 && p.cr:
			p.eol = 2
		default:
			p.eol = 1
		}
	} else {
		p.bol = false
		p.eol = 0
	}
	p.cr = line[len(line)-1] == '\r'
	if err == io.EOF && p.off < p.size {
		p.err = io.ErrUnexpectedEOF
		return nil, p.off, p.bol
	}
	return line, start, bol
}

// boundary reports whether a fragment starting a line is a delimiter line of
// one of the active boundaries (RFC 2046 5.1.1: "--" boundary, optionally
// "--", then optional linear whitespace). The innermost boundary wins.
func (p *parser) boundary(frag []byte) (level int, closing bool) {
	if len(p.bounds) == 0 || len(frag) < 3 || frag[0] != '-' || frag[1] != '-' {
		return -1, false
	}
	complete := frag[len(frag)-1] == '\n' || p.off >= p.size
	if !complete {
		return -1, false
	}
	rest := frag[2:]
	for i := len(p.bounds) - 1; i >= 0; i-- {
		b := p.bounds[i]
		if len(rest) < len(b) || string(rest[:len(b)]) != string(b) {
			continue
		}
		r := rest[len(b):]
		cl := false
		if len(r) >= 2 && r[0] == '-' && r[1] == '-' {
			cl = true
			r = r[2:]
		}
		if onlySpace(r) {
			return i, cl
		}
	}
	return -1, false
}

func onlySpace(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
		default:
			return false
		}
	}
	return true
}

// scan consumes lines until a delimiter line of an active boundary or the
// end of the message.
func (p *parser) scan() stop {
	for {
		eol, lf := p.eol, p.lf
		frag, start, bol := p.next()
		if frag == nil {
			return stop{level: -1, at: p.off, lfAt: p.lf}
		}
		if bol && frag[0] == '-' {
			if lvl, cl := p.boundary(frag); lvl >= 0 {
				return stop{level: lvl, closing: cl, at: start, eol: eol, lfAt: lf}
			}
		}
	}
}

// finish sets part.End (and Lines for text and message parts) for a body
// that started at part.BodyStart with lfStart LFs consumed before it and
// stopped at st. The line break before a delimiter belongs to the delimiter
// (RFC 2046 5.1.1).
func finish(part *storage.Part, st stop, lfStart int64) {
	end, lfEnd := st.at-st.eol, st.lfAt
	if st.eol > 0 {
		lfEnd--
	}
	if end < part.BodyStart {
		end, lfEnd = part.BodyStart, lfStart
	}
	part.End = end
	if part.Type == "text" || (part.Type == "message" && isMessageSubtype(part.Subtype)) {
		part.Lines = lfEnd - lfStart
	}
}

func isMessageSubtype(s string) bool { return s == "rfc822" || s == "global" }

// readHeader reads a header section into p.hbuf (capped at maxHeader, the
// excess dropped). It returns ended=true with the stop when a delimiter line
// of an enclosing multipart interrupts the header; the body is then empty.
func (p *parser) readHeader() (truncated bool, ended bool, st stop) {
	p.hbuf = p.hbuf[:0]
	for {
		eol, lf := p.eol, p.lf
		frag, start, bol := p.next()
		if frag == nil {
			return truncated, false, stop{}
		}
		if bol {
			if frag[0] == '-' {
				if lvl, cl := p.boundary(frag); lvl >= 0 {
					return truncated, true, stop{level: lvl, closing: cl, at: start, eol: eol, lfAt: lf}
				}
			}
			if frag[0] == '\n' || (frag[0] == '\r' && len(frag) == 2 && frag[1] == '\n') {
				if len(p.hbuf)+len(frag) <= maxHeader {
					p.hbuf = append(p.hbuf, frag...)
				} else {
					truncated = true
				}
				return truncated, false, stop{}
			}
		}
		if n := maxHeader - len(p.hbuf); n < len(frag) {
			truncated = true
			if n > 0 {
				p.hbuf = append(p.hbuf, frag[:n]...)
			}
		} else {
			p.hbuf = append(p.hbuf, frag...)
		}
	}
}

// parsePart parses one part starting at the current offset: its header, then
// its body according to its type. env, when not nil, receives the envelope
// (top-level and encapsulated messages); top, when not nil, the top-level
// extras. inDigest selects the multipart/digest default content type.
func (p *parser) parsePart(part *storage.Part, depth int, inDigest bool, env *storage.Envelope, top *topInfo) stop {
	part.HeaderStart = p.off
	truncated, ended, st := p.readHeader()
	h := parseHeader(p.hbuf, inDigest, env, top)
	h.apply(part)
	if top != nil {
		// The top-level header keeps the buffer; later parts get another.
		top.header = p.hbuf[:len(p.hbuf):len(p.hbuf)]
		top.truncated = truncated
		p.hbuf = make([]byte, 0, 512)
	}
	if ended {
		// A delimiter interrupted the header: the body is empty.
		part.BodyStart = st.at
		p.nparts++
		switch {
		case part.Type == "multipart":
			makeOpaque(part)
		case part.Type == "message" && isMessageSubtype(part.Subtype):
			part.Message = &storage.EncapsulatedMessage{Body: storage.Part{
				Type: "text", Subtype: "plain", Params: map[string]string{"charset": "us-ascii"},
				HeaderStart: st.at, BodyStart: st.at, End: st.at,
			}}
		}
		finish(part, st, st.lfAt)
		return st
	}
	part.BodyStart = p.off
	lfStart := p.lf
	p.nparts++

	if depth >= MaxDepth || p.nparts >= MaxParts {
		if part.Type == "multipart" || (part.Type == "message" && isMessageSubtype(part.Subtype)) {
			makeOpaque(part)
		}
	}
	switch {
	case part.Type == "multipart":
		if h.boundary == "" || len(h.boundary) > 1000 {
			makeOpaque(part)
			break
		}
		return p.parseMultipart(part, h.boundary, depth, lfStart)
	case part.Type == "message" && isMessageSubtype(part.Subtype):
		msg := &storage.EncapsulatedMessage{}
		part.Message = msg
		st := p.parsePart(&msg.Body, depth+1, false, &msg.Envelope, nil)
		finish(part, st, lfStart)
		// The encapsulated message spans the part's body exactly.
		msg.Body.End = part.End
		clampChildren(&msg.Body, part.End)
		return st
	}
	st = p.scan()
	finish(part, st, lfStart)
	return st
}

// clampChildren keeps children within end after a parent's End was reduced
// (an empty body following a header interrupted by a delimiter).
func clampChildren(part *storage.Part, end int64) {
	if part.End > end {
		part.End = end
	}
	if part.BodyStart > part.End {
		part.BodyStart = part.End
	}
	if part.HeaderStart > part.BodyStart {
		part.HeaderStart = part.BodyStart
	}
	if part.Lines > part.End-part.BodyStart {
		part.Lines = part.End - part.BodyStart
	}
	for i := range part.Children {
		clampChildren(&part.Children[i], part.End)
	}
	if part.Message != nil {
		clampChildren(&part.Message.Body, part.End)
	}
}

func (p *parser) parseMultipart(part *storage.Part, boundary string, depth int, lfStart int64) stop {
	p.bounds = append(p.bounds, []byte(boundary))
	my := len(p.bounds) - 1
	digest := part.Subtype == "digest"
	st := p.scan() // preamble
	for st.level == my && !st.closing {
		if p.nparts >= MaxParts {
			st = p.scan()
			continue
		}
		part.Children = append(part.Children, storage.Part{})
		st = p.parsePart(&part.Children[len(part.Children)-1], depth+1, digest, nil, nil)
	}
	p.bounds = p.bounds[:my]
	if st.level == my { // close-delimiter: the epilogue follows
		st = p.scan()
	}
	if len(part.Children) == 0 {
		// No delimiter was found: the body is opaque.
		makeOpaque(part)
	}
	finish(part, st, lfStart)
	for i := range part.Children {
		clampChildren(&part.Children[i], part.End)
	}
	return st
}

// makeOpaque turns a part whose content is not described into a leaf
// text/plain part.
func makeOpaque(part *storage.Part) {
	part.Type, part.Subtype = "text", "plain"
	part.Params = map[string]string{"charset": "us-ascii"}
	part.Children = nil
	part.Message = nil
}
