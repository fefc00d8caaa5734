package storagetest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
)

// This file covers storage.Sharing and storage.Groups: ACLs with
// inheritance, SharedMailboxes, ACLVersion, groups, public-folder owners,
// per-viewer subscriptions and \Seen, send-as, per-mailbox change streams.

func entriesText(es []acl.Entry) string {
	var parts []string
	for _, e := range es {
		parts = append(parts, e.String())
	}
	return strings.Join(parts, ",")
}

func wantACL(t *testing.T, got storage.ACL, own bool, from storage.MailboxID, entries string) {
	t.Helper()
	if got.Own != own || got.From != from || entriesText(got.Entries) != entries {
		t.Fatalf("ACL of %d: own %v from %d entries %q; want own %v from %d entries %q",
			got.Mailbox, got.Own, got.From, entriesText(got.Entries), own, from, entries)
	}
}

func lrs() acl.Rights { return acl.Of(acl.Lookup, acl.Read, acl.Seen) }

func testACL(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	jane := newAccount(t, st, "jane")
	john := newAccount(t, st, "john")
	cal := must(st.CreateMailbox(ctx, jane.ID, "Calendar", ""))(t)
	work := must(st.CreateMailbox(ctx, jane.ID, "Work", ""))(t)
	deep := must(st.CreateMailbox(ctx, jane.ID, "Work/a/b", ""))(t) // "Work/a" does not exist

	// Nothing shared: the root's ACL is empty, every mailbox inherits it.
	wantACL(t, must(st.GetACL(ctx, jane.ID, storage.RootMailbox))(t), true, storage.RootMailbox, "")
	wantACL(t, must(st.GetACL(ctx, jane.ID, cal.ID))(t), false, storage.RootMailbox, "")
	_, err := st.GetACL(ctx, john.ID, cal.ID)
	wantErr(t, err, storage.ErrNoMailbox) // not john's mailbox
	_, err = st.GetACL(ctx, 99999, storage.RootMailbox)
	wantErr(t, err, storage.ErrNoAccount)

	v0 := must(st.ACLVersion(ctx))(t)

	// Jane shares her Calendar with John: the mailbox gets its own ACL.
	before, after, err := st.ChangeACL(ctx, jane.ID, cal.ID, []acl.Change{{Identifier: "john@example.test", Op: acl.OpSet, Rights: lrs()}})
	noErr(t, err)
	wantACL(t, before, false, storage.RootMailbox, "")
	wantACL(t, after, true, cal.ID, "john@example.test lrs")
	v1 := must(st.ACLVersion(ctx))(t)
	if v1 == v0 {
		t.Fatal("ACLVersion did not move with an ACL change")
	}

	// Account sharing: the root's ACL governs every mailbox without one.
	_, _, err = st.ChangeACL(ctx, jane.ID, storage.RootMailbox, []acl.Change{
		{Identifier: "john@example.test", Op: acl.OpSet, Rights: acl.Of(acl.Lookup)},
		{Identifier: "anyone", Op: acl.OpAdd, Rights: acl.Of(acl.Lookup)},
	})
	noErr(t, err)
	wantACL(t, must(st.GetACL(ctx, jane.ID, work.ID))(t), false, storage.RootMailbox, "anyone l,john@example.test l")
	wantACL(t, must(st.GetACL(ctx, jane.ID, cal.ID))(t), true, cal.ID, "john@example.test lrs")

	// Inheritance from the nearest ancestor with an ACL, over names that
	// do not exist as mailboxes.
	_, _, err = st.ChangeACL(ctx, jane.ID, work.ID, []acl.Change{{Identifier: "@example.test", Op: acl.OpSet, Rights: acl.Of(acl.Lookup, acl.Read)}})
	noErr(t, err)
	// ChangeACL on an inheriting mailbox copies the inherited entries first.
	wantACL(t, must(st.GetACL(ctx, jane.ID, work.ID))(t), true, work.ID, "@example.test lr,anyone l,john@example.test l")
	wantACL(t, must(st.GetACL(ctx, jane.ID, deep.ID))(t), false, work.ID, "@example.test lr,anyone l,john@example.test l")
	// A new subfolder follows its parent at once.
	sub := must(st.CreateMailbox(ctx, jane.ID, "Work/new", ""))(t)
	wantACL(t, must(st.GetACL(ctx, jane.ID, sub.ID))(t), false, work.ID, "@example.test lr,anyone l,john@example.test l")

	// Negative entries; SETACL modifiers; removing rights to nothing
	// removes the entry.
	_, after, err = st.ChangeACL(ctx, jane.ID, work.ID, []acl.Change{
		{Identifier: "john@example.test", Negative: true, Op: acl.OpSet, Rights: acl.Of(acl.Read)},
		{Identifier: "anyone", Op: acl.OpRemove, Rights: acl.Of(acl.Lookup)},
		{Identifier: "john@example.test", Op: acl.OpAdd, Rights: acl.Of(acl.Insert)},
	})
	noErr(t, err)
	wantACL(t, after, true, work.ID, "@example.test lr,john@example.test li,-john@example.test r")

	// Cancel inheritance with an empty own ACL: grants nothing, and the
	// subfolders follow.
	_, after, err = st.SetACL(ctx, jane.ID, work.ID, nil)
	noErr(t, err)
	wantACL(t, after, true, work.ID, "")
	wantACL(t, must(st.GetACL(ctx, jane.ID, deep.ID))(t), false, work.ID, "")
	// Inherit again: the root's ACL applies.
	_, after, err = st.InheritACL(ctx, jane.ID, work.ID)
	noErr(t, err)
	wantACL(t, after, false, storage.RootMailbox, "anyone l,john@example.test l")
	wantACL(t, must(st.GetACL(ctx, jane.ID, deep.ID))(t), false, storage.RootMailbox, "anyone l,john@example.test l")

	// SetACL replaces exactly.
	_, after, err = st.SetACL(ctx, jane.ID, deep.ID, []acl.Entry{{Identifier: "team@example.test", Rights: acl.All}})
	noErr(t, err)
	wantACL(t, after, true, deep.ID, "team@example.test lrswipkxtea")

	// Invalid input.
	_, _, err = st.ChangeACL(ctx, jane.ID, cal.ID, []acl.Change{{Identifier: "", Op: acl.OpSet, Rights: lrs()}})
	wantErr(t, err, storage.ErrInvalid)
	_, _, err = st.ChangeACL(ctx, john.ID, cal.ID, []acl.Change{{Identifier: "anyone", Op: acl.OpSet, Rights: lrs()}})
	wantErr(t, err, storage.ErrNoMailbox)

	// ACLs lists the own ACLs, root first.
	all := must(st.ACLs(ctx, jane.ID))(t)
	if len(all) != 3 || all[0].Mailbox != storage.RootMailbox || all[1].Mailbox != cal.ID || all[2].Mailbox != deep.ID {
		t.Fatalf("ACLs = %+v", all)
	}
	if len(must(st.ACLs(ctx, john.ID))(t)) != 1 {
		t.Fatal("john's ACLs: want only the (empty) root")
	}

	// Rename keeps the own ACL and takes the new parent's otherwise; it
	// moves ACLVersion (cached inherited rights change).
	v2 := must(st.ACLVersion(ctx))(t)
	noErr(t, st.RenameMailbox(ctx, work.ID, "Projects"))
	if must(st.ACLVersion(ctx))(t) == v2 {
		t.Fatal("ACLVersion did not move with a rename")
	}
	wantACL(t, must(st.GetACL(ctx, jane.ID, deep.ID))(t), true, deep.ID, "team@example.test lrswipkxtea")
	noErr(t, st.RenameMailbox(ctx, sub.ID, "Calendar/sub"))
	wantACL(t, must(st.GetACL(ctx, jane.ID, sub.ID))(t), false, cal.ID, "john@example.test lrs")

	// Deleting a mailbox removes its ACL: the subfolder inherits from the
	// root again.
	noErr(t, st.DeleteMailbox(ctx, cal.ID))
	wantACL(t, must(st.GetACL(ctx, jane.ID, sub.ID))(t), false, storage.RootMailbox, "anyone l,john@example.test l")
	if n := len(must(st.ACLs(ctx, jane.ID))(t)); n != 2 {
		t.Fatalf("ACLs after delete: %d", n)
	}

	// Deleting an account removes the entries naming it everywhere, so a
	// new account with the same address inherits nothing.
	noErr(t, st.DeleteAccount(ctx, john.Address))
	wantACL(t, must(st.GetACL(ctx, jane.ID, storage.RootMailbox))(t), true, storage.RootMailbox, "anyone l")
	checkHealthy(t, st)
}

