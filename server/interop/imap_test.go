package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/server"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

// certFile returns the path of the server's generated self-signed
// certificate (PEM), for clients that pin it.
func (e *env) certFile(t *testing.T) string {
	t.Helper()
	cert, _ := server.SelfSignedCertPaths(e.dir)
	if _, err := os.Stat(cert); err != nil {
		t.Fatalf("server certificate: %v", err)
	}
	return cert
}

// mailboxNames returns the mailbox names of local@example.test.
func (e *env) mailboxNames(t *testing.T, local string) []string {
	t.Helper()
	var names []string
	e.withStore(t, func(ctx context.Context, st *sqlite.Store) {
		acct, err := st.Account(ctx, local+"@"+domain)
		if err != nil {
			t.Fatalf("account: %v", err)
		}
		mbs, err := st.Mailboxes(ctx, acct.ID)
		if err != nil {
			t.Fatalf("mailboxes: %v", err)
		}
		for _, m := range mbs {
			names = append(names, m.Name)
		}
	})
	return names
}

// hasFlag reports whether m carries flag (case-insensitively).
func hasFlag(m storedMsg, flag string) bool {
	return slices.ContainsFunc(m.Flags, func(f string) bool { return strings.EqualFold(f, flag) })
}

// seedN stores n test messages in local's INBOX and returns their tokens and
// raw contents.
func (e *env) seedN(t *testing.T, local, prefix string, n int) ([]string, [][]byte) {
	t.Helper()
	var toks []string
	var raws [][]byte
	for i := range n {
		tok := token(fmt.Sprintf("%s-%d", prefix, i))
		toks = append(toks, tok)
		raws = append(raws, testMessage("x@remote.test", local+"@"+domain, tok))
	}
	e.seed(t, local, raws...)
	return toks, raws
}

