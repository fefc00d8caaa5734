package files

import (
	"strings"

	"golang.org/x/net/webdav"
)

// maxIfHeader bounds the If header parsed (the HTTP server bounds all
// headers too); maxIfLists bounds its lists.
const (
	maxIfHeader = 16 << 10
	maxIfLists  = 64
)

// ifList is one list of an If header (RFC 4918 10.4.2): conditions that
// must all hold, for the resource tag (or the request URI when "").
type ifList struct {
	resource   string
	conditions []webdav.Condition
}

// parseIf parses an If header value (RFC 4918 10.4):
//
//	If = ( 1*No-tag-list | 1*Tagged-list )
//	No-tag-list = List ; Tagged-list = Resource-Tag 1*List
//	List = "(" 1*Condition ")" ; Condition = ["Not"] (State-token | "[" entity-tag "]")
//
// It returns false for a malformed header.
func parseIf(s string) ([]ifList, bool) {
	if len(s) > maxIfHeader {
		return nil, false
	}
	var out []ifList
	tagged := -1 // unknown; 0 no-tag lists; 1 tagged lists
	resource := ""
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		switch s[0] {
		case '<':
			if tagged == 0 {
				return nil, false
			}
			tagged = 1
			end := strings.IndexByte(s, '>')
			if end < 0 {
				return nil, false
			}
			resource = s[1:end]
			s = s[end+1:]
			s = strings.TrimLeft(s, " \t")
			if s == "" || s[0] != '(' {
				return nil, false
			}
		case '(':
			if tagged == -1 {
				tagged = 0
			}
			l, rest, ok := parseIfList(s[1:])
			if !ok {
				return nil, false
			}
			l.resource = resource
			out = append(out, l)
			if len(out) > maxIfLists {
				return nil, false
			}
			s = rest
		default:
			return nil, false
		}
	}
	return out, len(out) > 0
}

// parseIfList parses the conditions of one list after its "(".
func parseIfList(s string) (ifList, string, bool) {
	var l ifList
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			return l, "", false
		}
		if s[0] == ')' {
			return l, s[1:], len(l.conditions) > 0
		}
		var c webdav.Condition
		if len(s) >= 3 && strings.EqualFold(s[:3], "not") {
			c.Not = true
			s = strings.TrimLeft(s[3:], " \t")
		}
		if s == "" {
			return l, "", false
		}
		switch s[0] {
		case '<':
			end := strings.IndexByte(s, '>')
			if end < 0 {
				return l, "", false
			}
			c.Token = s[1:end]
			if c.Token == "" {
				return l, "", false
			}
			s = s[end+1:]
		case '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return l, "", false
			}
			c.ETag = s[1:end]
			if c.ETag == "" {
				return l, "", false
			}
			s = s[end+1:]
		default:
			return l, "", false
		}
		l.conditions = append(l.conditions, c)
		if len(l.conditions) > 64 {
			return l, "", false
		}
	}
}
