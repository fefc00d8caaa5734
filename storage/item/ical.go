package item

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-ical"

	"github.com/floemail/floe/storage"
)

// checkNesting counts BEGIN/END depth before a decoder sees the data, so
// that hostile nesting is refused without recursion (the decoder recurses
// once per level).
func checkNesting(data []byte, max int) error {
	depth := 0
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) >= 6 && (line[0] == 'B' || line[0] == 'b') && bytes.EqualFold(line[:6], []byte("BEGIN:")) {
			depth++
			if depth > max {
				return fmt.Errorf("components nested deeper than %d", max)
			}
		} else if len(line) >= 4 && (line[0] == 'E' || line[0] == 'e') && bytes.EqualFold(line[:4], []byte("END:")) {
			depth--
		}
	}
	return nil
}

// DecodeCalendar decodes one iCalendar object with the nesting and size
// limits applied first. Errors are *Invalid (valid-calendar-data).
func DecodeCalendar(data []byte) (cal *ical.Calendar, err error) {
	if len(data) > MaxPayload {
		return nil, invalid(PreMaxResourceSize, "the item is larger than %d bytes", MaxPayload)
	}
	if err := checkNesting(data, MaxNesting); err != nil {
		return nil, invalid(PreValidCalendarData, "%v", err)
	}
	defer func() {
		if r := recover(); r != nil {
			cal, err = nil, invalid(PreValidCalendarData, "malformed iCalendar data")
		}
	}()
	dec := ical.NewDecoder(bytes.NewReader(data))
	cal, err = dec.Decode()
	if err != nil {
		return nil, invalid(PreValidCalendarData, "not iCalendar data: %s", cleanErr(err))
	}
	if _, err := dec.Decode(); err != io.EOF {
		return nil, invalid(PreValidCalendarObject, "more than one VCALENDAR object")
	}
	return cal, nil
}

