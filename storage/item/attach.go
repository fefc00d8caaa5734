package item

import (
	"bytes"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Attachments of calendar objects (RFC 5545 3.8.1.1 ATTACH; RFC 8607
// managed attachments). They are read and rewritten at the level of
// content lines, so everything else in the object stays byte for byte as
// the client wrote it: a rewrite changes ATTACH lines only.

// Limits of the content-line reader.
const (
	// MaxAttachments bounds the ATTACH properties Attachments reports.
	MaxAttachments = 1000
)

// Attachment is one ATTACH property of a calendar object's component
// (VEVENT, VTODO or VJOURNAL; not of a VALARM, whose ATTACH is a sound).
type Attachment struct {
	// Comp is the index of its component among the object's components
	// (Components); RecurrenceID that component's RECURRENCE-ID value (""
	// for the master).
	Comp int
	// Params are the property's parameters, names upper case, values as
	// written (quotes removed, RFC 6868 carets decoded).
	Params map[string][]string
	// Value is the property value as written (a URI, or base64 text).
	Value string
	// start and end are the byte range of the (folded) line in the data,
	// line break included.
	start, end int
}

// Param returns the first value of parameter name (upper case), or "".
func (a *Attachment) Param(name string) string {
	if v := a.Params[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Binary reports whether the attachment is inline data (VALUE=BINARY or
// ENCODING=BASE64).
func (a *Attachment) Binary() bool {
	return strings.EqualFold(a.Param("VALUE"), "BINARY") || strings.EqualFold(a.Param("ENCODING"), "BASE64")
}

// ManagedID is the MANAGED-ID parameter (RFC 8607 4.1), "" when none.
func (a *Attachment) ManagedID() string { return a.Param("MANAGED-ID") }

// Decode returns the data of a binary attachment: the value decoded as
// base64, leniently (white space and padding errors tolerated).
func (a *Attachment) Decode() ([]byte, error) {
	v := strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, a.Value)
	v = strings.TrimRight(v, "=")
	return base64.RawStdEncoding.DecodeString(v)
}

// Filename is the attachment's file name: FILENAME (RFC 8607), or one of
// the names clients use (X-FILENAME, X-APPLE-FILENAME, X-ORACLE-FILENAME,
// X-EVOLUTION-CALDAV-ATTACHMENT-NAME), without any directory; "" when
// none.
func (a *Attachment) Filename() string {
	for _, p := range []string{"FILENAME", "X-FILENAME", "X-APPLE-FILENAME", "X-ORACLE-FILENAME", "X-EVOLUTION-CALDAV-ATTACHMENT-NAME"} {
		if v := strings.TrimSpace(a.Param(p)); v != "" {
			if i := strings.LastIndexAny(v, `/\`); i >= 0 {
				v = v[i+1:]
			}
			if v != "" {
				return v
			}
		}
	}
	return ""
}

// Component is one component of a calendar object (a VEVENT, VTODO or
// VJOURNAL directly in the VCALENDAR).
type Component struct {
	Name string
	// RecurrenceID is its RECURRENCE-ID value ("" for the master) and
	// RecurrenceTZID that property's TZID.
	RecurrenceID, RecurrenceTZID string
	// end is the offset of its END line: new properties go before it.
	end int
}

// line is one content line: its range in the data (folded lines
// included, line break included) and its unfolded text.
type line struct {
	start, end int
	text       string
}

// lines splits data into content lines, unfolding continuation lines
// (RFC 5545 3.1: a line break followed by a space or tab).
func lines(data []byte) []line {
	var out []line
	i := 0
	for i < len(data) {
		start := i
		var b strings.Builder
		for {
			j := bytes.IndexByte(data[i:], '\n')
			var seg []byte
			if j < 0 {
				seg, i = data[i:], len(data)
			} else {
				seg, i = data[i:i+j], i+j+1
			}
			b.Write(bytes.TrimSuffix(seg, []byte("\r")))
			if i < len(data) && (data[i] == ' ' || data[i] == '\t') {
				i++ // the fold's white space
				continue
			}
			break
		}
		out = append(out, line{start: start, end: i, text: b.String()})
	}
	return out
}

// splitLine splits an unfolded content line into name, raw parameters and
// value (RFC 5545 3.1: the value starts after the first colon outside
// quotes).
func splitLine(s string) (name, params, value string, ok bool) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case ':':
			if !quoted {
				head := s[:i]
				name, params, _ = strings.Cut(head, ";")
				return strings.ToUpper(strings.TrimSpace(name)), params, s[i+1:], true
			}
		}
	}
	return "", "", "", false
}

// parseParams parses "A=1;B=\"x;y\",z" into upper-case names and values
// (quotes removed, RFC 6868 ^n ^' ^^ decoded).
func parseParams(s string) map[string][]string {
	out := map[string][]string{}
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			break
		}
		if semi := strings.IndexByte(s[:eq], ';'); semi >= 0 { // a parameter without a value
			s = s[semi+1:]
			continue
		}
		name := strings.ToUpper(strings.TrimSpace(s[:eq]))
		s = s[eq+1:]
		var vals []string
		for {
			var v string
			if strings.HasPrefix(s, `"`) {
				end := strings.IndexByte(s[1:], '"')
				if end < 0 {
					v, s = s[1:], ""
				} else {
					v, s = s[1:1+end], s[2+end:]
				}
			} else {
				end := strings.IndexAny(s, ",;")
				if end < 0 {
					v, s = s, ""
				} else {
					v, s = s[:end], s[end:]
				}
			}
			vals = append(vals, decodeCaret(v))
			if strings.HasPrefix(s, ",") {
				s = s[1:]
				continue
			}
			break
		}
		if name != "" {
			out[name] = append(out[name], vals...)
		}
		if i := strings.IndexByte(s, ';'); i >= 0 {
			s = s[i+1:]
		} else {
			break
		}
	}
	return out
}

// decodeCaret undoes RFC 6868 parameter value encoding.
func decodeCaret(v string) string {
	if !strings.Contains(v, "^") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '^' && i+1 < len(v) {
			switch v[i+1] {
			case 'n', 'N':
				b.WriteByte('\n')
				i++
				continue
			case '\'':
				b.WriteByte('"')
				i++
				continue
			case '^':
				b.WriteByte('^')
				i++
				continue
			}
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// scan reads the components and their attachments.
func scan(data []byte) ([]Component, []Attachment) {
	var comps []Component
	var atts []Attachment
	depth, cur := 0, -1
	for _, l := range lines(data) {
		name, params, value, ok := splitLine(l.text)
		if !ok {
			continue
		}
		switch name {
		case "BEGIN":
			depth++
			if depth == 2 {
				switch v := strings.ToUpper(strings.TrimSpace(value)); v {
				case "VEVENT", "VTODO", "VJOURNAL":
					comps = append(comps, Component{Name: v})
					cur = len(comps) - 1
				default:
					cur = -1
				}
			}
			continue
		case "END":
			if depth == 2 && cur >= 0 {
				comps[cur].end = l.start
				cur = -1
			}
			depth--
			continue
		}
		if depth != 2 || cur < 0 {
			continue
		}
		switch name {
		case "RECURRENCE-ID":
			comps[cur].RecurrenceID = strings.TrimSpace(value)
			if p := parseParams(params)["TZID"]; len(p) > 0 {
				comps[cur].RecurrenceTZID = p[0]
			}
		case "ATTACH":
			if len(atts) < MaxAttachments {
				atts = append(atts, Attachment{Comp: cur, Params: parseParams(params), Value: value, start: l.start, end: l.end})
			}
		}
	}
	// A component without END (truncated data) takes no new properties.
	for i := range comps {
		if comps[i].end == 0 {
			comps[i].end = -1
		}
	}
	return comps, atts
}

// Attachments returns the components of a calendar object and the ATTACH
// properties of those components, in order. It never fails: data that is
// not iCalendar has none.
func Attachments(data []byte) ([]Component, []Attachment) {
	return scan(data)
}

// HasInlineAttachment reports cheaply whether data may hold a binary
// ATTACH (a caller then looks with Attachments).
func HasInlineAttachment(data []byte) bool {
	return bytes.Contains(bytes.ToUpper(data), []byte("BASE64")) || bytes.Contains(bytes.ToUpper(data), []byte("BINARY"))
}

// AttachmentEdit changes the ATTACH properties of a calendar object.
type AttachmentEdit struct {
	// Replace maps an index of Attachments to its new content line (from
	// ManagedAttachLine); "" removes the property.
	Replace map[int]string
	// Add maps an index of Components to content lines added at its end.
	Add map[int][]string
}

// EditAttachments returns data with edit applied; everything else stays
// byte for byte.
func EditAttachments(data []byte, edit AttachmentEdit) []byte {
	comps, atts := scan(data)
	type change struct {
		start, end int
		text       string
	}
	var changes []change
	for i, a := range atts {
		if t, ok := edit.Replace[i]; ok {
			changes = append(changes, change{a.start, a.end, t})
		}
	}
	for ci, ls := range edit.Add {
		if ci < 0 || ci >= len(comps) || comps[ci].end < 0 {
			continue
		}
		changes = append(changes, change{comps[ci].end, comps[ci].end, strings.Join(ls, "")})
	}
	// In data order; an insertion at a component's end comes after the
	// replacements that end there.
	for i := 1; i < len(changes); i++ {
		for j := i; j > 0 && (changes[j].start < changes[j-1].start ||
			changes[j].start == changes[j-1].start && changes[j].end < changes[j-1].end); j-- {
			changes[j], changes[j-1] = changes[j-1], changes[j]
		}
	}
	var b bytes.Buffer
	off := 0
	for _, c := range changes {
		if c.start < off {
			continue
		}
		b.Write(data[off:c.start])
		b.WriteString(c.text)
		off = c.end
	}
	b.Write(data[off:])
	return b.Bytes()
}

// ManagedAttach describes a managed attachment's ATTACH property.
type ManagedAttach struct {
	ManagedID   string
	URL         string
	ContentType string // FMTTYPE
	Filename    string
	Size        int64
}

// Line is the attachment's content line (RFC 8607 4):
// ATTACH;MANAGED-ID=...;FMTTYPE=...;SIZE=...;FILENAME=...;VALUE=URI:<url>,
// folded at 75 octets (RFC 5545 3.1), with its CRLF.
func (m ManagedAttach) Line() string {
	var b strings.Builder
	b.WriteString("ATTACH;MANAGED-ID=" + paramValue(m.ManagedID))
	if m.ContentType != "" {
		b.WriteString(";FMTTYPE=" + paramValue(m.ContentType))
	}
	b.WriteString(";SIZE=" + strconv.FormatInt(m.Size, 10))
	if m.Filename != "" {
		b.WriteString(";FILENAME=" + paramValue(m.Filename))
	}
	b.WriteString(";VALUE=URI:" + m.URL)
	return fold(b.String())
}

// paramValue writes a parameter value: RFC 6868 caret encoding, quoted
// when it holds ; : , or non-ASCII (RFC 5545 3.2).
func paramValue(v string) string {
	v = strings.NewReplacer("^", "^^", "\r\n", "^n", "\n", "^n", "\r", "^n", `"`, "^'").Replace(v)
	v = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return -1
		}
		return r
	}, v)
	if strings.ContainsAny(v, ";:,") || !isASCII(v) {
		return `"` + v + `"`
	}
	return v
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// fold breaks a content line into lines of at most 75 octets, never inside
// a UTF-8 sequence, continuation lines starting with a space; it adds the
// final CRLF.
func fold(s string) string {
	var b strings.Builder
	limit := 75
	for len(s) > limit {
		cut := limit
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		b.WriteString(s[:cut] + "\r\n ")
		s = s[cut:]
		limit = 74 // the leading space counts
	}
	b.WriteString(s + "\r\n")
	return b.String()
}

// MatchRID reports whether component c is one of rids (RFC 8607 3.4: a
// comma-separated list of RECURRENCE-ID values in UTC, "M" for the
// master). An empty list matches every component.
func MatchRID(c Component, rids []string) bool {
	if len(rids) == 0 {
		return true
	}
	for _, r := range rids {
		r = strings.TrimSpace(r)
		if strings.EqualFold(r, "M") {
			if c.RecurrenceID == "" {
				return true
			}
			continue
		}
		if c.RecurrenceID == "" {
			continue
		}
		if strings.EqualFold(r, c.RecurrenceID) || sameInstant(r, c.RecurrenceID, c.RecurrenceTZID) {
			return true
		}
	}
	return false
}

// sameInstant compares a UTC RECURRENCE-ID ("20250102T100000Z" or a date)
// with a component's, which may be in a time zone.
func sameInstant(utc, v, tzid string) bool {
	want, err := time.Parse("20060102T150405Z", utc)
	if err != nil {
		return false
	}
	loc := time.UTC
	if tzid != "" {
		if name, ok := IANAZone(tzid); ok {
			if l, err := time.LoadLocation(name); err == nil {
				loc = l
			}
		}
	}
	var got time.Time
	if strings.HasSuffix(v, "Z") {
		got, err = time.Parse("20060102T150405Z", v)
	} else {
		got, err = time.ParseInLocation("20060102T150405", v, loc)
	}
	return err == nil && got.Equal(want)
}
