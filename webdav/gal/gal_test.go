package gal

import (
	"strings"
	"testing"

	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/item"
	"github.com/floemail/floe/storage/sqlite"
)

// TestSync: the folder follows the directory: added, unchanged (no
// write, same sync point), changed, removed; cards validate as vCard 4.0
// and groups list their members.
func TestSync(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.PutDomain(ctx, storage.Domain{Name: "example.test"})
	owner, err := st.CreateAccount(ctx, storage.Account{Address: "gal@example.test", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	mb, err := st.CreateMailbox(ctx, owner.ID, "Global Address Book", "")
	if err != nil {
		t.Fatal(err)
	}
	entries := []Entry{{Address: "jane@example.test", Name: "Jane Doe"}, {Address: "john@example.test"},
		{Address: "team@example.test", Name: "Team", Group: true, Members: []string{"john@example.test", "jane@example.test"}}}
	res, err := Sync(ctx, st, owner, mb.ID, entries)
	if err != nil || res != (Result{Added: 3}) {
		t.Fatalf("%+v %v", res, err)
	}
	items, _ := st.Items(ctx, mb.ID, storage.ItemQuery{})
	if len(items) != 3 || items[0].Name != "gal-jane@example.test.vcf" || items[0].Index.Summary != "Jane Doe" || items[0].Index.Emails[0] != "jane@example.test" {
		t.Fatalf("%+v", items)
	}
	before, _ := st.MailboxByID(ctx, mb.ID)
	if res, err = Sync(ctx, st, owner, mb.ID, entries); err != nil || res != (Result{}) {
		t.Fatalf("unchanged: %+v %v", res, err)
	}
	after, _ := st.MailboxByID(ctx, mb.ID)
	if after.HighestModSeq != before.HighestModSeq {
		t.Fatal("an unchanged sync wrote")
	}
	entries[1].Name = "John Smith"
	entries = append(entries[:0], entries[1:]...) // jane leaves
	if res, err = Sync(ctx, st, owner, mb.ID, entries); err != nil || res != (Result{Changed: 1, Removed: 1}) {
		t.Fatalf("changed: %+v %v", res, err)
	}
	ch, _ := st.ItemChangesSince(ctx, mb.ID, after.HighestModSeq)
	if len(ch.Removed) != 1 || ch.Removed[0] != "gal-jane@example.test.vcf" || len(ch.Changed) != 1 {
		t.Fatalf("changes %+v", ch)
	}
	card := string(Card(entries[1]))
	if _, _, err := item.ParseContact([]byte(card), ""); err != nil || !strings.Contains(card, "KIND:group") ||
		!strings.Contains(card, "MEMBER:mailto:jane@example.test\r\nMEMBER:mailto:john@example.test") {
		t.Fatalf("%v %s", err, card)
	}
}