// cleanErr shortens a library error for a client: the first line, without
// the library's prefix, at most 200 bytes.
func cleanErr(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimPrefix(s, "ical: ")
	s = strings.TrimPrefix(s, "vcard: ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// ParseCalendar validates a calendar object resource (RFC 4791 4.1: one
// VCALENDAR, no METHOD, components of one type sharing one UID, a
// VTIMEZONE for every TZID that is not an IANA name) and returns its index.
func ParseCalendar(data []byte) (*storage.ItemIndex, error) {
	cal, err := DecodeCalendar(data)
	if err != nil {
		return nil, err
	}
	return IndexCalendar(cal)
}

// IndexCalendar validates a decoded calendar object resource and returns
// its index (see ParseCalendar).
func IndexCalendar(cal *ical.Calendar) (*storage.ItemIndex, error) {
	if cal.Name != ical.CompCalendar {
		return nil, invalid(PreValidCalendarData, "the object is a %s, not a VCALENDAR", cal.Name)
	}
	if v := cal.Props.Get(ical.PropVersion); v == nil || strings.TrimSpace(v.Value) != "2.0" {
		return nil, invalid(PreValidCalendarData, "VERSION:2.0 is missing")
	}
	if cal.Props.Get(ical.PropMethod) != nil {
		return nil, invalid(PreValidCalendarObject, "a stored calendar object must not have a METHOD property")
	}
	tzs := map[string]*ical.Component{}
	var comps []*ical.Component
	kind := ""
	for _, c := range cal.Children {
		switch c.Name {
		case ical.CompTimezone:
			if id := c.Props.Get(ical.PropTimezoneID); id != nil {
				tzs[id.Value] = c
			}
			continue
		case ical.CompEvent, ical.CompToDo, ical.CompJournal:
		default:
			if strings.HasPrefix(c.Name, "X-") {
				continue
			}
			return nil, invalid(PreSupportedComponent, "component %s is not supported", c.Name)
		}
		if kind != "" && c.Name != kind {
			return nil, invalid(PreValidCalendarObject, "the object mixes %s and %s components", kind, c.Name)
		}
		kind = c.Name
		comps = append(comps, c)
	}
	if len(comps) == 0 {
		return nil, invalid(PreValidCalendarObject, "the object has no VEVENT, VTODO or VJOURNAL")
	}
	uid := ""
	var master *ical.Component
	var overrides []*ical.Component
	for _, c := range comps {
		u := c.Props.Get(ical.PropUID)
		if u == nil || strings.TrimSpace(u.Value) == "" {
			return nil, invalid(PreValidCalendarObject, "%s has no UID", c.Name)
		}
		if uid != "" && u.Value != uid {
			return nil, invalid(PreValidCalendarObject, "the components have different UIDs")
		}
		uid = u.Value
		if c.Props.Get(ical.PropRecurrenceID) == nil {
			if master != nil {
				return nil, invalid(PreValidCalendarObject, "two %s components without RECURRENCE-ID", c.Name)
			}
			master = c
		} else {
			overrides = append(overrides, c)
		}
	}
	if len(uid) > storage.MaxItemUID {
		return nil, invalid(PreValidCalendarObject, "the UID is longer than %d bytes", storage.MaxItemUID)
	}
	zr := &zoneResolver{tzs: tzs}
	idx := &storage.ItemIndex{UID: uid}
	switch kind {
	case ical.CompEvent:
		idx.Kind = storage.ItemEvent
	case ical.CompToDo:
		idx.Kind = storage.ItemTodo
	default:
		idx.Kind = storage.ItemJournal
	}
	idx.DefaultName = DefaultName(uid, idx.Kind)
	main := master
	if main == nil {
		main = overrides[0] // only overridden instances (an invitation to some)
	}
	idx.Summary = cut(propText(main, ical.PropSummary), storage.MaxItemText)
	idx.Status = strings.ToUpper(strings.TrimSpace(propText(main, ical.PropStatus)))
	idx.Transparent = strings.EqualFold(strings.TrimSpace(propText(main, ical.PropTransparency)), "TRANSPARENT")
	span, err := zr.span(main, idx.Kind)
	if err != nil {
		return nil, err
	}
	idx.Start, idx.End, idx.AllDay, idx.Floating = span.start, span.end, span.allDay, span.floating

	recurring := master != nil && (master.Props.Get(ical.PropRecurrenceRule) != nil || master.Props.Get(ical.PropRecurrenceDates) != nil)
	if !recurring && len(overrides) == 0 {
		return idx, nil
	}
	if master == nil || span.wall == "" {
		// Overrides without their master, or a series without a start:
		// indexed by their own spans.
		for _, o := range overrides {
			os, err := zr.span(o, idx.Kind)
			if err != nil {
				return nil, err
			}
			idx.Start, idx.End = minTime(idx.Start, os.start), maxTime(idx.End, os.end)
		}
		return idx, nil
	}
	rec, err := zr.recurrence(master, overrides, span, idx)
	if err != nil {
		return nil, err
	}
	idx.Recurring = true
	idx.Recurrence = rec.encode()
	// The series' extent: first instance to last (or endless).
	if rec.RRule != "" && !strings.Contains(strings.ToUpper(rec.RRule), "COUNT=") && !strings.Contains(strings.ToUpper(rec.RRule), "UNTIL=") {
		idx.End = storage.ItemEndless
	} else {
		exp, err := rec.Expand(time.Time{}, time.Time{}, MaxInstances)
		if err != nil {
			return nil, err
		}
		if exp.Truncated {
			idx.End = storage.ItemEndless
		} else if n := len(exp.Instances); n > 0 {
			idx.End = exp.Instances[0].End
			for _, in := range exp.Instances {
				idx.End = maxTime(idx.End, in.End)
			}
		}
	}
	for _, o := range rec.Overrides {
		idx.Start = minTime(idx.Start, time.Unix(o.Start, 0).UTC())
		if !idx.End.Equal(storage.ItemEndless) {
			idx.End = maxTime(idx.End, time.Unix(o.End, 0).UTC())
		}
	}
	return idx, nil
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

func propText(c *ical.Component, name string) string {
	p := c.Props.Get(name)
	if p == nil {
		return ""
	}
	if t, err := p.Text(); err == nil {
		return t
	}
	return p.Value
}

// span is a component's time extent.
type span struct {
	start, end time.Time // UTC; zero when the component has none
	allDay     bool
	floating   bool   // the start (or due time) carries no zone
	wall       string // DTSTART as wall clock ("" when none)
	tzid       string
	dur        time.Duration
}

// zoneResolver maps TZIDs to zones: IANA names, the VTIMEZONE's
// X-LIC-LOCATION, a known suffix ("/mozilla.org/.../Europe/Berlin"),
// Windows names, and otherwise the VTIMEZONE's own rules.
type zoneResolver struct {
	tzs   map[string]*ical.Component
	cache map[string]zoneInfo
}

type zoneInfo struct {
	z    zone
	iana string
	vtz  string
}

func (zr *zoneResolver) resolve(tzid string) (zoneInfo, error) {
	if tzid == "" {
		return zoneInfo{z: utcZone{}}, nil
	}
	if zi, ok := zr.cache[tzid]; ok {
		return zi, nil
	}
	zi, err := zr.lookup(tzid)
	if err != nil {
		return zi, err
	}
	if zr.cache == nil {
		zr.cache = map[string]zoneInfo{}
	}
	zr.cache[tzid] = zi
	return zi, nil
}

func (zr *zoneResolver) lookup(tzid string) (zoneInfo, error) {
	if name, ok := IANAZone(tzid); ok {
		loc, _ := time.LoadLocation(name)
		return zoneInfo{z: locZone{loc}, iana: name}, nil
	}
	vtz := zr.tzs[tzid]
	if vtz != nil {
		if p := vtz.Props.Get("X-LIC-LOCATION"); p != nil {
			if name, ok := IANAZone(p.Value); ok {
				loc, _ := time.LoadLocation(name)
				return zoneInfo{z: locZone{loc}, iana: name}, nil
			}
		}
		z, err := newVTZ(vtz)
		if err != nil {
			return zoneInfo{}, invalid(PreValidCalendarData, "time zone %q: %v", tzid, err)
		}
		return zoneInfo{z: z, vtz: encodeVTZ(vtz)}, nil
	}
	return zoneInfo{}, invalid(PreValidCalendarData, "time zone %q has no VTIMEZONE and is not a known zone name", tzid)
}

// windowsZones maps the Windows time zone names Outlook writes as TZIDs
// to IANA names (the common ones; others need their VTIMEZONE).
var windowsZones = map[string]string{
	"UTC": "UTC", "GMT Standard Time": "Europe/London", "Greenwich Standard Time": "Atlantic/Reykjavik",
	"W. Europe Standard Time": "Europe/Berlin", "Central Europe Standard Time": "Europe/Budapest",
	"Central European Standard Time": "Europe/Warsaw", "Romance Standard Time": "Europe/Paris",
	"E. Europe Standard Time": "Europe/Chisinau", "FLE Standard Time": "Europe/Kiev",
	"GTB Standard Time": "Europe/Bucharest", "Russian Standard Time": "Europe/Moscow",
	"Eastern Standard Time": "America/New_York", "Central Standard Time": "America/Chicago",
	"Mountain Standard Time": "America/Denver", "Pacific Standard Time": "America/Los_Angeles",
	"US Mountain Standard Time": "America/Phoenix", "Alaskan Standard Time": "America/Anchorage",
	"Hawaiian Standard Time": "Pacific/Honolulu", "Atlantic Standard Time": "America/Halifax",
	"E. South America Standard Time": "America/Sao_Paulo", "India Standard Time": "Asia/Kolkata",
	"China Standard Time": "Asia/Shanghai", "Tokyo Standard Time": "Asia/Tokyo",
	"Korea Standard Time": "Asia/Seoul", "Singapore Standard Time": "Asia/Singapore",
	"AUS Eastern Standard Time": "Australia/Sydney", "New Zealand Standard Time": "Pacific/Auckland",
	"Israel Standard Time": "Asia/Jerusalem", "Arabian Standard Time": "Asia/Dubai",
	"South Africa Standard Time": "Africa/Johannesburg", "Turkey Standard Time": "Europe/Istanbul",
}

// IANAZone returns the IANA name a TZID stands for: itself, a Windows
// name's equivalent, or the longest IANA-looking suffix of a prefixed
// name ("/mozilla.org/20050126_1/Europe/Berlin").
func IANAZone(tzid string) (string, bool) {
	tzid = strings.TrimSpace(tzid)
	if tzid == "" || len(tzid) > 200 || strings.Contains(tzid, "..") {
		return "", false
	}
	try := func(n string) bool {
		if n == "" || n == "Local" || strings.HasPrefix(n, "/") {
			return false
		}
		_, err := time.LoadLocation(n)
		return err == nil
	}
	if try(tzid) {
		return tzid, true
	}
	if n, ok := windowsZones[tzid]; ok {
		return n, true
	}
	parts := strings.Split(strings.Trim(tzid, "/"), "/")
	for i := 1; i < len(parts); i++ {
		n := strings.Join(parts[i:], "/")
		if try(n) {
			return n, true
		}
	}
	return "", false
}

// dateOrTime parses a DATE or DATE-TIME property: the wall-clock value,
// whether it is a date, whether it is UTC ("Z"), and its TZID.
func dateOrTime(p *ical.Prop) (wall time.Time, date, utc bool, tzid string, err error) {
	v := strings.TrimSpace(p.Value)
	if p.ValueType() == ical.ValueDate || len(v) == 8 {
		wall, err = time.Parse("20060102", v)
		return wall, true, false, "", err
	}
	if strings.HasSuffix(v, "Z") {
		wall, err = time.Parse("20060102T150405Z", v)
		return wall, false, true, "", err
	}
	wall, err = time.Parse("20060102T150405", v)
	return wall, false, false, p.Params.Get(ical.PropTimezoneID), err
}

// isFloating reports whether a date or time property carries no zone: a
// DATE, or a DATE-TIME with neither TZID nor "Z" (false for nil).
func isFloating(p *ical.Prop) bool {
	if p == nil {
		return false
	}
	_, date, utc, tzid, err := dateOrTime(p)
	return err == nil && (date || !utc && tzid == "")
}

func (zr *zoneResolver) toUTC(p *ical.Prop) (time.Time, bool, error) {
	wall, date, utc, tzid, err := dateOrTime(p)
	if err != nil {
		return time.Time{}, false, invalid(PreValidCalendarData, "%s: bad date or time %q", p.Name, cut(p.Value, 40))
	}
	if date || utc {
		return wall, date, nil
	}
	zi, err := zr.resolve(tzid)
	if err != nil {
		return time.Time{}, false, err
	}
	return zi.z.toUTC(wall), false, nil
}

// span computes the extent of a component by the rules of RFC 4791 9.9:
// for a VEVENT, DTEND or DTSTART+DURATION, a day for a date DTSTART
// without either, zero length otherwise; for a VTODO the interval its
// DTSTART/DUE/DURATION/COMPLETED/CREATED cover; for a VJOURNAL its DTSTART
// (a day for a date).
func (zr *zoneResolver) span(c *ical.Component, kind storage.ItemKind) (span, error) {
	var s span
	get := func(name string) (*ical.Prop, time.Time, bool, error) {
		p := c.Props.Get(name)
		if p == nil {
			return nil, time.Time{}, false, nil
		}
		t, date, err := zr.toUTC(p)
		return p, t, date, err
	}
	dtstart, start, date, err := get(ical.PropDateTimeStart)
	if err != nil {
		return s, err
	}
	var dur time.Duration
	hasDur := false
	if p := c.Props.Get(ical.PropDuration); p != nil {
		d, err := p.Duration()
		if err != nil {
			return s, invalid(PreValidCalendarData, "DURATION %q is not a duration", cut(p.Value, 40))
		}
		if d < 0 {
			return s, invalid(PreValidCalendarData, "DURATION is negative")
		}
		dur, hasDur = d, true
	}
	s.floating = isFloating(dtstart)
	if dtstart == nil {
		s.floating = isFloating(c.Props.Get(ical.PropDue))
	}
	if dtstart != nil {
		wall, _, utc, tzid, _ := dateOrTime(dtstart)
		s.wall = wall.Format("20060102T150405")
		if date {
			s.wall = wall.Format("20060102")
		}
		if !utc {
			s.tzid = tzid
		}
	}
	s.allDay = date
	switch kind {
	case storage.ItemEvent:
		if dtstart == nil {
			return s, invalid(PreValidCalendarObject, "VEVENT has no DTSTART")
		}
		dtend, end, _, err := get(ical.PropDateTimeEnd)
		if err != nil {
			return s, err
		}
		if dtend != nil && hasDur {
			return s, invalid(PreValidCalendarData, "VEVENT has both DTEND and DURATION")
		}
		switch {
		case dtend != nil:
			if end.Before(start) {
				return s, invalid(PreValidCalendarData, "DTEND is before DTSTART")
			}
		case hasDur:
			end = start.Add(dur)
		case date:
			end = start.Add(24 * time.Hour)
		default:
			end = start
		}
		s.start, s.end = start, end
	case storage.ItemTodo:
		_, due, _, err := get(ical.PropDue)
		if err != nil {
			return s, err
		}
		_, completed, _, err := get(ical.PropCompleted)
		if err != nil {
			return s, err
		}
		_, created, _, err := get(ical.PropCreated)
		if err != nil {
			return s, err
		}
		switch {
		case dtstart != nil && hasDur:
			s.start, s.end = start, start.Add(dur)
		case dtstart != nil && !due.IsZero():
			s.start, s.end = start, due
		case dtstart != nil:
			s.start, s.end = start, start
		case !due.IsZero():
			s.start, s.end = due, due
		case !completed.IsZero() || !created.IsZero():
			s.start, s.end = minTime(completed, created), maxTime(completed, created)
			if completed.IsZero() {
				s.end = storage.ItemEndless
			}
		}
		if s.end.Before(s.start) {
			s.end = s.start
		}
	default: // journal
		if dtstart != nil {
			s.start, s.end = start, start
			if date {
				s.end = start.Add(24 * time.Hour)
			}
		}
	}
	s.dur = s.end.Sub(s.start)
	return s, nil
}

// recurrence builds the Recurrence of a master component and its
// overrides.
func (zr *zoneResolver) recurrence(master *ical.Component, overrides []*ical.Component, sp span, idx *storage.ItemIndex) (*Recurrence, error) {
	rec := &Recurrence{Start: sp.wall, AllDay: sp.allDay, Duration: int64(sp.dur / time.Second),
		Transparent: idx.Transparent, Status: idx.Status}
	zi, err := zr.resolve(sp.tzid)
	if err != nil {
		return nil, err
	}
	rec.Zone, rec.VTZ = zi.iana, zi.vtz
	rules := master.Props.Values(ical.PropRecurrenceRule)
	if len(rules) > 1 {
		return nil, invalid(PreValidCalendarData, "more than one RRULE")
	}
	if len(rules) == 1 {
		rec.RRule = strings.TrimSpace(rules[0].Value)
		wall, _, _ := parseWall(sp.wall)
		if _, err := parseRule(rec.RRule, wall); err != nil {
			return nil, err
		}
	}
	list := func(name string) ([]int64, error) {
		var out []int64
		for _, p := range master.Props.Values(name) {
			if strings.EqualFold(p.Params.Get(ical.ParamValue), "PERIOD") {
				continue // RDATE;VALUE=PERIOD: not expanded
			}
			for _, v := range strings.Split(p.Value, ",") {
				q := ical.Prop{Name: p.Name, Params: p.Params, Value: v}
				t, _, err := zr.toUTC(&q)
				if err != nil {
					return nil, err
				}
				out = append(out, t.Unix())
				if len(out) > MaxInstances {
					return nil, invalid(PreValidCalendarData, "more than %d %s values", MaxInstances, name)
				}
			}
		}
		return out, nil
	}
	if rec.RDates, err = list(ical.PropRecurrenceDates); err != nil {
		return nil, err
	}
	if rec.ExDates, err = list(ical.PropExceptionDates); err != nil {
		return nil, err
	}
	for _, o := range overrides {
		rid, _, err := zr.toUTC(o.Props.Get(ical.PropRecurrenceID))
		if err != nil {
			return nil, err
		}
		os, err := zr.span(o, idx.Kind)
		if err != nil {
			return nil, err
		}
		if os.start.IsZero() {
			os.start, os.end = rid, rid.Add(sp.dur)
		}
		ov := Override{ID: rid.Unix(), Start: os.start.Unix(), End: os.end.Unix(),
			Transparent: strings.EqualFold(strings.TrimSpace(propText(o, ical.PropTransparency)), "TRANSPARENT"),
			Status:      strings.ToUpper(strings.TrimSpace(propText(o, ical.PropStatus)))}
		rec.Overrides = append(rec.Overrides, ov)
		if len(rec.Overrides) > MaxInstances {
			return nil, invalid(PreValidCalendarData, "more than %d overridden instances", MaxInstances)
		}
	}
	return rec, nil
}

// RecurrenceOf returns the Recurrence of the item described by a decoded
// calendar (for the DAV layer's expand of calendar-data), nil for a
// non-recurring one.
func RecurrenceOf(cal *ical.Calendar) (*Recurrence, error) {
	idx, err := IndexCalendar(cal)
	if err != nil {
		return nil, err
	}
	if !idx.Recurring {
		return nil, nil
	}
	return DecodeRecurrence(idx.Recurrence)
}

// ComponentSpan returns the UTC extent of one component of a decoded
// calendar (RFC 4791 9.9 rules), with the calendar's VTIMEZONEs.
func ComponentSpan(cal *ical.Calendar, c *ical.Component) (start, end time.Time, err error) {
	zr := &zoneResolver{tzs: map[string]*ical.Component{}}
	for _, t := range cal.Children {
		if t.Name == ical.CompTimezone {
			if id := t.Props.Get(ical.PropTimezoneID); id != nil {
				zr.tzs[id.Value] = t
			}
		}
	}
	kind := storage.ItemEvent
	switch c.Name {
	case ical.CompToDo:
		kind = storage.ItemTodo
	case ical.CompJournal:
		kind = storage.ItemJournal
	case ical.CompEvent:
	default:
		return time.Time{}, time.Time{}, errors.New("item: not an event, task or journal")
	}
	s, err := zr.span(c, kind)
	return s.start, s.end, err
}

// ComponentSpanIn is ComponentSpan with a floating component's times read
// in z instead of UTC.
func ComponentSpanIn(cal *ical.Calendar, c *ical.Component, z Zone) (start, end time.Time, err error) {
	start, end, err = ComponentSpan(cal, c)
	if err != nil || z.z == nil {
		return start, end, err
	}
	p := c.Props.Get(ical.PropDateTimeStart)
	if p == nil {
		p = c.Props.Get(ical.PropDue)
	}
	if !isFloating(p) {
		return start, end, nil
	}
	if !start.IsZero() {
		start = z.ToUTC(start)
	}
	if !end.IsZero() && !end.Equal(storage.ItemEndless) {
		end = z.ToUTC(end)
	}
	return start, end, nil
}

// PropTime converts a DATE or DATE-TIME property of a component of cal to
// UTC (with the calendar's VTIMEZONEs).
func PropTime(cal *ical.Calendar, p *ical.Prop) (time.Time, error) {
	zr := &zoneResolver{tzs: map[string]*ical.Component{}}
	for _, t := range cal.Children {
		if t.Name == ical.CompTimezone {
			if id := t.Props.Get(ical.PropTimezoneID); id != nil {
				zr.tzs[id.Value] = t
			}
		}
	}
	t, _, err := zr.toUTC(p)
	return t, err
}

// vtzZone evaluates a VTIMEZONE's STANDARD and DAYLIGHT observances.
type vtzZone struct{ obs []observance }

type observance struct {
	start    time.Time // wall clock
	from, to time.Duration
	rule     *rule
	rdates   []time.Time
}

func parseOffset(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if len(v) != 5 && len(v) != 7 {
		return 0, fmt.Errorf("bad UTC offset %q", v)
	}
	sign := time.Duration(1)
	switch v[0] {
	case '-':
		sign = -1
	case '+':
	default:
		return 0, fmt.Errorf("bad UTC offset %q", v)
	}
	h, err1 := strconv.Atoi(v[1:3])
	m, err2 := strconv.Atoi(v[3:5])
	s := 0
	var err3 error
	if len(v) == 7 {
		s, err3 = strconv.Atoi(v[5:7])
	}
	if err1 != nil || err2 != nil || err3 != nil || h > 23 || m > 59 || s > 59 {
		return 0, fmt.Errorf("bad UTC offset %q", v)
	}
	return sign * (time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second), nil
}

func newVTZ(c *ical.Component) (*vtzZone, error) {
	z := &vtzZone{}
	for _, o := range c.Children {
		if o.Name != "STANDARD" && o.Name != "DAYLIGHT" {
			continue
		}
		var ob observance
		p := o.Props.Get(ical.PropDateTimeStart)
		if p == nil {
			return nil, errors.New("observance without DTSTART")
		}
		w, _, _, _, err := dateOrTime(p)
		if err != nil {
			return nil, errors.New("observance with a bad DTSTART")
		}
		ob.start = w
		from, to := o.Props.Get("TZOFFSETFROM"), o.Props.Get("TZOFFSETTO")
		if from == nil || to == nil {
			return nil, errors.New("observance without TZOFFSETFROM/TZOFFSETTO")
		}
		if ob.from, err = parseOffset(from.Value); err != nil {
			return nil, err
		}
		if ob.to, err = parseOffset(to.Value); err != nil {
			return nil, err
		}
		if rr := o.Props.Get(ical.PropRecurrenceRule); rr != nil {
			r, err := parseRule(rr.Value, w)
			if err != nil {
				return nil, errors.New("observance with a bad RRULE")
			}
			ob.rule = r
		}
		for _, rd := range o.Props.Values(ical.PropRecurrenceDates) {
			for _, v := range strings.Split(rd.Value, ",") {
				if t, err := time.Parse("20060102T150405", strings.TrimSpace(v)); err == nil {
					ob.rdates = append(ob.rdates, t)
				}
			}
		}
		z.obs = append(z.obs, ob)
		if len(z.obs) > 100 {
			return nil, errors.New("too many observances")
		}
	}
	if len(z.obs) == 0 {
		return nil, errors.New("no STANDARD or DAYLIGHT observance")
	}
	return z, nil
}

// toUTC finds the observance in force at the wall-clock time w (the one
// with the latest onset not after w) and applies its offset.
func (z *vtzZone) toUTC(w time.Time) time.Time {
	var best *observance
	var bestOnset time.Time
	earliest := &z.obs[0]
	for i := range z.obs {
		o := &z.obs[i]
		if o.start.Before(earliest.start) {
			earliest = o
		}
		onset := time.Time{}
		if !o.start.After(w) {
			onset = o.start
		}
		if o.rule != nil && !o.start.After(w) {
			o.rule.each(w.AddDate(-1, 0, -1), w, func(t time.Time) bool {
				if t.After(w) {
					return false
				}
				onset = t
				return true
			})
		}
		for _, rd := range o.rdates {
			if !rd.After(w) && rd.After(onset) {
				onset = rd
			}
		}
		if !onset.IsZero() && (best == nil || onset.After(bestOnset)) {
			best, bestOnset = o, onset
		}
	}
	off := earliest.from
	if best != nil {
		off = best.to
	}
	return w.Add(-off)
}

func encodeVTZ(c *ical.Component) string {
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, "-//Floe//item//EN")
	cal.Children = []*ical.Component{c}
	var b bytes.Buffer
	if err := ical.NewEncoder(&b).Encode(cal); err != nil {
		return ""
	}
	return b.String()
}

func parseVTimezoneText(s string) (zone, error) {
	cal, err := ical.NewDecoder(strings.NewReader(s)).Decode()
	if err != nil {
		return nil, err
	}
	for _, c := range cal.Children {
		if c.Name == ical.CompTimezone {
			return newVTZ(c)
		}
	}
	return nil, errors.New("no VTIMEZONE")
}

// Zone is a time zone as iCalendar names it (an IANA name, a known alias,
// or a VTIMEZONE's own rules): it converts wall-clock times to UTC.
type Zone struct{ z zone }

// ToUTC returns the instant of the wall-clock time w (its fields are read,
// its location ignored) in the zone; the zero Zone is UTC.
func (z Zone) ToUTC(w time.Time) time.Time {
	if z.z == nil {
		return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), time.UTC)
	}
	return z.z.toUTC(time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, time.UTC))
}

