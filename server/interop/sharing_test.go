package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage/sqlite"
	"github.com/floemail/floe/storage/view"
)

// TestSharingPython runs the seed's Jane and John scenario with Python's
// imaplib (testdata/sharing.py).
func TestSharingPython(t *testing.T) {
	py := needTool(t, "python3", "python3")
	e := startServer(t, "jane", "john")
	r := runTool(t, nil, nil, py, filepath.Join("testdata", "sharing.py"), "127.0.0.1", e.port(t, "imaps"),
		"jane@"+domain, password("jane"), "john@"+domain, password("john"))
	if r.Code != 0 {
		t.Fatalf("python exit %d:\n%s", r.Code, r.Out)
	}
	ls := lines(r.Out)
	var res pyResult
	if len(ls) == 0 || json.Unmarshal([]byte(ls[len(ls)-1]), &res) != nil {
		t.Fatalf("python printed no JSON result:\n%s", r.Out)
	}
	check := func(key, prefix string) {
		t.Helper()
		if got := res.str(t, key); !strings.HasPrefix(got, prefix) {
			t.Errorf("%s = %q, want prefix %q", key, got, prefix)
		}
	}
	if caps := res.strs(t, "caps"); !slices.Contains(caps, "ACL") || !slices.Contains(caps, "RIGHTS=TEXK") {
		t.Errorf("capabilities %q lack ACL, RIGHTS=texk", caps)
	}
	// Calendar is one of every account's groupware folders (SPEC §5, §6):
	// CREATE finds it there already.
	if got := res.str(t, "create"); !strings.HasPrefix(got, "OK") && !strings.Contains(got, "[ALREADYEXISTS]") {
		t.Errorf("create = %q, want OK or ALREADYEXISTS", got)
	}
	check("append_jane", "OK")
	check("setacl_read", "OK")
	check("getacl", `OK "Calendar" "jane@example.test" lrswipkxtea "john@example.test" "lrs"`)
	if list := strings.Join(res.strs(t, "list"), "\n"); !strings.Contains(list, `"/" "~jane@example.test/Calendar"`) {
		t.Errorf("john's LIST lacks the shared Calendar:\n%s", list)
	}
	check("myrights", `OK "~jane@example.test/Calendar" "lrs"`)
	check("select", "OK READ-ONLY")
	if string(res["readonly"]) != "true" {
		t.Errorf("SELECT of a Read folder was not READ-ONLY")
	}
	if f := res.str(t, "fetch"); !strings.Contains(f, "Subject: Team meeting") {
		t.Errorf("FETCH = %q", f)
	}
	check("store", "NO")
	check("append_read", "NO")
	check("expunge", "NO")
	check("setacl_write", "OK")
	check("append_write", "OK")
	check("jane_search", "1 2")
	check("deleteacl", "OK")
	check("noop_after", "ABORT")
	if list := strings.Join(res.strs(t, "list_after"), "\n"); strings.Contains(list, "~jane") {
		t.Errorf("john still lists Jane's folder:\n%s", list)
	}
	check("select_after", "NO")
}