func TestIMAPPython(t *testing.T) {
	py := needTool(t, "python3", "python3")
	e := startServer(t, "ida", "jon")
	script := filepath.Join("testdata", "imapclient.py")

	for _, tc := range []struct{ mode, listener, local string }{
		{"starttls", "imap", "ida"},
		{"ssl", "imaps", "jon"},
	} {
		t.Run("imaplib-"+tc.mode, func(t *testing.T) {
			toks, raws := e.seedN(t, tc.local, "imaplib", 3)
			tokAppend, tokIdle := token("imaplib-append"), token("imaplib-idle")
			r := runTool(t, nil, nil, py, script, "session", tc.mode, "127.0.0.1", e.port(t, tc.listener),
				tc.local+"@"+domain, password(tc.local), e.port(t, "smtp"), toks[1], tokAppend, tokIdle)
			if r.Code != 0 {
				t.Fatalf("python exit %d:\n%s", r.Code, r.Out)
			}
			ls := lines(r.Out)
			var res pyResult
			if len(ls) == 0 || json.Unmarshal([]byte(ls[len(ls)-1]), &res) != nil {
				t.Fatalf("python printed no JSON result:\n%s", r.Out)
			}
			check := func(key, want string) {
				t.Helper()
				if got := res.str(t, key); got != want {
					t.Errorf("%s = %q, want %q", key, got, want)
				}
			}
			contains := func(key, want string) {
				t.Helper()
				if got := res.str(t, key); !strings.Contains(got, want) {
					t.Errorf("%s = %q, want it to contain %q", key, got, want)
				}
			}
			if tc.mode == "starttls" {
				before := res.strs(t, "caps_before_tls")
				if !slices.Contains(before, "STARTTLS") {
					t.Errorf("capabilities before TLS %q lack STARTTLS", before)
				}
				check("starttls", "OK")
			}
			caps := res.strs(t, "caps")
			for _, c := range []string{"IMAP4REV1", "IDLE", "UIDPLUS", "AUTH=PLAIN"} {
				if !slices.Contains(caps, c) {
					t.Errorf("capabilities %q lack %s", caps, c)
				}
			}
			if slices.Contains(caps, "STARTTLS") {
				t.Errorf("STARTTLS still advertised inside TLS: %q", caps)
			}
			check("login", "OK")
			if list := res.strs(t, "list"); !slices.ContainsFunc(list, func(l string) bool {
				return strings.HasSuffix(l, `"/" INBOX`) || strings.HasSuffix(l, `"/" "INBOX"`)
			}) {
				t.Errorf("LIST = %q, want INBOX with delimiter /", list)
			}
			check("select", "OK 3")
			check("search_all", "1 2 3")
			check("search_unseen", "1 2 3")
			check("search_text", "2")
			check("fetch_rfc822", string(raws[0]))
			check("fetch_header", string(raws[1][:strings.Index(string(raws[1]), "\r\n\r\n")+4]))
			contains("fetch_bodystructure", `("TEXT" "PLAIN" ("CHARSET" "us-ascii")`)
			flags := res.strs(t, "fetch_flags")
			if len(flags) != 3 || !strings.Contains(flags[0], `\Seen`) || strings.Contains(flags[1], `\Seen`) ||
				strings.Contains(flags[2], `\Seen`) {
				t.Errorf("FLAGS after FETCH RFC822 of 1 and BODY.PEEK of 2 = %q, want only 1 \\Seen", flags)
			}
			if st := res.strs(t, "store"); len(st) != 1 || !strings.Contains(st[0], `\Seen`) {
				t.Errorf("STORE 3 +FLAGS response = %q, want FETCH with \\Seen", st)
			}
			check("search_unseen_after", "2")
			if !regexp.MustCompile(`^OK \[APPENDUID \d+ \d+\]`).MatchString(res.str(t, "append")) {
				t.Errorf("APPEND = %q, want OK [APPENDUID ...]", res.str(t, "append"))
			}
			if got := res.str(t, "create"); !strings.HasPrefix(got, "OK") {
				t.Errorf("CREATE Saved/2024 = %q, want OK", got)
			}
			if !regexp.MustCompile(`^OK \[COPYUID \d+ \d+ \d+\]`).MatchString(res.str(t, "copy")) {
				t.Errorf("COPY = %q, want OK [COPYUID ...]", res.str(t, "copy"))
			}
			check("expunge", "OK 1")
			if got := res.str(t, "idle_cont"); !strings.HasPrefix(got, "+") {
				t.Errorf("IDLE continuation = %q", got)
			}
			if pushed := res.strs(t, "idle_pushed"); !slices.Contains(pushed, "* 4 EXISTS") {
				// 3 seeded + 1 appended - 1 expunged + 1 delivered.
				t.Errorf("pushed during IDLE %q, want * 4 EXISTS", pushed)
			}
			if got := res.str(t, "idle_done"); !strings.Contains(got, " OK") {
				t.Errorf("IDLE ended with %q, want OK", got)
			}
			contains("fetch_idle", "Token: "+tokIdle)
			contains("logout", "BYE")

			// The store agrees with what the client was told.
			inbox := e.mailbox(t, tc.local, "INBOX")
			if len(inbox) != 4 || len(withToken(inbox, toks[0])) != 0 {
				t.Fatalf("INBOX has %d messages (want 4, without the expunged %s)", len(inbox), toks[0])
			}
			if m := expectOne(t, inbox, toks[1], "Token: "+toks[1]); hasFlag(m, `\Seen`) {
				t.Errorf("message 2 was only peeked at, but is \\Seen: %q", m.Flags)
			}
			if m := expectOne(t, inbox, toks[2], "Token: "+toks[2]); !hasFlag(m, `\Seen`) {
				t.Errorf("message 3: flags %q, want \\Seen", m.Flags)
			}
			m := expectOne(t, inbox, tokAppend, "Token: "+tokAppend)
			if !hasFlag(m, `\Flagged`) {
				t.Errorf("appended message: flags %q, want \\Flagged", m.Flags)
			}
			if string(m.Raw) != res.str(t, "append_raw") {
				t.Errorf("appended message stored as %q, want %q", m.Raw, res.str(t, "append_raw"))
			}
			expectOne(t, inbox, tokIdle, "Token: "+tokIdle)
			expectOne(t, e.mailbox(t, tc.local, "Saved/2024"), toks[1], "Token: "+toks[1])
		})
	}

	t.Run("imaplib-bad-password", func(t *testing.T) {
		r := runTool(t, nil, nil, py, script, "login", "ssl", "127.0.0.1", e.port(t, "imaps"),
			"ida@"+domain, "wrong")
		if r.Code != 0 {
			t.Fatalf("python exit %d:\n%s", r.Code, r.Out)
		}
		if !strings.Contains(r.Out, `"login": "NO `) || !strings.Contains(r.Out, "AUTHENTICATIONFAILED") {
			t.Errorf("LOGIN with a wrong password: want NO [AUTHENTICATIONFAILED]:\n%s", r.Out)
		}
	})
}

