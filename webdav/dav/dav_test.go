package dav

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-vcard"
	"github.com/emersion/go-webdav"
	wcaldav "github.com/emersion/go-webdav/caldav"
	wcarddav "github.com/emersion/go-webdav/carddav"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

type env struct {
	st   storage.Store
	srv  *httptest.Server
	jane storage.Account
	john storage.Account
}

const password = "secret"

func newEnv(t testing.TB) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with an Access (nil: the owner-only rule).
func newEnvWith(t testing.TB, access func(e *env, r *http.Request, acct storage.Account) Access) *env {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	e := &env{st: st}
	for _, a := range []*storage.Account{&e.jane, &e.john} {
		name := map[*storage.Account]string{&e.jane: "jane", &e.john: "john"}[a]
		if *a, err = st.CreateAccount(ctx, storage.Account{Address: name + "@example.test", PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	h := New(Config{
		Store: st,
		Authenticate: func(r *http.Request) (storage.Account, bool) {
			u, p, ok := r.BasicAuth()
			if !ok || p != password {
				return storage.Account{}, false
			}
			a, err := st.Account(r.Context(), u)
			return a, err == nil
		},
		MaxResourceSize: 64 << 10,
		Access: func(r *http.Request, acct storage.Account) Access {
			if access == nil {
				return nil
			}
			return access(e, r, acct)
		},
		Now: func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) },
	})
	mux := http.NewServeMux()
	mux.Handle("/dav/", h)
	mux.Handle("/.well-known/", h)
	mux.Handle("/freebusy/", h.FreeBusy())
	mux.Handle("/freebusy", h.FreeBusy())
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) client(user string) webdav.HTTPClient {
	return webdav.HTTPClientWithBasicAuth(http.DefaultClient, user, password)
}

func (e *env) do(t *testing.T, user, method, path string, hdr map[string]string, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func event(uid, summary, start, end, extra string) string {
	return strings.ReplaceAll("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\nBEGIN:VEVENT\nUID:"+uid+"\nDTSTAMP:20260101T000000Z\nDTSTART:"+start+
		"\nDTEND:"+end+"\nSUMMARY:"+summary+"\nLOCATION:Room 1\n"+extra+"END:VEVENT\nEND:VCALENDAR\n", "\n", "\r\n")
}

// TestDiscoveryAndCalendar drives the server with go-webdav's CalDAV
// client: discovery from the well-known URL, PUT, GET, time-range
// calendar-query with a recurring event, multiget; and checks the item is
// a message in the IMAP folder.
func TestDiscoveryAndCalendar(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	c, err := wcaldav.NewClient(e.client("jane@example.test"), e.srv.URL+"/.well-known/caldav")
	if err != nil {
		t.Fatal(err)
	}
	wc, _ := webdav.NewClient(e.client("jane@example.test"), e.srv.URL+"/.well-known/caldav")
	principal, err := wc.FindCurrentUserPrincipal(ctx)
	if err != nil || principal != "/dav/principals/jane@example.test/" {
		t.Fatalf("principal %q %v", principal, err)
	}
	home, err := c.FindCalendarHomeSet(ctx, principal)
	if err != nil || home != "/dav/calendars/jane@example.test/" {
		t.Fatalf("home %q %v", home, err)
	}
	cals, err := c.FindCalendars(ctx, home)
	if err != nil {
		t.Fatal(err)
	}
	var calPath string
	names := map[string]bool{}
	for _, cal := range cals {
		names[cal.Name] = true
		if cal.Name == "Calendar" {
			calPath = cal.Path
			if len(cal.SupportedComponentSet) != 1 || cal.SupportedComponentSet[0] != "VEVENT" {
				t.Fatalf("components %v", cal.SupportedComponentSet)
			}
		}
	}
	if !names["Calendar"] || !names["Tasks"] || !names["Journal"] || !names["Notes"] || names["Contacts"] || calPath == "" {
		t.Fatalf("calendars %+v", cals)
	}

	put := func(name, data string) *http.Response {
		resp, body := e.do(t, "jane@example.test", "PUT", calPath+name, map[string]string{"Content-Type": "text/calendar"}, data)
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PUT %s: %d %s", name, resp.StatusCode, body)
		}
		return resp
	}
	resp := put("meeting.ics", event("m1", "Budget", "20260302T100000Z", "20260302T110000Z", ""))
	if resp.Header.Get("ETag") == "" {
		t.Fatal("no ETag for data stored as sent")
	}
	put("weekly.ics", event("w1", "Standup", "20260105T090000Z", "20260105T091500Z", "RRULE:FREQ=WEEKLY;BYDAY=MO\n"))
	put("old.ics", event("o1", "Old", "20250105T090000Z", "20250105T091500Z", ""))

	obj, err := c.GetCalendarObject(ctx, calPath+"meeting.ics")
	if err != nil || obj.Data.Children[0].Props.Get(ical.PropSummary).Value != "Budget" || obj.ETag != strings.Trim(resp.Header.Get("ETag"), `"`) && obj.ETag != resp.Header.Get("ETag") {
		t.Fatalf("get %+v %v", obj, err)
	}

	q := &wcaldav.CalendarQuery{
		CompRequest: wcaldav.CalendarCompRequest{Name: "VCALENDAR", Comps: []wcaldav.CalendarCompRequest{{Name: "VEVENT", AllProps: true}}},
		CompFilter: wcaldav.CompFilter{Name: "VCALENDAR", Comps: []wcaldav.CompFilter{{Name: "VEVENT",
			Start: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)}}},
	}
	objs, err := c.QueryCalendar(ctx, calPath, q)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, o := range objs {
		got[o.Path] = true
	}
	if len(objs) != 2 || !got[calPath+"meeting.ics"] || !got[calPath+"weekly.ics"] {
		t.Fatalf("query: %v", got)
	}
	// A text-match needs the payloads (go-webdav's client does not encode
	// prop-filters: a raw REPORT).
	r, b := e.do(t, "jane@example.test", "REPORT", calPath, map[string]string{"Depth": "1"},
		`<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>`+
			`<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY">`+
			`<C:text-match collation="i;ascii-casemap">budget</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`)
	if r.StatusCode != 207 || !strings.Contains(b, "meeting.ics") || strings.Contains(b, "weekly.ics") {
		t.Fatalf("text-match query: %d %s", r.StatusCode, b)
	}
	// expand: the weekly event as instances in UTC with RECURRENCE-ID.
	r, b = e.do(t, "jane@example.test", "REPORT", calPath, map[string]string{"Depth": "1"},
		`<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data><C:expand start="20260301T000000Z" end="20260317T000000Z"/></C:calendar-data></D:prop>`+
			`<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260301T000000Z" end="20260317T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`)
	if r.StatusCode != 207 || strings.Count(b, "RECURRENCE-ID:") != 3 || strings.Contains(b, "RRULE") {
		t.Fatalf("expand: %d %s", r.StatusCode, b)
	}
	mg, err := c.MultiGetCalendar(ctx, calPath, &wcaldav.CalendarMultiGet{Paths: []string{calPath + "old.ics"},
		CompRequest: wcaldav.CalendarCompRequest{Name: "VCALENDAR", AllProps: true, AllComps: true}})
	if err != nil || len(mg) != 1 || mg[0].Path != calPath+"old.ics" {
		t.Fatalf("multiget %+v %v", mg, err)
	}
	r, b = e.do(t, "jane@example.test", "REPORT", calPath, nil, `<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">`+
		`<D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>`+calPath+`nosuch.ics</D:href><D:href>`+calPath+`old.ics</D:href></C:calendar-multiget>`)
	if r.StatusCode != 207 || !strings.Contains(b, "nosuch.ics</D:href><D:status>HTTP/1.1 404") || !strings.Contains(b, "SUMMARY:Old") {
		t.Fatalf("multiget with a missing href: %s", b)
	}

	// The same item is a message in the IMAP folder: Subject is the UID.
	cal, _ := e.st.Mailbox(ctx, e.jane.ID, "Calendar")
	msgs, err := e.st.Messages(ctx, cal.ID, storage.Query{Fields: storage.FieldEnvelope})
	if err != nil || len(msgs) != 3 || msgs[0].Envelope.Subject != "m1" {
		t.Fatalf("messages %+v %v", msgs, err)
	}
}

