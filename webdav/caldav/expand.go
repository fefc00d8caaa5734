package caldav

import (
	"bytes"
	"time"

	"github.com/emersion/go-ical"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/item"
)

const utcLayout = "20060102T150405Z"

// Expand returns the calendar object with its recurrence expanded into
// the instances overlapping r (RFC 4791 9.6.5): one component per
// instance, times in UTC, RECURRENCE-ID on each, no RRULE, RDATE, EXDATE
// or VTIMEZONE. A non-recurring object comes back with its times in UTC.
// Floating times are read in r.Floating (UTC when nil); all-day dates stay
// dates.
func Expand(cal *ical.Calendar, idx *storage.ItemIndex, r Range) ([]byte, error) {
	var z item.Zone
	if r.Floating != nil {
		z = *r.Floating
	}
	out := ical.NewCalendar()
	for name, ps := range cal.Props {
		out.Props[name] = ps
	}
	var master *ical.Component
	overrides := map[int64]*ical.Component{}
	for _, c := range cal.Children {
		switch c.Name {
		case ical.CompTimezone:
			continue
		case ical.CompEvent, ical.CompToDo, ical.CompJournal:
			if rid := c.Props.Get(ical.PropRecurrenceID); rid != nil {
				if t, err := item.PropTimeIn(cal, rid, z); err == nil {
					overrides[t.Unix()] = c
				}
				continue
			}
			master = c
		default:
			out.Children = append(out.Children, c)
		}
	}
	ins, _, err := Instances(idx, r)
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		var c *ical.Component
		if idx.AllDay && idx.Floating && r.Floating != nil {
			// Dates are written as the days they are, not as the
			// instants of their midnights in the zone.
			in.Start, in.End, in.RecurrenceID = wallOf(z, in.Start), wallOf(z, in.End), wallOf(z, in.RecurrenceID)
		}
		if o, ok := overrides[in.RecurrenceID.Unix()]; ok && !idx.AllDay {
			c = toUTC(cal, o, z)
		} else if o, ok := overrides[z.ToUTC(in.RecurrenceID).Unix()]; ok && idx.AllDay {
			c = toUTC(cal, o, z)
		} else if master != nil {
			c = toUTC(cal, master, z)
			setTime(c, ical.PropDateTimeStart, in.Start, idx.AllDay)
			if c.Props.Get(ical.PropDateTimeEnd) != nil {
				setTime(c, ical.PropDateTimeEnd, in.End, idx.AllDay)
			}
			if c.Props.Get(ical.PropDue) != nil {
				setTime(c, ical.PropDue, in.End, idx.AllDay)
			}
		} else {
			continue
		}
		if idx.Recurring {
			c.Props.Del(ical.PropRecurrenceRule)
			c.Props.Del(ical.PropRecurrenceDates)
			c.Props.Del(ical.PropExceptionDates)
			setTime(c, ical.PropRecurrenceID, in.RecurrenceID, idx.AllDay)
		}
		out.Children = append(out.Children, c)
	}
	if len(out.Children) == 0 {
		return nil, nil
	}
	var b bytes.Buffer
	if err := ical.NewEncoder(&b).Encode(out); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// wallOf returns the wall-clock day whose midnight in z is the instant t
// (t itself when none of the days around it is).
func wallOf(z item.Zone, t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for _, c := range []time.Time{d, d.AddDate(0, 0, 1), d.AddDate(0, 0, -1), d.AddDate(0, 0, 2)} {
		if z.ToUTC(c).Equal(t) {
			return c
		}
	}
	return t
}

// toUTC copies c with every DATE-TIME property carrying a TZID converted
// to UTC, and the floating ones read in z.
func toUTC(cal *ical.Calendar, c *ical.Component, z item.Zone) *ical.Component {
	n := &ical.Component{Name: c.Name, Props: ical.Props{}, Children: c.Children}
	for name, ps := range c.Props {
		for _, p := range ps {
			p := p
			if p.ValueType() != ical.ValueDate && len(p.Value) == 15 && isTimeProp(name) {
				if t, err := item.PropTimeIn(cal, &p, z); err == nil {
					p = *ical.NewProp(name)
					p.Value = t.UTC().Format(utcLayout)
				}
			}
			n.Props[name] = append(n.Props[name], p)
		}
	}
	return n
}

func setTime(c *ical.Component, name string, t time.Time, date bool) {
	p := ical.NewProp(name)
	if date {
		p.SetDate(t)
	} else {
		p.Value = t.UTC().Format(utcLayout)
	}
	c.Props.Set(p)
}

// LimitRecurrenceSet returns the object without the overridden instances
// that do not overlap r (RFC 4791 9.6.6); the master is kept.
func LimitRecurrenceSet(cal *ical.Calendar, r Range) ([]byte, error) {
	var z item.Zone
	if r.Floating != nil {
		z = *r.Floating
	}
	out := ical.NewCalendar()
	for name, ps := range cal.Props {
		out.Props[name] = ps
	}
	for _, c := range cal.Children {
		if rid := c.Props.Get(ical.PropRecurrenceID); rid != nil {
			s, e, err := item.ComponentSpanIn(cal, c, z)
			ridT, err2 := item.PropTimeIn(cal, rid, z)
			if err == nil && err2 == nil && !item.Overlaps(s, e, r.Start, r.End) && !item.Overlaps(ridT, ridT, r.Start, r.End) {
				continue
			}
		}
		out.Children = append(out.Children, c)
	}
	var b bytes.Buffer
	if err := ical.NewEncoder(&b).Encode(out); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// isTimeProp reports whether a property holds a date or time (those toUTC
// converts; other properties of 15 characters are left alone).
func isTimeProp(name string) bool {
	switch name {
	case ical.PropDateTimeStart, ical.PropDateTimeEnd, ical.PropDue, ical.PropRecurrenceID, ical.PropCompleted,
		ical.PropExceptionDates, ical.PropRecurrenceDates, ical.PropCreated, ical.PropLastModified, ical.PropDateTimeStamp:
		return true
	}
	return false
}
