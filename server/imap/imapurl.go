package imap

import (
	"errors"
	"strconv"
	"strings"
)

// IMAP URLs (RFC 5092) naming one message or message part, as CATENATE
// (RFC 4469 3) takes them:
//
//	imapurl      = "imap://" iserver "/" imessagepart    ; absolute
//	             / "/" imessagepart                      ; relative to the session
//	iserver      = [iuserinfo "@"] host [":" port]
//	iuserinfo    = enc-user [iauth] / [enc-user] iauth
//	imessagepart = imailbox-ref iuid [isection] [ipartial]
//	imailbox-ref = enc-mailbox [";UIDVALIDITY=" nz-number]
//	iuid         = "/;UID=" nz-number
//	isection     = "/;SECTION=" enc-section
//	ipartial     = "/;PARTIAL=" number ["." nz-number]
//
// Keywords are case-insensitive; the mailbox and the section are
// percent-encoded UTF-8 (RFC 5092 3, 6). Message lists (a "?" search) and
// URLAUTH are not message parts here and are refused.

// imapURL is a parsed message-part URL.
type imapURL struct {
	// Absolute URLs only: the user (without ";AUTH=...") and the host
	// (without port), lower-cased.
	absolute bool
	user     string
	host     string

	mailbox     string // decoded (UTF-8)
	uidValidity uint32 // 0: not given
	uid         uint32
	section     string // decoded section text, "" for the whole message
	hasPartial  bool
	partialOff  int64
	partialLen  int64 // -1: to the end
}

// maxURLLen bounds a URL we parse (a CATENATE URL is an astring, already
// bounded by the line limit; this keeps the parser's work small).
const maxURLLen = 8 << 10

var errURLSyntax = errors.New("imap url: syntax error")

// parseIMAPURL parses raw as an absolute or relative message-part URL.
func parseIMAPURL(raw string) (*imapURL, error) {
	if len(raw) > maxURLLen {
		return nil, errURLSyntax
	}
	u := &imapURL{partialLen: -1}
	rest := raw
	if len(rest) >= 7 && strings.EqualFold(rest[:7], "imap://") {
		u.absolute = true
		rest = rest[7:]
		slash := strings.IndexByte(rest, '/')
		if slash < 0 {
			return nil, errURLSyntax
		}
		server := rest[:slash]
		rest = rest[slash:]
		if at := strings.LastIndexByte(server, '@'); at >= 0 {
			userinfo := server[:at]
			server = server[at+1:]
			if i := indexFold(userinfo, ";AUTH="); i >= 0 {
				userinfo = userinfo[:i]
			}
			user, err := pctDecode(userinfo)
			if err != nil {
				return nil, err
			}
			u.user = strings.ToLower(user)
		}
		if i := strings.LastIndexByte(server, ':'); i >= 0 && !strings.HasSuffix(server, "]") {
			if _, err := strconv.ParseUint(server[i+1:], 10, 16); err != nil {
				return nil, errURLSyntax
			}
			server = server[:i]
		}
		if server == "" {
			return nil, errURLSyntax
		}
		u.host = strings.ToLower(server)
	}
	if !strings.HasPrefix(rest, "/") {
		return nil, errURLSyntax
	}
	rest = rest[1:]
	if strings.ContainsAny(rest, "?#") {
		return nil, errURLSyntax // message lists, fragments
	}
	// imailbox-ref ends where iuid begins.
	i := indexFold(rest, "/;UID=")
	if i < 0 {
		return nil, errURLSyntax
	}
	mref := rest[:i]
	rest = rest[i+len("/;UID="):]
	if j := indexFold(mref, ";UIDVALIDITY="); j >= 0 {
		v, err := parseNZ(mref[j+len(";UIDVALIDITY="):])
		if err != nil {
			return nil, err
		}
		u.uidValidity = v
		mref = mref[:j]
	}
	if mref == "" || strings.ContainsRune(mref, ';') {
		return nil, errURLSyntax
	}
	mbox, err := pctDecode(mref)
	if err != nil {
		return nil, err
	}
	u.mailbox = mbox

	// iuid [isection] [ipartial], each after "/;".
	parts := strings.Split(rest, "/;")
	if u.uid, err = parseNZ(parts[0]); err != nil {
		return nil, err
	}
	parts = parts[1:]
	if len(parts) > 0 && hasPrefixFold(parts[0], "SECTION=") {
		sec, err := pctDecode(parts[0][len("SECTION="):])
		if err != nil || sec == "" {
			return nil, errURLSyntax
		}
		u.section = sec
		parts = parts[1:]
	}
	if len(parts) > 0 && hasPrefixFold(parts[0], "PARTIAL=") {
		off, length, ok := strings.Cut(parts[0][len("PARTIAL="):], ".")
		o, err := strconv.ParseUint(off, 10, 32)
		if err != nil || off == "" || off[0] == '+' {
			return nil, errURLSyntax
		}
		u.hasPartial, u.partialOff = true, int64(o)
		if ok {
			l, err := parseNZ(length)
			if err != nil {
				return nil, err
			}
			u.partialLen = int64(l)
		}
		parts = parts[1:]
	}
	if len(parts) > 0 {
		return nil, errURLSyntax // URLAUTH or anything else
	}
	return u, nil
}

// parseNZ parses nz-number (RFC 9051 9): no sign, no leading zero, < 2^32.
func parseNZ(s string) (uint32, error) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, errURLSyntax
	}
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, errURLSyntax
	}
	return uint32(v), nil
}

// pctDecode undoes percent-encoding (RFC 3986 2.1).
func pctDecode(s string) (string, error) {
	if strings.IndexByte(s, '%') < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", errURLSyntax
		}
		hi, lo := unhex(s[i+1]), unhex(s[i+2])
		if hi < 0 || lo < 0 {
			return "", errURLSyntax
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// indexFold is strings.Index for an ASCII needle, ignoring case.
func indexFold(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return i
		}
	}
	return -1
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// parseURLSection parses a URL's section text: what FETCH puts between
// brackets (RFC 5092 6, RFC 9051 6.4.5), e.g. "1.2", "HEADER",
// "HEADER.FIELDS (From To)", "1.MIME".
func parseURLSection(s string) (sectionSpec, error) {
	spec, list, hasList := strings.Cut(s, " ")
	if !hasList {
		if i := strings.IndexByte(s, '('); i >= 0 {
			spec, list, hasList = s[:i], s[i:], true
		}
	}
	sec, err := parseSectionText(spec, true)
	if err != nil {
		return sec, err
	}
	if !hasList {
		if sec.Spec == specFields || sec.Spec == specFieldsNot {
			return sec, errBad("header list missing")
		}
		return sec, nil
	}
	if sec.Spec != specFields && sec.Spec != specFieldsNot {
		return sec, errBad("invalid section")
	}
	list = strings.TrimSpace(list)
	if len(list) < 2 || list[0] != '(' || list[len(list)-1] != ')' {
		return sec, errBad("invalid header list")
	}
	for _, f := range strings.Fields(list[1 : len(list)-1]) {
		f = strings.Trim(f, `"`)
		if f == "" {
			return sec, errBad("invalid header list")
		}
		sec.Fields = append(sec.Fields, f)
	}
	if len(sec.Fields) == 0 {
		return sec, errBad("invalid header list")
	}
	return sec, nil
}
