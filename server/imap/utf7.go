package imap

import (
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Modified UTF-7 for mailbox names, RFC 3501 5.1.3 (still used by clients
// that do not ENABLE UTF8=ACCEPT, RFC 6855, and by IMAP4rev1 clients).
// Printable US-ASCII except "&" stands for itself, "&" is "&-", and any
// other run of characters is "&" + modified BASE64 (with "," for "/", no
// padding) of its UTF-16BE encoding + "-".

const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,"

var errUTF7 = errors.New("invalid modified UTF-7")

// utf7Encode encodes a UTF-8 mailbox name. Invalid UTF-8 bytes are encoded
// as U+FFFD.
func utf7Encode(s string) string {
	simple := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e || s[i] == '&' {
			simple = false
			break
		}
	}
	if simple {
		return s
	}
	var sb strings.Builder
	var run []rune
	flush := func() {
		if len(run) == 0 {
			return
		}
		sb.WriteByte('&')
		u := utf16.Encode(run)
		b := make([]byte, 0, 2*len(u))
		for _, c := range u {
			b = append(b, byte(c>>8), byte(c))
		}
		var acc uint32
		bits := 0
		for _, c := range b {
			acc = acc<<8 | uint32(c)
			bits += 8
			for bits >= 6 {
				bits -= 6
				sb.WriteByte(b64chars[(acc>>uint(bits))&0x3f])
			}
		}
		if bits > 0 {
			sb.WriteByte(b64chars[(acc<<uint(6-bits))&0x3f])
		}
		sb.WriteByte('-')
		run = run[:0]
	}
	for _, r := range s {
		if r >= 0x20 && r <= 0x7e {
			flush()
			if r == '&' {
				sb.WriteString("&-")
			} else {
				sb.WriteRune(r)
			}
			continue
		}
		run = append(run, r)
	}
	flush()
	return sb.String()
}

func b64value(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == ',':
		return 63
	}
	return -1
}

// utf7Decode decodes a modified UTF-7 mailbox name to UTF-8. It rejects
// what RFC 3501 5.1.3 forbids: non-printable characters, unterminated or
// empty-but-not-"&-" shifts, encoded printable ASCII, adjacent shifts,
// leftover non-zero bits and broken surrogate pairs.
func utf7Decode(s string) (string, error) {
	if !strings.ContainsRune(s, '&') {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] > 0x7e {
				return "", errUTF7
			}
		}
		return s, nil
	}
	var sb strings.Builder
	lastShiftEnd := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return "", errUTF7
		}
		if c != '&' {
			sb.WriteByte(c)
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return "", errUTF7
		}
		enc := s[i+1 : i+1+j]
		if enc == "" {
			sb.WriteByte('&')
			i += 1
			continue
		}
		if lastShiftEnd == i {
			return "", errUTF7 // adjacent encoded runs must be one run
		}
		var acc uint32
		bits := 0
		var units []uint16
		for k := 0; k < len(enc); k++ {
			v := b64value(enc[k])
			if v < 0 {
				return "", errUTF7
			}
			acc = acc<<6 | uint32(v)
			bits += 6
			if bits >= 16 {
				bits -= 16
				units = append(units, uint16(acc>>uint(bits)))
			}
		}
		if bits >= 6 || acc&(1<<uint(bits)-1) != 0 {
			return "", errUTF7
		}
		for k := 0; k < len(units); k++ {
			u := units[k]
			var r rune
			switch {
			case utf16.IsSurrogate(rune(u)):
				if k+1 >= len(units) {
					return "", errUTF7
				}
				r = utf16.DecodeRune(rune(u), rune(units[k+1]))
				if r == utf8.RuneError {
					return "", errUTF7
				}
				k++
			default:
				r = rune(u)
				if r >= 0x20 && r <= 0x7e {
					return "", errUTF7 // printable ASCII must not be encoded
				}
			}
			sb.WriteRune(r)
		}
		i += 1 + j
		lastShiftEnd = i + 1
	}
	return sb.String(), nil
}
