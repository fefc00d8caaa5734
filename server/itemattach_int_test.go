package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage/ingest"
	"github.com/floemail/floe/storage/item"
	"github.com/floemail/floe/storage/view"
)

// davClient sends raw HTTP requests to one server as one account.
type davClient struct {
	t          *testing.T
	hc         *http.Client
	base       string // https://127.0.0.1:port
	user, pass string
}

type davResp struct {
	code int
	hdr  http.Header
	body []byte
}

func (c *davClient) do(method, path string, body []byte, hdr ...string) davResp {
	c.t.Helper()
	u := path
	if !strings.HasPrefix(u, "https://") {
		u = c.base + path
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return davResp{resp.StatusCode, resp.Header, b}
}

func (c *davClient) expect(want int, method, path string, body []byte, hdr ...string) davResp {
	c.t.Helper()
	r := c.do(method, path, body, hdr...)
	if r.code != want {
		c.t.Fatalf("%s %s %s: %d, want %d\n%s", c.user, method, path, r.code, want, r.body)
	}
	return r
}

// local turns an attachment URL (the configured public host) into one of
// the test server's https listener.
func (c *davClient) local(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.base + p.EscapedPath()
}

var attachLineRE = regexp.MustCompile(`ATTACH;MANAGED-ID=([0-9a-f]+);FMTTYPE=([^;]+);SIZE=(\d+);FILENAME=([^;]+);VALUE=URI:(\S+)`)

// attachLines returns the managed ATTACH properties of a calendar object
// (unfolded): managed ID, type, size, file name, URL.
func attachLines(data []byte) [][]string {
	unfolded := strings.ReplaceAll(string(data), "\r\n ", "")
	var out [][]string
	for _, m := range attachLineRE.FindAllStringSubmatch(unfolded, -1) {
		out = append(out, m[1:])
	}
	return out
}

const attachEvent = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20260101T000000Z\r\n" +
	"DTSTART:20260302T100000Z\r\nDTEND:20260302T110000Z\r\nSUMMARY:Board meeting\r\n%sEND:VEVENT\r\nEND:VCALENDAR\r\n"

func eventICS(uid, extra string) []byte {
	return []byte(strings.Replace(strings.Replace(attachEvent, "%s", uid, 1), "%s", extra, 1))
}

// TestManagedAttachments drives RFC 8607 over raw HTTP against the real
// server: the capability and properties, attachment-add (201,
// Cal-Managed-ID, the ATTACH property in the item, the file over WebDAV),
// attachment-update (new managed ID and file, the old file gone),
// attachment-remove; the limits (403 max-attachment-size, 403
// max-attachments-per-resource), an unknown managed ID (403
// valid-managed-id-parameter), an unknown instance (403
// valid-rid-parameter): RFC 8607 3.8 preconditions, answered 403 as
// Apple's server does and CalDAVTester expects; reading an
// attachment follows the calendar's ACL (404 without rights, 200 with
// read, POST refused without write); inline attachments of a PUT and of an
// IMAP APPEND become files; DELETE of the item removes its files.
func TestManagedAttachments(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listeners.HTTPS = "127.0.0.1:0"
	cfg.Server.Hostname = "mail.example.test"
	cfg.Auth.FailureDelay = 0
	cfg.Files.MaxItemAttachmentSize = 256 * config.KiB
	cfg.Files.MaxItemAttachments = 2
	addAccount(t, cfg, "alice@example.test", "alice-Secret-1")
	addAccount(t, cfg, "bob@example.test", "bob-Secret-1")
	srv := startServer(t, cfg)
	addrs := srv.Addrs()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(t, cfg.Server.DataDir, "127.0.0.1")}, Timeout: 30 * time.Second}
	base := "https://" + addrs["https"].String()
	alice := &davClient{t: t, hc: hc, base: base, user: "alice@example.test", pass: "alice-Secret-1"}
	bob := &davClient{t: t, hc: hc, base: base, user: "bob@example.test", pass: "bob-Secret-1"}
	cal := "/dav/calendars/alice@example.test/Calendar/"
	ev := cal + "board.ics"

	// The capability (RFC 8607 3.1) and properties (6.1-6.3).
	if r := alice.expect(200, "OPTIONS", "/dav/calendars/alice@example.test/", nil); !strings.Contains(r.hdr.Get("DAV"), "calendar-managed-attachments") ||
		!strings.Contains(r.hdr.Get("Allow"), "POST") {
		t.Fatalf("OPTIONS: DAV %q Allow %q", r.hdr.Get("DAV"), r.hdr.Get("Allow"))
	}
	propfind := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>` +
		`<C:managed-attachments-server-URL/><C:max-attachment-size/><C:max-attachments-per-resource/></D:prop></D:propfind>`
	for _, p := range []string{"/dav/calendars/alice@example.test/", cal} {
		r := alice.expect(207, "PROPFIND", p, []byte(propfind), "Depth", "0", "Content-Type", "application/xml")
		for _, want := range []string{"https://mail.example.test/</D:href>", ">262144</", ">2</"} {
			if !strings.Contains(string(r.body), want) {
				t.Fatalf("PROPFIND %s lacks %q:\n%s", p, want, r.body)
			}
		}
	}

	alice.expect(201, "PUT", ev, eventICS("board-1", ""), "Content-Type", "text/calendar")
	pdf := make([]byte, 100_000)
	rand.Read(pdf)
	add := func(c *davClient, data []byte, name string) davResp {
		return c.do("POST", ev+"?action=attachment-add", data, "Content-Type", "application/pdf",
			"Content-Disposition", `attachment; filename="`+name+`"`, "Prefer", "return=representation")
	}
	r := add(alice, pdf, "agenda.pdf")
	if r.code != 201 || r.hdr.Get("Cal-Managed-ID") == "" || r.hdr.Get("ETag") == "" || r.hdr.Get("Content-Location") != ev ||
		r.hdr.Get("Location") != "https://mail.example.test/webdav/alice@example.test/Files/Calendar%20Attachments/Calendar/agenda.pdf" {
		t.Fatalf("attachment-add: %d %v\n%s", r.code, r.hdr, r.body)
	}
	atts := attachLines(r.body)
	if len(atts) != 1 || atts[0][0] != r.hdr.Get("Cal-Managed-ID") || atts[0][1] != "application/pdf" || atts[0][2] != "100000" || atts[0][3] != "agenda.pdf" ||
		atts[0][4] != "https://mail.example.test/webdav/alice@example.test/Files/Calendar%20Attachments/Calendar/agenda.pdf" {
		t.Fatalf("ATTACH %q in\n%s", atts, r.body)
	}
	// The item as stored carries it, with the ETag returned.
	got := alice.expect(200, "GET", ev, nil)
	if got.hdr.Get("ETag") != r.hdr.Get("ETag") || len(attachLines(got.body)) != 1 {
		t.Fatalf("GET item: ETag %q (POST %q)\n%s", got.hdr.Get("ETag"), r.hdr.Get("ETag"), got.body)
	}
	if _, err := item.ParseCalendar(got.body); err != nil {
		t.Fatalf("stored item: %v", err)
	}
	url1 := alice.local(atts[0][4])
	if f := alice.expect(200, "GET", url1, nil); !bytes.Equal(f.body, pdf) {
		t.Fatalf("attachment over WebDAV: %d bytes", len(f.body))
	}

	// Reading follows the calendar's ACL: bob sees nothing, then reads
	// with "lr" (as floe share add does), but may not change the item.
	nothing := bob.do("GET", base+"/webdav/alice@example.test/Files/Nope/agenda.pdf", nil)
	if b := bob.do("GET", url1, nil); b.code != 404 || string(b.body) != string(nothing.body) {
		t.Fatalf("bob without rights: %d %q (nothing: %q)", b.code, b.body, nothing.body)
	}
	share := func(rights string) {
		t.Helper()
		st, err := OpenStore(context.Background(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		a, _ := st.Account(context.Background(), "alice@example.test")
		mb, _ := st.Mailbox(context.Background(), a.ID, "Calendar")
		rs, _ := acl.Parse(rights)
		if _, _, err := view.NewAdmin(st, view.Options{}).ChangeACL(context.Background(), a.ID, mb.ID,
			[]acl.Change{{Identifier: "bob@example.test", Op: acl.OpSet, Rights: rs}}); err != nil {
			t.Fatal(err)
		}
	}
	share("lrs")
	if b := bob.expect(200, "GET", url1, nil); !bytes.Equal(b.body, pdf) {
		t.Fatal("bob reads other bytes")
	}
	bob.expect(404, "GET", base+"/webdav/alice@example.test/Files/a-file-not-attached.txt", nil)
	if b := add(bob, []byte("x"), "x.txt"); b.code != 403 && b.code != 404 {
		t.Fatalf("bob adds without write: %d", b.code)
	}
	bob.expect(403, "PUT", url1, []byte("overwrite"))

	// Limits: too large, too many (403 with the precondition).
	big := add(alice, make([]byte, 300*1024), "big.bin")
	if big.code != 403 || !strings.Contains(string(big.body), "max-attachment-size") {
		t.Fatalf("too large: %d %s", big.code, big.body)
	}
	second := add(alice, []byte("second file"), "notes.txt")
	if second.code != 201 {
		t.Fatalf("second add: %d %s", second.code, second.body)
	}
	third := add(alice, []byte("third"), "three.txt")
	if third.code != 403 || !strings.Contains(string(third.body), "max-attachments-per-resource") {
		t.Fatalf("third add: %d %s", third.code, third.body)
	}

	// Update: a new managed ID and file; the old file goes.
	id1 := atts[0][0]
	up := alice.do("POST", ev+"?action=attachment-update&managed-id="+id1, []byte("version 2"), "Content-Type", "text/plain",
		"Content-Disposition", "attachment;filename=agenda-v2.txt")
	if up.code != 204 || up.hdr.Get("Cal-Managed-ID") == "" || up.hdr.Get("Cal-Managed-ID") == id1 || !strings.HasSuffix(up.hdr.Get("Location"), "/agenda-v2.txt") {
		t.Fatalf("attachment-update: %d %v %s", up.code, up.hdr, up.body)
	}
	atts = attachLines(alice.expect(200, "GET", ev, nil).body)
	if len(atts) != 2 || atts[0][0] != up.hdr.Get("Cal-Managed-ID") || atts[0][3] != "agenda-v2.txt" || atts[0][2] != "9" {
		t.Fatalf("after update: %q", atts)
	}
	alice.expect(404, "GET", url1, nil)
	if f := alice.expect(200, "GET", alice.local(atts[0][4]), nil); string(f.body) != "version 2" {
		t.Fatalf("updated file %q", f.body)
	}
	// Unknown managed ID, unknown instance, unknown action, no such item.
	for _, q := range []string{"action=attachment-update&managed-id=nope", "action=attachment-remove&managed-id=nope", "action=attachment-remove"} {
		if r := alice.do("POST", ev+"?"+q, []byte("x")); r.code != 403 || !strings.Contains(string(r.body), "<C:valid-managed-id-parameter") {
			t.Fatalf("%s: %d %s", q, r.code, r.body)
		}
	}
	if r := alice.do("POST", ev+"?action=attachment-add&rid=20300101T000000Z", []byte("x")); r.code != 403 || !strings.Contains(string(r.body), "<C:valid-rid-parameter") {
		t.Fatalf("unknown rid: %d %s", r.code, r.body)
	}
	alice.expect(400, "POST", ev+"?action=attachment-frobnicate", nil)
	alice.expect(404, "POST", cal+"missing.ics?action=attachment-add", []byte("x"))

	// Remove: 200 with the representation, the file gone.
	rm := alice.expect(200, "POST", ev+"?action=attachment-remove&managed-id="+atts[1][0], nil, "Prefer", "return=representation")
	if left := attachLines(rm.body); len(left) != 1 || left[0][0] != atts[0][0] {
		t.Fatalf("after remove: %q", left)
	}
	alice.expect(404, "GET", alice.local(atts[1][4]), nil)

	// Inline attachment in a PUT: moved into a file, no ETag returned.
	inline := make([]byte, 5000)
	rand.Read(inline)
	b64 := base64.StdEncoding.EncodeToString(inline)
	prop := "ATTACH;FMTTYPE=image/png;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=photo.png:" + b64
	var folded strings.Builder
	for len(prop) > 75 {
		folded.WriteString(prop[:75] + "\r\n ")
		prop = prop[75:]
	}
	folded.WriteString(prop + "\r\n")
	put := alice.expect(201, "PUT", cal+"inline.ics", eventICS("inline-1", folded.String()), "Content-Type", "text/calendar")
	if put.hdr.Get("ETag") != "" {
		t.Fatal("ETag returned for a rewritten item")
	}
	stored := alice.expect(200, "GET", cal+"inline.ics", nil)
	if bytes.Contains(stored.body, []byte(b64[:100])) {
		t.Fatal("inline data still in the item")
	}
	in := attachLines(stored.body)
	if len(in) != 1 || in[0][3] != "photo.png" || in[0][1] != "image/png" {
		t.Fatalf("inline attachment became %q\n%s", in, stored.body)
	}
	if f := bob.expect(200, "GET", bob.local(in[0][4]), nil); !bytes.Equal(f.body, inline) { // bob reads the calendar
		t.Fatal("inline attachment's file differs")
	}
	// DELETE of the item removes its attachment.
	alice.expect(204, "DELETE", cal+"inline.ics", nil)
	alice.expect(404, "GET", alice.local(in[0][4]), nil)

	// IMAP APPEND of a bare text/calendar message with an inline
	// attachment: the same.
	ic, err := imapclient.DialInsecure(addrs["imap"].String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("alice@example.test", "alice-Secret-1").Wait(); err != nil {
		t.Fatal(err)
	}
	msg := "From: alice@example.test\r\nSubject: imap-1\r\nContent-Type: text/calendar; charset=utf-8\r\n\r\n" +
		string(eventICS("imap-1", folded.String()))
	ap := ic.Append("Calendar", int64(len(msg)), nil)
	io.WriteString(ap, msg)
	ap.Close()
	if _, err := ap.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("Calendar", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var all imap.SeqSet
	all.AddRange(1, 0)
	res, err := ic.Fetch(all, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var appended []byte
	for _, m := range res {
		if b := m.FindBodySection(&imap.FetchItemBodySection{}); bytes.Contains(b, []byte("imap-1")) {
			appended = b
		}
	}
	if appended == nil || bytes.Contains(appended, []byte(b64[:100])) {
		t.Fatalf("appended item:\n%.3000s", appended)
	}
	ia := attachLines(appended)
	if len(ia) != 1 {
		t.Fatalf("appended item's attachments %q", ia)
	}
	if f := alice.expect(200, "GET", alice.local(ia[0][4]), nil); !bytes.Equal(f.body, inline) {
		t.Fatal("appended item's file differs")
	}
	// The item is one over CalDAV too.
	if r := alice.expect(200, "GET", cal+"imap-1.ics", nil); len(attachLines(r.body)) != 1 {
		t.Fatalf("appended item over CalDAV:\n%s", r.body)
	}

	// IMAP EXPUNGE of the item: the maintenance loop deletes its file
	// (after the grace period that protects files of items being written).
	if err := ic.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := ic.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	alice.expect(404, "GET", cal+"imap-1.ics", nil)
	srv.maintainOnce(t.Context(), srv.store, time.Now())
	alice.expect(200, "GET", alice.local(ia[0][4]), nil) // within the grace period
	srv.maintainOnce(t.Context(), srv.store, time.Now().Add(ingest.AttachmentGrace+time.Minute))
	alice.expect(404, "GET", alice.local(ia[0][4]), nil)
}

// TestManagedAttachmentsRID: RFC 8607 rid on a recurring event. An
// attachment added to an instance without a component of its own creates
// the override (derived from the master) and lands there only; removing
// the master's attachment from another instance creates that override
// without it while the master and its file keep it; a recurrence ID that
// names no instance is 403 valid-rid-parameter.
func TestManagedAttachmentsRID(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listeners.HTTPS = "127.0.0.1:0"
	cfg.Server.Hostname = "mail.example.test"
	cfg.Auth.FailureDelay = 0
	addAccount(t, cfg, "alice@example.test", "alice-Secret-1")
	srv := startServer(t, cfg)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(t, cfg.Server.DataDir, "127.0.0.1")}, Timeout: 30 * time.Second}
	alice := &davClient{t: t, hc: hc, base: "https://" + srv.Addrs()["https"].String(), user: "alice@example.test", pass: "alice-Secret-1"}
	ev := "/dav/calendars/alice@example.test/Calendar/weekly.ics"
	ics := eventICS("weekly-1", "RRULE:FREQ=WEEKLY;COUNT=5\r\n")
	alice.expect(201, "PUT", ev, ics, "Content-Type", "text/calendar")

	// components returns the RECURRENCE-ID ("" for the master) and managed
	// IDs of each component of the stored item.
	components := func() map[string][]string {
		t.Helper()
		r := alice.expect(200, "GET", ev, nil)
		if _, err := item.ParseCalendar(r.body); err != nil {
			t.Fatalf("stored item invalid: %v\n%s", err, r.body)
		}
		comps, atts := item.Attachments(r.body)
		out := map[string][]string{}
		for _, c := range comps {
			out[c.RecurrenceID] = []string{}
		}
		for _, a := range atts {
			rid := comps[a.Comp].RecurrenceID
			out[rid] = append(out[rid], a.ManagedID())
		}
		return out
	}
	add := func(query string, body string) string {
		t.Helper()
		r := alice.expect(201, "POST", ev+"?action=attachment-add"+query, []byte(body),
			"Content-Type", "text/plain", "Content-Disposition", `attachment; filename="`+body+`.txt"`)
		return r.hdr.Get("Cal-Managed-ID")
	}
	one := add("&rid=20260309T100000Z", "instance")
	if got := components(); len(got) != 2 || len(got[""]) != 0 || len(got["20260309T100000Z"]) != 1 || got["20260309T100000Z"][0] != one {
		t.Fatalf("after add to an instance: %v", got)
	}
	two := add("", "everywhere")
	alice.expect(204, "POST", ev+"?action=attachment-remove&managed-id="+two+"&rid=20260316T100000Z", nil)
	got := components()
	if len(got) != 3 || strings.Join(got[""], ",") != two || strings.Join(got["20260309T100000Z"], ",") != one+","+two ||
		len(got["20260316T100000Z"]) != 0 {
		t.Fatalf("after remove from a new override: %v", got)
	}
	r := alice.expect(200, "GET", ev, nil)
	for _, a := range attachLines(r.body) {
		if a[0] == two {
			alice.expect(200, "GET", alice.local(a[4]), nil) // the master's file stays
		}
	}
	for _, rid := range []string{"20260310T100000Z", "20260406T100000Z", "nonsense"} {
		if r := alice.do("POST", ev+"?action=attachment-add&rid="+rid, []byte("x")); r.code != 403 || !strings.Contains(string(r.body), "valid-rid-parameter") {
			t.Fatalf("rid %s: %d %s", rid, r.code, r.body)
		}
	}
}