// TestPutRules: conditional requests, preconditions, sizes, components.
func TestPutRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := "jane@example.test"
	path := "/dav/calendars/jane@example.test/Calendar/"
	ev := event("c1", "One", "20260302T100000Z", "20260302T110000Z", "")
	hdr := map[string]string{"Content-Type": "text/calendar", "If-None-Match": "*"}
	if r, b := e.do(t, u, "PUT", path+"a.ics", hdr, ev); r.StatusCode != 201 {
		t.Fatalf("%d %s", r.StatusCode, b)
	}
	if r, _ := e.do(t, u, "PUT", path+"a.ics", hdr, ev); r.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("If-None-Match on existing: %d", r.StatusCode)
	}
	if r, _ := e.do(t, u, "PUT", path+"a.ics", map[string]string{"If-Match": `"nope"`}, ev); r.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("If-Match mismatch: %d", r.StatusCode)
	}
	r, _ := e.do(t, u, "GET", path+"a.ics", nil, "")
	tag := r.Header.Get("ETag")
	if r2, b := e.do(t, u, "PUT", path+"a.ics", map[string]string{"If-Match": tag}, event("c1", "Two", "20260302T100000Z", "20260302T110000Z", "")); r2.StatusCode != 204 || r2.Header.Get("ETag") == tag {
		t.Fatalf("update: %d %s", r2.StatusCode, b)
	}
	cases := []struct {
		name, path, ct, body string
		status               int
		pre                  string
	}{
		{"uid conflict", path + "b.ics", "text/calendar", ev, 409, "no-uid-conflict"},
		{"invalid", path + "c.ics", "text/calendar", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", 403, "valid-calendar-data"},
		{"method", path + "c.ics", "text/calendar", strings.Replace(ev, "VERSION:2.0", "VERSION:2.0\r\nMETHOD:REQUEST", 1), 403, "valid-calendar-object-resource"},
		{"todo in calendar", path + "c.ics", "text/calendar", strings.ReplaceAll(strings.ReplaceAll(ev, "VEVENT", "VTODO"), "DTEND", "DUE"), 403, "supported-calendar-component"},
		{"too large", path + "c.ics", "text/calendar", strings.Replace(ev, "SUMMARY:One", "SUMMARY:"+strings.Repeat("x", 70<<10), 1), 413, "max-resource-size"},
		{"wrong type", path + "c.ics", "text/vcard", ev, 415, "supported-calendar-data"},
		{"vcard no version", "/dav/addressbooks/jane@example.test/Contacts/x.vcf", "text/vcard", "BEGIN:VCARD\r\nFN:x\r\nEND:VCARD\r\n", 403, "valid-address-data"},
	}
	for _, tc := range cases {
		r, b := e.do(t, u, "PUT", tc.path, map[string]string{"Content-Type": tc.ct}, tc.body)
		if r.StatusCode != tc.status || !strings.Contains(b, tc.pre) {
			t.Errorf("%s: %d %s", tc.name, r.StatusCode, b)
		}
	}
	// A vCard without UID is stored with one: no ETag in the answer.
	r, b := e.do(t, u, "PUT", "/dav/addressbooks/jane@example.test/Contacts/nouid.vcf", map[string]string{"Content-Type": "text/vcard"},
		"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No Uid\r\nEND:VCARD\r\n")
	if r.StatusCode != 201 || r.Header.Get("ETag") != "" {
		t.Fatalf("vcard without UID: %d %q %s", r.StatusCode, r.Header.Get("ETag"), b)
	}
	// DELETE with a stale ETag, then for real.
	if r, _ := e.do(t, u, "DELETE", path+"a.ics", map[string]string{"If-Match": tag}, ""); r.StatusCode != 412 {
		t.Fatalf("stale delete %d", r.StatusCode)
	}
	if r, _ := e.do(t, u, "DELETE", path+"a.ics", nil, ""); r.StatusCode != 204 {
		t.Fatalf("delete %d", r.StatusCode)
	}
	if r, _ := e.do(t, u, "GET", path+"a.ics", nil, ""); r.StatusCode != 404 {
		t.Fatalf("after delete %d", r.StatusCode)
	}
	// Another user's home does not exist for jane; anonymous gets 401.
	if r, _ := e.do(t, u, "PROPFIND", "/dav/calendars/john@example.test/", map[string]string{"Depth": "1"}, ""); r.StatusCode != 404 {
		t.Fatalf("other home %d", r.StatusCode)
	}
	if r, _ := e.do(t, "", "PROPFIND", "/dav/", nil, ""); r.StatusCode != 401 {
		t.Fatalf("anonymous %d", r.StatusCode)
	}
}

