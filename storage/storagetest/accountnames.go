package storagetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/floemail/floe/storage"
)

// testAccountNames: an account's display name is stored by CreateAccount,
// returned by Account, AccountByID and Accounts, changed (and cleared) by
// UpdateAccount, and refused with ErrInvalid when it is not one
// (storage.ValidDisplayName).
func testAccountNames(t *testing.T, st storage.Store) {
	ctx := context.Background()
	if err := st.PutDomain(ctx, storage.Domain{Name: "names.test", Source: storage.SourceDB}); err != nil {
		t.Fatal(err)
	}
	a, err := st.CreateAccount(ctx, storage.Account{Address: "jane@names.test", Name: "Jane Doe", Source: storage.SourceDB})
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "Jane Doe" {
		t.Fatalf("CreateAccount returned name %q", a.Name)
	}
	check := func(want string) {
		t.Helper()
		if got, err := st.Account(ctx, "jane@names.test"); err != nil || got.Name != want {
			t.Fatalf("Account: %q %v, want %q", got.Name, err, want)
		}
		if got, err := st.AccountByID(ctx, a.ID); err != nil || got.Name != want {
			t.Fatalf("AccountByID: %q %v, want %q", got.Name, err, want)
		}
		all, err := st.Accounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range all {
			if x.ID == a.ID && x.Name != want {
				t.Fatalf("Accounts: %q, want %q", x.Name, want)
			}
		}
	}
	check("Jane Doe")
	a.Name = "Jane Q. Dö"
	if err := st.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	check("Jane Q. Dö")
	a.Name = ""
	if err := st.UpdateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	check("")
	for _, bad := range []string{"a\nb", "tab\there", " lead", "trail ", "\xff", strings.Repeat("x", storage.MaxDisplayName+1)} {
		a.Name = bad
		if err := st.UpdateAccount(ctx, a); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("UpdateAccount with name %q: %v, want ErrInvalid", bad, err)
		}
		if _, err := st.CreateAccount(ctx, storage.Account{Address: "bad@names.test", Name: bad, Source: storage.SourceDB}); !errors.Is(err, storage.ErrInvalid) {
			t.Errorf("CreateAccount with name %q: %v, want ErrInvalid", bad, err)
		}
	}
	check("")
}

// testDirectoryVersion: DirectoryVersion moves with every change an
// address book shows (accounts created, renamed, disabled, deleted;
// groups and their members) and stays put for a delivery.
func testDirectoryVersion(t *testing.T, st storage.Store) {
	ctx := context.Background()
	last := must(st.DirectoryVersion(ctx))(t)
	step := func(what string, moved bool, fn func() error) {
		t.Helper()
		if err := fn(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		v := must(st.DirectoryVersion(ctx))(t)
		if moved && v == last {
			t.Fatalf("%s: the directory version stayed at %d", what, v)
		}
		if !moved && v != last {
			t.Fatalf("%s: the directory version moved from %d to %d", what, last, v)
		}
		last = v
	}
	step("domain", true, func() error { return st.PutDomain(ctx, storage.Domain{Name: "dirv.test"}) })
	var a storage.Account
	step("account", true, func() (err error) {
		a, err = st.CreateAccount(ctx, storage.Account{Address: "ann@dirv.test", PasswordHash: "x"})
		return err
	})
	step("name", true, func() error { a.Name = "Ann Example"; return st.UpdateAccount(ctx, a) })
	step("password", false, func() error { a.PasswordHash = "y"; return st.UpdateAccount(ctx, a) })
	step("disabled", true, func() error { a.Disabled = true; return st.UpdateAccount(ctx, a) })
	step("delivery", false, func() error {
		a.Disabled = false
		if err := st.UpdateAccount(ctx, a); err != nil {
			return err
		}
		last = must(st.DirectoryVersion(ctx))(t)
		deliver(t, st, a.ID, "INBOX", "x", "hi")
		return nil
	})
	step("group", true, func() error {
		return st.PutGroup(ctx, storage.Group{Address: "team@dirv.test", Members: []string{"ann@dirv.test"}})
	})
	_ = must(st.CreateAccount(ctx, storage.Account{Address: "bo@dirv.test", PasswordHash: "x"}))(t)
	last = must(st.DirectoryVersion(ctx))(t)
	step("member added", true, func() error { return st.AddGroupMember(ctx, "team@dirv.test", "bo@dirv.test") })
	step("member removed", true, func() error { return st.RemoveGroupMember(ctx, "team@dirv.test", "bo@dirv.test") })
	step("account deleted", true, func() error { return st.DeleteAccount(ctx, "bo@dirv.test") })
}
