// Package carddav is the protocol logic of CardDAV (RFC 6352) that needs
// no HTTP: addressbook-query filters (10.5).
package carddav

import (
	"strings"

	"github.com/emersion/go-vcard"

	"github.com/floemail/floe/webdav/davxml"
)

// DefaultCollation is CardDAV's text-match default (RFC 6352 10.5.4).
const DefaultCollation = "i;unicode-casemap"

// Match evaluates an addressbook-query filter: test is "anyof" (the
// default) or "allof" over the prop-filters.
func Match(test string, filters []davxml.PropFilter, card vcard.Card) (bool, error) {
	if len(filters) == 0 {
		return true, nil
	}
	all := test == "allof"
	for i := range filters {
		ok, err := matchProp(&filters[i], card)
		if err != nil {
			return false, err
		}
		if all && !ok {
			return false, nil
		}
		if !all && ok {
			return true, nil
		}
	}
	return all, nil
}

func matchProp(f *davxml.PropFilter, card vcard.Card) (bool, error) {
	fields := card[strings.ToUpper(f.Name)]
	if f.IsNotDefined != nil {
		return len(fields) == 0, nil
	}
	if len(fields) == 0 {
		return false, nil
	}
	if len(f.TextMatches) == 0 && len(f.ParamFilters) == 0 {
		return true, nil
	}
	all := f.Test == "allof"
	for _, fld := range fields {
		ok, err := matchField(f, all, fld)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// matchField applies the text-matches and param-filters of f to one
// property instance, combined by anyof/allof.
func matchField(f *davxml.PropFilter, all bool, fld *vcard.Field) (bool, error) {
	var results []bool
	for i := range f.TextMatches {
		m, err := f.TextMatches[i].Match(fld.Value, DefaultCollation)
		if err != nil {
			return false, err
		}
		results = append(results, m)
	}
	for i := range f.ParamFilters {
		pf := &f.ParamFilters[i]
		vals := fld.Params[strings.ToUpper(pf.Name)]
		switch {
		case pf.IsNotDefined != nil:
			results = append(results, len(vals) == 0)
		case pf.TextMatch == nil:
			results = append(results, len(vals) > 0)
		default:
			any := false
			for _, v := range vals {
				m, err := pf.TextMatch.Match(v, DefaultCollation)
				if err != nil {
					return false, err
				}
				any = any || m
			}
			results = append(results, any)
		}
	}
	for _, r := range results {
		if all && !r {
			return false, nil
		}
		if !all && r {
			return true, nil
		}
	}
	return all, nil
}