// TestSyncAndIMAP: sync-collection tokens follow changes made over DAV
// and directly in the store (what IMAP APPEND/EXPUNGE do), and stay valid
// with a new server on the same store.
func TestSyncAndIMAP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	u := "jane@example.test"
	path := "/dav/calendars/jane@example.test/Calendar/"
	sync := func(token string) (string, string) {
		r, b := e.do(t, u, "REPORT", path, map[string]string{"Content-Type": "application/xml"},
			`<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>`+token+`</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>`)
		if r.StatusCode != 207 {
			t.Fatalf("sync %d %s", r.StatusCode, b)
		}
		i := strings.Index(b, "<D:sync-token>")
		j := strings.Index(b, "</D:sync-token>")
		return b[i+len("<D:sync-token>") : j], b
	}
	tok, body := sync("")
	if strings.Contains(body, ".ics") {
		t.Fatalf("empty calendar: %s", body)
	}
	e.do(t, u, "PUT", path+"x.ics", map[string]string{"Content-Type": "text/calendar"}, event("x1", "X", "20260302T100000Z", "20260302T110000Z", ""))
	tok2, body := sync(tok)
	if !strings.Contains(body, path+"x.ics") || tok2 == tok {
		t.Fatalf("after put: %s", body)
	}
	// Expunge over "IMAP": the resource is reported removed.
	cal, _ := e.st.Mailbox(ctx, e.jane.ID, "Calendar")
	msgs, _ := e.st.Messages(ctx, cal.ID, storage.Query{})
	if _, err := e.st.Expunge(ctx, cal.ID, []storage.UID{msgs[0].UID}); err != nil {
		t.Fatal(err)
	}
	tok3, body := sync(tok2)
	if !strings.Contains(body, path+"x.ics</D:href><D:status>HTTP/1.1 404") {
		t.Fatalf("after expunge: %s", body)
	}
	r, b := e.do(t, u, "PROPFIND", path, map[string]string{"Depth": "0"}, `<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/><D:sync-token/></D:prop></D:propfind>`)
	if r.StatusCode != 207 || !strings.Contains(b, tok3) {
		t.Fatalf("ctag/sync-token: %s", b)
	}
	if r, b := e.do(t, u, "REPORT", path, nil, `<D:sync-collection xmlns:D="DAV:"><D:sync-token>http://floe.invalid/ns/sync/1-1</D:sync-token></D:sync-collection>`); r.StatusCode != 403 || !strings.Contains(b, "valid-sync-token") {
		t.Fatalf("bad token %d %s", r.StatusCode, b)
	}
}

