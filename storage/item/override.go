package item

import (
	"errors"
	"strings"
	"time"
)

// Overrides of recurring items made on request: RFC 8607 3.4, 3.6 and 3.7
// name the instances an attachment is added to or removed from ("rid"),
// and an instance that has no component of its own gets one, derived from
// the master, before the attachment is changed in it.

// ErrNoInstance is returned by AddOverrides for a recurrence ID that names
// no instance of the item (RFC 8607 3.8 CALDAV:valid-rid-parameter).
var ErrNoInstance = errors.New("item: no such recurrence instance")

// MaxNewOverrides bounds the overrides one AddOverrides call creates.
const MaxNewOverrides = 100

// AddOverrides returns data with an overridden component (RFC 5545
// 3.8.4.4 RECURRENCE-ID) for each of rids that names an instance of the
// master component's recurrence without a component of its own. rids are
// RFC 8607 3.4 values: "M" (the master: skipped), a UTC date-time
// ("20250102T100000Z") or a date ("20250102"). The new component is the
// master's text (its properties and sub-components, byte for byte)
// without RRULE, RDATE, EXDATE and EXRULE, with DTSTART, DTEND and DUE
// moved to the instance and a RECURRENCE-ID in DTSTART's form (its TZID;
// the UTC form when the time zone has no IANA name), inserted after the
// master. ErrNoInstance when a rid names no instance (the item does not
// recur, the rule or an EXDATE excludes it, or the value is malformed),
// or more than MaxNewOverrides would be made. Data with every rid present
// is returned unchanged.
func AddOverrides(data []byte, rids []string) ([]byte, error) {
	comps, _ := scan(data)
	var missing []string
	for _, r := range rids {
		r = strings.TrimSpace(r)
		if strings.EqualFold(r, "M") {
			continue
		}
		found := false
		for _, c := range comps {
			if c.RecurrenceID != "" && MatchRID(c, []string{r}) {
				found = true
				break
			}
		}
		if !found && !containsFold(missing, r) {
			missing = append(missing, r)
		}
	}
	if len(missing) == 0 {
		return data, nil
	}
	if len(missing) > MaxNewOverrides {
		return nil, ErrNoInstance
	}
	cal, err := DecodeCalendar(data)
	if err != nil {
		return nil, err
	}
	rec, err := RecurrenceOf(cal)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, ErrNoInstance
	}
	m, ok := masterText(data)
	if !ok {
		return nil, ErrNoInstance
	}
	var loc *time.Location
	if rec.Zone != "" {
		if loc, err = time.LoadLocation(rec.Zone); err != nil {
			loc = nil
		}
	}
	var add strings.Builder
	for _, r := range missing {
		t, ok := parseRID(r)
		if !ok {
			return nil, ErrNoInstance
		}
		exp, err := rec.Expand(t, t.Add(time.Second), 0)
		if err != nil {
			return nil, ErrNoInstance
		}
		found := false
		for _, in := range exp.Instances {
			found = found || in.RecurrenceID.Equal(t) && !in.Overridden
		}
		if !found {
			return nil, ErrNoInstance
		}
		add.WriteString(m.override(t, rec.AllDay, loc))
	}
	out := make([]byte, 0, len(data)+add.Len())
	out = append(out, data[:m.after]...)
	out = append(out, add.String()...)
	return append(out, data[m.after:]...), nil
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// parseRID parses a UTC date-time or a date (midnight UTC, as
// Recurrence keeps the instances of all-day items).
func parseRID(s string) (time.Time, bool) {
	if t, err := time.Parse("20060102T150405Z", s); err == nil {
		return t, true
	}
	if t, err := time.Parse("20060102", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// master is the master component's text, split into content lines.
type master struct {
	lines []line   // BEGIN to END, both included
	data  []byte   // the whole object
	after int      // offset just after the master's END line
	start propForm // DTSTART's form
	wall  time.Time
}

// propForm is how a date-time property is written.
type propForm struct {
	params string // raw parameters (";TZID=...")
	date   bool   // VALUE=DATE
	utc    bool   // value ends in Z
}

// masterText finds the master component (the first VEVENT, VTODO or
// VJOURNAL without RECURRENCE-ID).
func masterText(data []byte) (master, bool) {
	ls := lines(data)
	depth, begin := 0, -1
	hasRID := false
	for i, l := range ls {
		name, _, value, ok := splitLine(l.text)
		if !ok {
			continue
		}
		switch {
		case name == "BEGIN":
			depth++
			if depth == 2 {
				switch strings.ToUpper(strings.TrimSpace(value)) {
				case "VEVENT", "VTODO", "VJOURNAL":
					begin, hasRID = i, false
				default:
					begin = -1
				}
			}
		case name == "END":
			if depth == 2 && begin >= 0 && !hasRID {
				m := master{lines: ls[begin : i+1], data: data, after: l.end}
				for _, ml := range m.lines {
					if n, p, v, ok := splitLine(ml.text); ok && n == "DTSTART" {
						m.start = formOf(p, v)
						m.wall, _, _ = parseWall(strings.TrimSuffix(strings.TrimSpace(v), "Z"))
					}
				}
				if !m.wall.IsZero() {
					return m, true
				}
			}
			if depth == 2 {
				begin = -1
			}
			depth--
		case depth == 2 && name == "RECURRENCE-ID":
			hasRID = true
		}
	}
	return master{}, false
}

func formOf(params, value string) propForm {
	f := propForm{}
	if params != "" {
		f.params = ";" + params
	}
	p := parseParams(params)
	f.date = len(p["VALUE"]) > 0 && strings.EqualFold(p["VALUE"][0], "DATE")
	f.utc = strings.HasSuffix(strings.TrimSpace(value), "Z")
	return f
}

// format writes wall (a wall-clock time) in the form.
func (f propForm) format(wall time.Time) string {
	switch {
	case f.date:
		return wall.Format("20060102")
	case f.utc:
		return wall.Format("20060102T150405Z")
	}
	return wall.Format("20060102T150405")
}

// override returns the text of the override of the instance whose
// recurrence ID is t (UTC); loc is the master's IANA zone, nil for UTC,
// floating, or a zone without an IANA name (then the instance is written
// in UTC).
func (m master) override(t time.Time, allDay bool, loc *time.Location) string {
	form := m.start
	var wall time.Time
	switch {
	case allDay || form.date:
		wall = t.UTC()
	case loc != nil:
		wall = t.In(loc)
	case m.start.utc || !hasParam(m.start.params, "TZID"):
		wall = t.UTC()
	default: // a zone only a VTIMEZONE describes: UTC form
		wall, form = t.UTC(), propForm{utc: true}
	}
	wall = time.Date(wall.Year(), wall.Month(), wall.Day(), wall.Hour(), wall.Minute(), wall.Second(), 0, time.UTC)
	shift := wall.Sub(m.wall) // wall-clock shift of the instance
	var b strings.Builder
	depth := 0
	for _, l := range m.lines {
		raw := string(m.data[l.start:l.end])
		name, params, value, ok := splitLine(l.text)
		if !ok {
			b.WriteString(raw)
			continue
		}
		switch name {
		case "BEGIN":
			depth++
		case "END":
			depth--
		}
		if depth != 1 || name == "BEGIN" || name == "END" {
			b.WriteString(raw)
			continue
		}
		switch name {
		case "RRULE", "RDATE", "EXDATE", "EXRULE":
			continue
		case "DTSTART":
			b.WriteString(fold("DTSTART" + form.params + ":" + form.format(wall)))
			b.WriteString(fold("RECURRENCE-ID" + form.params + ":" + form.format(wall)))
			continue
		case "DTEND", "DUE":
			f := formOf(params, value)
			w, _, err := parseWall(strings.TrimSuffix(strings.TrimSpace(value), "Z"))
			if err != nil {
				b.WriteString(raw)
				continue
			}
			if form.utc && !m.start.utc && !m.start.date {
				// The start was written in UTC: the end too, the
				// same length after it.
				f = propForm{utc: true}
				w = wall.Add(w.Sub(m.wall))
			} else {
				w = w.Add(shift)
			}
			b.WriteString(fold(name + f.params + ":" + f.format(w)))
			continue
		}
		b.WriteString(raw)
	}
	return b.String()
}

func hasParam(params, name string) bool {
	return len(parseParams(params)[name]) > 0
}
