package item

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/teambition/rrule-go"
)

// Bounds of a recurrence expansion. An expansion stops at the first bound
// it reaches and reports it (Expansion.Truncated): a rule such as an
// unbounded FREQ=SECONDLY, a COUNT of ten million, or a rule that never
// produces an instance is cut off, never a hang.
const (
	// MaxInstances is the most instances one expansion returns.
	MaxInstances = 10000
	// MaxPeriods is the most periods (years, months, ..., seconds) of a
	// rule one expansion visits.
	MaxPeriods = 200000
)

// Recurrence is what expanding an item needs, kept in the index
// (storage.ItemIndex.Recurrence, JSON) so that time-range queries and
// free/busy never read the message. Times in RDates, ExDates and Overrides
// are UTC Unix seconds (dates: midnight UTC of the day).
type Recurrence struct {
	Start    string `json:"s"`           // DTSTART wall clock, "20060102T150405" or "20060102"
	Zone     string `json:"z,omitempty"` // IANA zone of Start; "" = UTC (also floating)
	VTZ      string `json:"v,omitempty"` // a VTIMEZONE with no IANA name, as text
	AllDay   bool   `json:"a,omitempty"`
	Duration int64  `json:"d,omitempty"` // seconds
	RRule    string `json:"r,omitempty"`
	RDates   []int64
	ExDates  []int64
	// Overrides are the instances a component with RECURRENCE-ID replaces.
	Overrides   []Override `json:"o,omitempty"`
	Transparent bool       `json:"t,omitempty"`
	Status      string     `json:"st,omitempty"`
}

// Override is one overridden instance.
type Override struct {
	ID          int64  `json:"id"` // RECURRENCE-ID, UTC
	Start       int64  `json:"s"`
	End         int64  `json:"e"`
	Transparent bool   `json:"t,omitempty"`
	Status      string `json:"st,omitempty"`
}

// Instance is one occurrence of an item.
type Instance struct {
	Start, End   time.Time // UTC
	RecurrenceID time.Time // UTC: the instance's original start
	Transparent  bool
	Status       string
	Overridden   bool
}

// Expansion is the result of Expand.
type Expansion struct {
	Instances []Instance
	// Truncated says a bound (MaxInstances, MaxPeriods, or the caller's
	// max) cut the expansion short: later instances are missing.
	Truncated bool
}

// DecodeRecurrence decodes an index's Recurrence bytes.
func DecodeRecurrence(b []byte) (*Recurrence, error) {
	r := new(Recurrence)
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("item: corrupt recurrence: %w", err)
	}
	return r, nil
}

func (r *Recurrence) encode() []byte {
	b, _ := json.Marshal(r)
	return b
}

// zone converts wall-clock times (carried as UTC values) to UTC.
type zone interface {
	toUTC(wall time.Time) time.Time
}

type utcZone struct{}

func (utcZone) toUTC(w time.Time) time.Time { return w }

type locZone struct{ loc *time.Location }

func (z locZone) toUTC(w time.Time) time.Time {
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, z.loc).UTC()
}

func (r *Recurrence) zone() zone {
	if r.Zone != "" {
		if loc, err := time.LoadLocation(r.Zone); err == nil {
			return locZone{loc}
		}
	}
	if r.VTZ != "" {
		if z, err := parseVTimezoneText(r.VTZ); err == nil {
			return z
		}
	}
	return utcZone{}
}

func parseWall(s string) (time.Time, bool, error) {
	if len(s) == 8 {
		t, err := time.Parse("20060102", s)
		return t, true, err
	}
	t, err := time.Parse("20060102T150405", s)
	return t, false, err
}

