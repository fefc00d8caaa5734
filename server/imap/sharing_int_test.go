package imap

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

// shareEnv is the sharing tests' server: accounts jane, john and bob of
// example.test and joe of other.test (password "password"), a group
// team@example.test with bob, on loopback.
type shareEnv struct {
	addr  string
	store *sqlite.Store
	ids   map[string]storage.AccountID
}

func newShareEnv(t *testing.T) *shareEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, d := range []string{"example.test", "other.test"} {
		if err := st.PutDomain(ctx, storage.Domain{Name: d}); err != nil {
			t.Fatal(err)
		}
	}
	hash, err := auth.HashPassword("password")
	if err != nil {
		t.Fatal(err)
	}
	env := &shareEnv{store: st, ids: map[string]storage.AccountID{}}
	for _, a := range []string{"jane@example.test", "john@example.test", "bob@example.test", "joe@other.test"} {
		acct, err := st.CreateAccount(ctx, storage.Account{Address: a, PasswordHash: hash})
		if err != nil {
			t.Fatal(err)
		}
		env.ids[a] = acct.ID
	}
	if err := st.PutGroup(ctx, storage.Group{Address: "team@example.test", Members: []string{"bob@example.test"}}); err != nil {
		t.Fatal(err)
	}
	cfg := config.Development()
	cfg.Auth.FailureDelay = 0
	cfg.IMAP.MaxConnectionsPerUserIP = 100
	env.addr = serveTest(t, st, cfg)
	return env
}

func (env *shareEnv) client(t *testing.T, user string) *imapclient.Client {
	t.Helper()
	return loginTest(t, env.addr, user)
}

func (env *shareEnv) raw(t *testing.T, user string) *mbxConn {
	t.Helper()
	c, err := net.Dial("tcp", env.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &mbxConn{t: t, c: c, r: bufio.NewReader(c)}
	rc.line() // greeting
	if user != "" {
		rc.ok("L0 LOGIN " + user + " password")
	}
	return rc
}

func appendMsg(t *testing.T, c *imapclient.Client, mailbox, subject string) error {
	t.Helper()
	msg := testMessage(subject)
	cmd := c.Append(mailbox, int64(len(msg)), nil)
	if _, err := cmd.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := cmd.Wait()
	return err
}

func listNames(t *testing.T, c *imapclient.Client, pattern string) []string {
	t.Helper()
	ls, err := c.List("", pattern, nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.Mailbox)
	}
	return out
}

func imapCode(err error) imap.ResponseCode {
	if e, ok := err.(*imap.Error); ok {
		return e.Code
	}
	return ""
}

