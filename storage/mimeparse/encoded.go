package mimeparse

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
)

// isUTF8Charset reports whether text in charset cs (lowercase) needs no
// conversion to UTF-8 beyond validation.
func isUTF8Charset(cs string) bool {
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii", "ansi_x3.4-1968", "unknown-8bit", "x-unknown":
		return true
	}
	return false
}

func isLatin1(cs string) bool {
	switch cs {
	case "iso-8859-1", "iso8859-1", "latin1", "l1", "iso_8859-1", "cp819":
		return true
	}
	return false
}

// toUTF8 converts b from charset cs to valid UTF-8. Unknown charsets and
// conversion errors fall back to UTF-8 when b is valid UTF-8, else to
// ISO-8859-1; the result is always valid UTF-8.
func toUTF8(cs string, b []byte) string {
	cs = strings.ToLower(strings.TrimSpace(cs))
	switch {
	case isUTF8Charset(cs):
		return validUTF8(b)
	case isLatin1(cs):
		return latin1(b)
	}
	if r, err := charset.Reader(cs, bytes.NewReader(b)); err == nil {
		if out, err := io.ReadAll(io.LimitReader(r, int64(8*len(b)+16))); err == nil {
			return validUTF8(out)
		}
	}
	return validUTF8(b)
}

// validUTF8 returns b as a string, or decoded as ISO-8859-1 when it is not
// valid UTF-8 (raw 8-bit headers are mostly one or the other).
func validUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return latin1(b)
}

func latin1(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/4)
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// charsetReader returns a reader converting r from charset cs to UTF-8. For
// UTF-8, ASCII, unknown charsets and failures it returns r unchanged (the
// caller sanitises the result).
func charsetReader(cs string, r io.Reader) io.Reader {
	cs = strings.ToLower(strings.TrimSpace(cs))
	if isUTF8Charset(cs) {
		return r
	}
	if cr, err := charset.Reader(cs, r); err == nil {
		return cr
	}
	return r
}

// DecodeHeaderValue decodes the RFC 2047 encoded words of an unfolded header
// value to UTF-8, leniently: white space between adjacent encoded words is
// dropped (RFC 2047 6.2), the bytes of adjacent words in the same charset are
// joined before conversion (so a character split across words survives),
// malformed words are kept as written, spaces inside Q-encoded text are
// tolerated. Raw 8-bit text is kept when it is UTF-8 (RFC 6532), else read as
// ISO-8859-1. The result is always valid UTF-8.
func DecodeHeaderValue(s string) string {
	if !strings.Contains(s, "=?") {
		if isASCII(s) || utf8.ValidString(s) {
			return s
		}
		return latin1([]byte(s))
	}
	var out strings.Builder
	var pend []byte   // decoded bytes of pending encoded words
	var pendCS string // their charset
	var ws string     // white space after the last encoded word
	flush := func() {
		if pend != nil {
			out.WriteString(toUTF8(pendCS, pend))
			pend, pendCS = nil, ""
		}
	}
	afterWord := false
	for len(s) > 0 {
		start := strings.Index(s, "=?")
		if start < 0 || !strings.Contains(s[start+2:], "?=") {
			// No encoded word can end in the rest (checked to stay linear).
			break
		}
		cs, dec, n, ok := encodedWord(s[start:])
		if !ok {
			// Not an encoded word: literal text up to and including "=?".
			lit := s[:start+2]
			flush()
			out.WriteString(ws)
			ws = ""
			out.WriteString(validUTF8([]byte(lit)))
			s = s[start+2:]
			afterWord = false
			continue
		}
		lit := s[:start]
		if !(afterWord && isSpace(lit)) {
			flush()
			out.WriteString(ws)
			out.WriteString(validUTF8([]byte(lit)))
		}
		ws = ""
		if pend != nil && !strings.EqualFold(pendCS, cs) {
			flush()
		}
		if pend == nil {
			pend = make([]byte, 0, len(dec))
			pendCS = cs
		}
		pend = append(pend, dec...)
		s = s[start+n:]
		afterWord = true
		// Hold the white space that follows: it is dropped when another
		// encoded word comes next.
		k := 0
		for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
			k++
		}
		ws, s = s[:k], s[k:]
	}
	flush()
	out.WriteString(ws)
	out.WriteString(validUTF8([]byte(s)))
	return out.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func isSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' {
			return false
		}
	}
	return true
}

// encodedWord parses the encoded word "=?charset?E?text?=" at the start of s
// (RFC 2047 2). It returns the charset (without an RFC 2231 language
// suffix), the decoded bytes and the length consumed.
func encodedWord(s string) (cs string, dec []byte, n int, ok bool) {
	i := 2
	for i < len(s) && s[i] != '?' {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '=' || i > 80 {
			return "", nil, 0, false
		}
		i++
	}
	if i == 2 || i+3 > len(s) || s[i+2] != '?' {
		return "", nil, 0, false
	}
	cs = s[2:i]
	if k := strings.IndexByte(cs, '*'); k >= 0 {
		cs = cs[:k]
	}
	enc := s[i+1]
	text := s[i+3:]
	end := strings.Index(text, "?=")
	if end < 0 {
		return "", nil, 0, false
	}
	text = text[:end]
	n = i + 3 + end + 2
	switch enc {
	case 'b', 'B':
		dec = decodeBase64String(text)
	case 'q', 'Q':
		dec = make([]byte, 0, len(text))
		for j := 0; j < len(text); j++ {
			c := text[j]
			switch {
			case c == '_':
				dec = append(dec, ' ')
			case c == '=' && j+2 < len(text):
				if h, ok := unhex(text[j+1], text[j+2]); ok {
					dec = append(dec, h)
					j += 2
					continue
				}
				dec = append(dec, c)
			default:
				dec = append(dec, c)
			}
		}
	default:
		return "", nil, 0, false
	}
	return cs, dec, n, true
}

var b64val = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := 0; i < len(alpha); i++ {
		t[alpha[i]] = byte(i)
	}
	return t
}()

// decodeBase64String decodes base64 leniently: bytes outside the alphabet
// are skipped, "=" ends a quantum, missing padding is tolerated.
func decodeBase64String(s string) []byte {
	out := make([]byte, 0, len(s)*3/4+2)
	var acc uint32
	var n int
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			out = flushQuantum(out, acc, n)
			acc, n = 0, 0
			continue
		}
		v := b64val[c]
		if v == 0xff {
			continue
		}
		acc = acc<<6 | uint32(v)
		n++
		if n == 4 {
			out = append(out, byte(acc>>16), byte(acc>>8), byte(acc))
			acc, n = 0, 0
		}
	}
	return flushQuantum(out, acc, n)
}

// flushQuantum appends the bytes of an incomplete quantum of n sextets.
func flushQuantum(out []byte, acc uint32, n int) []byte {
	switch n {
	case 2:
		out = append(out, byte(acc>>4))
	case 3:
		out = append(out, byte(acc>>10), byte(acc>>2))
	}
	return out
}