// TestCollections: MKCALENDAR, PROPPATCH, extended MKCOL, DELETE.
func TestCollections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := "jane@example.test"
	r, b := e.do(t, u, "MKCALENDAR", "/dav/calendars/jane@example.test/Work/", nil,
		`<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>Work stuff</D:displayname></D:prop></D:set></C:mkcalendar>`)
	if r.StatusCode != 201 {
		t.Fatalf("mkcalendar %d %s", r.StatusCode, b)
	}
	r, b = e.do(t, u, "PROPPATCH", "/dav/calendars/jane@example.test/Work/", nil,
		`<D:propertyupdate xmlns:D="DAV:" xmlns:A="http://apple.com/ns/ical/" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><A:calendar-color>#FF0000FF</A:calendar-color><C:calendar-description>Desc</C:calendar-description><A:calendar-order>3</A:calendar-order></D:prop></D:set></D:propertyupdate>`)
	if r.StatusCode != 207 || !strings.Contains(b, "200 OK") {
		t.Fatalf("proppatch %d %s", r.StatusCode, b)
	}
	r, b = e.do(t, u, "PROPFIND", "/dav/calendars/jane@example.test/Work/", map[string]string{"Depth": "0"}, "")
	for _, want := range []string{"Work stuff", "#FF0000FF", "Desc", "<A:calendar-order>3", "<C:calendar/>", "write-content"} {
		if !strings.Contains(b, want) {
			t.Fatalf("propfind lacks %q: %s", want, b)
		}
	}
	r, b = e.do(t, u, "PROPPATCH", "/dav/calendars/jane@example.test/Work/", nil,
		`<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getetag>x</D:getetag></D:prop></D:set></D:propertyupdate>`)
	if !strings.Contains(b, "403 Forbidden") {
		t.Fatalf("protected property: %s", b)
	}
	r, b = e.do(t, u, "MKCOL", "/dav/addressbooks/jane@example.test/Friends/", nil,
		`<D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>`)
	if r.StatusCode != 201 {
		t.Fatalf("mkcol %d %s", r.StatusCode, b)
	}
	types, _ := e.st.FolderTypes(t.Context(), e.jane.ID)
	n := 0
	for _, typ := range types {
		if typ == "contact" {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("types %v", types)
	}
	// A subfolder is a collection one level down; objects resolve to the
	// deepest folder above them.
	if r, b := e.do(t, u, "MKCALENDAR", "/dav/calendars/jane@example.test/Calendar/Sub/", nil, ""); r.StatusCode != 201 {
		t.Fatalf("mkcalendar sub: %d %s", r.StatusCode, b)
	}
	for path, uid := range map[string]string{"Calendar/Sub/s.ics": "s1", "Calendar/c.ics": "c1"} {
		if r, b := e.do(t, u, "PUT", "/dav/calendars/jane@example.test/"+path, map[string]string{"Content-Type": "text/calendar"},
			event(uid, uid, "20260302T100000Z", "20260302T110000Z", "")); r.StatusCode != 201 {
			t.Fatalf("PUT %s: %d %s", path, r.StatusCode, b)
		}
	}
	sub, _ := e.st.Mailbox(t.Context(), e.jane.ID, "Calendar/Sub")
	if items, _ := e.st.Items(t.Context(), sub.ID, storage.ItemQuery{}); len(items) != 1 || items[0].Index.UID != "s1" {
		t.Fatalf("subfolder items: %+v", items)
	}
	if r, b := e.do(t, u, "PROPFIND", "/dav/calendars/jane@example.test/Calendar/Sub", map[string]string{"Depth": "1"}, ""); r.StatusCode != 207 ||
		!strings.Contains(b, "/dav/calendars/jane@example.test/Calendar/Sub/s.ics") {
		t.Fatalf("propfind sub without slash: %d %s", r.StatusCode, b)
	}
	if r, _ := e.do(t, u, "DELETE", "/dav/calendars/jane@example.test/Work/", nil, ""); r.StatusCode != 204 {
		t.Fatalf("delete collection %d", r.StatusCode)
	}
}