// TestSharingJaneJohn is the seed's scenario with go-imap v2's client:
// Jane gives John Read on her Calendar; he sees it, selects it read-only
// and fetches (keeping his own \Seen) but cannot store other flags, append
// or expunge; Jane raises him to
// Write and his APPEND works; she removes him and his next command cannot
// see it.
func TestSharingJaneJohn(t *testing.T) {
	t.Parallel()
	env := newShareEnv(t)
	jane := env.client(t, "jane@example.test")
	if err := jane.Create("Calendar", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := appendMsg(t, jane, "Calendar", "Team meeting"); err != nil {
		t.Fatal(err)
	}
	rights := imap.RightSet("lrs") // Read
	if err := jane.SetACL("Calendar", "john@example.test", imap.RightModificationReplace, rights).Wait(); err != nil {
		t.Fatal(err)
	}
	acl, err := jane.GetACL("Calendar").Wait()
	if err != nil || string(acl.Rights["john@example.test"]) != "lrs" || string(acl.Rights["jane@example.test"]) != "lrswipkxtea" {
		t.Fatalf("GETACL: %+v %v", acl, err)
	}

	john := env.client(t, "john@example.test")
	names := listNames(t, john, "*")
	if !slices.Contains(names, "~jane@example.test/Calendar") || !slices.Contains(names, "~jane@example.test") {
		t.Fatalf("john's LIST: %q", names)
	}
	if got := listNames(t, john, "~*"); !slices.Equal(got, []string{"~jane@example.test", "~jane@example.test/Calendar"}) {
		t.Fatalf("john's LIST ~*: %q", got)
	}
	my, err := john.MyRights("~jane@example.test/Calendar").Wait()
	if err != nil || string(my.Rights) != "lrs" {
		t.Fatalf("MYRIGHTS: %+v %v", my, err)
	}
	st, err := john.Status("~jane@example.test/Calendar", &imap.StatusOptions{NumMessages: true, NumUnseen: true}).Wait()
	if err != nil || *st.NumMessages != 1 || *st.NumUnseen != 1 {
		t.Fatalf("STATUS: %+v %v", st, err)
	}
	// Read-only (RFC 4314 5.2: no i, e, w or t), but "s" keeps John's own
	// \Seen: PERMANENTFLAGS says so, and reading a body or STORE sets it.
	sel, err := john.Select("~jane@example.test/Calendar", nil).Wait()
	if err != nil || sel.NumMessages != 1 || !slices.Equal(sel.PermanentFlags, []imap.Flag{imap.FlagSeen}) {
		t.Fatalf("SELECT: %+v %v", sel, err)
	}
	msgs, err := john.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true, Flags: true, BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "Team meeting" || !slices.Contains(msgs[0].Flags, imap.FlagSeen) {
		t.Fatalf("FETCH: %+v %v", msgs, err)
	}
	if err := john.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err == nil {
		t.Fatal("STORE in a read-only shared folder succeeded")
	}
	if err := john.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatalf("STORE -FLAGS \\Seen with s: %v", err)
	}
	if err := john.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatalf("STORE +FLAGS \\Seen with s: %v", err)
	}
	if st, err := jane.Status("Calendar", &imap.StatusOptions{NumUnseen: true}).Wait(); err != nil || *st.NumUnseen != 1 {
		t.Fatalf("Jane's unseen after John read: %+v %v", st, err)
	}
	if err := appendMsg(t, john, "~jane@example.test/Calendar", "from john"); err == nil || imapCode(err) != imap.ResponseCodeNoPerm {
		t.Fatalf("APPEND with Read: %v", err)
	}
	if err := john.Expunge().Close(); err == nil {
		t.Fatal("EXPUNGE in a read-only shared folder succeeded")
	}
	if err := john.SetACL("~jane@example.test/Calendar", "john@example.test", imap.RightModificationAdd, imap.RightSet("i")).Wait(); imapCode(err) != imap.ResponseCodeNoPerm {
		t.Fatalf("SETACL by John: %v", err)
	}

	// The information mail reached John's INBOX, and the folder is
	// subscribed for him.
	subs, err := john.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil || !slices.ContainsFunc(subs, func(l *imap.ListData) bool { return l.Mailbox == "~jane@example.test/Calendar" }) {
		t.Fatalf("subscribed: %+v %v", subs, err)
	}
	info := env.raw(t, "john@example.test")
	info.ok("s1 SELECT INBOX")
	u := info.ok("f1 FETCH 1 BODY.PEEK[HEADER.FIELDS (X-Floe-Share SUBJECT)]")
	if !strings.Contains(strings.Join(u, "\n"), `X-Floe-Share: owner=jane@example.test; scope=folder; folder="Calendar"; rights=lrs; name="~jane@example.test/Calendar"`) {
		t.Fatalf("information mail: %q", u)
	}

	// Write: APPEND works.
	if err := jane.SetACL("Calendar", "john@example.test", imap.RightModificationAdd, imap.RightSet("ik")).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := appendMsg(t, john, "~jane@example.test/Calendar", "from john"); err != nil {
		t.Fatalf("APPEND with Write: %v", err)
	}
	if st, _ := jane.Status("Calendar", &imap.StatusOptions{NumMessages: true}).Wait(); *st.NumMessages != 2 {
		t.Fatalf("jane's Calendar has %d messages", *st.NumMessages)
	}

	// Removed: John's next command ends the selection (BYE); on
	// reconnection the folder does not exist for him.
	if err := jane.SetACL("Calendar", "john@example.test", imap.RightModificationReplace, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := john.Noop().Wait(); err == nil {
		t.Fatal("NOOP in a revoked selected folder succeeded")
	}
	john2 := env.client(t, "john@example.test")
	if names := listNames(t, john2, "*"); slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "~") }) {
		t.Fatalf("john still lists %q", names)
	}
	if _, err := john2.Select("~jane@example.test/Calendar", nil).Wait(); imapCode(err) != imap.ResponseCodeNonExistent {
		t.Fatalf("SELECT after removal: %v", err)
	}
}