// Expand returns the instances of r that overlap [from, to) (a zero to is
// open), at most max (0: MaxInstances), in order of start. A
// non-recurring item has its one instance. Instances with zero duration
// overlap when from <= start < to (RFC 4791 9.9).
func (r *Recurrence) Expand(from, to time.Time, max int) (Expansion, error) {
	if max <= 0 || max > MaxInstances {
		max = MaxInstances
	}
	wall, _, err := parseWall(r.Start)
	if err != nil {
		return Expansion{}, fmt.Errorf("item: bad recurrence start %q", r.Start)
	}
	z := r.zone()
	dur := time.Duration(r.Duration) * time.Second
	ex := make(map[int64]bool, len(r.ExDates))
	for _, e := range r.ExDates {
		ex[e] = true
	}
	ov := make(map[int64]Override, len(r.Overrides))
	for _, o := range r.Overrides {
		ov[o.ID] = o
	}
	var out Expansion
	seen := make(map[int64]bool)
	add := func(id time.Time) bool {
		key := id.Unix()
		if seen[key] {
			return true
		}
		seen[key] = true
		if ex[key] {
			return true
		}
		in := Instance{Start: id, End: id.Add(dur), RecurrenceID: id, Transparent: r.Transparent, Status: r.Status}
		if o, ok := ov[key]; ok {
			in.Start, in.End = time.Unix(o.Start, 0).UTC(), time.Unix(o.End, 0).UTC()
			in.Transparent, in.Status, in.Overridden = o.Transparent, o.Status, true
		}
		if overlaps(in.Start, in.End, from, to) {
			if len(out.Instances) >= max {
				out.Truncated = true
				return false
			}
			out.Instances = append(out.Instances, in)
		}
		return true
	}
	// The rule's own instances, in wall-clock time, converted to UTC.
	if r.RRule != "" {
		rule, err := parseRule(r.RRule, wall)
		if err != nil {
			return Expansion{}, err
		}
		rule.utc = z.toUTC
		// Instances start at most dur before from can overlap; overridden
		// instances may move anywhere, so they are added separately below.
		var lo time.Time
		if !from.IsZero() {
			lo = from.Add(-dur - 26*time.Hour) // 26h: any zone offset
		}
		var hi time.Time
		if !to.IsZero() {
			hi = to.Add(26 * time.Hour)
		}
		trunc := rule.each(lo, hi, func(w time.Time) bool {
			u := z.toUTC(w)
			if !hi.IsZero() && u.After(hi) {
				return false
			}
			return add(u)
		})
		out.Truncated = out.Truncated || trunc
	} else {
		add(z.toUTC(wall))
	}
	for _, d := range r.RDates {
		if out.Truncated {
			break
		}
		add(time.Unix(d, 0).UTC())
	}
	// Overrides whose original instance fell outside the window may have
	// moved into it.
	for _, o := range r.Overrides {
		if out.Truncated {
			break
		}
		add(time.Unix(o.ID, 0).UTC())
	}
	sort.Slice(out.Instances, func(i, j int) bool { return out.Instances[i].Start.Before(out.Instances[j].Start) })
	return out, nil
}

// overlaps is the RFC 4791 9.9 test of an instance [s, e) against the
// range [from, to): zero-duration instances overlap when from <= s < to.
func overlaps(s, e, from, to time.Time) bool {
	if e.Before(s) {
		e = s
	}
	if e.Equal(s) {
		return (from.IsZero() || !s.Before(from)) && (to.IsZero() || s.Before(to))
	}
	return (to.IsZero() || s.Before(to)) && (from.IsZero() || e.After(from))
}

// Overlaps reports whether [s, e) overlaps [from, to) as RFC 4791 9.9
// defines it for VEVENT (zero-duration: from <= s < to); zero from or to
// are open.
func Overlaps(s, e, from, to time.Time) bool { return overlaps(s, e, from, to) }

// rule is a parsed RRULE evaluated by Floe's own bounded iterator (the
// rrule-go library parses it; its iterator has no bound on rules that
// produce nothing, e.g. FREQ=DAILY;BYSETPOS=2 spins until year 9999).
type rule struct {
	freq                                   rrule.Frequency
	interval, count                        int
	until                                  time.Time // wall clock or UTC, compared as given
	untilUTC                               bool
	bymonth, bymonthday, byyearday, byweek []int
	byday                                  []rrule.Weekday
	byhour, byminute, bysecond, bysetpos   []int
	wkst                                   time.Weekday
	start                                  time.Time
	// utc converts a wall-clock instance to UTC, to compare it with an
	// UNTIL given in UTC.
	utc func(time.Time) time.Time
}

// past reports whether the wall-clock time t is after UNTIL.
func (r *rule) past(t time.Time) bool {
	if r.until.IsZero() {
		return false
	}
	if r.untilUTC && r.utc != nil {
		return r.utc(t).After(r.until)
	}
	return t.After(r.until)
}

