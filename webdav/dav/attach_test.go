package dav

import (
	"net/http"
	"strings"
	"testing"
)

// TestManagedAttachmentsOff: without a WebDAV URL (the handler's default)
// managed attachments are not offered and POST is refused; a PUT is
// answered as before. The whole feature is tested against the real server
// in server.TestManagedAttachments.
func TestManagedAttachmentsOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req := func(method, path, body string, hdr ...string) *http.Response {
		t.Helper()
		r, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
		r.SetBasicAuth("jane@example.test", password)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := req("OPTIONS", "/dav/calendars/jane@example.test/", ""); strings.Contains(r.Header.Get("DAV"), "managed") {
		t.Fatalf("DAV %q", r.Header.Get("DAV"))
	}
	ev := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:m1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260302T100000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
	if r := req("PUT", "/dav/calendars/jane@example.test/Calendar/m1.ics", ev, "Content-Type", "text/calendar"); r.StatusCode != 201 || r.Header.Get("ETag") == "" {
		t.Fatalf("PUT: %d %q", r.StatusCode, r.Header.Get("ETag"))
	}
	if r := req("POST", "/dav/calendars/jane@example.test/Calendar/m1.ics?action=attachment-add", "data"); r.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", r.StatusCode)
	}
}

func TestLimitReader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n, size int64
		err     bool
	}{{10, 10, false}, {10, 11, true}, {0, 0, false}, {0, 1, true}} {
		lr := &limitReader{r: strings.NewReader(strings.Repeat("x", int(tc.size))), n: tc.n}
		buf := make([]byte, 3)
		var err error
		total := 0
		for err == nil {
			var k int
			k, err = lr.Read(buf)
			total += k
		}
		if (err == errTooLarge) != tc.err {
			t.Errorf("limit %d, size %d: %v after %d bytes", tc.n, tc.size, err, total)
		}
	}
}

func TestReturnRepresentation(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]bool{"": false, "return=representation": true, "respond-async, return=representation": true, "return=minimal": false} {
		r, _ := http.NewRequest("POST", "/", nil)
		if v != "" {
			r.Header.Set("Prefer", v)
		}
		if got := returnRepresentation(r); got != want {
			t.Errorf("Prefer %q: %v", v, got)
		}
	}
}