// TestSharingTranscript checks responses byte for byte: READ-ONLY, the ACL
// commands and their modifiers, account sharing through the root
// "~owner@domain", inheritance, a group, a domain, anyone and negative
// rights.
func TestSharingTranscript(t *testing.T) {
	t.Parallel()
	env := newShareEnv(t)
	jane := env.raw(t, "jane@example.test")
	jane.ok("c1 CREATE Projects/Alpha")
	jane.ok(`a1 SETACL Projects john lrs`)
	jane.ok(`a2 SETACL Projects john +wi`)
	jane.ok(`a3 SETACL Projects -john w`)
	jane.want(`a4 GETACL Projects`, "OK",
		`* ACL "Projects" "jane@example.test" lrswipkxtea "john@example.test" "lrswi" "-john@example.test" "w"`)
	jane.want(`a5 LISTRIGHTS Projects john@example.test`, "OK",
		`* LISTRIGHTS "Projects" "john@example.test" "" l r s w i p k x t e a`)
	jane.want(`a6 LISTRIGHTS Projects jane@example.test`, "OK",
		`* LISTRIGHTS "Projects" "jane@example.test" "lrswipkxtea"`)
	jane.want(`a7 SETACL Projects jane@example.test lr`, "NO [CANNOT]")
	jane.want(`a8 SETACL Projects john@example.test lrq`, "BAD")
	jane.want(`a9 MYRIGHTS Projects`, "OK", `* MYRIGHTS "Projects" "lrswipkxtea"`)

	john := env.raw(t, "john@example.test")
	// Projects/Alpha inherits; "w" is taken away by the negative entry:
	// read-write only through "i".
	john.want(`m1 MYRIGHTS ~jane@example.test/Projects/Alpha`, "OK", `* MYRIGHTS "~jane@example.test/Projects/Alpha" "lrsi"`)
	u, tagged := john.cmd(`s1 SELECT ~jane@example.test/Projects/Alpha`)
	if tagged != "s1 OK [READ-WRITE] SELECT completed" || !slices.Contains(u, `* OK [PERMANENTFLAGS (\Seen)] flags permitted`) {
		t.Fatalf("SELECT with lrsi: %q %q", u, tagged)
	}
	john.ok("s2 UNSELECT")
	// Cancel inheritance on Alpha: nothing there for John.
	jane.ok(`a10 DELETEACL Projects/Alpha john`)
	jane.want(`a11 GETACL Projects/Alpha`, "OK", `* ACL "Projects/Alpha" "jane@example.test" lrswipkxtea "-john@example.test" "w"`)
	john.want(`m2 MYRIGHTS ~jane@example.test/Projects/Alpha`, "NO [NONEXISTENT]")
	// A read-only SELECT with Read only.
	jane.ok(`a12 SETACL Projects/Alpha john read`)
	jane.ok(`a13 SETACL Projects/Alpha john lrs`)
	u, tagged = john.cmd(`s3 EXAMINE ~jane@example.test/Projects/Alpha`)
	if tagged != "s3 OK [READ-ONLY] EXAMINE completed" || !slices.Contains(u, `* OK [PERMANENTFLAGS ()] read-only mailbox`) {
		t.Fatalf("EXAMINE: %q %q", u, tagged)
	}
	_, tagged = john.cmd(`s4 SELECT ~jane@example.test/Projects/Alpha`)
	if tagged != "s4 OK [READ-ONLY] SELECT completed" {
		t.Fatalf("SELECT with lrs: %q", tagged)
	}
	john.ok("s5 UNSELECT")

	// Account sharing: the root "~jane@example.test".
	jane.ok(`r1 SETACL ~jane@example.test team@example.test lr`)
	jane.ok(`r2 SETACL ~jane@example.test @other.test l`)
	jane.want(`r3 GETACL ~jane@example.test`, "OK", `* ACL "~jane@example.test" "jane@example.test" lrswipkxtea "@other.test" "l" "team@example.test" "lr"`)
	bob := env.raw(t, "bob@example.test")
	bob.want(`b1 LIST "" "~jane@example.test/%"`, "OK",
		`* LIST (\HasNoChildren) "/" "~jane@example.test/Archive"`,
		`* LIST (\HasNoChildren) "/" "~jane@example.test/Drafts"`,
		`* LIST (\HasNoChildren) "/" "~jane@example.test/INBOX"`,
		`* LIST (\HasNoChildren) "/" "~jane@example.test/Junk"`,
		`* LIST (\HasNoChildren) "/" "~jane@example.test/Sent"`,
		`* LIST (\HasNoChildren) "/" "~jane@example.test/Trash"`)
	bob.want(`b2 MYRIGHTS ~jane@example.test`, "OK", `* MYRIGHTS "~jane@example.test" "lr"`)
	joe := env.raw(t, "joe@other.test")
	joe.want(`j1 STATUS ~jane@example.test/INBOX (MESSAGES)`, "NO [NOPERM]")
	joe.want(`j2 LIST "" "~jane@example.test/INB*"`, "OK", `* LIST (\HasNoChildren) "/" "~jane@example.test/INBOX"`)
	// anyone, and a negative entry for one account.
	jane.ok(`r4 SETACL Projects anyone lrw`)
	jane.ok(`r5 SETACL Projects -bob@example.test w`)
	bob.want(`b3 MYRIGHTS ~jane@example.test/Projects`, "OK", `* MYRIGHTS "~jane@example.test/Projects" "lr"`)
	joe.want(`j3 MYRIGHTS ~jane@example.test/Projects`, "OK", `* MYRIGHTS "~jane@example.test/Projects" "lrw"`)
	// Without "l" a folder does not exist, whatever else is granted.
	jane.ok(`r6 SETACL Projects -bob@example.test lw`)
	bob.want(`b4 MYRIGHTS ~jane@example.test/Projects`, "NO [NONEXISTENT]")
	bob.want(`b5 LIST "" "~jane@example.test/Pro*"`, "OK")
	// NAMESPACE.
	joe.want(`n1 NAMESPACE`, "OK", `* NAMESPACE (("" "/")) (("~" "/")) (("#public/" "/"))`)
}