// shareFolder creates owner's folder name with n test messages and shares
// it with grantee (letters or a set), the way the CLI does.
func (e *env) shareFolder(t *testing.T, owner, name, grantee, rights string, n int) []string {
	t.Helper()
	var toks []string
	e.withStore(t, func(ctx context.Context, st *sqlite.Store) {
		o, err := st.Account(ctx, owner+"@"+domain)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := st.CreateMailbox(ctx, o.ID, name, "")
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			tok := token(fmt.Sprintf("shared-%d", i))
			toks = append(toks, tok)
			raw := testMessage("x@remote.test", owner+"@"+domain, tok)
			v, err := view.New(ctx, st, o.ID, view.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ref, err := st.PutBlob(ctx, strings.NewReader(string(raw)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Append(ctx, mb.ID, ref, nil, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		r, err := acl.ParseSpec(rights)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := view.NewAdmin(st, view.Options{}).ChangeACL(ctx, o.ID, mb.ID,
			[]acl.Change{{Identifier: acl.Identifier(grantee + "@" + domain), Op: acl.OpSet, Rights: r}}); err != nil {
			t.Fatal(err)
		}
	})
	return toks
}

// TestSharingMutt: mutt opens a folder shared with its account and copies
// its messages into one of the account's own folders. mutt takes "." in a
// folder name for a hierarchy delimiter unless imap_delim_chars says "/"
// (docs/sharing.md: the owner's domain has dots).
func TestSharingMutt(t *testing.T) {
	e := startServer(t, "jane", "mia")
	toks := e.shareFolder(t, "jane", "Shared", "mia", "read", 3)
	keys := "<tag-pattern>~A<enter><tag-prefix><copy-message>=Kept<enter><quit>"
	_, out := e.runMutt(t, "mia", "+~jane@"+domain+"/Shared", "set imap_delim_chars=\"/\"\n", keys, "")
	kept := e.mailbox(t, "mia", "Kept")
	if len(kept) != len(toks) {
		t.Fatalf("Kept has %d messages after mutt copied %d from the shared folder (mutt output:\n%s)", len(kept), len(toks), tail(out, 4000))
	}
	for _, tok := range toks {
		expectOne(t, kept, tok, "Token: "+tok)
	}
	// The owner's folder is untouched (mia may only read it).
	if n := len(e.mailbox(t, "jane", "Shared")); n != len(toks) {
		t.Errorf("jane's Shared has %d messages", n)
	}
}

// TestSharingMbsync: mbsync pulls a folder shared with its account into a
// local Maildir (named as the server lists it).
func TestSharingMbsync(t *testing.T) {
	mbsync := needTool(t, "mbsync", "isync")
	e := startServer(t, "jane", "max")
	toks := e.shareFolder(t, "jane", "Shared", "max", "read", 2)

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
Patterns * !INBOX
Create Near
Sync Pull
SyncState *
`, e.port(t, "imaps"), domain, password("max"), e.certFile(t), maildir, maildir)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	r := runTool(t, nil, []string{"HOME=" + home}, mbsync, "-c", rc, "-V", "-a")
	if r.Code != 0 {
		t.Fatalf("mbsync exit %d:\n%s", r.Code, r.Out)
	}
	dir := filepath.Join(maildir, "~jane@"+domain, "Shared")
	var all string
	n := 0
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, ent := range ents {
			b, err := os.ReadFile(filepath.Join(dir, sub, ent.Name()))
			if err != nil {
				t.Fatal(err)
			}
			all += string(b)
			n++
		}
	}
	if n != len(toks) {
		t.Fatalf("local %s has %d messages, want %d (mbsync output:\n%s)", dir, n, len(toks), tail(r.Out, 4000))
	}
	for _, tok := range toks {
		if !strings.Contains(all, "Token: "+tok) {
			t.Errorf("message %s not pulled from the shared folder", tok)
		}
	}

	// Read (lrs) keeps max's own \Seen: a message read locally is marked
	// read on the server for him by a full sync, and only for him.
	if err := os.WriteFile(rc, []byte(strings.Replace(conf, "Sync Pull\n", "", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "new"))
	if len(ents) == 0 {
		t.Fatal("no new message to mark read")
	}
	old := filepath.Join(dir, "new", ents[0].Name())
	if err := os.Rename(old, filepath.Join(dir, "cur", ents[0].Name()+"S")); err != nil {
		t.Fatal(err)
	}
	r = runTool(t, nil, []string{"HOME=" + home}, mbsync, "-c", rc, "-V", "-a")
	if r.Code != 0 {
		t.Fatalf("mbsync (full sync after marking a message read) exit %d:\n%s", r.Code, tail(r.Out, 4000))
	}
	e.withStore(t, func(ctx context.Context, st *sqlite.Store) {
		jane, err := st.Account(ctx, "jane@"+domain)
		if err != nil {
			t.Fatal(err)
		}
		maxAcct, err := st.Account(ctx, "max@"+domain)
		if err != nil {
			t.Fatal(err)
		}
		mb, err := st.Mailbox(ctx, jane.ID, "Shared")
		if err != nil {
			t.Fatal(err)
		}
		forMax, err := st.Status(ctx, mb.ID, maxAcct.ID)
		if err != nil {
			t.Fatal(err)
		}
		forJane, err := st.Status(ctx, mb.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if int(forMax.Unseen) != len(toks)-1 || int(forJane.Unseen) != len(toks) {
			t.Errorf("unseen: max %d (want %d), jane %d (want %d)", forMax.Unseen, len(toks)-1, forJane.Unseen, len(toks))
		}
	})
}
