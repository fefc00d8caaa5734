package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"

	"github.com/floemail/floe/server/config"
)

// attachmentMail is a message with a text part and the given attachments
// (name -> bytes), base64 in 76-character lines.
func attachmentMail(from, to, subject string, names []string, files map[string][]byte) string {
	var b strings.Builder
	b.WriteString("From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: " + subject + "\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
		"Message-ID: <" + subject + "@example.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_sep\"\r\n\r\n" +
		"--=_sep\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe files are attached.\r\n")
	for _, n := range names {
		b.WriteString("--=_sep\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"" + n + "\"\r\n" +
			"Content-Transfer-Encoding: base64\r\n\r\n")
		enc := base64.StdEncoding.EncodeToString(files[n])
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\r\n")
			enc = enc[76:]
		}
		b.WriteString(enc + "\r\n")
	}
	b.WriteString("--=_sep--\r\n")
	return b.String()
}

// mailParts reads a message as a mail client would (net/mail,
// mime/multipart, which undoes quoted-printable) and returns its parts'
// decoded bodies and their Content-Disposition filenames.
func mailParts(t *testing.T, raw []byte) (bodies [][]byte, names []string) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return bodies, names
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			t.Fatal(err)
		}
		body := data
		if p.Header.Get("Content-Transfer-Encoding") == "base64" {
			if body, err = base64.StdEncoding.DecodeString(strings.ReplaceAll(string(data), "\r\n", "")); err != nil {
				t.Fatal(err)
			}
		}
		bodies, names = append(bodies, body), append(names, p.FileName())
	}
}

var linkPathRE = regexp.MustCompile(`https?://[^/\s]+(/webdav/link/[A-Za-z0-9_-]+/\S+)`)

