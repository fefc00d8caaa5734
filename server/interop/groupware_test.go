package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floemail/floe/server"
	"github.com/floemail/floe/server/config"
)

// gwEnv is a server with HTTPS for the groupware interop tests.
type gwEnv struct {
	*env
	base   string // https://127.0.0.1:port
	cacert string
}

func startGroupware(t *testing.T, locals ...string) *gwEnv {
	t.Helper()
	e := startServerWith(t, func(c *config.Config) { c.Listeners.HTTPS = "127.0.0.1:0" }, locals...)
	cert, _ := server.SelfSignedCertPaths(e.dir)
	return &gwEnv{env: e, base: "https://" + e.addr(t, "https"), cacert: cert}
}

func ical(uid, summary, start, end string) string {
	return strings.ReplaceAll("BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//interop//EN\nBEGIN:VEVENT\nUID:"+uid+
		"\nDTSTAMP:20260101T000000Z\nDTSTART:"+start+"\nDTEND:"+end+"\nSUMMARY:"+summary+"\nEND:VEVENT\nEND:VCALENDAR\n", "\n", "\r\n")
}

func vcf(uid, fn, email string) string {
	return "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:" + uid + "\r\nFN:" + fn + "\r\nN:" + fn + ";;;;\r\nEMAIL:" + email + "\r\nEND:VCARD\r\n"
}

// curl runs curl against the server as local@example.test and returns
// the HTTP status and body.
func (g *gwEnv) curl(t *testing.T, curl, local, method, path, ctype, body string, hdrs ...string) (int, string) {
	t.Helper()
	args := []string{"-sS", "--cacert", g.cacert, "-u", local + "@" + domain + ":" + password(local), "-X", method,
		"-o", "-", "-w", "\n%{http_code}"}
	if ctype != "" {
		args = append(args, "-H", "Content-Type: "+ctype)
	}
	for _, h := range hdrs {
		args = append(args, "-H", h)
	}
	if body != "" {
		args = append(args, "--data-binary", "@-")
	}
	args = append(args, g.base+path)
	res := runTool(t, []byte(body), nil, curl, args...)
	if res.Code != 0 {
		t.Fatalf("curl %s %s: exit %d: %s", method, path, res.Code, res.Out)
	}
	i := strings.LastIndexByte(res.Out, '\n')
	var code int
	fmt.Sscan(res.Out[i+1:], &code)
	return code, res.Out[:i]
}