// parseRule parses an RRULE value for a series starting at the wall-clock
// time start.
func parseRule(s string, start time.Time) (*rule, error) {
	o, err := rrule.StrToROption(s)
	if err != nil {
		return nil, invalid(PreValidCalendarData, "recurrence rule %q: %v", s, err)
	}
	o.Dtstart = start
	if _, err := rrule.NewRRule(*o); err != nil { // validates the bounds only
		return nil, invalid(PreValidCalendarData, "recurrence rule %q: %v", s, err)
	}
	r := &rule{freq: o.Freq, interval: o.Interval, count: o.Count, until: o.Until, bymonth: o.Bymonth,
		bymonthday: o.Bymonthday, byyearday: o.Byyearday, byweek: o.Byweekno, byday: o.Byweekday,
		byhour: o.Byhour, byminute: o.Byminute, bysecond: o.Bysecond, bysetpos: o.Bysetpos, start: start}
	if r.interval <= 0 {
		r.interval = 1
	}
	r.wkst = time.Weekday((o.Wkst.Day() + 1) % 7)
	if !r.until.IsZero() {
		r.untilUTC = containsZ(s)
	}
	// Defaults from DTSTART (RFC 5545 3.3.10: missing BYxxx come from it).
	if r.freq < rrule.HOURLY && len(r.byhour) == 0 {
		r.byhour = []int{start.Hour()}
	}
	if r.freq < rrule.MINUTELY && len(r.byminute) == 0 {
		r.byminute = []int{start.Minute()}
	}
	if r.freq < rrule.SECONDLY && len(r.bysecond) == 0 {
		r.bysecond = []int{start.Second()}
	}
	noDay := len(r.byweek) == 0 && len(r.byyearday) == 0 && len(r.bymonthday) == 0 && len(r.byday) == 0
	switch r.freq {
	case rrule.YEARLY:
		if noDay {
			r.bymonthday = []int{start.Day()}
			if len(r.bymonth) == 0 {
				r.bymonth = []int{int(start.Month())}
			}
		}
	case rrule.MONTHLY:
		if noDay {
			r.bymonthday = []int{start.Day()}
		}
	case rrule.WEEKLY:
		if len(r.byday) == 0 {
			r.byday = []rrule.Weekday{weekdayOf(start.Weekday())}
		}
	}
	return r, nil
}

func containsZ(s string) bool {
	for i := 0; i+6 <= len(s); i++ {
		if s[i:i+6] == "UNTIL=" {
			for j := i + 6; j < len(s) && s[j] != ';'; j++ {
				if s[j] == 'Z' {
					return true
				}
			}
		}
	}
	return false
}

var rweekdays = []rrule.Weekday{rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU}

func weekdayOf(d time.Weekday) rrule.Weekday { return rweekdays[(int(d)+6)%7] }

// each calls fn with each instance (wall clock) in order, from the
// series start; instances before lo (zero: none) may be skipped and the
// walk stops after hi (zero: open) or when fn returns false. It returns
// true when a bound (MaxPeriods, MaxInstances) stopped it early.
func (r *rule) each(lo, hi time.Time, fn func(time.Time) bool) bool {
	produced := 0
	period := r.start
	k := 0
	// Skip ahead for rules without COUNT (counting needs every instance):
	// fine-grained frequencies would otherwise walk millions of periods.
	if r.count == 0 && !lo.IsZero() && lo.After(r.start) {
		k = r.skipTo(lo)
	}
	for visited := 0; ; visited++ {
		if visited >= MaxPeriods {
			return true
		}
		period = r.periodStart(k)
		if !hi.IsZero() && period.After(hi) {
			return false
		}
		if r.past(period.Add(-26*time.Hour)) && r.freq >= rrule.DAILY {
			return false
		}
		if period.Year() > 9999 {
			return false
		}
		set := r.instances(period)
		for _, t := range set {
			if t.Before(r.start) {
				continue
			}
			if r.past(t) {
				return false
			}
			produced++
			if !fn(t) {
				return false
			}
			if r.count > 0 && produced >= r.count {
				return false
			}
			if produced >= MaxPeriods {
				return true
			}
		}
		k++
	}
}

