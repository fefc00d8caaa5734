package delivery

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

type fixture struct {
	store *sqlite.Store
	d     *Deliverer
	ids   map[string]storage.AccountID
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{store: st, ids: map[string]storage.AccountID{}}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.PutDomain(ctx, storage.Domain{Name: "example.test"}))
	must(st.PutDomain(ctx, storage.Domain{Name: "other.test"}))
	for _, a := range []storage.Account{
		{Address: "alice@example.test"},
		{Address: "bob@example.test"},
		{Address: "bob+work@example.test"}, // a real account whose name has a '+'
		{Address: "carol@example.test", QuotaBytes: 1000, QuotaMessages: 2},
		{Address: "dave@example.test", Disabled: true},
		{Address: "catch@other.test"},
		{Address: "jörg@example.test"},
	} {
		a.PasswordHash = "x"
		got, err := st.CreateAccount(ctx, a)
		must(err)
		f.ids[a.Address] = got.ID
	}
	must(st.PutAlias(ctx, storage.Alias{Address: "postmaster@example.test", Target: "alice@example.test"}))
	must(st.PutAlias(ctx, storage.Alias{Address: "info@example.test", Target: "alice@example.test"}))
	must(st.PutDomain(ctx, storage.Domain{Name: "other.test", CatchAll: "catch@other.test"}))
	cfg := config.Development()
	f.d = New(Options{Store: st, Config: func() *config.Config { return cfg }})
	return f
}

func TestResolve(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		in      string
		account string // expected account address
		err     error
		addr    string // expected Recipient.Address ("" = in)
	}{
		{in: "alice@example.test", account: "alice@example.test"},
		{in: "Alice@EXAMPLE.test", account: "alice@example.test", addr: "Alice@example.test"},
		{in: "postmaster@example.test", account: "alice@example.test"},
		{in: "alice+news@example.test", account: "alice@example.test"},
		{in: "info+x+y@example.test", account: "alice@example.test"},
		{in: "bob+work@example.test", account: "bob+work@example.test"},
		{in: "bob+home@example.test", account: "bob@example.test"},
		{in: "jörg@example.test", account: "jörg@example.test"},
		{in: "anyone@other.test", account: "catch@other.test"},
		{in: "anyone+x@other.test", account: "catch@other.test"},
		{in: "nobody@example.test", err: ErrUnknownUser},
		{in: "+alice@example.test", err: ErrUnknownUser},
		{in: "dave@example.test", err: ErrDisabled},
		{in: "alice@remote.test", err: ErrNotLocal},
		{in: "alice@[127.0.0.1]", err: ErrNotLocal},
		{in: "alice", err: ErrInvalidAddress},
		{in: "@example.test", err: ErrInvalidAddress},
		{in: "alice@", err: ErrInvalidAddress},
		{in: "alice%remote.test@example.test", err: ErrInvalidAddress},
		{in: "alice@remote.test@example.test", err: ErrInvalidAddress},
		{in: "remote!alice@example.test", err: ErrInvalidAddress},
		{in: "al ice@example.test", err: ErrInvalidAddress},
		{in: "alice@exa mple.test", err: ErrInvalidAddress},
		{in: "alice@example..test", err: ErrInvalidAddress},
		{in: strings.Repeat("a", 65) + "@example.test", err: ErrInvalidAddress},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := f.d.Resolve(ctx, tt.in)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("Resolve(%q) = %+v, %v; want %v", tt.in, r, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve(%q): %v", tt.in, err)
			}
			if r.AccountAddress != tt.account || r.Account != f.ids[tt.account] || r.Mailbox != "INBOX" {
				t.Fatalf("Resolve(%q) = %+v; want account %s (%d)", tt.in, r, tt.account, f.ids[tt.account])
			}
			want := tt.addr
			if want == "" {
				want = tt.in
			}
			if r.Address != want {
				t.Fatalf("Address = %q, want %q", r.Address, want)
			}
		})
	}
}

