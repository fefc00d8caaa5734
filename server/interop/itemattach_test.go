package interop

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/floemail/floe/server"
	"github.com/floemail/floe/server/config"
)

// TestPythonCaldavAttachments: python3-caldav saves an event with an
// inline attachment (ATTACH;ENCODING=BASE64;VALUE=BINARY, what it
// supports: it has no RFC 8607 POST); the server keeps the attachment as a
// file and the event as a managed ATTACH URI, which the same client
// downloads with its own HTTP session (the exact bytes).
func TestPythonCaldavAttachments(t *testing.T) {
	py := pythonWith(t, "caldav", "python3-caldav")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	e := startServerWith(t, func(c *config.Config) {
		c.Listeners.HTTPS = addr
		c.Files.SmartAttachBaseURL = "https://" + addr // the URLs the items carry
	}, "jane")
	cacert, _ := server.SelfSignedCertPaths(e.dir)
	script := fmt.Sprintf(`
import base64, re, sys
import caldav
c = caldav.DAVClient(url=%q, username="jane@example.test", password=%q, ssl_verify_cert=%q)
cal = {x.name: x for x in c.principal().calendars()}["Calendar"]
data = bytes(range(256)) * 40
line = "ATTACH;FMTTYPE=application/octet-stream;ENCODING=BASE64;VALUE=BINARY;X-FILENAME=python.bin:" + base64.b64encode(data).decode()
folded = "\r\n ".join(line[i:i+74] for i in range(0, len(line), 74))
ev = cal.save_event("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//py//EN\r\nBEGIN:VEVENT\r\nUID:py-attach\r\n"
    "DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T090000Z\r\nDTEND:20260105T100000Z\r\nSUMMARY:With a file\r\n"
    + folded + "\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
ev = cal.event_by_uid("py-attach")
text = ev.data.replace("\r\n ", "").replace("\n ", "")
assert "BASE64" not in text.upper(), "inline data left in the event"
m = re.search(r"ATTACH;([^:]*):(\S+)", text)
assert m and "MANAGED-ID=" in m.group(1) and "FILENAME=python.bin" in m.group(1) and "SIZE=10240" in m.group(1), "no managed ATTACH in " + text
m = re.search(r"ATTACH;[^:]*VALUE=URI:(\S+)", text)
assert m, "no managed ATTACH in " + text
print("url:", m.group(1))
r = c.request(m.group(1))
print("status:", r.status)
assert r._raw == data, "downloaded %%d bytes" %% len(r._raw)
print("bytes:", len(r._raw))
`, "https://"+addr+"/", password("jane"), cacert)
	res := runTool(t, []byte(script), nil, py, "-")
	if res.Code != 0 || !strings.Contains(res.Out, "status: 200") || !strings.Contains(res.Out, "bytes: 10240") ||
		!strings.Contains(res.Out, "url: https://"+addr+"/webdav/jane@example.test/Files/Calendar%20Attachments/Calendar/python.bin") {
		t.Fatalf("python3-caldav: %d\n%s", res.Code, res.Out)
	}
}
