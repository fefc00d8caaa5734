package carddav

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/floemail/floe/storage/item"
	"github.com/floemail/floe/webdav/davxml"
)

func addressData(t testing.TB, inner string) []davxml.Any {
	t.Helper()
	var a davxml.Any
	if err := xml.Unmarshal([]byte(`<CR:address-data xmlns:CR="urn:ietf:params:xml:ns:carddav">`+inner+`</CR:address-data>`), &a); err != nil {
		t.Fatal(err)
	}
	return a.Children
}

// TestSelect: address-data with prop children returns those properties
// and VERSION (RFC 6352 10.4.2); novalue drops the value; allprop or no
// prop returns the whole card.
func TestSelect(t *testing.T) {
	t.Parallel()
	card, err := item.DecodeContact([]byte("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Jane Doe\r\nN:Doe;Jane;;;\r\nEMAIL;TYPE=work:jane@example.test\r\nTEL:+15550100\r\nNOTE:private\r\nEND:VCARD\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	sel, err := ParseSelection(addressData(t, `<CR:prop name="fn"/><CR:prop name="EMAIL"/><CR:prop name="NOTE" novalue="yes"/>`))
	if err != nil || len(sel) != 3 {
		t.Fatalf("%v %v", sel, err)
	}
	out, err := Select(card, sel)
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, w := range []string{"VERSION:3.0", "FN:Jane Doe", "EMAIL;TYPE=work:jane@example.test", "NOTE:\r\n"} {
		if !strings.Contains(got, w) {
			t.Errorf("no %q in\n%s", w, got)
		}
	}
	for _, u := range []string{"TEL", "private", "UID", "N:Doe"} {
		if strings.Contains(got, u) {
			t.Errorf("%q should be gone from\n%s", u, got)
		}
	}
	for _, all := range []string{"", `<CR:allprop/>`} {
		if sel, err := ParseSelection(addressData(t, all)); sel != nil || err != nil {
			t.Errorf("%q: %v %v, want the whole card", all, sel, err)
		}
	}
	for _, bad := range []string{`<CR:prop/>`, `<CR:allprop/><CR:prop name="FN"/>`, `<CR:prop name="FN" novalue="perhaps"/>`} {
		if _, err := ParseSelection(addressData(t, bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func FuzzParseSelection(f *testing.F) {
	f.Add(`<CR:prop name="FN"/><CR:prop name="EMAIL" novalue="yes"/>`)
	f.Add(`<CR:allprop/>`)
	card, err := item.DecodeContact([]byte("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:c1\r\nFN:Jane\r\nEMAIL:jane@example.test\r\nEND:VCARD\r\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, inner string) {
		var a davxml.Any
		if xml.Unmarshal([]byte(`<CR:address-data xmlns:CR="urn:ietf:params:xml:ns:carddav">`+inner+`</CR:address-data>`), &a) != nil {
			return
		}
		sel, err := ParseSelection(a.Children)
		if err != nil || sel == nil {
			return
		}
		if _, err := Select(card, sel); err != nil {
			t.Fatalf("%q: %v", inner, err)
		}
	})
}
