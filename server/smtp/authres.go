package smtp

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// withoutForgedAuthResults returns the message r without the top-level
// Authentication-Results fields that claim authserv-id id. RFC 8601 5: a
// border MTA must remove such fields before adding its own, or a sender
// could forge this server's verdicts ("spf=pass") for the mail clients and
// rules that trust them. Other fields and the body pass unchanged. The
// caller must Close the result when done reading (it stops the copier).
func withoutForgedAuthResults(r io.Reader, id string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(filterAuthResults(pw, r, id)) }()
	return pr
}

// filterAuthResults copies r to w, dropping the header fields for which
// forgedAuthResults is true (with their continuation lines). Memory is
// bounded by the buffer: a longer line is copied in pieces and never
// dropped.
func filterAuthResults(w io.Writer, r io.Reader, id string) error {
	br := bufio.NewReaderSize(r, 16<<10)
	bw := bufio.NewWriterSize(w, 16<<10)
	dropping, lineStart := false, true
	for {
		line, err := br.ReadSlice('\n')
		full := err == bufio.ErrBufferFull
		if len(line) > 0 {
			switch {
			case !lineStart: // the rest of a long line: as its start went
			case len(bytes.TrimRight(line, "\r\n")) == 0 && !full:
				// End of the header section: the rest is copied as is.
				if _, err := bw.Write(line); err != nil {
					return err
				}
				if _, err := br.WriteTo(bw); err != nil {
					return err
				}
				return bw.Flush()
			case line[0] == ' ' || line[0] == '\t': // continuation
			default:
				dropping = !full && forgedAuthResults(line, id)
			}
			if !dropping {
				if _, err := bw.Write(line); err != nil {
					return err
				}
			}
		}
		lineStart = !full
		if err != nil && !full {
			if err == io.EOF {
				return bw.Flush()
			}
			return err
		}
	}
}

// forgedAuthResults reports whether the header line starts an
// Authentication-Results field whose authserv-id is id, or whose
// authserv-id is not on its first line (it cannot be told apart; dropping
// a third party's result is harmless).
func forgedAuthResults(line []byte, id string) bool {
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok || !strings.EqualFold(string(bytes.TrimSpace(name)), "Authentication-Results") {
		return false
	}
	v := strings.TrimSpace(string(value))
	if v == "" {
		return true
	}
	// authserv-id is a value (token or quoted string) ending at ";" or
	// white space (RFC 8601 2.2); a version number may follow it.
	end := strings.IndexAny(v, "; \t")
	if end >= 0 {
		v = v[:end]
	}
	return strings.EqualFold(strings.Trim(v, `"`), id)
}
