// Package storagetest is the conformance suite every storage backend must
// pass. A backend's test calls Run with a function opening a fresh, empty
// store:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { ... })
//	}
//
// The open function should register the store's Close with t.Cleanup
// (Close must be idempotent: the suite also closes stores). Backends that
// let the suite damage a blob (to see Check notice) also implement
// BlobDamager, possibly through a test-only wrapper.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
)

// BlobDamager is implemented by a store (or a test wrapper around one) that
// lets the suite corrupt or remove a stored blob behind the store's back.
type BlobDamager interface {
	// DamageBlob overwrites the blob's content (remove false) or deletes
	// it (remove true).
	DamageBlob(id storage.BlobID, remove bool) error
}

const domain = "example.test"

var msgCounter atomic.Int64

// NewMessage builds a small text/plain message and the Parsed value
// storage/mimeparse would produce for it, by hand. Every call yields
// different content (a unique Message-ID), so blobs are not shared unless
// the same raw bytes are stored twice.
func NewMessage(subject, from, to, body string) ([]byte, *storage.Parsed) {
	n := msgCounter.Add(1)
	date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", 2*3600)).Add(time.Duration(n) * time.Minute)
	msgID := fmt.Sprintf("m%d.%d@example.test", n, time.Now().UnixNano())
	hdr := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		from, to, subject, date.Format(time.RFC1123Z), msgID)
	raw := []byte(hdr + body)
	addr := func(a string) []storage.Address {
		local, host, _ := strings.Cut(a, "@")
		return []storage.Address{{Mailbox: local, Host: host}}
	}
	p := &storage.Parsed{
		Envelope: storage.Envelope{
			Date:      date,
			RawDate:   date.Format(time.RFC1123Z),
			Subject:   subject,
			From:      addr(from),
			To:        addr(to),
			MessageID: "<" + msgID + ">",
		},
		Structure: storage.Part{
			Type: "text", Subtype: "plain",
			Params:      map[string]string{"charset": "utf-8"},
			HeaderStart: 0, BodyStart: int64(len(hdr)), End: int64(len(raw)),
			Lines: int64(strings.Count(body, "\n")),
		},
		Header:      []byte(hdr),
		References:  []string{"<parent@example.test>"},
		BaseSubject: strings.ToLower(subject),
		Text:        body,
	}
	return raw, p
}

// Run runs the conformance suite. open must return a fresh, empty store.
func Run(t *testing.T, open func(t *testing.T) storage.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st storage.Store)
	}{
		{"Directory", testDirectory},
		{"DefaultMailboxes", testDefaultMailboxes},
		{"Mailboxes", testMailboxes},
		{"RenameInbox", testRenameInbox},
		{"UIDs", testUIDs},
		{"ModSeq", testModSeq},
		{"Flags", testFlags},
		{"SharedBlob", testSharedBlob},
		{"DeliverErrors", testDeliverErrors},
		{"Quota", testQuota},
		{"DeliverAll", testDeliverAll},
		{"ExpungeVanished", testExpungeVanished},
		{"CopyMove", testCopyMove},
		{"MessagesQuery", testMessagesQuery},
		{"SearchText", testSearchText},
		{"LostSubscriptions", testLostSubscriptions},
		{"Changes", testChanges},
		{"ConcurrentDeliveries", testConcurrent},
		{"Check", testCheck},
		{"Close", testClose},
		{"Metadata", testMetadata},
		{"Queue", testQueue},
		{"DiscardBlob", testDiscardBlob},
		{"Items", testItems},
		{"ItemData", testItemData},
		{"ItemSpans", testItemSpans},
		{"ACL", testACL},
		{"SharedMailboxes", testSharedMailboxes},
		{"Groups", testGroups},
		{"PublicAccount", testPublicAccount},
		{"Subscriptions", testSubscriptions},
		{"PrivateSeen", testPrivateSeen},
		{"SendAs", testSendAs},
		{"MailboxChanges", testMailboxChanges},
		{"Orphans", testOrphans},
		{"Files", testFiles},
		{"FilesDelivered", testFilesDelivered},
		{"Rules", testRules},
		{"Quarantine", testQuarantine},
		{"Activations", testActivations},
		{"AppPasswords", testAppPasswords},
		{"AccountNames", testAccountNames},
		{"DirectoryVersion", testDirectoryVersion},
		{"Links", testLinks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// --- helpers ---

func ctxT(t *testing.T) context.Context { return t.Context() }

// must(f())(t) returns f's value, failing the test on f's error.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error %v, want %v", err, target)
	}
}

func newAccount(t *testing.T, st storage.Store, local string) storage.Account {
	t.Helper()
	ctx := ctxT(t)
	if _, err := st.Domain(ctx, domain); errors.Is(err, storage.ErrNoDomain) {
		noErr(t, st.PutDomain(ctx, storage.Domain{Name: domain}))
	}
	return must(st.CreateAccount(ctx, storage.Account{Address: local + "@" + domain, PasswordHash: "x"}))(t)
}

func mailbox(t *testing.T, st storage.Store, acct storage.AccountID, name string) storage.Mailbox {
	t.Helper()
	return must(st.Mailbox(ctxT(t), acct, name))(t)
}

// put stores a new message blob and returns its reference and parse.
func put(t *testing.T, st storage.Store, subject, body string) (storage.BlobRef, *storage.Parsed) {
	t.Helper()
	ref, p, err := putE(t.Context(), st, subject, body)
	noErr(t, err)
	return ref, p
}

// putE is put for goroutines other than the test's.
func putE(ctx context.Context, st storage.Store, subject, body string) (storage.BlobRef, *storage.Parsed, error) {
	raw, p := NewMessage(subject, "sender@remote.test", "rcpt@example.test", body)
	ref, err := st.PutBlob(ctx, bytes.NewReader(raw))
	if err == nil && ref.Size != int64(len(raw)) {
		err = fmt.Errorf("PutBlob size %d, want %d", ref.Size, len(raw))
	}
	return ref, p, err
}

// deliver stores a new message into one mailbox and returns its outcome.
func deliver(t *testing.T, st storage.Store, acct storage.AccountID, mbox, subject, body string, flags ...string) storage.Delivered {
	t.Helper()
	ref, p := put(t, st, subject, body)
	ds := must(st.Deliver(ctxT(t), ref, p, []storage.Target{{Account: acct, MailboxName: mbox, Flags: flags}}))(t)
	if len(ds) != 1 {
		t.Fatalf("Deliver returned %d outcomes", len(ds))
	}
	noErr(t, ds[0].Err)
	return ds[0]
}

func uidsOf(msgs []storage.Message) []storage.UID {
	var out []storage.UID
	for _, m := range msgs {
		out = append(out, m.UID)
	}
	return out
}

func listUIDs(t *testing.T, st storage.Store, mbox storage.MailboxID) []storage.UID {
	t.Helper()
	return uidsOf(must(st.Messages(ctxT(t), mbox, storage.Query{}))(t))
}

func eqUIDs(t *testing.T, what string, got []storage.UID, want ...storage.UID) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got UIDs %v, want %v", what, got, want)
	}
}

// checkHealthy runs the backend's Check when it has one (storage.Checker).
func checkHealthy(t *testing.T, st storage.Store) {
	t.Helper()
	ch, ok := st.(storage.Checker)
	if !ok {
		return
	}
	probs := must(ch.Check(ctxT(t)))(t)
	if len(probs) > 0 {
		t.Fatalf("Check found problems:\n%s", strings.Join(probs, "\n"))
	}
}

// waitChanges collects changes from sub until n have arrived.
func waitChanges(t *testing.T, sub storage.Subscription, n int) []storage.Change {
	t.Helper()
	var got []storage.Change
	timeout := time.NewTimer(30 * time.Second) // only to avoid hanging forever
	defer timeout.Stop()
	for len(got) < n {
		got = append(got, sub.Next()...)
		if len(got) >= n {
			break
		}
		select {
		case <-sub.Ready():
		case <-timeout.C:
			t.Fatalf("got %d changes, want %d: %+v", len(got), n, got)
		}
	}
	if len(got) != n {
		t.Fatalf("got %d changes, want %d: %+v", len(got), n, got)
	}
	return got
}

// --- tests ---

