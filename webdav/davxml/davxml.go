// Package davxml reads WebDAV, CalDAV and CardDAV request bodies with
// their limits applied before any structure is built, and writes
// multistatus responses.
//
// A request body is read up to a size limit, then tokenised once with a
// count of nesting depth and elements; only a body within the limits is
// unmarshalled. This closes the class of Stalwart's CVE-2025-59045
// (CalDAV REPORT memory exhaustion through deep or huge XML).
package davxml

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Namespaces.
const (
	NSDAV     = "DAV:"
	NSCalDAV  = "urn:ietf:params:xml:ns:caldav"
	NSCardDAV = "urn:ietf:params:xml:ns:carddav"
	NSCS      = "http://calendarserver.org/ns/"
	NSApple   = "http://apple.com/ns/ical/"
	NSFloe    = "urn:x-floe:dav"
)

// Limits of a request body.
type Limits struct {
	MaxBytes    int64 // whole body
	MaxDepth    int   // element nesting
	MaxElements int   // elements in all
}

// DefaultLimits are generous for every real client: a calendar-multiget of
// a few thousand hrefs fits.
var DefaultLimits = Limits{MaxBytes: 1 << 20, MaxDepth: 32, MaxElements: 50000}

// Errors of Read.
var (
	ErrTooLarge = errors.New("davxml: request body too large")
	ErrTooDeep  = errors.New("davxml: request body nested too deeply or too many elements")
	ErrSyntax   = errors.New("davxml: malformed XML")
)

// Read reads a body within the limits and checks its XML: well-formed,
// nesting and element count within the limits. An empty body returns
// nil, nil.
func Read(r io.Reader, l Limits) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, l.MaxBytes+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > l.MaxBytes {
		return nil, ErrTooLarge
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	if err := Check(data, l); err != nil {
		return nil, err
	}
	return data, nil
}

// Check tokenises data once, counting depth and elements, without
// building anything (no DTDs or entities: encoding/xml expands none).
func Check(data []byte, l Limits) error {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	depth, n, roots := 0, 0, 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			n++
			if depth == 1 {
				roots++
			}
			if depth > l.MaxDepth || n > l.MaxElements {
				return ErrTooDeep
			}
		case xml.EndElement:
			depth--
			if depth < 0 {
				return fmt.Errorf("%w: unbalanced end element %s", ErrSyntax, t.Name.Local)
			}
		case xml.Directive:
			return fmt.Errorf("%w: DTDs are not accepted", ErrSyntax)
		}
	}
	if depth != 0 || roots != 1 {
		return fmt.Errorf("%w: not one root element", ErrSyntax)
	}
	return nil
}

// Unmarshal decodes a checked body into v.
func Unmarshal(data []byte, v any) error {
	if err := xml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %v", ErrSyntax, err)
	}
	return nil
}

// Any is any element, kept with its inner XML.
type Any struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Inner    string     `xml:",innerxml"`
	Children []Any      `xml:",any"`
}

// Text returns the element's character data (inner XML unescaped, tags
// dropped), trimmed.
func (a Any) Text() string {
	var b strings.Builder
	d := xml.NewDecoder(strings.NewReader("<x>" + a.Inner + "</x>"))
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if c, ok := tok.(xml.CharData); ok {
			b.Write(c)
		}
	}
	return strings.TrimSpace(b.String())
}

// Propfind is a PROPFIND body (RFC 4918 14.20).
type Propfind struct {
	XMLName  xml.Name  `xml:"DAV: propfind"`
	AllProp  *struct{} `xml:"DAV: allprop"`
	PropName *struct{} `xml:"DAV: propname"`
	Prop     *PropList `xml:"DAV: prop"`
}

// PropList is a DAV:prop element: the requested properties (with any
// inner content, e.g. CALDAV:calendar-data's expand).
type PropList struct {
	Props []Any `xml:",any"`
}

// Propertyupdate is a PROPPATCH body (RFC 4918 14.19).
type Propertyupdate struct {
	XMLName xml.Name `xml:"DAV: propertyupdate"`
	Ops     []Any    `xml:",any"` // DAV:set and DAV:remove, in order
}

