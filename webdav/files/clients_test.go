package files

import (
	"io"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

// TestWindowsExplorerCopy replays what Windows Explorer sends when a file
// is dragged into a mapped folder (captures in wsgidav#112,
// npm-WebDAV-Server#37): PROPFIND of the new name (404), an empty PUT
// (201), LOCK of the now existing file, PROPPATCH of the Win32 times with
// the lock token, HEAD, the PUT of the content with the token, PROPPATCH
// again, UNLOCK; then a rename (MOVE, Overwrite: F) and DELETE.
func TestWindowsExplorerCopy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ua := []string{"User-Agent", "Microsoft-WebDAV-MiniRedir/10.0.19045", "Translate", "f"}
	hdr := func(kv ...string) []string { return append(append([]string{}, ua...), kv...) }
	p := aliceFiles + "Quarterly%20Report.docx"
	want(t, f.do(t, "alice", "PROPFIND", p, "", hdr("Depth", "0")...), 404, "PROPFIND new name")
	want(t, f.do(t, "alice", "PUT", p, "", hdr("Content-Length", "0")...), 201, "empty PUT")
	lk := `<?xml version="1.0" encoding="utf-8" ?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>` +
		`<D:locktype><D:write/></D:locktype><D:owner><D:href>DESKTOP-1\alice</D:href></D:owner></D:lockinfo>`
	w := f.do(t, "alice", "LOCK", p, lk, hdr("Timeout", "Second-3600", "Content-Type", `text/xml; charset="utf-8"`)...)
	want(t, w, 200, "LOCK existing")
	tok := w.Header().Get("Lock-Token")
	ifh := "(" + tok + ")"
	pp := `<?xml version="1.0" encoding="utf-8" ?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:schemas-microsoft-com:"><D:set><D:prop>` +
		`<Z:Win32CreationTime>Thu, 09 Oct 2025 17:54:43 GMT</Z:Win32CreationTime><Z:Win32LastAccessTime>Thu, 09 Oct 2025 17:55:31 GMT</Z:Win32LastAccessTime>` +
		`<Z:Win32LastModifiedTime>Thu, 09 Oct 2025 17:54:43 GMT</Z:Win32LastModifiedTime><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes>` +
		`</D:prop></D:set></D:propertyupdate>`
	want(t, f.do(t, "alice", "PROPPATCH", p, pp, hdr("If", ifh)...), 207, "PROPPATCH with the token")
	want(t, f.do(t, "alice", "PROPPATCH", p, pp, ua...), 423, "PROPPATCH without the token")
	want(t, f.do(t, "alice", "HEAD", p, "", ua...), 200, "HEAD")
	body := strings.Repeat("report ", 20000)
	want(t, f.do(t, "alice", "PUT", p, body, hdr("If", ifh)...), 204, "PUT content with the token")
	want(t, f.do(t, "alice", "PROPPATCH", p, pp, hdr("If", ifh)...), 207, "PROPPATCH after PUT")
	want(t, f.do(t, "alice", "UNLOCK", p, "", hdr("Lock-Token", tok)...), 204, "UNLOCK")
	if w := f.do(t, "alice", "GET", p, "", ua...); w.Body.String() != body {
		t.Fatalf("GET: %d bytes", w.Body.Len())
	}
	want(t, f.do(t, "alice", "MOVE", p, "", hdr("Destination", "http://example.com"+aliceFiles+"Report%202025.docx", "Overwrite", "F")...), 201, "rename")
	w = f.do(t, "alice", "PROPFIND", aliceFiles+"Report%202025.docx", "", hdr("Depth", "0")...)
	if !strings.Contains(w.Body.String(), "00000020</Win32FileAttributes>") {
		t.Fatalf("Win32 properties did not follow the rename:\n%s", w.Body.String())
	}
	want(t, f.do(t, "alice", "DELETE", aliceFiles+"Report%202025.docx", "", ua...), 204, "DELETE")
}

// TestFinderCopy replays macOS Finder (WebDAVFS): the empty PUT, LOCK,
// the content in a chunked PUT without Content-Length (with
// X-Expected-Entity-Length) and the lock token, the AppleDouble "._" file
// beside it, a lock refresh (LOCK without a body, the token in If),
// UNLOCK of both.
func TestFinderCopy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ua := []string{"User-Agent", "WebDAVFS/3.0.0 (03008000) Darwin/19.6.0 (x86_64)"}
	hdr := func(kv ...string) []string { return append(append([]string{}, ua...), kv...) }
	lk := `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope>` +
		`<D:locktype><D:write/></D:locktype><D:owner><D:href>http://www.apple.com/webdav_fs/</D:href></D:owner></D:lockinfo>`
	content := strings.Repeat("photo bytes ", 50000)
	for _, name := range []string{"Photo.jpg", "._Photo.jpg"} {
		p := aliceFiles + name
		want(t, f.do(t, "alice", "PUT", p, "", ua...), 201, "empty PUT "+name)
		w := f.do(t, "alice", "LOCK", p, lk, hdr("Depth", "0", "Timeout", "Second-600")...)
		want(t, w, 200, "LOCK "+name)
		tok := w.Header().Get("Lock-Token")
		r := httptest.NewRequest("PUT", p, io.NopCloser(strings.NewReader(content)))
		r.ContentLength = -1 // chunked
		r.TransferEncoding = []string{"chunked"}
		r.Header.Set("X-User", "alice")
		r.Header.Set("X-Expected-Entity-Length", "600000")
		r.Header.Set("If", "("+tok+")")
		r.Header.Set("User-Agent", ua[1])
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, r)
		want(t, rec, 204, "chunked PUT "+name)
		w = f.do(t, "alice", "LOCK", p, "", hdr("If", "("+tok+")", "Timeout", "Second-600")...)
		want(t, w, 200, "lock refresh "+name)
		want(t, f.do(t, "alice", "UNLOCK", p, "", hdr("Lock-Token", tok)...), 204, "UNLOCK "+name)
		if g := f.do(t, "alice", "GET", p, "", ua...); g.Body.String() != content {
			t.Fatalf("GET %s: %d bytes", name, g.Body.Len())
		}
	}
	w := f.do(t, "alice", "PROPFIND", aliceFiles, `<D:propfind xmlns:D="DAV:"><D:prop><D:getlastmodified/><D:getcontentlength/><D:resourcetype/><D:quota-available-bytes/><D:quota-used-bytes/></D:prop></D:propfind>`,
		hdr("Depth", "1")...)
	want(t, w, 207, "PROPFIND")
	if !strings.Contains(w.Body.String(), "._Photo.jpg") || !regexp.MustCompile(`<D:quota-used-bytes>\d`).MatchString(w.Body.String()) {
		t.Fatalf("PROPFIND:\n%s", w.Body.String())
	}
}
