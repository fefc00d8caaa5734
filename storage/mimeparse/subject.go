package mimeparse

import "strings"

// BaseSubject returns the RFC 5256 section 2.1 base subject of a subject
// already decoded to UTF-8 (step 1's decoding is DecodeHeaderValue's job):
// white space is folded, "(fwd)" trailers, "Re:", "Fw:", "Fwd:" leaders with
// optional "[blob]"s and "[fwd: ...]" wrappers are removed. Case is kept;
// compare base subjects with a case-insensitive collation.
func BaseSubject(s string) string {
	// Step 1: tabs and line breaks to spaces, runs of spaces to one.
	s = foldSpace(s)
	for {
		// Step 2: remove trailing "(fwd)" and white space.
		for {
			t := strings.TrimRight(s, " ")
			if len(t) >= 5 && strings.EqualFold(t[len(t)-5:], "(fwd)") {
				t = t[:len(t)-5]
			}
			if t == s {
				break
			}
			s = t
		}
		// Steps 3 to 5: remove leaders and blobs until nothing changes.
		for {
			t := stripLeader(s)
			if t == s {
				// Step 4: a blob is removed only when text remains. As
				// step 3 fails at the same place after each removed blob,
				// the whole run of blobs goes at once (stays linear).
				last, e := 0, 0
				for {
					b := skipBlob(t[e:])
					if b == 0 {
						break
					}
					last, e = e, e+b
				}
				switch {
				case e == 0:
				case e < len(t):
					t = t[e:]
				default:
					t = t[last:]
				}
			}
			if t == s {
				break
			}
			s = t
		}
		// Step 6: "[fwd:" ... "]" wrapper.
		if len(s) >= 6 && strings.EqualFold(s[:5], "[fwd:") && s[len(s)-1] == ']' {
			s = s[5 : len(s)-1]
			continue
		}
		break
	}
	return strings.TrimSpace(s)
}

func foldSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteByte(c)
	}
	return b.String()
}

// skipBlob returns the length of a subj-blob ("[" *BLOBCHAR "]" *WSP) at
// the start of s, or 0.
func skipBlob(s string) int {
	if len(s) == 0 || s[0] != '[' {
		return 0
	}
	i := 1
	for i < len(s) && s[i] != ']' {
		if s[i] == '[' {
			return 0
		}
		i++
	}
	if i >= len(s) {
		return 0
	}
	i++
	for i < len(s) && s[i] == ' ' {
		i++
	}
	return i
}

// stripLeader removes one subj-leader: ((*subj-blob subj-refwd) / WSP),
// where subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":".
func stripLeader(s string) string {
	if len(s) > 0 && s[0] == ' ' {
		return s[1:]
	}
	i := 0
	for {
		b := skipBlob(s[i:])
		if b == 0 {
			break
		}
		i += b
	}
	rest := s[i:]
	var n int
	switch {
	case len(rest) >= 3 && strings.EqualFold(rest[:3], "fwd"):
		n = 3
	case len(rest) >= 2 && (strings.EqualFold(rest[:2], "re") || strings.EqualFold(rest[:2], "fw")):
		n = 2
	default:
		return s
	}
	for n < len(rest) && rest[n] == ' ' {
		n++
	}
	n += skipBlob(rest[n:])
	if n < len(rest) && rest[n] == ':' {
		return rest[n+1:]
	}
	return s
}