// Mkcol is an extended MKCOL (RFC 5689) or MKCALENDAR (RFC 4791 5.3.1)
// body: properties to set on the new collection.
type Mkcol struct {
	XMLName xml.Name
	Sets    []Any `xml:",any"` // DAV:set elements holding DAV:prop
}

// Props returns the properties a Mkcol or a PROPPATCH op sets.
func SetProps(ops []Any) (set, remove []Any) {
	for _, op := range ops {
		for _, p := range op.Children {
			if p.XMLName.Space != NSDAV || p.XMLName.Local != "prop" {
				continue
			}
			switch {
			case op.XMLName.Space == NSDAV && op.XMLName.Local == "set":
				set = append(set, p.Children...)
			case op.XMLName.Space == NSDAV && op.XMLName.Local == "remove":
				remove = append(remove, p.Children...)
			}
		}
	}
	return set, remove
}

// TimeRange is a CALDAV:time-range (UTC date-times "20060102T150405Z").
type TimeRange struct {
	Start string `xml:"start,attr"`
	End   string `xml:"end,attr"`
}

// TextMatch is a CALDAV: or CARDDAV:text-match.
type TextMatch struct {
	Value     string `xml:",chardata"`
	Collation string `xml:"collation,attr"`
	Negate    string `xml:"negate-condition,attr"`
	MatchType string `xml:"match-type,attr"` // CardDAV
}

// ParamFilter is a param-filter of either protocol.
type ParamFilter struct {
	Name         string     `xml:"name,attr"`
	IsNotDefined *struct{}  `xml:"is-not-defined"`
	TextMatch    *TextMatch `xml:"text-match"`
}

// PropFilter is a prop-filter of either protocol (CardDAV allows several
// text-matches and a test attribute).
type PropFilter struct {
	Name         string        `xml:"name,attr"`
	Test         string        `xml:"test,attr"`
	IsNotDefined *struct{}     `xml:"is-not-defined"`
	TimeRange    *TimeRange    `xml:"time-range"`
	TextMatches  []TextMatch   `xml:"text-match"`
	ParamFilters []ParamFilter `xml:"param-filter"`
}

// CompFilter is a CALDAV:comp-filter.
type CompFilter struct {
	Name         string       `xml:"name,attr"`
	IsNotDefined *struct{}    `xml:"is-not-defined"`
	TimeRange    *TimeRange   `xml:"time-range"`
	PropFilters  []PropFilter `xml:"prop-filter"`
	CompFilters  []CompFilter `xml:"comp-filter"`
}

// Report is any REPORT body; which fields are set depends on the root.
type Report struct {
	XMLName xml.Name
	// calendar-query, addressbook-query, multigets, sync-collection
	AllProp  *struct{} `xml:"DAV: allprop"`
	PropName *struct{} `xml:"DAV: propname"`
	Prop     *PropList `xml:"DAV: prop"`
	// CALDAV:filter / CARDDAV:filter
	Filter *struct {
		CompFilter  *CompFilter  `xml:"urn:ietf:params:xml:ns:caldav comp-filter"`
		Test        string       `xml:"test,attr"`
		PropFilters []PropFilter `xml:"urn:ietf:params:xml:ns:carddav prop-filter"`
	} `xml:"filter"`
	Timezone string `xml:"urn:ietf:params:xml:ns:caldav timezone"`
	// multigets
	Hrefs []string `xml:"DAV: href"`
	// sync-collection (RFC 6578)
	SyncToken string `xml:"DAV: sync-token"`
	SyncLevel string `xml:"DAV: sync-level"`
	// addressbook-query CARDDAV:limit, sync-collection DAV:limit
	Limit *struct {
		NResults int `xml:"nresults"`
	} `xml:"limit"`
	// free-busy-query
	TimeRange *TimeRange `xml:"urn:ietf:params:xml:ns:caldav time-range"`
}

// Escape escapes text for XML character data and attributes (as
// encoding/xml.EscapeText: quotes, tab, line feed and carriage return as
// references too; characters XML cannot carry become U+FFFD).
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// needsEscape reports whether Escape would change s.
func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c == '&', c == '<', c == '>', c == '"', c == '\'', c >= 0x80:
			return true
		}
	}
	return false
}