// periodStart is the start of the k-th period of the rule (k*interval
// units after the period holding the start).
func (r *rule) periodStart(k int) time.Time {
	s := r.start
	n := k * r.interval
	switch r.freq {
	case rrule.YEARLY:
		return time.Date(s.Year()+n, 1, 1, 0, 0, 0, 0, time.UTC)
	case rrule.MONTHLY:
		return time.Date(s.Year(), s.Month()+time.Month(n), 1, 0, 0, 0, 0, time.UTC)
	case rrule.WEEKLY:
		d := time.Date(s.Year(), s.Month(), s.Day(), 0, 0, 0, 0, time.UTC)
		back := (int(d.Weekday()) - int(r.wkst) + 7) % 7
		return d.AddDate(0, 0, -back+7*n)
	case rrule.DAILY:
		return time.Date(s.Year(), s.Month(), s.Day()+n, 0, 0, 0, 0, time.UTC)
	case rrule.HOURLY:
		return time.Date(s.Year(), s.Month(), s.Day(), s.Hour(), 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Hour)
	case rrule.MINUTELY:
		return time.Date(s.Year(), s.Month(), s.Day(), s.Hour(), s.Minute(), 0, 0, time.UTC).Add(time.Duration(n) * time.Minute)
	default:
		return s.Add(time.Duration(n) * time.Second)
	}
}

// skipTo returns a period index whose period starts at most a period
// before lo (the interval phase is kept).
func (r *rule) skipTo(lo time.Time) int {
	var unit time.Duration
	switch r.freq {
	case rrule.YEARLY, rrule.MONTHLY:
		return 0 // at most a few thousand periods: walked
	case rrule.WEEKLY:
		unit = 7 * 24 * time.Hour
	case rrule.DAILY:
		unit = 24 * time.Hour
	case rrule.HOURLY:
		unit = time.Hour
	case rrule.MINUTELY:
		unit = time.Minute
	default:
		unit = time.Second
	}
	gap := lo.Sub(r.periodStart(0))
	step := unit * time.Duration(r.interval)
	if gap <= 0 || step <= 0 {
		return 0
	}
	k := int(gap/step) - 1
	return max(k, 0)
}

// instances returns the instances of the period starting at p, sorted,
// after BYSETPOS.
func (r *rule) instances(p time.Time) []time.Time {
	var days []time.Time
	switch r.freq {
	case rrule.YEARLY:
		for d := p; d.Year() == p.Year(); d = d.AddDate(0, 0, 1) {
			if r.dayMatches(d, true) {
				days = append(days, d)
			}
		}
	case rrule.MONTHLY:
		for d := p; d.Month() == p.Month(); d = d.AddDate(0, 0, 1) {
			if r.dayMatches(d, false) {
				days = append(days, d)
			}
		}
	case rrule.WEEKLY:
		for i := range 7 {
			d := p.AddDate(0, 0, i)
			if r.dayMatches(d, false) {
				days = append(days, d)
			}
		}
	default:
		d := time.Date(p.Year(), p.Month(), p.Day(), 0, 0, 0, 0, time.UTC)
		if r.dayMatches(d, false) {
			days = append(days, d)
		}
	}
	if len(days) == 0 {
		return nil
	}
	var out []time.Time
	switch r.freq {
	case rrule.HOURLY, rrule.MINUTELY, rrule.SECONDLY:
		// The period itself is the candidate; BYHOUR/BYMINUTE/BYSECOND
		// limit it, finer fields expand it.
		hours := []int{p.Hour()}
		if len(r.byhour) > 0 && !slices.Contains(r.byhour, p.Hour()) {
			return nil
		}
		mins := r.byminute
		if r.freq >= rrule.MINUTELY {
			if len(mins) > 0 && !slices.Contains(mins, p.Minute()) {
				return nil
			}
			mins = []int{p.Minute()}
		} else if len(mins) == 0 {
			mins = []int{r.start.Minute()}
		}
		secs := r.bysecond
		if r.freq == rrule.SECONDLY {
			if len(secs) > 0 && !slices.Contains(secs, p.Second()) {
				return nil
			}
			secs = []int{p.Second()}
		} else if len(secs) == 0 {
			secs = []int{r.start.Second()}
		}
		d := days[0]
		for _, h := range hours {
			for _, m := range sortedInts(mins) {
				for _, s := range sortedInts(secs) {
					out = append(out, time.Date(d.Year(), d.Month(), d.Day(), h, m, s, 0, time.UTC))
				}
			}
		}
	default:
		hs, ms, ss := sortedInts(r.byhour), sortedInts(r.byminute), sortedInts(r.bysecond)
		if len(days)*len(hs)*len(ms)*len(ss) > MaxInstances {
			// A period denser than any calendar needs (say every second
			// of a year): cut to the bound.
			hs = hs[:1]
			ms = ms[:1]
		}
		for _, d := range days {
			for _, h := range hs {
				for _, m := range ms {
					for _, s := range ss {
						out = append(out, time.Date(d.Year(), d.Month(), d.Day(), h, m, s, 0, time.UTC))
					}
				}
			}
		}
	}
	if len(r.bysetpos) > 0 {
		var sel []time.Time
		for _, pos := range r.bysetpos {
			i := pos - 1
			if pos < 0 {
				i = len(out) + pos
			}
			if i >= 0 && i < len(out) && !slices.Contains(sel, out[i]) {
				sel = append(sel, out[i])
			}
		}
		sort.Slice(sel, func(i, j int) bool { return sel[i].Before(sel[j]) })
		out = sel
	}
	return out
}

