package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
)

// testRules: account rule documents and the responder's once-per-sender
// state (storage.Rules).
func testRules(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "rules")
	b := newAccount(t, st, "rules2")
	// RulesVersion: changes with every change of a document, never goes
	// back, stays put otherwise.
	version := must(st.RulesVersion(ctx))(t)
	changed := func(what string) {
		t.Helper()
		v := must(st.RulesVersion(ctx))(t)
		if v <= version {
			t.Fatalf("RulesVersion %d after %s, was %d", v, what, version)
		}
		version = v
	}
	unchanged := func(what string) {
		t.Helper()
		if v := must(st.RulesVersion(ctx))(t); v != version {
			t.Fatalf("RulesVersion %d after %s, was %d", v, what, version)
		}
	}
	unchanged("nothing")
	if _, err := st.AccountRules(ctx, a.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("no document: %v, want ErrNotFound", err)
	}
	doc := []byte(`{"rules":[]}`)
	noErr(t, st.SetAccountRules(ctx, a.ID, doc))
	changed("a document set")
	if got := must(st.AccountRules(ctx, a.ID))(t); string(got) != string(doc) {
		t.Fatalf("document %q", got)
	}
	unchanged("reading a document")
	noErr(t, st.SetAccountRules(ctx, a.ID, []byte(`{"forwarder":{"to":["x@y.test"]}}`)))
	changed("a document replaced")
	if got := must(st.AccountRules(ctx, a.ID))(t); string(got) != `{"forwarder":{"to":["x@y.test"]}}` {
		t.Fatalf("replaced document %q", got)
	}
	noErr(t, st.SetAccountRules(ctx, a.ID, []byte(`{"forwarder":{"to":["x@y.test"]}}`)))
	changed("a document replaced by the same")
	if _, err := st.AccountRules(ctx, b.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("other account sees a document: %v", err)
	}
	wantErr(t, st.SetAccountRules(ctx, 999999, doc), storage.ErrNoAccount)
	unchanged("a refused document")
	noErr(t, st.SetAccountRules(ctx, a.ID, nil))
	changed("a document removed")
	if _, err := st.AccountRules(ctx, a.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted document: %v", err)
	}

	// Responder state: once per sender, case-insensitive, per account.
	t0 := time.Date(2018, 6, 18, 12, 0, 0, 0, time.UTC)
	mark := func(acct storage.AccountID, sender string, now, since time.Time) bool {
		t.Helper()
		return must(st.ResponderMark(ctx, acct, sender, now, since))(t)
	}
	if !mark(a.ID, "Anna@Customer.test", t0, time.Time{}) {
		t.Fatal("first answer refused")
	}
	if mark(a.ID, "anna@customer.test", t0.Add(time.Hour), time.Time{}) {
		t.Fatal("answered twice in once mode")
	}
	if !mark(b.ID, "anna@customer.test", t0, time.Time{}) {
		t.Fatal("state shared between accounts")
	}
	// Again after a period: refused while the last answer is after since.
	if mark(a.ID, "anna@customer.test", t0.Add(24*time.Hour), t0.Add(-48*time.Hour)) {
		t.Fatal("answered again within the period")
	}
	if !mark(a.ID, "anna@customer.test", t0.Add(72*time.Hour), t0.Add(48*time.Hour)) {
		t.Fatal("not answered again after the period")
	}
	if mark(a.ID, "anna@customer.test", t0.Add(73*time.Hour), t0.Add(49*time.Hour)) {
		t.Fatal("the second answer was not recorded")
	}
	noErr(t, st.ResponderReset(ctx, a.ID))
	if !mark(a.ID, "anna@customer.test", t0, time.Time{}) {
		t.Fatal("reset kept the state")
	}
	// Deleting the account removes its document and state.
	noErr(t, st.SetAccountRules(ctx, b.ID, doc))
	changed("a document set")
	noErr(t, st.DeleteAccount(ctx, b.Address))
	changed("an account with a document removed")
	c := newAccount(t, st, "rules2")
	if _, err := st.AccountRules(ctx, c.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("document survived its account: %v", err)
	}
}

// testQuarantine: held messages keep their blob until deleted.
func testQuarantine(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	a := newAccount(t, st, "quarantine")
	if es := must(st.QuarantineEntries(ctx))(t); len(es) != 0 {
		t.Fatalf("entries in a new store: %v", es)
	}
	ref, _ := put(t, st, "held", "suspicious")
	id := must(st.Quarantine(ctx, storage.QuarantineEntry{Blob: ref.ID, Size: ref.Size,
		From: "x@remote.test", Recipient: "quarantine+tag@example.test", Account: a.ID, Reason: "exe attachment"}))(t)
	ref2, _ := put(t, st, "held 2", "also")
	id2 := must(st.Quarantine(ctx, storage.QuarantineEntry{Blob: ref2.ID, Recipient: "q@example.test"}))(t)
	es := must(st.QuarantineEntries(ctx))(t)
	if len(es) != 2 || es[0].ID != id || es[1].ID != id2 {
		t.Fatalf("entries %+v", es)
	}
	e := must(st.QuarantineEntry(ctx, id))(t)
	if e.Blob != ref.ID || e.Size != ref.Size || e.From != "x@remote.test" || e.Recipient != "quarantine+tag@example.test" ||
		e.Account != a.ID || e.Reason != "exe attachment" || e.Created.IsZero() {
		t.Fatalf("entry %+v", e)
	}
	if e2 := must(st.QuarantineEntry(ctx, id2))(t); e2.Size != ref2.Size {
		t.Fatalf("size not filled: %+v", e2)
	}
	// The entry holds the blob: DiscardBlob leaves it.
	noErr(t, st.DiscardBlob(ctx, ref.ID))
	b := must(st.OpenBlob(ctx, ref.ID))(t)
	b.Close()
	noErr(t, st.DeleteQuarantineEntry(ctx, id))
	if _, err := st.QuarantineEntry(ctx, id); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deleted entry: %v", err)
	}
	wantErr(t, st.DeleteQuarantineEntry(ctx, id), storage.ErrNotFound)
	if b, err := st.OpenBlob(ctx, ref.ID); err == nil {
		b.Close()
		t.Fatal("blob of a deleted entry kept")
	}
	if _, err := st.Quarantine(ctx, storage.QuarantineEntry{Blob: "0000000000000000000000000000000000000000000000000000000000000000"}); err == nil {
		t.Fatal("quarantined a blob that is not stored")
	}
	noErr(t, st.DeleteQuarantineEntry(ctx, id2))
}