func testDirectory(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	noErr(t, st.PutDomain(ctx, storage.Domain{Name: "Example.TEST"}))
	d := must(st.Domain(ctx, "EXAMPLE.test"))(t)
	if d.Name != domain || d.Source != storage.SourceDB || d.Created.IsZero() {
		t.Fatalf("domain %+v", d)
	}
	noErr(t, st.PutDomain(ctx, storage.Domain{Name: "other.test", Source: storage.SourceConfig}))
	noErr(t, st.PutDomain(ctx, storage.Domain{Name: domain, CatchAll: "Alice@Example.test"}))
	ds := must(st.Domains(ctx))(t)
	if len(ds) != 2 || ds[0].Name != domain || ds[0].CatchAll != "alice@example.test" || ds[1].Source != storage.SourceConfig {
		t.Fatalf("domains %+v", ds)
	}
	_, err := st.Domain(ctx, "nowhere.test")
	wantErr(t, err, storage.ErrNoDomain)

	a := must(st.CreateAccount(ctx, storage.Account{Address: "Alice@Example.TEST", PasswordHash: "h1", QuotaBytes: 100, Source: storage.SourceConfig}))(t)
	if a.ID == 0 || a.Address != "alice@example.test" {
		t.Fatalf("account %+v", a)
	}
	got := must(st.Account(ctx, "ALICE@example.test"))(t)
	if got.ID != a.ID || got.PasswordHash != "h1" || got.QuotaBytes != 100 || got.Source != storage.SourceConfig {
		t.Fatalf("account %+v", got)
	}
	got = must(st.AccountByID(ctx, a.ID))(t)
	if got.Address != a.Address {
		t.Fatalf("AccountByID %+v", got)
	}
	_, err = st.CreateAccount(ctx, storage.Account{Address: "alice@EXAMPLE.test"})
	wantErr(t, err, storage.ErrExists)
	_, err = st.CreateAccount(ctx, storage.Account{Address: "bob@nowhere.test"})
	wantErr(t, err, storage.ErrNoDomain)
	_, err = st.Account(ctx, "nobody@example.test")
	wantErr(t, err, storage.ErrNoAccount)
	_, err = st.AccountByID(ctx, a.ID+1000)
	wantErr(t, err, storage.ErrNoAccount)

	got.PasswordHash, got.QuotaMessages, got.Disabled, got.Source = "h2", 7, true, storage.SourceDB
	noErr(t, st.UpdateAccount(ctx, got))
	got = must(st.Account(ctx, "alice@example.test"))(t)
	if got.PasswordHash != "h2" || got.QuotaMessages != 7 || !got.Disabled || got.Source != storage.SourceDB {
		t.Fatalf("updated account %+v", got)
	}
	wantErr(t, st.UpdateAccount(ctx, storage.Account{ID: a.ID + 1000, Address: "ghost@example.test"}), storage.ErrNoAccount)
	b := must(st.CreateAccount(ctx, storage.Account{Address: "bob@other.test"}))(t)
	as := must(st.Accounts(ctx))(t)
	if len(as) != 2 || as[0].Address != "alice@example.test" || as[1].ID != b.ID {
		t.Fatalf("accounts %+v", as)
	}
	u := must(st.Usage(ctx, a.ID))(t)
	if u != (storage.Usage{}) {
		t.Fatalf("usage of new account %+v", u)
	}

	noErr(t, st.PutAlias(ctx, storage.Alias{Address: "Postmaster@Example.test", Target: "ALICE@example.test"}))
	al := must(st.Alias(ctx, "postmaster@EXAMPLE.TEST"))(t)
	if al.Address != "postmaster@example.test" || al.Target != "alice@example.test" || al.Source != storage.SourceDB {
		t.Fatalf("alias %+v", al)
	}
	noErr(t, st.PutAlias(ctx, storage.Alias{Address: "postmaster@example.test", Target: "bob@other.test", Source: storage.SourceConfig}))
	al = must(st.Alias(ctx, "postmaster@example.test"))(t)
	if al.Target != "bob@other.test" || al.Source != storage.SourceConfig {
		t.Fatalf("updated alias %+v", al)
	}
	wantErr(t, st.PutAlias(ctx, storage.Alias{Address: "x@example.test", Target: "ghost@example.test"}), storage.ErrNoAccount)
	wantErr(t, st.PutAlias(ctx, storage.Alias{Address: "x@nowhere.test", Target: "alice@example.test"}), storage.ErrNoDomain)
	wantErr(t, st.PutAlias(ctx, storage.Alias{Address: "bob@other.test", Target: "alice@example.test"}), storage.ErrExists)
	_, err = st.CreateAccount(ctx, storage.Account{Address: "postmaster@example.test"})
	wantErr(t, err, storage.ErrExists)
	if als := must(st.Aliases(ctx))(t); len(als) != 1 {
		t.Fatalf("aliases %+v", als)
	}
	noErr(t, st.DeleteAlias(ctx, "POSTMASTER@example.test"))
	_, err = st.Alias(ctx, "postmaster@example.test")
	wantErr(t, err, storage.ErrNotFound)
	wantErr(t, st.DeleteAlias(ctx, "postmaster@example.test"), storage.ErrNotFound)

	wantErr(t, st.DeleteDomain(ctx, domain), storage.ErrNotEmpty)
	noErr(t, st.DeleteAccount(ctx, "Alice@example.test"))
	_, err = st.Account(ctx, "alice@example.test")
	wantErr(t, err, storage.ErrNoAccount)
	wantErr(t, st.DeleteAccount(ctx, "alice@example.test"), storage.ErrNoAccount)
	_, err = st.Mailboxes(ctx, a.ID)
	wantErr(t, err, storage.ErrNoAccount)
	noErr(t, st.DeleteDomain(ctx, domain))
	_, err = st.Domain(ctx, domain)
	wantErr(t, err, storage.ErrNoDomain)
	wantErr(t, st.DeleteDomain(ctx, domain), storage.ErrNoDomain)
}

func testDefaultMailboxes(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	mbs := must(st.Mailboxes(ctx, a.ID))(t)
	if len(mbs) != len(storage.DefaultMailboxes) {
		t.Fatalf("%d mailboxes, want %d: %+v", len(mbs), len(storage.DefaultMailboxes), mbs)
	}
	for _, dm := range storage.DefaultMailboxes {
		m := mailbox(t, st, a.ID, dm.Name)
		if m.SpecialUse != dm.SpecialUse || m.Account != a.ID || m.UIDValidity == 0 || m.UIDNext != 1 || !m.Subscribed {
			t.Fatalf("mailbox %+v, want special-use %q", m, dm.SpecialUse)
		}
	}
	for _, name := range []string{"inbox", "Inbox", "INBOX"} {
		if m := mailbox(t, st, a.ID, name); m.Name != "INBOX" {
			t.Fatalf("Mailbox(%q).Name = %q", name, m.Name)
		}
	}
	_, err := st.Mailbox(ctx, a.ID, "sent") // not INBOX: case-sensitive
	wantErr(t, err, storage.ErrNoMailbox)
}

func testMailboxes(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	work := must(st.CreateMailbox(ctx, a.ID, "Work", ""))(t)
	if work.ID == 0 || work.Name != "Work" || work.UIDValidity == 0 || work.UIDNext != 1 || work.Subscribed {
		t.Fatalf("created %+v", work)
	}
	_, err := st.CreateMailbox(ctx, a.ID, "Work", "")
	wantErr(t, err, storage.ErrExists)
	_, err = st.CreateMailbox(ctx, a.ID, "inbox", "")
	wantErr(t, err, storage.ErrExists)
	lower := must(st.CreateMailbox(ctx, a.ID, "work", `\Flagged`))(t)
	if lower.ID == work.ID || lower.SpecialUse != `\Flagged` {
		t.Fatalf("case-sensitive name: %+v vs %+v", lower, work)
	}
	for _, bad := range []string{"", "/x", "x/", "a//b", "a*", "b%", "~x", "~jane@example.test/Cal", "#public", "#x/y"} {
		_, err = st.CreateMailbox(ctx, a.ID, bad, "")
		wantErr(t, err, storage.ErrInvalid)
	}
	// "~" and "#" are reserved at the top level only.
	must(st.CreateMailbox(ctx, a.ID, "Work/~x", ""))(t)
	must(st.CreateMailbox(ctx, a.ID, "Work/#y", ""))(t)
	_, err = st.CreateMailbox(ctx, a.ID+1000, "X", "")
	wantErr(t, err, storage.ErrNoAccount)

	for _, n := range []string{"a", "a/b", "a/b/c", "ab"} {
		must(st.CreateMailbox(ctx, a.ID, n, ""))(t)
	}
	ma := mailbox(t, st, a.ID, "a")
	abc := mailbox(t, st, a.ID, "a/b/c")
	deliver(t, st, a.ID, "a/b/c", "in child", "body")
	wantErr(t, st.RenameMailbox(ctx, ma.ID, "Work"), storage.ErrExists)
	wantErr(t, st.RenameMailbox(ctx, ma.ID, "a/b/x"), storage.ErrInvalid)
	wantErr(t, st.RenameMailbox(ctx, ma.ID, "~a"), storage.ErrInvalid)
	wantErr(t, st.RenameMailbox(ctx, ma.ID, "#public/a"), storage.ErrInvalid)
	wantErr(t, st.RenameMailbox(ctx, ma.ID, "INBOX"), storage.ErrExists)
	noErr(t, st.RenameMailbox(ctx, ma.ID, "x"))
	for _, n := range []string{"x", "x/b", "x/b/c", "ab"} {
		mailbox(t, st, a.ID, n)
	}
	for _, n := range []string{"a", "a/b", "a/b/c"} {
		_, err = st.Mailbox(ctx, a.ID, n)
		wantErr(t, err, storage.ErrNoMailbox)
	}
	xbc := mailbox(t, st, a.ID, "x/b/c")
	if xbc.ID != abc.ID || xbc.UIDValidity != abc.UIDValidity {
		t.Fatalf("renamed child %+v, was %+v", xbc, abc)
	}
	eqUIDs(t, "renamed child", listUIDs(t, st, xbc.ID), 1)

	// Children of a non-ASCII parent move along too (prefix lengths are
	// characters, not bytes).
	for _, n := range []string{"Entwürfe", "Entwürfe/Ärger", "Entwürfe/Ärger/ö"} {
		must(st.CreateMailbox(ctx, a.ID, n, ""))(t)
	}
	noErr(t, st.RenameMailbox(ctx, mailbox(t, st, a.ID, "Entwürfe").ID, "Brouillons"))
	for _, n := range []string{"Brouillons", "Brouillons/Ärger", "Brouillons/Ärger/ö"} {
		mailbox(t, st, a.ID, n)
	}

	// Subscribe.
	noErr(t, st.SetSubscribed(ctx, work.ID, true))
	if !mailbox(t, st, a.ID, "Work").Subscribed {
		t.Fatal("not subscribed")
	}
	noErr(t, st.SetSubscribed(ctx, work.ID, false))
	if mailbox(t, st, a.ID, "Work").Subscribed {
		t.Fatal("still subscribed")
	}

	// Status and delete with messages.
	deliver(t, st, a.ID, "Work", "one", "body one", storage.FlagSeen)
	deliver(t, st, a.ID, "Work", "two", "body two", storage.FlagDeleted)
	ws := must(st.Status(ctx, work.ID, 0))(t)
	if ws.Messages != 2 || ws.Unseen != 1 || ws.Deleted != 1 || ws.Size <= 0 || ws.UIDNext != 3 {
		t.Fatalf("status %+v", ws)
	}
	u := must(st.Usage(ctx, a.ID))(t)
	if u.Messages != 3 {
		t.Fatalf("usage %+v", u)
	}
	noErr(t, st.DeleteMailbox(ctx, work.ID))
	_, err = st.MailboxByID(ctx, work.ID)
	wantErr(t, err, storage.ErrNoMailbox)
	_, err = st.Status(ctx, work.ID, 0)
	wantErr(t, err, storage.ErrNoMailbox)
	wantErr(t, st.DeleteMailbox(ctx, work.ID), storage.ErrNoMailbox)
	u2 := must(st.Usage(ctx, a.ID))(t)
	if u2.Messages != 1 || u2.Bytes != u.Bytes-ws.Size {
		t.Fatalf("usage after delete %+v (before %+v, deleted %d bytes)", u2, u, ws.Size)
	}
	again := must(st.CreateMailbox(ctx, a.ID, "Work", ""))(t)
	if again.UIDValidity == work.UIDValidity {
		t.Fatalf("recreated mailbox kept UIDVALIDITY %d", again.UIDValidity)
	}
	wantErr(t, st.DeleteMailbox(ctx, mailbox(t, st, a.ID, "INBOX").ID), storage.ErrInvalid)
	checkHealthy(t, st)
}

