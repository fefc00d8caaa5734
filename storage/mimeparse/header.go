package mimeparse

import (
	"bytes"
	"sort"
	"strconv"
	"strings"

	"github.com/floemail/floe/storage"
)

// headerInfo is what a part's header says about the part.
type headerInfo struct {
	typ, subtype string
	params       map[string]string
	boundary     string
	id, desc     string
	enc          string
	disp         string
	dispParams   map[string]string
	lang         []string
	loc, md5     string
}

func (h *headerInfo) apply(p *storage.Part) {
	p.Type, p.Subtype, p.Params = h.typ, h.subtype, h.params
	p.ID, p.Description, p.Encoding = h.id, h.desc, h.enc
	p.Disposition, p.DispParams, p.Language = h.disp, h.dispParams, h.lang
	p.Location, p.MD5 = h.loc, h.md5
}

// Header field bits, to keep the first occurrence of each field.
const (
	fContentType = 1 << iota
	fEncoding
	fID
	fDesc
	fDisp
	fLang
	fLoc
	fMD5
	fDate
	fSubject
	fFrom
	fSender
	fReplyTo
	fTo
	fCc
	fBcc
	fInReplyTo
	fMessageID
	fReferences
)

// parseHeader parses the fields of a raw header section (RFC 5322 2.2). It
// fills env and top when they are not nil. Unknown and malformed fields are
// ignored; the first occurrence of a field wins.
func parseHeader(h []byte, inDigest bool, env *storage.Envelope, top *topInfo) headerInfo {
	var info headerInfo
	var seen uint32
	var name [32]byte
	for i := 0; i < len(h); {
		// A field runs to the next line that does not start with WSP.
		j := i
		for {
			nl := bytes.IndexByte(h[j:], '\n')
			if nl < 0 {
				j = len(h)
				break
			}
			j += nl + 1
			if j >= len(h) || (h[j] != ' ' && h[j] != '\t') {
				break
			}
		}
		field := h[i:j]
		i = j
		colon := bytes.IndexByte(field, ':')
		if colon <= 0 {
			continue
		}
		raw := bytes.TrimRight(field[:colon], " \t")
		if len(raw) == 0 || len(raw) > len(name) {
			continue
		}
		for k, c := range raw {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			name[k] = c
		}
		value := field[colon+1:]
		var bit uint32
		switch string(name[:len(raw)]) {
		case "content-type":
			bit = fContentType
		case "content-transfer-encoding":
			bit = fEncoding
		case "content-id":
			bit = fID
		case "content-description":
			bit = fDesc
		case "content-disposition":
			bit = fDisp
		case "content-language":
			bit = fLang
		case "content-location":
			bit = fLoc
		case "content-md5":
			bit = fMD5
		case "date":
			bit = fDate
		case "subject":
			bit = fSubject
		case "from":
			bit = fFrom
		case "sender":
			bit = fSender
		case "reply-to":
			bit = fReplyTo
		case "to":
			bit = fTo
		case "cc":
			bit = fCc
		case "bcc":
			bit = fBcc
		case "in-reply-to":
			bit = fInReplyTo
		case "message-id":
			bit = fMessageID
		case "references":
			bit = fReferences
		default:
			continue
		}
		if seen&bit != 0 {
			continue
		}
		if bit >= fDate && env == nil {
			continue
		}
		if bit == fReferences && top == nil {
			continue
		}
		seen |= bit
		v := unfold(value)
		switch bit {
		case fContentType:
			info.typ, info.subtype, info.params = parseContentType(v)
		case fEncoding:
			info.enc = strings.ToLower(stripComments(v))
		case fID:
			info.id = v
		case fDesc:
			info.desc = v
		case fDisp:
			info.disp, info.dispParams = parseDisposition(v)
		case fLang:
			info.lang = parseLanguage(v)
		case fLoc:
			info.loc = v
		case fMD5:
			info.md5 = v
		case fDate:
			env.RawDate = v
			env.Date, _ = ParseDate(v)
		case fSubject:
			env.Subject = DecodeHeaderValue(v)
		case fFrom:
			env.From = ParseAddressList(v)
		case fSender:
			env.Sender = ParseAddressList(v)
		case fReplyTo:
			env.ReplyTo = ParseAddressList(v)
		case fTo:
			env.To = ParseAddressList(v)
		case fCc:
			env.Cc = ParseAddressList(v)
		case fBcc:
			env.Bcc = ParseAddressList(v)
		case fInReplyTo:
			env.InReplyTo = v
		case fMessageID:
			env.MessageID = v
		case fReferences:
			top.references = v
		}
	}
	if info.typ == "" {
		// RFC 2045 5.2 default, RFC 2046 5.1.5 in a digest.
		if inDigest && seen&fContentType == 0 {
			info.typ, info.subtype = "message", "rfc822"
		} else {
			info.typ, info.subtype = "text", "plain"
			info.params = map[string]string{"charset": "us-ascii"}
		}
	}
	if info.typ == "multipart" {
		info.boundary = info.params["boundary"]
	}
	return info
}