func sharedNames(sms []storage.SharedMailbox) string {
	var parts []string
	for _, m := range sms {
		parts = append(parts, m.Name+"="+entriesText(m.Entries))
	}
	return strings.Join(parts, ";")
}

func testSharedMailboxes(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	jane := newAccount(t, st, "jane")
	john := newAccount(t, st, "john")
	bob := newAccount(t, st, "bob")
	johnP := acl.Principal{Address: john.Address, Groups: []string{"team@example.test"}}
	ids := johnP.Identifiers()

	if got := must(st.SharedMailboxes(ctx, john.ID, ids))(t); len(got) != 0 {
		t.Fatalf("nothing shared yet: %s", sharedNames(got))
	}
	cal := must(st.CreateMailbox(ctx, jane.ID, "Calendar", ""))(t)
	must(st.CreateMailbox(ctx, jane.ID, "Calendar/Holidays", ""))(t)
	_, _, err := st.ChangeACL(ctx, jane.ID, cal.ID, []acl.Change{{Identifier: "john@example.test", Op: acl.OpSet, Rights: lrs()}})
	noErr(t, err)
	// An entry for someone else is not returned; the subfolder inherits.
	_, _, err = st.ChangeACL(ctx, bob.ID, storage.RootMailbox, []acl.Change{{Identifier: "jane@example.test", Op: acl.OpSet, Rights: lrs()}})
	noErr(t, err)
	got := must(st.SharedMailboxes(ctx, john.ID, ids))(t)
	if s := sharedNames(got); s != "Calendar=john@example.test lrs;Calendar/Holidays=john@example.test lrs" {
		t.Fatalf("shared with john: %s", s)
	}
	if got[0].Account != jane.ID || got[0].ID != cal.ID || got[0].UIDValidity == 0 || got[0].Owner != jane.Address {
		t.Fatalf("mailbox fields: %+v", got[0].Mailbox)
	}

	// A group, a domain, anyone; negative entries come along; the
	// viewer's own mailboxes never.
	_, _, err = st.ChangeACL(ctx, bob.ID, storage.RootMailbox, []acl.Change{
		{Identifier: "team@example.test", Op: acl.OpSet, Rights: acl.Of(acl.Lookup)},
		{Identifier: "john@example.test", Negative: true, Op: acl.OpSet, Rights: acl.Of(acl.Read)},
	})
	noErr(t, err)
	_, _, err = st.ChangeACL(ctx, john.ID, storage.RootMailbox, []acl.Change{{Identifier: "anyone", Op: acl.OpSet, Rights: lrs()}})
	noErr(t, err)
	got = must(st.SharedMailboxes(ctx, john.ID, ids))(t)
	var bobs []string
	for _, m := range got {
		if m.Account == john.ID {
			t.Fatalf("own mailbox %q returned", m.Name)
		}
		if m.Account == bob.ID {
			bobs = append(bobs, m.Name+"="+entriesText(m.Entries))
		}
	}
	wantBob := "INBOX=-john@example.test r,team@example.test l"
	if len(bobs) != len(storage.DefaultMailboxes) || !slices.Contains(bobs, wantBob) {
		t.Fatalf("bob's mailboxes shared with john: %q", bobs)
	}
	// Bob's INBOX with its own empty ACL is no longer shared.
	_, _, err = st.SetACL(ctx, bob.ID, mailbox(t, st, bob.ID, "INBOX").ID, nil)
	noErr(t, err)
	got = must(st.SharedMailboxes(ctx, john.ID, ids))(t)
	for _, m := range got {
		if m.Account == bob.ID && m.Name == "INBOX" {
			t.Fatal("INBOX with an empty own ACL still shared")
		}
	}
	// Jane sees John's whole account through anyone.
	if n := len(must(st.SharedMailboxes(ctx, jane.ID, []acl.Identifier{acl.Anyone}))(t)); n != len(storage.DefaultMailboxes) {
		t.Fatalf("shared with anyone: %d", n) // john's root grants anyone
	}
	// With her address too, bob's mailboxes but the INBOX with its own
	// empty ACL.
	if n := len(must(st.SharedMailboxes(ctx, jane.ID, []acl.Identifier{acl.Anyone, "jane@example.test"}))(t)); n != 2*len(storage.DefaultMailboxes)-1 {
		t.Fatalf("shared with jane: %d", n)
	}
	if got := must(st.SharedMailboxes(ctx, john.ID, nil))(t); len(got) != 0 {
		t.Fatal("no identifiers, but mailboxes returned")
	}
}