func testRenameInbox(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	inbox := mailbox(t, st, a.ID, "INBOX")
	must(st.CreateMailbox(ctx, a.ID, "INBOX/child", ""))(t)
	d1 := deliver(t, st, a.ID, "", "one", "first")
	d2 := deliver(t, st, a.ID, "INBOX", "two", "second", storage.FlagFlagged)
	before := mailbox(t, st, a.ID, "INBOX")
	noErr(t, st.RenameMailbox(ctx, inbox.ID, "Old Mail"))
	old := mailbox(t, st, a.ID, "Old Mail")
	if old.ID == inbox.ID || old.UIDValidity == inbox.UIDValidity {
		t.Fatalf("renamed INBOX %+v, INBOX %+v", old, inbox)
	}
	msgs := must(st.Messages(ctx, old.ID, storage.Query{}))(t)
	if len(msgs) != 2 || !slices.Contains(msgs[1].Flags, storage.FlagFlagged) {
		t.Fatalf("messages of renamed INBOX %+v", msgs)
	}
	if old.UIDNext <= msgs[1].UID {
		t.Fatalf("UIDNEXT %d <= UID %d", old.UIDNext, msgs[1].UID)
	}
	now := mailbox(t, st, a.ID, "INBOX")
	if now.ID != inbox.ID || now.UIDValidity != inbox.UIDValidity || now.UIDNext != before.UIDNext || now.HighestModSeq <= before.HighestModSeq {
		t.Fatalf("INBOX after rename %+v, before %+v", now, before)
	}
	eqUIDs(t, "INBOX after rename", listUIDs(t, st, inbox.ID))
	eqUIDs(t, "INBOX vanished", must(st.Vanished(ctx, inbox.ID, before.HighestModSeq, nil))(t), d1.UID, d2.UID)
	mailbox(t, st, a.ID, "INBOX/child") // children of INBOX stay
	d3 := deliver(t, st, a.ID, "INBOX", "three", "third")
	if d3.UID <= d2.UID {
		t.Fatalf("UID %d reused after INBOX rename (had %d)", d3.UID, d2.UID)
	}
	checkHealthy(t, st)
}

func testUIDs(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	inbox := mailbox(t, st, a.ID, "INBOX")
	var last storage.UID
	for i := range 3 {
		d := deliver(t, st, a.ID, "INBOX", fmt.Sprint("m", i), "b")
		if d.UID <= last || d.Mailbox != inbox.ID {
			t.Fatalf("delivery %d: %+v after UID %d", i, d, last)
		}
		last = d.UID
	}
	got := must(st.Expunge(ctx, inbox.ID, []storage.UID{last}))(t)
	eqUIDs(t, "expunged", got, last)
	d := deliver(t, st, a.ID, "INBOX", "after", "b")
	if d.UID <= last {
		t.Fatalf("UID %d reused (last %d)", d.UID, last)
	}
	m := mailbox(t, st, a.ID, "INBOX")
	if m.UIDNext <= d.UID || m.UIDValidity != inbox.UIDValidity {
		t.Fatalf("mailbox %+v after UID %d", m, d.UID)
	}
	eqUIDs(t, "messages", listUIDs(t, st, inbox.ID), 1, 2, d.UID)
}

func testModSeq(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	inbox := mailbox(t, st, a.ID, "INBOX")
	arch := mailbox(t, st, a.ID, "Archive")
	hms := inbox.HighestModSeq
	bump := func(what string, id storage.MailboxID, prev storage.ModSeq) storage.ModSeq {
		t.Helper()
		m := must(st.MailboxByID(ctx, id))(t)
		if m.HighestModSeq <= prev {
			t.Fatalf("%s: HIGHESTMODSEQ %d not above %d", what, m.HighestModSeq, prev)
		}
		return m.HighestModSeq
	}
	d1 := deliver(t, st, a.ID, "INBOX", "one", "b")
	if d1.ModSeq <= hms {
		t.Fatalf("message modseq %d <= %d", d1.ModSeq, hms)
	}
	hms = bump("deliver", inbox.ID, hms)
	if hms != d1.ModSeq {
		t.Fatalf("HIGHESTMODSEQ %d, message modseq %d", hms, d1.ModSeq)
	}
	d2 := deliver(t, st, a.ID, "INBOX", "two", "b")
	hms = bump("deliver 2", inbox.ID, hms)
	r := must(st.StoreFlags(ctx, inbox.ID, storage.FlagUpdate{UIDs: storage.UIDSet{{Start: d1.UID, Stop: d1.UID}}, Op: storage.FlagsAdd, Flags: []string{storage.FlagSeen}}))(t)
	if len(r.Updated) != 1 || r.Updated[0].ModSeq <= d2.ModSeq {
		t.Fatalf("store result %+v", r)
	}
	hms = bump("store", inbox.ID, hms)
	ahms := arch.HighestModSeq
	must(st.Copy(ctx, inbox.ID, storage.UIDSet{{Start: d1.UID, Stop: d1.UID}}, arch.ID, 0))(t)
	ahms = bump("copy dst", arch.ID, ahms)
	must(st.Expunge(ctx, inbox.ID, []storage.UID{d2.UID}))(t)
	hms = bump("expunge", inbox.ID, hms)
	must(st.Move(ctx, inbox.ID, storage.UIDSet{{Start: d1.UID, Stop: d1.UID}}, arch.ID, 0))(t)
	bump("move src", inbox.ID, hms)
	bump("move dst", arch.ID, ahms)
	msgs := must(st.Messages(ctx, arch.ID, storage.Query{}))(t)
	if len(msgs) != 2 || msgs[1].ModSeq <= msgs[0].ModSeq {
		t.Fatalf("modseqs of copies %+v", msgs)
	}
}

func testFlags(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	inbox := mailbox(t, st, a.ID, "INBOX")
	d1 := deliver(t, st, a.ID, "INBOX", "one", "b", `\seen`, "$Label1")
	d2 := deliver(t, st, a.ID, "INBOX", "two", "b")
	msgs := must(st.Messages(ctx, inbox.ID, storage.Query{}))(t)
	if !slices.Equal(msgs[0].Flags, []string{"$Label1", storage.FlagSeen}) || len(msgs[1].Flags) != 0 {
		t.Fatalf("flags %q %q", msgs[0].Flags, msgs[1].Flags)
	}
	all := storage.UIDSet{{Start: 1, Stop: 0}}
	store := func(op storage.FlagOp, since storage.ModSeq, flags ...string) storage.FlagResult {
		t.Helper()
		return must(st.StoreFlags(ctx, inbox.ID, storage.FlagUpdate{UIDs: all, Op: op, Flags: flags, UnchangedSince: since}))(t)
	}
	r := store(storage.FlagsAdd, 0, storage.FlagFlagged, "$label1")
	if len(r.Updated) != 2 || len(r.Modified) != 0 {
		t.Fatalf("add: %+v", r)
	}
	if !slices.Equal(r.Updated[0].Flags, []string{"$Label1", storage.FlagFlagged, storage.FlagSeen}) ||
		!slices.Equal(r.Updated[1].Flags, []string{"$label1", storage.FlagFlagged}) {
		t.Fatalf("add flags %q %q", r.Updated[0].Flags, r.Updated[1].Flags)
	}
	ms := r.Updated[0].ModSeq
	if r2 := store(storage.FlagsAdd, 0, storage.FlagFlagged); len(r2.Updated) != 0 {
		t.Fatalf("no-op store changed %+v", r2)
	}
	if m := mailbox(t, st, a.ID, "INBOX"); m.HighestModSeq != ms {
		t.Fatalf("no-op store moved HIGHESTMODSEQ %d -> %d", ms, m.HighestModSeq)
	}
	r = store(storage.FlagsRemove, 0, `\FLAGGED`, "$LABEL1")
	if len(r.Updated) != 2 || !slices.Equal(r.Updated[0].Flags, []string{storage.FlagSeen}) || len(r.Updated[1].Flags) != 0 {
		t.Fatalf("remove: %+v", r)
	}
	r = store(storage.FlagsReplace, 0, storage.FlagAnswered, "Work")
	if len(r.Updated) != 2 || !slices.Equal(r.Updated[1].Flags, []string{"Work", storage.FlagAnswered}) {
		t.Fatalf("replace: %+v", r)
	}
	cur := r.Updated[0].ModSeq
	// d2 changes alone; then a store UNCHANGEDSINCE cur skips it.
	must(st.StoreFlags(ctx, inbox.ID, storage.FlagUpdate{UIDs: storage.UIDSet{{Start: d2.UID, Stop: d2.UID}}, Op: storage.FlagsAdd, Flags: []string{storage.FlagDraft}}))(t)
	r = store(storage.FlagsAdd, cur, storage.FlagDeleted)
	if len(r.Updated) != 1 || r.Updated[0].UID != d1.UID || !slices.Equal(r.Modified, []storage.UID{d2.UID}) {
		t.Fatalf("unchangedsince: %+v", r)
	}
	msgs = must(st.Messages(ctx, inbox.ID, storage.Query{}))(t)
	if slices.Contains(msgs[1].Flags, storage.FlagDeleted) || !slices.Contains(msgs[0].Flags, storage.FlagDeleted) {
		t.Fatalf("flags after unchangedsince %q %q", msgs[0].Flags, msgs[1].Flags)
	}
	_, err := st.StoreFlags(ctx, inbox.ID, storage.FlagUpdate{Op: storage.FlagsAdd, Flags: []string{`\Bogus`}})
	wantErr(t, err, storage.ErrInvalid)
	_, err = st.StoreFlags(ctx, inbox.ID+1000, storage.FlagUpdate{Op: storage.FlagsAdd, Flags: []string{storage.FlagSeen}})
	wantErr(t, err, storage.ErrNoMailbox)
}

