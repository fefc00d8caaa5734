package smtp

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// maxFieldBuffer bounds how much of one header field the filter holds to
// decide whether it is a forged Authentication-Results field. A longer
// field is decided on its first maxFieldBuffer bytes.
const maxFieldBuffer = 64 << 10

// authResFilter is an io.Reader over a message (CRLF or LF lines) that
// drops the top-level Authentication-Results fields whose authserv-id is
// ours. RFC 8601 5: a border MTA must remove such fields before delivery
// (and before adding its own), or a sender could forge this server's
// verdicts ("spf=pass") for the mail clients and rules that trust them.
// Every other field, and the body, pass unchanged. It runs in the reader's
// goroutine (no copier to leak) and holds at most one field in memory,
// bounded by maxFieldBuffer.
type authResFilter struct {
	src     *bufio.Reader
	id      string // our authserv-id, normalised by normAuthservID
	out     []byte // bytes ready for Read
	field   []byte // the field being collected (header section)
	mode    int    // what happens to the current field's further bytes
	body    bool   // past the header section: copy as is
	midLine bool   // the last ReadSlice stopped inside a long line
	err     error  // sticky error of src (io.EOF at the end)
	// dropSpam also drops X-Spam-* fields: the spam scanner's verdict is
	// ours to add (server/spam), a sender's own "X-Spam-Flag: NO" must not
	// reach mail clients that trust it.
	dropSpam bool
}

// Modes of the current field.
const (
	fieldCollect = iota // undecided: collect it
	fieldPass           // decided (oversized, not ours): stream it
	fieldDrop           // decided (oversized, ours): drop it
)

// newAuthResFilter returns r without the Authentication-Results fields that
// claim authserv-id id (compared as RFC 8601 2.2 says: case-insensitively;
// a trailing dot does not make it another name).
func newAuthResFilter(r io.Reader, id string) *authResFilter {
	return &authResFilter{src: bufio.NewReaderSize(r, 16<<10), id: normAuthservID(id)}
}

func (f *authResFilter) Read(p []byte) (int, error) {
	for len(f.out) == 0 {
		if f.body && f.err == nil {
			return f.src.Read(p)
		}
		if f.err != nil {
			return 0, f.err
		}
		f.step()
	}
	n := copy(p, f.out)
	f.out = f.out[n:]
	return n, nil
}

// step reads one line (or a bufferful of a long line) of the header section
// and moves what can be decided to f.out.
func (f *authResFilter) step() {
	line, err := f.src.ReadSlice('\n')
	full := err == bufio.ErrBufferFull
	if err != nil && !full {
		f.err = err
	}
	continues := f.midLine
	f.midLine = full
	switch {
	case len(line) == 0:
	case continues, line[0] == ' ' || line[0] == '\t':
		// The rest of a long physical line, or a continuation line
		// (RFC 5322 2.2.3): part of the current field.
		f.addToField(line)
	case !full && len(bytes.TrimRight(line, "\r\n")) == 0:
		// The blank line ending the header section; the rest is body.
		f.endField()
		f.out = append(f.out, line...)
		f.body = true
	default:
		f.endField()
		f.addToField(line)
	}
	if f.err != nil {
		f.endField()
	}
}

// addToField adds line to the current field; past maxFieldBuffer the field
// is decided on what was collected and the rest streamed or dropped.
func (f *authResFilter) addToField(line []byte) {
	switch f.mode {
	case fieldPass:
		f.out = append(f.out, line...)
		return
	case fieldDrop:
		return
	}
	f.field = append(f.field, line...)
	if len(f.field) > maxFieldBuffer {
		if f.drop(f.field) {
			f.mode = fieldDrop
		} else {
			f.out = append(f.out, f.field...)
			f.mode = fieldPass
		}
		f.field = f.field[:0]
	}
}

// endField decides the collected field and starts a new one.
func (f *authResFilter) endField() {
	if f.mode == fieldCollect && len(f.field) > 0 && !f.drop(f.field) {
		f.out = append(f.out, f.field...)
	}
	f.field = f.field[:0]
	f.mode = fieldCollect
}

// drop reports whether the filter removes field.
func (f *authResFilter) drop(field []byte) bool {
	if f.dropSpam && len(field) > 7 && strings.EqualFold(string(field[:7]), "X-Spam-") {
		return true
	}
	return forgedAuthResults(field, f.id)
}

// forgedAuthResults reports whether field (a whole header field, or its
// first maxFieldBuffer bytes) is an Authentication-Results field whose
// authserv-id is id (already normalised). A field whose id cannot be read
// at all (empty, or cut before the id) counts as forged: dropping a third
// party's unreadable result is harmless.
func forgedAuthResults(field []byte, id string) bool {
	name, value, ok := bytes.Cut(field, []byte(":"))
	if !ok || !strings.EqualFold(string(bytes.TrimRight(name, " \t")), "Authentication-Results") {
		return false
	}
	got, ok := authservID(string(value))
	if !ok {
		return true
	}
	return normAuthservID(got) == id
}

// authservID returns the authserv-id at the start of an
// Authentication-Results field body. RFC 8601 2.2:
//
//	authres-payload = [CFWS] authserv-id [ CFWS authres-version ] ...
//	authserv-id     = value          ; RFC 2045: token / quoted-string
//
// CFWS (RFC 5322 3.2.2) is folding white space and comments, which nest and
// may hold quoted pairs. ok is false when no id can be read.
func authservID(v string) (id string, ok bool) {
	i := skipCFWS(v, 0)
	if i >= len(v) {
		return "", false
	}
	if v[i] == '"' { // quoted-string, with quoted pairs
		var b strings.Builder
		for j := i + 1; j < len(v); j++ {
			switch c := v[j]; c {
			case '\\':
				if j+1 < len(v) {
					j++
					b.WriteByte(v[j])
				}
			case '"':
				return b.String(), true
			case '\r', '\n':
			default:
				b.WriteByte(c)
			}
		}
		return "", false
	}
	// RFC 2045 token: any CHAR except SPACE, CTLs and tspecials.
	j := i
	for j < len(v) && !strings.ContainsRune(" \t\r\n()<>@,;:\\\"/[]?=", rune(v[j])) && v[j] > 0x20 && v[j] < 0x7f {
		j++
	}
	if j == i {
		return "", false
	}
	return v[i:j], true
}

// skipCFWS returns the index of the first byte at or after i that is not
// folding white space or inside a comment (comments nest; a quoted pair
// inside one is skipped). An unterminated comment runs to the end.
func skipCFWS(v string, i int) int {
	depth := 0
	for i < len(v) {
		c := v[i]
		switch {
		case depth > 0 && c == '\\':
			i++
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0, c == ' ', c == '\t', c == '\r', c == '\n':
		default:
			return i
		}
		i++
	}
	return i
}

// normAuthservID is the form in which authserv-ids are compared: lower
// case, without a trailing dot (a fully qualified "localhost." names the
// same host as "localhost").
func normAuthservID(id string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(id)), ".")
}