func testGroups(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	jane := newAccount(t, st, "jane")
	john := newAccount(t, st, "john")
	v0 := must(st.ACLVersion(ctx))(t)

	noErr(t, st.PutGroup(ctx, storage.Group{Address: "Team@Example.test", Members: []string{"john@example.test", "JANE@example.test", "jane@example.test"}}))
	g := must(st.Group(ctx, "team@example.test"))(t)
	if g.Address != "team@example.test" || !slices.Equal(g.Members, []string{"jane@example.test", "john@example.test"}) || g.Source != storage.SourceDB || g.Created.IsZero() {
		t.Fatalf("group: %+v", g)
	}
	v1 := must(st.ACLVersion(ctx))(t)
	if v1 == v0 {
		t.Fatal("ACLVersion did not move with a group change")
	}
	// An unchanged member list does not move ACLVersion.
	noErr(t, st.PutGroup(ctx, storage.Group{Address: "team@example.test", Members: []string{"john@example.test", "jane@example.test"}, Source: storage.SourceConfig}))
	if must(st.ACLVersion(ctx))(t) != v1 {
		t.Fatal("ACLVersion moved without a change of members")
	}
	if g := must(st.Group(ctx, "team@example.test"))(t); g.Source != storage.SourceConfig {
		t.Fatalf("source not updated: %+v", g)
	}

	// The address space is shared with accounts and aliases.
	wantErr(t, st.PutGroup(ctx, storage.Group{Address: jane.Address}), storage.ErrExists)
	noErr(t, st.PutAlias(ctx, storage.Alias{Address: "info@example.test", Target: jane.Address}))
	wantErr(t, st.PutGroup(ctx, storage.Group{Address: "info@example.test"}), storage.ErrExists)
	wantErr(t, st.PutAlias(ctx, storage.Alias{Address: "team@example.test", Target: jane.Address}), storage.ErrExists)
	_, err := st.CreateAccount(ctx, storage.Account{Address: "team@example.test", PasswordHash: "x"})
	wantErr(t, err, storage.ErrExists)
	wantErr(t, st.PutGroup(ctx, storage.Group{Address: "g@nowhere.test"}), storage.ErrNoDomain)
	wantErr(t, st.PutGroup(ctx, storage.Group{Address: "g@example.test", Members: []string{"nobody@example.test"}}), storage.ErrNoAccount)

	// Members.
	noErr(t, st.PutGroup(ctx, storage.Group{Address: "all@example.test"}))
	noErr(t, st.AddGroupMember(ctx, "all@example.test", "John@example.test"))
	wantErr(t, st.AddGroupMember(ctx, "all@example.test", "john@example.test"), storage.ErrExists)
	wantErr(t, st.AddGroupMember(ctx, "all@example.test", "nobody@example.test"), storage.ErrNoAccount)
	wantErr(t, st.AddGroupMember(ctx, "none@example.test", "john@example.test"), storage.ErrNotFound)
	if got := must(st.MemberOf(ctx, "JOHN@example.test"))(t); !slices.Equal(got, []string{"all@example.test", "team@example.test"}) {
		t.Fatalf("MemberOf = %q", got)
	}
	v2 := must(st.ACLVersion(ctx))(t)
	noErr(t, st.RemoveGroupMember(ctx, "team@example.test", "john@example.test"))
	if must(st.ACLVersion(ctx))(t) == v2 {
		t.Fatal("ACLVersion did not move with a membership change")
	}
	wantErr(t, st.RemoveGroupMember(ctx, "team@example.test", "john@example.test"), storage.ErrNotFound)
	gs := must(st.Groups(ctx))(t)
	if len(gs) != 2 || gs[0].Address != "all@example.test" || !slices.Equal(gs[0].Members, []string{"john@example.test"}) ||
		!slices.Equal(gs[1].Members, []string{"jane@example.test"}) {
		t.Fatalf("Groups = %+v", gs)
	}

	// Deleting a group removes the ACL entries naming it; deleting an
	// account removes its memberships.
	_, _, err = st.ChangeACL(ctx, jane.ID, storage.RootMailbox, []acl.Change{{Identifier: "all@example.test", Op: acl.OpSet, Rights: lrs()}})
	noErr(t, err)
	noErr(t, st.DeleteGroup(ctx, "all@example.test"))
	wantErr(t, st.DeleteGroup(ctx, "all@example.test"), storage.ErrNotFound)
	_, err = st.Group(ctx, "all@example.test")
	wantErr(t, err, storage.ErrNotFound)
	wantACL(t, must(st.GetACL(ctx, jane.ID, storage.RootMailbox))(t), true, storage.RootMailbox, "")
	noErr(t, st.DeleteAccount(ctx, jane.Address))
	if g := must(st.Group(ctx, "team@example.test"))(t); len(g.Members) != 0 {
		t.Fatalf("deleted account still a member: %q", g.Members)
	}
	_ = john
}

