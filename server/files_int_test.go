package server

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
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

// TestFilesQuotaAgrees: a file counts toward quota with its own size (not
// its base64 message's), and what WebDAV shows (RFC 4331
// quota-used-bytes) and IMAP GETQUOTAROOT (RFC 9208, 1024-octet units,
// rounded up) show agree.
func TestFilesQuotaAgrees(t *testing.T) {
	cfg := testConfig(t)
	cfg.Listeners.HTTPS = "127.0.0.1:0"
	cfg.Auth.FailureDelay = 0
	addAccount(t, cfg, "alice@example.test", "alice-Secret-1")
	st, err := OpenStore(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := st.Account(context.Background(), "alice@example.test")
	a.QuotaBytes = 1 << 20
	if err := st.UpdateAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	st.Close()
	srv := startServer(t, cfg)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: clientTLS(t, cfg.Server.DataDir, "127.0.0.1")}, Timeout: 30 * time.Second}
	alice := &davClient{t: t, hc: hc, base: "https://" + srv.Addrs()["https"].String(), user: "alice@example.test", pass: "alice-Secret-1"}
	files := "/webdav/alice@example.test/Files/"
	usedRE := regexp.MustCompile(`<D:quota-used-bytes>(\d+)</D:quota-used-bytes>`)
	davUsed := func() int64 {
		t.Helper()
		r := alice.expect(207, "PROPFIND", files, []byte(`<D:propfind xmlns:D="DAV:"><D:prop><D:quota-used-bytes/></D:prop></D:propfind>`), "Depth", "0")
		m := usedRE.FindSubmatch(r.body)
		if m == nil {
			t.Fatalf("no quota-used-bytes:\n%s", r.body)
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return n
	}
	before := davUsed()
	alice.expect(201, "PUT", files+"data.bin", bytes.Repeat([]byte("0123456789"), 30000)) // 300000 bytes
	used := davUsed()
	if used-before != 300000 {
		t.Fatalf("a 300000-byte file counts %d bytes", used-before)
	}
	ic, err := imapclient.DialInsecure(srv.Addrs()["imap"].String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("alice@example.test", "alice-Secret-1").Wait(); err != nil {
		t.Fatal(err)
	}
	qs, err := ic.GetQuotaRoot("Files").Wait()
	if err != nil || len(qs) != 1 {
		t.Fatalf("GETQUOTAROOT: %+v %v", qs, err)
	}
	s := qs[0].Resources[imap.QuotaResourceStorage]
	if s.Usage != (used+1023)/1024 || s.Limit != 1024 {
		t.Fatalf("IMAP STORAGE %+v, WebDAV used %d bytes", s, used)
	}
}
