package mimeparse

import (
	"io"

	"github.com/floemail/floe/storage"
)

// DecodedReader returns a reader of the body of p, taken from the raw
// message, with its Content-Transfer-Encoding (RFC 2045 6) undone: base64
// and quoted-printable are decoded leniently (invalid characters skipped,
// invalid escapes kept literally); other encodings are returned as they are.
// It reads the message as it goes (for IMAP BINARY, RFC 3516) and never
// fails on malformed content; read errors of raw are passed through.
func DecodedReader(p *storage.Part, raw io.ReaderAt) io.Reader {
	body := io.NewSectionReader(raw, p.BodyStart, p.End-p.BodyStart)
	switch p.Encoding {
	case "base64":
		return &base64Reader{r: body}
	case "quoted-printable":
		return newQPReader(body)
	}
	return body
}

// base64Reader decodes base64 leniently, like decodeBase64String.
type base64Reader struct {
	r    io.Reader
	in   [3072]byte
	out  []byte // decoded bytes not yet returned
	obuf [2400]byte
	acc  uint32
	n    int
	err  error
}

func (b *base64Reader) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		k, err := b.r.Read(b.in[:])
		out := b.obuf[:0]
		for _, c := range b.in[:k] {
			if c == '=' {
				out = flushQuantum(out, b.acc, b.n)
				b.acc, b.n = 0, 0
				continue
			}
			v := b64val[c]
			if v == 0xff {
				continue
			}
			b.acc = b.acc<<6 | uint32(v)
			b.n++
			if b.n == 4 {
				out = append(out, byte(b.acc>>16), byte(b.acc>>8), byte(b.acc))
				b.acc, b.n = 0, 0
			}
		}
		if err != nil {
			out = flushQuantum(out, b.acc, b.n)
			b.acc, b.n = 0, 0
			b.err = err
		}
		b.out = out
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

// qpReader decodes quoted-printable (RFC 2045 6.7) leniently: soft line
// breaks are removed, "=XX" (either case) decoded, any other "=" kept, and
// white space at the end of a line dropped (rule 3).
type qpReader struct {
	r    io.Reader
	in   [2048]byte
	i, n int   // unread input is in[i:n]
	rerr error // read error of r, returned once the input is used up
	out  []byte
	obuf [2048 + 2*maxPendingSpace]byte
	ws   []byte // pending white space
	wbuf [maxPendingSpace]byte
	err  error
}

const maxPendingSpace = 256

func newQPReader(r io.Reader) *qpReader {
	q := &qpReader{r: r}
	q.ws = q.wbuf[:0]
	return q
}

func (q *qpReader) Read(p []byte) (int, error) {
	for len(q.out) == 0 {
		if q.err != nil {
			return 0, q.err
		}
		q.fill()
	}
	n := copy(p, q.out)
	q.out = q.out[n:]
	return n, nil
}

// peek returns up to k unread input bytes without consuming them (fewer
// only at the end of the input). k must not exceed len(q.in).
func (q *qpReader) peek(k int) []byte {
	for q.n-q.i < k && q.rerr == nil {
		if q.i > 0 {
			q.n = copy(q.in[:], q.in[q.i:q.n])
			q.i = 0
		}
		m, err := q.r.Read(q.in[q.n:])
		q.n += m
		if err != nil {
			q.rerr = err
		} else if m == 0 {
			q.rerr = io.ErrNoProgress
		}
	}
	return q.in[q.i:min(q.n, q.i+k)]
}

// qpPlain marks the bytes that quoted-printable decoding copies as they are.
var qpPlain = func() (t [256]bool) {
	for i := range t {
		t[i] = true
	}
	for _, c := range []byte{' ', '\t', '\r', '\n', '='} {
		t[c] = false
	}
	return t
}()

// fill decodes up to a few KB into q.out.
func (q *qpReader) fill() {
	out := q.obuf[:0]
	for len(out) < 2048 {
		if q.i >= q.n && len(q.peek(1)) == 0 {
			// White space at the end of the data ends a line too.
			q.ws = q.ws[:0]
			q.err = q.rerr
			break
		}
		c := q.in[q.i]
		if qpPlain[c] {
			if len(q.ws) > 0 {
				out = append(out, q.ws...)
				q.ws = q.ws[:0]
			}
			j, lim := q.i+1, min(q.n, q.i+2048-len(out))
			for j < lim && qpPlain[q.in[j]] {
				j++
			}
			out = append(out, q.in[q.i:j]...)
			q.i = j
			continue
		}
		q.i++
		switch c {
		case ' ', '\t':
			if len(q.ws) == cap(q.ws) {
				out = append(out, q.ws...)
				q.ws = q.ws[:0]
			}
			q.ws = append(q.ws, c)
			continue
		case '\r', '\n':
			// Trailing white space of a line is dropped.
			q.ws = q.ws[:0]
			out = append(out, c)
			continue
		}
		// c == '='
		if len(q.ws) > 0 {
			out = append(out, q.ws...)
			q.ws = q.ws[:0]
		}
		if next := q.peek(2); len(next) == 2 {
			if h, ok := unhex(next[0], next[1]); ok {
				q.i += 2
				out = append(out, h)
				continue
			}
		}
		// A soft line break: "=" then optional white space, then CRLF or LF.
		if q.softBreak() {
			continue
		}
		out = append(out, '=')
	}
	q.out = out
}

// softBreak consumes "[WSP] CRLF" or "[WSP] LF" (or the end of input) after
// an "=", reporting whether it was there.
func (q *qpReader) softBreak() bool {
	for k := 1; k <= maxPendingSpace; k++ {
		b := q.peek(k)
		if len(b) < k {
			if onlyWSP(b) {
				q.i += len(b)
				return true
			}
			return false
		}
		switch b[k-1] {
		case ' ', '\t':
			continue
		case '\n':
			q.i += k
			return true
		case '\r':
			b2 := q.peek(k + 1)
			if len(b2) == k+1 && b2[k] == '\n' {
				q.i += k + 1
				return true
			}
			if len(b2) == k { // "=\r" at the end
				q.i += k
				return true
			}
			return false
		default:
			return false
		}
	}
	return false
}

func onlyWSP(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}