func testPublicAccount(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	jane := newAccount(t, st, "jane")
	_, err := st.PublicAccount(ctx, domain, false)
	wantErr(t, err, storage.ErrNoAccount)
	_, err = st.PublicAccount(ctx, "nowhere.test", true)
	wantErr(t, err, storage.ErrNoDomain)
	pub := must(st.PublicAccount(ctx, "EXAMPLE.test", true))(t)
	if pub.Address != "@example.test" || pub.ID == 0 || pub.PasswordHash != "" {
		t.Fatalf("public account: %+v", pub)
	}
	if again := must(st.PublicAccount(ctx, domain, true))(t); again.ID != pub.ID {
		t.Fatal("a second public account was created")
	}
	if got := must(st.AccountByID(ctx, pub.ID))(t); got.Address != pub.Address {
		t.Fatalf("AccountByID: %+v", got)
	}
	for _, a := range must(st.Accounts(ctx))(t) {
		if a.ID == pub.ID {
			t.Fatal("Accounts lists the public-folder owner")
		}
	}
	_, err = st.Account(ctx, "@example.test")
	wantErr(t, err, storage.ErrNoAccount)
	if n := len(must(st.Mailboxes(ctx, pub.ID))(t)); n != 0 {
		t.Fatalf("public account has %d mailboxes, want none", n)
	}
	sup := must(st.CreateMailbox(ctx, pub.ID, "Support", ""))(t)
	d := deliver(t, st, pub.ID, "Support", "hello", "body")
	if d.Mailbox != sup.ID {
		t.Fatal("delivered elsewhere")
	}
	_, _, err = st.ChangeACL(ctx, pub.ID, sup.ID, []acl.Change{{Identifier: "@example.test", Op: acl.OpSet, Rights: lrs()}})
	noErr(t, err)
	got := must(st.SharedMailboxes(ctx, jane.ID, acl.Principal{Address: jane.Address}.Identifiers()))(t)
	if len(got) != 1 || got[0].ID != sup.ID || got[0].Account != pub.ID || got[0].Owner != "@example.test" {
		t.Fatalf("public folder not shared: %s", sharedNames(got))
	}
	// The domain cannot go while it has public folders; without them the
	// owner goes with it.
	noErr(t, st.DeleteAccount(ctx, jane.Address))
	wantErr(t, st.DeleteDomain(ctx, domain), storage.ErrNotEmpty)
	noErr(t, st.DeleteMailbox(ctx, sup.ID))
	noErr(t, st.DeleteDomain(ctx, domain))
	_, err = st.AccountByID(ctx, pub.ID)
	wantErr(t, err, storage.ErrNoAccount)
	checkHealthy(t, st)
}

