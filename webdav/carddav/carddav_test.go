package carddav

import (
	"testing"

	"github.com/emersion/go-vcard"

	"github.com/floemail/floe/webdav/davxml"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	card := vcard.Card{}
	card.SetValue(vcard.FieldFormattedName, "Jane Doe")
	card.Add(vcard.FieldEmail, &vcard.Field{Value: "jane@example.test", Params: vcard.Params{"TYPE": {"work"}}})
	tm := func(v, mt string) []davxml.TextMatch { return []davxml.TextMatch{{Value: v, MatchType: mt}} }
	tests := []struct {
		name    string
		test    string
		filters []davxml.PropFilter
		want    bool
	}{
		{"no filter", "", nil, true},
		{"fn contains", "", []davxml.PropFilter{{Name: "FN", TextMatches: tm("doe", "")}}, true},
		{"fn equals fails", "", []davxml.PropFilter{{Name: "FN", TextMatches: tm("doe", "equals")}}, false},
		{"anyof", "anyof", []davxml.PropFilter{{Name: "FN", TextMatches: tm("zzz", "")}, {Name: "EMAIL", TextMatches: tm("@example.test", "ends-with")}}, true},
		{"allof", "allof", []davxml.PropFilter{{Name: "FN", TextMatches: tm("zzz", "")}, {Name: "EMAIL"}}, false},
		{"not defined", "", []davxml.PropFilter{{Name: "TEL", IsNotDefined: &struct{}{}}}, true},
		{"param", "", []davxml.PropFilter{{Name: "EMAIL", ParamFilters: []davxml.ParamFilter{{Name: "TYPE", TextMatch: &davxml.TextMatch{Value: "WORK", MatchType: "equals"}}}}}, true},
	}
	for _, tc := range tests {
		got, err := Match(tc.test, tc.filters, card)
		if err != nil || got != tc.want {
			t.Errorf("%s: %v %v", tc.name, got, err)
		}
	}
}