func TestIMAPCurl(t *testing.T) {
	curl := needTool(t, "curl", "curl")
	e := startServer(t, "kim")
	_, raws := e.seedN(t, "kim", "curl-imap", 2)
	user := "kim@" + domain + ":" + password("kim")
	imapURL := "imap://127.0.0.1:" + e.port(t, "imap")
	imapsURL := "imaps://127.0.0.1:" + e.port(t, "imaps")
	run := func(t *testing.T, args ...string) toolResult {
		t.Helper()
		return runTool(t, nil, nil, curl, append([]string{"-sS", "--max-time", "60", "-u", user}, args...)...)
	}
	ok := func(t *testing.T, r toolResult) {
		t.Helper()
		if r.Code != 0 {
			t.Fatalf("curl exit %d:\n%s", r.Code, r.Out)
		}
	}
	t.Run("fetch-uid", func(t *testing.T) {
		r := run(t, imapURL+"/INBOX;UID=1")
		ok(t, r)
		if r.Out != string(raws[0]) {
			t.Fatalf("fetched %q, want %q", r.Out, raws[0])
		}
	})
	t.Run("starttls-fetch", func(t *testing.T) {
		r := run(t, imapURL+"/INBOX;UID=2", "--ssl-reqd", "-k")
		ok(t, r)
		if r.Out != string(raws[1]) {
			t.Fatalf("fetched %q, want %q", r.Out, raws[1])
		}
	})
	t.Run("imaps-fetch", func(t *testing.T) {
		r := run(t, imapsURL+"/INBOX;UID=2", "-k")
		ok(t, r)
		if r.Out != string(raws[1]) {
			t.Fatalf("fetched %q, want %q", r.Out, raws[1])
		}
	})
	t.Run("list", func(t *testing.T) {
		r := run(t, imapURL+"/")
		ok(t, r)
		if !slices.ContainsFunc(lines(r.Out), func(l string) bool {
			return strings.HasPrefix(l, "* LIST ") && (strings.HasSuffix(l, " INBOX") || strings.HasSuffix(l, ` "INBOX"`))
		}) {
			t.Fatalf("LIST output lacks INBOX:\n%s", r.Out)
		}
	})
	t.Run("examine", func(t *testing.T) {
		r := run(t, imapsURL+"/", "-k", "-X", "EXAMINE INBOX")
		ok(t, r)
		ls := lines(r.Out)
		if !slices.Contains(ls, "* 2 EXISTS") {
			t.Errorf("EXAMINE output lacks * 2 EXISTS:\n%s", r.Out)
		}
		if !slices.ContainsFunc(ls, func(l string) bool { return strings.HasPrefix(l, "* OK [UIDVALIDITY ") }) {
			t.Errorf("EXAMINE output lacks UIDVALIDITY:\n%s", r.Out)
		}
	})
	t.Run("bad-password", func(t *testing.T) {
		r := runTool(t, nil, nil, curl, "-sS", "--max-time", "60", "-u", "kim@"+domain+":wrong", imapURL+"/INBOX;UID=1")
		if r.Code != 67 { // CURLE_LOGIN_DENIED
			t.Fatalf("curl exit %d, want 67 (login denied):\n%s", r.Code, r.Out)
		}
	})
	// Reading with curl (BODY[] on a read-write SELECT) marks messages seen,
	// deletes nothing.
	inbox := e.mailbox(t, "kim", "INBOX")
	if len(inbox) != 2 {
		t.Fatalf("INBOX has %d messages, want 2", len(inbox))
	}
}

