package mimeparse

import (
	"strings"

	"github.com/floemail/floe/storage"
)

// Placeholders for the parts of a malformed address, as other IMAP servers
// report them. They keep a salvaged address from looking like a group marker
// (Host == "") in the IMAP ENVELOPE (RFC 3501 7.4.2).
const (
	MissingMailbox = "MISSING_MAILBOX"
	MissingDomain  = "MISSING_DOMAIN"
)

const maxAddresses = 1000

type atok struct {
	kind byte // 'w' word, 'q' quoted string, 'c' comment, or one of <>@:;,
	sp   bool // preceded by white space
	s    string
}

func tokenizeAddresses(s string) []atok {
	toks := make([]atok, 0, 8)
	sp := false
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case ' ', '\t', '\r', '\n':
			sp = true
			i++
			continue
		case '(':
			j := skipComment(s, i)
			inner := s[i+1 : j]
			inner = strings.TrimSuffix(inner, ")")
			toks = append(toks, atok{'c', sp, unquote(`"` + inner + `"`)})
			i = j
		case '"':
			j := skipQuoted(s, i)
			toks = append(toks, atok{'q', sp, unquote(s[i:j])})
			i = j
		case '[':
			j := strings.IndexByte(s[i:], ']')
			if j < 0 {
				j = len(s) - i - 1
			}
			toks = append(toks, atok{'w', sp, s[i : i+j+1]})
			i += j + 1
		case '<', '>', '@', ':', ';', ',':
			toks = append(toks, atok{c, sp, s[i : i+1]})
			i++
		case ')', ']':
			i++
		default:
			j := i
			for j < len(s) && strings.IndexByte(" \t\r\n()\"[<>@:;,)]", s[j]) < 0 {
				j++
			}
			toks = append(toks, atok{'w', sp, s[i:j]})
			i = j
		}
		sp = false
	}
	return toks
}

// ParseAddressList parses an address-list header value (RFC 5322 3.4)
// leniently into IMAP ENVELOPE addresses: display names are decoded (RFC
// 2047) to UTF-8, a group becomes a start marker (Mailbox = group name,
// Host = "") and an end marker (all empty) around its members (RFC 3501
// 7.4.2). What cannot be parsed is salvaged: an address without domain gets
// Host MissingDomain, without local part Mailbox MissingMailbox; a comment
// serves as display name when there is no phrase. It never fails.
func ParseAddressList(s string) []storage.Address {
	toks := tokenizeAddresses(s)
	var out []storage.Address
	inGroup := false
	var cur []atok
	emitted := false // the current entry already produced an address
	add := func(a storage.Address) {
		if len(out) < maxAddresses {
			out = append(out, a)
		}
	}
	flush := func() {
		if !emitted {
			if a, ok := addrSpecEntry(cur); ok {
				add(a)
			}
		}
		cur, emitted = cur[:0], false
	}
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch t.kind {
		case '<':
			j := i + 1
			for j < len(toks) && toks[j].kind != '>' {
				j++
			}
			inner := toks[i+1 : min(j, len(toks))]
			name := phrase(cur)
			route, local, domain := angleAddr(inner)
			if local != "" || domain != "" || name != "" {
				if name == "" {
					name = lastComment(cur)
				}
				if local == "" {
					local = MissingMailbox
				}
				if domain == "" {
					domain = MissingDomain
				}
				add(storage.Address{Name: name, Mailbox: local, Host: domain, Route: route})
			}
			cur, emitted = cur[:0], true
			i = j
		case ':':
			if !inGroup && !emitted {
				name := phrase(cur)
				if name == "" {
					name = MissingMailbox
				}
				add(storage.Address{Mailbox: name})
				inGroup = true
				cur = cur[:0]
			}
		case ',':
			flush()
		case ';':
			flush()
			if inGroup {
				add(storage.Address{})
				inGroup = false
			}
		default:
			cur = append(cur, t)
		}
	}
	flush()
	if inGroup {
		if len(out) == maxAddresses {
			out = out[:len(out)-1]
		}
		out = append(out, storage.Address{})
	}
	return out
}

// phrase returns the decoded display name made of the words and quoted
// strings of toks.
func phrase(toks []atok) string {
	var b strings.Builder
	for _, t := range toks {
		if t.kind != 'w' && t.kind != 'q' {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(t.s)
	}
	return strings.TrimSpace(DecodeHeaderValue(b.String()))
}

func lastComment(toks []atok) string {
	for i := len(toks) - 1; i >= 0; i-- {
		if toks[i].kind == 'c' {
			if c := strings.TrimSpace(DecodeHeaderValue(toks[i].s)); c != "" {
				return c
			}
		}
	}
	return ""
}

// join concatenates the words, quoted strings and "@" of toks, without
// comments and white space.
func join(toks []atok) string {
	var b strings.Builder
	for _, t := range toks {
		if t.kind == 'w' || t.kind == 'q' || t.kind == '@' {
			b.WriteString(t.s)
		}
	}
	return b.String()
}

// angleAddr splits the tokens inside <...> into an obsolete source route
// ("@a,@b", RFC 5322 4.4 obs-route, kept for the ENVELOPE's adl), local
// part and domain. Comments are dropped.
func angleAddr(toks []atok) (route, local, domain string) {
	for i := len(toks) - 1; i >= 0; i-- {
		if toks[i].kind == ':' {
			var b strings.Builder
			for _, t := range toks[:i] {
				if t.kind == 'w' || t.kind == '@' || t.kind == ',' {
					b.WriteString(t.s)
				}
			}
			route = strings.Trim(b.String(), ",")
			toks = toks[i+1:]
			break
		}
	}
	for i := len(toks) - 1; i >= 0; i-- {
		if toks[i].kind == '@' {
			return route, join(toks[:i]), join(toks[i+1:])
		}
	}
	return route, join(toks), ""
}

// addrSpecEntry makes an address of an entry without angle brackets:
// "local@domain (Name)", or salvaged text.
func addrSpecEntry(toks []atok) (storage.Address, bool) {
	at := -1
	words := 0
	for i, t := range toks {
		switch t.kind {
		case '@':
			if at < 0 {
				at = i
			}
		case 'w', 'q':
			words++
		}
	}
	if words == 0 && at < 0 {
		return storage.Address{}, false
	}
	var a storage.Address
	if at < 0 {
		// No domain: keep the text as the mailbox.
		var b strings.Builder
		for _, t := range toks {
			if t.kind == 'w' || t.kind == 'q' {
				if b.Len() > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(t.s)
			}
		}
		a.Mailbox = b.String()
		a.Host = MissingDomain
		a.Name = lastComment(toks)
		return a, true
	}
	// The local part runs back from "@" to the first white space gap; words
	// before it are a display name written without angle brackets.
	ls := at
	for ls > 0 && (toks[ls-1].kind == 'w' || toks[ls-1].kind == 'q') {
		ls--
		if toks[ls].sp {
			break
		}
	}
	de := at + 1
	for de < len(toks) && (toks[de].kind == 'w' || toks[de].kind == 'q' || toks[de].kind == '@') {
		if de > at+1 && toks[de].sp {
			break
		}
		de++
	}
	a.Mailbox = join(toks[ls:at])
	a.Host = join(toks[at+1 : de])
	a.Name = phrase(toks[:ls])
	if a.Name == "" {
		a.Name = lastComment(toks)
	}
	if a.Mailbox == "" {
		a.Mailbox = MissingMailbox
	}
	if a.Host == "" {
		a.Host = MissingDomain
	}
	return a, true
}