// TestCardDAV drives the address book with go-webdav's CardDAV client.
func TestCardDAV(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := t.Context()
	c, err := wcarddav.NewClient(e.client("john@example.test"), e.srv.URL+"/.well-known/carddav")
	if err != nil {
		t.Fatal(err)
	}
	home, err := c.FindAddressBookHomeSet(ctx, "/dav/principals/john@example.test/")
	if err != nil {
		t.Fatal(err)
	}
	books, err := c.FindAddressBooks(ctx, home)
	if err != nil || len(books) != 1 || books[0].Name != "Contacts" {
		t.Fatalf("books %+v %v", books, err)
	}
	p := books[0].Path
	for i, name := range []string{"Alice Example", "Bob Other"} {
		card := vcard.Card{}
		card.SetValue(vcard.FieldVersion, []string{"3.0", "4.0"}[i])
		card.SetValue(vcard.FieldUID, "uid-"+name[:3])
		card.SetValue(vcard.FieldFormattedName, name)
		card.SetValue(vcard.FieldEmail, strings.ToLower(name[:3])+"@example.org")
		if _, err := c.PutAddressObject(ctx, p+"c"+name[:3]+".vcf", card); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := c.QueryAddressBook(ctx, p, &wcarddav.AddressBookQuery{
		DataRequest: wcarddav.AddressDataRequest{AllProp: true},
		PropFilters: []wcarddav.PropFilter{{Name: "FN", TextMatches: []wcarddav.TextMatch{{Text: "alice", MatchType: wcarddav.MatchContains}}}},
	})
	if err != nil || len(objs) != 1 || objs[0].Card.PreferredValue(vcard.FieldFormattedName) != "Alice Example" {
		t.Fatalf("query %+v %v", objs, err)
	}
	sr, err := c.SyncCollection(ctx, p, &wcarddav.SyncQuery{DataRequest: wcarddav.AddressDataRequest{AllProp: true}})
	if err != nil || len(sr.Updated) != 2 || sr.SyncToken == "" {
		t.Fatalf("sync %+v %v", sr, err)
	}
	if _, err := c.PutAddressObject(ctx, p+"cAli.vcf", objs[0].Card); err != nil {
		t.Fatal(err)
	}
	sr2, err := c.SyncCollection(ctx, p, &wcarddav.SyncQuery{SyncToken: sr.SyncToken})
	if err != nil || len(sr2.Updated) != 1 || len(sr2.Deleted) != 0 {
		t.Fatalf("sync 2 %+v %v", sr2, err)
	}
}

// TestFreeBusy: the /freebusy URL and free-busy-query give the same
// periods: recurrences expanded, transparent and cancelled events
// skipped, tentative marked, no summaries or locations.
func TestFreeBusy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := "jane@example.test"
	path := "/dav/calendars/jane@example.test/Calendar/"
	for name, data := range map[string]string{
		"a.ics": event("a", "Secret meeting", "20260302T100000Z", "20260302T110000Z", ""),
		"b.ics": event("b", "Overlap", "20260302T103000Z", "20260302T120000Z", ""),
		"c.ics": event("c", "Free", "20260303T100000Z", "20260303T110000Z", "TRANSP:TRANSPARENT\n"),
		"d.ics": event("d", "Cancelled", "20260304T100000Z", "20260304T110000Z", "STATUS:CANCELLED\n"),
		"e.ics": event("e", "Maybe", "20260305T100000Z", "20260305T110000Z", "STATUS:TENTATIVE\n"),
		"f.ics": event("f", "Weekly", "20260105T080000Z", "20260105T083000Z", "RRULE:FREQ=WEEKLY;BYDAY=FR\nEXDATE:20260306T080000Z\n"),
	} {
		if r, b := e.do(t, u, "PUT", path+name, map[string]string{"Content-Type": "text/calendar"}, data); r.StatusCode != 201 {
			t.Fatalf("%s %d %s", name, r.StatusCode, b)
		}
	}
	want := []string{
		"FREEBUSY;FBTYPE=BUSY:20260302T100000Z/20260302T120000Z",
		"FREEBUSY;FBTYPE=BUSY-TENTATIVE:20260305T100000Z/20260305T110000Z",
		"FREEBUSY;FBTYPE=BUSY:20260313T080000Z/20260313T083000Z",
	}
	check := func(what, b string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(b, w) {
				t.Fatalf("%s lacks %s:\n%s", what, w, b)
			}
		}
		for _, no := range []string{"Secret", "Room", "20260303T100000Z/", "20260304T100000Z/", "20260306T080000Z/"} {
			if strings.Contains(b, no) {
				t.Fatalf("%s reveals %q:\n%s", what, no, b)
			}
		}
	}
	r, b := e.do(t, "john@example.test", "GET", "/freebusy/?jane@example.test&start=20260301T000000Z&end=20260320T000000Z", nil, "")
	if r.StatusCode != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/calendar") || strings.Count(b, "BEGIN:VFREEBUSY") != 1 {
		t.Fatalf("%d %s", r.StatusCode, b)
	}
	check("/freebusy", b)
	r, b = e.do(t, u, "REPORT", path, map[string]string{"Depth": "1"},
		`<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20260301T000000Z" end="20260320T000000Z"/></C:free-busy-query>`)
	if r.StatusCode != 200 {
		t.Fatalf("free-busy-query %d %s", r.StatusCode, b)
	}
	check("free-busy-query", b)
	// The default window, the path form, and the access rule.
	if r, b := e.do(t, "john@example.test", "GET", "/freebusy/jane@example.test", nil, ""); r.StatusCode != 200 || !strings.Contains(b, "DTSTART:20260222T000000Z") {
		t.Fatalf("default window %d %s", r.StatusCode, b)
	}
	if r, _ := e.do(t, "", "GET", "/freebusy/?jane@example.test", nil, ""); r.StatusCode != 401 {
		t.Fatalf("anonymous %d", r.StatusCode)
	}
	if r, _ := e.do(t, "john@example.test", "GET", "/freebusy/?nobody@example.test", nil, ""); r.StatusCode != 404 {
		t.Fatalf("unknown %d", r.StatusCode)
	}
}

