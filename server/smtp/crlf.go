package smtp

import (
	"bytes"
	"io"
)

// crlfNormalizer is an io.Reader that turns every bare CR and every bare LF
// of the message text into CRLF, so that the text Floe stores, queues and
// relays has one kind of line ending only.
//
// RFC 5321 2.3.8 allows CR and LF in the text only as CRLF. Servers that
// also take a bare LF or a bare CR as a line ending would read a submitted
// "<LF>.<LF>" or "<CR>.<CR>" as the end of the data and the bytes after it
// as new SMTP commands: a message relayed byte for byte could smuggle a
// forged second message into the next hop ("SMTP smuggling", 2023). After
// normalisation such a dot line is an ordinary line, which the outbound
// client dot-stuffs (RFC 5321 4.5.2). Postfix does the same since 3.9
// (smtpd_forbid_bare_newline = normalize).
type crlfNormalizer struct {
	r       io.Reader
	buf     []byte
	out     []byte // normalised bytes not yet read
	obuf    []byte // out's backing array, reused
	pending bool   // the last byte read was a CR whose LF may follow
	fixed   int    // bare CRs and LFs rewritten
	err     error
}

func newCRLFNormalizer(r io.Reader) *crlfNormalizer {
	return &crlfNormalizer{r: r, buf: make([]byte, 32<<10)}
}

// Fixed returns how many bare CRs and LFs were turned into CRLF so far.
func (n *crlfNormalizer) Fixed() int { return n.fixed }

func (n *crlfNormalizer) Read(p []byte) (int, error) {
	for len(n.out) == 0 {
		if n.err != nil {
			if n.pending { // a bare CR at the very end
				n.pending = false
				n.fixed++
				n.out = append(n.obuf[:0], '\r', '\n')
				break
			}
			return 0, n.err
		}
		k, err := n.r.Read(n.buf)
		if err != nil {
			n.err = err
		}
		n.convert(n.buf[:k])
	}
	c := copy(p, n.out)
	n.out = n.out[c:]
	return c, nil
}

// convert appends the normalised form of b to n.out (which is empty).
func (n *crlfNormalizer) convert(b []byte) {
	out := n.obuf[:0]
	for len(b) > 0 {
		if n.pending {
			n.pending = false
			if b[0] == '\n' {
				out = append(out, '\r', '\n')
				b = b[1:]
				continue
			}
			out = append(out, '\r', '\n') // bare CR
			n.fixed++
		}
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			out = append(out, b...)
			break
		}
		out = append(out, b[:i]...)
		if b[i] == '\r' {
			n.pending = true
		} else { // bare LF
			out = append(out, '\r', '\n')
			n.fixed++
		}
		b = b[i+1:]
	}
	n.obuf, n.out = out, out
}
