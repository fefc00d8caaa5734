package server

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFilesShareRoot: what the Windows Mini-Redirector asks of the
// "share" of \\host@SSL\webdav\alice@example.test\Files before it maps
// the drive (OPTIONS without login, PROPFIND Depth 0 of /webdav without
// the slash) is answered, never redirected: it does not follow
// redirects. Also: the address in the path in another letter case, or
// percent-encoded as davfs2 sends it, names the same tree.
func TestFilesShareRoot(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listeners.HTTPS = "127.0.0.1:0"
	cfg.Auth.FailureDelay = 0
	addAccount(t, cfg, "alice@example.test", "alice-Secret-1")
	srv := startServer(t, cfg)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(t, cfg.Server.DataDir, "127.0.0.1")}, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://" + srv.Addrs()["https"].String()
	alice := &davClient{t: t, hc: hc, base: base, user: "alice@example.test", pass: "alice-Secret-1"}
	anon := &davClient{t: t, hc: hc, base: base}
	ua := "Microsoft-WebDAV-MiniRedir/10.0.19045"

	for _, p := range []string{"/", "/webdav", "/webdav/"} {
		if r := anon.expect(200, "OPTIONS", p, nil, "User-Agent", ua, "Translate", "f"); !strings.Contains(r.hdr.Get("DAV"), "2") {
			t.Fatalf("OPTIONS %s: DAV %q", p, r.hdr.Get("DAV"))
		}
	}
	anon.expect(401, "PROPFIND", "/webdav", nil, "Depth", "0", "User-Agent", ua)
	for _, p := range []string{"/webdav", "/webdav/"} {
		r := alice.expect(207, "PROPFIND", p, nil, "Depth", "0", "User-Agent", ua, "Translate", "f")
		if !strings.Contains(string(r.body), "<D:collection/>") {
			t.Fatalf("PROPFIND %s:\n%s", p, r.body)
		}
	}
	alice.expect(201, "PUT", "/webdav/alice@example.test/Files/w.txt", []byte("from windows"))
	for _, p := range []string{"/webdav/alice%40example.test/Files/w.txt", "/webdav/ALICE@example.test/Files/w.txt"} {
		if r := alice.expect(200, "GET", p, nil); string(r.body) != "from windows" {
			t.Fatalf("GET %s: %q", p, r.body)
		}
	}
}