// TestVdirsyncerKhalKhard: a two-way vdirsyncer sync of a calendar and an
// address book with edits on both sides; khal and khard read what
// vdirsyncer fetched; curl sees the edits made locally; an IMAP client
// (python imaplib) sees the items as messages whose Subject is the UID.
func TestVdirsyncerKhalKhard(t *testing.T) {
	vdir := needTool(t, "vdirsyncer", "vdirsyncer")
	khal := needTool(t, "khal", "khal")
	khard := needTool(t, "khard", "khard")
	curl := needTool(t, "curl", "curl")
	g := startGroupware(t, "jane")
	work := t.TempDir()
	xdg := []string{"XDG_CONFIG_HOME=" + filepath.Join(work, "cfg"), "XDG_DATA_HOME=" + filepath.Join(work, "data"),
		"XDG_CACHE_HOME=" + filepath.Join(work, "cache"), "HOME=" + work, "TZ=UTC", "LANG=C.UTF-8", "LC_ALL=C.UTF-8"}

	// Server side first: two events and a contact.
	cal := "/dav/calendars/jane@example.test/Calendar/"
	book := "/dav/addressbooks/jane@example.test/Contacts/"
	for name, body := range map[string]string{
		"ev1.ics": ical("ev1", "Planning", "20260302T100000Z", "20260302T110000Z"),
		"ev2.ics": ical("ev2", "Review", "20260303T140000Z", "20260303T150000Z"),
	} {
		if code, out := g.curl(t, curl, "jane", "PUT", cal+name, "text/calendar", body); code != 201 {
			t.Fatalf("PUT %s: %d %s", name, code, out)
		}
	}
	if code, out := g.curl(t, curl, "jane", "PUT", book+"c1.vcf", "text/vcard", vcf("c1", "Carol Client", "carol@example.org")); code != 201 {
		t.Fatalf("PUT contact: %d %s", code, out)
	}

	conf := filepath.Join(work, "vdirsyncer.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`[general]
status_path = "%[1]s/status/"

[pair cal]
a = "cal_local"
b = "cal_remote"
collections = ["Calendar"]
conflict_resolution = "b wins"

[storage cal_local]
type = "filesystem"
path = "%[1]s/cal/"
fileext = ".ics"

[storage cal_remote]
type = "caldav"
url = "%[2]s/"
username = "jane@example.test"
password = "%[3]s"
verify = "%[4]s"

[pair card]
a = "card_local"
b = "card_remote"
collections = ["Contacts"]
conflict_resolution = "b wins"

[storage card_local]
type = "filesystem"
path = "%[1]s/card/"
fileext = ".vcf"

[storage card_remote]
type = "carddav"
url = "%[2]s/"
username = "jane@example.test"
password = "%[3]s"
verify = "%[4]s"
`, work, g.base, password("jane"), g.cacert)), 0o600)
	vs := func(args ...string) string {
		t.Helper()
		res := runTool(t, []byte(strings.Repeat("y\n", 10)), xdg, vdir, append([]string{"-c", conf}, args...)...)
		if res.Code != 0 {
			t.Fatalf("vdirsyncer %v: exit %d\n%s", args, res.Code, res.Out)
		}
		return res.Out
	}
	vs("discover")
	vs("sync")
	calDir := filepath.Join(work, "cal", "Calendar")
	cardDir := filepath.Join(work, "card", "Contacts")
	files, _ := filepath.Glob(filepath.Join(calDir, "*.ics"))
	if len(files) != 2 {
		t.Fatalf("vdirsyncer fetched %v", files)
	}

	// khal and khard read the local copies.
	khalConf := filepath.Join(work, "khal.conf")
	os.WriteFile(khalConf, []byte(fmt.Sprintf(`[calendars]
[[jane]]
path = %s
type = calendar
[locale]
timeformat = %%H:%%M
dateformat = %%Y-%%m-%%d
longdateformat = %%Y-%%m-%%d
datetimeformat = %%Y-%%m-%%d %%H:%%M
longdatetimeformat = %%Y-%%m-%%d %%H:%%M
local_timezone = UTC
default_timezone = UTC
[sqlite]
path = %s/khal.db
`, calDir, work)), 0o600)
	res := runTool(t, nil, xdg, khal, "-c", khalConf, "list", "--format", "{title}", "2026-03-01", "2026-03-10")
	if res.Code != 0 || !strings.Contains(res.Out, "Planning") || !strings.Contains(res.Out, "Review") {
		t.Fatalf("khal list: %d\n%s", res.Code, res.Out)
	}
	khardConf := filepath.Join(work, "khard.conf")
	os.WriteFile(khardConf, []byte(fmt.Sprintf(`[addressbooks]
[[jane]]
path = %s
[general]
default_action = list
editor = /bin/true
merge_editor = /bin/true
`, cardDir)), 0o600)
	res = runTool(t, nil, xdg, khard, "-c", khardConf, "email", "--parsable")
	if res.Code != 0 || !strings.Contains(res.Out, "carol@example.org") {
		t.Fatalf("khard email: %d\n%s", res.Code, res.Out)
	}

	// Local edits: one event changed, one created, a contact created.
	f1 := ""
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "UID:ev1") {
			f1 = f
			os.WriteFile(f, []byte(strings.Replace(string(b), "SUMMARY:Planning", "SUMMARY:Planning (moved)", 1)), 0o600)
		}
	}
	if f1 == "" {
		t.Fatal("ev1 not fetched")
	}
	os.WriteFile(filepath.Join(calDir, "local1.ics"), []byte(ical("local1", "Written locally", "20260304T090000Z", "20260304T093000Z")), 0o600)
	os.WriteFile(filepath.Join(cardDir, "local-c2.vcf"), []byte(vcf("c2", "Dan Local", "dan@example.org")), 0o600)
	// A server-side edit at the same time.
	if code, _ := g.curl(t, curl, "jane", "PUT", cal+"ev2.ics", "text/calendar", ical("ev2", "Review (server)", "20260303T140000Z", "20260303T150000Z")); code != 204 {
		t.Fatalf("server edit: %d", code)
	}
	vs("sync")
	code, body := g.curl(t, curl, "jane", "REPORT", cal, "application/xml",
		`<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter></C:calendar-query>`,
		"Depth: 1")
	if code != 207 || !strings.Contains(body, "Planning (moved)") || !strings.Contains(body, "Written locally") {
		t.Fatalf("server after sync: %d %s", code, body)
	}
	b, _ := os.ReadFile(filepath.Join(calDir, filepath.Base(findFile(t, calDir, "UID:ev2"))))
	if !strings.Contains(string(b), "Review (server)") {
		t.Fatalf("server edit not fetched: %s", b)
	}
	code, body = g.curl(t, curl, "jane", "REPORT", book, "application/xml",
		`<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><CR:address-data/></D:prop><CR:filter><CR:prop-filter name="EMAIL"><CR:text-match match-type="ends-with">@example.org</CR:text-match></CR:prop-filter></CR:filter></CR:addressbook-query>`)
	if code != 207 || !strings.Contains(body, "Dan Local") || !strings.Contains(body, "Carol Client") {
		t.Fatalf("address book after sync: %d %s", code, body)
	}
	// A no-change sync succeeds, then deletion on the local side.
	vs("sync")
	os.Remove(f1)
	vs("sync")
	if code, _ := g.curl(t, curl, "jane", "GET", cal+"ev1.ics", "", ""); code != 404 {
		t.Fatalf("locally deleted event still on the server: %d", code)
	}

	// The same items are IMAP messages: Subject is the item UID.
	py := pythonWith(t, "imaplib", "python3")
	script := fmt.Sprintf(`
import imaplib
m = imaplib.IMAP4("127.0.0.1", %s)
m.login("jane@example.test", %q)
typ, data = m.select("Calendar", readonly=True)
typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT X-KOLAB-TYPE)])")
for part in data:
    if isinstance(part, tuple):
        print(part[1].decode().strip().replace("\r\n", " | "))