// AppendCharData appends data to b escaped as XML character data: "&",
// "<" and ">" as entities, carriage returns as "&#13;" (a parser would
// otherwise turn CRLF into LF, RFC 4791 9.6 keeps the object's bytes),
// line feeds and tabs as they are, and bytes XML cannot carry (other
// control characters, invalid UTF-8) as U+FFFD. It is the fast path for
// calendar-data and address-data.
func AppendCharData(b []byte, data []byte) []byte {
	start := 0
	for i := 0; i < len(data); {
		c := data[i]
		var rep string
		size := 1
		switch {
		case c == '&':
			rep = "&amp;"
		case c == '<':
			rep = "&lt;"
		case c == '>':
			rep = "&gt;"
		case c == '\r':
			rep = "&#13;"
		case c == '\n' || c == '\t':
		case c < 0x20 || c == 0x7f:
			rep = "\uFFFD"
		case c >= 0x80:
			r, n := utf8.DecodeRune(data[i:])
			size = n
			if r == utf8.RuneError && n == 1 || !isXMLChar(r) {
				rep = "\uFFFD"
			}
		}
		if rep != "" {
			b = append(b, data[start:i]...)
			b = append(b, rep...)
			start = i + size
		}
		i += size
	}
	return append(b, data[start:]...)
}

