package delivery

import (
	"context"
	"errors"
	"testing"

	"github.com/floemail/floe/storage"
)

func TestResolveGroups(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.store.PutGroup(ctx, storage.Group{Address: "team@example.test",
		Members: []string{"alice@example.test", "bob@example.test", "dave@example.test"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.PutGroup(ctx, storage.Group{Address: "empty@example.test", Members: []string{"dave@example.test"}}); err != nil {
		t.Fatal(err)
	}
	// Resolve says "group"; ResolveAll expands to the enabled members.
	if _, err := f.d.Resolve(ctx, "team@example.test"); !errors.Is(err, ErrIsGroup) {
		t.Fatalf("Resolve(group) = %v", err)
	}
	for _, addr := range []string{"Team@example.test", "team+list@example.test"} {
		rs, err := f.d.ResolveAll(ctx, addr)
		if err != nil || len(rs) != 2 || rs[0].AccountAddress != "alice@example.test" || rs[1].AccountAddress != "bob@example.test" ||
			rs[0].Group != "team@example.test" || rs[0].Mailbox != "INBOX" {
			t.Fatalf("ResolveAll(%s) = %+v, %v", addr, rs, err)
		}
	}
	if _, err := f.d.ResolveAll(ctx, "empty@example.test"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("group of disabled members: %v", err)
	}
	// An account is one recipient; unknown stays unknown.
	if rs, err := f.d.ResolveAll(ctx, "bob@example.test"); err != nil || len(rs) != 1 || rs[0].Group != "" {
		t.Fatalf("ResolveAll(account) = %+v, %v", rs, err)
	}
	if _, err := f.d.ResolveAll(ctx, "nobody@example.test"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("unknown: %v", err)
	}

	// One stored copy per member, even when a member is also named directly.
	rs, _ := f.d.ResolveAll(ctx, "team@example.test")
	bob, _ := f.d.Resolve(ctx, "bob@example.test")
	ref := putBlob(t, f.store, testMessage)
	res, err := f.d.Deliver(ctx, &Message{Blob: ref, From: "x@remote.test", Recipients: append(rs, bob)})
	if err != nil || len(res) != 3 {
		t.Fatalf("deliver: %+v %v", res, err)
	}
	for _, a := range []string{"alice@example.test", "bob@example.test"} {
		if n := len(inbox(t, f.store, f.ids[a])); n != 1 {
			t.Errorf("%s has %d copies", a, n)
		}
	}
	// The queue's local delivery (a DSN to a group) reaches the members.
	ref2 := putBlob(t, f.store, testMessage+"2")
	if local, err := f.d.DeliverLocal(ctx, "", "team@example.test", ref2); !local || err != nil {
		t.Fatalf("DeliverLocal to a group = %v %v", local, err)
	}
	if n := len(inbox(t, f.store, f.ids["alice@example.test"])); n != 2 {
		t.Errorf("alice has %d messages", n)
	}
}

func TestOwnsSendAs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bob := f.ids["bob@example.test"]
	for _, a := range []string{"boss@example.test", "alice@example.test", "news@remote.test"} {
		if ok, err := f.d.Owns(ctx, bob, a); ok || err != nil {
			t.Fatalf("before the grant, bob owns %s: %v %v", a, ok, err)
		}
	}
	for _, a := range []string{"boss@example.test", "alice@example.test", "news@remote.test"} {
		if err := f.store.SetSendAs(ctx, bob, a, true); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"boss@example.test", "Boss+x@example.test", "alice@example.test", "news@remote.test"} {
		if ok, err := f.d.Owns(ctx, bob, a); !ok || err != nil {
			t.Errorf("bob may send as %s: %v %v", a, ok, err)
		}
	}
	// A grant to bob is not a grant to alice; sharing grants nothing.
	if ok, _ := f.d.Owns(ctx, f.ids["alice@example.test"], "boss@example.test"); ok {
		t.Error("alice may send as boss")
	}
}
