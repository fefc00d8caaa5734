package mimeparse

import (
	"errors"
	"strings"
	"time"
)

var errBadDate = errors.New("mimeparse: unparsable date")

var months = [12]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// Zone names of RFC 5322 4.3 (obs-zone) and a few common others.
var zoneNames = map[string]int{
	"ut": 0, "utc": 0, "gmt": 0, "z": 0, "wet": 0,
	"est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7,
	"cet": 1, "cest": 2, "met": 1, "mest": 2, "eet": 2, "eest": 3, "bst": 1, "ist": 5,
	"jst": 9, "kst": 9, "hkt": 8, "aest": 10, "aedt": 11,
}

// ParseDate parses a Date header value (RFC 5322 3.3) leniently: the day of
// the week is optional and not checked, seconds are optional, two- and
// three-digit years are read per RFC 5322 4.3, obsolete and common zone
// names are understood, comments are ignored, and the order of the date
// items may vary (asctime, "2006-01-02 15:04:05"). A missing zone means UTC.
// It fails when no day, month and year can be found.
func ParseDate(s string) (time.Time, error) {
	s = stripComments(s)
	day, month, year := -1, -1, -1
	hour, minute, sec := 0, 0, 0
	zone, haveZone := 0, false
	haveTime := false
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == '\r' || r == '\n' })
	if len(fields) > 16 {
		return time.Time{}, errBadDate
	}
	for fi := 0; fi < len(fields); fi++ {
		f := fields[fi]
		if f == "" {
			continue
		}
		switch {
		case !haveTime && strings.IndexByte(f, ':') > 0 && f[0] >= '0' && f[0] <= '9':
			// hh:mm[:ss], possibly with a glued zone ("10:00:00+0200").
			if k := strings.IndexAny(f, "+-"); k > 0 {
				if z, ok := parseZoneOffset(f[k:]); ok {
					zone, haveZone = z, true
				}
				f = f[:k]
			}
			parts := strings.Split(f, ":")
			if len(parts) < 2 || len(parts) > 3 {
				return time.Time{}, errBadDate
			}
			var ok1, ok2, ok3 bool
			hour, ok1 = atoi(parts[0])
			minute, ok2 = atoi(parts[1])
			ok3 = true
			if len(parts) == 3 {
				p := parts[2]
				if k := strings.IndexByte(p, '.'); k >= 0 { // fractional seconds
					p = p[:k]
				}
				sec, ok3 = atoi(p)
			}
			if !ok1 || !ok2 || !ok3 || hour > 23 || minute > 59 || sec > 60 {
				return time.Time{}, errBadDate
			}
			if sec == 60 {
				sec = 59
			}
			haveTime = true
		case (f[0] == '+' || f[0] == '-') && len(f) > 1:
			if z, ok := parseZoneOffset(f); ok && !haveZone {
				zone, haveZone = z, true
			}
		case f[0] >= '0' && f[0] <= '9':
			if y, m, d, ok := isoDate(f); ok {
				year, month, day = y, m, d
				continue
			}
			if strings.IndexByte(f, '-') > 0 {
				// 02-Jan-2006: split into further fields.
				sub := strings.Split(f, "-")
				rest := append([]string{}, fields[fi+1:]...)
				fields = append(append(fields[:fi+1:fi+1], sub...), rest...)
				continue
			}
			n, ok := atoi(f)
			if !ok {
				if len(f) > 2 {
					// "10am" and the like: ignore.
					continue
				}
				return time.Time{}, errBadDate
			}
			switch {
			case day < 0 && len(f) <= 2 && n >= 1 && n <= 31:
				day = n
			case year < 0:
				year = n
				switch {
				case len(f) <= 2 && n < 50:
					year += 2000
				case len(f) <= 3:
					year += 1900
				}
			}
		default:
			lf := strings.ToLower(f)
			if month < 0 && len(lf) >= 3 {
				for i, m := range months {
					if lf[:3] == m {
						month = i + 1
						break
					}
				}
				if month >= 0 {
					continue
				}
			}
			if z, ok := zoneNames[strings.Trim(lf, "()")]; ok && !haveZone {
				zone, haveZone = z*3600, true
			}
		}
	}
	if day < 1 || month < 1 || year < 0 || year > 9999 {
		return time.Time{}, errBadDate
	}
	if day > daysIn(month, year) {
		return time.Time{}, errBadDate
	}
	loc := time.UTC
	if zone != 0 {
		loc = time.FixedZone("", zone)
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, loc), nil
}

func daysIn(month, year int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// isoDate parses yyyy-mm-dd (optionally followed by "T...": ignored here).
func isoDate(f string) (y, m, d int, ok bool) {
	if len(f) < 10 || f[4] != '-' || f[7] != '-' {
		return 0, 0, 0, false
	}
	y, ok1 := atoi(f[:4])
	m, ok2 := atoi(f[5:7])
	d, ok3 := atoi(f[8:10])
	if !ok1 || !ok2 || !ok3 || m < 1 || m > 12 {
		return 0, 0, 0, false
	}
	return y, m, d, true
}

// parseZoneOffset parses +hhmm, -hhmm, +hh:mm or +hh.
func parseZoneOffset(f string) (int, bool) {
	sign := 1
	if f[0] == '-' {
		sign = -1
	}
	f = strings.ReplaceAll(f[1:], ":", "")
	var h, m int
	var ok bool
	switch len(f) {
	case 4:
		var ok2 bool
		h, ok = atoi(f[:2])
		m, ok2 = atoi(f[2:])
		ok = ok && ok2
	case 1, 2:
		h, ok = atoi(f)
	default:
		return 0, false
	}
	if !ok || h > 23 || m > 59 {
		return 0, false
	}
	return sign * (h*3600 + m*60), true
}

func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}