// An account created while the Deliverer exists is found at once.
func TestResolveSeesNewAccounts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.d.Resolve(ctx, "new@example.test"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("before: %v", err)
	}
	if _, err := f.store.CreateAccount(ctx, storage.Account{Address: "new@example.test", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.d.Resolve(ctx, "new@example.test"); err != nil {
		t.Fatalf("after: %v", err)
	}
}

func TestOwns(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	alice := f.ids["alice@example.test"]
	tests := []struct {
		acct storage.AccountID
		addr string
		want bool
	}{
		{alice, "alice@example.test", true},
		{alice, "ALICE@Example.Test", true},
		{alice, "alice+tag@example.test", true},
		{alice, "postmaster@example.test", true},
		{alice, "info+tag@example.test", true},
		{alice, "bob@example.test", false},
		{alice, "nobody@example.test", false},
		{alice, "alice@remote.test", false},
		{alice, "", false},
		{alice, "alice%x@example.test", false},
		// A catch-all grants no sender addresses.
		{f.ids["catch@other.test"], "anyone@other.test", false},
		{f.ids["catch@other.test"], "catch@other.test", true},
	}
	for _, tt := range tests {
		got, err := f.d.Owns(ctx, tt.acct, tt.addr)
		if err != nil || got != tt.want {
			t.Errorf("Owns(%d, %q) = %v, %v; want %v", tt.acct, tt.addr, got, err, tt.want)
		}
	}
}

func putBlob(t testing.TB, st storage.Store, body string) storage.BlobRef {
	t.Helper()
	ref, err := st.PutBlob(context.Background(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

const testMessage = "From: x@remote.test\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nHello.\r\n"

func TestDeliverDeduplicates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var rcpts []Recipient
	for _, a := range []string{"alice@example.test", "postmaster@example.test", "alice+x@example.test", "bob@example.test"} {
		r, err := f.d.Resolve(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		rcpts = append(rcpts, r)
	}
	ref := putBlob(t, f.store, testMessage)
	res, err := f.d.Deliver(ctx, &Message{Blob: ref, From: "x@remote.test", Recipients: rcpts})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(rcpts) {
		t.Fatalf("%d results for %d recipients", len(res), len(rcpts))
	}
	for i, r := range res {
		if r.Err != nil || r.Recipient != rcpts[i] {
			t.Errorf("result %d = %+v", i, r)
		}
	}
	for acct, want := range map[string]int{"alice@example.test": 1, "bob@example.test": 1, "carol@example.test": 0} {
		msgs := inbox(t, f.store, f.ids[acct])
		if len(msgs) != want {
			t.Errorf("%s has %d messages, want %d", acct, len(msgs), want)
		}
		for _, m := range msgs {
			if m.Blob != ref.ID || len(m.Flags) != 0 || m.Size != ref.Size {
				t.Errorf("%s: message %+v", acct, m)
			}
			b, err := f.store.OpenBlob(ctx, m.Blob)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(b)
			b.Close()
			if string(got) != testMessage {
				t.Errorf("content = %q", got)
			}
		}
	}
}

func inbox(t *testing.T, st storage.Store, acct storage.AccountID) []storage.Message {
	t.Helper()
	ctx := context.Background()
	mb, err := st.Mailbox(ctx, acct, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.Messages(ctx, mb.ID, storage.Query{})
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// TestDeliverLocal: the queue's LocalDeliverer (DSNs to local senders)
// stores into the resolved account's INBOX, says "not local" for other
// domains without storing, and reports why a local address takes nothing.
func TestDeliverLocal(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ref := putBlob(t, f.store, testMessage)
	local, err := f.d.DeliverLocal(ctx, "", "info@example.test", ref) // alias of alice
	if !local || err != nil {
		t.Fatalf("DeliverLocal to an alias = %v, %v", local, err)
	}
	if n := len(inbox(t, f.store, f.ids["alice@example.test"])); n != 1 {
		t.Fatalf("alice has %d messages, want 1", n)
	}
	ref2 := putBlob(t, f.store, testMessage+"2")
	if local, err := f.d.DeliverLocal(ctx, "", "someone@remote.test", ref2); local || err != nil {
		t.Fatalf("DeliverLocal to a remote address = %v, %v", local, err)
	}
	if local, err := f.d.DeliverLocal(ctx, "", "nobody@example.test", ref2); !local || !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("DeliverLocal to an unknown local user = %v, %v", local, err)
	}
	big := putBlob(t, f.store, testMessage+strings.Repeat("x", 2000))
	if local, err := f.d.DeliverLocal(ctx, "", "carol@example.test", big); !local || !errors.Is(err, storage.ErrOverQuota) {
		t.Fatalf("DeliverLocal over quota = %v, %v", local, err)
	}
	if n := len(inbox(t, f.store, f.ids["carol@example.test"])); n != 0 {
		t.Fatalf("carol has %d messages, want 0", n)
	}
}

func TestCheckQuota(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	carol, err := f.d.Resolve(ctx, "carol@example.test")
	if err != nil {
		t.Fatal(err)
	}
	alice, _ := f.d.Resolve(ctx, "alice@example.test")
	if err := f.d.CheckQuota(ctx, alice, 1<<40); err != nil {
		t.Fatalf("unlimited account: %v", err)
	}
	if err := f.d.CheckQuota(ctx, carol, 0); err != nil {
		t.Fatalf("empty mailbox: %v", err)
	}
	if err := f.d.CheckQuota(ctx, carol, 1001); !errors.Is(err, ErrTooBigForQuota) || !errors.Is(err, storage.ErrOverQuota) {
		t.Fatalf("message larger than the quota: %v", err)
	}
	// Fill 2 messages (the message quota).
	for range 2 {
		if err := f.d.CheckQuota(ctx, carol, int64(len(testMessage))); err != nil {
			t.Fatalf("before full: %v", err)
		}
		res, err := f.d.Deliver(ctx, &Message{Blob: putBlob(t, f.store, testMessage), Recipients: []Recipient{carol}})
		if err != nil || res[0].Err != nil {
			t.Fatal(err, res)
		}
	}
	if err := f.d.CheckQuota(ctx, carol, 0); !errors.Is(err, storage.ErrOverQuota) || errors.Is(err, ErrTooBigForQuota) {
		t.Fatalf("message count reached: %v", err)
	}
}

func TestCheckQuotaBytes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	carol, _ := f.d.Resolve(ctx, "carol@example.test")
	big := testMessage + strings.Repeat("x", 800)
	res, err := f.d.Deliver(ctx, &Message{Blob: putBlob(t, f.store, big), Recipients: []Recipient{carol}})
	if err != nil || res[0].Err != nil {
		t.Fatal(err, res)
	}
	if err := f.d.CheckQuota(ctx, carol, 50); err != nil {
		t.Fatalf("fits: %v", err)
	}
	if err := f.d.CheckQuota(ctx, carol, 500); !errors.Is(err, storage.ErrOverQuota) {
		t.Fatalf("does not fit: %v", err)
	}
}

func FuzzSplitAddress(f *testing.F) {
	for _, s := range []string{"alice@example.test", "a+b@c.d", "\"x\"@y", "user%other@local", "a@b@c", "jörg@example.test", "x@[127.0.0.1]", "@", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		local, domain, err := SplitAddress(s)
		if err != nil {
			return
		}
		if local == "" || domain == "" || strings.ContainsAny(local, "@%! \r\n") {
			t.Fatalf("SplitAddress(%q) = %q, %q", s, local, domain)
		}
		if domain != strings.ToLower(domain) || local+"@"+domain != s[:len(local)]+"@"+strings.ToLower(s[len(local)+1:]) {
			t.Fatalf("SplitAddress(%q) = %q, %q: not a split", s, local, domain)
		}
	})
}