func testSharedBlob(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	var accts []storage.Account
	for _, n := range []string{"a", "b", "c"} {
		accts = append(accts, newAccount(t, st, n))
	}
	ref, p := put(t, st, "shared", "one copy for all")
	var targets []storage.Target
	for _, a := range accts {
		targets = append(targets, storage.Target{Account: a.ID})
	}
	targets = append(targets, storage.Target{Account: accts[0].ID, MailboxName: "Archive"})
	ds := must(st.Deliver(ctx, ref, p, targets))(t)
	for i, d := range ds {
		if d.Err != nil || d.UID == 0 {
			t.Fatalf("target %d: %+v", i, d)
		}
	}
	// Storing the same content again yields the same blob.
	raw := readBlob(t, st, ref.ID)
	ref2 := must(st.PutBlob(ctx, bytes.NewReader(raw)))(t)
	if ref2 != ref {
		t.Fatalf("same content stored as %+v and %+v", ref, ref2)
	}
	// Given up: the messages still hold the blob.
	if err := st.DiscardBlob(ctx, ref2.ID); err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		msgs := must(st.Messages(ctx, d.Mailbox, storage.Query{}))(t)
		if len(msgs) != 1 || msgs[0].Blob != ref.ID || msgs[0].Size != ref.Size {
			t.Fatalf("target %d messages %+v", i, msgs)
		}
		u := must(st.Usage(ctx, targets[i].Account))(t)
		if u.Bytes == 0 {
			t.Fatalf("usage of %d not counted", targets[i].Account)
		}
	}
	checkHealthy(t, st)
	// The blob lives as long as one message refers to it.
	for i, d := range ds {
		must(st.Expunge(ctx, d.Mailbox, []storage.UID{d.UID}))(t)
		_, err := st.OpenBlob(ctx, ref.ID)
		if i < len(ds)-1 && err != nil {
			t.Fatalf("blob gone after %d of %d expunges: %v", i+1, len(ds), err)
		}
		if i == len(ds)-1 {
			wantErr(t, err, storage.ErrNotFound)
		}
	}
	checkHealthy(t, st)
}

func readBlob(t *testing.T, st storage.Store, id storage.BlobID) []byte {
	t.Helper()
	b := must(st.OpenBlob(ctxT(t), id))(t)
	defer b.Close()
	data := must(io.ReadAll(b))(t)
	if int64(len(data)) != b.Size() {
		t.Fatalf("blob Size %d, read %d", b.Size(), len(data))
	}
	part := make([]byte, 4)
	if _, err := b.ReadAt(part, 2); err != nil || !bytes.Equal(part, data[2:6]) {
		t.Fatalf("ReadAt: %q %v", part, err)
	}
	return data
}

func testDeliverErrors(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	b := newAccount(t, st, "bob")
	bInbox := mailbox(t, st, b.ID, "INBOX")
	ref, p := put(t, st, "errors", "body")
	ds := must(st.Deliver(ctx, ref, p, []storage.Target{
		{Account: a.ID, MailboxName: "No Such Folder"},
		{Account: a.ID, Mailbox: bInbox.ID}, // another account's mailbox
		{Account: a.ID, MailboxName: "inbox", Flags: []string{storage.FlagSeen}},
	}))(t)
	wantErr(t, ds[0].Err, storage.ErrNoMailbox)
	wantErr(t, ds[1].Err, storage.ErrNoMailbox)
	noErr(t, ds[2].Err)
	msgs := must(st.Messages(ctx, ds[2].Mailbox, storage.Query{}))(t)
	if len(msgs) != 1 || msgs[0].UID != ds[2].UID || !slices.Equal(msgs[0].Flags, []string{storage.FlagSeen}) {
		t.Fatalf("delivered %+v", msgs)
	}
	if msgs[0].InternalDate.IsZero() {
		t.Fatal("zero internal date")
	}
	_, err := st.OpenBlob(ctx, "0000000000000000000000000000000000000000000000000000000000000000")
	wantErr(t, err, storage.ErrNotFound)
	_, err = st.OpenBlob(ctx, "../../etc/passwd")
	if err == nil {
		t.Fatal("OpenBlob accepted a path")
	}
	// A reference to content never stored fails the whole call.
	_, err = st.Deliver(ctx, storage.BlobRef{ID: "1111111111111111111111111111111111111111111111111111111111111111", Size: 4}, p,
		[]storage.Target{{Account: a.ID}})
	if err == nil {
		t.Fatal("Deliver of an unstored blob succeeded")
	}
	checkHealthy(t, st)
}

// testDeliverAll: several messages in one transaction, all or nothing
// (IMAP MULTIAPPEND).
func testDeliverAll(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	inbox := mailbox(t, st, a.ID, "INBOX")
	archive := mailbox(t, st, a.ID, "Archive")
	sub := st.Subscribe(a.ID)
	defer sub.Close()

	r1, p1 := put(t, st, "one", "first body")
	r2, p2 := put(t, st, "two", "second body")
	// The same content twice in one call: one blob row, two references.
	r3 := must(st.PutBlob(ctx, bytes.NewReader(readBlob(t, st, r1.ID))))(t)
	p3 := p1
	if r3 != r1 {
		t.Fatalf("same content stored as %+v and %+v", r1, r3)
	}
	out := must(st.DeliverAll(ctx, []storage.Delivery{
		{Ref: r1, Parsed: p1, Targets: []storage.Target{{Account: a.ID, Mailbox: inbox.ID, Flags: []string{storage.FlagSeen}}}},
		{Ref: r2, Parsed: p2, Targets: []storage.Target{{Account: a.ID, Mailbox: inbox.ID}, {Account: a.ID, Mailbox: archive.ID}}},
		{Ref: r3, Parsed: p3, Targets: []storage.Target{{Account: a.ID, Mailbox: inbox.ID}}},
	}))(t)
	if len(out) != 3 || len(out[0]) != 1 || len(out[1]) != 2 || len(out[2]) != 1 {
		t.Fatalf("DeliverAll outcomes %+v", out)
	}
	eqUIDs(t, "inbox", listUIDs(t, st, inbox.ID), out[0][0].UID, out[1][0].UID, out[2][0].UID)
	eqUIDs(t, "archive", listUIDs(t, st, archive.ID), out[1][1].UID)
	if out[0][0].UID+1 != out[1][0].UID || out[1][0].UID+1 != out[2][0].UID {
		t.Fatalf("UIDs not consecutive in order: %+v", out)
	}
	cs := waitChanges(t, sub, 4)
	for i, want := range []storage.UID{out[0][0].UID, out[1][0].UID, out[1][1].UID, out[2][0].UID} {
		if cs[i].Kind != storage.ChangeMessageAdded || cs[i].UID != want {
			t.Fatalf("change %d: %+v, want added UID %d", i, cs[i], want)
		}
	}
	if !slices.Equal(cs[0].Flags, []string{storage.FlagSeen}) {
		t.Fatalf("flags of the first change: %v", cs[0].Flags)
	}
	before := must(st.Usage(ctx, a.ID))(t)

	// Any refusal stores nothing, publishes nothing.
	r4, p4 := put(t, st, "four", "fourth")
	r5, p5 := put(t, st, "five", "fifth")
	refused := []struct {
		name string
		t5   storage.Target
		want error
	}{
		{"no mailbox", storage.Target{Account: a.ID, MailboxName: "No Such Folder"}, storage.ErrNoMailbox},
		{"bad flag", storage.Target{Account: a.ID, Mailbox: inbox.ID, Flags: []string{`\Bogus`}}, storage.ErrInvalid},
	}
	for _, tc := range refused {
		_, err := st.DeliverAll(ctx, []storage.Delivery{
			{Ref: r4, Parsed: p4, Targets: []storage.Target{{Account: a.ID, Mailbox: inbox.ID}}},
			{Ref: r5, Parsed: p5, Targets: []storage.Target{tc.t5}},
		})
		wantErr(t, err, tc.want)
		var de *storage.DeliveryError
		if !errors.As(err, &de) || de.Delivery != 1 || de.Target != 0 {
			t.Fatalf("%s: error %v, want a DeliveryError for delivery 1 target 0", tc.name, err)
		}
	}
	// Quota counts the messages of the call together: room for one more
	// message, not two.
	a.QuotaMessages = before.Messages + 1
	noErr(t, st.UpdateAccount(ctx, a))
	_, err := st.DeliverAll(ctx, []storage.Delivery{
		{Ref: r4, Parsed: p4, Targets: []storage.Target{{Account: a.ID, Mailbox: inbox.ID}}},
		{Ref: r5, Parsed: p5, Targets: []storage.Target{{Account: a.ID, Mailbox: archive.ID}}},
	})
	wantErr(t, err, storage.ErrOverQuota)
	eqUIDs(t, "inbox after refusals", listUIDs(t, st, inbox.ID), out[0][0].UID, out[1][0].UID, out[2][0].UID)
	eqUIDs(t, "archive after refusals", listUIDs(t, st, archive.ID), out[1][1].UID)
	if u := must(st.Usage(ctx, a.ID))(t); u != before {
		t.Fatalf("usage after refusals %+v, want %+v", u, before)
	}
	if cs := sub.Next(); len(cs) != 0 {
		t.Fatalf("refused DeliverAll published %+v", cs)
	}
	// UIDNEXT did not move: the next message takes the next UID.
	if mb := mailbox(t, st, a.ID, "INBOX"); mb.UIDNext != out[2][0].UID+1 {
		t.Fatalf("UIDNEXT %d after refusals, want %d", mb.UIDNext, out[2][0].UID+1)
	}
	noErr(t, st.DiscardBlob(ctx, r4.ID))
	noErr(t, st.DiscardBlob(ctx, r5.ID))
	// Nothing at all is fine.
	if out, err := st.DeliverAll(ctx, nil); err != nil || len(out) != 0 {
		t.Fatalf("empty DeliverAll: %v %v", out, err)
	}
	checkHealthy(t, st)
}

