// Package caldav is the protocol logic of CalDAV (RFC 4791) that needs no
// HTTP: calendar-query filters (9.7) with time ranges over recurrences
// (9.9), the expand and limit-recurrence-set forms of calendar-data
// (9.6.5, 9.6.6), and free/busy (7.10, and the /freebusy URL).
//
// Time ranges are decided on the item index when they can be (no message
// is read for a query that only asks for a time range); the other filters
// need the decoded payload.
package caldav

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-ical"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/item"
	"github.com/floemail/floe/webdav/davxml"
)

// ErrFilter is a filter Floe cannot evaluate (a bad time, an unsupported
// collation): the DAV layer answers 400 or 403 with the precondition.
var ErrFilter = errors.New("caldav: invalid filter")

// ParseTime parses a CalDAV UTC date-time ("20060102T150405Z"); empty is
// the zero time (an open end).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("20060102T150405Z", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: time %q is not a UTC date-time", ErrFilter, s)
	}
	return t, nil
}

// Range is a parsed time-range; zero ends are open.
type Range struct {
	Start, End time.Time
	// Floating, when set, is the zone floating times are read in (RFC
	// 4791 9.9: the calendar's CALDAV:calendar-timezone, or the query's
	// CALDAV:timezone); nil reads them as UTC.
	Floating *item.Zone
}

// floatingSlack bounds how far a wall-clock time is from its instant
// (UTC offsets are within -12h and +14h): a floating item's wall-clock
// span is searched this much wider than the range.
const floatingSlack = 26 * time.Hour

// Widen returns the range a store query must cover for r to find the
// floating items r may match (stored as wall clock written as UTC): r
// itself when it reads floating times as UTC.
func (r Range) Widen() Range {
	if r.Floating == nil {
		return r
	}
	w := Range{Start: r.Start, End: r.End}
	if !w.Start.IsZero() {
		w.Start = w.Start.Add(-floatingSlack)
	}
	if !w.End.IsZero() {
		w.End = w.End.Add(floatingSlack)
	}
	return w
}

// ParseRange parses a time-range element (RFC 4791 9.9: at least one end;
// start before end).
func ParseRange(tr *davxml.TimeRange) (Range, error) {
	var r Range
	var err error
	if r.Start, err = ParseTime(tr.Start); err != nil {
		return r, err
	}
	if r.End, err = ParseTime(tr.End); err != nil {
		return r, err
	}
	if r.Start.IsZero() && r.End.IsZero() {
		return r, fmt.Errorf("%w: time-range without start or end", ErrFilter)
	}
	if !r.Start.IsZero() && !r.End.IsZero() && !r.End.After(r.Start) {
		return r, fmt.Errorf("%w: time-range ends before it starts", ErrFilter)
	}
	return r, nil
}

// Instances returns the instances of an indexed item overlapping r
// (non-recurring: its one span), and whether a bound cut them.
//
// A floating item's instances are computed in wall-clock time and read in
// r.Floating (when set), so they come out in UTC like any other's.
func Instances(idx *storage.ItemIndex, r Range) ([]item.Instance, bool, error) {
	if idx.Floating && r.Floating != nil {
		z := *r.Floating
		wall, trunc, err := instances(idx, r.Widen())
		if err != nil {
			return nil, false, err
		}
		var out []item.Instance
		for _, in := range wall {
			in.Start, in.End, in.RecurrenceID = z.ToUTC(in.Start), floatingEnd(z, in.End), z.ToUTC(in.RecurrenceID)
			if matchSpan(idx.Kind, in.Start, in.End, r) {
				out = append(out, in)
			}
		}
		return out, trunc, nil
	}
	return instances(idx, r)
}

// floatingEnd reads a floating end in z (an endless one stays endless).
func floatingEnd(z item.Zone, e time.Time) time.Time {
	if e.IsZero() || e.Equal(storage.ItemEndless) {
		return e
	}
	return z.ToUTC(e)
}

func instances(idx *storage.ItemIndex, r Range) ([]item.Instance, bool, error) {
	if !idx.Recurring {
		in := item.Instance{Start: idx.Start, End: idx.End, RecurrenceID: idx.Start, Transparent: idx.Transparent, Status: idx.Status}
		if matchSpan(idx.Kind, idx.Start, idx.End, r) {
			return []item.Instance{in}, false, nil
		}
		return nil, false, nil
	}
	rec, err := item.DecodeRecurrence(idx.Recurrence)
	if err != nil {
		return nil, false, err
	}
	exp, err := rec.Expand(r.Start, r.End, 0)
	if err != nil {
		return nil, false, err
	}
	var out []item.Instance
	for _, in := range exp.Instances {
		if matchSpan(idx.Kind, in.Start, in.End, r) {
			out = append(out, in)
		}
	}
	return out, exp.Truncated, nil
}

