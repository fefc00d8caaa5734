package interop

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestIMAPPythonCompress: COMPRESS=DEFLATE (RFC 4978) with a zlib client
// (Python's imaplib, switched to raw deflate after login) over implicit
// TLS: FETCH, a large APPEND literal, SEARCH, and a message pushed during
// IDLE all pass through the two DEFLATE streams.
func TestIMAPPythonCompress(t *testing.T) {
	py := needTool(t, "python3", "python3")
	e := startServer(t, "kim")
	_, raws := e.seedN(t, "kim", "compress", 2)
	tokIdle := token("compress-idle")
	r := runTool(t, nil, nil, py, filepath.Join("testdata", "imapcompress.py"), "127.0.0.1", e.port(t, "imaps"),
		"kim@"+domain, password("kim"), e.port(t, "smtp"), tokIdle)
	if r.Code != 0 {
		t.Fatalf("python exit %d:\n%s", r.Code, r.Out)
	}
	ls := lines(r.Out)
	var res pyResult
	if len(ls) == 0 || json.Unmarshal([]byte(ls[len(ls)-1]), &res) != nil {
		t.Fatalf("python printed no JSON result:\n%s", r.Out)
	}
	if caps := res.strs(t, "caps"); !slices.Contains(caps, "COMPRESS=DEFLATE") {
		t.Fatalf("capabilities after login %q lack COMPRESS=DEFLATE", caps)
	}
	if got := res.str(t, "compress"); !strings.HasPrefix(got, "OK") {
		t.Fatalf("COMPRESS DEFLATE = %q", got)
	}
	if got := res.str(t, "caps_after"); strings.Contains(got, "COMPRESS=DEFLATE") {
		t.Errorf("COMPRESS still offered when active: %q", got)
	}
	if got := res.str(t, "select"); got != "OK 2" {
		t.Errorf("SELECT = %q", got)
	}
	if got := res.strs(t, "fetch"); len(got) != 2 || got[0] != string(raws[0]) || got[1] != string(raws[1]) {
		t.Errorf("FETCH RFC822 through COMPRESS = %q", got)
	}
	if !regexp.MustCompile(`^OK \[APPENDUID \d+ 3\]`).MatchString(res.str(t, "append")) {
		t.Errorf("APPEND = %q", res.str(t, "append"))
	}
	if got := res.str(t, "search"); got != "3" {
		t.Errorf("SEARCH TEXT compressed = %q, want 3", got)
	}
	if got, want := res.str(t, "fetch_appended"), res.str(t, "append_raw"); got != want {
		t.Errorf("appended message came back with %d bytes, sent %d", len(got), len(want))
	}
	if pushed := res.strs(t, "idle_pushed"); !slices.Contains(pushed, "* 4 EXISTS") {
		t.Errorf("pushed during IDLE %q, want * 4 EXISTS", pushed)
	}
	if got := res.str(t, "idle_done"); !strings.Contains(got, " OK") {
		t.Errorf("IDLE ended with %q", got)
	}
	if got := res.str(t, "fetch_idle"); !strings.Contains(got, "Token: "+tokIdle) {
		t.Errorf("FETCH of the pushed message = %q", got)
	}
	if got := res.str(t, "logout"); got != "BYE" {
		t.Errorf("LOGOUT = %q", got)
	}
	m := e.mailbox(t, "kim", "INBOX")
	if len(m) != 4 {
		t.Fatalf("INBOX has %d messages, want 4", len(m))
	}
}

// TestIMAPMbsyncCompress: mbsync (isync 1.4) turns COMPRESS=DEFLATE on by
// itself when the server offers it; a full pull runs through it.
func TestIMAPMbsyncCompress(t *testing.T) {
	mbsync := needTool(t, "mbsync", "isync")
	e := startServer(t, "max")
	toks, _ := e.seedN(t, "max", "mbsync-z", 3)
	home := t.TempDir()
	maildir := filepath.Join(home, "Mail")
	rc := filepath.Join(home, "mbsyncrc")
	conf := fmt.Sprintf(`IMAPAccount floe
Host localhost
Port %s
User max@%s
Pass %s
SSLType IMAPS
CertificateFile %s
Timeout 30

IMAPStore floe-remote
Account floe

MaildirStore floe-local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel floe
Far :floe-remote:
Near :floe-local:
Patterns INBOX
Create Both
SyncState *
`, e.port(t, "imaps"), domain, password("max"), e.certFile(t), maildir, maildir)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	// -Dn: the network trace (commands as sent, before compression).
	r := runTool(t, nil, []string{"HOME=" + home}, mbsync, "-Dn", "-c", rc, "-a")
	if r.Code != 0 {
		t.Fatalf("mbsync exit %d:\n%s", r.Code, r.Out)
	}
	if !strings.Contains(r.Out, "COMPRESS DEFLATE") {
		t.Fatalf("mbsync did not use COMPRESS:\n%s", r.Out)
	}
	n := 0
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(maildir, "INBOX", sub))
		for _, ent := range ents {
			b, err := os.ReadFile(filepath.Join(maildir, "INBOX", sub, ent.Name()))
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range toks {
				if strings.Contains(string(b), "Token: "+tok) {
					n++
				}
			}
		}
	}
	if n != len(toks) {
		t.Fatalf("%d of %d messages pulled through COMPRESS", n, len(toks))
	}
}

// TestIMAPMuttCompress: mutt with imap_deflate=yes (COMPRESS=DEFLATE)
// copies tagged messages to a new folder; its debug log shows the
// command.
func TestIMAPMuttCompress(t *testing.T) {
	e := startServer(t, "mia")
	toks, _ := e.seedN(t, "mia", "mutt-z", 3)
	keys := "<tag-pattern>~A<enter><tag-prefix><copy-message>=Kept<enter><sync-mailbox><quit>"
	home, out := e.runMutt(t, "mia", "+INBOX", "set imap_deflate=yes\n", keys, "-d 2")
	kept := e.mailbox(t, "mia", "Kept")
	if len(kept) != 3 {
		t.Fatalf("Kept has %d messages after mutt copied 3 (mutt output:\n%s)", len(kept), out)
	}
	for _, tok := range toks {
		expectOne(t, kept, tok, "Token: "+tok)
	}
	logs, _ := filepath.Glob(filepath.Join(home, ".muttdebug*"))
	var trace strings.Builder
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		trace.Write(b)
	}
	if !strings.Contains(trace.String(), "COMPRESS DEFLATE") {
		t.Fatalf("mutt did not use COMPRESS (debug log %v):\n%s", logs, trace.String())
	}
}
