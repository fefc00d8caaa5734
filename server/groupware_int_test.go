package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-webdav"
	wcaldav "github.com/emersion/go-webdav/caldav"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/item"
)

// TestGroupwareOneStore starts the real server (HTTPS and IMAP on
// loopback) and checks that CalDAV and IMAP are one store: an event PUT
// over CalDAV reaches an IDLE session of the Calendar folder as a new
// message with the UID as Subject; an item APPENDed over IMAP is a CalDAV
// object with a new sync-token and ctag; expunged over IMAP, it is gone
// from CalDAV. Free/busy is served at /freebusy/.
func TestGroupwareOneStore(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listeners.HTTPS = "127.0.0.1:0"
	cfg.Auth.FailureDelay = 0
	addAccount(t, cfg, "jane@example.test", "jane-Secret-1")
	srv := startServer(t, cfg)
	addrs := srv.Addrs()
	base := "https://" + addrs["https"].String()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(t, cfg.Server.DataDir, "127.0.0.1")}, Timeout: 30 * time.Second}
	dc := webdav.HTTPClientWithBasicAuth(hc, "jane@example.test", "jane-Secret-1")
	cc, err := wcaldav.NewClient(dc, base+"/.well-known/caldav")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	cals, err := cc.FindCalendars(ctx, "/dav/calendars/jane@example.test/")
	if err != nil || len(cals) == 0 {
		t.Fatalf("calendars %v %v", cals, err)
	}
	calPath := "/dav/calendars/jane@example.test/Calendar/"

	// IMAP: IDLE on Calendar.
	exists := make(chan uint32, 10)
	ic, err := imapclient.DialInsecure(addrs["imap"].String(), &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("jane@example.test", "jane-Secret-1").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("Calendar", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := ic.Idle()
	if err != nil {
		t.Fatal(err)
	}

	ev := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:dav-1\r\nDTSTAMP:20260101T000000Z\r\n" +
		"DTSTART:20260302T100000Z\r\nDTEND:20260302T110000Z\r\nSUMMARY:From DAV\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	cal, err := ical.NewDecoder(strings.NewReader(ev)).Decode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.PutCalendarObject(ctx, calPath+"dav-1.ics", cal); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-exists:
		if n != 1 {
			t.Fatalf("EXISTS %d", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the IDLE session did not see the DAV PUT")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := ic.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "dav-1" {
		t.Fatalf("fetch %+v %v", msgs, err)
	}

	propfind := func() (ctag, token string) {
		t.Helper()
		req, _ := http.NewRequest("PROPFIND", base+calPath, strings.NewReader(`<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/><D:sync-token/></D:prop></D:propfind>`))
		req.Header.Set("Depth", "0")
		req.SetBasicAuth("jane@example.test", "jane-Secret-1")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		s := string(b)
		cut := func(open, close string) string {
			i := strings.Index(s, open)
			j := strings.Index(s, close)
			if i < 0 || j < i {
				t.Fatalf("no %s in %s", open, s)
			}
			return s[i+len(open) : j]
		}
		return cut("<CS:getctag>", "</CS:getctag>"), cut("<D:sync-token>", "</D:sync-token>")
	}
	ctag1, tok1 := propfind()

	// IMAP APPEND of an item message: a new CalDAV object.
	data := []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:imap-1\r\nDTSTAMP:20260101T000000Z\r\n" +
		"DTSTART:20260303T100000Z\r\nDTEND:20260303T110000Z\r\nSUMMARY:From IMAP\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
	idx, err := item.ParseCalendar(data)
	if err != nil {
		t.Fatal(err)
	}
	msg := item.Compose(idx, data, item.MessageOptions{FolderType: "event", From: "jane@example.test"})
	ac := ic.Append("Calendar", int64(len(msg)), nil)
	ac.Write(msg)
	ac.Close()
	appended, err := ac.Wait()
	if err != nil {
		t.Fatal(err)
	}
	obj, err := cc.GetCalendarObject(ctx, calPath+"imap-1.ics")
	if err != nil || obj.Data.Children[0].Props.Get(ical.PropSummary).Value != "From IMAP" {
		t.Fatalf("appended item over CalDAV: %+v %v", obj, err)
	}
	ctag2, tok2 := propfind()
	if ctag2 == ctag1 || tok2 == tok1 {
		t.Fatalf("ctag/sync-token unchanged after APPEND: %s %s", ctag2, tok2)
	}

	// IMAP expunge: gone over CalDAV.
	if _, err := ic.Select("Calendar", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	uidSet := imap.UIDSetNum(appended.UID)
	if err := ic.Store(uidSet, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}, Silent: true}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := ic.UIDExpunge(uidSet).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.GetCalendarObject(ctx, calPath+"imap-1.ics"); err == nil {
		t.Fatal("expunged item still served")
	}
	ctag3, _ := propfind()
	if ctag3 == ctag2 {
		t.Fatal("ctag unchanged after EXPUNGE")
	}

	// A typed folder created over IMAP (CREATE + SETMETADATA) is a
	// CalDAV calendar at once.
	if err := ic.Create("Work", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	typ := []byte("event")
	if err := ic.SetMetadata("Work", map[string]*[]byte{"/shared/vendor/kolab/folder-type": &typ}).Wait(); err != nil {
		t.Fatal(err)
	}
	cals, err = cc.FindCalendars(ctx, "/dav/calendars/jane@example.test/")
	found := false
	for _, c := range cals {
		found = found || c.Path == "/dav/calendars/jane@example.test/Work/"
	}
	if err != nil || !found {
		t.Fatalf("IMAP-created calendar not found: %+v %v", cals, err)
	}

	// Free/busy over HTTPS, authenticated, same domain.
	req, _ := http.NewRequest("GET", base+"/freebusy/?jane@example.test&start=20260301T000000Z&end=20260310T000000Z", nil)
	req.SetBasicAuth("jane@example.test", "jane-Secret-1")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), "FREEBUSY;FBTYPE=BUSY:20260302T100000Z/20260302T110000Z") || strings.Contains(string(b), "From DAV") {
		t.Fatalf("freebusy %d %s", resp.StatusCode, b)
	}
	ic.Logout().Wait()
}

// TestGroupwareSharing is the seed's Jane and John scenario over CalDAV
// (real server, storage/view): Jane shares her Calendar with John
// read-only; John's discovery finds it in his calendar home with read
// privileges only; he reads her event; his PUT gets 403; her free/busy
// shows the busy time without the details. A folder she did not share
// does not exist for him.
func TestGroupwareSharing(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listeners.HTTPS = "127.0.0.1:0"
	cfg.Auth.FailureDelay = 0
	addAccount(t, cfg, "jane@example.test", "jane-Secret-1")
	addAccount(t, cfg, "john@example.test", "john-Secret-1")
	srv := startServer(t, cfg)
	base := "https://" + srv.Addrs()["https"].String()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(t, cfg.Server.DataDir, "127.0.0.1")}, Timeout: 30 * time.Second}
	do := func(user, pass, method, path, body string, hdr ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.SetBasicAuth(user, pass)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ev := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:jane-1\r\nDTSTAMP:20260101T000000Z\r\n" +
		"DTSTART:20260302T100000Z\r\nDTEND:20260302T110000Z\r\nSUMMARY:Secret budget talk\r\nLOCATION:Room 7\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	if code, b := do("jane@example.test", "jane-Secret-1", "PUT", "/dav/calendars/jane@example.test/Calendar/jane-1.ics", ev, "Content-Type", "text/calendar"); code != 201 {
		t.Fatalf("jane's PUT: %d %s", code, b)
	}
	// Jane shares her Calendar with John: Read (lrs).
	st, err := OpenStore(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	jane, _ := st.Account(t.Context(), "jane@example.test")
	cal, _ := st.Mailbox(t.Context(), jane.ID, "Calendar")
	read, _ := acl.Parse("lrs")
	if _, _, err := st.ChangeACL(t.Context(), jane.ID, cal.ID, []acl.Change{{Identifier: "john@example.test", Op: acl.OpSet, Rights: read}}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	cc, err := wcaldav.NewClient(webdav.HTTPClientWithBasicAuth(hc, "john@example.test", "john-Secret-1"), base+"/.well-known/caldav")
	if err != nil {
		t.Fatal(err)
	}
	wc, _ := webdav.NewClient(webdav.HTTPClientWithBasicAuth(hc, "john@example.test", "john-Secret-1"), base+"/.well-known/caldav")
	principal, err := wc.FindCurrentUserPrincipal(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	home, err := cc.FindCalendarHomeSet(t.Context(), principal)
	if err != nil {
		t.Fatal(err)
	}
	cals, err := cc.FindCalendars(t.Context(), home)
	if err != nil {
		t.Fatal(err)
	}
	shared := ""
	for _, c := range cals {
		if strings.Contains(c.Path, "jane") {
			shared = c.Path
		}
		if strings.Contains(c.Path, "Tasks") && strings.Contains(c.Path, "jane") {
			t.Fatalf("an unshared folder of Jane's is listed: %s", c.Path)
		}
	}
	if shared != "/dav/calendars/john@example.test/~jane@example.test/Calendar/" {
		t.Fatalf("John's calendars: %+v", cals)
	}
	code, b := do("john@example.test", "john-Secret-1", "PROPFIND", shared, `<D:propfind xmlns:D="DAV:"><D:prop><D:current-user-privilege-set/></D:prop></D:propfind>`, "Depth", "0")
	if code != 207 || !strings.Contains(b, "<D:read/>") || strings.Contains(b, "write") || strings.Contains(b, "bind") {
		t.Fatalf("John's privileges: %d %s", code, b)
	}
	if code, b := do("john@example.test", "john-Secret-1", "GET", shared+"jane-1.ics", ""); code != 200 || !strings.Contains(b, "Secret budget talk") {
		t.Fatalf("John reads Jane's event: %d %s", code, b)
	}
	if code, _ := do("john@example.test", "john-Secret-1", "PUT", shared+"john-1.ics", strings.ReplaceAll(ev, "jane-1", "john-1"), "Content-Type", "text/calendar"); code != 403 {
		t.Fatalf("John's PUT into Jane's calendar: %d", code)
	}
	if code, _ := do("john@example.test", "john-Secret-1", "PROPFIND", "/dav/calendars/john@example.test/~jane@example.test/Tasks/", "", "Depth", "0"); code != 404 {
		t.Fatalf("Jane's unshared Tasks: %d", code)
	}
	// The Global Address Book of the domain: a read-only address book in
	// every account's home, listing Jane and John.
	gal := "/dav/addressbooks/john@example.test/%23public/Global%20Address%20Book/"
	code, b = do("john@example.test", "john-Secret-1", "PROPFIND", "/dav/addressbooks/john@example.test/", "", "Depth", "1")
	if code != 207 || !strings.Contains(b, gal) {
		t.Fatalf("John's address books: %d %s", code, b)
	}
	code, b = do("john@example.test", "john-Secret-1", "REPORT", gal,
		`<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><CR:address-data/></D:prop></CR:addressbook-query>`, "Depth", "1")
	if code != 207 || !strings.Contains(b, "EMAIL;TYPE=work:jane@example.test") || !strings.Contains(b, "EMAIL;TYPE=work:john@example.test") {
		t.Fatalf("the Global Address Book: %d %s", code, b)
	}
	if code, _ := do("john@example.test", "john-Secret-1", "PUT", gal+"x.vcf", "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:x\r\nEND:VCARD\r\n", "Content-Type", "text/vcard"); code != 403 {
		t.Fatalf("PUT into the Global Address Book: %d", code)
	}

	code, b = do("john@example.test", "john-Secret-1", "GET", "/freebusy/?jane@example.test&start=20260301T000000Z&end=20260310T000000Z", "")
	if code != 200 || !strings.Contains(b, "FREEBUSY;FBTYPE=BUSY:20260302T100000Z/20260302T110000Z") || strings.Contains(b, "Secret") || strings.Contains(b, "Room") {
		t.Fatalf("free/busy: %d %s", code, b)
	}
}

// TestGroupwareFoldersAtFirstIMAPLogin: an account created behind the
// server's back while it runs (the bare storage call, no CLI, no config
// file) has its groupware folders by the end of its first IMAP LOGIN,
// typed, before any DAV request.
func TestGroupwareFoldersAtFirstIMAPLogin(t *testing.T) {
	cfg := testConfig(t)
	cfg.Auth.FailureDelay = 0
	srv := startServer(t, cfg)
	addAccount(t, cfg, "late@example.test", "late-Secret-1")
	ic, err := imapclient.DialInsecure(srv.Addrs()["imap"].String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("late@example.test", "late-Secret-1").Wait(); err != nil {
		t.Fatal(err)
	}
	list, err := ic.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, l := range list {
		have[l.Mailbox] = true
	}
	for _, g := range storage.GroupwareMailboxes {
		if !have[g.Name] {
			t.Errorf("no %s after the first login; LIST: %v", g.Name, have)
		}
	}
	md, err := ic.GetMetadata("Calendar", []string{storage.FolderTypeEntry}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if v := md.Entries[storage.FolderTypeEntry]; v == nil || string(*v) != "event" {
		t.Errorf("Calendar's type: %v", md.Entries)
	}
}

// TestGALFollowsDirectory: changes made to the directory by another
// process while the server runs (here a second store handle, as the CLI
// opens one) reach the Global Address Book within seconds, not at the
// 5-minute safety net: a display name set, an account added with its
// name, a group; the cards carry the display names.
func TestGALFollowsDirectory(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listeners.HTTPS = "127.0.0.1:0"
	cfg.Auth.FailureDelay = 0
	addAccount(t, cfg, "jane@example.test", "jane-Secret-1")
	srv := startServer(t, cfg)
	base := "https://" + srv.Addrs()["https"].String()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(t, cfg.Server.DataDir, "127.0.0.1")}, Timeout: 30 * time.Second}
	book := func() string {
		t.Helper()
		req, _ := http.NewRequest("REPORT", base+"/dav/addressbooks/jane@example.test/%23public/Global%20Address%20Book/",
			strings.NewReader(`<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><CR:address-data/></D:prop></CR:addressbook-query>`))
		req.Header.Set("Depth", "1")
		req.SetBasicAuth("jane@example.test", "jane-Secret-1")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 207 {
			t.Fatalf("the Global Address Book: %d %s", resp.StatusCode, b)
		}
		return string(b)
	}
	if b := book(); !strings.Contains(b, "FN:jane") {
		t.Fatalf("before: %s", b)
	}
	st, err := OpenStore(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	jane, _ := st.Account(ctx, "jane@example.test")
	jane.Name = "Jane Doe"
	if err := st.UpdateAccount(ctx, jane); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccount(ctx, storage.Account{Address: "max@example.test", Name: "Max Mustermann", PasswordHash: mustHash(t, "max-Secret-12")}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutGroup(ctx, storage.Group{Address: "team@example.test", Members: []string{"jane@example.test", "max@example.test"}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	want := []string{"FN:Jane Doe", "N:Doe;Jane;;;", "FN:Max Mustermann", "EMAIL;TYPE=work:max@example.test", "MEMBER:mailto:max@example.test"}
	deadline := time.Now().Add(15 * time.Second)
	for {
		b := book()
		missing := ""
		for _, w := range want {
			if !strings.Contains(b, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Global Address Book did not follow the directory (no %q): %s", missing, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