// matchSpan is the RFC 4791 9.9 test for one instance of a kind: events
// by Overlaps; tasks inclusively (a due task matches a range ending at
// its due time); journals by their start; items with no time: tasks
// always, others never.
func matchSpan(kind storage.ItemKind, s, e time.Time, r Range) bool {
	if s.IsZero() {
		return kind == storage.ItemTodo
	}
	switch kind {
	case storage.ItemTodo:
		return (r.Start.IsZero() || !e.Before(r.Start)) && (r.End.IsZero() || s.Before(r.End) || s.Equal(e) && !s.After(r.End))
	default:
		return item.Overlaps(s, e, r.Start, r.End)
	}
}

// MatchIndex decides a time-range-only query on the index: the item
// matches when one of its instances overlaps r.
func MatchIndex(idx *storage.ItemIndex, r Range) (bool, error) {
	ins, _, err := Instances(idx, r)
	return len(ins) > 0, err
}

// IndexOnly reports whether a calendar-query filter can be decided on the
// index alone: VCALENDAR with at most one component comp-filter holding at
// most a time-range. It returns that component name and range.
func IndexOnly(f *davxml.CompFilter) (comp string, r *davxml.TimeRange, ok bool) {
	if f == nil || !strings.EqualFold(f.Name, "VCALENDAR") || f.IsNotDefined != nil || f.TimeRange != nil || len(f.PropFilters) > 0 {
		return "", nil, false
	}
	switch len(f.CompFilters) {
	case 0:
		return "", nil, true
	case 1:
		c := f.CompFilters[0]
		if c.IsNotDefined != nil || len(c.PropFilters) > 0 || len(c.CompFilters) > 0 {
			return "", nil, false
		}
		return strings.ToUpper(c.Name), c.TimeRange, true
	}
	return "", nil, false
}

// KindComponent is the iCalendar component of an item kind.
func KindComponent(k storage.ItemKind) string {
	switch k {
	case storage.ItemTodo:
		return ical.CompToDo
	case storage.ItemJournal:
		return ical.CompJournal
	}
	return ical.CompEvent
}

// Match evaluates a calendar-query filter (RFC 4791 9.7) against a
// decoded calendar object whose index is idx; floating (nil: UTC) is the
// zone floating times are read in.
func Match(f *davxml.CompFilter, cal *ical.Calendar, idx *storage.ItemIndex, floating *item.Zone) (bool, error) {
	if f == nil {
		return true, nil
	}
	m := matcher{cal: cal, idx: idx, floating: floating}
	return m.matchComp(f, []*ical.Component{cal.Component}, 0)
}

// matcher carries what every level of a filter needs.
type matcher struct {
	cal      *ical.Calendar
	idx      *storage.ItemIndex
	floating *item.Zone
}

// parseRange parses a time-range of the filter with the matcher's zone.
func (m *matcher) parseRange(tr *davxml.TimeRange) (Range, error) {
	r, err := ParseRange(tr)
	r.Floating = m.floating
	return r, err
}