func testSubscriptions(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	jane := newAccount(t, st, "jane")
	john := newAccount(t, st, "john")
	cal := must(st.CreateMailbox(ctx, jane.ID, "Calendar", ""))(t)
	// Default mailboxes are subscribed; others not.
	subs := must(st.Subscriptions(ctx, jane.ID))(t)
	if len(subs) != len(storage.DefaultMailboxes) || slices.Contains(subs, "Calendar") || !mailbox(t, st, jane.ID, "INBOX").Subscribed {
		t.Fatalf("subscriptions: %q", subs)
	}
	sj := st.Subscribe(john.ID)
	defer sj.Close()
	sjane := st.Subscribe(jane.ID)
	defer sjane.Close()

	// John subscribes to Jane's Calendar by his name for it: Jane's own
	// subscription does not change.
	noErr(t, st.SetSubscription(ctx, john.ID, "~jane@example.test/Calendar", true))
	noErr(t, st.SetSubscription(ctx, john.ID, "~jane@example.test/Calendar", true)) // idempotent, no second change
	if mailbox(t, st, jane.ID, "Calendar").Subscribed {
		t.Fatal("john's subscription flipped jane's")
	}
	if got := must(st.Subscriptions(ctx, john.ID))(t); !slices.Contains(got, "~jane@example.test/Calendar") {
		t.Fatalf("john's subscriptions: %q", got)
	}
	c := waitChanges(t, sj, 1)[0]
	if c.Kind != storage.ChangeMailboxSubscribed || c.Account != john.ID || c.Name != "~jane@example.test/Calendar" {
		t.Fatalf("change: %+v", c)
	}
	// A subscription outlives its mailbox; renaming moves the owner's.
	noErr(t, st.SetSubscribed(ctx, cal.ID, true))
	waitChanges(t, sjane, 1)
	noErr(t, st.RenameMailbox(ctx, cal.ID, "Diary"))
	subs = must(st.Subscriptions(ctx, jane.ID))(t)
	if !slices.Contains(subs, "Diary") || slices.Contains(subs, "Calendar") || !mailbox(t, st, jane.ID, "Diary").Subscribed {
		t.Fatalf("after rename: %q", subs)
	}
	noErr(t, st.DeleteMailbox(ctx, cal.ID))
	if !slices.Contains(must(st.Subscriptions(ctx, jane.ID))(t), "Diary") {
		t.Fatal("deleting the mailbox removed the subscription")
	}
	noErr(t, st.SetSubscription(ctx, jane.ID, "Diary", false))
	noErr(t, st.SetSubscription(ctx, jane.ID, "Diary", false))
	if slices.Contains(must(st.Subscriptions(ctx, jane.ID))(t), "Diary") {
		t.Fatal("unsubscribe did not remove")
	}
	// A re-created mailbox of a subscribed name is subscribed.
	noErr(t, st.SetSubscription(ctx, jane.ID, "Later", true))
	if !must(st.CreateMailbox(ctx, jane.ID, "Later", ""))(t).Subscribed {
		t.Fatal("CreateMailbox of a subscribed name: Subscribed false")
	}
	wantErr(t, st.SetSubscription(ctx, jane.ID, "", true), storage.ErrInvalid)
	wantErr(t, st.SetSubscription(ctx, 99999, "x", true), storage.ErrNoAccount)
}

