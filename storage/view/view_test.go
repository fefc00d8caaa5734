package view_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/ingest"
	"github.com/floemail/floe/storage/sqlite"
	"github.com/floemail/floe/storage/storagetest"
	"github.com/floemail/floe/storage/view"
)

type env struct {
	t  *testing.T
	st *sqlite.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlite.Open(t.Context(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, d := range []string{"example.test", "other.test"} {
		if err := st.PutDomain(t.Context(), storage.Domain{Name: d}); err != nil {
			t.Fatal(err)
		}
	}
	return &env{t: t, st: st}
}

func (e *env) account(addr string) storage.Account {
	e.t.Helper()
	a, err := e.st.CreateAccount(e.t.Context(), storage.Account{Address: addr, PasswordHash: "x"})
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func (e *env) view(a storage.Account) *view.View {
	e.t.Helper()
	v, err := view.New(e.t.Context(), e.st, a.ID, view.Options{Hostname: "mail.example.test"})
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) mailbox(a storage.Account, name string) storage.Mailbox {
	e.t.Helper()
	mb, err := e.st.Mailbox(e.t.Context(), a.ID, name)
	if err != nil {
		mb, err = e.st.CreateMailbox(e.t.Context(), a.ID, name, "")
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return mb
}

func (e *env) deliver(a storage.Account, mbox, subject string, flags ...string) storage.Delivered {
	e.t.Helper()
	raw, _ := storagetest.NewMessage(subject, "x@remote.test", a.Address, "body of "+subject)
	_, d, err := ingest.Put(e.t.Context(), e.st, bytes.NewReader(raw), storage.Target{Account: a.ID, MailboxName: mbox, Flags: flags})
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) grant(owner storage.Account, mbox storage.MailboxID, ident string, spec string) {
	e.t.Helper()
	r, err := acl.ParseSpec(spec)
	if err != nil {
		e.t.Fatal(err)
	}
	id, neg, err := acl.ParseEntryName(ident, "")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, _, err := view.NewAdmin(e.st, view.Options{}).ChangeACL(e.t.Context(), owner.ID, mbox,
		[]acl.Change{{Identifier: id, Negative: neg, Op: acl.OpSet, Rights: r}}); err != nil {
		e.t.Fatal(err)
	}
}

func names(fs []view.Folder) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

func inboxMail(t *testing.T, e *env, a storage.Account) []storage.Message {
	t.Helper()
	mb := e.mailbox(a, "INBOX")
	msgs, err := e.st.Messages(t.Context(), mb.ID, storage.Query{Fields: storage.FieldEnvelope | storage.FieldHeader})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// TestJaneJohn is the seed's scenario: Jane gives John Read on her
// Calendar, raises him to Write, then removes him.
func TestJaneJohn(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	jane, john := e.account("jane@example.test"), e.account("john@example.test")
	cal := e.mailbox(jane, "Calendar")
	ev := e.deliver(jane, "Calendar", "event", `\Seen`)
	jv, hv := e.view(jane), e.view(john)

	// Not shared yet: the folder does not exist for John.
	_, err := hv.Lookup(ctx, "~jane@example.test/Calendar")
	wantErr(t, "lookup before sharing", err, storage.ErrNoMailbox)

	r, _ := acl.ParseSpec("read")
	if _, err := jv.ChangeACL(ctx, jane.ID, cal.ID, []acl.Change{{Identifier: "john@example.test", Op: acl.OpSet, Rights: r}}); err != nil {
		t.Fatal(err)
	}
	hv.Refresh()
	list, err := hv.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(names(list), "~jane@example.test/Calendar") || slices.Contains(names(list), "~jane@example.test/INBOX") {
		t.Fatalf("john's list: %q", names(list))
	}
	f, err := hv.Lookup(ctx, "~JANE@example.test/Calendar")
	if err != nil || f.Name != "~jane@example.test/Calendar" || f.Own || f.Rights.String() != "lrs" || f.Owner != jane.Address || f.Path != "Calendar" {
		t.Fatalf("lookup: %+v %v", f, err)
	}
	if !f.Subscribed {
		t.Fatal("the shared folder is not subscribed for john")
	}
	// The information mail.
	mail := inboxMail(t, e, john)
	if len(mail) != 1 || !strings.Contains(string(mail[0].Header), `X-Floe-Share: owner=jane@example.test; scope=folder; folder="Calendar"; rights=lrs; name="~jane@example.test/Calendar"`) ||
		!strings.Contains(mail[0].Envelope.Subject, "Calendar") {
		t.Fatalf("information mail: %d %q", len(mail), mail[0].Header)
	}
	body := readMessage(t, e, mail[0])
	if !strings.Contains(body, "Your rights: Read (see the folder and read its items).") {
		t.Fatalf("body: %s", body)
	}

	// Read: status, messages with John's own \Seen; no STORE of shared
	// flags, no APPEND, no EXPUNGE.
	st, err := hv.Status(ctx, f.ID())
	if err != nil || st.Messages != 1 || st.Unseen != 1 {
		t.Fatalf("status: %+v %v", st, err)
	}
	msgs, err := hv.Messages(ctx, f.ID(), storage.Query{})
	if err != nil || len(msgs) != 1 || slices.Contains(msgs[0].Flags, `\Seen`) {
		t.Fatalf("messages: %+v %v", msgs, err)
	}
	one := storage.UIDSet{{Start: ev.UID, Stop: ev.UID}}
	_, err = hv.StoreFlags(ctx, f.ID(), storage.FlagUpdate{UIDs: one, Op: storage.FlagsAdd, Flags: []string{`\Flagged`}})
	wantErr(t, "store \\Flagged", err, storage.ErrPermission)
	res, err := hv.StoreFlags(ctx, f.ID(), storage.FlagUpdate{UIDs: one, Op: storage.FlagsAdd, Flags: []string{`\Seen`, `\Flagged`}})
	if err != nil || len(res.Updated) != 1 || strings.Join(res.Updated[0].Flags, " ") != `\Seen` {
		t.Fatalf("store \\Seen \\Flagged: %+v %v", res, err)
	}
	ref := spool(t, e, "from john")
	_, err = hv.Append(ctx, f.ID(), ref, nil, time.Time{})
	wantErr(t, "append", err, storage.ErrPermission)
	_, err = hv.Expunge(ctx, f.ID(), []storage.UID{ev.UID})
	wantErr(t, "expunge", err, storage.ErrPermission)
	_, err = hv.GetACL(ctx, jane.ID, cal.ID)
	wantErr(t, "getacl", err, storage.ErrPermission)
	if err := hv.Delete(ctx, f.ID()); !errors.Is(err, storage.ErrPermission) {
		t.Fatalf("delete: %v", err)
	}

	// Write: APPEND works, into Jane's quota; a second mail says the
	// rights changed, and does not subscribe again what John declined.
	if err := hv.Unsubscribe(ctx, "~jane@example.test/Calendar"); err != nil {
		t.Fatal(err)
	}
	usage, _ := e.st.Usage(ctx, jane.ID)
	rw, _ := acl.ParseSpec("read+write")
	if _, err := jv.ChangeACL(ctx, jane.ID, cal.ID, []acl.Change{{Identifier: "john@example.test", Op: acl.OpSet, Rights: rw}}); err != nil {
		t.Fatal(err)
	}
	hv.Refresh()
	ref = spool(t, e, "from john") // the refused APPEND discarded the first blob
	d, err := hv.Append(ctx, f.ID(), ref, []string{`\Seen`, `\Flagged`}, time.Time{})
	if err != nil || d.UID == 0 {
		t.Fatalf("append with write: %+v %v", d, err)
	}
	after, _ := e.st.Usage(ctx, jane.ID)
	if after.Messages != usage.Messages+1 {
		t.Fatalf("jane's usage %+v -> %+v", usage, after)
	}
	// \Flagged needs "w", which Write does not give; \Seen is John's.
	msgs, _ = hv.Messages(ctx, f.ID(), storage.Query{UIDs: storage.UIDSet{{Start: d.UID, Stop: d.UID}}})
	if strings.Join(msgs[0].Flags, " ") != `\Seen` {
		t.Fatalf("john's appended message: %q", msgs[0].Flags)
	}
	msgs, _ = jv.Messages(ctx, cal.ID, storage.Query{UIDs: storage.UIDSet{{Start: d.UID, Stop: d.UID}}})
	if len(msgs[0].Flags) != 0 {
		t.Fatalf("jane sees john's append as %q", msgs[0].Flags)
	}
	mail = inboxMail(t, e, john)
	if len(mail) != 2 || !strings.Contains(mail[1].Envelope.Subject, "changed") || !strings.Contains(string(mail[1].Header), "rights=lrsik") {
		t.Fatalf("second mail: %q", mail[len(mail)-1].Header)
	}
	if f, _ := hv.Lookup(ctx, "~jane@example.test/Calendar"); f.Subscribed {
		t.Fatal("a change of rights subscribed a declined folder again")
	}

	// Removed: the next question finds nothing, exactly as for a folder
	// that never existed; no mail.
	if _, err := jv.ChangeACL(ctx, jane.ID, cal.ID, []acl.Change{{Identifier: "john@example.test", Op: acl.OpDelete}}); err != nil {
		t.Fatal(err)
	}
	hv.Refresh()
	_, err = hv.Status(ctx, f.ID())
	wantErr(t, "status after removal", err, storage.ErrNoMailbox)
	_, err = hv.Lookup(ctx, "~jane@example.test/Calendar")
	wantErr(t, "lookup after removal", err, storage.ErrNoMailbox)
	if n := len(inboxMail(t, e, john)); n != 2 {
		t.Fatalf("%d mails after removal", n)
	}
}

func spool(t *testing.T, e *env, subject string) storage.BlobRef {
	t.Helper()
	raw, _ := storagetest.NewMessage(subject, "john@example.test", "jane@example.test", "text")
	ref, err := ingest.Spool(t.Context(), e.st, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func readMessage(t *testing.T, e *env, m storage.Message) string {
	t.Helper()
	b, err := e.st.OpenBlob(t.Context(), m.Blob)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	raw, err := io.ReadAll(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

func TestAccountSharingInheritance(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	jane, john := e.account("jane@example.test"), e.account("john@example.test")
	work := e.mailbox(jane, "Work")
	e.mailbox(jane, "Work/Reports")
	e.grant(jane, storage.RootMailbox, "john@example.test", "read")
	hv := e.view(john)
	list, _ := hv.List(ctx)
	var janes []string
	for _, f := range list {
		if f.Owner == jane.Address {
			janes = append(janes, f.Name)
			if !f.Subscribed {
				t.Errorf("%s not subscribed after account sharing", f.Name)
			}
		}
	}
	want := []string{"~jane@example.test/Archive", "~jane@example.test/Drafts", "~jane@example.test/INBOX", "~jane@example.test/Junk",
		"~jane@example.test/Sent", "~jane@example.test/Trash", "~jane@example.test/Work", "~jane@example.test/Work/Reports"}
	if !slices.Equal(janes, want) {
		t.Fatalf("account sharing: %q", janes)
	}
	mail := inboxMail(t, e, john)
	if len(mail) != 1 || !strings.Contains(string(mail[0].Header), "scope=account") {
		t.Fatalf("account mail: %d", len(mail))
	}
	// A new subfolder follows at once.
	e.mailbox(jane, "Work/New")
	if _, err := hv.Lookup(ctx, "~jane@example.test/Work/New"); err != nil {
		t.Fatal(err)
	}
	// Cancel inheritance on Work: Work and its subfolders disappear.
	if _, _, err := view.NewAdmin(e.st, view.Options{}).SetACL(ctx, jane.ID, work.ID, nil); err != nil {
		t.Fatal(err)
	}
	hv.Refresh()
	for _, n := range []string{"~jane@example.test/Work", "~jane@example.test/Work/Reports"} {
		_, err := hv.Lookup(ctx, n)
		wantErr(t, n, err, storage.ErrNoMailbox)
	}
	if _, err := hv.Lookup(ctx, "~jane@example.test/INBOX"); err != nil {
		t.Fatal(err)
	}
	// Inherit again.
	if _, _, err := view.NewAdmin(e.st, view.Options{}).InheritACL(ctx, jane.ID, work.ID); err != nil {
		t.Fatal(err)
	}
	hv.Refresh()
	if _, err := hv.Lookup(ctx, "~jane@example.test/Work/Reports"); err != nil {
		t.Fatal(err)
	}
}

func TestIdentifiers(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	jane := e.account("jane@example.test")
	john, bob := e.account("john@example.test"), e.account("bob@example.test")
	joe := e.account("joe@other.test")
	pub := e.mailbox(jane, "Pub")
	dom := e.mailbox(jane, "Dom")
	grp := e.mailbox(jane, "Grp")
	neg := e.mailbox(jane, "Neg")
	if err := e.st.PutGroup(ctx, storage.Group{Address: "team@example.test", Members: []string{bob.Address}}); err != nil {
		t.Fatal(err)
	}
	e.grant(jane, pub.ID, "anyone", "lr")
	e.grant(jane, dom.ID, "example.test", "lr")
	e.grant(jane, grp.ID, "team@example.test", "lr")
	e.grant(jane, neg.ID, "authenticated", "lr")
	e.grant(jane, neg.ID, "-john@example.test", "l")

	sees := func(v *view.View) []string {
		t.Helper()
		v.Refresh()
		list, err := v.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range list {
			if !f.Own {
				out = append(out, f.Path)
			}
		}
		return out
	}
	if got := sees(e.view(john)); !slices.Equal(got, []string{"Dom", "Pub"}) {
		t.Errorf("john sees %q", got)
	}
	if got := sees(e.view(bob)); !slices.Equal(got, []string{"Dom", "Grp", "Neg", "Pub"}) {
		t.Errorf("bob sees %q", got)
	}
	if got := sees(e.view(joe)); !slices.Equal(got, []string{"Neg", "Pub"}) {
		t.Errorf("joe sees %q", got)
	}
	anon := view.Anonymous(e.st, view.Options{})
	if got := sees(anon); !slices.Equal(got, []string{"Pub"}) {
		t.Errorf("anonymous sees %q", got)
	}
	// Group membership changes apply at once.
	hv := e.view(john)
	if err := e.st.AddGroupMember(ctx, "team@example.test", john.Address); err != nil {
		t.Fatal(err)
	}
	if got := sees(hv); !slices.Equal(got, []string{"Dom", "Grp", "Pub"}) {
		t.Errorf("john in the group sees %q", got)
	}
	// The group grant informed bob, not john (added later), and nobody
	// was informed of anyone, domain or authenticated grants.
	if n := len(inboxMail(t, e, bob)); n != 1 {
		t.Errorf("bob got %d mails", n)
	}
	if n := len(inboxMail(t, e, john)); n != 0 {
		t.Errorf("john got %d mails", n)
	}
	// An entry naming the owner is refused.
	_, _, err := view.NewAdmin(e.st, view.Options{}).ChangeACL(ctx, jane.ID, pub.ID, []acl.Change{{Identifier: "jane@example.test", Op: acl.OpSet, Rights: acl.Of(acl.Lookup)}})
	wantErr(t, "owner entry", err, storage.ErrInvalid)
}

// TestIsolation: with no rights, everything answers as for a folder that
// does not exist.
func TestIsolation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	jane, john := e.account("jane@example.test"), e.account("john@example.test")
	secret := e.mailbox(jane, "Secret")
	e.deliver(jane, "Secret", "secret")
	hv := e.view(john)
	mine := e.mailbox(john, "Mine")

	for _, n := range []string{"~jane@example.test/Secret", "~jane@example.test/Nope", "~ghost@example.test/Secret", "~jane@example.test", "#public/Secret", "~", "#public"} {
		_, err := hv.Lookup(ctx, n)
		wantErr(t, "lookup "+n, err, storage.ErrNoMailbox)
		_, err = hv.Subscribe(ctx, n)
		wantErr(t, "subscribe "+n, err, storage.ErrNoMailbox)
		_, err = hv.Create(ctx, n+"/Sub", "")
		if !errors.Is(err, storage.ErrNoMailbox) && !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("create under %s: %v", n, err)
		}
		_, err = hv.Rename(ctx, mine.ID, n+"/Moved")
		wantErr(t, "rename into "+n, err, storage.ErrInvalid)
	}
	id := secret.ID
	checks := map[string]error{}
	_, checks["status"] = hv.Status(ctx, id)
	_, checks["messages"] = hv.Messages(ctx, id, storage.Query{})
	_, checks["folder"] = hv.Folder(ctx, id)
	_, checks["rights"] = hv.Rights(ctx, id)
	_, checks["getacl"] = hv.GetACL(ctx, jane.ID, id)
	_, checks["getacl root"] = hv.GetACL(ctx, jane.ID, storage.RootMailbox)
	_, checks["setacl"] = hv.ChangeACL(ctx, jane.ID, id, []acl.Change{{Identifier: "john@example.test", Op: acl.OpSet, Rights: acl.All}})
	_, checks["copy into"] = hv.Copy(ctx, mine.ID, nil, id)
	_, checks["move into"] = hv.Move(ctx, mine.ID, nil, id)
	_, checks["copy from"] = hv.Copy(ctx, id, nil, mine.ID)
	_, checks["rename"] = hv.Rename(ctx, id, "~jane@example.test/Other")
	checks["delete"] = hv.Delete(ctx, id)
	checks["setmetadata"] = hv.SetMetadata(ctx, id, []storage.MetadataEntry{{Name: "/private/comment", Value: []byte("x")}})
	_, checks["getmetadata"] = hv.GetMetadata(ctx, id, []string{"/private/comment"}, 0)
	_, checks["watch"] = hv.Watch(ctx, id)
	_, checks["expunge"] = hv.Expunge(ctx, id, []storage.UID{1})
	_, checks["store"] = hv.StoreFlags(ctx, id, storage.FlagUpdate{Op: storage.FlagsAdd, Flags: []string{`\Seen`}})
	_, _, checks["quota"] = hv.Quota(ctx, id)
	checks["canappend"] = hv.CanAppend(ctx, id)
	for what, err := range checks {
		wantErr(t, what, err, storage.ErrNoMailbox)
	}
	// The same for a mailbox ID that does not exist.
	_, err := hv.Status(ctx, id+1000)
	wantErr(t, "status of a missing id", err, storage.ErrNoMailbox)
	// Unsubscribe never fails.
	if err := hv.Unsubscribe(ctx, "~jane@example.test/Secret"); err != nil {
		t.Fatal(err)
	}
	list, _ := hv.List(ctx)
	for _, f := range list {
		if !f.Own {
			t.Fatalf("john sees %s", f.Name)
		}
	}
}

func TestPublicFolders(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	john, joe := e.account("john@example.test"), e.account("joe@other.test")
	pub, err := e.st.PublicAccount(ctx, "example.test", true)
	if err != nil {
		t.Fatal(err)
	}
	sup, err := e.st.CreateMailbox(ctx, pub.ID, "Support", "")
	if err != nil {
		t.Fatal(err)
	}
	e.grant(pub, storage.RootMailbox, "anyone", "read")
	e.grant(pub, sup.ID, "john@example.test", "read+write")
	hv := e.view(john)
	f, err := hv.Lookup(ctx, "#public/Support")
	if err != nil || f.Name != "#public/Support" || !f.Public() || f.Owner != "@example.test" || f.Rights.String() != "lrsik" {
		t.Fatalf("public folder: %+v %v", f, err)
	}
	if g, err := hv.LookupPath(ctx, "@example.test", "Support"); err != nil || g.ID() != f.ID() {
		t.Fatalf("by path: %+v %v", g, err)
	}
	mail := inboxMail(t, e, john)
	if len(mail) != 1 || !strings.Contains(string(mail[0].Header), `name="#public/Support"`) {
		t.Fatalf("public mail: %d", len(mail))
	}
	// Another domain's public folders are not visible, even to anyone.
	ov := e.view(joe)
	_, err = ov.LookupPath(ctx, "@example.test", "Support")
	wantErr(t, "other domain by path", err, storage.ErrNoMailbox)
	_, err = ov.Lookup(ctx, "#public/Support")
	wantErr(t, "other domain by name", err, storage.ErrNoMailbox)
	_, err = ov.Folder(ctx, sup.ID)
	wantErr(t, "other domain by id", err, storage.ErrNoMailbox)
	// Create in the public tree needs "k" there: John has it on Support.
	if _, err := hv.Create(ctx, "#public/Support/2024", ""); err != nil {
		t.Fatal(err)
	}
	_, err = hv.Create(ctx, "#public/Top", "")
	wantErr(t, "create at the public root", err, storage.ErrPermission)
}

func TestCreateRenameInOthersTree(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	jane, john := e.account("jane@example.test"), e.account("john@example.test")
	proj := e.mailbox(jane, "Projects")
	e.grant(jane, proj.ID, "john@example.test", "lrkx")
	hv := e.view(john)
	f, err := hv.Create(ctx, "~jane@example.test/Projects/A/B", "")
	if err != nil || f.Name != "~jane@example.test/Projects/A/B" || f.Mailbox.Account != jane.ID {
		t.Fatalf("create: %+v %v", f, err)
	}
	if _, err := e.st.Mailbox(ctx, jane.ID, "Projects/A"); err != nil {
		t.Fatal("superior not created")
	}
	_, err = hv.Create(ctx, "~jane@example.test/Projects/X", `\Sent`)
	wantErr(t, "special-use in another's tree", err, storage.ErrInvalid)
	g, err := hv.Rename(ctx, f.ID(), "~jane@example.test/Projects/C")
	if err != nil || g.Path != "Projects/C" {
		t.Fatalf("rename: %+v %v", g, err)
	}
	_, err = hv.Rename(ctx, g.ID(), "Mine")
	wantErr(t, "rename across owners", err, storage.ErrInvalid)
	_, err = hv.Create(ctx, "~jane@example.test/Top", "")
	wantErr(t, "create at jane's root", err, storage.ErrNoMailbox)
	if err := hv.Delete(ctx, g.ID()); err != nil {
		t.Fatal(err)
	}
	_, err = hv.Create(ctx, "~jane@example.test/Projects", "")
	wantErr(t, "create existing", err, storage.ErrExists)
}

// TestCreateOverHiddenFolder: John has "k" on Jane's Projects; its
// subfolder Hidden has an ACL of its own without him. CREATE (or RENAME)
// to that name must not confirm that it exists: it gets the answer of a
// viewer without "k" (ErrPermission), never ErrExists.
func TestCreateOverHiddenFolder(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	jane, john := e.account("jane@example.test"), e.account("john@example.test")
	proj := e.mailbox(jane, "Projects")
	hidden := e.mailbox(jane, "Projects/Hidden")
	e.grant(jane, proj.ID, "john@example.test", "lrkx")
	e.grant(jane, hidden.ID, "bob@example.test", "lr") // Hidden's own ACL (a copy of Projects')...
	e.grant(jane, hidden.ID, "john@example.test", "")  // ...without John
	hv := e.view(john)
	if _, err := hv.Lookup(ctx, "~jane@example.test/Projects/Hidden"); !errors.Is(err, storage.ErrNoMailbox) {
		t.Fatalf("Hidden is visible to John: %v", err)
	}
	_, err := hv.Create(ctx, "~jane@example.test/Projects/Hidden", "")
	wantErr(t, "create over a hidden folder", err, storage.ErrPermission)
	if errors.Is(err, storage.ErrExists) {
		t.Fatal("create over a hidden folder says it exists")
	}
	mine, err := hv.Create(ctx, "~jane@example.test/Projects/Mine", "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = hv.Rename(ctx, mine.ID(), "~jane@example.test/Projects/Hidden")
	wantErr(t, "rename onto a hidden folder", err, storage.ErrPermission)
	if errors.Is(err, storage.ErrExists) {
		t.Fatal("rename onto a hidden folder says it exists")
	}
	// Jane, who sees it, is told it exists.
	_, err = e.view(jane).Create(ctx, "Projects/Hidden", "")
	wantErr(t, "owner creates existing", err, storage.ErrExists)
}

func TestWatchSharedFolder(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	jane, john, bob := e.account("jane@example.test"), e.account("john@example.test"), e.account("bob@example.test")
	box := e.mailbox(jane, "Box")
	e.grant(jane, box.ID, "john@example.test", "lrsw")
	e.grant(jane, box.ID, "bob@example.test", "lrsw")
	hv, bv, jv := e.view(john), e.view(bob), e.view(jane)
	w, err := hv.Watch(ctx, box.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	d := e.deliver(jane, "Box", "new", `\Seen`)
	one := storage.UIDSet{{Start: d.UID, Stop: d.UID}}
	// Bob's own \Seen is not John's business; Jane's \Flagged is.
	if _, err := bv.StoreFlags(ctx, box.ID, storage.FlagUpdate{UIDs: one, Op: storage.FlagsAdd, Flags: []string{`\Seen`}}); err != nil {
		t.Fatal(err)
	}
	if _, err := jv.StoreFlags(ctx, box.ID, storage.FlagUpdate{UIDs: one, Op: storage.FlagsAdd, Flags: []string{`\Flagged`}}); err != nil {
		t.Fatal(err)
	}
	if _, err := hv.StoreFlags(ctx, box.ID, storage.FlagUpdate{UIDs: one, Op: storage.FlagsAdd, Flags: []string{`\Seen`}}); err != nil {
		t.Fatal(err)
	}
	var got []storage.Change
	deadline := time.After(10 * time.Second)
	for len(got) < 3 {
		select {
		case <-w.Ready():
		case <-deadline:
			t.Fatalf("changes: %+v", got)
		}
		cs, err := w.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, cs...)
	}
	if len(got) != 3 || got[0].Kind != storage.ChangeMessageAdded || got[1].Kind != storage.ChangeFlags || got[2].Kind != storage.ChangeFlags {
		t.Fatalf("changes: %+v", got)
	}
	// Jane's \Seen is not John's: the added message and Jane's flag change
	// read back John's state at the time of the read.
	if slices.Contains(got[1].Flags, `\Flagged`) == false || got[2].Viewer != john.ID || strings.Join(got[2].Flags, " ") != `\Flagged \Seen` {
		t.Fatalf("flags as john sees them: %+v", got)
	}
}

func TestRightsCacheSeesOtherProcesses(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	jane, john := e.account("jane@example.test"), e.account("john@example.test")
	box := e.mailbox(jane, "Box")
	hv := e.view(john)
	_, err := hv.Folder(ctx, box.ID)
	wantErr(t, "before", err, storage.ErrNoMailbox)
	// A change made straight in storage (as the CLI in another process
	// does) is seen after Refresh.
	if _, _, err := e.st.ChangeACL(ctx, jane.ID, box.ID, []acl.Change{{Identifier: "john@example.test", Op: acl.OpSet, Rights: acl.Of(acl.Lookup, acl.Read)}}); err != nil {
		t.Fatal(err)
	}
	hv.Refresh()
	if r, err := hv.Rights(ctx, box.ID); err != nil || r.String() != "lr" {
		t.Fatalf("after grant: %q %v", r, err)
	}
	if _, _, err := e.st.InheritACL(ctx, jane.ID, box.ID); err != nil {
		t.Fatal(err)
	}
	// Without Refresh the view keeps its answer for the command...
	if _, err := hv.Rights(ctx, box.ID); err != nil {
		t.Fatalf("cached: %v", err)
	}
	// ...and the next command sees the change.
	hv.Refresh()
	_, err = hv.Rights(ctx, box.ID)
	wantErr(t, "after revoke", err, storage.ErrNoMailbox)
}

func TestMetadataRights(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	jane, john := e.account("jane@example.test"), e.account("john@example.test")
	box := e.mailbox(jane, "Box")
	e.grant(jane, box.ID, "john@example.test", "lr")
	hv := e.view(john)
	if err := hv.SetMetadata(ctx, box.ID, []storage.MetadataEntry{{Name: "/private/comment", Value: []byte("mine")}}); err != nil {
		t.Fatal(err)
	}
	err := hv.SetMetadata(ctx, box.ID, []storage.MetadataEntry{{Name: "/shared/comment", Value: []byte("ours")}})
	wantErr(t, "shared entry without w", err, storage.ErrPermission)
	got, err := hv.GetMetadata(ctx, box.ID, []string{"/private/comment"}, 0)
	if err != nil || len(got) != 1 || string(got[0].Value) != "mine" {
		t.Fatalf("get: %+v %v", got, err)
	}
	// Jane does not see John's private entry.
	got, _ = e.view(jane).GetMetadata(ctx, box.ID, []string{"/private/comment"}, 0)
	if len(got) != 0 {
		t.Fatalf("jane sees %+v", got)
	}
}

func TestQuotaOfSharedFolder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	jane, john := e.account("jane@example.test"), e.account("john@example.test")
	box := e.mailbox(jane, "Box")
	e.grant(jane, box.ID, "john@example.test", "lri")
	a, _, err := e.view(john).Quota(ctx, box.ID)
	if err != nil || a.ID != jane.ID {
		t.Fatalf("quota account: %+v %v", a, err)
	}
}

// TestMemberAdded: joining a group gives the member what is shared with
// the group, so it is informed as for a grant: one mail per ACL naming
// the group (a folder's own, an account root's), with the folders it can
// now see subscribed; a folder shared with the group negatively, or with
// nothing to see, sends nothing.
func TestMemberAdded(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	jane, mike, john := e.account("jane@example.test"), e.account("mike@example.test"), e.account("john@example.test")
	cal := e.mailbox(jane, "Calendar")
	e.mailbox(jane, "Calendar/2026")
	hidden := e.mailbox(jane, "Hidden")
	if err := e.st.PutGroup(ctx, storage.Group{Address: "team@example.test"}); err != nil {
		t.Fatal(err)
	}
	e.grant(jane, cal.ID, "team@example.test", "lrs")
	e.grant(jane, hidden.ID, "team@example.test", "r") // no "l": nothing to see
	e.grant(mike, storage.RootMailbox, "team@example.test", "lr")
	if err := e.st.AddGroupMember(ctx, "team@example.test", john.Address); err != nil {
		t.Fatal(err)
	}
	if err := view.NewAdmin(e.st, view.Options{}).MemberAdded(ctx, "team@example.test", john.Address); err != nil {
		t.Fatal(err)
	}
	var shares []string
	for _, m := range inboxMail(t, e, john) {
		h := string(m.Header)
		i := strings.Index(h, view.HeaderShare+": ")
		if i < 0 {
			t.Fatalf("mail without %s:\n%s", view.HeaderShare, h)
		}
		line, _, _ := strings.Cut(h[i+len(view.HeaderShare)+2:], "\r\n")
		shares = append(shares, line)
	}
	slices.Sort(shares)
	want := []string{
		`owner=jane@example.test; scope=folder; folder="Calendar"; rights=lrs; name="~jane@example.test/Calendar"`,
		`owner=mike@example.test; scope=account; folder=""; rights=lr; name="~mike@example.test"`,
	}
	if !slices.Equal(shares, want) {
		t.Errorf("information mails:\n%q\nwant\n%q", shares, want)
	}
	subs, err := e.st.Subscriptions(ctx, john.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"~jane@example.test/Calendar", "~jane@example.test/Calendar/2026", "~mike@example.test/INBOX"} {
		if !slices.Contains(subs, n) {
			t.Errorf("%s not subscribed: %q", n, subs)
		}
	}
	if slices.Contains(subs, "~jane@example.test/Hidden") {
		t.Errorf("a folder john cannot see subscribed: %q", subs)
	}
}