// TestIsolationProbes: with no rights on a folder, every command answers
// exactly as for a folder that does not exist, byte for byte (the name
// aside), and LIST shows nothing of it.
func TestIsolationProbes(t *testing.T) {
	t.Parallel()
	env := newShareEnv(t)
	jane := env.raw(t, "jane@example.test")
	john := env.raw(t, "john@example.test")
	john.ok("p0 CREATE Mine")
	listing := func() []string {
		var out []string
		for i, p := range []string{`LIST "" "*"`, `LIST "" "~*"`, `LIST "" "%"`, `LIST "" "~%"`, `LIST "" "#public*"`,
			`LIST (SUBSCRIBED) "" "*"`, `LSUB "" "*"`, `LIST "" "*" RETURN (STATUS (MESSAGES))`} {
			u := john.ok(fmt.Sprintf("l%d %s", i, p))
			out = append(out, u...)
		}
		return out
	}
	before := listing()
	jane.ok("j1 CREATE Secret")
	jane.ok(`j2 APPEND Secret {7}` + "\r\nx: y\r\n\r\n" + "")
	jane.ok("j3 SUBSCRIBE Secret")
	jane.ok(`j4 SETACL Secret bob@example.test lrs`)
	if after := listing(); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("LIST changed with a folder john may not see:\nbefore %q\nafter  %q", before, after)
	}

	probes := []string{
		`STATUS {N} (MESSAGES UNSEEN)`,
		`SELECT {N}`,
		`EXAMINE {N}`,
		`SELECT INBOX|COPY 1:* {N}`,
		`SELECT INBOX|MOVE 1:* {N}`,
		`SELECT INBOX|UID COPY 1:* {N}`,
		`RENAME {N} Stolen`,
		`RENAME Mine {N}/Inside`,
		`DELETE {N}`,
		`SUBSCRIBE {N}`,
		`GETACL {N}`,
		`MYRIGHTS {N}`,
		`LISTRIGHTS {N} john@example.test`,
		`SETACL {N} john@example.test lrswipkxtea`,
		`DELETEACL {N} bob@example.test`,
		`SETMETADATA {N} (/private/comment "x")`,
		`GETMETADATA {N} /shared/comment`,
		`GETQUOTAROOT {N}`,
		`CREATE {N}/Sub`,
		`APPEND {N} {7+}` + "\r\nx: y\r\n",
		`LIST "" {N}`,
		`LIST "" {N}/*`,
	}
	names := []string{`"~jane@example.test/Secret"`, `"~jane@example.test/NoSuchFolder"`, `"~ghost@example.test/Secret"`, `"~JANE@example.test/secret"`}
	for i, p := range probes {
		var ref []string
		for j, n := range names {
			var got []string
			for k, c := range strings.Split(p, "|") {
				line := fmt.Sprintf("t%d.%d.%d %s", i, j, k, strings.ReplaceAll(c, "{N}", n))
				u, tagged := john.cmd(line)
				tag, _, _ := strings.Cut(line, " ")
				norm := strings.ReplaceAll(strings.Join(append(u, strings.TrimPrefix(tagged, tag)), "\n"), strings.Trim(n, `"`), "NAME")
				got = append(got, norm)
			}
			if j == 0 {
				ref = got
				continue
			}
			if strings.Join(got, "\n") != strings.Join(ref, "\n") {
				t.Errorf("probe %q differs for %s:\n%q\nvs %s:\n%q", p, n, got, names[0], ref)
			}
		}
		if strings.Contains(strings.Join(ref, "\n"), " OK") && !strings.HasPrefix(p, "SELECT INBOX") && !strings.HasPrefix(p, "LIST") {
			t.Errorf("probe %q succeeded: %q", p, ref)
		}
	}
	// Jane's folder is untouched.
	jane.want(`j5 STATUS Secret (MESSAGES)`, "OK", `* STATUS "Secret" (MESSAGES 1)`)
	jane.want(`j6 GETACL Secret`, "OK", `* ACL "Secret" "jane@example.test" lrswipkxtea "bob@example.test" "lrs"`)
}