// unfold removes the line breaks of a folded field value (RFC 5322 2.2.3)
// and trims surrounding white space.
func unfold(v []byte) string {
	v = bytes.Trim(v, " \t\r\n")
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return string(v)
	}
	b := make([]byte, 0, len(v))
	for _, c := range v {
		if c != '\r' && c != '\n' {
			b = append(b, c)
		}
	}
	return string(b)
}

// skipCFWS skips white space and comments (RFC 5322 3.2.2) from s[i:].
func skipCFWS(s string, i int) int {
	for i < len(s) {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
			i++
		case '(':
			i = skipComment(s, i)
		default:
			return i
		}
	}
	return i
}

// skipComment skips the (possibly nested) comment starting at s[i] == '('.
func skipComment(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

// stripComments removes comments and surrounding white space.
func stripComments(s string) string {
	if strings.IndexByte(s, '(') < 0 {
		return strings.TrimSpace(s)
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '(' {
			i = skipComment(s, i)
			continue
		}
		if s[i] == '"' {
			j := skipQuoted(s, i)
			b.WriteString(s[i:j])
			i = j
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return strings.TrimSpace(b.String())
}

// skipQuoted returns the index after the quoted string starting at s[i] == '"'.
func skipQuoted(s string, i int) int {
	for i++; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(s)
}

func isTSpecial(c byte) bool {
	return strings.IndexByte("()<>@,;:\\\"/[]?= \t\r\n", c) >= 0
}

// token reads an RFC 2045 token from s[i:].
func token(s string, i int) (string, int) {
	j := i
	for j < len(s) && !isTSpecial(s[j]) && s[j] > 0x20 && s[j] != 0x7f {
		j++
	}
	return s[i:j], j
}

// parseContentType parses a Content-Type value (RFC 2045 5.1). An invalid
// value yields "" types.
func parseContentType(v string) (typ, subtype string, params map[string]string) {
	i := skipCFWS(v, 0)
	typ, i = token(v, i)
	i = skipCFWS(v, i)
	if typ == "" || i >= len(v) || v[i] != '/' {
		return "", "", nil
	}
	i = skipCFWS(v, i+1)
	subtype, i = token(v, i)
	if subtype == "" {
		return "", "", nil
	}
	return strings.ToLower(typ), strings.ToLower(subtype), parseParams(v, i)
}

// parseDisposition parses a Content-Disposition value (RFC 2183).
func parseDisposition(v string) (string, map[string]string) {
	i := skipCFWS(v, 0)
	d, i := token(v, i)
	if d == "" {
		return "", nil
	}
	return strings.ToLower(d), parseParams(v, i)
}

// parseLanguage parses a Content-Language value (RFC 3282).
func parseLanguage(v string) []string {
	var l []string
	for _, s := range strings.Split(stripComments(v), ",") {
		if s = strings.TrimSpace(s); s != "" && len(l) < 32 {
			l = append(l, s)
		}
	}
	return l
}

const maxParams = 64

type paramSeg struct {
	n   int
	ext bool
	v   string
}

// parseParams parses "; key=value" parameters from v[i:] (RFC 2045 5.1),
// leniently: unquoted values run to the next ";". Keys are lowercased; the
// first occurrence wins. RFC 2231 continuations are merged: key*0, key*1 ...
// become key, and when any segment is extended (key*N* or key*) the merged
// value is stored under "key*" in extended form (charset'language'%XX...),
// as the IMAP BODYSTRUCTURE of other servers shows it. ParamValue decodes.
func parseParams(v string, i int) map[string]string {
	var params map[string]string
	var conts map[string][]paramSeg
	for n := 0; i < len(v) && n < maxParams; n++ {
		i = skipCFWS(v, i)
		if i >= len(v) {
			break
		}
		if v[i] == ';' {
			i++
			continue
		}
		j := i
		for j < len(v) && v[j] != '=' && v[j] != ';' {
			j++
		}
		key := strings.ToLower(strings.TrimSpace(v[i:j]))
		if j >= len(v) || v[j] == ';' || key == "" {
			// No "=" or no name: skip to the next parameter.
			for j < len(v) && v[j] != ';' {
				j++
			}
			i = j
			continue
		}
		i = skipCFWS(v, j+1)
		var val string
		if i < len(v) && v[i] == '"' {
			end := skipQuoted(v, i)
			val = unquote(v[i:end])
			i = end
			for i < len(v) && v[i] != ';' {
				i++
			}
		} else {
			j := i
			for j < len(v) && v[j] != ';' {
				j++
			}
			val = v[i:j]
			if k := strings.IndexByte(val, '('); k >= 0 {
				val = val[:k]
			}
			val = strings.TrimSpace(val)
			i = j
		}
		if params == nil {
			params = make(map[string]string)
		}
		star := strings.IndexByte(key, '*')
		if star < 0 || star == 0 {
			if _, ok := params[key]; !ok {
				params[key] = val
			}
			continue
		}
		name, rest := key[:star], key[star+1:]
		if rest == "" { // key*=charset'lang'value
			if _, ok := params[key]; !ok {
				params[key] = val
			}
			continue
		}
		ext := strings.HasSuffix(rest, "*")
		rest = strings.TrimSuffix(rest, "*")
		num, err := strconv.Atoi(rest)
		if err != nil || num < 0 || num > 999 || (len(rest) > 1 && rest[0] == '0') {
			continue
		}
		if conts == nil {
			conts = make(map[string][]paramSeg)
		}
		conts[name] = append(conts[name], paramSeg{num, ext, val})
	}
	for name, segs := range conts {
		sort.SliceStable(segs, func(a, b int) bool { return segs[a].n < segs[b].n })
		anyExt := false
		k := 0
		for ; k < len(segs) && segs[k].n == k; k++ {
			anyExt = anyExt || segs[k].ext
		}
		segs = segs[:k]
		if len(segs) == 0 {
			continue
		}
		var b strings.Builder
		for idx, s := range segs {
			switch {
			case !anyExt || s.ext:
				b.WriteString(s.v)
			case idx == 0:
				b.WriteString("''")
				b.WriteString(pctEncode(s.v))
			default:
				b.WriteString(pctEncode(s.v))
			}
		}
		key := name
		if anyExt {
			key += "*"
		}
		if _, ok := params[key]; !ok {
			params[key] = b.String()
		}
	}
	return params
}

func unquote(q string) string {
	q = strings.TrimPrefix(q, `"`)
	q = strings.TrimSuffix(q, `"`)
	if strings.IndexByte(q, '\\') < 0 {
		return q
	}
	b := make([]byte, 0, len(q))
	for i := 0; i < len(q); i++ {
		if q[i] == '\\' && i+1 < len(q) {
			i++
		}
		b = append(b, q[i])
	}
	return string(b)
}

func pctEncode(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte("*'%()<>@,;:\\\"/[]?=", c) >= 0 {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// ParamValue returns the decoded UTF-8 value of parameter key (lowercase) of
// params as produced by Parse: an RFC 2231 extended value ("key*") is
// preferred and decoded from its charset; otherwise the plain value, with
// RFC 2047 encoded words (a common non-standard practice) decoded.
func ParamValue(params map[string]string, key string) string {
	if v, ok := params[key+"*"]; ok {
		return decode2231(v)
	}
	return DecodeHeaderValue(params[key])
}

// decode2231 decodes an RFC 2231 extended value: charset'language'%XX text.
func decode2231(v string) string {
	charset := ""
	if a := strings.IndexByte(v, '\''); a >= 0 {
		if b := strings.IndexByte(v[a+1:], '\''); b >= 0 {
			charset = v[:a]
			v = v[a+1+b+1:]
		}
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) {
			if h, ok := unhex(v[i+1], v[i+2]); ok {
				b = append(b, h)
				i += 2
				continue
			}
		}
		b = append(b, v[i])
	}
	return toUTF8(charset, b)
}

func unhex(a, b byte) (byte, bool) {
	x, ok1 := hexVal(a)
	y, ok2 := hexVal(b)
	return x<<4 | y, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// MessageIDs extracts the message IDs ("<id>", brackets kept, white space
// and comments inside removed) of a References or In-Reply-To value
// (RFC 5322 3.6.4). Without any angle brackets, white-space separated words
// are taken as IDs (a lenient fallback for broken mailers).
func MessageIDs(v string) []string {
	var ids []string
	for i := 0; i < len(v) && len(ids) < 1000; {
		switch v[i] {
		case '(':
			i = skipComment(v, i)
		case '<':
			end := strings.IndexByte(v[i:], '>')
			if end < 0 {
				i = len(v)
				break
			}
			id := v[i : i+end+1]
			if strings.ContainsAny(id, " \t\r\n") {
				id = strings.Map(func(r rune) rune {
					if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
						return -1
					}
					return r
				}, id)
			}
			if len(id) > 2 {
				ids = append(ids, id)
			}
			i += end + 1
		default:
			i++
		}
	}
	if len(ids) == 0 && strings.IndexByte(v, '<') < 0 {
		for _, f := range strings.Fields(stripComments(v)) {
			if len(ids) >= 1000 {
				break
			}
			ids = append(ids, f)
		}
	}
	return ids
}
