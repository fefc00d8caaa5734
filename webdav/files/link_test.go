package files

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
)

// TestLinkHandler: a download link serves its file without login, with
// Range, until it expires or is revoked or its file changes; unknown and
// malformed tokens are 404.
func TestLinkHandler(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := t.Context()
	want(t, f.do(t, "alice", "PUT", aliceFiles+"report%20%C3%A9.pdf", "%PDF-1.4 hello world", "Content-Type", "application/pdf"), 201, "PUT")
	mb, err := f.st.Mailbox(ctx, f.alice.ID, "Files")
	if err != nil {
		t.Fatal(err)
	}
	file, err := f.st.File(ctx, mb.ID, "report é.pdf")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := now
	h := NewLinkHandler(LinkOptions{Store: f.st, Now: func() time.Time { return clock }})
	mk := func(expires time.Time) string {
		token, hash, err := storage.NewLinkToken()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.CreateLink(ctx, storage.Link{TokenHash: hash, Account: f.alice.ID, Mailbox: mb.ID, Name: file.Name,
			Content: file.Content, Size: file.Size, Created: now.Add(-time.Hour), Expires: expires}); err != nil {
			t.Fatal(err)
		}
		return token
	}
	get := func(method, path string, hdr ...string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(method, path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Set(hdr[i], hdr[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	token := mk(now.Add(24 * time.Hour))

	w := get("GET", "/webdav/link/"+token+"/report%20%C3%A9.pdf")
	want(t, w, 200, "GET link")
	hd := w.Header()
	if w.Body.String() != "%PDF-1.4 hello world" || hd.Get("Content-Type") != "application/pdf" ||
		hd.Get("Content-Disposition") != "attachment; filename*=utf-8''report%20%C3%A9.pdf" ||
		hd.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(hd.Get("Content-Security-Policy"), "sandbox") ||
		hd.Get("ETag") != file.ETag {
		t.Fatalf("GET: %q %v", w.Body.String(), hd)
	}
	// The name in the URL is decoration; the token alone decides.
	want(t, get("GET", "/webdav/link/"+token), 200, "token only")
	want(t, get("GET", "/webdav/link/"+token+"/other.name"), 200, "other name")
	w = get("GET", "/webdav/link/"+token+"/x", "Range", "bytes=5-7")
	want(t, w, 206, "Range")
	if w.Body.String() != "1.4" {
		t.Fatalf("range body %q", w.Body.String())
	}
	want(t, get("GET", "/webdav/link/"+token+"/x", "If-None-Match", file.ETag), 304, "If-None-Match")
	w = get("HEAD", "/webdav/link/"+token+"/x")
	want(t, w, 200, "HEAD")
	if w.Header().Get("Content-Length") != "20" {
		t.Fatalf("HEAD Content-Length %q", w.Header().Get("Content-Length"))
	}
	want(t, get("PUT", "/webdav/link/"+token+"/x"), 405, "PUT")

	// Unknown and malformed tokens.
	other, _, _ := storage.NewLinkToken()
	want(t, get("GET", "/webdav/link/"+other+"/x"), 404, "unknown token")
	want(t, get("GET", "/webdav/link/short"), 404, "short token")
	want(t, get("GET", "/webdav/link/"+strings.Repeat("a", 200)), 404, "long token")
	want(t, get("GET", "/webdav/link/"+token[:20]+"%2F"+token[20:]), 404, "token with a slash")
	want(t, get("GET", "/webdav/link/"), 404, "no token")

	// Expiry: served until the instant before, gone at it.
	clock = now.Add(24*time.Hour - time.Second)
	want(t, get("GET", "/webdav/link/"+token), 200, "just before expiry")
	clock = now.Add(24 * time.Hour)
	want(t, get("GET", "/webdav/link/"+token), 410, "expired")
	clock = now

	// Revocation.
	token2 := mk(now.Add(time.Hour))
	l, _ := f.st.LinkByToken(ctx, storage.HashLinkToken(token2))
	want(t, get("GET", "/webdav/link/"+token2), 200, "second link")
	if err := f.st.RevokeLink(ctx, l.ID, now); err != nil {
		t.Fatal(err)
	}
	want(t, get("GET", "/webdav/link/"+token2), 410, "revoked")
	want(t, get("GET", "/webdav/link/"+token), 200, "the other link still works")

	// The file changed, then was deleted: gone.
	want(t, f.do(t, "alice", "PUT", aliceFiles+"report%20%C3%A9.pdf", "new content"), 204, "overwrite")
	want(t, get("GET", "/webdav/link/"+token), 410, "changed file")
	token3 := mk(now.Add(time.Hour)) // made for the old content too
	want(t, get("GET", "/webdav/link/"+token3), 410, "link to old content")
	want(t, f.do(t, "alice", "DELETE", aliceFiles+"report%20%C3%A9.pdf", ""), 204, "DELETE")
	want(t, get("GET", "/webdav/link/"+token), 410, "deleted file")
}

// FuzzLinkPath: no request path makes the link handler fail other than
// with 404 (nothing is linked in this store).
func FuzzLinkPath(f *testing.F) {
	fx := newFixture(f)
	h := NewLinkHandler(LinkOptions{Store: fx.st})
	for _, s := range []string{"abcdefghijklmnopqrstuvwxyz012345/report.pdf", "", "/", "a/b/c", "%00", "..", strings.Repeat("A", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rest string) {
		r := httptest.NewRequest("GET", "/webdav/link/x", nil)
		r.URL.Path = "/webdav/link/" + rest
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 404 {
			t.Fatalf("%q: %d", rest, w.Code)
		}
	})
}