func TestIMAPFetchmail(t *testing.T) {
	fetchmail := needTool(t, "fetchmail", "fetchmail")
	e := startServer(t, "lea")
	toks, _ := e.seedN(t, "lea", "fetchmail-imap", 3)
	f := newFetchmail(t, e, fetchmail, "IMAP", "imaps", "lea")

	t.Run("keep", func(t *testing.T) {
		f.expectFetched(t, "--keep", toks)
		inbox := e.mailbox(t, "lea", "INBOX")
		if len(inbox) != 3 {
			t.Fatalf("INBOX has %d messages after --keep, want 3", len(inbox))
		}
		for _, m := range inbox {
			if !hasFlag(m, `\Seen`) {
				t.Errorf("UID %d: flags %q after fetchmail read it, want \\Seen", m.UID, m.Flags)
			}
		}
	})
	t.Run("nokeep", func(t *testing.T) {
		f.expectFetched(t, "--nokeep", toks)
		if n := len(e.mailbox(t, "lea", "INBOX")); n != 0 {
			t.Fatalf("INBOX has %d messages after --nokeep, want 0 (deleted and expunged)", n)
		}
		if r := f.run(t, "--nokeep"); r.Code != 1 {
			t.Fatalf("fetchmail on an empty mailbox: exit %d, want 1 (no mail):\n%s", r.Code, r.Out)
		}
	})
}