func sortedInts(v []int) []int {
	v = slices.Clone(v)
	slices.Sort(v)
	return slices.Compact(v)
}

// dayMatches applies the day-level BYxxx parts to day d. inYear says
// BYDAY ordinals count within the year (YEARLY without BYMONTH).
func (r *rule) dayMatches(d time.Time, yearly bool) bool {
	if len(r.bymonth) > 0 && !slices.Contains(r.bymonth, int(d.Month())) {
		return false
	}
	if len(r.byweek) > 0 {
		_, w := isoWeek(d, r.wkst)
		weeks := weeksInYear(d.Year(), r.wkst)
		ok := false
		for _, n := range r.byweek {
			if n == w || n < 0 && weeks+n+1 == w {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(r.byyearday) > 0 {
		yd := d.YearDay()
		ylen := time.Date(d.Year(), 12, 31, 0, 0, 0, 0, time.UTC).YearDay()
		ok := false
		for _, n := range r.byyearday {
			if n == yd || n < 0 && ylen+n+1 == yd {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(r.bymonthday) > 0 {
		mlen := time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, time.UTC).Day()
		ok := false
		for _, n := range r.bymonthday {
			if n == d.Day() || n < 0 && mlen+n+1 == d.Day() {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(r.byday) > 0 {
		ok := false
		for _, wd := range r.byday {
			if time.Weekday((wd.Day()+1)%7) != d.Weekday() {
				continue
			}
			n := wd.N()
			if n == 0 || r.freq >= rrule.WEEKLY {
				ok = true
				break
			}
			// Ordinal within the month (MONTHLY, or YEARLY with BYMONTH)
			// or within the year.
			var first, last time.Time
			if yearly && len(r.bymonth) == 0 {
				first = time.Date(d.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
				last = time.Date(d.Year(), 12, 31, 0, 0, 0, 0, time.UTC)
			} else {
				first = time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
				last = time.Date(d.Year(), d.Month()+1, 0, 0, 0, 0, 0, time.UTC)
			}
			if n > 0 && int(d.Sub(first).Hours()/24)/7+1 == n || n < 0 && int(last.Sub(d).Hours()/24)/7+1 == -n {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// isoWeek returns the week number of d with weeks starting on wkst, week 1
// being the first with at least 4 days in the year (RFC 5545 3.3.10).
func isoWeek(d time.Time, wkst time.Weekday) (int, int) {
	y := d.Year()
	start := week1(y, wkst)
	if d.Before(start) {
		y--
		start = week1(y, wkst)
	} else if next := week1(y+1, wkst); !d.Before(next) {
		y++
		start = next
	}
	return y, int(d.Sub(start).Hours()/24)/7 + 1
}

func week1(y int, wkst time.Weekday) time.Time {
	jan1 := time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)
	back := (int(jan1.Weekday()) - int(wkst) + 7) % 7
	s := jan1.AddDate(0, 0, -back)
	if back > 3 { // the week holding Jan 1 has fewer than 4 days in y
		s = s.AddDate(0, 0, 7)
	}
	return s
}

func weeksInYear(y int, wkst time.Weekday) int {
	return int(week1(y+1, wkst).Sub(week1(y, wkst)).Hours()/24) / 7
}