// TestSmartAttachEndToEnd: with SmartAttach on, a big attachment submitted
// over SMTP (587, STARTTLS, AUTH) reaches the recipient, read over IMAP,
// as a link; the link serves the exact bytes over HTTPS and HTTP without
// login, with Range; the small attachment beside it is untouched; after
// revocation the link answers 410, and a second link 410 once expired.
// No log line carries a token.
func TestSmartAttachEndToEnd(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Listeners.HTTP = "127.0.0.1:0"
	cfg.Listeners.HTTPS = "127.0.0.1:0"
	cfg.Files.SmartAttachMail = true
	cfg.Files.SmartAttachMinSize = 64 * config.KiB
	cfg.Files.SmartAttachLinkLifetime = config.Duration(24 * time.Hour)
	var offset atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	var logs lockedBuffer
	srv, err := New(cfg, Options{LogOutput: &logs, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	addAccount(t, cfg, "alice@example.test", "alice pass 1")
	addAccount(t, cfg, "bob@example.test", "bob pass 1")
	addrs := srv.Addrs()
	tlsCfg := clientTLS(t, cfg.Server.DataDir, "127.0.0.1")

	big := make([]byte, 300*1000+17)
	rand.Read(big)
	small := []byte("a small file, left in the message\n")
	files := map[string][]byte{"photos.zip": big, "notes.txt": small}
	submit := func(subject string) {
		t.Helper()
		c, err := gosmtp.DialStartTLS(addrs["submission"].String(), tlsCfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "alice pass 1")); err != nil {
			t.Fatal(err)
		}
		msg := attachmentMail("alice@example.test", "bob@example.test", subject, []string{"photos.zip", "notes.txt"}, files)
		if err := c.SendMail("alice@example.test", []string{"bob@example.test"}, strings.NewReader(msg)); err != nil {
			t.Fatal(err)
		}
	}
	submit("first")
	submit("second")

	// Bob reads both messages over IMAP.
	ic, err := imapclient.DialTLS(addrs["imaps"].String(), &imapclient.Options{TLSConfig: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()
	if err := ic.Login("bob@example.test", "bob pass 1").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := ic.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := ic.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("fetch: %d messages, %v", len(msgs), err)
	}
	var links []string
	for i, m := range msgs {
		raw := m.FindBodySection(&imap.FetchItemBodySection{})
		if len(raw) > 20000 {
			t.Fatalf("message %d still carries the attachment (%d bytes)", i, len(raw))
		}
		bodies, names := mailParts(t, raw)
		if len(bodies) != 3 || names[2] != "notes.txt" || !bytes.Equal(bodies[2], small) {
			t.Fatalf("message %d parts %q", i, names)
		}
		text := string(bodies[1])
		lm := linkPathRE.FindStringSubmatch(text)
		if lm == nil || !strings.Contains(text, `"photos.zip" (300.0 kB)`) || !strings.Contains(text, "The link works until") {
			t.Fatalf("message %d link text %q", i, text)
		}
		links = append(links, lm[1])
	}

	// The links, without login: exact bytes over HTTPS (HTTP/2) and over
	// plain HTTP from loopback; Range.
	tr := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	get := func(url string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	https := "https://" + addrs["https"].String()
	resp, body := get(https + links[0])
	if resp.StatusCode != 200 || !bytes.Equal(body, big) || resp.Header.Get("Content-Disposition") != `attachment; filename=photos.zip` {
		t.Fatalf("GET link: %d, %d bytes, %v", resp.StatusCode, len(body), resp.Header)
	}
	if resp, body := get("http://"+addrs["http"].String()+links[1], "Range", "bytes=1000-1999"); resp.StatusCode != 206 || !bytes.Equal(body, big[1000:2000]) {
		t.Fatalf("ranged GET over http: %d, %d bytes", resp.StatusCode, len(body))
	}
	// Both messages' links lead to one file (the same bytes).
	st, err := OpenStore(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, _ := st.Account(t.Context(), "alice@example.test")
	stored, _ := st.Links(t.Context(), acct.ID)
	if len(stored) != 2 || stored[0].Content != stored[1].Content || stored[0].Name != "photos.zip" || stored[1].Name != "photos.zip" {
		t.Fatalf("stored links %+v", stored)
	}
	// A wrong token and a login are of no use.
	if resp, _ := get(https + "/webdav/link/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/photos.zip"); resp.StatusCode != 404 {
		t.Fatalf("unknown token: %d", resp.StatusCode)
	}

	// Revoked (as `floe smartattach revoke` does, through another store
	// handle): 410 at once; the other link still serves.
	if err := st.RevokeLink(t.Context(), stored[0].ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if resp, _ := get(https + links[0]); resp.StatusCode != 410 {
		t.Fatalf("revoked link: %d", resp.StatusCode)
	}
	if resp, _ := get(https + links[1]); resp.StatusCode != 200 {
		t.Fatalf("other link after revoke: %d", resp.StatusCode)
	}
	// The maintenance loop keeps the file: a live link still serves it.
	srv.maintainOnce(t.Context(), srv.store, clock())
	if resp, _ := get(https + links[1]); resp.StatusCode != 200 {
		t.Fatalf("other link after maintenance: %d", resp.StatusCode)
	}
	// Expired: a day later the second link is gone too.
	offset.Store(int64(24*time.Hour + time.Minute))
	if resp, _ := get(https + links[1]); resp.StatusCode != 410 {
		t.Fatalf("expired link: %d", resp.StatusCode)
	}

	// The file stays the sender's (in Files/Attachments, over WebDAV)
	req, _ := http.NewRequest("GET", https+"/webdav/alice@example.test/Files/Attachments/photos.zip", nil)
	req.SetBasicAuth("alice@example.test", "alice pass 1")
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, big) {
		t.Fatalf("the file over WebDAV: %d, %d bytes", resp.StatusCode, len(body))
	}
	// until the maintenance loop deletes the file of links that all ended.
	srv.maintainOnce(t.Context(), srv.store, clock())
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("the file of ended links over WebDAV: %d", resp.StatusCode)
	}

	// No token in any log line (access log included).
	for _, l := range links {
		tok := strings.Split(strings.TrimPrefix(l, "/webdav/link/"), "/")[0]
		if strings.Contains(logs.String(), tok) {
			t.Fatalf("a token reached the log:\n%s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "path=/webdav/link/...") {
		t.Fatalf("link requests not logged:\n%s", logs.String())
	}
}