// isXMLChar reports whether r is a Char of XML 1.0 (2.2) above ASCII.
func isXMLChar(r rune) bool {
	return r >= 0x80 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// Prefixes used in responses.
const Namespaces = `xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CR="urn:ietf:params:xml:ns:carddav" ` +
	`xmlns:CS="http://calendarserver.org/ns/" xmlns:A="http://apple.com/ns/ical/" xmlns:F="urn:x-floe:dav"`

// Prefix returns the response prefix of a namespace ("" when unknown).
func Prefix(ns string) string {
	switch ns {
	case NSDAV:
		return "D"
	case NSCalDAV:
		return "C"
	case NSCardDAV:
		return "CR"
	case NSCS:
		return "CS"
	case NSApple:
		return "A"
	case NSFloe:
		return "F"
	}
	return ""
}

// EmptyElement renders <name/> for any name, declaring an unknown
// namespace inline.
func EmptyElement(n xml.Name) string {
	if p := Prefix(n.Space); p != "" {
		return "<" + p + ":" + n.Local + "/>"
	}
	if n.Space == "" {
		return "<" + n.Local + " xmlns=\"\"/>"
	}
	return "<X:" + n.Local + " xmlns:X=\"" + Escape(n.Space) + "\"/>"
}

// Element renders <name>inner</name> (inner is XML).
func Element(n xml.Name, inner string) string {
	if p := Prefix(n.Space); p != "" {
		return "<" + p + ":" + n.Local + ">" + inner + "</" + p + ":" + n.Local + ">"
	}
	if n.Space == "" {
		return "<" + n.Local + " xmlns=\"\">" + inner + "</" + n.Local + ">"
	}
	return "<X:" + n.Local + " xmlns:X=\"" + Escape(n.Space) + "\">" + inner + "</X:" + n.Local + ">"
}

// Multistatus accumulates a 207 response body.
type Multistatus struct {
	b       bytes.Buffer
	scratch []byte
}

// NewMultistatus starts a multistatus body.
func NewMultistatus() *Multistatus {
	m := &Multistatus{}
	m.b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n<D:multistatus " + Namespaces + ">")
	return m
}

// Propstat is one status group of a response.
type Propstat struct {
	Status string   // "HTTP/1.1 200 OK"
	Props  []string // rendered property elements
}

// Response adds a response for href with the propstats (empty ones are
// skipped).
func (m *Multistatus) Response(href string, stats ...Propstat) {
	m.b.WriteString("<D:response><D:href>" + Escape(href) + "</D:href>")
	for _, s := range stats {
		if len(s.Props) == 0 {
			continue
		}
		m.b.WriteString("<D:propstat><D:prop>")
		for _, p := range s.Props {
			m.b.WriteString(p)
		}
		m.b.WriteString("</D:prop><D:status>" + s.Status + "</D:status></D:propstat>")
	}
	m.b.WriteString("</D:response>")
}

// ResponseData adds a response for href whose 200 propstat holds the
// rendered ok properties and the element name with data as character data
// (AppendCharData: calendar-data, address-data), written straight into the
// body; missing properties get a 404 propstat.
func (m *Multistatus) ResponseData(href string, ok []string, name xml.Name, data []byte, missing []string) {
	m.b.WriteString("<D:response><D:href>")
	m.b.WriteString(Escape(href))
	m.b.WriteString("</D:href><D:propstat><D:prop>")
	for _, p := range ok {
		m.b.WriteString(p)
	}
	open, close := elementTags(name)
	m.b.WriteString(open)
	m.scratch = AppendCharData(m.scratch[:0], data)
	m.b.Write(m.scratch)
	m.b.WriteString(close)
	m.b.WriteString("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>")
	if len(missing) > 0 {
		m.b.WriteString("<D:propstat><D:prop>")
		for _, p := range missing {
			m.b.WriteString(p)
		}
		m.b.WriteString("</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>")
	}
	m.b.WriteString("</D:response>")
}

// elementTags returns the open and close tags Element writes.
func elementTags(n xml.Name) (open, close string) {
	if p := Prefix(n.Space); p != "" {
		return "<" + p + ":" + n.Local + ">", "</" + p + ":" + n.Local + ">"
	}
	if n.Space == "" {
		return "<" + n.Local + " xmlns=\"\">", "</" + n.Local + ">"
	}
	return "<X:" + n.Local + " xmlns:X=\"" + Escape(n.Space) + "\">", "</X:" + n.Local + ">"
}

// Status adds a response with only a status (a missing or removed member).
func (m *Multistatus) Status(href, status string) {
	m.b.WriteString("<D:response><D:href>" + Escape(href) + "</D:href><D:status>" + status + "</D:status></D:response>")
}

// Raw appends rendered XML inside the multistatus (DAV:sync-token).
func (m *Multistatus) Raw(s string) { m.b.WriteString(s) }

// Bytes ends and returns the body.
func (m *Multistatus) Bytes() []byte {
	m.b.WriteString("</D:multistatus>\n")
	return m.b.Bytes()
}

// ErrorBody renders a DAV:error body naming a precondition (RFC 4918
// 16) with a reason a person can read.
func ErrorBody(ns, precondition, reason string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n<D:error " + Namespaces + ">")
	b.WriteString(EmptyElement(xml.Name{Space: ns, Local: precondition}))
	if reason != "" {
		b.WriteString("<F:reason>" + Escape(reason) + "</F:reason>")
	}
	b.WriteString("</D:error>\n")
	return b.Bytes()
}

// ErrCollation is returned for a text-match collation Floe does not
// support (CALDAV:/CARDDAV:supported-collation precondition).
var ErrCollation = errors.New("davxml: unsupported collation")

// Match applies the text-match to value (RFC 4791 9.7.5, RFC 6352 10.5.4)
// with its collation (i;ascii-casemap when empty and caseDefault is that,
// as CalDAV says; CardDAV's default is i;unicode-casemap) and match type
// (contains when empty), then its negate-condition.
func (t *TextMatch) Match(value, defaultCollation string) (bool, error) {
	coll := t.Collation
	if coll == "" {
		coll = defaultCollation
	}
	want, have := t.Value, value
	switch coll {
	case "i;octet":
	case "i;ascii-casemap":
		want, have = asciiLower(want), asciiLower(have)
	case "i;unicode-casemap":
		want, have = strings.ToLower(strings.ToUpper(want)), strings.ToLower(strings.ToUpper(have))
	default:
		return false, ErrCollation
	}
	var ok bool
	switch t.MatchType {
	case "", "contains":
		ok = strings.Contains(have, want)
	case "equals":
		ok = have == want
	case "starts-with":
		ok = strings.HasPrefix(have, want)
	case "ends-with":
		ok = strings.HasSuffix(have, want)
	default:
		return false, fmt.Errorf("%w: match-type %q", ErrSyntax, t.MatchType)
	}
	if t.Negate == "yes" {
		ok = !ok
	}
	return ok, nil
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}
