package pop3

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// dotWriter writes a message as the body of a multi-line response (RFC 1939
// section 3): line endings are normalised to CRLF (a bare LF becomes CRLF;
// an existing CRLF is kept), a line beginning with "." gets one more "."
// (byte-stuffing), and Close ends the response with ".\r\n", adding a CRLF
// first when the message does not end with one. It streams: memory use does
// not depend on the message size.
type dotWriter struct {
	w      *bufio.Writer
	bol    bool // at the beginning of a line
	prevCR bool // the last octet written was a CR (a CRLF may be split across writes)
	n      int64
}

func newDotWriter(w *bufio.Writer) *dotWriter { return &dotWriter{w: w, bol: true} }

func (d *dotWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if d.bol && p[0] == '.' {
			d.w.WriteByte('.')
		}
		d.bol = false
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.w.Write(p)
			d.n += int64(len(p))
			d.prevCR = p[len(p)-1] == '\r'
			break
		}
		d.w.Write(p[:i])
		d.n += int64(i)
		if !(i > 0 && p[i-1] == '\r' || i == 0 && d.prevCR) {
			d.w.WriteByte('\r')
			d.n++
		}
		d.w.WriteByte('\n')
		d.n++
		d.bol, d.prevCR = true, false
		p = p[i+1:]
	}
	// bufio.Writer errors are sticky; report them so copies stop early.
	if _, err := d.w.Write(nil); err != nil {
		return n, err
	}
	return n, nil
}

// Close terminates the multi-line response.
func (d *dotWriter) Close() error {
	if !d.bol {
		if !d.prevCR {
			d.w.WriteByte('\r')
		}
		d.w.WriteByte('\n')
	}
	_, err := d.w.WriteString(".\r\n")
	return err
}

// copyTop copies the header of a message, the blank line after it and the
// first lines lines of its body to w (RFC 1939 section 7, TOP). It reads r
// line by line through a bounded buffer, so long lines and large messages
// cost no extra memory.
func copyTop(w io.Writer, r io.Reader, lines uint64) error {
	br := bufio.NewReaderSize(r, 32<<10)
	inHeader := true
	var body uint64
	lineLen := 0 // octets of the current line before its LF, so far
	for {
		chunk, err := br.ReadSlice('\n')
		if len(chunk) > 0 {
			if _, werr := w.Write(chunk); werr != nil {
				return werr
			}
		}
		if err == bufio.ErrBufferFull {
			lineLen += len(chunk)
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		// A complete line ends here.
		content := lineLen + len(chunk) - 1 // without the LF
		if len(chunk) >= 2 && chunk[len(chunk)-2] == '\r' {
			content--
		}
		lineLen = 0
		if inHeader {
			if content == 0 {
				inHeader = false
				if lines == 0 {
					return nil
				}
			}
			continue
		}
		body++
		if body >= lines {
			return nil
		}
	}
}