// TestSharedIdle: a session selecting a shared folder sees the owner's
// and others' changes at once (IDLE), with its own \Seen.
func TestSharedIdle(t *testing.T) {
	t.Parallel()
	env := newShareEnv(t)
	jane := env.raw(t, "jane@example.test")
	jane.ok("c1 CREATE Box")
	jane.ok(`a1 SETACL Box john lrswi`)
	jane.ok(`a2 SETACL Box bob lrswi`)
	john := env.raw(t, "john@example.test")
	john.ok("s1 SELECT ~jane@example.test/Box")
	if _, err := john.c.Write([]byte("i1 IDLE\r\n")); err != nil {
		t.Fatal(err)
	}
	if l := john.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}
	jane.ok(`p1 APPEND Box (\Seen) {7}` + "\r\nx: y\r\n\r\n")
	if l := john.line(); l != "* 1 EXISTS" {
		t.Fatalf("john's IDLE: %q", l)
	}
	if l := john.line(); l != "* 1 RECENT" { // an IMAP4rev1 session
		t.Fatalf("john's IDLE: %q", l)
	}
	bob := env.raw(t, "bob@example.test")
	bob.ok("b1 SELECT ~jane@example.test/Box")
	bob.ok(`b2 STORE 1 +FLAGS (\Flagged \Seen)`)
	// Bob's \Flagged is shared; his \Seen is his (and Jane's is hers).
	if l := john.line(); l != `* 1 FETCH (UID 1 FLAGS (\Recent \Flagged))` {
		t.Fatalf("john's IDLE after bob's STORE: %q", l)
	}
	if _, err := john.c.Write([]byte("DONE\r\n")); err != nil {
		t.Fatal(err)
	}
	if l := john.line(); !strings.HasPrefix(l, "i1 OK") {
		t.Fatalf("IDLE end: %q", l)
	}
	john.want(`f1 FETCH 1 FLAGS`, "OK", `* 1 FETCH (FLAGS (\Recent \Flagged))`)
	bob.want(`b3 FETCH 1 FLAGS`, "OK", `* 1 FETCH (FLAGS (\Flagged \Seen))`)
	jane.ok("j1 SELECT Box")
	jane.want(`j2 FETCH 1 FLAGS`, "OK", `* 1 FETCH (FLAGS (\Flagged \Seen))`)
	jane.ok(`j3 STORE 1 -FLAGS (\Seen)`)
	// Jane's \Seen is not Bob's: his flags stay (the message's modseq
	// moved, so his session may repeat them, RFC 7162 allows it).
	u, tagged := bob.cmd(`b4 FETCH 1 FLAGS`)
	if tagged != "b4 OK FETCH completed" || len(u) == 0 {
		t.Fatalf("bob's FETCH: %q %q", u, tagged)
	}
	for _, l := range u {
		if !strings.Contains(l, `FLAGS (\Flagged \Seen)`) {
			t.Fatalf("bob's flags changed with jane's seen flag: %q", u)
		}
	}
}

