package delivery

import (
	"context"
	"strings"
	"testing"

	"github.com/floemail/floe/rules"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/server/metrics"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

// deliverTo delivers body to the addresses (resolved) and fails the test
// unless every recipient took it.
func (f *fixture) deliverTo(t *testing.T, body string, to ...string) {
	t.Helper()
	ctx := context.Background()
	var rcpts []Recipient
	for _, a := range to {
		r, err := f.d.Resolve(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		rcpts = append(rcpts, r)
	}
	res, err := f.d.Deliver(ctx, &Message{Blob: putBlob(t, f.store, body), From: "x@remote.test", Recipients: rcpts})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("%s: %v", r.Recipient.Address, r.Err)
		}
	}
}

func (f *fixture) setRules(t *testing.T, address, doc string) {
	t.Helper()
	if _, err := CompileDocument([]byte(doc)); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetAccountRules(context.Background(), f.ids[address], []byte(doc)); err != nil {
		t.Fatal(err)
	}
}

// count returns the number of messages in an account's folder (-1 when
// the folder does not exist).
func (f *fixture) count(t *testing.T, address, folder string) int {
	t.Helper()
	ctx := context.Background()
	mb, err := f.store.Mailbox(ctx, f.ids[address], folder)
	if err != nil {
		return -1
	}
	msgs, err := f.store.Messages(ctx, mb.ID, storage.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}

// TestDeliveredMetric: floe_messages_delivered_total counts every message
// stored, once, also when a recipient's rules rewrite it (a header edit:
// the copy stored is the recipient's own).
func TestDeliveredMetric(t *testing.T) {
	f := newFixture(t)
	m := metrics.New()
	cfg := config.Development()
	f.d = New(Options{Store: f.store, Config: func() *config.Config { return cfg }, Metrics: m})
	f.setRules(t, "alice@example.test", `[[rules]]
conditions = [{ if = "all" }]
actions = [{ do = "add_header", header = "X-Seen-By", value = "rules" }]`)
	f.deliverTo(t, testMessage, "bob@example.test")                           // as received
	f.deliverTo(t, testMessage+"2", "alice@example.test")                     // rewritten
	f.deliverTo(t, testMessage+"3", "alice@example.test", "bob@example.test") // both: one message
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := -1.0
	for _, fam := range fams {
		if fam.GetName() == "floe_messages_delivered_total" {
			got = fam.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if got != 3 {
		t.Errorf("floe_messages_delivered_total = %v, want 3", got)
	}
}

// TestRuleFoldersBounded: folders a rule creates count against [limits]
// max_mailboxes_per_account like IMAP CREATE; beyond it, and for a name
// the store refuses, the message goes to INBOX instead (stored, never
// deferred).
func TestRuleFoldersBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	boxes, err := f.store.Mailboxes(ctx, f.ids["alice@example.test"])
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Development()
	cfg.Limits.MaxMailboxesPerAccount = len(boxes) + 2
	f.d = New(Options{Store: f.store, Config: func() *config.Config { return cfg }})
	f.setRules(t, "alice@example.test", `[[rules]]
conditions = [{ if = "recipient", contains = "+" }]
actions = [{ do = "move", folder = "%%Extension%%" }]
[[rules]]
conditions = [{ if = "recipient", contains = "+" }]
actions = [{ do = "copy", folder = "Copies/%%Extension%%" }, { do = "add_header", header = "X-Rule", value = "1" }]`)
	// Room for two more folders: "one", then "two"; "Copies/one" needs two
	// (Copies and Copies/one) and never fits; "three" comes too late.
	f.deliverTo(t, testMessage, "alice+one@example.test")
	f.deliverTo(t, testMessage+"2", "alice+two@example.test")
	f.deliverTo(t, testMessage+"3", "alice+three@example.test")
	for name, want := range map[string]int{"one": 1, "two": 1, "three": -1, "Copies": -1, "Copies/one": -1,
		"INBOX": 3} { // the three copies, and the third message once
		if n := f.count(t, "alice@example.test", name); n != want {
			t.Errorf("folder %s: %d messages, want %d (-1: no folder)", name, n, want)
		}
	}
	all, err := f.store.Mailboxes(ctx, f.ids["alice@example.test"])
	if err != nil {
		t.Fatal(err)
	}
	if len(all) > cfg.Limits.MaxMailboxesPerAccount {
		t.Errorf("%d folders, limit %d", len(all), cfg.Limits.MaxMailboxesPerAccount)
	}
}

// TestForwardToSelf: a forwarder or forward rule naming the account's own
// addresses (itself, an alias, a +tag) stores the message once, with or
// without keep_copy, instead of once per hop up to the loop limit.
func TestForwardToSelf(t *testing.T) {
	f := newFixture(t)
	for i, doc := range []string{
		"[forwarder]\nto = [\"alice+x@example.test\", \"info@example.test\"]\nkeep_copy = true\n",
		"[forwarder]\nto = [\"Alice@example.test\"]\n",
		"[[rules]]\nconditions = [{ if = \"all\" }]\nactions = [{ do = \"forward\", to = \"postmaster@example.test\" }]\n",
	} {
		f.setRules(t, "alice@example.test", doc)
		before := f.count(t, "alice@example.test", "INBOX")
		f.deliverTo(t, testMessage+strings.Repeat("x", i), "alice@example.test")
		if n := f.count(t, "alice@example.test", "INBOX") - before; n != 1 {
			t.Errorf("%s: %d copies stored, want 1", doc, n)
		}
	}
}

// TestForwardTargetsOnePerAccount: targets reaching the same local account
// (+tags, an alias) forward one copy, so that a cycle between two
// accounts with many such targets cannot multiply a message at every hop.
func TestForwardTargetsOnePerAccount(t *testing.T) {
	f := newFixture(t)
	f.setRules(t, "alice@example.test", "[forwarder]\nto = [\"bob+1@example.test\", \"bob+2@example.test\", \"bob+3@example.test\"]\nkeep_copy = true\n")
	f.setRules(t, "bob@example.test", "[forwarder]\nto = [\"alice+1@example.test\", \"info@example.test\", \"postmaster@example.test\"]\nkeep_copy = true\n")
	f.deliverTo(t, testMessage, "alice@example.test")
	// alice, bob, alice, bob, alice: the loop limit ends the cycle.
	a, b := f.count(t, "alice@example.test", "INBOX"), f.count(t, "bob@example.test", "INBOX")
	if a+b > rules.MaxHops+1 {
		t.Errorf("alice has %d copies, bob %d", a, b)
	}
}

// TestRuleFolderDeletedOrRenamed: a rule's folder that the Deliverer
// remembers (folders.go) and that was then deleted or renamed is created
// again for the very next message, which lands there, alone or beside
// another recipient's copy in the same transaction; the copy into a
// folder deleted while the account is at its folder limit goes to INBOX.
func TestRuleFolderDeletedOrRenamed(t *testing.T) {
	f := newFixture(t)
	cfg := config.Development()
	f.d = New(Options{Store: f.store, Config: func() *config.Config { return cfg }})
	ctx := context.Background()
	f.setRules(t, "bob@example.test", `[[rules]]
conditions = [{ if = "all" }]
actions = [{ do = "move", folder = "Bench" }]`)
	box := func(name string) storage.Mailbox {
		t.Helper()
		mb, err := f.store.Mailbox(ctx, f.ids["bob@example.test"], name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return mb
	}
	f.deliverTo(t, testMessage+"1", "bob@example.test") // creates Bench
	f.deliverTo(t, testMessage+"2", "bob@example.test") // remembered
	if n := f.count(t, "bob@example.test", "Bench"); n != 2 {
		t.Fatalf("Bench has %d messages, want 2", n)
	}

	// Deleted: the only copy of the message is stored on the second try.
	if err := f.store.DeleteMailbox(ctx, box("Bench").ID); err != nil {
		t.Fatal(err)
	}
	f.deliverTo(t, testMessage+"3", "bob@example.test")
	if n := f.count(t, "bob@example.test", "Bench"); n != 1 {
		t.Fatalf("after delete: Bench has %d messages, want 1", n)
	}

	// Renamed, with another recipient's copy stored in the first try.
	if err := f.store.RenameMailbox(ctx, box("Bench").ID, "Old"); err != nil {
		t.Fatal(err)
	}
	f.deliverTo(t, testMessage+"4", "alice@example.test", "bob@example.test")
	if a, b, old := f.count(t, "alice@example.test", "INBOX"), f.count(t, "bob@example.test", "Bench"), f.count(t, "bob@example.test", "Old"); a != 1 || b != 1 || old != 1 {
		t.Fatalf("after rename: alice INBOX %d, bob Bench %d, Old %d; want 1, 1, 1", a, b, old)
	}

	// Deleted while the account is at its folder limit: INBOX.
	boxes, err := f.store.Mailboxes(ctx, f.ids["bob@example.test"])
	if err != nil {
		t.Fatal(err)
	}
	cfg.Limits.MaxMailboxesPerAccount = len(boxes) - 1
	if err := f.store.DeleteMailbox(ctx, box("Bench").ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.CreateMailbox(ctx, f.ids["bob@example.test"], "Other", ""); err != nil {
		t.Fatal(err)
	}
	inbox := f.count(t, "bob@example.test", "INBOX")
	f.deliverTo(t, testMessage+"5", "bob@example.test")
	if n, in := f.count(t, "bob@example.test", "Bench"), f.count(t, "bob@example.test", "INBOX"); n != -1 || in != inbox+1 {
		t.Fatalf("at the limit: Bench %d (want none), INBOX %d (want %d)", n, in, inbox+1)
	}
}

// TestRuleChangeNextMessage: the compiled rules are cached (rulesource.go),
// yet a change of an account's stored rules, made through another handle
// on the same store as `floe rules` makes it from another process, applies
// to the very next message: a new document, another account's change, the
// same document stored again, a removal, and the document set again.
func TestRuleChangeNextMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{store: st, ids: map[string]storage.AccountID{}}
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.test"}); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"alice@example.test", "bob@example.test"} {
		acct, err := st.CreateAccount(ctx, storage.Account{Address: a, PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		f.ids[a] = acct.ID
	}
	cfg := config.Development()
	f.d = New(Options{Store: st, Config: func() *config.Config { return cfg }})
	cli, err := sqlite.Open(ctx, dir, sqlite.Options{}) // the CLI's handle
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	set := func(address, folder string) {
		t.Helper()
		doc := ""
		if folder != "" {
			doc = `[[rules]]
conditions = [{ if = "all" }]
actions = [{ do = "move", folder = "` + folder + `" }]`
		}
		if err := cli.SetAccountRules(ctx, f.ids[address], []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	expect := func(folder string) {
		t.Helper()
		n++
		before := f.count(t, "bob@example.test", folder)
		f.deliverTo(t, testMessage+strings.Repeat("x", n), "bob@example.test")
		if after := f.count(t, "bob@example.test", folder); after != max(before, 0)+1 {
			t.Fatalf("message %d: %s has %d messages, had %d", n, folder, after, before)
		}
	}
	expect("INBOX")
	set("bob@example.test", "One")
	expect("One")
	expect("One")
	set("bob@example.test", "Two")
	expect("Two")
	set("alice@example.test", "Alice")
	expect("Two")
	set("bob@example.test", "Two")
	expect("Two")
	set("bob@example.test", "")
	expect("INBOX")
	set("bob@example.test", "One")
	expect("One")
}
