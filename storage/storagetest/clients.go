package storagetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/floemail/floe/storage"
)

// testActivations covers activation keys and seat-limited activations.
func testActivations(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	alice := newAccount(t, st, "alice")
	bob := newAccount(t, st, "bob")

	n := 0
	gen := func() string { n++; return fmt.Sprintf("KEY-%d", n) }
	k1 := must(st.ActivationKey(ctx, alice.ID, gen))(t)
	if k1 != "KEY-1" {
		t.Fatalf("first key = %q", k1)
	}
	if k := must(st.ActivationKey(ctx, alice.ID, gen))(t); k != k1 || n != 1 {
		t.Errorf("second call = %q (generated %d)", k, n)
	}
	_, err := st.ActivationKey(ctx, 9999, gen)
	wantErr(t, err, storage.ErrNoAccount)
	if id := must(st.AccountByActivationKey(ctx, k1))(t); id != alice.ID {
		t.Errorf("AccountByActivationKey = %d", id)
	}
	_, err = st.AccountByActivationKey(ctx, "nope")
	wantErr(t, err, storage.ErrNotFound)
	wantErr(t, st.SetActivationKey(ctx, bob.ID, k1), storage.ErrExists)
	noErr(t, st.SetActivationKey(ctx, alice.ID, "KEY-NEW"))
	if k := must(st.ActivationKey(ctx, alice.ID, gen))(t); k != "KEY-NEW" {
		t.Errorf("after SetActivationKey: %q", k)
	}
	_, err = st.AccountByActivationKey(ctx, k1)
	wantErr(t, err, storage.ErrNotFound)

	exp := time.Now().Add(24 * time.Hour).Truncate(time.Second).UTC()
	act := func(acct storage.AccountID, machine string) (storage.Activation, error) {
		return st.Activate(ctx, storage.Activation{Account: acct, MachineID: machine, Expires: exp}, 2)
	}
	a1 := must(act(alice.ID, "m1"))(t)
	if a1.ID == 0 || a1.Address != alice.Address || a1.Domain != domain || a1.MachineID != "m1" || !a1.Expires.Equal(exp) || a1.Created.IsZero() {
		t.Errorf("activation: %+v", a1)
	}
	// The same machine again renews, using no seat.
	again := must(act(alice.ID, "m1"))(t)
	if again.ID != a1.ID {
		t.Errorf("renewal got a new ID: %+v", again)
	}
	must(act(bob.ID, "m1"))(t) // another account, same machine id: a seat
	_, err = act(alice.ID, "m2")
	wantErr(t, err, storage.ErrLimit)
	list := must(st.Activations(ctx, domain))(t)
	if len(list) != 2 || list[0].ID != a1.ID || list[1].Address != bob.Address {
		t.Fatalf("activations: %+v", list)
	}
	if all := must(st.Activations(ctx, ""))(t); len(all) != 2 {
		t.Errorf("all activations: %+v", all)
	}
	if other := must(st.Activations(ctx, "other.test"))(t); len(other) != 0 {
		t.Errorf("other domain: %+v", other)
	}
	// Revoking frees the seat.
	noErr(t, st.RevokeActivation(ctx, a1.ID))
	wantErr(t, st.RevokeActivation(ctx, a1.ID), storage.ErrNotFound)
	must(act(alice.ID, "m2"))(t)
	_, err = act(alice.ID, "")
	wantErr(t, err, storage.ErrInvalid)
	_, err = act(9999, "m3")
	wantErr(t, err, storage.ErrNoAccount)

	// Concurrent activations never exceed the seats.
	carol := newAccount(t, st, "carol")
	for _, a := range must(st.Activations(ctx, domain))(t) {
		noErr(t, st.RevokeActivation(ctx, a.ID))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := st.Activate(ctx, storage.Activation{Account: carol.ID, MachineID: fmt.Sprint("c", i), Expires: exp}, 3); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if ok != 3 || len(must(st.Activations(ctx, domain))(t)) != 3 {
		t.Errorf("%d concurrent activations succeeded with 3 seats", ok)
	}

	// Everything goes with the account.
	noErr(t, st.DeleteAccount(ctx, carol.Address))
	if l := must(st.Activations(ctx, domain))(t); len(l) != 0 {
		t.Errorf("activations of a deleted account: %+v", l)
	}
}

// testAppPasswords covers app passwords.
func testAppPasswords(t *testing.T, st storage.Store) {
	ctx := ctxT(t)
	alice := newAccount(t, st, "alice")
	bob := newAccount(t, st, "bob")
	p := must(st.CreateAppPassword(ctx, storage.AppPassword{Account: alice.ID, Label: " phone ", Hash: "$argon2id$x"}))(t)
	if p.ID == 0 || p.Label != "phone" || p.Created.IsZero() {
		t.Errorf("created: %+v", p)
	}
	must(st.CreateAppPassword(ctx, storage.AppPassword{Account: alice.ID, Label: "laptop", Hash: "$argon2id$y"}))(t)
	for _, bad := range []storage.AppPassword{
		{Account: alice.ID, Label: "", Hash: "h"},
		{Account: alice.ID, Label: "x\ny", Hash: "h"},
		{Account: alice.ID, Label: string(make([]byte, storage.MaxAppPasswordLabel+1)), Hash: "h"},
		{Account: alice.ID, Label: "x", Hash: ""},
	} {
		_, err := st.CreateAppPassword(ctx, bad)
		wantErr(t, err, storage.ErrInvalid)
	}
	_, err := st.CreateAppPassword(ctx, storage.AppPassword{Account: 9999, Label: "x", Hash: "h"})
	wantErr(t, err, storage.ErrNoAccount)
	list := must(st.AppPasswords(ctx, alice.ID))(t)
	if len(list) != 2 || list[0].Label != "phone" || list[1].Label != "laptop" || list[0].Hash != "$argon2id$x" || !list[0].LastUsed.IsZero() {
		t.Fatalf("list: %+v", list)
	}
	used := time.Now().Truncate(time.Second).UTC()
	noErr(t, st.TouchAppPassword(ctx, p.ID, used))
	if l := must(st.AppPasswords(ctx, alice.ID))(t); !l[0].LastUsed.Equal(used) {
		t.Errorf("last used: %v", l[0].LastUsed)
	}
	// Bob cannot delete Alice's.
	wantErr(t, st.DeleteAppPassword(ctx, bob.ID, p.ID), storage.ErrNotFound)
	noErr(t, st.DeleteAppPassword(ctx, alice.ID, p.ID))
	wantErr(t, st.DeleteAppPassword(ctx, alice.ID, p.ID), storage.ErrNotFound)
	for i := 1; i < storage.MaxAppPasswords; i++ {
		must(st.CreateAppPassword(ctx, storage.AppPassword{Account: bob.ID, Label: fmt.Sprint("p", i), Hash: "h"}))(t)
	}
	must(st.CreateAppPassword(ctx, storage.AppPassword{Account: bob.ID, Label: "last", Hash: "h"}))(t)
	_, err = st.CreateAppPassword(ctx, storage.AppPassword{Account: bob.ID, Label: "one too many", Hash: "h"})
	wantErr(t, err, storage.ErrLimit)
	noErr(t, st.DeleteAccount(ctx, bob.Address))
	if l := must(st.AppPasswords(ctx, bob.ID))(t); len(l) != 0 {
		t.Errorf("app passwords of a deleted account: %+v", l)
	}
}
