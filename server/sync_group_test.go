package server

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/floemail/floe/acl"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/view"
)

// TestSyncGroups: [[group]] entries are owned by the file like aliases:
// created, updated (members), taken over from the database, and deleted
// when the file drops them; database groups are left alone.
func TestSyncGroups(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	log := slog.New(slog.DiscardHandler)
	h := mustHash(t, "pw")
	cfg := config.Development()
	cfg.Accounts = []config.Account{{Address: "alice@example.test", PasswordHash: h}, {Address: "bob@example.test", PasswordHash: h}}
	cfg.Groups = []config.Group{{Address: "team@example.test", Members: []string{"bob@example.test", "alice@example.test"}}}
	if err := SyncDirectory(ctx, st, cfg, log); err != nil {
		t.Fatal(err)
	}
	g, err := st.Group(ctx, "team@example.test")
	if err != nil || g.Source != storage.SourceConfig || !slices.Equal(g.Members, []string{"alice@example.test", "bob@example.test"}) {
		t.Fatalf("group: %+v %v", g, err)
	}
	// A database group, and one the file takes over.
	if err := st.PutGroup(ctx, storage.Group{Address: "db@example.test", Members: []string{"bob@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.PutGroup(ctx, storage.Group{Address: "all@example.test"}); err != nil {
		t.Fatal(err)
	}
	v0, _ := st.ACLVersion(ctx)
	cfg2 := cfg.Clone()
	cfg2.Groups = []config.Group{{Address: "all@example.test", Members: []string{"alice@example.test"}}}
	if err := SyncDirectory(ctx, st, cfg2, log); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Group(ctx, "team@example.test"); err == nil {
		t.Fatal("a group dropped from the file survived")
	}
	if g, err := st.Group(ctx, "all@example.test"); err != nil || g.Source != storage.SourceConfig || !slices.Equal(g.Members, []string{"alice@example.test"}) {
		t.Fatalf("taken over: %+v %v", g, err)
	}
	if _, err := st.Group(ctx, "db@example.test"); err != nil {
		t.Fatal("a database group was removed")
	}
	if v1, _ := st.ACLVersion(ctx); v1 == v0 {
		t.Fatal("membership changes did not move ACLVersion")
	}
	// A second run with nothing changed writes nothing.
	v1, _ := st.ACLVersion(ctx)
	if err := SyncDirectory(ctx, st, cfg2, log); err != nil {
		t.Fatal(err)
	}
	if v2, _ := st.ACLVersion(ctx); v2 != v1 {
		t.Fatal("an unchanged sync moved ACLVersion")
	}
	// A member that is not an account is an error naming the group.
	cfg3 := cfg2.Clone()
	cfg3.Groups[0].Members = []string{"nobody@example.test"}
	if err := SyncDirectory(ctx, st, cfg3, log); err == nil {
		t.Fatal("unknown member accepted")
	}
}

// TestSyncGroupNewMemberInformed: a member the config file adds to a
// group gets what is shared with the group, informed as for a grant (the
// information mail); members already there are not informed again.
func TestSyncGroupNewMemberInformed(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	log := slog.New(slog.DiscardHandler)
	h := mustHash(t, "pw")
	cfg := config.Development()
	cfg.Accounts = []config.Account{{Address: "alice@example.test", PasswordHash: h}, {Address: "bob@example.test", PasswordHash: h},
		{Address: "jane@example.test", PasswordHash: h}}
	cfg.Groups = []config.Group{{Address: "team@example.test", Members: []string{"alice@example.test"}}}
	if err := SyncDirectory(ctx, st, cfg, log); err != nil {
		t.Fatal(err)
	}
	jane, _ := st.Account(ctx, "jane@example.test")
	if _, _, err := view.NewAdmin(st, view.Options{}).ChangeACL(ctx, jane.ID, storage.RootMailbox,
		[]acl.Change{{Identifier: "team@example.test", Op: acl.OpSet, Rights: acl.Of(acl.Lookup, acl.Read)}}); err != nil {
		t.Fatal(err)
	}
	inbox := func(addr string) int {
		a, _ := st.Account(ctx, addr)
		mb, err := st.Mailbox(ctx, a.ID, "INBOX")
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := st.Messages(ctx, mb.ID, storage.Query{})
		if err != nil {
			t.Fatal(err)
		}
		return len(msgs)
	}
	if inbox("alice@example.test") != 1 || inbox("bob@example.test") != 0 {
		t.Fatalf("before: alice %d, bob %d mails", inbox("alice@example.test"), inbox("bob@example.test"))
	}
	cfg2 := cfg.Clone()
	cfg2.Groups = []config.Group{{Address: "team@example.test", Members: []string{"alice@example.test", "bob@example.test"}}}
	if err := SyncDirectory(ctx, st, cfg2, log); err != nil {
		t.Fatal(err)
	}
	if inbox("alice@example.test") != 1 || inbox("bob@example.test") != 1 {
		t.Fatalf("after: alice %d, bob %d mails", inbox("alice@example.test"), inbox("bob@example.test"))
	}
}
