package caldav

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-ical"

	"github.com/floemail/floe/webdav/davxml"
)

// Selection is a CALDAV:comp element of calendar-data (RFC 4791 9.6.1):
// which properties and subcomponents of a component to return. A comp
// with neither prop nor allprop children and neither comp nor allcomp
// children selects the whole component (RFC 4791 7.8.1 asks for a whole
// VTIMEZONE that way); otherwise the properties not named (without
// allprop) and the subcomponents not named (without allcomp) are left
// out.
type Selection struct {
	Name     string // upper case
	AllProps bool
	Props    []PropSelection
	AllComps bool
	Comps    []*Selection
}

// PropSelection is a CALDAV:prop element (RFC 4791 9.6.4): a property
// returned, without its value when NoValue.
type PropSelection struct {
	Name    string // upper case
	NoValue bool
}

// whole reports whether s selects its component entirely.
func (s *Selection) whole() bool {
	return !s.AllProps && len(s.Props) == 0 && !s.AllComps && len(s.Comps) == 0
}

// maxSelectionDepth bounds comp nesting (VCALENDAR > VEVENT > VALARM
// needs 3).
const maxSelectionDepth = 8

// ParseSelection reads the comp child of a calendar-data element (nil, nil
// when it has none: the whole object). The top comp must be VCALENDAR.
func ParseSelection(children []davxml.Any) (*Selection, error) {
	var top *Selection
	for _, c := range children {
		if c.XMLName.Space != davxml.NSCalDAV || c.XMLName.Local != "comp" {
			continue
		}
		if top != nil {
			return nil, fmt.Errorf("%w: calendar-data has more than one comp", ErrFilter)
		}
		s, err := parseComp(c, 0)
		if err != nil {
			return nil, err
		}
		if s.Name != ical.CompCalendar {
			return nil, fmt.Errorf("%w: the comp of calendar-data must be VCALENDAR, not %s", ErrFilter, s.Name)
		}
		top = s
	}
	return top, nil
}

func nameAttr(a davxml.Any) (string, string) {
	name, novalue := "", ""
	for _, at := range a.Attrs {
		switch at.Name.Local {
		case "name":
			name = at.Value
		case "novalue":
			novalue = at.Value
		}
	}
	return strings.ToUpper(strings.TrimSpace(name)), novalue
}

func parseComp(a davxml.Any, depth int) (*Selection, error) {
	if depth >= maxSelectionDepth {
		return nil, fmt.Errorf("%w: comp nested too deeply", ErrFilter)
	}
	name, _ := nameAttr(a)
	if name == "" {
		return nil, fmt.Errorf("%w: comp without a name", ErrFilter)
	}
	s := &Selection{Name: name}
	for _, c := range a.Children {
		if c.XMLName.Space != davxml.NSCalDAV {
			continue
		}
		switch c.XMLName.Local {
		case "allprop":
			s.AllProps = true
		case "allcomp":
			s.AllComps = true
		case "prop":
			n, nv := nameAttr(c)
			if n == "" {
				return nil, fmt.Errorf("%w: prop without a name", ErrFilter)
			}
			if nv != "" && nv != "yes" && nv != "no" {
				return nil, fmt.Errorf("%w: novalue must be yes or no", ErrFilter)
			}
			s.Props = append(s.Props, PropSelection{Name: n, NoValue: nv == "yes"})
		case "comp":
			sub, err := parseComp(c, depth+1)
			if err != nil {
				return nil, err
			}
			s.Comps = append(s.Comps, sub)
		}
	}
	if s.AllProps && len(s.Props) > 0 || s.AllComps && len(s.Comps) > 0 {
		return nil, fmt.Errorf("%w: comp %s has both all and named children", ErrFilter, name)
	}
	return s, nil
}

// Select returns the calendar object with only what s selects (RFC 4791
// 9.6.1), encoded; s nil returns nil (the caller keeps the object).
func Select(cal *ical.Calendar, s *Selection) ([]byte, error) {
	if s == nil {
		return nil, nil
	}
	var b bytes.Buffer
	writeComponent(&b, selectComponent(cal.Component, s), 0)
	return b.Bytes(), nil
}

// writeComponent encodes a component (RFC 5545 3.1: content lines folded
// at 75 octets) without go-ical's checks of required properties: a
// selection may leave out PRODID or DTSTAMP on purpose. Properties come in
// name order, so equal selections encode equally.
func writeComponent(b *bytes.Buffer, c *ical.Component, depth int) {
	if depth > maxSelectionDepth {
		return
	}
	writeLine(b, "BEGIN:"+c.Name)
	names := make([]string, 0, len(c.Props))
	for n := range c.Props {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, p := range c.Props[n] {
			var l strings.Builder
			l.WriteString(n)
			pnames := make([]string, 0, len(p.Params))
			for pn := range p.Params {
				pnames = append(pnames, pn)
			}
			sort.Strings(pnames)
			for _, pn := range pnames {
				l.WriteString(";" + pn + "=")
				for i, v := range p.Params[pn] {
					if i > 0 {
						l.WriteByte(',')
					}
					if strings.ContainsAny(v, ";:,") {
						l.WriteString(`"` + strings.ReplaceAll(v, `"`, "'") + `"`)
					} else {
						l.WriteString(v)
					}
				}
			}
			l.WriteString(":" + p.Value)
			writeLine(b, l.String())
		}
	}
	for _, child := range c.Children {
		writeComponent(b, child, depth+1)
	}
	writeLine(b, "END:"+c.Name)
}

// writeLine writes one content line folded at 75 octets, never inside a
// UTF-8 sequence; line breaks in the text (which a decoded value does not
// hold) are dropped.
func writeLine(b *bytes.Buffer, l string) {
	l = strings.NewReplacer("\r", "", "\n", "").Replace(l)
	first := true
	for len(l) > 0 {
		n := 75
		if !first {
			n = 74 // the leading space counts
			b.WriteByte(' ')
		}
		if n >= len(l) {
			n = len(l)
		} else {
			for n > 1 && !utf8.RuneStart(l[n]) {
				n--
			}
		}
		b.WriteString(l[:n])
		b.WriteString("\r\n")
		l = l[n:]
		first = false
	}
}

func selectComponent(c *ical.Component, s *Selection) *ical.Component {
	if s.whole() {
		return c
	}
	out := &ical.Component{Name: c.Name, Props: ical.Props{}}
	if s.AllProps {
		for name, ps := range c.Props {
			out.Props[name] = ps
		}
	} else {
		for _, ps := range s.Props {
			vals := c.Props[ps.Name]
			if len(vals) == 0 {
				continue
			}
			if ps.NoValue {
				cp := make([]ical.Prop, len(vals))
				for i, p := range vals {
					cp[i] = ical.Prop{Name: p.Name, Params: p.Params}
				}
				vals = cp
			}
			out.Props[ps.Name] = vals
		}
	}
	for _, child := range c.Children {
		if s.AllComps {
			out.Children = append(out.Children, child)
			continue
		}
		for _, sub := range s.Comps {
			if strings.EqualFold(sub.Name, child.Name) {
				out.Children = append(out.Children, selectComponent(child, sub))
				break
			}
		}
	}
	return out
}