func testQuota(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	b := newAccount(t, st, "bob")
	r1, p1 := put(t, st, "q", "0123456789")
	a.QuotaBytes = 2*r1.Size + r1.Size/2
	noErr(t, st.UpdateAccount(ctx, a))
	b.QuotaMessages = 1
	noErr(t, st.UpdateAccount(ctx, b))
	both := func(ref storage.BlobRef, p *storage.Parsed) []storage.Delivered {
		return must(st.Deliver(ctx, ref, p, []storage.Target{{Account: a.ID}, {Account: b.ID}}))(t)
	}
	ds := both(r1, p1)
	noErr(t, ds[0].Err)
	noErr(t, ds[1].Err)
	r2, p2 := put(t, st, "q", "9876543210") // same size
	ds = both(r2, p2)
	noErr(t, ds[0].Err)
	wantErr(t, ds[1].Err, storage.ErrOverQuota) // bob: 1 message max
	r3, p3 := put(t, st, "q", "abcdefghij")
	ds = both(r3, p3)
	wantErr(t, ds[0].Err, storage.ErrOverQuota) // alice: bytes
	wantErr(t, ds[1].Err, storage.ErrOverQuota)
	ua := must(st.Usage(ctx, a.ID))(t)
	if ua.Messages != 2 || ua.Bytes != r1.Size+r2.Size {
		t.Fatalf("alice usage %+v", ua)
	}
	ub := must(st.Usage(ctx, b.ID))(t)
	if ub.Messages != 1 || ub.Bytes != r1.Size {
		t.Fatalf("bob usage %+v", ub)
	}
	// IgnoreQuota (bounces to the admin) passes.
	ds = must(st.Deliver(ctx, r3, p3, []storage.Target{{Account: a.ID, IgnoreQuota: true}}))(t)
	noErr(t, ds[0].Err)
	// Copy checks the destination quota.
	bInbox := mailbox(t, st, b.ID, "INBOX")
	_, err := st.Copy(ctx, bInbox.ID, nil, mailbox(t, st, b.ID, "Archive").ID, 0)
	wantErr(t, err, storage.ErrOverQuota)
	// Freeing space makes room again.
	must(st.Expunge(ctx, bInbox.ID, listUIDs(t, st, bInbox.ID)))(t)
	ds = must(st.Deliver(ctx, r3, p3, []storage.Target{{Account: b.ID}}))(t)
	noErr(t, ds[0].Err)
	checkHealthy(t, st)
}

func testExpungeVanished(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	inbox := mailbox(t, st, a.ID, "INBOX")
	for i := range 5 {
		deliver(t, st, a.ID, "INBOX", fmt.Sprint("m", i), "b")
	}
	ms := mailbox(t, st, a.ID, "INBOX").HighestModSeq
	got := must(st.Expunge(ctx, inbox.ID, []storage.UID{4, 2, 99}))(t)
	eqUIDs(t, "expunge", got, 2, 4)
	eqUIDs(t, "remaining", listUIDs(t, st, inbox.ID), 1, 3, 5)
	eqUIDs(t, "vanished", must(st.Vanished(ctx, inbox.ID, ms, nil))(t), 2, 4)
	eqUIDs(t, "vanished 3:*", must(st.Vanished(ctx, inbox.ID, ms, storage.UIDSet{{Start: 3, Stop: 0}}))(t), 4)
	eqUIDs(t, "vanished since 0", must(st.Vanished(ctx, inbox.ID, 0, nil))(t), 2, 4)
	ms2 := mailbox(t, st, a.ID, "INBOX").HighestModSeq
	if ms2 <= ms {
		t.Fatalf("expunge did not raise HIGHESTMODSEQ")
	}
	eqUIDs(t, "vanished since now", must(st.Vanished(ctx, inbox.ID, ms2, nil))(t))
	eqUIDs(t, "expunge again", must(st.Expunge(ctx, inbox.ID, []storage.UID{2}))(t))
	eqUIDs(t, "expunge none", must(st.Expunge(ctx, inbox.ID, nil))(t))
	if m := mailbox(t, st, a.ID, "INBOX"); m.HighestModSeq != ms2 {
		t.Fatalf("no-op expunge changed HIGHESTMODSEQ %d -> %d", ms2, m.HighestModSeq)
	}
	if u := must(st.Usage(ctx, a.ID))(t); u.Messages != 3 {
		t.Fatalf("usage %+v", u)
	}
	_, err := st.Vanished(ctx, inbox.ID+1000, 0, nil)
	wantErr(t, err, storage.ErrNoMailbox)
	checkHealthy(t, st)
}

func testCopyMove(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	inbox := mailbox(t, st, a.ID, "INBOX")
	arch := mailbox(t, st, a.ID, "Archive")
	trash := mailbox(t, st, a.ID, "Trash")
	deliver(t, st, a.ID, "INBOX", "one", "b", storage.FlagSeen, "$Work")
	deliver(t, st, a.ID, "INBOX", "two", "b")
	deliver(t, st, a.ID, "INBOX", "three", "b", storage.FlagAnswered)
	deliver(t, st, a.ID, "Archive", "old", "b")
	src := must(st.Messages(ctx, inbox.ID, storage.Query{}))(t)
	u0 := must(st.Usage(ctx, a.ID))(t)

	res := must(st.Copy(ctx, inbox.ID, storage.UIDSet{{Start: 1, Stop: 1}, {Start: 3, Stop: 3}}, arch.ID, 0))(t)
	if res.UIDValidity != arch.UIDValidity || !slices.Equal(res.Source, []storage.UID{1, 3}) || !slices.Equal(res.Dest, []storage.UID{2, 3}) {
		t.Fatalf("copy result %+v", res)
	}
	dst := must(st.Messages(ctx, arch.ID, storage.Query{UIDs: storage.UIDSet{{Start: 2, Stop: 0}}}))(t)
	for i, si := range []int{0, 2} {
		if !slices.Equal(dst[i].Flags, src[si].Flags) || !dst[i].InternalDate.Equal(src[si].InternalDate) || dst[i].Blob != src[si].Blob {
			t.Fatalf("copy %d: %+v, source %+v", i, dst[i], src[si])
		}
	}
	eqUIDs(t, "source after copy", listUIDs(t, st, inbox.ID), 1, 2, 3)
	u1 := must(st.Usage(ctx, a.ID))(t)
	if u1.Messages != u0.Messages+2 || u1.Bytes != u0.Bytes+src[0].Size+src[2].Size {
		t.Fatalf("usage after copy %+v, before %+v", u1, u0)
	}

	ms := mailbox(t, st, a.ID, "INBOX").HighestModSeq
	res = must(st.Move(ctx, inbox.ID, storage.UIDSet{{Start: 2, Stop: 0}}, trash.ID, 0))(t)
	if !slices.Equal(res.Source, []storage.UID{2, 3}) || !slices.Equal(res.Dest, []storage.UID{1, 2}) || res.UIDValidity != trash.UIDValidity {
		t.Fatalf("move result %+v", res)
	}
	eqUIDs(t, "source after move", listUIDs(t, st, inbox.ID), 1)
	eqUIDs(t, "vanished after move", must(st.Vanished(ctx, inbox.ID, ms, nil))(t), 2, 3)
	moved := must(st.Messages(ctx, trash.ID, storage.Query{}))(t)
	if len(moved) != 2 || !slices.Equal(moved[1].Flags, src[2].Flags) {
		t.Fatalf("moved %+v", moved)
	}
	if u := must(st.Usage(ctx, a.ID))(t); u != u1 {
		t.Fatalf("usage after move %+v, want %+v", u, u1)
	}
	// Nothing to copy: empty result, no error.
	res = must(st.Copy(ctx, inbox.ID, storage.UIDSet{{Start: 50, Stop: 60}}, arch.ID, 0))(t)
	if len(res.Source) != 0 {
		t.Fatalf("empty copy %+v", res)
	}
	_, err := st.Copy(ctx, inbox.ID, nil, arch.ID+1000, 0)
	wantErr(t, err, storage.ErrNoMailbox)
	// Move across accounts transfers usage.
	b := newAccount(t, st, "bob")
	must(st.Move(ctx, inbox.ID, nil, mailbox(t, st, b.ID, "INBOX").ID, 0))(t)
	if ub := must(st.Usage(ctx, b.ID))(t); ub.Messages != 1 || ub.Bytes != src[0].Size {
		t.Fatalf("bob usage %+v", ub)
	}
	checkHealthy(t, st)
}

