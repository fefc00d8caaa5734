package server

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/floemail/floe/server/auth"
	"github.com/floemail/floe/server/config"
	"github.com/floemail/floe/storage"
	"github.com/floemail/floe/storage/sqlite"
)

func openTestStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mustHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := auth.HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSyncDirectory(t *testing.T) {
	ctx := context.Background()
	st := openTestStore(t)
	log := slog.New(slog.DiscardHandler)
	h1, h2 := mustHash(t, "one"), mustHash(t, "two")

	cfg := config.Development()
	cfg.Domains = []config.Domain{{Name: "example.test", CatchAll: "alice@example.test"}, {Name: "gone.test"}, {Name: "kept.test"}}
	cfg.Accounts = []config.Account{
		{Address: "alice@example.test", Name: "Alice Liddell", PasswordHash: h1, Quota: 10 * config.MiB, QuotaMessages: 100},
		{Address: "bob@kept.test", PasswordHash: h1},
	}
	cfg.Aliases = []config.Alias{{Address: "info@example.test", Target: "alice@example.test"}}
	if err := SyncDirectory(ctx, st, cfg, log); err != nil {
		t.Fatal(err)
	}
	// Entries of the database are left alone by the sync.
	if err := st.PutDomain(ctx, storage.Domain{Name: "db.test", Source: storage.SourceDB}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccount(ctx, storage.Account{Address: "carol@example.test", PasswordHash: h2, Source: storage.SourceDB}); err != nil {
		t.Fatal(err)
	}

	a, err := st.Account(ctx, "alice@example.test")
	if err != nil {
		t.Fatal(err)
	}
	if a.Source != storage.SourceConfig || a.Name != "Alice Liddell" || a.PasswordHash != h1 || a.QuotaBytes != int64(10*config.MiB) || a.QuotaMessages != 100 || a.Disabled {
		t.Fatalf("alice = %+v", a)
	}
	d, err := st.Domain(ctx, "example.test")
	if err != nil {
		t.Fatal(err)
	}
	if d.CatchAll != "alice@example.test" || d.Source != storage.SourceConfig {
		t.Fatalf("domain = %+v", d)
	}
	al, err := st.Alias(ctx, "info@example.test")
	if err != nil || al.Target != "alice@example.test" || al.Source != storage.SourceConfig {
		t.Fatalf("alias = %+v, %v", al, err)
	}

	// Second config: alice's password and quota change, bob and gone.test
	// and the alias are removed, kept.test too (but bob keeps it alive).
	cfg2 := config.Development()
	cfg2.Domains = []config.Domain{{Name: "example.test"}}
	cfg2.Accounts = []config.Account{{Address: "alice@example.test", PasswordHash: h2, Disabled: true}}
	// Without pruning (the CLI), nothing the file dropped is touched.
	if err := syncDirectory(ctx, st, cfg2, log, false); err != nil {
		t.Fatal(err)
	}
	if b, err := st.Account(ctx, "bob@kept.test"); err != nil || b.Disabled || b.Source != storage.SourceConfig {
		t.Fatalf("additive sync changed bob: %+v, %v", b, err)
	}
	if _, err := st.Alias(ctx, "info@example.test"); err != nil {
		t.Fatalf("additive sync removed an alias: %v", err)
	}
	if _, err := st.Domain(ctx, "gone.test"); err != nil {
		t.Fatalf("additive sync removed a domain: %v", err)
	}
	if err := SyncDirectory(ctx, st, cfg2, log); err != nil {
		t.Fatal(err)
	}
	a, _ = st.Account(ctx, "alice@example.test")
	if a.PasswordHash != h2 || a.Name != "" || a.QuotaBytes != 0 || a.QuotaMessages != 0 || !a.Disabled || a.Source != storage.SourceConfig {
		t.Fatalf("alice after update = %+v", a)
	}
	d, _ = st.Domain(ctx, "example.test")
	if d.CatchAll != "" {
		t.Fatalf("catch-all not cleared: %+v", d)
	}
	if _, err := st.Alias(ctx, "info@example.test"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("removed alias still there: %v", err)
	}
	// bob is disabled, not deleted, and handed to the database.
	b, err := st.Account(ctx, "bob@kept.test")
	if err != nil {
		t.Fatalf("account removed from the file was deleted: %v", err)
	}
	if !b.Disabled || b.Source != storage.SourceDB {
		t.Fatalf("bob = %+v, want disabled and SourceDB", b)
	}
	if _, err := st.Domain(ctx, "gone.test"); !errors.Is(err, storage.ErrNoDomain) {
		t.Fatalf("empty removed domain still there: %v", err)
	}
	k, err := st.Domain(ctx, "kept.test")
	if err != nil || k.Source != storage.SourceDB {
		t.Fatalf("domain with accounts = %+v, %v; want kept with SourceDB", k, err)
	}
	// Database entries untouched.
	c, err := st.Account(ctx, "carol@example.test")
	if err != nil || c.Source != storage.SourceDB || c.PasswordHash != h2 || c.Disabled {
		t.Fatalf("carol = %+v, %v", c, err)
	}
	if _, err := st.Domain(ctx, "db.test"); err != nil {
		t.Fatal(err)
	}

	// Declaring carol in the file hands her to the file.
	cfg2.Accounts = append(cfg2.Accounts, config.Account{Address: "carol@example.test", PasswordHash: h1})
	if err := SyncDirectory(ctx, st, cfg2, log); err != nil {
		t.Fatal(err)
	}
	c, _ = st.Account(ctx, "carol@example.test")
	if c.Source != storage.SourceConfig || c.PasswordHash != h1 {
		t.Fatalf("carol after take-over = %+v", c)
	}

	// An account of an undeclared, unknown domain is an error naming it.
	cfg2.Accounts = append(cfg2.Accounts, config.Account{Address: "x@nowhere.test", PasswordHash: h1})
	err = SyncDirectory(ctx, st, cfg2, log)
	if err == nil || !errors.Is(err, storage.ErrNoDomain) {
		t.Fatalf("sync with unknown domain: %v", err)
	}
}