func (m *matcher) matchComp(f *davxml.CompFilter, cands []*ical.Component, depth int) (bool, error) {
	if depth > 8 {
		return false, fmt.Errorf("%w: filter nested too deeply", ErrFilter)
	}
	var named []*ical.Component
	for _, c := range cands {
		if strings.EqualFold(c.Name, f.Name) {
			named = append(named, c)
		}
	}
	if f.IsNotDefined != nil {
		return len(named) == 0, nil
	}
	if len(named) == 0 {
		return false, nil
	}
	for _, c := range named {
		ok, err := m.matchOne(f, c, depth)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func (m *matcher) matchOne(f *davxml.CompFilter, c *ical.Component, depth int) (bool, error) {
	if f.TimeRange != nil {
		r, err := m.parseRange(f.TimeRange)
		if err != nil {
			return false, err
		}
		ok, err := componentInRange(c, m.cal, m.idx, r)
		if err != nil || !ok {
			return false, err
		}
	}
	for i := range f.PropFilters {
		ok, err := m.matchProp(&f.PropFilters[i], c)
		if err != nil || !ok {
			return false, err
		}
	}
	for i := range f.CompFilters {
		ok, err := m.matchComp(&f.CompFilters[i], c.Children, depth+1)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// componentInRange applies a time-range to one component: the item's
// instances for its main components (the master with its recurrence and
// overrides), the component's own span otherwise; VALARM triggers are not
// evaluated (they match).
func componentInRange(c *ical.Component, cal *ical.Calendar, idx *storage.ItemIndex, r Range) (bool, error) {
	switch c.Name {
	case ical.CompEvent, ical.CompToDo, ical.CompJournal:
		if idx != nil && c.Name == KindComponent(idx.Kind) {
			return MatchIndex(idx, r)
		}
		var z item.Zone
		if r.Floating != nil {
			z = *r.Floating
		}
		s, e, err := item.ComponentSpanIn(cal, c, z)
		if err != nil {
			return false, nil
		}
		kind := storage.ItemEvent
		if c.Name == ical.CompToDo {
			kind = storage.ItemTodo
		} else if c.Name == ical.CompJournal {
			kind = storage.ItemJournal
		}
		return matchSpan(kind, s, e, r), nil
	}
	return true, nil
}

func (m *matcher) matchProp(f *davxml.PropFilter, c *ical.Component) (bool, error) {
	props := c.Props.Values(strings.ToUpper(f.Name))
	if f.IsNotDefined != nil {
		return len(props) == 0, nil
	}
	if len(props) == 0 {
		return false, nil
	}
	for i := range props {
		p := &props[i]
		ok := true
		if f.TimeRange != nil {
			r, err := m.parseRange(f.TimeRange)
			if err != nil {
				return false, err
			}
			var z item.Zone
			if r.Floating != nil {
				z = *r.Floating
			}
			t, err := item.PropTimeIn(m.cal, p, z)
			ok = err == nil && (r.Start.IsZero() || !t.Before(r.Start)) && (r.End.IsZero() || t.Before(r.End))
		}
		for j := 0; ok && j < len(f.TextMatches); j++ {
			v := p.Value
			if t, err := p.Text(); err == nil {
				v = t
			}
			m, err := f.TextMatches[j].Match(v, "i;ascii-casemap")
			if err != nil {
				return false, err
			}
			ok = m
		}
		for j := 0; ok && j < len(f.ParamFilters); j++ {
			pf := &f.ParamFilters[j]
			vals := p.Params.Values(strings.ToUpper(pf.Name))
			switch {
			case pf.IsNotDefined != nil:
				ok = len(vals) == 0
			case len(vals) == 0:
				ok = false
			case pf.TextMatch != nil:
				any := false
				for _, v := range vals {
					m, err := pf.TextMatch.Match(v, "i;ascii-casemap")
					if err != nil {
						return false, err
					}
					any = any || m
				}
				ok = any
			}
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// Busy is one free/busy period.
type Busy struct {
	Start, End time.Time
	Type       string // BUSY or BUSY-TENTATIVE
}

// FreeBusy turns event instances into merged busy periods within r
// (RFC 4791 7.10, RFC 5545 3.6.4): transparent and cancelled instances
// are skipped, tentative ones are BUSY-TENTATIVE, periods are clipped to
// r and merged per type. Nothing but times leaves this function.
func FreeBusy(ins []item.Instance, r Range) []Busy {
	byType := map[string][]Busy{}
	for _, in := range ins {
		if in.Transparent || in.Status == "CANCELLED" {
			continue
		}
		typ := "BUSY"
		if in.Status == "TENTATIVE" {
			typ = "BUSY-TENTATIVE"
		}
		s, e := in.Start, in.End
		if !e.After(s) {
			continue // zero-length instances occupy no time
		}
		if !r.Start.IsZero() && s.Before(r.Start) {
			s = r.Start
		}
		if !r.End.IsZero() && e.After(r.End) {
			e = r.End
		}
		if !e.After(s) {
			continue
		}
		byType[typ] = append(byType[typ], Busy{s, e, typ})
	}
	var out []Busy
	for _, typ := range []string{"BUSY", "BUSY-TENTATIVE"} {
		l := byType[typ]
		sort.Slice(l, func(i, j int) bool { return l[i].Start.Before(l[j].Start) })
		for _, b := range l {
			if n := len(out); n > 0 && out[n-1].Type == typ && !b.Start.After(out[n-1].End) {
				if b.End.After(out[n-1].End) {
					out[n-1].End = b.End
				}
				continue
			}
			out = append(out, b)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// FreeBusyCalendar renders one VFREEBUSY for r with the busy periods;
// organizer is the calendar user's address ("" for none).
func FreeBusyCalendar(busy []Busy, r Range, organizer string, now time.Time) []byte {
	const f = "20060102T150405Z"
	var b strings.Builder
	b.WriteString("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Floe//Free-Busy//EN\r\nMETHOD:PUBLISH\r\nBEGIN:VFREEBUSY\r\n")
	fmt.Fprintf(&b, "DTSTAMP:%s\r\n", now.UTC().Format(f))
	if organizer != "" {
		fmt.Fprintf(&b, "ORGANIZER:mailto:%s\r\n", organizer)
		fmt.Fprintf(&b, "UID:freebusy-%s-%s\r\n", strings.ReplaceAll(organizer, "@", "-at-"), now.UTC().Format(f))
	}
	if !r.Start.IsZero() {
		fmt.Fprintf(&b, "DTSTART:%s\r\n", r.Start.UTC().Format(f))
	}
	if !r.End.IsZero() {
		fmt.Fprintf(&b, "DTEND:%s\r\n", r.End.UTC().Format(f))
	}
	for _, p := range busy {
		fmt.Fprintf(&b, "FREEBUSY;FBTYPE=%s:%s/%s\r\n", p.Type, p.Start.UTC().Format(f), p.End.UTC().Format(f))
	}
	b.WriteString("END:VFREEBUSY\r\nEND:VCALENDAR\r\n")
	return []byte(b.String())
}