func testMessagesQuery(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	inbox := mailbox(t, st, a.ID, "INBOX")
	var ds []storage.Delivered
	for i := range 6 {
		ds = append(ds, deliver(t, st, a.ID, "INBOX", fmt.Sprint("Subject ", i), "body"))
	}
	msgs := must(st.Messages(ctx, inbox.ID, storage.Query{}))(t)
	if len(msgs) != 6 {
		t.Fatalf("%d messages", len(msgs))
	}
	m := msgs[0]
	if m.Envelope != nil || m.Structure != nil || m.Header != nil || m.References != nil || m.Blob == "" || m.Size == 0 || m.Mailbox != inbox.ID {
		t.Fatalf("minimal fields %+v", m)
	}
	full := must(st.Messages(ctx, inbox.ID, storage.Query{UIDs: storage.UIDSet{{Start: 2, Stop: 2}},
		Fields: storage.FieldEnvelope | storage.FieldStructure | storage.FieldHeader | storage.FieldThreading}))(t)
	if len(full) != 1 {
		t.Fatalf("%d messages", len(full))
	}
	f := full[0]
	if f.Envelope == nil || f.Envelope.Subject != "Subject 1" || len(f.Envelope.From) != 1 || f.Envelope.From[0].Host != "remote.test" || f.Envelope.Date.IsZero() {
		t.Fatalf("envelope %+v", f.Envelope)
	}
	if f.Structure == nil || f.Structure.Type != "text" || f.Structure.Subtype != "plain" || f.Structure.Params["charset"] != "utf-8" || f.Structure.End != f.Size {
		t.Fatalf("structure %+v", f.Structure)
	}
	if !bytes.HasPrefix(f.Header, []byte("From: ")) || !slices.Equal(f.References, []string{"<parent@example.test>"}) || f.BaseSubject != "subject 1" {
		t.Fatalf("header %q refs %q base %q", f.Header, f.References, f.BaseSubject)
	}
	blob := readBlob(t, st, f.Blob)
	if !bytes.Equal(blob[:len(f.Header)], f.Header) {
		t.Fatal("header does not match blob")
	}
	set := storage.UIDSet{{Start: 1, Stop: 2}, {Start: 5, Stop: 0}}
	eqUIDs(t, "uid set", uidsOf(must(st.Messages(ctx, inbox.ID, storage.Query{UIDs: set}))(t)), 1, 2, 5, 6)
	r := must(st.StoreFlags(ctx, inbox.ID, storage.FlagUpdate{UIDs: storage.UIDSet{{Start: 3, Stop: 3}}, Op: storage.FlagsAdd, Flags: []string{storage.FlagSeen}}))(t)
	eqUIDs(t, "changed since", uidsOf(must(st.Messages(ctx, inbox.ID, storage.Query{ChangedSince: ds[5].ModSeq}))(t)), 3)
	eqUIDs(t, "changed since now", uidsOf(must(st.Messages(ctx, inbox.ID, storage.Query{ChangedSince: r.Updated[0].ModSeq}))(t)))
	// A large, fragmented set.
	var big storage.UIDSet
	for u := storage.UID(1); u < 400; u += 2 {
		big = append(big, storage.UIDRange{Start: u, Stop: u})
	}
	eqUIDs(t, "big set", uidsOf(must(st.Messages(ctx, inbox.ID, storage.Query{UIDs: big}))(t)), 1, 3, 5)
	_, err := st.Messages(ctx, inbox.ID+1000, storage.Query{})
	wantErr(t, err, storage.ErrNoMailbox)
}

func testSearchText(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	inbox := mailbox(t, st, a.ID, "INBOX")
	arch := mailbox(t, st, a.ID, "Archive")
	d1 := deliver(t, st, a.ID, "INBOX", "Quarterly report", "The numbers for the café are excellent.")
	d2 := deliver(t, st, a.ID, "INBOX", "Lunch", "Meet at the CAFE near the station, bring the report.")
	d3 := deliver(t, st, a.ID, "INBOX", "Holiday", "Nothing to see here. Zebras.")
	deliver(t, st, a.ID, "Archive", "Archived report", "zebras too")
	cases := []struct {
		field, q string
		want     []storage.UID
	}{
		{"", "report", []storage.UID{d1.UID, d2.UID}},
		{"", "REPORT", []storage.UID{d1.UID, d2.UID}},
		{"subject", "report", []storage.UID{d1.UID}},
		{"body", "report", []storage.UID{d2.UID}},
		{"body", "cafe", []storage.UID{d1.UID, d2.UID}}, // diacritics removed
		{"body", "café", []storage.UID{d1.UID, d2.UID}},
		// Substrings, case-insensitive (RFC 9051 6.4.4): inside words,
		// across words as one phrase, and short ones.
		{"", "zebra", []storage.UID{d3.UID}},
		{"", "EBRA", []storage.UID{d3.UID}},
		{"", "quarter", []storage.UID{d1.UID}},
		{"", "uarterl", []storage.UID{d1.UID}},
		{"body", "station, bring", []storage.UID{d2.UID}},
		{"", "report station", nil}, // words present, but not as this phrase
		{"body", "the report.", []storage.UID{d2.UID}},
		{"body", "ca", []storage.UID{d1.UID, d2.UID}}, // shorter than a trigram
		{"body", "ra", []storage.UID{d3.UID}},
		{"", "", []storage.UID{d1.UID, d2.UID, d3.UID}},
		{"", "nomatchword", nil},
		{"from", "sender@remote.test", []storage.UID{d1.UID, d2.UID, d3.UID}},
		{"to", "rcpt", []storage.UID{d1.UID, d2.UID, d3.UID}},
		{"from", "rcpt", nil},
		{"cc", "rcpt", nil},
		{"header", "holiday", []storage.UID{d3.UID}},
		{"", `"report" OR zebra*`, nil}, // FTS syntax is just text
		{"", `NEAR(report) AND -x ^ {subject}:`, nil},
		{"subject", `(lunch`, nil},
		{"subject", `unc`, []storage.UID{d2.UID}},
	}
	for _, c := range cases {
		got, err := st.SearchText(ctx, inbox.ID, c.field, c.q)
		if err != nil {
			t.Fatalf("SearchText(%q, %q): %v", c.field, c.q, err)
		}
		eqUIDs(t, fmt.Sprintf("SearchText(%q, %q)", c.field, c.q), got, c.want...)
	}
	eqUIDs(t, "archive", must(st.SearchText(ctx, arch.ID, "", "zebras"))(t), 1)
	must(st.Expunge(ctx, inbox.ID, []storage.UID{d3.UID}))(t)
	eqUIDs(t, "after expunge", must(st.SearchText(ctx, inbox.ID, "", "zebras"))(t))
	must(st.Copy(ctx, arch.ID, nil, inbox.ID, 0))(t)
	if got := must(st.SearchText(ctx, inbox.ID, "", "zebras"))(t); len(got) != 1 {
		t.Fatalf("copied message not found: %v", got)
	}
	_, err := st.SearchText(ctx, inbox.ID, "nosuchfield", "x")
	wantErr(t, err, storage.ErrInvalid)
	_, err = st.SearchText(ctx, inbox.ID+1000, "", "x")
	wantErr(t, err, storage.ErrNoMailbox)
}

func testChanges(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	b := newAccount(t, st, "bob")
	s1, s2, sb := st.Subscribe(a.ID), st.Subscribe(a.ID), st.Subscribe(b.ID)
	closed := st.Subscribe(a.ID)
	closed.Close()
	defer s1.Close()
	defer s2.Close()
	defer sb.Close()
	inbox := mailbox(t, st, a.ID, "INBOX")

	d := deliver(t, st, a.ID, "INBOX", "hello", "b", storage.FlagDraft)
	r := must(st.StoreFlags(ctx, inbox.ID, storage.FlagUpdate{UIDs: storage.UIDSet{{Start: d.UID, Stop: d.UID}}, Op: storage.FlagsAdd, Flags: []string{storage.FlagSeen}}))(t)
	must(st.Expunge(ctx, inbox.ID, []storage.UID{d.UID}))(t)
	work := must(st.CreateMailbox(ctx, a.ID, "Work", ""))(t)
	noErr(t, st.RenameMailbox(ctx, work.ID, "Play"))
	noErr(t, st.SetSubscribed(ctx, work.ID, true))
	noErr(t, st.DeleteMailbox(ctx, work.ID))
	db := deliver(t, st, b.ID, "INBOX", "for bob", "b")

	for i, sub := range []storage.Subscription{s1, s2} {
		got := waitChanges(t, sub, 7)
		want := []storage.ChangeKind{storage.ChangeMessageAdded, storage.ChangeFlags, storage.ChangeExpunged,
			storage.ChangeMailboxCreated, storage.ChangeMailboxRenamed, storage.ChangeMailboxSubscribed, storage.ChangeMailboxDeleted}
		for j, c := range got {
			if c.Kind != want[j] || c.Account != a.ID {
				t.Fatalf("sub %d change %d: %+v, want kind %d", i, j, c, want[j])
			}
		}
		if got[0].UID != d.UID || got[0].Mailbox != inbox.ID || got[0].ModSeq != d.ModSeq || !slices.Equal(got[0].Flags, []string{storage.FlagDraft}) {
			t.Fatalf("added %+v", got[0])
		}
		if got[1].UID != d.UID || got[1].ModSeq != r.Updated[0].ModSeq || !slices.Equal(got[1].Flags, []string{storage.FlagDraft, storage.FlagSeen}) {
			t.Fatalf("flags %+v", got[1])
		}
		if got[2].UID != d.UID || got[2].ModSeq <= got[1].ModSeq {
			t.Fatalf("expunged %+v", got[2])
		}
		if got[3].Name != "Work" || got[4].Name != "Play" || got[4].OldName != "Work" || got[4].Mailbox != work.ID {
			t.Fatalf("mailbox events %+v %+v", got[3], got[4])
		}
	}
	gb := waitChanges(t, sb, 1)
	if gb[0].Account != b.ID || gb[0].UID != db.UID || gb[0].Kind != storage.ChangeMessageAdded {
		t.Fatalf("bob's change %+v", gb[0])
	}
	if c := closed.Next(); len(c) != 0 {
		t.Fatalf("closed subscription got %+v", c)
	}
	select {
	case <-closed.Ready():
		t.Fatal("closed subscription signalled")
	default:
	}

	// Concurrent writers: each subscriber sees every change once, in one
	// order shared by all subscribers, with modseqs increasing per mailbox.
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ref, p, err := putE(ctx, st, fmt.Sprint("c", i), "b")
			if err == nil {
				var ds []storage.Delivered
				ds, err = st.Deliver(ctx, ref, p, []storage.Target{{Account: a.ID}})
				if err == nil {
					err = ds[0].Err
				}
			}
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	g1, g2 := waitChanges(t, s1, n), waitChanges(t, s2, n)
	for i := range g1 {
		if g1[i].UID != g2[i].UID || g1[i].ModSeq != g2[i].ModSeq {
			t.Fatalf("subscribers disagree at %d: %+v vs %+v", i, g1[i], g2[i])
		}
		if i > 0 && (g1[i].ModSeq <= g1[i-1].ModSeq || g1[i].UID <= g1[i-1].UID) {
			t.Fatalf("out of commit order at %d: %+v after %+v", i, g1[i], g1[i-1])
		}
	}
	if c := sb.Next(); len(c) != 0 {
		t.Fatalf("bob saw alice's changes: %+v", c)
	}
}

