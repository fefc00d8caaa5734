package view_test

import (
	"fmt"
	"testing"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
	"github.com/floemail/floe/storage/view"
)

// BenchmarkList1000Shared: List for an account that sees 1,000 folders
// shared by 100 owners (10 each, one ACL entry per folder).
func BenchmarkList1000Shared(b *testing.B) {
	ctx := b.Context()
	st, err := sqlite.Open(ctx, b.TempDir(), sqlite.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.PutDomain(ctx, storage.Domain{Name: "example.test"}); err != nil {
		b.Fatal(err)
	}
	me, err := st.CreateAccount(ctx, storage.Account{Address: "me@example.test", PasswordHash: "x"})
	if err != nil {
		b.Fatal(err)
	}
	for o := range 100 {
		owner, err := st.CreateAccount(ctx, storage.Account{Address: fmt.Sprintf("o%d@example.test", o), PasswordHash: "x"})
		if err != nil {
			b.Fatal(err)
		}
		for f := range 10 {
			mb, err := st.CreateMailbox(ctx, owner.ID, fmt.Sprintf("Shared%d", f), "")
			if err != nil {
				b.Fatal(err)
			}
			if _, _, err := st.ChangeACL(ctx, owner.ID, mb.ID, []acl.Change{{Identifier: "me@example.test", Op: acl.OpSet, Rights: acl.Of(acl.Lookup, acl.Read)}}); err != nil {
				b.Fatal(err)
			}
			if err := st.SetSubscription(ctx, me.ID, fmt.Sprintf("~o%d@example.test/Shared%d", o, f), true); err != nil {
				b.Fatal(err)
			}
		}
	}
	v, err := view.New(ctx, st, me.ID, view.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		v.Refresh()
		fs, err := v.List(ctx)
		if err != nil || len(fs) != 1006 {
			b.Fatalf("%d folders, %v", len(fs), err)
		}
	}
}
