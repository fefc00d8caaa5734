package imap

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/storagetest"
)

// deliverTo stores a message in an account's mailbox through storage.
func (env *mbxEnv) deliverTo(t *testing.T, acct storage.AccountID, mbox, subject string, flags ...string) {
	t.Helper()
	raw, p := storagetest.NewMessage(subject, "x@example.test", "y@example.test", "body of "+subject)
	ctx := context.Background()
	ref, err := env.store.PutBlob(ctx, strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	res, err := env.store.Deliver(ctx, ref, p, []storage.Target{{Account: acct, MailboxName: mbox, Flags: flags}})
	if err != nil || res[0].Err != nil {
		t.Fatalf("deliver: %v %v", err, res)
	}
}

func TestCreateDeleteRename(t *testing.T) {
	env := newMbxEnv(t)
	c := env.raw(t, "alice@example.test")

	c.ok("a1 CREATE a/b/c")
	c.want(`a2 LIST "" a*`, "OK",
		`* LIST (\HasChildren) "/" "a"`,
		`* LIST (\HasChildren) "/" "a/b"`,
		`* LIST (\HasNoChildren) "/" "a/b/c"`)
	c.want("a3 CREATE INBOX", "NO [ALREADYEXISTS]")
	c.want("a4 CREATE inbox", "NO [ALREADYEXISTS]")
	c.want("a5 CREATE a/b", "NO [ALREADYEXISTS]")
	c.ok("a6 CREATE x/")
	c.want(`a7 LIST "" x*`, "OK", `* LIST (\HasNoChildren) "/" "x"`)
	c.want(`a8 CREATE "bad*name"`, "NO [CANNOT]")

	// CREATE-SPECIAL-USE (RFC 6154 5.2).
	c.ok(`b1 CREATE Flagged (USE (\Flagged))`)
	c.want(`b2 LIST (SPECIAL-USE) "" F*`, "OK", `* LIST (\HasNoChildren \Flagged) "/" "Flagged"`)
	c.want(`b3 CREATE All (USE (\All))`, "NO [USEATTR]")
	c.want(`b4 CREATE Two (USE (\Sent \Trash))`, "NO [USEATTR]")
	c.want(`b5 CREATE Imp (USE (\Important))`, "NO [USEATTR]")
	c.want(`b6 LIST "" Two`, "OK")

	// DELETE keeps inferiors (RFC 9051 6.3.5).
	c.want("d1 DELETE INBOX", "NO [CANNOT]")
	c.want("d2 DELETE nosuch", "NO [NONEXISTENT]")
	c.ok("d3 DELETE a")
	c.want(`d4 LIST "" %`+"", "OK",
		`* LIST (\HasNoChildren) "/" "INBOX"`,
		`* LIST (\HasNoChildren \Archive) "/" "Archive"`,
		`* LIST (\HasNoChildren \Drafts) "/" "Drafts"`,
		`* LIST (\HasNoChildren \Flagged) "/" "Flagged"`,
		`* LIST (\HasNoChildren \Junk) "/" "Junk"`,
		`* LIST (\HasNoChildren \Sent) "/" "Sent"`,
		`* LIST (\HasNoChildren \Trash) "/" "Trash"`,
		`* LIST (\Noselect \HasChildren) "/" "a"`,
		`* LIST (\HasNoChildren) "/" "x"`)
	c.want(`d5 LIST () "" a`, "OK", `* LIST (\NonExistent \HasChildren) "/" "a"`)
	c.want("d6 DELETE a", "NO [NONEXISTENT]")

	// RENAME moves inferiors and creates superiors of the new name.
	c.ok("r1 RENAME a/b z")
	c.want(`r2 LIST "" z*`, "OK",
		`* LIST (\HasChildren) "/" "z"`,
		`* LIST (\HasNoChildren) "/" "z/c"`)
	c.ok("r3 RENAME z new/deep/name")
	c.want(`r4 LIST "" new*`, "OK",
		`* LIST (\HasChildren) "/" "new"`,
		`* LIST (\HasChildren) "/" "new/deep"`,
		`* LIST (\HasChildren) "/" "new/deep/name"`,
		`* LIST (\HasNoChildren) "/" "new/deep/name/c"`)
	c.want("r5 RENAME nosuch other", "NO [NONEXISTENT]")
	c.want("r6 RENAME x Sent", "NO [ALREADYEXISTS]")
	c.want("r7 RENAME x INBOX", "NO [ALREADYEXISTS]")
	c.want("r8 RENAME new new/inside", "NO [CANNOT]")

	// RENAME INBOX moves its messages and leaves it empty (RFC 9051 6.3.6).
	env.deliverTo(t, env.alice.ID, "INBOX", "one")
	env.deliverTo(t, env.alice.ID, "INBOX", "two")
	c.ok("i1 RENAME INBOX Old")
	c.want("i2 STATUS Old (MESSAGES)", "OK", `* STATUS "Old" (MESSAGES 2)`)
	c.want("i3 STATUS inbox (MESSAGES)", "OK", `* STATUS "INBOX" (MESSAGES 0)`)

	// Another account never sees these names.
	b := env.raw(t, "bob@example.test")
	b.want(`x1 LIST "" Old`, "OK")
	b.want("x2 STATUS Old (MESSAGES)", "NO [NONEXISTENT]")
	b.want("x3 DELETE Old", "NO [NONEXISTENT]")
	b.want("x4 RENAME Old Mine", "NO [NONEXISTENT]")
}

func TestListExtended(t *testing.T) {
	env := newMbxEnv(t)
	c := env.raw(t, "alice@example.test")
	c.ok("a1 CREATE a/b/c")
	c.ok("a2 CREATE a/d")
	c.ok("a3 SUBSCRIBE a/b/c")
	c.ok("a4 SUBSCRIBE INBOX")
	c.want("a5 SUBSCRIBE nosuch", "NO [NONEXISTENT]")
	c.ok("a6 UNSUBSCRIBE nosuch") // nothing is subscribed
	c.ok("a7 SUBSCRIBE INBOX")    // twice is fine

	c.want(`l1 LIST "" ""`, "OK", `* LIST (\Noselect) "/" ""`)
	// The default mailboxes are subscribed at account creation.
	c.ok("a8 UNSUBSCRIBE Archive")
	c.want(`l2 LIST (SUBSCRIBED) "" *`, "OK",
		`* LIST (\HasNoChildren \Subscribed) "/" "INBOX"`,
		`* LIST (\HasNoChildren \Subscribed \Drafts) "/" "Drafts"`,
		`* LIST (\HasNoChildren \Subscribed \Junk) "/" "Junk"`,
		`* LIST (\HasNoChildren \Subscribed \Sent) "/" "Sent"`,
		`* LIST (\HasNoChildren \Subscribed \Trash) "/" "Trash"`,
		`* LIST (\HasNoChildren \Subscribed) "/" "a/b/c"`)
	// RFC 5258 3.5: CHILDINFO marks a parent whose subscribed descendant
	// is not listed itself; a descendant the patterns return needs none.
	c.want(`l3 LIST (SUBSCRIBED RECURSIVEMATCH) "" (INBOX A* a*)`, "OK",
		`* LIST (\HasNoChildren \Subscribed) "/" "INBOX"`,
		`* LIST (\HasNoChildren \Subscribed) "/" "a/b/c"`)
	c.want(`l3b LIST (SUBSCRIBED RECURSIVEMATCH) "" a/%`, "OK",
		`* LIST (\HasChildren) "/" "a/b" ("CHILDINFO" ("SUBSCRIBED"))`)
	c.want(`l3c LIST (SUBSCRIBED RECURSIVEMATCH) "" (a/b a/b/c)`, "OK",
		`* LIST (\HasNoChildren \Subscribed) "/" "a/b/c"`)
	c.want(`l4 LIST (RECURSIVEMATCH) "" *`, "BAD")
	c.want(`l5 LIST (BOGUS) "" *`, "BAD")
	c.want(`l6 LIST "" * RETURN (BOGUS)`, "BAD")
	c.want(`l7 LIST "" ("INBOX" "a/%") RETURN (SUBSCRIBED CHILDREN)`, "OK",
		`* LIST (\HasNoChildren \Subscribed) "/" "INBOX"`,
		`* LIST (\HasChildren) "/" "a/b"`,
		`* LIST (\HasNoChildren) "/" "a/d"`)
	c.want(`l8 LIST (SPECIAL-USE) "" * RETURN (SPECIAL-USE)`, "OK",
		`* LIST (\HasNoChildren \Archive) "/" "Archive"`,
		`* LIST (\HasNoChildren \Drafts) "/" "Drafts"`,
		`* LIST (\HasNoChildren \Junk) "/" "Junk"`,
		`* LIST (\HasNoChildren \Sent) "/" "Sent"`,
		`* LIST (\HasNoChildren \Trash) "/" "Trash"`)
	c.want(`l9 LIST (REMOTE) "a/" %`, "OK",
		`* LIST (\HasChildren) "/" "a/b"`,
		`* LIST (\HasNoChildren) "/" "a/d"`)

	// LIST-STATUS (RFC 5819).
	env.deliverTo(t, env.alice.ID, "INBOX", "one", storage.FlagSeen)
	env.deliverTo(t, env.alice.ID, "INBOX", "two")
	c.want(`s1 LIST "" (INBOX a) RETURN (STATUS (MESSAGES UNSEEN))`, "OK",
		`* LIST (\HasNoChildren) "/" "INBOX"`,
		`* STATUS "INBOX" (MESSAGES 2 UNSEEN 1)`,
		`* LIST (\HasChildren) "/" "a"`,
		`* STATUS "a" (MESSAGES 0 UNSEEN 0)`)

	// LSUB (RFC 3501 6.3.9).
	for _, n := range []string{"Drafts", "Junk", "Sent", "Trash"} {
		c.ok("u0 UNSUBSCRIBE " + n)
	}
	c.want(`u1 LSUB "" *`, "OK", `* LSUB () "/" "INBOX"`, `* LSUB () "/" "a/b/c"`)
	c.want(`u2 LSUB "" %`, "OK", `* LSUB () "/" "INBOX"`, `* LSUB (\Noselect) "/" "a"`)
	c.ok("u3 UNSUBSCRIBE a/b/c")
	c.want(`u4 LSUB "" *`, "OK", `* LSUB () "/" "INBOX"`)

	// SPEC §5: personal "", other users "~", shared "#public/".
	c.want("n1 NAMESPACE", "OK", `* NAMESPACE (("" "/")) (("~" "/")) (("#public/" "/"))`)
}

func TestStatus(t *testing.T) {
	env := newMbxEnv(t)
	env.deliverTo(t, env.alice.ID, "INBOX", "one", storage.FlagSeen)
	env.deliverTo(t, env.alice.ID, "INBOX", "two", storage.FlagDeleted)
	env.deliverTo(t, env.alice.ID, "INBOX", "three")
	ctx := context.Background()
	mb, err := env.store.Mailbox(ctx, env.alice.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	st, err := env.store.Status(ctx, mb.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := env.raw(t, "alice@example.test")
	c.want("s1 STATUS inbox (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ RECENT APPENDLIMIT)", "OK",
		fmt.Sprintf(`* STATUS "INBOX" (MESSAGES 3 UIDNEXT 4 UIDVALIDITY %d UNSEEN 2 DELETED 1 SIZE %d HIGHESTMODSEQ %d RECENT 3 APPENDLIMIT %d)`,
			mb.UIDValidity, st.Size, st.HighestModSeq, config52MiB))
	c.want("s2 STATUS INBOX ()", "BAD")
	c.want("s3 STATUS INBOX (BOGUS)", "BAD")
	c.want("s4 STATUS nosuch (MESSAGES)", "NO [NONEXISTENT]")

	// go-imap client.
	cl := env.client(t, "alice@example.test")
	sd, err := cl.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumUnseen: true, NumDeleted: true, Size: true, UIDNext: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if *sd.NumMessages != 3 || *sd.NumUnseen != 2 || *sd.NumDeleted != 1 || *sd.Size != st.Size || sd.UIDNext != 4 {
		t.Errorf("status %+v", sd)
	}
}

// config52MiB is the APPENDLIMIT of the development config (its SMTP
// message size limit).
const config52MiB = 50 << 20

func TestMailboxUTF8(t *testing.T) {
	env := newMbxEnv(t)
	c := env.raw(t, "alice@example.test")
	// An IMAP4rev1 client speaks modified UTF-7 (RFC 3501 5.1.3).
	c.ok("a1 CREATE Entw&APw-rfe/&ZeVnLIqe-")
	if _, err := env.store.Mailbox(context.Background(), env.alice.ID, "Entwürfe/日本語"); err != nil {
		t.Fatalf("stored name: %v", err)
	}
	c.want(`a2 LIST "" Entw*`, "OK",
		`* LIST (\HasChildren) "/" "Entw&APw-rfe"`,
		`* LIST (\HasNoChildren) "/" "Entw&APw-rfe/&ZeVnLIqe-"`)
	c.want("a3 STATUS Entw&APw-rfe (MESSAGES)", "OK", `* STATUS "Entw&APw-rfe" (MESSAGES 0)`)
	// Not modified UTF-7: a well-formed name, so NO rather than BAD; it is
	// looked up as it is (SELECT: NO, LIST: nothing) but never created.
	c.want("a4 CREATE Bad&Name", "NO [CANNOT]")
	c.want("a4b SELECT Bad&Name", "NO")
	c.want(`a4c LIST "" !#$&'+,-.0123456789:;<=>?@^_`+"`"+`|[}%*`, "OK")
	// Raw 8-bit from a client that did not ENABLE UTF8=ACCEPT (mbsync
	// creating "Entwürfe-lokal"): refused, since LIST would give the name
	// back in modified UTF-7 and the client would create it again.
	c.want("a4d CREATE \"Entwürfe-lokal\"", "NO [CANNOT] 8-bit mailbox names need ENABLE UTF8=ACCEPT")
	// "~" and "#" are reserved for other users' and shared namespaces.
	c.want("a4e CREATE ~x", "NO [CANNOT]")
	c.want("a4f CREATE #x", "NO [CANNOT]")
	c.want("a4g RENAME Entw&APw-rfe #y", "NO [CANNOT]")

	// After ENABLE UTF8=ACCEPT names are UTF-8 (RFC 6855 3).
	u := env.raw(t, "alice@example.test")
	u.ok("b1 ENABLE UTF8=ACCEPT")
	u.want(`b2 LIST "" Entw*`, "OK",
		`* LIST (\HasChildren) "/" "Entwürfe"`,
		`* LIST (\HasNoChildren) "/" "Entwürfe/日本語"`)
	// Inferiors move along, also below non-ASCII names. (This needs
	// storage/sqlite RenameMailbox to compare name prefixes by bytes or
	// characters consistently: substr() counts characters, len() bytes.)
	u.ok(`b3 RENAME "Entwürfe" "Brouillons é"`)
	c.want(`a5 LIST "" Brou*`, "OK",
		`* LIST (\HasChildren) "/" "Brouillons &AOk-"`,
		`* LIST (\HasNoChildren) "/" "Brouillons &AOk-/&ZeVnLIqe-"`)

	// go-imap client: it sends UTF-8 names to a server announcing
	// IMAP4rev2 (without enabling it), so it enables UTF8=ACCEPT first.
	cl := env.client(t, "alice@example.test")
	if _, err := cl.Enable(imap.CapUTF8Accept).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Create("Été", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	list, err := cl.List("", "Été", nil).Collect()
	if err != nil || len(list) != 1 || list[0].Mailbox != "Été" {
		t.Fatalf("list %+v %v", list, err)
	}
}

func TestMailboxClient(t *testing.T) {
	env := newMbxEnv(t)
	cl := env.client(t, "alice@example.test")
	if err := cl.Create("Work/Projects", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Create("Sent Items", &imap.CreateOptions{SpecialUse: []imap.MailboxAttr{imap.MailboxAttrSent}}).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Subscribe("Work/Projects").Wait(); err != nil {
		t.Fatal(err)
	}
	list, err := cl.List("", "*", &imap.ListOptions{
		ReturnSubscribed: true, ReturnChildren: true, ReturnSpecialUse: true,
		ReturnStatus: &imap.StatusOptions{NumMessages: true},
	}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*imap.ListData{}
	for _, l := range list {
		got[l.Mailbox] = l
		if l.Delim != '/' {
			t.Errorf("%s: delimiter %q", l.Mailbox, l.Delim)
		}
	}
	if l := got["Work/Projects"]; l == nil || !slices.Contains(l.Attrs, imap.MailboxAttrSubscribed) || l.Status == nil || *l.Status.NumMessages != 0 {
		t.Errorf("Work/Projects: %+v", l)
	}
	if l := got["Work"]; l == nil || !slices.Contains(l.Attrs, imap.MailboxAttrHasChildren) {
		t.Errorf("Work: %+v", l)
	}
	if l := got["Sent Items"]; l == nil || !slices.Contains(l.Attrs, imap.MailboxAttrSent) {
		t.Errorf("Sent Items: %+v", l)
	}
	sub, err := cl.List("", "W*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil || len(sub) != 1 || sub[0].Mailbox != "Work/Projects" {
		t.Errorf("subscribed: %+v %v", sub, err)
	}
	if err := cl.Rename("Work", "Job", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Delete("Job/Projects").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Delete("INBOX").Wait(); err == nil {
		t.Error("DELETE INBOX succeeded")
	}
	ns, err := cl.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Prefix != "" || ns.Personal[0].Delim != '/' ||
		len(ns.Other) != 1 || ns.Other[0].Prefix != "~" || len(ns.Shared) != 1 || ns.Shared[0].Prefix != "#public/" {
		t.Errorf("namespace %+v %v", ns, err)
	}
}

// TestListSubscribedDeleted: a subscribed mailbox that is deleted stays
// subscribed (RFC 9051 6.3.7): LIST (SUBSCRIBED) shows it \NonExistent
// \Subscribed, LSUB \Noselect, plain LIST not at all; UNSUBSCRIBE drops
// it; created again it is subscribed (imaptest "listext").
func TestListSubscribedDeleted(t *testing.T) {
	env := newMbxEnv(t)
	c := env.raw(t, "alice@example.test")
	c.ok("a1 CREATE t/gone")
	c.ok("a2 CREATE t/back")
	c.ok("a3 SUBSCRIBE t/gone")
	c.ok("a4 SUBSCRIBE t/back")
	c.ok("a5 DELETE t/gone")
	c.ok("a6 DELETE t/back")
	c.want(`l1 LIST (SUBSCRIBED) "" t/*`, "OK",
		`* LIST (\NonExistent \HasNoChildren \Subscribed) "/" "t/back"`,
		`* LIST (\NonExistent \HasNoChildren \Subscribed) "/" "t/gone"`)
	c.want(`l2 LSUB "" t/*`, "OK",
		`* LSUB (\Noselect) "/" "t/back"`,
		`* LSUB (\Noselect) "/" "t/gone"`)
	c.want(`l3 LIST "" t/*`, "OK")
	c.ok("a7 UNSUBSCRIBE t/gone")
	c.ok("a8 CREATE t/back")
	c.want(`l4 LIST (SUBSCRIBED) "" t/*`, "OK",
		`* LIST (\HasNoChildren \Subscribed) "/" "t/back"`)
}
