package mimeparse

import (
	"bytes"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/floemail/floe/storage"
)

// EncodeBinaryParts returns raw with the body of every leaf part that
// contains a NUL byte re-encoded as base64 (its Content-Transfer-Encoding
// field replaced), and whether anything changed. A message sent with an
// IMAP binary literal (APPEND ~{n}, RFC 3516 4.3) can hold NULs, which no
// non-binary FETCH may send (RFC 9051 4.3): converting once, when the
// message is stored, keeps BODY[], BODYSTRUCTURE and sizes consistent
// (Dovecot does the same); BINARY[] still returns the decoded content.
// Parts are found with Parse; encapsulated messages are searched too.
func EncodeBinaryParts(raw []byte) ([]byte, bool, error) {
	if bytes.IndexByte(raw, 0) < 0 {
		return raw, false, nil
	}
	p, err := Parse(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, false, err
	}
	var leaves []*storage.Part
	var walk func(part *storage.Part)
	walk = func(part *storage.Part) {
		switch {
		case len(part.Children) > 0:
			for i := range part.Children {
				walk(&part.Children[i])
			}
		case part.Message != nil:
			walk(&part.Message.Body)
		default:
			if part.BodyStart <= part.End && part.End <= int64(len(raw)) &&
				bytes.IndexByte(raw[part.BodyStart:part.End], 0) >= 0 {
				leaves = append(leaves, part)
			}
		}
	}
	walk(&p.Structure)
	if len(leaves) == 0 {
		return raw, false, nil
	}
	slices.SortFunc(leaves, func(a, b *storage.Part) int { return int(a.HeaderStart - b.HeaderStart) })
	var out bytes.Buffer
	out.Grow(len(raw) + len(raw)/3)
	pos := int64(0)
	for _, l := range leaves {
		if l.HeaderStart < pos {
			continue // overlapping (malformed structure): leave it
		}
		out.Write(raw[pos:l.HeaderStart])
		writeHeaderBase64(&out, raw[l.HeaderStart:l.BodyStart])
		writeBase64Lines(&out, raw[l.BodyStart:l.End])
		pos = l.End
	}
	out.Write(raw[pos:])
	return out.Bytes(), true, nil
}

// writeHeaderBase64 copies a part's header section (ending with its blank
// line, when it has one) without Content-Transfer-Encoding fields, adding
// "Content-Transfer-Encoding: base64" before the blank line.
func writeHeaderBase64(out *bytes.Buffer, h []byte) {
	skipping := false
	for len(h) > 0 {
		i := bytes.IndexByte(h, '\n')
		line := h
		if i >= 0 {
			line = h[:i+1]
		}
		h = h[len(line):]
		if blank := bytes.TrimRight(line, "\r\n"); len(blank) == 0 {
			out.WriteString("Content-Transfer-Encoding: base64\r\n")
			out.Write(line)
			out.Write(h)
			return
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !skipping {
				out.Write(line)
			}
			continue
		}
		name, _, _ := strings.Cut(string(line), ":")
		skipping = strings.EqualFold(strings.TrimSpace(name), "Content-Transfer-Encoding")
		if !skipping {
			out.Write(line)
		}
	}
	// No blank line (a part that is all header): end the header here.
	out.WriteString("Content-Transfer-Encoding: base64\r\n\r\n")
}

// writeBase64Lines writes b as base64 in lines of 76 characters joined by
// CRLF (RFC 2045 6.8), without a final line break: what follows the part
// (a boundary's CRLF, or the end of the message) is kept as it was.
func writeBase64Lines(out *bytes.Buffer, b []byte) {
	enc := base64.StdEncoding.EncodeToString(b)
	for i := 0; i < len(enc); i += 76 {
		if i > 0 {
			out.WriteString("\r\n")
		}
		out.WriteString(enc[i:min(i+76, len(enc))])
	}
}