func testConcurrent(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	b := newAccount(t, st, "bob")
	const workers, each = 10, 20
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		uidA = map[storage.UID]bool{}
		uidB = map[storage.UID]bool{}
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				ref, p, err := putE(ctx, st, fmt.Sprintf("w%d-%d", w, i), "concurrent body")
				if err != nil {
					t.Error(err)
					return
				}
				targets := []storage.Target{{Account: a.ID}}
				if i%2 == 0 {
					targets = append(targets, storage.Target{Account: b.ID})
				}
				ds, err := st.Deliver(ctx, ref, p, targets)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for j, d := range ds {
					m := uidA
					if j == 1 {
						m = uidB
					}
					if d.Err != nil || m[d.UID] {
						t.Errorf("delivery %+v (duplicate: %v)", d, m[d.UID])
					}
					m[d.UID] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	msgs := must(st.Messages(ctx, mailbox(t, st, a.ID, "INBOX").ID, storage.Query{Fields: storage.FieldEnvelope}))(t)
	if len(msgs) != workers*each || len(uidA) != workers*each {
		t.Fatalf("%d messages, %d UIDs, want %d", len(msgs), len(uidA), workers*each)
	}
	subjects := map[string]bool{}
	for _, m := range msgs {
		if !uidA[m.UID] || subjects[m.Envelope.Subject] {
			t.Fatalf("unexpected or duplicate message %d %q", m.UID, m.Envelope.Subject)
		}
		subjects[m.Envelope.Subject] = true
	}
	if n := len(listUIDs(t, st, mailbox(t, st, b.ID, "INBOX").ID)); n != workers*each/2 || len(uidB) != n {
		t.Fatalf("bob has %d messages, want %d", n, workers*each/2)
	}
	if u := must(st.Usage(ctx, a.ID))(t); u.Messages != workers*each {
		t.Fatalf("usage %+v", u)
	}
	checkHealthy(t, st)
}

func testCheck(t *testing.T, st storage.Store) {
	ch, ok := st.(storage.Checker)
	if !ok {
		t.Skip("store does not implement storage.Checker")
	}
	a := newAccount(t, st, "alice")
	d1 := deliver(t, st, a.ID, "INBOX", "one", "first body")
	deliver(t, st, a.ID, "INBOX", "two", "second body")
	checkHealthy(t, st)
	dmg, ok := st.(BlobDamager)
	if !ok {
		t.Skip("store does not implement storagetest.BlobDamager")
	}
	msgs := must(st.Messages(ctxT(t), d1.Mailbox, storage.Query{}))(t)
	noErr(t, dmg.DamageBlob(msgs[0].Blob, false))
	noErr(t, dmg.DamageBlob(msgs[1].Blob, true))
	probs := must(ch.Check(ctxT(t)))(t)
	var corrupt, missing bool
	for _, p := range probs {
		corrupt = corrupt || strings.Contains(p, string(msgs[0].Blob))
		missing = missing || strings.Contains(p, string(msgs[1].Blob))
	}
	if !corrupt || !missing {
		t.Fatalf("Check did not report the corrupt (%v) and missing (%v) blobs: %q", corrupt, missing, probs)
	}
}

func testClose(t *testing.T, st storage.Store) {
	a := newAccount(t, st, "alice")
	noErr(t, st.Close())
	_, err := st.CreateMailbox(ctxT(t), a.ID, "After", "")
	wantErr(t, err, storage.ErrClosed)
	noErr(t, st.Close())
}

// testMetadata covers RFC 5464 entries: private per account, shared per
// mailbox, depth, limits, removal with the mailbox and the account.
func testMetadata(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "alice")
	b := newAccount(t, st, "bob")
	work := must(st.CreateMailbox(ctx, a.ID, "Work", ""))(t)
	names := func(es []storage.MetadataEntry) string {
		var out []string
		for _, e := range es {
			out = append(out, fmt.Sprintf("%s=%s/%d", e.Name, e.Value, e.Owner))
		}
		return strings.Join(out, " ")
	}
	get := func(acct storage.AccountID, mbox storage.MailboxID, depth int, prefixes ...string) string {
		t.Helper()
		return names(must(st.GetMetadata(ctx, acct, mbox, prefixes, depth))(t))
	}

	noErr(t, st.SetMetadata(ctx, a.ID, work.ID, []storage.MetadataEntry{
		{Name: "/shared/vendor/kolab/folder-type", Value: []byte("event")},
		{Name: "/private/Comment", Value: []byte("mine")},
		{Name: "/shared/comment", Value: []byte("ours")},
		{Name: "/private/vendor/x/deep/er", Value: []byte{}},
	}))
	if got, want := get(a.ID, work.ID, 0, "/shared/vendor/kolab/folder-type"), "/shared/vendor/kolab/folder-type=event/0"; got != want {
		t.Errorf("depth 0: %q, want %q", got, want)
	}
	if got, want := get(a.ID, work.ID, 0, "/PRIVATE/comment", "/shared/comment", "/shared/none"), fmt.Sprintf("/private/comment=mine/%d /shared/comment=ours/0", a.ID); got != want {
		t.Errorf("several: %q, want %q", got, want)
	}
	if got, want := get(a.ID, work.ID, 1, "/shared"), "/shared/comment=ours/0"; got != want {
		t.Errorf("depth 1: %q, want %q", got, want)
	}
	if got, want := get(a.ID, work.ID, -1, "/shared"), "/shared/comment=ours/0 /shared/vendor/kolab/folder-type=event/0"; got != want {
		t.Errorf("depth infinity: %q, want %q", got, want)
	}
	if got, want := get(a.ID, work.ID, -1, "/private/vendor"), fmt.Sprintf("/private/vendor/x/deep/er=/%d", a.ID); got != want {
		t.Errorf("empty value: %q, want %q", got, want)
	}
	// Non-ASCII entry names below a prefix.
	noErr(t, st.SetMetadata(ctx, a.ID, work.ID, []storage.MetadataEntry{{Name: "/private/vendor/ü/a", Value: []byte("1")}}))
	if got, want := get(a.ID, work.ID, 1, "/private/vendor/ü"), fmt.Sprintf("/private/vendor/ü/a=1/%d", a.ID); got != want {
		t.Errorf("non-ASCII: %q, want %q", got, want)
	}
	noErr(t, st.SetMetadata(ctx, a.ID, work.ID, []storage.MetadataEntry{{Name: "/private/vendor/ü/a"}}))
	// Private entries are per acting account; shared ones per mailbox.
	if got, want := get(b.ID, work.ID, -1, "/private", "/shared/comment"), "/shared/comment=ours/0"; got != want {
		t.Errorf("other account sees %q, want %q", got, want)
	}
	// Server entries (mailbox 0) are separate from mailbox entries.
	noErr(t, st.SetMetadata(ctx, a.ID, 0, []storage.MetadataEntry{{Name: "/private/comment", Value: []byte("server")}}))
	if got, want := get(a.ID, 0, -1, "/private", "/shared"), fmt.Sprintf("/private/comment=server/%d", a.ID); got != want {
		t.Errorf("server entries: %q, want %q", got, want)
	}
	if got := get(b.ID, 0, -1, "/private", "/shared"); got != "" {
		t.Errorf("bob sees alice's server entries: %q", got)
	}
	// Replace and delete; each entry set is published (ChangeMetadata).
	sub := st.Subscribe(a.ID)
	defer sub.Close()
	noErr(t, st.SetMetadata(ctx, a.ID, work.ID, []storage.MetadataEntry{
		{Name: "/shared/comment", Value: []byte("changed")},
		{Name: "/private/comment", Value: nil},
	}))
	noErr(t, st.SetMetadata(ctx, a.ID, 0, []storage.MetadataEntry{{Name: "/shared/Admin", Value: []byte("x")}}))
	cs := waitChanges(t, sub, 3)
	for i, want := range []storage.Change{
		{Kind: storage.ChangeMetadata, Account: a.ID, Mailbox: work.ID, Name: "/shared/comment"},
		{Kind: storage.ChangeMetadata, Account: a.ID, Mailbox: work.ID, Name: "/private/comment"},
		{Kind: storage.ChangeMetadata, Account: a.ID, Mailbox: 0, Name: "/shared/admin"},
	} {
		if c := cs[i]; c.Kind != want.Kind || c.Account != want.Account || c.Mailbox != want.Mailbox || c.Name != want.Name {
			t.Errorf("change %d: %+v, want %+v", i, c, want)
		}
	}
	if got, want := get(a.ID, work.ID, 0, "/shared/comment", "/private/comment"), "/shared/comment=changed/0"; got != want {
		t.Errorf("after update: %q, want %q", got, want)
	}
	// Bad names.
	for _, bad := range []string{"/comment", "/private", "/shared/", "/shared//x", "/shared/a*", "shared/x", "/private/%"} {
		wantErr(t, st.SetMetadata(ctx, a.ID, work.ID, []storage.MetadataEntry{{Name: bad, Value: []byte("x")}}), storage.ErrInvalid)
	}
	_, err := st.GetMetadata(ctx, a.ID, work.ID, []string{"/other"}, 0)
	wantErr(t, err, storage.ErrInvalid)
	// Limits: nothing is changed when one entry fails.
	big := make([]byte, storage.MaxMetadataValue+1)
	wantErr(t, st.SetMetadata(ctx, a.ID, work.ID, []storage.MetadataEntry{{Name: "/shared/a", Value: []byte("a")}, {Name: "/shared/big", Value: big}}), storage.ErrOverQuota)
	var many []storage.MetadataEntry
	for i := range storage.MaxMetadataEntries {
		many = append(many, storage.MetadataEntry{Name: fmt.Sprintf("/shared/n%d", i), Value: []byte("v")})
	}
	wantErr(t, st.SetMetadata(ctx, a.ID, work.ID, many), storage.ErrOverQuota)
	if got := get(a.ID, work.ID, 0, "/shared/a", "/shared/n0"); got != "" {
		t.Errorf("failed SetMetadata left %q", got)
	}
	if cs := sub.Next(); len(cs) != 0 {
		t.Errorf("failed SetMetadata published %+v", cs)
	}
	// Unknown mailbox.
	wantErr(t, st.SetMetadata(ctx, a.ID, work.ID+1000, []storage.MetadataEntry{{Name: "/shared/x", Value: []byte("x")}}), storage.ErrNoMailbox)
	_, err = st.GetMetadata(ctx, a.ID, work.ID+1000, []string{"/shared"}, -1)
	wantErr(t, err, storage.ErrNoMailbox)
	// Rename keeps the entries; delete removes them (a new mailbox of the
	// same name starts empty).
	noErr(t, st.RenameMailbox(ctx, work.ID, "Job"))
	if got := get(a.ID, work.ID, 0, "/shared/comment"); got != "/shared/comment=changed/0" {
		t.Errorf("after rename: %q", got)
	}
	noErr(t, st.DeleteMailbox(ctx, work.ID))
	again := must(st.CreateMailbox(ctx, a.ID, "Job", ""))(t)
	if got := get(a.ID, again.ID, -1, "/shared", "/private"); got != "" {
		t.Errorf("recreated mailbox has %q", got)
	}
	// Deleting the account removes its entries.
	noErr(t, st.SetMetadata(ctx, b.ID, 0, []storage.MetadataEntry{{Name: "/shared/x", Value: []byte("x")}}))
	noErr(t, st.DeleteAccount(ctx, b.Address))
	_, err = st.GetMetadata(ctx, b.ID, 0, []string{"/shared"}, -1)
	wantErr(t, err, storage.ErrNoAccount)
	checkHealthy(t, st)
}