func flagsOf(t *testing.T, st storage.Store, mbox storage.MailboxID, viewer storage.AccountID) map[storage.UID]string {
	t.Helper()
	out := map[storage.UID]string{}
	for _, m := range must(st.Messages(ctxT(t), mbox, storage.Query{Viewer: viewer}))(t) {
		out[m.UID] = strings.Join(m.Flags, " ")
	}
	return out
}

func testPrivateSeen(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	jane := newAccount(t, st, "jane")
	john := newAccount(t, st, "john")
	bob := newAccount(t, st, "bob")
	shared := must(st.CreateMailbox(ctx, jane.ID, "Shared", ""))(t)
	d1 := deliver(t, st, jane.ID, "Shared", "one", "1", `\Seen`)
	d2 := deliver(t, st, jane.ID, "Shared", "two", "2")

	// The owner's \Seen is not John's.
	if f := flagsOf(t, st, shared.ID, john.ID); f[d1.UID] != "" || f[d2.UID] != "" {
		t.Fatalf("john sees %v", f)
	}
	if f := flagsOf(t, st, shared.ID, 0); f[d1.UID] != `\Seen` {
		t.Fatalf("owner sees %v", f)
	}
	if f := flagsOf(t, st, shared.ID, jane.ID); f[d1.UID] != `\Seen` {
		t.Fatalf("owner as viewer sees %v", f)
	}
	if st := must(st.Status(ctx, shared.ID, john.ID))(t); st.Unseen != 2 || st.Messages != 2 {
		t.Fatalf("john's status: %+v", st)
	}

	sub := st.SubscribeMailbox(shared.ID)
	defer sub.Close()
	// John marks d2 seen and flagged: his \Seen is private, \Flagged shared.
	res := must(st.StoreFlags(ctx, shared.ID, storage.FlagUpdate{UIDs: storage.UIDSet{{Start: d2.UID, Stop: d2.UID}},
		Op: storage.FlagsAdd, Flags: []string{`\Seen`, `\Flagged`}, Viewer: john.ID}))(t)
	if len(res.Updated) != 1 || strings.Join(res.Updated[0].Flags, " ") != `\Flagged \Seen` || res.Updated[0].ModSeq <= d2.ModSeq {
		t.Fatalf("store result: %+v", res)
	}
	cs := waitChanges(t, sub, 2)
	if cs[0].Viewer != 0 || strings.Join(cs[0].Flags, " ") != `\Flagged` || cs[1].Viewer != john.ID || strings.Join(cs[1].Flags, " ") != `\Flagged \Seen` ||
		cs[0].ModSeq != cs[1].ModSeq || cs[0].Account != jane.ID {
		t.Fatalf("changes: %+v", cs)
	}
	if f := flagsOf(t, st, shared.ID, john.ID); f[d2.UID] != `\Flagged \Seen` {
		t.Fatalf("john sees %v", f)
	}
	if f := flagsOf(t, st, shared.ID, 0); f[d2.UID] != `\Flagged` {
		t.Fatalf("owner sees %v", f)
	}
	if f := flagsOf(t, st, shared.ID, bob.ID); f[d2.UID] != `\Flagged` || f[d1.UID] != "" {
		t.Fatalf("bob sees %v", f)
	}
	if st := must(st.Status(ctx, shared.ID, john.ID))(t); st.Unseen != 1 {
		t.Fatalf("john's unseen: %d", st.Unseen)
	}
	if st := must(st.Status(ctx, shared.ID, 0))(t); st.Unseen != 1 {
		t.Fatalf("owner's unseen: %d", st.Unseen)
	}

	// A private \Seen alone moves the modseq (CONDSTORE for that viewer),
	// published for that viewer only.
	before := must(st.Status(ctx, shared.ID, 0))(t).HighestModSeq
	must(st.StoreFlags(ctx, shared.ID, storage.FlagUpdate{UIDs: storage.UIDSet{{Start: d1.UID, Stop: d1.UID}},
		Op: storage.FlagsAdd, Flags: []string{`\Seen`}, Viewer: bob.ID}))(t)
	cs = waitChanges(t, sub, 1)
	if cs[0].Viewer != bob.ID || cs[0].ModSeq <= before || strings.Join(cs[0].Flags, " ") != `\Seen` {
		t.Fatalf("bob's change: %+v", cs)
	}
	changed := must(st.Messages(ctx, shared.ID, storage.Query{ChangedSince: before, Viewer: bob.ID}))(t)
	if len(changed) != 1 || changed[0].UID != d1.UID {
		t.Fatalf("CHANGEDSINCE for bob: %+v", changed)
	}
	// Storing what a viewer already has changes nothing.
	res = must(st.StoreFlags(ctx, shared.ID, storage.FlagUpdate{UIDs: storage.UIDSet{{Start: d1.UID, Stop: d1.UID}},
		Op: storage.FlagsAdd, Flags: []string{`\Seen`}, Viewer: bob.ID}))(t)
	if len(res.Updated) != 0 {
		t.Fatalf("no-op store updated %+v", res.Updated)
	}
	// Replace keeps the owner's \Seen in the row.
	must(st.StoreFlags(ctx, shared.ID, storage.FlagUpdate{UIDs: storage.UIDSet{{Start: d1.UID, Stop: d1.UID}},
		Op: storage.FlagsReplace, Flags: []string{`$Work`}, Viewer: john.ID}))(t)
	if f := flagsOf(t, st, shared.ID, 0); f[d1.UID] != `$Work \Seen` {
		t.Fatalf("owner after john's replace: %v", f)
	}
	if f := flagsOf(t, st, shared.ID, bob.ID); f[d1.UID] != `$Work \Seen` {
		t.Fatalf("bob after john's replace: %v", f)
	}

	// Keep: a viewer without "w" and "t" replacing flags changes only its
	// \Seen (RFC 4314 4).
	res = must(st.StoreFlags(ctx, shared.ID, storage.FlagUpdate{UIDs: storage.UIDSet{{Start: d1.UID, Stop: d1.UID}},
		Op: storage.FlagsReplace, Flags: []string{`\Deleted`}, Viewer: bob.ID, Keep: storage.KeepOther | storage.KeepDeleted}))(t)
	if len(res.Updated) != 1 || strings.Join(res.Updated[0].Flags, " ") != `$Work` {
		t.Fatalf("keep: %+v", res.Updated)
	}
	res = must(st.StoreFlags(ctx, shared.ID, storage.FlagUpdate{UIDs: storage.UIDSet{{Start: d1.UID, Stop: d1.UID}},
		Op: storage.FlagsAdd, Flags: []string{`\Deleted`, `\Answered`}, Keep: storage.KeepOther | storage.KeepDeleted}))(t)
	if len(res.Updated) != 0 {
		t.Fatalf("everything kept, but updated: %+v", res.Updated)
	}

	// A message another viewer appends with \Seen is seen for it only.
	ref, p := put(t, st, "three", "3")
	ds := must(st.Deliver(ctx, ref, p, []storage.Target{{Account: jane.ID, Mailbox: shared.ID, Flags: []string{`\Seen`, `\Draft`}, Viewer: john.ID}}))(t)
	noErr(t, ds[0].Err)
	if f := flagsOf(t, st, shared.ID, john.ID); f[ds[0].UID] != `\Draft \Seen` {
		t.Fatalf("john sees his append as %q", f[ds[0].UID])
	}
	if f := flagsOf(t, st, shared.ID, 0); f[ds[0].UID] != `\Draft` {
		t.Fatalf("owner sees john's append as %q", f[ds[0].UID])
	}

	// Copy as John into his own mailbox carries his view; copy as John
	// into Jane's mailbox keeps his \Seen his.
	johnInbox := mailbox(t, st, john.ID, "INBOX")
	must(st.Copy(ctx, shared.ID, storage.UIDSet{{Start: d2.UID, Stop: d2.UID}}, johnInbox.ID, john.ID))(t)
	if f := flagsOf(t, st, johnInbox.ID, 0); strings.Join(sortedValues(f), "|") != `\Flagged \Seen` {
		t.Fatalf("john's copy: %v", f)
	}
	janeInbox := mailbox(t, st, jane.ID, "INBOX")
	cr := must(st.Copy(ctx, johnInbox.ID, nil, janeInbox.ID, john.ID))(t)
	if f := flagsOf(t, st, janeInbox.ID, 0); f[cr.Dest[0]] != `\Flagged` {
		t.Fatalf("jane sees john's copy as %v", f)
	}
	if f := flagsOf(t, st, janeInbox.ID, john.ID); f[cr.Dest[0]] != `\Flagged \Seen` {
		t.Fatalf("john sees his copy in jane's INBOX as %v", f)
	}

	// Expunge and delete drop the private \Seen with the messages.
	must(st.Expunge(ctx, shared.ID, []storage.UID{d2.UID}))(t)
	if st := must(st.Status(ctx, shared.ID, john.ID))(t); st.Messages != 2 || st.Unseen != 1 {
		t.Fatalf("john's status after expunge: %+v", st)
	}
	checkHealthy(t, st)
}