m.logout()
`, g.port(t, "imap"), password("jane"))
	res = runTool(t, []byte(script), nil, py, "-")
	if res.Code != 0 || !strings.Contains(res.Out, "Subject: local1") || !strings.Contains(res.Out, "Subject: ev2") ||
		strings.Contains(res.Out, "Subject: ev1") || !strings.Contains(res.Out, "application/x-vnd.kolab.event") {
		t.Fatalf("imaplib: %d\n%s", res.Code, res.Out)
	}
}

func findFile(t *testing.T, dir, needle string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), needle) {
			return f
		}
	}
	t.Fatalf("no file with %q in %s", needle, dir)
	return ""
}

// TestPythonCaldav drives the server with python3-caldav: discovery from
// the server URL, the calendars, saving an event, a date search that
// expands a recurring event, and free/busy at /freebusy/.
func TestPythonCaldav(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	py := pythonWith(t, "caldav", "python3-caldav")
	g := startGroupware(t, "jane", "john")
	script := fmt.Sprintf(`
import caldav, datetime, sys
c = caldav.DAVClient(url=%q, username="jane@example.test", password=%q, ssl_verify_cert=%q)
p = c.principal()
cals = {cal.name: cal for cal in p.calendars()}
print("calendars:", sorted(cals))
cal = cals["Calendar"]
cal.save_event("""BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//py//EN
BEGIN:VEVENT
UID:py-weekly
DTSTAMP:20260101T000000Z
DTSTART:20260105T090000Z
DTEND:20260105T100000Z
RRULE:FREQ=WEEKLY;BYDAY=MO
SUMMARY:Weekly from python
END:VEVENT
END:VCALENDAR
""")
found = cal.date_search(start=datetime.datetime(2026, 3, 1), end=datetime.datetime(2026, 3, 17), expand=True)
# The server expands (RFC 4791 9.6.5): one resource, one VEVENT per instance.
n = 0
for ev in found:
    for v in ev.vobject_instance.vevent_list:
        n += 1
        assert "rrule" not in v.contents, "expanded instance kept its RRULE"
        print("summary:", v.summary.value, v.recurrence_id.value)
print("instances:", n)
`, g.base+"/", password("jane"), g.cacert)
	res := runTool(t, []byte(script), nil, py, "-")
	if res.Code != 0 || !strings.Contains(res.Out, "'Calendar'") || !strings.Contains(res.Out, "instances: 3") ||
		!strings.Contains(res.Out, "summary: Weekly from python") {
		t.Fatalf("python3-caldav: %d\n%s", res.Code, res.Out)
	}
	// John (same domain) reads Jane's free/busy; no details.
	code, body := g.curl(t, curl, "john", "GET", "/freebusy/?jane@example.test&start=20260301T000000Z&end=20260310T000000Z", "", "")
	if code != 200 || !strings.Contains(body, "FREEBUSY;FBTYPE=BUSY:20260302T090000Z/20260302T100000Z") ||
		!strings.Contains(body, "FREEBUSY;FBTYPE=BUSY:20260309T090000Z/20260309T100000Z") || strings.Contains(body, "python") {
		t.Fatalf("freebusy: %d %s", code, body)
	}
	// Discovery with curl: the well-known URL redirects to the context path.
	res = runTool(t, nil, nil, curl, "-sS", "--cacert", g.cacert, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", g.base+"/.well-known/caldav")
	if !strings.HasPrefix(res.Out, "301 ") || !strings.HasSuffix(strings.TrimSpace(res.Out), "/dav/") {
		t.Fatalf("well-known: %s", res.Out)
	}
}