// testDiscardBlob: a spooled blob nothing references can be discarded; one
// a message or a queue entry references survives DiscardBlob.
func testDiscardBlob(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "discard")
	spooled, _ := put(t, st, "refused", "never delivered")
	noErr(t, st.DiscardBlob(ctx, spooled.ID))
	if b, err := st.OpenBlob(ctx, spooled.ID); err == nil {
		b.Close()
		t.Fatal("discarded blob still readable")
	}
	ref, p := put(t, st, "kept", "delivered")
	ds := must(st.Deliver(ctx, ref, p, []storage.Target{{Account: a.ID}}))(t)
	noErr(t, ds[0].Err)
	noErr(t, st.DiscardBlob(ctx, ref.ID))
	b := must(st.OpenBlob(ctx, ref.ID))(t)
	b.Close()

	// A blob only an outbound queue entry references survives too (SMTP
	// queues for remote recipients before it delivers locally, and a
	// failed local delivery discards what it spooled).
	queued, _ := put(t, st, "queued only", "to the world")
	qid := must(st.Enqueue(ctx, storage.QueueEntry{Blob: queued.ID, Size: queued.Size,
		Recipients: []storage.QueueRecipient{{Address: "x@remote.test"}}}))(t)
	noErr(t, st.DiscardBlob(ctx, queued.ID))
	b = must(st.OpenBlob(ctx, queued.ID))(t)
	b.Close()
	noErr(t, st.DeleteQueueEntry(ctx, qid))

	wantErr(t, st.DiscardBlob(ctx, "not-a-blob-id"), storage.ErrInvalid)
}

// testOrphans (storage.OrphanRemover): a spooled blob nothing references is
// an orphan once old enough and RemoveOrphans deletes it; blobs a message
// or a queue entry references are never orphans.
func testOrphans(t *testing.T, st storage.Store) {
	or, ok := st.(storage.OrphanRemover)
	if !ok {
		t.Skip("store does not implement storage.OrphanRemover")
	}
	ctx := ctxT(t)
	a := newAccount(t, st, "orphans")
	spooled, _ := put(t, st, "spooled", "never delivered")
	delivered := deliver(t, st, a.ID, "INBOX", "delivered", "kept")
	msgs := must(st.Messages(ctx, delivered.Mailbox, storage.Query{}))(t)
	queued, _ := put(t, st, "queued", "to the world")
	must(st.Enqueue(ctx, storage.QueueEntry{Blob: queued.ID, Size: queued.Size,
		Recipients: []storage.QueueRecipient{{Address: "x@remote.test"}}}))(t)

	// Young blobs are spared.
	if got := must(or.Orphans(ctx, time.Hour))(t); len(got) != 0 {
		t.Fatalf("Orphans(1h) = %+v, want none", got)
	}
	if n := must(or.RemoveOrphans(ctx, time.Hour))(t); n != 0 {
		t.Fatalf("RemoveOrphans(1h) removed %d", n)
	}
	time.Sleep(10 * time.Millisecond) // a minimum age of 1ms must have passed
	got := must(or.Orphans(ctx, time.Millisecond))(t)
	if len(got) != 1 || got[0].ID != spooled.ID || got[0].Size != spooled.Size || got[0].ModTime.IsZero() {
		t.Fatalf("Orphans = %+v, want only %s (messages use %s, the queue %s)", got, spooled.ID, msgs[0].Blob, queued.ID)
	}
	if n := must(or.RemoveOrphans(ctx, time.Millisecond))(t); n != 1 {
		t.Fatalf("RemoveOrphans removed %d, want 1", n)
	}
	if b, err := st.OpenBlob(ctx, spooled.ID); err == nil {
		b.Close()
		t.Fatal("orphan still readable after RemoveOrphans")
	}
	for _, id := range []storage.BlobID{msgs[0].Blob, queued.ID} {
		b := must(st.OpenBlob(ctx, id))(t)
		b.Close()
	}
	checkHealthy(t, st)
}

// testLostSubscriptions: deleting a subscribed mailbox keeps the name
// subscribed (RFC 9051 6.3.7); a mailbox created again under it is
// subscribed; unsubscribing drops the name; deleting the account drops
// what is left.
func testLostSubscriptions(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "sub")
	keep := must(st.CreateMailbox(ctx, a.ID, "Keep", ""))(t)
	gone := must(st.CreateMailbox(ctx, a.ID, "Gone", ""))(t)
	plain := must(st.CreateMailbox(ctx, a.ID, "Plain", ""))(t)
	for _, m := range []storage.Mailbox{keep, gone} {
		if err := st.SetSubscribed(ctx, m.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []storage.Mailbox{gone, plain} {
		if err := st.DeleteMailbox(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	subs := must(st.Subscriptions(ctx, a.ID))(t)
	if !slices.Contains(subs, "Gone") || slices.Contains(subs, "Plain") || !slices.Contains(subs, "Keep") {
		t.Fatalf("subscriptions %q, want Gone and Keep, not Plain", subs)
	}
	again := must(st.CreateMailbox(ctx, a.ID, "Gone", ""))(t)
	if !again.Subscribed || !must(st.Mailbox(ctx, a.ID, "Gone"))(t).Subscribed {
		t.Fatal("mailbox created again under a subscribed name is not subscribed")
	}
	if err := st.DeleteMailbox(ctx, again.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.SetSubscription(ctx, a.ID, "Gone", false); err != nil {
		t.Fatal(err)
	}
	if err := st.SetSubscription(ctx, a.ID, "Never", false); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(must(st.Subscriptions(ctx, a.ID))(t), "Gone") {
		t.Fatal("unsubscribed name still subscribed")
	}
	if err := st.DeleteMailbox(ctx, keep.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteAccount(ctx, a.Address); err != nil {
		t.Fatalf("delete account with a lost subscription: %v", err)
	}
	if got := must(st.Subscriptions(ctx, a.ID))(t); len(got) != 0 {
		t.Fatalf("subscriptions of a deleted account: %q", got)
	}
}