func TestIMAPMbsync(t *testing.T) {
	mbsync := needTool(t, "mbsync", "isync")
	e := startServer(t, "max")
	toks, raws := e.seedN(t, "max", "mbsync", 3)

	home := t.TempDir()
	maildir := filepath.Join(home, "Mail")
	rc := filepath.Join(home, "mbsyncrc")
	// The certificate names localhost (and 127.0.0.1 as an IP SAN, which
	// isync does not match).
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
Patterns *
Create Both
Expunge Both
SyncState *
`, e.port(t, "imaps"), domain, password("max"), e.certFile(t), maildir, maildir)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	sync := func(t *testing.T) {
		t.Helper()
		r := runTool(t, nil, []string{"HOME=" + home}, mbsync, "-c", rc, "-V", "-a")
		if r.Code != 0 {
			t.Fatalf("mbsync exit %d:\n%s", r.Code, r.Out)
		}
	}
	// maildirFiles returns the message files of a local Maildir folder (new
	// and cur) with their contents.
	maildirFiles := func(t *testing.T, folder string) map[string]string {
		t.Helper()
		out := map[string]string{}
		for _, sub := range []string{"new", "cur"} {
			ents, _ := os.ReadDir(filepath.Join(maildir, folder, sub))
			for _, ent := range ents {
				p := filepath.Join(maildir, folder, sub, ent.Name())
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				out[p] = string(b)
			}
		}
		return out
	}

	t.Run("pull", func(t *testing.T) {
		sync(t)
		files := maildirFiles(t, "INBOX")
		if len(files) != 3 {
			t.Fatalf("local INBOX has %d messages after the first sync, want 3", len(files))
		}
		for i, tok := range toks {
			found := false
			for _, body := range files {
				if strings.Contains(body, "Token: "+tok) {
					found = true
					// mbsync adds its own X-TUID header to the local copy.
					local := regexp.MustCompile(`(?m)^X-TUID: .*\n`).ReplaceAllString(string(normalizeCRLF([]byte(body))), "")
					if local != string(normalizeCRLF(raws[i])) {
						t.Errorf("local copy of %s differs:\n%q\nwant\n%q", tok, body, raws[i])
					}
				}
			}
			if !found {
				t.Errorf("message %s not synced to the Maildir", tok)
			}
		}
	})

	tokLocal := token("mbsync-local")
	t.Run("push-new-and-flag", func(t *testing.T) {
		// A new message written into the local Maildir, and a local flag.
		raw := testMessage("max@"+domain, "someone@remote.test", tokLocal)
		name := fmt.Sprintf("%d.floe-interop.localhost:2,S", time.Now().Unix())
		if err := os.WriteFile(filepath.Join(maildir, "INBOX", "cur", name), raw, 0o600); err != nil {
			t.Fatal(err)
		}
		for p, body := range maildirFiles(t, "INBOX") {
			if strings.Contains(body, "Token: "+toks[0]) {
				base := p
				if i := strings.Index(filepath.Base(p), ":2,"); i >= 0 {
					base = filepath.Join(filepath.Dir(filepath.Dir(p)), "cur", filepath.Base(p)[:i])
				} else {
					base = filepath.Join(filepath.Dir(filepath.Dir(p)), "cur", filepath.Base(p))
				}
				if err := os.Rename(p, base+":2,FS"); err != nil {
					t.Fatal(err)
				}
			}
		}
		// A new local folder, created on the server by "Create Both".
		for _, sub := range []string{"cur", "new", "tmp"} {
			os.MkdirAll(filepath.Join(maildir, "Projects", sub), 0o700)
		}
		sync(t)
		inbox := e.mailbox(t, "max", "INBOX")
		if len(inbox) != 4 {
			t.Fatalf("server INBOX has %d messages after pushing, want 4", len(inbox))
		}
		m := expectOne(t, inbox, tokLocal, "Token: "+tokLocal)
		if !hasFlag(m, `\Seen`) {
			t.Errorf("pushed message: flags %q, want \\Seen", m.Flags)
		}
		m = expectOne(t, inbox, toks[0], "Token: "+toks[0])
		if !hasFlag(m, `\Flagged`) || !hasFlag(m, `\Seen`) {
			t.Errorf("locally flagged message: server flags %q, want \\Flagged \\Seen", m.Flags)
		}
		if names := e.mailboxNames(t, "max"); !slices.Contains(names, "Projects") {
			t.Errorf("server mailboxes %q lack Projects (created from the Maildir)", names)
		}
	})

	t.Run("server-changes-pulled", func(t *testing.T) {
		// A change on the server (a new message, and an expunge done through
		// the store) reaches the Maildir on the next sync.
		tokNew := token("mbsync-server")
		e.seed(t, "max", testMessage("x@remote.test", "max@"+domain, tokNew))
		e.withStore(t, func(ctx context.Context, st *sqlite.Store) {
			acct, err := st.Account(ctx, "max@"+domain)
			if err != nil {
				t.Fatal(err)
			}
			mb, err := st.Mailbox(ctx, acct.ID, "INBOX")
			if err != nil {
				t.Fatal(err)
			}
			var uid storage.UID
			for _, m := range readMailbox(ctx, t, st, "max@"+domain, "INBOX") {
				if strings.Contains(string(m.Raw), toks[2]) {
					uid = m.UID
				}
			}
			if uid == 0 {
				t.Fatalf("message %s not on the server", toks[2])
			}
			if _, err := st.Expunge(ctx, mb.ID, []storage.UID{uid}); err != nil {
				t.Fatalf("expunge: %v", err)
			}
		})
		sync(t)
		files := maildirFiles(t, "INBOX")
		var all string
		for _, b := range files {
			all += b
		}
		if !strings.Contains(all, "Token: "+tokNew) {
			t.Errorf("server-side new message %s not pulled", tokNew)
		}
		if strings.Contains(all, "Token: "+toks[2]) {
			t.Errorf("message %s expunged on the server is still in the Maildir", toks[2])
		}
		if len(files) != 4 {
			t.Errorf("local INBOX has %d messages, want 4", len(files))
		}
	})
}

func TestIMAPMutt(t *testing.T) {
	e := startServer(t, "mia")
	toks, _ := e.seedN(t, "mia", "mutt", 3)
	// Tag every message, copy them to a new folder (created on the fly),
	// flag the first one, write the changes back, quit.
	keys := "<tag-pattern>~A<enter><tag-prefix><copy-message>=Kept<enter>" +
		"<first-entry><flag-message><sync-mailbox><quit>"
	_, out := e.runMutt(t, "mia", "+INBOX", "set imap_keepalive=30\nset sort=date-sent\n", keys, "")
	kept := e.mailbox(t, "mia", "Kept")
	if len(kept) != 3 {
		t.Fatalf("Kept has %d messages after mutt copied 3 (mutt output:\n%s)", len(kept), out)
	}
	for _, tok := range toks {
		expectOne(t, kept, tok, "Token: "+tok)
	}
	inbox := e.mailbox(t, "mia", "INBOX")
	if len(inbox) != 3 {
		t.Fatalf("INBOX has %d messages, want 3", len(inbox))
	}
	flagged := 0
	for _, m := range inbox {
		if hasFlag(m, `\Flagged`) {
			flagged++
		}
	}
	if flagged != 1 {
		t.Errorf("%d INBOX messages are \\Flagged after mutt flagged one, want 1", flagged)
	}
}