// TestCreateOverHiddenFolder: John may create folders in Jane's Proj ("k")
// but not see its subfolder Hidden. CREATE or RENAME to Hidden's name gets
// the answer of a CREATE without "k" (NO [NOPERM], as Cyrus answers), not
// NO [ALREADYEXISTS], which would confirm the hidden folder.
func TestCreateOverHiddenFolder(t *testing.T) {
	t.Parallel()
	env := newShareEnv(t)
	jane := env.raw(t, "jane@example.test")
	john := env.raw(t, "john@example.test")
	jane.ok("j1 CREATE Proj/Hidden")
	jane.ok("j2 SETACL Proj john@example.test lrkx")
	jane.ok("j3 SETACL Proj/Hidden bob@example.test lr")  // Hidden's own ACL, a copy of Proj's...
	jane.ok("j4 DELETEACL Proj/Hidden john@example.test") // ...without John
	_, noK := john.cmd(`a1 CREATE "~jane@example.test/Elsewhere"`)
	noK = strings.TrimPrefix(noK, "a1")
	if !strings.HasPrefix(noK, " NO [NOPERM]") {
		t.Fatalf("CREATE without k: %q", noK)
	}
	u, got := john.cmd(`a2 CREATE "~jane@example.test/Proj/Hidden"`)
	if len(u) != 0 || strings.TrimPrefix(got, "a2") != noK {
		t.Errorf("CREATE over a hidden folder: %q %q, want %q as without k", u, got, noK)
	}
	john.ok(`a3 CREATE "~jane@example.test/Proj/Mine"`)
	u, got = john.cmd(`a4 RENAME "~jane@example.test/Proj/Mine" "~jane@example.test/Proj/Hidden"`)
	if len(u) != 0 || strings.TrimPrefix(got, "a4") != noK {
		t.Errorf("RENAME onto a hidden folder: %q %q, want %q as without k", u, got, noK)
	}
	jane.want("j5 CREATE Proj/Hidden", "NO [ALREADYEXISTS]")
}