// ParseTimezone reads an iCalendar object holding one VTIMEZONE (the value
// of CALDAV:calendar-timezone, RFC 4791 5.2.2) and returns its zone and
// TZID. The zone is the IANA zone the TZID or X-LIC-LOCATION names when
// there is one, else the VTIMEZONE's own STANDARD and DAYLIGHT rules.
func ParseTimezone(data []byte) (Zone, string, error) {
	if len(data) > MaxPayload {
		return Zone{}, "", invalid(PreValidCalendarData, "the time zone is larger than %d bytes", MaxPayload)
	}
	cal, err := DecodeCalendar(data)
	if err != nil {
		return Zone{}, "", invalid(PreValidCalendarData, "not an iCalendar object: %v", err)
	}
	var vtz *ical.Component
	for _, c := range cal.Children {
		if c.Name != ical.CompTimezone {
			return Zone{}, "", invalid(PreValidCalendarData, "a time zone object holds %s, not only one VTIMEZONE", c.Name)
		}
		if vtz != nil {
			return Zone{}, "", invalid(PreValidCalendarData, "a time zone object holds more than one VTIMEZONE")
		}
		vtz = c
	}
	if vtz == nil {
		return Zone{}, "", invalid(PreValidCalendarData, "no VTIMEZONE")
	}
	id := vtz.Props.Get(ical.PropTimezoneID)
	if id == nil || strings.TrimSpace(id.Value) == "" {
		return Zone{}, "", invalid(PreValidCalendarData, "the VTIMEZONE has no TZID")
	}
	zr := &zoneResolver{tzs: map[string]*ical.Component{id.Value: vtz}}
	zi, err := zr.lookup(id.Value)
	if err != nil {
		return Zone{}, "", err
	}
	return Zone{zi.z}, id.Value, nil
}

// PropTimeIn is PropTime with floating values (DATEs, DATE-TIMEs without
// zone) read in z instead of UTC.
func PropTimeIn(cal *ical.Calendar, p *ical.Prop, z Zone) (time.Time, error) {
	t, err := PropTime(cal, p)
	if err != nil || !isFloating(p) {
		return t, err
	}
	return z.ToUTC(t), nil
}