// TestXMLLimits: oversized and deeply nested bodies are refused before
// parsing.
func TestXMLLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := "jane@example.test"
	path := "/dav/calendars/jane@example.test/Calendar/"
	deep := `<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav">` + strings.Repeat("<C:comp-filter name=\"X\">", 200) + strings.Repeat("</C:comp-filter>", 200) + `</C:calendar-query>`
	if r, _ := e.do(t, u, "REPORT", path, nil, deep); r.StatusCode != 400 {
		t.Fatalf("deep: %d", r.StatusCode)
	}
	big := `<D:propfind xmlns:D="DAV:"><D:prop>` + strings.Repeat("<D:getetag/>", 200000) + `</D:prop></D:propfind>`
	if r, _ := e.do(t, u, "PROPFIND", path, nil, big); r.StatusCode != 413 {
		t.Fatalf("big: %d", r.StatusCode)
	}
	if r, _ := e.do(t, u, "PROPFIND", path, nil, `<!DOCTYPE x [<!ENTITY a "b">]><D:propfind xmlns:D="DAV:"/>`); r.StatusCode != 400 {
		t.Fatalf("dtd: %d", r.StatusCode)
	}
	if r, _ := e.do(t, u, "REPORT", path, nil, `<D:propfind xmlns:D="DAV:"><D:prop>`); r.StatusCode != 400 {
		t.Fatalf("malformed: %d", r.StatusCode)
	}
	var buf bytes.Buffer
	buf.WriteString("x")
	_ = context.Background
}