func sortedValues(m map[storage.UID]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

func testSendAs(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	jane := newAccount(t, st, "jane")
	noErr(t, st.SetSendAs(ctx, jane.ID, "Boss@Example.test", true))
	noErr(t, st.SetSendAs(ctx, jane.ID, "boss@example.test", true))
	noErr(t, st.SetSendAs(ctx, jane.ID, "news@other.test", true))
	if got := must(st.SendAs(ctx, jane.ID))(t); !slices.Equal(got, []string{"boss@example.test", "news@other.test"}) {
		t.Fatalf("SendAs = %q", got)
	}
	noErr(t, st.SetSendAs(ctx, jane.ID, "news@other.test", false))
	wantErr(t, st.SetSendAs(ctx, jane.ID, "news@other.test", false), storage.ErrNotFound)
	wantErr(t, st.SetSendAs(ctx, 99999, "x@example.test", true), storage.ErrNoAccount)
	wantErr(t, st.SetSendAs(ctx, jane.ID, "not an address", true), storage.ErrInvalid)
	noErr(t, st.DeleteAccount(ctx, jane.Address))
	jane2 := newAccount(t, st, "jane")
	if got := must(st.SendAs(ctx, jane2.ID))(t); len(got) != 0 {
		t.Fatalf("a new account inherits send-as %q", got)
	}
}

func testMailboxChanges(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	jane := newAccount(t, st, "jane")
	john := newAccount(t, st, "john")
	cal := must(st.CreateMailbox(ctx, jane.ID, "Calendar", ""))(t)
	sub := st.SubscribeMailbox(cal.ID)
	closed := st.SubscribeMailbox(cal.ID)
	closed.Close()
	deliver(t, st, jane.ID, "INBOX", "elsewhere", "x") // not this mailbox
	d := deliver(t, st, jane.ID, "Calendar", "event", "x")
	deliver(t, st, john.ID, "INBOX", "other account", "x")
	must(st.StoreFlags(ctx, cal.ID, storage.FlagUpdate{UIDs: storage.UIDSet{{Start: d.UID, Stop: d.UID}}, Op: storage.FlagsAdd, Flags: []string{`\Flagged`}}))(t)
	noErr(t, st.SetSubscribed(ctx, cal.ID, true)) // a subscription is the subscriber's, not the mailbox's
	noErr(t, st.DeleteMailbox(ctx, cal.ID))
	cs := waitChanges(t, sub, 3)
	kinds := []storage.ChangeKind{storage.ChangeMessageAdded, storage.ChangeFlags, storage.ChangeMailboxDeleted}
	for i, c := range cs {
		if c.Kind != kinds[i] || c.Mailbox != cal.ID || c.Account != jane.ID {
			t.Fatalf("change %d: %+v", i, c)
		}
	}
	sub.Close()
	sub.Close()
	if len(closed.Next()) != 0 {
		t.Fatal("closed subscription received changes")
	}
	if errors.Is(nil, storage.ErrNoMailbox) {
		t.Fatal("unreachable")
	}
}
