package davxml

import (
	"errors"
	"strings"
	"testing"
)

var small = Limits{MaxBytes: 4096, MaxDepth: 8, MaxElements: 50}

func TestRead(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		err        error
	}{
		{"propfind", `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>`, nil},
		{"empty", "  ", nil},
		{"too large", "<a>" + strings.Repeat("x", 5000) + "</a>", ErrTooLarge},
		{"too deep", strings.Repeat("<a>", 9) + strings.Repeat("</a>", 9), ErrTooDeep},
		{"too many", "<a>" + strings.Repeat("<b/>", 60) + "</a>", ErrTooDeep},
		{"dtd", `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, ErrSyntax},
		{"unclosed", "<a><b></a>", ErrSyntax},
		{"two roots", "<a/><b/>", ErrSyntax},
	}
	for _, tc := range tests {
		_, err := Read(strings.NewReader(tc.body), small)
		if !errors.Is(err, tc.err) && !(tc.err == nil && err == nil) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.err)
		}
	}
}

func TestReport(t *testing.T) {
	t.Parallel()
	body := `<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data><C:expand start="20260101T000000Z" end="20260201T000000Z"/></C:calendar-data></D:prop>
<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260101T000000Z"/>
<C:prop-filter name="SUMMARY"><C:text-match negate-condition="yes">x</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`
	data, err := Read(strings.NewReader(body), DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := Unmarshal(data, &r); err != nil {
		t.Fatal(err)
	}
	cf := r.Filter.CompFilter
	if r.XMLName.Local != "calendar-query" || cf.Name != "VCALENDAR" || cf.CompFilters[0].TimeRange.Start != "20260101T000000Z" ||
		cf.CompFilters[0].PropFilters[0].TextMatches[0].Negate != "yes" || len(r.Prop.Props) != 2 || len(r.Prop.Props[1].Children) != 1 {
		t.Fatalf("%+v", r)
	}
	body = `<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><CR:filter test="allof"><CR:prop-filter name="EMAIL"><CR:text-match match-type="ends-with">@x.test</CR:text-match></CR:prop-filter></CR:filter><CR:limit><CR:nresults>5</CR:nresults></CR:limit></CR:addressbook-query>`
	r = Report{}
	if err := Unmarshal([]byte(body), &r); err != nil {
		t.Fatal(err)
	}
	if r.Filter.Test != "allof" || r.Filter.PropFilters[0].TextMatches[0].MatchType != "ends-with" || r.Limit.NResults != 5 {
		t.Fatalf("%+v", r)
	}
}

func TestTextMatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tm    TextMatch
		value string
		want  bool
	}{
		{TextMatch{Value: "BUD"}, "Budget", true},
		{TextMatch{Value: "BUD", Collation: "i;octet"}, "Budget", false},
		{TextMatch{Value: "bud", Negate: "yes"}, "Budget", false},
		{TextMatch{Value: "ÄRGER", Collation: "i;unicode-casemap"}, "ärger", true},
		{TextMatch{Value: "ÄRGER", Collation: "i;ascii-casemap"}, "ärger", false},
		{TextMatch{Value: "@x.test", MatchType: "ends-with"}, "a@X.TEST", true},
		{TextMatch{Value: "a", MatchType: "starts-with"}, "ba", false},
		{TextMatch{Value: "ba", MatchType: "equals"}, "BA", true},
	}
	for _, tc := range tests {
		got, err := tc.tm.Match(tc.value, "i;ascii-casemap")
		if err != nil || got != tc.want {
			t.Errorf("%+v on %q: %v %v", tc.tm, tc.value, got, err)
		}
	}
	if _, err := (&TextMatch{Collation: "i;bogus"}).Match("x", ""); !errors.Is(err, ErrCollation) {
		t.Fatal(err)
	}
}

// FuzzRead: any body is refused or checked and decodes without panic.
func FuzzRead(f *testing.F) {
	f.Add(`<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>`)
	f.Add(`<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>`)
	f.Add(`<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level></D:sync-collection>`)
	f.Add(`<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x</D:displayname></D:prop></D:set></D:propertyupdate>`)
	f.Fuzz(func(t *testing.T, body string) {
		data, err := Read(strings.NewReader(body), small)
		if err != nil || data == nil {
			return
		}
		var r Report
		_ = Unmarshal(data, &r)
		var p Propertyupdate
		if Unmarshal(data, &p) == nil {
			SetProps(p.Ops)
		}
	})
}