// sharedAccess is an Access as storage/view gives it: john sees his own
// folders and Jane's Calendar shared with him read-only ("lr").
type sharedAccess struct {
	e    *env
	acct storage.Account
}

func (a sharedAccess) Folders(ctx context.Context) ([]Folder, error) {
	own, err := OwnerAccess(a.e.st, a.acct).Folders(ctx)
	if err != nil || a.acct.ID != a.e.john.ID {
		return own, err
	}
	cal, err := a.e.st.Mailbox(ctx, a.e.jane.ID, "Calendar")
	if err != nil {
		return nil, err
	}
	tasks, err := a.e.st.Mailbox(ctx, a.e.jane.ID, "Tasks")
	if err != nil {
		return nil, err
	}
	lr, _ := acl.Parse("lr")
	r, _ := acl.Parse("r") // no "l": must stay invisible
	return append(own,
		Folder{Mailbox: cal, Name: "~jane@example.test/Calendar", Owner: a.e.jane, Type: "event", Rights: lr},
		Folder{Mailbox: tasks, Name: "~jane@example.test/Tasks", Owner: a.e.jane, Type: "task", Rights: r}), nil
}

// TestSharedFolders: the seed's Jane/John scenario at the DAV layer: a
// calendar Jane shares read-only appears in John's calendar home with
// read privileges only; John reads it, his PUT and DELETE get 403; a
// folder without "l" is neither listed nor reachable.
func TestSharedFolders(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(e *env, r *http.Request, acct storage.Account) Access { return sharedAccess{e, acct} })
	jane := "/dav/calendars/jane@example.test/Calendar/"
	if r, b := e.do(t, "jane@example.test", "PUT", jane+"m.ics", map[string]string{"Content-Type": "text/calendar"},
		event("m1", "Jane's meeting", "20260302T100000Z", "20260302T110000Z", "")); r.StatusCode != 201 {
		t.Fatalf("%d %s", r.StatusCode, b)
	}
	r, b := e.do(t, "john@example.test", "PROPFIND", "/dav/calendars/john@example.test/", map[string]string{"Depth": "1"},
		`<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/><D:current-user-privilege-set/></D:prop></D:propfind>`)
	shared := "/dav/calendars/john@example.test/~jane@example.test/Calendar/"
	if r.StatusCode != 207 || !strings.Contains(b, shared) || strings.Contains(b, "Tasks (jane") {
		t.Fatalf("john's home: %s", b)
	}
	i := strings.Index(b, shared)
	resp := b[i:]
	resp = resp[:strings.Index(resp, "</D:response>")]
	if !strings.Contains(resp, "<D:read/>") || strings.Contains(resp, "<D:write") || strings.Contains(resp, "<D:bind/>") ||
		!strings.Contains(resp, "Calendar (jane@example.test)") {
		t.Fatalf("privileges of the shared calendar: %s", resp)
	}
	if r, b := e.do(t, "john@example.test", "GET", shared+"m.ics", nil, ""); r.StatusCode != 200 || !strings.Contains(b, "Jane's meeting") {
		t.Fatalf("john reads: %d %s", r.StatusCode, b)
	}
	if r, _ := e.do(t, "john@example.test", "PUT", shared+"x.ics", map[string]string{"Content-Type": "text/calendar"},
		event("x1", "John's", "20260302T100000Z", "20260302T110000Z", "")); r.StatusCode != 403 {
		t.Fatalf("john's PUT: %d", r.StatusCode)
	}
	if r, _ := e.do(t, "john@example.test", "DELETE", shared+"m.ics", nil, ""); r.StatusCode != 403 {
		t.Fatalf("john's DELETE: %d", r.StatusCode)
	}
	if r, _ := e.do(t, "john@example.test", "PROPFIND", "/dav/calendars/john@example.test/~jane@example.test/Tasks/", map[string]string{"Depth": "0"}, ""); r.StatusCode != 404 {
		t.Fatalf("folder without l: %d", r.StatusCode)
	}
}
